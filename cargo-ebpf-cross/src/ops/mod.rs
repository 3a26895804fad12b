//! Operations behind each subcommand. Each takes parsed arguments and
//! returns an exit code or a typed error; printing the error is main's job.

pub mod board;
pub mod build;
pub mod compile;
pub mod config;
pub mod doctor;
pub mod flags;
pub mod install;
pub mod kernel;
pub mod matrix;
pub mod new;
pub mod run;
pub mod targets;
pub mod yocto;

use crate::error::{Error, Result};

/// Global switches every operation sees.
#[derive(Debug, Clone, Copy)]
pub struct Global {
    pub dry_run: bool,
}

/// `run` goes to a board over ssh, to a kernel matrix, or to one QEMU
/// boot. Routing here keeps `run`, `matrix` and `board` free of each
/// other's entry points: the two others only use `run`'s pieces.
pub fn run_command(g: Global, a: crate::options::RunOptions) -> Result<i32> {
    build::one_package(&a.build.project)?;
    if a.ssh.is_some() {
        board::run(g, &a)
    } else if matrix::is_matrix(&a) {
        matrix::run(g, a)
    } else {
        run::run(g, a)
    }
}

/// Board files are found by name in `./boards` as well as by path.
pub fn default_boards() -> Vec<std::path::PathBuf> {
    board_dirs(None, None)
}

/// Where board names are looked up: `--boards`, else the loader package's
/// `boards/` (when the package is known) and the current dir's.
pub fn board_dirs(
    boards: Option<&std::path::Path>,
    manifest: Option<&std::path::Path>,
) -> Vec<std::path::PathBuf> {
    match boards {
        Some(b) => vec![b.to_path_buf()],
        None => manifest
            .map(|m| crate::fsutil::parent_dir(m).join("boards"))
            .into_iter()
            .chain(std::iter::once(std::path::PathBuf::from("boards")))
            .collect(),
    }
}

/// Board dirs for commands that may run outside a project (`run
/// --bundle`, `install --bundle`): the loader package's, when there is one.
pub fn project_board_dirs(project: &build::ProjectOptions) -> Vec<std::path::PathBuf> {
    let manifest = if project.boards.is_some() {
        None
    } else {
        build::Project::locate(project).ok()
    };
    board_dirs(project.boards.as_deref(), manifest.as_deref())
}

pub fn jobs(j: Option<usize>) -> usize {
    j.filter(|n| *n > 0).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    })
}

/// Runs `f` over `items` on up to `jobs` threads, keeping input order.
pub fn parallel<T: Sync, R: Send>(items: &[T], jobs: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..jobs.min(items.len()).max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= items.len() {
                    break;
                }
                let r = f(&items[i]);
                results.lock().expect("no panics while held")[i] = Some(r);
            });
        }
    });
    results
        .into_inner()
        .expect("threads joined")
        .into_iter()
        .map(|r| r.expect("every item ran"))
        .collect()
}

/// `cargo metadata --no-deps`, run through our own door (so `-v` shows it
/// and Ctrl-C stops it) and parsed by cargo_metadata. `hint` says where to
/// run instead when cargo cannot read the project.
pub(crate) fn cargo_metadata(
    manifest: Option<&std::path::Path>,
    hint: &str,
) -> Result<cargo_metadata::Metadata> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd =
        crate::plan::Cmd::new(cargo).args(["metadata", "--format-version", "1", "--no-deps"]);
    if let Some(m) = manifest {
        cmd = cmd.arg("--manifest-path").arg(m.display().to_string());
    }
    let unreadable = |why: String| Error::Usage {
        message: format!("cannot read the cargo project: {why}"),
        hint: hint.to_string(),
    };
    let out = cmd.output().map_err(|e| match e {
        Error::CommandFailed { stderr, .. } => unreadable(stderr.trim().to_string()),
        other => other,
    })?;
    cargo_metadata::MetadataCommand::parse(out.stdout_text()).map_err(|e| unreadable(e.to_string()))
}
