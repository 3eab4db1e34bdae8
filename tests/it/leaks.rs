//! Nothing leaks: after 2,000 failed connection attempts of mixed kinds the process's open file
//! descriptors (`/proc/self/fd`) and live tokio tasks are back where they started, and dropping
//! a connect future mid-DNS, mid-connect or mid-handshake closes its socket.
//!
//! `/proc/self/fd` is process-wide and the other tests of this binary run in parallel threads,
//! so the client side runs in a child process of its own (see `support::child`); the servers
//! stay in this process, so their sockets are not counted either.
#![cfg(target_os = "linux")]

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use keepalive_connector::{io_error_kind, Builder, Connector, Phase, Resolving, Stage, Trust};
use keepalive_testserver::{Behavior, LeafKind, TestCa, TestServer};
use socket2::{Domain, Socket, Type};
use tokio::task::JoinSet;

use crate::support::child;

const ATTEMPTS: usize = 2_000;
/// Attempts in flight at once.
const IN_FLIGHT: usize = 64;
const TEST: &str = "failed_attempts_and_dropped_connects_leak_nothing";

/// Open file descriptors of this process (the directory handle used to count is included
/// every time, so it cancels out).
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// A listener whose accept queue is full, so the kernel drops further SYNs: a connect to it
/// hangs until the connector's timeout, as with a black-holed address. Returns the address and
/// what must stay alive.
fn full_backlog_listener() -> (SocketAddr, Socket, Vec<TcpStream>) {
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    listener
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    // Backlog 0: one connection fits in the accept queue, which is then full.
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    let fillers = (0..3)
        .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_millis(300)).ok())
        .collect();
    (addr, listener, fillers)
}

/// The addresses the child needs, by name, passed as `key=addr;…` (the CA goes separately).
struct Spec {
    pairs: Vec<(String, SocketAddr)>,
}

impl Spec {
    fn parse(s: &str) -> Spec {
        let pairs = s
            .split(';')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').expect("key=addr");
                (k.to_owned(), v.parse().expect("an address"))
            })
            .collect();
        Spec { pairs }
    }

    fn get(&self, key: &str) -> SocketAddr {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .unwrap_or_else(|| panic!("no {key} in the spec"))
            .1
    }
}

impl std::fmt::Display for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (k, v) in &self.pairs {
            write!(f, "{k}={v};")?;
        }
        Ok(())
    }
}

#[test]
fn failed_attempts_and_dropped_connects_leak_nothing() {
    if child::role().as_deref() == Some("leaks-client") {
        return client_side();
    }
    // The servers, on a runtime of their own in this (the parent) process.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let ca = Arc::new(TestCa::new());
    let (backlog_addr, _listener, _fillers) = full_backlog_listener();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let servers = rt.block_on(async {
        let start = |b: keepalive_testserver::ServerBuilder| {
            let ca = Arc::clone(&ca);
            async move { b.ca(ca).start().await.unwrap() }
        };
        let b = TestServer::builder;
        vec![
            ("serve", start(b()).await),
            ("reset", start(b().behavior(Behavior::ResetOnAccept)).await),
            ("garbage", start(b().behavior(Behavior::Garbage)).await),
            ("untrusted", start(b().leaf(LeafKind::Untrusted)).await),
            (
                "stall",
                start(b().behavior(Behavior::StallAfterClientHello)).await,
            ),
            (
                "alpn",
                start(b().behavior(Behavior::SelectUnofferedAlpn)).await,
            ),
            (
                "close",
                start(b().behavior(Behavior::CloseAfterHandshake)).await,
            ),
        ]
    });
    let mut spec = Spec {
        pairs: servers
            .iter()
            .map(|(k, s)| (k.to_string(), s.addr()))
            .collect(),
    };
    spec.pairs.push(("backlog".into(), backlog_addr));
    spec.pairs.push(("closed".into(), closed));

    let mut cmd = child::command(&[], &child::test_path(module_path!(), TEST), "leaks-client");
    cmd.env("KA_LEAKS_SPEC", spec.to_string())
        .env("KA_LEAKS_CA", ca.cert_pem());
    let mut kid = child::Child::spawn("leaks-client", cmd).expect("spawn the client process");
    let summary = kid.expect("summary", Duration::from_secs(150));
    let status = kid.finish(Duration::from_secs(20));
    let summary = summary.unwrap_or_else(|e| panic!("{e}"));
    let status = status.unwrap_or_else(|e| panic!("{e}"));
    println!("leaks: {summary}");
    assert!(status.success(), "the client process failed: {status}");
    drop(servers);
}

