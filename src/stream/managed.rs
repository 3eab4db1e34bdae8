//! What a [`Conn`](super::Conn) made for a [`Client`](crate::Client) does besides carrying
//! bytes, all inside hyper's connection task (no task or timer of its own elsewhere):
//!
//! - **retires itself when idle**: once the client has nothing active on it for the pool's idle
//!   timeout (or until [`KEEP_ALIVE_MARGIN`](crate::conn_state::KEEP_ALIVE_MARGIN) before the
//!   server's announced `Keep-Alive: timeout=`), a read returns end-of-file, so hyper closes it
//!   and hyper-util's pool drops it, exactly as when a server closes an idle connection. It
//!   does so only if nothing was written since the connection became idle, so a request that
//!   fails on a retired connection was never sent.
//! - **guards against silent drops** (Linux, Android): a write after a quiet spell of at least
//!   [`GUARD_AFTER_QUIET`] sets `TCP_USER_TIMEOUT` to the connection's bound, so a peer whose TCP
//!   no longer acknowledges (a NAT or firewall that forgot the flow) fails the connection with
//!   `ETIMEDOUT` within about the bound, instead of after minutes of retransmissions. The
//!   configured value comes back with the first response bytes, or after twice the bound. A
//!   slow server is never cut: it acknowledges the request at once, which is all the kernel
//!   waits for.
//! - **counts response bytes** (HTTP/1.1) and **watches for GOAWAY** (HTTP/2), for the client's
//!   judgement of a failure.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Context;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use super::h2_frames::FrameWatch;
use crate::conn_state::{flag, ConnState};

/// A write after at least this long without a byte in either direction arms the silent-drop
/// guard. A NAT does not forget a flow in under a second, and back-to-back requests on a busy
/// connection then cost no system call.
pub(crate) const GUARD_AFTER_QUIET: Duration = Duration::from_secs(1);

/// When an idle connection wrote something (an HTTP/2 control frame, or a request racing the
/// retirement), the retirement is looked at again this long after the write.
const RECHECK: Duration = Duration::from_secs(1);

/// How long after a write a connection that went idle meanwhile waits before it retires: time
/// for the client to count the use of a request written just then (see `Managed::retire_at`).
const SETTLE: Duration = Duration::from_millis(100);

/// The error a guarded connection fails with when its written bytes went unacknowledged for
/// the bound: the kernel's `ETIMEDOUT`, named.
#[derive(Debug)]
pub(crate) struct SilentDrop {
    pub(crate) bound: Duration,
}

impl std::fmt::Display for SilentDrop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the peer did not acknowledge data written after a quiet spell within {:?}: the path \
             dropped the connection without a word",
            self.bound
        )
    }
}

impl std::error::Error for SilentDrop {}

impl SilentDrop {
    /// Whether `e` is this error, directly or inside an `io::Error` (whose `source()` skips
    /// its own payload).
    pub(crate) fn is(e: &(dyn std::error::Error + 'static)) -> bool {
        e.is::<SilentDrop>()
            || e.downcast_ref::<io::Error>()
                .and_then(io::Error::get_ref)
                .is_some_and(|inner| inner.is::<SilentDrop>())
    }
}

/// The silent-drop guard's state; never armed where the OS has no `TCP_USER_TIMEOUT` (the
/// guard is absent there).
#[derive(Debug)]
#[cfg_attr(not(tcp_user_timeout), allow(dead_code))]
enum Guard {
    Off,
    /// `TCP_USER_TIMEOUT` is the bound until `until` (or the first response bytes).
    Armed {
        until: Instant,
    },
}

/// The managed part of a connection; see the module docs.
#[derive(Debug)]
pub(crate) struct Managed {
    state: Arc<ConnState>,
    /// What `TCP_USER_TIMEOUT` was after connect, restored when the guard is disarmed.
    #[cfg_attr(not(tcp_user_timeout), allow(dead_code))]
    configured_user_timeout: Option<Duration>,
    timer: Option<Pin<Box<Sleep>>>,
    /// The last time bytes moved either way.
    last_io: Instant,
    /// The last time bytes were written.
    last_write: Option<Instant>,
    /// HTTP/1.1: the last bytes moved were read (so the next write may start a request).
    reading: bool,
    /// HTTP/1.1: the responses the client had counted when a request last started here.
    answers_seen: u64,
    guard: Guard,
    retired: bool,
    frames: Option<FrameWatch>,
}

impl Managed {
    pub(crate) fn new(state: Arc<ConnState>, configured_user_timeout: Option<Duration>) -> Self {
        let frames = state.h2.then(FrameWatch::default);
        Managed {
            state,
            configured_user_timeout,
            timer: None,
            last_io: Instant::now(),
            last_write: None,
            reading: true,
            answers_seen: 0,
            guard: Guard::Off,
            retired: false,
            frames,
        }
    }

