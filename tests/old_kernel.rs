//! Issue 16, items 1, 2, 3 and 5: a real vendor Linux 4.19 for 32-bit ARM
//! (`../shared/kernels/linux-4.19-armv7`, unpacked by scripts/setup.sh)
//! used through a board file: built against, booted under QEMU with
//! Debian's static armhf busybox, shown by `config`, and run in one matrix
//! beside `debian:6.1`. Its kernel predates global data (5.2), BTF in
//! BPF_PROG_LOAD (5.0) and memcg map accounting (5.11); each check below
//! is what the booted kernel printed, not a mock.

use crate::common::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

const SHARED: &str = "../shared/kernels/linux-4.19-armv7";

/// A path of the 4.19 fixture from setup's env (`SRC`, `BUILD`, `IMAGE`),
/// or a failure that names where the fixture comes from: CI always has it,
/// so a missing one is a broken setup, never a skip.
fn v419_in(env: Option<&HashMap<String, String>>, what: &str) -> Result<String, String> {
    let key = format!("EBPF_CROSS_V419_{what}");
    match env.and_then(|e| e.get(&key)) {
        Some(v) if Path::new(v).exists() => Ok(v.clone()),
        Some(v) => Err(format!(
            "the Linux 4.19 fixture is missing: {key}={v} does not exist; scripts/setup.sh unpacks it from {SHARED}"
        )),
        None => Err(format!(
            "the Linux 4.19 fixture is missing: no {key} in the fixtures' env.sh; scripts/setup.sh unpacks it from {SHARED}"
        )),
    }
}

fn v419(what: &str) -> String {
    let env = std::panic::catch_unwind(fixtures).ok();
    v419_in(env.as_ref(), what).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_missing_4_19_fixture_fails_naming_the_shared_dir() {
    let e = v419_in(None, "SRC").unwrap_err();
    assert_eq!(e, "the Linux 4.19 fixture is missing: no EBPF_CROSS_V419_SRC in the fixtures' env.sh; scripts/setup.sh unpacks it from ../shared/kernels/linux-4.19-armv7");
    let env = HashMap::from([(
        "EBPF_CROSS_V419_IMAGE".to_string(),
        "/nope/zImage".to_string(),
    )]);
    let e = v419_in(Some(&env), "IMAGE").unwrap_err();
    assert_eq!(e, "the Linux 4.19 fixture is missing: EBPF_CROSS_V419_IMAGE=/nope/zImage does not exist; scripts/setup.sh unpacks it from ../shared/kernels/linux-4.19-armv7");
}

/// A vendor board file for the 4.19 kernel, as a user writes one:
/// `[kernel]` names its tree, `[qemu]` its zImage and a static busybox.
fn board() -> &'static Path {
    static B: OnceLock<PathBuf> = OnceLock::new();
    B.get_or_init(|| {
        let dir = shared_target().join("old-kernel");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("vendor-4.19.toml");
        let text = format!(
            "extends = \"armv7\"\ndescription = \"Vendor Linux 4.19 (RZ/A BSP), built for QEMU -M virt\"\n\n[kernel]\nsource = \"{}\"\nbuild = \"{}\"\n\n[qemu]\nkernel_image = \"{}\"\nbusybox = \"{}\"\n",
            v419("SRC"),
            v419("BUILD"),
            v419("IMAGE"),
            fx("EBPF_CROSS_ARMHF_BUSYBOX"),
        );
        std::fs::write(&path, text).unwrap();
        path
    })
}

fn board_arg() -> String {
    board().display().to_string()
}

fn example_project() -> &'static Path {
    shared_example("old-kernel-open-example")
}

fn build_args() -> Vec<String> {
    vec![
        "--release".into(),
        "--locked".into(),
        "--target-dir".into(),
        shared_target().display().to_string(),
    ]
}

/// The example's bundle for the board, built once.
fn bundle() -> PathBuf {
    static B: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut done = B.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = done.as_ref() {
        return p.clone();
    }
    let mut args = s(&["build", "--target", &board_arg()]);
    args.extend(build_args());
    args.extend(s(&["--message-format", "json"]));
    let r = tool(example_project(), &strs(&args), &[]);
    r.ok();
    let p = bundle_path(&r.stdout);
    *done = Some(p.clone());
    p
}

