//! A dead origin behind a proxy, on real kernels: the client and a real CONNECT proxy
//! (tinyproxy) run in one network namespace, an HTTP/2 origin in another. A response stream goes
//! quiet, then the origin's link goes down: the proxy's own connection to the origin hangs,
//! while the client's socket to the proxy (on the client namespace's loopback) stays healthy,
//! so TCP keepalive — which watches only that hop — sees nothing wrong. Then:
//!
//! - with `connector.client()` (HTTP/2 PINGs on the keepalive schedule, 1 s / 1 s × 2), the
//!   pending body read fails within idle + interval × retries + 1.5 s, whether the client is
//!   kept or dropped as soon as the response head is in (the body keeps the PINGs going);
//! - with a plain `Client::builder(TokioExecutor::new())` over the same connector, it is still
//!   pending at that deadline;
//! - over HTTP/1.1 (no PING), `connector.client()` is still pending too, unless it has a
//!   `read_timeout` (2 s here, counted from the first chunk), which fails the read in time.
//!
//! Needs root (for `ip netns`) and tinyproxy: a loud `SKIPPED:` line without them, a failure
//! under `CI=true`. Processes enter the namespaces as in `dead_peer` (`ip netns exec` on this
//! very test binary, with a role).
#![cfg(target_os = "linux")]

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use keepalive_connector::{Connector, Keepalive, Proxy, StaticResolver, Trust};
use keepalive_testserver::external::{require, Tinyproxy};

use crate::support::child;
use crate::support::link_down;

const IDLE: Duration = Duration::from_secs(1);
const INTERVAL: Duration = Duration::from_secs(1);
const RETRIES: u32 = 2;
/// The bound: idle + interval × retries + 1.5 s.
const DETECT_WITHIN: Duration = Duration::from_millis(4_500);
/// How long the stream stays quiet before the link goes down (see `dead_peer::QUIET`).
const QUIET: Duration = Duration::from_millis(300);
/// The HTTP/1.1 read timeout: the first chunk arrived `QUIET` before the link went down.
const READ_TIMEOUT: Duration = Duration::from_secs(2);

const TEST: &str = "liveness_netns::http2_pings_detect_a_dead_origin_behind_a_proxy";

#[test]
fn http2_pings_detect_a_dead_origin_behind_a_proxy() {
    child::play(
        module_path!(),
        "http2_pings_detect_a_dead_origin_behind_a_proxy",
        link_down::server,
        client_role,
        orchestrate,
    );
}

fn orchestrate(test: &str) {
    if let Err(why) = which("tinyproxy") {
        return child::skip(test, &why);
    }
    let Some(rows) = link_down::parent(test) else {
        return;
    };
    println!("dead origin behind tinyproxy, link down at t=0:");
    for row in &rows {
        println!("  {}", row.line);
    }
    assert_eq!(rows.len(), 5, "{rows:#?}");
    let failed: Vec<_> = rows.iter().filter(|r| !r.ok).map(|r| &r.label).collect();
    assert!(failed.is_empty(), "failed: {failed:?}\n{rows:#?}");
}

/// Whether `program` runs here (`program -v` exits at all).
fn which(program: &str) -> Result<(), String> {
    std::process::Command::new(program)
        .arg("-v")
        .output()
        .map(|_| ())
        .map_err(|e| format!("{program} is not installed ({e})"))
}

/// A `GET /stream` whose first chunk arrived, and a task waiting for the next frame.
struct Pending {
    label: &'static str,
    read: tokio::task::JoinHandle<(Instant, Result<String, String>)>,
    /// What must live as long as the read (a client), if anything.
    _keep: Option<Box<dyn std::any::Any + Send>>,
}

async fn open<B, E>(
    label: &'static str,
    resp: Result<http::Response<B>, E>,
    keep: Option<Box<dyn std::any::Any + Send>>,
    want: http::Version,
) -> Pending
where
    B: hyper::body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: std::error::Error,
    E: std::fmt::Debug,
{
    let resp = resp.unwrap_or_else(|e| panic!("{label}: GET /stream: {e:?}"));
    assert_eq!(resp.version(), want, "{label}");
    let info = resp
        .extensions()
        .get::<keepalive_connector::ConnectInfo>()
        .cloned()
        .expect("ConnectInfo");
    assert!(info.proxy().is_some(), "{label}: through the proxy");
    let mut body = resp.into_body();
    let first = body
        .frame()
        .await
        .expect("a first frame")
        .unwrap_or_else(|e| panic!("{label}: {e}"));
    assert_eq!(
        first.data_ref().map(bytes::Buf::chunk),
        Some(&b"first chunk\n"[..])
    );
    let read = tokio::spawn(async move {
        let outcome = match body.frame().await {
            // When the PING times out hyper closes the connection; the open stream reports
            // "stream closed because of a broken pipe" (the timing says it was the PING).
            Some(Err(e)) => Ok(match std::error::Error::source(&e) {
                Some(cause) => format!("{e}: {cause}"),
                None => e.to_string(),
            }),
            Some(Ok(_)) => Err("unexpected data".to_owned()),
            None => Err("clean end of stream".to_owned()),
        };
        (Instant::now(), outcome)
    });
    Pending {
        label,
        read,
        _keep: keep,
    }
}

