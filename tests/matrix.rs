//! Issue 9, parts 2 and 4: `run` over a matrix of kernels. Refusals need
//! nothing; the rest boots Debian's real kernels from the shared cache that
//! scripts/setup.sh filled (the mirror points at a closed port, so a test
//! that would download fails instead).
//!
//! The CI matrix: every reference kernel of armv7, aarch64 and riscv64,
//! each booted twice: a kprobe in the example's bundle, built against that
//! kernel's own headers (the example's embedded one; on riscv64, whose
//! kprobes cannot print, tests/bpf/kprobe_relay.bpf.c by path), and a
//! tracepoint program with a legacy `maps` section given by path.

use crate::common::*;
use cargo_ebpf_cross::message::{MatrixRow, Stage, Verdict};
use std::path::{Path, PathBuf};

fn example_project() -> &'static Path {
    shared_example("matrix-open-example")
}

fn cached_env(cache: &str) -> Vec<(&'static str, String)> {
    vec![
        ("EBPF_CROSS_CACHE_DIR", cache.to_string()),
        ("EBPF_CROSS_DEBIAN_MIRROR", NO_NETWORK.to_string()),
        (
            "EBPF_CROSS_DEBIAN_SECURITY_MIRROR",
            format!("{NO_NETWORK}-security"),
        ),
    ]
}

