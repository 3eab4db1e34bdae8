//! Forwarding through an HTTP proxy: `http://` origins' requests go to the proxy in absolute
//! form (RFC 9112 §3.2.2), as the HTTP codec writes them, each request head rewritten on its
//! way by [`Forward`]:
//!
//! - the user info of the request target is dropped (`GET http://user:pw@host/` becomes
//!   `GET http://host/`: RFC 9110 §4.2.4 forbids it there, and it would reach the proxy and
//!   its logs), and so is any in a `Host` header;
//! - the proxy's credentials are added as `Proxy-Authorization`, on every request (Basic
//!   authentication is per request), unless the request has its own.
//!
//! A connector cannot add headers to the requests of hyper-util's `Client` (nor change their
//! target), so the rewriting happens on the bytes: the stream finds each request head, and
//! the end of its body from `Content-Length` or the chunked framing, to find the next. After a
//! request that asks to leave HTTP (`CONNECT`, `Upgrade`), the proxy's answer is read: once it
//! accepts (2xx to `CONNECT`, 101), the rest of the connection passes unchanged.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::HeaderValue;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The longest request head rewritten (hyper's own limit on a response head is ~400 KiB; a
/// request's is what the caller wrote, so a bound is needed here).
const MAX_HEAD: usize = 256 * 1024;
/// The most header lines in a request head.
const MAX_HEADERS: usize = 256;
/// The longest response head watched for (after a `CONNECT` or `Upgrade` request).
const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// A stream that rewrites request heads for a forwarding proxy, or (`rewriter: None`, any
/// other connection) passes everything through unchanged.
pub(crate) struct Forward<IO> {
    io: IO,
    rewriter: Option<Box<Rewriter>>,
}

impl<IO> Forward<IO> {
    /// `io` unchanged.
    pub(crate) fn plain(io: IO) -> Self {
        Forward { io, rewriter: None }
    }

    /// `io` to a forwarding proxy, with `auth` (a `Proxy-Authorization` value) added to every
    /// request.
    pub(crate) fn forwarding(io: IO, auth: Option<HeaderValue>) -> Self {
        Forward {
            io,
            rewriter: Some(Box::new(Rewriter::new(auth))),
        }
    }

    /// The stream underneath.
    pub(crate) fn get_ref(&self) -> &IO {
        &self.io
    }

    /// `true` when request heads are rewritten for a forwarding proxy.
    pub(crate) fn is_forwarding(&self) -> bool {
        self.rewriter.is_some()
    }
}

/// Never the bytes: a request head holds the target and the credentials.
impl<IO: fmt::Debug> fmt::Debug for Forward<IO> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Forward")
            .field("io", &self.io)
            .field("forwarding", &self.rewriter.is_some())
            .finish()
    }
}

/// Where the write side is in the stream of requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Writing {
    /// In a request head (or before one).
    Head,
    /// In a body of this many more bytes.
    Body(u64),
    /// In a chunked body.
    Chunked(Chunked),
    /// Past a request that left HTTP (its `CONNECT` or `Upgrade` accepted): unchanged.
    Opaque,
}

/// What a request that asks to leave HTTP waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leaving {
    No,
    /// `CONNECT`: a 2xx opens a tunnel.
    Connect,
    /// `Upgrade`: a 101 switches protocols.
    Upgrade,
}

struct Rewriter {
    auth: Option<HeaderValue>,
    writing: Writing,
    /// The request head being collected.
    head: Vec<u8>,
    /// Rewritten bytes not yet written, from `out_pos`.
    out: Vec<u8>,
    out_pos: usize,
    /// A request waits to leave HTTP: the answer's head so far.
    leaving: Leaving,
    response: Vec<u8>,
}

impl Rewriter {
    fn new(auth: Option<HeaderValue>) -> Rewriter {
        Rewriter {
            auth,
            writing: Writing::Head,
            head: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            leaving: Leaving::No,
            response: Vec::new(),
        }
    }

