//! Issue 4, end to end: `cargo ebpf-cross run` boots Debian's real armmp and
//! arm64 kernels under QEMU, runs bundles built by the tool, and judges them
//! by what reaches trace_pipe. Needs the fixtures of scripts/setup.sh
//! (kernel images, busybox-static, header trees), qemu-system-arm and cpio;
//! without them these tests fail rather than skip.

use crate::common;

use crate::common::*;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use cargo_ebpf_cross::initramfs::Cpio;

#[derive(Clone, Copy)]
struct Board {
    target: &'static str,
    deb: &'static str,
}

const ARMV7: Board = Board {
    target: "armv7",
    deb: "ARMHF",
};
const AARCH64: Board = Board {
    target: "aarch64",
    deb: "ARM64",
};

impl Board {
    fn fx(&self, what: &str) -> String {
        fx(&format!("EBPF_CROSS_{}_{what}", self.deb))
    }

    fn kernel_args(&self) -> Vec<String> {
        vec![
            "--kernel-src".into(),
            self.fx("SRC"),
            "--kernel-build".into(),
            self.fx("BUILD"),
        ]
    }

    fn guest_args(&self) -> Vec<String> {
        vec![
            "--kernel-image".into(),
            self.fx("IMAGE"),
            "--busybox".into(),
            self.fx("BUSYBOX"),
        ]
    }
}

fn example_project() -> &'static Path {
    shared_example("run-open-example")
}

fn build_args() -> Vec<String> {
    vec![
        "--release".into(),
        "--locked".into(),
        "--target-dir".into(),
        shared_target().display().to_string(),
    ]
}

/// The example's bundle for a board, built once by `build`.
fn bundle(b: Board) -> PathBuf {
    static BUNDLES: Mutex<Vec<(&'static str, PathBuf)>> = Mutex::new(Vec::new());
    let mut done = BUNDLES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, p)) = done.iter().find(|(t, _)| *t == b.target) {
        return p.clone();
    }
    let mut args = vec!["build".to_string(), "--target".into(), b.target.into()];
    args.extend(b.kernel_args());
    args.extend(build_args());
    args.extend(["--message-format".into(), "json".into()]);
    let r = tool(example_project(), &strs(&args), &[]);
    r.ok();
    let p = bundle_path(&r.stdout);
    done.push((b.target, p.clone()));
    p
}

/// tests/bpf/*.bpf.c compiled for a board, once.
fn test_objects(b: Board) -> PathBuf {
    let out = shared_target().join("run-objects").join(b.target);
    static DONE: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut done = DONE.lock().unwrap_or_else(|p| p.into_inner());
    if done.contains(&b.target) {
        return out;
    }
    let mut args = vec!["compile".to_string(), "--target".into(), b.target.into()];
    args.extend(b.kernel_args());
    for f in ["never_fires", "verifier_reject", "tp_legacy_map"] {
        args.push(
            repo()
                .join(format!("tests/bpf/{f}.bpf.c"))
                .display()
                .to_string(),
        );
    }
    args.extend(["-o".into(), format!("{}/", out.display())]);
    tool(&repo(), &strs(&args), &[]).ok();
    done.push(b.target);
    out
}

struct Verdict {
    run: Run,
    report: RunReport,
    wall: f64,
}

/// `run` with JSON messages; returns the run's result object.
fn run(b: Board, args: &[String], env: &[(&str, &str)]) -> Verdict {
    // Before `args`, which may end with `-- LOADER ARGS`.
    let mut all = vec![
        "run".to_string(),
        "--target".into(),
        b.target.into(),
        "--message-format".into(),
        "json".into(),
    ];
    all.extend(args.iter().cloned());
    let _g = one_guest();
    let t = Instant::now();
    let r = tool(example_project(), &strs(&all), env);
    let wall = t.elapsed().as_secs_f64();
    let report = run_report(&r.stdout).unwrap_or_else(|| {
        panic!(
            "no run result\nstdout:\n{}\nstderr:\n{}",
            r.stdout, r.stderr
        )
    });
    eprintln!(
        "[bench] run {} {}: {}s to the verdict (wall {:.1}s with any build)",
        b.target,
        args.iter()
            .find(|a| a.starts_with("/extra/"))
            .map(String::as_str)
            .unwrap_or("(the example)"),
        report.seconds,
        wall
    );
    Verdict {
        run: r,
        report,
        wall,
    }
}

fn assert_passed_with_open_lines(v: &Verdict) {
    v.run.ok();
    let r = &v.report;
    assert!(r.passed, "{r:?}");
    assert!(r.attached, "{r:?}");
    assert_eq!(r.matched, ["file /"], "{r:?}");
    assert!(r.trace_lines > 0, "{r:?}");
    assert!(!r.timed_out);
    // The probe's lines are streamed as they come.
    v.run.says("bpf_trace_printk: file /");
}

