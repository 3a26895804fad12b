//! Issue 16, item 4: the kernel capability check, against the real Linux
//! 4.19 armv7 tree (../shared/kernels/linux-4.19-armv7, unpacked by
//! scripts/setup.sh) and Debian's 6.1 armhf kernel. What 4.19 cannot run
//! is refused by `compile` and by `build` with exact messages; the same
//! sources build for 6.1. The programs in tests/bpf/caps/ declare their
//! helpers by hand, so they do not depend on the helper header chosen.

use crate::common::*;
use std::path::{Path, PathBuf};

/// The 4.19 fixture's `src`/`build` (EBPF_CROSS_V419_SRC/_BUILD). Missing,
/// it fails the test: a check that never ran must not read as a pass.
fn v419(key: &str) -> String {
    // No env.sh at all is the same failure, named the same way.
    let fixtures = std::panic::catch_unwind(fixtures).unwrap_or_default();
    let v = fixtures.get(key).cloned().unwrap_or_default();
    assert!(
        !v.is_empty() && Path::new(&v).is_dir(),
        "{key} ({v:?}) is missing: the Linux 4.19 armv7 fixture comes from ../shared/kernels/linux-4.19-armv7; run scripts/setup.sh"
    );
    v
}

fn caps(name: &str) -> String {
    repo()
        .join("tests/bpf/caps")
        .join(name)
        .display()
        .to_string()
}

/// The help the check prints under a refusal.
fn allow_line(item: &str) -> String {
    format!("  if the board's kernel has it after all (a vendor backport), let it through: --kernel-allow {item} (or EBPF_CROSS_KERNEL_ALLOW, or `allow = [...]` in [package.metadata.ebpf-cross.kernel] or the board file's [kernel]); --no-kernel-check skips the check\n")
}

const GLOBAL_HELP: &str = "  help: keep the value in a map (an array map of one entry) or on the stack; for bpf_printk, define BPF_NO_GLOBAL_DATA so its format stays on the stack\n";
const HELPER_HELP: &str = "  help: call a helper the kernel has, or build for a newer kernel\n";
const CONFIG_HELP: &str = "  help: enable it in the board's kernel: `cargo ebpf-cross doctor --target armv7` prints the config fragment to add\n";

fn global_refusal(obj: &str) -> String {
    format!(
        "error: {obj}: program `tracepoint/syscalls/sys_enter_openat` (function `count_open`) uses global variable `open_count` (in .bss), which needs Linux 5.2 (global data); the target is Linux 4.19.131\n{GLOBAL_HELP}{}",
        allow_line("global-data")
    )
}

fn helper_refusal(obj: &str) -> String {
    format!(
        "error: {obj}: program `tracepoint/syscalls/sys_enter_openat` (function `stamp_open`) calls helper bpf_ktime_get_boot_ns (id 125), which Linux 4.19.131 does not have: its include/uapi/linux/bpf.h lists helpers up to id 83 (bpf_skb_ancestor_cgroup_id)\n{HELPER_HELP}{}",
        allow_line("helper:bpf_ktime_get_boot_ns")
    )
}

fn kprobe_refusal(obj: &str, config: &str) -> String {
    format!(
        "error: {obj}: program `kprobe/do_sys_open` (function `on_open`) is a kprobe program, which needs CONFIG_KPROBE_EVENTS, and Linux 4.19.131 is configured without it ({config})\n{CONFIG_HELP}{}",
        allow_line("config:CONFIG_KPROBE_EVENTS")
    )
}

/// A copy of the 4.19 build tree configured without KPROBE_EVENTS, as
/// `make olddefconfig` would leave it: `.config`, auto.conf, autoconf.h.
fn build_without_kprobe_events(into: &Path) -> PathBuf {
    let b = into.join("b419");
    copy_dir(Path::new(&v419("EBPF_CROSS_V419_BUILD")), &b);
    let edit = |rel: &str, from: &str, to: &str| {
        let p = b.join(rel);
        let t = std::fs::read_to_string(&p).unwrap();
        assert!(t.contains(from), "{} lacks {from:?}", p.display());
        std::fs::write(&p, t.replace(from, to)).unwrap();
    };
    edit(
        ".config",
        "CONFIG_KPROBE_EVENTS=y\n",
        "# CONFIG_KPROBE_EVENTS is not set\n",
    );
    edit("include/config/auto.conf", "CONFIG_KPROBE_EVENTS=y\n", "");
    edit(
        "include/generated/autoconf.h",
        "#define CONFIG_KPROBE_EVENTS 1\n",
        "",
    );
    b
}

