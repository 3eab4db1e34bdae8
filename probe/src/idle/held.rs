//! One connection held idle: connect, one request, idle for a while (or until the other side
//! ends it), then, if asked, a second request on it, and what became of that.
//!
//! A second request that gets no answer is judged with the kernel's view of the socket
//! ([`TcpStats`]): unacknowledged after several retransmissions means it never reached the
//! server (a middlebox forgot the flow); acknowledged means the server has it and is slow.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::HOST;
use http::uri::PathAndQuery;
use http::{HeaderValue, Request, Uri, Version};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use keepalive_connector::{Conn, Connector, TcpStats};
use socket2::{SockRef, Socket};
use tokio::sync::watch;
use tokio::time::{sleep_until, Instant};

use super::watch::{CloseKind, Events, Watched};
use crate::model::{Failure, KeepaliveSeen};
use crate::probe::{connect_failure, RequestSpec};

/// What a held connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Without keepalive, idle for this long, then used: one rung of the ladder.
    Rung(Duration),
    /// With a short keepalive that keeps any middlebox's state, idle until the server closes
    /// it or MAX passes: when and how the server ends idle connections. Never used again.
    Watch(Duration),
    /// With the keepalive asked for, idle for MAX, then used.
    Keepalive(Duration),
}

impl Role {
    /// How long the connection is to be idle.
    pub(crate) fn idle(self) -> Duration {
        match self {
            Role::Rung(d) | Role::Watch(d) | Role::Keepalive(d) => d,
        }
    }

    fn used(self) -> bool {
        !matches!(self, Role::Watch(_))
    }
}

/// The first request's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct First {
    pub(crate) status: u16,
    pub(crate) version: &'static str,
    pub(crate) remote: SocketAddr,
    /// `Keep-Alive`'s `timeout=`, when the server announced one.
    pub(crate) announced: Option<Duration>,
    /// The `Keep-Alive` header as sent.
    pub(crate) keep_alive_header: Option<String>,
    /// `Connection: close`: the server ends the connection after this response.
    pub(crate) connection_close: bool,
}

/// What became of the connection after the first request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// Connecting or the first request failed.
    NotReached(Failure),
    /// The other side ended it while it was idle, `after` this long.
    Closed { after: Duration, how: CloseKind },
    /// Held for its whole idle time and not used (the watch).
    Open,
    /// Used after its idle time, and answered.
    Answered { status: u16 },
    /// Used after its idle time, and closed as the request went out.
    ClosedOnUse { how: CloseKind },
    /// Used after its idle time, and not answered within `waited`. `acked` is the kernel's
    /// word on the request (`None` where this OS cannot tell); `retransmits` in a row.
    Unanswered {
        waited: Duration,
        acked: Option<bool>,
        retransmits: Option<u32>,
    },
    /// The request failed otherwise.
    Failed(String),
    /// Ctrl-C, this long into the idle time (or the use).
    Interrupted { after: Duration },
}

/// One held connection's story.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Held {
    pub(crate) role: Role,
    /// Keepalive on the socket as read back (`None`: off, or not connected).
    pub(crate) keepalive: Option<KeepaliveSeen>,
    pub(crate) first: Option<First>,
    pub(crate) outcome: Outcome,
}

/// Where a held connection is now, for the countdown.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Live {
    Connecting,
    /// Idle until this moment.
    Idle(Instant),
    /// The second request is out since this moment.
    Using(Instant),
    Done,
}

/// The unanswered second request is a drop once the kernel has retransmitted it this many
/// times in a row without an acknowledgement (about 1.4 s at Linux's minimum timeout).
const DROP_RETRANSMITS: u32 = 3;
/// How often the kernel's counters are read while the second request waits.
const STATS_EVERY: Duration = Duration::from_millis(200);

