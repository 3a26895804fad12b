//! `cargo ebpf-cross run --kernel A --kernel B ...` (or `--kernel all`): the
//! kernel matrix. Each kernel gets its own compile against its own headers,
//! its own bundle in its own out dir (the loader embeds the objects, so
//! each kernel needs its own link), its own boot and its own verdict; the
//! run ends with a table, one row per kernel. It is built on the steps of
//! a single `run` ([`Guest::resolve`], [`prove`]), one kernel at a time.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::ops::run::{prove, Guest, RunReport};
use crate::ops::Global;
use crate::options::{KernelOptions, MessageFormat, RunOptions};
use crate::profile::Profile;
use crate::reference::{self, Spec};
use crate::ui;

/// Whether `run` was asked for a matrix: several kernels, `all`, or a
/// board named as a kernel. One `--kernel debian:X` stays a plain run.
pub fn is_matrix(args: &RunOptions) -> bool {
    let k = &args.build.kernel.kernel;
    k.len() > 1 || k.iter().any(|v| v == ALL || !v.starts_with("debian:"))
}

const ALL: &str = "all";

/// One kernel of the matrix, as the user named it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// `debian:6.1`, or the board's name.
    pub label: String,
    /// The `--target` of this kernel's run: the matrix's target, or the
    /// board itself.
    pub target: String,
    /// The kernel settings of this kernel's build and boot, as flags, so
    /// that they beat any env var, package metadata or profile.
    pub kernel: KernelOptions,
    /// Its dir under the board's out dir: unique per kernel, since two
    /// kernels of one board share the board's Rust triple.
    pub dir: String,
}

/// The kernels the user named, in order, without repeats. A release the
/// target's arch lacks, or a name that is neither a release nor a board, is
/// refused before anything is built.
pub fn entries(
    profile: &Profile,
    values: &[String],
    boards: &[PathBuf],
    base: &KernelOptions,
) -> Result<Vec<Entry>> {
    let mut out: Vec<Entry> = Vec::new();
    for v in values {
        let found = if v == ALL {
            let all = reference::all_wanted(profile);
            if all.is_empty() {
                return Err(Error::Usage {
                    message: format!("`--kernel all`: profile `{}` has no reference kernel", profile.name),
                    hint: "name your boards' kernels instead: --kernel BOARD (a board file with [kernel] source/build and [qemu] kernel_image/busybox)".into(),
                });
            }
            all.iter()
                .map(|w| reference_entry(profile, &w.spec(), base))
                .collect::<Result<Vec<_>>>()?
        } else if v.starts_with("debian:") {
            vec![reference_entry(profile, &Spec::parse(v)?, base)?]
        } else {
            vec![board_entry(profile, v, boards, base)?]
        };
        for e in found {
            if !out.iter().any(|o| o.dir == e.dir) {
                out.push(e);
            }
        }
    }
    Ok(out)
}

fn reference_entry(profile: &Profile, spec: &Spec, base: &KernelOptions) -> Result<Entry> {
    // Refuses a release the arch lacks, listing the ones it has.
    let w = reference::wanted(profile, spec)?;
    Ok(Entry {
        label: w.spec().to_string(),
        target: profile
            .file
            .as_ref()
            .map_or_else(|| profile.name.clone(), |f| f.display().to_string()),
        kernel: KernelOptions {
            kernel: vec![w.spec().to_string()],
            ..base.clone()
        },
        dir: w.key(),
    })
}

