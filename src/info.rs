//! What a connection reports about how it was made: [`ConnectInfo`], [`Timings`],
//! [`TlsInfo`], [`KeepaliveInfo`] with each value's [`ValueSource`].

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::{CipherSuite, HandshakeKind, ProtocolVersion};

use crate::dial::Attempt;
use crate::proxy::ProxyInfo;
use crate::socket::{Keepalive, Stage};

/// What happened while a connection was made. Attached to every response of a
/// `hyper_util` `Client` as an extension, and available from [`Conn::info`](crate::Conn::info).
///
/// Its `Display` is one line of the facts worth logging, in the manner of curl's `-w`:
///
/// ```text
/// remote=93.184.215.14:443 route=direct alpn=h2 tls_version=TLSv1.3 dns=1.2ms connect=10.4ms tls=21.7ms total=33.5ms keepalive=30s/10s/3
/// ```
///
/// `route` is `direct` or the proxy's URL (never its credentials); `alpn` and `tls_version` are
/// left out for plain `http://`, `dns` for an IP literal, `proxy` (the tunnel's time) when
/// direct; `attempts` appears when more than one address was tried. `keepalive` is `idle /
/// interval / retries` after every stage ran, as the kernel reports them (`?` for a value the
/// OS keeps to itself, see [`KeepaliveInfo`]), or `off`.
///
/// ```no_run
/// # async fn demo(resp: http::Response<keepalive_connector::ResponseBody>) {
/// use keepalive_connector::ConnectInfo;
/// if let Some(info) = resp.extensions().get::<ConnectInfo>() {
///     println!("{info}");
///     let alpn = info.tls().and_then(|tls| tls.alpn());
///     println!("{} via {:?}, tls {:?}", info.remote_addr(), alpn, info.timings().tls());
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectInfo {
    pub(crate) remote_addr: SocketAddr,
    pub(crate) local_addr: SocketAddr,
    pub(crate) timings: Timings,
    /// Shared, so that the clone hyper-util's `Client` makes for every response is cheap.
    pub(crate) attempts: Arc<[Attempt]>,
    pub(crate) dns_from_cache: bool,
    pub(crate) tls: Option<TlsInfo>,
    pub(crate) keepalive: Option<KeepaliveInfo>,
    pub(crate) nodelay: bool,
    pub(crate) tcp_user_timeout: Option<Duration>,
    pub(crate) proxy: Option<ProxyInfo>,
}

/// What a TLS handshake negotiated: the TLS part of [`ConnectInfo`], and what
/// [`Connector::tls_handshake`](crate::Connector::tls_handshake) returns.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsInfo {
    pub(crate) alpn: Option<Vec<u8>>,
    pub(crate) version: Option<ProtocolVersion>,
    pub(crate) cipher_suite: Option<CipherSuite>,
    pub(crate) handshake_kind: Option<HandshakeKind>,
}

impl TlsInfo {
    /// Reads what the handshake negotiated from a finished rustls connection.
    pub(crate) fn of(conn: &rustls::ClientConnection) -> Self {
        TlsInfo {
            alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
            version: conn.protocol_version(),
            cipher_suite: conn.negotiated_cipher_suite().map(|s| s.suite()),
            handshake_kind: conn.handshake_kind(),
        }
    }

    /// The ALPN protocol the server chose (`b"h2"`, `b"http/1.1"`), if any.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.alpn.as_deref()
    }

    /// The negotiated TLS version.
    pub fn version(&self) -> Option<ProtocolVersion> {
        self.version
    }

    /// The negotiated cipher suite.
    pub fn cipher_suite(&self) -> Option<CipherSuite> {
        self.cipher_suite
    }

    /// Whether the handshake was full, full after a HelloRetryRequest, or resumed a session.
    pub fn handshake_kind(&self) -> Option<HandshakeKind> {
        self.handshake_kind
    }

    /// `true` when the session was resumed from an earlier connection of the same connector.
    pub fn resumed(&self) -> bool {
        self.handshake_kind == Some(HandshakeKind::Resumed)
    }
}

impl ConnectInfo {
    /// The proxy the connection goes through; `None` when direct.
    pub fn proxy(&self) -> Option<&ProxyInfo> {
        self.proxy.as_ref()
    }

    /// The address of the socket's peer: the origin's (the one that accepted, when a name
    /// resolved to several), or the proxy's when there is one.
    pub fn remote_addr(&self) -> SocketAddr {
        self.remote_addr
    }

    /// The local address of the socket.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// How long each phase took.
    pub fn timings(&self) -> &Timings {
        &self.timings
    }

