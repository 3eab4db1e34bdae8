//! Name resolution: the [`Resolve`] trait, the system resolver, and [`StaticResolver`] (curl's
//! `--resolve`).

use crate::origin::is_host_name;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;

/// The future a [`Resolve`] implementation returns.
pub type Resolving = Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send>>;

/// Turns a host name and port into socket addresses.
///
/// Only [`resolve`](Resolve::resolve) is required, and closures implement it, so a resolver can
/// be written inline:
///
/// ```
/// use keepalive_connector::{Connector, Resolving};
/// use std::net::SocketAddr;
/// let connector = Connector::builder()
///     .dns_resolver(|_host: &str, port: u16| -> Resolving {
///         Box::pin(async move { Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))]) })
///     })
///     .build()?;
/// # Ok::<(), keepalive_connector::ConfigError>(())
/// ```
///
/// Two provided methods let a resolver do more, and keep their defaults otherwise:
/// [`resolve_family`](Resolve::resolve_family) answers for one address family at a time, so
/// the connector can ask for AAAA and A records concurrently and start connecting on the first
/// answer (RFC 8305 §3); [`cacheable`](Resolve::cacheable) keeps an answer out of the
/// connector's DNS cache.
pub trait Resolve: Send + Sync + 'static {
    /// Resolves `host`. IP literals skip resolution: bracketed IPv6 literals, and IPv4 in every
    /// form the WHATWG URL standard reads (`127.0.0.1`, `127.1`, `0x7f.1`, `2130706433`, a
    /// trailing dot); a host whose last label is a number but which is no IPv4 address is
    /// refused before it gets here. A name with a trailing dot arrives with it. The
    /// addresses are used as returned, port included; with happy eyeballs on, the connector
    /// tries the family of the first address first, then alternates families. Returning an
    /// empty list is an error of [`Phase::Dns`](crate::Phase::Dns).
    fn resolve(&self, host: &str, port: u16) -> Resolving;

    /// Resolves `host` for one address family only (AAAA records for [`Family::V6`], A records
    /// for [`Family::V4`]), or returns `None` when this resolver cannot ask per family, and
    /// [`resolve`](Resolve::resolve) is used instead. Return `Some` for both families or for
    /// neither. An error or an empty list for one family is not a failure while the other
    /// family has addresses. Default: `None`.
    fn resolve_family(&self, host: &str, port: u16, family: Family) -> Option<Resolving> {
        let _ = (host, port, family);
        None
    }

    /// Whether the connector's DNS cache may keep this resolver's answer for `host:port`.
    /// Default: `true`; [`StaticResolver`] says `false` for the names in its map (they are
    /// already local).
    fn cacheable(&self, host: &str, port: u16) -> bool {
        let _ = (host, port);
        true
    }
}

/// An IP address family, for [`Resolve::resolve_family`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4: A records.
    V4,
    /// IPv6: AAAA records.
    V6,
}

impl Family {
    /// The family of `addr`.
    pub fn of(addr: &SocketAddr) -> Family {
        if addr.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        }
    }

    /// The other family.
    pub(crate) fn other(self) -> Family {
        match self {
            Family::V4 => Family::V6,
            Family::V6 => Family::V4,
        }
    }
}

impl<F> Resolve for F
where
    F: Fn(&str, u16) -> Resolving + Send + Sync + 'static,
{
    fn resolve(&self, host: &str, port: u16) -> Resolving {
        self(host, port)
    }
}

/// The system resolver: `getaddrinfo` on tokio's blocking pool. [`resolve`](Resolve::resolve)
/// goes through [`tokio::net::lookup_host`]; [`resolve_family`](Resolve::resolve_family) calls
/// `getaddrinfo` with an address-family hint, one call per family, so the connector can start
/// on whichever answers first.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver(());

impl SystemResolver {
    /// The system resolver.
    pub fn new() -> Self {
        SystemResolver(())
    }
}

impl Resolve for SystemResolver {
    fn resolve(&self, host: &str, port: u16) -> Resolving {
        let host = host.to_owned();
        Box::pin(async move {
            tokio::net::lookup_host((host.as_str(), port))
                .await
                .map(Iterator::collect)
        })
    }

    fn resolve_family(&self, host: &str, port: u16, family: Family) -> Option<Resolving> {
        let host = host.to_owned();
        Some(Box::pin(async move {
            tokio::task::spawn_blocking(move || getaddrinfo(&host, port, family))
                .await
                .map_err(io::Error::other)?
        }))
    }
}

