//! The socket policy: which options a connection's socket gets, and at which [`Stage`].
//! [`Keepalive`] and [`Stage`] are the public half; [`SocketPolicy`] is the piece of the
//! configuration the socket phases take.

use std::fmt;
use std::io;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use socket2::SockRef;

use super::platform::{Availability, KeepaliveSupport, OptionSupport};
use super::{limits, sys};
use crate::error::{
    count, whole_millis, whole_seconds, ConfigError, ConfigErrorReason, ConfigField,
};

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
/// [`Builder::build`](crate::Builder::build) refuses anything else rather than letting it be
/// truncated.
///
/// # Chosen values and defaults
///
/// A value set with [`idle`](Keepalive::idle), [`interval`](Keepalive::interval) or
/// [`retries`](Keepalive::retries) is a requirement: if this OS cannot set it, the connection
/// fails rather than silently running with the OS's value. A value left at its default is
/// applied where the OS allows and otherwise left to the OS, and
/// [`KeepaliveInfo`](crate::KeepaliveInfo) says so. Where each value can be set is in
/// [`Keepalive::platform_support`]; in short:
///
/// - Linux, macOS, FreeBSD, NetBSD, DragonFly, illumos, Android: all three, always.
/// - Windows: idle and interval always (`SIO_KEEPALIVE_VALS`); the count (`TCP_KEEPCNT`) from
///   Windows 10 1703. Where the OS refuses it (older Windows, Wine), a chosen count fails the
///   connection with [`Phase::Socket`](crate::Phase::Socket) naming
///   [`SocketOption::KeepaliveRetries`](crate::SocketOption::KeepaliveRetries); the default
///   count leaves the OS's own (10 on Windows).
/// - Solaris and other Unix systems with only a per-socket idle time: a chosen interval or count
///   is a [`ConfigError`] with reason [`Unsupported`](crate::ConfigErrorReason::Unsupported).
/// - OpenBSD, Haiku: only `SO_KEEPALIVE`; any chosen value is a `ConfigError`.
///
/// So two `Keepalive`s compare equal only when they ask for the same thing: `Keepalive::new()`
/// and `Keepalive::new().retries(3)` differ, as one fails on an OS without `TCP_KEEPCNT` and
/// the other does not.
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
/// assert_ne!(Keepalive::new(), Keepalive::new().retries(3));
/// assert!(!Keepalive::off().is_enabled());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Keepalive {
    pub(crate) enabled: bool,
    /// `None`: the default, applied where the OS allows.
    idle: Option<Duration>,
    interval: Option<Duration>,
    retries: Option<u32>,
}

impl Keepalive {
    const DEFAULT_IDLE: Duration = Duration::from_secs(30);
    const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
    const DEFAULT_RETRIES: u32 = 3;

