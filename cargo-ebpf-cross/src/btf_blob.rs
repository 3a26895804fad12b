//! Reading a BTF blob as bytes: finding a whole one inside a kernel image
//! or file, and walking its types. No I/O and no pipeline step, so the
//! modules that make BTF (from DWARF, from an image, for a bundle) can all
//! use it without using each other.

const MAGIC: u16 = 0xEB9F;
/// `struct btf_header` of BTF version 1: magic, version, flags, hdr_len,
/// type_off, type_len, str_off, str_len.
const HEADER_LEN: usize = 24;

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
