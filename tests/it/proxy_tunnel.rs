//! The tunnel step's time limits and addresses: the proxy's TLS handshake and `CONNECT` each
//! get what their timeouts promise; `socks5://` resolves through the connector's resolver,
//! cache and family setting, and moves on to the next address when the proxy cannot reach one.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use keepalive_connector::{
    Family, Phase, Proxy, ProxyError, Resolve, Resolving, SocksError, SocksReply, StaticResolver,
};
use keepalive_testserver::external::{require, Microsocks};
use keepalive_testserver::{ConnectProxy, SocksProxy, TestServer};

use crate::support::builder_for;

/// `localhost` at each of `ports` → 127.0.0.1, and nothing else.
fn localhost_at(ports: &[u16]) -> StaticResolver {
    ports
        .iter()
        .fold(StaticResolver::new(), |r, &port| {
            r.add("localhost", port, ["127.0.0.1".parse().unwrap()])
        })
        .no_fallback()
}

/// Item 13 of issue 19: `CONNECT` shared the connect timeout's deadline with the TLS handshake
/// to an `https://` proxy, so a slow but legal handshake (within the handshake timeout) left
/// `CONNECT` no time. The connect timeout now counts dialing and the `CONNECT` exchange; each
/// TLS handshake has the handshake timeout.
#[tokio::test]
async fn a_slow_handshake_with_the_proxy_leaves_connect_its_time() {
    let server = TestServer::start().await.unwrap();
    let delay = Duration::from_millis(1500);
    let proxy = ConnectProxy::builder()
        .tls(Arc::clone(server.ca()))
        .handshake_delay(delay)
        .start()
        .await
        .unwrap();
    let resolver = localhost_at(&[server.addr().port(), proxy.addr().port()]);
    let connector = builder_for(&server)
        .dns_resolver(resolver.clone())
        .proxy(Proxy::all(&proxy.url()))
        .connect_timeout(Duration::from_secs(1))
        .handshake_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let uri: http::Uri = server.url_by_name("/").parse().unwrap();
    let conn = connector.connect(&uri).await.unwrap();
    let proxy_time = conn.info().timings().proxy().unwrap();
    assert!(proxy_time >= delay, "{proxy_time:?}");
    assert_eq!(proxy.requests().len(), 1, "the CONNECT was sent");

    // The handshake timeout still bounds the proxy's handshake.
    let connector = builder_for(&server)
        .dns_resolver(resolver)
        .proxy(Proxy::all(&proxy.url()))
        .connect_timeout(Duration::from_secs(10))
        .handshake_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = connector.connect(&uri).await.unwrap_err();
    assert_eq!(err.phase(), Phase::Proxy, "{err}");
    assert_eq!(err.timeout(), Some(Duration::from_millis(300)), "{err:?}");
}

/// Resolves every name to `addrs` (at the asked port), counting the lookups; cacheable, unlike
/// a `StaticResolver`'s entries.
#[derive(Clone)]
struct Counting {
    addrs: Vec<std::net::IpAddr>,
    lookups: Arc<AtomicUsize>,
}

impl Resolve for Counting {
    fn resolve(&self, _host: &str, port: u16) -> Resolving {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let addrs = self
            .addrs
            .iter()
            .map(|ip| SocketAddr::new(*ip, port))
            .collect();
        Box::pin(async move { Ok(addrs) })
    }
}

/// `localhost`'s addresses: one the proxy cannot reach (TCP to a multicast address fails at
/// once with "network unreachable"), then the test server's.
fn unreachable_first() -> Counting {
    Counting {
        addrs: vec!["224.0.0.1".parse().unwrap(), "127.0.0.1".parse().unwrap()],
        lookups: Arc::new(AtomicUsize::new(0)),
    }
}

