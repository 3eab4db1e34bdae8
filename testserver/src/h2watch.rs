//! An HTTP/2 server (the `h2` crate, over TLS with ALPN `h2`) that watches the client's PING
//! frames: when they arrive, and optionally answers the first one as a gRPC server answers a
//! client that pings too often, with `GOAWAY ENHANCE_YOUR_CALM`. For the liveness tests.
//!
//! `/stream` answers `first chunk\n` and then stays open and quiet; every other path answers
//! `hello` and ends.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
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
}

#[derive(Debug, Default)]
struct Seen {
    pings: Mutex<Vec<Instant>>,
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
                state.connections.fetch_add(1, Ordering::SeqCst);
                let (acceptor, state) = (acceptor.clone(), Arc::clone(&state));
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    serve(tls, state, on_ping).await;
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
        self.seen
            .pings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
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

async fn serve<IO>(io: IO, seen: Arc<Seen>, on_ping: OnPing)
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let pinged = Arc::new(Notify::new());
    let watched = Watch {
        io,
        parser: FrameParser::default(),
        seen: Arc::clone(&seen),
        pinged: Arc::clone(&pinged),
    };
    let Ok(mut conn) = h2::server::handshake(watched).await else {
        return;
    };
    let mut open_streams = Vec::new();
    loop {
        tokio::select! {
            accepted = conn.accept() => {
                let Some(Ok((req, mut respond))) = accepted else { return };
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
            () = pinged.notified(), if on_ping == OnPing::GoAway => {
                conn.abrupt_shutdown(h2::Reason::ENHANCE_YOUR_CALM);
                // Drive the connection until the GOAWAY is out and the client closes.
                while let Some(Ok(_)) = conn.accept().await {}
                return;
            }
        }
    }
}

/// The server's stream, with the client's frames parsed on the way in.
struct Watch<IO> {
    io: IO,
    parser: FrameParser,
    seen: Arc<Seen>,
    pinged: Arc<Notify>,
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
                seen.extend(std::iter::repeat_n(now, pings));
                this.pinged.notify_one();
            }
        }
        polled
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watch<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
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
    use super::FrameParser;

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
