//! Setup shared by the benchmark targets: one test CA, local servers on a runtime thread of their
//! own, the rustls client configurations, and the contenders (floor, anchor, ours), each
//! connecting through its own public API.
//!
//! Fairness rules every routine here follows:
//! - the client runs on one `current_thread` tokio runtime (the benchmark's thread); the servers
//!   run on a separate one-worker runtime, so the server's handshake work happens on another
//!   thread for every contender alike;
//! - floor, anchor and ours get the same `Arc<rustls::ClientConfig>` (the anchor gets a clone of
//!   it, because hyper-rustls insists on setting the ALPN list itself; it sets the same one),
//!   except in the trust cases ([`Roots`]), where ours is built with `Builder::trust` and the
//!   floor and the anchor get the verifier a hyper-rustls user would build for the same trust;
//! - only the connection setup (or setup + first response) is timed; closing is not. Every
//!   connection is closed with `SO_LINGER` 0 (an RST), so no TIME_WAIT sockets pile up and slow
//!   down later `connect(2)` calls of whichever contender runs last;
//! - a connection setup of the anchor and of ours ends with `Connection::connected()`, as in
//!   hyper-util's `Client`, which calls it on every new connection;
//! - the concurrency cases use a server with a listen backlog of 4096 (see
//!   [`Env::burst_server`]), so that the server's accept queue is not what they measure.

// Each bench target uses a different part of this module.
#![allow(dead_code)]

mod contender;
pub(crate) mod names;

pub(crate) use contender::{Client, Contender, Stream, Target};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::Empty;
use hyper_util::rt::{TokioExecutor, TokioIo};
use keepalive_connector::{Builder, Connector, Trust};
use keepalive_testserver::{ServerBuilder, TestCa, TestServer};
use rustls::ClientConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::runtime::Runtime;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

/// What the server and the client configuration do about TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Security {
    /// `http://`.
    Plain,
    /// TLS 1.3, resumption off on both sides: every handshake is a full one.
    Full,
    /// TLS 1.3 with tickets: after the first connection, handshakes resume.
    Resumed,
}

/// Whom the client trusts in a case, and how each contender is told so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Roots {
    /// The test CA only, in the one shared `ClientConfig` (ours through `tls_config`).
    Shared,
    /// The platform's verifier, the server's CA being in the system store (the bundle
    /// `SSL_CERT_FILE` names, see [`Env::new`]). Ours: `trust(Trust::Platform)`; floor and
    /// anchor: `rustls_platform_verifier::Verifier::new`.
    Platform,
    /// The platform's verifier with the server's CA added in code. Ours: `Trust::Platform` +
    /// `add_root_certificates_pem`; floor and anchor: `Verifier::new_with_extra_roots`.
    PlatformAdded,
    /// webpki-roots with the server's CA added. Ours: `Trust::WebpkiRoots` +
    /// `add_root_certificates_pem`; floor and anchor: `with_root_certificates(webpki-roots +
    /// CA)`.
    WebpkiAdded,
}

/// The runtimes and the CAs every case shares.
pub(crate) struct Env {
    /// The client's runtime: `current_thread`, driven by the benchmark's own thread.
    pub(crate) rt: Runtime,
    server_rt: Runtime,
    ca: Arc<TestCa>,
    /// The CA of the system store, for [`Roots::Platform`].
    system_ca: Arc<TestCa>,
    /// The bundle `SSL_CERT_FILE` names, removed on drop.
    bundle: PathBuf,
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.bundle);
    }
}

