//! An HTTP/2 server (the `h2` crate, over TLS with ALPN `h2`) that watches the client's PING
//! frames: when they arrive, and optionally answers them as a gRPC server answers a client that
//! pings too often, with `GOAWAY ENHANCE_YOUR_CALM` and the debug data `too_many_pings`. It can
//! also refuse the first stream of each connection (`REFUSED_STREAM`). For the liveness and
//! pooled-connection tests.
//!
//! `/stream` answers `first chunk\n` and then stays open and quiet; every other path answers
//! `hello` and ends.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::pki::{LeafKind, TestCa};

/// What the server does when a client's PING arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnPing {
    /// Answer it (h2 does, as every server does).
    Answer,
    /// Close the connection with `GOAWAY ENHANCE_YOUR_CALM`, as gRPC servers treat clients that
    /// ping more often than they allow (`too_many_pings`).
    GoAway,
    /// Enforce a minimum interval between PINGs as grpc-go's server does
    /// (`EnforcementPolicy.MinTime`): a PING sooner than this after the previous one is a
    /// strike, and the third strike closes the connection with `GOAWAY ENHANCE_YOUR_CALM
    /// "too_many_pings"`.
    MinInterval(std::time::Duration),
}

#[derive(Debug, Default)]
struct Seen {
    /// When each PING arrived, and on which connection (from 0).
    pings: Mutex<Vec<(usize, Instant)>>,
    goaways: AtomicUsize,
    refused: AtomicUsize,
    connections: AtomicUsize,
    requests: AtomicUsize,
}

/// A running server; dropping it stops it.
#[derive(Debug)]
pub struct H2WatchServer {
    addr: SocketAddr,
    seen: Arc<Seen>,
    task: JoinHandle<()>,
}

impl H2WatchServer {
    /// Starts on 127.0.0.1 with a certificate for `localhost`/`127.0.0.1` signed by `ca`.
    pub async fn start(ca: &TestCa, on_ping: OnPing) -> io::Result<H2WatchServer> {
        H2WatchServer::start_refusing(ca, on_ping, 0).await
    }

    /// [`start`](H2WatchServer::start), refusing the first `refuse` streams of every
    /// connection with `RST_STREAM REFUSED_STREAM` (unprocessed, RFC 9113 §8.7).
    pub async fn start_refusing(
        ca: &TestCa,
        on_ping: OnPing,
        refuse: usize,
    ) -> io::Result<H2WatchServer> {
        let leaf = ca.leaf(LeafKind::Good);
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("aws-lc-rs supports TLS 1.2 and 1.3")
            .with_no_client_auth()
            .with_single_cert(leaf.chain, leaf.key)
            .expect("rcgen's certificate and key match");
        config.alpn_protocols = vec![b"h2".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let seen = Arc::new(Seen::default());
        let state = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let conn = state.connections.fetch_add(1, Ordering::SeqCst);
                let (acceptor, state) = (acceptor.clone(), Arc::clone(&state));
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    serve(tls, conn, state, on_ping, refuse).await;
                });
            }
        });
        Ok(H2WatchServer { addr, seen, task })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// When each client PING (not a PING acknowledgement) arrived.
    pub fn pings(&self) -> Vec<Instant> {
        self.pings_by_connection()
            .into_iter()
            .map(|(_, at)| at)
            .collect()
    }

    /// When each client PING arrived, with its connection (numbered from 0 in accept order).
    pub fn pings_by_connection(&self) -> Vec<(usize, Instant)> {
        self.seen
            .pings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// How many connections it closed with `GOAWAY ENHANCE_YOUR_CALM`.
    pub fn goaways(&self) -> usize {
        self.seen.goaways.load(Ordering::SeqCst)
    }

    /// How many streams it refused.
    pub fn refused(&self) -> usize {
        self.seen.refused.load(Ordering::SeqCst)
    }

    /// How many connections were accepted.
    pub fn connections(&self) -> usize {
        self.seen.connections.load(Ordering::SeqCst)
    }

    /// How many requests arrived.
    pub fn requests(&self) -> usize {
        self.seen.requests.load(Ordering::SeqCst)
    }
}

