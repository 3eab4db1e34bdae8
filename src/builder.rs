//! The [`Builder`]: collects the settings of every layer and validates them once, in
//! [`Builder::build`]. Each layer's piece (socket policy, dial, TLS) validates itself.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use socket2::SockRef;

use crate::client::settings::ClientSettings;
use crate::connector::{Config, Connector};
use crate::dial::{DialConfig, DnsCache, Family, LocalAddrs, Resolve, SystemResolver};
use crate::error::{between, count, non_zero, ConfigError, ConfigField};
use crate::http_version::HttpVersions;
use crate::proxy::{Proxy, Routes};
use crate::socket::{Keepalive, SocketPolicy, Stage};
use crate::tls::{TlsOptions, TlsSetup, Trust};
use crate::tunnel::TunnelSetup;

/// RFC 8305 §5: the connection attempt delay "MUST NOT" be below 10 ms and "SHOULD NOT" be
/// above 2 s.
const MIN_HAPPY_EYEBALLS_DELAY: Duration = Duration::from_millis(10);
const MAX_HAPPY_EYEBALLS_DELAY: Duration = Duration::from_secs(2);
/// RFC 8305's recommended connection attempt delay.
const DEFAULT_HAPPY_EYEBALLS_DELAY: Duration = Duration::from_millis(250);
/// curl's DNS cache timeout.
const DEFAULT_DNS_CACHE_TTL: Duration = Duration::from_secs(60);
const DEFAULT_DNS_CACHE_CAPACITY: usize = 256;
/// Eviction scans the cache when it is full, so it stays small.
const MAX_DNS_CACHE_CAPACITY: usize = 65_536;

