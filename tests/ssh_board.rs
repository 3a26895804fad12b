//! Issue 18: `run --ssh HOST` against a real SSH server on a real kernel.
//! The board is a QEMU guest on 32-bit ARM (Debian's armmp 6.1 kernel under
//! `-M virt`) whose initramfs holds only busybox, Debian's armhf dropbear
//! with its libraries, and the virtio network modules from the kernel's own
//! package. It is reached only through QEMU's user network, forwarded from
//! 127.0.0.1, with a host key and a client key made here and an ssh config
//! of the test's own, given to the tool through EBPF_CROSS_SSH_CONFIG
//! (OpenSSH reads ~/.ssh/config from the passwd home, not $HOME).
//!
//! Needs scripts/setup.sh (the kernel, busybox, the board's packages in
//! .fixtures/board/root, dropbearkey, ssh-keygen, ssh); without them these
//! tests fail rather than skip.

use crate::common::*;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use cargo_ebpf_cross::initramfs::Cpio;

/// The board's kernel modules, in load order: virtio-mmio carries the
/// network device on `-M virt`, and virtio_net needs net_failover, which
/// needs failover.
const MODULES: &[&str] = &[
    "kernel/drivers/virtio/virtio_mmio.ko",
    "kernel/net/core/failover.ko",
    "kernel/drivers/net/net_failover.ko",
    "kernel/drivers/net/virtio_net.ko",
];

/// The board's /init: modules, network, dropbear, then nothing. tracefs is
/// left unmounted, as on many boards, so the tool's mount is exercised.
const BOARD_INIT: &str = r#"#!/bin/busybox sh
/bin/busybox mount -t devtmpfs devtmpfs /dev
exec 0</dev/console 1>/dev/console 2>&1
/bin/busybox --install -s /bin
export PATH=/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
for m in $(cat /etc/board-modules); do insmod /lib/modules/$(uname -r)/$m || echo "BOARD-FAIL insmod $m"; done
ifconfig lo 127.0.0.1 up
ifconfig eth0 10.0.2.15 netmask 255.255.255.0 up || echo "BOARD-FAIL eth0"
route add default gw 10.0.2.2
# -F foreground, -E log to the console, -s no passwords, -j -k no
# forwarding, -r the test's host key.
dropbear -F -E -s -j -k -p 22 -r /etc/dropbear/host_key &
echo "BOARD-READY $(uname -r)"
while true; do sleep 3600; done
"#;

struct Board {
    dir: PathBuf,
    port: u16,
    /// The ssh config whose `board` alias reaches the guest.
    config: PathBuf,
    known_hosts: PathBuf,
    console: PathBuf,
    boot_seconds: f64,
}

/// The board, and the suite's one guest: no other file's QEMU guest runs
/// beside a test on the board, which compares its seconds with QEMU's.
struct OnBoard {
    _guest: MutexGuard<'static, ()>,
    board: MutexGuard<'static, Board>,
}

impl std::ops::Deref for OnBoard {
    type Target = Board;
    fn deref(&self) -> &Board {
        &self.board
    }
}

/// One board for the whole file, and one test on it at a time: the checks
/// look at what is left running on it.
fn board() -> OnBoard {
    static B: OnceLock<Mutex<Board>> = OnceLock::new();
    // The guest lock first, always, so two tests never hold one each.
    let guest = one_guest();
    OnBoard {
        _guest: guest,
        board: B
            .get_or_init(|| Mutex::new(boot_board()))
            .lock()
            .unwrap_or_else(|p| p.into_inner()),
    }
}

