//! The human-readable report: a header (target, proxy, routes, families), the timings table,
//! the connection table, the errors, percentiles with `--repeat`, and the verdict line. Rows
//! are grouped in sections by route (`via proxy …:`, `direct:`) and the family rows come last.
//! Aligned, at most 100 columns wide (except for the verdict line; other free text is
//! wrapped), colour only when asked.

use std::fmt::Write as _;
use std::time::Duration;

use keepalive_connector::{Availability, Keepalive, OptionSupport, ValueSource};

use crate::model::{
    family_name, millis, KeepaliveSeen, Report, Reported, RouteKind, RowKind, StageResult, PHASES,
};
use crate::table::{plural, truncate, wrap, Align, Palette, Table, Tone};

/// The width the report is laid out for.
const WIDTH: usize = 100;
/// The widest outcome cell, so the timings table stays within [`WIDTH`].
const OUTCOME_MAX: usize = 40;
/// The widest the five timing columns get, with their gaps: `connect` (7) and four of at most
/// six characters (`100000` ms), each after two spaces.
const TIMINGS_WIDTH: usize = 7 + 4 * 6 + 5 * 2;

/// How the report is laid out: its rows in sections, and their names.
impl Report {
    /// The rows in sections: each section's title and its rows, in probe order.
    fn sections(&self) -> Vec<(String, Vec<&StageResult>)> {
        let mut out: Vec<(String, Vec<&StageResult>)> = Vec::new();
        for row in &self.results {
            let title = self.section_title(row);
            match out.last_mut() {
                Some((t, rows)) if *t == title => rows.push(row),
                _ => out.push((title, vec![row])),
            }
        }
        out
    }

    fn section_title(&self, row: &StageResult) -> String {
        let only = self
            .families
            .choice
            .forced()
            .map(|f| format!(", {} only", family_name(f)))
            .unwrap_or_default();
        let title = match (row.kind, row.route, &self.routes.proxy) {
            (RowKind::Family, _, _) => "direct, one address family at a time:".to_owned(),
            (_, RouteKind::Proxy, Some(proxy)) => {
                format!("via proxy {} ({}){only}:", proxy.url, proxy.source_name())
            }
            (_, RouteKind::Proxy, None) => format!("via proxy{only}:"),
            (_, RouteKind::Direct, _) => format!("direct{only}:"),
        };
        truncate(&title, WIDTH)
    }

    /// How a row is named outside the tables: with its route when there are several
    /// sections (`direct before-connect`), else by its label alone.
    fn row_name(&self, row: &StageResult, sections: usize) -> String {
        if sections > 1 {
            format!("{} {}", row.route.as_str(), row.label())
        } else {
            row.label()
        }
    }
}

/// Renders the report as text.
pub(crate) fn render(report: &Report, palette: Palette) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "keepalive-probe {}: {} {}",
        env!("CARGO_PKG_VERSION"),
        report.method,
        report.url
    );
    if let Some(addr) = report.embedded {
        let _ = writeln!(
            out,
            "target: an embedded local HTTPS server on {addr} (no URL given: no network needed)\n\
             \x20       HTTP/2 and HTTP/1.1; its rcgen certificate is made at start and trusted for \
             this run only"
        );
    }
    let routes = &report.routes;
    let family = report
        .families
        .line(&routes.host, report.family_mode.as_str());
    for (label, text) in [
        ("proxy", routes.proxy_line()),
        ("routes", routes.routes_line(report.route_choice_given)),
        ("families", family),
    ] {
        let _ = writeln!(out, "{}", wrap(&format!("{label}: {text}"), WIDTH, 8));
    }
    let _ = writeln!(
        out,
        "{}",
        wrap(
            &format!(
                "keepalive asked for: {} (the off row sets none)",
                asked(&report.keepalive)
            ),
            WIDTH,
            4
        )
    );
    let per = if report.repeat > 1 {
        format!("{} per row, in rounds of one per row", report.repeat)
    } else {
        "1 per row".to_owned()
    };
    let _ = writeln!(
        out,
        "{}",
        wrap(&format!("trust: {}", report.trust), WIDTH, 7)
    );
    let _ = writeln!(
        out,
        "{}",
        wrap(
            &format!(
                "connections: {per}, each on a fresh connector (full TLS handshake, no session \
                 reuse)"
            ),
            WIDTH,
            8
        )
    );
    out.push('\n');
    out.push_str(&timings_table(report, palette));
    out.push('\n');
    out.push_str(&connection_table(report));
    let notes = notes(report);
    if !notes.is_empty() {
        out.push('\n');
        out.push_str(&notes);
    }
    if report.repeat > 1 {
        out.push('\n');
        out.push_str(&percentile_table(report));
    }
    out.push('\n');
    let _ = writeln!(out, "{} {}", palette.bold("verdict:"), report.verdict.text);
    out
}

