//! Assembling the rustls `ClientConfig` a connector shares: the crypto provider, the verifier
//! for the chosen [`Trust`], and the ALPN list; or checking one the user brought.

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use tracing::debug;

use super::trust::{Trust, TrustInfo};
use super::verifier::{self, AddedOrPlatform};
use super::TlsSetup;
use crate::error::{non_zero, ConfigError, ConfigErrorReason, ConfigField, Conflict};
use crate::http_version::HttpVersions;

/// The default time allowed for each TLS handshake.
const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the builder collected about trust and TLS, before validation.
#[derive(Debug, Clone)]
pub(crate) struct TlsOptions {
    /// `None`: not set, so [`Trust::Platform`]; refused next to a `tls_config` only when set.
    pub(crate) trust: Option<Trust>,
    pub(crate) extra_roots_pem: Vec<Vec<u8>>,
    pub(crate) tls_config: Option<Arc<ClientConfig>>,
    pub(crate) handshake_timeout: Duration,
    pub(crate) http: HttpVersions,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            trust: None,
            extra_roots_pem: Vec::new(),
            tls_config: None,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            http: HttpVersions::Both,
        }
    }
}

impl TlsOptions {
    /// Checks every value and builds the secure layer's configuration: the one client
    /// configuration every connection of a connector shares (so its session cache lets later
    /// connections resume TLS sessions), the trust it verifies with, the handshake timeout.
    pub(crate) fn build(self) -> Result<TlsSetup, ConfigError> {
        non_zero(ConfigField::HandshakeTimeout, self.handshake_timeout)?;
        let (handshake_timeout, http) = (self.handshake_timeout, self.http);
        let (config, trust) = self.client_config()?;
        Ok(TlsSetup {
            config,
            trust,
            handshake_timeout,
            http,
        })
    }

    /// The shared rustls configuration and the trust it verifies with.
    fn client_config(self) -> Result<(Arc<ClientConfig>, TrustInfo), ConfigError> {
        let http = self.http;
        let Some(config) = self.tls_config else {
            let provider = verifier::provider();
            let (verifier, trust) = verifier_for(
                self.trust.unwrap_or_default(),
                &self.extra_roots_pem,
                &provider,
            )?;
            debug!(%trust, "trust in force");
            let config = client_config(provider, verifier, http.alpn()).map_err(|e| {
                ConfigError::new(
                    ConfigField::CryptoProvider,
                    "crypto provider",
                    ConfigErrorReason::Tls(Box::new(e)),
                )
            })?;
            return Ok((config, trust));
        };
        if !self.extra_roots_pem.is_empty() || self.trust.is_some() {
            return Err(ConfigError::new(
                ConfigField::TlsConfig,
                "custom rustls::ClientConfig",
                ConfigErrorReason::Conflict(Conflict::TrustWithTlsConfig),
            ));
        }
        http.check_alpn_list(&config.alpn_protocols)?;
        let config = if config.alpn_protocols.is_empty() {
            let mut config = (*config).clone();
            config.alpn_protocols = http.alpn();
            Arc::new(config)
        } else {
            config
        };
        Ok((config, TrustInfo::custom()))
    }
}

/// The verifier for `trust` with the roots in `pems` on top, and what is in force.
fn verifier_for(
    trust: Trust,
    pems: &[Vec<u8>],
    provider: &Arc<CryptoProvider>,
) -> Result<(Arc<dyn ServerCertVerifier>, TrustInfo), ConfigError> {
    let added = added_roots(pems)?;
    let count = added.len();
    let webpki = |mut roots: RootCertStore, with_builtin: bool| {
        if with_builtin {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        webpki_verifier(roots, provider)
    };
    Ok(match trust {
        Trust::AddedRootsOnly if added.is_empty() => {
            return Err(ConfigError::new(
                ConfigField::Trust,
                format_args!("{trust}"),
                ConfigErrorReason::Conflict(Conflict::NothingTrusted),
            ))
        }
        Trust::AddedRootsOnly => (webpki(added, false)?, TrustInfo::chosen(trust, count)),
        Trust::WebpkiRoots => (webpki(added, true)?, TrustInfo::chosen(trust, count)),
        Trust::Platform => match verifier::platform(provider) {
            Ok(platform) if added.is_empty() => (platform, TrustInfo::chosen(trust, 0)),
            Ok(platform) => {
                let verifier = AddedOrPlatform {
                    added: webpki_verifier(added, provider)?,
                    platform,
                };
                (Arc::new(verifier), TrustInfo::chosen(trust, count))
            }
            // Set, SSL_CERT_FILE / SSL_CERT_DIR narrowed trust to a store that turned out
            // empty: fail rather than widen it to every public CA.
            Err(unusable) => match unusable.narrowed {
                Some(err) => return Err(err),
                None => (
                    webpki(added, true)?,
                    TrustInfo::fallback(count, unusable.reason),
                ),
            },
        },
    })
}

/// webpki over `roots` (never empty here), without revocation checks, as rustls's
/// `with_root_certificates` builds it.
fn webpki_verifier(
    roots: RootCertStore,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, ConfigError> {
    let count = roots.len();
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider))
        .build()
        .map_err(|e| {
            ConfigError::new(
                ConfigField::RootCertificates,
                format_args!("<{count} roots>"),
                ConfigErrorReason::BadCertificate(e.to_string()),
            )
        })
}

/// A client configuration with `verifier` and `alpn`.
///
/// `ClientConfig::builder()` would panic when both `ring` and `aws-lc-rs` are compiled in and
/// none is installed; an explicit provider never does.
fn client_config(
    provider: Arc<CryptoProvider>,
    verifier: Arc<dyn ServerCertVerifier>,
    alpn: Vec<Vec<u8>>,
) -> Result<Arc<ClientConfig>, rustls::Error> {
    // Fails only for a process-wide provider the application installed with no usable suites.
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        // `dangerous()` names the API for custom verifiers; this one verifies fully.
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = alpn;
    Ok(Arc::new(config))
}

/// The roots added with `add_root_certificates_pem`: every certificate in every PEM, each of
/// which must hold at least one.
fn added_roots(pems: &[Vec<u8>]) -> Result<RootCertStore, ConfigError> {
    let mut roots = RootCertStore::empty();
    for pem in pems {
        let bad = |why: String| {
            ConfigError::new(
                ConfigField::RootCertificates,
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
    Ok(roots)
}
