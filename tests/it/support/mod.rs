//! Shared set-up: a local TLS server, a connector that trusts only its CA, a hyper-util client.

// In keepalive-testserver, so the probe's tests use the same namespaces and child processes.
#[cfg(target_os = "linux")]
pub use keepalive_testserver::{child, netns};

#[cfg(target_os = "linux")]
pub mod link_down;

use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use keepalive_connector::{
    Availability, Builder, Conn, ConnectError, Connector, Keepalive, KeepaliveInfo, OptionSupport,
    StaticResolver, Trust, ValueSource,
};
pub use keepalive_testserver::under_wine as wine;
use keepalive_testserver::TestServer;

/// A connector builder that trusts the test server's CA and nothing else, and resolves
/// `localhost` to the server's loopback address without asking the system.
pub fn builder_for(server: &TestServer) -> Builder {
    Connector::builder()
        .trust(Trust::AddedRootsOnly)
        .add_root_certificates_pem(server.ca_pem().as_bytes())
        .dns_resolver(localhost(server))
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

/// Checks one keepalive value against what was asked for, as well as this OS can tell: read
/// back from the kernel wherever the OS reports it; where it cannot (Windows before 10 1709,
/// Wine), the value the connector set; a default the OS refused to take (Windows's
/// `TCP_KEEPCNT` before 10 1703, Wine) or has no option for, the OS's own, unknown value.
/// Returns a note for the log when the value could not be read back.
fn check_value<T: PartialEq + std::fmt::Debug>(
    what: &str,
    got: (Option<T>, ValueSource),
    want: T,
    chosen: bool,
    support: OptionSupport,
) -> Option<String> {
    let can_read = support.read_back() == Availability::Yes;
    match got {
        (Some(v), ValueSource::Kernel) => {
            assert_eq!(v, want, "{what} read back from the kernel");
            None
        }
        (Some(v), ValueSource::AsSet) if !can_read => {
            assert_eq!(v, want, "{what} reported as set");
            Some(format!("{what} reported as set ({})", support.name()))
        }
        (None, ValueSource::Os) if !chosen && support.set() != Availability::Yes => Some(format!(
            "{what} is the OS's own ({} refused or absent)",
            support.name()
        )),
        other => panic!(
            "{what}: {other:?} on {} (asked for {want:?}, chosen: {chosen}, support {support:?})",
            std::env::consts::OS
        ),
    }
}

/// Checks that `ka` holds `want` as well as this OS can tell (see [`check_value`]), and
/// prints what could only be reported as set or left to the OS.
pub fn assert_keepalive(ka: &KeepaliveInfo, want: Keepalive) {
    let support = Keepalive::platform_support();
    let notes: Vec<String> = [
        check_value(
            "idle",
            (ka.idle(), ka.idle_source()),
            want.idle_duration(),
            true,
            support.idle(),
        ),
        check_value(
            "interval",
            (ka.interval(), ka.interval_source()),
            want.interval_duration(),
            true,
            support.interval(),
        ),
        check_value(
            "retries",
            (ka.retries(), ka.retries_source()),
            want.retry_count(),
            want.is_retry_count_chosen(),
            support.retries(),
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !notes.is_empty() {
        println!("NOTE: on this OS {}", notes.join("; "));
    }
}

/// Values unlike any kernel default (Linux: 7200 s, 75 s, 9; Windows: 7200 s, 1 s, 10), so a
/// match proves the connector set them.
pub const IDLE: Duration = Duration::from_secs(17);
/// See [`IDLE`].
pub const INTERVAL: Duration = Duration::from_secs(7);
/// See [`IDLE`].
pub const RETRIES: u32 = 4;

/// How many TCP sockets of this process's network namespace are connected (or connecting) to
/// `peer` in `state`, as `/proc/net/tcp` and `/proc/net/tcp6` write it (`01` established,
/// `02` SYN-SENT).
#[cfg(target_os = "linux")] // /proc/net/tcp; used by the Linux-only tests
pub fn tcp_sockets_to(peer: std::net::SocketAddr, state: &str) -> usize {
    use std::net::SocketAddr;
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

/// The first error of type `T` in `err`'s source chain (itself included).
pub fn find_cause<'a, T: std::error::Error + 'static>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut cause = Some(err);
    while let Some(e) = cause {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        cause = e.source();
    }
    None
}
