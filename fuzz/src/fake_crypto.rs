//! A deterministic, partly fake rustls crypto provider, so that a recorded server flight replays
//! past `Finished` and the fuzzer can mutate the encrypted handshake messages.
//!
//! A recorded flight only verifies against the exact ClientHello it answered: the server's key
//! share, signatures and `Finished` cover the client's random, session id, key share and
//! extension order. With the real provider those are fresh on every run, so a replayed TLS 1.3
//! flight stops at the first encrypted record and a TLS 1.2 flight at the ServerKeyExchange
//! signature. This provider makes both sides deterministic and lets mutations through:
//!
//! | piece | real or fake | why |
//! |---|---|---|
//! | `secure_random` | fake: constant bytes | the same ClientHello (random, session id, extension order) every run |
//! | key exchange | fake: constant public key and shared secret, under the real group names `x25519` and `secp384r1` | both sides derive the same keys from any recorded flight; `secp384r1` alone on the server forces a HelloRetryRequest |
//! | record protection | fake: identity "AEAD" (TLS 1.3 keeps its inner content type) | the fuzzer sees and mutates EncryptedExtensions, Certificate, CertificateVerify, Finished, NewSessionTicket in clear |
//! | `Finished` (TLS 1.3 HMAC, TLS 1.2 PRF) | fake: constant verify data | a mutated transcript still reaches the states after `Finished` |
//! | signature verification | fake: ECDSA P-256/SHA-256 always verifies | certificate chains and CertificateVerify/ServerKeyExchange signatures over mutated bytes are accepted, so certificate parsing and path building by webpki are still real |
//! | hashing, HKDF, key schedule, certificate parsing, name checks, signing (server side) | real (aws-lc-rs, webpki) | |
//!
//! Only the fuzz targets (through [`Builder::tls_config`](keepalive_connector::Builder::tls_config))
//! and the seed recorder use it; it is never installed as the process default.

use std::sync::Arc;

use rustls::crypto::cipher::{
    AeadKey, InboundOpaqueMessage, InboundPlainMessage, Iv, KeyBlockShape, MessageDecrypter,
    MessageEncrypter, OutboundOpaqueMessage, OutboundPlainMessage, PrefixedPayload,
    Tls12AeadAlgorithm, Tls13AeadAlgorithm, UnsupportedOperationError,
};
use rustls::crypto::tls12::Prf;
use rustls::crypto::tls13::{Hkdf, HkdfExpander, OkmBlock};
use rustls::crypto::{
    hmac, ActiveKeyExchange, CryptoProvider, GetRandomFailed, SecureRandom, SharedSecret,
    SupportedKxGroup, WebPkiSupportedAlgorithms,
};
use rustls::pki_types::{
    alg_id, AlgorithmIdentifier, InvalidSignature, SignatureVerificationAlgorithm,
};
use rustls::{
    CipherSuite, CipherSuiteCommon, ConnectionTrafficSecrets, ContentType, Error, NamedGroup,
    ProtocolVersion, SignatureScheme, SupportedCipherSuite, Tls12CipherSuite, Tls13CipherSuite,
};

/// The client's provider: both fake groups, `x25519` first.
pub fn client_provider() -> Arc<CryptoProvider> {
    Arc::new(provider(
        vec![&FAKE_X25519, &FAKE_SECP384R1],
        &CLIENT_RANDOM,
    ))
}

/// The recording server's provider.
pub fn server_provider() -> Arc<CryptoProvider> {
    Arc::new(provider(
        vec![&FAKE_X25519, &FAKE_SECP384R1],
        &SERVER_RANDOM,
    ))
}

/// A server provider that knows only `secp384r1`, so a client that sends an `x25519` key share
/// first gets a HelloRetryRequest.
pub fn server_provider_hrr() -> Arc<CryptoProvider> {
    Arc::new(provider(vec![&FAKE_SECP384R1], &SERVER_RANDOM))
}

fn provider(
    kx_groups: Vec<&'static dyn SupportedKxGroup>,
    secure_random: &'static ConstantRandom,
) -> CryptoProvider {
    let real = rustls::crypto::aws_lc_rs::default_provider();
    CryptoProvider {
        cipher_suites: suites(),
        kx_groups,
        signature_verification_algorithms: WebPkiSupportedAlgorithms {
            all: ACCEPT_ALL,
            mapping: ACCEPT_MAPPING,
        },
        secure_random,
        key_provider: real.key_provider,
    }
}

