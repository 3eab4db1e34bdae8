//! Certificates made at start with rcgen: a private CA and leaf certificates it signs.

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A throw-away certificate authority (ECDSA P-256), trusted only by whoever is handed its PEM.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    cert_der: CertificateDer<'static>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

/// A leaf certificate chain and its private key, ready for a rustls `ServerConfig`.
#[derive(Debug)]
pub struct Leaf {
    /// The leaf, then the CA that signed it.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key.
    pub key: PrivateKeyDer<'static>,
}

/// How a leaf certificate is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeafKind {
    /// Valid for `localhost`, `127.0.0.1` and `::1`, signed by the CA.
    Good,
    /// Valid, signed by the CA, but only for `other.invalid`.
    OtherName,
    /// For `localhost`, signed by the CA, expired in 2020.
    Expired,
    /// For `localhost`, but self-signed: no trust store holds it.
    Untrusted,
}

impl TestCa {
    /// A new CA with a fresh key, named `keepalive-testserver CA` (as every other one: a
    /// verifier tells them apart by key, see [`TestCa::named`]).
    pub fn new() -> TestCa {
        TestCa::named("keepalive-testserver CA")
    }

    /// A new CA with a fresh key and this common name.
    pub fn named(common_name: &str) -> TestCa {
        let key = KeyPair::generate().expect("rcgen generates an ECDSA P-256 key");
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).expect("rcgen signs the CA");
        TestCa {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// The CA certificate in PEM, for `add_root_certificates_pem`.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate in DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// A rustls root store holding only this CA.
    pub fn root_store(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.cert_der.clone()).expect("our own CA parses");
        roots
    }

    /// Makes a leaf certificate of the given kind.
    pub fn leaf(&self, kind: LeafKind) -> Leaf {
        self.leaf_for(kind, None)
    }

    /// Makes a leaf certificate of the given kind that also names `ip` (a server bound to an
    /// address of a network namespace), unless the kind names another host.
    pub fn leaf_for(&self, kind: LeafKind, ip: Option<std::net::IpAddr>) -> Leaf {
        let mut names: Vec<String> = match kind {
            LeafKind::OtherName => vec!["other.invalid".into()],
            _ => vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
        };
        if let Some(ip) = ip.filter(|ip| kind != LeafKind::OtherName && !ip.is_loopback()) {
            names.push(ip.to_string());
        }
        let mut params = CertificateParams::new(names).expect("valid subject alt names");
        if kind == LeafKind::Expired {
            params.not_before = date_time_ymd(2019, 1, 1);
            params.not_after = date_time_ymd(2020, 1, 1);
        }
        let key = KeyPair::generate().expect("rcgen generates an ECDSA P-256 key");
        let cert = match kind {
            LeafKind::Untrusted => params.self_signed(&key),
            _ => params.signed_by(&key, &self.issuer),
        }
        .expect("rcgen signs the leaf");
        let mut chain = vec![cert.der().clone()];
        if kind != LeafKind::Untrusted {
            chain.push(self.cert_der.clone());
        }
        Leaf {
            chain,
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        }
    }
}

impl TestCa {
    /// A client certificate (extended key usage `clientAuth`) for `name`, signed by the CA:
    /// what a client presents to a server that asks for one.
    pub fn client_leaf(&self, name: &str) -> Leaf {
        let mut params =
            CertificateParams::new(vec![name.to_owned()]).expect("a valid subject alt name");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().expect("rcgen generates an ECDSA P-256 key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("rcgen signs the client certificate");
        Leaf {
            chain: vec![cert.der().clone(), self.cert_der.clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        }
    }
}

impl Default for TestCa {
    fn default() -> Self {
        TestCa::new()
    }
}
