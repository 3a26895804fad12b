//! Terminal output in cargo's style: a right-aligned, coloured verb, then
//! the message. Kept global because every step reports through it.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy)]
pub struct Ui {
    pub verbose: bool,
    pub quiet: bool,
    pub color: bool,
    /// Progress goes to stderr always; with json messages stdout is reserved.
    pub json: bool,
}

static UI: OnceLock<Ui> = OnceLock::new();

pub fn init(verbose: bool, quiet: bool, color: ColorChoice) {
    let color = match color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    };
    let _ = UI.set(Ui {
        verbose,
        quiet,
        color,
        json: false,
    });
}

pub fn get() -> Ui {
    *UI.get_or_init(|| Ui {
        verbose: false,
        quiet: false,
        color: false,
        json: false,
    })
}

fn paint(code: &str, s: &str) -> String {
    if get().color {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

/// `   Compiling bpf/x.bpf.c (armv7, linux 6.1.176)`
pub fn status(verb: &str, msg: &str) {
    if get().quiet {
        return;
    }
    let v = paint("1;32", &format!("{verb:>12}"));
    let _ = writeln!(std::io::stderr().lock(), "{v} {msg}");
}

/// `note: ...`, for a choice made on the user's behalf.
pub fn note(msg: &str) {
    if get().quiet {
        return;
    }
    let v = paint("1;36", "note");
    let _ = writeln!(std::io::stderr().lock(), "{v}: {msg}");
}

pub fn warn(msg: &str) {
    let v = paint("1;33", "warning");
    let _ = writeln!(std::io::stderr().lock(), "{v}: {msg}");
}

pub fn error(msg: &str, hint: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{}: {msg}", paint("1;31", "error"));
    for (i, line) in hint.lines().enumerate() {
        if i == 0 {
            let _ = writeln!(err, "  {}: {line}", paint("1;36", "help"));
        } else {
            let _ = writeln!(err, "  {line}");
        }
    }
}

/// With -v, every command is shown as the argv it runs.
pub fn command(cmd: &crate::plan::Cmd) {
    if get().verbose {
        let _ = writeln!(
            std::io::stderr().lock(),
            "{} `{}`",
            paint("1;32", &format!("{:>12}", "Running")),
            cmd.display()
        );
    }
}

/// A tool's captured diagnostics, written in one piece so that parallel
/// compiles never interleave their lines.
pub fn diagnostics(text: &str) {
    if text.trim().is_empty() {
        return;
    }
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    if !text.ends_with('\n') {
        let _ = writeln!(err);
    }
}