fn client_role() {
    let (addr, ca) = link_down::target();
    // The proxy runs in this (the client's) namespace, on its loopback.
    let Some(proxy) = require(Tinyproxy::start(None), TEST) else {
        child::say("error no tinyproxy");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rows = rt.block_on(async {
        let down_rx = link_down::down();
        let builder = || {
            Connector::builder()
                .trust(Trust::AddedRootsOnly)
                .add_root_certificates_pem(ca.as_bytes())
                .dns_resolver(
                    StaticResolver::new()
                        .add("localhost", addr.port(), [addr.ip()])
                        .no_fallback(),
                )
                .keepalive(Keepalive::new().idle(IDLE).interval(INTERVAL).retries(RETRIES))
                .proxy(Proxy::all(&proxy.url()))
        };
        // tinyproxy resolves `localhost` itself; the origin's certificate names `localhost`
        // and its IP, so ask for the IP.
        let url: http::Uri = format!("https://{addr}/stream").parse().unwrap();
        let h2 = builder().build().unwrap();
        let h1 = builder().http1_only().build().unwrap();
        let h1_timeout = builder().http1_only().read_timeout(READ_TIMEOUT).build().unwrap();
        let ours = h2.client();
        let ready_h2 = open(
            "h2/connector.client()",
            ours.get(url.clone()).await,
            Some(Box::new(ours)),
            http::Version::HTTP_2,
        )
        .await;
        // The client dropped as soon as the head is in (a helper that returns the response):
        // the body alone must keep the PINGs going.
        let dropped_h2 = open(
            "h2/connector.client()-dropped-after-the-head",
            h2.client().get(url.clone()).await,
            None,
            http::Version::HTTP_2,
        )
        .await;
        let plain: Client<Connector, Empty<Bytes>> =
            Client::builder(TokioExecutor::new()).build(h2.clone());
        let plain_h2 = open(
            "h2/plain-Client",
            plain.get(url.clone()).await,
            Some(Box::new(plain)),
            http::Version::HTTP_2,
        )
        .await;
        let ours_h1 = h1.client();
        let ready_h1 = open(
            "http/1.1/connector.client()",
            ours_h1.get(url.clone()).await,
            Some(Box::new(ours_h1)),
            http::Version::HTTP_11,
        )
        .await;
        let timed_h1 = open(
            "http/1.1/connector.client()+read_timeout",
            h1_timeout.client().get(url.clone()).await,
            None,
            http::Version::HTTP_11,
        )
        .await;
        tokio::time::sleep(QUIET).await;
        child::say("ready 5 quiet streams through tinyproxy");
        let down = link_down::link_down(down_rx).await;
        let deadline = down + DETECT_WITHIN;
        let mut rows = Vec::new();
        // Ours must fail within the bound: by PING over HTTP/2 (with the client kept or not),
        // by the read timeout over HTTP/1.1.
        let cap = deadline + Duration::from_secs(5);
        for pending in [ready_h2, dropped_h2, timed_h1] {
            let verdict = match tokio::time::timeout_at(cap.into(), pending.read).await {
                Err(_) => Err(format!(
                    "still pending {} ms after the link went down",
                    (cap - down).as_millis()
                )),
                Ok(joined) => {
                    let (at, outcome) = joined.expect("no panic");
                    let ms = at.saturating_duration_since(down).as_millis();
                    match outcome {
                        Ok(e) if at > down && at <= deadline => Ok(format!(
                            "read failed after {ms} ms (bound {} ms): {e}",
                            DETECT_WITHIN.as_millis()
                        )),
                        other => Err(format!("after {ms} ms: {other:?}")),
                    }
                }
            };
            rows.push((pending.label.to_owned(), verdict));
        }
        // The others must still be pending at the deadline.
        tokio::time::sleep_until(deadline.into()).await;
        for pending in [plain_h2, ready_h1] {
            let verdict = if pending.read.is_finished() {
                let (at, outcome) = pending.read.await.expect("no panic");
                Err(format!("ended after {} ms: {outcome:?}", at.saturating_duration_since(down).as_millis()))
            } else {
                pending.read.abort();
                Ok(format!(
                    "still pending {} ms after the link went down (TCP keepalive to the proxy is healthy); cancelled",
                    down.elapsed().as_millis()
                ))
            };
            rows.push((pending.label.to_owned(), verdict));
        }
        rows
    });
    drop(proxy);
    link_down::report(&rows);
}
