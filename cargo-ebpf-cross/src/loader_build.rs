//! Cross-building the loader: the `cargo build` plan for the profile's Rust
//! target, with a linker that matches it.
//!
//! A linker the user already chose always wins, in this order:
//! `CARGO_TARGET_<TRIPLE>_LINKER` in the environment, `target.<triple>.linker`
//! in a cargo config file, the profile's `[loader] linker`, `CC_<triple>` /
//! `TARGET_CC` (a command that may carry flags such as `--sysroot=...`), and
//! finally the cross gcc the `cc` crate names for the triple.

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
    /// Kernel settings for every target (below flags and env).
    pub kernel: Option<crate::profile::KernelSection>,
}

pub const DEFAULT_PROGRAMS: &str = "bpf/*.bpf.c";

/// How the linker was chosen, for the progress line and messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum LinkerSource {
    /// Already set where cargo reads it; we set nothing.
    CargoEnv(String),
    CargoConfig(PathBuf),
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
            (None, LinkerSource::CargoConfig(f)) => format!("from {}", f.display()),
            (None, _) => "cargo's default".into(),
        }
    }
}

/// Splits a command like `arm-poky-linux-gnueabi-gcc -march=armv7-a
/// --sysroot=/x` into program and args. Quotes are honoured so a sysroot
/// with spaces survives.
pub fn split_command(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Looks for `target.<triple>.linker` in the cargo config files cargo would
/// read from `start` (each ancestor's `.cargo/config[.toml]`, then
/// CARGO_HOME's).
pub fn cargo_config_linker(start: &Path, triple: &str) -> Option<PathBuf> {
    let mut files = Vec::new();
    let mut dir = Some(start);
    while let Some(d) = dir {
        files.push(d.join(".cargo/config.toml"));
        files.push(d.join(".cargo/config"));
        dir = d.parent();
    }
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    if let Some(h) = home {
        files.push(h.join("config.toml"));
        files.push(h.join("config"));
    }
    files.into_iter().find(|f| {
        std::fs::read_to_string(f)
            .ok()
            .and_then(|t| t.parse::<toml::Table>().ok())
            .and_then(|t| t.get("target")?.get(triple)?.get("linker").map(|_| ()))
            .is_some()
    })
}

/// Reads the env the way cargo and the cc crate do.
pub trait Env {
    /// A non-empty value.
    fn var(&self, k: &str) -> Option<String>;
    /// Set at all, even to "": cargo treats an empty RUSTFLAGS as set.
    fn is_set(&self, k: &str) -> bool {
        self.var(k).is_some()
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
}

/// The cc crate's answer for a triple's C compiler, ignoring its default
/// compile flags (they are not link flags).
fn cc_default(triple: &str) -> Option<String> {
    let host = host_triple();
    let tool = cc::Build::new()
        .target(triple)
        .host(&host)
        .opt_level(0)
        .cargo_metadata(false)
        .cargo_warnings(false)
        .warnings(false)
        .try_get_compiler()
        .ok()?;
    Some(tool.path().display().to_string())
}

pub fn choose_linker(profile: &Profile, triple: &str, pkg_dir: &Path, env: &dyn Env) -> Linker {
    let cargo_var = format!("CARGO_TARGET_{}_LINKER", Arch::cargo_env_triple(triple));
    if env.var(&cargo_var).is_some() {
        return Linker {
            program: None,
            args: Vec::new(),
            source: LinkerSource::CargoEnv(cargo_var),
        };
    }
    if let Some(f) = cargo_config_linker(pkg_dir, triple) {
        return Linker {
            program: None,
            args: Vec::new(),
            source: LinkerSource::CargoConfig(f),
        };
    }
    if let Some(l) = &profile.loader.linker {
        let mut parts = split_command(l);
        let program = parts.remove(0);
        return Linker {
            program: Some(program),
            args: parts,
            source: LinkerSource::Profile,
        };
    }
    let cc_vars = [
        format!("CC_{triple}"),
        format!("CC_{}", triple.replace('-', "_")),
        "TARGET_CC".to_string(),
    ];
    for v in &cc_vars {
        if let Some(val) = env.var(v) {
            let mut parts = split_command(&val);
            if parts.is_empty() {
                continue;
            }
            let program = parts.remove(0);
            return Linker {
                program: Some(program),
                args: parts,
                source: LinkerSource::CcEnv(v.clone()),
            };
        }
    }
    // cc knows the usual Debian names; the arch table's cross gcc covers
    // triples it spells differently.
    let from_cc = cc_default(triple).filter(|p| which::which(p).is_ok());
    let program = from_cc.unwrap_or_else(|| profile.arch.cross_gcc());
    Linker {
        program: Some(program),
        args: Vec::new(),
        source: LinkerSource::Default,
    }
}

/// A target spec that does not set `crt-static-respected` makes rustc
/// drop `+crt-static` without a word, so the loader comes out dynamic.
/// OpenEmbedded writes such specs for glibc (it sets the key only for
/// musl), which is why this is checked before anything is built.
pub fn spec_respects_crt_static(spec: &serde_json::Value) -> bool {
    spec["crt-static-respected"].as_bool() == Some(true)
}

/// Everything needed to run cargo for one target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoaderPlan {
    pub cargo: Cmd,
    pub linker: Linker,
    pub rust_target: String,
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
}

pub struct LoaderInput<'a> {
    pub profile: &'a Profile,
    pub rust_target: &'a str,
    pub manifest: &'a Path,
    pub package: &'a str,
    pub bin: &'a str,
    pub static_: bool,
    pub obj_dir: &'a Path,
    pub kernel_version: Option<String>,
    pub flags: &'a CargoFlags,
}

