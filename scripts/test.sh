#!/usr/bin/env bash
# The whole test suite, as CI runs it (after scripts/setup.sh):
# formatting, lints, unit tests, and the end-to-end tests against real
# clang/llc, cross gcc, Debian's kernel trees and Debian's kernels under QEMU.
#
# `--tier NAME` runs one tier's tests and nothing else (CONTRIBUTING.md,
# "Test tiers"): none, tools, kernels, qemu or network. `--list-tier NAME`
# prints that tier's tests, `module::fn`, one a line.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
# One build from scratch gains nothing from incremental state, which would
# add most of a GB to target/.
export CARGO_INCREMENTAL=0

# A tier's tests, read from their markers: `#[ignore = "tier: NAME ..."]`
# at the start of a line, then the test's `fn` after any other attributes.
# tests/tiers.rs holds every marker to this form.
tier_tests() {
  awk -v tier="$1" '
    FNR == 1 { mod = FILENAME; sub(/.*\//, "", mod); sub(/\.rs$/, "", mod); want = 0 }
    /^#\[ignore = "tier: / {
      t = $0; sub(/^#\[ignore = "tier: /, "", t); sub(/[ ("].*/, "", t)
      want = (t == tier); next
    }
    want && /^fn [A-Za-z0-9_]+\(/ {
      n = $0; sub(/^fn /, "", n); sub(/\(.*/, "", n); print mod "::" n; want = 0
    }
  ' $(ls tests/*.rs | LC_ALL=C sort)
}

case "${1:-}" in
  --list-tier)
    tier_tests "${2:?--list-tier needs a tier: tools, kernels, qemu or network}"
    exit 0
    ;;
  --tier)
    tier="${2:?--tier needs a tier: none, tools, kernels, qemu or network}"
    if [ "$tier" = none ]; then
      # The tier a bare `cargo test` runs: every test not ignored.
      exec cargo test --workspace --all-targets --no-fail-fast
    fi
    mapfile -t tests < <(tier_tests "$tier")
    if [ "${#tests[@]}" -eq 0 ]; then
      echo "scripts/test.sh: no tests in tier \`$tier\` (none, tools, kernels, qemu, network)" >&2
      exit 2
    fi
    exec cargo test --test integration --no-fail-fast -- --ignored --exact "${tests[@]}"
    ;;
  "") ;;
  *)
    echo "scripts/test.sh: unknown argument \`$1\` (--tier NAME, --list-tier NAME, or none)" >&2
    exit 2
    ;;
esac

cargo fmt --all --check
cargo clippy --all-targets -- -D warnings
# Integration tests that build the example share one cargo target dir and
# lock it themselves, so the default test parallelism is safe. A bare
# `cargo test` runs only the fast tier and lists the fixture tests as
# ignored; here every test runs.
cargo test --workspace --all-targets --no-fail-fast -- --include-ignored
# The example loader's own unit tests (host build).
(cd examples/open-example && cargo test --locked --quiet)
# `cargo install --path` from this checkout works, and cargo finds the
# subcommand on PATH (debug profile, reusing the test build).
cargo install --path cargo-ebpf-cross --debug --locked --target-dir target --root target/install-check --force --quiet
# Captured first: `grep -q` stops reading at its match, and under pipefail
# the writer's SIGPIPE would fail the line.
listed="$(PATH="$PWD/target/install-check/bin:$PATH" cargo ebpf-cross targets)"
grep -q '^armv7 ' <<<"$listed"
# The published crate builds on its own: whatever include_str! and
# include_bytes! embed is inside it (templates/, targets/, the example and
# the licence texts reach cargo-ebpf-cross/ through symlinks, which cargo
# package follows), and every file of templates/ and targets/ is packaged.
# Offline: the lock is resolved; only the crate itself is compiled again.
cargo package -p cargo-ebpf-cross --allow-dirty --no-verify --offline --quiet
missing=$(comm -23 \
  <( (git ls-files templates targets; printf '%s\n' example/build.rs example/src/main.rs LICENSE-MIT LICENSE-APACHE) | sort) \
  <(cargo package -p cargo-ebpf-cross --allow-dirty --list --offline 2>/dev/null | sort))
if [ -n "$missing" ]; then
  echo "scripts/test.sh: not in the packaged crate:" >&2
  echo "$missing" >&2
  exit 1
fi
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
unpacked="$(mktemp -d)"
trap 'rm -rf "$unpacked"' EXIT
tar -xzf "$(ls -t "$target_dir"/package/cargo-ebpf-cross-*.crate | head -1)" -C "$unpacked"
(cd "$unpacked"/cargo-ebpf-cross-* && CARGO_TARGET_DIR="$target_dir" cargo check --offline --locked --quiet)
echo "scripts/test.sh: all passed"
