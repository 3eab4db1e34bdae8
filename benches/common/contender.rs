//! The contenders and what they connect to: [`Contender`], [`Target`], [`Client`] (each
//! contender through its own public API) and [`Stream`] (any contender's connection, usable by
//! hyper's codecs).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder, MaybeHttpsStream};
use hyper_util::client::legacy::connect::{Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use keepalive_connector::{Builder, Conn, Connector, Keepalive, Stage};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tower_service::Service;

use super::names;

/// Who connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Contender {
    /// `TcpStream::connect` + `TlsConnector::connect`: the least this stack can do.
    Floor,
    /// hyper-util's `HttpConnector` under hyper-rustls, as their docs build it.
    AnchorDefault,
    /// The same with `set_nodelay(true)`: the anchor at our socket settings.
    AnchorNodelay,
    /// Our connector with keepalive applied at this stage.
    Ours(Stage),
    /// Our connector at the anchor's settings: keepalive off, and no connect or handshake
    /// timeout (hyper-util's `HttpConnector` has no connect timeout by default, hyper-rustls no
    /// handshake timeout at all), so neither side runs a timer.
    OursOff,
}

impl Contender {
    /// Every contender, in the order the benchmarks run them.
    pub(crate) const ALL: [Contender; 7] = [
        Contender::Floor,
        Contender::AnchorDefault,
        Contender::AnchorNodelay,
        Contender::Ours(Stage::BeforeConnect),
        Contender::Ours(Stage::AfterConnect),
        Contender::Ours(Stage::AfterHandshake),
        Contender::OursOff,
    ];

    /// The criterion function name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Contender::Floor => names::FLOOR,
            Contender::AnchorDefault => names::ANCHOR_DEFAULT,
            Contender::AnchorNodelay => names::ANCHOR_NODELAY,
            Contender::Ours(Stage::BeforeConnect) => names::OURS_BEFORE_CONNECT,
            Contender::Ours(Stage::AfterConnect) => names::OURS_AFTER_CONNECT,
            Contender::Ours(Stage::AfterHandshake) => names::OURS_AFTER_HANDSHAKE,
            // `Stage` is non-exhaustive: a stage added later gets a name before it is benched.
            Contender::Ours(_) => "ours/unnamed-stage",
            Contender::OursOff => names::OURS_KEEPALIVE_OFF,
        }
    }
}

/// Where to connect, in the forms each contender takes.
#[derive(Debug)]
pub(crate) struct Target {
    /// For the anchor and ours.
    pub(crate) uri: Uri,
    host: String,
    port: u16,
    addr: SocketAddr,
    by_name: bool,
    tls: bool,
    server_name: ServerName<'static>,
}

impl Target {
    /// The server at `addr` (on 127.0.0.1), by IP literal or as `localhost` when `by_name`.
    pub(crate) fn new(addr: SocketAddr, tls: bool, by_name: bool) -> Target {
        let scheme = if tls { "https" } else { "http" };
        let host = if by_name {
            "localhost".to_owned()
        } else {
            addr.ip().to_string()
        };
        let uri: Uri = format!("{scheme}://{host}:{}/", addr.port())
            .parse()
            .expect("a valid URI");
        let server_name = if by_name {
            ServerName::try_from(host.clone()).expect("localhost is a DNS name")
        } else {
            ServerName::IpAddress(addr.ip().into())
        };
        Target {
            uri,
            host,
            port: addr.port(),
            addr,
            by_name,
            tls,
            server_name,
        }
    }
}

/// A contender, built once per case and reused for every connection (cloned per connection in
/// the concurrency cases, as hyper-util's `Client` clones its connector per request).
#[derive(Clone)]
pub(crate) enum Client {
    /// `TcpStream::connect` (+ `TlsConnector::connect` for `https`).
    Floor {
        /// tokio-rustls's connector over the shared config.
        tls: TlsConnector,
        /// Whether to set `TCP_NODELAY` after connect: on only where a request follows, as
        /// the fastest possible client would.
        nodelay: bool,
    },
    /// hyper-rustls over hyper-util.
    Anchor(HttpsConnector<HttpConnector>),
    /// keepalive-connector.
    Ours(Connector),
}

impl Client {
    /// Builds `who` over `config` (ours through `tls_config`). `floor_nodelay` sets
    /// `TCP_NODELAY` on the floor's socket.
    pub(crate) fn new(who: Contender, config: &Arc<ClientConfig>, floor_nodelay: bool) -> Client {
        Client::with_ours(who, config, floor_nodelay, || {
            Connector::builder().tls_config(Arc::clone(config))
        })
    }

    /// [`Client::new`], ours starting from the builder `ours` makes (its trust settings).
    pub(crate) fn with_ours(
        who: Contender,
        config: &Arc<ClientConfig>,
        floor_nodelay: bool,
        ours: impl Fn() -> Builder,
    ) -> Client {
        match who {
            Contender::Floor => Client::Floor {
                tls: TlsConnector::from(Arc::clone(config)),
                nodelay: floor_nodelay,
            },
            Contender::AnchorDefault | Contender::AnchorNodelay => {
                // As in hyper-rustls's docs, with hyper-util's HttpConnector built by hand so its
                // options can be set.
                let mut http = HttpConnector::new();
                http.enforce_http(false);
                if who == Contender::AnchorNodelay {
                    http.set_nodelay(true);
                }
                // hyper-rustls refuses a config whose ALPN list is already set, and sets
                // ["h2", "http/1.1"] itself: the same list as the shared config.
                let mut tls = (**config).clone();
                tls.alpn_protocols.clear();
                Client::Anchor(
                    HttpsConnectorBuilder::new()
                        .with_tls_config(tls)
                        .https_or_http()
                        .enable_http1()
                        .enable_http2()
                        .wrap_connector(http),
                )
            }
            Contender::Ours(stage) => Client::Ours(
                ours()
                    .keepalive_at(stage)
                    .build()
                    .expect("a valid connector"),
            ),
            Contender::OursOff => Client::Ours(
                ours()
                    .keepalive(Keepalive::off())
                    .connect_timeout(Duration::MAX)
                    .handshake_timeout(Duration::MAX)
                    .build()
                    .expect("a valid connector"),
            ),
        }
    }

