// SPDX-License-Identifier: GPL-2.0
/*
 * Calls helper 999, which no kernel has: the kernel check must name the id
 * and say so, not panic on a name it cannot look up.
 */
#include <linux/types.h>

#ifndef SEC
#define SEC(name) __attribute__((section(name), used))
#endif

static long (*helper_999_)(void) = (void *) 999;

SEC("tracepoint/syscalls/sys_enter_openat")
int call_999(void *ctx)
{
	return helper_999_() ? 1 : 0;
}

char _license[] SEC("license") = "GPL";
