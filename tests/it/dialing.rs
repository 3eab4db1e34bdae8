//! The dial layer on loopback: the DNS cache (with a resolver that counts its lookups),
//! per-family resolution, attempt reports, the first and last cause of a failed dial, the
//! socket hook before `bind(2)`, and the new settings' validation. The black-holed-address
//! races are in `happy_eyeballs.rs` (network namespaces).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keepalive_connector::{
    io_error_kind, AttemptOutcome, Connector, Family, Phase, Resolve, Resolving, Stage,
    StaticResolver,
};
use keepalive_testserver::TestServer;

use crate::support::ipv6_server;

/// A resolver that answers every name with fixed addresses (the port replaced), after an
/// optional delay, and counts its lookups. With `per_family`, it answers per family, each
/// family after its own delay (`None`: never).
#[derive(Clone, Default)]
struct Counting {
    addrs: Vec<IpAddr>,
    lookups: Arc<AtomicUsize>,
    delay: Duration,
    per_family: Option<(Option<Duration>, Option<Duration>)>,
}

impl Counting {
    fn new(addrs: &[IpAddr]) -> Counting {
        Counting {
            addrs: addrs.to_vec(),
            ..Counting::default()
        }
    }

    fn lookups(&self) -> usize {
        self.lookups.load(Ordering::SeqCst)
    }

    fn answer(&self, port: u16, family: Option<Family>, delay: Option<Duration>) -> Resolving {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let addrs: Vec<SocketAddr> = self
            .addrs
            .iter()
            .map(|ip| SocketAddr::new(*ip, port))
            .filter(|a| family.is_none_or(|f| Family::of(a) == f))
            .collect();
        Box::pin(async move {
            match delay {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
            Ok(addrs)
        })
    }
}

impl Resolve for Counting {
    fn resolve(&self, _host: &str, port: u16) -> Resolving {
        self.answer(port, None, Some(self.delay))
    }

