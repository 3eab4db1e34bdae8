//! [`Client`]: hyper-util's pooled client over the connector, which never loses a request it
//! may send again to a stale pooled connection and never hangs on one.
//!
//! - `settings`: the client's piece of the configuration, on the connector's [`Builder`](crate::Builder);
//! - `pools`: the hyper-util clients under it (one per PING schedule) and their connector;
//! - `replay`: request bodies that can be sent again;
//! - `resend`: the rules that decide whether a failed request goes again;
//! - `body`: response bodies with the read timeout; `request_body`: [`RequestBody`];
//! - `info`, `error`: [`RequestInfo`] and [`ClientError`].
//!
//! The connections themselves (retiring when idle, the silent-drop guard) are in `stream` and
//! `conn_state`.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use atomic_waker::AtomicWaker;
use http::{Request, Response, Uri};
use hyper::body::Body;
use hyper_util::client::legacy::connect::{capture_connection, CaptureConnection};
use hyper_util::client::legacy::{Builder as ClientBuilder, Client as HyperClient};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::Sleep;

use crate::conn_state::{Active, ConnHandle};
use crate::connector::Connector;
use crate::error::BoxError;

mod body;
mod error;
mod info;
mod pools;
mod replay;
mod request_body;
mod resend;
pub(crate) mod settings;

pub use body::ResponseBody;
pub use error::{ClientError, NotResent};
pub use info::{RequestInfo, Resend, StaleReason};
pub use request_body::RequestBody;

use error::Kind;
use pools::Pools;
use replay::ReplayBody;
use resend::{Candidate, Dispatched, Reached, Verdict};

/// What every clone of a [`Client`] shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pools: Pools,
    settings: settings::ClientSettings,
}

/// An HTTP client over a [`Connector`], on hyper-util's connection pool: HTTP/1.1 or HTTP/2 as
/// ALPN chooses, PINGs on the keepalive schedule, and requests that survive stale pooled
/// connections. Made by [`Connector::client`]; cloning is cheap and clones share the pool.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use keepalive_connector::{ConnectInfo, Connector, RequestInfo};
/// let client = Connector::builder().build()?.client();
/// let resp = client.get("https://example.com/".parse()?).await?;
/// let conn = resp.extensions().get::<ConnectInfo>().expect("set by the connector");
/// let req = resp.extensions().get::<RequestInfo>().expect("set by the client");
/// println!("{} via {} (reused: {}, re-sent: {})", resp.status(), conn.remote_addr(),
///     req.reused(), req.retries());
/// let mut body = resp.into_body();
/// while let Some(chunk) = body.chunk().await? {
///     println!("{} bytes", chunk.len());
/// }
/// # Ok(()) }
/// ```
///
/// # Re-sending
///
/// A pooled connection may be stale when a request goes out on it: the server closed it as
/// the request arrived (its idle timeout), or a NAT on the way forgot it. The client sends
/// such a request again on a fresh connection when that is safe (Go's net/http rules,
/// RFC 9110 §9.2.2, RFC 9113 §8.7), and says so in the response's [`RequestInfo`]:
///
/// - a request the server cannot have processed (an HTTP/2 stream refused with
///   `REFUSED_STREAM` or above a GOAWAY's last stream id, or a request never written) goes
///   again whatever its method;
/// - a request that failed on a **reused** connection before any byte of its response arrived
///   goes again if it is replayable: an idempotent method (GET, HEAD, OPTIONS, TRACE, PUT,
///   DELETE) or an `Idempotency-Key` / `X-Idempotency-Key` header;
/// - its body must be sendable again: none, or all of it kept
///   ([`resend_buffer_size`](crate::Builder::resend_buffer_size), 1 MiB by default: a `Full`
///   body, or a stream no longer than that), or a stream of which nothing was sent yet;
/// - a fresh connection's failure never makes a request go again; at most
///   [`max_resends`](crate::Builder::max_resends) re-sends per request (1 by default), each a
///   `tracing` event at `debug` level.
///
/// Any other failure on a reused connection before an answer is a
/// [stale connection](ClientError::is_stale_connection) error that says why it was not sent
/// again.
///
/// # Stale connections it avoids
///
/// - An idle connection closes itself after [`pool_idle_timeout`](crate::Builder::pool_idle_timeout),
///   and 1 s before a server's announced `Keep-Alive: timeout=` runs out, so it is not reused
///   just as the server closes it.
/// - On Linux and Android a request written after a quiet spell that the peer's TCP does not
///   acknowledge within about a second fails its connection (the
///   [silent-drop guard](crate::Builder::silent_drop_timeout)), instead of hanging for the
///   kernel's retransmissions.
///
/// # Liveness
///
/// HTTP/2 PINGs follow the keepalive settings: after `idle` without a frame on a connection
/// with an open stream a PING goes out, and without its answer within `interval × retries`
/// the connection is closed and every request and body on it fails. The PING reaches the
/// origin through any proxy, where TCP keepalive only watches the hop to the proxy. A
/// response body keeps its connection's PINGs going while it is read, even after the client
/// was dropped. See [`Connector::client_builder`] for the schedule, and what happens when a
/// server (gRPC) finds it too frequent. HTTP/1.1 has no PING: the
/// [`read_timeout`](crate::Builder::read_timeout) is what notices a dead origin behind a proxy.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("settings", &self.shared.settings)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Sends `req` and resolves to its response once the head has arrived; read the body
    /// from the response ([`ResponseBody::chunk`], or as any `http_body::Body`).
    ///
    /// The body may be a [`RequestBody`] (empty, or bytes in full), a `String`, or any
    /// `http_body::Body` (a stream from `http-body-util`, say). Whether a failed request can
    /// be sent again depends on it: see [Re-sending](Client#re-sending).
    pub fn request<B>(&self, req: Request<B>) -> ResponseFuture
    where
        B: Body + Send + 'static,
        B::Error: Into<BoxError>,
    {
        ResponseFuture(Box::pin(send(Arc::clone(&self.shared), req)))
    }

    /// `GET uri` with an empty body.
    pub fn get(&self, uri: Uri) -> ResponseFuture {
        let mut req = Request::new(RequestBody::empty());
        *req.uri_mut() = uri;
        self.request(req)
    }
}

