#!/usr/bin/env bash
# Benchmarks for the notes: every figure is also given as a ratio against the
# raw `clang | llc` pipe, measured in the same run on the same machine.
#
#   bash bench/bench.sh            (after scripts/setup.sh)
#
# Prints a table; nothing here asserts, the tests do that.
set -euo pipefail
cd "$(dirname "$0")/.."
. .fixtures/env.sh
cargo build --release --quiet -p cargo-ebpf-cross
tool="$PWD/target/release/cargo-ebpf-cross"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
S="$EBPF_CROSS_ARMHF_SRC" B="$EBPF_CROSS_ARMHF_BUILD"
seed="$PWD/tests/bpf/seed.c"
n="${BENCH_N:-20}"

now() { date +%s.%N; }
per_run() { echo "scale=4; ($2 - $1) / $n" | bc; }
ratio() { echo "scale=2; $1 / $2" | bc; }

# The raw pipe, with exactly the argv the tool would use (from `flags`).
# On arm the IR carries `module asm ".syntax unified"` from asm/unified.h,
# which BPF llc rejects, so the hand-written pipe needs the same filter the
# tool applies: sed between clang and llc.
"$tool" flags --target armv7 --kernel-src "$S" --kernel-build "$B" --state-dir "$work/st" --format json >"$work/flags.json"
mapfile -t clang_argv < <(jq -r '.clang[]' "$work/flags.json")
mapfile -t llc_argv < <(jq -r '.llc[]' "$work/flags.json")

t0=$(now)
for _ in $(seq "$n"); do
  "${clang_argv[@]}" -c "$seed" -o - | sed '/^module asm /d' | "${llc_argv[@]}" -o "$work/raw.o"
done
t1=$(now)
raw=$(per_run "$t0" "$t1")

t0=$(now)
for _ in $(seq "$n"); do
  rm -rf "$work/out"
  "$tool" -q compile --target armv7 --kernel-src "$S" --kernel-build "$B" "$seed" -o "$work/out/"
done
t1=$(now)
cold=$(per_run "$t0" "$t1")

t0=$(now)
for _ in $(seq "$n"); do
  "$tool" -q compile --target armv7 --kernel-src "$S" --kernel-build "$B" "$seed" -o "$work/out/"
done
t1=$(now)
fresh=$(per_run "$t0" "$t1")

cmp <(llvm-objdump-14 -d "$work/raw.o" | tail -n +3) <(llvm-objdump-14 -d "$work/out/seed.o" | tail -n +3) >/dev/null \
  && same="identical code" || same="code differs"

echo "== BPF compile, seed.c for armv7 against Debian $EBPF_CROSS_ARMHF_ABI ($n runs each)"
printf '%-40s %8s s  %6s x raw\n' "raw clang | sed | llc pipe" "$raw" "1.00"
printf '%-40s %8s s  %6s x raw\n' "cargo ebpf-cross compile (cold)" "$cold" "$(ratio "$cold" "$raw")"
printf '%-40s %8s s  %6s x raw\n' "cargo ebpf-cross compile (no-op)" "$fresh" "$(ratio "$fresh" "$raw")"
echo "objects: $same; raw $(stat -c %s "$work/raw.o") B, tool $(stat -c %s "$work/out/seed.o") B"

# Bundles: the example, release, static, for Debian's boards.
mkdir -p "$work/boards"
printf 'extends = "armv7"\n[kernel]\nsource = "%s"\nbuild = "%s"\n' "$S" "$B" >"$work/boards/bbb.toml"
printf 'extends = "aarch64"\n[kernel]\nsource = "%s"\nbuild = "%s"\n' "$EBPF_CROSS_ARM64_SRC" "$EBPF_CROSS_ARM64_BUILD" >"$work/boards/rpi4.toml"
cp -r examples/open-example "$work/ex"
rm -rf "$work/ex/target"
td="$PWD/target/bench"
cd "$work/ex"
build() { "$tool" -q build --release --locked --boards "$work/boards" --target-dir "$td" "$@"; }
build --target bbb --target rpi4   # warm cargo's dependency cache
forget() { rm -rf "$td/ebpf-cross" "$td"/*/release/open-example "$td"/*/release/.fingerprint/open-example-*; }

forget; t0=$(now); build --target bbb --target rpi4; t1=$(now)
one=$(echo "$t1 - $t0" | bc)
forget; t0=$(now); build --target bbb; build --target rpi4; t1=$(now)
two=$(echo "$t1 - $t0" | bc)
t0=$(now); build --target bbb; t1=$(now)
noop=$(echo "$t1 - $t0" | bc)

echo "== build (example loader + object, release, static)"
printf '%-40s %8s s  %6s x raw\n' "two boards, one command" "$one" "$(ratio "$one" "$raw")"
printf '%-40s %8s s  %6s x raw\n' "two boards, two commands" "$two" "$(ratio "$two" "$raw")"
printf '%-40s %8s s  %6s x raw\n' "no-op rebuild (one board)" "$noop" "$(ratio "$noop" "$raw")"
for b in bbb rpi4; do
  tgz="$td/ebpf-cross/$b/open-example-0.1.0-$b.tar.gz"
  mkdir -p "$work/u-$b" && tar xzf "$tgz" -C "$work/u-$b"
  root="$work/u-$b/open-example-0.1.0-$b"
  l=$(stat -c %s "$root/bin/open-example"); o=$(stat -c %s "$root/bpf/open-example.o")
  echo "bundle $b: loader $l B + object $o B = $((l + o)) B unpacked; tarball $(stat -c %s "$tgz") B"
done
