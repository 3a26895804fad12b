//! The Rust side of the host: its triple, its sysroot, and whether a
//! target's std is installed (added with rustup when allowed).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::plan::Cmd;

/// Is `triple` one rustc ships (so rustup can add it)? Custom triples and
/// spec files are the user's toolchain's business.
pub fn is_builtin_rust_target(triple: &str) -> bool {
    if triple.ends_with(".json") {
        return false;
    }
    // One rustc run for every board of a build.
    static LIST: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    LIST.get_or_init(|| {
        Cmd::new("rustc")
            .args(["--print", "target-list"])
            .output()
            .map(|o| o.stdout_text().lines().map(str::to_string).collect())
            .unwrap_or_default()
    })
    .iter()
    .any(|l| l == triple)
}

/// Makes sure the target's std is there, adding it with rustup when allowed.
pub fn ensure_rust_target(triple: &str, allow_rustup: bool, offline: bool) -> Result<()> {
    // Installed is the common case and needs no target list.
    let installed = rust_target_installed(triple);
    if installed == Some(true) || !is_builtin_rust_target(triple) {
        return Ok(());
    }
    match installed {
        Some(true) => return Ok(()),
        None => {
            return Err(Error::Loader {
                message: "rustc not found".into(),
                hint: "install Rust with rustup (https://rustup.rs)".into(),
            })
        }
        Some(false) => {}
    }
    let has_rustup = which::which("rustup").is_ok();
    if !allow_rustup || offline || !has_rustup {
        let why = if offline {
            " (offline, so it cannot be downloaded now)"
        } else if !has_rustup {
            " (and rustup is not installed)"
        } else {
            ""
        };
        return Err(Error::Loader {
            message: format!("the Rust standard library for {triple} is not installed{why}"),
            hint: format!("run `rustup target add {triple}` while online, or install the target's std another way"),
        });
    }
    crate::ui::status(
        "Installing",
        &format!("Rust target {triple} (rustup target add)"),
    );
    let cmd = Cmd::new("rustup").args(["target", "add", triple]);
    if let Err(e) = cmd.status() {
        return Err(Error::Loader {
            message: format!("`rustup target add {triple}` failed: {e}"),
            hint: "check the network; if rustup said the target has no prebuilt artifacts (tier 3 targets such as mips and mipsel), build its std yourself (nightly `-Z build-std`) and pass --no-rustup".into(),
        });
    }
    Ok(())
}

/// The host's Rust triple, from `rustc -vV`.
pub fn host_triple() -> String {
    // Asked once per board otherwise; a no-op build should spawn little.
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        Cmd::new("rustc")
            .arg("-vV")
            .output()
            .ok()
            .and_then(|o| {
                o.stdout_text()
                    .lines()
                    .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
            })
            .unwrap_or_else(|| "x86_64-unknown-linux-gnu".to_string())
    })
    .clone()
}

/// Is the Rust target's std installed for the active toolchain?
/// (rustc's `target-libdir` is `<sysroot>/lib/rustlib/<triple>/lib`; the
/// sysroot is asked once, so several boards cost one rustc run.)
pub fn rust_target_installed(triple: &str) -> Option<bool> {
    let dir = sysroot()?.join("lib/rustlib").join(triple).join("lib");
    Some(
        std::fs::read_dir(&dir)
            .map(|mut d| {
                d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("libstd-")))
            })
            .unwrap_or(false),
    )
}

fn sysroot() -> Option<&'static Path> {
    static SYSROOT: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    SYSROOT
        .get_or_init(|| {
            Cmd::new("rustc")
                .args(["--print", "sysroot"])
                .output()
                .ok()
                .map(|o| PathBuf::from(o.stdout_text().trim()))
        })
        .as_deref()
}

/// Asks rustc for its host and sysroot now, so a thread can do it while
/// the BPF compiles run instead of after them, just before cargo.
pub fn warm_up() {
    host_triple();
    sysroot();
}
