//! The kernel capability check, between compile and bundle: what each
//! object uses (helpers, map types, program types, global data, loops)
//! against what the target kernel has. The tree answers wherever it can
//! (its `include/uapi/linux/bpf.h` and `.config`), so a vendor's backports
//! count; only what a tree cannot tell falls back to version rules.

mod btf;
pub mod object;
pub mod uapi;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::bpf_compile::{CompilePlan, Context};
use crate::error::{Error, Result};
use crate::kernel_tree::KernelTree;
use crate::settings::Setting;
use crate::version::KernelVersion;

pub use object::ObjectUse;
pub use uapi::Uapi;

/// A kind of program, by its ELF section: what the kernel needs to load
/// and attach it.
#[derive(Debug)]
pub struct Kind {
    /// The section's first `/`-separated part (`.s`, sleepable, dropped),
    /// or `first/second` for the kinds told apart by their second part.
    pub token: &'static str,
    /// In the user's words, for messages.
    pub what: &'static str,
    pub prog_type: Option<&'static str>,
    pub attach_type: Option<&'static str>,
    /// Config options besides CONFIG_BPF_SYSCALL, without `CONFIG_`.
    pub config: &'static [&'static str],
}

const fn kind(
    token: &'static str,
    what: &'static str,
    prog_type: &'static str,
    attach_type: Option<&'static str>,
    config: &'static [&'static str],
) -> Kind {
    Kind {
        token,
        what,
        prog_type: Some(prog_type),
        attach_type,
        config,
    }
}

const KPROBE: &[&str] = &["BPF_EVENTS", "KPROBES", "KPROBE_EVENTS"];
const UPROBE: &[&str] = &["BPF_EVENTS", "UPROBES", "UPROBE_EVENTS"];
const TRACEPOINT: &[&str] = &["BPF_EVENTS", "TRACEPOINTS"];
const TRAMPOLINE: &[&str] = &["BPF_EVENTS", "BPF_JIT", "DEBUG_INFO_BTF"];

