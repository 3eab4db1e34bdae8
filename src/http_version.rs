//! The one place that decides the HTTP version: what ALPN offers, which `tls_config` ALPN
//! lists contradict the builder, whether a negotiated protocol is acceptable, and whether a
//! connection speaks HTTP/2 (hyper-util's `negotiated_h2`).

use std::fmt;

use crate::error::{ConfigError, ConfigErrorReason, ConfigField, Conflict};
use crate::info::TlsInfo;

const H2: &[u8] = b"h2";
const HTTP_1_1: &[u8] = b"http/1.1";
/// The ALPN ids of HTTP/1.x (RFC 7301's registry).
const HTTP_1: [&[u8]; 2] = [HTTP_1_1, b"http/1.0"];

/// Which HTTP versions a connector speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HttpVersions {
    Both,
    Http1Only,
    Http2Only,
}

impl HttpVersions {
    /// The ALPN list to offer.
    pub(crate) fn alpn(self) -> Vec<Vec<u8>> {
        match self {
            HttpVersions::Both => vec![H2.to_vec(), HTTP_1_1.to_vec()],
            HttpVersions::Http1Only => vec![HTTP_1_1.to_vec()],
            HttpVersions::Http2Only => vec![H2.to_vec()],
        }
    }

    /// Refuses a user's ALPN list that contradicts `http1_only()`/`http2_only()`: the first may
    /// not offer `h2`, the second must offer it and no HTTP/1.x (a server could choose that, and
    /// the handshake would then fail). An empty list is no contradiction:
    /// [`alpn`](HttpVersions::alpn) fills it in.
    pub(crate) fn check_alpn_list(self, offered: &[Vec<u8>]) -> Result<(), ConfigError> {
        let offers_h2 = offered.iter().any(|p| p == H2);
        let offers_http1 = offered.iter().any(|p| HTTP_1.contains(&p.as_slice()));
        let conflict = match self {
            _ if offered.is_empty() => None,
            HttpVersions::Both => None,
            HttpVersions::Http1Only if offers_h2 => Some(Conflict::Http1OnlyButAlpnOffersH2),
            HttpVersions::Http2Only if !offers_h2 => Some(Conflict::Http2OnlyButAlpnLacksH2),
            HttpVersions::Http2Only if offers_http1 => Some(Conflict::Http2OnlyButAlpnOffersHttp1),
            _ => None,
        };
        match conflict {
            Some(conflict) => Err(ConfigError::new(
                ConfigField::TlsConfig,
                "alpn_protocols",
                ConfigErrorReason::Conflict(conflict),
            )),
            None => Ok(()),
        }
    }

    /// Checks what the handshake negotiated: with only `h2` offered, a server that chose
    /// anything else (or nothing) cannot be spoken to.
    pub(crate) fn check_negotiated(self, tls: &TlsInfo) -> Result<(), AlpnRefused> {
        if self == HttpVersions::Http2Only && tls.alpn() != Some(H2) {
            return Err(AlpnRefused {
                chosen: tls.alpn().map(<[u8]>::to_vec),
            });
        }
        Ok(())
    }

    /// Whether a connection speaks HTTP/2: over TLS when ALPN chose `h2`; over plain TCP only
    /// with `http2_only()` (prior knowledge).
    pub(crate) fn is_h2(self, tls: Option<&TlsInfo>) -> bool {
        match tls {
            Some(tls) => tls.alpn() == Some(H2),
            None => self == HttpVersions::Http2Only,
        }
    }
}

/// The server chose no ALPN protocol, or one we cannot use, while only `h2` was offered.
#[derive(Debug)]
pub(crate) struct AlpnRefused {
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
