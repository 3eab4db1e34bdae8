//! One rustls `ClientConfig` per connector: the second connection resumes the TLS session.

use keepalive_testserver::TestServer;
use rustls::HandshakeKind;

use crate::support::builder_for;

#[tokio::test]
async fn second_connection_of_a_connector_resumes() {
    let server = TestServer::start().await.unwrap();
    let connector = builder_for(&server).build().unwrap();
    let uri = server.url_by_name("/").parse().unwrap();

    let first = connector.connect(&uri).await.unwrap();
    assert_eq!(
        first.info().tls().and_then(|t| t.handshake_kind()),
        Some(HandshakeKind::Full)
    );
    assert_eq!(first.info().tls().map(|t| t.resumed()), Some(false));
    // TLS 1.3 tickets arrive after the handshake: read them by driving the connection once.
    crate::direct::fetch(first).await.unwrap();

    // A clone shares the configuration, hence the session cache.
    let second = connector.clone().connect(&uri).await.unwrap();
    assert_eq!(
        second.info().tls().and_then(|t| t.handshake_kind()),
        Some(HandshakeKind::Resumed)
    );
    assert_eq!(second.info().tls().map(|t| t.resumed()), Some(true));
    assert_eq!(
        second.tls().unwrap().handshake_kind(),
        Some(HandshakeKind::Resumed)
    );
}

#[tokio::test]
async fn separate_connectors_do_not_share_sessions() {
    let server = TestServer::start().await.unwrap();
    let uri = server.url_by_name("/").parse().unwrap();
    let a = builder_for(&server).build().unwrap();
    crate::direct::fetch(a.connect(&uri).await.unwrap())
        .await
        .unwrap();
    let b = builder_for(&server).build().unwrap();
    let conn = b.connect(&uri).await.unwrap();
    assert_eq!(conn.info().tls().map(|t| t.resumed()), Some(false));
}
