//! Which linker and which of the user's flags a board's loader gets: the
//! order described in [`super`], and the check that the linker exists.

use std::path::Path;

use super::{cargo_name, env_key, host_triple, split_command, Linker, LinkerSource, LoaderTarget};
use crate::env::Env;
use crate::error::{Error, Result};
use crate::profile::Profile;

/// What the user's cargo configuration already says for one target.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserCargo {
    /// `target.<triple>.linker` from a config file (or its env form).
    pub linker: Option<String>,
    /// `build.rustflags` when no target-level rustflags apply: cargo drops
    /// them as soon as we add `target.<triple>.rustflags`, so they are
    /// carried into ours.
    pub build_rustflags: Vec<String>,
}

/// Reads the user's cargo config as cargo would from the package dir (with
/// `cargo_config2`), leaving RUSTFLAGS and CARGO_ENCODED_RUSTFLAGS aside:
/// those are merged separately ([`env_rustflags`]). A config cargo cannot
/// read either is cargo's to report, so it counts as empty here.
pub fn read_user_cargo(pkg_dir: &Path, rust_target: &str) -> UserCargo {
    let env = std::env::vars_os().filter(|(k, _)| {
        k.to_str()
            .is_some_and(|k| k != "RUSTFLAGS" && k != "CARGO_ENCODED_RUSTFLAGS")
    });
    // The host triple we already know, so resolving spawns no `cargo -vV`.
    let opts = cargo_config2::ResolveOptions::default()
        .env(env)
        .host_triple(host_triple());
    let Ok(config) = cargo_config2::Config::load_with_options(pkg_dir, opts) else {
        return UserCargo::default();
    };
    let target = cargo_name(rust_target);
    let linker = config
        .linker(target)
        .ok()
        .flatten()
        .map(|p| p.display().to_string());
    let resolved = config.rustflags(target).ok().flatten().map(|f| f.flags);
    let build = config.build.rustflags.clone().map(|f| f.flags);
    // cargo_config2 falls back to build.rustflags itself when no target
    // table applies; only then would our target-level flags hide them.
    let build_rustflags = match (resolved, build) {
        (Some(r), Some(b)) if r == b => b,
        _ => Vec::new(),
    };
    UserCargo {
        linker,
        build_rustflags,
    }
}

