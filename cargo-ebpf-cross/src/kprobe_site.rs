//! Where a kprobe may sit on the target kernel, decided at build time from
//! the kernel tree and handed to the loader beside the objects.
//!
//! With CONFIG_DYNAMIC_FTRACE, some arches (riscv: `-fpatchable-function-
//! entry` in arch/riscv/Makefile) put the ftrace call site in a function's
//! first bytes. A kernel without CONFIG_KPROBES_ON_FTRACE refuses a kprobe
//! on an ftrace site (kernel/kprobes.c `check_ftrace_location`: EINVAL), so
//! `kprobe/do_sys_openat2` cannot attach at offset 0 there. Just past the
//! whole site the function has not run yet and its arguments are still in
//! their registers, so the loader attaches there instead. The site's size
//! is the tree's own `MCOUNT_INSN_SIZE` (whatever macro the arch table
//! names), read from its asm/ftrace.h, never a number we assume.
//!
//! Why build time and not in the loader alone: the running kernel exposes
//! where each ftrace site starts (available_filter_functions_addrs, 6.5+)
//! but not how long it is, and a probe inside it is accepted (only the
//! site's first byte is refused), so probing offsets at run time cannot
//! find the end. The tree that the objects are built against knows both.

use std::path::{Path, PathBuf};

use crate::arch::Arch;
use crate::error::{Error, Result};
use crate::kernel_tree::KernelTree;

/// The file in a board's objects dir that the loader's build script reads:
/// absent when a kprobe at a function's entry is fine.
pub const FACTS_FILE: &str = "kprobe-ftrace-entry";

/// The ftrace site at a function's entry that this kernel refuses kprobes
/// on, in bytes; None when entry probes work (or the arch never puts a
/// site there).
pub fn refused_entry(tree: &KernelTree, arch: &Arch) -> Result<Option<u64>> {
    let Some(name) = &arch.ftrace_entry_macro else {
        return Ok(None);
    };
    if !tree.is_enabled("CONFIG_DYNAMIC_FTRACE") || tree.is_enabled("CONFIG_KPROBES_ON_FTRACE") {
        return Ok(None);
    }
    let header = header_path(tree, arch);
    let text = std::fs::read_to_string(&header).map_err(crate::error::read_err(&header))?;
    macro_value(&text, name, 0)
        .map(Some)
        .ok_or_else(|| Error::Usage {
            message: format!(
                "`{}` defines no integer {name}; the kernel's .config has CONFIG_DYNAMIC_FTRACE without CONFIG_KPROBES_ON_FTRACE, so kprobes at a function's entry need the size of its ftrace site",
                header.display()
            ),
            hint: format!(
                "check that the tree is complete, or correct [arch] ftrace_entry_macro in the `{}` profile",
                arch.srcarch
            ),
        })
}

fn header_path(tree: &KernelTree, arch: &Arch) -> PathBuf {
    tree.src
        .join(format!("arch/{}/include/asm/ftrace.h", arch.srcarch))
}

/// An object-like macro's integer value: a literal, another macro of the
/// same header, or a parenthesised sum of those (riscv has spelled it
/// `8` and `(MCOUNT_AUIPC_SIZE + MCOUNT_JALR_SIZE)`). The first definition
/// wins, as with the unconditional one kernels use for this.
fn macro_value(text: &str, name: &str, depth: u32) -> Option<u64> {
    if depth > 8 {
        return None;
    }
    let body = text.lines().find_map(|l| {
        let rest = l.trim_start().strip_prefix('#')?.trim_start();
        let rest = rest.strip_prefix("define")?;
        let rest = rest.trim_start();
        let after = rest.strip_prefix(name)?;
        // `NAME(` is a function-like macro; `NAMEX` another name.
        after
            .starts_with([' ', '\t'])
            .then(|| after.split("/*").next().unwrap_or("").trim().to_string())
    })?;
    let body = body.trim_start_matches('(').trim_end_matches(')');
    body.split('+')
        .map(|term| {
            let term = term.trim().trim_start_matches('(').trim_end_matches(')');
            match term.trim_end_matches(['U', 'L', 'u', 'l']).parse::<u64>() {
                Ok(n) => Some(n),
                Err(_) if is_ident(term) => macro_value(text, term, depth + 1),
                Err(_) => None,
            }
        })
        .sum()
}

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| c == '_' || c.is_ascii_alphanumeric())
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

/// Writes (or removes) the facts file in a board's objects dir, through a
/// temp file and a rename so a concurrent loader build never reads half.
pub fn write_facts(obj_dir: &Path, entry: Option<u64>) -> Result<()> {
    let path = obj_dir.join(FACTS_FILE);
    match entry {
        None => match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(crate::error::write_err(&path)(e))
            }
            _ => Ok(()),
        },
        Some(n) => {
            let text = format!("{n}\n");
            if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
                // Unchanged: keep its mtime, so the loader does not rebuild.
                return Ok(());
            }
            crate::fsutil::write_atomic(&path, text.as_bytes())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_and_sum_of_macros() {
        let h = "#define MCOUNT_ADDR ((unsigned long)_mcount)\n\
                 #define MCOUNT_INSN_SIZE 8\n";
        assert_eq!(macro_value(h, "MCOUNT_INSN_SIZE", 0), Some(8));
        let h = "#define MCOUNT_AUIPC_SIZE\t4\n#define MCOUNT_JALR_SIZE 4 /* jalr */\n\
                 #  define MCOUNT_INSN_SIZE (MCOUNT_AUIPC_SIZE + MCOUNT_JALR_SIZE)\n";
        assert_eq!(macro_value(h, "MCOUNT_INSN_SIZE", 0), Some(8));
    }

    #[test]
    fn unknown_or_non_integer_is_none() {
        assert_eq!(
            macro_value("#define MCOUNT_INSN_SIZEX 8\n", "MCOUNT_INSN_SIZE", 0),
            None
        );
        assert_eq!(
            macro_value("#define MCOUNT_INSN_SIZE(x) 8\n", "MCOUNT_INSN_SIZE", 0),
            None
        );
        assert_eq!(
            macro_value(
                "#define MCOUNT_INSN_SIZE sizeof(long)\n",
                "MCOUNT_INSN_SIZE",
                0
            ),
            None
        );
        assert_eq!(macro_value("#define A B\n#define B A\n", "A", 0), None);
    }
}