/// The status lines, then the refusal: all of stderr.
fn compiling(src: &str, board: &str) -> String {
    format!("   Compiling {src} ({board}, linux 4.19.131)\n")
}

fn compile_419(cwd: &Path, build: &str, src: &str, out: &str, extra: &[&str]) -> Run {
    let s = v419("EBPF_CROSS_V419_SRC");
    let mut args = vec![
        "--color",
        "never",
        "compile",
        "--target",
        "armv7",
        "--kernel-src",
        &s,
        "--kernel-build",
        build,
        src,
        "-o",
        out,
    ];
    args.extend_from_slice(extra);
    tool(cwd, &args, &[])
}

#[test]
#[ignore = "tier: kernels (scripts/setup.sh)"]
fn compile_refuses_what_4_19_cannot_run_and_builds_it_for_6_1() {
    let d = tempfile::tempdir().unwrap();
    let build = v419("EBPF_CROSS_V419_BUILD");
    let nokp = build_without_kprobe_events(d.path());
    let cases = [
        (
            "global_var.bpf.c",
            build.clone(),
            global_refusal("out/global_var.o"),
        ),
        (
            "boot_ns.bpf.c",
            build.clone(),
            helper_refusal("out/boot_ns.o"),
        ),
        (
            "kprobe_open.bpf.c",
            nokp.display().to_string(),
            kprobe_refusal("out/kprobe_open.o", "b419/.config"),
        ),
    ];
    for (file, tree, refusal) in &cases {
        let src = caps(file);
        let out = format!("out/{}.o", file.trim_end_matches(".bpf.c"));
        let r = compile_419(d.path(), tree, &src, &out, &[]);
        r.fails();
        assert_eq!(r.stderr, format!("{}{refusal}", compiling(&src, "armv7")));
        assert!(
            !d.path().join(&out).exists(),
            "a refused object must not stay behind: {out}"
        );
        // The same source for Debian's 6.1.
        let o61 = d.path().join(format!("out61/{file}.o"));
        let r = cached_tool(
            d.path(),
            &[
                "compile",
                "--target",
                "armv7",
                "--kernel",
                "debian:6.1",
                &src,
                "-o",
                o61.to_str().unwrap(),
            ],
        );
        r.ok();
        assert!(o61.is_file());
    }
    // The unmodified 4.19 tree has KPROBE_EVENTS: the kprobe builds there.
    compile_419(
        d.path(),
        &build,
        &caps("kprobe_open.bpf.c"),
        "out/kprobe_open.o",
        &[],
    )
    .ok();
}

