//! Package selection: which workspace members `build` (and every other
//! command) works on, and what each one's metadata asks for.

use std::path::{Path, PathBuf};

use super::{one_package, usage, Project, ProjectOptions};
use crate::bpf_compile;
use crate::error::{Error, Result};
use crate::loader_build::{self, PackageMetadata};

fn metadata(opts: &ProjectOptions) -> Result<cargo_metadata::Metadata> {
    crate::ops::cargo_metadata(
        opts.manifest_path.as_deref(),
        "run inside the loader's package, or pass --manifest-path path/to/Cargo.toml",
    )
}

fn names(packages: &[&cargo_metadata::Package]) -> String {
    packages
        .iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The workspace member called `name`.
fn named<'m>(
    members: &[&'m cargo_metadata::Package],
    name: &str,
) -> Result<&'m cargo_metadata::Package> {
    members
        .iter()
        .find(|p| p.name == *name)
        .copied()
        .ok_or_else(|| {
            usage(
                format!("package `{name}` is not in the workspace"),
                &format!("members: {}", names(members)),
            )
        })
}

/// The members with `[package.metadata.ebpf-cross]`; at least one.
fn loader_packages<'m>(
    members: &[&'m cargo_metadata::Package],
) -> Result<Vec<&'m cargo_metadata::Package>> {
    let with_meta: Vec<_> = members
        .iter()
        .filter(|p| p.metadata.get("ebpf-cross").is_some())
        .copied()
        .collect();
    if with_meta.is_empty() {
        return Err(usage(
            "no loader package: no package in the workspace has [package.metadata.ebpf-cross]"
                .into(),
            "add `[package.metadata.ebpf-cross]` (it may be empty) to the loader's Cargo.toml, or pass -p PKG",
        ));
    }
    Ok(with_meta)
}

/// The loader package: `-p`, else the one member with our metadata.
fn select<'m>(
    meta: &'m cargo_metadata::Metadata,
    opts: &ProjectOptions,
) -> Result<&'m cargo_metadata::Package> {
    one_package(opts)?;
    let members: Vec<&cargo_metadata::Package> = meta.workspace_packages();
    match opts.package.first() {
        Some(name) => named(&members, name),
        None => match loader_packages(&members)?.as_slice() {
            [one] => Ok(*one),
            many => Err(usage(
                format!("several loader packages: {}", names(many)),
                "choose one with -p PKG (`build` also takes -p more than once, or --workspace for all of them)",
            )),
        },
    }
}

/// The loader packages `build` makes bundles of: every member with our
/// metadata for `--workspace`, each `-p` in the order given, else the one
/// [`select`] finds.
fn select_many<'m>(
    meta: &'m cargo_metadata::Metadata,
    opts: &ProjectOptions,
    workspace: bool,
) -> Result<Vec<&'m cargo_metadata::Package>> {
    let members: Vec<&cargo_metadata::Package> = meta.workspace_packages();
    if workspace {
        return loader_packages(&members);
    }
    if opts.package.len() > 1 {
        let mut out: Vec<&cargo_metadata::Package> = Vec::new();
        for name in &opts.package {
            let p = named(&members, name)?;
            // `-p a -p a` builds `a` once, as cargo does.
            if !out.iter().any(|o| o.name == p.name) {
                out.push(p);
            }
        }
        return Ok(out);
    }
    Ok(vec![select(meta, opts)?])
}

impl Project {
    /// The loader package's Cargo.toml, found the way `build` finds it, so
    /// that `run` and `install` look up boards in the same place.
    pub fn locate(opts: &ProjectOptions) -> Result<PathBuf> {
        let meta = metadata(opts)?;
        Ok(select(&meta, opts)?
            .manifest_path
            .as_std_path()
            .to_path_buf())
    }

    pub fn load(opts: &ProjectOptions) -> Result<Project> {
        let meta = metadata(opts)?;
        Project::of(&meta, select(&meta, opts)?, opts)
    }

    /// The packages `build` was asked for, each loaded as [`Project::load`]
    /// would.
    pub fn load_many(opts: &ProjectOptions, workspace: bool) -> Result<Vec<Project>> {
        let meta = metadata(opts)?;
        select_many(&meta, opts, workspace)?
            .into_iter()
            .map(|pkg| Project::of(&meta, pkg, opts))
            .collect()
    }

