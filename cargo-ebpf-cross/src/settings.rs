//! The one precedence rule, for every setting:
//!
//! ```text
//! flag  >  env  >  [package.metadata.ebpf-cross]  >  profile (board file or built-in)  >  default
//! ```
//!
//! Each resolved value remembers the layer it came from, so `config` can
//! show the user why a setting has the value it has, and errors can name
//! the place to change it. Paths are made absolute against the place they
//! were written: flags and env against the current dir, metadata against
//! the package's manifest dir, and board files against their own dir (done
//! when the profile is read).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::env::Env;

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "layer", content = "at", rename_all = "snake_case")]
pub enum Origin {
    /// A command-line flag, by its spelling.
    Flag(String),
    /// An environment variable, by name.
    Env(String),
    /// `[package.metadata.ebpf-cross]` in this Cargo.toml.
    Metadata(PathBuf),
    /// The profile: a board file's path or a built-in's name.
    Profile(String),
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(n) => write!(f, "{n}"),
            Origin::Env(n) => write!(f, "env {n}"),
            Origin::Metadata(p) => write!(f, "[package.metadata.ebpf-cross] in {}", p.display()),
            Origin::Profile(n) => write!(f, "profile {n}"),
            Origin::Default => write!(f, "default"),
        }
    }
}

/// A value and its origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Setting<T> {
    pub value: T,
    pub origin: Origin,
}

impl<T> Setting<T> {
    pub fn new(value: T, origin: Origin) -> Self {
        Setting { value, origin }
    }
}

/// The candidates for one setting, highest layer first. Only the
/// constructor knows the order, so no caller can get it wrong.
pub struct Layers<T> {
    flag: Option<(T, Origin)>,
    env: Option<(T, Origin)>,
    metadata: Option<(T, Origin)>,
    profile: Option<(T, Origin)>,
    default: Option<T>,
}

impl<T> Default for Layers<T> {
    fn default() -> Self {
        Layers {
            flag: None,
            env: None,
            metadata: None,
            profile: None,
            default: None,
        }
    }
}

impl<T> Layers<T> {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn flag(mut self, name: &str, v: Option<T>) -> Self {
        self.flag = v.map(|v| (v, Origin::Flag(name.to_string())));
        self
    }
    pub fn env(mut self, name: &str, v: Option<T>) -> Self {
        self.env = v.map(|v| (v, Origin::Env(name.to_string())));
        self
    }
    pub fn metadata(mut self, manifest: Option<&Path>, v: Option<T>) -> Self {
        self.metadata = v.map(|v| {
            (
                v,
                Origin::Metadata(manifest.map(Path::to_path_buf).unwrap_or_default()),
            )
        });
        self
    }
    pub fn profile(mut self, profile: &str, v: Option<T>) -> Self {
        self.profile = v.map(|v| (v, Origin::Profile(profile.to_string())));
        self
    }
    pub fn default_value(mut self, v: T) -> Self {
        self.default = Some(v);
        self
    }

    /// The highest layer that has a value.
    pub fn resolve(self) -> Option<Setting<T>> {
        [self.flag, self.env, self.metadata, self.profile]
            .into_iter()
            .flatten()
            .next()
            .map(|(value, origin)| Setting { value, origin })
            .or_else(|| self.default.map(|v| Setting::new(v, Origin::Default)))
    }
}

/// A boolean env var as cargo spells them: 1/true/yes and 0/false/no.
/// Anything else is an error rather than a silent false.
pub fn env_bool(env: &dyn Env, name: &str) -> Result<Option<bool>, crate::error::Error> {
    match env.var(name) {
        None => Ok(None),
        Some(v) => match v.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(Some(true)),
            "0" | "false" | "no" | "off" => Ok(Some(false)),
            _ => Err(crate::error::Error::Usage {
                message: format!("{name}=`{v}` is not a boolean"),
                hint: format!("set {name} to 1 or 0 (true/false), or unset it"),
            }),
        },
    }
}

/// A path as written on the command line or in the env: relative to the
/// current dir.
pub fn from_cwd(p: PathBuf) -> PathBuf {
    if p.is_absolute() {
        p
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    }
}

/// A path written in package metadata: relative to the manifest's dir, as
/// cargo itself reads paths in Cargo.toml.
pub fn from_manifest(manifest: Option<&Path>, p: PathBuf) -> PathBuf {
    match manifest {
        Some(m) if !p.is_absolute() => crate::fsutil::parent_dir(m).join(p),
        _ => p,
    }
}

