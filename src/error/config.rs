//! [`ConfigError`]: a builder value that [`Builder::build`](crate::Builder::build) refused,
//! with the field, the limit and the reason as types a program can match on.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use crate::proxy::InvalidProxy;

/// A builder value that [`Builder::build`](crate::Builder::build) refused, naming the value and
/// why.
///
/// ```
/// use keepalive_connector::{ConfigField, Connector, Keepalive};
/// use std::time::Duration;
/// let err = Connector::builder()
///     .keepalive(Keepalive::new().idle(Duration::from_millis(500)))
///     .build()
///     .unwrap_err();
/// assert_eq!(err.field(), ConfigField::KeepaliveIdle);
/// assert!(err.to_string().contains("500ms"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    field: ConfigField,
    value: String,
    reason: ConfigErrorReason,
}

/// The builder setting a [`ConfigError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigField {
    /// [`Keepalive::idle`](crate::Keepalive::idle).
    KeepaliveIdle,
    /// [`Keepalive::interval`](crate::Keepalive::interval).
    KeepaliveInterval,
    /// [`Keepalive::retries`](crate::Keepalive::retries).
    KeepaliveRetries,
    /// [`Builder::connect_timeout`](crate::Builder::connect_timeout).
    ConnectTimeout,
    /// [`Builder::handshake_timeout`](crate::Builder::handshake_timeout).
    HandshakeTimeout,
    /// `Builder::tcp_user_timeout` (Linux, Android, Fuchsia).
    TcpUserTimeout,
    /// [`Builder::send_buffer_size`](crate::Builder::send_buffer_size).
    SendBufferSize,
    /// [`Builder::recv_buffer_size`](crate::Builder::recv_buffer_size).
    RecvBufferSize,
    /// [`Builder::tls_config`](crate::Builder::tls_config).
    TlsConfig,
    /// [`Builder::add_root_certificates_pem`](crate::Builder::add_root_certificates_pem).
    RootCertificates,
    /// [`Builder::trust`](crate::Builder::trust).
    Trust,
    /// The crypto provider rustls builds the client configuration with.
    CryptoProvider,
    /// A proxy: a [`Proxy`](crate::Proxy) rule's URL, or a proxy variable of the environment
    /// (the error's [`value`](ConfigError::value) names the variable).
    Proxy,
    /// [`Builder::happy_eyeballs_delay`](crate::Builder::happy_eyeballs_delay).
    HappyEyeballsDelay,
    /// [`Builder::dns_cache_ttl`](crate::Builder::dns_cache_ttl).
    DnsCacheTtl,
    /// [`Builder::dns_cache_capacity`](crate::Builder::dns_cache_capacity).
    DnsCacheCapacity,
    /// [`Builder::pool_idle_timeout`](crate::Builder::pool_idle_timeout).
    PoolIdleTimeout,
    /// [`Builder::read_timeout`](crate::Builder::read_timeout).
    ReadTimeout,
    /// [`Builder::max_resends`](crate::Builder::max_resends).
    MaxResends,
    /// [`Builder::silent_drop_timeout`](crate::Builder::silent_drop_timeout).
    SilentDropTimeout,
    /// The environment variable `SSL_CERT_FILE`: the CA bundle
    /// [`Trust::Platform`](crate::Trust::Platform) reads on Linux and the BSDs instead of the
    /// distribution's.
    SslCertFile,
    /// The environment variable `SSL_CERT_DIR`: the directories of CA certificates
    /// [`Trust::Platform`](crate::Trust::Platform) reads on Linux and the BSDs instead of the
    /// distribution's.
    SslCertDir,
}

impl ConfigField {
    /// The setting's name as written in messages: `keepalive.idle`, `connect_timeout`, …
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigField::KeepaliveIdle => "keepalive.idle",
            ConfigField::KeepaliveInterval => "keepalive.interval",
            ConfigField::KeepaliveRetries => "keepalive.retries",
            ConfigField::ConnectTimeout => "connect_timeout",
            ConfigField::HandshakeTimeout => "handshake_timeout",
            ConfigField::TcpUserTimeout => "tcp_user_timeout",
            ConfigField::SendBufferSize => "send_buffer_size",
            ConfigField::RecvBufferSize => "recv_buffer_size",
            ConfigField::TlsConfig => "tls_config",
            ConfigField::RootCertificates => "add_root_certificates_pem",
            ConfigField::Trust => "trust",
            ConfigField::CryptoProvider => "tls",
            ConfigField::Proxy => "proxy",
            ConfigField::HappyEyeballsDelay => "happy_eyeballs_delay",
            ConfigField::DnsCacheTtl => "dns_cache_ttl",
            ConfigField::DnsCacheCapacity => "dns_cache_capacity",
            ConfigField::PoolIdleTimeout => "pool_idle_timeout",
            ConfigField::ReadTimeout => "read_timeout",
            ConfigField::MaxResends => "max_resends",
            ConfigField::SilentDropTimeout => "silent_drop_timeout",
            ConfigField::SslCertFile => "SSL_CERT_FILE",
            ConfigField::SslCertDir => "SSL_CERT_DIR",
        }
    }
}