/// How one kind of attempt is made and how it must fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    BadUri,
    DnsError,
    DnsTimeout,
    Refused,
    ConnectTimeout,
    SocketHook,
    Reset,
    Garbage,
    Untrusted,
    HandshakeTimeout,
    UnofferedAlpn,
    /// Through hyper-util's `Client`: the handshake succeeds, the server closes, the request
    /// fails (this exercises the connection tasks the client spawns).
    ClientClosed,
    /// Through hyper-util's `Client`: connection refused.
    ClientRefused,
}

const KINDS: [Kind; 13] = [
    Kind::BadUri,
    Kind::DnsError,
    Kind::DnsTimeout,
    Kind::Refused,
    Kind::ConnectTimeout,
    Kind::SocketHook,
    Kind::Reset,
    Kind::Garbage,
    Kind::Untrusted,
    Kind::HandshakeTimeout,
    Kind::UnofferedAlpn,
    Kind::ClientClosed,
    Kind::ClientRefused,
];

struct Setup {
    spec: Spec,
    ca_pem: String,
}

impl Setup {
    fn builder(&self) -> Builder {
        Connector::builder()
            .trust(Trust::AddedRootsOnly)
            .add_root_certificates_pem(self.ca_pem.as_bytes())
            .connect_timeout(Duration::from_millis(100))
            .handshake_timeout(Duration::from_millis(150))
    }

    fn url(&self, key: &str) -> http::Uri {
        format!("https://{}/", self.spec.get(key)).parse().unwrap()
    }

    /// One attempt of `kind`; `Ok` when it failed the way it must.
    async fn attempt(&self, kind: Kind, stage: Stage) -> Result<(), String> {
        let b = self.builder().keepalive_at(stage);
        let want = |phase: Phase, res: Result<keepalive_connector::Conn, _>| match res {
            Ok(_) => Err(format!("{kind:?}: connected")),
            Err(e) if want_phase(kind, phase, &e) => Ok(()),
            Err(e) => Err(format!("{kind:?}: want {phase:?}, got {e}")),
        };
        match kind {
            Kind::BadUri => {
                let c = b.build().unwrap();
                want(
                    Phase::Uri,
                    c.connect(&"ftp://x.invalid/".parse().unwrap()).await,
                )
            }
            Kind::DnsError => {
                let c = b
                    .dns_resolver(|_: &str, _: u16| -> Resolving {
                        Box::pin(async { Err(io::Error::other("no such name")) })
                    })
                    .build()
                    .unwrap();
                want(
                    Phase::Dns,
                    c.connect(&"https://x.invalid/".parse().unwrap()).await,
                )
            }
            Kind::DnsTimeout => {
                let c = b
                    .dns_resolver(|_: &str, _: u16| -> Resolving {
                        Box::pin(std::future::pending())
                    })
                    .build()
                    .unwrap();
                want(
                    Phase::Dns,
                    c.connect(&"https://x.invalid/".parse().unwrap()).await,
                )
            }
            Kind::Refused => want(
                Phase::Connect,
                b.build().unwrap().connect(&self.url("closed")).await,
            ),
            Kind::ConnectTimeout => want(
                Phase::Connect,
                b.build().unwrap().connect(&self.url("backlog")).await,
            ),
            Kind::SocketHook => {
                let c = b
                    .socket_hook(move |s, _| {
                        if s == stage {
                            Err(io::Error::other("hook says no"))
                        } else {
                            Ok(())
                        }
                    })
                    .build()
                    .unwrap();
                want(Phase::Socket, c.connect(&self.url("serve")).await)
            }
            Kind::Reset => want(
                Phase::Tls,
                b.build().unwrap().connect(&self.url("reset")).await,
            ),
            Kind::Garbage => want(
                Phase::Tls,
                b.build().unwrap().connect(&self.url("garbage")).await,
            ),
            Kind::Untrusted => want(
                Phase::Tls,
                b.build().unwrap().connect(&self.url("untrusted")).await,
            ),
            Kind::HandshakeTimeout => want(
                Phase::Tls,
                b.build().unwrap().connect(&self.url("stall")).await,
            ),
            Kind::UnofferedAlpn => want(
                Phase::Tls,
                b.build().unwrap().connect(&self.url("alpn")).await,
            ),
            Kind::ClientClosed | Kind::ClientRefused => {
                let key = if kind == Kind::ClientClosed {
                    "close"
                } else {
                    "closed"
                };
                let client = Client::builder(TokioExecutor::new())
                    .pool_max_idle_per_host(0)
                    .build::<_, Empty<Bytes>>(b.build().unwrap());
                match tokio::time::timeout(Duration::from_secs(5), client.get(self.url(key))).await
                {
                    Err(_) => Err(format!("{kind:?}: request hung")),
                    Ok(Ok(resp)) => Err(format!("{kind:?}: got {}", resp.status())),
                    Ok(Err(e)) if e.is_connect() == (kind == Kind::ClientRefused) => Ok(()),
                    Ok(Err(e)) => Err(format!("{kind:?}: unexpected {e:?}")),
                }
            }
        }
    }
}

