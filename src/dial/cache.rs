//! The connector's DNS cache: positive answers kept for a fixed time, keyed by the endpoint's
//! host and port, shared by every clone of a connector.
//!
//! - No negative caching: a failed or empty answer is never stored.
//! - An entry is dropped when every address in it failed to connect (see [`DnsCache::evict`]).
//! - Bounded: at capacity, expired entries go first, then the one closest to expiry.
//! - One lookup per name at a time: the first connect to a name that is not cached *leads* (it
//!   resolves, then stores the answer); connects to the same name meanwhile *wait* for it, then
//!   read the cache. The leader stores what it received as soon as it has connected, without
//!   waiting for a family that answers late (a dropped AAAA query takes glibc 5 s × 2): the
//!   late answer [updates](Stored::update) the entry when it comes. A leader that failed hands
//!   the addresses it received to its waiters, who try them rather than start over with what
//!   is left of their budget; a waiter whose leader received nothing (or was dropped) resolves
//!   on its own (it does not queue behind another leader). So a name is resolved once when the
//!   lookup answers, and at most once per waiting connect when it answers nothing.
//!
//! `getaddrinfo` reports no TTL, so the time to keep an answer is the connector's
//! [`dns_cache_ttl`](crate::Builder::dns_cache_ttl) (curl's default, 60 s, also ours);
//! `Duration::MAX` keeps answers for good.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// Host (lower case) → one slot per port (almost always one).
type Map = HashMap<Box<str>, Vec<(u16, Slot)>>;

/// The cache. Lives behind an `Arc` in the dial configuration.
#[derive(Debug)]
pub(crate) struct DnsCache {
    ttl: Duration,
    capacity: usize,
    map: Mutex<Map>,
    next_id: AtomicU64,
}

/// What a leader leaves its waiters: `None` while it resolves, and when it stored its answer
/// in the cache or received nothing; the addresses it received when it failed with them.
pub(crate) type Handed = Option<Arc<[SocketAddr]>>;

#[derive(Debug)]
enum Slot {
    Ready {
        addrs: Arc<[SocketAddr]>,
        /// `None`: never (a TTL of `Duration::MAX`, or one past what the clock can count).
        expires: Option<Instant>,
    },
    /// A lookup under way; its leader's id, and a receiver that completes when the leader is
    /// done (its sender is dropped).
    Pending {
        id: u64,
        done: watch::Receiver<Handed>,
    },
}

impl Slot {
    fn is_fresh(expires: Option<Instant>, now: Instant) -> bool {
        expires.is_none_or(|at| at > now)
    }
}

/// What a connect gets from the cache for a name.
#[derive(Debug)]
pub(crate) enum Get {
    /// A fresh answer.
    Hit(Arc<[SocketAddr]>),
    /// Nobody is resolving the name: this connect resolves it and stores the answer.
    Lead(Leader),
    /// Another connect is resolving the name: wait until it is done (`changed()` returns an
    /// error once the channel closes), then read what it [handed](Handed) on, or
    /// [`DnsCache::hit`] again.
    Wait(watch::Receiver<Handed>),
}

/// The right (and duty) to resolve a name for the cache. Dropping it without
/// [`store`](Leader::store) releases the name, and wakes the waiters.
#[derive(Debug)]
pub(crate) struct Leader {
    cache: Arc<DnsCache>,
    host: Box<str>,
    port: u16,
    id: u64,
    done: watch::Sender<Handed>,
}

/// An answer stored in the cache, which a later answer to the same lookup may complete.
#[derive(Debug)]
pub(crate) struct Stored {
    cache: Arc<DnsCache>,
    host: Box<str>,
    port: u16,
    addrs: Arc<[SocketAddr]>,
    expires: Option<Instant>,
}

fn lower(host: &str) -> Cow<'_, str> {
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    }
}

