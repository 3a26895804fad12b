//! `cargo ebpf-cross new` and `init`: write a ready project from the
//! embedded template (see `scaffold`).

use std::path::{Path, PathBuf};

use crate::options::{InitOptions, NewOptions};

use crate::error::{write_err, Error, Result};
use crate::fsutil;
use crate::ops::Global;
use crate::profile::Profile;
use crate::scaffold::{self, Vars};
use crate::ui;

const NAME_HINT: &str =
    "use ASCII letters, digits, `-` and `_`, starting with a letter, for example `my-probe`";

fn usage(message: String, hint: impl Into<String>) -> Error {
    Error::Usage {
        message,
        hint: hint.into(),
    }
}

fn checked_name(name: &str, hint: &str) -> Result<()> {
    scaffold::check_name(name)
        .map_err(|why| usage(format!("invalid project name `{name}`: {why}"), hint))
}

/// The sample board says `extends = "<target>"`, which only a built-in can
/// satisfy wherever the project is moved.
fn checked_target(target: &str) -> Result<String> {
    let p = Profile::load(target)?;
    if p.file.is_some() {
        return Err(usage(
            format!("`{target}` is a profile file; --target here takes a built-in profile"),
            format!(
                "built-in profiles: {}; the new project's boards/myboard.toml extends it",
                crate::arch::builtin_names().join(", ")
            ),
        ));
    }
    Ok(p.name)
}

fn print_next_steps(dir: Option<&Path>, target: &str) {
    println!("Next:");
    if let Some(d) = dir {
        println!("  cd {}", d.display());
    }
    println!(
        "  cargo ebpf-cross build --target {target} --release --kernel-src <tree> [--kernel-build <build tree>]"
    );
    println!("or put the tree in boards/myboard.toml and:");
    println!("  cargo ebpf-cross build --target myboard --release");
}

/// Writes every file under `root`, returning the ones written so far with
/// the error if one fails, so the caller can undo exactly what it did.
fn write_all(root: &Path, files: &[(PathBuf, String)]) -> (Vec<PathBuf>, Result<()>) {
    let mut written = Vec::new();
    for (rel, text) in files {
        let dest = root.join(rel);
        if let Err(e) = fsutil::write_atomic(&dest, text.as_bytes()) {
            return (written, Err(e));
        }
        written.push(dest);
    }
    (written, Ok(()))
}

pub fn new(g: Global, a: NewOptions) -> Result<i32> {
    checked_name(&a.name, NAME_HINT)?;
    let target = checked_target(&a.target)?;
    let dest = a.path.clone().unwrap_or_else(|| PathBuf::from(&a.name));
    if dest.symlink_metadata().is_ok() {
        return Err(usage(
            format!("destination `{}` already exists", dest.display()),
            "choose another NAME or --path DIR; to add the project files to an existing directory, run `cargo ebpf-cross init` in it",
        ));
    }
    let files = scaffold::files(&Vars::new(&a.name, &target));
    if g.dry_run {
        for (rel, _) in &files {
            println!("{}", dest.join(rel).display());
        }
        return Ok(0);
    }
    // The outermost directory this run creates (`a` for --path a/b/c when
    // none exists yet). Once `dest` is made, everything under it is ours,
    // so removing it undoes a failed run completely.
    let created_root = dest
        .ancestors()
        .filter(|d| !d.as_os_str().is_empty() && d.symlink_metadata().is_err())
        .last()
        .unwrap_or(&dest)
        .to_path_buf();
    // Before `dest` is made, only the empty parents this run made go:
    // remove_dir leaves anything that is not empty.
    let undo_parents = |e: Error| {
        if created_root != dest {
            for d in dest.ancestors().skip(1) {
                if std::fs::remove_dir(d).is_err() || d == created_root {
                    break;
                }
            }
        }
        e
    };
    let parent = fsutil::parent_dir(&dest);
    std::fs::create_dir_all(&parent)
        .map_err(write_err(&parent))
        .map_err(undo_parents)?;
    // create_dir, not create_dir_all: if something appeared at `dest` since
    // the check above, this fails instead of writing into it.
    std::fs::create_dir(&dest)
        .map_err(write_err(&dest))
        .map_err(undo_parents)?;
    if let (_, Err(e)) = write_all(&dest, &files) {
        let _ = std::fs::remove_dir_all(&created_root);
        return Err(e);
    }
    ui::status(
        "Created",
        &format!(
            "project `{}` in {} (boards/myboard.toml extends {target})",
            a.name,
            dest.display()
        ),
    );
    print_next_steps(Some(&dest), &target);
    Ok(0)
}

pub fn init(g: Global, a: InitOptions) -> Result<i32> {
    let cwd = std::env::current_dir().map_err(|e| {
        usage(
            format!("cannot tell the current directory: {e}"),
            "run it from an existing directory",
        )
    })?;
    let name = match &a.name {
        Some(n) => {
            checked_name(n, NAME_HINT)?;
            n.clone()
        }
        None => {
            let n = cwd
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            checked_name(
                &n,
                &format!("the name comes from the directory's; pass --name NAME ({NAME_HINT})"),
            )?;
            n
        }
    };
    let target = checked_target(&a.target)?;
    let files = scaffold::files(&Vars::new(&name, &target));
    let existing: Vec<String> = files
        .iter()
        .filter(|(rel, _)| cwd.join(rel).symlink_metadata().is_ok())
        .map(|(rel, _)| rel.display().to_string())
        .collect();
    if !existing.is_empty() {
        return Err(usage(
            format!(
                "init would overwrite {} existing file{}: {}",
                existing.len(),
                if existing.len() == 1 { "" } else { "s" },
                existing.join(", ")
            ),
            "move them out of the way first, or create a fresh directory with `cargo ebpf-cross new NAME`",
        ));
    }
    if g.dry_run {
        for (rel, _) in &files {
            println!("{}", rel.display());
        }
        return Ok(0);
    }
    // Directories this run creates, deepest first, to undo a failed run.
    let mut new_dirs: Vec<PathBuf> = Vec::new();
    for (rel, _) in &files {
        for dir in rel.ancestors().skip(1) {
            let full = cwd.join(dir);
            if !dir.as_os_str().is_empty() && !full.exists() && !new_dirs.contains(&full) {
                new_dirs.push(full);
            }
        }
    }
    new_dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    let (written, result) = write_all(&cwd, &files);
    if let Err(e) = result {
        for f in written {
            let _ = std::fs::remove_file(f);
        }
        for d in new_dirs {
            // remove_dir refuses a non-empty directory: whatever else is
            // there stays.
            let _ = std::fs::remove_dir(d);
        }
        return Err(e);
    }
    ui::status(
        "Created",
        &format!(
            "project `{name}` in the current directory (boards/myboard.toml extends {target})"
        ),
    );
    print_next_steps(None, &target);
    Ok(0)
}