pub fn plan(i: &LoaderInput, env: &dyn Env) -> LoaderPlan {
    let pkg_dir = crate::fsutil::parent_dir(i.manifest);
    let linker = choose_linker(i.profile, i.rust_target, &pkg_dir, env);
    let mut cargo = Cmd::new(env.var("CARGO").unwrap_or_else(|| "cargo".into()))
        .arg("build")
        .arg("--manifest-path")
        .arg(i.manifest.display().to_string())
        .arg("--package")
        .arg(i.package)
        .arg("--bin")
        .arg(i.bin)
        .arg("--target")
        .arg(i.rust_target)
        .arg("--message-format")
        .arg("json-render-diagnostics");
    if i.flags.release {
        cargo = cargo.arg("--release");
    }
    if i.flags.quiet {
        cargo = cargo.arg("--quiet");
    }
    if let Some(d) = &i.flags.target_dir {
        cargo = cargo.arg("--target-dir").arg(d.display().to_string());
    }
    for (on, f) in [
        (i.flags.offline, "--offline"),
        (i.flags.locked, "--locked"),
        (i.flags.frozen, "--frozen"),
    ] {
        if on {
            cargo = cargo.arg(f);
        }
    }
    let env_triple = Arch::cargo_env_triple(
        Path::new(i.rust_target)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or(i.rust_target),
    );
    if let Some(p) = &linker.program {
        cargo = cargo.env(format!("CARGO_TARGET_{env_triple}_LINKER"), p.clone());
    }
    let mut rustflags: Vec<String> = Vec::new();
    if i.static_ {
        rustflags.push("-C".into());
        rustflags.push("target-feature=+crt-static".into());
    }
    for a in linker
        .args
        .iter()
        .chain(i.profile.loader.linker_args.iter().flatten())
    {
        rustflags.push("-C".into());
        rustflags.push(format!("link-arg={a}"));
    }
    rustflags.extend(i.profile.loader.rustflags.iter().flatten().cloned());
    if !rustflags.is_empty() {
        // RUSTFLAGS, when set, makes cargo ignore the per-target variable, so
        // ours are appended to whichever one is in force rather than
        // replacing what a Yocto or CI environment put there.
        let (var, existing) = match env.is_set("RUSTFLAGS") {
            true => ("RUSTFLAGS".to_string(), env.var("RUSTFLAGS")),
            false => {
                let v = format!("CARGO_TARGET_{env_triple}_RUSTFLAGS");
                let e = env.var(&v);
                (v, e)
            }
        };
        let mut all: Vec<String> = existing
            .into_iter()
            .filter(|e| !e.trim().is_empty())
            .collect();
        all.push(rustflags.join(" "));
        cargo = cargo.env(var, all.join(" "));
    }
    let obj_dir = i.obj_dir.display().to_string();
    cargo = cargo
        .env("EBPF_CROSS_OBJ_DIR", obj_dir)
        .env("EBPF_CROSS_TARGET", i.profile.name.clone());
    if let Some(v) = &i.kernel_version {
        cargo = cargo.env("EBPF_CROSS_KERNEL_VERSION", v.clone());
    }
    LoaderPlan {
        cargo,
        linker,
        rust_target: i.rust_target.to_string(),
        package: i.package.to_string(),
        bin: i.bin.to_string(),
    }
}