/// The escape hatch, through each layer: the flag, the env, a board file.
#[test]
#[ignore = "tier: kernels (scripts/setup.sh)"]
fn a_vendor_backport_is_let_through_by_flag_env_or_board_file() {
    let d = tempfile::tempdir().unwrap();
    let build = v419("EBPF_CROSS_V419_BUILD");
    let src = caps("global_var.bpf.c");
    compile_419(
        d.path(),
        &build,
        &src,
        "a.o",
        &["--kernel-allow", "global-data"],
    )
    .ok();
    assert!(d.path().join("a.o").is_file());
    compile_419(d.path(), &build, &src, "b.o", &["--no-kernel-check"]).ok();
    // A helper allowed does not allow global data.
    let r = compile_419(
        d.path(),
        &build,
        &src,
        "c.o",
        &["--kernel-allow", "helper:bpf_ktime_get_boot_ns"],
    );
    r.fails().says("uses global variable `open_count`");
    let s = v419("EBPF_CROSS_V419_SRC");
    let env_run = tool(
        d.path(),
        &[
            "compile",
            "--target",
            "armv7",
            "--kernel-src",
            &s,
            "--kernel-build",
            &build,
            &caps("boot_ns.bpf.c"),
            "-o",
            "e.o",
        ],
        &[("EBPF_CROSS_KERNEL_ALLOW", "helper:ktime_get_boot_ns")],
    );
    env_run.ok();
    // A board file for the vendor tree, as docs/old-kernels.md gives it.
    let board = d.path().join("vendor.toml");
    std::fs::write(
        &board,
        format!(
            "extends = \"armv7\"\n[kernel]\nsource = \"{s}\"\nbuild = \"{build}\"\nallow = [\"global-data\"]\n"
        ),
    )
    .unwrap();
    tool(
        d.path(),
        &[
            "compile",
            "--target",
            board.to_str().unwrap(),
            &src,
            "-o",
            "f.o",
        ],
        &[],
    )
    .ok();
    // The flag beats the board file: its list replaces the board's.
    let r = tool(
        d.path(),
        &[
            "compile",
            "--target",
            board.to_str().unwrap(),
            "--kernel-allow",
            "loops",
            &src,
            "-o",
            "g.o",
        ],
        &[],
    );
    r.fails().says("uses global variable `open_count`");
    let typo = compile_419(
        d.path(),
        &build,
        &src,
        "h.o",
        &["--kernel-allow", "globals"],
    );
    typo.fails();
    assert_eq!(
        typo.stderr,
        "error: `globals` (from --kernel-allow) is not something the kernel check can allow\n  help: allow one of: all, global-data, loops, helper:NAME, map:TYPE, program:TYPE, attach:TYPE, config:OPTION\n"
    );
}

/// A copy of the 4.19 source tree (symlinks, but for the files on the way
/// to `rel`) whose `rel` holds `text`.
fn src_with(into: &Path, rel: &str, text: &str) -> PathBuf {
    fn link_all_but(from: &Path, to: &Path, keep: &[&str]) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let name = e.file_name();
            if keep.first().is_some_and(|k| name == *k) {
                if keep.len() > 1 {
                    link_all_but(&e.path(), &to.join(&name), &keep[1..]);
                }
            } else {
                std::os::unix::fs::symlink(e.path(), to.join(&name)).unwrap();
            }
        }
    }
    let s = into.join("s419");
    let parts: Vec<&str> = rel.split('/').collect();
    link_all_but(Path::new(&v419("EBPF_CROSS_V419_SRC")), &s, &parts);
    std::fs::write(s.join(rel), text).unwrap();
    s
}

