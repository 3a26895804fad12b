//! `cargo ebpf-cross build`: objects, loader, verification and bundle, for
//! one or more boards.

use std::path::PathBuf;

pub use crate::options::{BuildArgs, BuildOpts, MessageFormat, ProjectArgs};

use std::path::Path;

use crate::bpf_compile::{self, CompilePlan, Context};
use crate::bundle::{self, Content, Manifest};
use crate::elf_check;
use crate::error::{Error, Result};
use crate::loader_build::{self, BoardInput, CargoFlags, LoaderInput, PackageMetadata, ProcessEnv};
use crate::ops::Global;
use crate::profile::Profile;
use crate::reference::Policy;
use crate::resolve;
use crate::settings::Setting;
use crate::ui;

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

fn metadata(opts: &ProjectArgs) -> Result<cargo_metadata::Metadata> {
    super::cargo_metadata(
        opts.manifest_path.as_deref(),
        "run inside the loader's package, or pass --manifest-path path/to/Cargo.toml",
    )
}

fn names(packages: &[&cargo_metadata::Package]) -> String {
    packages
        .iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The workspace member called `name`.
fn named<'m>(
    members: &[&'m cargo_metadata::Package],
    name: &str,
) -> Result<&'m cargo_metadata::Package> {
    members
        .iter()
        .find(|p| p.name == *name)
        .copied()
        .ok_or_else(|| {
            usage(
                format!("package `{name}` is not in the workspace"),
                &format!("members: {}", names(members)),
            )
        })
}

/// The members with `[package.metadata.ebpf-cross]`; at least one.
fn loader_packages<'m>(
    members: &[&'m cargo_metadata::Package],
) -> Result<Vec<&'m cargo_metadata::Package>> {
    let with_meta: Vec<_> = members
        .iter()
        .filter(|p| p.metadata.get("ebpf-cross").is_some())
        .copied()
        .collect();
    if with_meta.is_empty() {
        return Err(usage(
            "no loader package: no package in the workspace has [package.metadata.ebpf-cross]"
                .into(),
            "add `[package.metadata.ebpf-cross]` (it may be empty) to the loader's Cargo.toml, or pass -p PKG",
        ));
    }
    Ok(with_meta)
}

/// The loader package: `-p`, else the one member with our metadata.
fn select<'m>(
    meta: &'m cargo_metadata::Metadata,
    opts: &ProjectArgs,
) -> Result<&'m cargo_metadata::Package> {
    one_package(opts)?;
    let members: Vec<&cargo_metadata::Package> = meta.workspace_packages();
    match opts.package.first() {
        Some(name) => named(&members, name),
        None => match loader_packages(&members)?.as_slice() {
            [one] => Ok(*one),
            many => Err(usage(
                format!("several loader packages: {}", names(many)),
                "choose one with -p PKG (`build` also takes -p more than once, or --workspace for all of them)",
            )),
        },
    }
}

/// Every command but `build` works on one package, so `-p` given twice is
/// refused up front, even where the package is optional.
pub fn one_package(opts: &ProjectArgs) -> Result<()> {
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

/// The loader packages `build` makes bundles of: every member with our
/// metadata for `--workspace`, each `-p` in the order given, else the one
/// [`select`] finds.
fn select_many<'m>(
    meta: &'m cargo_metadata::Metadata,
    opts: &ProjectArgs,
    workspace: bool,
) -> Result<Vec<&'m cargo_metadata::Package>> {
    let members: Vec<&cargo_metadata::Package> = meta.workspace_packages();
    if workspace {
        return loader_packages(&members);
    }
    if opts.package.len() > 1 {
        let mut out: Vec<&cargo_metadata::Package> = Vec::new();
        for name in &opts.package {
            let p = named(&members, name)?;
            // `-p a -p a` builds `a` once, as cargo does.
            if !out.iter().any(|o| o.name == p.name) {
                out.push(p);
            }
        }
        return Ok(out);
    }
    Ok(vec![select(meta, opts)?])
}

impl Project {
    /// The loader package's Cargo.toml, found the way `build` finds it, so
    /// that `run` and `install` look up boards in the same place.
    pub fn locate(opts: &ProjectArgs) -> Result<PathBuf> {
        let meta = metadata(opts)?;
        Ok(select(&meta, opts)?
            .manifest_path
            .as_std_path()
            .to_path_buf())
    }

    pub fn load(opts: &ProjectArgs) -> Result<Project> {
        let meta = metadata(opts)?;
        Project::of(&meta, select(&meta, opts)?, opts)
    }

