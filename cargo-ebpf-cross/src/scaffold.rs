//! The project template behind `new` and `init`: which files a new project
//! gets, their text, and the few placeholders filled in.
//!
//! The files are embedded with `include_str!` so the installed binary needs
//! nothing beside it. They live in the repository's `templates/`, outside
//! the crate, so one copy serves both this tool and people reading it; the
//! crate reaches them through symlinks in its own directory
//! (`cargo-ebpf-cross/templates`, `example/`, the licence files), which
//! `cargo package` follows, so the published crate carries them too.
//!
//! Placeholders are exactly `{{name}}`, `{{name_snake}}`, `{{recipe_name}}`,
//! `{{br_upper}}`, `{{target}}`, `{{tool_repo}}`, `{{tool_git}}` and
//! `{{tool_version}}`.
//! Anything else in braces (GitHub's `${{ matrix.board }}`, Rust's `{{`) is
//! left as it is.

use std::path::PathBuf;

/// One file of a new project: where it goes (with placeholders) and its text.
pub struct Template {
    pub path: &'static str,
    pub text: &'static str,
}

macro_rules! template {
    ($out:expr, $src:expr) => {
        Template {
            path: $out,
            text: include_str!(concat!("../templates/", $src)),
        }
    };
}

/// The loader is the example's own, word for word, so the two cannot
/// drift apart.
macro_rules! from_example {
    ($out:expr, $src:expr) => {
        Template {
            path: $out,
            text: include_str!(concat!("../example/", $src)),
        }
    };
}

/// Files taken verbatim from the crate's own directory (the licence texts
/// the generated recipe's LIC_FILES_CHKSUM names).
macro_rules! from_crate {
    ($out:expr, $src:expr) => {
        Template {
            path: $out,
            text: include_str!(concat!("../", $src)),
        }
    };
}

/// Every file `new` writes, in the order it writes them. Some names differ
/// from the source: a real `.gitignore` or `.github/` under `templates/`
/// would act on this repository instead of being a template.
pub const TEMPLATES: &[Template] = &[
    template!("Cargo.toml", "project/Cargo.toml.in"),
    from_example!("build.rs", "build.rs"),
    from_example!("src/main.rs", "src/main.rs"),
    template!("bpf/{{name}}.bpf.c", "project/bpf/NAME.bpf.c"),
    template!("boards/myboard.toml", "project/boards/myboard.toml"),
    template!("README.md", "project/README.md"),
    template!(".gitignore", "project/gitignore"),
    from_crate!("LICENSE-MIT", "LICENSE-MIT"),
    from_crate!("LICENSE-APACHE", "LICENSE-APACHE"),
    template!("yocto/conf/layer.conf", "yocto/conf/layer.conf"),
    template!(
        "yocto/classes/ebpf_cross.bbclass",
        "yocto/classes/ebpf_cross.bbclass"
    ),
    template!(
        "yocto/recipes-ebpf/{{recipe_name}}/{{recipe_name}}_git.bb",
        "yocto/recipes-ebpf/NAME/NAME_git.bb"
    ),
    template!(
        "yocto/recipes-devtools/cargo-ebpf-cross/cargo-ebpf-cross_{{tool_version}}.bb",
        "yocto/recipes-devtools/cargo-ebpf-cross/cargo-ebpf-cross_0.1.0.bb"
    ),
    template!(
        "yocto/recipes-devtools/cargo-ebpf-cross/cargo-ebpf-cross-crates.inc",
        "yocto/recipes-devtools/cargo-ebpf-cross/cargo-ebpf-cross-crates.inc"
    ),
    template!(
        "yocto/recipes-kernel/linux/linux-yocto_%.bbappend",
        "yocto/recipes-kernel/linux/linux-yocto_%.bbappend"
    ),
    template!(
        "yocto/recipes-kernel/linux/files/ebpf.cfg",
        "yocto/recipes-kernel/linux/files/ebpf.cfg"
    ),
    template!("buildroot/external.desc", "buildroot/external.desc"),
    template!("buildroot/external.mk", "buildroot/external.mk"),
    template!("buildroot/Config.in", "buildroot/Config.in"),
    template!(
        "buildroot/package/{{recipe_name}}/Config.in",
        "buildroot/package/NAME/Config.in"
    ),
    template!(
        "buildroot/package/{{recipe_name}}/{{recipe_name}}.mk",
        "buildroot/package/NAME/NAME.mk"
    ),
    template!(
        "buildroot/package/cargo-ebpf-cross/cargo-ebpf-cross.mk",
        "buildroot/package/cargo-ebpf-cross/cargo-ebpf-cross.mk"
    ),
    template!(".github/workflows/ebpf-cross.yml", "ci/github-workflow.yml"),
    template!(".gitlab-ci.yml", "ci/gitlab-ci.yml"),
];

