//! The guest's initramfs for `run`: a cpio "newc" archive written here, in
//! pure Rust, so that building it needs neither root (no device nodes, no
//! chown) nor an external `cpio`.
//!
//! The archive is deterministic: entries keep the order they were added in,
//! inode numbers count up from 1, and every mtime, uid and gid is 0, so the
//! same inputs give the same bytes.
//!
//! It holds a static busybox with the applet links `/init` needs, the
//! bundle under `/bundle/`, extra files under `/extra/`, and `/init`, a
//! busybox sh script (see [`init_script`]) that prints markers the host
//! parses (see [`marker`]).

use std::collections::BTreeSet;
use std::io::Write;

use crate::error::{Error, Result};

const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;

/// The only cpio format the kernel unpacks (without the CRC variant's sums).
const NEWC_MAGIC: &str = "070701";
const NEWC_HEADER_LEN: usize = 110;
const TRAILER: &str = "TRAILER!!!";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Body {
    Dir,
    File(Vec<u8>),
    Symlink(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    name: String,
    /// Permission bits only; the type bits come from `body`.
    perm: u32,
    body: Body,
}

/// A cpio newc archive being put together in memory.
#[derive(Debug, Clone, Default)]
pub struct Cpio {
    entries: Vec<Entry>,
    names: BTreeSet<String>,
}

impl Cpio {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a directory (and any missing parents, 0755).
    pub fn dir(&mut self, path: &str, perm: u32) -> Result<()> {
        let name = self.prepare(path)?;
        self.push(name, perm, Body::Dir);
        Ok(())
    }

    /// Adds a regular file (and any missing parent directories, 0755).
    pub fn file(&mut self, path: &str, perm: u32, data: Vec<u8>) -> Result<()> {
        if u32::try_from(data.len()).is_err() {
            return Err(Error::Run {
                message: format!("`{path}` is too large for an initramfs (4 GiB or more)"),
                hint: "newc records sizes in 32 bits".into(),
            });
        }
        let name = self.prepare(path)?;
        self.push(name, perm, Body::File(data));
        Ok(())
    }

    /// Adds a symbolic link whose contents are `target`.
    pub fn symlink(&mut self, path: &str, target: &str) -> Result<()> {
        let name = self.prepare(path)?;
        self.push(name, 0o777, Body::Symlink(target.to_string()));
        Ok(())
    }

    pub fn contains(&self, path: &str) -> bool {
        self.names.contains(path.trim_start_matches('/'))
    }

    fn push(&mut self, name: String, perm: u32, body: Body) {
        self.names.insert(name.clone());
        self.entries.push(Entry {
            name,
            perm: perm & 0o7777,
            body,
        });
    }

    /// Checks a path and adds its missing parents: the kernel's unpacker
    /// does not create directories on its own, so a file whose parent is
    /// missing would be dropped silently at boot.
    fn prepare(&mut self, path: &str) -> Result<String> {
        let name = path.trim_start_matches('/');
        let bad = |why: &str| Error::Run {
            message: format!("cannot put `{path}` in the initramfs: {why}"),
            hint: "paths inside a bundle must be relative, without `..`".into(),
        };
        if name.is_empty() {
            return Err(bad("empty path"));
        }
        if name
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
        {
            return Err(bad("it has an empty, `.` or `..` component"));
        }
        if name == TRAILER {
            return Err(bad("the name is cpio's end marker"));
        }
        if self.names.contains(name) {
            return Err(bad("it is already there"));
        }
        let mut parent = String::new();
        let components: Vec<&str> = name.split('/').collect();
        for c in &components[..components.len() - 1] {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(c);
            match self.entries.iter().find(|e| e.name == parent) {
                Some(e) if e.body != Body::Dir => {
                    return Err(bad(&format!("`{parent}` is not a directory")));
                }
                Some(_) => {}
                None => self.push(parent.clone(), 0o755, Body::Dir),
            }
        }
        Ok(name.to_string())
    }

    /// The archive, uncompressed, ending with the trailer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            let ino = i as u32 + 1;
            let (kind, nlink, data): (u32, u32, &[u8]) = match &e.body {
                // A directory's "." and its entry in the parent.
                Body::Dir => (S_IFDIR, 2, &[]),
                Body::File(d) => (S_IFREG, 1, d),
                Body::Symlink(t) => (S_IFLNK, 1, t.as_bytes()),
            };
            write_record(&mut out, ino, kind | e.perm, nlink, &e.name, data);
        }
        write_record(&mut out, 0, 0, 1, TRAILER, &[]);
        out
    }

    /// The archive gzip'd, with a zero mtime and no file name in the gzip
    /// header so that the bytes stay reproducible. The blocks are stored, not
    /// deflated: the archive lives for one boot, and inflating it in the
    /// emulated guest cost about 0.2 s per run on armv7, more than the
    /// bytes saved are worth.
    pub fn to_gzip(&self) -> Vec<u8> {
        let raw = self.to_bytes();
        let mut gz = flate2::GzBuilder::new()
            .mtime(0)
            .write(Vec::new(), flate2::Compression::none());
        gz.write_all(&raw).expect("writing to a Vec cannot fail");
        gz.finish().expect("writing to a Vec cannot fail")
    }
}

