//! What the unit tests of the loader build share: an env of their own and
//! boards made from built-in profiles.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::*;
use crate::env::Env;
use crate::plan::Cmd;
use crate::profile::Profile;

pub struct MapEnv(pub HashMap<&'static str, &'static str>);
impl Env for MapEnv {
    fn var(&self, k: &str) -> Option<String> {
        self.0
            .get(k)
            .map(|s| s.to_string())
            .filter(|s| !s.trim().is_empty())
    }
    fn is_set(&self, k: &str) -> bool {
        self.0.contains_key(k)
    }
    fn raw(&self, k: &str) -> Option<String> {
        self.0.get(k).map(|s| s.to_string())
    }
}

pub fn env(pairs: &[(&'static str, &'static str)]) -> MapEnv {
    MapEnv(pairs.iter().copied().collect())
}

pub fn board(p: &Profile, rust_target: &str, e: &MapEnv) -> LoaderTarget {
    let obj = PathBuf::from(format!("/t/ebpf-cross/{}/pkg/bpf", p.name));
    loader_target(
        &BoardInput {
            profile: p,
            rust_target,
            static_: true,
            obj_dir: &obj,
            kernel_version: Some("6.1.176".into()),
        },
        &UserCargo::default(),
        e,
    )
    .unwrap()
}

pub fn input(flags: &CargoFlags) -> LoaderInput<'_> {
    LoaderInput {
        manifest: Path::new("/p/Cargo.toml"),
        package: "pkg",
        bin: "pkg",
        flags,
    }
}

pub fn envs(c: &Cmd) -> HashMap<String, String> {
    c.env.iter().cloned().collect()
}

pub fn boards(list: &[(&str, &str)]) -> Vec<LoaderTarget> {
    list.iter()
        .map(|(b, t)| LoaderTarget {
            board: b.to_string(),
            rust_target: t.to_string(),
            linker: Linker {
                program: None,
                args: Vec::new(),
                source: LinkerSource::Default,
            },
            rustflags: vec!["-C".into(), "target-feature=+crt-static".into()],
            inherited: Vec::new(),
            obj_dir: PathBuf::from(format!("/o/{b}")),
            kernel_version: None,
            static_: true,
        })
        .collect()
}
