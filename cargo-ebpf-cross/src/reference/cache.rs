//! The reference-kernel cache: `EBPF_CROSS_CACHE_DIR`, else
//! `$XDG_CACHE_HOME/ebpf-cross`, else `~/.cache/ebpf-cross`; never a shared
//! temp dir, where another user could plant a tree.
//!
//! Layout: `kernels/<key>/record.json` and `kernels/<key>/root/` (the
//! unpacked packages). An entry appears by one rename of a finished staging
//! dir, so a reader sees a whole kernel or none; writers of one key take
//! `kernels/.locks/<key>.lock` first, so two fetches neither corrupt nor
//! duplicate it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{read_err, write_err, Error, Result};

/// One exact package the kernel came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageRecord {
    pub name: String,
    pub version: String,
    pub suite: String,
    pub sha256: String,
    pub size: u64,
}

/// A cached reference kernel. Paths are stored relative to the entry, so
/// a cache can be moved or copied; [`Cache::lookup`] makes them absolute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub key: String,
    pub target: String,
    pub release: String,
    pub codename: String,
    pub arch: String,
    pub flavour: String,
    pub abi: String,
    /// The tree's full version (`6.1.176`), read from its headers.
    pub version: String,
    pub source: PathBuf,
    pub build: PathBuf,
    pub image: PathBuf,
    pub busybox: PathBuf,
    /// Holds `bpf/bpf_helpers.h` from that release's libbpf-dev.
    pub libbpf_include: PathBuf,
    pub packages: Vec<PackageRecord>,
    /// Seconds since the epoch.
    pub fetched: u64,
}

impl Record {
    fn map_paths(&mut self, f: impl Fn(&Path) -> PathBuf) {
        for p in [
            &mut self.source,
            &mut self.build,
            &mut self.image,
            &mut self.busybox,
            &mut self.libbpf_include,
        ] {
            *p = f(p);
        }
    }
}

pub const RECORD: &str = "record.json";

#[derive(Debug, Clone)]
pub struct Cache {
    pub root: PathBuf,
}

/// Held while one key is written; dropping it releases the lock.
pub struct Lock {
    _file: std::fs::File,
}

impl Cache {
    pub fn open() -> Result<Cache> {
        let root = crate::toolchain::cache_dir().ok_or_else(|| Error::Usage {
            message:
                "no cache directory: neither EBPF_CROSS_CACHE_DIR, XDG_CACHE_HOME nor HOME is set"
                    .into(),
            hint: "set EBPF_CROSS_CACHE_DIR to a directory you own".into(),
        })?;
        Ok(Cache { root })
    }

    pub fn kernels(&self) -> PathBuf {
        self.root.join("kernels")
    }

    pub fn entry(&self, key: &str) -> PathBuf {
        self.kernels().join(key)
    }

