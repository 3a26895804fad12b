// SPDX-License-Identifier: GPL-2.0
/*
 * A libbpf-style map, declared by hand: `.maps` holds a ring buffer
 * (BPF_MAP_TYPE_RINGBUF, 27, from Linux 5.8), a type known only from the
 * object's BTF. Without -g there is no BTF to read it from.
 */
#include <linux/types.h>

#ifndef SEC
#define SEC(name) __attribute__((section(name), used))
#endif
#define uint_(name, val) int (*name)[val]

struct {
	uint_(type, 27);
	uint_(max_entries, 4096);
} events SEC(".maps");

static void *(*map_lookup_elem_)(void *map, const void *key) = (void *) 1;

SEC("tracepoint/syscalls/sys_enter_openat")
int use_events(void *ctx)
{
	__u32 key = 0;

	return map_lookup_elem_(&events, &key) ? 1 : 0;
}

char _license[] SEC("license") = "GPL";
