#!/usr/bin/env bash
# Issue 16's benchmark: seconds per boot of the real vendor Linux 4.19
# armv7 kernel (../shared/kernels/linux-4.19-armv7, unpacked by
# scripts/setup.sh), from the start of `cargo ebpf-cross run` to its
# verdict, build excluded. The kernel is used through a board file, as a
# user would; the example's bundle is built once, then run RUNS times with
# --bundle, and as many times with a libbpf-style object given by path
# (a 256 KiB BTF-defined map and bpf_printk, loaded without its BTF).
#
# usage: bench/old-kernel.sh [RUNS]        (default 5)
# needs: the fixtures of scripts/setup.sh, and a built tool
#        (CARGO_EBPF_CROSS, default target/debug/cargo-ebpf-cross)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-5}
. "${EBPF_CROSS_FIXTURES:-$repo/.fixtures}/env.sh"
if [ -z "${EBPF_CROSS_V419_IMAGE:-}" ] || [ ! -f "$EBPF_CROSS_V419_IMAGE" ]; then
	echo "the Linux 4.19 fixture is missing: run scripts/setup.sh (it unpacks ../shared/kernels/linux-4.19-armv7)" >&2
	exit 1
fi
bin=${CARGO_EBPF_CROSS:-$repo/target/debug/cargo-ebpf-cross}
target_dir=$repo/target/e2e
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat >"$work/vendor-4.19.toml" <<EOF
extends = "armv7"
description = "Vendor Linux 4.19 (RZ/A BSP), built for QEMU -M virt"

[kernel]
source = "$EBPF_CROSS_V419_SRC"
build = "$EBPF_CROSS_V419_BUILD"

[qemu]
kernel_image = "$EBPF_CROSS_V419_IMAGE"
busybox = "$EBPF_CROSS_ARMHF_BUSYBOX"
EOF
board=$work/vendor-4.19.toml

bundle=$("$bin" -q build --target "$board" \
	--manifest-path "$repo/examples/open-example/Cargo.toml" --release --locked \
	--target-dir "$target_dir" --message-format json 2>"$work/log" |
	jq -r 'select(.kind == "bundle") | .path')
[ -n "$bundle" ] || { cat "$work/log" >&2; echo "building the 4.19 bundle failed" >&2; exit 1; }
"$bin" -q compile --target "$board" "$repo/tests/bpf/libbpf_big_map.bpf.c" -o "$work/libbpf_big_map.o"

# Prints the run's seconds, or fails naming what did not pass.
one() {
	local what=$1
	shift
	local s
	s=$("$bin" -q run --target "$board" --bundle "$bundle" --timeout 120 --message-format json "$@" 2>/dev/null |
		jq -r 'select(.kind == "run" and .passed) | .seconds')
	[ -n "$s" ] || { echo "a 4.19 run ($what) did not pass" >&2; exit 1; }
	echo "$s"
}

summary() {
	sort -n | awk -v t="$1" -v n="$runs" \
		'{ v[NR] = $1; sum += $1 } END { printf "%-24s runs %d  min %.2f s  median %.2f s  max %.2f s  mean %.2f s\n", t, n, v[1], v[int((NR + 1) / 2)], v[NR], sum / NR }'
}

for _ in $(seq "$runs"); do one example --expect 'file /'; done | summary "4.19 example kprobe"
for _ in $(seq "$runs"); do
	one libbpf-style --extra "$work/libbpf_big_map.o" --expect 'big map openat' -- /extra/libbpf_big_map.o
done | summary "4.19 libbpf-style BTF map"
