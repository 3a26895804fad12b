//! How the boards' loaders split into cargo runs.

use super::{cargo_name, LoaderTarget};
use crate::env::Env;

/// How the boards' loaders split into cargo runs, and why (for -v).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    /// Indexes into the boards, one list per cargo run, in order.
    pub runs: Vec<Vec<usize>>,
    pub notes: Vec<String>,
}

/// Boards whose Rust targets differ share one cargo run. A triple seen
/// again goes to a later run (two armv7 boards on different kernels embed
/// different objects, and cargo has one `target/<triple>/` dir).
///
/// With the user's RUSTFLAGS or CARGO_ENCODED_RUSTFLAGS set, cargo ignores
/// per-target rustflags, so a run's targets all get theirs plus one set of
/// ours ([`super::plan`]): boards share a run only when their own flags agree.
/// Everything runs one board at a time when the package's build script may
/// know only the single EBPF_CROSS_OBJ_DIR, or when TARGET_CC (which the
/// `cc` crate takes for every target) is set.
pub fn group(
    boards: &[LoaderTarget],
    per_target_env: bool,
    package: &str,
    env: &dyn Env,
) -> Grouping {
    let one_each = |notes: Vec<String>| Grouping {
        runs: (0..boards.len()).map(|i| vec![i]).collect(),
        notes,
    };
    if boards.len() < 2 {
        return one_each(Vec::new());
    }
    if let Some(why) = no_sharing(per_target_env, package, env) {
        return one_each(vec![format!("one cargo invocation per board: {why}")]);
    }
    let user_flags = ["CARGO_ENCODED_RUSTFLAGS", "RUSTFLAGS"]
        .into_iter()
        .find(|v| env.is_set(v));
    let Grouping { runs, mut notes } = fill_runs(boards, user_flags);
    for r in runs.iter().filter(|r| r.len() > 1) {
        let names: Vec<&str> = r.iter().map(|&i| boards[i].board.as_str()).collect();
        notes.insert(
            0,
            format!("loaders for {} in one cargo invocation", names.join(", ")),
        );
    }
    if let Some(var) = user_flags {
        notes.insert(
            0,
            format!("{var} is set, and cargo then ignores per-target rustflags: each run's own flags join it in CARGO_ENCODED_RUSTFLAGS"),
        );
    }
    Grouping { runs, notes }
}

/// Why no two boards may share a cargo run, when that is so.
fn no_sharing(per_target_env: bool, package: &str, env: &dyn Env) -> Option<String> {
    if !per_target_env {
        return Some(format!(
            "package `{package}` does not set `per_target_env = true` in [package.metadata.ebpf-cross] (its build script may know only EBPF_CROSS_OBJ_DIR)"
        ));
    }
    if env.is_set("TARGET_CC") {
        return Some(
            "TARGET_CC is set, and build scripts then use that one C compiler for every target"
                .into(),
        );
    }
    None
}

/// Each board in the first run it fits, with a note for each board that
/// fits none but a later one. `user_flags` names the user's rustflags
/// variable, when set: a run's boards must then agree on their own flags.
fn fill_runs(boards: &[LoaderTarget], user_flags: Option<&str>) -> Grouping {
    let name = |i: usize| cargo_name(&boards[i].rust_target);
    let fits = |run: &[usize], i: usize| {
        run.iter().all(|&j| {
            name(j) != name(i)
                && (user_flags.is_none() || boards[j].rustflags == boards[i].rustflags)
        })
    };
    let mut runs: Vec<Vec<usize>> = Vec::new();
    let mut notes = Vec::new();
    for i in 0..boards.len() {
        let r = runs
            .iter()
            .position(|run| fits(run, i))
            .unwrap_or(runs.len());
        if r == runs.len() {
            runs.push(Vec::new());
        }
        if r > 0 {
            notes.push(later_run_note(boards, i, &runs[0], user_flags));
        }
        runs[r].push(i);
    }
    Grouping { runs, notes }
}

