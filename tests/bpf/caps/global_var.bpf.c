// SPDX-License-Identifier: GPL-2.0
/*
 * A tracepoint program that counts in a global variable: global data
 * (`.bss` as a map) arrived in Linux 5.2, so the kernel check refuses it
 * for 4.19 and lets it through for 6.1. Self-contained: no helper header.
 */
#include <linux/types.h>

#ifndef SEC
#define SEC(name) __attribute__((section(name), used))
#endif

__u32 open_count;

SEC("tracepoint/syscalls/sys_enter_openat")
int count_open(void *ctx)
{
	open_count++;
	return 0;
}

char _license[] SEC("license") = "GPL";
