//! The deployable bundle: one reproducible tar.gz per board holding the
//! loader, the BPF objects and a manifest, with a SHA256SUMS beside it.
//!
//! Reproducible means: sorted entries, fixed owner and modes, mtime from
//! SOURCE_DATE_EPOCH (else 0), and no timestamp or name in the gzip header.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{read_err, write_err, Error, Result};
use crate::fsutil;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative to the bundle's top dir.
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub tool: String,
    pub tool_version: String,
    pub package: String,
    pub package_version: String,
    pub target: String,
    pub base_target: String,
    /// Kernel SRCARCH.
    pub arch: String,
    pub rust_target: String,
    pub clang_target: String,
    pub endian: String,
    pub kernel_version: Option<String>,
    /// The reference kernel built against (`debian:6.1 6.1.0-50 armhf
    /// armmp`), when the tree was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_kernel: Option<String>,
    pub llvm_version: String,
    /// `bin/<loader>`.
    pub loader: String,
    pub objects: Vec<String>,
    pub files: Vec<FileEntry>,
}

/// What goes in: (path inside the bundle, bytes, executable).
pub struct Content {
    pub path: String,
    pub bytes: Vec<u8>,
    pub executable: bool,
}

pub fn top_dir(package: &str, version: &str, target: &str) -> String {
    format!("{package}-{version}-{target}")
}

/// `SOURCE_DATE_EPOCH` when it is a number, else 0.
pub fn mtime() -> u64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn header(
    path: &str,
    size: u64,
    mode: u32,
    kind: tar::EntryType,
    mtime: u64,
) -> Result<tar::Header> {
    let mut h = tar::Header::new_ustar();
    h.set_path(path).map_err(|e| Error::BadOutput {
        path: PathBuf::from(path),
        problem: format!("cannot be stored in a tar: {e}"),
    })?;
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h.set_entry_type(kind);
    // Empty names keep the host's user out of the archive.
    let _ = h.set_username("");
    let _ = h.set_groupname("");
    h.set_cksum();
    Ok(h)
}

/// Builds the tar.gz bytes in memory (bundles are small) so the file on
/// disk is written once, atomically.
pub fn tarball(top: &str, contents: &[Content], mtime: u64) -> Result<Vec<u8>> {
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::best());
    let mut b = tar::Builder::new(gz);
    for c in contents {
        if c.path.starts_with('/') || c.path.split('/').any(|p| p == ".." || p.is_empty()) {
            return Err(Error::BadOutput {
                path: PathBuf::from(&c.path),
                problem: "bundle entries must be relative paths".into(),
            });
        }
    }
    let mut items: Vec<&Content> = contents.iter().collect();
    items.sort_by(|a, b| a.path.cmp(&b.path));
    let mut dirs: Vec<String> = vec![format!("{top}/")];
    for c in &items {
        let mut acc = top.to_string();
        let parts: Vec<&str> = c.path.split('/').collect();
        for p in &parts[..parts.len() - 1] {
            acc = format!("{acc}/{p}");
            let d = format!("{acc}/");
            if !dirs.contains(&d) {
                dirs.push(d);
            }
        }
    }
    dirs.sort();
    let io = |e: std::io::Error| Error::Write {
        path: PathBuf::from(top),
        source: e,
    };
    for d in &dirs {
        let h = header(d, 0, 0o755, tar::EntryType::Directory, mtime)?;
        b.append(&h, std::io::empty()).map_err(io)?;
    }
    for c in items {
        let mode = if c.executable { 0o755 } else { 0o644 };
        let h = header(
            &format!("{top}/{}", c.path),
            c.bytes.len() as u64,
            mode,
            tar::EntryType::Regular,
            mtime,
        )?;
        b.append(&h, c.bytes.as_slice()).map_err(io)?;
    }
    let gz = b.into_inner().map_err(io)?;
    gz.finish().map_err(io)
}