/// The future of [`Client::request`]: the response, once its head has arrived.
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture(
    Pin<Box<dyn Future<Output = Result<Response<ResponseBody>, ClientError>> + Send>>,
);

impl std::fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseFuture")
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response<ResponseBody>, ClientError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

impl<B> tower_service::Service<Request<B>> for Client
where
    B: Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = ClientError;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> ResponseFuture {
        self.request(req)
    }
}

/// `scheme://host:port` of `uri`, for messages: never a path, query or user info.
fn origin_label(uri: &Uri) -> Arc<str> {
    let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else {
        return "(a URI without scheme or host)".into();
    };
    let port = uri.port_u16().or(match scheme {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    });
    match port {
        Some(port) => format!("{scheme}://{host}:{port}").into(),
        None => format!("{scheme}://{host}").into(),
    }
}

/// What hyper-util refuses before choosing a connection, refused here first (so that a failure
/// without a connection can only be the pool's own): a URI without a scheme or host, an HTTP
/// version it does not speak, `CONNECT` over HTTP/1.0.
fn check(parts: &http::request::Parts) -> Result<(), &'static str> {
    if parts.uri.scheme().is_none() || parts.uri.authority().is_none() {
        return Err("the request's URI must be absolute (scheme and host)");
    }
    match parts.version {
        http::Version::HTTP_11 | http::Version::HTTP_2 => Ok(()),
        http::Version::HTTP_10 if parts.method == http::Method::CONNECT => {
            Err("CONNECT is not allowed over HTTP/1.0")
        }
        http::Version::HTTP_10 => Ok(()),
        _ => Err("the request's HTTP version is not one hyper speaks (1.0, 1.1, 2)"),
    }
}

/// The request's parts, copied for the next attempt.
fn copy_parts(parts: &http::request::Parts) -> Request<()> {
    let mut req = Request::new(());
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = parts.uri.clone();
    *req.version_mut() = parts.version;
    *req.headers_mut() = parts.headers.clone();
    *req.extensions_mut() = parts.extensions.clone();
    req
}