fn board_entry(
    profile: &Profile,
    name: &str,
    boards: &[PathBuf],
    base: &KernelOptions,
) -> Result<Entry> {
    let board = Profile::load_with(name, boards).map_err(|e| match e {
        Error::UnknownTarget { .. } => Error::Usage {
            message: format!("--kernel `{name}` is neither a reference kernel, `all`, nor a board"),
            hint: format!(
                "give debian:RELEASE[@ABI] (`cargo ebpf-cross kernel list --target {}`), `all`, or a board file (*.toml) with [kernel] source/build and [qemu] kernel_image/busybox",
                profile.name
            ),
        },
        other => other,
    })?;
    let same_machine = board.arch.srcarch == profile.arch.srcarch
        && board.arch.bits == profile.arch.bits
        && board.arch.endian == profile.arch.endian;
    if !same_machine {
        return Err(Error::Usage {
            message: format!(
                "board `{}` is {} {}-bit, but the matrix is for target `{}` ({} {}-bit)",
                board.name, board.arch.srcarch, board.arch.bits, profile.name, profile.arch.srcarch, profile.arch.bits
            ),
            hint: "a matrix boots one target's loader on several kernels: name boards of that target's architecture".into(),
        });
    }
    let k = &board.kernel;
    let kernel = match (&k.reference, &k.source, &k.build) {
        (Some(r), _, _) => KernelOptions {
            kernel: vec![r.clone()],
            ..base.clone()
        },
        (None, None, None) => {
            return Err(Error::Usage {
                message: format!("board `{}` names no kernel of its own", board.name),
                hint: "in a matrix a board brings its kernel: set [kernel] source (and build) to its tree, and [qemu] kernel_image and busybox".into(),
            })
        }
        (None, src, build) => KernelOptions {
            kernel: Vec::new(),
            kernel_src: src.clone(),
            kernel_build: build.clone(),
            kernel_version: k.version.clone(),
            ..base.clone()
        },
    };
    Ok(Entry {
        label: board.name.clone(),
        target: board
            .file
            .as_ref()
            .map_or_else(|| board.name.clone(), |f| f.display().to_string()),
        kernel,
        dir: format!("board-{}", board.name),
    })
}

/// What a matrix refuses: one image, busybox, tree or version for all of
/// its kernels would boot or build every kernel the same.
fn refuse_single_kernel_inputs(args: &RunOptions, profile: &Profile) -> Result<()> {
    let k = &args.build.kernel;
    // What the user named, by flag or env, as the resolver reads it.
    let named = crate::resolve::guest_inputs(
        (args.kernel_image.clone(), args.busybox.clone()),
        &crate::env::ProcessEnv,
        profile,
        None,
    );
    let (image, busybox) = named.named_by_user();
    let given = [
        ("--kernel-image (or EBPF_CROSS_KERNEL_IMAGE)", image),
        ("--busybox (or EBPF_CROSS_BUSYBOX)", busybox),
        ("--kernel-src", k.kernel_src.is_some()),
        ("--kernel-build", k.kernel_build.is_some()),
        ("--kernel-version", k.kernel_version.is_some()),
    ];
    if let Some((flag, _)) = given.iter().find(|(_, set)| *set) {
        return Err(Error::Usage {
            message: format!("{flag} names one kernel, but a matrix boots each kernel with its own"),
            hint: "drop it: a reference kernel (debian:RELEASE) brings its tree, image and busybox, and a board file names its own in [kernel] and [qemu]".into(),
        });
    }
    Ok(())
}

// One row of the table; `--message-format json` prints it as one
// `matrix-kernel` message.
pub use crate::message::{MatrixRow as Row, Stage, Verdict};

impl Row {
    fn failed(e: &Entry, stage: Stage, err: &Error) -> Row {
        Row {
            entry: e.label.clone(),
            target: e.target.clone(),
            verdict: Verdict::Fail,
            passed: false,
            stage,
            bundle: None,
            kernel: None,
            attached: None,
            trace_lines: None,
            matched: Vec::new(),
            missing: Vec::new(),
            seconds: None,
            timed_out: false,
            reason: Some(err.to_string()),
        }
    }

    fn booted(e: &Entry, bundle: PathBuf, r: RunReport) -> Row {
        Row {
            entry: e.label.clone(),
            target: r.target,
            verdict: Verdict::of(r.passed),
            passed: r.passed,
            stage: Stage::Boot,
            bundle: Some(bundle),
            kernel: r.kernel,
            attached: Some(r.attached),
            trace_lines: Some(r.trace_lines),
            matched: r.matched,
            missing: r.missing,
            seconds: Some(r.seconds),
            timed_out: r.timed_out,
            reason: r.reason,
        }
    }
}