/// A table of `columns` with one row per result, from `cells`, in sections.
fn sectioned(
    report: &Report,
    columns: &[(&str, Align)],
    mut cells: impl FnMut(&StageResult) -> Vec<Vec<(String, Tone)>>,
) -> Table {
    let mut table = Table::new(columns);
    for (title, rows) in report.sections() {
        table.section(title);
        for row in rows {
            for line in cells(row) {
                table.toned_row(line);
            }
        }
    }
    table
}

fn plain(cells: Vec<String>) -> Vec<(String, Tone)> {
    cells.into_iter().map(|c| (c, Tone::Plain)).collect()
}

fn timings_table(report: &Report, palette: Palette) -> String {
    let repeat = report.repeat > 1;
    let mut columns = vec![("stage", Align::Left), ("outcome", Align::Left)];
    columns.extend(PHASES.iter().map(|p| (*p, Align::Right)));
    // The outcome column gives way to long labels (`after-handshake IPv6`).
    let label = report
        .results
        .iter()
        .map(|r| r.label().chars().count())
        .max()
        .unwrap_or(0);
    let outcome_max = OUTCOME_MAX.min(WIDTH.saturating_sub(label + 2 + TIMINGS_WIDTH));
    let table = sectioned(report, &columns, |result| {
        let (text, tone) = outcome(result);
        let mut row = vec![
            (result.label(), Tone::Plain),
            (truncate(&text, outcome_max), tone),
        ];
        let times: [Option<Duration>; 5] = if repeat {
            result.percentiles().map_or([None; 5], |p| p[0])
        } else {
            let t = &result.representative().times;
            std::array::from_fn(|i| t.get(i))
        };
        row.extend(times.iter().map(|t| (ms(*t), Tone::Plain)));
        vec![row]
    });
    let title = if repeat {
        "timings in ms (p50 over the connections that got a response)"
    } else {
        "timings in ms (dns, connect, tls from the connector; ttfb and total since connect began)"
    };
    format!("{}\n{}", wrap(title, WIDTH, 2), table.render(palette))
}

fn connection_table(report: &Report) -> String {
    let all_read_back = report
        .results
        .iter()
        .filter_map(|r| r.representative().conn.as_ref()?.keepalive)
        .all(|k| k.is_read_back());
    let columns = [
        ("stage", Align::Left),
        ("remote", Align::Left),
        ("tls", Align::Left),
        ("alpn", Align::Left),
        (
            if all_read_back {
                "keepalive read back from the socket"
            } else {
                "keepalive on the socket"
            },
            Align::Left,
        ),
    ];
    let table = sectioned(report, &columns, |result| {
        let attempt = result.representative();
        let conn = attempt.conn.as_ref();
        let dash = || "-".to_owned();
        vec![plain(vec![
            result.label(),
            attempt.remote_addr().map_or_else(dash, |a| a.to_string()),
            conn.and_then(|c| c.tls_version.as_deref())
                .map_or_else(dash, |v| v.replace('_', ".")),
            conn.and_then(|c| c.alpn.clone()).unwrap_or_else(dash),
            match conn {
                None => dash(),
                Some(c) => c.keepalive.map_or_else(
                    || "off (SO_KEEPALIVE not set)".to_owned(),
                    |k| on_socket(&k),
                ),
            },
        ])]
    });
    let mut out = table.render(Palette { enabled: false });
    if !all_read_back {
        let support = Keepalive::platform_support();
        let note = format!(
            "  *: the value the connector set, which this OS cannot report (read back on \
             {}: idle {}, interval {}, retries {}). OS: not set by the connector (the OS \
             refused or lacks the option) and not reported; the OS's own value applies.",
            support.os(),
            support.idle().read_back(),
            support.interval().read_back(),
            support.retries().read_back(),
        );
        let _ = writeln!(out, "{}", wrap(&note, WIDTH, 4));
    }
    out
}

