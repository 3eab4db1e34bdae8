//! What one connection attempt did: [`Attempt`] and its [`AttemptOutcome`], reported in
//! [`ConnectInfo::attempts`](crate::ConnectInfo::attempts) and
//! [`ConnectError::attempts`](crate::ConnectError::attempts); the `Tally` of a dial's attempts,
//! and how they `Ended` when none connected (the race's and the sequential dial's alike).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::ConnectError;

/// One address the dial layer tried: when the attempt started, how long it ran and how it
/// ended.
///
/// ```
/// # fn show(info: &keepalive_connector::ConnectInfo) {
/// for a in info.attempts() {
///     // "[2001:db8::1]:443 started at 0ns, cancelled after 250.4ms"
///     // "192.0.2.1:443 started at 250.1ms, connected after 1.2ms"
///     println!("{a}");
/// }
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Attempt {
    pub(crate) addr: SocketAddr,
    pub(crate) started: Duration,
    pub(crate) duration: Duration,
    pub(crate) outcome: AttemptOutcome,
}

/// How a connection [`Attempt`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AttemptOutcome {
    /// The TCP handshake completed: this attempt won.
    Connected,
    /// The peer answered with a RST (`ECONNREFUSED`).
    Refused,
    /// The connect timeout (or, without racing, this attempt's share of it) ran out, or the
    /// kernel gave up retrying SYNs (`ETIMEDOUT`).
    TimedOut,
    /// Still under way when another attempt connected: its socket was closed at once.
    Cancelled,
    /// Any other failure: unreachable network or host, a socket option or the socket hook
    /// failing at [`Stage::BeforeConnect`](crate::Stage::BeforeConnect), binding the local
    /// address. The kind of the I/O error.
    Error(io::ErrorKind),
}

impl Attempt {
    /// The address tried.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// When the attempt started, counted from the start of dialing (name resolution
    /// included).
    pub fn started(&self) -> Duration {
        self.started
    }

    /// How long the attempt ran until it connected, failed, timed out or was cancelled.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// How it ended.
    pub fn outcome(&self) -> AttemptOutcome {
        self.outcome
    }
}

impl fmt::Display for AttemptOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptOutcome::Connected => f.write_str("connected"),
            AttemptOutcome::Refused => f.write_str("refused"),
            AttemptOutcome::TimedOut => f.write_str("timed out"),
            AttemptOutcome::Cancelled => f.write_str("cancelled"),
            AttemptOutcome::Error(kind) => write!(f, "failed ({kind})"),
        }
    }
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} started at {:?}, {} after {:?}",
            self.addr, self.started, self.outcome, self.duration
        )
    }
}

impl AttemptOutcome {
    /// How a failed attempt's error reads as an outcome.
    pub(crate) fn of(err: &ConnectError) -> AttemptOutcome {
        if err.is_timeout() {
            return AttemptOutcome::TimedOut;
        }
        match crate::error::io_error_kind(err) {
            Some(io::ErrorKind::ConnectionRefused) => AttemptOutcome::Refused,
            Some(io::ErrorKind::TimedOut) => AttemptOutcome::TimedOut,
            Some(kind) => AttemptOutcome::Error(kind),
            None => AttemptOutcome::Error(io::ErrorKind::Other),
        }
    }
}

/// The attempts of one dial as they happen, and the error they add up to when none connects.
#[derive(Debug)]
pub(crate) struct Tally {
    start: Instant,
    attempts: Vec<Attempt>,
    /// Failed attempts' errors, by attempt index.
    failures: Vec<(usize, ConnectError)>,
    /// When the first attempt started: the end of name resolution.
    first_start: Option<Instant>,
}

impl Tally {
    /// Counting from `start`, the start of dialing.
    pub(crate) fn new(start: Instant) -> Tally {
        Tally {
            start,
            attempts: Vec::new(),
            failures: Vec::new(),
            first_start: None,
        }
    }

