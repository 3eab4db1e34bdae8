//! A local HTTPS (or HTTP) test server for keepalive-connector's tests, benchmarks and probe:
//! rustls with rcgen certificates, HTTP/1.1 and HTTP/2 through hyper-util's auto builder, and a
//! per-connection fault plan (reset, stall, garbage, …) decided in its own accept loop.
//!
//! Routes: `/` answers `hello` with `x-sni`, `x-alpn`, `x-host` and `x-peer` headers;
//! `/status/NNN` answers status NNN; `/echo` answers the request body's length; `/stream` sends
//! one chunk and then goes quiet forever (for dead-peer tests); `/chat` answers like a streaming
//! LLM API (server-sent events, one token every 20 ms, then `[DONE]`), its first event saying
//! how many bytes of request body it read.
//!
//! `ScriptedServer`: plain HTTP/1.1 keep-alive with a script per request (answer, answer late,
//! close or reset as the request arrives, stall), for the pooled-connection tests; `nginx`: real
//! nginx with a configuration of the test's own.
//!
//! Proxies: [`ConnectProxy`] (HTTP `CONNECT`, optionally over TLS, with a fault plan) and
//! [`SocksProxy`] in process; tinyproxy and microsocks as real processes in [`external`].
//!
//! nginx as a real process in [`nginx`], for what real servers do with idle connections;
//! [`SlowLink`] puts a round trip between a client and such a server on loopback (a server's
//! close and a client's request then cross, as across a real network).
//!
//! Two hosts (Linux): [`netns::Pair`] joins two network namespaces with a veth pair,
//! [`nat::Nat`] puts a NAT router that forgets idle flows between two of them, and
//! [`child`] re-runs a test of the current binary inside one, in a role. [`child_env`] re-runs
//! a test in a process with an environment of its own (any platform).

// Processes and namespaces for tests that need more than one host: Linux only, as `ip netns`.
#[cfg(target_os = "linux")]
pub mod child;
pub mod child_env;
pub mod external;
mod h2watch;
#[cfg(target_os = "linux")]
pub mod nat;
#[cfg(target_os = "linux")]
pub mod netns;
pub mod nginx;
mod pki;
mod proxy;
mod scripted;
mod server;
mod slow_link;

pub use h2watch::{H2WatchServer, OnPing};
pub use pki::{Leaf, LeafKind, TestCa};
pub use proxy::{ConnectProxy, ConnectProxyBuilder, ProxyBehavior, SocksProxy};
pub use scripted::{ScriptedServer, Seen, Step};
pub use server::{Behavior, ServerBuilder, TestServer, UNOFFERED_ALPN};
pub use slow_link::SlowLink;

/// `true` when a Windows build of the tests runs under Wine rather than Windows: Wine puts its
/// own configuration program into the system directory. Tests use it only to say why a check
/// Wine cannot pass (Wine is not Windows) is skipped, never to weaken a check on Windows.
pub fn under_wine() -> bool {
    cfg!(windows)
        && std::env::var_os("SystemRoot").is_some_and(|root| {
            std::path::Path::new(&root)
                .join("system32")
                .join("winecfg.exe")
                .exists()
        })
}

/// The effective uid, from `/proc/self/status` (std has no `geteuid`), for the namespaces.
#[cfg(target_os = "linux")]
pub(crate) fn euid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}