fn run_ok(c: &mut Command) -> String {
    let o = c.output().unwrap_or_else(|e| panic!("{c:?}: {e}"));
    assert!(
        o.status.success(),
        "{c:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn board_root() -> PathBuf {
    let r = PathBuf::from(fx("EBPF_CROSS_BOARD_ROOT"));
    assert!(
        r.join("usr/sbin/dropbear").is_file(),
        "{} has no usr/sbin/dropbear: run scripts/setup.sh",
        r.display()
    );
    r
}

/// Adds `from` (a file of the board's unpacked packages) at `to`,
/// following symlinks so the guest gets the bytes.
fn add_file(c: &mut Cpio, from: &Path, to: &str, mode: u32) {
    let data = std::fs::read(from).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    c.file(to, mode, data).unwrap();
}

fn initramfs(dir: &Path, host_key: &[u8], authorized: &str) -> PathBuf {
    let root = board_root();
    let release = fx("EBPF_CROSS_ARMHF_ABI") + "-armmp";
    let mut c = Cpio::new();
    for d in [
        "bin",
        "dev",
        "proc",
        "sys",
        "etc/dropbear",
        "usr/sbin",
        "var/log",
    ] {
        c.dir(d, 0o755).unwrap();
    }
    c.dir("tmp", 0o1777).unwrap();
    c.dir("root", 0o700).unwrap();
    c.dir("root/.ssh", 0o700).unwrap();
    add_file(
        &mut c,
        Path::new(&fx("EBPF_CROSS_ARMHF_BUSYBOX")),
        "bin/busybox",
        0o755,
    );
    c.symlink("bin/sh", "busybox").unwrap();
    c.file("init", 0o755, BOARD_INIT.as_bytes().to_vec())
        .unwrap();
    // pi: a login that is not root, for the preflight's refusal.
    c.file(
        "etc/passwd",
        0o644,
        b"root:x:0:0:root:/root:/bin/sh\npi:x:1000:1000:pi:/home/pi:/bin/sh\n".to_vec(),
    )
    .unwrap();
    c.file("etc/group", 0o644, b"root:x:0:\n".to_vec()).unwrap();
    c.file("etc/shells", 0o644, b"/bin/sh\n".to_vec()).unwrap();
    c.file(
        "etc/nsswitch.conf",
        0o644,
        b"passwd: files\ngroup: files\nshadow: files\n".to_vec(),
    )
    .unwrap();
    c.file("etc/hostname", 0o644, b"board\n".to_vec()).unwrap();
    c.file("etc/board-modules", 0o644, MODULES.join("\n").into_bytes())
        .unwrap();
    c.file("etc/dropbear/host_key", 0o600, host_key.to_vec())
        .unwrap();
    c.dir("home/pi/.ssh", 0o755).unwrap();
    c.file(
        "home/pi/.ssh/authorized_keys",
        0o644,
        authorized.as_bytes().to_vec(),
    )
    .unwrap();
    c.file(
        "root/.ssh/authorized_keys",
        0o600,
        authorized.as_bytes().to_vec(),
    )
    .unwrap();
    add_file(
        &mut c,
        &root.join("usr/sbin/dropbear"),
        "usr/sbin/dropbear",
        0o755,
    );
    // The loader and libraries dropbear links against, where Debian's
    // armhf ld.so looks for them.
    for lib_dir in ["lib/arm-linux-gnueabihf", "usr/lib/arm-linux-gnueabihf"] {
        for e in std::fs::read_dir(root.join(lib_dir)).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            let wanted = [
                "ld-linux-armhf.so.3",
                "libc.so.6",
                "libcrypt.so.1",
                "libz.so.1",
                "libtomcrypt.so.1",
                "libtommath.so.1",
                "libgmp.so.10",
                "libgcc_s.so.1",
            ];
            if wanted.contains(&name.as_str()) {
                add_file(&mut c, &e.path(), &format!("{lib_dir}/{name}"), 0o755);
            }
        }
    }
    c.symlink(
        "lib/ld-linux-armhf.so.3",
        "arm-linux-gnueabihf/ld-linux-armhf.so.3",
    )
    .unwrap();
    for m in MODULES {
        add_file(
            &mut c,
            &root.join(format!("lib/modules/{release}/{m}")),
            &format!("lib/modules/{release}/{m}"),
            0o644,
        );
    }
    let p = dir.join("board.cpio.gz");
    std::fs::write(&p, c.to_gzip()).unwrap();
    p
}