impl Drop for H2WatchServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve<IO>(io: IO, conn_no: usize, seen: Arc<Seen>, on_ping: OnPing, refuse: usize)
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let pinged = Arc::new(Notify::new());
    let watched = Watch {
        io,
        conn: conn_no,
        parser: FrameParser::default(),
        seen: Arc::clone(&seen),
        pinged: Arc::clone(&pinged),
        rewrite: GoAwayDebug::default(),
        out: Vec::new(),
    };
    let Ok(mut conn) = h2::server::handshake(watched).await else {
        return;
    };
    let mut open_streams = Vec::new();
    let mut accepted_streams = 0;
    let (mut last_ping, mut strikes) = (None::<Instant>, 0);
    loop {
        tokio::select! {
            accepted = conn.accept() => {
                let Some(Ok((req, mut respond))) = accepted else { return };
                accepted_streams += 1;
                if accepted_streams <= refuse {
                    seen.refused.fetch_add(1, Ordering::SeqCst);
                    respond.send_reset(h2::Reason::REFUSED_STREAM);
                    continue;
                }
                seen.requests.fetch_add(1, Ordering::SeqCst);
                let stream = req.uri().path() == "/stream";
                let resp = http::Response::new(());
                let Ok(mut send) = respond.send_response(resp, false) else { continue };
                if stream {
                    let _ = send.send_data(Bytes::from_static(b"first chunk\n"), false);
                    // Kept open, and quiet, until the connection ends.
                    open_streams.push(send);
                } else {
                    let _ = send.send_data(Bytes::from_static(b"hello"), true);
                }
            }
            () = pinged.notified(), if on_ping != OnPing::Answer => {
                let calm = match on_ping {
                    OnPing::MinInterval(min) => {
                        let now = Instant::now();
                        if last_ping.is_some_and(|at| now.duration_since(at) < min) {
                            strikes += 1;
                        }
                        last_ping = Some(now);
                        strikes > 2
                    }
                    _ => true,
                };
                if calm {
                    seen.goaways.fetch_add(1, Ordering::SeqCst);
                    // h2 sends the GOAWAY without debug data; `Watch` adds gRPC's on the way out.
                    conn.abrupt_shutdown(h2::Reason::ENHANCE_YOUR_CALM);
                    // Drive the connection until the GOAWAY is out and the client closes.
                    while let Some(Ok(_)) = conn.accept().await {}
                    return;
                }
            }
        }
    }
}

/// The server's stream, with the client's frames parsed on the way in, and on the way out
/// `too_many_pings` added to a GOAWAY `ENHANCE_YOUR_CALM`, as gRPC servers send it (h2's
/// server has no way to send debug data).
struct Watch<IO> {
    io: IO,
    conn: usize,
    parser: FrameParser,
    seen: Arc<Seen>,
    pinged: Arc<Notify>,
    rewrite: GoAwayDebug,
    /// Rewritten bytes not yet written to `io`.
    out: Vec<u8>,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watch<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if polled.is_ready() {
            let pings = this.parser.feed(&buf.filled()[before..]);
            if pings > 0 {
                let now = Instant::now();
                let mut seen = this.seen.pings.lock().unwrap_or_else(|e| e.into_inner());
                seen.extend(std::iter::repeat_n((this.conn, now), pings));
                this.pinged.notify_one();
            }
        }
        polled
    }
}

impl<IO: AsyncWrite + Unpin> Watch<IO> {
    /// Writes out what the rewriter produced.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.out.is_empty() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.out))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out.drain(..n);
        }
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watch<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_drain(cx))?;
        this.rewrite.feed(buf, &mut this.out);
        // Everything given is taken; what `io` does not take now goes out on the next call.
        let _ = this.poll_drain(cx)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Copies the server's frames, giving a GOAWAY `ENHANCE_YOUR_CALM` without debug data the
