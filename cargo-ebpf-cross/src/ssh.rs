//! A real board over the user's own OpenSSH client, for `run --ssh`: the
//! destination as OpenSSH takes it, the `ssh` argv, the payload copied over
//! the channel itself, the script the board's shell runs, and the board's
//! preflight facts.
//!
//! Boards are small (busybox and dropbear): no sftp, scp or rsync, maybe no
//! bash. So one `ssh` connection carries everything: the board reports its
//! facts, waits for the host's "go", reads the payload (a tar of the bundle)
//! from stdin with `head -c`, verifies it with `sha256sum -c`, and then runs
//! the same steps as the QEMU guest's /init ([`initramfs::run_steps`]),
//! printing the same markers, so the host judges both with one observer.
//!
//! Nothing a user typed becomes code on the board: every value in the
//! script is single-quoted ([`initramfs::sh_quote`]) or checked to be
//! plain (a number, a path the board itself made).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::initramfs::{self, marker, sh_quote, InitOptions};
use crate::plan::Cmd;

/// The variable that points `ssh` at a config file (`-F`). OpenSSH reads
/// `~/.ssh/config` from the passwd entry's home, not `$HOME`, so a test or
/// a CI job with its own config needs this (or the `--ssh-config` flag).
pub const CONFIG_ENV: &str = "EBPF_CROSS_SSH_CONFIG";

/// Where on the board the run's files go, and what its `mktemp` names.
pub const DIR_PREFIX: &str = "ebpf-cross.";

/// The board's own timer, beyond the host's `--timeout`: if the host
/// vanishes without the connection closing (a pulled cable), the board
/// still ends the run and cleans up this long after the host's deadline.
pub const WATCHDOG_MARGIN_SECS: u64 = 30;

/// A destination in one of the forms OpenSSH takes: an alias of
/// `~/.ssh/config`, `[user@]host`, or `ssh://[user@]host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// What the user wrote, for messages.
    pub given: String,
    /// `[user@]host` or the alias, as ssh's destination argument.
    pub dest: String,
    pub port: Option<u16>,
}

fn bad_host(given: &str, why: &str) -> Error {
    Error::Usage {
        message: format!("--ssh `{given}` is not a destination: {why}"),
        hint: "give an alias from ~/.ssh/config, [user@]host, or ssh://[user@]host[:port]".into(),
    }
}

impl Host {
    pub fn parse(given: &str) -> Result<Host> {
        if given.is_empty() {
            return Err(bad_host(given, "it is empty"));
        }
        // ssh would take a leading `-` as an option (`-oProxyCommand=...`).
        if given.starts_with('-') {
            return Err(bad_host(given, "it starts with `-`"));
        }
        if given
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '\'' || c == '"')
        {
            return Err(bad_host(
                given,
                "it holds a space, a quote or a control character",
            ));
        }
        let Some(rest) = given.strip_prefix("ssh://") else {
            if given.contains("://") {
                return Err(bad_host(given, "the only URL scheme ssh takes is ssh://"));
            }
            return Ok(Host {
                given: given.into(),
                dest: given.into(),
                port: None,
            });
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') {
            return Err(bad_host(given, "an ssh:// destination has no path"));
        }
        let (user, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) if !u.is_empty() => (Some(u), h),
            Some(_) => return Err(bad_host(given, "the user before `@` is empty")),
            None => (None, rest),
        };
        // `[::1]:22`: brackets keep an IPv6 address's colons apart from the
        // port's.
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (addr, after) = v6
                .split_once(']')
                .ok_or_else(|| bad_host(given, "`[` without `]`"))?;
            match after.strip_prefix(':') {
                Some(p) => (addr, Some(p)),
                None if after.is_empty() => (addr, None),
                None => return Err(bad_host(given, "text after `]`")),
            }
        } else {
            match hostport.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() || host.starts_with('-') {
            return Err(bad_host(given, "no host name"));
        }
        let port = match port {
            None => None,
            Some(p) => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad_host(given, &format!("`{p}` is not a port")))?,
            ),
        };
        Ok(Host {
            given: given.into(),
            dest: match user {
                Some(u) => format!("{u}@{host}"),
                None => host.to_string(),
            },
            port,
        })
    }
}

/// How to call `ssh`: the user's client, config, keys and known_hosts, with
/// only the options that keep it from prompting or hanging.
#[derive(Debug, Clone)]
pub struct Client {
    pub program: PathBuf,
    pub config: Option<PathBuf>,
    pub connect_timeout: u64,
    pub host: Host,
}

impl Client {
    /// `ssh ... -- DEST 'sh -c SCRIPT'`. Host keys are checked as the
    /// user's config says; nothing here turns that off.
    pub fn command(&self, script: &str) -> Cmd {
        let mut c = Cmd::new(&self.program);
        if let Some(f) = &self.config {
            c = c.arg("-F").arg(f.display().to_string());
        }
        c = c
            // Never a password or passphrase prompt, and never a host key
            // question: without a terminal there is nobody to answer.
            .args(["-o", "BatchMode=yes"])
            .args(["-o", &format!("ConnectTimeout={}", self.connect_timeout)])
            // A board that stops answering ends the run in seconds rather
            // than at TCP's own timeout.
            .args(["-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"])
            .arg("-T");
        if let Some(p) = self.host.port {
            c = c.arg("-p").arg(p.to_string());
        }
        // The login shell may be anything; `sh -c` makes the script's
        // dialect POSIX sh, and quoting makes it one word to that shell.
        c.arg("--")
            .arg(&self.host.dest)
            .arg(format!("sh -c {}", sh_quote(script)))
    }
}

