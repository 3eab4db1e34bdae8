//! The *dial* layer: name → addresses → a connected TCP socket, with the
//! [`Stage::BeforeConnect`] options on every attempt's socket and the [`Stage::AfterConnect`]
//! options on the one that connected.
//!
//! It knows where the socket goes (an [`Endpoint`]: the origin when direct, the proxy
//! otherwise) and nothing of TLS or HTTP.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use socket2::SockRef;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tracing::{debug, Instrument};

use crate::deadline::{deadline_after, within};
use crate::error::{ConnectError, Phase};
use crate::socket::{self, SocketPolicy, Stage};

mod addresses;
mod attempt;
mod cache;
mod dns;
mod lookup;
mod queue;
mod race;
mod settings;
mod tcp;

pub(crate) use addresses::{addresses, forget_unreachable, Addresses};
pub use attempt::{Attempt, AttemptOutcome};
pub use dns::{
    Family, ParseResolveError, ParseResolveErrorKind, Resolve, ResolveEntry, Resolving,
    StaticResolver, SystemResolver,
};
pub(crate) use settings::DialSettings;

use attempt::{Ended, Tally};
use cache::{DnsCache, Get, Leader, Stored};
use lookup::Lookup;
use queue::Queue;

/// The dial piece of a connector's configuration.
#[derive(Clone)]
pub(crate) struct DialConfig {
    pub(crate) resolver: Arc<dyn Resolve>,
    pub(crate) local: LocalAddrs,
    /// Bounds name resolution and every connection attempt together: one deadline.
    pub(crate) connect_timeout: Duration,
    /// Race the addresses (RFC 8305); `false`: one after another.
    pub(crate) happy_eyeballs: bool,
    /// The connection attempt delay.
    pub(crate) happy_eyeballs_delay: Duration,
    /// Shared by every clone of the connector; `None` when caching is off.
    pub(crate) cache: Option<Arc<DnsCache>>,
}

impl std::fmt::Debug for DialConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DialConfig")
            .field("local", &self.local)
            .field("connect_timeout", &self.connect_timeout)
            .field("happy_eyeballs", &self.happy_eyeballs)
            .field("happy_eyeballs_delay", &self.happy_eyeballs_delay)
            .field("cache", &self.cache.is_some())
            .finish_non_exhaustive()
    }
}

/// The local addresses to bind, per family, and the families allowed. When only one family has
/// a local address, or only one family is allowed, only remote addresses of that family are
/// tried.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LocalAddrs {
    pub(crate) v4: Option<Ipv4Addr>,
    pub(crate) v6: Option<Ipv6Addr>,
    /// `Builder::ip_family`: connect over this family only.
    pub(crate) only: Option<Family>,
}

impl LocalAddrs {
    /// The address to bind for a connection to `peer`, if any.
    pub(crate) fn for_peer(&self, peer: SocketAddr) -> Option<IpAddr> {
        match peer {
            SocketAddr::V4(_) => self.v4.map(IpAddr::V4),
            SocketAddr::V6(_) => self.v6.map(IpAddr::V6),
        }
    }

    /// Whether `peer` can be reached: a socket bound to an IPv4 address cannot reach an IPv6
    /// peer and vice versa.
    pub(crate) fn allows(&self, peer: &SocketAddr) -> bool {
        self.only.is_none_or(|only| only == Family::of(peer))
            && ((self.v4.is_none() && self.v6.is_none()) || self.for_peer(*peer).is_some())
    }
}

/// Where the socket goes: a host (a name to resolve, or an IP literal) and a port.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Endpoint<'a> {
    pub(crate) host: &'a str,
    pub(crate) ip: Option<IpAddr>,
    pub(crate) port: u16,
}

/// A connected socket and what dialing it measured.
#[derive(Debug)]
pub(crate) struct Dialed {
    pub(crate) stream: TcpStream,
    pub(crate) facts: DialFacts,
}

/// What dialing a socket measured: kept for the connection's `ConnectInfo` once the stream
/// has gone on to the tunnel and TLS.
#[derive(Debug)]
pub(crate) struct DialFacts {
    /// The address that accepted.
    pub(crate) remote_addr: SocketAddr,
    /// Every address tried, in the order the attempts started, the winner included.
    pub(crate) attempts: Vec<Attempt>,
    /// From the start of dialing until the first attempt started; `None` for an IP literal.
    pub(crate) dns: Option<Duration>,
    /// Whether the addresses came from the connector's DNS cache.
    pub(crate) dns_from_cache: bool,
    /// From the first attempt's start until one connected.
    pub(crate) connect: Duration,
}