    /// Writes what is pending of a rewritten head.
    fn drain<IO: AsyncWrite + Unpin>(
        &mut self,
        io: &mut IO,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        while self.out_pos < self.out.len() {
            let n = ready!(Pin::new(&mut *io).poll_write(cx, &self.out[self.out_pos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out_pos += n;
        }
        self.out.clear();
        self.out_pos = 0;
        Poll::Ready(Ok(()))
    }

    /// Takes head bytes from `buf`: how many belong to the head. Once the head is complete it
    /// is rewritten into `out`, and the state moves on to its body.
    fn take_head(&mut self, buf: &[u8]) -> io::Result<usize> {
        let old = self.head.len();
        let room = MAX_HEAD.saturating_sub(old).max(1);
        self.head.extend_from_slice(&buf[..buf.len().min(room)]);
        let from = old.saturating_sub(3);
        let Some(end) = find(&self.head[from..], b"\r\n\r\n").map(|i| from + i + 4) else {
            if self.head.len() >= MAX_HEAD {
                return Err(invalid("request head longer than 256 KiB"));
            }
            return Ok(self.head.len() - old);
        };
        self.head.truncate(end);
        let head = std::mem::take(&mut self.head);
        self.rewrite(&head)?;
        Ok(end - old)
    }

    /// Rewrites one complete request head into `out` and sets what follows it.
    fn rewrite(&mut self, head: &[u8]) -> io::Result<()> {
        let mut headers = vec![httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(head) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) | Err(_) => {
                return Err(invalid("not an HTTP/1 request head"))
            }
        }
        let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version)
        else {
            return Err(invalid("not an HTTP/1 request head"));
        };
        self.out.extend_from_slice(method.as_bytes());
        self.out.push(b' ');
        self.out
            .extend_from_slice(without_user_info(target).as_bytes());
        self.out.extend_from_slice(if version == 0 {
            b" HTTP/1.0\r\n"
        } else {
            b" HTTP/1.1\r\n"
        });
        let has = |name: &str| {
            req.headers
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case(name))
        };
        if let Some(auth) = &self.auth {
            if !has("proxy-authorization") {
                self.out.extend_from_slice(b"Proxy-Authorization: ");
                self.out.extend_from_slice(auth.as_bytes());
                self.out.extend_from_slice(b"\r\n");
            }
        }
        let mut length = None;
        let mut chunked = false;
        for h in req.headers.iter() {
            let value = if h.name.eq_ignore_ascii_case("host") {
                // `user:pw@host` is no host; the authority's host is what follows the `@`.
                match h.value.iter().rposition(|&b| b == b'@') {
                    Some(at) => &h.value[at + 1..],
                    None => h.value,
                }
            } else {
                h.value
            };
            if h.name.eq_ignore_ascii_case("content-length") {
                let n = std::str::from_utf8(value)
                    .ok()
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .ok_or_else(|| invalid("bad Content-Length"))?;
                if length.is_some_and(|l| l != n) {
                    return Err(invalid("conflicting Content-Length headers"));
                }
                length = Some(n);
            }
            if h.name.eq_ignore_ascii_case("transfer-encoding") {
                // The last coding decides (RFC 9112 §6.3): a request whose last coding is not
                // chunked has no knowable end, and a server must refuse it.
                let last = value.rsplit(|&b| b == b',').next().unwrap_or_default();
                if !last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                    return Err(invalid("a request body whose last coding is not chunked"));
                }
                chunked = true;
            }
            self.out.extend_from_slice(h.name.as_bytes());
            self.out.extend_from_slice(b": ");
            self.out.extend_from_slice(value);
            self.out.extend_from_slice(b"\r\n");
        }
        self.out.extend_from_slice(b"\r\n");
        // Chunked wins over a Content-Length (RFC 9112 §6.3); neither: no body.
        self.writing = match (chunked, length) {
            (true, _) => Writing::Chunked(Chunked::Size { digits: 0, size: 0 }),
            (false, Some(0) | None) => Writing::Head,
            (false, Some(n)) => Writing::Body(n),
        };
        self.leaving = if method.eq_ignore_ascii_case("CONNECT") {
            Leaving::Connect
        } else if has("upgrade") {
            Leaving::Upgrade
        } else {
            Leaving::No
        };
        Ok(())
    }

    /// Watches `read` (bytes just read) for the answer to a request that asked to leave HTTP.
    fn watch(&mut self, read: &[u8]) {
        if self.leaving == Leaving::No || read.is_empty() {
            return;
        }
        self.response.extend_from_slice(read);
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut resp = httparse::Response::new(&mut headers);
            let (len, code) = match resp.parse(&self.response) {
                Ok(httparse::Status::Complete(len)) => (len, resp.code.unwrap_or(0)),
                Ok(httparse::Status::Partial) if self.response.len() < MAX_RESPONSE_HEAD => return,
                // Not an answer this stream can read: HTTP goes on as written.
                _ => return self.stop_watching(),
            };
            let left = match (self.leaving, code) {
                (Leaving::Upgrade, 101) | (Leaving::Connect, 200..=299) => true,
                // An interim answer (100 Continue): the final one follows.
                (_, 100..=199) => {
                    self.response.drain(..len);
                    continue;
                }
                _ => false,
            };
            if left {
                self.writing = Writing::Opaque;
            }
            return self.stop_watching();
        }
    }

    fn stop_watching(&mut self) {
        self.leaving = Leaving::No;
        self.response = Vec::new();
    }
}

