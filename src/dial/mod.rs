//! The *dial* layer: name → addresses → a connected TCP socket, with the
//! [`Stage::BeforeConnect`] options on every attempt's socket and the [`Stage::AfterConnect`]
//! options on the one that connected.
//!
//! It knows where the socket goes (an [`Endpoint`]: the origin when direct, the proxy
//! otherwise) and nothing of TLS or HTTP.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use socket2::SockRef;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tracing::{debug, Instrument};

use crate::error::{ConnectError, Phase};
use crate::socket::{self, SocketPolicy, Stage};

mod dns;
mod tcp;

pub use dns::{
    ParseResolveError, ParseResolveErrorKind, Resolve, ResolveEntry, Resolving, StaticResolver,
    SystemResolver,
};

/// The dial piece of a connector's configuration.
#[derive(Clone)]
pub(crate) struct DialConfig {
    pub(crate) resolver: Arc<dyn Resolve>,
    pub(crate) local_address: Option<IpAddr>,
    /// Bounds name resolution and the TCP connect together.
    pub(crate) connect_timeout: Duration,
}

impl std::fmt::Debug for DialConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DialConfig")
            .field("local_address", &self.local_address)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
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
    /// The address that accepted.
    pub(crate) remote_addr: SocketAddr,
    /// How many addresses were tried, the one that connected included.
    pub(crate) attempts: usize,
    /// Name resolution; `None` for an IP literal.
    pub(crate) dns: Option<Duration>,
    /// The TCP connect over every attempt, socket set-up included.
    pub(crate) connect: Duration,
}

/// Resolves `to`, connects to one of its addresses within the connect timeout, and applies the
/// `AfterConnect` options to the winner.
pub(crate) async fn dial(
    cfg: &DialConfig,
    policy: &SocketPolicy,
    to: Endpoint<'_>,
) -> Result<Dialed, ConnectError> {
    let start = Instant::now();
    // A `Duration::MAX` timeout means "no timeout": a deadline decades away, not an overflow.
    let deadline = start
        .checked_add(cfg.connect_timeout)
        .unwrap_or_else(|| start + Duration::from_secs(30 * 365 * 86_400));

    let (addrs, dns) = match to.ip {
        Some(ip) => (vec![SocketAddr::new(ip, to.port)], None),
        None => {
            let addrs = dns::resolve(
                &*cfg.resolver,
                to.host,
                to.port,
                deadline,
                cfg.connect_timeout,
            )
            .instrument(tracing::debug_span!("dns"))
            .await?;
            (addrs, Some(start.elapsed()))
        }
    };
    debug!(?addrs, ?dns, "resolved");

    let tcp_start = Instant::now();
    let (stream, remote_addr, attempts) = tcp::connect(cfg, policy, to.host, &addrs, deadline)
        .instrument(tracing::debug_span!("tcp"))
        .await?;
    let connect = tcp_start.elapsed();
    debug!(%remote_addr, ?connect, attempts, "connected");
    socket::apply(policy, Stage::AfterConnect, SockRef::from(&stream)).map_err(|e| {
        ConnectError::socket(Stage::AfterConnect, Phase::Connect, remote_addr, e).with_host(to.host)
    })?;
    Ok(Dialed {
        stream,
        remote_addr,
        attempts,
        dns,
        connect,
    })
}
