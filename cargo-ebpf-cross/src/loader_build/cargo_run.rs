//! One cargo run for one or more boards' loaders: its argv and env, and
//! running it while telling which executable belongs to which board.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{cargo_name, env_key, env_rustflags, LoaderTarget};
use crate::env::Env;
use crate::error::{Error, Result};
use crate::plan::Cmd;

/// One cargo run building one or more boards' loaders.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoaderPlan {
    pub cargo: Cmd,
    pub targets: Vec<LoaderTarget>,
    pub package: String,
    pub bin: String,
}

#[derive(Debug, Clone, Default)]
pub struct CargoFlags {
    pub release: bool,
    /// `-q`: cargo's own progress lines go too.
    pub quiet: bool,
    pub target_dir: Option<PathBuf>,
    pub offline: bool,
    pub locked: bool,
    pub frozen: bool,
    pub features: Vec<String>,
    pub all_features: bool,
    pub no_default_features: bool,
}

/// The package side of a cargo run.
pub struct LoaderInput<'a> {
    pub manifest: &'a Path,
    pub package: &'a str,
    pub bin: &'a str,
    pub flags: &'a CargoFlags,
}

/// `target."<name>".<key>=<value>` for `--config`, in TOML so quoting is
/// exact.
fn config_arg(target: &str, key: &str, value: toml::Value) -> String {
    format!(
        "target.{}.{key}={value}",
        toml::Value::String(target.to_string())
    )
}

pub fn plan(i: &LoaderInput, targets: &[LoaderTarget], env: &dyn Env) -> LoaderPlan {
    let cargo = Cmd::new(env.var("CARGO").unwrap_or_else(|| "cargo".into()));
    let cargo = flag_args(package_args(cargo, i, targets), i.flags);
    let user_env = env_rustflags(env);
    let cargo = target_configs(cargo, targets, user_env.is_none());
    let cargo = build_script_env(with_user_rustflags(cargo, targets, user_env), targets);
    LoaderPlan {
        cargo,
        targets: targets.to_vec(),
        package: i.package.to_string(),
        bin: i.bin.to_string(),
    }
}

/// What to build and for which targets.
fn package_args(mut cargo: Cmd, i: &LoaderInput, targets: &[LoaderTarget]) -> Cmd {
    cargo = cargo
        .arg("build")
        .arg("--manifest-path")
        .arg(i.manifest.display().to_string())
        .arg("--package")
        .arg(i.package)
        .arg("--bin")
        .arg(i.bin);
    for t in targets {
        cargo = cargo.arg("--target").arg(t.rust_target.clone());
    }
    cargo = cargo.arg("--message-format").arg("json-render-diagnostics");
    if targets.len() > 1 {
        // One board's failure must not stop the others' loaders.
        cargo = cargo.arg("--keep-going");
    }
    cargo
}

/// The user's cargo flags, passed through.
fn flag_args(mut cargo: Cmd, f: &CargoFlags) -> Cmd {
    if f.release {
        cargo = cargo.arg("--release");
    }
    if f.quiet {
        cargo = cargo.arg("--quiet");
    }
    if let Some(d) = &f.target_dir {
        cargo = cargo.arg("--target-dir").arg(d.display().to_string());
    }
    for (on, flag) in [
        (f.offline, "--offline"),
        (f.locked, "--locked"),
        (f.frozen, "--frozen"),
        (f.all_features, "--all-features"),
        (f.no_default_features, "--no-default-features"),
    ] {
        if on {
            cargo = cargo.arg(flag);
        }
    }
    if !f.features.is_empty() {
        cargo = cargo.arg("--features").arg(f.features.join(","));
    }
    cargo
}

/// Each target's linker, and its rustflags when cargo would read them.
fn target_configs(mut cargo: Cmd, targets: &[LoaderTarget], per_target_flags: bool) -> Cmd {
    for t in targets {
        let name = cargo_name(&t.rust_target);
        if let Some(p) = &t.linker.program {
            cargo = cargo.arg("--config").arg(config_arg(
                name,
                "linker",
                toml::Value::String(p.clone()),
            ));
        }
        // With RUSTFLAGS or CARGO_ENCODED_RUSTFLAGS set, cargo ignores
        // target.*.rustflags; ours then join theirs in the encoded form,
        // which keeps each argument whole ([`group`] puts two targets in
        // such a run only when their own flags agree).
        if per_target_flags {
            let all: Vec<toml::Value> = t
                .inherited
                .iter()
                .chain(&t.rustflags)
                .cloned()
                .map(toml::Value::String)
                .collect();
            if !all.is_empty() {
                cargo = cargo.arg("--config").arg(config_arg(
                    name,
                    "rustflags",
                    toml::Value::Array(all),
                ));
            }
        }
    }
    cargo
}

