//! What a kernel tree's `include/uapi/linux/bpf.h` says the kernel has:
//! its helpers (`enum bpf_func_id`, through `__BPF_FUNC_MAPPER`), map
//! types, program types and attach types. The header is read as text, the
//! way the kernel's own scripts/bpf_doc.py reads it: no preprocessor, so a
//! vendor tree's backports count exactly as its header declares them.

use std::collections::{BTreeMap, BTreeSet};

/// The enums the capability check reads, from one bpf.h.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Uapi {
    /// Helper names without `bpf_`, indexed by id; a gap is `None`.
    pub helpers: Vec<Option<String>>,
    /// `BPF_MAP_TYPE_*` by value (the first name of each value).
    pub map_types: BTreeMap<u32, String>,
    pub prog_types: BTreeSet<String>,
    pub attach_types: BTreeSet<String>,
}

/// The newest header this tool knows (Linux 6.12), to name what an older
/// tree lacks.
const KNOWN: &str = include_str!("known_bpf.h");

impl Uapi {
    pub fn parse(text: &str) -> Result<Uapi, String> {
        let text = strip_comments(text);
        let map_types = enum_values(&text, "bpf_map_type")?.into_iter().fold(
            BTreeMap::new(),
            |mut m, (name, v)| {
                m.entry(v).or_insert(name);
                m
            },
        );
        let names = |e: &str| -> Result<BTreeSet<String>, String> {
            Ok(enum_values(&text, e)?.into_iter().map(|(n, _)| n).collect())
        };
        Ok(Uapi {
            helpers: helper_ids(&text)?,
            map_types,
            prog_types: names("bpf_prog_type")?,
            // 4.19 has the enum; a tree old enough to lack it has no attach
            // types the check asks about either.
            attach_types: if text.contains("enum bpf_attach_type") {
                names("bpf_attach_type")?
            } else {
                BTreeSet::new()
            },
        })
    }

    /// The embedded 6.12 enums.
    pub fn known() -> &'static Uapi {
        static K: std::sync::OnceLock<Uapi> = std::sync::OnceLock::new();
        K.get_or_init(|| Uapi::parse(KNOWN).expect("the embedded bpf.h parses"))
    }

    pub fn helper(&self, id: u32) -> Option<&str> {
        self.helpers.get(id as usize)?.as_deref()
    }

    /// The highest helper id, and its name.
    pub fn last_helper(&self) -> Option<(u32, &str)> {
        self.helpers
            .iter()
            .enumerate()
            .rev()
            .find_map(|(i, n)| n.as_deref().map(|n| (i as u32, n)))
    }
}

/// Drops `/* */` and `//` comments; a string literal in bpf.h never holds
/// either, so no lexer is needed.
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let block = rest.find("/*");
        let line = rest.find("//");
        match (block, line) {
            (Some(b), l) if l.map_or(true, |l| b < l) => {
                out.push_str(&rest[..b]);
                match rest[b + 2..].find("*/") {
                    Some(e) => {
                        out.push(' ');
                        rest = &rest[b + 2 + e + 2..];
                    }
                    None => return out,
                }
            }
            (_, Some(l)) => {
                out.push_str(&rest[..l]);
                rest = match rest[l..].find('\n') {
                    Some(e) => &rest[l + e..],
                    None => return out,
                };
            }
            _ => {
                out.push_str(rest);
                return out;
            }
        }
    }
}

fn number(s: &str) -> Option<u32> {
    let s = s.trim().trim_end_matches(['u', 'U']);
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// `enum NAME { A, B = 5, C = B, __MAX_C };` as (name, value), without the
/// `__` markers.
fn enum_values(text: &str, name: &str) -> Result<Vec<(String, u32)>, String> {
    let head = format!("enum {name} {{");
    let start = text.find(&head).ok_or_else(|| format!("no `{head}`"))? + head.len();
    let body = &text[start..];
    let body = &body[..body
        .find('}')
        .ok_or_else(|| format!("`{head}` is never closed"))?];
    let mut out: Vec<(String, u32)> = Vec::new();
    let mut next = 0u32;
    for item in body.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (n, value) = match item.split_once('=') {
            Some((n, v)) => {
                let v = v.trim();
                let value = number(v)
                    .or_else(|| out.iter().find(|(o, _)| o == v).map(|(_, x)| *x))
                    .ok_or_else(|| {
                        format!("enum {name}: `{item}` has a value that is neither a number nor an earlier name")
                    })?;
                (n.trim(), value)
            }
            None => (item, next),
        };
        if n.is_empty() || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("enum {name}: `{item}` is not an enumerator"));
        }
        next = value.wrapping_add(1);
        if !n.starts_with("__") {
            out.push((n.to_string(), value));
        }
    }
    if out.is_empty() {
        return Err(format!("enum {name} is empty"));
    }
    Ok(out)
}

