//! `--json`: one document with stable snake_case field names. Every field is always present
//! (`null` when it does not apply), so scripts need no existence checks.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use keepalive_connector::{Keepalive, TrustInfo};

use crate::cli::FamilyChoice;
use crate::error::{Exit, ProbeError};
use crate::model::Report;
use crate::model::{
    family_str, millis, Attempt, KeepaliveSeen, PhaseTimes, RouteKind, RowKind, StageResult,
};

#[derive(Debug, Serialize)]
struct Document<'a> {
    url: &'a str,
    method: &'a str,
    embedded_server: bool,
    repeat: u32,
    keepalive_requested: KeepaliveJson,
    trust: TrustJson<'a>,
    /// The proxy the rules name for the URL (also when NO_PROXY exempts it), no credentials.
    proxy: Option<&'a str>,
    /// `HTTPS_PROXY`, `--proxy`, `the system proxy settings`, …
    proxy_source: Option<String>,
    no_proxy_matched: bool,
    /// The routes probed, in connection order.
    routes: Vec<&'static str>,
    /// `both`, `ipv4`, `ipv6`.
    family_requested: &'static str,
    /// The families the host has, when it was looked up (or is an IP literal).
    resolved_families: Option<Vec<&'static str>>,
    stages: Vec<StageJson<'a>>,
    family_rows: Vec<StageJson<'a>>,
    verdict: &'a str,
    recommended_stage: Option<&'static str>,
    recommended_route: Option<&'static str>,
    ok: bool,
}

#[derive(Debug, Serialize)]
struct StageJson<'a> {
    stage: &'static str,
    route: &'static str,
    proxy: Option<&'a str>,
    family: Option<&'static str>,
    ok: bool,
    attempts: usize,
    ok_attempts: usize,
    status: Option<u16>,
    http_version: Option<&'static str>,
    error: Option<ErrorJson<'a>>,
    timings_ms: TimingsJson,
    remote_addr: Option<String>,
    local_addr: Option<String>,
    tls_version: Option<&'a str>,
    alpn: Option<&'a str>,
    keepalive: Option<KeepaliveOnSocket>,
    response_headers: Option<&'a BTreeMap<String, String>>,
    body_bytes: Option<u64>,
    body_error: Option<&'a str>,
    percentiles_ms: Option<Percentiles>,
}

#[derive(Debug, Serialize)]
struct ErrorJson<'a> {
    phase: &'static str,
    cause: &'a str,
    message: &'a str,
    timeout: bool,
    addr: Option<String>,
}

#[derive(Debug, Serialize)]
struct TimingsJson {
    dns: Option<f64>,
    connect: Option<f64>,
    tls: Option<f64>,
    ttfb: Option<f64>,
    total: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Percentiles {
    p50: TimingsJson,
    p90: TimingsJson,
    p99: TimingsJson,
}

/// Which trust verified certificates: `requested` and `in_force` are `platform`,
/// `webpki-roots` or `added-roots-only`; `fallback_reason` is set when they differ.
#[derive(Debug, Serialize)]
struct TrustJson<'a> {
    requested: Option<&'static str>,
    in_force: Option<&'static str>,
    added_roots: usize,
    fallback_reason: Option<&'a str>,
}

impl<'a> From<&'a TrustInfo> for TrustJson<'a> {
    fn from(t: &'a TrustInfo) -> Self {
        TrustJson {
            requested: t.requested().map(|t| t.as_str()),
            in_force: t.in_force().map(|t| t.as_str()),
            added_roots: t.added_roots(),
            fallback_reason: t.fallback_reason(),
        }
    }
}

/// The values asked for; `retries_chosen` is false when the count was left at its default,
/// which gives way to the OS's own where the OS refuses `TCP_KEEPCNT`.
#[derive(Debug, Serialize)]
struct KeepaliveJson {
    idle_s: u64,
    interval_s: u64,
    retries: u32,
    retries_chosen: bool,
}

impl From<Keepalive> for KeepaliveJson {
    fn from(k: Keepalive) -> Self {
        KeepaliveJson {
            idle_s: k.idle_duration().as_secs(),
            interval_s: k.interval_duration().as_secs(),
            retries: k.retry_count(),
            retries_chosen: k.is_retry_count_chosen(),
        }
    }
}

/// Keepalive on the socket: each value (`null` when the OS's own, unreported value applies)
/// and where it comes from: `kernel` (read back), `as-set` (this OS cannot report it) or `os`.
#[derive(Debug, Serialize)]
struct KeepaliveOnSocket {
    idle_s: Option<u64>,
    idle_source: &'static str,
    interval_s: Option<u64>,
    interval_source: &'static str,
    retries: Option<u32>,
    retries_source: &'static str,
}

impl From<KeepaliveSeen> for KeepaliveOnSocket {
    fn from(k: KeepaliveSeen) -> Self {
        KeepaliveOnSocket {
            idle_s: k.idle.value.map(|d| d.as_secs()),
            idle_source: k.idle.source.as_str(),
            interval_s: k.interval.value.map(|d| d.as_secs()),
            interval_source: k.interval.source.as_str(),
            retries: k.retries.value,
            retries_source: k.retries.source.as_str(),
        }
    }
}

