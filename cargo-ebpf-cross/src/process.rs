//! The one door for external programs. Every tool (clang, llc, rustc,
//! cargo, bpftool, QEMU) runs through these methods on [`Cmd`], so `-v`
//! shows each argv, a failure always reads the same way, and Ctrl-C can
//! reach every child we started (see [`crate::interrupt`]).
//!
//! It is also the only module that starts threads over a child's pipes:
//! [`line_reader`], [`text_reader`], [`stdin_feeder`] and [`pipe_filtered`]
//! cover what QEMU, ssh and the clang | llc pipe need, so no caller
//! hand-rolls a reader thread and forgets to drain a pipe.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::error::{Error, Result};
use crate::interrupt;
use crate::plan::Cmd;

/// What a captured run printed.
#[derive(Debug, Clone)]
pub struct Captured {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Captured {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// A started child that is registered for Ctrl-C and is killed and reaped
/// however the scope that holds it is left.
pub struct Running {
    child: Option<Child>,
    cmd: Cmd,
}

impl Running {
    /// Waits up to `wait` for the child to exit by itself, and returns its
    /// status if it did: a program that closed its output is usually about
    /// to exit, and its own status says more than a kill would.
    pub fn settle(&mut self, wait: std::time::Duration) -> Option<String> {
        let until = std::time::Instant::now() + wait;
        while std::time::Instant::now() < until {
            if let Ok(Some(status)) = self.child().try_wait() {
                return Some(status.to_string());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        None
    }

    pub fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("present until wait")
    }

    /// Waits, and unregisters the child.
    pub fn wait(mut self) -> Result<ExitStatus> {
        let mut child = self.child.take().expect("present until wait");
        let st = child
            .wait()
            .map_err(|source| spawn_error(&self.cmd, source));
        interrupt::forget_child(child.id());
        st
    }

    /// Waits and turns a non-zero exit into [`Error::CommandFailed`].
    pub fn wait_success(self, stderr: String) -> Result<()> {
        let cmd = self.cmd.clone();
        let st = self.wait()?;
        check(&cmd, st, stderr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
            interrupt::forget_child(c.id());
        }
    }
}

fn spawn_error(cmd: &Cmd, source: std::io::Error) -> Error {
    Error::Spawn {
        tool: cmd.program.display().to_string(),
        source,
    }
}

fn check(cmd: &Cmd, st: ExitStatus, stderr: String) -> Result<()> {
    if st.success() {
        Ok(())
    } else {
        Err(Error::CommandFailed {
            argv: cmd.argv(),
            status: st.to_string(),
            stderr,
        })
    }
}

impl Cmd {
    /// Starts the program with the given stdio, shown under `-v` and
    /// registered so an interrupt kills it.
    pub fn start(&self, stdin: Stdio, stdout: Stdio, stderr: Stdio) -> Result<Running> {
        crate::ui::command(self);
        let mut c = self.to_command();
        c.stdin(stdin).stdout(stdout).stderr(stderr);
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;
            // If we are killed outright (SIGKILL, OOM), no handler runs:
            // the kernel then stops the child for us. Every spawning thread
            // waits for its children, so the thread-exit trigger of
            // PDEATHSIG never fires early.
            // SAFETY: prctl is async-signal-safe and touches no memory of
            // ours; it runs in the child between fork and exec.
            unsafe {
                c.pre_exec(|| {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let child = c.spawn().map_err(|source| spawn_error(self, source))?;
        interrupt::remember_child(child.id());
        Ok(Running {
            child: Some(child),
            cmd: self.clone(),
        })
    }

    /// Runs with our stdio; the tool's diagnostics reach the terminal as it
    /// prints them.
    pub fn status(&self) -> Result<()> {
        let r = self.start(Stdio::inherit(), Stdio::inherit(), Stdio::inherit())?;
        r.wait_success(String::new())
    }

    /// Runs with stdout and stderr captured; a non-zero exit is an error
    /// that carries the captured stderr.
    pub fn output(&self) -> Result<Captured> {
        let (st, cap) = self.output_any()?;
        check(self, st, String::from_utf8_lossy(&cap.stderr).into_owned())?;
        Ok(cap)
    }

    /// Like [`Cmd::output`], but the exit status is the caller's to judge
    /// (for probes whose failure means "no", not "broken").
    pub fn output_any(&self) -> Result<(ExitStatus, Captured)> {
        let mut r = self.start(Stdio::null(), Stdio::piped(), Stdio::piped())?;
        let mut out = r.child().stdout.take().expect("piped");
        // stderr on its own thread so that neither pipe can fill and stall
        // the child while we read the other.
        let t = bytes_reader(r.child().stderr.take().expect("piped"));
        let mut stdout = Vec::new();
        let _ = out.read_to_end(&mut stdout);
        let stderr = t.join().unwrap_or_default();
        let st = r.wait()?;
        Ok((st, Captured { stdout, stderr }))
    }
}

/// Reads `from` line by line on a thread of its own, without line endings;
/// the channel closes when `from` does.
pub fn line_reader(from: impl Read + Send + 'static) -> (mpsc::Receiver<String>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut r = BufReader::new(from);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    // A serial console ends lines with \r\n, and a guest
                    // may print bytes that are not UTF-8.
                    let line = String::from_utf8_lossy(&buf);
                    let line = line.trim_end_matches(['\n', '\r']).to_string();
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            }
        }
    });
    (rx, reader)
}

/// Reads all of `from` as text on a thread of its own, so that a pipe the
/// caller is not reading yet can never fill and stall the child.
pub fn text_reader(mut from: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = from.read_to_end(&mut v);
        String::from_utf8_lossy(&v).into_owned()
    })
}

fn bytes_reader(mut from: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = from.read_to_end(&mut v);
        v
    })
}