    /// The cached kernel of `key`, with absolute paths; no network, no lock.
    pub fn lookup(&self, key: &str) -> Result<Option<Record>> {
        let dir = self.entry(key);
        let file = dir.join(RECORD);
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(read_err(&file)(e)),
        };
        let mut r: Record = serde_json::from_str(&text).map_err(|e| Error::Fetch {
            message: format!("cache record `{}` is unreadable: {e}", file.display()),
            hint: format!(
                "remove it with `cargo ebpf-cross kernel remove` or delete {}",
                dir.display()
            ),
        })?;
        // What the cache promises: every path a record names stays inside
        // its entry, so an edited record cannot point a build at another
        // tree or `run` at another image (`image = /etc/passwd`).
        for (name, p) in [
            ("source", &r.source),
            ("build", &r.build),
            ("image", &r.image),
            ("busybox", &r.busybox),
            ("libbpf_include", &r.libbpf_include),
        ] {
            let confined = p
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
            if !confined || p.as_os_str().is_empty() {
                return Err(Error::Fetch {
                    message: format!(
                        "cache record `{}` names `{name} = {}`, outside its entry",
                        file.display(),
                        p.display()
                    ),
                    hint: format!(
                        "the record was edited; nothing of it is used. Remove the entry (cargo ebpf-cross kernel remove, or delete {}) and fetch again",
                        dir.display()
                    ),
                });
            }
        }
        if r.key != key {
            return Err(Error::Fetch {
                message: format!(
                    "cache record `{}` is for `{}`, not `{key}`",
                    file.display(),
                    r.key
                ),
                hint: format!(
                    "the entry was copied or edited; remove it (delete {}) and fetch again",
                    dir.display()
                ),
            });
        }
        r.map_paths(|p| dir.join(p));
        Ok(Some(r))
    }

    /// The key of every entry, whether or not its record reads.
    pub fn keys(&self) -> Result<Vec<String>> {
        let rd = match std::fs::read_dir(self.kernels()) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(read_err(self.kernels())(e)),
        };
        let mut keys: Vec<String> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        keys.sort();
        Ok(keys)
    }

    /// Every cached kernel, by key.
    pub fn list(&self) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        for k in self.keys()? {
            if let Some(r) = self.lookup(&k)? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Waits for the writer's lock of `key`.
    pub fn lock(&self, key: &str) -> Result<Lock> {
        let dir = self.kernels().join(".locks");
        std::fs::create_dir_all(&dir).map_err(write_err(&dir))?;
        let file = crate::fsutil::lock(&dir.join(format!("{key}.lock")))?;
        Ok(Lock { _file: file })
    }

    fn staging_dir(&self) -> PathBuf {
        self.kernels().join(".staging")
    }

    /// A fresh dir inside the cache (same filesystem, so the final rename
    /// is atomic), removed on drop or interrupt unless installed. Named
    /// `<key>@...`, so a leftover can be told to belong to `key`.
    pub fn staging(&self, key: &str) -> Result<tempfile::TempDir> {
        let dir = self.staging_dir();
        std::fs::create_dir_all(&dir).map_err(write_err(&dir))?;
        let t = tempfile::Builder::new()
            .prefix(&format!("{key}@"))
            .tempdir_in(&dir)
            .map_err(write_err(&dir))?;
        crate::interrupt::remember_temp(t.path());
        Ok(t)
    }

    /// Removes what a killed fetch or remove of `key` left in staging
    /// (SIGKILL, a power cut). Call with the key's lock held: no live
    /// writer of that key can own any of it then. Returns how many
    /// leftovers went.
    pub fn sweep(&self, key: &str) -> Result<usize> {
        let dir = self.staging_dir();
        let Ok(rd) = std::fs::read_dir(&dir) else {
            return Ok(0);
        };
        let mine = format!("{key}@");
        let mut swept = 0;
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().starts_with(&mine) {
                let p = e.path();
                std::fs::remove_dir_all(&p).map_err(write_err(&p))?;
                swept += 1;
            }
        }
        Ok(swept)
    }

    /// Sweeps the leftovers of every key, each under its own lock.
    pub fn sweep_all(&self) -> Result<usize> {
        let Ok(rd) = std::fs::read_dir(self.staging_dir()) else {
            return Ok(0);
        };
        let mut keys: Vec<String> = rd
            .flatten()
            .filter_map(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.rsplit_once('@').map(|(k, _)| k.to_string())
            })
            .collect();
        keys.sort();
        keys.dedup();
        let mut swept = 0;
        for k in keys {
            let _lock = self.lock(&k)?;
            swept += self.sweep(&k)?;
        }
        Ok(swept)
    }

    /// Writes the record into the staged dir and renames it into place,
    /// replacing an older entry of the same key. Call with the key's lock
    /// held.
    pub fn install(&self, staged: tempfile::TempDir, record: &Record) -> Result<Record> {
        let dir = staged.path();
        let mut stored = record.clone();
        stored.map_paths(|p| p.strip_prefix(dir).unwrap_or(p).to_path_buf());
        let json = serde_json::to_vec_pretty(&stored).expect("a record serialises");
        crate::fsutil::write_atomic(&dir.join(RECORD), &json)?;
        let dest = self.entry(&record.key);
        let old = self
            .staging_dir()
            .join(format!("{}@old-{}", record.key, std::process::id()));
        let had_old = dest.exists();
        if had_old {
            std::fs::rename(&dest, &old).map_err(write_err(&dest))?;
        }
        let staged = staged.keep();
        crate::interrupt::forget_temp(&staged);
        if let Err(e) = std::fs::rename(&staged, &dest) {
            if had_old {
                let _ = std::fs::rename(&old, &dest);
            }
            let _ = std::fs::remove_dir_all(&staged);
            return Err(write_err(&dest)(e));
        }
        if had_old {
            let _ = std::fs::remove_dir_all(&old);
        }
        self.lookup(&record.key)?.ok_or_else(|| Error::BadOutput {
            path: dest,
            problem: "the installed cache entry has no record".into(),
        })
    }

    /// Deletes one entry; false when it was not cached.
    pub fn remove(&self, key: &str) -> Result<bool> {
        let _lock = self.lock(key)?;
        self.sweep(key)?;
        let dest = self.entry(key);
        if !dest.exists() {
            return Ok(false);
        }
        // Renamed away first, so no reader sees half a tree.
        let doomed = self
            .kernels()
            .join(".staging")
            .join(format!("{key}@removed-{}", std::process::id()));
        std::fs::create_dir_all(self.kernels().join(".staging"))
            .map_err(write_err(self.kernels()))?;
        std::fs::rename(&dest, &doomed).map_err(write_err(&dest))?;
        std::fs::remove_dir_all(&doomed).map_err(write_err(&doomed))?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: &str, dir: &Path) -> Record {
        Record {
            key: key.into(),
            target: "armv7".into(),
            release: "6.1".into(),
            codename: "bookworm".into(),
            arch: "armhf".into(),
            flavour: "armmp".into(),
            abi: "6.1.0-50".into(),
            version: "6.1.176".into(),
            source: dir.join("root/usr/src/linux-headers-6.1.0-50-common"),
            build: dir.join("root/usr/src/linux-headers-6.1.0-50-armmp"),
            image: dir.join("root/boot/vmlinuz-6.1.0-50-armmp"),
            busybox: dir.join("root/bin/busybox"),
            libbpf_include: dir.join("root/usr/include"),
            packages: vec![],
            fetched: 1,
        }
    }

    #[test]
    fn install_is_one_rename_and_paths_come_back_absolute() {
        let d = tempfile::tempdir().unwrap();
        let cache = Cache {
            root: d.path().to_path_buf(),
        };
        assert_eq!(cache.lookup("k").unwrap(), None);
        let _l = cache.lock("k").unwrap();
        let staged = cache.staging("k").unwrap();
        let r = record("k", staged.path());
        let got = cache.install(staged, &r).unwrap();
        assert_eq!(
            got.image,
            cache.entry("k").join("root/boot/vmlinuz-6.1.0-50-armmp")
        );
        let stored = std::fs::read_to_string(cache.entry("k").join(RECORD)).unwrap();
        assert!(stored.contains("\"image\": \"root/boot/vmlinuz-6.1.0-50-armmp\""));
        assert_eq!(cache.list().unwrap().len(), 1);
        // Nothing left in staging but the lock dir's siblings.
        assert_eq!(
            std::fs::read_dir(cache.kernels().join(".staging"))
                .unwrap()
                .count(),
            0
        );
        drop(_l);
        assert!(cache.remove("k").unwrap());
        assert!(!cache.remove("k").unwrap());
        assert_eq!(cache.list().unwrap(), vec![]);
    }

    #[test]
    fn a_record_naming_paths_outside_its_entry_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let cache = Cache {
            root: d.path().to_path_buf(),
        };
        let staged = cache.staging("k").unwrap();
        let r = record("k", staged.path());
        cache.install(staged, &r).unwrap();
        let file = cache.entry("k").join(RECORD);
        let good = std::fs::read_to_string(&file).unwrap();
        for (from, to, shown) in [
            (
                "\"image\": \"root/boot/vmlinuz-6.1.0-50-armmp\"",
                "\"image\": \"/etc/passwd\"",
                "image = /etc/passwd",
            ),
            (
                "\"source\": \"root/usr/src/linux-headers-6.1.0-50-common\"",
                "\"source\": \"../../..\"",
                "source = ../../..",
            ),
            (
                "\"busybox\": \"root/bin/busybox\"",
                "\"busybox\": \"root/../../x\"",
                "busybox = root/../../x",
            ),
        ] {
            std::fs::write(&file, good.replace(from, to)).unwrap();
            let e = cache.lookup("k").unwrap_err();
            assert_eq!(
                e.to_string(),
                format!(
                    "cache record `{}` names `{shown}`, outside its entry",
                    file.display()
                )
            );
        }
        std::fs::write(&file, good.replace("\"key\": \"k\"", "\"key\": \"other\"")).unwrap();
        assert_eq!(
            cache.lookup("k").unwrap_err().to_string(),
            format!("cache record `{}` is for `other`, not `k`", file.display())
        );
    }

    #[test]
    fn sweep_removes_only_that_keys_leftovers() {
        let d = tempfile::tempdir().unwrap();
        let cache = Cache {
            root: d.path().to_path_buf(),
        };
        let staging = cache.kernels().join(".staging");
        for n in ["k@abc", "k@old-12", "k-pinned@x", "k2@def"] {
            std::fs::create_dir_all(staging.join(n).join("root")).unwrap();
        }
        let _l = cache.lock("k").unwrap();
        assert_eq!(cache.sweep("k").unwrap(), 2);
        drop(_l);
        let mut left: Vec<String> = std::fs::read_dir(&staging)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["k-pinned@x", "k2@def"]);
        assert_eq!(cache.sweep_all().unwrap(), 2);
        assert_eq!(std::fs::read_dir(&staging).unwrap().count(), 0);
    }
}
