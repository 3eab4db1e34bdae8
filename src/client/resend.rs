//! The re-send rules: whether a request that failed before its answer is sent again on a fresh
//! connection (Go's `shouldRetryRequest`, RFC 9110 §9.2.2, RFC 9113 §8.7).
//!
//! - A request the server cannot have processed — an HTTP/2 stream it refused
//!   (`REFUSED_STREAM`) or left above its GOAWAY's last stream id, or a request a reused or
//!   pooled connection closed before writing — is sent again whatever its method, if its body
//!   can be.
//! - A request that failed on a **reused** connection (one that served a request before, or
//!   waited in the pool before this request: connections a request started and then did not
//!   need go there unused) before any byte of its response arrived (the server closed or reset
//!   the connection, or the path dropped it silently) is sent
//!   again when it is replayable: an idempotent method (GET, HEAD, OPTIONS, TRACE, PUT, DELETE)
//!   or an `Idempotency-Key` / `X-Idempotency-Key` header, and a body that can be sent whole
//!   again. Otherwise it fails as a stale connection, saying why.
//! - A fresh connection's failure is never a reason to send again (the next fresh connection
//!   would likely fail the same way: hyper-util #150's loop), also when it failed before it was
//!   handed over or before the request was written, unless it had processed other requests
//!   first; an HTTP/2 server's refusal is one.
//! - A request whose own body failed is never sent again (the client checks that first).
//! - Re-sends are bounded: [`max_resends`](crate::Builder::max_resends) per request, except
//!   unprocessed requests refused by a connection that made progress (it answered others, or
//!   its GOAWAY names streams it processed: the server asked for them to go elsewhere), which
//!   are bounded by [`MAX_ATTEMPTS`] in all.

use std::error::Error as StdError;
use std::io;
use std::sync::Arc;

use http::{HeaderMap, Method};

use super::error::NotResent;
use super::info::StaleReason;
use crate::conn_state::{flag, ConnState};
use crate::stream::SilentDrop;

/// Attempts per request at most, whatever the reasons.
/// A server that processes a few requests per connection and sends the rest away (nginx
/// `keepalive_requests 5`, a burst of 60 at once) needs about burst ÷ per-connection attempts
/// for its last request; every such attempt waits for a new connection, so a high cap costs
/// no tight loop. Seen in tests: up to 15.
pub(crate) const MAX_ATTEMPTS: u32 = 32;

/// The connection a failed attempt went out on.
#[derive(Debug)]
pub(crate) struct Dispatched {
    pub(crate) state: Arc<ConnState>,
    /// It had answered a request before this one was sent on it.
    pub(crate) reused: bool,
    /// It existed before this attempt began: it waited in the pool (a connection another
    /// request had started and no longer needed is as stale-prone as a reused one).
    pub(crate) pooled: bool,
}

/// Where a failed attempt got to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Reached<'a> {
    /// Connecting failed.
    ConnectFailed,
    /// A new connection failed before hyper-util handed it to the request: its HTTP/2
    /// handshake, or the HTTP/1.1 connection closed or answered unasked before it was ready.
    /// A fresh connection's failure: never a reason to send again.
    FreshFailed,
    /// No connection was given to it and connecting did not fail: hyper-util's pool withdrew
    /// the checkout (another connection to the origin came up as HTTP/2 and took over, or the
    /// pool could not hand one over). Nothing was sent.
    NoConnection,
    /// It went out on this connection.
    Connection(&'a Dispatched),
}

/// What is known about the request being judged.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate<'a> {
    pub(crate) method: &'a Method,
    pub(crate) headers: &'a HeaderMap,
    /// Its body can be sent whole again.
    pub(crate) body_replayable: bool,
    /// Re-sends so far that count against `max_resends`.
    pub(crate) counted: u32,
    /// Attempts so far.
    pub(crate) attempts: u32,
    pub(crate) max_resends: u32,
}

/// The outcome of judging a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Send it again; `counted`: against `max_resends`.
    Resend { reason: StaleReason, counted: bool },
    /// The connection was stale and the request is not sent again.
    Stale { reason: StaleReason, why: NotResent },
    /// Any other failure.
    Fail,
}

/// `true` for a method RFC 9110 §9.2.2 calls idempotent, or a request carrying an
/// idempotency key (draft-ietf-httpapi-idempotency-key-header, as Go's `isReplayable`).
pub(crate) fn replayable_method(method: &Method, headers: &HeaderMap) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    ) || headers.contains_key("idempotency-key")
        || headers.contains_key("x-idempotency-key")
}

