//! The dial layer's settings: its piece of the configuration, set on the connector's
//! [`Builder`] and checked in [`Builder::build`] (by [`DialSettings::build`]), as the client's
//! are in `client::settings`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use super::cache::DnsCache;
use super::dns::{Family, Resolve, SystemResolver};
use super::{DialConfig, LocalAddrs};
use crate::builder::Builder;
use crate::error::{between, count, non_zero, ConfigError, ConfigField};

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
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

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

/// What the builder collected for the dial layer, before validation.
#[derive(Clone)]
pub(crate) struct DialSettings {
    local: LocalAddrs,
    connect_timeout: Duration,
    happy_eyeballs: bool,
    happy_eyeballs_delay: Duration,
    dns_cache_ttl: Option<Duration>,
    dns_cache_capacity: usize,
    /// `None`: the system's.
    resolver: Option<Arc<dyn Resolve>>,
}

impl Default for DialSettings {
    fn default() -> Self {
        DialSettings {
            local: LocalAddrs::default(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            happy_eyeballs: true,
            happy_eyeballs_delay: DEFAULT_HAPPY_EYEBALLS_DELAY,
            dns_cache_ttl: Some(DEFAULT_DNS_CACHE_TTL),
            dns_cache_capacity: DEFAULT_DNS_CACHE_CAPACITY,
            resolver: None,
        }
    }
}

impl std::fmt::Debug for DialSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DialSettings")
            .field("local", &self.local)
            .field("connect_timeout", &self.connect_timeout)
            .field("happy_eyeballs", &self.happy_eyeballs)
            .field("happy_eyeballs_delay", &self.happy_eyeballs_delay)
            .field("dns_cache_ttl", &self.dns_cache_ttl)
            .field("dns_cache_capacity", &self.dns_cache_capacity)
            .field("resolver", &self.resolver.as_ref().map(|_| "custom"))
            .finish()
    }
}

impl DialSettings {
    /// Checks every value and builds the dial layer's configuration (with a DNS cache of its
    /// own, shared by the connector's clones).
    pub(crate) fn build(self) -> Result<DialConfig, ConfigError> {
        non_zero(ConfigField::ConnectTimeout, self.connect_timeout)?;
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
        Ok(DialConfig {
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
        })
    }
}

/// The dial layer's settings: where sockets connect from, how a name's addresses are raced,
/// the DNS cache and resolver, the connect timeout.
impl Builder {
    /// Binds every socket to this local address before connecting (port chosen by the
    /// kernel). Only remote addresses of the same family are tried; see
    /// [`local_addresses`](Builder::local_addresses) for one per family. Replaces the address
    /// of its family set by an earlier call. Default: any.
    ///
    /// The address is bound after the [`Stage::BeforeConnect`](crate::Stage::BeforeConnect) options and the socket hook, so
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
            IpAddr::V4(v4) => self.dial.local.v4 = Some(v4),
            IpAddr::V6(v6) => self.dial.local.v6 = Some(v6),
        }
        self
    }

    /// Binds IPv4 sockets to `v4` and IPv6 sockets to `v6` (ports chosen by the kernel), so
    /// that both families can still be raced with a fixed source address. Bound after the
    /// `BeforeConnect` options and hook, as with [`local_address`](Builder::local_address).
    /// Default: any.
    pub fn local_addresses(mut self, v4: Ipv4Addr, v6: Ipv6Addr) -> Self {
        self.dial.local.v4 = Some(v4);
        self.dial.local.v6 = Some(v6);
        self
    }

    /// Connects over this address family only, like curl's `-4`/`-6`: resolved addresses of
    /// the other family are skipped, and a host that has none of this family (an IP literal
    /// of the other family, too) fails with [`Phase::Connect`](crate::Phase::Connect).
    /// Through a proxy it is the proxy's address that must be of this family, and, for a
    /// `socks5://` proxy, the origin's addresses it is asked to connect to as well. Default:
    /// both.
    pub fn ip_family(mut self, family: Family) -> Self {
        self.dial.local.only = Some(family);
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
    /// without a timer (no tokio timer is registered at all).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.dial.connect_timeout = timeout;
        self
    }

    /// Whether to race a name's addresses (Happy Eyeballs v2, RFC 8305): ask for AAAA and A
    /// records concurrently where the resolver can (and start on the first answer, waiting up
    /// to 50 ms for AAAA after A), interleave the addresses by family, and start the next
    /// attempt every [`happy_eyeballs_delay`](Builder::happy_eyeballs_delay) or as soon as the
    /// running one fails; the first to connect wins and the others' sockets are closed at once.
    /// [`Stage::BeforeConnect`](crate::Stage::BeforeConnect) options and the socket hook apply to every attempt's socket,
    /// [`Stage::AfterConnect`](crate::Stage::AfterConnect) and later only to the winner's.
    ///
    /// `false`: the whole answer is awaited and its addresses tried one after another, in the
    /// resolver's order, each with an equal share of what is left of the connect timeout.
    /// Default: on.
    pub fn happy_eyeballs(mut self, enabled: bool) -> Self {
        self.dial.happy_eyeballs = enabled;
        self
    }

    /// The connection attempt delay of happy eyeballs: how long an attempt has to connect
    /// before the next address is tried alongside it. From 10 ms to 2 s (RFC 8305 §5's
    /// limits; [`build`](Builder::build) refuses others). Default: 250 ms (hyper-util uses
    /// 300 ms, curl 200 ms, RFC 8305 recommends 250 ms).
    pub fn happy_eyeballs_delay(mut self, delay: Duration) -> Self {
        self.dial.happy_eyeballs_delay = delay;
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
        self.dial.dns_cache_ttl = ttl;
        self
    }

    /// The most names (host and port) the DNS cache holds; when full, expired entries go
    /// first, then the one closest to expiry. At least 1. Default: 256.
    pub fn dns_cache_capacity(mut self, entries: usize) -> Self {
        self.dial.dns_cache_capacity = entries;
        self
    }

    /// Resolves names with this resolver instead of the system's. See
    /// [`StaticResolver`](crate::StaticResolver) for a ready static map. Default: the system's
    /// (`getaddrinfo` on tokio's blocking pool, one query per family for happy eyeballs).
    ///
    /// Named as reqwest names it (`ClientBuilder::dns_resolver`), next to this builder's other
    /// `dns_` settings.
    pub fn dns_resolver(mut self, resolver: impl Resolve) -> Self {
        self.dial.resolver = Some(Arc::new(resolver));
        self
    }
}
