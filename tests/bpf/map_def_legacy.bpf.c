// SPDX-License-Identifier: GPL-2.0
/*
 * A samples/bpf-style 4.x program: it declares its map as
 * `struct bpf_map_def SEC("maps")` and never defines that struct, which
 * came with the helper header it was written against (libbpf >= 1.0 no
 * longer has it). It calls the helpers by their header names.
 *
 * Expected trace line: `map_def openat <n>`, counting from 1.
 */
#include <linux/version.h>
#include <uapi/linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_map_def SEC("maps") map_def_opens = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 1,
};

SEC("tracepoint/syscalls/sys_enter_openat")
int map_def_openat(void *ctx)
{
	char fmt[] = "map_def openat %llu\n";
	__u32 key = 0;
	__u64 *n;

	n = bpf_map_lookup_elem(&map_def_opens, &key);
	if (!n)
		return 0;
	__sync_fetch_and_add(n, 1);
	bpf_trace_printk(fmt, sizeof(fmt), *n);
	return 0;
}

char _license[] SEC("license") = "GPL";
__u32 _version SEC("version") = 0xFFFFFFFE;
