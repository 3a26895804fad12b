//! Cargo run grouping: each board's loader checks and bindings, the
//! boards split into as few cargo runs as their triples allow, and each
//! run's loaders handed to bundling as cargo reports them.

use std::path::PathBuf;

use super::bundle::{announce_bundle, make_bundle, Made};
use super::prepare::TargetJob;
use super::{emit_json, BuildCommon, MessageFormat, Project};
use crate::bundle;
use crate::env::ProcessEnv;
use crate::error::{Error, Result};
use crate::loader_build::{self, BoardInput, LoaderInput, LoaderPlan, LoaderTarget};
use crate::ops::Global;
use crate::ui;

/// Loaders for every board whose objects are built, in as few cargo runs
/// as [`loader_build::group`] allows, then each board's bundle. Returns one
/// result per job, in the jobs' order.
pub(super) fn build_loaders(
    g: Global,
    project: &Project,
    opts: &BuildCommon,
    jobs: &[&TargetJob],
) -> Vec<Result<PathBuf>> {
    let mut results: Vec<Option<Result<PathBuf>>> = jobs.iter().map(|_| None).collect();
    // Each board's own checks; a board that fails them stays out of cargo.
    let mut ready: Vec<(usize, LoaderTarget)> = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        match ready_target(g, project, opts, job) {
            Ok(t) => ready.push((i, t)),
            Err(e) => results[i] = Some(Err(e)),
        }
    }
    let grouping = grouping(project, &ready);
    let flags = super::cargo_flags(opts);
    let runs = Runs {
        g,
        project,
        opts,
        jobs,
        ready,
        input: LoaderInput {
            manifest: &project.manifest,
            package: &project.package,
            bin: &project.bin,
            flags: &flags,
        },
    };
    for run in &grouping.runs {
        for (i, r) in runs.one(run) {
            results[i] = Some(r);
        }
    }
    results
        .into_iter()
        .map(|r| r.expect("every board has a result"))
        .collect()
}

/// A board's part of a cargo run, once the board's own checks pass.
fn ready_target(
    g: Global,
    project: &Project,
    opts: &BuildCommon,
    job: &TargetJob,
) -> Result<LoaderTarget> {
    before_loader(g, project, opts, job)
        .and_then(|_| loader_target(project, job))
        .and_then(|t| {
            if !g.dry_run {
                loader_build::check_linker(&t)?;
                loader_build::ensure_rust_target(
                    &job.rust_target,
                    !opts.no_rustup,
                    opts.offline || opts.frozen,
                )?;
            }
            Ok(t)
        })
}

/// The ready boards split into cargo runs (indexes into `ready`), said with
/// -v.
fn grouping(project: &Project, ready: &[(usize, LoaderTarget)]) -> loader_build::Grouping {
    let boards: Vec<LoaderTarget> = ready.iter().map(|(_, t)| t.clone()).collect();
    let grouping = loader_build::group(
        &boards,
        project.metadata.per_target_env.unwrap_or(false),
        &project.package,
        &ProcessEnv,
    );
    if ui::get().verbose {
        for n in &grouping.notes {
            ui::status("Grouping", n);
        }
    }
    grouping
}

/// What every cargo run of one package shares.
struct Runs<'a> {
    g: Global,
    project: &'a Project,
    opts: &'a BuildCommon,
    jobs: &'a [&'a TargetJob],
    /// The boards that passed their checks: (index into `jobs`, target).
    ready: Vec<(usize, LoaderTarget)>,
    input: LoaderInput<'a>,
}

