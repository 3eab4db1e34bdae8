//! The verdict: what the rows say, the most useful thing first — the route (direct against
//! the proxy), then the address family (IPv4 against IPv6), then the stage to configure on the
//! route that works (the environment's, when both do). Stage rows are judged by their failure
//! rates (`stages`), never by one unlucky attempt.

mod stages;
mod stats;
mod words;

use keepalive_connector::{Family, Phase, ProxySource};

use crate::model::{family_name, FailPhase, Mode, RouteKind, RowKind, StageResult};
use stages::{how_it_fails, judge, Judgement};
use stats::{fisher_greater, significant};
use words::{main_symptom, Symptom};

/// The conclusion drawn from the results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// The findings, without the `verdict: ` prefix.
    pub(crate) text: String,
    /// The mode to configure, when the rows support one (never when only one mode was probed).
    pub(crate) recommended: Option<Mode>,
    /// The route that recommendation was judged on.
    pub(crate) route: Option<RouteKind>,
}

/// The proxy of the proxy route, for the sentences that name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProxyName {
    /// Its URL, without credentials.
    pub(crate) url: String,
    /// Where the setting came from.
    pub(crate) source: ProxySource,
}

impl ProxyName {
    /// `HTTPS_PROXY`, `--proxy`, `the system proxy settings`.
    pub(crate) fn source_name(&self) -> String {
        source_name(self.source)
    }
}

/// How the report names a proxy setting's origin: the variable, `--proxy` (the probe's only
/// explicit rule), or the system settings.
pub(crate) fn source_name(source: ProxySource) -> String {
    match source {
        ProxySource::Env(var) => var.to_owned(),
        ProxySource::Explicit => "--proxy".to_owned(),
        _ => "the system proxy settings".to_owned(),
    }
}

/// Draws the verdict from results in probe order; `proxy` names the proxy of the proxy route.
pub(crate) fn verdict(results: &[StageResult], proxy: Option<&ProxyName>) -> Verdict {
    let rows = |route: RouteKind| -> Vec<&StageResult> {
        results
            .iter()
            .filter(|r| r.kind == RowKind::Stage && r.route == route)
            .collect()
    };
    let (via_proxy, direct) = (rows(RouteKind::Proxy), rows(RouteKind::Direct));
    let mut findings = Vec::new();
    let advice: Option<(RouteKind, Judgement)> = match (via_proxy.is_empty(), direct.is_empty()) {
        (false, false) => {
            let (p, d) = (judge(&via_proxy), judge(&direct));
            let name = proxy.map_or_else(|| "the proxy".to_owned(), ProxyName::source_name);
            match (p.all_failed, d.all_failed) {
                (false, true) => {
                    findings.push(format!(
                        "direct fails {} and the proxy works: this network needs the proxy \
                         ({name}); a client that bypasses it fails the same way",
                        how_it_fails(&direct)
                    ));
                    let text = format!("through the proxy: {}", p.text);
                    Some((RouteKind::Proxy, Judgement { text, ..p }))
                }
                (true, false) => {
                    findings.push(proxy_fails(proxy, &via_proxy));
                    let text = format!("direct: {}", d.text);
                    Some((RouteKind::Direct, Judgement { text, ..d }))
                }
                (true, true) => {
                    findings.push(both_fail(&name, &via_proxy, &direct));
                    None
                }
                (false, false) if p.text == d.text => {
                    let text = format!("through the proxy and direct: {}", p.text);
                    Some((RouteKind::Proxy, Judgement { text, ..p }))
                }
                (false, false) => {
                    let text =
                        format!("through the proxy ({name}): {}; direct: {}", p.text, d.text);
                    Some((RouteKind::Proxy, Judgement { text, ..p }))
                }
            }
        }
        (false, true) if reaching_proxy(&via_proxy) => {
            // Not the endpoint's doing: nothing got past the proxy's address.
            let name =
                proxy.map_or_else(String::new, |p| format!(" {} ({})", p.url, p.source_name()));
            findings.push(format!("the proxy{name} {}", proxy_failure(&via_proxy)));
            None
        }
        (false, true) => Some((RouteKind::Proxy, judge(&via_proxy))),
        (true, false) => Some((RouteKind::Direct, judge(&direct))),
        (true, true) => None,
    };
    // Both families failing adds nothing to a direct route that failed at every stage.
    let direct_failed = !direct.is_empty() && direct.iter().all(|r| r.all_failed());
    findings.extend(
        family_finding(results)
            .filter(|f| !(direct_failed && f.both_failed))
            .map(|f| f.text),
    );
    let (route, recommended) = match advice {
        Some((route, judgement)) => {
            findings.push(judgement.text);
            (judgement.recommended.map(|_| route), judgement.recommended)
        }
        None => (None, None),
    };
    Verdict {
        text: sentences(&findings),
        recommended,
        route,
    }
}

