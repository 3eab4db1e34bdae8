//! What a probe found, as plain data: the renderers (table, JSON, verdict) work on these types
//! only, so they can be tested without a network.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use keepalive_connector::{Family, Keepalive, KeepaliveInfo, Phase, Stage, TrustInfo, ValueSource};

use crate::family::FamilyPlan;
use crate::route::RoutePlan;
use crate::verdict::Verdict;

/// What one row of the probe tries: keepalive applied at a [`Stage`], or keepalive off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Mode {
    /// Keepalive applied at this stage.
    At(Stage),
    /// `SO_KEEPALIVE` left off.
    Off,
}

impl Mode {
    /// Every mode, in the order the probe connects (fixed, so a server can tell connections
    /// apart by their index).
    pub(crate) const ALL: [Mode; 4] = [
        Mode::At(Stage::BeforeConnect),
        Mode::At(Stage::AfterConnect),
        Mode::At(Stage::AfterHandshake),
        Mode::Off,
    ];

    /// The name used in the table and in JSON: a stage's kebab-case name, or `off`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Mode::At(stage) => stage.as_str(),
            Mode::Off => "off",
        }
    }

    /// Whether a failure in `phase` can have been caused by keepalive in this mode: keepalive
    /// cannot cause anything that happened before it was applied (or when it was never applied).
    pub(crate) fn can_cause(self, phase: FailPhase) -> bool {
        let Mode::At(stage) = self else {
            return false;
        };
        match phase {
            FailPhase::Connect(Phase::Uri | Phase::Dns) => false,
            FailPhase::Connect(Phase::Connect) => stage == Stage::BeforeConnect,
            // The proxy hop and the origin's handshake both come before AfterHandshake.
            FailPhase::Connect(Phase::Proxy | Phase::Tls) => stage != Stage::AfterHandshake,
            // Socket (an option the kernel refused), HTTP, and phases added later.
            _ => true,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which way a row's connections went: through the proxy the user's rules name for the URL
/// (the environment's, or `--proxy`), or direct (`Proxy::none()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum RouteKind {
    /// Through the proxy.
    Proxy,
    /// Direct.
    Direct,
}

impl RouteKind {
    /// `proxy` or `direct`, as in JSON.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RouteKind::Proxy => "proxy",
            RouteKind::Direct => "direct",
        }
    }
}

/// `ipv4` or `ipv6`, as in JSON.
pub(crate) fn family_str(family: Family) -> &'static str {
    match family {
        Family::V4 => "ipv4",
        Family::V6 => "ipv6",
    }
}

/// `IPv4` or `IPv6`, as in the table and the verdict.
pub(crate) fn family_name(family: Family) -> &'static str {
    match family {
        Family::V4 => "IPv4",
        Family::V6 => "IPv6",
    }
}

/// What a row compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum RowKind {
    /// One mode of the stage comparison, on one route.
    Stage,
    /// One address family (`Builder::ip_family`), direct, at one mode.
    Family,
}

/// Where an attempt failed: a phase of the library's connect path, or the HTTP exchange on a
/// connection that was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum FailPhase {
    /// A [`ConnectError`](keepalive_connector::ConnectError)'s phase.
    Connect(Phase),
    /// Sending the request or reading the response head.
    Http,
}

impl FailPhase {
    /// `uri`, `dns`, `connect`, `socket`, `tls` or `http`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            FailPhase::Connect(phase) => phase.as_str(),
            FailPhase::Http => "http",
        }
    }
}

impl fmt::Display for FailPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an attempt got no HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// Where it failed.
    pub(crate) phase: FailPhase,
    /// The cause in a few words, e.g. `connection reset by peer`.
    pub(crate) cause: String,
    /// The whole error message.
    pub(crate) message: String,
    /// Whether a configured timeout fired.
    pub(crate) timeout: bool,
    /// The remote address involved, when known.
    pub(crate) addr: Option<SocketAddr>,
}

/// Facts about a connection that was made, copied from the library's `ConnectInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConnDetails {
    /// The peer's address.
    pub(crate) remote_addr: SocketAddr,
    /// The local address.
    pub(crate) local_addr: SocketAddr,
    /// `TLSv1_3`, `TLSv1_2`; `None` for plain HTTP.
    pub(crate) tls_version: Option<String>,
    /// The ALPN protocol the server chose.
    pub(crate) alpn: Option<String>,
    /// Keepalive on the socket, each value with where it comes from; `None` when
    /// `SO_KEEPALIVE` is off.
    pub(crate) keepalive: Option<KeepaliveSeen>,
}

/// One keepalive value on the socket and where it comes from (read back, as set, the OS's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reported<T> {
    /// `None` when the OS's own, unreported value applies.
    pub(crate) value: Option<T>,
    pub(crate) source: ValueSource,
}

/// Keepalive on the socket, copied from the library's `KeepaliveInfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeepaliveSeen {
    pub(crate) idle: Reported<Duration>,
    pub(crate) interval: Reported<Duration>,
    pub(crate) retries: Reported<u32>,
}

