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
        Connecting::new(async move {
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

/// Which hyper-util client a request goes through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub(crate) struct Route {
    /// Doublings of the PING interval for the origin (see the module docs).
    level: u8,
    /// HTTP/2 only (prior agreement instead of waiting for ALPN): for requests sent again
    /// after an HTTP/2 server's GOAWAY refused them. hyper-util's pool lets only one HTTP/2 connection
    /// at a time be made per origin when it knows the connection will be HTTP/2; with ALPN it
    /// cannot know, and every request waiting for a connection starts its own. After a GOAWAY
    /// with many streams in flight, that would be one TLS handshake per refused request, at
    /// the moment the server is going away (a deploy, a restart).
    h2_only: bool,
}

/// The clients, by PING schedule and HTTP/2-only; see the module docs.
#[derive(Debug)]
pub(crate) struct Pools {
    connector: ManagedConnector,
    base: Hyper,
    /// Whether any origin backed off or any re-send took the HTTP/2-only route: until then,
    /// requests skip the lock.
    any_other: AtomicBool,
    other: Mutex<Others>,
}

#[derive(Debug, Default)]
struct Others {
    /// Doublings per origin.
    levels: HashMap<Key, u8>,
    /// The clients other than `base`, made when first needed.
    clients: HashMap<Route, Hyper>,
}

impl Pools {
    pub(crate) fn new(connector: &Connector) -> Self {
        let managed = ManagedConnector {
            connector: connector.clone(),
            settings: connector.config().client,
        };
        Pools {
            base: build(&managed, Route::default()),
            connector: managed,
            any_other: AtomicBool::new(false),
            other: Mutex::new(Others::default()),
        }
    }

    /// The client for a request to `key`; `h2_only` for one sent again after an HTTP/2
    /// server's GOAWAY refused it.
    pub(crate) fn client_for(&self, key: Option<&Key>, h2_only: bool) -> Hyper {
        if !h2_only && !self.any_other.load(Ordering::Acquire) {
            return self.base.clone();
        }
        let mut other = self.other.lock().unwrap_or_else(PoisonError::into_inner);
        let level = key.and_then(|k| other.levels.get(k).copied()).unwrap_or(0);
        let route = Route { level, h2_only };
        if route == Route::default() {
            return self.base.clone();
        }
        self.any_other.store(true, Ordering::Release);
        other
            .clients
            .entry(route)
            .or_insert_with(|| build(&self.connector, route))
            .clone()
    }

    /// The server of `key` complained about PINGs: its next connections ping half as often.
    pub(crate) fn too_many_pings(&self, key: &Key) {
        let mut other = self.other.lock().unwrap_or_else(PoisonError::into_inner);
        let level = other.levels.get(key).copied().unwrap_or(0);
        if level >= MAX_LEVEL {
            return;
        }
        other.levels.insert(key.clone(), level + 1);
        self.any_other.store(true, Ordering::Release);
        let interval = self.ping_interval(level + 1);
        tracing::debug!(
            origin = shown(&key.1),
            ?interval,
            "server said too_many_pings: pinging it less often"
        );
    }

    fn ping_interval(&self, level: u8) -> Option<Duration> {
        let keepalive = self.connector.connector.config().socket.keepalive;
        keepalive
            .is_enabled()
            .then(|| keepalive.idle_duration().saturating_mul(1 << level))
    }
}

/// `authority` without its user info, for logs: never a credential.
fn shown(authority: &Authority) -> &str {
    let all = authority.as_str();
    all.rsplit_once('@').map_or(all, |(_, host)| host)
}

/// A hyper-util client over `connector` for `route`: its PING interval is the keepalive idle
/// time doubled `route.level` times.
fn build(connector: &ManagedConnector, route: Route) -> Hyper {
    let mut builder = connector.connector.liveness_builder(1 << route.level);
    builder.http2_only(route.h2_only);
    // The connections retire themselves when idle (see `conn_state`); hyper-util's idle
    // timer would also drop HTTP/2 connections whose streams are still open.
    builder.pool_idle_timeout(None);
    // hyper-util's own re-send of a request a reused connection handed back unsent would go
    // out on a connection the client never sees (its use uncounted, so it could retire under
    // the answer, and `RequestInfo` would name the wrong one); the client re-sends such a
    // request itself (`StaleReason::NotSent`), on a connection it watches.
    builder.retry_canceled_requests(false);
    builder.build(connector.clone())
}

#[cfg(test)]
mod tests {
    #[test]
    fn logs_show_an_authority_without_its_user_info() {
        for (raw, want) in [
            ("user:s3cret@api.example.com", "api.example.com"),
            ("u:p%40ss@[::1]:8443", "[::1]:8443"),
            ("api.example.com:443", "api.example.com:443"),
        ] {
            let authority: http::uri::Authority = raw.parse().unwrap();
            assert_eq!(super::shown(&authority), want);
        }
    }
}
