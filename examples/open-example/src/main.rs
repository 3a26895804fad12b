//! A generic eBPF loader for embedded boards.
//!
//! It loads BPF ELF objects (the ones embedded at build time by `cargo
//! ebpf-cross`, or the files named on the command line), attaches every
//! program by its ELF section name, and waits for SIGINT or SIGTERM. When the
//! process ends the kernel detaches and unloads everything.
//!
//! Section names understood (the libbpf and kernel-samples conventions):
//!
//! | section                        | attached with                       |
//! |--------------------------------|-------------------------------------|
//! | `kprobe/<fn>[+<offset>]`       | kprobe on `<fn>`                    |
//! | `kretprobe/<fn>`               | kretprobe on `<fn>`                 |
//! | `tracepoint/<category>/<name>` | tracepoint (also `tp/...`)          |
//! | `raw_tracepoint/<name>`        | raw tracepoint (also `raw_tp/...`)  |
//!
//! Both legacy `maps` sections (`struct bpf_map_def`) and BTF `.maps` are
//! handled by aya. A `version` section holding 0xFFFFFFFE ("any") makes aya
//! pass the running kernel's LINUX_VERSION_CODE, which kernels before 5.0
//! check for kprobes.
//!
//! Old kernels (a vendor 4.x BSP):
//! - before 5.11 map memory is charged to RLIMIT_MEMLOCK (64 KiB by
//!   default), so the limit is raised first;
//! - before 5.0 `BPF_PROG_LOAD` knows no BTF fields (`prog_btf_fd`,
//!   func/line info), and any non-zero byte past the end of the kernel's own
//!   `bpf_attr` is refused with E2BIG. An object with `.BTF` is therefore
//!   rewritten before aya sees it: its BTF is hidden and its BTF-defined
//!   `.maps` become a legacy `maps` section of `struct bpf_map_def` records;
//! - kprobes attach through the perf kprobe PMU from 4.17 (aya's choice),
//!   through tracefs `kprobe_events` before.

use std::collections::HashMap;
use std::error::Error;
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;

use aya::programs::{ProbeKind, Program};
use aya::util::KernelVersion;
use aya::{Btf, Ebpf, EbpfLoader, VerifierLogLevel};
use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

const NAME: &str = env!("CARGO_PKG_NAME");
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The `version` section value meaning "any kernel: use the running one".
const KERNEL_VERSION_ANY: u32 = 0xFFFF_FFFE;

fn main() -> ExitCode {
    let RunArgs { objects, btf } = match parse_args(std::env::args_os().skip(1)) {
        Ok(Command::Run(run)) => run,
        Ok(Command::Help) => {
            print_usage();
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("{NAME} {VERSION}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("{NAME}: {msg}");
            eprintln!("Try '{NAME} --help' for more information.");
            return ExitCode::from(2);
        }
    };
    if objects.is_empty() {
        eprintln!("{NAME}: no BPF object is embedded in this build; give object paths");
        eprintln!("Try '{NAME} --help' for more information.");
        return ExitCode::from(2);
    }

    // Block the stop signals before anything else, so that one arriving while
    // loading is kept pending and picked up by sigwait() below.
    let signals = match block_stop_signals() {
        Ok(set) => set,
        Err(e) => {
            eprintln!("{NAME}: cannot block SIGINT/SIGTERM: {e}");
            return ExitCode::FAILURE;
        }
    };

    let running = KernelVersion::current().ok();
    if running.is_none_or(|v| v < KernelVersion::new(5, 11, 0)) {
        raise_memlock(running);
    }

    let mut loaded = Vec::with_capacity(objects.len());
    let mut context = LoadContext {
        btf_file: btf,
        ..LoadContext::default()
    };
    for object in &objects {
        match load_and_attach(object, &mut context) {
            Ok(ebpf) => loaded.push(ebpf),
            Err(e) => {
                print_error(&e);
                return ExitCode::FAILURE;
            }
        }
    }

    println!("running; press Ctrl-C to stop");
    let code = match wait_for(&signals) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{NAME}: sigwait failed: {e}");
            ExitCode::FAILURE
        }
    };
    // Dropping the handles detaches the links (and removes any kprobe_events
    // entries aya created) before the process goes.
    drop(loaded);
    code
}

// ---------------------------------------------------------------------------
// Command line

/// Where an object comes from.
enum ObjectSource {
    Embedded {
        name: &'static str,
        bytes: &'static [u8],
    },
    File(PathBuf),
}

impl ObjectSource {
    fn display_name(&self) -> String {
        match self {
            ObjectSource::Embedded { name, .. } => (*name).to_owned(),
            ObjectSource::File(path) => path.display().to_string(),
        }
    }
}

/// What to load, and where the kernel's types come from.
struct RunArgs {
    objects: Vec<ObjectSource>,
    /// `--btf FILE`: the target BTF for CO-RE, even when the kernel has its
    /// own.
    btf: Option<PathBuf>,
}

enum Command {
    Run(RunArgs),
    Help,
    Version,
}

