//! The arch table: the only code that knows what `armv7` means.
//!
//! The facts themselves live in `targets/*.toml` (embedded at build time), so
//! adding a board family is a data change. Everything else in the crate asks
//! an [`Arch`] for the answer instead of matching on names.

use serde::{Deserialize, Serialize};

/// Byte order of the target, which also picks the BPF backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Endian {
    Little,
    Big,
}

impl Endian {
    pub fn as_str(self) -> &'static str {
        match self {
            Endian::Little => "little",
            Endian::Big => "big",
        }
    }
}

/// A define whose value comes from the kernel's `.config` because kbuild
/// passes it in KBUILD_CFLAGS rather than autoconf.h (arm's
/// `__LINUX_ARM_ARCH__`). The first enabled option in `choices` wins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigDefine {
    pub name: String,
    /// Used when there is no tree to read, or no choice is enabled.
    pub fallback: String,
    pub choices: Vec<(String, String)>,
}

/// Everything about an architecture that the pipeline needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Arch {
    /// Kernel SRCARCH: `arch/<srcarch>/include`.
    pub srcarch: String,
    /// Suffix of `__TARGET_ARCH_*` (always the SRCARCH name).
    pub target_arch: String,
    /// clang's triple for the front end, so struct layouts are the target's.
    pub clang_target: String,
    pub rust_target: String,
    pub endian: Endian,
    pub bits: u32,
    pub cross_prefix: String,
    /// Debian package that provides `<cross_prefix>gcc`.
    pub cross_package: String,
    /// Debian architecture name (armhf, arm64, ...), for packages and fixtures.
    pub debian_arch: String,
    /// ELF e_machine of the loader.
    pub elf_machine: u16,
    /// How `file` names that machine, for messages.
    pub elf_machine_name: String,
    /// Loader e_flags check: `e_flags & mask == value`.
    pub elf_flags_mask: u32,
    pub elf_flags_value: u32,
    pub elf_abi: Option<String>,
    pub defines: Vec<String>,
    /// Extra srctree-relative include dirs the kernel's BPF samples add for
    /// this arch (mips' `asm/mach-generic`), after the kernel's own set.
    pub kernel_includes: Vec<String>,
    pub config_defines: Vec<ConfigDefine>,
    /// Set where dynamic ftrace patches a call site into a function's first
    /// bytes (riscv's -fpatchable-function-entry): the macro of the tree's
    /// `arch/<srcarch>/include/asm/ftrace.h` that gives that site's size.
    /// A kernel without CONFIG_KPROBES_ON_FTRACE refuses a kprobe there,
    /// and the loader then probes just past it.
    pub ftrace_entry_macro: Option<String>,
    /// What `uname -m` says on a board that runs this arch's loaders, for
    /// `run --ssh` to check a board before copying to it. Empty: unknown,
    /// and the check is skipped with a note.
    pub uname_machines: Vec<String>,
    /// The arch lacks ARCH_HAVE_NMI_SAFE_CMPXCHG and runs kprobe handlers
    /// as NMIs, so their bpf_trace_printk lines never reach trace_pipe.
    pub kprobe_trace_dropped: bool,
}

/// The `[arch]` section as written; every key optional so a board file can
/// override one fact of the profile it extends.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchSection {
    pub srcarch: Option<String>,
    pub target_arch: Option<String>,
    pub clang_target: Option<String>,
    pub rust_target: Option<String>,
    pub endian: Option<Endian>,
    pub bits: Option<u32>,
    pub cross_prefix: Option<String>,
    pub cross_package: Option<String>,
    pub debian_arch: Option<String>,
    pub elf_machine: Option<u16>,
    pub elf_machine_name: Option<String>,
    pub elf_flags_mask: Option<u32>,
    pub elf_flags_value: Option<u32>,
    pub elf_abi: Option<String>,
    pub defines: Option<Vec<String>>,
    pub kernel_includes: Option<Vec<String>>,
    pub config_define: Option<Vec<ConfigDefine>>,
    pub ftrace_entry_macro: Option<String>,
    pub uname_machines: Option<Vec<String>>,
    pub kprobe_trace_dropped: Option<bool>,
}

macro_rules! overlay {
    ($dst:ident, $src:ident, $($f:ident),*) => {
        $( if $src.$f.is_some() { $dst.$f = $src.$f.clone(); } )*
    };
}

impl ArchSection {
    /// `over` wins key by key.
    pub fn overlay(&mut self, over: &ArchSection) {
        overlay!(
            self,
            over,
            srcarch,
            target_arch,
            clang_target,
            rust_target,
            endian,
            bits,
            cross_prefix,
            cross_package,
            debian_arch,
            elf_machine,
            elf_machine_name,
            elf_flags_mask,
            elf_flags_value,
            elf_abi,
            defines,
            kernel_includes,
            config_define,
            ftrace_entry_macro,
            uname_machines,
            kprobe_trace_dropped
        );
    }

