//! Proxy URLs: `http://`, `https://`, `socks5://` and `socks5h://`, checked once when the
//! connector is built, with their credentials kept apart and never printed.

use std::fmt;
use std::net::IpAddr;

use http::{HeaderValue, Uri};
use hyper_util::client::proxy::matcher::Intercept;
use rustls::pki_types::ServerName;

use super::{ProxyKind, ProxySource};
use base64::prelude::{Engine as _, BASE64_STANDARD};

use crate::origin::{host_port, HostPort, InvalidOrigin};

/// Why a proxy URL cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidProxy {
    /// Not a URL at all: nothing after the user info, or a host and port that `http::Uri`
    /// refuses.
    Unparseable,
    /// A scheme other than `http`, `https`, `socks5` and `socks5h` (SOCKS4 is not supported).
    UnsupportedScheme(String),
    /// The host or port is missing or malformed.
    Authority(InvalidOrigin),
    /// The URL has a path, query or fragment; a proxy URL is only `scheme://host[:port]`.
    HasPath,
    /// SOCKS5 credentials must each be 1 to 255 bytes (RFC 1929).
    SocksCredentials,
    /// A `%` in the user name or password is not followed by two hexadecimal digits (the
    /// credentials are percent-decoded: a `%` itself is written `%25`).
    CredentialsEncoding,
    /// SOCKS5 credentials that are not UTF-8 once percent-decoded (`%E9`): RFC 1929 allows any
    /// bytes, but tokio-socks, which speaks SOCKS5 here, takes text. `http://` and `https://`
    /// proxies take any bytes (in `Proxy-Authorization: Basic`).
    SocksCredentialsNotUtf8,
    /// The environment variable (a proxy variable or `NO_PROXY`) is not valid Unicode.
    NotUtf8,
}

impl fmt::Display for InvalidProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidProxy::Unparseable => f.write_str("not a URL"),
            InvalidProxy::UnsupportedScheme(s) => write!(
                f,
                "unsupported proxy scheme {s:?} (expected http, https, socks5 or socks5h)"
            ),
            InvalidProxy::Authority(e) => write!(f, "{e}"),
            InvalidProxy::HasPath => {
                f.write_str("a proxy URL is scheme://host[:port], without a path or query")
            }
            InvalidProxy::SocksCredentials => {
                f.write_str("SOCKS5 user name and password must each be 1 to 255 bytes (RFC 1929)")
            }
            InvalidProxy::CredentialsEncoding => f.write_str(
                "a % in the user name or password is not followed by two hex digits (write % \
                 as %25)",
            ),
            InvalidProxy::SocksCredentialsNotUtf8 => {
                f.write_str("SOCKS5 user name and password must be UTF-8 once percent-decoded")
            }
            InvalidProxy::NotUtf8 => f.write_str("not valid Unicode"),
        }
    }
}

impl std::error::Error for InvalidProxy {}

/// A checked proxy: where it is, what it speaks, where its setting came from, and its
/// credentials (which only [`ProxyAuth`]'s users see).
pub(crate) struct ProxyTarget {
    pub(crate) kind: ProxyKind,
    /// The host, unbracketed: a name or an IP literal.
    pub(crate) host: String,
    pub(crate) ip: Option<IpAddr>,
    pub(crate) port: u16,
    /// `scheme://host:port`, without credentials: what messages and `ProxyInfo` show.
    pub(crate) url: Uri,
    pub(crate) source: ProxySource,
    pub(crate) auth: ProxyAuth,
    /// For an `https://` proxy, the name its certificate must match (checked when the
    /// connector is built, as an origin's is before connecting); `None` for the others.
    pub(crate) tls_name: Option<ServerName<'static>>,
}

/// Credentials for a proxy. `Debug` never prints them.
#[derive(Clone, Default)]
pub(crate) enum ProxyAuth {
    #[default]
    None,
    /// `Proxy-Authorization: Basic …` for HTTP(S) proxies (a sensitive header value).
    Basic(HeaderValue),
    /// RFC 1929 user name and password for SOCKS5.
    Socks { user: String, password: String },
}

impl ProxyAuth {
    pub(crate) fn is_some(&self) -> bool {
        !matches!(self, ProxyAuth::None)
    }
}

impl fmt::Debug for ProxyAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProxyAuth::None => "None",
            ProxyAuth::Basic(_) | ProxyAuth::Socks { .. } => "Some(<redacted>)",
        })
    }
}

impl fmt::Debug for ProxyTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyTarget")
            .field("url", &self.url)
            .field("source", &self.source)
            .field("auth", &self.auth)
            .finish()
    }
}

