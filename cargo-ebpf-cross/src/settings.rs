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
