//! `cargo ebpf-cross run`: prove a bundle on the board's real kernel. It
//! boots the kernel under QEMU with an initramfs holding busybox and the
//! bundle, runs the loader and a workload there, and checks `trace_pipe`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{read_err, write_err, Error, Result};
use crate::initramfs::{self, Bundle, GuestInput, InitOptions, BUNDLE_DIR, EXTRA_DIR};
use crate::ops::Global;
use crate::options::{MessageFormat, RunOptions};
use crate::profile::Profile;
use crate::qemu::{self, Event, Observer, RunEnd};
use crate::reference::{Policy, Record};
use crate::resolve;
use crate::settings::Origin;
use crate::ui;

/// The longest the guest reads trace_pipe after the workload: only a probe
/// that keeps firing takes that long; otherwise reading stops as soon as
/// the buffer is drained.
pub(super) const DRAIN_MAX_SECS: u32 = 5;

pub use crate::message::RunReport;

/// One QEMU boot of one kernel (`ops::run_command` routes the others).
pub fn run(g: Global, args: RunOptions) -> Result<i32> {
    let guest = Guest::resolve(g, &args)?;
    let bundle_path = match &args.bundle {
        Some(p) => p.clone(),
        None => crate::ops::build::build_bundle(g, &args.build, &args.target)?,
    };
    // The benchmark clock: from here (the build is done) to the verdict.
    let start = Instant::now();
    let Some(proof) = prove(g, &guest, &bundle_path, &args, start)? else {
        return Ok(0);
    };
    Ok(proof.verdict(args.build.message_format))
}

/// One boot's outcome.
pub(super) struct Proof {
    pub report: RunReport,
    pub interrupted: bool,
}

impl Proof {
    /// The report as a JSON line when asked for, and the exit code: 130
    /// after Ctrl-C, 0 for a pass, 1 otherwise. Shared by QEMU and board
    /// runs, so both end the same way.
    pub(super) fn verdict(&self, format: MessageFormat) -> i32 {
        if format == MessageFormat::Json {
            crate::message::emit(&crate::message::Message::Run(self.report.clone()));
        }
        if self.interrupted {
            130
        } else if self.report.passed {
            0
        } else {
            1
        }
    }
}

/// Boots the guest with the bundle and judges the trace: the steps after
/// the build, shared by a single run and each kernel of a matrix. None in
/// a dry run, which prints the plan instead.
pub(super) fn prove(
    g: Global,
    guest: &Guest,
    bundle_path: &Path,
    args: &RunOptions,
    start: Instant,
) -> Result<Option<Proof>> {
    let bundle = open_bundle(g, bundle_path, &guest.profile)?;
    let init = init_for(args, bundle.as_ref());
    let work = crate::fsutil::TempDir::new_in(&std::env::temp_dir(), "ebpf-cross-run-")?;
    let initrd = work.path().join("initramfs.cpio.gz");
    let mut cmd = qemu::plan(&guest.profile, &guest.kernel_image, &initrd)?;
    cmd.program = guest.qemu_bin.clone();
    let Some(bundle) = bundle.filter(|_| !g.dry_run) else {
        print_plan(guest, &cmd, bundle_path, &init);
        return Ok(None);
    };
    let archive = initramfs::guest_archive(&GuestInput {
        busybox: &guest.busybox,
        bundle: &bundle,
        extra: &guest.extra,
        init: &init,
    })?;
    std::fs::write(&initrd, archive.to_gzip()).map_err(write_err(&initrd))?;
    let (observer, end) = boot(guest, &cmd, args, start)?;
    drop(work);
    let report = report(&guest.profile, &observer, &end, args, start);
    announce(&guest.profile, &observer, &end, &report, Via::Qemu);
    Ok(Some(Proof {
        report,
        interrupted: end.interrupted,
    }))
}

/// What the guest is made of, besides the bundle: the profile, the kernel
/// to boot, busybox, extra files, and the QEMU binary.
pub(super) struct Guest {
    pub profile: Profile,
    pub kernel_image: PathBuf,
    busybox_path: PathBuf,
    busybox: Vec<u8>,
    extra: Vec<(String, Vec<u8>)>,
    system: String,
    qemu_bin: PathBuf,
}