#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn armv7_example_built_by_the_tool_fires_on_the_real_armmp_kernel() {
    let b = ARMV7;
    let mut args = b.kernel_args();
    args.extend(b.guest_args());
    args.extend(build_args());
    args.extend(["--expect".into(), "file /".into()]);
    let v = run(b, &args, &[]);
    assert_passed_with_open_lines(&v);
    v.run.says("Booting vmlinuz-6.1.0-");
    v.run.says("Passed armv7 on linux 6.1.0-");
    assert!(v.report.kernel.as_deref().unwrap().ends_with("-armmp"));
}

#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn aarch64_example_fires_on_the_real_arm64_kernel_with_inputs_from_env() {
    let b = AARCH64;
    let mut args = b.kernel_args();
    args.extend(build_args());
    args.extend(["--expect".into(), "file /".into()]);
    let image = b.fx("IMAGE");
    let busybox = b.fx("BUSYBOX");
    let v = run(
        b,
        &args,
        &[
            ("EBPF_CROSS_KERNEL_IMAGE", &image),
            ("EBPF_CROSS_BUSYBOX", &busybox),
        ],
    );
    assert_passed_with_open_lines(&v);
    assert!(v.report.kernel.as_deref().unwrap().ends_with("-arm64"));
}

fn with_extra(b: Board, object: &str, more: &[&str]) -> Verdict {
    let objs = test_objects(b);
    let mut args = vec!["--bundle".to_string(), bundle(b).display().to_string()];
    args.extend(b.guest_args());
    args.extend([
        "--extra".into(),
        objs.join(format!("{object}.o")).display().to_string(),
    ]);
    args.extend(more.iter().map(|s| s.to_string()));
    args.extend(["--".into(), format!("/extra/{object}.o")]);
    run(b, &args, &[])
}

#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn generic_loader_loads_a_legacy_map_tracepoint_object_given_by_path() {
    for b in [ARMV7, AARCH64] {
        let v = with_extra(b, "tp_legacy_map", &["--expect", "tp openat count"]);
        v.run.ok();
        assert!(v.report.passed, "{:?}", v.report);
        v.run
            .says("attached tracepoint/syscalls/sys_enter_openat (tp_legacy_map.o)");
        // The map counts from 1: no line was lost after the attach.
        v.run.says("tp openat count 1\n");
    }
}

#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn a_probe_that_never_fires_fails_within_its_timeout_with_a_report() {
    let b = ARMV7;
    let v = with_extra(b, "never_fires", &["--expect", "never", "--timeout", "40"]);
    v.run.fails();
    let r = &v.report;
    assert!(!r.passed);
    assert!(r.attached, "{r:?}");
    assert_eq!(r.missing, ["never"]);
    assert_eq!(r.trace_lines, 0);
    assert!(!r.timed_out);
    assert!(v.wall < 40.0, "took {}s", v.wall);
    let e = &v.run.stderr;
    for want in [
        "run report for armv7:",
        "probe attached: yes",
        "attached kprobe/vfs_fsync_range (never_fires.o)",
        "console tail (last",
        "@@EBPF-CROSS:DONE@@",
        "error: run failed on armv7: no trace line held \"never\"",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
}

#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn an_object_the_verifier_rejects_fails_and_shows_the_verifier_log() {
    let b = ARMV7;
    let v = with_extra(b, "verifier_reject", &["--timeout", "40"]);
    v.run.fails();
    let r = &v.report;
    assert!(!r.passed);
    assert!(!r.attached);
    assert_eq!(r.loader_exit.as_deref(), Some("1"));
    let e = &v.run.stderr;
    for want in [
        "probe attached: no",
        "loader exit:    1 (exited on its own, before the workload)",
        "invalid bpf_context access off=4096 size=4",
        "error: run failed on armv7: the loader exited with status 1 before the workload ran",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
}

#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn the_hard_timeout_stops_a_guest_that_hangs() {
    let b = AARCH64;
    let mut args = vec!["--bundle".to_string(), bundle(b).display().to_string()];
    args.extend(b.guest_args());
    args.extend(
        ["--workload", "sleep 600", "--timeout", "12"]
            .iter()
            .map(|s| s.to_string()),
    );
    let v = run(b, &args, &[]);
    v.run.fails();
    assert!(v.report.timed_out, "{:?}", v.report);
    assert!(v.wall < 25.0, "took {}s", v.wall);
    v.run.says("timed out after 12s");
}

