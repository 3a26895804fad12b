//! Issue 17: CO-RE mode on kernels without BTF. The real Linux 4.19 armv7
//! vmlinux has DWARF and no `.BTF`; the tool makes BTF from it with pahole,
//! builds a CO-RE program against it, and the program fires on that
//! kernel's zImage with the values the guest itself reports. Bad BTF
//! sources fail with their own message and cache nothing.

use crate::common::*;
use std::path::{Path, PathBuf};

fn v419(what: &str) -> String {
    fx(&format!("EBPF_CROSS_V419_{what}"))
}

/// A vendor 4.19 board in CO-RE mode whose BTF source is its vmlinux.
fn core_board_4_19() -> PathBuf {
    let dir = shared_target().join("core-nobtf");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("vendor-4.19-core.toml");
    let text = format!(
        "extends = \"armv7\"\n\n[kernel]\nsource = \"{}\"\nbuild = \"{}\"\n\n[qemu]\nkernel_image = \"{}\"\nbusybox = \"{}\"\n\n[bpf]\nmode = \"core\"\nbtf = \"{}\"\n",
        v419("SRC"),
        v419("BUILD"),
        v419("IMAGE"),
        fx("EBPF_CROSS_ARMHF_BUSYBOX"),
        v419("VMLINUX"),
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// The example loader with one program, tests/bpf/`source`, built for
/// `board` (CO-RE mode): its bundle, and the bundle's manifest.
fn core_bundle(
    board: &Path,
    kernel: Option<&str>,
    source: &str,
    name: &str,
) -> (PathBuf, serde_json::Value) {
    let project = shared_target().join(format!("core-nobtf-{name}"));
    fresh_example(&project);
    std::fs::remove_file(project.join("bpf/open-example.bpf.c")).unwrap();
    std::fs::copy(
        repo().join("tests/bpf").join(source),
        project.join("bpf").join(source),
    )
    .unwrap();
    let target_dir = shared_target().display().to_string();
    let mut args = vec![
        "build",
        "--target",
        board.to_str().unwrap(),
        "--release",
        "--locked",
        "--target-dir",
        &target_dir,
        "--message-format",
        "json",
    ];
    if let Some(k) = kernel {
        args.extend(["--kernel", k]);
    }
    // The real mirror: the -dbg package of a kernel without BTF is not in
    // setup's cache until the first CO-RE build for it fetches it.
    let cache = fx_dir("EBPF_CROSS_REFERENCE_CACHE");
    let r = tool(&project, &args, &[("EBPF_CROSS_CACHE_DIR", &cache)]);
    r.ok();
    let bundle = bundle_path(&r.stdout);
    let out = std::process::Command::new("tar")
        .args(["-xzOf"])
        .arg(&bundle)
        .arg("--wildcards")
        .arg("*/manifest.json")
        .output()
        .unwrap();
    assert!(out.status.success());
    let manifest = json(&String::from_utf8_lossy(&out.stdout));
    (bundle, manifest)
}

/// The workload: its shell writes its own pid to trace_marker, then a
/// child shell writes its pid and execs `head`, which opens a file. So
/// `head`'s tgid is the child's pid and its parent is the outer shell.
/// The trailing `true` keeps busybox sh from exec'ing its last command in
/// place, which would make the child the shell itself.
const WORKLOAD: &str = "cat /proc/version >/sys/kernel/tracing/trace_marker; echo \"shell $$\" >/sys/kernel/tracing/trace_marker; sh -c 'echo \"self $$\" >/sys/kernel/tracing/trace_marker; exec head -n1 /proc/version'; true";

/// The number after `tag` on the first line holding it.
fn number_after(text: &str, tag: &str) -> u32 {
    let rest = text
        .lines()
        .find_map(|l| l.split(tag).nth(1))
        .unwrap_or_else(|| panic!("no `{tag}` line in:\n{text}"));
    rest.split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|e| panic!("{e}: {rest}"))
}

/// Runs `bundle` (its embedded objects) on `target`'s kernel with the pid
/// workload and checks that the CO-RE reads are exactly the pids the guest
/// reported.
fn fires_with_the_guests_pids(target: &Path, kernel: Option<&str>, bundle: &Path) -> Run {
    let bundle = bundle.display().to_string();
    let target = target.display().to_string();
    let mut args = vec!["run", "--target", &target];
    if let Some(k) = kernel {
        args.extend(["--kernel", k]);
    }
    // Every line the checks read must be expected, or `run` does not show
    // it; JSON puts the shown lines on stderr.
    args.extend([
        "--bundle",
        &bundle,
        "--message-format",
        "json",
        "--workload",
        WORKLOAD,
        "--expect",
        "tracing_mark_write: Linux version ",
        "--expect",
        "tracing_mark_write: shell ",
        "--expect",
        "tracing_mark_write: self ",
        "--expect",
        "core comm head pid ",
    ]);
    let _g = one_guest();
    let r = cached_tool(&repo(), &args);
    r.ok();
    pids_match(&r.stderr);
    r
}

/// `head`'s tgid and parent tgid, as the CO-RE program read them, are the
/// pids its shells wrote to trace_marker.
fn pids_match(text: &str) {
    let shell = number_after(text, "tracing_mark_write: shell ");
    let child = number_after(text, "tracing_mark_write: self ");
    // 4.19 prints bpf_trace_printk lines as `0: ...`, later kernels as
    // `bpf_trace_printk: ...`.
    let pid = number_after(text, ": core comm head pid ");
    let ppid = number_after(text, &format!("core comm head pid {pid} ppid "));
    assert_eq!((pid, ppid), (child, shell), "{text}");
    assert_ne!(child, shell);
}

/// The armv7 board in CO-RE mode, its kernel given with --kernel.
fn armv7_core_board() -> PathBuf {
    let dir = shared_target().join("core-nobtf");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("armv7-core.toml");
    std::fs::write(&path, "extends = \"armv7\"\n\n[bpf]\nmode = \"core\"\n").unwrap();
    path
}

/// Debian's armmp 6.1 has no BTF: the tool fetches its -dbg package once
/// (about 600 MB; then cached as BTF beside the image), makes BTF from its
/// DWARF, and the CO-RE bundle runs there with that kernel's minimal BTF.
#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn core_program_fires_on_armmp_6_1_with_btf_from_its_dbg_package() {
    let board = armv7_core_board();
    let started = std::time::Instant::now();
    let (bundle, manifest) =
        core_bundle(&board, Some("debian:6.1"), "core_task_compat.bpf.c", "6.1");
    eprintln!(
        "[bench] armmp 6.1 CO-RE build (-dbg BTF cold or cached): {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let fetched = fetched("armv7", "debian:6.1");
    let image = PathBuf::from(fetched["image"].as_str().unwrap());
    // Cached beside the image, with the kernel's identity.
    let btf = PathBuf::from(format!("{}.btf", image.display()));
    let dump = std::process::Command::new("bpftool")
        .args(["btf", "dump", "file"])
        .arg(&btf)
        .output()
        .unwrap();
    assert!(dump.status.success(), "{btf:?}");
    assert!(String::from_utf8_lossy(&dump.stdout).contains("STRUCT 'task_struct' size="));
    let entries = manifest["btf"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{manifest}");
    assert_eq!(
        entries[0]["kernel_release"].as_str().unwrap(),
        format!("{}-armmp", fetched["abi"].as_str().unwrap())
    );
    let size = entries[0]["size"].as_u64().unwrap();
    eprintln!("[bench] minimal BTF for armmp 6.1 core_task_compat: {size} bytes");
    assert!(size < 64 * 1024, "{size}");
    let r = fires_with_the_guests_pids(&board, Some("debian:6.1"), &bundle);
    let path = entries[0]["path"].as_str().unwrap();
    r.says(&format!(
        "open-example: BTF: /bundle/{path} (the bundle's, for "
    ));
}

/// Issue 17, item 6: one CO-RE bundle, built once against the 4.19 board
/// with `[bpf] also_kernels = ["debian:6.1"]`, carries one minimal BTF per
/// kernel and runs unchanged on both in one `run --bundle` matrix.
#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn one_core_bundle_runs_on_4_19_and_armmp_6_1() {
    let dir = shared_target().join("core-nobtf");
    std::fs::create_dir_all(&dir).unwrap();
    let board = dir.join("vendor-4.19-core-and-6.1.toml");
    let base = std::fs::read_to_string(core_board_4_19()).unwrap();
    std::fs::write(&board, format!("{base}also_kernels = [\"debian:6.1\"]\n")).unwrap();
    let (bundle, manifest) = core_bundle(&board, None, "core_task_compat.bpf.c", "both");
    let entries = manifest["btf"].as_array().unwrap();
    let releases: Vec<String> = entries
        .iter()
        .map(|e| e["kernel_release"].as_str().unwrap().to_string())
        .collect();
    let abi = fetched("armv7", "debian:6.1")["abi"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(releases, ["4.19.131".to_string(), format!("{abi}-armmp")]);
    let bundle_arg = bundle.display().to_string();
    let board_arg = board.display().to_string();
    let _g = one_guest();
    let r = cached_tool(
        &repo(),
        &[
            "run",
            "--target",
            "armv7",
            "--kernel",
            &board_arg,
            "--kernel",
            "debian:6.1",
            "--bundle",
            &bundle_arg,
            "--message-format",
            "json",
            "--workload",
            WORKLOAD,
            "--expect",
            "tracing_mark_write: Linux version ",
            "--expect",
            "tracing_mark_write: shell ",
            "--expect",
            "tracing_mark_write: self ",
            "--expect",
            "core comm head pid ",
        ],
    );
    r.ok();
    // Each kernel's part of the output: its boot, its lines.
    let parts: Vec<&str> = r.stderr.split("Booting ").skip(1).collect();
    assert_eq!(parts.len(), 2, "{}", r.stderr);
    for (part, release) in parts.iter().zip(&releases) {
        assert!(
            part.contains(&format!("tracing_mark_write: Linux version {release} (")),
            "{part}"
        );
        assert!(
            part.contains(&format!("(the bundle's, for {release} ")),
            "{part}"
        );
        pids_match(part);
    }
}

fn compile(board: &Path, source: &str, out: &Path) -> Run {
    cached_tool(
        &repo(),
        &[
            "compile",
            "--target",
            board.to_str().unwrap(),
            repo().join("tests/bpf").join(source).to_str().unwrap(),
            "-o",
            &format!("{}/", out.display()),
        ],
    )
}

#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn core_program_fires_on_4_19_with_btf_made_from_dwarf() {
    let board = core_board_4_19();
    let out = shared_target().join("core-nobtf/objects-4.19");
    let _ = std::fs::remove_dir_all(&out);
    let r = compile(&board, "core_task_compat.bpf.c", &out);
    r.ok();
    // The BTF pahole made, cached by the vmlinux's sha256.
    let vmlinux = std::fs::read(v419("VMLINUX")).unwrap();
    let sha = sha256_hex(&vmlinux);
    let btf = PathBuf::from(fx_dir("EBPF_CROSS_REFERENCE_CACHE"))
        .join("btf")
        .join(format!("{sha}.btf"));
    let dump = std::process::Command::new("bpftool")
        .args(["btf", "dump", "file"])
        .arg(&btf)
        .output()
        .unwrap();
    assert!(dump.status.success(), "{btf:?}");
    let dump = String::from_utf8_lossy(&dump.stdout);
    // 4.19's task_struct as its DWARF says: 1536 bytes on armv7.
    assert!(
        dump.contains("STRUCT 'task_struct' size=1536 vlen="),
        "{btf:?}"
    );
    let (bundle, manifest) = core_bundle(&board, None, "core_task_compat.bpf.c", "4.19");
    // One minimal BTF, for the 4.19 kernel by its full identity.
    let btf = &manifest["btf"];
    assert_eq!(btf.as_array().unwrap().len(), 1, "{manifest}");
    let (release, version) = (
        btf[0]["kernel_release"].as_str().unwrap(),
        btf[0]["kernel_version"].as_str().unwrap(),
    );
    assert_eq!(release, "4.19.131");
    assert!(version.starts_with("#1 SMP "), "{version}");
    let size = btf[0]["size"].as_u64().unwrap();
    eprintln!(
        "[bench] minimal BTF for 4.19 core_task_compat: {size} bytes; bundle {} bytes",
        std::fs::metadata(&bundle).unwrap().len()
    );
    assert!(size < 64 * 1024, "{size}");
    let r = fires_with_the_guests_pids(&board, None, &bundle);
    // The identity is the booted kernel's own, and the loader said which
    // BTF it used.
    r.says(&format!("tracing_mark_write: Linux version {release} ("));
    r.says(&format!(") {version}"));
    let path = btf[0]["path"].as_str().unwrap();
    r.says(&format!(
        "open-example: BTF: /bundle/{path} (the bundle's, for {release} {version})"
    ));
}

fn sha256_hex(b: &[u8]) -> String {
    let o = std::process::Command::new("sha256sum")
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b)?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// A board in CO-RE mode whose `[bpf] btf` is `btf`.
/// The 4.19 tree only for armv7 boards: another arch's board has no tree
/// of its own here, and CO-RE mode needs none.
fn board_with_btf(name: &str, extends: &str, btf: &Path) -> PathBuf {
    let dir = shared_target().join("core-nobtf");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.toml"));
    let kernel = if extends == "armv7" {
        format!(
            "[kernel]\nsource = \"{}\"\nbuild = \"{}\"\n\n",
            v419("SRC"),
            v419("BUILD")
        )
    } else {
        "[kernel]\nversion = \"4.19\"\n\n".to_string()
    };
    std::fs::write(
        &path,
        format!(
            "extends = \"{extends}\"\n\n{kernel}[bpf]\nmode = \"core\"\nbtf = \"{}\"\n",
            btf.display()
        ),
    )
    .unwrap();
    path
}

/// Bad BTF sources: each says what is wrong and caches nothing (the cache
/// here is the test's own, empty one).
fn bad_btf(board: &Path, cache: &Path) -> Run {
    let out = cache.join("out");
    tool(
        &repo(),
        &[
            "compile",
            "--target",
            board.to_str().unwrap(),
            repo()
                .join("tests/bpf/core_task_compat.bpf.c")
                .to_str()
                .unwrap(),
            "-o",
            &format!("{}/", out.display()),
        ],
        &[("EBPF_CROSS_CACHE_DIR", cache.to_str().unwrap())],
    )
}

/// No BTF and no partial file: only the lock that serialises pahole runs
/// may be left.
fn nothing_cached(cache: &Path) {
    let dir = cache.join("btf");
    if dir.exists() {
        let left: Vec<String> = listing(&dir)
            .into_iter()
            .filter(|f| !f.ends_with(".lock"))
            .collect();
        assert_eq!(left, Vec::<String>::new());
    }
}

#[test]
#[ignore = "tier: kernels (scripts/setup.sh)"]
fn a_vmlinux_without_dwarf_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let stripped = tmp.path().join("vmlinux-stripped");
    let st = std::process::Command::new("arm-linux-gnueabihf-objcopy")
        .args(["--strip-debug", &v419("VMLINUX")])
        .arg(&stripped)
        .status()
        .unwrap();
    assert!(st.success());
    let board = board_with_btf("stripped-4.19", "armv7", &stripped);
    let cache = tmp.path().join("cache");
    let r = bad_btf(&board, &cache);
    r.fails();
    r.says(&format!(
            "error: no BTF from `{}`: it has neither a .BTF section nor DWARF (.debug_info) to make one from\n  help: rebuild the kernel with CONFIG_DEBUG_INFO=y (and CONFIG_DEBUG_INFO_REDUCED off), or use the unstripped vmlinux from the build tree or a -dbg package, not a stripped one\n",
            stripped.display()
        ));
    nothing_cached(&cache);
}

