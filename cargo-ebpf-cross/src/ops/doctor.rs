//! `cargo ebpf-cross doctor`: everything a target needs, each missing piece
//! with the Debian/Ubuntu package or command that provides it.

use crate::bpf_headers;
use crate::cli::DoctorArgs;
use crate::error::{Error, Result};
use crate::kernel_tree::{Given, KernelTree};
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

/// libclang, which bindgen loads at run time.
pub fn find_libclang() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("LIBCLANG_PATH") {
        return Some(p.into());
    }
    let patterns = [
        "/usr/lib/llvm-*/lib/libclang.so*",
        "/usr/lib/llvm-*/lib/libclang-*.so*",
        "/usr/lib/x86_64-linux-gnu/libclang-*.so*",
        "/usr/lib/*/libclang.so*",
        "/usr/lib64/libclang.so*",
    ];
    patterns
        .iter()
        .filter_map(|p| glob::glob(p).ok())
        .flat_map(|g| g.filter_map(|e| e.ok()))
        .next()
}

pub fn doctor(a: DoctorArgs) -> Result<i32> {
    let profile = Profile::load_with(&a.target, &super::default_boards())?;
    let opts = a.kernel.opts();
    let mut choice = resolve::layer(&opts, None, &profile)?;
    let mut r = Report { problems: 0 };
    println!(
        "target {} ({}, {})",
        profile.name,
        profile.arch.clang_target,
        profile.rust_target()
    );
    let mut reference_pending = false;
    if let Some(rc) = choice.reference.clone() {
        // Never downloads: says what a build would fetch, or that it is here.
        let what = crate::reference::wanted(&profile, &rc.spec);
        match (
            what,
            resolve::materialise(&mut choice, &profile, Policy::Report),
        ) {
            (_, Ok(Some(rec))) => r.ok(
                "reference kernel",
                &format!(
                    "{} from {}: linux {} (abi {}), cached",
                    rc.spec, rc.from, rec.version, rec.abi
                ),
            ),
            (Ok(w), Err(Error::ReferenceNotCached { fetch, .. })) => {
                reference_pending = true;
                r.note(
                "reference kernel",
                &format!(
                    "{} from {} is not cached; a build fetches it (headers, image, busybox-static and libbpf-dev of {}), or run `{fetch}`",
                    rc.spec,
                    rc.from,
                    w.describe()
                ),
            )
            }
            (Err(e), _) | (_, Err(e)) => r.missing("reference kernel", &e.to_string(), &e.hint()),
            (_, Ok(None)) => {}
        }
    }

    match toolchain::find(&opts.tools) {
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

    let gcc = profile.arch.cross_gcc();
    match which::which(&gcc) {
        Ok(p) => r.ok("cross linker", &p.display().to_string()),
        Err(_) => r.missing(
            "cross linker",
            &format!("{gcc} not found"),
            &format!(
                "apt-get install {} (or set CARGO_TARGET_{}_LINKER / CC_{})",
                profile.arch.cross_package,
                crate::arch::Arch::cargo_env_triple(profile.rust_target()),
                profile.rust_target().replace('-', "_")
            ),
        ),
    }

    let rt = profile.rust_target().to_string();
    match crate::loader_build::rust_target_installed(&rt) {
        Some(true) => r.ok("rust target", &rt),
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

    let given = choice
        .version
        .as_ref()
        .map(|(v, from)| {
            KernelVersion::parse(v).map(|value| Given {
                value,
                from: from.clone(),
            })
        })
        .transpose();
    let mut tree = None;
    match (&given, choice.src.is_some() || choice.build.is_some()) {
        (Err(e), _) => r.missing("kernel version", &e.to_string(), &e.hint()),
        (Ok(g), true) => match KernelTree::open(choice.src.as_deref(), choice.build.as_deref(), &profile.arch, g.as_ref()) {
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

    match bpf_headers::find(tree.as_ref(), choice.libbpf_include.as_deref()) {
        Ok(h) => r.ok(
            "bpf_helpers.h",
            &format!("{} ({:?})", h.dir.display(), h.origin),
        ),
        Err(e) => r.missing("bpf_helpers.h", &e.to_string(), &e.hint()),
    }
    if let Some(t) = &tree {
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

    match find_libclang() {
        Some(p) => r.ok("libclang", &format!("{} (for bindings)", p.display())),
        None => r.note(
            "libclang",
            "not found; needed only for `bindings` (apt-get install libclang-14-dev)",
        ),
    }

    if let Some(q) = profile.qemu.as_ref().and_then(|q| q.system.clone()) {
        match which::which(&q) {
            Ok(p) => r.ok("qemu", &p.display().to_string()),
            Err(_) => r.missing(
                "qemu",
                &format!("{q} not found (needed by `run`)"),
                "apt-get install qemu-system-arm",
            ),
        }
    } else {
        r.note(
            "qemu",
            "`run` is not set up for this target (no [qemu] section)",
        );
    }

    if r.problems == 0 {
        println!("all good");
        Ok(0)
    } else {
        println!("{} problem(s)", r.problems);
        Ok(1)
    }
}