#[test]
#[ignore = "tier: kernels (scripts/setup.sh)"]
fn dry_run_prints_the_qemu_argv_and_init_and_boots_nothing() {
    let b = ARMV7;
    let mut args = vec![
        "--dry-run".to_string(),
        "run".into(),
        "--target".into(),
        "armv7".into(),
        "--bundle".into(),
        bundle(b).display().to_string(),
    ];
    args.extend(b.guest_args());
    args.extend(["--".into(), "/extra/x.o".into()]);
    let r = tool(&repo(), &strs(&args), &[]);
    r.ok();
    assert!(
        r.stdout.contains(&format!(
            "qemu-system-arm -M virt -cpu cortex-a15 -m 512 -smp 1 -display none -monitor none -serial stdio -nic none -no-reboot -kernel {} -initrd ",
            b.fx("IMAGE")
        )),
        "{}",
        r.stdout
    );
    assert!(r
        .stdout
        .contains("-append 'console=ttyAMA0 rdinit=/init quiet panic=-1'"));
    assert!(r.stdout.contains("#!/bin/sh\n"));
    assert!(r
        .stdout
        .contains("( '/bundle/bin/open-example' '/extra/x.o' >/tmp/loader.log"));
    r.lacks("Booting");
}

#[test]
fn targets_without_a_qemu_section_say_run_is_not_set_up() {
    let r = tool(
        &repo(),
        &["run", "--target", "mips", "--kernel-image", "/x"],
        &[],
    );
    r.fails();
    r.says("error: run is not set up for target `mips`: its profile has no [qemu] section");
    r.says("system, machine, cpu, console, memory_mb, append");
}

#[test]
fn missing_kernel_image_says_how_to_get_one() {
    // A version alone names no tree, so no reference kernel stands in.
    let r = tool(
        &repo(),
        &["run", "--target", "armv7", "--kernel-version", "6.1"],
        &[],
    );
    r.fails();
    r.says("error: no kernel image to boot target `armv7` with");
    r.says("--kernel-image PATH (or set EBPF_CROSS_KERNEL_IMAGE");
    r.says("`--kernel debian:RELEASE` brings Debian's reference kernel with its image and busybox (`cargo ebpf-cross kernel list --target armv7`)");
}

