//! [`Connector`]: the connect path DNS → socket → TCP → TLS, and its `Service<Uri>` for
//! hyper-util's `Client`.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use socket2::SockRef;
use tokio::time::Instant;
use tracing::{debug, Instrument};

use crate::builder::Builder;
use crate::client::settings::ClientSettings;
use crate::deadline::deadline_after;
use crate::dial::{self, Attempt, DialConfig, Dialed, Endpoint};
use crate::error::{ConnectError, Phase};
use crate::info::{ConnectInfo, Timings, TlsInfo};
use crate::origin::Origin;
use crate::proxy::forward::Forward;
use crate::proxy::{Decision, ProxyAuth, ProxyInfo, ProxyKind, ProxyTarget, Route, Routes};
use crate::socket::{self, SocketPolicy, Stage};
use crate::stream::{Conn, Transport, Tunneled};
use crate::tls::{self, TlsSetup, TrustInfo};
use crate::tunnel::{self, TunnelSetup, TunnelStream};

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
        let name = tls::server_name(origin)?;
        tls::secure(&self.config.tls, name, io)
            .await
            .map_err(|e| e.with_host(origin.host()))
    }

    /// Runs only this connector's *tunnel* step for `origin` over any byte stream to the proxy
    /// its rules choose for `origin` (an in-memory stream in a test or a fuzzer, or a socket
    /// you dialed yourself): TLS to an `https://` proxy, then `CONNECT`, or SOCKS5. Returns the
    /// stream, ready for the origin's TLS ([`tls_handshake`](Connector::tls_handshake)), and
    /// the proxy; for a direct route, the stream as it was and `None`. Errors are
    /// [`Phase::Proxy`], within the connect timeout.
    pub async fn tunnel_handshake<IO>(
        &self,
        origin: &Origin,
        io: IO,
    ) -> Result<(TunnelStream<IO>, Option<ProxyInfo>), ConnectError>
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let proxy = match self.config.routes.decide(origin) {
            Decision::Proxy(proxy) => proxy,
            Decision::Direct | Decision::Exempt(_) => return Ok((TunnelStream::Plain(io), None)),
        };
        let budget = self.config.dial.connect_timeout;
        let deadline = deadline_after(Instant::now(), budget);
        let info = ProxyInfo::new(Arc::clone(&proxy));
        // One stream, so one address: the first of the origin's (see `connect` for the rest).
        let socks_addr = match (proxy.kind, origin.ip()) {
            (ProxyKind::Socks5, None) => {
                dial::addresses(&self.config.dial, origin.host(), origin.port(), deadline)
                    .await
                    .map_err(|e| e.with_proxy(info.clone()))?
                    .usable()
                    .first()
                    .copied()
            }
            _ => None,
        };
        let stream = tunnel::tunnel(
            &self.config.tunnel,
            &proxy,
            io,
            origin,
            false,
            socks_addr,
            deadline,
            budget,
        )
        .await
        .map_err(|e| e.with_proxy(info.clone()))?;
        Ok((stream, Some(info)))
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
            Decision::Exempt(p) => Route::NoProxy(ProxyInfo::new(p)),
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