pub fn run(g: Global, args: RunOptions) -> Result<i32> {
    let boards = crate::ops::project_board_dirs(&args.build.project);
    let profile = Profile::load_with(&args.target, &boards)?;
    refuse_single_kernel_inputs(&args, &profile)?;
    let list = entries(
        &profile,
        &args.build.kernel.kernel,
        &boards,
        &args.build.kernel,
    )?;
    let json = args.build.message_format == MessageFormat::Json;
    let mut rows: Vec<Row> = Vec::new();
    let mut interrupted = false;
    for (i, e) in list.iter().enumerate() {
        ui::status(
            "Kernel",
            &format!(
                "{} on {} ({} of {})",
                e.label,
                profile.name,
                i + 1,
                list.len()
            ),
        );
        let Some((row, stop)) = one(g, &args, e) else {
            continue;
        };
        if json {
            crate::message::emit(&crate::message::Message::MatrixKernel(row.clone()));
        }
        rows.push(row);
        if stop || crate::interrupt::interrupted() {
            interrupted = true;
            break;
        }
    }
    if g.dry_run {
        return Ok(if rows.is_empty() { 0 } else { 1 });
    }
    print_table(&profile.name, &rows, list.len(), json);
    Ok(if interrupted {
        130
    } else if rows.iter().all(|r| r.passed) {
        0
    } else {
        1
    })
}

/// One kernel: its guest inputs (fetched if need be), its bundle, its boot.
/// A failure is this kernel's row, never the matrix's end. None for a
/// kernel that a dry run planned; the bool is true when Ctrl-C stopped it.
fn one(g: Global, args: &RunOptions, e: &Entry) -> Option<(Row, bool)> {
    let mut sub = args.clone();
    sub.target = e.target.clone();
    sub.build.kernel = e.kernel.clone();
    let fail = |stage, err: Error| {
        if g.dry_run {
            if let Error::ReferenceNotCached { fetch, .. } = &err {
                // A dry run never downloads; the plan says what a run would.
                println!("# not cached; a run fetches it first ({fetch})");
                return None;
            }
        }
        ui::error(&format!("{}: {err}", e.label), &err.hint());
        Some((Row::failed(e, stage, &err), false))
    };
    if g.dry_run {
        println!("# kernel {} (target {})", e.label, e.target);
    }
    let guest = match Guest::resolve(g, &sub) {
        Ok(guest) => guest,
        Err(err) => return fail(Stage::Kernel, err),
    };
    let bundle = match &args.bundle {
        Some(p) => p.clone(),
        None => {
            match crate::ops::build::build_bundle_in(g, &sub.build, &sub.target, Some(&e.dir)) {
                Ok(p) => p,
                Err(err) => return fail(Stage::Build, err),
            }
        }
    };
    let start = Instant::now();
    match prove(g, &guest, &bundle, &sub, start) {
        Ok(None) => None,
        Ok(Some(p)) => Some((Row::booted(e, bundle, p.report), p.interrupted)),
        Err(err) => fail(Stage::Boot, err),
    }
}

fn print_table(target: &str, rows: &[Row], total: usize, json: bool) {
    let passed = rows.iter().filter(|r| r.passed).count();
    ui::status(
        "Matrix",
        &format!("{target}: {passed} of {total} kernels passed"),
    );
    let dash = || "-".to_string();
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.entry.clone(),
                r.kernel.clone().unwrap_or_else(dash),
                r.verdict.as_str().to_string(),
                r.attached
                    .map(|a| if a { "yes" } else { "no" }.to_string())
                    .unwrap_or_else(dash),
                r.trace_lines.map(|n| n.to_string()).unwrap_or_else(dash),
                r.seconds.map(|s| format!("{s:.1}")).unwrap_or_else(dash),
            ]
        })
        .collect();
    let head = [
        "kernel",
        "linux",
        "verdict",
        "attach",
        "trace lines",
        "seconds",
    ];
    let width = |c: usize| {
        cells
            .iter()
            .map(|r| r[c].len())
            .chain(std::iter::once(head[c].len()))
            .max()
            .unwrap_or(0)
    };
    let w: Vec<usize> = (0..head.len()).map(width).collect();
    let line = |c: &[String]| {
        format!(
            "  {:<w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {:>w4$}  {:>w5$}",
            c[0],
            c[1],
            c[2],
            c[3],
            c[4],
            c[5],
            w0 = w[0],
            w1 = w[1],
            w2 = w[2],
            w3 = w[3],
            w4 = w[4],
            w5 = w[5]
        )
    };
    let mut text = line(&head.map(str::to_string));
    text.push('\n');
    for (r, c) in rows.iter().zip(&cells) {
        text.push_str(line(c).trim_end());
        if let Some(why) = r.reason.as_ref().filter(|_| !r.passed) {
            text.push_str(&format!("  ({} stage: {why})", stage_name(r.stage)));
        }
        text.push('\n');
    }
    // With JSON on stdout, the table is for the human on stderr.
    if json {
        let _ = write!(std::io::stderr().lock(), "{text}");
    } else {
        let _ = write!(std::io::stdout().lock(), "{text}");
    }
}