fn parse_args(args: impl Iterator<Item = OsString>) -> Result<Command, String> {
    let mut paths = Vec::new();
    let mut only_paths = false;
    let mut btf = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if !only_paths {
            match arg.to_str() {
                Some("-h" | "--help") => return Ok(Command::Help),
                Some("-V" | "--version") => return Ok(Command::Version),
                Some("--btf") => {
                    let file = args.next().ok_or("'--btf' needs a BTF file")?;
                    btf = Some(PathBuf::from(file));
                    continue;
                }
                Some("--") => {
                    only_paths = true;
                    continue;
                }
                Some(s) if s.starts_with('-') && s.len() > 1 => {
                    return Err(format!("unknown option '{s}'"));
                }
                None if arg.as_encoded_bytes().first() == Some(&b'-') => {
                    return Err(format!("unknown option '{}'", arg.to_string_lossy()));
                }
                _ => {}
            }
        }
        paths.push(ObjectSource::File(PathBuf::from(arg)));
    }
    if paths.is_empty() {
        paths = embedded::EMBEDDED
            .iter()
            .map(|&(name, bytes)| ObjectSource::Embedded { name, bytes })
            .collect();
    }
    Ok(Command::Run(RunArgs {
        objects: paths,
        btf,
    }))
}

fn print_usage() {
    println!(
        "{NAME} {VERSION}: load eBPF objects, attach their programs, and wait

Usage: {NAME} [--btf FILE] [OBJECT.o ...]

With no OBJECT, loads the objects embedded in this binary. Every program is
attached by its section name: kprobe/<fn>[+<off>], kretprobe/<fn>,
tracepoint/<category>/<name> (tp/...), raw_tracepoint/<name> (raw_tp/...).
Runs until SIGINT or SIGTERM; the kernel then detaches the programs.
Output of bpf_trace_printk: cat /sys/kernel/debug/tracing/trace_pipe

Options:
  --btf FILE     relocate CO-RE objects against FILE, not the kernel's BTF
  -h, --help     print this help and exit
  -V, --version  print the version and exit
  --             end of options: every later argument is an object path
"
    );
    if embedded::EMBEDDED.is_empty() {
        println!("Embedded objects: none (this build had no EBPF_CROSS_OBJ_DIR)");
    } else {
        println!("Embedded objects:");
        for (name, bytes) in embedded::EMBEDDED {
            println!("  {name} ({} bytes)", bytes.len());
        }
    }
}

// ---------------------------------------------------------------------------
// Loading and attaching

/// Per-run state shared by all objects.
#[derive(Default)]
struct LoadContext {
    /// `--btf FILE`.
    btf_file: Option<PathBuf>,
    /// The target BTF and where it came from, chosen at most once and only
    /// if an object carries BTF; `Ok(None)` when there is none to be had.
    btf: Option<Result<Option<(Btf, String)>, String>>,
    /// Whether the BTF's origin was already reported.
    btf_reported: bool,
    /// Whether the running kernel's version was already checked and reported.
    kernel_version_checked: bool,
    /// Whether the way kprobes attach was already reported.
    probe_path_reported: bool,
}

impl LoadContext {
    /// The BTF for an object's CO-RE relocations. `needed`: the object has
    /// CO-RE relocations, so having no BTF is an error, never a silent
    /// load with the compile-time offsets.
    fn btf(&mut self, needed: bool) -> Result<Option<&Btf>, String> {
        let file = self.btf_file.clone();
        let chosen = self.btf.get_or_insert_with(|| choose_btf(file.as_deref()));
        match chosen {
            Ok(Some((btf, origin))) => {
                if needed && !self.btf_reported {
                    eprintln!("{NAME}: BTF: {origin}");
                    self.btf_reported = true;
                }
                Ok(Some(btf))
            }
            Ok(None) if !needed => Ok(None),
            Ok(None) => Err(format!(
                "this kernel has no {KERNEL_BTF}, and no BTF was given"
            )),
            Err(_) if !needed => Ok(None),
            Err(e) => Err(e.clone()),
        }
    }
}

/// The running kernel's own BTF (CONFIG_DEBUG_INFO_BTF, 5.4 on).
const KERNEL_BTF: &str = "/sys/kernel/btf/vmlinux";

/// The bundle's BTF index, `btf/kernels` beside `bin/`: one line per
/// kernel, `<file>\t<release>\t<version>`, as `uname -r` and `uname -v`
/// print them.
const BTF_INDEX: &str = "kernels";