/// Holds one connection made with `connector` in `role`.
pub(crate) async fn hold(
    connector: Connector,
    spec: RequestSpec,
    role: Role,
    live: Arc<Mutex<Live>>,
    mut cancel: watch::Receiver<bool>,
) -> Held {
    let mut held = Held {
        role,
        keepalive: None,
        first: None,
        outcome: Outcome::Open,
    };
    let set_live = |state: Live| *live.lock().expect("never poisoned") = state;
    let conn = match connector.connect(&spec.uri).await {
        Ok(conn) => conn,
        Err(err) => {
            set_live(Live::Done);
            held.outcome = Outcome::NotReached(connect_failure(&err));
            return held;
        }
    };
    held.keepalive = conn.info().keepalive().map(KeepaliveSeen::from);
    let remote = conn.info().remote_addr();
    // A second handle on the socket, to read the kernel's counters while hyper owns the
    // connection (dropped with the task, after hyper's).
    let stats_sock: Option<Socket> = TcpStats::supported()
        .then(|| SockRef::from(conn.tcp()).try_clone().ok())
        .flatten();
    let mut session = match Session::start(conn).await {
        Ok(session) => session,
        Err(err) => {
            set_live(Live::Done);
            held.outcome = Outcome::NotReached(ExchangeError::Hyper(err).failure(remote));
            return held;
        }
    };
    let first = match session.exchange(&spec).await {
        Ok(resp) => resp,
        Err(err) => {
            set_live(Live::Done);
            held.outcome = Outcome::NotReached(err.failure(remote));
            return held;
        }
    };
    held.first = Some(First {
        status: first.status,
        version: first.version,
        remote,
        announced: first.announced(),
        keep_alive_header: first.headers.get("keep-alive").cloned(),
        connection_close: first
            .headers
            .get("connection")
            .is_some_and(|v| v.to_ascii_lowercase().contains("close")),
    });
    // Idle from the end of the first response: the last the other side heard of it.
    let idle_start = Instant::now();
    let until = idle_start + role.idle();
    set_live(Live::Idle(until));
    let events = Arc::clone(&session.events);
    tokio::select! {
        _ = sleep_until(until) => {}
        closed = events.wait_closed() => {
            set_live(Live::Done);
            held.outcome = Outcome::Closed { after: closed.at - idle_start, how: closed.kind };
            return held;
        }
        _ = cancel.changed() => {
            set_live(Live::Done);
            held.outcome = Outcome::Interrupted { after: idle_start.elapsed() };
            return held;
        }
    }
    if !role.used() {
        set_live(Live::Done);
        return held;
    }
    let sent = Instant::now();
    set_live(Live::Using(sent));
    let verdict = async {
        loop {
            tokio::time::sleep(STATS_EVERY).await;
            if let Some(stats) = read_stats(stats_sock.as_ref()) {
                if stats.unacked_bytes() > 0 && stats.retransmits() >= DROP_RETRANSMITS {
                    return stats;
                }
            }
        }
    };
    held.outcome = tokio::select! {
        result = session.exchange(&spec) => match result {
            Ok(resp) => Outcome::Answered { status: resp.status },
            Err(ExchangeError::Timeout) => {
                let stats = read_stats(stats_sock.as_ref());
                Outcome::Unanswered {
                    waited: sent.elapsed(),
                    acked: stats.map(|s| s.unacked_bytes() == 0),
                    retransmits: stats.map(|s| s.retransmits()),
                }
            }
            Err(err) => match events.closed() {
                Some(closed) => Outcome::ClosedOnUse { how: closed.kind },
                None => Outcome::Failed(err.to_string()),
            },
        },
        stats = verdict => Outcome::Unanswered {
            waited: sent.elapsed(),
            acked: Some(false),
            retransmits: Some(stats.retransmits()),
        },
        _ = cancel.changed() => Outcome::Interrupted { after: idle_start.elapsed() },
    };
    set_live(Live::Done);
    held
}

fn read_stats(sock: Option<&Socket>) -> Option<TcpStats> {
    TcpStats::read(SockRef::from(sock?)).ok().flatten()
}

/// hyper's client over a [`Watched`] connection.
struct Session {
    sender: Sender,
    events: Arc<Events>,
    driver: tokio::task::JoinHandle<()>,
}

enum Sender {
    Http1 {
        sender: http1::SendRequest<Empty<Bytes>>,
        forwarded: bool,
    },
    Http2(http2::SendRequest<Empty<Bytes>>),
}

/// A response, read to its end.
struct Response {
    status: u16,
    version: &'static str,
    headers: BTreeMap<String, String>,
}

impl Response {
    /// `timeout=N` of the `Keep-Alive` header.
    fn announced(&self) -> Option<Duration> {
        let value = self.headers.get("keep-alive")?;
        value.split(',').find_map(|part| {
            let (name, secs) = part.split_once('=')?;
            (name.trim().eq_ignore_ascii_case("timeout"))
                .then(|| secs.trim().parse::<u64>().ok())
                .flatten()
                .map(Duration::from_secs)
        })
    }
}

#[derive(Debug)]
enum ExchangeError {
    Hyper(hyper::Error),
    Timeout,
}

impl std::fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExchangeError::Hyper(e) => match std::error::Error::source(e) {
                Some(source) => write!(f, "{e}: {source}"),
                None => write!(f, "{e}"),
            },
            ExchangeError::Timeout => f.write_str("no response in time"),
        }
    }
}

