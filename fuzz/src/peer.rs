//! The harness under the network targets: the input format ([`Script`]), the in-memory peer
//! ([`PeerIo`]), polling by hand with hang detection ([`Driver`]), a runtime that is only
//! entered, and an executor that only queues ([`Spawner`]).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

// ---------------------------------------------------------------------------------------------
// The in-memory peer
// ---------------------------------------------------------------------------------------------

/// Option bits shared by the network-facing targets (the rest of the options byte is per target).
const OPT_END_WITH_RESET: u8 = 0x10;
const OPT_SHORT_WRITES: u8 = 0x20;
const OPT_PENDING_WRITES: u8 = 0x40;

/// The input split into the options byte, the chunk plan and the peer's bytes.
#[derive(Debug, Clone, Copy)]
pub struct Script<'a> {
    /// The options byte (0 when the input is empty).
    pub options: u8,
    /// Chunk sizes and pending marks, cycled.
    pub plan: &'a [u8],
    /// What the peer sends.
    pub payload: &'a [u8],
}

impl<'a> Script<'a> {
    /// Splits `data` as described in the module docs.
    pub fn parse(data: &'a [u8]) -> Self {
        let options = data.first().copied().unwrap_or(0);
        let k = usize::from(data.get(1).copied().unwrap_or(0) % 8);
        let rest = data.get(2..).unwrap_or(&[]);
        let (plan, payload) = rest.split_at(k.min(rest.len()));
        Script {
            options,
            plan,
            payload,
        }
    }

    /// Encodes a script: the inverse of [`Script::parse`] (used by `gen_seeds`).
    pub fn encode(options: u8, plan: &[u8], payload: &[u8]) -> Vec<u8> {
        assert!(plan.len() < 8, "at most 7 plan bytes");
        let mut out = vec![options, plan.len() as u8];
        out.extend_from_slice(plan);
        out.extend_from_slice(payload);
        out
    }

    /// The most polls a correct client could need to consume this script, with room to spare.
    pub(crate) fn poll_budget(&self) -> usize {
        10_000 + 8 * self.payload.len()
    }
}

/// A byte stream whose reads come from a [`Script`] and whose writes are accepted.
#[derive(Debug)]
pub struct PeerIo {
    payload: Bytes,
    pos: usize,
    plan: Vec<u8>,
    next_plan: usize,
    chunk_left: usize,
    end_with_reset: bool,
    short_writes: bool,
    pending_writes: bool,
    write_pending_next: bool,
    written: Arc<Mutex<Vec<u8>>>,
    shut_down: bool,
    /// Shared with [`Alive`], to tell whether this stream was dropped.
    _alive: Arc<()>,
}

/// Tells whether a [`PeerIo`] still exists somewhere, and what was written to it.
#[derive(Debug, Clone)]
pub struct Alive {
    token: Arc<()>,
    written: Arc<Mutex<Vec<u8>>>,
}

impl Alive {
    /// `true` while the stream (or anything holding it) was not dropped.
    pub fn is_alive(&self) -> bool {
        Arc::strong_count(&self.token) > 1
    }

    /// Everything written to the stream so far.
    pub fn written(&self) -> Vec<u8> {
        self.written.lock().map(|w| w.clone()).unwrap_or_default()
    }
}

/// Keeps at most this much of what was written (enough for any ClientHello or request head).
const WRITTEN_KEPT: usize = 64 * 1024;

impl PeerIo {
    /// A stream playing `script`.
    pub fn new(script: &Script<'_>) -> (PeerIo, Alive) {
        let token = Arc::new(());
        let written = Arc::new(Mutex::new(Vec::new()));
        let io = PeerIo {
            payload: Bytes::copy_from_slice(script.payload),
            pos: 0,
            plan: script.plan.to_vec(),
            next_plan: 0,
            chunk_left: 0,
            end_with_reset: script.options & OPT_END_WITH_RESET != 0,
            short_writes: script.options & OPT_SHORT_WRITES != 0,
            pending_writes: script.options & OPT_PENDING_WRITES != 0,
            write_pending_next: false,
            written: Arc::clone(&written),
            shut_down: false,
            _alive: Arc::clone(&token),
        };
        (io, Alive { token, written })
    }
}