impl Env {
    /// Builds the runtimes and two ECDSA P-256 test CAs: one trusted in code, one put in the
    /// system store. The system store is this machine's bundle (`SSL_CERT_FILE`, else Debian's
    /// path) plus that CA, in a file `SSL_CERT_FILE` is set to for this process (and
    /// `SSL_CERT_DIR` removed), so the platform's verifier reads as many roots as it would here
    /// anyway. Set before any thread starts, as `set_var` requires.
    pub(crate) fn new() -> Env {
        let system_ca = Arc::new(TestCa::named("bench system CA"));
        let system = std::env::var_os("SSL_CERT_FILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/etc/ssl/certs/ca-certificates.crt"));
        let mut bundle_pem = std::fs::read_to_string(&system).unwrap_or_else(|e| {
            eprintln!(
                "no system bundle at {} ({e}): the store holds one CA",
                system.display()
            );
            String::new()
        });
        bundle_pem.push_str(system_ca.cert_pem());
        let bundle =
            std::env::temp_dir().join(format!("keepalive-bench-{}.pem", std::process::id()));
        std::fs::write(&bundle, bundle_pem).expect("the temp dir is writable");
        std::env::set_var("SSL_CERT_FILE", &bundle);
        std::env::remove_var("SSL_CERT_DIR");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("client runtime");
        let server_rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("bench-server")
            .enable_all()
            .build()
            .expect("server runtime");
        Env {
            rt,
            server_rt,
            ca: Arc::new(TestCa::new()),
            system_ca,
            bundle,
        }
    }

    /// Runs `f` on the server runtime (to start a proxy there, next to the servers).
    pub(crate) fn on_server<F: std::future::Future>(&self, f: F) -> F::Output {
        self.server_rt.block_on(f)
    }

    /// The CA that signs every server's certificate.
    pub(crate) fn ca(&self) -> &Arc<TestCa> {
        &self.ca
    }

    /// Starts a server on the server runtime. `alpn` is what it accepts, in its order of
    /// preference.
    pub(crate) fn server(&self, security: Security, alpn: &[&[u8]]) -> TestServer {
        self.server_signed_by(&self.ca, security, alpn)
    }

    /// [`Env::server`] with a certificate signed by `ca`.
    fn server_signed_by(&self, ca: &Arc<TestCa>, security: Security, alpn: &[&[u8]]) -> TestServer {
        self.server_rt
            .block_on(
                self.server_builder(security, alpn)
                    .ca(Arc::clone(ca))
                    .start(),
            )
            .expect("the test server starts")
    }

    fn server_builder(&self, security: Security, alpn: &[&[u8]]) -> ServerBuilder {
        let builder = TestServer::builder().ca(Arc::clone(&self.ca)).alpn(alpn);
        match security {
            Security::Plain => builder.plain(),
            Security::Full => builder.tls13_only().no_resumption(),
            Security::Resumed => builder.tls13_only(),
        }
    }

    /// A server for the concurrency cases: the test server's TLS configuration, but a listen
    /// backlog of 4096. The test server's listener (tokio's `TcpListener::bind`) has a backlog of
    /// 128: 256 SYNs at once overflow it, and the dropped SYNs come back after the kernel's 1 s
    /// retransmission timeout, which would measure the server's accept queue, not the client.
    /// It only accepts, handshakes and waits for the client to go away: the concurrency cases
    /// send no request.
    pub(crate) fn burst_server(&self, security: Security, alpn: &[&[u8]]) -> BurstServer {
        let tls = (security != Security::Plain).then(|| {
            let builder = self.server_builder(security, alpn);
            TlsAcceptor::from(builder.server_config(&self.ca))
        });
        self.server_rt.block_on(async {
            let socket = TcpSocket::new_v4().expect("a socket");
            socket.set_reuseaddr(true).expect("SO_REUSEADDR");
            socket
                .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
                .expect("bind 127.0.0.1");
            let listener = socket.listen(4096).expect("listen");
            let addr = listener.local_addr().expect("the bound address");
            let task = tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let tls = tls.clone();
                    tokio::spawn(async move {
                        let mut buf = [0u8; 1024];
                        match tls {
                            None => {
                                let mut stream = stream;
                                while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
                            }
                            Some(tls) => {
                                let Ok(mut stream) = tls.accept(stream).await else {
                                    return;
                                };
                                while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
                            }
                        }
                    });
                }
            });
            BurstServer {
                addr,
                tls: security != Security::Plain,
                task,
            }
        })
    }

    /// The one client configuration of a case: the test CA as the only root, ALPN `h2` then
    /// `http/1.1` (what hyper-rustls's `enable_http1().enable_http2()` sets), the aws-lc-rs
    /// provider with rustls's defaults, and resumption off for [`Security::Full`].
    pub(crate) fn client_config(&self, security: Security) -> Arc<ClientConfig> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("aws-lc-rs supports TLS 1.2 and 1.3")
            .with_root_certificates(self.ca.root_store())
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        if security == Security::Full {
            config.resumption = rustls::client::Resumption::disabled();
        }
        Arc::new(config)
    }

    /// The floor's and the anchor's configuration for `roots`: what a hyper-rustls user builds
    /// for that trust (aws-lc-rs, rustls's defaults, ALPN `h2` then `http/1.1`). Resumption
    /// stays on, as in ours, which has no switch for it (the servers of the full-handshake
    /// cases send no tickets, so every handshake is full all the same).
    pub(crate) fn trust_config(&self, roots: Roots) -> Arc<ClientConfig> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let ca = self.ca.cert_der().clone();
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .expect("aws-lc-rs supports TLS 1.2 and 1.3");
        let platform = |v: Result<rustls_platform_verifier::Verifier, rustls::Error>| {
            Arc::new(v.expect("the platform verifier builds"))
        };
        let builder = match roots {
            Roots::Shared => return self.client_config(Security::Full),
            Roots::Platform => builder
                .dangerous()
                .with_custom_certificate_verifier(platform(
                    rustls_platform_verifier::Verifier::new(provider),
                )),
            Roots::PlatformAdded => builder
                .dangerous()
                .with_custom_certificate_verifier(platform(
                    rustls_platform_verifier::Verifier::new_with_extra_roots([ca], provider),
                )),
            Roots::WebpkiAdded => {
                let mut store = rustls::RootCertStore::empty();
                store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                store.add(ca).expect("the test CA parses");
                builder.with_root_certificates(store)
            }
        };
        let mut config = builder.with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(config)
    }

    /// The CA that signs a server's certificate when the client trusts `roots`: the one in the
    /// system store for [`Roots::Platform`], the one trusted in code otherwise.
    pub(crate) fn ca_for(&self, roots: Roots) -> &Arc<TestCa> {
        match roots {
            Roots::Platform => &self.system_ca,
            _ => &self.ca,
        }
    }

    /// Our builder for `roots` (apart from keepalive, which each contender sets), given the
    /// shared configuration `config` for [`Roots::Shared`].
    pub(crate) fn ours(&self, roots: Roots, config: &Arc<ClientConfig>) -> Builder {
        let ca = self.ca.cert_pem().as_bytes();
        match roots {
            Roots::Shared => Connector::builder().tls_config(Arc::clone(config)),
            Roots::Platform => Connector::builder().trust(Trust::Platform),
            Roots::PlatformAdded => Connector::builder()
                .trust(Trust::Platform)
                .add_root_certificates_pem(ca),
            Roots::WebpkiAdded => Connector::builder()
                .trust(Trust::WebpkiRoots)
                .add_root_certificates_pem(ca),
        }
    }
}

