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
    /// armmp (linux 6.1.176)`), when the tree was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_kernel: Option<String>,
    /// The tree's UTS_RELEASE (`6.1.0-57-armmp`): what `uname -r` says on a
    /// board running that kernel, which `kernel_version` (`6.1.192`) is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_release: Option<String>,
    /// `native` or `core`: whether the objects are tied to that one kernel
    /// or relocate to the board's through its BTF.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpf_mode: Option<String>,
    pub llvm_version: String,
    /// `bin/<loader>`.
    pub loader: String,
    pub objects: Vec<String>,
    /// CO-RE mode: the minimal BTF of each kernel the bundle was built
    /// for, which the loader uses where the kernel has no BTF of its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub btf: Vec<crate::bundle_btf::BtfEntry>,
    pub files: Vec<FileEntry>,
}

impl Manifest {
    /// A plausible armv7 manifest with no files, for tests.
    #[cfg(test)]
    pub(crate) fn example() -> Manifest {
        Manifest {
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
            kernel_release: None,
            bpf_mode: None,
            llvm_version: "14.0.6".into(),
            loader: "bin/loader".into(),
            objects: vec!["bpf/a.o".into()],
            btf: Vec::new(),
            files: vec![],
        }
    }
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
    crate::settings::source_date_epoch(&crate::env::ProcessEnv).value
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
    let sha = fsutil::sha256_hex(&bytes);
    let sums_path = dir.join("SHA256SUMS");
    // Two loader packages of a workspace may bundle for one board at once
    // (two builds sharing a target dir); each rewrites SHA256SUMS whole, so
    // without the lock one could drop the other's line.
    let _lock = fsutil::lock(&dir.join(".SHA256SUMS.lock"))?;
    // Three atomic steps, so that a crash between any two leaves no line in
    // SHA256SUMS that disagrees with its file: drop the old line, replace
    // the tarball, add the new line.
    write_sums(&sums_path, &name, None)?;
    fsutil::write_atomic(&path, &bytes)?;
    write_sums(&sums_path, &name, Some(&sha))?;
    Ok((path, sha))
}

/// What a bundle was made from, so an unchanged one is not compressed and
/// written again (the warm no-op build of several boards would otherwise
/// spend most of its time in gzip).
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct WriteStamp {
    /// sha256 of everything that decides the tarball's bytes.
    key: String,
    sha256: String,
    tarball: (u64, i128),
}

fn write_key(top: &str, manifest: &Manifest, contents: &[Content], mtime: u64) -> String {
    let mut k = Vec::new();
    k.extend_from_slice(format!("{top}\n{mtime}\n").as_bytes());
    k.extend(serde_json::to_vec(manifest).expect("plain data"));
    for c in contents {
        // The manifest already carries the sha256 of the files it lists
        // (a loader can be megabytes); only the others are hashed here.
        let listed = manifest
            .files
            .iter()
            .find(|f| f.path == c.path && f.size == c.bytes.len() as u64);
        let sha = match listed {
            Some(f) => f.sha256.clone(),
            None => fsutil::sha256_hex(&c.bytes),
        };
        k.extend_from_slice(format!("\n{} {} {sha}", c.path, c.executable).as_bytes());
    }
    fsutil::sha256_hex(&k)
}

/// [`write`], unless `stamp` (a file of the caller's state dir) says the
/// same inputs already made the tarball that is there, with its line in
/// SHA256SUMS.
pub fn write_unless_fresh(
    dir: &Path,
    top: &str,
    manifest: &Manifest,
    contents: Vec<Content>,
    stamp: &Path,
) -> Result<(PathBuf, String)> {
    let key = write_key(top, manifest, &contents, mtime());
    let path = tarball_path(dir, top);
    let old: Option<WriteStamp> = std::fs::read(stamp)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    if let Some(old) = old.filter(|o| o.key == key) {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let listed = std::fs::read_to_string(dir.join("SHA256SUMS"))
            .is_ok_and(|t| t.lines().any(|l| l == format!("{}  {name}", old.sha256)));
        if listed && fsutil::stamp(&path) == Some(old.tarball) {
            return Ok((path, old.sha256));
        }
    }
    let (path, sha) = write(dir, top, manifest, contents)?;
    if let Some(tarball) = fsutil::stamp(&path) {
        let st = WriteStamp {
            key,
            sha256: sha.clone(),
            tarball,
        };
        // A stamp that fails to write only costs a rewrite next time.
        let _ = fsutil::write_atomic(stamp, &serde_json::to_vec(&st).unwrap_or_default());
    }
    Ok((path, sha))
}

