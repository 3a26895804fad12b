#!/usr/bin/env bash
# The whole test suite, as CI runs it (after scripts/setup.sh):
# formatting, lints, unit tests, and the end-to-end tests against real
# clang/llc, cross gcc, Debian's kernel trees and Debian's kernels under QEMU.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
cargo fmt --all --check
cargo clippy --all-targets -- -D warnings
# Integration tests that build the example share one cargo target dir and
# lock it themselves, so the default test parallelism is safe.
cargo test --workspace --all-targets
# The example loader's own unit tests (host build).
(cd examples/open-example && cargo test --locked --quiet)
