//! Liveness from one configuration: `connector.client()` sends HTTP/2 PINGs on the keepalive
//! schedule while a stream is open (and only then), a server's `GOAWAY ENHANCE_YOUR_CALM` does
//! not make it loop, and `TCP_USER_TIMEOUT` follows keepalive by default. The dead-origin
//! behind a proxy test is in `liveness_netns` (network namespaces).

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use keepalive_connector::{Availability, Connector, Keepalive, Trust};
use keepalive_testserver::{H2WatchServer, OnPing, TestCa};

fn fast_keepalive() -> Keepalive {
    let keepalive = Keepalive::new()
        .idle(Duration::from_secs(1))
        .interval(Duration::from_secs(1));
    // A chosen count fails where the OS may refuse TCP_KEEPCNT (Windows before 10 1703, Wine:
    // see platform.rs); PINGs ride on the idle time alone.
    if Keepalive::platform_support().retries().set() == Availability::Yes {
        keepalive.retries(2)
    } else {
        keepalive
    }
}

fn connector_for(ca: &TestCa, keepalive: Keepalive) -> Connector {
    Connector::builder()
        .trust(Trust::AddedRootsOnly)
        .add_root_certificates_pem(ca.cert_pem().as_bytes())
        .keepalive(keepalive)
        .build()
        .unwrap()
}

/// `connector.client()`: a PING about every `idle` while a quiet stream is open, none while no
/// stream is; a plain hyper-util `Client` over the same connector sends none.
#[tokio::test]
async fn the_ready_client_pings_on_the_keepalive_schedule_only_while_streams_are_open() {
    let ca = TestCa::new();
    let server = H2WatchServer::start(&ca, OnPing::Answer).await.unwrap();
    let url: http::Uri = format!("https://127.0.0.1:{}/stream", server.addr().port())
        .parse()
        .unwrap();
    let connector = connector_for(&ca, fast_keepalive());

    let client = connector.client();
    let resp = client.get(url.clone()).await.unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert_eq!(
        first.data_ref().map(|d| &d[..]),
        Some(&b"first chunk\n"[..])
    );
    let quiet_since = Instant::now();
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    let pings: Vec<Duration> = server
        .pings()
        .iter()
        .map(|t| t.saturating_duration_since(quiet_since))
        .collect();
    println!("PINGs while the stream was quiet, after: {pings:?}");
    // About one a second (PINGs ride on the keepalive idle): at 1 s, 2 s, 3 s.
    assert!((2..=4).contains(&pings.len()), "{pings:?}");
    assert!(pings[0] >= Duration::from_millis(800), "{pings:?}");
    drop(body);

    // No stream open: no PINGs (servers punish idle PINGs).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = server.pings().len();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(
        server.pings().len(),
        before,
        "no PINGs without an open stream"
    );

    // hyper-util's plain Client over the same connector: no PINGs at all.
    let plain = Client::builder(TokioExecutor::new()).build::<_, Empty<Bytes>>(connector);
    let resp = plain.get(url).await.unwrap();
    let mut body = resp.into_body();
    body.frame().await.unwrap().unwrap();
    let before = server.pings().len();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(server.pings().len(), before, "a plain Client sends no PING");
}

/// With keepalive off, the ready client sends no PINGs either.
#[tokio::test]
async fn keepalive_off_means_no_pings() {
    let ca = TestCa::new();
    let server = H2WatchServer::start(&ca, OnPing::Answer).await.unwrap();
    let url: http::Uri = format!("https://127.0.0.1:{}/stream", server.addr().port())
        .parse()
        .unwrap();
    let client = connector_for(&ca, Keepalive::off()).client();
    let mut body = client.get(url).await.unwrap().into_body();
    body.frame().await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert!(server.pings().is_empty(), "{:?}", server.pings());
}

