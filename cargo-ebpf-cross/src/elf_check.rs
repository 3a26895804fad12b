//! Checking outputs the way the seed did by eye with `file`: BPF objects are
//! 64-bit EM_BPF of the profile's byte order; loaders have the target's
//! class, machine, byte order and ABI.

use object::{Object, ObjectSection};
use serde::Serialize;

use crate::arch::{Arch, Endian};

pub const EM_BPF: u16 = 247;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ElfHeader {
    pub bits: u32,
    pub endian: Endian,
    pub machine: u16,
    pub flags: u32,
    /// Has a PT_INTERP program header: dynamically linked.
    pub interp: bool,
}

/// Reads the few header fields we check, without trusting the file.
/// `object` does the reading (with checked offsets); the ident bytes are
/// looked at first only so that each refusal keeps its own message.
pub fn header(bytes: &[u8]) -> Result<ElfHeader, String> {
    use object::elf::{FileHeader32, FileHeader64};
    if bytes.len() < 52 || &bytes[..4] != b"\x7fELF" {
        return Err("not an ELF file".into());
    }
    if !matches!(bytes[5], 1 | 2) {
        return Err(format!("unknown ELF data encoding {}", bytes[5]));
    }
    match bytes[4] {
        1 => read_header::<FileHeader32<object::Endianness>>(bytes, 32),
        2 => read_header::<FileHeader64<object::Endianness>>(bytes, 64),
        c => Err(format!("unknown ELF class {c}")),
    }
}

fn read_header<H>(bytes: &[u8], bits: u32) -> Result<ElfHeader, String>
where
    H: object::read::elf::FileHeader<Endian = object::Endianness>,
{
    use object::read::elf::ProgramHeader;
    use object::Endian as _;
    // Not `H::parse`: it also wants EI_VERSION 1, which the old checks
    // never asked of a loader.
    let (h, _) =
        object::pod::from_bytes::<H>(bytes).map_err(|_| "truncated ELF header".to_string())?;
    let e = h
        .endian()
        .map_err(|_| format!("unknown ELF data encoding {}", bytes[5]))?;
    let interp = h
        .program_headers(e, bytes)
        .map_err(|_| "truncated program headers".to_string())?
        .iter()
        .any(|p| p.p_type(e) == object::elf::PT_INTERP);
    Ok(ElfHeader {
        bits,
        endian: if e.is_little_endian() {
            Endian::Little
        } else {
            Endian::Big
        },
        machine: h.e_machine(e),
        flags: h.e_flags(e),
        interp,
    })
}

/// Checks a BPF object; Ok carries warnings.
pub fn check_bpf_object(bytes: &[u8], endian: Endian) -> Result<Vec<String>, String> {
    let h = header(bytes)?;
    if h.machine != EM_BPF {
        return Err(format!(
            "e_machine is {} but eBPF is {EM_BPF}; it was not built by llc -march=bpf",
            h.machine
        ));
    }
    if h.bits != 64 {
        return Err(format!(
            "ELF class is {}-bit; eBPF objects are 64-bit",
            h.bits
        ));
    }
    if h.endian != endian {
        return Err(format!(
            "object is {}-endian but the target is {}-endian",
            h.endian.as_str(),
            endian.as_str()
        ));
    }
    let mut warnings = Vec::new();
    let file = object::File::parse(bytes).map_err(|e| format!("unreadable ELF: {e}"))?;
    if file.section_by_name("license").is_none() {
        warnings.push(
            "no `license` section: GPL-only helpers (bpf_trace_printk, bpf_probe_read) will be refused; add `char _license[] SEC(\"license\") = \"GPL\";`"
                .to_string(),
        );
    }
    if bpf_sections(bytes).is_empty() {
        warnings.push(
            "no program sections (kprobe/, tracepoint/, ...): nothing will be attached".to_string(),
        );
    }
    Ok(warnings)
}

/// The loader convention for "any kernel version" (gobpf, cilium/ebpf).
pub const ANY_KERNEL_VERSION: u32 = 0xFFFF_FFFE;

/// Writes `code` over a 4-byte `version` section that holds
/// [`ANY_KERNEL_VERSION`]. Returns whether it did; other values are the
/// program's own choice and stay.
pub fn stamp_version(bytes: &mut [u8], code: u32, endian: Endian) -> bool {
    let range = {
        let Ok(file) = object::File::parse(&*bytes) else {
            return false;
        };
        let Some(sec) = file.section_by_name("version") else {
            return false;
        };
        match sec.file_range() {
            Some((off, 4)) => off as usize..off as usize + 4,
            _ => return false,
        }
    };
    let enc = |v: u32| match endian {
        Endian::Little => v.to_le_bytes(),
        Endian::Big => v.to_be_bytes(),
    };
    if bytes.get(range.clone()) != Some(&enc(ANY_KERNEL_VERSION)[..]) {
        return false;
    }
    bytes[range].copy_from_slice(&enc(code));
    true
}

/// Whether the object declares BTF-defined maps (`SEC(".maps")`) without
/// the `.BTF` that describes them: loaders cannot read such maps.
pub fn btf_maps_without_btf(bytes: &[u8]) -> bool {
    let Ok(file) = object::File::parse(bytes) else {
        return false;
    };
    let has = |name: &str| file.sections().any(|s| s.name() == Ok(name));
    has(".maps") && !has(".BTF")
}

