//! `cargo ebpf-cross compile`: BPF objects only.

use std::path::{Path, PathBuf};

use crate::bpf_compile::{self, CompilePlan, Outcome};
use crate::error::{Error, Result};
use crate::ops::Global;
use crate::options::CompileOptions;
use crate::profile::Profile;
use crate::resolve;
use crate::ui;

/// Maps inputs to outputs: `-o` is a file only for a single input that is
/// not an existing directory.
pub fn outputs(files: &[PathBuf], output: Option<&Path>) -> Result<(PathBuf, Vec<PathBuf>)> {
    let single_file = match output {
        Some(o) => {
            files.len() == 1 && !o.is_dir() && !o.as_os_str().to_string_lossy().ends_with('/')
        }
        None => false,
    };
    if single_file {
        let o = output.expect("checked").to_path_buf();
        let dir = crate::fsutil::parent_dir(&o);
        return Ok((dir, vec![o]));
    }
    if let Some(o) = output.filter(|o| files.len() > 1 && o.is_file()) {
        return Err(Error::Usage {
            message: format!(
                "-o {} is a file but there are {} inputs",
                o.display(),
                files.len()
            ),
            hint: "give a directory for several inputs".into(),
        });
    }
    let dir = output
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let outs = files
        .iter()
        .map(|f| dir.join(format!("{}.o", bpf_compile::object_stem(f))))
        .collect();
    Ok((dir, outs))
}

pub fn compile(g: Global, a: CompileOptions) -> Result<i32> {
    let profile = Profile::load_with(&a.target, &super::default_boards())?;
    for f in &a.files {
        if !f.is_file() {
            return Err(Error::SourceMissing(f.clone()));
        }
    }
    bpf_compile::check_sources(&a.files)?;
    let (out_dir, outs) = outputs(&a.files, a.output.as_deref())?;
    let state_dir = out_dir.join(".ebpf-cross").join(&profile.name);
    let choice = resolve::layer(&a.kernel, &crate::env::ProcessEnv, None, None, &profile)?;
    // A typo in the allow list fails before anything is compiled.
    crate::kernel_caps::allow_of(choice.allow.as_ref())?;
    let policy = crate::reference::Policy::for_build(false, g.dry_run);
    let ctx = resolve::context(profile, &choice, &state_dir, policy)?;
    let plans: Vec<CompilePlan> = a
        .files
        .iter()
        .zip(&outs)
        .map(|(src, out)| bpf_compile::plan_one(&ctx, src, out, &state_dir))
        .collect();
    if g.dry_run {
        print_plans(&plans);
        return Ok(0);
    }
    std::fs::create_dir_all(&out_dir).map_err(crate::error::write_err(&out_dir))?;
    resolve::stage(&ctx)?;
    run_plans(&plans, &ctx, super::jobs(a.jobs))?;
    check_kernel(&plans, &ctx, choice.allow.as_ref())?;
    let cwd = std::env::current_dir().unwrap_or_default();
    let entries: Vec<_> = plans
        .iter()
        .map(|p| bpf_compile::compile_command(&absolute(p, &cwd), &cwd))
        .collect();
    let cc_path = a
        .compile_commands
        .unwrap_or_else(|| out_dir.join("compile_commands.json"));
    bpf_compile::write_compile_commands(&cc_path, &entries)?;
    Ok(0)
}

/// The kernel capability check of compiled objects; with -v it says how
/// long it took, which is what bench/capcheck.sh reads.
pub fn check_kernel(
    plans: &[CompilePlan],
    ctx: &bpf_compile::Context,
    allow: Option<&crate::settings::Setting<Vec<String>>>,
) -> Result<()> {
    let took = crate::kernel_caps::check_plans(plans, ctx, allow)?;
    if ui::get().verbose {
        ui::status(
            "Checked",
            &format!(
                "{} object(s) against {} in {} us",
                plans.len(),
                ctx.version
                    .map(|v| format!("Linux {v}"))
                    .unwrap_or_else(|| "no kernel version".into()),
                took.as_micros()
            ),
        );
    }
    Ok(())
}

/// compile_commands.json wants absolute paths so it works from anywhere.
pub fn absolute(p: &CompilePlan, cwd: &Path) -> CompilePlan {
    let mut p = p.clone();
    if p.source.is_relative() {
        let abs = cwd.join(&p.source);
        for a in p.clang.args.iter_mut() {
            if *a == p.source.display().to_string() {
                *a = abs.display().to_string();
            }
        }
        p.source = abs;
    }
    if p.output.is_relative() {
        p.output = cwd.join(&p.output);
    }
    p
}

pub fn print_plans(plans: &[CompilePlan]) {
    for p in plans {
        match &p.llc {
            Some(l) => println!("{} | {}", p.clang.display(), l.display()),
            None => println!("{}", p.clang.display()),
        }
        if let (Some(again), Some(l)) = (&p.clang_with_btf, &p.llc) {
            println!(
                "# then, if the object has BTF-defined maps (.maps) but no .BTF:\n{} | {}",
                again.display(),
                l.display()
            );
        }
    }
}

/// Runs every plan (in parallel), reporting each failure; the first error
/// is returned after all have finished so one bad file hides nothing.
pub fn run_plans(
    plans: &[CompilePlan],
    ctx: &bpf_compile::Context,
    jobs: usize,
) -> Result<Vec<Outcome>> {
    let results = super::parallel(plans, jobs, |p| bpf_compile::run(p, ctx));
    let mut outcomes = Vec::new();
    let mut first_err = None;
    for r in results {
        match r {
            Ok(o) => outcomes.push(o),
            // The first is reported by the caller; later ones here.
            Err(e) if first_err.is_some() => ui::error(&e.to_string(), &e.hint()),
            Err(e) => first_err = Some(e),
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(outcomes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_mapping() {
        let f = vec![PathBuf::from("bpf/a.bpf.c")];
        let (d, o) = outputs(&f, Some(Path::new("out/x.o"))).unwrap();
        assert_eq!(
            (d, o),
            (PathBuf::from("out"), vec![PathBuf::from("out/x.o")])
        );
        let two = vec![PathBuf::from("a.bpf.c"), PathBuf::from("b.c")];
        let (d, o) = outputs(&two, Some(Path::new("objs"))).unwrap();
        assert_eq!(d, PathBuf::from("objs"));
        assert_eq!(
            o,
            vec![PathBuf::from("objs/a.o"), PathBuf::from("objs/b.o")]
        );
        let (_, o) = outputs(&f, Some(Path::new("newdir/"))).unwrap();
        assert_eq!(o, vec![PathBuf::from("newdir/a.o")]);
    }
}
