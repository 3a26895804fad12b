// SPDX-License-Identifier: GPL-2.0
/*
 * A return probe on the open path. It must sit at the function's entry,
 * which on a kernel with DYNAMIC_FTRACE but without KPROBES_ON_FTRACE
 * (Debian's riscv64 6.12) is an ftrace site the kernel refuses: the loader
 * has to say so rather than fail with a bare EINVAL.
 *
 * Expected trace line elsewhere: `openat2 returned <fd>`.
 */
#include <linux/version.h>
#include <uapi/linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>

#ifndef SEC
#define SEC(name) __attribute__((section(name), used))
#endif

static long (*ret_printk)(const char *fmt, __u32 fmt_size, ...) =
	(void *) BPF_FUNC_trace_printk;

SEC("kretprobe/do_sys_openat2")
int open_return(struct pt_regs *ctx)
{
	char fmt[] = "openat2 returned %ld\n";

	ret_printk(fmt, sizeof(fmt), (long) PT_REGS_RC(ctx));
	return 0;
}

char _license[] SEC("license") = "GPL";
__u32 _version SEC("version") = 0xFFFFFFFE;