/// What one iteration of a case does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Routine {
    /// One connection setup.
    Connect,
    /// One resumed connection setup; afterwards (untimed) read the new session tickets.
    ConnectResumed,
    /// Setup, then `GET /` and the response head.
    FirstResponse,
    /// [`names::BURST`] setups at once.
    Burst,
}

/// A case: what the server speaks, how the client names it, and what one iteration does.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Case {
    /// The criterion group (see [`names::GROUPS`]).
    pub(crate) group: &'static str,
    /// TLS or not, and resumption.
    pub(crate) security: Security,
    /// What the server accepts through ALPN.
    pub(crate) server_alpn: &'static [&'static [u8]],
    /// `localhost` (through a resolver) instead of `127.0.0.1`.
    pub(crate) by_name: bool,
    /// What one iteration does.
    pub(crate) routine: Routine,
    /// Whom the client trusts.
    pub(crate) roots: Roots,
}

const H2_H1: &[&[u8]] = &[b"h2", b"http/1.1"];
const H1: &[&[u8]] = &[b"http/1.1"];

const fn case(
    group: &'static str,
    security: Security,
    server_alpn: &'static [&'static [u8]],
    by_name: bool,
    routine: Routine,
) -> Case {
    Case {
        group,
        security,
        server_alpn,
        by_name,
        routine,
        roots: Roots::Shared,
    }
}

impl Case {
    /// The same case with the client trusting `roots`.
    const fn trusting(self, roots: Roots) -> Case {
        Case { roots, ..self }
    }
}

