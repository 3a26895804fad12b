//! `cargo ebpf-cross run --ssh HOST`: the same run, verdict and report as
//! under QEMU, on a real board reached with the user's own `ssh`. The
//! protocol and the board's script are in [`crate::ssh`]; this drives one
//! connection: preflight facts, "go" and the payload, then the markers the
//! QEMU guest prints too, judged by the same [`Observer`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::bundle::Bundle;
use crate::error::{Error, Result};
use crate::initramfs::{marker, InitOptions};
use crate::ops::Global;
use crate::options::{MessageFormat, RunOptions};
use crate::profile::Profile;
use crate::qemu::{Event, Observer, RunEnd};
use crate::ssh::{self, Client, Copy, Facts, Host};
use crate::ui;

use super::run::{self as qemu_run, Proof, Stream, Via};

/// After the host closes the board's stdin (a timeout), how long the board
/// gets to clean up and say so before ssh is killed.
const CLEANUP_GRACE: Duration = Duration::from_secs(8);

/// How long ssh may take to exit once the board said it is done.
const EXIT_GRACE: Duration = Duration::from_secs(3);

pub fn run(g: Global, args: &RunOptions) -> Result<i32> {
    let given = args.ssh.as_deref().expect("called with --ssh");
    let host = Host::parse(given)?;
    if super::matrix::is_matrix(args) {
        return Err(Error::Usage {
            message: "--ssh runs on one board, not a kernel matrix".into(),
            hint: "give one --kernel debian:RELEASE (or --kernel-src/--kernel-build), the kernel the board runs".into(),
        });
    }
    let boards = crate::ops::project_board_dirs(&args.build.project);
    let profile = Profile::load_with(&args.target, &boards)?;
    let client = client(g, host, args.ssh_config.clone(), args.connect_timeout)?;
    let bundle_path = match &args.bundle {
        Some(p) => p.clone(),
        None => crate::ops::build::build_bundle(g, &args.build, &args.target)?,
    };
    // The benchmark clock: from here (the build is done) to the verdict, as
    // for the QEMU run.
    let start = Instant::now();
    let bundle = match Bundle::open(&bundle_path) {
        Ok(b) => Some(b),
        Err(_) if g.dry_run && !bundle_path.exists() => None,
        Err(e) => return Err(e),
    };
    if let Some(b) = &bundle {
        check_bundle(&bundle_path, b, &profile)?;
    }
    let extra = qemu_run::read_extra(&args.extra)?;
    let (payload, files) = match &bundle {
        Some(b) => ssh::payload(b, &extra)?,
        None => (Vec::new(), 0),
    };
    let loader = bundle
        .as_ref()
        .map(|b| format!("./bundle/{}", b.manifest.loader))
        .unwrap_or_else(|| "./bundle/bin/<loader>".into());
    let script = ssh::board_script(&ssh::BoardOptions {
        steps: InitOptions {
            loader,
            loader_args: args.loader_args.iter().map(|a| ssh::board_arg(a)).collect(),
            workload: args.workload.clone(),
            attach_secs: qemu_run::attach_secs(args.timeout),
            drain_max_secs: qemu_run::DRAIN_MAX_SECS,
        },
        payload_size: payload.len() as u64,
        watchdog_secs: args.timeout + ssh::WATCHDOG_MARGIN_SECS,
    });
    let cmd = client.command(&script);
    let Some(bundle) = bundle.filter(|_| !g.dry_run) else {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "# ssh ({})", client.host.given);
        let _ = writeln!(out, "{}", cmd.display());
        let _ = writeln!(
            out,
            "# the board's script (then {} bytes on its stdin: a tar of bundle/, extra/ and sums)",
            payload.len()
        );
        let _ = write!(out, "{script}");
        return Ok(0);
    };
    let wanted = ssh::Wanted {
        target: &profile.name,
        machines: &profile.arch.uname_machines,
        release: bundle.manifest.kernel_release.as_deref(),
        core: bundle.manifest.bpf_mode.as_deref() == Some("core"),
        allow_kernel_mismatch: args.allow_kernel_mismatch,
    };
    let proof = on_board(
        &client, &cmd, &wanted, payload, files, args, &profile, start,
    )?;
    Ok(proof.verdict(args.build.message_format))
}