/// tests/bpf/NAME.bpf.c compiled for the board with no flags but the
/// board itself; returns the object and the tool's run. Each source gets a
/// fresh dir of its own, so the run shows the real compile, never "Fresh".
fn compile(name: &str) -> (PathBuf, Run) {
    let out = objects_dir(name);
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let obj = out.join(format!("{name}.o"));
    let src = repo().join(format!("tests/bpf/{name}.bpf.c"));
    let r = tool(
        &out,
        &[
            "compile",
            "-v",
            "--target",
            &board_arg(),
            src.to_str().unwrap(),
            "-o",
            obj.to_str().unwrap(),
        ],
        &[],
    );
    r.ok();
    (obj, r)
}

fn objects_dir(name: &str) -> PathBuf {
    shared_target().join("old-kernel-objects").join(name)
}

struct Verdict {
    run: Run,
    report: RunReport,
}

/// `run --target BOARD --message-format json ARGS` in the example project.
fn run(args: &[String]) -> Verdict {
    let mut all = s(&[
        "run",
        "--target",
        &board_arg(),
        "--message-format",
        "json",
        "--timeout",
        "120",
    ]);
    all.extend(args.iter().cloned());
    let _g = one_guest();
    let r = tool(example_project(), &strs(&all), &[]);
    let report = run_report(&r.stdout).unwrap_or_else(|| {
        panic!(
            "no run result\nstdout:\n{}\nstderr:\n{}",
            r.stdout, r.stderr
        )
    });
    eprintln!(
        "[bench] linux 4.19 boot: {}s from QEMU start to the verdict",
        report.seconds
    );
    Verdict { run: r, report }
}

/// Boots the example's bundle with test objects given by path.
fn run_objects(objects: &[&Path], expect: &[&str]) -> Verdict {
    let mut args = s(&["--bundle", &bundle().display().to_string()]);
    for o in objects {
        args.extend(s(&["--extra", o.to_str().unwrap()]));
    }
    for e in expect {
        args.extend(s(&["--expect", e]));
    }
    args.push("--".into());
    for o in objects {
        let name = o.file_name().unwrap().to_str().unwrap();
        args.push(format!("/extra/{name}"));
    }
    run(&args)
}

fn assert_has(text: &str, wants: &[&str]) {
    for w in wants {
        assert!(text.contains(w), "missing {w:?} in:\n{text}");
    }
}

const MEMLOCK: &str = "  loader | open-example: RLIMIT_MEMLOCK raised from 64 KiB to unlimited: kernel 4.19.131 charges BPF map memory to it (before 5.11)\n";

#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn the_example_fires_on_linux_4_19_through_a_board_file() {
    let mut args = build_args();
    args.extend(s(&["--expect", "file /"]));
    let v = run(&args);
    v.run.ok();
    let r = &v.report;
    assert!(r.passed, "{r:?}");
    assert!(r.attached, "{r:?}");
    assert_eq!(r.kernel.as_deref(), Some("4.19.131"), "{r:?}");
    assert_eq!(r.matched, ["file /"], "{r:?}");
    assert_has(
        &v.run.stderr,
        &[
            "     Booting zImage (vendor-4.19, qemu-system-arm)\n",
            "      Booted linux 4.19.131 in ",
            MEMLOCK,
            "  loader | open-example: running kernel 4.19.131 (LINUX_VERSION_CODE 0x41383)\n",
            // aya opens kprobes through perf_event_open from 4.17; the PMU's
            // type is the kernel's, read in the guest.
            "  loader | open-example: kprobes attach through the perf kprobe PMU (type 6)\n",
            "  loader | attached kprobe/do_sys_open (open-example.o)\n",
            // 4.19's trace_printk lines say `0:`, not `bpf_trace_printk:`.
            ": 0: file /bin\n",
            "      Passed vendor-4.19 on linux 4.19.131 (",
        ],
    );
}

