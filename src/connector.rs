//! [`Connector`]: the connect path, route → dial (DNS, sockets, TCP) → tunnel (proxies) →
//! secure (TLS) → the last stage and the kernel read-back, and its `Service<Uri>` for
//! hyper-util's `Client`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Uri;
use rustls::pki_types::ServerName;
use socket2::SockRef;
use tokio::time::Instant;
use tracing::{debug, Instrument};

use crate::builder::Builder;
use crate::client::settings::ClientSettings;
use crate::deadline::deadline_after;
use crate::dial::{self, DialConfig, Dialed};
use crate::error::{ConnectError, Phase};
use crate::info::{ConnectInfo, Timings, TlsInfo};
use crate::origin::{InvalidOrigin, Origin};
use crate::proxy::{Decision, ProxyInfo, Route, Routes};
use crate::socket::{self, SocketPolicy, Stage};
use crate::stream::{Conn, Transport};
use crate::tls::{self, TlsSetup, TrustInfo};
use crate::tunnel::{self, TunnelSetup, TunnelStream, Way};

/// The validated configuration shared (behind an `Arc`) by every clone of a [`Connector`]: one
/// narrow piece per layer.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) socket: SocketPolicy,
    pub(crate) dial: DialConfig,
    pub(crate) routes: Routes,
    pub(crate) tunnel: TunnelSetup,
    pub(crate) tls: TlsSetup,
    pub(crate) client: ClientSettings,
}

/// Connects to `http://` and `https://` URIs with keepalive applied at a chosen [`Stage`], and
/// reports what happened in a [`ConnectInfo`].
///
/// Cloning is cheap: clones share one validated configuration (and one TLS session cache)
/// behind an `Arc`. Use it as a hyper-util `Client`'s connector, or call
/// [`connect`](Connector::connect) and hand the [`Conn`] to a codec yourself.
///
/// ```no_run
/// use http_body_util::Empty;
/// use hyper_util::client::legacy::Client;
/// use hyper_util::rt::TokioExecutor;
/// use keepalive_connector::{ConnectInfo, Connector};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let connector = Connector::builder().build()?;
/// let client = Client::builder(TokioExecutor::new())
///     .build::<_, Empty<bytes::Bytes>>(connector);
/// let resp = client.get("https://example.com/".parse()?).await?;
/// let info = resp.extensions().get::<ConnectInfo>().expect("set by the connector");
/// println!("tls took {:?}", info.timings().tls());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Connector {
    config: Arc<Config>,
}

impl Connector {
    /// A [`Builder`] with the [defaults](Builder#defaults).
    pub fn builder() -> Builder {
        Builder::new()
    }

    pub(crate) fn from_config(config: Config) -> Self {
        Connector {
            config: Arc::new(config),
        }
    }

    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// The rustls configuration every connection shares (with its ALPN list).
    pub fn tls_config(&self) -> &Arc<rustls::ClientConfig> {
        &self.config.tls.config
    }

    /// Which trust this connector verifies certificates with (of origins and `https://`
    /// proxies alike): what [`Builder::trust`] asked for, what is in force (webpki-roots after
    /// a fallback, and why), how many roots were added.
    ///
    /// ```
    /// use keepalive_connector::{Connector, Trust};
    /// let connector = Connector::builder().trust(Trust::WebpkiRoots).build()?;
    /// assert_eq!(connector.trust().in_force(), Some(Trust::WebpkiRoots));
    /// assert_eq!(connector.trust().to_string(), "webpki-roots");
    /// # Ok::<(), keepalive_connector::ConfigError>(())
    /// ```
    pub fn trust(&self) -> &TrustInfo {
        &self.config.tls.trust
    }

    /// Connects to `uri`'s host and port: resolves the name, connects, does the TLS handshake
    /// for `https`, applying socket options at their stages.
    pub async fn connect(&self, uri: &Uri) -> Result<Conn, ConnectError> {
        self.connect_origin(&parse_origin(uri)?).await
    }

