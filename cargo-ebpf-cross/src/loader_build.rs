//! Cross-building the loader: the `cargo build` plan for one or more boards'
//! Rust targets, each with a linker and flags that match it.
//!
//! A linker the user already chose always wins, in this order:
//! `CARGO_TARGET_<TRIPLE>_LINKER` in the environment, `target.<triple>.linker`
//! in a cargo config file, the profile's `[loader] linker`, `CC_<triple>` /
//! `TARGET_CC` (a command that may carry flags such as `--sysroot=...`), and
//! finally the cross gcc the `cc` crate names for the triple (never a host
//! compiler).
//!
//! Linker and flags reach cargo per target, as `--config
//! target.<triple>.linker=…` and `target.<triple>.rustflags=[…]` arrays, so
//! arguments with spaces stay whole and boards with different triples can
//! share one cargo run. The build script sees one environment for all of
//! them, so each board's objects are named per triple:
//! `EBPF_CROSS_OBJ_DIR_<TRIPLE>` (and `_TARGET_`, `_KERNEL_VERSION_`), which
//! a build script selects by cargo's `TARGET`. A single-target run also sets
//! the plain `EBPF_CROSS_OBJ_DIR`, `EBPF_CROSS_TARGET` and
//! `EBPF_CROSS_KERNEL_VERSION`; a multi-target run sets them empty, so a
//! script that knows only those embeds nothing rather than one board's
//! objects into every loader (and such packages are never grouped anyway,
//! see [`group`]).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::arch::Arch;
use crate::env::Env;
use crate::error::Result;
use crate::profile::Profile;

mod cargo_run;
mod grouping;
mod linker;
mod rust_target;
#[cfg(test)]
mod testing;

pub use cargo_run::{plan, run, CargoFlags, LoaderInput, LoaderPlan};
pub use grouping::{group, Grouping};
pub use linker::{
    check_linker, choose_linker, debian_package_for, env_rustflags, read_user_cargo, UserCargo,
};
pub use rust_target::{
    ensure_rust_target, host_triple, is_builtin_rust_target, rust_target_installed, warm_up,
};

/// `[package.metadata.ebpf-cross]` of the loader package.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageMetadata {
    /// Globs of BPF C sources, relative to the package.
    pub programs: Option<Vec<String>>,
    /// Headers shared with the BPF side, turned into Rust with bindgen.
    pub bindings: Option<Vec<String>>,
    /// The loader binary, when the package has several.
    pub bin: Option<String>,
    #[serde(rename = "static")]
    pub static_: Option<bool>,
    /// The package's build script (and code) select objects by cargo's
    /// TARGET through `EBPF_CROSS_OBJ_DIR_<TRIPLE>`, so several boards'
    /// loaders may build in one cargo run.
    pub per_target_env: Option<bool>,
    /// Kernel settings for every target (below flags and env).
    pub kernel: Option<crate::profile::KernelSection>,
}

pub const DEFAULT_PROGRAMS: &str = "bpf/*.bpf.c";

/// How the linker was chosen, for the progress line and messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum LinkerSource {
    /// Already set where cargo reads it; we set nothing.
    CargoEnv(String),
    /// `target.<triple>.linker` in a cargo config file (its value).
    CargoConfig(String),
    Profile,
    CcEnv(String),
    Default,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Linker {
    /// None when cargo already has one (env or config).
    pub program: Option<String>,
    /// Flags the linker command carried (`--sysroot=...`), passed as
    /// `-C link-arg=`.
    pub args: Vec<String>,
    pub source: LinkerSource,
}

impl Linker {
    pub fn describe(&self) -> String {
        match (&self.program, &self.source) {
            (Some(p), _) => p.clone(),
            (None, LinkerSource::CargoEnv(v)) => format!("from {v}"),
            (None, LinkerSource::CargoConfig(v)) => format!("{v}, from cargo config"),
            (None, _) => "cargo's default".into(),
        }
    }
}

