//! What a compiled BPF object uses: per program section, its helper calls,
//! its references to global data and its backward jumps; and its maps with
//! their types.

use object::{Object, ObjectSection, ObjectSymbol, RelocationTarget, SectionFlags, SymbolKind};

/// One executable section of the object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProgramUse {
    pub section: String,
    /// Function symbols in the section, by offset, for naming a site.
    pub functions: Vec<(u64, String)>,
    /// (helper id, byte offset of the call)
    pub helpers: Vec<(u32, u64)>,
    /// (symbol, its section, byte offset of the reference)
    pub globals: Vec<(String, String, u64)>,
    /// Byte offsets of jumps whose target is behind them.
    pub back_jumps: Vec<u64>,
}

impl ProgramUse {
    /// The function holding `offset`: the last one starting at or before it.
    pub fn function_at(&self, offset: u64) -> Option<&str> {
        self.functions
            .iter()
            .filter(|(o, _)| *o <= offset)
            .max_by_key(|(o, _)| *o)
            .map(|(_, n)| n.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapUse {
    pub name: String,
    /// `None` when the definition carries no type (the loader refuses it).
    pub map_type: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectUse {
    pub programs: Vec<ProgramUse>,
    pub maps: Vec<MapUse>,
}

const SHF_EXECINSTR: u64 = 0x4;

fn is_global_data(section: &str) -> bool {
    [".data", ".rodata", ".bss"]
        .iter()
        .any(|p| section == *p || section.starts_with(&format!("{p}.")))
}

/// Reads an object; an error says what is wrong with the file.
pub fn read(bytes: &[u8]) -> Result<ObjectUse, String> {
    let file = object::File::parse(bytes).map_err(|e| format!("unreadable ELF: {e}"))?;
    let little = file.is_little_endian();
    let mut out = ObjectUse::default();
    for sec in file.sections() {
        let SectionFlags::Elf { sh_flags } = sec.flags() else {
            continue;
        };
        if sh_flags & SHF_EXECINSTR == 0 {
            continue;
        }
        let name = sec.name().map_err(|e| e.to_string())?.to_string();
        let data = sec.data().map_err(|e| format!("section {name}: {e}"))?;
        let mut p = decode(&name, data, little);
        p.functions = file
            .symbols()
            .filter(|s| s.section_index() == Some(sec.index()) && s.kind() == SymbolKind::Text)
            .filter_map(|s| Some((s.address(), s.name().ok()?.to_string())))
            .filter(|(_, n)| !n.is_empty())
            .collect();
        for (offset, r) in sec.relocations() {
            let RelocationTarget::Symbol(si) = r.target() else {
                continue;
            };
            let Ok(sym) = file.symbol_by_index(si) else {
                continue;
            };
            let Some(target) = sym
                .section_index()
                .and_then(|i| file.section_by_index(i).ok())
            else {
                continue;
            };
            let target_name = target.name().unwrap_or_default().to_string();
            if is_global_data(&target_name) {
                let sym_name = match sym.name() {
                    Ok(n) if !n.is_empty() && sym.kind() != SymbolKind::Section => n.to_string(),
                    _ => String::new(),
                };
                p.globals.push((sym_name, target_name, offset));
            }
        }
        out.programs.push(p);
    }
    out.maps = legacy_maps(&file, little)?;
    out.maps.extend(btf_maps(&file, little)?);
    Ok(out)
}

fn decode(section: &str, data: &[u8], little: bool) -> ProgramUse {
    let mut p = ProgramUse {
        section: section.to_string(),
        ..Default::default()
    };
    let mut i = 0;
    while i + 8 <= data.len() {
        let insn = &data[i..i + 8];
        let opcode = insn[0];
        // The register nibbles follow the byte order of the bitfields.
        let src = if little { insn[1] >> 4 } else { insn[1] & 0xf };
        let off = if little {
            i16::from_le_bytes([insn[2], insn[3]])
        } else {
            i16::from_be_bytes([insn[2], insn[3]])
        };
        let imm_bytes = [insn[4], insn[5], insn[6], insn[7]];
        let imm = if little {
            i32::from_le_bytes(imm_bytes)
        } else {
            i32::from_be_bytes(imm_bytes)
        };
        let class = opcode & 0x07;
        let op = opcode & 0xf0;
        if class == 0x05 || class == 0x06 {
            match op {
                // BPF_CALL: src 0 is a helper, 1 a bpf-to-bpf call, 2 a kfunc.
                0x80 if class == 0x05 && src == 0 => p.helpers.push((imm as u32, i as u64)),
                // Other calls, and BPF_EXIT.
                0x80 | 0x90 => {}
                _ if off < 0 => p.back_jumps.push(i as u64),
                _ => {}
            }
        }
        // BPF_LD | BPF_IMM | BPF_DW takes two slots.
        i += if opcode == 0x18 { 16 } else { 8 };
    }
    p
}

/// `struct bpf_map_def SEC("maps")`: each symbol's first u32 is its type.
fn legacy_maps(file: &object::File, little: bool) -> Result<Vec<MapUse>, String> {
    let Some(sec) = file.section_by_name("maps") else {
        return Ok(Vec::new());
    };
    let data = sec.data().map_err(|e| format!("section maps: {e}"))?;
    let base = sec.address();
    let mut out = Vec::new();
    for s in file.symbols() {
        if s.section_index() != Some(sec.index()) || s.kind() == SymbolKind::Section {
            continue;
        }
        let name = s.name().unwrap_or_default().to_string();
        // Addresses come from the file: a symbol outside the section has no
        // type to read, rather than an overflow.
        let at = s
            .address()
            .checked_sub(base)
            .and_then(|a| usize::try_from(a).ok())
            .unwrap_or(usize::MAX);
        let map_type = data.get(at..at.saturating_add(4)).map(|w| {
            let w = [w[0], w[1], w[2], w[3]];
            if little {
                u32::from_le_bytes(w)
            } else {
                u32::from_be_bytes(w)
            }
        });
        out.push(MapUse { name, map_type });
    }
    Ok(out)
}

/// libbpf's `SEC(".maps")`, described only by BTF.
fn btf_maps(file: &object::File, little: bool) -> Result<Vec<MapUse>, String> {
    let Some(maps) = file.section_by_name(".maps") else {
        return Ok(Vec::new());
    };
    if maps.size() == 0 {
        return Ok(Vec::new());
    }
    let Some(btf) = file.section_by_name(".BTF") else {
        return Err("it defines maps in `.maps` but has no `.BTF` section, and those maps are described only by BTF".into());
    };
    let data = btf.data().map_err(|e| format!("section .BTF: {e}"))?;
    let btf = super::btf::Btf::parse(data, little)?;
    Ok(btf
        .map_types()
        .into_iter()
        .map(|(name, map_type)| MapUse { name, map_type })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insn(opcode: u8, regs: u8, off: i16, imm: i32) -> Vec<u8> {
        let mut v = vec![opcode, regs];
        v.extend(off.to_le_bytes());
        v.extend(imm.to_le_bytes());
        v
    }

    #[test]
    fn calls_and_back_jumps_are_found_at_their_offsets() {
        let mut code = Vec::new();
        code.extend(insn(0x18, 0x01, 0, 7)); // r1 = imm64 (two slots)
        code.extend(insn(0, 0, 0, 0));
        code.extend(insn(0x85, 0x00, 0, 125)); // call 125
        code.extend(insn(0x85, 0x10, 0, -3)); // bpf-to-bpf call
        code.extend(insn(0x05, 0x00, -2, 0)); // goto -2
        code.extend(insn(0x15, 0x01, 1, 0)); // if r1 == 0 goto +1
        code.extend(insn(0x95, 0, 0, 0)); // exit
        let p = decode("kprobe/x", &code, true);
        assert_eq!(p.helpers, vec![(125, 16)]);
        assert_eq!(p.back_jumps, vec![32]);
    }
}
