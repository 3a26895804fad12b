//! One reference kernel end to end: resolve the newest ABI across the
//! release's suites (security included), download and verify its packages,
//! unpack them into a staging dir in the cache, and install that with one
//! rename.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{write_err, Error, Result};
use crate::ui;

use super::archive::{Http, Keyring, Suite};
use super::cache::{Cache, PackageRecord, Record};
use super::index::{self, Package};
use super::release;
use super::Wanted;

/// The packages a reference kernel is made of.
fn wanted_package(name: &str) -> bool {
    name.starts_with("linux-image-")
        || name.starts_with("linux-headers-")
        || name == "busybox-static"
        || name == "libbpf-dev"
}

/// A package and the suite it was found in.
struct Found<'a> {
    pkg: Package,
    suite: &'a Suite,
}

struct Loaded {
    suite: Suite,
    packages: Vec<Package>,
}

/// The verified `Packages` index of one suite for `arch`, or None when the
/// suite's signed InRelease says it does not carry that arch
/// (bookworm-security has no mipsel). The per-arch index is used because it
/// lists arch-all packages too, and `binary-all` has been seen out of step
/// with `InRelease`.
///
/// Every suite is required. An update suite that cannot be read (a digest
/// mismatch, a 404, an HTML page) is an error, never a reason to go on with
/// the other suites: anyone on the path to a plain-http mirror can break one
/// file, and going on would hand them an older kernel. For the same reason
/// a kept index whose digest the current InRelease no longer names is not
/// used in place of the current one.
fn load_suite(
    http: &Http,
    keys: &Keyring,
    cache: &Cache,
    base: &str,
    suite_name: &str,
    arch: &str,
) -> Result<Option<Loaded>> {
    let suite = Suite::open(http, keys, base, suite_name)?;
    refuse_replay(cache, base, &suite)?;
    if !suite.index.architectures.iter().any(|a| a == arch) {
        return Ok(None);
    }
    let path = format!("main/binary-{arch}/Packages.xz");
    let (sha, size) = suite.index.sha256.get(&path).cloned().ok_or_else(|| Error::Fetch {
        message: format!("{base}/dists/{suite_name}/InRelease lists no {path}"),
        hint: "the mirror is incomplete or mid-sync; retry later or choose another with EBPF_CROSS_DEBIAN_MIRROR".into(),
    })?;
    // Indexes are kept by suite and arch, and reused while the signed
    // InRelease still names the same digest.
    let dir = cache.root.join("indexes");
    let kept = dir.join(format!("{suite_name}-{arch}-Packages.xz"));
    let xz = match std::fs::read(&kept).ok() {
        Some(b) if crate::fsutil::sha256_hex(&b) == sha => b,
        _ => {
            let file = format!("dists/{suite_name}/{path}");
            let label = format!("{suite_name} {arch} index");
            let b = http
                .get_verified(&suite.urls(&path, &sha), &file, &sha, size, Some(&label))
                .map_err(|e| in_update_suite(e, suite_name))?;
            std::fs::create_dir_all(&dir).map_err(write_err(&dir))?;
            crate::fsutil::write_atomic(&kept, &b)?;
            b
        }
    };
    let mut text = String::new();
    xz2::read::XzDecoder::new(&xz[..])
        .read_to_string(&mut text)
        .map_err(|e| Error::Fetch {
            message: format!("{path} of {suite_name} does not decompress: {e}"),
            hint: "retry; the file matched its signed digest, so this is unexpected".into(),
        })?;
    let packages = index::parse_packages(&text, wanted_package);
    Ok(Some(Loaded { suite, packages }))
}

