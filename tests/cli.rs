//! Issue 2, end to end with real clang/llc, Debian's real 6.1 trees, and the
//! 4.19-layout fixture: targets, compile, flags, doctor, and bad input.

use crate::common::*;
use std::path::{Path, PathBuf};

fn seed() -> PathBuf {
    repo().join("tests/bpf/seed.c")
}

fn armhf() -> (String, String) {
    (fx("EBPF_CROSS_ARMHF_SRC"), fx("EBPF_CROSS_ARMHF_BUILD"))
}

fn arm64() -> (String, String) {
    (fx("EBPF_CROSS_ARM64_SRC"), fx("EBPF_CROSS_ARM64_BUILD"))
}

/// The kprobe's instructions, from llvm-objdump.
fn kprobe_insns(obj: &Path) -> Vec<String> {
    let d = disasm(obj);
    assert!(
        d.contains("Disassembly of section kprobe/do_sys_open:"),
        "{d}"
    );
    insns(&d)
}

#[test]
fn targets_json_lists_every_builtin_with_its_facts() {
    let d = tempfile::tempdir().unwrap();
    let r = tool(d.path(), &["targets", "--json"], &[]);
    r.ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "armv7",
            "armv6",
            "aarch64",
            "x86_64",
            "riscv64",
            "mips",
            "mipsel",
            "powerpc64le"
        ]
    );
    let armv7 = &v[0];
    assert_eq!(armv7["arch"], "arm");
    assert_eq!(armv7["clang_target"], "armv7a-linux-gnueabihf");
    assert_eq!(armv7["rust_target"], "armv7-unknown-linux-gnueabihf");
    assert_eq!(armv7["endian"], "little");
    assert_eq!(armv7["bpf_march"], "bpfel");
    assert!(armv7["description"]
        .as_str()
        .unwrap()
        .contains("BeagleBone"));
    let mips = v
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "mips")
        .unwrap();
    assert_eq!(
        (mips["endian"].as_str(), mips["bpf_march"].as_str()),
        (Some("big"), Some("bpfeb"))
    );
    assert_eq!(v[7]["arch"], "powerpc");
}

#[test]
fn targets_json_includes_a_projects_boards() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("boards")).unwrap();
    std::fs::write(
        d.path().join("boards/bbb.toml"),
        "extends = \"armv7\"\ndescription = \"BeagleBone Black\"\n[kernel]\nversion = \"4.19\"\n",
    )
    .unwrap();
    let r = tool(d.path(), &["targets", "--json", "--boards", "boards"], &[]);
    r.ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let bbb = v.as_array().unwrap().last().unwrap();
    assert_eq!(bbb["name"], "bbb");
    assert_eq!(bbb["base"], "armv7");
    assert_eq!(bbb["kernel_version"], "4.19");
    assert_eq!(bbb["rust_target"], "armv7-unknown-linux-gnueabihf");
}

