//! The [`Client`](crate::Client)'s settings: its piece of the connector's configuration, set on
//! the same [`Builder`] and checked in [`Builder::build`].

use std::time::Duration;

use crate::builder::Builder;
use crate::error::{count, non_zero, ConfigError, ConfigField};

/// How long an idle pooled connection is kept: see [`Builder::pool_idle_timeout`] for why 90 s.
const DEFAULT_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Re-sends per request after a failure on a reused connection.
const DEFAULT_MAX_RESENDS: u32 = 1;
const MAX_MAX_RESENDS: u32 = 10;

/// The bound [`Builder::build`] checks the client's re-sends against.
impl Builder {
    /// The most [`max_resends`](Builder::max_resends): 10. Not an OS limit but this crate's:
    /// counted re-sends stay below the 32 attempts a request gets in all (the uncounted
    /// refusals included).
    pub const MAX_RESENDS: u32 = MAX_MAX_RESENDS;
}
/// How much of a request body is kept for a re-send.
const DEFAULT_RESEND_BUFFER: usize = 1 << 20;
/// The silent-drop guard's floor: "a floor around 1 s" — a NAT does not forget a flow faster,
/// and a live peer acknowledges within a few round trips.
#[cfg_attr(not(tcp_user_timeout), allow(dead_code))]
const DEFAULT_SILENT_DROP_FLOOR: Duration = Duration::from_secs(1);
/// The guard's bound is this many of the connection's handshake round trips, when more than
/// the floor: room for the first retransmissions (RTO ≥ 200 ms, then doubling).
#[cfg_attr(not(tcp_user_timeout), allow(dead_code))]
pub(crate) const SILENT_DROP_RTTS: u32 = 8;

/// The client's settings, validated.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientSettings {
    pub(crate) pool_idle_timeout: Option<Duration>,
    pub(crate) read_timeout: Option<Duration>,
    pub(crate) max_resends: u32,
    pub(crate) resend_buffer_size: usize,
    /// The silent-drop guard's floor; `None`: off (and always off where the OS has no
    /// `TCP_USER_TIMEOUT`).
    pub(crate) silent_drop_floor: Option<Duration>,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            pool_idle_timeout: Some(DEFAULT_POOL_IDLE_TIMEOUT),
            read_timeout: None,
            max_resends: DEFAULT_MAX_RESENDS,
            resend_buffer_size: DEFAULT_RESEND_BUFFER,
            silent_drop_floor: cfg!(tcp_user_timeout).then_some(DEFAULT_SILENT_DROP_FLOOR),
        }
    }
}

impl ClientSettings {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(t) = self.pool_idle_timeout {
            non_zero(ConfigField::PoolIdleTimeout, t)?;
        }
        if let Some(t) = self.read_timeout {
            non_zero(ConfigField::ReadTimeout, t)?;
        }
        if self.max_resends > MAX_MAX_RESENDS {
            // Zero is allowed: it turns re-sending off.
            count(
                ConfigField::MaxResends,
                u64::from(self.max_resends),
                u64::from(MAX_MAX_RESENDS),
            )?;
        }
        #[cfg(tcp_user_timeout)]
        if let Some(floor) = self.silent_drop_floor {
            crate::error::whole_millis(
                ConfigField::SilentDropTimeout,
                floor,
                crate::socket::limits::MAX_USER_TIMEOUT,
            )?;
        }
        Ok(())
    }

    /// The silent-drop guard's bound for a connection whose TCP handshake took `rtt`.
    pub(crate) fn silent_drop_bound(&self, rtt: Duration) -> Option<Duration> {
        let floor = self.silent_drop_floor?;
        let bound = floor
            .max(rtt.saturating_mul(SILENT_DROP_RTTS))
            .min(crate::socket::limits::MAX_USER_TIMEOUT);
        // TCP_USER_TIMEOUT takes whole milliseconds: round up, never down to nothing.
        let millis = bound.as_nanos().div_ceil(1_000_000);
        Some(Duration::from_millis(
            u64::try_from(millis).unwrap_or(u64::MAX),
        ))
    }
}

