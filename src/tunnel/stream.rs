//! [`TunnelStream`]: what the tunnel step hands on.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::proxy::forward::Forward;
use crate::tls::MaybeTls;

/// A stream that reaches the origin, as the tunnel step hands it on to the origin's TLS (or,
/// for plain `http://`, to the HTTP codec): the stream itself when direct or through a
/// `CONNECT` or SOCKS5 tunnel, TLS to an `https://` proxy over it, and, for an `http://`
/// origin forwarded by an HTTP proxy, a stream that rewrites each request head on its way
/// (the proxy's credentials added, the target's user info removed).
///
/// Returned by [`Connector::tunnel_handshake`](crate::Connector::tunnel_handshake); a tokio
/// [`AsyncRead`] and [`AsyncWrite`].
pub struct TunnelStream<IO> {
    inner: Forward<MaybeTls<IO>>,
}

impl<IO> TunnelStream<IO> {
    pub(crate) fn new(inner: Forward<MaybeTls<IO>>) -> Self {
        TunnelStream { inner }
    }

    /// The stream under the tunnel: the one handed to the tunnel step (to the proxy, or to the
    /// origin when direct).
    pub fn get_ref(&self) -> &IO {
        self.inner.get_ref().get_ref()
    }

    /// `true` when the stream goes to an HTTP proxy that forwards requests (a plain `http://`
    /// origin): requests over it must carry the absolute URI (`GET http://host/path`), and each
    /// head is rewritten on its way. `false` when it reaches the origin itself.
    pub fn is_forwarded(&self) -> bool {
        self.inner.is_forwarding()
    }
}

/// Never the bytes: a request head holds the target and the credentials.
impl<IO: fmt::Debug> fmt::Debug for TunnelStream<IO> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TunnelStream")
            .field("io", self.get_ref())
            .field(
                "proxy_tls",
                &matches!(self.inner.get_ref(), MaybeTls::Tls(_)),
            )
            .field("forwarded", &self.is_forwarded())
            .finish()
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for TunnelStream<IO> {
    #[inline]
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TunnelStream<IO> {
    #[inline]
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    #[inline]
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    #[inline]
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    #[inline]
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    #[inline]
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
