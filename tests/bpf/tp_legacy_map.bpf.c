// SPDX-License-Identifier: GPL-2.0
/*
 * Tracepoint program with a legacy `maps` section: counts openat(2) calls in
 * a one-slot array map described by a `struct bpf_map_def`-layout record.
 *
 * Expected trace line: `tp openat count <n>`.
 */
#include <linux/version.h>
#include <uapi/linux/bpf.h>
#include <bpf/bpf_helpers.h>

#ifndef SEC
#define SEC(name) __attribute__((section(name), used))
#endif

/*
 * The layout of the old `struct bpf_map_def` (libbpf < 1.0, kernel samples).
 * libbpf 1.x headers no longer have it, older ones do: our own name avoids a
 * redefinition either way. Loaders read the section by record size, not name.
 */
struct legacy_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct legacy_map_def SEC("maps") openat_count = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u32),
	.max_entries = 1,
};

static void *(*tp_map_lookup_elem)(void *map, const void *key) =
	(void *) BPF_FUNC_map_lookup_elem;
static long (*tp_trace_printk)(const char *fmt, __u32 fmt_size, ...) =
	(void *) BPF_FUNC_trace_printk;

SEC("tracepoint/syscalls/sys_enter_openat")
int tp_openat(void *ctx)
{
	char fmt[] = "tp openat count %d\n";
	__u32 key = 0;
	__u32 *count;

	count = tp_map_lookup_elem(&openat_count, &key);
	if (!count)
		return 0;
	/* Result unused: lowers to BPF_XADD, which every eBPF kernel has. */
	__sync_fetch_and_add(count, 1);
	tp_trace_printk(fmt, sizeof(fmt), *count);
	return 0;
}

char _license[] SEC("license") = "GPL";
__u32 _version SEC("version") = 0xFFFFFFFE;
