#!/usr/bin/env bash
# CO-RE without kernel BTF (issue 17): pahole's seconds for the 4.19
# vmlinux, the minimal BTF per kernel for tests/bpf/core_task_compat.bpf.c,
# and the armmp 6.1 -dbg route cold (a fresh cache dir: the 593 MiB
# download, the streamed unpack and pahole) and cached.
#
#   bash bench/core-nobtf.sh            (after scripts/setup.sh; downloads)
#
# The cold figure downloads from the Debian mirror every time it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
. "${EBPF_CROSS_FIXTURES:-.fixtures}/env.sh"
if [ -z "${TOOL:-}" ]; then
  cargo build --release --quiet -p cargo-ebpf-cross
  TOOL="$PWD/target/release/cargo-ebpf-cross"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
prog="$PWD/tests/bpf/core_task_compat.bpf.c"

now() { date +%s.%N; }
secs() { echo "scale=1; ($2 - $1) / 1" | bc; }

cat >"$work/v419.toml" <<TOML
extends = "armv7"
[kernel]
source = "$EBPF_CROSS_V419_SRC"
build = "$EBPF_CROSS_V419_BUILD"
[bpf]
mode = "core"
btf = "$EBPF_CROSS_V419_VMLINUX"
TOML
printf 'extends = "armv7"\n[bpf]\nmode = "core"\n' >"$work/armv7-core.toml"

t0=$(now)
pahole --btf_encode_detached="$work/v419.btf" "$EBPF_CROSS_V419_VMLINUX"
t1=$(now)
echo "pahole, 4.19 armv7 vmlinux ($(stat -c %s "$EBPF_CROSS_V419_VMLINUX") bytes): $(secs "$t0" "$t1")s, BTF $(stat -c %s "$work/v419.btf") bytes"

EBPF_CROSS_CACHE_DIR="$work/cache419" "$TOOL" compile -q --target "$work/v419.toml" "$prog" -o "$work/o419/"
bpftool gen min_core_btf "$work/v419.btf" "$work/min419.btf" "$work/o419/core_task_compat.o"
echo "minimal BTF, 4.19: $(stat -c %s "$work/min419.btf") bytes"

# Cold: a cache holding only the armmp kernel itself, copied from setup's.
mkdir -p "$work/cold/kernels"
cp -a "$EBPF_CROSS_REFERENCE_CACHE/kernels/debian-6.1-armhf-armmp" "$work/cold/kernels/"
cp -a "$EBPF_CROSS_REFERENCE_CACHE/indexes" "$work/cold/" 2>/dev/null || true
rm -f "$work"/cold/kernels/debian-6.1-armhf-armmp/root/boot/*.btf "$work"/cold/kernels/debian-6.1-armhf-armmp/root/boot/*.identity
t0=$(now)
EBPF_CROSS_CACHE_DIR="$work/cold" "$TOOL" compile --target "$work/armv7-core.toml" --kernel debian:6.1 "$prog" -o "$work/o61/"
t1=$(now)
EBPF_CROSS_CACHE_DIR="$work/cold" "$TOOL" compile -q --target "$work/armv7-core.toml" --kernel debian:6.1 "$prog" -o "$work/o61b/"
t2=$(now)
echo "armmp 6.1 compile with -dbg BTF: cold $(secs "$t0" "$t1")s, cached $(secs "$t1" "$t2")s"
full61="$(ls "$work"/cold/kernels/debian-6.1-armhf-armmp/root/boot/*.btf)"
bpftool gen min_core_btf "$full61" "$work/min61.btf" "$work/o61/core_task_compat.o"
echo "armmp 6.1 BTF $(stat -c %s "$full61") bytes; minimal $(stat -c %s "$work/min61.btf") bytes"