/// One value of the keepalive cell: `idle 30s` when read back, `idle 30s*` when this OS cannot
/// report it (the note under the table says what `*` means), `retries: OS` when the OS's own
/// value applies. Short, so the table stays within 100 columns.
fn value_cell<T>(what: &str, r: Reported<T>, show: impl Fn(T) -> String) -> String {
    match (r.value, r.source) {
        (Some(v), ValueSource::Kernel) => format!("{what} {}", show(v)),
        (Some(v), _) => format!("{what} {}*", show(v)),
        (None, _) => format!("{what}: OS"),
    }
}

/// The keepalive cell of the connection table.
fn on_socket(k: &KeepaliveSeen) -> String {
    let secs = |d: Duration| format!("{}s", d.as_secs());
    [
        value_cell("idle", k.idle, secs),
        value_cell("interval", k.interval, secs),
        value_cell("retries", k.retries, |r| r.to_string()),
    ]
    .join(", ")
}

/// The values asked for, as this OS will apply them: a value the OS may refuse or lacks is
/// said to give way to the OS's own unless the user chose it.
fn asked(ka: &Keepalive) -> String {
    let support = Keepalive::platform_support();
    let one = |what: &str, value: String, option: OptionSupport, chosen: bool| match option.set() {
        Availability::Yes => format!("{what} {value}"),
        Availability::Since(_) if chosen => format!("{what} {value}"),
        Availability::Since(version) => format!(
            "{what} {value} where the OS has {} (from {version}), else the OS's own",
            option.name()
        ),
        _ => format!("{what}: the OS's own (no per-socket {})", option.name()),
    };
    [
        one(
            "idle",
            format!("{}s", ka.idle_duration().as_secs()),
            support.idle(),
            false,
        ),
        one(
            "interval",
            format!("{}s", ka.interval_duration().as_secs()),
            support.interval(),
            false,
        ),
        one(
            "retries",
            ka.retry_count().to_string(),
            support.retries(),
            ka.is_retry_count_chosen(),
        ),
    ]
    .join(", ")
}

/// The full error of each failing row (rows that failed with the same message share a line),
/// any body that did not finish, and family rows stopped after a black-holed connect.
fn notes(report: &Report) -> String {
    let sections = report.sections().len();
    let mut errors: Vec<(Vec<&StageResult>, &str)> = Vec::new();
    for result in &report.results {
        if let Some(failure) = result.first_failure() {
            match errors.iter_mut().find(|(_, m)| *m == failure.message) {
                Some((rows, _)) => rows.push(result),
                None => errors.push((vec![result], &failure.message)),
            }
        }
    }
    let mut out = String::new();
    for (rows, message) in errors {
        // `proxy before-connect, after-connect`: the route once for rows of one route.
        let names: Vec<String> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| match i.checked_sub(1).map(|p| rows[p]) {
                Some(prev) if prev.route == r.route && prev.kind == r.kind => r.label(),
                _ => report.row_name(r, sections),
            })
            .collect();
        let line = format!("  {}: {message}", names.join(", "));
        let _ = writeln!(out, "{}", wrap(&line, WIDTH, 4));
    }
    for result in &report.results {
        if let Some(err) = result
            .attempts
            .iter()
            .filter_map(|a| a.outcome.as_ref().ok())
            .find_map(|r| r.body_error.as_deref())
        {
            let line = format!(
                "  {}: the response head arrived, but reading the body failed: {err}",
                report.row_name(result, sections)
            );
            let _ = writeln!(out, "{}", wrap(&line, WIDTH, 4));
        }
    }
    for result in &report.results {
        if result.kind == RowKind::Family && result.attempts.len() < report.repeat as usize {
            let line = format!(
                "  {}: not tried again after its connect timed out (each try would wait the \
                 connect timeout again)",
                report.row_name(result, sections)
            );
            let _ = writeln!(out, "{}", wrap(&line, WIDTH, 4));
        }
    }
    if out.is_empty() {
        out
    } else {
        format!("errors:\n{out}")
    }
}