/// A board runs whatever libc it has, so unlike the QEMU guest's, the
/// loader may be dynamically linked; its machine must still be the
/// target's.
fn check_bundle(path: &Path, b: &Bundle, profile: &Profile) -> Result<()> {
    super::run::warn_other_target(path, b, profile);
    let loader = b
        .file(&b.manifest.loader)
        .expect("Bundle::open checked the loader");
    let fix = "build the bundle for this target (`cargo ebpf-cross build --target ...`)";
    let facts = crate::elf_check::header(&loader.data).map_err(|_| Error::Run {
        message: format!(
            "the bundle's loader `{}` is not an ELF executable",
            b.manifest.loader
        ),
        hint: fix.into(),
    })?;
    if facts.machine != profile.arch.elf_machine {
        return Err(Error::Run {
            message: format!(
                "the bundle's loader is for ELF machine {}, but target `{}` runs machine {}",
                facts.machine, profile.name, profile.arch.elf_machine
            ),
            hint: fix.into(),
        });
    }
    Ok(())
}

/// The connection's state as lines come in.
#[derive(Default)]
struct Progress {
    facts: Facts,
    copy: Copy,
    /// Why the host refused to go on, decided at the end of preflight.
    refused: Option<Error>,
    /// The board said it cleaned up.
    cleaned: bool,
    /// The board's mark in trace_pipe was seen, and how many lines came
    /// before it.
    past_mark: bool,
    stale: usize,
}