/// What the board's script does, as data.
#[derive(Debug, Clone)]
pub struct BoardOptions {
    /// The loader, its arguments, the workload and the waits, as for the
    /// QEMU guest; the loader path is relative to the run directory.
    pub steps: InitOptions,
    /// Bytes of the payload the board reads from stdin after "go".
    pub payload_size: u64,
    pub watchdog_secs: u64,
}

/// The workload when none is given: the guest's default, without the
/// guest's own paths.
pub const BOARD_WORKLOAD: &str = "cat /etc/hostname /proc/version >/dev/null; \
ls / /bin >/dev/null; uname -a >/dev/null; head -n 1 /proc/cpuinfo >/dev/null; \
cat bundle/manifest.json >/dev/null";

/// A loader argument naming a guest path (`/extra/x.o`) names the same
/// file on the board, where the run directory holds `bundle/` and `extra/`
/// and is the loader's working directory; so one command line serves both.
pub fn board_arg(a: &str) -> String {
    for top in ["/extra/", "/bundle/"] {
        if let Some(rest) = a.strip_prefix(top) {
            return format!("{}{rest}", &top[1..]);
        }
    }
    a.to_string()
}

/// The script the board's `sh` runs. Every way out (done, refused, a
/// signal, stdin closing because the host went away, the watchdog) goes
/// through `cleanup`: stop the loader, the trace reader and the workload,
/// undo what was changed in tracefs and sysctl, unmount what was mounted,
/// remove the run directory.
pub fn board_script(o: &BoardOptions) -> String {
    let t = marker::tag;
    let mut steps = o.steps.clone();
    if steps.workload.is_none() {
        steps.workload = Some(BOARD_WORKLOAD.into());
    }
    format!(
        r#"# Sent by `cargo ebpf-cross run --ssh`. The host acts only on lines holding
# an @@EBPF-CROSS:...@@ tag; everything made here lives in $D.
# A host that goes away must not kill us before cleanup: writes to a closed
# channel fail instead.
trap '' PIPE HUP
PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
D=
T=
m=
cpid=
wl=
wd=
sw=
old_printk=
old_stats=

cleanup() {{
	trap '' INT TERM
	[ -n "$sw" ] && kill $sw 2>/dev/null
	[ -n "$wd" ] && kill $wd 2>/dev/null
	[ -n "$wl" ] && kill $wl 2>/dev/null
	[ -n "$cpid" ] && kill $cpid 2>/dev/null
	if [ -n "$D" ] && [ -s "$D/loader.pid" ] && [ ! -s "$D/loader.rc" ]; then
		lp=$(cat "$D/loader.pid")
		kill -TERM $lp 2>/dev/null
		i=0
		while [ ! -s "$D/loader.rc" ] && [ $i -lt 30 ]; do usleep 100000; i=$((i + 1)); done
		[ -s "$D/loader.rc" ] || kill -KILL $lp 2>/dev/null
	fi
	case "$old_printk" in 0|1) echo $old_printk >$T/events/bpf_trace/bpf_trace_printk/enable 2>/dev/null;; esac
	case "$old_stats" in 0|1) echo $old_stats >/proc/sys/kernel/bpf_stats_enabled 2>/dev/null;; esac
	cd /
	[ -n "$m" ] && umount $m 2>/dev/null
	[ -n "$D" ] && rm -rf "$D"
	echo "{state} cleaned"
}}
finish() {{
	cleanup
	echo "{done}"
	exit 0
}}
stopped() {{
	echo "{state} stopped"
	finish
}}
trap stopped INT TERM

D=$(mktemp -d "${{TMPDIR:-/tmp}}/{prefix}XXXXXX" 2>/dev/null)
# The path goes unquoted into commands below and back to the host, which
# may remove it later: it must be plain.
case "$D" in
""|*[!A-Za-z0-9/._-]*) echo "{board} fail mktemp -d"; D=; finish;;
esac
echo "{board} dir $D"
(
	i=0
	while [ $i -lt {watchdog} ] && [ -d "$D" ]; do sleep 1; i=$((i + 1)); done
	[ -d "$D" ] && kill -TERM $$ 2>/dev/null
) &
wd=$!

echo "{board} machine $(uname -m)"
echo "{board} release $(uname -r)"
echo "{board} uid $(sed -n 's/^Uid:[[:space:]]*\([0-9]*\).*/\1/p' /proc/self/status)"
if [ -e /sys/kernel/tracing/trace_pipe ]; then T=/sys/kernel/tracing
elif [ -e /sys/kernel/debug/tracing/trace_pipe ]; then T=/sys/kernel/debug/tracing
elif mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null; then T=/sys/kernel/tracing; m=$T
elif mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null; then T=/sys/kernel/debug/tracing; m=/sys/kernel/debug
fi
echo "{board} tracefs ${{T:-none}}${{m:+ mounted}}"
if [ ! -r /proc/config.gz ]; then
	echo "{board} kconfig none"
elif command -v zcat >/dev/null 2>&1; then
	echo "{board} kconfig /proc/config.gz"
	zcat /proc/config.gz | grep -E '^CONFIG_(BPF_SYSCALL|KPROBES)=' | sed 's/^/{board} kconfig /'
else
	echo "{board} kconfig unreadable"
