//! Kernel versions, and the version rules that change what we emit (the
//! arm32 PT_REGS macros arrived in 5.2, the helper headers moved to
//! tools/lib/bpf in 5.5; see docs/helpers-and-modes.md).

use std::fmt;

use crate::error::{Error, Result};

/// `X.Y[.Z]`; `patch` is None when the user gave only `X.Y`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: Option<u32>,
}

impl KernelVersion {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        KernelVersion {
            major,
            minor,
            patch: Some(patch),
        }
    }

    /// Accepts `6.1`, `6.1.176`, and release strings like `6.1.0-50-armmp`
    /// or `4.19.94-ti-r42` (the suffix is dropped).
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || Error::BadVersion(s.to_string());
        let core = s
            .trim()
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .next()
            .unwrap_or("");
        let mut it = core.split('.').filter(|p| !p.is_empty());
        let major = it.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        let minor = it.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        let patch = match it.next() {
            Some(p) => Some(p.parse().map_err(|_| bad())?),
            None => None,
        };
        if it.next().is_some() || major == 0 || major > 255 || minor > 255 {
            return Err(bad());
        }
        Ok(KernelVersion {
            major,
            minor,
            patch,
        })
    }

    /// LINUX_VERSION_CODE, with the sublevel clamped to 255 as the kernel's
    /// own KERNEL_VERSION() does since 4.9.256 / 4.14.212.
    pub fn code(&self) -> u32 {
        (self.major << 16) | (self.minor << 8) | self.patch.unwrap_or(0).min(255)
    }

    pub fn from_code(code: u32) -> Self {
        KernelVersion::new(code >> 16, (code >> 8) & 0xff, code & 0xff)
    }

    /// Is the kernel at least `major.minor`?
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }

    /// Does a user-given version (maybe without patch) agree with this one?
    pub fn agrees_with(&self, given: &KernelVersion) -> bool {
        self.major == given.major
            && self.minor == given.minor
            && match (self.patch, given.patch) {
                (Some(a), Some(b)) => a == b || (a == 255 && b > 255) || (b == 255 && a > 255),
                _ => true,
            }
    }
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.patch {
            Some(p) => write!(f, "{}.{}.{}", self.major, self.minor, p),
            None => write!(f, "{}.{}", self.major, self.minor),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_forms() {
        assert_eq!(
            KernelVersion::parse("6.1.176").unwrap(),
            KernelVersion::new(6, 1, 176)
        );
        assert_eq!(KernelVersion::parse("4.19").unwrap().patch, None);
        assert_eq!(
            KernelVersion::parse("6.1.0-50-armmp").unwrap(),
            KernelVersion::new(6, 1, 0)
        );
        assert_eq!(
            KernelVersion::parse("4.19.94-ti-r42").unwrap(),
            KernelVersion::new(4, 19, 94)
        );
    }

    #[test]
    fn rejects_junk() {
        for s in ["", "six", "6", "6.x", "6.1.2.3", "0.1", "4.300"] {
            let e = KernelVersion::parse(s).unwrap_err();
            assert_eq!(e.to_string(), format!("`{s}` is not a kernel version"));
        }
    }

    #[test]
    fn code_clamps_sublevel() {
        assert_eq!(KernelVersion::new(6, 1, 176).code(), 393_648);
        assert_eq!(
            KernelVersion::new(4, 19, 300).code(),
            (4 << 16) | (19 << 8) | 255
        );
        assert_eq!(
            KernelVersion::from_code(267_102),
            KernelVersion::new(4, 19, 94)
        );
    }

    #[test]
    fn agreement() {
        let tree = KernelVersion::new(6, 1, 176);
        assert!(tree.agrees_with(&KernelVersion::parse("6.1").unwrap()));
        assert!(!tree.agrees_with(&KernelVersion::parse("6.1.170").unwrap()));
        assert!(!tree.agrees_with(&KernelVersion::parse("5.10").unwrap()));
    }
}
