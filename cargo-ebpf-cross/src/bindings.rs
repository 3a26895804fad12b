//! Rust types for headers shared between a BPF program and its loader.
//!
//! bindgen runs with clang's target set to the loader's Rust triple, so the
//! layouts are the board's user space (4-byte `long` on armv7), against the
//! kernel tree's uapi headers. libclang is loaded at run time, and only when
//! bindings are asked for.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::kernel_tree::KernelTree;

#[derive(Debug, Clone, PartialEq)]
pub struct BindingsPlan {
    pub header: PathBuf,
    pub output: PathBuf,
    pub clang_args: Vec<String>,
}

/// uapi include dirs, enough for `<linux/types.h>` and friends.
fn uapi_args(tree: &KernelTree, srcarch: &str) -> Vec<String> {
    let s = &tree.src;
    let b = &tree.build;
    [
        s.join(format!("arch/{srcarch}/include/uapi")),
        b.join(format!("arch/{srcarch}/include/generated/uapi")),
        s.join("include/uapi"),
        b.join("include/generated/uapi"),
    ]
    .iter()
    .map(|p| format!("-I{}", p.display()))
    .collect()
}

pub fn plan(
    header: &Path,
    out_dir: &Path,
    rust_target: &str,
    tree: Option<&KernelTree>,
    srcarch: &str,
    resource_include: &Path,
) -> BindingsPlan {
    let stem = header
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = stem
        .strip_suffix(".h")
        .unwrap_or(&stem)
        .replace(['.', '-'], "_");
    // A spec-file target is named by its stem; clang wants a triple.
    let triple = Path::new(rust_target)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(rust_target);
    let mut clang_args = vec![
        format!("--target={triple}"),
        "-nostdinc".to_string(),
        "-isystem".to_string(),
        resource_include.display().to_string(),
    ];
    if let Some(t) = tree {
        clang_args.extend(uapi_args(t, srcarch));
    }
    if let Some(dir) = header.parent() {
        clang_args.push(format!("-I{}", dir.display()));
    }
    BindingsPlan {
        header: header.to_path_buf(),
        output: out_dir.join("bindings").join(format!("{stem}.rs")),
        clang_args,
    }
}

/// Loads libclang, or says how to get it.
pub fn ensure_libclang() -> Result<()> {
    clang_sys::load().map_err(|e| Error::Loader {
        message: format!("bindings were asked for, but libclang could not be loaded: {e}"),
        hint: "install it (`apt-get install libclang-14-dev`) or set LIBCLANG_PATH to the dir holding libclang.so; or remove `bindings` from [package.metadata.ebpf-cross]".into(),
    })
}

pub fn run(p: &BindingsPlan) -> Result<()> {
    ensure_libclang()?;
    if !p.header.is_file() {
        return Err(Error::SourceMissing(p.header.clone()));
    }
    crate::ui::status(
        "Generating",
        &format!("bindings {} -> {}", p.header.display(), p.output.display()),
    );
    let b = bindgen::Builder::default()
        .header(p.header.display().to_string())
        .clang_args(p.clang_args.iter())
        .use_core()
        .layout_tests(false)
        .derive_default(true)
        .generate()
        .map_err(|e| Error::Loader {
            message: format!("bindgen failed on {}: {e}", p.header.display()),
            hint: "clang's diagnostics are above; the header must parse for the loader's target"
                .into(),
        })?;
    let text = b.to_string();
    if std::fs::read_to_string(&p.output).ok().as_deref() != Some(text.as_str()) {
        crate::fsutil::write_atomic(&p.output, text.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_targets_the_rust_triple() {
        let p = plan(
            Path::new("/p/include/event.h"),
            Path::new("/t/obj"),
            "armv7-unknown-linux-gnueabihf",
            None,
            "arm",
            Path::new("/res"),
        );
        assert_eq!(p.output, Path::new("/t/obj/bindings/event.rs"));
        assert_eq!(
            p.clang_args,
            [
                "--target=armv7-unknown-linux-gnueabihf",
                "-nostdinc",
                "-isystem",
                "/res",
                "-I/p/include"
            ]
        );
    }
}
