//! `cargo ebpf-cross build`: objects, loader, verification and bundle, for
//! one or more boards. The steps, in the order a build takes them:
//! `select` finds the packages, `prepare` makes each board's job,
//! `objects` compiles and checks the BPF objects, `loaders` groups the
//! boards into cargo runs, and `bundle` makes each board's tarball.

use std::path::PathBuf;

pub use crate::options::{BuildCommon, BuildOptions, MessageFormat, ProjectOptions};

use std::path::Path;

use crate::error::{Error, Result};
use crate::loader_build::{CargoFlags, PackageMetadata};
use crate::ops::Global;
use crate::ui;

mod bundle;
mod loaders;
mod objects;
mod prepare;
mod select;

use prepare::TargetJob;

/// The loader package and what its metadata asks for.
#[derive(Debug, Clone)]
pub struct Project {
    pub manifest: PathBuf,
    pub package: String,
    pub version: String,
    pub bin: String,
    pub programs: Vec<PathBuf>,
    pub bindings: Vec<PathBuf>,
    /// `static` in the package metadata, when it says.
    pub static_: Option<bool>,
    pub metadata: PackageMetadata,
    pub target_dir: PathBuf,
}

fn usage(message: String, hint: &str) -> Error {
    Error::Usage {
        message,
        hint: hint.to_string(),
    }
}

/// Every command but `build` works on one package, so `-p` given twice is
/// refused up front, even where the package is optional.
pub fn one_package(opts: &ProjectOptions) -> Result<()> {
    match opts.package.as_slice() {
        [] | [_] => Ok(()),
        many => Err(usage(
            format!(
                "this command takes one loader package, and -p named {}: {}",
                many.len(),
                many.join(", ")
            ),
            "pass a single -p PKG; `build` is the command that builds several packages",
        )),
    }
}

fn emit_json(
    kind: fn(crate::message::Artifact) -> crate::message::Message,
    package: &str,
    target: &str,
    path: &Path,
    sha: &str,
) {
    crate::message::emit(&kind(crate::message::Artifact {
        package: package.into(),
        path: path.into(),
        sha256: sha.into(),
        target: target.into(),
    }));
}

fn cargo_flags(opts: &BuildCommon) -> CargoFlags {
    CargoFlags {
        release: opts.release,
        quiet: ui::get().quiet,
        target_dir: opts.project.target_dir.clone(),
        offline: opts.offline,
        locked: opts.locked,
        frozen: opts.frozen,
        features: opts
            .features
            .iter()
            .flat_map(|f| f.split([',', ' ']))
            .filter(|f| !f.is_empty())
            .map(str::to_string)
            .collect(),
        all_features: opts.all_features,
        no_default_features: opts.no_default_features,
    }
}

/// The result of one target, for the summary.
struct Outcome {
    package: String,
    target: String,
    result: Result<PathBuf>,
}

fn build_all(
    g: Global,
    opts: &BuildCommon,
    project: &Project,
    targets: &[String],
    kernel_dir: Option<&str>,
) -> Vec<Outcome> {
    let outcome = |target: &str, result: Result<PathBuf>| Outcome {
        package: project.package.clone(),
        target: target.to_string(),
        result,
    };
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut jobs: Vec<TargetJob> = Vec::new();
    for t in targets {
        match prepare::prepare(g, project, opts, t, kernel_dir) {
            Ok(j) => jobs.push(j),
            Err(e) => outcomes.push(outcome(t, Err(e))),
        }
    }
    let results = if g.dry_run {
        dry_run(g, project, opts, &jobs)
    } else {
        objects_then_loaders(g, project, opts, &jobs)
    };
    for (j, result) in jobs.iter().zip(results) {
        outcomes.push(outcome(&j.profile_name, result));
    }
    outcomes
}

/// The plans of every job, objects then loaders. A target that cannot be
/// planned fails the dry run just as it would fail the build; the others
/// still print their plans.
fn dry_run(
    g: Global,
    project: &Project,
    opts: &BuildCommon,
    jobs: &[TargetJob],
) -> Vec<Result<PathBuf>> {
    for j in jobs {
        println!("# target {}", j.profile_name);
        super::compile::print_plans(&j.plans);
    }
    let all: Vec<&TargetJob> = jobs.iter().collect();
    loaders::build_loaders(g, project, opts, &all)
}

