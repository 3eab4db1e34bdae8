//! What the held connections say, put together: when and how the server closes idle
//! connections, between which idle times the path drops a flow silently, whether keepalive
//! kept a connection, what to configure, and the verdict sentence.

use std::fmt::Write as _;
use std::time::Duration;

use keepalive_connector::{Keepalive, TcpStats};

use super::held::{Held, Outcome};
use super::watch::CloseKind;

/// The conclusions.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Findings {
    /// When the server closed an idle connection (the watch's, else the earliest a held
    /// connection saw), and how.
    pub(crate) server_close: Option<(Duration, CloseKind)>,
    /// `Keep-Alive: timeout=` of the first response.
    pub(crate) announced: Option<Duration>,
    /// The server answered `Connection: close`: no connection outlives a response.
    pub(crate) closes_every_response: bool,
    /// The longest idle time that worked and the shortest the path dropped without a word.
    pub(crate) silent_drop: Option<(Duration, Duration)>,
    /// A longer idle time worked after a shorter one was dropped.
    pub(crate) drop_inconsistent: bool,
    /// The drop was judged without the kernel's word (this OS cannot report
    /// acknowledgements): unanswered only.
    pub(crate) drop_unconfirmed: bool,
    /// Some rungs could not be judged: the server closed them first.
    pub(crate) hidden_by_server_close: bool,
    /// Whether the keepalive connection lived until MAX (or until the server's own close).
    pub(crate) keepalive_survived: bool,
    /// How long the keepalive connection was shown alive.
    pub(crate) keepalive_alive_for: Option<Duration>,
    pub(crate) recommended_keepalive_idle: Option<Duration>,
    pub(crate) recommended_pool_idle_timeout: Option<Duration>,
    /// No connection could be made at all.
    pub(crate) unreachable: bool,
    /// The verdict sentence.
    pub(crate) text: String,
}

/// Everything the run held, and what it was asked.
#[derive(Debug, Clone)]
pub(crate) struct Run<'a> {
    pub(crate) rungs: &'a [Held],
    pub(crate) watch: &'a Held,
    pub(crate) keepalive: &'a Held,
    pub(crate) max: Duration,
    pub(crate) asked: Keepalive,
    pub(crate) interrupted: bool,
}

/// Two close events this near are the same close (the server's timer fires for each
/// connection at its own moment, but not seconds apart).
const SAME_CLOSE: Duration = Duration::from_secs(2);

