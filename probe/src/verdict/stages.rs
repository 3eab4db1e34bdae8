//! Judging the stage rows of one route: which modes fail more often than the best one, and
//! which stage to configure.
//!
//! A mode is worse than the best row only when the counts support it: Fisher's exact test
//! (one-sided, p < 0.05) on the failures keepalive at that mode could have caused, or — the
//! common single-connection case — a clean, coherent split: every attempt of the failing modes
//! failed the same way, every attempt of the others worked, keepalive could have caused it,
//! and the failing modes are the earliest stages (keepalive set earlier covers more, so when a
//! later stage breaks an endpoint the earlier ones must too). A failure that happened before
//! keepalive was applied, or with keepalive off, never counts against a mode.

use keepalive_connector::Stage;

use super::stats::{fisher_greater, significant};
use super::words::{how_often, join, main_symptom, names, subject, verb, Symptom, RERUN};
use crate::model::{Mode, StageResult};
use crate::table::plural;

/// Fewer connections per mode than this make a clean split ask for a rerun.
const FEW: usize = 5;

/// What the stage rows of one route say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Judgement {
    /// The finding, without a `verdict: ` prefix.
    pub(super) text: String,
    /// The mode to configure, when the rows support one.
    pub(super) recommended: Option<Mode>,
    /// Every attempt of every row failed.
    pub(super) all_failed: bool,
}

/// One row's counts.
#[derive(Debug)]
struct Tally<'a> {
    row: &'a StageResult,
    n: usize,
    failed: usize,
    /// Failures that keepalive at this mode could have caused (never any for `off`).
    caused: usize,
    /// The most common way it failed, and whether every failure was that way.
    symptom: Option<(Symptom, bool)>,
}

impl<'a> Tally<'a> {
    fn new(row: &'a StageResult) -> Self {
        let caused = row
            .attempts
            .iter()
            .filter_map(|a| a.outcome.as_ref().err())
            .filter(|f| row.mode.can_cause(f.phase))
            .count();
        Tally {
            row,
            n: row.attempts.len(),
            failed: row.failed_count(),
            caused,
            symptom: main_symptom(row),
        }
    }

    fn mode(&self) -> Mode {
        self.row.mode
    }

    /// The attempts that tell something about keepalive at this mode: all but the failures it
    /// cannot have caused.
    fn informative(&self) -> usize {
        self.n - (self.failed - self.caused)
    }

    fn rate(&self) -> f64 {
        self.failed as f64 / self.n.max(1) as f64
    }

    /// `keepalive before connect (before-connect) fails 2 of 10 times at the tls phase (…)`.
    fn describe(&self) -> String {
        describe(&[self.mode()], self)
    }
}

/// `subject fails[ k of n times] at the P phase (cause)` for modes that failed like `t`.
fn describe(modes: &[Mode], t: &Tally<'_>) -> String {
    let at = t.symptom.as_ref().map_or_else(String::new, |(s, _)| s.at());
    // "keepalive at a and b fails": the subject is keepalive, one thing.
    format!("{} fails{} {at}", subject(modes), how_often(t.failed, t.n))
}

/// The position of a stage in connection order.
fn order(stage: Stage) -> usize {
    Stage::ALL.iter().position(|s| *s == stage).unwrap_or(0)
}

/// How the rows of a route that failed every attempt failed: `at the tls phase (…)` when all
/// the same way, else each group (`at every stage (keepalive … fails …; …)`).
pub(super) fn how_it_fails(rows: &[&StageResult]) -> String {
    let tallies: Vec<Tally<'_>> = rows.iter().map(|r| Tally::new(r)).collect();
    match common_symptom(&tallies) {
        Some(symptom) => symptom.at(),
        None => format!(
            "at every stage ({})",
            groups(&tallies, &(0..tallies.len()).collect::<Vec<_>>())
        ),
    }
}

