#!/usr/bin/env bash
# Installs every host tool the project, its tests and its benchmarks use, and
# fetches Debian's real kernels, kernel headers and busybox-static into a
# cache with `cargo ebpf-cross kernel fetch`. Used by .ci/run, the README and
# developers; safe to run twice.
#
#   scripts/setup.sh            # tools + Rust targets + Debian kernels
#   scripts/setup.sh --no-kernels
#
# Prints nothing secret; writes $EBPF_CROSS_FIXTURES/env.sh describing what
# it fetched (kernel ABI, tree paths, images, busybox) for the test suite.
set -euo pipefail

want_kernels=1
for a in "$@"; do
  case "$a" in
    --no-kernels) want_kernels=0 ;;
    *) echo "setup.sh: unknown option $a" >&2; exit 2 ;;
  esac
done

root_dir="$(cd "$(dirname "$0")/.." && pwd)"
fixtures="${EBPF_CROSS_FIXTURES:-$root_dir/.fixtures}"
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi

pkgs=(
  clang-14 llvm-14 llvm-14-tools libclang-14-dev
  gcc-arm-linux-gnueabihf gcc-aarch64-linux-gnu gcc-riscv64-linux-gnu
  libc6-dev-armhf-cross libc6-dev-arm64-cross libc6-dev-riscv64-cross
  qemu-system-arm qemu-system-misc qemu-user-static
  cpio file bc libbpf-dev bpftool dwarves ca-certificates xz-utils make
  python3 python3-venv jq
  openssh-client dropbear-bin
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if command -v rustup >/dev/null; then
  rustup target add armv7-unknown-linux-gnueabihf aarch64-unknown-linux-gnu riscv64gc-unknown-linux-gnu >/dev/null
  rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi

[ "$want_kernels" = 1 ] || exit 0

# Debian's real kernels (split header trees, images, busybox-static, libbpf
# headers), fetched by the tool itself into one shared cache: signed
# InRelease, sha256-checked indexes and packages, unpacked without dpkg. A
# second run finds them cached and makes no network call.
mkdir -p "$fixtures"
cache="$fixtures/cache"
env_file="$fixtures/env.sh"
tmp_env="$(mktemp "$fixtures/env.sh.XXXXXX")"
trap 'rm -f "$tmp_env"' EXIT
echo "setup: building cargo-ebpf-cross"
(cd "$root_dir" && cargo build --locked -q -p cargo-ebpf-cross --bin cargo-ebpf-cross)
tool() {
  (cd "$root_dir" && EBPF_CROSS_CACHE_DIR="$cache" \
    cargo run --locked -q -p cargo-ebpf-cross --bin cargo-ebpf-cross -- "$@")
}
# One JSON string field of `kernel fetch --json` (paths here hold no quotes).
field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" <<<"$2"; }
fetch() {
  local target="$1" kernel="$2" prefix="$3" json
  local start=$SECONDS
  json="$(tool kernel fetch --target "$target" --kernel "$kernel" --json)"
  echo "setup: $target $kernel: linux $(field version "$json") (abi $(field abi "$json")) in $((SECONDS - start)) s"
  [ -n "$prefix" ] || return 0
  {
    echo "export EBPF_CROSS_${prefix}_ABI=$(field abi "$json")"
    echo "export EBPF_CROSS_${prefix}_SRC=$(field source "$json")"
    echo "export EBPF_CROSS_${prefix}_BUILD=$(field build "$json")"
    echo "export EBPF_CROSS_${prefix}_IMAGE=$(field image "$json")"
    echo "export EBPF_CROSS_${prefix}_BUSYBOX=$(field busybox "$json")"
  } >>"$tmp_env"
}
# The trees and images the end-to-end tests build against and boot.
fetch armv7 debian:6.1 ARMHF
fetch aarch64 debian:6.1 ARM64
# The other eras the reference-kernel tests fetch and compile against.
fetch armv7 debian:5.10 ""
fetch armv7 debian:6.12 ""
fetch riscv64 debian:6.12 ""
# arm64 on every era: its kernels carry BTF, which CO-RE mode needs.
fetch aarch64 debian:5.10 ""
fetch aarch64 debian:6.12 ""
echo "export EBPF_CROSS_REFERENCE_CACHE=$cache" >>"$tmp_env"

# A real vendor Linux 4.19 for 32-bit ARM (the pre-5.2 world), which CI has
# beside the checkout: verified against its SHA256SUMS, then unpacked once
# (source and O= build trees, the zImage, the DWARF vmlinux). A missing or
# altered copy stops setup: the tests that need it never skip.
v419_from="${EBPF_CROSS_V419:-$root_dir/../shared/kernels/linux-4.19-armv7}"
v419="$fixtures/linux-4.19-armv7"
if [ ! -f "$v419_from/SHA256SUMS" ]; then
  echo "setup: the Linux 4.19 fixture is missing: no $v419_from/SHA256SUMS (expected ../shared/kernels/linux-4.19-armv7 beside the checkout, or set EBPF_CROSS_V419)" >&2
  exit 1
fi
v419_sums="$(sha256sum "$v419_from/SHA256SUMS" | cut -d' ' -f1)"
if [ ! -e "$v419/.done" ] || [ "$(cat "$v419/.done")" != "$v419_sums" ]; then
  (cd "$v419_from" && sha256sum --quiet -c SHA256SUMS)
  rm -rf "$v419" "$v419.part"
  mkdir -p "$v419.part"
  tar -xJf "$v419_from/tree.tar.xz" -C "$v419.part"
  cp "$v419_from/zImage" "$v419_from/config" "$v419.part/"
  xz -dc "$v419_from/vmlinux.xz" >"$v419.part/vmlinux"
  echo "$v419_sums" >"$v419.part/.done"
  mv "$v419.part" "$v419"
fi
{
  echo "export EBPF_CROSS_V419_SRC=$v419/src"
  echo "export EBPF_CROSS_V419_BUILD=$v419/build"
  echo "export EBPF_CROSS_V419_IMAGE=$v419/zImage"
  echo "export EBPF_CROSS_V419_VMLINUX=$v419/vmlinux"
} >>"$tmp_env"
echo "setup: Linux 4.19 fixture in $v419"
# The board of tests/ssh_board.rs (`run --ssh`): Debian's armhf dropbear
# and the libraries it links, and the armmp kernel's virtio network modules
# (the cached kernel keeps no modules), downloaded by apt (which checks
# Debian's signatures) and unpacked here, never installed.
board="$fixtures/board"
armhf_abi="$(sed -n 's/^export EBPF_CROSS_ARMHF_ABI=//p' "$tmp_env")"
board_pkgs=(dropbear-bin:armhf libc6:armhf libcrypt1:armhf libtomcrypt1:armhf
  libtommath1:armhf libgmp10:armhf zlib1g:armhf libgcc-s1:armhf "linux-image-$armhf_abi-armmp:armhf")
if [ ! -e "$board/.done" ] || [ "$(cat "$board/.done")" != "${board_pkgs[*]}" ]; then
  if ! dpkg --print-foreign-architectures | grep -qx armhf; then
    $sudo dpkg --add-architecture armhf
    $sudo apt-get update -qq
  fi
  rm -rf "$board.part"
  mkdir -p "$board.part/debs" "$board.part/root"
  # A kernel ABI newer than apt's lists needs them refreshed first.
  (cd "$board.part/debs" && { apt-get download -q "${board_pkgs[@]}" >/dev/null 2>&1 ||
    { $sudo apt-get update -qq && apt-get download -q "${board_pkgs[@]}" >/dev/null; }; })
  for deb in "$board.part"/debs/*.deb; do
    case "$deb" in
      */linux-image-*)
        dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$board.part/root" --wildcards \
          './lib/modules/*/kernel/drivers/virtio/*' './lib/modules/*/kernel/drivers/net/virtio_net.ko' \
          './lib/modules/*/kernel/drivers/net/net_failover.ko' './lib/modules/*/kernel/net/core/failover.ko' ;;
      *) dpkg-deb -x "$deb" "$board.part/root" ;;
    esac
  done
  echo "${board_pkgs[*]}" >"$board.part/.done"
  rm -rf "$board"
  mv "$board.part" "$board"
fi
echo "export EBPF_CROSS_BOARD_ROOT=$board/root" >>"$tmp_env"
echo "setup: the ssh board's packages in $board"
mv "$tmp_env" "$env_file"
trap - EXIT
echo "setup: fixtures described in $env_file ($(du -sh "$cache" | cut -f1) cached)"

# The Yocto checks in tests/yocto.rs: bitbake's `bb` library (PyPI's
# bitbake-setup carries it), oelint-adv, and check-jsonschema with the
# GitHub Actions and GitLab CI schemas vendored. Pinned, because the tests
# compare their output exactly.
venv="$fixtures/venv"
py_pkgs=(bitbake-setup==2.19.0 oelint-adv==9.11.2 check-jsonschema==0.39.0)
if [ ! -e "$venv/.done" ] || [ "$(cat "$venv/.done")" != "${py_pkgs[*]}" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "${py_pkgs[@]}"
  echo "${py_pkgs[*]}" > "$venv/.done"
fi
echo "setup: Python tools in $venv"
