//! The command line, kept apart from the operations in `ops/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::resolve::KernelOpts;
use crate::toolchain::ToolOverrides;

#[derive(Debug, Parser)]
#[command(
    name = "cargo ebpf-cross",
    bin_name = "cargo ebpf-cross",
    version,
    about = "Compile BPF C against a board's kernel, cross-build its Rust loader, and bundle both per board",
    after_help = "Run `cargo ebpf-cross targets` for the built-in boards.\nSettings precedence: flag > env > [package.metadata.ebpf-cross] > profile file."
)]
pub struct Cli {
    /// Show every command run, as argv
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Print only errors and warnings
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Coloring
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "auto",
        value_name = "WHEN"
    )]
    pub color: Color,
    /// Print the plan (argv, env, paths) and run nothing
    #[arg(long, global = true)]
    pub dry_run: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compile BPF C sources into BPF objects for a target kernel
    Compile(CompileArgs),
    /// Build BPF objects and the cross-built loader, and bundle them per board
    Build(crate::ops::build::BuildArgs),
    /// Boot the board's kernel under QEMU, run the bundle, and check the trace
    Run(crate::ops::run::RunArgs),
    /// List built-in target profiles (and a project's boards)
    Targets(TargetsArgs),
    /// Print the exact clang and llc argv for a target, for Makefiles/CMake/Yocto
    Flags(FlagsArgs),
    /// Check every tool, Rust target and kernel-tree file a target needs
    Doctor(DoctorArgs),
    /// Create a new project from the template
    New(crate::ops::new::NewArgs),
    /// Create a project in the current directory
    Init(crate::ops::new::InitArgs),
    /// Unpack a bundle into an install layout (bindir, datadir), as a recipe's do_install does
    Install(crate::ops::install::InstallArgs),
    /// Yocto helpers: `yocto crates-inc` writes a recipe's -crates.inc from Cargo.lock
    Yocto(crate::ops::yocto::YoctoArgs),
}

#[derive(Debug, Clone, Args, Default)]
pub struct KernelArgs {
    /// Kernel source tree (srctree)
    #[arg(long, env = "EBPF_CROSS_KERNEL_SRC", value_name = "DIR")]
    pub kernel_src: Option<PathBuf>,
    /// Kernel build tree (objtree, `make O=`), when separate from the source
    #[arg(long, env = "EBPF_CROSS_KERNEL_BUILD", value_name = "DIR")]
    pub kernel_build: Option<PathBuf>,
    /// Kernel version X.Y[.Z]; must agree with the tree when one is given
    #[arg(long, env = "EBPF_CROSS_KERNEL_VERSION", value_name = "X.Y[.Z]")]
    pub kernel_version: Option<String>,
    /// A directory holding bpf/bpf_helpers.h (libbpf headers)
    #[arg(long, env = "EBPF_CROSS_LIBBPF_INCLUDE", value_name = "DIR")]
    pub libbpf_include: Option<PathBuf>,
    /// clang to use (name or path)
    #[arg(long, env = "CLANG", value_name = "PATH")]
    pub clang: Option<String>,
    /// llc to use (name or path); its LLVM major must match clang's
    #[arg(long, env = "LLC", value_name = "PATH")]
    pub llc: Option<String>,
    /// Replace a `version` section of 0xFFFFFFFE ("any kernel") with the
    /// target's LINUX_VERSION_CODE, for loaders that do not substitute it
    #[arg(long)]
    pub stamp_version: bool,
}

impl KernelArgs {
    pub fn opts(&self) -> KernelOpts {
        KernelOpts {
            src: self.kernel_src.clone(),
            build: self.kernel_build.clone(),
            version: self.kernel_version.clone(),
            libbpf_include: self.libbpf_include.clone(),
            stamp_version: self.stamp_version,
            tools: ToolOverrides {
                clang: self.clang.clone().filter(|s| !s.is_empty()),
                llc: self.llc.clone().filter(|s| !s.is_empty()),
            },
        }
    }
}

#[derive(Debug, Args)]
pub struct CompileArgs {
    /// Target profile: a built-in name or a profile file
    #[arg(long, short = 't', value_name = "TARGET")]
    pub target: String,
    #[command(flatten)]
    pub kernel: KernelArgs,
    /// BPF C sources
    #[arg(required = true, value_name = "FILE.c")]
    pub files: Vec<PathBuf>,
    /// Output: a file for one input, or a directory
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Where to write compile_commands.json (default: beside the outputs)
    #[arg(long, value_name = "FILE")]
    pub compile_commands: Option<PathBuf>,
    /// Parallel compiles (default: number of cores)
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,
}

#[derive(Debug, Args)]
pub struct TargetsArgs {
    /// Print a JSON array (for CI matrices)
    #[arg(long)]
    pub json: bool,
    /// Also list the board files (*.toml) in this directory
    #[arg(long, value_name = "DIR")]
    pub boards: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum FlagsFormat {
    Shell,
    Make,
    Json,
}

#[derive(Debug, Args)]
pub struct FlagsArgs {
    #[arg(long, short = 't', value_name = "TARGET")]
    pub target: String,
    #[command(flatten)]
    pub kernel: KernelArgs,
    #[arg(long, value_enum, default_value = "shell")]
    pub format: FlagsFormat,
    /// Where the staged bpf/ helper dir goes (default: a cache dir)
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[arg(long, short = 't', value_name = "TARGET")]
    pub target: String,
    #[command(flatten)]
    pub kernel: KernelArgs,
}
