//! The fuzz targets' entry functions: each `fuzz_targets/<name>.rs` is one line calling the
//! function of the same name, and `tests/it/fuzz_replay.rs` includes this very file to replay
//! every corpus file and every minimised crash on stable.
//!
//! So this file uses only what the main workspace's tests have: keepalive-connector, tokio,
//! hyper, hyper-util, http, http-body-util, bytes and rustls.
//!
//! Nothing here waits on real time. Futures are polled by hand with a waker that only records
//! that it was woken, a bounded number of times: a future that is pending although nothing woke
//! it can only be waiting for a timer (or for ever), and is reported as a hang; one that needs
//! more polls than the input could explain is reported as a livelock.
//!
//! # The peer's bytes
//!
//! The network-facing targets read their input as
//!
//! ```text
//! [options: 1 byte] [k: 1 byte] [plan: k % 8 bytes] [payload: the rest]
//! ```
//!
//! `payload` is everything the peer sends. It is handed out in chunks whose sizes come from
//! `plan`, cycled: a plan byte `b` makes a chunk of `(b & 0x7f) + 1` bytes, preceded by one
//! `Poll::Pending` (with a wake-up) when `b & 0x80` is set. With no plan, each read gets as much
//! as fits. When the payload is used up, reads return EOF (or `ConnectionReset`, see
//! [`PeerIo`]). Writes are accepted and kept (the first 64 KiB) for the checks.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Uri, Version};
use http_body_util::Full;
use hyper::body::{Body, Incoming};
use hyper_util::rt::TokioIo;
use keepalive_connector::{
    ConfigError, ConfigField, Connector, Keepalive, Origin, Phase, ResolveEntry, Stage,
    StaticResolver, Trust,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

#[path = "fake_crypto.rs"]
pub mod fake_crypto;
#[path = "peer.rs"]
mod peer;

use peer::{with_runtime, Driver, Spawner};
pub use peer::{Alive, PeerIo, Script};

/// The CA that signed the leaf in the recorded TLS flights (written by `gen_seeds`).
pub const CA_PEM: &[u8] = include_bytes!("../pki/ca.pem");

// ---------------------------------------------------------------------------------------------
// tls_client_handshake
// ---------------------------------------------------------------------------------------------

/// The connectors of the TLS target, for `[both, h1, h2]`.
type Connectors = [Connector; 3];

fn with_http(builder: keepalive_connector::Builder, http: usize) -> keepalive_connector::Builder {
    match http {
        1 => builder.http1_only(),
        2 => builder.http2_only(),
        _ => builder,
    }
}

/// The rustls configuration of the deterministic connectors: fake provider, the test CA,
/// resumption off (a cached session would change the next ClientHello), no ALPN (the connector
/// fills it in).
fn fake_client_config() -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(CA_PEM) {
        roots
            .add(cert.expect("pki/ca.pem parses"))
            .expect("pki/ca.pem is a CA");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(fake_crypto::client_provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .expect("the fake provider has TLS 1.2 and 1.3 suites")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

/// Connectors on the deterministic provider ([`fake_crypto`]).
fn fake_connectors() -> &'static Connectors {
    static CONNECTORS: OnceLock<Connectors> = OnceLock::new();
    CONNECTORS.get_or_init(|| {
        let config = fake_client_config();
        [0, 1, 2].map(|http| {
            with_http(Connector::builder().tls_config(Arc::clone(&config)), http)
                .build()
                .expect("the fake-provider connector builds")
        })
    })
}

/// Connectors as an application builds them: the real provider, trusting the test CA.
fn real_connectors() -> &'static Connectors {
    static CONNECTORS: OnceLock<Connectors> = OnceLock::new();
    CONNECTORS.get_or_init(|| {
        [0, 1, 2].map(|http| {
            with_http(
                Connector::builder()
                    .trust(Trust::AddedRootsOnly)
                    .add_root_certificates_pem(CA_PEM),
                http,
            )
            .build()
            .expect("the real connector builds")
        })
    })
}

/// `https://localhost/` and `https://127.0.0.1/`.
fn tls_origins() -> &'static [Origin; 2] {
    static TARGETS: OnceLock<[Origin; 2]> = OnceLock::new();
    TARGETS.get_or_init(|| {
        ["https://localhost/", "https://127.0.0.1/"].map(|uri| {
            Origin::from_uri(&uri.parse().expect("a valid uri")).expect("a valid origin")
        })
    })
}