pub(crate) fn findings(run: &Run<'_>) -> Findings {
    let all = || {
        std::iter::once(run.watch)
            .chain(run.rungs)
            .chain(std::iter::once(run.keepalive))
    };
    let unreachable = all().all(|h| h.first.is_none());
    let first = all().find_map(|h| h.first.as_ref());
    let announced = first.and_then(|f| f.announced);
    let closes_every_response = first.is_some_and(|f| f.connection_close);
    // Ended by the other side: a FIN, RST or GOAWAY (this kernel giving up is not a close).
    let closed = |h: &Held| match h.outcome {
        Outcome::Closed { after, how } if how != CloseKind::TimedOut => Some((after, how)),
        _ => None,
    };
    let server_close =
        closed(run.watch).or_else(|| all().filter_map(closed).min_by(|a, b| a.0.cmp(&b.0)));

    // The ladder, shortest first: what worked, what was dropped.
    let mut rungs: Vec<&Held> = run.rungs.iter().collect();
    rungs.sort_by_key(|h| h.role.idle());
    let dropped = |h: &Held| match h.outcome {
        Outcome::Unanswered {
            acked: Some(false), ..
        } => true,
        // Where the OS cannot say, an unanswered request after a shorter idle worked is
        // taken for a drop, and said to be unconfirmed.
        Outcome::Unanswered { acked: None, .. } => !TcpStats::supported(),
        _ => false,
    };
    let worked = |h: &Held| matches!(h.outcome, Outcome::Answered { .. });
    let first_drop = rungs.iter().position(|h| dropped(h));
    let silent_drop = first_drop.map(|i| {
        let survived = rungs[..i]
            .iter()
            .rev()
            .find(|h| worked(h))
            .map_or(Duration::ZERO, |h| h.role.idle());
        (survived, rungs[i].role.idle())
    });
    let drop_inconsistent = first_drop.is_some_and(|i| rungs[i..].iter().any(|h| worked(h)));
    let drop_unconfirmed = first_drop
        .is_some_and(|i| matches!(rungs[i].outcome, Outcome::Unanswered { acked: None, .. }));
    let hidden_by_server_close = silent_drop.is_none() && rungs.iter().any(|h| closed(h).is_some());

    // The keepalive connection: alive for MAX, or until the server's own close.
    let (keepalive_survived, keepalive_alive_for) = match run.keepalive.outcome {
        Outcome::Answered { .. } => (true, Some(run.max)),
        Outcome::Closed { after, how } => {
            let servers = server_close
                .is_some_and(|(at, kind)| kind == how && at.abs_diff(after) <= SAME_CLOSE);
            (servers, Some(after))
        }
        _ => (false, None),
    };

    let recommended_keepalive_idle = silent_drop.map(|(survived, dropped)| {
        // The flow is kept at least `survived`; keepalive must speak well before that. Where
        // even the shortest idle was dropped, half the drop's idle time bounds it instead.
        let bound = if survived.is_zero() {
            dropped / 2
        } else {
            survived
        };
        Duration::from_secs((bound.as_secs() * 2 / 3).max(1))
    });
    // Below the server's close (a fifth to spare, at least a second), and below the path's
    // limit unless keepalive is what keeps flows alive there.
    let mut pool_bounds: Vec<Duration> = server_close.iter().map(|(at, _)| *at).collect();
    if !keepalive_survived {
        pool_bounds.extend(silent_drop.map(|(s, _)| s).filter(|s| !s.is_zero()));
    }
    let recommended_pool_idle_timeout = pool_bounds.into_iter().min().and_then(|bound| {
        // To the tenth of a second reported: a timer of 5 s fires at 4.998 s as often as at
        // 5.002 s, and the advice should not depend on which.
        let secs = (bound.as_secs_f64() * 10.0).round() / 10.0;
        let pool = (secs * 0.8).min(secs - 1.0).floor();
        (pool >= 1.0).then(|| Duration::from_secs(pool as u64))
    });

    let mut f = Findings {
        server_close,
        announced,
        closes_every_response,
        silent_drop,
        drop_inconsistent,
        drop_unconfirmed,
        hidden_by_server_close,
        keepalive_survived: keepalive_survived && !run.interrupted,
        keepalive_alive_for,
        recommended_keepalive_idle,
        recommended_pool_idle_timeout,
        unreachable,
        text: String::new(),
    };
    f.text = sentence(&f, run);
    f
}

/// `5.0 s`.
pub(crate) fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// `8 s` for whole seconds, else `2.5 s`.
pub(crate) fn whole(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{} s", d.as_secs())
    } else {
        secs(d)
    }
}