/// Where generated CI files point for installing the tool. The crate's
/// `repository` when Cargo.toml has one; otherwise a reserved `.invalid`
/// address, so a generated workflow fails loudly at `git clone` rather than
/// fetching something unrelated. Users edit `EBPF_CROSS_REPO` in it.
pub const TOOL_REPO: &str = if env!("CARGO_PKG_REPOSITORY").is_empty() {
    "https://example.invalid/cargo-ebpf-cross"
} else {
    env!("CARGO_PKG_REPOSITORY")
};

pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The tool's repository as a bitbake git SRC_URI: bitbake's git fetcher
/// wants `git://host/path;protocol=https`, not an https URL.
pub fn tool_git() -> String {
    match TOOL_REPO.split_once("://") {
        Some((scheme, rest)) => format!("git://{rest};protocol={scheme}"),
        None => format!("git://{TOOL_REPO};protocol=https"),
    }
}

/// The values the placeholders take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vars {
    pub name: String,
    pub target: String,
}

impl Vars {
    pub fn new(name: &str, target: &str) -> Self {
        Vars {
            name: name.to_string(),
            target: target.to_string(),
        }
    }

    /// The name as a Rust/C identifier, as cargo turns `my-probe` into the
    /// crate `my_probe`.
    pub fn name_snake(&self) -> String {
        self.name.replace('-', "_")
    }

    /// The name as a bitbake recipe name: lower case, since OE refuses
    /// upper-case recipe names, and `-` for `_`, since bitbake splits a
    /// recipe's file name at `_` into name and version.
    pub fn recipe_name(&self) -> String {
        self.name.to_ascii_lowercase().replace('_', "-")
    }

    /// Buildroot's name for the package's variables, as its UPPERCASE
    /// makes it of the package name (which is the recipe name: lower
    /// case, `-` for `_`): `MY_PROBE_VERSION`, `BR2_PACKAGE_MY_PROBE`. It is
    /// also the BR2_EXTERNAL tree's name, which allows only `[A-Za-z0-9_]`.
    pub fn br_upper(&self) -> String {
        self.recipe_name().to_ascii_uppercase().replace('-', "_")
    }

    fn pairs(&self) -> [(&'static str, String); 8] {
        [
            ("{{name}}", self.name.clone()),
            ("{{name_snake}}", self.name_snake()),
            ("{{recipe_name}}", self.recipe_name()),
            ("{{br_upper}}", self.br_upper()),
            ("{{target}}", self.target.clone()),
            ("{{tool_repo}}", TOOL_REPO.to_string()),
            ("{{tool_git}}", tool_git()),
            ("{{tool_version}}", TOOL_VERSION.to_string()),
        ]
    }
}

/// Fills the placeholders in one pass, so a value that happens to contain
/// `{{...}}` is never expanded again.
pub fn render(text: &str, vars: &Vars) -> String {
    let pairs = vars.pairs();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'scan: while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let at = &rest[i..];
        for (key, value) in &pairs {
            if let Some(after) = at.strip_prefix(key) {
                out.push_str(value);
                rest = after;
                continue 'scan;
            }
        }
        out.push_str("{{");
        rest = &at[2..];
    }
    out.push_str(rest);
    out
}

/// The project's files: relative path and rendered text.
pub fn files(vars: &Vars) -> Vec<(PathBuf, String)> {
    TEMPLATES
        .iter()
        .map(|t| (PathBuf::from(render(t.path, vars)), render(t.text, vars)))
        .collect()
}

/// Rust's keywords, strict and reserved (2018 and 2021 editions): cargo
/// refuses them as package names since the crate could not be named in code.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "if", "impl", "in",
    "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "Self", "static", "struct", "super", "trait", "true", "try", "type",
    "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Crates every Rust program can already name; a package called so would
/// be shadowed by, or shadow, the real one.
const STD_CRATES: &[&str] = &["alloc", "core", "proc_macro", "std", "test"];

/// The loader's own dependencies: a package may not share a name with one.
const DEPENDENCIES: &[&str] = &["aya", "libc", "object"];

/// Buildroot packages the generated tree defines or depends on; a project
/// of the same name would redefine one of them.
const BUILDROOT_TAKEN: &[&str] = &["cargo-ebpf-cross", "linux", "libbpf", "rustc"];

