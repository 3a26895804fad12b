#!/usr/bin/env bash
# The kernel capability check's cost, as a share of the compile it follows
# (goal: at most 5 %), beside the raw `clang | llc` pipe of the same run.
# Against the real Linux 4.19 armv7 tree (its bpf.h and .config are what
# the check reads) and Debian's 6.1 armhf tree.
#
#   bash bench/capcheck.sh         (after scripts/setup.sh)
#
# The check's own time is what `compile -v` reports on its `Checked` line
# (it times reading the tree's bpf.h, each object, and the rules); the
# compile is timed around the whole command, with and without the check.
set -euo pipefail
cd "$(dirname "$0")/.."
. "${EBPF_CROSS_FIXTURES:-.fixtures}/env.sh"
if [ -z "${TOOL:-}" ]; then
  cargo build --release --quiet -p cargo-ebpf-cross
  TOOL="$PWD/target/release/cargo-ebpf-cross"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
seed="$PWD/tests/bpf/seed.c"
n="${BENCH_N:-20}"

now() { date +%s.%N; }
per_run() { echo "scale=4; ($2 - $1) / $n" | bc; }
ratio() { echo "scale=2; $1 / $2" | bc; }

bench_tree() {
  local label="$1" S="$2" B="$3"
  "$TOOL" flags --target armv7 --kernel-src "$S" --kernel-build "$B" --state-dir "$work/st" --format json >"$work/flags.json"
  mapfile -t clang_argv < <(jq -r '.clang[]' "$work/flags.json")
  mapfile -t llc_argv < <(jq -r '.llc[]' "$work/flags.json")
  # The staged helper dir the argv points at.
  "$TOOL" -q compile --target armv7 --kernel-src "$S" --kernel-build "$B" "$seed" -o "$work/warm/" >/dev/null

  local t0 t1 raw with without checked_us
  t0=$(now)
  for _ in $(seq "$n"); do
    "${clang_argv[@]}" -c "$seed" -o - | sed '/^module asm /d' | "${llc_argv[@]}" -o "$work/raw.o"
  done
  t1=$(now)
  raw=$(per_run "$t0" "$t1")

  : >"$work/checked.log"
  t0=$(now)
  for _ in $(seq "$n"); do
    rm -rf "$work/out"
    "$TOOL" -v --color never compile --target armv7 --kernel-src "$S" --kernel-build "$B" "$seed" -o "$work/out/" 2>&1 \
      | grep '^ *Checked ' >>"$work/checked.log"
  done
  t1=$(now)
  with=$(per_run "$t0" "$t1")

  t0=$(now)
  for _ in $(seq "$n"); do
    rm -rf "$work/out"
    "$TOOL" -q compile --no-kernel-check --target armv7 --kernel-src "$S" --kernel-build "$B" "$seed" -o "$work/out/"
  done
  t1=$(now)
  without=$(per_run "$t0" "$t1")

  # "Checked 1 object(s) against Linux 4.19.131 in 812 us"
  checked_us=$(awk '{ s += $(NF-1); k++ } END { if (k) printf "%.0f", s / k; else print "nan" }' "$work/checked.log")
  local checked_s share
  checked_s=$(echo "scale=6; $checked_us / 1000000" | bc)
  share=$(echo "scale=2; 100 * $checked_s / $with" | bc)

  echo "== $label: seed.c for armv7 ($n runs each)"
  printf '%-44s %10s s  %6s x raw\n' "raw clang | sed | llc pipe" "$raw" "1.00"
  printf '%-44s %10s s  %6s x raw\n' "compile, kernel check on (cold)" "$with" "$(ratio "$with" "$raw")"
  printf '%-44s %10s s  %6s x raw\n' "compile --no-kernel-check (cold)" "$without" "$(ratio "$without" "$raw")"
  printf '%-44s %10s s  %6s %% of the compile\n' "the check itself (from -v)" "$checked_s" "$share"
}

bench_tree "Linux 4.19.131 (real vendor tree)" "$EBPF_CROSS_V419_SRC" "$EBPF_CROSS_V419_BUILD"
bench_tree "Debian $EBPF_CROSS_ARMHF_ABI" "$EBPF_CROSS_ARMHF_SRC" "$EBPF_CROSS_ARMHF_BUILD"
