//! The hyper-util `Client`s under a [`Client`](crate::Client): one for the keepalive's PING
//! schedule, and one per slower schedule for origins whose servers complained about PINGs.
//!
//! gRPC servers answer a client that pings more often than they allow (every 5 minutes by
//! default, streams open or not) with `GOAWAY ENHANCE_YOUR_CALM "too_many_pings"` and close
//! the connection. grpc-go's client then doubles its keepalive time for the connections that
//! follow; so does this: after such a GOAWAY, the origin's next connections ping half as
//! often, and again after each further complaint. The PING interval is a setting of the whole
//! hyper-util `Client`, so each schedule has its own (and its own pool); the schedule the
//! keepalive settings ask for stays in force for every other origin.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use http::uri::{Authority, Scheme};
use http::Uri;
use hyper_util::client::legacy::Client as HyperClient;

use super::replay::ReplayBody;
use super::settings::ClientSettings;
use crate::conn_state::Management;
use crate::connector::{Connecting, Connector};
use crate::error::ConnectError;
use crate::stream::Conn;

/// Doublings of the PING interval at most: 30 s × 2⁸ is over two hours.
const MAX_LEVEL: u8 = 8;

/// The hyper-util client every request goes through.
pub(crate) type Hyper = HyperClient<ManagedConnector, ReplayBody>;

/// What hyper-util pools connections by.
pub(crate) type Key = (Scheme, Authority);

/// The origin of `uri` as hyper-util's pool keys it, when it has one.
pub(crate) fn key(uri: &Uri) -> Option<Key> {
    Some((uri.scheme()?.clone(), uri.authority()?.clone()))
}

/// The connector under a [`Client`](crate::Client): the connector's connections, each made a
/// managed one (see `conn_state`) with the client's idle timeout and its silent-drop bound.
#[derive(Clone, Debug)]
pub(crate) struct ManagedConnector {
    connector: Connector,
    settings: ClientSettings,
}

impl tower_service::Service<Uri> for ManagedConnector {
    type Response = Conn;
    type Error = ConnectError;
    type Future = Connecting;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), ConnectError>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Connecting {
        let connector = self.connector.clone();
        let settings = self.settings;
        Box::pin(async move {
            let conn = connector.connect(&uri).await?;
            // The TCP handshake's duration: one round trip to the first hop, whose TCP is the
            // one that acknowledges (the proxy's, through a proxy).
            let rtt = conn.info().timings().connect();
            Ok(conn.manage(Management {
                idle_timeout: settings.pool_idle_timeout,
                silent_drop_bound: settings.silent_drop_bound(rtt),
            }))
        })
    }
}

/// The clients, by PING schedule; see the module docs.
#[derive(Debug)]
pub(crate) struct Pools {
    connector: ManagedConnector,
    base: Hyper,
    /// Whether any origin backed off: requests skip the lock until one has.
    any_backoff: AtomicBool,
    backoff: Mutex<Backoff>,
}

#[derive(Debug, Default)]
struct Backoff {
    /// Doublings per origin.
    levels: HashMap<Key, u8>,
    /// The client for level `n` at index `n - 1`, made when first needed.
    clients: Vec<Hyper>,
}

impl Pools {
    pub(crate) fn new(connector: &Connector) -> Self {
        let managed = ManagedConnector {
            connector: connector.clone(),
            settings: connector.config().client,
        };
        Pools {
            base: build(&managed, 0),
            connector: managed,
            any_backoff: AtomicBool::new(false),
            backoff: Mutex::new(Backoff::default()),
        }
    }

    /// The client for requests to `key`.
    pub(crate) fn client_for(&self, key: Option<&Key>) -> Hyper {
        if !self.any_backoff.load(Ordering::Acquire) {
            return self.base.clone();
        }
        let Some(key) = key else {
            return self.base.clone();
        };
        let backoff = self.backoff.lock().unwrap_or_else(PoisonError::into_inner);
        match backoff.levels.get(key) {
            Some(&level) => backoff.clients[usize::from(level) - 1].clone(),
            None => self.base.clone(),
        }
    }

    /// The server of `key` complained about PINGs: its next connections ping half as often.
    pub(crate) fn too_many_pings(&self, key: &Key) {
        let mut backoff = self.backoff.lock().unwrap_or_else(PoisonError::into_inner);
        let level = backoff.levels.get(key).copied().unwrap_or(0);
        if level >= MAX_LEVEL {
            return;
        }
        let level = level + 1;
        while backoff.clients.len() < usize::from(level) {
            let next = u8::try_from(backoff.clients.len() + 1).unwrap_or(MAX_LEVEL);
            backoff.clients.push(build(&self.connector, next));
        }
        backoff.levels.insert(key.clone(), level);
        self.any_backoff.store(true, Ordering::Release);
        let interval = self.ping_interval(level);
        tracing::debug!(origin = %key.1, ?interval, "server said too_many_pings: pinging it less often");
    }

    fn ping_interval(&self, level: u8) -> Option<Duration> {
        let keepalive = self.connector.connector.config().socket.keepalive;
        keepalive
            .is_enabled()
            .then(|| keepalive.idle_duration().saturating_mul(1 << level))
    }
}

/// A hyper-util client over `connector` whose PING interval is the keepalive idle time doubled
/// `level` times.
fn build(connector: &ManagedConnector, level: u8) -> Hyper {
    let mut builder = connector.connector.liveness_builder(1 << level);
    // The connections retire themselves when idle (see `conn_state`); hyper-util's idle
    // timer would also drop HTTP/2 connections whose streams are still open.
    builder.pool_idle_timeout(None);
    builder.build(connector.clone())
}
