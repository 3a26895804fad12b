//! Booting a board's kernel under QEMU for `run`: the plan (plain data, from
//! the profile's `[qemu]` section), the console protocol spoken by the
//! guest's `/init`, and the runner that enforces the timeout.
//!
//! QEMU never outlives the command: the child is killed when the guard
//! holding it drops (success, error, timeout), on Ctrl-C or SIGTERM (a
//! handler kills it), and if this process dies without unwinding (the child
//! asks the kernel for SIGKILL when its parent goes).

use std::collections::VecDeque;
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::initramfs::marker;
use crate::plan::Cmd;
use crate::profile::{Profile, QemuSection};

/// How many console lines a failure report shows.
pub const TAIL_LINES: usize = 30;

/// The keys `run` reads from a profile, for messages.
pub const QEMU_KEYS: &str =
    "system, machine, cpu, console, memory_mb, append (and optionally kernel_image, busybox)";

fn not_set_up(profile: &Profile, why: &str) -> Error {
    Error::Run {
        message: format!("run is not set up for target `{}`: {why}", profile.name),
        hint: format!(
            "add a [qemu] section to the board's profile with {QEMU_KEYS}; the built-in armv7 and aarch64 profiles have one to copy, for example:\n  [qemu]\n  system = \"qemu-system-arm\"\n  machine = \"virt\"\n  cpu = \"cortex-a15\"\n  console = \"ttyAMA0\"\n  memory_mb = 512\n  append = [\"panic=-1\"]"
        ),
    }
}

/// The profile's `[qemu]` section, if it is complete enough to boot.
pub fn section(profile: &Profile) -> Result<&QemuSection> {
    let q = profile
        .qemu
        .as_ref()
        .ok_or_else(|| not_set_up(profile, "its profile has no [qemu] section"))?;
    for (key, set) in [
        ("system", q.system.is_some()),
        ("machine", q.machine.is_some()),
        ("console", q.console.is_some()),
    ] {
        if !set {
            return Err(not_set_up(
                profile,
                &format!("its [qemu] section has no `{key}`"),
            ));
        }
    }
    Ok(q)
}

/// The QEMU command line: one CPU, no display, no monitor, the serial
/// console on stdio, no network, and exit instead of rebooting, so that a
/// guest `poweroff -f` or a kernel panic (`panic=-1`) ends QEMU.
pub fn plan(profile: &Profile, kernel: &Path, initrd: &Path) -> Result<Cmd> {
    let q = section(profile)?;
    let system = q.system.as_deref().expect("checked by section()");
    let machine = q.machine.as_deref().expect("checked by section()");
    let console = q.console.as_deref().expect("checked by section()");
    let mut append = vec![
        format!("console={console}"),
        "rdinit=/init".to_string(),
        // Keeps the console to what /init prints; warnings still show.
        "quiet".to_string(),
    ];
    append.extend(q.append.iter().flatten().cloned());
    let mut cmd = Cmd::new(system).args(["-M", machine]);
    if let Some(cpu) = &q.cpu {
        cmd = cmd.args(["-cpu", cpu.as_str()]);
    }
    Ok(cmd
        .args(["-m", &q.memory_mb.unwrap_or(512).to_string()])
        .args(["-smp", "1", "-display", "none", "-monitor", "none"])
        .args(["-serial", "stdio", "-nic", "none", "-no-reboot"])
        .arg("-kernel")
        .arg(kernel.display().to_string())
        .arg("-initrd")
        .arg(initrd.display().to_string())
        .arg("-append")
        .arg(append.join(" ")))
}

// ---------------------------------------------------------------------------
// The console protocol

/// Something the host noticed on the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// /init started; the kernel's release.
    Booted(String),
    Loader(String),
    /// The loader said it is running (true) or the wait ran out (false).
    Ready(bool),
    /// The loader exited before it was stopped; its status.
    LoaderFailed(String),
    WorkloadStarted,
    WorkloadDone(String),
    /// A trace_pipe line, and whether it matched an expectation.
    Trace(String, bool),
    /// The loader's exit status after it was stopped.
    LoaderStopped(String),
    Done,
    /// Any other console line (kernel messages, workload output).
    Console(String),
}

