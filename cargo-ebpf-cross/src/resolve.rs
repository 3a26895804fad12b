//! Turning what the user said (flags, env, package metadata, profile) into
//! a compile [`Context`]. Precedence, highest first: flag, env (clap merges
//! those two), `[package.metadata.ebpf-cross]`, profile file.

use std::path::PathBuf;

use crate::bpf_compile::Context;
use crate::bpf_headers;
use crate::error::Result;
use crate::kernel_tree::{Given, KernelTree};
use crate::profile::{BpfMode, KernelSection, Profile};
use crate::reference::{self, Policy, Record, Spec};
use crate::toolchain::{self, ToolOverrides};
use crate::version::KernelVersion;

/// Kernel and tool settings from the command line (and env).
#[derive(Debug, Clone, Default)]
pub struct KernelOpts {
    pub src: Option<PathBuf>,
    pub build: Option<PathBuf>,
    pub version: Option<String>,
    pub libbpf_include: Option<PathBuf>,
    /// `--kernel debian:6.1` / EBPF_CROSS_KERNEL.
    pub reference: Option<String>,
    pub stamp_version: bool,
    pub tools: ToolOverrides,
}

/// A reference kernel chosen at some layer, or by default.
#[derive(Debug, Clone, PartialEq)]
pub struct RefChoice {
    pub spec: Spec,
    pub from: String,
    /// Nothing named a kernel, so the profile's default applies (and a
    /// note says so).
    pub defaulted: bool,
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
    /// In place of `src`/`build`: a reference kernel, fetched or cached.
    pub reference: Option<RefChoice>,
}

/// One layer naming both a tree and a reference kernel is ambiguous.
fn refuse_both(
    reference: &Option<String>,
    src: &Option<PathBuf>,
    build: &Option<PathBuf>,
    layer: &str,
    ref_name: &str,
    tree_names: &str,
) -> Result<()> {
    if let (Some(r), true) = (reference, src.is_some() || build.is_some()) {
        return Err(crate::error::Error::Usage {
            message: format!("{layer} names both a reference kernel (`{r}`) and a kernel tree"),
            hint: format!("a reference kernel brings its own tree: drop {ref_name} to use your tree, or drop {tree_names} to use the reference kernel"),
        });
    }
    Ok(())
}

fn parse_ref(s: &str, from: &str, defaulted: bool) -> Result<RefChoice> {
    Ok(RefChoice {
        spec: Spec::parse(s)?,
        from: from.to_string(),
        defaulted,
    })
}

pub fn layer(
    opts: &KernelOpts,
    metadata: Option<&KernelSection>,
    profile: &Profile,
) -> Result<KernelChoice> {
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
    let opts_ref = opts.reference.clone().filter(|r| !r.is_empty());
    refuse_both(
        &opts_ref,
        &opts.src,
        &opts.build,
        "the command line (flags and environment)",
        "--kernel/EBPF_CROSS_KERNEL",
        "--kernel-src/--kernel-build (and EBPF_CROSS_KERNEL_SRC/EBPF_CROSS_KERNEL_BUILD)",
    )?;
    refuse_both(
        &meta.reference,
        &meta.source,
        &meta.build,
        "[package.metadata.ebpf-cross.kernel]",
        "`reference`",
        "`source`/`build`",
    )?;
    refuse_both(
        &prof.reference,
        &prof.source,
        &prof.build,
        &prof_name,
        "[kernel] reference",
        "[kernel] source/build",
    )?;
    // A tree or reference kernel given at a higher layer replaces both
    // halves of a lower one; mixing a flag's source with a profile's build
    // dir would be a surprise.
    let mut reference = None;
    let (src, build) = if let Some(r) = &opts_ref {
        reference = Some(parse_ref(r, "--kernel/EBPF_CROSS_KERNEL", false)?);
        (None, None)
    } else if opts.src.is_some() || opts.build.is_some() {
        (opts.src.clone(), opts.build.clone())
    } else if let Some(r) = &meta.reference {
        reference = Some(parse_ref(r, "[package.metadata.ebpf-cross.kernel]", false)?);
        (None, None)
    } else if meta.source.is_some() || meta.build.is_some() {
        (meta.source.clone(), meta.build.clone())
    } else if let Some(r) = &prof.reference {
        reference = Some(parse_ref(r, &prof_name, false)?);
        (None, None)
    } else {
        (prof.source.clone(), prof.build.clone())
    };
    // The embedded default: nothing names a tree, a version, or (for
    // CO-RE) a BTF, so the profile's own reference kernel stands in.
    let core_with_btf = profile.bpf.mode == Some(BpfMode::Core) && profile.bpf.btf.is_some();
    if reference.is_none()
        && src.is_none()
        && build.is_none()
        && version.is_none()
        && !core_with_btf
    {
        if let Some(spec) = reference::default_spec(profile) {
            reference = Some(RefChoice {
                spec: spec?,
                from: format!("{prof_name}'s default"),
                defaulted: true,
            });
        }
    }
    Ok(KernelChoice {
        stamp_version: opts.stamp_version,
        src,
        build,
        version,
        libbpf_include: opts
            .libbpf_include
            .clone()
            .or(meta.libbpf_include)
            .or(prof.libbpf_include.clone()),
        reference,
    })
}

