//! A hyper-util connector that applies TCP keepalive at a chosen stage, reports what happened
//! in every phase, and names the phase when something fails; and, on top, a pooled [`Client`]
//! that keeps long-lived connections honest.
//!
//! # The data flow
//!
//! ```text
//!  Request ──► Client    hyper-util's pool: re-sends on stale connections,    ClientError
//!                │       HTTP/2 PINGs on the keepalive schedule, read timeout,
//!                │       Keep-Alive: timeout=, a RequestInfo on every response
//!                ▼  (a new connection: Service<Uri>)
//!  Uri ──► Origin   scheme, host, port: whom TLS verifies                  Phase::Uri
//!            │
//!  route     direct, or the proxy the rules (environment, system, explicit) choose
//!            │
//!  dial      cache / resolve ──► sockets (socket2), raced ──► TCP     Phase::Dns, Phase::Connect
//!            │  (AAAA + A; the origin's name or the proxy's)
//!            │                   └ Stage::BeforeConnect      └ Stage::AfterConnect (winner)
//!  tunnel    TLS to an https:// proxy, CONNECT or SOCKS5; nothing direct    Phase::Proxy
//!            │  (socks5://: the origin's name is resolved first, through dial's cache: Phase::Dns)
//!  secure    TLS (rustls, ALPN) with the origin over that stream          Phase::Tls
//!            │
//!  finish    Stage::AfterHandshake on the dialed socket, then the kernel read-back
//!            ▼
//!          Conn + ConnectInfo ──► hyper's HTTP/1.1 or HTTP/2 codec (the Client's pool,
//!                                  hyper-util's Client, or Conn::handshake)
//! ```
//!
//! Four layers with one job each (route, dial, tunnel, secure), each with its own piece of the
//! configuration, run in order by one short function behind [`Connector::connect`], which then
//! applies the last stage and reads the socket's options back. Socket options and the socket
//! hook fail as [`Phase::Socket`] at whichever [`Stage`] they belong to.
//!
//! Dialing follows Happy Eyeballs v2 (RFC 8305): AAAA and A asked concurrently where the
//! resolver can ([`Resolve::resolve_family`]), addresses interleaved by family and raced with a
//! 250 ms attempt delay within one connect-timeout deadline, answers kept in a DNS cache shared
//! by the connector's clones, and every attempt reported ([`ConnectInfo::attempts`],
//! [`ConnectError::attempts`]). See [`Builder::happy_eyeballs`] and
//! [`Builder::dns_cache_ttl`].
//!
//! Keepalive (`SO_KEEPALIVE`, `TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT`) and
//! `TCP_USER_TIMEOUT` are applied at exactly one [`Stage`], by default
//! [`Stage::AfterHandshake`], so that strict servers that reset handshakes on sockets configured
//! before connect still get a connection with keepalive. Every [`Conn`] carries a
//! [`ConnectInfo`]: per-phase [`Timings`], addresses, ALPN, TLS version and the keepalive
//! values read back from the kernel (its `Display` is one line of them). Every failure is a
//! [`ConnectError`] with its [`Phase`], the address, a timeout flag and the cause.
//!
//! # Getting started
//!
//! A streaming request, as to an LLM API: POST a JSON body, print the connection's facts, read
//! the answer chunk by chunk, and name the phase when connecting fails. Nothing but this crate
//! and tokio (`docs/first-program.md` and `examples/stream.rs` have the whole program):
//!
//! ```no_run
//! use keepalive_connector::http::Request;
//! use keepalive_connector::{ConnectInfo, Connector, Keepalive, RequestBody};
//! use std::time::Duration;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let connector = Connector::builder()
//!     .keepalive(Keepalive::new().idle(Duration::from_secs(30))) // also the HTTP/2 PINGs'
//!     .read_timeout(Duration::from_secs(60)) // the longest silence between two chunks
//!     .build()?;
//! let client = connector.client();
//! let req = Request::post("https://api.example.com/v1/chat")
//!     .header("content-type", "application/json")
//!     .body(RequestBody::from(r#"{"stream":true,"input":"Hello"}"#))?;
//! let resp = match client.request(req).await {
//!     Ok(resp) => resp,
//!     Err(e) => match e.connect_error() {
//!         Some(c) => return Err(format!("{} failed: {c}", c.phase()).into()),
//!         None => return Err(e.into()),
//!     },
//! };
//! if let Some(info) = resp.extensions().get::<ConnectInfo>() {
//!     eprintln!("{info}"); // remote=… route=direct alpn=h2 tls_version=TLSv1.3 … keepalive=30s/10s/3
//! }
//! let mut body = resp.into_body();
//! while let Some(chunk) = body.chunk().await? {
//!     print!("{}", String::from_utf8_lossy(&chunk));
//! }
//! # Ok(()) }
//! ```
//!
//! [`Client`] is hyper-util's pool with what a long-lived client needs on top: a request that
//! failed on a stale pooled connection is sent again when that is safe (Go's rules: idempotent
//! or keyed, never processed, body replayable), a server's `Keep-Alive: timeout=` is honoured,
//! a silently dropped flow fails within about a second (Linux), response bodies keep their
//! HTTP/2 PINGs going and have a read timeout, and every response carries a [`RequestInfo`].
//! [`Connector::client_builder`] still gives hyper-util's builder for the raw `Client`.
//!
//! Without the pool, [`Connector::connect`] returns a [`Conn`];
//! [`Conn::handshake`] hands it to hyper's HTTP/1.1 or HTTP/2 codec, whichever ALPN chose (see
//! `examples/direct.rs`).
//!
//! # Design
//!
//! - Configuration is validated once, in [`Builder::build`]: a [`Connector`] that exists is a
//!   valid one. Values the kernel would truncate (a 500 ms keepalive idle) are refused with a
//!   [`ConfigError`], never rounded.
//! - A socket option the configuration asked for that the kernel refuses fails the connection
//!   ([`Phase::Socket`]); it is not just logged.
//! - One rustls `ClientConfig` is shared by all connections of a connector, so TLS sessions
//!   resume. Certificates and host names are verified with what the system trusts
//!   ([`Trust::Platform`], through `rustls-platform-verifier`: the OS's verifier on Windows,
//!   macOS, iOS and Android; the system's CA store with `SSL_CERT_FILE`/`SSL_CERT_DIR` on
//!   Linux), so a corporate or private CA installed in the system works without code; where
//!   the system has no store, webpki-roots, and [`Connector::trust`] says so (but a store that
//!   `SSL_CERT_FILE`/`SSL_CERT_DIR` name and that yields nothing fails `build()`). Roots you add
//!   count on top ([`Builder::add_root_certificates_pem`]); [`Trust::WebpkiRoots`] and
//!   [`Trust::AddedRootsOnly`] narrow it; a `tls_config` of yours brings its own verifier. The
//!   crypto provider is the process default if the application installed one, else aws-lc-rs.
//! - The route is the environment's: without a [`Builder::proxy`] call, the proxy variables
//!   (`HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`, …) and the macOS/Windows system settings apply, as
//!   in reqwest and curl, so turning keepalive on never sends traffic around the user's proxy.
//! - `tracing` spans and events at `debug` level mark each phase; nothing is printed unless the
//!   application installs a subscriber.
//!
//! # Platforms
//!
//! No OS is refused by a `compile_error!`: every OS socket2 and tokio's TCP sockets support (so
//! not WASI) falls into one of the rows below. Keepalive is applied with what each OS has, and what
//! an OS lacks is never silently dropped: a value chosen explicitly that the OS cannot set is a
//! [`ConfigError`] (or, where only some versions of the OS have it, a [`Phase::Socket`] error),
//! and a value left at its default is left to the OS, which [`KeepaliveInfo`] reports per
//! value ([`ValueSource`]). [`Keepalive::platform_support`] says what this build can do.
//!
//! | OS | set per socket | read back |
//! |---|---|---|
//! | Linux, Android, macOS, iOS, FreeBSD, NetBSD, DragonFly, illumos | idle, interval, count | all three |
//! | Windows | idle + interval (`SIO_KEEPALIVE_VALS`); count (`TCP_KEEPCNT`) from 10 1703 | idle, interval from 10 1709 (else as set); count from 10 1703 |
//! | Solaris, AIX, other Unix | idle | idle |
//! | OpenBSD, Haiku | `SO_KEEPALIVE` only | — |
//!
//! `TCP_USER_TIMEOUT` (and so `Builder::tcp_user_timeout`) exists on Linux, Android and Fuchsia
//! only: elsewhere the method is absent, so misuse fails at compile time. The tests run on Linux
//! and, as a Windows build, under Wine; macOS is type-checked and linted.