impl KeepaliveSeen {
    /// `true` when every value was read back from the kernel.
    pub(crate) fn is_read_back(&self) -> bool {
        [self.idle.source, self.interval.source, self.retries.source]
            .iter()
            .all(|s| *s == ValueSource::Kernel)
    }
}

impl From<&KeepaliveInfo> for KeepaliveSeen {
    fn from(k: &KeepaliveInfo) -> Self {
        KeepaliveSeen {
            idle: Reported {
                value: k.idle(),
                source: k.idle_source(),
            },
            interval: Reported {
                value: k.interval(),
                source: k.interval_source(),
            },
            retries: Reported {
                value: k.retries(),
                source: k.retries_source(),
            },
        }
    }
}

/// The HTTP response an attempt got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpResponse {
    /// The status code.
    pub(crate) status: u16,
    /// `HTTP/2`, `HTTP/1.1`.
    pub(crate) version: &'static str,
    /// Response headers (lower-case names; repeated ones joined with `, `).
    pub(crate) headers: BTreeMap<String, String>,
    /// Bytes of body read.
    pub(crate) body_bytes: u64,
    /// Why reading the body stopped early, if it did (the head arrived, so the attempt still
    /// counts as a response).
    pub(crate) body_error: Option<String>,
}

/// How long each phase took. DNS, connect and TLS are the library's own measurements
/// (`ConnectInfo::timings`); time to first byte and total are measured by the probe from the
/// start of `connect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct PhaseTimes {
    /// Name resolution; `None` for an IP literal or when the connection was not made.
    pub(crate) dns: Option<Duration>,
    /// TCP connect; `None` when the connection was not made.
    pub(crate) connect: Option<Duration>,
    /// TLS handshake; `None` for plain HTTP or when the connection was not made.
    pub(crate) tls: Option<Duration>,
    /// From the start of connect until the response head arrived.
    pub(crate) ttfb: Option<Duration>,
    /// From the start of connect until the body was read, or until the attempt failed.
    pub(crate) total: Duration,
}

/// The phases that have timings, in column order.
pub(crate) const PHASES: [&str; 5] = ["dns", "connect", "tls", "ttfb", "total"];

impl PhaseTimes {
    /// The timing of phase `i` of [`PHASES`].
    pub(crate) fn get(&self, i: usize) -> Option<Duration> {
        match i {
            0 => self.dns,
            1 => self.connect,
            2 => self.tls,
            3 => self.ttfb,
            _ => Some(self.total),
        }
    }
}

/// One connection and request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attempt {
    /// Present when the connection was made.
    pub(crate) conn: Option<ConnDetails>,
    /// The response, or why there was none.
    pub(crate) outcome: Result<HttpResponse, Failure>,
    /// Phase timings.
    pub(crate) times: PhaseTimes,
}

impl Attempt {
    /// The remote address: the connected one, or the one the error names.
    pub(crate) fn remote_addr(&self) -> Option<SocketAddr> {
        match (&self.conn, &self.outcome) {
            (Some(conn), _) => Some(conn.remote_addr),
            (None, Err(failure)) => failure.addr,
            (None, Ok(_)) => None,
        }
    }
}

/// Every attempt of one row: one mode, on one route, over one family or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StageResult {
    /// The mode probed.
    pub(crate) mode: Mode,
    /// Through the proxy or direct.
    pub(crate) route: RouteKind,
    /// The one address family every connection was forced to (`--family 4|6`, or a family
    /// row); `None` when the connector could use both.
    pub(crate) family: Option<Family>,
    /// A stage row or a family row.
    pub(crate) kind: RowKind,
    /// At least one attempt, in order.
    pub(crate) attempts: Vec<Attempt>,
}

impl StageResult {
    /// A stage row of `mode` on `route`, over both families, with no attempts yet.
    pub(crate) fn stage(mode: Mode, route: RouteKind) -> Self {
        StageResult {
            mode,
            route,
            family: None,
            kind: RowKind::Stage,
            attempts: Vec::new(),
        }
    }

    /// The row's name in the table: the mode, then the family of a family row
    /// (`after-handshake IPv6`).
    pub(crate) fn label(&self) -> String {
        match (self.kind, self.family) {
            (RowKind::Family, Some(family)) => format!("{} {}", self.mode, family_name(family)),
            _ => self.mode.to_string(),
        }
    }

    /// The family the row's connections used: the forced one, else the family of the address
    /// the representative attempt connected to or failed on (the proxy's, through a proxy).
    pub(crate) fn family_used(&self) -> Option<Family> {
        self.family.or_else(|| {
            self.representative()
                .remote_addr()
                .map(|addr| Family::of(&addr))
        })
    }

    /// How many attempts failed.
    pub(crate) fn failed_count(&self) -> usize {
        self.attempts.len() - self.ok_count()
    }

    /// `true` when every attempt failed.
    pub(crate) fn all_failed(&self) -> bool {
        self.ok_count() == 0
    }

