//! Faults and hostile input that need no fixtures: interrupts, absurd
//! flags, missing homes, and the settings report. Fake tools stand in for
//! clang and llc only where the point is how we treat a tool, not what the
//! tool does.

use crate::common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// A clang that answers the probes, then, asked to compile, writes its pid
/// and hangs: the compile is interrupted while it runs.
fn hanging_toolchain(dir: &Path) -> (PathBuf, PathBuf) {
    let inc = dir.join("clang-include");
    std::fs::create_dir_all(&inc).unwrap();
    std::fs::write(inc.join("stddef.h"), "").unwrap();
    let pidfile = dir.join("clang.pid");
    let clang = script(
        dir,
        "clang",
        &format!(
            "case \"$1\" in\n  --version) echo 'clang version 14.0.6';;\n  -print-file-name=include) echo '{}';;\n  *) echo $$ > '{}'; exec sleep 60;;\nesac",
            inc.display(),
            pidfile.display()
        ),
    );
    let llc = script(
        dir,
        "llc",
        "case \"$1\" in --version) echo 'LLVM version 14.0.6';; *) cat >/dev/null;; esac",
    );
    (clang, llc)
}

fn alive(pid: i32) -> bool {
    // A zombie still has /proc/<pid>; its state letter says it is dead.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.split(") ").nth(1).unwrap_or("").starts_with('Z'))
        .unwrap_or(false)
}

#[test]
fn sigterm_mid_compile_kills_the_child_and_leaves_no_part_files() {
    let d = tempfile::tempdir().unwrap();
    let (clang, llc) = hanging_toolchain(d.path());
    let helpers = d.path().join("libbpf");
    std::fs::create_dir_all(helpers.join("bpf")).unwrap();
    std::fs::write(helpers.join("bpf/bpf_helpers.h"), "").unwrap();
    std::fs::write(d.path().join("p.bpf.c"), "int x;\n").unwrap();
    let out = d.path().join("out");
    let mut c = Command::new(bin());
    sandbox_env(&mut c);
    let child = c
        .current_dir(d.path())
        .args(["compile", "--target", "armv7", "--kernel-version", "6.1"])
        .arg("--libbpf-include")
        .arg(&helpers)
        .args(["p.bpf.c", "-o", "out/"])
        .env("CLANG", &clang)
        .env("LLC", &llc)
        .env("EBPF_CROSS_HOST_LIBBPF", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pidfile = d.path().join("clang.pid");
    let start = Instant::now();
    while !pidfile.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "clang never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(100));
    let clang_pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let parts = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|r| {
                r.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".part"))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(parts(&out).len(), 1, "the compile writes to a .part file");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(parts(&out), Vec::<String>::new(), "no .part left");
    assert!(!out.join("p.o").exists(), "no half-made object");
    let gone = Instant::now();
    while alive(clang_pid) && gone.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !alive(clang_pid),
        "clang {clang_pid} outlived the interrupt"
    );
}

#[test]
fn an_absurd_timeout_is_refused_not_a_panic() {
    let d = tempfile::tempdir().unwrap();
    let r = tool(
        d.path(),
        &[
            "run",
            "--target",
            "armv7",
            "--timeout",
            "18446744073709551615",
        ],
        &[],
    );
    r.fails();
    r.says("invalid value '18446744073709551615' for '--timeout <SECS>': 18446744073709551615 is not in 1..=86400");
}

#[test]
fn flags_refuses_a_predictable_staging_dir_without_a_home() {
    let d = tempfile::tempdir().unwrap();
    let mut c = Command::new(bin());
    sandbox_env(&mut c);
    let o = c
        .current_dir(d.path())
        .args(["flags", "--target", "armv7", "--kernel-version", "6.1"])
        .env_remove("HOME")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("EBPF_CROSS_CACHE_DIR")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(
        err,
        "error: no private place to stage the helper headers: HOME, XDG_CACHE_HOME and EBPF_CROSS_CACHE_DIR are all unset\n  help: pass --state-dir DIR (a directory only you can write), or set EBPF_CROSS_CACHE_DIR\n"
    );
    let tmp_flags = std::env::temp_dir().join("flags");
    assert!(
        !tmp_flags.join("armv7").exists(),
        "nothing staged under the shared temp dir"
    );
}

