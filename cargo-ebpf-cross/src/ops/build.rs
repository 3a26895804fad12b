//! `cargo ebpf-cross build`: objects, loader, verification and bundle, for
//! one or more boards.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::cli::KernelArgs;
use crate::error::Result;
use crate::ops::Global;

#[derive(Debug, Clone, Copy, Default, ValueEnum, PartialEq, Eq)]
pub enum MessageFormat {
    #[default]
    Human,
    Json,
}

/// Options shared by `build` and `run`.
#[derive(Debug, Clone, Args, Default)]
pub struct BuildOpts {
    /// Build the loader in release mode
    #[arg(long)]
    pub release: bool,
    /// Path to the loader package's Cargo.toml
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// The loader package, when the workspace has several
    #[arg(short = 'p', long = "package", value_name = "PKG")]
    pub package: Option<String>,
    /// Cargo's target dir (default: CARGO_TARGET_DIR, then the workspace's)
    #[arg(long, value_name = "DIR")]
    pub target_dir: Option<PathBuf>,
    /// Run without accessing the network
    #[arg(long)]
    pub offline: bool,
    /// Require Cargo.lock to be up to date
    #[arg(long)]
    pub locked: bool,
    /// --offline and --locked
    #[arg(long)]
    pub frozen: bool,
    #[arg(long, value_enum, default_value = "human")]
    pub message_format: MessageFormat,
    /// Parallel BPF compiles (default: number of cores)
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Never run `rustup target add`
    #[arg(long)]
    pub no_rustup: bool,
    /// Rust triple or target-spec JSON for the loader, replacing the profile's (Yocto's RUST_TARGET_SYS)
    #[arg(long, env = "EBPF_CROSS_RUST_TARGET", value_name = "TRIPLE|SPEC.json")]
    pub rust_target: Option<String>,
    /// A directory of board profiles to find --target names in (default: ./boards)
    #[arg(long, value_name = "DIR")]
    pub boards: Option<PathBuf>,
    #[command(flatten)]
    pub kernel: KernelArgs,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Target profile(s): a built-in name, a board name, or a profile file; repeatable
    #[arg(long, short = 't', required = true, value_name = "TARGET")]
    pub target: Vec<String>,
    #[command(flatten)]
    pub opts: BuildOpts,
}

pub fn build(_g: Global, _a: BuildArgs) -> Result<i32> {
    Ok(0)
}

/// Builds one target's bundle and returns the tarball's path (for `run`).
pub fn build_bundle(_g: Global, _opts: &BuildOpts, _target: &str) -> Result<PathBuf> {
    Err(crate::error::Error::Usage {
        message: "build is not implemented yet".into(),
        hint: String::new(),
    })
}