/// Bad input: a vendor tree whose bpf.h the check cannot read, a helper id
/// no kernel has, and BTF-described maps without BTF. Each error names the
/// file; none panics.
#[test]
#[ignore = "tier: kernels (scripts/setup.sh)"]
fn bad_input_is_named_and_never_panics() {
    let d = tempfile::tempdir().unwrap();
    let build = v419("EBPF_CROSS_V419_BUILD");
    let s = src_with(
        d.path(),
        "include/uapi/linux/bpf.h",
        "/* a vendor's header, mangled */\n#ifndef _UAPI__LINUX_BPF_H__\n#define _UAPI__LINUX_BPF_H__\n#include <linux/types.h>\n#endif\n",
    );
    let r = tool(
        d.path(),
        &[
            "--color",
            "never",
            "compile",
            "--target",
            "armv7",
            "--kernel-src",
            s.to_str().unwrap(),
            "--kernel-build",
            &build,
            &caps("kprobe_open.bpf.c"),
            "-o",
            "k.o",
        ],
        &[],
    );
    r.fails();
    assert_eq!(
        r.stderr,
        format!(
            "   Compiling {} (armv7, linux 4.19.131)\nerror: cannot read what `{}` says the kernel has: no `enum bpf_map_type {{`\n  help: the kernel check reads enum bpf_func_id, bpf_map_type and bpf_prog_type from the tree's include/uapi/linux/bpf.h: point --kernel-src at the board's unmodified tree, or skip the check with --no-kernel-check\n",
            caps("kprobe_open.bpf.c"),
            s.join("include/uapi/linux/bpf.h").display()
        )
    );

    let r = compile_419(d.path(), &build, &caps("helper_999.bpf.c"), "n.o", &[]);
    r.fails();
    assert_eq!(
        r.stderr,
        format!(
            "{}error: n.o: program `tracepoint/syscalls/sys_enter_openat` (function `call_999`) calls helper id 999, which no kernel this tool knows has (Linux 6.12 ends at id 211, bpf_cgrp_storage_delete), nor does Linux 4.19.131: its include/uapi/linux/bpf.h lists helpers up to id 83 (bpf_skb_ancestor_cgroup_id)\n{HELPER_HELP}{}",
            compiling(&caps("helper_999.bpf.c"), "armv7"),
            allow_line("helper:999")
        )
    );

    // `-g0` after the tool's flags: whatever the default, no debug info,
    // so llc emits no .BTF.
    let s419 = v419("EBPF_CROSS_V419_SRC");
    let args = [
        "--color",
        "never",
        "compile",
        "--target",
        "armv7",
        "--kernel-src",
        &s419,
        "--kernel-build",
        &build,
        &caps("ringbuf_map.bpf.c"),
        "-o",
        "m.o",
    ];
    let r = tool(d.path(), &args, &[("EBPF_CROSS_BPF_CFLAGS", "-g0")]);
    r.fails();
    assert_eq!(
        r.stderr,
        format!(
            "{}error: `m.o` cannot be checked against the target kernel: it defines maps in `.maps` but has no `.BTF` section, and those maps are described only by BTF\n  help: a `.maps` map is described by BTF: compile with -g (add \"-g\" to [bpf] cflags), or declare the map old-style, `struct bpf_map_def SEC(\"maps\")`\n",
            compiling(&caps("ringbuf_map.bpf.c"), "armv7")
        )
    );
    // With BTF, the map's type is read from it: a ring buffer is 5.8.
    let r = tool(d.path(), &args, &[("EBPF_CROSS_BPF_CFLAGS", "-g")]);
    r.fails();
    assert_eq!(
        r.stderr,
        format!(
            "{}error: m.o: map `events` is a BPF_MAP_TYPE_RINGBUF map (type 27), which Linux 4.19.131 does not have: its include/uapi/linux/bpf.h ends enum bpf_map_type at BPF_MAP_TYPE_REUSEPORT_SOCKARRAY (20)\n  help: use a map type the kernel has, or build for a newer kernel\n{}",
            compiling(&caps("ringbuf_map.bpf.c"), "armv7"),
            allow_line("map:RINGBUF")
        )
    );
}

/// `build` refuses the same, after its objects and before any loader, and
/// builds the three sources into a bundle for Debian's 6.1.
#[test]
#[ignore = "tier: kernels (scripts/setup.sh)"]
fn build_refuses_what_4_19_cannot_run_and_bundles_it_for_6_1() {
    let d = tempfile::tempdir().unwrap();
    let proj = fresh_example(&d.path().join("proj"));
    std::fs::remove_file(proj.join("bpf/open-example.bpf.c")).unwrap();
    let src = v419("EBPF_CROSS_V419_SRC");
    let build = v419("EBPF_CROSS_V419_BUILD");
    let nokp = build_without_kprobe_events(d.path());
    let td = repo().join("target/e2e");
    let obj = |name: &str| td.join(format!("ebpf-cross/armv7/open-example/bpf/{name}.o"));
    let cases = [
        ("global_var", build.clone(), global_refusal("OBJ")),
        ("boot_ns", build.clone(), helper_refusal("OBJ")),
        (
            "kprobe_open",
            nokp.display().to_string(),
            kprobe_refusal("OBJ", &nokp.join(".config").display().to_string()),
        ),
    ];
    for (name, tree, refusal) in &cases {
        let only = proj.join("bpf").join(format!("{name}.bpf.c"));
        for f in std::fs::read_dir(proj.join("bpf")).unwrap() {
            std::fs::remove_file(f.unwrap().path()).unwrap();
        }
        std::fs::copy(caps(&format!("{name}.bpf.c")), &only).unwrap();
        let r = tool(
            &proj,
            &[
                "--color",
                "never",
                "build",
                "--target",
                "armv7",
                "--kernel-src",
                &src,
                "--kernel-build",
                tree,
                "--target-dir",
                td.to_str().unwrap(),
            ],
            &[],
        );
        r.fails();
        let o = obj(name);
        assert_eq!(
            r.stderr,
            format!(
                "   Compiling bpf/{name}.bpf.c (armv7, linux 4.19.131)\n{}",
                refusal.replace("OBJ", &o.display().to_string())
            )
        );
        assert!(!o.exists(), "a refused object must not stay behind");
    }
    // All three for Debian's 6.1: a bundle holding the three objects.
    for name in ["global_var", "boot_ns", "kprobe_open"] {
        std::fs::copy(
            caps(&format!("{name}.bpf.c")),
            proj.join("bpf").join(format!("{name}.bpf.c")),
        )
        .unwrap();
    }
    let env = cached_env();
    let mut pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    pairs.push(("EBPF_CROSS_KERNEL", "debian:6.1"));
    let r = tool(
        &proj,
        &[
            "build",
            "--target",
            "armv7",
            "--release",
            "--locked",
            "--target-dir",
            td.to_str().unwrap(),
            "--message-format",
            "json",
        ],
        &pairs,
    );
    r.ok();
    let bundle = bundle_path(&r.stdout);
    let listing = std::process::Command::new("tar")
        .arg("tzf")
        .arg(&bundle)
        .output()
        .unwrap();
    let names = String::from_utf8_lossy(&listing.stdout);
    for name in ["global_var", "boot_ns", "kprobe_open"] {
        assert!(names.contains(&format!("/bpf/{name}.o\n")), "{names}");
    }
}