fn pad4(out: &mut Vec<u8>) {
    while out.len() % 4 != 0 {
        out.push(0);
    }
}

/// One newc record: header, NUL-terminated name padded so the data starts
/// on a 4-byte boundary, then the data padded the same way. Offsets count
/// from the start of the archive, and every record starts aligned, so
/// padding the output vector is the same as padding the record.
fn write_record(out: &mut Vec<u8>, ino: u32, mode: u32, nlink: u32, name: &str, data: &[u8]) {
    debug_assert_eq!(out.len() % 4, 0);
    let fields = [
        ino,
        mode,
        0, // uid
        0, // gid
        nlink,
        0, // mtime
        data.len() as u32,
        0, // devmajor
        0, // devminor
        0, // rdevmajor
        0, // rdevminor
        name.len() as u32 + 1,
        0, // check: only the 070702 format fills it
    ];
    let start = out.len();
    out.extend_from_slice(NEWC_MAGIC.as_bytes());
    for f in fields {
        out.extend_from_slice(format!("{f:08X}").as_bytes());
    }
    debug_assert_eq!(out.len() - start, NEWC_HEADER_LEN);
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

// ---------------------------------------------------------------------------
// The bundle, as the guest sees it

pub use crate::bundle::{Bundle, BundleFile};

// ---------------------------------------------------------------------------
// /init and its markers

/// Lines the host acts on look like `@@EBPF-CROSS:KIND@@ rest`; nothing a
/// kernel, busybox or loader prints starts like that.
pub mod marker {
    pub const INIT: &str = "INIT";
    pub const LOADER: &str = "LOADER";
    pub const STATE: &str = "STATE";
    pub const WORKLOAD: &str = "WORKLOAD";
    pub const TRACE: &str = "TRACE";
    pub const LOADER_EXIT: &str = "LOADER-EXIT";
    pub const DONE: &str = "DONE";
    /// A fact a board reports before `run --ssh` copies anything to it.
    pub const BOARD: &str = "BOARD";

    pub fn tag(kind: &str) -> String {
        format!("@@EBPF-CROSS:{kind}@@")
    }

    /// Splits a console line into (kind, rest) when it carries a marker.
    /// The marker may follow other text: a kernel message can land on the
    /// same console line before it.
    pub fn parse(line: &str) -> Option<(&str, &str)> {
        let start = line.find("@@EBPF-CROSS:")?;
        let after = &line[start + "@@EBPF-CROSS:".len()..];
        let end = after.find("@@")?;
        let kind = &after[..end];
        if kind.is_empty() || !kind.chars().all(|c| c.is_ascii_uppercase() || c == '-') {
            return None;
        }
        let rest = &after[end + 2..];
        Some((kind, rest.strip_prefix(' ').unwrap_or(rest)))
    }
}

/// Applets `/init` calls, linked explicitly so that it works before
/// `busybox --install` (which needs /proc) has run.
pub const APPLETS: &[&str] = &[
    "sh", "mount", "mkdir", "cat", "ls", "grep", "sed", "tail", "wc", "usleep", "sleep", "kill",
    "uname", "poweroff", "head", "echo", "true", "stat",
];

/// The default workload: opens a few files and execs a few commands, so an
/// open or exec probe fires.
pub const DEFAULT_WORKLOAD: &str = "cat /etc/hostname /proc/version >/dev/null; \
ls / /bin >/dev/null; uname -a >/dev/null; head -n 1 /proc/cpuinfo >/dev/null; \
cat /bundle/manifest.json >/dev/null";

/// What `/init` does, as data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitOptions {
    /// Absolute path of the loader in the guest.
    pub loader: String,
    pub loader_args: Vec<String>,
    /// A busybox sh command line; None runs [`DEFAULT_WORKLOAD`].
    pub workload: Option<String>,
    /// How long to wait for the loader to say it is running.
    pub attach_secs: u32,
    /// The longest trace_pipe is read after the workload, for a probe that
    /// keeps firing; otherwise reading stops once it has gone quiet.
    pub drain_max_secs: u32,
}