fn boot_board() -> Board {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ssh-board");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // The board's host key, made by dropbear's own tool; its public half
    // goes in known_hosts.
    let host_key = dir.join("host_key");
    let out = run_ok(
        Command::new("dropbearkey")
            .args(["-t", "ed25519", "-f"])
            .arg(&host_key),
    );
    let host_pub = out
        .lines()
        .find(|l| l.starts_with("ssh-ed25519 "))
        .expect("dropbearkey prints the public key")
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let id = dir.join("id_ed25519");
    run_ok(
        Command::new("ssh-keygen")
            .args([
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "ebpf-cross-test",
                "-f",
            ])
            .arg(&id),
    );
    let authorized = std::fs::read_to_string(dir.join("id_ed25519.pub")).unwrap();
    let initrd = initramfs(&dir, &std::fs::read(&host_key).unwrap(), &authorized);

    let port = free_port();
    let known_hosts = dir.join("known_hosts");
    std::fs::write(&known_hosts, format!("[127.0.0.1]:{port} {host_pub}\n")).unwrap();
    let config = dir.join("ssh_config");
    std::fs::write(
        &config,
        format!(
            "Host board\n  HostName 127.0.0.1\n  Port {port}\n  User root\n  IdentityFile {id}\n  IdentitiesOnly yes\n  UserKnownHostsFile {kh}\n  GlobalKnownHostsFile /dev/null\n",
            id = id.display(),
            kh = known_hosts.display()
        ),
    )
    .unwrap();

    let console = dir.join("console.log");
    let t = Instant::now();
    let mut qemu = Command::new("qemu-system-arm");
    qemu.args(["-M", "virt", "-cpu", "cortex-a15", "-m", "512", "-smp", "1"])
        .args(["-display", "none", "-monitor", "none", "-no-reboot"])
        .arg("-serial")
        .arg(format!("file:{}", console.display()))
        .arg("-kernel")
        .arg(fx("EBPF_CROSS_ARMHF_IMAGE"))
        .arg("-initrd")
        .arg(&initrd)
        .args(["-append", "console=ttyAMA0 rdinit=/init quiet panic=-1"])
        // The only way in: user networking, forwarded from 127.0.0.1, and
        // the guest reaches nothing outside (restrict=on).
        .arg("-netdev")
        .arg(format!(
            "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:22"
        ))
        .args(["-device", "virtio-net-device,netdev=n0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    spawn_for_the_process(qemu);
    let deadline = t + Duration::from_secs(240);
    loop {
        let log = std::fs::read_to_string(&console).unwrap_or_default();
        if log.contains("BOARD-READY") {
            assert!(!log.contains("BOARD-FAIL"), "{log}");
            break;
        }
        assert!(Instant::now() < deadline, "the board did not boot:\n{log}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let b = Board {
        dir,
        port,
        config,
        known_hosts,
        console,
        boot_seconds: t.elapsed().as_secs_f64(),
    };
    // dropbear may take a moment after the line; wait until a login works.
    let t = Instant::now();
    loop {
        let o = ssh_out(&b, "echo up");
        if o.trim() == "up" {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "no login on the board: {o}\n{}",
            std::fs::read_to_string(&b.console).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!("[bench] board booted in {:.1}s", b.boot_seconds);
    b
}

/// QEMU lives as long as this test process: it is started from a thread
/// that never ends, and asks the kernel for SIGKILL when that thread (so,
/// the process) goes.
fn spawn_for_the_process(mut c: Command) {
    use std::os::unix::process::CommandExt;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        unsafe {
            c.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = c.spawn().expect("qemu-system-arm (run scripts/setup.sh)");
        let mut err = child.stderr.take().unwrap();
        tx.send(()).unwrap();
        let st = child.wait();
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        eprintln!("the board's QEMU ended: {st:?} {s}");
        loop {
            std::thread::park();
        }
    });
    rx.recv().unwrap();
}

/// A command on the board, through the test's own ssh (not the tool).
fn ssh_out(b: &Board, remote: &str) -> String {
    let o = Command::new("ssh")
        .arg("-F")
        .arg(&b.config)
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=10",
            "board",
            remote,
        ])
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        if o.status.success() {
            String::new()
        } else {
            format!("(ssh failed: {})", String::from_utf8_lossy(&o.stderr))
        }
    )
}

/// What of ours is still on the board: processes of the loader or of our
/// script, and run directories.
fn leftovers(b: &Board) -> Vec<String> {
    let ps = ssh_out(
        b,
        "ps -o pid,args; echo; ls -d /tmp/ebpf-cross.* 2>/dev/null; true",
    );
    ps.lines()
        .filter(|l| {
            (l.contains("open-example") || l.contains("ebpf-cross"))
                && !l.contains("ps -o pid,args")
        })
        .map(str::to_string)
        .collect()
}

/// Leftovers, given the board a few seconds to finish cleaning up (the
/// watchdog's last `sleep 1` may linger that long).
fn assert_clean(b: &Board) {
    let t = Instant::now();
    loop {
        let l = leftovers(b);
        if l.is_empty() {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "left on the board: {l:#?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

// ---------------------------------------------------------------------------
// The bundle

/// The example's armv7 bundle, built by the tool against the board's
/// kernel tree.
fn bundle() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let e = shared_example("ssh-open-example");
        let r = tool(
            e,
            &[
                "build",
                "--target",
                "armv7",
                "--kernel-src",
                &fx_dir("EBPF_CROSS_ARMHF_SRC"),
                "--kernel-build",
                &fx_dir("EBPF_CROSS_ARMHF_BUILD"),
                "--release",
                "--locked",
                "--target-dir",
                shared_target().to_str().unwrap(),
                "--message-format",
                "json",
            ],
            &[],
        );
        r.ok();
        bundle_path(&r.stdout)
    })
    .clone()
}

/// The same bundle with its manifest saying it was built for another
/// kernel release (and mode): what a board on another kernel looks like to
/// the preflight, which reads only the manifest and `uname -r`.
fn bundle_claiming(release: &str, mode: &str) -> PathBuf {
    use cargo_ebpf_cross::bundle::{self, Bundle, Content};
    let b = Bundle::open(&bundle()).unwrap();
    let mut m = b.manifest.clone();
    m.kernel_release = Some(release.into());
    m.bpf_mode = Some(mode.into());
    let contents: Vec<Content> = b
        .files
        .iter()
        .filter(|f| f.path != "manifest.json")
        .map(|f| Content {
            path: f.path.clone(),
            bytes: f.data.clone(),
            executable: f.path == m.loader,
        })
        .collect();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("ssh-bundle-{release}-{mode}"));
    bundle::write(&dir, &b.top, &m, contents).unwrap().0
}

