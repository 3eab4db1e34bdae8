//! The words the verdict is made of: names of modes and groups of modes, failures in a few
//! words, lists.

use keepalive_connector::Stage;

use crate::model::{FailPhase, Mode, StageResult};

/// How an attempt failed, for grouping attempts and rows that failed the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Symptom {
    pub(super) phase: FailPhase,
    pub(super) cause: String,
    pub(super) timeout: bool,
}

impl Symptom {
    /// `at the tls phase (connection reset by peer)`.
    pub(super) fn at(&self) -> String {
        format!("at the {} phase ({})", self.phase, self.cause)
    }
}

/// Every failure of `row`, as symptoms, in attempt order.
pub(super) fn symptoms(row: &StageResult) -> impl Iterator<Item = Symptom> + '_ {
    row.attempts
        .iter()
        .filter_map(|a| a.outcome.as_ref().err())
        .map(|f| Symptom {
            phase: f.phase,
            cause: f.cause.clone(),
            timeout: f.timeout,
        })
}

/// The most common symptom of `row` (the earliest of equally common ones), and whether every
/// failure had it; `None` when nothing failed.
pub(super) fn main_symptom(row: &StageResult) -> Option<(Symptom, bool)> {
    let all: Vec<Symptom> = symptoms(row).collect();
    let mut best: Option<(&Symptom, usize)> = None;
    for s in &all {
        let n = all.iter().filter(|o| *o == s).count();
        if best.is_none_or(|(_, m)| n > m) {
            best = Some((s, n));
        }
    }
    best.map(|(s, n)| (s.clone(), n == all.len()))
}

/// `keepalive before the TLS handshake (before-connect, after-connect)`: a group of modes named
/// by when keepalive was applied.
pub(super) fn subject(modes: &[Mode]) -> String {
    const BC: Mode = Mode::At(Stage::BeforeConnect);
    const AC: Mode = Mode::At(Stage::AfterConnect);
    const AH: Mode = Mode::At(Stage::AfterHandshake);
    match modes {
        [BC, AC] => "keepalive before the TLS handshake (before-connect, after-connect)".to_owned(),
        [BC] => "keepalive before connect (before-connect)".to_owned(),
        [AC] => "keepalive between connect and the TLS handshake (after-connect)".to_owned(),
        [AH] => "keepalive after the TLS handshake (after-handshake)".to_owned(),
        [Mode::Off] => "keepalive off".to_owned(),
        _ => format!("keepalive at {}", join(&names(modes))),
    }
}

/// ` 2 of 10 times` when only some of `n` attempts failed, else nothing.
pub(super) fn how_often(failed: usize, n: usize) -> String {
    if failed < n {
        format!(" {failed} of {n} times")
    } else {
        String::new()
    }
}

/// `a, b and c` of the modes' names.
pub(super) fn names(modes: &[Mode]) -> Vec<&'static str> {
    modes.iter().map(|m| m.as_str()).collect()
}

/// `works` for one, `work` for several.
pub(super) fn verb(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// `a`, `a and b`, `a, b and c`.
pub(super) fn join(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The rerun advice for counts too small to be sure.
pub(super) const RERUN: &str = "rerun with --repeat 10 to confirm";
