//! Errors: [`ConnectError`] for a connection attempt, [`ConfigError`] for a bad builder value.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use crate::dial::Attempt;
use crate::proxy::{ProxyError, ProxyInfo};
use crate::socket::{Stage, StageError};

mod config;

pub(crate) use config::{between, count, non_zero, whole_millis, whole_seconds};
pub use config::{ConfigError, ConfigErrorReason, ConfigField, Conflict, Limit};

/// A boxed error from a lower layer (io, rustls, a custom resolver).
pub(crate) type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// The phase of the connect path in which a [`ConnectError`] happened.
///
/// The phases run in this order: [`Uri`](Phase::Uri) → [`Dns`](Phase::Dns) →
/// [`Connect`](Phase::Connect) → [`Proxy`](Phase::Proxy) (through a proxy only) →
/// [`Tls`](Phase::Tls). [`Socket`](Phase::Socket) can happen at any of the three [`Stage`]s,
/// when a socket option or the socket hook fails. Through a proxy, `Dns` and `Connect` are
/// about reaching the proxy (except the `socks5://` lookup below), and the error's
/// [`proxy()`](ConnectError::proxy) names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// The URI could not be turned into a connect target (no host, unsupported scheme, bad port).
    Uri,
    /// Name resolution failed or found no address: of the origin, or, through a proxy, of
    /// the proxy. For a `socks5://` proxy the origin's name is resolved here too (the proxy is
    /// given an address), after the proxy's and through the same resolver and DNS cache; such
    /// an error's [`host_name`](ConnectError::host_name) is the origin's.
    Dns,
    /// Creating the socket or the TCP connect failed (refused, unreachable, timed out).
    ///
    /// A peer that accepts and resets at once may be reported here or as [`Phase::Tls`]: which
    /// one depends on whether the reset arrived before the connect completed in the kernel's
    /// view or after. Both carry the reset as their cause. A reset noticed when the
    /// [`AfterConnect`](Stage::AfterConnect) options failed is reported here too (see
    /// [`Phase::Socket`]).
    Connect,
    /// Applying a socket option the configuration asked for, or the socket hook, failed on a
    /// live connection. The cause is a [`SocketOptionError`](crate::SocketOptionError) naming
    /// the option.
    ///
    /// When an option fails after connect, the connector first checks whether the connection
    /// is still there (the socket's pending error, then whether it is still connected): macOS
    /// refuses every option on a socket the peer has reset (`EINVAL`), FreeBSD with
    /// `ECONNRESET`. A lost connection is reported in the phase it was in when the stage ran,
    /// with the reset as its cause: [`Phase::Connect`] after connect (and after the "handshake"
    /// of plain `http://`), [`Phase::Tls`] after the TLS handshake.
    Socket,
    /// The proxy would not carry the connection: its `CONNECT` answer was not 2xx
    /// ([`ConnectError::proxy_status`]), the SOCKS5 negotiation failed, the TLS handshake with
    /// an `https://` proxy failed, or the proxy stalled or closed. The cause is a
    /// [`ProxyError`](crate::ProxyError), an I/O error or a TLS error.
    Proxy,
    /// The TLS handshake failed (bad certificate, reset by peer, not TLS, timed out), or the
    /// peer reset the connection just after it, before the
    /// [`AfterHandshake`](Stage::AfterHandshake) options could be applied (see
    /// [`Phase::Socket`]).
    Tls,
}

