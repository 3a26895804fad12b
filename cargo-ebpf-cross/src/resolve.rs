//! Turning what the user said (flags, env, package metadata, profile) into
//! a compile [`Context`]. Precedence, highest first: flag, env (clap merges
//! those two), `[package.metadata.ebpf-cross]`, profile file.

use std::path::PathBuf;

use crate::bpf_compile::Context;
use crate::bpf_headers;
use crate::error::Result;
use crate::kernel_tree::{Given, KernelTree};
use crate::profile::{KernelSection, Profile};
use crate::toolchain::{self, ToolOverrides};
use crate::version::KernelVersion;

/// Kernel and tool settings from the command line (and env).
#[derive(Debug, Clone, Default)]
pub struct KernelOpts {
    pub src: Option<PathBuf>,
    pub build: Option<PathBuf>,
    pub version: Option<String>,
    pub libbpf_include: Option<PathBuf>,
    pub stamp_version: bool,
    pub tools: ToolOverrides,
}

/// The kernel settings after layering, each with where it came from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KernelChoice {
    /// `--stamp-version` given; the profile's `[bpf] stamp_version` otherwise.
    pub stamp_version: bool,
    pub src: Option<PathBuf>,
    pub build: Option<PathBuf>,
    pub version: Option<(String, String)>,
    pub libbpf_include: Option<PathBuf>,
}

pub fn layer(
    opts: &KernelOpts,
    metadata: Option<&KernelSection>,
    profile: &Profile,
) -> KernelChoice {
    let meta = metadata.cloned().unwrap_or_default();
    let prof = &profile.kernel;
    let prof_name = profile
        .file
        .as_ref()
        .map(|f| format!("profile {}", f.display()))
        .unwrap_or_else(|| format!("profile {}", profile.name));
    let version = opts
        .version
        .clone()
        .map(|v| (v, "--kernel-version/EBPF_CROSS_KERNEL_VERSION".to_string()))
        .or_else(|| {
            meta.version
                .clone()
                .map(|v| (v, "[package.metadata.ebpf-cross.kernel]".to_string()))
        })
        .or_else(|| prof.version.clone().map(|v| (v, prof_name.clone())));
    // A tree given at a higher layer replaces both halves of a lower one;
    // mixing a flag's source with a profile's build dir would be a surprise.
    let (src, build) = if opts.src.is_some() || opts.build.is_some() {
        (opts.src.clone(), opts.build.clone())
    } else if meta.source.is_some() || meta.build.is_some() {
        (meta.source.clone(), meta.build.clone())
    } else {
        (prof.source.clone(), prof.build.clone())
    };
    KernelChoice {
        stamp_version: opts.stamp_version,
        src,
        build,
        version,
        libbpf_include: opts
            .libbpf_include
            .clone()
            .or(meta.libbpf_include)
            .or(prof.libbpf_include.clone()),
    }
}

/// Opens the tree (if any), finds tools and helpers, stages the helper dir.
/// `require_tree`: some commands (doctor) want the tree reported, not
/// required; compiles can go without one when a version is given.
pub fn context(
    mut profile: Profile,
    choice: &KernelChoice,
    tools: &ToolOverrides,
    state_dir: &std::path::Path,
) -> Result<Context> {
    if choice.stamp_version {
        profile.bpf.stamp_version = Some(true);
    }
    let given = match &choice.version {
        Some((v, from)) => Some(Given {
            value: KernelVersion::parse(v)?,
            from: from.clone(),
        }),
        None => None,
    };
    let tree = if choice.src.is_some() || choice.build.is_some() {
        Some(KernelTree::open(
            choice.src.as_deref(),
            choice.build.as_deref(),
            &profile.arch,
            given.as_ref(),
        )?)
    } else {
        None
    };
    let version = tree.as_ref().map(|t| t.version).or(given.map(|g| g.value));
    let toolchain = toolchain::find(tools)?;
    let helpers = bpf_headers::find(tree.as_ref(), choice.libbpf_include.as_deref())?;
    let staged_include = state_dir.join("include");
    Ok(Context {
        profile,
        tree,
        version,
        toolchain,
        helpers,
        staged_include,
        extra_cflags: crate::bpf_compile::extra_cflags_from_env(),
    })
}

/// Writes the staged helper dir; separate so `--dry-run` can skip it.
pub fn stage(ctx: &Context) -> Result<()> {
    bpf_headers::stage(&ctx.helpers, &ctx.staged_include)?;
    if ctx.profile.bpf.mode == Some(crate::profile::BpfMode::Core) {
        let btf = core_btf(ctx).ok_or_else(|| crate::error::Error::Usage {
            message: format!("profile `{}` uses CO-RE mode but names no target BTF", ctx.profile.name),
            hint: "set [bpf] btf = \"path/to/vmlinux-or.btf\" (a build tree's vmlinux is used when present)".into(),
        })?;
        bpf_headers::write_vmlinux_h(&btf, &ctx.staged_include)?;
    }
    Ok(())
}

/// The target's BTF: the profile's, else the build tree's vmlinux.
pub fn core_btf(ctx: &Context) -> Option<PathBuf> {
    ctx.profile.bpf.btf.clone().or_else(|| {
        ctx.tree
            .as_ref()
            .map(|t| t.build.join("vmlinux"))
            .filter(|p| p.is_file())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prof_with_kernel() -> Profile {
        let mut p = Profile::load("armv7").unwrap();
        p.kernel = KernelSection {
            source: Some("/prof/src".into()),
            build: Some("/prof/build".into()),
            version: Some("4.19".into()),
            libbpf_include: Some("/prof/libbpf".into()),
        };
        p
    }

    #[test]
    fn flag_beats_metadata_beats_profile() {
        let p = prof_with_kernel();
        let none = layer(&KernelOpts::default(), None, &p);
        assert_eq!(none.src.as_deref(), Some(std::path::Path::new("/prof/src")));
        assert_eq!(none.version.as_ref().unwrap().0, "4.19");
        assert_eq!(none.version.as_ref().unwrap().1, "profile armv7");

        let meta = KernelSection {
            source: Some("/meta/src".into()),
            version: Some("5.10".into()),
            ..Default::default()
        };
        let m = layer(&KernelOpts::default(), Some(&meta), &p);
        assert_eq!(m.src.as_deref(), Some(std::path::Path::new("/meta/src")));
        assert_eq!(
            m.build, None,
            "a tree from a higher layer replaces both halves"
        );
        assert_eq!(
            m.version.unwrap(),
            (
                "5.10".to_string(),
                "[package.metadata.ebpf-cross.kernel]".to_string()
            )
        );
        assert_eq!(
            m.libbpf_include.as_deref(),
            Some(std::path::Path::new("/prof/libbpf"))
        );

        let opts = KernelOpts {
            build: Some("/flag/build".into()),
            version: Some("6.1".into()),
            ..Default::default()
        };
        let f = layer(&opts, Some(&meta), &p);
        assert_eq!(f.src, None);
        assert_eq!(
            f.build.as_deref(),
            Some(std::path::Path::new("/flag/build"))
        );
        assert_eq!(f.version.unwrap().0, "6.1");
    }
}
