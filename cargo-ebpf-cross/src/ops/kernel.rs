//! `cargo ebpf-cross kernel fetch|list|remove`: the reference-kernel cache
//! from the command line.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::options::{KernelCommand, KernelFetchOptions, KernelListOptions, KernelRemoveOptions};
use crate::profile::Profile;
use crate::reference::{self, Cache, Record, Spec, Wanted};

pub fn kernel(cmd: KernelCommand) -> Result<i32> {
    match cmd {
        KernelCommand::Fetch(a) => fetch(a),
        KernelCommand::List(a) => list(a),
        KernelCommand::Remove(a) => remove(a),
    }
}

fn profile(target: &str, boards: Option<&std::path::Path>) -> Result<Profile> {
    Profile::load_with(target, &crate::ops::board_dirs(boards, None))
}

/// `--kernel`, else the profile's default.
fn chosen(profile: &Profile, kernel: Option<&str>) -> Result<Wanted> {
    let spec = match kernel.filter(|k| !k.is_empty()) {
        Some(k) => Spec::parse(k)?,
        None => match reference::default_spec(profile) {
            Some(s) => s?,
            None => {
                return Err(Error::NoReference {
                    message: format!("profile `{}` has no reference kernel", profile.name),
                    available: vec![],
                })
            }
        },
    };
    reference::wanted(profile, &spec)
}

/// What `fetch --json` prints.
#[derive(Serialize)]
struct FetchJson<'a> {
    target: &'a str,
    kernel: String,
    release: &'a str,
    codename: &'a str,
    arch: &'a str,
    flavour: &'a str,
    version: &'a str,
    abi: &'a str,
    source: &'a std::path::Path,
    build: &'a std::path::Path,
    image: &'a std::path::Path,
    busybox: &'a std::path::Path,
    libbpf_include: &'a std::path::Path,
    packages: Vec<String>,
}

fn fetch(a: KernelFetchOptions) -> Result<i32> {
    let p = profile(&a.target, a.boards.as_deref())?;
    let env = &crate::env::ProcessEnv;
    let named = crate::resolve::fetch_kernel(a.kernel.clone(), env);
    let w = chosen(&p, named.as_ref().map(|s| s.value.as_str()))?;
    let cache = Cache::open()?;
    let r = match cache.lookup(&w.key())? {
        Some(r) if !a.refresh => {
            crate::ui::status(
                "Fresh",
                &format!(
                    "linux {} ({} {} {}), cached in {}",
                    r.version,
                    r.abi,
                    r.arch,
                    r.flavour,
                    crate::fsutil::shown(&cache.entry(&r.key))
                ),
            );
            r
        }
        _ => reference::fetch_into(&cache, &w, a.refresh, a.keyring.as_deref())?,
    };
    if a.json {
        let j = FetchJson {
            target: &p.name,
            kernel: w.spec().to_string(),
            release: &r.release,
            codename: &r.codename,
            arch: &r.arch,
            flavour: &r.flavour,
            version: &r.version,
            abi: &r.abi,
            source: &r.source,
            build: &r.build,
            image: &r.image,
            busybox: &r.busybox,
            libbpf_include: &r.libbpf_include,
            packages: r
                .packages
                .iter()
                .map(|p| format!("{}={}", p.name, p.version))
                .collect(),
        };
        println!("{}", serde_json::to_string(&j).expect("serialisable"));
    } else {
        print_record(&w, &r);
    }
    Ok(0)
}

fn print_record(w: &Wanted, r: &Record) {
    println!(
        "{} {}: linux {} (abi {})",
        w.profile,
        w.spec(),
        r.version,
        r.abi
    );
    for (k, v) in [
        ("source", &r.source),
        ("build", &r.build),
        ("image", &r.image),
        ("busybox", &r.busybox),
        ("libbpf", &r.libbpf_include),
    ] {
        println!("  {k:<8} {}", v.display());
    }
}

#[derive(Serialize)]
struct ListRow {
    target: String,
    kernel: String,
    codename: String,
    arch: String,
    flavour: String,
    default: bool,
    cached: bool,
    version: Option<String>,
    abi: Option<String>,
}