    /// The packages `build` was asked for, each loaded as [`Project::load`]
    /// would.
    pub fn load_many(opts: &ProjectArgs, workspace: bool) -> Result<Vec<Project>> {
        let meta = metadata(opts)?;
        select_many(&meta, opts, workspace)?
            .into_iter()
            .map(|pkg| Project::of(&meta, pkg, opts))
            .collect()
    }

    fn of(
        meta: &cargo_metadata::Metadata,
        pkg: &cargo_metadata::Package,
        opts: &ProjectArgs,
    ) -> Result<Project> {
        let md: PackageMetadata = match pkg.metadata.get("ebpf-cross") {
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
                usage(
                    format!(
                        "[package.metadata.ebpf-cross] in {}: {e}",
                        pkg.manifest_path
                    ),
                    "known keys: programs, bindings, bin, static, per_target_env, kernel",
                )
            })?,
            None => PackageMetadata::default(),
        };
        let bins: Vec<&str> = pkg
            .targets
            .iter()
            .filter(|t| t.is_bin())
            .map(|t| t.name.as_str())
            .collect();
        let bin = match (&md.bin, bins.as_slice()) {
            (Some(b), _) if bins.contains(&b.as_str()) => b.clone(),
            (Some(b), _) => {
                return Err(usage(
                    format!("`bin = \"{b}\"` is not a binary of package `{}`", pkg.name),
                    &format!("its binaries: {}", bins.join(", ")),
                ))
            }
            (None, [one]) => one.to_string(),
            (None, []) => {
                return Err(usage(
                    format!("package `{}` has no binary to use as the loader", pkg.name),
                    "add src/main.rs or a [[bin]] target",
                ))
            }
            (None, many) => {
                return Err(usage(
                    format!("package `{}` has several binaries ({}) and no `bin` in [package.metadata.ebpf-cross]", pkg.name, many.join(", ")),
                    "set `bin = \"<name>\"` in [package.metadata.ebpf-cross]",
                ))
            }
        };
        let pkg_dir = pkg
            .manifest_path
            .parent()
            .map(|p| p.as_std_path().to_path_buf())
            .unwrap_or_default();
        let globs = md
            .programs
            .clone()
            .unwrap_or_else(|| vec![loader_build::DEFAULT_PROGRAMS.to_string()]);
        let programs = expand(&pkg_dir, &globs, "programs")?;
        if programs.is_empty() {
            return Err(usage(
                format!("no BPF programs match {} in {}", globs.join(", "), pkg_dir.display()),
                "put BPF C sources in bpf/*.bpf.c, or set `programs = [\"...\"]` in [package.metadata.ebpf-cross]",
            ));
        }
        bpf_compile::check_sources(&programs)?;
        let bindings = expand(&pkg_dir, md.bindings.as_deref().unwrap_or(&[]), "bindings")?;
        let target_dir = opts
            .target_dir
            .clone()
            .map(|d| std::env::current_dir().unwrap_or_default().join(d))
            .unwrap_or_else(|| meta.target_directory.as_std_path().to_path_buf());
        Ok(Project {
            manifest: pkg.manifest_path.as_std_path().to_path_buf(),
            package: pkg.name.to_string(),
            version: pkg.version.to_string(),
            bin,
            programs,
            bindings,
            static_: md.static_,
            metadata: md,
            target_dir,
        })
    }
}

fn expand(dir: &Path, patterns: &[String], key: &str) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for pat in patterns {
        let full = dir.join(pat);
        let g = glob::glob(&full.display().to_string()).map_err(|e| {
            usage(
                format!("bad glob `{pat}` in `{key}`: {e}"),
                "use globs like bpf/*.bpf.c",
            )
        })?;
        let mut hits: Vec<PathBuf> = g.filter_map(|e| e.ok()).filter(|p| p.is_file()).collect();
        if hits.is_empty() && !pat.contains(['*', '?', '[']) {
            return Err(Error::SourceMissing(full));
        }
        hits.sort();
        out.extend(hits);
    }
    out.dedup();
    Ok(out)
}

/// One board's worth of work.
struct TargetJob {
    profile_name: String,
    ctx: Context,
    plans: Vec<CompilePlan>,
    /// This package's objects for the board (what its build script embeds).
    obj_dir: PathBuf,
    /// This package's objects, stamps and compile_commands.json for the
    /// board: per package, so two loader packages in one target dir never
    /// see each other's objects.
    work_dir: PathBuf,
    /// The board's bundles and SHA256SUMS (one line per package).
    out_dir: PathBuf,
    rust_target: String,
    /// `static`, resolved once: the spec check and the cargo run agree.
    static_: Setting<bool>,
    /// Whether reference kernels may be downloaded (`[bpf] also_kernels`).
    policy: Policy,
    /// What the kernel capability check lets through.
    allow: Option<Setting<Vec<String>>>,
}

