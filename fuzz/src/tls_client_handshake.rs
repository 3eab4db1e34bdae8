//! `tls_client_handshake`: the connector's TLS step ([`Connector::tls_handshake`]) against a
//! peer that sends the input's payload. See `fuzz/README.md` for the two kinds of connectors
//! (a deterministic provider whose recorded flights complete the handshake, and the real one).

use std::sync::{Arc, OnceLock};

use keepalive_connector::{Connector, Origin, Phase, Trust};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use super::fake_crypto;
use super::peer::{with_runtime, Driver, PeerIo, Script};
use super::CA_PEM;

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
pub(crate) fn fake_client_config() -> Arc<rustls::ClientConfig> {
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
pub(crate) fn fake_connectors() -> &'static Connectors {
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