/// A signed InRelease can still be an old one served again: past its
/// `Valid-Until`, or dated before the newest this cache has seen of that
/// suite. Either is refused, since an old index leads to an old kernel;
/// a newer date is remembered.
fn refuse_replay(cache: &Cache, base: &str, suite: &Suite) -> Result<()> {
    let url = format!("{base}/dists/{}/InRelease", suite.suite);
    let show = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_else(|| t.to_string())
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    if let Some(until) = suite.index.valid_until.filter(|&u| u < now) {
        return Err(Error::Fetch {
            message: format!("{url} expired at {} (its Valid-Until)", show(until)),
            hint: "a mirror serving an expired index is stale or replaying an old one; nothing was cached. Retry later, or choose another mirror with EBPF_CROSS_DEBIAN_MIRROR / EBPF_CROSS_DEBIAN_SECURITY_MIRROR (and check this machine's clock)".into(),
        });
    }
    let Some(date) = suite.index.date else {
        return Ok(());
    };
    let dir = cache.root.join("indexes");
    let seen_file = dir.join(format!("{}-InRelease-date", suite.suite));
    let seen: Option<i64> = std::fs::read_to_string(&seen_file)
        .ok()
        .and_then(|t| t.trim().parse().ok());
    match seen {
        Some(seen) if date < seen => Err(Error::Fetch {
            message: format!(
                "{url} is dated {}, older than the {} already seen here",
                show(date),
                show(seen)
            ),
            hint: format!(
                "an archive that goes back in time is a replay or a mirror behind the others; nothing was cached. Retry later, or choose another mirror; if this mirror is right, delete {}",
                seen_file.display()
            ),
        }),
        Some(seen) if date == seen => Ok(()),
        _ => {
            std::fs::create_dir_all(&dir).map_err(write_err(&dir))?;
            crate::fsutil::write_atomic(&seen_file, date.to_string().as_bytes())
        }
    }
}

/// `6.1.0-50` or `6.12.57+deb13`: the series, then digits, dots and dashes,
/// and Debian's `+debNN` tag. Excludes other flavours that share the
/// suffix (`-rt-armmp`).
fn abi_of(name: &str, series: &str, flavour: &str) -> Option<String> {
    let abi = name
        .strip_prefix("linux-image-")?
        .strip_suffix(&format!("-{flavour}"))?;
    let rest = abi.strip_prefix(&format!("{series}."))?;
    let core = match rest.split_once("+deb") {
        Some((c, tag)) if !tag.is_empty() && tag.bytes().all(|b| b.is_ascii_digit()) => c,
        Some(_) => return None,
        None => rest,
    };
    core.bytes()
        .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
        .then(|| abi.to_string())
}

fn newest<'a>(loaded: &'a [Loaded], name: &str) -> Option<Found<'a>> {
    loaded
        .iter()
        .flat_map(|l| {
            l.packages
                .iter()
                .filter(move |p| p.name == name)
                .map(move |p| Found {
                    pkg: p.clone(),
                    suite: &l.suite,
                })
        })
        .max_by(|a, b| index::version_cmp(&a.pkg.version, &b.pkg.version))
}

fn choose_image<'a>(loaded: &'a [Loaded], w: &Wanted) -> Result<(String, Found<'a>)> {
    let mut by_abi: Vec<(String, Found)> = Vec::new();
    for l in loaded {
        for p in &l.packages {
            if let Some(abi) = abi_of(&p.name, &w.release.series, &w.flavour) {
                by_abi.push((
                    abi,
                    Found {
                        pkg: p.clone(),
                        suite: &l.suite,
                    },
                ));
            }
        }
    }
    let mut abis: Vec<String> = by_abi.iter().map(|(a, _)| a.clone()).collect();
    abis.sort_by(|a, b| index::version_cmp(a, b));
    abis.dedup();
    let pick = by_abi
        .into_iter()
        .filter(|(a, _)| w.abi.as_ref().map_or(true, |p| p == a))
        .max_by(|a, b| index::version_cmp(&a.1.pkg.version, &b.1.pkg.version));
    pick.ok_or_else(|| {
        let suites: Vec<&str> = w.release.suites.iter().map(|s| s.suite.as_str()).collect();
        Error::Fetch {
            message: match &w.abi {
                Some(a) => format!(
                    "Debian's archive has no linux-image-{a}-{} for {} in {}",
                    w.flavour,
                    w.arch,
                    suites.join(", ")
                ),
                None => format!(
                    "Debian's archive has no linux-image-{}.*-{} for {} in {}",
                    w.release.series,
                    w.flavour,
                    w.arch,
                    suites.join(", ")
                ),
            },
            hint: if abis.is_empty() {
                "check the profile's [reference] entry (arch and flavour)".into()
            } else {
                format!(
                    "ABIs on offer: {} (Debian drops old ABIs; pin one with debian:{}@ABI, or leave the pin out for the newest)",
                    abis.join(", "),
                    w.release.series
                )
            },
        }
    })
}

