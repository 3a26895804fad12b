//! The command layer, cargo's pattern: what `cli.rs` parsed becomes the
//! plain options of `options.rs`, and the operation in `ops/` is called
//! with them. This is the only module that sees both clap's structs and
//! the operations; `cli.rs` imports nothing of ours, and `ops/` nothing of
//! clap's.

use crate::cli::{self, Cli, Command};
use crate::error::Result;
use crate::ops::{self, Global};
use crate::options as o;
use crate::ui;

/// A field-for-field move from a clap struct to its plain twin. Listing
/// the fields makes a flag added to one side and forgotten on the other a
/// compile error, not a setting that silently never arrives.
macro_rules! plain {
    ($from:ty => $to:ty { $($field:ident),* $(,)? }) => {
        impl From<$from> for $to {
            fn from(a: $from) -> Self {
                Self { $($field: a.$field.into()),* }
            }
        }
    };
}

plain!(cli::KernelArgs => o::KernelOptions {
    kernel, kernel_src, kernel_build, kernel_version, libbpf_include, clang, llc,
    stamp_version, kernel_allow, no_kernel_check,
});
impl From<cli::ProjectArgs> for o::ProjectOptions {
    fn from(a: cli::ProjectArgs) -> Self {
        o::ProjectOptions {
            manifest_path: a.manifest.manifest_path,
            package: a.package,
            target_dir: a.target_dir,
            boards: a.boards,
        }
    }
}
impl From<cli::BuildOpts> for o::BuildCommon {
    fn from(a: cli::BuildOpts) -> Self {
        let clap_cargo::Features {
            features,
            all_features,
            no_default_features,
            ..
        } = a.features;
        o::BuildCommon {
            release: a.release,
            project: a.project.into(),
            offline: a.offline,
            locked: a.locked,
            frozen: a.frozen,
            message_format: a.message_format.into(),
            jobs: a.jobs,
            no_rustup: a.no_rustup,
            static_: a.static_,
            no_static: a.no_static,
            features,
            all_features,
            no_default_features,
            rust_target: a.rust_target,
            kernel: a.kernel.into(),
        }
    }
}
plain!(cli::BuildArgs => o::BuildOptions { target, workspace, opts });
plain!(cli::RunArgs => o::RunOptions {
    target, kernel_image, busybox, expect, timeout, workload, bundle, extra, ssh, ssh_config,
    connect_timeout, allow_kernel_mismatch, build, loader_args,
});
plain!(cli::CompileArgs => o::CompileOptions { target, kernel, files, output, compile_commands, jobs });
plain!(cli::TargetsArgs => o::TargetsOptions { json, boards });
plain!(cli::FlagsArgs => o::FlagsOptions { target, kernel, format, state_dir });
plain!(cli::DoctorArgs => o::DoctorOptions { target, kernel, programs });
plain!(cli::ConfigArgs => o::ConfigOptions { target, kernel, rust_target, project, json });
plain!(cli::InstallArgs => o::InstallOptions { bundle, target, destdir, bindir, datadir, project });
plain!(cli::NewArgs => o::NewOptions { name, target, path });
plain!(cli::InitArgs => o::InitOptions { name, target });
plain!(cli::RunnerArgs => o::RunnerOptions { ssh, ssh_config, connect_timeout, program, args });
plain!(cli::CratesIncArgs => o::CratesIncOptions { lockfile, manifest_path, output });
plain!(cli::KernelFetchArgs => o::KernelFetchOptions { target, kernel, refresh, json, keyring, boards });
plain!(cli::KernelListArgs => o::KernelListOptions { target, json, boards });
plain!(cli::KernelRemoveArgs => o::KernelRemoveOptions { target, kernel, all, boards });

impl From<cli::MessageFormat> for o::MessageFormat {
    fn from(f: cli::MessageFormat) -> Self {
        match f {
            cli::MessageFormat::Human => o::MessageFormat::Human,
            cli::MessageFormat::Json => o::MessageFormat::Json,
        }
    }
}

impl From<cli::FlagsFormat> for o::FlagsFormat {
    fn from(f: cli::FlagsFormat) -> Self {
        match f {
            cli::FlagsFormat::Shell => o::FlagsFormat::Shell,
            cli::FlagsFormat::Make => o::FlagsFormat::Make,
            cli::FlagsFormat::Json => o::FlagsFormat::Json,
        }
    }
}

impl From<cli::YoctoCommand> for o::YoctoCommand {
    fn from(c: cli::YoctoCommand) -> Self {
        match c {
            cli::YoctoCommand::CratesInc(a) => o::YoctoCommand::CratesInc(a.into()),
        }
    }
}

impl From<cli::KernelCommand> for o::KernelCommand {
    fn from(c: cli::KernelCommand) -> Self {
        match c {
            cli::KernelCommand::Fetch(a) => o::KernelCommand::Fetch(a.into()),
            cli::KernelCommand::List(a) => o::KernelCommand::List(a.into()),
            cli::KernelCommand::Remove(a) => o::KernelCommand::Remove(a.into()),
        }
    }
}

/// Runs the parsed command line; the exit code, or the error `main` reports.
pub fn dispatch(cli: Cli) -> Result<i32> {
    let color = match cli.color {
        cli::Color::Auto => ui::ColorChoice::Auto,
        cli::Color::Always => ui::ColorChoice::Always,
        cli::Color::Never => ui::ColorChoice::Never,
    };
    ui::init(cli.verbose, cli.quiet, color);
    let g = Global {
        dry_run: cli.dry_run,
    };
    match cli.command {
        Command::Compile(a) => ops::compile::compile(g, a.into()),
        Command::Build(a) => ops::build::build(g, a.into()),
        Command::Run(a) => ops::run_command(g, (*a).into()),
        Command::Targets(a) => ops::targets::targets(a.into()),
        Command::Flags(a) => ops::flags::flags(g, a.into()),
        Command::Doctor(a) => ops::doctor::doctor(a.into()),
        Command::Config(a) => ops::config::config(a.into()),
        Command::New(a) => ops::new::new(g, a.into()),
        Command::Init(a) => ops::new::init(g, a.into()),
        Command::Install(a) => ops::install::install(g, a.into()),
        Command::Yocto(a) => ops::yocto::yocto(a.into()),
        Command::Kernel(k) => ops::kernel::kernel(k.into()),
        Command::Runner(a) => ops::board::runner(g, a.into()),
    }
}

/// The options a command line gives `run`, for tests of the operations.
#[cfg(test)]
pub fn run_options(argv: &[&str]) -> o::RunOptions {
    use clap::Parser;
    match Cli::parse_from(argv) {
        Cli {
            command: Command::Run(a),
            ..
        } => (*a).into(),
        other => panic!("not a run command line: {other:?}"),
    }
}

/// The options a command line gives `config`, for tests of the operations.
#[cfg(test)]
pub fn config_options(argv: &[&str]) -> o::ConfigOptions {
    use clap::Parser;
    match Cli::parse_from(argv) {
        Cli {
            command: Command::Config(a),
            ..
        } => a.into(),
        other => panic!("not a config command line: {other:?}"),
    }
}
