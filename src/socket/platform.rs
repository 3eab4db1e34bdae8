//! What the platform the crate was built for can do with each keepalive value:
//! [`KeepaliveSupport`], from [`Keepalive::platform_support`](crate::Keepalive::platform_support).

use std::fmt;

/// Whether an OS can do something with one keepalive value (set it, or report it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Availability {
    /// On every version of this OS.
    Yes,
    /// From this OS version on (e.g. `"Windows 10 1703"`); earlier versions, and Wine 8, refuse
    /// the option.
    Since(&'static str),
    /// Not on this OS: there is no per-socket option.
    No,
}

impl fmt::Display for Availability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Availability::Yes => f.write_str("yes"),
            Availability::Since(version) => write!(f, "from {version}"),
            Availability::No => f.write_str("no"),
        }
    }
}

/// What this platform can do with one keepalive value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OptionSupport {
    pub(crate) name: &'static str,
    pub(crate) set: Availability,
    pub(crate) read_back: Availability,
}

impl OptionSupport {
    pub(crate) const fn new(
        name: &'static str,
        set: Availability,
        read_back: Availability,
    ) -> Self {
        OptionSupport {
            name,
            set,
            read_back,
        }
    }

    /// The OS's name for the option that carries the value: `TCP_KEEPIDLE` on Linux,
    /// `TCP_KEEPALIVE` on macOS, `SIO_KEEPALIVE_VALS` for the idle time on Windows.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// Whether the connector can set the value per socket. Where it cannot
    /// ([`Availability::No`]), choosing the value explicitly is a
    /// [`ConfigError`](crate::ConfigError) with reason
    /// [`Unsupported`](crate::ConfigErrorReason::Unsupported), and leaving it at its default
    /// leaves the OS's own value in place.
    pub const fn set(&self) -> Availability {
        self.set
    }

    /// Whether the value can be read back from the kernel with getsockopt. Where it cannot,
    /// [`KeepaliveInfo`](crate::KeepaliveInfo) reports the value as set
    /// ([`ValueSource::AsSet`](crate::ValueSource::AsSet)) or as the OS's own
    /// ([`ValueSource::Os`](crate::ValueSource::Os)).
    pub const fn read_back(&self) -> Availability {
        self.read_back
    }
}

/// What the platform the crate was built for can do with each keepalive value.
///
/// ```
/// use keepalive_connector::{Availability, Keepalive};
/// let support = Keepalive::platform_support();
/// # #[cfg(target_os = "linux")]
/// assert_eq!(support.retries().set(), Availability::Yes);
/// # #[cfg(windows)]
/// assert_eq!(support.retries().set(), Availability::Since("Windows 10 1703"));
/// println!("the idle time is {} here", support.idle().name());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeepaliveSupport {
    pub(crate) idle: OptionSupport,
    pub(crate) interval: OptionSupport,
    pub(crate) retries: OptionSupport,
}

impl KeepaliveSupport {
    /// The OS this build is for, as [`std::env::consts::OS`] names it: `linux`, `windows`,
    /// `macos`…
    pub const fn os(&self) -> &'static str {
        std::env::consts::OS
    }

    /// The idle time before the first probe ([`Keepalive::idle`](crate::Keepalive::idle)).
    pub const fn idle(&self) -> OptionSupport {
        self.idle
    }

    /// The time between probes ([`Keepalive::interval`](crate::Keepalive::interval)).
    pub const fn interval(&self) -> OptionSupport {
        self.interval
    }

    /// The probe count ([`Keepalive::retries`](crate::Keepalive::retries)).
    pub const fn retries(&self) -> OptionSupport {
        self.retries
    }

    /// `true` when every value is set and read back on every version of this OS.
    pub fn is_complete(&self) -> bool {
        [self.idle, self.interval, self.retries]
            .iter()
            .all(|o| o.set == Availability::Yes && o.read_back == Availability::Yes)
    }
}