/// Item 6: `doctor` says what the kernel can run, read from its tree, and
/// prints the config the programs need and the tree lacks as a fragment.
#[test]
#[ignore = "tier: kernels (scripts/setup.sh)"]
fn doctor_shows_what_4_19_can_run_and_the_missing_config() {
    let d = tempfile::tempdir().unwrap();
    let s = v419("EBPF_CROSS_V419_SRC");
    let nokp = build_without_kprobe_events(d.path());
    let prog = caps("kprobe_open.bpf.c");
    let r = tool(
        d.path(),
        &[
            "doctor",
            "--target",
            "armv7",
            "--kernel-src",
            &s,
            "--kernel-build",
            nokp.to_str().unwrap(),
            &prog,
        ],
        &[],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let block = format!(
        "  -        kernel                 linux 4.19.131
  ok       highest helper id      83 (bpf_skb_ancestor_cgroup_id), from {s}/include/uapi/linux/bpf.h
  -        BTF                    loads BTF (4.18+), no vmlinux BTF (CONFIG_DEBUG_INFO_BTF is off and needs 5.2): CO-RE needs an external BTF
  -        global data            no (5.2+): keep values in maps; libbpf's bpf_printk needs BPF_NO_GLOBAL_DATA
  -        bounded loops          no (5.3+): unroll loops
  -        kprobe PMU             yes (perf_kprobe, 4.17+): kprobes attach through perf_event_open
  -        memlock                map memory is charged to RLIMIT_MEMLOCK (before 5.11): the loader must raise it
  MISSING  kernel config          CONFIG_KPROBE_EVENTS is off; {prog} needs it (kprobe/do_sys_open)
                                  fix: add the fragment below to the board's kernel config (`make olddefconfig` after), or build with --kernel-allow config:OPTION if the board's kernel has it
"
    );
    assert!(r.stdout.contains(&block), "{}", r.stdout);
    assert!(
        r.stdout.ends_with("kernel config fragment (what the programs need and the tree lacks; a Yocto layer's recipes-kernel/linux/files/ebpf.cfg):\nCONFIG_KPROBE_EVENTS=y\n1 problem(s)\n"),
        "{}",
        r.stdout
    );
    // Debian's 6.1 has all of it, but for vmlinux BTF: armmp is built
    // without CONFIG_DEBUG_INFO_BTF.
    let r = cached_tool(
        d.path(),
        &[
            "doctor",
            "--target",
            "armv7",
            "--kernel",
            "debian:6.1",
            &prog,
        ],
    );
    let tail = "  -        BTF                    loads BTF (4.18+), no vmlinux BTF (CONFIG_DEBUG_INFO_BTF is off): CO-RE needs an external BTF
  -        global data            yes (5.2+)
  -        bounded loops          yes (5.3+)
  -        kprobe PMU             yes (perf_kprobe, 4.17+): kprobes attach through perf_event_open
  -        memlock                map memory is charged to the memory cgroup (5.11+)
  ok       kernel config          CONFIG_BPF_SYSCALL, CONFIG_BPF_EVENTS, CONFIG_KPROBES, CONFIG_KPROBE_EVENTS on
";
    assert!(r.stdout.contains(tail), "{}", r.stdout);
    assert!(!r.stdout.contains("kernel config fragment"), "{}", r.stdout);
}

/// The ```toml blocks of docs/old-kernels.md.
fn doc_toml_blocks() -> Vec<String> {
    let doc = std::fs::read_to_string(repo().join("docs/old-kernels.md")).unwrap();
    doc.split("```toml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap().to_string())
        .collect()
}

/// Every board file the page shows is one the tool reads (unknown keys
/// are refused, so a renamed key fails here).
#[test]
fn the_old_kernels_page_board_file_parses() {
    let blocks = doc_toml_blocks();
    assert_eq!(blocks.len(), 1);
    for b in &blocks {
        cargo_ebpf_cross::profile::parse(b, Path::new("docs/old-kernels.md"))
            .unwrap_or_else(|e| panic!("{e}\n{b}"));
    }
}

/// The page's board file, pointed at the real 4.19 tree with its `allow`
/// line uncommented, lets the vendor's "backports" through.
#[test]
#[ignore = "tier: kernels (scripts/setup.sh)"]
fn the_old_kernels_page_board_file_builds_for_the_4_19_tree() {
    let d = tempfile::tempdir().unwrap();
    let board = doc_toml_blocks()[0]
        .replace("../bsp/linux-4.19/src", &v419("EBPF_CROSS_V419_SRC"))
        .replace("../bsp/linux-4.19/build", &v419("EBPF_CROSS_V419_BUILD"))
        .replace("../bsp/linux-4.19/zImage", &fx("EBPF_CROSS_V419_IMAGE"))
        .replace("# allow = ", "allow = ");
    let path = d.path().join("vendor.toml");
    std::fs::write(&path, board).unwrap();
    let t = path.to_str().unwrap();
    for f in ["global_var.bpf.c", "boot_ns.bpf.c"] {
        tool(
            d.path(),
            &["compile", "--target", t, &caps(f), "-o", "out/"],
            &[],
        )
        .ok();
    }
    let r = tool(d.path(), &["config", "--target", t], &[]);
    r.ok();
    assert!(
        r.stdout.contains(&format!(
            "kernel_allow       global-data,helper:bpf_ktime_get_boot_ns\n                   from profile {t}\n"
        )),
        "{}",
        r.stdout
    );
}

/// What the tree cannot show falls back to version rules: a loop (5.3) and
/// a format string read from .rodata.str1.1 (5.2), both in one error, one
/// line per program; the same source compiles for 6.1.
#[test]
#[ignore = "tier: kernels (scripts/setup.sh)"]
fn version_rules_refuse_a_loop_and_a_literal_on_4_19() {
    let d = tempfile::tempdir().unwrap();
    let build = v419("EBPF_CROSS_V419_BUILD");
    let src = caps("loop_literal.bpf.c");
    let r = compile_419(d.path(), &build, &src, "ll.o", &[]);
    r.fails();
    assert_eq!(
        r.stderr,
        format!(
            "{}error: ll.o: program `tracepoint/syscalls/sys_enter_openat` (function `spin`) jumps backwards at instruction 11 (a loop), which needs Linux 5.3 (bounded loops); the target is Linux 4.19.131
ll.o: program `tracepoint/syscalls/sys_enter_close` (function `say`) uses a constant in .rodata.str1.1 (a string literal or other constant), which needs Linux 5.2 (global data); the target is Linux 4.19.131
  help: unroll the loop: give it a constant bound and `#pragma unroll`
  keep the value in a map (an array map of one entry) or on the stack; for bpf_printk, define BPF_NO_GLOBAL_DATA so its format stays on the stack
{}",
            compiling(&src, "armv7"),
            allow_line("loops,global-data")
        )
    );
    compile_419(
        d.path(),
        &build,
        &src,
        "ll.o",
        &["--kernel-allow", "loops,global-data"],
    )
    .ok();
    cached_tool(
        d.path(),
        &[
            "compile",
            "--target",
            "armv7",
            "--kernel",
            "debian:6.1",
            &src,
            "-o",
            "ll61.o",
        ],
    )
    .ok();
}
