//! From the parsed command line to the checked settings of one run: every value the library
//! validates is tried once by building a connector for every mode, so a refused value is a
//! usage error before anything touches the network.

use std::time::Duration;

use http::{HeaderMap, Uri};
use keepalive_connector::{Keepalive, StaticResolver, Trust};

use crate::cli::{Cli, FamilyChoice, RouteChoice, Seconds};
use crate::error::ProbeError;
use crate::model::{Mode, RouteKind};
use crate::probe::RequestSpec;
use crate::route::{RoutePlan, Rules};
use crate::url::TargetUrl;

/// Which certificates a connector trusts: `--trust` (or its default) and the roots added on
/// top.
#[derive(Debug, Clone)]
pub(crate) struct Roots {
    pub(crate) trust: Trust,
    /// Whether `--trust` was given; if not, `--cacert` (or the embedded server's CA) is all
    /// that is trusted, as with curl's `--cacert`.
    pub(crate) explicit: bool,
    pub(crate) pems: Vec<Vec<u8>>,
}

impl Roots {
    /// Adds `pem`; without an explicit `--trust`, it is then the only trust.
    pub(crate) fn add(&mut self, pem: Vec<u8>) {
        if !self.explicit {
            self.trust = Trust::AddedRootsOnly;
        }
        self.pems.push(pem);
    }
}

/// Which HTTP versions are offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Http {
    Both,
    Http1,
    Http2,
}

/// The checked settings of one run.
#[derive(Debug)]
pub(crate) struct Settings {
    /// The URL without user info, and as printed.
    pub(crate) url: Option<TargetUrl>,
    pub(crate) modes: Vec<Mode>,
    /// The keepalive values asked for (used by every mode but `off`).
    pub(crate) keepalive: Keepalive,
    pub(crate) repeat: u32,
    pub(crate) resolver: StaticResolver,
    pub(crate) roots: Roots,
    pub(crate) http: Http,
    pub(crate) spec: RequestSpec,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) handshake_timeout: Option<Duration>,
    /// Where the proxy route's rules come from.
    pub(crate) rules: Rules,
    /// `--route`, when given.
    pub(crate) route_choice: Option<RouteChoice>,
    /// The routes to probe (direct only for the embedded server).
    pub(crate) routes: RoutePlan,
    /// `--family`.
    pub(crate) family: FamilyChoice,
    pub(crate) json: bool,
    /// `--idle`'s MAX.
    pub(crate) idle: Option<Duration>,
    /// What the user typed, to name it when the connector refuses a value.
    pub(crate) given: Given,
}

/// The raw text of the options the connector validates.
#[derive(Debug, Default)]
pub(crate) struct Given {
    pub(crate) idle: Option<String>,
    pub(crate) interval: Option<String>,
    pub(crate) retries: Option<String>,
    pub(crate) connect_timeout: Option<String>,
    pub(crate) handshake_timeout: Option<String>,
    pub(crate) cacert: Option<String>,
    pub(crate) trust: Option<String>,
}