fn percentile_table(report: &Report) -> String {
    let mut columns = vec![("stage", Align::Left), ("", Align::Left)];
    columns.extend(PHASES.iter().map(|p| (*p, Align::Right)));
    let table = sectioned(report, &columns, |result| {
        let Some(pcts) = result.percentiles() else {
            let mut row = vec![result.label(), "-".to_owned()];
            row.extend(PHASES.iter().map(|_| "-".to_owned()));
            return vec![plain(row)];
        };
        ["p50", "p90", "p99"]
            .iter()
            .zip(pcts)
            .enumerate()
            .map(|(i, (name, values))| {
                let label = if i == 0 {
                    result.label()
                } else {
                    String::new()
                };
                let mut row = vec![label, (*name).to_owned()];
                row.extend(values.iter().map(|v| ms(*v)));
                plain(row)
            })
            .collect()
    });
    format!(
        "percentiles in ms over {} per row (those that got a response)\n{}",
        plural(report.repeat as usize, "connection"),
        table.render(Palette { enabled: false })
    )
}

/// The outcome cell: `200 HTTP/2`, `failed at tls: connection reset by peer`, with counts when
/// there were several attempts.
fn outcome(result: &StageResult) -> (String, Tone) {
    let attempts = result.attempts.len();
    let ok = result.ok_count();
    match (result.first_response(), result.first_failure()) {
        (Some(resp), None) if attempts > 1 => (
            format!("{} {} ({ok}/{attempts})", resp.status, resp.version),
            Tone::Good,
        ),
        (Some(resp), None) => (format!("{} {}", resp.status, resp.version), Tone::Good),
        (_, Some(failure)) if attempts > 1 => (
            format!(
                "{}/{attempts} failed at {}: {}",
                attempts - ok,
                failure.phase,
                failure.cause
            ),
            Tone::Bad,
        ),
        (_, Some(failure)) => (
            format!("failed at {}: {}", failure.phase, failure.cause),
            Tone::Bad,
        ),
        (None, None) => ("no attempt".to_owned(), Tone::Bad),
    }
}

