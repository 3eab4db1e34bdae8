//! One compiled proxy rule, and the `NO_PROXY`-style host lists rules carry.

use std::cell::OnceCell;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use http::Uri;
use hyper_util::client::proxy::matcher::Matcher;

use super::env::EnvProxies;
use super::{ProxyTarget, Scope};
use crate::origin::Origin;

/// A compiled [`Proxy`](super::Proxy).
#[derive(Debug)]
pub(crate) enum Rule {
    /// [`Proxy::none`](super::Proxy::none).
    Direct,
    /// [`Proxy::all`](super::Proxy::all), `https`, `http`.
    Explicit {
        scope: Scope,
        target: Arc<ProxyTarget>,
        no: Option<NoList>,
    },
    /// [`Proxy::from_env`](super::Proxy::from_env).
    Env(EnvProxies),
}

/// What one rule says about an origin.
pub(crate) enum Outcome {
    /// The rule does not apply: ask the next.
    Pass,
    /// Go direct, whatever the later rules say.
    Direct,
    /// Through this proxy.
    Proxy(Arc<ProxyTarget>),
    /// The rule's proxy would apply but its no-proxy list exempts the host: ask the next.
    NoProxy(Arc<ProxyTarget>),
}

impl Rule {
    /// `true` when this rule can never send a connection through a proxy.
    pub(crate) fn never_proxies(&self) -> bool {
        match self {
            Rule::Direct => true,
            Rule::Explicit { .. } => false,
            Rule::Env(env) => env.is_empty(),
        }
    }

    pub(crate) fn decide(&self, dst: &Dst<'_>) -> Outcome {
        match self {
            Rule::Direct => Outcome::Direct,
            Rule::Explicit { scope, target, no } => {
                let applies = match scope {
                    Scope::All => true,
                    Scope::Https => dst.origin.is_tls(),
                    Scope::Http => !dst.origin.is_tls(),
                };
                if !applies {
                    return Outcome::Pass;
                }
                exempt_or_proxy(no.as_ref(), dst, target)
            }
            Rule::Env(env) => match env.target_for(dst) {
                Some(target) => exempt_or_proxy(env.no(), dst, target),
                None => Outcome::Pass,
            },
        }
    }
}

fn exempt_or_proxy(no: Option<&NoList>, dst: &Dst<'_>, target: &Arc<ProxyTarget>) -> Outcome {
    if no.is_some_and(|no| no.exempts(dst)) {
        Outcome::NoProxy(Arc::clone(target))
    } else {
        Outcome::Proxy(Arc::clone(target))
    }
}

/// The origin as hyper-util's matcher takes it (a URI), made only when a rule asks.
pub(crate) struct Dst<'a> {
    pub(crate) origin: &'a Origin,
    uri: OnceCell<Uri>,
}

impl<'a> Dst<'a> {
    pub(crate) fn new(origin: &'a Origin) -> Self {
        Dst {
            origin,
            uri: OnceCell::new(),
        }
    }

    /// `scheme://host:port/`, a name without its trailing dot: `internal.corp.` is the same
    /// host as `internal.corp` (curl ignores the dot too), and hyper-util's matcher compares
    /// the text.
    pub(crate) fn uri(&self) -> &Uri {
        self.uri.get_or_init(|| {
            let o = self.origin;
            let scheme = if o.is_tls() { "https" } else { "http" };
            let text = match o.ip() {
                Some(IpAddr::V6(_)) => format!("{scheme}://[{}]:{}/", o.host(), o.port()),
                _ => {
                    let host = o.host().strip_suffix('.').unwrap_or(o.host());
                    format!("{scheme}://{host}:{}/", o.port())
                }
            };
            // An Origin's host is checked (letters, digits, `-._`, or an IP), so this parses;
            // were it ever not to, no rule would see a host and none would exempt it.
            text.parse()
                .unwrap_or_else(|_| Uri::from_static("http://invalid/"))
        })
    }
}

