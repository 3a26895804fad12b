// SPDX-License-Identifier: GPL-2.0
/*
 * A kprobe the verifier must reject: it reads the context (struct pt_regs)
 * at offset 4096, far past its end. Every kernel refuses this with
 * "invalid bpf_context access off=4096 size=4". The object is otherwise
 * well formed, so a loader must report the verifier's log, not a parse error.
 */
#include <linux/version.h>
#include <uapi/linux/bpf.h>
#include <bpf/bpf_helpers.h>

#ifndef SEC
#define SEC(name) __attribute__((section(name), used))
#endif

SEC("kprobe/do_sys_open")
int verifier_reject(void *ctx)
{
	/* volatile: keep the load, clang must not fold it away. */
	return *(volatile __u32 *)((char *)ctx + 4096);
}

char _license[] SEC("license") = "GPL";
__u32 _version SEC("version") = 0xFFFFFFFE;
