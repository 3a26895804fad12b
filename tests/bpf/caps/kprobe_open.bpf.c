// SPDX-License-Identifier: GPL-2.0
/*
 * A kprobe program using only what 4.19 has (bpf_trace_printk, id 6), so
 * the one thing the kernel check can refuse it for is the tree's config:
 * a kprobe needs CONFIG_KPROBE_EVENTS.
 */
#include <linux/types.h>

#ifndef SEC
#define SEC(name) __attribute__((section(name), used))
#endif

static long (*trace_printk_)(const char *fmt, __u32 fmt_size, ...) = (void *) 6;

SEC("kprobe/do_sys_open")
int on_open(void *ctx)
{
	char fmt[] = "open\n";

	trace_printk_(fmt, sizeof(fmt));
	return 0;
}

char _license[] SEC("license") = "GPL";
__u32 _version SEC("version") = 0xFFFFFFFE;