    pub(crate) fn state(&self) -> &Arc<ConnState> {
        &self.state
    }

    /// Before a read: `true` when the connection retires (or has), and the read must return
    /// end-of-file.
    pub(crate) fn poll_retire(&mut self, cx: &mut Context<'_>, tcp: &TcpStream) -> bool {
        if self.retired {
            return true;
        }
        self.state.register(cx.waker());
        loop {
            let now = Instant::now();
            if let Guard::Armed { until } = self.guard {
                if now >= until {
                    self.disarm(tcp);
                }
            }
            let retire_at = self.retire_at();
            if retire_at.is_some_and(|at| now >= at) {
                self.retired = true;
                self.state.raise(flag::RETIRED);
                tracing::debug!("idle connection retired");
                return true;
            }
            let guard_until = match self.guard {
                Guard::Armed { until } => Some(until),
                Guard::Off => None,
            };
            let next = match (retire_at, guard_until) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) | (None, Some(a)) => a,
                (None, None) => return false,
            };
            let timer = self
                .timer
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(next)));
            if timer.deadline() != next {
                timer.as_mut().reset(next);
            }
            if timer.as_mut().poll(cx).is_pending() {
                return false;
            }
            // The deadline passed: look again (the state may have changed meanwhile).
        }
    }

    /// When an idle connection retires: counted from when the client let go of it, or from the
    /// last write after that plus [`RECHECK`], so it never closes on bytes sent while idle;
    /// and never within [`SETTLE`] of a write just before it went idle (a request written as
    /// the previous answer's body ended, whose use the client counts a moment later: retiring
    /// under it would make it look never sent).
    fn retire_at(&self) -> Option<Instant> {
        let since = self.state.idle_since()?;
        let at = self.state.retire_at(since)?;
        match self.last_write {
            Some(write) if write >= since => Some(at.max(write + RECHECK)),
            Some(write) if write + SETTLE > since => Some(at.max(write + SETTLE)),
            _ => Some(at),
        }
    }

    /// After a read that returned `bytes`.
    pub(crate) fn on_read(&mut self, bytes: &[u8], tcp: &TcpStream) {
        if bytes.is_empty() {
            return;
        }
        self.last_io = Instant::now();
        self.reading = true;
        if matches!(self.guard, Guard::Armed { .. }) {
            self.disarm(tcp);
        }
        match &mut self.frames {
            Some(frames) => {
                for goaway in frames.feed(bytes) {
                    tracing::debug!(?goaway, "HTTP/2 GOAWAY received");
                    self.state.record_goaway(goaway.last_stream_id);
                    if goaway.is_too_many_pings() {
                        self.state.raise(flag::TOO_MANY_PINGS);
                    }
                }
            }
            None => self.state.add_response_bytes(bytes.len()),
        }
    }

    /// Before a write of a non-empty buffer.
    pub(crate) fn before_write(&mut self, tcp: &TcpStream) {
        let now = Instant::now();
        // A write after a read starts a new request only once the client has counted the
        // previous one's answer: bytes read while a request is still being written (an
        // interim `100 Continue`, an early answer to an upload) belong to that request, and
        // must still count when it fails. Should the client count the answer a moment after
        // the next request's first write, that request keeps the bytes: it is then judged to
        // have had part of its answer, and not sent again (the safe side).
        if self.reading && self.frames.is_none() {
            let answered = self.state.answered();
            if answered != self.answers_seen {
                self.answers_seen = answered;
                self.state.request_started();
            }
        }
        self.reading = false;
        if matches!(self.guard, Guard::Off) && now.duration_since(self.last_io) >= GUARD_AFTER_QUIET
        {
            self.arm(tcp, now);
        }
        self.last_write = Some(now);
    }

    /// After a write that moved bytes.
    pub(crate) fn after_write(&mut self) {
        self.last_io = Instant::now();
    }

    /// Names an error the armed guard caused.
    pub(crate) fn map_error(&self, e: io::Error) -> io::Error {
        match (&self.guard, self.state.management.silent_drop_bound) {
            (Guard::Armed { .. }, Some(bound)) if e.kind() == io::ErrorKind::TimedOut => {
                self.state.raise(flag::SILENT_DROP);
                io::Error::new(io::ErrorKind::TimedOut, SilentDrop { bound })
            }
            _ => e,
        }
    }

    pub(crate) fn is_retired(&self) -> bool {
        self.retired
    }

    #[cfg(tcp_user_timeout)]
    fn arm(&mut self, tcp: &TcpStream, now: Instant) {
        let Some(bound) = self.state.management.silent_drop_bound else {
            return;
        };
        // Never loosen a shorter timeout the user set.
        let bound = self.configured_user_timeout.map_or(bound, |c| c.min(bound));
        match socket2::SockRef::from(tcp).set_tcp_user_timeout(Some(bound)) {
            Ok(()) => {
                self.guard = Guard::Armed {
                    until: now + bound * 2,
                };
            }
            // The connection is unusable or the option was refused; the write will tell.
            Err(e) => tracing::debug!(error = %e, "silent-drop guard not armed"),
        }
    }

    // Where there is no TCP_USER_TIMEOUT there is no guard to arm: the same signature as the
    // real one, so that its caller needs no cfg of its own.
    #[cfg(not(tcp_user_timeout))]
    #[allow(clippy::needless_pass_by_ref_mut)]
    fn arm(&mut self, _tcp: &TcpStream, _now: Instant) {}

    #[cfg(tcp_user_timeout)]
    fn disarm(&mut self, tcp: &TcpStream) {
        self.guard = Guard::Off;
        if let Err(e) =
            socket2::SockRef::from(tcp).set_tcp_user_timeout(self.configured_user_timeout)
        {
            tracing::debug!(error = %e, "TCP_USER_TIMEOUT not restored");
        }
    }

    #[cfg(not(tcp_user_timeout))]
    fn disarm(&mut self, _tcp: &TcpStream) {
        self.guard = Guard::Off;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn_state::Management;

    /// A managed HTTP/1.1 connection over a loopback socket (the listener keeps it open).
    async fn managed_http1(
        idle_timeout: Option<Duration>,
    ) -> (tokio::net::TcpListener, TcpStream, Arc<ConnState>, Managed) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tcp = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let state = Arc::new(ConnState::new(
            false,
            Management {
                idle_timeout,
                silent_drop_bound: None,
            },
        ));
        let managed = Managed::new(Arc::clone(&state), None);
        (listener, tcp, state, managed)
    }

    /// HTTP/1.1: bytes read while a request is still being written (an interim answer, an
    /// early one) stay that request's until the client counts its answer; the next request
    /// then starts from zero.
    #[tokio::test]
    async fn answer_bytes_belong_to_the_request_until_the_client_counts_its_answer() {
        let (_listener, tcp, state, mut managed) = managed_http1(None).await;
        let interim = b"HTTP/1.1 100 Continue\r\n\r\n";
        managed.before_write(&tcp);
        managed.after_write();
        managed.on_read(interim, &tcp);
        // More of the same request's body goes out.
        managed.before_write(&tcp);
        managed.after_write();
        assert_eq!(state.response_bytes(), interim.len() as u64);
        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        managed.on_read(answer, &tcp);
        state.record_answer(None);
        // The next request's first write.
        managed.before_write(&tcp);
        assert_eq!(state.response_bytes(), 0);
        managed.after_write();
        managed.on_read(answer, &tcp);
        assert_eq!(state.response_bytes(), answer.len() as u64);
    }

    /// A request written just before the previous answer's body ended (its use counted a
    /// moment later): a connection whose server announced `timeout=1` (retire at once when
    /// idle) waits SETTLE after that write instead of retiring under it.
    #[tokio::test(start_paused = true)]
    async fn a_write_just_before_the_connection_went_idle_holds_off_its_retirement() {
        let (_listener, tcp, state, mut managed) =
            managed_http1(Some(Duration::from_secs(90))).await;
        let previous = state.begin();
        state.record_answer(Some(1));
        // The next request is written; then the previous body ends.
        managed.before_write(&tcp);
        let written = Instant::now();
        managed.after_write();
        tokio::time::advance(Duration::from_millis(2)).await;
        drop(previous);
        assert_eq!(managed.retire_at(), Some(written + SETTLE));
        // Long after any write, an announced second or less retires at once.
        tokio::time::advance(Duration::from_secs(2)).await;
        drop(state.begin());
        assert_eq!(managed.retire_at(), state.idle_since());
    }
}
