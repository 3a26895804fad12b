//! cargo-ebpf-cross, as a library. The pipeline reads in module order:
//! profile → kernel_tree → bpf_compile → loader_build → bundle, with `run`
//! proving a bundle on the board's kernel under QEMU.

pub mod arch;
pub mod error;
pub mod plan;
pub mod profile;
pub mod reference;
pub mod version;

pub mod bpf_compile;
pub mod bpf_headers;
pub mod btf_blob;
pub mod dwarf_btf;
pub mod elf_check;
pub mod env;
pub mod kernel_btf;
pub mod kernel_caps;
pub mod kernel_tree;
pub mod kprobe_site;
pub mod resolve;
pub mod settings;
pub mod toolchain;

pub mod bindings;
pub mod bundle;
pub mod bundle_btf;
pub mod initramfs;
pub mod loader_build;
pub mod qemu;
pub mod scaffold;
pub mod ssh;
pub mod yocto;

pub mod cli;
pub mod command;
pub mod fsutil;
pub mod interrupt;
pub mod message;
pub mod ops;
pub mod options;
pub mod process;
pub mod ui;