/// The chunked framing of a request body (RFC 9112 §7.1), followed byte by byte to find where
/// the body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunked {
    /// In a chunk-size line: how many hex digits so far, and the size.
    Size {
        digits: u8,
        size: u64,
    },
    /// In a chunk extension, up to the line's end.
    Extension {
        size: u64,
    },
    /// After the size line's CR.
    SizeLf {
        size: u64,
    },
    /// In chunk data: this many bytes left.
    Data(u64),
    /// After the data: its CR, then LF.
    DataCr,
    DataLf,
    /// After the last chunk: at the start of a trailer line, or inside one.
    TrailerStart,
    Trailer,
    /// The CR of the empty line that ends the body.
    EndLf,
    Done,
}

impl Chunked {
    /// Follows `bytes`; how many of them belong to the body (all, unless it ends within them).
    fn advance(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let bad = || invalid("bad chunked framing in a request body");
        let mut i = 0;
        while i < bytes.len() && *self != Chunked::Done {
            let b = bytes[i];
            *self = match *self {
                Chunked::Data(n) => {
                    let take = (bytes.len() - i).min(usize::try_from(n).unwrap_or(usize::MAX));
                    i += take;
                    let left = n - take as u64;
                    *self = if left == 0 {
                        Chunked::DataCr
                    } else {
                        Chunked::Data(left)
                    };
                    continue;
                }
                Chunked::Size { digits, size } => match (b as char).to_digit(16) {
                    Some(d) if digits < 16 => Chunked::Size {
                        digits: digits + 1,
                        size: size * 16 + u64::from(d),
                    },
                    None if digits > 0 && matches!(b, b';' | b' ' | b'\t') => {
                        Chunked::Extension { size }
                    }
                    None if digits > 0 && b == b'\r' => Chunked::SizeLf { size },
                    _ => return Err(bad()),
                },
                Chunked::Extension { size } => match b {
                    b'\r' => Chunked::SizeLf { size },
                    _ => Chunked::Extension { size },
                },
                Chunked::SizeLf { size } => match (b, size) {
                    (b'\n', 0) => Chunked::TrailerStart,
                    (b'\n', size) => Chunked::Data(size),
                    _ => return Err(bad()),
                },
                Chunked::DataCr if b == b'\r' => Chunked::DataLf,
                Chunked::DataLf if b == b'\n' => Chunked::Size { digits: 0, size: 0 },
                Chunked::TrailerStart if b == b'\r' => Chunked::EndLf,
                Chunked::TrailerStart | Chunked::Trailer => match b {
                    b'\n' => Chunked::TrailerStart,
                    _ => Chunked::Trailer,
                },
                Chunked::EndLf if b == b'\n' => Chunked::Done,
                _ => return Err(bad()),
            };
            i += 1;
        }
        Ok(i)
    }
}

