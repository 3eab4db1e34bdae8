//! Trust as the builder chooses it, with the process's environment as it is: every [`Trust`]
//! with the test CA added connects, none trusts the private CA without it, and hostname and
//! expiry checks hold under each. The system's store itself (`SSL_CERT_FILE`, the fallback when
//! it is empty) is tested in `tests/trust_env.rs`, each case in a process of its own.
//!
//! These run on every platform: under `Trust::Platform` a chain to an added root is accepted by
//! the added roots' own verifier before the platform's is asked, and one to no added root goes
//! to the platform's verifier (Windows' CryptoAPI, macOS's Security framework, webpki over the
//! system store elsewhere), which must refuse the test CA.

use keepalive_connector::{ConnectError, Connector, Phase, Trust};
use keepalive_testserver::{LeafKind, TestServer};
use rustls::CertificateError;

use crate::support::localhost;

/// A connector in `trust`, the test server's CA added when `add_ca`, resolving `localhost` to
/// the server.
fn connector(server: &TestServer, trust: Trust, add_ca: bool) -> Connector {
    let mut builder = Connector::builder()
        .trust(trust)
        .dns_resolver(localhost(server));
    if add_ca {
        builder = builder.add_root_certificates_pem(server.ca_pem().as_bytes());
    }
    builder.build().expect("the connector builds")
}

/// The certificate error of a failed connect to `server` by name, which must be a TLS error.
async fn cert_error(connector: &Connector, server: &TestServer) -> CertificateError {
    let err: ConnectError = connector
        .connect(&server.url_by_name("/").parse().unwrap())
        .await
        .expect_err("the certificate is refused");
    assert_eq!(err.phase(), Phase::Tls, "{err}");
    match err.tls_error() {
        Some(rustls::Error::InvalidCertificate(e)) => e.clone(),
        other => panic!("not a certificate error: {other:?} ({err})"),
    }
}

/// Where the platform's verifier is webpki over the system store (Linux, the BSDs), an
/// unknown CA is exactly `UnknownIssuer`; the OS verifiers may word it otherwise (Wine reports
/// a revocation failure), so elsewhere any certificate error will do.
fn is_unknown_issuer(err: &CertificateError) -> bool {
    !cfg!(native_certs) || *err == CertificateError::UnknownIssuer
}

#[tokio::test]
async fn every_trust_connects_with_the_ca_added_and_says_so() {
    let server = TestServer::start().await.unwrap();
    for trust in Trust::ALL {
        let connector = connector(&server, trust, true);
        let info = connector.trust();
        assert_eq!(info.requested(), Some(trust));
        assert_eq!(info.added_roots(), 1, "{info}");
        // Only Platform can fall back, and then to webpki-roots, with a reason.
        match info.fallback_reason() {
            None => assert_eq!(info.in_force(), Some(trust), "{info}"),
            Some(_) => {
                assert_eq!(trust, Trust::Platform, "{info}");
                assert_eq!(info.in_force(), Some(Trust::WebpkiRoots), "{info}");
            }
        }
        let conn = connector
            .connect(&server.url_by_name("/").parse().unwrap())
            .await
            .unwrap_or_else(|e| panic!("{trust}: {e}"));
        assert!(conn.info().tls().is_some(), "{trust}");
    }
}

#[tokio::test]
async fn no_trust_accepts_a_private_ca_not_added() {
    let server = TestServer::start().await.unwrap();
    for trust in [Trust::Platform, Trust::WebpkiRoots] {
        let err = cert_error(&connector(&server, trust, false), &server).await;
        assert!(is_unknown_issuer(&err), "{trust}: {err:?}");
    }
}

/// Hostname verification stays on whoever verifies: the test CA's certificate for
/// `other.invalid` is refused for `localhost` under every trust.
#[tokio::test]
async fn a_certificate_for_another_name_is_refused_under_every_trust() {
    let server = TestServer::builder()
        .leaf(LeafKind::OtherName)
        .start()
        .await
        .unwrap();
    for trust in Trust::ALL {
        let err = cert_error(&connector(&server, trust, true), &server).await;
        assert!(
            matches!(
                err,
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            ),
            "{trust}: {err:?}"
        );
    }
}

/// Under `Trust::Platform` with roots added, a chain to an added root that fails for its own
/// reason reports that reason, not the platform's "unknown issuer"; a chain to no added root
/// reports the platform's word.
#[tokio::test]
async fn platform_with_added_roots_reports_the_telling_error() {
    let expired = TestServer::builder()
        .leaf(LeafKind::Expired)
        .start()
        .await
        .unwrap();
    let err = cert_error(&connector(&expired, Trust::Platform, true), &expired).await;
    assert!(
        matches!(
            err,
            CertificateError::Expired | CertificateError::ExpiredContext { .. }
        ),
        "{err:?}"
    );

    let self_signed = TestServer::builder()
        .leaf(LeafKind::Untrusted)
        .start()
        .await
        .unwrap();
    let err = cert_error(
        &connector(&self_signed, Trust::Platform, true),
        &self_signed,
    )
    .await;
    assert!(is_unknown_issuer(&err), "{err:?}");
}

/// Where the OS verifies (Windows, macOS), there is no store to find empty: `Trust::Platform`
/// is always in force, and a connect without the CA added runs the OS's verifier, which
/// refuses it.
#[cfg(not(native_certs))]
#[tokio::test]
async fn the_os_verifier_is_in_force_and_runs() {
    let server = TestServer::start().await.unwrap();
    let connector = connector(&server, Trust::Platform, false);
    assert_eq!(connector.trust().in_force(), Some(Trust::Platform));
    assert_eq!(connector.trust().fallback_reason(), None);
    let err = cert_error(&connector, &server).await;
    println!("the OS verifier says: {err:?}");
}

#[test]
fn webpki_roots_and_added_roots_only_never_fall_back() {
    for trust in [Trust::WebpkiRoots, Trust::AddedRootsOnly] {
        let ca = keepalive_testserver::TestCa::new();
        let connector = Connector::builder()
            .trust(trust)
            .add_root_certificates_pem(ca.cert_pem().as_bytes())
            .build()
            .unwrap();
        assert_eq!(connector.trust().in_force(), Some(trust));
        assert_eq!(connector.trust().fallback_reason(), None);
    }
}