/// `--btf FILE`, else the kernel's own BTF, else the bundle's BTF made for
/// exactly this kernel: its release and build string must both match, as
/// two builds of one release have different layouts. `Ok(None)`: no BTF
/// anywhere (fine for an object without CO-RE relocations).
fn choose_btf(file: Option<&std::path::Path>) -> Result<Option<(Btf, String)>, String> {
    let parse = |path: &std::path::Path| {
        Btf::parse_file(path, aya::Endianness::default())
            .map_err(|e| format!("cannot read BTF {}: {e}", path.display()))
    };
    if let Some(f) = file {
        return Ok(Some((parse(f)?, format!("{} (--btf)", f.display()))));
    }
    if std::path::Path::new(KERNEL_BTF).exists() {
        let btf = Btf::from_sys_fs().map_err(|e| format!("cannot read {KERNEL_BTF}: {e}"))?;
        return Ok(Some((
            btf,
            format!("{KERNEL_BTF} (the running kernel's own)"),
        )));
    }
    let (release, version) = uname()?;
    let dir = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("btf")));
    let index = dir
        .as_ref()
        .and_then(|d| std::fs::read_to_string(d.join(BTF_INDEX)).ok())
        .unwrap_or_default();
    let kernels: Vec<(&str, &str, &str)> = index
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, '\t');
            Some((f.next()?, f.next()?, f.next()?))
        })
        .collect();
    let found = kernels
        .iter()
        .find(|(_, r, v)| *r == release && *v == version);
    match (found, dir) {
        (Some((file, _, _)), Some(dir)) => {
            let path = dir.join(file);
            let btf = parse(&path)?;
            Ok(Some((
                btf,
                format!("{} (the bundle's, for {release} {version})", path.display()),
            )))
        }
        _ => {
            let has = if kernels.is_empty() {
                "none".to_string()
            } else {
                kernels
                    .iter()
                    .map(|(_, r, v)| format!("{r} `{v}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            Err(format!(
                "this kernel has no {KERNEL_BTF}, and the bundle has no BTF for it: the running kernel is {release} `{version}`; the bundle's BTF is for: {has}"
            ))
        }
    }
}

/// `uname -r` and `uname -v`: the release and the build string
/// (`#1 SMP PREEMPT <date>`) that `/proc/version` ends with.
fn uname() -> Result<(String, String), String> {
    // SAFETY: utsname is plain data, filled by uname() before it is read.
    let u = unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return Err(format!("uname failed: {}", std::io::Error::last_os_error()));
        }
        u
    };
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    Ok((field(&u.release), field(&u.version)))
}

/// A failure, with the object and step it happened in.
struct LoadError {
    object: String,
    step: String,
    source: Box<dyn Error>,
}

impl LoadError {
    fn new(object: &str, step: impl Into<String>, source: impl Into<Box<dyn Error>>) -> Self {
        Self {
            object: object.to_owned(),
            step: step.into(),
            source: source.into(),
        }
    }
}

/// Prints the error and every cause under it. aya's program load error
/// carries the verifier log in its message, and the errno as its source.
fn print_error(e: &LoadError) {
    eprintln!("{NAME}: {}: {}: {}", e.object, e.step, e.source);
    let mut cause = e.source.source();
    while let Some(c) = cause {
        eprintln!("  caused by: {c}");
        cause = c.source();
    }
}

/// What the ELF file says about its programs, beyond what aya exposes:
/// aya names programs by function symbol and drops the section name, which
/// holds the attach target.
struct ElfInfo {
    /// Program function name -> section name.
    sections: HashMap<String, String>,
    /// The `version` section's value, if any.
    version: Option<u32>,
    /// Whether the object has a `.BTF` section (CO-RE may need kernel BTF).
    has_btf: bool,
    /// Whether its `.BTF.ext` holds CO-RE relocations: then it cannot be
    /// loaded right without the target kernel's BTF.
    core_relocs: bool,
}

fn read_elf_info(data: &[u8]) -> Result<ElfInfo, object::Error> {
    let file = object::File::parse(data)?;
    let mut section_names = HashMap::new();
    let mut version = None;
    let mut has_btf = false;
    let mut core_relocs = false;
    for section in file.sections() {
        let Ok(name) = section.name() else { continue };
        match name {
            "version" => {
                let bytes = section.data()?;
                if let Ok(raw) = <[u8; 4]>::try_from(bytes) {
                    version = Some(if file.is_little_endian() {
                        u32::from_le_bytes(raw)
                    } else {
                        u32::from_be_bytes(raw)
                    });
                }
            }
            ".BTF" => has_btf = true,
            ".BTF.ext" => core_relocs = core_relo_len(section.data()?, file.is_little_endian()) > 0,
            _ => {}
        }
        section_names.insert(section.index(), name.to_owned());
    }
    // Same rule as aya-obj: every named Text symbol in a program section is a
    // program. Functions in .text are subprograms and never show up in
    // Ebpf::programs(), so mapping them too is harmless.
    let mut sections = HashMap::new();
    for symbol in file.symbols() {
        if symbol.kind() != SymbolKind::Text {
            continue;
        }
        let (Ok(name), Some(index)) = (symbol.name(), symbol.section_index()) else {
            continue;
        };
        if name.is_empty() {
            continue;
        }
        if let Some(section) = section_names.get(&index) {
            sections.insert(name.to_owned(), section.clone());
        }
    }
    Ok(ElfInfo {
        sections,
        version,
        has_btf,
        core_relocs,
    })
}

/// `core_relo_len` of a `.BTF.ext` header (`struct btf_ext_header`: magic,
/// version, flags, hdr_len, then func_info, line_info and core_relo as
/// offset/length pairs); 0 for a header too short to have it.
fn core_relo_len(ext: &[u8], little: bool) -> u32 {
    let word = |at: usize| {
        ext.get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(|b| {
                if little {
                    u32::from_le_bytes(b)
                } else {
                    u32::from_be_bytes(b)
                }
            })
    };
    match word(4) {
        Some(hdr_len) if hdr_len >= 32 => word(28).unwrap_or(0),
        _ => 0,
    }
}

