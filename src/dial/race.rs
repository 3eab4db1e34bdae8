//! Happy Eyeballs v2 (RFC 8305): the addresses of a name, interleaved by family, connected
//! to in a staggered race while the lookup may still be answering.
//!
//! - **Order** (§4): the family of the first address first (with per-family lookups: IPv6 if
//!   its answer is in, IPv4 otherwise), then the families alternate; addresses that arrive
//!   later join their family's queue.
//! - **Resolution delay** (§3): when the A answer comes first, connecting waits up to
//!   [`RESOLUTION_DELAY`] for the AAAA answer.
//! - **Connection attempt delay** (§5): the next attempt starts when the running one has had
//!   `happy_eyeballs_delay` to connect, or at once when an attempt fails; earlier attempts keep
//!   running. The first to connect wins and every other socket is closed at once (dropped:
//!   nothing is left in SYN-SENT).
//! - **Timeout**: the connect timeout is one deadline for the lookup and the whole race; each
//!   attempt may run until it.

use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::{sleep_until, Instant};
use tracing::debug;

use super::attempt::{Ended, Tally};
use super::dns::Family;
use super::lookup::Lookup;
use super::queue::Queue;
use super::{tcp, DialConfig};
use crate::error::{ConnectError, Phase};
use crate::socket::SocketPolicy;

/// How long to wait for the AAAA answer after the A answer (RFC 8305 §3's recommended value).
pub(crate) const RESOLUTION_DELAY: Duration = Duration::from_millis(50);

/// An attempt under way.
struct Running {
    index: usize,
    started: Instant,
    addr: SocketAddr,
    connecting: Pin<Box<dyn Future<Output = Result<TcpStream, ConnectError>> + Send>>,
}

/// Polls every running attempt; the position and result of one that finished.
fn poll_any(
    running: &mut [Running],
    cx: &mut Context<'_>,
) -> Poll<(usize, Result<TcpStream, ConnectError>)> {
    for (pos, r) in running.iter_mut().enumerate() {
        if let Poll::Ready(result) = r.connecting.as_mut().poll(cx) {
            return Poll::Ready((pos, result));
        }
    }
    Poll::Pending
}

/// Races the addresses `lookup` answers with until one connects or `deadline` passes,
/// recording every attempt in `tally`.
pub(crate) async fn race(
    cfg: &DialConfig,
    policy: &SocketPolicy,
    host: &str,
    lookup: &mut Lookup,
    tally: &mut Tally,
    deadline: Instant,
) -> Result<(TcpStream, SocketAddr), Ended> {
    let mut queue = Queue::new(&cfg.local, true);
    let mut running: Vec<Running> = Vec::new();
    // May the next attempt start as soon as there is an address?
    let mut start_now = false;
    // When the connection attempt delay since the last start runs out.
    let mut next_start: Option<Instant> = None;
    // When the resolution delay (A answered, AAAA not yet) runs out.
    let mut resolution_delay: Option<Instant> = None;
    loop {
        while start_now {
            let Some(addr) = queue.pop() else { break };
            start_now = false;
            let (index, started) = tally.begin(addr);
            match tcp::open(cfg, policy, addr) {
                Ok(stream) => {
                    running.push(Running {
                        index,
                        started,
                        addr,
                        connecting: Box::pin(tcp::established(stream, addr)),
                    });
                    next_start = Some(started + cfg.happy_eyeballs_delay);
                }
                Err(err) => {
                    debug!(%addr, error = %err, host, "connect attempt failed");
                    tally.end(index, started, Some(err));
                    start_now = true;
                }
            }
        }
        if running.is_empty() && queue.is_empty() && lookup.is_done() {
            return Err(if tally.is_empty() {
                Ended::NoAddress(queue.no_address(host))
            } else {
                Ended::Failed { timed_out: false }
            });
        }
        tokio::select! {
            biased;
            (pos, result) = poll_fn(|cx| poll_any(&mut running, cx)), if !running.is_empty() => {
                let r = running.swap_remove(pos);
                match result {
                    Ok(stream) => {
                        tally.end(r.index, r.started, None);
                        // Dropping the losers closes their sockets now.
                        for other in running.drain(..) {
                            tally.cancelled(other.index, other.started);
                        }
                        return Ok((stream, r.addr));
                    }
                    Err(err) => {
                        debug!(addr = %r.addr, error = %err, host, "connect attempt failed");
                        tally.end(r.index, r.started, Some(err));
                        start_now = true;
                    }
                }
            }
            answer = lookup.next(), if !lookup.is_done() => {
                let family = answer.family;
                let added = queue.push(answer);
                if tally.is_empty() {
                    if family == Some(Family::V4) && added && lookup.is_pending(Family::V6) {
                        resolution_delay.get_or_insert(Instant::now() + RESOLUTION_DELAY);
                    } else {
                        resolution_delay = None;
                        start_now = true;
                    }
                }
            }
            _ = sleep_until(resolution_delay.unwrap_or(deadline)), if resolution_delay.is_some() => {
                resolution_delay = None;
                start_now = true;
            }
            _ = sleep_until(next_start.unwrap_or(deadline)), if next_start.is_some() && !queue.is_empty() => {
                next_start = None;
                start_now = true;
            }
            _ = sleep_until(deadline) => {
                if tally.is_empty() {
                    return Err(Ended::NoAddress(
                        ConnectError::new(Phase::Dns)
                            .with_host(host)
                            .timed_out(cfg.connect_timeout),
                    ));
                }
                for r in running.drain(..) {
                    let err = ConnectError::new(Phase::Connect)
                        .with_addr(r.addr)
                        .timed_out(cfg.connect_timeout);
                    tally.end(r.index, r.started, Some(err));
                }
                return Err(Ended::Failed { timed_out: true });
            }
        }
    }
}
