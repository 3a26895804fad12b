//! Job preparation: one board's profile, kernel, paths and compile plans,
//! checked before anything runs, and its object dir made ready.

use std::path::PathBuf;

use super::{usage, BuildCommon, Project};
use crate::bpf_compile::{self, CompilePlan, Context};
use crate::bundle;
use crate::env::ProcessEnv;
use crate::error::{Error, Result};
use crate::loader_build;
use crate::ops::Global;
use crate::profile::Profile;
use crate::reference::Policy;
use crate::resolve;
use crate::settings::Setting;
use crate::ui;

/// One board's worth of work.
pub(super) struct TargetJob {
    pub(super) profile_name: String,
    pub(super) ctx: Context,
    pub(super) plans: Vec<CompilePlan>,
    /// This package's objects for the board (what its build script embeds).
    pub(super) obj_dir: PathBuf,
    /// This package's objects, stamps and compile_commands.json for the
    /// board: per package, so two loader packages in one target dir never
    /// see each other's objects.
    pub(super) work_dir: PathBuf,
    /// The board's bundles and SHA256SUMS (one line per package).
    pub(super) out_dir: PathBuf,
    pub(super) rust_target: String,
    /// `static`, resolved once: the spec check and the cargo run agree.
    pub(super) static_: Setting<bool>,
    /// Whether reference kernels may be downloaded (`[bpf] also_kernels`).
    pub(super) policy: Policy,
    /// What the kernel capability check lets through.
    pub(super) allow: Option<Setting<Vec<String>>>,
}

/// `kernel_dir` keys a kernel of a matrix: two kernels of one board share
/// its Rust triple and its out dir, so each gets a dir of its own under it.
pub(super) fn prepare(
    g: Global,
    project: &Project,
    opts: &BuildCommon,
    spec: &str,
    kernel_dir: Option<&str>,
) -> Result<TargetJob> {
    let boards = crate::ops::board_dirs(opts.project.boards.as_deref(), Some(&project.manifest));
    let profile = Profile::load_with(spec, &boards)?;
    let board_dir = bundle::dir(&project.target_dir, &profile.name);
    let out_dir = match kernel_dir {
        Some(k) => board_dir.join("kernels").join(k),
        None => board_dir,
    };
    let work_dir = out_dir.join(&project.package);
    let state = work_dir.join(".state");
    let obj_dir = work_dir.join("bpf");
    let rust_target =
        resolve::rust_target(opts.rust_target.as_deref(), &ProcessEnv, &profile).value;
    let static_ = resolve::static_link(
        opts.static_flag(),
        &ProcessEnv,
        project.static_,
        Some(&project.manifest),
        &profile,
    )?;
    check_spec(&rust_target, &profile, &static_)?;
    let choice = resolve::layer(
        &opts.kernel,
        &ProcessEnv,
        project.metadata.kernel.as_ref(),
        Some(&project.manifest),
        &profile,
    )?;
    crate::kernel_caps::allow_of(choice.allow.as_ref())?;
    let name = profile.name.clone();
    let policy = Policy::for_build(opts.offline || opts.frozen, g.dry_run);
    let ctx = resolve::context(profile, &choice, &state, policy)?;
    let plans = project
        .programs
        .iter()
        .map(|src| {
            let out = obj_dir.join(format!("{}.o", bpf_compile::object_stem(src)));
            bpf_compile::plan_one(&ctx, src, &out, &state)
        })
        .collect();
    Ok(TargetJob {
        profile_name: name,
        ctx,
        plans,
        obj_dir,
        work_dir,
        out_dir,
        rust_target,
        static_,
        policy,
        allow: choice.allow.clone(),
    })
}

/// The board's kernel side staged and its object dir made ready for the
/// compiles: stale objects gone, the kprobe facts written.
pub(super) fn stage(j: &TargetJob) -> Result<()> {
    resolve::stage(&j.ctx)
        .and_then(|_| {
            std::fs::create_dir_all(&j.obj_dir).map_err(crate::error::write_err(&j.obj_dir))
        })
        .and_then(|_| remove_stale_objects(j))
        .and_then(|_| write_kprobe_facts(j))
}