impl Phase {
    /// A short lower-case name, as used in messages and in the probe's output: `uri`, `dns`,
    /// `connect`, `socket`, `proxy`, `tls`.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Uri => "uri",
            Phase::Dns => "dns",
            Phase::Connect => "connect",
            Phase::Socket => "socket",
            Phase::Proxy => "proxy",
            Phase::Tls => "tls",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a connection attempt failed: the [`Phase`], the address involved, whether a timeout fired,
/// and the underlying cause as [`source()`](StdError::source).
///
/// ```
/// # async fn demo() {
/// use keepalive_connector::{io_error_kind, Connector, Phase};
/// let connector = Connector::builder().build().unwrap();
/// let uri = "https://127.0.0.1:1/".parse().unwrap(); // nothing listens on port 1
/// let err = connector.connect(&uri).await.unwrap_err();
/// assert_eq!(err.phase(), Phase::Connect);
/// assert_eq!(io_error_kind(&err), Some(std::io::ErrorKind::ConnectionRefused));
/// println!("{err}"); // tcp connect to 127.0.0.1:1 failed: Connection refused (os error 111)
/// # }
/// ```
///
/// When a name resolved to several addresses and none connected, the error is the last
/// address's (its phase, address and cause), [`first_error`](ConnectError::first_error) is the
/// first address's, [`attempts`](ConnectError::attempts) lists every one, and `Display` names
/// both and says how many were tried:
///
/// ```text
/// tcp connect to example.com (2 addresses tried) failed: first [2001:db8::1]:443: Network is
/// unreachable (os error 101); last 192.0.2.1:443: Connection refused (os error 111)
/// ```
pub struct ConnectError {
    // Boxed: a `Result<_, ConnectError>` stays one pointer wide on the hot path.
    inner: Box<Inner>,
}

struct Inner {
    phase: Phase,
    uri: Option<Box<str>>,
    host: Option<Box<str>>,
    addr: Option<SocketAddr>,
    stage: Option<Stage>,
    timeout: Option<Duration>,
    elapsed: Option<Duration>,
    proxy: Option<ProxyInfo>,
    source: Option<BoxError>,
    /// The addresses a failed dial tried, and the first one's error.
    attempts: Box<[Attempt]>,
    first: Option<ConnectError>,
}

impl ConnectError {
    pub(crate) fn new(phase: Phase) -> Self {
        ConnectError {
            inner: Box::new(Inner {
                phase,
                uri: None,
                host: None,
                addr: None,
                stage: None,
                timeout: None,
                elapsed: None,
                proxy: None,
                source: None,
                attempts: Box::default(),
                first: None,
            }),
        }
    }

    /// A socket option or the socket hook failed at `stage` on the socket to `addr`, while the
    /// connection was in phase `now`: a [`Phase::Socket`] error, or, when the connection had
    /// already been lost (the peer's reset), an error of phase `now` caused by that loss.
    pub(crate) fn socket(stage: Stage, now: Phase, addr: SocketAddr, err: StageError) -> Self {
        match err {
            StageError::Option(source) => ConnectError::new(Phase::Socket)
                .with_addr(addr)
                .with_stage(stage)
                .with_source(source),
            StageError::Lost(lost) => ConnectError::new(now).with_addr(addr).with_source(lost),
        }
    }

    /// The URI, without any user info (credentials never reach a message).
    pub(crate) fn with_uri(mut self, uri: &http::Uri) -> Self {
        self.inner.uri = Some(crate::origin::redact_uri(&uri.to_string()).into());
        self
    }

    /// The same error, reported as happening in `phase` (the TLS handshake with an `https://`
    /// proxy is part of the proxy hop).
    pub(crate) fn in_phase(mut self, phase: Phase) -> Self {
        self.inner.phase = phase;
        self
    }

    /// The connection went through (or towards) this proxy.
    pub(crate) fn with_proxy(mut self, proxy: ProxyInfo) -> Self {
        self.inner.proxy = Some(proxy);
        self
    }

    pub(crate) fn with_host(mut self, host: &str) -> Self {
        self.inner.host = Some(host.into());
        self
    }

    pub(crate) fn with_addr(mut self, addr: SocketAddr) -> Self {
        self.inner.addr = Some(addr);
        self
    }

    pub(crate) fn with_stage(mut self, stage: Stage) -> Self {
        self.inner.stage = Some(stage);
        self
    }

    pub(crate) fn timed_out(mut self, after: Duration) -> Self {
        self.inner.timeout = Some(after);
        self
    }

    pub(crate) fn with_elapsed(mut self, elapsed: Duration) -> Self {
        self.inner.elapsed = Some(elapsed);
        self
    }

    pub(crate) fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    /// The phase in which the attempt failed.
    pub fn phase(&self) -> Phase {
        self.inner.phase
    }

    /// `true` when a configured timeout (connect or handshake) fired.
    pub fn is_timeout(&self) -> bool {
        self.inner.timeout.is_some()
    }

    /// The timeout that fired (the connect or the handshake timeout), when one did.
    pub fn timeout(&self) -> Option<Duration> {
        self.inner.timeout
    }

    /// How long the attempt ran, from the start of the connect until it failed. `None` for
    /// [`Phase::Uri`] errors, which fail before anything starts.
    pub fn elapsed(&self) -> Option<Duration> {
        self.inner.elapsed
    }

    /// The remote address involved: the one being connected to or handshaken with (the last
    /// one tried, when several were and none connected). `None` for
    /// [`Phase::Uri`] and [`Phase::Dns`] errors, when no address was tried (the connect
    /// timeout ran out during resolution, or no address had the local address's family), and
    /// for [`Connector::tls_handshake`](crate::Connector::tls_handshake), which has no socket.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.inner.addr
    }

