// SPDX-License-Identifier: GPL-2.0
/*
 * A tracepoint program that calls bpf_ktime_get_boot_ns (helper 125, from
 * Linux 5.8): declared by hand, old-style, so it builds whatever helper
 * header the tool picks, and the kernel check is what refuses it for 4.19.
 */
#include <linux/types.h>

#ifndef SEC
#define SEC(name) __attribute__((section(name), used))
#endif

static __u64 (*ktime_get_boot_ns_)(void) = (void *) 125;
static long (*trace_printk_)(const char *fmt, __u32 fmt_size, ...) = (void *) 6;

SEC("tracepoint/syscalls/sys_enter_openat")
int stamp_open(void *ctx)
{
	char fmt[] = "boot %llu\n";

	trace_printk_(fmt, sizeof(fmt), ktime_get_boot_ns_());
	return 0;
}

char _license[] SEC("license") = "GPL";
