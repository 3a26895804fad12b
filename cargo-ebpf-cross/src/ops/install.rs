//! `cargo ebpf-cross install`: unpack a bundle into an install layout, the
//! way a recipe's do_install or a rootfs script wants it:
//!
//! ```text
//! DESTDIR/BINDIR/<loader>                          0755
//! DESTDIR/DATADIR/ebpf/<package>/<object>.o        0644
//! DESTDIR/DATADIR/ebpf/<package>/manifest.json     0644
//! ```
//!
//! Every file is checked against the manifest's sha256 before anything is
//! written, so a damaged bundle installs nothing.

use std::path::{Component, Path, PathBuf};

use crate::bundle::{self, Bundle};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::ops::build::Project;
use crate::ops::Global;
use crate::options::{InstallOptions, ProjectOptions};
use crate::profile::Profile;
use crate::ui;

fn usage(message: String, hint: impl Into<String>) -> Error {
    Error::Usage {
        message,
        hint: hint.into(),
    }
}

/// The profile name a --target resolves to, looked up as `build` does.
fn profile_name(spec: &str, project: &ProjectOptions) -> Result<String> {
    let dirs = crate::ops::project_board_dirs(project);
    Ok(Profile::load_with(spec, &dirs)?.name)
}

/// Where `build --target` left the bundle, from the same project lookup.
fn built_bundle(a: &InstallOptions, spec: &str) -> Result<PathBuf> {
    let project = Project::load(&a.project)?;
    let name = profile_name(spec, &a.project)?;
    let top = bundle::top_dir(&project.package, &project.version, &name);
    let path = bundle::tarball_path(&bundle::dir(&project.target_dir, &name), &top);
    if !path.is_file() {
        return Err(usage(
            format!("no bundle for target `{name}`: `{}` does not exist", path.display()),
            format!("build it first with `cargo ebpf-cross build --target {spec}` (and the same --target-dir), or pass --bundle PATH"),
        ));
    }
    Ok(path)
}

/// A single plain file name, as a loader or object name must be.
fn plain_name(s: &str) -> bool {
    let mut c = Path::new(s).components();
    matches!((c.next(), c.next()), (Some(Component::Normal(_)), None))
}

/// `dir` (absolute like /usr/bin, or relative) placed under `destdir`; `..`
/// is refused so nothing lands outside it.
fn under(destdir: &Path, dir: &Path, flag: &str) -> Result<PathBuf> {
    let mut out = destdir.to_path_buf();
    for c in dir.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                let message = format!("{flag} `{}` must not contain `..`", dir.display());
                let hint = format!(
                    "give {flag} as an absolute path such as /usr/bin; it is taken under --destdir"
                );
                return Err(usage(message, hint));
            }
        }
    }
    Ok(out)
}

/// One file to write: bundle path, bytes, destination, mode.
struct Item<'a> {
    from: &'a str,
    bytes: &'a [u8],
    to: PathBuf,
    mode: u32,
}

/// Checks the bundle against its manifest and plans where each file goes.
fn plan<'a>(path: &Path, bundle: &'a Bundle, a: &InstallOptions) -> Result<Vec<Item<'a>>> {
    let bad = |problem: String| {
        usage(
            format!("bundle `{}` {problem}", path.display()),
            "rebuild it with `cargo ebpf-cross build`, or fetch it again and check it against SHA256SUMS",
        )
    };
    let manifest = &bundle.manifest;
    let get = |name: &str| bundle.file(name);
    if !plain_name(&manifest.package) {
        return Err(bad(format!(
            "names its package `{}`, which is not a plain name",
            manifest.package
        )));
    }
    let bindir = under(&a.destdir, &a.bindir, "--bindir")?;
    let objdir = under(&a.destdir, &a.datadir, "--datadir")?
        .join("ebpf")
        .join(&manifest.package);

    let mut items = Vec::new();
    let loader = manifest
        .loader
        .strip_prefix("bin/")
        .filter(|n| plain_name(n))
        .ok_or_else(|| {
            bad(format!(
                "has a loader path `{}` outside bin/",
                manifest.loader
            ))
        })?;
    let f = get(&manifest.loader).expect("Bundle::open checked the loader");
    items.push(Item {
        from: &f.path,
        bytes: &f.data,
        to: bindir.join(loader),
        mode: 0o755,
    });
    for o in &manifest.objects {
        let name = o
            .strip_prefix("bpf/")
            .filter(|n| plain_name(n))
            .ok_or_else(|| bad(format!("has an object path `{o}` outside bpf/")))?;
        let f = get(o).ok_or_else(|| bad(format!("lacks the object `{o}`")))?;
        items.push(Item {
            from: &f.path,
            bytes: &f.data,
            to: objdir.join(name),
            mode: 0o644,
        });
    }
    let mj = get("manifest.json").expect("Bundle::open read the manifest");
    items.push(Item {
        from: "manifest.json",
        bytes: &mj.data,
        to: objdir.join("manifest.json"),
        mode: 0o644,
    });
    Ok(items)
}

pub fn install(g: Global, a: InstallOptions) -> Result<i32> {
    super::build::one_package(&a.project)?;
    let path = match (&a.bundle, &a.target) {
        (Some(b), _) => b.clone(),
        (None, Some(t)) => built_bundle(&a, t)?,
        (None, None) => {
            return Err(usage(
                "nothing to install".into(),
                "pass --bundle PATH.tar.gz, or --target TARGET for the bundle `build` made",
            ))
        }
    };
    // Every file is checked against the manifest's sha256 on reading, so
    // a damaged bundle installs nothing.
    let bundle = Bundle::open(&path)?;
    let items = plan(&path, &bundle, &a)?;
    let manifest = &bundle.manifest;
    if let (Some(_), Some(spec)) = (&a.bundle, &a.target) {
        let want = profile_name(spec, &a.project)?;
        if manifest.target != want {
            return Err(usage(
                format!(
                    "bundle `{}` was built for `{}`, not `{want}`",
                    path.display(),
                    manifest.target
                ),
                "pass the bundle of that target, or drop --target",
            ));
        }
    }
    for it in &items {
        if g.dry_run {
            println!("install -m {:04o} {} {}", it.mode, it.from, it.to.display());
            continue;
        }
        fsutil::write_atomic_mode(&it.to, it.bytes, it.mode)?;
        ui::status("Installing", &it.to.display().to_string());
    }
    if !g.dry_run {
        ui::status(
            "Installed",
            &format!(
                "{} {} ({}) into {}",
                manifest.package,
                manifest.package_version,
                manifest.target,
                a.destdir.display()
            ),
        );
    }
    Ok(0)
}
