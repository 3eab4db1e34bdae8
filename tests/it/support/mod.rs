//! Shared set-up: a local TLS server, a connector that trusts only its CA, a hyper-util client.

// In keepalive-testserver, so the probe's tests use the same namespaces and child processes.
#[cfg(target_os = "linux")]
pub use keepalive_testserver::{child, netns};

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use keepalive_connector::{Builder, Conn, ConnectError, Connector, StaticResolver, Trust};
use keepalive_testserver::TestServer;

/// A connector builder that trusts the test server's CA and nothing else, and resolves
/// `localhost` to the server's loopback address without asking the system.
pub fn builder_for(server: &TestServer) -> Builder {
    Connector::builder()
        .trust(Trust::AddedRootsOnly)
        .add_root_certificates_pem(server.ca_pem().as_bytes())
        .resolver(localhost(server))
}

/// `localhost:PORT` → the server's IP, and nothing else.
pub fn localhost(server: &TestServer) -> StaticResolver {
    let addr = server.addr();
    StaticResolver::new()
        .add("localhost", addr.port(), [addr.ip()])
        .no_fallback()
}

/// A hyper-util client on `connector` with the pool off, so each request makes a connection.
pub fn client(connector: Connector) -> Client<Connector, Empty<Bytes>> {
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build(connector)
}

/// The whole body as text.
pub async fn body_text(resp: http::Response<hyper::body::Incoming>) -> String {
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    String::from_utf8(bytes.to_vec()).expect("utf-8 body")
}

/// Whether this machine has a usable IPv6 loopback (some containers have none).
pub fn has_ipv6_loopback() -> bool {
    std::net::TcpListener::bind((IpAddr::from(std::net::Ipv6Addr::LOCALHOST), 0)).is_ok()
}

/// `true` (after a loud `SKIPPED:` line) on a machine without an IPv6 loopback.
pub fn no_ipv6_loopback() -> bool {
    let none = !has_ipv6_loopback();
    if none {
        println!("SKIPPED: no IPv6 loopback on this machine");
    }
    none
}

/// Connects `connector` to the server's root URL, by IP.
pub async fn connect(connector: &Connector, server: &TestServer) -> Result<Conn, ConnectError> {
    connector.connect(&server.url("/").parse().unwrap()).await
}

/// A default HTTPS test server on `::1`, or `None` (after a loud `SKIPPED:` line) on a machine
/// without an IPv6 loopback (some containers have none).
pub async fn ipv6_server() -> Option<TestServer> {
    if no_ipv6_loopback() {
        return None;
    }
    Some(
        TestServer::builder()
            .ip("::1".parse().unwrap())
            .start()
            .await
            .unwrap(),
    )
}

/// How many TCP sockets of this process's network namespace are connected (or connecting) to
/// `peer` in `state`, as `/proc/net/tcp` and `/proc/net/tcp6` write it (`01` established,
/// `02` SYN-SENT).
pub fn tcp_sockets_to(peer: SocketAddr, state: &str) -> usize {
    // The files print each 32-bit word of an address as the in-memory u32: little-endian on
    // x86 and arm.
    let words = |bytes: &[u8]| -> String {
        bytes
            .chunks(4)
            .map(|w| format!("{:02X}{:02X}{:02X}{:02X}", w[3], w[2], w[1], w[0]))
            .collect()
    };
    let (file, addr) = match peer {
        SocketAddr::V4(a) => ("/proc/net/tcp", words(&a.ip().octets())),
        SocketAddr::V6(a) => ("/proc/net/tcp6", words(&a.ip().octets())),
    };
    let want = format!("{addr}:{:04X}", peer.port());
    let table = std::fs::read_to_string(file).unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.len() > 3 && cols[2] == want && cols[3] == state
        })
        .count()
}
