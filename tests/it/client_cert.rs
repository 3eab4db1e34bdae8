//! Client certificates: a `tls_config` with one presents it to the origin that asks, and to no
//! one else; an `https://` proxy in between is not offered it (issue 19, item 11).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keepalive_connector::{Connector, Proxy, StaticResolver};
use keepalive_testserver::{ConnectProxy, LeafKind, TestCa};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A TLS origin on loopback that requires a client certificate signed by `ca`, and answers
/// every connection that presented one with a line saying so.
async fn origin_requiring_a_client_cert(ca: &TestCa) -> SocketAddr {
    let leaf = ca.leaf(LeafKind::Good);
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(ca.root_store()), provider())
            .build()
            .unwrap();
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(leaf.chain, leaf.key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let n = tls.get_ref().1.peer_certificates().map_or(0, <[_]>::len);
                let _ = tls
                    .write_all(format!("client certificate chain of {n}\n").as_bytes())
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}

/// Waits up to 2 s for `count` to reach `want` (the proxy counts in its own task, after the
/// client's side of the handshake is done).
async fn settle(count: impl Fn() -> usize, want: usize) -> usize {
    let until = Instant::now() + Duration::from_secs(2);
    while count() < want && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    count()
}

#[tokio::test]
async fn an_https_proxy_is_not_offered_the_origins_client_certificate() {
    let ca = Arc::new(TestCa::new());
    let origin = origin_requiring_a_client_cert(&ca).await;
    let proxy = ConnectProxy::builder()
        .tls(Arc::clone(&ca))
        .request_client_cert(Arc::clone(&ca))
        .start()
        .await
        .unwrap();
    let client = ca.client_leaf("client.test");
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(ca.root_store())
        .with_client_auth_cert(client.chain, client.key)
        .unwrap();
    let builder = || {
        Connector::builder()
            .tls_config(Arc::new(config.clone()))
            .dns_resolver(
                StaticResolver::new()
                    .add("localhost", proxy.addr().port(), [proxy.addr().ip()])
                    .no_fallback(),
            )
    };

    // The control: connected to directly, as an origin, the proxy is offered the certificate
    // (its count works).
    let direct = builder().proxy(Proxy::none()).build().unwrap();
    let url = format!("https://127.0.0.1:{}/", proxy.addr().port());
    drop(direct.connect(&url.parse().unwrap()).await.unwrap());
    assert_eq!(settle(|| proxy.tls_handshakes(), 1).await, 1);
    assert_eq!(
        proxy.client_certs(),
        1,
        "a certificate offered to an origin"
    );

    // Through the proxy: the origin gets the certificate, the proxy does not.
    let through = builder().proxy(Proxy::all(&proxy.url())).build().unwrap();
    let url = format!("https://127.0.0.1:{}/", origin.port());
    let mut conn = through.connect(&url.parse().unwrap()).await.unwrap();
    assert!(conn.info().proxy().is_some());
    let mut said = String::new();
    conn.read_to_string(&mut said).await.unwrap();
    assert_eq!(said, "client certificate chain of 2\n", "the origin's view");
    assert_eq!(settle(|| proxy.tls_handshakes(), 2).await, 2);
    assert_eq!(
        proxy.client_certs(),
        1,
        "the proxy was offered the origin's client certificate"
    );
}
