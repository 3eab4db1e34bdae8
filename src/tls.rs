//! TLS with rustls: the shared client configuration, server names, and the handshake.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, DnsName, ServerName};
use rustls::ClientConfig;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::client::TlsStream;

use crate::config::{Config, HttpVersions};
use crate::error::{ConfigError, ConfigErrorReason, ConnectError, Phase};
use crate::info::TlsInfo;
use crate::target::InvalidUri;

/// The one client configuration every connection of a connector shares, so its session cache
/// lets later connections resume TLS sessions.
///
/// Uses the process-wide default crypto provider when the application installed one, and
/// rustls's default (aws-lc-rs) otherwise. `ClientConfig::builder()` would panic when both
/// `ring` and `aws-lc-rs` are compiled in and none is installed; this never does.
pub(crate) fn client_config(
    roots: rustls::RootCertStore,
    alpn: Vec<Vec<u8>>,
) -> Result<Arc<ClientConfig>, rustls::Error> {
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    // Fails only for a process-wide provider the application installed with no usable suites.
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn;
    Ok(Arc::new(config))
}

/// The trust store: webpki-roots (unless turned off) plus every certificate in `pems`.
pub(crate) fn root_store(
    builtin: bool,
    pems: &[Vec<u8>],
) -> Result<rustls::RootCertStore, ConfigError> {
    let mut roots = rustls::RootCertStore::empty();
    if builtin {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    for pem in pems {
        let bad = |why: String| {
            ConfigError::new(
                "add_root_certificates_pem",
                format_args!("<{} bytes of PEM>", pem.len()),
                ConfigErrorReason::BadCertificate(why),
            )
        };
        let mut found = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| bad(e.to_string()))?;
            roots.add(cert).map_err(|e| bad(e.to_string()))?;
            found += 1;
        }
        if found == 0 {
            return Err(bad("no CERTIFICATE block found".into()));
        }
    }
    if roots.is_empty() {
        return Err(ConfigError::new(
            "builtin_roots",
            false,
            ConfigErrorReason::Conflict(
                "the built-in roots are off and no root certificate was added: nothing would be trusted",
            ),
        ));
    }
    Ok(roots)
}

/// The name the certificate must match. IP literals become `ServerName::IpAddress`, for which
/// rustls sends no SNI and checks the certificate's IP SANs.
pub(crate) fn server_name(
    host: &str,
    ip: Option<IpAddr>,
) -> Result<ServerName<'static>, InvalidUri> {
    if let Some(ip) = ip {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    DnsName::try_from(host)
        .map(|name| ServerName::DnsName(name.to_owned()))
        .map_err(|_| InvalidUri::BadServerName(host.to_owned()))
}

/// The server chose no ALPN protocol, or one we cannot use, while only `h2` was offered.
#[derive(Debug)]
struct AlpnRefused {
    chosen: Option<Vec<u8>>,
}

impl fmt::Display for AlpnRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.chosen {
            None => f.write_str("http2_only is set but the server chose no ALPN protocol"),
            Some(p) => write!(
                f,
                "http2_only is set but the server chose ALPN {:?}",
                String::from_utf8_lossy(p)
            ),
        }
    }
}

impl std::error::Error for AlpnRefused {}

/// Runs the TLS handshake over `io` within the handshake timeout, and checks ALPN when only
/// `h2` was offered. `addr` is only used to name the peer in errors.
pub(crate) async fn handshake<IO>(
    cfg: &Config,
    name: ServerName<'static>,
    io: IO,
    host: &str,
    addr: Option<SocketAddr>,
) -> Result<(TlsStream<IO>, TlsInfo), ConnectError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let err = || {
        let err = ConnectError::new(Phase::Tls).with_host(host);
        match addr {
            Some(addr) => err.with_addr(addr),
            None => err,
        }
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::clone(&cfg.tls));
    let stream =
        match tokio::time::timeout(cfg.handshake_timeout, connector.connect(name, io)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(err().with_source(e)),
            Err(_elapsed) => return Err(err().timed_out(cfg.handshake_timeout)),
        };
    let info = info(&stream);
    if cfg.http == HttpVersions::Http2Only && info.alpn.as_deref() != Some(b"h2") {
        return Err(err().with_source(AlpnRefused { chosen: info.alpn }));
    }
    Ok((stream, info))
}

/// What the handshake negotiated.
fn info<IO>(stream: &TlsStream<IO>) -> TlsInfo {
    let (_, conn) = stream.get_ref();
    TlsInfo {
        alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
        version: conn.protocol_version(),
        cipher_suite: conn.negotiated_cipher_suite().map(|s| s.suite()),
        handshake_kind: conn.handshake_kind(),
    }
}