/// What to unpack from each package.
const IMAGE_PARTS: &[&str] = &["boot/vmlinuz-", "boot/vmlinux-", "boot/config-"];
const HEADER_PARTS: &[&str] = &["usr/src/"];
const BUSYBOX_PARTS: &[&str] = &["bin/busybox", "usr/bin/busybox"];
const LIBBPF_PARTS: &[&str] = &["usr/include/bpf/"];

fn first_existing(root: &Path, candidates: &[String], what: &str, pkg: &str) -> Result<PathBuf> {
    candidates
        .iter()
        .map(|c| root.join(c))
        .find(|p| p.exists())
        .ok_or_else(|| Error::Fetch {
            message: format!("{pkg} holds no {what} (looked for {})", candidates.join(", ")),
            hint: "the package layout changed; please report it, and pass --kernel-src/--kernel-image meanwhile".into(),
        })
}

/// The packages of one kernel, each with the parts of it to unpack.
type Parts<'a> = Vec<(Found<'a>, &'static [&'static str])>;

/// The newest (or pinned) ABI, and the packages that make it up.
fn choose_packages<'a>(loaded: &'a [Loaded], w: &Wanted) -> Result<(String, Parts<'a>)> {
    let (abi, image) = choose_image(loaded, w)?;
    let fl = &w.flavour;
    let mut parts: Parts = vec![(image, IMAGE_PARTS)];
    for (name, keep) in [
        (format!("linux-headers-{abi}-common"), HEADER_PARTS),
        (format!("linux-headers-{abi}-{fl}"), HEADER_PARTS),
        ("busybox-static".to_string(), BUSYBOX_PARTS),
        ("libbpf-dev".to_string(), LIBBPF_PARTS),
    ] {
        let found = newest(loaded, &name).ok_or_else(|| Error::Fetch {
            message: format!(
                "Debian's archive has no {name} for {} in debian:{}",
                w.arch, w.release.series
            ),
            hint: "the archive may be mid-update for a new ABI; retry later, or pin the previous ABI with debian:RELEASE@ABI".into(),
        })?;
        parts.push((found, keep));
    }
    Ok((abi, parts))
}

/// Downloads and verifies each package, unpacking its parts below `root`.
fn download_and_unpack(http: &Http, parts: &Parts, root: &Path) -> Result<Vec<PackageRecord>> {
    let mut packages = Vec::new();
    for (f, keep) in parts {
        let p = &f.pkg;
        let url = format!("{}/{}", f.suite.base, p.filename);
        let file = p.filename.rsplit('/').next().unwrap_or(&p.filename);
        let deb = http
            .get_verified(&[url], file, &p.sha256, p.size, Some(file))
            .map_err(|e| in_update_suite(e, &f.suite.suite))?;
        super::deb::unpack(file, &deb, keep, root)?;
        packages.push(PackageRecord {
            name: p.name.clone(),
            version: p.version.clone(),
            suite: f.suite.suite.clone(),
            sha256: p.sha256.clone(),
            size: p.size,
        });
    }
    Ok(packages)
}