/// The bounds [`Builder::build`] checks the dial settings against.
impl Builder {
    /// The shortest [`happy_eyeballs_delay`](Builder::happy_eyeballs_delay): 10 ms. RFC 8305
    /// §5: the connection attempt delay "MUST NOT" be below 10 ms, lest the attempts become a
    /// burst of SYNs.
    pub const MIN_HAPPY_EYEBALLS_DELAY: Duration = MIN_HAPPY_EYEBALLS_DELAY;
    /// The longest [`happy_eyeballs_delay`](Builder::happy_eyeballs_delay): 2 s. RFC 8305 §5:
    /// it "SHOULD NOT" be above 2 s, past which the fallback no longer helps anyone.
    pub const MAX_HAPPY_EYEBALLS_DELAY: Duration = MAX_HAPPY_EYEBALLS_DELAY;
    /// The largest [`dns_cache_capacity`](Builder::dns_cache_capacity): 65,536 names. Not an
    /// OS limit: eviction scans the whole cache when it is full, so it is kept small.
    pub const MAX_DNS_CACHE_CAPACITY: usize = MAX_DNS_CACHE_CAPACITY;
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
    local: LocalAddrs,
    connect_timeout: Duration,
    happy_eyeballs: bool,
    happy_eyeballs_delay: Duration,
    dns_cache_ttl: Option<Duration>,
    dns_cache_capacity: usize,
    resolver: Option<Arc<dyn Resolve>>,
    handshake_timeout: Duration,
    http: HttpVersions,
    tls: TlsOptions,
    proxies: Option<Vec<Proxy>>,
    /// `None`: the default (keepalive's budget when keepalive is on); `Some(None)`: unset.
    #[cfg_attr(not(tcp_user_timeout), allow(dead_code))]
    tcp_user_timeout: Option<Option<Duration>>,
    /// The [`Client`](crate::Client)'s settings (set in `client::settings`).
    pub(crate) client: ClientSettings,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("socket", &self.socket)
            .field("local", &self.local)
            .field("connect_timeout", &self.connect_timeout)
            .field("happy_eyeballs", &self.happy_eyeballs)
            .field("happy_eyeballs_delay", &self.happy_eyeballs_delay)
            .field("dns_cache_ttl", &self.dns_cache_ttl)
            .field("dns_cache_capacity", &self.dns_cache_capacity)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("http", &self.http)
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
            socket: SocketPolicy {
                keepalive: Keepalive::new(),
                keepalive_at: Stage::AfterHandshake,
                nodelay: true,
                tcp_user_timeout: None,
                send_buffer_size: None,
                recv_buffer_size: None,
                hook: None,
            },
            local: LocalAddrs::default(),
            connect_timeout: Duration::from_secs(10),
            happy_eyeballs: true,
            happy_eyeballs_delay: DEFAULT_HAPPY_EYEBALLS_DELAY,
            dns_cache_ttl: Some(DEFAULT_DNS_CACHE_TTL),
            dns_cache_capacity: DEFAULT_DNS_CACHE_CAPACITY,
            resolver: None,
            handshake_timeout: Duration::from_secs(10),
            http: HttpVersions::Both,
            tls: TlsOptions::default(),
            proxies: None,
            tcp_user_timeout: None,
            client: ClientSettings::default(),
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
    /// The cost: a peer that stops reading. Current Linux (6.18 here) also bounds zero-window
    /// probing with the timeout, so a receive window held at zero for longer than it ends the
    /// connection with `ETIMEDOUT` although the peer answers every probe: an upload to a live
    /// server that stops reading it for a minute fails at the default. Measured on loopback
    /// (`tests/it/backpressure.rs`): with the timeout at 3 s, the blocked write failed 3.26 s
    /// after the window closed; with `tcp_user_timeout(None)` it was still waiting, without
    /// error, after 7.3 s, and completed once the server read again. The default stays, as
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
        self.tcp_user_timeout = Some(timeout.into());
        self
    }

    /// Binds every socket to this local address before connecting (port chosen by the
    /// kernel). Only remote addresses of the same family are tried; see
    /// [`local_addresses`](Builder::local_addresses) for one per family. Replaces the address
    /// of its family set by an earlier call. Default: any.
    ///
    /// The address is bound after the [`Stage::BeforeConnect`] options and the socket hook, so
    /// the hook can set what must come before `bind(2)`: `IP_FREEBIND`, `SO_REUSEADDR`, or
    /// `IP_BIND_ADDRESS_NO_PORT`. That last one matters at scale: binding to port 0 before
    /// connect makes Linux reserve an ephemeral port without knowing the destination, so all
    /// connections from one local address share one port range (about 28,000 by default)
    /// whatever their destination; with `IP_BIND_ADDRESS_NO_PORT` (set through the socket's
    /// raw descriptor: socket2 has no setter for it) the port is chosen at connect time, per
    /// destination.
    ///
    /// ```
    /// # #[cfg(target_os = "linux")] {
    /// use keepalive_connector::{Connector, Stage};
    /// let connector = Connector::builder()
    ///     .local_address("127.0.0.1".parse().unwrap())
    ///     .socket_hook(|stage, sock| {
    ///         if stage == Stage::BeforeConnect && sock.domain()? == socket2::Domain::IPV4 {
    ///             // Still possible: the socket is not bound yet.
    ///             sock.set_freebind_v4(true)?;
    ///         }
    ///         Ok(())
    ///     })
    ///     .build()?;
    /// # }
    /// # Ok::<(), keepalive_connector::ConfigError>(())
    /// ```
    pub fn local_address(mut self, addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(v4) => self.local.v4 = Some(v4),
            IpAddr::V6(v6) => self.local.v6 = Some(v6),
        }
        self
    }

    /// Binds IPv4 sockets to `v4` and IPv6 sockets to `v6` (ports chosen by the kernel), so
    /// that both families can still be raced with a fixed source address. Bound after the
    /// `BeforeConnect` options and hook, as with [`local_address`](Builder::local_address).
    /// Default: any.
    pub fn local_addresses(mut self, v4: Ipv4Addr, v6: Ipv6Addr) -> Self {
        self.local.v4 = Some(v4);
        self.local.v6 = Some(v6);
        self
    }

    /// Connects over this address family only, like curl's `-4`/`-6`: resolved addresses of
    /// the other family are skipped, and a host that has none of this family (an IP literal
    /// of the other family, too) fails with [`Phase::Connect`](crate::Phase::Connect).
    /// Through a proxy it is the proxy's address that must be of this family. Default: both.
    pub fn ip_family(mut self, family: Family) -> Self {
        self.local.only = Some(family);
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

    /// Time allowed for name resolution and the TCP connect together: one deadline, counted
    /// from the start of the connect. With happy eyeballs (the default), every attempt may run
    /// until that deadline, a new one starting every
    /// [`happy_eyeballs_delay`](Builder::happy_eyeballs_delay) (or as soon as one fails), so a
    /// black-holed address costs the delay, not a share of the timeout. With
    /// [`happy_eyeballs(false)`](Builder::happy_eyeballs), addresses are tried one after
    /// another, each with an equal share of what is left of the timeout. Default: 10 s.
    ///
    /// Through a proxy the addresses are the proxy's, and the same deadline then bounds the
    /// `CONNECT` or SOCKS5 exchange with it; a TLS handshake with an `https://` proxy is not
    /// counted (it has the [`handshake_timeout`](Builder::handshake_timeout)).
    ///
    /// `Duration::MAX` means no timeout (hyper-util's default): the TCP connect then runs
    /// without a timer, which saves a loopback connect a few per cent.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Whether to race a name's addresses (Happy Eyeballs v2, RFC 8305): ask for AAAA and A
    /// records concurrently where the resolver can (and start on the first answer, waiting up
    /// to 50 ms for AAAA after A), interleave the addresses by family, and start the next
    /// attempt every [`happy_eyeballs_delay`](Builder::happy_eyeballs_delay) or as soon as the
    /// running one fails; the first to connect wins and the others' sockets are closed at once.
    /// [`Stage::BeforeConnect`] options and the socket hook apply to every attempt's socket,
    /// [`Stage::AfterConnect`] and later only to the winner's.
    ///
    /// `false`: the whole answer is awaited and its addresses tried one after another, in the
    /// resolver's order, each with an equal share of what is left of the connect timeout.
    /// Default: on.
    pub fn happy_eyeballs(mut self, enabled: bool) -> Self {
        self.happy_eyeballs = enabled;
        self
    }

    /// The connection attempt delay of happy eyeballs: how long an attempt has to connect
    /// before the next address is tried alongside it. From
    /// [10 ms](Builder::MIN_HAPPY_EYEBALLS_DELAY) to [2 s](Builder::MAX_HAPPY_EYEBALLS_DELAY)
    /// (RFC 8305 §5's limits; [`build`](Builder::build) refuses others). Default: 250 ms (hyper-util uses
    /// 300 ms, curl 200 ms, RFC 8305 recommends 250 ms).
    pub fn happy_eyeballs_delay(mut self, delay: Duration) -> Self {
        self.happy_eyeballs_delay = delay;
        self
    }

    /// How long the connector's DNS cache keeps a name's addresses, or `None` to resolve on
    /// every connect. Positive answers only (a failed lookup is never cached); an entry is
    /// dropped early when every address in it failed to connect; concurrent connects to a
    /// name not yet cached share one lookup. IP literals and names in a
    /// [`StaticResolver`](crate::StaticResolver)'s map bypass it (see
    /// [`Resolve::cacheable`]). The cache is shared by every clone of the connector.
    /// `getaddrinfo` reports no TTL, so this is the one applied. `Duration::MAX` keeps answers
    /// for good (until every address in one fails, or the cache is full). Default: 60 s
    /// (curl's).
    ///
    /// With happy eyeballs, the answer is stored as soon as a connection is made: a family
    /// that answers later (a dropped AAAA query costs glibc 5 s, twice) completes the entry
    /// when it comes, and holds up neither the connects waiting on the lookup nor those after.
    pub fn dns_cache_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.dns_cache_ttl = ttl;
        self
    }

    /// The most names (host and port) the DNS cache holds; when full, expired entries go
    /// first, then the one closest to expiry. From 1 to
    /// [`MAX_DNS_CACHE_CAPACITY`](Builder::MAX_DNS_CACHE_CAPACITY) (65,536). Default: 256.
    pub fn dns_cache_capacity(mut self, entries: usize) -> Self {
        self.dns_cache_capacity = entries;
        self
    }

    /// Time allowed for each TLS handshake: the origin's, and an `https://` proxy's (which the
    /// [`connect_timeout`](Builder::connect_timeout) does not count). Default: 10 s. `Duration::MAX` means no timeout
    /// (hyper-rustls has none), and the handshake then runs without a timer.
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
    /// to it. Plain `http://` connections are then marked as HTTP/2 (prior knowledge). A
    /// [`tls_config`](Builder::tls_config) whose ALPN list lacks `h2`, or also offers
    /// `http/1.1` or `http/1.0`, is refused at [`build`](Builder::build)
    /// ([`Conflict::Http2OnlyButAlpnOffersHttp1`](crate::Conflict::Http2OnlyButAlpnOffersHttp1)).
    pub fn http2_only(mut self) -> Self {
        self.http = HttpVersions::Http2Only;
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

    /// Checks every value and builds the [`Connector`].
    // Only the TCP_USER_TIMEOUT default (Linux, Android, Fuchsia) changes `self` before use.
    #[cfg_attr(not(tcp_user_timeout), allow(unused_mut))]
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
        between(
            ConfigField::HappyEyeballsDelay,
            self.happy_eyeballs_delay,
            MIN_HAPPY_EYEBALLS_DELAY,
            MAX_HAPPY_EYEBALLS_DELAY,
        )?;
        if let Some(ttl) = self.dns_cache_ttl {
            non_zero(ConfigField::DnsCacheTtl, ttl)?;
        }
        count(
            ConfigField::DnsCacheCapacity,
            self.dns_cache_capacity as u64,
            MAX_DNS_CACHE_CAPACITY as u64,
        )?;
        let (config, trust) = self.tls.build(self.http)?;
        let tls = TlsSetup {
            config,
            trust,
            handshake_timeout: self.handshake_timeout,
            http: self.http,
        };
        self.client.validate()?;
        let routes = Routes::build(self.proxies.as_deref())?;
        let dial = DialConfig {
            resolver: self
                .resolver
                .unwrap_or_else(|| Arc::new(SystemResolver::new())),
            local: self.local,
            connect_timeout: self.connect_timeout,
            happy_eyeballs: self.happy_eyeballs,
            happy_eyeballs_delay: self.happy_eyeballs_delay,
            cache: self
                .dns_cache_ttl
                .map(|ttl| Arc::new(DnsCache::new(ttl, self.dns_cache_capacity))),
        };
        let tunnel = TunnelSetup {
            proxy_tls: tls.for_proxies(),
        };
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