/// Debian's cpio reads what initramfs.rs writes. setup.sh installs cpio, so
/// its absence is a failure.
#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn debian_cpio_lists_and_extracts_our_newc_archive() {
    assert!(
        which("cpio"),
        "cpio not found; run scripts/setup.sh (it installs Debian's cpio)"
    );
    let mut c = Cpio::new();
    c.dir("tmp", 0o1777).unwrap();
    c.file("bin/busybox", 0o755, b"\x7fELF fake".to_vec())
        .unwrap();
    c.symlink("bin/sh", "busybox").unwrap();
    c.file("bundle/bpf/x.o", 0o644, vec![1, 2, 3]).unwrap();
    c.file("init", 0o755, b"#!/bin/sh\n".to_vec()).unwrap();
    let d = tempfile::tempdir().unwrap();
    let archive = d.path().join("initramfs.cpio");
    std::fs::write(&archive, c.to_bytes()).unwrap();

    let list = std::process::Command::new("cpio")
        .args(["-t", "--quiet", "-F"])
        .arg(&archive)
        .output()
        .unwrap();
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&list.stdout),
        "tmp\nbin\nbin/busybox\nbin/sh\nbundle\nbundle/bpf\nbundle/bpf/x.o\ninit\n"
    );

    let out = d.path().join("root");
    std::fs::create_dir(&out).unwrap();
    let x = std::process::Command::new("cpio")
        .args(["-i", "-d", "--quiet", "-F"])
        .arg(&archive)
        .current_dir(&out)
        .output()
        .unwrap();
    assert!(x.status.success(), "{}", String::from_utf8_lossy(&x.stderr));
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &str| {
        std::fs::symlink_metadata(out.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(
        std::fs::read(out.join("bundle/bpf/x.o")).unwrap(),
        [1, 2, 3]
    );
    assert_eq!(
        std::fs::read_link(out.join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    assert_eq!(mode("init"), 0o755);
    assert_eq!(mode("bundle/bpf/x.o"), 0o644);
    assert_eq!(mode("tmp"), 0o1777);
}

#[test]
#[ignore = "tier: kernels (scripts/setup.sh)"]
fn dry_run_without_a_bundle_plans_the_build_and_the_boot() {
    let b = ARMV7;
    let mut args = vec![
        "--dry-run".to_string(),
        "run".into(),
        "--target".into(),
        "armv7".into(),
    ];
    args.extend(b.kernel_args());
    args.extend(b.guest_args());
    args.extend(build_args());
    let r = tool(example_project(), &strs(&args), &[]);
    r.ok();
    // The build's plan, then the boot's, naming the bundle the build
    // would write.
    assert!(r.stdout.contains("# target armv7\n"), "{}", r.stdout);
    assert!(r.stdout.contains(" -march=bpfel "), "{}", r.stdout);
    assert!(
        r.stdout.contains("cargo build --manifest-path "),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("# QEMU (armv7)\n"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("open-example-0.1.0-armv7.tar.gz under /bundle/"),
        "{}",
        r.stdout
    );
    r.lacks("Booting");
}

#[test]
#[ignore = "tier: kernels (scripts/setup.sh)"]
fn a_tampered_bundle_is_refused_before_it_boots() {
    let b = ARMV7;
    let good = bundle(b);
    let d = tempfile::tempdir().unwrap();
    // Same files and manifest, one object's bytes changed.
    let src = cargo_ebpf_cross::bundle::Bundle::open(&good).unwrap();
    let evil = d.path().join("evil.tar.gz");
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&evil).unwrap(),
        flate2::Compression::fast(),
    );
    let mut t = tar::Builder::new(gz);
    let object = src.manifest.objects[0].clone();
    for f in &src.files {
        let mut data = f.data.clone();
        if f.path == object {
            data[0] ^= 0xff;
        }
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(f.mode);
        h.set_cksum();
        t.append_data(&mut h, format!("{}/{}", src.top, f.path), data.as_slice())
            .unwrap();
    }
    t.into_inner().unwrap().finish().unwrap();
    let mut args = vec![
        "run".to_string(),
        "--target".into(),
        "armv7".into(),
        "--bundle".into(),
        evil.display().to_string(),
    ];
    args.extend(b.guest_args());
    let r = tool(example_project(), &strs(&args), &[]);
    r.fails();
    r.says(&format!(
        "is not a usable bundle: it is damaged: `{object}` has sha256 "
    ));
    r.lacks("Booting");
}

/// An `--expect` that never matches lists the lines the run did see, and
/// blames neither the probe nor another arch's NMI drops (issue 20 item 7).
#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn an_expect_that_never_matches_lists_the_lines_it_saw() {
    let b = ARMV7;
    let mut args = vec!["--bundle".to_string(), bundle(b).display().to_string()];
    args.extend(b.guest_args());
    args.extend(
        ["--expect", "no such text", "--timeout", "60"]
            .iter()
            .map(|s| s.to_string()),
    );
    let v = run(b, &args, &[]);
    v.run.fails();
    let seen = v.report.trace_lines;
    assert!(seen > 0, "{:?}", v.report);
    let e = &v.run.stderr;
    v.run
        .says(&format!(
            "  trace lines seen (first {} of {seen}):\n",
            seen.min(20)
        ))
        .says("bpf_trace_printk: file /")
        .says(&format!(
            "help: {seen} trace lines came, none holding \"no such text\": compare the --expect text with the lines listed above\n"
        ));
    assert!(!e.contains("NMI"), "{e}");
    assert!(!e.contains("riscv64"), "{e}");
}

/// Ctrl-C at a terminal signals the whole process group, QEMU included:
/// the run ends with 130 and says it was interrupted, not "QEMU failed:
/// terminating on signal 2" with exit 1 (issue 20 item 4).
#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn ctrl_c_during_a_boot_exits_130_and_says_interrupted() {
    use std::os::unix::process::CommandExt;
    let b = ARMV7;
    let bundle = bundle(b);
    let _g = one_guest();
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("stderr");
    let mut c = std::process::Command::new(common::bin());
    common::sandbox_env(&mut c);
    let mut args = vec![
        "run".to_string(),
        "--target".into(),
        b.target.into(),
        "--bundle".into(),
        bundle.display().to_string(),
    ];
    args.extend(b.guest_args());
    args.extend([
        "--workload".into(),
        "sleep 600".into(),
        "--timeout".into(),
        "300".into(),
    ]);
    let mut child = c
        .current_dir(example_project())
        .args(&args)
        .process_group(0)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("Tracing")
    {
        assert!(
            start.elapsed().as_secs() < 240,
            "never reached the workload:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let pgid = child.id() as i32;
    // SAFETY: kill(2) on the process group we just made.
    unsafe {
        libc::kill(-pgid, 2);
    }
    let status = child.wait().unwrap();
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("error: run on armv7 interrupted\n"),
        "{stderr}"
    );
    assert!(!stderr.contains("QEMU failed"), "{stderr}");
    assert!(!stderr.contains("run report"), "{stderr}");
}
