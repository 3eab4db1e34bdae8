//! The probe loop: what the connections go to (the URL, or the embedded server started here),
//! then every row, `--repeat` rounds, one fresh connector per connection; or, with `--idle`,
//! the plan of held connections that `idle` runs.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::time::Duration;

use keepalive_connector::{Family, Origin, Phase, Stage, StaticResolver};
use keepalive_testserver::TestServer;

use crate::error::ProbeError;
use crate::family::FamilyPlan;
use crate::idle::IdlePlan;
use crate::model::{Attempt, FailPhase, Mode, Report, RouteKind, RowKind, StageResult};
use crate::probe::{self, RequestSpec};
use crate::progress::Progress;
use crate::settings::{Roots, Settings};
use crate::verdict;

/// `--idle`: the plan from the settings, on one route (the proxy when one applies, unless
/// `--route direct`), over the forced family or both, then the held connections.
pub(crate) async fn idle_all(settings: &Settings) -> Result<crate::idle::IdleReport, ProbeError> {
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
pub(crate) async fn probe_all(settings: &Settings) -> Result<Report, ProbeError> {
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
