//! What each [`Trust`] costs a connector's `build()`, and what reading the platform's store
//! costs: once per process for ours (the platform verifier is shared), once per connector for a
//! client that builds a platform verifier for each (hyper-rustls with
//! `rustls_platform_verifier`, reqwest's `Client::build`). The per-connection cost of each
//! trust is measured with the other connection cases (`tls13_trust_*` in `benches/connect.rs`
//! and `benches/interleaved.rs`).
//!
//! Runs against this machine's own store, as `SSL_CERT_FILE` / `SSL_CERT_DIR` (or the
//! distribution's defaults) name it; the first line printed says how many roots that is.
//! `cargo bench --bench trust`.

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use hyper_rustls::HttpsConnectorBuilder;
use keepalive_connector::{Connector, Trust};
use keepalive_testserver::TestCa;
use rustls::ClientConfig;

fn build(c: &mut Criterion) {
    let ca = TestCa::new();
    let ca_pem = ca.cert_pem().as_bytes().to_vec();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let store = rustls_native_certs::load_native_certs();
    eprintln!(
        "system store: {} certificates, {} errors (SSL_CERT_FILE={:?}, SSL_CERT_DIR={:?})",
        store.certs.len(),
        store.errors.len(),
        std::env::var_os("SSL_CERT_FILE"),
        std::env::var_os("SSL_CERT_DIR"),
    );
    // The first Platform build reads the store; every later one in this process reuses it.
    let first = Connector::builder()
        .build()
        .expect("the default connector builds");
    eprintln!("trust in force: {}", first.trust());

    let mut group = c.benchmark_group("build");
    let ours = |name: &str, trust: Trust, added: bool| {
        let ca_pem = ca_pem.clone();
        (name.to_owned(), move || {
            let mut builder = Connector::builder().trust(trust);
            if added {
                builder = builder.add_root_certificates_pem(&ca_pem);
            }
            builder.build().expect("the connector builds")
        })
    };
    for (name, make) in [
        ours("ours_platform", Trust::Platform, false),
        ours("ours_platform_added", Trust::Platform, true),
        ours("ours_webpki_roots", Trust::WebpkiRoots, false),
        ours("ours_webpki_roots_added", Trust::WebpkiRoots, true),
        ours("ours_added_roots_only", Trust::AddedRootsOnly, true),
    ] {
        group.bench_function(name, |b| b.iter(&make));
    }
    // What ours pays once per process, and a per-client platform verifier pays every time.
    group.bench_function("platform_verifier_new", |b| {
        b.iter(|| rustls_platform_verifier::Verifier::new(Arc::clone(&provider)).expect("builds"))
    });
    // hyper-rustls with a platform verifier built per connector, ALPN set by its builder.
    group.bench_function("anchor_platform", |b| {
        b.iter(|| {
            let verifier =
                rustls_platform_verifier::Verifier::new(Arc::clone(&provider)).expect("builds");
            let tls = ClientConfig::builder_with_provider(Arc::clone(&provider))
                .with_safe_default_protocol_versions()
                .expect("TLS 1.2 and 1.3")
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth();
            HttpsConnectorBuilder::new()
                .with_tls_config(tls)
                .https_or_http()
                .enable_http1()
                .enable_http2()
                .build()
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = build
}
criterion_main!(benches);
