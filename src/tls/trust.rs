//! Whom a connector trusts: [`Trust`], what the builder asks for, and [`TrustInfo`], what
//! [`build`](crate::Builder::build) put in force (including a fallback).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// Where a connector's trust in server certificates comes from. Set with
/// [`Builder::trust`](crate::Builder::trust); roots added with
/// [`add_root_certificates_pem`](crate::Builder::add_root_certificates_pem) are trusted on top
/// of any of them, and a [`tls_config`](crate::Builder::tls_config) of yours replaces all of
/// them. Hostname verification is on under every one.
///
/// ```
/// use keepalive_connector::{Connector, Trust};
/// // What the operating system trusts, corporate and private CAs included (the default).
/// let platform = Connector::builder().trust(Trust::Platform).build()?;
/// // Mozilla's roots, compiled in: the same answer on every machine.
/// let webpki = Connector::builder().trust(Trust::WebpkiRoots).build()?;
/// assert_eq!(webpki.trust().in_force(), Some(Trust::WebpkiRoots));
/// # let _ = platform;
/// # Ok::<(), keepalive_connector::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Trust {
    /// The platform's verifier, through `rustls-platform-verifier`: on Windows, macOS, iOS and
    /// Android the operating system verifies the chain (its store, its policy, its revocation
    /// checks); on Linux and the BSDs, webpki over the system's CA store (`SSL_CERT_FILE` and
    /// `SSL_CERT_DIR` when set, otherwise the distribution's bundle). What curl, browsers and
    /// the OS's own tools trust, so a corporate or private CA installed in the system works
    /// without code.
    ///
    /// The store is read once per process, at the first [`build`](crate::Builder::build) that
    /// needs it, and shared by every connector built after (as Go's `x509.SystemCertPool`
    /// does). Where it holds no certificate (a minimal container without `ca-certificates`),
    /// the connector falls back to [`WebpkiRoots`](Trust::WebpkiRoots) and says so in
    /// [`Connector::trust`](crate::Connector::trust) and a debug trace — but only when neither
    /// `SSL_CERT_FILE` nor `SSL_CERT_DIR` is set: set, they replace the system's store, and one
    /// that yields no certificate (a mistyped path, an unreadable file, DER instead of PEM)
    /// makes [`build`](crate::Builder::build) fail with a
    /// [`ConfigError`](crate::ConfigError) naming the variable
    /// ([`ConfigField::SslCertFile`](crate::ConfigField::SslCertFile) or
    /// [`SslCertDir`](crate::ConfigField::SslCertDir)), rather than widen a trust that was
    /// narrowed on purpose to every public CA. Default.
    #[default]
    Platform,
    /// The Mozilla root program's roots compiled into this crate (`webpki-roots`), verified by
    /// webpki: the same answer on every machine, whatever the system trusts.
    WebpkiRoots,
    /// Only the roots added with
    /// [`add_root_certificates_pem`](crate::Builder::add_root_certificates_pem) (curl's
    /// `--cacert`): for a private PKI, or tests. [`build`](crate::Builder::build) refuses it
    /// when none was added.
    AddedRootsOnly,
}

impl Trust {
    /// Every variant, in declaration order.
    pub const ALL: [Trust; 3] = [Trust::Platform, Trust::WebpkiRoots, Trust::AddedRootsOnly];

    /// The name [`FromStr`] reads: `platform`, `webpki-roots`, `added-roots-only`.
    pub fn as_str(self) -> &'static str {
        match self {
            Trust::Platform => "platform",
            Trust::WebpkiRoots => "webpki-roots",
            Trust::AddedRootsOnly => "added-roots-only",
        }
    }
}

impl fmt::Display for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error from parsing a [`Trust`] from a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseTrustError(String);

impl fmt::Display for ParseTrustError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown trust {:?}: expected platform, webpki-roots (or webpki) or added-roots-only",
            self.0
        )
    }
}

impl std::error::Error for ParseTrustError {}

impl FromStr for Trust {
    type Err = ParseTrustError;

    /// Parses `platform`, `webpki-roots` (or `webpki`) or `added-roots-only` (`_` works for
    /// `-`, and case is ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        if norm == "webpki" {
            return Ok(Trust::WebpkiRoots);
        }
        Trust::ALL
            .into_iter()
            .find(|trust| trust.as_str() == norm)
            .ok_or_else(|| ParseTrustError(s.to_owned()))
    }
}

/// Which trust a [`Connector`](crate::Connector) verifies certificates with, as
/// [`build`](crate::Builder::build) settled it: what was asked for, what is in force (they
/// differ after a fallback, and why), and how many roots were added.
///
/// ```
/// use keepalive_connector::{Connector, Trust};
/// let connector = Connector::builder().build()?;
/// let trust = connector.trust();
/// assert_eq!(trust.requested(), Some(Trust::Platform));
/// match trust.fallback_reason() {
///     None => assert_eq!(trust.in_force(), Some(Trust::Platform)),
///     // A machine without a CA store: Mozilla's roots instead.
///     Some(why) => {
///         assert_eq!(trust.in_force(), Some(Trust::WebpkiRoots));
///         println!("{trust}"); // webpki-roots (fallback: ...)
///         # let _ = why;
///     }
/// }
/// # Ok::<(), keepalive_connector::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustInfo {
    requested: Option<Trust>,
    in_force: Option<Trust>,
    added_roots: usize,
    fallback: Option<Arc<str>>,
}