/// Objects (and their stamps) of sources that are gone or renamed: a build
/// script embeds every `*.o` in the dir, so they must not linger.
fn remove_stale_objects(job: &TargetJob) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(&job.obj_dir) else {
        return Ok(());
    };
    let state = job.work_dir.join(".state");
    for e in entries.filter_map(|e| e.ok()) {
        let path = e.path();
        let is_obj = path.extension().is_some_and(|x| x == "o");
        if !is_obj || job.plans.iter().any(|p| p.output == path) {
            continue;
        }
        std::fs::remove_file(&path).map_err(crate::error::write_err(&path))?;
        if let Some(stem) = path.file_stem().map(|s| s.to_string_lossy().into_owned()) {
            for f in [format!("{stem}.stamp.json"), format!("{stem}.d")] {
                let _ = std::fs::remove_file(state.join(f));
            }
        }
        if ui::get().verbose {
            ui::status(
                "Removing",
                &format!("stale {}", crate::fsutil::shown(&path)),
            );
        }
    }
    Ok(())
}

/// Tells the loader's build script whether this board's kernel refuses
/// kprobes at a function's entry, and how far past it to go instead.
fn write_kprobe_facts(job: &TargetJob) -> Result<()> {
    let entry = match &job.ctx.tree {
        Some(tree) => crate::kprobe_site::refused_entry(tree, &job.ctx.profile.arch)?,
        None => None,
    };
    crate::kprobe_site::write_facts(&job.obj_dir, entry)
}

/// A target spec must describe the same machine as the profile: a JSON
/// path, or a custom triple that rustc finds as `<triple>.json` in
/// RUST_TARGET_PATH (Yocto's `RUST_TARGET_SYS`).
fn check_spec(rust_target: &str, profile: &Profile, static_: &Setting<bool>) -> Result<()> {
    let spec = if rust_target.ends_with(".json") {
        PathBuf::from(rust_target)
    } else {
        let found = std::env::var_os("RUST_TARGET_PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(format!("{rust_target}.json")))
                .find(|p| p.is_file())
        });
        match found {
            Some(p) => p,
            None => return Ok(()),
        }
    };
    let p = spec.as_path();
    let rust_target = &p.display().to_string();
    let text = std::fs::read_to_string(p).map_err(crate::error::read_err(p))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        usage(
            format!("target spec {rust_target} is not JSON: {e}"),
            "pass a rustc target-spec JSON file",
        )
    })?;
    let endian = v["target-endian"].as_str().unwrap_or("little");
    let width = v["target-pointer-width"]
        .as_str()
        .map(str::to_string)
        .or_else(|| v["target-pointer-width"].as_u64().map(|n| n.to_string()))
        .unwrap_or_default();
    if endian != profile.arch.endian.as_str() || width != profile.arch.bits.to_string() {
        return Err(usage(
            format!(
                "target spec {rust_target} is {endian}-endian {width}-bit but profile {} is {}-endian {}-bit",
                profile.name,
                profile.arch.endian.as_str(),
                profile.arch.bits
            ),
            "pick the profile that matches the board (see `cargo ebpf-cross targets`)",
        ));
    }
    if static_.value && !loader_build::spec_respects_crt_static(&v) {
        return Err(Error::StaticIgnored {
            from: static_.origin.to_string(),
            why: format!(
                "target spec {rust_target} does not set `crt-static-respected`, so rustc would ignore +crt-static and link the loader dynamically"
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_file_must_match_profile() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("arm-poky-linux-gnueabi.json");
        std::fs::write(
            &f,
            r#"{"arch":"arm","target-endian":"little","target-pointer-width":"32"}"#,
        )
        .unwrap();
        let armv7 = Profile::load("armv7").unwrap();
        let dynamic = Setting::new(false, crate::settings::Origin::Default);
        check_spec(f.to_str().unwrap(), &armv7, &dynamic).unwrap();
        let aarch64 = Profile::load("aarch64").unwrap();
        let e = check_spec(f.to_str().unwrap(), &aarch64, &dynamic).unwrap_err();
        assert!(
            e.to_string()
                .contains("is little-endian 32-bit but profile aarch64 is little-endian 64-bit"),
            "{e}"
        );
    }
}