#[test]
#[ignore = "tier: kernels (scripts/setup.sh)"]
fn a_vmlinux_for_another_arch_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let board = board_with_btf(
        "arm64-with-armv7-vmlinux",
        "aarch64",
        Path::new(&v419("VMLINUX")),
    );
    let cache = tmp.path().join("cache");
    let r = bad_btf(&board, &cache);
    r.fails();
    r.says(&format!(
            "error: no BTF from `{}`: it is built for ELF machine 40, but this board is AArch64 (machine 183)\n  help: point [bpf] btf at the vmlinux of this board's own kernel\n",
            v419("VMLINUX")
        ));
    nothing_cached(&cache);
}

#[test]
#[ignore = "tier: kernels (scripts/setup.sh)"]
fn no_pahole_names_its_package() {
    let tmp = tempfile::tempdir().unwrap();
    let board = board_with_btf("no-pahole-4.19", "armv7", Path::new(&v419("VMLINUX")));
    let cache = tmp.path().join("cache");
    let out = cache.join("out");
    // A PATH with every tool but pahole: links to the real ones.
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for dir in std::env::var("PATH").unwrap().split(':') {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = e.file_name();
            if name != "pahole" && !bin.join(&name).exists() {
                let _ = std::os::unix::fs::symlink(e.path(), bin.join(&name));
            }
        }
    }
    let r = tool(
        &repo(),
        &[
            "compile",
            "--target",
            board.to_str().unwrap(),
            repo()
                .join("tests/bpf/core_task_compat.bpf.c")
                .to_str()
                .unwrap(),
            "-o",
            &format!("{}/", out.display()),
        ],
        &[
            ("EBPF_CROSS_CACHE_DIR", cache.to_str().unwrap()),
            ("PATH", bin.to_str().unwrap()),
        ],
    );
    r.fails();
    r.says("error: pahole (No such file or directory (os error 2)) not found\n  help: install it (`apt-get install dwarves`); CO-RE mode needs it to make BTF from a vmlinux that has only DWARF\n");
    nothing_cached(&cache);
}