/// `getaddrinfo(host, NULL, {ai_family, SOCK_STREAM})`. std and tokio only call it with
/// `AF_UNSPEC`, which returns both families in one answer, after both queries came back; the
/// per-family call needs a hint they do not expose. The `dns-lookup` crate wraps exactly this
/// call (the `unsafe` FFI lives there, as this crate forbids `unsafe`), on Unix and Windows.
/// No `AI_ADDRCONFIG`, as in std: `localhost` keeps `::1` on hosts without global IPv6.
fn getaddrinfo(host: &str, port: u16, family: Family) -> io::Result<Vec<SocketAddr>> {
    use dns_lookup::{AddrFamily, AddrInfoHints, SockType};
    let hints = AddrInfoHints {
        socktype: SockType::Stream.into(),
        address: match family {
            Family::V4 => AddrFamily::Inet.into(),
            Family::V6 => AddrFamily::Inet6.into(),
        },
        ..AddrInfoHints::default()
    };
    dns_lookup::getaddrinfo(Some(host), None, Some(hints))?
        .map(|info| {
            let mut addr = info?.sockaddr;
            addr.set_port(port);
            Ok(addr)
        })
        .collect()
}

/// A fixed map from `(host, port)` to addresses, like curl's `--resolve HOST:PORT:ADDR`.
///
/// Names not in the map go to the fallback resolver (the system's, unless changed), as in curl;
/// [`no_fallback`](StaticResolver::no_fallback) makes them an error instead.
///
/// ```
/// use keepalive_connector::{Connector, ResolveEntry, StaticResolver};
/// let entry: ResolveEntry = "api.example.com:443:127.0.0.1".parse()?;
/// let resolver = StaticResolver::new().entry(entry).no_fallback();
/// let connector = Connector::builder().dns_resolver(resolver).build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct StaticResolver {
    map: HashMap<(String, u16), Vec<IpAddr>>,
    fallback: Fallback,
}

/// Where names that are not in the map go.
#[derive(Clone, Default)]
enum Fallback {
    #[default]
    System,
    Custom(Arc<dyn Resolve>),
    Refuse,
}

impl fmt::Debug for StaticResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fallback = match self.fallback {
            Fallback::System => "system",
            Fallback::Custom(_) => "custom",
            Fallback::Refuse => "none",
        };
        f.debug_struct("StaticResolver")
            .field("map", &self.map)
            .field("fallback", &fallback)
            .finish()
    }
}

impl StaticResolver {
    /// An empty map that falls back to the system resolver.
    pub fn new() -> Self {
        StaticResolver::default()
    }

    /// Maps `host:port` to `addrs` (added to any addresses already mapped). Host names are
    /// matched case-insensitively.
    pub fn add(mut self, host: &str, port: u16, addrs: impl IntoIterator<Item = IpAddr>) -> Self {
        self.map
            .entry((host.to_ascii_lowercase(), port))
            .or_default()
            .extend(addrs);
        self
    }

    /// Adds a parsed `HOST:PORT:ADDR[,ADDR…]` entry.
    pub fn entry(self, entry: ResolveEntry) -> Self {
        let ResolveEntry { host, port, addrs } = entry;
        self.add(&host, port, addrs)
    }

    /// Names not in the map are resolved by `resolver` instead of the system's.
    pub fn fallback(mut self, resolver: impl Resolve) -> Self {
        self.fallback = Fallback::Custom(Arc::new(resolver));
        self
    }

    /// Names not in the map fail with [`io::ErrorKind::NotFound`].
    pub fn no_fallback(mut self) -> Self {
        self.fallback = Fallback::Refuse;
        self
    }

    fn is_mapped(&self, host: &str, port: u16) -> bool {
        self.map.contains_key(&(host.to_ascii_lowercase(), port))
    }

    fn lookup(&self, host: &str, port: u16) -> Option<Vec<SocketAddr>> {
        let addrs = self.map.get(&(host.to_ascii_lowercase(), port))?;
        Some(addrs.iter().map(|ip| SocketAddr::new(*ip, port)).collect())
    }
}

