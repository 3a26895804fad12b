#!/usr/bin/env bash
# Issue 4's benchmark: seconds per board from the start of
# `cargo ebpf-cross run` to its verdict, excluding the build (goal: <= 10 s).
# The bundle is built first, then run RUNS times with --bundle.
#
# usage: bench/run-bench.sh [RUNS]        (default 5)
# needs: the fixtures of scripts/setup.sh, and a built tool
#        (CARGO_EBPF_CROSS, default target/debug/cargo-ebpf-cross)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-5}
. "${EBPF_CROSS_FIXTURES:-$repo/.fixtures}/env.sh"
bin=${CARGO_EBPF_CROSS:-$repo/target/debug/cargo-ebpf-cross}
target_dir=$repo/target/e2e
log=$(mktemp)
trap 'rm -f "$log"' EXIT

for pair in armv7:ARMHF aarch64:ARM64; do
	target=${pair%%:*} deb=${pair##*:}
	src=EBPF_CROSS_${deb}_SRC build=EBPF_CROSS_${deb}_BUILD
	image=EBPF_CROSS_${deb}_IMAGE busybox=EBPF_CROSS_${deb}_BUSYBOX
	bundle=$("$bin" -q build --target "$target" --kernel-src "${!src}" --kernel-build "${!build}" \
		--manifest-path "$repo/examples/open-example/Cargo.toml" --release --locked \
		--target-dir "$target_dir" --message-format json 2>"$log" |
		jq -r 'select(.kind == "bundle") | .path')
	[ -n "$bundle" ] || { cat "$log" >&2; echo "building the $target bundle failed" >&2; exit 1; }
	times=()
	for _ in $(seq "$runs"); do
		s=$("$bin" -q run --target "$target" --bundle "$bundle" --kernel-image "${!image}" \
			--busybox "${!busybox}" --expect 'file /' --message-format json 2>/dev/null |
			jq -r 'select(.kind == "run" and .passed) | .seconds')
		[ -n "$s" ] || { echo "a $target run did not pass" >&2; exit 1; }
		times+=("$s")
	done
	printf '%s\n' "${times[@]}" | sort -n | awk -v t="$target" -v n="$runs" \
		'{ v[NR] = $1; sum += $1 } END { printf "%-8s runs %d  min %.2f s  median %.2f s  max %.2f s  mean %.2f s\n", t, n, v[1], v[int((NR + 1) / 2)], v[NR], sum / NR }'
done