#[test]
fn config_shows_each_setting_and_its_layer() {
    let d = tempfile::tempdir().unwrap();
    let r = tool(
        d.path(),
        &[
            "config",
            "--target",
            "armv7",
            "--kernel-src",
            "/k/src",
            "--json",
        ],
        &[
            ("EBPF_CROSS_KERNEL_VERSION", "5.10"),
            ("EBPF_CROSS_STATIC", "no"),
        ],
    );
    r.ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let get = |k: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|e| e["key"] == k)
            .unwrap_or_else(|| panic!("{k} in {}", r.stdout))
            .clone()
    };
    assert_eq!(
        get("kernel_tree"),
        serde_json::json!({"key": "kernel_tree", "value": "/k/src", "origin": {"layer": "flag", "at": "--kernel-src"}})
    );
    assert_eq!(
        get("kernel_version"),
        serde_json::json!({"key": "kernel_version", "value": "5.10", "origin": {"layer": "env", "at": "EBPF_CROSS_KERNEL_VERSION"}})
    );
    assert_eq!(
        get("static"),
        serde_json::json!({"key": "static", "value": "false", "origin": {"layer": "env", "at": "EBPF_CROSS_STATIC"}})
    );
    assert_eq!(
        get("rust_target"),
        serde_json::json!({"key": "rust_target", "value": "armv7-unknown-linux-gnueabihf", "origin": {"layer": "profile", "at": "armv7"}})
    );

    let text = tool(d.path(), &["config", "--target", "armv7"], &[]);
    text.ok();
    assert!(
        text.stdout.contains("kernel_version     (not set)\n"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("stamp_version      false\n                   from default\n"),
        "{}",
        text.stdout
    );
}

#[test]
fn a_bad_boolean_in_the_env_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    let r = tool(
        d.path(),
        &["config", "--target", "armv7"],
        &[("EBPF_CROSS_STATIC", "sometimes")],
    );
    r.fails();
    r.says("error: EBPF_CROSS_STATIC=`sometimes` is not a boolean\n  help: set EBPF_CROSS_STATIC to 1 or 0");
}

#[test]
fn doctor_checks_the_linker_build_would_use() {
    let d = tempfile::tempdir().unwrap();
    let var = "CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER";
    let r = tool(
        d.path(),
        &["doctor", "--target", "armv7", "--kernel-version", "6.1"],
        &[(var, "/nonexistent/my-gcc")],
    );
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "  MISSING  cross linker           /nonexistent/my-gcc not found (CargoEnv(\"{var}\"))\n"
        )),
        "{}",
        r.stdout
    );
}

/// A workspace whose loader package sits in `loader/`, with a board file
/// in `loader/boards/`.
fn workspace(root: &Path) -> PathBuf {
    std::fs::write(
        root.join("Cargo.toml"),
        "[workspace]\nmembers = [\"loader\"]\nresolver = \"2\"\n",
    )
    .unwrap();
    let pkg = root.join("loader");
    std::fs::create_dir_all(pkg.join("src")).unwrap();
    std::fs::create_dir_all(pkg.join("bpf")).unwrap();
    std::fs::create_dir_all(pkg.join("boards")).unwrap();
    std::fs::write(
        pkg.join("Cargo.toml"),
        "[package]\nname = \"loader\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[package.metadata.ebpf-cross]\n",
    )
    .unwrap();
    std::fs::write(pkg.join("src/main.rs"), "fn main() {}\n").unwrap();
    std::fs::write(pkg.join("bpf/p.bpf.c"), "int x;\n").unwrap();
    std::fs::write(pkg.join("boards/myboard.toml"), "extends = \"armv7\"\n").unwrap();
    pkg
}

fn bundle_for(dir: &Path, target: &str) -> PathBuf {
    use cargo_ebpf_cross::bundle::{self, Content, Manifest};
    let contents = vec![
        Content {
            path: "bin/loader".into(),
            bytes: b"\x7fELF loader".to_vec(),
            executable: true,
        },
        Content {
            path: "bpf/p.o".into(),
            bytes: b"object".to_vec(),
            executable: false,
        },
    ];
    let m = Manifest {
        tool: "cargo-ebpf-cross".into(),
        tool_version: "0.1.0".into(),
        package: "loader".into(),
        package_version: "0.1.0".into(),
        target: target.into(),
        base_target: "armv7".into(),
        arch: "arm".into(),
        rust_target: "armv7-unknown-linux-gnueabihf".into(),
        clang_target: "armv7a-linux-gnueabihf".into(),
        endian: "little".into(),
        kernel_version: Some("6.1".into()),
        reference_kernel: None,
        kernel_release: None,
        bpf_mode: None,
        llvm_version: "14.0.6".into(),
        loader: "bin/loader".into(),
        objects: vec!["bpf/p.o".into()],
        btf: Vec::new(),
        files: contents
            .iter()
            .map(|c| bundle::file_entry(&c.path, &c.bytes))
            .collect(),
    };
    bundle::write(dir, &format!("loader-0.1.0-{target}"), &m, contents)
        .unwrap()
        .0
}