impl DnsCache {
    pub(crate) fn new(ttl: Duration, capacity: usize) -> DnsCache {
        DnsCache {
            ttl,
            capacity,
            map: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Map> {
        // The map stays consistent whatever panicked while it was held (every change is one
        // insert or remove), so a poisoned lock is still usable.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached answer for `host:port`, or the role this connect plays in resolving it.
    pub(crate) fn get(self: &Arc<Self>, host: &str, port: u16) -> Get {
        let host = lower(host);
        let now = Instant::now();
        let mut map = self.lock();
        if let Some(slots) = map.get_mut(&*host) {
            if let Some(pos) = slots.iter().position(|(p, _)| *p == port) {
                match &slots[pos].1 {
                    Slot::Ready { addrs, expires } if Slot::is_fresh(*expires, now) => {
                        return Get::Hit(Arc::clone(addrs))
                    }
                    Slot::Pending { done, .. } => return Get::Wait(done.clone()),
                    Slot::Ready { .. } => {
                        slots.swap_remove(pos);
                    }
                }
            }
        }
        let (tx, rx) = watch::channel(None);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let host: Box<str> = host.into();
        map.entry(host.clone())
            .or_default()
            .push((port, Slot::Pending { id, done: rx }));
        Get::Lead(Leader {
            cache: Arc::clone(self),
            host,
            port,
            id,
            done: tx,
        })
    }

    /// The fresh answer for `host:port`, if any, without taking a role in resolving it.
    pub(crate) fn hit(&self, host: &str, port: u16) -> Option<Arc<[SocketAddr]>> {
        let host = lower(host);
        let now = Instant::now();
        let map = self.lock();
        map.get(&*host)?.iter().find_map(|(p, slot)| match slot {
            Slot::Ready { addrs, expires } if *p == port && Slot::is_fresh(*expires, now) => {
                Some(Arc::clone(addrs))
            }
            _ => None,
        })
    }

    /// Stores an answer without having led its lookup (a waiter whose leader failed).
    pub(crate) fn store(
        self: &Arc<Self>,
        host: &str,
        port: u16,
        addrs: Arc<[SocketAddr]>,
    ) -> Stored {
        let host: Box<str> = lower(host).into();
        let mut map = self.lock();
        let expires = self.insert(&mut map, &host, port, Arc::clone(&addrs));
        Stored {
            cache: Arc::clone(self),
            host,
            port,
            addrs,
            expires,
        }
    }

    /// Inserts `addrs` for `host:port`; returns when the entry expires.
    fn insert(
        &self,
        map: &mut Map,
        host: &str,
        port: u16,
        addrs: Arc<[SocketAddr]>,
    ) -> Option<Instant> {
        // A TTL the clock cannot add (`Duration::MAX`, "no limit" everywhere in this crate)
        // keeps the answer for good rather than panic.
        let expires = Instant::now().checked_add(self.ttl);
        if self.ready_len(map) >= self.capacity {
            self.make_room(map);
        }
        if let Some(slots) = map.get_mut(host) {
            if let Some(slot) = slots.iter_mut().find(|(p, _)| *p == port) {
                // Replaces a pending slot (this leader's, or another's after a waiter gave up on
                // it: that one's leader then finds Ready and leaves it alone).
                slot.1 = Slot::Ready { addrs, expires };
                return expires;
            }
        }
        map.entry(host.into())
            .or_default()
            .push((port, Slot::Ready { addrs, expires }));
        expires
    }

    fn ready_len(&self, map: &Map) -> usize {
        map.values()
            .flatten()
            .filter(|(_, s)| matches!(s, Slot::Ready { .. }))
            .count()
    }

    /// Removes the expired entries, or if none, the one that expires first. A linear scan: it
    /// runs only when the cache is full, and the capacity is small.
    fn make_room(&self, map: &mut Map) {
        let now = Instant::now();
        let before = self.ready_len(map);
        for slots in map.values_mut() {
            slots.retain(
                |(_, s)| !matches!(s, Slot::Ready { expires, .. } if !Slot::is_fresh(*expires, now)),
            );
        }
        if self.ready_len(map) == before {
            // Entries that never expire sort after every other (`false < true`).
            let oldest = map
                .iter()
                .flat_map(|(h, slots)| slots.iter().map(move |(p, s)| (h, *p, s)))
                .filter_map(|(h, p, s)| match s {
                    Slot::Ready { expires, .. } => {
                        Some(((expires.is_none(), *expires), h.clone(), p))
                    }
                    Slot::Pending { .. } => None,
                })
                .min();
            if let Some((_, host, port)) = oldest {
                if let Some(slots) = map.get_mut(&host) {
                    slots.retain(|(p, _)| *p != port);
                }
            }
        }
        map.retain(|_, slots| !slots.is_empty());
    }

    /// Drops the entry for `host:port` if it holds exactly `addrs` (the answer whose addresses
    /// all failed), so the next connect resolves again. A newer answer is left alone.
    pub(crate) fn evict(&self, host: &str, port: u16, addrs: &Arc<[SocketAddr]>) {
        let host = lower(host);
        let mut map = self.lock();
        if let Some(slots) = map.get_mut(&*host) {
            slots.retain(|(p, s)| {
                !(*p == port && matches!(s, Slot::Ready { addrs: a, .. } if Arc::ptr_eq(a, addrs)))
            });
            if slots.is_empty() {
                map.remove(&*host);
            }
        }
    }

    /// How many answers are stored (tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.ready_len(&self.lock())
    }
}

impl Leader {
    /// Stores the answer and releases the name: the waiters wake and find it.
    pub(crate) fn store(self, addrs: Arc<[SocketAddr]>) -> Stored {
        let expires = {
            let mut map = self.cache.lock();
            self.cache
                .insert(&mut map, &self.host, self.port, Arc::clone(&addrs))
        };
        Stored {
            cache: Arc::clone(&self.cache),
            host: self.host.clone(),
            port: self.port,
            addrs,
            expires,
        }
    }

    /// Releases the name without storing anything, handing `addrs` (what the lookup received
    /// before this connect failed) to the waiters, who try them instead of resolving again.
    pub(crate) fn give_up(self, addrs: Vec<SocketAddr>) {
        if !addrs.is_empty() {
            self.done.send_replace(Some(addrs.into()));
        }
    }
}

impl Stored {
    /// When the entry expires; `None`: never.
    pub(crate) fn expires(&self) -> Option<Instant> {
        self.expires
    }

    /// How many addresses were stored.
    pub(crate) fn count(&self) -> usize {
        self.addrs.len()
    }

    /// Replaces the stored answer with `all`, the whole answer of the same lookup (a family
    /// that answered after the connect was made), keeping its expiry. An entry dropped or
    /// replaced since (all its addresses failed, a newer answer) is left alone.
    pub(crate) fn update(self, all: Arc<[SocketAddr]>) {
        let mut map = self.cache.lock();
        let Some(slots) = map.get_mut(&self.host) else {
            return;
        };
        for (p, slot) in slots.iter_mut() {
            if let Slot::Ready { addrs, .. } = slot {
                if *p == self.port && Arc::ptr_eq(addrs, &self.addrs) {
                    *addrs = all;
                    return;
                }
            }
        }
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        let mut map = self.cache.lock();
        if let Some(slots) = map.get_mut(&self.host) {
            slots.retain(|(p, s)| {
                !(*p == self.port && matches!(s, Slot::Pending { id, .. } if *id == self.id))
            });
            if slots.is_empty() {
                map.remove(&self.host);
            }
        }
        // `done` drops after this: the waiters wake and look again.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(last: u8) -> Arc<[SocketAddr]> {
        Arc::from([SocketAddr::from(([127, 0, 0, last], 443))])
    }

    fn lead(cache: &Arc<DnsCache>, host: &str) -> Leader {
        match cache.get(host, 443) {
            Get::Lead(l) => l,
            other => panic!("expected to lead, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn hit_after_store_case_insensitive() {
        let cache = Arc::new(DnsCache::new(Duration::from_secs(60), 8));
        let a = addrs(1);
        lead(&cache, "Example.COM").store(Arc::clone(&a));
        match cache.get("example.com", 443) {
            Get::Hit(got) => assert!(Arc::ptr_eq(&got, &a)),
            other => panic!("{other:?}"),
        }
        // Another port is another entry.
        assert!(matches!(cache.get("example.com", 80), Get::Lead(_)));
    }

    #[tokio::test]
    async fn waiters_wake_when_the_leader_is_done_or_dropped() {
        let cache = Arc::new(DnsCache::new(Duration::from_secs(60), 8));
        let leader = lead(&cache, "a.test");
        let Get::Wait(mut rx) = cache.get("a.test", 443) else {
            panic!("a second connect waits")
        };
        drop(leader);
        assert!(rx.changed().await.is_err(), "woken by the leader's drop");
        // Released: the next connect leads.
        let leader = lead(&cache, "a.test");
        let Get::Wait(mut rx) = cache.get("a.test", 443) else {
            panic!("waits")
        };
        leader.store(addrs(2));
        assert!(rx.changed().await.is_err());
        assert!(matches!(cache.get("a.test", 443), Get::Hit(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn entries_expire() {
        let cache = Arc::new(DnsCache::new(Duration::from_secs(60), 8));
        lead(&cache, "a.test").store(addrs(1));
        tokio::time::advance(Duration::from_secs(59)).await;
        assert!(matches!(cache.get("a.test", 443), Get::Hit(_)));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(matches!(cache.get("a.test", 443), Get::Lead(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn full_cache_drops_expired_then_oldest() {
        let cache = Arc::new(DnsCache::new(Duration::from_secs(60), 2));
        lead(&cache, "a.test").store(addrs(1));
        tokio::time::advance(Duration::from_secs(1)).await;
        lead(&cache, "b.test").store(addrs(2));
        lead(&cache, "c.test").store(addrs(3));
        assert_eq!(cache.len(), 2);
        assert!(
            matches!(cache.get("a.test", 443), Get::Lead(_)),
            "oldest gone"
        );
        assert!(matches!(cache.get("c.test", 443), Get::Hit(_)));
        tokio::time::advance(Duration::from_secs(61)).await;
        cache.store("d.test", 443, addrs(4));
        assert_eq!(cache.len(), 1, "the expired entries made room");
    }

    #[tokio::test(start_paused = true)]
    async fn a_maximal_ttl_never_expires_and_goes_last() {
        let cache = Arc::new(DnsCache::new(Duration::MAX, 2));
        let stored = lead(&cache, "a.test").store(addrs(1));
        assert_eq!(stored.expires(), None);
        tokio::time::advance(Duration::from_secs(10 * 365 * 86_400)).await;
        assert!(matches!(cache.get("a.test", 443), Get::Hit(_)));
        // Full: of two entries that never expire, one goes (no panic, no overflow).
        cache.store("b.test", 443, addrs(2));
        cache.store("c.test", 443, addrs(3));
        assert_eq!(cache.len(), 2);
    }

    #[tokio::test]
    async fn a_late_family_completes_only_the_answer_it_belongs_to() {
        let cache = Arc::new(DnsCache::new(Duration::from_secs(60), 8));
        let partial = addrs(1);
        let stored = lead(&cache, "a.test").store(Arc::clone(&partial));
        let whole: Arc<[SocketAddr]> = Arc::from([
            SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 443)),
            SocketAddr::from(([127, 0, 0, 1], 443)),
        ]);
        stored.update(Arc::clone(&whole));
        match cache.get("a.test", 443) {
            Get::Hit(got) => assert!(Arc::ptr_eq(&got, &whole)),
            other => panic!("{other:?}"),
        }
        // Replaced by a newer answer meanwhile: the late family leaves it alone.
        let stored = lead(&cache, "b.test").store(addrs(2));
        let newer = addrs(3);
        cache.store("b.test", 443, Arc::clone(&newer));
        stored.update(whole);
        match cache.get("b.test", 443) {
            Get::Hit(got) => assert!(Arc::ptr_eq(&got, &newer)),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_leader_that_gives_up_hands_its_addresses_on() {
        let cache = Arc::new(DnsCache::new(Duration::from_secs(60), 8));
        let leader = lead(&cache, "a.test");
        let Get::Wait(mut rx) = cache.get("a.test", 443) else {
            panic!("a second connect waits")
        };
        leader.give_up(vec![SocketAddr::from(([127, 0, 0, 9], 443))]);
        while rx.changed().await.is_ok() {}
        let handed = rx.borrow().clone().expect("the addresses");
        assert_eq!(handed[0], SocketAddr::from(([127, 0, 0, 9], 443)));
        // Nothing stored, and the name released.
        assert!(cache.hit("a.test", 443).is_none());
        assert!(matches!(cache.get("a.test", 443), Get::Lead(_)));
    }

    #[tokio::test]
    async fn evict_removes_only_the_failed_answer() {
        let cache = Arc::new(DnsCache::new(Duration::from_secs(60), 8));
        let old = addrs(1);
        lead(&cache, "a.test").store(Arc::clone(&old));
        let new = addrs(2);
        cache.store("a.test", 443, Arc::clone(&new));
        cache.evict("a.test", 443, &old);
        assert!(
            matches!(cache.get("a.test", 443), Get::Hit(_)),
            "newer kept"
        );
        cache.evict("a.test", 443, &new);
        assert!(matches!(cache.get("a.test", 443), Get::Lead(_)));
    }
}
