//! Writes the seed corpus: real server flights recorded in memory from rustls servers configured
//! like the test server, hand-built HTTP/2 frame sequences and HTTP/1.1 responses, and inputs of
//! the parsers of user input.
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --bin gen_seeds [TARGET…]
//! ```
//!
//! Without a target, it writes the seeds of all four (`tls_client_handshake`, `h2_client`,
//! `http1_client`, `uri_and_config`). Every run that writes the TLS seeds makes a new test CA
//! and writes it to `fuzz/pki/ca.pem`, which the entry functions compile in: rebuild after
//! running this (the recorded TLS 1.2 certificate chains verify against that CA). The other
//! targets' seeds are the same on every run. Seeds are named `seed-*` in `fuzz/corpus/<target>/`; files the fuzzer added keep
//! their hash names and are left alone.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use keepalive_connector_fuzz::{
    fake_crypto, h2_options, http1_options, tls_client_handshake_outcome, tls_connector_for,
    tls_options, ConfigInput, Script, TlsOutcome,
};
use keepalive_testserver::{LeafKind, ServerBuilder, TestCa};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection};

/// The targets whose seeds this writes.
const TARGETS: [&str; 4] = [
    "tls_client_handshake",
    "h2_client",
    "http1_client",
    "uri_and_config",
];

fn main() {
    let fuzz_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The targets named on the command line, or all: a new CA (and new TLS flights, which the
    // fuzzer's own TLS corpus files were found against) only when the TLS target is among them.
    let mut chosen: Vec<String> = std::env::args().skip(1).collect();
    if chosen.is_empty() {
        chosen = TARGETS.iter().map(|t| t.to_string()).collect();
    }
    for target in &chosen {
        assert!(
            TARGETS.contains(&target.as_str()),
            "unknown target {target}: gen_seeds writes {TARGETS:?}"
        );
    }
    let wants = |target: &str| chosen.iter().any(|t| t == target);

    let mut seeds: BTreeMap<&str, Vec<(String, Vec<u8>)>> = BTreeMap::new();
    if wants("tls_client_handshake") {
        let ca = TestCa::new();
        fs::write(fuzz_dir.join("pki/ca.pem"), ca.cert_pem()).expect("write pki/ca.pem");
        seeds.insert("tls_client_handshake", tls_seeds(&ca));
    }
    if wants("h2_client") {
        seeds.insert("h2_client", h2_seeds());
    }
    if wants("http1_client") {
        seeds.insert("http1_client", http1_seeds());
    }
    if wants("uri_and_config") {
        seeds.insert("uri_and_config", config_seeds());
    }

    for (target, files) in &seeds {
        let dir = fuzz_dir.join("corpus").join(target);
        fs::create_dir_all(&dir).expect("create the corpus directory");
        remove_old_seeds(&dir);
        for (name, data) in files {
            fs::write(dir.join(format!("seed-{name}")), data).expect("write a seed");
        }
        println!("{target}: {} seeds", files.len());
    }
}

fn remove_old_seeds(dir: &PathBuf) {
    for entry in fs::read_dir(dir)
        .expect("read the corpus directory")
        .flatten()
    {
        if entry.file_name().to_string_lossy().starts_with("seed-") {
            fs::remove_file(entry.path()).expect("remove an old seed");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// TLS: recorded server flights
// ---------------------------------------------------------------------------------------------

/// Runs a client and a server against each other in memory and returns every byte the server
/// sent, until neither has anything more to say.
fn record(
    client_config: Arc<ClientConfig>,
    name: &str,
    server_config: Arc<ServerConfig>,
) -> Vec<u8> {
    let name = ServerName::try_from(name.to_owned()).expect("a server name");
    let mut client = ClientConnection::new(client_config, name).expect("a client connection");
    let mut server = ServerConnection::new(server_config).expect("a server connection");
    let mut flight = Vec::new();
    for _ in 0..32 {
        let mut to_server = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut to_server).expect("client writes");
        }
        if !to_server.is_empty() {
            let mut rd = &to_server[..];
            while !rd.is_empty() {
                server.read_tls(&mut rd).expect("server reads");
            }
            if server.process_new_packets().is_err() {
                // The server refused the client: its alert is part of the flight.
            }
        }
        let mut to_client = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut to_client).expect("server writes");
        }
        if to_server.is_empty() && to_client.is_empty() {
            break;
        }
        flight.extend_from_slice(&to_client);
        let mut rd = &to_client[..];
        while !rd.is_empty() {
            client.read_tls(&mut rd).expect("client reads");
        }
        // A client that cannot verify a real flight still lets us record the first one.
        let _ = client.process_new_packets();
    }
    flight
}