    /// Keepalive on, with the defaults: 30 s idle, 10 s interval, 3 retries.
    pub const fn new() -> Self {
        Keepalive {
            enabled: true,
            idle: None,
            interval: None,
            retries: None,
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
    /// (`TCP_KEEPALIVE` on macOS, the `keepalivetime` of `SIO_KEEPALIVE_VALS` on Windows).
    /// Whole seconds, from 1 s to [`MAX_IDLE`](Keepalive::MAX_IDLE) (32,767 s). Default: 30 s.
    /// Not settable per socket on OpenBSD and Haiku
    /// (see [Chosen values and defaults](Keepalive#chosen-values-and-defaults)).
    pub const fn idle(mut self, idle: Duration) -> Self {
        self.idle = Some(idle);
        self
    }

    /// Time between unanswered probes. Sets `TCP_KEEPINTVL` (the `keepaliveinterval` of
    /// `SIO_KEEPALIVE_VALS` on Windows). Whole seconds, from 1 s to
    /// [`MAX_INTERVAL`](Keepalive::MAX_INTERVAL) (32,767 s). Default: 10 s. Not settable per
    /// socket on Solaris, OpenBSD and Haiku.
    pub const fn interval(mut self, interval: Duration) -> Self {
        self.interval = Some(interval);
        self
    }

    /// Unanswered probes before the kernel drops the connection. Sets `TCP_KEEPCNT`. From 1 to
    /// [`MAX_RETRIES`](Keepalive::MAX_RETRIES) (127). Default: 3.
    ///
    /// Windows has `TCP_KEEPCNT` from Windows 10 1703; older versions and Wine refuse it. There,
    /// a count chosen with this method fails every connection with
    /// [`Phase::Socket`](crate::Phase::Socket) and
    /// [`SocketOption::KeepaliveRetries`](crate::SocketOption::KeepaliveRetries) (never
    /// silently dropped), while the default count gives way to the OS's own (10), which
    /// [`KeepaliveInfo::retries_source`](crate::KeepaliveInfo::retries_source) reports as
    /// [`ValueSource::Os`](crate::ValueSource::Os). Not settable per socket on Solaris,
    /// OpenBSD and Haiku.
    pub const fn retries(mut self, retries: u32) -> Self {
        self.retries = Some(retries);
        self
    }

    /// Whether keepalive is on.
    pub const fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The idle time set with [`idle`](Keepalive::idle) (30 s unless changed).
    pub const fn idle_duration(&self) -> Duration {
        match self.idle {
            Some(idle) => idle,
            None => Self::DEFAULT_IDLE,
        }
    }

    /// The probe interval set with [`interval`](Keepalive::interval) (10 s unless changed).
    pub const fn interval_duration(&self) -> Duration {
        match self.interval {
            Some(interval) => interval,
            None => Self::DEFAULT_INTERVAL,
        }
    }

    /// The probe count set with [`retries`](Keepalive::retries) (3 unless changed).
    pub const fn retry_count(&self) -> u32 {
        match self.retries {
            Some(retries) => retries,
            None => Self::DEFAULT_RETRIES,
        }
    }

    /// `true` when the probe count was chosen with [`retries`](Keepalive::retries) rather than
    /// left at its default: then an OS that refuses `TCP_KEEPCNT` fails the connection.
    pub const fn is_retry_count_chosen(&self) -> bool {
        self.retries.is_some()
    }

    /// What this platform can do with each value: set it, read it back, or neither.
    pub const fn platform_support() -> KeepaliveSupport {
        sys::SUPPORT
    }

    /// How long the probes take to declare a silent peer dead once the first one went out:
    /// `interval × retries` (30 s by default). Saturates instead of overflowing.
    ///
    /// This is the count asked for: where the OS keeps its own count instead (Windows without
    /// `TCP_KEEPCNT`, see [`retries`](Keepalive::retries)), the kernel probes that many times.
    pub fn probe_time(&self) -> Duration {
        self.interval_duration().saturating_mul(self.retry_count())
    }

    /// How long after the connection went quiet a dead peer is noticed: `idle + interval ×
    /// retries` (60 s by default). It is also the default `TCP_USER_TIMEOUT` on Linux, so data
    /// left unacknowledged (when the kernel retransmits instead of probing) gives up on the
    /// same schedule. Saturates instead of overflowing.
    pub fn detection_time(&self) -> Duration {
        self.idle_duration().saturating_add(self.probe_time())
    }

    /// Checks every value against what the kernel accepts, so nothing is truncated or refused
    /// later at connect time, and every chosen value against what this OS can set.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        self.validate_for(&sys::SUPPORT)
    }

    /// [`validate`](Keepalive::validate) against the given platform's support, so the checks
    /// for platforms other than the one running the tests are tested too.
    pub(crate) fn validate_for(&self, support: &KeepaliveSupport) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        if let Some(idle) = self.idle {
            settable(ConfigField::KeepaliveIdle, idle, support.idle())?;
            whole_seconds(ConfigField::KeepaliveIdle, idle, limits::MAX_KEEPIDLE)?;
        }
        if let Some(interval) = self.interval {
            settable(ConfigField::KeepaliveInterval, interval, support.interval())?;
            whole_seconds(
                ConfigField::KeepaliveInterval,
                interval,
                limits::MAX_KEEPINTVL,
            )?;
        }
        if let Some(retries) = self.retries {
            settable(ConfigField::KeepaliveRetries, retries, support.retries())?;
            count(
                ConfigField::KeepaliveRetries,
                retries.into(),
                limits::MAX_KEEPCNT.into(),
            )?;
        }
        Ok(())
    }
}

