//! Issue 9, part 5: CO-RE mode on Debian's real kernels. The kernels built
//! with CONFIG_DEBUG_INFO_BTF (arm64 5.10, 6.1, 6.12 and riscv64 6.12) carry
//! their BTF inside the image; the tool extracts it, caches it beside the
//! image, makes vmlinux.h from it, and a BPF_CORE_READ program built that
//! way fires under `run` on each of those kernels. armmp has no BTF: its
//! BTF comes from its -dbg package (tests/core_nobtf.rs). One kernel per
//! test, so a matrix can reuse them.

use crate::common::*;
use std::path::PathBuf;
use std::sync::Mutex;

/// A board file that extends `target` and turns CO-RE mode on.
fn core_board(target: &str) -> PathBuf {
    let dir = shared_target().join("core-boards");
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join(format!("{target}-core.toml"));
    std::fs::write(
        &f,
        format!("extends = \"{target}\"\n[bpf]\nmode = \"core\"\n"),
    )
    .unwrap();
    f
}

/// tests/bpf/core_task.bpf.c in CO-RE mode against `kernel`'s BTF.
fn core_object(target: &str, kernel: &str) -> (PathBuf, Run) {
    let board = core_board(target);
    let out = shared_target()
        .join("core-objects")
        .join(format!("{target}-{}", kernel.replace(':', "-")));
    let r = cached_tool(
        &repo(),
        &[
            "compile",
            "--target",
            board.to_str().unwrap(),
            "--kernel",
            kernel,
            repo().join("tests/bpf/core_task.bpf.c").to_str().unwrap(),
            "-o",
            &format!("{}/", out.display()),
        ],
    );
    (out.join("core_task.o"), r)
}

/// The example's bundle for `target` (native mode, its default kernel):
/// only its loader is used, with the CO-RE object given by path.
fn bundle(target: &'static str) -> PathBuf {
    static DONE: Mutex<Vec<(&'static str, PathBuf)>> = Mutex::new(Vec::new());
    let mut done = DONE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, p)) = done.iter().find(|(t, _)| *t == target) {
        return p.clone();
    }
    let project = shared_example(&format!("core-open-example-{target}"));
    let target_dir = shared_target().display().to_string();
    let r = cached_tool(
        project,
        &[
            "build",
            "--target",
            target,
            "--release",
            "--locked",
            "--target-dir",
            &target_dir,
            "--message-format",
            "json",
        ],
    );
    r.ok();
    let p = bundle_path(&r.stdout);
    done.push((target, p.clone()));
    p
}

/// Header fields of a BTF blob (little-endian boards).
fn btf_header(b: &[u8]) -> (u16, u8, u8, u32) {
    (
        u16::from_le_bytes([b[0], b[1]]),
        b[2],
        b[3],
        u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
    )
}

