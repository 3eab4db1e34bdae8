//! SOCKS5 (RFC 1928, with RFC 1929 user name and password) over any stream, through
//! tokio-socks, whose errors are mapped here onto [`SocksError`].

use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_socks::tcp::Socks5Stream;
use tokio_socks::Error as TsError;

use super::{Failure, ProxyError, SocksError, SocksReply};

/// Where the proxy should connect: an address (`socks5://`, resolved here) or a name
/// (`socks5h://`, resolved by the proxy).
#[derive(Debug, Clone, Copy)]
pub(crate) enum SocksTarget<'a> {
    Addr(SocketAddr),
    Name(&'a str, u16),
}

/// Negotiates a connection to `target` over `io`; gives the stream back, now a tunnel.
pub(crate) async fn connect<IO>(
    io: IO,
    target: SocksTarget<'_>,
    credentials: Option<(&str, &str)>,
) -> Result<IO, Failure>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let stream = match (target, credentials) {
        (SocksTarget::Addr(addr), None) => Socks5Stream::connect_with_socket(io, addr).await,
        (SocksTarget::Name(host, port), None) => {
            Socks5Stream::connect_with_socket(io, (host, port)).await
        }
        (SocksTarget::Addr(addr), Some((user, pass))) => {
            Socks5Stream::connect_with_password_and_socket(io, addr, user, pass).await
        }
        (SocksTarget::Name(host, port), Some((user, pass))) => {
            Socks5Stream::connect_with_password_and_socket(io, (host, port), user, pass).await
        }
    };
    stream.map(Socks5Stream::into_inner).map_err(failure)
}

fn failure(e: TsError) -> Failure {
    let socks = match e {
        TsError::Io(e) => return Failure::Io(e),
        TsError::GeneralSocksServerFailure => SocksError::Reply(SocksReply::GeneralFailure),
        TsError::ConnectionNotAllowedByRuleset => SocksError::Reply(SocksReply::NotAllowed),
        TsError::NetworkUnreachable => SocksError::Reply(SocksReply::NetworkUnreachable),
        TsError::HostUnreachable => SocksError::Reply(SocksReply::HostUnreachable),
        TsError::ConnectionRefused => SocksError::Reply(SocksReply::ConnectionRefused),
        TsError::TtlExpired => SocksError::Reply(SocksReply::TtlExpired),
        TsError::CommandNotSupported => SocksError::Reply(SocksReply::CommandNotSupported),
        TsError::AddressTypeNotSupported => SocksError::Reply(SocksReply::AddressTypeNotSupported),
        // tokio-socks reports reply codes above 8 as `UnknownAuthMethod`; in its reply parser
        // that is the only place it does, and during method selection it uses
        // `NoAcceptableAuthMethods` instead.
        TsError::UnknownError | TsError::UnknownAuthMethod => {
            SocksError::Reply(SocksReply::Unknown)
        }
        TsError::PasswordAuthFailure(status) => SocksError::AuthFailed { status },
        TsError::NoAcceptableAuthMethods | TsError::AuthorizationRequired => {
            SocksError::NoAcceptableAuthMethods
        }
        TsError::InvalidTargetAddress(_) => SocksError::NameTooLong,
        _ => SocksError::Protocol,
    };
    Failure::Proxy(ProxyError::Socks(socks))
}
