//! Issue 3, end to end: `cargo ebpf-cross build` on the example and on small
//! projects, with real cross gcc, real rustc targets and Debian's trees.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Builds here share one cargo target dir (so aya compiles once); cargo
/// would serialise them anyway.
static SHARED: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    SHARED.lock().unwrap_or_else(|p| p.into_inner())
}

/// Board files naming Debian's trees, the way a user's boards/ would.
fn debian_boards(dir: &Path) -> PathBuf {
    let b = dir.join("boards");
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(
        b.join("bbb.toml"),
        format!(
            "extends = \"armv7\"\ndescription = \"armv7 board on Debian's armmp kernel\"\n[kernel]\nsource = \"{}\"\nbuild = \"{}\"\n",
            fx("EBPF_CROSS_ARMHF_SRC"),
            fx("EBPF_CROSS_ARMHF_BUILD")
        ),
    )
    .unwrap();
    std::fs::write(
        b.join("rpi4.toml"),
        format!(
            "extends = \"aarch64\"\n[kernel]\nsource = \"{}\"\nbuild = \"{}\"\n",
            fx("EBPF_CROSS_ARM64_SRC"),
            fx("EBPF_CROSS_ARM64_BUILD")
        ),
    )
    .unwrap();
    b
}

fn example_copy(dir: &Path) -> PathBuf {
    fresh_example(&dir.join("open-example"))
}