/// A server on the deterministic provider, with the test server's certificate and ALPN.
fn fake_server(
    ca: &TestCa,
    provider: Arc<rustls::crypto::CryptoProvider>,
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: &[&[u8]],
) -> Arc<ServerConfig> {
    let leaf = ca.leaf(LeafKind::Good);
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .expect("the fake provider supports the versions")
        .with_no_client_auth()
        .with_single_cert(leaf.chain, leaf.key)
        .expect("the certificate and key match");
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// A client with the real provider, configured like the connector (its ALPN list, the new CA).
fn real_client(ca: &TestCa, options: u8) -> Arc<ClientConfig> {
    // The fake connector of the same ALPN choice: its list is the same, and touching it needs no
    // compiled-in CA.
    let (connector, _) = tls_connector_for(options & !tls_options::REAL_PROVIDER);
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("aws-lc-rs supports TLS 1.2 and 1.3")
        .with_root_certificates(ca.root_store())
        .with_no_client_auth();
    config.alpn_protocols = connector.tls_config().alpn_protocols.clone();
    Arc::new(config)
}

const TLS13: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
const TLS12: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
const BOTH_ALPN: &[&[u8]] = &[b"h2", b"http/1.1"];
const H1_ALPN: &[&[u8]] = &[b"http/1.1"];

/// A seed on the deterministic provider: name, options, server provider, versions, server ALPN.
type FakeCase<'a> = (
    &'a str,
    u8,
    &'a Arc<rustls::crypto::CryptoProvider>,
    &'a [&'static rustls::SupportedProtocolVersion],
    &'a [&'a [u8]],
);