impl Guest {
    pub(super) fn resolve(g: Global, args: &RunOptions) -> Result<Guest> {
        let boards = crate::ops::project_board_dirs(&args.build.project);
        let profile = Profile::load_with(&args.target, &boards)?;
        let q = qemu::section(&profile)?;
        let env = &crate::env::ProcessEnv;
        let flags = (args.kernel_image.clone(), args.busybox.clone());
        // Both named by flag or env: no reference kernel is needed, and
        // none is fetched.
        let named = resolve::guest_inputs(flags.clone(), env, &profile, None);
        let reference = if named.named_by_user() == (true, true) {
            None
        } else {
            reference_kernel(g, args, &profile)?
        };
        let inputs = resolve::guest_inputs(
            flags,
            env,
            &profile,
            reference.as_ref().map(|(r, o)| (r, o)),
        );
        let kernel_image = guest_input_path(
            &profile,
            inputs.kernel_image.map(|s| s.value),
            None,
            Needed::Kernel,
        )?;
        let busybox_path = guest_input_path(
            &profile,
            inputs.busybox.map(|s| s.value),
            None,
            Needed::Busybox,
        )?;
        let system = q.system.clone().expect("checked by qemu::section");
        let qemu_bin = if g.dry_run {
            PathBuf::from(&system)
        } else {
            which::which(&system).map_err(|_| Error::ToolMissing {
                tool: system.clone(),
                hint: format!(
                    "install it{}, or set [qemu] system in the profile to a QEMU binary",
                    q.package
                        .as_ref()
                        .map(|p| format!(" (`apt-get install {p}`)"))
                        .unwrap_or_default()
                ),
            })?
        };
        let busybox = std::fs::read(&busybox_path).map_err(read_err(&busybox_path))?;
        check_guest_elf(&busybox_path, &busybox, &profile, "busybox")?;
        let extra = read_extra(&args.extra)?;
        Ok(Guest {
            profile,
            kernel_image,
            busybox_path,
            busybox,
            extra,
            system,
            qemu_bin,
        })
    }
}

/// The bundle, checked against its manifest and the target; None only in
/// a dry run, whose build wrote no bundle.
fn open_bundle(g: Global, path: &Path, profile: &Profile) -> Result<Option<Bundle>> {
    let bundle = match Bundle::open(path) {
        Ok(b) => b,
        Err(_) if g.dry_run && !path.exists() => return Ok(None),
        Err(e) => return Err(e),
    };
    check_bundle(path, &bundle, profile)?;
    Ok(Some(bundle))
}

fn init_for(args: &RunOptions, bundle: Option<&Bundle>) -> String {
    let loader = bundle
        .map(|b| format!("{BUNDLE_DIR}/{}", b.manifest.loader))
        .unwrap_or_else(|| format!("{BUNDLE_DIR}/bin/<loader>"));
    initramfs::init_script(&InitOptions {
        loader,
        loader_args: args.loader_args.clone(),
        workload: args.workload.clone(),
        attach_secs: attach_secs(args.timeout),
        drain_max_secs: DRAIN_MAX_SECS,
    })
}

/// `--dry-run`: the QEMU argv and the guest's /init, nothing run.
fn print_plan(guest: &Guest, cmd: &crate::plan::Cmd, bundle_path: &Path, init: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "# QEMU ({})", guest.profile.name);
    let _ = writeln!(out, "{}", cmd.display());
    let _ = writeln!(
        out,
        "# /init of the initramfs (busybox {}, bundle {} under {BUNDLE_DIR}/{})",
        guest.busybox_path.display(),
        bundle_path.display(),
        if guest.extra.is_empty() {
            String::new()
        } else {
            format!(", extra files under {EXTRA_DIR}/")
        }
    );
    let _ = write!(out, "{init}");
}

fn boot(
    guest: &Guest,
    cmd: &crate::plan::Cmd,
    args: &RunOptions,
    start: Instant,
) -> Result<(Observer, RunEnd)> {
    let json = args.build.message_format == MessageFormat::Json;
    let kernel_name = guest
        .kernel_image
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    ui::status(
        "Booting",
        &format!("{kernel_name} ({}, {})", guest.profile.name, guest.system),
    );
    let mut observer = Observer::new(args.expect.clone());
    let mut stream = Stream::new(json, args.expect.is_empty());
    let end = qemu::boot(
        cmd,
        Duration::from_secs(args.timeout),
        &mut observer,
        |ev| stream.event(ev, start, args.workload.as_deref()),
    )?;
    stream.finish();
    Ok((observer, end))
}