fi
for c in head tar sha256sum usleep stat; do
	command -v $c >/dev/null 2>&1 && echo "{board} has $c"
done
echo "{board} end"

read -r answer || answer=
[ "$answer" = go ] || finish
cd "$D" || finish
# Exactly the payload's bytes: what follows on stdin is only its end.
head -c {size} >payload.tar
n=$(wc -c <payload.tar)
[ $n -eq {size} ] || {{ echo "{board} short $n"; finish; }}
tar -xf payload.tar || {{ echo "{board} untar-failed"; finish; }}
rm -f payload.tar
if command -v sha256sum >/dev/null 2>&1; then
	if sha256sum -c sums >sums.out 2>&1; then
		echo "{board} verified $(wc -l <sums)"
	else
		grep -v ': OK$' sums.out | sed 's/^/{board} bad-sum /'
		finish
	fi
else
	echo "{board} unverified"
fi
echo "{board} copied"

# From here the host sends nothing; stdin ends when it goes away (Ctrl-C,
# a dropped connection), and then the run stops.
exec 3<&0 0</dev/null
(
	cat <&3 >/dev/null
	kill -TERM $$ 2>/dev/null
) &
sw=$!
exec 3<&-

# As in the QEMU guest, bpf_trace_printk's event is on before the loader
# starts (lines printed just after the loader turns it on were lost), and
# run counts are on; both are put back as they were.
old_printk=$(cat $T/events/bpf_trace/bpf_trace_printk/enable 2>/dev/null)
echo 1 >$T/events/bpf_trace/bpf_trace_printk/enable 2>/dev/null
old_stats=$(cat /proc/sys/kernel/bpf_stats_enabled 2>/dev/null)
echo 1 >/proc/sys/kernel/bpf_stats_enabled 2>/dev/null
# trace_pipe is shared and may hold an earlier run's lines: the host counts
# only those after this mark.
echo "ebpf-cross run $D" >$T/trace_marker 2>/dev/null && echo "{board} mark ebpf-cross run $D"

{steps}finish
"#,
        state = t(marker::STATE),
        done = t(marker::DONE),
        board = t(marker::BOARD),
        prefix = DIR_PREFIX,
        watchdog = o.watchdog_secs,
        size = o.payload_size,
        steps = initramfs::run_steps(&steps, "$D"),
    )
}

/// The script of `runner`: one program copied (`size` bytes on stdin,
/// checked against `sha256` where the board has sha256sum) into a fresh
/// directory and run there as root with `args`, its output going straight
/// back. ssh's exit status is the program's; the script's own failures
/// exit 125. Ctrl-C on the host (or a dropped connection) closes stdin,
/// which stops the program and removes the directory.
pub fn runner_script(size: u64, sha256: &str, args: &[String]) -> String {
    let argv = std::iter::once("./program".to_string())
        .chain(args.iter().map(|a| sh_quote(a)))
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        r#"trap '' PIPE HUP
D=
pid=
sw=
cleanup() {{
	trap '' INT TERM
	[ -n "$sw" ] && kill $sw 2>/dev/null
	if [ -n "$pid" ]; then
		kill -TERM $pid 2>/dev/null
		i=0
		# A stopped child stays a zombie (which kill -0 still finds) until
		# it is waited for, so its state is what tells.
		while [ $i -lt 30 ] && [ -e /proc/$pid ] && ! grep -q '^State:[[:space:]]*Z' /proc/$pid/status 2>/dev/null; do
			usleep 100000
			i=$((i + 1))
		done
		kill -KILL $pid 2>/dev/null
	fi
	cd /
	[ -n "$D" ] && rm -rf "$D"
}}
fail() {{
	echo "cargo-ebpf-cross runner: $*" >&2
	cleanup
	exit 125
}}
trap 'cleanup; exit 130' INT TERM
[ "$(sed -n 's/^Uid:[[:space:]]*\([0-9]*\).*/\1/p' /proc/self/status)" = 0 ] || fail "the login is not root; loading BPF programs needs root"
D=$(mktemp -d "${{TMPDIR:-/tmp}}/{prefix}XXXXXX" 2>/dev/null)
case "$D" in
""|*[!A-Za-z0-9/._-]*) D=; fail "mktemp -d failed";;
esac
cd "$D" || fail "cannot enter $D"
head -c {size} >program
n=$(wc -c <program)
[ $n -eq {size} ] || fail "the copy arrived short ($n of {size} bytes)"
if command -v sha256sum >/dev/null 2>&1; then
	echo "{sha256}  program" | sha256sum -c >/dev/null 2>&1 || fail "the copy's sha256 is not the program's"
fi
chmod 755 program
exec 3<&0 0</dev/null
(
	cat <&3 >/dev/null
	kill -TERM $$ 2>/dev/null
) &
sw=$!
exec 3<&-
{argv} &
pid=$!
wait $pid
rc=$?
pid=
cleanup
exit $rc
"#,
        prefix = DIR_PREFIX,
    )
}

/// What the board said about itself before anything was copied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    pub dir: Option<String>,
    pub machine: Option<String>,
    pub release: Option<String>,
    pub uid: Option<String>,
    /// The trace directory, and whether the script mounted it.
    pub tracefs: Option<String>,
    pub tracefs_mounted: bool,
    /// `/proc/config.gz`, `none` or `unreadable`.
    pub kconfig_source: Option<String>,
    /// `CONFIG_X=y` lines found in /proc/config.gz.
    pub kconfig: Vec<String>,
    pub tools: Vec<String>,
    pub failed: Option<String>,
    pub end: bool,
}

