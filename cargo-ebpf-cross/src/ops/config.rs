//! `cargo ebpf-cross config`: every setting a target resolves to, and the
//! layer each came from (flag, env, package metadata, profile, default).
//! It reads the same resolver the real commands use, so what it shows is
//! what `build` would do.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::ConfigArgs;
use crate::error::Result;
use crate::loader_build::{self, Env, LinkerSource, ProcessEnv};
use crate::profile::Profile;
use crate::resolve;
use crate::settings::{from_cwd, Layers, Origin, Setting};

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub key: &'static str,
    /// None when no layer sets it.
    pub value: Option<String>,
    pub origin: Option<Origin>,
}

fn entry<T>(key: &'static str, s: Option<Setting<T>>, show: impl Fn(&T) -> String) -> Entry {
    match s {
        Some(s) => Entry {
            key,
            value: Some(show(&s.value)),
            origin: Some(s.origin),
        },
        None => Entry {
            key,
            value: None,
            origin: None,
        },
    }
}

fn shown(p: &Path) -> String {
    p.display().to_string()
}

/// The settings of `profile` with the given flags, env and package.
pub fn entries(
    a: &ConfigArgs,
    env: &dyn Env,
    profile: &Profile,
    project: Option<&crate::ops::build::Project>,
) -> Result<Vec<Entry>> {
    let manifest = project.map(|p| p.manifest.as_path());
    let pname = resolve::profile_label(profile);
    let choice = resolve::layer(
        &a.kernel.opts()?,
        env,
        project.and_then(|p| p.metadata.kernel.as_ref()),
        manifest,
        profile,
    )?;
    let rust_target = Layers::new()
        .flag("--rust-target", a.rust_target.clone())
        .env("EBPF_CROSS_RUST_TARGET", env.var("EBPF_CROSS_RUST_TARGET"))
        .profile(&pname, Some(profile.rust_target().to_string()))
        .resolve();
    let static_ = resolve::static_link(
        None,
        env,
        project.and_then(|p| p.static_),
        manifest,
        profile,
    )?;
    let triple = rust_target
        .as_ref()
        .map(|s| s.value.clone())
        .unwrap_or_default();
    let pkg_dir = manifest
        .map(crate::fsutil::parent_dir)
        .unwrap_or_else(|| PathBuf::from("."));
    let user = loader_build::read_user_cargo(&pkg_dir, &triple);
    let linker = loader_build::choose_linker(profile, &triple, &user, env)?;
    let linker_origin = match &linker.source {
        LinkerSource::CargoEnv(v) => Origin::Env(v.clone()),
        LinkerSource::CargoConfig(_) => Origin::Profile(format!(
            "cargo config target.{}.linker",
            loader_build::cargo_name(&triple)
        )),
        LinkerSource::Profile => Origin::Profile(pname.clone()),
        LinkerSource::CcEnv(v) => Origin::Env(v.clone()),
        LinkerSource::Default => Origin::Default,
    };
    let q = profile.qemu.clone().unwrap_or_default();
    let image = Layers::new()
        .env(
            "EBPF_CROSS_KERNEL_IMAGE",
            env.var("EBPF_CROSS_KERNEL_IMAGE")
                .map(|v| from_cwd(v.into())),
        )
        .profile(&pname, q.kernel_image.clone())
        .resolve();
    let busybox = Layers::new()
        .env(
            "EBPF_CROSS_BUSYBOX",
            env.var("EBPF_CROSS_BUSYBOX").map(|v| from_cwd(v.into())),
        )
        .profile(&pname, q.busybox.clone())
        .resolve();
    let arch = &profile.arch;
    let fact = |key, v: String| Entry {
        key,
        value: Some(v),
        origin: Some(Origin::Profile(pname.clone())),
    };
    Ok(vec![
        fact("target", profile.name.clone()),
        fact("arch", arch.srcarch.clone()),
        fact("clang_target", arch.clang_target.clone()),
        fact("endian", arch.endian.as_str().to_string()),
        entry("rust_target", rust_target, String::clone),
        entry("kernel_tree", choice.tree, |(s, b)| match (s, b) {
            (Some(s), Some(b)) => format!("{} + {}", s.display(), b.display()),
            (Some(s), None) => shown(s),
            (None, Some(b)) => format!("(source from the build dir) {}", b.display()),
            (None, None) => String::new(),
        }),
        entry("kernel_reference", choice.reference, |s| s.to_string()),
        entry("kernel_version", choice.version, String::clone),
        entry("libbpf_include", choice.libbpf_include, |p| shown(p)),
        entry("stamp_version", Some(choice.stamp_version), bool::to_string),
        entry("kernel_allow", choice.allow, |a| a.join(",")),
        entry("static", Some(static_), bool::to_string),
        Entry {
            key: "linker",
            value: Some(linker.describe()),
            origin: Some(linker_origin),
        },
        entry("qemu_kernel_image", image, |p| shown(p)),
        entry("qemu_busybox", busybox, |p| shown(p)),
    ])
}