/// The connect path, layer by layer: route → dial → tunnel → secure, then the last stage and
/// the kernel read-back on the dialed socket.
async fn connect(cfg: &Config, origin: &Origin) -> Result<Conn, ConnectError> {
    // Checked before any network work, so a host rustls cannot verify fails fast as Phase::Uri.
    let server_name = origin
        .is_tls()
        .then(|| tls::server_name(origin))
        .transpose()?;
    let start = Instant::now();

    // Where the socket goes: the origin, or the proxy the rules choose for it.
    let proxy = match cfg.routes.decide(origin) {
        Decision::Proxy(proxy) => Some(proxy),
        Decision::Direct | Decision::Exempt(_) => None,
    };
    let proxy_info = proxy.as_ref().map(|p| ProxyInfo::new(Arc::clone(p)));
    let named = |e: ConnectError| match &proxy_info {
        Some(info) => e.with_proxy(info.clone()),
        None => e,
    };
    let to = match &proxy {
        Some(p) => Endpoint {
            host: &p.host,
            ip: p.ip,
            port: p.port,
        },
        None => Endpoint {
            host: origin.host(),
            ip: origin.ip(),
            port: origin.port(),
        },
    };
    // `socks5://` asks the proxy for one of the origin's addresses, resolved here through the
    // dial layer (its resolver, DNS cache and family), and for the next one while the proxy
    // answers that it cannot reach the address (a dial tries the next address likewise).
    let socks = match &proxy {
        Some(p) if p.kind == ProxyKind::Socks5 && origin.ip().is_none() => {
            let deadline = deadline_after(start, cfg.dial.connect_timeout);
            let addrs = dial::addresses(&cfg.dial, origin.host(), origin.port(), deadline)
                .instrument(tracing::debug_span!("dns", origin = origin.host()))
                .await
                .map_err(named)?;
            Some(addrs)
        }
        _ => None,
    };
    let socks_addrs = socks.as_ref().map_or(&[][..], |a| a.usable());
    let mut tried = 0;
    let Hop {
        stream,
        remote_addr,
        attempts,
        dns,
        dns_from_cache,
        connect,
        proxy_time,
        forwarded,
    } = loop {
        let socks_addr = socks_addrs.get(tried).copied();
        tried += 1;
        match hop(cfg, origin, proxy.as_deref(), to, start, socks_addr).await {
            Ok(hop) => break hop,
            Err(e) if tunnel::is_unreachable_via_socks(&e) => {
                if tried < socks_addrs.len() {
                    debug!(?socks_addr, "the proxy cannot reach this address: the next");
                    continue;
                }
                if let Some(addrs) = &socks {
                    dial::forget_unreachable(&cfg.dial, origin.host(), origin.port(), addrs);
                }
                return Err(named(e));
            }
            Err(e) => return Err(named(e)),
        }
    };

    let host = origin.host();
    let (transport, tls) = match server_name {
        None => (Transport::Plain(stream), None),
        Some(name) => {
            let tls_start = Instant::now();
            let (stream, info) = tls::secure(&cfg.tls, name, stream)
                .instrument(tracing::debug_span!("tls"))
                .await
                .map_err(|e| named(e.with_host(host).with_addr(remote_addr)))?;
            let tls_time = tls_start.elapsed();
            debug!(?tls_time, version = ?info.version(), alpn = ?info.alpn().map(String::from_utf8_lossy), "tls handshake done");
            (Transport::Tls(Box::new(stream)), Some((info, tls_time)))
        }
    };

    let tcp = transport.tcp();
    // A connection lost under these options is reported in the phase that just ended.
    let now = match (&tls, &proxy) {
        (Some(_), _) => Phase::Tls,
        (None, Some(_)) => Phase::Proxy,
        (None, None) => Phase::Connect,
    };
    let socket_err = |e| {
        named(ConnectError::socket(Stage::AfterHandshake, now, remote_addr, e).with_host(to.host))
    };
    socket::apply(&cfg.socket, Stage::AfterHandshake, SockRef::from(tcp)).map_err(socket_err)?;
    let readback = socket::read_back(&cfg.socket, SockRef::from(tcp)).map_err(socket_err)?;
    let local_addr = tcp.local_addr().map_err(|e| {
        named(
            ConnectError::new(Phase::Connect)
                .with_host(to.host)
                .with_addr(remote_addr)
                .with_source(e),
        )
    })?;
    debug!(keepalive = ?readback.keepalive, nodelay = readback.nodelay, "socket options read back");

    let (tls, tls_time) = tls.unzip();
    let h2 = cfg.tls.http.is_h2(tls.as_ref());
    let info = ConnectInfo {
        remote_addr,
        local_addr,
        timings: Timings {
            dns,
            connect,
            proxy: proxy_time,
            tls: tls_time,
            total: start.elapsed(),
        },
        attempts: attempts.into(),
        dns_from_cache,
        tls,
        keepalive: readback.keepalive,
        nodelay: readback.nodelay,
        tcp_user_timeout: readback.tcp_user_timeout,
        proxy: proxy_info,
    };
    Ok(Conn::new(transport, info, h2, forwarded))
}

/// One way to the origin: a dialed socket and, through a proxy, the tunnel step over it.
struct Hop {
    stream: Tunneled,
    remote_addr: SocketAddr,
    attempts: Vec<Attempt>,
    dns: Option<Duration>,
    dns_from_cache: bool,
    connect: Duration,
    proxy_time: Option<Duration>,
    forwarded: bool,
}

/// Dials `to` (the origin, or the proxy) and, through `proxy`, runs the tunnel step: for
/// `socks5://`, to `socks_addr`. The connect timeout counts from `start`.
async fn hop(
    cfg: &Config,
    origin: &Origin,
    proxy: Option<&ProxyTarget>,
    to: Endpoint<'_>,
    start: Instant,
    socks_addr: Option<SocketAddr>,
) -> Result<Hop, ConnectError> {
    let Dialed {
        stream,
        remote_addr,
        attempts,
        dns,
        dns_from_cache,
        connect,
    } = dial::dial(&cfg.dial, &cfg.socket, to, start).await?;
    let (stream, proxy_time, forwarded) = match proxy {
        None => (Forward::plain(TunnelStream::Plain(stream)), None, false),
        Some(p) => {
            let forward = tunnel::forwards(p, origin, cfg.tls.http.is_h2(None));
            let tunnel_start = Instant::now();
            let budget = cfg.dial.connect_timeout;
            let stream = tunnel::tunnel(
                &cfg.tunnel,
                p,
                stream,
                origin,
                forward,
                socks_addr,
                deadline_after(start, budget),
                budget,
            )
            .instrument(tracing::debug_span!("proxy", proxy = %p.url, kind = %p.kind))
            .await
            .map_err(|e| e.with_addr(remote_addr))?;
            let proxy_time = tunnel_start.elapsed();
            debug!(?proxy_time, forward, "proxy tunnel ready");
            let stream = if forward {
                // Requests go to the proxy in absolute form: each head gets the credentials
                // and loses the target's user info on its way (`proxy::forward`).
                let auth = match &p.auth {
                    ProxyAuth::Basic(value) => Some(value.clone()),
                    _ => None,
                };
                Forward::forwarding(stream, auth)
            } else {
                Forward::plain(stream)
            };
            (stream, Some(proxy_time), forward)
        }
    };
    Ok(Hop {
        stream,
        remote_addr,
        attempts,
        dns,
        dns_from_cache,
        connect,
        proxy_time,
        forwarded,
    })
}

/// The future of [`Connector`]'s `Service::call`.
pub type Connecting = Pin<Box<dyn Future<Output = Result<Conn, ConnectError>> + Send>>;
impl tower_service::Service<Uri> for Connector {
    type Response = Conn;
    type Error = ConnectError;
    type Future = Connecting;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.connect(&uri).await })
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
