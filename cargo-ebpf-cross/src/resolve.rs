//! Turning what the user said (flags, env, package metadata, profile) into
//! a compile [`Context`], through the one precedence rule of
//! [`crate::settings`].

use std::path::{Path, PathBuf};

use crate::bpf_compile::Context;
use crate::bpf_headers;
use crate::env::Env;
use crate::error::Result;
use crate::kernel_tree::{Given, KernelTree};
use crate::options::KernelOptions;
use crate::profile::{BpfMode, KernelSection, Profile};
use crate::reference::{self, Policy, Record, Spec};
use crate::settings::{from_cwd, from_manifest, Layers, Origin, Setting};
use crate::toolchain::{self, ToolOverrides};
use crate::version::KernelVersion;

/// A source and/or build dir; they travel together (see [`layer`]).
pub type TreePaths = (Option<PathBuf>, Option<PathBuf>);

/// The kernel settings after layering, each with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelChoice {
    /// `--stamp-version`, else the profile's `[bpf] stamp_version`.
    pub stamp_version: Setting<bool>,
    pub tree: Option<Setting<TreePaths>>,
    pub version: Option<Setting<String>>,
    pub libbpf_include: Option<Setting<PathBuf>>,
    /// In place of `tree`: a reference kernel, fetched or cached. Its
    /// origin is `Default` when nothing named a kernel and the profile's
    /// default stands in.
    pub reference: Option<Setting<Spec>>,
    /// What the kernel capability check lets through.
    pub allow: Option<Setting<Vec<String>>>,
    /// The clang and llc named by a flag or env (`CLANG`, `LLC`).
    pub tools: ToolOverrides,
}

impl KernelChoice {
    pub fn src(&self) -> Option<&Path> {
        self.tree.as_ref().and_then(|t| t.value.0.as_deref())
    }
    pub fn build(&self) -> Option<&Path> {
        self.tree.as_ref().and_then(|t| t.value.1.as_deref())
    }
}

fn pair(src: Option<PathBuf>, build: Option<PathBuf>) -> Option<TreePaths> {
    (src.is_some() || build.is_some()).then_some((src, build))
}

/// What one layer names as the kernel: a tree or a reference kernel.
#[derive(Debug, Clone, PartialEq)]
enum Kernel {
    Tree(TreePaths),
    Reference(Spec),
}

/// One layer's kernel; naming both a tree and a reference kernel in one
/// layer is ambiguous and refused.
fn at_layer(
    reference: Option<String>,
    tree: Option<TreePaths>,
    what: (&str, &str, &str),
) -> Result<Option<Kernel>> {
    let (layer, ref_name, tree_names) = what;
    match (reference.filter(|r| !r.is_empty()), tree) {
        (Some(r), Some(_)) => Err(crate::error::Error::Usage {
            message: format!("{layer} names both a reference kernel (`{r}`) and a kernel tree"),
            hint: format!("a reference kernel brings its own tree: drop {ref_name} to use your tree, or drop {tree_names} to use the reference kernel"),
        }),
        (Some(r), None) => Ok(Some(Kernel::Reference(Spec::parse(&r)?))),
        (None, Some(t)) => Ok(Some(Kernel::Tree(t))),
        (None, None) => Ok(None),
    }
}

/// What the layers of one kernel choice read: the flags, the environment,
/// the package's metadata (paths relative to `manifest`'s dir) and the
/// profile. Each method resolves one setting.
struct Sources<'a> {
    opts: &'a KernelOptions,
    env: &'a dyn Env,
    meta: KernelSection,
    manifest: Option<&'a Path>,
    profile: &'a Profile,
    pname: String,
}

