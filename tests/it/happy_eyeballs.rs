//! Happy eyeballs on real kernels: a server reachable over IPv4 and IPv6 in one network
//! namespace, the client in another, joined by a veth pair; a blackhole route on the server's
//! side swallows its replies to one of the client's addresses, so that path black-holes SYNs
//! (no SYN-ACK, no ICMP error): an advertised but dead address. The client's resolver answers
//! with the dead address first and the live one second, as in the report that started this.
//!
//! - IPv6 dead, IPv4 alive: the default connector connects over IPv4 within the attempt delay
//!   plus a little, the IPv6 attempt is reported cancelled, and no socket is left in SYN-SENT.
//!   The sequential dial (racing off) is measured next to it.
//! - IPv4 listed first and dead, IPv6 alive: IPv6 wins.
//! - Both dead: one `ConnectError` after the connect timeout, naming both addresses.
//!
//! Needs root (for `ip netns`); without it the tests print a loud `SKIPPED:` line and pass,
//! except under `CI=true`, where they fail. The namespaces are made the way the dead-peer tests
//! make them (`support::netns`, with IPv6 added); the client and server halves are this test
//! re-run inside them (`support::child`).
#![cfg(target_os = "linux")]

use std::io::{self, BufRead};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use keepalive_connector::{AttemptOutcome, Connector, Phase, StaticResolver};

use crate::support::{child, netns, tcp_sockets_to};

/// The default connection attempt delay.
const DELAY: Duration = Duration::from_millis(250);
/// What "a little" is: scheduling and a loopback-fast handshake over a veth pair, on a shared
/// 2-core machine. A correctness bound (the race did not wait for the dead address), not a
/// speed target.
const SLACK: Duration = Duration::from_millis(250);
/// The connect timeout of the both-dead case.
const BOTH_DEAD_TIMEOUT: Duration = Duration::from_secs(1);

#[test]
fn ipv6_black_holed_connects_over_ipv4_within_the_delay() {
    run(
        "v6-dead",
        "ipv6_black_holed_connects_over_ipv4_within_the_delay",
    );
}

#[test]
fn ipv4_first_and_black_holed_connects_over_ipv6() {
    run("v4-dead", "ipv4_first_and_black_holed_connects_over_ipv6");
}

#[test]
fn both_families_black_holed_is_one_error_naming_both() {
    run(
        "both-dead",
        "both_families_black_holed_is_one_error_naming_both",
    );
}

fn run(scenario: &str, test: &str) {
    child::play(
        module_path!(),
        test,
        server_role,
        || client_role(scenario),
        |test| orchestrate(scenario, test),
    );
}

fn orchestrate(scenario: &str, test: &str) {
    let pair = match netns::Pair::create_dual_stack() {
        Ok(pair) => pair,
        Err(netns::Unavailable(reason)) => return child::skip(test, &reason),
    };
    let (v4, v6) = (IpAddr::V4(pair.client_ip()), IpAddr::V6(pair.client_ip6()));
    let dead: &[IpAddr] = match scenario {
        "v6-dead" => &[v6],
        "v4-dead" => &[v4],
        "both-dead" => &[v4, v6],
        other => panic!("unknown scenario {other}"),
    };
    for client in dead {
        pair.blackhole_replies_to(*client)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let cmd = child::command(&["ip", "netns", "exec", pair.server_ns()], test, "server");
    let mut server = child::Child::spawn("server", cmd).expect("spawn the server half");
    let port = server
        .expect("listening", Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut cmd = child::command(&["ip", "netns", "exec", pair.client_ns()], test, "client");
    cmd.env("KA_HE_PORT", &port)
        .env("KA_HE_V4", pair.server_ip().to_string())
        .env("KA_HE_V6", pair.server_ip6().to_string());
    let mut client = child::Child::spawn("client", cmd).expect("spawn the client half");
    let lines = client.lines_until_done(Duration::from_secs(30));
    let status = client.finish(Duration::from_secs(20));
    drop(server);
    drop(pair);
    println!("happy eyeballs, scenario {scenario}:");
    for line in &lines {
        println!("  {line}");
    }
    let status = status.unwrap_or_else(|e| panic!("{e}"));
    assert!(status.success(), "the client half failed: {status}");
}

/// The server half: a dual-stack listener on `[::]` (the kernel completes handshakes without
/// `accept`), until the parent goes away.
fn server_role() {
    let listener = std::net::TcpListener::bind("[::]:0").expect("listen on [::]");
    child::say(format!(
        "listening {}",
        listener.local_addr().expect("bound").port()
    ));
    let mut sink = String::new();
    while io::stdin().lock().read_line(&mut sink).is_ok_and(|n| n > 0) {}
    drop(listener);
}

/// The client half: the scenario's connects, a `@@KA` line per figure, then `done`. Panics
/// (failing the child, and so the test) when a check fails.
fn client_role(scenario: &str) {
    let env = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k}"));
    let port: u16 = env("KA_HE_PORT").parse().expect("a port");
    let v4 = SocketAddr::new(env("KA_HE_V4").parse().expect("an IP"), port);
    let v6 = SocketAddr::new(env("KA_HE_V6").parse().expect("an IP"), port);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        match scenario {
            "v6-dead" => one_dead(v6, v4).await,
            "v4-dead" => one_dead(v4, v6).await,
            "both-dead" => both_dead(v6, v4).await,
            other => panic!("unknown scenario {other}"),
        }
    });
    child::say("done");
}

