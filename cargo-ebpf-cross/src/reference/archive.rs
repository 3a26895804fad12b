//! Talking to a Debian archive: plain HTTP(S) through the user's proxy, the
//! `InRelease` signature checked against Debian's archive keys (embedded,
//! so a host without Debian's keyring still verifies), and every file
//! checked against the digest its signed parent gives. Fails closed: a
//! file that does not verify is never returned.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use pgp::composed::cleartext::CleartextSignedMessage;
use pgp::composed::{Deserializable, SignedPublicKey};
use pgp::types::PublicKeyTrait;

use crate::error::{Error, Result};

use super::index::{self, ReleaseIndex};

/// Debian's archive signing keys for the releases in
/// targets/reference/debian.toml, exported from debian-archive-keyring.
const EMBEDDED_KEYS: &[(&str, &[u8])] = &[
    (
        "bullseye-automatic",
        include_bytes!("../../keys/debian-archive-bullseye-automatic.gpg"),
    ),
    (
        "bullseye-security-automatic",
        include_bytes!("../../keys/debian-archive-bullseye-security-automatic.gpg"),
    ),
    (
        "bullseye-stable",
        include_bytes!("../../keys/debian-archive-bullseye-stable.gpg"),
    ),
    (
        "bookworm-automatic",
        include_bytes!("../../keys/debian-archive-bookworm-automatic.gpg"),
    ),
    (
        "bookworm-security-automatic",
        include_bytes!("../../keys/debian-archive-bookworm-security-automatic.gpg"),
    ),
    (
        "bookworm-stable",
        include_bytes!("../../keys/debian-archive-bookworm-stable.gpg"),
    ),
    (
        "trixie-automatic",
        include_bytes!("../../keys/debian-archive-trixie-automatic.gpg"),
    ),
    (
        "trixie-security-automatic",
        include_bytes!("../../keys/debian-archive-trixie-security-automatic.gpg"),
    ),
    (
        "trixie-stable",
        include_bytes!("../../keys/debian-archive-trixie-stable.gpg"),
    ),
];

/// How often a file is fetched again when the transfer or its digest
/// fails: a mirror mid-sync usually settles within seconds.
const TRIES: u32 = 3;

/// The most an unsigned download (an InRelease, before its signature is
/// checked) may be. Debian's are under 200 KiB; a body that never ends
/// must not fill memory first.
pub const UNSIGNED_CAP: u64 = 16 << 20;

/// How long a download may go without a byte before it counts as stalled:
/// 30 s, or EBPF_CROSS_STALL_TIMEOUT seconds for a slow link.
fn stall() -> Duration {
    Duration::from_secs(crate::settings::stall_timeout(&crate::env::ProcessEnv).value)
}

fn stalled(url: &str) -> String {
    format!(
        "no data from {url} for {} s: the mirror or the network stalled (EBPF_CROSS_STALL_TIMEOUT sets the wait)",
        stall().as_secs()
    )
}

/// The keys an `InRelease` must be signed with.
pub struct Keyring {
    keys: Vec<SignedPublicKey>,
    /// For messages: "Debian's embedded archive keys" or the file.
    pub origin: String,
}

fn parse_keys(bytes: &[u8], origin: &str) -> Result<Vec<SignedPublicKey>> {
    let bad = |e: String| {
        Error::Fetch {
        message: format!("cannot read the OpenPGP keyring {origin}: {e}"),
        hint: "give a binary (`gpg --export`) or ASCII-armoured (`gpg --export --armor`) public keyring".into(),
    }
    };
    let keys: Vec<SignedPublicKey> = if bytes.starts_with(b"-----BEGIN") {
        let (it, _) = SignedPublicKey::from_armor_many(bytes).map_err(|e| bad(e.to_string()))?;
        it.collect::<std::result::Result<_, _>>()
            .map_err(|e| bad(e.to_string()))?
    } else {
        SignedPublicKey::from_bytes_many(bytes)
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| bad(e.to_string()))?
    };
    if keys.is_empty() {
        return Err(bad("it holds no public key".into()));
    }
    Ok(keys)
}

