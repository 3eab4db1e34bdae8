//! [`MaybeTls`]: a stream, or TLS over it. What the secure layer makes of a stream, twice on a
//! connection through an `https://` proxy: the tunnel layer's TLS with the proxy, and the
//! origin's TLS over what the tunnel hands on. Shared by the tunnel layer and [`Conn`](crate::Conn),
//! so it lives in neither's file.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::client::TlsStream;

/// A stream, or TLS over it.
#[derive(Debug)]
pub(crate) enum MaybeTls<IO> {
    /// The stream itself.
    Plain(IO),
    /// TLS over it.
    Tls(Box<TlsStream<IO>>),
}

impl<IO> MaybeTls<IO> {
    /// The stream under any TLS.
    pub(crate) fn get_ref(&self) -> &IO {
        match self {
            MaybeTls::Plain(io) => io,
            MaybeTls::Tls(tls) => tls.get_ref().0,
        }
    }
}

/// Dispatches to the plain or TLS stream: two distinct types, and an enum keeps every read and
/// write free of a boxed trait object.
macro_rules! dispatch {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            MaybeTls::Plain($s) => {
                let $s = Pin::new($s);
                $e
            }
            MaybeTls::Tls($s) => {
                let $s = Pin::new(&mut **$s);
                $e
            }
        }
    };
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for MaybeTls<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        dispatch!(self, s => s.poll_read(cx, buf))
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for MaybeTls<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        dispatch!(self, s => s.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        dispatch!(self, s => s.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            MaybeTls::Plain(s) => s.is_write_vectored(),
            MaybeTls::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        dispatch!(self, s => s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        dispatch!(self, s => s.poll_shutdown(cx))
    }
}