/// Rewrites SHA256SUMS with `name`'s line replaced (or removed), sorted by
/// file name.
fn write_sums(sums_path: &Path, name: &str, sha: Option<&str>) -> Result<()> {
    let old = std::fs::read_to_string(sums_path).unwrap_or_default();
    let mut lines: Vec<String> = old
        .lines()
        .filter(|l| !l.ends_with(&format!("  {name}")))
        .map(str::to_string)
        .collect();
    if let Some(sha) = sha {
        lines.push(format!("{sha}  {name}"));
    }
    lines.sort_by(|a, b| {
        a.split_once("  ")
            .map(|x| x.1)
            .cmp(&b.split_once("  ").map(|x| x.1))
    });
    let mut text = Vec::new();
    for l in lines {
        writeln!(text, "{l}").expect("vec write");
    }
    if text == old.as_bytes() {
        return Ok(());
    }
    fsutil::write_atomic(sums_path, &text)
}

/// One regular file of a bundle, relative to its top directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleFile {
    pub path: String,
    pub mode: u32,
    pub data: Vec<u8>,
}

/// A bundle read back and checked against its own manifest: every file is
/// listed with the right size and sha256, nothing unlisted rides along, and
/// the loader it names is there. `build`, `run`, `install` and the guest's
/// initramfs all use this one reading.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The single top directory, `<name>-<ver>-<target>`.
    pub top: String,
    pub files: Vec<BundleFile>,
    pub manifest: Manifest,
}

impl Bundle {
    pub fn file(&self, rel: &str) -> Option<&BundleFile> {
        self.files.iter().find(|f| f.path == rel)
    }

    /// Reads and verifies `path`, streaming: no entry may claim more than
    /// [`MAX_FILE`] bytes and the whole more than [`MAX_TOTAL`], so a
    /// small hostile tarball cannot make us inflate gigabytes.
    pub fn open(path: &Path) -> Result<Bundle> {
        let (top, files) = read_entries(path, MAX_FILE, MAX_TOTAL)?;
        let bad = |problem: String| bad_bundle(path, problem);
        let mj = files
            .iter()
            .find(|f| f.path == "manifest.json")
            .ok_or_else(|| bad(format!("`{top}/manifest.json` is missing")))?;
        let manifest: Manifest = serde_json::from_slice(&mj.data)
            .map_err(|e| bad(format!("its manifest.json cannot be read: {e}")))?;
        for f in &files {
            if f.path == "manifest.json" {
                continue;
            }
            let entry = manifest
                .files
                .iter()
                .find(|e| e.path == f.path)
                .ok_or_else(|| {
                    bad(format!(
                        "it holds `{}`, which its manifest does not list",
                        f.path
                    ))
                })?;
            let sha = fsutil::sha256_hex(&f.data);
            if sha != entry.sha256 || f.data.len() as u64 != entry.size {
                return Err(bad(format!(
                    "it is damaged: `{}` has sha256 {sha} ({} bytes), its manifest says {} ({} bytes)",
                    f.path,
                    f.data.len(),
                    entry.sha256,
                    entry.size
                )));
            }
        }
        for e in &manifest.files {
            if !files.iter().any(|f| f.path == e.path) {
                return Err(bad(format!(
                    "it lacks `{}`, which its manifest lists",
                    e.path
                )));
            }
        }
        if !files.iter().any(|f| f.path == manifest.loader) {
            return Err(bad(format!(
                "manifest.json names the loader `{}`, which is not in it",
                manifest.loader
            )));
        }
        Ok(Bundle {
            top,
            files,
            manifest,
        })
    }
}

/// A loader is a few MiB and objects are KiB; these leave room for fat
/// debug builds while refusing decompression bombs.
pub const MAX_FILE: u64 = 256 << 20;
pub const MAX_TOTAL: u64 = 512 << 20;

fn bad_bundle(path: &Path, problem: String) -> Error {
    Error::BadBundle {
        path: path.to_path_buf(),
        problem,
    }
}