impl Sources<'_> {
    fn env_path(&self, k: &str) -> Option<PathBuf> {
        self.env.var(k).map(|v| from_cwd(PathBuf::from(v)))
    }
    fn meta_path(&self, p: &Option<PathBuf>) -> Option<PathBuf> {
        p.clone().map(|p| from_manifest(self.manifest, p))
    }

    /// A tree or reference kernel given at a higher layer replaces both
    /// halves of a lower one; mixing a flag's source with a profile's build
    /// dir would be a surprise.
    fn kernel(&self) -> Result<Option<Setting<Kernel>>> {
        let (opts, env, prof) = (self.opts, self.env, &self.profile.kernel);
        let flag_name = match (opts.kernel.first(), &opts.kernel_src) {
            (Some(_), _) => "--kernel",
            (None, Some(_)) => "--kernel-src",
            (None, None) => "--kernel-build",
        };
        let env_name = ["EBPF_CROSS_KERNEL", "EBPF_CROSS_KERNEL_SRC"]
            .into_iter()
            .find(|k| env.var(k).is_some())
            .unwrap_or("EBPF_CROSS_KERNEL_BUILD");
        Ok(Layers::new()
            .flag(
                flag_name,
                at_layer(
                    opts.kernel.first().cloned(),
                    pair(
                        opts.kernel_src.clone().map(from_cwd),
                        opts.kernel_build.clone().map(from_cwd),
                    ),
                    (
                        "the command line",
                        "--kernel",
                        "--kernel-src/--kernel-build",
                    ),
                )?,
            )
            .env(
                env_name,
                at_layer(
                    env.var("EBPF_CROSS_KERNEL"),
                    pair(
                        self.env_path("EBPF_CROSS_KERNEL_SRC"),
                        self.env_path("EBPF_CROSS_KERNEL_BUILD"),
                    ),
                    (
                        "the environment",
                        "EBPF_CROSS_KERNEL",
                        "EBPF_CROSS_KERNEL_SRC/EBPF_CROSS_KERNEL_BUILD",
                    ),
                )?,
            )
            .metadata(
                self.manifest,
                at_layer(
                    self.meta.reference.clone(),
                    pair(
                        self.meta_path(&self.meta.source),
                        self.meta_path(&self.meta.build),
                    ),
                    (
                        "[package.metadata.ebpf-cross.kernel]",
                        "`reference`",
                        "`source`/`build`",
                    ),
                )?,
            )
            .profile(
                &self.pname,
                at_layer(
                    prof.reference.clone(),
                    pair(prof.source.clone(), prof.build.clone()),
                    (
                        &format!("profile {}", self.pname),
                        "[kernel] reference",
                        "[kernel] source/build",
                    ),
                )?,
            )
            .resolve())
    }

    fn version(&self) -> Option<Setting<String>> {
        Layers::new()
            .flag("--kernel-version", self.opts.kernel_version.clone())
            .env(
                "EBPF_CROSS_KERNEL_VERSION",
                self.env.var("EBPF_CROSS_KERNEL_VERSION"),
            )
            .metadata(self.manifest, self.meta.version.clone())
            .profile(&self.pname, self.profile.kernel.version.clone())
            .resolve()
    }

    fn libbpf_include(&self) -> Option<Setting<PathBuf>> {
        Layers::new()
            .flag(
                "--libbpf-include",
                self.opts.libbpf_include.clone().map(from_cwd),
            )
            .env(
                "EBPF_CROSS_LIBBPF_INCLUDE",
                self.env_path("EBPF_CROSS_LIBBPF_INCLUDE"),
            )
            .metadata(self.manifest, self.meta_path(&self.meta.libbpf_include))
            .profile(&self.pname, self.profile.kernel.libbpf_include.clone())
            .resolve()
    }

    /// `--no-kernel-check` is the flag layer's `all`.
    fn allow(&self) -> Option<Setting<Vec<String>>> {
        let opts = self.opts;
        let (flag_name, flag_allow) = if opts.no_kernel_check {
            ("--no-kernel-check", Some(vec!["all".to_string()]))
        } else {
            (
                "--kernel-allow",
                (!opts.kernel_allow.is_empty()).then(|| opts.kernel_allow.clone()),
            )
        };
        Layers::new()
            .flag(flag_name, flag_allow)
            .env(
                "EBPF_CROSS_KERNEL_ALLOW",
                self.env.var("EBPF_CROSS_KERNEL_ALLOW").map(|v| vec![v]),
            )
            .metadata(self.manifest, self.meta.allow.clone())
            .profile(&self.pname, self.profile.kernel.allow.clone())
            .resolve()
    }

    fn stamp_version(&self) -> Setting<bool> {
        Layers::new()
            .flag("--stamp-version", self.opts.stamp_version.then_some(true))
            .profile(&self.pname, self.profile.bpf.stamp_version)
            .default_value(false)
            .resolve()
            .expect("has a default")
    }

    fn tools(&self) -> ToolOverrides {
        let tool = |flag: &str, var: &str, v: &Option<String>| {
            Layers::new()
                .flag(flag, v.clone())
                .env(var, self.env.var(var))
                .resolve()
        };
        ToolOverrides {
            clang: tool("--clang", "CLANG", &self.opts.clang),
            llc: tool("--llc", "LLC", &self.opts.llc),
        }
    }
}

