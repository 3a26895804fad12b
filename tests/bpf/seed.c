/*
 * The seed's kprobe, written as the hand-made workflow had it: it includes
 * only the kernel's headers and <bpf/bpf_helpers.h>, and uses
 * PT_REGS_PARM2, which a 4.19 arm tree's helpers do not define and a 6.1
 * tree keeps in bpf_tracing.h. The tests compile it unchanged everywhere.
 */
#include <linux/version.h>
#include <uapi/linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>

SEC("kprobe/do_sys_open")
int kprobe__do_sys_open(struct pt_regs *ctx)
{
	char file_name[256];
	char fmt[] = "file %s\n";

	bpf_probe_read(file_name, sizeof(file_name), (void *)PT_REGS_PARM2(ctx));
	bpf_trace_printk(fmt, sizeof(fmt), file_name);
	return 0;
}

char _license[] SEC("license") = "GPL";
__u32 _version SEC("version") = 0xFFFFFFFE;