/// BPF compiles of every board share one pool; loaders then build in as
/// few cargo runs as their triples allow. One result per job, in order.
fn objects_then_loaders(
    g: Global,
    project: &Project,
    opts: &BuildCommon,
    jobs: &[TargetJob],
) -> Vec<Result<PathBuf>> {
    let compile_err = objects::compile_all(opts, jobs);
    let cwd = std::env::current_dir().unwrap_or_default();
    let mut compiled: Vec<&TargetJob> = Vec::new();
    // Kept in the order the targets were given, for the summary.
    let mut by_job: Vec<Option<Result<PathBuf>>> = jobs.iter().map(|_| None).collect();
    for (i, (j, err)) in jobs.iter().zip(compile_err).enumerate() {
        let ok = match err {
            Some(e) => Err(e),
            None => objects::finish(j, &cwd),
        };
        match ok {
            Ok(()) => compiled.push(j),
            Err(e) => by_job[i] = Some(Err(e)),
        }
    }
    let mut loaders = loaders::build_loaders(g, project, opts, &compiled).into_iter();
    by_job
        .into_iter()
        .map(|slot| match slot {
            Some(r) => r,
            None => loaders.next().expect("one result per compiled board"),
        })
        .collect()
}

pub fn build(g: Global, a: BuildOptions) -> Result<i32> {
    refuse_repeated_targets(&a.target)?;
    let projects = Project::load_many(&a.opts.project, a.workspace)?;
    // One package after another: each cargo run builds one package for
    // its boards, and the runs share the target dir and so every
    // dependency built once.
    let outcomes: Vec<Outcome> = projects
        .iter()
        .flat_map(|p| build_all(g, &a.opts, p, &a.target, None))
        .collect();
    let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
    if a.opts.message_format == MessageFormat::Json {
        emit_summary(&outcomes, failed);
    }
    if outcomes.len() == 1 && failed == 1 {
        let o = outcomes.into_iter().next().expect("one");
        return Err(o.result.expect_err("failed"));
    }
    if (outcomes.len() > 1 && !ui::get().quiet && !g.dry_run) || failed > 0 {
        print_summary(&outcomes, failed, projects.len() > 1);
    }
    if failed > 0 {
        return Err(Error::TargetsFailed {
            failed,
            total: outcomes.len(),
        });
    }
    Ok(0)
}

/// The same board twice would build and bundle twice into one place.
fn refuse_repeated_targets(targets: &[String]) -> Result<()> {
    for (i, t) in targets.iter().enumerate() {
        if targets[..i].contains(t) {
            return Err(usage(
                format!("--target {t} is given twice"),
                "name each board once; two boards of one triple need two board files (boards/NAME.toml)",
            ));
        }
    }
    Ok(())
}

fn emit_summary(outcomes: &[Outcome], failed: usize) {
    let targets = outcomes
        .iter()
        .map(|o| crate::message::SummaryTarget {
            package: o.package.clone(),
            target: o.target.clone(),
            ok: o.result.is_ok(),
            bundle: o.result.as_ref().ok().cloned(),
            error: o.result.as_ref().err().map(|e| e.to_string()),
        })
        .collect();
    crate::message::emit(&crate::message::Message::Summary(crate::message::Summary {
        ok: outcomes.len() - failed,
        failed,
        targets,
    }));
}

/// One line per board (and package, when there are several), with the
/// first line of each failure's hint.
fn print_summary(outcomes: &[Outcome], failed: usize, several: bool) {
    let label = |o: &Outcome| {
        if several {
            format!("{} ({})", o.target, o.package)
        } else {
            o.target.clone()
        }
    };
    ui::status(
        "Summary",
        &format!("{} built, {} failed", outcomes.len() - failed, failed),
    );
    for o in outcomes {
        match &o.result {
            Ok(p) => eprintln!("  {:<16} ok      {}", label(o), crate::fsutil::shown(p)),
            Err(e) => {
                eprintln!("  {:<16} FAILED  {}", label(o), e);
                let h = e.hint();
                if !h.is_empty() {
                    eprintln!(
                        "  {:<16}         help: {}",
                        "",
                        h.lines().next().unwrap_or("")
                    );
                }
            }
        }
    }
}

/// Builds one target's bundle and returns the tarball's path (for `run`).
pub fn build_bundle(g: Global, opts: &BuildCommon, target: &str) -> Result<PathBuf> {
    build_bundle_in(g, opts, target, None)
}

/// [`build_bundle`] for one kernel of a matrix: its objects, state and
/// bundle go under `<board's out dir>/kernels/<kernel_dir>/`.
pub fn build_bundle_in(
    g: Global,
    opts: &BuildCommon,
    target: &str,
    kernel_dir: Option<&str>,
) -> Result<PathBuf> {
    let project = Project::load(&opts.project)?;
    let mut outcomes = build_all(g, opts, &project, &[target.to_string()], kernel_dir);
    match outcomes.pop() {
        Some(o) => o.result,
        None => Err(usage(format!("nothing was built for {target}"), "")),
    }
}
