//! Target profiles: built-in `targets/*.toml`, or a board file that
//! `extends` one and names its own kernel tree.
//!
//! Settings are layered, highest first: command-line flag, environment
//! variable, `[package.metadata.ebpf-cross]`, profile file (a board file over
//! the profile it extends). Flags and env are merged by clap; this module
//! merges the two lower layers.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::arch::{self, Arch, ArchSection};
use crate::error::{Error, Result};

/// A profile's `[reference]` section: its default and, per release, the
/// Debian architecture and kernel flavour to take.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceSection {
    pub default: Option<String>,
    #[serde(default)]
    pub debian: Vec<DebianKernel>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebianKernel {
    pub release: String,
    pub arch: String,
    pub flavour: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelSection {
    pub source: Option<PathBuf>,
    pub build: Option<PathBuf>,
    pub version: Option<String>,
    pub libbpf_include: Option<PathBuf>,
    /// A reference kernel (`debian:6.1`): tree, version, helpers, image and
    /// busybox as one unit, in place of `source`/`build`.
    pub reference: Option<String>,
    /// What the kernel capability check lets through (a vendor backport):
    /// `global-data`, `loops`, `helper:NAME`, `config:OPTION`, ... or `all`.
    pub allow: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BpfMode {
    /// clang for the target's own triple, then llc to BPF (the seed's way).
    #[default]
    Native,
    /// `-target bpf -g` against a vmlinux.h made from the target's BTF.
    Core,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BpfSection {
    pub mode: Option<BpfMode>,
    /// Extra clang flags, after ours.
    pub cflags: Option<Vec<String>>,
    /// Extra llc flags, for example `-mcpu=v2`.
    pub llc_flags: Option<Vec<String>>,
    /// Target BTF for CO-RE mode (vmlinux or a .btf file).
    pub btf: Option<PathBuf>,
    /// CO-RE mode: more kernels the bundle is for (`debian:RELEASE`, or a
    /// vmlinux with BTF or DWARF). The objects are the same; the bundle
    /// carries each kernel's minimal BTF beside the main one's.
    pub also_kernels: Option<Vec<String>>,
    /// Write the target's LINUX_VERSION_CODE over a `version` section of
    /// 0xFFFFFFFE, so kernels before 5.0 accept the kprobe whatever loader
    /// is used.
    pub stamp_version: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoaderSection {
    pub linker: Option<String>,
    pub linker_args: Option<Vec<String>>,
    pub rustflags: Option<Vec<String>>,
    /// A Rust triple or target-spec JSON that replaces the arch's own, for
    /// vendor toolchains such as Yocto's `arm-poky-linux-gnueabi`.
    pub rust_target: Option<String>,
    #[serde(rename = "static")]
    pub static_: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QemuSection {
    pub system: Option<String>,
    /// The Debian package that provides `system`, for hints.
    pub package: Option<String>,
    pub machine: Option<String>,
    pub cpu: Option<String>,
    pub console: Option<String>,
    pub memory_mb: Option<u32>,
    pub append: Option<Vec<String>>,
    pub kernel_image: Option<PathBuf>,
    pub busybox: Option<PathBuf>,
}

/// A profile file exactly as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    pub extends: Option<String>,
    pub description: Option<String>,
    pub arch: Option<ArchSection>,
    pub kernel: Option<KernelSection>,
    pub bpf: Option<BpfSection>,
    pub loader: Option<LoaderSection>,
    pub qemu: Option<QemuSection>,
    pub reference: Option<ReferenceSection>,
}

/// A resolved profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    /// Name used in paths and messages: the built-in name or the file stem.
    pub name: String,
    /// The built-in it rests on (itself for a built-in).
    pub base: String,
    pub description: String,
    /// The file it came from; None for built-ins.
    pub file: Option<PathBuf>,
    pub arch: Arch,
    pub kernel: KernelSection,
    pub bpf: BpfSection,
    pub loader: LoaderSection,
    pub qemu: Option<QemuSection>,
    /// Debian kernels this profile can use without a tree of its own.
    pub reference: Option<ReferenceSection>,
}

macro_rules! overlay_opt {
    ($dst:expr, $src:expr, $($f:ident),*) => {
        $( if $src.$f.is_some() { $dst.$f = $src.$f.clone(); } )*
    };
}

impl KernelSection {
    pub fn overlay(&mut self, o: &KernelSection) {
        // A tree and a reference kernel are alternatives: the file that
        // names one drops the other it inherited. One file naming both is
        // refused when the layers are resolved.
        if o.source.is_some() || o.build.is_some() {
            self.reference = None;
        }
        if o.reference.is_some() {
            self.source = None;
            self.build = None;
        }
        overlay_opt!(
            self,
            o,
            source,
            build,
            version,
            libbpf_include,
            reference,
            allow
        );
    }
}
impl BpfSection {
    pub fn overlay(&mut self, o: &BpfSection) {
        overlay_opt!(
            self,
            o,
            mode,
            cflags,
            llc_flags,
            btf,
            also_kernels,
            stamp_version
        );
    }
}
impl LoaderSection {
    pub fn overlay(&mut self, o: &LoaderSection) {
        overlay_opt!(
            self,
            o,
            linker,
            linker_args,
            rustflags,
            rust_target,
            static_
        );
    }
}
impl QemuSection {
    pub fn overlay(&mut self, o: &QemuSection) {
        overlay_opt!(
            self,
            o,
            system,
            package,
            machine,
            cpu,
            console,
            memory_mb,
            append,
            kernel_image,
            busybox
        );
    }
}

/// Parses one profile file's text; `file` is only for messages.
pub fn parse(text: &str, file: &Path) -> Result<ProfileFile> {
    toml::from_str::<ProfileFile>(text).map_err(|e| {
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        let message = e.message().trim().replace("unknown field", "unknown key");
        Error::ProfileSyntax {
            file: file.to_path_buf(),
            line,
            column,
            message,
        }
    })
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    (line, column)
}

/// Looks like a path rather than a name.
fn is_path_like(spec: &str) -> bool {
    spec.contains('/') || spec.ends_with(".toml")
}

/// Makes relative paths in a file's sections relative to that file's dir.
/// An empty path is refused: joined to the dir it would silently name the
/// board file's own directory as a kernel tree or image.
fn anchor_paths(pf: &mut ProfileFile, dir: &Path, file: &Path) -> Result<()> {
    let fix = |p: &mut Option<PathBuf>, key: &str| -> Result<()> {
        if let Some(x) = p {
            if x.as_os_str().is_empty() {
                return Err(Error::Usage {
                    message: format!("{}: `{key}` is empty", file.display()),
                    hint: format!("give `{key}` a path, or delete the line to inherit it"),
                });
            }
            if x.is_relative() {
                *x = dir.join(&*x);
            }
        }
        Ok(())
    };
    if let Some(k) = pf.kernel.as_mut() {
        fix(&mut k.source, "[kernel] source")?;
        fix(&mut k.build, "[kernel] build")?;
        fix(&mut k.libbpf_include, "[kernel] libbpf_include")?;
    }
    if let Some(b) = pf.bpf.as_mut() {
        fix(&mut b.btf, "[bpf] btf")?;
    }
    if let Some(q) = pf.qemu.as_mut() {
        fix(&mut q.kernel_image, "[qemu] kernel_image")?;
        fix(&mut q.busybox, "[qemu] busybox")?;
    }
    Ok(())
}

enum Located {
    Builtin(&'static str, &'static str),
    File(PathBuf, String),
}

fn locate(spec: &str, boards: &[PathBuf], relative_to: Option<&Path>) -> Result<Located> {
    if is_path_like(spec) {
        let p = match relative_to {
            Some(d) if Path::new(spec).is_relative() => d.join(spec),
            _ => PathBuf::from(spec),
        };
        let text = std::fs::read_to_string(&p).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::UnknownTarget {
                    name: spec.to_string(),
                    known: arch::builtin_names(),
                }
            } else {
                Error::Read {
                    path: p.clone(),
                    source: e,
                }
            }
        })?;
        return Ok(Located::File(p, text));
    }
    if let Some(src) = arch::builtin_source(spec) {
        let name = arch::BUILTIN.iter().find(|(n, _)| *n == spec).unwrap().0;
        return Ok(Located::Builtin(name, src));
    }
    for dir in boards {
        let p = dir.join(format!("{spec}.toml"));
        if let Ok(text) = std::fs::read_to_string(&p) {
            return Ok(Located::File(p, text));
        }
    }
    Err(Error::UnknownTarget {
        name: spec.to_string(),
        known: arch::builtin_names(),
    })
}

