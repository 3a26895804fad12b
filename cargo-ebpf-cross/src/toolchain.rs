//! Finding clang and llc, and making sure they belong together.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::settings::{Origin, Setting};

/// Newest first, so the best installed pair is picked.
const SUFFIXES: std::ops::RangeInclusive<u32> = 10..=22;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub path: PathBuf,
    /// Full version, e.g. `14.0.6`.
    pub version: String,
    pub major: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Toolchain {
    pub clang: Tool,
    pub llc: Tool,
    /// clang's own header dir, for `-nostdinc -isystem`.
    pub resource_include: PathBuf,
}

/// The clang and llc the user named, each with the layer that named it
/// (resolved by `resolve::layer`); None searches PATH.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolOverrides {
    pub clang: Option<Setting<String>>,
    pub llc: Option<Setting<String>>,
}

fn resolve_override(kind: &str, named: &Setting<String>) -> Result<PathBuf> {
    let value = &named.value;
    let (origin, undo) = match &named.origin {
        Origin::Env(var) => (format!("env {var}"), format!("unset {var}")),
        other => (other.to_string(), format!("leave out {other}")),
    };
    which::which(value).map_err(|_| Error::ToolMissing {
        tool: format!("{kind} `{value}` (from {origin})"),
        hint: format!("{origin} must name an installed program or an existing path; {undo} to search for {kind} automatically"),
    })
}

fn parse_version(text: &str, marker: &str) -> Option<(String, u32)> {
    let i = text.find(marker)? + marker.len();
    let v: String = text[i..]
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let major = v.split('.').next()?.parse().ok()?;
    Some((v, major))
}

/// A probe that exits non-zero is broken, not silent: its empty stdout
/// would otherwise become `-isystem ""`.
fn run_capture(tool: &Path, args: &[&str]) -> Result<String> {
    Ok(crate::plan::Cmd::new(tool)
        .args(args.iter().copied())
        .output()?
        .stdout_text())
}

/// Probing runs the tools, which a no-op build must not do; results are
/// cached by path, size and mtime.
#[derive(Debug, Default, Serialize, Deserialize)]
struct ProbeCache {
    entries: Vec<(String, u64, i128, Tool, Option<PathBuf>)>,
}

pub fn cache_dir() -> Option<PathBuf> {
    crate::settings::cache_dir(&crate::env::ProcessEnv).map(|s| s.value)
}

struct Prober {
    file: Option<PathBuf>,
    cache: ProbeCache,
    dirty: bool,
}

impl Prober {
    fn new() -> Self {
        let file = cache_dir().map(|d| d.join("tools.json"));
        let cache = file
            .as_ref()
            .and_then(|f| std::fs::read(f).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Prober {
            file,
            cache,
            dirty: false,
        }
    }

    /// Returns the tool and, for clang, its resource include dir.
    fn probe(&mut self, path: &Path, is_clang: bool) -> Result<(Tool, Option<PathBuf>)> {
        let key = path.display().to_string();
        let st = crate::fsutil::stamp(path);
        if let Some((size, mtime)) = st {
            if let Some(e) = self
                .cache
                .entries
                .iter()
                .find(|e| e.0 == key && e.1 == size && e.2 == mtime)
            {
                return Ok((e.3.clone(), e.4.clone()));
            }
        }
        let text = run_capture(path, &["--version"])?;
        let marker = if is_clang {
            "clang version"
        } else {
            "LLVM version"
        };
        let (version, major) = parse_version(&text, marker).ok_or_else(|| {
            Error::ToolMismatch(format!(
                "`{}` did not report a version ({marker} ...); is it really {}?",
                path.display(),
                if is_clang { "clang" } else { "llc" }
            ))
        })?;
        let tool = Tool {
            path: path.to_path_buf(),
            version,
            major,
        };
        let res = if is_clang {
            let inc = run_capture(path, &["-print-file-name=include"])?;
            let inc = PathBuf::from(inc.trim());
            if !inc.is_absolute() || !inc.join("stddef.h").is_file() {
                return Err(Error::ToolMismatch(format!(
                    "`{} -print-file-name=include` gave `{}`, which is not clang's header dir (no stddef.h there)",
                    path.display(),
                    inc.display()
                )));
            }
            Some(inc)
        } else {
            None
        };
        if let Some((size, mtime)) = st {
            self.cache.entries.retain(|e| e.0 != key);
            self.cache
                .entries
                .push((key, size, mtime, tool.clone(), res.clone()));
            self.dirty = true;
        }
        Ok((tool, res))
    }

    fn save(&self) {
        if !self.dirty {
            return;
        }
        if let (Some(f), Ok(bytes)) = (&self.file, serde_json::to_vec(&self.cache)) {
            // Best effort: a read-only cache only costs a re-probe.
            let _ = crate::fsutil::write_atomic(f, &bytes);
        }
    }
}

fn suffixed(base: &str) -> impl Iterator<Item = String> + '_ {
    SUFFIXES
        .rev()
        .map(move |v| format!("{base}-{v}"))
        .chain(std::iter::once(base.to_string()))
}

/// Finds clang and a matching llc. Overrides must exist; llc must have the
/// same major version as clang because the IR between them is not stable.
pub fn find(ov: &ToolOverrides) -> Result<Toolchain> {
    let mut prober = Prober::new();
    let result = find_with(ov, &mut prober);
    prober.save();
    result
}