    fn resolve_family(&self, _host: &str, port: u16, family: Family) -> Option<Resolving> {
        let (v6, v4) = self.per_family?;
        let delay = match family {
            Family::V6 => v6,
            Family::V4 => v4,
        };
        Some(self.answer(port, Some(family), delay))
    }
}

async fn plain_server() -> TestServer {
    TestServer::builder().plain().start().await.unwrap()
}

fn by_name(port: u16) -> http::Uri {
    format!("http://cached.test:{port}/").parse().unwrap()
}

/// A port nothing listens on (bound, then closed).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A connector builder resolving every name with `resolver` (the DNS cache on, by default).
fn with(resolver: &Counting) -> keepalive_connector::Builder {
    Connector::builder().dns_resolver(resolver.clone())
}

const LOCAL4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const LOCAL6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

#[tokio::test]
async fn a_second_connect_to_a_name_resolves_nothing() {
    let server = plain_server().await;
    let resolver = Counting::new(&[LOCAL4]);
    let connector = with(&resolver).build().unwrap();
    let uri = by_name(server.addr().port());
    let first = connector.connect(&uri).await.unwrap();
    assert!(!first.info().dns_from_cache());
    // A clone shares the cache, as hyper-util's Client clones its connector per request.
    let second = connector.clone().connect(&uri).await.unwrap();
    assert!(second.info().dns_from_cache());
    assert_eq!(resolver.lookups(), 1);
    assert_eq!(second.info().remote_addr(), server.addr());
    // Another connector has a cache of its own.
    let other = with(&resolver).build().unwrap();
    other.connect(&uri).await.unwrap();
    assert_eq!(resolver.lookups(), 2);
}

#[tokio::test]
async fn cache_entries_expire_after_the_ttl() {
    let server = plain_server().await;
    let resolver = Counting::new(&[LOCAL4]);
    let ttl = Duration::from_millis(300);
    let connector = with(&resolver).dns_cache_ttl(Some(ttl)).build().unwrap();
    let uri = by_name(server.addr().port());
    connector.connect(&uri).await.unwrap();
    connector.connect(&uri).await.unwrap();
    assert_eq!(resolver.lookups(), 1, "within the TTL");
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    let conn = connector.connect(&uri).await.unwrap();
    assert!(!conn.info().dns_from_cache());
    assert_eq!(resolver.lookups(), 2, "after the TTL");
}

#[tokio::test]
async fn without_the_cache_every_connect_resolves() {
    let server = plain_server().await;
    let resolver = Counting::new(&[LOCAL4]);
    let connector = with(&resolver).dns_cache_ttl(None).build().unwrap();
    let uri = by_name(server.addr().port());
    for _ in 0..3 {
        let conn = connector.connect(&uri).await.unwrap();
        assert!(!conn.info().dns_from_cache());
    }
    assert_eq!(resolver.lookups(), 3);
}

#[tokio::test]
async fn an_answer_whose_addresses_all_failed_is_dropped() {
    let resolver = Counting::new(&[LOCAL4]);
    let connector = with(&resolver).build().unwrap();
    let uri = by_name(closed_port());
    // The first connect resolves and fails: nothing stored.
    let err = connector.connect(&uri).await.unwrap_err();
    assert_eq!(err.phase(), Phase::Connect);
    connector.connect(&uri).await.unwrap_err();
    assert_eq!(resolver.lookups(), 2, "no negative caching");

    // An answer that worked, then stopped working: dropped once every address failed. (A
    // listener of our own, so that it is closed the moment it is dropped.)
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let uri = by_name(listener.local_addr().unwrap().port());
    connector.connect(&uri).await.unwrap();
    assert_eq!(resolver.lookups(), 3);
    drop(listener);
    let err = connector.connect(&uri).await.unwrap_err();
    assert_eq!(
        io_error_kind(&err),
        Some(io::ErrorKind::ConnectionRefused),
        "{err}"
    );
    assert_eq!(resolver.lookups(), 3, "that connect used the cache");
    connector.connect(&uri).await.unwrap_err();
    assert_eq!(resolver.lookups(), 4, "the failed entry was dropped");
}

#[tokio::test]
async fn a_cached_answer_with_one_working_address_is_kept() {
    let server = plain_server().await;
    // 127.0.0.2 on the server's port refuses (the server listens on 127.0.0.1 only).
    let resolver = Counting::new(&[IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), LOCAL4]);
    let connector = with(&resolver).build().unwrap();
    let uri = by_name(server.addr().port());
    for _ in 0..3 {
        let conn = connector.connect(&uri).await.unwrap();
        let outcomes: Vec<_> = conn.info().attempts().iter().map(|a| a.outcome()).collect();
        assert_eq!(
            outcomes,
            [AttemptOutcome::Refused, AttemptOutcome::Connected]
        );
    }
    assert_eq!(resolver.lookups(), 1);
}

#[tokio::test]
async fn concurrent_first_connects_to_one_name_resolve_once() {
    let server = plain_server().await;
    let mut resolver = Counting::new(&[LOCAL4]);
    resolver.delay = Duration::from_millis(100);
    let connector = with(&resolver).build().unwrap();
    let uri = by_name(server.addr().port());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (c, uri) = (connector.clone(), uri.clone());
        tasks.spawn(async move { c.connect(&uri).await.map(|conn| conn.info().clone()) });
    }
    let mut from_cache = 0;
    while let Some(done) = tasks.join_next().await {
        let info = done.unwrap().unwrap();
        from_cache += usize::from(info.dns_from_cache());
    }
    assert_eq!(resolver.lookups(), 1);
    assert_eq!(
        from_cache, 19,
        "all but the one that resolved read the cache"
    );
}