/// One TLS 1.3 and one TLS 1.2 suite, built on aws-lc-rs's hash, HKDF and PRF, with the
/// identity AEAD and constant `Finished`.
fn suites() -> Vec<SupportedCipherSuite> {
    use rustls::crypto::aws_lc_rs::cipher_suite as real;
    static SUITES: std::sync::OnceLock<Vec<SupportedCipherSuite>> = std::sync::OnceLock::new();
    SUITES
        .get_or_init(|| {
            let Some(tls13) = real::TLS13_AES_128_GCM_SHA256.tls13() else {
                unreachable!("a TLS 1.3 suite")
            };
            let SupportedCipherSuite::Tls12(tls12) = real::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
            else {
                unreachable!("a TLS 1.2 suite")
            };
            let hkdf: &'static ConstantFinishedHkdf =
                Box::leak(Box::new(ConstantFinishedHkdf(tls13.hkdf_provider)));
            let prf: &'static ConstantFinishedPrf =
                Box::leak(Box::new(ConstantFinishedPrf(tls12.prf_provider)));
            let suite13: &'static Tls13CipherSuite = Box::leak(Box::new(Tls13CipherSuite {
                common: CipherSuiteCommon {
                    suite: CipherSuite::TLS13_AES_128_GCM_SHA256,
                    hash_provider: tls13.common.hash_provider,
                    confidentiality_limit: u64::MAX,
                },
                hkdf_provider: hkdf,
                aead_alg: &IdentityAead,
                quic: None,
            }));
            let suite12: &'static Tls12CipherSuite = Box::leak(Box::new(Tls12CipherSuite {
                common: CipherSuiteCommon {
                    suite: CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                    hash_provider: tls12.common.hash_provider,
                    confidentiality_limit: u64::MAX,
                },
                prf_provider: prf,
                kx: tls12.kx,
                sign: &[SignatureScheme::ECDSA_NISTP256_SHA256],
                aead_alg: &IdentityAead,
            }));
            vec![
                SupportedCipherSuite::Tls13(suite13),
                SupportedCipherSuite::Tls12(suite12),
            ]
        })
        .clone()
}

/// "Random" bytes that are all the same. Client and server differ, or a TLS 1.2 server's
/// session id would equal the client's and look echoed.
#[derive(Debug)]
struct ConstantRandom(u8);

static CLIENT_RANDOM: ConstantRandom = ConstantRandom(0x5a);
static SERVER_RANDOM: ConstantRandom = ConstantRandom(0xa5);

impl SecureRandom for ConstantRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        buf.fill(self.0);
        Ok(())
    }
}

/// A key exchange whose public key and shared secret are constants.
#[derive(Debug)]
struct FakeKx {
    name: NamedGroup,
    pub_key: &'static [u8],
}

static FAKE_X25519: FakeKx = FakeKx {
    name: NamedGroup::X25519,
    pub_key: &[0x11; 32],
};

static FAKE_SECP384R1: FakeKx = FakeKx {
    name: NamedGroup::secp384r1,
    pub_key: &[0x04; 97],
};

impl SupportedKxGroup for FakeKx {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, Error> {
        Ok(Box::new(FakeActiveKx {
            name: self.name,
            pub_key: self.pub_key,
        }))
    }

    fn name(&self) -> NamedGroup {
        self.name
    }
}

struct FakeActiveKx {
    name: NamedGroup,
    pub_key: &'static [u8],
}

impl ActiveKeyExchange for FakeActiveKx {
    fn complete(self: Box<Self>, peer_pub_key: &[u8]) -> Result<SharedSecret, Error> {
        // Still refuses what every real group refuses, so that path stays reachable.
        if peer_pub_key.is_empty() {
            return Err(Error::from(rustls::PeerMisbehaved::InvalidKeyShare));
        }
        Ok(SharedSecret::from(&[0x33u8; 32][..]))
    }

    fn pub_key(&self) -> &[u8] {
        self.pub_key
    }

    fn group(&self) -> NamedGroup {
        self.name
    }
}