    /// Every address tried, in the order the attempts started: when each started, how long it
    /// ran and how it ended. The one that connected is among them; with happy eyeballs, the
    /// others are ones that failed before it connected, or were still under way and were
    /// cancelled (their sockets closed) when it did.
    ///
    /// ```
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// # let connector = keepalive_connector::Connector::builder().build()?;
    /// use keepalive_connector::AttemptOutcome;
    /// let conn = connector.connect(&"https://example.com/".parse()?).await?;
    /// for attempt in conn.info().attempts() {
    ///     if attempt.outcome() != AttemptOutcome::Connected {
    ///         println!("{attempt}"); // [2001:db8::1]:443 started at 1.1ms, cancelled after 250.3ms
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn attempts(&self) -> &[Attempt] {
        &self.attempts
    }

    /// Whether the addresses came from the connector's DNS cache (see
    /// [`Builder::dns_cache_ttl`](crate::Builder::dns_cache_ttl)) rather than from the
    /// resolver: an entry, or the addresses a concurrent connect to the same name resolved
    /// (and failed with). `false` for IP literals and names the resolver answered.
    pub fn dns_from_cache(&self) -> bool {
        self.dns_from_cache
    }

    /// What the TLS handshake with the origin negotiated (ALPN, version, cipher suite,
    /// resumption); `None` for plain `http://`.
    pub fn tls(&self) -> Option<&TlsInfo> {
        self.tls.as_ref()
    }

    /// The keepalive settings after every stage ran, read back from the kernel with getsockopt
    /// where the OS can report them ([`KeepaliveInfo`] says, per value, where it comes from);
    /// `None` when `SO_KEEPALIVE` is off.
    pub fn keepalive(&self) -> Option<&KeepaliveInfo> {
        self.keepalive.as_ref()
    }

    /// `TCP_NODELAY` as read back from the kernel (named as
    /// [`Builder::tcp_nodelay`](crate::Builder::tcp_nodelay)).
    pub fn tcp_nodelay(&self) -> bool {
        self.nodelay
    }

    /// `TCP_USER_TIMEOUT` as read back from the kernel; `None` when unset or on platforms
    /// without it.
    pub fn tcp_user_timeout(&self) -> Option<Duration> {
        self.tcp_user_timeout
    }
}

impl fmt::Display for ConnectInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "remote={}", self.remote_addr)?;
        match &self.proxy {
            Some(proxy) => write!(f, " route={proxy}")?,
            None => f.write_str(" route=direct")?,
        }
        if let Some(tls) = &self.tls {
            if let Some(alpn) = tls.alpn() {
                write!(f, " alpn={}", String::from_utf8_lossy(alpn))?;
            }
            if let Some(version) = tls.version() {
                write!(f, " tls_version={}", TlsVersion(version))?;
            }
        }
        if self.attempts.len() > 1 {
            write!(f, " attempts={}", self.attempts.len())?;
        }
        let t = &self.timings;
        if let Some(dns) = t.dns {
            write!(f, " dns={}", Millis(dns))?;
        }
        write!(f, " connect={}", Millis(t.connect))?;
        if let Some(proxy) = t.proxy {
            write!(f, " proxy={}", Millis(proxy))?;
        }
        if let Some(tls) = t.tls {
            write!(f, " tls={}", Millis(tls))?;
        }
        write!(f, " total={}", Millis(t.total))?;
        match &self.keepalive {
            None => f.write_str(" keepalive=off"),
            Some(ka) => {
                f.write_str(" keepalive=")?;
                let secs = |d: Option<Duration>| match d {
                    Some(d) => format!("{}s", d.as_secs()),
                    None => "?".to_owned(),
                };
                let retries = ka.retries().map_or("?".to_owned(), |n| n.to_string());
                write!(f, "{}/{}/{retries}", secs(ka.idle()), secs(ka.interval()))
            }
        }
    }
}

/// A duration in milliseconds with one decimal: `1.2ms`, `1043.5ms`.
struct Millis(Duration);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.1}ms", self.0.as_secs_f64() * 1000.0)
    }
}

/// A TLS version as people write it: `TLSv1.3` (rustls says `TLSv1_3`).
struct TlsVersion(ProtocolVersion);

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_str() {
            Some(name) => f.write_str(&name.replace('_', ".")),
            None => write!(f, "{:?}", self.0),
        }
    }
}

/// How long each phase of the connect path took, measured by the connector itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    pub(crate) dns: Option<Duration>,
    pub(crate) connect: Duration,
    pub(crate) proxy: Option<Duration>,
    pub(crate) tls: Option<Duration>,
    pub(crate) total: Duration,
}