    /// Runs only this connector's *secure* step (its shared rustls configuration, ALPN check
    /// and handshake timeout) over any byte stream: a tunnel through a proxy, or an in-memory
    /// stream in a test, verifying `origin`'s certificate. Returns the stream and what the
    /// handshake negotiated. Socket options and [`ConnectInfo`] do not apply, as there is no
    /// socket.
    ///
    /// ```
    /// # async fn demo() {
    /// use keepalive_connector::{Connector, Origin, Phase};
    /// let connector = Connector::builder().build().unwrap();
    /// let origin = Origin::from_uri(&"https://localhost/".parse().unwrap()).unwrap();
    /// let (client, _server) = tokio::io::duplex(4096);
    /// drop(_server); // the peer goes away at once
    /// let err = connector.tls_handshake(&origin, client).await.unwrap_err();
    /// assert_eq!(err.phase(), Phase::Tls);
    /// # }
    /// ```
    pub async fn tls_handshake<IO>(
        &self,
        origin: &Origin,
        io: IO,
    ) -> Result<(tokio_rustls::client::TlsStream<IO>, TlsInfo), ConnectError>
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let name =
            tls::server_name(origin.host(), origin.ip()).map_err(|e| bad_server_name(origin, e))?;
        tls::secure(&self.config.tls, name, io)
            .await
            .map_err(|e| e.with_host(origin.host()))
    }

    /// Runs only this connector's *tunnel* step for `origin` over any byte stream to the proxy
    /// its rules choose for `origin` (an in-memory stream in a test or a fuzzer, or a socket
    /// you dialed yourself), as [`connect`](Connector::connect) runs it: TLS to an `https://`
    /// proxy, then `CONNECT`, or SOCKS5; for an `http://` origin through an HTTP proxy,
    /// nothing is exchanged, and the stream forwards requests in absolute form
    /// ([`TunnelStream::is_forwarded`]). Returns the stream, ready for the origin's TLS
    /// ([`tls_handshake`](Connector::tls_handshake)), and the proxy; for a direct route, the
    /// stream as it was and `None`.
    ///
    /// Errors are [`Phase::Proxy`] (the `CONNECT` or SOCKS5 exchange within the connect
    /// timeout, the proxy's TLS within the handshake timeout), and name the proxy. For
    /// `socks5://` and an origin named by a name, the name is first resolved here (the first
    /// of its addresses is the one asked for: there is one stream, so one attempt), and that
    /// lookup fails as [`Phase::Dns`].
    pub async fn tunnel_handshake<IO>(
        &self,
        origin: &Origin,
        io: IO,
    ) -> Result<(TunnelStream<IO>, Option<ProxyInfo>), ConnectError>
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let cfg = &self.config;
        let way = Way::decide(&cfg.routes, &cfg.tunnel, origin);
        let deadline = deadline_after(Instant::now(), cfg.tunnel.connect_timeout());
        let tunneled = async {
            let targets = way.targets(&cfg.dial, deadline).await?;
            tunnel::open(&cfg.tunnel, &way, io, targets.current(), deadline).await
        }
        .await
        .map_err(|e| way.named(e))?;
        Ok((tunneled.stream, way.proxy().cloned()))
    }

    /// How this connector would reach `uri`: direct, through a proxy, or direct because a
    /// no-proxy rule exempts the host. Nothing is connected; the rules were read when the
    /// connector was built.
    ///
    /// ```
    /// use keepalive_connector::{Connector, Proxy, Route};
    /// let connector = Connector::builder()
    ///     .proxy(Proxy::https("http://proxy.corp:3128").no_proxy(".internal"))
    ///     .build()?;
    /// let route = |u: &str| connector.route(&u.parse().unwrap()).unwrap();
    /// assert!(matches!(route("https://example.com/"), Route::Proxy(p) if p.url() == "http://proxy.corp:3128/"));
    /// assert!(matches!(route("https://api.internal/"), Route::NoProxy(_)));
    /// assert_eq!(route("http://example.com/"), Route::Direct);
    /// # Ok::<(), keepalive_connector::ConfigError>(())
    /// ```
    pub fn route(&self, uri: &Uri) -> Result<Route, ConnectError> {
        let origin = parse_origin(uri)?;
        Ok(match self.config.routes.decide(&origin) {
            Decision::Direct => Route::Direct,
            Decision::Proxy(p) => Route::Proxy(ProxyInfo::new(p)),
            Decision::NoProxy(p) => Route::NoProxy(ProxyInfo::new(p)),
        })
    }

    /// Connects to an already parsed [`Origin`].
    pub async fn connect_origin(&self, origin: &Origin) -> Result<Conn, ConnectError> {
        let span = tracing::debug_span!("connect", host = origin.host(), port = origin.port());
        let start = Instant::now();
        connect(&self.config, origin)
            .instrument(span)
            .await
            .map_err(|e| match e.phase() {
                Phase::Uri => e,
                _ => e.with_elapsed(start.elapsed()),
            })
    }
}

/// `uri` as an [`Origin`], or a [`Phase::Uri`] error.
fn parse_origin(uri: &Uri) -> Result<Origin, ConnectError> {
    Origin::from_uri(uri).map_err(|e| {
        let err = ConnectError::new(Phase::Uri).with_uri(uri).with_source(e);
        match uri.host() {
            // Unbracketed, as `Origin::host` and every other phase's errors have it.
            Some(host) => err.with_host(host.trim_start_matches('[').trim_end_matches(']')),
            None => err,
        }
    })
}

/// `origin`'s host is no name TLS can verify: a [`Phase::Uri`] error.
fn bad_server_name(origin: &Origin, e: InvalidOrigin) -> ConnectError {
    ConnectError::new(Phase::Uri)
        .with_host(origin.host())
        .with_source(e)
}

/// The connect path, layer by layer: route → dial → tunnel → secure, then the last stage and
/// the kernel read-back on the dialed socket. Every error names the proxy of a route through
/// one.
async fn connect(cfg: &Config, origin: &Origin) -> Result<Conn, ConnectError> {
    // Checked before any network work, so a host rustls cannot verify fails fast as Phase::Uri.
    let server_name = origin
        .server_name()
        .transpose()
        .map_err(|e| bad_server_name(origin, e))?;
    let start = Instant::now();
    let way = Way::decide(&cfg.routes, &cfg.tunnel, origin);
    reach(cfg, &way, server_name, start)
        .await
        .map_err(|e| way.named(e))
}

