//! BTF for kernels that carry none: a vmlinux built with DWARF
//! (CONFIG_DEBUG_INFO) but without CONFIG_DEBUG_INFO_BTF (every 4.x kernel,
//! Debian's armmp, most vendor BSPs) still describes every type, and pahole
//! turns that DWARF into BTF, the same step the kernel's own build runs for
//! CONFIG_DEBUG_INFO_BTF. The result is cached by the vmlinux's sha256, so a
//! rebuilt kernel is never matched with an old BTF.

use std::path::{Path, PathBuf};

use object::{Object, ObjectSection};

use crate::arch::Arch;
use crate::error::{read_err, Error, Result};
use crate::plan::Cmd;

/// The Debian package that ships pahole.
pub const PAHOLE_PACKAGE: &str = "dwarves";

/// What a BTF source given for CO-RE mode turned out to be.
#[derive(Debug, PartialEq)]
enum Kind {
    /// Not ELF: a raw .btf file, used as it is.
    RawBtf,
    /// An ELF with a `.BTF` section: bpftool reads it directly.
    ElfWithBtf,
    /// An ELF with DWARF but no `.BTF`: pahole must make one.
    ElfWithDwarf,
}

/// A BTF file for `path`: the file itself when it is (or holds) BTF, else
/// one made from its DWARF and cached under `cache_root`.
pub fn btf_for(path: &Path, arch: &Arch, cache_root: &Path) -> Result<PathBuf> {
    let data = std::fs::read(path).map_err(read_err(path))?;
    match classify(path, &data, arch)? {
        Kind::RawBtf | Kind::ElfWithBtf => Ok(path.to_path_buf()),
        Kind::ElfWithDwarf => {
            let sha = crate::fsutil::sha256_hex(&data);
            drop(data);
            let out = cached_path(cache_root, &sha);
            if out.is_file() {
                return Ok(out);
            }
            // One pahole per vmlinux when builds run side by side.
            let dir = crate::fsutil::parent_dir(&out);
            std::fs::create_dir_all(&dir).map_err(crate::error::write_err(&dir))?;
            let _lock = crate::fsutil::lock(&dir.join(format!(".{sha}.lock")))?;
            if out.is_file() {
                return Ok(out);
            }
            make(path, &out)?;
            Ok(out)
        }
    }
}

/// Where the BTF made from a vmlinux whose sha256 is `sha` is cached.
pub fn cached_path(cache_root: &Path, sha: &str) -> PathBuf {
    cache_root.join("btf").join(format!("{sha}.btf"))
}

fn classify(path: &Path, data: &[u8], arch: &Arch) -> Result<Kind> {
    if !data.starts_with(b"\x7fELF") {
        return Ok(Kind::RawBtf);
    }
    let bad = |problem: String, hint: &str| Error::NoBtf {
        vmlinux: path.to_path_buf(),
        problem,
        hint: hint.into(),
    };
    let file = object::File::parse(data).map_err(|e| {
        bad(
            format!("it is not a readable ELF file ({e})"),
            "point [bpf] btf at the board kernel's vmlinux",
        )
    })?;
    // BTF is used as it is, whatever made it (a vmlinux, or a BPF object
    // holding the board's types).
    if file.section_by_name(".BTF").is_some() {
        return Ok(Kind::ElfWithBtf);
    }
    let machine = crate::elf_check::header(data)
        .map_err(|_| {
            bad(
                "its ELF header is cut short".into(),
                "point [bpf] btf at the board kernel's whole vmlinux",
            )
        })?
        .machine;
    // pahole would happily encode another architecture's types, and the
    // offsets in them would be that architecture's: refuse before that.
    if machine != arch.elf_machine {
        return Err(bad(
            format!(
                "it is built for ELF machine {machine}, but this board is {} (machine {})",
                arch.elf_machine_name, arch.elf_machine
            ),
            "point [bpf] btf at the vmlinux of this board's own kernel",
        ));
    }
    let has_dwarf = file
        .section_by_name(".debug_info")
        .is_some_and(|s| s.size() > 0);
    if !has_dwarf {
        return Err(bad(
            "it has neither a .BTF section nor DWARF (.debug_info) to make one from".into(),
            "rebuild the kernel with CONFIG_DEBUG_INFO=y (and CONFIG_DEBUG_INFO_REDUCED off), or use the unstripped vmlinux from the build tree or a -dbg package, not a stripped one",
        ));
    }
    Ok(Kind::ElfWithDwarf)
}

/// The pahole run that writes `vmlinux`'s DWARF as BTF to `out`.
pub fn pahole_plan(vmlinux: &Path, out: &Path) -> Cmd {
    Cmd::new("pahole")
        .arg(format!("--btf_encode_detached={}", out.display()))
        .arg(vmlinux.display().to_string())
}

/// Runs pahole into a temp file beside `out`, checks the result, and only
/// then renames it into place: a failure caches nothing.
pub fn make(vmlinux: &Path, out: &Path) -> Result<()> {
    let part = crate::fsutil::temp_beside(out)?;
    let started = std::time::Instant::now();
    crate::ui::status(
        "Generating",
        &format!(
            "BTF from the DWARF of {} (pahole; it has no .BTF)",
            crate::fsutil::shown(vmlinux)
        ),
    );
    match pahole_plan(vmlinux, part.path()).output() {
        Ok(_) => {}
        Err(Error::Spawn { source, .. }) => {
            return Err(Error::ToolMissing {
                tool: format!("pahole ({source})"),
                hint: format!("install it (`apt-get install {PAHOLE_PACKAGE}`); CO-RE mode needs it to make BTF from a vmlinux that has only DWARF"),
            })
        }
        Err(Error::CommandFailed { stderr, .. }) => {
            return Err(Error::NoBtf {
                vmlinux: vmlinux.to_path_buf(),
                problem: format!("pahole could not encode its DWARF: {}", stderr.trim()),
                hint: "check that this is the kernel's unstripped vmlinux; pahole 1.22 or later reads DWARF 5".into(),
            })
        }
        Err(e) => return Err(e),
    }
    let bytes = std::fs::read(part.path()).map_err(read_err(part.path()))?;
    check(vmlinux, &bytes)?;
    crate::fsutil::persist(part, out)?;
    crate::ui::status(
        "Generated",
        &format!(
            "BTF ({} KiB) in {:.1}s: {}",
            bytes.len() / 1024,
            started.elapsed().as_secs_f64(),
            crate::fsutil::shown(out)
        ),
    );
    Ok(())
}

/// A BTF made from reduced DWARF (CONFIG_DEBUG_INFO_REDUCED) lacks the
/// members of most structs; every CO-RE program reads `task_struct`, so a
/// BTF without its members is useless and refused here, not at load time.
fn check(vmlinux: &Path, bytes: &[u8]) -> Result<()> {
    let bad = |problem: &str| Error::NoBtf {
        vmlinux: vmlinux.to_path_buf(),
        problem: problem.into(),
        hint: "rebuild the kernel with CONFIG_DEBUG_INFO=y and CONFIG_DEBUG_INFO_REDUCED off"
            .into(),
    };
    let blob = crate::btf_blob::find(bytes).ok_or_else(|| bad("pahole wrote no valid BTF"))?;
    match crate::btf_blob::struct_members(blob, "task_struct") {
        Some(n) if n > 0 => Ok(()),
        Some(_) => Err(bad(
            "its DWARF is reduced: struct task_struct has no members in it",
        )),
        None => Err(bad("its DWARF describes no struct task_struct")),
    }
}