impl Keyring {
    pub fn embedded() -> Keyring {
        let keys = EMBEDDED_KEYS
            .iter()
            .flat_map(|(name, bytes)| {
                parse_keys(bytes, name).expect("embedded keys parse (unit-tested)")
            })
            .collect();
        Keyring {
            keys,
            origin: "Debian's archive keys (embedded)".into(),
        }
    }

    pub fn from_file(path: &Path) -> Result<Keyring> {
        let bytes = std::fs::read(path).map_err(crate::error::read_err(path))?;
        Ok(Keyring {
            keys: parse_keys(&bytes, &format!("`{}`", path.display()))?,
            origin: format!("keyring {}", path.display()),
        })
    }

    /// `--keyring`, else `EBPF_CROSS_DEBIAN_KEYRING` (a private mirror's
    /// key), else the embedded ones.
    pub fn choose(given: Option<&Path>) -> Result<Keyring> {
        let env = &crate::env::ProcessEnv;
        match crate::settings::keyring(given.map(Path::to_path_buf), env) {
            Some(p) => Keyring::from_file(&p.value),
            None => Ok(Keyring::embedded()),
        }
    }

    /// The signed text of a clearsigned `InRelease`, if one of its
    /// signatures verifies with a key here (primary or subkey: Debian signs
    /// with subkeys).
    pub fn verify(&self, url: &str, inrelease: &str) -> Result<String> {
        let fail = |why: String| {
            Error::Fetch {
            message: format!("the signature of {url} does not verify: {why}"),
            hint: format!(
                "the index was checked against {}; a private mirror needs its own key: pass --keyring FILE or set EBPF_CROSS_DEBIAN_KEYRING",
                self.origin
            ),
        }
        };
        let (msg, _) =
            CleartextSignedMessage::from_string(inrelease).map_err(|e| fail(e.to_string()))?;
        let ok = self.keys.iter().any(|k| {
            msg.verify(&k.primary_key).is_ok()
                || k.public_subkeys.iter().any(|s| msg.verify(&s.key).is_ok())
        });
        if !ok {
            let issuers: Vec<String> = msg
                .signatures()
                .iter()
                .flat_map(|s| s.signature.issuer())
                .map(|id| format!("{id:X}"))
                .collect();
            // A signature by one of our own keys that fails to verify means
            // the text changed after signing: say that, not "unknown key",
            // and keyring advice would send the user the wrong way.
            let ours = |id: &String| {
                self.keys.iter().any(|k| {
                    format!("{:X}", k.key_id()) == *id
                        || k.public_subkeys
                            .iter()
                            .any(|s| format!("{:X}", s.key_id()) == *id)
                })
            };
            if let Some(id) = issuers.iter().find(|id| ours(id)) {
                return Err(Error::Fetch {
                    message: format!(
                        "{url} is signed by {id}, one of {}, but the signature does not match its text: the file was altered after signing",
                        self.origin
                    ),
                    hint: "a mirror, proxy or someone on the path changed it; nothing was cached. Retry later, or choose another mirror with EBPF_CROSS_DEBIAN_MIRROR".into(),
                });
            }
            return Err(fail(format!(
                "no signature by a known key (signed by {})",
                if issuers.is_empty() {
                    "nobody".to_string()
                } else {
                    issuers.join(", ")
                }
            )));
        }
        // Only the signed text is read from here on; the normalised form
        // has CRLF line ends.
        Ok(msg.signed_text().replace("\r\n", "\n"))
    }
}

/// One agent per proxy choice, built on first use.
pub struct Http {
    agents: std::sync::Mutex<Vec<(Option<String>, ureq::Agent)>>,
}

fn env_any(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
}

fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let hostport = rest.split('/').next().unwrap_or("");
    let hostport = hostport.rsplit_once('@').map_or(hostport, |(_, h)| h);
    match hostport.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => hostport.split(':').next().unwrap_or(""),
    }
}

/// `no_proxy`: `*`, or a list of hosts and domain suffixes.
fn bypasses(no_proxy: &str, host: &str) -> bool {
    no_proxy.split(',').map(str::trim).any(|e| {
        let e = e.trim_start_matches('.');
        e == "*" || (!e.is_empty() && (host == e || host.ends_with(&format!(".{e}"))))
    })
}