struct Verdict {
    run: Run,
    report: Option<RunReport>,
    wall: f64,
}

fn run_on(b: &Board, host: &str, bundle: &Path, more: &[&str]) -> Verdict {
    let mut args = vec![
        "run",
        "--target",
        "armv7",
        "--ssh",
        host,
        "--bundle",
        bundle.to_str().unwrap(),
        "--message-format",
        "json",
    ];
    args.extend_from_slice(more);
    let config = b.config.display().to_string();
    let t = Instant::now();
    let r = tool(
        &repo(),
        &args,
        &[
            ("EBPF_CROSS_SSH_CONFIG", config.as_str()),
            ("SSH_AUTH_SOCK", ""),
        ],
    );
    let wall = t.elapsed().as_secs_f64();
    let report = run_report(&r.stdout);
    Verdict {
        run: r,
        report,
        wall,
    }
}

// ---------------------------------------------------------------------------
// The checks

#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn the_examples_probe_lines_come_back_from_the_board_and_expect_passes() {
    let bundle = bundle();
    let b = board();
    let v = run_on(&b, "board", &bundle, &["--expect", "file /"]);
    eprintln!("{}", v.run.stderr);
    v.run.ok();
    let r = v.report.as_ref().expect("a run report");
    assert!(r.passed, "{r:?}");
    assert!(r.attached, "{r:?}");
    assert_eq!(r.matched, ["file /"]);
    assert_eq!(
        r.kernel.as_deref(),
        Some(format!("{}-armmp", fx("EBPF_CROSS_ARMHF_ABI")).as_str())
    );
    assert!(!r.timed_out);
    assert!(r.trace_lines > 0, "{r:?}");
    let e = &v.run.stderr;
    let connected = format!(
        "Connected board: linux {}-armmp (armv7l)",
        fx("EBPF_CROSS_ARMHF_ABI")
    );
    for want in [
        connected.as_str(),
        "note: mounted /sys/kernel/tracing for this run (unmounted after)",
        "Copied 3 files, sha256 verified on the board (3 checked against the manifest)",
        "Running loader",
        "bpf_trace_printk: file /",
        "Passed armv7 on linux 6.1.0-",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
    eprintln!(
        "[bench] run --ssh (QEMU board): {}s to the verdict, wall {:.1}s",
        r.seconds, v.wall
    );
    assert_clean(&b);
    // tracefs was mounted for the run only.
    assert_eq!(
        ssh_out(&b, "grep -c ' /sys/kernel/tracing ' /proc/mounts || true").trim(),
        "0"
    );
}

#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn a_miss_fails_with_exit_1_and_no_loader_is_left_on_the_board() {
    let bundle = bundle();
    let b = board();
    let v = run_on(&b, "board", &bundle, &["--expect", "never printed"]);
    assert_eq!(v.run.code, 1, "{}", v.run.stderr);
    let r = v.report.as_ref().expect("a run report");
    assert!(!r.passed);
    assert!(r.attached, "{r:?}");
    assert_eq!(r.missing, ["never printed"]);
    let e = &v.run.stderr;
    for want in [
        "run report for armv7:",
        "probe attached: yes",
        "board output tail (last",
        "error: run failed on armv7: no trace line held \"never printed\"",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
    assert_clean(&b);
}

#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn ctrl_c_exits_130_and_leaves_nothing_on_the_board() {
    let bundle = bundle();
    let b = board();
    let mut c = Command::new(bin());
    c.current_dir(repo())
        .args(["run", "--target", "armv7", "--ssh", "board", "--bundle"])
        .arg(&bundle)
        .args(["--workload", "sleep 100", "--timeout", "200"])
        .env("EBPF_CROSS_SSH_CONFIG", &b.config)
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    sandbox_env(&mut c);
    let mut child = c.spawn().unwrap();
    // Wait until the workload runs on the board, then press Ctrl-C.
    let mut err = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut all = String::new();
        while let Ok(n) = err.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.push_str(&String::from_utf8_lossy(&buf[..n]));
            let _ = tx.send(all.clone());
        }
    });
    let t = Instant::now();
    let mut seen = String::new();
    while !seen.contains("Tracing workload: sleep 100") {
        assert!(t.elapsed() < Duration::from_secs(120), "{seen}");
        if let Ok(s) = rx.recv_timeout(Duration::from_millis(200)) {
            seen = s;
        }
    }
    assert!(
        !leftovers(&b).is_empty(),
        "the run is on the board before the interrupt"
    );
    // SAFETY: the pid of our own child, not yet reaped.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let pressed = Instant::now();
    let st = child.wait().unwrap();
    let took = pressed.elapsed().as_secs_f64();
    while let Ok(s) = rx.recv_timeout(Duration::from_millis(500)) {
        seen = s;
    }
    assert_eq!(st.code(), Some(130), "{seen}");
    assert!(seen.contains("error: run on armv7 interrupted"), "{seen}");
    assert!(
        seen.contains("help: the run on the board was stopped"),
        "{seen}"
    );
    assert!(!seen.contains("did not confirm its cleanup"), "{seen}");
    eprintln!("[bench] Ctrl-C to exit: {took:.1}s");
    // It does not hang: the follow-up connection waits 5 s at most.
    assert!(took < 30.0, "{took}");
    // Nothing left, at once: the tool waited for the board to clean up.
    assert!(leftovers(&b).is_empty(), "{:#?}", leftovers(&b));
}

