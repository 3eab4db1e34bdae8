//! The verdict's sentences, one test per rule.

use super::*;
use crate::model::{Attempt, Failure, HttpResponse, PhaseTimes};
use keepalive_connector::{Family, ProxySource};
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

/// `n` attempts per mode; before-connect's at `failed` fail with a reset, all others work.
fn before_connect_resets(n: usize, failed: &[usize]) -> Vec<StageResult> {
    repeated([
        attempts(n, failed, || fail(TLS, RESET)),
        attempts(n, &[], ok),
        attempts(n, &[], ok),
        attempts(n, &[], ok),
    ])
}

/// `0..n`: every attempt.
fn every(n: usize) -> Vec<usize> {
    (0..n).collect()
}

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
    let v = verdict_of(&before_connect_resets(10, &[2, 6]));
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
    let v = verdict_of(&before_connect_resets(10, &every(10)));
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

#[test]
fn a_later_stage_failing_every_time_is_worse_but_not_explained_by_keepalive() {
    let closed = || fail(FailPhase::Http, "closed");
    let v = verdict_of(&repeated([
        attempts(10, &[], ok),
        attempts(10, &[], ok),
        attempts(10, &every(10), closed),
        attempts(10, &[], ok),
    ]));
    assert_eq!(v.recommended, Some(Mode::At(Stage::AfterConnect)));
    assert!(
        v.text.contains(
            "keepalive set earlier, at before-connect and after-connect, covers after-handshake \
             too and works: something other than keepalive differs"
        ),
        "{}",
        v.text
    );
}

#[test]
fn other_failures_within_chance_are_counted_beside_the_finding() {
    let reset = || fail(TLS, RESET);
    let v = verdict_of(&repeated([
        attempts(10, &every(10), reset),
        attempts(10, &[4], reset),
        attempts(10, &[], ok),
        attempts(10, &[], ok),
    ]));
    assert_eq!(
        v.text,
        "keepalive before connect (before-connect) fails at the tls phase (connection reset by \
         peer); after-handshake and off work — use Stage::AfterHandshake for this host \
         (after-connect 1 of 10 also failed, within chance)"
    );
}

#[test]
fn every_stage_failing_in_different_ways_is_not_called_unreachable() {
    let refused = fail(FailPhase::Connect(Phase::Connect), "connection refused");
    let v = verdict_of(&results([
        fail(TLS, RESET),
        fail(TLS, RESET),
        refused.clone(),
        refused,
    ]));
    assert!(!v.text.contains("unreachable"), "{}", v.text);
    assert!(
        v.text
            .starts_with("every probed stage fails, not all the same way: "),
        "{}",
        v.text
    );
    assert_eq!(v.recommended, None);
}

#[test]
fn a_proxy_phase_failure_after_the_handshake_stage_is_not_keepalive() {
    let proxy = FailPhase::Connect(Phase::Proxy);
    let v = verdict_of(&results([ok(), ok(), fail(proxy, "CONNECT refused"), ok()]));
    assert!(
        v.text.contains("before keepalive was applied"),
        "{}",
        v.text
    );
    assert_eq!(v.recommended, Some(AH));
}

// Routes: the proxy route's rows and the direct route's, compared first.

fn proxy_name(source: ProxySource) -> ProxyName {
    ProxyName {
        url: "http://proxy.test:3128/".to_owned(),
        source,
    }
}

/// Proxy rows then direct rows, one attempt each.
fn two_routes(via_proxy: [Attempt; 4], direct: [Attempt; 4]) -> Vec<StageResult> {
    let route = |route, attempts: [Attempt; 4]| {
        Mode::ALL
            .into_iter()
            .zip(attempts)
            .map(move |(mode, a)| row(mode, route, vec![a]))
    };
    route(RouteKind::Proxy, via_proxy)
        .chain(route(RouteKind::Direct, direct))
        .collect()
}

fn all_ok() -> [Attempt; 4] {
    [ok(), ok(), ok(), ok()]
}

fn all(f: impl Fn() -> Attempt) -> [Attempt; 4] {
    [f(), f(), f(), f()]
}

const HTTPS_PROXY: ProxySource = ProxySource::Env("HTTPS_PROXY");

#[test]
fn direct_failing_where_the_proxy_works_is_said_first() {
    let rows = two_routes(all_ok(), all(|| fail(TLS, RESET)));
    let v = verdict(&rows, Some(&proxy_name(HTTPS_PROXY)));
    assert_eq!(
        v.text,
        "direct fails at the tls phase (connection reset by peer) and the proxy works: this \
         network needs the proxy (HTTPS_PROXY); a client that bypasses it fails the same way. \
         Through the proxy: every stage works"
    );
    assert_eq!(v.recommended, Some(AH));
    assert_eq!(v.route, Some(RouteKind::Proxy));
}

