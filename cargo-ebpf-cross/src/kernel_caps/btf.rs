//! Just enough of BTF to read the map types of a `.maps` section: libbpf's
//! `__uint(type, BPF_MAP_TYPE_X)` is a member `type` of pointer to an
//! array of X elements, so the type lives only in the object's BTF.

/// One BTF type: kind, name, the `size`/`type` word, and what follows it.
struct Type {
    kind: u32,
    name: u32,
    size_or_type: u32,
    /// Start of the kind-specific data in the type section.
    extra: usize,
    vlen: usize,
}

const INT: u32 = 1;
const PTR: u32 = 2;
const ARRAY: u32 = 3;
const STRUCT: u32 = 4;
const UNION: u32 = 5;
const ENUM: u32 = 6;
const TYPEDEF: u32 = 8;
const VOLATILE: u32 = 9;
const CONST: u32 = 10;
const RESTRICT: u32 = 11;
const FUNC_PROTO: u32 = 13;
const VAR: u32 = 14;
const DATASEC: u32 = 15;
const DECL_TAG: u32 = 17;
const TYPE_TAG: u32 = 18;
const ENUM64: u32 = 19;

pub struct Btf<'a> {
    types: Vec<Type>,
    type_data: &'a [u8],
    strings: &'a [u8],
    little: bool,
}

impl<'a> Btf<'a> {
    pub fn parse(data: &'a [u8], little: bool) -> Result<Btf<'a>, String> {
        let u32_at = |b: &[u8], o: usize| -> Option<u32> {
            let w: [u8; 4] = b.get(o..o + 4)?.try_into().ok()?;
            Some(if little {
                u32::from_le_bytes(w)
            } else {
                u32::from_be_bytes(w)
            })
        };
        let magic = data.get(..2).map(|m| {
            if little {
                u16::from_le_bytes([m[0], m[1]])
            } else {
                u16::from_be_bytes([m[0], m[1]])
            }
        });
        if magic != Some(0xeb9f) {
            return Err("`.BTF` does not start with the BTF magic 0xeb9f".into());
        }
        let short = || "`.BTF` is truncated".to_string();
        let hdr_len = u32_at(data, 4).ok_or_else(short)? as usize;
        let field = |i: usize| {
            u32_at(data, 8 + 4 * i)
                .map(|v| v as usize)
                .ok_or_else(short)
        };
        let (type_off, type_len, str_off, str_len) = (field(0)?, field(1)?, field(2)?, field(3)?);
        let section = |off: usize, len: usize| {
            hdr_len
                .checked_add(off)
                .and_then(|s| Some((s, s.checked_add(len)?)))
                .and_then(|(s, e)| data.get(s..e))
                .ok_or_else(short)
        };
        let type_data = section(type_off, type_len)?;
        let strings = section(str_off, str_len)?;
        let mut types = Vec::new();
        let mut at = 0;
        while at < type_data.len() {
            let w = |i: usize| u32_at(type_data, at + 4 * i).ok_or_else(short);
            let (name, info, size_or_type) = (w(0)?, w(1)?, w(2)?);
            let kind = (info >> 24) & 0x1f;
            let vlen = (info & 0xffff) as usize;
            let extra = at + 12;
            let more = match kind {
                INT | VAR | DECL_TAG => 4,
                ARRAY => 12,
                STRUCT | UNION | DATASEC | ENUM64 => 12 * vlen,
                ENUM | FUNC_PROTO => 8 * vlen,
                PTR | 7 | TYPEDEF | VOLATILE | CONST | RESTRICT | 12 | 16 | TYPE_TAG => 0,
                k => return Err(format!("`.BTF` has a type of unknown kind {k}")),
            };
            types.push(Type {
                kind,
                name,
                size_or_type,
                extra,
                vlen,
            });
            at = extra + more;
        }
        Ok(Btf {
            types,
            type_data,
            strings,
            little,
        })
    }

    fn word(&self, o: usize) -> Option<u32> {
        let w: [u8; 4] = self.type_data.get(o..o + 4)?.try_into().ok()?;
        Some(if self.little {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        })
    }

    fn name(&self, off: u32) -> &str {
        let s = self.strings.get(off as usize..).unwrap_or_default();
        let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
        std::str::from_utf8(&s[..end]).unwrap_or("")
    }

    /// Type ids start at 1; 0 is void.
    fn get(&self, id: u32) -> Option<&Type> {
        self.types.get((id as usize).checked_sub(1)?)
    }

    /// Through typedefs and qualifiers.
    fn resolve(&self, mut id: u32) -> Option<&Type> {
        for _ in 0..32 {
            let t = self.get(id)?;
            match t.kind {
                TYPEDEF | VOLATILE | CONST | RESTRICT | TYPE_TAG => id = t.size_or_type,
                _ => return Some(t),
            }
        }
        None
    }

    /// Each variable of the `.maps` data section with its map type, when
    /// its struct has a `type` member.
    pub fn map_types(&self) -> Vec<(String, Option<u32>)> {
        let Some(sec) = self
            .types
            .iter()
            .find(|t| t.kind == DATASEC && self.name(t.name) == ".maps")
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for i in 0..sec.vlen {
            let Some(var) = self.word(sec.extra + 12 * i).and_then(|v| self.get(v)) else {
                continue;
            };
            if var.kind != VAR {
                continue;
            }
            let name = self.name(var.name).to_string();
            let ty = self
                .resolve(var.size_or_type)
                .and_then(|s| self.map_type_of(s));
            out.push((name, ty));
        }
        out
    }

    fn map_type_of(&self, s: &Type) -> Option<u32> {
        if s.kind != STRUCT {
            return None;
        }
        let member = (0..s.vlen)
            .map(|m| s.extra + 12 * m)
            .find(|&o| self.word(o).is_some_and(|n| self.name(n) == "type"))?;
        let ptr = self.resolve(self.word(member + 4)?)?;
        if ptr.kind != PTR {
            return None;
        }
        let arr = self.resolve(ptr.size_or_type)?;
        (arr.kind == ARRAY).then(|| self.word(arr.extra + 8))?
    }
}
