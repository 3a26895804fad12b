//! The target kernel's BTF for CO-RE mode, taken from a reference kernel's
//! own image: Debian ships no vmlinux and no .btf file, but a kernel built
//! with CONFIG_DEBUG_INFO_BTF carries its `.BTF` section inside the image
//! (arm64's Image and riscv64's EFI vmlinux as they are; a gzip'd image
//! after decompression). It is found by the BTF header's magic (0xEB9F)
//! and kept only if the header and its section lengths hold together, then
//! cached beside the image, so later builds read it directly.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{read_err, Error, Result};
use crate::reference::cache::Record;

const MAGIC: u16 = 0xEB9F;
/// `struct btf_header` of BTF version 1: magic, version, flags, hdr_len,
/// type_off, type_len, str_off, str_len.
const HEADER_LEN: usize = 24;

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

/// The first whole BTF blob in `image`: a version-1 header in either byte
/// order whose type and string sections lie inside the image, with a
/// string section that starts and ends with NUL (the empty name, and the
/// last name's terminator). The magic's two bytes occur in code by chance;
/// those candidates fail these checks.
pub fn find(image: &[u8]) -> Option<&[u8]> {
    let mut at = 0;
    while at + HEADER_LEN <= image.len() {
        let rest = &image[at..];
        let next = rest
            .windows(2)
            .position(|w| w == [0x9f, 0xeb] || w == [0xeb, 0x9f])?;
        let start = at + next;
        if let Some(len) = blob_len(&image[start..]) {
            return Some(&image[start..start + len]);
        }
        at = start + 1;
    }
    None
}

/// The whole length of the BTF blob at the start of `b`, if its header is
/// valid.
fn blob_len(b: &[u8]) -> Option<usize> {
    if b.len() < HEADER_LEN {
        return None;
    }
    let little = u16::from_le_bytes([b[0], b[1]]) == MAGIC;
    let big = u16::from_be_bytes([b[0], b[1]]) == MAGIC;
    if !(little || big) || b[2] != 1 || b[3] != 0 {
        return None;
    }
    let word = |i: usize| {
        let w = [b[i], b[i + 1], b[i + 2], b[i + 3]];
        let v = if little {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        };
        v as usize
    };
    let (hdr_len, type_off, type_len, str_off, str_len) =
        (word(4), word(8), word(12), word(16), word(20));
    // libbpf's btf_parse_hdr: the header may grow, but never shrink below
    // version 1's; the sections follow it, types first, without overlap.
    if hdr_len < HEADER_LEN || type_len == 0 || type_len % 4 != 0 || str_len == 0 {
        return None;
    }
    if type_off % 4 != 0 || type_off.checked_add(type_len)? > str_off {
        return None;
    }
    let total = hdr_len.checked_add(str_off)?.checked_add(str_len)?;
    if total > b.len() {
        return None;
    }
    let strings = &b[hdr_len + str_off..total];
    (strings[0] == 0 && strings[str_len - 1] == 0).then_some(total)
}

/// The member count of the largest struct named `name` in a whole BTF
/// blob (a forward declaration counts as none), or `None` if no struct has
/// that name or the type section cannot be walked.
pub fn struct_members(blob: &[u8], name: &str) -> Option<u32> {
    let len = blob_len(blob)?;
    let little = u16::from_le_bytes([blob[0], blob[1]]) == MAGIC;
    let word = |i: usize| -> Option<u32> {
        let w: [u8; 4] = blob.get(i..i + 4)?.try_into().ok()?;
        Some(if little {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        })
    };
    let hdr_len = word(4)? as usize;
    let (type_off, type_len, str_off) = (word(8)? as usize, word(12)? as usize, word(16)? as usize);
    let strings = &blob[hdr_len + str_off..len];
    let mut at = hdr_len + type_off;
    let end = at + type_len;
    let mut best = None;
    while at + 12 <= end {
        let (name_off, info) = (word(at)? as usize, word(at + 4)?);
        let (kind, vlen) = ((info >> 24) & 0x1f, info & 0xffff);
        // The bytes that follow `struct btf_type` for each kind (linux
        // include/uapi/linux/btf.h).
        let extra = match kind {
            1 | 14 | 17 => 4,
            3 => 12,
            4 | 5 | 15 | 19 => 12 * vlen as usize,
            6 | 13 => 8 * vlen as usize,
            2 | 7..=12 | 16 | 18 => 0,
            _ => return None,
        };
        if kind == 4 {
            let s = strings.get(name_off..)?;
            let n = &s[..s.iter().position(|&c| c == 0)?];
            if n == name.as_bytes() {
                best = Some(best.map_or(vlen, |b: u32| b.max(vlen)));
            }
        }
        at += 12 + extra;
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(types: &[u8], strings: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&MAGIC.to_le_bytes());
        b.extend_from_slice(&[1, 0]);
        for v in [
            24u32,
            0,
            types.len() as u32,
            types.len() as u32,
            strings.len() as u32,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(types);
        b.extend_from_slice(strings);
        b
    }

    #[test]
    fn finds_a_valid_blob_after_false_magics() {
        let good = blob(&[7; 16], b"\0int\0");
        let mut image = vec![0u8; 5];
        // A stray magic whose lengths run past the end.
        image.extend_from_slice(&[0x9f, 0xeb, 1, 0, 24, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f]);
        image.extend_from_slice(&[0; 20]);
        image.extend_from_slice(&good);
        image.extend_from_slice(&[0xaa; 9]);
        assert_eq!(find(&image), Some(&good[..]));
    }

    #[test]
    fn counts_a_structs_members() {
        // [1] INT 'int' size 4; [2] STRUCT 'task_struct' size 4 vlen 1
        // with member 'tgid'; [3] FWD 'task_struct'.
        let mut types = Vec::new();
        for w in [
            1u32,
            1 << 24,
            4,
            32,
            5,
            (4 << 24) | 1,
            4,
            17,
            1,
            0,
            5,
            7 << 24,
            0,
        ] {
            types.extend_from_slice(&w.to_le_bytes());
        }
        let b = blob(&types, b"\0int\0task_struct\0tgid\0");
        assert_eq!(struct_members(&b, "task_struct"), Some(1));
        assert_eq!(struct_members(&b, "mm_struct"), None);
    }

    #[test]
    fn rejects_bad_headers() {
        let good = blob(&[7; 16], b"\0int\0");
        assert_eq!(blob_len(&good), Some(good.len()));
        let mut v2 = good.clone();
        v2[2] = 2;
        assert_eq!(blob_len(&v2), None);
        let unterminated = blob(&[7; 16], b"\0int");
        assert_eq!(blob_len(&unterminated), None);
        assert_eq!(blob_len(&good[..good.len() - 1]), None);
        assert_eq!(find(b"no btf here at all, just bytes"), None);
    }
}