#[test]
#[ignore = "tier: kernels (scripts/setup.sh)"]
fn seed_compiles_unchanged_for_armv7_against_debian_6_1_with_32bit_pt_regs() {
    let (s, b) = armhf();
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("seed.o");
    let r = tool(
        d.path(),
        &[
            "compile",
            "--target",
            "armv7",
            "--kernel-src",
            &s,
            "--kernel-build",
            &b,
            seed().to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        &[],
    );
    r.ok();
    r.says("Compiling");
    r.says("(armv7, linux 6.1.");
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(elf_machine(&bytes), (2, 1, 247), "64-bit LSB eBPF");
    let i = kprobe_insns(&out);
    // PT_REGS_PARM2 on arm32 is uregs[1]: a 4-byte load at offset 4.
    assert_eq!(ctx_loads(&i), ["r3 = *(u32 *)(r1 + 4)"], "{i:?}");
}

#[test]
#[ignore = "tier: kernels (scripts/setup.sh)"]
fn seed_compiles_unchanged_for_aarch64_against_debian_6_1() {
    let (s, b) = arm64();
    let d = tempfile::tempdir().unwrap();
    let r = tool(
        d.path(),
        &[
            "compile",
            "--target",
            "aarch64",
            "--kernel-src",
            &s,
            "--kernel-build",
            &b,
            seed().to_str().unwrap(),
            "-o",
            "out/",
        ],
        &[],
    );
    r.ok();
    let out = d.path().join("out/seed.o");
    let i = kprobe_insns(&out);
    assert_eq!(ctx_loads(&i), ["r3 = *(u64 *)(r1 + 8)"], "{i:?}");
}

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn seed_compiles_against_the_4_19_layout_through_the_pt_regs_backport() {
    let t = fixture_4_19();
    let d = tempfile::tempdir().unwrap();
    let r = tool(
        d.path(),
        &[
            "compile",
            "-v",
            "--target",
            "armv7",
            "--kernel-src",
            t.to_str().unwrap(),
            seed().to_str().unwrap(),
            "-o",
            "seed.o",
        ],
        // No libbpf outside the tree: the tree's own 4.x selftests header
        // (the last resort) is staged, with the backport after it.
        &[("EBPF_CROSS_HOST_LIBBPF", "0")],
    );
    r.ok();
    r.says("(armv7, linux 4.19.94)");
    // The tree's own selftests header, staged, with the compat layer after it.
    r.says("-D__LINUX_ARM_ARCH__=7");
    let staged =
        std::fs::read_to_string(d.path().join(".ebpf-cross/armv7/include/bpf/bpf_helpers.h"))
            .unwrap();
    assert!(
        staged.contains(&format!(
            "#include \"{}/tools/testing/selftests/bpf/bpf_helpers.h\"",
            t.display()
        )),
        "{staged}"
    );
    let i = kprobe_insns(&d.path().join("seed.o"));
    assert_eq!(ctx_loads(&i), ["r3 = *(u32 *)(r1 + 4)"], "{i:?}");
    // The version section carries the loader's "any kernel" convention.
    let v = std::process::Command::new(objdump())
        .args(["-s", "-j", "version"])
        .arg(d.path().join("seed.o"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&v.stdout).contains("0000 feffffff"));
}

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn without_the_backport_the_4_19_seed_would_not_build() {
    // Proves the fixture lacks arm PT_REGS: bypass our staging by pointing
    // clang at the tree's helpers directly (what a hand-written Makefile did).
    let t = fixture_4_19();
    let d = tempfile::tempdir().unwrap();
    let r = tool(
        d.path(),
        &[
            "flags",
            "--target",
            "armv7",
            "--kernel-src",
            t.to_str().unwrap(),
            "--format",
            "json",
        ],
        &[],
    );
    r.ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let mut argv: Vec<String> = v["clang"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let staged = format!("-I{}", v["staged_include"].as_str().unwrap());
    for a in argv.iter_mut() {
        if *a == staged {
            *a = format!("-I{}/tools/testing/selftests", t.display());
        }
    }
    let out = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .args(["-c", seed().to_str().unwrap(), "-o", "/dev/null"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("implicit declaration of function 'PT_REGS_PARM2'"),
        "{err}"
    );
}

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn big_endian_mips_with_only_a_version_gives_bpfeb() {
    let d = tempfile::tempdir().unwrap();
    let src = repo().join("tests/bpf/standalone.c");
    let r = tool(
        d.path(),
        &[
            "compile",
            "--target",
            "mips",
            "--kernel-version",
            "4.14.180",
            src.to_str().unwrap(),
            "-o",
            "x.o",
        ],
        &[],
    );
    r.ok();
    let bytes = std::fs::read(d.path().join("x.o")).unwrap();
    assert_eq!(elf_machine(&bytes), (2, 2, 247), "64-bit MSB eBPF");
    let i = insns(&disasm(&d.path().join("x.o")));
    // 32-bit mips: r[1] is a 4-byte load at offset 4; the version code is
    // 4.14.180 = 0x40eb4.
    assert!(i.iter().any(|x| x.ends_with("= *(u32 *)(r1 + 4)")), "{i:?}");
    assert!(
        i.iter()
            .any(|x| x.contains("0x40eb4") || x.contains("265908")),
        "{i:?}"
    );
}

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn second_compile_runs_no_clang_and_a_change_rebuilds() {
    let t = fixture_4_19();
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("seed.c");
    std::fs::copy(seed(), &src).unwrap();
    let args = [
        "compile",
        "-v",
        "--target",
        "armv7",
        "--kernel-src",
        t.to_str().unwrap(),
        "seed.c",
        "-o",
        "out/",
    ];
    tool(d.path(), &args, &[]).ok();
    let again = tool(d.path(), &args, &[]);
    again.ok();
    again.says("Fresh seed.c (armv7, linux 4.19.94)");
    assert!(
        !again.stderr.contains("Running"),
        "no tool may run: {}",
        again.stderr
    );
    // Touching a header the object depends on makes it stale.
    let hdr = t.join("include/uapi/linux/bpf.h");
    let copy = d.path().join("tree");
    copy_dir(&t, &copy);
    let args2 = [
        "compile",
        "--target",
        "armv7",
        "--kernel-src",
        "tree",
        "seed.c",
        "-o",
        "out2/",
    ];
    tool(d.path(), &args2, &[]).ok();
    let text = std::fs::read_to_string(&hdr).unwrap();
    std::fs::write(
        copy.join("include/uapi/linux/bpf.h"),
        format!("{text}\n/* changed */\n"),
    )
    .unwrap();
    let third = tool(d.path(), &args2, &[]);
    third.ok();
    third.says("Compiling seed.c");
}

#[test]
#[ignore = "tier: kernels (scripts/setup.sh)"]
fn compile_commands_json_carries_the_cross_include_set() {
    let (s, b) = armhf();
    let d = tempfile::tempdir().unwrap();
    tool(
        d.path(),
        &[
            "compile",
            "--target",
            "armv7",
            "--kernel-src",
            &s,
            "--kernel-build",
            &b,
            seed().to_str().unwrap(),
            "-o",
            "objs/",
        ],
        &[],
    )
    .ok();
    let cc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(d.path().join("objs/compile_commands.json")).unwrap(),
    )
    .unwrap();
    let e = &cc[0];
    assert_eq!(e["file"], seed().display().to_string());
    let args: Vec<&str> = e["arguments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[1], "--target=armv7a-linux-gnueabihf");
    assert!(args.contains(&format!("-I{s}/arch/arm/include").as_str()));
    assert!(args.contains(&format!("-I{b}/arch/arm/include/generated").as_str()));
    assert_eq!(
        &args[args.len() - 2..],
        ["-o", d.path().join("objs/seed.o").to_str().unwrap()]
    );
}

#[test]
#[ignore = "tier: kernels (scripts/setup.sh)"]
fn flags_print_the_same_argv_in_every_format() {
    let (s, b) = armhf();
    let d = tempfile::tempdir().unwrap();
    let common = [
        "flags",
        "--target",
        "armv7",
        "--kernel-src",
        &s,
        "--kernel-build",
        &b,
        "--state-dir",
        "st",
    ];
    let j = tool(
        d.path(),
        &[&common[..], &["--format", "json"]].concat(),
        &[],
    );
    j.ok();
    let v: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    let clang: Vec<&str> = v["clang"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let pos = |f: &str| {
        clang
            .iter()
            .position(|a| *a == f)
            .unwrap_or_else(|| panic!("{f} missing"))
    };
    // LINUXINCLUDE before USERINCLUDE, srctree before objtree.
    assert!(
        pos(&format!("-I{s}/arch/arm/include")) < pos(&format!("-I{b}/arch/arm/include/generated"))
    );
    assert!(pos(&format!("-I{b}/include")) < pos(&format!("-I{s}/arch/arm/include/uapi")));
    assert!(pos(&format!("-I{s}/include/uapi")) < pos(&format!("-I{b}/include/generated/uapi")));
    assert_eq!(
        clang[pos("-include") + 1],
        format!("{s}/include/linux/kconfig.h")
    );
    assert_eq!(v["llc"][1], "-march=bpfel");
    assert_eq!(
        v["kernel_version"],
        v["kernel_version"].as_str().map(|x| x.to_string()).unwrap()
    );
    assert!(
        d.path().join("st/include/bpf/bpf_helpers.h").is_file(),
        "flags stages the helper dir it names"
    );

    let sh = tool(
        d.path(),
        &[&common[..], &["--format", "shell"]].concat(),
        &[],
    );
    sh.ok();
    let lines: Vec<&str> = sh.stdout.lines().collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0], clang.join(" "), "no path here needs quoting");
    let mk = tool(
        d.path(),
        &[&common[..], &["--format", "make"]].concat(),
        &[],
    );
    mk.ok();
    assert!(
        mk.stdout
            .contains(&format!("EBPF_CROSS_CFLAGS := {}", clang[1..].join(" "))),
        "{}",
        mk.stdout
    );
    assert!(mk
        .stdout
        .contains("EBPF_CROSS_LLCFLAGS := -march=bpfel -filetype=obj"));
}

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn dry_run_prints_the_pipeline_and_writes_nothing() {
    let t = fixture_4_19();
    let d = tempfile::tempdir().unwrap();
    let r = tool(
        d.path(),
        &[
            "--dry-run",
            "compile",
            "--target",
            "armv7",
            "--kernel-src",
            t.to_str().unwrap(),
            seed().to_str().unwrap(),
            "-o",
            "o/",
        ],
        &[],
    );
    r.ok();
    assert!(
        r.stdout.contains("--target=armv7a-linux-gnueabihf"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains(" | "), "{}", r.stdout);
    assert!(
        r.stdout.contains("-march=bpfel -filetype=obj -o o/seed.o"),
        "{}",
        r.stdout
    );
    assert!(!d.path().join("o").exists());
}

#[test]
#[ignore = "tier: kernels (scripts/setup.sh)"]
fn doctor_reports_each_missing_tree_file_with_its_command() {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("linux");
    copy_dir(&fixture_4_19(), &t);
    std::fs::remove_file(t.join("include/generated/bounds.h")).unwrap();
    let r = tool(
        d.path(),
        &["doctor", "--target", "armv7", "--kernel-src", "linux"],
        &[],
    );
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("ok       clang"), "{}", r.stdout);
    assert!(r.stdout.contains("ok       cross linker"), "{}", r.stdout);
    let tl = t.display();
    assert!(
        r.stdout.contains(&format!(
            "MISSING  kernel tree file       {tl}/include/generated/bounds.h"
        )),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains(&format!("fix: make -C {tl} ARCH=arm CROSS_COMPILE=arm-linux-gnueabihf- olddefconfig modules_prepare")), "{}", r.stdout);
    let (s, b) = armhf();
    let good = tool(
        d.path(),
        &[
            "doctor",
            "--target",
            "armv7",
            "--kernel-src",
            &s,
            "--kernel-build",
            &b,
        ],
        &[],
    );
    assert_eq!(good.code, 0, "{}", good.stdout);
    assert!(good.stdout.contains("all good"));
}

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn env_and_board_file_feed_the_kernel_settings() {
    let d = tempfile::tempdir().unwrap();
    let t = fixture_4_19();
    std::fs::create_dir(d.path().join("boards")).unwrap();
    std::fs::write(
        d.path().join("boards/old.toml"),
        format!(
            "extends = \"armv7\"\n[kernel]\nsource = \"{}\"\nversion = \"4.19\"\n",
            t.display()
        ),
    )
    .unwrap();
    let src = seed();
    let by_name = tool(
        d.path(),
        &[
            "compile",
            "--target",
            "old",
            src.to_str().unwrap(),
            "-o",
            "a.o",
        ],
        &[],
    );
    by_name.ok();
    by_name.says("(old, linux 4.19.94)");
    // env beats the profile: a contradicting env version is an error naming it.
    let env = tool(
        d.path(),
        &[
            "compile",
            "--target",
            "boards/old.toml",
            src.to_str().unwrap(),
            "-o",
            "b.o",
        ],
        &[("EBPF_CROSS_KERNEL_VERSION", "5.10")],
    );
    env.fails();
    env.says("error: kernel version `5.10` (from env EBPF_CROSS_KERNEL_VERSION) contradicts the tree, which is 4.19.94");
    assert!(!d.path().join("b.o").exists());
}

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn paths_with_spaces_work() {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("my kernel tree");
    copy_dir(&fixture_4_19(), &t);
    let srcdir = d.path().join("my src");
    std::fs::create_dir(&srcdir).unwrap();
    std::fs::copy(seed(), srcdir.join("seed.c")).unwrap();
    let r = tool(
        d.path(),
        &[
            "compile",
            "--target",
            "armv7",
            "--kernel-src",
            "my kernel tree",
            "my src/seed.c",
            "-o",
            "out dir/",
        ],
        &[],
    );
    r.ok();
    let i = kprobe_insns(&d.path().join("out dir/seed.o"));
    assert_eq!(ctx_loads(&i), ["r3 = *(u32 *)(r1 + 4)"]);
}

// ---- bad input: a clear message, a non-zero exit, no panic, no output ----

fn fails_with(cwd: &Path, args: &[&str], env: &[(&str, &str)], message: &str) -> Run {
    let r = tool(cwd, args, env);
    r.fails();
    r.says(message);
    assert!(
        r.stderr.contains("help:") || message.contains("help:"),
        "no hint in:\n{}",
        r.stderr
    );
    r
}

fn compile_args<'a>(tree: &'a str, src: &'a str) -> Vec<&'a str> {
    vec![
        "compile",
        "--target",
        "armv7",
        "--kernel-src",
        tree,
        src,
        "-o",
        "out.o",
    ]
}

#[test]
fn bad_target_and_profiles() {
    let d = tempfile::tempdir().unwrap();
    let s = seed();
    let s = s.to_str().unwrap();
    let r = fails_with(
        d.path(),
        &["compile", "--target", "armv9", s],
        &[],
        "error: unknown target `armv9`",
    );
    r.says("built-in targets: armv7, armv6, aarch64");
    std::fs::write(
        d.path().join("typo.toml"),
        "extends = \"armv7\"\n[kernel]\nsource = \"/x\"\nbiuld = \"/y\"\n",
    )
    .unwrap();
    fails_with(
        d.path(),
        &["compile", "--target", "typo.toml", s],
        &[],
        "typo.toml:4:1: unknown key `biuld`",
    );
    std::fs::write(
        d.path().join("broken.toml"),
        "extends = \"armv7\"\n[kernel\n",
    )
    .unwrap();
    fails_with(
        d.path(),
        &["compile", "--target", "broken.toml", s],
        &[],
        "broken.toml:2:",
    );
    assert!(!d.path().join("out.o").exists());
}

#[test]
fn bad_kernel_trees_and_versions() {
    let d = tempfile::tempdir().unwrap();
    let s = seed();
    let s = s.to_str().unwrap();
    fails_with(
        d.path(),
        &compile_args("/nonexistent/linux", s),
        &[],
        "error: kernel source directory `/nonexistent/linux` does not exist",
    );
    let t = d.path().join("linux");
    copy_dir(&fixture_4_19(), &t);
    std::fs::remove_file(t.join("include/generated/uapi/linux/version.h")).unwrap();
    let tl = t.display();
    let r = fails_with(
        d.path(),
        &compile_args("linux", s),
        &[],
        &format!("error: kernel tree is not prepared: {tl}/include/generated/uapi/linux/version.h"),
    );
    r.says(&format!("create it with: make -C {tl} ARCH=arm CROSS_COMPILE=arm-linux-gnueabihf- olddefconfig modules_prepare"));
    let f = fixture_4_19();
    let f = f.to_str().unwrap();
    let mut a = compile_args(f, s);
    a.extend(["--kernel-version", "5.4"]);
    fails_with(
        d.path(),
        &a,
        &[],
        "kernel version `5.4` (from --kernel-version) contradicts the tree, which is 4.19.94",
    );
    let mut a = compile_args(f, s);
    a.extend(["--kernel-version", "four.nineteen"]);
    fails_with(
        d.path(),
        &a,
        &[],
        "error: `four.nineteen` is not a kernel version",
    );
    assert!(!d.path().join("out.o").exists());
}

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn bad_tools() {
    let d = tempfile::tempdir().unwrap();
    let f = fixture_4_19();
    let (f, s) = (f.to_str().unwrap(), seed());
    let a = compile_args(f, s.to_str().unwrap());
    fails_with(
        d.path(),
        &a,
        &[("CLANG", "/nonexistent/clang-99")],
        "error: clang `/nonexistent/clang-99` (from env CLANG) not found",
    );
    fails_with(
        d.path(),
        &a,
        &[("LLC", "llc-nope")],
        "error: llc `llc-nope` (from env LLC) not found",
    );
    // An llc of another LLVM major.
    let fake = d.path().join("llc-99");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'LLVM (http://llvm.org/):'\necho '  LLVM version 99.1.0'\n",
    )
    .unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(&fake).unwrap().permissions(),
        0o755,
    );
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    fails_with(
        d.path(),
        &a,
        &[("LLC", fake.to_str().unwrap())],
        "is LLVM 99.1.0 but clang",
    );
    // An "llc" whose output is not BPF: a real x86 ELF.
    let liar = d.path().join("llc-liar");
    std::fs::write(
        &liar,
        format!(
            "#!/bin/sh\nif [ \"$1\" = --version ]; then echo '  LLVM version {}'; exit 0; fi\ncat >/dev/null\nfor a; do out=$a; done\ncp /bin/true \"$out\"\n",
            clang_version()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&liar, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    fails_with(
        d.path(),
        &a,
        &[("LLC", liar.to_str().unwrap())],
        "e_machine is 62 but eBPF is 247",
    );
    assert!(!d.path().join("out.o").exists());
    let leftovers: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}

fn clang_version() -> String {
    let o = std::process::Command::new("clang-14")
        .arg("--version")
        .output()
        .expect("clang-14 installed by setup");
    let t = String::from_utf8_lossy(&o.stdout).into_owned();
    let i = t.find("clang version ").unwrap() + 14;
    t[i..].split_whitespace().next().unwrap().to_string()
}

#[test]
#[ignore = "tier: kernels (scripts/setup.sh)"]
fn no_helpers_anywhere() {
    let (s, b) = armhf();
    let d = tempfile::tempdir().unwrap();
    let r = fails_with(
        d.path(),
        &[
            "compile",
            "--target",
            "armv7",
            "--kernel-src",
            &s,
            "--kernel-build",
            &b,
            seed().to_str().unwrap(),
            "-o",
            "x.o",
        ],
        &[("EBPF_CROSS_HOST_LIBBPF", "0")],
        "error: no bpf/bpf_helpers.h found (looked in: ",
    );
    r.says("apt-get install libbpf-dev");
}

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn c_errors_pass_through_with_file_and_line() {
    let d = tempfile::tempdir().unwrap();
    let src = repo().join("tests/bpf/broken.c");
    let r = tool(
        d.path(),
        &[
            "compile",
            "--target",
            "aarch64",
            "--kernel-version",
            "6.1",
            src.to_str().unwrap(),
            "-o",
            "x.o",
        ],
        &[],
    );
    r.fails();
    r.says("broken.c:6:9: error: use of undeclared identifier 'undeclared_thing'");
    r.says("compiling");
    assert!(!d.path().join("x.o").exists());
}

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn missing_source_and_unwritable_output() {
    let d = tempfile::tempdir().unwrap();
    let f = fixture_4_19();
    fails_with(
        d.path(),
        &compile_args(f.to_str().unwrap(), "nope.c"),
        &[],
        "error: source file `nope.c` does not exist",
    );
    std::fs::write(d.path().join("a-file"), "").unwrap();
    let s = seed();
    let r = tool(
        d.path(),
        &[
            "compile",
            "--target",
            "armv7",
            "--kernel-src",
            f.to_str().unwrap(),
            s.to_str().unwrap(),
            "-o",
            "a-file/sub/x.o",
        ],
        &[],
    );
    r.fails();
    r.says("error: cannot write `a-file/sub");
    r.says("help: check the directory exists and is writable");
}

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn a_program_without_license_warns() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("nolic.c"),
        "#define SEC(n) __attribute__((section(n), used))\nSEC(\"kprobe/x\") int p(void *c) { return 0; }\n",
    )
    .unwrap();
    let r = tool(
        d.path(),
        &[
            "compile",
            "--target",
            "aarch64",
            "--kernel-version",
            "6.1",
            "nolic.c",
            "-o",
            "n.o",
        ],
        &[],
    );
    r.ok();
    r.says("warning: nolic.c: no `license` section");
}

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn core_mode_builds_against_vmlinux_h_from_the_targets_btf() {
    let d = tempfile::tempdir().unwrap();
    // A stand-in for the board's BTF, with arm's 4-byte pt_regs slots.
    std::fs::write(
        d.path().join("types.c"),
        "struct pt_regs { unsigned int uregs[18]; };\nstruct pt_regs keep;\n",
    )
    .unwrap();
    let st = std::process::Command::new("clang-14")
        .args(["-target", "bpf", "-g", "-c", "types.c", "-o", "board-btf.o"])
        .current_dir(d.path())
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::write(
        d.path().join("board.toml"),
        "extends = \"armv7\"\n[bpf]\nmode = \"core\"\nbtf = \"board-btf.o\"\n",
    )
    .unwrap();
    std::fs::write(
        d.path().join("core.bpf.c"),
        "#include \"vmlinux.h\"\n#define SEC(n) __attribute__((section(n), used))\nSEC(\"kprobe/do_sys_openat2\") int p(struct pt_regs *ctx) { return ctx->uregs[1]; }\nchar _license[] SEC(\"license\") = \"GPL\";\n",
    )
    .unwrap();
    let r = tool(
        d.path(),
        &[
            "compile",
            "-v",
            "--target",
            "board.toml",
            "core.bpf.c",
            "-o",
            "core.o",
        ],
        &[],
    );
    r.ok();
    r.says("bpftool btf dump file");
    r.says("--target=bpfel -g -D__TARGET_ARCH_arm");
    let vh = std::fs::read_to_string(d.path().join(".ebpf-cross/board/include/vmlinux.h")).unwrap();
    assert!(vh.contains("struct pt_regs {"), "{vh}");
    let i = insns(&disasm(&d.path().join("core.o")));
    assert_eq!(ctx_loads(&i), ["r0 = *(u32 *)(r1 + 4)"], "{i:?}");
    let h = std::process::Command::new(objdump())
        .arg("-h")
        .arg(d.path().join("core.o"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&h.stdout).contains(".BTF.ext"),
        "CO-RE relocations live in .BTF.ext"
    );
}

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn stamp_version_writes_the_targets_version_code_over_any_kernel() {
    let t = fixture_4_19();
    let seed = seed();
    let d = tempfile::tempdir().unwrap();
    let section = |o: &str| {
        let v = std::process::Command::new(objdump())
            .args(["-s", "-j", "version"])
            .arg(d.path().join(o))
            .output()
            .unwrap();
        String::from_utf8_lossy(&v.stdout).into_owned()
    };
    let base = [
        "compile",
        "--target",
        "armv7",
        "--kernel-src",
        t.to_str().unwrap(),
        seed.to_str().unwrap(),
    ];
    tool(d.path(), &[&base[..], &["-o", "plain.o"]].concat(), &[]).ok();
    assert!(
        section("plain.o").contains(" 0000 feffffff "),
        "{}",
        section("plain.o")
    );
    tool(
        d.path(),
        &[&base[..], &["-o", "stamped.o", "--stamp-version"]].concat(),
        &[],
    )
    .ok();
    // 4.19.94 = 0x0004135e, little-endian.
    assert!(
        section("stamped.o").contains(" 0000 5e130400 "),
        "{}",
        section("stamped.o")
    );
    // Big-endian targets get it in their byte order: 4.14.180 = 0x00040eb4.
    std::fs::write(
        d.path().join("v.c"),
        "#define SEC(n) __attribute__((section(n), used))\nSEC(\"kprobe/x\") int p(void *c) { return 0; }\nchar _license[] SEC(\"license\") = \"GPL\";\nunsigned int _version SEC(\"version\") = 0xFFFFFFFE;\n",
    )
    .unwrap();
    tool(
        d.path(),
        &[
            "compile",
            "--target",
            "mips",
            "--kernel-version",
            "4.14.180",
            "--stamp-version",
            "v.c",
            "-o",
            "be.o",
        ],
        &[],
    )
    .ok();
    assert!(
        section("be.o").contains(" 0000 00040eb4 "),
        "{}",
        section("be.o")
    );
}

