//! The command line, kept apart from the operations in `ops/`.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

/// Options whose empty value means something, or gets a better error
/// later: loader arguments are the loader's business, `--features ""` is
/// cargo's "no extra features", and `new`/`init` explain what a project
/// name must be.
const EMPTY_ALLOWED: &[&str] = &["loader_args", "features", "name"];

/// Parses the command line, exiting as clap does on a usage error. An empty
/// value given on the command line is refused for every other option:
/// `--kernel ""` read as the default kernel, and `--expect ''` matched every
/// line, so a script whose variable was unset lost its check unseen.
pub fn parse_from(args: Vec<OsString>) -> Cli {
    let mut cmd = Cli::command();
    let matches = cmd.clone().get_matches_from(args);
    if let Some(flag) = empty_value(&cmd, &matches) {
        cmd.error(
            clap::error::ErrorKind::InvalidValue,
            format!("{flag} was given an empty value (an unset variable in a script?); give it a value, or leave the option out"),
        )
        .exit();
    }
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// The first option (as the user spells it) given an empty value on the
/// command line, in this subcommand or below.
fn empty_value(cmd: &clap::Command, m: &ArgMatches) -> Option<String> {
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str();
        if EMPTY_ALLOWED.contains(&id) || m.value_source(id) != Some(ValueSource::CommandLine) {
            continue;
        }
        let empty = m
            .try_get_raw(id)
            .ok()
            .flatten()
            .is_some_and(|mut v| v.any(|v| v.is_empty()));
        if empty {
            return Some(match arg.get_long() {
                Some(long) => format!("--{long}"),
                None => arg
                    .get_value_names()
                    .and_then(|n| n.first())
                    .map_or_else(|| id.to_string(), |n| n.to_string()),
            });
        }
    }
    let (name, sub_m) = m.subcommand()?;
    empty_value(cmd.find_subcommand(name)?, sub_m)
}

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
    Build(BuildArgs),
    /// Boot the board's kernel under QEMU, run the bundle, and check the trace
    Run(Box<RunArgs>),
    /// List built-in target profiles (and a project's boards)
    Targets(TargetsArgs),
    /// Print the exact clang and llc argv for a target, for Makefiles/CMake/Yocto
    Flags(FlagsArgs),
    /// Check every tool, Rust target and kernel-tree file a target needs, and what its kernel can run
    Doctor(DoctorArgs),
    /// Show every setting a target resolves to, and where each came from
    Config(ConfigArgs),
    /// Create a new project from the template
    New(NewArgs),
    /// Create a project in the current directory
    Init(InitArgs),
    /// Unpack a bundle into an install layout (bindir, datadir), as a recipe's do_install does
    Install(InstallArgs),
    /// Yocto helpers: `yocto crates-inc` writes a recipe's -crates.inc from Cargo.lock
    #[command(subcommand)]
    Yocto(YoctoCommand),
    /// Fetch, list and remove reference kernels (Debian's kernels, verified and cached)
    #[command(subcommand)]
    Kernel(KernelCommand),
    /// Run a program on a board over ssh, as cargo's target runner: `runner = ["cargo-ebpf-cross", "runner", "--ssh", "HOST"]`
    Runner(RunnerArgs),
}

#[derive(Debug, Subcommand)]
pub enum YoctoCommand {
    /// Write a recipe's -crates.inc (crate:// SRC_URIs and their sha256) from Cargo.lock, offline
    CratesInc(CratesIncArgs),
}