/// Milliseconds rounded to microseconds, so the document does not carry float noise.
fn ms(d: Option<Duration>) -> Option<f64> {
    d.map(|d| (millis(d) * 1000.0).round() / 1000.0)
}

fn timings(values: [Option<Duration>; 5]) -> TimingsJson {
    let [dns, connect, tls, ttfb, total] = values.map(ms);
    TimingsJson {
        dns,
        connect,
        tls,
        ttfb,
        total,
    }
}

fn phase_times(t: &PhaseTimes) -> [Option<Duration>; 5] {
    std::array::from_fn(|i| t.get(i))
}

fn stage<'a>(result: &'a StageResult, proxy: Option<&'a str>) -> StageJson<'a> {
    let rep: &Attempt = result.representative();
    let conn = rep.conn.as_ref();
    let response = result.first_response();
    StageJson {
        stage: result.mode.as_str(),
        route: result.route.as_str(),
        proxy: proxy.filter(|_| result.route == RouteKind::Proxy),
        family: result.family_used().map(family_str),
        ok: result.ok(),
        attempts: result.attempts.len(),
        ok_attempts: result.ok_count(),
        status: response.map(|r| r.status),
        http_version: response.map(|r| r.version),
        error: result.first_failure().map(|f| ErrorJson {
            phase: f.phase.as_str(),
            cause: &f.cause,
            message: &f.message,
            timeout: f.timeout,
            addr: f.addr.map(|a| a.to_string()),
        }),
        timings_ms: timings(phase_times(&rep.times)),
        remote_addr: rep.remote_addr().map(|a| a.to_string()),
        local_addr: conn.map(|c| c.local_addr.to_string()),
        tls_version: conn.and_then(|c| c.tls_version.as_deref()),
        alpn: conn.and_then(|c| c.alpn.as_deref()),
        keepalive: conn.and_then(|c| c.keepalive).map(KeepaliveOnSocket::from),
        response_headers: response.map(|r| &r.headers),
        body_bytes: response.map(|r| r.body_bytes),
        body_error: response.and_then(|r| r.body_error.as_deref()),
        percentiles_ms: if result.attempts.len() > 1 {
            result.percentiles().map(|[p50, p90, p99]| Percentiles {
                p50: timings(p50),
                p90: timings(p90),
                p99: timings(p99),
            })
        } else {
            None
        },
    }
}

/// Renders the report as one pretty-printed JSON document.
pub(crate) fn render(report: &Report) -> String {
    let routes = &report.routes;
    let proxy = routes.proxy.as_ref().map(|p| p.url.as_str());
    let rows = |kind: RowKind| {
        report
            .results
            .iter()
            .filter(|r| r.kind == kind)
            .map(|r| stage(r, proxy))
            .collect()
    };
    let doc = Document {
        url: &report.url,
        method: &report.method,
        embedded_server: report.embedded.is_some(),
        repeat: report.repeat,
        keepalive_requested: report.keepalive.into(),
        trust: (&report.trust).into(),
        proxy,
        proxy_source: routes.proxy.as_ref().map(|p| p.source_name()),
        no_proxy_matched: routes.no_proxy_matched(),
        routes: routes.routes.iter().map(|r| r.as_str()).collect(),
        family_requested: match report.families.choice {
            FamilyChoice::Both => "both",
            FamilyChoice::V4 => "ipv4",
            FamilyChoice::V6 => "ipv6",
        },
        resolved_families: report.families.resolved(),
        stages: rows(RowKind::Stage),
        family_rows: rows(RowKind::Family),
        verdict: &report.verdict.text,
        recommended_stage: report.verdict.recommended.map(|m| m.as_str()),
        recommended_route: report.verdict.route.map(RouteKind::as_str),
        ok: report.all_ok(),
    };
    // Serializing plain structs of strings and numbers cannot fail.
    let mut text = serde_json::to_string_pretty(&doc).expect("the document serializes");
    text.push('\n');
    text
}

/// The document printed instead of a report when the probe stops with an error under
/// `--json`: `{"ok": false, "error": {"kind", "message", "exit"}}`, where `kind` is `usage`
/// (exit 2) or `setup` (exit 1).
pub(crate) fn render_error(err: &ProbeError) -> String {
    #[derive(Serialize)]
    struct ErrorDocument<'a> {
        ok: bool,
        error: ErrorBody<'a>,
    }
    #[derive(Serialize)]
    struct ErrorBody<'a> {
        kind: &'static str,
        message: &'a str,
        exit: u8,
    }
    let exit = err.exit();
    let message = err.to_string();
    let doc = ErrorDocument {
        ok: false,
        error: ErrorBody {
            kind: if exit == Exit::Usage {
                "usage"
            } else {
                "setup"
            },
            message: message.strip_prefix("error: ").unwrap_or(&message),
            exit: exit as u8,
        },
    };
    let mut text = serde_json::to_string_pretty(&doc).expect("the document serializes");
    text.push('\n');
    text
}