/// The section names libbpf and aya give each program type.
pub const KINDS: &[Kind] = &[
    kind(
        "kprobe",
        "a kprobe program",
        "BPF_PROG_TYPE_KPROBE",
        None,
        KPROBE,
    ),
    kind(
        "kretprobe",
        "a kretprobe program",
        "BPF_PROG_TYPE_KPROBE",
        None,
        KPROBE,
    ),
    kind(
        "kprobe.multi",
        "a multi-kprobe program",
        "BPF_PROG_TYPE_KPROBE",
        Some("BPF_TRACE_KPROBE_MULTI"),
        KPROBE,
    ),
    kind(
        "kretprobe.multi",
        "a multi-kretprobe program",
        "BPF_PROG_TYPE_KPROBE",
        Some("BPF_TRACE_KPROBE_MULTI"),
        KPROBE,
    ),
    kind(
        "uprobe",
        "a uprobe program",
        "BPF_PROG_TYPE_KPROBE",
        None,
        UPROBE,
    ),
    kind(
        "uretprobe",
        "a uretprobe program",
        "BPF_PROG_TYPE_KPROBE",
        None,
        UPROBE,
    ),
    kind(
        "tracepoint",
        "a tracepoint program",
        "BPF_PROG_TYPE_TRACEPOINT",
        None,
        TRACEPOINT,
    ),
    kind(
        "tp",
        "a tracepoint program",
        "BPF_PROG_TYPE_TRACEPOINT",
        None,
        TRACEPOINT,
    ),
    kind(
        "raw_tracepoint",
        "a raw tracepoint program",
        "BPF_PROG_TYPE_RAW_TRACEPOINT",
        None,
        TRACEPOINT,
    ),
    kind(
        "raw_tp",
        "a raw tracepoint program",
        "BPF_PROG_TYPE_RAW_TRACEPOINT",
        None,
        TRACEPOINT,
    ),
    kind(
        "tp_btf",
        "a BTF tracepoint program",
        "BPF_PROG_TYPE_TRACING",
        Some("BPF_TRACE_RAW_TP"),
        TRAMPOLINE,
    ),
    kind(
        "fentry",
        "an fentry program",
        "BPF_PROG_TYPE_TRACING",
        Some("BPF_TRACE_FENTRY"),
        TRAMPOLINE,
    ),
    kind(
        "fexit",
        "an fexit program",
        "BPF_PROG_TYPE_TRACING",
        Some("BPF_TRACE_FEXIT"),
        TRAMPOLINE,
    ),
    kind(
        "fmod_ret",
        "an fmod_ret program",
        "BPF_PROG_TYPE_TRACING",
        Some("BPF_MODIFY_RETURN"),
        TRAMPOLINE,
    ),
    kind(
        "iter",
        "an iterator program",
        "BPF_PROG_TYPE_TRACING",
        Some("BPF_TRACE_ITER"),
        TRAMPOLINE,
    ),
    kind(
        "lsm",
        "an LSM program",
        "BPF_PROG_TYPE_LSM",
        Some("BPF_LSM_MAC"),
        &["BPF_LSM", "BPF_JIT", "DEBUG_INFO_BTF"],
    ),
    kind(
        "perf_event",
        "a perf event program",
        "BPF_PROG_TYPE_PERF_EVENT",
        None,
        &["BPF_EVENTS", "PERF_EVENTS"],
    ),
    kind("xdp", "an XDP program", "BPF_PROG_TYPE_XDP", None, &["NET"]),
    kind(
        "socket",
        "a socket filter",
        "BPF_PROG_TYPE_SOCKET_FILTER",
        None,
        &["NET"],
    ),
    kind(
        "classifier",
        "a tc classifier",
        "BPF_PROG_TYPE_SCHED_CLS",
        None,
        &["NET_CLS_BPF"],
    ),
    kind(
        "tc",
        "a tc classifier",
        "BPF_PROG_TYPE_SCHED_CLS",
        None,
        &["NET_CLS_BPF"],
    ),
    kind(
        "action",
        "a tc action",
        "BPF_PROG_TYPE_SCHED_ACT",
        None,
        &["NET_ACT_BPF"],
    ),
    kind(
        "cgroup_skb",
        "a cgroup skb program",
        "BPF_PROG_TYPE_CGROUP_SKB",
        None,
        &["CGROUP_BPF"],
    ),
    kind(
        "cgroup/dev",
        "a cgroup device program",
        "BPF_PROG_TYPE_CGROUP_DEVICE",
        None,
        &["CGROUP_BPF"],
    ),
    kind(
        "cgroup/sysctl",
        "a cgroup sysctl program",
        "BPF_PROG_TYPE_CGROUP_SYSCTL",
        None,
        &["CGROUP_BPF"],
    ),
    kind(
        "cgroup/getsockopt",
        "a cgroup sockopt program",
        "BPF_PROG_TYPE_CGROUP_SOCKOPT",
        None,
        &["CGROUP_BPF"],
    ),
    kind(
        "cgroup/setsockopt",
        "a cgroup sockopt program",
        "BPF_PROG_TYPE_CGROUP_SOCKOPT",
        None,
        &["CGROUP_BPF"],
    ),
    kind(
        "cgroup/sock",
        "a cgroup socket program",
        "BPF_PROG_TYPE_CGROUP_SOCK",
        None,
        &["CGROUP_BPF"],
    ),
    kind(
        "sockops",
        "a sockops program",
        "BPF_PROG_TYPE_SOCK_OPS",
        None,
        &["CGROUP_BPF"],
    ),
    kind(
        "sk_skb",
        "an sk_skb program",
        "BPF_PROG_TYPE_SK_SKB",
        None,
        &["BPF_STREAM_PARSER"],
    ),
    kind(
        "sk_msg",
        "an sk_msg program",
        "BPF_PROG_TYPE_SK_MSG",
        None,
        &["BPF_STREAM_PARSER"],
    ),
    kind(
        "sk_lookup",
        "an sk_lookup program",
        "BPF_PROG_TYPE_SK_LOOKUP",
        None,
        &["NET"],
    ),
    kind(
        "flow_dissector",
        "a flow dissector",
        "BPF_PROG_TYPE_FLOW_DISSECTOR",
        None,
        &["NET"],
    ),
    kind(
        "struct_ops",
        "a struct_ops program",
        "BPF_PROG_TYPE_STRUCT_OPS",
        None,
        &["BPF_JIT", "DEBUG_INFO_BTF"],
    ),
    kind(
        "syscall",
        "a syscall program",
        "BPF_PROG_TYPE_SYSCALL",
        None,
        &[],
    ),
];