impl fmt::Display for ConfigField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a configuration value was refused.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ConfigErrorReason {
    /// The value is zero where zero makes no sense (a timeout, a retry count).
    Zero,
    /// A duration the kernel takes in whole seconds was under one second.
    SubSecond,
    /// A duration the kernel takes in whole seconds had a fractional part.
    NotWholeSeconds,
    /// A duration the kernel takes in whole milliseconds had a smaller fraction.
    NotWholeMilliseconds,
    /// The value is smaller than this crate accepts (a happy-eyeballs delay under RFC 8305's
    /// 10 ms floor).
    TooSmall {
        /// The smallest accepted value.
        min: Limit,
    },
    /// The value is larger than the kernel (or this crate) accepts.
    TooLarge {
        /// The largest accepted value.
        max: Limit,
    },
    /// PEM data held no certificate, or a certificate the trust store would not take; the text
    /// is the parser's explanation, for people.
    BadCertificate(String),
    /// The CA store an environment variable names (`SSL_CERT_FILE`, `SSL_CERT_DIR`) yields no
    /// certificate: missing, unreadable, empty, not PEM. Set, it replaces the distribution's
    /// store, so falling back to every public CA would widen a trust that was narrowed on
    /// purpose. The text says what was found, for people.
    NoCertificate(String),
    /// Two settings contradict each other.
    Conflict(Conflict),
    /// rustls refused to build a client configuration (a process-wide crypto provider with no
    /// usable cipher suites).
    Tls(Box<rustls::Error>),
    /// A proxy URL that cannot be used.
    InvalidProxy(InvalidProxy),
    /// The value was chosen explicitly, but this OS has no per-socket option for it (the
    /// keepalive interval on Solaris, any keepalive value on OpenBSD): the OS's system-wide
    /// setting would apply instead, so the choice is refused rather than dropped. Leave the
    /// value at its default to accept the OS's. See
    /// [`Keepalive::platform_support`](crate::Keepalive::platform_support).
    Unsupported {
        /// The option the OS lacks, as it is named elsewhere (`TCP_KEEPINTVL`).
        option: &'static str,
    },
}

/// A bound a value was checked against: a number, so a program can use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Limit {
    /// A duration (a timeout, a keepalive time).
    Duration(Duration),
    /// A count or a size in bytes.
    Count(u64),
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Duration(d) => write!(f, "{d:?}"),
            Limit::Count(n) => write!(f, "{n}"),
        }
    }
}

/// Which two settings contradict each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Conflict {
    /// [`trust`](crate::Builder::trust) was set or root certificates were added while a full
    /// `tls_config` (which has its own verifier) was given.
    TrustWithTlsConfig,
    /// `http1_only()` while the `tls_config`'s ALPN list offers `h2`.
    Http1OnlyButAlpnOffersH2,
    /// `http2_only()` while the `tls_config`'s ALPN list does not offer `h2`.
    Http2OnlyButAlpnLacksH2,
    /// `http2_only()` while the `tls_config`'s ALPN list also offers HTTP/1.x (`http/1.1`,
    /// `http/1.0`), which a server may then choose.
    Http2OnlyButAlpnOffersHttp1,
    /// [`Trust::AddedRootsOnly`](crate::Trust::AddedRootsOnly) and no root certificate was
    /// added.
    NothingTrusted,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Conflict::TrustWithTlsConfig => {
                "trust cannot be set, nor root certificates added, when a full tls_config is \
                 given; put them in its verifier"
            }
            Conflict::Http1OnlyButAlpnOffersH2 => {
                "http1_only() but the tls_config's ALPN list offers h2"
            }
            Conflict::Http2OnlyButAlpnLacksH2 => {
                "http2_only() but the tls_config's ALPN list does not offer h2"
            }
            Conflict::Http2OnlyButAlpnOffersHttp1 => {
                "http2_only() but the tls_config's ALPN list also offers HTTP/1.x"
            }
            Conflict::NothingTrusted => {
                "added-roots-only but no root certificate was added: nothing would be trusted"
            }
        })
    }
}

impl ConfigError {
    pub(crate) fn new(
        field: ConfigField,
        value: impl fmt::Debug,
        reason: ConfigErrorReason,
    ) -> Self {
        ConfigError {
            field,
            value: format!("{value:?}"),
            reason,
        }
    }

