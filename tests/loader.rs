//! The loader build (issues 11 and 12) on small dependency-free loaders, so
//! each cross build takes seconds: which objects each loader embeds, how
//! linkers and flags reach cargo, and several boards in one cargo run.
//! They need clang, the cross gccs and Rust targets from scripts/setup.sh.

use crate::common::*;
use std::path::{Path, PathBuf};

/// A build script that embeds every `*.o` of the objects dir cargo's TARGET
/// selects (`EBPF_CROSS_OBJ_DIR_<TRIPLE>`, else `EBPF_CROSS_OBJ_DIR`), each
/// name behind a marker the tests find in the binary.
const EMBED_BUILD_RS: &str = r#"use std::{env, fs, path::PathBuf};
fn main() {
    let key = env::var("TARGET").unwrap().to_uppercase().replace(['-', '.'], "_");
    let per = format!("EBPF_CROSS_OBJ_DIR_{key}");
    println!("cargo:rerun-if-env-changed={per}");
    println!("cargo:rerun-if-env-changed=EBPF_CROSS_OBJ_DIR");
    let dir = env::var(&per).ok().filter(|v| !v.is_empty())
        .or_else(|| env::var("EBPF_CROSS_OBJ_DIR").ok().filter(|v| !v.is_empty()));
    let mut code = String::from("pub static EMBEDDED: &[(&str, &[u8])] = &[\n");
    if let Some(d) = dir {
        println!("cargo:rerun-if-changed={d}");
        let mut objs: Vec<PathBuf> = fs::read_dir(&d).unwrap().map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "o")).collect();
        objs.sort();
        for p in objs {
            println!("cargo:rerun-if-changed={}", p.display());
            let n = p.file_name().unwrap().to_str().unwrap().to_string();
            code.push_str(&format!("    (\"ebpf-embedded:{n}\", include_bytes!({:?})),\n", p.display().to_string()));
        }
    }
    code.push_str("];\n");
    fs::write(PathBuf::from(env::var("OUT_DIR").unwrap()).join("embedded.rs"), code).unwrap();
}
"#;

/// The old contract only: one EBPF_CROSS_OBJ_DIR for whatever cargo builds.
const OLD_BUILD_RS: &str = r#"use std::{env, fs, path::PathBuf};
fn main() {
    println!("cargo:rerun-if-env-changed=EBPF_CROSS_OBJ_DIR");
    let mut code = String::from("pub static EMBEDDED: &[(&str, &[u8])] = &[\n");
    if let Some(d) = env::var("EBPF_CROSS_OBJ_DIR").ok().filter(|v| !v.is_empty()) {
        let mut objs: Vec<PathBuf> = fs::read_dir(&d).unwrap().map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "o")).collect();
        objs.sort();
        for p in objs {
            let n = p.file_name().unwrap().to_str().unwrap().to_string();
            code.push_str(&format!("    (\"ebpf-embedded:{n}\", include_bytes!({:?})),\n", p.display().to_string()));
        }
    }
    code.push_str("];\n");
    fs::write(PathBuf::from(env::var("OUT_DIR").unwrap()).join("embedded.rs"), code).unwrap();
}
"#;

const EMBED_MAIN: &str = "include!(concat!(env!(\"OUT_DIR\"), \"/embedded.rs\"));\nfn main() {\n    for (n, b) in EMBEDDED {\n        println!(\"{n} {}\", b.len());\n    }\n    if cfg!(feature = \"extra\") {\n        println!(\"extra-feature-on\");\n    }\n}\n";

/// A loader package `name` in `dir` with the given sources (file name →
/// C text) and metadata lines.
fn package(dir: &Path, name: &str, sources: &[&str], metadata: &str, build_rs: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(p.join("src")).unwrap();
    std::fs::create_dir_all(p.join("bpf")).unwrap();
    std::fs::write(
        p.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.3.0\"\nedition = \"2021\"\nbuild = \"build.rs\"\n\n[features]\nextra = []\n\n[package.metadata.ebpf-cross]\nstatic = true\n{metadata}\n"
        ),
    )
    .unwrap();
    std::fs::write(p.join("build.rs"), build_rs).unwrap();
    std::fs::write(p.join("src/main.rs"), EMBED_MAIN).unwrap();
    let c = std::fs::read_to_string(repo().join("tests/bpf/standalone.c")).unwrap();
    for s in sources {
        std::fs::write(p.join("bpf").join(s), &c).unwrap();
    }
    p
}

