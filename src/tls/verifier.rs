//! The certificate verifiers behind [`Trust`](super::Trust): the platform's, built once per
//! process and crypto provider, and the union of it with the roots a builder added.
//!
//! Why not `rustls_platform_verifier::Verifier::new_with_extra_roots`, which takes added roots
//! itself: it bakes them into the verifier, so every connector with roots of its own would read
//! and parse the system's store again (on Linux, ~150 certificates from disk per `build()`; the
//! probe builds a connector per connection); on Linux it hides an empty system store as soon as
//! one root is added, so no fallback could be detected; Android has no such constructor; and
//! under Wine it fails outright (`CertCreateCertificateChainEngine`: E_INVALIDARG). Here the
//! platform's verifier is built once and shared, and added roots get a small webpki verifier
//! of their own, tried first: the same union of trust, on every platform.

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use tracing::debug;

use crate::error::ConfigError;
#[cfg(native_certs)]
use crate::error::{ConfigErrorReason, ConfigField};

/// The crypto provider a connector's configuration uses: the process-wide default when the
/// application installed one, and rustls's default (aws-lc-rs) otherwise. The latter is made
/// once, so that its `Arc` can key [`platform`]'s cache.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static OURS: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    match CryptoProvider::get_default() {
        Some(installed) => Arc::clone(installed),
        None => {
            Arc::clone(OURS.get_or_init(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider())))
        }
    }
}

/// Why the platform's verifier could not be built: the system's store yields no certificate.
#[derive(Debug, Clone)]
pub(crate) struct Unusable {
    /// The verifier's error and where the store was looked for, for people.
    pub(crate) reason: Arc<str>,
    /// When `SSL_CERT_FILE` or `SSL_CERT_DIR` named the store: the error `build()` returns, as
    /// falling back to webpki-roots would widen a trust narrowed on purpose.
    pub(crate) narrowed: Option<ConfigError>,
}

/// The platform's verifier for `provider`, or why there is none: built at the first call for
/// that provider and shared by every later one.
///
/// `rustls_platform_verifier::Verifier::new` fails only where the platform has no usable
/// store: on Linux and the BSDs, when the system's store (`SSL_CERT_FILE`, `SSL_CERT_DIR`, the
/// distribution's bundle) yields no certificate; on Windows, macOS, iOS and Android it does
/// not fail, and the OS decides at verification time. So its error is the "no usable store"
/// signal, found with the one read of the store the verifier needs anyway.
pub(crate) fn platform(
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, Unusable> {
    type Built = Result<Arc<dyn ServerCertVerifier>, Unusable>;
    // At most two entries: rustls's default and the one installed process-wide. The lock is
    // held while the store is read, so concurrent first builds read it once.
    static CACHE: Mutex<Vec<(Arc<CryptoProvider>, Built)>> = Mutex::new(Vec::new());
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, built)) = cache.iter().find(|(p, _)| Arc::ptr_eq(p, provider)) {
        return built.clone();
    }
    let built: Built = match rustls_platform_verifier::Verifier::new(Arc::clone(provider)) {
        Ok(verifier) => {
            debug!("platform verifier ready (built once per process)");
            Ok(Arc::new(verifier))
        }
        Err(err) => {
            let err = match err {
                rustls::Error::General(text) => text,
                other => other.to_string(),
            };
            let why: Arc<str> = format!("{err}{}", store_env()).into();
            debug!(reason = %why, "platform verifier unusable");
            Err(Unusable {
                reason: why,
                narrowed: narrowed_store(),
            })
        }
    };
    cache.push((Arc::clone(provider), built.clone()));
    built
}

/// When `SSL_CERT_FILE` or `SSL_CERT_DIR` is set as rustls-native-certs reads them (the file
/// whatever its value, the directories when one entry is not empty), the store is theirs
/// alone, not the distribution's: its being empty is then a mistake to report (a mistyped
/// path, an unreadable file, DER instead of PEM), naming the variable (the file's when both
/// are set), with what rustls-native-certs says of it. `None` when neither is set, and where
/// the OS verifies (these variables mean nothing there).
fn narrowed_store() -> Option<ConfigError> {
    #[cfg(native_certs)]
    {
        let file = std::env::var_os("SSL_CERT_FILE");
        let dir = std::env::var_os("SSL_CERT_DIR")
            .filter(|dirs| std::env::split_paths(dirs).any(|d| !d.as_os_str().is_empty()));
        let (field, value) = match (&file, &dir) {
            (Some(file), _) => (ConfigField::SslCertFile, file),
            (None, Some(dir)) => (ConfigField::SslCertDir, dir),
            (None, None) => return None,
        };
        // Read again, only on this failure, for the errors the verifier logs and drops.
        let found = rustls_native_certs::load_native_certs();
        let mut why: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
        if why.is_empty() {
            why.push(match found.certs.len() {
                0 => "no certificate found: certificates must be PEM".to_owned(),
                n => format!("none of its {n} certificates parses"),
            });
        }
        if let (Some(_), Some(dir)) = (&file, &dir) {
            why.push(format!(
                "SSL_CERT_DIR={} yields none either",
                dir.to_string_lossy()
            ));
        }
        Some(ConfigError::new(
            field,
            value.to_string_lossy(),
            ConfigErrorReason::NoCertificate(why.join("; ")),
        ))
    }
    #[cfg(not(native_certs))]
    None
}