#[test]
fn install_from_a_workspace_root_finds_the_loader_packages_boards() {
    let d = tempfile::tempdir().unwrap();
    workspace(d.path());
    let b = bundle_for(&d.path().join("out"), "myboard");
    let dest = d.path().join("image");
    let r = tool(
        d.path(),
        &[
            "install",
            "--target",
            "myboard",
            "--bundle",
            b.to_str().unwrap(),
            "--destdir",
            dest.to_str().unwrap(),
        ],
        &[],
    );
    r.ok();
    assert_eq!(
        std::fs::read(dest.join("usr/bin/loader")).unwrap(),
        b"\x7fELF loader"
    );
    assert_eq!(
        std::fs::read(dest.join("usr/share/ebpf/loader/p.o")).unwrap(),
        b"object"
    );
}

#[test]
fn dry_run_build_fails_on_what_the_build_would_fail_on() {
    let d = tempfile::tempdir().unwrap();
    let pkg = workspace(d.path());
    let r = tool(
        &pkg,
        &["--dry-run", "build", "--target", "nosuchboard"],
        &[],
    );
    r.fails();
    r.says("error: unknown target `nosuchboard`");
    let r = tool(
        &pkg,
        &[
            "--dry-run",
            "build",
            "--target",
            "armv7",
            "--kernel-version",
            "abc",
        ],
        &[],
    );
    r.fails();
    r.says("error: `abc` is not a kernel version");
    let r = tool(
        &pkg,
        &[
            "--dry-run",
            "build",
            "--target",
            "armv7",
            "--kernel-src",
            "/nonexistent/linux",
        ],
        &[],
    );
    r.fails();
    r.says("error: kernel source directory `/nonexistent/linux` does not exist");
    assert!(
        !pkg.join("target/ebpf-cross").exists(),
        "a dry run writes nothing"
    );
}

#[test]
fn a_reader_that_stops_early_ends_us_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let d = tempfile::tempdir().unwrap();
    let mut c = Command::new(bin());
    sandbox_env(&mut c);
    let mut child = c
        .current_dir(d.path())
        .args(["targets"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read end before the tool writes, as `| head -0` would.
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    // 13 is SIGPIPE on Linux: the default action, as for any filter.
    assert_eq!(o.status.signal(), Some(13), "{:?} {err}", o.status);
}

/// What `compile` refuses before any tool runs (issue 20 items 5, 12, 14):
/// a text file (clang made an empty object of it), a header (clang exit 74
/// with no diagnostic), two inputs that share an object name in one output
/// dir, and a path with a newline. Nothing is written.
#[test]
fn compile_refuses_non_c_inputs_and_shared_object_names() {
    let d = tempfile::tempdir().unwrap();
    for (name, body) in [
        ("NOTES.txt", "remember the milk\n"),
        ("maps.h", "#define X 1\n"),
        ("x.bpf.c", "int x;\n"),
        ("x.c", "int y;\n"),
        ("new\nline.c", "int z;\n"),
    ] {
        std::fs::write(d.path().join(name), body).unwrap();
    }
    let cases: [(&[&str], &str, &str); 5] = [
        (
            &["NOTES.txt"],
            "error: `NOTES.txt` is not a C source (.c)\n",
            "help: BPF programs are C files named *.bpf.c or *.c; in `programs`, use a glob that matches only those (bpf/*.bpf.c)\n",
        ),
        (
            &["maps.h"],
            "error: `maps.h` is a header, not a BPF program\n",
            "help: compile the .c file that includes it; in `programs`, use a glob that matches only .c files (bpf/*.bpf.c)\n",
        ),
        (
            &["x.bpf.c", "x.c"],
            "error: `x.bpf.c` and `x.c` would both compile to x.o\n",
            "help: rename one of them: an object is named after its source file, without .bpf.c or .c\n",
        ),
        (
            &["x.c", "x.c"],
            "error: `x.c` and `x.c` would both compile to x.o\n",
            "help: rename one of them",
        ),
        (
            &["new\nline.c"],
            "error: \"new\\nline.c\" has a control character in its path\n",
            "help: rename the file or the directory above it\n",
        ),
    ];
    for (files, error, help) in cases {
        let mut args = vec!["compile", "--target", "armv7", "--kernel-version", "6.1"];
        args.extend_from_slice(files);
        args.extend(["-o", "out/"]);
        let r = tool(d.path(), &args, &[]);
        r.fails().says(error).says(help);
        assert_eq!(r.code, 1, "{files:?}");
        assert!(!d.path().join("out").exists(), "{files:?} wrote out/");
    }
}

/// Empty values are refused where they enter (issue 20 items 10 and 14):
/// on the command line for any option, and as a board file's path, where
/// `source = ""` named the board file's own directory. A bad `extends`
/// names the file it came from.
#[test]
fn empty_values_and_bad_extends_are_refused_naming_where_they_came_from() {
    let d = tempfile::tempdir().unwrap();
    let cases: [&[&str]; 4] = [
        &["compile", "--target", "armv7", "--kernel", "", "x.c"],
        &["run", "--target", "armv7", "--expect", ""],
        &["kernel", "fetch", "--target", "armv7", "--kernel", ""],
        &["build", "--target", "armv7", "--kernel-version="],
    ];
    for (args, flag) in cases
        .iter()
        .zip(["--kernel", "--expect", "--kernel", "--kernel-version"])
    {
        let r = tool(d.path(), args, &[]);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        r.says(&format!(
            "error: {flag} was given an empty value (an unset variable in a script?); give it a value, or leave the option out\n"
        ));
    }
    let boards = d.path().join("boards");
    std::fs::create_dir_all(&boards).unwrap();
    std::fs::write(boards.join("typo.toml"), "extends = \"armv77\"\n").unwrap();
    std::fs::write(
        boards.join("empty.toml"),
        "extends = \"armv7\"\n[kernel]\nsource = \"\"\n",
    )
    .unwrap();
    tool(d.path(), &["config", "--target", "typo"], &[])
        .fails()
        .says("error: boards/typo.toml: `extends = \"armv77\"` names no profile\n")
        .says("help: extend a built-in (armv7, ");
    tool(d.path(), &["config", "--target", "empty"], &[])
        .fails()
        .says(
            "error: boards/empty.toml: `[kernel] source` is empty\n  help: give `[kernel] source` a path, or delete the line to inherit it\n"
        );
}

/// `--target armv7 --target armv7` built and bundled the same board twice.
#[test]
fn the_same_board_twice_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let r = tool(
        d.path(),
        &[
            "build", "--target", "armv7", "--target", "aarch64", "--target", "armv7",
        ],
        &[],
    );
    r.fails()
        .says("error: --target armv7 is given twice\n  help: name each board once; two boards of one triple need two board files (boards/NAME.toml)\n");
    assert_eq!(r.code, 1);
}

