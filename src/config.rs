//! Configuration: [`Keepalive`], [`Stage`], the [`Builder`] and its validation.

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use socket2::SockRef;

use crate::connector::Connector;
use crate::dns::{Resolve, SystemResolver};
use crate::error::{ConfigError, ConfigErrorReason};
use crate::socket::limits;

/// When, on the way from a fresh socket to a usable connection, the keepalive options (and
/// `TCP_USER_TIMEOUT`) are applied.
///
/// No stage changes a packet on the wire until the connection has been idle for `idle`: the
/// kernel arms the keepalive timer only once the connection is established, so on Linux
/// keepalive set before connect and right after connect behave the same. The stages differ in
/// what keepalive covers and in when `TCP_USER_TIMEOUT` (which does bound the SYN retries when
/// set before connect) and the socket hook's changes take effect:
///
/// | stage | covered by keepalive | trade-off |
/// |---|---|---|
/// | [`BeforeConnect`](Stage::BeforeConnect) | the TLS handshake and everything after | what a custom transport that sets options in a dial hook does; `TCP_USER_TIMEOUT` also limits the connect |
/// | [`AfterConnect`](Stage::AfterConnect) | the TLS handshake and everything after | a handshake stall longer than `idle` is noticed by keepalive as well as by the handshake timeout |
/// | [`AfterHandshake`](Stage::AfterHandshake) (default) | the HTTP exchange | the handshake runs on a socket exactly as the OS made it; it relies on the handshake timeout alone |
///
/// Clients that set keepalive in a dial hook have reported strict backends (behind CDNs)
/// resetting their TLS handshakes; whatever the cause, `keepalive-probe URL` tells whether an
/// endpoint treats the stages differently. For plain `http://`, there is no handshake:
/// `AfterHandshake` means right after connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// On the fresh socket, before `connect(2)`.
    BeforeConnect,
    /// Right after the TCP connection is established, before the TLS handshake.
    AfterConnect,
    /// After the TLS handshake has finished, before the connection is handed to the HTTP codec.
    AfterHandshake,
}

impl Stage {
    /// All stages, in the order they happen.
    pub const ALL: [Stage; 3] = [
        Stage::BeforeConnect,
        Stage::AfterConnect,
        Stage::AfterHandshake,
    ];

    /// The kebab-case name: `before-connect`, `after-connect`, `after-handshake`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::BeforeConnect => "before-connect",
            Stage::AfterConnect => "after-connect",
            Stage::AfterHandshake => "after-handshake",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error from parsing a [`Stage`] from a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseStageError(String);

impl fmt::Display for ParseStageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown stage {:?}: expected before-connect, after-connect or after-handshake",
            self.0
        )
    }
}

impl std::error::Error for ParseStageError {}

impl FromStr for Stage {
    type Err = ParseStageError;

    /// Parses `before-connect`, `after-connect` or `after-handshake` (`_` works for `-`, and
    /// case is ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        Stage::ALL
            .into_iter()
            .find(|stage| stage.as_str() == norm)
            .ok_or_else(|| ParseStageError(s.to_owned()))
    }
}

/// TCP keepalive settings: `SO_KEEPALIVE` plus idle time, probe interval and probe count.
///
/// `Keepalive::new()` starts from the defaults (on, 30 s idle, 10 s interval, 3 retries): a dead
/// peer is noticed about 60 s after the connection went quiet. The kernel takes whole seconds;
/// [`Builder::build`] refuses anything else rather than letting it be truncated.
///
/// ```
/// use keepalive_connector::Keepalive;
/// use std::time::Duration;
/// let ka = Keepalive::new()
///     .idle(Duration::from_secs(15))
///     .interval(Duration::from_secs(5))
///     .retries(4);
/// assert!(ka.is_enabled());
/// assert_eq!(ka.idle_duration(), Duration::from_secs(15));
/// assert_eq!(Keepalive::new().retry_count(), 3);
/// assert!(!Keepalive::off().is_enabled());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    pub(crate) enabled: bool,
    pub(crate) idle: Duration,
    pub(crate) interval: Duration,
    pub(crate) retries: u32,
}

