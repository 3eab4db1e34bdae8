//! The addresses a dial still has to try: per family and interleaved for the race (RFC 8305
//! §4), or in the resolver's order for the sequential dial. Shared by both (`race` and the
//! sequential path in `mod`), so it lives in neither's file.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;

use super::dns::Family;
use super::lookup::Answer;
use super::LocalAddrs;
use crate::error::{ConnectError, NoAddress, Phase};

/// The addresses still to try, per family (or in one queue, in the resolver's order, when
/// not interleaving), and what the lookup said besides.
#[derive(Debug)]
pub(crate) struct Queue<'a> {
    local: &'a LocalAddrs,
    interleave: bool,
    /// `[IPv4, IPv6]` when interleaving; everything in `[0]` otherwise.
    queues: [VecDeque<SocketAddr>; 2],
    next: Option<Family>,
    got_any: bool,
    dns_error: Option<io::Error>,
}

fn slot(family: Family) -> usize {
    match family {
        Family::V4 => 0,
        Family::V6 => 1,
    }
}

impl<'a> Queue<'a> {
    pub(crate) fn new(local: &'a LocalAddrs, interleave: bool) -> Self {
        Queue {
            local,
            interleave,
            queues: Default::default(),
            next: None,
            got_any: false,
            dns_error: None,
        }
    }

    /// Queues an answer's usable addresses; returns whether there were any.
    pub(crate) fn push(&mut self, answer: Answer) -> bool {
        let addrs = match answer.result {
            Ok(addrs) => addrs,
            Err(e) => {
                self.dns_error = Some(e);
                return false;
            }
        };
        if answer.family.is_none() && self.next.is_none() {
            self.next = addrs.first().map(Family::of);
        }
        self.push_all(&addrs)
    }

    /// Queues the usable ones of `addrs`; returns whether there were any.
    pub(crate) fn push_all(&mut self, addrs: &[SocketAddr]) -> bool {
        let mut added = false;
        for &addr in addrs {
            self.got_any = true;
            if self.local.allows(&addr) {
                let q = if self.interleave {
                    slot(Family::of(&addr))
                } else {
                    0
                };
                self.queues[q].push_back(addr);
                added = true;
            }
        }
        added
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queues.iter().all(VecDeque::is_empty)
    }

    /// The next address to try.
    pub(crate) fn pop(&mut self) -> Option<SocketAddr> {
        if !self.interleave {
            return self.queues[0].pop_front();
        }
        let family = self
            .next
            .unwrap_or(if self.queues[slot(Family::V6)].is_empty() {
                Family::V4
            } else {
                Family::V6
            });
        let addr = self.queues[slot(family)]
            .pop_front()
            .or_else(|| self.queues[slot(family.other())].pop_front())?;
        self.next = Some(Family::of(&addr).other());
        Some(addr)
    }

    /// The error when the lookup ended and nothing was tried.
    pub(crate) fn no_address(self, host: &str) -> ConnectError {
        if self.got_any {
            return ConnectError::new(Phase::Connect)
                .with_host(host)
                .with_source(NoAddress::OfLocalFamily);
        }
        let err = ConnectError::new(Phase::Dns).with_host(host);
        match self.dns_error {
            Some(e) => err.with_source(e),
            None => err.with_source(NoAddress::Resolved),
        }
    }
}
