//! `--idle [MAX]`: how long this endpoint, and the path to it, keep an idle connection.
//!
//! Every connection is made at once and held in parallel, so a run takes about MAX:
//! - a **watch**, with keepalive every 2 s (so no middlebox forgets it), idle until the server
//!   ends it: when, and how (FIN, RST, HTTP/2 GOAWAY), next to what the first response
//!   announced (`Keep-Alive: timeout=`);
//! - a **ladder** of connections without keepalive, idle 1 s … MAX, each then used: a request
//!   unanswered and unacknowledged (the kernel's word, [`TcpStats`](keepalive_connector::TcpStats))
//!   where a shorter idle worked means a middlebox forgot the flow;
//! - one with the **keepalive asked for**, idle MAX, then used: does keepalive save it?
//!
//! The findings and the advice are in [`verdict`]; Ctrl-C stops the wait and reports what was
//! learned so far.

mod countdown;
mod held;
pub(crate) mod ladder;
mod render;
mod verdict;
mod watch;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use keepalive_connector::{Connector, Keepalive, Stage};
use tokio::sync::watch as signal;

pub(crate) use render::{render_json, render_text};

use crate::error::{Exit, ProbeError};
use crate::probe::RequestSpec;
use held::{Held, Live, Outcome, Role};
use verdict::Findings;

/// The watch's keepalive: idle and interval 2 s, well under any NAT's timeout seen in the
/// wild (the shortest are around 30 s), so only the server can end it.
const WATCH_KEEPALIVE: Duration = Duration::from_secs(2);

/// What `--idle` measures and how.
#[derive(Debug)]
pub(crate) struct IdlePlan {
    pub(crate) spec: RequestSpec,
    /// The URL as printed (user info redacted).
    pub(crate) shown_url: String,
    pub(crate) max: Duration,
    /// The keepalive values of the keepalive connection.
    pub(crate) asked: Keepalive,
    /// Where the keepalive connection gets them.
    pub(crate) stage: Stage,
    /// The route, in words (`direct`, `via proxy http://proxy:3128`).
    pub(crate) route: String,
    /// `IPv4 only`, `IPv6 only`, or `both`.
    pub(crate) family: &'static str,
    /// Draw the countdown on stderr.
    pub(crate) progress: bool,
}

/// Which keepalive a connection of the run gets: none, or these values at this stage.
pub(crate) type KeepaliveChoice = Option<(Keepalive, Stage)>;

/// Everything `--idle` learned.
#[derive(Debug)]
pub(crate) struct IdleReport {
    pub(crate) url: String,
    pub(crate) method: String,
    pub(crate) route: String,
    pub(crate) family: &'static str,
    pub(crate) max: Duration,
    pub(crate) asked: Keepalive,
    pub(crate) stage: Stage,
    pub(crate) watch: Held,
    pub(crate) keepalive: Held,
    /// Shortest idle first.
    pub(crate) rungs: Vec<Held>,
    pub(crate) interrupted: bool,
    pub(crate) findings: Findings,
}

impl IdleReport {
    /// 0 when keepalive as configured kept a connection alive past the path's limit (or MAX),
    /// else 1.
    pub(crate) fn exit(&self) -> Exit {
        if self.findings.keepalive_survived && !self.interrupted {
            Exit::Ok
        } else {
            Exit::Failed
        }
    }
}

/// Holds the run's connections, each from a fresh connector made by `make`.
pub(crate) async fn run(
    plan: &IdlePlan,
    make: impl Fn(KeepaliveChoice) -> Result<Connector, ProbeError>,
) -> Result<IdleReport, ProbeError> {
    let watch_keepalive = Keepalive::new()
        .idle(WATCH_KEEPALIVE)
        .interval(WATCH_KEEPALIVE);
    let mut roles = vec![Role::Watch(plan.max), Role::Keepalive(plan.max)];
    roles.extend(ladder::rungs(plan.max).into_iter().map(Role::Rung));
    let mut connectors = Vec::with_capacity(roles.len());
    for role in &roles {
        connectors.push(match role {
            Role::Rung(_) => make(None)?,
            Role::Keepalive(_) => make(Some((plan.asked, plan.stage)))?,
            // An OS that takes no per-socket idle time (OpenBSD) refuses 2 s: its own applies.
            Role::Watch(_) => make(Some((watch_keepalive, Stage::AfterHandshake)))
                .or_else(|_| make(Some((Keepalive::new(), Stage::AfterHandshake))))?,
        });
    }
    let (cancel, cancelled) = signal::channel(false);
    let lives: Vec<Arc<Mutex<Live>>> = roles
        .iter()
        .map(|_| Arc::new(Mutex::new(Live::Connecting)))
        .collect();
    let mut tasks = Vec::new();
    for ((role, connector), live) in roles.iter().zip(connectors).zip(&lives) {
        tasks.push(tokio::spawn(held::hold(
            connector,
            plan.spec.clone(),
            *role,
            Arc::clone(live),
            cancelled.clone(),
        )));
    }
    let mut countdown = countdown::Countdown::new(plan.progress, &roles, lives);
    let mut interrupted = false;
    let all = join(&roles, tasks);
    tokio::pin!(all);
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let results = loop {
        tokio::select! {
            results = &mut all => break results,
            _ = tokio::signal::ctrl_c(), if !interrupted => {
                interrupted = true;
                let _ = cancel.send(true);
            }
            _ = tick.tick() => countdown.draw(),
        }
    };
    countdown.finish();
    let mut held: Vec<Held> = results;
    let rungs = held.split_off(2);
    let keepalive = held.pop().expect("the keepalive connection");
    let watch = held.pop().expect("the watch");
    let findings = verdict::findings(&verdict::Run {
        rungs: &rungs,
        watch: &watch,
        keepalive: &keepalive,
        max: plan.max,
        asked: plan.asked,
        interrupted,
    });
    Ok(IdleReport {
        url: plan.shown_url.clone(),
        method: plan.spec.method.to_string(),
        route: plan.route.clone(),
        family: plan.family,
        max: plan.max,
        asked: plan.asked,
        stage: plan.stage,
        watch,
        keepalive,
        rungs,
        interrupted,
        findings,
    })
}

/// Awaits every task in order. A task that panicked (a bug) is reported as failed rather
/// than taking the report down.
async fn join(roles: &[Role], tasks: Vec<tokio::task::JoinHandle<Held>>) -> Vec<Held> {
    let mut out = Vec::with_capacity(tasks.len());
    for (role, task) in roles.iter().zip(tasks) {
        out.push(match task.await {
            Ok(held) => held,
            Err(err) => Held {
                role: *role,
                keepalive: None,
                first: None,
                outcome: Outcome::Failed(format!("the task failed: {err}")),
            },
        });
    }
    out
}