pub fn file_entry(path: &str, bytes: &[u8]) -> FileEntry {
    FileEntry {
        path: path.to_string(),
        size: bytes.len() as u64,
        sha256: fsutil::sha256_hex(bytes),
    }
}

/// Where `build` puts one target's bundle, SHA256SUMS and objects.
pub fn dir(target_dir: &Path, target: &str) -> PathBuf {
    target_dir.join("ebpf-cross").join(target)
}

pub fn tarball_path(dir: &Path, top: &str) -> PathBuf {
    dir.join(format!("{top}.tar.gz"))
}

/// Writes `<dir>/<top>.tar.gz` and `<dir>/SHA256SUMS` (updating this
/// tarball's line). Returns the tarball path and its sha256.
pub fn write(
    dir: &Path,
    top: &str,
    manifest: &Manifest,
    mut contents: Vec<Content>,
) -> Result<(PathBuf, String)> {
    let mj = serde_json::to_vec_pretty(manifest).expect("plain data");
    contents.push(Content {
        path: "manifest.json".into(),
        bytes: mj,
        executable: false,
    });
    let bytes = tarball(top, &contents, mtime())?;
    std::fs::create_dir_all(dir).map_err(write_err(dir))?;
    let path = tarball_path(dir, top);
    let name = path
        .file_name()
        .expect("a tarball name")
        .to_string_lossy()
        .into_owned();
    fsutil::write_atomic(&path, &bytes)?;
    let sha = fsutil::sha256_hex(&bytes);
    let sums_path = dir.join("SHA256SUMS");
    let mut lines: Vec<String> = std::fs::read_to_string(&sums_path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.ends_with(&format!("  {name}")))
        .map(str::to_string)
        .collect();
    lines.push(format!("{sha}  {name}"));
    lines.sort_by(|a, b| {
        a.split_once("  ")
            .map(|x| x.1)
            .cmp(&b.split_once("  ").map(|x| x.1))
    });
    let mut text = Vec::new();
    for l in lines {
        writeln!(text, "{l}").expect("vec write");
    }
    fsutil::write_atomic(&sums_path, &text)?;
    Ok((path, sha))
}

/// A file read back from a bundle: path inside the top dir, bytes, mode.
pub type BundleFile = (String, Vec<u8>, u32);

