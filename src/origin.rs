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
    /// port defaults to 80 or 443; IPv6 literals are unbracketed. The host is read as browsers
    /// and curl read it (WHATWG URL): every IPv4 form (`127.1`, `0x7f.1`, `0177.0.0.1`,
    /// `2130706433`, `127.0.0.1.`) is that address, for `http` and `https` alike, and a host
    /// whose last label is a number but which is no IPv4 address (`1.2.3.4.5`, `256.1`) is
    /// refused.
    ///
    /// ```
    /// use keepalive_connector::Origin;
    /// let o = Origin::from_uri(&"https://127.1:8443/".parse().unwrap()).unwrap();
    /// assert_eq!((o.host(), o.ip()), ("127.0.0.1", Some([127, 0, 0, 1].into())));
    /// assert!(Origin::from_uri(&"http://1.2.3.4.5/".parse().unwrap()).is_err());
    /// ```
    pub fn from_uri(uri: &Uri) -> Result<Origin, InvalidOrigin> {
        let tls = match uri.scheme_str() {
            None => return Err(InvalidOrigin::MissingScheme),
            Some(s) if s.eq_ignore_ascii_case("https") => true,
            Some(s) if s.eq_ignore_ascii_case("http") => false,
            Some(s) => return Err(InvalidOrigin::UnsupportedScheme(s.to_owned())),
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

    /// The host: a name (lower-cased, a trailing dot kept) or an IP literal without brackets
    /// (IPv4 in dotted-quad form, whatever form the URI wrote it in).
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

    /// Checks what [`Connector::connect`](crate::Connector::connect) checks first for an
    /// `https` origin, before any network work: that TLS can verify the host, an IP literal or
    /// a name rustls takes as a DNS name (`a..b` and `-x.com` are not). The error is the one
    /// `connect` fails with ([`Phase::Uri`](crate::Phase::Uri)); `http` origins always pass.
    ///
    /// ```
    /// use keepalive_connector::Origin;
    /// let origin = |u: &str| Origin::from_uri(&u.parse().unwrap()).unwrap();
    /// assert!(origin("https://example.com/").check_server_name().is_ok());
    /// assert!(origin("https://a..b/").check_server_name().is_err());
    /// assert!(origin("http://a..b/").check_server_name().is_ok());
    /// ```
    pub fn check_server_name(&self) -> Result<(), InvalidOrigin> {
        match self.server_name() {
            Some(Err(e)) => Err(e),
            _ => Ok(()),
        }
    }

    /// The name TLS verifies for an `https` origin; `None` for `http`.
    pub(crate) fn server_name(
        &self,
    ) -> Option<Result<rustls::pki_types::ServerName<'static>, InvalidOrigin>> {
        self.tls
            .then(|| crate::tls::server_name(&self.host, self.ip))
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
pub(crate) fn host_port(uri: &Uri, default_port: u16) -> Result<HostPort, InvalidOrigin> {
    let raw_host = uri.host().filter(|h| !h.is_empty());
    let Some(raw_host) = raw_host else {
        return Err(InvalidOrigin::MissingHost);
    };
    let port = match explicit_port(uri)? {
        None => default_port,
        // Never echoed: what follows the first `:` of an authority cut short by a `#`, `/` or
        // `?` in a password (`https://bob:s3cr#t@h/`) is part of that password.
        Some(p) if !p.bytes().all(|b| b.is_ascii_digit()) => {
            return Err(InvalidOrigin::PortNotANumber)
        }
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n != 0 => n,
            // Not echoed either: digits can be a password cut short too (`https://u:99999#x@h/`).
            _ => return Err(InvalidOrigin::BadPort),
        },
    };
    let (host, ip) = match raw_host.strip_prefix('[') {
        Some(inner) => {
            let inner = inner.strip_suffix(']').unwrap_or(inner);
            match inner.parse::<IpAddr>() {
                Ok(ip @ IpAddr::V6(_)) => (inner.to_owned(), Some(ip)),
                _ => return Err(InvalidOrigin::BadHost(raw_host.to_owned())),
            }
        }
        None => {
            // A name reaches the resolver and, for https, the certificate check: refuse
            // here what no host name contains (the `http` crate lets `~[zz]` through).
            if !is_host_name(raw_host) {
                return Err(InvalidOrigin::BadHost(raw_host.to_owned()));
            }
            match ipv4_host(raw_host) {
                Ipv4Host::Addr(v4) => (v4.to_string(), Some(IpAddr::V4(v4))),
                Ipv4Host::Name => (raw_host.to_ascii_lowercase(), None),
                Ipv4Host::Invalid => return Err(InvalidOrigin::BadHost(raw_host.to_owned())),
            }
        }
    };
    Ok(HostPort { host, ip, port })
}

/// What an unbracketed host is under the WHATWG URL standard's IPv4 rules.
#[derive(Debug, PartialEq, Eq)]
enum Ipv4Host {
    /// An IPv4 address in any form browsers and curl accept: `127.0.0.1`, `127.1`, `0x7f.1`,
    /// `0177.0.0.1`, `2130706433`, with or without a trailing dot.
    Addr(std::net::Ipv4Addr),
    /// A name: its last label is not a number.
    Name,
    /// Its last label is a number, but the whole is no IPv4 address (`1.2.3.4.5`, `256.1`,
    /// `foo.123`): not a host at all, as in browsers.
    Invalid,
}

/// Classifies `host` as the WHATWG URL standard's host parser does ("ends in a number", then
/// the IPv4 parser), so that every IPv4 form connects as the address it names, for `http`
/// and `https` alike, and never reaches a resolver (`getaddrinfo` reads some of these forms
/// through `inet_aton`, but a certificate check cannot, and rustls refuses them as names).
/// Hand-written: the `url` crate would bring IDNA and its Unicode tables for these few lines.
fn ipv4_host(host: &str) -> Ipv4Host {
    let host = host.strip_suffix('.').unwrap_or(host);
    let parts: Vec<&str> = host.split('.').collect();
    let last = parts.last().copied().unwrap_or_default();
    let ends_in_number = (!last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()))
        || ipv4_number(last).is_some();
    if !ends_in_number {
        return Ipv4Host::Name;
    }
    if parts.len() > 4 {
        return Ipv4Host::Invalid;
    }
    let Some(numbers) = parts
        .iter()
        .map(|p| ipv4_number(p))
        .collect::<Option<Vec<u64>>>()
    else {
        return Ipv4Host::Invalid;
    };
    let (last, first) = numbers
        .split_last()
        .expect("split yields at least one part");
    // Every part but the last is one byte; the last fills the bytes left.
    let room = 8 * (5 - numbers.len() as u32);
    if first.iter().any(|&n| n > 255) || *last >= 1u64 << room {
        return Ipv4Host::Invalid;
    }
    let high = first
        .iter()
        .enumerate()
        .fold(0u64, |acc, (i, &n)| acc | n << (8 * (3 - i as u32)));
    match u32::try_from(high | last) {
        Ok(bits) => Ipv4Host::Addr(bits.into()),
        Err(_) => Ipv4Host::Invalid,
    }
}