fn run_tool(cwd: &Path, args: &[String], env: &[(&'static str, String)]) -> Run {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    tool(cwd, &args, &env)
}

fn rows(stdout: &str) -> Vec<MatrixRow> {
    stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .filter_map(|l| {
            match serde_json::from_str::<Message>(l).unwrap_or_else(|e| panic!("{e}: {l}")) {
                Message::MatrixKernel(row) => Some(row),
                _ => None,
            }
        })
        .collect()
}

/// A row's seconds as its JSON line has them.
fn secs(row: &MatrixRow) -> String {
    row.seconds.map_or("null".into(), |s| s.to_string())
}

// ---------------------------------------------------------------------------
// Refusals: no network, no fixtures

#[test]
fn a_release_the_arch_lacks_is_refused_before_anything_runs() {
    let t = tempfile::tempdir().unwrap();
    let r = run_tool(
        t.path(),
        &s(&[
            "--color",
            "never",
            "run",
            "--target",
            "riscv64",
            "--kernel",
            "debian:6.12",
            "--kernel",
            "debian:5.10",
            "--bundle",
            "nothing.tar.gz",
        ]),
        &cached_env(&t.path().join("cache").display().to_string()),
    );
    r.fails();
    assert_eq!(
        r.stderr,
        "error: profile `riscv64` has no reference kernel in debian:5.10 (bullseye)\n  help: this profile has: debian:6.12 (riscv64 riscv64); or pass your board's tree with --kernel-src\n"
    );
}

#[test]
fn one_image_or_tree_for_every_kernel_is_refused() {
    let t = tempfile::tempdir().unwrap();
    for (flag, shown) in [
        (
            "--kernel-image",
            "--kernel-image (or EBPF_CROSS_KERNEL_IMAGE)",
        ),
        ("--kernel-src", "--kernel-src"),
    ] {
        let r = run_tool(
            t.path(),
            &s(&[
                "--color", "never", "run", "--target", "armv7", "--kernel", "all", flag, "x",
            ]),
            &[],
        );
        r.fails();
        assert_eq!(
            r.stderr.lines().next().unwrap(),
            format!("error: {shown} names one kernel, but a matrix boots each kernel with its own")
        );
    }
}

#[test]
fn several_kernels_are_only_for_run() {
    let t = tempfile::tempdir().unwrap();
    let r = run_tool(
        t.path(),
        &s(&[
            "--color",
            "never",
            "flags",
            "--target",
            "armv7",
            "--kernel",
            "debian:6.1",
            "--kernel",
            "debian:5.10",
        ]),
        &[],
    );
    r.fails();
    assert_eq!(
        r.stderr.lines().next().unwrap(),
        "error: --kernel is given 2 times (debian:6.1, debian:5.10)"
    );
}

// ---------------------------------------------------------------------------
// Real kernels from the shared cache

/// How the kprobe is shown to fire on a target.
#[derive(Clone, Copy, PartialEq)]
enum Kprobe {
    /// The example's embedded kprobe prints each file name it sees.
    Embedded,
    /// riscv64's kprobes run as NMIs, whose bpf_trace_printk lines the
    /// ring buffer drops; tests/bpf/kprobe_relay.bpf.c hands what its
    /// kprobe read to a tracepoint, which prints it.
    Relayed,
}

/// tests/bpf/NAME.bpf.c compiled for a target against one kernel.
fn compile_for(
    target: &str,
    kernel: &str,
    name: &str,
    env: &[(&'static str, String)],
) -> (tempfile::TempDir, PathBuf) {
    let objs = tempfile::tempdir().unwrap();
    let mut compile = s(&["compile", "--target", target, "--kernel", kernel]);
    compile.push(
        repo()
            .join(format!("tests/bpf/{name}.bpf.c"))
            .display()
            .to_string(),
    );
    compile.extend(["-o".into(), format!("{}/", objs.path().display())]);
    run_tool(&repo(), &compile, env).ok();
    let obj = objs.path().join(format!("{name}.o"));
    (objs, obj)
}

/// The CI matrix of one target: a kprobe in the example's bundle, built
/// per kernel, then the legacy-map tracepoint object by path with the
/// first kernel's bundle (`--bundle`: one bundle on every kernel). Both
/// must fire on every kernel.
fn ci_matrix(target: &str, which: &[&str], kernels: &[(&str, &str)], kprobe: Kprobe) {
    let cache = shared_cache();
    let env = cached_env(&cache);
    let which: Vec<String> = which
        .iter()
        .flat_map(|k| ["--kernel".to_string(), k.to_string()])
        .collect();
    let expect = match kprobe {
        Kprobe::Embedded => "file /",
        Kprobe::Relayed => "kprobe read file /",
    };
    let mut args = s(&["--color", "never", "run", "--target", target]);
    args.extend(which.iter().cloned());
    args.extend(s(&["--release", "--locked", "--target-dir"]));
    args.push(shared_target().display().to_string());
    args.extend(s(&["--expect", expect, "--message-format", "json"]));
    let _relay = (kprobe == Kprobe::Relayed).then(|| {
        let (dir, obj) = compile_for(target, kernels[0].0, "kprobe_relay", &env);
        args.extend(["--extra".into(), obj.display().to_string()]);
        args.extend(s(&["--", "/extra/kprobe_relay.o"]));
        dir
    });
    let _g = one_guest();
    let r = run_tool(example_project(), &args, &env);
    r.ok();
    let got = rows(&r.stdout);
    assert_eq!(got.len(), kernels.len(), "{}", r.stdout);
    for (row, (entry, uname_prefix)) in got.iter().zip(kernels) {
        assert_eq!(row.entry, *entry, "{row:?}");
        assert_eq!(row.verdict, Verdict::Pass, "{row:?}");
        assert!(row.passed, "{row:?}");
        assert_eq!(row.stage, Stage::Boot, "{row:?}");
        assert_eq!(row.attached, Some(true), "{row:?}");
        assert_eq!(row.matched, [expect], "{row:?}");
        assert!(row.trace_lines.unwrap() > 0, "{row:?}");
        let uname = row.kernel.as_deref().unwrap();
        assert!(uname.starts_with(uname_prefix), "{row:?}");
        let bundle = row.bundle.as_ref().unwrap().to_str().unwrap();
        let dir = format!(
            "/ebpf-cross/{target}/kernels/debian-{}-",
            entry.trim_start_matches("debian:")
        );
        assert!(bundle.contains(&dir), "{bundle} in {dir}");
        eprintln!(
            "[bench] matrix {target} {entry}: {}s to the verdict",
            secs(row)
        );
    }
    assert!(
        r.stderr
            .matches(&format!("bpf_trace_printk: {expect}"))
            .count()
            >= kernels.len(),
        "{}",
        r.stderr
    );
    r.says(&format!(
        "Matrix {target}: {n} of {n} kernels passed",
        n = kernels.len()
    ));
    for (entry, uname_prefix) in kernels {
        let line = r
            .stderr
            .lines()
            .find(|l| l.starts_with(&format!("  {entry} ")))
            .unwrap_or_else(|| panic!("no table row for {entry}: {}", r.stderr));
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(&cells[..4], &[*entry, cells[1], "PASS", "yes"], "{line}");
        assert!(cells[1].starts_with(uname_prefix), "{line}");
    }

    // The tracepoint program, by path, against the first kernel's headers;
    // its version section says "any kernel".
    let first = got[0].bundle.as_ref().unwrap().display().to_string();
    let (_objs, obj) = compile_for(target, kernels[0].0, "tp_legacy_map", &env);
    let mut args = s(&["--color", "never", "run", "--target", target]);
    args.extend(which);
    args.push("--bundle".into());
    args.push(first);
    args.push("--extra".into());
    args.push(obj.display().to_string());
    args.extend(s(&[
        "--expect",
        "tp openat count",
        "--message-format",
        "json",
        "--",
        "/extra/tp_legacy_map.o",
    ]));
    let r = run_tool(&repo(), &args, &env);
    r.ok();
    let got = rows(&r.stdout);
    assert_eq!(got.len(), kernels.len(), "{}", r.stdout);
    for (row, (entry, uname_prefix)) in got.iter().zip(kernels) {
        assert_eq!(row.entry, *entry, "{row:?}");
        assert_eq!(row.verdict, Verdict::Pass, "{row:?}");
        assert_eq!(row.attached, Some(true), "{row:?}");
        assert_eq!(row.matched, ["tp openat count"], "{row:?}");
        assert!(
            row.kernel.as_deref().unwrap().starts_with(uname_prefix),
            "{row:?}"
        );
        eprintln!(
            "[bench] matrix {target} {entry} tracepoint: {}s to the verdict",
            secs(row)
        );
    }
    assert_eq!(
        r.stderr
            .matches("attached tracepoint/syscalls/sys_enter_openat (tp_legacy_map.o)")
            .count(),
        kernels.len(),
        "{}",
        r.stderr
    );
    // The map counts from 1 on each kernel: no line was lost after the attach.
    assert_eq!(
        r.stderr.matches("tp openat count 1\n").count(),
        kernels.len(),
        "{}",
        r.stderr
    );
}

#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn ci_matrix_armv7_every_reference_kernel_runs_both_programs() {
    ci_matrix(
        "armv7",
        &["all"],
        &[
            ("debian:5.10", "5.10.0-"),
            ("debian:6.1", "6.1.0-"),
            ("debian:6.12", "6.12."),
        ],
        Kprobe::Embedded,
    );
}

#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn ci_matrix_aarch64_every_reference_kernel_runs_both_programs() {
    ci_matrix(
        "aarch64",
        &["all"],
        &[
            ("debian:5.10", "5.10.0-"),
            ("debian:6.1", "6.1.0-"),
            ("debian:6.12", "6.12."),
        ],
        Kprobe::Embedded,
    );
}

#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn ci_matrix_riscv64_every_reference_kernel_runs_both_programs() {
    ci_matrix(
        "riscv64",
        &["all"],
        &[("debian:6.12", "6.12.")],
        Kprobe::Relayed,
    );
}

/// A cache holding only armv7's 6.1, linked from the shared one.
fn cache_with_only_6_1() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let kernels = t.path().join("kernels");
    std::fs::create_dir_all(&kernels).unwrap();
    std::os::unix::fs::symlink(
        Path::new(&shared_cache()).join("kernels/debian-6.1-armhf-armmp"),
        kernels.join("debian-6.1-armhf-armmp"),
    )
    .unwrap();
    t
}