/// Accumulates what the guest reported.
#[derive(Debug, Clone, Default)]
pub struct Observer {
    pub expects: Vec<String>,
    pub kernel: Option<String>,
    pub loader_output: Vec<String>,
    pub ready: Option<bool>,
    pub loader_failed: bool,
    pub loader_exit: Option<String>,
    pub trace: Vec<String>,
    /// Per expectation: the first trace line that held it.
    pub matched: Vec<Option<String>>,
    pub no_tracefs: bool,
    /// How often the loader's programs ran, when the kernel counts it.
    pub program_runs: Option<u64>,
    pub done: bool,
    pub tail: VecDeque<String>,
}

impl Observer {
    pub fn new(expects: Vec<String>) -> Self {
        Observer {
            matched: vec![None; expects.len()],
            expects,
            ..Default::default()
        }
    }

    /// Takes one console line (without its line ending).
    pub fn feed(&mut self, line: &str) -> Event {
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line.to_string());
        let Some((kind, rest)) = marker::parse(line) else {
            return Event::Console(line.to_string());
        };
        let rest = rest.to_string();
        match kind {
            marker::INIT => {
                self.kernel = Some(rest.clone());
                Event::Booted(rest)
            }
            marker::LOADER => {
                self.loader_output.push(rest.clone());
                Event::Loader(rest)
            }
            marker::STATE => match rest.as_str() {
                "ready" => {
                    self.ready = Some(true);
                    Event::Ready(true)
                }
                "not-ready" => {
                    self.ready = Some(false);
                    Event::Ready(false)
                }
                "loader-exited" => {
                    self.loader_failed = true;
                    Event::Console(line.to_string())
                }
                other if other.starts_with("program-runs ") => {
                    self.program_runs = other["program-runs ".len()..].trim().parse().ok();
                    Event::Console(line.to_string())
                }
                "no-tracefs" => {
                    self.no_tracefs = true;
                    Event::Console(line.to_string())
                }
                _ => Event::Console(line.to_string()),
            },
            marker::LOADER_EXIT => {
                self.loader_exit = Some(rest.clone());
                if self.loader_failed {
                    Event::LoaderFailed(rest)
                } else {
                    Event::LoaderStopped(rest)
                }
            }
            marker::WORKLOAD if rest == "start" => Event::WorkloadStarted,
            marker::WORKLOAD => Event::WorkloadDone(rest.trim_start_matches("done ").to_string()),
            // bpf_trace_printk adds a newline to a format that already ends
            // in one, so every line is followed by an empty one on 6.1.
            marker::TRACE if rest.trim().is_empty() => Event::Console(String::new()),
            marker::TRACE => {
                let mut hit = false;
                for (e, m) in self.expects.iter().zip(self.matched.iter_mut()) {
                    if rest.contains(e.as_str()) {
                        hit = true;
                        if m.is_none() {
                            *m = Some(rest.clone());
                        }
                    }
                }
                self.trace.push(rest.clone());
                Event::Trace(rest, hit)
            }
            marker::DONE => {
                self.done = true;
                Event::Done
            }
            _ => Event::Console(line.to_string()),
        }
    }

    /// The loader said it attached a program. Loaders word this freely, so
    /// any line holding "attached" counts.
    pub fn attached(&self) -> bool {
        self.loader_output
            .iter()
            .any(|l| l.to_ascii_lowercase().contains("attached"))
    }

    pub fn matched(&self) -> Vec<String> {
        self.expects
            .iter()
            .zip(&self.matched)
            .filter(|(_, m)| m.is_some())
            .map(|(e, _)| e.clone())
            .collect()
    }

    pub fn missing(&self) -> Vec<String> {
        self.expects
            .iter()
            .zip(&self.matched)
            .filter(|(_, m)| m.is_none())
            .map(|(e, _)| e.clone())
            .collect()
    }

    /// With expectations, every one must be in some trace line; without,
    /// any trace line will do. Either way the loader must not have failed on
    /// its own.
    pub fn expectations_met(&self) -> bool {
        let seen = if self.expects.is_empty() {
            !self.trace.is_empty()
        } else {
            self.matched.iter().all(Option::is_some)
        };
        seen && !self.loader_failed
    }
}