/// A slow AAAA answer holds up no other connect (issue 19, item 1). A answers at once, AAAA
/// only after 3 s: longer than the connect timeout (2 s), as glibc's 5 s × 2 for dropped AAAA
/// queries is against the default 10 s. The first connect wins over IPv4 after the resolution
/// delay and stores what it received then, so the connects started meanwhile (waiting on its
/// lookup) and after it read the cache instead of waiting for the whole lookup; once AAAA
/// arrives, the entry holds both families.
#[tokio::test]
async fn a_slow_aaaa_answer_holds_up_no_other_connect() {
    let server = plain_server().await;
    let port = server.addr().port();
    let mut resolver = Counting::new(&[LOCAL6, LOCAL4]);
    let aaaa_after = Duration::from_secs(3);
    resolver.per_family = Some((Some(aaaa_after), Some(Duration::ZERO)));
    let connector = with(&resolver)
        .connect_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let uri = by_name(port);
    let start = Instant::now();
    let timed = |c: Connector, uri: http::Uri| async move {
        let t = Instant::now();
        let result = c.connect(&uri).await;
        (t.elapsed(), result.map(|conn| conn.info().clone()))
    };
    // The first connect leads the lookup; four more start while it is under way.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..5 {
        tasks.spawn(timed(connector.clone(), uri.clone()));
    }
    // Three more after the first has connected, while AAAA is still out.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..3 {
        tasks.spawn(timed(connector.clone(), uri.clone()));
    }
    let mut from_cache = 0;
    let mut slowest = Duration::ZERO;
    while let Some(done) = tasks.join_next().await {
        let (took, result) = done.unwrap();
        let info = result.unwrap_or_else(|e| panic!("after {took:?}: {e}"));
        assert!(took < Duration::from_secs(1), "a connect took {took:?}");
        slowest = slowest.max(took);
        assert_eq!(info.remote_addr(), server.addr());
        from_cache += usize::from(info.dns_from_cache());
    }
    println!("slowest of 8 connects while AAAA was out: {slowest:?}");
    assert_eq!(from_cache, 7, "all but the first read the cache");
    assert_eq!(resolver.lookups(), 2, "one lookup per family, shared");

    // Once AAAA is in, the entry holds both families: a cached connect tries IPv6 first.
    tokio::time::sleep(
        (start + aaaa_after + Duration::from_millis(300)).saturating_duration_since(Instant::now()),
    )
    .await;
    let conn = connector.connect(&uri).await.unwrap();
    assert!(conn.info().dns_from_cache());
    let tried: Vec<IpAddr> = conn
        .info()
        .attempts()
        .iter()
        .map(|a| a.addr().ip())
        .collect();
    assert_eq!(tried.first(), Some(&LOCAL6), "{tried:?}");
    assert_eq!(conn.info().remote_addr(), server.addr());
    assert_eq!(resolver.lookups(), 2);
}

