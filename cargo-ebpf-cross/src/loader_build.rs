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
use crate::error::{Error, Result};
use crate::plan::Cmd;
use crate::profile::Profile;

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

/// Reads the env the way cargo and the cc crate do.
pub trait Env {
    /// A non-empty value.
    fn var(&self, k: &str) -> Option<String>;
    /// Set at all, even to "": cargo treats an empty RUSTFLAGS as set.
    fn is_set(&self, k: &str) -> bool {
        self.var(k).is_some()
    }
    /// The value as set, even when empty.
    fn raw(&self, k: &str) -> Option<String> {
        self.var(k)
    }
}

pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, k: &str) -> Option<String> {
        std::env::var(k).ok().filter(|v| !v.trim().is_empty())
    }
    fn is_set(&self, k: &str) -> bool {
        std::env::var_os(k).is_some()
    }
    fn raw(&self, k: &str) -> Option<String> {
        std::env::var(k).ok()
    }
}

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
    let triple = cargo_name(rust_target);
    let cargo_var = format!("CARGO_TARGET_{}_LINKER", env_key(rust_target));
    if env.var(&cargo_var).is_some() {
        return Ok(Linker {
            program: None,
            args: Vec::new(),
            source: LinkerSource::CargoEnv(cargo_var),
        });
    }
    if let Some(l) = &user.linker {
        return Ok(Linker {
            program: None,
            args: Vec::new(),
            source: LinkerSource::CargoConfig(l.clone()),
        });
    }
    if let Some(l) = &profile.loader.linker {
        let mut parts = split_command(l).into_iter();
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
        return Ok(Linker {
            program: Some(program),
            args: parts.collect(),
            source: LinkerSource::Profile,
        });
    }
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
            return Ok(Linker {
                program: Some(program),
                args: parts.collect(),
                source: LinkerSource::CcEnv(v.clone()),
            });
        }
    }
    // For the table's own triple the table names the cross gcc. For other
    // triples (vendor ones), the name the cc crate would choose is tried,
    // and a host compiler is never taken.
    let from_cc = (triple != profile.arch.rust_target)
        .then(|| cc_default(triple, &profile.arch.cross_prefix, env))
        .flatten()
        .filter(|p| !is_host_compiler(p, env))
        .filter(|p| which::which(p).is_ok());
    let program = from_cc.unwrap_or_else(|| profile.arch.cross_gcc());
    Ok(Linker {
        program: Some(program),
        args: Vec::new(),
        source: LinkerSource::Default,
    })
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

/// How the boards' loaders split into cargo runs, and why (for -v).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    /// Indexes into the boards, one list per cargo run, in order.
    pub runs: Vec<Vec<usize>>,
    pub notes: Vec<String>,
}

