//! Dead peers, on real kernels: the server and the client run in two network namespaces joined
//! by a veth pair; once a long-lived request is under way the server's link goes down, so the
//! peer silently vanishes (no FIN, no RST: what a crashed host, a pulled cable or a NAT that
//! forgot the flow look like). Then:
//!
//! - with keepalive (idle 1 s, interval 1 s, 2 retries) at each stage, over HTTP/1.1 and h2,
//!   the pending read fails within idle + interval × retries + 1.5 s;
//! - with keepalive off, the same read is still pending at that deadline;
//! - with `tcp_user_timeout` and a request body being sent, the write fails near the timeout;
//!   with keepalive on and no explicit setting, near the default timeout (keepalive's budget
//!   `idle + interval × retries`); with keepalive on and the timeout explicitly unset, the
//!   write is still pending at the deadline.
//!
//! Needs root (for `ip netns`). Without it the tests print a loud `SKIPPED:` line and pass,
//! except under `CI=true`, where they fail. Only addresses of a private /24 inside the two
//! namespaces are used; nothing is configured in the root namespace. A guard deletes the
//! namespaces (and with them the veth pair) on drop, also when a test fails; names carry the
//! process id and a counter, so parallel tests and parallel runs do not collide.
//!
//! How a process gets into a namespace without `setns(2)` (unsafe code is forbidden here): the
//! test re-runs itself, `ip netns exec NS <this binary> --exact <this test>`, with a role in the
//! environment (see [`child`]). The parent orchestrates: it starts the server half and the
//! client half, takes the link down, tells the client, and reads the measured results.
#![cfg(target_os = "linux")]

use crate::support::child;
use crate::support::link_down::{self, Verdict};
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::{Body, Frame, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use keepalive_connector::{
    Builder, ConnectInfo, Connector, Keepalive, Stage, StaticResolver, Trust,
};

const IDLE: Duration = Duration::from_secs(1);
const INTERVAL: Duration = Duration::from_secs(1);
const RETRIES: u32 = 2;
/// The bound: idle + interval × retries + 1.5 s (4.5 s).
const DETECT_WITHIN: Duration = Duration::from_millis(
    IDLE.as_millis() as u64 + INTERVAL.as_millis() as u64 * RETRIES as u64 + 1_500,
);
const USER_TIMEOUT: Duration = Duration::from_secs(2);
/// How far from `USER_TIMEOUT` (counted from the link going down) a failing write may be. The
/// kernel clamps its retransmission timer to the user timeout, so it fires close to it; it
/// counts from the oldest unacknowledged segment, sent at most a few milliseconds after the
/// link went down (the body keeps producing).
const USER_TIMEOUT_BEFORE: Duration = Duration::from_millis(500);
const USER_TIMEOUT_AFTER: Duration = Duration::from_millis(1_500);

/// How long the streams stay quiet before the link goes down. Keepalive only runs on an idle
/// connection: while any sent byte is unacknowledged the kernel retransmits instead (for about
/// 15 minutes with the default `tcp_retries2`) and sends no probes. The client's last write
/// here is HTTP/2's SETTINGS acknowledgement, sent as the response arrives, and the server's
/// kernel may delay its ACK by up to 200 ms (`TCP_DELACK_MAX`); a link that dies inside that
/// window leaves a connection keepalive cannot save (`tcp_user_timeout` does: see the last
/// test). Waiting this long makes "a streaming response that goes quiet" truly quiet.
const QUIET: Duration = Duration::from_millis(300);

/// The HTTP version of a measured connection: `http1_only()`, or ALPN's choice (h2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    H1,
    H2,
}

impl Proto {
    fn name(self) -> &'static str {
        match self {
            Proto::H1 => "http/1.1",
            Proto::H2 => "h2",
        }
    }
}

#[test]
fn keepalive_detects_a_dead_peer_at_each_stage() {
    run("keepalive", "keepalive_detects_a_dead_peer_at_each_stage");
}

#[test]
fn without_keepalive_the_read_is_still_pending_at_the_deadline() {
    run(
        "off",
        "without_keepalive_the_read_is_still_pending_at_the_deadline",
    );
}

#[test]
fn tcp_user_timeout_fails_an_unacknowledged_write() {
    run(
        "user-timeout",
        "tcp_user_timeout_fails_an_unacknowledged_write",
    );
}

