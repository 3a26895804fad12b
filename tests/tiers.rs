//! The tier markers themselves: `scripts/test.sh --tier NAME` finds a
//! tier's tests by reading these files, so every ignored test must carry
//! one of the reasons below, spelled exactly, on the line before its `fn`
//! (other attributes may sit between).

use crate::common::*;

/// Each reason, and the tier `scripts/test.sh --tier` knows it by.
const REASONS: &[(&str, &str)] = &[
    (
        "#[ignore = \"tier: tools (scripts/setup.sh --no-kernels)\"]",
        "tools",
    ),
    (
        "#[ignore = \"tier: kernels (scripts/setup.sh)\"]",
        "kernels",
    ),
    (
        "#[ignore = \"tier: kernels (scripts/setup.sh: the Python tools in .fixtures/venv)\"]",
        "kernels",
    ),
    ("#[ignore = \"tier: qemu (scripts/setup.sh)\"]", "qemu"),
    ("#[ignore = \"tier: network (deb.debian.org)\"]", "network"),
    (
        "#[ignore = \"tier: network (deb.debian.org), as root (mount)\"]",
        "network",
    ),
];

/// `module::fn` of every ignored test, with its tier.
fn ignored() -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    let dir = repo().join("tests");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    files.sort();
    for f in files {
        let module = f.file_stem().unwrap().to_string_lossy().into_owned();
        let text = read(&f);
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if !line.trim_start().starts_with("#[ignore") {
                continue;
            }
            let tier = REASONS
                .iter()
                .find(|(r, _)| line == r)
                .map(|(_, t)| *t)
                .unwrap_or_else(|| {
                    panic!(
                        "tests/{module}.rs:{}: `{line}` is not a tier marker (tests/tiers.rs)",
                        i + 1
                    )
                });
            let name = lines[i + 1..]
                .iter()
                .find(|l| !l.starts_with("#["))
                .and_then(|l| l.strip_prefix("fn "))
                .and_then(|l| l.split_once('('))
                .map(|(n, _)| n.to_string())
                .unwrap_or_else(|| {
                    panic!(
                        "tests/{module}.rs:{}: no top-level `fn` follows the marker",
                        i + 1
                    )
                });
            out.push((format!("{module}::{name}"), tier));
        }
    }
    out
}

#[test]
fn every_ignored_test_names_its_tier() {
    let all = ignored();
    for tier in ["tools", "kernels", "qemu", "network"] {
        assert!(
            all.iter().any(|(_, t)| *t == tier),
            "no test in tier {tier}"
        );
    }
}

/// The script's own reading of the markers finds the same tests.
#[test]
fn test_sh_lists_each_tier_as_the_markers_say() {
    for tier in ["tools", "kernels", "qemu", "network"] {
        let want: Vec<String> = ignored()
            .into_iter()
            .filter(|(_, t)| *t == tier)
            .map(|(n, _)| n)
            .collect();
        let o = std::process::Command::new("bash")
            .arg(repo().join("scripts/test.sh"))
            .args(["--list-tier", tier])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let got: Vec<String> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        assert_eq!(got, want, "tier {tier}");
    }
}
