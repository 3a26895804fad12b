#define SEC(n) __attribute__((section(n), used))

SEC("kprobe/x")
int probe(void *ctx)
{
	return undeclared_thing + 1;
}
