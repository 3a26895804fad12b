//! Bundling: a board's loader checked, its objects and BTF gathered, the
//! tarball written, and what `build` says about it.

use std::path::{Path, PathBuf};

use super::prepare::TargetJob;
use super::{emit_json, BuildCommon, MessageFormat, Project};
use crate::bundle::{self, Content, Manifest};
use crate::elf_check;
use crate::error::{Error, Result};
use crate::loader_build;
use crate::resolve;
use crate::ui;

/// A board's bundle, made; what is said about it waits for cargo to end
/// (a line in the middle of cargo's progress bar would garble it).
pub(super) struct Made {
    pub(super) path: PathBuf,
    sha: String,
    loader_sha: String,
    exe: PathBuf,
}

/// Verification and bundle for one board whose loader cargo built. It runs
/// while cargo may still build other boards' loaders, so it prints nothing.
pub(super) fn make_bundle(
    project: &Project,
    job: &TargetJob,
    target: &loader_build::LoaderTarget,
    exe: &Path,
) -> Result<Made> {
    let loader = checked_loader(job, target, exe)?;
    let loader_sha = crate::fsutil::sha256_hex(&loader);
    let mut contents = vec![Content {
        path: format!("bin/{}", project.bin),
        bytes: loader,
        executable: true,
    }];
    contents.extend(object_contents(job)?);
    let objects: Vec<String> = contents[1..].iter().map(|c| c.path.clone()).collect();
    let btf = bundle_btf(job, &mut contents)?;
    let manifest = manifest_of(project, job, objects, btf, &contents);
    let profile = &job.ctx.profile;
    let top = bundle::top_dir(&project.package, &project.version, &profile.name);
    let stamp = job.work_dir.join(".state/bundle.json");
    let (path, sha) = bundle::write_unless_fresh(&job.out_dir, &top, &manifest, contents, &stamp)?;
    Ok(Made {
        path,
        sha,
        loader_sha,
        exe: exe.to_path_buf(),
    })
}

/// The loader's bytes, once its ELF matches the board (and is static when
/// asked to be).
fn checked_loader(
    job: &TargetJob,
    target: &loader_build::LoaderTarget,
    exe: &Path,
) -> Result<Vec<u8>> {
    let profile = &job.ctx.profile;
    let loader = std::fs::read(exe).map_err(crate::error::read_err(exe))?;
    let h =
        elf_check::check_loader(&loader, &profile.arch).map_err(|problem| Error::BadOutput {
            path: exe.to_path_buf(),
            problem,
        })?;
    if target.static_ && h.interp {
        return Err(Error::StaticIgnored {
            from: job.static_.origin.to_string(),
            why: format!(
                "rustc ignored +crt-static for {}: `{}` is dynamically linked (it has an ELF interpreter)",
                job.rust_target,
                crate::fsutil::shown(exe)
            ),
        });
    }
    Ok(loader)
}

/// The board's BPF objects, as `bpf/<name>` in the bundle.
fn object_contents(job: &TargetJob) -> Result<Vec<Content>> {
    let mut contents = Vec::new();
    for p in &job.plans {
        let bytes = std::fs::read(&p.output).map_err(crate::error::read_err(&p.output))?;
        let name = p
            .output
            .file_name()
            .expect("object has a name")
            .to_string_lossy()
            .into_owned();
        contents.push(Content {
            path: format!("bpf/{name}"),
            bytes,
            executable: false,
        });
    }
    Ok(contents)
}

fn manifest_of(
    project: &Project,
    job: &TargetJob,
    objects: Vec<String>,
    btf: Vec<crate::bundle_btf::BtfEntry>,
    contents: &[Content],
) -> Manifest {
    let profile = &job.ctx.profile;
    Manifest {
        tool: env!("CARGO_PKG_NAME").into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        package: project.package.clone(),
        package_version: project.version.clone(),
        target: profile.name.clone(),
        base_target: profile.base.clone(),
        arch: profile.arch.srcarch.clone(),
        rust_target: job.rust_target.clone(),
        clang_target: profile.arch.clang_target.clone(),
        endian: profile.arch.endian.as_str().into(),
        kernel_version: job.ctx.version.map(|v| v.to_string()),
        reference_kernel: job.ctx.reference.as_ref().map(|r| {
            format!(
                "debian:{} {} {} {} (linux {})",
                r.release, r.abi, r.arch, r.flavour, r.version
            )
        }),
        kernel_release: job.ctx.tree.as_ref().and_then(|t| t.release()),
        bpf_mode: Some(
            match job.ctx.profile.bpf.mode.unwrap_or_default() {
                crate::profile::BpfMode::Native => "native",
                crate::profile::BpfMode::Core => "core",
            }
            .into(),
        ),
        llvm_version: job.ctx.toolchain.clang.version.clone(),
        loader: format!("bin/{}", project.bin),
        objects,
        btf,
        files: contents
            .iter()
            .map(|c| bundle::file_entry(&c.path, &c.bytes))
            .collect(),
    }
}

