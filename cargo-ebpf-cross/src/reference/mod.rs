//! Reference kernels: Debian's real kernels (split header tree, image,
//! busybox-static, libbpf headers) for a profile, fetched from the archive,
//! verified against its signed index, and cached, so a build or a QEMU run
//! needs no kernel tree of the user's own.
//!
//! Read in this order: `release` (which releases exist), this file (what a
//! profile wants), `cache` (what is here already), then, with the `fetch`
//! feature, `fetch` (one kernel end to end) over `archive` (signed
//! indexes, downloads) and `deb` (unpacking).

pub mod cache;
pub mod release;

#[cfg(feature = "fetch")]
pub mod archive;
#[cfg(feature = "fetch")]
pub mod deb;
#[cfg(feature = "fetch")]
pub mod fetch;
#[cfg(feature = "fetch")]
pub mod index;
#[cfg(feature = "fetch")]
mod progress;

use crate::error::{Error, Result};
use crate::profile::Profile;

pub use crate::profile::{DebianKernel, ReferenceSection};
pub use cache::{Cache, Record};

/// `debian:RELEASE[@ABI]`, as the user writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub release: String,
    pub abi: Option<String>,
}

impl Spec {
    pub fn parse(s: &str) -> Result<Spec> {
        let bad = || Error::BadKernelSpec(s.to_string());
        let rest = s.strip_prefix("debian:").ok_or_else(bad)?;
        let (release, abi) = match rest.split_once('@') {
            Some((r, a)) => (r, Some(a)),
            None => (rest, None),
        };
        let ok = |x: &str| {
            !x.is_empty()
                && x.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".+-~".contains(c))
        };
        if !ok(release) || abi.is_some_and(|a| !ok(a)) {
            return Err(bad());
        }
        Ok(Spec {
            release: release.to_string(),
            abi: abi.map(str::to_string),
        })
    }
}

impl std::fmt::Display for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "debian:{}", self.release)?;
        if let Some(a) = &self.abi {
            write!(f, "@{a}")?;
        }
        Ok(())
    }
}

/// One reference kernel of one profile: what to look up in the cache, or
/// fetch.
#[derive(Debug, Clone, PartialEq)]
pub struct Wanted {
    pub profile: String,
    pub release: release::Release,
    pub abi: Option<String>,
    pub arch: String,
    pub flavour: String,
}

impl Wanted {
    /// The cache entry's name. A pinned ABI is its own entry, so pinning
    /// never replaces the newest one.
    pub fn key(&self) -> String {
        let pin = self
            .abi
            .as_ref()
            .map(|a| format!("@{a}"))
            .unwrap_or_default();
        format!(
            "debian-{}{pin}-{}-{}",
            self.release.series, self.arch, self.flavour
        )
    }

    pub fn spec(&self) -> Spec {
        Spec {
            release: self.release.series.clone(),
            abi: self.abi.clone(),
        }
    }

    /// `debian:6.1 (bookworm, armhf armmp)`
    pub fn describe(&self) -> String {
        format!(
            "{} ({}, {} {})",
            self.spec(),
            self.release.codename,
            self.arch,
            self.flavour
        )
    }

    /// The command that fetches it, for hints.
    pub fn fetch_command(&self) -> String {
        format!(
            "cargo ebpf-cross kernel fetch --target {} --kernel {}",
            self.profile,
            self.spec()
        )
    }
}

fn available(profile: &Profile) -> Vec<String> {
    profile
        .reference
        .as_ref()
        .map(|r| {
            r.debian
                .iter()
                .map(|k| format!("debian:{} ({} {})", k.release, k.arch, k.flavour))
                .collect()
        })
        .unwrap_or_default()
}

/// What `spec` means for `profile`: refused with the list of what exists
/// when the release is unknown or the profile's arch is not in it.
pub fn wanted(profile: &Profile, spec: &Spec) -> Result<Wanted> {
    let release = release::find(&spec.release)?;
    let entry = profile
        .reference
        .as_ref()
        .and_then(|r| r.debian.iter().find(|k| k.release == release.series));
    let Some(entry) = entry else {
        let available = available(profile);
        let message = if available.is_empty() {
            format!("profile `{}` has no reference kernel", profile.name)
        } else {
            format!(
                "profile `{}` has no reference kernel in debian:{} ({})",
                profile.name, release.series, release.codename
            )
        };
        return Err(Error::NoReference { message, available });
    };
    Ok(Wanted {
        profile: profile.name.clone(),
        release,
        abi: spec.abi.clone(),
        arch: entry.arch.clone(),
        flavour: entry.flavour.clone(),
    })
}

/// Every reference kernel a profile names, in its table's order.
pub fn all_wanted(profile: &Profile) -> Vec<Wanted> {
    profile
        .reference
        .iter()
        .flat_map(|r| r.debian.iter())
        .filter_map(|k| {
            wanted(
                profile,
                &Spec {
                    release: k.release.clone(),
                    abi: None,
                },
            )
            .ok()
        })
        .collect()
}