/// A standalone project (its own workspace).
fn project(dir: &Path, name: &str, sources: &[&str], metadata: &str) -> PathBuf {
    let p = package(dir, name, sources, metadata, EMBED_BUILD_RS);
    let mut t = std::fs::read_to_string(p.join("Cargo.toml")).unwrap();
    t.push_str("\n[workspace]\n");
    std::fs::write(p.join("Cargo.toml"), t).unwrap();
    p
}

/// Board files with kernel versions only (standalone.c needs no tree).
fn boards(dir: &Path, list: &[(&str, &str, &str)]) -> PathBuf {
    let b = dir.join("boards");
    std::fs::create_dir_all(&b).unwrap();
    for (name, base, rest) in list {
        std::fs::write(
            b.join(format!("{name}.toml")),
            format!("extends = \"{base}\"\n{rest}\n"),
        )
        .unwrap();
    }
    b
}

/// The object names a loader embedded (the markers EMBED_BUILD_RS writes).
fn embedded_names(loader: &[u8]) -> Vec<String> {
    let marker = b"ebpf-embedded:";
    let mut out = Vec::new();
    let mut i = 0;
    while i + marker.len() <= loader.len() {
        if &loader[i..i + marker.len()] == marker {
            let rest = &loader[i + marker.len()..];
            let n: Vec<u8> = rest
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || b"._-".contains(c))
                .copied()
                .collect();
            out.push(String::from_utf8(n).unwrap());
            i += marker.len();
        } else {
            i += 1;
        }
    }
    out.sort();
    out.dedup();
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// (loader bytes, {object name: bytes}) from a bundle.
fn bundle_parts(tarball: &Path) -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
    let b = cargo_ebpf_cross::bundle::Bundle::open(tarball).unwrap();
    let loader = b.file(&b.manifest.loader).unwrap().data.clone();
    let objs = b
        .files
        .into_iter()
        .filter(|f| f.path.starts_with("bpf/"))
        .map(|f| (f.path.trim_start_matches("bpf/").to_string(), f.data))
        .collect();
    (loader, objs)
}

/// What `sha256sum -c SHA256SUMS` says in a board's out dir.
fn sums_check(dir: &Path) -> String {
    let st = std::process::Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&st.stdout).into_owned()
}

fn cargo_runs(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.contains("Running `") && l.contains(" build --manifest-path "))
        .map(str::to_string)
        .collect()
}

// ---- issue 11: objects, sums and compile commands per package ----

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn two_loader_packages_in_one_target_dir_embed_only_their_own_objects() {
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(
        ws.join("Cargo.toml"),
        "[workspace]\nmembers = [\"alpha\", \"beta\"]\nresolver = \"2\"\n",
    )
    .unwrap();
    package(&ws, "alpha", &["alpha.bpf.c"], "", EMBED_BUILD_RS);
    package(&ws, "beta", &["beta.bpf.c"], "", EMBED_BUILD_RS);
    for pkg in ["alpha", "beta"] {
        tool(
            &ws,
            &[
                "build",
                "-p",
                pkg,
                "--target",
                "armv7",
                "--kernel-version",
                "6.1",
            ],
            &[],
        )
        .ok();
    }
    let dir = ws.join("target/ebpf-cross/armv7");
    // Built second, beta once embedded alpha.o too.
    for (pkg, own) in [("beta", "beta.o"), ("alpha", "alpha.o")] {
        let (loader, objs) = bundle_parts(&dir.join(format!("{pkg}-0.3.0-armv7.tar.gz")));
        assert_eq!(embedded_names(&loader), [own], "{pkg}'s loader");
        assert_eq!(objs.iter().map(|o| o.0.as_str()).collect::<Vec<_>>(), [own]);
    }
    for pkg in ["alpha", "beta"] {
        // Each package's compile commands name only its own sources.
        let cc: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.join(pkg).join("compile_commands.json")).unwrap(),
        )
        .unwrap();
        let files: Vec<String> = cc
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["file"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            files,
            [ws.join(pkg)
                .join(format!("bpf/{pkg}.bpf.c"))
                .display()
                .to_string()]
        );
    }
    // One SHA256SUMS beside the tarballs; each package owns its line.
    assert_eq!(
        sums_check(&dir),
        "alpha-0.3.0-armv7.tar.gz: OK\nbeta-0.3.0-armv7.tar.gz: OK\n"
    );
}