    /// Completes the section; the error names the first missing key.
    pub fn resolve(&self) -> Result<Arch, &'static str> {
        Ok(Arch {
            srcarch: self.srcarch.clone().ok_or("arch.srcarch")?,
            target_arch: self
                .target_arch
                .clone()
                .or_else(|| self.srcarch.clone())
                .ok_or("arch.target_arch")?,
            clang_target: self.clang_target.clone().ok_or("arch.clang_target")?,
            rust_target: self.rust_target.clone().ok_or("arch.rust_target")?,
            endian: self.endian.ok_or("arch.endian")?,
            bits: self.bits.ok_or("arch.bits")?,
            cross_prefix: self.cross_prefix.clone().ok_or("arch.cross_prefix")?,
            cross_package: self.cross_package.clone().unwrap_or_default(),
            debian_arch: self.debian_arch.clone().unwrap_or_default(),
            elf_machine: self.elf_machine.ok_or("arch.elf_machine")?,
            elf_machine_name: self.elf_machine_name.clone().unwrap_or_default(),
            elf_flags_mask: self.elf_flags_mask.unwrap_or(0),
            elf_flags_value: self.elf_flags_value.unwrap_or(0),
            elf_abi: self.elf_abi.clone(),
            defines: self.defines.clone().unwrap_or_default(),
            kernel_includes: self.kernel_includes.clone().unwrap_or_default(),
            config_defines: self.config_define.clone().unwrap_or_default(),
            ftrace_entry_macro: self.ftrace_entry_macro.clone(),
            uname_machines: self.uname_machines.clone().unwrap_or_default(),
            kprobe_trace_dropped: self.kprobe_trace_dropped.unwrap_or(false),
        })
    }
}

impl Arch {
    /// `llc -march=` value: the BPF backend of the target's byte order.
    pub fn bpf_march(&self) -> &'static str {
        match self.endian {
            Endian::Little => "bpfel",
            Endian::Big => "bpfeb",
        }
    }

    pub fn target_arch_define(&self) -> String {
        format!("__TARGET_ARCH_{}", self.target_arch)
    }

    /// The cross C compiler cargo should link with.
    pub fn cross_gcc(&self) -> String {
        format!("{}gcc", self.cross_prefix)
    }

    /// `-D` flags derived from a kernel `.config` (or the fallbacks when
    /// there is none).
    pub fn config_define_flags(&self, is_enabled: &dyn Fn(&str) -> bool) -> Vec<String> {
        self.config_defines
            .iter()
            .map(|d| {
                let value = d
                    .choices
                    .iter()
                    .find(|(opt, _)| is_enabled(opt))
                    .map(|(_, v)| v.as_str())
                    .unwrap_or(&d.fallback);
                format!("-D{}={}", d.name, value)
            })
            .collect()
    }

    /// Rust's `CARGO_TARGET_<TRIPLE>_LINKER` spelling of a triple.
    pub fn cargo_env_triple(triple: &str) -> String {
        triple.to_uppercase().replace(['-', '.'], "_")
    }
}

/// Built-in profiles, embedded so an installed binary needs no data files.
pub const BUILTIN: &[(&str, &str)] = &[
    ("armv7", include_str!("../targets/armv7.toml")),
    ("armv6", include_str!("../targets/armv6.toml")),
    ("aarch64", include_str!("../targets/aarch64.toml")),
    ("x86_64", include_str!("../targets/x86_64.toml")),
    ("riscv64", include_str!("../targets/riscv64.toml")),
    ("mips", include_str!("../targets/mips.toml")),
    ("mipsel", include_str!("../targets/mipsel.toml")),
    ("powerpc64le", include_str!("../targets/powerpc64le.toml")),
];

pub fn builtin_names() -> Vec<String> {
    BUILTIN.iter().map(|(n, _)| n.to_string()).collect()
}

pub fn builtin_source(name: &str) -> Option<&'static str> {
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn armv7() -> Arch {
        crate::profile::Profile::load("armv7").unwrap().arch
    }

    #[test]
    fn armv7_facts() {
        let a = armv7();
        assert_eq!(a.srcarch, "arm");
        assert_eq!(a.clang_target, "armv7a-linux-gnueabihf");
        assert_eq!(a.rust_target, "armv7-unknown-linux-gnueabihf");
        assert_eq!(a.bpf_march(), "bpfel");
        assert_eq!(a.bits, 32);
        assert_eq!(a.target_arch_define(), "__TARGET_ARCH_arm");
        assert_eq!(a.cross_gcc(), "arm-linux-gnueabihf-gcc");
        assert_eq!(a.uname_machines, ["armv7l", "armv8l"]);
    }

    #[test]
    fn arm_arch_from_config_lowest_enabled_wins() {
        let a = armv7();
        let debian_armmp = |o: &str| o == "CONFIG_CPU_32v7" || o == "CONFIG_CPU_32v6K";
        assert_eq!(
            a.config_define_flags(&debian_armmp),
            ["-D__LINUX_ARM_ARCH__=7"]
        );
        let v6_and_v7 = |o: &str| o == "CONFIG_CPU_32v7" || o == "CONFIG_CPU_32v6";
        assert_eq!(
            a.config_define_flags(&v6_and_v7),
            ["-D__LINUX_ARM_ARCH__=6"]
        );
        assert_eq!(
            a.config_define_flags(&|_| false),
            ["-D__LINUX_ARM_ARCH__=7"]
        );
    }

    #[test]
    fn every_builtin_resolves_and_mips_is_big_endian() {
        for name in builtin_names() {
            let p = crate::profile::Profile::load(&name).unwrap();
            assert!(!p.description.is_empty(), "{name}");
        }
        for name in builtin_names() {
            let p = crate::profile::Profile::load(&name).unwrap();
            assert!(!p.arch.uname_machines.is_empty(), "{name}: uname_machines");
        }
        let mips = crate::profile::Profile::load("mips").unwrap().arch;
        assert_eq!(mips.bpf_march(), "bpfeb");
    }

    #[test]
    fn cargo_env_spelling() {
        assert_eq!(
            Arch::cargo_env_triple("armv7-unknown-linux-gnueabihf"),
            "ARMV7_UNKNOWN_LINUX_GNUEABIHF"
        );
    }
}