/// Dials the way's endpoint and runs the tunnel step over it (again, with a new socket, for
/// each address a `socks5://` proxy cannot reach), then the origin's TLS, the last stage and
/// the read-back.
async fn reach(
    cfg: &Config,
    way: &Way<'_>,
    server_name: Option<ServerName<'static>>,
    start: Instant,
) -> Result<Conn, ConnectError> {
    let deadline = deadline_after(start, cfg.dial.connect_timeout);
    let mut targets = way.targets(&cfg.dial, deadline).await?;
    let to = way.endpoint();
    let (dialed, tunneled) = loop {
        let Dialed {
            stream,
            facts: dialed,
        } = dial::dial(&cfg.dial, &cfg.socket, to, start).await?;
        let addr = dialed.remote_addr;
        match tunnel::open(&cfg.tunnel, way, stream, targets.current(), deadline).await {
            Ok(tunneled) => break (dialed, tunneled),
            Err(e) => targets.next_after(e.with_addr(addr), &cfg.dial, way.origin())?,
        }
    };
    let remote_addr = dialed.remote_addr;

    let (transport, tls) = match server_name {
        None => (Transport::Plain(tunneled.stream), None),
        Some(name) => {
            let tls_start = Instant::now();
            let (stream, info) = tls::secure(&cfg.tls, name, tunneled.stream)
                .instrument(tracing::debug_span!("tls"))
                .await
                .map_err(|e| e.with_host(way.origin().host()).with_addr(remote_addr))?;
            let tls_time = tls_start.elapsed();
            debug!(?tls_time, version = ?info.version(), alpn = ?info.alpn().map(String::from_utf8_lossy), "tls handshake done");
            (Transport::Tls(Box::new(stream)), Some((info, tls_time)))
        }
    };

    let tcp = transport.tcp();
    // A connection lost under these options is reported in the phase that just ended.
    let now = match (&tls, way.proxy()) {
        (Some(_), _) => Phase::Tls,
        (None, Some(_)) => Phase::Proxy,
        (None, None) => Phase::Connect,
    };
    let socket_err =
        |e| ConnectError::socket(Stage::AfterHandshake, now, remote_addr, e).with_host(to.host);
    socket::apply(&cfg.socket, Stage::AfterHandshake, SockRef::from(tcp)).map_err(socket_err)?;
    let readback = socket::read_back(&cfg.socket, SockRef::from(tcp)).map_err(socket_err)?;
    let local_addr = tcp.local_addr().map_err(|e| {
        ConnectError::new(Phase::Connect)
            .with_host(to.host)
            .with_addr(remote_addr)
            .with_source(e)
    })?;
    debug!(keepalive = ?readback.keepalive, nodelay = readback.nodelay, "socket options read back");

    let (tls, tls_time) = tls.unzip();
    let h2 = cfg.tls.http.is_h2(tls.as_ref());
    let info = ConnectInfo {
        remote_addr,
        local_addr,
        timings: Timings {
            dns: dialed.dns,
            connect: dialed.connect,
            proxy: tunneled.time,
            tls: tls_time,
            total: start.elapsed(),
        },
        attempts: dialed.attempts.into(),
        dns_from_cache: dialed.dns_from_cache,
        tls,
        keepalive: readback.keepalive,
        nodelay: readback.nodelay,
        tcp_user_timeout: readback.tcp_user_timeout,
        proxy: way.proxy().cloned(),
    };
    Ok(Conn::new(transport, info, h2))
}

/// The future of [`Connector`]'s `Service::call`: the [`Conn`], or why there is none. A type of
/// its own (as hyper-util's `HttpConnecting`), so what it holds can change without breaking
/// code that names it.
#[must_use = "futures do nothing unless polled"]
pub struct Connecting(Pin<Box<dyn Future<Output = Result<Conn, ConnectError>> + Send>>);

impl Connecting {
    pub(crate) fn new(
        future: impl Future<Output = Result<Conn, ConnectError>> + Send + 'static,
    ) -> Self {
        Connecting(Box::pin(future))
    }
}

impl Future for Connecting {
    type Output = Result<Conn, ConnectError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

impl std::fmt::Debug for Connecting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Connecting")
    }
}

impl tower_service::Service<Uri> for Connector {
    type Response = Conn;
    type Error = ConnectError;
    type Future = Connecting;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Connecting::new(async move { this.connect(&uri).await })
    }
}

// What hyper-util's `Client` and multi-threaded runtimes rely on, checked at compile time.
#[allow(dead_code)]
const _ASSERT_BOUNDS: () = {
    const fn shared<T: Send + Sync + Clone + 'static>() {}
    const fn conn<T: Send + Unpin + 'static>() {}
    const fn error<T: Send + Sync + std::error::Error + 'static>() {}
    const fn future<T: Send + Unpin>() {}
    shared::<Connector>();
    shared::<ConnectInfo>();
    conn::<Conn>();
    error::<ConnectError>();
    future::<Connecting>();
};