/// `manifest` is the loader package's Cargo.toml when there is a project;
/// its metadata's relative paths are taken from its dir.
pub fn layer(
    opts: &KernelOptions,
    env: &dyn Env,
    metadata: Option<&KernelSection>,
    manifest: Option<&Path>,
    profile: &Profile,
) -> Result<KernelChoice> {
    if opts.kernel.len() > 1 {
        return Err(crate::error::Error::Usage {
            message: format!(
                "--kernel is given {} times ({})",
                opts.kernel.len(),
                opts.kernel.join(", ")
            ),
            hint: "only `run` takes several kernels (a kernel matrix: one build and one boot per kernel); give one --kernel here".into(),
        });
    }
    let sources = Sources {
        opts,
        env,
        meta: metadata.cloned().unwrap_or_default(),
        manifest,
        profile,
        pname: profile_label(profile),
    };
    let (mut tree, mut reference) = (None, None);
    match sources.kernel()? {
        Some(Setting {
            value: Kernel::Tree(t),
            origin,
        }) => tree = Some(Setting::new(t, origin)),
        Some(Setting {
            value: Kernel::Reference(r),
            origin,
        }) => reference = Some(Setting::new(r, origin)),
        None => {}
    }
    let version = sources.version();
    // The embedded default: nothing names a tree, a version, or (for
    // CO-RE) a BTF, so the profile's own reference kernel stands in.
    let core_with_btf = profile.bpf.mode == Some(BpfMode::Core) && profile.bpf.btf.is_some();
    if tree.is_none() && reference.is_none() && version.is_none() && !core_with_btf {
        if let Some(spec) = reference::default_spec(profile) {
            reference = Some(Setting::new(spec?, Origin::Default));
        }
    }
    Ok(KernelChoice {
        stamp_version: sources.stamp_version(),
        tree,
        version,
        libbpf_include: sources.libbpf_include(),
        reference,
        allow: sources.allow(),
        tools: sources.tools(),
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
    let w = reference::wanted(profile, &rc.value)?;
    let r = reference::obtain(&w, policy)?;
    // `run` resolves before its build does; one note is enough.
    static NOTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if rc.origin == Origin::Default && !NOTED.swap(true, std::sync::atomic::Ordering::SeqCst) {
        crate::ui::note(&format!(
            "no kernel tree given; building against Debian's {} {} reference kernel (--kernel-src selects your board's)",
            r.version, r.flavour
        ));
    }
    choice.tree = Some(Setting::new(
        (Some(r.source.clone()), Some(r.build.clone())),
        rc.origin.clone(),
    ));
    // The release's own libbpf headers, so a reference build never falls
    // back to the host's; an explicit libbpf include still wins.
    if choice.libbpf_include.is_none() {
        choice.libbpf_include = Some(Setting::new(r.libbpf_include.clone(), rc.origin));
    }
    Ok(Some(r))
}

/// Opens the tree (if any), finds the tools and the helper headers, and
/// says where the helper dir will be staged ([`stage`] writes it). No tree
/// is fine when a version is given: CO-RE and tree-less compiles need only
/// that.
pub fn context(
    mut profile: Profile,
    choice: &KernelChoice,
    state_dir: &std::path::Path,
    policy: Policy,
) -> Result<Context> {
    let mut choice = choice.clone();
    let reference = materialise(&mut choice, &profile, policy)?;
    profile.bpf.stamp_version = Some(choice.stamp_version.value);
    let given = match &choice.version {
        Some(v) => Some(Given {
            value: KernelVersion::parse(&v.value)?,
            from: v.origin.to_string(),
        }),
        None => None,
    };
    let tree = match &choice.tree {
        Some(_) => Some(KernelTree::open(
            choice.src(),
            choice.build(),
            &profile.arch,
            given.as_ref(),
        )?),
        None => None,
    };
    let version = tree.as_ref().map(|t| t.version).or(given.map(|g| g.value));
    let toolchain = toolchain::find(&choice.tools)?;
    let helpers = bpf_headers::find(
        tree.as_ref(),
        choice.libbpf_include.as_ref().map(|s| s.value.as_path()),
    )?;
    let staged_include = state_dir.join("include");
    Ok(Context {
        profile,
        tree,
        version,
        toolchain,
        helpers,
        staged_include,
        extra_cflags: crate::bpf_compile::extra_cflags_from_env(),
        reference,
        policy,
    })
}

/// Writes the staged helper dir; separate so `--dry-run` can skip it.
pub fn stage(ctx: &Context) -> Result<()> {
    bpf_headers::stage(&ctx.helpers, &ctx.staged_include)?;
    if ctx.profile.bpf.mode == Some(crate::profile::BpfMode::Core) {
        let btf = core_btf(ctx)?.ok_or_else(|| crate::error::Error::Usage {
            message: format!("profile `{}` uses CO-RE mode but names no target BTF", ctx.profile.name),
            hint: "set [bpf] btf = \"path/to/vmlinux-or.btf\" (a build tree's vmlinux is used when present), or build against a reference kernel with --kernel debian:RELEASE".into(),
        })?;
        bpf_headers::write_vmlinux_h(&btf, &ctx.staged_include)?;
    }
    Ok(())
}

/// The target's BTF: the profile's; for a reference kernel, the one inside
/// its image (extracted once and cached beside it; an error when that
/// kernel was built without BTF, whatever its headers hold: trixie's
/// armmp headers carry an empty `vmlinux`); else the build tree's vmlinux.
/// A vmlinux with DWARF but no `.BTF` gets one made by pahole (cached by
/// its sha256), so kernels built without CONFIG_DEBUG_INFO_BTF work too.
pub fn core_btf(ctx: &Context) -> Result<Option<PathBuf>> {
    if let Some(r) = &ctx.reference {
        if ctx.profile.bpf.btf.is_none() {
            return crate::kernel_btf::for_reference(r, ctx.policy).map(Some);
        }
    }
    let given = ctx.profile.bpf.btf.clone().or_else(|| {
        ctx.tree
            .as_ref()
            .map(|t| t.build.join("vmlinux"))
            .filter(|p| p.is_file())
    });
    let Some(given) = given else {
        return Ok(None);
    };
    if !given.is_file() {
        // write_vmlinux_h names a missing file with its own hint.
        return Ok(Some(given));
    }
    let cache = crate::reference::cache::Cache::open()?;
    crate::dwarf_btf::btf_for(&given, &ctx.profile.arch, &cache.root).map(Some)
}

/// The kernel file that names the CO-RE target kernel's identity (its
/// `linux_banner`): the BTF source when it is a vmlinux, else the
/// reference kernel's image, else the build tree's vmlinux.
pub fn core_kernel_file(ctx: &Context) -> Option<PathBuf> {
    if let Some(b) = &ctx.profile.bpf.btf {
        return Some(b.clone());
    }
    if let Some(r) = &ctx.reference {
        return Some(r.image.clone());
    }
    ctx.tree
        .as_ref()
        .map(|t| t.build.join("vmlinux"))
        .filter(|p| p.is_file())
}

/// Whether the loader links statically: `--static`/`--no-static`, else
/// `EBPF_CROSS_STATIC`, else the package metadata's `static`, else the
/// profile's `[loader] static`, else dynamic. A lower layer's `false` is a
/// real answer, not "unset".
pub fn static_link(
    flag: Option<bool>,
    env: &dyn Env,
    metadata: Option<bool>,
    manifest: Option<&Path>,
    profile: &Profile,
) -> Result<Setting<bool>> {
    Ok(Layers::new()
        .flag("--static/--no-static", flag)
        .env(
            "EBPF_CROSS_STATIC",
            crate::settings::env_bool(env, "EBPF_CROSS_STATIC")?,
        )
        .metadata(manifest, metadata)
        .profile(&profile_label(profile), profile.loader.static_)
        .default_value(false)
        .resolve()
        .expect("has a default"))
}

/// The loader's Rust triple or target-spec JSON: `--rust-target`, else
/// `EBPF_CROSS_RUST_TARGET`, else the profile's (its arch's by default).
pub fn rust_target(flag: Option<&str>, env: &dyn Env, profile: &Profile) -> Setting<String> {
    Layers::new()
        .flag("--rust-target", flag.map(str::to_string))
        .env("EBPF_CROSS_RUST_TARGET", env.var("EBPF_CROSS_RUST_TARGET"))
        .profile(
            &profile_label(profile),
            Some(profile.rust_target().to_string()),
        )
        .resolve()
        .expect("the profile always has one")
}

/// What `run` boots: the kernel image and busybox, each with its origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestInputs {
    pub kernel_image: Option<Setting<PathBuf>>,
    pub busybox: Option<Setting<PathBuf>>,
}

impl GuestInputs {
    /// Which of the two the user named by flag or env, beating any kernel.
    pub fn named_by_user(&self) -> (bool, bool) {
        let by_user = |s: &Option<Setting<PathBuf>>| {
            s.as_ref()
                .is_some_and(|s| matches!(s.origin, Origin::Flag(_) | Origin::Env(_)))
        };
        (by_user(&self.kernel_image), by_user(&self.busybox))
    }
}

/// The flags and env beat everything. A reference kernel is one unit:
/// named at any layer, its image and busybox beat the profile's `[qemu]`
/// ones; standing in as the profile's default, it only fills in what the
/// profile leaves out. `reference` is the record of the kernel choice's
/// reference kernel, with that choice's origin.
pub fn guest_inputs(
    flags: (Option<PathBuf>, Option<PathBuf>),
    env: &dyn Env,
    profile: &Profile,
    reference: Option<(&Record, &Origin)>,
) -> GuestInputs {
    let pname = profile_label(profile);
    let q = profile.qemu.clone().unwrap_or_default();
    let pick = |flag_name: &str,
                flag: Option<PathBuf>,
                var: &str,
                from_profile: Option<PathBuf>,
                from_ref: fn(&Record) -> PathBuf| {
        let given = Layers::new()
            .flag(flag_name, flag.map(from_cwd))
            .env(var, env.var(var).map(|v| from_cwd(v.into())))
            .resolve();
        let from_profile = Layers::new().profile(&pname, from_profile).resolve();
        let from_ref = reference.map(|(r, origin)| Setting::new(from_ref(r), origin.clone()));
        given.or(match from_ref {
            Some(r) if r.origin != Origin::Default => Some(r),
            r => from_profile.or(r),
        })
    };
    GuestInputs {
        kernel_image: pick(
            "--kernel-image",
            flags.0,
            "EBPF_CROSS_KERNEL_IMAGE",
            q.kernel_image,
            |r| r.image.clone(),
        ),
        busybox: pick("--busybox", flags.1, "EBPF_CROSS_BUSYBOX", q.busybox, |r| {
            r.busybox.clone()
        }),
    }
}

/// The ssh config file for `run --ssh` and `runner`: `--ssh-config`, else
/// `EBPF_CROSS_SSH_CONFIG`, else none (ssh reads `~/.ssh/config`).
pub fn ssh_config(flag: Option<PathBuf>, env: &dyn Env) -> Option<Setting<PathBuf>> {
    Layers::new()
        .flag("--ssh-config", flag.map(from_cwd))
        .env(
            "EBPF_CROSS_SSH_CONFIG",
            env.var("EBPF_CROSS_SSH_CONFIG").map(|v| from_cwd(v.into())),
        )
        .resolve()
}

/// The reference kernel `kernel fetch` caches: `--kernel`, else
/// `EBPF_CROSS_KERNEL`; None is the profile's default.
pub fn fetch_kernel(flag: Option<String>, env: &dyn Env) -> Option<Setting<String>> {
    Layers::new()
        .flag("--kernel", flag)
        .env("EBPF_CROSS_KERNEL", env.var("EBPF_CROSS_KERNEL"))
        .resolve()
}

/// How a profile is named in origins: its board file, else its name.
pub fn profile_label(profile: &Profile) -> String {
    profile
        .file
        .as_ref()
        .map(|f| f.display().to_string())
        .unwrap_or_else(|| profile.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Origin;

    fn prof_with_kernel() -> Profile {
        let mut p = Profile::load("armv7").unwrap();
        p.kernel = KernelSection {
            source: Some("/prof/src".into()),
            build: Some("/prof/build".into()),
            version: Some("4.19".into()),
            libbpf_include: Some("/prof/libbpf".into()),
            reference: None,
            allow: Some(vec!["loops".into()]),
        };
        p
    }

    struct MapEnv(Vec<(&'static str, &'static str)>);
    impl Env for MapEnv {
        fn var(&self, k: &str) -> Option<String> {
            self.0
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn flag_beats_env_beats_metadata_beats_profile() {
        let p = prof_with_kernel();
        let no_env = MapEnv(vec![]);
        let none = layer(&KernelOptions::default(), &no_env, None, None, &p).unwrap();
        assert_eq!(none.src(), Some(Path::new("/prof/src")));
        let v = none.version.unwrap();
        assert_eq!(
            (v.value.as_str(), v.origin),
            ("4.19", Origin::Profile("armv7".into()))
        );

        let meta = KernelSection {
            source: Some("../linux".into()),
            version: Some("5.10".into()),
            ..Default::default()
        };
        let manifest = Path::new("/w/pkg/Cargo.toml");
        let m = layer(
            &KernelOptions::default(),
            &no_env,
            Some(&meta),
            Some(manifest),
            &p,
        )
        .unwrap();
        assert_eq!(
            m.src(),
            Some(Path::new("/w/pkg/../linux")),
            "metadata paths are relative to the manifest"
        );
        assert_eq!(
            m.build(),
            None,
            "a tree from a higher layer replaces both halves"
        );
        assert_eq!(m.version.as_ref().unwrap().value, "5.10");
        assert_eq!(m.version.unwrap().origin, Origin::Metadata(manifest.into()));
        assert_eq!(
            m.libbpf_include.unwrap().value,
            PathBuf::from("/prof/libbpf")
        );

        let env = MapEnv(vec![
            ("EBPF_CROSS_KERNEL_BUILD", "/env/build"),
            ("EBPF_CROSS_KERNEL_VERSION", "5.15"),
        ]);
        let e = layer(
            &KernelOptions::default(),
            &env,
            Some(&meta),
            Some(manifest),
            &p,
        )
        .unwrap();
        assert_eq!((e.src(), e.build()), (None, Some(Path::new("/env/build"))));
        assert_eq!(
            e.tree.unwrap().origin,
            Origin::Env("EBPF_CROSS_KERNEL_BUILD".into())
        );
        assert_eq!(e.version.unwrap().value, "5.15");

        let opts = KernelOptions {
            kernel_build: Some("/flag/build".into()),
            kernel_version: Some("6.1".into()),
            stamp_version: true,
            ..Default::default()
        };
        let f = layer(&opts, &env, Some(&meta), Some(manifest), &p).unwrap();
        assert_eq!(f.src(), None);
        assert_eq!(f.build(), Some(Path::new("/flag/build")));
        assert_eq!(
            f.tree.unwrap().origin,
            Origin::Flag("--kernel-build".into())
        );
        assert_eq!(
            f.version.unwrap().origin,
            Origin::Flag("--kernel-version".into())
        );
        assert!(f.stamp_version.value);
    }

    #[test]
    fn static_follows_the_layers_and_false_is_an_answer() {
        let mut p = Profile::load("armv7").unwrap();
        p.loader.static_ = Some(true);
        let none = MapEnv(vec![]);
        let m = Path::new("/w/Cargo.toml");
        let s = static_link(None, &none, None, Some(m), &p).unwrap();
        assert_eq!((s.value, s.origin), (true, Origin::Profile("armv7".into())));
        let s = static_link(None, &none, Some(false), Some(m), &p).unwrap();
        assert_eq!((s.value, s.origin), (false, Origin::Metadata(m.into())));
        let env = MapEnv(vec![("EBPF_CROSS_STATIC", "1")]);
        let s = static_link(None, &env, Some(false), Some(m), &p).unwrap();
        assert_eq!(
            (s.value, s.origin),
            (true, Origin::Env("EBPF_CROSS_STATIC".into()))
        );
        // The command line beats the environment.
        let s = static_link(Some(false), &env, Some(true), Some(m), &p).unwrap();
        assert_eq!(
            (s.value, s.origin),
            (false, Origin::Flag("--static/--no-static".into()))
        );
        p.loader.static_ = None;
        let s = static_link(None, &none, None, None, &p).unwrap();
        assert_eq!((s.value, s.origin), (false, Origin::Default));
        let bad = MapEnv(vec![("EBPF_CROSS_STATIC", "sometimes")]);
        assert_eq!(
            static_link(None, &bad, None, None, &p)
                .unwrap_err()
                .to_string(),
            "EBPF_CROSS_STATIC=`sometimes` is not a boolean"
        );
    }
}