fn stage_name(s: Stage) -> &'static str {
    match s {
        Stage::Kernel => "kernel",
        Stage::Build => "build",
        Stage::Boot => "boot",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(p: &Profile, v: &[&str]) -> Result<Vec<(String, String)>> {
        let v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        Ok(entries(p, &v, &[], &KernelOptions::default())?
            .into_iter()
            .map(|e| (e.label, e.dir))
            .collect())
    }

    #[test]
    fn all_expands_to_the_profiles_table_and_repeats_go() {
        let armv7 = Profile::load("armv7").unwrap();
        let got = labels(&armv7, &["debian:6.1", "all", "debian:6.1"]).unwrap();
        let want: Vec<(String, String)> = reference::all_wanted(&armv7)
            .iter()
            .map(|w| (w.spec().to_string(), w.key()))
            .collect();
        assert_eq!(
            got[0],
            ("debian:6.1".into(), "debian-6.1-armhf-armmp".into())
        );
        assert_eq!(got.len(), want.len(), "{got:?}");
        for w in &want {
            assert!(got.contains(w), "{w:?} in {got:?}");
        }
    }

    #[test]
    fn a_release_the_arch_lacks_is_refused_with_what_exists() {
        let rv = Profile::load("riscv64").unwrap();
        let e = labels(&rv, &["debian:6.12", "debian:5.10"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "profile `riscv64` has no reference kernel in debian:5.10 (bullseye)"
        );
        assert!(
            e.hint()
                .starts_with("this profile has: debian:6.12 (riscv64 riscv64)"),
            "{}",
            e.hint()
        );
    }

    #[test]
    fn a_name_that_is_no_kernel_nor_board_says_what_is_accepted() {
        let armv7 = Profile::load("armv7").unwrap();
        let e = labels(&armv7, &["6.1"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--kernel `6.1` is neither a reference kernel, `all`, nor a board"
        );
        assert!(e.hint().contains("debian:RELEASE[@ABI]"), "{}", e.hint());
    }

    #[test]
    fn a_board_brings_its_tree_and_must_match_the_arch() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("vendor-4.19.toml");
        std::fs::write(
            &f,
            "extends = \"armv7\"\n[kernel]\nsource = \"/bsp/linux\"\nversion = \"4.19\"\n[qemu]\nkernel_image = \"/bsp/zImage\"\nbusybox = \"/bsp/busybox\"\n",
        )
        .unwrap();
        let armv7 = Profile::load("armv7").unwrap();
        let v = vec![f.display().to_string(), "debian:6.1".into()];
        let got = entries(&armv7, &v, &[], &KernelOptions::default()).unwrap();
        assert_eq!(got[0].label, "vendor-4.19");
        assert_eq!(got[0].dir, "board-vendor-4.19");
        assert_eq!(got[0].target, f.display().to_string());
        assert_eq!(got[0].kernel.kernel_src, Some(PathBuf::from("/bsp/linux")));
        assert_eq!(got[0].kernel.kernel_version.as_deref(), Some("4.19"));
        assert!(got[0].kernel.kernel.is_empty());
        assert_eq!(got[1].kernel.kernel, vec!["debian:6.1".to_string()]);
        let aarch64 = Profile::load("aarch64").unwrap();
        let e = entries(&aarch64, &v, &[], &KernelOptions::default()).unwrap_err();
        assert!(
            e.to_string().starts_with(
                "board `vendor-4.19` is arm 32-bit, but the matrix is for target `aarch64`"
            ),
            "{e}"
        );
    }

    #[test]
    fn one_debian_kernel_is_a_plain_run() {
        let parse = |extra: &[&str]| {
            let mut argv = vec!["cargo-ebpf-cross", "run", "--target", "armv7"];
            argv.extend(extra);
            is_matrix(&crate::command::run_options(&argv))
        };
        assert!(!parse(&[]));
        assert!(!parse(&["--kernel", "debian:6.1"]));
        assert!(parse(&["--kernel", "all"]));
        assert!(parse(&[
            "--kernel",
            "debian:6.1",
            "--kernel",
            "debian:5.10"
        ]));
        assert!(parse(&["--kernel", "boards/vendor.toml"]));
    }
}