/// Boards whose Rust targets differ share one cargo run. A triple seen
/// again goes to a later run (two armv7 boards on different kernels embed
/// different objects, and cargo has one `target/<triple>/` dir).
///
/// With the user's RUSTFLAGS or CARGO_ENCODED_RUSTFLAGS set, cargo ignores
/// per-target rustflags, so a run's targets all get theirs plus one set of
/// ours ([`plan`]): boards share a run only when their own flags agree.
/// Everything runs one board at a time when the package's build script may
/// know only the single EBPF_CROSS_OBJ_DIR, or when TARGET_CC (which the
/// `cc` crate takes for every target) is set.
pub fn group(
    boards: &[LoaderTarget],
    per_target_env: bool,
    package: &str,
    env: &dyn Env,
) -> Grouping {
    let one_each = |why: String| Grouping {
        runs: (0..boards.len()).map(|i| vec![i]).collect(),
        notes: vec![format!("one cargo invocation per board: {why}")],
    };
    if boards.len() < 2 {
        return Grouping {
            runs: (0..boards.len()).map(|i| vec![i]).collect(),
            notes: Vec::new(),
        };
    }
    if !per_target_env {
        return one_each(format!(
            "package `{package}` does not set `per_target_env = true` in [package.metadata.ebpf-cross] (its build script may know only EBPF_CROSS_OBJ_DIR)"
        ));
    }
    if env.is_set("TARGET_CC") {
        return one_each(
            "TARGET_CC is set, and build scripts then use that one C compiler for every target"
                .into(),
        );
    }
    let user_flags = ["CARGO_ENCODED_RUSTFLAGS", "RUSTFLAGS"]
        .into_iter()
        .find(|v| env.is_set(v));
    let name = |i: usize| cargo_name(&boards[i].rust_target);
    let fits = |run: &[usize], i: usize| {
        run.iter().all(|&j| {
            name(j) != name(i)
                && (user_flags.is_none() || boards[j].rustflags == boards[i].rustflags)
        })
    };
    let mut runs: Vec<Vec<usize>> = Vec::new();
    let mut notes = Vec::new();
    for i in 0..boards.len() {
        let r = runs
            .iter()
            .position(|run| fits(run, i))
            .unwrap_or(runs.len());
        if r == runs.len() {
            runs.push(Vec::new());
        }
        if r > 0 {
            let board = &boards[i].board;
            let same_triple = (0..i).find(|&j| name(j) == name(i));
            notes.push(match (same_triple, user_flags) {
                (Some(j), _) => format!(
                    "loaders for {board} in a later cargo invocation: {} is also the triple of {} (different kernels embed different objects)",
                    name(i),
                    boards[j].board
                ),
                (None, var) => {
                    let first = &boards[runs[0][0]];
                    format!(
                        "loaders for {board} in a later cargo invocation: {} is set, so every target of a cargo run gets the same rustflags, and {board}'s own [{}] differ from {}'s [{}]",
                        var.unwrap_or("RUSTFLAGS"),
                        boards[i].rustflags.join(" "),
                        first.board,
                        first.rustflags.join(" ")
                    )
                }
            });
        }
        runs[r].push(i);
    }
    for r in runs.iter().filter(|r| r.len() > 1) {
        let names: Vec<&str> = r.iter().map(|&i| boards[i].board.as_str()).collect();
        notes.insert(
            0,
            format!("loaders for {} in one cargo invocation", names.join(", ")),
        );
    }
    if let Some(var) = user_flags {
        notes.insert(
            0,
            format!("{var} is set, and cargo then ignores per-target rustflags: each run's own flags join it in CARGO_ENCODED_RUSTFLAGS"),
        );
    }
    Grouping { runs, notes }
}

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
    let mut cargo = Cmd::new(env.var("CARGO").unwrap_or_else(|| "cargo".into()))
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
    let f = i.flags;
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
    let user_env = env_rustflags(env);
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
        if user_env.is_none() {
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
    LoaderPlan {
        cargo,
        targets: targets.to_vec(),
        package: i.package.to_string(),
        bin: i.bin.to_string(),
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

/// Is `triple` one rustc ships (so rustup can add it)? Custom triples and
/// spec files are the user's toolchain's business.
pub fn is_builtin_rust_target(triple: &str) -> bool {
    if triple.ends_with(".json") {
        return false;
    }
    // One rustc run for every board of a build.
    static LIST: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    LIST.get_or_init(|| {
        Cmd::new("rustc")
            .args(["--print", "target-list"])
            .output()
            .map(|o| o.stdout_text().lines().map(str::to_string).collect())
            .unwrap_or_default()
    })
    .iter()
    .any(|l| l == triple)
}

/// Makes sure the target's std is there, adding it with rustup when allowed.
pub fn ensure_rust_target(triple: &str, allow_rustup: bool, offline: bool) -> Result<()> {
    // Installed is the common case and needs no target list.
    let installed = rust_target_installed(triple);
    if installed == Some(true) || !is_builtin_rust_target(triple) {
        return Ok(());
    }
    match installed {
        Some(true) => return Ok(()),
        None => {
            return Err(Error::Loader {
                message: "rustc not found".into(),
                hint: "install Rust with rustup (https://rustup.rs)".into(),
            })
        }
        Some(false) => {}
    }
    let has_rustup = which::which("rustup").is_ok();
    if !allow_rustup || offline || !has_rustup {
        let why = if offline {
            " (offline, so it cannot be downloaded now)"
        } else if !has_rustup {
            " (and rustup is not installed)"
        } else {
            ""
        };
        return Err(Error::Loader {
            message: format!("the Rust standard library for {triple} is not installed{why}"),
            hint: format!("run `rustup target add {triple}` while online, or install the target's std another way"),
        });
    }
    crate::ui::status(
        "Installing",
        &format!("Rust target {triple} (rustup target add)"),
    );
    let cmd = Cmd::new("rustup").args(["target", "add", triple]);
    if let Err(e) = cmd.status() {
        return Err(Error::Loader {
            message: format!("`rustup target add {triple}` failed: {e}"),
            hint: "check the network; if rustup said the target has no prebuilt artifacts (tier 3 targets such as mips and mipsel), build its std yourself (nightly `-Z build-std`) and pass --no-rustup".into(),
        });
    }
    Ok(())
}

/// Debian's package for a cross gcc name, when it follows Debian's naming.
pub fn debian_package_for(prog: &str) -> Option<String> {
    let name = Path::new(prog).file_name()?.to_str()?;
    let prefix = name.strip_suffix("-gcc")?;
    Some(format!("gcc-{}", prefix.replace('_', "-")))
}

/// The host's Rust triple, from `rustc -vV`.
pub fn host_triple() -> String {
    // Asked once per board otherwise; a no-op build should spawn little.
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        Cmd::new("rustc")
            .arg("-vV")
            .output()
            .ok()
            .and_then(|o| {
                o.stdout_text()
                    .lines()
                    .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
            })
            .unwrap_or_else(|| "x86_64-unknown-linux-gnu".to_string())
    })
    .clone()
}