/// A copy of the object with its CO-RE relocations applied against `btf`:
/// aya-obj computes them on its parsed copy, and each function's
/// instructions are written back over its bytes in its section (a CO-RE
/// relocation changes an instruction's fields, never their number).
fn relocate_core(data: &[u8], btf: &Btf) -> Result<Vec<u8>, Box<dyn Error>> {
    let mut obj = aya_obj::Object::parse(data)?;
    obj.relocate_btf(btf)?;
    let mut out = data.to_vec();
    let elf = Elf64::read(&out)?;
    for f in obj.functions.values() {
        let sec = f.section_index.0;
        if sec >= elf.shnum {
            return Err(format!(
                "function {} is in section {sec}, which does not exist",
                f.name
            )
            .into());
        }
        let offset = usize::try_from(elf.u64(&out, elf.shdr(sec) + 24)?)? + f.section_offset;
        for (k, insn) in f.instructions.iter().enumerate() {
            // SAFETY: bpf_insn is #[repr(C)] plain data of 8 bytes (code,
            // regs, off, imm), laid out as the kernel reads it.
            let bytes: [u8; 8] = unsafe { std::mem::transmute(*insn) };
            let at = offset + k * 8;
            out.get_mut(at..at + 8)
                .ok_or("instruction out of bounds")?
                .copy_from_slice(&bytes);
        }
    }
    Ok(out)
}

/// An attach point, parsed from a section name.
enum AttachTarget<'a> {
    /// kprobe or kretprobe (the kind comes from the section prefix, which aya
    /// already applied to the program).
    Probe {
        function: &'a str,
        offset: u64,
    },
    TracePoint {
        category: &'a str,
        name: &'a str,
    },
    RawTracePoint {
        name: &'a str,
    },
}

#[derive(Debug)]
struct SectionError(String);

impl fmt::Display for SectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for SectionError {}

/// Ok(None) for section kinds this loader does not attach.
fn parse_attach_target(section: &str) -> Result<Option<AttachTarget<'_>>, SectionError> {
    let (kind, rest) = section.split_once('/').unwrap_or((section, ""));
    let bad = |why: &str| SectionError(format!("section '{section}': {why}"));
    match kind {
        "kprobe" | "kretprobe" => {
            let (function, offset) = match rest.split_once('+') {
                Some((function, off)) => (
                    function,
                    parse_offset(off).ok_or_else(|| bad("bad offset"))?,
                ),
                None => (rest, 0),
            };
            if function.is_empty() {
                return Err(bad("no kernel function named after the '/'"));
            }
            Ok(Some(AttachTarget::Probe { function, offset }))
        }
        "tracepoint" | "tp" => match rest.split_once('/') {
            Some((category, name)) if !category.is_empty() && !name.is_empty() => {
                Ok(Some(AttachTarget::TracePoint { category, name }))
            }
            _ => Err(bad("expected tracepoint/<category>/<name>")),
        },
        "raw_tracepoint" | "raw_tp" => {
            if rest.is_empty() {
                return Err(bad("expected raw_tracepoint/<name>"));
            }
            Ok(Some(AttachTarget::RawTracePoint { name: rest }))
        }
        _ => Ok(None),
    }
}

