//! From the parsed command line to a printed report: settings, connectors (one fresh one per
//! connection), the embedded server when no URL is given, and the exit status.

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use http::{HeaderMap, Uri};
use keepalive_connector::{
    Builder, ConfigError, ConfigField, Connector, Family, Keepalive, Origin, Phase, Proxy, Stage,
    StaticResolver, Trust,
};
use keepalive_testserver::TestServer;

use crate::cli::{Cli, FamilyChoice, RouteChoice, Seconds};
use crate::error::{Exit, ProbeError};
use crate::family::FamilyPlan;
use crate::idle::{IdlePlan, KeepaliveChoice};
use crate::model::{Attempt, FailPhase, Mode, RouteKind, RowKind, StageResult};
use crate::probe::{self, RequestSpec};
use crate::progress::Progress;
use crate::report::{self, Report};
use crate::route::{RoutePlan, Rules};
use crate::table::Palette;
use crate::url::TargetUrl;
use crate::{json, verdict};

/// Runs the probe on `args` and says how to exit. An error is one line on stderr and, with
/// `--json`, also a JSON document on stdout, so a script reading stdout always gets one.
pub(crate) fn main<I, T>(args: I) -> Exit
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    // Known before parsing, which may be what fails: `--json` anywhere before a `--`.
    let json = args
        .iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| a == "--json");
    match run(args) {
        Ok(exit) => exit,
        Err(err) => {
            eprintln!("keepalive-probe: {err}");
            if json {
                let _ = std::io::stdout()
                    .lock()
                    .write_all(json::render_error(&err).as_bytes());
            }
            err.exit()
        }
    }
}

/// Parses `args`, probes, prints the report and says how to exit.
pub(crate) fn run<I, T>(args: I) -> Result<Exit, ProbeError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => return clap_outcome(&err),
    };
    if cli.verbose {
        init_tracing();
    }
    let settings = Settings::from_cli(cli)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| ProbeError::Setup {
            what: "cannot start the tokio runtime",
            source,
        })?;
    if settings.idle.is_some() {
        let report = runtime.block_on(idle_all(&settings))?;
        let text = if settings.json {
            crate::idle::render_json(&report)
        } else {
            crate::idle::render_text(&report, Palette { enabled: colour() })
        };
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
        return Ok(report.exit());
    }
    let report = runtime.block_on(probe_all(&settings))?;
    let text = if settings.json {
        json::render(&report)
    } else {
        report::render(&report, Palette { enabled: colour() })
    };
    // A closed stdout (`| head`) is not worth a panic; the exit status still tells.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(if report.all_ok() {
        Exit::Ok
    } else {
        Exit::Failed
    })
}

/// Colour on a terminal, unless `NO_COLOR` says otherwise.
fn colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// `--help` and `--version` print and succeed; anything else is a usage error, reported on one
/// line (clap's first line names the option and the bad value).
fn clap_outcome(err: &clap::Error) -> Result<Exit, ProbeError> {
    use clap::error::ErrorKind;
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = err.print();
            Ok(Exit::Ok)
        }
        _ => {
            let text = err.to_string();
            let first = text.lines().next().unwrap_or("error: bad command line");
            Err(ProbeError::Usage(format!("{first} (see --help)")))
        }
    }
}

/// `-v`: the connector's and the probe's debug events on stderr.
fn init_tracing() {
    use tracing::Level;
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::prelude::*;
    let filter = Targets::new()
        .with_target("keepalive_connector", Level::DEBUG)
        .with_target("keepalive_probe", Level::DEBUG);
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(filter)
        .init();
}

/// Which certificates a connector trusts: `--trust` (or its default) and the roots added on
/// top.
#[derive(Debug, Clone)]
struct Roots {
    trust: Trust,
    /// Whether `--trust` was given; if not, `--cacert` (or the embedded server's CA) is all
    /// that is trusted, as with curl's `--cacert`.
    explicit: bool,
    pems: Vec<Vec<u8>>,
}

impl Roots {
    /// Adds `pem`; without an explicit `--trust`, it is then the only trust.
    fn add(&mut self, pem: Vec<u8>) {
        if !self.explicit {
            self.trust = Trust::AddedRootsOnly;
        }
        self.pems.push(pem);
    }
}

/// Which HTTP versions are offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Http {
    Both,
    Http1,
    Http2,
}

