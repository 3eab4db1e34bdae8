//! [`ProxyError`]: why a proxy would not carry a connection, as the cause of a
//! [`Phase::Proxy`](crate::Phase::Proxy) error; and `Failure`, what the protocols (`http`,
//! `socks`) hand the tunnel layer.

use std::fmt;
use std::io;

use http::StatusCode;

/// Why the proxy hop failed: the cause ([`source()`](std::error::Error::source)) of a
/// [`ConnectError`](crate::ConnectError) of [`Phase::Proxy`](crate::Phase::Proxy), unless the
/// cause is an I/O error (a reset by the proxy) or a TLS error (the handshake with an `https://`
/// proxy).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyError {
    /// The proxy answered `CONNECT` with this non-2xx status: 407 (credentials missing or
    /// refused), 403 (not allowed), 502 (it could not reach the origin), …
    Refused {
        /// The status the proxy answered with.
        status: StatusCode,
        /// Whether a `Proxy-Authorization` header was sent.
        credentials_sent: bool,
    },
    /// The proxy's answer to `CONNECT` is not an HTTP/1.x response head.
    BadResponse,
    /// The proxy's response head did not end within this many bytes.
    ResponseTooLong {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The proxy's response head to `CONNECT` has more header lines than this.
    TooManyHeaders {
        /// The limit.
        limit: usize,
    },
    /// The proxy closed the connection before its response head was complete.
    ClosedEarly {
        /// How many bytes of a response had arrived.
        received: usize,
    },
    /// After a 2xx to `CONNECT` the proxy sent bytes of its own before the client spoke; the
    /// origin (a TLS server) cannot have sent them.
    UnexpectedData {
        /// How many bytes.
        bytes: usize,
    },
    /// The SOCKS5 negotiation failed.
    Socks(SocksError),
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyError::Refused {
                status,
                credentials_sent,
            } => {
                write!(f, "the proxy answered CONNECT with {status}")?;
                // 407 is the standard answer; some proxies (tinyproxy) answer wrong
                // credentials with 401.
                if *status == StatusCode::PROXY_AUTHENTICATION_REQUIRED
                    || *status == StatusCode::UNAUTHORIZED
                {
                    f.write_str(if *credentials_sent {
                        " (the credentials sent were refused)"
                    } else {
                        " (no credentials are configured for it)"
                    })?;
                }
                Ok(())
            }
            ProxyError::BadResponse => f.write_str("the proxy's answer to CONNECT is not HTTP"),
            ProxyError::ResponseTooLong { limit } => write!(
                f,
                "the proxy's response head to CONNECT is longer than {limit} bytes"
            ),
            ProxyError::TooManyHeaders { limit } => write!(
                f,
                "the proxy's response head to CONNECT has more than {limit} header lines"
            ),
            ProxyError::ClosedEarly { received } => write!(
                f,
                "the proxy closed the connection after {received} bytes, before its answer to \
                 CONNECT was complete"
            ),
            ProxyError::UnexpectedData { bytes } => write!(
                f,
                "the proxy sent {bytes} bytes after its answer to CONNECT, before the client spoke"
            ),
            ProxyError::Socks(e) => write!(f, "SOCKS5: {e}"),
        }
    }
}

impl std::error::Error for ProxyError {}

/// Why a SOCKS5 negotiation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SocksError {
    /// The proxy refused the CONNECT request with this reply.
    Reply(SocksReply),
    /// The proxy refused the user name and password (RFC 1929 status).
    AuthFailed {
        /// The status byte the proxy answered with (0 would have been success).
        status: u8,
    },
    /// The proxy accepts none of the authentication methods offered: typically it wants a
    /// user name and password and none is configured.
    NoAcceptableAuthMethods,
    /// The proxy does not speak SOCKS5 (a wrong version, reserved byte or address type).
    Protocol,
    /// The origin's name is longer than SOCKS5's 255 bytes.
    NameTooLong,
}

impl fmt::Display for SocksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocksError::Reply(reply) => write!(
                f,
                "the proxy refused the connection: {reply} (reply {})",
                reply.code()
            ),
            SocksError::AuthFailed { status } => write!(
                f,
                "the proxy refused the user name and password (status {status})"
            ),
            SocksError::NoAcceptableAuthMethods => f.write_str(
                "the proxy accepts none of the offered authentication methods (does it need a \
                 user name and password?)",
            ),
            SocksError::Protocol => f.write_str("the proxy does not speak SOCKS5"),
            SocksError::NameTooLong => f.write_str("the host name is longer than 255 bytes"),
        }
    }
}

/// A SOCKS5 reply code other than success (RFC 1928 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SocksReply {
    /// 1: general SOCKS server failure.
    GeneralFailure,
    /// 2: connection not allowed by ruleset.
    NotAllowed,
    /// 3: network unreachable.
    NetworkUnreachable,
    /// 4: host unreachable.
    HostUnreachable,
    /// 5: connection refused.
    ConnectionRefused,
    /// 6: TTL expired.
    TtlExpired,
    /// 7: command not supported.
    CommandNotSupported,
    /// 8: address type not supported.
    AddressTypeNotSupported,
    /// A code RFC 1928 does not define.
    Unknown,
}

impl SocksReply {
    /// The reply code (0 for [`Unknown`](SocksReply::Unknown), whose code is not kept).
    pub fn code(self) -> u8 {
        match self {
            SocksReply::GeneralFailure => 1,
            SocksReply::NotAllowed => 2,
            SocksReply::NetworkUnreachable => 3,
            SocksReply::HostUnreachable => 4,
            SocksReply::ConnectionRefused => 5,
            SocksReply::TtlExpired => 6,
            SocksReply::CommandNotSupported => 7,
            SocksReply::AddressTypeNotSupported => 8,
            SocksReply::Unknown => 0,
        }
    }
}

impl fmt::Display for SocksReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SocksReply::GeneralFailure => "general SOCKS server failure",
            SocksReply::NotAllowed => "connection not allowed by ruleset",
            SocksReply::NetworkUnreachable => "network unreachable",
            SocksReply::HostUnreachable => "host unreachable",
            SocksReply::ConnectionRefused => "connection refused",
            SocksReply::TtlExpired => "TTL expired",
            SocksReply::CommandNotSupported => "command not supported",
            SocksReply::AddressTypeNotSupported => "address type not supported",
            SocksReply::Unknown => "unknown reply code",
        })
    }
}

/// What went wrong in a proxy protocol's exchange (`CONNECT` or SOCKS5): the proxy's answer, or
/// the stream under it. The tunnel layer turns it into a [`Phase::Proxy`](crate::Phase::Proxy)
/// error.
#[derive(Debug)]
pub(crate) enum Failure {
    Proxy(ProxyError),
    Io(io::Error),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Io(e)
    }
}

impl From<ProxyError> for Failure {
    fn from(e: ProxyError) -> Self {
        Failure::Proxy(e)
    }
}
