//! Compiling BPF C for a target kernel: clang for the target's own triple
//! (so `long`, pointers and struct layouts are the board's), emitting IR,
//! then llc to BPF of the board's byte order.
//!
//! `plan_*` compute plain data; `run` executes a plan, skipping it when the
//! stamp says nothing changed, and writes the object atomically after
//! checking it is really BPF.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::bpf_headers::Helpers;
use crate::elf_check;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::kernel_tree::KernelTree;
use crate::plan::Cmd;
use crate::profile::{BpfMode, Profile};
use crate::toolchain::Toolchain;
use crate::ui;
use crate::version::KernelVersion;

/// Everything the flags depend on.
#[derive(Debug, Clone)]
pub struct Context {
    pub profile: Profile,
    pub tree: Option<KernelTree>,
    /// The tree's version, or the one given when there is no tree.
    pub version: Option<KernelVersion>,
    pub toolchain: Toolchain,
    pub helpers: Helpers,
    /// Dir holding only the staged `bpf/` wrappers; goes on `-I`.
    pub staged_include: PathBuf,
    /// EBPF_CROSS_BPF_CFLAGS, after the profile's `[bpf] cflags`: a build
    /// system's own flags (Yocto's -ffile-prefix-map=) without a board file.
    pub extra_cflags: Vec<String>,
    /// The reference kernel the tree came from, if it did.
    pub reference: Option<crate::reference::Record>,
    /// Whether this command may download (a -dbg package for CO-RE BTF).
    pub policy: crate::reference::Policy,
}

pub use crate::settings::BPF_CFLAGS_ENV as EXTRA_CFLAGS_ENV;

/// Extra clang flags from the environment (`settings::bpf_cflags`).
pub fn extra_cflags_from_env() -> Vec<String> {
    crate::settings::bpf_cflags(&crate::env::ProcessEnv).value
}

/// The flag sets `flags` prints and every compile uses.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flags {
    pub clang: Cmd,
    pub llc: Cmd,
}

/// Warnings the seed's kernels trip over; the kernel's samples/bpf Makefile
/// silences the same set.
const QUIET_WARNINGS: &[&str] = &[
    "-Wno-unused-value",
    "-Wno-pointer-sign",
    "-Wno-compare-distinct-pointer-types",
    "-Wno-gnu-variable-sized-type-not-at-end",
    "-Wno-address-of-packed-member",
    "-Wno-tautological-compare",
    "-Wno-unknown-warning-option",
    // libbpf >= 1.2's bpf_tracing.h (Debian's trixie, 6.12) declares its
    // arm64/riscv register structs with the BPF-only
    // preserve_access_index, which a front end for the board's own triple
    // ignores with a warning on every object. Native mode wants the
    // board's layout, not CO-RE relocations, so ignoring it is right.
    "-Wno-unknown-attributes",
];

