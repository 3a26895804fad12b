//! The BTF a CO-RE bundle carries for kernels that have none of their own:
//! the target kernel's full BTF (megabytes) cut down to the types the
//! bundle's objects relocate against (`bpftool gen min_core_btf`), keyed by
//! the kernel's whole identity. The loader matches it against `uname -r`
//! and `uname -v` on the board: two vendor builds of one release can lay
//! out `task_struct` differently, so the release alone is not enough.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{read_err, Error, Result};
use crate::plan::Cmd;

/// The index the loader reads: `<file>\t<release>\t<version>` per line.
pub const INDEX: &str = "btf/kernels";

/// A minimal BTF in a bundle, as its manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BtfEntry {
    /// Relative to the bundle's top dir.
    pub path: String,
    pub size: u64,
    pub sha256: String,
    /// UTS_RELEASE, as `uname -r` prints it.
    pub kernel_release: String,
    /// The build string (`#1 SMP PREEMPT <date>`), as `uname -v` prints it
    /// and `/proc/version` ends.
    pub kernel_version: String,
}

/// A kernel's identity: release and build string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub release: String,
    pub version: String,
}

/// The identity in a kernel's `linux_banner`
/// (`Linux version <release> (<who>) (<compiler>) <version>`), found in an
/// uncompressed vmlinux or Image; gzip'd images are read through.
pub fn identity_of(path: &Path) -> Result<Identity> {
    let kept = identity_path(path);
    if let Ok(text) = std::fs::read_to_string(&kept) {
        if let Some((release, version)) = text.trim_end_matches('\n').split_once('\t') {
            return Ok(Identity {
                release: release.into(),
                version: version.into(),
            });
        }
    }
    let raw = std::fs::read(path).map_err(read_err(path))?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(read_err(path))?;
        out
    } else {
        raw
    };
    elf_banner_identity(&bytes)
        .or_else(|| banner_identity(&bytes))
        .ok_or_else(|| Error::NoBtf {
        vmlinux: path.to_path_buf(),
        problem: "no `Linux version ...` banner in it, so the kernel it belongs to is unknown".into(),
        hint: "name the kernel's vmlinux (not a bare .btf file) as the BTF source, so the bundle's BTF can be matched with the running kernel".into(),
    })
}

/// Where the identity of a kernel whose banner cannot be read from `image`
/// (compressed in a zImage) is kept: `<release>\t<version>`.
pub fn identity_path(image: &Path) -> PathBuf {
    let mut name = image
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".identity");
    image.with_file_name(name)
}

/// The banner the `linux_banner` symbol of an ELF vmlinux points at. From
/// 6.0 a vmlinux holds two banners: a `__weak` one built early with an
/// empty build number (`# SMP ...`), and the real one linked last, which
/// the symbol names.
pub fn elf_banner_identity(bytes: &[u8]) -> Option<Identity> {
    use object::{Object, ObjectSection, ObjectSymbol};
    let file = object::File::parse(bytes).ok()?;
    let sym = file.symbols().find(|s| s.name() == Ok("linux_banner"))?;
    let section = file.section_by_index(sym.section_index()?).ok()?;
    let data = section.data().ok()?;
    let at = usize::try_from(sym.address().checked_sub(section.address())?).ok()?;
    let mut banner = data.get(at..)?.to_vec();
    // banner_identity looks for the tag; the symbol's bytes start with it.
    banner.truncate(banner.iter().position(|&c| c == 0).unwrap_or(banner.len()));
    banner.push(b'\n');
    banner_identity(&banner)
}

/// The first well-formed banner: a release that starts with a digit, and
/// a build string after the compiler's closing parenthesis that starts
/// with `#` (UTS_VERSION always does).
pub fn banner_identity(bytes: &[u8]) -> Option<Identity> {
    const TAG: &[u8] = b"Linux version ";
    let mut at = 0;
    while let Some(k) = find(&bytes[at..], TAG) {
        let start = at + k + TAG.len();
        at = start;
        let line_end = bytes[start..]
            .iter()
            .position(|&c| c == b'\n' || c == 0)
            .map(|e| start + e)?;
        let Ok(line) = std::str::from_utf8(&bytes[start..line_end]) else {
            continue;
        };
        let Some((release, _)) = line.split_once(' ') else {
            continue;
        };
        if !release.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        if let Some(k) = line.rfind(") #") {
            return Some(Identity {
                release: release.to_string(),
                version: line[k + 2..].to_string(),
            });
        }
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The bpftool run that reduces `full` to what `objects` relocate against.
pub fn min_plan(full: &Path, out: &Path, objects: &[PathBuf]) -> Cmd {
    let mut c = Cmd::new("bpftool")
        .args(["gen", "min_core_btf"])
        .arg(full.display().to_string())
        .arg(out.display().to_string());
    for o in objects {
        c = c.arg(o.display().to_string());
    }
    c
}

/// The minimal BTF of `full` for `objects`, read back after bpftool wrote
/// it to a private temp dir.
pub fn minimal(full: &Path, objects: &[PathBuf], scratch: &Path) -> Result<Vec<u8>> {
    let dir = crate::fsutil::TempDir::new_in(scratch, ".min-btf.")?;
    let out = dir.path().join("min.btf");
    min_plan(full, &out, objects).output()?;
    let bytes = std::fs::read(&out).map_err(read_err(&out))?;
    if crate::btf_blob::find(&bytes).map(<[u8]>::len) != Some(bytes.len()) {
        return Err(Error::BadOutput {
            path: out,
            problem: "bpftool gen min_core_btf wrote no whole BTF blob".into(),
        });
    }
    Ok(bytes)
}

/// The bundle path of a kernel's minimal BTF: its release, and a short hash
/// of its build string so two builds of one release do not collide.
pub fn bundle_path(id: &Identity) -> String {
    let h = crate::fsutil::sha256_hex(id.version.as_bytes());
    format!("btf/{}-{}.btf", id.release, &h[..12])
}

/// The loader's index for `entries`.
pub fn index(entries: &[BtfEntry]) -> String {
    entries
        .iter()
        .map(|e| {
            format!(
                "{}\t{}\t{}\n",
                e.path.trim_start_matches("btf/"),
                e.kernel_release,
                e.kernel_version
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_banner() {
        let img = b"\0\0Linux version %s (%s)\n\0Linux version 4.19.131 (root@vm) (gcc version 12.2.0 (Debian 12.2.0-14)) #1 SMP Fri Dec 4 14:05:46 UTC 2026\n\0rest";
        assert_eq!(
            banner_identity(img),
            Some(Identity {
                release: "4.19.131".into(),
                version: "#1 SMP Fri Dec 4 14:05:46 UTC 2026".into()
            })
        );
        assert_eq!(banner_identity(b"no banner"), None);
    }

    #[test]
    fn index_lines() {
        let e = BtfEntry {
            path: "btf/4.19.131-abc.btf".into(),
            size: 1,
            sha256: "x".into(),
            kernel_release: "4.19.131".into(),
            kernel_version: "#1 SMP".into(),
        };
        assert_eq!(index(&[e]), "4.19.131-abc.btf\t4.19.131\t#1 SMP\n");
    }
}
