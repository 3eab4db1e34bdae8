//! Which proxy a connection goes through: [`Proxy`] rules from the environment, the system or
//! explicit settings, compiled once when the connector is built into [`Routes`], and asked per
//! origin. The protocols themselves (HTTP CONNECT, SOCKS5) are in `http` and `socks`; the
//! tunnel layer runs them.
//!
//! hyper-util's proxy matcher reads `NO_PROXY` rules and the macOS/Windows system settings;
//! where this module differs from it, on purpose, the code says so.

use std::fmt;
use std::sync::Arc;

use ::http::Uri;

use crate::error::{ConfigError, ConfigErrorReason, ConfigField};
use crate::origin::Origin;

mod env;
mod error;
pub(crate) mod forward;
pub(crate) mod http;
mod rules;
pub(crate) mod socks;
mod url;

pub(crate) use error::Failure;
pub use error::{ProxyError, SocksError, SocksReply};
pub use url::InvalidProxy;
pub(crate) use url::{ProxyAuth, ProxyTarget};

use env::EnvProxies;
use rules::{NoList, Rule};

/// A proxy rule for [`Builder::proxy`](crate::Builder::proxy).
///
/// Without any `.proxy()` call a connector uses [`Proxy::from_env()`]: the proxy variables of
/// the environment and, on macOS and Windows, the system proxy settings, as reqwest and curl
/// do. Any `.proxy()` call replaces that default; several calls add rules, and the first rule
/// that applies to a URL wins.
///
/// ```
/// use keepalive_connector::{Connector, Proxy};
/// let connector = Connector::builder()
///     .proxy(Proxy::https("http://proxy.corp:3128").no_proxy("localhost,.internal,10.0.0.0/8"))
///     .proxy(Proxy::all("socks5h://user:pass@127.0.0.1:1080"))
///     .build()?;
/// // `Debug` never shows credentials.
/// assert!(!format!("{connector:?}").contains("pass"));
/// # Ok::<(), keepalive_connector::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Proxy {
    rule: ProxyRule,
    no_proxy: Option<String>,
}

#[derive(Clone)]
enum ProxyRule {
    FromEnv,
    None,
    Explicit { scope: Scope, url: String },
}

/// Which origin schemes an explicit rule covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    All,
    Http,
    Https,
}

impl Proxy {
    /// Every origin (`http://` and `https://`) goes through the proxy at `url`:
    /// `http://`, `https://` (TLS to the proxy), `socks5://` (names resolved here, through the
    /// connector's resolver and DNS cache) or `socks5h://` (names resolved by the proxy), with optional
    /// percent-encoded `user:password@`. No scheme means `http://`; the port defaults to 80,
    /// 443 or 1080. Checked in [`Builder::build`](crate::Builder::build).
    pub fn all(url: &str) -> Proxy {
        Proxy::explicit(Scope::All, url)
    }

    /// `https://` origins go through the proxy at `url` (see [`all`](Proxy::all)).
    pub fn https(url: &str) -> Proxy {
        Proxy::explicit(Scope::Https, url)
    }

    /// `http://` origins go through the proxy at `url` (see [`all`](Proxy::all)).
    pub fn http(url: &str) -> Proxy {
        Proxy::explicit(Scope::Http, url)
    }

    /// The environment's proxy variables and, on macOS and Windows, the system proxy settings:
    /// the default, said out loud. Read once, when the connector is built.
    ///
    /// | variable | used for |
    /// |---|---|
    /// | `HTTPS_PROXY`, `https_proxy` | `https://` origins |
    /// | `HTTP_PROXY`, `http_proxy` | `http://` origins (not `HTTP_PROXY` under CGI, see below) |
    /// | `ALL_PROXY`, `all_proxy` | both, when the variable for the scheme is unset |
    /// | `NO_PROXY`, `no_proxy` | hosts that go direct, in the forms of [`no_proxy`](Proxy::no_proxy) |
    ///
    /// The upper-case name wins when both are set (a set but empty one hides its lower-case
    /// twin, and the scheme's variable then falls back to `ALL_PROXY`), as in hyper-util and
    /// reqwest; curl prefers the lower-case names. There are no implicit exceptions:
    /// `localhost` goes through a configured proxy unless `NO_PROXY` names it. When
    /// `REQUEST_METHOD` is set (a CGI program), `HTTP_PROXY` may come from a request's `Proxy:`
    /// header ("httpoxy") and is ignored; `http_proxy`, which no header can set, is not.
    ///
    /// On Windows the environment is case-insensitive: each name is one variable, whatever the
    /// case it was set in (the value set last wins). It is read by its upper-case name, which
    /// is the one errors and [`ProxySource::Env`] give, and under CGI neither spelling of
    /// `HTTP_PROXY` is read, since the header sets the one variable both name.
    ///
    /// A variable that is set to a URL this crate cannot use, or that is not valid Unicode
    /// (`NO_PROXY` included), fails [`build`](crate::Builder::build) with a
    /// [`ConfigError`](crate::ConfigError) naming it: going direct instead (or proxying the
    /// hosts `NO_PROXY` exempts) would change the route the environment chose.
    pub fn from_env() -> Proxy {
        Proxy {
            rule: ProxyRule::FromEnv,
            no_proxy: None,
        }
    }