/// Why board `i` waits for a later cargo run than the `first` one.
fn later_run_note(
    boards: &[LoaderTarget],
    i: usize,
    first: &[usize],
    user_flags: Option<&str>,
) -> String {
    let name = |i: usize| cargo_name(&boards[i].rust_target);
    let board = &boards[i].board;
    let same_triple = (0..i).find(|&j| name(j) == name(i));
    match (same_triple, user_flags) {
        (Some(j), _) => format!(
            "loaders for {board} in a later cargo invocation: {} is also the triple of {} (different kernels embed different objects)",
            name(i),
            boards[j].board
        ),
        (None, var) => {
            let first = &boards[first[0]];
            format!(
                "loaders for {board} in a later cargo invocation: {} is set, so every target of a cargo run gets the same rustflags, and {board}'s own [{}] differ from {}'s [{}]",
                var.unwrap_or("RUSTFLAGS"),
                boards[i].rustflags.join(" "),
                first.board,
                first.rustflags.join(" ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader_build::testing::*;
    use std::collections::HashMap;

    #[test]
    fn grouping_by_triple() {
        let b = boards(&[
            ("old", "armv7-unknown-linux-gnueabihf"),
            ("rpi4", "aarch64-unknown-linux-gnu"),
            ("new", "armv7-unknown-linux-gnueabihf"),
            ("rv", "riscv64gc-unknown-linux-gnu"),
        ]);
        let g = group(&b, true, "pkg", &env(&[]));
        assert_eq!(g.runs, [vec![0, 1, 3], vec![2]]);
        assert_eq!(
            g.notes,
            [
                "loaders for old, rpi4, rv in one cargo invocation",
                "loaders for new in a later cargo invocation: armv7-unknown-linux-gnueabihf is also the triple of old (different kernels embed different objects)"
            ]
        );
        let one = group(&b[..1], true, "pkg", &env(&[]));
        assert_eq!(one.runs, [vec![0]]);
        assert!(one.notes.is_empty());
    }

    #[test]
    fn grouping_falls_back_to_one_run_per_board() {
        let b = boards(&[
            ("a", "armv7-unknown-linux-gnueabihf"),
            ("b", "aarch64-unknown-linux-gnu"),
        ]);
        let g = group(&b, false, "pkg", &env(&[]));
        assert_eq!(g.runs, [vec![0], vec![1]]);
        assert!(g.notes[0].contains("package `pkg` does not set `per_target_env = true`"));
        let e = MapEnv(HashMap::from([("TARGET_CC", "")]));
        let g = group(&b, true, "pkg", &e);
        assert_eq!(g.runs, [vec![0], vec![1]]);
        assert_eq!(
            g.notes,
            ["one cargo invocation per board: TARGET_CC is set, and build scripts then use that one C compiler for every target"]
        );
    }

    #[test]
    fn users_rustflags_group_boards_whose_own_flags_agree() {
        let mut b = boards(&[
            ("a", "armv7-unknown-linux-gnueabihf"),
            ("b", "aarch64-unknown-linux-gnu"),
            ("c", "riscv64gc-unknown-linux-gnu"),
        ]);
        b[2].rustflags = vec!["-C".into(), "link-arg=--sysroot=/opt/my sdk".into()];
        for var in ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS"] {
            let e = MapEnv(HashMap::from([(var, "")]));
            let g = group(&b, true, "pkg", &e);
            assert_eq!(g.runs, [vec![0, 1], vec![2]], "{var}");
            assert_eq!(
                g.notes,
                [
                    format!("{var} is set, and cargo then ignores per-target rustflags: each run's own flags join it in CARGO_ENCODED_RUSTFLAGS"),
                    "loaders for a, b in one cargo invocation".into(),
                    format!("loaders for c in a later cargo invocation: {var} is set, so every target of a cargo run gets the same rustflags, and c's own [-C link-arg=--sysroot=/opt/my sdk] differ from a's [-C target-feature=+crt-static]"),
                ]
            );
        }
        // Without them, per-target flags may differ within a run.
        assert_eq!(group(&b, true, "pkg", &env(&[])).runs, [vec![0, 1, 2]]);
    }
}
