//! Issue 9, part 3: one program across kernel eras. The seed
//! (tests/bpf/seed.c), unchanged, compiles against all seven reference
//! trees (armv7 and aarch64 on 5.10, 6.1 and 6.12; riscv64 on 6.12) with no
//! warning, and its PT_REGS_PARM2 is the board's second argument register,
//! read with the board's width. The riscv64 offset is not assumed: it is
//! the `a1` slot of `struct pt_regs` as that tree's own
//! arch/riscv/include/asm/ptrace.h lays it out.

use crate::common::*;
use std::path::Path;

const TREES: &[(&str, &str)] = &[
    ("armv7", "debian:5.10"),
    ("armv7", "debian:6.1"),
    ("armv7", "debian:6.12"),
    ("aarch64", "debian:5.10"),
    ("aarch64", "debian:6.1"),
    ("aarch64", "debian:6.12"),
    ("riscv64", "debian:6.12"),
];

fn source_tree(target: &str, kernel: &str) -> String {
    fetched(target, kernel)["source"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The byte offset of `field` in the tree's `struct pt_regs`, whose
/// members (riscv) are all `unsigned long`: 8 bytes on a 64-bit board.
fn pt_regs_offset(src: &str, srcarch: &str, field: &str) -> u32 {
    let path = Path::new(src).join(format!("arch/{srcarch}/include/asm/ptrace.h"));
    let text = std::fs::read_to_string(&path).unwrap();
    let body = text
        .split("struct pt_regs {")
        .nth(1)
        .and_then(|rest| rest.split("};").next())
        .unwrap_or_else(|| panic!("no struct pt_regs in {}", path.display()));
    let members: Vec<&str> = body
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("/*"))
        .collect();
    let mut offset = 0;
    for m in members {
        let decl = m
            .strip_prefix("unsigned long ")
            .unwrap_or_else(|| panic!("unexpected member `{m}` in {}", path.display()));
        if decl.trim_end_matches(';') == field {
            return offset;
        }
        offset += 8;
    }
    panic!("no `{field}` in struct pt_regs of {}", path.display());
}

/// llvm-objdump-14's line for the seed's PT_REGS_PARM2 load into r3.
fn load_line(size: &str, offset: u32) -> String {
    let op = if size == "u32" { "61" } else { "79" };
    assert!(offset < 256);
    format!("       5:\t{op} 13 {offset:02x} 00 00 00 00 00\tr3 = *({size} *)(r1 + {offset})")
}

fn seed_disassembly(file: &str, load: &str) -> String {
    format!(
        "
{file}:\tfile format elf64-bpf

Disassembly of section kprobe/do_sys_open:

0000000000000000 <kprobe__do_sys_open>:
       0:\t18 02 00 00 66 69 6c 65 00 00 00 00 20 25 73 0a\tr2 = 752986383771789670 ll
       2:\t7b 2a f0 fe 00 00 00 00\t*(u64 *)(r10 - 272) = r2
       3:\tb7 02 00 00 00 00 00 00\tr2 = 0
       4:\t73 2a f8 fe 00 00 00 00\t*(u8 *)(r10 - 264) = r2
{load}
       6:\tbf a6 00 00 00 00 00 00\tr6 = r10
       7:\t07 06 00 00 00 ff ff ff\tr6 += -256
       8:\tbf 61 00 00 00 00 00 00\tr1 = r6
       9:\tb7 02 00 00 00 01 00 00\tr2 = 256
      10:\t85 00 00 00 04 00 00 00\tcall 4
      11:\tbf a1 00 00 00 00 00 00\tr1 = r10
      12:\t07 01 00 00 f0 fe ff ff\tr1 += -272
      13:\tb7 02 00 00 09 00 00 00\tr2 = 9
      14:\tbf 63 00 00 00 00 00 00\tr3 = r6
      15:\t85 00 00 00 06 00 00 00\tcall 6
      16:\tb7 00 00 00 00 00 00 00\tr0 = 0
      17:\t95 00 00 00 00 00 00 00\texit
"
    )
}

#[test]
#[ignore = "tier: kernels (scripts/setup.sh)"]
fn the_seed_compiles_unchanged_on_every_era_with_the_boards_registers() {
    let out = tempfile::tempdir().unwrap();
    for &(target, kernel) in TREES {
        let file = format!("{target}-{}.o", kernel.trim_start_matches("debian:"));
        let obj = out.path().join(&file);
        let r = compile_seed(target, kernel, &obj);
        r.ok();
        assert!(
            !r.stderr.contains("warning"),
            "{target} {kernel}: {}",
            r.stderr
        );
        let load = match target {
            "armv7" => load_line("u32", 4),
            "aarch64" => load_line("u64", 8),
            _ => {
                let a1 = pt_regs_offset(&source_tree(target, kernel), "riscv", "a1");
                // a1 is the 12th register after epc, ra, sp, gp, tp,
                // t0-t2, s0, s1, a0: the header and the fact agree.
                assert_eq!(a1, 88);
                load_line("u64", a1)
            }
        };
        // objdump prints the path it was given; run it from the dir.
        let o = std::process::Command::new(objdump())
            .arg("-d")
            .arg(&file)
            .current_dir(out.path())
            .output()
            .unwrap();
        assert!(o.status.success());
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            seed_disassembly(&file, &load),
            "{target} {kernel}"
        );
    }
}
