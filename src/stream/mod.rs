//! [`Conn`]: the connected stream handed to an HTTP codec, plain TCP or TLS.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::conn_state::{ConnHandle, ConnState, Management};
use crate::info::ConnectInfo;
use crate::tls::MaybeTls;
use crate::tunnel::TunnelStream;

mod h2_frames;
mod managed;

use managed::Managed;
pub(crate) use managed::SilentDrop;

/// A connection made by a [`Connector`](crate::Connector): plain TCP for `http://`, TLS for
/// `https://`.
///
/// Implements hyper's [`Read`](hyper::rt::Read) and [`Write`](hyper::rt::Write) for hyper's
/// codecs, tokio's [`AsyncRead`] and [`AsyncWrite`] for anything built on tokio (such as the
/// `h2` crate), and hyper-util's [`Connection`], whose `connected()` attaches the
/// [`ConnectInfo`] to every response and marks the connection HTTP/2 when ALPN chose `h2`.
#[derive(Debug)]
pub struct Conn {
    io: TokioIo<Watched>,
    info: ConnectInfo,
    h2: bool,
    forwarded: bool,
}

/// The transport, and what a connection made for a [`Client`](crate::Client) does besides
/// carrying its bytes (see `managed`); nothing else for every other connection.
#[derive(Debug)]
struct Watched {
    transport: Transport,
    managed: Option<Box<Managed>>,
}

/// The byte stream under a [`Conn`]: what the tunnel layer handed on (plain `http://`), or the
/// origin's TLS over it.
pub(crate) type Transport = MaybeTls<TunnelStream<TcpStream>>;

impl Transport {
    /// The TCP stream (to the origin, or to the proxy), under any TLS.
    pub(crate) fn tcp(&self) -> &TcpStream {
        self.get_ref().get_ref()
    }
}

impl Conn {
    pub(crate) fn new(transport: Transport, info: ConnectInfo, h2: bool) -> Self {
        // Only a plain `http://` origin is ever forwarded: TLS with the origin means a tunnel.
        let forwarded = match &transport {
            MaybeTls::Plain(tunneled) => tunneled.is_forwarded(),
            MaybeTls::Tls(_) => false,
        };
        Conn {
            io: TokioIo::new(Watched {
                transport,
                managed: None,
            }),
            info,
            h2,
            forwarded,
        }
    }

    /// Makes this a connection of a [`Client`](crate::Client): it shares a [`ConnState`] with
    /// the client (reachable from every response and failed request through hyper-util's
    /// `Connected`), retires itself when idle, and guards against silent drops.
    pub(crate) fn manage(mut self, management: Management) -> Self {
        let state = Arc::new(ConnState::new(self.h2, management));
        let configured = self.info.tcp_user_timeout();
        self.io.inner_mut().managed = Some(Box::new(Managed::new(state, configured)));
        self
    }

    /// The state shared with the client, for a managed connection.
    pub(crate) fn state(&self) -> Option<&Arc<ConnState>> {
        self.io.inner().managed.as_ref().map(|m| m.state())
    }

    /// What happened while this connection was made.
    pub fn info(&self) -> &ConnectInfo {
        &self.info
    }

    /// `true` when the connection speaks HTTP/2: ALPN chose `h2`, or `http2_only` was set for a
    /// plain `http://` connection (prior knowledge).
    pub fn is_h2(&self) -> bool {
        self.h2
    }

    /// `true` when the connection goes to an HTTP proxy that forwards requests (a plain
    /// `http://` origin through an `http://` or `https://` proxy): requests on it carry the
    /// absolute URI. hyper-util's `Client` learns this from `connected()`, and
    /// [`Conn::handshake`]'s `SendRequest` keeps such URIs absolute.
    pub fn is_forwarded(&self) -> bool {
        self.forwarded
    }

    /// The TCP stream underneath (to the proxy, when there is one), for socket options not
    /// covered by the connector.
    pub fn tcp(&self) -> &TcpStream {
        self.io.inner().transport.tcp()
    }

    /// The rustls connection state with the origin, for `https://` connections.
    pub fn tls(&self) -> Option<&rustls::ClientConnection> {
        match &self.io.inner().transport {
            MaybeTls::Plain(_) => None,
            MaybeTls::Tls(tls) => Some(tls.get_ref().1),
        }
    }
}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        let mut connected = Connected::new()
            .extra(self.info.clone())
            .proxy(self.forwarded);
        if let Some(state) = self.state() {
            connected = connected.extra(ConnHandle(Arc::clone(state)));
        }
        if self.h2 {
            connected.negotiated_h2()
        } else {
            connected
        }
    }
}

impl hyper::rt::Read for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        hyper::rt::Write::poll_write(Pin::new(&mut self.io), cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        hyper::rt::Write::poll_write_vectored(Pin::new(&mut self.io), cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        hyper::rt::Write::is_write_vectored(&self.io)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        hyper::rt::Write::poll_flush(Pin::new(&mut self.io), cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        hyper::rt::Write::poll_shutdown(Pin::new(&mut self.io), cx)
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let Watched { transport, managed } = self.get_mut();
        let Some(managed) = managed else {
            return Pin::new(transport).poll_read(cx, buf);
        };
        if managed.poll_retire(cx, transport.tcp()) {
            // End-of-file: hyper closes an idle connection the peer closed, and the pool drops
            // it. Nothing was written since it became idle (see `managed`).
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut *transport).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                managed.on_read(&buf.filled()[before..], transport.tcp());
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(managed.map_error(e))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Watched {
    /// Runs a write through the managed hooks: `len` is what the caller wants written.
    fn watch_write(
        &mut self,
        len: usize,
        write: impl FnOnce(Pin<&mut Transport>) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        let Watched { transport, managed } = self;
        let Some(managed) = managed else {
            return write(Pin::new(transport));
        };
        if managed.is_retired() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the connection retired while idle",
            )));
        }
        if len > 0 {
            managed.before_write(transport.tcp());
        }
        match write(Pin::new(&mut *transport)) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    managed.after_write();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(managed.map_error(e))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn watch<T>(&self, result: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match (result, &self.managed) {
            (Poll::Ready(Err(e)), Some(managed)) => Poll::Ready(Err(managed.map_error(e))),
            (result, _) => result,
        }
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .watch_write(buf.len(), |t| t.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let len = bufs.iter().map(|b| b.len()).sum();
        self.get_mut()
            .watch_write(len, |t| t.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.transport.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.transport).poll_flush(cx);
        this.watch(result)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.transport).poll_shutdown(cx);
        this.watch(result)
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(self.io.inner_mut()).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.io.inner_mut()).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.io.inner_mut()).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.inner().is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.io.inner_mut()).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.io.inner_mut()).poll_shutdown(cx)
    }
}

#[cfg(all(test, tcp_user_timeout))]
mod tests;
