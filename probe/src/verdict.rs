//! The verdict: which stages failed and how, which worked, and which stage to configure.

use keepalive_connector::Stage;

use crate::model::{FailPhase, Mode, StageResult};

/// The conclusion drawn from the stage results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// One sentence, without the `verdict: ` prefix.
    pub(crate) text: String,
    /// The mode to configure, when the probe can recommend one.
    pub(crate) recommended: Option<Mode>,
}

/// How one stage failed, for grouping stages that failed the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Symptom {
    phase: FailPhase,
    cause: String,
    /// `Some((failed, attempts))` when only some attempts failed.
    partial: Option<(usize, usize)>,
}

/// Draws the verdict from results in probe order.
pub(crate) fn verdict(results: &[StageResult]) -> Verdict {
    let working: Vec<Mode> = results.iter().filter(|r| r.ok()).map(|r| r.mode).collect();
    let failing: Vec<(Mode, Symptom)> = results
        .iter()
        .filter_map(|r| {
            let failure = r.first_failure()?;
            let attempts = r.attempts.len();
            let failed = attempts - r.ok_count();
            Some((
                r.mode,
                Symptom {
                    phase: failure.phase,
                    cause: failure.cause.clone(),
                    partial: (failed < attempts).then_some((failed, attempts)),
                },
            ))
        })
        .collect();
    let all_probed = results.len() == Mode::ALL.len();

    if failing.is_empty() {
        let text = if all_probed {
            "every stage works".to_owned()
        } else {
            format!(
                "{} {}",
                join(&names(&working)),
                verb(working.len(), "works", "work")
            )
        };
        let recommended = recommend(&working);
        return Verdict { text, recommended };
    }

    let groups = group(&failing);
    let failures = groups
        .iter()
        .map(|(modes, symptom)| describe(modes, symptom, results.len() > 1))
        .collect::<Vec<_>>()
        .join("; ");

    if working.is_empty() {
        let text = if results.len() == 1 {
            format!("{failures} — probe every stage (--stage all) to compare")
        } else if groups.len() == 1 {
            let symptom = &groups[0].1;
            format!(
                "every probed stage fails at the {} phase ({}): the endpoint is unreachable \
                 regardless of keepalive",
                symptom.phase, symptom.cause
            )
        } else {
            format!("{failures}: the endpoint is unreachable regardless of keepalive")
        };
        return Verdict {
            text,
            recommended: None,
        };
    }

    let mut text = format!(
        "{failures}; {} {}",
        join(&names(&working)),
        verb(working.len(), "works", "work")
    );
    let recommended = recommend(&working);
    match recommended {
        Some(Mode::At(stage)) => {
            text.push_str(&format!(" — use Stage::{stage:?} for this host"));
        }
        Some(Mode::Off) => text.push_str(
            " — only keepalive off works: this host does not tolerate keepalive at any probed \
             stage; leave it off (Keepalive::off())",
        ),
        None => {}
    }
    // Failures that keepalive cannot have caused (they happened before it was applied) point
    // at a flaky endpoint rather than at the stage.
    let unexplained: Vec<Mode> = failing
        .iter()
        .filter(|(mode, symptom)| !mode.can_cause(symptom.phase))
        .map(|(mode, _)| *mode)
        .collect();
    if !unexplained.is_empty() {
        text.push_str(&format!(
            " (the {} failure{} happened before keepalive was applied, so keepalive did not \
             cause {}: the endpoint may be flaky — rerun with --repeat)",
            join(&names(&unexplained)),
            if unexplained.len() == 1 { "" } else { "s" },
            if unexplained.len() == 1 { "it" } else { "them" },
        ));
    }
    Verdict { text, recommended }
}

/// The stage to configure among the working ones: `AfterHandshake` when it works, as nothing
/// unusual then happens before or during the handshake; otherwise the latest working stage,
/// which changes the least about what the peer sees during the handshake while still covering
/// the whole HTTP exchange; keepalive off only when no keepalive stage works.
fn recommend(working: &[Mode]) -> Option<Mode> {
    Stage::ALL
        .iter()
        .rev()
        .map(|&stage| Mode::At(stage))
        .chain([Mode::Off])
        .find(|mode| working.contains(mode))
}

/// Groups failing modes with the same symptom, keeping probe order.
fn group(failing: &[(Mode, Symptom)]) -> Vec<(Vec<Mode>, Symptom)> {
    let mut groups: Vec<(Vec<Mode>, Symptom)> = Vec::new();
    for (mode, symptom) in failing {
        match groups.iter_mut().find(|(_, s)| s == symptom) {
            Some((modes, _)) => modes.push(*mode),
            None => groups.push((vec![*mode], symptom.clone())),
        }
    }
    groups
}

