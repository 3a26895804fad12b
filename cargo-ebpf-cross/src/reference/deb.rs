//! Unpacking a `.deb` without dpkg: an `ar` archive whose `data.tar.*`
//! holds the files. Only the parts a reference kernel needs are written
//! (an image package is mostly modules, which nothing here uses).

use std::io::Read;
use std::path::Path;

use crate::error::{os_error, Error, Result};

fn bad(deb: &str, why: String) -> Error {
    Error::Fetch {
        message: format!("cannot unpack {deb}: {why}"),
        hint: "the file matched its signed digest, so the archive format is new to this tool; please report it".into(),
    }
}

/// Writes the entries of `deb`'s data archive that start with one of
/// `keep` (paths without the leading `./`) below `root`.
pub fn unpack(name: &str, deb: &[u8], keep: &[&str], root: &Path) -> Result<usize> {
    unpack_from(name, deb, keep, root)
}

/// [`unpack`] reading the .deb as a stream: the data archive is
/// decompressed as it is read, never held whole.
pub fn unpack_from(name: &str, deb: impl Read, keep: &[&str], root: &Path) -> Result<usize> {
    let mut ar = ar::Archive::new(deb);
    while let Some(entry) = ar.next_entry() {
        let mut entry = entry.map_err(|e| bad(name, e.to_string()))?;
        let member = String::from_utf8_lossy(entry.header().identifier()).into_owned();
        if !member.starts_with("data.tar") {
            continue;
        }
        let reader: Box<dyn Read + '_> = match member.trim_end_matches('/') {
            "data.tar.xz" => Box::new(xz2::read::XzDecoder::new(&mut entry)),
            "data.tar.zst" => Box::new(
                ruzstd::decoding::StreamingDecoder::new(&mut entry)
                    .map_err(|e| bad(name, e.to_string()))?,
            ),
            "data.tar.gz" => Box::new(flate2::read::GzDecoder::new(&mut entry)),
            "data.tar" => Box::new(&mut entry),
            other => return Err(bad(name, format!("unknown member `{other}`"))),
        };
        return untar(name, reader, keep, root);
    }
    Err(bad(name, "no data.tar member".into()))
}

fn untar(name: &str, reader: impl Read, keep: &[&str], root: &Path) -> Result<usize> {
    let mut tar = tar::Archive::new(reader);
    tar.set_preserve_permissions(true);
    let mut n = 0;
    for entry in tar.entries().map_err(|e| bad(name, e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(name, e.to_string()))?;
        let path = entry
            .path()
            .map_err(|e| bad(name, e.to_string()))?
            .to_string_lossy()
            .into_owned();
        let rel = path.trim_start_matches("./");
        if !keep.iter().any(|k| rel.starts_with(k)) {
            continue;
        }
        // unpack_in refuses `..` and absolute paths, so a hostile archive
        // cannot write outside the staging dir.
        // A write that fails for a reason of the OS (a full disk, a
        // read-only cache) is that, not a strange archive.
        let wrote = entry.unpack_in(root).map_err(|e| match os_error(&e) {
            Some(code) => Error::Write {
                path: root.join(rel),
                source: std::io::Error::from_raw_os_error(code),
            },
            None => bad(name, format!("{rel}: {e}")),
        })?;
        if wrote {
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A .deb made here: ar with debian-binary, control and an xz data tar.
    fn make_deb(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        for (p, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            tar.append_data(&mut h, p, *data).unwrap();
        }
        let tar = tar.into_inner().unwrap();
        let mut xz = Vec::new();
        xz2::read::XzEncoder::new(&tar[..], 6)
            .read_to_end(&mut xz)
            .unwrap();
        let mut out = Vec::new();
        {
            let mut ar = ar::Builder::new(&mut out);
            for (n, d) in [
                ("debian-binary", b"2.0\n".to_vec()),
                ("control.tar.xz", Vec::new()),
                ("data.tar.xz", xz),
            ] {
                ar.append(
                    &ar::Header::new(n.as_bytes().to_vec(), d.len() as u64),
                    &d[..],
                )
                .unwrap();
            }
        }
        out
    }

    #[test]
    fn keeps_only_the_wanted_paths() {
        let deb = make_deb(&[
            ("./boot/vmlinuz-1-armmp", b"kernel"),
            ("./lib/modules/1/x.ko", b"module"),
        ]);
        let d = tempfile::tempdir().unwrap();
        assert_eq!(unpack("x.deb", &deb, &["boot/"], d.path()).unwrap(), 1);
        assert_eq!(
            std::fs::read(d.path().join("boot/vmlinuz-1-armmp")).unwrap(),
            b"kernel"
        );
        assert!(!d.path().join("lib").exists());
        let e = unpack("y.deb", b"!<arch>\n", &["boot/"], d.path()).unwrap_err();
        assert_eq!(e.to_string(), "cannot unpack y.deb: no data.tar member");
    }
}
