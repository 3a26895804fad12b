//! Writing files so that nothing half-written is ever left at the target
//! path: write a sibling temp file, then rename it into place.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{write_err, Result};

/// A `.part` file that an interrupt removes too (see `interrupt`);
/// dropped without [`persist`], it is removed.
pub struct Part(Option<tempfile::NamedTempFile>);

impl Part {
    pub fn path(&self) -> &Path {
        self.0.as_ref().expect("present until persisted").path()
    }
    pub fn as_file(&self) -> &std::fs::File {
        self.0.as_ref().expect("present until persisted").as_file()
    }
    /// The file, still registered: the caller forgets it once renamed.
    fn take(mut self) -> tempfile::NamedTempFile {
        self.0.take().expect("present until persisted")
    }
}

impl Write for Part {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.as_mut().expect("present until persisted").write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.as_mut().expect("present until persisted").flush()
    }
}

impl Drop for Part {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            crate::interrupt::forget_temp(t.path());
        }
    }
}

/// A temp file beside `dest`; dropped without `persist`, it is removed.
pub fn temp_beside(dest: &Path) -> Result<Part> {
    let dir = parent_dir(dest);
    std::fs::create_dir_all(&dir).map_err(write_err(&dir))?;
    let name = dest
        .file_name()
        .map(|n| format!(".{}.", n.to_string_lossy()))
        .unwrap_or_else(|| ".tmp.".into());
    crate::interrupt::install();
    let t = tempfile::Builder::new()
        .prefix(&name)
        .suffix(".part")
        .tempfile_in(&dir)
        .map_err(write_err(dest))?;
    crate::interrupt::remember_temp(t.path());
    Ok(Part(Some(t)))
}

/// A private temp dir (mode 0700, random name) that an interrupt removes.
pub struct TempDir(Option<tempfile::TempDir>);

impl TempDir {
    pub fn new_in(parent: &Path, prefix: &str) -> Result<Self> {
        crate::interrupt::install();
        std::fs::create_dir_all(parent).map_err(write_err(parent))?;
        let d = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(parent)
            .map_err(write_err(parent))?;
        crate::interrupt::remember_temp(d.path());
        Ok(TempDir(Some(d)))
    }
    pub fn path(&self) -> &Path {
        self.0.as_ref().expect("present until dropped").path()
    }
    /// Keeps the directory (it was renamed away or is now the result).
    pub fn keep(mut self) -> PathBuf {
        let d = self.0.take().expect("present until dropped");
        crate::interrupt::forget_temp(d.path());
        d.keep()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(d) = self.0.take() {
            crate::interrupt::forget_temp(d.path());
        }
    }
}

/// `p` made absolute against the current directory, without touching the
/// file system beyond that (no symlinks resolved), `.` components dropped.
/// What std::path::absolute does on Unix, which needs Rust 1.79; the
/// crate's MSRV is scarthgap's Rust 1.75.
pub fn absolute(p: &Path) -> PathBuf {
    let base = if p.is_absolute() {
        PathBuf::new()
    } else {
        std::env::current_dir().unwrap_or_default()
    };
    let mut out = base;
    for c in p.components() {
        if c != std::path::Component::CurDir {
            out.push(c);
        }
    }
    out
}

pub fn parent_dir(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

pub fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_mode(dest, bytes, 0o644)
}

/// The mode is set before the rename, so the file never appears with
/// another one.
pub fn write_atomic_mode(dest: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut tmp = temp_beside(dest)?;
    tmp.write_all(bytes).map_err(write_err(dest))?;
    tmp.as_file().sync_all().ok();
    persist_mode(tmp, dest, mode)
}

pub fn persist(tmp: Part, dest: &Path) -> Result<()> {
    // Temp files are created 0600; outputs are meant to be shared.
    persist_mode(tmp, dest, 0o644)
}

fn persist_mode(tmp: Part, dest: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tmp.take();
    let part = tmp.path().to_path_buf();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode))
        .map_err(write_err(dest))?;
    let r = tmp.persist(dest).map_err(|e| crate::error::Error::Write {
        path: dest.to_path_buf(),
        source: e.error,
    });
    crate::interrupt::forget_temp(&part);
    r.map(|_| ())
}

/// Size and mtime (ns since the epoch): what freshness checks compare.
pub fn stamp(p: &Path) -> Option<(u64, i128)> {
    let m = std::fs::metadata(p).ok()?;
    let t = m.modified().ok()?;
    let ns = match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    };
    Some((m.len(), ns))
}

/// Paths in progress lines are relative to where the user stands.
pub fn shown(p: &Path) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    p.strip_prefix(&cwd).unwrap_or(p).display().to_string()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(bytes))
}

/// Lower-case hex of a digest, as SHA256SUMS and Debian's indexes write it.
pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Waits for an exclusive lock on `path` (created if need be), held until
/// the file is dropped. A lock, not a lock file: nothing is removed, so a
/// crash leaves no stale lock behind.
pub fn lock(path: &Path) -> Result<std::fs::File> {
    use fs4::FileExt;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(write_err(path))?;
    // fs4 rather than std, whose File::lock needs Rust 1.89.
    FileExt::lock(&file).map_err(write_err(path))?;
    Ok(file)
}