/// What the board said after the copy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Copy {
    pub verified: Option<usize>,
    pub unverified: bool,
    pub bad: Vec<String>,
    pub problem: Option<String>,
    pub done: bool,
    /// What the board wrote to trace_marker before the loader started.
    pub mark: Option<String>,
}

/// One `@@EBPF-CROSS:BOARD@@ key value` line.
pub fn take_fact(facts: &mut Facts, copy: &mut Copy, rest: &str) {
    let (key, value) = rest.split_once(' ').unwrap_or((rest, ""));
    let value = value.to_string();
    match key {
        "dir" => facts.dir = Some(value),
        "machine" => facts.machine = Some(value),
        "release" => facts.release = Some(value),
        "uid" => facts.uid = Some(value),
        "tracefs" => {
            let (dir, mounted) = match value.strip_suffix(" mounted") {
                Some(d) => (d.to_string(), true),
                None => (value, false),
            };
            facts.tracefs = (dir != "none").then_some(dir);
            facts.tracefs_mounted = mounted;
        }
        "kconfig" if value.starts_with("CONFIG_") => facts.kconfig.push(value),
        "kconfig" => facts.kconfig_source = Some(value),
        "has" => facts.tools.push(value),
        "fail" => facts.failed = Some(value),
        "end" => facts.end = true,
        "verified" => copy.verified = value.trim().parse().ok(),
        "unverified" => copy.unverified = true,
        "bad-sum" => copy.bad.push(value),
        "short" => copy.problem = Some(format!("the copy arrived short ({} bytes)", value.trim())),
        "untar-failed" => {
            copy.problem = Some("the board's `tar -x` could not unpack the copy".into())
        }
        "copied" => copy.done = true,
        "mark" if !value.is_empty() => copy.mark = Some(value),
        _ => {}
    }
}

/// What the bundle expects of the board.
#[derive(Debug, Clone)]
pub struct Wanted<'a> {
    pub target: &'a str,
    pub machines: &'a [String],
    /// The tree's UTS_RELEASE, from the manifest.
    pub release: Option<&'a str>,
    /// The manifest's BPF mode (`native` when it does not say).
    pub core: bool,
    pub allow_kernel_mismatch: bool,
}

/// The preflight's verdict: notes and warnings to show, or why not to run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
    pub refusals: Vec<(String, String)>,
}

fn kconfig_has(f: &Facts, option: &str) -> Option<bool> {
    if f.kconfig_source.as_deref() != Some("/proc/config.gz") {
        return None;
    }
    Some(
        f.kconfig
            .iter()
            .any(|l| l == &format!("{option}=y") || l == &format!("{option}=m")),
    )
}

/// Checks the board against the bundle before anything is copied.
pub fn judge(f: &Facts, w: &Wanted, host: &str) -> Verdict {
    let mut v = Verdict::default();
    let machine = f.machine.as_deref().unwrap_or("?");
    if w.machines.is_empty() {
        v.notes.push(format!(
            "target `{}` does not say which `uname -m` runs it; the board's {machine} was not checked",
            w.target
        ));
    } else if !w.machines.iter().any(|m| m == machine) {
        v.refusals.push((
            format!(
                "the board is {machine} (uname -m), but the bundle is for `{}` ({})",
                w.target,
                w.machines.join(", ")
            ),
            format!("build for the board's arch (`cargo ebpf-cross targets` lists them), or check that --ssh {host} is the board you meant"),
        ));
    }
    let release = f.release.as_deref().unwrap_or("?");
    match w.release {
        None => v.warnings.push(format!(
            "the bundle does not record its kernel's release (built without a prepared tree, or by an older cargo-ebpf-cross), so the board's {release} was not compared"
        )),
        Some(r) if r == release => {}
        Some(r) if w.core => v.warnings.push(format!(
            "the board runs linux {release}, the bundle was built against {r}; its objects are CO-RE, so they relocate to the board's kernel through its BTF"
        )),
        Some(r) if w.allow_kernel_mismatch => v.warnings.push(format!(
            "the board runs linux {release}, the bundle was built against {r} in native mode; running anyway (--allow-kernel-mismatch): struct offsets and probe points may differ"
        )),
        Some(r) => v.refusals.push((
            format!(
                "the board runs linux {release}, but the bundle was built against {r} in native mode, whose objects fit that kernel only"
            ),
            format!(
                "build against the board's own kernel tree (its UTS_RELEASE is {release}), use CO-RE mode ([bpf] mode = \"core\"), or pass --allow-kernel-mismatch to run anyway"
            ),
        )),
    }
    let root = f.uid.as_deref() == Some("0");
    if !root {
        v.refusals.push((
            format!(
                "the board's login is not root (uid {}); loading BPF programs needs root",
                f.uid.as_deref().unwrap_or("?")
            ),
            format!("log in as root: `User root` for {host} in ~/.ssh/config, or --ssh root@HOST"),
        ));
    }
    match (&f.tracefs, f.tracefs_mounted) {
        // Only root may mount it: without root, its absence says nothing.
        (None, _) if !root => {}
        (None, _) => v.refusals.push((
            "the board has no trace_pipe: tracefs is neither mounted nor mountable at /sys/kernel/tracing, nor debugfs at /sys/kernel/debug".into(),
            "the kernel needs CONFIG_FTRACE (and TRACEFS or DEBUG_FS); as root, `mount -t tracefs tracefs /sys/kernel/tracing` must work".into(),
        )),
        (Some(t), true) => v.notes.push(format!("mounted {t} for this run (unmounted after)")),
        _ => {}
    }
    match kconfig_has(f, "CONFIG_BPF_SYSCALL") {
        Some(false) => v.refusals.push((
            "the board's kernel has no bpf() syscall (/proc/config.gz: CONFIG_BPF_SYSCALL is not set)".into(),
            "rebuild the board's kernel with CONFIG_BPF_SYSCALL=y".into(),
        )),
        Some(true) => {}
        None => v.notes.push(format!(
            "the board has {} /proc/config.gz; CONFIG_BPF_SYSCALL and CONFIG_KPROBES were not checked",
            if f.kconfig_source.as_deref() == Some("unreadable") { "no zcat for" } else { "no" }
        )),
    }
    if kconfig_has(f, "CONFIG_KPROBES") == Some(false) {
        v.warnings.push(
            "the board's kernel has no kprobes (CONFIG_KPROBES is not set): kprobe programs will not attach"
                .into(),
        );
    }
    for tool in ["head", "tar"] {
        if !f.tools.iter().any(|t| t == tool) {
            v.refusals.push((
                format!("the board has no `{tool}`, which the copy needs"),
                "the board needs busybox (or coreutils) with head and tar".into(),
            ));
        }
    }
    for (tool, why) in [
        ("usleep", "the run's waits use"),
        ("stat", "the trace drain uses"),
    ] {
        if !f.tools.iter().any(|t| t == tool) {
            v.refusals.push((
                format!("the board has no `{tool}`, which {why}"),
                format!("the board needs busybox with the {tool} applet"),
            ));
        }
    }
    v
}