pub fn flags(ctx: &Context) -> Flags {
    let arch = &ctx.profile.arch;
    let mode = ctx.profile.bpf.mode.unwrap_or_default();
    let mut clang = Cmd::new(&ctx.toolchain.clang.path);
    match mode {
        BpfMode::Native => {
            clang = clang
                .arg(format!("--target={}", arch.clang_target))
                .arg("-D__KERNEL__")
                .arg("-D__BPF_TRACING__");
        }
        BpfMode::Core => {
            clang = clang
                .arg(format!("--target={}", arch.bpf_march()))
                .arg("-g");
        }
    }
    clang = clang.arg(format!("-D{}", arch.target_arch_define()));
    let cfg = |o: &str| ctx.tree.as_ref().is_some_and(|t| t.is_enabled(o));
    clang = clang.args(arch.config_define_flags(&cfg));
    clang = clang.args(arch.defines.iter().map(|d| format!("-D{d}")));
    if let (None, Some(v)) = (&ctx.tree, &ctx.version) {
        // Without a tree there is no generated version.h to include.
        clang = clang.arg(format!("-DLINUX_VERSION_CODE={}", v.code()));
    }
    if ctx.version.is_some_and(|v| !v.at_least(5, 2)) {
        // Global data (.rodata/.data/.bss maps) arrived in 5.2. libbpf's
        // bpf_printk then keeps its format on the stack, as the 4.x
        // helpers did, instead of in a .rodata map the kernel cannot load.
        clang = clang.arg("-DBPF_NO_GLOBAL_DATA");
    }
    clang = clang
        .args(["-fno-stack-protector", "-Wno-int-conversion", "-O2"])
        // A PT_REGS_* macro the headers lack would otherwise only warn and
        // leave a call to a missing function in the object.
        .arg("-Werror=implicit-function-declaration")
        .args(QUIET_WARNINGS.iter().copied())
        .arg("-fno-asynchronous-unwind-tables")
        .arg("-nostdinc")
        .arg("-isystem")
        .arg(ctx.toolchain.resource_include.display().to_string());
    if let (BpfMode::Native, Some(t)) = (mode, &ctx.tree) {
        clang = clang.args(t.include_args(arch));
    }
    clang = clang.arg(format!("-I{}", ctx.staged_include.display()));
    if let Some(extra) = &ctx.profile.bpf.cflags {
        clang = clang.args(extra.iter().cloned());
    }
    clang = clang.args(ctx.extra_cflags.iter().cloned());
    if mode == BpfMode::Native {
        // Textual IR, so the runner can drop target `module asm` (arm's
        // asm/unified.h emits `.syntax unified`, which BPF llc rejects).
        clang = clang.arg("-S").arg("-emit-llvm");
    }
    let mut llc = Cmd::new(&ctx.toolchain.llc.path)
        .arg(format!("-march={}", arch.bpf_march()))
        .arg("-filetype=obj");
    if let Some(extra) = &ctx.profile.bpf.llc_flags {
        llc = llc.args(extra.iter().cloned());
    }
    Flags { clang, llc }
}

/// One source to one object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompilePlan {
    pub source: PathBuf,
    pub output: PathBuf,
    /// `clang ... -c SRC -o -` (native) or `clang ... -c SRC -o OUT` (CO-RE).
    pub clang: Cmd,
    /// `llc ... -o OUT`, fed by clang's stdout; None in CO-RE mode.
    pub llc: Option<Cmd>,
    /// Native mode: clang again with `-g`, run only when the first object
    /// has BTF-defined maps (`.maps`) but no `.BTF`. Such a map is described
    /// only by BTF, which llc emits from debug info, and only those
    /// programs should pay for `-g`, which grows every object several times
    /// over. Which sources define such maps is known only once clang has
    /// expanded their macros, hence a second run rather than a guess. None
    /// in CO-RE mode (always `-g`) and when the user's flags say `-g0`.
    pub clang_with_btf: Option<Cmd>,
    pub depfile: PathBuf,
    pub stamp: PathBuf,
    /// For progress lines.
    pub label: String,
}

/// What `compile` and `build` accept as BPF programs, checked before any
/// tool runs: clang given a text file makes an empty object that would be
/// bundled, and given a header fails with no diagnostic. Each source must
/// be a `.c` file whose path is UTF-8 without control characters (a newline
/// reaches clang as two arguments' worth of errors, and U+FFFD in place of
/// a byte names another file), and no two may share an object name.
pub fn check_sources(sources: &[PathBuf]) -> Result<()> {
    for s in sources {
        let Some(text) = s.to_str() else {
            return Err(Error::Usage {
                message: format!("`{}` is not a UTF-8 path", s.display()),
                hint: "rename the file or a directory above it; clang and the manifest need the path as text".into(),
            });
        };
        if text.chars().any(char::is_control) {
            return Err(Error::Usage {
                message: format!("{text:?} has a control character in its path"),
                hint: "rename the file or the directory above it".into(),
            });
        }
        let name = s
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        if name.ends_with(".h") {
            return Err(Error::Usage {
                message: format!("`{text}` is a header, not a BPF program"),
                hint: "compile the .c file that includes it; in `programs`, use a glob that matches only .c files (bpf/*.bpf.c)".into(),
            });
        }
        if !name.ends_with(".c") {
            return Err(Error::Usage {
                message: format!("`{text}` is not a C source (.c)"),
                hint: "BPF programs are C files named *.bpf.c or *.c; in `programs`, use a glob that matches only those (bpf/*.bpf.c)".into(),
            });
        }
    }
    for (i, a) in sources.iter().enumerate() {
        let stem = object_stem(a);
        if let Some(b) = sources[i + 1..].iter().find(|b| object_stem(b) == stem) {
            return Err(Error::Usage {
                message: format!(
                    "`{}` and `{}` would both compile to {stem}.o",
                    a.display(),
                    b.display()
                ),
                hint: "rename one of them: an object is named after its source file, without .bpf.c or .c".into(),
            });
        }
    }
    Ok(())
}