/// A workspace with two loader packages and a member that is not one.
fn two_loader_workspace(root: &Path) -> PathBuf {
    let ws = root.join("ws");
    std::fs::create_dir_all(ws.join("tools/src")).unwrap();
    std::fs::write(
        ws.join("Cargo.toml"),
        "[workspace]\nmembers = [\"alpha\", \"beta\", \"tools\"]\nresolver = \"2\"\n",
    )
    .unwrap();
    for pkg in ["alpha", "beta"] {
        let src = format!("{pkg}.bpf.c");
        package(&ws, pkg, &[&src], "per_target_env = true", EMBED_BUILD_RS);
    }
    std::fs::write(
        ws.join("tools/Cargo.toml"),
        "[package]\nname = \"tools\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .unwrap();
    std::fs::write(ws.join("tools/src/main.rs"), "fn main() {}\n").unwrap();
    ws
}

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn workspace_builds_every_loader_package_for_every_board() {
    let d = tempfile::tempdir().unwrap();
    let ws = two_loader_workspace(d.path());
    let r = tool(
        &ws,
        &[
            "-v",
            "build",
            "--workspace",
            "--target",
            "armv7",
            "--target",
            "aarch64",
            "--kernel-version",
            "6.1",
            "--message-format",
            "json",
        ],
        &[],
    );
    r.ok();
    // One cargo run per package, each for both boards; `tools` is not built.
    let runs = cargo_runs(&r.stderr);
    assert_eq!(runs.len(), 2, "{runs:#?}");
    for (run, pkg) in runs.iter().zip(["alpha", "beta"]) {
        assert!(
            run.contains(&format!(" --package {pkg} --bin {pkg} ")),
            "{run}"
        );
        assert!(
            run.contains(
                "--target armv7-unknown-linux-gnueabihf --target aarch64-unknown-linux-gnu"
            ),
            "{run}"
        );
    }
    r.lacks("--package tools");
    let msgs = messages(&r.stdout);
    let lines: Vec<String> = msgs
        .iter()
        .map(|m| match m.artifact() {
            Some(a) => format!("{} {} {}", m.kind(), a.package, a.target),
            None => format!("{} - -", m.kind()),
        })
        .collect();
    let mut want = Vec::new();
    for pkg in ["alpha", "beta"] {
        want.extend([
            format!("object {pkg} armv7"),
            format!("object {pkg} aarch64"),
        ]);
        for board in ["armv7", "aarch64"] {
            want.extend([
                format!("loader {pkg} {board}"),
                format!("bundle {pkg} {board}"),
            ]);
        }
    }
    want.push("summary - -".into());
    assert_eq!(lines, want);
    let Some(Message::Summary(summary)) = msgs.last() else {
        panic!("the last line is not the summary: {}", r.stdout);
    };
    assert_eq!((summary.ok, summary.failed), (4, 0));
    let listed: Vec<String> = summary
        .targets
        .iter()
        .map(|t| format!("{} {}", t.package, t.target))
        .collect();
    assert_eq!(
        listed,
        ["alpha armv7", "alpha aarch64", "beta armv7", "beta aarch64"]
    );
    for (board, class, machine) in [("armv7", 1, 40), ("aarch64", 2, 183)] {
        let dir = ws.join("target/ebpf-cross").join(board);
        for pkg in ["alpha", "beta"] {
            let (loader, objs) = bundle_parts(&dir.join(format!("{pkg}-0.3.0-{board}.tar.gz")));
            let own = format!("{pkg}.o");
            assert_eq!(elf_machine(&loader), (class, 1, machine), "{pkg} {board}");
            assert_eq!(embedded_names(&loader), [own.as_str()], "{pkg} {board}");
            assert_eq!(
                objs.iter().map(|o| o.0.as_str()).collect::<Vec<_>>(),
                [own.as_str()]
            );
        }
        assert_eq!(
            sums_check(&dir),
            format!("alpha-0.3.0-{board}.tar.gz: OK\nbeta-0.3.0-{board}.tar.gz: OK\n")
        );
    }
}

#[test]
fn several_loader_packages_need_a_choice_and_other_commands_take_one() {
    let d = tempfile::tempdir().unwrap();
    let ws = two_loader_workspace(d.path());
    let build = ["build", "--target", "armv7", "--kernel-version", "6.1"];
    tool(&ws, &build, &[])
        .fails()
        .says("error: several loader packages: alpha, beta\n")
        .says("help: choose one with -p PKG (`build` also takes -p more than once, or --workspace for all of them)");
    let mut named = build.to_vec();
    named.extend(["-p", "beta", "-p", "nope"]);
    tool(&ws, &named, &[])
        .fails()
        .says("error: package `nope` is not in the workspace\n")
        .says("help: members: alpha, beta, tools");
    let config = ["config", "--target", "armv7", "-p", "alpha", "-p", "beta"];
    tool(&ws, &config, &[])
        .fails()
        .says("error: this command takes one loader package, and -p named 2: alpha, beta\n")
        .says("help: pass a single -p PKG; `build` is the command that builds several packages");
    // Nothing was compiled or bundled by the refused commands.
    assert!(!ws.join("target/ebpf-cross").exists());
}

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn a_deleted_source_leaves_no_object_behind() {
    let d = tempfile::tempdir().unwrap();
    let p = project(d.path(), "tiny", &["keep.bpf.c", "gone.bpf.c"], "");
    let args = ["build", "--target", "aarch64", "--kernel-version", "6.1"];
    tool(&p, &args, &[]).ok();
    let tarball = p.join("target/ebpf-cross/aarch64/tiny-0.3.0-aarch64.tar.gz");
    assert_eq!(
        embedded_names(&bundle_parts(&tarball).0),
        ["gone.o", "keep.o"]
    );
    std::fs::remove_file(p.join("bpf/gone.bpf.c")).unwrap();
    tool(&p, &args, &[]).ok();
    assert_eq!(embedded_names(&bundle_parts(&tarball).0), ["keep.o"]);
    assert!(!p.join("target/ebpf-cross/aarch64/tiny/bpf/gone.o").exists());
}

#[test]
fn x_bpf_c_and_x_c_are_refused_with_both_names() {
    let d = tempfile::tempdir().unwrap();
    let p = project(
        d.path(),
        "tiny",
        &["x.bpf.c", "x.c"],
        "programs = [\"bpf/*.c\"]",
    );
    let r = tool(
        &p,
        &["build", "--target", "aarch64", "--kernel-version", "6.1"],
        &[],
    );
    r.fails();
    r.says(&format!(
        "error: `{}` and `{}` would both compile to x.o",
        p.join("bpf/x.bpf.c").display(),
        p.join("bpf/x.c").display()
    ));
    r.says("help: rename one of them");
    assert!(!p.join("target/ebpf-cross").exists());
}

/// A `programs` glob that also matches a notes file or a header is refused
/// naming the file, where clang would have bundled an empty object.
#[test]
fn a_programs_glob_that_matches_a_non_c_file_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let p = project(d.path(), "tiny", &["x.bpf.c"], "programs = [\"bpf/*\"]");
    std::fs::write(p.join("bpf/NOTES.txt"), "todo\n").unwrap();
    let args = ["build", "--target", "aarch64", "--kernel-version", "6.1"];
    tool(&p, &args, &[])
        .fails()
        .says(&format!(
            "error: `{}` is not a C source (.c)\n",
            p.join("bpf/NOTES.txt").display()
        ))
        .says("help: BPF programs are C files named *.bpf.c or *.c; in `programs`, use a glob that matches only those (bpf/*.bpf.c)\n");
    std::fs::remove_file(p.join("bpf/NOTES.txt")).unwrap();
    std::fs::write(p.join("bpf/maps.h"), "#define N 1\n").unwrap();
    tool(&p, &args, &[]).fails().says(&format!(
        "error: `{}` is a header, not a BPF program\n",
        p.join("bpf/maps.h").display()
    ));
    assert!(!p.join("target/ebpf-cross").exists());
}

