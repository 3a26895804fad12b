//! The process environment as the settings read it, behind a trait so
//! tests can hand in their own.

/// Reads the env the way cargo and the cc crate do.
pub trait Env {
    /// A non-empty value.
    fn var(&self, k: &str) -> Option<String>;
    /// Set at all, even to "": cargo treats an empty RUSTFLAGS as set.
    fn is_set(&self, k: &str) -> bool {
        self.var(k).is_some()
    }
    /// The value as set, even when empty.
    fn raw(&self, k: &str) -> Option<String> {
        self.var(k)
    }
}

pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, k: &str) -> Option<String> {
        std::env::var(k).ok().filter(|v| !v.trim().is_empty())
    }
    fn is_set(&self, k: &str) -> bool {
        std::env::var_os(k).is_some()
    }
    fn raw(&self, k: &str) -> Option<String> {
        std::env::var(k).ok()
    }
}
