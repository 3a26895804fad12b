/*
 * cargo-ebpf-cross: `struct bpf_map_def` for legacy `SEC("maps")` programs.
 * The chosen helper header does not declare it (libbpf >= 1.0 dropped it);
 * this is the layout of Linux 4.x samples/bpf and selftests, so their
 * designated initialisers (.inner_map_idx, .numa_node) still compile.
 * Loaders read a `maps` record by its size, field by field in this order.
 */
#ifndef __EBPF_CROSS_MAP_DEF_H
#define __EBPF_CROSS_MAP_DEF_H
struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
	unsigned int inner_map_idx;
	unsigned int numa_node;
};
#endif
