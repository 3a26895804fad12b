//! A configured kernel tree: the source side (srctree) and the build side
//! (objtree, `make O=`), which are the same directory for an in-tree build.
//!
//! Debian's `linux-headers-*-common` with `-<flavour>`, Yocto's
//! STAGING_KERNEL_DIR with STAGING_KERNEL_BUILDDIR, and `/lib/modules/*/`
//! `source` with `build` are all split trees; a tool that takes one
//! directory can't use them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::arch::Arch;
use crate::error::{Error, Result};
use crate::version::KernelVersion;

#[derive(Debug, Clone, PartialEq)]
pub struct KernelTree {
    pub src: PathBuf,
    pub build: PathBuf,
    pub version: KernelVersion,
    /// `.config` options that are `y` or `m`.
    pub config: BTreeMap<String, String>,
}

/// Where a setting came from, for the mismatch message.
#[derive(Debug, Clone)]
pub struct Given<T> {
    pub value: T,
    pub from: String,
}

fn exists_dir(what: &'static str, p: &Path) -> Result<PathBuf> {
    // clang's -I and the generated headers take the path as text: a byte
    // that is not UTF-8 would become U+FFFD and name another directory,
    // and a newline would split a line of compile_commands.json.
    match p.to_str() {
        None => {
            return Err(Error::Usage {
                message: format!(
                    "the kernel {what} directory `{}` is not a UTF-8 path",
                    p.display()
                ),
                hint:
                    "move or link the tree to a path of plain text (clang takes -I paths as text)"
                        .into(),
            })
        }
        Some(t) if t.chars().any(char::is_control) => {
            return Err(Error::Usage {
                message: format!(
                    "the kernel {what} directory {t:?} has a control character in its path"
                ),
                hint: "move or link the tree to a path without one".into(),
            })
        }
        Some(_) => {}
    }
    if p.is_dir() {
        // Absolute, because the paths end up in generated headers and
        // compile_commands.json, read from other directories.
        Ok(crate::fsutil::absolute(p))
    } else {
        Err(Error::KernelDirMissing {
            what,
            path: p.to_path_buf(),
        })
    }
}

/// Finds the srctree of a build dir: kbuild's `source` symlink, or the
/// `include .../Makefile` / `-C ...` line of Debian's stub Makefile. The
/// stub's path is absolute (`/usr/src/...`), so when it does not exist here
/// (an unpacked .deb) its basename is tried beside the build dir.
pub fn source_of_build(build: &Path) -> Option<PathBuf> {
    let link = build.join("source");
    if link.join("include/linux/kconfig.h").exists() {
        return Some(link);
    }
    let makefile = std::fs::read_to_string(build.join("Makefile")).ok()?;
    for line in makefile.lines() {
        let t = line.trim();
        if t.starts_with('#') {
            continue;
        }
        let candidate = if let Some(rest) = t.strip_prefix("include ") {
            Path::new(rest.trim()).parent().map(Path::to_path_buf)
        } else if let Some(i) = t.find("-C ") {
            t[i + 3..].split_whitespace().next().map(PathBuf::from)
        } else {
            None
        };
        if let Some(c) = candidate {
            if c.join("include/linux/kconfig.h").exists() {
                return Some(c);
            }
            if let (Some(name), Some(parent)) = (c.file_name(), build.parent()) {
                let sibling = parent.join(name);
                if sibling.join("include/linux/kconfig.h").exists() {
                    return Some(sibling);
                }
            }
        }
    }
    None
}

impl KernelTree {
    /// Opens a tree given either side or both, checks it is prepared, and
    /// reads its version. `given_version` must agree with the tree.
    pub fn open(
        src: Option<&Path>,
        build: Option<&Path>,
        arch: &Arch,
        given_version: Option<&Given<KernelVersion>>,
    ) -> Result<KernelTree> {
        let (src, build) = match (src, build) {
            (Some(s), Some(b)) => (exists_dir("source", s)?, exists_dir("build", b)?),
            (Some(s), None) => {
                let s = exists_dir("source", s)?;
                (s.clone(), s)
            }
            (None, Some(b)) => {
                let b = exists_dir("build", b)?;
                (source_of_build(&b).unwrap_or_else(|| b.clone()), b)
            }
            (None, None) => {
                return Err(Error::Usage {
                    message: "no kernel tree given".into(),
                    hint: "pass --kernel-src DIR (and --kernel-build DIR for a split tree), set EBPF_CROSS_KERNEL_SRC, or add [kernel] source to the profile".into(),
                })
            }
        };
        if !src.join("include/linux/kconfig.h").exists() {
            return Err(Error::Usage {
                message: format!(
                    "`{}` is not a kernel source tree (no include/linux/kconfig.h)",
                    src.display()
                ),
                hint: "point --kernel-src at the top of the kernel sources (for Debian: /usr/src/linux-headers-<abi>-common; for Yocto: STAGING_KERNEL_DIR)".into(),
            });
        }
        check_prepared(&src, &build, arch)?;
        let version = read_version(&src, &build)?;
        if let Some(g) = given_version {
            if !version.agrees_with(&g.value) {
                return Err(Error::KernelVersionMismatch {
                    given: g.value.to_string(),
                    source_name: g.from.clone(),
                    tree: version.to_string(),
                });
            }
        }
        let config = read_config(&build.join(".config"));
        Ok(KernelTree {
            src,
            build,
            version,
            config,
        })
    }