/// Real HKDF, but the HMAC behind `Finished` is a constant.
struct ConstantFinishedHkdf(&'static dyn Hkdf);

impl Hkdf for ConstantFinishedHkdf {
    fn extract_from_zero_ikm(&self, salt: Option<&[u8]>) -> Box<dyn HkdfExpander> {
        self.0.extract_from_zero_ikm(salt)
    }

    fn extract_from_secret(&self, salt: Option<&[u8]>, secret: &[u8]) -> Box<dyn HkdfExpander> {
        self.0.extract_from_secret(salt, secret)
    }

    fn expander_for_okm(&self, okm: &OkmBlock) -> Box<dyn HkdfExpander> {
        self.0.expander_for_okm(okm)
    }

    fn hmac_sign(&self, _key: &OkmBlock, _message: &[u8]) -> hmac::Tag {
        hmac::Tag::new(&[0x42; 32])
    }
}

/// The real TLS 1.2 PRF, except that `client finished` / `server finished` are constants.
struct ConstantFinishedPrf(&'static dyn Prf);

impl Prf for ConstantFinishedPrf {
    fn for_key_exchange(
        &self,
        output: &mut [u8; 48],
        kx: Box<dyn ActiveKeyExchange>,
        peer_pub_key: &[u8],
        label: &[u8],
        seed: &[u8],
    ) -> Result<(), Error> {
        self.0
            .for_key_exchange(output, kx, peer_pub_key, label, seed)
    }

    fn for_secret(&self, output: &mut [u8], secret: &[u8], label: &[u8], seed: &[u8]) {
        if label.ends_with(b"finished") {
            output.fill(0x42);
        } else {
            self.0.for_secret(output, secret, label, seed);
        }
    }
}

/// Record "protection" that leaves the plaintext as it is.
struct IdentityAead;

struct IdentityTls13;

impl MessageEncrypter for IdentityTls13 {
    fn encrypt(
        &mut self,
        msg: OutboundPlainMessage<'_>,
        _seq: u64,
    ) -> Result<OutboundOpaqueMessage, Error> {
        let mut payload = PrefixedPayload::with_capacity(msg.payload.len() + 1);
        payload.extend_from_chunks(&msg.payload);
        payload.extend_from_slice(&msg.typ.to_array());
        Ok(OutboundOpaqueMessage::new(
            ContentType::ApplicationData,
            ProtocolVersion::TLSv1_2,
            payload,
        ))
    }

    fn encrypted_payload_len(&self, payload_len: usize) -> usize {
        payload_len + 1
    }
}

impl MessageDecrypter for IdentityTls13 {
    fn decrypt<'a>(
        &mut self,
        msg: InboundOpaqueMessage<'a>,
        _seq: u64,
    ) -> Result<InboundPlainMessage<'a>, Error> {
        msg.into_tls13_unpadded_message()
    }
}

struct IdentityTls12;

impl MessageEncrypter for IdentityTls12 {
    fn encrypt(
        &mut self,
        msg: OutboundPlainMessage<'_>,
        _seq: u64,
    ) -> Result<OutboundOpaqueMessage, Error> {
        let mut payload = PrefixedPayload::with_capacity(msg.payload.len());
        payload.extend_from_chunks(&msg.payload);
        Ok(OutboundOpaqueMessage::new(msg.typ, msg.version, payload))
    }

    fn encrypted_payload_len(&self, payload_len: usize) -> usize {
        payload_len
    }
}

impl MessageDecrypter for IdentityTls12 {
    fn decrypt<'a>(
        &mut self,
        msg: InboundOpaqueMessage<'a>,
        _seq: u64,
    ) -> Result<InboundPlainMessage<'a>, Error> {
        Ok(msg.into_plain_message())
    }
}

impl Tls13AeadAlgorithm for IdentityAead {
    fn encrypter(&self, _key: AeadKey, _iv: Iv) -> Box<dyn MessageEncrypter> {
        Box::new(IdentityTls13)
    }

    fn decrypter(&self, _key: AeadKey, _iv: Iv) -> Box<dyn MessageDecrypter> {
        Box::new(IdentityTls13)
    }

    fn key_len(&self) -> usize {
        16
    }

    fn extract_keys(
        &self,
        _key: AeadKey,
        _iv: Iv,
    ) -> Result<ConnectionTrafficSecrets, UnsupportedOperationError> {
        Err(UnsupportedOperationError)
    }
}

impl Tls12AeadAlgorithm for IdentityAead {
    fn encrypter(&self, _key: AeadKey, _iv: &[u8], _extra: &[u8]) -> Box<dyn MessageEncrypter> {
        Box::new(IdentityTls12)
    }

    fn decrypter(&self, _key: AeadKey, _iv: &[u8]) -> Box<dyn MessageDecrypter> {
        Box::new(IdentityTls12)
    }

    fn key_block_shape(&self) -> KeyBlockShape {
        KeyBlockShape {
            enc_key_len: 16,
            fixed_iv_len: 4,
            explicit_nonce_len: 8,
        }
    }

    fn extract_keys(
        &self,
        _key: AeadKey,
        _iv: &[u8],
        _explicit: &[u8],
    ) -> Result<ConnectionTrafficSecrets, UnsupportedOperationError> {
        Err(UnsupportedOperationError)
    }
}

/// ECDSA P-256 with SHA-256 that accepts every signature (but still needs a non-empty one).
#[derive(Debug)]
struct AcceptEcdsaP256Sha256;

static ACCEPT_ECDSA_P256_SHA256: AcceptEcdsaP256Sha256 = AcceptEcdsaP256Sha256;
static ACCEPT_ALL: &[&dyn SignatureVerificationAlgorithm] = &[&ACCEPT_ECDSA_P256_SHA256];
static ACCEPT_MAPPING: &[(SignatureScheme, &[&dyn SignatureVerificationAlgorithm])] = &[(
    SignatureScheme::ECDSA_NISTP256_SHA256,
    &[&ACCEPT_ECDSA_P256_SHA256],
)];

impl SignatureVerificationAlgorithm for AcceptEcdsaP256Sha256 {
    fn verify_signature(
        &self,
        _public_key: &[u8],
        _message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        if signature.is_empty() {
            return Err(InvalidSignature);
        }
        Ok(())
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_P256
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_SHA256
    }
}
