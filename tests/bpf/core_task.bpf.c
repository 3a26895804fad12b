// SPDX-License-Identifier: GPL-2.0
/*
 * A CO-RE program: built once against the board kernel's BTF (vmlinux.h,
 * `[bpf] mode = "core"`), it reads task_struct fields whose offsets the
 * loader relocates against the running kernel's own BTF. The task's parent
 * is two CO-RE reads deep (task->real_parent->tgid).
 *
 * A tracepoint rather than a kprobe, so that its lines reach trace_pipe on
 * riscv64 too (a riscv kprobe runs as an NMI, where the trace ring buffer
 * takes no writes).
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
	int pid = BPF_CORE_READ(task, tgid);
	int ppid = BPF_CORE_READ(task, real_parent, tgid);

	BPF_CORE_READ_STR_INTO(&comm, task, comm);
	bpf_printk("core comm %s pid %d ppid %d", comm, pid, ppid);
	return 0;
}

char _license[] SEC("license") = "GPL";
