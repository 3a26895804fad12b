//! Reading Debian's indexes: the (already verified) text of an `InRelease`
//! file, and a `Packages` index; plus dpkg's version order, to take the
//! newest of several candidates.

use std::cmp::Ordering;
use std::collections::BTreeMap;

/// What a suite's `InRelease` says about its files.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReleaseIndex {
    /// `Date:`, seconds since the epoch.
    pub date: Option<i64>,
    /// `Valid-Until:`, where the suite has one (security suites do).
    pub valid_until: Option<i64>,
    pub by_hash: bool,
    pub architectures: Vec<String>,
    /// Path below `dists/<suite>/` → (sha256, size).
    pub sha256: BTreeMap<String, (String, u64)>,
}

/// An InRelease time, `Sat, 11 Jul 2026 10:16:37 UTC`, in seconds since
/// the epoch. Anything else is None, which the replay checks treat as
/// "not stated" (they can only refuse what is stated).
pub fn release_time(v: &str) -> Option<i64> {
    chrono::NaiveDateTime::parse_from_str(v.trim(), "%a, %d %b %Y %H:%M:%S UTC")
        .ok()
        .map(|t| t.and_utc().timestamp())
}

/// Parses the signed text of an `InRelease`.
pub fn parse_release(text: &str) -> ReleaseIndex {
    let mut out = ReleaseIndex::default();
    let mut in_sha256 = false;
    for line in text.lines() {
        if line.starts_with(' ') {
            if in_sha256 {
                let mut it = line.split_whitespace();
                if let (Some(h), Some(sz), Some(path)) = (it.next(), it.next(), it.next()) {
                    if let Ok(sz) = sz.parse() {
                        out.sha256
                            .insert(path.to_string(), (h.to_ascii_lowercase(), sz));
                    }
                }
            }
            continue;
        }
        in_sha256 = false;
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        match k {
            "Acquire-By-Hash" => out.by_hash = v.trim() == "yes",
            "Date" => out.date = release_time(v),
            "Valid-Until" => out.valid_until = release_time(v),
            "Architectures" => {
                out.architectures = v.split_whitespace().map(str::to_string).collect()
            }
            "SHA256" => in_sha256 = true,
            _ => {}
        }
    }
    out
}

/// One stanza of a `Packages` index, the fields we use.
#[derive(Debug, Clone, PartialEq)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub filename: String,
    pub sha256: String,
    pub size: u64,
}

/// Parses a `Packages` index, keeping only stanzas whose name `keep`
/// accepts (the index is tens of MB; the candidates are a handful).
pub fn parse_packages(text: &str, keep: impl Fn(&str) -> bool) -> Vec<Package> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let mut name = None;
        let mut version = None;
        let mut filename = None;
        let mut sha256 = None;
        let mut size = None;
        for line in stanza.lines() {
            let Some((k, v)) = line.split_once(": ") else {
                continue;
            };
            match k {
                "Package" => {
                    if !keep(v) {
                        break;
                    }
                    name = Some(v)
                }
                "Version" => version = Some(v),
                "Filename" => filename = Some(v),
                "SHA256" => sha256 = Some(v),
                "Size" => size = v.trim().parse().ok(),
                _ => {}
            }
        }
        if let (Some(n), Some(v), Some(f), Some(h), Some(s)) =
            (name, version, filename, sha256, size)
        {
            out.push(Package {
                name: n.to_string(),
                version: v.to_string(),
                filename: f.to_string(),
                sha256: h.trim().to_ascii_lowercase(),
                size: s,
            });
        }
    }
    out
}

/// dpkg's order of versions (`[epoch:]upstream[-revision]`).
pub fn version_cmp(a: &str, b: &str) -> Ordering {
    fn split(v: &str) -> (u64, &str, &str) {
        let (epoch, rest) = match v.split_once(':') {
            Some((e, r)) => (e.parse().unwrap_or(0), r),
            None => (0, v),
        };
        match rest.rsplit_once('-') {
            Some((u, r)) => (epoch, u, r),
            None => (epoch, rest, ""),
        }
    }
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| part_cmp(ua, ub))
        .then_with(|| part_cmp(ra, rb))
}

/// `~` sorts before everything, even the end; letters before other signs.
fn char_order(c: Option<u8>) -> i32 {
    match c {
        Some(b'~') => -1,
        None => 0,
        Some(c) if c.is_ascii_alphabetic() => c as i32,
        Some(c) => c as i32 + 256,
    }
}

fn part_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    while !a.is_empty() || !b.is_empty() {
        // The non-digit run.
        loop {
            let ca = a.first().copied().filter(|c| !c.is_ascii_digit());
            let cb = b.first().copied().filter(|c| !c.is_ascii_digit());
            if ca.is_none() && cb.is_none() {
                break;
            }
            let o = char_order(ca).cmp(&char_order(cb));
            if o != Ordering::Equal {
                return o;
            }
            a = &a[1..];
            b = &b[1..];
        }
        // The digit run, as a number.
        let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
        let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let na = std::str::from_utf8(&a[..da])
            .unwrap()
            .trim_start_matches('0');
        let nb = std::str::from_utf8(&b[..db])
            .unwrap()
            .trim_start_matches('0');
        let o = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
        if o != Ordering::Equal {
            return o;
        }
        a = &a[da..];
        b = &b[db..];
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_version_order() {
        use Ordering::*;
        for (a, b, want) in [
            ("6.1.176-1", "6.1.158-1", Greater),
            ("6.1.0-9", "6.1.0-10", Less),
            ("1:1.0", "2.0", Greater),
            ("1.0~rc1", "1.0", Less),
            ("6.12.57-1", "6.12.57-1", Equal),
            ("1.36.1-9", "1.36.1-9+deb12u1", Less),
            ("1.0a", "1.0+", Less),
        ] {
            assert_eq!(version_cmp(a, b), want, "{a} vs {b}");
        }
    }

    #[test]
    fn release_and_packages() {
        let r = parse_release(
            "Origin: Debian\nAcquire-By-Hash: yes\nArchitectures: all armhf arm64\nMD5Sum:\n 00 1 main/binary-armhf/Packages.xz\nSHA256:\n AB 12 main/binary-armhf/Packages.xz\n cd 34 main/binary-armhf/Packages\nOther: x\n",
        );
        assert!(r.by_hash);
        assert_eq!(r.architectures, ["all", "armhf", "arm64"]);
        assert_eq!(
            r.sha256.get("main/binary-armhf/Packages.xz"),
            Some(&("ab".to_string(), 12))
        );
        assert_eq!(r.sha256.len(), 2);
        let p = parse_packages(
            "Package: a\nVersion: 1\nFilename: pool/a.deb\nSize: 5\nSHA256: FF\n\nPackage: b\nVersion: 2\nFilename: pool/b.deb\nSize: 6\nSHA256: ee\n",
            |n| n == "b",
        );
        assert_eq!(
            p,
            vec![Package {
                name: "b".into(),
                version: "2".into(),
                filename: "pool/b.deb".into(),
                sha256: "ee".into(),
                size: 6
            }]
        );
    }
}