/// The keyring that signs a mirror's InRelease: `--keyring`, else
/// `EBPF_CROSS_DEBIAN_KEYRING`, else none (Debian's embedded keys). Here
/// rather than in `resolve.rs` because the fetcher, below the resolver,
/// needs it for every download.
pub fn keyring(flag: Option<PathBuf>, env: &dyn Env) -> Option<Setting<PathBuf>> {
    Layers::new()
        .flag("--keyring", flag.map(from_cwd))
        .env(
            "EBPF_CROSS_DEBIAN_KEYRING",
            env.var("EBPF_CROSS_DEBIAN_KEYRING")
                .map(|v| from_cwd(v.into())),
        )
        .resolve()
}

// Settings that only the environment sets, read deep in the pipeline. Each
// is resolved here, with its origin, so `config` shows what the code that
// uses it sees.

fn env_or<T>(
    env: &dyn Env,
    var: &str,
    parse: impl Fn(&str) -> Option<T>,
    default: T,
) -> Setting<T> {
    match env.var(var).and_then(|v| parse(v.trim())) {
        Some(v) => Setting::new(v, Origin::Env(var.to_string())),
        None => Setting::new(default, Origin::Default),
    }
}

/// The variable a build system sets for extra BPF clang flags.
/// (EBPF_CROSS_CFLAGS is the name `flags --format make` prints.)
pub const BPF_CFLAGS_ENV: &str = "EBPF_CROSS_BPF_CFLAGS";

/// Extra clang flags for every BPF compile, split like a shell word list
/// so a quoted path with spaces stays one flag.
pub fn bpf_cflags(env: &dyn Env) -> Setting<Vec<String>> {
    env_or(
        env,
        BPF_CFLAGS_ENV,
        |v| Some(crate::loader_build::split_command(v)),
        Vec::new(),
    )
}

/// The tool's cache (probed tools, staged helpers, flags, reference
/// kernels): `EBPF_CROSS_CACHE_DIR`, else `$XDG_CACHE_HOME/ebpf-cross`,
/// else `$HOME/.cache/ebpf-cross`.
pub fn cache_dir(env: &dyn Env) -> Option<Setting<PathBuf>> {
    let at = |var: &str, sub: &str| {
        env.var(var)
            .map(|v| Setting::new(PathBuf::from(v).join(sub), Origin::Env(var.to_string())))
    };
    env.var("EBPF_CROSS_CACHE_DIR")
        .map(|v| Setting::new(PathBuf::from(v), Origin::Env("EBPF_CROSS_CACHE_DIR".into())))
        .or_else(|| at("XDG_CACHE_HOME", "ebpf-cross"))
        .or_else(|| at("HOME", ".cache/ebpf-cross"))
}

/// Seconds a download may go without a byte before it counts as stalled.
pub fn stall_timeout(env: &dyn Env) -> Setting<u64> {
    env_or(
        env,
        "EBPF_CROSS_STALL_TIMEOUT",
        |v| v.parse().ok().filter(|&s| s > 0),
        30,
    )
}

// Plain http: every file is checked against the signed InRelease, and a
// host without CA certificates (a build container) still fetches.
pub const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";
pub const DEFAULT_SECURITY_MIRROR: &str = "http://deb.debian.org/debian-security";

fn url(s: &str) -> Option<String> {
    Some(s.trim_end_matches('/').to_string())
}

/// The Debian mirror reference kernels come from.
pub fn debian_mirror(env: &dyn Env) -> Setting<String> {
    env_or(env, "EBPF_CROSS_DEBIAN_MIRROR", url, DEFAULT_MIRROR.into())
}

/// The security archive follows the main mirror's host when only that is
/// set (`.../debian` → `.../debian-security`), which is how deb.debian.org
/// and most mirrors lay them out.
pub fn debian_security_mirror(env: &dyn Env) -> Setting<String> {
    let main = debian_mirror(env);
    let derived = match main.origin {
        Origin::Default => Setting::new(DEFAULT_SECURITY_MIRROR.into(), Origin::Default),
        origin => Setting::new(format!("{}-security", main.value), origin),
    };
    match env
        .var("EBPF_CROSS_DEBIAN_SECURITY_MIRROR")
        .and_then(|v| url(&v))
    {
        Some(v) => Setting::new(v, Origin::Env("EBPF_CROSS_DEBIAN_SECURITY_MIRROR".into())),
        None => derived,
    }
}