/// Options of the TLS target (low nibble; the high bits are [`PeerIo`]'s).
pub mod tls_options {
    /// Bits 0-1: ALPN offered: 0 or 3 both, 1 `http/1.1` only, 2 `h2` only.
    pub const HTTP_MASK: u8 = 0x03;
    /// Use the connector with the real aws-lc-rs provider (random ClientHello) instead of the
    /// deterministic one.
    pub const REAL_PROVIDER: u8 = 0x04;
    /// Connect to `https://127.0.0.1/` (no SNI, IP SAN check) instead of `https://localhost/`.
    pub const BY_IP: u8 = 0x08;
}

/// How a `tls_client_handshake` input ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsOutcome {
    /// The handshake finished: the protocol version and the ALPN protocol chosen.
    Completed {
        /// `TLSv1_2` or `TLSv1_3`.
        version: Option<rustls::ProtocolVersion>,
        /// The ALPN protocol the server chose.
        alpn: Option<Vec<u8>>,
    },
    /// The connector returned an error of [`Phase::Tls`]; its message.
    Failed(String),
}

/// The connector and target an input of `tls_client_handshake` selects.
pub fn tls_connector_for(options: u8) -> (&'static Connector, &'static Origin) {
    let http = usize::from(options & tls_options::HTTP_MASK) % 3;
    let connector = if options & tls_options::REAL_PROVIDER != 0 {
        &real_connectors()[http]
    } else {
        &fake_connectors()[http]
    };
    let target = &tls_origins()[usize::from(options & tls_options::BY_IP != 0)];
    (connector, target)
}

/// `tls_client_handshake`: runs the connector's TLS step ([`Connector::tls_handshake`]) against
/// a peer that sends the payload. The result must be a stream or an error of [`Phase::Tls`],
/// reached without a hang, and the stream must be dropped afterwards.
pub fn tls_client_handshake(data: &[u8]) {
    let _ = tls_client_handshake_outcome(data);
}

/// [`tls_client_handshake`], telling how far the handshake got.
pub fn tls_client_handshake_outcome(data: &[u8]) -> TlsOutcome {
    let script = Script::parse(data);
    let (connector, target) = tls_connector_for(script.options);
    let http2_only = script.options & tls_options::HTTP_MASK == 2;
    let (io, alive) = PeerIo::new(&script);
    let mut driver = Driver::new("tls_client_handshake", script.poll_budget());
    let outcome = with_runtime(|| {
        let result = driver.run(connector.tls_handshake(target, io));
        match result {
            Ok((stream, _info)) => {
                let (_, conn) = stream.get_ref();
                assert!(!conn.is_handshaking(), "a stream is returned mid-handshake");
                let alpn = conn.alpn_protocol().map(<[u8]>::to_vec);
                if http2_only {
                    assert_eq!(
                        alpn.as_deref(),
                        Some(&b"h2"[..]),
                        "http2_only let a handshake through without h2"
                    );
                }
                if let Some(alpn) = &alpn {
                    assert!(
                        connector.tls_config().alpn_protocols.contains(alpn),
                        "the handshake accepted an ALPN protocol that was not offered"
                    );
                }
                TlsOutcome::Completed {
                    version: conn.protocol_version(),
                    alpn,
                }
            }
            Err(err) => {
                assert_eq!(err.phase(), Phase::Tls, "unexpected phase: {err}");
                assert!(!err.is_timeout(), "no time passes here, yet: {err}");
                assert!(err.addr().is_none(), "no address was involved: {err}");
                TlsOutcome::Failed(err.to_string())
            }
        }
    });
    assert!(
        !alive.written().is_empty(),
        "the client never sent its ClientHello"
    );
    assert!(!alive.is_alive(), "the stream leaked");
    outcome
}

// ---------------------------------------------------------------------------------------------
// proxy_tunnel
// ---------------------------------------------------------------------------------------------

/// Options of the proxy target (low nibble; the high bits are [`PeerIo`]'s).
pub mod proxy_options {
    /// Bits 0-1: the proxy: 0 HTTP `CONNECT`, 1 HTTP `CONNECT` with credentials, 2 SOCKS5
    /// (`socks5h`, the name sent), 3 SOCKS5 with user name and password.
    pub const KIND_MASK: u8 = 0x03;
    /// The origin is `https://127.0.0.1:8443/` instead of `https://example.com/`.
    pub const BY_IP: u8 = 0x04;
}

/// How a `proxy_tunnel` input ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TunnelOutcome {
    /// The tunnel is open.
    Open,
    /// A [`Phase::Proxy`] error; its message.
    Failed(String),
}

/// The connectors of the proxy target, by [`proxy_options::KIND_MASK`].
fn proxy_connectors() -> &'static [Connector; 4] {
    static CONNECTORS: OnceLock<[Connector; 4]> = OnceLock::new();
    CONNECTORS.get_or_init(|| {
        [
            "http://proxy.test:3128",
            "http://user:p%40ss@proxy.test:3128",
            "socks5h://proxy.test:1080",
            "socks5h://user:pass@proxy.test:1080",
        ]
        .map(|url| {
            Connector::builder()
                .proxy(keepalive_connector::Proxy::all(url))
                .build()
                .expect("the proxy connector builds")
        })
    })
}

