//! `cargo ebpf-cross new` / `init`: the files a project gets, the names and
//! places it refuses, the template's loader staying the example's, and a new
//! project building for armv7 and for its own board file.
//!
//! The end-to-end test needs the Debian kernel trees from scripts/setup.sh
//! and crates.io for aya (compiled deps are kept in target/scaffold-e2e so a
//! second run is quick).

use crate::common;
use crate::common::*;

use std::path::Path;
use std::process::Output;
use std::time::Instant;

/// Runs the tool in `dir` with plain (uncoloured) messages, and without
/// kernel or target settings the developer's shell may carry.
fn tool(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = tool_cmd();
    cmd.current_dir(dir).arg("--color").arg("never").args(args);
    for v in [
        "EBPF_CROSS_KERNEL_SRC",
        "EBPF_CROSS_KERNEL_BUILD",
        "EBPF_CROSS_KERNEL_VERSION",
        "EBPF_CROSS_RUST_TARGET",
    ] {
        cmd.env_remove(v);
    }
    cmd.output().expect("the tool runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every file `new demo` writes, sorted as `common::listing` sorts.
fn new_files() -> Vec<String> {
    let mut v: Vec<String> = [
        ".github/workflows/ebpf-cross.yml",
        ".gitignore",
        ".gitlab-ci.yml",
        "Cargo.toml",
        "LICENSE-APACHE",
        "LICENSE-MIT",
        "README.md",
        "boards/myboard.toml",
        "bpf/demo.bpf.c",
        "buildroot/Config.in",
        "buildroot/external.desc",
        "buildroot/external.mk",
        "buildroot/package/cargo-ebpf-cross/cargo-ebpf-cross.mk",
        "buildroot/package/demo/Config.in",
        "buildroot/package/demo/demo.mk",
        "build.rs",
        "src/main.rs",
        "yocto/classes/ebpf_cross.bbclass",
        "yocto/conf/layer.conf",
        "yocto/recipes-devtools/cargo-ebpf-cross/cargo-ebpf-cross-crates.inc",
        "yocto/recipes-ebpf/demo/demo_git.bb",
        "yocto/recipes-kernel/linux/files/ebpf.cfg",
        "yocto/recipes-kernel/linux/linux-yocto_%.bbappend",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push(format!(
        "yocto/recipes-devtools/cargo-ebpf-cross/cargo-ebpf-cross_{}.bb",
        env!("CARGO_PKG_VERSION")
    ));
    v.sort();
    v
}

#[test]
fn new_creates_the_exact_file_list() {
    let t = tempfile::tempdir().unwrap();
    let o = tool(t.path(), &["new", "demo"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(common::listing(&t.path().join("demo")), new_files());
    assert!(
        stderr(&o).contains("Created project `demo`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn new_renders_names_and_target() {
    let t = tempfile::tempdir().unwrap();
    let o = tool(
        t.path(),
        &[
            "new", "my-probe", "--target", "aarch64", "--path", "sub/dir",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let d = t.path().join("sub/dir");
    assert!(!t.path().join("my-probe").exists());

    let manifest: toml::Table = read(d.join("Cargo.toml")).parse().unwrap();
    assert_eq!(manifest["package"]["name"].as_str(), Some("my-probe"));
    assert_eq!(manifest["bin"][0]["name"].as_str(), Some("my-probe"));
    assert_eq!(
        manifest["package"]["metadata"]["ebpf-cross"]["programs"][0].as_str(),
        Some("bpf/*.bpf.c")
    );

    assert!(d.join("bpf/my-probe.bpf.c").is_file());
    assert!(read(d.join("bpf/my-probe.bpf.c"))
        .starts_with("// SPDX-License-Identifier: GPL-2.0-only\n/*\n * my-probe: "));
    let board = read(d.join("boards/myboard.toml"));
    assert!(board.contains("\nextends = \"aarch64\"\n"), "{board}");
    let recipe = read(d.join("yocto/recipes-ebpf/my-probe/my-probe_git.bb"));
    assert!(
        recipe.contains("\nEBPF_CROSS_TARGET = \"aarch64\"\n"),
        "{recipe}"
    );
    assert!(recipe.contains("\ninherit ebpf_cross\n"), "{recipe}");
    assert!(
        recipe.contains("\ninclude my-probe-crates.inc\n"),
        "{recipe}"
    );
    let layer = read(d.join("yocto/conf/layer.conf"));
    assert!(
        layer.contains("\nBBFILE_COLLECTIONS += \"my-probe\"\n"),
        "{layer}"
    );
    let gitlab = read(d.join(".gitlab-ci.yml"));
    assert!(gitlab.contains("name: \"my-probe-$BOARD\""), "{gitlab}");
    assert!(gitlab.contains("\"$(field .cross_package)\""), "{gitlab}");
    assert_eq!(
        read(d.join("src/main.rs")),
        read(common::repo().join("examples/open-example/src/main.rs")),
        "the loader is the example's, verbatim"
    );

    let ci = read(d.join(".github/workflows/ebpf-cross.yml"));
    // GitHub's own expressions survive rendering untouched.
    assert!(ci.contains("${{ matrix.board }}"));
    assert!(ci.contains("${{ fromJSON(needs.boards.outputs.matrix) }}"));
    assert!(ci.contains("name: \"my-probe-${{ matrix.board }}\""));
    assert!(ci.contains("cargo ebpf-cross targets --json --boards boards"));

    for f in common::listing(&d) {
        let text = read(d.join(&f));
        for key in ["{{name", "{{target", "{{tool_"] {
            assert!(!text.contains(key), "{f} still holds {key}");
        }
    }

    // The sample board is a valid profile the CI matrix picks up.
    let o = tool(&d, &["targets", "--json", "--boards", "boards"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let boards: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t.get("file").is_some())
        .collect();
    assert_eq!(boards.len(), 1, "{list}");
    assert_eq!(boards[0]["name"], "myboard");
    assert_eq!(boards[0]["base"], "aarch64");
    assert_eq!(boards[0]["rust_target"], "aarch64-unknown-linux-gnu");
}

#[test]
fn new_refuses_an_existing_directory() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir(t.path().join("demo")).unwrap();
    std::fs::write(t.path().join("demo/keep.txt"), "mine").unwrap();
    let o = tool(t.path(), &["new", "demo"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "error: destination `demo` already exists\n  \
         help: choose another NAME or --path DIR; to add the project files to an existing \
         directory, run `cargo ebpf-cross init` in it\n"
    );
    assert_eq!(common::listing(&t.path().join("demo")), ["keep.txt"]);

    // A plain file in the way counts too.
    std::fs::write(t.path().join("other"), "").unwrap();
    let o = tool(t.path(), &["new", "x", "--path", "other"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("error: destination `other` already exists\n"));
}

#[test]
fn new_rejects_bad_names() {
    let hint = "  help: use ASCII letters, digits, `-` and `_`, starting with a letter, for example `my-probe`\n";
    let cases = [
        ("", "it is empty"),
        ("1probe", "it starts with a digit"),
        ("-probe", "it starts with `-`"),
        (
            "my probe",
            "it contains ` `; only ASCII letters, digits, `-` and `_` are allowed",
        ),
        (
            "probe.v2",
            "it contains `.`; only ASCII letters, digits, `-` and `_` are allowed",
        ),
        ("fn", "it is a Rust keyword"),
        ("match", "it is a Rust keyword"),
        ("core", "it is the name of a crate that comes with Rust"),
        ("std", "it is the name of a crate that comes with Rust"),
        ("test", "it is the name of a crate that comes with Rust"),
        (
            "proc-macro",
            "it is the name of a crate that comes with Rust",
        ),
        ("aya", "the loader depends on a crate of that name"),
    ];
    let t = tempfile::tempdir().unwrap();
    for (name, why) in cases {
        // `--` so that a name starting with `-` reaches the check.
        let o = tool(t.path(), &["new", "--", name]);
        assert_eq!(o.status.code(), Some(1), "{name:?}: {}", stderr(&o));
        assert_eq!(
            stderr(&o),
            format!("error: invalid project name `{name}`: {why}\n{hint}"),
            "{name:?}"
        );
    }
    assert!(
        common::listing(t.path()).is_empty(),
        "nothing may be created"
    );
}

#[test]
fn new_rejects_an_unknown_or_file_target() {
    let t = tempfile::tempdir().unwrap();
    let o = tool(t.path(), &["new", "demo", "--target", "armv99"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("error: unknown target `armv99`\n  help: built-in targets: "),
        "{}",
        stderr(&o)
    );
    std::fs::write(t.path().join("b.toml"), "extends = \"armv7\"\n").unwrap();
    let o = tool(t.path(), &["new", "demo", "--target", "b.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with(
            "error: `b.toml` is a profile file; --target here takes a built-in profile\n"
        ),
        "{}",
        stderr(&o)
    );
    assert_eq!(common::listing(t.path()), ["b.toml"]);
}

#[test]
fn init_writes_into_the_current_directory() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("probe-dir");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("NOTES"), "kept").unwrap();
    let o = tool(&d, &["init"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut want: Vec<String> = new_files()
        .iter()
        .map(|f| f.replace("demo", "probe-dir"))
        .chain(["NOTES".to_string()])
        .collect();
    want.sort();
    assert_eq!(common::listing(&d), want);
    assert!(read(d.join("Cargo.toml")).contains("name = \"probe-dir\""));

    // --name wins over the directory's name, which may then be anything.
    let odd = t.path().join("9 lives");
    std::fs::create_dir(&odd).unwrap();
    let o = tool(&odd, &["init"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "error: invalid project name `9 lives`: it contains ` `; only ASCII letters, digits, `-` and `_` are allowed\n  \
         help: the name comes from the directory's; pass --name NAME (use ASCII letters, digits, `-` and `_`, starting with a letter, for example `my-probe`)\n"
    );
    let o = tool(&odd, &["init", "--name", "lives", "--target", "riscv64"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(read(odd.join("boards/myboard.toml")).contains("extends = \"riscv64\""));
    assert!(odd.join("bpf/lives.bpf.c").is_file());
}

#[test]
fn init_refuses_to_overwrite() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("demo");
    std::fs::create_dir_all(d.join("src")).unwrap();
    std::fs::write(d.join("Cargo.toml"), "[package]\n").unwrap();
    std::fs::write(d.join("src/main.rs"), "fn main() {}\n").unwrap();
    let o = tool(&d, &["init"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "error: init would overwrite 2 existing files: Cargo.toml, src/main.rs\n  \
         help: move them out of the way first, or create a fresh directory with `cargo ebpf-cross new NAME`\n"
    );
    // Untouched, and nothing added.
    assert_eq!(common::listing(&d), ["Cargo.toml", "src/main.rs"]);
    assert_eq!(read(d.join("Cargo.toml")), "[package]\n");
}

/// The template's loader is the example's generic loader, modulo the name:
/// a fix to one must reach the other.
#[test]
fn template_loader_matches_the_example() {
    let root = common::repo();
    let example = root.join("examples/open-example");
    let tmpl = root.join("templates/project");
    let as_example = |f: &str| read(tmpl.join(f)).replace("{{name}}", "open-example");
    let t: toml::Table = as_example("Cargo.toml.in").parse().unwrap();
    let e: toml::Table = read(example.join("Cargo.toml")).parse().unwrap();
    for key in ["dependencies", "profile", "bin", "workspace"] {
        assert_eq!(t.get(key), e.get(key), "[{key}] differs from the example's");
    }
    assert_eq!(
        t["package"]["metadata"], e["package"]["metadata"],
        "[package.metadata] differs from the example's"
    );
}

// ---------------------------------------------------------------------------
// End to end

/// A bundle's file list and manifest.
fn open_bundle(p: &Path) -> (Vec<String>, serde_json::Value) {
    let b = cargo_ebpf_cross::bundle::Bundle::open(p).unwrap();
    let names = b.files.iter().map(|f| f.path.clone()).collect();
    let m = b.file("manifest.json").expect("manifest.json");
    (names, serde_json::from_slice(&m.data).unwrap())
}

#[test]
#[ignore = "tier: kernels (scripts/setup.sh)"]
fn new_project_builds_for_armv7_and_for_its_board() {
    let src = common::fx_dir("EBPF_CROSS_ARMHF_SRC");
    let build = common::fx_dir("EBPF_CROSS_ARMHF_BUILD");
    let t = tempfile::tempdir().unwrap();
    let o = tool(t.path(), &["new", "demo", "--target", "armv7"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let d = t.path().join("demo");
    // Shared between runs, so aya and friends are compiled once.
    let target_dir = common::repo().join("target/scaffold-e2e");
    let out = target_dir.join("ebpf-cross");
    let armv7 = out.join("armv7/demo-0.1.0-armv7.tar.gz");
    let board = out.join("myboard/demo-0.1.0-myboard.tar.gz");
    for stale in [&armv7, &board] {
        let _ = std::fs::remove_file(stale);
    }
    let run = |args: &[&str]| {
        let start = Instant::now();
        let mut c = tool_cmd();
        let o = c
            .current_dir(&d)
            .env("CARGO_TARGET_DIR", &target_dir)
            .env_remove("EBPF_CROSS_KERNEL_SRC")
            .env_remove("EBPF_CROSS_KERNEL_BUILD")
            .env_remove("EBPF_CROSS_KERNEL_VERSION")
            .env_remove("EBPF_CROSS_RUST_TARGET")
            .args(["--color", "never"])
            .args(args)
            .output()
            .unwrap();
        eprintln!("{args:?}: {:.1} s", start.elapsed().as_secs_f64());
        assert!(
            o.status.success(),
            "{args:?} failed:\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            stderr(&o)
        );
    };

    run(&[
        "build",
        "--target",
        "armv7",
        "--release",
        "--kernel-src",
        &src,
        "--kernel-build",
        &build,
    ]);
    let (names, m) = open_bundle(&armv7);
    assert_eq!(names, ["bin/demo", "bpf/demo.o", "manifest.json"]);
    assert_eq!(m["target"], "armv7");
    assert_eq!(m["package"], "demo");

    // The sample board, with its [kernel] paths filled in as a user would.
    let path = d.join("boards/myboard.toml");
    let text = read(&path)
        .replace(
            "source = \"/path/to/linux\"",
            &format!("source = \"{src}\""),
        )
        .replace(
            "# build = \"/path/to/linux-build\"",
            &format!("build = \"{build}\""),
        );
    assert!(text.contains(&format!("build = \"{build}\"")));
    std::fs::write(&path, text).unwrap();
    run(&["build", "--target", "boards/myboard.toml", "--release"]);
    let (names, m) = open_bundle(&board);
    assert_eq!(names, ["bin/demo", "bpf/demo.o", "manifest.json"]);
    assert_eq!(m["target"], "myboard");
    assert_eq!(m["base_target"], "armv7");
    assert!(
        m["kernel_version"]
            .as_str()
            .is_some_and(|v| v.starts_with("6.1.")),
        "{m}"
    );
}