/// The proxy for `url`, as curl and apt read the environment.
pub fn proxy_for(url: &str) -> Option<String> {
    if let Some(np) = env_any(&["no_proxy", "NO_PROXY"]) {
        if bypasses(&np, host_of(url)) {
            return None;
        }
    }
    let scheme = if url.starts_with("https://") {
        env_any(&["https_proxy", "HTTPS_PROXY"])
    } else {
        // curl ignores upper-case HTTP_PROXY (httpoxy); so do we.
        env_any(&["http_proxy"])
    };
    scheme.or_else(|| env_any(&["all_proxy", "ALL_PROXY"]))
}

impl Http {
    pub fn new() -> Http {
        Http {
            agents: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn agent(&self, url: &str) -> Result<ureq::Agent> {
        let proxy = proxy_for(url);
        let mut agents = self.agents.lock().expect("no panics while held");
        if let Some((_, a)) = agents.iter().find(|(p, _)| *p == proxy) {
            return Ok(a.clone());
        }
        let mut b = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(15))
            .timeout_read(stall())
            .user_agent(concat!("cargo-ebpf-cross/", env!("CARGO_PKG_VERSION")));
        if let Some(p) = &proxy {
            let parsed = ureq::Proxy::new(p).map_err(|e| Error::Fetch {
                message: format!("proxy `{p}` is not usable: {e}"),
                hint: "check http_proxy / https_proxy / all_proxy (form: http://host:port)".into(),
            })?;
            b = b.proxy(parsed);
        }
        let a = b.build();
        agents.push((proxy, a.clone()));
        Ok(a)
    }

    /// The whole body of `url`, or an error naming it and whether asking
    /// again may help. `label` turns on progress for large files.
    /// At most `limit` bytes are read: more is an error, whatever the
    /// server's Content-Length said.
    fn get_once(
        &self,
        url: &str,
        label: Option<&str>,
        limit: u64,
    ) -> std::result::Result<Vec<u8>, (Error, bool)> {
        let mut body = Vec::new();
        self.stream_once(url, label, limit, &mut |b| {
            body.extend_from_slice(b);
            Ok(())
        })?;
        Ok(body)
    }

    /// [`Self::get_once`], handing each piece of the body to `sink` as it
    /// comes instead of keeping it: for files too large to hold in memory.
    fn stream_once(
        &self,
        url: &str,
        label: Option<&str>,
        limit: u64,
        sink: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> std::result::Result<u64, (Error, bool)> {
        let net = |message: String| {
            Error::Fetch {
            message,
            hint: "check the network, http_proxy/https_proxy, and EBPF_CROSS_DEBIAN_MIRROR / EBPF_CROSS_DEBIAN_SECURITY_MIRROR".into(),
        }
        };
        let agent = self.agent(url).map_err(|e| (e, false))?;
        let resp = agent.get(url).call().map_err(|e| match e {
            // A missing file will not appear by asking again; a server
            // error or a dropped connection may heal.
            ureq::Error::Status(code, _) => (net(format!("{url}: HTTP {code}")), code >= 500),
            ureq::Error::Transport(t) if t.to_string().contains("timed out") => {
                (net(stalled(url)), true)
            }
            ureq::Error::Transport(t) => (net(format!("cannot fetch {url}: {t}")), true),
        })?;
        let too_big = || {
            Error::Fetch {
                message: format!("{url} is larger than the {limit} bytes expected of it"),
                hint: "a file past its signed size (or an endless one) is a broken or hostile mirror; nothing was cached. Retry later, or choose another mirror with EBPF_CROSS_DEBIAN_MIRROR".into(),
            }
        };
        let len: Option<u64> = resp.header("Content-Length").and_then(|v| v.parse().ok());
        if len.is_some_and(|n| n > limit) {
            return Err((too_big(), true));
        }
        let mut got: u64 = 0;
        // One byte past the limit tells "exactly the limit" from "more".
        let mut reader = resp.into_reader().take(limit + 1);
        let progress = label.map(|l| super::progress::Progress::start(l, len));
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = reader.read(&mut buf).map_err(|e| match e.kind() {
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                    (net(stalled(url)), true)
                }
                _ => (net(format!("reading {url}: {e}")), true),
            })?;
            if n == 0 {
                break;
            }
            got += n as u64;
            if got > limit {
                return Err((too_big(), true));
            }
            sink(&buf[..n]).map_err(|e| (e, false))?;
            if let Some(p) = &progress {
                p.advance(n as u64);
            }
        }
        if let Some(p) = progress {
            p.finish();
        }
        Ok(got)
    }