impl TrustInfo {
    /// `trust` in force as asked, with `added_roots` roots on top.
    pub(crate) fn chosen(trust: Trust, added_roots: usize) -> Self {
        TrustInfo {
            requested: Some(trust),
            in_force: Some(trust),
            added_roots,
            fallback: None,
        }
    }

    /// webpki-roots in force because the platform's verifier was unusable, for `reason`.
    pub(crate) fn fallback(added_roots: usize, reason: Arc<str>) -> Self {
        TrustInfo {
            requested: Some(Trust::Platform),
            in_force: Some(Trust::WebpkiRoots),
            added_roots,
            fallback: Some(reason),
        }
    }

    /// A `tls_config` of the user's: its own verifier.
    pub(crate) fn custom() -> Self {
        TrustInfo {
            requested: None,
            in_force: None,
            added_roots: 0,
            fallback: None,
        }
    }

    /// What [`Builder::trust`](crate::Builder::trust) asked for (or its default,
    /// [`Trust::Platform`]); `None` when a [`tls_config`](crate::Builder::tls_config) brought
    /// its own verifier.
    pub fn requested(&self) -> Option<Trust> {
        self.requested
    }

    /// The trust certificates are verified with; `None` when a
    /// [`tls_config`](crate::Builder::tls_config) brought its own verifier.
    pub fn in_force(&self) -> Option<Trust> {
        self.in_force
    }

    /// Why [`Trust::Platform`] was asked for but [`Trust::WebpkiRoots`] is in force (the
    /// platform's verifier could not be built: no CA certificate in the system's store), for
    /// people; `None` when what was asked for is in force.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback.as_deref()
    }

    /// How many root certificates
    /// [`add_root_certificates_pem`](crate::Builder::add_root_certificates_pem) added, trusted
    /// on top of [`in_force`](TrustInfo::in_force).
    pub fn added_roots(&self) -> usize {
        self.added_roots
    }
}

impl fmt::Display for TrustInfo {
    /// `platform`, `webpki-roots + 1 added root`, `added-roots-only (2 roots)`,
    /// `webpki-roots (fallback from platform: …)`, `the tls_config's own verifier`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(trust) = self.in_force else {
            return f.write_str("the tls_config's own verifier");
        };
        let n = self.added_roots;
        let s = if n == 1 { "" } else { "s" };
        match trust {
            Trust::AddedRootsOnly => write!(f, "{trust} ({n} root{s})")?,
            _ if n > 0 => write!(f, "{trust} + {n} added root{s}")?,
            _ => write!(f, "{trust}")?,
        }
        if let Some(why) = &self.fallback {
            write!(f, " (fallback from platform: {why})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_aliases_parse() {
        for trust in Trust::ALL {
            assert_eq!(trust.as_str().parse::<Trust>(), Ok(trust));
            assert_eq!(trust.to_string(), trust.as_str());
        }
        assert_eq!("webpki".parse::<Trust>(), Ok(Trust::WebpkiRoots));
        assert_eq!(" Webpki_Roots ".parse::<Trust>(), Ok(Trust::WebpkiRoots));
        assert_eq!("PLATFORM".parse::<Trust>(), Ok(Trust::Platform));
        let err = "system".parse::<Trust>().unwrap_err();
        assert!(err.to_string().contains("\"system\""), "{err}");
        assert_eq!(Trust::default(), Trust::Platform);
    }

    #[test]
    fn info_says_what_is_in_force() {
        assert_eq!(
            TrustInfo::chosen(Trust::Platform, 0).to_string(),
            "platform"
        );
        assert_eq!(
            TrustInfo::chosen(Trust::WebpkiRoots, 1).to_string(),
            "webpki-roots + 1 added root"
        );
        assert_eq!(
            TrustInfo::chosen(Trust::AddedRootsOnly, 2).to_string(),
            "added-roots-only (2 roots)"
        );
        let fallback = TrustInfo::fallback(0, "no CA certificate".into());
        assert_eq!(fallback.requested(), Some(Trust::Platform));
        assert_eq!(fallback.in_force(), Some(Trust::WebpkiRoots));
        assert_eq!(fallback.fallback_reason(), Some("no CA certificate"));
        assert_eq!(
            fallback.to_string(),
            "webpki-roots (fallback from platform: no CA certificate)"
        );
        let custom = TrustInfo::custom();
        assert_eq!((custom.requested(), custom.in_force()), (None, None));
        assert_eq!(custom.to_string(), "the tls_config's own verifier");
    }
}