    /// `true` when every attempt got an HTTP response.
    pub(crate) fn ok(&self) -> bool {
        self.attempts.iter().all(|a| a.outcome.is_ok())
    }

    /// How many attempts got an HTTP response.
    pub(crate) fn ok_count(&self) -> usize {
        self.attempts.iter().filter(|a| a.outcome.is_ok()).count()
    }

    /// The first failure, if any attempt failed.
    pub(crate) fn first_failure(&self) -> Option<&Failure> {
        self.attempts.iter().find_map(|a| a.outcome.as_ref().err())
    }

    /// The attempt whose details represent the stage: the first one that got a response, or
    /// else the first one.
    pub(crate) fn representative(&self) -> &Attempt {
        self.attempts
            .iter()
            .find(|a| a.outcome.is_ok())
            .unwrap_or(&self.attempts[0])
    }

    /// The first response, if any attempt got one.
    pub(crate) fn first_response(&self) -> Option<&HttpResponse> {
        self.attempts.iter().find_map(|a| a.outcome.as_ref().ok())
    }

    /// p50, p90 and p99 per phase over the attempts that got a response; `None` when none did.
    pub(crate) fn percentiles(&self) -> Option<[[Option<Duration>; 5]; 3]> {
        let ok: Vec<&PhaseTimes> = self
            .attempts
            .iter()
            .filter(|a| a.outcome.is_ok())
            .map(|a| &a.times)
            .collect();
        if ok.is_empty() {
            return None;
        }
        let mut out = [[None; 5]; 3];
        for (phase, _) in PHASES.iter().enumerate() {
            let mut samples: Vec<Duration> = ok.iter().filter_map(|t| t.get(phase)).collect();
            samples.sort_unstable();
            for (row, pct) in [50, 90, 99].into_iter().enumerate() {
                out[row][phase] = nearest_rank(&samples, pct);
            }
        }
        Some(out)
    }
}

/// The nearest-rank percentile of sorted samples.
fn nearest_rank(sorted: &[Duration], pct: usize) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (pct * sorted.len()).div_ceil(100).max(1);
    Some(sorted[rank - 1])
}

/// Milliseconds as a float, for display and JSON.
pub(crate) fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Everything the probe learned, ready to render.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    /// The URL probed.
    pub(crate) url: String,
    /// The request method.
    pub(crate) method: String,
    /// The embedded server's address, when no URL was given.
    pub(crate) embedded: Option<SocketAddr>,
    /// Connections per row.
    pub(crate) repeat: u32,
    /// The keepalive values asked for (the `off` row asks for none).
    pub(crate) keepalive: Keepalive,
    /// What the connectors verified certificates with.
    pub(crate) trust: TrustInfo,
    /// The routes probed, and the proxy setting behind them.
    pub(crate) routes: RoutePlan,
    /// Whether `--route` was given.
    pub(crate) route_choice_given: bool,
    /// The families compared, and what the host resolved to.
    pub(crate) families: FamilyPlan,
    /// The mode of the family rows.
    pub(crate) family_mode: Mode,
    /// Every row in probe order: the stage rows by route, then the family rows.
    pub(crate) results: Vec<StageResult>,
    /// The conclusion.
    pub(crate) verdict: Verdict,
}

impl Report {
    /// `true` when every row got an HTTP response on every attempt.
    pub(crate) fn all_ok(&self) -> bool {
        self.results.iter().all(StageResult::ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let ms = |v: &[u64]| {
            v.iter()
                .map(|&m| Duration::from_millis(m))
                .collect::<Vec<_>>()
        };
        let samples = ms(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(nearest_rank(&samples, 50), Some(Duration::from_millis(5)));
        assert_eq!(nearest_rank(&samples, 90), Some(Duration::from_millis(9)));
        assert_eq!(nearest_rank(&samples, 99), Some(Duration::from_millis(10)));
        assert_eq!(nearest_rank(&ms(&[7]), 50), Some(Duration::from_millis(7)));
        assert_eq!(nearest_rank(&[], 50), None);
    }

    #[test]
    fn keepalive_cannot_cause_what_happened_before_it() {
        let bc = Mode::At(Stage::BeforeConnect);
        let ah = Mode::At(Stage::AfterHandshake);
        assert!(bc.can_cause(FailPhase::Connect(Phase::Tls)));
        assert!(bc.can_cause(FailPhase::Connect(Phase::Connect)));
        assert!(!bc.can_cause(FailPhase::Connect(Phase::Dns)));
        assert!(!ah.can_cause(FailPhase::Connect(Phase::Tls)));
        assert!(ah.can_cause(FailPhase::Http));
        assert!(!Mode::Off.can_cause(FailPhase::Http));
        let proxy = FailPhase::Connect(Phase::Proxy);
        assert!(bc.can_cause(proxy));
        assert!(
            !ah.can_cause(proxy),
            "the proxy hop ends before the handshake"
        );
    }
}