/// `scheme://user:pw@host/path` → `scheme://host/path`; anything else as it is.
fn without_user_info(target: &str) -> std::borrow::Cow<'_, str> {
    let Some((scheme, rest)) = target.split_once("://") else {
        return target.into();
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]).into(),
        None => target.into(),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn invalid(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what)
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Forward<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let Some(rw) = this.rewriter.as_deref_mut() else {
            return Pin::new(&mut this.io).poll_write(cx, buf);
        };
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        ready!(rw.drain(&mut this.io, cx))?;
        let io = Pin::new(&mut this.io);
        match rw.writing {
            Writing::Opaque => io.poll_write(cx, buf),
            Writing::Body(left) => {
                let take = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                let n = ready!(io.poll_write(cx, &buf[..take]))?;
                rw.writing = match left - n as u64 {
                    0 => Writing::Head,
                    left => Writing::Body(left),
                };
                Poll::Ready(Ok(n))
            }
            Writing::Chunked(framing) => {
                // What of `buf` belongs to this body, then follow what was written.
                let mut probe = framing;
                let take = probe.advance(buf)?;
                let n = ready!(io.poll_write(cx, &buf[..take]))?;
                let mut framing = framing;
                framing.advance(&buf[..n])?;
                rw.writing = match framing {
                    Chunked::Done => Writing::Head,
                    framing => Writing::Chunked(framing),
                };
                Poll::Ready(Ok(n))
            }
            Writing::Head => {
                let n = rw.take_head(buf)?;
                // The head may go out now or at the next write or flush; the bytes are taken.
                if let Poll::Ready(Err(e)) = rw.drain(&mut this.io, cx) {
                    return Poll::Ready(Err(e));
                }
                Poll::Ready(Ok(n))
            }
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match this.rewriter {
            None => Pin::new(&mut this.io).poll_write_vectored(cx, bufs),
            Some(_) => {
                let buf = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| b);
                Pin::new(this).poll_write(cx, buf)
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        // Rewriting takes one buffer at a time (hyper then flattens its writes).
        self.rewriter.is_none() && self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(rw) = this.rewriter.as_deref_mut() {
            ready!(rw.drain(&mut this.io, cx))?;
        }
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(rw) = this.rewriter.as_deref_mut() {
            ready!(rw.drain(&mut this.io, cx))?;
        }
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Forward<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        if let Some(rw) = this.rewriter.as_deref_mut() {
            rw.watch(&buf.filled()[before..]);
        }
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A peer that takes at most `max` bytes per write and hands out `to_read` when read.
    #[derive(Debug, Default)]
    struct Peer {
        written: Vec<u8>,
        max: usize,
        to_read: Vec<u8>,
    }

    impl AsyncWrite for Peer {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let n = buf.len().min(self.max);
            self.written.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }
        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncRead for Peer {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let n = buf.remaining().min(self.to_read.len());
            let bytes: Vec<u8> = self.to_read.drain(..n).collect();
            buf.put_slice(&bytes);
            Poll::Ready(Ok(()))
        }
    }

    /// Writes `input` through a forwarding stream in pieces of `piece` bytes to a peer taking
    /// `max` bytes per write; what the peer received.
    async fn through(input: &[u8], piece: usize, max: usize) -> io::Result<Vec<u8>> {
        let auth = HeaderValue::from_static("Basic dTpw");
        let peer = Peer {
            max,
            ..Peer::default()
        };
        let mut fwd = Forward::forwarding(peer, Some(auth));
        for chunk in input.chunks(piece) {
            fwd.write_all(chunk).await?;
        }
        fwd.flush().await?;
        Ok(fwd.io.written)
    }

    const REQUESTS: &[u8] = b"GET http://bob:s3cret@example.com:8080/a?b@c HTTP/1.1\r\n\
        host: example.com:8080\r\n\r\n\
        POST http://example.com/echo HTTP/1.1\r\ncontent-length: 5\r\n\r\nhello\
        POST http://u@example.com/ HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n\
        5;ext=1\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nx-trailer: 1\r\n\r\n\
        GET http://example.com/last HTTP/1.1\r\nhost: bob:s3cret@example.com\r\n\r\n";

    const FORWARDED: &[u8] = b"GET http://example.com:8080/a?b@c HTTP/1.1\r\n\
        Proxy-Authorization: Basic dTpw\r\nhost: example.com:8080\r\n\r\n\
        POST http://example.com/echo HTTP/1.1\r\nProxy-Authorization: Basic dTpw\r\n\
        content-length: 5\r\n\r\nhello\
        POST http://example.com/ HTTP/1.1\r\nProxy-Authorization: Basic dTpw\r\n\
        transfer-encoding: chunked\r\n\r\n\
        5;ext=1\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nx-trailer: 1\r\n\r\n\
        GET http://example.com/last HTTP/1.1\r\nProxy-Authorization: Basic dTpw\r\n\
        host: example.com\r\n\r\n";

    #[tokio::test]
    async fn every_request_gets_the_credentials_and_loses_the_user_info() {
        // However the writes are cut, and however little the peer takes at a time.
        for piece in [1, 2, 3, 7, 64, REQUESTS.len()] {
            for max in [1, 5, 4096] {
                let out = through(REQUESTS, piece, max).await.unwrap();
                assert_eq!(
                    String::from_utf8_lossy(&out),
                    String::from_utf8_lossy(FORWARDED),
                    "pieces of {piece}, peer taking {max}"
                );
            }
        }
    }

    #[tokio::test]
    async fn a_requests_own_proxy_authorization_is_kept_alone() {
        let input = b"GET http://h/ HTTP/1.1\r\nProxy-Authorization: Basic b3duOm9uZQ==\r\n\r\n";
        let out = through(input, 4096, 4096).await.unwrap();
        assert_eq!(out, input);
    }

    #[tokio::test]
    async fn what_is_not_http_is_refused_not_passed_on() {
        for input in [
            &b"\x16\x03\x01 not http\r\n\r\n"[..],
            b"POST http://h/ HTTP/1.1\r\ncontent-length: x\r\n\r\n",
            b"POST http://h/ HTTP/1.1\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
            b"POST http://h/ HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
            b"POST http://h/ HTTP/1.1\r\ntransfer-encoding: chunked, gzip\r\n\r\n",
        ] {
            let err = through(input, 4096, 4096).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        }
        let huge = [
            b"GET http://h/ HTTP/1.1\r\nx: ".as_slice(),
            &[b'a'; MAX_HEAD],
        ]
        .concat();
        assert!(through(&huge, 4096, 4096).await.is_err());
    }

    /// After the proxy accepts a `CONNECT` (2xx) or an `Upgrade` (101), the bytes belong to
    /// another protocol and pass unchanged; after a refusal, HTTP goes on and is rewritten.
    #[tokio::test]
    async fn a_connection_that_leaves_http_passes_unchanged() {
        let later = b"GET http://u:p@h/ HTTP/1.1\r\n\r\n";
        for (request, answer, leaves) in [
            (
                &b"CONNECT h:443 HTTP/1.1\r\nhost: h:443\r\n\r\n"[..],
                &b"HTTP/1.1 200 Connection established\r\n\r\n"[..],
                true,
            ),
            (
                b"GET http://h/ws HTTP/1.1\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n",
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 Switching Protocols\r\n\r\n",
                true,
            ),
            (
                b"GET http://h/ws HTTP/1.1\r\nupgrade: websocket\r\n\r\n",
                b"HTTP/1.1 426 Upgrade Required\r\ncontent-length: 0\r\n\r\n",
                false,
            ),
        ] {
            let peer = Peer {
                max: 4096,
                to_read: answer.to_vec(),
                ..Peer::default()
            };
            let mut fwd = Forward::forwarding(peer, None);
            fwd.write_all(request).await.unwrap();
            let mut got = vec![0; answer.len()];
            fwd.read_exact(&mut got).await.unwrap();
            fwd.write_all(later).await.unwrap();
            fwd.flush().await.unwrap();
            let written = String::from_utf8_lossy(&fwd.io.written).into_owned();
            assert_eq!(
                written.ends_with("GET http://u:p@h/ HTTP/1.1\r\n\r\n"),
                leaves,
                "{written}"
            );
            assert_eq!(
                written.ends_with("GET http://h/ HTTP/1.1\r\n\r\n"),
                !leaves,
                "{written}"
            );
        }
    }

    #[test]
    fn debug_shows_no_bytes() {
        let mut fwd = Forward::forwarding(Peer::default(), None);
        let rw = fwd.rewriter.as_deref_mut().unwrap();
        rw.head.extend_from_slice(b"GET http://u:s3cret@h/");
        let shown = format!("{fwd:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