async fn send<B>(
    shared: Arc<Shared>,
    req: Request<B>,
) -> Result<Response<ResponseBody>, ClientError>
where
    B: Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (parts, body) = req.into_parts();
    let origin = origin_label(&parts.uri);
    if let Err(why) = check(&parts) {
        return Err(ClientError::new(Kind::InvalidRequest(why), origin, None));
    }
    let key = pools::key(&parts.uri);
    let settings = shared.settings;
    // Never sent itself: each attempt is a replay of it.
    let keeper = ReplayBody::new(body, settings.resend_buffer_size);
    let mut info = RequestInfo::default();
    let mut counted = 0;
    let mut attempts = 0;
    // After an HTTP/2 server refused the request: the next attempt waits for the one new
    // HTTP/2 connection to the origin rather than starting its own (see `pools::Route`).
    let mut h2_only = false;
    // The failure the next attempt answers, for the error should that attempt not happen.
    let mut resent_error = None;
    loop {
        attempts += 1;
        let Some(attempt_body) = keeper.replay() else {
            // Judged replayable, the body then went past the buffer or failed: over HTTP/2 a
            // task of hyper's own reads it, and can still have been reading. The re-send
            // counted last did not happen.
            let reason = info
                .resends
                .pop()
                .map_or(StaleReason::NotSent, |r| r.reason);
            let source = resent_error.take().map(|e| Box::new(e) as BoxError);
            let err = if keeper.source_failed() {
                ClientError::new(Kind::Request, origin, source)
            } else {
                ClientError::new(Kind::Stale(reason), origin, source).not_resent(NotResent::Body)
            };
            return Err(err.with_info(info));
        };
        let sent = Arc::new(BodySent::default());
        let (req_parts, ()) = copy_parts(&parts).into_parts();
        let mut req = Request::from_parts(req_parts, attempt_body.watched(Arc::clone(&sent)));
        let capture = capture_connection(&mut req);
        let client = shared.pools.client_for(key.as_ref(), h2_only);
        let outcome = Dispatch {
            started: tokio::time::Instant::now(),
            response: client.request(req),
            capture,
            dispatched: None,
            sent,
            read_timeout: settings.read_timeout,
            sleep: None,
        }
        .await;
        match outcome {
            Ok((response, active, reused)) => {
                info.reused = reused;
                let (mut head, incoming) = response.into_parts();
                head.extensions.remove::<ConnHandle>();
                head.extensions.insert(info);
                let body = ResponseBody::new(incoming, active, Arc::clone(&shared), key, origin);
                return Ok(Response::from_parts(head, body));
            }
            Err(Failure::Timeout(period, dispatched)) => {
                info.reused = dispatched.reused;
                return Err(
                    ClientError::new(Kind::ResponseTimeout(period), origin, None).with_info(info),
                );
            }
            Err(Failure::Error(error, dispatched)) => {
                let dispatched = dispatched.map(|(d, _active)| d);
                if let (Some(d), Some(key)) = (&dispatched, &key) {
                    if d.state.has(crate::conn_state::flag::TOO_MANY_PINGS) {
                        shared.pools.too_many_pings(key);
                    }
                }
                info.reused = dispatched.as_ref().is_some_and(|d| d.reused);
                if keeper.source_failed() {
                    // The caller's body failed: its error, not the connection's.
                    return Err(
                        ClientError::new(Kind::Request, origin, Some(Box::new(error)))
                            .with_info(info),
                    );
                }
                let reached = match &dispatched {
                    Some(d) => Reached::Connection(d),
                    None => resend::without_connection(&error),
                };
                let verdict = resend::judge(
                    &error,
                    reached,
                    Candidate {
                        method: &parts.method,
                        headers: &parts.headers,
                        body_replayable: keeper.can_replay(),
                        counted,
                        attempts,
                        max_resends: settings.max_resends,
                    },
                );
                match verdict {
                    Verdict::Resend { reason, counted: c } => {
                        counted += u32::from(c);
                        // A refused stream goes again on the same connection, which stays; a
                        // GOAWAY'd one is going away.
                        h2_only = reason == StaleReason::GoAway
                            && dispatched.as_ref().is_some_and(|d| d.state.h2);
                        tracing::debug!(
                            origin = %origin,
                            method = %parts.method,
                            %reason,
                            reused = info.reused,
                            attempt = attempts + 1,
                            "sending the request again on another connection"
                        );
                        info.resends.push(Resend {
                            reason,
                            reused: info.reused,
                        });
                        resent_error = Some(error);
                    }
                    Verdict::Stale { reason, why } => {
                        return Err(ClientError::new(
                            Kind::Stale(reason),
                            origin,
                            Some(Box::new(error)),
                        )
                        .not_resent(why)
                        .with_info(info));
                    }
                    Verdict::Fail => {
                        let kind = if error.is_connect() {
                            Kind::Connect
                        } else {
                            Kind::Request
                        };
                        return Err(
                            ClientError::new(kind, origin, Some(Box::new(error))).with_info(info)
                        );
                    }
                }
            }
        }
    }
}

