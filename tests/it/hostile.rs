//! Hostile and broken servers: every fault the fault-injecting test server knows ends in a typed
//! [`ConnectError`] with the right phase, at every keepalive stage, with no panic and no hang
//! past the configured timeout. Once the handshake has succeeded, a failure belongs to hyper,
//! not to the connector: the "close right after the handshake" case checks that.

use std::io;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use keepalive_connector::{io_error_kind, Builder, ConnectError, Phase, Stage};
use keepalive_testserver::{Behavior, LeafKind, ServerBuilder, TestServer};
use rustls::{AlertDescription, CertificateError, PeerMisbehaved};
use tokio::task::JoinSet;

use crate::support::builder_for;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(1);
/// Allowed on top of the configured timeouts before a case counts as hung. Generous on purpose:
/// these cases run concurrently with the rest of the test binary on a small shared machine; a
/// real hang never ends.
const SLACK: Duration = Duration::from_secs(3);

/// What a case must end in.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// The peer resetting or closing the connection: `Phase::Tls`, or `Phase::Connect` with
    /// `ConnectionReset` when the RST lands before tokio's connect has checked the socket (see
    /// `check_connect_error`).
    Reset,
    /// `Phase::Tls` because the handshake timeout fired.
    Timeout,
    /// `Phase::Tls` with this rustls error.
    Rustls(fn(&rustls::Error) -> bool, &'static str),
    /// `Phase::Tls` with the connector's own ALPN refusal (`http2_only`).
    AlpnRefused,
    /// The handshake succeeds; the first request then fails inside hyper.
    HttpFails,
}

struct Case {
    name: &'static str,
    server: fn() -> ServerBuilder,
    client: fn(Builder) -> Builder,
    expect: Expect,
}

fn same(b: Builder) -> Builder {
    b
}

fn cases() -> Vec<Case> {
    fn behave(b: Behavior) -> ServerBuilder {
        TestServer::builder().behavior(b)
    }
    vec![
        Case {
            name: "reset right after accept",
            server: || behave(Behavior::ResetOnAccept),
            client: same,
            expect: Expect::Reset,
        },
        Case {
            name: "reset after reading the ClientHello",
            server: || behave(Behavior::ResetAfterClientHello),
            client: same,
            expect: Expect::Reset,
        },
        Case {
            name: "reset mid-handshake (half the server's first flight, then RST)",
            server: || behave(Behavior::ResetMidHandshake),
            client: same,
            expect: Expect::Reset,
        },
        Case {
            name: "stall before ServerHello",
            server: || behave(Behavior::StallAfterClientHello),
            client: same,
            expect: Expect::Timeout,
        },
        Case {
            name: "garbage bytes instead of TLS",
            server: || behave(Behavior::Garbage),
            client: same,
            expect: Expect::Rustls(
                |e| matches!(e, rustls::Error::InvalidMessage(_)),
                "InvalidMessage",
            ),
        },
        Case {
            name: "HTTP/1.1 server on the TLS port",
            server: || behave(Behavior::PlainHttp),
            client: same,
            expect: Expect::Rustls(
                |e| matches!(e, rustls::Error::InvalidMessage(_)),
                "InvalidMessage",
            ),
        },
        Case {
            name: "expired certificate",
            server: || TestServer::builder().leaf(LeafKind::Expired),
            client: same,
            expect: Expect::Rustls(
                |e| {
                    matches!(
                        e,
                        rustls::Error::InvalidCertificate(
                            CertificateError::Expired | CertificateError::ExpiredContext { .. }
                        )
                    )
                },
                "InvalidCertificate(Expired)",
            ),
        },
        Case {
            name: "certificate for another host",
            server: || TestServer::builder().leaf(LeafKind::OtherName),
            client: same,
            expect: Expect::Rustls(
                |e| {
                    matches!(
                        e,
                        rustls::Error::InvalidCertificate(
                            CertificateError::NotValidForName
                                | CertificateError::NotValidForNameContext { .. }
                        )
                    )
                },
                "InvalidCertificate(NotValidForName)",
            ),
        },
        Case {
            name: "chain the trust store does not hold",
            server: || TestServer::builder().leaf(LeafKind::Untrusted),
            client: same,
            expect: Expect::Rustls(
                |e| {
                    matches!(
                        e,
                        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
                    )
                },
                "InvalidCertificate(UnknownIssuer)",
            ),
        },
        Case {
            name: "ALPN: server insists on a protocol we did not offer",
            server: || behave(Behavior::SelectUnofferedAlpn),
            client: same,
            expect: Expect::Rustls(
                |e| {
                    matches!(
                        e,
                        rustls::Error::PeerMisbehaved(
                            PeerMisbehaved::SelectedUnofferedApplicationProtocol
                        )
                    )
                },
                "PeerMisbehaved(SelectedUnofferedApplicationProtocol)",
            ),
        },
        Case {
            name: "ALPN: server accepts none of our protocols",
            server: || TestServer::builder().alpn(&[b"h3"]),
            client: same,
            expect: Expect::Rustls(
                |e| {
                    matches!(
                        e,
                        rustls::Error::AlertReceived(AlertDescription::NoApplicationProtocol)
                    )
                },
                "AlertReceived(NoApplicationProtocol)",
            ),
        },
        Case {
            name: "ALPN: http2_only client, server picks no protocol",
            server: || TestServer::builder().alpn(&[]),
            client: Builder::http2_only,
            expect: Expect::AlpnRefused,
        },
        Case {
            name: "close right after the handshake, before any response (h2)",
            server: || behave(Behavior::CloseAfterHandshake),
            client: same,
            expect: Expect::HttpFails,
        },
        Case {
            name: "close right after the handshake, before any response (http/1.1)",
            server: || behave(Behavior::CloseAfterHandshake),
            client: Builder::http1_only,
            expect: Expect::HttpFails,
        },
        Case {
            // Linux applies the after-handshake options to a reset socket without complaint,
            // so the failure comes with the request. (macOS refuses them; the connector then
            // reports the reset as Phase::Tls: see platform.rs.)
            name: "reset right after the handshake, before any response",
            server: || behave(Behavior::ResetAfterHandshake),
            client: same,
            expect: Expect::HttpFails,
        },
        Case {
            name: "accepts, then never reads",
            server: || behave(Behavior::NeverRead),
            client: same,
            expect: Expect::Timeout,
        },
    ]
}

