//! Typed errors. Every variant carries enough to tell the user what to do
//! next; `hint()` is what the CLI prints under the message.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown target `{name}`")]
    UnknownTarget { name: String, known: Vec<String> },

    #[error("{file}:{line}:{column}: {message}")]
    ProfileSyntax {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },

    #[error("profile `{profile}` is incomplete: `{key}` is not set")]
    ProfileIncomplete { profile: String, key: String },

    #[error("profile `{profile}` extends itself through `{chain}`")]
    ProfileCycle { profile: String, chain: String },

    #[error("kernel {what} directory `{path}` does not exist")]
    KernelDirMissing { what: &'static str, path: PathBuf },

    #[error("kernel tree is not prepared: {}", missing.iter().map(|m| m.0.display().to_string()).collect::<Vec<_>>().join(", "))]
    KernelNotPrepared {
        /// (missing file, command that creates it)
        missing: Vec<(PathBuf, String)>,
    },

    #[error("could not tell the kernel version of the tree at `{0}`")]
    KernelVersionUnknown(PathBuf),

    #[error("kernel version `{given}` (from {source_name}) contradicts the tree, which is {tree}")]
    KernelVersionMismatch {
        given: String,
        source_name: String,
        tree: String,
    },

    #[error("`{0}` is not a kernel version")]
    BadVersion(String),

    #[error("{tool} not found")]
    ToolMissing { tool: String, hint: String },

    #[error("{0}")]
    ToolMismatch(String),

    #[error("`{tool}` failed to run: {source}")]
    Spawn {
        tool: String,
        #[source]
        source: std::io::Error,
    },

    #[error("`{}` failed ({status})", argv.join(" "))]
    CommandFailed {
        argv: Vec<String>,
        status: String,
        /// Captured stderr; empty when it went to the terminal.
        stderr: String,
    },

    #[error("no bpf/bpf_helpers.h found (looked in: {})", looked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    NoHelpers { looked: Vec<PathBuf> },

    #[error("source file `{0}` does not exist")]
    SourceMissing(PathBuf),

    #[error("compiling `{source_file}` failed ({tool} exited with {status})")]
    CompileFailed {
        source_file: PathBuf,
        tool: String,
        status: String,
    },

    #[error("`{path}` is not what was expected: {problem}")]
    BadOutput { path: PathBuf, problem: String },

    #[error("cannot write `{path}`: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot read `{path}`: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("`{}` is not a usable bundle: {problem}", path.display())]
    BadBundle { path: PathBuf, problem: String },

    #[error("{message}")]
    Usage { message: String, hint: String },

    /// A vmlinux that cannot give CO-RE mode its BTF.
    #[error("no BTF from `{}`: {problem}", vmlinux.display())]
    NoBtf {
        vmlinux: PathBuf,
        problem: String,
        hint: String,
    },

    #[error("{message}")]
    Loader { message: String, hint: String },

    #[error("{failed} of {total} targets failed")]
    TargetsFailed { failed: usize, total: usize },

    #[error("{message}")]
    Run { message: String, hint: String },

    /// `static` was asked for but the Rust target links dynamically anyway.
    #[error("a static loader was asked for ({from}) but {why}")]
    StaticIgnored {
        /// Which setting asked for it.
        from: String,
        /// What says the target ignores `+crt-static`.
        why: String,
    },
    #[error("no Debian release `{given}` serves reference kernels")]
    UnknownRelease { given: String, known: Vec<String> },

    #[error("`{0}` is not a reference kernel")]
    BadKernelSpec(String),

    #[error("{message}")]
    NoReference {
        message: String,
        available: Vec<String>,
    },

    #[error("reference kernel {what} is not cached{why}")]
    ReferenceNotCached {
        what: String,
        why: String,
        fetch: String,
    },

    #[error("sha256 mismatch for `{file}`: expected {expected}, got {got} ({url})")]
    Digest {
        file: String,
        url: String,
        expected: String,
        got: String,
    },

    #[error("{message}")]
    Fetch { message: String, hint: String },

    /// The capability check: what the object uses that the target kernel
    /// cannot run, one line each.
    #[error("{}", refusals.iter().map(|r| format!("{file}: {}", r.message)).collect::<Vec<_>>().join("\n"))]
    KernelRefuses {
        file: String,
        refusals: Vec<Refusal>,
    },

    #[error("cannot read what `{path}` says the kernel has: {problem}")]
    KernelHeader { path: PathBuf, problem: String },

    #[error("`{path}` cannot be checked against the target kernel: {problem}")]
    BadObject { path: PathBuf, problem: String },
}