/// Whether an attempt's body has been handed over whole (hyper has the entire request), and
/// the dispatch to wake when it has: the read timeout for the head starts then.
#[derive(Debug, Default)]
pub(crate) struct BodySent {
    pub(crate) done: AtomicBool,
    waker: AtomicWaker,
}

impl BodySent {
    pub(crate) fn set(&self) {
        self.done.store(true, Ordering::Release);
        self.waker.wake();
    }

    fn is_set(&self, cx: &Context<'_>) -> bool {
        if self.done.load(Ordering::Acquire) {
            return true;
        }
        self.waker.register(cx.waker());
        self.done.load(Ordering::Acquire)
    }
}

enum Failure {
    Timeout(Duration, Dispatched),
    Error(
        hyper_util::client::legacy::Error,
        Option<(Dispatched, Active)>,
    ),
}

/// One attempt: hyper-util's response future, watched for the connection it goes out on (to
/// count the use, and tell a reused connection from a fresh one) and for the read timeout.
struct Dispatch {
    /// When this attempt began: a connection made before then waited in the pool.
    started: tokio::time::Instant,
    response: hyper_util::client::legacy::ResponseFuture,
    capture: CaptureConnection,
    dispatched: Option<(Dispatched, Active)>,
    sent: Arc<BodySent>,
    read_timeout: Option<Duration>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Dispatch {
    /// Notes the connection once hyper-util has chosen it (it says so before sending).
    fn watch_connection(&mut self) {
        if self.dispatched.is_some() {
            return;
        }
        let captured = self.capture.connection_metadata();
        let Some(connected) = captured.as_ref() else {
            return;
        };
        let mut extensions = http::Extensions::new();
        connected.get_extras(&mut extensions);
        drop(captured);
        if let Some(ConnHandle(state)) = extensions.remove::<ConnHandle>() {
            let reused = state.answered() > 0;
            let pooled = state.created() < self.started;
            let active = state.begin();
            self.dispatched = Some((
                Dispatched {
                    state,
                    reused,
                    pooled,
                },
                active,
            ));
        }
    }
}

impl Future for Dispatch {
    type Output = Result<(Response<hyper::body::Incoming>, Option<Active>, bool), Failure>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.response).poll(cx);
        this.watch_connection();
        match polled {
            Poll::Ready(Ok(response)) => {
                let (active, reused) = match this.dispatched.take() {
                    Some((d, active)) => {
                        d.state.record_answer(keep_alive_timeout(&response));
                        (Some(active), d.reused)
                    }
                    None => (None, false),
                };
                Poll::Ready(Ok((response, active, reused)))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(Failure::Error(e, this.dispatched.take()))),
            Poll::Pending => {
                let Some(period) = this.read_timeout else {
                    return Poll::Pending;
                };
                if this.dispatched.is_none() || !this.sent.is_set(cx) {
                    return Poll::Pending;
                }
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(period)));
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let (d, _active) = this.dispatched.take().expect("checked above");
                Poll::Ready(Err(Failure::Timeout(period, d)))
            }
        }
    }
}

