// SPDX-License-Identifier: GPL-2.0
/*
 * Two things a 4.19 kernel has no way to show in its tree, so the check
 * falls back to version rules: a loop (a backward jump; bounded loops are
 * 5.3) and a format string passed straight from .rodata (global data, 5.2).
 */
#include <linux/types.h>

#ifndef SEC
#define SEC(name) __attribute__((section(name), used))
#endif

static long (*trace_printk_)(const char *fmt, __u32 fmt_size, ...) = (void *) 6;
static __u64 (*ktime_get_ns_)(void) = (void *) 5;

SEC("tracepoint/syscalls/sys_enter_openat")
int spin(void *ctx)
{
	__u64 n = ktime_get_ns_() & 0xff;
	__u64 sum = 0;

	for (__u64 i = 0; i < n; i++)
		sum += ktime_get_ns_();
	return sum & 1;
}

SEC("tracepoint/syscalls/sys_enter_close")
int say(void *ctx)
{
	trace_printk_("close\n", 7);
	return 0;
}

char _license[] SEC("license") = "GPL";