impl Keepalive {
    /// Keepalive on, with the defaults: 30 s idle, 10 s interval, 3 retries.
    pub const fn new() -> Self {
        Keepalive {
            enabled: true,
            idle: Duration::from_secs(30),
            interval: Duration::from_secs(10),
            retries: 3,
        }
    }

    /// Keepalive off: `SO_KEEPALIVE` is left at the kernel's default (off) and no keepalive
    /// option is touched. Values set on an off `Keepalive` are kept but neither used nor
    /// validated.
    pub const fn off() -> Self {
        Keepalive {
            enabled: false,
            ..Keepalive::new()
        }
    }

    /// How long the connection must be idle before the first probe. Sets `TCP_KEEPIDLE`
    /// (`TCP_KEEPALIVE` on macOS). Whole seconds, at least 1 s. Default: 30 s.
    pub const fn idle(mut self, idle: Duration) -> Self {
        self.idle = idle;
        self
    }

    /// Time between unanswered probes. Sets `TCP_KEEPINTVL`. Whole seconds, at least 1 s.
    /// Default: 10 s.
    pub const fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Unanswered probes before the kernel drops the connection. Sets `TCP_KEEPCNT`. At least 1.
    /// Default: 3.
    pub const fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Whether keepalive is on.
    pub const fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The idle time set with [`idle`](Keepalive::idle) (30 s unless changed).
    pub const fn idle_duration(&self) -> Duration {
        self.idle
    }

    /// The probe interval set with [`interval`](Keepalive::interval) (10 s unless changed).
    pub const fn interval_duration(&self) -> Duration {
        self.interval
    }

    /// The probe count set with [`retries`](Keepalive::retries) (3 unless changed).
    pub const fn retry_count(&self) -> u32 {
        self.retries
    }

    /// Checks every value against what the kernel accepts, so nothing is truncated or refused
    /// later at connect time.
    fn validate(&self) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        whole_seconds("keepalive.idle", self.idle, limits::MAX_KEEPIDLE_SECS)?;
        whole_seconds(
            "keepalive.interval",
            self.interval,
            limits::MAX_KEEPINTVL_SECS,
        )?;
        if self.retries == 0 {
            return Err(ConfigError::new(
                "keepalive.retries",
                self.retries,
                ConfigErrorReason::Zero,
            ));
        }
        if self.retries > limits::MAX_KEEPCNT {
            return Err(ConfigError::new(
                "keepalive.retries",
                self.retries,
                ConfigErrorReason::TooLarge {
                    max: limits::MAX_KEEPCNT.to_string(),
                },
            ));
        }
        Ok(())
    }
}

impl Default for Keepalive {
    fn default() -> Self {
        Keepalive::new()
    }
}

fn whole_seconds(field: &'static str, value: Duration, max_secs: u64) -> Result<(), ConfigError> {
    let reason = if value.is_zero() {
        ConfigErrorReason::Zero
    } else if value < Duration::from_secs(1) {
        ConfigErrorReason::SubSecond
    } else if value.subsec_nanos() != 0 {
        ConfigErrorReason::NotWholeSeconds
    } else if value.as_secs() > max_secs {
        ConfigErrorReason::TooLarge {
            max: format!("{max_secs}s"),
        }
    } else {
        return Ok(());
    };
    Err(ConfigError::new(field, value, reason))
}

fn non_zero(field: &'static str, value: Duration) -> Result<(), ConfigError> {
    if value.is_zero() {
        return Err(ConfigError::new(field, value, ConfigErrorReason::Zero));
    }
    Ok(())
}

/// Which HTTP versions are offered through ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HttpVersions {
    Both,
    Http1Only,
    Http2Only,
}