/// Single-quotes `s` for busybox sh: every byte stays data.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The `/init` script: PID 1 of the guest.
pub fn init_script(o: &InitOptions) -> String {
    let t = marker::tag;
    format!(
        r#"#!/bin/sh
# PID 1 of a throw-away guest, written by `cargo ebpf-cross run`. The host
# reads the console and acts only on lines holding an @@EBPF-CROSS:...@@ tag.
export PATH=/bin
mount -t devtmpfs devtmpfs /dev
# The archive has no /dev/console node (making one needs root), so the kernel
# started us without stdio; devtmpfs has one.
exec 0</dev/console 1>/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
T=/sys/kernel/tracing
[ -e $T/trace_pipe ] || T=/sys/kernel/debug/tracing
# Every applet, for workloads that use more than the links in the archive.
/bin/busybox --install -s /bin 2>/dev/null
echo "{init} $(uname -r)"

finish() {{
	echo "{done}"
	poweroff -f
	# If poweroff fails, PID 1 exiting panics the kernel, and panic=-1 with
	# -no-reboot stops QEMU.
	exit 1
}}
[ -e $T/trace_pipe ] || echo "{state} no-tracefs"

# Enabling bpf_trace_printk's event here, long before the loader does it
# when its program is verified, works around lost lines: on the armv7 guest
# the first lines printed in the ~100 ms after that enabling were dropped
# (seen with a counting tracepoint program: its first line said "count 9").
# The write also grows the ring buffer from its 7 KB boot size.
echo 1 >$T/events/bpf_trace/bpf_trace_printk/enable 2>/dev/null
# Per-program run counts (5.8+), so a probe that fires but whose lines
# never reach trace_pipe (riscv64 kprobes run as NMIs, where the ring
# buffer takes no writes) is told apart from one that never fires.
echo 1 >/proc/sys/kernel/bpf_stats_enabled 2>/dev/null

{steps}finish
"#,
        init = t(marker::INIT),
        done = t(marker::DONE),
        state = t(marker::STATE),
        steps = run_steps(o, "/tmp"),
    )
}

/// The steps after the guest or board is set up: start the loader, wait
/// for it to say it runs, run the workload, drain trace_pipe (from `$T`),
/// stop the loader, and report each step with a marker. The loader's log,
/// pid, exit status and the trace go in the directory `w` (a path, or a
/// shell variable holding one). The caller defines `finish`, called when
/// the loader exits on its own. Both the QEMU guest's /init and the
/// script `run --ssh` sends to a board run these same lines.
pub fn run_steps(o: &InitOptions, w: &str) -> String {
    format!(
        "{}\n{}\n{}{}\n{}",
        start_loader(o, w),
        report_start(w),
        run_workload(o),
        drain_trace(o, w),
        stop_loader(w)
    )
}