/// A fetch failure keeps its own message; a plain failure to get a file
/// (not a digest mismatch, which has its own advice) says why the tool
/// stops instead of going on with the other suites.
fn in_update_suite(e: Error, suite: &str) -> Error {
    match e {
        Error::Fetch { message, .. } => Error::Fetch {
            message: format!("{suite}: {message}"),
            hint: format!(
                "nothing was cached. The kernel is never taken from the other suites alone, since that could be an older one than {suite} offers; retry later, or choose another mirror with EBPF_CROSS_DEBIAN_MIRROR / EBPF_CROSS_DEBIAN_SECURITY_MIRROR"
            ),
        },
        other => other,
    }
}

/// `--refresh` replaces a cached kernel, but never with an older one: an
/// older kernel offered by the mirror is a replay or a broken archive, and
/// the cached one stays until the user removes it.
fn refuse_older(cache: &Cache, w: &Wanted, parts: &Parts) -> Result<()> {
    let Some(old) = cache.lookup(&w.key())? else {
        return Ok(());
    };
    let Some((image, _)) = parts.first() else {
        return Ok(());
    };
    let Some(had) = old
        .packages
        .iter()
        .find(|p| p.name.starts_with("linux-image-"))
    else {
        return Ok(());
    };
    let offered = &image.pkg;
    if index::version_cmp(&offered.version, &had.version) == std::cmp::Ordering::Less {
        return Err(Error::Fetch {
            message: format!(
                "the mirror offers {} {}, older than the cached {} {}",
                offered.name, offered.version, had.name, had.version
            ),
            hint: format!(
                "the cached kernel is kept. An archive that goes back in time is a replay or mid-sync; retry later. To take the older kernel on purpose, remove the cached one first (cargo ebpf-cross kernel remove --target {} --kernel {})",
                w.profile,
                w.spec()
            ),
        });
    }
    Ok(())
}

/// Where the unpacked kernel's pieces are.
struct Located {
    source: PathBuf,
    build: PathBuf,
    image: PathBuf,
    busybox: PathBuf,
    libbpf_include: PathBuf,
}

fn locate(root: &Path, abi: &str, fl: &str) -> Result<Located> {
    let common = format!("linux-headers-{abi}-common");
    let flavoured = format!("linux-headers-{abi}-{fl}");
    Ok(Located {
        source: first_existing(root, &[format!("usr/src/{common}")], "source tree", &common)?,
        build: first_existing(
            root,
            &[format!("usr/src/{flavoured}")],
            "build tree",
            &flavoured,
        )?,
        // riscv64 ships an uncompressed vmlinux, the others a vmlinuz.
        image: first_existing(
            root,
            &[
                format!("boot/vmlinuz-{abi}-{fl}"),
                format!("boot/vmlinux-{abi}-{fl}"),
            ],
            "kernel image",
            &format!("linux-image-{abi}-{fl}"),
        )?,
        // Merged /usr moved it from bin/ (bookworm) to usr/bin/ (trixie).
        busybox: first_existing(
            root,
            &["bin/busybox".into(), "usr/bin/busybox".into()],
            "busybox",
            "busybox-static",
        )?,
        libbpf_include: first_existing(
            root,
            &["usr/include/bpf/bpf_helpers.h".into()],
            "bpf/bpf_helpers.h",
            "libbpf-dev",
        )
        .map(|_| root.join("usr/include"))?,
    })
}

