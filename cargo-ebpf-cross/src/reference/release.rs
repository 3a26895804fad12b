//! Debian releases that serve reference kernels (the shared data file
//! `targets/reference/debian.toml`), and where each suite's mirror is.

use serde::Deserialize;

use crate::error::{Error, Result};

const RELEASES_TOML: &str = include_str!("../../targets/reference/debian.toml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MirrorKind {
    Debian,
    Security,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    pub suite: String,
    pub mirror: MirrorKind,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// The kernel series, which is also how users name the release: `6.1`.
    pub series: String,
    pub codename: String,
    pub suites: Vec<Suite>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleasesFile {
    release: Vec<Release>,
}

pub fn all() -> Vec<Release> {
    toml::from_str::<ReleasesFile>(RELEASES_TOML)
        .expect("targets/reference/debian.toml is checked by a unit test")
        .release
}

/// A release by its series (`6.1`) or codename (`bookworm`).
pub fn find(name: &str) -> Result<Release> {
    let all = all();
    all.iter()
        .find(|r| r.series == name || r.codename == name)
        .cloned()
        .ok_or_else(|| Error::UnknownRelease {
            given: name.to_string(),
            known: all
                .iter()
                .map(|r| format!("debian:{} ({})", r.series, r.codename))
                .collect(),
        })
}

/// The base URL of a suite's archive (`settings::debian_mirror`).
pub fn mirror_url(kind: MirrorKind) -> String {
    let env = &crate::env::ProcessEnv;
    match kind {
        MirrorKind::Debian => crate::settings::debian_mirror(env).value,
        MirrorKind::Security => crate::settings::debian_security_mirror(env).value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_file_parses_and_names_security_suites() {
        let all = all();
        let names: Vec<_> = all.iter().map(|r| r.series.as_str()).collect();
        assert_eq!(names, ["5.10", "6.1", "6.12"]);
        let b = find("bookworm").unwrap();
        assert_eq!(b.series, "6.1");
        assert_eq!(
            b.suites,
            vec![
                Suite {
                    suite: "bookworm".into(),
                    mirror: MirrorKind::Debian
                },
                Suite {
                    suite: "bookworm-security".into(),
                    mirror: MirrorKind::Security
                },
            ]
        );
    }

    #[test]
    fn unknown_release_lists_the_known_ones() {
        let e = find("4.19").unwrap_err();
        assert_eq!(
            e.to_string(),
            "no Debian release `4.19` serves reference kernels"
        );
        assert_eq!(
            e.hint(),
            "known releases: debian:5.10 (bullseye), debian:6.1 (bookworm), debian:6.12 (trixie)"
        );
    }
}
