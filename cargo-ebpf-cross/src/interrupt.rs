//! Ctrl-C and SIGTERM. A build interrupted half-way must leave no child
//! running and no `.part` file behind, so every child we start and every
//! temp path we create is registered here while it lives. The handler runs
//! on ctrlc's own thread (not in signal context), so it may take locks,
//! kill and delete before it exits with 130.
//!
//! `run` wants to report an interrupted boot rather than vanish; it holds a
//! [`Graceful`] guard, during which the handler only raises the flag and
//! kills children, and the caller finishes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, Once};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static GRACEFUL: AtomicUsize = AtomicUsize::new(0);
static CHILDREN: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());
static TEMPS: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// Installs the handler once; later calls do nothing. A failure (another
/// handler already set, as in an embedding program) only costs cleanup.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = ctrlc::set_handler(on_signal);
    });
}

fn on_signal() {
    INTERRUPTED.store(true, Ordering::SeqCst);
    kill_children();
    if GRACEFUL.load(Ordering::SeqCst) > 0 {
        return;
    }
    remove_temps();
    std::process::exit(130);
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

fn kill_children() {
    let pids: Vec<u32> = CHILDREN
        .lock()
        .map(|c| c.iter().copied().collect())
        .unwrap_or_default();
    for pid in pids {
        if let Ok(pid) = i32::try_from(pid) {
            // SAFETY: kill(2) with a pid we spawned and have not reaped yet
            // (reaping unregisters it first), so it cannot be a stranger.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
    }
}

fn remove_temps() {
    let paths: Vec<PathBuf> = TEMPS
        .lock()
        .map(|t| t.iter().cloned().collect())
        .unwrap_or_default();
    remove_paths(&paths);
}

fn remove_paths(paths: &[PathBuf]) {
    for p in paths {
        if p.is_dir() {
            let _ = std::fs::remove_dir_all(p);
        } else {
            let _ = std::fs::remove_file(p);
        }
    }
}

pub fn remember_child(pid: u32) {
    if let Ok(mut c) = CHILDREN.lock() {
        c.insert(pid);
    }
}

pub fn forget_child(pid: u32) {
    if let Ok(mut c) = CHILDREN.lock() {
        c.remove(&pid);
    }
}

/// A temp file or dir to delete if we are interrupted before it is
/// renamed into place or dropped.
pub fn remember_temp(p: &Path) {
    if let Ok(mut t) = TEMPS.lock() {
        t.insert(p.to_path_buf());
    }
}

pub fn forget_temp(p: &Path) {
    if let Ok(mut t) = TEMPS.lock() {
        t.remove(p);
    }
}

/// While held, an interrupt stops children but leaves the exit to us.
pub struct Graceful(());

impl Graceful {
    pub fn enter() -> Self {
        install();
        GRACEFUL.fetch_add(1, Ordering::SeqCst);
        Graceful(())
    }
}

impl Drop for Graceful {
    fn drop(&mut self) {
        GRACEFUL.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temps_are_tracked_until_forgotten() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("x.part");
        std::fs::write(&f, b"half").unwrap();
        remember_temp(&f);
        assert!(TEMPS.lock().unwrap().contains(&f));
        // Only this test's path: the whole set also holds the temp files
        // of tests running beside this one.
        let mine: Vec<PathBuf> = TEMPS
            .lock()
            .unwrap()
            .iter()
            .filter(|p| **p == f)
            .cloned()
            .collect();
        remove_paths(&mine);
        assert!(!f.exists(), "a remembered temp is removed on interrupt");
        forget_temp(&f);
        assert!(!TEMPS.lock().unwrap().contains(&f));
    }
}