/// Ours joined to the user's RUSTFLAGS or CARGO_ENCODED_RUSTFLAGS, when
/// those are set (`user_env`, from [`env_rustflags`]).
fn with_user_rustflags(
    mut cargo: Cmd,
    targets: &[LoaderTarget],
    user_env: Option<(String, Vec<String>)>,
) -> Cmd {
    if let Some((_, theirs)) = &user_env {
        // [`group`] puts boards in one such run only when their own flags
        // agree, so the first board's are every board's.
        let ours: Vec<&String> = targets.iter().take(1).flat_map(|t| &t.rustflags).collect();
        if !ours.is_empty() {
            let all: Vec<&str> = theirs
                .iter()
                .map(String::as_str)
                .chain(ours.iter().map(|s| s.as_str()))
                .collect();
            cargo = cargo.env("CARGO_ENCODED_RUSTFLAGS", all.join("\x1f"));
        }
    }
    cargo
}

/// Where each board's objects are, for the build script (see the module
/// docs of [`super`] for the plain and the per-triple variables).
fn build_script_env(mut cargo: Cmd, targets: &[LoaderTarget]) -> Cmd {
    if targets.len() == 1 {
        let t = &targets[0];
        cargo = cargo
            .env("EBPF_CROSS_OBJ_DIR", t.obj_dir.display().to_string())
            .env("EBPF_CROSS_TARGET", t.board.clone());
        if let Some(v) = &t.kernel_version {
            cargo = cargo.env("EBPF_CROSS_KERNEL_VERSION", v.clone());
        }
    } else {
        for k in [
            "EBPF_CROSS_OBJ_DIR",
            "EBPF_CROSS_TARGET",
            "EBPF_CROSS_KERNEL_VERSION",
        ] {
            cargo = cargo.env(k, "");
        }
    }
    for t in targets {
        let key = env_key(&t.rust_target);
        cargo = cargo
            .env(
                format!("EBPF_CROSS_OBJ_DIR_{key}"),
                t.obj_dir.display().to_string(),
            )
            .env(format!("EBPF_CROSS_TARGET_{key}"), t.board.clone());
        if let Some(v) = &t.kernel_version {
            cargo = cargo.env(format!("EBPF_CROSS_KERNEL_VERSION_{key}"), v.clone());
        }
    }
    cargo
}

/// Which of the plan's targets an executable belongs to: cargo puts it
/// under `<target-dir>/<name>/<profile>/`.
fn owner(exe: &Path, targets: &[LoaderTarget]) -> Option<usize> {
    targets.iter().position(|t| {
        let name = cargo_name(&t.rust_target);
        exe.components().any(|c| c.as_os_str() == name)
    })
}