/// Is `d` a directory this tool's script made (so that a later cleanup may
/// remove it)?
pub fn is_run_dir(d: &str) -> bool {
    let Some((parent, name)) = d.rsplit_once('/') else {
        return false;
    };
    d.starts_with('/')
        && name.starts_with(DIR_PREFIX)
        && name.len() > DIR_PREFIX.len()
        && !parent.split('/').any(|c| c == "..")
        && d.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b))
}

/// Run after an interrupted run, on a fresh connection: the board's script
/// cleans up by itself once its stdin closes; this waits for that, and
/// does it in its place if it has not happened within a few seconds.
pub fn cleanup_script(dir: &str) -> String {
    let d = sh_quote(dir);
    format!(
        r#"i=0
while [ -d {d} ] && [ $i -lt 50 ]; do usleep 100000; i=$((i + 1)); done
[ -d {d} ] || {{ echo gone; exit 0; }}
for f in {d}/loader.pid; do [ -s "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null; done
rm -rf {d}
echo removed
"#
    )
}

/// The payload: the bundle under `bundle/`, the extra files under
/// `extra/`, and `sums`, the sha256 list `sha256sum -c` checks on the
/// board (the manifest's own digests, so what is checked is what was
/// built).
pub fn payload(
    bundle: &crate::bundle::Bundle,
    extra: &[(String, Vec<u8>)],
) -> Result<(Vec<u8>, usize)> {
    let mut entries: Vec<(String, u32, &[u8])> = Vec::new();
    let mut sums = String::new();
    for f in &bundle.files {
        let mut mode = f.mode;
        if f.path == bundle.manifest.loader {
            mode |= 0o755;
        }
        entries.push((format!("bundle/{}", f.path), mode, &f.data));
        let sha = match bundle.manifest.files.iter().find(|e| e.path == f.path) {
            Some(e) => e.sha256.clone(),
            // manifest.json, which cannot list itself.
            None => crate::fsutil::sha256_hex(&f.data),
        };
        sums.push_str(&format!("{sha}  bundle/{}\n", f.path));
    }
    for (name, data) in extra {
        entries.push((format!("extra/{name}"), 0o644, data));
        sums.push_str(&format!(
            "{}  extra/{name}\n",
            crate::fsutil::sha256_hex(data)
        ));
    }
    let count = entries.len();
    entries.push(("sums".into(), 0o644, sums.as_bytes()));
    let mut b = tar::Builder::new(Vec::new());
    let io = |e: std::io::Error| Error::Run {
        message: format!("cannot put the bundle into the copy for the board: {e}"),
        hint: "bundle paths must fit a ustar header (100 bytes)".into(),
    };
    for (path, mode, data) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_path(&path).map_err(io)?;
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append(&h, data).map_err(io)?;
    }
    Ok((b.into_inner().map_err(io)?, count))
}

/// The lines OpenSSH printed that say why it failed, without the banner
/// art around a changed host key.
pub fn reason(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.chars().all(|c| c == '@'))
        .collect();
    let key = lines.iter().find(|l| {
        l.contains("Host key verification failed")
            || l.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
            || l.contains("Connection refused")
            || l.contains("timed out")
            || l.contains("Permission denied")
            || l.contains("Could not resolve")
            || l.contains("No route to host")
            || l.contains("host key is known")
    });
    key.or(lines.last())
        .map(|l| l.trim_matches('@').trim().to_string())
        .unwrap_or_else(|| "ssh printed nothing".into())
}