fn parse_offset(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

fn load_and_attach(source: &ObjectSource, ctx: &mut LoadContext) -> Result<Ebpf, LoadError> {
    let object_name = source.display_name();
    let file_bytes;
    let data: &[u8] = match source {
        ObjectSource::Embedded { bytes, .. } => bytes,
        ObjectSource::File(path) => {
            file_bytes =
                std::fs::read(path).map_err(|e| LoadError::new(&object_name, "cannot read", e))?;
            &file_bytes
        }
    };
    // Name the object by its file name in the attach lines.
    let short_name = match source {
        ObjectSource::Embedded { name, .. } => (*name).to_owned(),
        ObjectSource::File(path) => path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| object_name.clone()),
    };

    let info =
        read_elf_info(data).map_err(|e| LoadError::new(&object_name, "not a BPF ELF object", e))?;

    // aya replaces a missing or 0xFFFFFFFE version with
    // KernelVersion::current().code(), and panics if that fails; check it
    // here so a strange uname turns into a message instead.
    if matches!(info.version, None | Some(KERNEL_VERSION_ANY)) && !ctx.kernel_version_checked {
        let kv = KernelVersion::current().map_err(|e| {
            LoadError::new(
                &object_name,
                "cannot determine the running kernel version",
                e.to_string(),
            )
        })?;
        eprintln!(
            "{NAME}: running kernel {kv} (LINUX_VERSION_CODE {:#x})",
            kv.code()
        );
        ctx.kernel_version_checked = true;
    }

    let running = KernelVersion::current().ok();
    let rewritten;
    let (data, has_btf) = match running {
        Some(kv) if info.has_btf && kv < KernelVersion::new(5, 0, 0) => {
            // aya relocates only objects whose BTF it keeps, and this
            // kernel takes none: the CO-RE relocations are made here first,
            // into the instructions, before the BTF is hidden.
            let relocated;
            let data = if info.core_relocs {
                let btf = ctx
                    .btf(true)
                    .map_err(|e| {
                        LoadError::new(&object_name, "no BTF for its CO-RE relocations", e)
                    })?
                    .expect("needed");
                relocated = relocate_core(data, btf)
                    .map_err(|e| LoadError::new(&object_name, "CO-RE relocation failed", e))?;
                relocated.as_slice()
            } else {
                data
            };
            let (bytes, maps) = without_btf(data)
                .map_err(|e| LoadError::new(&object_name, "cannot drop BTF for this kernel", e))?;
            eprintln!(
                "{NAME}: {object_name}: kernel {kv} predates BTF in BPF_PROG_LOAD (5.0): loading without the object's BTF, its {maps} BTF-defined map(s) as legacy map definitions"
            );
            rewritten = bytes;
            (rewritten.as_slice(), false)
        }
        _ => (data, info.has_btf),
    };
    let btf = if has_btf {
        ctx.btf(info.core_relocs)
            .map_err(|e| LoadError::new(&object_name, "no BTF for its CO-RE relocations", e))?
    } else {
        None
    };
    let mut ebpf = EbpfLoader::new()
        .btf(btf)
        // Plain level 1. aya's default adds BPF_LOG_STATS (4), which only
        // exists from 5.2: older verifiers don't know that bit.
        .verifier_log_level(VerifierLogLevel::DEBUG)
        .load(data)
        .map_err(|e| LoadError::new(&object_name, "loading failed", e))?;

    // Attach in section order, so the output does not depend on hash order.
    let mut programs: Vec<(String, String)> = ebpf
        .programs()
        .map(|(name, _)| {
            let section = info.sections.get(name).cloned().unwrap_or_default();
            (section, name.to_owned())
        })
        .collect();
    programs.sort();
    if programs.is_empty() {
        eprintln!("{NAME}: {object_name}: warning: no program found");
    }

    for (section, name) in &programs {
        let step = |what: &str| format!("{what} {section} ({name})");
        let Some(target) = parse_attach_target(section)
            .map_err(|e| LoadError::new(&object_name, step("bad section"), e))?
        else {
            eprintln!(
                "{NAME}: {object_name}: skipped {section} ({name}): not an attachable program type"
            );
            continue;
        };
        let program = ebpf
            .program_mut(name)
            .expect("name comes from Ebpf::programs()");
        let attached = match (program, target) {
            (Program::KProbe(p), AttachTarget::Probe { function, offset }) => {
                if !ctx.probe_path_reported {
                    report_probe_path(running);
                    ctx.probe_path_reported = true;
                }
                p.load()
                .map_err(|e| LoadError::new(&object_name, step("loading"), e))
                .and_then(|()| {
                    attach_probe(p, function, offset, embedded::KPROBE_FTRACE_ENTRY)
                        .map(|moved| {
                            if let Some(at) = moved {
                                eprintln!(
                                    "{NAME}: {section}: {function}+0 is an ftrace site and this kernel has no CONFIG_KPROBES_ON_FTRACE; attached just past it, at {function}+{at} (the arguments are still in their registers there)"
                                );
                            }
                        })
                        .map_err(|e| LoadError::new(&object_name, step("attaching"), e))
                })
            }
            (Program::TracePoint(p), AttachTarget::TracePoint { category, name: tp }) => p
                .load()
                .map_err(|e| LoadError::new(&object_name, step("loading"), e))
                .and_then(|()| {
                    p.attach(category, tp)
                        .map(drop)
                        .map_err(|e| LoadError::new(&object_name, step("attaching"), e))
                }),
            (Program::RawTracePoint(p), AttachTarget::RawTracePoint { name: tp }) => p
                .load()
                .map_err(|e| LoadError::new(&object_name, step("loading"), e))
                .and_then(|()| {
                    p.attach(tp)
                        .map(drop)
                        .map_err(|e| LoadError::new(&object_name, step("attaching"), e))
                }),
            (other, _) => Err(LoadError::new(
                &object_name,
                step("attaching"),
                SectionError(format!("aya parsed it as {:?}", other.prog_type())),
            )),
        };
        attached?;
        println!("attached {section} ({short_name})");
    }
    Ok(ebpf)
}

/// Attaches a kprobe or kretprobe. `ftrace_entry` is the size of the
/// ftrace site at a function's entry when the board's kernel (as the tool
/// read its tree) refuses kprobes there: DYNAMIC_FTRACE without
/// KPROBES_ON_FTRACE, where an entry probe fails with EINVAL. A kprobe then
/// moves just past the whole site, where the function has not yet run;
/// returns that offset when it did. A return probe has to sit at the entry,
/// so it is refused with the reason instead of a bare EINVAL.
fn attach_probe(
    p: &mut aya::programs::KProbe,
    function: &str,
    offset: u64,
    ftrace_entry: Option<u64>,
) -> Result<Option<u64>, Box<dyn Error>> {
    let first = match p.attach(function, offset) {
        Ok(_) => return Ok(None),
        Err(e) => e,
    };
    let Some(entry) = ftrace_entry.filter(|_| offset == 0 && is_einval(&first)) else {
        return Err(first.into());
    };
    match p.kind() {
        ProbeKind::KRetProbe => Err(SectionError(format!(
            "a return probe must sit at {function}'s entry, which is a {entry}-byte ftrace site on this kernel, and the kernel refuses probes there (EINVAL): it was built with CONFIG_DYNAMIC_FTRACE but without CONFIG_KPROBES_ON_FTRACE. Use a kprobe or a tracepoint, or a kernel with CONFIG_KPROBES_ON_FTRACE=y"
        ))
        .into()),
        _ => match p.attach(function, entry) {
            Ok(_) => Ok(Some(entry)),
            Err(e) => Err(SectionError(format!(
                "{function}+0 is refused (EINVAL: an ftrace site, and the kernel has no CONFIG_KPROBES_ON_FTRACE), and so is {function}+{entry} just past it: {e}"
            ))
            .into()),
        },
    }
}

