//! Shared by the integration tests: the binary, the fixtures that
//! scripts/setup.sh fetched, and small runners.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

pub use cargo_ebpf_cross::message::{Message, RunReport};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cargo-ebpf-cross"))
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crate sits in the repo")
        .to_path_buf()
}

/// Debian's trees, images and busybox, as scripts/setup.sh described them.
/// Missing fixtures fail the test: skipping would report a pass for a
/// check that never ran.
pub fn fixtures() -> HashMap<String, String> {
    let env_file = std::env::var_os("EBPF_CROSS_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".fixtures"))
        .join("env.sh");
    let text = std::fs::read_to_string(&env_file).unwrap_or_else(|e| {
        panic!(
            "fixtures missing ({}: {e}); run scripts/setup.sh first",
            env_file.display()
        )
    });
    text.lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches(['"', '\'']).to_string()))
        .collect()
}

pub fn fx(key: &str) -> String {
    fixtures()
        .remove(key)
        .unwrap_or_else(|| panic!("{key} not in the fixtures env; rerun scripts/setup.sh"))
}

/// A fixture that must be a directory (a kernel tree).
pub fn fx_dir(key: &str) -> String {
    let v = fx(key);
    assert!(
        Path::new(&v).is_dir(),
        "{key}={v} does not exist: run scripts/setup.sh"
    );
    v
}

/// X.Y.Z from a build tree's version.h, which keeps the full sublevel.
pub fn tree_version(build: &str) -> String {
    let vh =
        std::fs::read_to_string(Path::new(build).join("include/generated/uapi/linux/version.h"))
            .unwrap();
    let get = |name: &str| {
        vh.lines()
            .find_map(|l| l.strip_prefix(&format!("#define {name} ")))
            .unwrap_or_else(|| panic!("{name} not in version.h"))
            .trim()
            .to_string()
    };
    format!(
        "{}.{}.{}",
        get("LINUX_VERSION_MAJOR"),
        get("LINUX_VERSION_PATCHLEVEL"),
        get("LINUX_VERSION_SUBLEVEL")
    )
}

/// Every file under `dir`, relative, with `/` separators, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(
                    p.strip_prefix(base)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

pub fn fixture_4_19() -> PathBuf {
    repo().join("tests/fixtures/linux-4.19-arm")
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
    pub fn fails(&self) -> &Self {
        assert_ne!(
            self.code, 0,
            "expected failure; stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "panic: {}", self.stderr);
        self
    }
    /// Asserts that stderr holds `text`, showing all of stderr if not.
    pub fn says(&self, text: &str) -> &Self {
        assert!(
            self.stderr.contains(text),
            "stderr lacks {text:?}:\n{}",
            self.stderr
        );
        self
    }
    /// Asserts that stderr does not hold `text`, showing all of stderr if
    /// it does.
    pub fn lacks(&self, text: &str) -> &Self {
        assert!(
            !self.stderr.contains(text),
            "stderr holds {text:?}:\n{}",
            self.stderr
        );
        self
    }
}

fn to_run(o: Output) -> Run {
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// A HOME of the tests' own, so nothing reads or writes the developer's
/// dotfiles and caches. Cargo and rustup keep their real homes, which are
/// pinned first because they default to paths under HOME.
pub fn sandbox_env(c: &mut Command) {
    let real_home = std::env::var_os("HOME").map(PathBuf::from);
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| real_home.as_ref().map(|h| h.join(".cargo")));
    let rustup_home = std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .or_else(|| real_home.as_ref().map(|h| h.join(".rustup")));
    if let Some(h) = cargo_home {
        c.env("CARGO_HOME", h);
    }
    if let Some(h) = rustup_home {
        c.env("RUSTUP_HOME", h);
    }
    let home = Path::new(env!("CARGO_TARGET_TMPDIR")).join("home");
    std::fs::create_dir_all(&home).expect("sandbox HOME");
    c.env("HOME", &home);
    for k in [
        "XDG_CACHE_HOME",
        "XDG_CONFIG_HOME",
        "CC",
        "CXX",
        "TARGET_CC",
        "HOST_CC",
        "SOURCE_DATE_EPOCH",
        "CARGO_ENCODED_RUSTFLAGS",
        // The suite's own target dir must not redirect the projects the
        // tests build.
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET_DIR",
    ] {
        c.env_remove(k);
    }
    // Per-target overrides a developer may export for their own boards.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("CC_") || (k.starts_with("CARGO_TARGET_") && k.ends_with("_LINKER")) {
            c.env_remove(k.as_ref());
        }
    }
}

