//! `config` and the operations read one resolver, so they cannot disagree:
//! with every setting given through the environment, each value `config`
//! prints is found in the plan `run --dry-run` prints (the BPF compile, the
//! loader's cargo build, QEMU's argv and the guest's /init).

use std::collections::BTreeMap;
use std::path::Path;

use crate::common::*;

/// Keys `run --dry-run` does not show, and where their one reader is.
const NOT_IN_THE_PLAN: &[(&str, &str)] = &[
    (
        "target",
        "the profile's name, printed as `# target` (checked)",
    ),
    ("endian", "an arch-table fact; the clang triple carries it"),
    ("kernel_tree", "not set here: a reference kernel stands in"),
    (
        "kernel_version",
        "not set here: read from the reference tree",
    ),
    ("libbpf_include", "not set here"),
    (
        "helpers",
        "staged into .state/include, which the plan shows instead",
    ),
    ("stamp_version", "changes objects, not argv"),
    ("kernel_allow", "changes the kernel check, not argv"),
    ("ssh_config", "run --ssh only; ssh_board tests it"),
    ("debian_keyring", "used only when a download happens"),
    ("debian_mirror", "used only when a download happens"),
    ("security_mirror", "used only when a download happens"),
    ("stall_timeout", "used only when a download happens"),
    ("host_libbpf", "chooses helpers; see `helpers`"),
    ("source_date_epoch", "the bundle's file times, not argv"),
    ("offline", "forbids downloads; none is needed here"),
];

#[test]
#[ignore = "tier: kernels (scripts/setup.sh)"]
fn config_shows_what_run_uses() {
    let d = tempfile::tempdir().unwrap();
    let project = fresh_example(&d.path().join("p"));
    // A path with a space, as a board's files often have.
    let inputs = d.path().join("board files");
    std::fs::create_dir_all(&inputs).unwrap();
    let fetched = fetched("armv7", "debian:6.1");
    let image = inputs.join("zImage");
    let busybox = inputs.join("busybox");
    std::fs::copy(fetched["image"].as_str().unwrap(), &image).unwrap();
    std::fs::copy(fetched["busybox"].as_str().unwrap(), &busybox).unwrap();
    let mut env: Vec<(&str, String)> = cached_env();
    env.extend([
        ("CLANG", "clang-14".to_string()),
        ("LLC", "llc-14".to_string()),
        (
            "EBPF_CROSS_RUST_TARGET",
            "thumbv7neon-unknown-linux-gnueabihf".to_string(),
        ),
        ("EBPF_CROSS_KERNEL_IMAGE", image.display().to_string()),
        ("EBPF_CROSS_BUSYBOX", busybox.display().to_string()),
        ("EBPF_CROSS_BPF_CFLAGS", "-DAGREE=1".to_string()),
        ("EBPF_CROSS_STATIC", "1".to_string()),
    ]);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let config = tool(&project, &["config", "-t", "armv7", "--json"], &pairs);
    config.ok();
    let config: BTreeMap<String, Option<String>> = json(&config.stdout)
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["key"].as_str().unwrap().to_string(),
                e["value"].as_str().map(str::to_string),
            )
        })
        .collect();
    let plan = tool(&project, &["run", "-t", "armv7", "--dry-run"], &pairs);
    plan.ok();
    let lines: Vec<&str> = plan.stdout.lines().collect();
    let line = |start: &str| -> &str {
        lines
            .iter()
            .find(|l| l.contains(start))
            .unwrap_or_else(|| panic!("no line with {start:?} in:\n{}", plan.stdout))
    };
    let value = |key: &str| -> &str {
        config[key]
            .as_deref()
            .unwrap_or_else(|| panic!("config has no value for {key}"))
    };
    // "PATH (VERSION)" for the tools.
    let path_of = |key: &str| value(key).split(" (").next().unwrap().to_string();
    let clang = line("--target=armv7a-linux-gnueabihf");
    let cargo = line("cargo build");
    let mut checked = Vec::new();
    let mut check = |key: &str, in_line: &str, text: String| {
        assert!(
            in_line.contains(&text),
            "config's {key} = {:?}, but the plan's line lacks {text:?}:\n{in_line}",
            config[key]
        );
        checked.push(key.to_string());
    };
    check(
        "target",
        line("# target"),
        format!("# target {}", value("target")),
    );
    check("clang", clang, format!("{} ", path_of("clang")));
    check("llc", clang, format!("| {} ", path_of("llc")));
    check(
        "clang_target",
        clang,
        format!("--target={}", value("clang_target")),
    );
    check("arch", clang, format!("-D__TARGET_ARCH_{} ", value("arch")));
    check("bpf_cflags", clang, format!(" {} ", value("bpf_cflags")));
    check(
        "kernel_reference",
        clang,
        "/kernels/debian-6.1-armhf-armmp/root/usr/src/linux-headers-".to_string(),
    );
    assert_eq!(value("kernel_reference"), "debian:6.1");
    check(
        "cache_dir",
        clang,
        format!("-I{}/kernels/", value("cache_dir")),
    );
    check(
        "rust_target",
        cargo,
        format!("--target {} ", value("rust_target")),
    );
    check(
        "linker",
        cargo,
        format!(
            "target.\"{}\".linker=\"{}\"",
            value("rust_target"),
            value("linker")
        ),
    );
    assert_eq!(value("static"), "true");
    check("static", cargo, "+crt-static".to_string());
    check(
        "qemu_kernel_image",
        line("qemu-system-arm"),
        format!("-kernel '{}' ", value("qemu_kernel_image")),
    );
    check(
        "qemu_busybox",
        line("# /init of the initramfs"),
        format!("(busybox {}, ", value("qemu_busybox")),
    );
    assert_eq!(value("qemu_kernel_image"), image.display().to_string());
    assert_eq!(value("qemu_busybox"), busybox.display().to_string());
    // Every key config prints is either checked above or listed, with
    // why, as not in the plan: a new setting must join one or the other.
    let mut covered: Vec<String> = checked;
    covered.extend(NOT_IN_THE_PLAN.iter().map(|(k, _)| k.to_string()));
    covered.sort();
    covered.dedup();
    let printed: Vec<String> = config.keys().cloned().collect();
    assert_eq!(
        printed, covered,
        "config's keys vs the keys this test covers"
    );
    assert!(Path::new(&path_of("clang")).is_absolute());
}