impl ExchangeError {
    fn failure(&self, addr: SocketAddr) -> Failure {
        Failure {
            phase: crate::model::FailPhase::Http,
            cause: self.to_string(),
            message: format!("http exchange failed: {self}"),
            timeout: matches!(self, ExchangeError::Timeout),
            addr: Some(addr),
        }
    }
}

impl Session {
    /// hyper's handshake for the protocol the connection speaks, over the watched stream
    /// (the library's `Conn::handshake` takes the `Conn` itself, which would hide its bytes).
    async fn start(conn: Conn) -> Result<Session, hyper::Error> {
        let h2 = conn.is_h2();
        let forwarded = conn.is_forwarded();
        let (io, events) = Watched::new(conn, h2);
        let io = TokioIo::new(io);
        let (sender, driver) = if h2 {
            let (sender, conn) = http2::handshake(TokioExecutor::new(), io).await?;
            (Sender::Http2(sender), tokio::spawn(drive(conn)))
        } else {
            let (sender, conn) = http1::handshake(io).await?;
            (
                Sender::Http1 { sender, forwarded },
                tokio::spawn(drive(conn)),
            )
        };
        Ok(Session {
            sender,
            events,
            driver,
        })
    }

    /// One request, its response read to the end, within the request timeout.
    async fn exchange(&mut self, spec: &RequestSpec) -> Result<Response, ExchangeError> {
        let req = build(spec, &self.sender);
        let round = async {
            let resp = match &mut self.sender {
                Sender::Http1 { sender, .. } => {
                    sender.ready().await.map_err(ExchangeError::Hyper)?;
                    sender.send_request(req).await
                }
                Sender::Http2(sender) => {
                    sender.ready().await.map_err(ExchangeError::Hyper)?;
                    sender.send_request(req).await
                }
            }
            .map_err(ExchangeError::Hyper)?;
            read(resp).await
        };
        tokio::time::timeout(spec.timeout, round)
            .await
            .unwrap_or(Err(ExchangeError::Timeout))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// Runs hyper's connection until it ends.
async fn drive<F, E>(connection: F)
where
    F: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    if let Err(err) = connection.await {
        tracing::debug!(error = %err, "held connection ended with an error");
    }
}

/// The request as the library's `SendRequest` would send it: origin form and `Host` for
/// HTTP/1.1 (absolute form to a forwarding proxy), the absolute URL for HTTP/2.
fn build(spec: &RequestSpec, sender: &Sender) -> Request<Empty<Bytes>> {
    let mut req = Request::new(Empty::new());
    *req.method_mut() = spec.method.clone();
    *req.headers_mut() = spec.headers.clone();
    match sender {
        Sender::Http2(_) => {
            *req.uri_mut() = spec.uri.clone();
            *req.version_mut() = Version::HTTP_2;
        }
        Sender::Http1 {
            forwarded: true, ..
        } => *req.uri_mut() = spec.uri.clone(),
        Sender::Http1 { .. } => {
            if !req.headers().contains_key(HOST) {
                if let Some(host) = spec
                    .uri
                    .authority()
                    .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
                {
                    req.headers_mut().insert(HOST, host);
                }
            }
            let path = spec
                .uri
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/"));
            *req.uri_mut() = Uri::from(path);
        }
    }
    req
}

async fn read(resp: hyper::Response<Incoming>) -> Result<Response, ExchangeError> {
    let status = resp.status().as_u16();
    let version = match resp.version() {
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_10 => "HTTP/1.0",
        _ => "HTTP/1.1",
    };
    let mut headers = BTreeMap::new();
    for (name, value) in resp.headers() {
        headers.insert(
            name.as_str().to_owned(),
            String::from_utf8_lossy(value.as_bytes()).into_owned(),
        );
    }
    let mut body = resp.into_body();
    while let Some(frame) = body.frame().await {
        frame.map_err(ExchangeError::Hyper)?;
    }
    Ok(Response {
        status,
        version,
        headers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_announced_timeout_is_read_from_keep_alive() {
        let resp = |v: &str| Response {
            status: 200,
            version: "HTTP/1.1",
            headers: [("keep-alive".to_owned(), v.to_owned())].into(),
        };
        assert_eq!(resp("timeout=5").announced(), Some(Duration::from_secs(5)));
        assert_eq!(
            resp("max=100, Timeout = 75").announced(),
            Some(Duration::from_secs(75))
        );
        assert_eq!(resp("max=100").announced(), None);
    }
}