impl ProxyTarget {
    /// Checks `raw` (`[scheme://][user[:password]@]host[:port][/]`; no scheme means `http`, as
    /// curl and every proxy variable reader take it) and takes its credentials, percent-decoded.
    ///
    /// One split decides both the host and the credentials: the user info is everything before
    /// the *last* `@` (a proxy URL has no path, so an unencoded `@`, `#`, `/` or `?` before it
    /// can only belong to a user name or password), the user name ends at its first `:`.
    /// Hand-written rather than `http::Uri` plus hyper-util's matcher, which split at the first
    /// `#`, `/` or `?` (taking part of a password for a port), at the first `@` for the
    /// credentials but the last for the host, recognise only lower-case schemes, and decode
    /// `%E9` to U+FFFD.
    pub(crate) fn parse(raw: &str, source: ProxySource) -> Result<ProxyTarget, InvalidProxy> {
        let parts = Parts::split(raw)?;
        let scheme = parts.scheme();
        let Some((kind, default_port)) = kind_of(&scheme) else {
            return Err(InvalidProxy::UnsupportedScheme(scheme));
        };
        let uri = parts.host_uri().ok_or(InvalidProxy::Unparseable)?;
        let mut target = ProxyTarget::locate(kind, &scheme, &uri, default_port, source)?;
        target.auth = match parts.userinfo {
            Some(userinfo) => credentials(userinfo, kind)?,
            None => ProxyAuth::None,
        };
        Ok(target)
    }

    /// A proxy the system settings chose (macOS, Windows), as hyper-util's matcher found it.
    #[cfg_attr(not(system_proxy), allow(dead_code))]
    pub(crate) fn from_intercept(intercept: &Intercept) -> Result<ProxyTarget, InvalidProxy> {
        let uri = intercept.uri();
        let scheme = uri.scheme_str().unwrap_or("http").to_ascii_lowercase();
        let Some((kind, default_port)) = kind_of(&scheme) else {
            return Err(InvalidProxy::UnsupportedScheme(scheme));
        };
        if uri.path_and_query().is_some_and(|pq| pq.as_str() != "/") {
            return Err(InvalidProxy::HasPath);
        }
        let mut target =
            ProxyTarget::locate(kind, &scheme, uri, default_port, ProxySource::System)?;
        target.auth = auth_of(intercept, target.kind)?;
        Ok(target)
    }

    /// The proxy at `uri`'s host and port (its user info, if any, ignored).
    fn locate(
        kind: ProxyKind,
        scheme: &str,
        uri: &Uri,
        default_port: u16,
        source: ProxySource,
    ) -> Result<ProxyTarget, InvalidProxy> {
        let HostPort { host, ip, port } =
            host_port(uri, default_port).map_err(InvalidProxy::Authority)?;
        let shown_host = match ip {
            Some(IpAddr::V6(_)) => format!("[{host}]"),
            _ => host.clone(),
        };
        let url = format!("{scheme}://{shown_host}:{port}")
            .parse()
            .map_err(|_| InvalidProxy::Unparseable)?;
        let tls_name = match kind {
            ProxyKind::Https => {
                Some(crate::tls::server_name(&host, ip).map_err(InvalidProxy::Authority)?)
            }
            ProxyKind::Http | ProxyKind::Socks5 | ProxyKind::Socks5h => None,
        };
        Ok(ProxyTarget {
            kind,
            host,
            ip,
            port,
            url,
            source,
            auth: ProxyAuth::None,
            tls_name,
        })
    }
}

/// What a scheme speaks, and its default port; `None` for a scheme this crate cannot use.
fn kind_of(scheme: &str) -> Option<(ProxyKind, u16)> {
    Some(match scheme {
        "http" => (ProxyKind::Http, 80),
        "https" => (ProxyKind::Https, 443),
        "socks5" => (ProxyKind::Socks5, 1080),
        "socks5h" => (ProxyKind::Socks5h, 1080),
        _ => return None,
    })
}

/// A proxy URL taken apart, once: the scheme (as written), the user info (everything before
/// the last `@`) and what follows it, the host and port.
#[derive(Clone, Copy)]
struct Parts<'a> {
    scheme: Option<&'a str>,
    userinfo: Option<&'a str>,
    host_port: &'a str,
}

