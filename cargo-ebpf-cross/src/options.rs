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
    CratesInc(CratesIncArgs),
}

#[derive(Debug, Clone)]
pub struct CratesIncArgs {
    pub lockfile: Option<PathBuf>,
    pub manifest_path: Option<PathBuf>,
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub enum KernelCommand {
    Fetch(KernelFetchArgs),
    List(KernelListArgs),
    Remove(KernelRemoveArgs),
}

#[derive(Debug, Clone)]
pub struct KernelFetchArgs {
    pub target: String,
    pub kernel: Option<String>,
    pub refresh: bool,
    pub json: bool,
    pub keyring: Option<PathBuf>,
    pub boards: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct KernelListArgs {
    pub target: Option<String>,
    pub json: bool,
    pub boards: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct KernelRemoveArgs {
    pub target: String,
    pub kernel: Option<String>,
    pub all: bool,
    pub boards: Option<PathBuf>,
}

#[derive(Debug, Clone, Default)]
pub struct KernelArgs {
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
pub struct CompileArgs {
    pub target: String,
    pub kernel: KernelArgs,
    pub files: Vec<PathBuf>,
    pub output: Option<PathBuf>,
    pub compile_commands: Option<PathBuf>,
    pub jobs: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct TargetsArgs {
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
pub struct FlagsArgs {
    pub target: String,
    pub kernel: KernelArgs,
    pub format: FlagsFormat,
    pub state_dir: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct DoctorArgs {
    pub target: String,
    pub kernel: KernelArgs,
    pub programs: Vec<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct ConfigArgs {
    pub target: String,
    pub kernel: KernelArgs,
    pub rust_target: Option<String>,
    pub project: ProjectArgs,
    pub json: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MessageFormat {
    #[default]
    Human,
    Json,
}

#[derive(Debug, Clone, Default)]
pub struct ProjectArgs {
    pub manifest_path: Option<PathBuf>,
    pub package: Vec<String>,
    pub target_dir: Option<PathBuf>,
    pub boards: Option<PathBuf>,
}

#[derive(Debug, Clone, Default)]
pub struct BuildOpts {
    pub release: bool,
    pub project: ProjectArgs,
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
    pub kernel: KernelArgs,
}

impl BuildOpts {
    pub fn static_flag(&self) -> Option<bool> {
        if self.no_static {
            Some(false)
        } else {
            self.static_
        }
    }
}

#[derive(Debug, Clone)]
pub struct BuildArgs {
    pub target: Vec<String>,
    pub workspace: bool,
    pub opts: BuildOpts,
}

#[derive(Debug, Clone)]
pub struct RunArgs {
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
    pub build: BuildOpts,
    pub loader_args: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct InstallArgs {
    pub bundle: Option<PathBuf>,
    pub target: Option<String>,
    pub destdir: PathBuf,
    pub bindir: PathBuf,
    pub datadir: PathBuf,
    pub project: ProjectArgs,
}

#[derive(Debug, Clone)]
pub struct NewArgs {
    pub name: String,
    pub target: String,
    pub path: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct RunnerArgs {
    pub ssh: String,
    pub ssh_config: Option<PathBuf>,
    pub connect_timeout: u64,
    pub program: PathBuf,
    pub args: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct InitArgs {
    pub name: Option<String>,
    pub target: String,
}
