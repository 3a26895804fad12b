//! `cargo ebpf-cross config`: every setting a target resolves to, and the
//! layer each came from (flag, env, package metadata, profile, default).
//! It reads the same resolver the real commands use, so what it shows is
//! what `build` would do.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::env::{Env, ProcessEnv};
use crate::error::Result;
use crate::loader_build::{self, LinkerSource};
use crate::options::ConfigOptions;
use crate::profile::Profile;
use crate::resolve;
use crate::settings::{self, Origin, Setting};

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

/// The settings of `profile` with the given flags, env and package, in
/// pipeline order: the profile, the kernel and its tools, the loader, the
/// run, then what only the environment sets.
pub fn entries(
    a: &ConfigOptions,
    env: &dyn Env,
    profile: &Profile,
    project: Option<&crate::ops::build::Project>,
) -> Result<Vec<Entry>> {
    let manifest = project.map(|p| p.manifest.as_path());
    let choice = resolve::layer(
        &a.kernel,
        env,
        project.and_then(|p| p.metadata.kernel.as_ref()),
        manifest,
        profile,
    )?;
    // Only a cached kernel is shown: `config` never downloads.
    let reference = cached_reference(&choice, profile);
    let guest = resolve::guest_inputs(
        (None, None),
        env,
        profile,
        reference.as_ref().map(|(r, o)| (r, o)),
    );
    let helpers = helpers_entry(&choice, reference.as_ref());
    let tools = tool_entries(&choice.tools);
    let arch = &profile.arch;
    let pname = resolve::profile_label(profile);
    let fact = |key, v: String| Entry {
        key,
        value: Some(v),
        origin: Some(Origin::Profile(pname.clone())),
    };
    let mut list = vec![
        fact("target", profile.name.clone()),
        fact("arch", arch.srcarch.clone()),
        fact("clang_target", arch.clang_target.clone()),
        fact("endian", arch.endian.as_str().to_string()),
    ];
    let rust_target = resolve::rust_target(a.rust_target.as_deref(), env, profile);
    let triple = rust_target.value.clone();
    list.push(entry("rust_target", Some(rust_target), String::clone));
    list.extend([
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
        tools.0,
        tools.1,
    ]);
    list.extend(loader_entries(env, profile, project, &triple)?);
    list.extend([
        entry("qemu_kernel_image", guest.kernel_image, |p| shown(p)),
        entry("qemu_busybox", guest.busybox, |p| shown(p)),
        entry("ssh_config", resolve::ssh_config(None, env), |p| shown(p)),
    ]);
    list.extend(env_only_entries(env));
    Ok(list)
}

/// `static` and the linker, as the loader's build resolves them.
fn loader_entries(
    env: &dyn Env,
    profile: &Profile,
    project: Option<&crate::ops::build::Project>,
    triple: &str,
) -> Result<[Entry; 2]> {
    let manifest = project.map(|p| p.manifest.as_path());
    let static_ = resolve::static_link(
        None,
        env,
        project.and_then(|p| p.static_),
        manifest,
        profile,
    )?;
    let pkg_dir = manifest
        .map(crate::fsutil::parent_dir)
        .unwrap_or_else(|| PathBuf::from("."));
    let user = loader_build::read_user_cargo(&pkg_dir, triple);
    let linker = loader_build::choose_linker(profile, triple, &user, env)?;
    let linker_origin = match &linker.source {
        LinkerSource::CargoEnv(v) => Origin::Env(v.clone()),
        LinkerSource::CargoConfig(_) => Origin::Profile(format!(
            "cargo config target.{}.linker",
            loader_build::cargo_name(triple)
        )),
        LinkerSource::Profile => Origin::Profile(resolve::profile_label(profile)),
        LinkerSource::CcEnv(v) => Origin::Env(v.clone()),
        LinkerSource::Default => Origin::Default,
    };
    Ok([
        entry("static", Some(static_), bool::to_string),
        Entry {
            key: "linker",
            value: Some(linker.describe()),
            origin: Some(linker_origin),
        },
    ])
}

/// The settings only the environment sets (`settings.rs`), each read by
/// the same function the code that uses it calls.
fn env_only_entries(env: &dyn Env) -> Vec<Entry> {
    let quoted = |v: &Vec<String>| {
        v.iter()
            .map(|a| crate::plan::shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    };
    vec![
        entry("debian_keyring", settings::keyring(None, env), |p| shown(p)),
        entry("bpf_cflags", Some(settings::bpf_cflags(env)), quoted),
        entry("cache_dir", settings::cache_dir(env), |p| shown(p)),
        entry(
            "debian_mirror",
            Some(settings::debian_mirror(env)),
            String::clone,
        ),
        entry(
            "security_mirror",
            Some(settings::debian_security_mirror(env)),
            String::clone,
        ),
        entry("stall_timeout", Some(settings::stall_timeout(env)), |s| {
            format!("{s} s")
        }),
        entry(
            "host_libbpf",
            Some(settings::host_libbpf(env)),
            bool::to_string,
        ),
        entry(
            "source_date_epoch",
            Some(settings::source_date_epoch(env)),
            u64::to_string,
        ),
        entry(
            "offline",
            Some(settings::cargo_net_offline(env)),
            bool::to_string,
        ),
    ]
}

/// clang and llc: as named by a flag or env, else the pair a compile would
/// find on PATH (the same search `compile` makes).
fn tool_entries(tools: &crate::toolchain::ToolOverrides) -> (Entry, Entry) {
    let found = crate::toolchain::find(tools);
    let one = |key: &'static str,
               named: &Option<Setting<String>>,
               pick: fn(&crate::toolchain::Toolchain) -> &crate::toolchain::Tool| {
        match (named, &found) {
            (_, Ok(t)) => Entry {
                key,
                value: Some(format!("{} ({})", pick(t).path.display(), pick(t).version)),
                origin: Some(named.as_ref().map_or(Origin::Default, |n| n.origin.clone())),
            },
            (_, Err(e)) => Entry {
                key,
                value: Some(format!("none: {e}")),
                origin: named.as_ref().map(|n| n.origin.clone()),
            },
        }
    };
    (
        one("clang", &tools.clang, |t| &t.clang),
        one("llc", &tools.llc, |t| &t.llc),
    )
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
    a: &ConfigOptions,
    profile: Profile,
    boards: &[PathBuf],
) -> Result<(ConfigOptions, Profile)> {
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

pub fn config(a: ConfigOptions) -> Result<i32> {
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

    struct MapEnv(Vec<(&'static str, &'static str)>);
    impl Env for MapEnv {
        fn var(&self, k: &str) -> Option<String> {
            self.0
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    fn args(extra: &[&str]) -> ConfigOptions {
        let mut argv = vec!["cargo-ebpf-cross", "config", "-t", "armv7"];
        argv.extend_from_slice(extra);
        crate::command::config_options(&argv)
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