// ---- issue 11: linker and flags ----

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn an_empty_profile_linker_is_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    let p = project(d.path(), "tiny", &["probe.bpf.c"], "");
    let b = boards(
        d.path(),
        &[(
            "nolink",
            "armv7",
            "[loader]\nlinker = \"\"\n[kernel]\nversion = \"6.1\"",
        )],
    );
    let r = tool(
        &p,
        &[
            "--dry-run",
            "build",
            "--target",
            "nolink",
            "--boards",
            b.to_str().unwrap(),
        ],
        &[],
    );
    r.fails();
    r.says("error: `[loader] linker` of profile `nolink` is empty");
    r.says("help: ");
}

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn a_quoted_sysroot_with_a_space_reaches_the_linker_whole() {
    let d = tempfile::tempdir().unwrap();
    let p = project(d.path(), "tiny", &["probe.bpf.c"], "per_target_env = true");
    let sdk = d.path().join("my sdk");
    std::os::unix::fs::symlink("/usr/arm-linux-gnueabihf", &sdk).unwrap();
    let b = boards(
        d.path(),
        &[
            (
                "spaced",
                "armv7",
                &format!(
                    "[loader]\nlinker = \"arm-linux-gnueabihf-gcc --sysroot='{}'\"\n[kernel]\nversion = \"6.1\"",
                    sdk.display()
                ),
            ),
            ("a64", "aarch64", "[kernel]\nversion = \"6.1\""),
        ],
    );
    let r = tool(
        &p,
        &[
            "build",
            "-v",
            "--target",
            "spaced",
            "--target",
            "a64",
            "--boards",
            b.to_str().unwrap(),
        ],
        &[],
    );
    r.ok();
    r.says(&format!("\"-C\", \"link-arg=--sysroot={}\"", sdk.display()));
    let (loader, _) = bundle_parts(&p.join("target/ebpf-cross/spaced/tiny-0.3.0-spaced.tar.gz"));
    assert_eq!(elf_machine(&loader), (1, 1, 40), "32-bit LE ARM");
    assert_eq!(embedded_names(&loader), ["probe.o"]);
}

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn a_target_spec_json_keeps_the_users_linker() {
    let d = tempfile::tempdir().unwrap();
    let p = project(d.path(), "tiny", &["probe.bpf.c"], "");
    let spec = d.path().join("my-armv7.json");
    // crt-static-respected: the project links statically, which a spec
    // without it is refused for (rustc would ignore +crt-static).
    std::fs::write(
        &spec,
        r#"{"arch":"arm","target-endian":"little","target-pointer-width":"32","crt-static-respected":true}"#,
    )
    .unwrap();
    let r = tool(
        &p,
        &[
            "--dry-run",
            "build",
            "--target",
            "armv7",
            "--kernel-version",
            "6.1",
            "--rust-target",
            spec.to_str().unwrap(),
        ],
        &[("CARGO_TARGET_MY_ARMV7_LINKER", "my-own-gcc")],
    );
    r.ok();
    let cargo = r
        .stdout
        .lines()
        .find(|l| l.contains(" build --manifest-path "))
        .unwrap();
    assert!(!cargo.contains("LINKER"), "{cargo}");
    assert!(!cargo.contains("linker"), "{cargo}");
    assert!(cargo.contains("EBPF_CROSS_OBJ_DIR_MY_ARMV7="), "{cargo}");
}

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn a_host_cc_is_never_the_cross_linker() {
    let d = tempfile::tempdir().unwrap();
    let p = project(d.path(), "tiny", &["probe.bpf.c"], "");
    let r = tool(
        &p,
        &[
            "--dry-run",
            "build",
            "--target",
            "riscv64",
            "--kernel-version",
            "6.1",
        ],
        &[("CC", "gcc")],
    );
    r.ok();
    assert!(
        r.stdout
            .contains("'target.\"riscv64gc-unknown-linux-gnu\".linker=\"riscv64-linux-gnu-gcc\"'"),
        "{}",
        r.stdout
    );
}

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn users_rustflags_are_merged_whole_never_dropped() {
    let d = tempfile::tempdir().unwrap();
    let p = project(d.path(), "tiny", &["probe.bpf.c"], "");
    let b = boards(
        d.path(),
        &[(
            "spaced",
            "aarch64",
            "[loader]\nlinker = \"aarch64-linux-gnu-gcc --sysroot='/opt/my sdk'\"\n[kernel]\nversion = \"6.1\"",
        )],
    );
    let args = [
        "--dry-run",
        "build",
        "--target",
        "spaced",
        "--boards",
        b.to_str().unwrap(),
    ];
    let r = tool(&p, &args, &[("RUSTFLAGS", "--cfg user_flag")]);
    r.ok();
    assert!(
        r.stdout.contains(
            "CARGO_ENCODED_RUSTFLAGS='--cfg\x1fuser_flag\x1f-C\x1ftarget-feature=+crt-static\x1f-C\x1flink-arg=--sysroot=/opt/my sdk'"
        ),
        "{}",
        r.stdout
    );
    let r = tool(&p, &args, &[("CARGO_ENCODED_RUSTFLAGS", "--cfg\x1fa b")]);
    r.ok();
    assert!(
        r.stdout.contains(
            "CARGO_ENCODED_RUSTFLAGS='--cfg\x1fa b\x1f-C\x1ftarget-feature=+crt-static\x1f-C\x1flink-arg=--sysroot=/opt/my sdk'"
        ),
        "{}",
        r.stdout
    );
}

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn features_pass_through_to_the_loader_build() {
    let d = tempfile::tempdir().unwrap();
    let p = project(d.path(), "tiny", &["probe.bpf.c"], "");
    let r = tool(
        &p,
        &[
            "build",
            "--target",
            "aarch64",
            "--kernel-version",
            "6.1",
            "--features",
            "extra",
            "--no-default-features",
        ],
        &[],
    );
    r.ok();
    let (loader, _) = bundle_parts(&p.join("target/ebpf-cross/aarch64/tiny-0.3.0-aarch64.tar.gz"));
    assert!(contains(&loader, b"extra-feature-on"));
    let r = tool(
        &p,
        &[
            "--dry-run",
            "build",
            "--target",
            "aarch64",
            "--kernel-version",
            "6.1",
            "--all-features",
        ],
        &[],
    );
    r.ok();
    assert!(r.stdout.contains(" --all-features"), "{}", r.stdout);
    // `run` builds through the same options.
    let help = tool(&p, &["run", "--help"], &[]);
    help.ok();
    for f in ["--features", "--all-features", "--no-default-features"] {
        assert!(help.stdout.contains(f), "{}", help.stdout);
    }
}

