//! The docs say true things about the tool: every ```toml block in
//! README.md, ARCHITECTURE.md, CONTRIBUTING.md and docs/*.md parses (and
//! every board file among them loads), every `cargo ebpf-cross ... --help`
//! they quote runs, the README's command list names every subcommand, and
//! every relative link points at a file (and heading) that exists. Needs no
//! fixtures: the fast tier.

use crate::common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Pages other branches add, which the README already links to. Until the
/// lead merges them they may be absent; once present they are checked like
/// any other page. Any other missing link target fails.
const PENDING: [&str; 2] = ["docs/buildroot.md", "docs/running-on-a-board.md"];

/// README.md, ARCHITECTURE.md, CONTRIBUTING.md and docs/*.md, as paths
/// relative to the repository.
fn doc_files() -> Vec<String> {
    let mut files: Vec<String> = ["README.md", "ARCHITECTURE.md", "CONTRIBUTING.md"]
        .map(String::from)
        .to_vec();
    let mut pages: Vec<String> = std::fs::read_dir(repo().join("docs"))
        .expect("docs/ exists")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .map(|n| format!("docs/{n}"))
        .collect();
    pages.sort();
    files.extend(pages);
    files
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// One line of a page: its number (from 1), its text, and whether it sits
/// inside a fenced code block (fence lines themselves count as inside).
struct Line<'a> {
    no: usize,
    text: &'a str,
    in_code: bool,
}

fn lines(doc: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut in_code = false;
    for (i, text) in doc.lines().enumerate() {
        let fence = text.trim_start().starts_with("```");
        out.push(Line {
            no: i + 1,
            text,
            in_code: in_code || fence,
        });
        if fence {
            in_code = !in_code;
        }
    }
    out
}

/// A fenced code block: the line of its opening fence, its info string and
/// its text.
struct Block {
    line: usize,
    lang: String,
    text: String,
}

fn blocks(doc: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, l) in doc.lines().enumerate() {
        let t = l.trim_start();
        if let Some(rest) = t.strip_prefix("```") {
            match open.take() {
                Some(b) => out.push(b),
                None => {
                    open = Some(Block {
                        line: i + 1,
                        lang: rest.trim().to_string(),
                        text: String::new(),
                    })
                }
            }
        } else if let Some(b) = open.as_mut() {
            b.text.push_str(l);
            b.text.push('\n');
        }
    }
    assert!(open.is_none(), "an unclosed code fence");
    out
}

#[test]
fn every_toml_block_parses_and_every_board_file_loads() {
    let mut parsed = Vec::new();
    let mut failed = Vec::new();
    let mut boards = Vec::new();
    for f in doc_files() {
        for b in blocks(&read(&f)).into_iter().filter(|b| b.lang == "toml") {
            let at = format!("{f}:{}", b.line);
            match b.text.parse::<toml::Table>() {
                Ok(t) => {
                    if t.contains_key("extends") {
                        boards.push((at.clone(), b.text.clone()));
                    }
                    parsed.push(at);
                }
                Err(e) => failed.push(format!("{at}: {e}")),
            }
        }
    }
    assert!(
        failed.is_empty(),
        "toml blocks that do not parse:\n{failed:#?}"
    );
    assert!(!parsed.is_empty(), "no toml block found");
    let files: BTreeSet<&str> = parsed
        .iter()
        .map(|a| a.split(':').next().unwrap())
        .collect();
    for f in [
        "docs/profiles.md",
        "docs/kernel-trees.md",
        "docs/build-script.md",
        "docs/old-kernels.md",
    ] {
        assert!(files.contains(f), "no toml block parsed in {f}: {parsed:?}");
    }

    // The board files: the tool's own parser takes them (unknown keys are
    // refused), and `config --target FILE` loads them.
    assert!(boards.len() >= 2, "board files found: {boards:?}");
    let d = tempfile::tempdir().unwrap();
    let cache = d.path().join("cache");
    let cache = cache.to_str().unwrap();
    std::fs::create_dir_all(d.path().join("boards")).unwrap();
    for (i, (at, text)) in boards.iter().enumerate() {
        cargo_ebpf_cross::profile::parse(text, Path::new(at))
            .unwrap_or_else(|e| panic!("{at}: {e}\n{text}"));
        let file = d.path().join(format!("boards/board{i}.toml"));
        std::fs::write(&file, text).unwrap();
        let r = tool(
            d.path(),
            &["config", "--target", file.to_str().unwrap(), "--json"],
            &[
                ("EBPF_CROSS_CACHE_DIR", cache),
                ("CARGO_NET_OFFLINE", "true"),
            ],
        );
        assert_eq!(r.code, 0, "{at}: config failed:\n{}", r.stderr);
        let rows = json(&r.stdout);
        let target = rows
            .as_array()
            .and_then(|a| a.iter().find(|row| row["key"] == "target"))
            .unwrap_or_else(|| panic!("{at}: no target row in {}", r.stdout));
        assert_eq!(target["value"], format!("board{i}"), "{at}");
    }
    eprintln!(
        "{} toml blocks parse; {} board files load: {:?}",
        parsed.len(),
        boards.len(),
        boards.iter().map(|b| &b.0).collect::<Vec<_>>()
    );
}

