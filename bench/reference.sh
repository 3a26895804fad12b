#!/usr/bin/env bash
# Reference kernels: what a cold `kernel fetch` costs per kernel (seconds,
# bytes downloaded, bytes cached), and what a build of a new project on the
# cached default reference kernel costs against the same build with the
# same tree given explicitly (--kernel-src/--kernel-build). Goal: ratio
# <= 1.05, i.e. resolving the reference kernel from the cache is free.
#
#   bash bench/reference.sh                  # every kernel setup.sh fetches
#   BENCH_KERNELS="armv7:debian:6.1" bash bench/reference.sh
#   TOOL=path/to/cargo-ebpf-cross bash bench/reference.sh   # skip the release build
#
# Needs the network (deb.debian.org or EBPF_CROSS_DEBIAN_MIRROR). Prints a
# table; nothing here asserts, the tests do that.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${TOOL:-}" ]; then
  cargo build --release --quiet -p cargo-ebpf-cross
  TOOL="$PWD/target/release/cargo-ebpf-cross"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
kernels="${BENCH_KERNELS:-armv7:debian:5.10 armv7:debian:6.1 armv7:debian:6.12 aarch64:debian:6.1 riscv64:debian:6.12}"
n="${BENCH_N:-5}"
now() { date +%s.%N; }
mib() { echo "scale=1; $1 / 1048576" | bc; }
# Sum of every "size" in a record (its packages' download sizes).
sizes() { jq '[.. | objects | .size? | numbers] | add // 0' "$1"; }

echo "== cold kernel fetch (empty cache each, indexes included)"
printf '%-8s %-12s %-16s %8s %12s %12s\n' target kernel abi seconds "download MiB" "cached MiB"
for tk in $kernels; do
  target="${tk%%:*}" kernel="${tk#*:}"
  cache="$work/cache-$target-${kernel#debian:}"
  t0=$(now)
  json="$(EBPF_CROSS_CACHE_DIR="$cache" "$TOOL" -q kernel fetch --target "$target" --kernel "$kernel" --json)"
  t1=$(now)
  abi="$(jq -r .abi <<<"$json")"
  record="$(ls "$cache"/kernels/*/record.json)"
  idx=$(du -cb "$cache"/indexes/* | tail -1 | cut -f1)
  dl=$(( $(sizes "$record") + idx ))
  cached=$(du -sb "$cache/kernels" | cut -f1)
  printf '%-8s %-12s %-16s %8.1f %12s %12s\n' "$target" "$kernel" "$abi" "$(echo "$t1 - $t0" | bc)" "$(mib "$dl")" "$(mib "$cached")"
done

echo
echo "== build of a new project for armv7, cached ($n runs each, after one warm-up)"
cache="$work/cache-armv7-6.1"
[ -d "$cache/kernels" ] || EBPF_CROSS_CACHE_DIR="$cache" "$TOOL" -q kernel fetch --target armv7 --kernel debian:6.1 >/dev/null
json="$(EBPF_CROSS_CACHE_DIR="$cache" "$TOOL" -q kernel fetch --target armv7 --kernel debian:6.1 --json)"
src="$(jq -r .source <<<"$json")"
build="$(jq -r .build <<<"$json")"
(cd "$work" && "$TOOL" -q new probe --target armv7 >/dev/null)
export EBPF_CROSS_CACHE_DIR="$cache" EBPF_CROSS_DEBIAN_MIRROR=http://127.0.0.1:9/debian

# The BPF compile alone, where resolving the reference kernel is the
# largest share of the work outside clang.
seed="$PWD/tests/bpf/seed.c"
time_compiles() {
  local t0 t1
  t0=$(now)
  for _ in $(seq $((n * 4))); do
    rm -rf "$work/obj"
    "$TOOL" -q compile --target armv7 "$@" "$seed" -o "$work/obj/" >/dev/null 2>&1
  done
  t1=$(now)
  echo "scale=3; ($t1 - $t0) / ($n * 4)" | bc
}
c_ref=$(time_compiles --kernel debian:6.1)
c_explicit=$(time_compiles --kernel-src "$src" --kernel-build "$build")
printf '%-48s %8s s\n' "compile seed.c, --kernel debian:6.1 (cached)" "$c_ref"
printf '%-48s %8s s\n' "compile seed.c, --kernel-src/--kernel-build" "$c_explicit"
printf '%-48s %8s x\n' "ratio" "$(echo "scale=3; $c_ref / $c_explicit" | bc)"
time_builds() {
  (cd "$work/probe" && "$TOOL" -q build --target armv7 "$@" >/dev/null 2>&1)
  local t0 t1
  t0=$(now)
  for _ in $(seq "$n"); do
    # Touch the BPF source so each build recompiles it and relinks the loader.
    touch "$work/probe/bpf/probe.bpf.c"
    (cd "$work/probe" && "$TOOL" -q build --target armv7 "$@" >/dev/null 2>&1)
  done
  t1=$(now)
  echo "scale=3; ($t1 - $t0) / $n" | bc
}
ref=$(time_builds)
explicit=$(time_builds --kernel-src "$src" --kernel-build "$build")
printf '%-48s %8s s\n' "build, default reference kernel (cached)" "$ref"
printf '%-48s %8s s\n' "build, --kernel-src/--kernel-build (same tree)" "$explicit"
printf '%-48s %8s x\n' "ratio" "$(echo "scale=3; $ref / $explicit" | bc)"