/// One part of a WHATWG IPv4 address: decimal, hex after `0x`/`0X` (`0x` alone is 0), octal
/// after a leading `0`. `None` for anything else, or a value past `u32` (too large anyway).
fn ipv4_number(part: &str) -> Option<u64> {
    if part.is_empty() {
        return None;
    }
    let (digits, radix) = if let Some(hex) = part.strip_prefix("0x").or(part.strip_prefix("0X")) {
        (hex, 16)
    } else if part.len() > 1 && part.starts_with('0') {
        (&part[1..], 8)
    } else {
        (part, 10)
    };
    if digits.is_empty() {
        return Some(0);
    }
    if !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix)
        .ok()
        .filter(|&n| n <= u64::from(u32::MAX))
}

/// `uri` as text with any user info (`user:password@`) replaced by `***@`, for messages and
/// logs: credentials never reach a `Display` or `Debug`.
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
    // With user info split off at the last `@`, the port is the URL's own; without, digits out
    // of range can be the start of a password whose unencoded `#`, `/` or `?` ended the
    // authority (`https://u:99999#x@h/`), and are withheld.
    let port_ok = |port: &str| match credentials {
        "" => port.is_empty() || port.parse::<u16>().is_ok_and(|n| n != 0),
        _ => port.bytes().all(|b| b.is_ascii_digit()),
    };
    if !is_host_and_port(host_port, port_ok) {
        return withheld();
    }
    match scheme {
        Some(scheme) => format!("{scheme}://{credentials}{host_port}{tail}"),
        None => format!("{credentials}{host_port}{tail}"),
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`, with a port `port_ok` accepts (it is given ""
/// when none is written): the authority of a URI that may be shown.
fn is_host_and_port(text: &str, port_ok: impl Fn(&str) -> bool) -> bool {
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
    host_ok && port.is_some_and(port_ok)
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
fn explicit_port(uri: &Uri) -> Result<Option<&str>, InvalidOrigin> {
    let Some(authority) = uri.authority().map(|a| a.as_str()) else {
        return Ok(None);
    };
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let after_host = match host_port.strip_prefix('[') {
        // `http` accepts `[::1]x:8080`; only nothing or `:port` may follow the bracket.
        Some(rest) => match rest.split_once(']') {
            Some((_, after)) if after.is_empty() || after.starts_with(':') => after,
            _ => return Err(InvalidOrigin::BadHost(host_port.to_owned())),
        },
        None => host_port.find(':').map_or("", |i| &host_port[i..]),
    };
    Ok(after_host.strip_prefix(':').filter(|p| !p.is_empty()))
}

/// Why a URI names no origin this crate can connect to: its scheme, host or port, or (for
/// `https`) a host TLS cannot verify. [`Origin::from_uri`] and [`Origin::check_server_name`]
/// return it, [`Phase::Uri`](crate::Phase::Uri) errors carry it, and a proxy URL whose host or
/// port is refused for the same reasons carries it in
/// [`InvalidProxy::Authority`](crate::InvalidProxy::Authority).
///
/// Not `InvalidUri`, which `http::uri::InvalidUri` already names: that one is a string the
/// `http` crate cannot parse; this one is a parsed URI that names no usable origin.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidOrigin {
    /// The URI has no scheme (`example.com/path`).
    MissingScheme,
    /// The scheme is neither `http` nor `https`.
    UnsupportedScheme(String),
    /// The URI has no host (`/path`, `http:///`).
    MissingHost,
    /// The port is a number, but not one from 1 to 65535. Not shown, for the reason
    /// [`PortNotANumber`](Self::PortNotANumber) gives: digits can be part of a password too
    /// (`https://u:99999#x@h/`).
    BadPort,
    /// The port holds something other than digits. Not shown: a password holding an
    /// unencoded `#`, `/` or `?` ends the authority early, and what looks like a port is then
    /// part of it (`https://bob:s3cr#t@h/`). Percent-encode such characters (`%23`, `%2F`,
    /// `%3F`).
    PortNotANumber,
    /// The host is bracketed but is not an IPv6 address, holds characters no host name has
    /// (anything but ASCII letters, digits, `-`, `.` and `_`), or ends in a number but is no
    /// IPv4 address (`1.2.3.4.5`, `256.1`).
    BadHost(String),
    /// The host is not a valid DNS name for TLS certificate checks.
    BadServerName(String),
}

