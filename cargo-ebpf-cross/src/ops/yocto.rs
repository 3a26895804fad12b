//! `cargo ebpf-cross yocto ...`: files a Yocto layer needs that only the
//! project's own state can answer (today: the `-crates.inc` of a recipe).

use std::path::PathBuf;

use crate::error::{read_err, Error, Result};
use crate::fsutil;
use crate::options::{CratesIncOptions, YoctoCommand};
use crate::ui;
use crate::yocto;

/// Cargo.lock sits at the workspace root, which only cargo knows for sure.
fn workspace_lock(manifest: Option<&PathBuf>) -> Result<PathBuf> {
    let meta = super::cargo_metadata(
        manifest.map(PathBuf::as_path),
        "run inside the project, or pass --manifest-path path/to/Cargo.toml or --lockfile path/to/Cargo.lock",
    )?;
    Ok(meta.workspace_root.as_std_path().join("Cargo.lock"))
}

pub fn yocto(c: YoctoCommand) -> Result<i32> {
    match c {
        YoctoCommand::CratesInc(c) => crates_inc(c),
    }
}

fn crates_inc(a: CratesIncOptions) -> Result<i32> {
    let lock = match a.lockfile {
        Some(l) => l,
        None => workspace_lock(a.manifest_path.as_ref())?,
    };
    let text = std::fs::read_to_string(&lock).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::Usage {
            message: format!("no Cargo.lock at {}", lock.display()),
            hint: "run `cargo generate-lockfile` (or any cargo build) in the project first; the recipe builds --frozen from it".into(),
        },
        _ => read_err(&lock)(e),
    })?;
    let crates = yocto::locked_crates(&text, &lock)?;
    let inc = yocto::crates_inc(&crates, "Cargo.lock");
    match &a.output {
        Some(out) => {
            fsutil::write_atomic(out, inc.as_bytes())?;
            ui::status(
                "Wrote",
                &format!("{} ({} crates)", fsutil::shown(out), crates.len()),
            );
        }
        None => print!("{inc}"),
    }
    Ok(0)
}