/// The `timeout=` of an HTTP/1.1 response's `Keep-Alive` header, in seconds.
fn keep_alive_timeout<T>(response: &Response<T>) -> Option<u32> {
    if response.version() != http::Version::HTTP_11 {
        return None;
    }
    let value = response.headers().get("keep-alive")?.to_str().ok()?;
    value.split(',').find_map(|param| {
        let (name, secs) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("timeout") {
            return None;
        }
        secs.trim().trim_matches('"').parse().ok()
    })
}

impl Connector {
    /// A [`Client`] over this connector: hyper-util's pool, HTTP/2 PINGs on the keepalive
    /// schedule, and the re-send rules and stale-connection defences described there. Its
    /// settings are the [`Builder`](crate::Builder)'s (`pool_idle_timeout`, `read_timeout`,
    /// `max_resends`, `resend_buffer_size`, `silent_drop_timeout`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use keepalive_connector::{Connector, Keepalive};
    /// use std::time::Duration;
    /// let connector = Connector::builder()
    ///     .keepalive(Keepalive::new().idle(Duration::from_secs(15)))
    ///     .read_timeout(Duration::from_secs(60))
    ///     .build()?;
    /// let client = connector.client();
    /// # let _ = client; Ok(()) }
    /// ```
    pub fn client(&self) -> Client {
        Client {
            shared: Arc::new(Shared {
                pools: Pools::new(self),
                settings: self.config().client,
            }),
        }
    }

    /// hyper-util's own `Client` builder, set up for liveness from this connector's
    /// keepalive, to adjust further before `.build(connector.clone())`; for those who want
    /// the raw `Client` (no re-sends, no stale-connection defences: see [`Client`]):
    ///
    /// | setting | value | hyper-util's default | gRPC's default |
    /// |---|---|---|---|
    /// | executor, timers | tokio's (`TokioExecutor`, `TokioTimer` for HTTP/2 and the pool) | timers unset | |
    /// | HTTP/2 PING interval | keepalive `idle` (30 s by default) | off | off (client `keepalive_time` unset) |
    /// | HTTP/2 PING timeout | `interval × retries` (30 s by default) | 20 s | 20 s |
    /// | PINGs while no stream is open | off | off | off (`permit_without_stream` false) |
    /// | pool idle timeout | [`pool_idle_timeout`](crate::Builder::pool_idle_timeout) (90 s) | 90 s | |
    ///
    /// An HTTP/2 connection is so declared dead on the same schedule as TCP keepalive would
    /// declare the socket dead: after `idle` without a frame a PING goes out, and without its
    /// answer within `interval × retries` the connection is closed and every pending request
    /// and body read on it fails. Unlike TCP keepalive, the PING goes to the origin, through
    /// any proxy tunnel. PINGs go out only while a stream is open. With
    /// [`Keepalive::off()`](crate::Keepalive::off) there are none.
    ///
    /// gRPC servers refuse PINGs more frequent than every 5 minutes by default, **even with
    /// streams open**: after two such PINGs they close the connection with
    /// `GOAWAY ENHANCE_YOUR_CALM "too_many_pings"`, and every stream on it fails. A quiet
    /// gRPC stream through a client with the default 30 s schedule is so cut after about a
    /// minute and a half. A [`Client`] then pings that origin half as often on its next
    /// connections, and again after each further complaint (as grpc-go does), so the schedule
    /// settles within the server's limit; a raw hyper-util `Client` from this builder keeps
    /// its schedule. For gRPC, set the keepalive `idle` to the server's
    /// `permitted keepalive time` (5 minutes unless configured) or more.
    ///
    /// HTTP/1.1 has no PING: through a proxy, a dead origin behind a quiet HTTP/1.1 response
    /// is noticed only by a read timeout ([`Builder::read_timeout`](crate::Builder::read_timeout)
    /// with a [`Client`]).
    ///
    /// hyper-util's pool drops a connection idle for the pool idle timeout counted from its
    /// last checkout, even an HTTP/2 connection whose one long stream is still open; its
    /// PINGs then stop. A [`Client`] retires idle connections itself instead.
    pub fn client_builder(&self) -> ClientBuilder {
        let mut builder = self.liveness_builder(1);
        builder.pool_idle_timeout(self.config().client.pool_idle_timeout);
        builder
    }