/// debug data `too_many_pings`.
#[derive(Debug, Default)]
struct GoAwayDebug {
    /// The current frame's header, while incomplete, or a GOAWAY's header and payload until
    /// its 8 bytes are in.
    held: Vec<u8>,
    /// Payload bytes of the current (passed-through) frame still to copy.
    payload_left: usize,
}

impl GoAwayDebug {
    fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<u8>) {
        while !bytes.is_empty() {
            if self.payload_left > 0 {
                let n = self.payload_left.min(bytes.len());
                out.extend_from_slice(&bytes[..n]);
                self.payload_left -= n;
                bytes = &bytes[n..];
                continue;
            }
            self.held.push(bytes[0]);
            bytes = &bytes[1..];
            if self.held.len() < 9 {
                continue;
            }
            let h = &self.held;
            let len = (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]);
            let goaway = h[3] == 0x7 && len == 8;
            if !goaway {
                out.append(&mut self.held);
                self.payload_left = len;
                continue;
            }
            if self.held.len() < 17 {
                continue;
            }
            let code = u32::from_be_bytes([h[13], h[14], h[15], h[16]]);
            if code == 0xb {
                let debug = b"too_many_pings";
                self.held[2] = (8 + debug.len()) as u8;
                self.held.extend_from_slice(debug);
            }
            out.append(&mut self.held);
        }
    }
}

/// Splits the client's byte stream into HTTP/2 frames (RFC 9113 §4.1) after the 24-byte
/// preface, counting PINGs that are not acknowledgements.
#[derive(Debug, Default)]
struct FrameParser {
    preface_left: Option<usize>,
    header: Vec<u8>,
    payload_left: usize,
}

impl FrameParser {
    /// Consumes `bytes`; returns how many client PINGs completed their header in them.
    fn feed(&mut self, mut bytes: &[u8]) -> usize {
        let preface = self.preface_left.get_or_insert(24);
        let skip = (*preface).min(bytes.len());
        *preface -= skip;
        bytes = &bytes[skip..];
        let mut pings = 0;
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
                let len = (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]);
                let (kind, flags) = (h[3], h[4]);
                if kind == 0x6 && flags & 0x1 == 0 {
                    pings += 1;
                }
                self.payload_left = len;
                self.header.clear();
            }
        }
        pings
    }
}

#[cfg(test)]
mod tests {
    use super::{FrameParser, GoAwayDebug};

    #[test]
    fn a_calm_goaway_gets_grpcs_debug_data_in_any_split() {
        let mut frames = vec![0, 0, 4, 0, 1, 0, 0, 0, 1, b'o', b'k', b'!', b'!']; // DATA
        frames.extend_from_slice(&[0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0xb]);
        frames.extend_from_slice(&[0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0]);
        for chunk in [1, 3, 9, 17, frames.len()] {
            let mut rewrite = GoAwayDebug::default();
            let mut out = Vec::new();
            for piece in frames.chunks(chunk) {
                rewrite.feed(piece, &mut out);
            }
            let mut want = frames[..13].to_vec();
            want.extend_from_slice(&[0, 0, 22, 7, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0xb]);
            want.extend_from_slice(b"too_many_pings");
            want.extend_from_slice(&frames[30..]);
            assert_eq!(out, want, "chunks of {chunk}");
        }
    }

    #[test]
    fn counts_pings_across_reads_but_not_their_acks() {
        let mut p = FrameParser::default();
        let mut bytes = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        bytes.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]); // empty SETTINGS
        bytes.extend_from_slice(&[0, 0, 8, 6, 0, 0, 0, 0, 0]); // PING
        bytes.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        bytes.extend_from_slice(&[0, 0, 8, 6, 1, 0, 0, 0, 0]); // PING ACK
        bytes.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        let total: usize = bytes.chunks(5).map(|c| p.feed(c)).sum();
        assert_eq!(total, 1);
    }
}
