//! What each [`Trust`] costs: once per connector (`build()`), once per process (reading the
//! platform's store), and per connection (the TLS handshake, certificate verification
//! included).
//!
//! 1. **Reading the store** (criterion, this machine's store as `SSL_CERT_FILE` /
//!    `SSL_CERT_DIR` or the distribution's defaults name it): `Verifier::new` is what ours
//!    pays once per process and what a client that builds a platform verifier per connector
//!    pays every time (`anchor_platform`: hyper-rustls with one built per connector, as
//!    reqwest's `Client::build` does).
//! 2. **`build()` per trust** (criterion), the store cached after the first.
//! 3. **A handshake per trust**, in memory (`tokio::io::duplex`, no sockets, so no system call
//!    of either side is measured), ours (`Connector::tls_handshake`) against the anchor's TLS
//!    step (tokio-rustls over the `ClientConfig` a hyper-rustls user builds for the same trust,
//!    which is what `HttpsConnector` runs), interleaved round-robin like `benches/interleaved.rs`.
//!    From here on the process's system store is the machine's bundle plus a test CA (see
//!    `Env::new`), so that `Trust::Platform` can verify a local server through it.
//!
//! `cargo bench --bench trust` (the criterion part takes criterion's usual flags).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use hyper_rustls::HttpsConnectorBuilder;
use keepalive_connector::{Connector, Origin, Trust};
use keepalive_testserver::{TestCa, TestServer};
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use common::{Env, Roots};

/// Handshakes per contender and round, the first of which is not recorded.
const BLOCK: usize = 9;
/// Time spent per trust on the handshake comparison.
const BUDGET: Duration = Duration::from_secs(6);

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .configure_from_args();
    store_read(&mut c);
    // Before any thread starts: Env::new points SSL_CERT_FILE at a bundle of its own.
    let env = Env::new();
    builds(&mut c);
    c.final_summary();
    handshakes(&env);
}

/// What reading the platform's store costs, in this machine's environment.
fn store_read(c: &mut Criterion) {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let store = rustls_native_certs::load_native_certs();
    eprintln!(
        "system store: {} certificates, {} errors (SSL_CERT_FILE={:?}, SSL_CERT_DIR={:?})",
        store.certs.len(),
        store.errors.len(),
        std::env::var_os("SSL_CERT_FILE"),
        std::env::var_os("SSL_CERT_DIR"),
    );
    let mut group = c.benchmark_group("store");
    group.bench_function("platform_verifier_new", |b| {
        b.iter(|| rustls_platform_verifier::Verifier::new(Arc::clone(&provider)).expect("builds"))
    });
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

/// `build()` under each trust, the platform's store read once before.
fn builds(c: &mut Criterion) {
    let ca_pem = TestCa::new().cert_pem().as_bytes().to_vec();
    let first = Connector::builder()
        .build()
        .expect("the default connector builds");
    eprintln!("trust in force: {}", first.trust());
    let mut group = c.benchmark_group("build");
    for (name, trust, added) in [
        ("ours_platform", Trust::Platform, false),
        ("ours_platform_added", Trust::Platform, true),
        ("ours_webpki_roots", Trust::WebpkiRoots, false),
        ("ours_webpki_roots_added", Trust::WebpkiRoots, true),
        ("ours_added_roots_only", Trust::AddedRootsOnly, true),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut builder = Connector::builder().trust(trust);
                if added {
                    builder = builder.add_root_certificates_pem(&ca_pem);
                }
                builder.build().expect("the connector builds")
            })
        });
    }
    group.finish();
}

/// One in-memory TLS 1.3 full handshake per iteration, ours and the anchor's in turn, for each
/// trust; prints medians and their ratio.
fn handshakes(env: &Env) {
    println!("\nin-memory TLS 1.3 full handshake (client and server on one thread), per trust:");
    for (name, roots) in [
        ("platform (CA in the system store)", Roots::Platform),
        ("platform + added root", Roots::PlatformAdded),
        ("webpki-roots + added root", Roots::WebpkiAdded),
    ] {
        let server = TlsAcceptor::from(
            TestServer::builder()
                .tls13_only()
                .no_resumption()
                .server_config(env.ca_for(roots)),
        );
        let anchor = TlsConnector::from(env.trust_config(roots));
        // Configured as the anchor is: tokio-rustls has no handshake timeout, so neither has ours
        // here (`Duration::MAX` runs no timer).
        let ours = env
            .ours(roots, &env.trust_config(roots))
            .handshake_timeout(Duration::MAX)
            .build()
            .expect("ours builds");
        let origin = Origin::from_uri(&"https://127.0.0.1/".parse().unwrap()).unwrap();
        let name_ip = ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
        let once = |who: usize| {
            let (client, server_io) = tokio::io::duplex(64 * 1024);
            let accept = server.accept(server_io);
            env.rt.block_on(async {
                let start = Instant::now();
                let ok = if who == 0 {
                    let (s, c) = tokio::join!(accept, anchor.connect(name_ip.clone(), client));
                    s.is_ok() && c.is_ok()
                } else {
                    let (s, c) = tokio::join!(accept, ours.tls_handshake(&origin, client));
                    s.is_ok() && c.is_ok()
                };
                let elapsed = start.elapsed();
                assert!(ok, "{name}: the handshake of contender {who} failed");
                elapsed
            })
        };
        let mut samples = [Vec::new(), Vec::new()];
        let start = Instant::now();
        let mut round = 0;
        while round < 3 || start.elapsed() < BUDGET {
            for k in 0..2 {
                let who = (round + k) % 2;
                let times: Vec<Duration> = (0..BLOCK).map(|_| once(who)).collect();
                samples[who].extend(times.into_iter().skip(1));
            }
            round += 1;
        }
        let median = |v: &mut Vec<Duration>| {
            v.sort();
            (v[v.len() / 2], v[v.len() / 10])
        };
        let (anchor_median, anchor_p10) = median(&mut samples[0]);
        let (ours_median, ours_p10) = median(&mut samples[1]);
        println!(
            "  {name:34} anchor {anchor_median:>10.1?} (p10 {anchor_p10:>10.1?})   ours \
             {ours_median:>10.1?} (p10 {ours_p10:>10.1?})   ours/anchor {:.3} (p10 {:.3})   \
             {round} rounds",
            ours_median.as_secs_f64() / anchor_median.as_secs_f64(),
            ours_p10.as_secs_f64() / anchor_p10.as_secs_f64(),
        );
    }
}