fn sentence(f: &Findings, run: &Run<'_>) -> String {
    let max = whole(run.max);
    if f.unreachable {
        let why = match &run.watch.outcome {
            Outcome::NotReached(failure) => failure.cause.clone(),
            _ => "no connection".to_owned(),
        };
        return format!(
            "no connection could be made ({why}): nothing to hold idle — probe without --idle \
             to see which phase fails"
        );
    }
    let mut parts: Vec<String> = Vec::new();
    let announced = f
        .announced
        .map(|a| format!("announced: timeout={}", a.as_secs()));
    if f.closes_every_response {
        parts.push(
            "the server closes the connection after every response (Connection: close): \
             nothing stays idle to keep"
                .to_owned(),
        );
    } else {
        match (f.server_close, &announced) {
            (Some((at, kind)), a) => parts.push(format!(
                "the server closes idle connections after {}{} ({})",
                secs(at),
                match kind {
                    CloseKind::Fin => String::new(),
                    other => format!(" with {}", other.name()),
                },
                a.clone().unwrap_or_else(|| "not announced".to_owned())
            )),
            (None, Some(a)) => parts.push(format!(
                "the server did not close an idle connection within {max} ({a})"
            )),
            (None, None) => {}
        }
    }
    match f.silent_drop {
        Some((survived, dropped)) => {
            let mut line = format!(
                "between {} and {} idle, this path drops a flow without a word",
                whole(survived),
                whole(dropped)
            );
            if f.drop_unconfirmed {
                line.push_str(" (unanswered; this OS cannot tell whether it was acknowledged)");
            }
            parts.push(line);
        }
        None if f.hidden_by_server_close => parts.push(format!(
            "the path could not be measured past the server's close{}",
            f.server_close
                .map(|(at, _)| format!(" at {}", secs(at)))
                .unwrap_or_default()
        )),
        None if f.server_close.is_none() && !f.closes_every_response => {
            parts.push(format!("nothing closed an idle connection within {max}"))
        }
        None => parts.push(format!("the path dropped no idle flow within {max}")),
    }
    let ka = format!(
        "keepalive (idle {}, every {})",
        whole(run.asked.idle_duration()),
        whole(run.asked.interval_duration())
    );
    let keepalive = match (&run.keepalive.outcome, f.keepalive_survived) {
        (Outcome::Answered { .. }, _) if !run.interrupted => {
            format!("{ka} kept a connection alive for {max}")
        }
        (Outcome::Closed { after, .. }, true) => format!(
            "{ka} kept a connection alive until the server closed it at {}",
            secs(*after)
        ),
        (Outcome::Interrupted { after }, _) => {
            format!(
                "interrupted after {}: keepalive not shown to last {max}",
                secs(*after)
            )
        }
        (Outcome::NotReached(failure), _) => {
            format!(
                "the connection with keepalive could not be made ({})",
                failure.cause
            )
        }
        (Outcome::Unanswered { .. }, _) | (Outcome::ClosedOnUse { .. }, _) => {
            let mut line = format!("{ka} did not keep a connection alive for {max}");
            if let Some((survived, _)) = f.silent_drop {
                if run.asked.idle_duration() > survived {
                    line.push_str(": it starts later than the path forgets");
                }
            }
            line
        }
        (
            Outcome::Closed {
                after,
                how: CloseKind::TimedOut,
            },
            _,
        ) => format!(
            "{ka} did not keep a connection alive for {max}: its probes went unanswered and \
             the kernel gave up after {}",
            secs(*after)
        ),
        (Outcome::Closed { after, how }, false) => format!(
            "the connection with keepalive was ended ({}) after {}",
            how.name(),
            secs(*after)
        ),
        (other, _) => format!("{ka}: {other:?}"),
    };
    parts.push(keepalive);
    let mut text = parts.join("; ");
    let mut advice: Vec<String> = Vec::new();
    if let Some(idle) = f.recommended_keepalive_idle {
        advice.push(format!(
            "keepalive idle {} or less (interval as short)",
            whole(idle)
        ));
    }
    if let Some(pool) = f.recommended_pool_idle_timeout {
        advice.push(format!("pool idle timeout {} or less", whole(pool)));
    }
    if !advice.is_empty() {
        let _ = write!(text, " — set {}", advice.join(", "));
    }
    text
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::super::held::{First, Role};
    use super::*;

    fn first(announced: Option<u64>) -> First {
        First {
            status: 200,
            version: "HTTP/1.1",
            remote: SocketAddr::from(([127, 0, 0, 1], 80)),
            announced: announced.map(Duration::from_secs),
            keep_alive_header: None,
            connection_close: false,
        }
    }

    fn held(role: Role, outcome: Outcome) -> Held {
        Held {
            role,
            keepalive: None,
            first: Some(first(None)),
            outcome,
        }
    }

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn ladder(worked_up_to: u64) -> Vec<Held> {
        [1, 2, 3, 4, 6, 8, 10, 12]
            .into_iter()
            .map(|d| {
                let outcome = if d <= worked_up_to {
                    Outcome::Answered { status: 200 }
                } else {
                    Outcome::Unanswered {
                        waited: s(2),
                        acked: Some(false),
                        retransmits: Some(3),
                    }
                };
                held(Role::Rung(s(d)), outcome)
            })
            .collect()
    }

    fn asked(idle: u64, interval: u64) -> Keepalive {
        Keepalive::new().idle(s(idle)).interval(s(interval))
    }

    #[test]
    fn a_nat_drop_between_rungs_and_keepalive_that_saves_it() {
        let rungs = ladder(6);
        let watch = held(Role::Watch(s(12)), Outcome::Open);
        let ka = held(Role::Keepalive(s(12)), Outcome::Answered { status: 200 });
        let run = Run {
            rungs: &rungs,
            watch: &watch,
            keepalive: &ka,
            max: s(12),
            asked: asked(3, 3),
            interrupted: false,
        };
        let f = findings(&run);
        assert_eq!(f.silent_drop, Some((s(6), s(8))));
        assert!(f.keepalive_survived);
        assert_eq!(f.server_close, None);
        assert_eq!(f.recommended_keepalive_idle, Some(s(4)));
        assert_eq!(f.recommended_pool_idle_timeout, None);
        assert_eq!(
            f.text,
            "between 6 s and 8 s idle, this path drops a flow without a word; keepalive (idle \
             3 s, every 3 s) kept a connection alive for 12 s — set keepalive idle 4 s or less \
             (interval as short)"
        );
    }

    #[test]
    fn keepalive_that_starts_too_late_does_not() {
        let rungs = ladder(6);
        let watch = held(Role::Watch(s(12)), Outcome::Open);
        let unanswered = Outcome::Unanswered {
            waited: s(2),
            acked: Some(false),
            retransmits: Some(3),
        };
        let ka = held(Role::Keepalive(s(12)), unanswered);
        let run = Run {
            rungs: &rungs,
            watch: &watch,
            keepalive: &ka,
            max: s(12),
            asked: asked(30, 10),
            interrupted: false,
        };
        let f = findings(&run);
        assert!(!f.keepalive_survived);
        assert_eq!(f.recommended_pool_idle_timeout, Some(s(4)));
        assert!(
            f.text.contains(
                "keepalive (idle 30 s, every 10 s) did not keep a connection alive for 12 s: \
                 it starts later than the path forgets"
            ),
            "{}",
            f.text
        );
    }

    #[test]
    fn a_server_close_hides_the_path_and_sets_the_pool_timeout() {
        let closed = Outcome::Closed {
            after: Duration::from_millis(5004),
            how: CloseKind::Fin,
        };
        let rungs: Vec<Held> = [1, 2, 3, 4, 6, 8]
            .into_iter()
            .map(|d| {
                let outcome = if d < 5 {
                    Outcome::Answered { status: 200 }
                } else {
                    closed.clone()
                };
                held(Role::Rung(s(d)), outcome)
            })
            .collect();
        let mut watch = held(Role::Watch(s(8)), closed.clone());
        watch.first = Some(first(Some(5)));
        let ka = held(Role::Keepalive(s(8)), closed);
        let run = Run {
            rungs: &rungs,
            watch: &watch,
            keepalive: &ka,
            max: s(8),
            asked: asked(30, 10),
            interrupted: false,
        };
        let f = findings(&run);
        assert_eq!(f.server_close.map(|c| c.1), Some(CloseKind::Fin));
        assert_eq!(f.announced, Some(s(5)));
        assert!(f.keepalive_survived, "the server's own close is not a drop");
        assert_eq!(f.recommended_pool_idle_timeout, Some(s(4)));
        assert_eq!(f.recommended_keepalive_idle, None);
        assert!(
            f.text.starts_with(
                "the server closes idle connections after 5.0 s (announced: timeout=5); the \
                 path could not be measured past the server's close at 5.0 s"
            ),
            "{}",
            f.text
        );
    }

    #[test]
    fn nothing_closing_is_said_honestly() {
        let rungs = ladder(12);
        let watch = held(Role::Watch(s(12)), Outcome::Open);
        let ka = held(Role::Keepalive(s(12)), Outcome::Answered { status: 200 });
        let run = Run {
            rungs: &rungs,
            watch: &watch,
            keepalive: &ka,
            max: s(12),
            asked: asked(30, 10),
            interrupted: false,
        };
        let f = findings(&run);
        assert_eq!(f.silent_drop, None);
        assert!(
            f.text
                .starts_with("nothing closed an idle connection within 12 s"),
            "{}",
            f.text
        );
    }
}
