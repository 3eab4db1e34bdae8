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

use crate::config::{Builder, Config, HttpVersions, Stage};
use crate::error::{ConnectError, Phase};
use crate::info::{ConnectInfo, Timings};
use crate::stream::{Conn, Transport};
use crate::target::Target;
use crate::{dns, socket, tcp, tls};

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

    /// The rustls configuration every connection shares (with its ALPN list).
    pub fn tls_config(&self) -> &Arc<rustls::ClientConfig> {
        &self.config.tls
    }

    /// Connects to `uri`'s host and port: resolves the name, connects, does the TLS handshake
    /// for `https`, applying socket options at their stages.
    pub async fn connect(&self, uri: &Uri) -> Result<Conn, ConnectError> {
        let target = Target::from_uri(uri).map_err(|e| {
            let err = ConnectError::new(Phase::Uri).with_uri(uri).with_source(e);
            match uri.host() {
                // Unbracketed, as `Target::host` and every other phase's errors have it.
                Some(host) => err.with_host(host.trim_start_matches('[').trim_end_matches(']')),
                None => err,
            }
        })?;
        self.connect_target(&target).await
    }

    /// Runs only this connector's TLS step (its shared rustls configuration, ALPN check and
    /// handshake timeout) over any byte stream: a tunnel through a proxy, or an in-memory stream
    /// in a test. Socket options and [`ConnectInfo`] do not apply, as there is no socket.
    ///
    /// ```
    /// # async fn demo() {
    /// use keepalive_connector::{Connector, Phase, Target};
    /// let connector = Connector::builder().build().unwrap();
    /// let target = Target::from_uri(&"https://localhost/".parse().unwrap()).unwrap();
    /// let (client, _server) = tokio::io::duplex(4096);
    /// drop(_server); // the peer goes away at once
    /// let err = connector.tls_handshake(&target, client).await.unwrap_err();
    /// assert_eq!(err.phase(), Phase::Tls);
    /// # }
    /// ```
    pub async fn tls_handshake<IO>(
        &self,
        target: &Target,
        io: IO,
    ) -> Result<tokio_rustls::client::TlsStream<IO>, ConnectError>
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let host = target.host();
        let name = tls::server_name(host, target.ip())
            .map_err(|e| ConnectError::new(Phase::Uri).with_host(host).with_source(e))?;
        let (stream, _info) = tls::handshake(&self.config, name, io, host, None).await?;
        Ok(stream)
    }

    /// Connects to an already parsed [`Target`].
    pub async fn connect_target(&self, target: &Target) -> Result<Conn, ConnectError> {
        let span = tracing::debug_span!("connect", host = target.host(), port = target.port());
        let start = Instant::now();
        connect(&self.config, target)
            .instrument(span)
            .await
            .map_err(|e| match e.phase() {
                Phase::Uri => e,
                _ => e.with_elapsed(start.elapsed()),
            })
    }
}

async fn connect(cfg: &Config, target: &Target) -> Result<Conn, ConnectError> {
    let host = target.host();
    // Checked before any network work, so a host rustls cannot verify fails fast as Phase::Uri.
    let server_name = if target.is_tls() {
        Some(
            tls::server_name(host, target.ip())
                .map_err(|e| ConnectError::new(Phase::Uri).with_host(host).with_source(e))?,
        )
    } else {
        None
    };
    let start = Instant::now();
    // A `Duration::MAX` timeout means "no timeout": a deadline decades away, not an overflow.
    let deadline = start
        .checked_add(cfg.connect_timeout)
        .unwrap_or_else(|| start + Duration::from_secs(30 * 365 * 86_400));

    let (addrs, dns) = match target.ip() {
        Some(ip) => (vec![SocketAddr::new(ip, target.port())], None),
        None => {
            let addrs = dns::resolve(cfg, host, target.port(), deadline)
                .instrument(tracing::debug_span!("dns"))
                .await?;
            (addrs, Some(start.elapsed()))
        }
    };
    debug!(?addrs, ?dns, "resolved");

    let tcp_start = Instant::now();
    let (tcp, remote_addr, attempts) = tcp::connect(cfg, host, &addrs, deadline)
        .instrument(tracing::debug_span!("tcp"))
        .await?;
    let connect_time = tcp_start.elapsed();
    debug!(%remote_addr, ?connect_time, attempts, "connected");
    let stage_err = |stage: Stage| {
        move |e| {
            ConnectError::new(Phase::Socket)
                .with_host(host)
                .with_addr(remote_addr)
                .with_stage(stage)
                .with_source(e)
        }
    };
    socket::apply(cfg, Stage::AfterConnect, SockRef::from(&tcp))
        .map_err(stage_err(Stage::AfterConnect))?;

    let (transport, tls_info, tls_time, h2) = match server_name {
        None => (
            Transport::Plain(tcp),
            None,
            None,
            cfg.http == HttpVersions::Http2Only,
        ),
        Some(name) => {
            let tls_start = Instant::now();
            let (stream, info) = tls::handshake(cfg, name, tcp, host, Some(remote_addr))
                .instrument(tracing::debug_span!("tls"))
                .await?;
            let tls_time = tls_start.elapsed();
            let h2 = info.alpn.as_deref() == Some(b"h2");
            debug!(?tls_time, version = ?info.version, alpn = ?info.alpn.as_deref().map(String::from_utf8_lossy), "tls handshake done");
            (
                Transport::Tls(Box::new(stream)),
                Some(info),
                Some(tls_time),
                h2,
            )
        }
    };

    let tcp_ref = transport.tcp();
    socket::apply(cfg, Stage::AfterHandshake, SockRef::from(tcp_ref))
        .map_err(stage_err(Stage::AfterHandshake))?;
    let readback = socket::read_back(cfg.keepalive_at, SockRef::from(tcp_ref))
        .map_err(stage_err(Stage::AfterHandshake))?;
    let local_addr = tcp_ref.local_addr().map_err(|e| {
        ConnectError::new(Phase::Connect)
            .with_host(host)
            .with_addr(remote_addr)
            .with_source(e)
    })?;
    debug!(keepalive = ?readback.keepalive, nodelay = readback.nodelay, "socket options read back");

    let info = ConnectInfo {
        remote_addr,
        local_addr,
        timings: Timings {
            dns,
            connect: connect_time,
            tls: tls_time,
            total: start.elapsed(),
        },
        attempts,
        tls: tls_info,
        keepalive: readback.keepalive,
        nodelay: readback.nodelay,
        tcp_user_timeout: readback.tcp_user_timeout,
    };
    Ok(Conn::new(transport, info, h2))
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