/// `proxy_tunnel`: runs the connector's tunnel step ([`Connector::tunnel_handshake`]) against a
/// proxy that sends the payload: the answer to `CONNECT`, or to the SOCKS5 greeting and
/// request. The result must be an open tunnel or an error of [`Phase::Proxy`], without a panic
/// or a hang, and the stream must be dropped afterwards; a tunnel opens only on a 2xx (`CONNECT`)
/// or a success reply (SOCKS5).
pub fn proxy_tunnel(data: &[u8]) {
    let _ = proxy_tunnel_outcome(data);
}

/// [`proxy_tunnel`], telling how it ended.
pub fn proxy_tunnel_outcome(data: &[u8]) -> TunnelOutcome {
    let script = Script::parse(data);
    let kind = usize::from(script.options & proxy_options::KIND_MASK);
    let connector = &proxy_connectors()[kind];
    let uri = if script.options & proxy_options::BY_IP != 0 {
        "https://127.0.0.1:8443/"
    } else {
        "https://example.com/"
    };
    let origin = Origin::from_uri(&uri.parse().expect("a valid uri")).expect("a valid origin");
    let (io, alive) = PeerIo::new(&script);
    let mut driver = Driver::new("proxy_tunnel", script.poll_budget());
    let outcome = with_runtime(
        || match driver.run(connector.tunnel_handshake(&origin, io)) {
            Ok((_stream, proxy)) => {
                assert!(proxy.is_some(), "every origin goes through the proxy here");
                if kind < 2 {
                    // httparse skips empty lines before the status line.
                    let start = script
                        .payload
                        .iter()
                        .position(|b| !matches!(b, b'\r' | b'\n'))
                        .unwrap_or(0);
                    let reply = &script.payload[start..];
                    assert!(
                        reply.starts_with(b"HTTP/1.") && reply.get(9) == Some(&b'2'),
                        "a tunnel opened without a 2xx: {:?}",
                        String::from_utf8_lossy(&reply[..reply.len().min(40)])
                    );
                }
                TunnelOutcome::Open
            }
            Err(err) => {
                assert_eq!(err.phase(), Phase::Proxy, "unexpected phase: {err}");
                assert!(!err.is_timeout(), "no time passes here, yet: {err}");
                assert!(err.proxy().is_some(), "the error names the proxy: {err}");
                let text = format!("{err} {err:?}");
                assert!(!text.contains("p@ss") && !text.contains(":pass"), "{text}");
                TunnelOutcome::Failed(err.to_string())
            }
        },
    );
    let written = alive.written();
    match kind {
        0 | 1 => assert!(
            written.starts_with(b"CONNECT "),
            "no CONNECT request was sent"
        ),
        _ => assert_eq!(written.first(), Some(&5), "no SOCKS5 greeting was sent"),
    }
    assert!(!alive.is_alive(), "the stream leaked");
    outcome
}

// ---------------------------------------------------------------------------------------------
// h2_client and http1_client
// ---------------------------------------------------------------------------------------------

/// Where one request is.
enum Exchange<F> {
    Waiting(Pin<Box<F>>),
    Body(Incoming, usize),
    Done,
}

impl<F> Exchange<F>
where
    F: Future<Output = hyper::Result<http::Response<Incoming>>>,
{
    /// Drives the request one step; `version` is what a response must carry.
    fn poll(&mut self, cx: &mut Context<'_>, version: Version) {
        loop {
            match self {
                Exchange::Waiting(fut) => match fut.as_mut().poll(cx) {
                    Poll::Pending => return,
                    Poll::Ready(Ok(resp)) => {
                        if version == Version::HTTP_2 {
                            assert_eq!(resp.version(), version, "HTTP/2 answered as another");
                        } else {
                            assert!(
                                [Version::HTTP_09, Version::HTTP_10, Version::HTTP_11]
                                    .contains(&resp.version()),
                                "HTTP/1 answered as {:?}",
                                resp.version()
                            );
                        }
                        *self = Exchange::Body(resp.into_body(), 0);
                    }
                    Poll::Ready(Err(_)) => *self = Exchange::Done,
                },
                Exchange::Body(body, frames) => {
                    // http-body: "an end of stream means that poll_frame will return None".
                    let said_ended = body.is_end_stream();
                    match Pin::new(&mut *body).poll_frame(cx) {
                        Poll::Pending => return,
                        Poll::Ready(Some(Ok(_frame))) => {
                            assert!(!said_ended, "a frame after is_end_stream() said the end");
                            *frames += 1;
                        }
                        Poll::Ready(None) => *self = Exchange::Done,
                        Poll::Ready(Some(Err(_))) => *self = Exchange::Done,
                    }
                }
                Exchange::Done => return,
            }
        }
    }

    fn is_done(&self) -> bool {
        matches!(self, Exchange::Done)
    }
}