    fn of(
        meta: &cargo_metadata::Metadata,
        pkg: &cargo_metadata::Package,
        opts: &ProjectOptions,
    ) -> Result<Project> {
        let md = package_metadata(pkg)?;
        let bin = loader_bin(pkg, &md)?;
        let pkg_dir = pkg
            .manifest_path
            .parent()
            .map(|p| p.as_std_path().to_path_buf())
            .unwrap_or_default();
        let globs = md
            .programs
            .clone()
            .unwrap_or_else(|| vec![loader_build::DEFAULT_PROGRAMS.to_string()]);
        let programs = expand(&pkg_dir, &globs, "programs")?;
        if programs.is_empty() {
            return Err(usage(
                format!("no BPF programs match {} in {}", globs.join(", "), pkg_dir.display()),
                "put BPF C sources in bpf/*.bpf.c, or set `programs = [\"...\"]` in [package.metadata.ebpf-cross]",
            ));
        }
        bpf_compile::check_sources(&programs)?;
        let bindings = expand(&pkg_dir, md.bindings.as_deref().unwrap_or(&[]), "bindings")?;
        let target_dir = opts
            .target_dir
            .clone()
            .map(|d| std::env::current_dir().unwrap_or_default().join(d))
            .unwrap_or_else(|| meta.target_directory.as_std_path().to_path_buf());
        Ok(Project {
            manifest: pkg.manifest_path.as_std_path().to_path_buf(),
            package: pkg.name.to_string(),
            version: pkg.version.to_string(),
            bin,
            programs,
            bindings,
            static_: md.static_,
            metadata: md,
            target_dir,
        })
    }
}

/// `[package.metadata.ebpf-cross]`, or its defaults when the package has none.
fn package_metadata(pkg: &cargo_metadata::Package) -> Result<PackageMetadata> {
    let md = match pkg.metadata.get("ebpf-cross") {
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
            usage(
                format!(
                    "[package.metadata.ebpf-cross] in {}: {e}",
                    pkg.manifest_path
                ),
                "known keys: programs, bindings, bin, static, per_target_env, kernel",
            )
        })?,
        None => PackageMetadata::default(),
    };
    Ok(md)
}

/// The loader binary: `bin` from the metadata, else the package's only one.
fn loader_bin(pkg: &cargo_metadata::Package, md: &PackageMetadata) -> Result<String> {
    let bins: Vec<&str> = pkg
        .targets
        .iter()
        .filter(|t| t.is_bin())
        .map(|t| t.name.as_str())
        .collect();
    let bin = match (&md.bin, bins.as_slice()) {
        (Some(b), _) if bins.contains(&b.as_str()) => b.clone(),
        (Some(b), _) => {
            return Err(usage(
                format!("`bin = \"{b}\"` is not a binary of package `{}`", pkg.name),
                &format!("its binaries: {}", bins.join(", ")),
            ))
        }
        (None, [one]) => one.to_string(),
        (None, []) => {
            return Err(usage(
                format!("package `{}` has no binary to use as the loader", pkg.name),
                "add src/main.rs or a [[bin]] target",
            ))
        }
        (None, many) => {
            return Err(usage(
                format!("package `{}` has several binaries ({}) and no `bin` in [package.metadata.ebpf-cross]", pkg.name, many.join(", ")),
                "set `bin = \"<name>\"` in [package.metadata.ebpf-cross]",
            ))
        }
    };
    Ok(bin)
}

fn expand(dir: &Path, patterns: &[String], key: &str) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for pat in patterns {
        let full = dir.join(pat);
        let g = glob::glob(&full.display().to_string()).map_err(|e| {
            usage(
                format!("bad glob `{pat}` in `{key}`: {e}"),
                "use globs like bpf/*.bpf.c",
            )
        })?;
        let mut hits: Vec<PathBuf> = g.filter_map(|e| e.ok()).filter(|p| p.is_file()).collect();
        if hits.is_empty() && !pat.contains(['*', '?', '[']) {
            return Err(Error::SourceMissing(full));
        }
        hits.sort();
        out.extend(hits);
    }
    out.dedup();
    Ok(out)
}
