//! The Yocto recipe's build, run as the recipe runs it, without bitbake
//! (bitbake cannot run on the machines this project is tested on).
//!
//! templates/yocto/classes/ebpf-cross.bbclass sets an environment and runs two
//! commands in ${S}. Here ${S} is a copy of examples/open-example, the kernel
//! tree is Debian's split armhf headers (standing in for
//! STAGING_KERNEL_DIR/STAGING_KERNEL_BUILDDIR), the crates come from
//! `cargo vendor` through a CARGO_HOME that replaces crates-io, and the
//! compiler is Debian's cross gcc given with flags and --sysroot, as
//! TOOLCHAIN_OPTIONS gives it. Then the installed layout is checked byte by
//! byte where it matters.
//!
//! Needs scripts/setup.sh's fixtures, and crates.io once for `cargo vendor`.

#[path = "common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_cargo-ebpf-cross");

/// The example's sources, as a recipe's ${S} would hold them (no target/).
fn copy_example(to: &Path) {
    let ex = common::repo().join("examples/open-example");
    std::fs::create_dir_all(to).unwrap();
    for f in ["Cargo.toml", "Cargo.lock", "build.rs"] {
        std::fs::copy(ex.join(f), to.join(f)).unwrap();
    }
    for d in ["src", "bpf", ".cargo"] {
        if ex.join(d).is_dir() {
            common::copy_dir(&ex.join(d), &to.join(d));
        }
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn u16_le(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// What the class exports or writes, with the recipe's values filled in
/// for this machine.
struct RecipeEnv {
    cargo_home: PathBuf,
    rustflags: String,
    kernel_src: String,
    kernel_build: String,
}

impl RecipeEnv {
    fn command(&self, s: &Path) -> Command {
        let cc = "arm-linux-gnueabihf-gcc -march=armv7-a -mfloat-abi=hard --sysroot=/usr/arm-linux-gnueabihf";
        let mut c = Command::new(BIN);
        common::sandbox_env(&mut c);
        c.current_dir(s)
            .env("CARGO_HOME", &self.cargo_home)
            .env("CARGO_NET_OFFLINE", "true")
            .env("EBPF_CROSS_KERNEL_SRC", &self.kernel_src)
            .env("EBPF_CROSS_KERNEL_BUILD", &self.kernel_build)
            .env("CARGO_PROFILE_RELEASE_STRIP", "false")
            // CC_<RUST_TARGET_SYS with underscores> = EBPF_CROSS_CC.
            .env("CC_armv7_unknown_linux_gnueabihf", cc)
            // bitbake exports CC for the target; HOST_CC keeps build
            // scripts off it (RUST_BUILD_CC in the class).
            .env("CC", cc)
            .env("HOST_CC", "cc")
            // The version comes from the tree, and nothing else may pick
            // the linker or target behind the class's back.
            .env_remove("EBPF_CROSS_KERNEL_VERSION")
            .env_remove("EBPF_CROSS_RUST_TARGET")
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER")
            .env_remove("TARGET_CC")
            // rust-common's RUSTFLAGS is never empty (-L to libstd-rs, a
            // path remap); the tool must add to it, not lose its own flags.
            .env("RUSTFLAGS", &self.rustflags)
            .args(["--color", "never"]);
        c
    }
}

fn host_triple() -> String {
    let o = Command::new("rustc").arg("-vV").output().unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .expect("rustc -vV names the host")
}

#[test]
#[ignore = "needs scripts/setup.sh"]
fn recipe_build_and_install_as_bitbake_would() {
    let kernel_src = common::fx_dir("EBPF_CROSS_ARMHF_SRC");
    let kernel_build = common::fx_dir("EBPF_CROSS_ARMHF_BUILD");
    let started = Instant::now();
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("git");
    copy_example(&s);

    // The project's committed vendor/ (the one network access, done with
    // the developer's own CARGO_HOME and its registry cache).
    let vendor = s.join("vendor");
    let o = Command::new("cargo")
        .current_dir(&s)
        .args(["vendor", "--locked", "--quiet"])
        .arg(&vendor)
        .output()
        .unwrap();
    assert!(o.status.success(), "cargo vendor failed:\n{}", text(&o));

    // ebpf_cross_do_configure.
    let cargo_home = t.path().join("cargo_home");
    std::fs::create_dir_all(&cargo_home).unwrap();
    std::fs::write(
        cargo_home.join("config.toml"),
        format!(
            "[source.crates-io]\nreplace-with = \"vendored-sources\"\n\n\
             [source.vendored-sources]\ndirectory = \"{}\"\n\n\
             [target.{}]\nlinker = \"cc\"\n",
            vendor.display(),
            host_triple()
        ),
    )
    .unwrap();
    let env = RecipeEnv {
        cargo_home,
        rustflags: format!(
            "--remap-path-prefix={}=/usr/src/debug/open-example",
            t.path().display()
        ),
        kernel_src,
        kernel_build: kernel_build.clone(),
    };
    let b = t.path().join("build");
    let target_dir = b.join("target");
    let image = t.path().join("image");

    // ebpf_cross_do_compile.
    let compile = Instant::now();
    let o = env
        .command(&s)
        .arg("-v")
        .args([
            "build",
            "--target",
            "armv7",
            "--rust-target",
            "armv7-unknown-linux-gnueabihf",
            "--release",
            "--frozen",
            "--no-rustup",
            "--target-dir",
        ])
        .arg(&target_dir)
        .output()
        .unwrap();
    let log = text(&o);
    assert!(o.status.success(), "do_compile failed:\n{log}");
    eprintln!("do_compile: {:.1} s", compile.elapsed().as_secs_f64());
    // The linker is CC_<triple>'s first word, its flags link args.
    assert!(
        log.contains("Linking loader (armv7-unknown-linux-gnueabihf, arm-linux-gnueabihf-gcc)"),
        "{log}"
    );
    for flag in [
        env.rustflags.as_str(),
        "target-feature=+crt-static",
        "link-arg=-march=armv7-a",
        "link-arg=-mfloat-abi=hard",
        "link-arg=--sysroot=/usr/arm-linux-gnueabihf",
    ] {
        assert!(log.contains(flag), "{flag} not passed on:\n{log}");
    }

    // ebpf_cross_do_install.
    let o = env
        .command(&s)
        .args(["install", "--target", "armv7", "--target-dir"])
        .arg(&target_dir)
        .arg("--destdir")
        .arg(&image)
        .args(["--bindir", "/usr/bin", "--datadir", "/usr/share"])
        .output()
        .unwrap();
    assert!(o.status.success(), "do_install failed:\n{}", text(&o));

    assert_eq!(
        common::listing(&image),
        [
            "usr/bin/open-example",
            "usr/share/ebpf/open-example/manifest.json",
            "usr/share/ebpf/open-example/open-example.o",
        ]
    );
    let loader_path = image.join("usr/bin/open-example");
    let loader = std::fs::read(&loader_path).unwrap();
    assert_eq!(&loader[..4], b"\x7fELF");
    assert_eq!(loader[4], 1, "ELFCLASS32");
    assert_eq!(loader[5], 1, "little-endian");
    assert_eq!(u16_le(&loader, 18), 40, "EM_ARM");
    assert_eq!(mode(&loader_path), 0o755);

    let obj_path = image.join("usr/share/ebpf/open-example/open-example.o");
    let obj = std::fs::read(&obj_path).unwrap();
    assert_eq!(&obj[..4], b"\x7fELF");
    assert_eq!(obj[4], 2, "BPF objects are ELFCLASS64");
    assert_eq!(u16_le(&obj, 18), 247, "EM_BPF");
    assert_eq!(mode(&obj_path), 0o644);

    let mpath = image.join("usr/share/ebpf/open-example/manifest.json");
    assert_eq!(mode(&mpath), 0o644);
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
    assert_eq!(
        m["kernel_version"],
        common::tree_version(&kernel_build).as_str()
    );
    assert_eq!(m["target"], "armv7");
    assert_eq!(m["rust_target"], "armv7-unknown-linux-gnueabihf");
    assert_eq!(m["package"], "open-example");
    assert_eq!(m["loader"], "bin/open-example");
    eprintln!(
        "recipe build + install: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Yocto passes its own target (RUST_TARGET_SYS, or a spec JSON); a spec
/// that describes another machine than the profile is refused up front.
#[test]
#[ignore = "needs scripts/setup.sh"]
fn a_target_spec_that_contradicts_the_profile_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("git");
    copy_example(&s);
    let spec = t.path().join("arm-poky-linux-gnueabi.json");
    std::fs::write(
        &spec,
        r#"{"llvm-target":"arm-poky-linux-gnueabi","arch":"arm","os":"linux","env":"gnu",
            "target-endian":"little","target-pointer-width":"32","target-c-int-width":"32",
            "data-layout":"e-m:e-p:32:32-Fi8-i64:64-v128:64:128-a:0:32-n32-S64"}"#,
    )
    .unwrap();
    let o = Command::new(BIN)
        .current_dir(&s)
        .env_remove("EBPF_CROSS_RUST_TARGET")
        .args([
            "--color",
            "never",
            "build",
            "--target",
            "aarch64",
            "--rust-target",
        ])
        .arg(&spec)
        .args(["--frozen", "--no-rustup"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!(
            "error: target spec {} is little-endian 32-bit but profile aarch64 is little-endian 64-bit\n  \
             help: pick the profile that matches the board (see `cargo ebpf-cross targets`)\n",
            spec.display()
        )
    );
    assert!(!s.join("target").exists(), "nothing may be built");
}

/// A bundle whose bytes do not match its manifest installs nothing.
#[test]
#[ignore = "needs scripts/setup.sh"]
fn install_refuses_a_damaged_bundle() {
    use cargo_ebpf_cross::bundle::{self, Content, Manifest};
    let t = tempfile::tempdir().unwrap();
    let loader = b"\x7fELF loader".to_vec();
    let object = b"\x7fELF object".to_vec();
    let mut m = Manifest {
        tool: "cargo-ebpf-cross".into(),
        tool_version: "0.1.0".into(),
        package: "p".into(),
        package_version: "1.0.0".into(),
        target: "armv7".into(),
        base_target: "armv7".into(),
        arch: "arm".into(),
        rust_target: "armv7-unknown-linux-gnueabihf".into(),
        clang_target: "armv7a-linux-gnueabihf".into(),
        endian: "little".into(),
        kernel_version: Some("6.1.176".into()),
        reference_kernel: None,
        llvm_version: "14.0.6".into(),
        loader: "bin/p".into(),
        objects: vec!["bpf/p.o".into()],
        files: vec![
            bundle::file_entry("bin/p", &loader),
            bundle::file_entry("bpf/p.o", b"something else"),
        ],
    };
    let contents = || {
        vec![
            Content {
                path: "bin/p".into(),
                bytes: loader.clone(),
                executable: true,
            },
            Content {
                path: "bpf/p.o".into(),
                bytes: object.clone(),
                executable: false,
            },
        ]
    };
    let dir = t.path().join("out");
    let (bad, _) = bundle::write(&dir, "p-1.0.0-armv7", &m, contents()).unwrap();
    let image = t.path().join("image");
    let install = |b: &Path| {
        Command::new(BIN)
            .args(["--color", "never", "install", "--bundle"])
            .arg(b)
            .arg("--destdir")
            .arg(&image)
            .output()
            .unwrap()
    };
    let o = install(&bad);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with(&format!(
            "error: bundle `{}` is damaged: `bpf/p.o` has sha256 ",
            bad.display()
        )),
        "{err}"
    );
    assert!(!image.exists(), "a damaged bundle installs nothing");

    // The same bundle with a true manifest installs.
    m.files[1] = bundle::file_entry("bpf/p.o", &object);
    let (good, _) = bundle::write(&dir, "p-1.0.0-armv7", &m, contents()).unwrap();
    let o = install(&good);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        common::listing(&image),
        [
            "usr/bin/p",
            "usr/share/ebpf/p/manifest.json",
            "usr/share/ebpf/p/p.o"
        ]
    );
    assert_eq!(std::fs::read(image.join("usr/bin/p")).unwrap(), loader);
}