impl Resolve for StaticResolver {
    fn resolve(&self, host: &str, port: u16) -> Resolving {
        if let Some(addrs) = self.lookup(host, port) {
            return Box::pin(std::future::ready(Ok(addrs)));
        }
        match &self.fallback {
            Fallback::Custom(fallback) => fallback.resolve(host, port),
            Fallback::System => SystemResolver::new().resolve(host, port),
            Fallback::Refuse => {
                let err = io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{host}:{port} is not in the static resolver's map"),
                );
                Box::pin(std::future::ready(Err(err)))
            }
        }
    }

    /// Names in the map are answered at once, whole; others per family where the fallback
    /// can.
    fn resolve_family(&self, host: &str, port: u16, family: Family) -> Option<Resolving> {
        if self.is_mapped(host, port) {
            return None;
        }
        match &self.fallback {
            Fallback::Custom(fallback) => fallback.resolve_family(host, port, family),
            Fallback::System => SystemResolver::new().resolve_family(host, port, family),
            Fallback::Refuse => None,
        }
    }

    /// Names in the map bypass the cache; the fallback's answers are cached as its own.
    fn cacheable(&self, host: &str, port: u16) -> bool {
        if self.is_mapped(host, port) {
            return false;
        }
        match &self.fallback {
            Fallback::Custom(fallback) => fallback.cacheable(host, port),
            Fallback::System => true,
            Fallback::Refuse => false,
        }
    }
}

/// One `HOST:PORT:ADDR[,ADDR…]` entry in curl's `--resolve` format. IPv6 addresses may be
/// bracketed (`[::1]`).
///
/// ```
/// use keepalive_connector::ResolveEntry;
/// let e: ResolveEntry = "example.com:443:127.0.0.1,[::1]".parse()?;
/// assert_eq!(e.host(), "example.com");
/// assert_eq!(e.port(), 443);
/// assert_eq!(e.addrs().len(), 2);
/// assert!("example.com:https:127.0.0.1".parse::<ResolveEntry>().is_err());
/// # Ok::<(), keepalive_connector::ParseResolveError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveEntry {
    host: String,
    port: u16,
    addrs: Vec<IpAddr>,
}

impl ResolveEntry {
    /// The host name.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The addresses, in order.
    pub fn addrs(&self) -> &[IpAddr] {
        &self.addrs
    }
}

/// Why a `HOST:PORT:ADDR` string was refused; its `Display` names the bad part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseResolveError {
    input: String,
    kind: ParseResolveErrorKind,
}

/// Which part of a `HOST:PORT:ADDR` string was bad.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseResolveErrorKind {
    /// Not three `:`-separated parts.
    Shape,
    /// The host part is empty or holds characters no host name has.
    Host(String),
    /// The port is not a number from 1 to 65535.
    Port(String),
    /// An address is not an IPv4 or IPv6 address.
    Addr(String),
}

impl ParseResolveError {
    /// Which part was bad.
    pub fn kind(&self) -> &ParseResolveErrorKind {
        &self.kind
    }
}

impl fmt::Display for ParseResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid resolve entry {:?}: ", self.input)?;
        match &self.kind {
            ParseResolveErrorKind::Shape => f.write_str("expected HOST:PORT:ADDR[,ADDR...]"),
            ParseResolveErrorKind::Host(h) => write!(f, "bad host {h:?}"),
            ParseResolveErrorKind::Port(p) => write!(f, "bad port {p:?} (expected 1-65535)"),
            ParseResolveErrorKind::Addr(a) => write!(f, "bad address {a:?}"),
        }
    }
}

impl std::error::Error for ParseResolveError {}

impl FromStr for ResolveEntry {
    type Err = ParseResolveError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |kind| ParseResolveError {
            input: s.to_owned(),
            kind,
        };
        let mut parts = s.splitn(3, ':');
        let (Some(host), Some(port), Some(addrs)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(err(ParseResolveErrorKind::Shape));
        };
        if !is_host_name(host) {
            return Err(err(ParseResolveErrorKind::Host(host.to_owned())));
        }
        let port = match port.parse::<u16>() {
            Ok(p) if p != 0 && !port.starts_with('+') => p,
            _ => return Err(err(ParseResolveErrorKind::Port(port.to_owned()))),
        };
        let addrs = addrs
            .split(',')
            .map(|a| {
                let bare = a
                    .strip_prefix('[')
                    .and_then(|a| a.strip_suffix(']'))
                    .unwrap_or(a);
                bare.parse::<IpAddr>()
                    .map_err(|_| err(ParseResolveErrorKind::Addr(a.to_owned())))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ResolveEntry {
            host: host.to_owned(),
            port,
            addrs,
        })
    }
}