impl fmt::Display for InvalidOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidOrigin::MissingScheme => {
                f.write_str("missing scheme (expected http:// or https://)")
            }
            InvalidOrigin::UnsupportedScheme(s) => {
                write!(f, "unsupported scheme {s:?} (expected http or https)")
            }
            InvalidOrigin::MissingHost => f.write_str("missing host"),
            InvalidOrigin::BadPort => f.write_str(
                "bad port: expected 1-65535 (not shown: it may be part of a password whose #, / \
                 or ? is not percent-encoded)",
            ),
            InvalidOrigin::PortNotANumber => f.write_str(
                "the port is not a number (not shown: it may be part of a password whose #, / \
                 or ? is not percent-encoded)",
            ),
            InvalidOrigin::BadHost(h) => write!(f, "bad host {h:?}"),
            InvalidOrigin::BadServerName(h) => {
                write!(f, "host {h:?} is not a valid DNS name for TLS")
            }
        }
    }
}

impl std::error::Error for InvalidOrigin {}

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
            assert_eq!(err, super::InvalidOrigin::PortNotANumber, "{raw}");
            assert!(!format!("{err} {err:?}").contains("s3cr"), "{raw}");
        }
        // Digits only, out of range: still a password's start, still not shown.
        for raw in [
            "https://u:99999#x@h/",
            "https://u:0/x@h/",
            "http://u:65536?x@h/",
        ] {
            let uri: http::Uri = raw.parse().unwrap();
            let err = super::Origin::from_uri(&uri).unwrap_err();
            assert_eq!(err, super::InvalidOrigin::BadPort, "{raw}");
            let shown = format!("{err} {err:?}");
            for digits in ["99999", "65536"] {
                assert!(!shown.contains(digits), "{raw}: {shown}");
            }
        }
        assert_eq!(redact_uri("https://[::1]:8443/x"), "https://[::1]:8443/x");
        assert_eq!(redact_uri("https://u:p@[::1]/x"), "https://***@[::1]/x");
    }
}

