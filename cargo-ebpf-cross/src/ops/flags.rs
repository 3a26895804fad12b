//! `cargo ebpf-cross flags`: the exact clang and llc argv for a target, for
//! build systems that run the compile themselves (Make, CMake, Yocto).

use crate::bpf_compile;
use crate::error::Result;
use crate::ops::Global;
use crate::options::{FlagsFormat, FlagsOptions};
use crate::plan::shell_quote;
use crate::profile::Profile;
use crate::resolve;
use crate::toolchain;

/// What `flags --format json` prints: one document, not a message stream
/// (docs/messages.md). The keys are in the order the untyped object
/// printed them (sorted), so the output did not change with the type.
#[derive(serde::Serialize)]
struct FlagsJson<'a> {
    clang: Vec<String>,
    helpers: &'a crate::bpf_headers::Helpers,
    kernel_version: Option<String>,
    llc: Vec<String>,
    staged_include: &'a std::path::Path,
    target: &'a str,
}

pub fn flags(g: Global, a: FlagsOptions) -> Result<i32> {
    let profile = Profile::load_with(&a.target, &super::default_boards())?;
    let choice = resolve::layer(&a.kernel, &crate::env::ProcessEnv, None, None, &profile)?;
    // The default staging dir is keyed by the settings too, so two trees
    // for one target never overwrite each other's wrappers.
    let state = match a.state_dir.clone() {
        Some(d) => d,
        None => {
            // Never a predictable path in a shared temp dir: another local
            // user could plant a bpf_helpers.h there first.
            let cache = toolchain::cache_dir().ok_or_else(|| crate::error::Error::Usage {
                message: "no private place to stage the helper headers: HOME, XDG_CACHE_HOME and EBPF_CROSS_CACHE_DIR are all unset".into(),
                hint: "pass --state-dir DIR (a directory only you can write), or set EBPF_CROSS_CACHE_DIR".into(),
            })?;
            let key = format!(
                "{:?} {:?} {:?} {:?}",
                profile.file,
                choice.src(),
                choice.build(),
                choice.reference.as_ref().map(|r| r.value.to_string())
            );
            let hash = crate::fsutil::sha256_hex(key.as_bytes());
            cache
                .join("flags")
                .join(format!("{}-{}", profile.name, &hash[..12]))
        }
    };
    // Flags describe a build; they never download its kernel.
    let ctx = resolve::context(profile, &choice, &state, crate::reference::Policy::Report)?;
    if !g.dry_run {
        // The printed -I must exist for whoever runs the flags.
        resolve::stage(&ctx)?;
    }
    let f = bpf_compile::flags(&ctx);
    let quote = |v: &[String]| {
        v.iter()
            .map(|s| shell_quote(s))
            .collect::<Vec<_>>()
            .join(" ")
    };
    match a.format {
        FlagsFormat::Shell => {
            println!("{}", quote(&f.clang.argv()));
            println!("{}", quote(&f.llc.argv()));
        }
        FlagsFormat::Make => {
            println!("# cargo ebpf-cross flags --target {}", ctx.profile.name);
            println!("# usage: $(EBPF_CROSS_CLANG) $(EBPF_CROSS_CFLAGS) -c $< -o - | $(EBPF_CROSS_LLC) $(EBPF_CROSS_LLCFLAGS) -o $@");
            println!(
                "EBPF_CROSS_CLANG := {}",
                shell_quote(&f.clang.program.display().to_string())
            );
            println!("EBPF_CROSS_CFLAGS := {}", quote(&f.clang.args));
            println!(
                "EBPF_CROSS_LLC := {}",
                shell_quote(&f.llc.program.display().to_string())
            );
            println!("EBPF_CROSS_LLCFLAGS := {}", quote(&f.llc.args));
            if let Some(v) = ctx.version {
                println!("EBPF_CROSS_KERNEL_VERSION := {v}");
            }
        }
        FlagsFormat::Json => {
            let v = FlagsJson {
                clang: f.clang.argv(),
                helpers: &ctx.helpers,
                kernel_version: ctx.version.map(|v| v.to_string()),
                llc: f.llc.argv(),
                staged_include: &ctx.staged_include,
                target: &ctx.profile.name,
            };
            println!("{}", serde_json::to_string_pretty(&v).expect("plain data"));
        }
    }
    Ok(0)
}
