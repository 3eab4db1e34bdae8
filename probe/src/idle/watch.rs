//! [`Watched`]: a connection's byte stream, as hyper reads and writes it (after TLS), with a
//! record of how it ended: the peer's FIN (end of stream), a reset, or an HTTP/2 GOAWAY frame,
//! each with the moment it was read. hyper reads an idle connection all the time, so the
//! record is made when the kernel hands the event over.
//!
//! Hand-written rather than from hyper: hyper reports a closed HTTP/1.1 connection and a
//! GOAWAY-ed HTTP/2 one alike (its driver ends), and its errors do not say whether a FIN or a
//! RST came first. Seeing GOAWAY needs only the 9-byte frame headers of the server's stream.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// How a connection was ended by the other side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseKind {
    /// End of stream: the peer's FIN (with or without TLS's close_notify).
    Fin,
    /// A reset (RST), from the server or a middlebox.
    Rst,
    /// An HTTP/2 GOAWAY frame (a FIN follows).
    Goaway,
    /// No one ended it: this side's kernel gave up (keepalive probes or retransmissions
    /// unanswered, `ETIMEDOUT`): the peer or the path is gone.
    TimedOut,
}

impl CloseKind {
    /// `fin`, `rst`, `goaway` or `timeout`, as in JSON.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CloseKind::Fin => "fin",
            CloseKind::Rst => "rst",
            CloseKind::Goaway => "goaway",
            CloseKind::TimedOut => "timeout",
        }
    }

    /// `FIN`, `RST`, `GOAWAY`, or the timeout in words, as in text.
    pub(crate) fn name(self) -> &'static str {
        match self {
            CloseKind::Fin => "FIN",
            CloseKind::Rst => "RST",
            CloseKind::Goaway => "GOAWAY",
            CloseKind::TimedOut => "timed out: no answer to keepalive probes or retransmissions",
        }
    }
}

/// The first close event read, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Closed {
    pub(crate) kind: CloseKind,
    pub(crate) at: Instant,
}

/// What the reading side saw; shared between the stream (owned by hyper) and the task that
/// holds the connection.
#[derive(Debug, Default)]
pub(crate) struct Events {
    closed: Mutex<Option<Closed>>,
    notify: Notify,
}

impl Events {
    /// The first close event, if one was read.
    pub(crate) fn closed(&self) -> Option<Closed> {
        *self
            .closed
            .lock()
            .expect("never poisoned: no panics while held")
    }

    /// Waits until a close event is read.
    pub(crate) async fn wait_closed(&self) -> Closed {
        loop {
            let notified = self.notify.notified();
            if let Some(closed) = self.closed() {
                return closed;
            }
            notified.await;
        }
    }

    fn record(&self, kind: CloseKind) {
        let mut closed = self.closed.lock().expect("never poisoned");
        // The first event counts: a GOAWAY is followed by the FIN that ends the stream.
        if closed.is_none() {
            *closed = Some(Closed {
                kind,
                at: Instant::now(),
            });
            self.notify.notify_waiters();
        }
    }
}

/// `io`, recording how the peer ends it; `h2` scans the incoming HTTP/2 frames for GOAWAY.
#[derive(Debug)]
pub(crate) struct Watched<IO> {
    io: IO,
    events: Arc<Events>,
    frames: Option<FrameScanner>,
}

impl<IO> Watched<IO> {
    pub(crate) fn new(io: IO, h2: bool) -> (Self, Arc<Events>) {
        let events = Arc::new(Events::default());
        let watched = Watched {
            io,
            events: Arc::clone(&events),
            frames: h2.then(FrameScanner::default),
        };
        (watched, events)
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let result = Pin::new(&mut this.io).poll_read(cx, buf);
        match &result {
            Poll::Ready(Ok(())) => {
                let new = &buf.filled()[before..];
                if new.is_empty() && buf.remaining() > 0 {
                    this.events.record(CloseKind::Fin);
                } else if let Some(frames) = &mut this.frames {
                    if frames.scan(new) {
                        this.events.record(CloseKind::Goaway);
                    }
                }
            }
            Poll::Ready(Err(err)) => this.events.record(kind_of(err)),
            Poll::Pending => {}
        }
        result
    }
}

/// A read error as a close: a reset, this kernel giving up, or (TLS ended without
/// close_notify, anything else) the end of the stream.
fn kind_of(err: &io::Error) -> CloseKind {
    match err.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => CloseKind::Rst,
        io::ErrorKind::TimedOut => CloseKind::TimedOut,
        _ => CloseKind::Fin,
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let result = Pin::new(&mut this.io).poll_write(cx, buf);
        // Writing into a connection the peer reset is how some resets are first seen.
        if let Poll::Ready(Err(err)) = &result {
            if matches!(
                err.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ) {
                this.events.record(CloseKind::Rst);
            }
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Follows the server's HTTP/2 frames (RFC 9113 §4.1: a 9-byte header of 24-bit length,
/// type, flags and stream, then the payload) to see a GOAWAY (type 7). The server's stream
/// starts with a frame (its SETTINGS); there is no preface on that side.
#[derive(Debug, Default)]
struct FrameScanner {
    header: Vec<u8>,
    payload_left: usize,
}

impl FrameScanner {
    /// Consumes `bytes`; `true` when a GOAWAY frame header was among them.
    fn scan(&mut self, mut bytes: &[u8]) -> bool {
        let mut goaway = false;
        while !bytes.is_empty() {
            if self.payload_left > 0 {
                let n = self.payload_left.min(bytes.len());
                self.payload_left -= n;
                bytes = &bytes[n..];
                continue;
            }
            let n = (9 - self.header.len()).min(bytes.len());
            self.header.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.header.len() == 9 {
                let h = &self.header;
                self.payload_left =
                    usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]);
                goaway |= h[3] == 7;
                self.header.clear();
            }
        }
        goaway
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut out = vec![
            (len >> 16) as u8,
            (len >> 8) as u8,
            len as u8,
            kind,
            0,
            0,
            0,
            0,
            0,
        ];
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn goaway_is_found_across_any_split() {
        let mut stream = frame(4, &[0; 12]); // SETTINGS
        stream.extend(frame(0, b"a DATA payload that mentions \x07"));
        stream.extend(frame(7, &[0, 0, 0, 1, 0, 0, 0, 0])); // GOAWAY
        for split in 1..stream.len() {
            let mut scanner = FrameScanner::default();
            let (a, b) = stream.split_at(split);
            let seen = scanner.scan(a) | scanner.scan(b);
            assert!(seen, "split at {split}");
        }
        let mut scanner = FrameScanner::default();
        assert!(!scanner.scan(&stream[..stream.len() - 17]), "no GOAWAY yet");
    }

    #[tokio::test]
    async fn the_end_of_the_stream_is_a_fin() {
        use tokio::io::AsyncReadExt;
        let (client, server) = tokio::io::duplex(64);
        let (mut watched, events) = Watched::new(client, false);
        drop(server);
        let mut buf = [0u8; 8];
        assert_eq!(watched.read(&mut buf).await.unwrap(), 0);
        assert_eq!(events.closed().map(|c| c.kind), Some(CloseKind::Fin));
        assert_eq!(events.wait_closed().await.kind, CloseKind::Fin);
    }
}