    /// Like `get_once`, retried on transport errors, for a file with no
    /// signed size: at most [`UNSIGNED_CAP`].
    pub fn get(&self, url: &str, label: Option<&str>) -> Result<Vec<u8>> {
        self.get_limited(url, label, UNSIGNED_CAP)
    }

    pub fn get_limited(&self, url: &str, label: Option<&str>, limit: u64) -> Result<Vec<u8>> {
        let mut last = None;
        for attempt in 0..TRIES {
            if attempt > 0 {
                std::thread::sleep(Duration::from_secs(u64::from(attempt)));
            }
            match self.get_once(url, label, limit) {
                Ok(b) => return Ok(b),
                Err((e, false)) => return Err(e),
                Err((e, true)) => {
                    if attempt + 1 < TRIES {
                        crate::ui::warn(&format!("{e}; trying again ({}/{TRIES})", attempt + 2));
                    }
                    last = Some(e)
                }
            }
        }
        Err(last.expect("at least one try"))
    }

    /// Fetches a file and checks it against the digest its signed parent
    /// gives, trying each URL in turn and again (a mirror mid-sync serves
    /// old and new files side by side). Mismatch after every try is an
    /// error naming the file and both digests.
    pub fn get_verified(
        &self,
        urls: &[String],
        file: &str,
        sha256: &str,
        size: u64,
        label: Option<&str>,
    ) -> Result<Vec<u8>> {
        let mut mismatch = None;
        let mut other = None;
        // Each URL once per round, and another round only while something
        // may heal (a digest mid-sync, a stall): a 404 by hash and by path
        // will not, and a stalled mirror costs TRIES stalls, not TRIES².
        for round in 0..TRIES {
            let mut again = false;
            for url in urls {
                match self.get_once(url, label, size) {
                    Ok(body) => {
                        let got = crate::fsutil::sha256_hex(&body);
                        if got == sha256 && body.len() as u64 == size {
                            return Ok(body);
                        }
                        // Each try is shown with -v; the outcome always is.
                        if crate::ui::get().verbose {
                            crate::ui::warn(&format!(
                                "{url}: sha256 {got} ({} bytes), the signed index says {sha256} ({size} bytes); fetching again",
                                body.len()
                            ));
                        }
                        mismatch = Some(Error::Digest {
                            file: file.to_string(),
                            url: url.clone(),
                            expected: sha256.to_string(),
                            got,
                        });
                        again = true;
                    }
                    Err((e, heals)) => {
                        if heals || crate::ui::get().verbose {
                            crate::ui::warn(&format!("{e}; trying the next source"));
                        }
                        again |= heals;
                        other = Some(e)
                    }
                }
            }
            if !again {
                break;
            }
            if round + 1 < TRIES {
                std::thread::sleep(Duration::from_secs(u64::from(round + 1)));
            }
        }
        Err(mismatch.or(other).expect("at least one url"))
    }
}

