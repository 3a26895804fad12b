//! The one door for external programs. Every tool (clang, llc, rustc,
//! cargo, bpftool, QEMU) runs through these methods on [`Cmd`], so `-v`
//! shows each argv, a failure always reads the same way, and Ctrl-C can
//! reach every child we started (see [`crate::interrupt`]).

use std::io::Read;
use std::process::{Child, ExitStatus, Stdio};

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
        let mut err = r.child().stderr.take().expect("piped");
        // stderr on its own thread so that neither pipe can fill and stall
        // the child while we read the other.
        let t = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = err.read_to_end(&mut v);
            v
        });
        let mut stdout = Vec::new();
        let _ = out.read_to_end(&mut stdout);
        let stderr = t.join().unwrap_or_default();
        let st = r.wait()?;
        Ok((st, Captured { stdout, stderr }))
    }
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
    fn missing_program_is_a_spawn_error() {
        let e = Cmd::new("/nonexistent/tool").status().unwrap_err();
        assert!(
            matches!(&e, Error::Spawn { tool, .. } if tool == "/nonexistent/tool"),
            "{e:?}"
        );
    }
}
