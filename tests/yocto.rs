//! The Yocto layer `new` generates: parsed with bitbake's own `bb` library
//! against a minimal configuration (tests/yocto/minimal), linted with
//! oelint-adv, its CI templates validated against their published schemas,
//! and the class's compile and install steps run as bitbake runs them.
//!
//! bitbake with oe-core does not run here (no oe-core in CI); the commands
//! the class runs do, with the class's own variables: the cargo config
//! cargo_common writes (crates.io replaced by the crates the crate://
//! fetcher unpacked, the target linker being OE's wrapper that appends
//! LDFLAGS), a dynamic loader as on glibc, EBPF_CROSS_BPF_CFLAGS with the
//! prefix maps, the libbpf headers from a sysroot, and Debian's split armhf
//! tree standing in for STAGING_KERNEL_DIR/STAGING_KERNEL_BUILDDIR.
//!
//! Needs scripts/setup.sh's fixtures (kernels and the Python venv with
//! bitbake-setup, oelint-adv and check-jsonschema), and crates.io once for
//! `cargo vendor`.

use crate::common;
use crate::common::*;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

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

/// The Python tools scripts/setup.sh installs into the fixtures' venv.
/// Missing tools fail the test: a skipped check must not read as a pass.
/// EBPF_CROSS_VENV names another venv (a developer's own).
fn venv_tool(name: &str) -> PathBuf {
    let venv = std::env::var_os("EBPF_CROSS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("EBPF_CROSS_FIXTURES")
                .map(PathBuf::from)
                .unwrap_or_else(|| common::repo().join(".fixtures"))
                .join("venv")
        });
    let tool = venv.join("bin").join(name);
    assert!(
        tool.is_file(),
        "{} missing; run scripts/setup.sh (it installs bitbake-setup, oelint-adv and check-jsonschema there)",
        tool.display()
    );
    tool
}

/// What the class exports or writes, with the recipe's values filled in
/// for this machine.
struct RecipeEnv {
    cargo_home: PathBuf,
    rustflags: String,
    kernel_src: String,
    kernel_build: String,
    bpf_cflags: String,
    cache_dir: PathBuf,
}