/// Is `triple` one rustc ships (so rustup can add it)? Custom triples and
/// spec files are the user's toolchain's business.
pub fn is_builtin_rust_target(triple: &str) -> bool {
    if triple.ends_with(".json") {
        return false;
    }
    Cmd::new("rustc")
        .args(["--print", "target-list"])
        .output()
        .map(|o| o.stdout_text().lines().any(|l| l == triple))
        .unwrap_or(false)
}

/// Makes sure the target's std is there, adding it with rustup when allowed.
pub fn ensure_rust_target(triple: &str, allow_rustup: bool, offline: bool) -> Result<()> {
    if !is_builtin_rust_target(triple) {
        return Ok(());
    }
    match rust_target_installed(triple) {
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

/// Runs cargo; its diagnostics pass through on stderr, and the JSON on
/// stdout tells us which executable it made.
pub fn run(p: &LoaderPlan) -> Result<PathBuf> {
    use std::io::BufRead;
    if let Some(prog) = &p.linker.program {
        if which::which(prog).is_err() {
            let pkg = debian_package_for(prog);
            return Err(Error::Loader {
                message: format!(
                    "cross linker `{prog}` for {} is not installed",
                    p.rust_target
                ),
                hint: format!(
                    "{}or set CARGO_TARGET_{}_LINKER (or CC_{}) to your cross compiler",
                    pkg.map(|p| format!("install it (`apt-get install {p}`), "))
                        .unwrap_or_default(),
                    Arch::cargo_env_triple(&p.rust_target),
                    p.rust_target.replace('-', "_")
                ),
            });
        }
    }
    use std::process::Stdio;
    let mut child = p
        .cargo
        .start(Stdio::null(), Stdio::piped(), Stdio::inherit())?;
    let mut exe = None;
    let out = child.child().stdout.take().expect("piped");
    for line in std::io::BufReader::new(out).lines().map_while(|l| l.ok()) {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if msg["reason"] == "compiler-artifact" && msg["target"]["name"] == p.bin.as_str() {
            if let Some(e) = msg["executable"].as_str() {
                exe = Some(PathBuf::from(e));
            }
        }
    }
    let st = child.wait()?;
    if !st.success() {
        return Err(Error::Loader {
            message: format!(
                "building the loader `{}` for {} failed ({st})",
                p.bin, p.rust_target
            ),
            hint: "cargo's diagnostics are above".into(),
        });
    }
    exe.ok_or_else(|| Error::Loader {
        message: format!("cargo built nothing for binary `{}`", p.bin),
        hint: "check `bin` in [package.metadata.ebpf-cross]".into(),
    })
}

/// Debian's package for a cross gcc name, when it follows Debian's naming.
pub fn debian_package_for(prog: &str) -> Option<String> {
    let name = Path::new(prog).file_name()?.to_str()?;
    let prefix = name.strip_suffix("-gcc")?;
    Some(format!("gcc-{}", prefix.replace('_', "-")))
}

/// The host's Rust triple, from `rustc -vV`.
pub fn host_triple() -> String {
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
}

/// Is the Rust target's std installed for the active toolchain?
pub fn rust_target_installed(triple: &str) -> Option<bool> {
    let (st, out) = Cmd::new("rustc")
        .args(["--print", "target-libdir", "--target", triple])
        .output_any()
        .ok()?;
    if !st.success() {
        return Some(false);
    }
    let dir = out.stdout_text().trim().to_string();
    Some(
        std::fs::read_dir(&dir)
            .map(|mut d| {
                d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("libstd-")))
            })
            .unwrap_or(false),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct MapEnv(HashMap<&'static str, &'static str>);
    impl Env for MapEnv {
        fn var(&self, k: &str) -> Option<String> {
            self.0.get(k).map(|s| s.to_string())
        }
    }

    fn input<'a>(p: &'a Profile, flags: &'a CargoFlags, static_: bool) -> LoaderInput<'a> {
        LoaderInput {
            profile: p,
            rust_target: "armv7-unknown-linux-gnueabihf",
            manifest: Path::new("/nonexistent/proj/Cargo.toml"),
            package: "open-example",
            bin: "open-example",
            static_,
            obj_dir: Path::new("/t/ebpf-cross/armv7/bpf"),
            kernel_version: Some("6.1.176".into()),
            flags,
        }
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
    fn cc_env_with_flags_becomes_linker_and_link_args() {
        let p = Profile::load("armv7").unwrap();
        let env = MapEnv(HashMap::from([(
            "CC_armv7_unknown_linux_gnueabihf",
            "arm-linux-gnueabihf-gcc -mfloat-abi=hard --sysroot=/usr/arm-linux-gnueabihf",
        )]));
        let f = CargoFlags::default();
        let plan = plan(&input(&p, &f, true), &env);
        assert_eq!(
            plan.linker.source,
            LinkerSource::CcEnv("CC_armv7_unknown_linux_gnueabihf".into())
        );
        let envs: HashMap<_, _> = plan.cargo.env.iter().cloned().collect();
        assert_eq!(
            envs["CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER"],
            "arm-linux-gnueabihf-gcc"
        );
        assert_eq!(
            envs["CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUSTFLAGS"],
            "-C target-feature=+crt-static -C link-arg=-mfloat-abi=hard -C link-arg=--sysroot=/usr/arm-linux-gnueabihf"
        );
        assert_eq!(envs["EBPF_CROSS_OBJ_DIR"], "/t/ebpf-cross/armv7/bpf");
        assert_eq!(envs["EBPF_CROSS_TARGET"], "armv7");
        assert_eq!(envs["EBPF_CROSS_KERNEL_VERSION"], "6.1.176");
    }

    #[test]
    fn existing_cargo_linker_env_wins_and_rustflags_are_appended() {
        let p = Profile::load("armv7").unwrap();
        let env = MapEnv(HashMap::from([
            ("CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER", "my-ld"),
            ("RUSTFLAGS", "-C opt-level=s"),
        ]));
        let f = CargoFlags {
            release: true,
            frozen: true,
            ..Default::default()
        };
        let plan = plan(&input(&p, &f, true), &env);
        assert_eq!(plan.linker.program, None);
        let envs: HashMap<_, _> = plan.cargo.env.iter().cloned().collect();
        assert!(!envs.contains_key("CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER"));
        assert_eq!(
            envs["RUSTFLAGS"],
            "-C opt-level=s -C target-feature=+crt-static"
        );
        let a = plan.cargo.args.join(" ");
        assert!(a.contains("--target armv7-unknown-linux-gnueabihf"));
        assert!(a.contains("--release") && a.contains("--frozen"));
    }

    #[test]
    fn an_empty_rustflags_still_counts_as_set() {
        let p = Profile::load("armv7").unwrap();
        let env = MapEnv(HashMap::from([("RUSTFLAGS", "")]));
        let f = CargoFlags::default();
        let plan = plan(&input(&p, &f, true), &env);
        let envs: HashMap<_, _> = plan.cargo.env.iter().cloned().collect();
        assert_eq!(envs["RUSTFLAGS"], "-C target-feature=+crt-static");
        assert!(!envs.contains_key("CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUSTFLAGS"));
    }

    #[test]
    fn profile_linker_beats_cc_env() {
        let mut p = Profile::load("aarch64").unwrap();
        p.loader.linker = Some("aarch64-none-linux-gnu-gcc --sysroot=/sdk".into());
        let env = MapEnv(HashMap::from([("TARGET_CC", "gcc")]));
        let l = choose_linker(
            &p,
            "aarch64-unknown-linux-gnu",
            Path::new("/nonexistent"),
            &env,
        );
        assert_eq!(l.program.as_deref(), Some("aarch64-none-linux-gnu-gcc"));
        assert_eq!(l.args, ["--sysroot=/sdk"]);
        assert_eq!(l.source, LinkerSource::Profile);
    }

    #[test]
    fn cargo_config_linker_is_respected() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join(".cargo")).unwrap();
        std::fs::write(
            d.path().join(".cargo/config.toml"),
            "[target.armv7-unknown-linux-gnueabihf]\nlinker = \"x-gcc\"\n",
        )
        .unwrap();
        let sub = d.path().join("crate");
        std::fs::create_dir_all(&sub).unwrap();
        assert_eq!(
            cargo_config_linker(&sub, "armv7-unknown-linux-gnueabihf"),
            Some(d.path().join(".cargo/config.toml"))
        );
        assert_eq!(cargo_config_linker(&sub, "aarch64-unknown-linux-gnu"), None);
    }

    #[test]
    fn default_linker_is_the_cross_gcc() {
        let p = Profile::load("armv7").unwrap();
        let l = choose_linker(
            &p,
            "armv7-unknown-linux-gnueabihf",
            Path::new("/nonexistent"),
            &MapEnv(HashMap::new()),
        );
        assert_eq!(l.program.as_deref(), Some("arm-linux-gnueabihf-gcc"));
        assert_eq!(l.source, LinkerSource::Default);
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