/// The helpers of `__BPF_FUNC_MAPPER`: `FN(name)` where the id is the
/// position (up to 6.0), or `FN(name, id, ##ctx)` (6.1 on).
fn helper_ids(text: &str) -> Result<Vec<Option<String>>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut entries: Vec<(String, Option<u32>)> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim_start();
        if !(t.starts_with("#define") && t.contains("BPF_FUNC_MAPPER(FN")) {
            continue;
        }
        let mut body = String::new();
        for l in &lines[i..] {
            body.push_str(l.trim_end().trim_end_matches('\\'));
            body.push(' ');
            if !l.trim_end().ends_with('\\') {
                break;
            }
        }
        entries = fn_entries(&body)?;
        if !entries.is_empty() {
            break;
        }
    }
    if entries.is_empty() {
        // A header that spells the enum out (`BPF_FUNC_unspec = 0, ...`),
        // as a trimmed vendor or test header may.
        if let Ok(spelled) = enum_values(text, "bpf_func_id") {
            for (name, id) in spelled {
                let name = name.strip_prefix("BPF_FUNC_").unwrap_or(&name).to_string();
                entries.push((name, Some(id)));
            }
        }
    }
    if entries.is_empty() {
        return Err("no `#define __BPF_FUNC_MAPPER(FN)` list of helpers (`FN(unspec), FN(map_lookup_elem), ...`) and no spelled-out `enum bpf_func_id`".into());
    }
    let mut ids: Vec<Option<String>> = Vec::new();
    for (pos, (name, id)) in entries.into_iter().enumerate() {
        let id = id.unwrap_or(pos as u32) as usize;
        if id > 0xffff {
            return Err(format!("helper `{name}` has id {id}"));
        }
        if ids.len() <= id {
            ids.resize(id + 1, None);
        }
        ids[id] = Some(name);
    }
    Ok(ids)
}