/// Splits a command like `arm-poky-linux-gnueabi-gcc -march=armv7-a
/// --sysroot=/x` into program and args, by POSIX shell word rules, so a
/// quoted sysroot with spaces survives. An unbalanced quote cannot be
/// split that way; it is split on whitespace, as the cc crate splits `CC`.
pub fn split_command(s: &str) -> Vec<String> {
    shell_words::split(s).unwrap_or_else(|_| s.split_whitespace().map(str::to_string).collect())
}

/// The name cargo knows a target by: the triple, or a spec file's stem.
/// It names the `target/<name>/` dir, the `target.<name>` config table,
/// `CARGO_TARGET_<NAME>_LINKER` and the build script's `TARGET`.
pub fn cargo_name(rust_target: &str) -> &str {
    if rust_target.ends_with(".json") {
        Path::new(rust_target)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or(rust_target)
    } else {
        rust_target
    }
}

/// `ARMV7_UNKNOWN_LINUX_GNUEABIHF` for the per-target variables, spelled
/// the way cargo spells `CARGO_TARGET_<TRIPLE>_LINKER`.
pub fn env_key(rust_target: &str) -> String {
    Arch::cargo_env_triple(cargo_name(rust_target))
}

/// A target spec that does not set `crt-static-respected` makes rustc
/// drop `+crt-static` without a word, so the loader comes out dynamic.
/// OpenEmbedded writes such specs for glibc (it sets the key only for
/// musl), which is why this is checked before anything is built.
pub fn spec_respects_crt_static(spec: &serde_json::Value) -> bool {
    spec["crt-static-respected"].as_bool() == Some(true)
}

/// One board's part of a cargo run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoaderTarget {
    /// The board (profile) name.
    pub board: String,
    /// A triple, or a target-spec JSON path.
    pub rust_target: String,
    pub linker: Linker,
    /// Ours: `+crt-static`, the linker command's flags, the profile's link
    /// args and rustflags.
    pub rustflags: Vec<String>,
    /// The user's `build.rustflags`, kept (see [`UserCargo`]).
    pub inherited: Vec<String>,
    pub obj_dir: PathBuf,
    pub kernel_version: Option<String>,
    /// `+crt-static` is among the rustflags (the ELF check expects it).
    pub static_: bool,
}

/// What a board brings to [`loader_target`].
pub struct BoardInput<'a> {
    pub profile: &'a Profile,
    pub rust_target: &'a str,
    pub static_: bool,
    pub obj_dir: &'a Path,
    pub kernel_version: Option<String>,
}

pub fn loader_target(b: &BoardInput, user: &UserCargo, env: &dyn Env) -> Result<LoaderTarget> {
    let linker = choose_linker(b.profile, b.rust_target, user, env)?;
    let mut rustflags: Vec<String> = Vec::new();
    if b.static_ {
        rustflags.push("-C".into());
        rustflags.push("target-feature=+crt-static".into());
    }
    for a in linker
        .args
        .iter()
        .chain(b.profile.loader.linker_args.iter().flatten())
    {
        rustflags.push("-C".into());
        rustflags.push(format!("link-arg={a}"));
    }
    rustflags.extend(b.profile.loader.rustflags.iter().flatten().cloned());
    Ok(LoaderTarget {
        board: b.profile.name.clone(),
        rust_target: b.rust_target.to_string(),
        linker,
        rustflags,
        inherited: user.build_rustflags.clone(),
        obj_dir: b.obj_dir.to_path_buf(),
        kernel_version: b.kernel_version.clone(),
        static_: b.static_,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_commands_with_quotes() {
        assert_eq!(
            split_command("arm-poky-linux-gnueabi-gcc  -march=armv7-a --sysroot='/opt/my sdk'"),
            [
                "arm-poky-linux-gnueabi-gcc",
                "-march=armv7-a",
                "--sysroot=/opt/my sdk"
            ]
        );
    }

    #[test]
    fn only_specs_that_say_so_respect_crt_static() {
        // What OpenEmbedded writes for glibc and for musl targets.
        let glibc = serde_json::json!({"arch": "arm", "env": "gnu"});
        let musl = serde_json::json!({"arch": "arm", "env": "musl", "crt-static-respected": true});
        assert!(!spec_respects_crt_static(&glibc));
        assert!(spec_respects_crt_static(&musl));
    }
}