/// Whether an error, or any error under it, is the EINVAL of a syscall.
fn is_einval(e: &(dyn Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(c) = cur {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            if io.raw_os_error() == Some(libc::EINVAL) {
                return true;
            }
        }
        cur = c.source();
    }
    false
}

// ---------------------------------------------------------------------------
// Old kernels

/// Lifts RLIMIT_MEMLOCK, which kernels before 5.11 charge map memory to:
/// a 128 KiB array fails to load under the default 64 KiB with EPERM.
fn raise_memlock(running: Option<KernelVersion>) {
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: both pointers are valid rlimit structs for the calls.
    let (got, set) = unsafe {
        (
            libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut old),
            libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited),
        )
    };
    let why = match running {
        Some(kv) => format!("kernel {kv} charges BPF map memory to it (before 5.11)"),
        None => "the kernel version is unknown, and before 5.11 BPF map memory is charged to it"
            .to_owned(),
    };
    let was = if got != 0 {
        "an unknown limit".to_owned()
    } else if old.rlim_cur == libc::RLIM_INFINITY {
        return;
    } else {
        format!("{} KiB", old.rlim_cur / 1024)
    };
    if set == 0 {
        eprintln!("{NAME}: RLIMIT_MEMLOCK raised from {was} to unlimited: {why}");
    } else {
        eprintln!(
            "{NAME}: warning: cannot raise RLIMIT_MEMLOCK from {was} ({}): {why}, so larger maps will fail to load; run as root or raise it (ulimit -l)",
            std::io::Error::last_os_error()
        );
    }
}

/// Says how kprobes attach here, which is aya's choice by version.
fn report_probe_path(running: Option<KernelVersion>) {
    const PMU_TYPE: &str = "/sys/bus/event_source/devices/kprobe/type";
    match running {
        Some(kv) if kv < KernelVersion::new(4, 17, 0) => eprintln!(
            "{NAME}: kernel {kv} has no perf kprobe PMU (4.17): kprobes attach through tracefs kprobe_events"
        ),
        _ => match std::fs::read_to_string(PMU_TYPE) {
            Ok(t) => eprintln!(
                "{NAME}: kprobes attach through the perf kprobe PMU (type {})",
                t.trim()
            ),
            Err(e) => eprintln!(
                "{NAME}: warning: no perf kprobe PMU ({PMU_TYPE}: {e}); the kernel needs CONFIG_KPROBE_EVENTS"
            ),
        },
    }
}

/// One legacy map record, in the layout aya reads from a `maps` section:
/// type, key_size, value_size, max_entries, map_flags, id, pinning.
const LEGACY_MAP_DEF: usize = 7 * 4;

/// A copy of `data` that aya loads without BTF: `.BTF` and `.BTF.ext` are
/// renamed so nothing reads them, and the BTF-defined `.maps` section
/// becomes a `maps` section of legacy records (appended at the end of the
/// file; its map symbols point at them). Returns the copy and the number of
/// maps converted. Relocations name map symbols, which keep their indexes.
fn without_btf(data: &[u8]) -> Result<(Vec<u8>, usize), Box<dyn Error>> {
    let obj = aya_obj::Object::parse(data)?;
    let mut maps: Vec<(usize, &aya_obj::maps::Map)> = obj
        .maps
        .values()
        .filter(|m| matches!(m, aya_obj::maps::Map::Btf(_)))
        .filter_map(|m| m.symbol_index().map(|i| (i, m)))
        .collect();
    maps.sort_by_key(|(i, _)| *i);

    let mut out = data.to_vec();
    let elf = Elf64::read(&out)?;
    let mut maps_section = None;
    for i in 0..elf.shnum {
        let name = elf.section_name(&out, i)?.to_owned();
        if matches!(name.as_str(), ".BTF" | ".BTF.ext") || (name == ".maps" && !maps.is_empty()) {
            // ".BTF" -> "BTF": the same string one byte on, a name aya
            // ignores; ".maps" -> "maps", the legacy section name.
            let at = elf.shdr(i);
            let n = elf.u32(&out, at)?;
            elf.put_u32(&mut out, at, n + 1);
            if name == ".maps" {
                maps_section = Some(i);
            }
        }
    }
    if let Some(sec) = maps_section {
        let mut records = Vec::with_capacity(maps.len() * LEGACY_MAP_DEF);
        for (_, m) in &maps {
            let pinning = match m.pinning() {
                aya_obj::maps::PinningType::ByName => 1,
                aya_obj::maps::PinningType::None => 0,
            };
            for v in [
                m.map_type(),
                m.key_size(),
                m.value_size(),
                m.max_entries(),
                m.map_flags(),
                0,
                pinning,
            ] {
                records.extend_from_slice(&elf.encode_u32(v));
            }
        }
        out.resize(out.len().next_multiple_of(8), 0);
        let offset = out.len() as u64;
        out.extend_from_slice(&records);
        let shdr = elf.shdr(sec);
        elf.put_u64(&mut out, shdr + 24, offset);
        elf.put_u64(&mut out, shdr + 32, records.len() as u64);
        let symtab = elf.symtab(&out)?;
        for (k, (sym, _)) in maps.iter().enumerate() {
            let entry = symtab + sym * 24;
            elf.put_u64(&mut out, entry + 8, (k * LEGACY_MAP_DEF) as u64);
            elf.put_u64(&mut out, entry + 16, LEGACY_MAP_DEF as u64);
        }
    }
    Ok((out, maps.len()))
}

