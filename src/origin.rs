//! The [`Origin`]: the server a URI names, which TLS verifies and requests are for. Where the
//! socket goes is a separate idea (the dial layer's `Endpoint`): the origin itself when direct,
//! the proxy when there is one.

use std::fmt;
use std::net::IpAddr;

use http::Uri;

/// The server a URI names: `http` or `https`, the host, the port. It is whom TLS verifies and
/// whom requests are for; the socket may go elsewhere (to a proxy).
///
/// ```
/// use keepalive_connector::Origin;
/// let o = Origin::from_uri(&"https://[::1]:8443/x".parse().unwrap()).unwrap();
/// assert_eq!(o.host(), "::1");
/// assert_eq!(o.ip(), Some("::1".parse().unwrap()));
/// assert_eq!(o.port(), 8443);
/// assert!(o.is_tls());
/// assert!(Origin::from_uri(&"ftp://example.com/".parse().unwrap()).is_err());
/// // A port that does not fit in 16 bits is refused, not replaced by the default.
/// assert!(Origin::from_uri(&"http://example.com:99999/".parse().unwrap()).is_err());
/// assert!(Origin::from_uri(&"http://[::1]x:8080/".parse().unwrap()).is_err());
/// assert!(Origin::from_uri(&"https://~[zz]/".parse().unwrap()).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    tls: bool,
    host: String,
    ip: Option<IpAddr>,
    port: u16,
}

impl Origin {
    /// Parses the parts of `uri` the connector uses. Only `http` and `https` are accepted; the
    /// port defaults to 80 or 443; IPv6 literals are unbracketed.
    pub fn from_uri(uri: &Uri) -> Result<Origin, InvalidUri> {
        let tls = match uri.scheme_str() {
            None => return Err(InvalidUri::MissingScheme),
            Some(s) if s.eq_ignore_ascii_case("https") => true,
            Some(s) if s.eq_ignore_ascii_case("http") => false,
            Some(s) => return Err(InvalidUri::UnsupportedScheme(s.to_owned())),
        };
        let default_port = if tls { 443 } else { 80 };
        let HostPort { host, ip, port } = host_port(uri, default_port)?;
        Ok(Origin {
            tls,
            host,
            ip,
            port,
        })
    }

    /// `true` for `https`.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The host: a name (lower-cased) or an IP literal without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The host as an IP address, when it is an IP literal (such hosts skip resolution).
    pub fn ip(&self) -> Option<IpAddr> {
        self.ip
    }

    /// The port, explicit or the scheme's default.
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// A URI's host (lower-cased name, or unbracketed IP literal) and port.
pub(crate) struct HostPort {
    pub(crate) host: String,
    pub(crate) ip: Option<IpAddr>,
    pub(crate) port: u16,
}

/// The host and port of `uri`'s authority (user info skipped), `default_port` when none is
/// written. Shared by origins and proxy URLs, which must refuse the same malformed hosts.
pub(crate) fn host_port(uri: &Uri, default_port: u16) -> Result<HostPort, InvalidUri> {
    let raw_host = uri.host().filter(|h| !h.is_empty());
    let Some(raw_host) = raw_host else {
        return Err(InvalidUri::MissingHost);
    };
    let port = match explicit_port(uri)? {
        None => default_port,
        // Never echoed: what follows the first `:` of an authority cut short by a `#`, `/` or
        // `?` in a password (`https://bob:s3cr#t@h/`) is part of that password.
        Some(p) if !p.bytes().all(|b| b.is_ascii_digit()) => {
            return Err(InvalidUri::PortNotANumber)
        }
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n != 0 => n,
            _ => return Err(InvalidUri::BadPort(p.to_owned())),
        },
    };
    let (host, ip) = match raw_host.strip_prefix('[') {
        Some(inner) => {
            let inner = inner.strip_suffix(']').unwrap_or(inner);
            match inner.parse::<IpAddr>() {
                Ok(ip @ IpAddr::V6(_)) => (inner.to_owned(), Some(ip)),
                _ => return Err(InvalidUri::BadHost(raw_host.to_owned())),
            }
        }
        None => {
            // A name reaches the resolver and, for https, the certificate check: refuse
            // here what no host name contains (the `http` crate lets `~[zz]` through).
            if !is_host_name(raw_host) {
                return Err(InvalidUri::BadHost(raw_host.to_owned()));
            }
            let ip = raw_host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4);
            (raw_host.to_ascii_lowercase(), ip)
        }
    };
    Ok(HostPort { host, ip, port })
}