/// A bundle whose loader is only an ARM ELF header: enough for the checks
/// made before any connection, for the tests that never get that far.
fn header_only_bundle() -> PathBuf {
    use cargo_ebpf_cross::bundle::{self, Content, Manifest};
    let mut elf = vec![0u8; 52 + 32];
    elf[..4].copy_from_slice(b"\x7fELF");
    elf[4] = 1;
    elf[5] = 1;
    elf[18..20].copy_from_slice(&40u16.to_le_bytes());
    let contents = vec![Content {
        path: "bin/loader".into(),
        bytes: elf,
        executable: true,
    }];
    let m = Manifest {
        tool: "cargo-ebpf-cross".into(),
        tool_version: "0.1.0".into(),
        package: "loader".into(),
        package_version: "0.1.0".into(),
        target: "armv7".into(),
        base_target: "armv7".into(),
        arch: "arm".into(),
        rust_target: "armv7-unknown-linux-gnueabihf".into(),
        clang_target: "armv7a-linux-gnueabihf".into(),
        endian: "little".into(),
        kernel_version: Some("6.1.192".into()),
        reference_kernel: None,
        kernel_release: Some("6.1.0-57-armmp".into()),
        bpf_mode: Some("native".into()),
        llvm_version: "14.0.6".into(),
        loader: "bin/loader".into(),
        objects: vec![],
        btf: Vec::new(),
        files: contents
            .iter()
            .map(|c| bundle::file_entry(&c.path, &c.bytes))
            .collect(),
    };
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ssh-header-only");
    bundle::write(&dir, "loader-0.1.0-armv7", &m, contents)
        .unwrap()
        .0
}

#[test]
fn an_unreachable_port_fails_clearly_within_the_connect_timeout() {
    let bundle = header_only_bundle();
    let b = bundle.to_str().unwrap();
    // Nothing listens: refused at once.
    let port = free_port();
    let host = format!("ssh://root@127.0.0.1:{port}");
    let r = tool(
        &repo(),
        &[
            "run",
            "--target",
            "armv7",
            "--ssh",
            &host,
            "--bundle",
            b,
            "--connect-timeout",
            "3",
        ],
        &[("SSH_AUTH_SOCK", "")],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    r.says(&format!(
        "error: ssh to {host} failed (exit status: 255): ssh: connect to host 127.0.0.1 port {port}: Connection refused\n"
    ));
    r.says("help: nothing listens there: check the host and port");

    // Something accepts the connection but never speaks SSH: ssh gives up
    // at its ConnectTimeout, which covers the banner exchange too.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let host = format!("ssh://root@127.0.0.1:{port}");
    let t = Instant::now();
    let r = tool(
        &repo(),
        &[
            "run",
            "--target",
            "armv7",
            "--ssh",
            &host,
            "--bundle",
            b,
            "--connect-timeout",
            "3",
        ],
        &[("SSH_AUTH_SOCK", "")],
    );
    let took = t.elapsed().as_secs_f64();
    drop(silent);
    assert_eq!(r.code, 1, "{}", r.stderr);
    r.says(&format!(
        "error: ssh to {host} failed (exit status: 255): Connection timed out during banner exchange\n"
    ));
    r.says("help: the board did not answer within the connect timeout");
    // It waited for the timeout (not a failure of another kind), and not
    // much longer.
    assert!(
        (3.0..20.0).contains(&took),
        "took {took:.1}s with --connect-timeout 3"
    );
}

#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn a_wrong_host_key_is_refused_and_known_hosts_is_unchanged() {
    let bundle = bundle();
    let b = board();
    // Another key for the board's address: what a changed (or spoofed)
    // board looks like.
    let other = b.dir.join("other_key");
    let _ = std::fs::remove_file(&other);
    let _ = std::fs::remove_file(other.with_extension("pub"));
    run_ok(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "x", "-f"])
            .arg(&other),
    );
    let other_pub = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let other_pub: Vec<&str> = other_pub.split_whitespace().take(2).collect();
    let config = std::fs::read_to_string(&b.config).unwrap();
    for (case, known) in [
        (
            "changed",
            format!("[127.0.0.1]:{} {}\n", b.port, other_pub.join(" ")),
        ),
        ("unknown", String::new()),
    ] {
        let kh = b.dir.join(format!("known_hosts_{case}"));
        std::fs::write(&kh, &known).unwrap();
        let cfg = b.dir.join(format!("ssh_config_{case}"));
        std::fs::write(
            &cfg,
            config.replace(
                &b.known_hosts.display().to_string(),
                &kh.display().to_string(),
            ),
        )
        .unwrap();
        let cfg_s = cfg.display().to_string();
        let r = tool(
            &repo(),
            &[
                "run",
                "--target",
                "armv7",
                "--ssh",
                "board",
                "--bundle",
                bundle.to_str().unwrap(),
            ],
            &[
                ("EBPF_CROSS_SSH_CONFIG", cfg_s.as_str()),
                ("SSH_AUTH_SOCK", ""),
            ],
        );
        assert_eq!(r.code, 1, "{case}: {}", r.stderr);
        match case {
            "changed" => {
                r.says("error: ssh to board failed (exit status: 255): WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!\n");
                r.says("  | Host key verification failed.\n");
                r.says("help: the board's host key is not the one known_hosts holds for it, so ssh refused.");
                r.says(&format!(
                    "then `ssh-keygen -f \"{}\" -R \"[127.0.0.1]:{}\"` and connect once by hand",
                    kh.display(),
                    b.port
                ));
            }
            _ => {
                r.says("error: ssh to board failed (exit status: 255): Host key verification failed.\n");
                r.says("help: known_hosts has no key for the board, and nothing can be asked here (BatchMode)");
            }
        }
        r.lacks("Copied");
        assert_eq!(
            std::fs::read_to_string(&kh).unwrap(),
            known,
            "{case}: known_hosts changed"
        );
    }
    assert_clean(&b);
}

