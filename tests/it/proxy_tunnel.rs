//! The tunnel step's time limits and addresses: the proxy's TLS handshake and `CONNECT` each
//! get what their timeouts promise; `socks5://` resolves through the connector's resolver,
//! cache and family setting, and moves on to the next address when the proxy cannot reach one.

use std::time::Duration;

use keepalive_connector::{Phase, Proxy, StaticResolver};
use keepalive_testserver::{ConnectProxy, TestServer};

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
        .tls(server.ca().clone())
        .handshake_delay(delay)
        .start()
        .await
        .unwrap();
    let resolver = localhost_at(&[server.addr().port(), proxy.addr().port()]);
    let connector = builder_for(&server)
        .resolver(resolver.clone())
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
        .resolver(resolver)
        .proxy(Proxy::all(&proxy.url()))
        .connect_timeout(Duration::from_secs(10))
        .handshake_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = connector.connect(&uri).await.unwrap_err();
    assert_eq!(err.phase(), Phase::Proxy, "{err}");
    assert_eq!(err.timeout(), Some(Duration::from_millis(300)), "{err:?}");
}
