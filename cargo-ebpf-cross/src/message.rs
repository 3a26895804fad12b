//! The `--message-format json` stream: every line `build`, `run` and a
//! kernel matrix print on stdout for a machine, as one type. A line is one
//! JSON object whose `kind` names the variant; docs/messages.md is the
//! user's copy of this file, and the tests below pin each kind's keys, so a
//! rename cannot slip out unnoticed.
//!
//! Commands that print one document (`targets --json`, `kernel fetch
//! --json`, `kernel list --json`, `config --json`, `flags --format json`)
//! are not a stream and carry no `kind`; their types live beside their
//! commands.

use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One line of the stream. Consumers must ignore keys they do not know:
/// new keys may be added, existing ones keep their name and type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Message {
    /// A compiled BPF object of one board.
    Object(Artifact),
    /// A board's loader executable, as cargo linked it.
    Loader(Artifact),
    /// A board's bundle (the tarball `install` and `run` take).
    Bundle(Artifact),
    /// The end of a `build`: one entry per board (and package).
    Summary(Summary),
    /// The verdict of a `run`, under QEMU or on a board over ssh.
    Run(RunReport),
    /// One kernel of a matrix. Its kind predates the enum and keeps its
    /// hyphen, since users' parsers match on it.
    #[serde(rename = "matrix-kernel")]
    MatrixKernel(MatrixRow),
}

impl Message {
    /// The `kind` its line carries.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Object(_) => "object",
            Message::Loader(_) => "loader",
            Message::Bundle(_) => "bundle",
            Message::Summary(_) => "summary",
            Message::Run(_) => "run",
            Message::MatrixKernel(_) => "matrix-kernel",
        }
    }

    /// The file of an `object`, `loader` or `bundle` message.
    pub fn artifact(&self) -> Option<&Artifact> {
        match self {
            Message::Object(a) | Message::Loader(a) | Message::Bundle(a) => Some(a),
            _ => None,
        }
    }
}

/// A file `build` made.
///
/// The keys are in the order the untyped lines printed them (sorted), so
/// the bytes of these lines did not change with the type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    pub package: String,
    pub path: PathBuf,
    pub sha256: String,
    /// The board (profile) name.
    pub target: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// How many boards built.
    pub ok: usize,
    pub failed: usize,
    pub targets: Vec<SummaryTarget>,
}

/// One board of a build: `bundle` when it built, `error` when it did not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryTarget {
    pub package: String,
    pub target: String,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The result of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub target: String,
    pub passed: bool,
    pub attached: bool,
    pub matched: Vec<String>,
    pub missing: Vec<String>,
    pub trace_lines: usize,
    /// How often the loader's programs ran (kernels from 5.8 count it).
    pub program_runs: Option<u64>,
    pub seconds: f64,
    pub timed_out: bool,
    pub interrupted: bool,
    /// The guest's or board's `uname -r`.
    pub kernel: Option<String>,
    pub loader_exit: Option<String>,
    /// Why it failed, in one line; None when it passed.
    pub reason: Option<String>,
}

/// One kernel of a matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatrixRow {
    /// The kernel as the user named it (`debian:6.1`, a board's name).
    pub entry: String,
    pub target: String,
    pub verdict: Verdict,
    pub passed: bool,
    pub stage: Stage,
    pub bundle: Option<PathBuf>,
    /// The guest's `uname -r`.
    pub kernel: Option<String>,
    pub attached: Option<bool>,
    pub trace_lines: Option<usize>,
    pub matched: Vec<String>,
    pub missing: Vec<String>,
    /// From the end of the build to the verdict.
    pub seconds: Option<f64>,
    pub timed_out: bool,
    pub reason: Option<String>,
}

/// A matrix row's verdict, spelled as its table shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Pass,
    Fail,
}

impl Verdict {
    pub fn of(passed: bool) -> Verdict {
        if passed {
            Verdict::Pass
        } else {
            Verdict::Fail
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
        }
    }
}

/// Where one kernel's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Fetching the kernel or finding its image and busybox.
    Kernel,
    /// Compiling the objects, linking the loader, bundling.
    Build,
    /// The boot and the verdict.
    Boot,
}

/// Writes one message as one line on stdout. A closed stdout (`| head`)
/// is not the build's failure, so a write error is dropped.
pub fn emit(m: &Message) {
    let _ = writeln!(std::io::stdout().lock(), "{}", line(m));
}