fn want_phase(kind: Kind, phase: Phase, e: &keepalive_connector::ConnectError) -> bool {
    match kind {
        // See hostile.rs: a reset right after accept may beat tokio's connect check.
        Kind::Reset => {
            e.phase() == phase
                || (e.phase() == Phase::Connect
                    && io_error_kind(e) == Some(io::ErrorKind::ConnectionReset))
        }
        Kind::DnsTimeout | Kind::ConnectTimeout | Kind::HandshakeTimeout => {
            e.phase() == phase && e.is_timeout()
        }
        _ => e.phase() == phase,
    }
}

/// The child: the client side, counting its own fds and tasks.
fn client_side() {
    let setup = Arc::new(Setup {
        spec: Spec::parse(&std::env::var("KA_LEAKS_SPEC").expect("KA_LEAKS_SPEC")),
        ca_pem: std::env::var("KA_LEAKS_CA").expect("KA_LEAKS_CA"),
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        // Warm up every kind once, so lazily created process state (the runtime's blocking
        // pool, rustls's provider) is in the baseline, not counted as a leak.
        for kind in KINDS {
            setup.attempt(kind, Stage::AfterHandshake).await.unwrap();
        }
        settle(open_fds(), 0).await;
        let (fds_before, tasks_before) = (open_fds(), alive_tasks());

        let start = Instant::now();
        let mut set = JoinSet::new();
        let mut failures = Vec::new();
        let mut peak_fds = fds_before;
        for i in 0..ATTEMPTS {
            if set.len() >= IN_FLIGHT {
                if let Some(Err(e)) = set.join_next().await.transpose().expect("no panic") {
                    failures.push(e);
                }
                peak_fds = peak_fds.max(open_fds());
            }
            let setup = Arc::clone(&setup);
            let kind = KINDS[i % KINDS.len()];
            let stage = Stage::ALL[(i / KINDS.len()) % 3];
            set.spawn(async move { setup.attempt(kind, stage).await });
        }
        while let Some(res) = set.join_next().await {
            if let Err(e) = res.expect("no panic") {
                failures.push(e);
            }
        }
        let took = start.elapsed();
        assert!(
            failures.is_empty(),
            "{} wrong failures: {failures:#?}",
            failures.len()
        );
        let (fds_after, tasks_after) = settle(fds_before, tasks_before).await;
        child::say(format!(
            "attempts {ATTEMPTS} of {} kinds in {took:.1?}: fds before={fds_before} \
             peak={peak_fds} after={fds_after}; tasks before={tasks_before} after={tasks_after}",
            KINDS.len()
        ));
        assert!(peak_fds > fds_before, "the attempts never opened a socket?");
        assert_eq!(fds_after, fds_before, "file descriptors leaked");
        assert_eq!(tasks_after, tasks_before, "tokio tasks leaked");

        let dropped = dropped_futures(&setup).await;
        child::say(format!(
            "summary {ATTEMPTS} failed attempts: fds {fds_before} -> {fds_after}, tasks \
             {tasks_before} -> {tasks_after}; {dropped}"
        ));
    });
}

