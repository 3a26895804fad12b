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
# lock it themselves, so the default test parallelism is safe. A bare
# `cargo test` runs only the fast tier and lists the fixture tests as
# ignored; here every test runs.
cargo test --workspace --all-targets --no-fail-fast -- --include-ignored
# The example loader's own unit tests (host build).
(cd examples/open-example && cargo test --locked --quiet)
# `cargo install --path` from this checkout works, and cargo finds the
# subcommand on PATH (debug profile, reusing the test build).
cargo install --path cargo-ebpf-cross --debug --locked --target-dir target --root target/install-check --force --quiet
PATH="$PWD/target/install-check/bin:$PATH" cargo ebpf-cross targets | grep -q '^armv7 '
echo "scripts/test.sh: all passed"