#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn a_board_on_another_kernel_is_refused_in_native_mode_and_warned_in_core_mode() {
    let abi = fx("EBPF_CROSS_ARMHF_ABI");
    let native = bundle_claiming("6.1.0-99-armmp", "native");
    let core = bundle_claiming("6.1.0-99-armmp", "core");
    let b = board();

    let v = run_on(&b, "board", &native, &["--expect", "file /"]);
    assert_eq!(v.run.code, 1, "{}", v.run.stderr);
    assert!(
        v.report.is_none(),
        "refused before running: {}",
        v.run.stdout
    );
    v.run.says(&format!(
        "error: board cannot run this bundle: the board runs linux {abi}-armmp, but the bundle was built against 6.1.0-99-armmp in native mode, whose objects fit that kernel only\n"
    ));
    v.run.says(&format!("help: build against the board's own kernel tree (its UTS_RELEASE is {abi}-armmp), use CO-RE mode ([bpf] mode = \"core\"), or pass --allow-kernel-mismatch to run anyway"));
    v.run.lacks("Copied");
    assert_clean(&b);

    let v = run_on(
        &b,
        "board",
        &native,
        &["--expect", "file /", "--allow-kernel-mismatch"],
    );
    v.run.ok();
    v.run.says(&format!("warning: the board runs linux {abi}-armmp, the bundle was built against 6.1.0-99-armmp in native mode; running anyway (--allow-kernel-mismatch)"));
    assert!(v.report.as_ref().unwrap().passed);

    let v = run_on(&b, "board", &core, &["--expect", "file /"]);
    v.run.ok();
    v.run.says(&format!("warning: the board runs linux {abi}-armmp, the bundle was built against 6.1.0-99-armmp; its objects are CO-RE, so they relocate to the board's kernel through its BTF\n"));
    assert!(v.report.as_ref().unwrap().passed);
    assert_clean(&b);
}

/// The issue's measure: seconds from command to verdict on the board,
/// against `run` under QEMU on the same kernel with the same bundle (the
/// goal is at most 2 s more), printed as `[bench]` lines.
#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn seconds_to_the_verdict_over_ssh_against_qemu_run() {
    let bundle = bundle();
    let b = board();
    let mut ssh = Vec::new();
    let mut qemu = Vec::new();
    // Interleaved rounds, so a busy moment of the shared machine hits both.
    for _ in 0..3 {
        let v = run_on(&b, "board", &bundle, &["--expect", "file /"]);
        v.run.ok();
        ssh.push(v.report.unwrap().seconds);
        let image = fx("EBPF_CROSS_ARMHF_IMAGE");
        let busybox = fx("EBPF_CROSS_ARMHF_BUSYBOX");
        let r = tool(
            &repo(),
            &[
                "run",
                "--target",
                "armv7",
                "--bundle",
                bundle.to_str().unwrap(),
                "--kernel-image",
                &image,
                "--busybox",
                &busybox,
                "--expect",
                "file /",
                "--message-format",
                "json",
            ],
            &[],
        );
        r.ok();
        qemu.push(run_report(&r.stdout).unwrap().seconds);
    }
    eprintln!("[bench] seconds to the verdict: run --ssh {ssh:?}, run (QEMU) {qemu:?}");
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (s, q) = (median(&mut ssh), median(&mut qemu));
    // A figure, not a bound: a loaded machine must not fail the suite (the
    // issue's goal, at most 2 s over `run`, is read off these lines).
    eprintln!(
        "[bench] medians: run --ssh {s}s, run (QEMU) {q}s ({:+.2}s)",
        s - q
    );
}