/// Waits (up to 5 s) for the fd and task counts to come back to `fds`/`tasks`: sockets are
/// closed synchronously on drop, but a task a client spawned may need a moment to end.
async fn settle(fds: usize, tasks: usize) -> (usize, usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = (open_fds(), alive_tasks());
        if now == (fds, tasks) || Instant::now() >= deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Drops a connect future mid-DNS, mid-connect and mid-handshake (directly, and a hyper-util
/// `Client` request mid-handshake), checking that its socket is gone each time.
async fn dropped_futures(setup: &Setup) -> String {
    let long = |b: Builder| {
        b.connect_timeout(Duration::from_secs(30))
            .handshake_timeout(Duration::from_secs(30))
    };
    let mut report = Vec::new();

    // Mid-DNS: the resolver's future must be dropped with the connect future.
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&dropped);
    let c = long(setup.builder())
        .dns_resolver(move |_: &str, _: u16| -> Resolving {
            let guard = SetOnDrop(Arc::clone(&flag));
            Box::pin(async move {
                let _guard = guard;
                std::future::pending().await
            })
        })
        .build()
        .unwrap();
    let line = drop_midway("mid-DNS", 0, async move {
        let _ = c.connect(&"https://hang.invalid/".parse().unwrap()).await;
    })
    .await;
    assert!(
        dropped.load(Ordering::SeqCst),
        "the resolver's future outlived the connect"
    );
    report.push(line);

    // Mid-connect: SYNs to the full-backlog listener are dropped, so the connect pends.
    let backlog = setup.spec.get("backlog");
    let c = long(setup.builder()).build().unwrap();
    let uri = setup.url("backlog");
    let syn_sent = move || crate::support::tcp_sockets_to(backlog, "02");
    let before = syn_sent();
    let line = drop_midway_with("mid-connect", 1, Some(&syn_sent), async move {
        let _ = c.connect(&uri).await;
    })
    .await;
    assert_eq!(
        syn_sent(),
        before,
        "a SYN_SENT socket to {backlog} outlived the future"
    );
    report.push(line);

    // Mid-handshake: the server read the ClientHello and stalls.
    let c = long(setup.builder()).build().unwrap();
    let uri = setup.url("stall");
    let line = drop_midway("mid-handshake", 1, async move {
        let _ = c.connect(&uri).await;
    })
    .await;
    report.push(line);

    // The same through hyper-util's Client.
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build::<_, Empty<Bytes>>(long(setup.builder()).build().unwrap());
    let uri = setup.url("stall");
    let line = drop_midway("Client mid-handshake", 1, async move {
        let _ = client.get(uri).await;
    })
    .await;
    report.push(line);
    report.join(", ")
}

struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Runs `fut` for a while, checks it holds `sockets` more fds than before, drops it, and
/// checks every fd and task is gone.
async fn drop_midway(
    what: &str,
    sockets: usize,
    fut: impl std::future::Future<Output = ()> + Send + 'static,
) -> String {
    drop_midway_with(what, sockets, None, fut).await
}

/// [`drop_midway`], also checking that `kernel` (a count of kernel sockets in some state)
/// grows by `sockets` while the future runs and comes back after the drop.
async fn drop_midway_with(
    what: &str,
    sockets: usize,
    kernel: Option<&(dyn Fn() -> usize + Sync)>,
    fut: impl std::future::Future<Output = ()> + Send + 'static,
) -> String {
    let kernel_count = || kernel.map(|count| count());
    let (fds, tasks, kernel_before) = (open_fds(), alive_tasks(), kernel_count());
    let task = tokio::spawn(fut);
    // Long enough to be in the middle of it, far shorter than the 30 s timeouts.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (during, kernel_during) = (open_fds(), kernel_count());
    assert!(!task.is_finished(), "{what}: the connect ended on its own");
    assert_eq!(during, fds + sockets, "{what}: fds while pending");
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    let (fds_after, tasks_after) = settle(fds, tasks).await;
    assert_eq!(fds_after, fds, "{what}: fds after the drop");
    assert_eq!(tasks_after, tasks, "{what}: tasks after the drop");
    let mut line = format!("{what}: fds {fds} -> {during} -> {fds_after}");
    if let (Some(before), Some(during)) = (kernel_before, kernel_during) {
        let after = kernel_count().unwrap_or_default();
        assert_eq!(
            during,
            before + sockets,
            "{what}: kernel sockets while pending"
        );
        assert_eq!(after, before, "{what}: kernel sockets after the drop");
        line += &format!(" (kernel sockets {before} -> {during} -> {after})");
    }
    line
}
