//! What a pooled connection and the [`Client`](crate::Client) that uses it tell each other.
//!
//! hyper-util's pool decides which connection a request goes to; only the client sees requests
//! begin and responses end, and only the connection ([`Conn`](crate::Conn)) sees its bytes and
//! its socket. This shared record joins the two views:
//!
//! - the client counts what is **active** on the connection (requests sent, response bodies
//!   open) and the responses it **answered**, and passes on the server's `Keep-Alive: timeout=`;
//! - the connection, from those, **retires** itself when it has been idle for the pool's idle
//!   timeout or the server's announced one (closing from below, as a server would, so hyper-util
//!   drops it), and records what the client needs to judge a failure: whether it retired with
//!   nothing sent, whether its silent-drop guard fired, how many response bytes arrived, and
//!   the GOAWAY it received.
//!
//! It exists only for connections made for a [`Client`](crate::Client): a [`Conn`](crate::Conn)
//! from [`Connector::connect`](crate::Connector::connect) or a hyper-util `Client` of your own
//! carries none, and behaves exactly as before.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use atomic_waker::AtomicWaker;
use tokio::time::Instant;

/// How a managed connection behaves: set once, by the client, when the connection is made.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Management {
    /// The pool's idle timeout: an idle connection retires after it. `None`: never.
    pub(crate) idle_timeout: Option<Duration>,
    /// How long a write after a quiet spell may go unacknowledged before the connection is
    /// declared silently dropped (`TCP_USER_TIMEOUT` while the write is outstanding). `None`:
    /// no guard (the OS has no such option, or the user turned it off).
    pub(crate) silent_drop_bound: Option<Duration>,
}

/// `keep_alive_hint` when the server announced nothing.
const NO_HINT: u32 = u32::MAX;
/// `goaway_last_stream` before any GOAWAY (stream ids are 31 bits).
const NO_GOAWAY: u32 = u32::MAX;

/// Flags the connection raises for the client.
pub(crate) mod flag {
    /// The connection closed itself while idle, with nothing written since it became idle: a
    /// request that failed on it was never sent.
    pub(crate) const RETIRED: u8 = 1;
    /// The silent-drop guard fired: written bytes went unacknowledged past the bound.
    pub(crate) const SILENT_DROP: u8 = 1 << 1;
    /// An HTTP/2 GOAWAY arrived.
    pub(crate) const GOAWAY: u8 = 1 << 2;
    /// That GOAWAY was `ENHANCE_YOUR_CALM` with debug data `too_many_pings` (gRPC's answer to a
    /// client that pings more often than the server allows).
    pub(crate) const TOO_MANY_PINGS: u8 = 1 << 3;
}

/// Uses of a connection: requests sent and response bodies open.
#[derive(Debug)]
struct Usage {
    active: usize,
    /// When `active` last dropped to zero (or the connection was made); `None` while above.
    idle_since: Option<Instant>,
}

/// The record one connection shares with the client; see the module docs.
#[derive(Debug)]
pub(crate) struct ConnState {
    pub(crate) h2: bool,
    pub(crate) management: Management,
    /// When the connection was made.
    epoch: Instant,
    /// What is active on the connection, and since when it is idle: one lock, so that a use
    /// beginning as another ends never leaves the connection idle with a request on it (two
    /// atomics could: the count dropped to zero, the next use counted and marked in use, then
    /// the first wrote its idle time over that mark).
    usage: Mutex<Usage>,
    /// Responses received on this connection (heads).
    answered: AtomicU64,
    /// Seconds of the last `Keep-Alive: timeout=` the server announced; [`NO_HINT`] if none.
    keep_alive_hint: AtomicU32,
    /// HTTP/1.1: bytes of response received for the current request (reset when the next
    /// request starts: see `Managed::before_write`).
    response_bytes: AtomicU64,
    flags: AtomicU8,
    /// The last stream id of the last HTTP/2 GOAWAY received; [`NO_GOAWAY`] if none.
    goaway_last_stream: AtomicU32,
    /// The connection's read task, woken when the connection becomes idle so that it arms its
    /// idle timer.
    waker: AtomicWaker,
}

