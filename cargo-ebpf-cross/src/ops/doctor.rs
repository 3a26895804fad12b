//! `cargo ebpf-cross doctor`: everything a target needs, each missing piece
//! with the Debian/Ubuntu package or command that provides it.

use std::path::PathBuf;

use crate::bpf_headers;
use crate::error::{Error, Result};
use crate::kernel_caps;
use crate::kernel_tree::{Given, KernelTree};
use crate::options::DoctorOptions;
use crate::profile::Profile;
use crate::reference::Policy;
use crate::resolve;
use crate::toolchain;
use crate::version::KernelVersion;

struct Report {
    problems: usize,
}

impl Report {
    fn ok(&self, what: &str, detail: &str) {
        println!("  ok       {what:<22} {detail}");
    }
    fn missing(&mut self, what: &str, detail: &str, fix: &str) {
        self.problems += 1;
        println!("  MISSING  {what:<22} {detail}");
        for l in fix.lines() {
            println!("           {:<22} fix: {l}", "");
        }
    }
    fn note(&self, what: &str, detail: &str) {
        println!("  -        {what:<22} {detail}");
    }
}

pub fn doctor(a: DoctorOptions) -> Result<i32> {
    let profile = Profile::load_with(&a.target, &super::default_boards())?;
    let opts = &a.kernel;
    let mut choice = resolve::layer(opts, &crate::env::ProcessEnv, None, None, &profile)?;
    let mut r = Report { problems: 0 };
    let rt = resolve::rust_target(None, &crate::env::ProcessEnv, &profile).value;
    println!(
        "target {} ({}, {rt})",
        profile.name, profile.arch.clang_target,
    );

    check_toolchain(&mut r, &choice.tools);
    check_linker(&mut r, &profile, &rt);
    check_rust_target(&mut r, &rt);

    let reference_pending = check_reference(&mut r, &mut choice, &profile);
    let tree = check_tree(&mut r, &choice, &profile, reference_pending);
    check_helpers(&mut r, &choice, tree.as_ref());
    let fragment = match &tree {
        Some(t) => check_capabilities(&mut r, t, &a.programs)?,
        None => Vec::new(),
    };

    check_libclang(&mut r);
    check_qemu(&mut r, &profile);

    if !fragment.is_empty() {
        println!("kernel config fragment (what the programs need and the tree lacks; a Yocto layer's recipes-kernel/linux/files/ebpf.cfg):");
        print!("{}", kernel_caps::config_fragment(&fragment));
    }
    if r.problems == 0 {
        println!("all good");
        Ok(0)
    } else {
        println!("{} problem(s)", r.problems);
        Ok(1)
    }
}

fn check_toolchain(r: &mut Report, tools: &toolchain::ToolOverrides) {
    match toolchain::find(tools) {
        Ok(t) => {
            r.ok(
                "clang",
                &format!("{} ({})", t.clang.path.display(), t.clang.version),
            );
            r.ok(
                "llc",
                &format!("{} ({})", t.llc.path.display(), t.llc.version),
            );
        }
        Err(e) => r.missing("clang/llc", &e.to_string(), &e.hint()),
    }
}

/// The linker `build` would pick, by the same rules (cargo env and
/// config, the profile, CC_<triple>, the cc crate's default).
fn check_linker(r: &mut Report, profile: &Profile, rt: &str) {
    let user = crate::loader_build::read_user_cargo(std::path::Path::new("."), rt);
    let linker = crate::loader_build::choose_linker(profile, rt, &user, &crate::env::ProcessEnv);
    let linker = match linker {
        Err(e) => return r.missing("cross linker", &e.to_string(), &e.hint()),
        Ok(l) => l,
    };
    let program = linker.program.clone().or_else(|| match &linker.source {
        crate::loader_build::LinkerSource::CargoEnv(v) => std::env::var(v)
            .ok()
            .and_then(|c| crate::loader_build::split_command(&c).into_iter().next()),
        crate::loader_build::LinkerSource::CargoConfig(v) => Some(v.clone()),
        _ => None,
    });
    match program {
        Some(prog) => match which::which(&prog) {
            Ok(p) => r.ok(
                "cross linker",
                &format!("{} ({:?})", p.display(), linker.source),
            ),
            Err(_) => r.missing(
                "cross linker",
                &format!("{prog} not found ({:?})", linker.source),
                &format!(
                    "{}or set CARGO_TARGET_{}_LINKER / CC_{}",
                    crate::loader_build::debian_package_for(&prog)
                        .map(|p| format!("apt-get install {p}, "))
                        .unwrap_or_default(),
                    crate::arch::Arch::cargo_env_triple(rt),
                    rt.replace('-', "_")
                ),
            ),
        },
        None => r.ok("cross linker", &linker.describe()),
    }
}