/// `x.bpf.c` and `x.c` both become `x`.
pub fn object_stem(source: &Path) -> String {
    let name = source
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.strip_suffix(".bpf.c")
        .or_else(|| name.strip_suffix(".c"))
        .unwrap_or(&name)
        .to_string()
}

pub fn plan_one(ctx: &Context, source: &Path, output: &Path, state_dir: &Path) -> CompilePlan {
    let f = flags(ctx);
    let stem = output
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let depfile = state_dir.join(format!("{stem}.d"));
    let stamp = state_dir.join(format!("{stem}.stamp.json"));
    let mut clang = f
        .clang
        .arg("-MD")
        .arg("-MF")
        .arg(depfile.display().to_string())
        .arg("-MT")
        .arg(output.display().to_string())
        .arg("-c")
        .arg(source.display().to_string());
    let (llc, clang_with_btf) = match ctx.profile.bpf.mode.unwrap_or_default() {
        BpfMode::Native => {
            // A user's explicit -g0 stands (the kernel check then says what
            // the object lacks), since flags given win over our defaults.
            let with_btf = (!clang.args.iter().any(|a| a == "-g0"))
                .then(|| clang.clone().arg("-g").arg("-o").arg("-"));
            clang = clang.arg("-o").arg("-");
            let llc = f.llc.arg("-o").arg(output.display().to_string());
            (Some(llc), with_btf)
        }
        BpfMode::Core => {
            clang = clang.arg("-o").arg(output.display().to_string());
            (None, None)
        }
    };
    let version = ctx
        .version
        .map(|v| format!(", linux {v}"))
        .unwrap_or_default();
    CompilePlan {
        source: source.to_path_buf(),
        output: output.to_path_buf(),
        clang,
        llc,
        clang_with_btf,
        depfile,
        stamp,
        label: format!("{} ({}{version})", fsutil::shown(source), ctx.profile.name),
    }
}

/// A compile_commands.json entry: the clang half with the real output, so
/// clangd sees the full cross include set.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CompileCommand {
    pub directory: PathBuf,
    pub file: PathBuf,
    pub output: PathBuf,
    pub arguments: Vec<String>,
}

pub fn compile_command(p: &CompilePlan, cwd: &Path) -> CompileCommand {
    let mut args = p.clang.argv();
    // clangd does not want our depfile flags.
    let mut out = Vec::with_capacity(args.len());
    let mut it = args.drain(..);
    while let Some(a) = it.next() {
        if a == "-MD" {
            continue;
        }
        if a == "-MF" || a == "-MT" {
            it.next();
            continue;
        }
        if a == "-" && out.last().map(String::as_str) == Some("-o") {
            out.push(p.output.display().to_string());
            continue;
        }
        out.push(a);
    }
    CompileCommand {
        directory: cwd.to_path_buf(),
        file: p.source.clone(),
        output: p.output.clone(),
        arguments: out,
    }
}