/// Plays this process's role: the parent (no role) orchestrates.
fn run(scenario: &str, test: &str) {
    child::play(
        module_path!(),
        test,
        link_down::server,
        || client_role(scenario),
        |test| orchestrate(scenario, test),
    );
}

fn orchestrate(scenario: &str, test: &str) {
    let Some(rows) = link_down::parent(test) else {
        return;
    };
    println!("dead peer, scenario {scenario}, link down at t=0:");
    for row in &rows {
        println!("  {}", row.line);
    }
    let expected = match scenario {
        "keepalive" => 6,
        "user-timeout" => 4,
        _ => 3,
    };
    assert_eq!(rows.len(), expected, "{rows:#?}");
    let failed: Vec<_> = rows.iter().filter(|r| !r.ok).map(|r| &r.label).collect();
    assert!(failed.is_empty(), "failed: {failed:?}\n{rows:#?}");
}

/// The client half: opens the scenario's connections, says `ready`, waits for `down`, then
/// measures every connection against that instant and reports one `result` line each.
fn client_role(scenario: &str) {
    let (addr, ca) = link_down::target();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rows = rt.block_on(async {
        let down_rx = link_down::down();
        let target = Target { addr, ca };
        match scenario {
            "keepalive" => keepalive_scenario(&target, down_rx).await,
            "off" => off_scenario(&target, down_rx).await,
            "user-timeout" => user_timeout_scenario(&target, down_rx).await,
            other => panic!("unknown scenario {other}"),
        }
    });
    link_down::report(&rows);
}

/// Where the server half listens and the CA it trusts.
struct Target {
    addr: SocketAddr,
    ca: String,
}

impl Target {
    /// A connector trusting only the server's CA, with `localhost` mapped to the server's
    /// namespace address (its certificate names `localhost`, not that address).
    fn builder(&self, proto: Proto, stage: Stage, keepalive: Keepalive) -> Builder {
        let b = Connector::builder()
            .trust(Trust::AddedRootsOnly)
            .add_root_certificates_pem(self.ca.as_bytes())
            .dns_resolver(
                StaticResolver::new()
                    .add("localhost", self.addr.port(), [self.addr.ip()])
                    .no_fallback(),
            )
            .keepalive(keepalive)
            .keepalive_at(stage)
            .connect_timeout(Duration::from_secs(10))
            .handshake_timeout(Duration::from_secs(10));
        match proto {
            Proto::H1 => b.http1_only(),
            Proto::H2 => b,
        }
    }

    fn url(&self, path: &str) -> http::Uri {
        format!("https://localhost:{}{path}", self.addr.port())
            .parse()
            .unwrap()
    }
}

fn version_of(proto: Proto) -> http::Version {
    match proto {
        Proto::H1 => http::Version::HTTP_11,
        Proto::H2 => http::Version::HTTP_2,
    }
}

/// A `GET /stream` whose first chunk has arrived, with a task waiting for the next frame,
/// which never comes while the peer lives. The task yields when and how that read ended.
struct PendingRead {
    label: String,
    info: ConnectInfo,
    /// When the first chunk arrived: the last data on the connection.
    last_data: Instant,
    read: tokio::task::JoinHandle<(Instant, Result<String, String>)>,
    _client: Client<Connector, Empty<Bytes>>,
}

async fn open_stream(target: &Target, proto: Proto, stage: Stage, ka: Keepalive) -> PendingRead {
    let label = format!(
        "{}/{}/keepalive-{}",
        proto.name(),
        stage,
        if ka.is_enabled() { "on" } else { "off" }
    );
    let connector = target.builder(proto, stage, ka).build().unwrap();
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build::<_, Empty<Bytes>>(connector);
    let resp = client
        .get(target.url("/stream"))
        .await
        .unwrap_or_else(|e| panic!("{label}: GET /stream: {e:?}"));
    assert_eq!(resp.version(), version_of(proto), "{label}");
    let info = resp
        .extensions()
        .get::<ConnectInfo>()
        .cloned()
        .expect("ConnectInfo");
    let mut body = resp.into_body();
    let first = body
        .frame()
        .await
        .expect("a first frame")
        .expect("no error");
    assert_eq!(
        first.data_ref().map(|d| &d[..]),
        Some(&b"first chunk\n"[..])
    );
    let last_data = Instant::now();
    let read = tokio::spawn(async move {
        let outcome = next_frame(&mut body).await;
        (Instant::now(), outcome)
    });
    PendingRead {
        label,
        info,
        last_data,
        read,
        _client: client,
    }
}