/// Milliseconds with fewer decimals as they grow, so a column stays narrow: `0.42`, `123.4`,
/// `10000`.
fn ms(d: Option<Duration>) -> String {
    let Some(d) = d else {
        return "-".to_owned();
    };
    let ms = millis(d);
    if ms < 100.0 {
        format!("{ms:.2}")
    } else if ms < 1000.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::family::FamilyPlan;
    use crate::model::{Attempt, ConnDetails, FailPhase, Failure, HttpResponse, Mode, PhaseTimes};
    use crate::route::RoutePlan;
    use crate::verdict::verdict;
    use keepalive_connector::Family;
    use keepalive_connector::{Connector, Phase, Stage, Trust};

    /// Keepalive as 30 s / 10 s / `retries`, idle and interval from `timers`.
    fn seen(timers: ValueSource, retries: Option<u32>, count: ValueSource) -> KeepaliveSeen {
        let secs = |s| Reported {
            value: Some(Duration::from_secs(s)),
            source: timers,
        };
        KeepaliveSeen {
            idle: secs(30),
            interval: secs(10),
            retries: Reported {
                value: retries,
                source: count,
            },
        }
    }

    fn sample() -> Report {
        let conn = |keepalive| ConnDetails {
            remote_addr: "127.0.0.1:4433".parse().unwrap(),
            local_addr: "127.0.0.1:50000".parse().unwrap(),
            tls_version: Some("TLSv1_3".into()),
            alpn: Some("h2".into()),
            keepalive,
        };
        let asked = Keepalive::new()
            .idle(Duration::from_secs(30))
            .interval(Duration::from_secs(10))
            .retries(3);
        let ka = seen(ValueSource::Kernel, Some(3), ValueSource::Kernel);
        let ok = |keepalive| Attempt {
            conn: Some(conn(keepalive)),
            outcome: Ok(HttpResponse {
                status: 503,
                version: "HTTP/2",
                headers: Default::default(),
                body_bytes: 5,
                body_error: None,
            }),
            times: PhaseTimes {
                dns: Some(Duration::from_micros(20)),
                connect: Some(Duration::from_micros(150)),
                tls: Some(Duration::from_micros(2500)),
                ttfb: Some(Duration::from_micros(4000)),
                total: Duration::from_micros(4200),
            },
        };
        let failed = Attempt {
            conn: None,
            outcome: Err(Failure {
                phase: FailPhase::Connect(Phase::Tls),
                cause: "connection reset by peer".into(),
                message: "tls handshake with 127.0.0.1:4433 (localhost) failed: Connection \
                          reset by peer (os error 104)"
                    .into(),
                timeout: false,
                addr: Some("127.0.0.1:4433".parse().unwrap()),
            }),
            times: PhaseTimes {
                total: Duration::from_millis(3),
                ..PhaseTimes::default()
            },
        };
        let results: Vec<StageResult> = vec![
            StageResult {
                attempts: vec![failed],
                ..StageResult::stage(Mode::At(Stage::BeforeConnect), RouteKind::Direct)
            },
            StageResult {
                attempts: vec![ok(Some(ka))],
                ..StageResult::stage(Mode::At(Stage::AfterConnect), RouteKind::Direct)
            },
            StageResult {
                attempts: vec![ok(Some(ka))],
                ..StageResult::stage(Mode::At(Stage::AfterHandshake), RouteKind::Direct)
            },
            StageResult {
                attempts: vec![ok(None)],
                ..StageResult::stage(Mode::Off, RouteKind::Direct)
            },
        ];
        Report {
            url: "https://localhost:4433/".into(),
            method: "GET".into(),
            embedded: None,
            repeat: 1,
            keepalive: asked,
            trust: Connector::builder()
                .trust(Trust::WebpkiRoots)
                .build()
                .unwrap()
                .trust()
                .clone(),
            verdict: verdict(&results, None),
            routes: RoutePlan::embedded(None).unwrap(),
            route_choice_given: false,
            families: FamilyPlan {
                choice: crate::cli::FamilyChoice::Both,
                lookup: crate::family::Lookup::Literal("127.0.0.1".parse().unwrap()),
                rows: Vec::new(),
            },
            family_mode: Mode::At(Stage::AfterHandshake),
            results,
        }
    }

    #[test]
    fn text_report_fits_in_100_columns_and_has_every_row() {
        let text = render(&sample(), Palette { enabled: false });
        for line in text.lines().filter(|l| !l.starts_with("verdict:")) {
            assert!(line.chars().count() <= WIDTH, "too wide: {line:?}");
        }
        for mode in Mode::ALL {
            assert!(text.lines().any(|l| l.starts_with(mode.as_str())), "{text}");
        }
        assert!(text.contains("failed at tls: connection reset by peer"));
        assert!(text.contains("503 HTTP/2"));
        assert!(text.contains("idle 30s, interval 10s, retries 3"));
        assert!(text.contains("off (SO_KEEPALIVE not set)"));
        assert!(text.contains("TLSv1.3"));
        assert!(text.contains("\ntrust: webpki-roots\n"), "{text}");
        assert!(text.contains("verdict: keepalive before connect (before-connect) fails"));
        assert!(!text.contains('\x1b'));
    }

    /// The sample's rows through a proxy and direct, with family rows: every row under its
    /// route's section line, the family rows labelled, within 100 columns.
    #[test]
    fn routes_and_families_get_sections() {
        let mut report = sample();
        let proxied: Vec<StageResult> = report
            .results
            .iter()
            .map(|r| StageResult {
                route: RouteKind::Proxy,
                ..r.clone()
            })
            .collect();
        let mut families = Vec::new();
        for family in [Family::V4, Family::V6] {
            families.push(StageResult {
                family: Some(family),
                kind: RowKind::Family,
                ..report.results[1].clone()
            });
        }
        report.results = proxied.into_iter().chain(report.results).collect();
        report.results.extend(families);
        report.routes.routes = vec![RouteKind::Proxy, RouteKind::Direct];
        report.routes.proxy = Some(crate::verdict::ProxyName {
            url: "http://proxy.test:3128/".into(),
            source: keepalive_connector::ProxySource::Env("HTTPS_PROXY"),
        });
        let text = render(&report, Palette { enabled: false });
        for line in text.lines().filter(|l| !l.starts_with("verdict:")) {
            assert!(line.chars().count() <= WIDTH, "too wide: {line:?}");
        }
        let lines: Vec<&str> = text.lines().collect();
        let at = |title: &str| lines.iter().position(|l| *l == title).unwrap();
        let proxy = at("via proxy http://proxy.test:3128/ (HTTPS_PROXY):");
        let direct = at("direct:");
        let family = at("direct, one address family at a time:");
        assert!(proxy < direct && direct < family, "{text}");
        assert!(lines[proxy + 1].starts_with("before-connect "), "{text}");
        assert!(
            lines[family + 1].starts_with("after-connect IPv4 "),
            "{text}"
        );
        assert!(
            lines[family + 2].starts_with("after-connect IPv6 "),
            "{text}"
        );
        assert!(
            text.contains("  proxy before-connect, direct before-connect: tls handshake"),
            "the error notes name the route: {text}"
        );
    }

    #[test]
    fn values_an_os_cannot_report_are_marked_and_explained() {
        // Windows before 10 1709 and Wine: idle and interval as set, the OS's own count; with
        // family rows, whose labels are the longest.
        let mut report = sample();
        let family_row = StageResult {
            family: Some(Family::V4),
            kind: RowKind::Family,
            ..report.results[2].clone()
        };
        report.results.push(family_row);
        for r in &mut report.results {
            for a in &mut r.attempts {
                if let Some(c) = a.conn.as_mut().filter(|c| c.keepalive.is_some()) {
                    c.keepalive = Some(seen(ValueSource::AsSet, None, ValueSource::Os));
                }
            }
        }
        let text = render(&report, Palette { enabled: false });
        for line in text.lines().filter(|l| !l.starts_with("verdict:")) {
            assert!(line.chars().count() <= WIDTH, "too wide: {line:?}");
        }
        assert!(
            text.contains("idle 30s*, interval 10s*, retries: OS"),
            "{text}"
        );
        assert!(text.contains("alpn  keepalive on the socket\n"), "{text}");
        assert!(
            !text.contains("keepalive read back from the socket"),
            "{text}"
        );
        assert!(text.contains("*: the value the connector set"), "{text}");
    }

    #[test]
    fn repeat_adds_percentiles() {
        let mut report = sample();
        report.repeat = 2;
        for r in &mut report.results {
            let again = r.attempts[0].clone();
            r.attempts.push(again);
        }
        let text = render(&report, Palette { enabled: false });
        assert!(text.contains("percentiles in ms over 2 connections"));
        assert!(text.contains("503 HTTP/2 (2/2)"));
        assert!(text.contains("2/2 failed at tls"));
        assert_eq!(text.lines().filter(|l| l.contains(" p99 ")).count(), 3);
    }
}