/// Section names of programs in a BPF object, for the manifest.
pub fn bpf_sections(bytes: &[u8]) -> Vec<String> {
    let Ok(file) = object::File::parse(bytes) else {
        return Vec::new();
    };
    file.sections()
        .filter_map(|s| s.name().ok().map(str::to_string))
        .filter(|n| {
            [
                "kprobe/",
                "kretprobe/",
                "tracepoint/",
                "raw_tracepoint/",
                "uprobe/",
                "xdp",
                "socket",
                "perf_event",
            ]
            .iter()
            .any(|p| n.starts_with(p))
        })
        .collect()
}

fn machine_name(m: u16) -> String {
    let name = if m == EM_BPF {
        Some("eBPF".to_string())
    } else {
        crate::profile::elf_machine_name(m)
    };
    match name {
        Some(n) => format!("{n} (machine {m})"),
        None => format!("machine {m}"),
    }
}

/// Describes a header like `file` does, for messages and the manifest.
pub fn describe(h: &ElfHeader) -> String {
    format!(
        "ELF {}-bit {}, {}, flags 0x{:08x}, {}",
        h.bits,
        if h.endian == Endian::Little {
            "LSB"
        } else {
            "MSB"
        },
        machine_name(h.machine),
        h.flags,
        if h.interp {
            "dynamically linked"
        } else {
            "statically linked"
        }
    )
}

/// Checks a loader against the arch. Whether a static loader came out
/// static is the caller's check on `interp`: it knows who asked for static
/// and why rustc may have ignored it.
pub fn check_loader(bytes: &[u8], arch: &Arch) -> Result<ElfHeader, String> {
    let h = header(bytes)?;
    let expected = format!(
        "ELF {}-bit {}, {}{}",
        arch.bits,
        if arch.endian == Endian::Little {
            "LSB"
        } else {
            "MSB"
        },
        machine_name(arch.elf_machine),
        arch.elf_abi
            .as_ref()
            .map(|a| format!(", {a}"))
            .unwrap_or_default()
    );
    let mismatch = |what: &str| {
        Err(format!(
            "{what}: the loader is {} but target {} needs {expected}",
            describe(&h),
            arch.rust_target
        ))
    };
    if h.bits != arch.bits {
        return mismatch("wrong ELF class");
    }
    if h.endian != arch.endian {
        return mismatch("wrong byte order");
    }
    if h.machine != arch.elf_machine {
        return mismatch("wrong machine");
    }
    if h.flags & arch.elf_flags_mask != arch.elf_flags_value {
        return mismatch("wrong ABI flags");
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_program_header_offsets_are_an_error_not_an_overflow() {
        // 64-bit little-endian ELF header with e_phoff near u64::MAX.
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2;
        h[5] = 1;
        h[32..40].copy_from_slice(&(u64::MAX - 2).to_le_bytes());
        h[54..56].copy_from_slice(&0xffffu16.to_le_bytes());
        h[56..58].copy_from_slice(&0xffffu16.to_le_bytes());
        assert_eq!(header(&h).unwrap_err(), "truncated program headers");
        // And one whose entry size times count overflows on 32-bit math.
        h[32..40].copy_from_slice(&64u64.to_le_bytes());
        assert_eq!(header(&h).unwrap_err(), "truncated program headers");
    }

    fn elf32_le(machine: u16, flags: u32) -> Vec<u8> {
        let mut b = vec![0u8; 64];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 1;
        b[5] = 1;
        b[18..20].copy_from_slice(&machine.to_le_bytes());
        b[36..40].copy_from_slice(&flags.to_le_bytes());
        b
    }

    #[test]
    fn armv7_loader_checks() {
        let arch = crate::profile::Profile::load("armv7").unwrap().arch;
        let ok = elf32_le(40, 0x0500_0400);
        assert!(check_loader(&ok, &arch).is_ok());
        let softfp = elf32_le(40, 0x0500_0200);
        let e = check_loader(&softfp, &arch).unwrap_err();
        assert_eq!(
            e,
            "wrong ABI flags: the loader is ELF 32-bit LSB, ARM (machine 40), flags 0x05000200, statically linked but target armv7-unknown-linux-gnueabihf needs ELF 32-bit LSB, ARM (machine 40), EABI5 hard-float"
        );
        let aarch = crate::profile::Profile::load("aarch64").unwrap().arch;
        assert!(check_loader(&ok, &aarch)
            .unwrap_err()
            .starts_with("wrong ELF class"));
    }

    #[test]
    fn stamping_leaves_other_versions_and_non_elf_alone() {
        let mut junk = b"not an elf at all".to_vec();
        assert!(!stamp_version(&mut junk, 1, Endian::Little));
        assert_eq!(junk, b"not an elf at all");
    }

    #[test]
    fn non_elf_is_refused() {
        assert_eq!(
            check_bpf_object(b"hello", Endian::Little).unwrap_err(),
            "not an ELF file"
        );
        let arm = elf32_le(40, 0);
        assert!(check_bpf_object(&arm, Endian::Little)
            .unwrap_err()
            .starts_with("e_machine is 40 but eBPF is 247"));
    }
}