/// The next frame of a body that must not produce one: `Ok` describes the error that ended
/// it, `Err` anything else.
async fn next_frame(body: &mut Incoming) -> Result<String, String> {
    match body.frame().await {
        Some(Err(e)) => Ok(describe(&e)),
        Some(Ok(_)) => Err("unexpected data".into()),
        None => Err("clean end of stream".into()),
    }
}

/// An error's io kind (through hyper and h2, which does not expose its io cause as `source`)
/// and text.
fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut kind = None;
    let mut cause = Some(err);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            kind = Some(io.kind());
            break;
        }
        if let Some(io) = e.downcast_ref::<h2::Error>().and_then(h2::Error::get_io) {
            kind = Some(io.kind());
            break;
        }
        cause = e.source();
    }
    format!("{kind:?}: {err}")
}

/// A dead peer shows as a timed-out connection (the kernel's `ETIMEDOUT`) or, at worst, a
/// reset or unreachable one: never as a clean end or as data.
fn is_dead_peer_error(described: &str) -> bool {
    [
        "Some(TimedOut)",
        "Some(ConnectionReset)",
        "Some(ConnectionAborted)",
        "Some(HostUnreachable)",
    ]
    .iter()
    .any(|k| described.starts_with(k))
}

fn keepalive_on() -> Keepalive {
    Keepalive::new()
        .idle(IDLE)
        .interval(INTERVAL)
        .retries(RETRIES)
}

/// Judges a pending read that must fail with a dead-peer error within `DETECT_WITHIN` of `down`.
async fn judge_detection(read: PendingRead, down: Instant) -> Verdict {
    let ka = read.info.keepalive().copied();
    let verdict = match ka {
        Some(ka)
            if (ka.idle(), ka.interval(), ka.retries())
                != (Some(IDLE), Some(INTERVAL), Some(RETRIES)) =>
        {
            Err(format!("kernel holds other keepalive values: {ka:?}"))
        }
        None => Err("keepalive is off on the socket".into()),
        Some(_) => {
            // Wait past the bound, so a late detection is measured rather than cut off.
            let cap = down + DETECT_WITHIN + Duration::from_secs(5);
            match tokio::time::timeout_at(cap.into(), read.read).await {
                Err(_) => Err(format!(
                    "still pending {} ms after the link went down",
                    (cap - down).as_millis()
                )),
                Ok(joined) => {
                    let (at, outcome) = joined.expect("no panic");
                    let ms = at.saturating_duration_since(down).as_millis();
                    match outcome {
                        _ if at < down => {
                            Err(format!("ended before the link went down: {outcome:?}"))
                        }
                        Ok(e) if is_dead_peer_error(&e) && at - down <= DETECT_WITHIN => {
                            Ok(format!(
                                "read failed after {ms} ms (bound {} ms; {} ms after the last \
                                 data): {e}",
                                DETECT_WITHIN.as_millis(),
                                (at - read.last_data).as_millis()
                            ))
                        }
                        Ok(e) => Err(format!("read failed after {ms} ms: {e}")),
                        Err(e) => Err(format!("after {ms} ms: {e}")),
                    }
                }
            }
        }
    };
    (read.label, verdict)
}

async fn keepalive_scenario(
    target: &Target,
    down: tokio::sync::oneshot::Receiver<Instant>,
) -> Vec<Verdict> {
    let mut reads = Vec::new();
    for &stage in Stage::ALL {
        for proto in [Proto::H1, Proto::H2] {
            reads.push(open_stream(target, proto, stage, keepalive_on()).await);
        }
    }
    tokio::time::sleep(QUIET).await;
    child::say(format!(
        "ready {} streams quiet after their first chunk",
        reads.len()
    ));
    let down = link_down::link_down(down).await;
    let judged = reads.into_iter().map(|r| judge_detection(r, down));
    let mut rows = Vec::new();
    for j in judged {
        rows.push(j.await);
    }
    rows
}

