//! Which routes the probe compares: the one the user's proxy rules choose for the URL (the
//! environment's and the system's, or `--proxy`), and direct. The library decides
//! ([`Connector::route`]); this module turns its answer and `--route` into the routes to
//! probe, or into a usage error that says why no proxy applies.

use http::Uri;
use keepalive_connector::{Connector, Origin, Proxy, ProxySource, Route};

use crate::cli::RouteChoice;
use crate::error::ProbeError;
use crate::model::RouteKind;
use crate::verdict::ProxyName;

/// Where the proxy rules come from.
#[derive(Debug, Clone)]
pub(crate) enum Rules {
    /// The environment and the system: the connector's default.
    Env,
    /// `--proxy URL`.
    Explicit(Proxy),
    /// `--no-proxy`.
    Ignored,
    /// No URL: the embedded server, on this host's loopback.
    Embedded,
}

impl Rules {
    /// The rule the proxy route's connectors get: `None` keeps the connector's default (the
    /// environment's).
    pub(crate) fn proxy_rule(&self) -> Option<Proxy> {
        match self {
            Rules::Env => None,
            Rules::Explicit(proxy) => Some(proxy.clone()),
            Rules::Ignored | Rules::Embedded => Some(Proxy::none()),
        }
    }
}

/// Why the report says what it says about proxies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Why {
    /// A proxy applies to the URL.
    Applies,
    /// A proxy would apply, but this no-proxy variable exempts the host.
    Exempt(&'static str),
    /// No proxy is configured for the URL's scheme.
    NoneConfigured,
    /// `--no-proxy`.
    Ignored,
    /// The embedded server.
    Embedded,
}

/// The routes to probe and what the header says about them.
#[derive(Debug, Clone)]
pub(crate) struct RoutePlan {
    /// In connection order: the proxy first.
    pub(crate) routes: Vec<RouteKind>,
    /// The proxy the rules name for the URL, also when the host is exempt.
    pub(crate) proxy: Option<ProxyName>,
    /// Why.
    pub(crate) why: Why,
    /// The host of the URL.
    pub(crate) host: String,
    /// `http` or `https`: which proxy variable would apply.
    pub(crate) scheme: &'static str,
}

impl RoutePlan {
    /// The embedded server's plan: direct only, and `--route proxy|both` a usage error.
    pub(crate) fn embedded(choice: Option<RouteChoice>) -> Result<Self, ProbeError> {
        let plan = RoutePlan {
            routes: vec![RouteKind::Direct],
            proxy: None,
            why: Why::Embedded,
            host: "localhost".to_owned(),
            scheme: "https",
        };
        match choice {
            Some(wanted @ (RouteChoice::Proxy | RouteChoice::Both)) => Err(plan.refuse(wanted)),
            _ => Ok(plan),
        }
    }

    /// The proxy of the proxy route, when it is probed.
    pub(crate) fn probed_proxy(&self) -> Option<&ProxyName> {
        self.proxy
            .as_ref()
            .filter(|_| self.routes.contains(&RouteKind::Proxy))
    }

    /// Whether a no-proxy rule exempted the host.
    pub(crate) fn no_proxy_matched(&self) -> bool {
        matches!(self.why, Why::Exempt(_))
    }

    /// Decides the routes for `uri` from what `user` (a connector with the user's rules)
    /// would do, and `--route`.
    pub(crate) fn decide(
        user: &Connector,
        uri: &Uri,
        rules: &Rules,
        choice: Option<RouteChoice>,
    ) -> Result<RoutePlan, ProbeError> {
        // The URL was checked when it was parsed; the route is read from the rules only.
        let route = user.route(uri).unwrap_or(Route::Direct);
        let host = Origin::from_uri(uri)
            .map(|o| o.host().to_owned())
            .unwrap_or_default();
        let scheme = if uri.scheme_str() == Some("http") {
            "http"
        } else {
            "https"
        };
        let name = |info: &keepalive_connector::ProxyInfo| ProxyName {
            url: info.url().to_string(),
            source: info.source(),
        };
        let (proxy, why) = match (&route, rules) {
            (_, Rules::Ignored) => (None, Why::Ignored),
            (_, Rules::Embedded) => (None, Why::Embedded),
            (Route::Proxy(info), _) => (Some(name(info)), Why::Applies),
            (Route::NoProxy(info), _) => (Some(name(info)), Why::Exempt(no_proxy_variable())),
            _ => (None, Why::NoneConfigured),
        };
        let applies = why == Why::Applies;
        let routes = match (choice, applies) {
            (None | Some(RouteChoice::Both), true) => vec![RouteKind::Proxy, RouteKind::Direct],
            (Some(RouteChoice::Proxy), true) => vec![RouteKind::Proxy],
            (None | Some(RouteChoice::Direct), _) => vec![RouteKind::Direct],
            (Some(wanted), false) => {
                let plan = RoutePlan {
                    routes: Vec::new(),
                    proxy,
                    why,
                    host,
                    scheme,
                };
                return Err(plan.refuse(wanted));
            }
        };
        Ok(RoutePlan {
            routes,
            proxy,
            why,
            host,
            scheme,
        })
    }

