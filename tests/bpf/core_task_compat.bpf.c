// SPDX-License-Identifier: GPL-2.0
/*
 * core_task.bpf.c for kernels back to 4.19: the same CO-RE reads of
 * task->tgid and task->real_parent->tgid, through bpf_probe_read (helper 4,
 * BPF_PROBE_READ) instead of bpf_probe_read_kernel (helper 113, 5.5 on).
 * 32-bit ARM keeps bpf_probe_read on every kernel
 * (CONFIG_ARCH_HAS_NON_OVERLAPPING_ADDRESS_SPACE), so one object runs on
 * both 4.19 and Debian's armmp 6.1.
 *
 * Expected trace line: `core comm <comm> pid <tgid> ppid <parent tgid>`.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

SEC("tracepoint/syscalls/sys_enter_openat")
int core_task(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	char comm[16];
	int pid = BPF_PROBE_READ(task, tgid);
	int ppid = BPF_PROBE_READ(task, real_parent, tgid);

	BPF_PROBE_READ_STR_INTO(&comm, task, comm);
	bpf_printk("core comm %s pid %d ppid %d", comm, pid, ppid);
	return 0;
}

char _license[] SEC("license") = "GPL";