/// Item 12 of issue 19: `socks5://` handed the proxy the first resolved address only, so a
/// name whose first address the proxy cannot reach failed with SOCKS reply 3 (network
/// unreachable) though the next would do. Now each address is tried in turn while the proxy
/// answers 3 or 4 — against real microsocks, which maps ENETUNREACH to reply 3.
#[tokio::test]
async fn socks5_tries_the_next_address_when_the_proxy_cannot_reach_one() {
    let Some(socks) = require(Microsocks::start(None), "microsocks, unreachable first") else {
        return;
    };
    let server = TestServer::start().await.unwrap();
    let resolver = unreachable_first();
    let connector = builder_for(&server)
        .dns_resolver(resolver.clone())
        .proxy(Proxy::all(&format!("socks5://{}", socks.addr())))
        .build()
        .unwrap();
    let uri: http::Uri = server.url_by_name("/").parse().unwrap();
    for _ in 0..2 {
        let conn = connector.connect(&uri).await.unwrap();
        assert_eq!(conn.info().remote_addr(), socks.addr());
    }
    // The origin's name went through the connector's DNS cache: resolved once for two
    // connects.
    assert_eq!(resolver.lookups.load(Ordering::SeqCst), 1);
    // An address the proxy cannot reach, alone, fails with the proxy's reply.
    let only_unreachable = Counting {
        addrs: vec!["224.0.0.1".parse().unwrap()],
        lookups: Arc::new(AtomicUsize::new(0)),
    };
    let connector = builder_for(&server)
        .dns_resolver(only_unreachable)
        .proxy(Proxy::all(&format!("socks5://{}", socks.addr())))
        .build()
        .unwrap();
    let err = connector.connect(&uri).await.unwrap_err();
    assert_eq!(
        err.proxy_error(),
        Some(&ProxyError::Socks(SocksError::Reply(
            SocksReply::NetworkUnreachable
        ))),
        "{err}"
    );
}

/// Item 12 of issue 19: the origin's addresses follow the connector's `ip_family`, as a dial
/// does (the test server's SOCKS5 proxy records what it was asked for).
#[tokio::test]
async fn socks5_asks_for_the_connectors_family_only() {
    let server = TestServer::start().await.unwrap();
    let socks = SocksProxy::start(None).await.unwrap();
    let port = server.addr().port();
    let resolver = Counting {
        // ff02::1: multicast, which TCP cannot reach ("network unreachable" at once).
        addrs: vec!["ff02::1".parse().unwrap(), "127.0.0.1".parse().unwrap()],
        lookups: Arc::new(AtomicUsize::new(0)),
    };
    let uri: http::Uri = server.url_by_name("/").parse().unwrap();
    let connector = builder_for(&server)
        .dns_resolver(resolver.clone())
        .proxy(Proxy::all(&format!("socks5://{}", socks.addr())))
        .build()
        .unwrap();
    connector.connect(&uri).await.unwrap();
    assert_eq!(
        socks.targets(),
        [format!("[ff02::1]:{port}"), format!("127.0.0.1:{port}")]
    );
    let socks = SocksProxy::start(None).await.unwrap();
    let connector = builder_for(&server)
        .dns_resolver(resolver)
        .ip_family(Family::V4)
        .proxy(Proxy::all(&format!("socks5://{}", socks.addr())))
        .build()
        .unwrap();
    connector.connect(&uri).await.unwrap();
    assert_eq!(socks.targets(), [format!("127.0.0.1:{port}")]);
}

/// A `socks5://` origin's name is resolved here before the proxy is dialed: a name that does
/// not resolve is a `Phase::Dns` error about the origin, naming the proxy, from `connect` and
/// from `tunnel_handshake` alike.
#[tokio::test]
async fn a_socks5_origin_that_does_not_resolve_is_a_dns_error_naming_the_proxy() {
    let connector = keepalive_connector::Connector::builder()
        .dns_resolver(StaticResolver::new().no_fallback())
        .proxy(Proxy::all("socks5://127.0.0.1:1"))
        .build()
        .unwrap();
    let uri: http::Uri = "https://nowhere.test/".parse().unwrap();
    let origin = keepalive_connector::Origin::from_uri(&uri).unwrap();
    let (client, _server) = tokio::io::duplex(64);
    for err in [
        connector.connect(&uri).await.unwrap_err(),
        connector
            .tunnel_handshake(&origin, client)
            .await
            .unwrap_err(),
    ] {
        assert_eq!(err.phase(), Phase::Dns, "{err}");
        assert_eq!(err.host_name(), Some("nowhere.test"), "{err}");
        assert_eq!(err.proxy().unwrap().url(), "socks5://127.0.0.1:1/", "{err}");
        assert_eq!(err.addr(), None, "nothing was dialed: {err}");
    }
}