/// Is the Rust target's std installed for the active toolchain?
/// (rustc's `target-libdir` is `<sysroot>/lib/rustlib/<triple>/lib`; the
/// sysroot is asked once, so several boards cost one rustc run.)
pub fn rust_target_installed(triple: &str) -> Option<bool> {
    let dir = sysroot()?.join("lib/rustlib").join(triple).join("lib");
    Some(
        std::fs::read_dir(&dir)
            .map(|mut d| {
                d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("libstd-")))
            })
            .unwrap_or(false),
    )
}

fn sysroot() -> Option<&'static Path> {
    static SYSROOT: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    SYSROOT
        .get_or_init(|| {
            Cmd::new("rustc")
                .args(["--print", "sysroot"])
                .output()
                .ok()
                .map(|o| PathBuf::from(o.stdout_text().trim()))
        })
        .as_deref()
}

/// Asks rustc for its host and sysroot now, so a thread can do it while
/// the BPF compiles run instead of after them, just before cargo.
pub fn warm_up() {
    host_triple();
    sysroot();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct MapEnv(HashMap<&'static str, &'static str>);
    impl Env for MapEnv {
        fn var(&self, k: &str) -> Option<String> {
            self.0
                .get(k)
                .map(|s| s.to_string())
                .filter(|s| !s.trim().is_empty())
        }
        fn is_set(&self, k: &str) -> bool {
            self.0.contains_key(k)
        }
        fn raw(&self, k: &str) -> Option<String> {
            self.0.get(k).map(|s| s.to_string())
        }
    }

    fn env(pairs: &[(&'static str, &'static str)]) -> MapEnv {
        MapEnv(pairs.iter().copied().collect())
    }

    fn board(p: &Profile, rust_target: &str, e: &MapEnv) -> LoaderTarget {
        let obj = PathBuf::from(format!("/t/ebpf-cross/{}/pkg/bpf", p.name));
        loader_target(
            &BoardInput {
                profile: p,
                rust_target,
                static_: true,
                obj_dir: &obj,
                kernel_version: Some("6.1.176".into()),
            },
            &UserCargo::default(),
            e,
        )
        .unwrap()
    }

    fn input(flags: &CargoFlags) -> LoaderInput<'_> {
        LoaderInput {
            manifest: Path::new("/p/Cargo.toml"),
            package: "pkg",
            bin: "pkg",
            flags,
        }
    }

    fn envs(c: &Cmd) -> HashMap<String, String> {
        c.env.iter().cloned().collect()
    }

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
    fn existing_cargo_linker_env_wins() {
        let p = Profile::load("armv7").unwrap();
        let e = env(&[("CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER", "my-ld")]);
        let t = board(&p, "armv7-unknown-linux-gnueabihf", &e);
        assert_eq!(t.linker.program, None);
        let plan = plan(&input(&CargoFlags::default()), &[t], &e);
        assert!(!plan.cargo.args.iter().any(|a| a.contains(".linker=")));
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

    fn boards(list: &[(&str, &str)]) -> Vec<LoaderTarget> {
        list.iter()
            .map(|(b, t)| LoaderTarget {
                board: b.to_string(),
                rust_target: t.to_string(),
                linker: Linker {
                    program: None,
                    args: Vec::new(),
                    source: LinkerSource::Default,
                },
                rustflags: vec!["-C".into(), "target-feature=+crt-static".into()],
                inherited: Vec::new(),
                obj_dir: PathBuf::from(format!("/o/{b}")),
                kernel_version: None,
                static_: true,
            })
            .collect()
    }

    #[test]
    fn grouping_by_triple() {
        let b = boards(&[
            ("old", "armv7-unknown-linux-gnueabihf"),
            ("rpi4", "aarch64-unknown-linux-gnu"),
            ("new", "armv7-unknown-linux-gnueabihf"),
            ("rv", "riscv64gc-unknown-linux-gnu"),
        ]);
        let g = group(&b, true, "pkg", &env(&[]));
        assert_eq!(g.runs, [vec![0, 1, 3], vec![2]]);
        assert_eq!(
            g.notes,
            [
                "loaders for old, rpi4, rv in one cargo invocation",
                "loaders for new in a later cargo invocation: armv7-unknown-linux-gnueabihf is also the triple of old (different kernels embed different objects)"
            ]
        );
        let one = group(&b[..1], true, "pkg", &env(&[]));
        assert_eq!(one.runs, [vec![0]]);
        assert!(one.notes.is_empty());
    }

    #[test]
    fn grouping_falls_back_to_one_run_per_board() {
        let b = boards(&[
            ("a", "armv7-unknown-linux-gnueabihf"),
            ("b", "aarch64-unknown-linux-gnu"),
        ]);
        let g = group(&b, false, "pkg", &env(&[]));
        assert_eq!(g.runs, [vec![0], vec![1]]);
        assert!(g.notes[0].contains("package `pkg` does not set `per_target_env = true`"));
        let e = MapEnv(HashMap::from([("TARGET_CC", "")]));
        let g = group(&b, true, "pkg", &e);
        assert_eq!(g.runs, [vec![0], vec![1]]);
        assert_eq!(
            g.notes,
            ["one cargo invocation per board: TARGET_CC is set, and build scripts then use that one C compiler for every target"]
        );
    }

    #[test]
    fn users_rustflags_group_boards_whose_own_flags_agree() {
        let mut b = boards(&[
            ("a", "armv7-unknown-linux-gnueabihf"),
            ("b", "aarch64-unknown-linux-gnu"),
            ("c", "riscv64gc-unknown-linux-gnu"),
        ]);
        b[2].rustflags = vec!["-C".into(), "link-arg=--sysroot=/opt/my sdk".into()];
        for var in ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS"] {
            let e = MapEnv(HashMap::from([(var, "")]));
            let g = group(&b, true, "pkg", &e);
            assert_eq!(g.runs, [vec![0, 1], vec![2]], "{var}");
            assert_eq!(
                g.notes,
                [
                    format!("{var} is set, and cargo then ignores per-target rustflags: each run's own flags join it in CARGO_ENCODED_RUSTFLAGS"),
                    "loaders for a, b in one cargo invocation".into(),
                    format!("loaders for c in a later cargo invocation: {var} is set, so every target of a cargo run gets the same rustflags, and c's own [-C link-arg=--sysroot=/opt/my sdk] differ from a's [-C target-feature=+crt-static]"),
                ]
            );
        }
        // Without them, per-target flags may differ within a run.
        assert_eq!(group(&b, true, "pkg", &env(&[])).runs, [vec![0, 1, 2]]);
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

    #[test]
    fn only_specs_that_say_so_respect_crt_static() {
        // What OpenEmbedded writes for glibc and for musl targets.
        let glibc = serde_json::json!({"arch": "arm", "env": "gnu"});
        let musl = serde_json::json!({"arch": "arm", "env": "musl", "crt-static-respected": true});
        assert!(!spec_respects_crt_static(&glibc));
        assert!(spec_respects_crt_static(&musl));
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