/// Turns a reference-kernel choice into its tree and helpers (fetching it
/// when `policy` allows), and says so when it was the default.
pub fn materialise(
    choice: &mut KernelChoice,
    profile: &Profile,
    policy: Policy,
) -> Result<Option<Record>> {
    let Some(rc) = choice.reference.clone() else {
        return Ok(None);
    };
    let w = reference::wanted(profile, &rc.spec)?;
    let r = reference::obtain(&w, policy)?;
    // `run` resolves before its build does; one note is enough.
    static NOTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if rc.defaulted && !NOTED.swap(true, std::sync::atomic::Ordering::SeqCst) {
        crate::ui::note(&format!(
            "no kernel tree given; building against Debian's {} {} reference kernel (--kernel-src selects your board's)",
            r.version, r.flavour
        ));
    }
    choice.src = Some(r.source.clone());
    choice.build = Some(r.build.clone());
    // The release's own libbpf headers, so a reference build never falls
    // back to the host's; an explicit --libbpf-include still wins.
    if choice.libbpf_include.is_none() {
        choice.libbpf_include = Some(r.libbpf_include.clone());
    }
    Ok(Some(r))
}

/// Opens the tree (if any), finds tools and helpers, stages the helper dir.
/// `require_tree`: some commands (doctor) want the tree reported, not
/// required; compiles can go without one when a version is given.
pub fn context(
    mut profile: Profile,
    choice: &KernelChoice,
    tools: &ToolOverrides,
    state_dir: &std::path::Path,
    policy: Policy,
) -> Result<Context> {
    let mut choice = choice.clone();
    let reference = materialise(&mut choice, &profile, policy)?;
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
        reference,
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
            reference: None,
        };
        p
    }

    #[test]
    fn flag_beats_metadata_beats_profile() {
        let p = prof_with_kernel();
        let none = layer(&KernelOpts::default(), None, &p).unwrap();
        assert_eq!(none.src.as_deref(), Some(std::path::Path::new("/prof/src")));
        assert_eq!(none.version.as_ref().unwrap().0, "4.19");
        assert_eq!(none.version.as_ref().unwrap().1, "profile armv7");

        let meta = KernelSection {
            source: Some("/meta/src".into()),
            version: Some("5.10".into()),
            ..Default::default()
        };
        let m = layer(&KernelOpts::default(), Some(&meta), &p).unwrap();
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
        let f = layer(&opts, Some(&meta), &p).unwrap();
        assert_eq!(f.src, None);
        assert_eq!(
            f.build.as_deref(),
            Some(std::path::Path::new("/flag/build"))
        );
        assert_eq!(f.version.unwrap().0, "6.1");
    }
}