    /// The usage error for `--route proxy|both` when no proxy applies: why none does.
    fn refuse(&self, wanted: RouteChoice) -> ProbeError {
        let flag = match wanted {
            RouteChoice::Proxy => "proxy",
            _ => "both",
        };
        ProbeError::Usage(format!("error: --route {flag}: {}", self.why_no_proxy()))
    }

    /// Why no proxy applies.
    fn why_no_proxy(&self) -> String {
        match (&self.why, &self.proxy) {
            (Why::Exempt(var), Some(proxy)) => format!(
                "{var} exempts {} from the proxy {} ({}), so only direct applies (--proxy URL \
                 probes through a proxy anyway)",
                self.host,
                proxy.url,
                proxy.source_name()
            ),
            (Why::Ignored, _) => "--no-proxy leaves no proxy to probe through".to_owned(),
            (Why::Embedded, _) => "the embedded server is on this host's loopback and is \
                                   reached directly only; give a URL to compare routes"
                .to_owned(),
            _ => format!(
                "no proxy applies to {}:// URLs: {} (--proxy URL names one)",
                self.scheme,
                self.none_configured()
            ),
        }
    }

    /// The header's `proxy:` line, without the label.
    pub(crate) fn proxy_line(&self) -> String {
        match (&self.why, &self.proxy) {
            (Why::Applies, Some(p)) if p.source == ProxySource::Explicit => {
                format!(
                    "{} (from --proxy; the environment's settings are ignored)",
                    p.url
                )
            }
            (Why::Applies, Some(p)) => format!(
                "{} (from {}; NO_PROXY does not exempt {})",
                p.url,
                p.source_name(),
                self.host
            ),
            (Why::Exempt(var), Some(p)) => format!(
                "none for {}: {var} exempts it from {} ({})",
                self.host,
                p.url,
                p.source_name()
            ),
            (Why::Ignored, _) => {
                "none (--no-proxy: the environment's settings are ignored)".to_owned()
            }
            (Why::Embedded, _) => {
                "none (the embedded server is on this host's loopback: reached directly)".to_owned()
            }
            _ => format!("none: {}", self.none_configured()),
        }
    }

    /// The variables that would name a proxy for the URL's scheme, none of them set.
    fn none_configured(&self) -> String {
        let var = if self.scheme == "http" {
            "HTTP_PROXY"
        } else {
            "HTTPS_PROXY"
        };
        format!(
            "neither {var} nor ALL_PROXY (nor their lower-case forms) is set, and no system \
             proxy"
        )
    }

    /// The header's `routes:` line, without the label.
    pub(crate) fn routes_line(&self, choice_given: bool) -> String {
        match self.routes.as_slice() {
            [RouteKind::Proxy, RouteKind::Direct] => {
                "through the proxy, then direct, every stage on each (--route to choose one)"
                    .to_owned()
            }
            [RouteKind::Proxy] => "through the proxy only (--route proxy)".to_owned(),
            _ if self.why == Why::Applies && choice_given => {
                "direct only (--route direct: the proxy is not probed)".to_owned()
            }
            _ => "direct".to_owned(),
        }
    }
}

/// The no-proxy variable the library read: the upper-case name wins when set, as for every
/// proxy variable (`Proxy::from_env`).
fn no_proxy_variable() -> &'static str {
    if std::env::var_os("NO_PROXY").is_some() {
        "NO_PROXY"
    } else {
        "no_proxy"
    }
}