    /// hyper-util's builder with tokio's executor and timers, and PINGs every keepalive idle
    /// time × `ping_scale`.
    pub(crate) fn liveness_builder(&self, ping_scale: u32) -> ClientBuilder {
        let keepalive = self.config().socket.keepalive;
        let mut builder = HyperClient::builder(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .http2_keep_alive_while_idle(false);
        if keepalive.is_enabled() {
            builder
                .http2_keep_alive_interval(keepalive.idle_duration().saturating_mul(ping_scale))
                .http2_keep_alive_timeout(keepalive.probe_time());
        } else {
            builder.http2_keep_alive_interval(None);
        }
        builder
    }
}

// What tower and multi-threaded runtimes rely on, checked at compile time.
#[allow(dead_code)]
const _ASSERT_BOUNDS: () = {
    const fn shared<T: Send + Sync + Clone + 'static>() {}
    const fn send<T: Send + 'static>() {}
    const fn unpin<T: Unpin>() {}
    const fn error<T: Send + Sync + std::error::Error + 'static>() {}
    shared::<Client>();
    shared::<RequestBody>();
    send::<ResponseBody>();
    unpin::<ResponseBody>();
    send::<ResponseFuture>();
    send::<ResponseBody>();
    error::<ClientError>();
    shared::<RequestInfo>();
};

#[cfg(test)]
mod tests {
    use super::*;

    fn response(version: http::Version, keep_alive: Option<&str>) -> Response<()> {
        let mut r = Response::new(());
        *r.version_mut() = version;
        if let Some(v) = keep_alive {
            r.headers_mut().insert("keep-alive", v.parse().unwrap());
        }
        r
    }

    #[test]
    fn keep_alive_timeout_is_read_from_http1_responses_only() {
        use http::Version as V;
        assert_eq!(
            keep_alive_timeout(&response(V::HTTP_11, Some("timeout=5"))),
            Some(5)
        );
        assert_eq!(
            keep_alive_timeout(&response(V::HTTP_11, Some("max=100, Timeout = 3"))),
            Some(3)
        );
        assert_eq!(
            keep_alive_timeout(&response(V::HTTP_11, Some("max=100"))),
            None
        );
        assert_eq!(
            keep_alive_timeout(&response(V::HTTP_11, Some("timeout=abc"))),
            None
        );
        assert_eq!(keep_alive_timeout(&response(V::HTTP_11, None)), None);
        assert_eq!(
            keep_alive_timeout(&response(V::HTTP_2, Some("timeout=5"))),
            None
        );
    }

    #[test]
    fn requests_hyper_util_would_refuse_are_refused_first() {
        let parts = |uri: &str, version, method| {
            let mut req = Request::new(());
            *req.uri_mut() = uri.parse().unwrap();
            *req.version_mut() = version;
            *req.method_mut() = method;
            req.into_parts().0
        };
        use http::{Method as M, Version as V};
        assert!(check(&parts("https://a.example/", V::HTTP_11, M::GET)).is_ok());
        assert!(check(&parts("http://a.example/", V::HTTP_10, M::GET)).is_ok());
        assert!(check(&parts("/relative", V::HTTP_11, M::GET)).is_err());
        assert!(check(&parts("https://a.example/", V::HTTP_09, M::GET)).is_err());
        assert!(check(&parts("https://a.example/", V::HTTP_3, M::GET)).is_err());
        assert!(check(&parts("http://a.example/", V::HTTP_10, M::CONNECT)).is_err());
    }

    #[test]
    fn messages_name_the_origin_without_path_query_or_user_info() {
        let uri: Uri = "https://user:secret@api.example.com/v1/x?key=abc"
            .parse()
            .unwrap();
        assert_eq!(&*origin_label(&uri), "https://api.example.com:443");
        let uri: Uri = "http://127.0.0.1:8080/".parse().unwrap();
        assert_eq!(&*origin_label(&uri), "http://127.0.0.1:8080");
    }
}