/// Merges entries into an existing compile_commands.json (other targets or
/// tools may have written some), replacing those for the same output.
pub fn write_compile_commands(path: &Path, entries: &[CompileCommand]) -> Result<()> {
    let mut all: Vec<CompileCommand> = std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    all.retain(|e| !entries.iter().any(|n| n.output == e.output));
    all.extend(entries.iter().cloned());
    all.sort_by(|a, b| a.output.cmp(&b.output));
    let text = serde_json::to_vec_pretty(&all).expect("plain data serializes");
    fsutil::write_atomic(path, &text)
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Stamp {
    command: String,
    inputs: Vec<(PathBuf, u64, i128)>,
    output: (u64, i128),
}

fn command_key(p: &CompilePlan, ctx_key: &str) -> String {
    let mut s = p.clang.display();
    if let Some(l) = &p.llc {
        s.push_str(" | ");
        s.push_str(&l.display());
    }
    s.push('\n');
    s.push_str(ctx_key);
    fsutil::sha256_hex(s.as_bytes())
}

/// Parses a Makefile-style depfile (`out: a.c b.h \` with `\ ` escapes).
pub fn parse_depfile(text: &str) -> Vec<PathBuf> {
    let joined = text.replace("\\\n", " ");
    let body = match joined.find(": ") {
        Some(i) => &joined[i + 2..],
        None => return Vec::new(),
    };
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&' ') => {
                cur.push(' ');
                chars.next();
            }
            ' ' | '\n' | '\t' => {
                if !cur.is_empty() {
                    out.push(PathBuf::from(std::mem::take(&mut cur)));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(PathBuf::from(cur));
    }
    out
}

/// Is the output up to date with its recorded inputs and command?
pub fn is_fresh(p: &CompilePlan, ctx_key: &str) -> bool {
    let Ok(bytes) = std::fs::read(&p.stamp) else {
        return false;
    };
    let Ok(stamp) = serde_json::from_slice::<Stamp>(&bytes) else {
        return false;
    };
    stamp.command == command_key(p, ctx_key)
        && fsutil::stamp(&p.output) == Some(stamp.output)
        && stamp
            .inputs
            .iter()
            .all(|(path, size, t)| fsutil::stamp(path) == Some((*size, *t)))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Compiled,
    Fresh,
}

/// What makes two identical argvs differ: the tool versions.
pub fn context_key(ctx: &Context) -> String {
    format!(
        "clang {} llc {} endian {} stamp {:?}",
        ctx.toolchain.clang.version,
        ctx.toolchain.llc.version,
        ctx.profile.arch.endian.as_str(),
        ctx.profile
            .bpf
            .stamp_version
            .filter(|s| *s)
            .and(ctx.version.map(|v| v.code()))
    )
}

/// Runs one plan. Nothing is left at `output` unless it is a verified BPF
/// object.
pub fn run(p: &CompilePlan, ctx: &Context) -> Result<Outcome> {
    let ctx_key = context_key(ctx);
    if !p.source.is_file() {
        return Err(Error::SourceMissing(p.source.clone()));
    }
    if is_fresh(p, &ctx_key) {
        ui::status("Fresh", &p.label);
        return Ok(Outcome::Fresh);
    }
    ui::status("Compiling", &p.label);
    if let Some(d) = p.depfile.parent() {
        std::fs::create_dir_all(d).map_err(crate::error::write_err(d))?;
    }
    let tmp = fsutil::temp_beside(&p.output)?;
    let tmp_path = tmp.path().display().to_string();
    let mut clang = p.clang.clone();
    match &p.llc {
        Some(llc) => {
            let mut llc = llc.clone();
            *llc.args.last_mut().expect("llc has -o OUT") = tmp_path;
            pipe(&clang, &llc, &p.source)?;
            let first = std::fs::read(tmp.path()).map_err(crate::error::read_err(tmp.path()))?;
            if let Some(with_btf) = &p.clang_with_btf {
                if elf_check::btf_maps_without_btf(&first) {
                    pipe(with_btf, &llc, &p.source)?;
                }
            }
        }
        None => {
            *clang.args.last_mut().expect("clang has -o OUT") = tmp_path;
            let (st, cap) = clang.output_any()?;
            let diag = String::from_utf8_lossy(&cap.stderr);
            ui::diagnostics(&diag);
            if !st.success() {
                return Err(Error::CompileFailed {
                    source_file: p.source.clone(),
                    tool: "clang".into(),
                    status: st.to_string(),
                });
            }
        }
    }
    let mut bytes = std::fs::read(tmp.path()).map_err(crate::error::read_err(tmp.path()))?;
    if ctx.profile.bpf.stamp_version == Some(true) {
        match ctx.version {
            Some(v) => {
                if elf_check::stamp_version(&mut bytes, v.code(), ctx.profile.arch.endian) {
                    std::fs::write(tmp.path(), &bytes).map_err(crate::error::write_err(tmp.path()))?;
                }
            }
            None => ui::warn(&format!(
                "{}: stamp_version needs a kernel version (a tree or --kernel-version); the version section is left as it is",
                p.source.display()
            )),
        }
    }
    let warnings =
        elf_check::check_bpf_object(&bytes, ctx.profile.arch.endian).map_err(|problem| {
            Error::BadOutput {
                path: p.output.clone(),
                problem,
            }
        })?;
    for w in warnings {
        ui::warn(&format!("{}: {w}", p.source.display()));
    }
    fsutil::persist(tmp, &p.output)?;
    write_stamp(p, &ctx_key);
    Ok(Outcome::Compiled)
}

fn write_stamp(p: &CompilePlan, ctx_key: &str) {
    let deps = std::fs::read_to_string(&p.depfile)
        .map(|t| parse_depfile(&t))
        .unwrap_or_default();
    let inputs: Option<Vec<_>> = deps
        .into_iter()
        .map(|d| fsutil::stamp(&d).map(|(s, t)| (d, s, t)))
        .collect();
    let (Some(inputs), Some(output)) = (inputs, fsutil::stamp(&p.output)) else {
        return;
    };
    let stamp = Stamp {
        command: command_key(p, ctx_key),
        inputs,
        output,
    };
    // A stamp that fails to write only costs a rebuild next time.
    let _ = fsutil::write_atomic(&p.stamp, &serde_json::to_vec(&stamp).unwrap_or_default());
}

/// `clang ... -o - | llc ...`, both as argv. The IR passes through us so
/// that target-specific top-level `module asm` lines are dropped: they come
/// from arch headers (arm's `.syntax unified`), never from BPF code, and
/// llc for BPF cannot assemble them.
///
/// Both tools' stderr is captured and printed as one block per source, so
/// parallel compiles never interleave their diagnostics.
fn pipe(clang: &Cmd, llc: &Cmd, source: &Path) -> Result<()> {
    let piped = crate::process::pipe_filtered(clang, llc, |line| !line.starts_with("module asm "))?;
    let (cs, ls, dropped, diag) = (piped.first, piped.second, piped.dropped, piped.stderr);
    ui::diagnostics(&diag);
    // clang's status first: llc happily turns empty input into an empty
    // object.
    if !cs.success() {
        return Err(Error::CompileFailed {
            source_file: source.to_path_buf(),
            tool: "clang".into(),
            status: cs.to_string(),
        });
    }
    if !ls.success() {
        return Err(Error::CompileFailed {
            source_file: source.to_path_buf(),
            tool: "llc".into(),
            status: ls.to_string(),
        });
    }
    if dropped > 0 && ui::get().verbose {
        ui::status(
            "Dropped",
            &format!(
                "{dropped} target `module asm` line(s) from {}",
                source.display()
            ),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpf_headers::Origin;
    use crate::toolchain::Tool;

    pub(crate) fn ctx(target: &str, tree: Option<KernelTree>) -> Context {
        let profile = Profile::load(target).unwrap();
        let version = tree.as_ref().map(|t| t.version);
        Context {
            profile,
            tree,
            version,
            toolchain: Toolchain {
                clang: Tool {
                    path: "/usr/bin/clang-14".into(),
                    version: "14.0.6".into(),
                    major: 14,
                },
                llc: Tool {
                    path: "/usr/bin/llc-14".into(),
                    version: "14.0.6".into(),
                    major: 14,
                },
                resource_include: "/usr/lib/llvm-14/lib/clang/14.0.6/include".into(),
            },
            helpers: Helpers {
                dir: "/usr/include/bpf".into(),
                origin: Origin::Host,
                why: String::new(),
            },
            staged_include: "/t/ebpf-cross/armv7/include".into(),
            extra_cflags: Vec::new(),
            reference: None,
            policy: crate::reference::Policy::Offline,
        }
    }

    #[test]
    fn extra_cflags_follow_the_profile_and_change_the_fingerprint() {
        let mut c = ctx("armv7", Some(tree_armmp()));
        c.profile.bpf.cflags = Some(vec!["-DBOARD".into()]);
        let src = Path::new("bpf/open.bpf.c");
        let out = Path::new("/t/open.o");
        let before = plan_one(&c, src, out, Path::new("/t/.state"));
        c.extra_cflags = vec![
            "-ffile-prefix-map=/work/my src=/usr/src/debug/p".into(),
            "-DEXTRA".into(),
        ];
        let after = plan_one(&c, src, out, Path::new("/t/.state"));
        let args = &after.clang.args;
        let at = |a: &str| args.iter().position(|x| x == a).unwrap();
        assert_eq!(
            &args[at("-DBOARD")..at("-DBOARD") + 4],
            [
                "-DBOARD",
                "-ffile-prefix-map=/work/my src=/usr/src/debug/p",
                "-DEXTRA",
                "-S"
            ]
        );
        // The stamp's key is the argv: new flags mean a recompile.
        let key = context_key(&c);
        assert_ne!(command_key(&before, &key), command_key(&after, &key));
        // compile_commands.json carries them too.
        let cc = compile_command(&after, Path::new("/t"));
        assert!(cc.arguments.contains(&"-DEXTRA".to_string()));
    }

    fn tree_armmp() -> KernelTree {
        KernelTree {
            src: "/s".into(),
            build: "/b".into(),
            version: KernelVersion::new(6, 1, 176),
            config: [("CONFIG_CPU_32v7".to_string(), "y".to_string())].into(),
        }
    }

    #[test]
    fn armv7_plan_is_the_seed_pipeline_plus_the_tree() {
        let c = ctx("armv7", Some(tree_armmp()));
        let p = plan_one(
            &c,
            Path::new("bpf/open.bpf.c"),
            Path::new("out/open.o"),
            Path::new("st"),
        );
        let a = p.clang.argv();
        assert_eq!(a[0], "/usr/bin/clang-14");
        assert_eq!(a[1], "--target=armv7a-linux-gnueabihf");
        for f in [
            "-D__KERNEL__",
            "-D__TARGET_ARCH_arm",
            "-D__LINUX_ARM_ARCH__=7",
            "-fno-stack-protector",
            "-Wno-int-conversion",
            "-O2",
            "-nostdinc",
            "-I/s/arch/arm/include",
            "-I/b/arch/arm/include/generated",
            "-I/b/include/generated/uapi",
            "-I/t/ebpf-cross/armv7/include",
            "-emit-llvm",
        ] {
            assert!(a.iter().any(|x| x == f), "missing {f} in {a:?}");
        }
        let pos = |f: &str| a.iter().position(|x| x == f).unwrap();
        assert!(pos("-I/s/arch/arm/include") < pos("-I/s/include/uapi"));
        assert_eq!(a[pos("-include") + 1], "/s/include/linux/kconfig.h");
        assert_eq!(&a[a.len() - 4..], ["-c", "bpf/open.bpf.c", "-o", "-"]);
        assert_eq!(
            p.llc.unwrap().argv(),
            [
                "/usr/bin/llc-14",
                "-march=bpfel",
                "-filetype=obj",
                "-o",
                "out/open.o"
            ]
        );
        assert_eq!(p.label, "bpf/open.bpf.c (armv7, linux 6.1.176)");
        assert_eq!(p.depfile, Path::new("st/open.d"));
    }

    #[test]
    fn big_endian_mips_uses_bpfeb_and_no_arm_define() {
        let c = ctx("mips", None);
        let f = flags(&c);
        assert_eq!(f.llc.args[0], "-march=bpfeb");
        assert!(f
            .clang
            .args
            .contains(&"--target=mips-linux-gnu".to_string()));
        assert!(!f
            .clang
            .args
            .iter()
            .any(|a| a.contains("__LINUX_ARM_ARCH__")));
    }

    #[test]
    fn mips_tree_adds_mach_generic_after_the_kernel_set() {
        let mut t = tree_armmp();
        t.config.clear();
        let c = ctx("mips", Some(t));
        let a = flags(&c).clang.args;
        let kconfig = a
            .iter()
            .position(|x| x == "/s/include/linux/kconfig.h")
            .unwrap();
        assert_eq!(a[kconfig + 1], "-I/s/arch/mips/include/asm/mach-generic");
        assert!(a.contains(&"-I/s/arch/mips/include".to_string()));
    }

    #[test]
    fn kernels_before_5_2_get_no_global_data() {
        let mut t = tree_armmp();
        t.version = KernelVersion::new(4, 19, 131);
        let old = flags(&ctx("armv7", Some(t))).clang.args;
        assert!(old.contains(&"-DBPF_NO_GLOBAL_DATA".to_string()));
        let mut c = ctx("aarch64", None);
        c.version = Some(KernelVersion::new(5, 2, 0));
        assert!(!flags(&c)
            .clang
            .args
            .iter()
            .any(|a| a == "-DBPF_NO_GLOBAL_DATA"));
        let new = flags(&ctx("armv7", Some(tree_armmp()))).clang.args;
        assert!(!new.contains(&"-DBPF_NO_GLOBAL_DATA".to_string()));
    }

    #[test]
    fn version_without_tree_defines_version_code() {
        let mut c = ctx("aarch64", None);
        c.version = Some(KernelVersion::new(4, 19, 94));
        let f = flags(&c);
        assert!(f
            .clang
            .args
            .contains(&"-DLINUX_VERSION_CODE=267102".to_string()));
        assert!(!f.clang.args.iter().any(|a| a.starts_with("-I/s")));
    }

    #[test]
    fn native_plan_holds_the_debug_rerun_for_btf_maps() {
        let c = ctx("armv7", None);
        let p = plan_one(&c, Path::new("a.bpf.c"), Path::new("a.o"), Path::new("st"));
        let again = p.clang_with_btf.expect("native mode plans the -g run");
        let mut want = p.clang.args.clone();
        let out = want.split_off(want.len() - 2);
        want.push("-g".into());
        want.extend(out);
        assert_eq!(again.args, want);
        assert!(!p.clang.args.contains(&"-g".to_string()));
        // The user's -g0 wins: no second run is planned.
        let mut c = ctx("armv7", None);
        c.extra_cflags = vec!["-g0".into()];
        let p = plan_one(&c, Path::new("a.bpf.c"), Path::new("a.o"), Path::new("st"));
        assert_eq!(p.clang_with_btf, None);
    }

    #[test]
    fn core_mode_targets_bpf_directly() {
        let mut c = ctx("aarch64", None);
        c.profile.bpf.mode = Some(BpfMode::Core);
        let p = plan_one(&c, Path::new("a.bpf.c"), Path::new("a.o"), Path::new("st"));
        assert_eq!(p.clang.args[0], "--target=bpfel");
        assert!(p.clang.args.contains(&"-g".to_string()));
        assert!(p.llc.is_none());
        assert_eq!(p.clang_with_btf, None);
        assert_eq!(&p.clang.args[p.clang.args.len() - 2..], ["-o", "a.o"]);
    }

    #[test]
    fn compile_command_drops_dep_flags_and_names_output() {
        let c = ctx("armv7", Some(tree_armmp()));
        let p = plan_one(
            &c,
            Path::new("/p/bpf/x.bpf.c"),
            Path::new("/p/out/x.o"),
            Path::new("/st"),
        );
        let cc = compile_command(&p, Path::new("/p"));
        assert!(!cc
            .arguments
            .iter()
            .any(|a| a == "-MD" || a == "-MF" || a == "/st/x.d"));
        assert_eq!(
            &cc.arguments[cc.arguments.len() - 2..],
            ["-o", "/p/out/x.o"]
        );
        assert_eq!(cc.file, Path::new("/p/bpf/x.bpf.c"));
    }

    #[test]
    fn depfile_parsing_handles_escaped_spaces_and_continuations() {
        let t = "out/x.o: /a/x.bpf.c /my\\ tree/include/linux/a.h \\\n  /b/c.h\n";
        assert_eq!(
            parse_depfile(t),
            vec![
                PathBuf::from("/a/x.bpf.c"),
                PathBuf::from("/my tree/include/linux/a.h"),
                PathBuf::from("/b/c.h")
            ]
        );
    }

    #[test]
    fn stems() {
        assert_eq!(
            object_stem(Path::new("bpf/open-example.bpf.c")),
            "open-example"
        );
        assert_eq!(object_stem(Path::new("x.c")), "x");
        assert_eq!(object_stem(Path::new("out/x.o")), "x.o");
    }
}