fn is_reset(kind: Option<io::ErrorKind>) -> bool {
    matches!(
        kind,
        Some(
            io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::UnexpectedEof
        )
    ) || wine_reset_during_connect(kind)
}

/// Wine 8 does not hand the RST to `SO_ERROR` (Windows does): a reset that beats the connect
/// leaves only a socket that is not connected, which the dial reports as `NotConnected`.
fn wine_reset_during_connect(kind: Option<io::ErrorKind>) -> bool {
    crate::support::wine() && kind == Some(io::ErrorKind::NotConnected)
}

/// Checks a connect failure against `expect`; returns a line describing it, or why it is wrong.
fn check_connect_error(
    expect: Expect,
    err: &ConnectError,
    server: &TestServer,
    elapsed: Duration,
) -> Result<String, String> {
    let fail = |why: &str| Err(format!("{why}: {err} ({err:?})"));
    // A reset right after accept races tokio's connect: the kernel completes the TCP handshake
    // before the server even accepts, the server's RST may then arrive before tokio has polled
    // the socket for writability and read SO_ERROR, and tokio's `connect` returns ECONNRESET.
    // The TCP connect did succeed, so either phase is an honest answer; both name the reset.
    let reset_during_connect = matches!(expect, Expect::Reset)
        && err.phase() == Phase::Connect
        && (io_error_kind(err) == Some(io::ErrorKind::ConnectionReset)
            || wine_reset_during_connect(io_error_kind(err)));
    if err.phase() != Phase::Tls && !reset_during_connect {
        return fail("wrong phase");
    }
    if err.addr() != Some(server.addr()) {
        return fail("wrong or missing address");
    }
    match expect {
        Expect::Reset if !is_reset(io_error_kind(err)) || err.is_timeout() => {
            return fail("expected a reset/close of the connection")
        }
        Expect::Timeout if !err.is_timeout() => return fail("expected the handshake timeout"),
        Expect::Timeout if elapsed + Duration::from_millis(50) < HANDSHAKE_TIMEOUT => {
            return fail("the handshake timeout fired early")
        }
        Expect::Rustls(pred, what) => match err.tls_error() {
            Some(e) if pred(e) => {}
            _ => return fail(&format!("expected rustls {what}")),
        },
        Expect::AlpnRefused
            if err.tls_error().is_some() || !err.to_string().contains("http2_only") =>
        {
            return fail("expected the connector's http2_only ALPN refusal")
        }
        Expect::HttpFails => return fail("the handshake was expected to succeed"),
        _ => {}
    }
    if !matches!(expect, Expect::Timeout) && err.is_timeout() {
        return fail("unexpected timeout flag");
    }
    if wine_reset_during_connect(io_error_kind(err)) {
        println!(
            "SKIPPED: the reset's io::ErrorKind under Wine (Wine 8 does not report the RST \
             through SO_ERROR, Windows does): {err}"
        );
    }
    Ok(format!("{err}"))
}

