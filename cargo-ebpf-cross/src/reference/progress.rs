//! Download progress: a bar on a terminal, one status line otherwise.

use std::io::IsTerminal;

use crate::ui;

/// Progress for one download: a bar on a terminal, one line otherwise.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    pub fn start(label: &str, len: Option<u64>) -> Progress {
        let u = ui::get();
        if u.quiet {
            return Progress { bar: None };
        }
        if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::with_draw_target(
                len,
                indicatif::ProgressDrawTarget::stderr(),
            );
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix:>12} {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix("Downloading");
            bar.set_message(label.to_string());
            return Progress { bar: Some(bar) };
        }
        let size = len.map(|n| format!(" ({})", mib(n))).unwrap_or_default();
        ui::status("Downloading", &format!("{label}{size}"));
        Progress { bar: None }
    }

    pub fn advance(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    pub fn finish(self) {
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}

fn mib(n: u64) -> String {
    format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0))
}