/// The example's armv7 bundle, built against 6.1 by `build`.
fn armv7_bundle(env: &[(&'static str, String)]) -> String {
    let mut args = s(&[
        "build",
        "--target",
        "armv7",
        "--kernel",
        "debian:6.1",
        "--release",
        "--locked",
        "--message-format",
        "json",
        "--target-dir",
    ]);
    args.push(shared_target().display().to_string());
    let r = run_tool(example_project(), &args, env);
    r.ok();
    bundle_path(&r.stdout).display().to_string()
}

#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn a_failed_download_fails_its_kernel_and_the_others_still_run() {
    let cache = cache_with_only_6_1();
    let env = cached_env(&cache.path().display().to_string());
    let bundle = armv7_bundle(&env);
    let mut args = s(&[
        "--color",
        "never",
        "run",
        "--target",
        "armv7",
        "--kernel",
        "debian:5.10",
        "--kernel",
        "debian:6.1",
        "--expect",
        "file /",
        "--bundle",
    ]);
    args.push(bundle);
    let _g = one_guest();
    let r = run_tool(&repo(), &args, &env);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    r.says("error: debian:5.10: cannot fetch http://127.0.0.1:9/debian");
    r.says("Matrix armv7: 1 of 2 kernels passed");
    let table: Vec<&str> = r
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("  kernel "))
        .collect();
    assert_eq!(table.len(), 3, "{}", r.stdout);
    assert_eq!(
        table[0].split_whitespace().collect::<Vec<_>>(),
        ["kernel", "linux", "verdict", "attach", "trace", "lines", "seconds"]
    );
    assert!(
        table[1].starts_with("  debian:5.10  -  ")
            && table[1].contains(" FAIL ")
            && table[1].contains("(kernel stage: cannot fetch http://127.0.0.1:9/debian"),
        "{}",
        table[1]
    );
    let cells: Vec<&str> = table[2].split_whitespace().collect();
    assert_eq!(cells[0], "debian:6.1", "{}", table[2]);
    assert!(cells[1].starts_with("6.1.0-") && cells[1].ends_with("-armmp"));
    assert_eq!(&cells[2..4], ["PASS", "yes"], "{}", table[2]);
    assert!(cells[4].parse::<u32>().unwrap() > 0, "{}", table[2]);
    assert!(
        r.stdout.contains("bpf_trace_printk: file /"),
        "{}",
        r.stdout
    );
}