/// Whether helper headers from outside the kernel tree (the host's
/// libbpf-dev, a cached copy) may be used; Yocto and other hermetic builds
/// set `EBPF_CROSS_HOST_LIBBPF=0`, for which they are contamination.
pub fn host_libbpf(env: &dyn Env) -> Setting<bool> {
    env_or(env, "EBPF_CROSS_HOST_LIBBPF", |v| Some(v != "0"), true)
}

/// The bundle's file times: `SOURCE_DATE_EPOCH` when it is a number, else 0.
pub fn source_date_epoch(env: &dyn Env) -> Setting<u64> {
    env_or(env, "SOURCE_DATE_EPOCH", |v| v.parse().ok(), 0)
}

/// Cargo's own offline switch, which counts for reference kernels too.
pub fn cargo_net_offline(env: &dyn Env) -> Setting<bool> {
    env_or(
        env,
        "CARGO_NET_OFFLINE",
        |v| Some(v == "true" || v == "1"),
        false,
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

    /// Every combination of layers present, with the one that must win.
    #[test]
    fn the_highest_present_layer_wins_in_every_combination() {
        let manifest = Path::new("/p/Cargo.toml");
        for mask in 0u8..32 {
            let has = |bit: u8| mask & (1 << bit) != 0;
            let l = Layers::new()
                .flag("--x", has(0).then_some("flag"))
                .env("X", has(1).then_some("env"))
                .metadata(Some(manifest), has(2).then_some("meta"))
                .profile("armv7", has(3).then_some("profile"));
            let l = if has(4) {
                l.default_value("default")
            } else {
                l
            };
            let want = if has(0) {
                Some(("flag", Origin::Flag("--x".into())))
            } else if has(1) {
                Some(("env", Origin::Env("X".into())))
            } else if has(2) {
                Some(("meta", Origin::Metadata(manifest.into())))
            } else if has(3) {
                Some(("profile", Origin::Profile("armv7".into())))
            } else if has(4) {
                Some(("default", Origin::Default))
            } else {
                None
            };
            let got = l.resolve().map(|s| (s.value, s.origin));
            assert_eq!(got, want, "layers present: {mask:05b}");
        }
    }

    #[test]
    fn a_lower_layer_can_turn_a_bool_off() {
        // Metadata `static = false` beats a profile's `static = true`: the
        // value wins, not the OR of the two.
        let s = Layers::new()
            .metadata(None, Some(false))
            .profile("armv7", Some(true))
            .default_value(false)
            .resolve()
            .unwrap();
        assert!(!s.value);
        assert_eq!(s.origin, Origin::Metadata(PathBuf::new()));
    }

    #[test]
    fn origins_read_as_places_to_change() {
        assert_eq!(
            Origin::Flag("--kernel-src".into()).to_string(),
            "--kernel-src"
        );
        assert_eq!(
            Origin::Env("EBPF_CROSS_STATIC".into()).to_string(),
            "env EBPF_CROSS_STATIC"
        );
        assert_eq!(
            Origin::Metadata("/p/Cargo.toml".into()).to_string(),
            "[package.metadata.ebpf-cross] in /p/Cargo.toml"
        );
        assert_eq!(
            Origin::Profile("boards/b.toml".into()).to_string(),
            "profile boards/b.toml"
        );
    }

    #[test]
    fn env_bools() {
        let env = MapEnv(HashMap::from([("A", "1"), ("B", "false"), ("C", "maybe")]));
        assert_eq!(env_bool(&env, "A").unwrap(), Some(true));
        assert_eq!(env_bool(&env, "B").unwrap(), Some(false));
        assert_eq!(env_bool(&env, "D").unwrap(), None);
        let e = env_bool(&env, "C").unwrap_err();
        assert_eq!(e.to_string(), "C=`maybe` is not a boolean");
    }

    #[test]
    fn metadata_paths_are_relative_to_the_manifest() {
        assert_eq!(
            from_manifest(Some(Path::new("/w/pkg/Cargo.toml")), "../linux".into()),
            PathBuf::from("/w/pkg/../linux")
        );
        assert_eq!(
            from_manifest(Some(Path::new("/w/pkg/Cargo.toml")), "/abs".into()),
            PathBuf::from("/abs")
        );
    }
}
