//! The human-readable report: a header, the timings table, the connection table, the errors,
//! percentiles with `--repeat`, and the verdict line. Aligned, at most 100 columns wide
//! (except for free text, which is wrapped), colour only when asked.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use keepalive_connector::{Keepalive, TrustInfo};

use crate::model::{millis, StageResult, PHASES};
use crate::table::{truncate, wrap, Align, Palette, Table, Tone};
use crate::verdict::Verdict;

/// The width the report is laid out for.
const WIDTH: usize = 100;
/// The widest outcome cell, so the timings table stays within [`WIDTH`].
const OUTCOME_MAX: usize = 40;

/// Everything the probe learned, ready to render.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    /// The URL probed.
    pub(crate) url: String,
    /// The request method.
    pub(crate) method: String,
    /// The embedded server's address, when no URL was given.
    pub(crate) embedded: Option<SocketAddr>,
    /// Connections per stage.
    pub(crate) repeat: u32,
    /// The keepalive values asked for (the `off` row asks for none).
    pub(crate) keepalive: Keepalive,
    /// What the connectors verified certificates with.
    pub(crate) trust: TrustInfo,
    /// One result per probed mode, in probe order.
    pub(crate) results: Vec<StageResult>,
    /// The conclusion.
    pub(crate) verdict: Verdict,
}

impl Report {
    /// `true` when every probed stage got an HTTP response on every attempt.
    pub(crate) fn all_ok(&self) -> bool {
        self.results.iter().all(StageResult::ok)
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
    let ka = &report.keepalive;
    let _ = writeln!(
        out,
        "keepalive asked for: idle {}s, interval {}s, retries {} (the off row sets none)",
        ka.idle_duration().as_secs(),
        ka.interval_duration().as_secs(),
        ka.retry_count(),
    );
    let _ = writeln!(
        out,
        "{}",
        wrap(&format!("trust: {}", report.trust), WIDTH, 7)
    );
    let _ = writeln!(
        out,
        "connections: {} per stage, each on a fresh connector (full TLS handshake, no session \
         reuse)",
        report.repeat
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

fn timings_table(report: &Report, palette: Palette) -> String {
    let repeat = report.repeat > 1;
    let mut columns = vec![("stage", Align::Left), ("outcome", Align::Left)];
    columns.extend(PHASES.iter().map(|p| (*p, Align::Right)));
    let mut table = Table::new(&columns);
    for result in &report.results {
        let (text, tone) = outcome(result);
        let mut row = vec![
            (result.mode.to_string(), Tone::Plain),
            (truncate(&text, OUTCOME_MAX), tone),
        ];
        let times: [Option<Duration>; 5] = if repeat {
            result.percentiles().map_or([None; 5], |p| p[0])
        } else {
            let t = &result.representative().times;
            std::array::from_fn(|i| t.get(i))
        };
        row.extend(times.iter().map(|t| (ms(*t), Tone::Plain)));
        table.toned_row(row);
    }
    let title = if repeat {
        "timings in ms (p50 over the connections that got a response)"
    } else {
        "timings in ms (dns, connect, tls from the connector; ttfb and total since connect began)"
    };
    format!("{}\n{}", wrap(title, WIDTH, 2), table.render(palette))
}

fn connection_table(report: &Report) -> String {
    let mut table = Table::new(&[
        ("stage", Align::Left),
        ("remote", Align::Left),
        ("tls", Align::Left),
        ("alpn", Align::Left),
        ("keepalive read back from the socket", Align::Left),
    ]);
    for result in &report.results {
        let attempt = result.representative();
        let conn = attempt.conn.as_ref();
        let dash = || "-".to_owned();
        table.row(vec![
            result.mode.to_string(),
            attempt.remote_addr().map_or_else(dash, |a| a.to_string()),
            conn.and_then(|c| c.tls_version.as_deref())
                .map_or_else(dash, |v| v.replace('_', ".")),
            conn.and_then(|c| c.alpn.clone()).unwrap_or_else(dash),
            match conn {
                None => dash(),
                Some(c) => c.keepalive.map_or_else(
                    || "off (SO_KEEPALIVE not set)".to_owned(),
                    |k| {
                        format!(
                            "idle {}s, interval {}s, retries {}",
                            k.idle_duration().as_secs(),
                            k.interval_duration().as_secs(),
                            k.retry_count()
                        )
                    },
                ),
            },
        ]);
    }
    table.render(Palette { enabled: false })
}

/// The full error of each failing stage (stages that failed with the same message share a
/// line), and any body that did not finish.
fn notes(report: &Report) -> String {
    let mut errors: Vec<(Vec<&str>, &str)> = Vec::new();
    for result in &report.results {
        if let Some(failure) = result.first_failure() {
            match errors.iter_mut().find(|(_, m)| *m == failure.message) {
                Some((modes, _)) => modes.push(result.mode.as_str()),
                None => errors.push((vec![result.mode.as_str()], &failure.message)),
            }
        }
    }
    let mut out = String::new();
    for (modes, message) in errors {
        let line = format!("  {}: {message}", modes.join(", "));
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
                result.mode
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
    let mut table = Table::new(&columns);
    for result in &report.results {
        let Some(pcts) = result.percentiles() else {
            let mut row = vec![result.mode.to_string(), "-".to_owned()];
            row.extend(PHASES.iter().map(|_| "-".to_owned()));
            table.row(row);
            continue;
        };
        for (i, (name, values)) in ["p50", "p90", "p99"].iter().zip(pcts).enumerate() {
            let stage = if i == 0 {
                result.mode.to_string()
            } else {
                String::new()
            };
            let mut row = vec![stage, (*name).to_owned()];
            row.extend(values.iter().map(|v| ms(*v)));
            table.row(row);
        }
    }
    format!(
        "percentiles in ms over {} per stage (those that got a response)\n{}",
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

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Attempt, ConnDetails, FailPhase, Failure, HttpResponse, Mode, PhaseTimes};
    use crate::verdict::verdict;
    use keepalive_connector::{Connector, Phase, Stage, Trust};

    fn sample() -> Report {
        let conn = |keepalive| ConnDetails {
            remote_addr: "127.0.0.1:4433".parse().unwrap(),
            local_addr: "127.0.0.1:50000".parse().unwrap(),
            tls_version: Some("TLSv1_3".into()),
            alpn: Some("h2".into()),
            keepalive,
        };
        let ka = Keepalive::new()
            .idle(Duration::from_secs(30))
            .interval(Duration::from_secs(10))
            .retries(3);
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
                mode: Mode::At(Stage::BeforeConnect),
                attempts: vec![failed],
            },
            StageResult {
                mode: Mode::At(Stage::AfterConnect),
                attempts: vec![ok(Some(ka))],
            },
            StageResult {
                mode: Mode::At(Stage::AfterHandshake),
                attempts: vec![ok(Some(ka))],
            },
            StageResult {
                mode: Mode::Off,
                attempts: vec![ok(None)],
            },
        ];
        Report {
            url: "https://localhost:4433/".into(),
            method: "GET".into(),
            embedded: None,
            repeat: 1,
            keepalive: ka,
            trust: Connector::builder()
                .trust(Trust::WebpkiRoots)
                .build()
                .unwrap()
                .trust()
                .clone(),
            verdict: verdict(&results),
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