#[derive(Debug, Args)]
pub struct CratesIncArgs {
    /// The Cargo.lock to read [default: the workspace's of --manifest-path, or of the current directory]
    #[arg(long, value_name = "PATH")]
    pub lockfile: Option<PathBuf>,
    /// A Cargo.toml of the workspace whose Cargo.lock is read
    #[arg(long, value_name = "PATH", conflicts_with = "lockfile")]
    pub manifest_path: Option<PathBuf>,
    /// Where to write it (for example yocto/recipes-ebpf/NAME/NAME-crates.inc) [default: stdout]
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum KernelCommand {
    /// Download a profile's reference kernel (headers, image, busybox, libbpf headers) into the cache
    Fetch(KernelFetchArgs),
    /// Show every reference kernel per profile, and whether it is cached
    List(KernelListArgs),
    /// Delete a cached reference kernel
    Remove(KernelRemoveArgs),
}

#[derive(Debug, Args)]
pub struct KernelFetchArgs {
    #[arg(long, short = 't', value_name = "TARGET")]
    pub target: String,
    /// debian:RELEASE[@ABI] [default: the profile's default] [env: EBPF_CROSS_KERNEL]
    #[arg(long, value_name = "debian:RELEASE[@ABI]")]
    pub kernel: Option<String>,
    /// Resolve the newest ABI again and replace the cached copy
    #[arg(long)]
    pub refresh: bool,
    /// Print one JSON object describing the cached kernel
    #[arg(long)]
    pub json: bool,
    /// OpenPGP keyring that signs the mirror's InRelease, replacing Debian's embedded keys [env: EBPF_CROSS_DEBIAN_KEYRING]
    #[arg(long, value_name = "FILE")]
    pub keyring: Option<PathBuf>,
    /// A directory of board profiles to find --target names in (default: ./boards)
    #[arg(long, value_name = "DIR")]
    pub boards: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct KernelListArgs {
    /// Only this profile [default: every built-in]
    #[arg(long, short = 't', value_name = "TARGET")]
    pub target: Option<String>,
    /// Print a JSON array
    #[arg(long)]
    pub json: bool,
    #[arg(long, value_name = "DIR")]
    pub boards: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct KernelRemoveArgs {
    #[arg(long, short = 't', value_name = "TARGET")]
    pub target: String,
    /// debian:RELEASE[@ABI] to remove
    #[arg(
        long,
        value_name = "debian:RELEASE[@ABI]",
        required_unless_present = "all"
    )]
    pub kernel: Option<String>,
    /// Remove every cached reference kernel of the profile
    #[arg(long, conflicts_with = "kernel")]
    pub all: bool,
    #[arg(long, value_name = "DIR")]
    pub boards: Option<PathBuf>,
}

#[derive(Debug, Clone, Args, Default)]
pub struct KernelArgs {
    // No `env =` here or anywhere in this file: the settings resolver reads
    // each flag's env twin, so that `config` can tell a flag from an env
    // var and every command sees the same value.
    /// A reference kernel, debian:RELEASE[@ABI]: tree, helpers, image and busybox, fetched and cached; not with --kernel-src/--kernel-build [env: EBPF_CROSS_KERNEL]. `run` takes it repeatedly, `all`, or a board name or file, for a kernel matrix
    #[arg(long, value_name = "debian:RELEASE[@ABI]")]
    pub kernel: Vec<String>,
    /// Kernel source tree (srctree) [env: EBPF_CROSS_KERNEL_SRC]
    #[arg(long, value_name = "DIR")]
    pub kernel_src: Option<PathBuf>,
    /// Kernel build tree (objtree, `make O=`), when separate from the source [env: EBPF_CROSS_KERNEL_BUILD]
    #[arg(long, value_name = "DIR")]
    pub kernel_build: Option<PathBuf>,
    /// Kernel version X.Y[.Z]; must agree with the tree when one is given [env: EBPF_CROSS_KERNEL_VERSION]
    #[arg(long, value_name = "X.Y[.Z]")]
    pub kernel_version: Option<String>,
    /// A directory holding bpf/bpf_helpers.h (libbpf headers) [env: EBPF_CROSS_LIBBPF_INCLUDE]
    #[arg(long, value_name = "DIR")]
    pub libbpf_include: Option<PathBuf>,
    /// clang to use (name or path) [env: CLANG]
    #[arg(long, value_name = "PATH")]
    pub clang: Option<String>,
    /// llc to use (name or path); its LLVM major must match clang's [env: LLC]
    #[arg(long, value_name = "PATH")]
    pub llc: Option<String>,
    /// Replace a `version` section of 0xFFFFFFFE ("any kernel") with the
    /// target's LINUX_VERSION_CODE, for loaders that do not substitute it
    #[arg(long)]
    pub stamp_version: bool,
    /// Let the kernel check pass what the board's kernel has despite its tree or version (a vendor backport): global-data, loops, helper:NAME, map:TYPE, program:TYPE, attach:TYPE, config:OPTION, all; comma list, repeatable [env: EBPF_CROSS_KERNEL_ALLOW]
    #[arg(long, value_name = "ITEM,...")]
    pub kernel_allow: Vec<String>,
    /// Skip the kernel capability check (same as --kernel-allow all)
    #[arg(long, conflicts_with = "kernel_allow")]
    pub no_kernel_check: bool,
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
    /// BPF C sources or objects whose kernel config needs to check [default: bpf/*.bpf.c here, else a kprobe and a tracepoint]
    #[arg(value_name = "PROGRAM")]
    pub programs: Vec<PathBuf>,
}

#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Precedence, highest first: flag > env > [package.metadata.ebpf-cross] > profile (board file or built-in) > default."
)]
pub struct ConfigArgs {
    #[arg(long, short = 't', value_name = "TARGET")]
    pub target: String,
    #[command(flatten)]
    pub kernel: KernelArgs,
    /// Rust triple or target-spec JSON for the loader [env: EBPF_CROSS_RUST_TARGET]
    #[arg(long, value_name = "TRIPLE|SPEC.json")]
    pub rust_target: Option<String>,
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Print a JSON array of {key, value, origin}
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, Default, ValueEnum, PartialEq, Eq)]
pub enum MessageFormat {
    #[default]
    Human,
    Json,
}

