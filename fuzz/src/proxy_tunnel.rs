//! `proxy_tunnel`: the connector's tunnel step ([`Connector::tunnel_handshake`]) against a
//! proxy that sends the input's payload: its answer to `CONNECT`, or to the SOCKS5 greeting,
//! authentication and request.

use std::sync::OnceLock;

use keepalive_connector::{Connector, Origin, Phase};

use super::peer::{with_runtime, Driver, PeerIo, Script};

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