fn file_says(p: &Path) -> String {
    let o = std::process::Command::new("file")
        .arg("-b")
        .arg(p)
        .output()
        .expect("file(1), installed by setup");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn sha(p: &Path) -> String {
    cargo_ebpf_cross::fsutil::sha256_hex(&std::fs::read(p).unwrap())
}

fn unpack(tarball: &Path, into: &Path) {
    let st = std::process::Command::new("tar")
        .arg("xzf")
        .arg(tarball)
        .arg("-C")
        .arg(into)
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
#[ignore = "tier: kernels (scripts/setup.sh)"]
fn example_for_two_boards_in_one_command_gives_verified_bundles() {
    let _g = lock();
    let d = tempfile::tempdir().unwrap();
    let boards = debian_boards(d.path());
    let proj = example_copy(d.path());
    let td = shared_target();
    let r = tool(
        &proj,
        &[
            "build",
            "--target",
            "bbb",
            "--target",
            "rpi4",
            "--release",
            "--locked",
            "--boards",
            boards.to_str().unwrap(),
            "--target-dir",
            td.to_str().unwrap(),
            "--message-format",
            "json",
            "-v",
        ],
        &[],
    );
    r.ok();
    // Both loaders in one cargo run: the example's build script selects
    // its objects by cargo's TARGET.
    let runs: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("Running `") && l.contains(" build --manifest-path "))
        .collect();
    assert_eq!(runs.len(), 1, "{}", r.stderr);
    assert!(
        runs[0].contains(
            " --target armv7-unknown-linux-gnueabihf --target aarch64-unknown-linux-gnu "
        ),
        "{}",
        runs[0]
    );
    r.says("Grouping loaders for bbb, rpi4 in one cargo invocation");
    r.says("Compiling bpf/open-example.bpf.c (bbb, linux 6.1.");
    r.says("Linking loader (armv7-unknown-linux-gnueabihf, arm-linux-gnueabihf-gcc)");
    r.says("Linking loader (aarch64-unknown-linux-gnu, aarch64-linux-gnu-gcc)");
    r.says("Summary 2 built, 0 failed");

    // One JSON object per artifact, then the summary.
    let msgs = messages(&r.stdout);
    let kinds: Vec<(String, String)> = msgs
        .iter()
        .map(|m| {
            (
                m.kind().to_string(),
                m.artifact().map(|a| a.target.clone()).unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("object", "bbb"),
            ("object", "rpi4"),
            ("loader", "bbb"),
            ("bundle", "bbb"),
            ("loader", "rpi4"),
            ("bundle", "rpi4"),
            ("summary", ""),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert!(
        matches!(&msgs[6], Message::Summary(s) if s.failed == 0),
        "{:?}",
        msgs[6]
    );

    for (board, file_arch, bits_word, rust, tree) in [
        (
            "bbb",
            "ELF 32-bit LSB executable, ARM, EABI5",
            "arm",
            "armv7-unknown-linux-gnueabihf",
            "EBPF_CROSS_ARMHF_BUILD",
        ),
        (
            "rpi4",
            "ELF 64-bit LSB executable, ARM aarch64",
            "arm64",
            "aarch64-unknown-linux-gnu",
            "EBPF_CROSS_ARM64_BUILD",
        ),
    ] {
        let dir = td.join("ebpf-cross").join(board);
        let tarball = dir.join(format!("open-example-0.1.0-{board}.tar.gz"));
        let bundle_msg = msgs
            .iter()
            .find_map(|m| match m {
                Message::Bundle(a) if a.target == board => Some(a),
                _ => None,
            })
            .unwrap();
        assert_eq!(bundle_msg.path.as_os_str(), tarball.as_os_str());
        assert_eq!(bundle_msg.sha256, sha(&tarball));

        // SHA256SUMS verifies with coreutils.
        let st = std::process::Command::new("sha256sum")
            .args(["-c", "SHA256SUMS"])
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stdout)
        );
        assert_eq!(
            String::from_utf8_lossy(&st.stdout),
            format!("open-example-0.1.0-{board}.tar.gz: OK\n")
        );

        // Layout: exactly one top dir with bin/, bpf/ and the manifest.
        let list = std::process::Command::new("tar")
            .arg("tzf")
            .arg(&tarball)
            .output()
            .unwrap();
        let top = format!("open-example-0.1.0-{board}");
        assert_eq!(
            String::from_utf8_lossy(&list.stdout),
            format!("{top}/\n{top}/bin/\n{top}/bpf/\n{top}/bin/open-example\n{top}/bpf/open-example.o\n{top}/manifest.json\n")
        );
        let out = d.path().join(format!("unpacked-{board}"));
        std::fs::create_dir(&out).unwrap();
        unpack(&tarball, &out);
        let root = out.join(&top);
        let loader = root.join("bin/open-example");
        let f = file_says(&loader);
        assert!(f.starts_with(file_arch), "{f}");
        assert!(f.contains("statically linked"), "{f}");
        let obj = file_says(&root.join("bpf/open-example.o"));
        assert!(obj.starts_with("ELF 64-bit LSB relocatable, eBPF"), "{obj}");
        // The loader embeds this board's object, byte for byte.
        let obj_bytes = std::fs::read(root.join("bpf/open-example.o")).unwrap();
        let loader_bytes = std::fs::read(&loader).unwrap();
        assert!(
            loader_bytes
                .windows(obj_bytes.len())
                .any(|w| w == obj_bytes.as_slice()),
            "{board}'s loader does not embed its object"
        );

        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(root.join("manifest.json")).unwrap())
                .unwrap();
        assert_eq!(m["tool"], "cargo-ebpf-cross");
        assert_eq!(m["target"], board);
        assert_eq!(m["arch"], bits_word);
        assert_eq!(m["rust_target"], rust);
        assert_eq!(m["kernel_version"], tree_version(&fx(tree)));
        assert!(
            m["llvm_version"].as_str().unwrap().starts_with("14."),
            "{m}"
        );
        assert_eq!(m["loader"], "bin/open-example");
        assert_eq!(m["objects"], serde_json::json!(["bpf/open-example.o"]));
        let files = m["files"].as_array().unwrap();
        assert_eq!(files.len(), 2);
        for fe in files {
            let p = root.join(fe["path"].as_str().unwrap());
            assert_eq!(fe["sha256"], sha(&p), "{}", p.display());
            assert_eq!(fe["size"], std::fs::metadata(&p).unwrap().len());
        }
        // Modes are normalised.
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&loader).unwrap().permissions().mode() & 0o777,
            0o755
        );
    }

    // The armv7 loader runs (argument parsing, ELF handling) under qemu-user.
    let help = std::process::Command::new("qemu-arm-static")
        .arg(td.join("armv7-unknown-linux-gnueabihf/release/open-example"))
        .arg("--help")
        .output()
        .expect("qemu-arm-static, installed by setup");
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("open-example.o"), "{text}");
}