/// `keepalive before the TLS handshake (before-connect, after-connect) fails at the tls phase
/// (connection reset by peer)`.
fn describe(modes: &[Mode], symptom: &Symptom, explain: bool) -> String {
    // "keepalive before connect (…) fails", but "before-connect and off fail".
    let (subject, verb) = if explain {
        (subject(modes), "fails")
    } else {
        (join(&names(modes)), verb(modes.len(), "fails", "fail"))
    };
    let how_often = match symptom.partial {
        Some((failed, attempts)) => format!(" {failed} of {attempts} times"),
        None => String::new(),
    };
    format!(
        "{subject} {verb}{how_often} at the {} phase ({})",
        symptom.phase, symptom.cause
    )
}

/// Names a group of modes by when keepalive was applied.
fn subject(modes: &[Mode]) -> String {
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

fn names(modes: &[Mode]) -> Vec<&'static str> {
    modes.iter().map(|m| m.as_str()).collect()
}

fn verb(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// `a`, `a and b`, `a, b and c`.
fn join(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Attempt, Failure, HttpResponse, PhaseTimes};
    use keepalive_connector::Phase;

    fn ok() -> Attempt {
        Attempt {
            conn: None,
            outcome: Ok(HttpResponse {
                status: 200,
                version: "HTTP/2",
                headers: Default::default(),
                body_bytes: 0,
                body_error: None,
            }),
            times: PhaseTimes::default(),
        }
    }

    fn fail(phase: FailPhase, cause: &str) -> Attempt {
        Attempt {
            conn: None,
            outcome: Err(Failure {
                phase,
                cause: cause.to_owned(),
                message: cause.to_owned(),
                timeout: false,
                addr: None,
            }),
            times: PhaseTimes::default(),
        }
    }

    const TLS: FailPhase = FailPhase::Connect(Phase::Tls);
    const RESET: &str = "connection reset by peer";

    fn results(attempts: [Attempt; 4]) -> Vec<StageResult> {
        Mode::ALL
            .into_iter()
            .zip(attempts)
            .map(|(mode, a)| StageResult {
                mode,
                attempts: vec![a],
            })
            .collect()
    }

    #[test]
    fn every_stage_works() {
        let v = verdict(&results([ok(), ok(), ok(), ok()]));
        assert_eq!(v.text, "every stage works");
        assert_eq!(v.recommended, Some(Mode::At(Stage::AfterHandshake)));
    }

    #[test]
    fn strict_handshake_names_the_working_stage() {
        let v = verdict(&results([fail(TLS, RESET), fail(TLS, RESET), ok(), ok()]));
        assert_eq!(
            v.text,
            "keepalive before the TLS handshake (before-connect, after-connect) fails at the tls \
             phase (connection reset by peer); after-handshake and off work — use \
             Stage::AfterHandshake for this host"
        );
        assert_eq!(v.recommended, Some(Mode::At(Stage::AfterHandshake)));
    }

    #[test]
    fn one_stage_failing() {
        let v = verdict(&results([fail(TLS, RESET), ok(), ok(), ok()]));
        assert!(v.text.starts_with(
            "keepalive before connect (before-connect) fails at the tls phase (connection reset \
             by peer); after-connect, after-handshake and off work — use Stage::AfterHandshake"
        ));
        assert!(!v.text.contains("flaky"));
    }

    #[test]
    fn latest_working_stage_when_after_handshake_fails() {
        let http = FailPhase::Http;
        let v = verdict(&results([ok(), ok(), fail(http, "closed"), ok()]));
        assert_eq!(v.recommended, Some(Mode::At(Stage::AfterConnect)));
        assert!(v.text.contains("use Stage::AfterConnect"), "{}", v.text);
    }

    #[test]
    fn only_off_works() {
        let v = verdict(&results([
            fail(TLS, RESET),
            fail(TLS, RESET),
            fail(FailPhase::Http, RESET),
            ok(),
        ]));
        assert_eq!(v.recommended, Some(Mode::Off));
        assert!(v.text.contains("only keepalive off works"), "{}", v.text);
    }

    #[test]
    fn unreachable_regardless_of_keepalive() {
        let refused = || fail(FailPhase::Connect(Phase::Connect), "connection refused");
        let v = verdict(&results([refused(), refused(), refused(), refused()]));
        assert_eq!(
            v.text,
            "every probed stage fails at the connect phase (connection refused): the endpoint is \
             unreachable regardless of keepalive"
        );
        assert_eq!(v.recommended, None);
    }

    #[test]
    fn failures_before_keepalive_point_at_flakiness() {
        let dns = FailPhase::Connect(Phase::Dns);
        let v = verdict(&results([ok(), fail(dns, "no such host"), ok(), ok()]));
        assert!(v
            .text
            .contains("the after-connect failure happened before keepalive"));
        assert!(v.text.contains("--repeat"));
    }

    #[test]
    fn partial_failures_are_counted() {
        let mut rs = results([ok(), ok(), ok(), ok()]);
        rs[0].attempts = vec![ok(), fail(TLS, RESET), ok()];
        let v = verdict(&rs);
        assert!(
            v.text
                .starts_with("keepalive before connect (before-connect) fails 1 of 3 times at"),
            "{}",
            v.text
        );
    }

    /// `n` attempts of which those at the indexes in `failed` fail with `f()`.
    fn attempts(n: usize, failed: &[usize], f: impl Fn() -> Attempt) -> Vec<Attempt> {
        (0..n)
            .map(|i| if failed.contains(&i) { f() } else { ok() })
            .collect()
    }

    fn repeated(per_mode: [Vec<Attempt>; 4]) -> Vec<StageResult> {
        Mode::ALL
            .into_iter()
            .zip(per_mode)
            .map(|(mode, attempts)| StageResult { mode, attempts })
            .collect()
    }

    const AH: Mode = Mode::At(Stage::AfterHandshake);

    // Defect 1: one failed attempt out of --repeat N must not disqualify a stage.
    #[test]
    fn one_reset_in_twenty_on_every_stage_is_flaky_not_unreachable() {
        let reset = || fail(TLS, RESET);
        let v = verdict(&repeated([
            attempts(20, &[3], reset),
            attempts(20, &[11], reset),
            attempts(20, &[7], reset),
            attempts(20, &[15], reset),
        ]));
        assert!(!v.text.contains("unreachable"), "{}", v.text);
        assert!(v.text.contains("flaky"), "{}", v.text);
        assert!(v.text.contains("4 of 80"), "the counts are kept: {}", v.text);
        assert_eq!(v.recommended, Some(AH));
    }

    #[test]
    fn one_failure_on_after_handshake_only_blames_no_stage() {
        let closed = || fail(FailPhase::Http, "connection closed by peer");
        let v = verdict(&repeated([
            attempts(20, &[], ok),
            attempts(20, &[], ok),
            attempts(20, &[9], closed),
            attempts(20, &[], ok),
        ]));
        assert!(!v.text.contains("use Stage::AfterConnect"), "{}", v.text);
        assert_eq!(v.recommended, Some(AH), "{}", v.text);
    }

    #[test]
    fn two_failures_in_ten_are_not_enough_to_blame_a_stage() {
        let reset = || fail(TLS, RESET);
        let v = verdict(&repeated([
            attempts(10, &[2, 6], reset),
            attempts(10, &[], ok),
            attempts(10, &[], ok),
            attempts(10, &[], ok),
        ]));
        assert!(v.text.contains("flaky"), "{}", v.text);
        assert!(!v.text.contains("use Stage::"), "{}", v.text);
        assert_eq!(v.recommended, Some(AH));
    }

    #[test]
    fn a_clean_split_on_one_connection_asks_for_a_rerun() {
        let v = verdict(&results([fail(TLS, RESET), fail(TLS, RESET), ok(), ok()]));
        assert!(
            v.text.contains("rerun with --repeat 10 to confirm"),
            "{}",
            v.text
        );
        assert_eq!(v.recommended, Some(AH));
    }

    #[test]
    fn ten_of_ten_against_none_of_ten_needs_no_rerun() {
        let reset = || fail(TLS, RESET);
        let v = verdict(&repeated([
            attempts(10, &(0..10).collect::<Vec<_>>(), reset),
            attempts(10, &[], ok),
            attempts(10, &[], ok),
            attempts(10, &[], ok),
        ]));
        assert!(v.text.contains("use Stage::AfterHandshake"), "{}", v.text);
        assert!(!v.text.contains("rerun"), "{}", v.text);
        assert_eq!(v.recommended, Some(AH));
    }

    // Defect 2: a failure before keepalive was applied never drives the recommendation.
    #[test]
    fn a_failure_before_keepalive_never_drives_the_recommendation() {
        let v = verdict(&results([ok(), ok(), fail(TLS, RESET), ok()]));
        assert!(!v.text.contains("use Stage::AfterConnect"), "{}", v.text);
        assert_eq!(v.recommended, Some(AH), "{}", v.text);
        assert!(
            v.text.contains("before keepalive was applied"),
            "{}",
            v.text
        );
    }

    // Defect 3: nothing to compare, nothing to recommend.
    #[test]
    fn a_single_probed_mode_recommends_nothing() {
        for mode in Mode::ALL {
            let v = verdict(&[StageResult {
                mode,
                attempts: vec![ok()],
            }]);
            assert_eq!(v.recommended, None, "{mode}: {}", v.text);
        }
    }

    // An `off` row never had keepalive applied, so it never failed "before" it.
    #[test]
    fn an_off_failure_is_not_said_to_precede_keepalive() {
        let v = verdict(&results([ok(), ok(), ok(), fail(FailPhase::Http, RESET)]));
        assert!(
            !v.text.contains("before keepalive was applied"),
            "{}",
            v.text
        );
        assert!(v.text.contains("keepalive was off"), "{}", v.text);
    }

    #[test]
    fn a_single_probed_stage() {
        let one = |a: Attempt| {
            vec![StageResult {
                mode: Mode::At(Stage::AfterConnect),
                attempts: vec![a],
            }]
        };
        assert_eq!(verdict(&one(ok())).text, "after-connect works");
        let v = verdict(&one(fail(TLS, RESET)));
        assert_eq!(
            v.text,
            "after-connect fails at the tls phase (connection reset by peer) — probe every stage \
             (--stage all) to compare"
        );
    }
}