impl AsyncRead for PeerIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if this.pos >= this.payload.len() {
            if this.end_with_reset {
                return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
            }
            return Poll::Ready(Ok(()));
        }
        if this.chunk_left == 0 {
            if this.plan.is_empty() {
                this.chunk_left = usize::MAX;
            } else {
                let b = this.plan[this.next_plan % this.plan.len()];
                this.next_plan += 1;
                this.chunk_left = usize::from(b & 0x7f) + 1;
                if b & 0x80 != 0 {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            }
        }
        let n = this
            .chunk_left
            .min(buf.remaining())
            .min(this.payload.len() - this.pos);
        buf.put_slice(&this.payload[this.pos..this.pos + n]);
        this.pos += n;
        this.chunk_left -= n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for PeerIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.shut_down {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if this.pending_writes {
            this.write_pending_next = !this.write_pending_next;
            if this.write_pending_next {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
        let n = if this.short_writes {
            buf.len().min(7)
        } else {
            buf.len()
        };
        if let Ok(mut written) = this.written.lock() {
            let keep = n.min(WRITTEN_KEPT.saturating_sub(written.len()));
            written.extend_from_slice(&buf[..keep]);
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.shut_down = true;
        Poll::Ready(Ok(()))
    }
}

// ---------------------------------------------------------------------------------------------
// Polling by hand
// ---------------------------------------------------------------------------------------------

/// A waker that only remembers that it was woken.
#[derive(Debug, Default)]
struct WokenFlag(AtomicBool);

impl Wake for WokenFlag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Polls a set of futures by hand and tells a hang from progress.
pub(crate) struct Driver {
    flag: Arc<WokenFlag>,
    waker: Waker,
    rounds: usize,
    budget: usize,
    what: &'static str,
}

impl Driver {
    pub(crate) fn new(what: &'static str, budget: usize) -> Self {
        let flag = Arc::new(WokenFlag::default());
        let waker = Waker::from(Arc::clone(&flag));
        Driver {
            flag,
            waker,
            rounds: 0,
            budget,
            what,
        }
    }

    /// Starts a round of polls: clears the wake flag and counts the round.
    pub(crate) fn begin_round(&mut self) -> Context<'_> {
        self.rounds += 1;
        assert!(
            self.rounds <= self.budget,
            "{}: livelock: still not done after {} rounds of polls",
            self.what,
            self.budget
        );
        self.flag.0.store(false, Ordering::SeqCst);
        Context::from_waker(&self.waker)
    }

    /// Ends a round in which something is still pending: something must have been woken, or
    /// nothing ever will be (short of a timer) and that is a hang.
    pub(crate) fn end_round_pending(&self) {
        assert!(
            self.flag.0.load(Ordering::SeqCst),
            "{}: hang: pending after {} rounds and nothing will wake it \
             (all input was offered; only a timer could end this)",
            self.what,
            self.rounds
        );
    }

    /// Polls one future to completion.
    pub(crate) fn run<F: Future>(&mut self, fut: F) -> F::Output {
        let mut fut = std::pin::pin!(fut);
        loop {
            let mut cx = self.begin_round();
            if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                return out;
            }
            self.end_round_pending();
        }
    }
}

thread_local! {
    /// A runtime whose clock is never driven: only entered, so that `tokio::time::timeout` in the
    /// handshake can register its timer, which then never fires.
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime builds");
}

pub(crate) fn with_runtime<R>(f: impl FnOnce() -> R) -> R {
    RUNTIME.with(|rt| {
        let _guard = rt.enter();
        f()
    })
}

/// An executor for hyper's HTTP/2 background tasks that only queues them, for [`Driver`] to poll.
#[derive(Clone, Default)]
pub(crate) struct Spawner(Arc<Mutex<Vec<Task>>>);

/// A queued background task.
type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

impl<F> hyper::rt::Executor<F> for Spawner
where
    F: Future + Send + 'static,
{
    fn execute(&self, fut: F) {
        let task = Box::pin(async move {
            let _ = fut.await;
        });
        self.0.lock().expect("spawner lock").push(task);
    }
}

impl Spawner {
    /// Polls every queued task once; drops the finished ones. Returns whether any is left.
    pub(crate) fn poll_all(&self, cx: &mut Context<'_>) -> bool {
        // Taken out of the lock while polled, as a task may spawn another.
        let mut tasks = std::mem::take(&mut *self.0.lock().expect("spawner lock"));
        tasks.retain_mut(|task| task.as_mut().poll(cx).is_pending());
        let mut queue = self.0.lock().expect("spawner lock");
        tasks.append(&mut queue);
        *queue = tasks;
        !queue.is_empty()
    }

    pub(crate) fn clear(&self) {
        let tasks = std::mem::take(&mut *self.0.lock().expect("spawner lock"));
        drop(tasks);
    }
}