    /// Records that an attempt to `addr` starts now; returns its index and start time. Until
    /// it ends it counts as cancelled.
    pub(crate) fn begin(&mut self, addr: SocketAddr) -> (usize, Instant) {
        self.begin_at(addr, Instant::now())
    }

    /// [`begin`](Tally::begin) with the time already read (a clock read is a measurable part
    /// of a loopback connect).
    pub(crate) fn begin_at(&mut self, addr: SocketAddr, now: Instant) -> (usize, Instant) {
        self.first_start.get_or_insert(now);
        self.attempts.push(Attempt {
            addr,
            started: now - self.start,
            duration: Duration::ZERO,
            outcome: AttemptOutcome::Cancelled,
        });
        (self.attempts.len() - 1, now)
    }

    /// Records how attempt `index`, started at `started`, ended (`None`: connected).
    pub(crate) fn end(&mut self, index: usize, started: Instant, failure: Option<ConnectError>) {
        let attempt = &mut self.attempts[index];
        attempt.duration = started.elapsed();
        attempt.outcome = match &failure {
            None => AttemptOutcome::Connected,
            Some(err) => AttemptOutcome::of(err),
        };
        if let Some(err) = failure {
            self.failures.push((index, err));
        }
    }

    /// Attempt `index` was still under way when another won.
    pub(crate) fn cancelled(&mut self, index: usize, started: Instant) {
        self.attempts[index].duration = started.elapsed();
    }

    /// Whether any attempt started.
    pub(crate) fn is_empty(&self) -> bool {
        self.attempts.is_empty()
    }

    /// When the winning attempt connected, if one did: its start plus its duration, so the
    /// dial's timings need no clock read of their own.
    pub(crate) fn connected_at(&self) -> Option<Instant> {
        self.attempts
            .iter()
            .find(|a| a.outcome == AttemptOutcome::Connected)
            .map(|a| self.start + a.started + a.duration)
    }

    /// When the first attempt started.
    pub(crate) fn first_start(&self) -> Option<Instant> {
        self.first_start
    }

    /// The attempts, in the order they started.
    pub(crate) fn into_attempts(self) -> Vec<Attempt> {
        self.attempts
    }

    /// Whether every address in `addrs` was tried and failed.
    pub(crate) fn all_failed(&self, addrs: &[SocketAddr]) -> bool {
        addrs.iter().all(|a| {
            self.attempts
                .iter()
                .any(|t| t.addr == *a && t.outcome != AttemptOutcome::Connected)
        })
    }

    /// The error of a dial in which no attempt connected: the last attempt's error (phase,
    /// address, cause), with the first attempt's error and the list of attempts attached.
    /// `timeout` is the connect timeout when it is what ended the dial.
    pub(crate) fn into_error(mut self, host: &str, timeout: Option<Duration>) -> ConnectError {
        self.failures.sort_by_key(|(i, _)| *i);
        let mut failures = self.failures.into_iter().map(|(_, e)| e.with_host(host));
        let first = failures.next();
        let last = failures.last();
        let (first, last) = match (first, last) {
            (Some(first), Some(last)) => (Some(first), last),
            (Some(only), None) => (None, only),
            // Every attempt was cut short by the deadline before it could fail on its own.
            (None, _) => (
                None,
                ConnectError::new(crate::error::Phase::Connect).with_host(host),
            ),
        };
        let err = last.with_attempts(self.attempts, first);
        match timeout {
            Some(after) => err.timed_out(after),
            None => err,
        }
    }
}

/// Why a dial ended without a connection.
#[derive(Debug)]
pub(crate) enum Ended {
    /// There was nothing to try: the lookup failed, found nothing, found nothing of the local
    /// address's family, or the deadline passed before it answered.
    NoAddress(ConnectError),
    /// Every attempt failed; `true` when the deadline cut the last ones short.
    Failed { timed_out: bool },
}