// ---- issue 12: several boards, one cargo ----

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn three_boards_with_distinct_triples_build_in_one_cargo_invocation() {
    let d = tempfile::tempdir().unwrap();
    let p = project(d.path(), "tiny", &["probe.bpf.c"], "per_target_env = true");
    let b = boards(
        d.path(),
        &[
            ("a7", "armv7", "[kernel]\nversion = \"6.1\""),
            ("a64", "aarch64", "[kernel]\nversion = \"6.1\""),
            ("rv", "riscv64", "[kernel]\nversion = \"6.6\""),
        ],
    );
    let r = tool(
        &p,
        &[
            "build",
            "-v",
            "--target",
            "a7",
            "--target",
            "a64",
            "--target",
            "rv",
            "--boards",
            b.to_str().unwrap(),
        ],
        &[],
    );
    r.ok();
    let runs = cargo_runs(&r.stderr);
    assert_eq!(runs.len(), 1, "{}", r.stderr);
    for t in [
        "armv7-unknown-linux-gnueabihf",
        "aarch64-unknown-linux-gnu",
        "riscv64gc-unknown-linux-gnu",
    ] {
        assert!(runs[0].contains(&format!(" --target {t} ")), "{}", runs[0]);
    }
    r.says("Grouping loaders for a7, a64, rv in one cargo invocation");
    let mut objects = Vec::new();
    for (board, machine, class) in [("a7", 40, 1), ("a64", 183, 2), ("rv", 243, 2)] {
        let (loader, objs) = bundle_parts(&p.join(format!(
            "target/ebpf-cross/{board}/tiny-0.3.0-{board}.tar.gz"
        )));
        assert_eq!(elf_machine(&loader), (class, 1, machine), "{board}");
        assert_eq!(embedded_names(&loader), ["probe.o"], "{board}");
        assert_eq!(objs.len(), 1);
        assert!(
            contains(&loader, &objs[0].1),
            "{board} embeds its own object"
        );
        objects.push((board, loader, objs[0].1.clone()));
    }
    // No loader carries another board's object.
    for (b1, loader, _) in &objects {
        for (b2, _, obj) in &objects {
            if b1 != b2 {
                assert!(!contains(loader, obj), "{b1} embeds {b2}'s object");
            }
        }
    }
}

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn same_triple_different_kernels_each_embed_their_own_objects() {
    let d = tempfile::tempdir().unwrap();
    let p = project(d.path(), "tiny", &["probe.bpf.c"], "per_target_env = true");
    let b = boards(
        d.path(),
        &[
            ("old", "armv7", "[kernel]\nversion = \"4.19\""),
            ("new", "armv7", "[kernel]\nversion = \"6.1\""),
            ("a64", "aarch64", "[kernel]\nversion = \"6.1\""),
        ],
    );
    let r = tool(
        &p,
        &[
            "build",
            "-v",
            "--target",
            "old",
            "--target",
            "new",
            "--target",
            "a64",
            "--boards",
            b.to_str().unwrap(),
        ],
        &[],
    );
    r.ok();
    assert_eq!(cargo_runs(&r.stderr).len(), 2, "{}", r.stderr);
    r.says("Grouping loaders for old, a64 in one cargo invocation");
    r.says("Grouping loaders for new in a later cargo invocation: armv7-unknown-linux-gnueabihf is also the triple of old (different kernels embed different objects)");
    let old = bundle_parts(&p.join("target/ebpf-cross/old/tiny-0.3.0-old.tar.gz"));
    let new = bundle_parts(&p.join("target/ebpf-cross/new/tiny-0.3.0-new.tar.gz"));
    assert_ne!(old.1[0].1, new.1[0].1, "4.19 and 6.1 objects differ");
    assert!(contains(&old.0, &old.1[0].1));
    assert!(!contains(&old.0, &new.1[0].1));
    assert!(contains(&new.0, &new.1[0].1));
    assert!(!contains(&new.0, &old.1[0].1));
}

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn a_build_script_without_per_target_env_gets_one_cargo_run_per_board() {
    let d = tempfile::tempdir().unwrap();
    let p = package(d.path(), "old", &["probe.bpf.c"], "", OLD_BUILD_RS);
    let mut t = std::fs::read_to_string(p.join("Cargo.toml")).unwrap();
    t.push_str("\n[workspace]\n");
    std::fs::write(p.join("Cargo.toml"), t).unwrap();
    let b = boards(
        d.path(),
        &[
            ("a7", "armv7", "[kernel]\nversion = \"6.1\""),
            ("a64", "aarch64", "[kernel]\nversion = \"6.1\""),
        ],
    );
    let r = tool(
        &p,
        &[
            "build",
            "-v",
            "--target",
            "a7",
            "--target",
            "a64",
            "--boards",
            b.to_str().unwrap(),
        ],
        &[],
    );
    r.ok();
    assert_eq!(cargo_runs(&r.stderr).len(), 2, "{}", r.stderr);
    r.says("one cargo invocation per board: package `old` does not set `per_target_env = true`");
    for board in ["a7", "a64"] {
        let (loader, objs) = bundle_parts(&p.join(format!(
            "target/ebpf-cross/{board}/old-0.3.0-{board}.tar.gz"
        )));
        assert!(contains(&loader, &objs[0].1), "{board}");
    }
}

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn users_rustflags_join_each_runs_flags_and_boards_whose_flags_differ_split() {
    let d = tempfile::tempdir().unwrap();
    let p = project(d.path(), "tiny", &["probe.bpf.c"], "per_target_env = true");
    let b = boards(
        d.path(),
        &[
            ("a7", "armv7", "[kernel]\nversion = \"6.1\""),
            ("a64", "aarch64", "[kernel]\nversion = \"6.1\""),
            (
                "rv",
                "riscv64",
                "[kernel]\nversion = \"6.6\"\n[loader]\nrustflags = [\"--cfg\", \"rv_only\"]",
            ),
        ],
    );
    let r = tool(
        &p,
        &[
            "-v",
            "build",
            "--target",
            "a7",
            "--target",
            "a64",
            "--target",
            "rv",
            "--boards",
            b.to_str().unwrap(),
        ],
        &[("RUSTFLAGS", "--cfg user_flag")],
    );
    r.ok();
    for note in [
        "Grouping RUSTFLAGS is set, and cargo then ignores per-target rustflags: each run's own flags join it in CARGO_ENCODED_RUSTFLAGS",
        "Grouping loaders for a7, a64 in one cargo invocation",
        "Grouping loaders for rv in a later cargo invocation: RUSTFLAGS is set, so every target of a cargo run gets the same rustflags, and rv's own [-C target-feature=+crt-static --cfg rv_only] differ from a7's [-C target-feature=+crt-static]",
    ] {
        r.says(note);
    }
    let runs = cargo_runs(&r.stderr);
    assert_eq!(runs.len(), 2, "{}", r.stderr);
    // The user's flags reach every run, each run's own flags once, and the
    // riscv board's own only its run.
    let want = [
        [
            " --target armv7-unknown-linux-gnueabihf --target aarch64-unknown-linux-gnu ",
            "CARGO_ENCODED_RUSTFLAGS='--cfg\x1fuser_flag\x1f-C\x1ftarget-feature=+crt-static' ",
        ],
        [
            " --target riscv64gc-unknown-linux-gnu ",
            "CARGO_ENCODED_RUSTFLAGS='--cfg\x1fuser_flag\x1f-C\x1ftarget-feature=+crt-static\x1f--cfg\x1frv_only' ",
        ],
    ];
    for (run, parts) in runs.iter().zip(want) {
        for part in parts {
            assert!(run.contains(part), "{part}\n{run}");
        }
    }
    for (board, machine, class) in [("a7", 40, 1), ("a64", 183, 2), ("rv", 243, 2)] {
        let (loader, _) = bundle_parts(&p.join(format!(
            "target/ebpf-cross/{board}/tiny-0.3.0-{board}.tar.gz"
        )));
        assert_eq!(elf_machine(&loader), (class, 1, machine), "{board}");
        assert_eq!(embedded_names(&loader), ["probe.o"], "{board}");
    }
}

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn a_failing_board_does_not_hide_the_others_in_one_invocation() {
    let d = tempfile::tempdir().unwrap();
    let p = project(d.path(), "tiny", &["probe.bpf.c"], "per_target_env = true");
    let b = boards(
        d.path(),
        &[
            ("a7", "armv7", "[kernel]\nversion = \"6.1\""),
            (
                "broken",
                "aarch64",
                "[loader]\nlinker = \"false\"\n[kernel]\nversion = \"6.1\"",
            ),
        ],
    );
    let r = tool(
        &p,
        &[
            "build",
            "-v",
            "--target",
            "broken",
            "--target",
            "a7",
            "--boards",
            b.to_str().unwrap(),
            "--message-format",
            "json",
        ],
        &[],
    );
    r.fails();
    assert_eq!(cargo_runs(&r.stderr).len(), 1, "{}", r.stderr);
    r.says(" --keep-going");
    r.says("Summary 1 built, 1 failed");
    r.says(
        "broken           FAILED  building the loader `tiny` for aarch64-unknown-linux-gnu failed",
    );
    assert!(p
        .join("target/ebpf-cross/a7/tiny-0.3.0-a7.tar.gz")
        .is_file());
    let kinds: Vec<String> = messages(&r.stdout)
        .iter()
        .map(|m| {
            format!(
                "{} {}",
                m.kind(),
                m.artifact().map(|a| a.target.as_str()).unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "object broken",
            "object a7",
            "loader a7",
            "bundle a7",
            "summary "
        ]
    );
}

#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn dry_run_of_several_boards_is_one_plan() {
    let d = tempfile::tempdir().unwrap();
    let p = project(d.path(), "tiny", &["probe.bpf.c"], "per_target_env = true");
    let b = boards(
        d.path(),
        &[
            ("a7", "armv7", "[kernel]\nversion = \"6.1\""),
            ("a64", "aarch64", "[kernel]\nversion = \"6.1\""),
        ],
    );
    let r = tool(
        &p,
        &[
            "--dry-run",
            "build",
            "--target",
            "a7",
            "--target",
            "a64",
            "--boards",
            b.to_str().unwrap(),
        ],
        &[],
    );
    r.ok();
    let plans: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.contains(" build --manifest-path "))
        .collect();
    assert_eq!(plans.len(), 1, "{}", r.stdout);
    let pl = plans[0];
    let a7 = p.join("target/ebpf-cross/a7/tiny/bpf");
    let a64 = p.join("target/ebpf-cross/a64/tiny/bpf");
    assert!(
        pl.starts_with(&format!(
            "EBPF_CROSS_OBJ_DIR='' EBPF_CROSS_TARGET='' EBPF_CROSS_KERNEL_VERSION='' EBPF_CROSS_OBJ_DIR_ARMV7_UNKNOWN_LINUX_GNUEABIHF={} EBPF_CROSS_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF=a7 EBPF_CROSS_KERNEL_VERSION_ARMV7_UNKNOWN_LINUX_GNUEABIHF=6.1 EBPF_CROSS_OBJ_DIR_AARCH64_UNKNOWN_LINUX_GNU={} EBPF_CROSS_TARGET_AARCH64_UNKNOWN_LINUX_GNU=a64 EBPF_CROSS_KERNEL_VERSION_AARCH64_UNKNOWN_LINUX_GNU=6.1 ",
            a7.display(),
            a64.display()
        )),
        "{pl}"
    );
    assert!(
        pl.contains(" --target armv7-unknown-linux-gnueabihf --target aarch64-unknown-linux-gnu "),
        "{pl}"
    );
    assert!(pl.contains(" --config 'target.\"armv7-unknown-linux-gnueabihf\".linker=\"arm-linux-gnueabihf-gcc\"' --config 'target.\"armv7-unknown-linux-gnueabihf\".rustflags=[\"-C\", \"target-feature=+crt-static\"]'"), "{pl}");
    assert!(!p.join("target").exists(), "dry run wrote files");
}