/// `kernel_dir` keys a kernel of a matrix: two kernels of one board share
/// its Rust triple and its out dir, so each gets a dir of its own under it.
fn prepare(
    g: Global,
    project: &Project,
    opts: &BuildOpts,
    spec: &str,
    kernel_dir: Option<&str>,
) -> Result<TargetJob> {
    let boards = super::board_dirs(opts.project.boards.as_deref(), Some(&project.manifest));
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

fn human_size(n: u64) -> String {
    if n >= 1024 * 1024 {
        format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0))
    } else {
        format!("{} KiB", n.div_ceil(1024))
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

/// The objects' JSON lines and the bindings: what the loader build needs
/// from one board, once its objects are compiled.
fn before_loader(g: Global, project: &Project, opts: &BuildOpts, job: &TargetJob) -> Result<()> {
    if g.dry_run {
        return Ok(());
    }
    if opts.message_format == MessageFormat::Json {
        for p in &job.plans {
            let bytes = std::fs::read(&p.output).map_err(crate::error::read_err(&p.output))?;
            emit_json(
                crate::message::Message::Object,
                &project.package,
                &job.profile_name,
                &p.output,
                &crate::fsutil::sha256_hex(&bytes),
            );
        }
    }
    if !project.bindings.is_empty() {
        // Checked before any header, so the error is about libclang itself.
        crate::bindings::ensure_libclang()?;
    }
    let profile = &job.ctx.profile;
    for h in &project.bindings {
        let plan = crate::bindings::plan(
            h,
            &job.obj_dir,
            &job.rust_target,
            job.ctx.tree.as_ref(),
            &profile.arch.srcarch,
            &job.ctx.toolchain.resource_include,
        );
        crate::bindings::run(&plan)?;
    }
    Ok(())
}

/// The board's part of a cargo run: its linker and flags.
fn loader_target(project: &Project, job: &TargetJob) -> Result<loader_build::LoaderTarget> {
    let static_ = &job.static_;
    if ui::get().verbose {
        ui::status(
            "Static",
            &format!(
                "{} (from {}) for {}",
                static_.value, static_.origin, job.profile_name
            ),
        );
    }
    let pkg_dir = crate::fsutil::parent_dir(&project.manifest);
    let user = loader_build::read_user_cargo(&pkg_dir, &job.rust_target);
    let board = BoardInput {
        profile: &job.ctx.profile,
        rust_target: &job.rust_target,
        static_: static_.value,
        obj_dir: &job.obj_dir,
        kernel_version: job.ctx.version.map(|v| v.to_string()),
    };
    loader_build::loader_target(&board, &user, &ProcessEnv)
}

/// A board's bundle, made; what is said about it waits for cargo to end
/// (a line in the middle of cargo's progress bar would garble it).
struct Made {
    path: PathBuf,
    sha: String,
    loader_sha: String,
    exe: PathBuf,
}

/// Verification and bundle for one board whose loader cargo built. It runs
/// while cargo may still build other boards' loaders, so it prints nothing.
fn make_bundle(
    project: &Project,
    job: &TargetJob,
    target: &loader_build::LoaderTarget,
    exe: &Path,
) -> Result<Made> {
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
    let loader_sha = crate::fsutil::sha256_hex(&loader);
    let mut contents = vec![Content {
        path: format!("bin/{}", project.bin),
        bytes: loader,
        executable: true,
    }];
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
    let objects: Vec<String> = contents[1..].iter().map(|c| c.path.clone()).collect();
    let btf = bundle_btf(job, &mut contents)?;
    let manifest = Manifest {
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
    };
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
fn announce_bundle(project: &Project, opts: &BuildOpts, job: &TargetJob, made: &Made) {
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

fn cargo_flags(opts: &BuildOpts) -> CargoFlags {
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

/// Loaders for every board whose objects are built, in as few cargo runs
/// as [`loader_build::group`] allows, then each board's bundle. Returns one
/// result per job, in the jobs' order.
fn build_loaders(
    g: Global,
    project: &Project,
    opts: &BuildOpts,
    jobs: &[&TargetJob],
) -> Vec<Result<PathBuf>> {
    let mut results: Vec<Option<Result<PathBuf>>> = jobs.iter().map(|_| None).collect();
    // Each board's own checks; a board that fails them stays out of cargo.
    let mut ready: Vec<(usize, loader_build::LoaderTarget)> = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        let target = before_loader(g, project, opts, job)
            .and_then(|_| loader_target(project, job))
            .and_then(|t| {
                if !g.dry_run {
                    loader_build::check_linker(&t)?;
                    loader_build::ensure_rust_target(
                        &job.rust_target,
                        !opts.no_rustup,
                        opts.offline || opts.frozen,
                    )?;
                }
                Ok(t)
            });
        match target {
            Ok(t) => ready.push((i, t)),
            Err(e) => results[i] = Some(Err(e)),
        }
    }
    let boards: Vec<loader_build::LoaderTarget> = ready.iter().map(|(_, t)| t.clone()).collect();
    let grouping = loader_build::group(
        &boards,
        project.metadata.per_target_env.unwrap_or(false),
        &project.package,
        &ProcessEnv,
    );
    if ui::get().verbose {
        for n in &grouping.notes {
            ui::status("Grouping", n);
        }
    }
    let flags = cargo_flags(opts);
    let input = LoaderInput {
        manifest: &project.manifest,
        package: &project.package,
        bin: &project.bin,
        flags: &flags,
    };
    for run in &grouping.runs {
        let targets: Vec<_> = run.iter().map(|&r| ready[r].1.clone()).collect();
        let plan = loader_build::plan(&input, &targets, &ProcessEnv);
        if g.dry_run {
            println!("{}", plan.cargo.display());
            for &r in run {
                // Where the bundle would go, so `run --dry-run` can name it.
                let job = jobs[ready[r].0];
                let top = bundle::top_dir(&project.package, &project.version, &job.profile_name);
                results[ready[r].0] = Some(Ok(bundle::tarball_path(&job.out_dir, &top)));
            }
            continue;
        }
        for t in &targets {
            ui::status(
                "Linking",
                &format!(
                    "loader ({}, {})",
                    loader_build::cargo_name(&t.rust_target),
                    t.linker.describe()
                ),
            );
        }
        // Same-triple boards run one after another into the same
        // target/<triple>/ dir, so each bundle is made before the next run.
        // Within a run, a board's bundle is made as soon as cargo reports
        // its loader, while cargo goes on with the others.
        let made: Vec<std::sync::OnceLock<Result<Made>>> =
            run.iter().map(|_| std::sync::OnceLock::new()).collect();
        let outcome = std::thread::scope(|s| {
            loader_build::run(&plan, |k, exe| {
                let (slot, job, t) = (&made[k], jobs[ready[run[k]].0], &ready[run[k]].1);
                let exe = exe.to_path_buf();
                s.spawn(move || {
                    let _ = slot.set(make_bundle(project, job, t, &exe));
                });
            })
        });
        match outcome {
            Ok(exes) => {
                for ((&r, exe), slot) in run.iter().zip(exes).zip(made) {
                    let i = ready[r].0;
                    // `run` reports every executable it returns, so a board
                    // with a loader has its bundle made by now.
                    let m = exe.and_then(|_| slot.into_inner().expect("made when reported"));
                    if let Ok(m) = &m {
                        announce_bundle(project, opts, jobs[i], m);
                    }
                    results[i] = Some(m.map(|m| m.path));
                }
            }
            Err(e) => {
                for &r in run {
                    results[ready[r].0] = Some(Err(Error::Loader {
                        message: e.to_string(),
                        hint: e.hint(),
                    }));
                }
            }
        }
    }
    results
        .into_iter()
        .map(|r| r.expect("every board has a result"))
        .collect()
}

/// The result of one target, for the summary.
struct Outcome {
    package: String,
    target: String,
    result: Result<PathBuf>,
}

fn build_all(
    g: Global,
    opts: &BuildOpts,
    project: &Project,
    targets: &[String],
    kernel_dir: Option<&str>,
) -> Vec<Outcome> {
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut jobs: Vec<TargetJob> = Vec::new();
    for t in targets {
        match prepare(g, project, opts, t, kernel_dir) {
            Ok(j) => jobs.push(j),
            Err(e) => outcomes.push(Outcome {
                package: project.package.clone(),
                target: t.clone(),
                result: Err(e),
            }),
        }
    }
    if g.dry_run {
        // A target that cannot be planned fails the dry run just as it
        // would fail the build; the others still print their plans.
        for j in &jobs {
            println!("# target {}", j.profile_name);
            super::compile::print_plans(&j.plans);
        }
        let all: Vec<&TargetJob> = jobs.iter().collect();
        for (j, result) in jobs.iter().zip(build_loaders(g, project, opts, &all)) {
            outcomes.push(Outcome {
                package: project.package.clone(),
                target: j.profile_name.clone(),
                result,
            });
        }
        return outcomes;
    }
    // BPF compiles of every board share one pool; loaders then build in as
    // few cargo runs as their triples allow.
    let mut staged = Vec::new();
    for j in &jobs {
        staged.push(
            resolve::stage(&j.ctx)
                .and_then(|_| {
                    std::fs::create_dir_all(&j.obj_dir).map_err(crate::error::write_err(&j.obj_dir))
                })
                .and_then(|_| remove_stale_objects(j))
                .and_then(|_| write_kprobe_facts(j)),
        );
    }
    let work: Vec<(usize, &CompilePlan)> = jobs
        .iter()
        .enumerate()
        .filter(|(i, _)| staged[*i].is_ok())
        .flat_map(|(i, j)| j.plans.iter().map(move |p| (i, p)))
        .collect();
    let results = std::thread::scope(|s| {
        s.spawn(loader_build::warm_up);
        super::parallel(&work, super::jobs(opts.jobs), |(i, p)| {
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
    let cwd = std::env::current_dir().unwrap_or_default();
    let mut compiled: Vec<&TargetJob> = Vec::new();
    // Kept in the order the targets were given, for the summary.
    let mut by_job: Vec<Option<Result<PathBuf>>> = jobs.iter().map(|_| None).collect();
    for (i, (j, err)) in jobs.iter().zip(compile_err).enumerate() {
        let ok = match err {
            Some(e) => Err(e),
            None => {
                let entries: Vec<_> = j
                    .plans
                    .iter()
                    .map(|p| bpf_compile::compile_command(&super::compile::absolute(p, &cwd), &cwd))
                    .collect();
                bpf_compile::write_compile_commands(
                    &j.work_dir.join("compile_commands.json"),
                    &entries,
                )
                .and_then(|_| super::compile::check_kernel(&j.plans, &j.ctx, j.allow.as_ref()))
            }
        };
        match ok {
            Ok(()) => compiled.push(j),
            Err(e) => by_job[i] = Some(Err(e)),
        }
    }
    let mut loaders = build_loaders(g, project, opts, &compiled).into_iter();
    for (j, slot) in jobs.iter().zip(by_job) {
        let result = match slot {
            Some(r) => r,
            None => loaders.next().expect("one result per compiled board"),
        };
        outcomes.push(Outcome {
            package: project.package.clone(),
            target: j.profile_name.clone(),
            result,
        });
    }
    outcomes
}

pub fn build(g: Global, a: BuildArgs) -> Result<i32> {
    // The same board twice would build and bundle twice into one place.
    for (i, t) in a.target.iter().enumerate() {
        if a.target[..i].contains(t) {
            return Err(usage(
                format!("--target {t} is given twice"),
                "name each board once; two boards of one triple need two board files (boards/NAME.toml)",
            ));
        }
    }
    let projects = Project::load_many(&a.opts.project, a.workspace)?;
    // One package after another: each cargo run builds one package for
    // its boards, and the runs share the target dir and so every
    // dependency built once.
    let outcomes: Vec<Outcome> = projects
        .iter()
        .flat_map(|p| build_all(g, &a.opts, p, &a.target, None))
        .collect();
    let several = projects.len() > 1;
    let label = |o: &Outcome| {
        if several {
            format!("{} ({})", o.target, o.package)
        } else {
            o.target.clone()
        }
    };
    let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
    let json = a.opts.message_format == MessageFormat::Json;
    if json {
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
    if outcomes.len() == 1 && failed == 1 {
        let o = outcomes.into_iter().next().expect("one");
        return Err(o.result.expect_err("failed"));
    }
    if (outcomes.len() > 1 && !ui::get().quiet && !g.dry_run) || failed > 0 {
        ui::status(
            "Summary",
            &format!("{} built, {} failed", outcomes.len() - failed, failed),
        );
        for o in &outcomes {
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
    if failed > 0 {
        return Err(Error::TargetsFailed {
            failed,
            total: outcomes.len(),
        });
    }
    Ok(0)
}

/// Builds one target's bundle and returns the tarball's path (for `run`).
pub fn build_bundle(g: Global, opts: &BuildOpts, target: &str) -> Result<PathBuf> {
    build_bundle_in(g, opts, target, None)
}

/// [`build_bundle`] for one kernel of a matrix: its objects, state and
/// bundle go under `<board's out dir>/kernels/<kernel_dir>/`.
pub fn build_bundle_in(
    g: Global,
    opts: &BuildOpts,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human_size(612 * 1024), "612 KiB");
        assert_eq!(human_size(1), "1 KiB");
        assert_eq!(human_size(3 * 1024 * 1024), "3.0 MiB");
    }

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