/// Which project, and where its boards and build output are: shared by
/// `build`, `run` and `install`.
#[derive(Debug, Clone, Args, Default)]
#[command(mut_arg("PATH", |a| a.help("Path to the loader package's Cargo.toml")))]
pub struct ProjectArgs {
    /// cargo's `--manifest-path`, declared by clap-cargo
    #[command(flatten)]
    pub manifest: clap_cargo::Manifest,
    /// The loader package, when the workspace has several (`build` takes
    /// several)
    #[arg(short = 'p', long = "package", value_name = "PKG")]
    pub package: Vec<String>,
    /// Cargo's target dir (default: CARGO_TARGET_DIR, then the workspace's)
    #[arg(long, value_name = "DIR")]
    pub target_dir: Option<PathBuf>,
    /// A directory of board profiles to find --target names in (default: ./boards)
    #[arg(long, value_name = "DIR")]
    pub boards: Option<PathBuf>,
}

/// Options shared by `build` and `run`. clap-cargo declares cargo's
/// feature flags; the help says what they do here.
#[derive(Debug, Clone, Args, Default)]
#[command(
    mut_arg("features", |a| a.value_name("FEATURES").help("Loader features to activate (comma or space separated; repeatable)")),
    mut_arg("all_features", |a| a.help("Activate all of the loader's features")),
    mut_arg("no_default_features", |a| a.help("Do not activate the loader's `default` feature")),
)]
pub struct BuildOpts {
    /// Build the loader in release mode
    #[arg(long)]
    pub release: bool,
    #[command(flatten)]
    pub project: ProjectArgs,
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
    /// Link the loader statically (+crt-static), over EBPF_CROSS_STATIC,
    /// Cargo.toml and the profile; `--static=false` links it dynamically
    #[arg(
        long = "static",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub static_: Option<bool>,
    /// Link the loader dynamically, over --static, EBPF_CROSS_STATIC, Cargo.toml and the profile
    #[arg(long)]
    pub no_static: bool,
    /// cargo's own feature flags, passed through to the loader's build
    #[command(flatten)]
    pub features: clap_cargo::Features,
    /// Rust triple or target-spec JSON for the loader, replacing the profile's (Yocto's RUST_TARGET_SYS) [env: EBPF_CROSS_RUST_TARGET]
    #[arg(long, value_name = "TRIPLE|SPEC.json")]
    pub rust_target: Option<String>,
    #[command(flatten)]
    pub kernel: KernelArgs,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Target profile(s): a built-in name, a board name, or a profile file; repeatable
    #[arg(long, short = 't', required = true, value_name = "TARGET")]
    pub target: Vec<String>,
    /// Every loader package of the workspace (each member with
    /// [package.metadata.ebpf-cross])
    #[arg(long, conflicts_with = "package")]
    pub workspace: bool,
    #[command(flatten)]
    pub opts: BuildOpts,
}