/// The kind of a program section; None for sections that are not programs
/// of a known kind (`.text` subprograms, a loader's own names).
pub fn kind_of(section: &str) -> Option<&'static Kind> {
    let mut parts = section.split('/');
    let first = parts.next().unwrap_or_default();
    let first = first.strip_suffix(".s").unwrap_or(first);
    let second = parts.next().unwrap_or_default();
    let two = format!("{first}/{second}");
    KINDS
        .iter()
        .find(|k| k.token.contains('/') && two.starts_with(k.token))
        .or_else(|| KINDS.iter().find(|k| k.token == first))
}

/// Every config option the sections need, with `CONFIG_`, in a stable order.
pub fn config_needs<'a>(sections: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out = vec!["CONFIG_BPF_SYSCALL".to_string()];
    for s in sections {
        if let Some(k) = kind_of(s) {
            for c in k.config {
                let c = format!("CONFIG_{c}");
                if !out.contains(&c) {
                    out.push(c);
                }
            }
        }
    }
    out
}

/// A kernel config fragment enabling `options`.
pub fn config_fragment(options: &[String]) -> String {
    options.iter().map(|o| format!("{o}=y\n")).collect()
}

/// What the user lets through: the escape hatch for a vendor kernel that
/// has what its version (or a stale header) says it lacks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allow {
    pub items: BTreeSet<String>,
}

impl Allow {
    pub const ITEMS: &'static str =
        "all, global-data, loops, helper:NAME, map:TYPE, program:TYPE, attach:TYPE, config:OPTION";

    /// Each item checked, so a typo is an error rather than no effect.
    pub fn parse(items: &[String], origin: &str) -> Result<Allow> {
        let mut out = BTreeSet::new();
        for raw in items.iter().flat_map(|i| i.split(',')) {
            let i = raw.trim();
            if i.is_empty() {
                continue;
            }
            out.insert(normalise(i).ok_or_else(|| Error::Usage {
                message: format!(
                    "`{i}` (from {origin}) is not something the kernel check can allow"
                ),
                hint: format!("allow one of: {}", Allow::ITEMS),
            })?);
        }
        Ok(Allow { items: out })
    }

    fn covers(&self, item: &str) -> bool {
        self.items.contains("all") || normalise(item).is_some_and(|n| self.items.contains(&n))
    }
}

/// One spelling per item: `helper:bpf_x` and `helper:x` are the same, as
/// are `config:CONFIG_X` and `config:x`.
fn normalise(i: &str) -> Option<String> {
    Some(match i.split_once(':') {
        None if ["all", "global-data", "loops"].contains(&i) => i.to_string(),
        Some((_, "")) | None => return None,
        Some(("helper", n)) => format!("helper:{}", n.strip_prefix("bpf_").unwrap_or(n)),
        Some(("map", n)) => format!("map:{}", strip(n, "BPF_MAP_TYPE_")),
        Some(("program", n)) => format!("program:{}", strip(n, "BPF_PROG_TYPE_")),
        Some(("attach", n)) => format!("attach:{}", strip(n, "BPF_")),
        Some(("config", n)) => format!("config:{}", strip(n, "CONFIG_")),
        Some(_) => return None,
    })
}

fn strip(n: &str, prefix: &str) -> String {
    let u = n.to_ascii_uppercase();
    u.strip_prefix(prefix).map(str::to_string).unwrap_or(u)
}

pub use crate::error::Refusal;

/// The target as the check sees it: the tree's header read once.
pub struct Target<'a> {
    /// The profile, for the `doctor --target` a hint names.
    pub profile: String,
    pub version: Option<KernelVersion>,
    pub tree: Option<&'a KernelTree>,
    pub uapi: Option<Uapi>,
}