/// Hosts a rule does not apply to, in `NO_PROXY` syntax: the forms of curl and of Go's
/// `httpproxy`. hyper-util's matcher does the matching (domains and their subdomains, IP
/// addresses, CIDR blocks); what it does not read is normalised here first, entry by entry:
///
/// - `*` alone is ours, because hyper-util's `*` skips IP-literal hosts (`NO_PROXY=*` would
///   still proxy `https://127.0.0.1/`) while curl and Go mean "everything";
/// - `[::1]` (and `[::1]:443`, `[fd00::]/8`) loses its brackets: hyper-util reads only bare
///   IPv6 addresses and would take the bracketed form for a domain that never matches;
/// - `*.example.com` becomes `.example.com` (Go's form; hyper-util takes `*.` literally);
/// - a trailing dot goes (`corp.` is `corp`, as in curl), and so does the origin's;
/// - `host:port` and `1.2.3.4:80` (Go's) exempt that port only: one matcher per port, since
///   hyper-util's ignores ports.
pub(crate) struct NoList {
    list: String,
    all: bool,
    /// The entries without a port.
    matcher: Matcher,
    /// The entries with one, per port.
    by_port: Vec<(u16, Matcher)>,
}

impl NoList {
    /// `None` for a list with no entries.
    pub(crate) fn new(list: &str) -> Option<NoList> {
        let entries = list.split(',').map(str::trim).filter(|e| !e.is_empty());
        entries.clone().next()?;
        let all = entries.clone().any(|e| e == "*");
        let mut any_port = Vec::new();
        let mut by_port: Vec<(u16, Vec<String>)> = Vec::new();
        for (entry, port) in entries.filter_map(normalise) {
            match port {
                None => any_port.push(entry),
                Some(port) => match by_port.iter_mut().find(|(p, _)| *p == port) {
                    Some((_, entries)) => entries.push(entry),
                    None => by_port.push((port, vec![entry])),
                },
            }
        }
        Some(NoList {
            list: list.to_owned(),
            all,
            matcher: exempting(&any_port),
            by_port: by_port
                .into_iter()
                .map(|(port, entries)| (port, exempting(&entries)))
                .collect(),
        })
    }

    /// Two lists as one (`NO_PROXY` plus a rule's own entries).
    pub(crate) fn join(a: Option<NoList>, b: Option<NoList>) -> Option<NoList> {
        match (a, b) {
            (Some(a), Some(b)) => NoList::new(&format!("{},{}", a.list, b.list)),
            (a, b) => a.or(b),
        }
    }

    pub(crate) fn exempts(&self, dst: &Dst<'_>) -> bool {
        let port = dst.origin.port();
        self.all
            || self.matcher.intercept(dst.uri()).is_none()
            || self
                .by_port
                .iter()
                .any(|(p, m)| *p == port && m.intercept(dst.uri()).is_none())
    }
}

/// A matcher with a placeholder proxy and `entries` as its no-proxy list: it intercepts exactly
/// the hosts the entries do not exempt.
fn exempting(entries: &[String]) -> Matcher {
    Matcher::builder()
        .all("http://no-proxy-check.invalid:1")
        .no(entries.join(","))
        .build()
}

/// One `NO_PROXY` entry in the form hyper-util's matcher reads, and the port it is limited to
/// (`None`: every port). `None` for `*` (handled apart) and entries with nothing left.
fn normalise(entry: &str) -> Option<(String, Option<u16>)> {
    if entry == "*" {
        return None;
    }
    // `[v6]`, `[v6]:port`, `[v6]/bits`.
    if let Some(rest) = entry.strip_prefix('[') {
        let (addr, after) = rest.split_once(']')?;
        return match after.strip_prefix(':') {
            Some(port) => Some((addr.to_owned(), Some(port.parse().ok()?))),
            None => Some((format!("{addr}{after}"), None)),
        };
    }
    // A bare IP address or CIDR block (`::1` has colons but no port).
    if entry.parse::<IpAddr>().is_ok() || entry.contains('/') {
        return Some((entry.to_owned(), None));
    }
    let (host, port) = match entry.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, Some(port.parse().ok()?)),
        _ => (entry, None),
    };
    // `*.example.com` → `.example.com`; no other `*` is a wildcard.
    let host = host
        .strip_prefix('*')
        .filter(|h| h.starts_with('.'))
        .unwrap_or(host);
    let host = host.strip_suffix('.').unwrap_or(host);
    (!host.is_empty() && host != ".").then(|| (host.to_ascii_lowercase(), port))
}

impl fmt::Debug for NoList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("NoList").field(&self.list).finish()
    }
}