impl Error {
    /// What to do next, in one or more lines; empty when the message says it.
    pub fn hint(&self) -> String {
        match self {
            Error::UnknownTarget { known, .. } => format!(
                "built-in targets: {}; or pass a path to a profile file (`--target boards/myboard.toml`). `cargo ebpf-cross targets` lists them",
                known.join(", ")
            ),
            Error::ProfileSyntax { .. } => {
                "fix the profile file; its keys are documented in docs/profiles.md".into()
            }
            Error::ProfileIncomplete { .. } => {
                "add `extends = \"<built-in>\"` (for example `extends = \"armv7\"`) or set the key".into()
            }
            Error::ProfileCycle { .. } => "break the `extends` chain".into(),
            Error::KernelDirMissing { .. } => {
                "check --kernel-src/--kernel-build (or EBPF_CROSS_KERNEL_SRC/EBPF_CROSS_KERNEL_BUILD, or the profile's [kernel] source/build)".into()
            }
            Error::KernelNotPrepared { missing } => {
                let mut s = String::from("the tree needs configuring and preparing first:");
                let mut seen = Vec::new();
                for (path, cmd) in missing {
                    s.push_str(&format!("\n  missing {}\n    create it with: {}", path.display(), cmd));
                    if !seen.contains(cmd) {
                        seen.push(cmd.clone());
                    }
                }
                s
            }
            Error::KernelVersionUnknown(_) => {
                "prepare the tree (`make prepare`) or pass --kernel-version X.Y.Z".into()
            }
            Error::KernelVersionMismatch { .. } => {
                "drop the version (it is read from the tree) or point at the right tree".into()
            }
            Error::BadVersion(_) => "write it as X.Y or X.Y.Z, for example 4.19 or 6.1.176".into(),
            Error::ToolMissing { hint, .. } => hint.clone(),
            Error::ToolMismatch(_) => {
                "install a matching pair (`apt-get install clang-14 llvm-14`) or set both CLANG and LLC".into()
            }
            Error::Spawn { .. } => "check that the tool is installed and executable".into(),
            Error::CommandFailed { stderr, .. } => {
                let text = stderr.trim();
                if text.is_empty() {
                    "its diagnostics are above".into()
                } else {
                    // The tail is what explains a failure; a whole
                    // compiler log would bury the help line.
                    let lines: Vec<&str> = text.lines().collect();
                    let tail = &lines[lines.len().saturating_sub(20)..];
                    format!("it said:\n{}", tail.join("\n"))
                }
            }
            Error::NoHelpers { .. } => "install libbpf headers (`apt-get install libbpf-dev`), or pass --libbpf-include DIR (a dir holding bpf/bpf_helpers.h), or run `make -C tools/lib/bpf` in a 5.5+ kernel tree (EBPF_CROSS_HOST_LIBBPF=0 turns off the host fallback)".into(),
            Error::SourceMissing(_) => "check the path; globs in `programs` are relative to the package".into(),
            Error::CompileFailed { .. } => "the compiler's diagnostics are above".into(),
            Error::BadOutput { .. } => "check CLANG/LLC: the output must be an eBPF ELF object".into(),
            Error::Write { source, .. } => write_hint(source).into(),
            Error::Read { .. } => String::new(),
            Error::BadBundle { .. } => "rebuild it with `cargo ebpf-cross build` (one top directory holding manifest.json, bin/ and bpf/), or fetch it again and check it against SHA256SUMS".into(),
            Error::NoBtf { hint, .. } => hint.clone(),
            Error::Usage { hint, .. } | Error::Loader { hint, .. } | Error::Run { hint, .. } => hint.clone(),
            Error::TargetsFailed { .. } => "see the summary above".into(),
            Error::StaticIgnored { .. } => "link the loader dynamically: --no-static or EBPF_CROSS_STATIC=0 (the Yocto class does this on glibc; OpenEmbedded's generated target specs respect crt-static only for musl), or build for a target whose spec sets `crt-static-respected`".into(),
            Error::UnknownRelease { known, .. } => format!("known releases: {}", known.join(", ")),
            Error::BadKernelSpec(_) => "write debian:RELEASE or debian:RELEASE@ABI, for example debian:6.1 or debian:6.1@6.1.0-50 (`cargo ebpf-cross kernel list` shows them)".into(),
            Error::NoReference { available, .. } => if available.is_empty() {
                "pass your board's kernel tree with --kernel-src DIR (and --kernel-build DIR), or --kernel-version X.Y to build without one".into()
            } else {
                format!("this profile has: {}; or pass your board's tree with --kernel-src", available.join(", "))
            },
            Error::ReferenceNotCached { fetch, .. } => format!("run `{fetch}` once while online, or pass your board's tree with --kernel-src DIR (and --kernel-build DIR)"),
            Error::Digest { .. } => "the mirror served a file that does not match its signed index (a mirror mid-sync, or tampering): nothing was cached. Retry later, or choose another mirror with EBPF_CROSS_DEBIAN_MIRROR".into(),
            Error::Fetch { hint, .. } => hint.clone(),
            Error::KernelRefuses { refusals, .. } => {
                let mut lines: Vec<String> = Vec::new();
                for r in refusals {
                    if !lines.contains(&r.hint) {
                        lines.push(r.hint.clone());
                    }
                }
                let mut allow: Vec<&str> = Vec::new();
                for r in refusals {
                    if !allow.contains(&r.allow.as_str()) {
                        allow.push(&r.allow);
                    }
                }
                lines.push(format!(
                    "if the board's kernel has it after all (a vendor backport), let it through: --kernel-allow {} (or EBPF_CROSS_KERNEL_ALLOW, or `allow = [...]` in [package.metadata.ebpf-cross.kernel] or the board file's [kernel]); --no-kernel-check skips the check",
                    allow.join(",")
                ));
                lines.join("\n")
            }
            Error::KernelHeader { .. } => "the kernel check reads enum bpf_func_id, bpf_map_type and bpf_prog_type from the tree's include/uapi/linux/bpf.h: point --kernel-src at the board's unmodified tree, or skip the check with --no-kernel-check".into(),
            Error::BadObject { .. } => "a `.maps` map is described by BTF: compile with -g (add \"-g\" to [bpf] cflags), or declare the map old-style, `struct bpf_map_def SEC(\"maps\")`".into(),
        }
    }
}

