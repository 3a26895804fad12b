//! Issue 9, part 1: `run` on riscv64, booting Debian's 6.12 riscv64 kernel
//! (from the shared reference cache scripts/setup.sh fills) under
//! qemu-system-riscv64, with the example's loader built for
//! riscv64gc-unknown-linux-gnu. Each test is one kernel, one boot, so a
//! matrix can call them as they are.
//!
//! That kernel has CONFIG_DYNAMIC_FTRACE without CONFIG_KPROBES_ON_FTRACE:
//! a kprobe on a function's entry (its ftrace site) is refused with EINVAL.
//! The tests check that a kprobe moves just past the site, by the size the
//! tree's own asm/ftrace.h gives, and still reads its argument; and that a
//! return probe is refused with the reason.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const KERNEL: &str = "debian:6.12";

/// A copy of the example, so nothing is written into examples/.
fn example_project() -> PathBuf {
    shared_example("riscv64-open-example").to_path_buf()
}

struct Built {
    project: PathBuf,
    bundle: PathBuf,
    objects: PathBuf,
}

/// The example's riscv64 bundle and this file's test objects, built once.
fn built() -> &'static Built {
    static B: OnceLock<Built> = OnceLock::new();
    B.get_or_init(|| {
        let project = example_project();
        let target_dir = shared_target().display().to_string();
        let r = cached_tool(
            &project,
            &[
                "build",
                "--target",
                "riscv64",
                "--kernel",
                KERNEL,
                "--release",
                "--locked",
                "--target-dir",
                &target_dir,
                "--message-format",
                "json",
            ],
        );
        r.ok();
        let bundle = bundle_path(&r.stdout);
        let objects = shared_target().join("riscv64-objects");
        let mut args = vec![
            "compile".to_string(),
            "--target".into(),
            "riscv64".into(),
            "--kernel".into(),
            KERNEL.into(),
        ];
        for f in ["kprobe_relay", "kretprobe_open"] {
            args.push(
                repo()
                    .join(format!("tests/bpf/{f}.bpf.c"))
                    .display()
                    .to_string(),
            );
        }
        args.extend(["-o".into(), format!("{}/", objects.display())]);
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        cached_tool(&repo(), &a).ok();
        Built {
            project,
            bundle,
            objects,
        }
    })
}

/// `run` of the bundle with one extra object (or, with "", the bundle's
/// own); the run's JSON result.
fn run_with(object: &str, more: &[&str]) -> (Run, RunReport) {
    let b = built();
    let obj = b.objects.join(format!("{object}.o")).display().to_string();
    let bundle = b.bundle.display().to_string();
    let guest_obj = format!("/extra/{object}.o");
    let mut args = vec![
        "run",
        "--target",
        "riscv64",
        "--kernel",
        KERNEL,
        "--message-format",
        "json",
        "--bundle",
        &bundle,
    ];
    if !object.is_empty() {
        args.extend(["--extra", &obj]);
    }
    args.extend(more);
    if !object.is_empty() {
        args.extend(["--", &guest_obj]);
    }
    let _g = one_guest();
    let r = cached_tool(&b.project, &args);
    let report = run_report(&r.stdout)
        .unwrap_or_else(|| panic!("no run result\n{}\n{}", r.stdout, r.stderr));
    eprintln!(
        "[bench] run riscv64 {KERNEL} {object}: {}s boot to verdict",
        report.seconds
    );
    (r, report)
}

