//! A request body that can be sent again: each attempt replays what earlier attempts already
//! took from the caller's body, then goes on reading it. What was taken is kept by reference
//! (`Bytes`) up to a limit; past the limit the request can be re-sent only if nothing had
//! been taken yet.
//!
//! Written by hand: `http-body-util` has no replayable body, and Go's `GetBody` (a function
//! that makes a new body) has no counterpart for an arbitrary `http_body::Body`. linkerd's
//! proxy keeps request bodies for retries the same way (a shared buffer and a cursor per
//! attempt).

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::HeaderMap;
use hyper::body::{Body, Frame, SizeHint};

use super::BodySent;
use crate::error::BoxError;

type Source = Pin<Box<dyn Body<Data = Bytes, Error = BoxError> + Send>>;

/// The caller's body as [`Source`]: chunks of any `Buf` become `Bytes` (for `Bytes` itself,
/// without a copy).
struct IntoSource<B>(B);

impl<B> Body for IntoSource<B>
where
    B: Body + Send + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.0).poll_frame(cx).map(|frame| {
            frame.map(|r| {
                r.map(|f| f.map_data(|mut d| d.copy_to_bytes(d.remaining())))
                    .map_err(Into::into)
            })
        })
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0.size_hint()
    }
}

struct Shared {
    source: Source,
    /// Every frame taken from `source`, while their total stays within `limit`.
    kept: Vec<Frame<Bytes>>,
    kept_len: usize,
    limit: usize,
    /// Frames were taken from `source` and not all of them were kept.
    lost: bool,
    /// `source` ended.
    done: bool,
    /// `source` failed: the request's body is broken, whatever the connection did.
    failed: bool,
    /// The attempt allowed to read: each replay supersedes the ones before, whose connection
    /// failed (hyper may still hold and poll their bodies for a moment).
    generation: u32,
}

/// One attempt's body: a cursor over the shared frames, then the rest of the source.
pub(crate) struct ReplayBody {
    shared: Arc<Mutex<Shared>>,
    /// The next kept frame this attempt sends.
    next: usize,
    generation: u32,
    /// The source's size hint when the request was made: every attempt sends the whole body.
    hint: SizeHint,
    end_at_start: bool,
    /// Told when this attempt's body has been taken whole.
    sent: Option<Arc<BodySent>>,
}

impl std::fmt::Debug for ReplayBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayBody")
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // A panic while holding the lock leaves the frames as they were; keep going.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ReplayBody {
    /// The first attempt's body over `body`, keeping up to `limit` bytes for later attempts.
    pub(crate) fn new<B>(body: B, limit: usize) -> ReplayBody
    where
        B: Body + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let hint = body.size_hint();
        let end_at_start = body.is_end_stream();
        ReplayBody {
            shared: Arc::new(Mutex::new(Shared {
                source: Box::pin(IntoSource(Box::pin(body))),
                kept: Vec::new(),
                kept_len: 0,
                limit,
                lost: false,
                done: end_at_start,
                failed: false,
                generation: 0,
            })),
            next: 0,
            generation: 0,
            hint,
            end_at_start,
            sent: None,
        }
    }

    /// This attempt's body, telling `sent` once it has been taken whole.
    pub(crate) fn watched(mut self, sent: Arc<BodySent>) -> ReplayBody {
        if self.end_at_start {
            sent.set();
        }
        self.sent = Some(sent);
        self
    }

    fn ended(&self) {
        if let Some(sent) = &self.sent {
            sent.set();
        }
    }

    /// The next attempt's body, or `None` when part of the body was sent and not kept.
    pub(crate) fn replay(&self) -> Option<ReplayBody> {
        let mut shared = lock(&self.shared);
        if shared.lost {
            return None;
        }
        shared.generation += 1;
        Some(ReplayBody {
            shared: Arc::clone(&self.shared),
            next: 0,
            generation: shared.generation,
            hint: self.hint,
            end_at_start: self.end_at_start,
            sent: None,
        })
    }

    /// Whether another attempt could send the whole body.
    pub(crate) fn can_replay(&self) -> bool {
        !lock(&self.shared).lost
    }

    /// Whether the caller's body failed: the attempt's failure is then the body's, not the
    /// connection's, and nothing may be sent again (a second attempt would send what was
    /// kept and then whatever the broken source yields next, as if it were the whole body).
    pub(crate) fn source_failed(&self) -> bool {
        lock(&self.shared).failed
    }
}