/// Advice for a connection that failed, by what OpenSSH said.
pub fn advice(stderr: &str, host: &Host, config: Option<&Path>) -> String {
    let cfg = match config {
        Some(p) => format!(" (ssh -F {})", p.display()),
        None => String::new(),
    };
    if stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
        // OpenSSH names the exact entry (file and `[host]:port` form) on
        // the line after "remove with:"; an alias is not that name.
        let remove = stderr
            .lines()
            .skip_while(|l| !l.contains("remove with:"))
            .nth(1)
            .map(str::trim)
            .filter(|l| l.starts_with("ssh-keygen "))
            .map(str::to_string)
            .unwrap_or_else(|| {
                format!(
                    "ssh-keygen -R {}",
                    host.dest.rsplit('@').next().unwrap_or(&host.dest)
                )
            });
        format!(
            "the board's host key is not the one known_hosts holds for it, so ssh refused. If the board was reinstalled, check its new key out of band, then `{remove}` and connect once by hand{cfg}. Host key checking is never turned off"
        )
    } else if stderr.contains("host key is known")
        || stderr.contains("Host key verification failed")
    {
        format!(
            "known_hosts has no key for the board, and nothing can be asked here (BatchMode). Connect once by hand{cfg} and check the key it shows, or add the board's key to known_hosts"
        )
    } else if stderr.contains("Permission denied") {
        "the board refused the login: put the board's key in an ssh-agent or set IdentityFile in ~/.ssh/config, and the public key in the board's authorized_keys (no password is ever asked)".into()
    } else if stderr.contains("Connection refused") {
        "nothing listens there: check the host and port (ssh://HOST:PORT or Port in ~/.ssh/config) and that the board's SSH server (dropbear) runs".into()
    } else if stderr.contains("timed out") {
        "the board did not answer within the connect timeout: check that it is up and reachable, or raise --connect-timeout".into()
    } else {
        format!("check that `ssh{cfg} {}` works by hand", host.given)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_in_openssh_forms() {
        let h = Host::parse("myboard").unwrap();
        assert_eq!((h.dest.as_str(), h.port), ("myboard", None));
        let h = Host::parse("root@10.0.0.2").unwrap();
        assert_eq!((h.dest.as_str(), h.port), ("root@10.0.0.2", None));
        let h = Host::parse("ssh://root@127.0.0.1:2222").unwrap();
        assert_eq!((h.dest.as_str(), h.port), ("root@127.0.0.1", Some(2222)));
        let h = Host::parse("ssh://board/").unwrap();
        assert_eq!((h.dest.as_str(), h.port), ("board", None));
        let h = Host::parse("ssh://root@[::1]:22").unwrap();
        assert_eq!((h.dest.as_str(), h.port), ("root@::1", Some(22)));
    }

    #[test]
    fn destinations_that_could_be_options_or_code_are_refused() {
        for bad in [
            "",
            "-oProxyCommand=touch /tmp/x",
            "board; rm -rf /",
            "a b",
            "it's",
            "ssh://",
            "ssh://root@",
            "ssh://@host",
            "ssh://host:0",
            "ssh://host:99999",
            "ssh://host:x",
            "ssh://host/path",
            "ssh://-oX=y",
            "http://host",
            "ssh://[::1",
        ] {
            let e = Host::parse(bad).unwrap_err();
            assert!(
                e.to_string()
                    .starts_with(&format!("--ssh `{bad}` is not a destination")),
                "{bad}: {e}"
            );
            assert!(e.hint().contains("ssh://[user@]host[:port]"));
        }
    }

    fn client(port: Option<u16>) -> Client {
        Client {
            program: "ssh".into(),
            config: Some("/t/config".into()),
            connect_timeout: 7,
            host: Host {
                given: "b".into(),
                dest: "root@b".into(),
                port,
            },
        }
    }

    #[test]
    fn ssh_argv_keeps_host_key_checking_and_quotes_the_script() {
        let argv = client(Some(2222)).command("echo 'hi'; $x").argv();
        assert_eq!(
            argv,
            [
                "ssh",
                "-F",
                "/t/config",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=7",
                "-o",
                "ServerAliveInterval=5",
                "-o",
                "ServerAliveCountMax=3",
                "-T",
                "-p",
                "2222",
                "--",
                "root@b",
                "sh -c 'echo '\\''hi'\\''; $x'",
            ]
        );
        assert!(!argv.iter().any(|a| a.contains("StrictHostKeyChecking")));
        assert!(!argv.iter().any(|a| a.contains("UserKnownHostsFile")));
    }

    fn opts() -> BoardOptions {
        BoardOptions {
            steps: InitOptions {
                loader: "./bundle/bin/open-example".into(),
                loader_args: vec!["$(reboot)".into(), "extra/it's.o".into()],
                workload: Some("echo `id`; cat '/etc/x'".into()),
                attach_secs: 20,
                drain_max_secs: 5,
            },
            payload_size: 12345,
            watchdog_secs: 90,
        }
    }

    #[test]
    fn user_values_reach_the_board_as_data() {
        let s = board_script(&opts());
        assert!(
            s.contains("( './bundle/bin/open-example' '$(reboot)' 'extra/it'\\''s.o' >$D/loader.log 2>&1 &"),
            "{s}"
        );
        assert!(s.contains("sh -c 'echo `id`; cat '\\''/etc/x'\\''' &\n"));
        assert!(s.contains("head -c 12345 >payload.tar\n"));
        assert!(s.contains("[ $n -eq 12345 ]"));
        assert!(s.contains("while [ $i -lt 90 ] && [ -d \"$D\" ]"));
        assert!(s.ends_with("echo \"@@EBPF-CROSS:LOADER-EXIT@@ $(cat $D/loader.rc 2>/dev/null || echo killed)\"\nfinish\n"));
        // The whole script is one single-quoted word to the login shell.
        let argv = client(None).command(&s).argv();
        let last = argv.last().unwrap();
        assert!(last.starts_with("sh -c '# Sent by"));
        assert_eq!(unquote_sh_c(last), s);
    }

    /// Undoes `sh -c '...'` quoting the way a POSIX shell reads it.
    fn unquote_sh_c(word: &str) -> String {
        let q = word.strip_prefix("sh -c ").unwrap();
        let mut out = String::new();
        let mut chars = q.chars().peekable();
        let mut inside = false;
        while let Some(c) = chars.next() {
            match (c, inside) {
                ('\'', _) => inside = !inside,
                ('\\', false) => out.push(chars.next().unwrap()),
                (c, true) => out.push(c),
                (c, false) => panic!("unquoted {c:?} in {q}"),
            }
        }
        assert!(!inside);
        out
    }

    #[test]
    fn default_board_workload_uses_the_run_dir() {
        let mut o = opts();
        o.steps.workload = None;
        let s = board_script(&o);
        assert!(s.contains(&sh_quote(BOARD_WORKLOAD)));
        assert!(!s.contains("/bundle/manifest.json"));
    }

    #[test]
    fn guest_paths_in_loader_args_map_to_the_run_dir() {
        assert_eq!(board_arg("/extra/x.o"), "extra/x.o");
        assert_eq!(board_arg("/bundle/bpf/a.o"), "bundle/bpf/a.o");
        assert_eq!(board_arg("/extrax"), "/extrax");
        assert_eq!(board_arg("-v"), "-v");
    }

    fn facts(lines: &[&str]) -> Facts {
        let mut f = Facts::default();
        let mut c = Copy::default();
        for l in lines {
            take_fact(&mut f, &mut c, l);
        }
        f
    }

    fn good() -> Facts {
        facts(&[
            "dir /tmp/ebpf-cross.AbC123",
            "machine armv7l",
            "release 6.1.0-57-armmp",
            "uid 0",
            "tracefs /sys/kernel/tracing",
            "kconfig none",
            "has head",
            "has tar",
            "has sha256sum",
            "has usleep",
            "has stat",
            "end",
        ])
    }

    fn wanted(release: Option<&'static str>, core: bool, allow: bool) -> Wanted<'static> {
        static M: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        Wanted {
            target: "armv7",
            machines: M.get_or_init(|| vec!["armv7l".into(), "armv8l".into()]),
            release,
            core,
            allow_kernel_mismatch: allow,
        }
    }

    #[test]
    fn facts_parse() {
        let f = good();
        assert_eq!(f.dir.as_deref(), Some("/tmp/ebpf-cross.AbC123"));
        assert_eq!(f.tracefs.as_deref(), Some("/sys/kernel/tracing"));
        assert!(!f.tracefs_mounted && f.end);
        assert_eq!(f.tools, ["head", "tar", "sha256sum", "usleep", "stat"]);
        let f = facts(&["tracefs /sys/kernel/debug/tracing mounted", "tracefs none"]);
        assert_eq!(f.tracefs, None);
        let f = facts(&["tracefs /sys/kernel/debug/tracing mounted"]);
        assert!(f.tracefs_mounted);
    }

    #[test]
    fn a_matching_board_passes_with_a_note_about_its_config() {
        let v = judge(&good(), &wanted(Some("6.1.0-57-armmp"), false, false), "b");
        assert!(v.refusals.is_empty(), "{v:?}");
        assert!(v.warnings.is_empty(), "{v:?}");
        assert_eq!(
            v.notes,
            ["the board has no /proc/config.gz; CONFIG_BPF_SYSCALL and CONFIG_KPROBES were not checked"]
        );
    }

    #[test]
    fn kernel_mismatch_refuses_native_and_warns_core_or_overridden() {
        let native = judge(&good(), &wanted(Some("6.1.0-99-armmp"), false, false), "b");
        assert_eq!(native.refusals.len(), 1);
        assert_eq!(native.refusals[0].0, "the board runs linux 6.1.0-57-armmp, but the bundle was built against 6.1.0-99-armmp in native mode, whose objects fit that kernel only");
        assert!(native.refusals[0].1.contains("--allow-kernel-mismatch"));
        let core = judge(&good(), &wanted(Some("6.1.0-99-armmp"), true, false), "b");
        assert!(core.refusals.is_empty());
        assert_eq!(core.warnings, ["the board runs linux 6.1.0-57-armmp, the bundle was built against 6.1.0-99-armmp; its objects are CO-RE, so they relocate to the board's kernel through its BTF"]);
        let forced = judge(&good(), &wanted(Some("6.1.0-99-armmp"), false, true), "b");
        assert!(forced.refusals.is_empty());
        assert!(forced.warnings[0].contains("(--allow-kernel-mismatch)"));
        let unknown = judge(&good(), &wanted(None, false, false), "b");
        assert!(unknown.refusals.is_empty());
        assert!(unknown.warnings[0].starts_with("the bundle does not record its kernel's release"));
    }

    #[test]
    fn wrong_arch_non_root_no_tracefs_no_bpf_are_refused() {
        let mut f = good();
        f.machine = Some("aarch64".into());
        f.uid = Some("1000".into());
        f.tracefs = None;
        f.kconfig_source = Some("/proc/config.gz".into());
        f.kconfig = vec!["CONFIG_KPROBES=y".into()];
        f.tools.retain(|t| t != "tar");
        let v = judge(&f, &wanted(Some("6.1.0-57-armmp"), false, false), "b");
        let msgs: Vec<&str> = v.refusals.iter().map(|(m, _)| m.as_str()).collect();
        assert_eq!(
            msgs,
            [
                "the board is aarch64 (uname -m), but the bundle is for `armv7` (armv7l, armv8l)",
                "the board's login is not root (uid 1000); loading BPF programs needs root",
                "the board's kernel has no bpf() syscall (/proc/config.gz: CONFIG_BPF_SYSCALL is not set)",
                "the board has no `tar`, which the copy needs",
            ]
        );
        f.uid = Some("0".into());
        let v = judge(&f, &wanted(Some("6.1.0-57-armmp"), false, false), "b");
        assert!(v
            .refusals
            .iter()
            .any(|(m, _)| m.starts_with("the board has no trace_pipe")));
        f.kconfig.push("CONFIG_BPF_SYSCALL=y".into());
        f.kconfig.retain(|l| l != "CONFIG_KPROBES=y");
        let v = judge(&f, &wanted(Some("6.1.0-57-armmp"), false, false), "b");
        assert!(v.warnings.iter().any(|w| w.contains("no kprobes")));
    }

    #[test]
    fn only_dirs_our_script_made_are_cleaned() {
        assert!(is_run_dir("/tmp/ebpf-cross.Ab12Cd"));
        assert!(is_run_dir("/var/tmp/x/ebpf-cross.Z"));
        for bad in [
            "/tmp",
            "/",
            "ebpf-cross.x",
            "/tmp/ebpf-cross.",
            "/tmp/../etc/ebpf-cross.x",
            "/tmp/ebpf-cross.x y",
            "/tmp/ebpf-cross.x;reboot",
            "/tmp/other",
        ] {
            assert!(!is_run_dir(bad), "{bad}");
        }
        let s = cleanup_script("/tmp/ebpf-cross.Ab12Cd");
        assert!(s.contains("rm -rf '/tmp/ebpf-cross.Ab12Cd'\n"));
    }

    #[test]
    fn payload_holds_bundle_extra_and_sums_from_the_manifest() {
        let files = vec![
            crate::bundle::BundleFile {
                path: "bin/x".into(),
                mode: 0o644,
                data: b"ELF".to_vec(),
            },
            crate::bundle::BundleFile {
                path: "manifest.json".into(),
                mode: 0o644,
                data: b"{}".to_vec(),
            },
        ];
        let b = crate::bundle::Bundle {
            top: "x-1-armv7".into(),
            files,
            manifest: crate::bundle::Manifest {
                loader: "bin/x".into(),
                objects: vec![],
                files: vec![crate::bundle::file_entry("bin/x", b"ELF")],
                ..crate::bundle::Manifest::example()
            },
        };
        let (tar, n) = payload(&b, &[("t.o".into(), b"t".to_vec())]).unwrap();
        assert_eq!(n, 3);
        let mut ar = tar::Archive::new(&tar[..]);
        let mut got = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let mut s = String::new();
            use std::io::Read;
            e.read_to_string(&mut s).unwrap();
            got.push((
                e.path().unwrap().display().to_string(),
                e.header().mode().unwrap(),
                s,
            ));
        }
        let sha = crate::fsutil::sha256_hex;
        assert_eq!(
            got,
            [
                ("bundle/bin/x".to_string(), 0o755, "ELF".to_string()),
                ("bundle/manifest.json".into(), 0o644, "{}".into()),
                ("extra/t.o".into(), 0o644, "t".into()),
                (
                    "sums".into(),
                    0o644,
                    format!(
                        "{}  bundle/bin/x\n{}  bundle/manifest.json\n{}  extra/t.o\n",
                        sha(b"ELF"),
                        sha(b"{}"),
                        sha(b"t")
                    )
                ),
            ]
        );
    }

    #[test]
    fn runner_passes_arguments_as_data() {
        let s = runner_script(42, "ab12", &["-v".into(), "$(halt)".into(), "a b".into()]);
        assert!(
            s.contains("\n./program '-v' '$(halt)' 'a b' &\npid=$!\n"),
            "{s}"
        );
        assert!(s.contains("head -c 42 >program\n"));
        assert!(s.contains("echo \"ab12  program\" | sha256sum -c"));
    }

    #[test]
    fn openssh_reasons_and_advice() {
        let changed = "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\nIT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\nHost key verification failed.\n";
        assert_eq!(
            reason(changed),
            "WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!"
        );
        let h = Host::parse("root@board").unwrap();
        assert!(advice(changed, &h, None).contains("`ssh-keygen -R board`"));
        let named = format!("{changed}Offending ED25519 key in /k/known_hosts:1\n  remove with:\n  ssh-keygen -f \"/k/known_hosts\" -R \"[127.0.0.1]:2222\"\n");
        assert!(advice(&named, &h, None)
            .contains("then `ssh-keygen -f \"/k/known_hosts\" -R \"[127.0.0.1]:2222\"` and connect once by hand"));
        let refused = "ssh: connect to host 127.0.0.1 port 9: Connection refused\n";
        assert_eq!(
            reason(refused),
            "ssh: connect to host 127.0.0.1 port 9: Connection refused"
        );
        assert!(advice(refused, &h, None).starts_with("nothing listens there"));
        assert_eq!(reason(""), "ssh printed nothing");
    }
}