/// MCOUNT_INSN_SIZE as the riscv64 tree's own header defines it, read here
/// independently of the tool.
fn tree_mcount_insn_size() -> u64 {
    let r = cached_tool(
        &repo(),
        &[
            "kernel", "fetch", "--target", "riscv64", "--kernel", KERNEL, "--json",
        ],
    );
    r.ok();
    let j: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    let src = j["source"].as_str().unwrap();
    let build = j["build"].as_str().unwrap();
    let config = std::fs::read_to_string(Path::new(build).join(".config")).unwrap();
    assert!(config.lines().any(|l| l == "CONFIG_DYNAMIC_FTRACE=y"));
    assert!(!config.contains("CONFIG_KPROBES_ON_FTRACE=y"));
    let header =
        std::fs::read_to_string(Path::new(src).join("arch/riscv/include/asm/ftrace.h")).unwrap();
    header
        .lines()
        .find_map(|l| l.strip_prefix("#define MCOUNT_INSN_SIZE"))
        .unwrap_or_else(|| panic!("no MCOUNT_INSN_SIZE in {src}"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn riscv64_kprobe_attaches_past_the_ftrace_entry_and_reads_its_argument() {
    let size = tree_mcount_insn_size();
    assert_eq!(size, 8);
    let (r, report) = run_with("kprobe_relay", &["--expect", "kprobe read file /"]);
    r.ok();
    assert!(report.passed, "{report:?}");
    assert!(report.attached, "{report:?}");
    assert_eq!(report.matched, ["kprobe read file /"], "{report:?}");
    // The tool left the site's size beside the objects for the loader.
    let facts = built()
        .bundle
        .parent()
        .unwrap()
        .join("open-example/bpf/kprobe-ftrace-entry");
    assert_eq!(
        std::fs::read_to_string(&facts).unwrap(),
        format!("{size}\n")
    );
    r.says(&format!(
            "open-example: kprobe/do_sys_openat2: do_sys_openat2+0 is an ftrace site and this kernel has no CONFIG_KPROBES_ON_FTRACE; attached just past it, at do_sys_openat2+{size} (the arguments are still in their registers there)"
        ));
    r.says("attached kprobe/do_sys_openat2 (kprobe_relay.o)");
    // The second argument, read at +8: the workload's own file names.
    r.says("bpf_trace_printk: kprobe read file /proc/cpuinfo");
}

#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn riscv64_return_probe_is_refused_naming_kprobes_on_ftrace() {
    let (r, report) = run_with("kretprobe_open", &[]);
    r.fails();
    assert!(!report.passed, "{report:?}");
    assert!(!report.attached, "{report:?}");
    r.says("open-example: /extra/kretprobe_open.o: attaching kretprobe/do_sys_openat2 (open_return): a return probe must sit at do_sys_openat2's entry, which is a 8-byte ftrace site on this kernel, and the kernel refuses probes there (EINVAL): it was built with CONFIG_DYNAMIC_FTRACE but without CONFIG_KPROBES_ON_FTRACE. Use a kprobe or a tracepoint, or a kernel with CONFIG_KPROBES_ON_FTRACE=y");
    r.lacks("caused by: Invalid argument");
}

#[test]
#[ignore = "tier: kernels (scripts/setup.sh)"]
fn riscv64_loader_is_a_static_risc_v_binary() {
    let out = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(&built().bundle)
        .arg("-C")
        .arg(out.path())
        .status()
        .unwrap();
    assert!(status.success());
    let bin = out
        .path()
        .join("open-example-0.1.0-riscv64/bin/open-example");
    let bytes = std::fs::read(&bin).unwrap();
    assert_eq!(elf_machine(&bytes), (2, 1, 243));
    let f = std::process::Command::new("file")
        .arg(&bin)
        .output()
        .unwrap();
    let f = String::from_utf8_lossy(&f.stdout);
    assert!(f.contains("statically linked"), "{f}");
}

/// The example itself, unchanged: its kprobe attaches past the ftrace entry
/// and runs on every open, but a riscv kprobe runs as an NMI and the trace
/// ring buffer takes no writes there, so its printk lines never arrive.
/// `run` says that, with the run count, instead of "never fired".
#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn riscv64_example_kprobe_runs_and_run_says_its_lines_were_dropped() {
    let (r, report) = run_with("", &[]);
    r.fails();
    assert!(report.attached, "{report:?}");
    assert_eq!(report.trace_lines, 0, "{report:?}");
    let runs = report.program_runs.unwrap();
    assert!(runs > 0, "{report:?}");
    assert_eq!(
        report.reason.as_deref(),
        Some(format!("no trace line was seen, though the programs ran {runs} times: their output never reached trace_pipe").as_str()),
        "{report:?}"
    );
    r.says("help: the programs ran, so their output was dropped: riscv64 kprobe handlers run as NMIs, and the trace ring buffer takes no writes from them there (no ARCH_HAVE_NMI_SAFE_CMPXCHG); print from a tracepoint instead, fed through a map (see tests/bpf/kprobe_relay.bpf.c)");
}