// ---------------------------------------------------------------------------
// The runner

/// How a QEMU run ended.
#[derive(Debug, Clone, Default)]
pub struct RunEnd {
    pub timed_out: bool,
    pub interrupted: bool,
    /// QEMU's exit status, when it exited by itself.
    pub status: Option<String>,
    /// What QEMU printed on stderr (its own errors).
    pub stderr: String,
    pub seconds: f64,
}

/// How long QEMU may take to exit after /init said it is done, before it is
/// killed (its power-off normally takes milliseconds).
const POWEROFF_GRACE: Duration = Duration::from_secs(3);

/// Boots `cmd`, feeding every console line to `observer` and each event to
/// `on_event`, until QEMU exits or `timeout` passes.
pub fn boot(
    cmd: &Cmd,
    timeout: Duration,
    observer: &mut Observer,
    mut on_event: impl FnMut(&Event),
) -> Result<RunEnd> {
    // Ctrl-C (and SIGTERM) stop QEMU and end the loop below; the caller
    // still gets to report the interrupted run.
    let _graceful = crate::interrupt::Graceful::enter();
    let start = Instant::now();
    let mut child = cmd.start(Stdio::null(), Stdio::piped(), Stdio::piped())?;
    let stdout = child.child().stdout.take().expect("stdout is piped");
    let stderr = child.child().stderr.take().expect("stderr is piped");
    let (rx, reader) = crate::process::line_reader(stdout);
    let err_reader = crate::process::text_reader(stderr);

    // A huge --timeout means "no limit", not an overflow.
    let deadline = start
        .checked_add(timeout)
        .unwrap_or_else(|| start + Duration::from_secs(365 * 24 * 3600));
    let mut end = RunEnd::default();
    let mut done_at: Option<Instant> = None;
    loop {
        if crate::interrupt::interrupted() {
            end.interrupted = true;
            break;
        }
        let now = Instant::now();
        if now >= deadline {
            end.timed_out = true;
            break;
        }
        if done_at.is_some_and(|t| now >= t + POWEROFF_GRACE) {
            break;
        }
        let wait = (deadline - now).min(Duration::from_millis(100));
        match rx.recv_timeout(wait) {
            Ok(line) => {
                let ev = observer.feed(&line);
                if ev == Event::Done {
                    done_at = Some(Instant::now());
                }
                on_event(&ev);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    // QEMU closes its stdout just before it exits: give it a moment to do
    // so by itself, so its own status (and errors) can be reported. A run
    // stopped by the timeout or Ctrl-C is killed without waiting.
    if !end.timed_out && !end.interrupted {
        end.status = child.settle(Duration::from_secs(1));
    }
    drop(child);
    let _ = reader.join();
    // The reader may have queued lines after the loop stopped listening.
    for line in rx.try_iter() {
        let ev = observer.feed(&line);
        on_event(&ev);
    }
    end.stderr = err_reader.join().unwrap_or_default();
    end.seconds = start.elapsed().as_secs_f64();
    // Ctrl-C at a terminal signals QEMU too, and QEMU may exit before our
    // handler has raised the flag: its own "terminating on signal 2" (or
    // 15) is the same interrupt, not a QEMU failure.
    if !end.timed_out
        && (crate::interrupt::interrupted()
            || end.stderr.lines().any(|l| {
                l.ends_with("terminating on signal 2") || l.contains("terminating on signal 15")
            }))
    {
        end.interrupted = true;
    }
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn argv(target: &str) -> Vec<String> {
        let p = Profile::load(target).unwrap();
        plan(&p, Path::new("/k/Image"), Path::new("/w/initramfs.cpio.gz"))
            .unwrap()
            .argv()
    }

    #[test]
    fn armv7_argv() {
        assert_eq!(
            argv("armv7"),
            [
                "qemu-system-arm",
                "-M",
                "virt",
                "-cpu",
                "cortex-a15",
                "-m",
                "512",
                "-smp",
                "1",
                "-display",
                "none",
                "-monitor",
                "none",
                "-serial",
                "stdio",
                "-nic",
                "none",
                "-no-reboot",
                "-kernel",
                "/k/Image",
                "-initrd",
                "/w/initramfs.cpio.gz",
                "-append",
                "console=ttyAMA0 rdinit=/init quiet panic=-1",
            ]
        );
    }

    #[test]
    fn aarch64_argv() {
        let a = argv("aarch64");
        assert_eq!(
            a,
            [
                "qemu-system-aarch64",
                "-M",
                "virt",
                "-cpu",
                "cortex-a57",
                "-m",
                "512",
                "-smp",
                "1",
                "-display",
                "none",
                "-monitor",
                "none",
                "-serial",
                "stdio",
                "-nic",
                "none",
                "-no-reboot",
                "-kernel",
                "/k/Image",
                "-initrd",
                "/w/initramfs.cpio.gz",
                "-append",
                "console=ttyAMA0 rdinit=/init quiet panic=-1",
            ]
        );
    }

    #[test]
    fn board_overrides_and_missing_section() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("b.toml");
        std::fs::write(
            &f,
            "extends = \"armv7\"\n[qemu]\nmemory_mb = 256\nappend = [\"loglevel=7\"]\n",
        )
        .unwrap();
        let p = Profile::load(f.to_str().unwrap()).unwrap();
        let a = plan(&p, Path::new("k"), Path::new("i")).unwrap().argv();
        assert!(a.windows(2).any(|w| w == ["-m", "256"]));
        assert_eq!(
            a.last().unwrap(),
            "console=ttyAMA0 rdinit=/init quiet loglevel=7"
        );

        // No -cpu (the virt machine's default hart) and no -bios: QEMU's
        // own OpenSBI starts the kernel.
        let p = Profile::load("riscv64").unwrap();
        let a = plan(&p, Path::new("k"), Path::new("i")).unwrap().argv();
        assert_eq!(
            a.join(" "),
            "qemu-system-riscv64 -M virt -m 512 -smp 1 -display none -monitor none -serial stdio -nic none -no-reboot -kernel k -initrd i -append console=ttyS0 rdinit=/init quiet panic=-1"
        );

        let p = Profile::load("mips").unwrap();
        let e = plan(&p, Path::new("k"), Path::new("i")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("run is not set up for target `mips`"),
            "{e}"
        );
        assert!(e
            .hint()
            .contains("system, machine, cpu, console, memory_mb, append"));
    }

    #[test]
    fn every_profile_with_qemu_names_the_package_that_provides_it() {
        // `run` and `doctor` name this package when the binary is missing.
        for name in crate::arch::builtin_names() {
            let p = Profile::load(&name).unwrap();
            if let Some(q) = &p.qemu {
                let system = q.system.as_deref().unwrap_or_default();
                let pkg = q.package.as_deref().unwrap_or_default();
                assert!(
                    system.starts_with("qemu-system-") && pkg.starts_with("qemu-system-"),
                    "{name}: system `{system}`, package `{pkg}`"
                );
            }
        }
        let arm = Profile::load("armv7").unwrap().qemu.unwrap();
        assert_eq!(arm.package.as_deref(), Some("qemu-system-arm"));
        let arm64 = Profile::load("aarch64").unwrap().qemu.unwrap();
        assert_eq!(arm64.system.as_deref(), Some("qemu-system-aarch64"));
        assert_eq!(arm64.package.as_deref(), Some("qemu-system-arm"));
    }

    fn t(kind: &str, rest: &str) -> String {
        format!("{} {rest}", marker::tag(kind))
    }

    #[test]
    fn observer_follows_a_passing_run() {
        let mut o = Observer::new(vec!["file /".into(), "file /etc/hostname".into()]);
        assert_eq!(
            o.feed("[    0.0] Booting Linux"),
            Event::Console("[    0.0] Booting Linux".into())
        );
        assert_eq!(
            o.feed(&t("INIT", "6.1.0-50-armmp")),
            Event::Booted("6.1.0-50-armmp".into())
        );
        o.feed(&t(
            "LOADER",
            "attached kprobe/do_sys_openat2 (open_example)",
        ));
        o.feed(&t("LOADER", "running; press Ctrl-C to stop"));
        assert_eq!(o.feed(&t("STATE", "ready")), Event::Ready(true));
        assert_eq!(o.feed(&t("WORKLOAD", "start")), Event::WorkloadStarted);
        assert_eq!(
            o.feed(&t(
                "TRACE",
                "cat-70 [000] d..2 3.4: bpf_trace_printk: file /etc/hostname"
            )),
            Event::Trace(
                "cat-70 [000] d..2 3.4: bpf_trace_printk: file /etc/hostname".into(),
                true
            )
        );
        assert_eq!(
            o.feed(&t("TRACE", "sh-1 [000] other")),
            Event::Trace("sh-1 [000] other".into(), false)
        );
        assert_eq!(o.feed(&t("TRACE", "")), Event::Console(String::new()));
        assert_eq!(
            o.feed(&t("WORKLOAD", "done 0")),
            Event::WorkloadDone("0".into())
        );
        assert_eq!(
            o.feed(&t("LOADER-EXIT", "0")),
            Event::LoaderStopped("0".into())
        );
        assert_eq!(o.feed(&t("DONE", "")), Event::Done);
        assert!(o.attached());
        assert!(o.expectations_met());
        assert_eq!(o.matched(), ["file /", "file /etc/hostname"]);
        assert!(o.missing().is_empty());
        assert_eq!(o.trace.len(), 2);
        assert!(o.done);
    }

    #[test]
    fn observer_sees_a_loader_that_failed() {
        let mut o = Observer::new(vec![]);
        o.feed(&t("LOADER", "open-example: x.o: loading kprobe/f (f): the BPF_PROG_LOAD syscall failed. Verifier output: 0: R1=ctx"));
        o.feed(&t("LOADER", "invalid bpf_context access off=4096 size=4"));
        o.feed(&t("STATE", "loader-exited"));
        assert_eq!(
            o.feed(&t("LOADER-EXIT", "1")),
            Event::LoaderFailed("1".into())
        );
        assert!(!o.attached());
        assert!(!o.expectations_met());
        assert_eq!(o.loader_exit.as_deref(), Some("1"));
    }

    #[test]
    fn observer_counts_program_runs_when_the_kernel_does() {
        let mut o = Observer::new(vec![]);
        assert_eq!(o.program_runs, None);
        o.feed(&t("STATE", "program-runs 17"));
        assert_eq!(o.program_runs, Some(17));
        o.feed(&t("STATE", "program-runs x"));
        assert_eq!(o.program_runs, None);
    }

    #[test]
    fn without_expectations_any_trace_line_passes() {
        let mut o = Observer::new(vec![]);
        assert!(!o.expectations_met());
        o.feed(&t("TRACE", "x"));
        assert!(o.expectations_met());
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let mut o = Observer::new(vec![]);
        for i in 0..100 {
            o.feed(&format!("line {i}"));
        }
        assert_eq!(o.tail.len(), TAIL_LINES);
        assert_eq!(o.tail.front().unwrap(), "line 70");
    }

    /// The runner kills a child that outlives its timeout, and reports it.
    #[test]
    fn timeout_kills_the_child() {
        let sleep = which::which("sleep").unwrap_or_else(|_| PathBuf::from("/bin/sleep"));
        let cmd = Cmd::new(sleep).arg("30");
        let mut o = Observer::new(vec![]);
        let end = boot(&cmd, Duration::from_millis(300), &mut o, |_| {}).unwrap();
        assert!(end.timed_out);
        assert!(end.seconds < 5.0, "{}", end.seconds);
    }

    #[test]
    fn console_lines_reach_the_observer() {
        let cmd = Cmd::new("printf").arg(format!(
            "boot\\r\\n{}\\r\\n{} x\\n",
            marker::tag("DONE"),
            marker::tag("TRACE")
        ));
        let mut o = Observer::new(vec![]);
        let mut events = Vec::new();
        let end = boot(&cmd, Duration::from_secs(10), &mut o, |e| {
            events.push(e.clone())
        })
        .unwrap();
        assert!(!end.timed_out);
        assert_eq!(end.status.as_deref(), Some("exit status: 0"));
        assert_eq!(
            events,
            [
                Event::Console("boot".into()),
                Event::Done,
                Event::Trace("x".into(), false)
            ]
        );
    }
}
