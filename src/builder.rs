//! The [`Builder`]: collects the settings of every layer and validates them once, in
//! [`Builder::build`]. Each layer's piece validates itself: the socket policy, the dial
//! settings (`dial::settings`, with their setters), TLS, the proxy rules, the client's settings
//! (`client::settings`, with theirs).

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use socket2::SockRef;

use crate::client::settings::ClientSettings;
use crate::connector::{Config, Connector};
use crate::dial::DialSettings;
use crate::error::ConfigError;
use crate::http_version::HttpVersions;
use crate::proxy::{Proxy, Routes};
use crate::socket::{Keepalive, SocketPolicy, Stage};
use crate::tls::{TlsOptions, Trust};
use crate::tunnel::TunnelSetup;

/// Builds a [`Connector`]. Every value is checked once, in [`build`](Builder::build).
///
/// # Defaults
///
/// | setting | default | OS option |
/// |---|---|---|
/// | [`keepalive`](Builder::keepalive) | on: 30 s idle, 10 s interval, 3 retries | `SO_KEEPALIVE`, `TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT` |
/// | [`keepalive_at`](Builder::keepalive_at) | [`Stage::AfterHandshake`] | |
/// | [`tcp_nodelay`](Builder::tcp_nodelay) | on, set before connect | `TCP_NODELAY` |
/// | `tcp_user_timeout` (Linux, Android, Fuchsia) | with keepalive on: `idle + interval × retries` (60 s; it also ends a connection whose peer keeps its window closed that long); off: unset | `TCP_USER_TIMEOUT` |
/// | [`local_address`](Builder::local_address) / [`local_addresses`](Builder::local_addresses) | any | `bind(2)`, after the `BeforeConnect` options and hook |
/// | [`ip_family`](Builder::ip_family) | both families | |
/// | [`send_buffer_size`](Builder::send_buffer_size) / [`recv_buffer_size`](Builder::recv_buffer_size) | kernel default | `SO_SNDBUF` / `SO_RCVBUF` |
/// | [`connect_timeout`](Builder::connect_timeout) | 10 s: one deadline for DNS, every connection attempt and a proxy's `CONNECT` or SOCKS5 exchange (TLS handshakes not counted) | |
/// | [`happy_eyeballs`](Builder::happy_eyeballs) | on: addresses interleaved by family and raced (RFC 8305) | |
/// | [`happy_eyeballs_delay`](Builder::happy_eyeballs_delay) | 250 ms between attempt starts | |
/// | [`dns_cache_ttl`](Builder::dns_cache_ttl) / [`dns_cache_capacity`](Builder::dns_cache_capacity) | answers kept 60 s, at most 256 names | |
/// | [`handshake_timeout`](Builder::handshake_timeout) | 10 s, for each TLS handshake (the origin's, an `https://` proxy's) | |
/// | HTTP versions | `h2` and `http/1.1` offered by ALPN | |
/// | [`trust`](Builder::trust) | [`Trust::Platform`]: the OS's verifier and store (Linux: the system's CA bundle, `SSL_CERT_FILE`, `SSL_CERT_DIR`), webpki-roots where there is none (a store those variables name that yields nothing fails `build()`); hostname verification on | |
/// | [`dns_resolver`](Builder::dns_resolver) | the system's (`getaddrinfo` on tokio's blocking pool) | |
/// | [`pool_idle_timeout`](Builder::pool_idle_timeout) | 90 s ([`Client`](crate::Client) only) | |
/// | [`read_timeout`](Builder::read_timeout) | none ([`Client`](crate::Client) only) | |
/// | [`max_resends`](Builder::max_resends) / [`resend_buffer_size`](Builder::resend_buffer_size) | 1 re-send, bodies up to 1 MiB kept ([`Client`](crate::Client) only) | |
/// | `silent_drop_timeout` (Linux, Android, Fuchsia) | 1 s ([`Client`](crate::Client) only) | `TCP_USER_TIMEOUT`, while a request is unacknowledged |
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
    /// The dial layer's settings (set in `dial::settings`).
    pub(crate) dial: DialSettings,
    tls: TlsOptions,
    proxies: Option<Vec<Proxy>>,
    /// The [`Client`](crate::Client)'s settings (set in `client::settings`).
    pub(crate) client: ClientSettings,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("socket", &self.socket)
            .field("dial", &self.dial)
            .field("handshake_timeout", &self.tls.handshake_timeout)
            .field("http", &self.tls.http)
            .field("proxies", &self.proxies)
            .field("client", &self.client)
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
            socket: SocketPolicy::default(),
            dial: DialSettings::default(),
            tls: TlsOptions::default(),
            proxies: None,
            client: ClientSettings::default(),
        }
    }

    /// Keepalive settings; [`Keepalive::off()`] turns keepalive off. Default: [`Keepalive::new()`]
    /// (30 s idle, 10 s interval, 3 probes). Sets `SO_KEEPALIVE`, `TCP_KEEPIDLE`,
    /// `TCP_KEEPINTVL` and `TCP_KEEPCNT` at the [`keepalive_at`](Builder::keepalive_at) stage;
    /// the same values set a [`Client`](crate::Client)'s HTTP/2 PINGs (one after `idle`
    /// without a frame, answered within `interval × retries`) and, by default,
    /// `TCP_USER_TIMEOUT`.
    ///
    /// Not called `tcp_keepalive` as in reqwest: there it takes the idle time alone and drives
    /// the socket option only, where this one setting drives TCP keepalive, HTTP/2 PINGs and the
    /// default `TCP_USER_TIMEOUT` together, so a `tcp_` name would undersell it (and the same
    /// name with another argument type would mislead code ported from reqwest).
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
    /// waits on Nagle's algorithm and the peer's delayed ACK. Default: on (hyper-util's
    /// `HttpConnector` defaults to off, which costs its first response about 40 ms). Named as
    /// reqwest names it.
    pub fn tcp_nodelay(mut self, nodelay: bool) -> Self {
        self.socket.nodelay = nodelay;
        self
    }

    /// Sets `TCP_USER_TIMEOUT`: how long sent data may stay unacknowledged before the kernel
    /// drops the connection. Applied at the keepalive stage. Whole milliseconds, not zero, at
    /// most [`MAX_TCP_USER_TIMEOUT`](Builder::MAX_TCP_USER_TIMEOUT).
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
    /// The cost: a peer that stops reading. Linux (as of 6.18) also bounds zero-window probing
    /// with the timeout, so a receive window held at zero for longer than it ends the
    /// connection with `ETIMEDOUT` although the peer answers every probe: an upload to a live
    /// server that stops reading it for a minute fails at the default. `tests/it/backpressure.rs`
    /// shows it on loopback: with the timeout at 3 s, the blocked write fails about 3 s after
    /// the window closed; with `tcp_user_timeout(None)` it keeps waiting, without error, and
    /// completes once the server reads again. The default stays, as
    /// noticing a vanished peer during an upload is what it is for and a server that reads
    /// nothing for a whole minute is rare; where one may (a slow consumer, a server that
    /// finishes other work before reading a body), set a longer timeout here or `None`.
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
        self.socket.user_timeout = crate::socket::UserTimeout::Chosen(timeout.into());
        self
    }

    /// Sets `SO_SNDBUF` before connect. Not zero, at most
    /// [`MAX_BUFFER_SIZE`](Builder::MAX_BUFFER_SIZE). Default: the kernel's. Linux doubles the
    /// value for its bookkeeping and caps it at `net.core.wmem_max` (socket(7)).
    pub fn send_buffer_size(mut self, bytes: usize) -> Self {
        self.socket.send_buffer_size = Some(bytes);
        self
    }

    /// Sets `SO_RCVBUF` before connect (it must be, for TCP window scaling to take it into
    /// account). Not zero, at most [`MAX_BUFFER_SIZE`](Builder::MAX_BUFFER_SIZE). Default: the
    /// kernel's. Linux doubles the value and caps it at `net.core.rmem_max` (socket(7)).
    pub fn recv_buffer_size(mut self, bytes: usize) -> Self {
        self.socket.recv_buffer_size = Some(bytes);
        self
    }

    /// Time allowed for each TLS handshake: the origin's, and an `https://` proxy's (which the
    /// [`connect_timeout`](Builder::connect_timeout) does not count). Default: 10 s. `Duration::MAX` means no timeout
    /// (hyper-rustls has none), and the handshake then runs without a timer.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.tls.handshake_timeout = timeout;
        self
    }

    /// Offer only `http/1.1` through ALPN.
    pub fn http1_only(mut self) -> Self {
        self.tls.http = HttpVersions::Http1Only;
        self
    }

    /// Offer only `h2` through ALPN, and fail the handshake phase if the server does not agree
    /// to it. Plain `http://` connections are then marked as HTTP/2 (prior knowledge). A
    /// [`tls_config`](Builder::tls_config) whose ALPN list lacks `h2`, or also offers
    /// `http/1.1` or `http/1.0`, is refused at [`build`](Builder::build)
    /// ([`Conflict::Http2OnlyButAlpnOffersHttp1`](crate::Conflict::Http2OnlyButAlpnOffersHttp1)).
    pub fn http2_only(mut self) -> Self {
        self.tls.http = HttpVersions::Http2Only;
        self
    }

    /// Where trust in server certificates comes from: the platform's verifier (the OS's store
    /// and policy; on Linux the system's CA bundle, `SSL_CERT_FILE` and `SSL_CERT_DIR`
    /// honoured), Mozilla's roots compiled in, or only the roots added here. See [`Trust`]
    /// for each, and [`Connector::trust`] for what [`build`](Builder::build) put in force.
    /// Default: [`Trust::Platform`], falling back to [`Trust::WebpkiRoots`] where the system
    /// has no CA store; a store that `SSL_CERT_FILE` or `SSL_CERT_DIR` names and that yields
    /// no certificate is an error of [`build`](Builder::build) instead
    /// ([`ConfigErrorReason::NoCertificate`](crate::ConfigErrorReason::NoCertificate)).
    ///
    /// ```
    /// use keepalive_connector::{Connector, Trust};
    /// # let ca_pem = keepalive_testserver::TestCa::new().cert_pem().to_owned();
    /// // A private CA, and nothing else.
    /// let connector = Connector::builder()
    ///     .trust(Trust::AddedRootsOnly)
    ///     .add_root_certificates_pem(ca_pem.as_bytes())
    ///     .build()?;
    /// assert_eq!(connector.trust().to_string(), "added-roots-only (1 root)");
    /// # Ok::<(), keepalive_connector::ConfigError>(())
    /// ```
    pub fn trust(mut self, trust: Trust) -> Self {
        self.tls.trust = Some(trust);
        self
    }

    /// Trusts the certificates in this PEM data (a private CA) on top of the
    /// [`trust`](Builder::trust) in force; with [`Trust::AddedRootsOnly`], they are the only
    /// roots. Parsed in [`build`](Builder::build), which fails if the data holds no
    /// certificate. Under [`Trust::Platform`], a chain to one of them is verified by webpki
    /// (no revocation check), before the platform's verifier is asked.
    pub fn add_root_certificates_pem(mut self, pem: &[u8]) -> Self {
        self.tls.extra_roots_pem.push(pem.to_vec());
        self
    }

    /// Uses this rustls configuration as it is, for full control (client certificates, custom
    /// verifiers, key logging). Its verifier is then the one used: a `dangerous()` verifier in it
    /// weakens verification. If its `alpn_protocols` is empty, the ALPN list of
    /// [`http1_only`](Builder::http1_only) / [`http2_only`](Builder::http2_only) is filled in;
    /// otherwise it is kept, and `build()` refuses a list that contradicts them. It wins over
    /// [`trust`](Builder::trust) and [`add_root_certificates_pem`](Builder::add_root_certificates_pem),
    /// which are then refused rather than silently ignored.
    ///
    /// It is also used with `https://` proxies (ALPN `http/1.1` there), except for its client
    /// certificate: that one names the client to the origin, and a proxy that asks for one is
    /// offered none.
    pub fn tls_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.tls.tls_config = Some(config);
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
    ///         if stage == Stage::BeforeConnect {
    ///             // IPTOS_LOWDELAY. An IPv4 option: an IPv6 socket may refuse it, and keeps
    ///             // its default. (socket2's `domain()` would tell, but on Unix only.)
    ///             let _ = sock.set_tos_v4(0x10);
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

    /// Checks every value and builds the [`Connector`]: each layer's piece in turn, so a
    /// [`Connector`] that exists is a valid one.
    pub fn build(self) -> Result<Connector, ConfigError> {
        self.socket.validate()?;
        let dial = self.dial.build()?;
        let tls = self.tls.build()?;
        self.client.validate()?;
        let routes = Routes::build(self.proxies.as_deref())?;
        let tunnel = TunnelSetup::new(&tls, &dial);
        Ok(Connector::from_config(Config {
            socket: self.socket,
            dial,
            routes,
            tunnel,
            tls,
            client: self.client,
        }))
    }
}