/// `uri` (as the `http` crate prints it) for messages and logs: `scheme://***@host:port/path`
/// with any user info replaced by `***`, when its authority is a host and a numeric port;
/// otherwise only its length. A password holding an unencoded `#`, `/` or `?` ends the
/// authority early (`https://bob:s3cr#t@h/` has the authority `bob:s3cr`), so an authority
/// that does not parse may hold part of one anywhere.
pub(crate) fn redact_uri(uri: &str) -> String {
    let withheld = || format!("<{} characters, not shown>", uri.chars().count());
    let (scheme, rest) = match uri.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, uri),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (credentials, host_port) = match authority.rsplit_once('@') {
        Some((_, host_port)) => ("***@", host_port),
        None => ("", authority),
    };
    if !is_host_and_port(host_port) {
        return withheld();
    }
    match scheme {
        Some(scheme) => format!("{scheme}://{credentials}{host_port}{tail}"),
        None => format!("{credentials}{host_port}{tail}"),
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`, the port all digits (possibly empty): the
/// authority of a URI that may be shown.
fn is_host_and_port(text: &str) -> bool {
    let (host_ok, port) = match text.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((v6, after)) => (
                v6.parse::<std::net::Ipv6Addr>().is_ok(),
                after.strip_prefix(':').or(after.is_empty().then_some("")),
            ),
            None => (false, None),
        },
        None => match text.split_once(':') {
            Some((host, port)) => (is_host_name(host), Some(port)),
            None => (is_host_name(text), Some("")),
        },
    };
    host_ok && port.is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

/// `true` when `host` is non-empty and holds only what host names hold: ASCII letters, digits,
/// `-`, `.` and `_`. Hand-written because the `http` crate lets `~[zz]` through as a host and
/// IDNA names arrive here already in their ASCII (`xn--`) form.
pub(crate) fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// The port as written in the authority, if any (an empty port means the default, as in curl).
///
/// Read from the authority text rather than `Uri::port()`, which returns `None` for a port that
/// does not fit in a `u16` — and `http://host:99999/` must be refused, not sent to port 80.
fn explicit_port(uri: &Uri) -> Result<Option<&str>, InvalidUri> {
    let Some(authority) = uri.authority().map(|a| a.as_str()) else {
        return Ok(None);
    };
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let after_host = match host_port.strip_prefix('[') {
        // `http` accepts `[::1]x:8080`; only nothing or `:port` may follow the bracket.
        Some(rest) => match rest.split_once(']') {
            Some((_, after)) if after.is_empty() || after.starts_with(':') => after,
            _ => return Err(InvalidUri::BadHost(host_port.to_owned())),
        },
        None => host_port.find(':').map_or("", |i| &host_port[i..]),
    };
    Ok(after_host.strip_prefix(':').filter(|p| !p.is_empty()))
}

/// Why a URI cannot be connected to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidUri {
    /// The URI has no scheme (`example.com/path`).
    MissingScheme,
    /// The scheme is neither `http` nor `https`.
    UnsupportedScheme(String),
    /// The URI has no host (`/path`, `http:///`).
    MissingHost,
    /// The port is a number, but not one from 1 to 65535.
    BadPort(String),
    /// The port holds something other than digits. Not shown: a password holding an
    /// unencoded `#`, `/` or `?` ends the authority early, and what looks like a port is then
    /// part of it (`https://bob:s3cr#t@h/`). Percent-encode such characters (`%23`, `%2F`,
    /// `%3F`).
    PortNotANumber,
    /// The host is bracketed but is not an IPv6 address, or holds characters no host name
    /// has (anything but ASCII letters, digits, `-`, `.` and `_`).
    BadHost(String),
    /// The host is not a valid DNS name for TLS certificate checks.
    BadServerName(String),
}

impl fmt::Display for InvalidUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidUri::MissingScheme => {
                f.write_str("missing scheme (expected http:// or https://)")
            }
            InvalidUri::UnsupportedScheme(s) => {
                write!(f, "unsupported scheme {s:?} (expected http or https)")
            }
            InvalidUri::MissingHost => f.write_str("missing host"),
            InvalidUri::BadPort(p) => write!(f, "bad port {p:?} (expected 1-65535)"),
            InvalidUri::PortNotANumber => f.write_str(
                "the port is not a number (not shown: it may be part of a password whose #, / \
                 or ? is not percent-encoded)",
            ),
            InvalidUri::BadHost(h) => write!(f, "bad host {h:?}"),
            InvalidUri::BadServerName(h) => {
                write!(f, "host {h:?} is not a valid DNS name for TLS")
            }
        }
    }
}

impl std::error::Error for InvalidUri {}

#[cfg(test)]
mod tests {
    use super::redact_uri;

    #[test]
    fn user_info_is_redacted() {
        assert_eq!(
            redact_uri("https://u:secret@h:99999/p?q"),
            "https://***@h:99999/p?q"
        );
        assert_eq!(
            redact_uri("socks5h://a:b@[::1]:1080"),
            "socks5h://***@[::1]:1080"
        );
        assert_eq!(redact_uri("user:pw@proxy:3128"), "***@proxy:3128");
        assert_eq!(
            redact_uri("http://h/p@q"),
            "http://h/p@q",
            "an @ in the path is not user info"
        );
        assert_eq!(redact_uri("http://a@b:c@h/"), "http://***@h/");
        assert_eq!(redact_uri("https://h/"), "https://h/");
    }

    /// The `http` crate ends an authority at the first `#`, `/` or `?`, inside a password too:
    /// what it then calls the port (or the path) is part of the password.
    #[test]
    fn an_authority_cut_short_by_a_password_is_not_shown() {
        for raw in [
            "https://bob:s3cr#t@h/",
            "https://bob:s3cr/t@h/",
            "https://bob:s3cr?t@h/",
        ] {
            let uri: http::Uri = raw.parse().unwrap();
            let shown = redact_uri(&uri.to_string());
            assert!(!shown.contains("s3cr"), "{raw}: {shown}");
            assert!(
                shown.starts_with('<') && shown.contains("characters"),
                "{shown}"
            );
            let err = super::Origin::from_uri(&uri).unwrap_err();
            assert_eq!(err, super::InvalidUri::PortNotANumber, "{raw}");
            assert!(!format!("{err} {err:?}").contains("s3cr"), "{raw}");
        }
        assert_eq!(redact_uri("https://[::1]:8443/x"), "https://[::1]:8443/x");
        assert_eq!(redact_uri("https://u:p@[::1]/x"), "https://***@[::1]/x");
    }
}