pub fn fetch(cache: &Cache, w: &Wanted, refresh: bool, keyring: Option<&Path>) -> Result<Record> {
    let key = w.key();
    let _lock = cache.lock(&key)?;
    // With the lock held, anything of this key in staging is a killed
    // fetch's leftover.
    cache.sweep(&key)?;
    // Another fetch may have finished while this one waited for the lock.
    if !refresh {
        if let Some(r) = cache.lookup(&key)? {
            return Ok(r);
        }
    }
    ui::status("Fetching", &format!("reference kernel {}", w.describe()));
    let http = Http::new();
    let keys = Keyring::choose(keyring)?;
    let mut loaded = Vec::new();
    for s in &w.release.suites {
        let base = release::mirror_url(s.mirror);
        if let Some(l) = load_suite(&http, &keys, cache, &base, &s.suite, &w.arch)? {
            loaded.push(l);
        }
    }
    let (abi, parts) = choose_packages(&loaded, w)?;
    if refresh {
        refuse_older(cache, w, &parts)?;
    }
    let staged = cache.staging(&key)?;
    let root = staged.path().join("root");
    std::fs::create_dir_all(&root).map_err(write_err(&root))?;
    // The first file that fails ends the fetch, naming that file: the
    // next-newest kernel of another suite is never taken instead.
    let packages = download_and_unpack(&http, &parts, &root)?;
    let at = locate(&root, &abi, &w.flavour)?;
    let version = crate::kernel_tree::read_version(&at.source, &at.build)?.to_string();
    let record = Record {
        key: key.clone(),
        target: w.profile.clone(),
        release: w.release.series.clone(),
        codename: w.release.codename.clone(),
        arch: w.arch.clone(),
        flavour: w.flavour.clone(),
        abi,
        version,
        source: at.source,
        build: at.build,
        image: at.image,
        busybox: at.busybox,
        libbpf_include: at.libbpf_include,
        packages,
        fetched: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    };
    let installed = cache.install(staged, &record)?;
    ui::status(
        "Cached",
        &format!(
            "linux {} ({} {} {}) in {}",
            installed.version,
            installed.abi,
            installed.arch,
            installed.flavour,
            crate::fsutil::shown(&cache.entry(&key))
        ),
    );
    Ok(installed)
}