    /// One connection setup through the contender's own API. For the anchor and ours, that
    /// includes `Connection::connected()`, which hyper-util's `Client` calls on every new
    /// connection (the anchor's reads the peer and local addresses from the kernel there; ours
    /// clones the `ConnectInfo` it already has).
    pub(crate) async fn connect(&mut self, target: &Target) -> Stream {
        match self {
            Client::Floor { tls, nodelay } => {
                let tcp = if target.by_name {
                    TcpStream::connect((target.host.as_str(), target.port)).await
                } else {
                    TcpStream::connect(target.addr).await
                }
                .expect("floor: tcp connect");
                if *nodelay {
                    tcp.set_nodelay(true).expect("floor: TCP_NODELAY");
                }
                if target.tls {
                    let tls = tls
                        .connect(target.server_name.clone(), tcp)
                        .await
                        .expect("floor: tls handshake");
                    Stream::FloorTls(TokioIo::new(tls))
                } else {
                    Stream::FloorTcp(TokioIo::new(tcp))
                }
            }
            Client::Anchor(svc) => {
                std::future::poll_fn(|cx| svc.poll_ready(cx))
                    .await
                    .expect("anchor: ready");
                let stream = svc.call(target.uri.clone()).await.expect("anchor: connect");
                // hyper-util's Client asks every new connection what it is (HttpInfo, ALPN).
                std::hint::black_box(stream.connected());
                Stream::Anchor(stream)
            }
            Client::Ours(connector) => {
                let conn = connector.connect(&target.uri).await.expect("ours: connect");
                std::hint::black_box(conn.connected());
                Stream::Ours(conn)
            }
        }
    }
}

/// A connection of any contender. Dropping it resets the connection (`SO_LINGER` 0).
pub(crate) enum Stream {
    /// The floor's plain TCP.
    FloorTcp(TokioIo<TcpStream>),
    /// The floor's TLS.
    FloorTls(TokioIo<TlsStream<TcpStream>>),
    /// The anchor's stream.
    Anchor(MaybeHttpsStream<TokioIo<TcpStream>>),
    /// Ours.
    Ours(Conn),
}

impl Stream {
    /// The TCP socket underneath.
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Stream::FloorTcp(s) => s.inner(),
            Stream::FloorTls(s) => s.inner().get_ref().0,
            Stream::Anchor(MaybeHttpsStream::Http(s)) => s.inner(),
            Stream::Anchor(MaybeHttpsStream::Https(s)) => s.inner().get_ref().0.inner().inner(),
            Stream::Ours(c) => c.tcp(),
        }
    }

    /// The rustls connection, for `https`.
    pub(crate) fn tls(&self) -> Option<&ClientConnection> {
        match self {
            Stream::FloorTls(s) => Some(s.inner().get_ref().1),
            Stream::Anchor(MaybeHttpsStream::Https(s)) => Some(s.inner().get_ref().1),
            Stream::Ours(c) => c.tls(),
            _ => None,
        }
    }

    /// Whether ALPN chose `h2`, as each contender reports it.
    pub(crate) fn is_h2(&self) -> bool {
        match self {
            Stream::FloorTcp(_) => false,
            Stream::FloorTls(s) => s.inner().get_ref().1.alpn_protocol() == Some(b"h2"),
            Stream::Anchor(MaybeHttpsStream::Http(_)) => false,
            Stream::Anchor(MaybeHttpsStream::Https(s)) => {
                s.inner().get_ref().1.alpn_protocol() == Some(b"h2")
            }
            Stream::Ours(c) => c.is_h2(),
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let _ = socket2::SockRef::from(self.tcp()).set_linger(Some(Duration::ZERO));
    }
}

/// Forwards hyper's `Read` and `Write` to the variant's own implementation.
macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Stream::FloorTcp(s) => {
                let $s = Pin::new(s);
                $e
            }
            Stream::FloorTls(s) => {
                let $s = Pin::new(s);
                $e
            }
            Stream::Anchor(s) => {
                let $s = Pin::new(s);
                $e
            }
            Stream::Ours(s) => {
                let $s = Pin::new(s);
                $e
            }
        }
    };
}

impl hyper::rt::Read for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        each!(self, s => hyper::rt::Read::poll_read(s, cx, buf))
    }
}

impl hyper::rt::Write for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        each!(self, s => hyper::rt::Write::poll_write(s, cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        each!(self, s => hyper::rt::Write::poll_write_vectored(s, cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::FloorTcp(s) => hyper::rt::Write::is_write_vectored(s),
            Stream::FloorTls(s) => hyper::rt::Write::is_write_vectored(s),
            Stream::Anchor(s) => hyper::rt::Write::is_write_vectored(s),
            Stream::Ours(s) => hyper::rt::Write::is_write_vectored(s),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => hyper::rt::Write::poll_flush(s, cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => hyper::rt::Write::poll_shutdown(s, cx))
    }
}
