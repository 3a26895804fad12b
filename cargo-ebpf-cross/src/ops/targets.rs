//! `cargo ebpf-cross targets`: the built-in profiles, and a project's
//! boards, as a table or as JSON for a CI matrix.

use serde::Serialize;

use crate::arch;
use crate::error::{read_err, Result};
use crate::options::TargetsOptions;
use crate::profile::Profile;

#[derive(Debug, Serialize)]
pub struct TargetInfo {
    pub name: String,
    /// Kernel SRCARCH.
    pub arch: String,
    pub clang_target: String,
    pub rust_target: String,
    pub endian: &'static str,
    pub bpf_march: &'static str,
    pub bits: u32,
    pub target_arch_define: String,
    pub cross_prefix: String,
    /// Debian package with `<cross_prefix>gcc`, for CI to install (Debian
    /// spells `_` as `-`: gcc-x86-64-linux-gnu).
    pub cross_package: String,
    pub description: String,
    /// Built-in it rests on.
    pub base: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_version: Option<String>,
    /// `run` is set up (the profile has a [qemu] section).
    pub qemu: bool,
}

impl TargetInfo {
    pub fn of(p: &Profile) -> Self {
        TargetInfo {
            name: p.name.clone(),
            arch: p.arch.srcarch.clone(),
            clang_target: p.arch.clang_target.clone(),
            rust_target: p.rust_target().to_string(),
            endian: p.arch.endian.as_str(),
            bpf_march: p.arch.bpf_march(),
            bits: p.arch.bits,
            target_arch_define: p.arch.target_arch_define(),
            cross_prefix: p.arch.cross_prefix.clone(),
            cross_package: match p.arch.cross_package.as_str() {
                "" => {
                    crate::loader_build::debian_package_for(&p.arch.cross_gcc()).unwrap_or_default()
                }
                pkg => pkg.to_string(),
            },
            description: p.description.clone(),
            base: p.base.clone(),
            file: p.file.as_ref().map(|f| f.display().to_string()),
            kernel_version: p.kernel.version.clone(),
            qemu: p.qemu.as_ref().is_some_and(|q| q.system.is_some()),
        }
    }
}

pub fn list(boards: Option<&std::path::Path>) -> Result<Vec<TargetInfo>> {
    let mut out = Vec::new();
    for name in arch::builtin_names() {
        out.push(TargetInfo::of(&Profile::load(&name)?));
    }
    if let Some(dir) = boards {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(read_err(dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        for f in files {
            out.push(TargetInfo::of(&Profile::load(&f.display().to_string())?));
        }
    }
    Ok(out)
}

pub fn targets(a: TargetsOptions) -> Result<i32> {
    let all = list(a.boards.as_deref())?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&all).expect("plain data")
        );
        return Ok(0);
    }
    println!(
        "{:<14} {:<8} {:<6} {:<32} DESCRIPTION",
        "TARGET", "ARCH", "BPF", "RUST TARGET"
    );
    for t in all {
        println!(
            "{:<14} {:<8} {:<6} {:<32} {}",
            t.name, t.arch, t.bpf_march, t.rust_target, t.description
        );
    }
    Ok(0)
}