impl ConnState {
    pub(crate) fn new(h2: bool, management: Management) -> Self {
        let epoch = Instant::now();
        ConnState {
            h2,
            management,
            epoch,
            // A new connection is idle until its first request: a connection nobody used
            // retires after the idle timeout as well.
            usage: Mutex::new(Usage {
                active: 0,
                idle_since: Some(epoch),
            }),
            answered: AtomicU64::new(0),
            keep_alive_hint: AtomicU32::new(NO_HINT),
            response_bytes: AtomicU64::new(0),
            flags: AtomicU8::new(0),
            goaway_last_stream: AtomicU32::new(NO_GOAWAY),
            waker: AtomicWaker::new(),
        }
    }

    // ---- the client's side ----

    /// A request goes out on this connection; the returned [`Active`] ends its use (when the
    /// request fails, or its response body ends or is dropped).
    pub(crate) fn begin(self: &std::sync::Arc<Self>) -> Active {
        let mut usage = self.usage();
        usage.active += 1;
        usage.idle_since = None;
        drop(usage);
        Active(std::sync::Arc::clone(self))
    }

    /// When the connection was made (when the client took it over from the connector).
    pub(crate) fn created(&self) -> Instant {
        self.epoch
    }

    /// The number of responses this connection had received.
    pub(crate) fn answered(&self) -> u64 {
        self.answered.load(Ordering::Acquire)
    }

    /// A response head arrived; `keep_alive` is the server's `Keep-Alive: timeout=` (HTTP/1.1),
    /// which replaces any earlier one.
    pub(crate) fn record_answer(&self, keep_alive: Option<u32>) {
        self.answered.fetch_add(1, Ordering::AcqRel);
        self.keep_alive_hint
            .store(keep_alive.unwrap_or(NO_HINT), Ordering::Release);
    }

    /// Whether the connection raised `flag` (see [`flag`]).
    pub(crate) fn has(&self, flag: u8) -> bool {
        self.flags.load(Ordering::Acquire) & flag != 0
    }

    /// Whether the server processed anything on this connection: it answered a request, or
    /// its GOAWAY named a stream it may have processed. A server that refuses requests on a
    /// connection that made progress is asking for them to go elsewhere, not failing.
    pub(crate) fn made_progress(&self) -> bool {
        self.answered() > 0
            || !matches!(
                self.goaway_last_stream.load(Ordering::Acquire),
                0 | NO_GOAWAY
            )
    }

    /// HTTP/1.1: response bytes received since the current request began to be written.
    pub(crate) fn response_bytes(&self) -> u64 {
        self.response_bytes.load(Ordering::Acquire)
    }

    fn end(&self) {
        let mut usage = self.usage();
        usage.active = usage.active.saturating_sub(1);
        if usage.active == 0 {
            usage.idle_since = Some(Instant::now());
            drop(usage);
            self.waker.wake();
        }
    }

    // ---- the connection's side ----

    /// When the connection became idle, if it is.
    pub(crate) fn idle_since(&self) -> Option<Instant> {
        self.usage().idle_since
    }