/// Reads a bundle back: its top dir and its files (modes masked to the
/// permission bits). Bundles hold only files and dirs under one top dir;
/// anything else is refused, since it has no place on a board.
pub fn read(path: &Path) -> Result<(String, Vec<BundleFile>)> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(read_err(path))?;
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(f));
    let mut top = None;
    let mut files = Vec::new();
    let bad = |problem: String| Error::BadOutput {
        path: path.to_path_buf(),
        problem,
    };
    for e in ar.entries().map_err(read_err(path))? {
        let mut e = e.map_err(read_err(path))?;
        let p = e
            .path()
            .map_err(read_err(path))?
            .to_string_lossy()
            .into_owned();
        if p.starts_with('/') || p.split('/').any(|c| c == "..") {
            return Err(bad(format!("entry `{p}` is not a relative path")));
        }
        let name = p.trim_start_matches("./").trim_end_matches('/');
        if name.is_empty() {
            continue;
        }
        let (t, rest) = name.split_once('/').unwrap_or((name, ""));
        match &top {
            None => top = Some(t.to_string()),
            Some(x) if x != t => {
                return Err(bad(format!(
                    "it has more than one top directory (`{x}` and `{t}`)"
                )))
            }
            _ => {}
        }
        let kind = e.header().entry_type();
        if kind.is_dir() || rest.is_empty() {
            continue;
        }
        if !kind.is_file() {
            return Err(bad(format!("`{name}` is neither a file nor a directory")));
        }
        let mode = e.header().mode().unwrap_or(0o644) & 0o7777;
        let mut b = Vec::new();
        e.read_to_end(&mut b).map_err(read_err(path))?;
        files.push((rest.to_string(), b, mode));
    }
    Ok((top.ok_or_else(|| bad("it is empty".into()))?, files))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Content> {
        vec![
            Content {
                path: "bpf/b.o".into(),
                bytes: b"bbb".to_vec(),
                executable: false,
            },
            Content {
                path: "bin/loader".into(),
                bytes: b"\x7fELF...".to_vec(),
                executable: true,
            },
            Content {
                path: "bpf/a.o".into(),
                bytes: b"aa".to_vec(),
                executable: false,
            },
        ]
    }

    #[test]
    fn tarball_is_deterministic_sorted_and_normalised() {
        let a = tarball("p-1.0-armv7", &sample(), 0).unwrap();
        let mut rev = sample();
        rev.reverse();
        let b = tarball("p-1.0-armv7", &rev, 0).unwrap();
        assert_eq!(a, b, "input order must not matter");
        // gzip header: magic, deflate, no flags (no name), mtime 0.
        assert_eq!(&a[..8], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0]);
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(a.as_slice()));
        let listing: Vec<(String, u32, u64, u64)> = ar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mode().unwrap(),
                    h.mtime().unwrap(),
                    h.uid().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            listing,
            vec![
                ("p-1.0-armv7/".into(), 0o755, 0, 0),
                ("p-1.0-armv7/bin/".into(), 0o755, 0, 0),
                ("p-1.0-armv7/bpf/".into(), 0o755, 0, 0),
                ("p-1.0-armv7/bin/loader".into(), 0o755, 0, 0),
                ("p-1.0-armv7/bpf/a.o".into(), 0o644, 0, 0),
                ("p-1.0-armv7/bpf/b.o".into(), 0o644, 0, 0),
            ]
        );
        let later = tarball("p-1.0-armv7", &sample(), 1_700_000_000).unwrap();
        assert_ne!(a, later);
    }

    #[test]
    fn absolute_or_parent_paths_are_refused() {
        let bad = vec![Content {
            path: "../etc/passwd".into(),
            bytes: vec![],
            executable: false,
        }];
        let e = tarball("t", &bad, 0).unwrap_err();
        assert!(
            e.to_string()
                .contains("bundle entries must be relative paths"),
            "{e}"
        );
    }

    #[test]
    fn write_then_read_back_with_sums() {
        let d = tempfile::tempdir().unwrap();
        let m = Manifest {
            tool: "cargo-ebpf-cross".into(),
            tool_version: "0.1.0".into(),
            package: "p".into(),
            package_version: "1.0".into(),
            target: "armv7".into(),
            base_target: "armv7".into(),
            arch: "arm".into(),
            rust_target: "armv7-unknown-linux-gnueabihf".into(),
            clang_target: "armv7a-linux-gnueabihf".into(),
            endian: "little".into(),
            kernel_version: Some("6.1.176".into()),
            reference_kernel: None,
            llvm_version: "14.0.6".into(),
            loader: "bin/loader".into(),
            objects: vec!["bpf/a.o".into()],
            files: vec![],
        };
        let (path, sha) = write(d.path(), "p-1.0-armv7", &m, sample()).unwrap();
        assert_eq!(path, d.path().join("p-1.0-armv7.tar.gz"));
        let sums = std::fs::read_to_string(d.path().join("SHA256SUMS")).unwrap();
        assert_eq!(sums, format!("{sha}  p-1.0-armv7.tar.gz\n"));
        let (top, files) = read(&path).unwrap();
        assert_eq!(top, "p-1.0-armv7");
        let names: Vec<_> = files.iter().map(|f| f.0.as_str()).collect();
        assert_eq!(names, ["bin/loader", "bpf/a.o", "bpf/b.o", "manifest.json"]);
        // A second write replaces the line rather than adding one.
        write(d.path(), "p-1.0-armv7", &m, sample()).unwrap();
        let sums2 = std::fs::read_to_string(d.path().join("SHA256SUMS")).unwrap();
        assert_eq!(sums2, sums);
        let leftovers: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
            .collect();
        assert!(leftovers.is_empty());
    }
}