/// Where an attempt that was given no connection got to, from hyper-util's `error` (`check`
/// in the client leaves hyper-util no reason of the request's own to fail before choosing a
/// connection):
/// - the connector failed: its [`ConnectError`](crate::ConnectError) is in the chain;
/// - a new connection failed before it was handed over (handshake, readiness): hyper's error
///   is in the chain, and it is not a cancellation;
/// - otherwise hyper-util's pool withdrew the checkout (an HTTP/2 connection being made by
///   another request took over, or the checkout closed): nothing was sent.
pub(crate) fn without_connection(error: &hyper_util::client::legacy::Error) -> Reached<'static> {
    let mut fresh_failure = false;
    let mut cause: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(e) = cause {
        if e.is::<crate::ConnectError>() {
            return Reached::ConnectFailed;
        }
        if let Some(e) = e.downcast_ref::<hyper::Error>() {
            fresh_failure |= !e.is_canceled();
        }
        cause = e.source();
    }
    if fresh_failure {
        Reached::FreshFailed
    } else {
        Reached::NoConnection
    }
}

/// Judges the failure `error` of an attempt that got as far as `reached`.
pub(crate) fn judge(
    error: &(dyn StdError + 'static),
    reached: Reached<'_>,
    req: Candidate<'_>,
) -> Verdict {
    let conn = match reached {
        Reached::ConnectFailed | Reached::FreshFailed => return Verdict::Fail,
        // The pool's own race, not a server's answer: free, and capped only by MAX_ATTEMPTS.
        Reached::NoConnection if !req.body_replayable => {
            return Verdict::Stale {
                reason: StaleReason::NotSent,
                why: NotResent::Body,
            }
        }
        Reached::NoConnection if req.attempts >= MAX_ATTEMPTS => {
            return Verdict::Stale {
                reason: StaleReason::NotSent,
                why: NotResent::Attempts(MAX_ATTEMPTS),
            }
        }
        Reached::NoConnection => {
            return Verdict::Resend {
                reason: StaleReason::NotSent,
                counted: false,
            }
        }
        Reached::Connection(conn) => conn,
    };
    let Some(reason) = classify(error, &conn.state) else {
        return Verdict::Fail;
    };
    let fresh = !conn.reused && !conn.pooled;
    // A fresh connection that closed before the request went out, having processed nothing (a
    // server that closes or answers unasked every new connection), is a fresh connection's
    // failure like any other (Go's `shouldRetryRequest` looks at nothing else for a new
    // connection). One that answered others first (an HTTP/2 connection shared by a burst,
    // closing after its GOAWAY), or that got a GOAWAY at all (its streams above the last id
    // go again as refused; those still queued in hyper alike), sent the rest away, as a
    // refusal does: they go again.
    if fresh
        && reason == StaleReason::NotSent
        && !conn.state.made_progress()
        && !conn.state.has(flag::GOAWAY)
    {
        return Verdict::Fail;
    }
    let unprocessed = reason.unprocessed();
    if !unprocessed {
        if fresh {
            return Verdict::Fail;
        }
        // HTTP/1.1: some of the answer had arrived (an HTTP/2 stream fails before its head or
        // not at all here).
        if !conn.state.h2 && conn.state.response_bytes() > 0 {
            return Verdict::Fail;
        }
        if !replayable_method(req.method, req.headers) {
            return Verdict::Stale {
                reason,
                why: NotResent::Method(req.method.clone()),
            };
        }
    }
    if !req.body_replayable {
        return Verdict::Stale {
            reason,
            why: NotResent::Body,
        };
    }
    let counted = !(unprocessed && conn.state.made_progress());
    if counted && req.counted >= req.max_resends {
        return Verdict::Stale {
            reason,
            why: NotResent::Limit(req.max_resends),
        };
    }
    if req.attempts >= MAX_ATTEMPTS {
        return Verdict::Stale {
            reason,
            why: NotResent::Attempts(MAX_ATTEMPTS),
        };
    }
    Verdict::Resend { reason, counted }
}

/// What kind of connection failure `error` is, if it is one.
fn classify(error: &(dyn StdError + 'static), state: &ConnState) -> Option<StaleReason> {
    if state.has(flag::RETIRED) {
        return Some(StaleReason::NotSent);
    }
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(e) = e.downcast_ref::<hyper::Error>() {
            if e.is_canceled() {
                return Some(StaleReason::NotSent);
            }
            if e.is_incomplete_message() {
                return Some(StaleReason::Closed);
            }
        }
        if let Some(e) = e.downcast_ref::<h2::Error>() {
            if e.is_go_away() && e.is_remote() {
                // h2 fails a stream with the GOAWAY itself only when the stream was above the
                // frame's last stream id (the others finish, or see the connection's end).
                return Some(StaleReason::GoAway);
            }
            if e.is_reset() && e.is_remote() && e.reason() == Some(h2::Reason::REFUSED_STREAM) {
                return Some(StaleReason::Refused);
            }
        }
        if SilentDrop::is(e) {
            return Some(StaleReason::SilentDrop);
        }
        if let Some(e) = e.downcast_ref::<io::Error>() {
            use io::ErrorKind as K;
            if matches!(
                e.kind(),
                K::ConnectionReset
                    | K::ConnectionAborted
                    | K::BrokenPipe
                    | K::UnexpectedEof
                    | K::NotConnected
            ) {
                return Some(StaleReason::Closed);
            }
        }
        cause = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn_state::Management;

    fn conn(reused: bool, h2: bool) -> Dispatched {
        let state = Arc::new(ConnState::new(
            h2,
            Management {
                idle_timeout: None,
                silent_drop_bound: None,
            },
        ));
        if reused {
            state.record_answer(None);
        }
        Dispatched {
            state,
            reused,
            pooled: reused,
        }
    }

    fn candidate<'a>(method: &'a Method, headers: &'a HeaderMap) -> Candidate<'a> {
        Candidate {
            method,
            headers,
            body_replayable: true,
            counted: 0,
            attempts: 1,
            max_resends: 1,
        }
    }

    fn reset() -> io::Error {
        io::Error::from(io::ErrorKind::ConnectionReset)
    }

    /// The verdict on a connection reset of `req` sent on `conn`.
    fn on(conn: &Dispatched, req: Candidate<'_>) -> Verdict {
        judge(&reset(), Reached::Connection(conn), req)
    }

    #[test]
    fn idempotent_methods_and_keys_are_replayable() {
        let none = HeaderMap::new();
        for m in [
            Method::GET,
            Method::HEAD,
            Method::OPTIONS,
            Method::TRACE,
            Method::PUT,
            Method::DELETE,
        ] {
            assert!(replayable_method(&m, &none), "{m}");
        }
        for m in [Method::POST, Method::PATCH, Method::CONNECT] {
            assert!(!replayable_method(&m, &none), "{m}");
        }
        for key in ["Idempotency-Key", "x-idempotency-key"] {
            let mut h = HeaderMap::new();
            h.insert(key, "k1".parse().unwrap());
            assert!(replayable_method(&Method::POST, &h), "{key}");
        }
    }

    #[test]
    fn a_reused_connection_reset_before_the_answer_resends_a_get_but_not_a_post() {
        let h = HeaderMap::new();
        let c = conn(true, false);
        assert_eq!(
            on(&c, candidate(&Method::GET, &h)),
            Verdict::Resend {
                reason: StaleReason::Closed,
                counted: true
            }
        );
        assert_eq!(
            on(&c, candidate(&Method::POST, &h)),
            Verdict::Stale {
                reason: StaleReason::Closed,
                why: NotResent::Method(Method::POST)
            }
        );
    }

    #[test]
    fn a_fresh_connections_failure_is_never_resent() {
        let h = HeaderMap::new();
        assert_eq!(
            on(&conn(false, false), candidate(&Method::GET, &h)),
            Verdict::Fail
        );
        assert_eq!(
            judge(
                &reset(),
                Reached::ConnectFailed,
                candidate(&Method::GET, &h)
            ),
            Verdict::Fail
        );
    }

    #[test]
    fn a_connection_that_waited_in_the_pool_unused_counts_as_reused() {
        let h = HeaderMap::new();
        let mut c = conn(false, false);
        c.pooled = true;
        assert_eq!(
            on(&c, candidate(&Method::GET, &h)),
            Verdict::Resend {
                reason: StaleReason::Closed,
                counted: true
            }
        );
    }

    #[test]
    fn response_bytes_mean_no_resend_over_http1() {
        let h = HeaderMap::new();
        let c = conn(true, false);
        c.state.add_response_bytes(12);
        assert_eq!(on(&c, candidate(&Method::GET, &h)), Verdict::Fail);
    }

    #[test]
    fn the_limit_and_the_body_are_named() {
        let h = HeaderMap::new();
        let c = conn(true, false);
        let mut req = candidate(&Method::GET, &h);
        req.counted = 1;
        assert_eq!(
            on(&c, req),
            Verdict::Stale {
                reason: StaleReason::Closed,
                why: NotResent::Limit(1)
            }
        );
        let mut req = candidate(&Method::PUT, &h);
        req.body_replayable = false;
        assert_eq!(
            on(&c, req),
            Verdict::Stale {
                reason: StaleReason::Closed,
                why: NotResent::Body
            }
        );
    }

    #[test]
    fn a_fresh_connection_that_closed_before_the_request_went_out_is_a_plain_failure() {
        // "Not sent" (here through the flag; for real, hyper's cancellation: see
        // `it::resend_edges`) on a connection that neither answered nor waited in the pool.
        let h = HeaderMap::new();
        let c = conn(false, false);
        c.state.raise(flag::RETIRED);
        for method in [Method::GET, Method::POST] {
            assert_eq!(on(&c, candidate(&method, &h)), Verdict::Fail, "{method}");
        }
        // New to this request, but it answered others meanwhile (an HTTP/2 connection a burst
        // shares, closing after its GOAWAY): the rest were sent away, and go again.
        c.state.record_answer(None);
        assert_eq!(
            on(&c, candidate(&Method::POST, &h)),
            Verdict::Resend {
                reason: StaleReason::NotSent,
                counted: false
            }
        );
    }

    #[test]
    fn a_new_connections_goaway_sends_its_unsent_requests_elsewhere() {
        // GOAWAY naming no stream as processed, then requests still queued fail unsent: the
        // server sent them away, as it did those with streams above the last id.
        let h = HeaderMap::new();
        let c = conn(false, true);
        c.state.record_goaway(0);
        c.state.raise(flag::RETIRED);
        assert_eq!(
            on(&c, candidate(&Method::POST, &h)),
            Verdict::Resend {
                reason: StaleReason::NotSent,
                counted: true
            }
        );
    }

    #[test]
    fn a_retired_connection_never_sent_the_request_so_any_method_goes_again() {
        let h = HeaderMap::new();
        // Unused, but it waited in the pool: only such a connection retires.
        let mut c = conn(false, false);
        c.pooled = true;
        c.state.raise(flag::RETIRED);
        assert_eq!(
            on(&c, candidate(&Method::POST, &h)),
            Verdict::Resend {
                reason: StaleReason::NotSent,
                counted: true
            }
        );
        // On a connection that answered others, it does not count against the limit.
        let c = conn(true, false);
        c.state.raise(flag::RETIRED);
        let mut req = candidate(&Method::POST, &h);
        req.counted = 1;
        assert_eq!(
            on(&c, req),
            Verdict::Resend {
                reason: StaleReason::NotSent,
                counted: false
            }
        );
        req.attempts = MAX_ATTEMPTS;
        assert!(matches!(on(&c, req), Verdict::Stale { .. }));
    }

    #[test]
    fn a_goaway_naming_processed_streams_is_progress() {
        let h = HeaderMap::new();
        let c = conn(false, true);
        let mut req = candidate(&Method::POST, &h);
        req.counted = 1;
        // No answer and no GOAWAY yet: a refusal counts against the limit.
        assert!(!c.state.made_progress());
        c.state.record_goaway(0);
        assert!(
            !c.state.made_progress(),
            "GOAWAY with last stream 0 processed nothing"
        );
        c.state.record_goaway(9);
        assert!(c.state.made_progress());
        let err = h2::Error::from(h2::Reason::REFUSED_STREAM);
        // `From<Reason>` makes a local reset; a remote one needs a real server (tests/it/pool.rs).
        assert_eq!(judge(&err, Reached::Connection(&c), req), Verdict::Fail);
    }

    #[test]
    fn a_checkout_the_pool_withdrew_goes_again_uncounted() {
        let h = HeaderMap::new();
        let mut req = candidate(&Method::POST, &h);
        req.counted = 1;
        assert_eq!(
            judge(&reset(), Reached::NoConnection, req),
            Verdict::Resend {
                reason: StaleReason::NotSent,
                counted: false
            }
        );
        req.attempts = MAX_ATTEMPTS;
        assert_eq!(
            judge(&reset(), Reached::NoConnection, req),
            Verdict::Stale {
                reason: StaleReason::NotSent,
                why: NotResent::Attempts(MAX_ATTEMPTS)
            }
        );
    }

    #[test]
    fn a_silent_drop_is_named() {
        let h = HeaderMap::new();
        let err = io::Error::new(
            io::ErrorKind::TimedOut,
            SilentDrop {
                bound: std::time::Duration::from_secs(1),
            },
        );
        assert_eq!(
            judge(
                &err,
                Reached::Connection(&conn(true, true)),
                candidate(&Method::GET, &h)
            ),
            Verdict::Resend {
                reason: StaleReason::SilentDrop,
                counted: true
            }
        );
        // An ordinary timeout is not a connection failure to re-send on.
        let plain = io::Error::from(io::ErrorKind::TimedOut);
        assert_eq!(
            judge(
                &plain,
                Reached::Connection(&conn(true, true)),
                candidate(&Method::GET, &h)
            ),
            Verdict::Fail
        );
    }
}