fn tls_seeds(ca: &TestCa) -> Vec<(String, Vec<u8>)> {
    use tls_options::{BY_IP, REAL_PROVIDER};
    let mut out = Vec::new();
    let name_of = |options: u8| {
        if options & BY_IP != 0 {
            "127.0.0.1"
        } else {
            "localhost"
        }
    };

    // Deterministic provider: these replay to the end of the handshake.
    let fake = fake_crypto::server_provider();
    let hrr = fake_crypto::server_provider_hrr();
    let cases: &[FakeCase<'_>] = &[
        ("fake-tls13-h2", 0, &fake, TLS13, BOTH_ALPN),
        ("fake-tls13-http11", 0, &fake, TLS13, H1_ALPN),
        ("fake-tls13-no-alpn", 0, &fake, TLS13, &[]),
        ("fake-tls13-h1only-client", 1, &fake, TLS13, BOTH_ALPN),
        ("fake-tls13-h2only-client", 2, &fake, TLS13, BOTH_ALPN),
        // h2_only against a server that only speaks http/1.1: the ALPN check refuses it.
        ("fake-tls13-h2only-vs-http11", 2, &fake, TLS13, H1_ALPN),
        ("fake-tls13-by-ip", BY_IP, &fake, TLS13, BOTH_ALPN),
        ("fake-tls13-hrr", 0, &hrr, TLS13, BOTH_ALPN),
        ("fake-tls12-h2", 0, &fake, TLS12, BOTH_ALPN),
        ("fake-tls12-http11", 0, &fake, TLS12, H1_ALPN),
        ("fake-tls12-h2only-vs-none", 2, &fake, TLS12, &[]),
        ("fake-tls12-by-ip", BY_IP, &fake, TLS12, BOTH_ALPN),
    ];
    for (label, options, provider, versions, alpn) in cases {
        let (connector, _) = tls_connector_for(*options);
        let server = fake_server(ca, Arc::clone(provider), versions, alpn);
        let flight = record(
            Arc::clone(connector.tls_config()),
            name_of(*options),
            server,
        );
        let seed = Script::encode(*options, &[], &flight);
        let outcome = tls_client_handshake_outcome(&seed);
        println!("tls {label}: {} bytes -> {outcome:?}", flight.len());
        // The compiled-in CA is the previous run's: a different key, the same name, which is
        // all the fake signature check needs. (On the very first run there is none yet.)
        if !keepalive_connector_fuzz::CA_PEM.is_empty() {
            let refused = label.contains("-vs-");
            assert_eq!(
                matches!(outcome, TlsOutcome::Completed { .. }),
                !refused,
                "{label} should {} the handshake",
                if refused { "fail" } else { "complete" }
            );
        }
        out.push((label.to_string(), seed));
        // The same flight in small chunks with pending reads, and with pending short writes.
        let chunked = Script::encode(*options | 0x60, &[0x80 | 4, 0x7f, 0x80, 40], &flight);
        assert_eq!(
            tls_client_handshake_outcome(&chunked),
            outcome,
            "chunking changed the outcome of {label}"
        );
        out.push((format!("{label}-chunked"), chunked));
    }

    // The test server's own configuration (real provider): the first flight is all a fresh
    // ClientHello can get through (TLS 1.3 stops at the first encrypted record, TLS 1.2 after
    // the certificate chain, at the ServerKeyExchange signature).
    let real_cases: &[(&str, u8, ServerBuilder)] = &[
        (
            "real-tls13-h2",
            REAL_PROVIDER,
            ServerBuilder::default().tls13_only(),
        ),
        (
            "real-tls13-http11",
            REAL_PROVIDER,
            ServerBuilder::default().tls13_only().alpn(H1_ALPN),
        ),
        (
            "real-tls12-h2",
            REAL_PROVIDER,
            ServerBuilder::default().tls12_only(),
        ),
        (
            "real-tls12-http11",
            REAL_PROVIDER | 1,
            ServerBuilder::default().tls12_only().alpn(H1_ALPN),
        ),
        (
            "real-tls12-by-ip",
            REAL_PROVIDER | BY_IP,
            ServerBuilder::default().tls12_only(),
        ),
        (
            "real-tls12-h2only-client",
            REAL_PROVIDER | 2,
            ServerBuilder::default().tls12_only(),
        ),
    ];
    for (label, options, builder) in real_cases {
        let flight = record(
            real_client(ca, *options),
            name_of(*options),
            builder.server_config(ca),
        );
        let seed = Script::encode(*options, &[], &flight);
        println!(
            "tls {label}: {} bytes -> {:?}",
            flight.len(),
            tls_client_handshake_outcome(&seed)
        );
        out.push((label.to_string(), seed));
    }
    // HelloRetryRequest from a real server that only knows secp384r1.
    let hrr_provider = rustls::crypto::CryptoProvider {
        kx_groups: vec![rustls::crypto::aws_lc_rs::kx_group::SECP384R1],
        ..rustls::crypto::aws_lc_rs::default_provider()
    };
    let leaf = ca.leaf(LeafKind::Good);
    let mut hrr_server = ServerConfig::builder_with_provider(Arc::new(hrr_provider))
        .with_protocol_versions(TLS13)
        .expect("TLS 1.3")
        .with_no_client_auth()
        .with_single_cert(leaf.chain, leaf.key)
        .expect("the certificate and key match");
    hrr_server.alpn_protocols = vec![b"h2".to_vec()];
    let flight = record(
        real_client(ca, REAL_PROVIDER),
        "localhost",
        Arc::new(hrr_server),
    );
    let seed = Script::encode(REAL_PROVIDER, &[], &flight);
    println!(
        "tls real-tls13-hrr: {} bytes -> {:?}",
        flight.len(),
        tls_client_handshake_outcome(&seed)
    );
    out.push(("real-tls13-hrr".into(), seed));

    // Not TLS at all, and an immediate EOF / reset.
    out.push((
        "plain-http".into(),
        Script::encode(0, &[], b"HTTP/1.1 400 Bad Request\r\n\r\n"),
    ));
    out.push(("eof".into(), Script::encode(0, &[], b"")));
    out.push(("reset".into(), Script::encode(0x10, &[], b"")));
    out.push((
        "alert".into(),
        Script::encode(0, &[], &[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]),
    ));
    out
}

// ---------------------------------------------------------------------------------------------
// HTTP/2: frames in odd orders
// ---------------------------------------------------------------------------------------------

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const PRIORITY: u8 = 0x2;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PUSH_PROMISE: u8 = 0x5;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const CONTINUATION: u8 = 0x9;