/// Starts the loader in the background and waits up to `attach_secs` for
/// it to say it runs (or to exit), then shows what it printed so far.
fn start_loader(o: &InitOptions, w: &str) -> String {
    let loader_cmd = std::iter::once(sh_quote(&o.loader))
        .chain(o.loader_args.iter().map(|a| sh_quote(a)))
        .collect::<Vec<_>>()
        .join(" ");
    let polls = o.attach_secs.max(1) * 10;
    format!(
        r#"# The subshell keeps the loader's exit status, which a non-interactive shell
# would otherwise lose to a zombie that `kill -0` still reports alive.
( {loader_cmd} >{w}/loader.log 2>&1 &
  echo $! >{w}/loader.pid
  wait $!
  echo $? >{w}/loader.rc ) &
ready=no
same=0
last=-1
i=0
while [ $i -lt {polls} ]; do
	[ -s {w}/loader.rc ] && break
	if grep -qi '^running' {w}/loader.log 2>/dev/null; then ready=yes; break; fi
	# A loader that says "attached" but not "running" is taken as ready once
	# its output has been still for half a second.
	if grep -qi attached {w}/loader.log 2>/dev/null; then
		size=$(wc -c <{w}/loader.log)
		if [ "$size" = "$last" ]; then same=$((same + 1)); else same=0; last=$size; fi
		[ $same -ge 5 ] && {{ ready=yes; break; }}
	fi
	usleep 100000
	i=$((i + 1))
done
shown=0
[ -e {w}/loader.log ] && shown=$(wc -l <{w}/loader.log) && sed 's/^/{loader} /' {w}/loader.log
"#,
        loader = marker::tag(marker::LOADER),
    )
}

/// Ends the run when the loader exited before the workload, else says
/// whether it got ready.
fn report_start(w: &str) -> String {
    format!(
        r#"if [ -s {w}/loader.rc ]; then
	echo "{state} loader-exited"
	echo "{exit} $(cat {w}/loader.rc)"
	finish
fi
[ $ready = yes ] && echo "{state} ready" || echo "{state} not-ready"
"#,
        state = marker::tag(marker::STATE),
        exit = marker::tag(marker::LOADER_EXIT),
    )
}

fn run_workload(o: &InitOptions) -> String {
    let workload = sh_quote(o.workload.as_deref().unwrap_or(DEFAULT_WORKLOAD));
    format!(
        r#"echo "{workload_tag} start"
sh -c {workload} &
wl=$!
wait $wl
echo "{workload_tag} done $?"
"#,
        workload_tag = marker::tag(marker::WORKLOAD),
    )
}

/// Reads trace_pipe until it goes quiet, or for `drain_max_secs` at most.
fn drain_trace(o: &InitOptions, w: &str) -> String {
    let drain_max = o.drain_max_secs.max(1);
    // Polls of 200 ms.
    let drain_polls = drain_max * 5;
    format!(
        r#"# The probe's lines are already in the ring buffer: cat takes them at once
# and then blocks on the empty pipe, so it is stopped once its output has
# stopped growing (checked with stat, which opens nothing an open probe
# would see), or after {drain_max}s for a probe that keeps firing. A reader
# left running during the workload instead printed nothing within a second
# on the armv7 guest.
cat $T/trace_pipe >{w}/trace 2>/dev/null &
cpid=$!
last=-1
i=0
while [ $i -lt {drain_polls} ]; do
	usleep 200000
	size=$(stat -c %s {w}/trace)
	[ "$size" = "$last" ] && break
	last=$size
	i=$((i + 1))
done
kill $cpid 2>/dev/null
wait $cpid 2>/dev/null
sed 's/^/{trace} /' {w}/trace
"#,
        trace = marker::tag(marker::TRACE),
    )
}

/// The program's run counts, then the loader stopped (TERM, then KILL
/// after 5 s) and the rest of its output and its exit status reported.
fn stop_loader(w: &str) -> String {
    format!(
        r#"lpid=$(cat {w}/loader.pid)
runs=
for f in /proc/$lpid/fdinfo/*; do
	n=$(sed -n 's/^run_cnt:[[:space:]]*//p' $f 2>/dev/null)
	[ -n "$n" ] && runs=$((${{runs:-0}} + n))
done
[ -n "$runs" ] && echo "{state} program-runs $runs"
kill -TERM $lpid 2>/dev/null
i=0
while [ ! -s {w}/loader.rc ] && [ $i -lt 50 ]; do usleep 100000; i=$((i + 1)); done
[ -s {w}/loader.rc ] || {{ kill -KILL $lpid 2>/dev/null; usleep 200000; }}
tail -n +$((shown + 1)) {w}/loader.log | sed 's/^/{loader} /'
echo "{exit} $(cat {w}/loader.rc 2>/dev/null || echo killed)"
"#,
        state = marker::tag(marker::STATE),
        loader = marker::tag(marker::LOADER),
        exit = marker::tag(marker::LOADER_EXIT),
    )
}