/// Refuses a chosen value for an option this platform does not have at all.
fn settable(
    field: ConfigField,
    value: impl fmt::Debug,
    support: OptionSupport,
) -> Result<(), ConfigError> {
    if support.set() == Availability::No {
        return Err(ConfigError::new(
            field,
            value,
            ConfigErrorReason::Unsupported {
                option: support.name(),
            },
        ));
    }
    Ok(())
}

/// The values in effect, each marked `(default)` unless chosen: `Keepalive { enabled: true,
/// idle: 30s (default), interval: 10s (default), retries: 3 (default) }`.
impl fmt::Debug for Keepalive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Value<T>(T, bool);
        impl<T: fmt::Debug> fmt::Debug for Value<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)?;
                if !self.1 {
                    f.write_str(" (default)")?;
                }
                Ok(())
            }
        }
        f.debug_struct("Keepalive")
            .field("enabled", &self.enabled)
            .field("idle", &Value(self.idle_duration(), self.idle.is_some()))
            .field(
                "interval",
                &Value(self.interval_duration(), self.interval.is_some()),
            )
            .field(
                "retries",
                &Value(self.retry_count(), self.retries.is_some()),
            )
            .finish()
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
    pub(crate) user_timeout: UserTimeout,
    pub(crate) send_buffer_size: Option<usize>,
    pub(crate) recv_buffer_size: Option<usize>,
    pub(crate) hook: Option<SocketHook>,
}

/// `TCP_USER_TIMEOUT` as configured: the default follows keepalive, a choice is kept as made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(tcp_user_timeout), allow(dead_code))]
pub(crate) enum UserTimeout {
    /// The default: keepalive's [`detection_time`](Keepalive::detection_time) while keepalive
    /// is on, as grpc-go does; unset while it is off.
    FollowKeepalive,
    /// `Builder::tcp_user_timeout`: this value, or `None` for the kernel's default.
    Chosen(Option<Duration>),
}

impl Default for SocketPolicy {
    /// The [`Builder`](crate::Builder)'s defaults: keepalive on at
    /// [`Stage::AfterHandshake`], `TCP_NODELAY` on, `TCP_USER_TIMEOUT` following keepalive,
    /// the kernel's buffer sizes, no hook.
    fn default() -> Self {
        SocketPolicy {
            keepalive: Keepalive::new(),
            keepalive_at: Stage::AfterHandshake,
            nodelay: true,
            user_timeout: UserTimeout::FollowKeepalive,
            send_buffer_size: None,
            recv_buffer_size: None,
            hook: None,
        }
    }
}

impl SocketPolicy {
    /// The `TCP_USER_TIMEOUT` set at the keepalive stage, if any: the chosen value, or by
    /// default keepalive's detection time (`idle + interval × retries`, at most what Linux
    /// takes: keepalive's own limits allow 32767 s + 32767 s × 127, about 48 days, where
    /// `TCP_USER_TIMEOUT` stops at about 24.8).
    pub(crate) fn tcp_user_timeout(&self) -> Option<Duration> {
        match self.user_timeout {
            UserTimeout::Chosen(timeout) => timeout,
            UserTimeout::FollowKeepalive if self.keepalive.is_enabled() => Some(
                self.keepalive
                    .detection_time()
                    .min(limits::MAX_USER_TIMEOUT),
            ),
            UserTimeout::FollowKeepalive => None,
        }
    }

    /// Checks every value against what the kernel accepts, so nothing is truncated or refused
    /// later at connect time. (Where the OS has no `TCP_USER_TIMEOUT` only the default can be
    /// in force, which passes; it is never set there.)
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        self.keepalive.validate()?;
        if let Some(timeout) = self.tcp_user_timeout() {
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
            .field("tcp_user_timeout", &self.tcp_user_timeout())
            .field("send_buffer_size", &self.send_buffer_size)
            .field("recv_buffer_size", &self.recv_buffer_size)
            .field("hook", &self.hook.as_ref().map(|_| "Fn"))
            .finish()
    }
}