fn list(a: KernelListOptions) -> Result<i32> {
    let profiles: Vec<Profile> = match &a.target {
        Some(t) => vec![profile(t, a.boards.as_deref())?],
        None => crate::arch::builtin_names()
            .iter()
            .map(|n| Profile::load(n))
            .collect::<Result<_>>()?,
    };
    let cache = Cache::open()?;
    let cached = cache.list()?;
    let mut rows = Vec::new();
    for p in &profiles {
        let default = reference::default_spec(p).and_then(|s| s.ok());
        let mut wanted = reference::all_wanted(p);
        // Pinned ABIs in the cache are kernels of this profile too.
        for r in cached.iter().filter(|r| r.key.contains('@')) {
            if let Ok(w) = reference::wanted(
                p,
                &Spec {
                    release: r.release.clone(),
                    abi: Some(r.abi.clone()),
                },
            ) {
                if w.key() == r.key {
                    wanted.push(w);
                }
            }
        }
        if wanted.is_empty() {
            rows.push(ListRow {
                target: p.name.clone(),
                kernel: "-".into(),
                codename: "-".into(),
                arch: "-".into(),
                flavour: "-".into(),
                default: false,
                cached: false,
                version: None,
                abi: None,
            });
            continue;
        }
        for w in wanted {
            let r = cached.iter().find(|r| r.key == w.key());
            rows.push(ListRow {
                target: p.name.clone(),
                kernel: w.spec().to_string(),
                codename: w.release.codename.clone(),
                arch: w.arch.clone(),
                flavour: w.flavour.clone(),
                default: default.as_ref() == Some(&w.spec()),
                cached: r.is_some(),
                version: r.map(|r| r.version.clone()),
                abi: r.map(|r| r.abi.clone()),
            });
        }
    }
    if a.json {
        println!("{}", serde_json::to_string(&rows).expect("serialisable"));
        return Ok(0);
    }
    println!("TARGET       KERNEL                   CODENAME  ARCH     FLAVOUR      CACHED");
    for r in rows {
        let state = match (&r.version, &r.abi) {
            _ if r.kernel == "-" => "no reference kernel".to_string(),
            (Some(v), Some(abi)) => format!("yes: linux {v} (abi {abi})"),
            _ => "no".to_string(),
        };
        let kernel = if r.default {
            format!("{} (default)", r.kernel)
        } else {
            r.kernel
        };
        println!(
            "{:<12} {:<24} {:<9} {:<8} {:<12} {}",
            r.target, kernel, r.codename, r.arch, r.flavour, state
        );
    }
    Ok(0)
}

fn remove(a: KernelRemoveOptions) -> Result<i32> {
    let p = profile(&a.target, a.boards.as_deref())?;
    let cache = Cache::open()?;
    let keys: Vec<String> = if a.all {
        // Pinned entries too: everything this profile's table names. Told
        // by the key alone, so an entry whose record no longer reads (or
        // was refused) can still be removed.
        let table = p.reference.clone().unwrap_or_default().debian;
        let swept = cache.sweep_all()?;
        if swept > 0 {
            crate::ui::status(
                "Removed",
                &format!("{swept} leftover(s) of interrupted fetches from the cache's staging dir"),
            );
        }
        cache
            .keys()?
            .into_iter()
            .filter(|key| {
                table.iter().any(|k| {
                    let tail = format!("-{}-{}", k.arch, k.flavour);
                    *key == format!("debian-{}{tail}", k.release)
                        || (key.starts_with(&format!("debian-{}@", k.release))
                            && key.ends_with(&tail))
                })
            })
            .collect()
    } else {
        vec![chosen(&p, a.kernel.as_deref())?.key()]
    };
    let mut removed = 0;
    for k in &keys {
        if cache.remove(k)? {
            crate::ui::status("Removed", &format!("{}", cache.entry(k).display()));
            removed += 1;
        }
    }
    if removed == 0 && !a.all {
        return Err(Error::Usage {
            message: format!(
                "{} is not cached",
                a.kernel
                    .as_deref()
                    .unwrap_or("the default reference kernel")
            ),
            hint: format!(
                "`cargo ebpf-cross kernel list --target {}` shows what is",
                p.name
            ),
        });
    }
    Ok(0)
}
