//! hyper-util's `Client` over the connector: HTTP/2 and HTTP/1.1 chosen by ALPN, plain HTTP,
//! and the `ConnectInfo` every response carries.

use keepalive_connector::{ConnectInfo, Keepalive, Stage};
use keepalive_testserver::TestServer;
use rustls::ProtocolVersion;

use crate::support::{assert_keepalive, body_text, builder_for, client};

#[tokio::test]
async fn get_over_h2_by_alpn_carries_connect_info() {
    let server = TestServer::start().await.unwrap();
    let connector = builder_for(&server).build().unwrap();
    let resp = client(connector)
        .get(server.url("/").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), http::Version::HTTP_2);
    assert_eq!(resp.headers()["x-alpn"], "h2");
    // No SNI for an IP-literal host.
    assert_eq!(resp.headers()["x-sni"], "");
    let info = resp.extensions().get::<ConnectInfo>().unwrap().clone();
    assert_eq!(body_text(resp).await, "hello from keepalive-testserver\n");

    assert_eq!(info.remote_addr(), server.addr());
    assert!(info.local_addr().ip().is_loopback());
    assert_ne!(info.local_addr().port(), 0);
    assert_eq!(info.tls().and_then(|t| t.alpn()), Some(&b"h2"[..]));
    assert_eq!(
        info.tls().and_then(|t| t.version()),
        Some(ProtocolVersion::TLSv1_3)
    );
    assert!(info.tls().and_then(|t| t.cipher_suite()).is_some());
    assert_eq!(info.timings().dns(), None, "IP literal: no resolution");
    assert!(info.timings().tls().is_some());
    assert!(info.timings().total() >= info.timings().connect() + info.timings().tls().unwrap());
    assert_eq!(info.attempts().len(), 1);
    assert!(
        info.tcp_nodelay(),
        "nodelay is on by default, read back from the kernel"
    );
    let ka = info.keepalive().expect("keepalive is on by default");
    assert_eq!(ka.stage(), Stage::AfterHandshake);
    assert_keepalive(ka, Keepalive::new());
}

#[tokio::test]
async fn get_over_http1_when_only_http1_is_offered() {
    let server = TestServer::start().await.unwrap();
    let connector = builder_for(&server).http1_only().build().unwrap();
    let resp = client(connector)
        .get(server.url_by_name("/").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), http::Version::HTTP_11);
    assert_eq!(resp.headers()["x-alpn"], "http/1.1");
    assert_eq!(resp.headers()["x-sni"], "localhost");
    let info = resp.extensions().get::<ConnectInfo>().unwrap().clone();
    assert_eq!(body_text(resp).await, "hello from keepalive-testserver\n");
    assert_eq!(info.tls().and_then(|t| t.alpn()), Some(&b"http/1.1"[..]));
    assert!(
        info.timings().dns().is_some(),
        "a name goes through the resolver"
    );
}

#[tokio::test]
async fn server_preferring_http1_gets_http1_even_when_h2_is_offered() {
    let server = TestServer::builder()
        .alpn(&[b"http/1.1"])
        .start()
        .await
        .unwrap();
    let connector = builder_for(&server).build().unwrap();
    let resp = client(connector)
        .get(server.url("/").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_11);
    let info = resp.extensions().get::<ConnectInfo>().unwrap();
    assert_eq!(info.tls().and_then(|t| t.alpn()), Some(&b"http/1.1"[..]));
}

#[tokio::test]
async fn plain_http_has_no_tls_info_and_keepalive_after_connect() {
    let server = TestServer::builder().plain().start().await.unwrap();
    let connector = builder_for(&server).build().unwrap();
    let resp = client(connector)
        .get(server.url("/status/404").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let info = resp.extensions().get::<ConnectInfo>().unwrap().clone();
    assert_eq!(info.tls().and_then(|t| t.alpn()), None);
    assert_eq!(info.tls().and_then(|t| t.version()), None);
    assert_eq!(info.timings().tls(), None);
    assert_eq!(info.tls().map(|t| t.resumed()), None);
    assert_keepalive(info.keepalive().unwrap(), Keepalive::new());
}

#[tokio::test]
async fn ipv6_loopback_literal() {
    let Some(server) = crate::support::ipv6_server().await else {
        return;
    };
    let connector = builder_for(&server).build().unwrap();
    let url = server.url("/");
    assert!(url.starts_with("https://[::1]:"), "{url}");
    let resp = client(connector).get(url.parse().unwrap()).await.unwrap();
    assert_eq!(resp.status(), 200);
    let info = resp.extensions().get::<ConnectInfo>().unwrap();
    assert!(info.remote_addr().is_ipv6());
    assert!(info.keepalive().is_some());
}

#[tokio::test]
async fn name_with_several_addresses_tries_them_in_order() {
    let server = TestServer::start().await.unwrap();
    let port = server.addr().port();
    // 127.0.0.2 has nothing listening on this port (the server is bound to 127.0.0.1 only):
    // the first attempt is refused, the second connects.
    let resolver = keepalive_connector::StaticResolver::new()
        .add(
            "localhost",
            port,
            ["127.0.0.2".parse().unwrap(), "127.0.0.1".parse().unwrap()],
        )
        .no_fallback();
    let connector = builder_for(&server).dns_resolver(resolver).build().unwrap();
    let conn = connector
        .connect(&server.url_by_name("/").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(conn.info().attempts().len(), 2);
    assert_eq!(conn.info().remote_addr(), server.addr());
}