impl Profile {
    /// Loads a built-in by name.
    pub fn load(spec: &str) -> Result<Profile> {
        Self::load_with(spec, &[])
    }

    /// Loads a built-in, a board name found in one of `boards`, or a file.
    pub fn load_with(spec: &str, boards: &[PathBuf]) -> Result<Profile> {
        let mut chain: Vec<(ProfileFile, String, Option<PathBuf>)> = Vec::new();
        let mut next = Some((spec.to_string(), None::<PathBuf>));
        let mut seen: Vec<String> = Vec::new();
        // The file whose `extends` named the next profile, for errors.
        let mut extended_by: Option<PathBuf> = None;
        while let Some((s, rel)) = next.take() {
            let located = locate(&s, boards, rel.as_deref()).map_err(|e| match (e, &extended_by) {
                (Error::UnknownTarget { name, known }, Some(f)) => Error::Usage {
                    message: format!("{}: `extends = \"{name}\"` names no profile", f.display()),
                    hint: format!(
                        "extend a built-in ({}), a board name found in the boards dir, or a path relative to that file",
                        known.join(", ")
                    ),
                },
                (e, _) => e,
            })?;
            let (mut pf, name, file) = match located {
                Located::Builtin(name, text) => (
                    parse(text, Path::new(&format!("<built-in {name}>")))?,
                    name.to_string(),
                    None,
                ),
                Located::File(path, text) => {
                    let pf = parse(&text, &path)?;
                    let stem = path
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_else(|| s.clone());
                    (pf, stem, Some(path))
                }
            };
            let key = file
                .as_ref()
                .map(|f| f.canonicalize().unwrap_or(f.clone()).display().to_string())
                .unwrap_or_else(|| name.clone());
            if seen.contains(&key) {
                seen.push(key);
                return Err(Error::ProfileCycle {
                    profile: spec.to_string(),
                    chain: seen.join(" -> "),
                });
            }
            seen.push(key);
            if let Some(f) = &file {
                let dir = f.parent().unwrap_or(Path::new(".")).to_path_buf();
                anchor_paths(&mut pf, &dir, f)?;
                extended_by = Some(f.clone());
                if let Some(e) = &pf.extends {
                    next = Some((e.clone(), Some(dir)));
                }
            } else if let Some(e) = &pf.extends {
                extended_by = None;
                next = Some((e.clone(), None));
            }
            chain.push((pf, name, file));
        }

        // Apply from the root of the chain down, so the board file wins.
        let mut arch = ArchSection::default();
        let mut kernel = KernelSection::default();
        let mut bpf = BpfSection::default();
        let mut loader = LoaderSection::default();
        let mut qemu: Option<QemuSection> = None;
        let mut reference: Option<ReferenceSection> = None;
        let mut description = None;
        for (pf, _, _) in chain.iter().rev() {
            if let Some(a) = &pf.arch {
                arch.overlay(a);
            }
            if let Some(k) = &pf.kernel {
                kernel.overlay(k);
            }
            if let Some(b) = &pf.bpf {
                bpf.overlay(b);
            }
            if let Some(l) = &pf.loader {
                loader.overlay(l);
            }
            if let Some(q) = &pf.qemu {
                qemu.get_or_insert_with(Default::default).overlay(q);
            }
            if pf.reference.is_some() {
                reference = pf.reference.clone();
            }
            if pf.description.is_some() {
                description = pf.description.clone();
            }
        }
        let (_, name, file) = chain.first().expect("chain has the requested profile");
        let base = chain.last().map(|c| c.1.clone()).unwrap_or_default();
        let arch = arch.resolve().map_err(|key| Error::ProfileIncomplete {
            profile: name.clone(),
            key: key.to_string(),
        })?;
        Ok(Profile {
            name: name.clone(),
            base,
            description: description.unwrap_or_default(),
            file: file.clone(),
            arch,
            kernel,
            bpf,
            loader,
            qemu,
            reference,
        })
    }

