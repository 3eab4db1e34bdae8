//! `--idle`'s report: text (a header, one row per held connection, the verdict) and JSON (an
//! `idle` object with stable field names, every field always present).

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::held::{Held, Outcome, Role};
use super::verdict::{secs, whole};
use super::IdleReport;
use crate::table::{wrap, Align, Palette, Table, Tone};

const WIDTH: usize = 100;

/// The report as text.
pub(crate) fn render_text(report: &IdleReport, palette: Palette) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "keepalive-probe {}: {} {} — idle connections, up to {}",
        env!("CARGO_PKG_VERSION"),
        report.method,
        report.url,
        whole(report.max)
    );
    let asked = &report.asked;
    let header = [
        format!("route: {}; families: {}", report.route, report.family),
        format!(
            "keepalive asked for: idle {}, interval {}, retries {}, applied {}",
            whole(asked.idle_duration()),
            whole(asked.interval_duration()),
            asked.retry_count(),
            report.stage
        ),
        format!(
            "held at once: {} connections without keepalive, idle {} to {} and then used; one \
             with the keepalive asked for, idle {} and then used; one with keepalive every 2 s, \
             watching for the server's close",
            report.rungs.len(),
            report
                .rungs
                .first()
                .map_or_else(String::new, |h| whole(h.role.idle())),
            whole(report.max),
            whole(report.max)
        ),
    ];
    for line in header {
        let _ = writeln!(out, "{}", wrap(&line, WIDTH, 4));
    }
    out.push('\n');
    let mut table = Table::new(&[
        ("connection", Align::Left),
        ("idle", Align::Right),
        ("outcome", Align::Left),
    ]);
    let rows = std::iter::once(&report.watch)
        .chain(&report.rungs)
        .chain(std::iter::once(&report.keepalive));
    for held in rows {
        let (text, tone) = outcome_text(held);
        table.toned_row(vec![
            (label(held.role).to_owned(), Tone::Plain),
            (whole(held.role.idle()), Tone::Plain),
            (text, tone),
        ]);
    }
    out.push_str(&table.render(palette));
    if let Some(first) = [&report.watch, &report.keepalive]
        .into_iter()
        .chain(&report.rungs)
        .find_map(|h| h.first.as_ref())
    {
        let keep_alive = first.keep_alive_header.as_deref().map_or_else(
            || "no Keep-Alive header".to_owned(),
            |v| format!("Keep-Alive: {v}"),
        );
        let _ = writeln!(
            out,
            "\nfirst response: {} {} from {}; {keep_alive}",
            first.status, first.version, first.remote
        );
    }
    if report.interrupted {
        let _ = writeln!(out, "interrupted (Ctrl-C): what was learned so far");
    }
    out.push('\n');
    let _ = writeln!(out, "{} {}", palette.bold("verdict:"), report.findings.text);
    out
}

fn label(role: Role) -> &'static str {
    match role {
        Role::Watch(_) => "watch (ka 2 s)",
        Role::Rung(_) => "no keepalive",
        Role::Keepalive(_) => "keepalive",
    }
}

fn outcome_text(held: &Held) -> (String, Tone) {
    match &held.outcome {
        Outcome::NotReached(f) => (format!("failed at {}: {}", f.phase, f.cause), Tone::Bad),
        Outcome::Closed { after, how } => (
            format!(
                "closed by the other side after {} ({})",
                secs(*after),
                how.name()
            ),
            Tone::Plain,
        ),
        Outcome::Open => ("still open at the end".to_owned(), Tone::Good),
        Outcome::Answered { status } => (format!("used: answered {status}"), Tone::Good),
        Outcome::ClosedOnUse { how } => (
            format!(
                "used: the connection was closed ({}) as the request went out",
                how.name()
            ),
            Tone::Bad,
        ),
        Outcome::Unanswered {
            waited,
            acked: Some(false),
            retransmits,
        } => (
            format!(
                "used: unanswered after {}, unacknowledged{}: dropped on the way",
                secs(*waited),
                retransmits.map_or_else(String::new, |r| format!(" ({r} retransmits)"))
            ),
            Tone::Bad,
        ),
        Outcome::Unanswered {
            waited,
            acked: Some(true),
            ..
        } => (
            format!(
                "used: unanswered after {}, but acknowledged: a slow server",
                secs(*waited)
            ),
            Tone::Bad,
        ),
        Outcome::Unanswered { waited, .. } => (
            format!(
                "used: unanswered after {} (this OS cannot tell whether it was acknowledged)",
                secs(*waited)
            ),
            Tone::Bad,
        ),
        Outcome::Failed(message) => (format!("used: failed: {message}"), Tone::Bad),
        Outcome::Interrupted { after } => {
            (format!("interrupted after {}", secs(*after)), Tone::Plain)
        }
    }
}

#[derive(Debug, Serialize)]
struct Document<'a> {
    mode: &'static str,
    url: &'a str,
    method: &'a str,
    route: &'a str,
    family: &'static str,
    keepalive_requested: KeepaliveJson,
    idle: IdleJson<'a>,
    verdict: &'a str,
    interrupted: bool,
    ok: bool,
}

