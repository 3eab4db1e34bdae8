//! The TCP connect: one socket per attempted address, built with socket2 so that
//! [`Stage::BeforeConnect`] options are on it before the SYN, then connected by tokio.

use std::net::SocketAddr;
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;
use tracing::debug;

use super::DialConfig;
use crate::error::{ConnectError, NoAddress, Phase};
use crate::socket::{self, SocketPolicy, Stage};

/// Tries `addrs` in order until one connects or `deadline` passes. Each attempt gets an equal
/// share of the time left, so one black-holed address cannot eat the whole budget of the ones
/// after it (hyper-util divides the timeout once, up front; re-dividing what is left gives a
/// later address the time an earlier fast failure did not use).
///
/// Returns the stream, the address that accepted, and how many addresses were tried.
pub(crate) async fn connect(
    cfg: &DialConfig,
    policy: &SocketPolicy,
    host: &str,
    addrs: &[SocketAddr],
    deadline: Instant,
) -> Result<(TcpStream, SocketAddr, usize), ConnectError> {
    // A socket bound to an IPv4 address cannot reach an IPv6 peer and vice versa.
    let usable = |a: &&SocketAddr| cfg.local_address.is_none_or(|l| a.is_ipv4() == l.is_ipv4());
    let count = addrs.iter().filter(usable).count();
    if count == 0 {
        return Err(ConnectError::new(Phase::Connect)
            .with_host(host)
            .with_source(NoAddress::OfLocalFamily));
    }
    let mut last_err = None;
    for (i, &addr) in addrs.iter().filter(usable).enumerate() {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let left = u32::try_from(count - i).unwrap_or(u32::MAX);
        let share = (deadline - now) / left;
        match attempt(cfg, policy, addr, now + share, share).await {
            Ok(stream) => return Ok((stream, addr, i + 1)),
            Err(err) => {
                // A socket option or hook can fail for one address family and not the other
                // (an IPv4-only option on an IPv6 socket), so the next address still gets its
                // turn; when all fail, the last error is reported.
                let err = err.with_host(host);
                debug!(%addr, error = %err, "connect attempt failed");
                last_err = Some(err);
            }
        }
    }
    Err(last_err.unwrap_or_else(|| {
        ConnectError::new(Phase::Connect)
            .with_host(host)
            .timed_out(cfg.connect_timeout)
    }))
}

/// One attempt: a socket with the `BeforeConnect` options, connected to `addr` before
/// `deadline`; `share` is this attempt's part of the connect timeout, reported if it runs out.
async fn attempt(
    cfg: &DialConfig,
    policy: &SocketPolicy,
    addr: SocketAddr,
    deadline: Instant,
    share: Duration,
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
    if let Some(local) = cfg.local_address {
        sock.bind(&SocketAddr::new(local, 0).into())
            .map_err(|e| err().with_source(e))?;
    }
    socket::apply(policy, Stage::BeforeConnect, SockRef::from(&sock))
        .map_err(|e| ConnectError::socket(Stage::BeforeConnect, Phase::Connect, addr, e))?;
    let socket = TcpSocket::from_std_stream(sock.into());
    match tokio::time::timeout_at(deadline, socket.connect(addr)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(err().with_source(e)),
        Err(_elapsed) => Err(err().timed_out(share)),
    }
}