/// With neither tool named, the newest clang that has an llc of its own
/// major wins: a stray `clang-18` without `llc-18` first on PATH must not
/// hide a working clang-14/llc-14 pair.
fn first_pair(prober: &mut Prober) -> Result<Option<Toolchain>> {
    let mut clangs: Vec<PathBuf> = suffixed("clang")
        .filter_map(|n| which::which(n).ok())
        .collect();
    clangs.dedup();
    for p in clangs {
        let (clang, resource) = prober.probe(&p, true)?;
        let names = std::iter::once(format!("llc-{}", clang.major)).chain(suffixed("llc"));
        for n in names {
            if let Ok(lp) = which::which(&n) {
                let (llc, _) = prober.probe(&lp, false)?;
                if llc.major == clang.major {
                    return Ok(Some(Toolchain {
                        clang,
                        llc,
                        resource_include: resource.unwrap_or_default(),
                    }));
                }
            }
        }
    }
    Ok(None)
}

fn find_with(ov: &ToolOverrides, prober: &mut Prober) -> Result<Toolchain> {
    if ov.clang.is_none() && ov.llc.is_none() {
        if let Some(t) = first_pair(prober)? {
            return Ok(t);
        }
    }
    let (clang, resource) = match &ov.clang {
        Some(c) => {
            let p = resolve_override("clang", c)?;
            prober.probe(&p, true)?
        }
        None => {
            let p = suffixed("clang")
                .find_map(|n| which::which(n).ok())
                .ok_or_else(|| Error::ToolMissing {
                    tool: "clang".into(),
                    hint: "install it (`apt-get install clang-14 llvm-14`) or set CLANG=/path/to/clang".into(),
                })?;
            prober.probe(&p, true)?
        }
    };
    let llc = match &ov.llc {
        Some(l) => {
            let p = resolve_override("llc", l)?;
            let (t, _) = prober.probe(&p, false)?;
            if t.major != clang.major {
                return Err(Error::ToolMismatch(format!(
                    "llc `{}` is LLVM {} but clang `{}` is {}; their majors must match",
                    t.path.display(),
                    t.version,
                    clang.path.display(),
                    clang.version
                )));
            }
            t
        }
        None => {
            let mut seen = Vec::new();
            let names = std::iter::once(format!("llc-{}", clang.major)).chain(suffixed("llc"));
            let mut found = None;
            for n in names {
                if let Ok(p) = which::which(&n) {
                    let (t, _) = prober.probe(&p, false)?;
                    if t.major == clang.major {
                        found = Some(t);
                        break;
                    }
                    seen.push(format!("{} ({})", t.path.display(), t.version));
                }
            }
            found.ok_or_else(|| {
                if seen.is_empty() {
                    Error::ToolMissing {
                        tool: format!("llc for clang {}", clang.version),
                        hint: format!(
                            "install it (`apt-get install llvm-{}`) or set LLC=/path/to/llc",
                            clang.major
                        ),
                    }
                } else {
                    Error::ToolMismatch(format!(
                        "no llc matches clang {} (`{}`); found only {}",
                        clang.version,
                        clang.path.display(),
                        seen.join(", ")
                    ))
                }
            })?
        }
    };
    Ok(Toolchain {
        clang,
        llc,
        resource_include: resource.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_parsing() {
        let clang = "Debian clang version 14.0.6\nTarget: x86_64-pc-linux-gnu\n";
        assert_eq!(
            parse_version(clang, "clang version"),
            Some(("14.0.6".into(), 14))
        );
        let llc = "LLVM (http://llvm.org/):\n  LLVM version 14.0.6\n";
        assert_eq!(
            parse_version(llc, "LLVM version"),
            Some(("14.0.6".into(), 14))
        );
        assert_eq!(parse_version("gcc (Debian) 12", "clang version"), None);
    }

    #[test]
    fn missing_override_is_an_error() {
        let ov = ToolOverrides {
            clang: Some(Setting::new(
                "/nonexistent/clang-99".into(),
                Origin::Env("CLANG".into()),
            )),
            llc: None,
        };
        let e = find(&ov).unwrap_err();
        assert_eq!(
            e.to_string(),
            "clang `/nonexistent/clang-99` (from env CLANG) not found"
        );
        assert_eq!(
            e.hint(),
            "env CLANG must name an installed program or an existing path; unset CLANG to search for clang automatically"
        );
    }

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[test]
    fn a_failing_probe_is_an_error_not_an_empty_answer() {
        let d = tempfile::tempdir().unwrap();
        // Prints a version, then fails the include probe with no output.
        let clang = script(
            d.path(),
            "clang",
            "case \"$1\" in --version) echo 'clang version 14.0.6';; *) echo boom >&2; exit 3;; esac",
        );
        let mut prober = Prober {
            file: None,
            cache: ProbeCache::default(),
            dirty: false,
        };
        let e = prober.probe(&clang, true).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "`{} -print-file-name=include` failed (exit status: 3)",
                clang.display()
            )
        );
        assert_eq!(e.hint(), "it said:\nboom");
    }

    #[test]
    fn suffix_order_is_newest_first() {
        let v: Vec<String> = suffixed("clang").take(2).collect();
        assert_eq!(v, ["clang-22", "clang-21"]);
        assert_eq!(suffixed("clang").last().unwrap(), "clang");
    }
}