#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn legacy_map_programs_fire_on_linux_4_19() {
    let (legacy, _) = compile("tp_legacy_map");
    let (map_def, c) = compile("map_def_legacy");
    // The host's libbpf 1.x has no struct bpf_map_def: the staged wrapper
    // supplies the 4.x one.
    let staged = std::fs::read_to_string(
        objects_dir("map_def_legacy").join(".ebpf-cross/vendor-4.19/include/bpf/bpf_helpers.h"),
    )
    .unwrap();
    assert_has(
        &staged,
        &[
            "#include \"/usr/include/bpf/bpf_helpers.h\"\n",
            "struct bpf_map_def {\n",
        ],
    );
    c.says("-DBPF_NO_GLOBAL_DATA");
    let v = run_objects(&[&legacy, &map_def], &["tp openat count", "map_def openat"]);
    v.run.ok();
    assert!(v.report.passed, "{:?}", v.report);
    assert_has(
        &v.run.stderr,
        &[
            "  loader | attached tracepoint/syscalls/sys_enter_openat (tp_legacy_map.o)\n",
            "  loader | attached tracepoint/syscalls/sys_enter_openat (map_def_legacy.o)\n",
            // Both maps count from 1: each program ran from its first call.
            ": 0: tp openat count 1\n",
            ": 0: map_def openat 1\n",
        ],
    );
}

#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn a_libbpf_style_program_builds_with_no_flags_and_fires_on_linux_4_19() {
    let (obj, c) = compile("libbpf_big_map");
    // Global data is 5.2: bpf_printk keeps its format on the stack.
    c.says("-DBPF_NO_GLOBAL_DATA");
    let sections = std::process::Command::new(objdump())
        .arg("-h")
        .arg(&obj)
        .output()
        .unwrap();
    let names: Vec<String> = String::from_utf8_lossy(&sections.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect();
    // `.maps` is described only by BTF, so the compile added -g for it.
    for want in [".maps", ".BTF", ".BTF.ext"] {
        assert!(names.iter().any(|n| n == want), "no {want} in {names:?}");
    }
    assert!(
        !names
            .iter()
            .any(|n| n == ".rodata" || n == ".data" || n == ".bss"),
        "{names:?}"
    );
    let relocs = std::process::Command::new(objdump())
        .arg("-r")
        .arg(&obj)
        .output()
        .unwrap();
    let relocs = String::from_utf8_lossy(&relocs.stdout);
    let prog = relocs
        .split("RELOCATION RECORDS FOR [tracepoint/syscalls/sys_enter_openat]:\n")
        .nth(1)
        .and_then(|r| r.split("\n\n").next())
        .unwrap();
    // The program's only relocation is its map: no .rodata format string.
    assert_eq!(
        prog,
        "OFFSET           TYPE                     VALUE\n0000000000000020 R_BPF_64_64              big_map"
    );

    let v = run_objects(&[&obj], &["big map openat"]);
    v.run.ok();
    assert!(v.report.passed, "{:?}", v.report);
    assert_has(
        &v.run.stderr,
        &[
            MEMLOCK,
            "  loader | open-example: /extra/libbpf_big_map.o: kernel 4.19.131 predates BTF in BPF_PROG_LOAD (5.0): loading without the object's BTF, its 1 BTF-defined map(s) as legacy map definitions\n",
            "  loader | attached tracepoint/syscalls/sys_enter_openat (libbpf_big_map.o)\n",
            ": 0: big map openat 1\n",
        ],
    );
}