/// Runs the tool with a clean slate of our own env variables, so the
/// developer's shell cannot change what a test sees.
pub fn tool(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = tool_cmd();
    c.current_dir(cwd).args(args);
    for k in [
        "EBPF_CROSS_KERNEL",
        "EBPF_CROSS_CACHE_DIR",
        "EBPF_CROSS_DEBIAN_MIRROR",
        "EBPF_CROSS_DEBIAN_SECURITY_MIRROR",
        "EBPF_CROSS_DEBIAN_KEYRING",
        "CARGO_NET_OFFLINE",
        "EBPF_CROSS_KERNEL_SRC",
        "EBPF_CROSS_KERNEL_BUILD",
        "EBPF_CROSS_KERNEL_VERSION",
        "EBPF_CROSS_LIBBPF_INCLUDE",
        "EBPF_CROSS_KERNEL_ALLOW",
        "EBPF_CROSS_RUST_TARGET",
        "EBPF_CROSS_KERNEL_IMAGE",
        "EBPF_CROSS_BUSYBOX",
        "EBPF_CROSS_SSH_CONFIG",
        "EBPF_CROSS_BPF_CFLAGS",
        "EBPF_CROSS_STALL_TIMEOUT",
        "EBPF_CROSS_HOST_LIBBPF",
        "EBPF_CROSS_STATIC",
        "CLANG",
        "LLC",
        "RUSTFLAGS",
    ] {
        c.env_remove(k);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    to_run(c.output().expect("run cargo-ebpf-cross"))
}

pub fn objdump() -> String {
    for n in ["llvm-objdump-14", "llvm-objdump"] {
        if which(n) {
            return n.to_string();
        }
    }
    panic!("llvm-objdump not found; run scripts/setup.sh");
}

pub fn which(n: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(n).is_file()))
        .unwrap_or(false)
}

pub fn disasm(obj: &Path) -> String {
    let o = Command::new(objdump())
        .arg("-d")
        .arg(obj)
        .output()
        .expect("objdump");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The instruction text of each line (the column after the encoding).
pub fn insns(dis: &str) -> Vec<String> {
    dis.lines()
        .filter_map(|l| {
            let parts: Vec<&str> = l.split('\t').collect();
            (parts.len() >= 3 && parts[0].trim_end().ends_with(':'))
                .then(|| parts[2].trim().to_string())
        })
        .collect()
}

/// Every load from the context pointer (r1 on entry), in order.
pub fn ctx_loads(i: &[String]) -> Vec<String> {
    i.iter().filter(|x| x.contains("(r1 +")).cloned().collect()
}

pub fn elf_machine(bytes: &[u8]) -> (u8, u8, u16) {
    let m = if bytes[5] == 1 {
        u16::from_le_bytes([bytes[18], bytes[19]])
    } else {
        u16::from_be_bytes([bytes[18], bytes[19]])
    };
    (bytes[4], bytes[5], m)
}

/// A fresh copy of the example loader's sources at `to` (any old copy is
/// removed first), so nothing is ever written into examples/.
pub fn fresh_example(to: &Path) -> PathBuf {
    let ex = repo().join("examples/open-example");
    let _ = std::fs::remove_dir_all(to);
    for sub in ["src", "bpf"] {
        copy_dir(&ex.join(sub), &to.join(sub));
    }
    for f in ["Cargo.toml", "Cargo.lock", "build.rs"] {
        std::fs::copy(ex.join(f), to.join(f)).unwrap();
    }
    to.to_path_buf()
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}

/// Nothing listens here: a test that reaches for the network fails.
pub const NO_NETWORK: &str = "http://127.0.0.1:9/debian";

/// The reference-kernel cache and mirror of a test that must not download:
/// setup's cache, and a mirror nothing answers.
pub fn cached_env() -> Vec<(&'static str, String)> {
    vec![
        ("EBPF_CROSS_CACHE_DIR", fx_dir("EBPF_CROSS_REFERENCE_CACHE")),
        ("EBPF_CROSS_DEBIAN_MIRROR", NO_NETWORK.to_string()),
    ]
}

/// The tool with [`cached_env`].
pub fn cached_tool(cwd: &Path, args: &[&str]) -> Run {
    let env = cached_env();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    tool(cwd, args, &pairs)
}

pub fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s.trim()).unwrap_or_else(|e| panic!("{e}: {s}"))
}