#[test]
fn a_proxy_failing_where_direct_works_is_said_first() {
    let refused = || {
        fail(
            FailPhase::Connect(Phase::Proxy),
            "CONNECT refused: 403 Forbidden",
        )
    };
    let rows = two_routes(all(refused), all_ok());
    let v = verdict(&rows, Some(&proxy_name(HTTPS_PROXY)));
    assert_eq!(
        v.text,
        "the proxy http://proxy.test:3128/ (HTTPS_PROXY) fails at the proxy phase (CONNECT \
         refused: 403 Forbidden) and direct works: clients that follow HTTPS_PROXY fail here — \
         fix the proxy, or exempt this host in NO_PROXY. Direct: every stage works"
    );
    assert_eq!(v.route, Some(RouteKind::Direct));

    // --proxy, and a proxy that cannot be reached at all.
    let unreachable = || fail(FailPhase::Connect(Phase::Connect), "connection refused");
    let rows = two_routes(all(unreachable), all_ok());
    let v = verdict(&rows, Some(&proxy_name(ProxySource::Explicit)));
    assert!(
        v.text.starts_with(
            "the proxy http://proxy.test:3128/ (--proxy) cannot be reached at the connect phase \
             (connection refused) and direct works: clients that use this proxy fail here"
        ),
        "{}",
        v.text
    );
    let v = verdict(&rows, Some(&proxy_name(ProxySource::System)));
    assert!(
        v.text.contains(
            "(the system proxy settings) cannot be reached at the connect phase (connection \
             refused) and direct works: clients that follow the system proxy settings fail here"
        ),
        "{}",
        v.text
    );
}

#[test]
fn both_routes_failing() {
    let rows = two_routes(all(|| fail(TLS, RESET)), all(|| fail(TLS, RESET)));
    let v = verdict(&rows, Some(&proxy_name(HTTPS_PROXY)));
    assert_eq!(
        v.text,
        "both routes fail at the tls phase (connection reset by peer): the endpoint is \
         unreachable from here, through the proxy (HTTPS_PROXY) or direct"
    );
    assert_eq!((v.recommended, v.route), (None, None));

    let refused = || fail(FailPhase::Connect(Phase::Connect), "connection refused");
    let rows = two_routes(all(refused), all(|| fail(TLS, RESET)));
    let v = verdict(&rows, Some(&proxy_name(HTTPS_PROXY)));
    assert_eq!(
        v.text,
        "both routes fail: the proxy (HTTPS_PROXY) cannot be reached at the connect phase \
         (connection refused), and direct fails at the tls phase (connection reset by peer)"
    );
}

#[test]
fn routes_that_agree_are_summed_up_once_and_routes_that_differ_each_get_their_finding() {
    let v = verdict(
        &two_routes(all_ok(), all_ok()),
        Some(&proxy_name(HTTPS_PROXY)),
    );
    assert_eq!(v.text, "through the proxy and direct: every stage works");
    assert_eq!(v.route, Some(RouteKind::Proxy));

    // The upstream report's network: keepalive before the handshake fails direct only.
    let direct = [fail(TLS, RESET), fail(TLS, RESET), ok(), ok()];
    let v = verdict(
        &two_routes(all_ok(), direct),
        Some(&proxy_name(HTTPS_PROXY)),
    );
    assert_eq!(
        v.text,
        "through the proxy (HTTPS_PROXY): every stage works; direct: keepalive before the TLS \
         handshake (before-connect, after-connect) fails at the tls phase (connection reset by \
         peer); after-handshake and off work — use Stage::AfterHandshake for this host (1 \
         connection per stage: rerun with --repeat 10 to confirm)"
    );
    assert_eq!(v.recommended, Some(AH));
    assert_eq!(v.route, Some(RouteKind::Proxy), "the environment's route");
}

// Families: one after-handshake row per family, direct, after the stage rows.

fn timed_out() -> Attempt {
    let mut a = fail(FailPhase::Connect(Phase::Connect), "timed out");
    if let Err(f) = &mut a.outcome {
        f.timeout = true;
    }
    a
}

fn with_families(stages: [Attempt; 4], v4: Vec<Attempt>, v6: Vec<Attempt>) -> Vec<StageResult> {
    let mut rows = results(stages);
    for (family, attempts) in [(Family::V4, v4), (Family::V6, v6)] {
        rows.push(StageResult {
            family: Some(family),
            kind: RowKind::Family,
            ..row(AH, RouteKind::Direct, attempts)
        });
    }
    rows
}