/// Each `FN(...)` of a macro body, as its name and explicit id.
fn fn_entries(body: &str) -> Result<Vec<(String, Option<u32>)>, String> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(at) = rest.find("FN(") {
        let before = rest[..at].chars().next_back();
        let args_start = at + 3;
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '(') {
            rest = &rest[args_start..];
            continue;
        }
        let close = rest[args_start..]
            .find(')')
            .ok_or_else(|| format!("unclosed `FN(` in `{}`", rest[at..].trim()))?;
        let args: Vec<&str> = rest[args_start..args_start + close]
            .split(',')
            .map(str::trim)
            .collect();
        let name = args[0];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("`FN({})` does not name a helper", args.join(", ")));
        }
        let id = match args.get(1) {
            Some(v) => Some(
                number(v).ok_or_else(|| format!("`FN({name}, {v})`: the id is not a number"))?,
            ),
            None => None,
        };
        out.push((name.to_string(), id));
        rest = &rest[args_start + close..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 4.19 form: ids are positions.
    const OLD: &str = r#"
enum bpf_map_type {
	BPF_MAP_TYPE_UNSPEC,
	BPF_MAP_TYPE_HASH,
	BPF_MAP_TYPE_ARRAY, /* a comment, with a comma */
	BPF_MAP_TYPE_REUSEPORT_SOCKARRAY = 20,
};
enum bpf_prog_type {
	BPF_PROG_TYPE_UNSPEC,
	BPF_PROG_TYPE_KPROBE = 2,
	BPF_PROG_TYPE_TRACEPOINT,
};
/* 4.19 documents each helper here:
 * int bpf_map_lookup_elem(...)
 */
#define __BPF_FUNC_MAPPER(FN)		\
	FN(unspec),			\
	FN(map_lookup_elem),		\
	FN(map_update_elem),		\
	FN(skb_ancestor_cgroup_id),

#define __BPF_ENUM_FN(x) BPF_FUNC_ ## x
enum bpf_func_id {
	__BPF_FUNC_MAPPER(__BPF_ENUM_FN)
	__BPF_FUNC_MAX_ID,
};
"#;

    /// The 6.1+ form: explicit ids, and the list in a `___` macro that the
    /// `__` one applies.
    const NEW: &str = r#"
enum bpf_map_type {
	BPF_MAP_TYPE_UNSPEC,
	BPF_MAP_TYPE_CGROUP_STORAGE_DEPRECATED = 19,
	BPF_MAP_TYPE_CGROUP_STORAGE = BPF_MAP_TYPE_CGROUP_STORAGE_DEPRECATED,
	BPF_MAP_TYPE_REUSEPORT_SOCKARRAY,
	__MAX_BPF_MAP_TYPE
};
enum bpf_prog_type { BPF_PROG_TYPE_UNSPEC, BPF_PROG_TYPE_TRACING = 26, };
enum bpf_attach_type { BPF_CGROUP_INET_INGRESS, BPF_TRACE_FENTRY = 24, };
#define ___BPF_FUNC_MAPPER(FN, ctx...)			\
	FN(unspec, 0, ##ctx)				\
	FN(map_lookup_elem, 1, ##ctx)			\
	FN(ktime_get_boot_ns, 125, ##ctx)		\
	/* */

#define __BPF_FUNC_MAPPER_APPLY(name, value, FN) FN(name),
#define __BPF_FUNC_MAPPER(FN) ___BPF_FUNC_MAPPER(__BPF_FUNC_MAPPER_APPLY, FN)
"#;

    #[test]
    fn old_style_ids_are_positions() {
        let u = Uapi::parse(OLD).unwrap();
        assert_eq!(
            u.helpers,
            [
                "unspec",
                "map_lookup_elem",
                "map_update_elem",
                "skb_ancestor_cgroup_id"
            ]
            .map(|s| Some(s.to_string()))
        );
        assert_eq!(u.last_helper(), Some((3, "skb_ancestor_cgroup_id")));
        assert_eq!(
            u.map_types.into_iter().collect::<Vec<_>>(),
            vec![
                (0, "BPF_MAP_TYPE_UNSPEC".to_string()),
                (1, "BPF_MAP_TYPE_HASH".to_string()),
                (2, "BPF_MAP_TYPE_ARRAY".to_string()),
                (20, "BPF_MAP_TYPE_REUSEPORT_SOCKARRAY".to_string()),
            ]
        );
        assert!(u.prog_types.contains("BPF_PROG_TYPE_TRACEPOINT"));
        assert!(u.attach_types.is_empty());
    }

    #[test]
    fn new_style_ids_are_explicit_and_aliases_keep_the_first_name() {
        let u = Uapi::parse(NEW).unwrap();
        assert_eq!(u.helper(125), Some("ktime_get_boot_ns"));
        assert_eq!(u.helper(2), None);
        assert_eq!(u.helpers.len(), 126);
        assert_eq!(
            u.map_types.get(&19).map(String::as_str),
            Some("BPF_MAP_TYPE_CGROUP_STORAGE_DEPRECATED")
        );
        assert_eq!(
            u.map_types.get(&20).map(String::as_str),
            Some("BPF_MAP_TYPE_REUSEPORT_SOCKARRAY")
        );
        assert!(u.attach_types.contains("BPF_TRACE_FENTRY"));
    }

    #[test]
    fn a_spelled_out_enum_is_read_too() {
        let text = OLD
            .replace(
                "__BPF_FUNC_MAPPER(__BPF_ENUM_FN)\n\t__BPF_FUNC_MAX_ID,",
                "BPF_FUNC_unspec = 0,\n\tBPF_FUNC_probe_read = 4,\n\t__BPF_FUNC_MAX_ID,",
            )
            .replace("#define __BPF_FUNC_MAPPER(FN)", "#define UNUSED_LIST(FN)");
        let u = Uapi::parse(&text).unwrap();
        assert_eq!(u.last_helper(), Some((4, "probe_read")));
        assert_eq!(u.helper(1), None);
    }

    #[test]
    fn the_embedded_header_is_6_12() {
        let k = Uapi::known();
        assert_eq!(k.last_helper(), Some((211, "cgrp_storage_delete")));
        assert_eq!(k.helper(125), Some("ktime_get_boot_ns"));
        assert_eq!(
            k.map_types.get(&27).map(String::as_str),
            Some("BPF_MAP_TYPE_RINGBUF")
        );
    }

    #[test]
    fn unparsable_headers_say_what_is_missing() {
        assert_eq!(
            Uapi::parse("int x;").unwrap_err(),
            "no `enum bpf_map_type {`"
        );
        let no_helpers = OLD.replace("__BPF_FUNC_MAPPER(FN)", "__BPF_FUNC_LIST(X)");
        assert_eq!(
            Uapi::parse(&no_helpers).unwrap_err(),
            "no `#define __BPF_FUNC_MAPPER(FN)` list of helpers (`FN(unspec), FN(map_lookup_elem), ...`) and no spelled-out `enum bpf_func_id`"
        );
        let bad_id = NEW.replace("FN(map_lookup_elem, 1,", "FN(map_lookup_elem, one,");
        assert_eq!(
            Uapi::parse(&bad_id).unwrap_err(),
            "`FN(map_lookup_elem, one)`: the id is not a number"
        );
        let bad_enum = OLD.replace("= 20", "= SOMETHING_ELSE");
        assert_eq!(
            Uapi::parse(&bad_enum).unwrap_err(),
            "enum bpf_map_type: `BPF_MAP_TYPE_REUSEPORT_SOCKARRAY = SOMETHING_ELSE` has a value that is neither a number nor an earlier name"
        );
    }
}