/// What ran the loader: a QEMU guest, or a board reached over ssh. Only
/// the words of the report differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Via {
    Qemu,
    Ssh,
}

impl Via {
    fn runner(self) -> &'static str {
        match self {
            Via::Qemu => "QEMU",
            Via::Ssh => "ssh",
        }
    }

    fn output(self) -> &'static str {
        match self {
            Via::Qemu => "console tail",
            Via::Ssh => "board output tail",
        }
    }
}

pub(super) fn report(
    profile: &Profile,
    observer: &Observer,
    end: &RunEnd,
    args: &RunOptions,
    start: Instant,
) -> RunReport {
    let reason = failure_reason(observer, end, args.timeout);
    RunReport {
        target: profile.name.clone(),
        passed: reason.is_none(),
        attached: observer.attached(),
        matched: observer.matched(),
        missing: observer.missing(),
        trace_lines: observer.trace.len(),
        program_runs: observer.program_runs,
        seconds: (start.elapsed().as_secs_f64() * 100.0).round() / 100.0,
        timed_out: end.timed_out,
        interrupted: end.interrupted,
        kernel: observer.kernel.clone(),
        loader_exit: observer.loader_exit.clone(),
        reason,
    }
}

/// The verdict line, or the failure report.
pub(super) fn announce(
    profile: &Profile,
    observer: &Observer,
    end: &RunEnd,
    report: &RunReport,
    via: Via,
) {
    match &report.reason {
        None => ui::status(
            "Passed",
            &format!(
                "{} on linux {} ({} trace lines{}) in {:.1}s",
                profile.name,
                observer.kernel.as_deref().unwrap_or("?"),
                report.trace_lines,
                if report.matched.is_empty() {
                    String::new()
                } else {
                    format!(", matched {}", quoted_list(&report.matched))
                },
                report.seconds
            ),
        ),
        // Whoever pressed Ctrl-C knows why; a report would only bury that.
        Some(_) if end.interrupted => ui::error(
            &format!("run on {} interrupted", profile.name),
            match via {
                Via::Qemu => "QEMU was stopped",
                Via::Ssh => "the run on the board was stopped",
            },
        ),
        Some(why) => print_failure(profile, why, observer, end, report, via),
    }
}

/// The guest waits this long for the loader to say it is running: half
/// the run's budget, since booting and the workload need the rest.
pub(super) fn attach_secs(timeout: u64) -> u32 {
    (timeout / 2).clamp(1, 30) as u32
}

#[derive(Clone, Copy)]
enum Needed {
    Kernel,
    Busybox,
}

/// The reference kernel this run's build uses, if it uses one, and the
/// origin of its choice (`Default` when the profile's default stands in).
fn reference_kernel(
    g: Global,
    args: &RunOptions,
    profile: &Profile,
) -> Result<Option<(Record, Origin)>> {
    // The package's metadata is a layer too; a run of a given bundle may
    // have no package at all.
    let project = crate::ops::build::Project::load(&args.build.project).ok();
    let mut choice = resolve::layer(
        &args.build.kernel,
        &crate::env::ProcessEnv,
        project.as_ref().and_then(|p| p.metadata.kernel.as_ref()),
        project.as_ref().map(|p| p.manifest.as_path()),
        profile,
    )?;
    let origin = choice.reference.as_ref().map(|r| r.origin.clone());
    let policy = Policy::for_build(args.build.offline || args.build.frozen, g.dry_run);
    let record = resolve::materialise(&mut choice, profile, policy)?;
    Ok(record.zip(origin))
}