/// The tree's `include/uapi/linux/bpf.h`.
pub fn bpf_h(tree: &KernelTree) -> PathBuf {
    tree.src.join("include/uapi/linux/bpf.h")
}

impl<'a> Target<'a> {
    pub fn of(ctx: &'a Context) -> Result<Target<'a>> {
        let uapi = match &ctx.tree {
            Some(t) => Some(read_uapi(&bpf_h(t))?),
            None => None,
        };
        Ok(Target {
            profile: ctx.profile.name.clone(),
            version: ctx.version,
            tree: ctx.tree.as_ref(),
            uapi,
        })
    }

    fn linux(&self) -> String {
        self.version
            .map(|v| format!("Linux {v}"))
            .unwrap_or_else(|| "the target kernel".into())
    }
}

pub fn read_uapi(path: &Path) -> Result<Uapi> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::KernelHeader {
        path: path.to_path_buf(),
        problem: e.to_string(),
    })?;
    Uapi::parse(&text).map_err(|problem| Error::KernelHeader {
        path: path.to_path_buf(),
        problem,
    })
}

fn doctor_hint(profile: &str) -> String {
    format!("enable it in the board's kernel: `cargo ebpf-cross doctor --target {profile}` prints the config fragment to add")
}

/// How a program is named in a message.
fn program_label(p: &object::ProgramUse, offset: u64) -> String {
    match (p.section.as_str(), p.function_at(offset)) {
        (".text", Some(f)) => format!("function `{f}` (in .text)"),
        (s, Some(f)) => format!("program `{s}` (function `{f}`)"),
        (s, None) => format!("program `{s}`"),
    }
}

