#!/usr/bin/env bash
# The kernel matrix: seconds per kernel boot to the verdict (the build is
# excluded; `run` starts that clock once the bundle exists), and the wall
# time of the whole matrix with an empty kernel cache (cold: every kernel
# is downloaded) and again with that cache filled (warm). Goals: <= 10 s
# per boot, warm matrix <= 3 minutes.
#
#   bash bench/matrix.sh                              # armv7, aarch64, riscv64: every reference kernel
#   BENCH_TARGETS="armv7" bash bench/matrix.sh
#   BENCH_COLD=0 bash bench/matrix.sh                 # warm only, on the shared cache of setup.sh
#   TOOL=path/to/cargo-ebpf-cross bash bench/matrix.sh
#
# Loaders are built in a target dir of the bench's own, warmed up once
# before the clocks start, so cold and warm differ by the downloads and
# the per-kernel compiles and relinks, not by compiling aya. Prints a
# table; nothing here asserts, tests/matrix.rs does that.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
if [ -z "${TOOL:-}" ]; then
  cargo build --release --quiet -p cargo-ebpf-cross
  TOOL="${CARGO_TARGET_DIR:-$root/target}/release/cargo-ebpf-cross"
fi
targets="${BENCH_TARGETS:-armv7 aarch64 riscv64}"
fixtures="${EBPF_CROSS_FIXTURES:-$root/.fixtures}"
shared_cache="$(sed -n 's/^export EBPF_CROSS_REFERENCE_CACHE=//p' "$fixtures/env.sh" 2>/dev/null || true)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r examples/open-example "$work/project"
rm -rf "$work/project/target"
tdir="${BENCH_TARGET_DIR:-$work/target}"
now() { date +%s.%N; }

# Targets whose kprobes cannot print (riscv64: they run as NMIs, whose
# bpf_trace_printk lines the ring buffer drops): their kprobe is shown by
# tests/bpf/kprobe_relay.bpf.c, given by path, as tests/matrix.rs does.
relayed="${BENCH_RELAYED:-riscv64}"

# One matrix per target; prints "<target> <entry> <verdict> <seconds>" per
# kernel to $2 and returns the tool's status.
matrix() {
  local cache="$1" out="$2" t rc=0
  for t in $targets; do
    local extra=()
    if [[ " $relayed " == *" $t "* ]]; then
      EBPF_CROSS_CACHE_DIR="$cache" "$TOOL" -q compile --target "$t" \
        tests/bpf/kprobe_relay.bpf.c -o "$work/relay-$t/" >/dev/null
      extra=(--expect "kprobe read file /" --extra "$work/relay-$t/kprobe_relay.o" -- /extra/kprobe_relay.o)
    else
      extra=(--expect 'file /')
    fi
    (cd "$work/project" && EBPF_CROSS_CACHE_DIR="$cache" "$TOOL" -q run --target "$t" --kernel all \
      --release --locked --target-dir "$tdir" --message-format json "${extra[@]}") \
      >"$work/$t.json" 2>"$work/$t.err" || rc=1
    jq -r --arg t "$t" 'select(.kind == "matrix-kernel") | "\($t) \(.entry) \(.verdict) \(.seconds)"' \
      "$work/$t.json" >>"$out"
  done
  return $rc
}

echo "== warm-up: one build per target (compiles the loader's dependencies)"
warm_cache="${shared_cache:-$work/cache}"
for t in $targets; do
  (cd "$work/project" && EBPF_CROSS_CACHE_DIR="$warm_cache" "$TOOL" -q build --target "$t" \
    --release --locked --target-dir "$tdir" >/dev/null 2>&1) || echo "warm-up build for $t failed"
done

if [ "${BENCH_COLD:-1}" = 1 ]; then
  echo "== cold: empty kernel cache ($work/cold-cache)"
  : >"$work/cold.txt"
  t0=$(now)
  matrix "$work/cold-cache" "$work/cold.txt" || echo "(some kernel failed; see the rows)"
  t1=$(now)
  cold=$(echo "$t1 - $t0" | bc)
  warm_cache="$work/cold-cache"
fi

echo "== warm: cached kernels ($warm_cache)"
: >"$work/warm.txt"
t0=$(now)
matrix "$warm_cache" "$work/warm.txt" || echo "(some kernel failed; see the rows)"
t1=$(now)
warm=$(echo "$t1 - $t0" | bc)

echo
printf '%-8s %-12s %-8s %s\n' target kernel verdict "boot to verdict (s)"
while read -r t e v s; do printf '%-8s %-12s %-8s %s\n' "$t" "$e" "$v" "$s"; done <"$work/warm.txt"
n=$(wc -l <"$work/warm.txt")
echo
[ -z "${cold:-}" ] || printf '%-40s %8.1f s\n' "matrix wall time, cold ($n kernels)" "$cold"
printf '%-40s %8.1f s\n' "matrix wall time, warm ($n kernels)" "$warm"
printf '%-40s %8s\n' "load (1-minute average, 2 cores)" "$(cut -d' ' -f1 /proc/loadavg)"