fn check_rust_target(r: &mut Report, rt: &str) {
    match crate::loader_build::rust_target_installed(rt) {
        Some(true) => r.ok("rust target", rt),
        Some(false) => r.missing(
            "rust target",
            &format!("{rt} std is not installed"),
            &format!("rustup target add {rt}"),
        ),
        None => r.missing(
            "rustc",
            "rustc not found",
            "install Rust with rustup (https://rustup.rs)",
        ),
    }
}

/// libclang, loaded the way `build` loads it for bindings, not guessed
/// from paths.
fn check_libclang(r: &mut Report) {
    match crate::bindings::ensure_libclang() {
        Ok(()) => r.ok("libclang", "loads (for bindings)"),
        Err(e) => r.note("libclang", &format!("{e}; needed only for `bindings`")),
    }
}

fn check_qemu(r: &mut Report, profile: &Profile) {
    if let Some(q) = profile.qemu.as_ref().filter(|q| q.system.is_some()) {
        let system = q.system.clone().unwrap_or_default();
        match which::which(&system) {
            Ok(p) => r.ok("qemu", &p.display().to_string()),
            Err(_) => r.missing(
                "qemu",
                &format!("{system} not found (needed by `run`)"),
                &match &q.package {
                    Some(pkg) => format!("apt-get install {pkg}"),
                    None => format!("install {system}, or set [qemu] system in the profile"),
                },
            ),
        }
    } else {
        r.note(
            "qemu",
            "`run` is not set up for this target (no [qemu] section)",
        );
    }
}

/// The reference kernel, when one is chosen; never downloads. True when a
/// build would fetch it first.
fn check_reference(r: &mut Report, choice: &mut resolve::KernelChoice, profile: &Profile) -> bool {
    let mut reference_pending = false;
    if let Some(rc) = choice.reference.clone() {
        // Never downloads: says what a build would fetch, or that it is here.
        let what = crate::reference::wanted(profile, &rc.value);
        match (what, resolve::materialise(choice, profile, Policy::Report)) {
            (_, Ok(Some(rec))) => r.ok(
                "reference kernel",
                &format!(
                    "{} ({}): linux {} (abi {}), cached",
                    rc.value, rc.origin, rec.version, rec.abi
                ),
            ),
            (Ok(w), Err(Error::ReferenceNotCached { fetch, .. })) => {
                reference_pending = true;
                r.note(
                    "reference kernel",
                    &format!(
                        "{} ({}) is not cached; a build fetches it (headers, image, busybox-static and libbpf-dev of {}), or run `{fetch}`",
                        rc.value,
                        rc.origin,
                        w.describe()
                    ),
                )
            }
            (Err(e), _) | (_, Err(e)) => r.missing("reference kernel", &e.to_string(), &e.hint()),
            (_, Ok(None)) => {}
        }
    }
    reference_pending
}

