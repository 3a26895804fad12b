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
    // `run` boots a reference kernel's own image: named, it beats the
    // profile's [qemu] one; as the default, it only fills in. Only a cached
    // kernel is shown: `config` never downloads.
    let reference = cached_reference(&choice, profile);
    let from_ref = |get: fn(&crate::reference::Record) -> PathBuf| {
        reference.as_ref().map(|(r, origin)| Setting {
            value: get(r),
            origin: origin.clone(),
        })
    };
    let guest_input = |var: &str, from_profile: &Option<PathBuf>, r: Option<Setting<PathBuf>>| {
        let env_value = Layers::new()
            .env(var, env.var(var).map(|v| from_cwd(v.into())))
            .resolve();
        let profile_value = Layers::new()
            .profile(&pname, from_profile.clone())
            .resolve();
        match r {
            Some(r) if r.origin != Origin::Default => env_value.or(Some(r)),
            r => env_value.or(profile_value).or(r),
        }
    };
    let image = guest_input(
        "EBPF_CROSS_KERNEL_IMAGE",
        &q.kernel_image,
        from_ref(|r| r.image.clone()),
    );
    let busybox = guest_input(
        "EBPF_CROSS_BUSYBOX",
        &q.busybox,
        from_ref(|r| r.busybox.clone()),
    );
    let helpers = helpers_entry(&choice, reference.as_ref());
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
        helpers,
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

/// The reference kernel the choice names, if the cache has it.
fn cached_reference(
    choice: &resolve::KernelChoice,
    profile: &Profile,
) -> Option<(crate::reference::Record, Origin)> {
    let rc = choice.reference.as_ref()?;
    let w = crate::reference::wanted(profile, &rc.value).ok()?;
    let r = crate::reference::obtain(&w, crate::reference::Policy::Report).ok()?;
    Some((r, rc.origin.clone()))
}

/// Which helper header set a compile would stage, and why: the search of
/// `bpf_headers::find` over the same tree and include the build would use.
fn helpers_entry(
    choice: &resolve::KernelChoice,
    reference: Option<&(crate::reference::Record, Origin)>,
) -> Entry {
    let mut given = choice.libbpf_include.clone();
    let from_reference = given.is_none() && reference.is_some();
    let tree = match reference {
        Some((r, origin)) => {
            // As `resolve::materialise`: the release's own libbpf-dev.
            given = given.or(Some(Setting::new(r.libbpf_include.clone(), origin.clone())));
            Some((r.source.clone(), r.build.clone()))
        }
        None => choice.tree.as_ref().and_then(|t| match &t.value {
            (Some(s), Some(b)) => Some((s.clone(), b.clone())),
            (Some(s), None) => Some((s.clone(), s.clone())),
            // The source behind a lone build dir is found when the tree is
            // opened; its `source` link is where a build dir keeps it.
            (None, Some(b)) => Some((b.join("source"), b.clone())),
            (None, None) => None,
        }),
    };
    let found = crate::bpf_headers::find_for(
        tree.as_ref().map(|(s, b)| (s.as_path(), b.as_path())),
        given.as_ref().map(|g| g.value.as_path()),
    );
    match found {
        Ok(h) => Entry {
            key: "helpers",
            value: Some(format!(
                "{} ({})",
                h.dir.display(),
                match reference {
                    Some((r, _))
                        if from_reference && h.origin == crate::bpf_headers::Origin::Given =>
                        format!(
                            "the reference kernel's own libbpf-dev, from {} {}",
                            r.codename, r.release
                        ),
                    _ => h.why,
                }
            )),
            origin: Some(match (h.origin, given) {
                (crate::bpf_headers::Origin::Given, Some(g)) => g.origin,
                _ => Origin::Default,
            }),
        },
        Err(e) => Entry {
            key: "helpers",
            value: Some(format!("none: {e}")),
            origin: None,
        },
    }
}

/// `--kernel BOARD`, as `run` takes it: the board is the kernel, so its
/// settings are the ones shown (a matrix runs that kernel as the board).
fn board_as_kernel(
    a: &ConfigArgs,
    profile: Profile,
    boards: &[PathBuf],
) -> Result<(ConfigArgs, Profile)> {
    let named = &a.kernel.kernel;
    let is_board = named.len() == 1 && named[0] != "all" && !named[0].starts_with("debian:");
    if !is_board {
        return Ok((a.clone(), profile));
    }
    let mut base = a.kernel.clone();
    base.kernel.clear();
    let entry = crate::ops::matrix::entries(&profile, named, boards, &base)?
        .pop()
        .expect("one board, one entry");
    let board = Profile::load_with(&entry.target, boards)?;
    let mut a = a.clone();
    a.kernel = base;
    Ok((a, board))
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
    let (a, profile) = board_as_kernel(&a, profile, &boards)?;
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

    #[test]
    fn a_given_include_is_the_helper_set_and_says_why() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("inc/bpf")).unwrap();
        std::fs::write(d.path().join("inc/bpf/bpf_helpers.h"), "").unwrap();
        let inc = d.path().join("inc");
        let p = Profile::load("armv7").unwrap();
        let a = args(&[
            "--kernel-src",
            "/k/src",
            "--libbpf-include",
            inc.to_str().unwrap(),
        ]);
        let list = entries(&a, &MapEnv(vec![]), &p, None).unwrap();
        let h = get(&list, "helpers");
        assert_eq!(
            h.value.as_deref(),
            Some(
                format!(
                    "{} (libbpf_include was given; it wins over the tree's own headers)",
                    inc.join("bpf").display()
                )
                .as_str()
            )
        );
        assert_eq!(h.origin, Some(Origin::Flag("--libbpf-include".into())));
    }
}