/// How this dial got its addresses, and what it owes the cache.
#[derive(Debug)]
enum Role {
    /// An IP literal.
    Literal,
    /// Resolved without the cache (off, or the resolver's answer is not cacheable).
    Uncached,
    /// From the cache.
    Hit(Arc<[SocketAddr]>),
    /// Resolving for the cache: store the answer once connected (or hand it to the waiters on
    /// failure).
    Lead(Leader),
    /// Waited for a leader that failed, and tries the addresses it received: store them on
    /// success.
    Handed(Arc<[SocketAddr]>, Arc<DnsCache>),
    /// Resolving on its own after waiting for a leader that received nothing: store on
    /// success too.
    Solo(Arc<DnsCache>),
}

/// Resolves `to` (or takes its addresses from the cache), connects to one of them within the
/// connect timeout (racing them, unless happy eyeballs is off), and applies the `AfterConnect`
/// options to the winner. `start` is when the connect began (the connector's clock, read once).
pub(crate) async fn dial(
    cfg: &DialConfig,
    policy: &SocketPolicy,
    to: Endpoint<'_>,
    start: Instant,
) -> Result<Dialed, ConnectError> {
    let deadline = deadline_after(start, cfg.connect_timeout);

    let literal = to.ip.map(|ip| SocketAddr::new(ip, to.port));
    let (mut lookup, role) = match literal {
        Some(_) => (Lookup::empty(), Role::Literal),
        None => {
            source(cfg, to, deadline)
                .instrument(tracing::debug_span!("dns"))
                .await?
        }
    };
    // Addresses known before dialing: the literal, or the cache's answer.
    let known = match (&literal, &role) {
        (Some(addr), _) => Some(std::slice::from_ref(addr)),
        (None, Role::Hit(addrs) | Role::Handed(addrs, _)) => Some(&addrs[..]),
        _ => None,
    };

    let mut tally = Tally::new(start);
    let result = connect(
        cfg,
        policy,
        to.host,
        known,
        &mut lookup,
        &mut tally,
        deadline,
    )
    .instrument(tracing::debug_span!("tcp"))
    .await;
    let (stream, remote_addr) = match result {
        Ok(won) => won,
        Err(ended) => {
            match (role, &cfg.cache) {
                (Role::Hit(addrs), Some(cache)) if tally.all_failed(&addrs) => {
                    debug!(host = to.host, "every cached address failed: entry dropped");
                    cache.evict(to.host, to.port, &addrs);
                }
                // The waiters try what was received rather than start over with what is
                // left of their budget (a DNS timeout, when this lookup ran to its end).
                (Role::Lead(leader), _) => leader.give_up(lookup.received()),
                _ => {}
            }
            return Err(match ended {
                Ended::NoAddress(err) => err,
                Ended::Failed { timed_out } => {
                    tally.into_error(to.host, timed_out.then_some(cfg.connect_timeout))
                }
            });
        }
    };
    let first_start = tally.first_start().unwrap_or(start);
    let connect = tally
        .connected_at()
        .map_or_else(|| first_start.elapsed(), |at| at - first_start);
    let dns = to.ip.is_none().then(|| first_start - start);
    let dns_from_cache = matches!(role, Role::Hit(_) | Role::Handed(..));
    match role {
        Role::Lead(leader) => finish_lookup(lookup, |a| leader.store(a)),
        Role::Solo(cache) => finish_lookup(lookup, |a| cache.store(to.host, to.port, a)),
        // Addresses that worked after the leader failed with them: an answer worth keeping.
        Role::Handed(addrs, cache) => {
            cache.store(to.host, to.port, addrs);
        }
        Role::Literal | Role::Uncached | Role::Hit(_) => {}
    }
    let attempts = tally.into_attempts();
    debug!(%remote_addr, ?dns, dns_from_cache, ?connect, attempts = attempts.len(), "connected");
    socket::apply(policy, Stage::AfterConnect, SockRef::from(&stream)).map_err(|e| {
        ConnectError::socket(Stage::AfterConnect, Phase::Connect, remote_addr, e).with_host(to.host)
    })?;
    Ok(Dialed {
        stream,
        facts: DialFacts {
            remote_addr,
            attempts,
            dns,
            dns_from_cache,
            connect,
        },
    })
}

