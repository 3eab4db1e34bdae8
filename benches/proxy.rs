//! Connection set-up through a proxy, measured round-robin like `benches/interleaved.rs`:
//! TCP to a local proxy, the tunnel (HTTP `CONNECT`, or SOCKS5 with the name sent), then a full
//! TLS 1.3 handshake with the origin through it.
//!
//! Contenders, all over the same `rustls::ClientConfig` and the same in-process proxies
//! (keepalive-testserver's `ConnectProxy` and `SocksProxy`, on the server runtime):
//! - **floor**: `TcpStream::connect` to the proxy, a hand-written `CONNECT` (or tokio-socks),
//!   then `TlsConnector::connect`;
//! - **anchor**: hyper-util's `Tunnel` (or `SocksV5`) over its `HttpConnector` (with
//!   `set_nodelay(true)`), under hyper-rustls, as their docs stack them;
//! - **ours** with keepalive off (equal settings to the anchor) and with its defaults.
//!
//! Run with `cargo bench --bench proxy`.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Env, Security};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::proxy::{SocksV5, Tunnel};
use hyper_util::client::legacy::connect::{Connection, HttpConnector};
use keepalive_connector::{Connector, Keepalive, Proxy};
use keepalive_testserver::{ConnectProxy, SocksProxy};
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tower_service::Service;

/// Iterations per contender and round, the first of which is not recorded.
const BLOCK: usize = 9;
/// Time spent per case, after which no new round starts.
const BUDGET: Duration = Duration::from_secs(6);
/// At least this many rounds.
const MIN_ROUNDS: usize = 3;

/// Which tunnel a case goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Connect,
    Socks5,
}

/// One connection set-up, boxed: each contender is a different stack.
type Setup<'a> = Pin<Box<dyn Future<Output = Box<dyn Open>> + 'a>>;

/// An open connection of any contender (only ever dropped).
trait Open {}
impl<T> Open for T {}

struct Contender {
    name: &'static str,
    connect: Box<dyn FnMut() -> Setup<'static>>,
}

fn main() {
    let filter = std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with('-'))
        .unwrap_or_default();
    let env = Env::new();
    let server = env.server(Security::Full, &[b"h2", b"http/1.1"]);
    let config = env.client_config(Security::Full);
    let origin = server.addr();
    // By IP: no resolution on the proxy's side either, for anyone.
    let uri: http::Uri = format!("https://{origin}/").parse().unwrap();
    let name = ServerName::IpAddress(origin.ip().into());
    let connect_proxy = env.on_server(ConnectProxy::builder().start()).unwrap();
    let socks_proxy = env.on_server(SocksProxy::start(None)).unwrap();

    for via in [Via::Connect, Via::Socks5] {
        let case = match via {
            Via::Connect => "tls13_via_connect_proxy",
            Via::Socks5 => "tls13_via_socks5_proxy",
        };
        if !case.contains(&filter) {
            continue;
        }
        let proxy_addr = match via {
            Via::Connect => connect_proxy.addr(),
            Via::Socks5 => socks_proxy.addr(),
        };
        let proxy_url = match via {
            Via::Connect => format!("http://{proxy_addr}"),
            Via::Socks5 => format!("socks5h://{proxy_addr}"),
        };
        let mut contenders = vec![
            floor(via, proxy_addr, origin, &config, name.clone()),
            anchor(via, &proxy_url, &uri, &config),
            ours(
                "ours_keepalive_off",
                &proxy_url,
                &uri,
                &config,
                Keepalive::off(),
            ),
            ours(
                "ours_after_handshake",
                &proxy_url,
                &uri,
                &config,
                Keepalive::new(),
            ),
        ];
        // Warm up every contender (and check it works) before measuring.
        for c in &mut contenders {
            for _ in 0..3 {
                let _ = env.rt.block_on((c.connect)());
            }
        }
        let mut samples = vec![Vec::new(); contenders.len()];
        let start = Instant::now();
        let mut round = 0;
        while round < MIN_ROUNDS || start.elapsed() < BUDGET {
            for k in 0..contenders.len() {
                let i = (round + k) % contenders.len();
                let c = &mut contenders[i];
                let times = env.rt.block_on(async {
                    let mut times = Vec::with_capacity(BLOCK);
                    for _ in 0..BLOCK {
                        let t = Instant::now();
                        let stream = (c.connect)().await;
                        times.push(t.elapsed());
                        drop(stream);
                    }
                    times
                });
                samples[i].extend(times.into_iter().skip(1));
            }
            round += 1;
        }
        println!("{case} ({round} rounds):");
        let medians: Vec<Duration> = samples
            .iter_mut()
            .map(|t| {
                t.sort();
                t[t.len() / 2]
            })
            .collect();
        for (c, (times, median)) in contenders.iter().zip(samples.iter().zip(&medians)) {
            println!(
                "  {:22} median {:>12?}   p10 {:>12?}   p90 {:>12?}   n {}",
                c.name,
                median,
                times[times.len() / 10],
                times[times.len() * 9 / 10],
                times.len()
            );
        }
        let ratio = |a: usize, b: usize| medians[a].as_secs_f64() / medians[b].as_secs_f64();
        println!(
            "  ours/anchor (equal settings) {:.2}   ours/anchor (ours' defaults) {:.2}   ours/floor {:.2}   anchor/floor {:.2}",
            ratio(2, 1),
            ratio(3, 1),
            ratio(2, 0),
            ratio(1, 0)
        );
    }
}

