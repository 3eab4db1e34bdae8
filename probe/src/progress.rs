//! The `--repeat` progress bar on stderr, drawn only when stderr is a terminal.
//!
//! Hand-written rather than `indicatif`: one line redrawn with `\r` is all the probe needs,
//! and it keeps a dependency (and its terminal-handling crates) out of the build.

use std::io::{IsTerminal, Write};

/// A one-line progress bar; does nothing when disabled.
#[derive(Debug)]
pub(crate) struct Progress {
    enabled: bool,
    total: usize,
    done: usize,
}

impl Progress {
    /// A bar for `total` connections, shown only when `wanted` and stderr is a terminal.
    pub(crate) fn new(total: usize, wanted: bool) -> Self {
        Progress {
            enabled: wanted && std::io::stderr().is_terminal(),
            total,
            done: 0,
        }
    }

    /// Counts one finished connection of `label` and redraws.
    pub(crate) fn tick(&mut self, label: &str) {
        self.done += 1;
        if !self.enabled {
            return;
        }
        const BAR: usize = 30;
        let filled = BAR * self.done / self.total.max(1);
        let line = format!(
            "\r{label:<16} [{}{}] {}/{}",
            "#".repeat(filled),
            "-".repeat(BAR - filled),
            self.done,
            self.total
        );
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(line.as_bytes());
        let _ = err.flush();
    }

    /// Erases the bar.
    pub(crate) fn finish(&mut self) {
        if self.enabled {
            // Carriage return, then ANSI "erase whole line".
            let _ = std::io::stderr().write_all(b"\r\x1b[2K");
            self.enabled = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