/// Everything that goes into the guest.
pub struct GuestInput<'a> {
    pub busybox: &'a [u8],
    pub bundle: &'a Bundle,
    /// (file name, bytes), placed under /extra/.
    pub extra: &'a [(String, Vec<u8>)],
    pub init: &'a str,
}

/// Where the bundle goes in the guest.
pub const BUNDLE_DIR: &str = "/bundle";
pub const EXTRA_DIR: &str = "/extra";

/// Lays out the guest's root file system.
pub fn guest_archive(g: &GuestInput<'_>) -> Result<Cpio> {
    let mut c = Cpio::new();
    for d in ["bin", "dev", "proc", "sys", "etc", "root"] {
        c.dir(d, 0o755)?;
    }
    c.dir("tmp", 0o1777)?;
    c.file("bin/busybox", 0o755, g.busybox.to_vec())?;
    for a in APPLETS {
        c.symlink(&format!("bin/{a}"), "busybox")?;
    }
    c.file("etc/hostname", 0o644, b"ebpf-cross\n".to_vec())?;
    c.file(
        "etc/passwd",
        0o644,
        b"root:x:0:0:root:/root:/bin/sh\n".to_vec(),
    )?;
    c.file("init", 0o755, g.init.as_bytes().to_vec())?;
    let bundle_root = BUNDLE_DIR.trim_start_matches('/');
    c.dir(bundle_root, 0o755)?;
    let mut files: Vec<&BundleFile> = g.bundle.files.iter().collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    for f in files {
        let mut mode = f.mode;
        if f.path == g.bundle.manifest.loader {
            // A tar made on a file system without exec bits must still run.
            mode |= 0o755;
        }
        c.file(&format!("{bundle_root}/{}", f.path), mode, f.data.clone())?;
    }
    if !g.extra.is_empty() {
        let extra_root = EXTRA_DIR.trim_start_matches('/');
        c.dir(extra_root, 0o755)?;
        for (name, data) in g.extra {
            c.file(&format!("{extra_root}/{name}"), 0o644, data.clone())?;
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal newc reader, independent of the writer's code paths.
    #[derive(Debug, PartialEq)]
    struct Rec {
        ino: u32,
        mode: u32,
        nlink: u32,
        name: String,
        data: Vec<u8>,
    }

    fn parse(mut b: &[u8]) -> Vec<Rec> {
        let total = b.len();
        let mut out = Vec::new();
        loop {
            let off = total - b.len();
            assert_eq!(off % 4, 0, "record at {off} is not aligned");
            assert_eq!(&b[..6], b"070701", "magic at {off}");
            let field = |i: usize| {
                let s = std::str::from_utf8(&b[6 + 8 * i..14 + 8 * i]).unwrap();
                u32::from_str_radix(s, 16).unwrap()
            };
            let (ino, mode, nlink, size, namesize) = (
                field(0),
                field(1),
                field(4),
                field(6) as usize,
                field(11) as usize,
            );
            for i in [2, 3, 5, 7, 8, 9, 10, 12] {
                assert_eq!(field(i), 0, "field {i} of record at {off}");
            }
            let name_end = 110 + namesize;
            assert_eq!(b[name_end - 1], 0, "name is NUL-terminated");
            let name = String::from_utf8(b[110..name_end - 1].to_vec()).unwrap();
            let data_start = (name_end + 3) & !3;
            assert!(b[name_end..data_start].iter().all(|&x| x == 0));
            let data_end = data_start + size;
            let next = (data_end + 3) & !3;
            assert!(b[data_end..next].iter().all(|&x| x == 0));
            let done = name == "TRAILER!!!";
            out.push(Rec {
                ino,
                mode,
                nlink,
                name,
                data: b[data_start..data_end].to_vec(),
            });
            b = &b[next..];
            if done {
                assert!(b.is_empty(), "nothing after the trailer");
                return out;
            }
        }
    }

    #[test]
    fn exact_bytes_of_a_tiny_file() {
        let mut c = Cpio::new();
        c.file("a", 0o644, b"hi\n".to_vec()).unwrap();
        let b = c.to_bytes();
        let header = concat!(
            "070701", "00000001", // ino
            "000081A4", // S_IFREG | 0644
            "00000000", // uid
            "00000000", // gid
            "00000001", // nlink
            "00000000", // mtime
            "00000003", // filesize
            "00000000", "00000000", "00000000", "00000000",
            "00000002", // namesize: "a" and its NUL
            "00000000", // check
        );
        assert_eq!(&b[..110], header.as_bytes());
        // 110 + 2 = 112 is aligned: no name padding. Data 3 bytes + 1 pad.
        assert_eq!(&b[110..112], b"a\0");
        assert_eq!(&b[112..116], b"hi\n\0");
        // Trailer: ino 0, mode 0, nlink 1, namesize 11; 121 -> 124.
        let trailer = &b[116..];
        assert_eq!(
            &trailer[..110],
            concat!(
                "070701", "00000000", "00000000", "00000000", "00000000", "00000001", "00000000",
                "00000000", "00000000", "00000000", "00000000", "00000000", "0000000B", "00000000"
            )
            .as_bytes()
        );
        assert_eq!(&trailer[110..], b"TRAILER!!!\0\0\0\0");
        assert_eq!(b.len(), 116 + 124);
    }

    #[test]
    fn name_and_data_padding_for_every_remainder() {
        for name_len in 1..=8 {
            for data_len in 0..=8 {
                let mut c = Cpio::new();
                let name = "n".repeat(name_len);
                c.file(&name, 0o600, vec![7; data_len]).unwrap();
                let b = c.to_bytes();
                assert_eq!(b.len() % 4, 0);
                let data_start = (110 + name_len + 1 + 3) & !3;
                assert_eq!(
                    &b[data_start..data_start + data_len],
                    &vec![7; data_len][..]
                );
                let recs = parse(&b);
                assert_eq!(recs[0].data.len(), data_len);
            }
        }
    }

    #[test]
    fn round_trip_dirs_files_symlinks_with_parents_made() {
        let mut c = Cpio::new();
        c.dir("tmp", 0o1777).unwrap();
        c.file("bundle/bin/loader", 0o755, b"\x7fELF".to_vec())
            .unwrap();
        c.symlink("bin/sh", "busybox").unwrap();
        let recs = parse(&c.to_bytes());
        let got: Vec<(u32, u32, u32, &str, &[u8])> = recs
            .iter()
            .map(|r| (r.ino, r.mode, r.nlink, r.name.as_str(), r.data.as_slice()))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, 0o041777, 2, "tmp", &b""[..]),
                (2, 0o040755, 2, "bundle", b""),
                (3, 0o040755, 2, "bundle/bin", b""),
                (4, 0o100755, 1, "bundle/bin/loader", b"\x7fELF"),
                (5, 0o040755, 2, "bin", b""),
                (6, 0o120777, 1, "bin/sh", b"busybox"),
                (0, 0, 1, "TRAILER!!!", b""),
            ]
        );
    }

    #[test]
    fn rejects_bad_and_duplicate_paths() {
        let mut c = Cpio::new();
        for p in ["", "/", "a/../b", "a//b", "./a", "TRAILER!!!"] {
            assert!(c.file(p, 0o644, vec![]).is_err(), "{p:?}");
        }
        c.file("x", 0o644, vec![]).unwrap();
        assert!(c.dir("x", 0o755).is_err());
        assert!(c.file("x/y", 0o644, vec![]).is_err(), "parent is a file");
        assert!(c.contains("/x"));
    }

    #[test]
    fn deterministic_and_gzip_round_trips() {
        let mk = || {
            let mut c = Cpio::new();
            c.file("f", 0o644, b"data".to_vec()).unwrap();
            c
        };
        assert_eq!(mk().to_gzip(), mk().to_gzip());
        use std::io::Read;
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(&mk().to_gzip()[..])
            .read_to_end(&mut raw)
            .unwrap();
        assert_eq!(raw, mk().to_bytes());
    }

    #[test]
    fn markers_parse_even_after_kernel_text() {
        assert_eq!(
            marker::parse("@@EBPF-CROSS:TRACE@@   cat-70 [000] file /etc/x"),
            Some(("TRACE", "  cat-70 [000] file /etc/x"))
        );
        assert_eq!(
            marker::parse("[    3.1] random: crng init done@@EBPF-CROSS:DONE@@"),
            Some(("DONE", ""))
        );
        assert_eq!(marker::parse("@@EBPF-CROSS:lower@@ x"), None);
        assert_eq!(marker::parse("plain line"), None);
        assert_eq!(
            marker::tag(marker::LOADER_EXIT),
            "@@EBPF-CROSS:LOADER-EXIT@@"
        );
    }

    fn opts() -> InitOptions {
        InitOptions {
            loader: "/bundle/bin/open-example".into(),
            loader_args: vec!["/extra/it's.o".into()],
            workload: Some("echo 'hi' && cat /etc/hostname".into()),
            attach_secs: 20,
            drain_max_secs: 5,
        }
    }

    #[test]
    fn init_quotes_loader_args_and_workload_as_data() {
        let s = init_script(&opts());
        assert!(s.starts_with("#!/bin/sh\n"));
        assert!(s.contains("( '/bundle/bin/open-example' '/extra/it'\\''s.o' >/tmp/loader.log"));
        assert!(s.contains("sh -c 'echo '\\''hi'\\'' && cat /etc/hostname' &\nwl=$!\nwait $wl\n"));
        assert!(s.contains("while [ $i -lt 200 ]; do"));
        assert!(s.contains("cat $T/trace_pipe >/tmp/trace"));
        assert!(s.contains("while [ $i -lt 25 ]; do\n\tusleep 200000\n\tsize=$(stat"));
        for kind in [
            "INIT",
            "STATE",
            "LOADER",
            "TRACE",
            "LOADER-EXIT",
            "DONE",
            "WORKLOAD",
        ] {
            assert!(s.contains(&marker::tag(kind)), "{kind}");
        }
        let default = init_script(&InitOptions {
            workload: None,
            ..opts()
        });
        assert!(default.contains(&sh_quote(DEFAULT_WORKLOAD)));
    }

    #[test]
    fn init_uses_only_linked_applets_before_install() {
        let s = init_script(&opts());
        let before_install = &s[..s.find("/bin/busybox --install").unwrap()];
        for line in before_install.lines().filter(|l| !l.starts_with('#')) {
            if let Some(cmd) = line.split_whitespace().next() {
                if [
                    "export",
                    "exec",
                    "T=/sys/kernel/tracing",
                    "[",
                    "/bin/busybox",
                ]
                .contains(&cmd)
                {
                    continue;
                }
                assert!(APPLETS.contains(&cmd), "`{cmd}` is not linked");
            }
        }
    }

    fn bundle() -> Bundle {
        Bundle {
            top: "x-0.1.0-armv7".into(),
            files: vec![
                BundleFile {
                    path: "manifest.json".into(),
                    mode: 0o644,
                    data: b"{}".to_vec(),
                },
                BundleFile {
                    path: "bin/x".into(),
                    mode: 0o644,
                    data: b"ELF".to_vec(),
                },
                BundleFile {
                    path: "bpf/x.o".into(),
                    mode: 0o644,
                    data: b"o".to_vec(),
                },
            ],
            manifest: crate::bundle::Manifest {
                loader: "bin/x".into(),
                objects: vec!["bpf/x.o".into()],
                ..crate::bundle::Manifest::example()
            },
        }
    }

    #[test]
    fn guest_layout() {
        let b = bundle();
        let extra = vec![("t.o".to_string(), b"t".to_vec())];
        let c = guest_archive(&GuestInput {
            busybox: b"bb",
            bundle: &b,
            extra: &extra,
            init: "#!/bin/sh\n",
        })
        .unwrap();
        let recs = parse(&c.to_bytes());
        let find = |n: &str| {
            recs.iter()
                .find(|r| r.name == n)
                .unwrap_or_else(|| panic!("{n}"))
        };
        assert_eq!(find("init").mode, 0o100755);
        assert_eq!(find("bin/sh").data, b"busybox");
        assert_eq!(
            find("bundle/bin/x").mode,
            0o100755,
            "loader made executable"
        );
        assert_eq!(find("bundle/bpf/x.o").mode, 0o100644);
        assert_eq!(find("extra/t.o").data, b"t");
        assert_eq!(find("tmp").mode, 0o041777);
        assert!(
            recs.iter().all(|r| !r.name.starts_with("dev/")),
            "no device nodes"
        );
    }
}