/// Everything in `uses` that `target` cannot run and `allow` does not let
/// through.
pub fn refusals(uses: &ObjectUse, target: &Target, allow: &Allow) -> Vec<Refusal> {
    let mut out: Vec<Refusal> = Vec::new();
    let mut push = |r: Refusal| {
        if !allow.covers(&r.allow) && !out.contains(&r) {
            out.push(r);
        }
    };
    let linux = target.linux();
    let known = Uapi::known();
    for p in &uses.programs {
        let kind = kind_of(&p.section);
        if let (Some(k), Some(u)) = (kind, &target.uapi) {
            let label = program_label(p, 0);
            if let Some(pt) = k.prog_type.filter(|t| !u.prog_types.contains(*t)) {
                push(Refusal {
                    message: format!("{label} is {}, which {linux} does not have: its include/uapi/linux/bpf.h has no {pt} in enum bpf_prog_type", k.what),
                    hint: "attach it a way the kernel has (a kprobe in place of fentry/fexit, a tracepoint in place of tp_btf), or build for a newer kernel".into(),
                    allow: format!("program:{}", strip(pt, "BPF_PROG_TYPE_")),
                });
            } else if let Some(at) = k.attach_type.filter(|t| !u.attach_types.contains(*t)) {
                push(Refusal {
                    message: format!("{label} is {}, which needs attach type {at}, and {linux} does not have it: its include/uapi/linux/bpf.h has no {at} in enum bpf_attach_type", k.what),
                    hint: "attach it a way the kernel has, or build for a newer kernel".into(),
                    allow: format!("attach:{}", strip(at, "BPF_")),
                });
            }
        }
        if let (Some(k), Some(tree)) = (kind, target.tree) {
            for c in k.config {
                let opt = format!("CONFIG_{c}");
                if !tree.is_enabled(&opt) {
                    push(Refusal {
                        message: format!(
                            "{} is {}, which needs {opt}, and {linux} is configured without it ({})",
                            program_label(p, 0),
                            k.what,
                            crate::fsutil::shown(&tree.build.join(".config"))
                        ),
                        hint: doctor_hint(&target.profile),
                        allow: format!("config:CONFIG_{c}"),
                    });
                }
            }
        }
        if let Some(u) = &target.uapi {
            let mut seen = BTreeSet::new();
            for &(id, at) in &p.helpers {
                if u.helper(id).is_some() || !seen.insert(id) {
                    continue;
                }
                let label = program_label(p, at);
                let (last, last_name) = u.last_helper().unwrap_or((0, "unspec"));
                let ends = format!(
                    "its include/uapi/linux/bpf.h lists helpers up to id {last} (bpf_{last_name})"
                );
                let (message, allow) = match known.helper(id) {
                    Some(n) => (
                        format!("{label} calls helper bpf_{n} (id {id}), which {linux} does not have: {ends}"),
                        format!("helper:bpf_{n}"),
                    ),
                    None => {
                        let (k, kn) = known.last_helper().unwrap_or((0, "unspec"));
                        (
                            format!("{label} calls helper id {id}, which no kernel this tool knows has (Linux 6.12 ends at id {k}, bpf_{kn}), nor does {linux}: {ends}"),
                            format!("helper:{id}"),
                        )
                    }
                };
                push(Refusal {
                    message,
                    hint: "call a helper the kernel has, or build for a newer kernel".into(),
                    allow,
                });
            }
        }
        if target.version.is_some_and(|v| !v.at_least(5, 2)) {
            for (sym, sec, at) in &p.globals {
                let what = if sym.is_empty() {
                    format!("a constant in {sec} (a string literal or other constant)")
                } else {
                    format!("global variable `{sym}` (in {sec})")
                };
                push(Refusal {
                    message: format!("{} uses {what}, which needs Linux 5.2 (global data); the target is {linux}", program_label(p, *at)),
                    hint: "keep the value in a map (an array map of one entry) or on the stack; for bpf_printk, define BPF_NO_GLOBAL_DATA so its format stays on the stack".into(),
                    allow: "global-data".into(),
                });
            }
        }
        if target.version.is_some_and(|v| !v.at_least(5, 3)) {
            if let Some(&at) = p.back_jumps.first() {
                push(Refusal {
                    message: format!("{} jumps backwards at instruction {} (a loop), which needs Linux 5.3 (bounded loops); the target is {linux}", program_label(p, at), at / 8),
                    hint: "unroll the loop: give it a constant bound and `#pragma unroll`".into(),
                    allow: "loops".into(),
                });
            }
        }
    }
    if let Some(u) = &target.uapi {
        for m in &uses.maps {
            let Some(t) = m.map_type else { continue };
            if u.map_types.contains_key(&t) {
                continue;
            }
            let (name, is) = match known.map_types.get(&t) {
                Some(n) => (
                    n.clone(),
                    format!("is a {n} map (type {t}), which {linux} does not have"),
                ),
                None => (
                    t.to_string(),
                    format!(
                        "has map type {t}, which no kernel this tool knows has, nor does {linux}"
                    ),
                ),
            };
            let (last, last_name) = u
                .map_types
                .iter()
                .next_back()
                .map(|(k, v)| (*k, v.as_str()))
                .unwrap_or((0, "BPF_MAP_TYPE_UNSPEC"));
            push(Refusal {
                message: format!("map `{}` {is}: its include/uapi/linux/bpf.h ends enum bpf_map_type at {last_name} ({last})", m.name),
                hint: "use a map type the kernel has, or build for a newer kernel".into(),
                allow: format!("map:{}", strip(&name, "BPF_MAP_TYPE_")),
            });
        }
    }
    if let Some(tree) = target.tree {
        if !uses.programs.is_empty() && !tree.is_enabled("CONFIG_BPF_SYSCALL") {
            push(Refusal {
                message: format!(
                    "loading any program needs CONFIG_BPF_SYSCALL (the bpf() system call), and {linux} is configured without it ({})",
                    crate::fsutil::shown(&tree.build.join(".config"))
                ),
                hint: doctor_hint(&target.profile),
                allow: "config:CONFIG_BPF_SYSCALL".into(),
            });
        }
    }
    out
}

/// Checks one object's bytes; `shown` names it in messages.
pub fn check_object(bytes: &[u8], shown: &str, target: &Target, allow: &Allow) -> Result<()> {
    let uses = object::read(bytes).map_err(|problem| Error::BadObject {
        path: PathBuf::from(shown),
        problem,
    })?;
    let refusals = refusals(&uses, target, allow);
    if refusals.is_empty() {
        Ok(())
    } else {
        Err(Error::KernelRefuses {
            file: shown.to_string(),
            refusals,
        })
    }
}