/// The split (`make O=`) 4.19 AArch64 fixture as (srctree, objtree),
/// absolute the way the tool makes tree paths (no symlink resolution).
fn split_4_19() -> (PathBuf, PathBuf) {
    let f = repo().join("tests/fixtures");
    (
        cargo_ebpf_cross::fsutil::absolute(&f.join("linux-4.19-src")),
        cargo_ebpf_cross::fsutil::absolute(&f.join("linux-4.19-arm64-build")),
    )
}

/// The real header that a staged `bpf/bpf_helpers.h` wrapper forwards to:
/// its first quoted include.
fn staged_helpers_target(include_dir: &Path) -> PathBuf {
    let w = std::fs::read_to_string(include_dir.join("bpf/bpf_helpers.h")).unwrap();
    let line = w
        .lines()
        .find_map(|l| l.strip_prefix("#include \""))
        .unwrap_or_else(|| panic!("no forwarding include in:\n{w}"));
    PathBuf::from(line.strip_suffix('"').unwrap_or(line))
}

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn seed_compiles_for_aarch64_against_a_split_4_19_tree() {
    let (s, b) = split_4_19();
    let d = tempfile::tempdir().unwrap();
    let r = tool(
        d.path(),
        &[
            "compile",
            "--target",
            "aarch64",
            "--kernel-src",
            s.to_str().unwrap(),
            "--kernel-build",
            b.to_str().unwrap(),
            seed().to_str().unwrap(),
            "-o",
            "x.o",
        ],
        // No libbpf outside the tree: the tree's own 4.x selftests header
        // (the last resort) is staged, with the backport after it.
        &[("EBPF_CROSS_HOST_LIBBPF", "0")],
    );
    r.ok();
    r.says("(aarch64, linux 4.19.94)");
    // The srctree's own 4.19 selftests header, not the host's libbpf.
    assert_eq!(
        staged_helpers_target(&d.path().join(".ebpf-cross/aarch64/include")),
        s.join("tools/testing/selftests/bpf/bpf_helpers.h")
    );
    let out = d.path().join("x.o");
    assert_eq!(
        elf_machine(&std::fs::read(&out).unwrap()),
        (2, 1, 247),
        "64-bit LSB eBPF"
    );
    let i = kprobe_insns(&out);
    // 4.19's arm64 PT_REGS_PARM2 is the kernel pt_regs' regs[1]: an 8-byte
    // load at offset 8.
    assert_eq!(ctx_loads(&i), ["r3 = *(u64 *)(r1 + 8)"], "{i:?}");
}

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn build_dir_alone_finds_its_source_through_the_source_link() {
    let (s, b) = split_4_19();
    let d = tempfile::tempdir().unwrap();
    let r = tool(
        d.path(),
        &[
            "compile",
            "--target",
            "aarch64",
            "--kernel-build",
            b.to_str().unwrap(),
            seed().to_str().unwrap(),
            "-o",
            "x.o",
        ],
        // No libbpf outside the tree: the tree's own 4.x selftests header
        // (the last resort) is staged, with the backport after it.
        &[("EBPF_CROSS_HOST_LIBBPF", "0")],
    );
    r.ok();
    r.says("(aarch64, linux 4.19.94)");
    // Reached through `<build>/source` (the Makefile's path to the srctree
    // would name linux-4.19-src directly), and it is the fixture's header.
    let real = staged_helpers_target(&d.path().join(".ebpf-cross/aarch64/include"));
    assert!(real.starts_with(b.join("source")), "{}", real.display());
    assert_eq!(
        std::fs::canonicalize(&real).unwrap(),
        std::fs::canonicalize(s.join("tools/testing/selftests/bpf/bpf_helpers.h")).unwrap()
    );
    let i = kprobe_insns(&d.path().join("x.o"));
    assert_eq!(ctx_loads(&i), ["r3 = *(u64 *)(r1 + 8)"], "{i:?}");
}

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn split_4_19_flags_put_srctree_before_objtree() {
    let (s, b) = split_4_19();
    let d = tempfile::tempdir().unwrap();
    let r = tool(
        d.path(),
        &[
            "flags",
            "--target",
            "aarch64",
            "--kernel-src",
            s.to_str().unwrap(),
            "--kernel-build",
            b.to_str().unwrap(),
            "--state-dir",
            "st",
            "--format",
            "json",
        ],
        // No libbpf outside the tree: the tree's own 4.x selftests header
        // (the last resort) is staged, with the backport after it.
        &[("EBPF_CROSS_HOST_LIBBPF", "0")],
    );
    r.ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["kernel_version"], "4.19.94");
    assert_eq!(v["helpers"]["origin"], "kernel-selftests");
    assert_eq!(
        v["helpers"]["dir"],
        s.join("tools/testing/selftests/bpf").display().to_string()
    );
    let clang: Vec<String> = v["clang"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let (s, b) = (s.display(), b.display());
    let want = [
        format!("-I{s}/arch/arm64/include"),
        format!("-I{b}/arch/arm64/include/generated"),
        format!("-I{s}/include"),
        format!("-I{b}/include"),
        format!("-I{s}/arch/arm64/include/uapi"),
        format!("-I{b}/arch/arm64/include/generated/uapi"),
        format!("-I{s}/include/uapi"),
        format!("-I{b}/include/generated/uapi"),
        "-include".to_string(),
        format!("{s}/include/linux/kconfig.h"),
    ];
    let start = clang
        .iter()
        .position(|a| *a == want[0])
        .unwrap_or_else(|| panic!("{} missing from {clang:?}", want[0]));
    assert_eq!(
        clang.get(start..start + want.len()),
        Some(&want[..]),
        "{clang:?}"
    );
    // The printed argv works as printed: the tree's own 4.19 arm64 branch
    // defines PT_REGS_PARM2, so the compat layer adds nothing.
    let pp = std::process::Command::new(&clang[0])
        .current_dir(d.path())
        .args(&clang[1..])
        .args(["-E", "-dM", seed().to_str().unwrap()])
        .output()
        .unwrap();
    let macros = String::from_utf8_lossy(&pp.stdout);
    assert!(
        pp.status.success(),
        "{}",
        String::from_utf8_lossy(&pp.stderr)
    );
    assert!(
        macros.contains("#define PT_REGS_PARM2(x) ((x)->regs[1])"),
        "{macros}"
    );
    assert!(macros.contains("#define CONFIG_ARM64 1"), "{macros}");
    assert!(!macros.contains("EBPF_CROSS_PT_REGS"), "{macros}");
}
