//! The socket policy: which options a connection's socket gets, and at which [`Stage`].
//! [`Keepalive`] and [`Stage`] are the public half; [`SocketPolicy`] is the piece of the
//! configuration the socket phases take.

use std::fmt;
use std::io;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use socket2::SockRef;

use super::limits;
use crate::error::{count, whole_millis, whole_seconds, ConfigError, ConfigField};

/// When, on the way from a fresh socket to a usable connection, the keepalive options (and
/// `TCP_USER_TIMEOUT`) are applied.
///
/// No stage changes a packet on the wire until the connection has been idle for `idle`: the
/// kernel arms the keepalive timer only once the connection is established, so on Linux
/// keepalive set before connect and right after connect behave the same. The stages differ in
/// what keepalive covers and in when `TCP_USER_TIMEOUT` (which does bound the SYN retries when
/// set before connect) and the socket hook's changes take effect:
///
/// | stage | covered by keepalive | trade-off |
/// |---|---|---|
/// | [`BeforeConnect`](Stage::BeforeConnect) | the TLS handshake and everything after | what a custom transport that sets options in a dial hook does; `TCP_USER_TIMEOUT` also limits the connect |
/// | [`AfterConnect`](Stage::AfterConnect) | the TLS handshake and everything after | a handshake stall longer than `idle` is noticed by keepalive as well as by the handshake timeout |
/// | [`AfterHandshake`](Stage::AfterHandshake) (default) | the HTTP exchange | the handshake runs without keepalive or `TCP_USER_TIMEOUT` (`TCP_NODELAY` and buffer sizes are set before connect at every stage); it relies on the handshake timeout alone |
///
/// Clients that set keepalive in a dial hook have reported strict backends (behind CDNs)
/// resetting their TLS handshakes; whatever the cause, `keepalive-probe URL` tells whether an
/// endpoint treats the stages differently. For plain `http://`, there is no handshake:
/// `AfterHandshake` means right after connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Stage {
    /// On the fresh socket, before `connect(2)`.
    BeforeConnect,
    /// Right after the TCP connection is established, before the TLS handshake.
    AfterConnect,
    /// After the TLS handshake has finished, before the connection is handed to the HTTP codec.
    AfterHandshake,
}

impl Stage {
    /// All stages, in the order they happen.
    pub const ALL: &'static [Stage] = &[
        Stage::BeforeConnect,
        Stage::AfterConnect,
        Stage::AfterHandshake,
    ];

    /// The kebab-case name: `before-connect`, `after-connect`, `after-handshake`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::BeforeConnect => "before-connect",
            Stage::AfterConnect => "after-connect",
            Stage::AfterHandshake => "after-handshake",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error from parsing a [`Stage`] from a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseStageError(String);

impl fmt::Display for ParseStageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown stage {:?}: expected before-connect, after-connect or after-handshake",
            self.0
        )
    }
}

impl std::error::Error for ParseStageError {}

impl FromStr for Stage {
    type Err = ParseStageError;

    /// Parses `before-connect`, `after-connect` or `after-handshake` (`_` works for `-`, and
    /// case is ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        Stage::ALL
            .iter()
            .copied()
            .find(|stage| stage.as_str() == norm)
            .ok_or_else(|| ParseStageError(s.to_owned()))
    }
}

/// TCP keepalive settings: `SO_KEEPALIVE` plus idle time, probe interval and probe count.
///
/// `Keepalive::new()` starts from the defaults (on, 30 s idle, 10 s interval, 3 retries): a dead
/// peer is noticed about 60 s after the connection went quiet. The kernel takes whole seconds;
/// [`Builder::build`](crate::Builder::build) refuses anything else rather than letting it be truncated.
///
/// ```
/// use keepalive_connector::Keepalive;
/// use std::time::Duration;
/// let ka = Keepalive::new()
///     .idle(Duration::from_secs(15))
///     .interval(Duration::from_secs(5))
///     .retries(4);
/// assert!(ka.is_enabled());
/// assert_eq!(ka.idle_duration(), Duration::from_secs(15));
/// assert_eq!(Keepalive::new().retry_count(), 3);
/// assert!(!Keepalive::off().is_enabled());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Keepalive {
    pub(crate) enabled: bool,
    pub(crate) idle: Duration,
    pub(crate) interval: Duration,
    pub(crate) retries: u32,
}

impl Keepalive {
    /// Keepalive on, with the defaults: 30 s idle, 10 s interval, 3 retries.
    pub const fn new() -> Self {
        Keepalive {
            enabled: true,
            idle: Duration::from_secs(30),
            interval: Duration::from_secs(10),
            retries: 3,
        }
    }