    /// Always direct: no proxy from anywhere. Rules added after this one never apply.
    pub fn none() -> Proxy {
        Proxy {
            rule: ProxyRule::None,
            no_proxy: None,
        }
    }

    /// Hosts this rule does not apply to, in `NO_PROXY` syntax: comma-separated entries, the
    /// forms of curl and of Go's `httpproxy` (on [`from_env`](Proxy::from_env) it adds to
    /// `NO_PROXY`):
    ///
    /// | entry | exempts |
    /// |---|---|
    /// | `example.com`, `.example.com`, `*.example.com` | the domain and its subdomains (a leading `.` or `*.` changes nothing, as in curl; Go's would leave out the domain itself) |
    /// | `example.com.` | the same: trailing dots are ignored, the origin's too (curl) |
    /// | `192.0.2.7`, `::1`, `[::1]` | that address |
    /// | `10.0.0.0/8`, `fd00::/8`, `[fd00::]/8` | the block |
    /// | `example.com:8443`, `192.0.2.7:8080`, `[::1]:443` | that host (and, for a domain, its subdomains) on that port only (Go) |
    /// | `*` | everything, IP addresses too |
    ///
    /// Names compare case-insensitively; entries of no such form exempt nothing.
    pub fn no_proxy(mut self, hosts: &str) -> Proxy {
        self.no_proxy = Some(hosts.to_owned());
        self
    }

    fn explicit(scope: Scope, url: &str) -> Proxy {
        Proxy {
            rule: ProxyRule::Explicit {
                scope,
                url: url.to_owned(),
            },
            no_proxy: None,
        }
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Proxy");
        match &self.rule {
            ProxyRule::FromEnv => d.field("rule", &"from_env"),
            ProxyRule::None => d.field("rule", &"none"),
            ProxyRule::Explicit { scope, url } => {
                d.field("scope", scope).field("url", &url::redacted(url))
            }
        };
        d.field("no_proxy", &self.no_proxy).finish()
    }
}

/// What a proxy speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProxyKind {
    /// An HTTP proxy: `CONNECT` tunnels for `https://` origins, absolute-form forwarding for
    /// `http://` origins.
    Http,
    /// An HTTP proxy spoken to over TLS (its certificate verified like any server's), then as
    /// [`Http`](ProxyKind::Http).
    Https,
    /// SOCKS5 with the origin's name resolved here, through the connector's resolver, DNS cache
    /// and [`ip_family`](crate::Builder::ip_family) (a name that does not resolve fails as
    /// [`Phase::Dns`](crate::Phase::Dns), with the origin's host); the proxy is asked for each
    /// address in turn while it answers that it cannot reach one (replies 3 and 4).
    Socks5,
    /// SOCKS5 with the origin's name sent to the proxy, which resolves it.
    Socks5h,
}

impl ProxyKind {
    /// The URL scheme: `http`, `https`, `socks5`, `socks5h`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyKind::Http => "http",
            ProxyKind::Https => "https",
            ProxyKind::Socks5 => "socks5",
            ProxyKind::Socks5h => "socks5h",
        }
    }
}

impl fmt::Display for ProxyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a proxy setting came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProxySource {
    /// An environment variable, by its name as set (`HTTPS_PROXY`, `https_proxy`, …).
    Env(&'static str),
    /// The operating system's proxy settings (macOS, Windows).
    System,
    /// A [`Proxy::all`], [`Proxy::https`] or [`Proxy::http`] rule.
    Explicit,
}

impl fmt::Display for ProxySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxySource::Env(var) => f.write_str(var),
            ProxySource::System => f.write_str("system proxy settings"),
            ProxySource::Explicit => f.write_str("explicit proxy rule"),
        }
    }
}

/// The proxy a connection went through (see [`ConnectInfo::proxy`](crate::ConnectInfo::proxy)),
/// or would go through (see [`Connector::route`](crate::Connector::route)). Never holds a way
/// to reach the credentials: `Display` and `Debug` show the URL without them.
#[derive(Clone)]
pub struct ProxyInfo {
    target: Arc<ProxyTarget>,
}

impl ProxyInfo {
    pub(crate) fn new(target: Arc<ProxyTarget>) -> Self {
        ProxyInfo { target }
    }

    /// The proxy itself, credentials included: for the tunnel layer.
    pub(crate) fn target(&self) -> &ProxyTarget {
        &self.target
    }

    /// What the proxy speaks.
    pub fn kind(&self) -> ProxyKind {
        self.target.kind
    }

    /// `scheme://host:port`, without credentials.
    pub fn url(&self) -> &Uri {
        &self.target.url
    }

    /// Where the setting came from.
    pub fn source(&self) -> ProxySource {
        self.target.source
    }