    /// When an idle connection (idle since `since`) retires: after the pool's idle timeout, or
    /// [`KEEP_ALIVE_MARGIN`] before the server's announced timeout runs out, whichever is first.
    /// `None`: never.
    pub(crate) fn retire_at(&self, since: Instant) -> Option<Instant> {
        let pool = self
            .management
            .idle_timeout
            .and_then(|t| since.checked_add(t));
        let server = match self.keep_alive_hint.load(Ordering::Acquire) {
            NO_HINT => None,
            secs => {
                Some(since + Duration::from_secs(u64::from(secs)).saturating_sub(KEEP_ALIVE_MARGIN))
            }
        };
        match (pool, server) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Registers the read task to wake when the connection becomes idle.
    pub(crate) fn register(&self, waker: &std::task::Waker) {
        self.waker.register(waker);
    }

    /// An HTTP/2 GOAWAY arrived naming `last_stream_id`.
    pub(crate) fn record_goaway(&self, last_stream_id: u32) {
        self.goaway_last_stream
            .store(last_stream_id & 0x7fff_ffff, Ordering::Release);
        self.raise(flag::GOAWAY);
    }

    pub(crate) fn raise(&self, flag: u8) {
        self.flags.fetch_or(flag, Ordering::AcqRel);
    }

    /// HTTP/1.1: a new request's first byte is being written.
    pub(crate) fn request_started(&self) {
        self.response_bytes.store(0, Ordering::Release);
    }

    pub(crate) fn add_response_bytes(&self, n: usize) {
        self.response_bytes.fetch_add(n as u64, Ordering::AcqRel);
    }

    fn usage(&self) -> MutexGuard<'_, Usage> {
        // Two integers, consistent after any panic: keep going.
        self.usage.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How long before the server's announced `Keep-Alive: timeout=` runs out a connection stops
/// being reused: the time a request needs to reach the server, plus the server's own timer
/// slack. undici subtracts 1–2 s (`keepAliveTimeoutThreshold`); 1 s covers any round trip under
/// a second. An announced timeout of 1 s or less means the connection is never reused.
pub(crate) const KEEP_ALIVE_MARGIN: Duration = Duration::from_secs(1);

/// One use of a connection (a request in flight, then its response body); ends on drop.
#[derive(Debug)]
pub(crate) struct Active(std::sync::Arc<ConnState>);

impl Active {
    pub(crate) fn state(&self) -> &std::sync::Arc<ConnState> {
        &self.0
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// The handle a managed connection attaches to hyper-util's `Connected`, so that the client
/// finds the connection's record from a response or from a failed request.
#[derive(Debug, Clone)]
pub(crate) struct ConnHandle(pub(crate) std::sync::Arc<ConnState>);

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn managed(idle: Option<Duration>) -> Arc<ConnState> {
        Arc::new(ConnState::new(
            false,
            Management {
                idle_timeout: idle,
                silent_drop_bound: None,
            },
        ))
    }

    #[tokio::test(start_paused = true)]
    async fn idle_starts_when_the_last_use_ends() {
        let state = managed(Some(Duration::from_secs(20)));
        assert!(state.idle_since().is_some(), "new connections are idle");
        let a = state.begin();
        let b = state.begin();
        assert_eq!(state.idle_since(), None);
        drop(a);
        assert_eq!(state.idle_since(), None, "one use is left");
        tokio::time::advance(Duration::from_secs(3)).await;
        drop(b);
        let since = state.idle_since().expect("idle after the last use");
        assert_eq!(since, Instant::now());
        assert_eq!(
            state.retire_at(since),
            Some(since + Duration::from_secs(20))
        );
    }

    /// One use beginning as another ends, on two threads: a connection with a use never looks
    /// idle. (With a count and an idle time in two atomics, the ending use could write its
    /// idle time after the beginning one had marked the connection in use.)
    #[test]
    fn a_use_that_begins_as_another_ends_never_looks_idle() {
        let state = managed(Some(Duration::from_secs(20)));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let churn = {
            let (state, stop) = (Arc::clone(&state), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    drop(state.begin());
                }
            })
        };
        let mut seen_idle = 0;
        for _ in 0..200_000 {
            let held = state.begin();
            seen_idle += usize::from(state.idle_since().is_some());
            drop(held);
        }
        stop.store(true, Ordering::Relaxed);
        churn.join().unwrap();
        assert_eq!(seen_idle, 0, "times a connection in use looked idle");
        assert!(state.idle_since().is_some(), "idle once every use ended");
    }

    #[tokio::test(start_paused = true)]
    async fn the_servers_keep_alive_hint_retires_earlier_with_a_margin() {
        let state = managed(Some(Duration::from_secs(20)));
        state.record_answer(Some(5));
        let since = Instant::now();
        assert_eq!(state.retire_at(since), Some(since + Duration::from_secs(4)));
        // An announced second or less: never reused.
        state.record_answer(Some(1));
        assert_eq!(state.retire_at(since), Some(since));
        // A later response without the header drops the hint.
        state.record_answer(None);
        assert_eq!(
            state.retire_at(since),
            Some(since + Duration::from_secs(20))
        );
        let unlimited = managed(None);
        assert_eq!(unlimited.retire_at(since), None);
        unlimited.record_answer(Some(3));
        assert_eq!(
            unlimited.retire_at(since),
            Some(since + Duration::from_secs(2))
        );
        assert_eq!(state.answered(), 3);
    }
}