impl Http {
    /// [`Self::get_verified`] for a file too large for memory (a -dbg
    /// package is hundreds of MB): streamed into a temp file in `dir` while
    /// hashed, and handed back only if its size and sha256 are the signed
    /// ones. Any other outcome removes the file.
    pub fn get_verified_to_file(
        &self,
        url: &str,
        file: &str,
        sha256: &str,
        size: u64,
        label: &str,
        dir: &Path,
    ) -> Result<crate::fsutil::Part> {
        use sha2::Digest;
        use std::io::Write;
        let mut last = None;
        for attempt in 0..TRIES {
            if attempt > 0 {
                std::thread::sleep(Duration::from_secs(u64::from(attempt)));
            }
            let mut part = crate::fsutil::temp_beside(&dir.join(file))?;
            let path = part.path().to_path_buf();
            let mut hasher = sha2::Sha256::new();
            let got = self.stream_once(url, Some(label), size, &mut |b| {
                hasher.update(b);
                part.write_all(b).map_err(crate::error::write_err(&path))
            });
            match got {
                Ok(n) => {
                    let digest = crate::fsutil::hex(&hasher.finalize());
                    if digest == sha256 && n == size {
                        part.flush().map_err(crate::error::write_err(&path))?;
                        return Ok(part);
                    }
                    last = Some(Error::Digest {
                        file: file.to_string(),
                        url: url.to_string(),
                        expected: sha256.to_string(),
                        got: digest,
                    });
                }
                Err((e, false)) => return Err(e),
                Err((e, true)) => {
                    if attempt + 1 < TRIES {
                        crate::ui::warn(&format!("{e}; trying again ({}/{TRIES})", attempt + 2));
                    }
                    last = Some(e);
                }
            }
        }
        Err(last.expect("at least one try"))
    }
}

impl Default for Http {
    fn default() -> Self {
        Http::new()
    }
}

/// A suite's signed index, and where its files are.
pub struct Suite {
    pub base: String,
    pub suite: String,
    pub index: ReleaseIndex,
}

impl Suite {
    /// Fetches and verifies `dists/<suite>/InRelease`.
    pub fn open(http: &Http, keys: &Keyring, base: &str, suite: &str) -> Result<Suite> {
        let url = format!("{base}/dists/{suite}/InRelease");
        let body = http.get(&url, None)?;
        let text = String::from_utf8(body).map_err(|_| Error::Fetch {
            message: format!("{url} is not text"),
            hint: "check EBPF_CROSS_DEBIAN_MIRROR points at a Debian archive".into(),
        })?;
        // A proxy's error page or a captive portal answers 200 with HTML;
        // that is not a signature problem, and keyring advice would mislead.
        if !text.starts_with("-----BEGIN PGP SIGNED MESSAGE-----") {
            let html = text.trim_start().starts_with('<');
            return Err(Error::Fetch {
                message: format!(
                    "{url} is {}, not a clearsigned InRelease",
                    if html { "an HTML page" } else { "some other file" }
                ),
                hint: "something other than a Debian archive answered: check EBPF_CROSS_DEBIAN_MIRROR / EBPF_CROSS_DEBIAN_SECURITY_MIRROR and any proxy (http_proxy) or captive portal on the way".into(),
            });
        }
        let signed = keys.verify(&url, &text)?;
        Ok(Suite {
            base: base.to_string(),
            suite: suite.to_string(),
            index: index::parse_release(&signed),
        })
    }

    /// The URLs of a file below `dists/<suite>/`, by-hash first when the
    /// archive offers it (immune to a mirror replacing the file mid-way).
    pub fn urls(&self, path: &str, sha256: &str) -> Vec<String> {
        let dir = format!("{}/dists/{}", self.base, self.suite);
        let plain = format!("{dir}/{path}");
        if self.index.by_hash {
            let parent = path.rsplit_once('/').map_or("", |(d, _)| d);
            vec![format!("{dir}/{parent}/by-hash/SHA256/{sha256}"), plain]
        } else {
            vec![plain]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_keys_parse_and_include_subkeys() {
        let k = Keyring::embedded();
        assert!(k.keys.len() >= 9, "{}", k.keys.len());
        assert!(k.keys.iter().any(|k| !k.public_subkeys.is_empty()));
    }

    #[test]
    fn proxy_choice_follows_the_environment_conventions() {
        assert_eq!(
            host_of("http://user@deb.debian.org:80/debian"),
            "deb.debian.org"
        );
        assert_eq!(host_of("http://[::1]:8080/x"), "::1");
        assert!(bypasses("localhost, .debian.org", "deb.debian.org"));
        assert!(bypasses("debian.org", "debian.org"));
        assert!(!bypasses("debian.org", "notdebian.org"));
        assert!(bypasses("*", "x"));
        assert!(!bypasses("", "x"));
    }
}