/// A stray `clang-18` with no `llc-18` first on PATH no longer hides the
/// clang-14/llc-14 pair behind it (issue 20 item 14): the plan uses the
/// pair.
#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn a_stray_newer_clang_without_its_llc_does_not_hide_a_working_pair() {
    let d = tempfile::tempdir().unwrap();
    let bin_dir = d.path().join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let inc = d.path().join("clang18-include");
    std::fs::create_dir_all(&inc).unwrap();
    std::fs::write(inc.join("stddef.h"), "").unwrap();
    script(
        &bin_dir,
        "clang-18",
        &format!(
            "case \"$1\" in\n  --version) echo 'clang version 18.1.8';;\n  -print-file-name=include) echo '{}';;\n  *) exit 1;;\nesac",
            inc.display()
        ),
    );
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let real_clang = std::process::Command::new("which")
        .arg("clang-14")
        .output()
        .unwrap();
    let real_clang = String::from_utf8(real_clang.stdout)
        .unwrap()
        .trim()
        .to_string();
    assert!(
        !real_clang.is_empty(),
        "clang-14 missing: run scripts/setup.sh"
    );
    std::fs::write(d.path().join("p.bpf.c"), "int x;\n").unwrap();
    let r = tool(
        d.path(),
        &[
            "--dry-run",
            "compile",
            "--target",
            "aarch64",
            "--kernel-version",
            "6.1",
            "p.bpf.c",
        ],
        &[("PATH", &path), ("CLANG", ""), ("LLC", "")],
    );
    r.ok();
    assert!(
        r.stdout.starts_with(&format!("{real_clang} ")),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains(" | "), "{}", r.stdout);
    let llc = r.stdout.split(" | ").nth(1).unwrap();
    assert!(llc.contains("llc-14 ") || llc.contains("/llc "), "{llc}");
}

/// A kernel tree path that is not UTF-8 reached clang as U+FFFD (issue 20
/// item 14); it is refused naming the flag's directory.
#[test]
fn a_kernel_path_that_is_not_utf8_is_refused() {
    use std::os::unix::ffi::OsStrExt;
    let d = tempfile::tempdir().unwrap();
    let odd = d.path().join(std::ffi::OsStr::from_bytes(b"linux-\xff"));
    std::fs::create_dir_all(&odd).unwrap();
    std::fs::write(d.path().join("p.bpf.c"), "int x;\n").unwrap();
    let mut c = Command::new(bin());
    sandbox_env(&mut c);
    let o = c
        .current_dir(d.path())
        .args(["compile", "--target", "armv7", "--kernel-src"])
        .arg(&odd)
        .arg("p.bpf.c")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "error: the kernel source directory `{}` is not a UTF-8 path\n  help: move or link the tree to a path of plain text (clang takes -I paths as text)\n",
            odd.display()
        )),
        "{stderr}"
    );
}