/// Checks the guest input [`resolve::guest_inputs`] picked: there is one,
/// and it exists.
fn guest_input_path(
    profile: &Profile,
    flag: Option<PathBuf>,
    from_profile: Option<PathBuf>,
    what: Needed,
) -> Result<PathBuf> {
    let deb = if profile.arch.debian_arch.is_empty() {
        "<arch>".to_string()
    } else {
        profile.arch.debian_arch.clone()
    };
    let (name, flag_name, env, key, how) = match what {
        Needed::Kernel => (
            "kernel image",
            "--kernel-image",
            "EBPF_CROSS_KERNEL_IMAGE",
            "kernel_image",
            format!(
                "use the kernel the board runs (its zImage or Image), or one that boots under QEMU's `{}` machine; `--kernel debian:RELEASE` brings Debian's reference kernel with its image and busybox (`cargo ebpf-cross kernel list --target {}`)",
                profile
                    .qemu
                    .as_ref()
                    .and_then(|q| q.machine.clone())
                    .unwrap_or_else(|| "virt".into()),
                profile.name
            ),
        ),
        Needed::Busybox => (
            "busybox",
            "--busybox",
            "EBPF_CROSS_BUSYBOX",
            "busybox",
            format!(
                "it must be static and built for the board: Debian's busybox-static for {deb}, which `--kernel debian:RELEASE` brings along with the reference kernel"
            ),
        ),
    };
    let path = flag.or(from_profile).ok_or_else(|| Error::Run {
        message: format!("no {name} to boot target `{}` with", profile.name),
        hint: format!("pass {flag_name} PATH (or set {env}, or `{key}` in the profile's [qemu] section); {how}"),
    })?;
    if !path.is_file() {
        return Err(Error::Run {
            message: format!("{name} `{}` does not exist", path.display()),
            hint: format!("check {flag_name} / {env} / [qemu] {key}; {how}"),
        });
    }
    Ok(path)
}

/// The guest has only what the initramfs holds: a program must be a static
/// executable for the board's CPU, or it fails there with a bare
/// "not found".
fn check_guest_elf(path: &Path, bytes: &[u8], profile: &Profile, what: &str) -> Result<()> {
    // A wrong CPU and a missing C library have different cures: a loader
    // for another arch needs building for this board, not linking static.
    let busybox = what == "busybox";
    let fix = if busybox {
        format!(
            "use Debian's busybox-static for {} (see `cargo ebpf-cross run --help`)",
            profile.arch.debian_arch
        )
    } else {
        "build the loader static (the profile's [loader] static = true, which links with crt-static)".to_string()
    };
    let other_arch = if busybox {
        fix.clone()
    } else {
        format!(
            "build the loader for this board (cargo ebpf-cross build --target {}), or pass the bundle made for it",
            profile.name
        )
    };
    let facts = crate::elf_check::header(bytes).map_err(|_| Error::Run {
        message: format!("{what} `{}` is not an ELF executable", path.display()),
        hint: fix.clone(),
    })?;
    if facts.machine != profile.arch.elf_machine {
        return Err(Error::Run {
            message: format!(
                "{what} `{}` is for ELF machine {}, but target `{}` runs machine {}",
                path.display(),
                facts.machine,
                profile.name,
                profile.arch.elf_machine
            ),
            hint: other_arch,
        });
    }
    if facts.interp {
        return Err(Error::Run {
            message: format!(
                "{what} `{}` is dynamically linked; the guest has no C library to run it",
                path.display()
            ),
            hint: fix,
        });
    }
    Ok(())
}

/// A bundle of another board of the same arch may still run; one of
/// another arch is refused by the ELF check that follows.
pub(super) fn warn_other_target(path: &Path, b: &Bundle, profile: &Profile) {
    let t = &b.manifest.target;
    if t != &profile.name && t != &profile.base {
        ui::warn(&format!(
            "bundle `{}` was built for `{t}`, not `{}`",
            path.display(),
            profile.name
        ));
    }
}

fn check_bundle(path: &Path, b: &Bundle, profile: &Profile) -> Result<()> {
    warn_other_target(path, b, profile);
    let loader = b
        .file(&b.manifest.loader)
        .expect("Bundle::open checked the loader");
    check_guest_elf(
        &Path::new(&b.top).join(&b.manifest.loader),
        &loader.data,
        profile,
        "loader",
    )
}