/// The [`Client`](crate::Client)'s settings.
impl Builder {
    /// How long a [`Client`](crate::Client)'s idle pooled connection is kept before it is
    /// closed; `None` keeps it until the server closes it. Default: 90 s (Go's
    /// `IdleConnTimeout`, hyper-util's default).
    ///
    /// The connection closes itself (hyper-util's own idle timer is not used): that timer
    /// counts from a connection's last checkout, so it also dropped HTTP/2 connections whose
    /// one long stream was still open, and their PINGs stopped. A server's announced
    /// `Keep-Alive: timeout=` closes it earlier (1 s before it runs out).
    ///
    /// Why 90 s and not shorter: a stale pooled connection no longer costs a request. One the
    /// server closed is noticed (or the request on it re-sent), one the path silently dropped
    /// is found within about a second ([`silent_drop_timeout`](Builder::silent_drop_timeout)),
    /// and keepalive's probes keep NAT mappings alive meanwhile. `benches/pool.rs` measures
    /// what a shorter one costs in new connections.
    pub fn pool_idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.client.pool_idle_timeout = timeout.into();
        self
    }

    /// The longest a [`Client`](crate::Client) waits for the next bytes of a response: for its
    /// head once the request is sent, and between two reads of its body (reqwest's
    /// `read_timeout`). A response whose server goes quiet longer fails with
    /// [`ClientError::is_timeout`](crate::ClientError::is_timeout). Default: none.
    ///
    /// Over HTTP/1.1 through a proxy this is what notices a dead origin: TCP keepalive only
    /// watches the hop to the proxy, and HTTP/1.1 has no PING. Pick it from the protocol: the
    /// longest gap the server may leave between chunks (an LLM token stream: tens of seconds),
    /// not the whole response's duration.
    pub fn read_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.client.read_timeout = timeout.into();
        self
    }

    /// How many times a [`Client`](crate::Client) re-sends a request that failed on a reused
    /// connection before any byte of its response arrived (when the request can be re-sent:
    /// see [`Client`](crate::Client#re-sending)). `0` turns such re-sends off. At most
    /// [`MAX_RESENDS`](Builder::MAX_RESENDS) (10). Default: 1.
    ///
    /// Requests never processed on a connection that answered others do not count — refused
    /// (HTTP/2 `REFUSED_STREAM`, or above a GOAWAY's last stream id) or closed before they were
    /// written: the server asked for them to go elsewhere, and sending them there is always
    /// safe. Nor do requests hyper-util's pool withdrew before any connection. Those are
    /// bounded by 32 attempts in all.
    pub fn max_resends(mut self, resends: u32) -> Self {
        self.client.max_resends = resends;
        self
    }

    /// How much of a request body a [`Client`](crate::Client) keeps so that it can send the
    /// request again: a body longer than this is re-sent only if none of it had been sent.
    /// The chunks are kept by reference (`Bytes`), not copied, until the response head
    /// arrives. Default: 1 MiB.
    pub fn resend_buffer_size(mut self, bytes: usize) -> Self {
        self.client.resend_buffer_size = bytes;
        self
    }

    /// The silent-drop guard of a [`Client`](crate::Client)'s connections (Linux, Android,
    /// Fuchsia): a request written after at least a second of quiet that the peer's TCP does
    /// not acknowledge within `max(timeout, 8 × the connection's handshake round trip)` fails
    /// the connection (`TCP_USER_TIMEOUT`, set only while the request is unacknowledged), and
    /// the request is re-sent on a fresh connection or fails as
    /// [stale](crate::ClientError::is_stale_connection). `None` turns it off. Whole
    /// milliseconds, not zero, at most [`MAX_TCP_USER_TIMEOUT`](Builder::MAX_TCP_USER_TIMEOUT).
    /// Default: 1 s.
    ///
    /// Without it, a request on a pooled connection whose NAT mapping or firewall state
    /// expired waits for the kernel's retransmissions to give up: minutes.
    #[cfg(tcp_user_timeout)]
    pub fn silent_drop_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.client.silent_drop_floor = timeout.into();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_bound_follows_the_round_trip_above_the_floor() {
        let settings = ClientSettings {
            silent_drop_floor: Some(Duration::from_secs(1)),
            ..ClientSettings::default()
        };
        let ms = Duration::from_millis;
        assert_eq!(settings.silent_drop_bound(ms(0)), Some(ms(1000)));
        assert_eq!(settings.silent_drop_bound(ms(50)), Some(ms(1000)));
        assert_eq!(settings.silent_drop_bound(ms(300)), Some(ms(2400)));
        assert_eq!(
            settings.silent_drop_bound(Duration::from_nanos(300_000_001)),
            Some(ms(2401)),
            "rounded up to whole milliseconds"
        );
        assert_eq!(
            settings.silent_drop_bound(Duration::MAX),
            Some(crate::socket::limits::MAX_USER_TIMEOUT),
            "at most what TCP_USER_TIMEOUT takes"
        );
        let off = ClientSettings {
            silent_drop_floor: None,
            ..settings
        };
        assert_eq!(off.silent_drop_bound(ms(300)), None);
    }
}
