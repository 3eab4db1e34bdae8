//! The [`Builder`]: collects the settings of every layer and validates them once, in
//! [`Builder::build`]. Each layer's piece (socket policy, dial, TLS) validates itself.

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use socket2::SockRef;

use crate::connector::{Config, Connector};
use crate::dial::{DialConfig, Resolve, SystemResolver};
use crate::error::{non_zero, ConfigError, ConfigField};
use crate::http_version::HttpVersions;
use crate::proxy::{Proxy, Routes};
use crate::socket::{Keepalive, SocketPolicy, Stage};
use crate::tls::{TlsOptions, TlsSetup};
use crate::tunnel::TunnelSetup;

/// Builds a [`Connector`]. Every value is checked once, in [`build`](Builder::build).
///
/// # Defaults
///
/// | setting | default | OS option |
/// |---|---|---|
/// | [`keepalive`](Builder::keepalive) | on: 30 s idle, 10 s interval, 3 retries | `SO_KEEPALIVE`, `TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT` |
/// | [`keepalive_at`](Builder::keepalive_at) | [`Stage::AfterHandshake`] | |
/// | [`nodelay`](Builder::nodelay) | on, set before connect | `TCP_NODELAY` |
/// | `tcp_user_timeout` (Linux, Android, Fuchsia) | with keepalive on: `idle + interval × retries` (60 s); off: unset | `TCP_USER_TIMEOUT` |
/// | [`local_address`](Builder::local_address) | any | `bind(2)` |
/// | [`send_buffer_size`](Builder::send_buffer_size) / [`recv_buffer_size`](Builder::recv_buffer_size) | kernel default | `SO_SNDBUF` / `SO_RCVBUF` |
/// | [`connect_timeout`](Builder::connect_timeout) | 10 s, DNS and TCP connect together | |
/// | [`handshake_timeout`](Builder::handshake_timeout) | 10 s | |
/// | HTTP versions | `h2` and `http/1.1` offered by ALPN | |
/// | trust store | webpki-roots (Mozilla's roots), hostname verification on | |
/// | resolver | the system's (`getaddrinfo` on tokio's blocking pool) | |
///
/// ```
/// use keepalive_connector::{Connector, Keepalive, Stage};
/// use std::time::Duration;
/// let connector = Connector::builder()
///     .keepalive(Keepalive::new().idle(Duration::from_secs(20)))
///     .keepalive_at(Stage::AfterConnect)
///     .connect_timeout(Duration::from_secs(5))
///     .build()?;
/// # Ok::<(), keepalive_connector::ConfigError>(())
/// ```
#[must_use]
pub struct Builder {
    socket: SocketPolicy,
    local_address: Option<IpAddr>,
    connect_timeout: Duration,
    resolver: Option<Arc<dyn Resolve>>,
    handshake_timeout: Duration,
    http: HttpVersions,
    tls: TlsOptions,
    proxies: Option<Vec<Proxy>>,
    /// `None`: the default (keepalive's budget when keepalive is on); `Some(None)`: unset.
    #[cfg_attr(not(tcp_user_timeout), allow(dead_code))]
    tcp_user_timeout: Option<Option<Duration>>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("socket", &self.socket)
            .field("local_address", &self.local_address)
            .field("connect_timeout", &self.connect_timeout)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("http", &self.http)
            .field("proxies", &self.proxies)
            .finish_non_exhaustive()
    }
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// A builder with the [defaults](Builder#defaults).
    pub fn new() -> Self {
        Builder {
            socket: SocketPolicy {
                keepalive: Keepalive::new(),
                keepalive_at: Stage::AfterHandshake,
                nodelay: true,
                tcp_user_timeout: None,
                send_buffer_size: None,
                recv_buffer_size: None,
                hook: None,
            },
            local_address: None,
            connect_timeout: Duration::from_secs(10),
            resolver: None,
            handshake_timeout: Duration::from_secs(10),
            http: HttpVersions::Both,
            tls: TlsOptions::default(),
            proxies: None,
            tcp_user_timeout: None,
        }
    }

    /// Keepalive settings; [`Keepalive::off()`] turns keepalive off. Default: [`Keepalive::new()`].
    pub fn keepalive(mut self, keepalive: Keepalive) -> Self {
        self.socket.keepalive = keepalive;
        self
    }

    /// The [`Stage`] at which keepalive (and `TCP_USER_TIMEOUT`) is applied.
    /// Default: [`Stage::AfterHandshake`].
    pub fn keepalive_at(mut self, stage: Stage) -> Self {
        self.socket.keepalive_at = stage;
        self
    }

    /// Sets `TCP_NODELAY` before connect, so that neither the TLS handshake nor the first request
    /// waits on Nagle's algorithm and the peer's delayed ACK. Default: on.
    pub fn nodelay(mut self, nodelay: bool) -> Self {
        self.socket.nodelay = nodelay;
        self
    }

    /// Sets `TCP_USER_TIMEOUT`: how long sent data may stay unacknowledged before the kernel
    /// drops the connection. Applied at the keepalive stage. Whole milliseconds, not zero.
    /// Linux, Android and Fuchsia only.
    ///
    /// Default: with keepalive on, the keepalive budget
    /// [`idle + interval × retries`](Keepalive::detection_time) (60 s by default), as grpc-go
    /// does; with [`Keepalive::off()`], unset (the kernel retransmits for about 15 minutes).
    /// A value set here wins either way; `None` leaves the kernel's default in place.
    ///
    /// Why on by default: keepalive alone does not cover a peer that vanishes while some of
    /// our data is still unacknowledged: the kernel sends no keepalive probes then, it
    /// retransmits. This happens in practice with HTTP/2, whose client acknowledges the
    /// server's SETTINGS just as a response starts, and with any upload. With the timeout at
    /// keepalive's own budget, a dead peer is noticed on the same schedule in both cases (and,
    /// as tcp(7) says, the timeout then also bounds keepalive's give-up time).
    ///
    /// ```
    /// # #[cfg(target_os = "linux")] {
    /// use keepalive_connector::{Connector, Keepalive};
    /// use std::time::Duration;
    /// let connector = Connector::builder()
    ///     .keepalive(Keepalive::new()) // 30 s + 10 s × 3 = 60 s by default
    ///     .tcp_user_timeout(Duration::from_secs(20)) // give up on unacknowledged data sooner
    ///     .build()?;
    /// # }
    /// # Ok::<(), keepalive_connector::ConfigError>(())
    /// ```
    #[cfg(tcp_user_timeout)]
    pub fn tcp_user_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.tcp_user_timeout = Some(timeout.into());
        self
    }

    /// Binds the socket to this local address before connecting (port chosen by the kernel).
    /// Only remote addresses of the same family are tried. Default: any.
    ///
    /// Binding to port 0 before connect makes Linux reserve an ephemeral port without knowing
    /// the destination, so all connections from one local address share one port range
    /// (about 28,000 by default) whatever their destination.
    pub fn local_address(mut self, addr: IpAddr) -> Self {
        self.local_address = Some(addr);
        self
    }

    /// Sets `SO_SNDBUF` before connect. Default: the kernel's. Linux doubles the value for its
    /// bookkeeping and caps it at `net.core.wmem_max` (socket(7)).
    pub fn send_buffer_size(mut self, bytes: usize) -> Self {
        self.socket.send_buffer_size = Some(bytes);
        self
    }

    /// Sets `SO_RCVBUF` before connect (it must be, for TCP window scaling to take it into
    /// account). Default: the kernel's. Linux doubles the value and caps it at
    /// `net.core.rmem_max` (socket(7)).
    pub fn recv_buffer_size(mut self, bytes: usize) -> Self {
        self.socket.recv_buffer_size = Some(bytes);
        self
    }

    /// Time allowed for name resolution and the TCP connect together. When a name resolves to
    /// several addresses, each attempt gets an equal share of what is left. Default: 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time allowed for the TLS handshake. Default: 10 s.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Offer only `http/1.1` through ALPN.
    pub fn http1_only(mut self) -> Self {
        self.http = HttpVersions::Http1Only;
        self
    }

    /// Offer only `h2` through ALPN, and fail the handshake phase if the server does not agree
    /// to it. Plain `http://` connections are then marked as HTTP/2 (prior knowledge).
    pub fn http2_only(mut self) -> Self {
        self.http = HttpVersions::Http2Only;
        self
    }

    /// Trusts the certificates in this PEM data (a private CA), in addition to the built-in
    /// roots. Parsed in [`build`](Builder::build), which fails if the data holds no certificate.
    pub fn add_root_certificates_pem(mut self, pem: &[u8]) -> Self {
        self.tls.extra_roots_pem.push(pem.to_vec());
        self
    }

    /// Whether to trust the built-in roots (webpki-roots, Mozilla's list). Turn off to trust
    /// only what [`add_root_certificates_pem`](Builder::add_root_certificates_pem) adds.
    /// Default: on.
    pub fn builtin_roots(mut self, enabled: bool) -> Self {
        self.tls.builtin_roots = enabled;
        self
    }

    /// Uses this rustls configuration as it is, for full control (client certificates, custom
    /// verifiers, key logging). Its verifier is then the one used: a `dangerous()` verifier in it
    /// weakens verification. If its `alpn_protocols` is empty, the ALPN list of
    /// [`http1_only`](Builder::http1_only) / [`http2_only`](Builder::http2_only) is filled in;
    /// otherwise it is kept, and `build()` refuses a list that contradicts them. Root-certificate
    /// settings of this builder are then refused.
    pub fn tls_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.tls.tls_config = Some(config);
        self
    }

    /// Resolves names with this resolver instead of the system's. See
    /// [`StaticResolver`](crate::StaticResolver) for a ready static map.
    pub fn resolver(mut self, resolver: impl Resolve) -> Self {
        self.resolver = Some(Arc::new(resolver));
        self
    }

    /// Calls `hook` at each [`Stage`], after that stage's own options were applied, so it sees
    /// them and can override them: at [`Stage::BeforeConnect`] once per socket (once per address
    /// tried), then once at each later stage. An error from the hook fails that attempt with
    /// [`Phase::Socket`](crate::Phase::Socket); at `BeforeConnect` the next resolved address, if
    /// any, is still tried (an option may only fail for one address family).
    ///
    /// ```
    /// use keepalive_connector::{Connector, Stage};
    /// let connector = Connector::builder()
    ///     .socket_hook(|stage, sock| {
    ///         if stage == Stage::BeforeConnect && sock.domain()? == socket2::Domain::IPV4 {
    ///             sock.set_tos_v4(0x10)?; // IPTOS_LOWDELAY
    ///         }
    ///         Ok(())
    ///     })
    ///     .build()?;
    /// # Ok::<(), keepalive_connector::ConfigError>(())
    /// ```
    pub fn socket_hook<F>(mut self, hook: F) -> Self
    where
        F: Fn(Stage, SockRef<'_>) -> io::Result<()> + Send + Sync + 'static,
    {
        self.socket.hook = Some(Arc::new(hook));
        self
    }

    /// Adds a proxy rule. Without any, the connector uses [`Proxy::from_env()`]: the
    /// environment's proxy variables and, on macOS and Windows, the system proxy settings. The
    /// first call replaces that default; later calls add rules, and the first rule that applies
    /// to a URL wins. [`Proxy::none()`] means always direct.
    ///
    /// Through a proxy, the socket options and every [`Stage`] act on the socket to the proxy
    /// (`AfterHandshake` comes after the origin's TLS handshake through the tunnel), so TCP
    /// keepalive watches the hop to the proxy only, not the proxy's own connection to the
    /// origin.
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.proxies.get_or_insert_with(Vec::new).push(proxy);
        self
    }

    /// Checks every value and builds the [`Connector`].
    pub fn build(mut self) -> Result<Connector, ConfigError> {
        #[cfg(tcp_user_timeout)]
        {
            self.socket.tcp_user_timeout = match self.tcp_user_timeout {
                Some(chosen) => chosen,
                // Checked below, so at most 32767 s + 32767 s × 127: capped to what Linux
                // takes (about 24.8 days).
                None if self.socket.keepalive.is_enabled() => Some(
                    self.socket
                        .keepalive
                        .detection_time()
                        .min(crate::socket::limits::MAX_USER_TIMEOUT),
                ),
                None => None,
            };
        }
        self.socket.validate()?;
        non_zero(ConfigField::ConnectTimeout, self.connect_timeout)?;
        non_zero(ConfigField::HandshakeTimeout, self.handshake_timeout)?;
        let tls = TlsSetup {
            config: self.tls.build(self.http)?,
            handshake_timeout: self.handshake_timeout,
            http: self.http,
        };
        let routes = Routes::build(self.proxies.as_deref())?;
        let dial = DialConfig {
            resolver: self
                .resolver
                .unwrap_or_else(|| Arc::new(SystemResolver::new())),
            local_address: self.local_address,
            connect_timeout: self.connect_timeout,
        };
        let tunnel = TunnelSetup {
            proxy_tls: tls.for_proxies(),
            resolver: Arc::clone(&dial.resolver),
        };
        Ok(Connector::from_config(Config {
            socket: self.socket,
            dial,
            routes,
            tunnel,
            tls,
        }))
    }
}
