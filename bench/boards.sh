#!/usr/bin/env bash
# Several boards, one cargo (issue 12). Every build is cold, in a fresh
# target dir, and every ratio compares figures taken in this one run (the
# machine may be shared, so absolute seconds are noisy; ratios less so).
#
#   bash bench/boards.sh            (after scripts/setup.sh)
#
# The project is the example's loader (aya, release, static) with a BPF
# program that needs no kernel tree, so riscv64 (no tree among the
# fixtures) builds like the others. Prints a table; nothing here asserts.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p cargo-ebpf-cross
tool="${CARGO_TARGET_DIR:-$PWD/target}/release/cargo-ebpf-cross"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cp -r examples/open-example "$work/ex"
rm -rf "$work/ex/target" "$work/ex/bpf"
mkdir -p "$work/ex/bpf" "$work/boards"
cp tests/bpf/standalone.c "$work/ex/bpf/open-example.bpf.c"
for b in armv7 aarch64 riscv64; do
  printf 'extends = "%s"\n[kernel]\nversion = "6.1"\n' "$b" >"$work/boards/b-$b.toml"
done

now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }
ratio() { echo "scale=2; $1 / $2" | bc; }
fresh() { rm -rf "$work/t" "$work/t2"; }
build() { (cd "$work/ex" && "$tool" -q build --release --locked --boards "$work/boards" --target-dir "$work/t" "$@"); }
each() { for b in "$@"; do build --target "$b"; done; }
all() { local a=(); for b in "$@"; do a+=(--target "$b"); done; build "${a[@]}"; }

two=(b-armv7 b-aarch64)
three=(b-armv7 b-aarch64 b-riscv64)

fresh; t0=$(now); each "${two[@]}"; two_seq=$(since "$t0")
fresh; t0=$(now); all "${two[@]}"; two_one=$(since "$t0")
fresh; t0=$(now); each "${three[@]}"; three_seq=$(since "$t0")
fresh; t0=$(now); all "${three[@]}"; three_one=$(since "$t0")

# Warm no-op for three boards: the best of five, right after the cold run.
noop=""
for _ in 1 2 3 4 5; do
  t0=$(now); all "${three[@]}"; t=$(since "$t0")
  if [ -z "$noop" ] || [ "$(echo "$t < $noop" | bc)" = 1 ]; then noop=$t; fi
done

# One board: the tool against plain cargo with the same linker, flags and
# environment, its objects precompiled (the tool's own, copied aside).
mkdir -p "$work/objs" && cp "$work/t/ebpf-cross/b-armv7/open-example/bpf/"*.o "$work/objs/"
fresh; t0=$(now); build --target b-armv7; tool_one=$(since "$t0")
fresh; t0=$(now)
(cd "$work/ex" &&
  CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER=arm-linux-gnueabihf-gcc \
  CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUSTFLAGS="-C target-feature=+crt-static" \
  EBPF_CROSS_OBJ_DIR="$work/objs" \
  cargo build -q --release --locked --target armv7-unknown-linux-gnueabihf --bin open-example --target-dir "$work/t2")
plain_one=$(since "$t0")

echo "== several boards, one cargo (example loader, release, static; cold, fresh target dirs, one run)"
printf '%-52s %8s s\n' "2 boards (armv7, aarch64), one by one" "$two_seq"
printf '%-52s %8s s  %5s x one by one (goal <= 0.75)\n' "2 boards, one command" "$two_one" "$(ratio "$two_one" "$two_seq")"
printf '%-52s %8s s\n' "3 boards (armv7, aarch64, riscv64), one by one" "$three_seq"
printf '%-52s %8s s  %5s x one by one (goal <= 0.75)\n' "3 boards, one command" "$three_one" "$(ratio "$three_one" "$three_seq")"
printf '%-52s %8s s\n' "plain cargo build --release --target armv7 (objects ready)" "$plain_one"
printf '%-52s %8s s  %5s x plain cargo (goal <= 1.05)\n' "cargo ebpf-cross build, one board (armv7)" "$tool_one" "$(ratio "$tool_one" "$plain_one")"
printf '%-52s %8s s  (goal <= 0.3 s)\n' "warm no-op, 3 boards (best of 5)" "$noop"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