impl HttpVersions {
    pub(crate) fn alpn(self) -> Vec<Vec<u8>> {
        match self {
            HttpVersions::Both => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            HttpVersions::Http1Only => vec![b"http/1.1".to_vec()],
            HttpVersions::Http2Only => vec![b"h2".to_vec()],
        }
    }
}

/// The socket hook: called at every [`Stage`] after that stage's own options were applied.
pub(crate) type SocketHook = Arc<dyn Fn(Stage, SockRef<'_>) -> io::Result<()> + Send + Sync>;

/// The validated configuration shared (behind an `Arc`) by every clone of a [`Connector`].
pub(crate) struct Config {
    pub(crate) keepalive: Keepalive,
    pub(crate) keepalive_at: Stage,
    pub(crate) nodelay: bool,
    #[cfg_attr(not(tcp_user_timeout), allow(dead_code))]
    pub(crate) tcp_user_timeout: Option<Duration>,
    pub(crate) local_address: Option<IpAddr>,
    pub(crate) send_buffer_size: Option<usize>,
    pub(crate) recv_buffer_size: Option<usize>,
    pub(crate) connect_timeout: Duration,
    pub(crate) handshake_timeout: Duration,
    pub(crate) http: HttpVersions,
    pub(crate) tls: Arc<rustls::ClientConfig>,
    pub(crate) resolver: Arc<dyn Resolve>,
    pub(crate) hook: Option<SocketHook>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("keepalive", &self.keepalive)
            .field("keepalive_at", &self.keepalive_at)
            .field("nodelay", &self.nodelay)
            .field("tcp_user_timeout", &self.tcp_user_timeout)
            .field("local_address", &self.local_address)
            .field("send_buffer_size", &self.send_buffer_size)
            .field("recv_buffer_size", &self.recv_buffer_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("http", &self.http)
            .field("alpn", &self.tls.alpn_protocols)
            .field("socket_hook", &self.hook.is_some())
            .finish_non_exhaustive()
    }
}

/// Builds a [`Connector`]. Every value is checked once, in [`build`](Builder::build).
///
/// # Defaults
///
/// | setting | default | OS option |
/// |---|---|---|
/// | [`keepalive`](Builder::keepalive) | on: 30 s idle, 10 s interval, 3 retries | `SO_KEEPALIVE`, `TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT` |
/// | [`keepalive_at`](Builder::keepalive_at) | [`Stage::AfterHandshake`] | |
/// | [`nodelay`](Builder::nodelay) | on, set before connect | `TCP_NODELAY` |
/// | `tcp_user_timeout` (Linux, Android, Fuchsia) | kernel default (unset) | `TCP_USER_TIMEOUT` |
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
    keepalive: Keepalive,
    keepalive_at: Stage,
    nodelay: bool,
    tcp_user_timeout: Option<Duration>,
    local_address: Option<IpAddr>,
    send_buffer_size: Option<usize>,
    recv_buffer_size: Option<usize>,
    connect_timeout: Duration,
    handshake_timeout: Duration,
    http: HttpVersions,
    extra_roots_pem: Vec<Vec<u8>>,
    builtin_roots: bool,
    tls_config: Option<Arc<rustls::ClientConfig>>,
    resolver: Option<Arc<dyn Resolve>>,
    hook: Option<SocketHook>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("keepalive", &self.keepalive)
            .field("keepalive_at", &self.keepalive_at)
            .field("nodelay", &self.nodelay)
            .field("connect_timeout", &self.connect_timeout)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("http", &self.http)
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
            keepalive: Keepalive::new(),
            keepalive_at: Stage::AfterHandshake,
            nodelay: true,
            tcp_user_timeout: None,
            local_address: None,
            send_buffer_size: None,
            recv_buffer_size: None,
            connect_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            http: HttpVersions::Both,
            extra_roots_pem: Vec::new(),
            builtin_roots: true,
            tls_config: None,
            resolver: None,
            hook: None,
        }
    }

    /// Keepalive settings; [`Keepalive::off()`] turns keepalive off. Default: [`Keepalive::new()`].
    pub fn keepalive(mut self, keepalive: Keepalive) -> Self {
        self.keepalive = keepalive;
        self
    }

    /// The [`Stage`] at which keepalive (and `TCP_USER_TIMEOUT`) is applied.
    /// Default: [`Stage::AfterHandshake`].
    pub fn keepalive_at(mut self, stage: Stage) -> Self {
        self.keepalive_at = stage;
        self
    }

    /// Sets `TCP_NODELAY` before connect, so that neither the TLS handshake nor the first request
    /// waits on Nagle's algorithm and the peer's delayed ACK. Default: on.
    pub fn nodelay(mut self, nodelay: bool) -> Self {
        self.nodelay = nodelay;
        self
    }

    /// Sets `TCP_USER_TIMEOUT`: how long sent data may stay unacknowledged before the kernel
    /// drops the connection. Applied at the keepalive stage. Whole milliseconds, not zero.
    /// Default: unset (the kernel retransmits for about 15 minutes). Linux, Android and Fuchsia
    /// only.
    ///
    /// Keepalive alone does not cover a peer that vanishes while some of our data is still
    /// unacknowledged: the kernel sends no keepalive probes then, it retransmits. This happens
    /// in practice with HTTP/2, whose client acknowledges the server's SETTINGS just as a
    /// response starts. For a connection that must notice a dead peer in every case, set this
    /// too, to the keepalive budget `idle + interval × retries` (as tcp(7) suggests, it then
    /// also bounds keepalive's own give-up time):
    ///
    /// ```
    /// # #[cfg(target_os = "linux")] {
    /// use keepalive_connector::{Connector, Keepalive};
    /// use std::time::Duration;
    /// let connector = Connector::builder()
    ///     .keepalive(Keepalive::new()) // 30 s + 10 s × 3 = 60 s
    ///     .tcp_user_timeout(Duration::from_secs(60))
    ///     .build()?;
    /// # }
    /// # Ok::<(), keepalive_connector::ConfigError>(())
    /// ```
    #[cfg(tcp_user_timeout)]
    pub fn tcp_user_timeout(mut self, timeout: Duration) -> Self {
        self.tcp_user_timeout = Some(timeout);
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
        self.send_buffer_size = Some(bytes);
        self
    }

    /// Sets `SO_RCVBUF` before connect (it must be, for TCP window scaling to take it into
    /// account). Default: the kernel's. Linux doubles the value and caps it at
    /// `net.core.rmem_max` (socket(7)).
    pub fn recv_buffer_size(mut self, bytes: usize) -> Self {
        self.recv_buffer_size = Some(bytes);
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
        self.extra_roots_pem.push(pem.to_vec());
        self
    }

    /// Whether to trust the built-in roots (webpki-roots, Mozilla's list). Turn off to trust
    /// only what [`add_root_certificates_pem`](Builder::add_root_certificates_pem) adds.
    /// Default: on.
    pub fn builtin_roots(mut self, enabled: bool) -> Self {
        self.builtin_roots = enabled;
        self
    }

    /// Uses this rustls configuration as it is, for full control (client certificates, custom
    /// verifiers, key logging). Its verifier is then the one used: a `dangerous()` verifier in it
    /// weakens verification. If its `alpn_protocols` is empty, the ALPN list of
    /// [`http1_only`](Builder::http1_only) / [`http2_only`](Builder::http2_only) is filled in;
    /// otherwise it is kept, and `build()` refuses a list that contradicts them. Root-certificate
    /// settings of this builder are then refused.
    pub fn tls_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.tls_config = Some(config);
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
        self.hook = Some(Arc::new(hook));
        self
    }

    /// Checks every value and builds the [`Connector`].
    pub fn build(self) -> Result<Connector, ConfigError> {
        self.keepalive.validate()?;
        non_zero("connect_timeout", self.connect_timeout)?;
        non_zero("handshake_timeout", self.handshake_timeout)?;
        if let Some(timeout) = self.tcp_user_timeout {
            non_zero("tcp_user_timeout", timeout)?;
            if timeout.subsec_nanos() % 1_000_000 != 0 {
                return Err(ConfigError::new(
                    "tcp_user_timeout",
                    timeout,
                    ConfigErrorReason::NotWholeMilliseconds,
                ));
            }
            // Linux takes an int and refuses negative values: i32::MAX ms (about 24.8 days).
            if timeout.as_millis() > i32::MAX as u128 {
                return Err(ConfigError::new(
                    "tcp_user_timeout",
                    timeout,
                    ConfigErrorReason::TooLarge {
                        max: format!("{}ms", i32::MAX),
                    },
                ));
            }
        }
        for (field, size) in [
            ("send_buffer_size", self.send_buffer_size),
            ("recv_buffer_size", self.recv_buffer_size),
        ] {
            match size {
                Some(0) => return Err(ConfigError::new(field, 0, ConfigErrorReason::Zero)),
                Some(n) if n > i32::MAX as usize => {
                    return Err(ConfigError::new(
                        field,
                        n,
                        ConfigErrorReason::TooLarge {
                            max: i32::MAX.to_string(),
                        },
                    ))
                }
                _ => {}
            }
        }
        let tls = match self.tls_config {
            Some(config) => {
                if !self.extra_roots_pem.is_empty() || !self.builtin_roots {
                    return Err(ConfigError::new(
                        "tls_config",
                        "custom rustls::ClientConfig",
                        ConfigErrorReason::Conflict(
                            "root certificates cannot be changed when a full tls_config is given; \
                             put them in its verifier",
                        ),
                    ));
                }
                let offers = |p: &[u8]| config.alpn_protocols.iter().any(|a| a == p);
                let conflict = match self.http {
                    HttpVersions::Both => None,
                    _ if config.alpn_protocols.is_empty() => None,
                    HttpVersions::Http1Only if offers(b"h2") => {
                        Some("http1_only() but the tls_config's ALPN list offers h2")
                    }
                    HttpVersions::Http2Only if !offers(b"h2") => {
                        Some("http2_only() but the tls_config's ALPN list does not offer h2")
                    }
                    _ => None,
                };
                if let Some(why) = conflict {
                    return Err(ConfigError::new(
                        "tls_config",
                        "alpn_protocols",
                        ConfigErrorReason::Conflict(why),
                    ));
                }
                if config.alpn_protocols.is_empty() {
                    let mut config = (*config).clone();
                    config.alpn_protocols = self.http.alpn();
                    Arc::new(config)
                } else {
                    config
                }
            }
            None => {
                let roots = crate::tls::root_store(self.builtin_roots, &self.extra_roots_pem)?;
                crate::tls::client_config(roots, self.http.alpn()).map_err(|e| {
                    ConfigError::new(
                        "tls",
                        "crypto provider",
                        ConfigErrorReason::Tls(Box::new(e)),
                    )
                })?
            }
        };
        let resolver = self
            .resolver
            .unwrap_or_else(|| Arc::new(SystemResolver::new()));
        Ok(Connector::from_config(Config {
            keepalive: self.keepalive,
            keepalive_at: self.keepalive_at,
            nodelay: self.nodelay,
            tcp_user_timeout: self.tcp_user_timeout,
            local_address: self.local_address,
            send_buffer_size: self.send_buffer_size,
            recv_buffer_size: self.recv_buffer_size,
            connect_timeout: self.connect_timeout,
            handshake_timeout: self.handshake_timeout,
            http: self.http,
            tls,
            resolver,
            hook: self.hook,
        }))
    }
}
