//! Dialing a name whose first address is black-holed (issue 11, case a): the resolver answers
//! `[::1]:P` first and `127.0.0.1:P` second; SYNs to `[::1]:P` are silently dropped, as on a
//! path where IPv6 is advertised but dead. Measured side by side, round-robin, in one run:
//!
//! - `ours`: our connector's defaults (happy eyeballs, 250 ms attempt delay);
//! - `anchor`: hyper-util's `HttpConnector` with its defaults (happy eyeballs with a 300 ms
//!   fallback delay), given the same two addresses by a resolver of its own;
//! - `ours_sequential`: our connector with racing off, the dial before issue 11 (addresses in
//!   order, each with an equal share of the 10 s connect timeout).
//!
//! The black hole needs neither root nor a network namespace: `[::1]:P` is a listener whose
//! accept queue is full (backlog 0, filled by connections nobody accepts), and Linux drops
//! further SYNs to it without an answer, which is what a black-holed path looks like to the
//! client. It does need an IPv6 loopback: without one the bench prints a loud `SKIPPED:` line.
//! Nothing leaves the machine.
//!
//! Repeated connects to `localhost` (case b: the DNS cache against the anchor's `getaddrinfo`
//! per connect and the floor's) are the `tcp_connect_localhost` and `tls13_full_localhost`
//! cases of `benches/interleaved.rs`.
//!
//! Run with `cargo bench --bench dialing` (about 40 s).

use std::future::Ready;
use std::io;
use std::net::{Ipv6Addr, SocketAddr, TcpStream as StdTcpStream};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use keepalive_connector::{Connector, StaticResolver};
use socket2::{Domain, Socket, Type};
use tower_service::Service;

/// Rounds of every contender; the sequential one takes 5 s a round.
const ROUNDS: usize = 5;

/// hyper-util's resolver interface, answering every name with fixed addresses.
#[derive(Clone)]
struct Fixed(Vec<SocketAddr>);

impl Service<Name> for Fixed {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = io::Error;
    type Future = Ready<Result<Self::Response, io::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _name: Name) -> Self::Future {
        std::future::ready(Ok(self.0.clone().into_iter()))
    }
}

enum Contender {
    Ours(Connector),
    Anchor(HttpConnector<Fixed>),
}

impl Contender {
    async fn connect(&mut self, uri: &http::Uri) -> (SocketAddr, Duration) {
        let start = Instant::now();
        let peer = match self {
            Contender::Ours(c) => c.connect(uri).await.expect("ours").info().remote_addr(),
            Contender::Anchor(c) => {
                std::future::poll_fn(|cx| c.poll_ready(cx))
                    .await
                    .expect("anchor ready");
                let io = c.call(uri.clone()).await.expect("anchor");
                io.inner().peer_addr().expect("peer")
            }
        };
        (peer, start.elapsed())
    }
}

fn main() {
    let live = std::net::TcpListener::bind("127.0.0.1:0").expect("listen on 127.0.0.1");
    let port = live.local_addr().unwrap().port();
    let dead_addr = SocketAddr::from((Ipv6Addr::LOCALHOST, port));
    let dead = match Socket::new(Domain::IPV6, Type::STREAM, None)
        .and_then(|s| s.bind(&dead_addr.into()).map(|()| s))
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("SKIPPED: dialing bench: no IPv6 loopback to black-hole ({e})");
            return;
        }
    };
    // Backlog 0: one connection fits in the accept queue; once it is full, SYNs are dropped.
    dead.listen(0).expect("listen on [::1]");
    let fillers: Vec<_> = (0..3)
        .filter_map(|_| StdTcpStream::connect_timeout(&dead_addr, Duration::from_millis(300)).ok())
        .collect();
    assert!(
        StdTcpStream::connect_timeout(&dead_addr, Duration::from_millis(500)).is_err(),
        "the [::1] listener still answers SYNs: no black hole to measure"
    );

    let live_addr = live.local_addr().unwrap();
    let uri: http::Uri = format!("http://dual.test:{port}/").parse().unwrap();
    let resolver = StaticResolver::new()
        .add("dual.test", port, [dead_addr.ip(), live_addr.ip()])
        .no_fallback();
    let ours = |race: bool| {
        Connector::builder()
            .dns_resolver(resolver.clone())
            .happy_eyeballs(race)
            .build()
            .expect("a valid connector")
    };
    let mut anchor = HttpConnector::new_with_resolver(Fixed(vec![dead_addr, live_addr]));
    anchor.enforce_http(false);
    let mut contenders = [
        ("ours", Contender::Ours(ours(true))),
        ("anchor", Contender::Anchor(anchor)),
        ("ours_sequential", Contender::Ours(ours(false))),
    ];
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut samples = vec![Vec::new(); contenders.len()];
    for round in 0..ROUNDS {
        for k in 0..contenders.len() {
            let i = (round + k) % contenders.len();
            let (peer, took) = rt.block_on(contenders[i].1.connect(&uri));
            assert_eq!(
                peer, live_addr,
                "{} connected to the live address",
                contenders[i].0
            );
            samples[i].push(took);
        }
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let medians: Vec<Duration> = samples.iter_mut().map(median).collect();
    println!("black-holed first address ([::1] dead, 127.0.0.1 alive), {ROUNDS} rounds, medians:");
    for ((name, _), m) in contenders.iter().zip(&medians) {
        println!("  {name:16} {:>10.1} ms", m.as_secs_f64() * 1e3);
    }
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!(
        "  ours/anchor {:.2}   ours/ours_sequential {:.3}",
        ratio(medians[0], medians[1]),
        ratio(medians[0], medians[2])
    );
    drop(fillers);
}