/// Compiles the CO-RE program against `kernel`'s own BTF, checks the BTF
/// the tool extracted, and runs the object on that kernel.
fn core_fires_on(target: &'static str, kernel: &str) {
    let (obj, r) = core_object(target, kernel);
    r.ok();
    let fetched = fetched(target, kernel);
    let image = PathBuf::from(fetched["image"].as_str().unwrap());
    let config = image.with_file_name(format!(
        "config-{}-{}",
        fetched["abi"].as_str().unwrap(),
        fetched["flavour"].as_str().unwrap()
    ));
    assert!(std::fs::read_to_string(&config)
        .unwrap()
        .lines()
        .any(|l| l == "CONFIG_DEBUG_INFO_BTF=y"));
    // Cached beside the image: magic 0xEB9F, version 1, flags 0, a
    // version-1 header; and bpftool reads it as the kernel's types.
    let btf = PathBuf::from(format!("{}.btf", image.display()));
    let bytes = std::fs::read(&btf).unwrap();
    assert_eq!(btf_header(&bytes), (0xEB9F, 1, 0, 24));
    let dump = std::process::Command::new("bpftool")
        .args(["btf", "dump", "file"])
        .arg(&btf)
        .output()
        .unwrap();
    assert!(dump.status.success());
    assert!(String::from_utf8_lossy(&dump.stdout).contains("STRUCT 'task_struct' size="));
    // CO-RE relocations in the object: it reads fields by name.
    let readelf = std::process::Command::new("llvm-readelf-14")
        .args(["-S"])
        .arg(&obj)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&readelf.stdout).contains(".BTF.ext"));

    let bundle = bundle(target).display().to_string();
    let obj_arg = obj.display().to_string();
    let _g = one_guest();
    let r = cached_tool(
        &repo(),
        &[
            "run",
            "--target",
            target,
            "--kernel",
            kernel,
            "--message-format",
            "json",
            "--bundle",
            &bundle,
            "--extra",
            &obj_arg,
            "--expect",
            "core comm head pid ",
            "--",
            "/extra/core_task.o",
        ],
    );
    let report = run_report(&r.stdout)
        .unwrap_or_else(|| panic!("no run result\n{}\n{}", r.stdout, r.stderr));
    eprintln!(
        "[bench] run {target} {kernel} core_task (CO-RE): {}s boot to verdict",
        report.seconds
    );
    r.ok();
    assert!(report.passed, "{report:?}");
    r.says("attached tracepoint/syscalls/sys_enter_openat (core_task.o)");
    // A kernel with BTF of its own is relocated against that, not a
    // bundle's.
    r.says("open-example: BTF: /sys/kernel/btf/vmlinux (the running kernel's own)");
    // The relocated reads are the kernel's own: a pid and its parent's,
    // which differ, for the workload's `head`.
    let line = r
        .stderr
        .lines()
        .find_map(|l| l.split("bpf_trace_printk: core comm head pid ").nth(1))
        .unwrap_or_else(|| panic!("{}", r.stderr));
    let (pid, ppid) = line.split_once(" ppid ").unwrap();
    let (pid, ppid): (u32, u32) = (pid.trim().parse().unwrap(), ppid.trim().parse().unwrap());
    assert!(pid > 1 && ppid >= 1 && pid != ppid, "{line}");
}

#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn core_program_fires_on_arm64_5_10() {
    core_fires_on("aarch64", "debian:5.10");
}

#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn core_program_fires_on_arm64_6_1() {
    core_fires_on("aarch64", "debian:6.1");
}

#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn core_program_fires_on_arm64_6_12() {
    core_fires_on("aarch64", "debian:6.12");
}

#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn core_program_fires_on_riscv64_6_12() {
    core_fires_on("riscv64", "debian:6.12");
}

/// The blob the tool cut out of the image is byte for byte what the booted
/// kernel serves as /sys/kernel/btf/vmlinux (its sha256, written by the
/// guest's workload to trace_marker so it reaches the host as a trace line).
#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn extracted_btf_is_the_booted_kernels_own() {
    let (target, kernel) = ("aarch64", "debian:6.1");
    let (obj, r) = core_object(target, kernel);
    r.ok();
    let fetched = fetched(target, kernel);
    let btf = format!("{}.btf", fetched["image"].as_str().unwrap());
    let sum = std::process::Command::new("sha256sum")
        .arg(&btf)
        .output()
        .unwrap();
    let sum = String::from_utf8_lossy(&sum.stdout);
    let sum = sum.split_whitespace().next().unwrap().to_string();
    let bundle = bundle(target).display().to_string();
    let obj_arg = obj.display().to_string();
    let _g = one_guest();
    let r = cached_tool(
        &repo(),
        &[
            "run",
            "--target",
            target,
            "--kernel",
            kernel,
            "--bundle",
            &bundle,
            "--extra",
            &obj_arg,
            "--workload",
            "echo \"sysfs btf $(sha256sum </sys/kernel/btf/vmlinux)\" >/sys/kernel/tracing/trace_marker",
            "--expect",
            &format!("sysfs btf {sum}"),
            "--",
            "/extra/core_task.o",
        ],
    );
    r.ok();
}