async fn off_scenario(
    target: &Target,
    down: tokio::sync::oneshot::Receiver<Instant>,
) -> Vec<Verdict> {
    let mut reads = Vec::new();
    for proto in [Proto::H1, Proto::H2] {
        reads.push(open_stream(target, proto, Stage::AfterHandshake, Keepalive::off()).await);
    }
    // A control connection with keepalive on, in this very namespace pair: its failure proves
    // the peer really vanished, so the others' silence is keepalive being off.
    let control = open_stream(target, Proto::H1, Stage::AfterHandshake, keepalive_on()).await;
    tokio::time::sleep(QUIET).await;
    child::say("ready 2 streams without keepalive, 1 control with keepalive");
    let down = link_down::link_down(down).await;
    tokio::time::sleep_until((down + DETECT_WITHIN).into()).await;
    let mut rows = Vec::new();
    for read in reads {
        let verdict = if read.info.keepalive().is_some() {
            Err("keepalive is on on the socket".into())
        } else if read.read.is_finished() {
            let (at, outcome) = read.read.await.expect("no panic");
            Err(format!(
                "ended after {} ms: {outcome:?}",
                at.saturating_duration_since(down).as_millis()
            ))
        } else {
            // Cancel the read: dropping the body and client closes the connection.
            read.read.abort();
            Ok(format!(
                "still pending {} ms after the link went down; cancelled",
                down.elapsed().as_millis()
            ))
        };
        rows.push((read.label, verdict));
    }
    let (label, verdict) = judge_detection(control, down).await;
    rows.push((format!("{label}(control)"), verdict));
    rows
}

/// A request body that never ends by itself (it stops after `until`, as a bound): 16 KiB every
/// 5 ms, counting what it produced. Paced well below what the server reads, so the server's
/// receive window stays open and, once the link is down, the connection is retransmitting
/// unacknowledged data (the case `TCP_USER_TIMEOUT` is about), not probing a zero window.
struct PacedBody {
    chunk: Bytes,
    produced: Arc<AtomicU64>,
    until: Instant,
    tick: Pin<Box<tokio::time::Sleep>>,
}

const PACE: Duration = Duration::from_millis(5);

impl PacedBody {
    fn new(produced: Arc<AtomicU64>, runs_for: Duration) -> Self {
        PacedBody {
            chunk: Bytes::from(vec![b'x'; 16 * 1024]),
            produced,
            until: Instant::now() + runs_for,
            tick: Box::pin(tokio::time::sleep(PACE)),
        }
    }
}

impl Body for PacedBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if Instant::now() >= self.until {
            return Poll::Ready(None);
        }
        std::task::ready!(self.tick.as_mut().poll(cx));
        let next = tokio::time::Instant::now() + PACE;
        self.tick.as_mut().reset(next);
        self.produced
            .fetch_add(self.chunk.len() as u64, Ordering::Relaxed);
        Poll::Ready(Some(Ok(Frame::data(self.chunk.clone()))))
    }
}

/// How a case of [`user_timeout_scenario`] configures `TCP_USER_TIMEOUT`.
#[derive(Debug, Clone, Copy)]
enum UserTimeout {
    /// `tcp_user_timeout(t)`.
    Set(Duration),
    /// Nothing said: the default.
    Default,
    /// `tcp_user_timeout(None)`: the kernel's default.
    Unset,
}

