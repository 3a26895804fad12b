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
    let objects = match parse_args(std::env::args_os().skip(1)) {
        Ok(Command::Run(objects)) => objects,
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

    let mut loaded = Vec::with_capacity(objects.len());
    let mut context = LoadContext::default();
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

enum Command {
    Run(Vec<ObjectSource>),
    Help,
    Version,
}

fn parse_args(args: impl Iterator<Item = OsString>) -> Result<Command, String> {
    let mut paths = Vec::new();
    let mut only_paths = false;
    for arg in args {
        if !only_paths {
            match arg.to_str() {
                Some("-h" | "--help") => return Ok(Command::Help),
                Some("-V" | "--version") => return Ok(Command::Version),
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
    Ok(Command::Run(paths))
}

fn print_usage() {
    println!(
        "{NAME} {VERSION}: load eBPF objects, attach their programs, and wait

Usage: {NAME} [OBJECT.o ...]

With no OBJECT, loads the objects embedded in this binary. Every program is
attached by its section name: kprobe/<fn>[+<off>], kretprobe/<fn>,
tracepoint/<category>/<name> (tp/...), raw_tracepoint/<name> (raw_tp/...).
Runs until SIGINT or SIGTERM; the kernel then detaches the programs.
Output of bpf_trace_printk: cat /sys/kernel/debug/tracing/trace_pipe

Options:
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
    /// The kernel's BTF, read at most once and only if an object carries BTF.
    btf: Option<Option<Btf>>,
    /// Whether the running kernel's version was already checked and reported.
    kernel_version_checked: bool,
}

impl LoadContext {
    fn btf(&mut self) -> Option<&Btf> {
        self.btf
            .get_or_insert_with(|| Btf::from_sys_fs().ok())
            .as_ref()
    }
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
}

fn read_elf_info(data: &[u8]) -> Result<ElfInfo, object::Error> {
    let file = object::File::parse(data)?;
    let mut section_names = HashMap::new();
    let mut version = None;
    let mut has_btf = false;
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
    })
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

    let btf = if info.has_btf { ctx.btf() } else { None };
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
            (Program::KProbe(p), AttachTarget::Probe { function, offset }) => p
                .load()
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
                }),
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
            Ok(Command::Run(objects)) => {
                let names: Vec<_> = objects.iter().map(ObjectSource::display_name).collect();
                assert_eq!(names, ["a.o", "-b.o"]);
            }
            _ => panic!("expected a run"),
        }
        // A lone "-" is a path, not an option.
        assert!(matches!(args(&["-"]), Ok(Command::Run(o)) if o.len() == 1));
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