    /// The builder setting that was refused.
    pub fn field(&self) -> ConfigField {
        self.field
    }

    /// The refused value, formatted with `Debug` (e.g. `500ms`), for people.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Why it was refused.
    pub fn reason(&self) -> &ConfigErrorReason {
        &self.reason
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {} = {}: ", self.field, self.value)?;
        match &self.reason {
            ConfigErrorReason::Zero => f.write_str("must not be zero"),
            ConfigErrorReason::SubSecond => f.write_str(
                "must be at least 1s (the kernel takes whole seconds; it would round this to 0)",
            ),
            ConfigErrorReason::NotWholeSeconds => f.write_str(
                "must be a whole number of seconds (the kernel takes whole seconds and would \
                 silently truncate the fraction)",
            ),
            ConfigErrorReason::NotWholeMilliseconds => f.write_str(
                "must be a whole number of milliseconds (the kernel takes milliseconds)",
            ),
            ConfigErrorReason::TooSmall { min } => write!(f, "must be at least {min}"),
            ConfigErrorReason::TooLarge { max } => write!(f, "must be at most {max}"),
            ConfigErrorReason::BadCertificate(why) => write!(f, "bad certificate: {why}"),
            ConfigErrorReason::NoCertificate(why) => write!(
                f,
                "the CA store it names yields no certificate ({why}); fix or unset it (trust \
                 was narrowed to it, so the connector will not fall back to webpki-roots)"
            ),
            ConfigErrorReason::Conflict(why) => write!(f, "{why}"),
            ConfigErrorReason::Tls(err) => write!(f, "rustls: {err}"),
            ConfigErrorReason::InvalidProxy(err) => write!(f, "{err}"),
            ConfigErrorReason::Unsupported { option } => write!(
                f,
                "{} has no per-socket {option}; leave the value at its default to use the \
                 OS's own",
                std::env::consts::OS
            ),
        }
    }
}

impl StdError for ConfigError {}

/// Checks a duration the kernel takes in whole seconds, from 1 s to `max`.
pub(crate) fn whole_seconds(
    field: ConfigField,
    value: Duration,
    max: Duration,
) -> Result<(), ConfigError> {
    let reason = if value.is_zero() {
        ConfigErrorReason::Zero
    } else if value < Duration::from_secs(1) {
        ConfigErrorReason::SubSecond
    } else if value.subsec_nanos() != 0 {
        ConfigErrorReason::NotWholeSeconds
    } else if value > max {
        ConfigErrorReason::TooLarge {
            max: Limit::Duration(max),
        }
    } else {
        return Ok(());
    };
    Err(ConfigError::new(field, value, reason))
}

/// Checks a duration the kernel takes in whole milliseconds, from 1 ms to `max`.
pub(crate) fn whole_millis(
    field: ConfigField,
    value: Duration,
    max: Duration,
) -> Result<(), ConfigError> {
    non_zero(field, value)?;
    if value.subsec_nanos() % 1_000_000 != 0 {
        return Err(ConfigError::new(
            field,
            value,
            ConfigErrorReason::NotWholeMilliseconds,
        ));
    }
    at_most(field, value, max)
}

/// Refuses a zero duration (a timeout of nothing).
pub(crate) fn non_zero(field: ConfigField, value: Duration) -> Result<(), ConfigError> {
    if value.is_zero() {
        return Err(ConfigError::new(field, value, ConfigErrorReason::Zero));
    }
    Ok(())
}

/// Checks a duration from `min` to `max`.
pub(crate) fn between(
    field: ConfigField,
    value: Duration,
    min: Duration,
    max: Duration,
) -> Result<(), ConfigError> {
    if value < min {
        return Err(ConfigError::new(
            field,
            value,
            ConfigErrorReason::TooSmall {
                min: Limit::Duration(min),
            },
        ));
    }
    at_most(field, value, max)
}

/// Refuses a duration above `max`.
fn at_most(field: ConfigField, value: Duration, max: Duration) -> Result<(), ConfigError> {
    if value > max {
        return Err(ConfigError::new(
            field,
            value,
            ConfigErrorReason::TooLarge {
                max: Limit::Duration(max),
            },
        ));
    }
    Ok(())
}

/// Checks a count from 1 to `max`.
pub(crate) fn count(field: ConfigField, value: u64, max: u64) -> Result<(), ConfigError> {
    let reason = if value == 0 {
        ConfigErrorReason::Zero
    } else if value > max {
        ConfigErrorReason::TooLarge {
            max: Limit::Count(max),
        }
    } else {
        return Ok(());
    };
    Err(ConfigError::new(field, value, reason))
}
