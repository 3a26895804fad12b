#!/usr/bin/env bash
# Issue 9's benchmark: seconds per boot, from the start of `cargo ebpf-cross
# run` to its verdict, build excluded (goal: <= 10 s), for
#   - riscv64 6.12 with a kprobe past the ftrace entry (tests/bpf/kprobe_relay.bpf.c)
#   - the CO-RE program (tests/bpf/core_task.bpf.c) on every kernel with BTF:
#     arm64 5.10, 6.1, 6.12 and riscv64 6.12.
# Bundles and objects are built first; then each runs RUNS times with --bundle.
#
# usage: bench/riscv-core.sh [RUNS]        (default 5)
# needs: scripts/setup.sh's kernel cache, and a built tool
#        (CARGO_EBPF_CROSS, default target/debug/cargo-ebpf-cross)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-5}
. "${EBPF_CROSS_FIXTURES:-$repo/.fixtures}/env.sh"
export EBPF_CROSS_CACHE_DIR="$EBPF_CROSS_REFERENCE_CACHE"
bin=${CARGO_EBPF_CROSS:-$repo/target/debug/cargo-ebpf-cross}
target_dir=$repo/target/e2e
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

bundle_for() {
	"$bin" -q build --target "$1" --manifest-path "$repo/examples/open-example/Cargo.toml" \
		--release --locked --target-dir "$target_dir" --message-format json 2>"$work/log" |
		jq -r 'select(.kind == "bundle") | .path'
}

# usage: bench LABEL TARGET KERNEL OBJECT EXPECT
bench() {
	local label=$1 target=$2 kernel=$3 obj=$4 expect=$5 bundle times=() s
	bundle=$(bundle_for "$target")
	[ -n "$bundle" ] || { cat "$work/log" >&2; echo "building the $target bundle failed" >&2; exit 1; }
	for _ in $(seq "$runs"); do
		s=$("$bin" -q run --target "$target" --kernel "$kernel" --bundle "$bundle" \
			--extra "$obj" --expect "$expect" --message-format json -- "/extra/$(basename "$obj")" 2>/dev/null |
			jq -r 'select(.kind == "run" and .passed) | .seconds')
		[ -n "$s" ] || { echo "a $label run did not pass" >&2; exit 1; }
		times+=("$s")
	done
	printf '%s\n' "${times[@]}" | sort -n | awk -v t="$label" -v n="$runs" \
		'{ v[NR] = $1; sum += $1 } END { printf "%-28s runs %d  min %.2f s  median %.2f s  max %.2f s  mean %.2f s\n", t, n, v[1], v[int((NR + 1) / 2)], v[NR], sum / NR }'
}

"$bin" -q compile --target riscv64 --kernel debian:6.12 \
	"$repo/tests/bpf/kprobe_relay.bpf.c" -o "$work/riscv64/"
bench "riscv64 6.12 kprobe+8" riscv64 debian:6.12 "$work/riscv64/kprobe_relay.o" "kprobe read file /"

for tk in aarch64:debian:5.10 aarch64:debian:6.1 aarch64:debian:6.12 riscv64:debian:6.12; do
	target=${tk%%:*} kernel=${tk#*:}
	printf 'extends = "%s"\n[bpf]\nmode = "core"\n' "$target" >"$work/$target-core.toml"
	out="$work/core-$target-${kernel#debian:}"
	"$bin" -q compile --target "$work/$target-core.toml" --kernel "$kernel" \
		"$repo/tests/bpf/core_task.bpf.c" -o "$out/"
	bench "$target ${kernel#debian:} CO-RE" "$target" "$kernel" "$out/core_task.o" "core comm "
done