/// The tar entries under the one top dir (modes masked to the permission
/// bits). Bundles hold only files and dirs under one top dir; anything else
/// is refused, since it has no place on a board.
fn read_entries(path: &Path, max_file: u64, max_total: u64) -> Result<(String, Vec<BundleFile>)> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(read_err(path))?;
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(f));
    let mut top = None;
    let mut files = Vec::new();
    let mut total = 0u64;
    let bad = |problem: String| bad_bundle(path, problem);
    let broken = |e: std::io::Error| bad(format!("it is not a readable tar.gz ({e})"));
    for e in ar.entries().map_err(broken)? {
        let mut e = e.map_err(broken)?;
        let p = e.path().map_err(broken)?.to_string_lossy().into_owned();
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
        let size = e.header().size().map_err(broken)?;
        total = total.saturating_add(size);
        if size > max_file || total > max_total {
            return Err(bad(format!(
                "`{name}` is {size} bytes, over the limit of {max_file} per file and {max_total} in all"
            )));
        }
        let mode = e.header().mode().unwrap_or(0o644) & 0o7777;
        // The header's size bounds the read; `take` makes a lying header
        // harmless too.
        let mut b = Vec::with_capacity(size as usize);
        (&mut e)
            .take(max_file + 1)
            .read_to_end(&mut b)
            .map_err(broken)?;
        files.push(BundleFile {
            path: rest.to_string(),
            mode,
            data: b,
        });
    }
    let top = top.ok_or_else(|| bad("it is empty".into()))?;
    Ok((top, files))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// The manifest that lists [`sample`]'s files.
    fn sample_manifest() -> Manifest {
        Manifest {
            files: sample()
                .iter()
                .map(|c| file_entry(&c.path, &c.bytes))
                .collect(),
            ..Manifest::example()
        }
    }

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
    fn an_unchanged_bundle_is_not_written_again() {
        let d = tempfile::tempdir().unwrap();
        let m = Manifest {
            tool: "t".into(),
            tool_version: "0".into(),
            package: "p".into(),
            package_version: "1.0".into(),
            target: "armv7".into(),
            base_target: "armv7".into(),
            arch: "arm".into(),
            rust_target: "armv7-unknown-linux-gnueabihf".into(),
            clang_target: "armv7a-linux-gnueabihf".into(),
            endian: "little".into(),
            kernel_version: None,
            reference_kernel: None,
            kernel_release: None,
            bpf_mode: None,
            btf: Vec::new(),
            llvm_version: "14".into(),
            loader: "bin/loader".into(),
            objects: vec![],
            files: vec![],
        };
        let st = d.path().join("state/bundle.json");
        std::fs::create_dir_all(d.path().join("state")).unwrap();
        let (p, sha) = write_unless_fresh(d.path(), "p-1.0-armv7", &m, sample(), &st).unwrap();
        let before = fsutil::stamp(&p).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let (p2, sha2) = write_unless_fresh(d.path(), "p-1.0-armv7", &m, sample(), &st).unwrap();
        assert_eq!((p2.clone(), sha2), (p.clone(), sha.clone()));
        assert_eq!(fsutil::stamp(&p2).unwrap(), before, "not rewritten");
        // Other bytes: written again.
        let mut other = sample();
        other[0].bytes = b"changed".to_vec();
        let (_, sha3) = write_unless_fresh(d.path(), "p-1.0-armv7", &m, other, &st).unwrap();
        assert_ne!(sha3, sha);
        // A tarball removed behind our back is written again.
        std::fs::remove_file(&p).unwrap();
        write_unless_fresh(d.path(), "p-1.0-armv7", &m, sample(), &st).unwrap();
        assert!(p.is_file());
    }

    #[test]
    fn write_then_read_back_with_sums() {
        let d = tempfile::tempdir().unwrap();
        let m = sample_manifest();
        let (path, sha) = write(d.path(), "p-1.0-armv7", &m, sample()).unwrap();
        assert_eq!(path, d.path().join("p-1.0-armv7.tar.gz"));
        let sums = std::fs::read_to_string(d.path().join("SHA256SUMS")).unwrap();
        assert_eq!(sums, format!("{sha}  p-1.0-armv7.tar.gz\n"));
        let b = Bundle::open(&path).unwrap();
        assert_eq!(b.top, "p-1.0-armv7");
        let names: Vec<_> = b.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(names, ["bin/loader", "bpf/a.o", "bpf/b.o", "manifest.json"]);
        assert_eq!(b.file("bin/loader").unwrap().mode, 0o755);
        assert_eq!(b.manifest, m);
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

    /// A tar.gz of `entries` under whatever names they carry.
    fn raw_tarball(dir: &Path, entries: &[(&str, &[u8])]) -> PathBuf {
        let p = dir.join("b.tar.gz");
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&p).unwrap(),
            flate2::Compression::fast(),
        );
        let mut t = tar::Builder::new(gz);
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            t.append_data(&mut h, name, *data).unwrap();
        }
        t.into_inner().unwrap().finish().unwrap();
        p
    }

    fn manifest_for(files: &[(&str, &[u8])]) -> Vec<u8> {
        let m = Manifest {
            loader: "bin/loader".into(),
            files: files.iter().map(|(p, b)| file_entry(p, b)).collect(),
            ..Manifest::example()
        };
        serde_json::to_vec(&m).unwrap()
    }

    #[test]
    fn a_tampered_file_is_refused_with_both_digests() {
        let d = tempfile::tempdir().unwrap();
        let mj = manifest_for(&[("bin/loader", b"ELF"), ("bpf/a.o", b"good")]);
        let p = raw_tarball(
            d.path(),
            &[
                ("t/manifest.json", &mj),
                ("t/bin/loader", b"ELF"),
                ("t/bpf/a.o", b"evil"),
            ],
        );
        let e = Bundle::open(&p).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "`{}` is not a usable bundle: it is damaged: `bpf/a.o` has sha256 {} (4 bytes), its manifest says {} (4 bytes)",
                p.display(),
                fsutil::sha256_hex(b"evil"),
                fsutil::sha256_hex(b"good")
            )
        );
    }

    #[test]
    fn unlisted_missing_and_structural_problems_are_named() {
        let d = tempfile::tempdir().unwrap();
        let mj = manifest_for(&[("bin/loader", b"ELF")]);
        type Entries<'a> = Vec<(&'a str, &'a [u8])>;
        let cases: Vec<(Entries, &str)> = vec![
            (
                vec![
                    ("t/manifest.json", &mj),
                    ("t/bin/loader", b"ELF"),
                    ("t/bpf/x.o", b"x"),
                ],
                "it holds `bpf/x.o`, which its manifest does not list",
            ),
            (
                vec![("t/manifest.json", &mj)],
                "it lacks `bin/loader`, which its manifest lists",
            ),
            (
                vec![("a/manifest.json", b"{}"), ("b/x", b"")],
                "it has more than one top directory (`a` and `b`)",
            ),
            (vec![("a/bin/l", b"")], "`a/manifest.json` is missing"),
        ];
        for (entries, want) in cases {
            let p = raw_tarball(d.path(), &entries);
            let e = Bundle::open(&p).unwrap_err().to_string();
            assert!(e.ends_with(want), "{e}");
        }
    }

    #[test]
    fn a_decompression_bomb_is_refused_before_it_is_inflated() {
        // The limits are parameters, so a 1 MiB limit proves the point
        // without gzipping 256 MiB in the fast tier.
        let (max_file, max_total) = (1u64 << 20, 2u64 << 20);
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("bomb.tar.gz");
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&p).unwrap(),
            flate2::Compression::default(),
        );
        let mut t = tar::Builder::new(gz);
        let mut h = tar::Header::new_gnu();
        let size = max_file + 1;
        h.set_size(size);
        h.set_mode(0o644);
        h.set_cksum();
        t.append_data(&mut h, "t/bin/loader", std::io::repeat(0).take(size))
            .unwrap();
        t.into_inner().unwrap().finish().unwrap();
        assert!(
            std::fs::metadata(&p).unwrap().len() < 64 << 10,
            "small on disk"
        );
        let e = read_entries(&p, max_file, max_total)
            .unwrap_err()
            .to_string();
        assert!(
            e.ends_with(&format!(
                "`t/bin/loader` is {size} bytes, over the limit of {max_file} per file and {max_total} in all"
            )),
            "{e}"
        );
    }

    #[test]
    fn sums_never_disagree_with_a_tarball_between_steps() {
        let d = tempfile::tempdir().unwrap();
        let sums = d.path().join("SHA256SUMS");
        let name = "p-1.0-armv7.tar.gz";
        std::fs::write(d.path().join(name), b"old").unwrap();
        write_sums(&sums, name, Some(&fsutil::sha256_hex(b"old"))).unwrap();
        write_sums(&sums, "other.tar.gz", Some("ab")).unwrap();
        // Step one of a rewrite: the line goes before the file changes.
        write_sums(&sums, name, None).unwrap();
        assert_eq!(
            std::fs::read_to_string(&sums).unwrap(),
            "ab  other.tar.gz\n"
        );
        // (a crash here leaves the old tarball unlisted, never mislisted)
        std::fs::write(d.path().join(name), b"new").unwrap();
        write_sums(&sums, name, Some(&fsutil::sha256_hex(b"new"))).unwrap();
        assert_eq!(
            std::fs::read_to_string(&sums).unwrap(),
            format!("ab  other.tar.gz\n{}  {name}\n", fsutil::sha256_hex(b"new"))
        );
    }

    #[test]
    fn concurrent_writers_to_one_board_dir_keep_every_line() {
        // Two builds of a workspace's loader packages sharing a target dir
        // bundle into one board dir at once; each must keep the other's line.
        let m = sample_manifest();
        for _round in 0..10 {
            let d = tempfile::tempdir().unwrap();
            let shas: Vec<(String, String)> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..6)
                    .map(|i| {
                        let (dir, m) = (d.path(), &m);
                        s.spawn(move || {
                            let top = format!("p{i}-1.0-armv7");
                            let (_, sha) = write(dir, &top, m, sample()).unwrap();
                            (format!("{top}.tar.gz"), sha)
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let want: String = shas.iter().map(|(n, h)| format!("{h}  {n}\n")).collect();
            assert_eq!(
                std::fs::read_to_string(d.path().join("SHA256SUMS")).unwrap(),
                want
            );
        }
    }
}
