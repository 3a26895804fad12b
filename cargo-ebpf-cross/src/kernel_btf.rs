//! The target kernel's BTF for CO-RE mode, taken from a reference kernel's
//! own image: Debian ships no vmlinux and no .btf file, but a kernel built
//! with CONFIG_DEBUG_INFO_BTF carries its `.BTF` section inside the image
//! (arm64's Image and riscv64's EFI vmlinux as they are; a gzip'd image
//! after decompression). It is found by the BTF header's magic (0xEB9F)
//! and kept only if the header and its section lengths hold together, then
//! cached beside the image, so later builds read it directly.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::btf_blob::find;
use crate::error::{read_err, Error, Result};
use crate::reference::cache::Record;

/// Where the extracted BTF of a reference kernel is cached.
pub fn cached_path(r: &Record) -> PathBuf {
    let mut name = r
        .image
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".btf");
    r.image.with_file_name(name)
}

/// The reference kernel's `boot/config-*`, beside its image.
fn config_path(r: &Record) -> PathBuf {
    r.image
        .with_file_name(format!("config-{}-{}", r.abi, r.flavour))
}

/// The BTF of a reference kernel: cached, or extracted from its image now.
/// A kernel built without CONFIG_DEBUG_INFO_BTF has none, and CO-RE mode
/// cannot work for it; the error says so and what to do instead.
pub fn for_reference(r: &Record, policy: crate::reference::Policy) -> Result<PathBuf> {
    let config = config_path(r);
    let text = std::fs::read_to_string(&config).map_err(read_err(&config))?;
    let kernel = format!("debian:{} {} ({} {})", r.release, r.flavour, r.arch, r.abi);
    let out = cached_path(r);
    if !text.lines().any(|l| l == "CONFIG_DEBUG_INFO_BTF=y") {
        if out.is_file() {
            return Ok(out);
        }
        // Debian builds these kernels with DWARF and ships it in the -dbg
        // package: BTF made from that is the kernel's own types.
        if text.lines().any(|l| l == "CONFIG_DEBUG_INFO=y") {
            if policy != crate::reference::Policy::Fetch {
                return Err(Error::Usage {
                    message: format!(
                        "CO-RE mode needs BTF for debian:{} {}, made from its linux-image-{}-{}-dbg package, which is not cached, and this command does not download (--offline, CARGO_NET_OFFLINE, --dry-run or a report)",
                        r.release, r.flavour, r.abi, r.flavour
                    ),
                    hint: "run the same compile or build once online; the BTF is then cached beside the kernel".into(),
                });
            }
            return from_dbg(r, &out);
        }
        return Err(Error::Usage {
            message: format!(
                "CO-RE mode needs the target kernel's BTF, and the reference kernel {kernel} has none: its {} does not set CONFIG_DEBUG_INFO_BTF",
                config.file_name().unwrap_or_default().to_string_lossy()
            ),
            hint: "build this board in native mode (the default; drop [bpf] mode = \"core\"), which needs no BTF, or name a BTF for the board's own kernel with [bpf] btf".into(),
        });
    }
    if out.is_file() {
        return Ok(out);
    }
    let image = read_image(&r.image)?;
    let blob = find(&image).ok_or_else(|| Error::BadOutput {
        path: r.image.clone(),
        problem: format!(
            "{kernel} sets CONFIG_DEBUG_INFO_BTF, but no valid BTF header (magic 0xEB9F) was found in its image"
        ),
    })?;
    crate::ui::status(
        "Extracted",
        &format!(
            "BTF of {kernel} ({} KiB) to {}",
            blob.len() / 1024,
            crate::fsutil::shown(&out)
        ),
    );
    crate::fsutil::write_atomic(&out, blob)?;
    Ok(out)
}

/// BTF made from the -dbg package's vmlinux, cached beside the image with
/// the kernel's identity (its banner is compressed inside the zImage, so a
/// bundle could not tell it otherwise). The vmlinux and the .deb are not
/// kept.
#[cfg(feature = "fetch")]
fn from_dbg(r: &Record, out: &Path) -> Result<PathBuf> {
    let cache = crate::reference::cache::Cache::open()?;
    // Two builds wanting it at once download it once: the second waits,
    // then finds the first one's BTF.
    let _lock = cache.lock(&format!("{}.dbg-btf", r.key))?;
    if out.is_file() {
        return Ok(out.to_path_buf());
    }
    let (_tmp, vmlinux) = crate::reference::fetch::dbg_vmlinux(&cache, r)?;
    let bytes = std::fs::read(&vmlinux).map_err(read_err(&vmlinux))?;
    let id = crate::bundle_btf::elf_banner_identity(&bytes).ok_or_else(|| Error::NoBtf {
        vmlinux: vmlinux.clone(),
        problem: "no `Linux version ...` banner in it".into(),
        hint: "the -dbg package's vmlinux is not this kernel's; please report it".into(),
    })?;
    drop(bytes);
    crate::dwarf_btf::make(&vmlinux, out)?;
    crate::fsutil::write_atomic(
        &crate::bundle_btf::identity_path(&r.image),
        format!("{}\t{}\n", id.release, id.version).as_bytes(),
    )?;
    Ok(out.to_path_buf())
}

#[cfg(not(feature = "fetch"))]
fn from_dbg(r: &Record, _out: &Path) -> Result<PathBuf> {
    Err(Error::Usage {
        message: format!(
            "CO-RE mode needs BTF for debian:{} {}, made from its -dbg package, and this cargo-ebpf-cross was built without the `fetch` feature",
            r.release, r.flavour
        ),
        hint: "build the tool with default features, or name a BTF for the board's kernel with [bpf] btf".into(),
    })
}

/// The image's bytes, gunzipped when it is a gzip file.
fn read_image(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(read_err(path))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(read_err(path))?;
        return Ok(out);
    }
    Ok(raw)
}