#[cfg(test)]
mod host_tests {
    use super::{ipv4_host, Ipv4Host};

    #[test]
    fn whatwg_ipv4_forms() {
        let addr = |s: &str| Ipv4Host::Addr(s.parse().unwrap());
        for (host, want) in [
            ("127.0.0.1", addr("127.0.0.1")),
            ("127.0.0.1.", addr("127.0.0.1")),
            ("127.1", addr("127.0.0.1")),
            ("127.0.1", addr("127.0.0.1")),
            ("0x7f.1", addr("127.0.0.1")),
            ("0X7F.0.0.1", addr("127.0.0.1")),
            ("0177.0.0.1", addr("127.0.0.1")),
            ("2130706433", addr("127.0.0.1")),
            ("0x7f000001", addr("127.0.0.1")),
            ("0x", addr("0.0.0.0")),
            ("0", addr("0.0.0.0")),
            ("4294967295", addr("255.255.255.255")),
            ("1.2.65535", addr("1.2.255.255")),
            ("192.168.0x1.010", addr("192.168.1.8")),
            ("example.com", Ipv4Host::Name),
            ("example.com.", Ipv4Host::Name),
            ("localhost", Ipv4Host::Name),
            ("1.2.3.example", Ipv4Host::Name),
            ("0xg", Ipv4Host::Name),
            ("a.0xz", Ipv4Host::Name),
            ("1.2.3.4.5", Ipv4Host::Invalid),
            ("256.1", Ipv4Host::Invalid),
            ("256.256.256.256", Ipv4Host::Invalid),
            ("foo.123", Ipv4Host::Invalid),
            ("foo.0x1f", Ipv4Host::Invalid),
            ("0x1g.1", Ipv4Host::Invalid),
            ("08", Ipv4Host::Invalid),
            ("09.1", Ipv4Host::Invalid),
            ("4294967296", Ipv4Host::Invalid),
            ("1.2.65536", Ipv4Host::Invalid),
            ("1..2", Ipv4Host::Invalid),
            ("99999999999999999999999", Ipv4Host::Invalid),
        ] {
            assert_eq!(ipv4_host(host), want, "{host}");
        }
    }
}