/// When the connect leading a lookup fails, the connects that waited on it try the addresses
/// it received instead of starting over empty-handed with what is left of their budget (a DNS
/// timeout). Here A answers at once with a port that refuses and AAAA never: the leader waits
/// for AAAA until its deadline; the waiters then fail as it did, refused, with no lookup of
/// their own.
#[tokio::test]
async fn connects_waiting_on_a_failed_lookup_get_its_addresses() {
    let mut resolver = Counting::new(&[LOCAL6, LOCAL4]);
    resolver.per_family = Some((None, Some(Duration::ZERO)));
    let connector = with(&resolver)
        .connect_timeout(Duration::from_millis(1500))
        .build()
        .unwrap();
    let uri = by_name(closed_port());
    let leader = tokio::spawn({
        let (c, uri) = (connector.clone(), uri.clone());
        async move { c.connect(&uri).await.map(drop) }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut waiters = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let (c, uri) = (connector.clone(), uri.clone());
        waiters.spawn(async move { c.connect(&uri).await.map(drop) });
    }
    let err = leader.await.unwrap().unwrap_err();
    assert_eq!(err.phase(), Phase::Connect, "{err}");
    while let Some(done) = waiters.join_next().await {
        let err = done.unwrap().unwrap_err();
        assert_eq!(err.phase(), Phase::Connect, "{err}");
        assert_eq!(
            io_error_kind(&err),
            Some(io::ErrorKind::ConnectionRefused),
            "{err}"
        );
    }
    assert_eq!(resolver.lookups(), 2, "the waiters resolved nothing");
}

/// `Duration::MAX` means "no limit" across the crate: as the cache's TTL it keeps answers for
/// good. It panicked on the first store (`Instant + Duration::MAX`; issue 19, item 6).
#[tokio::test]
async fn a_maximal_cache_ttl_keeps_answers_for_good() {
    let server = plain_server().await;
    let resolver = Counting::new(&[LOCAL4]);
    let connector = with(&resolver)
        .dns_cache_ttl(Some(Duration::MAX))
        .build()
        .unwrap();
    let uri = by_name(server.addr().port());
    connector.connect(&uri).await.unwrap();
    let again = connector.connect(&uri).await.unwrap();
    assert!(again.info().dns_from_cache());
    assert_eq!(resolver.lookups(), 1);
}

#[tokio::test]
async fn ip_literals_and_static_entries_bypass_the_cache() {
    let server = plain_server().await;
    let port = server.addr().port();
    let connector = Connector::builder()
        .dns_resolver(StaticResolver::new().add("static.test", port, [LOCAL4]))
        .build()
        .unwrap();
    for uri in [
        server.url("/"),
        server.url("/"),
        format!("http://static.test:{port}/"),
        format!("http://static.test:{port}/"),
    ] {
        let conn = connector.connect(&uri.parse().unwrap()).await.unwrap();
        assert!(!conn.info().dns_from_cache(), "{uri}");
    }
    // The static resolver's fallback is cached as its own answers.
    let fallback = Counting::new(&[LOCAL4]);
    let connector = Connector::builder()
        .dns_resolver(StaticResolver::new().fallback(fallback.clone()))
        .build()
        .unwrap();
    connector.connect(&by_name(port)).await.unwrap();
    let again = connector.connect(&by_name(port)).await.unwrap();
    assert!(again.info().dns_from_cache());
    assert_eq!(fallback.lookups(), 1);
}

#[tokio::test]
async fn connecting_starts_on_the_a_answer_when_aaaa_never_comes() {
    let server = plain_server().await;
    let mut resolver = Counting::new(&[LOCAL6, LOCAL4]);
    // AAAA never answers; A at once.
    resolver.per_family = Some((None, Some(Duration::ZERO)));
    let connector = with(&resolver).build().unwrap();
    let conn = connector
        .connect(&by_name(server.addr().port()))
        .await
        .unwrap();
    assert_eq!(conn.info().remote_addr(), server.addr());
    assert_eq!(resolver.lookups(), 2, "one query per family");
    let dns = conn.info().timings().dns().unwrap();
    // RFC 8305's resolution delay: 50 ms of waiting for AAAA after A.
    assert!(dns >= Duration::from_millis(50), "{dns:?}");
}

#[tokio::test]
async fn connecting_starts_on_the_aaaa_answer_without_waiting_for_a() {
    if crate::support::no_ipv6_loopback() {
        return;
    }
    let listener = tokio::net::TcpListener::bind("[::1]:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut resolver = Counting::new(&[LOCAL6, LOCAL4]);
    // AAAA at once; A never.
    resolver.per_family = Some((Some(Duration::ZERO), None));
    let connector = Connector::builder().dns_resolver(resolver).build().unwrap();
    let conn = connector.connect(&by_name(addr.port())).await.unwrap();
    assert_eq!(conn.info().remote_addr(), addr);
}

#[tokio::test]
async fn aaaa_within_the_resolution_delay_goes_first() {
    if crate::support::no_ipv6_loopback() {
        return;
    }
    // Both families of one dual-stack listener.
    let listener = tokio::net::TcpListener::bind("[::]:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut resolver = Counting::new(&[LOCAL6, LOCAL4]);
    // A at once, AAAA 20 ms later: inside the 50 ms resolution delay.
    resolver.per_family = Some((Some(Duration::from_millis(20)), Some(Duration::ZERO)));
    let connector = Connector::builder().dns_resolver(resolver).build().unwrap();
    let conn = connector.connect(&by_name(port)).await.unwrap();
    let first = conn.info().attempts()[0];
    assert_eq!(first.addr(), SocketAddr::new(LOCAL6, port), "{first}");
    assert_eq!(first.outcome(), AttemptOutcome::Connected);
}

#[tokio::test]
async fn addresses_are_interleaved_by_family() {
    // Every address refuses (or, without an IPv6 loopback, is unreachable), fast and on
    // loopback only: the order of the attempts is the order of the race.
    let v4: Vec<SocketAddr> = (0..3)
        .map(|_| SocketAddr::new(LOCAL4, closed_port()))
        .collect();
    let v6: Vec<SocketAddr> = (0..2)
        .map(|_| SocketAddr::new(LOCAL6, closed_port()))
        .collect();
    let answer: Vec<SocketAddr> = v4.iter().chain(&v6).copied().collect();
    let fixed = move |answer: Vec<SocketAddr>| {
        move |_: &str, _: u16| -> Resolving {
            let answer = answer.clone();
            Box::pin(async move { Ok(answer) })
        }
    };
    let connector = Connector::builder()
        .dns_resolver(fixed(answer.clone()))
        .build()
        .unwrap();
    let err = connector.connect(&by_name(1)).await.unwrap_err();
    let order: Vec<SocketAddr> = err.attempts().iter().map(|a| a.addr()).collect();
    assert_eq!(order, [v4[0], v6[0], v4[1], v6[1], v4[2]], "{err}");
    // Racing off: the resolver's order.
    let connector = Connector::builder()
        .dns_resolver(fixed(answer.clone()))
        .happy_eyeballs(false)
        .build()
        .unwrap();
    let err = connector.connect(&by_name(1)).await.unwrap_err();
    let order: Vec<SocketAddr> = err.attempts().iter().map(|a| a.addr()).collect();
    assert_eq!(order, answer, "{err}");
}

#[tokio::test]
async fn a_failed_dial_keeps_the_first_and_the_last_cause() {
    let port = closed_port();
    let first = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), port);
    let last = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), port);
    for race in [true, false] {
        let connector = Connector::builder()
            .dns_resolver(Counting::new(&[first.ip(), last.ip()]))
            .happy_eyeballs(race)
            .build()
            .unwrap();
        let err = connector.connect(&by_name(port)).await.unwrap_err();
        assert_eq!(err.phase(), Phase::Connect);
        assert_eq!(err.addr(), Some(last), "the error is the last attempt's");
        let first_err = err.first_error().expect("the first attempt's error");
        assert_eq!(first_err.addr(), Some(first));
        assert_eq!(
            io_error_kind(first_err),
            Some(io::ErrorKind::ConnectionRefused)
        );
        assert_eq!(io_error_kind(&err), Some(io::ErrorKind::ConnectionRefused));
        let outcomes: Vec<_> = err.attempts().iter().map(|a| a.outcome()).collect();
        assert_eq!(outcomes, [AttemptOutcome::Refused, AttemptOutcome::Refused]);
        let text = err.to_string();
        let prefix = "tcp connect to cached.test (2 addresses tried) failed: first ";
        assert!(text.starts_with(prefix), "{text}");
        assert!(
            text.contains(&format!("first {first}: "))
                && text.contains(&format!("; last {last}: ")),
            "{text}"
        );
    }
}