fn method_of(kind: u8) -> Method {
    match kind & 3 {
        0 => Method::GET,
        1 => Method::HEAD,
        _ => Method::POST,
    }
}

/// Request kinds (options bits 2-3 of the HTTP targets).
fn request(kind: u8, version: Version) -> Request<Full<Bytes>> {
    let body = match kind & 3 {
        0 | 1 => Bytes::new(),
        2 => Bytes::from_static(b"hello"),
        // Larger than HTTP/2's default 65,535-byte window: needs the peer's WINDOW_UPDATE.
        _ => Bytes::from(vec![b'x'; 70_000]),
    };
    let method = method_of(kind);
    let uri: Uri = if version == Version::HTTP_2 {
        "https://localhost/fuzz".parse().expect("a valid uri")
    } else {
        "/fuzz".parse().expect("a valid uri")
    };
    Request::builder()
        .method(method)
        .uri(uri)
        .version(version)
        .header(http::header::HOST, "localhost")
        .body(Full::new(body))
        .expect("a valid request")
}

/// Options of the HTTP/2 target.
pub mod h2_options {
    /// Small windows and frames: a 1 KiB stream window, 16 KiB frames, 1 KiB header list.
    pub const SMALL_LIMITS: u8 = 0x01;
    /// Adaptive flow control (BDP pings).
    pub const ADAPTIVE_WINDOW: u8 = 0x02;
    /// Bits 2-3: the request: GET, HEAD, POST 5 bytes, POST 70,000 bytes.
    pub const REQUEST_SHIFT: u8 = 2;
    /// Send a second request on the same connection, concurrently.
    pub const TWO_REQUESTS: u8 = 0x80;
}

