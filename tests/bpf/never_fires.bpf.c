// SPDX-License-Identifier: GPL-2.0
/*
 * A kprobe that attaches but must stay silent in a minimal busybox guest.
 *
 * vfs_fsync_range() is the common path of fsync(2)/fdatasync(2)/msync(MS_SYNC)
 * and of O_SYNC writes. It is an exported (EXPORT_SYMBOL) out-of-line function
 * in fs/sync.c on every kernel since 2.6.x and every architecture, so the
 * symbol is always in kallsyms with the same name (unlike the per-arch syscall
 * wrappers sys_* / __arm64_sys_*). A guest on an initramfs that only runs
 * cat/ls/echo and reads trace_pipe never syncs a file, and sync(2) (busybox
 * `poweroff -f` calls it) goes through ksys_sync(), not vfs_fsync_range().
 *
 * Expected trace lines: none. A `never <n>` line means the probe fired.
 */
#include <linux/version.h>
#include <uapi/linux/bpf.h>
#include <bpf/bpf_helpers.h>

#ifndef SEC
#define SEC(name) __attribute__((section(name), used))
#endif

static long (*nf_trace_printk)(const char *fmt, __u32 fmt_size, ...) =
	(void *) BPF_FUNC_trace_printk;

SEC("kprobe/vfs_fsync_range")
int never_fires(void *ctx)
{
	char fmt[] = "never %d\n";

	nf_trace_printk(fmt, sizeof(fmt), 1);
	return 0;
}

char _license[] SEC("license") = "GPL";
__u32 _version SEC("version") = 0xFFFFFFFE;
