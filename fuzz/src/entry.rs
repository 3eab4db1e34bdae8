//! The fuzz targets' entry functions: each `fuzz_targets/<name>.rs` is one line calling the
//! function of the same name, re-exported here from the module of the same name, and
//! `tests/it/fuzz_replay.rs` includes this very file (and so its modules) to replay every corpus
//! file and every minimised crash on stable.
//!
//! So these files use only what the main workspace's tests have: keepalive-connector, tokio,
//! hyper, hyper-util, http, http-body-util, bytes and rustls.
//!
//! | module | what |
//! |---|---|
//! | `tls_client_handshake` | the connector's TLS step |
//! | `proxy_tunnel` | the connector's tunnel step (`CONNECT`, SOCKS5) |
//! | `h2_client`, `http1_client` | hyper's client codecs, over `exchange` |
//! | [`config_input`], `uri_and_config` | the parsers of user input and `build()`, on input laid out by [`ConfigInput`] |
//! | `peer` | the network targets' input format, the in-memory peer, the hand-polling driver |
//! | [`fake_crypto`] | the deterministic rustls provider of the TLS target |
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
//! [`PeerIo`]). Writes are accepted and kept (the first 64 KiB) for the checks. [`Script`]
//! reads this layout and writes it (for `gen_seeds`).
//!
//! The parsers' target, `uri_and_config`, reads its own layout: [`ConfigInput`] decodes it and
//! encodes it, for the target and `gen_seeds` alike.

pub mod config_input;
mod exchange;
pub mod fake_crypto;
mod h2_client;
mod http1_client;
mod peer;
mod proxy_tunnel;
mod tls_client_handshake;
mod uri_and_config;

pub use config_input::{config_flags, set_flags, ConfigInput};
pub use h2_client::{h2_client, h2_options};
pub use http1_client::{http1_client, http1_options};
pub use peer::{Alive, PeerIo, Script};
pub use proxy_tunnel::{proxy_options, proxy_tunnel, proxy_tunnel_outcome, TunnelOutcome};
pub use tls_client_handshake::{
    tls_client_handshake, tls_client_handshake_outcome, tls_connector_for, tls_options, TlsOutcome,
};
pub use uri_and_config::uri_and_config;

/// The CA that signed the leaf in the recorded TLS flights (written by `gen_seeds`).
pub const CA_PEM: &[u8] = include_bytes!("../pki/ca.pem");