// The public interface is: (internals live in private modules and can move freely)

/// The `http` crate this crate's API speaks (`Request`, `Response`, `Uri`, `StatusCode`,
/// headers), re-exported so that a program needs no dependency of its own on it.
pub use http;

/// The `bytes` crate whose `Bytes` a [`ResponseBody`] yields and a [`RequestBody`] takes,
/// re-exported likewise.
pub use bytes;

mod builder;
mod client;
mod codec;
mod conn_state;
mod connector;
mod deadline;
mod dial;
mod error;
mod http_version;
mod info;
mod origin;
mod proxy;
mod socket;
mod stream;
mod tls;
mod tunnel;

pub use builder::Builder;
pub use client::{
    Client, ClientError, NotResent, RequestBody, RequestInfo, Resend, ResponseBody, ResponseFuture,
    StaleReason,
};
pub use codec::{ConnDriver, SendRequest};
pub use connector::{Connecting, Connector};
pub use dial::{
    Attempt, AttemptOutcome, Family, ParseResolveError, ParseResolveErrorKind, Resolve,
    ResolveEntry, Resolving, StaticResolver, SystemResolver,
};
pub use error::{
    io_error_kind, ConfigError, ConfigErrorReason, ConfigField, Conflict, ConnectError, Limit,
    Phase,
};
pub use info::{ConnectInfo, KeepaliveInfo, Timings, TlsInfo, ValueSource};
pub use origin::{InvalidOrigin, Origin};
pub use proxy::{
    InvalidProxy, Proxy, ProxyError, ProxyInfo, ProxyKind, ProxySource, Route, SocksError,
    SocksReply,
};
pub use socket::{
    Availability, Keepalive, KeepaliveSupport, OptionSupport, ParseStageError, SocketOption,
    SocketOptionError, Stage, TcpState, TcpStats,
};
pub use stream::Conn;
pub use tls::{ParseTrustError, Trust, TrustInfo};
pub use tunnel::TunnelStream;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// `docs/first-program.md`'s program, compiled as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../docs/first-program.md")]
pub struct FirstProgramDoctests;

/// `docs/usage.md`'s examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../docs/usage.md")]
pub struct UsageDocDoctests;

/// `docs/liveness.md`'s examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../docs/liveness.md")]
pub struct LivenessDocDoctests;

/// `docs/proxies.md`'s examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../docs/proxies.md")]
pub struct ProxiesDocDoctests;

/// `docs/trust.md`'s examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../docs/trust.md")]
pub struct TrustDocDoctests;