#[test]
#[ignore = "tier: kernels (scripts/setup.sh)"]
fn noop_rebuild_runs_no_clang_and_bundles_are_reproducible() {
    let _g = lock();
    let d = tempfile::tempdir().unwrap();
    let boards = debian_boards(d.path());
    let td = shared_target();
    let a = example_copy(&d.path().join("a"));
    let args = [
        "build",
        "-v",
        "--target",
        "bbb",
        "--release",
        "--locked",
        "--boards",
        boards.to_str().unwrap(),
        "--target-dir",
        td.to_str().unwrap(),
    ];
    tool(&a, &args, &[]).ok();
    let tarball = td.join("ebpf-cross/bbb/open-example-0.1.0-bbb.tar.gz");
    let first = sha(&tarball);
    let again = tool(&a, &args, &[]);
    again.ok();
    again.says("Fresh bpf/open-example.bpf.c (bbb, linux 6.1.");
    assert!(
        !again.stderr.contains("clang-14 --target"),
        "clang ran: {}",
        again.stderr
    );
    assert_eq!(sha(&tarball), first);

    // Same sources from another directory, another day: same bytes.
    let b = example_copy(&d.path().join("b"));
    let r = tool(&b, &args, &[("SOURCE_DATE_EPOCH", "0")]);
    r.ok();
    r.says("Compiling bpf/open-example.bpf.c");
    assert_eq!(
        sha(&tarball),
        first,
        "bundle differs between two builds of the same sources"
    );
}

/// A loader package with no dependencies: fast to cross-build.
fn tiny_project(dir: &Path, metadata: &str, main_rs: &str) -> PathBuf {
    let p = dir.join("tiny");
    std::fs::create_dir_all(p.join("src")).unwrap();
    std::fs::create_dir_all(p.join("bpf")).unwrap();
    std::fs::write(
        p.join("Cargo.toml"),
        format!("[package]\nname = \"tiny\"\nversion = \"0.2.0\"\nedition = \"2021\"\n\n[workspace]\n\n{metadata}\n"),
    )
    .unwrap();
    std::fs::write(p.join("src/main.rs"), main_rs).unwrap();
    std::fs::copy(
        repo().join("tests/bpf/standalone.c"),
        p.join("bpf/probe.bpf.c"),
    )
    .unwrap();
    p
}