    /// UTS_RELEASE: the release `uname -r` reports on a board running
    /// this kernel. None when the tree was never prepared that far.
    pub fn release(&self) -> Option<String> {
        let t = std::fs::read_to_string(self.build.join("include/generated/utsrelease.h")).ok()?;
        let v = define_value(&t, "UTS_RELEASE")?;
        let v = v.trim_matches('"').trim();
        (!v.is_empty()).then(|| v.to_string())
    }

    pub fn is_split(&self) -> bool {
        self.src != self.build
    }

    pub fn is_enabled(&self, option: &str) -> bool {
        self.config.contains_key(option)
    }

    /// The kernel's own include set, in its order: LINUXINCLUDE, then
    /// USERINCLUDE, then the forced kconfig.h.
    pub fn include_args(&self, arch: &Arch) -> Vec<String> {
        let s = |p: &str| format!("-I{}", self.src.join(p).display());
        let b = |p: &str| format!("-I{}", self.build.join(p).display());
        let a = &arch.srcarch;
        let mut v = vec![
            s(&format!("arch/{a}/include")),
            b(&format!("arch/{a}/include/generated")),
        ];
        if self.is_split() {
            v.push(s("include"));
        }
        v.push(b("include"));
        v.push(s(&format!("arch/{a}/include/uapi")));
        v.push(b(&format!("arch/{a}/include/generated/uapi")));
        v.push(s("include/uapi"));
        v.push(b("include/generated/uapi"));
        v.push("-include".into());
        v.push(
            self.src
                .join("include/linux/kconfig.h")
                .display()
                .to_string(),
        );
        v.extend(arch.kernel_includes.iter().map(|p| s(p)));
        v
    }
}

/// The files `make prepare` leaves behind, each with what creates it.
fn check_prepared(src: &Path, build: &Path, arch: &Arch) -> Result<()> {
    let a = &arch.srcarch;
    let o = if src == build {
        String::new()
    } else {
        format!(" O={}", quote_for_message(build))
    };
    let make = format!(
        "make -C {} ARCH={a} CROSS_COMPILE={}{o}",
        quote_for_message(src),
        arch.cross_prefix
    );
    let config_cmd = format!(
        "copy the board's kernel config to {}/.config, or `{make} defconfig`",
        build.display()
    );
    let prepare_cmd = format!("{make} olddefconfig modules_prepare");
    let wanted: Vec<(String, &String)> = vec![
        (".config".into(), &config_cmd),
        ("include/config/auto.conf".into(), &prepare_cmd),
        ("include/generated/autoconf.h".into(), &prepare_cmd),
        (
            "include/generated/uapi/linux/version.h".into(),
            &prepare_cmd,
        ),
        ("include/generated/utsrelease.h".into(), &prepare_cmd),
        (format!("arch/{a}/include/generated/asm"), &prepare_cmd),
        (format!("arch/{a}/include/generated/uapi/asm"), &prepare_cmd),
        ("include/generated/bounds.h".into(), &prepare_cmd),
        ("include/generated/asm-offsets.h".into(), &prepare_cmd),
    ];
    let missing: Vec<(PathBuf, String)> = wanted
        .into_iter()
        .map(|(rel, cmd)| (build.join(rel), cmd.clone()))
        .filter(|(p, _)| !p.exists())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::KernelNotPrepared { missing })
    }
}

fn quote_for_message(p: &Path) -> String {
    let s = p.display().to_string();
    if s.contains(' ') {
        format!("'{s}'")
    } else {
        s
    }
}

fn define_value(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next() == Some("#define") && it.next() == Some(name))
            .then(|| it.collect::<Vec<_>>().join(" "))
    })
}