#[tokio::test]
async fn before_connect_runs_on_every_attempt_after_connect_on_the_winner_only() {
    let server = plain_server().await;
    let resolver = Counting::new(&[IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), LOCAL4]);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let connector = Connector::builder()
        .dns_resolver(resolver)
        .socket_hook(move |stage, sock| {
            // At BeforeConnect the socket is not bound yet, even with a local address set.
            let port = match sock.local_addr() {
                Ok(addr) => addr.as_socket().map_or(0, |a| a.port()),
                // Windows has no local address for an unbound socket (WSAEINVAL).
                Err(e) if cfg!(windows) && e.kind() == io::ErrorKind::InvalidInput => 0,
                Err(e) => return Err(e),
            };
            record.lock().unwrap().push((stage, port));
            Ok(())
        })
        .local_address(LOCAL4)
        .build()
        .unwrap();
    let conn = connector
        .connect(&by_name(server.addr().port()))
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    let stages: Vec<Stage> = seen.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        stages,
        [
            Stage::BeforeConnect,
            Stage::BeforeConnect,
            Stage::AfterConnect,
            Stage::AfterHandshake
        ]
    );
    assert!(
        seen.iter()
            .filter(|(s, _)| *s == Stage::BeforeConnect)
            .all(|(_, port)| *port == 0),
        "bind(2) comes after the hook: {seen:?}"
    );
    assert_eq!(conn.info().local_addr().ip(), LOCAL4);
}

