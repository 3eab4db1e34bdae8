//! The queries for one name while they are under way, answer by answer: one query for both
//! families, or one per family (AAAA and A concurrently, RFC 8305 §3) when the resolver can.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::task::Poll;

use super::dns::{Family, Resolve, Resolving};

/// One answer: for one family, or (`family: None`) for both.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) family: Option<Family>,
    pub(crate) result: io::Result<Vec<SocketAddr>>,
}

/// The queries of one name. Every answer is also kept, for the cache.
pub(crate) struct Lookup {
    /// A ready answer not yet handed out (an IP literal, a cache hit).
    ready: Option<Vec<SocketAddr>>,
    queries: Vec<(Option<Family>, Resolving)>,
    /// Addresses received per family (IPv6, IPv4) when asked per family; everything, in the
    /// resolver's order, in `v6` otherwise.
    v6: Vec<SocketAddr>,
    v4: Vec<SocketAddr>,
}

impl std::fmt::Debug for Lookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lookup")
            .field("ready", &self.ready)
            .field("queries", &self.queries.len())
            .finish_non_exhaustive()
    }
}

impl Lookup {
    /// Nothing to ask (the addresses were known).
    pub(crate) fn empty() -> Lookup {
        Lookup {
            ready: None,
            queries: Vec::new(),
            v6: Vec::new(),
            v4: Vec::new(),
        }
    }

    /// Addresses known without asking anybody, handed out as one answer.
    pub(crate) fn ready(addrs: Vec<SocketAddr>) -> Lookup {
        Lookup {
            ready: Some(addrs),
            queries: Vec::new(),
            v6: Vec::new(),
            v4: Vec::new(),
        }
    }

    /// Starts asking `resolver`: per family when `per_family` and the resolver can, else once.
    pub(crate) fn start(resolver: &dyn Resolve, host: &str, port: u16, per_family: bool) -> Lookup {
        let mut queries = Vec::with_capacity(2);
        if per_family {
            if let Some(v6) = resolver.resolve_family(host, port, Family::V6) {
                if let Some(v4) = resolver.resolve_family(host, port, Family::V4) {
                    queries.push((Some(Family::V6), v6));
                    queries.push((Some(Family::V4), v4));
                }
            }
        }
        if queries.is_empty() {
            queries.push((None, resolver.resolve(host, port)));
        }
        Lookup {
            ready: None,
            queries,
            v6: Vec::new(),
            v4: Vec::new(),
        }
    }

    /// Whether every answer has been handed out.
    pub(crate) fn is_done(&self) -> bool {
        self.ready.is_none() && self.queries.is_empty()
    }

    /// Whether a query for this family is still under way.
    pub(crate) fn is_pending(&self, family: Family) -> bool {
        self.queries.iter().any(|(f, _)| *f == Some(family))
    }

    /// The next answer; pending forever once [`is_done`](Lookup::is_done).
    pub(crate) async fn next(&mut self) -> Answer {
        if let Some(addrs) = self.ready.take() {
            return Answer {
                family: None,
                result: Ok(addrs),
            };
        }
        let answer = poll_fn(|cx| {
            for i in 0..self.queries.len() {
                if let Poll::Ready(result) = self.queries[i].1.as_mut().poll(cx) {
                    let (family, _) = self.queries.swap_remove(i);
                    return Poll::Ready(Answer { family, result });
                }
            }
            Poll::Pending
        })
        .await;
        if let Ok(addrs) = &answer.result {
            match answer.family {
                Some(Family::V4) => self.v4.extend_from_slice(addrs),
                Some(Family::V6) | None => self.v6.extend_from_slice(addrs),
            }
        }
        answer
    }

    /// Every address received, IPv6 before IPv4 when asked per family (RFC 6724's default
    /// preference), else in the resolver's order: what the cache stores once the lookup is
    /// done.
    pub(crate) fn received(&self) -> Vec<SocketAddr> {
        let mut all = Vec::with_capacity(self.v6.len() + self.v4.len());
        all.extend_from_slice(&self.v6);
        all.extend_from_slice(&self.v4);
        all
    }
}
