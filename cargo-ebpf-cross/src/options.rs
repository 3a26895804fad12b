//! The options of each operation, as plain data: what `cli.rs` parses,
//! handed down by `command.rs`, and read by `ops/`. Nothing here knows
//! clap, so an operation can be called (and tested) without a command
//! line. A field means what the flag of the same name means; `cargo
//! ebpf-cross <command> --help` documents each.
//!
//! Settings with an environment twin (`CLANG`, `EBPF_CROSS_RUST_TARGET`,
//! ...) hold only the flag's value here: the environment is read by the
//! resolver (`resolve.rs`), so that each value keeps its origin.

use std::path::PathBuf;

#[derive(Debug, Clone)]
pub enum YoctoCommand {
    CratesInc(CratesIncOptions),
}

#[derive(Debug, Clone)]
pub struct CratesIncOptions {
    pub lockfile: Option<PathBuf>,
    pub manifest_path: Option<PathBuf>,
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub enum KernelCommand {
    Fetch(KernelFetchOptions),
    List(KernelListOptions),
    Remove(KernelRemoveOptions),
}

#[derive(Debug, Clone)]
pub struct KernelFetchOptions {
    pub target: String,
    pub kernel: Option<String>,
    pub refresh: bool,
    pub json: bool,
    pub keyring: Option<PathBuf>,
    pub boards: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct KernelListOptions {
    pub target: Option<String>,
    pub json: bool,
    pub boards: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct KernelRemoveOptions {
    pub target: String,
    pub kernel: Option<String>,
    pub all: bool,
    pub boards: Option<PathBuf>,
}

#[derive(Debug, Clone, Default)]
pub struct KernelOptions {
    pub kernel: Vec<String>,
    pub kernel_src: Option<PathBuf>,
    pub kernel_build: Option<PathBuf>,
    pub kernel_version: Option<String>,
    pub libbpf_include: Option<PathBuf>,
    pub clang: Option<String>,
    pub llc: Option<String>,
    pub stamp_version: bool,
    pub kernel_allow: Vec<String>,
    pub no_kernel_check: bool,
}

#[derive(Debug, Clone)]
pub struct CompileOptions {
    pub target: String,
    pub kernel: KernelOptions,
    pub files: Vec<PathBuf>,
    pub output: Option<PathBuf>,
    pub compile_commands: Option<PathBuf>,
    pub jobs: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct TargetsOptions {
    pub json: bool,
    pub boards: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagsFormat {
    Shell,
    Make,
    Json,
}

#[derive(Debug, Clone)]
pub struct FlagsOptions {
    pub target: String,
    pub kernel: KernelOptions,
    pub format: FlagsFormat,
    pub state_dir: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct DoctorOptions {
    pub target: String,
    pub kernel: KernelOptions,
    pub programs: Vec<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct ConfigOptions {
    pub target: String,
    pub kernel: KernelOptions,
    pub rust_target: Option<String>,
    pub project: ProjectOptions,
    pub json: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MessageFormat {
    #[default]
    Human,
    Json,
}

#[derive(Debug, Clone, Default)]
pub struct ProjectOptions {
    pub manifest_path: Option<PathBuf>,
    pub package: Vec<String>,
    pub target_dir: Option<PathBuf>,
    pub boards: Option<PathBuf>,
}

#[derive(Debug, Clone, Default)]
pub struct BuildCommon {
    pub release: bool,
    pub project: ProjectOptions,
    pub offline: bool,
    pub locked: bool,
    pub frozen: bool,
    pub message_format: MessageFormat,
    pub jobs: Option<usize>,
    pub no_rustup: bool,
    pub static_: Option<bool>,
    pub no_static: bool,
    pub features: Vec<String>,
    pub all_features: bool,
    pub no_default_features: bool,
    pub rust_target: Option<String>,
    pub kernel: KernelOptions,
}

impl BuildCommon {
    pub fn static_flag(&self) -> Option<bool> {
        if self.no_static {
            Some(false)
        } else {
            self.static_
        }
    }
}

#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub target: Vec<String>,
    pub workspace: bool,
    pub opts: BuildCommon,
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub target: String,
    pub kernel_image: Option<PathBuf>,
    pub busybox: Option<PathBuf>,
    pub expect: Vec<String>,
    pub timeout: u64,
    pub workload: Option<String>,
    pub bundle: Option<PathBuf>,
    pub extra: Vec<PathBuf>,
    pub ssh: Option<String>,
    pub ssh_config: Option<PathBuf>,
    pub connect_timeout: u64,
    pub allow_kernel_mismatch: bool,
    pub build: BuildCommon,
    pub loader_args: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct InstallOptions {
    pub bundle: Option<PathBuf>,
    pub target: Option<String>,
    pub destdir: PathBuf,
    pub bindir: PathBuf,
    pub datadir: PathBuf,
    pub project: ProjectOptions,
}

#[derive(Debug, Clone)]
pub struct NewOptions {
    pub name: String,
    pub target: String,
    pub path: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct RunnerOptions {
    pub ssh: String,
    pub ssh_config: Option<PathBuf>,
    pub connect_timeout: u64,
    pub program: PathBuf,
    pub args: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct InitOptions {
    pub name: Option<String>,
    pub target: String,
}