    /// The host name from the URI (or the IP literal), when the URI had one.
    pub fn host_name(&self) -> Option<&str> {
        self.inner.host.as_deref()
    }

    /// For [`Phase::Socket`] errors, the stage at which the option or hook failed. A connection
    /// lost under a stage's options names the stage in its cause's message instead.
    pub fn socket_stage(&self) -> Option<Stage> {
        self.inner.stage
    }

    pub(crate) fn with_attempts(mut self, attempts: Vec<Attempt>, first: Option<Self>) -> Self {
        self.inner.attempts = attempts.into();
        self.inner.first = first;
        self
    }

    /// Every address the dial layer tried, in the order the attempts started, with how each
    /// ended. Empty when no connect was attempted ([`Phase::Uri`], [`Phase::Dns`]) and for
    /// errors after the TCP connect succeeded ([`Phase::Tls`]).
    pub fn attempts(&self) -> &[Attempt] {
        &self.inner.attempts
    }

    /// When several addresses were tried and none connected: the error of the *first* one
    /// (this error is the last one's). hyper-util keeps only the first, which misleads when a
    /// dead IPv6 address is tried before a refusing IPv4 one; here both are kept. `None` when
    /// at most one address was tried.
    pub fn first_error(&self) -> Option<&ConnectError> {
        self.inner.first.as_ref()
    }

    /// The proxy the connection went through, or was going to: set on every error of a route
    /// through a proxy, also when the proxy itself could not be reached.
    pub fn proxy(&self) -> Option<&ProxyInfo> {
        self.inner.proxy.as_ref()
    }