#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn a_timeout_fails_and_the_board_cleans_up() {
    let bundle = bundle();
    let b = board();
    let v = run_on(
        &b,
        "board",
        &bundle,
        &["--workload", "sleep 100", "--timeout", "12"],
    );
    assert_eq!(v.run.code, 1, "{}", v.run.stderr);
    let r = v.report.as_ref().expect("a run report");
    assert!(r.timed_out, "{r:?}");
    assert!(!r.passed);
    v.run
        .says("error: run failed on armv7: timed out after 12s; no trace line was seen");
    // The board confirmed its cleanup within the grace the host gives it.
    v.run.lacks("did not confirm");
    assert!(leftovers(&b).is_empty(), "{:#?}", leftovers(&b));
}

/// The host vanishes without a word (SIGKILL: no handler runs; the kernel
/// kills ssh with it): the board sees its stdin close and ends the run by
/// itself.
#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn a_dropped_connection_ends_the_run_on_the_board_by_itself() {
    let bundle = bundle();
    let b = board();
    let mut c = Command::new(bin());
    c.current_dir(repo())
        .args(["run", "--target", "armv7", "--ssh", "board", "--bundle"])
        .arg(&bundle)
        .args(["--workload", "sleep 100", "--timeout", "200"])
        .env("EBPF_CROSS_SSH_CONFIG", &b.config)
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    sandbox_env(&mut c);
    let mut child = c.spawn().unwrap();
    let mut err = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut all = String::new();
        while let Ok(n) = err.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.push_str(&String::from_utf8_lossy(&buf[..n]));
            let _ = tx.send(all.clone());
        }
    });
    let t = Instant::now();
    let mut seen = String::new();
    while !seen.contains("Tracing workload: sleep 100") {
        assert!(t.elapsed() < Duration::from_secs(120), "{seen}");
        if let Ok(s) = rx.recv_timeout(Duration::from_millis(200)) {
            seen = s;
        }
    }
    assert!(!leftovers(&b).is_empty(), "the run is on the board");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_clean(&b);
}

/// The example's loader, out of its bundle, as cargo would hand it to a
/// runner.
fn loader_exe() -> PathBuf {
    use cargo_ebpf_cross::bundle::Bundle;
    let b = Bundle::open(&bundle()).unwrap();
    let f = b.file(&b.manifest.loader).unwrap();
    let p = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ssh-runner-open-example");
    std::fs::write(&p, &f.data).unwrap();
    p
}

fn runner(b: &Board, args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.current_dir(repo())
        .args(["runner", "--ssh", "board"])
        .args(args);
    sandbox_env(&mut c);
    c.env("EBPF_CROSS_SSH_CONFIG", &b.config)
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::null());
    c
}

/// `target.<triple>.runner = ["cargo-ebpf-cross", "runner", "--ssh", HOST]`:
/// the program's output and exit status come back as its own; Ctrl-C stops
/// it on the board.
#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn the_cargo_runner_runs_a_program_on_the_board_with_its_status() {
    let exe = loader_exe();
    let exe = exe.to_str().unwrap();
    let b = board();
    let o = runner(&b, &[exe, "--version"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "open-example 0.1.0\n");
    let o = runner(&b, &[exe, "--frob"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "open-example: unknown option '--frob'\nTry 'open-example --help' for more information.\n"
    );
    assert_clean(&b);

    let mut child = runner(&b, &[exe])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut all = String::new();
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.push_str(&String::from_utf8_lossy(&buf[..n]));
            let _ = tx.send(all.clone());
        }
    });
    let t = Instant::now();
    let mut seen = String::new();
    while !seen.contains("running; press Ctrl-C to stop") {
        assert!(t.elapsed() < Duration::from_secs(60), "{seen}");
        if let Ok(s) = rx.recv_timeout(Duration::from_millis(200)) {
            seen = s;
        }
    }
    assert!(seen.contains("attached kprobe/do_sys_openat2"), "{seen}");
    assert!(!leftovers(&b).is_empty(), "the loader runs on the board");
    // SAFETY: the pid of our own child, not yet reaped.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(130));
    assert_clean(&b);
}

