//! The verdict's sentences, one test per rule.

use super::*;
use crate::model::{Attempt, Failure, HttpResponse, PhaseTimes};
use keepalive_connector::{Phase, Stage};

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

/// A row of `mode` on `route` with these attempts.
fn row(mode: Mode, route: RouteKind, attempts: Vec<Attempt>) -> StageResult {
    StageResult {
        attempts,
        ..StageResult::stage(mode, route)
    }
}

/// One direct attempt per mode, in probe order.
fn results(attempts: [Attempt; 4]) -> Vec<StageResult> {
    Mode::ALL
        .into_iter()
        .zip(attempts)
        .map(|(mode, a)| row(mode, RouteKind::Direct, vec![a]))
        .collect()
}

/// The verdict of rows without a proxy route.
fn verdict_of(rows: &[StageResult]) -> Verdict {
    verdict(rows, None)
}

#[test]
fn every_stage_works() {
    let v = verdict_of(&results([ok(), ok(), ok(), ok()]));
    assert_eq!(v.text, "every stage works");
    assert_eq!(v.recommended, Some(Mode::At(Stage::AfterHandshake)));
}

#[test]
fn strict_handshake_names_the_working_stage() {
    let v = verdict_of(&results([fail(TLS, RESET), fail(TLS, RESET), ok(), ok()]));
    assert_eq!(
        v.text,
        "keepalive before the TLS handshake (before-connect, after-connect) fails at the tls \
         phase (connection reset by peer); after-handshake and off work — use \
         Stage::AfterHandshake for this host (1 connection per stage: rerun with --repeat 10 \
         to confirm)"
    );
    assert_eq!(v.recommended, Some(Mode::At(Stage::AfterHandshake)));
}

#[test]
fn one_stage_failing() {
    let v = verdict_of(&results([fail(TLS, RESET), ok(), ok(), ok()]));
    assert!(v.text.starts_with(
        "keepalive before connect (before-connect) fails at the tls phase (connection reset \
         by peer); after-connect, after-handshake and off work — use Stage::AfterHandshake"
    ));
    assert!(!v.text.contains("flaky"));
}

#[test]
fn a_later_stage_failing_alone_is_not_blamed_on_keepalive() {
    let http = FailPhase::Http;
    let v = verdict_of(&results([ok(), ok(), fail(http, "closed"), ok()]));
    assert_eq!(
        v.text,
        "keepalive after the TLS handshake (after-handshake) fails at the http phase (closed) \
         while before-connect, after-connect and off work: keepalive set earlier (before-connect \
         and after-connect) covers that phase too and works, so keepalive does not explain it — the \
         endpoint may be flaky (rerun with --repeat 10); nothing here argues against \
         Stage::AfterHandshake (the default)"
    );
    assert_eq!(v.recommended, Some(Mode::At(Stage::AfterHandshake)));
}

#[test]
fn only_off_works() {
    let http = || fail(FailPhase::Http, RESET);
    let v = verdict_of(&results([http(), http(), http(), ok()]));
    assert_eq!(v.recommended, Some(Mode::Off));
    assert!(v.text.contains("only keepalive off works"), "{}", v.text);
    // Not the same way everywhere: no clean split on one connection each.
    let v = verdict_of(&results([fail(TLS, RESET), fail(TLS, RESET), http(), ok()]));
    assert_eq!(v.recommended, Some(Mode::At(Stage::AfterHandshake)));
    assert!(v.text.contains("rerun with --repeat 10"), "{}", v.text);
    assert!(!v.text.contains("only keepalive off"), "{}", v.text);
}

#[test]
fn unreachable_regardless_of_keepalive() {
    let refused = || fail(FailPhase::Connect(Phase::Connect), "connection refused");
    let v = verdict_of(&results([refused(), refused(), refused(), refused()]));
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
    let v = verdict_of(&results([ok(), fail(dns, "no such host"), ok(), ok()]));
    assert!(
        v.text.contains(
            "after-connect) fails at the dns phase (no such host) while before-connect, \
             after-handshake and off work: that happened before keepalive was applied"
        ),
        "{}",
        v.text
    );
    assert!(v.text.contains("--repeat"));
}

#[test]
fn partial_failures_are_counted() {
    let mut rs = results([ok(), ok(), ok(), ok()]);
    rs[0].attempts = vec![ok(), fail(TLS, RESET), ok()];
    let v = verdict_of(&rs);
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
        .map(|(mode, attempts)| row(mode, RouteKind::Direct, attempts))
        .collect()
}

const AH: Mode = Mode::At(Stage::AfterHandshake);

// Defect 1: one failed attempt out of --repeat N must not disqualify a stage.
#[test]
fn one_reset_in_twenty_on_every_stage_is_flaky_not_unreachable() {
    let reset = || fail(TLS, RESET);
    let v = verdict_of(&repeated([
        attempts(20, &[3], reset),
        attempts(20, &[11], reset),
        attempts(20, &[7], reset),
        attempts(20, &[15], reset),
    ]));
    assert!(!v.text.contains("unreachable"), "{}", v.text);
    assert!(v.text.contains("flaky"), "{}", v.text);
    assert!(
        v.text.contains("4 of 80"),
        "the counts are kept: {}",
        v.text
    );
    assert_eq!(v.recommended, Some(AH));
}

#[test]
fn one_failure_on_after_handshake_only_blames_no_stage() {
    let closed = || fail(FailPhase::Http, "connection closed by peer");
    let v = verdict_of(&repeated([
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
    let v = verdict_of(&repeated([
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
    let v = verdict_of(&results([fail(TLS, RESET), fail(TLS, RESET), ok(), ok()]));
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
    let v = verdict_of(&repeated([
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
    let v = verdict_of(&results([ok(), ok(), fail(TLS, RESET), ok()]));
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
        let v = verdict_of(&[row(mode, RouteKind::Direct, vec![ok()])]);
        assert_eq!(v.recommended, None, "{mode}: {}", v.text);
    }
}

// An `off` row never had keepalive applied, so it never failed "before" it.
#[test]
fn an_off_failure_is_not_said_to_precede_keepalive() {
    let v = verdict_of(&results([ok(), ok(), ok(), fail(FailPhase::Http, RESET)]));
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
        vec![row(
            Mode::At(Stage::AfterConnect),
            RouteKind::Direct,
            vec![a],
        )]
    };
    assert_eq!(verdict_of(&one(ok())).text, "after-connect works");
    let v = verdict_of(&one(fail(TLS, RESET)));
    assert_eq!(
        v.text,
        "after-connect fails at the tls phase (connection reset by peer) — probe every stage \
         (--stage all) to compare"
    );
}