impl<'a> Parts<'a> {
    fn split(raw: &'a str) -> Result<Parts<'a>, InvalidProxy> {
        let raw = raw.trim();
        // A scheme is a letter, then letters, digits, `+`, `-` or `.` (RFC 3986 §3.1); what
        // precedes a `://` inside a password (`u:a://b@h`) is not one.
        let (scheme, rest) = match raw.split_once("://") {
            Some((scheme, rest)) if is_scheme(scheme) => (Some(scheme), rest),
            _ => (None, raw),
        };
        let (userinfo, host_port) = match rest.rsplit_once('@') {
            Some((userinfo, host_port)) => (Some(userinfo), host_port),
            None => (None, rest),
        };
        // `host:port/` is the most a proxy URL has after the credentials.
        let host_port = host_port.strip_suffix('/').unwrap_or(host_port);
        if host_port.contains(['/', '?', '#']) {
            return Err(InvalidProxy::HasPath);
        }
        if host_port.is_empty() {
            return Err(InvalidProxy::Unparseable);
        }
        Ok(Parts {
            scheme,
            userinfo,
            host_port,
        })
    }

    /// The scheme, lower-cased (`SOCKS5://` is `socks5://`); `http` when none is written.
    fn scheme(&self) -> String {
        self.scheme.unwrap_or("http").to_ascii_lowercase()
    }

    /// `http://host:port/`, for the host and port checks origins share.
    fn host_uri(&self) -> Option<Uri> {
        format!("http://{}/", self.host_port).parse().ok()
    }

    /// `scheme://***@host:port` when the host and port parse (the port as written, or the
    /// scheme's default): what a message may show of a proxy URL.
    fn shown(&self) -> Option<String> {
        let scheme = self.scheme();
        let default_port = kind_of(&scheme).map_or(0, |(_, port)| port);
        let HostPort { host, ip, port } = host_port(&self.host_uri()?, default_port).ok()?;
        let host = match ip {
            Some(IpAddr::V6(_)) => format!("[{host}]"),
            _ => host,
        };
        let credentials = if self.userinfo.is_some() { "***@" } else { "" };
        Some(match port {
            0 => format!("{scheme}://{credentials}{host}"),
            port => format!("{scheme}://{credentials}{host}:{port}"),
        })
    }
}

fn is_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// The credentials in `userinfo` (`user[:password]`, percent-encoded), in the form `kind`
/// sends them. An empty user info (`@host`, `:@host`) means none.
fn credentials(userinfo: &str, kind: ProxyKind) -> Result<ProxyAuth, InvalidProxy> {
    let (user, password) = match userinfo.split_once(':') {
        Some((user, password)) => (user, Some(password)),
        None => (userinfo, None),
    };
    if user.is_empty() && password.is_none_or(str::is_empty) {
        return Ok(ProxyAuth::None);
    }
    let user = percent_decode(user)?;
    let password = password
        .map(percent_decode)
        .transpose()?
        .unwrap_or_default();
    Ok(match kind {
        // RFC 7617: base64 of the bytes `user:password`, whatever they are (curl sends the
        // bytes as given; no charset is implied).
        ProxyKind::Http | ProxyKind::Https => {
            let mut pair = user;
            pair.push(b':');
            pair.extend_from_slice(&password);
            let mut value = b"Basic ".to_vec();
            value.extend_from_slice(BASE64_STANDARD.encode(&pair).as_bytes());
            let mut value =
                HeaderValue::from_bytes(&value).expect("base64 is a valid header value");
            value.set_sensitive(true);
            ProxyAuth::Basic(value)
        }
        ProxyKind::Socks5 | ProxyKind::Socks5h => {
            // RFC 1929 takes 1 to 255 bytes each; tokio-socks, which speaks it here, takes
            // them as `&str`, so bytes that are not UTF-8 cannot be sent.
            let ok = |s: &[u8]| (1..=255).contains(&s.len());
            if !ok(&user) || !ok(&password) {
                return Err(InvalidProxy::SocksCredentials);
            }
            match (String::from_utf8(user), String::from_utf8(password)) {
                (Ok(user), Ok(password)) => ProxyAuth::Socks { user, password },
                _ => return Err(InvalidProxy::SocksCredentialsNotUtf8),
            }
        }
    })
}

/// `%XX` → the byte `XX`; any other `%` is refused. Hand-written because the
/// `percent-encoding` crate passes a malformed escape through as text, which would send
/// credentials other than the ones written.
fn percent_decode(s: &str) -> Result<Vec<u8>, InvalidProxy> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b != b'%' {
            out.push(b);
            continue;
        }
        let hex = |b: Option<u8>| b.and_then(|b| (b as char).to_digit(16));
        match (hex(bytes.next()), hex(bytes.next())) {
            (Some(hi), Some(lo)) => out.push((hi * 16 + lo) as u8),
            _ => return Err(InvalidProxy::CredentialsEncoding),
        }
    }
    Ok(out)
}

