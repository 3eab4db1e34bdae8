//! [`ResponseBody`]: a response body from a [`Client`](crate::Client), with the read timeout,
//! and holding what keeps the connection's HTTP/2 PINGs going while it is read.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::time::{Instant, Sleep};

use super::error::{ClientError, Kind};
use super::pools::Key;
use super::Shared;
use crate::conn_state::{flag, Active};

/// The body of a response from a [`Client`](crate::Client): hyper's body, with the client's
/// [`read_timeout`](crate::Builder::read_timeout) between reads, and errors as
/// [`ClientError`]s.
///
/// It keeps the client's connection pool alive while it lives, so an HTTP/2 connection keeps
/// sending its PINGs (and so notices a dead origin) for as long as the body is read, even
/// after the [`Client`](crate::Client) itself was dropped: hyper sends PINGs only while it
/// counts a stream open, and it stops counting once the pool is gone.
pub struct ResponseBody {
    inner: Incoming,
    timeout: Option<Timeout>,
    /// This use of the connection; ends when the body does.
    active: Option<Active>,
    owner: Arc<Shared>,
    key: Option<Key>,
    origin: Arc<str>,
}

struct Timeout {
    period: Duration,
    sleep: Pin<Box<Sleep>>,
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody")
            .field("origin", &self.origin)
            .field("read_timeout", &self.timeout.as_ref().map(|t| t.period))
            .finish_non_exhaustive()
    }
}

impl ResponseBody {
    pub(crate) fn new(
        inner: Incoming,
        active: Option<Active>,
        owner: Arc<Shared>,
        key: Option<Key>,
        origin: Arc<str>,
    ) -> Self {
        let timeout = owner.settings.read_timeout.map(|period| Timeout {
            period,
            sleep: Box::pin(tokio::time::sleep(period)),
        });
        let mut body = ResponseBody {
            inner,
            timeout,
            active,
            owner,
            key,
            origin,
        };
        if body.inner.is_end_stream() {
            body.finish();
        }
        body
    }

    /// The next chunk of the body once it has arrived, or `None` at its end (trailers are
    /// skipped): the body read without `http-body-util`. Waits at most the
    /// [`read_timeout`](crate::Builder::read_timeout), if one is set, and fails with
    /// [`ClientError::is_timeout`] after that long without a byte.
    ///
    /// ```no_run
    /// # async fn demo(client: keepalive_connector::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let resp = client.get("https://example.com/stream".parse()?).await?;
    /// let mut body = resp.into_body();
    /// while let Some(chunk) = body.chunk().await? {
    ///     print!("{}", String::from_utf8_lossy(&chunk));
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, ClientError> {
        loop {
            let frame = std::future::poll_fn(|cx| Pin::new(&mut *self).poll_frame(cx)).await;
            match frame {
                None => return Ok(None),
                Some(Err(e)) => return Err(e),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        return Ok(Some(data));
                    }
                }
            }
        }
    }

    /// The response is over (or failed): the connection is free for the next request.
    fn finish(&mut self) {
        if let Some(active) = self.active.take() {
            if active.state().has(flag::TOO_MANY_PINGS) {
                if let Some(key) = &self.key {
                    self.owner.pools.too_many_pings(key);
                }
            }
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = ClientError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ClientError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(t) = &mut this.timeout {
                    t.sleep.as_mut().reset(Instant::now() + t.period);
                }
                if this.inner.is_end_stream() {
                    this.finish();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.finish();
                let err = ClientError::new(Kind::Body, Arc::clone(&this.origin), Some(e.into()));
                Poll::Ready(Some(Err(err)))
            }
            Poll::Ready(None) => {
                this.finish();
                Poll::Ready(None)
            }
            Poll::Pending => {
                let Some(t) = &mut this.timeout else {
                    return Poll::Pending;
                };
                if t.sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let period = t.period;
                // Reading stops here; dropping the body closes an HTTP/1.1 connection or
                // resets the HTTP/2 stream.
                this.finish();
                Poll::Ready(Some(Err(ClientError::new(
                    Kind::BodyTimeout(period),
                    Arc::clone(&this.origin),
                    None,
                ))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        self.finish();
    }
}
