//! The direct path: `Connector::connect`, then hyper's HTTP/1.1 or HTTP/2 codec, or the `h2`
//! crate, according to ALPN. The code under test is `examples/direct.rs` itself.

#[path = "../../examples/direct.rs"]
mod example;

pub use example::{fetch, fetch_uri};

use keepalive_connector::{Connector, Origin, Proxy, StaticResolver, Trust};
use keepalive_testserver::TestServer;

use crate::support::builder_for;

#[tokio::test]
async fn http2_codec_when_alpn_chose_h2() {
    let server = TestServer::start().await.unwrap();
    let connector = builder_for(&server).build().unwrap();
    let conn = crate::support::connect(&connector, &server).await.unwrap();
    assert!(conn.is_h2());
    let (status, version, body) = fetch(conn).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(version, http::Version::HTTP_2);
    assert_eq!(body, "hello from keepalive-testserver\n");
}

#[tokio::test]
async fn http1_codec_when_alpn_chose_http1() {
    let server = TestServer::builder()
        .alpn(&[b"http/1.1"])
        .start()
        .await
        .unwrap();
    let connector = builder_for(&server).build().unwrap();
    let conn = crate::support::connect(&connector, &server).await.unwrap();
    assert!(!conn.is_h2());
    let (status, version, body) = fetch(conn).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(version, http::Version::HTTP_11);
    assert_eq!(body, "hello from keepalive-testserver\n");
}

#[tokio::test]
async fn h2_crate_client_handshake() {
    let server = TestServer::start().await.unwrap();
    let connector = builder_for(&server).build().unwrap();
    let conn = crate::support::connect(&connector, &server).await.unwrap();
    let (status, body) = example::fetch_with_h2_crate(conn).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(body, "hello from keepalive-testserver\n");
}

#[tokio::test]
async fn http2_prior_knowledge_over_plain_http() {
    let server = TestServer::builder().plain().start().await.unwrap();
    let connector = builder_for(&server).http2_only().build().unwrap();
    let conn = crate::support::connect(&connector, &server).await.unwrap();
    assert!(conn.is_h2());
    let (status, version, _) = fetch(conn).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(version, http::Version::HTTP_2);
}

/// The IPv4 forms curl and browsers accept (WHATWG URL: `127.1`, hex, octal, one number, a
/// trailing dot) are IP literals for `https://` as for `http://`: both connect, verifying the
/// certificate's IP address for https, and neither asks a resolver (none would answer here).
/// `https://127.1/` and `https://127.0.0.1./` failed as `Phase::Uri` while `http://127.1/`
/// went to the resolver (issue 19).
#[tokio::test]
async fn ipv4_host_forms_are_ip_literals_for_http_and_https_alike() {
    let tls = TestServer::start().await.unwrap();
    let plain = TestServer::builder().plain().start().await.unwrap();
    let connector = Connector::builder()
        .trust(Trust::AddedRootsOnly)
        .add_root_certificates_pem(tls.ca_pem().as_bytes())
        .dns_resolver(StaticResolver::new().no_fallback())
        .proxy(Proxy::none())
        .build()
        .unwrap();
    for form in [
        "127.1",
        "127.0.0.1.",
        "127.0.1",
        "0x7f.1",
        "0X7F.0.0.1",
        "0177.0.0.1",
        "2130706433",
        "0x7f000001",
        "127.1.",
    ] {
        for (scheme, server) in [("https", &tls), ("http", &plain)] {
            let uri: http::Uri = format!("{scheme}://{form}:{}/", server.addr().port())
                .parse()
                .unwrap();
            let origin = Origin::from_uri(&uri).unwrap();
            assert_eq!(origin.host(), "127.0.0.1", "{uri}");
            assert_eq!(origin.ip(), Some([127, 0, 0, 1].into()), "{uri}");
            let conn = connector
                .connect(&uri)
                .await
                .unwrap_or_else(|e| panic!("{uri}: {e}"));
            assert_eq!(conn.info().remote_addr(), server.addr(), "{uri}");
            assert_eq!(conn.info().timings().dns(), None, "{uri}: no lookup");
        }
    }
}