/// A connector whose resolver answers `dual.test` with `addrs`, in that order.
fn connector(addrs: [SocketAddr; 2], race: bool, timeout: Duration) -> Connector {
    let port = addrs[0].port();
    Connector::builder()
        .dns_resolver(
            StaticResolver::new()
                .add("dual.test", port, addrs.map(|a| a.ip()))
                .no_fallback(),
        )
        .happy_eyeballs(race)
        .connect_timeout(timeout)
        .build()
        .unwrap()
}

fn uri(port: u16) -> http::Uri {
    format!("http://dual.test:{port}/").parse().unwrap()
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// `dead` listed first, `alive` second: the race connects to `alive` after the attempt delay.
async fn one_dead(dead: SocketAddr, alive: SocketAddr) {
    let c = connector([dead, alive], true, Duration::from_secs(10));
    let started = Instant::now();
    let conn = c
        .connect(&uri(alive.port()))
        .await
        .expect("the live address wins");
    let took = started.elapsed();
    // Read right away: the losing attempt's socket must already be closed.
    let syn_sent_left = tcp_sockets_to(dead, "02");
    let info = conn.info();
    for a in info.attempts() {
        child::say(format!("attempt {a}"));
    }
    child::say(format!(
        "racing: connected to {} in {} (attempt delay {}); sockets left in SYN-SENT to {dead}: {syn_sent_left}",
        info.remote_addr(),
        ms(took),
        ms(DELAY)
    ));
    assert_eq!(info.remote_addr(), alive);
    assert_eq!(info.attempts().len(), 2);
    let [first, second] = info.attempts() else {
        panic!("two attempts: {:?}", info.attempts())
    };
    assert_eq!(
        (first.addr(), first.outcome()),
        (dead, AttemptOutcome::Cancelled)
    );
    assert_eq!(
        (second.addr(), second.outcome()),
        (alive, AttemptOutcome::Connected)
    );
    assert!(
        second.started() >= first.started() + DELAY,
        "the second attempt waited for the attempt delay: {second}"
    );
    assert!(took < DELAY + SLACK, "took {took:?}");
    assert_eq!(syn_sent_left, 0, "the losing socket is closed");
    drop(conn);

    // The same with racing off, for comparison: the dead address gets half the timeout.
    let timeout = Duration::from_secs(2);
    let c = connector([dead, alive], false, timeout);
    let started = Instant::now();
    let conn = c.connect(&uri(alive.port())).await.expect("sequential");
    let took = started.elapsed();
    child::say(format!(
        "sequential (racing off, connect timeout {}): connected to {} in {}",
        ms(timeout),
        conn.info().remote_addr(),
        ms(took)
    ));
    assert_eq!(
        conn.info().attempts()[0].outcome(),
        AttemptOutcome::TimedOut
    );
    assert!(took >= timeout / 2, "took {took:?}");
}

/// Both addresses dead: one error, after the connect timeout, naming both.
async fn both_dead(v6: SocketAddr, v4: SocketAddr) {
    let c = connector([v6, v4], true, BOTH_DEAD_TIMEOUT);
    let started = Instant::now();
    let err = c
        .connect(&uri(v4.port()))
        .await
        .expect_err("nothing answers");
    let took = started.elapsed();
    child::say(format!("error after {}: {err}", ms(took)));
    for a in err.attempts() {
        child::say(format!("attempt {a}"));
    }
    assert_eq!(err.phase(), Phase::Connect);
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(err.timeout(), Some(BOTH_DEAD_TIMEOUT));
    let outcomes: Vec<_> = err
        .attempts()
        .iter()
        .map(|a| (a.addr(), a.outcome()))
        .collect();
    assert_eq!(
        outcomes,
        [
            (v6, AttemptOutcome::TimedOut),
            (v4, AttemptOutcome::TimedOut)
        ]
    );
    assert_eq!(err.first_error().and_then(|e| e.addr()), Some(v6));
    assert_eq!(err.addr(), Some(v4));
    let text = err.to_string();
    assert!(text.contains("2 addresses tried"), "{text}");
    assert!(
        text.contains(&v6.to_string()) && text.contains(&v4.to_string()),
        "{text}"
    );
    assert!(took >= BOTH_DEAD_TIMEOUT, "took {took:?}");
    assert!(took < BOTH_DEAD_TIMEOUT + SLACK, "took {took:?}");
    assert_eq!(tcp_sockets_to(v6, "02") + tcp_sockets_to(v4, "02"), 0);
}