/// The user's RUSTFLAGS or CARGO_ENCODED_RUSTFLAGS, which make cargo ignore
/// every `target.*.rustflags`: Some (possibly empty) when either is set.
pub fn env_rustflags(env: &dyn Env) -> Option<(String, Vec<String>)> {
    if env.is_set("CARGO_ENCODED_RUSTFLAGS") {
        let v = env.raw("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
        let flags = v
            .split('\x1f')
            .filter(|f| !f.is_empty())
            .map(str::to_string)
            .collect();
        return Some(("CARGO_ENCODED_RUSTFLAGS".into(), flags));
    }
    if env.is_set("RUSTFLAGS") {
        let v = env.raw("RUSTFLAGS").unwrap_or_default();
        return Some((
            "RUSTFLAGS".into(),
            v.split_whitespace().map(str::to_string).collect(),
        ));
    }
    None
}

/// The cross gcc the cc crate would name for a vendor triple, found
/// without running it (cc probes the compiler with `-E`, outside
/// `process.rs`). cc takes `CROSS_COMPILE`'s prefix first; otherwise its
/// table maps the `<arch>-unknown-linux-<abi>` triples of our arches to
/// `<gnu arch>-linux-<abi>`, the GNU arch being the one our arch table's
/// cross prefix starts with (`armv7-unknown-linux-musleabihf` gives
/// `arm-linux-musleabihf-gcc`). Other vendors' triples cc does not know.
fn cc_default(triple: &str, cross_prefix: &str, env: &dyn Env) -> Option<String> {
    if let Some(p) = env.var("CROSS_COMPILE").filter(|p| !p.is_empty()) {
        return Some(format!("{}-gcc", p.trim_end_matches('-')));
    }
    let parts: Vec<&str> = triple.split('-').collect();
    let [_, "unknown", "linux", abi] = parts[..] else {
        return None;
    };
    let arch = cross_prefix.split('-').next().filter(|a| !a.is_empty())?;
    Some(format!("{arch}-linux-{abi}-gcc"))
}

/// A host compiler cannot link for another machine. The cc crate falls back
/// to one (`CC`, or plain `cc`/`gcc`) when it knows no cross name; such a
/// name is never taken, whatever proposed it: bare compiler names (`gcc`,
/// `gcc-12`, `cc`, `clang-14`) and whatever `CC`/`HOST_CC` name.
fn is_host_compiler(path: &str, env: &dyn Env) -> bool {
    let name = Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(path);
    let first = name.split('-').next().unwrap_or(name);
    if ["cc", "gcc", "clang", "c++", "g++", "clang++", "ccache"].contains(&first) {
        return true;
    }
    ["CC", "HOST_CC"].iter().any(|v| {
        env.var(v)
            .and_then(|c| split_command(&c).into_iter().last())
            .is_some_and(|c| c == path || Path::new(&c).file_name() == Path::new(path).file_name())
    })
}

pub fn choose_linker(
    profile: &Profile,
    rust_target: &str,
    user: &UserCargo,
    env: &dyn Env,
) -> Result<Linker> {
    if let Some(l) = cargos_own(rust_target, user, env) {
        return Ok(l);
    }
    if let Some(l) = &profile.loader.linker {
        return profile_linker(profile, rust_target, l);
    }
    if let Some(l) = cc_env_linker(cargo_name(rust_target), env) {
        return Ok(l);
    }
    Ok(default_linker(profile, rust_target, env))
}

/// A linker cargo already has, from its env variable or a config file: we
/// set none.
fn cargos_own(rust_target: &str, user: &UserCargo, env: &dyn Env) -> Option<Linker> {
    let cargo_var = format!("CARGO_TARGET_{}_LINKER", env_key(rust_target));
    let source = if env.var(&cargo_var).is_some() {
        LinkerSource::CargoEnv(cargo_var)
    } else {
        LinkerSource::CargoConfig(user.linker.clone()?)
    };
    Some(Linker {
        program: None,
        args: Vec::new(),
        source,
    })
}

/// The profile's `[loader] linker`, a command that may carry flags.
fn profile_linker(profile: &Profile, rust_target: &str, command: &str) -> Result<Linker> {
    let triple = cargo_name(rust_target);
    let mut parts = split_command(command).into_iter();
    let program = parts.next().filter(|p| !p.trim().is_empty());
    let Some(program) = program else {
        return Err(Error::Usage {
            message: format!("`[loader] linker` of profile `{}` is empty", profile.name),
            hint: format!(
                "set it to the cross compiler that links for {triple} (for example \"{}gcc --sysroot=/opt/sdk\"), or remove the key to use the default",
                profile.arch.cross_prefix
            ),
        });
    };
    Ok(Linker {
        program: Some(program),
        args: parts.collect(),
        source: LinkerSource::Profile,
    })
}

/// `CC_<triple>` (either spelling) or `TARGET_CC`, the first one set.
fn cc_env_linker(triple: &str, env: &dyn Env) -> Option<Linker> {
    let cc_vars = [
        format!("CC_{triple}"),
        format!("CC_{}", triple.replace(['-', '.'], "_")),
        "TARGET_CC".to_string(),
    ];
    for v in &cc_vars {
        if let Some(val) = env.var(v) {
            let mut parts = split_command(&val).into_iter();
            let Some(program) = parts.next() else {
                continue;
            };
            return Some(Linker {
                program: Some(program),
                args: parts.collect(),
                source: LinkerSource::CcEnv(v.clone()),
            });
        }
    }
    None
}

fn default_linker(profile: &Profile, rust_target: &str, env: &dyn Env) -> Linker {
    let triple = cargo_name(rust_target);
    // For the table's own triple the table names the cross gcc. For other
    // triples (vendor ones), the name the cc crate would choose is tried,
    // and a host compiler is never taken.
    let from_cc = (triple != profile.arch.rust_target)
        .then(|| cc_default(triple, &profile.arch.cross_prefix, env))
        .flatten()
        .filter(|p| !is_host_compiler(p, env))
        .filter(|p| which::which(p).is_ok());
    let program = from_cc.unwrap_or_else(|| profile.arch.cross_gcc());
    Linker {
        program: Some(program),
        args: Vec::new(),
        source: LinkerSource::Default,
    }
}

/// The chosen linker must exist before cargo runs, so its absence reads as
/// a missing package rather than a link error.
pub fn check_linker(t: &LoaderTarget) -> Result<()> {
    let Some(prog) = &t.linker.program else {
        return Ok(());
    };
    if which::which(prog).is_ok() {
        return Ok(());
    }
    let pkg = debian_package_for(prog);
    let triple = cargo_name(&t.rust_target);
    Err(Error::Loader {
        message: format!("cross linker `{prog}` for {triple} is not installed"),
        hint: format!(
            "{}or set CARGO_TARGET_{}_LINKER (or CC_{}) to your cross compiler",
            pkg.map(|p| format!("install it (`apt-get install {p}`), "))
                .unwrap_or_default(),
            env_key(&t.rust_target),
            triple.replace(['-', '.'], "_")
        ),
    })
}

/// Debian's package for a cross gcc name, when it follows Debian's naming.
pub fn debian_package_for(prog: &str) -> Option<String> {
    let name = Path::new(prog).file_name()?.to_str()?;
    let prefix = name.strip_suffix("-gcc")?;
    Some(format!("gcc-{}", prefix.replace('_', "-")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader_build::env_key;
    use crate::loader_build::testing::*;

    #[test]
    fn vendor_triples_get_the_cc_crates_cross_gcc_name() {
        let none = env(&[]);
        assert_eq!(
            cc_default(
                "armv7-unknown-linux-musleabihf",
                "arm-linux-gnueabihf-",
                &none
            )
            .as_deref(),
            Some("arm-linux-musleabihf-gcc")
        );
        assert_eq!(
            cc_default("riscv64gc-unknown-linux-musl", "riscv64-linux-gnu-", &none).as_deref(),
            Some("riscv64-linux-musl-gcc")
        );
        assert_eq!(
            cc_default("arm-poky-linux-gnueabi", "arm-linux-gnueabihf-", &none),
            None
        );
        let cross = env(&[("CROSS_COMPILE", "arm-poky-linux-gnueabi-")]);
        assert_eq!(
            cc_default("arm-poky-linux-gnueabi", "arm-linux-gnueabihf-", &cross).as_deref(),
            Some("arm-poky-linux-gnueabi-gcc")
        );
    }

    #[test]
    fn reads_linker_and_build_rustflags_from_cargo_config() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join(".cargo")).unwrap();
        std::fs::write(
            d.path().join(".cargo/config.toml"),
            "[build]\nrustflags = [\"--cfg\", \"b\"]\n[target.armv7-unknown-linux-gnueabihf]\nlinker = \"x-gcc\"\nrustflags = [\"--cfg\", \"t\"]\n",
        )
        .unwrap();
        let sub = d.path().join("crate");
        std::fs::create_dir_all(&sub).unwrap();
        let armv7 = read_user_cargo(&sub, "armv7-unknown-linux-gnueabihf");
        assert!(
            armv7
                .linker
                .as_deref()
                .is_some_and(|l| l.ends_with("x-gcc")),
            "{armv7:?}"
        );
        assert_eq!(
            armv7.build_rustflags,
            Vec::<String>::new(),
            "target-level flags apply"
        );
        let a64 = read_user_cargo(&sub, "aarch64-unknown-linux-gnu");
        assert_eq!(a64.linker, None);
        assert_eq!(a64.build_rustflags, ["--cfg", "b"]);
    }

    #[test]
    fn a_spec_files_linker_variable_is_named_after_its_stem() {
        let p = Profile::load("armv7").unwrap();
        let e = env(&[("CARGO_TARGET_ARM_POKY_LINUX_GNUEABI_LINKER", "poky-gcc")]);
        let l = choose_linker(
            &p,
            "/sdk/specs/arm-poky-linux-gnueabi.json",
            &UserCargo::default(),
            &e,
        )
        .unwrap();
        assert_eq!(
            l.source,
            LinkerSource::CargoEnv("CARGO_TARGET_ARM_POKY_LINUX_GNUEABI_LINKER".into())
        );
        assert_eq!(l.program, None);
        assert_eq!(
            env_key("/sdk/specs/arm-poky-linux-gnueabi.json"),
            "ARM_POKY_LINUX_GNUEABI"
        );
    }

    #[test]
    fn an_empty_profile_linker_is_an_error() {
        let mut p = Profile::load("armv7").unwrap();
        p.loader.linker = Some("  ".into());
        let e = choose_linker(
            &p,
            "armv7-unknown-linux-gnueabihf",
            &UserCargo::default(),
            &env(&[]),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "`[loader] linker` of profile `armv7` is empty"
        );
        assert!(
            e.hint()
                .contains("arm-linux-gnueabihf-gcc --sysroot=/opt/sdk"),
            "{}",
            e.hint()
        );
    }

    #[test]
    fn a_host_cc_is_never_taken_for_a_cross_target() {
        let p = Profile::load("riscv64").unwrap();
        let l = choose_linker(
            &p,
            "riscv64gc-unknown-linux-gnu",
            &UserCargo::default(),
            &env(&[("CC", "gcc")]),
        )
        .unwrap();
        assert_eq!(l.program.as_deref(), Some("riscv64-linux-gnu-gcc"));
        // A vendor triple the cc crate does not know: it would answer with
        // CC's host gcc.
        let l = choose_linker(
            &p,
            "riscv64gc-vendor-linux-gnu",
            &UserCargo::default(),
            &env(&[("CC", "gcc")]),
        )
        .unwrap();
        assert_eq!(l.program.as_deref(), Some("riscv64-linux-gnu-gcc"));
        let e = env(&[("CC", "/opt/host/bin/mycc")]);
        assert!(is_host_compiler("gcc-12", &e));
        assert!(is_host_compiler("/usr/bin/clang-14", &e));
        assert!(is_host_compiler("/opt/host/bin/mycc", &e));
        assert!(!is_host_compiler("/usr/bin/arm-linux-gnueabihf-gcc", &e));
    }

    #[test]
    fn profile_linker_beats_cc_env() {
        let mut p = Profile::load("aarch64").unwrap();
        p.loader.linker = Some("aarch64-none-linux-gnu-gcc --sysroot=/sdk".into());
        let e = env(&[("TARGET_CC", "gcc")]);
        let l = choose_linker(&p, "aarch64-unknown-linux-gnu", &UserCargo::default(), &e).unwrap();
        assert_eq!(l.program.as_deref(), Some("aarch64-none-linux-gnu-gcc"));
        assert_eq!(l.args, ["--sysroot=/sdk"]);
        assert_eq!(l.source, LinkerSource::Profile);
    }

    #[test]
    fn default_linker_is_the_cross_gcc() {
        let p = Profile::load("armv7").unwrap();
        let l = choose_linker(
            &p,
            "armv7-unknown-linux-gnueabihf",
            &UserCargo::default(),
            &env(&[]),
        )
        .unwrap();
        assert_eq!(l.program.as_deref(), Some("arm-linux-gnueabihf-gcc"));
        assert_eq!(l.source, LinkerSource::Default);
    }

    #[test]
    fn debian_packages() {
        assert_eq!(
            debian_package_for("arm-linux-gnueabihf-gcc").as_deref(),
            Some("gcc-arm-linux-gnueabihf")
        );
        assert_eq!(
            debian_package_for("/usr/bin/aarch64-linux-gnu-gcc").as_deref(),
            Some("gcc-aarch64-linux-gnu")
        );
        assert_eq!(debian_package_for("clang"), None);
    }
}