#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn a_probe_that_never_fires_fails_its_kernel_with_a_report_and_a_board_file_is_a_kernel() {
    let cache = shared_cache();
    let env = cached_env(&cache);
    let bundle = armv7_bundle(&env);
    // The user's own board: its tree, image and busybox by path (here
    // 6.12's, as a vendor kernel would be).
    let rec: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(&cache).join("kernels/debian-6.12-armhf-armmp/record.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let entry = Path::new(&cache).join("kernels/debian-6.12-armhf-armmp");
    let p = |k: &str| entry.join(rec[k].as_str().unwrap()).display().to_string();
    let boards = tempfile::tempdir().unwrap();
    let board = boards.path().join("vendor.toml");
    std::fs::write(
        &board,
        format!(
            "extends = \"armv7\"\n[kernel]\nsource = \"{}\"\nbuild = \"{}\"\n[qemu]\nkernel_image = \"{}\"\nbusybox = \"{}\"\n",
            p("source"),
            p("build"),
            p("image"),
            p("busybox")
        ),
    )
    .unwrap();
    let objs = tempfile::tempdir().unwrap();
    let mut compile = s(&["compile", "--target", "armv7", "--kernel", "debian:6.1"]);
    compile.push(
        repo()
            .join("tests/bpf/never_fires.bpf.c")
            .display()
            .to_string(),
    );
    compile.extend(["-o".into(), format!("{}/", objs.path().display())]);
    run_tool(&repo(), &compile, &env).ok();
    let mut args = s(&[
        "--color",
        "never",
        "run",
        "--target",
        "armv7",
        "--kernel",
        "debian:6.1",
        "--kernel",
    ]);
    args.push(board.display().to_string());
    args.extend(s(&["--bundle", &bundle, "--extra"]));
    args.push(objs.path().join("never_fires.o").display().to_string());
    args.extend(s(&[
        "--expect",
        "never",
        "--timeout",
        "40",
        "--message-format",
        "json",
        "--",
        "/extra/never_fires.o",
    ]));
    let _g = one_guest();
    let r = run_tool(&repo(), &args, &env);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let got = rows(&r.stdout);
    assert_eq!(got.len(), 2, "{}", r.stdout);
    assert_eq!(got[0].entry, "debian:6.1");
    assert_eq!(got[1].entry, "vendor");
    assert!(
        got[1].kernel.as_deref().unwrap().starts_with("6.12."),
        "{:?}",
        got[1]
    );
    for row in &got {
        assert_eq!(row.verdict, Verdict::Fail, "{row:?}");
        assert_eq!(row.stage, Stage::Boot, "{row:?}");
        assert_eq!(row.attached, Some(true), "{row:?}");
        assert_eq!(row.trace_lines, Some(0), "{row:?}");
        assert_eq!(row.missing, ["never"], "{row:?}");
        assert_eq!(
            row.reason.as_deref(),
            Some("no trace line held \"never\""),
            "{row:?}"
        );
    }
    assert_eq!(
        r.stderr.matches("run report for armv7:\n").count(),
        1,
        "{}",
        r.stderr
    );
    assert_eq!(
        r.stderr.matches("run report for vendor:\n").count(),
        1,
        "{}",
        r.stderr
    );
    r.says("Matrix armv7: 0 of 2 kernels passed");
}

#[test]
#[ignore = "tier: kernels (scripts/setup.sh)"]
fn dry_run_prints_each_kernels_plan_and_downloads_nothing() {
    let cache = cache_with_only_6_1();
    let env = cached_env(&cache.path().display().to_string());
    let mut args = s(&[
        "--dry-run",
        "run",
        "--target",
        "armv7",
        "--kernel",
        "debian:6.1",
        "--kernel",
        "debian:5.10",
        "--release",
        "--target-dir",
    ]);
    args.push(shared_target().display().to_string());
    let r = run_tool(example_project(), &args, &env);
    r.ok();
    let image = Path::new(
        &cache
            .path()
            .join("kernels/debian-6.1-armhf-armmp/root/boot"),
    )
    .display()
    .to_string();
    assert!(
        r.stdout.contains("# kernel debian:6.1 (target armv7)\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains(&format!("-kernel {image}/vmlinuz-6.1.0-")),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("/ebpf-cross/armv7/kernels/debian-6.1-armhf-armmp/open-example/bpf"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains(
        "# kernel debian:5.10 (target armv7)\n# not cached; a run fetches it first (cargo ebpf-cross kernel fetch --target armv7 --kernel debian:5.10)\n"
    ), "{}", r.stdout);
    r.lacks("Booting");
    r.lacks("Downloading");
}