/// `h2_client`: hyper's HTTP/2 client over a peer that sends the payload; one GET (or HEAD, or
/// POST) driven to a response or an error, and its body to the end.
pub fn h2_client(data: &[u8]) {
    let script = Script::parse(data);
    let (io, alive) = PeerIo::new(&script);
    let spawner = Spawner::default();
    let mut driver = Driver::new("h2_client", script.poll_budget());
    let mut builder = hyper::client::conn::http2::Builder::new(spawner.clone());
    if script.options & h2_options::SMALL_LIMITS != 0 {
        builder
            .initial_stream_window_size(1024)
            .initial_connection_window_size(1024)
            .max_frame_size(16_384)
            .max_header_list_size(1024)
            .max_concurrent_reset_streams(2)
            .max_send_buf_size(4096);
    }
    if script.options & h2_options::ADAPTIVE_WINDOW != 0 {
        builder.adaptive_window(true);
    }
    with_runtime(|| {
        let handshake = driver.run(builder.handshake::<_, Full<Bytes>>(TokioIo::new(io)));
        // The handshake only writes the preface; it fails only if that write fails.
        let Ok((mut sender, conn)) = handshake else {
            spawner.clear();
            return;
        };
        let mut conn = Box::pin(conn);
        let kind = script.options >> h2_options::REQUEST_SHIFT;
        let mut exchanges = vec![Exchange::Waiting(Box::pin(
            sender.send_request(request(kind, Version::HTTP_2)),
        ))];
        if script.options & h2_options::TWO_REQUESTS != 0 {
            exchanges.push(Exchange::Waiting(Box::pin(
                sender.send_request(request(0, Version::HTTP_2)),
            )));
        }
        let mut sender = Some(sender);
        let mut conn_done = false;
        loop {
            let mut cx = driver.begin_round();
            for exchange in &mut exchanges {
                exchange.poll(&mut cx, Version::HTTP_2);
            }
            if exchanges.iter().all(Exchange::is_done) {
                // Nothing more to ask: let the connection go away.
                sender = None;
            }
            if !conn_done {
                conn_done = conn.as_mut().poll(&mut cx).is_ready();
            }
            let tasks_left = spawner.poll_all(&mut cx);
            if conn_done && !tasks_left && exchanges.iter().all(Exchange::is_done) {
                break;
            }
            driver.end_round_pending();
        }
        assert!(sender.is_none());
        drop(exchanges);
        drop(conn);
        spawner.clear();
    });
    assert!(
        alive
            .written()
            .starts_with(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        "the client did not send the HTTP/2 preface"
    );
    assert!(!alive.is_alive(), "the stream leaked");
}

/// Options of the HTTP/1.1 target.
pub mod http1_options {
    /// Lenient parsing: spaces after header names, obsolete line folding, invalid headers
    /// ignored.
    pub const LENIENT: u8 = 0x01;
    /// Accept HTTP/0.9 responses.
    pub const HTTP09: u8 = 0x02;
    /// Bits 2-3: the request: GET, HEAD, POST 5 bytes, POST 70,000 bytes.
    pub const REQUEST_SHIFT: u8 = 2;
    /// After the first response, a second GET on the same connection.
    pub const TWO_REQUESTS: u8 = 0x80;
}

fn kind_of(options: u8) -> u8 {
    (options >> http1_options::REQUEST_SHIFT) & 3
}

/// `http1_client`: hyper's HTTP/1.1 client over a peer that sends the payload; one request
/// driven to a response or an error, and its body to the end (and optionally a second one).
pub fn http1_client(data: &[u8]) {
    let script = Script::parse(data);
    let (io, alive) = PeerIo::new(&script);
    let mut driver = Driver::new("http1_client", script.poll_budget());
    let mut builder = hyper::client::conn::http1::Builder::new();
    if script.options & http1_options::LENIENT != 0 {
        builder
            .allow_spaces_after_header_name_in_responses(true)
            .allow_obsolete_multiline_headers_in_responses(true)
            .ignore_invalid_headers_in_responses(true)
            .title_case_headers(true)
            .preserve_header_case(true)
            .max_buf_size(8192);
    }
    if script.options & http1_options::HTTP09 != 0 {
        builder.http09_responses(true);
    }
    with_runtime(|| {
        let handshake = driver.run(builder.handshake::<_, Full<Bytes>>(TokioIo::new(io)));
        let Ok((mut sender, conn)) = handshake else {
            return;
        };
        let mut conn = Box::pin(conn);
        let kind = kind_of(script.options);
        let mut exchanges = vec![Exchange::Waiting(Box::pin(
            sender.send_request(request(kind, Version::HTTP_11)),
        ))];
        let mut second_left = script.options & http1_options::TWO_REQUESTS != 0;
        let mut sender = Some(sender);
        let mut conn_done = false;
        loop {
            let mut cx = driver.begin_round();
            for exchange in &mut exchanges {
                exchange.poll(&mut cx, Version::HTTP_11);
            }
            if exchanges.iter().all(Exchange::is_done) {
                match (second_left, sender.as_mut()) {
                    (true, Some(s)) => match s.poll_ready(&mut cx) {
                        Poll::Ready(Ok(())) => {
                            second_left = false;
                            exchanges.push(Exchange::Waiting(Box::pin(
                                s.send_request(request(0, Version::HTTP_11)),
                            )));
                            continue;
                        }
                        Poll::Ready(Err(_)) => second_left = false,
                        Poll::Pending => {}
                    },
                    _ => sender = None,
                }
            }
            if !conn_done {
                conn_done = conn.as_mut().poll(&mut cx).is_ready();
            }
            if conn_done && exchanges.iter().all(Exchange::is_done) {
                // Once the connection is gone, a waiting second request has nowhere to go.
                if second_left {
                    if let Some(s) = sender.as_mut() {
                        assert!(
                            !matches!(s.poll_ready(&mut cx), Poll::Ready(Ok(()))),
                            "the connection is gone but the sender is ready"
                        );
                    }
                }
                break;
            }
            driver.end_round_pending();
        }
        drop(sender);
        drop(exchanges);
        drop(conn);
    });
    // A peer that answers before the request is written may stop it from being written at all;
    // whatever was written must be the request line.
    let written = alive.written();
    if !written.is_empty() {
        let line = format!("{} /fuzz HTTP/1.1\r\n", method_of(kind_of(script.options)));
        let line = line.as_bytes();
        let n = written.len().min(line.len());
        assert_eq!(&written[..n], &line[..n], "not the request line");
    }
    assert!(!alive.is_alive(), "the stream leaked");
}

// ---------------------------------------------------------------------------------------------
// uri_and_config
// ---------------------------------------------------------------------------------------------

/// Reads little-endian numbers from the front of the input; zeros once it runs out.
struct Numbers<'a>(&'a [u8]);

impl Numbers<'_> {
    fn u8(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
        self.0 = rest;
        first
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }

    /// Whole seconds and nanoseconds; the nanoseconds may carry into seconds.
    fn duration(&mut self) -> Duration {
        Duration::new(u64::from(self.u32()), self.u32())
    }
}

/// How many bytes [`uri_and_config`] reads as numbers before the text fields.
pub const CONFIG_BYTES: usize = 62;