/// Findings joined as sentences: `first. Second. Third`.
fn sentences(findings: &[String]) -> String {
    let mut out = String::new();
    for (i, finding) in findings.iter().enumerate() {
        if i == 0 {
            out.push_str(finding);
            continue;
        }
        out.push_str(". ");
        let mut chars = finding.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    out
}

/// How the proxy route failed: `cannot be reached at the connect phase (…)` when every
/// failure was on the way to the proxy (its name or its address), else like any route.
fn proxy_failure(via_proxy: &[&StageResult]) -> String {
    let how = how_it_fails(via_proxy);
    if reaching_proxy(via_proxy) {
        format!("cannot be reached {how}")
    } else {
        format!("fails {how}")
    }
}

/// Whether every attempt of the proxy route failed on the way to the proxy (its name or its
/// address): then nothing reached the endpoint.
fn reaching_proxy(via_proxy: &[&StageResult]) -> bool {
    let mut attempts = via_proxy.iter().flat_map(|r| r.attempts.iter());
    attempts.all(|a| {
        a.outcome
            .as_ref()
            .is_err_and(|f| matches!(f.phase, FailPhase::Connect(Phase::Dns | Phase::Connect)))
    })
}

/// The proxy fails every attempt, direct works.
fn proxy_fails(proxy: Option<&ProxyName>, via_proxy: &[&StageResult]) -> String {
    let how = proxy_failure(via_proxy);
    let Some(proxy) = proxy else {
        return format!("the proxy {how} and direct works");
    };
    let clients = match proxy.source {
        ProxySource::Env(var) => {
            format!("clients that follow {var} fail here — fix the proxy, or exempt this host in NO_PROXY")
        }
        ProxySource::Explicit => "clients that use this proxy fail here".to_owned(),
        _ => "clients that follow the system proxy settings fail here — fix the proxy, or add \
              this host to the system's proxy exceptions"
            .to_owned(),
    };
    format!(
        "the proxy {} ({}) {how} and direct works: {clients}",
        proxy.url,
        proxy.source_name()
    )
}

/// Both routes fail every attempt.
fn both_fail(name: &str, via_proxy: &[&StageResult], direct: &[&StageResult]) -> String {
    let (p, d) = (proxy_failure(via_proxy), how_it_fails(direct));
    if p == format!("fails {d}") && !d.starts_with("at every stage") {
        format!(
            "both routes fail {d}: the endpoint is unreachable from here, through the proxy \
             ({name}) or direct"
        )
    } else {
        format!("both routes fail: the proxy ({name}) {p}, and direct fails {d}")
    }
}

/// A finding about the families.
struct FamilyFinding {
    text: String,
    /// Both families failed every attempt.
    both_failed: bool,
}

/// What the family rows say: a family that fails where the other works, both failing, or one
/// failing more often than the other; nothing when both work.
fn family_finding(results: &[StageResult]) -> Option<FamilyFinding> {
    let row = |family: Family| {
        results
            .iter()
            .find(|r| r.kind == RowKind::Family && r.family == Some(family))
    };
    let (v4, v6) = (row(Family::V4)?, row(Family::V6)?);
    let symptom = |r: &StageResult| main_symptom(r).map(|(s, _)| s);
    let finding = |text: String| {
        Some(FamilyFinding {
            text,
            both_failed: v4.all_failed() && v6.all_failed(),
        })
    };
    match (v4.failed_count(), v6.failed_count()) {
        (0, 0) => None,
        (0, _) if v6.all_failed() => finding(dead_family(Family::V6, symptom(v6)?)),
        (_, 0) if v4.all_failed() => finding(dead_family(Family::V4, symptom(v4)?)),
        _ if v4.all_failed() && v6.all_failed() => {
            let (s4, s6) = (symptom(v4)?, symptom(v6)?);
            finding(if s4 == s6 {
                format!("both address families fail {}", s4.at())
            } else {
                format!("IPv4 fails {} and IPv6 {}", s4.at(), s6.at())
            })
        }
        (f4, f6) => {
            let (n4, n6) = (v4.attempts.len(), v6.attempts.len());
            let (worse, w) = if significant(fisher_greater(f6, n6, f4, n4)) {
                (Some(Family::V6), v6)
            } else if significant(fisher_greater(f4, n4, f6, n6)) {
                (Some(Family::V4), v4)
            } else {
                (None, if f6 > 0 { v6 } else { v4 })
            };
            let at = symptom(w).map_or_else(String::new, |s| format!(", {}", s.at()));
            let counts = format!("IPv4 failed {f4} of {n4} times, IPv6 {f6} of {n6}{at}");
            finding(match worse {
                Some(family) => format!(
                    "{counts}: {} is unreliable here, and a client without happy eyeballs \
                     suffers from it",
                    family_name(family)
                ),
                None => format!("{counts}: a difference within chance"),
            })
        }
    }
}

/// One family fails every attempt while the other works.
fn dead_family(dead: Family, symptom: Symptom) -> String {
    let (name, other) = (family_name(dead), family_name(other(dead)));
    if symptom.timeout {
        let path = if symptom.phase == FailPhase::Connect(Phase::Connect) {
            format!(" — a dead {name} path —")
        } else {
            String::new()
        };
        format!(
            "{name} times out at the {} phase{path} and {other} works: a client without happy \
             eyeballs stalls here",
            symptom.phase
        )
    } else {
        format!(
            "{name} fails {} and {other} works: a client that tries {name} without falling back \
             to {other} fails here",
            symptom.at()
        )
    }
}

fn other(family: Family) -> Family {
    match family {
        Family::V4 => Family::V6,
        Family::V6 => Family::V4,
    }
}

#[cfg(test)]
mod tests;