/// Holds a child's stdin on a thread of its own and writes each message
/// sent to it, so that a slow reader never stalls the caller's loop.
/// Dropping the sender closes stdin (which some children take as "stop");
/// a failed write closes it at once.
pub fn stdin_feeder(mut stdin: ChildStdin) -> (mpsc::Sender<Vec<u8>>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let h = std::thread::spawn(move || {
        // The child may be gone before it read everything: the write must
        // fail with EPIPE, not raise a SIGPIPE, whose default action (main
        // restores it for `| head`) would end the whole tool. A write's
        // SIGPIPE goes to the thread that wrote, so blocking it here is
        // enough.
        // SAFETY: sigset_t is plain data, initialised by sigemptyset before
        // use; pthread_sigmask changes this thread's mask only.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGPIPE);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        }
        while let Ok(bytes) = rx.recv() {
            if stdin.write_all(&bytes).is_err() || stdin.flush().is_err() {
                break;
            }
        }
        drop(stdin);
    });
    (tx, h)
}

/// How both sides of [`pipe_filtered`] ended.
#[derive(Debug)]
pub struct Piped {
    pub first: ExitStatus,
    pub second: ExitStatus,
    /// The first program's stderr, then the second's, each whole.
    pub stderr: String,
    /// Lines of the first's output that `keep` turned away.
    pub dropped: usize,
}

/// `first | second`, with every line of `first`'s stdout passing through
/// `keep` on its way. Both stderrs are captured whole, so parallel pipes
/// never interleave their diagnostics; `second`'s stdout is read and let go.
pub fn pipe_filtered(
    first: &Cmd,
    second: &Cmd,
    mut keep: impl FnMut(&str) -> bool + Send + 'static,
) -> Result<Piped> {
    let mut a = first.start(Stdio::null(), Stdio::piped(), Stdio::piped())?;
    let a_out = a.child().stdout.take().expect("piped");
    let a_err = text_reader(a.child().stderr.take().expect("piped"));
    let mut b = second.start(Stdio::piped(), Stdio::piped(), Stdio::piped())?;
    let mut b_in = b.child().stdin.take().expect("piped");
    let b_err = text_reader(b.child().stderr.take().expect("piped"));
    let forward = std::thread::spawn(move || {
        let mut r = BufReader::new(a_out);
        let mut line = String::new();
        let mut dropped = 0usize;
        loop {
            line.clear();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if !keep(&line) {
                        dropped += 1;
                        continue;
                    }
                    if b_in.write_all(line.as_bytes()).is_err() {
                        break;
                    }
                }
            }
        }
        dropped
    });
    if let Some(mut o) = b.child().stdout.take() {
        let _ = std::io::copy(&mut o, &mut std::io::sink());
    }
    let first_status = a.wait()?;
    let dropped = forward.join().unwrap_or(0);
    let second_status = b.wait()?;
    let stderr = a_err.join().unwrap_or_default() + &b_err.join().unwrap_or_default();
    Ok(Piped {
        first: first_status,
        second: second_status,
        stderr,
        dropped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_carries_argv_status_and_stderr() {
        let e = Cmd::new("ls")
            .arg("/nonexistent/ebpf-cross-test")
            .output()
            .unwrap_err();
        match &e {
            Error::CommandFailed {
                argv,
                status,
                stderr,
            } => {
                assert_eq!(argv, &["ls", "/nonexistent/ebpf-cross-test"]);
                assert_eq!(status, "exit status: 2");
                assert!(
                    stderr.contains("No such file or directory"),
                    "stderr: {stderr}"
                );
            }
            other => panic!("wrong error: {other:?}"),
        }
        assert_eq!(
            e.to_string(),
            "`ls /nonexistent/ebpf-cross-test` failed (exit status: 2)"
        );
    }

    #[test]
    fn output_captures_stdout() {
        let c = Cmd::new("echo").arg("hello").output().unwrap();
        assert_eq!(c.stdout_text(), "hello\n");
    }

    #[test]
    fn pipe_filters_lines_between_the_two() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let first = Cmd::new("printf").arg("keep 1\\ndrop\\nkeep 2\\n");
        let second = Cmd::new("dd").arg(format!("of={}", out.display()));
        let p = pipe_filtered(&first, &second, |l| l.starts_with("keep")).unwrap();
        assert!(p.first.success() && p.second.success(), "{p:?}");
        assert_eq!(p.dropped, 1);
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep 1\nkeep 2\n");
    }

    #[test]
    fn the_feeder_writes_and_closes_stdin_when_dropped() {
        let mut r = Cmd::new("cat")
            .start(Stdio::piped(), Stdio::piped(), Stdio::null())
            .unwrap();
        let (tx, writer) = stdin_feeder(r.child().stdin.take().unwrap());
        let out = text_reader(r.child().stdout.take().unwrap());
        tx.send(b"one ".to_vec()).unwrap();
        tx.send(b"two".to_vec()).unwrap();
        drop(tx);
        writer.join().unwrap();
        assert_eq!(out.join().unwrap(), "one two");
        assert!(r.wait().unwrap().success());
    }

    #[test]
    fn line_reader_strips_line_endings() {
        let (rx, h) = line_reader(std::io::Cursor::new(b"a\r\nb\n\xffc".to_vec()));
        h.join().unwrap();
        let lines: Vec<String> = rx.try_iter().collect();
        assert_eq!(lines, ["a", "b", "\u{fffd}c"]);
    }

    #[test]
    fn missing_program_is_a_spawn_error() {
        let e = Cmd::new("/nonexistent/tool").status().unwrap_err();
        assert!(
            matches!(&e, Error::Spawn { tool, .. } if tool == "/nonexistent/tool"),
            "{e:?}"
        );
    }
}
