/*
 * Needs no kernel tree: for compiles given only a kernel version, and for
 * big-endian targets we have no tree for.
 */
#define SEC(n) __attribute__((section(n), used))

struct regs_stub {
	unsigned long r[8];
};

SEC("kprobe/vfs_read")
int probe(struct regs_stub *ctx)
{
	return ctx->r[1] == LINUX_VERSION_CODE;
}

char _license[] SEC("license") = "GPL";
