// SPDX-License-Identifier: GPL-2.0
/*
 * A kprobe whose findings reach trace_pipe on every kernel: the kprobe on
 * the open path copies the file name (its 2nd argument) into a map, and a
 * tracepoint at the syscall's exit prints it.
 *
 * Why a relay: on riscv64 a kprobe's handler runs from the ebreak trap as
 * an NMI (arch/riscv/kernel/traps.c do_trap_break, irqentry_nmi_enter),
 * and riscv does not select ARCH_HAVE_NMI_SAFE_CMPXCHG, so the ring buffer
 * drops every write made there (kernel/trace/ring_buffer.c refuses to
 * reserve in NMI then): bpf_trace_printk from the kprobe itself never shows.
 * A tracepoint runs in the task's own context, where it does.
 *
 * Expected trace line: `kprobe read file <name>`.
 */
#include <linux/version.h>
#include <uapi/linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>

#ifndef SEC
#define SEC(name) __attribute__((section(name), used))
#endif

#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 6, 0)
#define OPEN_PROBE "kprobe/do_sys_openat2"
#else
#define OPEN_PROBE "kprobe/do_sys_open"
#endif

/* The layout of the old `struct bpf_map_def`, as tp_legacy_map.bpf.c. */
struct relay_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct relay_map_def SEC("maps") last_open = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = 256,
	.max_entries = 1,
};

static void *(*relay_lookup)(void *map, const void *key) =
	(void *) BPF_FUNC_map_lookup_elem;
static long (*relay_read_str)(void *dst, __u32 size, const void *src) =
	(void *) BPF_FUNC_probe_read_str;
static long (*relay_printk)(const char *fmt, __u32 fmt_size, ...) =
	(void *) BPF_FUNC_trace_printk;

SEC(OPEN_PROBE)
int relay_open(struct pt_regs *ctx)
{
	__u32 key = 0;
	char *name = relay_lookup(&last_open, &key);

	if (!name)
		return 0;
	if (relay_read_str(name, 256, (const void *) PT_REGS_PARM2(ctx)) < 0)
		name[0] = '\0';
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int relay_exit(void *ctx)
{
	char fmt[] = "kprobe read file %s\n";
	__u32 key = 0;
	char *name = relay_lookup(&last_open, &key);

	if (!name || !name[0])
		return 0;
	relay_printk(fmt, sizeof(fmt), name);
	name[0] = '\0';
	return 0;
}

char _license[] SEC("license") = "GPL";
__u32 _version SEC("version") = 0xFFFFFFFE;