/// The subcommand names a `--help` page lists under "Commands:".
fn listed_commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| *n != "help")
        .map(String::from)
        .collect()
}

fn help(path: &[String]) -> Run {
    let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
    args.push("--help");
    tool(&repo(), &args, &[])
}

/// The command lines a page quotes, with the line each starts on: every
/// line of a code block (a line ending in `\` continues on the next; a
/// ` #` comment is dropped), and every inline code span of the prose (a
/// span may wrap onto the next line).
fn quoted_commands(doc: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut prose = String::new();
    let mut prose_lines = Vec::new();
    let mut cont: Option<(usize, String)> = None;
    for l in lines(doc) {
        if !l.in_code {
            prose.push_str(l.text);
            prose.push('\n');
            prose_lines.push(l.no);
            continue;
        }
        if l.text.trim_start().starts_with("```") {
            continue;
        }
        let text = l.text.split(" #").next().unwrap();
        let (no, mut acc) = cont.take().unwrap_or((l.no, String::new()));
        match text.trim_end().strip_suffix('\\') {
            Some(head) => {
                acc.push_str(head);
                acc.push(' ');
                cont = Some((no, acc));
            }
            None => {
                acc.push_str(text);
                out.push((no, acc));
            }
        }
    }
    let mut offset = 0;
    for (i, piece) in prose.split('`').enumerate() {
        if i % 2 == 1 {
            let line = prose[..offset].matches('\n').count();
            out.push((prose_lines[line], piece.replace('\n', " ")));
        }
        offset += piece.len() + 1;
    }
    out
}

/// A quoted command of ours: the subcommand path after `cargo ebpf-cross`
/// (`kernel fetch`) and the option names it uses (`--kernel`, `-o`), up to
/// a bare `--` or a pipe. A span without the `cargo ebpf-cross` prefix
/// counts when it starts with one of our subcommands and uses an option
/// (`run --help`, `config --target armv7`).
fn our_command(
    text: &str,
    subcommands: &BTreeMap<String, Vec<String>>,
) -> Option<(Vec<String>, Vec<String>)> {
    let mut w: Vec<&str> = text.split_whitespace().collect();
    if w.first() == Some(&"$") {
        w.remove(0);
    }
    let prefixed = if w.starts_with(&["cargo", "ebpf-cross"]) {
        w.drain(..2);
        true
    } else if w.first() == Some(&"cargo-ebpf-cross") {
        w.remove(0);
        true
    } else {
        false
    };
    let mut path = Vec::new();
    if let Some(first) = w.first().filter(|x| !x.starts_with('-')) {
        path.push(first.to_string());
        if let Some(second) = w.get(1) {
            if subcommands
                .get(*first)
                .is_some_and(|n| n.iter().any(|s| s == second))
            {
                path.push(second.to_string());
            }
        }
    }
    let mut options = Vec::new();
    for word in w.iter().skip(path.len()) {
        // After a pipe the words are the next program's (`| jq -r ...`).
        if *word == "--" || *word == "|" {
            break;
        }
        // `--kernel-src/--kernel-build`, `[--lockfile`, `--static=${X}`
        for part in word.split('/') {
            let part = part.trim_start_matches(['[', '(']);
            let name: String = part
                .chars()
                .take_while(|c| *c == '-' || c.is_ascii_alphanumeric())
                .collect();
            let long = name.len() > 2 && name.starts_with("--") && !name.starts_with("---");
            let short = name.len() == 2
                && name.starts_with('-')
                && name.as_bytes()[1].is_ascii_alphabetic()
                && part.len() == 2;
            if long || short {
                options.push(name);
            }
        }
    }
    let ours = path.first().is_some_and(|p| subcommands.contains_key(p));
    (prefixed || (ours && !options.is_empty())).then_some((path, options))
}