/// Where the system's store was looked for, for the fallback's reason: the variables
/// rustls-native-certs reads, on the platforms where it is what the verifier reads.
fn store_env() -> String {
    if !cfg!(native_certs) {
        return String::new();
    }
    let var = |name: &str| match std::env::var_os(name) {
        Some(value) => format!("{name}={}", value.to_string_lossy()),
        None => format!("{name} unset"),
    };
    format!("; {}, {}", var("SSL_CERT_FILE"), var("SSL_CERT_DIR"))
}

/// The more telling of two refusals. When the added roots' verifier found a path to one of its
/// roots, the chain is one of theirs and what failed is the chain itself (a name it is not
/// valid for, an expiry): that is the error, whatever the platform says of a root it may not
/// know (Windows says "untrusted root", Wine a failed revocation check). When it found none
/// ("unknown issuer", or "bad signature" when an added root merely shares its name with the
/// chain's real issuer), the platform's word stands.
fn telling(added: rustls::Error, platform: rustls::Error) -> rustls::Error {
    let no_path = matches!(
        added,
        rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer | CertificateError::BadSignature
        )
    );
    if no_path {
        platform
    } else {
        added
    }
}

/// Trusts a chain when either verifier does: the roots a builder added (webpki, tried first:
/// no system call, and a chain to none of them fails fast with `UnknownIssuer`), then the
/// platform's. Hostname checks are part of both.
pub(crate) struct AddedOrPlatform {
    pub(crate) added: Arc<WebPkiServerVerifier>,
    pub(crate) platform: Arc<dyn ServerCertVerifier>,
}

impl fmt::Debug for AddedOrPlatform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddedOrPlatform").finish_non_exhaustive()
    }
}