const VERDICT_HELP: &str = "\
Verdict:
  Passes (exit 0) when every --expect text appears in some trace_pipe line.
  Without --expect, any trace_pipe line passes. Either way the loader must
  not exit with an error on its own (a verifier rejection fails the run).
  Otherwise it fails (exit 1) with a report: the loader's output (with any
  verifier log), the last console lines, whether the probe attached (the
  loader printed \"attached\"), and whether the timeout was hit. Ctrl-C stops
  QEMU and exits 130.

  --message-format json prints one result object, {\"kind\":\"run\", \"passed\",
  \"attached\", \"matched\", \"missing\", \"trace_lines\", \"seconds\",
  \"timed_out\", ...}, after any messages of the build.

On a board (--ssh HOST):
  The same run, verdict and exit codes on a real board over your OpenSSH
  client (BatchMode; host keys checked as your config says): the board is
  checked (arch, kernel release, root, tracefs), the bundle is copied over
  the SSH channel and verified with sha256sum, and the loader runs as root
  in a temporary directory that is removed however the run ends. See
  docs/running-on-a-board.md.

In the guest:
  /bundle/      the bundle (/bundle/bin/<loader>, /bundle/bpf/*.o); without
                --bundle it is built first, as `build` would
  /extra/       files given with --extra
  The loader runs as `/bundle/bin/<loader> [LOADER ARGS]`. It counts as
  running once a line of its output starts with \"running\", or once it has
  said \"attached\" and then been quiet for half a second. Then the workload
  runs (by default it opens a few files, cat /etc/hostname /proc/version,
  and execs a few commands: ls, uname, head), trace_pipe is read until it
  is drained, and the loader gets SIGTERM.

Needs: qemu-system-arm (Debian package; also gives qemu-system-aarch64), a
kernel image for the board, and a static busybox for its architecture
(Debian's busybox-static).

Example:
  cargo ebpf-cross run --target armv7 --kernel-image vmlinuz-6.1.0-50-armmp \\
      --busybox busybox-armhf --expect 'file /'";

#[derive(Debug, Clone, Args)]
#[command(after_long_help = VERDICT_HELP)]
pub struct RunArgs {
    /// Target profile: a built-in name, a board name, or a profile file (needs a [qemu] section)
    #[arg(long, short = 't', value_name = "TARGET")]
    pub target: String,
    /// The board's kernel image to boot (zImage or Image) [default: the profile's [qemu] kernel_image] [env: EBPF_CROSS_KERNEL_IMAGE]
    #[arg(long, value_name = "PATH")]
    pub kernel_image: Option<PathBuf>,
    /// A static busybox for the board's architecture [default: the profile's [qemu] busybox] [env: EBPF_CROSS_BUSYBOX]
    #[arg(long, value_name = "PATH")]
    pub busybox: Option<PathBuf>,
    /// Text that must appear in a trace_pipe line; repeatable. Without it, any trace line passes
    #[arg(long, value_name = "STR")]
    pub expect: Vec<String>,
    /// Hard limit for the whole boot, in seconds; QEMU is killed then
    #[arg(long, default_value_t = 60, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
    /// Busybox sh command run in the guest while the loader runs [default: open a few files, exec a few commands]
    #[arg(long, value_name = "CMD")]
    pub workload: Option<String>,
    /// Run this bundle instead of building one
    #[arg(long, value_name = "PATH.tar.gz")]
    pub bundle: Option<PathBuf>,
    /// Copy FILE into the guest as /extra/<its name>, for example an object to pass to the loader; repeatable
    #[arg(long, value_name = "FILE")]
    pub extra: Vec<PathBuf>,
    /// Run on a real board over your OpenSSH client instead of QEMU: an alias from ~/.ssh/config, [user@]host, or ssh://[user@]host[:port] (see docs/running-on-a-board.md)
    #[arg(long, value_name = "HOST")]
    pub ssh: Option<String>,
    /// With --ssh: the ssh config file to use (`ssh -F`) instead of ~/.ssh/config [env: EBPF_CROSS_SSH_CONFIG]
    #[arg(long, value_name = "PATH")]
    pub ssh_config: Option<PathBuf>,
    /// With --ssh: seconds to wait for the board to answer (ssh's ConnectTimeout)
    #[arg(long, default_value_t = 10, value_name = "SECS", requires = "ssh",
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub connect_timeout: u64,
    /// With --ssh: run a native-mode bundle on a board whose `uname -r` is not the release it was built against (a warning instead of a refusal)
    #[arg(long, requires = "ssh")]
    pub allow_kernel_mismatch: bool,
    #[command(flatten)]
    pub build: BuildOpts,
    /// Arguments for the loader in the guest, after `--` (for example `-- /extra/x.o`)
    #[arg(last = true, value_name = "LOADER ARGS")]
    pub loader_args: Vec<String>,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).multiple(true).args(["bundle", "target"])))]
pub struct InstallArgs {
    /// The bundle to install
    #[arg(long, value_name = "PATH.tar.gz")]
    pub bundle: Option<PathBuf>,
    /// Install the bundle `build --target TARGET` made (and, with --bundle, check it is that target's)
    #[arg(long, short = 't', value_name = "TARGET")]
    pub target: Option<String>,
    /// The root to install under
    #[arg(long, value_name = "DIR")]
    pub destdir: PathBuf,
    /// Where the loader goes, under DESTDIR
    #[arg(long, default_value = "/usr/bin", value_name = "DIR")]
    pub bindir: PathBuf,
    /// The objects go in DATADIR/ebpf/<package>/, under DESTDIR
    #[arg(long, default_value = "/usr/share", value_name = "DIR")]
    pub datadir: PathBuf,
    /// The project that built the bundle (with --target)
    #[command(flatten)]
    pub project: ProjectArgs,
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The project's name: its package, its loader binary and its BPF source
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The built-in profile the sample board extends
    #[arg(long, short = 't', default_value = "armv7", value_name = "TARGET")]
    pub target: String,
    /// The directory to create (default: ./NAME)
    #[arg(long, value_name = "DIR")]
    pub path: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunnerArgs {
    /// The board: an alias from ~/.ssh/config, [user@]host, or ssh://[user@]host[:port]
    #[arg(long, value_name = "HOST")]
    pub ssh: String,
    /// The ssh config file to use (`ssh -F`) instead of ~/.ssh/config [env: EBPF_CROSS_SSH_CONFIG]
    #[arg(long, value_name = "PATH")]
    pub ssh_config: Option<PathBuf>,
    /// Seconds to wait for the board to answer (ssh's ConnectTimeout)
    #[arg(long, default_value_t = 10, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub connect_timeout: u64,
    /// The program cargo built, then its arguments
    #[arg(value_name = "PROGRAM")]
    pub program: PathBuf,
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The project's name (default: the current directory's name)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The built-in profile the sample board extends
    #[arg(long, short = 't', default_value = "armv7", value_name = "TARGET")]
    pub target: String,
}