impl Timings {
    /// Name resolution of the host the socket goes to (the proxy, through a proxy): from the
    /// start of the connect until the first connection attempt could start (with per-family
    /// lookups, the first answer, or the AAAA answer up to 50 ms after an A answer); near zero
    /// for an answer from the DNS cache; `None` when that host was an IP literal. Through a
    /// `socks5://` proxy it also holds what comes before dialing the proxy: the lookup of the
    /// origin's name, and any earlier attempt through the proxy to an address of the origin it
    /// could not reach.
    pub fn dns(&self) -> Option<Duration> {
        self.dns
    }

    /// The TCP connect, from the first attempt's start until one connected, over every
    /// attempted address, including socket set-up.
    pub fn connect(&self) -> Duration {
        self.connect
    }

    /// The tunnel step through a proxy, from the end of the TCP connect to the proxy: TLS with
    /// an `https://` proxy and then the `CONNECT` exchange (only the TLS, for a forwarded
    /// `http://` origin), or the SOCKS5 negotiation (the last one, when the proxy could not
    /// reach an earlier address of the origin: see [`dns`](Timings::dns)); `None` when direct.
    pub fn proxy(&self) -> Option<Duration> {
        self.proxy
    }

    /// The TLS handshake with the origin; `None` for plain `http://`.
    pub fn tls(&self) -> Option<Duration> {
        self.tls
    }

    /// From the start of `connect` until the connection was ready, socket options included.
    pub fn total(&self) -> Duration {
        self.total
    }
}

/// Where a keepalive value in a [`KeepaliveInfo`] comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ValueSource {
    /// Read back from the kernel with getsockopt after every stage ran: what the kernel holds,
    /// socket-hook changes included.
    Kernel,
    /// What the connector set, which the OS accepted but cannot report: Windows before 10 1709
    /// and Wine for the idle time and interval. A socket hook's later change would not show.
    AsSet,
    /// Not set by the connector, and not reported by the OS: the OS's own value applies (a
    /// value this OS has no per-socket option for, or Windows's `TCP_KEEPCNT` left at its
    /// default where the OS refuses it). The value itself is unknown.
    Os,
}

impl ValueSource {
    /// `kernel`, `as-set` or `os`, as the probe prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            ValueSource::Kernel => "kernel",
            ValueSource::AsSet => "as-set",
            ValueSource::Os => "os",
        }
    }
}

impl fmt::Display for ValueSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One keepalive value and where it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Reading<T> {
    value: Option<T>,
    source: ValueSource,
}

impl<T> Reading<T> {
    /// `value` is `None` exactly when `source` is [`ValueSource::Os`].
    pub(crate) fn new(value: Option<T>, source: ValueSource) -> Self {
        Reading { value, source }
    }
}

/// Keepalive on a connection once every stage ran: each value with where it comes from. On
/// Linux, macOS and the BSDs every value is read back from the kernel; on Windows the
/// idle time and interval are read back from Windows 10 1709 on and are reported as set before
/// (and under Wine); a value the OS has no per-socket option for is the OS's own (see
/// [`Keepalive::platform_support`]).
///
/// ```
/// # fn demo(info: &keepalive_connector::KeepaliveInfo) {
/// use keepalive_connector::ValueSource;
/// match (info.idle(), info.idle_source()) {
///     (Some(idle), ValueSource::Kernel) => println!("the kernel holds {idle:?}"),
///     (Some(idle), _) => println!("set to {idle:?}; this OS cannot report it"),
///     (None, _) => println!("the OS's own idle time applies"),
/// }
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeepaliveInfo {
    pub(crate) stage: Stage,
    pub(crate) idle: Reading<Duration>,
    pub(crate) interval: Reading<Duration>,
    pub(crate) retries: Reading<u32>,
}

impl KeepaliveInfo {
    /// The stage at which the connector was configured to apply keepalive (the configured
    /// stage, also when a socket hook is what turned keepalive on).
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// The three values as a [`Keepalive`] (enabled, each value chosen), e.g. to compare with
    /// what was asked for; `None` when one of them is the OS's own, unknown value.
    pub fn values(&self) -> Option<Keepalive> {
        Some(
            Keepalive::new()
                .idle(self.idle()?)
                .interval(self.interval()?)
                .retries(self.retries()?),
        )
    }

    /// `true` when every value was read back from the kernel ([`ValueSource::Kernel`]).
    pub fn is_read_back(&self) -> bool {
        [self.idle.source, self.interval.source, self.retries.source]
            .iter()
            .all(|s| *s == ValueSource::Kernel)
    }