#[derive(Debug, Serialize)]
struct KeepaliveJson {
    idle_s: u64,
    interval_s: u64,
    retries: u32,
    stage: &'static str,
}

/// The `idle` object: the fields first, then the detail behind them.
#[derive(Debug, Serialize)]
struct IdleJson<'a> {
    max_s: f64,
    server_close_s: Option<f64>,
    server_close_kind: Option<&'static str>,
    announced_s: Option<u64>,
    closes_every_response: bool,
    silent_drop_after_s: Option<[f64; 2]>,
    silent_drop_confirmed_by_kernel: Option<bool>,
    keepalive_survived: bool,
    keepalive_alive_s: Option<f64>,
    recommended_keepalive_idle_s: Option<u64>,
    recommended_pool_idle_timeout_s: Option<u64>,
    watch: HeldJson<'a>,
    keepalive_connection: HeldJson<'a>,
    rungs: Vec<HeldJson<'a>>,
}

/// One held connection.
#[derive(Debug, Serialize)]
struct HeldJson<'a> {
    idle_s: f64,
    keepalive: bool,
    /// `answered`, `dropped` (unanswered and unacknowledged), `unanswered_acknowledged`,
    /// `unanswered` (this OS cannot tell), `closed` (while idle), `closed_on_use`, `open`,
    /// `not_reached`, `failed`, `interrupted`.
    outcome: &'static str,
    status: Option<u16>,
    closed_after_s: Option<f64>,
    close_kind: Option<&'static str>,
    waited_s: Option<f64>,
    retransmits: Option<u32>,
    error: Option<&'a str>,
    remote_addr: Option<String>,
    http_version: Option<&'static str>,
}

/// Seconds rounded to milliseconds.
fn s(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

fn held_json(held: &Held) -> HeldJson<'_> {
    let mut j = HeldJson {
        idle_s: s(held.role.idle()),
        keepalive: held.keepalive.is_some(),
        outcome: "open",
        status: None,
        closed_after_s: None,
        close_kind: None,
        waited_s: None,
        retransmits: None,
        error: None,
        remote_addr: held.first.as_ref().map(|f| f.remote.to_string()),
        http_version: held.first.as_ref().map(|f| f.version),
    };
    match &held.outcome {
        Outcome::NotReached(f) => {
            j.outcome = "not_reached";
            j.error = Some(&f.message);
        }
        Outcome::Closed { after, how } => {
            j.outcome = "closed";
            j.closed_after_s = Some(s(*after));
            j.close_kind = Some(how.as_str());
        }
        Outcome::Open => {}
        Outcome::Answered { status } => {
            j.outcome = "answered";
            j.status = Some(*status);
        }
        Outcome::ClosedOnUse { how } => {
            j.outcome = "closed_on_use";
            j.close_kind = Some(how.as_str());
        }
        Outcome::Unanswered {
            waited,
            acked,
            retransmits,
        } => {
            j.outcome = match acked {
                Some(false) => "dropped",
                Some(true) => "unanswered_acknowledged",
                None => "unanswered",
            };
            j.waited_s = Some(s(*waited));
            j.retransmits = *retransmits;
        }
        Outcome::Failed(message) => {
            j.outcome = "failed";
            j.error = Some(message);
        }
        Outcome::Interrupted { after } => {
            j.outcome = "interrupted";
            j.closed_after_s = None;
            j.waited_s = Some(s(*after));
        }
    }
    j
}

/// The report as one JSON document.
pub(crate) fn render_json(report: &IdleReport) -> String {
    let f = &report.findings;
    let doc = Document {
        mode: "idle",
        url: &report.url,
        method: &report.method,
        route: &report.route,
        family: report.family,
        keepalive_requested: KeepaliveJson {
            idle_s: report.asked.idle_duration().as_secs(),
            interval_s: report.asked.interval_duration().as_secs(),
            retries: report.asked.retry_count(),
            stage: report.stage.as_str(),
        },
        idle: IdleJson {
            max_s: s(report.max),
            server_close_s: f.server_close.map(|(at, _)| s(at)),
            server_close_kind: f.server_close.map(|(_, kind)| kind.as_str()),
            announced_s: f.announced.map(|a| a.as_secs()),
            closes_every_response: f.closes_every_response,
            silent_drop_after_s: f.silent_drop.map(|(a, b)| [s(a), s(b)]),
            silent_drop_confirmed_by_kernel: f.silent_drop.map(|_| !f.drop_unconfirmed),
            keepalive_survived: f.keepalive_survived,
            keepalive_alive_s: f.keepalive_alive_for.map(s),
            recommended_keepalive_idle_s: f.recommended_keepalive_idle.map(|d| d.as_secs()),
            recommended_pool_idle_timeout_s: f.recommended_pool_idle_timeout.map(|d| d.as_secs()),
            watch: held_json(&report.watch),
            keepalive_connection: held_json(&report.keepalive),
            rungs: report.rungs.iter().map(held_json).collect(),
        },
        verdict: &f.text,
        interrupted: report.interrupted,
        ok: report.exit() == crate::error::Exit::Ok,
    };
    let mut text = serde_json::to_string_pretty(&doc).expect("the document serializes");
    text.push('\n');
    text
}