/// The line `emit` writes, without its newline.
pub fn line(m: &Message) -> String {
    // Only a path that is not UTF-8 fails, and a JSON line cannot carry one.
    serde_json::to_string(m).expect("a message serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact() -> Artifact {
        Artifact {
            package: "probe".into(),
            path: "/t/ebpf-cross/bbb/probe.o".into(),
            sha256: "ab12".into(),
            target: "bbb".into(),
        }
    }

    fn run_report() -> RunReport {
        RunReport {
            target: "armv7".into(),
            passed: true,
            attached: true,
            matched: vec!["file /".into()],
            missing: vec![],
            trace_lines: 19,
            program_runs: Some(42),
            seconds: 12.5,
            timed_out: false,
            interrupted: false,
            kernel: Some("6.1.0-50-armmp".into()),
            loader_exit: None,
            reason: None,
        }
    }

    /// One message of each kind, and its exact line: renaming a key or a
    /// kind, or changing a type, fails here before it reaches a user.
    fn pinned() -> Vec<(Message, &'static str)> {
        vec![
            (
                Message::Object(artifact()),
                r#"{"kind":"object","package":"probe","path":"/t/ebpf-cross/bbb/probe.o","sha256":"ab12","target":"bbb"}"#,
            ),
            (
                Message::Loader(Artifact {
                    path: "/t/armv7-unknown-linux-gnueabihf/release/probe".into(),
                    ..artifact()
                }),
                r#"{"kind":"loader","package":"probe","path":"/t/armv7-unknown-linux-gnueabihf/release/probe","sha256":"ab12","target":"bbb"}"#,
            ),
            (
                Message::Bundle(Artifact {
                    path: "/t/ebpf-cross/bbb/probe-bbb.tar.gz".into(),
                    ..artifact()
                }),
                r#"{"kind":"bundle","package":"probe","path":"/t/ebpf-cross/bbb/probe-bbb.tar.gz","sha256":"ab12","target":"bbb"}"#,
            ),
            (
                Message::Summary(Summary {
                    ok: 1,
                    failed: 1,
                    targets: vec![
                        SummaryTarget {
                            package: "probe".into(),
                            target: "bbb".into(),
                            ok: true,
                            bundle: Some("/t/probe-bbb.tar.gz".into()),
                            error: None,
                        },
                        SummaryTarget {
                            package: "probe".into(),
                            target: "rpi4".into(),
                            ok: false,
                            bundle: None,
                            error: Some("no linker".into()),
                        },
                    ],
                }),
                r#"{"kind":"summary","ok":1,"failed":1,"targets":[{"package":"probe","target":"bbb","ok":true,"bundle":"/t/probe-bbb.tar.gz"},{"package":"probe","target":"rpi4","ok":false,"error":"no linker"}]}"#,
            ),
            (
                Message::Run(run_report()),
                r#"{"kind":"run","target":"armv7","passed":true,"attached":true,"matched":["file /"],"missing":[],"trace_lines":19,"program_runs":42,"seconds":12.5,"timed_out":false,"interrupted":false,"kernel":"6.1.0-50-armmp","loader_exit":null,"reason":null}"#,
            ),
            (
                Message::MatrixKernel(MatrixRow {
                    entry: "debian:6.1".into(),
                    target: "armv7".into(),
                    verdict: Verdict::Fail,
                    passed: false,
                    stage: Stage::Build,
                    bundle: None,
                    kernel: None,
                    attached: None,
                    trace_lines: None,
                    matched: vec![],
                    missing: vec!["file /".into()],
                    seconds: None,
                    timed_out: false,
                    reason: Some("clang failed".into()),
                }),
                r#"{"kind":"matrix-kernel","entry":"debian:6.1","target":"armv7","verdict":"FAIL","passed":false,"stage":"build","bundle":null,"kernel":null,"attached":null,"trace_lines":null,"matched":[],"missing":["file /"],"seconds":null,"timed_out":false,"reason":"clang failed"}"#,
            ),
        ]
    }

    #[test]
    fn each_kind_prints_its_pinned_line() {
        for (m, want) in pinned() {
            assert_eq!(line(&m), want);
        }
    }

    #[test]
    fn each_kind_reads_back_as_itself() {
        for (m, text) in pinned() {
            let back: Message = serde_json::from_str(text).unwrap();
            assert_eq!(back, m, "{text}");
        }
    }

    #[test]
    fn kind_names_the_key_its_line_carries_and_every_kind_is_pinned() {
        let kinds: Vec<&str> = pinned().iter().map(|(m, _)| m.kind()).collect();
        for ((m, text), kind) in pinned().iter().zip(&kinds) {
            let v: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(v["kind"], *kind, "{m:?}");
        }
        // A new variant makes `kind` stop compiling; this list makes it
        // join `pinned` (and docs/messages.md) too.
        assert_eq!(
            kinds,
            [
                "object",
                "loader",
                "bundle",
                "summary",
                "run",
                "matrix-kernel"
            ]
        );
    }

    #[test]
    fn unknown_keys_are_ignored_so_new_keys_do_not_break_readers() {
        let text =
            r#"{"kind":"bundle","package":"p","path":"/b","sha256":"00","target":"t","size":3}"#;
        let m: Message = serde_json::from_str(text).unwrap();
        assert!(matches!(m, Message::Bundle(a) if a.path == std::path::Path::new("/b")));
    }

    #[test]
    fn a_run_line_without_the_newer_optional_keys_still_reads() {
        // program_runs came later than the rest; a reader of an older
        // tool's lines gets None for it.
        let text = r#"{"kind":"run","target":"armv7","passed":false,"attached":false,"matched":[],"missing":["x"],"trace_lines":0,"seconds":1.0,"timed_out":true,"interrupted":false}"#;
        let Message::Run(r) = serde_json::from_str(text).unwrap() else {
            panic!("not a run");
        };
        assert_eq!(r.program_runs, None);
        assert_eq!(r.reason, None);
        assert!(r.timed_out);
    }
}
