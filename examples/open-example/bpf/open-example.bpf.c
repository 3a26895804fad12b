// SPDX-License-Identifier: GPL-2.0
/*
 * open-example: print the name of every file opened on the board.
 *
 * A kprobe on the kernel's open path reads the file name (the 2nd argument of
 * do_sys_open / do_sys_openat2) and prints it to the trace buffer:
 *
 *     cat /sys/kernel/debug/tracing/trace_pipe
 *     ls-380 [001] d..2 203.410986: 0: file /etc/ld-musl-armhf.path
 *
 * Built by `cargo ebpf-cross` against the board's own kernel headers, with the
 * clang front end running for the board's triple so that `struct pt_regs` and
 * `long` have the board's layout.
 */
#include <linux/version.h>
#include <uapi/linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>

/*
 * PT_REGS_PARM*: older kernels' bpf_helpers.h defines them (without 32-bit ARM
 * before 5.2), libbpf >= 0.0.6 moved them to bpf_tracing.h. cargo ebpf-cross
 * adds the missing ones; the fallbacks below only matter for a hand build.
 */
#if !defined(PT_REGS_PARM2) && defined(__has_include)
#if __has_include(<bpf/bpf_tracing.h>)
#include <bpf/bpf_tracing.h>
#endif
#endif
#ifndef PT_REGS_PARM2
#if defined(__TARGET_ARCH_arm)
#define PT_REGS_PARM2(x) (((const struct pt_regs *)(x))->uregs[1])
#elif defined(__TARGET_ARCH_arm64)
#define PT_REGS_PARM2(x) (((const struct user_pt_regs *)(x))->regs[1])
#else
#error "PT_REGS_PARM2 is not defined for this architecture"
#endif
#endif

#ifndef SEC
#define SEC(name) __attribute__((section(name), used))
#endif

/*
 * Helpers are called through their numeric id. The names are our own so that
 * they never clash with the declarations of an old or a new bpf_helpers.h.
 */
static long (*oe_probe_read_str)(void *dst, __u32 size, const void *src) =
	(void *) BPF_FUNC_probe_read_str;	/* kernel >= 4.11 */
static long (*oe_trace_printk)(const char *fmt, __u32 fmt_size, ...) =
	(void *) BPF_FUNC_trace_printk;

/* do_sys_open is inlined on 6.1: the probe attaches and never fires. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 6, 0)
#define OPEN_PROBE "kprobe/do_sys_openat2"
#else
#define OPEN_PROBE "kprobe/do_sys_open"
#endif

SEC(OPEN_PROBE)
int open_example(struct pt_regs *ctx)
{
	char fmt[] = "file %s\n";
	char filename[256];

	/*
	 * The _str variant stops at the NUL and does not fail when a fixed window
	 * would cross into an unmapped page.
	 */
	if (oe_probe_read_str(filename, sizeof(filename),
			      (const void *) PT_REGS_PARM2(ctx)) < 0)
		filename[0] = '\0';
	oe_trace_printk(fmt, sizeof(fmt), filename);
	return 0;
}

char _license[] SEC("license") = "GPL";
/* Loader convention: "any kernel"; the loader passes the running version. */
__u32 _version SEC("version") = 0xFFFFFFFE;
