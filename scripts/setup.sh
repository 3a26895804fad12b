#!/usr/bin/env bash
# Installs every host tool the project, its tests and its benchmarks use, and
# fetches Debian's real ARM kernels, kernel headers and busybox-static into a
# cache. Used by .ci/run, the README and developers; safe to run twice.
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
  qemu-system-arm qemu-user-static
  cpio file bc libbpf-dev bpftool ca-certificates xz-utils
  python3 python3-venv
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

# Debian's kernels for foreign architectures, fetched with a private apt state
# so the host's sources and architectures are left alone.
mkdir -p "$fixtures"
env_file="$fixtures/env.sh"
tmp_env="$(mktemp "$fixtures/env.sh.XXXXXX")"
fetch_arch() {
  local debarch="$1" flavour="$2"
  local d="$fixtures/apt-$debarch"
  mkdir -p "$d/lists/partial" "$d/cache/archives/partial" "$fixtures/debs"
  local o=(-oAPT::Architecture="$debarch" -oAPT::Architectures="$debarch"
           -oDir::State::Lists="$d/lists" -oDir::Cache="$d/cache")
  if [ ! -e "$d/updated" ] || [ -n "${EBPF_CROSS_REFRESH:-}" ]; then
    # A mirror mid-sync makes one index fail; apt keeps the rest, so retry
    # and accept a partial update as long as some index arrived.
    for try in 1 2 3; do
      apt-get "${o[@]}" update -qq && break
      echo "setup: apt update for $debarch failed (try $try), retrying" >&2
      sleep 5
    done
    ls "$d"/lists/*Packages* >/dev/null 2>&1 || { echo "setup: no package index for $debarch" >&2; exit 1; }
    touch "$d/updated"
  fi
  # Debian drops old ABIs from the archive: take the newest one on offer.
  local abi
  abi="$(apt-cache "${o[@]}" search "^linux-image-6\.1\.0-[0-9]+-$flavour\$" \
        | sed -n "s/^linux-image-\(6\.1\.0-[0-9]*\)-$flavour .*/\1/p" | sort -V | tail -1)"
  if [ -z "$abi" ]; then
    echo "setup: no linux-image-6.1.0-*-$flavour in Debian's archive for $debarch" >&2
    exit 1
  fi
  local out="$fixtures/$debarch"
  if [ ! -e "$out/.done-$abi" ]; then
    rm -rf "$out"; mkdir -p "$out/debs"
    (cd "$out/debs" && apt-get "${o[@]}" download -qq \
        "linux-image-$abi-$flavour" "linux-headers-$abi-$flavour" busybox-static \
        && apt-get download -qq "linux-headers-$abi-common")
    for f in "$out"/debs/*.deb; do dpkg -x "$f" "$out/root"; done
    touch "$out/.done-$abi"
  fi
  local up; up="$(echo "$debarch" | tr a-z A-Z)"
  {
    echo "export EBPF_CROSS_${up}_ABI=$abi"
    echo "export EBPF_CROSS_${up}_SRC=$out/root/usr/src/linux-headers-$abi-common"
    echo "export EBPF_CROSS_${up}_BUILD=$out/root/usr/src/linux-headers-$abi-$flavour"
    echo "export EBPF_CROSS_${up}_IMAGE=$(ls "$out"/root/boot/vmlinuz-*)"
    echo "export EBPF_CROSS_${up}_BUSYBOX=$out/root/bin/busybox"
  } >>"$tmp_env"
}
fetch_arch armhf armmp
fetch_arch arm64 arm64
mv "$tmp_env" "$env_file"
echo "setup: fixtures described in $env_file"

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