/// The OS error behind an io::Error, looking through wrappers (the tar
/// crate wraps the write error of an entry in one of its own).
pub fn os_error(e: &std::io::Error) -> Option<i32> {
    if let Some(code) = e.raw_os_error() {
        return Some(code);
    }
    let mut next: Option<&(dyn std::error::Error + 'static)> = e.get_ref().map(|r| r as _);
    while let Some(inner) = next {
        if let Some(io) = inner.downcast_ref::<std::io::Error>() {
            if let Some(code) = io.raw_os_error() {
                return Some(code);
            }
        }
        next = inner.source();
    }
    None
}

/// What to do about a failed write, by why it failed: a full disk is not a
/// missing directory, and a read-only cache is no reason to pass -o.
fn write_hint(e: &std::io::Error) -> &'static str {
    match os_error(e) {
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => "the disk that holds it is full: free some space (`df -h` shows it), or write elsewhere (EBPF_CROSS_CACHE_DIR for the kernel cache; -o or --target-dir for builds); nothing half-written was kept",
        Some(libc::EROFS) | Some(libc::EACCES) | Some(libc::EPERM) => "it is not writable (a read-only filesystem or permissions): write elsewhere (EBPF_CROSS_CACHE_DIR for the kernel cache; -o or --target-dir for builds)",
        _ => "check the directory exists and is writable (EBPF_CROSS_CACHE_DIR for the kernel cache; -o or --target-dir for builds)",
    }
}

// Kept over `fs-err`: it names the path too, but its io::Error cannot carry
// our typed variants or the advice `write_hint` gives by errno.
pub fn write_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Write { path, source }
}

pub fn read_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Read { path, source }
}

/// One thing the target kernel cannot run, as the capability check
/// (`kernel_caps`) finds it. It lives beside the error that carries it, so
/// that errors depend on no step of the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub message: String,
    pub hint: String,
    /// What `--kernel-allow` takes to let it through.
    pub allow: String,
}
