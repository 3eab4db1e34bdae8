//! The names the benchmarks write under and the summary reads back: criterion groups (one per
//! case), functions (one per contender), and where criterion keeps its results.
//!
//! Included by `benches/common/mod.rs` and by `examples/bench-summary.rs` (through `#[path]`),
//! so the two cannot drift apart.

// Each includer uses a different part of this file.
#![allow(dead_code)]

use std::path::PathBuf;

/// One criterion group per case: its name (a directory under `target/criterion`) and the label
/// the summary prints.
pub(crate) const GROUPS: [(&str, &str); 12] = [
    ("tcp_connect", "plain TCP connect, 127.0.0.1"),
    ("tcp_connect_localhost", "plain TCP connect, `localhost`"),
    ("tls13_full", "TLS 1.3 full handshake, 127.0.0.1"),
    ("tls13_resumed", "TLS 1.3 resumed handshake, 127.0.0.1"),
    (
        "tls13_full_localhost",
        "TLS 1.3 full handshake, `localhost`",
    ),
    ("h1_first_response", "TLS 1.3 + first HTTP/1.1 response"),
    ("h2_first_response", "TLS 1.3 + first HTTP/2 response"),
    ("tcp_concurrent_256", "256 plain TCP connects at once"),
    (
        "tls13_concurrent_256",
        "256 TLS 1.3 full handshakes at once",
    ),
    (
        "tls13_trust_platform",
        "TLS 1.3 full, platform trust (CA in the system store)",
    ),
    (
        "tls13_trust_platform_added",
        "TLS 1.3 full, platform trust + added root",
    ),
    (
        "tls13_trust_webpki_added",
        "TLS 1.3 full, webpki-roots + added root",
    ),
];

/// How many connection setups one iteration of a `*_concurrent_256` group runs.
pub(crate) const BURST: usize = 256;

/// The criterion function names, one per contender, in the order they run.
pub(crate) const FLOOR: &str = "floor";
/// hyper-util's `HttpConnector` (defaults: `TCP_NODELAY` off) under hyper-rustls.
pub(crate) const ANCHOR_DEFAULT: &str = "anchor_default";
/// The same with `set_nodelay(true)`.
pub(crate) const ANCHOR_NODELAY: &str = "anchor_nodelay";
/// Our connector, keepalive applied before `connect(2)`.
pub(crate) const OURS_BEFORE_CONNECT: &str = "ours_before_connect";
/// Our connector, keepalive applied right after the TCP connect.
pub(crate) const OURS_AFTER_CONNECT: &str = "ours_after_connect";
/// Our connector with its defaults (keepalive after the TLS handshake).
pub(crate) const OURS_AFTER_HANDSHAKE: &str = "ours_after_handshake";
/// Our connector at the anchor's settings: keepalive off and no connect or handshake timeout
/// (`TCP_NODELAY` still on, as by default).
pub(crate) const OURS_KEEPALIVE_OFF: &str = "ours_keepalive_off";

/// Where criterion writes (`$CRITERION_HOME`, else `$CARGO_TARGET_DIR/criterion`, else this
/// package's `target/criterion`), and where the allocation bench leaves its JSON.
pub(crate) fn criterion_home() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("criterion")
}

/// The file `benches/allocs.rs` writes its per-connection allocation figures to.
pub(crate) fn allocs_json() -> PathBuf {
    criterion_home().join("allocs.json")
}

/// The file `benches/interleaved.rs` writes its medians to.
pub(crate) fn interleaved_json() -> PathBuf {
    criterion_home().join("interleaved.json")
}