/// The profile's default reference kernel, if it has one.
pub fn default_spec(profile: &Profile) -> Option<Result<Spec>> {
    profile
        .reference
        .as_ref()
        .and_then(|r| r.default.as_deref())
        .map(Spec::parse)
}

/// May this command download?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Fetch what is not cached.
    Fetch,
    /// `--offline` / CARGO_NET_OFFLINE: the cache or an error.
    Offline,
    /// doctor, flags and `--dry-run` only report.
    Report,
}

impl Policy {
    /// Cargo's own switch counts, so `CARGO_NET_OFFLINE=true` works as it
    /// does for the loader's build.
    pub fn for_build(offline_flag: bool, dry_run: bool) -> Policy {
        let env_offline = crate::settings::cargo_net_offline(&crate::env::ProcessEnv).value;
        if dry_run {
            Policy::Report
        } else if offline_flag || env_offline {
            Policy::Offline
        } else {
            Policy::Fetch
        }
    }
}

/// The cached kernel, fetched first when the policy allows it.
pub fn obtain(w: &Wanted, policy: Policy) -> Result<Record> {
    let cache = Cache::open()?;
    if let Some(r) = cache.lookup(&w.key())? {
        return Ok(r);
    }
    match policy {
        Policy::Fetch => fetch_into(&cache, w, false, None),
        Policy::Offline => Err(Error::ReferenceNotCached {
            what: w.describe(),
            why: " and the network is off (--offline or CARGO_NET_OFFLINE)".into(),
            fetch: w.fetch_command(),
        }),
        Policy::Report => Err(Error::ReferenceNotCached {
            what: w.describe(),
            why: "; this command does not download".into(),
            fetch: w.fetch_command(),
        }),
    }
}

/// Fetches into the cache (again, with `refresh`).
/// `keyring` replaces Debian's embedded keys (a private mirror's).
pub fn fetch_into(
    cache: &Cache,
    w: &Wanted,
    refresh: bool,
    keyring: Option<&std::path::Path>,
) -> Result<Record> {
    #[cfg(feature = "fetch")]
    {
        fetch::fetch(cache, w, refresh, keyring)
    }
    #[cfg(not(feature = "fetch"))]
    {
        let _ = (cache, refresh, keyring);
        Err(Error::Fetch {
            message: format!(
                "reference kernel {} is not cached, and this cargo-ebpf-cross was built without the `fetch` feature",
                w.describe()
            ),
            hint: "build the tool with default features to download it (`cargo install cargo-ebpf-cross`), copy a cache made elsewhere into EBPF_CROSS_CACHE_DIR, or pass your board's tree with --kernel-src DIR (and --kernel-build DIR)".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_parses_release_and_pin() {
        assert_eq!(
            Spec::parse("debian:6.1").unwrap(),
            Spec {
                release: "6.1".into(),
                abi: None
            }
        );
        let pinned = Spec::parse("debian:6.1@6.1.0-50").unwrap();
        assert_eq!(pinned.abi.as_deref(), Some("6.1.0-50"));
        assert_eq!(pinned.to_string(), "debian:6.1@6.1.0-50");
        for bad in [
            "6.1",
            "debian:",
            "debian:6.1@",
            "ubuntu:22.04",
            "debian:../x",
        ] {
            let e = Spec::parse(bad).unwrap_err();
            assert_eq!(e.to_string(), format!("`{bad}` is not a reference kernel"));
        }
    }

    #[test]
    fn profiles_name_their_kernels_from_the_table() {
        let armv7 = Profile::load("armv7").unwrap();
        let w = wanted(&armv7, &Spec::parse("debian:6.1").unwrap()).unwrap();
        assert_eq!(w.key(), "debian-6.1-armhf-armmp");
        assert_eq!(w.describe(), "debian:6.1 (bookworm, armhf armmp)");
        let w = wanted(&armv7, &Spec::parse("debian:trixie@6.12.57+deb13").unwrap()).unwrap();
        assert_eq!(w.key(), "debian-6.12@6.12.57+deb13-armhf-armmp");
        assert_eq!(
            default_spec(&armv7).unwrap().unwrap(),
            Spec::parse("debian:6.1").unwrap()
        );
    }

    #[test]
    fn missing_arch_or_release_lists_what_exists() {
        let rv = Profile::load("riscv64").unwrap();
        let e = wanted(&rv, &Spec::parse("debian:5.10").unwrap()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "profile `riscv64` has no reference kernel in debian:5.10 (bullseye)"
        );
        assert_eq!(
            e.hint(),
            "this profile has: debian:6.12 (riscv64 riscv64); or pass your board's tree with --kernel-src"
        );
        let mips = Profile::load("mips").unwrap();
        let e = wanted(&mips, &Spec::parse("debian:6.1").unwrap()).unwrap_err();
        assert_eq!(e.to_string(), "profile `mips` has no reference kernel");
        assert!(default_spec(&mips).is_none());
        assert!(default_spec(&Profile::load("armv6").unwrap()).is_none());
    }
}
