//! The BPF objects of every board: staged, compiled in one shared pool,
//! then written up in compile_commands.json and checked against the kernel.

use std::path::Path;

use super::prepare::{self, TargetJob};
use super::BuildCommon;
use crate::bpf_compile::{self, CompilePlan};
use crate::error::{Error, Result};
use crate::loader_build;
use crate::ui;

/// Compiles every board's objects in one pool; the first error of each
/// board, if any, in the jobs' order (later ones are reported as they
/// come).
pub(super) fn compile_all(opts: &BuildCommon, jobs: &[TargetJob]) -> Vec<Option<Error>> {
    let staged: Vec<Result<()>> = jobs.iter().map(prepare::stage).collect();
    let work: Vec<(usize, &CompilePlan)> = jobs
        .iter()
        .enumerate()
        .filter(|(i, _)| staged[*i].is_ok())
        .flat_map(|(i, j)| j.plans.iter().map(move |p| (i, p)))
        .collect();
    let results = std::thread::scope(|s| {
        s.spawn(loader_build::warm_up);
        crate::ops::parallel(&work, crate::ops::jobs(opts.jobs), |(i, p)| {
            bpf_compile::run(p, &jobs[*i].ctx)
        })
    });
    let mut compile_err: Vec<Option<Error>> = staged.into_iter().map(|r| r.err()).collect();
    for ((i, _), r) in work.iter().zip(results) {
        if let Err(e) = r {
            if compile_err[*i].is_none() {
                compile_err[*i] = Some(e);
            } else {
                ui::error(&e.to_string(), &e.hint());
            }
        }
    }
    compile_err
}

/// A compiled board's compile_commands.json, and its objects checked
/// against what its kernel can run.
pub(super) fn finish(j: &TargetJob, cwd: &Path) -> Result<()> {
    let entries: Vec<_> = j
        .plans
        .iter()
        .map(|p| bpf_compile::compile_command(&crate::ops::compile::absolute(p, cwd), cwd))
        .collect();
    bpf_compile::write_compile_commands(&j.work_dir.join("compile_commands.json"), &entries)
        .and_then(|_| crate::ops::compile::check_kernel(&j.plans, &j.ctx, j.allow.as_ref()))
}