#[tokio::test]
async fn local_addresses_per_family_keep_both_families() {
    let Some(server6) = ipv6_server().await else {
        return;
    };
    let server4 = TestServer::start().await.unwrap();
    let connector = crate::support::builder_for(&server6)
        .local_addresses(Ipv4Addr::LOCALHOST, Ipv6Addr::LOCALHOST)
        .build()
        .unwrap();
    let conn = crate::support::connect(&connector, &server6).await.unwrap();
    assert_eq!(conn.info().local_addr().ip(), LOCAL6);
    let connector = crate::support::builder_for(&server4)
        .local_addresses(Ipv4Addr::LOCALHOST, Ipv6Addr::LOCALHOST)
        .build()
        .unwrap();
    let conn = crate::support::connect(&connector, &server4).await.unwrap();
    assert_eq!(conn.info().local_addr().ip(), LOCAL4);
    // One family only: the other family's addresses are not tried.
    let connector = Connector::builder().local_address(LOCAL4).build().unwrap();
    let err = crate::support::connect(&connector, &server6)
        .await
        .unwrap_err();
    assert_eq!(err.phase(), Phase::Connect);
    assert!(err.attempts().is_empty());
}

/// `ip_family` (curl's `-4`/`-6`): only that family's addresses are tried.
#[tokio::test]
async fn ip_family_tries_one_family_only() {
    let server = plain_server().await;
    let port = server.addr().port();
    // A dead IPv6 address listed first, the live IPv4 one second.
    let resolver = Counting::new(&[LOCAL6, LOCAL4]);
    let connector = with(&resolver).ip_family(Family::V4).build().unwrap();
    let conn = connector.connect(&by_name(port)).await.unwrap();
    assert_eq!(conn.info().remote_addr(), server.addr());
    let tried: Vec<IpAddr> = conn
        .info()
        .attempts()
        .iter()
        .map(|a| a.addr().ip())
        .collect();
    assert_eq!(tried, [LOCAL4], "the IPv6 address is never tried");

    let v6_only = with(&Counting::new(&[LOCAL4]))
        .ip_family(Family::V6)
        .build()
        .unwrap();
    let err = v6_only.connect(&by_name(port)).await.unwrap_err();
    assert_eq!(err.phase(), Phase::Connect, "{err}");
    assert!(err.attempts().is_empty());
    assert!(err.to_string().contains("ip_family"), "{err}");
    // An IP literal of the other family, too.
    let err = v6_only
        .connect(&server.url("/").parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.phase(), Phase::Connect, "{err}");
}
