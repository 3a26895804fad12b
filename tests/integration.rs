//! Every integration test, in one binary: eighteen binaries each compiled
//! `tests/common` and linked the whole crate and its dependencies again,
//! which was most of the suite's build time. Each file is still a module,
//! so a test's name says where it lives (`cli::...`, `matrix::...`).
//!
//! A test that needs more than cargo is `#[ignore]`d with its tier as the
//! reason (CONTRIBUTING.md, "Test tiers"); `scripts/test.sh --tier NAME`
//! runs one tier.

mod common;

mod build;
mod buildroot;
mod cli;
mod core_nobtf;
mod core_run;
mod docs;
mod e2e_run;
mod eras;
mod kernel_check;
mod loader;
mod matrix;
mod old_kernel;
mod reference;
mod riscv64_run;
mod robustness;
mod scaffold;
mod settings_agree;
mod ssh_board;
mod tiers;
mod yocto;
