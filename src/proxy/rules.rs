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
    Exempt(Arc<ProxyTarget>),
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
        Outcome::Exempt(Arc::clone(target))
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

    /// `scheme://host:port/`.
    pub(crate) fn uri(&self) -> &Uri {
        self.uri.get_or_init(|| {
            let o = self.origin;
            let scheme = if o.is_tls() { "https" } else { "http" };
            let text = match o.ip() {
                Some(IpAddr::V6(_)) => format!("{scheme}://[{}]:{}/", o.host(), o.port()),
                _ => format!("{scheme}://{}:{}/", o.host(), o.port()),
            };
            // An Origin's host is checked (letters, digits, `-._`, or an IP), so this parses;
            // were it ever not to, no rule would see a host and none would exempt it.
            text.parse()
                .unwrap_or_else(|_| Uri::from_static("http://invalid/"))
        })
    }
}

/// Hosts a rule does not apply to, in `NO_PROXY` syntax. hyper-util's matcher parses the
/// domains, IPs and CIDR blocks; `*` is ours, because hyper-util's `*` skips IP-literal hosts
/// (`NO_PROXY=* ` would still proxy `https://127.0.0.1/`) while curl and Go mean "everything".
pub(crate) struct NoList {
    list: String,
    all: bool,
    matcher: Matcher,
}

impl NoList {
    /// `None` for a list with no entries.
    pub(crate) fn new(list: &str) -> Option<NoList> {
        let entries = list.split(',').map(str::trim).filter(|e| !e.is_empty());
        entries.clone().next()?;
        let all = entries.clone().any(|e| e == "*");
        // A matcher with a placeholder proxy and the list: it intercepts exactly the hosts the
        // list does not exempt.
        let matcher = Matcher::builder()
            .all("http://no-proxy-check.invalid:1")
            .no(list)
            .build();
        Some(NoList {
            list: list.to_owned(),
            all,
            matcher,
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
        self.all || self.matcher.intercept(dst.uri()).is_none()
    }
}

impl fmt::Debug for NoList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("NoList").field(&self.list).finish()
    }
}