#[test]
fn every_quoted_command_and_option_exists_and_the_readme_lists_every_command() {
    let top = help(&[]);
    top.ok();
    let subcommands: BTreeMap<String, Vec<String>> = listed_commands(&top.stdout)
        .into_iter()
        .map(|c| {
            let nested = listed_commands(&help(std::slice::from_ref(&c)).stdout);
            (c, nested)
        })
        .collect();
    assert!(
        subcommands.contains_key("build") && subcommands.contains_key("run"),
        "{}",
        top.stdout
    );

    // Each quoted path's --help, once: it must run, show that usage, and
    // name every option quoted with that path.
    let mut helps: BTreeMap<Vec<String>, Run> = BTreeMap::new();
    let mut quoted_help = BTreeSet::new();
    let mut wrong = Vec::new();
    let mut commands = 0;
    for f in doc_files() {
        for (no, text) in quoted_commands(&read(&f)) {
            let Some((path, options)) = our_command(&text, &subcommands) else {
                continue;
            };
            commands += 1;
            if options.iter().any(|o| o == "--help") {
                quoted_help.insert(path.clone());
            }
            let r = helps.entry(path.clone()).or_insert_with(|| help(&path));
            let shown = format!("cargo ebpf-cross {}", path.join(" "));
            let usage = format!("Usage: {}", shown.trim_end());
            if r.code != 0 || !r.stdout.contains(&usage) {
                wrong.push(format!("{f}:{no}: `{shown} --help` fails: {}", r.stderr));
                continue;
            }
            for o in options {
                let named = r.stdout.contains(&format!("{o} "))
                    || r.stdout.contains(&format!("{o},"))
                    || r.stdout.contains(&format!("{o}["))
                    || r.stdout.contains(&format!("{o}\n"));
                if !named {
                    wrong.push(format!("{f}:{no}: `{shown}` has no option {o} ({text})"));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "quoted commands that do not exist:\n{wrong:#?}"
    );
    for must in ["build", "run"] {
        assert!(
            quoted_help.contains(&vec![must.to_string()]),
            "the docs quote no `cargo ebpf-cross {must} --help`"
        );
    }
    assert!(commands > 30, "only {commands} quoted commands found");
    eprintln!(
        "{commands} quoted commands check out, over {} subcommand paths; --help quoted for {:?}",
        helps.len(),
        quoted_help
    );

    // The README's command table: one row per subcommand (nested ones as
    // `kernel fetch`), each one short line.
    let readme = read("README.md");
    let table: Vec<&str> = readme
        .split("## Commands\n")
        .nth(1)
        .expect("README has a Commands section")
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .collect();
    let first_cells: Vec<&str> = table
        .iter()
        .skip(2)
        .map(|row| row.split('|').nth(1).unwrap())
        .collect();
    let mut missing = Vec::new();
    for (c, nested) in &subcommands {
        let names: Vec<String> = if nested.is_empty() {
            vec![c.clone()]
        } else {
            nested.iter().map(|n| format!("{c} {n}")).collect()
        };
        for n in names {
            if !first_cells
                .iter()
                .any(|cell| cell.contains(&format!("`{n}`")))
            {
                missing.push(n);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "the README's command table lacks {missing:?}"
    );
    let long: Vec<&&str> = table.iter().filter(|r| r.chars().count() > 200).collect();
    assert!(
        long.is_empty(),
        "command rows over 200 characters: {long:#?}"
    );
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces
/// as hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(doc: &str) -> BTreeSet<String> {
    lines(doc)
        .iter()
        .filter(|l| !l.in_code && l.text.starts_with('#'))
        .map(|l| slug(l.text.trim_start_matches('#')))
        .collect()
}

/// Every `](target)` outside code: (line, target).
fn links(doc: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for l in lines(doc).iter().filter(|l| !l.in_code) {
        for part in l.text.split("](").skip(1) {
            if let Some(end) = part.find(')') {
                out.push((l.no, part[..end].to_string()));
            }
        }
    }
    out
}

#[test]
fn every_relative_link_resolves() {
    let root = repo();
    let mut checked = 0;
    let mut broken = Vec::new();
    let mut pending = BTreeSet::new();
    for f in doc_files() {
        let doc = read(&f);
        let dir = Path::new(&f).parent().unwrap().to_path_buf();
        for (no, target) in links(&doc) {
            if target.starts_with("http://")
                || target.starts_with("https://")
                || target.starts_with("mailto:")
            {
                continue;
            }
            checked += 1;
            let (path, anchor) = match target.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (target.as_str(), None),
            };
            // The target, relative to the repository, with `..` resolved.
            let mut rel = PathBuf::new();
            for c in dir.join(path).components() {
                match c {
                    std::path::Component::ParentDir => {
                        rel.pop();
                    }
                    std::path::Component::CurDir => {}
                    c => rel.push(c),
                }
            }
            let rel_s = rel.to_string_lossy().into_owned();
            let file = if path.is_empty() {
                root.join(&f)
            } else {
                root.join(&rel)
            };
            if !file.exists() {
                if PENDING.contains(&rel_s.as_str()) {
                    pending.insert(rel_s);
                } else {
                    broken.push(format!("{f}:{no}: {target} (no {rel_s})"));
                }
                continue;
            }
            if let Some(a) = anchor {
                if file.extension().is_some_and(|e| e == "md") {
                    let text = std::fs::read_to_string(&file).unwrap();
                    if !anchors(&text).contains(a) {
                        broken.push(format!("{f}:{no}: {target} (no heading #{a})"));
                    }
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{broken:#?}");
    assert!(checked > 20, "only {checked} relative links found");
    // The README links to both pending pages, so they are checked once
    // they land.
    let readme: Vec<String> = links(&read("README.md")).into_iter().map(|l| l.1).collect();
    for p in PENDING {
        assert!(readme.iter().any(|l| l == p), "README does not link {p}");
    }
    eprintln!("{checked} relative links resolve; pending until merged: {pending:?}");
}
