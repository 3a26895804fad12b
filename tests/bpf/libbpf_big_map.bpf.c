// SPDX-License-Identifier: GPL-2.0
/*
 * A program written as today's tutorials write them: a BTF-defined map
 * (`__uint`/`__type` in SEC(".maps")) and bpf_printk. The array is 256 KiB
 * (32768 slots of 8 bytes), four times the 64 KiB RLIMIT_MEMLOCK that
 * kernels before 5.11 charge map memory to; the program counts in its
 * last slot, so the whole map must exist.
 *
 * Expected trace line: `big map openat <n>`, counting from 1.
 */
#include <linux/types.h>
#include <uapi/linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define SLOTS 32768

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} big_map SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_openat")
int big_map_openat(void *ctx)
{
	__u32 key = SLOTS - 1;
	__u64 *n = bpf_map_lookup_elem(&big_map, &key);

	if (!n)
		return 0;
	__sync_fetch_and_add(n, 1);
	bpf_printk("big map openat %llu\n", *n);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