#[test]
#[ignore = "tier: kernels (scripts/setup.sh)"]
fn an_explicit_libbpf_include_beats_the_4_19_trees_own_header() {
    let src = v419("SRC");
    let selftests = format!("{src}/tools/testing/selftests");
    let seed = repo().join("tests/bpf/seed.c");
    let d = tempfile::tempdir().unwrap();
    for (include, real) in [
        (None, "/usr/include/bpf/bpf_helpers.h".to_string()),
        (
            Some(selftests.as_str()),
            format!("{selftests}/bpf/bpf_helpers.h"),
        ),
    ] {
        let mut args = s(&[
            "compile",
            "--target",
            "armv7",
            "--kernel-src",
            &src,
            "--kernel-build",
            &v419("BUILD"),
        ]);
        if let Some(i) = include {
            args.extend(s(&["--libbpf-include", i]));
        }
        args.extend(s(&[seed.to_str().unwrap(), "-o", "seed.o"]));
        tool(d.path(), &strs(&args), &[]).ok();
        let staged =
            std::fs::read_to_string(d.path().join(".ebpf-cross/armv7/include/bpf/bpf_helpers.h"))
                .unwrap();
        assert!(
            staged.contains(&format!("#include \"{real}\"\n")),
            "{include:?}: {staged}"
        );
        // The seed, unchanged: arm32 PARM2 is r1, a 4-byte load at offset 4
        // (libbpf's bpf_tracing.h, or our backport after the 4.19 header).
        let dis = disasm(&d.path().join("seed.o"));
        assert_eq!(
            ctx_loads(&insns(&dis)),
            ["r3 = *(u32 *)(r1 + 4)"],
            "{include:?}: {dis}"
        );
    }
}

#[test]
#[ignore = "tier: kernels (scripts/setup.sh)"]
fn config_shows_the_4_19_boards_kernel_image_and_helper_headers() {
    let d = tempfile::tempdir().unwrap();
    let r = tool(
        d.path(),
        &["config", "--target", "armv7", "--kernel", &board_arg()],
        &[],
    );
    r.ok();
    let from = format!("                   from profile {}\n", board_arg());
    assert_has(
        &r.stdout,
        &[
            &format!("target             vendor-4.19\n{from}"),
            &format!(
                "kernel_tree        {} + {}\n{from}",
                v419("SRC"),
                v419("BUILD")
            ),
            "helpers            /usr/include/bpf (no libbpf_include given: the host's libbpf-dev; preferred over the tree's old selftests header, which lacks BTF-defined maps and bpf_printk)\n                   from default\n",
            &format!("qemu_kernel_image  {}\n{from}", v419("IMAGE")),
            &format!(
                "qemu_busybox       {}\n{from}",
                fx("EBPF_CROSS_ARMHF_BUSYBOX")
            ),
        ],
    );
    let selftests = format!("{}/tools/testing/selftests", v419("SRC"));
    let r = tool(
        d.path(),
        &[
            "config",
            "--target",
            &board_arg(),
            "--libbpf-include",
            &selftests,
        ],
        &[],
    );
    r.ok();
    assert_has(
        &r.stdout,
        &[&format!(
            "helpers            {selftests}/bpf (libbpf_include was given; it wins over the tree's own headers)\n                   from --libbpf-include\n"
        )],
    );
}

#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn a_4_19_board_and_debian_6_1_pass_in_one_matrix() {
    let mut args = s(&[
        "run",
        "--target",
        "armv7",
        "--kernel",
        "debian:6.1",
        "--kernel",
        &board_arg(),
        "--expect",
        "file /",
        "--timeout",
        "120",
        "--message-format",
        "json",
    ]);
    args.extend(build_args());
    let env = cached_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let _g = one_guest();
    let r = tool(example_project(), &strs(&args), &env);
    r.ok();
    let got: Vec<(String, String, String)> = messages_among(&r.stdout)
        .into_iter()
        .filter_map(|m| match m {
            Message::MatrixKernel(row) => Some((
                row.entry,
                row.verdict.as_str().to_string(),
                row.kernel.unwrap_or_default(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(got.len(), 2, "{}", r.stdout);
    assert_eq!(
        (got[0].0.as_str(), got[0].1.as_str()),
        ("debian:6.1", "PASS")
    );
    assert!(got[0].2.ends_with("-armmp"), "{got:?}");
    assert_eq!(
        got[1],
        ("vendor-4.19".into(), "PASS".into(), "4.19.131".into())
    );
    r.says("      Matrix armv7: 2 of 2 kernels passed\n");
}