/// Option bits of [`uri_and_config`]'s first byte.
pub mod config_flags {
    /// Keepalive off.
    pub const KEEPALIVE_OFF: u8 = 0x01;
    /// `http1_only()`.
    pub const HTTP1_ONLY: u8 = 0x02;
    /// `http2_only()` (after `http1_only()` when both are set: the last one wins).
    pub const HTTP2_ONLY: u8 = 0x04;
    /// `trust(Trust::AddedRootsOnly)`.
    pub const ADDED_ROOTS_ONLY: u8 = 0x08;
    /// `add_root_certificates_pem(CA_PEM)`.
    pub const ADD_CA: u8 = 0x10;
    /// `add_root_certificates_pem(<the fourth text field>)`.
    pub const ADD_PEM_FIELD: u8 = 0x20;
    /// Set `tcp_user_timeout` (Linux, Android, Fuchsia).
    pub const TCP_USER_TIMEOUT: u8 = 0x40;
    /// Set `send_buffer_size` and `recv_buffer_size`.
    pub const BUFFERS: u8 = 0x80;
}

/// `uri_and_config`: every parser of user input in the library, with their invariants.
///
/// Input: [`CONFIG_BYTES`] bytes of flags and numbers for the builder (flags; keepalive idle,
/// interval as `u32` seconds + `u32` nanoseconds; retries `u32`; connect and handshake timeouts;
/// TCP user timeout; a byte for `tls_config` (bit 0: use one; bits 1-2: its own ALPN list); send
/// and receive buffer sizes as `u64`), then
/// up to four text fields separated by `\n`: a URI, a `--resolve` entry, a stage name, PEM data.
pub fn uri_and_config(data: &[u8]) {
    let (numbers, text) = data.split_at(data.len().min(CONFIG_BYTES));
    let mut fields = text.splitn(4, |&b| b == b'\n');
    let uri = fields.next().unwrap_or_default();
    let resolve = fields.next().unwrap_or_default();
    let stage = fields.next().unwrap_or_default();
    let pem = fields.next().unwrap_or_default();
    check_uri(uri);
    check_resolve(&String::from_utf8_lossy(resolve));
    check_stage(&String::from_utf8_lossy(stage));
    check_builder(&mut Numbers(numbers), pem);
}

fn check_uri(bytes: &[u8]) {
    let Ok(uri) = Uri::try_from(bytes) else {
        return;
    };
    let origin = match Origin::from_uri(&uri) {
        Ok(origin) => origin,
        Err(err) => {
            assert!(!err.to_string().is_empty());
            return;
        }
    };
    let host = origin.host();
    assert!(!host.is_empty(), "empty host from {uri}");
    assert_ne!(origin.port(), 0, "port 0 from {uri}");
    // IP literals are unbracketed, and names hold only host-name characters
    // (fuzz/regressions/uri_and_config/brackets-in-name: `https://~[zz]/` was once accepted).
    assert!(
        !host.contains(['[', ']']),
        "brackets left in host {host:?} from {uri}"
    );
    if origin.ip().is_none() {
        assert!(
            host.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')),
            "a character no host name has in {host:?} from {uri}"
        );
    }
    let scheme = uri.scheme_str().unwrap_or_default();
    assert_eq!(origin.is_tls(), scheme.eq_ignore_ascii_case("https"));
    match uri.port_u16() {
        Some(port) => assert_eq!(origin.port(), port, "port of {uri}"),
        None => assert_eq!(origin.port(), if origin.is_tls() { 443 } else { 80 }),
    }
    match origin.ip() {
        Some(ip) => assert_eq!(host.parse::<std::net::IpAddr>().ok(), Some(ip)),
        None => {
            assert_eq!(host, host.to_ascii_lowercase(), "names are lower-cased");
            assert!(host.parse::<std::net::Ipv4Addr>().is_err());
        }
    }
    // The TLS step's own check of the host (a DNS name rustls accepts, or an IP address), run
    // against a peer that closes at once: the error is about the name (Uri) or the peer (Tls).
    let connector = &fake_connectors()[0];
    let (io, alive) = PeerIo::new(&Script::parse(&[]));
    let mut driver = Driver::new("uri_and_config", 1_000);
    let result = with_runtime(|| driver.run(connector.tls_handshake(&origin, io)));
    let err = result.expect_err("a peer that sends nothing cannot complete a handshake");
    match err.phase() {
        Phase::Tls => {}
        Phase::Uri => assert!(
            origin.ip().is_none(),
            "an IP origin was refused as a name: {err}"
        ),
        other => panic!("unexpected phase {other:?}: {err}"),
    }
    assert!(!alive.is_alive(), "the stream leaked");
}