    /// The Rust target the loader builds for: the loader override, else the
    /// arch's own triple.
    pub fn rust_target(&self) -> &str {
        self.loader
            .rust_target
            .as_deref()
            .unwrap_or(&self.arch.rust_target)
    }
}

/// The name of an ELF machine, looked up in the table (for messages about
/// a file built for some other board).
pub fn elf_machine_name(machine: u16) -> Option<String> {
    arch::BUILTIN.iter().find_map(|(name, _)| {
        let a = Profile::load(name).ok()?.arch;
        (a.elf_machine == machine && !a.elf_machine_name.is_empty()).then_some(a.elf_machine_name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn board_file_extends_builtin_and_anchors_paths() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "bbb.toml",
            "extends = \"armv7\"\ndescription = \"BeagleBone\"\n[kernel]\nsource = \"linux\"\nversion = \"4.19\"\n",
        );
        let prof = Profile::load(p.to_str().unwrap()).unwrap();
        assert_eq!(prof.name, "bbb");
        assert_eq!(prof.base, "armv7");
        assert_eq!(prof.arch.clang_target, "armv7a-linux-gnueabihf");
        assert_eq!(prof.kernel.source, Some(d.path().join("linux")));
        assert_eq!(prof.kernel.version.as_deref(), Some("4.19"));
        assert_eq!(prof.description, "BeagleBone");
        assert_eq!(prof.qemu.unwrap().cpu.as_deref(), Some("cortex-a15"));
    }

    #[test]
    fn board_can_be_named_from_a_boards_dir() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "rpi0.toml", "extends = \"armv6\"\n");
        let prof = Profile::load_with("rpi0", &[d.path().to_path_buf()]).unwrap();
        assert_eq!(prof.arch.rust_target, "arm-unknown-linux-gnueabihf");
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "bad.toml",
            "extends = \"armv7\"\n\n[kernel]\nsorce = \"x\"\n",
        );
        let e = Profile::load(p.to_str().unwrap()).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!("{}:4:1: unknown key `sorce`", p.display())),
            "{msg}"
        );
    }

    #[test]
    fn malformed_toml_names_line() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "bad.toml", "extends = \"armv7\"\n[kernel\n");
        let msg = Profile::load(p.to_str().unwrap()).unwrap_err().to_string();
        assert!(msg.starts_with(&format!("{}:2:", p.display())), "{msg}");
    }

    #[test]
    fn unknown_target_lists_builtins() {
        let e = Profile::load("armv9").unwrap_err();
        assert_eq!(e.to_string(), "unknown target `armv9`");
        assert!(e.hint().contains("armv7, armv6, aarch64"));
    }

    #[test]
    fn incomplete_profile_says_which_key() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "x.toml", "[arch]\nsrcarch = \"arm\"\n");
        let e = Profile::load(p.to_str().unwrap()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "profile `x` is incomplete: `arch.clang_target` is not set"
        );
    }

    #[test]
    fn extends_cycle_is_refused() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "a.toml", "extends = \"./b.toml\"\n");
        let b = write(d.path(), "b.toml", "extends = \"./a.toml\"\n");
        let e = Profile::load(b.to_str().unwrap()).unwrap_err();
        assert!(matches!(e, Error::ProfileCycle { .. }), "{e}");
    }

    #[test]
    fn loader_rust_target_override() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "poky.toml",
            "extends = \"armv7\"\n[loader]\nrust_target = \"arm-poky-linux-gnueabi\"\nstatic = true\n",
        );
        let prof = Profile::load(p.to_str().unwrap()).unwrap();
        assert_eq!(prof.rust_target(), "arm-poky-linux-gnueabi");
        assert_eq!(prof.loader.static_, Some(true));
    }
}