#[allow(clippy::too_many_arguments)]
fn on_board(
    client: &Client,
    cmd: &crate::plan::Cmd,
    wanted: &ssh::Wanted,
    payload: Vec<u8>,
    files: usize,
    args: &RunOptions,
    profile: &Profile,
    start: Instant,
) -> Result<Proof> {
    let json = args.build.message_format == MessageFormat::Json;
    ui::status("Connecting", &format!("{} (ssh)", client.host.given));
    // Ctrl-C stops ssh (the handler signals every child) and ends the loop
    // below; the board sees its stdin close and cleans up.
    let _graceful = crate::interrupt::Graceful::enter();
    let mut child = cmd.start(Stdio::piped(), Stdio::piped(), Stdio::piped())?;
    let stdin = child.child().stdin.take().expect("stdin is piped");
    let stdout = child.child().stdout.take().expect("stdout is piped");
    let stderr = child.child().stderr.take().expect("stderr is piped");
    // A thread holds the board's stdin, so that a slow link writing the
    // payload never stops this loop from watching the clock.
    let (tx, writer) = crate::process::stdin_feeder(stdin);
    // Dropping it closes the board's stdin, which the board takes as "stop".
    let mut say = Some(tx);
    let (rx, reader) = crate::process::line_reader(stdout);
    let err_reader = crate::process::text_reader(stderr);

    let mut observer = Observer::new(args.expect.clone());
    let mut stream = Stream::new(json, args.expect.is_empty());
    let mut p = Progress::default();
    let deadline = start
        .checked_add(Duration::from_secs(args.timeout))
        .unwrap_or_else(|| start + Duration::from_secs(365 * 24 * 3600));
    let mut end = RunEnd::default();
    // Set when the host has stopped listening for more than the board's
    // cleanup: after DONE, a refusal, a timeout.
    let mut wind_down: Option<Instant> = None;
    let take = |line: &str,
                p: &mut Progress,
                observer: &mut Observer,
                stream: &mut Stream,
                say: &mut Option<mpsc::Sender<Vec<u8>>>,
                payload: &mut Option<Vec<u8>>|
     -> bool {
        if let Some((marker::BOARD, rest)) = marker::parse(line) {
            let was_end = p.facts.end;
            let was_copied = p.copy.done;
            ssh::take_fact(&mut p.facts, &mut p.copy, rest);
            observer.tail.push_back(line.to_string());
            if observer.tail.len() > crate::qemu::TAIL_LINES {
                observer.tail.pop_front();
            }
            if p.facts.end && !was_end {
                match preflight(&p.facts, wanted, &client.host, start) {
                    Ok(()) => {
                        observer.kernel = p.facts.release.clone();
                        if let (Some(tx), Some(bytes)) = (say.as_ref(), payload.take()) {
                            // The board reads one line, "go", then exactly
                            // the payload's bytes.
                            let _ = tx.send([b"go\n".as_slice(), &bytes].concat());
                        }
                    }
                    Err(e) => {
                        p.refused = Some(e);
                        *say = None;
                        return true;
                    }
                }
            }
            if p.copy.done && !was_copied {
                announce_copy(&p.copy, files, args.extra.len());
            }
            return false;
        }
        match marker::parse(line) {
            Some((marker::STATE, "cleaned")) => p.cleaned = true,
            // trace_pipe is the board's, and may hold lines from before
            // this run (an earlier run's probe): only what follows the
            // board's mark counts.
            Some((marker::TRACE, rest)) if !p.past_mark => {
                if let Some(mark) = &p.copy.mark {
                    if rest.contains(mark.as_str()) {
                        p.past_mark = true;
                    } else if !rest.trim().is_empty() {
                        p.stale += 1;
                    }
                    return false;
                }
            }
            _ => {}
        }
        let ev = observer.feed(line);
        stream.event(&ev, start, args.workload.as_deref());
        ev == Event::Done
    };
    let mut payload = Some(payload);
    loop {
        if crate::interrupt::interrupted() {
            end.interrupted = true;
            break;
        }
        let now = Instant::now();
        if let Some(t) = wind_down {
            if now >= t {
                break;
            }
        } else if now >= deadline {
            end.timed_out = true;
            // The board takes stdin closing as its cue to clean up.
            say = None;
            wind_down = Some(now + CLEANUP_GRACE);
            continue;
        }
        let until = wind_down.unwrap_or(deadline);
        let wait = until
            .saturating_duration_since(now)
            .min(Duration::from_millis(100));
        match rx.recv_timeout(wait) {
            Ok(line) => {
                let stop = take(
                    &line,
                    &mut p,
                    &mut observer,
                    &mut stream,
                    &mut say,
                    &mut payload,
                );
                if stop && wind_down.is_none() {
                    say = None;
                    // A refused board still has its cleanup to do.
                    let grace = if p.refused.is_some() {
                        CLEANUP_GRACE
                    } else {
                        EXIT_GRACE
                    };
                    wind_down = Some(Instant::now() + grace);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    drop(say);
    // The handler raises the flag before it stops ssh, but ssh ending may
    // have ended the loop first.
    if crate::interrupt::interrupted() {
        end.interrupted = true;
    }
    if !end.interrupted {
        end.status = child.settle(Duration::from_secs(1));
    }
    drop(child);
    let _ = reader.join();
    let _ = writer.join();
    let mut none = None;
    for line in rx.try_iter() {
        take(
            &line,
            &mut p,
            &mut observer,
            &mut stream,
            &mut none,
            &mut payload,
        );
    }
    stream.finish();
    end.stderr = err_reader.join().unwrap_or_default();
    end.seconds = start.elapsed().as_secs_f64();

    if end.interrupted && clean_after_interrupt(client, &p.facts) {
        p.cleaned = true;
    }
    if let Some(e) = p.refused {
        return Err(e);
    }
    if !p.facts.end && !end.interrupted {
        return Err(not_connected(client, &p.facts, &end, args.timeout));
    }
    if let Some(problem) = copy_problem(&p.copy) {
        if !end.interrupted {
            return Err(Error::Run {
                message: format!("the copy to {} failed: {problem}", client.host.given),
                hint: "the board's disk may be full or its tmp dir read-only (set TMPDIR for the login); retry, and check `df` on the board".into(),
            });
        }
    }
    if p.stale > 0 {
        ui::note(&format!(
            "{} trace line(s) from before this run were in the board's trace_pipe and were not counted",
            p.stale
        ));
    }
    if (end.timed_out || end.interrupted) && !p.cleaned {
        ui::warn(&format!(
            "{} did not confirm its cleanup; its watchdog ends the run there within {}s",
            client.host.given,
            args.timeout + ssh::WATCHDOG_MARGIN_SECS
        ));
    }
    let report = qemu_run::report(profile, &observer, &end, args, start);
    qemu_run::announce(profile, &observer, &end, &report, Via::Ssh);
    Ok(Proof {
        report,
        interrupted: end.interrupted,
    })
}

/// Shows the board and judges it; Err is the refusal.
fn preflight(f: &Facts, w: &ssh::Wanted, host: &Host, start: Instant) -> Result<()> {
    if let Some(why) = &f.failed {
        return Err(Error::Run {
            message: format!(
                "{} could not make a temporary directory ({why})",
                host.given
            ),
            hint: "the board needs a writable tmp dir (/tmp, or TMPDIR for the login)".into(),
        });
    }
    ui::status(
        "Connected",
        &format!(
            "{}: linux {} ({}) in {:.1}s",
            host.given,
            f.release.as_deref().unwrap_or("?"),
            f.machine.as_deref().unwrap_or("?"),
            start.elapsed().as_secs_f64()
        ),
    );
    let v = ssh::judge(f, w, &host.given);
    for n in &v.notes {
        ui::note(n);
    }
    for w in &v.warnings {
        ui::warn(w);
    }
    let mut refusals = v.refusals.into_iter();
    match refusals.next() {
        None => Ok(()),
        Some((first, hint)) => {
            let rest: Vec<String> = refusals.map(|(m, _)| m).collect();
            Err(Error::Run {
                message: if rest.is_empty() {
                    format!("{} cannot run this bundle: {first}", host.given)
                } else {
                    format!(
                        "{} cannot run this bundle: {first}; also {}",
                        host.given,
                        rest.join("; ")
                    )
                },
                hint,
            })
        }
    }
}

fn announce_copy(c: &Copy, files: usize, extra: usize) {
    match (c.verified, c.unverified) {
        (Some(n), _) if extra == 0 => ui::status(
            "Copied",
            &format!(
                "{files} files, sha256 verified on the board ({n} checked against the manifest)"
            ),
        ),
        (Some(n), _) => ui::status(
            "Copied",
            &format!(
                "{files} files, sha256 verified on the board ({n} checked: the bundle's against its manifest, {extra} --extra against the host's)"
            ),
        ),
        (None, true) => {
            ui::status("Copied", &format!("{files} files"));
            ui::warn("the board has no sha256sum: the copy was not verified there (ssh's own integrity checks still covered the transfer)");
        }
        (None, false) => ui::status("Copied", &format!("{files} files")),
    }
}

fn copy_problem(c: &Copy) -> Option<String> {
    if !c.bad.is_empty() {
        return Some(format!(
            "sha256 mismatch on the board: {}",
            c.bad.join("; ")
        ));
    }
    c.problem.clone()
}

/// ssh ended before the board said anything: it never connected, or the
/// login shell could not run the script.
fn not_connected(client: &Client, f: &Facts, end: &RunEnd, timeout: u64) -> Error {
    if end.timed_out {
        return Error::Run {
            message: format!(
                "{} did not answer within the run's {timeout}s",
                client.host.given
            ),
            hint: "check that the board is up, or raise --timeout".into(),
        };
    }
    if f.dir.is_some() || f.machine.is_some() {
        return Error::Run {
            message: format!(
                "the connection to {} ended during the preflight",
                client.host.given
            ),
            hint: "the board may have rebooted or dropped the link; retry".into(),
        };
    }
    let status = end.status.as_deref().unwrap_or("killed");
    let stderr = end.stderr.trim();
    let mut message = format!(
        "ssh to {} failed ({status}): {}",
        client.host.given,
        ssh::reason(stderr)
    );
    if !stderr.is_empty() {
        message.push_str("\nssh said:");
        for l in stderr.lines() {
            message.push_str("\n  | ");
            message.push_str(l);
        }
    }
    Error::Run {
        message,
        hint: ssh::advice(stderr, &client.host, client.config.as_deref()),
    }
}

/// After Ctrl-C: ssh is gone, and the board cleans up once it sees its
/// stdin close. A second, short connection waits for that and finishes the
/// job if the board did not, so that the exit (130) means the board is
/// clean.
/// True when the board is known to be clean.
fn clean_after_interrupt(client: &Client, f: &Facts) -> bool {
    let Some(dir) = f.dir.as_deref().filter(|d| ssh::is_run_dir(d)) else {
        // Interrupted before the board made anything.
        return true;
    };
    ui::status("Cleaning", &format!("{dir} on {}", client.host.given));
    let cmd = client.command(&ssh::cleanup_script(dir));
    match cmd.output_any() {
        Ok((st, out)) if st.success() => match out.stdout_text().trim() {
            "gone" => true,
            "removed" => {
                ui::note(&format!(
                    "the board had not cleaned up by itself; {dir} and its loader were removed"
                ));
                true
            }
            _ => false,
        },
        Ok((_, out)) => {
            ui::warn(&format!(
                "could not reach {} to check its cleanup: {}",
                client.host.given,
                ssh::reason(&String::from_utf8_lossy(&out.stderr))
            ));
            false
        }
        Err(e) => {
            ui::warn(&format!("could not run ssh to check the cleanup: {e}"));
            false
        }
    }
}

/// The user's OpenSSH client for `run --ssh` and `runner`, with the ssh
/// config the resolver picks (`--ssh-config`, else its env twin), which
/// must exist.
fn client(
    g: Global,
    host: Host,
    ssh_config: Option<PathBuf>,
    connect_timeout: u64,
) -> Result<Client> {
    let program = if g.dry_run {
        PathBuf::from("ssh")
    } else {
        which::which("ssh").map_err(|_| Error::ToolMissing {
            tool: "ssh".into(),
            hint: "install OpenSSH's client (`apt-get install openssh-client`); --ssh uses it with your config, agent and known_hosts".into(),
        })?
    };
    let config = crate::resolve::ssh_config(ssh_config, &crate::env::ProcessEnv).map(|s| s.value);
    if let Some(c) = &config {
        if !c.is_file() {
            return Err(Error::Usage {
                message: format!("ssh config `{}` does not exist", c.display()),
                hint: format!(
                    "check --ssh-config / {}, or leave it out for ~/.ssh/config",
                    ssh::CONFIG_ENV
                ),
            });
        }
    }
    Ok(Client {
        program,
        config,
        connect_timeout,
        host,
    })
}

/// `cargo-ebpf-cross runner --ssh HOST PROGRAM [ARGS]`: cargo's target
/// runner. The program is copied over the connection and run as root on
/// the board; its output comes straight back and its exit status is ours.
pub fn runner(g: Global, args: crate::options::RunnerOptions) -> Result<i32> {
    let client = client(
        g,
        Host::parse(&args.ssh)?,
        args.ssh_config.clone(),
        args.connect_timeout,
    )?;
    let program = std::fs::read(&args.program).map_err(crate::error::read_err(&args.program))?;
    let script = ssh::runner_script(
        program.len() as u64,
        &crate::fsutil::sha256_hex(&program),
        &args.args,
    );
    let cmd = client.command(&script);
    if g.dry_run {
        let _ = writeln!(std::io::stdout().lock(), "{}", cmd.display());
        return Ok(0);
    }
    let _graceful = crate::interrupt::Graceful::enter();
    let mut child = cmd.start(Stdio::piped(), Stdio::inherit(), Stdio::inherit())?;
    let stdin = child.child().stdin.take().expect("stdin is piped");
    let (say, writer) = crate::process::stdin_feeder(stdin);
    let _ = say.send(program);
    let status = loop {
        if crate::interrupt::interrupted() {
            break None;
        }
        match child.child().try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(_) => break None,
        }
    };
    drop(say);
    drop(child);
    let _ = writer.join();
    if crate::interrupt::interrupted() {
        return Ok(130);
    }
    Ok(status.and_then(|s| s.code()).unwrap_or(1))
}