const META: &str = "[package.metadata.ebpf-cross]\nstatic = true\n";
const MAIN: &str = "fn main() { println!(\"tiny loader\"); }\n";

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn tiny_loader_cross_builds_for_riscv64_with_a_version_only() {
    let d = tempfile::tempdir().unwrap();
    let p = tiny_project(d.path(), META, MAIN);
    let r = tool(
        &p,
        &["build", "--target", "riscv64", "--kernel-version", "6.6"],
        &[],
    );
    r.ok();
    let tarball = p.join("target/ebpf-cross/riscv64/tiny-0.2.0-riscv64.tar.gz");
    let out = d.path().join("u");
    std::fs::create_dir(&out).unwrap();
    unpack(&tarball, &out);
    let f = file_says(&out.join("tiny-0.2.0-riscv64/bin/tiny"));
    assert!(
        f.starts_with("ELF 64-bit LSB executable, UCB RISC-V")
            || f.starts_with("ELF 64-bit LSB pie executable, UCB RISC-V"),
        "{f}"
    );
    let m: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("tiny-0.2.0-riscv64/manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(m["kernel_version"], "6.6");
    assert_eq!(m["objects"], serde_json::json!(["bpf/probe.o"]));
}

#[test]
fn no_loader_package() {
    let d = tempfile::tempdir().unwrap();
    let p = tiny_project(d.path(), "", MAIN);
    let r = tool(
        &p,
        &["build", "--target", "armv7", "--kernel-version", "6.1"],
        &[],
    );
    r.fails();
    r.says(
        "error: no loader package: no package in the workspace has [package.metadata.ebpf-cross]",
    );
    r.says("help: add `[package.metadata.ebpf-cross]`");
    assert!(!p.join("target/ebpf-cross").exists());
}

#[test]
fn several_binaries_without_bin() {
    let d = tempfile::tempdir().unwrap();
    let p = tiny_project(d.path(), META, MAIN);
    std::fs::create_dir_all(p.join("src/bin")).unwrap();
    std::fs::write(p.join("src/bin/other.rs"), MAIN).unwrap();
    let r = tool(
        &p,
        &["build", "--target", "armv7", "--kernel-version", "6.1"],
        &[],
    );
    r.fails();
    assert!(r.stderr.contains("error: package `tiny` has several binaries (other, tiny) and no `bin` in [package.metadata.ebpf-cross]")
        || r.stderr.contains("error: package `tiny` has several binaries (tiny, other) and no `bin` in [package.metadata.ebpf-cross]"), "{}", r.stderr);
    r.says("help: set `bin = \"<name>\"`");
}

#[test]
fn no_cross_linker_names_the_package_and_the_variable() {
    let d = tempfile::tempdir().unwrap();
    let p = tiny_project(d.path(), META, MAIN);
    // A PATH with cargo, rustc and LLVM but no cross gcc.
    let bin = d.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    for t in ["clang-14", "llc-14"] {
        std::os::unix::fs::symlink(format!("/usr/bin/{t}"), bin.join(t)).unwrap();
    }
    let cargo_bin = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cargo"))
        .join("bin");
    let path = format!("{}:{}", bin.display(), cargo_bin.display());
    let r = tool(
        &p,
        &["build", "--target", "armv7", "--kernel-version", "6.1"],
        &[("PATH", &path)],
    );
    r.fails();
    r.says("error: cross linker `arm-linux-gnueabihf-gcc` for armv7-unknown-linux-gnueabihf is not installed");
    r.says("help: install it (`apt-get install gcc-arm-linux-gnueabihf`), or set CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER");
    assert!(!p
        .join("target/ebpf-cross/armv7/tiny-0.2.0-armv7.tar.gz")
        .exists());
}

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn missing_rust_target_while_offline() {
    let d = tempfile::tempdir().unwrap();
    let p = tiny_project(d.path(), META, MAIN);
    let r = tool(
        &p,
        &[
            "build",
            "--target",
            "armv7",
            "--kernel-version",
            "6.1",
            "--offline",
            "--rust-target",
            "thumbv7neon-unknown-linux-gnueabihf",
        ],
        &[],
    );
    r.fails();
    r.says("error: the Rust standard library for thumbv7neon-unknown-linux-gnueabihf is not installed (offline, so it cannot be downloaded now)");
    r.says("help: run `rustup target add thumbv7neon-unknown-linux-gnueabihf`");
}

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn loader_compile_error_passes_cargo_output_through() {
    let d = tempfile::tempdir().unwrap();
    let p = tiny_project(d.path(), META, "fn main() { let x: u32 = \"nope\"; }\n");
    let r = tool(
        &p,
        &["build", "--target", "aarch64", "--kernel-version", "6.1"],
        &[],
    );
    r.fails();
    r.says("error[E0308]: mismatched types");
    r.says("src/main.rs:1:");
    r.says("error: building the loader `tiny` for aarch64-unknown-linux-gnu failed");
    assert!(!p
        .join("target/ebpf-cross/aarch64/tiny-0.2.0-aarch64.tar.gz")
        .exists());
}

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn unwritable_bundle_dir() {
    let d = tempfile::tempdir().unwrap();
    let p = tiny_project(d.path(), META, MAIN);
    std::fs::write(d.path().join("plainfile"), "").unwrap();
    let td = d.path().join("plainfile/target");
    let r = tool(
        &p,
        &[
            "build",
            "--target",
            "aarch64",
            "--kernel-version",
            "6.1",
            "--target-dir",
            td.to_str().unwrap(),
        ],
        &[],
    );
    r.fails();
    r.says("error: cannot write");
    r.says("plainfile/target/ebpf-cross/aarch64");
}

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn bindings_without_libclang_is_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    let p = tiny_project(
        d.path(),
        "[package.metadata.ebpf-cross]\nbindings = [\"bpf/event.h\"]\n",
        MAIN,
    );
    std::fs::write(
        p.join("bpf/event.h"),
        "struct event { unsigned long pid; char comm[16]; };\n",
    )
    .unwrap();
    let r = tool(
        &p,
        &["build", "--target", "aarch64", "--kernel-version", "6.1"],
        &[("LIBCLANG_PATH", "/nonexistent/libclang")],
    );
    r.fails();
    r.says("error: bindings were asked for, but libclang could not be loaded");
    r.says("apt-get install libclang-14-dev");
}

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn bindings_have_the_targets_layout() {
    let d = tempfile::tempdir().unwrap();
    let p = tiny_project(
        d.path(),
        "[package.metadata.ebpf-cross]\nstatic = true\nbindings = [\"bpf/event.h\"]\n",
        "include!(concat!(env!(\"EBPF_CROSS_OBJ_DIR\"), \"/bindings/event.rs\"));\nfn main() { println!(\"{}\", core::mem::size_of::<event>()); }\n",
    );
    std::fs::write(
        p.join("bpf/event.h"),
        "struct event { unsigned long pid; char comm[16]; };\n",
    )
    .unwrap();
    let r = tool(
        &p,
        &["build", "--target", "armv7", "--kernel-version", "6.1"],
        &[],
    );
    r.ok();
    let rs = std::fs::read_to_string(p.join("target/ebpf-cross/armv7/tiny/bpf/bindings/event.rs"))
        .unwrap();
    // 32-bit long on armv7: pid is a u32-sized c_ulong.
    assert!(
        rs.contains("pub pid: ::core::ffi::c_ulong")
            || rs.contains("pub pid: ::std::os::raw::c_ulong"),
        "{rs}"
    );
    let out = std::process::Command::new("qemu-arm-static")
        .arg(p.join("target/armv7-unknown-linux-gnueabihf/debug/tiny"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "20\n",
        "4-byte long + 16 chars on armv7"
    );
}

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn dry_run_prints_every_plan_and_writes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let p = tiny_project(d.path(), META, MAIN);
    let r = tool(
        &p,
        &[
            "--dry-run",
            "build",
            "--target",
            "aarch64",
            "--kernel-version",
            "6.1",
        ],
        &[],
    );
    r.ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "# target aarch64");
    assert!(
        lines[1].contains("--target=aarch64-linux-gnu") && lines[1].contains(" | "),
        "{}",
        r.stdout
    );
    assert!(
        lines[1].ends_with(&format!(
            "-o {}",
            p.join("target/ebpf-cross/aarch64/tiny/bpf/probe.o")
                .display()
        )),
        "{}",
        r.stdout
    );
    // The -g rerun for BTF-defined maps is part of the plan too.
    assert_eq!(
        lines[2],
        "# then, if the object has BTF-defined maps (.maps) but no .BTF:"
    );
    assert_eq!(
        lines[3],
        lines[1].replacen(" -o - | ", " -g -o - | ", 1),
        "{}",
        r.stdout
    );
    let lines = [&lines[..2], &lines[4..]].concat();
    let obj_dir = p.join("target/ebpf-cross/aarch64/tiny/bpf");
    assert!(
        lines[2].starts_with(&format!(
            "EBPF_CROSS_OBJ_DIR={} EBPF_CROSS_TARGET=aarch64 EBPF_CROSS_KERNEL_VERSION=6.1 EBPF_CROSS_OBJ_DIR_AARCH64_UNKNOWN_LINUX_GNU={} EBPF_CROSS_TARGET_AARCH64_UNKNOWN_LINUX_GNU=aarch64 EBPF_CROSS_KERNEL_VERSION_AARCH64_UNKNOWN_LINUX_GNU=6.1 ",
            obj_dir.display(),
            obj_dir.display()
        )),
        "{}",
        r.stdout
    );
    assert!(lines[2].contains(" build --manifest-path"), "{}", r.stdout);
    assert!(
        lines[2].ends_with(" --config 'target.\"aarch64-unknown-linux-gnu\".linker=\"aarch64-linux-gnu-gcc\"' --config 'target.\"aarch64-unknown-linux-gnu\".rustflags=[\"-C\", \"target-feature=+crt-static\"]'"),
        "{}",
        r.stdout
    );
    assert!(!p.join("target").exists(), "dry run wrote files");
}