impl ServerCertVerifier for AddedOrPlatform {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let added = match self.added.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(verified) => return Ok(verified),
            Err(err) => err,
        };
        self.platform
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map_err(|platform| telling(added, platform))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // Both verifiers check signatures with the same crypto provider's algorithms.
        self.added.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.added.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.added.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keepalive_testserver::{LeafKind, TestCa};
    use rustls::pki_types::ServerName;

    /// A webpki verifier trusting `ca` only.
    fn trusting(ca: &TestCa) -> Arc<WebPkiServerVerifier> {
        WebPkiServerVerifier::builder_with_provider(Arc::new(ca.root_store()), provider())
            .build()
            .unwrap()
    }

    /// What `verifier` says about a `kind` leaf of `ca` for `localhost`.
    fn verify(
        verifier: &dyn ServerCertVerifier,
        ca: &TestCa,
        kind: LeafKind,
    ) -> Result<(), rustls::Error> {
        let leaf = ca.leaf(kind);
        let name = ServerName::try_from("localhost").unwrap();
        verifier
            .verify_server_cert(
                &leaf.chain[0],
                &leaf.chain[1..],
                &name,
                &[],
                UnixTime::now(),
            )
            .map(|_| ())
    }

    fn cert_err(result: Result<(), rustls::Error>) -> CertificateError {
        match result {
            Err(rustls::Error::InvalidCertificate(e)) => e,
            other => panic!("not a certificate error: {other:?}"),
        }
    }

    fn is_name_error(e: &CertificateError) -> bool {
        matches!(
            e,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
        )
    }

    fn is_expired(e: &CertificateError) -> bool {
        matches!(
            e,
            CertificateError::Expired | CertificateError::ExpiredContext { .. }
        )
    }

    /// The union with a stand-in platform verifier (webpki over another CA): either side's
    /// chains pass, and a refusal names what is wrong with the chain, whichever side it is on.
    #[test]
    fn added_or_platform_is_the_union_with_the_telling_error() {
        let added_ca = TestCa::named("added CA");
        let platform_ca = TestCa::named("platform CA");
        let union = AddedOrPlatform {
            added: trusting(&added_ca),
            platform: trusting(&platform_ca),
        };
        assert_eq!(verify(&union, &added_ca, LeafKind::Good), Ok(()));
        assert_eq!(verify(&union, &platform_ca, LeafKind::Good), Ok(()));
        // To neither: unknown issuer.
        let stranger = TestCa::named("stranger CA");
        assert_eq!(
            cert_err(verify(&union, &stranger, LeafKind::Good)),
            CertificateError::UnknownIssuer
        );
        // A wrong name or an expiry on either side's chain is said as such.
        for ca in [&added_ca, &platform_ca] {
            let err = cert_err(verify(&union, ca, LeafKind::OtherName));
            assert!(is_name_error(&err), "{err:?}");
            let err = cert_err(verify(&union, ca, LeafKind::Expired));
            assert!(is_expired(&err), "{err:?}");
        }
        assert_eq!(
            union.supported_verify_schemes(),
            trusting(&platform_ca).supported_verify_schemes()
        );
    }

    /// An added root named like the platform's real issuer (two CAs with one name, different
    /// keys) only sees a signature it did not make: the platform's verdict still decides, and
    /// its error is the one reported.
    #[test]
    fn an_added_root_sharing_a_name_does_not_mask_the_platform() {
        let (added_ca, platform_ca) = (TestCa::new(), TestCa::new());
        let union = AddedOrPlatform {
            added: trusting(&added_ca),
            platform: trusting(&platform_ca),
        };
        assert_eq!(verify(&union, &platform_ca, LeafKind::Good), Ok(()));
        assert_eq!(verify(&union, &added_ca, LeafKind::Good), Ok(()));
        let err = cert_err(verify(&union, &platform_ca, LeafKind::Expired));
        assert!(is_expired(&err), "{err:?}");
        let err = cert_err(verify(&union, &added_ca, LeafKind::OtherName));
        assert!(is_name_error(&err), "{err:?}");
    }

    /// A platform verifier that refuses everything, as Windows' does under Wine (its
    /// revocation check cannot run there).
    #[derive(Debug)]
    struct RefusesAll(rustls::Error);

    impl ServerCertVerifier for RefusesAll {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Err(self.0.clone())
        }

        fn verify_tls12_signature(
            &self,
            _: &[u8],
            _: &CertificateDer<'_>,
            _: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            Err(self.0.clone())
        }

        fn verify_tls13_signature(
            &self,
            _: &[u8],
            _: &CertificateDer<'_>,
            _: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            Err(self.0.clone())
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            Vec::new()
        }
    }

    /// Whatever the platform's verifier says of a chain it does not know the root of, a chain
    /// to an added root is judged by the added roots: accepted when good, refused for its own
    /// fault otherwise.
    #[test]
    fn added_roots_decide_their_chains_whatever_the_platform_says() {
        let added_ca = TestCa::named("added CA");
        let revocation = rustls::Error::InvalidCertificate(CertificateError::Other(
            rustls::OtherError(Arc::new(std::io::Error::other("CERT_E_REVOCATION_FAILURE"))),
        ));
        let union = AddedOrPlatform {
            added: trusting(&added_ca),
            platform: Arc::new(RefusesAll(revocation)),
        };
        assert_eq!(verify(&union, &added_ca, LeafKind::Good), Ok(()));
        let err = cert_err(verify(&union, &added_ca, LeafKind::OtherName));
        assert!(is_name_error(&err), "{err:?}");
        let err = cert_err(verify(&union, &added_ca, LeafKind::Expired));
        assert!(is_expired(&err), "{err:?}");
        // A chain to no added root: the platform's word.
        let stranger = TestCa::named("stranger CA");
        let err = verify(&union, &stranger, LeafKind::Good).unwrap_err();
        assert!(
            err.to_string().contains("CERT_E_REVOCATION_FAILURE"),
            "{err}"
        );
    }

    /// The store is read once per provider: later calls get the same verifier (or the same
    /// reason there is none).
    #[test]
    fn the_platform_verifier_is_built_once_per_provider() {
        let ours = provider();
        assert!(Arc::ptr_eq(&ours, &provider()), "one default provider");
        match (platform(&ours), platform(&ours)) {
            (Ok(a), Ok(b)) => assert!(Arc::ptr_eq(&a, &b)),
            (Err(a), Err(b)) => assert!(Arc::ptr_eq(&a.reason, &b.reason)),
            other => panic!("the cache changed its answer: {other:?}"),
        }
        // Another provider instance gets a verifier of its own.
        let other = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        if let (Ok(a), Ok(b)) = (platform(&ours), platform(&other)) {
            assert!(!Arc::ptr_eq(&a, &b));
        }
    }
}