    /// Keepalive off: `SO_KEEPALIVE` is left at the kernel's default (off) and no keepalive
    /// option is touched. Values set on an off `Keepalive` are kept but neither used nor
    /// validated.
    pub const fn off() -> Self {
        Keepalive {
            enabled: false,
            ..Keepalive::new()
        }
    }

    /// How long the connection must be idle before the first probe. Sets `TCP_KEEPIDLE`
    /// (`TCP_KEEPALIVE` on macOS). Whole seconds, at least 1 s. Default: 30 s.
    pub const fn idle(mut self, idle: Duration) -> Self {
        self.idle = idle;
        self
    }

    /// Time between unanswered probes. Sets `TCP_KEEPINTVL`. Whole seconds, at least 1 s.
    /// Default: 10 s.
    pub const fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Unanswered probes before the kernel drops the connection. Sets `TCP_KEEPCNT`. At least 1.
    /// Default: 3.
    pub const fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Whether keepalive is on.
    pub const fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The idle time set with [`idle`](Keepalive::idle) (30 s unless changed).
    pub const fn idle_duration(&self) -> Duration {
        self.idle
    }

    /// The probe interval set with [`interval`](Keepalive::interval) (10 s unless changed).
    pub const fn interval_duration(&self) -> Duration {
        self.interval
    }

    /// The probe count set with [`retries`](Keepalive::retries) (3 unless changed).
    pub const fn retry_count(&self) -> u32 {
        self.retries
    }

    /// How long the probes take to declare a silent peer dead once the first one went out:
    /// `interval × retries` (30 s by default). Saturates instead of overflowing.
    pub fn probe_time(&self) -> Duration {
        self.interval.saturating_mul(self.retries)
    }

    /// How long after the connection went quiet a dead peer is noticed: `idle + interval ×
    /// retries` (60 s by default). It is also the default `TCP_USER_TIMEOUT` on Linux, so data
    /// left unacknowledged (when the kernel retransmits instead of probing) gives up on the
    /// same schedule. Saturates instead of overflowing.
    pub fn detection_time(&self) -> Duration {
        self.idle.saturating_add(self.probe_time())
    }

    /// Checks every value against what the kernel accepts, so nothing is truncated or refused
    /// later at connect time.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        whole_seconds(ConfigField::KeepaliveIdle, self.idle, limits::MAX_KEEPIDLE)?;
        whole_seconds(
            ConfigField::KeepaliveInterval,
            self.interval,
            limits::MAX_KEEPINTVL,
        )?;
        count(
            ConfigField::KeepaliveRetries,
            self.retries.into(),
            limits::MAX_KEEPCNT.into(),
        )
    }
}

impl Default for Keepalive {
    fn default() -> Self {
        Keepalive::new()
    }
}

/// The socket hook: called at every [`Stage`] after that stage's own options were applied.
pub(crate) type SocketHook = Arc<dyn Fn(Stage, SockRef<'_>) -> io::Result<()> + Send + Sync>;

/// What the socket of a connection gets, and when: everything the socket phases need and
/// nothing else, so a per-host policy can later choose one of these without touching the rest.
#[derive(Clone)]
pub(crate) struct SocketPolicy {
    pub(crate) keepalive: Keepalive,
    pub(crate) keepalive_at: Stage,
    pub(crate) nodelay: bool,
    #[cfg_attr(not(tcp_user_timeout), allow(dead_code))]
    pub(crate) tcp_user_timeout: Option<Duration>,
    pub(crate) send_buffer_size: Option<usize>,
    pub(crate) recv_buffer_size: Option<usize>,
    pub(crate) hook: Option<SocketHook>,
}

impl SocketPolicy {
    /// Checks every value against what the kernel accepts, so nothing is truncated or refused
    /// later at connect time.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        self.keepalive.validate()?;
        if let Some(timeout) = self.tcp_user_timeout {
            whole_millis(
                ConfigField::TcpUserTimeout,
                timeout,
                limits::MAX_USER_TIMEOUT,
            )?;
        }
        for (field, size) in [
            (ConfigField::SendBufferSize, self.send_buffer_size),
            (ConfigField::RecvBufferSize, self.recv_buffer_size),
        ] {
            if let Some(size) = size {
                count(field, size as u64, limits::MAX_BUFFER_SIZE)?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for SocketPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketPolicy")
            .field("keepalive", &self.keepalive)
            .field("keepalive_at", &self.keepalive_at)
            .field("nodelay", &self.nodelay)
            .field("tcp_user_timeout", &self.tcp_user_timeout)
            .field("send_buffer_size", &self.send_buffer_size)
            .field("recv_buffer_size", &self.recv_buffer_size)
            .field("hook", &self.hook.as_ref().map(|_| "Fn"))
            .finish()
    }
}