fn check_resolve(s: &str) {
    let entry = match s.parse::<ResolveEntry>() {
        Ok(entry) => entry,
        Err(err) => {
            assert!(!err.to_string().is_empty());
            let _ = err.kind();
            return;
        }
    };
    assert!(!entry.host().is_empty());
    assert_ne!(entry.port(), 0);
    assert!(!entry.addrs().is_empty());
    assert!(
        s.starts_with(&format!("{}:", entry.host())),
        "host {:?} is not the start of {s:?}",
        entry.host()
    );
    // Round trip through the canonical form.
    let addrs: Vec<String> = entry
        .addrs()
        .iter()
        .map(|ip| match ip {
            std::net::IpAddr::V4(v4) => v4.to_string(),
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        })
        .collect();
    let canonical = format!("{}:{}:{}", entry.host(), entry.port(), addrs.join(","));
    assert_eq!(
        canonical.parse::<ResolveEntry>().as_ref(),
        Ok(&entry),
        "canonical form {canonical:?} of {s:?}"
    );
    // The static resolver answers exactly this entry, whatever the case of the name.
    use keepalive_connector::Resolve;
    let resolver = StaticResolver::new().entry(entry.clone()).no_fallback();
    let resolve = |host: &str, port: u16| {
        let mut fut = resolver.resolve(host, port);
        let mut cx = Context::from_waker(Waker::noop());
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(out) => out,
            Poll::Pending => panic!("the static resolver is pending"),
        }
    };
    let expected: Vec<std::net::SocketAddr> = entry
        .addrs()
        .iter()
        .map(|ip| std::net::SocketAddr::new(*ip, entry.port()))
        .collect();
    assert_eq!(
        resolve(entry.host(), entry.port()).ok(),
        Some(expected.clone())
    );
    let upper = entry.host().to_ascii_uppercase();
    assert_eq!(resolve(&upper, entry.port()).ok(), Some(expected));
    let other_port = entry.port().wrapping_add(1).max(1);
    if other_port != entry.port() {
        let err = resolve(entry.host(), other_port).expect_err("not in the map");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}

fn check_stage(s: &str) {
    match s.parse::<Stage>() {
        Ok(stage) => {
            assert_eq!(
                stage.as_str(),
                s.trim().to_ascii_lowercase().replace('_', "-")
            );
            assert_eq!(stage.to_string(), stage.as_str());
            assert_eq!(stage.as_str().parse::<Stage>().ok(), Some(stage));
            assert!(Stage::ALL.contains(&stage));
        }
        Err(err) => assert!(err.to_string().contains("expected")),
    }
}

#[cfg(any(target_os = "linux", target_os = "android", target_os = "fuchsia"))]
fn set_tcp_user_timeout(
    builder: keepalive_connector::Builder,
    timeout: Duration,
) -> keepalive_connector::Builder {
    builder.tcp_user_timeout(timeout)
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "fuchsia")))]
fn set_tcp_user_timeout(
    builder: keepalive_connector::Builder,
    _timeout: Duration,
) -> keepalive_connector::Builder {
    builder
}

/// The largest keepalive values Linux accepts (`include/net/tcp.h`), as the library documents.
const MAX_KEEPIDLE_SECS: u64 = 32_767;
const MAX_KEEPINTVL_SECS: u64 = 32_767;
const MAX_KEEPCNT: u32 = 127;

