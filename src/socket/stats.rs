//! [`TcpStats`]: what the kernel knows about a connection's data in flight, read on demand.
//! It tells a request the peer never acknowledged (the path lost it: a middlebox that forgot
//! the flow) from one it acknowledged but has not answered (a slow server).

use std::io;

use socket2::SockRef;

use super::sys;
use crate::stream::Conn;

/// The kernel's view of one TCP connection's progress at one moment: bytes written but not
/// yet acknowledged by the peer, retransmissions, keepalive probes, and whether the peer has
/// closed its side. Read with [`TcpStats::read`] or [`Conn::tcp_stats`].
///
/// Where it comes from: on Linux and Android the kernel's table of TCP sockets
/// (`/proc/self/net/tcp` and `tcp6`, the counters `ss` and `netstat` show), found by the
/// socket's inode. Elsewhere nothing reports it: [`TcpStats::read`] returns `Ok(None)`, and
/// [`TcpStats::supported`] is `false`. (`getsockopt(TCP_INFO)` carries the same counters, but
/// this crate forbids `unsafe` code and no maintained crate reads it safely.)
///
/// ```no_run
/// # async fn demo(conn: keepalive_connector::Conn) -> std::io::Result<()> {
/// // After writing a request that got no answer:
/// match conn.tcp_stats()? {
///     Some(s) if s.unacked_bytes() > 0 && s.retransmits() > 0 => {
///         println!("never acknowledged: the path dropped it");
///     }
///     Some(_) => println!("acknowledged: the peer has it"),
///     None => println!("this OS cannot tell"),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TcpStats {
    pub(crate) state: TcpState,
    pub(crate) unacked_bytes: u64,
    pub(crate) unread_bytes: u64,
    pub(crate) retransmits: u32,
    pub(crate) keepalive_probes: u32,
}

/// The TCP state of a connection, as far as [`TcpStats`] distinguishes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TcpState {
    /// Open both ways.
    Established,
    /// The peer has sent its FIN (`CLOSE_WAIT`, or later closing states after one).
    PeerClosed,
    /// This side has closed and the peer has not (`FIN_WAIT1`, `FIN_WAIT2`).
    Closing,
    /// Any other state (connecting, listening, closed).
    Other,
}

impl TcpStats {
    /// Reads the counters of the TCP socket `sock` from the kernel. `Ok(None)` where this OS
    /// cannot report them ([`supported`](TcpStats::supported) is `false`), or when the kernel
    /// no longer lists the connection (closed, e.g. after a reset).
    pub fn read(sock: SockRef<'_>) -> io::Result<Option<TcpStats>> {
        sys::tcp_stats(&sock)
    }

    /// `true` where [`read`](TcpStats::read) can report (Linux, Android).
    pub const fn supported() -> bool {
        sys::TCP_STATS
    }

    /// The connection's state.
    pub fn state(&self) -> TcpState {
        self.state
    }

    /// Bytes written to the socket that the peer has not acknowledged yet, including any not
    /// sent yet (Linux: `write_seq - snd_una`, the `tx_queue` of `/proc/net/tcp`). Zero once
    /// everything written has reached the peer's kernel.
    pub fn unacked_bytes(&self) -> u64 {
        self.unacked_bytes
    }

    /// Bytes received that the application has not read yet (`rx_queue`).
    pub fn unread_bytes(&self) -> u64 {
        self.unread_bytes
    }

    /// Retransmission timeouts in a row of the oldest unacknowledged segment (Linux:
    /// `icsk_retransmits`); back to 0 once the peer acknowledges. Data unacknowledged after
    /// several of them has not reached the peer.
    pub fn retransmits(&self) -> u32 {
        self.retransmits
    }

    /// Keepalive (or zero-window) probes in a row the peer has not answered (Linux:
    /// `icsk_probes_out`).
    pub fn keepalive_probes(&self) -> u32 {
        self.keepalive_probes
    }
}

impl Conn {
    /// [`TcpStats`] of the TCP connection underneath (to the proxy, when there is one: then
    /// an acknowledgement is the proxy's).
    pub fn tcp_stats(&self) -> io::Result<Option<TcpStats>> {
        TcpStats::read(SockRef::from(self.tcp()))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::time::{Duration, Instant};

    use super::*;

    /// Reads `stream`'s stats until `done` holds (the peer's kernel answers within
    /// microseconds on loopback; the bound only keeps a broken kernel from hanging the test).
    fn until(stream: &TcpStream, done: impl Fn(&TcpStats) -> bool) -> TcpStats {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let stats = TcpStats::read(SockRef::from(stream))
                .expect("reading the stats of a live socket")
                .expect("this OS reports them");
            if done(&stats) {
                return stats;
            }
            assert!(Instant::now() < deadline, "never reached: {stats:?}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_loopback_connection_reads_back() {
        for ip in ["127.0.0.1", "::1"] {
            let Ok(listener) = TcpListener::bind((ip, 0)) else {
                // No IPv6 on this host: nothing to read there.
                continue;
            };
            let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (mut server, _) = listener.accept().unwrap();
            if !TcpStats::supported() {
                assert_eq!(TcpStats::read(SockRef::from(&client)).unwrap(), None);
                return;
            }
            client.write_all(&[7; 100]).unwrap();
            // Unread by the server, but acknowledged by its kernel.
            let stats = until(&client, |s| s.unacked_bytes() == 0);
            assert_eq!(stats.state(), TcpState::Established, "{ip}");
            assert_eq!(stats.retransmits(), 0);
            assert_eq!(stats.keepalive_probes(), 0);
            assert_eq!(
                until(&server, |s| s.unread_bytes() == 100).unacked_bytes(),
                0
            );
            server.write_all(b"answer").unwrap();
            until(&client, |s| s.unread_bytes() == 6);
            server.shutdown(Shutdown::Write).unwrap();
            until(&client, |s| s.state() == TcpState::PeerClosed);
            assert_eq!(until(&server, |_| true).state(), TcpState::Closing, "{ip}");
        }
    }
}
