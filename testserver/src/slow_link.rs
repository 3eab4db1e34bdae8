//! A link with a round trip, on loopback: a relay that holds every byte, and the end of each
//! direction, for a fixed one-way delay before passing it on.
//!
//! Races between a server's close and a client's next request are as wide as the path's
//! one-way delay: about 50 µs on loopback, where they almost never happen, and tens of
//! milliseconds across a real network. The kernel's `netem` queueing discipline would delay
//! packets instead, but it is a module this kind of machine does not have; delaying at the
//! stream level is what such a race needs: a server's FIN (its EOF) reaches the client `delay`
//! late, and a request the client wrote meanwhile reaches the server `delay` late, after its
//! close.
//!
//! Not modelled: the TCP handshake (the client's connect completes at once), a reset (the
//! relay ends a direction with a FIN whether its source ended with a FIN or a reset), and
//! bandwidth.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// A relay on 127.0.0.1 to `upstream` that delays each direction by a fixed time. Every
/// accepted connection gets its own connection to `upstream`; dropping the link stops
/// accepting (connections already relayed run until either side ends).
#[derive(Debug)]
pub struct SlowLink {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl SlowLink {
    /// Starts relaying to `upstream` with `one_way` delay each way.
    pub async fn start(upstream: SocketAddr, one_way: Duration) -> io::Result<SlowLink> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(async move {
                    // The upstream refusing is the client's connection ending at once.
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::join!(
                        relay(client_read, server_write, one_way),
                        relay(server_read, client_write, one_way),
                    );
                });
            }
        });
        Ok(SlowLink { addr, task })
    }

    /// The address to connect to instead of the upstream's.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for SlowLink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One direction: what `from` gives is written to `to` `delay` after it was read; the end of
/// `from` (EOF or an error) becomes a FIN on `to`, `delay` late as well. A write that fails
/// (the far side is gone) ends the direction.
async fn relay(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, delay: Duration) {
    // Unbounded: the reader must never wait for the writer, or the delay would grow with
    // backpressure; tests send little.
    let (queue, mut due) = mpsc::unbounded_channel::<(Instant, Option<Bytes>)>();
    let read = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = from.read(&mut buf).await.unwrap_or(0);
            let at = Instant::now() + delay;
            let chunk = (n > 0).then(|| Bytes::copy_from_slice(&buf[..n]));
            let end = chunk.is_none();
            if queue.send((at, chunk)).is_err() || end {
                return;
            }
        }
    };
    let write = async move {
        while let Some((at, chunk)) = due.recv().await {
            tokio::time::sleep_until(at).await;
            match chunk {
                Some(bytes) => {
                    if to.write_all(&bytes).await.is_err() {
                        return;
                    }
                }
                None => {
                    let _ = to.shutdown().await;
                    return;
                }
            }
        }
    };
    tokio::join!(read, write);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes take `delay` each way, and the end of a direction (a FIN) too.
    #[tokio::test]
    async fn each_direction_and_its_end_arrive_late() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let upstream = listener.local_addr().unwrap();
        let delay = Duration::from_millis(60);
        let link = SlowLink::start(upstream, delay).await.unwrap();
        let mut client = TcpStream::connect(link.addr()).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();

        let sent = Instant::now();
        client.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        assert!(sent.elapsed() >= delay, "{:?}", sent.elapsed());

        let sent = Instant::now();
        server.write_all(b"pong").await.unwrap();
        drop(server);
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
        assert!(sent.elapsed() >= delay, "{:?}", sent.elapsed());
        // The server's close arrives after its bytes, not before.
        assert_eq!(client.read(&mut buf).await.unwrap(), 0, "EOF");
        assert!(sent.elapsed() >= delay);
    }
}
