//! A TLS handshake in memory before the first probe, so the first stage does not pay for
//! initialising the crypto library.
//!
//! Without it the first connection's TLS phase measured about 30-50 ms against 1-2 ms for the
//! others (aws-lc-rs's one-time set-up), which made `before-connect`, always probed first, look
//! slow. The warm-up uses no network: client and server talk over an in-memory pipe, with a
//! throw-away CA, so it adds no connection the probed server could see or count.

use keepalive_connector::{Connector, Origin, Trust};
use keepalive_testserver::{TestCa, TestServer};
use tracing::debug;

/// Runs one full client and server handshake over `tokio::io::duplex`.
pub(crate) async fn warm_up() {
    let ca = TestCa::new();
    let server_config = TestServer::builder().server_config(&ca);
    let Ok(connector) = Connector::builder()
        .trust(Trust::AddedRootsOnly)
        .add_root_certificates_pem(ca.cert_pem().as_bytes())
        .build()
    else {
        return;
    };
    let Ok(origin) = Origin::from_uri(&http::Uri::from_static("https://localhost/")) else {
        return;
    };
    let (client, server) = tokio::io::duplex(64 * 1024);
    let accept = tokio_rustls::TlsAcceptor::from(server_config).accept(server);
    let (server, client) = tokio::join!(accept, connector.tls_handshake(&origin, client));
    debug!(
        server_ok = server.is_ok(),
        client_ok = client.is_ok(),
        "tls warm-up done"
    );
}