pub(super) fn read_extra(files: &[PathBuf]) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for f in files {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| Error::Usage {
                message: format!("--extra `{}` has no file name", f.display()),
                hint: "give a path to a file".into(),
            })?;
        if out.iter().any(|(n, _)| *n == name) {
            return Err(Error::Usage {
                message: format!("two --extra files are named `{name}`"),
                hint: format!("every --extra file lands in {EXTRA_DIR}/ by its name; rename one"),
            });
        }
        let data = std::fs::read(f).map_err(read_err(f))?;
        out.push((name, data));
    }
    Ok(out)
}

/// At most this many trace lines are streamed; the rest are counted.
const STREAM_TRACE_LINES: usize = 20;

/// Shows the run as it happens: progress on stderr, the loader's output and
/// trace lines on stdout (stderr when stdout carries JSON).
pub(super) struct Stream {
    json: bool,
    all_traces: bool,
    shown: usize,
    hidden: usize,
}

impl Stream {
    pub(super) fn new(json: bool, all_traces: bool) -> Self {
        Stream {
            json,
            all_traces,
            shown: 0,
            hidden: 0,
        }
    }

    fn line(&self, tag: &str, text: &str) {
        let u = ui::get();
        if u.quiet {
            return;
        }
        let line = format!("{tag:>8} | {text}");
        if self.json {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        } else {
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        }
    }

    pub(super) fn event(&mut self, ev: &Event, start: Instant, workload: Option<&str>) {
        match ev {
            Event::Booted(k) => ui::status(
                "Booted",
                &format!("linux {k} in {:.1}s", start.elapsed().as_secs_f64()),
            ),
            Event::Loader(l) => self.line("loader", l),
            Event::Ready(true) => ui::status("Running", "loader"),
            Event::Ready(false) => ui::warn(
                "the loader did not say it was running (no \"running\" or \"attached\" line); running the workload anyway",
            ),
            Event::WorkloadStarted => ui::status(
                "Tracing",
                &format!("workload: {}", workload.unwrap_or("default (open files, exec commands)")),
            ),
            Event::WorkloadDone(rc) if rc != "0" => {
                ui::warn(&format!("the workload exited with status {rc}"))
            }
            Event::Trace(l, hit) if self.all_traces || *hit => {
                if self.shown < STREAM_TRACE_LINES {
                    self.shown += 1;
                    self.line("trace", l);
                } else {
                    self.hidden += 1;
                }
            }
            Event::Console(l) if ui::get().verbose => self.line("console", l),
            _ => {}
        }
    }

    pub(super) fn finish(&self) {
        if self.hidden > 0 {
            self.line("trace", &format!("... and {} more", self.hidden));
        }
    }
}

/// Why the run failed, in one line; None when it passed.
fn failure_reason(o: &Observer, end: &RunEnd, timeout: u64) -> Option<String> {
    if end.interrupted {
        return Some("interrupted".into());
    }
    if o.kernel.is_none() {
        let stderr = end.stderr.trim();
        return Some(if !stderr.is_empty() && !end.timed_out {
            format!("QEMU failed: {}", stderr.lines().last().unwrap_or(stderr))
        } else if end.timed_out {
            format!("the guest did not start /init within {timeout}s")
        } else {
            "the guest never started /init (see the console tail)".into()
        });
    }
    if o.loader_failed {
        return Some(format!(
            "the loader exited with status {} before the workload ran",
            o.loader_exit.as_deref().unwrap_or("?")
        ));
    }
    if o.no_tracefs {
        return Some("the guest kernel has no trace_pipe (no tracefs or debugfs)".into());
    }
    let missing = o.missing();
    let what = if !missing.is_empty() {
        Some(format!("no trace line held {}", quoted_list(&missing)))
    } else if o.expects.is_empty() && o.trace.is_empty() {
        Some(match o.program_runs {
            Some(n) if n > 0 => format!(
                "no trace line was seen, though the programs ran {n} times: their output never reached trace_pipe"
            ),
            _ => "no trace line was seen: the probe never fired".into(),
        })
    } else {
        None
    };
    match (what, end.timed_out) {
        (Some(w), true) => Some(format!("timed out after {timeout}s; {w}")),
        (Some(w), false) => Some(w),
        (None, true) if !o.done => Some(format!("timed out after {timeout}s")),
        (None, _) => None,
    }
}