/// tests/bpf/seed.c compiled into `obj` against a kernel setup cached.
pub fn compile_seed(target: &str, kernel: &str, obj: &Path) -> Run {
    cached_tool(
        &repo(),
        &[
            "compile",
            "--target",
            target,
            "--kernel",
            kernel,
            repo().join("tests/bpf/seed.c").to_str().unwrap(),
            "-o",
            obj.to_str().unwrap(),
        ],
    )
}

/// `kernel fetch --json` of a kernel setup cached.
pub fn fetched(target: &str, kernel: &str) -> serde_json::Value {
    json(
        &cached_tool(
            &repo(),
            &[
                "kernel", "fetch", "--target", target, "--kernel", kernel, "--json",
            ],
        )
        .ok()
        .stdout,
    )
}

/// Every line of a `--message-format json` stdout, read as the tool's own
/// message type: a line that is not one of its messages fails the test.
pub fn messages(stdout: &str) -> Vec<Message> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The messages among a stdout's lines: each line that opens an object
/// must be one of the tool's messages; other lines are skipped.
pub fn messages_among(stdout: &str) -> Vec<Message> {
    stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The `run` verdict among a stdout's messages.
pub fn run_report(stdout: &str) -> Option<RunReport> {
    messages_among(stdout).into_iter().find_map(|m| match m {
        Message::Run(r) => Some(r),
        _ => None,
    })
}

/// The bundle that `build --message-format json` reported.
pub fn bundle_path(stdout: &str) -> PathBuf {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Message>(l).ok())
        .find_map(|m| match m {
            Message::Bundle(a) => Some(a.path),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no bundle message: {stdout}"))
}

/// One QEMU guest at a time in the whole suite: the machine has two cores,
/// and the seconds each boot reports are the benchmark. Every file takes
/// this one lock, since they all run in one test process.
pub fn one_guest() -> MutexGuard<'static, ()> {
    static GUEST: Mutex<()> = Mutex::new(());
    GUEST.lock().unwrap_or_else(|p| p.into_inner())
}

/// The target dir every test that builds the example shares, so aya and
/// the loader's other crates compile once per triple. Cargo locks it, so
/// the tests may build into it side by side.
pub fn shared_target() -> PathBuf {
    repo().join("target/e2e")
}

/// The reference-kernel cache scripts/setup.sh filled.
pub fn shared_cache() -> String {
    fx_dir("EBPF_CROSS_REFERENCE_CACHE")
}

/// A copy of the example named `name` in [`shared_target`], made fresh
/// once per test process, so that nothing is written into examples/.
pub fn shared_example(name: &str) -> &'static Path {
    static MADE: Mutex<Vec<(String, &'static Path)>> = Mutex::new(Vec::new());
    let mut made = MADE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, p)) = made.iter().find(|(n, _)| n == name) {
        return p;
    }
    let p: &'static Path = Box::leak(fresh_example(&shared_target().join(name)).into_boxed_path());
    made.push((name.to_string(), p));
    p
}

/// The tool as a bare Command, with the sandbox and environment of
/// [`tool`], for tests that need its raw output or stdin.
pub fn tool_cmd() -> Command {
    let mut c = Command::new(bin());
    sandbox_env(&mut c);
    c
}

pub fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

pub fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// Every JSON line of `--message-format json` output.
pub fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// stdout then stderr of a finished command, for failure messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn read(p: impl AsRef<Path>) -> String {
    let p = p.as_ref();
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

pub fn u16_le(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

/// A file's permission bits.
pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}