/// The one symptom every failure of every failing row had, if there is one.
fn common_symptom<'t>(tallies: &'t [Tally<'_>]) -> Option<&'t Symptom> {
    let mut failing = tallies.iter().filter(|t| t.failed > 0);
    let (first, all) = failing.next()?.symptom.as_ref()?;
    let same = *all
        && failing.all(|t| {
            t.symptom
                .as_ref()
                .is_some_and(|(s, all)| *all && s == first)
        });
    same.then_some(first)
}

/// Judges `rows`, all of one route, in probe order.
pub(super) fn judge(rows: &[&StageResult]) -> Judgement {
    let tallies: Vec<Tally<'_>> = rows.iter().map(|r| Tally::new(r)).collect();
    let all_failed = tallies.iter().all(|t| t.failed == t.n);
    let judgement = |text: String, recommended| Judgement {
        text,
        recommended,
        all_failed,
    };
    if let [only] = tallies.as_slice() {
        // Nothing to compare with: no recommendation either.
        let text = if only.failed == 0 {
            format!("{} works", only.mode())
        } else {
            format!(
                "{} {}{} {} — probe every stage (--stage all) to compare",
                only.mode(),
                verb(1, "fails", "fail"),
                how_often(only.failed, only.n),
                only.symptom
                    .as_ref()
                    .map_or_else(String::new, |(s, _)| s.at())
            )
        };
        return judgement(text, None);
    }
    if tallies.iter().all(|t| t.failed == 0) {
        let text = if tallies.len() == Mode::ALL.len() {
            "every stage works".to_owned()
        } else {
            let modes: Vec<Mode> = tallies.iter().map(Tally::mode).collect();
            format!("{} work", join(&names(&modes)))
        };
        return judgement(text, recommend(&tallies, &[]));
    }
    if all_failed {
        return judgement(every_row_fails(&tallies), None);
    }
    let worse = worse_rows(&tallies);
    if worse.is_empty() {
        return judgement(no_difference(&tallies), recommend(&tallies, &[]));
    }
    let recommended = recommend(&tallies, &worse);
    judgement(differ(&tallies, &worse, recommended), recommended)
}

/// Every attempt of every row failed: the same way, or not.
fn every_row_fails(tallies: &[Tally<'_>]) -> String {
    match common_symptom(tallies) {
        Some(symptom) => format!(
            "every probed stage fails {}: the endpoint is unreachable regardless of keepalive",
            symptom.at()
        ),
        None => format!(
            "every probed stage fails, not all the same way: {}; nothing worked, so no stage \
             can be recommended",
            groups(tallies, &(0..tallies.len()).collect::<Vec<_>>())
        ),
    }
}

/// The rows that fail more often than the best row: by Fisher's test, else by a clean split.
fn worse_rows(tallies: &[Tally<'_>]) -> Vec<usize> {
    let best = (0..tallies.len())
        .min_by(|&a, &b| tallies[a].rate().total_cmp(&tallies[b].rate()))
        .unwrap_or(0);
    let reference = &tallies[best];
    let worse: Vec<usize> = (0..tallies.len())
        .filter(|&i| i != best && tallies[i].caused > 0)
        .filter(|&i| {
            let t = &tallies[i];
            // The reference keeps every failure it had, whatever the phase: the row under test
            // must beat the endpoint's background rate, not a rate made to look clean.
            significant(fisher_greater(
                t.caused,
                t.informative(),
                reference.failed,
                reference.n,
            ))
        })
        .collect();
    if !worse.is_empty() {
        return worse;
    }
    clean_split(tallies).unwrap_or_default()
}

/// The failing rows, when they form a clean, coherent split (see the module docs).
fn clean_split(tallies: &[Tally<'_>]) -> Option<Vec<usize>> {
    let failing: Vec<usize> = (0..tallies.len())
        .filter(|&i| tallies[i].failed > 0)
        .collect();
    let (symptom, _) = tallies[*failing.first()?].symptom.as_ref()?;
    for &i in &failing {
        let t = &tallies[i];
        let same = t
            .symptom
            .as_ref()
            .is_some_and(|(s, all)| *all && s == symptom);
        if t.failed != t.n || t.caused != t.failed || !same {
            return None;
        }
        let Mode::At(stage) = t.mode() else {
            return None;
        };
        let earlier_works = tallies
            .iter()
            .any(|o| matches!(o.mode(), Mode::At(e) if order(e) < order(stage)) && o.failed == 0);
        if earlier_works {
            return None;
        }
    }
    Some(failing)
}

/// The mode to configure among those not worse: `after-handshake` (nothing unusual happens
/// before or during the handshake), else the latest stage, else keepalive off.
fn recommend(tallies: &[Tally<'_>], worse: &[usize]) -> Option<Mode> {
    let fine: Vec<Mode> = (0..tallies.len())
        .filter(|i| !worse.contains(i))
        .map(|i| tallies[i].mode())
        .collect();
    Stage::ALL
        .iter()
        .rev()
        .map(|&stage| Mode::At(stage))
        .chain([Mode::Off])
        .find(|mode| fine.contains(mode))
}

/// Rows `idx` grouped by how they failed, in probe order: `subject fails … ; subject fails …`.
fn groups(tallies: &[Tally<'_>], idx: &[usize]) -> String {
    let mut out: Vec<(Vec<Mode>, &Tally<'_>)> = Vec::new();
    for &i in idx {
        let t = &tallies[i];
        let key = |o: &Tally<'_>| (o.symptom.clone(), o.failed, o.n);
        match out.iter_mut().find(|(_, o)| key(o) == key(t)) {
            Some((modes, _)) => modes.push(t.mode()),
            None => out.push((vec![t.mode()], t)),
        }
    }
    out.iter()
        .map(|(modes, t)| describe(modes, t))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Some modes fail more often than the best: name them, the working ones, and the stage.
fn differ(tallies: &[Tally<'_>], worse: &[usize], recommended: Option<Mode>) -> String {
    let fine: Vec<usize> = (0..tallies.len()).filter(|i| !worse.contains(i)).collect();
    let working: Vec<Mode> = fine
        .iter()
        .filter(|&&i| tallies[i].failed == 0)
        .map(|&i| tallies[i].mode())
        .collect();
    let mut text = groups(tallies, worse);
    if !working.is_empty() {
        text.push_str(&format!(
            "; {} {}",
            join(&names(&working)),
            verb(working.len(), "works", "work")
        ));
    }
    match recommended {
        Some(Mode::At(stage)) => text.push_str(&format!(" — use Stage::{stage:?} for this host")),
        Some(Mode::Off) => text.push_str(
            " — only keepalive off works: this host does not tolerate keepalive at any probed \
             stage; leave it off (Keepalive::off())",
        ),
        None => {}
    }
    let fewest = tallies.iter().map(|t| t.n).min().unwrap_or(0);
    if fewest < FEW {
        text.push_str(&format!(
            " ({} per stage: {RERUN})",
            plural(fewest, "connection")
        ));
    }
    // A later stage that fails while an earlier one works: keepalive does not explain it.
    for &i in worse {
        let Mode::At(stage) = tallies[i].mode() else {
            continue;
        };
        let earlier: Vec<Mode> = fine
            .iter()
            .map(|&j| tallies[j].mode())
            .filter(|m| matches!(m, Mode::At(e) if order(*e) < order(stage)))
            .collect();
        if !earlier.is_empty() {
            text.push_str(&format!(
                " (keepalive set earlier, at {}, covers {stage} too and works: something other \
                 than keepalive differs between these rows)",
                join(&names(&earlier))
            ));
            break;
        }
    }
    let also: Vec<String> = fine
        .iter()
        .map(|&i| &tallies[i])
        .filter(|t| t.failed > 0)
        .map(|t| format!("{} {} of {}", t.mode(), t.failed, t.n))
        .collect();
    if !also.is_empty() {
        text.push_str(&format!(
            " ({} also failed, within chance)",
            join(&also.iter().map(String::as_str).collect::<Vec<_>>())
        ));
    }
    text
}

/// Failures, but no mode fails more often than the counts allow by chance.
fn no_difference(tallies: &[Tally<'_>]) -> String {
    const DEFAULT: &str = "nothing here argues against Stage::AfterHandshake (the default)";
    let failing: Vec<usize> = (0..tallies.len())
        .filter(|&i| tallies[i].failed > 0)
        .collect();
    let fewest = tallies.iter().map(|t| t.n).min().unwrap_or(0);
    if let [i] = failing.as_slice() {
        let t = &tallies[*i];
        let others: Vec<Mode> = (0..tallies.len())
            .filter(|j| j != i)
            .map(|j| tallies[j].mode())
            .collect();
        let why = why_not_keepalive(tallies, t);
        let (rest, maybe) = if t.failed == t.n {
            (
                format!(
                    " while {} {}",
                    join(&names(&others)),
                    verb(others.len(), "works", "work")
                ),
                "the endpoint may be flaky (rerun with --repeat 10)".to_owned(),
            )
        } else {
            (
                ", the other stages never".to_owned(),
                "the endpoint may be flaky".to_owned(),
            )
        };
        return format!("{}{rest}: {why} — {maybe}; {DEFAULT}", t.describe());
    }
    let failed: usize = tallies.iter().map(|t| t.failed).sum();
    let total: usize = tallies.iter().map(|t| t.n).sum();
    let modes: Vec<Mode> = failing.iter().map(|&i| tallies[i].mode()).collect();
    let spread = match common_symptom(tallies) {
        Some(s) => format!(
            "{failed} of {total} connections failed, all {}, spread over {}",
            s.at(),
            join(&names(&modes))
        ),
        None => {
            let working: Vec<Mode> = tallies
                .iter()
                .filter(|t| t.failed == 0)
                .map(Tally::mode)
                .collect();
            let mut text = groups(tallies, &failing);
            if !working.is_empty() {
                text.push_str(&format!(
                    "; {} {}",
                    join(&names(&working)),
                    verb(working.len(), "works", "work")
                ));
            }
            text
        }
    };
    if fewest < FEW {
        format!(
            "{spread}: with {} per stage that cannot tell keepalive from a flaky endpoint — \
             rerun with --repeat 10; {DEFAULT}",
            plural(fewest, "connection")
        )
    } else {
        format!(
            "the endpoint is flaky: {spread}; no stage fails significantly more often than \
             another — {DEFAULT}"
        )
    }
}

/// Why one failing row is not held against its mode.
fn why_not_keepalive(tallies: &[Tally<'_>], t: &Tally<'_>) -> String {
    let Mode::At(stage) = t.mode() else {
        return "keepalive was off, so keepalive did not cause it".to_owned();
    };
    if t.caused == 0 {
        return "that happened before keepalive was applied, so keepalive did not cause it"
            .to_owned();
    }
    let earlier: Vec<Mode> = tallies
        .iter()
        .filter(|o| matches!(o.mode(), Mode::At(e) if order(e) < order(stage)) && o.failed == 0)
        .map(Tally::mode)
        .collect();
    if !earlier.is_empty() {
        return format!(
            "keepalive set earlier ({}) covers that phase too and works, so keepalive does not \
             explain it",
            join(&names(&earlier))
        );
    }
    format!(
        "{} failure{} in {} {} too few to blame the stage",
        t.failed,
        if t.failed == 1 { "" } else { "s" },
        plural(t.n, "connection"),
        verb(t.failed, "is", "are")
    )
}