/// The tree (or version) the compile would use.
fn check_tree(
    r: &mut Report,
    choice: &resolve::KernelChoice,
    profile: &Profile,
    reference_pending: bool,
) -> Option<KernelTree> {
    let given = choice
        .version
        .as_ref()
        .map(|v| {
            KernelVersion::parse(&v.value).map(|value| Given {
                value,
                from: v.origin.to_string(),
            })
        })
        .transpose();
    let mut tree = None;
    match (&given, choice.tree.is_some()) {
        (Err(e), _) => r.missing("kernel version", &e.to_string(), &e.hint()),
        (Ok(g), true) => match KernelTree::open(choice.src(), choice.build(), &profile.arch, g.as_ref()) {
            Ok(t) => {
                let split = if t.is_split() {
                    format!("{} + {}", t.src.display(), t.build.display())
                } else {
                    t.src.display().to_string()
                };
                r.ok("kernel tree", &format!("linux {} at {split}", t.version));
                tree = Some(t);
            }
            Err(Error::KernelNotPrepared { missing }) => {
                for (p, cmd) in missing {
                    r.missing("kernel tree file", &p.display().to_string(), &cmd);
                }
            }
            Err(e) => r.missing("kernel tree", &e.to_string(), &e.hint()),
        },
        (Ok(Some(g)), false) => r.note("kernel tree", &format!("none; version {} only (native compiles need a tree for kernel headers)", g.value)),
        (Ok(None), false) if reference_pending => r.note(
            "kernel tree",
            "the reference kernel's, once fetched",
        ),
        (Ok(None), false) => r.missing(
            "kernel tree",
            "no kernel tree or version given",
            "pass --kernel-src DIR [--kernel-build DIR] or set EBPF_CROSS_KERNEL_SRC, or [kernel] in a board profile",
        ),
    }

    tree
}

fn check_helpers(r: &mut Report, choice: &resolve::KernelChoice, tree: Option<&KernelTree>) {
    match bpf_headers::find(
        tree,
        choice.libbpf_include.as_ref().map(|s| s.value.as_path()),
    ) {
        Ok(h) => r.ok(
            "bpf_helpers.h",
            &format!("{} ({:?})", h.dir.display(), h.origin),
        ),
        Err(e) => r.missing("bpf_helpers.h", &e.to_string(), &e.hint()),
    }
    if let Some(t) = tree {
        let lib = t.src.join("tools/lib/bpf");
        if lib.join("bpf_helpers.h").exists() && !lib.join("bpf_helper_defs.h").exists() {
            r.note(
                "tree libbpf",
                &format!(
                    "{} lacks the generated bpf_helper_defs.h; run `make -C {}`",
                    lib.display(),
                    lib.display()
                ),
            );
        }
    }
}

/// The program sections doctor checks the config for: the given files',
/// else the project's `bpf/*.bpf.c`, else a kprobe and a tracepoint (what
/// `new` makes and the seed is).
fn program_sections(programs: &[PathBuf]) -> Result<Vec<(String, String)>> {
    let mut files = programs.to_vec();
    if files.is_empty() {
        let mut found: Vec<PathBuf> = glob::glob("bpf/*.bpf.c")
            .map(|g| g.filter_map(|p| p.ok()).collect())
            .unwrap_or_default();
        found.sort();
        files = found;
    }
    if files.is_empty() {
        return Ok(vec![
            ("a kprobe".into(), "kprobe/".into()),
            ("a tracepoint".into(), "tracepoint/".into()),
        ]);
    }
    let mut out = Vec::new();
    for f in &files {
        let bytes = std::fs::read(f).map_err(crate::error::read_err(f))?;
        let shown = crate::fsutil::shown(f);
        let sections = if bytes.starts_with(b"\x7fELF") {
            kernel_caps::object::read(&bytes)
                .map_err(|problem| Error::BadObject {
                    path: f.clone(),
                    problem,
                })?
                .programs
                .into_iter()
                .map(|p| p.section)
                .collect()
        } else {
            source_sections(&String::from_utf8_lossy(&bytes))
        };
        out.extend(sections.into_iter().map(|s| (shown.clone(), s)));
    }
    Ok(out)
}

/// The program sections of a C source, read as text: each string literal
/// that names a program kind with a `/` (`"kprobe/do_sys_open"`), which
/// also finds a section given through a macro, as the template's is.
pub fn source_sections(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, lit) in text.split('"').enumerate() {
        if i % 2 == 1
            && lit.contains('/')
            && kernel_caps::kind_of(lit).is_some()
            && !out.iter().any(|o| o == lit)
        {
            out.push(lit.to_string());
        }
    }
    out
}