fn quoted_list(v: &[String]) -> String {
    v.iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How many of the trace lines a failed `--expect` saw the report lists.
const SEEN_LINES: usize = 20;

/// What to do next, from what the run saw; each case only where its
/// premise holds (no "the probe attached" for a guest that never booted).
fn failure_hint(profile: &Profile, o: &Observer, end: &RunEnd, r: &RunReport, via: Via) -> String {
    let ran = o.program_runs.is_some_and(|n| n > 0);
    if o.kernel.is_none() {
        "the guest never reached /init: QEMU's stderr and the console tail above say why".into()
    } else if o.loader_failed {
        "the loader's output above says why (a verifier rejection shows the verifier's log)".into()
    } else if !o.attached() {
        format!(
            "the loader never said it attached: check its output and the {}",
            via.output()
        )
    } else if !r.missing.is_empty() && !o.trace.is_empty() {
        format!(
            "{} trace lines came, none holding {}: compare the --expect text with the lines listed above",
            o.trace.len(),
            quoted_list(&r.missing)
        )
    } else if end.timed_out && via == Via::Ssh {
        "raise --timeout, or look at the board output tail for where the run stopped".into()
    } else if end.timed_out {
        "raise --timeout, or look at the console tail for where the guest stopped".into()
    } else if ran && profile.arch.kprobe_trace_dropped {
        format!(
            "the programs ran, so their output was dropped: {} kprobe handlers run as NMIs, and the trace ring buffer takes no writes from them there (no ARCH_HAVE_NMI_SAFE_CMPXCHG); print from a tracepoint instead, fed through a map (see tests/bpf/kprobe_relay.bpf.c)",
            profile.name
        )
    } else if ran {
        "the programs ran but printed nothing to trace_pipe: check that they call bpf_printk (bpf_trace_printk) on the path that runs".into()
    } else {
        "the probe attached but never fired: check the attach point exists and is called on this kernel (for example do_sys_open is inlined on 6.1; do_sys_openat2 fires), or change --workload".into()
    }
}

fn print_failure(
    profile: &Profile,
    why: &str,
    o: &Observer,
    end: &RunEnd,
    r: &RunReport,
    via: Via,
) {
    let target = &profile.name;
    let hint = failure_hint(profile, o, end, r, via);
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "run report for {target}:");
    let _ = writeln!(
        err,
        "  kernel:         {}",
        o.kernel.as_deref().unwrap_or("(never reached /init)")
    );
    let _ = writeln!(
        err,
        "  probe attached: {}",
        if o.attached() { "yes" } else { "no" }
    );
    let _ = writeln!(
        err,
        "  loader exit:    {}",
        match (&o.loader_exit, o.loader_failed) {
            (Some(rc), true) => format!("{rc} (exited on its own, before the workload)"),
            (Some(rc), false) => format!("{rc} (after being stopped)"),
            (None, _) => "(unknown)".into(),
        }
    );
    let _ = writeln!(err, "  trace lines:    {}", r.trace_lines);
    if let Some(n) = o.program_runs {
        let _ = writeln!(err, "  program runs:   {n}");
    }
    if !r.missing.is_empty() {
        let _ = writeln!(err, "  missing:        {}", quoted_list(&r.missing));
        if !o.trace.is_empty() {
            let _ = writeln!(
                err,
                "  trace lines seen (first {} of {}):",
                o.trace.len().min(SEEN_LINES),
                o.trace.len()
            );
            for l in o.trace.iter().take(SEEN_LINES) {
                let _ = writeln!(err, "    | {l}");
            }
        }
    }
    let _ = writeln!(
        err,
        "  timed out:      {}",
        if end.timed_out { "yes" } else { "no" }
    );
    if let Some(s) = &end.status {
        let _ = writeln!(
            err,
            "  {:<16}{s}, after {:.1}s",
            format!("{}:", via.runner()),
            end.seconds
        );
    }
    let _ = writeln!(err, "  loader output:");
    if o.loader_output.is_empty() {
        let _ = writeln!(err, "    (none)");
    }
    for l in &o.loader_output {
        let _ = writeln!(err, "    | {l}");
    }
    let qemu_err = end.stderr.trim();
    if !qemu_err.is_empty() {
        let _ = writeln!(err, "  {}'s stderr:", via.runner());
        for l in qemu_err.lines() {
            let _ = writeln!(err, "    | {l}");
        }
    }
    let _ = writeln!(err, "  {} (last {} lines):", via.output(), o.tail.len());
    for l in &o.tail {
        let _ = writeln!(err, "    | {l}");
    }
    drop(err);
    ui::error(&format!("run failed on {target}: {why}"), &hint);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf32(machine: u16, interp: bool) -> Vec<u8> {
        let mut b = vec![0u8; 52 + 32];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 1;
        b[5] = 1;
        b[18..20].copy_from_slice(&machine.to_le_bytes());
        b[28..32].copy_from_slice(&52u32.to_le_bytes());
        b[42..44].copy_from_slice(&32u16.to_le_bytes());
        b[44..46].copy_from_slice(&1u16.to_le_bytes());
        let pt: u32 = if interp { 3 } else { 1 };
        b[52..56].copy_from_slice(&pt.to_le_bytes());
        b
    }

    #[test]
    fn elf_checks() {
        let p = Profile::load("armv7").unwrap();
        let path = Path::new("bb");
        assert!(check_guest_elf(path, &elf32(40, false), &p, "busybox").is_ok());
        let e = check_guest_elf(path, &elf32(40, true), &p, "busybox").unwrap_err();
        assert!(e.to_string().contains("dynamically linked"), "{e}");
        assert!(e.hint().contains("busybox-static for armhf"));
        let e = check_guest_elf(path, &elf32(183, false), &p, "loader").unwrap_err();
        assert!(e.to_string().contains("ELF machine 183"), "{e}");
        // Another arch's loader needs building for this board; linking it
        // static would not help.
        assert_eq!(
            e.hint(),
            "build the loader for this board (cargo ebpf-cross build --target armv7), or pass the bundle made for it"
        );
        let e = check_guest_elf(path, &elf32(40, true), &p, "loader").unwrap_err();
        assert!(
            e.hint().starts_with("build the loader static"),
            "{}",
            e.hint()
        );
        let e = check_guest_elf(path, b"#!/bin/sh\n", &p, "busybox").unwrap_err();
        assert!(e.to_string().contains("not an ELF"), "{e}");
    }

    #[test]
    fn missing_inputs_name_flag_env_and_profile_key() {
        let p = Profile::load("armv7").unwrap();
        let e = guest_input_path(&p, None, None, Needed::Kernel).unwrap_err();
        assert_eq!(e.to_string(), "no kernel image to boot target `armv7` with");
        let h = e.hint();
        assert!(
            h.contains("--kernel-image") && h.contains("EBPF_CROSS_KERNEL_IMAGE"),
            "{h}"
        );
        assert!(
            h.contains("`--kernel debian:RELEASE` brings Debian's reference kernel"),
            "{h}"
        );
        let e = guest_input_path(&p, Some("/nope/bb".into()), None, Needed::Busybox).unwrap_err();
        assert_eq!(e.to_string(), "busybox `/nope/bb` does not exist");
        assert!(e
            .hint()
            .contains("busybox-static for armhf, which `--kernel debian:RELEASE` brings"));
    }

    #[test]
    fn reasons() {
        let end = RunEnd::default();
        let mut o = Observer::new(vec!["file /".into()]);
        assert!(failure_reason(&o, &end, 60)
            .unwrap()
            .contains("never started /init"));
        o.kernel = Some("6.1".into());
        assert_eq!(
            failure_reason(&o, &end, 60).unwrap(),
            "no trace line held \"file /\""
        );
        o.feed(&format!("{} x file /etc", initramfs::marker::tag("TRACE")));
        o.done = true;
        assert_eq!(failure_reason(&o, &end, 60), None);
        let timed = RunEnd {
            timed_out: true,
            ..RunEnd::default()
        };
        o.done = false;
        assert_eq!(failure_reason(&o, &timed, 9).unwrap(), "timed out after 9s");
        o.loader_failed = true;
        o.loader_exit = Some("1".into());
        assert!(failure_reason(&o, &end, 60)
            .unwrap()
            .starts_with("the loader exited with status 1"));
    }

    #[test]
    fn attach_wait_is_bounded() {
        assert_eq!(attach_secs(60), 30);
        assert_eq!(attach_secs(10), 5);
        assert_eq!(attach_secs(1), 1);
        assert_eq!(attach_secs(600), 30);
    }
}