impl Body for ReplayBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let mut shared = lock(&this.shared);
        if this.generation != shared.generation {
            return Poll::Ready(Some(Err(
                "the request was sent again on another connection".into(),
            )));
        }
        if let Some(frame) = shared.kept.get(this.next) {
            let frame = match frame.data_ref() {
                Some(data) => Frame::data(data.clone()),
                None => {
                    Frame::trailers(frame.trailers_ref().cloned().unwrap_or_else(HeaderMap::new))
                }
            };
            this.next += 1;
            let last = shared.done && this.next >= shared.kept.len();
            drop(shared);
            if last {
                // hyper asks no further once `is_end_stream` says so.
                this.ended();
            }
            return Poll::Ready(Some(Ok(frame)));
        }
        if shared.done {
            drop(shared);
            this.ended();
            return Poll::Ready(None);
        }
        // This attempt has sent everything kept: go on with the source.
        let polled = shared.source.as_mut().poll_frame(cx);
        match polled {
            Poll::Ready(Some(Ok(frame))) => {
                let len = frame.data_ref().map_or(0, Buf::remaining);
                let fits = !shared.lost && shared.kept_len.saturating_add(len) <= shared.limit;
                if fits {
                    shared.kept_len += len;
                    let copy = match frame.data_ref() {
                        Some(data) => Frame::data(data.clone()),
                        None => Frame::trailers(
                            frame.trailers_ref().cloned().unwrap_or_else(HeaderMap::new),
                        ),
                    };
                    shared.kept.push(copy);
                    this.next = shared.kept.len();
                } else {
                    shared.lost = true;
                    shared.kept = Vec::new();
                }
                if shared.source.is_end_stream() {
                    shared.done = true;
                    drop(shared);
                    // hyper asks no further once `is_end_stream` says so.
                    this.ended();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => {
                shared.done = true;
                drop(shared);
                this.ended();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                shared.failed = true;
                shared.lost = true;
                shared.kept = Vec::new();
                Poll::Ready(Some(Err(e)))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        if self.end_at_start {
            return true;
        }
        let shared = lock(&self.shared);
        shared.done && self.next >= shared.kept.len()
    }

    fn size_hint(&self) -> SizeHint {
        // Every attempt sends the whole body, so the original hint holds for each (hyper
        // writes `Content-Length` from an exact one).
        self.hint
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http_body_util::{BodyExt, Full};

    use super::*;

    async fn all(body: ReplayBody) -> Vec<u8> {
        body.collect().await.unwrap().to_bytes().to_vec()
    }

    #[tokio::test]
    async fn a_full_body_is_sent_again_whole_with_its_length() {
        let keeper = ReplayBody::new(Full::new(Bytes::from_static(b"hello")), 1024);
        for _ in 0..3 {
            let attempt = keeper.replay().unwrap();
            assert_eq!(attempt.size_hint().exact(), Some(5));
            assert_eq!(all(attempt).await, b"hello");
        }
    }

    #[tokio::test]
    async fn an_attempt_cut_short_is_replayed_then_continued() {
        let keeper = ReplayBody::new(Chunks(vec!["a", "bb", "ccc"]), 1024);
        let mut first = keeper.replay().unwrap();
        // The first attempt sends one chunk, then its connection dies.
        let frame = first.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "a");
        let second = keeper.replay().expect("what was sent is kept");
        drop(first);
        assert_eq!(all(second).await, b"abbccc");
    }

    #[tokio::test]
    async fn past_the_limit_only_an_unsent_body_can_be_replayed() {
        let keeper = ReplayBody::new(Full::new(Bytes::from(vec![7u8; 100])), 10);
        assert!(keeper.can_replay(), "nothing was taken yet");
        let first = keeper.replay().unwrap();
        assert_eq!(all(first).await.len(), 100);
        assert!(
            !keeper.can_replay(),
            "100 bytes went out and 10 are kept at most"
        );
        assert!(keeper.replay().is_none());
    }

    #[tokio::test]
    async fn an_empty_body_ends_at_once_every_time() {
        let keeper = ReplayBody::new(http_body_util::Empty::<Bytes>::new(), 0);
        for _ in 0..2 {
            let attempt = keeper.replay().unwrap();
            assert!(attempt.is_end_stream());
            assert_eq!(all(attempt).await, b"");
        }
    }

    #[tokio::test]
    async fn the_end_of_an_attempts_body_is_told() {
        let keeper = ReplayBody::new(Chunks(vec!["a"]), 1024);
        let sent = Arc::new(BodySent::default());
        let attempt = keeper.replay().unwrap().watched(Arc::clone(&sent));
        assert!(!sent.done.load(std::sync::atomic::Ordering::Acquire));
        assert_eq!(all(attempt).await, b"a");
        assert!(sent.done.load(std::sync::atomic::Ordering::Acquire));
        // A body with nothing to send is handed over at once.
        let empty = ReplayBody::new(http_body_util::Empty::<Bytes>::new(), 0);
        let sent = Arc::new(BodySent::default());
        let _attempt = empty.replay().unwrap().watched(Arc::clone(&sent));
        assert!(sent.done.load(std::sync::atomic::Ordering::Acquire));
    }

    /// A streaming body of unknown length: its chunks, one per poll.
    struct Chunks(Vec<&'static str>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            if self.0.is_empty() {
                return Poll::Ready(None);
            }
            let chunk = self.0.remove(0);
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(chunk.as_bytes())))))
        }
    }

    #[tokio::test]
    async fn a_superseded_attempt_reads_no_further() {
        let keeper = ReplayBody::new(Chunks(vec!["a", "b"]), 1024);
        let mut first = keeper.replay().unwrap();
        let _ = first.frame().await.unwrap().unwrap();
        let second = keeper.replay().unwrap();
        assert!(first.frame().await.unwrap().is_err());
        assert_eq!(all(second).await, b"ab");
    }
}
