//! Proxy URLs: `http://`, `https://`, `socks5://` and `socks5h://`, checked once when the
//! connector is built, with their credentials kept apart and never printed.

use std::fmt;
use std::net::IpAddr;

use http::{HeaderValue, Uri};
use hyper_util::client::proxy::matcher::{Intercept, Matcher};

use super::{ProxyKind, ProxySource};
use crate::origin::{host_port, redact_uri, HostPort, InvalidUri};

/// Why a proxy URL cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidProxy {
    /// Not a URL at all (`http::Uri` refused it).
    Unparseable,
    /// A scheme other than `http`, `https`, `socks5` and `socks5h` (SOCKS4 is not supported).
    UnsupportedScheme(String),
    /// The host or port is missing or malformed.
    Authority(InvalidUri),
    /// The URL has a path, query or fragment; a proxy URL is only `scheme://host[:port]`.
    HasPath,
    /// SOCKS5 credentials must each be 1 to 255 bytes (RFC 1929).
    SocksCredentials,
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
    pub(crate) fn parse(raw: &str, source: ProxySource) -> Result<ProxyTarget, InvalidProxy> {
        let raw = raw.trim();
        let with_scheme;
        let raw = if raw.contains("://") {
            raw
        } else {
            with_scheme = format!("http://{raw}");
            &with_scheme
        };
        let uri: Uri = raw.parse().map_err(|_| InvalidProxy::Unparseable)?;
        let mut target = ProxyTarget::from_uri(&uri, source)?;
        // hyper-util's matcher does the percent-decoding and builds the (sensitive) Basic
        // header; a one-rule matcher is the way to ask it.
        if let Some(intercept) = Matcher::builder()
            .all(raw)
            .build()
            .intercept(&Uri::from_static("http://proxy-credentials.invalid/"))
        {
            target.auth = auth_of(&intercept, target.kind)?;
        }
        Ok(target)
    }

    /// A proxy the system settings chose (macOS, Windows), as hyper-util's matcher found it.
    #[cfg_attr(not(system_proxy), allow(dead_code))]
    pub(crate) fn from_intercept(intercept: &Intercept) -> Result<ProxyTarget, InvalidProxy> {
        let mut target = ProxyTarget::from_uri(intercept.uri(), ProxySource::System)?;
        target.auth = auth_of(intercept, target.kind)?;
        Ok(target)
    }

    fn from_uri(uri: &Uri, source: ProxySource) -> Result<ProxyTarget, InvalidProxy> {
        let scheme = uri.scheme_str().unwrap_or("http").to_ascii_lowercase();
        let (kind, default_port) = match scheme.as_str() {
            "http" => (ProxyKind::Http, 80),
            "https" => (ProxyKind::Https, 443),
            "socks5" => (ProxyKind::Socks5, 1080),
            "socks5h" => (ProxyKind::Socks5h, 1080),
            _ => return Err(InvalidProxy::UnsupportedScheme(scheme)),
        };
        if uri.path_and_query().is_some_and(|pq| pq.as_str() != "/") {
            return Err(InvalidProxy::HasPath);
        }
        let HostPort { host, ip, port } =
            host_port(uri, default_port).map_err(InvalidProxy::Authority)?;
        let shown_host = match ip {
            Some(IpAddr::V6(_)) => format!("[{host}]"),
            _ => host.clone(),
        };
        let url = format!("{scheme}://{shown_host}:{port}")
            .parse()
            .map_err(|_| InvalidProxy::Unparseable)?;
        Ok(ProxyTarget {
            kind,
            host,
            ip,
            port,
            url,
            source,
            auth: ProxyAuth::None,
        })
    }
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

/// `raw` for messages: credentials replaced by `***`.
pub(crate) fn redacted(raw: &str) -> String {
    redact_uri(raw.trim())
}