impl RecipeEnv {
    fn command(&self, s: &Path) -> Command {
        let mut c = tool_cmd();
        c.current_dir(s)
            .env("CARGO_HOME", &self.cargo_home)
            .env("EBPF_CROSS_KERNEL_SRC", &self.kernel_src)
            .env("EBPF_CROSS_KERNEL_BUILD", &self.kernel_build)
            .env("EBPF_CROSS_HOST_LIBBPF", "0")
            .env("EBPF_CROSS_CACHE_DIR", &self.cache_dir)
            .env("EBPF_CROSS_BPF_CFLAGS", &self.bpf_cflags)
            .env("CARGO_PROFILE_RELEASE_STRIP", "false")
            // oe_cargo_fix_env: the target CC is OE's wrapper, and HOST_CC
            // keeps build scripts off it.
            .env("CC", "arm-linux-gnueabihf-gcc")
            .env("TARGET_CC", "arm-linux-gnueabihf-gcc")
            .env("HOST_CC", "cc")
            // The version comes from the tree, and nothing else may pick
            // the linker, the target or static behind the class's back.
            .env_remove("EBPF_CROSS_KERNEL_VERSION")
            .env_remove("EBPF_CROSS_RUST_TARGET")
            .env_remove("EBPF_CROSS_STATIC")
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER")
            .env_remove("CC_armv7_unknown_linux_gnueabihf")
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

/// A stand-in for rust-common's target-rust-ccld: the cross gcc with the
/// recipe's LDFLAGS appended, recording each call so the test can tell it
/// was the linker cargo used.
fn write_linker_wrapper(path: &Path, log: &Path, ldflags: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(
        path,
        format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\nexec arm-linux-gnueabihf-gcc \"$@\" {ldflags}\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The ELF's program headers: is there a PT_INTERP, and a DT_GNU_HASH in
/// the dynamic section (what insane.bbclass's ldflags check looks for)?
fn dynamic_facts(elf: &[u8]) -> (bool, bool) {
    use object::elf::{DT_GNU_HASH, PT_DYNAMIC, PT_INTERP};
    use object::read::elf::{Dyn, ElfFile32, ProgramHeader};
    let f = ElfFile32::<object::LittleEndian>::parse(elf).unwrap();
    let e = f.endian();
    let mut interp = false;
    let mut gnu_hash = false;
    for ph in f.elf_program_headers() {
        if ph.p_type(e) == PT_INTERP {
            interp = true;
        }
        if ph.p_type(e) == PT_DYNAMIC {
            if let Ok(Some(dyns)) = ph.dynamic(e, elf) {
                gnu_hash = dyns.iter().any(|d| d.d_tag(e) == DT_GNU_HASH);
            }
        }
    }
    (interp, gnu_hash)
}

#[test]
#[ignore = "tier: kernels (scripts/setup.sh)"]
fn recipe_build_and_install_as_bitbake_would() {
    let kernel_src = common::fx_dir("EBPF_CROSS_ARMHF_SRC");
    let kernel_build = common::fx_dir("EBPF_CROSS_ARMHF_BUILD");
    let started = Instant::now();
    let t = tempfile::tempdir().unwrap();
    let workdir = t.path();
    let s = workdir.join("sources/open-example-0.1.0");
    copy_example(&s);

    // What the crate:// fetcher unpacks into ${CARGO_HOME}/bitbake: every
    // locked crate as a directory with .cargo-checksum.json, which is also
    // `cargo vendor`'s layout (the one network access, done with the
    // developer's own CARGO_HOME and its registry cache).
    let cargo_home = workdir.join("sources/cargo_home");
    let vendored = cargo_home.join("bitbake");
    let o = Command::new("cargo")
        .current_dir(&s)
        .args(["vendor", "--locked", "--quiet"])
        .arg(&vendored)
        .output()
        .unwrap();
    assert!(o.status.success(), "cargo vendor failed:\n{}", text(&o));

    // rust-common's do_rust_create_wrappers and cargo_common_do_configure.
    let wrapper = workdir.join("wrapper/target-rust-ccld");
    let wrapper_log = workdir.join("wrapper/calls.log");
    std::fs::create_dir_all(wrapper.parent().unwrap()).unwrap();
    let ldflags = "-Wl,-O1 -Wl,--hash-style=gnu -Wl,--as-needed -Wl,-z,relro,-z,now";
    write_linker_wrapper(&wrapper, &wrapper_log, ldflags);
    let b = workdir.join("build");
    // Section for section what cargo_common_do_configure writes.
    std::fs::write(
        cargo_home.join("config.toml"),
        format!(
            "# EXTRA_OECARGO_PATHS\npaths = [\n]\n\n\
             # Local mirror vendored by bitbake\n[source.bitbake]\ndirectory = \"{}\"\n\n\
             [source.crates-io]\nreplace-with = \"bitbake\"\nlocal-registry = \"/nonexistent\"\n\n\
             [http]\nmultiplexing = false\ncainfo = \"/etc/ssl/certs/ca-certificates.crt\"\n\n\
             # HOST_SYS\n[target.armv7-unknown-linux-gnueabihf]\nlinker = \"{}\"\n\n\
             # BUILD_SYS\n[target.{}]\nlinker = \"cc\"\n\n\
             [build]\ntarget-dir = \"{}\"\n\n\
             [term]\nprogress.when = 'always'\nprogress.width = 80\n",
            vendored.display(),
            wrapper.display(),
            host_triple(),
            b.join("target").display()
        ),
    )
    .unwrap();
    let cache_dir = workdir.join("ebpf-cross-cache");
    // EBPF_CROSS_BPF_PREFIX_MAP, with this machine's paths.
    let bpf_cflags = [
        (s.clone(), "/usr/src/debug/open-example/0.1.0".to_string()),
        (b.clone(), "/usr/src/debug/open-example/0.1.0".to_string()),
        (PathBuf::from(&kernel_src), "/usr/src/kernel".to_string()),
        (PathBuf::from(&kernel_build), "/usr/src/kernel".to_string()),
        (cache_dir.clone(), "/usr/src/ebpf-cross".to_string()),
    ]
    .iter()
    .map(|(from, to)| format!("-ffile-prefix-map={}={to}", from.display()))
    .collect::<Vec<_>>()
    .join(" ");
    let env = RecipeEnv {
        cargo_home,
        rustflags: format!(
            "--remap-path-prefix={}=/usr/src/debug/open-example/0.1.0",
            workdir.display()
        ),
        kernel_src,
        kernel_build: kernel_build.clone(),
        bpf_cflags,
        cache_dir,
    };
    let target_dir = b.join("target");
    let image = workdir.join("image");
    let manifest = s.join("Cargo.toml");

    // ebpf_cross_do_compile, on glibc: --static=0, libbpf from a sysroot.
    let compile = Instant::now();
    let o = env
        .command(&s)
        .arg("-v")
        .args(["build", "--target", "armv7", "--manifest-path"])
        .arg(&manifest)
        .args([
            "--rust-target",
            "armv7-unknown-linux-gnueabihf",
            "--static=0",
            "--libbpf-include",
            "/usr/include",
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
    // The linker is the wrapper cargo_common's config names, untouched.
    assert!(
        log.contains(&format!(
            "Linking loader (armv7-unknown-linux-gnueabihf, {}, from cargo config)",
            wrapper.display()
        )),
        "{log}"
    );
    // Nothing to add to RUSTFLAGS for a dynamic loader, so the recipe's
    // reaches rustc as it is (its remap is checked on the loader below).
    assert!(!log.contains("RUSTFLAGS="), "{log}");
    assert!(!log.contains("target-feature=+crt-static"), "{log}");
    for flag in env.bpf_cflags.split(' ') {
        assert!(log.contains(flag), "{flag} not passed to clang:\n{log}");
    }
    let calls = std::fs::read_to_string(&wrapper_log).expect("the wrapper linked the loader");
    assert_eq!(calls.lines().count(), 1, "{calls}");

    // ebpf_cross_do_install.
    let o = env
        .command(&s)
        .args(["install", "--target", "armv7", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
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
    // Dynamic, linked with LDFLAGS: insane.bbclass's ldflags check wants
    // DT_GNU_HASH in a dynamic executable.
    assert_eq!(
        dynamic_facts(&loader),
        (true, true),
        "PT_INTERP, DT_GNU_HASH"
    );

    let obj_path = image.join("usr/share/ebpf/open-example/open-example.o");
    let obj = std::fs::read(&obj_path).unwrap();
    assert_eq!(&obj[..4], b"\x7fELF");
    assert_eq!(obj[4], 2, "BPF objects are ELFCLASS64");
    assert_eq!(u16_le(&obj, 18), 247, "EM_BPF");
    assert_eq!(mode(&obj_path), 0o644);

    // buildpaths QA: no file may carry the build's own directories.
    let workdir_bytes = workdir.display().to_string().into_bytes();
    for (name, bytes) in [("loader", &loader), ("object", &obj)] {
        assert!(
            !bytes
                .windows(workdir_bytes.len())
                .any(|w| w == workdir_bytes),
            "the {name} contains {}",
            workdir.display()
        );
    }

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

/// OpenEmbedded's glibc target specs leave out `crt-static-respected`, so
/// rustc would drop +crt-static without a word; asking for a static loader
/// on such a spec is refused before anything is built, saying why.
#[test]
fn a_static_loader_on_a_spec_that_ignores_crt_static_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("git");
    copy_example(&s);
    let specs = t.path().join("specs");
    std::fs::create_dir_all(&specs).unwrap();
    std::fs::write(
        specs.join("armv7-poky-linux-gnueabihf.json"),
        r#"{"llvm-target":"armv7-unknown-linux-gnueabihf","arch":"arm","os":"linux","env":"gnu",
            "target-endian":"little","target-pointer-width":"32","target-c-int-width":"32",
            "data-layout":"e-m:e-p:32:32-Fi8-i64:64-v128:64:128-a:0:32-n32-S64"}"#,
    )
    .unwrap();
    let run = |extra: &[&str], env: &[(&str, &str)]| {
        let mut c = tool_cmd();
        c.current_dir(&s)
            .env("RUST_TARGET_PATH", &specs)
            .env_remove("EBPF_CROSS_RUST_TARGET")
            .env_remove("EBPF_CROSS_STATIC")
            .args([
                "--color",
                "never",
                "build",
                "--target",
                "armv7",
                "--rust-target",
                "armv7-poky-linux-gnueabihf",
                "--frozen",
                "--no-rustup",
            ])
            .args(extra);
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let expected = |from: &str| {
        format!(
            "error: a static loader was asked for ({from}) but target spec {} does not set `crt-static-respected`, so rustc would ignore +crt-static and link the loader dynamically\n  \
             help: link the loader dynamically: --no-static or EBPF_CROSS_STATIC=0 (the Yocto class does this on glibc; OpenEmbedded's generated target specs respect crt-static only for musl), or build for a target whose spec sets `crt-static-respected`\n",
            specs.join("armv7-poky-linux-gnueabihf.json").display()
        )
    };
    // The example's Cargo.toml says `static = true`.
    let o = run(&[], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        expected(&format!(
            "[package.metadata.ebpf-cross] in {}",
            s.join("Cargo.toml").display()
        ))
    );
    let o = run(&[], &[("EBPF_CROSS_STATIC", "1")]);
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        expected("env EBPF_CROSS_STATIC")
    );
    let o = run(&["--static"], &[("EBPF_CROSS_STATIC", "0")]);
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        expected("--static/--no-static")
    );
    // --no-static beats both; the build then goes on to the kernel tree,
    // which this test does not give, so it fails there instead.
    let o = run(&["--no-static"], &[("EBPF_CROSS_STATIC", "1")]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("static"),
        "{}",
        text(&o)
    );
    assert!(!s.join("target").exists(), "nothing may be built");
}

/// A project made by `new`, with a -crates.inc written from the example's
/// lock (the same dependencies), as a user would have it after
/// `cargo ebpf-cross yocto crates-inc`.
fn new_project(dir: &Path) -> PathBuf {
    let o = tool_cmd()
        .current_dir(dir)
        .args(["--color", "never", "new", "my_probe", "--target", "armv7"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let p = dir.join("my_probe");
    let o = tool_cmd()
        .current_dir(&p)
        .args(["--color", "never", "yocto", "crates-inc", "--lockfile"])
        .arg(common::repo().join("examples/open-example/Cargo.lock"))
        .args(["-o", "yocto/recipes-ebpf/my-probe/my-probe-crates.inc"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "       Wrote yocto/recipes-ebpf/my-probe/my-probe-crates.inc (26 crates)\n"
    );
    p
}

/// Packages with a checksum in a Cargo.lock: the crates a -crates.inc lists.
fn locked_crates(lock: &Path) -> usize {
    std::fs::read_to_string(lock)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("checksum = "))
        .count()
}

fn parse_layer(project: &Path, tclibc: &str) -> String {
    let repo = common::repo();
    let o = Command::new(venv_tool("python"))
        .arg(repo.join("tests/yocto/parse_layer.py"))
        .arg(repo.join("tests/yocto/minimal"))
        .arg(project.join("yocto"))
        .arg(tclibc)
        .env("EBPF_CROSS_REPO_DIR", &repo)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "bb could not parse the layer:\n{}",
        text(&o)
    );
    assert_eq!(String::from_utf8_lossy(&o.stderr), "", "bb warned");
    String::from_utf8(o.stdout).unwrap()
}

/// The kernel bbappend, applied to tests/yocto/minimal's linux-yocto.
const KERNEL_APPEND: &str = "linux-yocto + recipes-kernel/linux/linux-yocto_%.bbappend";

/// What bitbake's parser makes of the class, the recipe and the native
/// recipe (both variants), and of the kernel bbappend applied to a
/// linux-yocto: every line is one variable or task as parsed.
#[test]
#[ignore = "tier: kernels (scripts/setup.sh: the Python tools in .fixtures/venv)"]
fn generated_layer_parses_with_bitbakes_parser() {
    let t = tempfile::tempdir().unwrap();
    let p = new_project(t.path());
    let tool_crates = locked_crates(&common::repo().join("Cargo.lock"));
    let v = env!("CARGO_PKG_VERSION");
    let tool = |pn: &str| {
        let w = format!("/tmp-bb/work/{pn}-{v}-r0");
        // BPN drops -native and -cross, as oe-core's does.
        let s = format!("{w}/sources/cargo-ebpf-{v}");
        format!(
            "{pn}: PN = {pn}
{pn}: PV = {v}
{pn}: S = {s}
{pn}: B = {w}/build
{pn}: LICENSE = MIT | Apache-2.0
{pn}: LIC_FILES_CHKSUM = LICENSE-MIT md5 ok
{pn}: LIC_FILES_CHKSUM = LICENSE-APACHE md5 ok
{pn}: SRC_URI[0] = git://example.invalid/cargo-ebpf-cross;protocol=https;branch=main;destsuffix=cargo-ebpf-{v}
{pn}: SRC_URI crates = {tool_crates}
{pn}: SRC_URI crates without sha256sum = 0
{pn}: SRCREV = 0000000000000000000000000000000000000000
{pn}: DEPENDS = cargo-native rust-native libstd-rs
{pn}: BBCLASSEXTEND = native
{pn}: tasks = do_build do_compile do_configure do_fetch do_install do_patch do_prepare_recipe_sysroot do_unpack
{pn}: do_configure = # Export function set cargo_common_do_configure
{pn}: do_compile = oe_cargo_fix_env # Export function set cargo_do_compile
{pn}: do_install = # Export function set cargo_do_install
{pn}: INSANE_SKIP:{pn} = 
{pn}: FILES:{pn} = 
{pn}: CARGO_MANIFEST_PATH = {s}/cargo-ebpf-cross/Cargo.toml
{pn}: CARGO_BUILD_FLAGS = -v --frozen --target arm-poky-linux-gnueabi --manifest-path={s}/cargo-ebpf-cross/Cargo.toml --no-default-features
"
        )
    };
    let w = "/tmp-bb/work/my-probe-0.1.0+git-r0";
    let s = format!("{w}/sources/my-probe-0.1.0+git");
    let recipe = format!(
        "my-probe: PN = my-probe
my-probe: PV = 0.1.0+git
my-probe: S = {s}
my-probe: B = {w}/build
my-probe: LICENSE = GPL-2.0-only & (MIT | Apache-2.0)
my-probe: LIC_FILES_CHKSUM = bpf/my_probe.bpf.c md5 ok
my-probe: LIC_FILES_CHKSUM = LICENSE-MIT md5 ok
my-probe: LIC_FILES_CHKSUM = LICENSE-APACHE md5 ok
my-probe: SRC_URI[0] = git://git.example.invalid/my_probe.git;protocol=https;branch=main;destsuffix=my-probe-0.1.0+git
my-probe: SRC_URI crates = 26
my-probe: SRC_URI crates without sha256sum = 0
my-probe: SRCREV = 0000000000000000000000000000000000000000
my-probe: DEPENDS = cargo-native rust-native libstd-rs cargo-native rust-native libstd-rs clang-native libbpf cargo-ebpf-cross-native
my-probe: BBCLASSEXTEND = 
my-probe: tasks = do_build do_compile do_configure do_fetch do_install do_patch do_prepare_recipe_sysroot do_unpack
my-probe: do_configure = # Export function set cargo_common_do_configure
my-probe: do_compile = oe_cargo_fix_env # Export function set ebpf_cross_do_compile
my-probe: do_compile[depends] = virtual/kernel:do_shared_workdir
my-probe: do_install = # Export function set ebpf_cross_do_install
my-probe: INSANE_SKIP:my-probe = 
my-probe: FILES:my-probe = /usr/share/ebpf
my-probe: CARGO_MANIFEST_PATH = {s}//Cargo.toml
my-probe: CARGO_BUILD_FLAGS = -v --frozen --target arm-poky-linux-gnueabi --manifest-path={s}//Cargo.toml
my-probe: PACKAGE_ARCH = testboard
my-probe: EBPF_CROSS_TARGET = armv7
my-probe: EBPF_CROSS_STATIC = 0
my-probe: export EBPF_CROSS_KERNEL_SRC = /tmp-bb/work-shared/testboard/kernel-source
my-probe: export EBPF_CROSS_KERNEL_BUILD = /tmp-bb/work-shared/testboard/kernel-build-artifacts
my-probe: export EBPF_CROSS_CACHE_DIR = {w}/ebpf-cross-cache
my-probe: export EBPF_CROSS_HOST_LIBBPF = 0
my-probe: export EBPF_CROSS_BPF_CFLAGS = -ffile-prefix-map={s}=/usr/src/debug/my-probe/0.1.0+git -ffile-prefix-map={w}/build=/usr/src/debug/my-probe/0.1.0+git -ffile-prefix-map={w}/recipe-sysroot= -ffile-prefix-map={w}/recipe-sysroot-native= -ffile-prefix-map=/tmp-bb/work-shared/testboard/kernel-source=/usr/src/kernel -ffile-prefix-map=/tmp-bb/work-shared/testboard/kernel-build-artifacts=/usr/src/kernel -ffile-prefix-map={w}/ebpf-cross-cache=/usr/src/ebpf-cross
my-probe: export CLANG = {w}/recipe-sysroot-native/usr/bin/clang
my-probe: export LLC = {w}/recipe-sysroot-native/usr/bin/llc
my-probe: export LIBCLANG_PATH = {w}/recipe-sysroot-native/usr/lib
my-probe: export CARGO_PROFILE_RELEASE_STRIP = false
my-probe: ebpf_cross_do_compile = if [ -z \"armv7\" ]; then bbfatal \"set EBPF_CROSS_TARGET (armv7, aarch64, boards/<board>.toml, ...)\" fi export RUSTFLAGS=\" -L {w}/recipe-sysroot/usr/lib/rustlib\" cargo-ebpf-cross build --target \"armv7\" \\ --manifest-path \"{s}//Cargo.toml\" \\ --rust-target \"arm-poky-linux-gnueabi\" \\ --static=\"0\" \\ --libbpf-include \"{w}/recipe-sysroot/usr/include\" \\ --release --frozen --no-rustup --target-dir \"{w}/build/target\"
my-probe: ebpf_cross_do_install = cargo-ebpf-cross install --target \"armv7\" \\ --manifest-path \"{s}//Cargo.toml\" --target-dir \"{w}/build/target\" \\ --destdir \"{w}/image\" --bindir \"/usr/bin\" --datadir \"/usr/share\"
my-probe: do_fetch[prefuncs] = ebpf_cross_check_crates
my-probe: missing crates = 
{KERNEL_APPEND}: SRC_URI = git://git.yoctoproject.org/linux-yocto.git;branch=v6.6/standard/base;name=machine file://ebpf.cfg
{KERNEL_APPEND}: FILESEXTRAPATHS = recipes-kernel/linux/files __default
{KERNEL_APPEND}: file://ebpf.cfg = recipes-kernel/linux/files/ebpf.cfg
"
    );
    let expected = format!(
        "layer: LAYERSERIES_COMPAT_my-probe = scarthgap whinlatter wrynose blacksail
layer: LAYERDEPENDS_my-probe = core openembedded-layer
{}{}{recipe}",
        tool("cargo-ebpf-cross"),
        tool("cargo-ebpf-cross-native")
    );
    let glibc = parse_layer(&p, "glibc");
    assert_eq!(glibc, expected);
    // On musl the loader is static: the only difference.
    let musl = parse_layer(&p, "musl");
    assert_eq!(
        musl,
        expected
            .replace(
                "my-probe: EBPF_CROSS_STATIC = 0\n",
                "my-probe: EBPF_CROSS_STATIC = 1\n"
            )
            .replace("--static=\"0\"", "--static=\"1\"")
    );
}

/// The layer `new` writes parses before `yocto crates-inc` has ever run (a
/// failed `require` would stop bitbake's parse of every recipe), and the
/// recipe's own fetch says what to run.
#[test]
#[ignore = "tier: kernels (scripts/setup.sh: the Python tools in .fixtures/venv)"]
fn a_fresh_layer_parses_and_its_fetch_says_to_write_the_crates_inc() {
    let t = tempfile::tempdir().unwrap();
    let o = tool_cmd()
        .current_dir(t.path())
        .args(["--color", "never", "new", "my_probe", "--target", "armv7"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let p = t.path().join("my_probe");
    let recipe_dir = p.join("yocto/recipes-ebpf/my-probe");
    assert!(!recipe_dir.join("my-probe-crates.inc").exists());
    let parsed = parse_layer(&p, "glibc");
    let mine: Vec<&str> = parsed
        .lines()
        .filter(|l| {
            l.starts_with("my-probe: SRC_URI crates")
                || l.starts_with("my-probe: do_fetch")
                || l.starts_with("my-probe: missing")
        })
        .collect();
    assert_eq!(
        mine,
        [
            "my-probe: SRC_URI crates = 0".to_string(),
            "my-probe: SRC_URI crates without sha256sum = 0".to_string(),
            "my-probe: do_fetch[prefuncs] = ebpf_cross_check_crates".to_string(),
            format!(
                "my-probe: missing crates = my-probe has no my-probe-crates.inc yet, so its crates cannot be fetched: in the project, run `cargo ebpf-cross yocto crates-inc -o {}/my-probe-crates.inc` and commit that file",
                recipe_dir.display()
            ),
        ]
    );
}

/// oelint-adv finds nothing, for every release the layer claims. Two
/// findings are suppressed inline in the templates, each with its reason;
/// `homepageping` here, because it pings HOMEPAGE over the network and the
/// generated addresses are placeholders under `.invalid`.
#[test]
#[ignore = "tier: kernels (scripts/setup.sh: the Python tools in .fixtures/venv)"]
fn generated_layer_lints_clean_with_oelint() {
    let t = tempfile::tempdir().unwrap();
    let p = new_project(t.path());
    let layer = p.join("yocto");
    for release in ["scarthgap", "whinlatter", "wrynose", "blacksail"] {
        let o = Command::new(venv_tool("oelint-adv"))
            .current_dir(&layer)
            .args([
                "--quiet",
                "--relpaths",
                "--mode",
                "all",
                "--release",
                release,
            ])
            .args(["--suppress", "oelint.vars.homepageping"])
            .args([
                "recipes-ebpf/my-probe/my-probe_git.bb",
                &format!(
                    "recipes-devtools/cargo-ebpf-cross/cargo-ebpf-cross_{}.bb",
                    env!("CARGO_PKG_VERSION")
                ),
                "classes/ebpf_cross.bbclass",
                "conf/layer.conf",
                "recipes-kernel/linux/linux-yocto_%.bbappend",
            ])
            .env("HOME", t.path())
            .output()
            .unwrap();
        assert_eq!(text(&o), "", "oelint-adv --release {release}");
        assert!(o.status.success(), "oelint-adv --release {release}");
    }
}

/// Both CI templates, as `new` renders them, against the schemas
/// check-jsonschema ships (no network needed).
#[test]
#[ignore = "tier: kernels (scripts/setup.sh: the Python tools in .fixtures/venv)"]
fn ci_templates_validate_against_their_schemas() {
    let t = tempfile::tempdir().unwrap();
    let p = new_project(t.path());
    for (schema, file) in [
        (
            "vendor.github-workflows",
            ".github/workflows/ebpf-cross.yml",
        ),
        ("vendor.gitlab-ci", ".gitlab-ci.yml"),
    ] {
        let o = Command::new(venv_tool("check-jsonschema"))
            .current_dir(&p)
            .args(["--builtin-schema", schema, file])
            .output()
            .unwrap();
        assert_eq!(text(&o), "ok -- validation done\n", "{file}");
        assert!(o.status.success(), "{file}");
    }
}

/// The tool's own -crates.inc is what `yocto crates-inc` writes from the
/// workspace's Cargo.lock today, and the native recipe is named after this
/// version, so neither drifts when dependencies or the version change.
#[test]
fn native_recipe_matches_the_tool() {
    let repo = common::repo();
    let dir = repo.join("templates/yocto/recipes-devtools/cargo-ebpf-cross");
    let o = tool_cmd()
        .current_dir(&repo)
        .args(["yocto", "crates-inc", "--lockfile", "Cargo.lock"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        std::fs::read_to_string(dir.join("cargo-ebpf-cross-crates.inc")).unwrap(),
        "regenerate it: cargo ebpf-cross yocto crates-inc --lockfile Cargo.lock -o {}",
        dir.join("cargo-ebpf-cross-crates.inc").display()
    );
    assert!(
        dir.join(format!("cargo-ebpf-cross_{}.bb", env!("CARGO_PKG_VERSION")))
            .is_file(),
        "rename the native recipe after the crate's version"
    );
}

/// `yocto crates-inc` without a lock says what to run first.
#[test]
fn crates_inc_without_a_lock_says_how_to_make_one() {
    let t = tempfile::tempdir().unwrap();
    let lock = t.path().join("Cargo.lock");
    let o = tool_cmd()
        .args(["--color", "never", "yocto", "crates-inc", "--lockfile"])
        .arg(&lock)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!(
            "error: no Cargo.lock at {}\n  \
             help: run `cargo generate-lockfile` (or any cargo build) in the project first; the recipe builds --frozen from it\n",
            lock.display()
        )
    );
}

/// EBPF_CROSS_BPF_CFLAGS (what the class sets for -ffile-prefix-map=) is
/// part of the plan: --dry-run shows it after the board's flags, quoted
/// words kept whole.
#[test]
#[ignore = "tier: tools (scripts/setup.sh --no-kernels)"]
fn bpf_cflags_from_the_environment_are_in_the_plan() {
    let t = tempfile::tempdir().unwrap();
    let src = common::repo().join("examples/open-example/bpf/open-example.bpf.c");
    let out = t.path().join("o.o");
    let o = tool_cmd()
        .current_dir(t.path())
        .env(
            "EBPF_CROSS_BPF_CFLAGS",
            "-DEXTRA '-ffile-prefix-map=/a b=/c'",
        )
        .args([
            "--color",
            "never",
            "--dry-run",
            "compile",
            "--target",
            "armv7",
        ])
        .args(["--kernel-version", "6.1", "-o"])
        .arg(&out)
        .arg(&src)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let plan = String::from_utf8_lossy(&o.stdout);
    assert!(
        plan.contains(&format!(
            "/.ebpf-cross/armv7/include -DEXTRA '-ffile-prefix-map=/a b=/c' -S -emit-llvm -MD -MF {}",
            t.path().join(".ebpf-cross/armv7/o.d").display()
        )),
        "{plan}"
    );
}

/// Yocto passes its own target (RUST_TARGET_SYS, or a spec JSON); a spec
/// that describes another machine than the profile is refused up front.
#[test]
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
    let o = Command::new(bin())
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
        kernel_release: None,
        bpf_mode: None,
        llvm_version: "14.0.6".into(),
        loader: "bin/p".into(),
        objects: vec!["bpf/p.o".into()],
        btf: Vec::new(),
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
        Command::new(bin())
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
            "error: `{}` is not a usable bundle: it is damaged: `bpf/p.o` has sha256 ",
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

/// A crafted Cargo.lock (one comes with every pull request) whose version
/// would run Python when bitbake parses the `-crates.inc` is refused, and
/// no `-crates.inc` is written.
#[test]
fn a_crafted_lock_never_reaches_bitbake_syntax() {
    let t = tempfile::tempdir().unwrap();
    let lock = t.path().join("Cargo.lock");
    let out = t.path().join("x-crates.inc");
    std::fs::write(
        &lock,
        format!(
            "version = 4\n\n[[package]]\nname = \"libc\"\nversion = \"0.2.1${{@bb.utils.remove('/tmp/x')}}\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"{}\"\n",
            "0".repeat(64)
        ),
    )
    .unwrap();
    let o = tool_cmd()
        .args(["--color", "never", "yocto", "crates-inc", "--lockfile"])
        .arg(&lock)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!(
            "error: {}: version \"0.2.1${{@bb.utils.remove('/tmp/x')}}\" is not one cargo accepts, so it is not written into bitbake syntax\n  \
             help: the lock was edited by hand or crafted; regenerate it with `cargo generate-lockfile` and review where it came from\n",
            lock.display()
        )
    );
    assert!(!out.exists());
}