/// TCP to the proxy, the tunnel by hand (or tokio-socks), TLS with tokio-rustls.
fn floor(
    via: Via,
    proxy: std::net::SocketAddr,
    origin: std::net::SocketAddr,
    config: &Arc<ClientConfig>,
    name: ServerName<'static>,
) -> Contender {
    let tls = TlsConnector::from(Arc::clone(config));
    Contender {
        name: "floor",
        connect: Box::new(move || {
            let (tls, name) = (tls.clone(), name.clone());
            Box::pin(async move {
                let mut tcp = TcpStream::connect(proxy).await.expect("floor: connect");
                tcp.set_nodelay(true).expect("floor: nodelay");
                match via {
                    Via::Connect => {
                        let req = format!("CONNECT {origin} HTTP/1.1\r\nHost: {origin}\r\n\r\n");
                        tcp.write_all(req.as_bytes()).await.expect("floor: CONNECT");
                        let mut head = Vec::with_capacity(64);
                        let mut buf = [0u8; 256];
                        while !head.ends_with(b"\r\n\r\n") {
                            let n = tcp.read(&mut buf).await.expect("floor: response");
                            assert!(n > 0, "floor: the proxy closed");
                            head.extend_from_slice(&buf[..n]);
                        }
                        assert!(head.starts_with(b"HTTP/1.1 200"), "floor: CONNECT refused");
                    }
                    Via::Socks5 => {
                        tcp = tokio_socks::tcp::Socks5Stream::connect_with_socket(tcp, origin)
                            .await
                            .expect("floor: socks5")
                            .into_inner();
                    }
                }
                let stream = tls.connect(name, tcp).await.expect("floor: tls");
                Box::new(stream) as Box<dyn Open>
            })
        }),
    }
}

/// hyper-util's `Tunnel`/`SocksV5` under hyper-rustls.
fn anchor(via: Via, proxy_url: &str, uri: &http::Uri, config: &Arc<ClientConfig>) -> Contender {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    let mut tls = (**config).clone();
    tls.alpn_protocols.clear();
    let builder = || {
        HttpsConnectorBuilder::new()
            .with_tls_config(tls.clone())
            .https_only()
            .enable_http1()
            .enable_http2()
    };
    let proxy_uri: http::Uri = proxy_url.parse().unwrap();
    let uri = uri.clone();
    match via {
        Via::Connect => {
            let svc: HttpsConnector<Tunnel<HttpConnector>> =
                builder().wrap_connector(Tunnel::new(proxy_uri, http));
            Contender {
                name: "anchor_nodelay",
                connect: Box::new(move || {
                    let (mut svc, uri) = (svc.clone(), uri.clone());
                    Box::pin(async move {
                        let s = svc.call(uri).await.expect("anchor: connect");
                        std::hint::black_box(s.connected());
                        Box::new(s) as Box<dyn Open>
                    })
                }),
            }
        }
        Via::Socks5 => {
            let svc: HttpsConnector<SocksV5<HttpConnector>> =
                builder().wrap_connector(SocksV5::new(proxy_uri, http));
            Contender {
                name: "anchor_nodelay",
                connect: Box::new(move || {
                    let (mut svc, uri) = (svc.clone(), uri.clone());
                    Box::pin(async move {
                        let s = svc.call(uri).await.expect("anchor: connect");
                        std::hint::black_box(s.connected());
                        Box::new(s) as Box<dyn Open>
                    })
                }),
            }
        }
    }
}

fn ours(
    name: &'static str,
    proxy_url: &str,
    uri: &http::Uri,
    config: &Arc<ClientConfig>,
    keepalive: Keepalive,
) -> Contender {
    let connector = Connector::builder()
        .tls_config(Arc::clone(config))
        .keepalive(keepalive)
        .proxy(Proxy::all(proxy_url))
        .build()
        .expect("ours: a valid connector");
    let uri = uri.clone();
    Contender {
        name,
        connect: Box::new(move || {
            let (connector, uri) = (connector.clone(), uri.clone());
            Box::pin(async move {
                let conn = connector.connect(&uri).await.expect("ours: connect");
                std::hint::black_box(conn.connected());
                Box::new(conn) as Box<dyn Open>
            })
        }),
    }
}
