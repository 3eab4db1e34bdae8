//! The live countdown of `--idle` on stderr: one line, redrawn twice a second, with what each
//! held connection waits for. Drawn only on a terminal and without `--json`.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use super::held::{Live, Role};
use super::verdict::whole;

/// The line, or nothing when disabled.
#[derive(Debug)]
pub(crate) struct Countdown {
    enabled: bool,
    labels: Vec<String>,
    lives: Vec<Arc<Mutex<Live>>>,
}

/// The widest the line gets (the report's width).
const WIDTH: usize = 100;

impl Countdown {
    pub(crate) fn new(enabled: bool, roles: &[Role], lives: Vec<Arc<Mutex<Live>>>) -> Self {
        let labels = roles
            .iter()
            .map(|role| match role {
                Role::Watch(_) => "watch".to_owned(),
                Role::Keepalive(_) => "keepalive".to_owned(),
                Role::Rung(d) => whole(*d).replace(' ', ""),
            })
            .collect();
        Countdown {
            enabled,
            labels,
            lives,
        }
    }

    /// Redraws the line.
    pub(crate) fn draw(&self) {
        if !self.enabled {
            return;
        }
        let states: Vec<Live> = self
            .lives
            .iter()
            .map(|l| *l.lock().expect("never poisoned"))
            .collect();
        let line = line(&self.labels, &states, Instant::now());
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
    }

    /// Erases the line.
    pub(crate) fn finish(&mut self) {
        if self.enabled {
            let _ = std::io::stderr().write_all(b"\r\x1b[2K");
            self.enabled = false;
        }
    }
}

impl Drop for Countdown {
    fn drop(&mut self) {
        self.finish();
    }
}

/// `idle (…): watch: 7s · keepalive: 7s · 1s: done · 8s: 3s …` (each connection and the
/// seconds it has left to idle), at most [`WIDTH`] characters.
fn line(labels: &[String], states: &[Live], now: Instant) -> String {
    let cells: Vec<String> = labels
        .iter()
        .zip(states)
        .map(|(label, state)| match state {
            Live::Connecting => format!("{label}: connecting"),
            Live::Idle(until) => {
                let left = until.saturating_duration_since(now);
                format!(
                    "{label}: {}s",
                    left.as_secs() + u64::from(left.subsec_nanos() > 0)
                )
            }
            Live::Using(_) => format!("{label}: using"),
            Live::Done => format!("{label}: done"),
        })
        .collect();
    let text = format!("idle (Ctrl-C: report now): {}", cells.join(" · "));
    match text.char_indices().nth(WIDTH - 1) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_line_counts_down_and_fits() {
        let now = Instant::now();
        let labels: Vec<String> = ["watch", "keepalive", "1s", "8s"].map(String::from).into();
        let states = [
            Live::Idle(now + Duration::from_millis(6500)),
            Live::Connecting,
            Live::Done,
            Live::Using(now),
        ];
        assert_eq!(
            line(&labels, &states, now),
            "idle (Ctrl-C: report now): watch: 7s · keepalive: connecting · 1s: done · 8s: using"
        );
        let many: Vec<String> = (0..40).map(|i| format!("{i}s")).collect();
        let done = vec![Live::Done; 40];
        let long = line(&many, &done, now);
        assert_eq!(long.chars().count(), WIDTH);
        assert!(long.ends_with('…'));
    }
}