/// Runs cargo; its diagnostics pass through on stderr, and the JSON on
/// stdout tells which executable it made for each target. `made` hears of
/// each target's executable (by its index in the plan) as soon as cargo
/// reports it, while cargo may still be building the others. The result
/// has one entry per target, in the plan's order.
pub fn run(p: &LoaderPlan, mut made: impl FnMut(usize, &Path)) -> Result<Vec<Result<PathBuf>>> {
    use std::process::Stdio;
    let mut child = p
        .cargo
        .start(Stdio::null(), Stdio::piped(), Stdio::inherit())?;
    let mut exes: Vec<Option<PathBuf>> = vec![None; p.targets.len()];
    let out = child.child().stdout.take().expect("piped");
    let reader = std::io::BufReader::new(out);
    for msg in cargo_metadata::Message::parse_stream(reader).map_while(|m| m.ok()) {
        let cargo_metadata::Message::CompilerArtifact(a) = msg else {
            continue;
        };
        if a.target.name != p.bin {
            continue;
        }
        if let Some(e) = a.executable {
            let e = e.into_std_path_buf();
            if let Some(i) = owner(&e, &p.targets) {
                made(i, &e);
                exes[i] = Some(e);
            }
        }
    }
    let st = child.wait()?;
    Ok(p.targets
        .iter()
        .zip(exes)
        .map(|(t, exe)| match exe {
            Some(e) => Ok(e),
            None if !st.success() => Err(Error::Loader {
                message: format!(
                    "building the loader `{}` for {} failed ({st})",
                    p.bin,
                    cargo_name(&t.rust_target)
                ),
                hint: "cargo's diagnostics are above".into(),
            }),
            None => Err(Error::Loader {
                message: format!("cargo built nothing for binary `{}`", p.bin),
                hint: "check `bin` in [package.metadata.ebpf-cross]".into(),
            }),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader_build::testing::*;
    use crate::loader_build::{loader_target, BoardInput, LinkerSource, UserCargo};
    use crate::profile::Profile;
    use std::collections::HashMap;

    #[test]
    fn one_board_gets_per_target_config_and_the_plain_variables() {
        let p = Profile::load("armv7").unwrap();
        let e = env(&[(
            "CC_armv7_unknown_linux_gnueabihf",
            "arm-linux-gnueabihf-gcc -mfloat-abi=hard --sysroot='/opt/my sdk'",
        )]);
        let t = board(&p, "armv7-unknown-linux-gnueabihf", &e);
        assert_eq!(
            t.linker.source,
            LinkerSource::CcEnv("CC_armv7_unknown_linux_gnueabihf".into())
        );
        let f = CargoFlags {
            features: vec!["a".into(), "b".into()],
            no_default_features: true,
            ..Default::default()
        };
        let plan = plan(&input(&f), &[t], &e);
        assert_eq!(
            plan.cargo.args,
            [
                "build",
                "--manifest-path",
                "/p/Cargo.toml",
                "--package",
                "pkg",
                "--bin",
                "pkg",
                "--target",
                "armv7-unknown-linux-gnueabihf",
                "--message-format",
                "json-render-diagnostics",
                "--no-default-features",
                "--features",
                "a,b",
                "--config",
                "target.\"armv7-unknown-linux-gnueabihf\".linker=\"arm-linux-gnueabihf-gcc\"",
                "--config",
                "target.\"armv7-unknown-linux-gnueabihf\".rustflags=[\"-C\", \"target-feature=+crt-static\", \"-C\", \"link-arg=-mfloat-abi=hard\", \"-C\", \"link-arg=--sysroot=/opt/my sdk\"]",
            ]
        );
        let v = envs(&plan.cargo);
        assert_eq!(v["EBPF_CROSS_OBJ_DIR"], "/t/ebpf-cross/armv7/pkg/bpf");
        assert_eq!(v["EBPF_CROSS_TARGET"], "armv7");
        assert_eq!(v["EBPF_CROSS_KERNEL_VERSION"], "6.1.176");
        assert_eq!(
            v["EBPF_CROSS_OBJ_DIR_ARMV7_UNKNOWN_LINUX_GNUEABIHF"],
            "/t/ebpf-cross/armv7/pkg/bpf"
        );
        assert!(!v.contains_key("RUSTFLAGS") && !v.contains_key("CARGO_ENCODED_RUSTFLAGS"));
    }

    #[test]
    fn several_boards_get_their_own_linkers_flags_and_dirs() {
        let a = Profile::load("armv7").unwrap();
        let b = Profile::load("aarch64").unwrap();
        let e = env(&[]);
        let ts = [
            board(&a, "armv7-unknown-linux-gnueabihf", &e),
            board(&b, "aarch64-unknown-linux-gnu", &e),
        ];
        let plan = plan(&input(&CargoFlags::default()), &ts, &e);
        let args = plan.cargo.args.join(" ");
        assert!(args.contains("--target armv7-unknown-linux-gnueabihf --target aarch64-unknown-linux-gnu --message-format json-render-diagnostics --keep-going"), "{args}");
        assert!(
            args.contains("target.\"aarch64-unknown-linux-gnu\".linker=\"aarch64-linux-gnu-gcc\""),
            "{args}"
        );
        let v = envs(&plan.cargo);
        assert_eq!(
            v["EBPF_CROSS_OBJ_DIR"], "",
            "the old single variable is emptied"
        );
        assert_eq!(v["EBPF_CROSS_KERNEL_VERSION"], "");
        assert_eq!(
            v["EBPF_CROSS_OBJ_DIR_AARCH64_UNKNOWN_LINUX_GNU"],
            "/t/ebpf-cross/aarch64/pkg/bpf"
        );
        assert_eq!(v["EBPF_CROSS_TARGET_AARCH64_UNKNOWN_LINUX_GNU"], "aarch64");
        assert_eq!(
            v["EBPF_CROSS_KERNEL_VERSION_ARMV7_UNKNOWN_LINUX_GNUEABIHF"],
            "6.1.176"
        );
    }

    #[test]
    fn users_rustflags_are_merged_into_the_encoded_form() {
        let p = Profile::load("armv7").unwrap();
        let mut p2 = p.clone();
        p2.loader.linker = Some("arm-linux-gnueabihf-gcc --sysroot='/opt/my sdk'".into());
        let e = env(&[("RUSTFLAGS", "-C opt-level=s")]);
        let plan = plan(
            &input(&CargoFlags::default()),
            &[board(&p2, "armv7-unknown-linux-gnueabihf", &e)],
            &e,
        );
        assert_eq!(
            envs(&plan.cargo)["CARGO_ENCODED_RUSTFLAGS"],
            "-C\x1fopt-level=s\x1f-C\x1ftarget-feature=+crt-static\x1f-C\x1flink-arg=--sysroot=/opt/my sdk"
        );
        assert!(!plan.cargo.args.iter().any(|a| a.contains("rustflags")));
        // An empty RUSTFLAGS still counts as set: cargo would ignore ours.
        let e = env(&[("RUSTFLAGS", "")]);
        let plan = super::plan(
            &input(&CargoFlags::default()),
            &[board(&p, "armv7-unknown-linux-gnueabihf", &e)],
            &e,
        );
        assert_eq!(
            envs(&plan.cargo)["CARGO_ENCODED_RUSTFLAGS"],
            "-C\x1ftarget-feature=+crt-static"
        );
        let e = env(&[("CARGO_ENCODED_RUSTFLAGS", "--cfg\x1fa b")]);
        let plan = super::plan(
            &input(&CargoFlags::default()),
            &[board(&p, "armv7-unknown-linux-gnueabihf", &e)],
            &e,
        );
        assert_eq!(
            envs(&plan.cargo)["CARGO_ENCODED_RUSTFLAGS"],
            "--cfg\x1fa b\x1f-C\x1ftarget-feature=+crt-static"
        );
    }

    #[test]
    fn build_rustflags_from_cargo_config_are_kept() {
        let p = Profile::load("aarch64").unwrap();
        let e = env(&[]);
        let obj = PathBuf::from("/o");
        let user = UserCargo {
            linker: None,
            build_rustflags: vec!["--cfg".into(), "mine".into()],
        };
        let t = loader_target(
            &BoardInput {
                profile: &p,
                rust_target: "aarch64-unknown-linux-gnu",
                static_: false,
                obj_dir: &obj,
                kernel_version: None,
            },
            &user,
            &e,
        )
        .unwrap();
        let plan = plan(&input(&CargoFlags::default()), &[t], &e);
        assert!(plan.cargo.args.contains(
            &"target.\"aarch64-unknown-linux-gnu\".rustflags=[\"--cfg\", \"mine\"]".to_string()
        ));
    }

    #[test]
    fn existing_cargo_linker_env_wins() {
        let p = Profile::load("armv7").unwrap();
        let e = env(&[("CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER", "my-ld")]);
        let t = board(&p, "armv7-unknown-linux-gnueabihf", &e);
        assert_eq!(t.linker.program, None);
        let plan = plan(&input(&CargoFlags::default()), &[t], &e);
        assert!(!plan.cargo.args.iter().any(|a| a.contains(".linker=")));
    }

    #[test]
    fn a_run_under_users_rustflags_carries_its_flags_once() {
        let b = boards(&[
            ("a", "armv7-unknown-linux-gnueabihf"),
            ("b", "aarch64-unknown-linux-gnu"),
        ]);
        let flags = CargoFlags::default();
        let e = MapEnv(HashMap::from([("RUSTFLAGS", "-C opt-level=s")]));
        let p = plan(&input(&flags), &b, &e);
        assert_eq!(
            envs(&p.cargo)["CARGO_ENCODED_RUSTFLAGS"],
            "-C\x1fopt-level=s\x1f-C\x1ftarget-feature=+crt-static"
        );
        assert!(!p.cargo.argv().iter().any(|a| a.contains("rustflags")));
    }

    #[test]
    fn executables_are_matched_to_their_target_dir() {
        let a = Profile::load("armv7").unwrap();
        let b = Profile::load("aarch64").unwrap();
        let e = env(&[]);
        let ts = [
            board(&a, "armv7-unknown-linux-gnueabihf", &e),
            board(&b, "/specs/my-a64.json", &e),
        ];
        assert_eq!(owner(Path::new("/t/my-a64/release/pkg"), &ts), Some(1));
        assert_eq!(
            owner(Path::new("/t/armv7-unknown-linux-gnueabihf/debug/pkg"), &ts),
            Some(0)
        );
        assert_eq!(owner(Path::new("/t/debug/pkg"), &ts), None);
    }
}