fn makefile_var(text: &str, name: &str) -> Option<u32> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == name).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Reads the version from `version.h`; its sublevel is clamped to 255, so a
/// full sublevel is taken from the newer LINUX_VERSION_SUBLEVEL or the
/// top-level Makefile.
pub fn read_version(src: &Path, build: &Path) -> Result<KernelVersion> {
    let vh = build.join("include/generated/uapi/linux/version.h");
    let text = std::fs::read_to_string(&vh).unwrap_or_default();
    let from_code = define_value(&text, "LINUX_VERSION_CODE")
        .and_then(|v| v.parse::<u32>().ok())
        .map(KernelVersion::from_code);
    let explicit = match (
        define_value(&text, "LINUX_VERSION_MAJOR"),
        define_value(&text, "LINUX_VERSION_PATCHLEVEL"),
        define_value(&text, "LINUX_VERSION_SUBLEVEL"),
    ) {
        (Some(a), Some(b), Some(c)) => match (a.parse(), b.parse(), c.parse()) {
            (Ok(a), Ok(b), Ok(c)) => Some(KernelVersion::new(a, b, c)),
            _ => None,
        },
        _ => None,
    };
    let makefile = std::fs::read_to_string(src.join("Makefile")).unwrap_or_default();
    let from_makefile = match (
        makefile_var(&makefile, "VERSION"),
        makefile_var(&makefile, "PATCHLEVEL"),
        makefile_var(&makefile, "SUBLEVEL"),
    ) {
        (Some(a), Some(b), Some(c)) => Some(KernelVersion::new(a, b, c)),
        _ => None,
    };
    // Last resort: the release string, whose patch level is often an ABI
    // number rather than the sublevel (Debian's "6.1.0-50-armmp").
    let from_uts = || {
        let t = std::fs::read_to_string(build.join("include/generated/utsrelease.h")).ok()?;
        let v = define_value(&t, "UTS_RELEASE")?;
        KernelVersion::parse(v.trim_matches('"')).ok()
    };
    match (explicit, from_code, from_makefile) {
        (Some(v), _, _) => Ok(v),
        (None, Some(c), Some(m)) if c.major == m.major && c.minor == m.minor => Ok(m),
        (None, Some(c), _) => Ok(c),
        (None, None, Some(m)) => Ok(m),
        _ => from_uts().ok_or_else(|| Error::KernelVersionUnknown(build.to_path_buf())),
    }
}