const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;

fn frame(ty: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, ty, flags];
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

fn settings(pairs: &[(u16, u32)]) -> Vec<u8> {
    let mut payload = Vec::new();
    for (id, value) in pairs {
        payload.extend_from_slice(&id.to_be_bytes());
        payload.extend_from_slice(&value.to_be_bytes());
    }
    frame(SETTINGS, 0, 0, &payload)
}

fn u32s(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

/// HPACK: `:status 200` (static index 8), then `content-length` (static 28) as a literal.
fn status_200_len(len: &str) -> Vec<u8> {
    let mut block = vec![0x88, 0x0f, 0x0d, len.len() as u8];
    block.extend_from_slice(len.as_bytes());
    block
}

fn h2_seeds() -> Vec<(String, Vec<u8>)> {
    let preface = || settings(&[]);
    let ack = || frame(SETTINGS, ACK, 0, &[]);
    let post_big = 3 << h2_options::REQUEST_SHIFT;
    let post_small = 2 << h2_options::REQUEST_SHIFT;
    let head = 1 << h2_options::REQUEST_SHIFT;
    let cases: Vec<(&str, u8, Vec<Vec<u8>>)> = vec![
        (
            "ok-body",
            0,
            vec![
                preface(),
                ack(),
                frame(HEADERS, END_HEADERS, 1, &status_200_len("5")),
                frame(DATA, END_STREAM, 1, b"hello"),
            ],
        ),
        (
            "ok-no-body",
            0,
            vec![
                preface(),
                frame(HEADERS, END_HEADERS | END_STREAM, 1, &[0x88]),
            ],
        ),
        (
            "head",
            head,
            vec![
                preface(),
                frame(HEADERS, END_HEADERS | END_STREAM, 1, &status_200_len("100")),
            ],
        ),
        (
            "continuation",
            0,
            vec![
                preface(),
                frame(HEADERS, 0, 1, &[0x88]),
                frame(CONTINUATION, END_HEADERS, 1, &[0x0f, 0x0d, 0x01, b'2']),
                frame(DATA, END_STREAM, 1, b"ok"),
            ],
        ),
        (
            "continuation-wrong-stream",
            0,
            vec![
                preface(),
                frame(HEADERS, 0, 1, &[0x88]),
                frame(CONTINUATION, END_HEADERS, 3, &[0x88]),
            ],
        ),
        (
            "data-before-continuation",
            0,
            vec![
                preface(),
                frame(HEADERS, 0, 1, &[0x88]),
                frame(DATA, END_STREAM, 1, b"x"),
            ],
        ),
        (
            "goaway-first",
            0,
            vec![preface(), frame(GOAWAY, 0, 0, &u32s(&[0, 0]))],
        ),
        (
            "goaway-after-headers",
            0,
            vec![
                preface(),
                frame(HEADERS, END_HEADERS, 1, &[0x88]),
                frame(GOAWAY, 0, 0, &u32s(&[1, 2])),
                frame(DATA, END_STREAM, 1, b"late"),
            ],
        ),
        (
            "rst-refused",
            0,
            vec![preface(), frame(RST_STREAM, 0, 1, &u32s(&[7]))],
        ),
        (
            "rst-after-headers",
            0,
            vec![
                preface(),
                frame(HEADERS, END_HEADERS, 1, &[0x88]),
                frame(RST_STREAM, 0, 1, &u32s(&[8])),
            ],
        ),
        (
            "window-zero-then-update",
            post_big,
            vec![
                settings(&[(4, 0)]),
                frame(WINDOW_UPDATE, 0, 0, &u32s(&[100_000])),
                settings(&[(4, 100_000)]),
                frame(WINDOW_UPDATE, 0, 1, &u32s(&[100_000])),
                frame(HEADERS, END_HEADERS | END_STREAM, 1, &[0x88]),
            ],
        ),
        (
            "window-overflow",
            post_small,
            vec![
                preface(),
                frame(WINDOW_UPDATE, 0, 0, &u32s(&[0x7fff_ffff])),
                frame(WINDOW_UPDATE, 0, 1, &u32s(&[0x7fff_ffff])),
            ],
        ),
        (
            "window-update-zero",
            0,
            vec![preface(), frame(WINDOW_UPDATE, 0, 1, &u32s(&[0]))],
        ),
        (
            "ping-and-padding",
            0,
            vec![
                preface(),
                frame(PING, 0, 0, &[1, 2, 3, 4, 5, 6, 7, 8]),
                frame(HEADERS, END_HEADERS | PADDED, 1, &[3, 0x88, 0, 0, 0]),
                frame(DATA, END_STREAM | PADDED, 1, &[2, b'h', b'i', 0, 0]),
            ],
        ),
        (
            "headers-before-settings",
            0,
            vec![
                frame(HEADERS, END_HEADERS | END_STREAM, 1, &[0x88]),
                preface(),
            ],
        ),
        (
            "small-settings-dyn-table",
            0,
            vec![
                settings(&[(1, 0), (5, 16_384), (3, 1), (6, 100)]),
                frame(HEADERS, END_HEADERS | END_STREAM, 1, &[0x20, 0x88]),
            ],
        ),
        (
            "push-promise",
            0,
            vec![
                preface(),
                frame(PUSH_PROMISE, END_HEADERS, 1, &[0, 0, 0, 2, 0x82, 0x84]),
            ],
        ),
        (
            "trailers",
            0,
            vec![
                preface(),
                frame(HEADERS, END_HEADERS, 1, &[0x88]),
                frame(DATA, 0, 1, b"body"),
                frame(
                    HEADERS,
                    END_HEADERS | END_STREAM,
                    1,
                    &[0x00, 0x03, b'x', b'-', b't', 0x01, b'1'],
                ),
            ],
        ),
        (
            "informational-100",
            0,
            vec![
                preface(),
                frame(HEADERS, END_HEADERS, 1, &[0x08, 0x03, b'1', b'0', b'0']),
                frame(HEADERS, END_HEADERS | END_STREAM, 1, &[0x88]),
            ],
        ),
        (
            "two-streams",
            h2_options::TWO_REQUESTS,
            vec![
                preface(),
                frame(HEADERS, END_HEADERS, 3, &[0x88]),
                frame(HEADERS, END_HEADERS | END_STREAM, 1, &[0x8d]),
                frame(DATA, END_STREAM, 3, b"3"),
            ],
        ),
        (
            "priority-and-unknown",
            0,
            vec![
                preface(),
                frame(PRIORITY, 0, 1, &[0, 0, 0, 0, 16]),
                frame(0xfa, 0xff, 1, b"?"),
                frame(HEADERS, END_HEADERS | END_STREAM, 1, &[0x88]),
            ],
        ),
        (
            "content-length-mismatch",
            0,
            vec![
                preface(),
                frame(HEADERS, END_HEADERS, 1, &status_200_len("10")),
                frame(DATA, END_STREAM, 1, b"short"),
            ],
        ),
        (
            "bad-hpack",
            0,
            vec![
                preface(),
                frame(
                    HEADERS,
                    END_HEADERS | END_STREAM,
                    1,
                    &[0xff, 0xff, 0xff, 0xff, 0x0f],
                ),
            ],
        ),
        (
            "small-limits-big-header",
            h2_options::SMALL_LIMITS,
            vec![
                preface(),
                frame(HEADERS, END_HEADERS | END_STREAM, 1, &{
                    let mut b = vec![0x88, 0x00, 0x7f, 0x00];
                    b.extend_from_slice(&[b'a'; 127]);
                    b.extend_from_slice(&[0x7f, 0x81, 0x0f]);
                    b.extend_from_slice(&[b'b'; 1000]);
                    b
                }),
            ],
        ),
        (
            "adaptive-window",
            h2_options::ADAPTIVE_WINDOW,
            vec![
                preface(),
                frame(HEADERS, END_HEADERS, 1, &[0x88]),
                frame(DATA, 0, 1, &[b'd'; 1000]),
                frame(PING, ACK, 0, &[0; 8]),
                frame(DATA, END_STREAM, 1, b"end"),
            ],
        ),
    ];
    let mut out = Vec::new();
    for (label, options, frames) in cases {
        let payload = frames.concat();
        out.push((label.to_string(), Script::encode(options, &[], &payload)));
        if label == "ok-body" || label == "continuation" || label == "window-zero-then-update" {
            out.push((
                format!("{label}-chunked"),
                Script::encode(options | 0x60, &[0x80, 3, 0x85, 0x10], &payload),
            ));
        }
    }
    out.push((
        "reset-mid-frame".into(),
        Script::encode(0x10, &[], &preface()[..5]),
    ));
    out
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 responses
// ---------------------------------------------------------------------------------------------

fn http1_seeds() -> Vec<(String, Vec<u8>)> {
    use http1_options::{HTTP09, LENIENT, REQUEST_SHIFT, TWO_REQUESTS};
    let head = 1 << REQUEST_SHIFT;
    let post = 2 << REQUEST_SHIFT;
    let cases: &[(&str, u8, &[u8])] = &[
        ("content-length", 0, b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"),
        ("chunked", 0, b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
        ("chunked-ext-trailers", 0, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\ntrailer: x-t\r\n\r\n5;name=val\r\nhello\r\nA\r\n0123456789\r\n0\r\nx-t: 1\r\n\r\n"),
        ("read-to-eof", 0, b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nbody until the peer closes"),
        ("no-content", 0, b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"),
        ("not-modified", 0, b"HTTP/1.1 304 Not Modified\r\netag: \"x\"\r\n\r\n"),
        ("continue-then-ok", post, b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"),
        ("http10-keepalive", 0, b"HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 3\r\n\r\nabc"),
        ("switching-protocols", 0, b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n\x81\x00"),
        ("head-with-length", head, b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n"),
        ("obs-fold-lenient", LENIENT, b"HTTP/1.1 200 OK\r\nx-folded: a\r\n  b\r\nbad header : v\r\n\x01bad: y\r\ncontent-length: 1\r\n\r\nz"),
        ("http09", HTTP09, b"hello from 1991"),
        ("two-responses", TWO_REQUESTS, b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\naHTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"),
        ("two-chunked", TWO_REQUESTS, b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("length-and-chunked", 0, b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
        ("two-lengths", 0, b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabcd"),
        ("huge-chunk", 0, b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nffffffffffffffff\r\nabc"),
        ("bad-status", 0, b"HTTP/1.1 99999 What\r\n\r\n"),
        ("lf-only", 0, b"HTTP/1.1 200 OK\ncontent-length: 2\n\nok"),
        ("early-eof-in-body", 0, b"HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\npartial"),
        ("garbage", 0, b"\x16\x03\x01\x00\x05hello"),
        ("post-big-early-response", 3 << REQUEST_SHIFT, b"HTTP/1.1 413 Payload Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"),
    ];
    let mut out = Vec::new();
    for (label, options, payload) in cases {
        out.push((label.to_string(), Script::encode(*options, &[], payload)));
        if *label == "chunked" || *label == "two-responses" {
            out.push((
                format!("{label}-chunked"),
                Script::encode(*options | 0x60, &[0x80, 1, 0x82, 0x7f], payload),
            ));
        }
    }
    out.push((
        "reset".into(),
        Script::encode(0x10, &[], b"HTTP/1.1 200 OK\r\ncontent-le"),
    ));
    out
}

// ---------------------------------------------------------------------------------------------
// Parsers of user input
// ---------------------------------------------------------------------------------------------

fn config_seeds() -> Vec<(String, Vec<u8>)> {
    use keepalive_connector_fuzz::config_flags as f;
    use keepalive_connector_fuzz::set_flags as s;
    use std::time::Duration;
    let ca_pem = keepalive_connector_fuzz::CA_PEM;
    let secs = Duration::from_secs;
    let ms = Duration::from_millis;
    let std_text: &[&[u8]] = &[
        b"https://example.com:8443/path?q=1",
        b"example.com:443:127.0.0.1,[::1]",
        b"after-handshake",
    ];
    let n = ConfigInput::default;
    let cases: Vec<(&str, ConfigInput, Vec<&[u8]>)> = vec![
        ("defaults", n(), std_text.to_vec()),
        (
            "all-options",
            ConfigInput {
                flags: f::HTTP2_ONLY
                    | f::ADDED_ROOTS_ONLY
                    | f::ADD_CA
                    | f::TCP_USER_TIMEOUT
                    | f::BUFFERS,
                ..n()
            },
            vec![
                b"http://[::1]:8080/",
                b"localhost:8080:::1",
                b"Before_Connect",
            ],
        ),
        (
            "pem-field",
            ConfigInput {
                flags: f::ADDED_ROOTS_ONLY | f::ADD_PEM_FIELD,
                ..n()
            },
            vec![
                b"https://127.0.0.1/",
                b"h:1:10.0.0.1",
                b" AFTER-CONNECT ",
                ca_pem,
            ],
        ),
        (
            "bad-pem-field",
            ConfigInput {
                flags: f::ADD_PEM_FIELD,
                ..n()
            },
            vec![
                b"https://LOCALHOST/",
                b"h:65535:[fe80::1%eth0]",
                b"now",
                b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            ],
        ),
        (
            "idle-sub-second",
            ConfigInput {
                idle: ms(500),
                ..n()
            },
            vec![
                b"https://[::ffff:1.2.3.4]/",
                b"h:0:1.2.3.4",
                b"before-connect",
            ],
        ),
        (
            "idle-fraction",
            ConfigInput {
                idle: Duration::new(1, 1),
                ..n()
            },
            vec![b"ftp://example.com/", b"h:+443:1.2.3.4", b""],
        ),
        (
            "idle-too-large",
            ConfigInput {
                idle: secs(32_768),
                ..n()
            },
            vec![b"example.com/no-scheme", b"h:443:", b"x"],
        ),
        (
            "interval-zero",
            ConfigInput {
                interval: Duration::ZERO,
                ..n()
            },
            vec![b"http:///", b"h:443:1.2.3.4,", b"after_handshake"],
        ),
        (
            "retries-too-many",
            ConfigInput {
                retries: 128,
                ..n()
            },
            vec![b"https://[zz]/", b"a_b-c.d:443:1.2.3.4", b"AFTER_HANDSHAKE"],
        ),
        (
            "retries-zero",
            ConfigInput { retries: 0, ..n() },
            vec![b"https://example.com:0/", b"bad host:443:1.2.3.4", b"stage"],
        ),
        (
            "keepalive-off-bad-values",
            ConfigInput {
                flags: f::KEEPALIVE_OFF,
                idle: Duration::from_nanos(1),
                retries: 0,
                ..n()
            },
            vec![
                b"https://example.com:99999/",
                b":443:1.2.3.4",
                b"after-connect",
            ],
        ),
        (
            "connect-timeout-zero",
            ConfigInput {
                connect_timeout: Duration::ZERO,
                ..n()
            },
            vec![
                b"https://exa mple.com/",
                b"h:443:1.2.3.4:5",
                b"after-connect",
            ],
        ),
        (
            "handshake-timeout-zero",
            ConfigInput {
                handshake_timeout: Duration::ZERO,
                ..n()
            },
            vec![b"HTTPS://Example.COM:443", b"h::1.2.3.4", b"after-connect"],
        ),
        (
            "user-timeout-micros",
            ConfigInput {
                flags: f::TCP_USER_TIMEOUT,
                tcp_user_timeout: Duration::new(1, 1_000),
                ..n()
            },
            vec![b"https://-bad-.example/", b"h:443:[::1]", b"after-connect"],
        ),
        (
            "user-timeout-too-large",
            ConfigInput {
                flags: f::TCP_USER_TIMEOUT,
                tcp_user_timeout: secs(4_294_968),
                ..n()
            },
            vec![b"https://1.2.3/", b"h:443:::1", b"after-connect"],
        ),
        (
            "buffer-zero",
            ConfigInput {
                flags: f::BUFFERS,
                send_buffer_size: 0,
                ..n()
            },
            vec![b"https://256.1.1.1/", b"h:443:[1.2.3.4]", b"after-connect"],
        ),
        (
            "buffer-too-large",
            ConfigInput {
                flags: f::BUFFERS,
                recv_buffer_size: 1 << 31,
                ..n()
            },
            vec![b"https://a..b/", b"h:443:1.2.3.4", b"after-connect"],
        ),
        (
            "no-roots",
            ConfigInput {
                flags: f::ADDED_ROOTS_ONLY,
                ..n()
            },
            vec![
                b"https://xn--nxasmq6b.example/",
                b"h:443:1.2.3.4",
                b"after-connect",
            ],
        ),
        (
            "tls-config-conflict",
            ConfigInput {
                flags: f::ADD_CA,
                tls_config: 1,
                ..n()
            },
            vec![
                b"https://user:pw@example.com/",
                b"h:443:1.2.3.4",
                b"after-connect",
            ],
        ),
        (
            "tls-config",
            ConfigInput {
                flags: f::HTTP1_ONLY,
                tls_config: 1,
                ..n()
            },
            vec![b"https://example.com./", b"h:443:1.2.3.4", b"after-connect"],
        ),
        // The dial and Client settings: all set to good values, then one bad value each.
        (
            "dial-and-client-settings",
            ConfigInput {
                set: s::HAPPY_EYEBALLS_DELAY
                    | s::DNS_CACHE_TTL
                    | s::DNS_CACHE_CAPACITY
                    | s::POOL_IDLE_TIMEOUT
                    | s::READ_TIMEOUT
                    | s::MAX_RESENDS
                    | s::SILENT_DROP_TIMEOUT,
                ..n()
            },
            std_text.to_vec(),
        ),
        (
            "happy-eyeballs-too-short",
            ConfigInput {
                set: s::HAPPY_EYEBALLS_DELAY,
                happy_eyeballs_delay: ms(9),
                ..n()
            },
            std_text.to_vec(),
        ),
        (
            "happy-eyeballs-too-long",
            ConfigInput {
                set: s::HAPPY_EYEBALLS_DELAY,
                happy_eyeballs_delay: Duration::new(2, 1),
                ..n()
            },
            std_text.to_vec(),
        ),
        (
            "dns-cache-ttl-zero",
            ConfigInput {
                set: s::DNS_CACHE_TTL,
                dns_cache_ttl: Duration::ZERO,
                ..n()
            },
            std_text.to_vec(),
        ),
        (
            "dns-cache-off-after-zero-ttl",
            ConfigInput {
                set: s::DNS_CACHE_TTL | s::DNS_CACHE_OFF,
                dns_cache_ttl: Duration::ZERO,
                ..n()
            },
            std_text.to_vec(),
        ),
        (
            "dns-cache-capacity-too-large",
            ConfigInput {
                set: s::DNS_CACHE_CAPACITY,
                dns_cache_capacity: 65_537,
                ..n()
            },
            std_text.to_vec(),
        ),
        (
            "pool-idle-and-read-timeout-zero",
            ConfigInput {
                set: s::POOL_IDLE_TIMEOUT | s::READ_TIMEOUT,
                pool_idle_timeout: Duration::ZERO,
                read_timeout: Duration::ZERO,
                ..n()
            },
            std_text.to_vec(),
        ),
        (
            "max-resends-too-many",
            ConfigInput {
                set: s::MAX_RESENDS,
                max_resends: 11,
                ..n()
            },
            std_text.to_vec(),
        ),
        (
            "silent-drop-micros",
            ConfigInput {
                set: s::SILENT_DROP_TIMEOUT,
                silent_drop_timeout: Duration::from_micros(1_500),
                ..n()
            },
            std_text.to_vec(),
        ),
        (
            "every-setting-bad",
            ConfigInput {
                flags: f::TCP_USER_TIMEOUT | f::BUFFERS,
                idle: Duration::ZERO,
                interval: ms(1_500),
                retries: 128,
                connect_timeout: Duration::ZERO,
                handshake_timeout: Duration::ZERO,
                tcp_user_timeout: Duration::ZERO,
                send_buffer_size: 0,
                recv_buffer_size: u64::MAX,
                set: !s::DNS_CACHE_OFF,
                happy_eyeballs_delay: secs(3),
                dns_cache_ttl: Duration::ZERO,
                dns_cache_capacity: 0,
                pool_idle_timeout: Duration::ZERO,
                read_timeout: Duration::ZERO,
                max_resends: u32::MAX,
                silent_drop_timeout: Duration::ZERO,
                ..n()
            },
            std_text.to_vec(),
        ),
        ("short", ConfigInput::default(), vec![]),
    ];
    let mut out = Vec::new();
    for (label, input, text) in cases {
        let mut data = input.encode(&text);
        if label == "short" {
            data.truncate(7);
        }
        out.push((label.to_string(), data));
    }
    out
}
