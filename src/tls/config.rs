//! Assembling the rustls `ClientConfig` a connector shares: the crypto provider, the trust
//! store, and the ALPN list; or checking one the user brought.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::ClientConfig;

use crate::error::{ConfigError, ConfigErrorReason, ConfigField, Conflict};
use crate::http_version::HttpVersions;

/// What the builder collected about trust and TLS, before validation.
#[derive(Debug, Clone)]
pub(crate) struct TlsOptions {
    pub(crate) extra_roots_pem: Vec<Vec<u8>>,
    pub(crate) builtin_roots: bool,
    pub(crate) tls_config: Option<Arc<ClientConfig>>,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            extra_roots_pem: Vec::new(),
            builtin_roots: true,
            tls_config: None,
        }
    }
}

impl TlsOptions {
    /// The one client configuration every connection of a connector shares, so its session
    /// cache lets later connections resume TLS sessions.
    pub(crate) fn build(self, http: HttpVersions) -> Result<Arc<ClientConfig>, ConfigError> {
        let Some(config) = self.tls_config else {
            let roots = root_store(self.builtin_roots, &self.extra_roots_pem)?;
            return client_config(roots, http.alpn()).map_err(|e| {
                ConfigError::new(
                    ConfigField::CryptoProvider,
                    "crypto provider",
                    ConfigErrorReason::Tls(Box::new(e)),
                )
            });
        };
        if !self.extra_roots_pem.is_empty() || !self.builtin_roots {
            return Err(ConfigError::new(
                ConfigField::TlsConfig,
                "custom rustls::ClientConfig",
                ConfigErrorReason::Conflict(Conflict::RootsWithTlsConfig),
            ));
        }
        http.check_alpn_list(&config.alpn_protocols)?;
        if config.alpn_protocols.is_empty() {
            let mut config = (*config).clone();
            config.alpn_protocols = http.alpn();
            Ok(Arc::new(config))
        } else {
            Ok(config)
        }
    }
}

/// A client configuration with `roots` and `alpn`.
///
/// Uses the process-wide default crypto provider when the application installed one, and
/// rustls's default (aws-lc-rs) otherwise. `ClientConfig::builder()` would panic when both
/// `ring` and `aws-lc-rs` are compiled in and none is installed; this never does.
fn client_config(
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
fn root_store(builtin: bool, pems: &[Vec<u8>]) -> Result<rustls::RootCertStore, ConfigError> {
    let mut roots = rustls::RootCertStore::empty();
    if builtin {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
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
    if roots.is_empty() {
        return Err(ConfigError::new(
            ConfigField::BuiltinRoots,
            false,
            ConfigErrorReason::Conflict(Conflict::NothingTrusted),
        ));
    }
    Ok(roots)
}
