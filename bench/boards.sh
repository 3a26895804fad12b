#!/usr/bin/env bash
# Several boards, one cargo (issue 12). Every build is cold, in a fresh
# target dir. The machine may be shared and one cold build varies by 10 %
# from run to run, so each measurement is taken ROUNDS times (default 3),
# the rounds interleave every kind of build, and the table shows medians
# and the spread of the per-round ratios. Plain cargo, given the same
# linkers, flags and objects, is measured beside the tool in every round:
# its own multi-target ratio is the ceiling the tool can reach.
#
#   bash bench/boards.sh            (after scripts/setup.sh)
#   ROUNDS=5 bash bench/boards.sh
#
# The project is the example's loader (aya, release, static) with a BPF
# program that needs no kernel tree, so riscv64 (no tree among the
# fixtures) builds like the others. Prints a table; nothing here asserts.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${ROUNDS:-3}"
cargo build --release --quiet -p cargo-ebpf-cross
tool="${CARGO_TARGET_DIR:-$PWD/target}/release/cargo-ebpf-cross"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cp -r examples/open-example "$work/ex"
rm -rf "$work/ex/target" "$work/ex/bpf"
mkdir -p "$work/ex/bpf" "$work/boards"
cp tests/bpf/standalone.c "$work/ex/bpf/open-example.bpf.c"
declare -A triple=(
  [armv7]=armv7-unknown-linux-gnueabihf
  [aarch64]=aarch64-unknown-linux-gnu
  [riscv64]=riscv64gc-unknown-linux-gnu
)
declare -A gcc=(
  [armv7]=arm-linux-gnueabihf-gcc
  [aarch64]=aarch64-linux-gnu-gcc
  [riscv64]=riscv64-linux-gnu-gcc
)
for b in armv7 aarch64 riscv64; do
  printf 'extends = "%s"\n[kernel]\nversion = "6.1"\n' "$b" >"$work/boards/b-$b.toml"
done

now() { date +%s.%N; }
# The previous build's target dir goes, and its freeing settles before the
# clock starts: otherwise a case that follows a big build pays for it.
fresh() { rm -rf "$work/t"; sync; sleep 1; }
tool_build() { (cd "$work/ex" && "$tool" -q build --release --locked --boards "$work/boards" --target-dir "$work/t" "$@"); }
tool_each() { for b in "$@"; do tool_build --target "b-$b"; done; }
tool_all() { local a=(); for b in "$@"; do a+=(--target "b-$b"); done; tool_build "${a[@]}"; }

# Plain cargo with what the tool hands it: each target's linker and
# +crt-static, and each target's objects (the tool's own, copied aside).
plain_build() {
  local env=() args=() b key
  for b in "$@"; do
    key="$(echo "${triple[$b]}" | tr 'a-z.-' 'A-Z__')"
    env+=("CARGO_TARGET_${key}_LINKER=${gcc[$b]}")
    env+=("CARGO_TARGET_${key}_RUSTFLAGS=-C target-feature=+crt-static")
    env+=("EBPF_CROSS_OBJ_DIR_${key}=$work/objs/$b")
    args+=(--target "${triple[$b]}")
  done
  (cd "$work/ex" && env "${env[@]}" cargo build -q --release --locked --bin open-example \
    --target-dir "$work/t" "${args[@]}")
}
plain_each() { for b in "$@"; do plain_build "$b"; done; }
plain_all() { plain_build "$@"; }

# Objects for plain cargo, from one tool build (not timed).
fresh
tool_all armv7 aarch64 riscv64
for b in armv7 aarch64 riscv64; do
  mkdir -p "$work/objs/$b"
  cp "$work/t/ebpf-cross/b-$b/open-example/bpf/"*.o "$work/objs/$b/"
done

cases=(
  "tool_each armv7 aarch64"
  "tool_all armv7 aarch64"
  "plain_each armv7 aarch64"
  "plain_all armv7 aarch64"
  "tool_each armv7 aarch64 riscv64"
  "tool_all armv7 aarch64 riscv64"
  "plain_each armv7 aarch64 riscv64"
  "plain_all armv7 aarch64 riscv64"
  "tool_each armv7"
  "plain_each armv7"
)
declare -A times=()
for ((r = 1; r <= rounds; r++)); do
  for c in "${cases[@]}"; do
    fresh
    t0=$(now)
    $c
    t=$(echo "$(now) - $t0" | bc)
    times[$c]+="$t "
    printf 'round %d  %-36s %7.2f s\n' "$r" "$c" "$t" >&2
  done
done

# Warm no-op for three boards: the best of five, after a build.
noop=""
for _ in 1 2 3 4 5; do
  t0=$(now); tool_all armv7 aarch64 riscv64; t=$(echo "$(now) - $t0" | bc)
  if [ -z "$noop" ] || [ "$(echo "$t < $noop" | bc)" = 1 ]; then noop=$t; fi
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
med() { echo "${times[$1]}" | median; }
# The per-round ratios of case $1 over case $2, as "min-max".
spread() {
  paste <(echo "${times[$1]}" | tr ' ' '\n' | grep .) <(echo "${times[$2]}" | tr ' ' '\n' | grep .) |
    awk '{r=$1/$2; if (NR==1 || r<lo) lo=r; if (NR==1 || r>hi) hi=r} END {printf "%.2f-%.2f", lo, hi}'
}
ratio() { echo "scale=3; $(med "$1") / $(med "$2")" | bc | sed 's/^\./0./'; }
row() { printf '%-46s %7.2f s' "$1" "$(med "$2")"; }

echo "== several boards, one cargo (example loader, release, static; cold, fresh target dirs)"
echo "   medians of $rounds interleaved rounds; ratio of medians [per-round min-max]"
for set in "armv7 aarch64" "armv7 aarch64 riscv64"; do
  n=$(echo "$set" | wc -w)
  row "$n boards ($set), tool, one by one" "tool_each $set"; echo
  row "$n boards, tool, one command" "tool_all $set"
  printf '   %s x [%s]  (goal <= 0.75)\n' "$(ratio "tool_all $set" "tool_each $set")" "$(spread "tool_all $set" "tool_each $set")"
  row "$n boards, plain cargo, one by one" "plain_each $set"; echo
  row "$n boards, plain cargo, one command" "plain_all $set"
  printf '   %s x [%s]  (the ceiling)\n' "$(ratio "plain_all $set" "plain_each $set")" "$(spread "plain_all $set" "plain_each $set")"
  row "$n boards, tool one command vs plain one command" "tool_all $set"
  printf '   %s x [%s]\n' "$(ratio "tool_all $set" "plain_all $set")" "$(spread "tool_all $set" "plain_all $set")"
done
row "plain cargo build --release --target armv7" "plain_each armv7"; echo
row "cargo ebpf-cross build, one board (armv7)" "tool_each armv7"
printf '   %s x [%s]  (goal <= 1.05)\n' "$(ratio "tool_each armv7" "plain_each armv7")" "$(spread "tool_each armv7" "plain_each armv7")"
printf '%-46s %7.3f s  (goal <= 0.3 s)\n' "warm no-op, 3 boards (best of 5)" "$noop"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