/// The few ELF64 header fields [`without_btf`] edits, read by hand: the
/// `object` crate reads ELF but does not write it.
struct Elf64 {
    little: bool,
    shoff: usize,
    shentsize: usize,
    shnum: usize,
    shstrndx: usize,
}

impl Elf64 {
    fn read(b: &[u8]) -> Result<Elf64, Box<dyn Error>> {
        if b.len() < 64 || &b[..4] != b"\x7fELF" || b[4] != 2 {
            return Err("not a 64-bit ELF object".into());
        }
        let mut e = Elf64 {
            little: b[5] == 1,
            shoff: 0,
            shentsize: 0,
            shnum: 0,
            shstrndx: 0,
        };
        e.shoff = usize::try_from(e.u64(b, 0x28)?)?;
        e.shentsize = e.u16(b, 0x3a)?.into();
        e.shnum = e.u16(b, 0x3c)?.into();
        e.shstrndx = e.u16(b, 0x3e)?.into();
        if e.shentsize != 64 {
            return Err("unexpected ELF section header size".into());
        }
        Ok(e)
    }

    fn bytes<const N: usize>(b: &[u8], at: usize) -> Result<[u8; N], Box<dyn Error>> {
        b.get(at..at + N)
            .and_then(|s| <[u8; N]>::try_from(s).ok())
            .ok_or_else(|| "ELF field out of bounds".into())
    }

    fn u16(&self, b: &[u8], at: usize) -> Result<u16, Box<dyn Error>> {
        let r = Self::bytes::<2>(b, at)?;
        Ok(if self.little {
            u16::from_le_bytes(r)
        } else {
            u16::from_be_bytes(r)
        })
    }

    fn u32(&self, b: &[u8], at: usize) -> Result<u32, Box<dyn Error>> {
        let r = Self::bytes::<4>(b, at)?;
        Ok(if self.little {
            u32::from_le_bytes(r)
        } else {
            u32::from_be_bytes(r)
        })
    }

    fn u64(&self, b: &[u8], at: usize) -> Result<u64, Box<dyn Error>> {
        let r = Self::bytes::<8>(b, at)?;
        Ok(if self.little {
            u64::from_le_bytes(r)
        } else {
            u64::from_be_bytes(r)
        })
    }

    fn encode_u32(&self, v: u32) -> [u8; 4] {
        if self.little {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        }
    }

    fn put_u32(&self, b: &mut [u8], at: usize, v: u32) {
        b[at..at + 4].copy_from_slice(&self.encode_u32(v));
    }

    fn put_u64(&self, b: &mut [u8], at: usize, v: u64) {
        let r = if self.little {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        };
        b[at..at + 8].copy_from_slice(&r);
    }

    /// The offset of section `i`'s header.
    fn shdr(&self, i: usize) -> usize {
        self.shoff + i * self.shentsize
    }

    fn section_name<'a>(&self, b: &'a [u8], i: usize) -> Result<&'a str, Box<dyn Error>> {
        let strtab = usize::try_from(self.u64(b, self.shdr(self.shstrndx) + 24)?)?;
        let at = strtab + usize::try_from(self.u32(b, self.shdr(i))?)?;
        let rest = b.get(at..).ok_or("section name out of bounds")?;
        let end = rest
            .iter()
            .position(|&c| c == 0)
            .ok_or("unterminated section name")?;
        Ok(std::str::from_utf8(&rest[..end])?)
    }

    /// The file offset of the symbol table (SHT_SYMTAB).
    fn symtab(&self, b: &[u8]) -> Result<usize, Box<dyn Error>> {
        for i in 0..self.shnum {
            if self.u32(b, self.shdr(i) + 4)? == 2 {
                return Ok(usize::try_from(self.u64(b, self.shdr(i) + 24)?)?);
            }
        }
        Err("no symbol table".into())
    }
}

// ---------------------------------------------------------------------------
// Signals

/// Blocks SIGINT and SIGTERM in this (the only) thread and returns the set.
fn block_stop_signals() -> std::io::Result<libc::sigset_t> {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it before use,
    // and the pointers passed are valid for the duration of each call.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(std::io::Error::from_raw_os_error(rc));
        }
        Ok(set)
    }
}