impl Settings {
    /// Reads `--cacert`, and builds a connector for every mode once, so any value the library
    /// refuses is a usage error before anything touches the network.
    pub(crate) fn from_cli(cli: Cli) -> Result<Settings, ProbeError> {
        let url = match &cli.url {
            Some(raw) => Some(crate::url::parse(raw).map_err(|reason| {
                ProbeError::Usage(format!(
                    "error: URL {}: {reason} (see --help)",
                    crate::url::redact(raw)
                ))
            })?),
            None => None,
        };
        let idle = match &cli.idle {
            Some(raw) => Some(idle_max(raw, &cli)?),
            None => None,
        };
        let raw = |s: &Option<Seconds>| s.as_ref().map(|s| s.raw().to_owned());
        let given = Given {
            idle: raw(&cli.keepalive_idle),
            interval: raw(&cli.keepalive_interval),
            retries: cli.keepalive_retries.map(|r| r.to_string()),
            connect_timeout: raw(&cli.connect_timeout),
            handshake_timeout: raw(&cli.handshake_timeout),
            cacert: cli.cacert.as_ref().map(|p| p.display().to_string()),
            trust: cli.trust.map(|t| t.to_string()),
        };
        // Only what the user typed is a requirement: a value left at its default gives way to
        // the OS's own where this OS cannot set it (Windows's TCP_KEEPCNT before 10 1703).
        let mut keepalive = Keepalive::new();
        if let Some(idle) = &cli.keepalive_idle {
            keepalive = keepalive.idle(idle.duration());
        }
        if let Some(interval) = &cli.keepalive_interval {
            keepalive = keepalive.interval(interval.duration());
        }
        if let Some(retries) = cli.keepalive_retries {
            keepalive = keepalive.retries(retries);
        }
        if cli.request_timeout.duration().is_zero() {
            return Err(ProbeError::Usage(format!(
                "error: --request-timeout {}: must not be zero",
                cli.request_timeout.raw()
            )));
        }
        let mut roots = Roots {
            trust: cli.trust.unwrap_or_default(),
            explicit: cli.trust.is_some(),
            pems: Vec::new(),
        };
        if let Some(path) = &cli.cacert {
            let pem = std::fs::read(path).map_err(|source| ProbeError::CaFile {
                path: path.clone(),
                source,
            })?;
            roots.add(pem);
        }
        let resolver = cli
            .resolve
            .iter()
            .cloned()
            .fold(StaticResolver::new(), StaticResolver::entry);
        let http = match (cli.http1, cli.http2) {
            (true, _) => Http::Http1,
            (_, true) => Http::Http2,
            _ => Http::Both,
        };
        // The URL is only a placeholder until the embedded server has a port.
        let uri = url
            .as_ref()
            .map_or_else(|| Uri::from_static("https://localhost/"), |u| u.uri.clone());
        let mut spec = RequestSpec::new(uri, cli.method.clone(), cli.request_timeout.duration());
        let mut user = HeaderMap::new();
        for header in &cli.headers {
            user.append(header.name.clone(), header.value.clone());
        }
        for name in user.keys() {
            spec.headers.remove(name);
        }
        spec.headers.extend(user);
        let rules = match (&url, cli.proxy, cli.no_proxy) {
            (None, proxy, _) => {
                if proxy.is_some() {
                    return Err(ProbeError::Usage(
                        "error: --proxy needs a URL: the embedded server is on this host's \
                         loopback and is reached directly only"
                            .to_owned(),
                    ));
                }
                Rules::Embedded
            }
            (Some(_), Some(proxy), _) => Rules::Explicit(proxy),
            (Some(_), None, true) => Rules::Ignored,
            (Some(_), None, false) => Rules::Env,
        };
        let mut settings = Settings {
            url,
            modes: cli.stage.modes(),
            keepalive,
            repeat: cli.repeat,
            resolver,
            roots,
            http,
            spec,
            connect_timeout: cli.connect_timeout.as_ref().map(Seconds::duration),
            handshake_timeout: cli.handshake_timeout.as_ref().map(Seconds::duration),
            rules,
            route_choice: cli.route,
            routes: RoutePlan::embedded(None)?,
            family: cli.family,
            json: cli.json,
            idle,
            given,
        };
        // The user's rules, built once: a proxy variable or --proxy URL the library refuses
        // is a usage error before anything touches the network.
        let user = settings.connector(Mode::Off, RouteKind::Proxy, None, &settings.roots)?;
        settings.routes = match &settings.url {
            Some(url) => {
                RoutePlan::decide(&user, &url.uri, &settings.rules, settings.route_choice)?
            }
            None => RoutePlan::embedded(settings.route_choice)?,
        };
        let forced = settings.family.forced();
        for mode in Mode::ALL {
            settings.connector(mode, RouteKind::Direct, forced, &settings.roots)?;
        }
        Ok(settings)
    }
}

/// `--idle MAX`, checked, and the options it cannot go with.
fn idle_max(raw: &str, cli: &Cli) -> Result<Duration, ProbeError> {
    let max = crate::idle::ladder::parse_max(raw).map_err(ProbeError::Usage)?;
    let conflict = if cli.repeat > 1 {
        Some("--repeat: each connection of --idle is held once")
    } else if cli.stage.modes() == [Mode::Off] {
        Some("--stage off: --idle compares connections with keepalive and without")
    } else if cli.route == Some(RouteChoice::Both) {
        Some("--route both: --idle holds connections on one route (proxy or direct)")
    } else {
        None
    };
    match conflict {
        Some(why) => Err(ProbeError::Usage(format!("error: --idle with {why}"))),
        None => Ok(max),
    }
}
