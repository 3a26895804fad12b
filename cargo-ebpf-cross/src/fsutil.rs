//! Writing files so that nothing half-written is ever left at the target
//! path: write a sibling temp file, then rename it into place.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{write_err, Result};

/// A temp file beside `dest`; dropped without `persist`, it is removed.
pub fn temp_beside(dest: &Path) -> Result<tempfile::NamedTempFile> {
    let dir = parent_dir(dest);
    std::fs::create_dir_all(&dir).map_err(write_err(&dir))?;
    let name = dest
        .file_name()
        .map(|n| format!(".{}.", n.to_string_lossy()))
        .unwrap_or_else(|| ".tmp.".into());
    tempfile::Builder::new()
        .prefix(&name)
        .suffix(".part")
        .tempfile_in(&dir)
        .map_err(write_err(dest))
}

pub fn parent_dir(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

pub fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = temp_beside(dest)?;
    tmp.write_all(bytes).map_err(write_err(dest))?;
    tmp.as_file().sync_all().ok();
    persist(tmp, dest)
}

pub fn persist(tmp: tempfile::NamedTempFile, dest: &Path) -> Result<()> {
    // Temp files are created 0600; outputs are meant to be shared.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
        .map_err(write_err(dest))?;
    tmp.persist(dest).map_err(|e| crate::error::Error::Write {
        path: dest.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}