    /// The status the proxy answered `CONNECT` with, when it refused (407, 403, 502, …).
    pub fn proxy_status(&self) -> Option<http::StatusCode> {
        match self.proxy_error()? {
            ProxyError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The [`ProxyError`] behind a [`Phase::Proxy`] error, when the proxy's answer (not the
    /// stream under it) was the problem.
    pub fn proxy_error(&self) -> Option<&ProxyError> {
        self.inner.source.as_deref()?.downcast_ref::<ProxyError>()
    }

    /// The underlying [`rustls::Error`], for [`Phase::Tls`] errors that rustls reported (a bad
    /// certificate, a protocol violation by the peer).
    pub fn tls_error(&self) -> Option<&rustls::Error> {
        let io = self.inner.source.as_deref()?.downcast_ref::<io::Error>()?;
        io.get_ref()?.downcast_ref::<rustls::Error>()
    }
}

impl fmt::Debug for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ConnectError");
        d.field("phase", &self.inner.phase);
        if let Some(uri) = &self.inner.uri {
            d.field("uri", uri);
        }
        if let Some(host) = &self.inner.host {
            d.field("host", host);
        }
        if let Some(addr) = &self.inner.addr {
            d.field("addr", addr);
        }
        if let Some(stage) = &self.inner.stage {
            d.field("stage", stage);
        }
        if let Some(timeout) = &self.inner.timeout {
            d.field("timeout", timeout);
        }
        if let Some(elapsed) = &self.inner.elapsed {
            d.field("elapsed", elapsed);
        }
        if let Some(proxy) = &self.inner.proxy {
            d.field("proxy", proxy);
        }
        if !self.attempts().is_empty() {
            d.field("attempts", &self.attempts());
        }
        if let Some(first) = self.first_error() {
            d.field("first", first);
        }
        if let Some(source) = &self.inner.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl ConnectError {
    /// The address, the stage and the cause of one attempt, for a message naming several.
    fn fmt_attempt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(addr) = self.inner.addr {
            write!(f, "{addr}")?;
        }
        if let Some(stage) = self.inner.stage {
            write!(f, " at stage {stage}")?;
        }
        match (&self.inner.source, self.inner.timeout) {
            (Some(source), _) => write!(f, ": {source}"),
            (None, Some(after)) => write!(f, " timed out after {after:?}"),
            (None, None) => f.write_str(" failed"),
        }
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.inner.phase {
            Phase::Uri => "invalid uri",
            Phase::Dns => "dns lookup",
            Phase::Connect => "tcp connect",
            Phase::Socket => "socket options",
            Phase::Proxy => "proxy tunnel",
            Phase::Tls => "tls handshake",
        };
        f.write_str(what)?;
        if self.inner.phase == Phase::Uri {
            if let Some(uri) = &self.inner.uri {
                write!(f, " {uri:?}")?;
            }
            if let Some(source) = &self.inner.source {
                write!(f, ": {source}")?;
            }
            return Ok(());
        }
        let tried = self.attempts().len();
        if tried > 1 {
            if let Some(host) = &self.inner.host {
                write!(f, " to {host}")?;
            }
            write!(f, " ({tried} addresses tried")?;
            if let Some(proxy) = &self.inner.proxy {
                write!(f, " for the proxy {proxy}")?;
            }
            f.write_str(")")?;
            match self.inner.timeout {
                Some(after) => write!(f, " timed out after {after:?}")?,
                None => f.write_str(" failed")?,
            }
            if let Some(first) = self.first_error() {
                f.write_str(": first ")?;
                first.fmt_attempt(f)?;
                f.write_str("; last ")?;
            } else {
                f.write_str(": ")?;
            }
            return self.fmt_attempt(f);
        }
        let link = match self.inner.phase {
            Phase::Dns => "for",
            Phase::Tls => "with",
            _ => "to",
        };
        match (&self.inner.proxy, self.inner.phase) {
            // Through a proxy, the proxy and TLS phases are about the origin (`host`), reached
            // via the proxy at `addr`.
            (Some(proxy), Phase::Proxy | Phase::Tls) => {
                if let Some(host) = &self.inner.host {
                    write!(f, " {link} {host}")?;
                }
                write!(f, " via proxy {proxy}")?;
                if let Some(addr) = self.inner.addr {
                    write!(f, " ({addr})")?;
                }
            }
            (proxy, phase) => {
                match (self.inner.addr, self.inner.host.as_deref()) {
                    (Some(addr), Some(host))
                        if phase != Phase::Dns && host != addr.ip().to_string() =>
                    {
                        write!(f, " {link} {addr} ({host})")?
                    }
                    (Some(addr), _) if phase != Phase::Dns => write!(f, " {link} {addr}")?,
                    (_, Some(host)) => write!(f, " {link} {host}")?,
                    _ => {}
                }
                if let Some(proxy) = proxy {
                    write!(f, " (the proxy {proxy})")?;
                }
            }
        }
        if let Some(stage) = self.inner.stage {
            write!(f, " at stage {stage}")?;
        }
        if let Some(after) = self.inner.timeout {
            write!(f, " timed out after {after:?}")?;
        } else {
            f.write_str(" failed")?;
        }
        if let Some(source) = &self.inner.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl StdError for ConnectError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner.source.as_deref().map(|e| e as _)
    }
}

/// The [`io::ErrorKind`] of the first I/O error in `err`'s chain of causes (`err` included):
/// "connection refused" or "reset by peer", matched without downcasting. It works on a
/// [`ConnectError`], a [`ClientError`](crate::ClientError), and a `hyper::Error` from an
/// exchange over a [`Conn`](crate::Conn) alike. `None` when there is none, or when that I/O
/// error only carries a rustls error (tokio-rustls wraps rustls's errors in an `io::Error` of
/// kind `InvalidData`, which says nothing about the socket): see
/// [`ConnectError::tls_error`] for those.
///
/// ```
/// # async fn demo() {
/// use keepalive_connector::{io_error_kind, Connector};
/// let connector = Connector::builder().build().unwrap();
/// let err = connector.connect(&"http://127.0.0.1:1/".parse().unwrap()).await.unwrap_err();
/// assert_eq!(io_error_kind(&err), Some(std::io::ErrorKind::ConnectionRefused));
/// # }
/// ```
pub fn io_error_kind(err: &(dyn StdError + 'static)) -> Option<io::ErrorKind> {
    let mut cause = Some(err);
    while let Some(err) = cause {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            let from_rustls = io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>());
            return (!from_rustls).then(|| io.kind());
        }
        cause = err.source();
    }
    None
}

/// Why there was no address to connect to: the cause of some [`Phase::Dns`] and
/// [`Phase::Connect`] errors.
#[derive(Debug)]
pub(crate) enum NoAddress {
    /// The resolver answered with an empty list.
    Resolved,
    /// Every resolved address is of a family the connector may not use (`ip_family`, or the
    /// configured local address's).
    OfLocalFamily,
}

impl fmt::Display for NoAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NoAddress::Resolved => "the resolver returned no addresses",
            NoAddress::OfLocalFamily => {
                "no resolved address has the address family this connector is limited to (its \
                 ip_family or local address)"
            }
        })
    }
}

impl StdError for NoAddress {}