/// Where the addresses of a name come from: the cache, a lookup this dial leads for the
/// cache, or a lookup of its own.
async fn source(
    cfg: &DialConfig,
    to: Endpoint<'_>,
    deadline: Instant,
) -> Result<(Lookup, Role), ConnectError> {
    // Racing asks per family, to start on the first answer; the sequential dial wants the
    // whole answer anyway, in the resolver's order.
    let resolve = || Lookup::start(&*cfg.resolver, to.host, to.port, cfg.happy_eyeballs);
    let cache = match &cfg.cache {
        Some(cache) if cfg.resolver.cacheable(to.host, to.port) => cache,
        _ => return Ok((resolve(), Role::Uncached)),
    };
    let hit = |addrs: Arc<[SocketAddr]>| (Lookup::empty(), Role::Hit(addrs));
    Ok(match cache.get(to.host, to.port) {
        Get::Hit(addrs) => hit(addrs),
        Get::Lead(leader) => (resolve(), Role::Lead(leader)),
        Get::Wait(mut done) => {
            debug!(
                host = to.host,
                "waiting for a lookup of the same name under way"
            );
            // The leader sends at most once, just before it is done; `changed` returns an
            // error once it is.
            let closed = async { while done.changed().await.is_ok() {} };
            if within(cfg.connect_timeout, deadline, closed)
                .await
                .is_none()
            {
                return Err(ConnectError::new(Phase::Dns)
                    .with_host(to.host)
                    .timed_out(cfg.connect_timeout));
            }
            if let Some(addrs) = cache.hit(to.host, to.port) {
                return Ok(hit(addrs));
            }
            let handed = done.borrow().clone();
            if let Some(addrs) = handed {
                debug!(
                    host = to.host,
                    "the lookup's leader failed: trying what it received"
                );
                return Ok((Lookup::empty(), Role::Handed(addrs, Arc::clone(cache))));
            }
            match cache.get(to.host, to.port) {
                Get::Hit(addrs) => hit(addrs),
                Get::Lead(leader) => (resolve(), Role::Lead(leader)),
                Get::Wait(_) => (resolve(), Role::Solo(Arc::clone(cache))),
            }
        }
    })
}

/// Connects to the `known` addresses, or to what `lookup` answers: the race, or one address
/// after another.
async fn connect(
    cfg: &DialConfig,
    policy: &SocketPolicy,
    host: &str,
    known: Option<&[SocketAddr]>,
    lookup: &mut Lookup,
    tally: &mut Tally,
    deadline: Instant,
) -> Result<(TcpStream, SocketAddr), Ended> {
    let mut queue = Queue::new(&cfg.local, false);
    match known {
        // One address (an IP literal, usually): nothing to race, and nothing to allocate.
        Some([addr]) if cfg.local.allows(addr) => {
            return tcp::sequential(
                cfg,
                policy,
                host,
                std::slice::from_ref(addr),
                tally,
                deadline,
            )
            .await
        }
        Some(addrs) if cfg.happy_eyeballs && addrs.len() > 1 => {
            *lookup = Lookup::ready(addrs.to_vec());
        }
        Some(addrs) => {
            queue.push_all(addrs);
        }
        None if cfg.happy_eyeballs => {}
        None => {
            // The sequential dial wants the whole answer first.
            while !lookup.is_done() {
                match within(cfg.connect_timeout, deadline, lookup.next()).await {
                    Some(answer) => queue.push(answer),
                    None => {
                        return Err(Ended::NoAddress(
                            ConnectError::new(Phase::Dns)
                                .with_host(host)
                                .timed_out(cfg.connect_timeout),
                        ))
                    }
                };
            }
        }
    }
    if cfg.happy_eyeballs && !lookup.is_done() {
        return race::race(cfg, policy, host, lookup, tally, deadline).await;
    }
    if queue.is_empty() {
        return Err(Ended::NoAddress(queue.no_address(host)));
    }
    let addrs: Vec<SocketAddr> = std::iter::from_fn(|| queue.pop()).collect();
    tcp::sequential(cfg, policy, host, &addrs, tally, deadline).await
}

/// Stores what the lookup received with `store` as soon as the connect is made, so that the
/// connects waiting on this lookup, and those after it, need not wait for a family that
/// answers late (glibc gives a dropped AAAA query 5 s, twice). The rest of the lookup then
/// finishes in a task of its own and completes the entry, so the cache gets the whole answer
/// and not only the part this connect needed. That task runs until the entry expires at most
/// (what it would add is stale after), not until this connect's deadline, which a late family
/// can outlast.
fn finish_lookup(mut lookup: Lookup, store: impl FnOnce(Arc<[SocketAddr]>) -> Stored) {
    let received = lookup.received();
    if received.is_empty() {
        return;
    }
    let stored = store(received.into());
    if lookup.is_done() {
        return;
    }
    tokio::spawn(async move {
        let rest = async {
            while !lookup.is_done() {
                lookup.next().await;
            }
        };
        match stored.expires() {
            Some(at) => {
                let _ = tokio::time::timeout_at(at, rest).await;
            }
            None => rest.await,
        }
        let all = lookup.received();
        if all.len() > stored.count() {
            stored.update(all.into());
        }
    });
}