/// Without the network (CARGO_NET_OFFLINE), an armmp kernel whose -dbg BTF is not
/// cached is refused with what would be downloaded, and nothing is fetched.
#[test]
#[ignore = "tier: kernels (scripts/setup.sh)"]
fn offline_core_on_armmp_without_cached_btf_says_what_it_would_fetch() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let entry = "kernels/debian-6.1-armhf-armmp";
    // cp -a: the tree has symlinks (its `build` link).
    std::fs::create_dir_all(cache.join("kernels")).unwrap();
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(PathBuf::from(fx_dir("EBPF_CROSS_REFERENCE_CACHE")).join(entry))
        .arg(cache.join("kernels"))
        .status()
        .unwrap();
    assert!(st.success());
    let boot = cache.join(entry).join("root/boot");
    for f in listing(&boot) {
        if f.ends_with(".btf") || f.ends_with(".identity") {
            std::fs::remove_file(boot.join(f)).unwrap();
        }
    }
    let abi = fetched("armv7", "debian:6.1")["abi"]
        .as_str()
        .unwrap()
        .to_string();
    let r = tool(
        &repo(),
        &[
            "compile",
            "--target",
            armv7_core_board().to_str().unwrap(),
            "--kernel",
            "debian:6.1",
            repo()
                .join("tests/bpf/core_task_compat.bpf.c")
                .to_str()
                .unwrap(),
            "-o",
            &format!("{}/", tmp.path().join("out").display()),
        ],
        &[
            ("EBPF_CROSS_CACHE_DIR", cache.to_str().unwrap()),
            ("EBPF_CROSS_DEBIAN_MIRROR", NO_NETWORK),
            ("CARGO_NET_OFFLINE", "true"),
        ],
    );
    r.fails();
    r.says(&format!(
            "error: CO-RE mode needs BTF for debian:6.1 armmp, made from its linux-image-{abi}-armmp-dbg package, which is not cached, and this command does not download (--offline, CARGO_NET_OFFLINE, --dry-run or a report)\n  help: run the same compile or build once online; the BTF is then cached beside the kernel\n"
        ));
    assert_eq!(
        listing(&boot)
            .into_iter()
            .filter(|f| f.ends_with(".btf"))
            .count(),
        0
    );
}

/// DWARF that declares `struct task_struct` but never defines it (what
/// reduced DWARF leaves of most structs) gives BTF no CO-RE program can use:
/// refused after pahole, and its output is not cached.
#[test]
#[ignore = "tier: kernels (scripts/setup.sh)"]
fn dwarf_without_task_struct_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("decl.c"),
        "struct task_struct;\nstruct task_struct *current_task;\nstruct other { int a; } o;\n",
    )
    .unwrap();
    let obj = tmp.path().join("decl.o");
    let st = std::process::Command::new("arm-linux-gnueabihf-gcc")
        .args(["-g", "-c", "decl.c", "-o", "decl.o"])
        .current_dir(tmp.path())
        .status()
        .unwrap();
    assert!(st.success());
    let board = board_with_btf("decl-only", "armv7", &obj);
    let cache = tmp.path().join("cache");
    let r = bad_btf(&board, &cache);
    r.fails();
    r.says(&format!(
            "error: no BTF from `{}`: its DWARF describes no struct task_struct\n  help: rebuild the kernel with CONFIG_DEBUG_INFO=y and CONFIG_DEBUG_INFO_REDUCED off\n",
            obj.display()
        ));
    nothing_cached(&cache);
}