fn auth_of(intercept: &Intercept, kind: ProxyKind) -> Result<ProxyAuth, InvalidProxy> {
    Ok(match kind {
        ProxyKind::Http | ProxyKind::Https => match intercept.basic_auth() {
            Some(value) => ProxyAuth::Basic(value.clone()),
            None => ProxyAuth::None,
        },
        ProxyKind::Socks5 | ProxyKind::Socks5h => match intercept.raw_auth() {
            Some((user, password)) => {
                let ok = |s: &str| (1..=255).contains(&s.len());
                if !ok(user) || !ok(password) {
                    return Err(InvalidProxy::SocksCredentials);
                }
                ProxyAuth::Socks {
                    user: user.to_owned(),
                    password: password.to_owned(),
                }
            }
            None => ProxyAuth::None,
        },
    })
}

/// `raw` for messages, never with its credentials: `scheme://***@host:port` when the host and
/// port parse, else only its length (a value that does not parse may have its credentials
/// anywhere).
pub(crate) fn redacted(raw: &str) -> String {
    match Parts::split(raw).ok().and_then(|parts| parts.shown()) {
        Some(shown) => shown,
        None => format!("<{} characters, not shown>", raw.trim().chars().count()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(raw: &str) -> Result<ProxyAuth, InvalidProxy> {
        ProxyTarget::parse(raw, ProxySource::Explicit).map(|t| t.auth)
    }

    fn basic(raw: &str) -> Vec<u8> {
        match auth(raw) {
            Ok(ProxyAuth::Basic(value)) => {
                let b64 = value.as_bytes().strip_prefix(b"Basic ").unwrap();
                BASE64_STANDARD.decode(b64).unwrap()
            }
            other => panic!("{raw}: {other:?}"),
        }
    }

    #[test]
    fn the_user_info_is_everything_before_the_last_at_sign() {
        assert_eq!(
            basic("http://john@corp.com:secret@proxy:8080"),
            b"john@corp.com:secret"
        );
        assert_eq!(basic("http://bob:s3cr#t@proxy:3128"), b"bob:s3cr#t");
        assert_eq!(basic("bob:a/b?c@proxy"), b"bob:a/b?c");
        assert_eq!(
            basic("http://u:a://b@h"),
            b"u:a://b",
            "a `://` in a password"
        );
        assert_eq!(basic("HTTPS://u%3Ax:p%40w@h"), b"u:x:p@w");
        assert_eq!(
            basic("http://u@h"),
            b"u:",
            "no password: an empty one, as curl sends"
        );
        assert_eq!(basic("http://u:caf%e9@h"), b"u:caf\xe9");
        assert!(matches!(auth("http://@h"), Ok(ProxyAuth::None)));
        assert!(matches!(auth("http://:@h"), Ok(ProxyAuth::None)));
        let target = ProxyTarget::parse("SOCKS5H://u:p@[::1]:9/", ProxySource::Explicit).unwrap();
        assert_eq!(target.url, "socks5h://[::1]:9/");
        assert!(
            matches!(target.auth, ProxyAuth::Socks { ref user, ref password } if user == "u" && password == "p")
        );
    }

    #[test]
    fn malformed_values_are_typed_errors() {
        for (raw, want) in [
            ("http://h/path", InvalidProxy::HasPath),
            ("http://u:p@h/#x", InvalidProxy::HasPath),
            ("http://u:p@", InvalidProxy::Unparseable),
            ("http://u:100%@h", InvalidProxy::CredentialsEncoding),
            ("http://u:%4@h", InvalidProxy::CredentialsEncoding),
            ("socks5://u@h", InvalidProxy::SocksCredentials),
            ("socks5://u:%FF@h", InvalidProxy::SocksCredentialsNotUtf8),
            (
                "socks4://u:p@h",
                InvalidProxy::UnsupportedScheme("socks4".into()),
            ),
        ] {
            assert_eq!(auth(raw).unwrap_err(), want, "{raw}");
        }
    }

    #[test]
    fn only_a_full_parse_is_shown() {
        assert_eq!(
            redacted(" http://bob:s3cr#t@Proxy:3128/ "),
            "http://***@proxy:3128"
        );
        assert_eq!(redacted("bob:pw@proxy"), "http://***@proxy:80");
        assert_eq!(redacted("socks4://u:p@[::1]"), "socks4://***@[::1]");
        assert_eq!(redacted("http://u:p@h:99999"), "<18 characters, not shown>");
        assert_eq!(redacted("http://u:p@h:8x"), "<15 characters, not shown>");
        assert_eq!(redacted("http://u:p@h/x"), "<14 characters, not shown>");
    }
}