fn check_builder(numbers: &mut Numbers<'_>, pem: &[u8]) {
    let flags = numbers.u8();
    let idle = numbers.duration();
    let interval = numbers.duration();
    let retries = numbers.u32();
    let connect_timeout = numbers.duration();
    let handshake_timeout = numbers.duration();
    let user_timeout = numbers.duration();
    let tls_config_byte = numbers.u8();
    let use_tls_config = tls_config_byte & 1 == 1;
    // Bits 1-2: the tls_config's own ALPN list.
    let own_alpn: &[&[u8]] = match (tls_config_byte >> 1) & 3 {
        0 => &[],
        1 => &[b"h2"],
        2 => &[b"http/1.1"],
        _ => &[b"h2", b"http/1.1"],
    };
    let send_buffer = numbers.u64();
    let recv_buffer = numbers.u64();

    let keepalive = if flags & config_flags::KEEPALIVE_OFF != 0 {
        Keepalive::off()
    } else {
        Keepalive::new()
            .idle(idle)
            .interval(interval)
            .retries(retries)
    };
    let mut builder = Connector::builder()
        .keepalive(keepalive)
        .connect_timeout(connect_timeout)
        .handshake_timeout(handshake_timeout);
    if flags & config_flags::HTTP1_ONLY != 0 {
        builder = builder.http1_only();
    }
    if flags & config_flags::HTTP2_ONLY != 0 {
        builder = builder.http2_only();
    }
    if flags & config_flags::ADDED_ROOTS_ONLY != 0 {
        builder = builder.trust(Trust::AddedRootsOnly);
    }
    if flags & config_flags::ADD_CA != 0 {
        builder = builder.add_root_certificates_pem(CA_PEM);
    }
    if flags & config_flags::ADD_PEM_FIELD != 0 {
        builder = builder.add_root_certificates_pem(pem);
    }
    let with_user_timeout = cfg!(any(
        target_os = "linux",
        target_os = "android",
        target_os = "fuchsia"
    )) && flags & config_flags::TCP_USER_TIMEOUT != 0;
    if with_user_timeout {
        builder = set_tcp_user_timeout(builder, user_timeout);
    }
    let buffers = flags & config_flags::BUFFERS != 0;
    let to_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    if buffers {
        builder = builder
            .send_buffer_size(to_usize(send_buffer))
            .recv_buffer_size(to_usize(recv_buffer));
    }
    if use_tls_config {
        let mut config = (*fake_client_config()).clone();
        config.alpn_protocols = own_alpn.iter().map(|p| p.to_vec()).collect();
        builder = builder.tls_config(Arc::new(config));
    }

    // The first refused field, in the order build() checks them (layer by layer: the socket
    // policy, the dial timeout, then TLS); None when all are fine.
    let whole_secs = |d: Duration, max: u64| {
        d >= Duration::from_secs(1) && d.subsec_nanos() == 0 && d.as_secs() <= max
    };
    let mut expected: Option<&'static str> = None;
    let mut refuse = |ok: bool, field: &'static str| {
        if !ok && expected.is_none() {
            expected = Some(field);
        }
    };
    if flags & config_flags::KEEPALIVE_OFF == 0 {
        refuse(whole_secs(idle, MAX_KEEPIDLE_SECS), "keepalive.idle");
        refuse(
            whole_secs(interval, MAX_KEEPINTVL_SECS),
            "keepalive.interval",
        );
        refuse((1..=MAX_KEEPCNT).contains(&retries), "keepalive.retries");
    }
    if with_user_timeout {
        refuse(
            !user_timeout.is_zero()
                && user_timeout.subsec_nanos() % 1_000_000 == 0
                // Linux takes an int: at most i32::MAX ms.
                && user_timeout.as_millis() <= i32::MAX as u128,
            "tcp_user_timeout",
        );
    }
    if buffers {
        let ok = |n: u64| n != 0 && n <= i32::MAX as u64;
        refuse(ok(send_buffer), "send_buffer_size");
        refuse(ok(recv_buffer), "recv_buffer_size");
    }
    refuse(!connect_timeout.is_zero(), "connect_timeout");
    refuse(!handshake_timeout.is_zero(), "handshake_timeout");
    let any_pem = flags & (config_flags::ADD_CA | config_flags::ADD_PEM_FIELD) != 0;
    let trust_set = flags & config_flags::ADDED_ROOTS_ONLY != 0;
    if use_tls_config {
        // Roots cannot be changed, and a non-empty ALPN list must agree with http1/http2_only
        // (the last of the two set wins).
        let offers_h2 = own_alpn.contains(&&b"h2"[..]);
        let offers_http1 = own_alpn
            .iter()
            .any(|p| *p == b"http/1.1" || *p == b"http/1.0");
        let alpn_ok = if own_alpn.is_empty() {
            true
        } else if flags & config_flags::HTTP2_ONLY != 0 {
            // Only h2: a list that lets the server choose HTTP/1.x contradicts it.
            offers_h2 && !offers_http1
        } else if flags & config_flags::HTTP1_ONLY != 0 {
            !offers_h2
        } else {
            true
        };
        refuse(!any_pem && !trust_set && alpn_ok, "tls_config");
    }
    // Whether the PEM field holds certificates is for the library to say.
    let pem_may_fail = !use_tls_config && flags & config_flags::ADD_PEM_FIELD != 0;
    if !use_tls_config && trust_set && !any_pem {
        refuse(false, "trust");
    }

    let result: Result<Connector, ConfigError> = builder.build();
    match (result, expected) {
        (Ok(connector), None) => {
            let alpn = &connector.tls_config().alpn_protocols;
            assert!(
                !alpn.is_empty(),
                "a built connector offers some ALPN protocol"
            );
        }
        (Ok(_), Some(field)) => panic!("build() accepted a bad {field}"),
        (Err(err), Some(field)) => {
            assert_eq!(
                err.field().as_str(),
                field,
                "refused the wrong field: {err}"
            );
            assert!(err.to_string().contains(field), "{err}");
        }
        (Err(err), None) => {
            assert!(
                pem_may_fail && err.field() == ConfigField::RootCertificates,
                "build() refused a good configuration: {err}"
            );
        }
    }
}