/// Checks a project name; Err holds the reason, worded to follow
/// "invalid project name `x`: ".
pub fn check_name(name: &str) -> Result<(), String> {
    let Some(first) = name.chars().next() else {
        return Err("it is empty".to_string());
    };
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(format!(
            "it contains `{c}`; only ASCII letters, digits, `-` and `_` are allowed"
        ));
    }
    if first.is_ascii_digit() {
        return Err("it starts with a digit".to_string());
    }
    // A leading `-` reads as an option on every command line it goes into.
    if first == '-' {
        return Err("it starts with `-`".to_string());
    }
    // The recipe and Buildroot package names turn `_` into `-`.
    if first == '_' {
        return Err(
            "it starts with `_`, which the Yocto recipe and Buildroot package names turn into a leading `-`"
                .to_string(),
        );
    }
    let package = name.to_ascii_lowercase().replace('_', "-");
    if package.starts_with("host-") {
        return Err(
            "Buildroot keeps names starting with `host-` for its host packages".to_string(),
        );
    }
    if BUILDROOT_TAKEN.contains(&package.as_str()) {
        return Err(format!(
            "the generated Buildroot tree already has or needs a package `{package}`"
        ));
    }
    let snake = name.replace('-', "_");
    if KEYWORDS.contains(&name) {
        return Err("it is a Rust keyword".to_string());
    }
    if STD_CRATES.contains(&snake.as_str()) {
        return Err("it is the name of a crate that comes with Rust".to_string());
    }
    if DEPENDENCIES.contains(&snake.as_str()) {
        return Err("the loader depends on a crate of that name".to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_others_left_alone() {
        let v = Vars::new("my-probe", "aarch64");
        let out = render(
            "{{name}} {{name_snake}} {{target}} ${{ matrix.board }} {{ x }} {{other}} {{",
            &v,
        );
        assert_eq!(
            out,
            "my-probe my_probe aarch64 ${{ matrix.board }} {{ x }} {{other}} {{"
        );
        assert!(render("{{tool_version}}", &v).starts_with(|c: char| c.is_ascii_digit()));
        assert!(render("{{tool_repo}}", &v).starts_with("https://"));
    }

    #[test]
    fn values_are_not_expanded_twice() {
        let v = Vars::new("a", "{{name}}");
        assert_eq!(render("{{target}}", &v), "{{name}}");
    }

    #[test]
    fn every_template_is_rendered_completely() {
        let v = Vars::new("demo", "armv7");
        for (path, text) in files(&v) {
            for key in [
                "{{name}}",
                "{{name_snake}}",
                "{{recipe_name}}",
                "{{br_upper}}",
                "{{target}}",
                "{{tool_repo}}",
                "{{tool_git}}",
                "{{tool_version}}",
            ] {
                assert!(!text.contains(key), "{} still has {key}", path.display());
            }
            // Any other `{{word}}` is a typo for a placeholder.
            let mut rest = text.as_str();
            while let Some(i) = rest.find("{{") {
                let after = &rest[i + 2..];
                let word: String = after
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                assert!(
                    word.is_empty() || !after[word.len()..].starts_with("}}"),
                    "{} has an unknown placeholder {{{{{word}}}}}",
                    path.display()
                );
                rest = after;
            }
        }
    }

    #[test]
    fn names() {
        for ok in [
            "demo", "my-probe", "my_probe", "Probe2", "x_", "selfish", "tests", "hostile",
        ] {
            assert_eq!(check_name(ok), Ok(()), "{ok}");
        }
        let why = |n: &str| check_name(n).unwrap_err();
        assert_eq!(why(""), "it is empty");
        assert_eq!(why("1probe"), "it starts with a digit");
        assert_eq!(why("-x"), "it starts with `-`");
        assert_eq!(
            why("_x"),
            "it starts with `_`, which the Yocto recipe and Buildroot package names turn into a leading `-`"
        );
        assert_eq!(
            why("Host_probe"),
            "Buildroot keeps names starting with `host-` for its host packages"
        );
        assert_eq!(
            why("Cargo_Ebpf-cross"),
            "the generated Buildroot tree already has or needs a package `cargo-ebpf-cross`"
        );
        assert_eq!(
            why("linux"),
            "the generated Buildroot tree already has or needs a package `linux`"
        );
        assert!(why("my probe").contains("contains ` `"));
        assert!(why("näme").contains("contains `ä`"));
        assert_eq!(why("fn"), "it is a Rust keyword");
        assert_eq!(why("async"), "it is a Rust keyword");
        assert_eq!(
            why("core"),
            "it is the name of a crate that comes with Rust"
        );
        assert_eq!(
            why("proc-macro"),
            "it is the name of a crate that comes with Rust"
        );
        assert_eq!(
            why("test"),
            "it is the name of a crate that comes with Rust"
        );
        assert_eq!(why("aya"), "the loader depends on a crate of that name");
    }
}