pub fn config(a: ConfigArgs) -> Result<i32> {
    crate::ops::build::one_package(&a.project)?;
    // Outside a project the package layer is simply absent.
    let project = crate::ops::build::Project::load(&a.project).ok();
    let boards = crate::ops::board_dirs(
        a.project.boards.as_deref(),
        project.as_ref().map(|p| p.manifest.as_path()),
    );
    let profile = Profile::load_with(&a.target, &boards)?;
    let list = entries(&a, &ProcessEnv, &profile, project.as_ref())?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&list).expect("plain data")
        );
        return Ok(0);
    }
    for e in &list {
        let v = e.value.clone().unwrap_or_else(|| "(not set)".into());
        match &e.origin {
            Some(o) => println!("{:<18} {v}\n{:<18} from {o}", e.key, ""),
            None => println!("{:<18} {v}", e.key),
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    struct MapEnv(Vec<(&'static str, &'static str)>);
    impl Env for MapEnv {
        fn var(&self, k: &str) -> Option<String> {
            self.0
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    fn args(extra: &[&str]) -> ConfigArgs {
        let mut argv = vec!["cargo-ebpf-cross", "config", "-t", "armv7"];
        argv.extend_from_slice(extra);
        match crate::cli::Cli::parse_from(argv).command {
            crate::cli::Command::Config(a) => a,
            other => panic!("{other:?}"),
        }
    }

    fn get<'a>(list: &'a [Entry], key: &str) -> &'a Entry {
        list.iter().find(|e| e.key == key).unwrap()
    }

    #[test]
    fn each_setting_names_its_layer() {
        let p = Profile::load("armv7").unwrap();
        let env = MapEnv(vec![
            ("EBPF_CROSS_KERNEL_VERSION", "5.10"),
            ("EBPF_CROSS_STATIC", "0"),
            (
                "CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER",
                "my-gcc",
            ),
        ]);
        let list = entries(&args(&["--kernel-src", "/k/src"]), &env, &p, None).unwrap();
        let tree = get(&list, "kernel_tree");
        assert_eq!(tree.value.as_deref(), Some("/k/src"));
        assert_eq!(tree.origin, Some(Origin::Flag("--kernel-src".into())));
        let v = get(&list, "kernel_version");
        assert_eq!(v.value.as_deref(), Some("5.10"));
        assert_eq!(
            v.origin,
            Some(Origin::Env("EBPF_CROSS_KERNEL_VERSION".into()))
        );
        let s = get(&list, "static");
        assert_eq!(s.value.as_deref(), Some("false"));
        assert_eq!(s.origin, Some(Origin::Env("EBPF_CROSS_STATIC".into())));
        let l = get(&list, "linker");
        assert_eq!(
            l.origin,
            Some(Origin::Env(
                "CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER".into()
            ))
        );
        let r = get(&list, "rust_target");
        assert_eq!(r.value.as_deref(), Some("armv7-unknown-linux-gnueabihf"));
        assert_eq!(r.origin, Some(Origin::Profile("armv7".into())));
        let sv = get(&list, "stamp_version");
        assert_eq!(sv.origin, Some(Origin::Default));
        assert_eq!(get(&list, "libbpf_include").value, None);
    }
}