/// The link hangs without closing (the host and its ssh frozen, as behind
/// a pulled cable): no end of stdin ever reaches the board, and its own
/// watchdog ends the run --timeout + 30 s after it began.
#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn a_hung_link_is_ended_by_the_boards_watchdog() {
    let bundle = bundle();
    let b = board();
    let mut c = Command::new(bin());
    c.current_dir(repo())
        .args(["run", "--target", "armv7", "--ssh", "board", "--bundle"])
        .arg(&bundle)
        .args(["--workload", "sleep 100", "--timeout", "10"])
        .env("EBPF_CROSS_SSH_CONFIG", &b.config)
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    sandbox_env(&mut c);
    let mut child = c.spawn().unwrap();
    let mut err = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut all = String::new();
        while let Ok(n) = err.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.push_str(&String::from_utf8_lossy(&buf[..n]));
            let _ = tx.send(all.clone());
        }
    });
    let t = Instant::now();
    let mut seen = String::new();
    while !seen.contains("Tracing workload: sleep 100") {
        assert!(t.elapsed() < Duration::from_secs(60), "{seen}");
        if let Ok(s) = rx.recv_timeout(Duration::from_millis(100)) {
            seen = s;
        }
    }
    // Freeze the tool and its ssh (the tool's only child).
    let pid = child.id();
    let mut frozen = vec![pid as i32];
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let kids =
            std::fs::read_to_string(task.unwrap().path().join("children")).unwrap_or_default();
        frozen.extend(
            kids.split_whitespace()
                .filter_map(|k| k.parse::<i32>().ok()),
        );
    }
    assert!(frozen.len() >= 2, "ssh is the tool's child: {frozen:?}");
    for p in &frozen {
        // SAFETY: our child and its own child, both alive (frozen, not
        // reaped) until the SIGKILL below.
        unsafe {
            libc::kill(*p, libc::SIGSTOP);
        }
    }
    let frozen_at = Instant::now();
    assert!(!leftovers(&b).is_empty(), "the run is on the board");
    let mut gone_after = None;
    while frozen_at.elapsed() < Duration::from_secs(120) {
        if leftovers(&b).is_empty() {
            gone_after = Some(frozen_at.elapsed().as_secs_f64());
            break;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let gone_after = gone_after.expect("the board's watchdog did not end the run");
    eprintln!("[bench] hung link: the board was clean {gone_after:.0}s after the freeze");
    // The watchdog counts from the script's start, a few seconds before
    // the freeze: --timeout 10 + 30.
    assert!(gone_after > 20.0, "ended before the watchdog: {gone_after}");
}

/// `--extra` and `-- LOADER ARGS` as for the QEMU run: the object lands in
/// the run directory's extra/, and the guest path `/extra/x.o` names it.
#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn an_extra_object_named_as_in_the_guest_runs_on_the_board() {
    let objs = shared_target().join("ssh-objects");
    tool(
        &repo(),
        &[
            "compile",
            "--target",
            "armv7",
            "--kernel-src",
            &fx_dir("EBPF_CROSS_ARMHF_SRC"),
            "--kernel-build",
            &fx_dir("EBPF_CROSS_ARMHF_BUILD"),
            repo()
                .join("tests/bpf/tp_legacy_map.bpf.c")
                .to_str()
                .unwrap(),
            "-o",
            &format!("{}/", objs.display()),
        ],
        &[],
    )
    .ok();
    let obj = objs.join("tp_legacy_map.o");
    let bundle = bundle();
    let b = board();
    let v = run_on(
        &b,
        "board",
        &bundle,
        &[
            "--extra",
            obj.to_str().unwrap(),
            "--expect",
            "tp openat count",
            "--",
            "/extra/tp_legacy_map.o",
        ],
    );
    v.run.ok();
    assert!(v.report.as_ref().unwrap().passed);
    v.run
        .says("Copied 4 files, sha256 verified on the board (4 checked: the bundle's against its manifest, 1 --extra against the host's)");
    v.run
        .says("attached tracepoint/syscalls/sys_enter_openat (tp_legacy_map.o)");
    assert_clean(&b);
}

#[test]
#[ignore = "tier: qemu (scripts/setup.sh)"]
fn a_login_that_is_not_root_is_refused_before_anything_is_copied() {
    let bundle = bundle();
    let b = board();
    let v = run_on(&b, "pi@board", &bundle, &["--expect", "file /"]);
    assert_eq!(v.run.code, 1, "{}", v.run.stderr);
    assert!(
        v.report.is_none(),
        "refused before running: {}",
        v.run.stdout
    );
    v.run.says("error: pi@board cannot run this bundle: the board's login is not root (uid 1000); loading BPF programs needs root\n");
    v.run.says(
        "help: log in as root: `User root` for pi@board in ~/.ssh/config, or --ssh root@HOST",
    );
    v.run.lacks("Copied");
    assert_clean(&b);
}