    /// The idle time before the first probe: `TCP_KEEPIDLE` (`TCP_KEEPALIVE` on macOS,
    /// `SIO_KEEPALIVE_VALS` on Windows). `None` when the OS's own value applies and the OS does
    /// not report it.
    pub fn idle(&self) -> Option<Duration> {
        self.idle.value
    }

    /// Where [`idle`](KeepaliveInfo::idle) comes from.
    pub fn idle_source(&self) -> ValueSource {
        self.idle.source
    }

    /// The time between probes: `TCP_KEEPINTVL`. `None` when the OS's own value applies and
    /// the OS does not report it.
    pub fn interval(&self) -> Option<Duration> {
        self.interval.value
    }

    /// Where [`interval`](KeepaliveInfo::interval) comes from.
    pub fn interval_source(&self) -> ValueSource {
        self.interval.source
    }

    /// The probe count: `TCP_KEEPCNT`. `None` when the OS's own count applies and the OS does
    /// not report it (Windows before 10 1703 and Wine, for the default
    /// [`Keepalive::new`] count).
    pub fn retries(&self) -> Option<u32> {
        self.retries.value
    }

    /// Where [`retries`](KeepaliveInfo::retries) comes from.
    pub fn retries_source(&self) -> ValueSource {
        self.retries.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::{ProxySource, ProxyTarget};

    fn ms(n: u64) -> Duration {
        Duration::from_micros(n * 100)
    }

    fn info() -> ConnectInfo {
        let kernel = |secs: u64| Reading::new(Some(Duration::from_secs(secs)), ValueSource::Kernel);
        ConnectInfo {
            remote_addr: "192.0.2.7:443".parse().unwrap(),
            local_addr: "192.0.2.1:50000".parse().unwrap(),
            timings: Timings {
                dns: Some(ms(12)),
                connect: ms(104),
                proxy: None,
                tls: Some(ms(217)),
                total: ms(335),
            },
            attempts: Arc::new([]),
            dns_from_cache: false,
            tls: Some(TlsInfo {
                alpn: Some(b"h2".to_vec()),
                version: Some(ProtocolVersion::TLSv1_3),
                cipher_suite: None,
                handshake_kind: Some(HandshakeKind::Full),
            }),
            keepalive: Some(KeepaliveInfo {
                stage: Stage::AfterHandshake,
                idle: kernel(30),
                interval: kernel(10),
                retries: Reading::new(Some(3), ValueSource::Kernel),
            }),
            nodelay: true,
            tcp_user_timeout: Some(Duration::from_secs(60)),
            proxy: None,
        }
    }

    #[test]
    fn display_is_one_line_of_what_is_known() {
        assert_eq!(
            info().to_string(),
            "remote=192.0.2.7:443 route=direct alpn=h2 tls_version=TLSv1.3 dns=1.2ms \
             connect=10.4ms tls=21.7ms total=33.5ms keepalive=30s/10s/3"
        );

        // Plain http:// through a proxy with credentials, an IP literal, keepalive off.
        let target =
            ProxyTarget::parse("http://user:secret@proxy.test:3128", ProxySource::Explicit)
                .unwrap();
        let plain = ConnectInfo {
            tls: None,
            keepalive: None,
            proxy: Some(ProxyInfo::new(Arc::new(target))),
            timings: Timings {
                dns: None,
                proxy: Some(ms(5)),
                tls: None,
                ..info().timings
            },
            ..info()
        };
        let shown = plain.to_string();
        assert_eq!(
            shown,
            "remote=192.0.2.7:443 route=http://proxy.test:3128/ connect=10.4ms proxy=0.5ms \
             total=33.5ms keepalive=off"
        );
        assert!(!shown.contains("secret") && !shown.contains("user"));

        // A value the OS keeps to itself; more than one address tried.
        let mut unknown = info();
        if let Some(ka) = &mut unknown.keepalive {
            ka.retries = Reading::new(None, ValueSource::Os);
        }
        let attempt = Attempt {
            addr: "192.0.2.7:443".parse().unwrap(),
            started: Duration::ZERO,
            duration: ms(1),
            outcome: crate::AttemptOutcome::Refused,
        };
        unknown.attempts = Arc::new([attempt, attempt]);
        let shown = unknown.to_string();
        assert!(shown.contains(" attempts=2 "), "{shown}");
        assert!(shown.ends_with(" keepalive=30s/10s/?"), "{shown}");
    }
}
