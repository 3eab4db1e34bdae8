//! A name's addresses without dialing them: what a `socks5://` proxy is asked to connect to
//! (the proxy, not this host, does the connecting). Through the same resolver, DNS cache and
//! [`ip_family`](crate::Builder::ip_family) as a dial, so the origin's name is resolved once per
//! cache lifetime and in the family the connector is limited to.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::time::Instant;
use tracing::debug;

use super::cache::Get;
use super::dns::Family;
use super::DialConfig;
use crate::deadline::within;
use crate::error::{ConnectError, NoAddress, Phase};

/// The usable addresses of a name, in the resolver's order (or the cache's).
#[derive(Debug)]
pub(crate) struct Addresses {
    usable: Vec<SocketAddr>,
    /// The cache entry they came from, to drop if none of them is reachable.
    cached: Option<Arc<[SocketAddr]>>,
}

impl Addresses {
    /// The addresses to try, in order; never empty.
    pub(crate) fn usable(&self) -> &[SocketAddr] {
        &self.usable
    }
}

/// The addresses of `host:port`: from the DNS cache, or resolved (all of them, both families in
/// one query) and stored in it, within `deadline`; only those of the connector's family. A
/// [`Phase::Dns`] error when there are none.
pub(crate) async fn addresses(
    cfg: &DialConfig,
    host: &str,
    port: u16,
    deadline: Instant,
) -> Result<Addresses, ConnectError> {
    let err = || ConnectError::new(Phase::Dns).with_host(host);
    let resolve = || async {
        match within(
            cfg.connect_timeout,
            deadline,
            cfg.resolver.resolve(host, port),
        )
        .await
        {
            Some(Ok(addrs)) => Ok(addrs),
            Some(Err(e)) => Err(err().with_source(e)),
            None => Err(err().timed_out(cfg.connect_timeout)),
        }
    };
    let cache = cfg
        .cache
        .as_ref()
        .filter(|_| cfg.resolver.cacheable(host, port));
    let (all, cached): (Arc<[SocketAddr]>, _) = match cache.map(|cache| cache.get(host, port)) {
        Some(Get::Hit(addrs)) => (Arc::clone(&addrs), Some(addrs)),
        Some(Get::Lead(leader)) => {
            // Dropping the leader on an error releases the name for the next connect.
            let addrs: Arc<[SocketAddr]> = resolve().await?.into();
            if !addrs.is_empty() {
                leader.store(Arc::clone(&addrs));
            }
            (addrs, None)
        }
        // Another connect is resolving the name: rather than wait on it, ask on our own (the
        // proxy's dial already waited for any lookup of the proxy's name).
        Some(Get::Wait(_)) | None => (resolve().await?.into(), None),
    };
    if all.is_empty() {
        return Err(err().with_source(NoAddress::Resolved));
    }
    let usable: Vec<SocketAddr> = all
        .iter()
        .filter(|addr| cfg.local.only.is_none_or(|only| only == Family::of(addr)))
        .copied()
        .collect();
    if usable.is_empty() {
        return Err(err().with_source(NoAddress::OfLocalFamily));
    }
    Ok(Addresses { usable, cached })
}

/// Drops the cache entry `addrs` came from (if they came from one) when the proxy could reach
/// none of them, so the next connect resolves again, as a dial does when every cached address
/// failed.
pub(crate) fn forget_unreachable(cfg: &DialConfig, host: &str, port: u16, addrs: &Addresses) {
    if let (Some(cache), Some(cached)) = (&cfg.cache, &addrs.cached) {
        debug!(host, "the proxy reached no cached address: entry dropped");
        cache.evict(host, port, cached);
    }
}