/// CO-RE mode: the target kernel's BTF cut down to what the objects
/// relocate against, added to `contents` with the loader's index. A kernel
/// whose identity cannot be told gets none: the loader must never guess.
fn bundle_btf(
    job: &TargetJob,
    contents: &mut Vec<Content>,
) -> Result<Vec<crate::bundle_btf::BtfEntry>> {
    use crate::bundle_btf as bb;
    if job.ctx.profile.bpf.mode != Some(crate::profile::BpfMode::Core) || job.plans.is_empty() {
        return Ok(Vec::new());
    }
    let (Some(full), Some(kernel)) = (
        resolve::core_btf(&job.ctx)?,
        resolve::core_kernel_file(&job.ctx),
    ) else {
        return Ok(Vec::new());
    };
    let mut kernels = Vec::new();
    match bb::identity_of(&kernel) {
        Ok(id) => kernels.push((full, id)),
        // A bare .btf file names no kernel: the bundle cannot say which
        // kernel its BTF is for, so it carries none rather than a guess.
        Err(Error::NoBtf { problem, .. }) => crate::ui::warn(&format!(
            "the bundle carries no BTF for {}: {problem}; the loader will need the kernel's own /sys/kernel/btf/vmlinux",
            crate::fsutil::shown(&kernel)
        )),
        Err(e) => return Err(e),
    }
    for k in job.ctx.profile.bpf.also_kernels.iter().flatten() {
        kernels.push(other_kernel_btf(job, k)?);
    }
    let objects: Vec<PathBuf> = job.plans.iter().map(|p| p.output.clone()).collect();
    let mut entries: Vec<bb::BtfEntry> = Vec::new();
    for (full, id) in kernels {
        let path = bb::bundle_path(&id);
        if entries.iter().any(|e| e.path == path) {
            continue;
        }
        let bytes = bb::minimal(&full, &objects, &job.work_dir)?;
        entries.push(bb::BtfEntry {
            path: path.clone(),
            size: bytes.len() as u64,
            sha256: crate::fsutil::sha256_hex(&bytes),
            kernel_release: id.release,
            kernel_version: id.version,
        });
        contents.push(Content {
            path,
            bytes,
            executable: false,
        });
    }
    contents.push(Content {
        path: bb::INDEX.into(),
        bytes: bb::index(&entries).into_bytes(),
        executable: false,
    });
    Ok(entries)
}

/// The full BTF and identity of one of `[bpf] also_kernels`.
fn other_kernel_btf(job: &TargetJob, k: &str) -> Result<(PathBuf, crate::bundle_btf::Identity)> {
    let profile = &job.ctx.profile;
    if k.starts_with("debian:") {
        let spec = crate::reference::Spec::parse(k)?;
        let w = crate::reference::wanted(profile, &spec)?;
        let r = crate::reference::obtain(&w, job.policy)?;
        let full = crate::kernel_btf::for_reference(&r, job.policy)?;
        return Ok((full, crate::bundle_btf::identity_of(&r.image)?));
    }
    let path = PathBuf::from(k);
    let cache = crate::reference::cache::Cache::open()?;
    let full = crate::dwarf_btf::btf_for(&path, &profile.arch, &cache.root)?;
    Ok((full, crate::bundle_btf::identity_of(&path)?))
}

/// What `build` says of a bundle: its line, and with `--message-format
/// json` the loader's and the bundle's.
pub(super) fn announce_bundle(project: &Project, opts: &BuildCommon, job: &TargetJob, made: &Made) {
    let json = opts.message_format == MessageFormat::Json;
    let pkg = &project.package;
    if json {
        emit_json(
            crate::message::Message::Loader,
            pkg,
            &job.profile_name,
            &made.exe,
            &made.loader_sha,
        );
    }
    let size = std::fs::metadata(&made.path).map(|m| m.len()).unwrap_or(0);
    ui::status(
        "Bundled",
        &format!(
            "{} ({})",
            crate::fsutil::shown(&made.path),
            human_size(size)
        ),
    );
    if json {
        emit_json(
            crate::message::Message::Bundle,
            pkg,
            &job.profile_name,
            &made.path,
            &made.sha,
        );
    }
}

fn human_size(n: u64) -> String {
    if n >= 1024 * 1024 {
        format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0))
    } else {
        format!("{} KiB", n.div_ceil(1024))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human_size(612 * 1024), "612 KiB");
        assert_eq!(human_size(1), "1 KiB");
        assert_eq!(human_size(3 * 1024 * 1024), "3.0 MiB");
    }
}