/// Waits for one of the blocked signals and returns its number.
fn wait_for(set: &libc::sigset_t) -> std::io::Result<libc::c_int> {
    let mut signal: libc::c_int = 0;
    loop {
        // SAFETY: set was initialised by block_stop_signals; signal is a valid
        // out pointer.
        let rc = unsafe { libc::sigwait(set, &mut signal) };
        match rc {
            0 => return Ok(signal),
            libc::EINTR => continue,
            e => return Err(std::io::Error::from_raw_os_error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(section: &str) -> Option<String> {
        parse_attach_target(section).unwrap().map(|t| match t {
            AttachTarget::Probe { function, offset } => format!("probe {function}+{offset}"),
            AttachTarget::TracePoint { category, name } => format!("tp {category}:{name}"),
            AttachTarget::RawTracePoint { name } => format!("raw {name}"),
        })
    }

    #[test]
    fn attach_targets_from_section_names() {
        assert_eq!(
            target("kprobe/do_sys_openat2").unwrap(),
            "probe do_sys_openat2+0"
        );
        assert_eq!(target("kretprobe/vfs_read").unwrap(), "probe vfs_read+0");
        assert_eq!(
            target("kprobe/do_sys_open+0x10").unwrap(),
            "probe do_sys_open+16"
        );
        assert_eq!(target("kprobe/f+8").unwrap(), "probe f+8");
        assert_eq!(
            target("tracepoint/syscalls/sys_enter_openat").unwrap(),
            "tp syscalls:sys_enter_openat"
        );
        assert_eq!(
            target("tp/sched/sched_switch").unwrap(),
            "tp sched:sched_switch"
        );
        assert_eq!(target("raw_tracepoint/sys_enter").unwrap(), "raw sys_enter");
        assert_eq!(target("raw_tp/sys_exit").unwrap(), "raw sys_exit");
        assert_eq!(target("xdp"), None);
        assert_eq!(target("socket"), None);
    }

    #[test]
    fn einval_is_found_under_aya_errors() {
        let err = |errno| {
            aya::programs::ProgramError::SyscallError(aya::sys::SyscallError {
                call: "perf_event_open",
                io_error: std::io::Error::from_raw_os_error(errno),
            })
        };
        assert!(is_einval(&err(libc::EINVAL)));
        assert!(!is_einval(&err(libc::ENOENT)));
    }

    #[test]
    fn malformed_sections_are_errors() {
        for bad in [
            "kprobe/",
            "kprobe",
            "kprobe/f+zz",
            "tracepoint/syscalls",
            "tp//x",
            "raw_tp/",
        ] {
            assert!(
                parse_attach_target(bad).is_err(),
                "{bad} should be rejected"
            );
        }
    }

    fn args(list: &[&str]) -> Result<Command, String> {
        parse_args(list.iter().map(OsString::from))
    }

    #[test]
    fn command_line() {
        assert!(matches!(args(&["--help"]), Ok(Command::Help)));
        assert!(matches!(args(&["a.o", "-h"]), Ok(Command::Help)));
        assert!(matches!(args(&["--version"]), Ok(Command::Version)));
        assert_eq!(args(&["--frob"]).err().unwrap(), "unknown option '--frob'");
        match args(&["a.o", "--", "-b.o"]) {
            Ok(Command::Run(run)) => {
                let names: Vec<_> = run.objects.iter().map(ObjectSource::display_name).collect();
                assert_eq!(names, ["a.o", "-b.o"]);
                assert!(run.btf.is_none());
            }
            _ => panic!("expected a run"),
        }
        match args(&["--btf", "k.btf", "a.o"]) {
            Ok(Command::Run(run)) => {
                assert_eq!(run.btf, Some(PathBuf::from("k.btf")));
                assert_eq!(run.objects.len(), 1);
            }
            _ => panic!("expected a run"),
        }
        assert_eq!(args(&["--btf"]).err().unwrap(), "'--btf' needs a BTF file");
        // A lone "-" is a path, not an option.
        assert!(matches!(args(&["-"]), Ok(Command::Run(o)) if o.objects.len() == 1));
    }

    #[test]
    fn core_relocations_are_read_from_the_btf_ext_header() {
        // struct btf_ext_header: magic, version, flags, hdr_len, then
        // func_info, line_info and core_relo as (offset, length) pairs.
        let header = |hdr_len: u32, core_relo_len: u32| {
            let mut b = vec![0x9f, 0xeb, 1, 0];
            for w in [hdr_len, 0, 16, 16, 40, 56, core_relo_len] {
                b.extend_from_slice(&w.to_le_bytes());
            }
            b
        };
        assert_eq!(core_relo_len(&header(32, 64), true), 64);
        assert_eq!(core_relo_len(&header(32, 0), true), 0);
        // A header from before CO-RE relocations (24 bytes) has none.
        assert_eq!(core_relo_len(&header(24, 64), true), 0);
        assert_eq!(core_relo_len(&[0x9f, 0xeb], true), 0);
    }

    #[test]
    fn elf_info_maps_programs_to_sections() {
        // Any BPF object compiled for the embedding works; skip when none.
        let Some((_, bytes)) = embedded::EMBEDDED.first() else {
            return;
        };
        let info = read_elf_info(bytes).unwrap();
        assert!(!info.sections.is_empty());
        assert!(info.sections.values().all(|s| !s.is_empty()));
    }
}