impl Runs<'_> {
    /// One cargo run for the ready boards `run` (indexes into `ready`):
    /// each board's result, keyed by its index into `jobs`.
    fn one(&self, run: &[usize]) -> Vec<(usize, Result<PathBuf>)> {
        let (jobs, ready) = (self.jobs, &self.ready);
        let targets: Vec<_> = run.iter().map(|&r| ready[r].1.clone()).collect();
        let plan = loader_build::plan(&self.input, &targets, &ProcessEnv);
        if self.g.dry_run {
            println!("{}", plan.cargo.display());
            return run
                .iter()
                .map(|&r| (ready[r].0, Ok(self.would_be(r))))
                .collect();
        }
        for t in &targets {
            ui::status(
                "Linking",
                &format!(
                    "loader ({}, {})",
                    loader_build::cargo_name(&t.rust_target),
                    t.linker.describe()
                ),
            );
        }
        let (outcome, made) = self.cargo_and_bundles(&plan, run);
        match outcome {
            Ok(exes) => {
                let mut out = Vec::new();
                for ((&r, exe), slot) in run.iter().zip(exes).zip(made) {
                    let i = ready[r].0;
                    // `run` reports every executable it returns, so a board
                    // with a loader has its bundle made by now.
                    let m = exe.and_then(|_| slot.into_inner().expect("made when reported"));
                    if let Ok(m) = &m {
                        announce_bundle(self.project, self.opts, jobs[i], m);
                    }
                    out.push((i, m.map(|m| m.path)));
                }
                out
            }
            Err(e) => run
                .iter()
                .map(|&r| {
                    let e = Error::Loader {
                        message: e.to_string(),
                        hint: e.hint(),
                    };
                    (ready[r].0, Err(e))
                })
                .collect(),
        }
    }

    /// Where ready board `r`'s bundle would go, so `run --dry-run` can name
    /// it.
    fn would_be(&self, r: usize) -> PathBuf {
        let job = self.jobs[self.ready[r].0];
        let project = self.project;
        let top = bundle::top_dir(&project.package, &project.version, &job.profile_name);
        bundle::tarball_path(&job.out_dir, &top)
    }

    /// Runs cargo, and makes each board's bundle as soon as cargo reports
    /// its loader.
    fn cargo_and_bundles(&self, plan: &LoaderPlan, run: &[usize]) -> (CargoOutcome, Vec<Slot>) {
        let (jobs, ready, project) = (self.jobs, &self.ready, self.project);
        // Same-triple boards run one after another into the same
        // target/<triple>/ dir, so each bundle is made before the next run.
        // Within a run, a board's bundle is made as soon as cargo reports
        // its loader, while cargo goes on with the others.
        let made: Vec<Slot> = run.iter().map(|_| std::sync::OnceLock::new()).collect();
        let outcome = std::thread::scope(|s| {
            loader_build::run(plan, |k, exe| {
                let (slot, job, t) = (&made[k], jobs[ready[run[k]].0], &ready[run[k]].1);
                let exe = exe.to_path_buf();
                s.spawn(move || {
                    let _ = slot.set(make_bundle(project, job, t, &exe));
                });
            })
        });
        (outcome, made)
    }
}

/// A board's bundle, set by the thread that makes it.
type Slot = std::sync::OnceLock<Result<Made>>;
/// What [`loader_build::run`] returns: one executable per target.
type CargoOutcome = Result<Vec<Result<PathBuf>>>;

/// The objects' JSON lines and the bindings: what the loader build needs
/// from one board, once its objects are compiled.
fn before_loader(g: Global, project: &Project, opts: &BuildCommon, job: &TargetJob) -> Result<()> {
    if g.dry_run {
        return Ok(());
    }
    if opts.message_format == MessageFormat::Json {
        for p in &job.plans {
            let bytes = std::fs::read(&p.output).map_err(crate::error::read_err(&p.output))?;
            emit_json(
                crate::message::Message::Object,
                &project.package,
                &job.profile_name,
                &p.output,
                &crate::fsutil::sha256_hex(&bytes),
            );
        }
    }
    if !project.bindings.is_empty() {
        // Checked before any header, so the error is about libclang itself.
        crate::bindings::ensure_libclang()?;
    }
    let profile = &job.ctx.profile;
    for h in &project.bindings {
        let plan = crate::bindings::plan(
            h,
            &job.obj_dir,
            &job.rust_target,
            job.ctx.tree.as_ref(),
            &profile.arch.srcarch,
            &job.ctx.toolchain.resource_include,
        );
        crate::bindings::run(&plan)?;
    }
    Ok(())
}

/// The board's part of a cargo run: its linker and flags.
fn loader_target(project: &Project, job: &TargetJob) -> Result<LoaderTarget> {
    let static_ = &job.static_;
    if ui::get().verbose {
        ui::status(
            "Static",
            &format!(
                "{} (from {}) for {}",
                static_.value, static_.origin, job.profile_name
            ),
        );
    }
    let pkg_dir = crate::fsutil::parent_dir(&project.manifest);
    let user = loader_build::read_user_cargo(&pkg_dir, &job.rust_target);
    let board = BoardInput {
        profile: &job.ctx.profile,
        rust_target: &job.rust_target,
        static_: static_.value,
        obj_dir: &job.obj_dir,
        kernel_version: job.ctx.version.map(|v| v.to_string()),
    };
    loader_build::loader_target(&board, &user, &ProcessEnv)
}