/// The DWARF vmlinux of a cached reference kernel that has no BTF, from
/// its `linux-image-<abi>-<flavour>-dbg` package of the same version: the
/// package (hundreds of MB) is verified like every download (signed
/// InRelease, index, sha256) while it streams into a temp file, then read
/// as a stream keeping only the vmlinux, and removed. Returns the temp dir
/// holding `vmlinux`; the caller makes BTF from it and drops it.
pub fn dbg_vmlinux(cache: &Cache, r: &Record) -> Result<(crate::fsutil::TempDir, PathBuf)> {
    let rel = release::find(&r.release)?;
    let image = format!("linux-image-{}-{}", r.abi, r.flavour);
    let dbg = format!("{image}-dbg");
    let version = r
        .packages
        .iter()
        .find(|p| p.name == image || p.name == format!("{image}-unsigned"))
        .map(|p| p.version.clone())
        .ok_or_else(|| Error::Fetch {
            message: format!("the cached kernel {} records no {image} package", r.key),
            hint: format!(
                "fetch it again: cargo ebpf-cross kernel fetch --kernel debian:{}@{} --refresh",
                r.release, r.abi
            ),
        })?;
    let http = Http::new();
    let keys = Keyring::choose(None)?;
    let mut found = None;
    for s in &rel.suites {
        let base = release::mirror_url(s.mirror);
        if let Some(l) = load_suite(&http, &keys, cache, &base, &s.suite, &r.arch)? {
            if let Some(p) = l
                .packages
                .iter()
                .find(|p| p.name == dbg && p.version == version)
            {
                found = Some((p.clone(), l.suite.base.clone(), l.suite.suite.clone()));
                break;
            }
        }
    }
    let (p, base, suite) = found.ok_or_else(|| Error::Fetch {
        message: format!("no {dbg} {version} in debian:{}'s suites", r.release),
        hint: "the mirror may have moved on to a newer ABI: fetch the newest kernel (cargo ebpf-cross kernel fetch --refresh) and build against it".into(),
    })?;
    ui::status(
        "Fetching",
        &format!(
            "{dbg} {version} ({:.0} MiB, {suite}): debian:{} {} has no BTF, and CO-RE mode makes it from this package's DWARF; only its vmlinux is kept",
            p.size as f64 / (1024.0 * 1024.0),
            r.release,
            r.flavour
        ),
    );
    let tmp = crate::fsutil::TempDir::new_in(&cache.root.join("tmp"), ".dbg.")?;
    let file = p
        .filename
        .rsplit('/')
        .next()
        .unwrap_or(&p.filename)
        .to_string();
    let url = format!("{base}/{}", p.filename);
    let deb = http.get_verified_to_file(&url, &file, &p.sha256, p.size, &file, tmp.path())?;
    let root = tmp.path().join("root");
    std::fs::create_dir_all(&root).map_err(write_err(&root))?;
    let keep = [
        format!("usr/lib/debug/boot/vmlinux-{}-{}", r.abi, r.flavour),
        format!("usr/lib/debug/vmlinux-{}-{}", r.abi, r.flavour),
    ];
    let keep: Vec<&str> = keep.iter().map(String::as_str).collect();
    let reader = std::fs::File::open(deb.path()).map_err(crate::error::read_err(deb.path()))?;
    super::deb::unpack_from(&file, std::io::BufReader::new(reader), &keep, &root)?;
    drop(deb);
    let vmlinux = keep
        .iter()
        .map(|k| root.join(k))
        .find(|p| p.is_file())
        .ok_or_else(|| Error::Fetch {
            message: format!("{file} holds no {}", keep.join(" or ")),
            hint: "the package's layout is new to this tool; please report it".into(),
        })?;
    Ok((tmp, vmlinux))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suite(date: Option<i64>, valid_until: Option<i64>) -> Suite {
        Suite {
            base: "http://m/debian".into(),
            suite: "bookworm-security".into(),
            index: super::super::index::ReleaseIndex {
                date,
                valid_until,
                ..Default::default()
            },
        }
    }

    #[test]
    fn an_expired_or_older_inrelease_is_refused_as_a_replay() {
        let d = tempfile::tempdir().unwrap();
        let cache = Cache {
            root: d.path().to_path_buf(),
        };
        let day = 86_400;
        // 2026-12-02 23:13:43 UTC, as bookworm-security was dated.
        let t = index::release_time("Wed, 02 Dec 2026 23:13:43 UTC").unwrap();
        assert_eq!(t, 1_796_253_223);
        let e = refuse_replay(
            &cache,
            "http://m/debian",
            &suite(Some(t - 30 * day), Some(t - 23 * day)),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "http://m/debian/dists/bookworm-security/InRelease expired at 2026-11-09 23:13:43 UTC (its Valid-Until)"
        );
        // Seen first: remembered. Newer: remembered. Older: refused.
        let future = t + 3650 * day;
        refuse_replay(&cache, "http://m/debian", &suite(Some(t), Some(future))).unwrap();
        refuse_replay(
            &cache,
            "http://m/debian",
            &suite(Some(t + day), Some(future)),
        )
        .unwrap();
        let e =
            refuse_replay(&cache, "http://m/debian", &suite(Some(t), Some(future))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "http://m/debian/dists/bookworm-security/InRelease is dated 2026-12-02 23:13:43 UTC, older than the 2026-12-03 23:13:43 UTC already seen here"
        );
        // The same date again is the same index, and fine.
        refuse_replay(&cache, "http://m/debian", &suite(Some(t + day), None)).unwrap();
        // No date stated: nothing to compare.
        refuse_replay(&cache, "http://m/debian", &suite(None, None)).unwrap();
    }

    #[test]
    fn abi_excludes_other_flavours_and_meta_packages() {
        assert_eq!(
            abi_of("linux-image-6.1.0-50-armmp", "6.1", "armmp").as_deref(),
            Some("6.1.0-50")
        );
        assert_eq!(
            abi_of("linux-image-6.12.57+deb13-riscv64", "6.12", "riscv64").as_deref(),
            Some("6.12.57+deb13")
        );
        for n in [
            "linux-image-6.1.0-50-rt-armmp",
            "linux-image-6.1.0-50-armmp-lpae",
            "linux-image-armmp",
            "linux-image-6.12.57+deb13-armmp",
            "linux-image-6.1.0-50-armmp-dbg",
        ] {
            assert_eq!(abi_of(n, "6.1", "armmp"), None, "{n}");
        }
    }
}