/// One case at one stage: connect (or, for `HttpFails`, send a request through hyper-util's
/// `Client`) under an outer deadline that is the configured timeouts plus slack.
async fn run_case(case: &Case, stage: Stage, server: &TestServer) -> Result<String, String> {
    let builder = (case.client)(builder_for(server))
        .keepalive_at(stage)
        .connect_timeout(CONNECT_TIMEOUT)
        .handshake_timeout(HANDSHAKE_TIMEOUT);
    let connector = builder.build().map_err(|e| e.to_string())?;
    let uri: http::Uri = server.url("/").parse().unwrap();
    let limit = CONNECT_TIMEOUT + HANDSHAKE_TIMEOUT + SLACK;
    let start = Instant::now();
    if let Expect::HttpFails = case.expect {
        // The connector's part succeeds: the handshake completed before the server closed.
        let conn = tokio::time::timeout(limit, connector.connect(&uri))
            .await
            .map_err(|_| "connect hung".to_owned())?
            .map_err(|e| format!("connect failed, expected success: {e}"))?;
        drop(conn);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build::<_, Empty<Bytes>>(connector);
        let err = match tokio::time::timeout(limit, client.get(uri)).await {
            Err(_) => return Err(format!("request hung for {limit:?}")),
            Ok(Ok(resp)) => return Err(format!("got a response: {}", resp.status())),
            Ok(Err(err)) => err,
        };
        if err.is_connect() {
            return Err(format!("expected a failure after connect, got: {err:?}"));
        }
        // The cause is hyper's own typed error (closed before a complete message, or the
        // HTTP/2 connection failing), never a panic or a hang.
        let hyper_err = find_source::<hyper::Error>(&err)
            .ok_or_else(|| format!("no hyper::Error in the chain: {err:?}"))?;
        return Ok(format!("hyper: {hyper_err}"));
    }
    let result = tokio::time::timeout(limit, connector.connect(&uri)).await;
    let elapsed = start.elapsed();
    let err = match result {
        Err(_) => return Err(format!("connect hung for {limit:?}")),
        Ok(Ok(_)) => return Err("connect succeeded against a hostile server".to_owned()),
        Ok(Err(err)) => err,
    };
    let budget = CONNECT_TIMEOUT + HANDSHAKE_TIMEOUT + SLACK;
    if elapsed > budget {
        return Err(format!("took {elapsed:?}, more than {budget:?}: {err}"));
    }
    check_connect_error(case.expect, &err, server, elapsed)
        .map(|line| format!("{line} [{} ms]", elapsed.as_millis()))
}

fn find_source<'a, E: std::error::Error + 'static>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a E> {
    let mut cause = Some(err);
    while let Some(e) = cause {
        if let Some(found) = e.downcast_ref::<E>() {
            return Some(found);
        }
        cause = e.source();
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_server_gives_a_typed_error_at_every_stage() {
    let mut set = JoinSet::new();
    for (index, case) in cases().into_iter().enumerate() {
        set.spawn(async move {
            let server = (case.server)().start().await.unwrap();
            let mut lines = Vec::new();
            for &stage in Stage::ALL {
                lines.push((stage, run_case(&case, stage, &server).await));
            }
            (index, case.name, lines)
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = set.join_next().await {
        // A panic inside the connector would surface here as a JoinError.
        results.push(joined.expect("a case panicked"));
    }
    results.sort_by_key(|(index, ..)| *index);
    let mut failures = Vec::new();
    for (_, name, lines) in &results {
        for (stage, line) in lines {
            match line {
                Ok(line) => println!("ok   {name} @ {stage}: {line}"),
                Err(why) => {
                    println!("FAIL {name} @ {stage}: {why}");
                    failures.push(format!("{name} @ {stage}: {why}"));
                }
            }
        }
    }
    assert_eq!(results.len(), cases().len());
    assert!(failures.is_empty(), "{failures:#?}");
}