/// A server that answers the first PING with `GOAWAY ENHANCE_YOUR_CALM` (gRPC's
/// `too_many_pings`) and closes: the request in flight fails, the next request gets a new
/// connection, and nothing loops (one new connection, no more PINGs once idle).
#[tokio::test]
async fn goaway_enhance_your_calm_does_not_loop() {
    let ca = TestCa::new();
    let server = H2WatchServer::start(&ca, OnPing::GoAway).await.unwrap();
    let base = format!("https://127.0.0.1:{}", server.addr().port());
    let client = connector_for(&ca, fast_keepalive()).client();

    let resp = client
        .get(format!("{base}/stream").parse().unwrap())
        .await
        .unwrap();
    let mut body = resp.into_body();
    body.frame().await.unwrap().unwrap();
    let started = Instant::now();
    let err = match tokio::time::timeout(Duration::from_secs(10), body.frame()).await {
        Ok(Some(Err(e))) => e,
        other => panic!("the quiet stream should fail on GOAWAY: {other:?}"),
    };
    // The GOAWAY keeps streams up to its last stream id alive, but the server then closes:
    // h2 reports the open stream as closed by a broken pipe (the connection itself ends with
    // the GOAWAY's reason).
    let h2 = crate::support::find_cause::<h2::Error>(&err)
        .unwrap_or_else(|| panic!("an h2 error: {err:?}"));
    assert!(
        h2.reason() == Some(h2::Reason::ENHANCE_YOUR_CALM)
            || h2.get_io().map(std::io::Error::kind) == Some(std::io::ErrorKind::BrokenPipe),
        "{err:?}"
    );
    println!(
        "GOAWAY ENHANCE_YOUR_CALM ended the stream {} ms after it went quiet",
        started.elapsed().as_millis()
    );

    // The pool drops the connection; the next request opens a new one and succeeds.
    let resp = client
        .get(format!("{base}/").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.into_body().collect().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(
        server.connections(),
        2,
        "one new connection, no reconnect loop"
    );
    assert_eq!(server.requests(), 2);
    assert_eq!(server.pings().len(), 1, "idle afterwards: no more PINGs");
}

/// `TCP_USER_TIMEOUT` follows keepalive unless set: keepalive's budget when on, unset when
/// off, an explicit value (or `None`) wins. Read back from the kernel.
// TCP_USER_TIMEOUT exists on Linux, Android and Fuchsia only (the builder method too).
#[cfg(tcp_user_timeout)]
#[tokio::test]
async fn tcp_user_timeout_defaults_to_the_keepalive_budget() {
    let server = keepalive_testserver::TestServer::start().await.unwrap();
    let read_back = |builder: keepalive_connector::Builder| {
        let connector = builder.build().unwrap();
        let server = &server;
        async move {
            crate::support::connect(&connector, server)
                .await
                .unwrap()
                .info()
                .tcp_user_timeout()
        }
    };
    let b = || crate::support::builder_for(&server);
    assert_eq!(
        read_back(b()).await,
        Some(Duration::from_secs(60)),
        "30 + 10 × 3"
    );
    assert_eq!(
        read_back(b().keepalive(fast_keepalive())).await,
        Some(Duration::from_secs(3))
    );
    assert_eq!(read_back(b().keepalive(Keepalive::off())).await, None);
    assert_eq!(
        read_back(b().tcp_user_timeout(Duration::from_millis(4_500))).await,
        Some(Duration::from_millis(4_500))
    );
    assert_eq!(read_back(b().tcp_user_timeout(None)).await, None);
    assert_eq!(
        read_back(
            b().keepalive(Keepalive::off())
                .tcp_user_timeout(Duration::from_secs(7))
        )
        .await,
        Some(Duration::from_secs(7))
    );
    assert_eq!(Keepalive::new().detection_time(), Duration::from_secs(60));
    assert_eq!(Keepalive::new().probe_time(), Duration::from_secs(30));
}

/// A server that enforces a minimum PING interval as grpc-go's does (1.5 s here; 5 minutes by
/// default) closes the first connection with `GOAWAY ENHANCE_YOUR_CALM "too_many_pings"` on the
/// third strike; `connector.client()` then pings that origin half as often (2 s), so its next
/// connection lives.
#[tokio::test]
async fn after_too_many_pings_the_origin_is_pinged_half_as_often() {
    let ca = TestCa::new();
    let server = H2WatchServer::start(&ca, OnPing::MinInterval(Duration::from_millis(1_500)))
        .await
        .unwrap();
    let url: http::Uri = format!("https://127.0.0.1:{}/stream", server.addr().port())
        .parse()
        .unwrap();
    let client = connector_for(&ca, fast_keepalive()).client();

    let mut body = client.get(url.clone()).await.unwrap().into_body();
    body.frame().await.unwrap().unwrap();
    let err = match tokio::time::timeout(Duration::from_secs(10), body.frame()).await {
        Ok(Some(Err(e))) => e,
        other => panic!("the first connection should be closed for its PINGs: {other:?}"),
    };
    assert!(err.is_body(), "{err}");
    assert_eq!(server.goaways(), 1);
    drop(body);

    let mut body = client.get(url).await.unwrap().into_body();
    body.frame().await.unwrap().unwrap();
    let quiet = tokio::time::timeout(Duration::from_millis(6_500), body.frame()).await;
    assert!(
        quiet.is_err(),
        "the second connection's stream stays open: {quiet:?}"
    );
    assert_eq!(server.goaways(), 1, "no second GOAWAY");
    let second: Vec<Instant> = server
        .pings_by_connection()
        .into_iter()
        .filter(|(conn, _)| *conn == 1)
        .map(|(_, at)| at)
        .collect();
    assert!(second.len() >= 2, "PINGs kept going: {second:?}");
    for gap in second.windows(2).map(|w| w[1] - w[0]) {
        assert!(
            gap >= Duration::from_millis(1_800),
            "every 2 s on the second connection, not every 1 s: {gap:?}"
        );
    }
}
