#!/usr/bin/env bash
# The main job end to end, on a fresh Debian machine: install the host tools
# (and Rust, if missing), install cargo-ebpf-cross, then build the example
# for armv7 against Debian's reference kernel (fetched, verified and cached
# on first use), boot that kernel under QEMU and watch the probe fire.
#
#   bash scripts/demo.sh [--target aarch64]
set -euo pipefail
cd "$(dirname "$0")/.."
target=armv7
if [ "${1:-}" = "--target" ] && [ -n "${2:-}" ]; then target="$2"; fi

sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
if ! command -v cargo >/dev/null; then
  if ! command -v curl >/dev/null; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends curl ca-certificates >/dev/null
  fi
  echo "demo: installing Rust with rustup (https://rustup.rs)"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  # shellcheck disable=SC1091
  . "${CARGO_HOME:-$HOME/.cargo}/env"
fi
# Host tools and Rust targets only: the kernel comes from the tool itself.
bash scripts/setup.sh --no-kernels
cargo install --locked --quiet --path cargo-ebpf-cross
# Where cargo install put it, so `cargo ebpf-cross` finds the subcommand.
export PATH="${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}/bin:$PATH"
cd examples/open-example
# No kernel options: the profile's reference kernel is used, and `run`
# boots its image with its busybox.
cargo ebpf-cross run --target "$target" --expect 'file /'