    /// Whether credentials are configured for the proxy (they are never shown).
    pub fn has_credentials(&self) -> bool {
        self.target.auth.is_some()
    }
}

impl fmt::Debug for ProxyInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyInfo")
            .field("url", &self.target.url)
            .field("source", &self.target.source)
            .field("credentials", &self.has_credentials())
            .finish()
    }
}

impl fmt::Display for ProxyInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.target.url)
    }
}

impl PartialEq for ProxyInfo {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.target, &other.target)
            || (self.target.url == other.target.url && self.target.source == other.target.source)
    }
}

/// How a connector would reach an origin: [`Connector::route`](crate::Connector::route).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Route {
    /// Direct: no proxy applies.
    Direct,
    /// Through this proxy.
    Proxy(ProxyInfo),
    /// Direct, because a `NO_PROXY` (or [`Proxy::no_proxy`]) entry exempts the host from this
    /// proxy, which would otherwise apply.
    NoProxy(ProxyInfo),
}

/// One line for people: `direct`, `proxy http://proxy.corp:3128/ (from HTTPS_PROXY)`, or
/// `direct: a no-proxy entry exempts the host from http://proxy.corp:3128/ (from HTTPS_PROXY)`.
/// Never the proxy's credentials.
///
/// ```
/// use keepalive_connector::{Connector, Proxy};
/// let connector = Connector::builder()
///     .proxy(Proxy::all("http://user:secret@proxy.corp:3128").no_proxy(".internal"))
///     .build()?;
/// let route = |u: &str| connector.route(&u.parse().unwrap()).unwrap().to_string();
/// assert_eq!(route("https://example.com/"), "proxy http://proxy.corp:3128/ (from explicit proxy rule)");
/// assert_eq!(
///     route("https://api.internal/"),
///     "direct: a no-proxy entry exempts the host from http://proxy.corp:3128/ (from explicit proxy rule)"
/// );
/// # Ok::<(), keepalive_connector::ConfigError>(())
/// ```
impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Route::Direct => f.write_str("direct"),
            Route::Proxy(p) => write!(f, "proxy {p} (from {})", p.source()),
            Route::NoProxy(p) => write!(
                f,
                "direct: a no-proxy entry exempts the host from {p} (from {})",
                p.source()
            ),
        }
    }
}

/// The compiled proxy rules of a connector: checked once, asked per connection.
#[derive(Debug)]
pub(crate) struct Routes {
    rules: Vec<Rule>,
}

/// What [`Routes::decide`] found for an origin (the three cases of the public [`Route`]).
pub(crate) enum Decision {
    Direct,
    Proxy(Arc<ProxyTarget>),
    /// Direct, because a no-proxy entry exempts the host from this proxy.
    NoProxy(Arc<ProxyTarget>),
}

impl Routes {
    /// Compiles `proxies` (the environment's when `None`): reads the environment once, checks
    /// every URL, and refuses what cannot be used.
    pub(crate) fn build(proxies: Option<&[Proxy]>) -> Result<Routes, ConfigError> {
        let default = [Proxy::from_env()];
        let proxies = proxies.unwrap_or(&default);
        let mut rules = Vec::with_capacity(proxies.len());
        for proxy in proxies {
            let no = proxy.no_proxy.as_deref().and_then(NoList::new);
            let rule = match &proxy.rule {
                ProxyRule::None => Rule::Direct,
                ProxyRule::FromEnv => Rule::Env(EnvProxies::read(no)?),
                ProxyRule::Explicit { scope, url } => {
                    let target = ProxyTarget::parse(url, ProxySource::Explicit).map_err(|e| {
                        ConfigError::new(
                            ConfigField::Proxy,
                            url::redacted(url),
                            ConfigErrorReason::InvalidProxy(e),
                        )
                    })?;
                    Rule::Explicit {
                        scope: *scope,
                        target: Arc::new(target),
                        no,
                    }
                }
            };
            rules.push(rule);
        }
        Ok(Routes { rules })
    }

    /// `true` when no rule can ever send a connection through a proxy: the fast path.
    pub(crate) fn always_direct(&self) -> bool {
        self.rules.iter().all(Rule::never_proxies)
    }

    /// The first rule that applies to `origin` wins; a rule whose no-proxy list exempts the
    /// host passes to the next, and if none applies the exemption is what is reported.
    pub(crate) fn decide(&self, origin: &Origin) -> Decision {
        if self.always_direct() {
            return Decision::Direct;
        }
        let dst = rules::Dst::new(origin);
        let mut exempt = None;
        for rule in &self.rules {
            match rule.decide(&dst) {
                rules::Outcome::Pass => {}
                rules::Outcome::NoProxy(target) => {
                    exempt.get_or_insert(target);
                }
                rules::Outcome::Direct => break,
                rules::Outcome::Proxy(target) => return Decision::Proxy(target),
            }
        }
        match exempt {
            Some(target) => Decision::NoProxy(target),
            None => Decision::Direct,
        }
    }
}
