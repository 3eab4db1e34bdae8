//! The TCP connect of one address: a socket2 socket with the [`Stage::BeforeConnect`] options
//! (and the hook) on it before the SYN, bound to the local address after them, connected
//! without blocking and handed to tokio. And the sequential dial, one address after another,
//! for when racing is off.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tracing::debug;

use super::attempt::{Ended, Tally};
use super::DialConfig;
use crate::deadline::within;
use crate::error::{ConnectError, Phase};
use crate::socket::{self, SocketPolicy, Stage};

/// Opens a socket for `addr`, applies the `BeforeConnect` options and the hook, binds the
/// local address, and starts the connect (the SYN is on its way when this returns). Await
/// [`established`] for the outcome.
pub(crate) fn open(
    cfg: &DialConfig,
    policy: &SocketPolicy,
    addr: SocketAddr,
) -> Result<TcpStream, ConnectError> {
    let err = || ConnectError::new(Phase::Connect).with_addr(addr);
    // socket2 opens the socket with SOCK_CLOEXEC where the platform has it; SOCK_NONBLOCK in the
    // same call saves the two fcntl calls of set_nonblocking (measured: about 1 % of a TLS set-up
    // on loopback, more of a plain connect).
    #[cfg(sock_nonblock)]
    let sock = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )
    .map_err(|e| err().with_source(e))?;
    #[cfg(not(sock_nonblock))]
    let sock = {
        let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
            .map_err(|e| err().with_source(e))?;
        sock.set_nonblocking(true)
            .map_err(|e| err().with_source(e))?;
        sock
    };
    socket::apply(policy, Stage::BeforeConnect, SockRef::from(&sock))
        .map_err(|e| ConnectError::socket(Stage::BeforeConnect, Phase::Connect, addr, e))?;
    // Bound after the hook, so that it can set what must precede bind(2): IP_FREEBIND,
    // SO_REUSEADDR, IP_BIND_ADDRESS_NO_PORT (which lets Linux pick the port at connect time,
    // per destination, instead of reserving one per local address).
    if let Some(local) = cfg.local.for_peer(addr) {
        sock.bind(&SocketAddr::new(local, 0).into())
            .map_err(|e| err().with_source(e))?;
    }
    match sock.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if in_progress(&e) => {}
        Err(e) => return Err(err().with_source(e)),
    }
    TcpStream::from_std(sock.into()).map_err(|e| err().with_source(e))
}

/// Whether a non-blocking `connect(2)` is under way rather than failed.
fn in_progress(e: &io::Error) -> bool {
    #[cfg(unix)]
    return e.raw_os_error() == Some(libc::EINPROGRESS);
    #[cfg(not(unix))]
    return e.kind() == io::ErrorKind::WouldBlock;
}

/// Waits until the connect started by [`open`] is established or has failed.
///
/// tokio's `TcpSocket::connect` asks the kernel with `getsockopt(SO_ERROR)` once the socket is
/// writable. The readiness event already says it: a failed connect also reports an error and
/// the write side closed (`EPOLLERR | EPOLLHUP` on Linux, `EV_EOF` with kqueue), a connected
/// socket only that it is writable. So `SO_ERROR` is read only on failure, for the cause: one
/// system call less per connection.
pub(crate) async fn established(
    stream: TcpStream,
    addr: SocketAddr,
) -> Result<TcpStream, ConnectError> {
    let err = || ConnectError::new(Phase::Connect).with_addr(addr);
    let ready = stream
        .ready(Interest::WRITABLE | Interest::ERROR)
        .await
        .map_err(|e| err().with_source(e))?;
    if ready.is_error() || ready.is_write_closed() {
        let cause = match stream.take_error() {
            Ok(Some(e)) | Err(e) => e,
            Ok(None) => io::Error::new(io::ErrorKind::NotConnected, "connect failed"),
        };
        return Err(err().with_source(cause));
    }
    Ok(stream)
}

/// One attempt from start to end, within `deadline`; `share` is the timeout reported if the
/// deadline passes.
async fn attempt(
    cfg: &DialConfig,
    policy: &SocketPolicy,
    addr: SocketAddr,
    deadline: Instant,
    share: Duration,
) -> Result<TcpStream, ConnectError> {
    let stream = open(cfg, policy, addr)?;
    match within(cfg.connect_timeout, deadline, established(stream, addr)).await {
        Some(result) => result,
        None => Err(ConnectError::new(Phase::Connect)
            .with_addr(addr)
            .timed_out(share)),
    }
}

/// Tries `addrs` in order until one connects or `deadline` passes: the dial without racing
/// (and the only one for a single address). Each attempt gets an equal share of the time
/// left, so one black-holed address cannot eat the whole budget of the ones after it
/// (hyper-util divides the timeout once, up front; re-dividing what is left gives a later
/// address the time an earlier fast failure did not use).
pub(crate) async fn sequential(
    cfg: &DialConfig,
    policy: &SocketPolicy,
    host: &str,
    addrs: &[SocketAddr],
    tally: &mut Tally,
    deadline: Instant,
) -> Result<(TcpStream, SocketAddr), Ended> {
    for (i, &addr) in addrs.iter().enumerate() {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let left = u32::try_from(addrs.len() - i).unwrap_or(u32::MAX);
        let share = (deadline - now) / left;
        let (index, started) = tally.begin_at(addr, now);
        match attempt(cfg, policy, addr, now + share, share).await {
            Ok(stream) => {
                tally.end(index, started, None);
                return Ok((stream, addr));
            }
            Err(err) => {
                // A socket option or hook can fail for one address family and not the other
                // (an IPv4-only option on an IPv6 socket), so the next address still gets its
                // turn.
                debug!(%addr, error = %err, host, "connect attempt failed");
                tally.end(index, started, Some(err));
            }
        }
    }
    Err(Ended::Failed {
        timed_out: Instant::now() >= deadline,
    })
}