/// The allow list a setting resolved to.
pub fn allow_of(setting: Option<&Setting<Vec<String>>>) -> Result<Allow> {
    match setting {
        Some(s) => Allow::parse(&s.value, &s.origin.to_string()),
        None => Ok(Allow::default()),
    }
}

/// Checks every plan's object against the context's kernel. A refused
/// object is removed, so neither make nor the loader's build script picks
/// it up as if it were good; each refusal after the first is reported here,
/// the first returned. Returns the time the check took.
pub fn check_plans(
    plans: &[CompilePlan],
    ctx: &Context,
    allow: Option<&Setting<Vec<String>>>,
) -> Result<Duration> {
    let start = Instant::now();
    let allow = allow_of(allow)?;
    if allow.items.contains("all") {
        return Ok(start.elapsed());
    }
    let target = Target::of(ctx)?;
    let mut first = None;
    for p in plans {
        let bytes = std::fs::read(&p.output).map_err(crate::error::read_err(&p.output))?;
        let shown = crate::fsutil::shown(&p.output);
        if let Err(e) = check_object(&bytes, &shown, &target, &allow) {
            let _ = std::fs::remove_file(&p.output);
            if first.is_none() {
                first = Some(e);
            } else {
                crate::ui::error(&e.to_string(), &e.hint());
            }
        }
    }
    match first {
        Some(e) => Err(e),
        None => Ok(start.elapsed()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_map_to_kinds() {
        assert_eq!(kind_of("kprobe/do_sys_open").unwrap().token, "kprobe");
        assert_eq!(kind_of("fentry.s/x").unwrap().token, "fentry");
        assert_eq!(kind_of("cgroup/sock_create").unwrap().token, "cgroup/sock");
        assert_eq!(
            kind_of("tracepoint/syscalls/sys_enter_openat")
                .unwrap()
                .what,
            "a tracepoint program"
        );
        assert!(kind_of(".text").is_none());
        assert_eq!(
            config_needs(["kprobe/a", "tracepoint/b/c", "kretprobe/d"]),
            [
                "CONFIG_BPF_SYSCALL",
                "CONFIG_BPF_EVENTS",
                "CONFIG_KPROBES",
                "CONFIG_KPROBE_EVENTS",
                "CONFIG_TRACEPOINTS"
            ]
        );
    }

    #[test]
    fn allow_items_are_normalised_and_typos_refused() {
        let a = Allow::parse(
            &[
                "helper:bpf_ktime_get_boot_ns,global-data".into(),
                "config:CONFIG_KPROBE_EVENTS".into(),
                "map:ringbuf".into(),
            ],
            "--kernel-allow",
        )
        .unwrap();
        assert_eq!(
            a.items.into_iter().collect::<Vec<_>>(),
            [
                "config:KPROBE_EVENTS",
                "global-data",
                "helper:ktime_get_boot_ns",
                "map:RINGBUF"
            ]
        );
        let e = Allow::parse(&["globals".into()], "env EBPF_CROSS_KERNEL_ALLOW").unwrap_err();
        assert_eq!(
            e.to_string(),
            "`globals` (from env EBPF_CROSS_KERNEL_ALLOW) is not something the kernel check can allow"
        );
        assert_eq!(
            e.hint(),
            "allow one of: all, global-data, loops, helper:NAME, map:TYPE, program:TYPE, attach:TYPE, config:OPTION"
        );
    }

    fn uses_of(section: &str) -> ObjectUse {
        ObjectUse {
            programs: vec![object::ProgramUse {
                section: section.into(),
                functions: vec![(0, "f".into())],
                helpers: vec![(125, 8), (1, 16)],
                globals: vec![("counter".into(), ".bss".into(), 24)],
                back_jumps: vec![40],
            }],
            maps: vec![object::MapUse {
                name: "events".into(),
                map_type: Some(27),
            }],
        }
    }

    /// Without a tree only the version rules apply; with `all` nothing.
    #[test]
    fn version_rules_and_the_escape_hatch() {
        let t = Target {
            profile: "armv7".into(),
            version: Some(KernelVersion::new(4, 19, 131)),
            tree: None,
            uapi: None,
        };
        let r = refusals(&uses_of("kprobe/x"), &t, &Allow::default());
        let msgs: Vec<_> = r.iter().map(|r| r.message.as_str()).collect();
        assert_eq!(
            msgs,
            [
                "program `kprobe/x` (function `f`) uses global variable `counter` (in .bss), which needs Linux 5.2 (global data); the target is Linux 4.19.131",
                "program `kprobe/x` (function `f`) jumps backwards at instruction 5 (a loop), which needs Linux 5.3 (bounded loops); the target is Linux 4.19.131",
            ]
        );
        let allow = Allow::parse(&["global-data".into(), "loops".into()], "x").unwrap();
        assert!(refusals(&uses_of("kprobe/x"), &t, &allow).is_empty());
        let newer = Target {
            version: Some(KernelVersion::new(5, 3, 0)),
            ..t
        };
        assert!(refusals(&uses_of("kprobe/x"), &newer, &Allow::default()).is_empty());
    }

    #[test]
    fn helpers_and_maps_against_a_header() {
        let u = Uapi::parse(
            "enum bpf_map_type { BPF_MAP_TYPE_UNSPEC, BPF_MAP_TYPE_HASH, };
             enum bpf_prog_type { BPF_PROG_TYPE_UNSPEC, BPF_PROG_TYPE_KPROBE, };
             #define __BPF_FUNC_MAPPER(FN) \\\n FN(unspec), \\\n FN(map_lookup_elem),\n",
        )
        .unwrap();
        let t = Target {
            profile: "armv7".into(),
            version: Some(KernelVersion::new(4, 19, 131)),
            tree: None,
            uapi: Some(u),
        };
        let mut uses = uses_of("kprobe/x");
        uses.programs[0].globals.clear();
        uses.programs[0].back_jumps.clear();
        uses.programs[0].helpers.push((999, 32));
        let r = refusals(&uses, &t, &Allow::default());
        let msgs: Vec<_> = r
            .iter()
            .map(|r| (r.message.as_str(), r.allow.as_str()))
            .collect();
        assert_eq!(
            msgs,
            [
                ("program `kprobe/x` (function `f`) calls helper bpf_ktime_get_boot_ns (id 125), which Linux 4.19.131 does not have: its include/uapi/linux/bpf.h lists helpers up to id 1 (bpf_map_lookup_elem)", "helper:bpf_ktime_get_boot_ns"),
                ("program `kprobe/x` (function `f`) calls helper id 999, which no kernel this tool knows has (Linux 6.12 ends at id 211, bpf_cgrp_storage_delete), nor does Linux 4.19.131: its include/uapi/linux/bpf.h lists helpers up to id 1 (bpf_map_lookup_elem)", "helper:999"),
                ("map `events` is a BPF_MAP_TYPE_RINGBUF map (type 27), which Linux 4.19.131 does not have: its include/uapi/linux/bpf.h ends enum bpf_map_type at BPF_MAP_TYPE_HASH (1)", "map:RINGBUF"),
            ]
        );
        let fentry = refusals(
            &uses_of("fentry/x"),
            &t,
            &Allow::parse(
                &["helper:bpf_ktime_get_boot_ns".into(), "map:ringbuf".into()],
                "x",
            )
            .unwrap(),
        );
        assert_eq!(
            fentry[0].message,
            "program `fentry/x` (function `f`) is an fentry program, which Linux 4.19.131 does not have: its include/uapi/linux/bpf.h has no BPF_PROG_TYPE_TRACING in enum bpf_prog_type"
        );
    }

    #[test]
    fn an_unparsable_header_is_named() {
        let d = tempfile::tempdir().unwrap();
        let h = d.path().join("bpf.h");
        std::fs::write(&h, "/* vendor mangled */\n").unwrap();
        let e = read_uapi(&h).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "cannot read what `{}` says the kernel has: no `enum bpf_map_type {{`",
                h.display()
            )
        );
    }
}