/// Every case, in the order of [`names::GROUPS`].
pub(crate) const CASES: [Case; 12] = {
    use Roots::*;
    use Routine::*;
    use Security::*;
    [
        case("tcp_connect", Plain, H2_H1, false, Connect),
        case("tcp_connect_localhost", Plain, H2_H1, true, Connect),
        case("tls13_full", Full, H2_H1, false, Connect),
        // The resumed case's server offers only http/1.1, so collect_tickets can speak it raw.
        case("tls13_resumed", Resumed, H1, false, ConnectResumed),
        case("tls13_full_localhost", Full, H2_H1, true, Connect),
        case("h1_first_response", Full, H1, false, FirstResponse),
        case("h2_first_response", Full, H2_H1, false, FirstResponse),
        case("tcp_concurrent_256", Plain, H2_H1, false, Burst),
        case("tls13_concurrent_256", Full, H2_H1, false, Burst),
        // The per-connection cost of each trust (by IP, so no resolver is measured with it).
        case("tls13_trust_platform", Full, H2_H1, false, Connect).trusting(Platform),
        case("tls13_trust_platform_added", Full, H2_H1, false, Connect).trusting(PlatformAdded),
        case("tls13_trust_webpki_added", Full, H2_H1, false, Connect).trusting(WebpkiAdded),
    ]
};

/// A case with its server running.
pub(crate) struct Running {
    /// The case.
    pub(crate) case: Case,
    /// Where the clients connect.
    pub(crate) target: Arc<Target>,
    config: Arc<ClientConfig>,
    _server: Server,
}

impl Case {
    /// Starts the case's server and builds its client configuration.
    pub(crate) fn start(&self, env: &Env) -> Running {
        let (target, server) = if self.routine == Routine::Burst {
            let server = env.burst_server(self.security, self.server_alpn);
            let target = Target::new(server.addr, server.tls, self.by_name);
            (target, Server::Burst(server))
        } else {
            let server =
                env.server_signed_by(env.ca_for(self.roots), self.security, self.server_alpn);
            let tls = server.tls_config().is_some();
            let target = Target::new(server.addr(), tls, self.by_name);
            (target, Server::Test(server))
        };
        let config = match self.roots {
            Roots::Shared => env.client_config(self.security),
            roots => env.trust_config(roots),
        };
        Running {
            case: *self,
            target: Arc::new(target),
            config,
            _server: server,
        }
    }
}

impl Running {
    /// Builds `who`, warms it up (and the session cache), and checks that it does what the case
    /// says (a full or resumed handshake, the expected ALPN), so that a misconfigured case fails
    /// loudly instead of measuring something else.
    pub(crate) fn client(&self, env: &Env, who: Contender) -> Client {
        let case = &self.case;
        // The floor sets TCP_NODELAY where a request follows, as the fastest client would.
        let mut client = Client::with_ours(
            who,
            &self.config,
            case.routine == Routine::FirstResponse,
            || env.ours(case.roots, &self.config),
        );
        let mut last = None;
        for _ in 0..3 {
            let stream = env.rt.block_on(client.connect(&self.target));
            if let Some(prev) = last.replace(stream) {
                if case.security == Security::Resumed {
                    env.rt.block_on(collect_tickets(prev));
                }
            }
        }
        let stream = last.expect("three connections were made");
        let tls = stream.tls();
        let kind = tls.and_then(|t| t.handshake_kind());
        let expected = match case.security {
            Security::Plain => None,
            Security::Full => Some(rustls::HandshakeKind::Full),
            Security::Resumed => Some(rustls::HandshakeKind::Resumed),
        };
        assert_eq!(kind, expected, "{}: {} handshake", case.group, who.name());
        let want_h2 = case.security != Security::Plain && case.server_alpn[0] == b"h2";
        assert_eq!(
            stream.is_h2(),
            want_h2,
            "{}: {} ALPN",
            case.group,
            who.name()
        );
        if who == Contender::Floor {
            eprintln!(
                "{}: {:?} {:?} handshake, key exchange {:?}, ALPN offered {:?}, chosen {:?}",
                case.group,
                tls.and_then(|t| t.protocol_version()),
                kind,
                tls.and_then(|t| t.negotiated_key_exchange_group())
                    .map(|g| g.name()),
                self.config
                    .alpn_protocols
                    .iter()
                    .map(|p| String::from_utf8_lossy(p))
                    .collect::<Vec<_>>(),
                tls.and_then(|t| t.alpn_protocol())
                    .map(String::from_utf8_lossy),
            );
        }
        client
    }