async fn user_timeout_scenario(
    target: &Target,
    down: tokio::sync::oneshot::Receiver<Instant>,
) -> Vec<Verdict> {
    // (protocol, TCP_USER_TIMEOUT as configured, keepalive). The third has keepalive on and
    // no explicit setting: the default, keepalive's budget (1 s + 1 s × 2 = 3 s), applies. The
    // last is a control in this very namespace pair: keepalive on, the user timeout explicitly
    // unset. Its upload must still be pending when keepalive would have given up on an idle
    // connection, because the kernel sends no keepalive probes while data is unacknowledged.
    // So the others' failure is the user timeout at work, and keepalive alone does not cover
    // a peer that dies mid-write.
    let default_timeout = keepalive_on().detection_time();
    let cases: [(Proto, UserTimeout, Keepalive); 4] = [
        (Proto::H1, UserTimeout::Set(USER_TIMEOUT), Keepalive::off()),
        (Proto::H2, UserTimeout::Set(USER_TIMEOUT), Keepalive::off()),
        (Proto::H1, UserTimeout::Default, keepalive_on()),
        (Proto::H1, UserTimeout::Unset, keepalive_on()),
    ];
    let mut uploads = Vec::new();
    for (proto, choice, keepalive) in cases {
        let (label, expected) = match choice {
            UserTimeout::Set(t) => (
                format!(
                    "{}/POST-echo/tcp_user_timeout-{}ms/keepalive-off",
                    proto.name(),
                    t.as_millis()
                ),
                Some(t),
            ),
            UserTimeout::Default => (
                format!(
                    "{}/POST-echo/default-tcp_user_timeout/keepalive-on",
                    proto.name()
                ),
                Some(default_timeout),
            ),
            UserTimeout::Unset => (
                format!(
                    "{}/POST-echo/tcp_user_timeout-unset/keepalive-on(control)",
                    proto.name()
                ),
                None,
            ),
        };
        let mut builder = target.builder(proto, Stage::AfterHandshake, keepalive);
        match choice {
            UserTimeout::Set(t) => builder = builder.tcp_user_timeout(t),
            UserTimeout::Unset => builder = builder.tcp_user_timeout(None),
            UserTimeout::Default => {}
        }
        let user_timeout = expected;
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build::<_, PacedBody>(builder.build().unwrap());
        let produced = Arc::new(AtomicU64::new(0));
        let body = PacedBody::new(Arc::clone(&produced), Duration::from_secs(30));
        let mut req = http::Request::post(target.url("/echo")).body(body).unwrap();
        let captured = hyper_util::client::legacy::connect::capture_connection(&mut req);
        let task = tokio::spawn(async move {
            let outcome = match client.request(req).await {
                Err(e) => Ok(describe(&e)),
                Ok(resp) => Err(format!("a response: {}", resp.status())),
            };
            (Instant::now(), outcome)
        });
        // Under way: 256 KiB have gone into the connection.
        let start = Instant::now();
        while produced.load(Ordering::Relaxed) < 256 << 10 {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{label}: upload never started"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut ext = http::Extensions::new();
        if let Some(connected) = captured.connection_metadata().as_ref() {
            connected.get_extras(&mut ext);
        }
        let info = ext
            .remove::<ConnectInfo>()
            .expect("ConnectInfo of the upload");
        uploads.push((label, user_timeout, info, task, produced));
    }
    child::say(format!("ready {} uploads under way", uploads.len()));
    let down = link_down::link_down(down).await;
    let deadline = down + DETECT_WITHIN.max(USER_TIMEOUT + USER_TIMEOUT_AFTER);
    let mut rows = Vec::new();
    for (label, user_timeout, info, task, produced) in uploads {
        let verdict = if info.tcp_user_timeout() != user_timeout {
            Err(format!(
                "kernel holds TCP_USER_TIMEOUT {:?}",
                info.tcp_user_timeout()
            ))
        } else if user_timeout.is_none() {
            tokio::time::sleep_until(deadline.into()).await;
            if task.is_finished() {
                let (at, outcome) = task.await.expect("no panic");
                Err(format!(
                    "ended after {} ms: {outcome:?}",
                    at.saturating_duration_since(down).as_millis()
                ))
            } else {
                task.abort();
                Ok(format!(
                    "still pending {} ms after the link went down; cancelled",
                    down.elapsed().as_millis()
                ))
            }
        } else {
            let timeout = user_timeout.unwrap_or(USER_TIMEOUT);
            judge_upload(task, down, &produced, timeout).await
        };
        rows.push((label, verdict));
    }
    rows
}

/// An upload with `TCP_USER_TIMEOUT` must fail with a dead-peer error near the timeout.
async fn judge_upload(
    task: tokio::task::JoinHandle<(Instant, Result<String, String>)>,
    down: Instant,
    produced: &AtomicU64,
    timeout: Duration,
) -> Result<String, String> {
    let cap = down + timeout + USER_TIMEOUT_AFTER + Duration::from_secs(5);
    let Ok(joined) = tokio::time::timeout_at(cap.into(), task).await else {
        return Err(format!(
            "still pending {} ms after the link went down",
            (cap - down).as_millis()
        ));
    };
    let (at, outcome) = joined.expect("no panic");
    let took = at.saturating_duration_since(down);
    let ms = took.as_millis();
    let near = took + USER_TIMEOUT_BEFORE >= timeout && took <= timeout + USER_TIMEOUT_AFTER;
    match outcome {
        Ok(e) if near && is_dead_peer_error(&e) && at > down => Ok(format!(
            "upload failed after {ms} ms (timeout {} ms, {} KiB of body produced): {e}",
            timeout.as_millis(),
            produced.load(Ordering::Relaxed) / 1024,
        )),
        Ok(e) => Err(format!("upload failed after {ms} ms: {e}")),
        Err(e) => Err(format!("after {ms} ms: {e}")),
    }
}
