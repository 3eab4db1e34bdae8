//! A hyper-util `Client` configured for liveness from the connector's own keepalive: HTTP/2
//! PINGs on the same schedule as TCP keepalive, so a dead origin is noticed also where TCP
//! keepalive cannot see it (behind a proxy, where it only watches the hop to the proxy).

use std::time::Duration;

use hyper::body::Body;
use hyper_util::client::legacy::{Builder as ClientBuilder, Client};
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::connector::Connector;

/// How long an idle pooled connection is kept before it is closed. hyper-util's default is
/// 90 s, Go's `IdleConnTimeout` 90 s: long enough for a NAT or load balancer on the way to
/// forget an idle flow silently (carrier-grade NATs and mobile networks drop idle TCP flows
/// after as little as 30 s, and a pooled connection's TCP keepalive only starts after `idle`),
/// and the next request on it then fails. 20 s is what the agent this crate comes from settled
/// on after such failures: under those timeouts, at the price of a new handshake after 20 idle
/// seconds.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(20);

impl Connector {
    /// A hyper-util `Client` over this connector, set up for liveness: see
    /// [`client_builder`](Connector::client_builder).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use http_body_util::Empty;
    /// use keepalive_connector::{Connector, Keepalive};
    /// use std::time::Duration;
    /// let connector = Connector::builder()
    ///     .keepalive(Keepalive::new().idle(Duration::from_secs(15)))
    ///     .build()?;
    /// let client = connector.client::<Empty<bytes::Bytes>>();
    /// # let _ = client; Ok(()) }
    /// ```
    pub fn client<B>(&self) -> Client<Connector, B>
    where
        B: Body + Send,
        B::Data: Send,
    {
        self.client_builder().build(self.clone())
    }

    /// A hyper-util `Client` builder set up for liveness from this connector's keepalive, to
    /// adjust further before `.build(connector.clone())`:
    ///
    /// | setting | value | hyper-util's default | gRPC's default |
    /// |---|---|---|---|
    /// | executor, timers | tokio's (`TokioExecutor`, `TokioTimer` for HTTP/2 and the pool) | timers unset | |
    /// | HTTP/2 PING interval | keepalive `idle` (30 s by default) | off | off (client `keepalive_time` unset) |
    /// | HTTP/2 PING timeout | `interval × retries` (30 s by default) | 20 s | 20 s |
    /// | PINGs while no stream is open | off | off | off (`permit_without_stream` false) |
    /// | pool idle timeout | [`POOL_IDLE_TIMEOUT`] (20 s) | 90 s | |
    ///
    /// An HTTP/2 connection is so declared dead on the same schedule as TCP keepalive would
    /// declare the socket dead: after `idle` without a frame a PING goes out, and without its
    /// answer within `interval × retries` the connection is closed and every pending request
    /// and body read on it fails. Unlike TCP keepalive, the PING goes to the origin, through
    /// any proxy tunnel. PINGs go out only while a stream is open: servers punish idle PINGs
    /// (gRPC answers frequent ones with `GOAWAY ENHANCE_YOUR_CALM "too_many_pings"`; hyper
    /// then closes the connection, requests in flight fail with that error, and the pool opens
    /// a new connection for the next request: no loop, since a connection without streams
    /// sends no PINGs). With [`Keepalive::off()`](crate::Keepalive::off) there are no PINGs
    /// either.
    ///
    /// HTTP/1.1 has no PING: through a proxy, a dead origin behind a quiet HTTP/1.1 response
    /// is noticed only by a read timeout of your own on the body (see
    /// `examples/body_timeout.rs`).
    pub fn client_builder(&self) -> ClientBuilder {
        let keepalive = self.config().socket.keepalive;
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .http2_keep_alive_while_idle(false);
        if keepalive.is_enabled() {
            builder
                .http2_keep_alive_interval(keepalive.idle_duration())
                .http2_keep_alive_timeout(keepalive.probe_time());
        } else {
            builder.http2_keep_alive_interval(None);
        }
        builder
    }
}