/// What the target kernel can run, read from its tree; returns the config
/// options the programs need and the tree lacks.
fn check_capabilities(
    r: &mut Report,
    tree: &KernelTree,
    programs: &[PathBuf],
) -> Result<Vec<String>> {
    let v = tree.version;
    r.note("kernel", &format!("linux {v}"));
    let h = kernel_caps::bpf_h(tree);
    match kernel_caps::read_uapi(&h) {
        Ok(u) => {
            let (id, name) = u.last_helper().unwrap_or((0, "unspec"));
            r.ok(
                "highest helper id",
                &format!("{id} (bpf_{name}), from {}", crate::fsutil::shown(&h)),
            );
        }
        Err(e) => r.missing("bpf.h", &e.to_string(), &e.hint()),
    }
    let vmlinux_btf = tree.is_enabled("CONFIG_DEBUG_INFO_BTF");
    let btf = match (v.at_least(4, 18), vmlinux_btf) {
        (_, true) => "loads BTF; vmlinux BTF on (CONFIG_DEBUG_INFO_BTF)".to_string(),
        (true, false) => format!("loads BTF (4.18+), no vmlinux BTF (CONFIG_DEBUG_INFO_BTF is off{}): CO-RE needs an external BTF", if v.at_least(5, 2) { "" } else { " and needs 5.2" }),
        (false, false) => "none (BTF arrived in 4.18)".into(),
    };
    let yes_no = |ok: bool, yes: &str, no: &str| if ok { yes.to_string() } else { no.to_string() };
    r.note("BTF", &btf);
    r.note(
        "global data",
        &yes_no(
            v.at_least(5, 2),
            "yes (5.2+)",
            "no (5.2+): keep values in maps; libbpf's bpf_printk needs BPF_NO_GLOBAL_DATA",
        ),
    );
    r.note(
        "bounded loops",
        &yes_no(v.at_least(5, 3), "yes (5.3+)", "no (5.3+): unroll loops"),
    );
    r.note(
        "kprobe PMU",
        &yes_no(
            v.at_least(4, 17),
            "yes (perf_kprobe, 4.17+): kprobes attach through perf_event_open",
            "no (4.17+): kprobes attach through tracefs kprobe_events",
        ),
    );
    r.note(
        "memlock",
        &yes_no(
            v.at_least(5, 11),
            "map memory is charged to the memory cgroup (5.11+)",
            "map memory is charged to RLIMIT_MEMLOCK (before 5.11): the loader must raise it",
        ),
    );
    let sections = program_sections(programs)?;
    let mut lacking: Vec<String> = Vec::new();
    for (from, section) in &sections {
        for opt in kernel_caps::config_needs([section.as_str()]) {
            if tree.is_enabled(&opt) || lacking.contains(&opt) {
                continue;
            }
            r.missing(
                "kernel config",
                &format!("{opt} is off; {from} needs it ({section})"),
                "add the fragment below to the board's kernel config (`make olddefconfig` after), or build with --kernel-allow config:OPTION if the board's kernel has it",
            );
            lacking.push(opt);
        }
    }
    if lacking.is_empty() {
        let needed = kernel_caps::config_needs(sections.iter().map(|(_, s)| s.as_str()));
        r.ok("kernel config", &format!("{} on", needed.join(", ")));
    }
    Ok(lacking)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fragment the generated Yocto layer ships is what the template's
    /// program needs, by the same rules as the kernel check.
    #[test]
    fn the_yocto_fragment_is_what_the_template_program_needs() {
        let program = include_str!("../../templates/project/bpf/NAME.bpf.c");
        let sections = source_sections(program);
        assert_eq!(sections, ["kprobe/do_sys_openat2", "kprobe/do_sys_open"]);
        let needs = kernel_caps::config_needs(sections.iter().map(String::as_str));
        assert_eq!(
            kernel_caps::config_fragment(&needs),
            include_str!("../../templates/yocto/recipes-kernel/linux/files/ebpf.cfg")
        );
    }
}