    /// One iteration of the case's routine; returns the time of its timed part.
    pub(crate) async fn iteration(&self, client: &mut Client) -> Duration {
        match self.case.routine {
            Routine::Connect => {
                let start = Instant::now();
                let stream = std::hint::black_box(client.connect(&self.target).await);
                let elapsed = start.elapsed();
                drop(stream);
                elapsed
            }
            Routine::ConnectResumed => {
                let start = Instant::now();
                let stream = std::hint::black_box(client.connect(&self.target).await);
                let elapsed = start.elapsed();
                collect_tickets(stream).await;
                elapsed
            }
            Routine::FirstResponse => timed_first_response(client, &self.target).await,
            Routine::Burst => timed_burst(client, &self.target, names::BURST).await,
        }
    }
}

/// The server of the concurrency cases (see [`Env::burst_server`]). Dropping it stops it.
pub(crate) struct BurstServer {
    addr: SocketAddr,
    tls: bool,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for BurstServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Either server; kept alive as long as its case runs.
enum Server {
    Test(TestServer),
    Burst(BurstServer),
}

/// The request of the first-response cases: `GET /`, origin-form with `Host` for HTTP/1.1,
/// absolute for HTTP/2 (its `:authority`).
fn first_request(target: &Target, h2: bool) -> Request<Empty<Bytes>> {
    let builder = if h2 {
        Request::get(target.uri.clone())
    } else {
        let authority = target.uri.authority().expect("an authority").as_str();
        Request::get("/").header(http::header::HOST, authority)
    };
    builder.body(Empty::new()).expect("a valid request")
}

/// Connects, sends `GET /` over HTTP/1.1 or HTTP/2 (whatever ALPN chose) and waits for the
/// response head: the time to the first response on a fresh connection. The connection's
/// teardown happens after the clock stopped.
pub(crate) async fn timed_first_response(client: &mut Client, target: &Target) -> Duration {
    let start = Instant::now();
    let stream = client.connect(target).await;
    let h2 = stream.is_h2();
    let req = first_request(target, h2);
    // The connection future is driven here rather than spawned, so that it is dropped (and the
    // socket reset) before the next iteration starts, not in the middle of it.
    let status = if h2 {
        let (mut send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), stream)
            .await
            .expect("h2 handshake");
        let mut conn = std::pin::pin!(conn);
        let resp = tokio::select! {
            biased;
            resp = send.send_request(req) => resp.expect("h2 response"),
            res = &mut conn => panic!("the h2 connection ended first: {res:?}"),
        };
        let elapsed = start.elapsed();
        (resp.status(), elapsed)
    } else {
        let (mut send, conn) = hyper::client::conn::http1::handshake(stream)
            .await
            .expect("http/1.1 handshake");
        let mut conn = std::pin::pin!(conn);
        let resp = tokio::select! {
            biased;
            resp = send.send_request(req) => resp.expect("http/1.1 response"),
            res = &mut conn => panic!("the http/1.1 connection ended first: {res:?}"),
        };
        let elapsed = start.elapsed();
        (resp.status(), elapsed)
    };
    assert!(status.0.is_success(), "status {}", status.0);
    status.1
}

/// Reads the server's session tickets, so that the next connection can resume: rustls only
/// processes the NewSessionTicket messages (sent after the client's Finished) when the
/// application reads, and each ticket is used once. Sends a raw HTTP/1.1 request (the resumed
/// case's server offers only `http/1.1`) and reads the response head. Not timed.
pub(crate) async fn collect_tickets(stream: Stream) {
    let mut io = TokioIo::new(stream);
    io.write_all(b"GET / HTTP/1.1\r\nhost: bench\r\n\r\n")
        .await
        .expect("ticket request");
    let mut buf = [0u8; 4096];
    let mut seen = Vec::new();
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = io.read(&mut buf).await.expect("ticket response");
        assert!(n > 0, "the server closed before answering");
        seen.extend_from_slice(&buf[..n]);
    }
}

/// Runs `n` connection setups at once, each in its own task, and returns the time until the
/// last one is established.
pub(crate) async fn timed_burst(client: &Client, target: &Arc<Target>, n: usize) -> Duration {
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..n {
        let mut client = client.clone();
        let target = Arc::clone(target);
        tasks.spawn(async move { client.connect(&target).await });
    }
    let mut streams = Vec::with_capacity(n);
    while let Some(stream) = tasks.join_next().await {
        streams.push(stream.expect("a connect task"));
    }
    let elapsed = start.elapsed();
    drop(streams);
    elapsed
}