/// The checked settings of one run.
#[derive(Debug)]
struct Settings {
    /// The URL without user info, and as printed.
    url: Option<TargetUrl>,
    modes: Vec<Mode>,
    /// The keepalive values asked for (used by every mode but `off`).
    keepalive: Keepalive,
    repeat: u32,
    resolver: StaticResolver,
    roots: Roots,
    http: Http,
    spec: RequestSpec,
    connect_timeout: Option<Duration>,
    handshake_timeout: Option<Duration>,
    /// Where the proxy route's rules come from.
    rules: Rules,
    /// `--route`, when given.
    route_choice: Option<RouteChoice>,
    /// The routes to probe (direct only for the embedded server).
    routes: RoutePlan,
    /// `--family`.
    family: FamilyChoice,
    json: bool,
    /// `--idle`'s MAX.
    idle: Option<Duration>,
    /// What the user typed, to name it when the connector refuses a value.
    given: Given,
}

/// The raw text of the options the connector validates.
#[derive(Debug, Default)]
struct Given {
    idle: Option<String>,
    interval: Option<String>,
    retries: Option<String>,
    connect_timeout: Option<String>,
    handshake_timeout: Option<String>,
    cacert: Option<String>,
    trust: Option<String>,
}

impl Settings {
    /// Reads `--cacert`, and builds a connector for every mode once, so any value the library
    /// refuses is a usage error before anything touches the network.
    fn from_cli(cli: Cli) -> Result<Settings, ProbeError> {
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

    /// A fresh connector for `mode` on `route`, over `family` alone when given: its own TLS
    /// session cache, so every handshake is a full one and no stage profits from an earlier
    /// stage's session. The direct route goes direct whatever the environment says; the proxy
    /// route keeps the user's rules. The embedded server's rows are all direct: it listens on
    /// this host's loopback, which only direct reaches.
    fn connector(
        &self,
        mode: Mode,
        route: RouteKind,
        family: Option<Family>,
        roots: &Roots,
    ) -> Result<Connector, ProbeError> {
        self.connector_with(mode, route, family, roots, &self.resolver)
    }

    /// [`connector`](Settings::connector) with another resolver (the embedded server's).
    fn connector_with(
        &self,
        mode: Mode,
        route: RouteKind,
        family: Option<Family>,
        roots: &Roots,
        resolver: &StaticResolver,
    ) -> Result<Connector, ProbeError> {
        let keepalive = match mode {
            Mode::At(stage) => Some((self.keepalive, stage)),
            Mode::Off => None,
        };
        self.connector_keepalive(keepalive, route, family, roots, resolver)
    }

    /// [`connector_with`](Settings::connector_with) with keepalive values of its own (`None`:
    /// off), for `--idle`'s connections.
    fn connector_keepalive(
        &self,
        keepalive: KeepaliveChoice,
        route: RouteKind,
        family: Option<Family>,
        roots: &Roots,
        resolver: &StaticResolver,
    ) -> Result<Connector, ProbeError> {
        let mut builder: Builder = Connector::builder().dns_resolver(resolver.clone());
        let rule = match route {
            RouteKind::Direct => Some(Proxy::none()),
            RouteKind::Proxy => self.rules.proxy_rule(),
        };
        if let Some(rule) = rule {
            builder = builder.proxy(rule);
        }
        if let Some(family) = family {
            builder = builder.ip_family(family);
        }
        builder = match keepalive {
            Some((values, stage)) => builder.keepalive(values).keepalive_at(stage),
            None => builder.keepalive(Keepalive::off()),
        };
        if let Some(timeout) = self.connect_timeout {
            builder = builder.connect_timeout(timeout);
        }
        if let Some(timeout) = self.handshake_timeout {
            builder = builder.handshake_timeout(timeout);
        }
        builder = match self.http {
            Http::Both => builder,
            Http::Http1 => builder.http1_only(),
            Http::Http2 => builder.http2_only(),
        };
        builder = builder.trust(roots.trust);
        for pem in &roots.pems {
            builder = builder.add_root_certificates_pem(pem);
        }
        builder.build().map_err(|e| self.config_error(e))
    }

    /// Names the option behind a value the connector refused, with what the user typed.
    fn config_error(&self, source: ConfigError) -> ProbeError {
        let g = &self.given;
        let (flag, given) = match source.field() {
            ConfigField::KeepaliveIdle => ("--keepalive-idle", g.idle.clone()),
            ConfigField::KeepaliveInterval => ("--keepalive-interval", g.interval.clone()),
            ConfigField::KeepaliveRetries => ("--keepalive-retries", g.retries.clone()),
            ConfigField::ConnectTimeout => ("--connect-timeout", g.connect_timeout.clone()),
            ConfigField::HandshakeTimeout => ("--handshake-timeout", g.handshake_timeout.clone()),
            ConfigField::RootCertificates => ("--cacert", g.cacert.clone()),
            ConfigField::Trust => ("--trust", g.trust.clone()),
            // --proxy, or a proxy variable of the environment (the value names it); the
            // library's value has the credentials redacted, so it is what is shown.
            ConfigField::Proxy if matches!(self.rules, Rules::Explicit(_)) => {
                ("--proxy", Some(source.value().trim_matches('"').to_owned()))
            }
            ConfigField::Proxy => ("", None),
            // The CA store variables: the connector's error names the variable itself.
            ConfigField::SslCertFile | ConfigField::SslCertDir => ("", None),
            _ => ("option", None),
        };
        ProbeError::Config {
            flag,
            given: given.unwrap_or_else(|| source.value().to_owned()),
            source,
        }
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

/// `--idle`: the plan from the settings, on one route (the proxy when one applies, unless
/// `--route direct`), over the forced family or both, then the held connections.
async fn idle_all(settings: &Settings) -> Result<crate::idle::IdleReport, ProbeError> {
    let target = Target::prepare(settings).await?;
    let route = settings.routes.routes[0];
    let route_text = match (route, settings.routes.probed_proxy()) {
        (RouteKind::Proxy, Some(proxy)) => {
            format!("via proxy {} ({})", proxy.url, proxy.source_name())
        }
        (RouteKind::Proxy, None) => "via proxy".to_owned(),
        (RouteKind::Direct, _) => "direct".to_owned(),
    };
    let stage = match settings.modes.as_slice() {
        [Mode::At(stage)] => *stage,
        _ => Stage::AfterHandshake,
    };
    let forced = settings.family.forced();
    let plan = IdlePlan {
        spec: target.spec.clone(),
        shown_url: target.shown_url(settings),
        max: settings.idle.expect("idle_all runs for --idle"),
        asked: settings.keepalive,
        stage,
        route: route_text,
        family: match forced {
            Some(Family::V4) => "IPv4 only",
            Some(Family::V6) => "IPv6 only",
            None => "both (happy eyeballs)",
        },
        progress: !settings.json && std::io::stderr().is_terminal(),
    };
    crate::warmup::warm_up().await;
    crate::idle::run(&plan, |keepalive| {
        settings.connector_keepalive(keepalive, route, forced, &target.roots, &target.resolver)
    })
    .await
}

/// What the connections go to: the URL, or the embedded server (started here, kept alive by
/// this value) with its name resolved and its CA trusted.
struct Target {
    spec: RequestSpec,
    roots: Roots,
    resolver: StaticResolver,
    embedded: Option<(TestServer, SocketAddr)>,
}

impl Target {
    async fn prepare(settings: &Settings) -> Result<Target, ProbeError> {
        let mut spec = settings.spec.clone();
        let mut roots = settings.roots.clone();
        let mut resolver = settings.resolver.clone();
        let mut embedded: Option<(TestServer, SocketAddr)> = None;
        if settings.url.is_none() {
            let server = TestServer::start()
                .await
                .map_err(|source| ProbeError::Setup {
                    what: "cannot start the embedded HTTPS server",
                    source,
                })?;
            let addr = server.addr();
            // By name, resolved to the server's loopback address, so SNI and certificate name
            // checks run as they would against a real host.
            spec.uri = server
                .url_by_name("/")
                .parse()
                .expect("the test server's URL parses");
            resolver = resolver.add("localhost", addr.port(), [addr.ip()]);
            // Trusted for this run only; without --trust, nothing else is.
            roots.add(server.ca_pem().as_bytes().to_vec());
            embedded = Some((server, addr));
        }
        Ok(Target {
            spec,
            roots,
            resolver,
            embedded,
        })
    }

    /// The URL as printed: as given (user info redacted), or the embedded server's.
    fn shown_url(&self, settings: &Settings) -> String {
        settings
            .url
            .as_ref()
            .map_or_else(|| self.spec.uri.to_string(), |u| u.shown.clone())
    }
}

/// Probes every row, `repeat` rounds, one fresh connector per connection. Each round makes one
/// connection per row in a fixed order — the proxy route's stages, the direct route's, then
/// the family rows — so a server can tell connections apart by their index, and a change in
/// the network during a long run falls on every row alike instead of on one stage.
async fn probe_all(settings: &Settings) -> Result<Report, ProbeError> {
    let Target {
        spec,
        roots,
        resolver,
        embedded,
    } = Target::prepare(settings).await?;

    let routes = &settings.routes;
    let forced = settings.family.forced();
    let origin = Origin::from_uri(&spec.uri).expect("the URL was checked when it was parsed");
    let families = FamilyPlan::decide(
        settings.family,
        &origin,
        &resolver,
        routes.routes.contains(&RouteKind::Direct),
        settings.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
    )
    .await;
    // One stage probed: the family rows use it; all of them: the default.
    let family_mode = match settings.modes.as_slice() {
        [one] => *one,
        _ => Mode::At(Stage::AfterHandshake),
    };
    let mut rows: Vec<StageResult> = Vec::new();
    for &route in &routes.routes {
        for &mode in &settings.modes {
            rows.push(StageResult {
                family: forced,
                ..StageResult::stage(mode, route)
            });
        }
    }
    for &family in &families.rows {
        rows.push(StageResult {
            family: Some(family),
            kind: RowKind::Family,
            ..StageResult::stage(family_mode, RouteKind::Direct)
        });
    }

    crate::warmup::warm_up().await;
    // Every connector of the run trusts alike (the platform's store is read once per process,
    // so building one more costs little).
    let trust = settings
        .connector_with(Mode::Off, RouteKind::Direct, None, &roots, &resolver)?
        .trust()
        .clone();
    let repeat = settings.repeat as usize;
    let mut progress = Progress::new(rows.len() * repeat, settings.repeat > 1);
    let mut stopped = vec![false; rows.len()];
    for _ in 0..repeat {
        for (row, stopped) in rows.iter_mut().zip(&mut stopped) {
            if !*stopped {
                let connector =
                    settings.connector_with(row.mode, row.route, row.family, &roots, &resolver)?;
                let attempt = probe::attempt(&connector, &spec).await;
                // A family that black-holes costs the connect timeout per attempt: once is
                // enough to name it.
                *stopped = row.kind == RowKind::Family && black_holed(&attempt);
                row.attempts.push(attempt);
            }
            progress.tick(&row.label());
        }
    }
    progress.finish();

    Ok(Report {
        // As given, with any user info redacted (the embedded server's has none).
        url: settings
            .url
            .as_ref()
            .map_or_else(|| spec.uri.to_string(), |u| u.shown.clone()),
        method: spec.method.to_string(),
        embedded: embedded.as_ref().map(|(_, addr)| *addr),
        repeat: settings.repeat,
        keepalive: settings.keepalive,
        trust,
        verdict: verdict::verdict(&rows, routes.probed_proxy()),
        routes: routes.clone(),
        route_choice_given: settings.route_choice.is_some(),
        families,
        family_mode,
        results: rows,
    })
}

/// The connector's default connect timeout, which also bounds the probe's own lookup of the
/// host's families.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether `attempt` timed out connecting: silence, as from a black-holed path.
fn black_holed(attempt: &Attempt) -> bool {
    attempt
        .outcome
        .as_ref()
        .is_err_and(|f| f.timeout && f.phase == FailPhase::Connect(Phase::Connect))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(args: &[&str]) -> String {
        let mut all = vec!["keepalive-probe"];
        all.extend(args);
        let err = run(all).unwrap_err();
        assert_eq!(err.exit(), Exit::Usage, "{err}");
        err.to_string()
    }

    #[test]
    fn refused_values_name_the_option_and_the_value() {
        let msg = usage(&["https://127.0.0.1:1/", "--keepalive-idle", "0.5"]);
        assert!(msg.starts_with("error: --keepalive-idle 0.5: "), "{msg}");
        let msg = usage(&["https://127.0.0.1:1/", "--keepalive-interval", "1.5"]);
        assert!(
            msg.starts_with("error: --keepalive-interval 1.5: "),
            "{msg}"
        );
        let msg = usage(&["https://127.0.0.1:1/", "--keepalive-retries", "0"]);
        assert!(msg.starts_with("error: --keepalive-retries 0: "), "{msg}");
        let msg = usage(&["https://127.0.0.1:1/", "--connect-timeout", "0"]);
        assert!(msg.starts_with("error: --connect-timeout 0: "), "{msg}");
        let msg = usage(&["https://127.0.0.1:1/", "--cacert", "/nonexistent/ca.pem"]);
        assert!(
            msg.starts_with("error: --cacert /nonexistent/ca.pem: "),
            "{msg}"
        );
        let msg = usage(&["not a url"]);
        assert!(msg.contains("not a url"), "{msg}");
        assert_eq!(msg.lines().count(), 1);
    }

    #[test]
    fn help_and_version_succeed() {
        assert_eq!(run(["keepalive-probe", "--version"]).unwrap(), Exit::Ok);
    }
}
