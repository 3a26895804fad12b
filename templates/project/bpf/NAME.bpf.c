// SPDX-License-Identifier: GPL-2.0-only
/*
 * {{name}}: print the name of every file opened on the board.
 *
 * `cargo ebpf-cross build` compiles this against the board's own kernel
 * tree, with clang running for the board's CPU so that `struct pt_regs` has
 * the board's layout. It is written to build on any kernel from 4.11 (the
 * first with bpf_probe_read_str) to current 6.x. On the board:
 *
 *     cat /sys/kernel/debug/tracing/trace_pipe
 *     ls-380 [001] d..2 203.410986: 0: file /etc/passwd
 */
#include <linux/version.h>
#include <uapi/linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>

/*
 * PT_REGS_PARM2 lives in bpf_helpers.h on old kernels and in bpf_tracing.h
 * on libbpf-era ones; 32-bit ARM only got it in 5.2, and cargo ebpf-cross
 * supplies it for older trees. The fallbacks matter only for a hand build.
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
#error "PT_REGS_PARM2 is not defined for this architecture: add it here"
#endif
#endif

#ifndef SEC
#define SEC(name) __attribute__((section(name), used))
#endif

/*
 * Each kernel era's helper header declares the helpers differently, so call
 * them through their numeric ids (kernel ABI, stable) under names of our own
 * that cannot clash with any of those declarations.
 */
static long (*probe_read_str_)(void *dst, __u32 size, const void *src) =
	(void *) BPF_FUNC_probe_read_str;
static long (*trace_printk_)(const char *fmt, __u32 fmt_size, ...) =
	(void *) BPF_FUNC_trace_printk;

/*
 * From 5.6 do_sys_open is inlined into its callers, so a probe on it
 * attaches but never fires; do_sys_openat2 does the work there. Both take
 * the user's file name as their second argument.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 6, 0)
#define OPEN_PROBE "kprobe/do_sys_openat2"
#else
#define OPEN_PROBE "kprobe/do_sys_open"
#endif

SEC(OPEN_PROBE)
int trace_open(struct pt_regs *ctx)
{
	char fmt[] = "file %s\n";
	char filename[128];

	/* The _str variant stops at the NUL instead of reading a fixed window
	 * that could run into an unmapped page and fail. */
	if (probe_read_str_(filename, sizeof(filename),
			    (const void *) PT_REGS_PARM2(ctx)) < 0)
		filename[0] = '\0';
	trace_printk_(fmt, sizeof(fmt), filename);
	return 0;
}

/* probe_read_str and trace_printk are GPL-only helpers. */
char _license[] SEC("license") = "GPL";
/*
 * Kernels before 5.0 compare a kprobe program's version with their own.
 * 0xFFFFFFFE asks the loader for the running kernel's version.
 */
__u32 _version SEC("version") = 0xFFFFFFFE;
