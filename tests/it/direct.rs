//! The direct path: `Connector::connect`, then hyper's HTTP/1.1 or HTTP/2 codec, or the `h2`
//! crate, according to ALPN. The code under test is `examples/direct.rs` itself.

#[path = "../../examples/direct.rs"]
mod example;

pub use example::{fetch, fetch_uri};

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