#[test]
fn a_dead_family_is_named_before_the_stage_advice() {
    let v = verdict_of(&with_families(all_ok(), vec![ok()], vec![timed_out()]));
    assert_eq!(
        v.text,
        "IPv6 times out at the connect phase — a dead IPv6 path — and IPv4 works: a client \
         without happy eyeballs stalls here. Every stage works"
    );
    assert_eq!(v.recommended, Some(AH));

    let v = verdict_of(&with_families(
        all_ok(),
        vec![timed_out()],
        vec![ok(), ok()],
    ));
    assert!(
        v.text
            .starts_with("IPv4 times out at the connect phase — a dead IPv4 path — and IPv6 works"),
        "{}",
        v.text
    );

    let unreachable = || fail(FailPhase::Connect(Phase::Connect), "network unreachable");
    let v = verdict_of(&with_families(all_ok(), vec![ok()], vec![unreachable()]));
    assert!(
        v.text.starts_with(
            "IPv6 fails at the connect phase (network unreachable) and IPv4 works: a client that \
             tries IPv6 without falling back to IPv4 fails here. Every stage works"
        ),
        "{}",
        v.text
    );
}

#[test]
fn families_that_both_fail_or_both_work() {
    let v = verdict_of(&with_families(all_ok(), vec![ok()], vec![ok()]));
    assert_eq!(v.text, "every stage works", "no finding when both work");

    let v = verdict_of(&with_families(
        all_ok(),
        vec![timed_out()],
        vec![timed_out()],
    ));
    assert!(
        v.text
            .starts_with("both address families fail at the connect phase (timed out). "),
        "{}",
        v.text
    );
    let v = verdict_of(&with_families(
        all_ok(),
        vec![fail(TLS, RESET)],
        vec![timed_out()],
    ));
    assert!(
        v.text.starts_with(
            "IPv4 fails at the tls phase (connection reset by peer) and IPv6 at the connect phase \
             (timed out)"
        ),
        "{}",
        v.text
    );

    // A direct route that fails at every stage already says it all.
    let refused = || fail(FailPhase::Connect(Phase::Connect), "connection refused");
    let v = verdict_of(&with_families(
        all(refused),
        vec![refused()],
        vec![refused()],
    ));
    assert_eq!(
        v.text,
        "every probed stage fails at the connect phase (connection refused): the endpoint is \
         unreachable regardless of keepalive"
    );
}

#[test]
fn a_family_failing_some_of_the_time_is_judged_by_its_rate() {
    let v = verdict_of(&with_families(
        all_ok(),
        attempts(10, &[], ok),
        attempts(10, &[0, 2, 4, 6, 8], timed_out),
    ));
    assert!(
        v.text.starts_with(
            "IPv4 failed 0 of 10 times, IPv6 5 of 10, at the connect phase (timed out): IPv6 is \
             unreliable here"
        ),
        "{}",
        v.text
    );
    let v = verdict_of(&with_families(
        all_ok(),
        attempts(10, &[], ok),
        attempts(10, &[3], timed_out),
    ));
    assert!(
        v.text.starts_with(
            "IPv4 failed 0 of 10 times, IPv6 1 of 10, at the connect phase (timed out): a \
             difference within chance"
        ),
        "{}",
        v.text
    );
}

#[test]
fn an_unreachable_proxy_alone_is_not_called_an_unreachable_endpoint() {
    let refused = || fail(FailPhase::Connect(Phase::Connect), "connection refused");
    let rows: Vec<StageResult> = two_routes(all(refused), all_ok())
        .into_iter()
        .filter(|r| r.route == RouteKind::Proxy)
        .collect();
    let v = verdict(&rows, Some(&proxy_name(HTTPS_PROXY)));
    assert_eq!(
        v.text,
        "the proxy http://proxy.test:3128/ (HTTPS_PROXY) cannot be reached at the connect phase \
         (connection refused)"
    );
    assert_eq!(v.recommended, None);

    // Through a proxy that was reached, a handshake failing everywhere is the endpoint's.
    let rows: Vec<StageResult> = two_routes(all(|| fail(TLS, RESET)), all_ok())
        .into_iter()
        .filter(|r| r.route == RouteKind::Proxy)
        .collect();
    let v = verdict(&rows, Some(&proxy_name(HTTPS_PROXY)));
    assert!(
        v.text.contains("unreachable regardless of keepalive"),
        "{}",
        v.text
    );
}