fn read_config(path: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, v)| k.starts_with("CONFIG_") && (*v == "y" || *v == "m"))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn armv7() -> Arch {
        crate::profile::Profile::load("armv7").unwrap().arch
    }

    /// A fake prepared split tree, enough for the checks here.
    fn fake_split(root: &Path, sublevel_in_h: bool) -> (PathBuf, PathBuf) {
        let s = root.join("src tree");
        let b = root.join("build");
        std::fs::create_dir_all(s.join("include/linux")).unwrap();
        std::fs::write(s.join("include/linux/kconfig.h"), "").unwrap();
        std::fs::write(
            s.join("Makefile"),
            "VERSION = 4\nPATCHLEVEL = 19\nSUBLEVEL = 300\n",
        )
        .unwrap();
        for d in [
            "include/config",
            "include/generated/uapi/linux",
            "arch/arm/include/generated/asm",
            "arch/arm/include/generated/uapi/asm",
        ] {
            std::fs::create_dir_all(b.join(d)).unwrap();
        }
        for f in [
            "include/config/auto.conf",
            "include/generated/autoconf.h",
            "include/generated/utsrelease.h",
            "include/generated/bounds.h",
            "include/generated/asm-offsets.h",
        ] {
            std::fs::write(b.join(f), "").unwrap();
        }
        std::fs::write(
            b.join(".config"),
            "CONFIG_CPU_32v7=y\nCONFIG_FOO=m\n# CONFIG_BAR is not set\nCONFIG_S=\"x\"\n",
        )
        .unwrap();
        let mut vh = format!(
            "#define LINUX_VERSION_CODE {}\n",
            (4 << 16) | (19 << 8) | 255
        );
        if sublevel_in_h {
            vh.push_str("#define LINUX_VERSION_MAJOR 4\n#define LINUX_VERSION_PATCHLEVEL 19\n#define LINUX_VERSION_SUBLEVEL 301\n");
        }
        std::fs::write(b.join("include/generated/uapi/linux/version.h"), vh).unwrap();
        (s, b)
    }

    #[test]
    fn split_tree_include_order_and_version() {
        let d = tempfile::tempdir().unwrap();
        let (s, b) = fake_split(d.path(), false);
        let t = KernelTree::open(Some(&s), Some(&b), &armv7(), None).unwrap();
        assert_eq!(t.version, KernelVersion::new(4, 19, 300));
        assert!(t.is_enabled("CONFIG_CPU_32v7") && t.is_enabled("CONFIG_FOO"));
        assert!(!t.is_enabled("CONFIG_BAR") && !t.is_enabled("CONFIG_S"));
        let args = t.include_args(&armv7());
        let sd = s.display();
        let bd = b.display();
        assert_eq!(
            args,
            vec![
                format!("-I{sd}/arch/arm/include"),
                format!("-I{bd}/arch/arm/include/generated"),
                format!("-I{sd}/include"),
                format!("-I{bd}/include"),
                format!("-I{sd}/arch/arm/include/uapi"),
                format!("-I{bd}/arch/arm/include/generated/uapi"),
                format!("-I{sd}/include/uapi"),
                format!("-I{bd}/include/generated/uapi"),
                "-include".to_string(),
                format!("{sd}/include/linux/kconfig.h"),
            ]
        );
    }

    #[test]
    fn explicit_sublevel_wins() {
        let d = tempfile::tempdir().unwrap();
        let (s, b) = fake_split(d.path(), true);
        let t = KernelTree::open(Some(&s), Some(&b), &armv7(), None).unwrap();
        assert_eq!(t.version, KernelVersion::new(4, 19, 301));
    }

    #[test]
    fn version_mismatch_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let (s, b) = fake_split(d.path(), false);
        let given = Given {
            value: KernelVersion::parse("5.10").unwrap(),
            from: "--kernel-version".into(),
        };
        let e = KernelTree::open(Some(&s), Some(&b), &armv7(), Some(&given)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "kernel version `5.10` (from --kernel-version) contradicts the tree, which is 4.19.300"
        );
        let ok = Given {
            value: KernelVersion::parse("4.19").unwrap(),
            from: "x".into(),
        };
        KernelTree::open(Some(&s), Some(&b), &armv7(), Some(&ok)).unwrap();
    }

    #[test]
    fn unprepared_tree_names_each_file_and_the_command() {
        let d = tempfile::tempdir().unwrap();
        let (s, b) = fake_split(d.path(), false);
        std::fs::remove_file(b.join("include/generated/bounds.h")).unwrap();
        std::fs::remove_file(b.join(".config")).unwrap();
        let e = KernelTree::open(Some(&s), Some(&b), &armv7(), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "kernel tree is not prepared: {}, {}",
                b.join(".config").display(),
                b.join("include/generated/bounds.h").display()
            )
        );
        let hint = e.hint();
        assert!(hint.contains(&format!(
            "make -C '{}' ARCH=arm CROSS_COMPILE=arm-linux-gnueabihf- O={} olddefconfig modules_prepare",
            s.display(),
            b.display()
        )), "{hint}");
    }

    #[test]
    fn release_is_uts_release_as_the_board_reports_it() {
        let d = tempfile::tempdir().unwrap();
        let (s, b) = fake_split(d.path(), false);
        let tree = |build: &Path| KernelTree {
            src: s.clone(),
            build: build.to_path_buf(),
            version: KernelVersion::new(6, 1, 192),
            config: BTreeMap::new(),
        };
        std::fs::write(
            b.join("include/generated/utsrelease.h"),
            "#define UTS_RELEASE \"6.1.0-57-armmp\"\n",
        )
        .unwrap();
        assert_eq!(tree(&b).release().as_deref(), Some("6.1.0-57-armmp"));
        std::fs::write(
            b.join("include/generated/utsrelease.h"),
            "#define UTS_RELEASE \"\"\n",
        )
        .unwrap();
        assert_eq!(tree(&b).release(), None);
        assert_eq!(tree(&d.path().join("none")).release(), None);
    }

    #[test]
    fn utsrelease_is_the_last_resort() {
        let d = tempfile::tempdir().unwrap();
        let (s, b) = fake_split(d.path(), false);
        std::fs::write(b.join("include/generated/uapi/linux/version.h"), "").unwrap();
        std::fs::write(s.join("Makefile"), "").unwrap();
        std::fs::write(
            b.join("include/generated/utsrelease.h"),
            "#define UTS_RELEASE \"5.10.120-ti-r47\"\n",
        )
        .unwrap();
        assert_eq!(
            read_version(&s, &b).unwrap(),
            KernelVersion::new(5, 10, 120)
        );
        std::fs::write(b.join("include/generated/utsrelease.h"), "").unwrap();
        let e = read_version(&s, &b).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "could not tell the kernel version of the tree at `{}`",
                b.display()
            )
        );
    }

    #[test]
    fn missing_dir() {
        let e = KernelTree::open(Some(Path::new("/nonexistent/linux")), None, &armv7(), None)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "kernel source directory `/nonexistent/linux` does not exist"
        );
    }

    #[test]
    fn debian_stub_makefile_leads_to_source() {
        let d = tempfile::tempdir().unwrap();
        let (s, b) = fake_split(d.path(), false);
        // Debian's stub names an absolute /usr/src path that is not here.
        let name = s.file_name().unwrap().to_string_lossy().into_owned();
        std::fs::write(
            b.join("Makefile"),
            format!("include /usr/src/{name}/Makefile\n"),
        )
        .unwrap();
        assert_eq!(source_of_build(&b), Some(s));
    }
}
