//! The *tunnel* layer, between dial and secure: it takes the dialed stream and the origin and
//! hands on a stream that reaches the origin. Direct, that is the dialed stream itself; through
//! a proxy, it runs the proxy's protocol: TLS to an `https://` proxy, then `CONNECT`, or SOCKS5.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use rustls::pki_types::{DnsName, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use crate::deadline::within;
use crate::error::{ConnectError, NoAddress, Phase};
use crate::origin::Origin;
use crate::proxy::http as connect;
use crate::proxy::socks::{self, SocksTarget};
use crate::proxy::{
    Failure, ProxyAuth, ProxyError, ProxyKind, ProxyTarget, SocksError, SocksReply,
};
use crate::stream::MaybeTls;
use crate::tls::{self, TlsSetup};

/// A stream that reaches the origin: the dialed stream itself (direct, `CONNECT`, SOCKS5), or
/// TLS to an `https://` proxy over it. Returned by
/// [`Connector::tunnel_handshake`](crate::Connector::tunnel_handshake); what the *secure*
/// layer runs the origin's TLS over.
pub type TunnelStream<IO> = MaybeTls<IO>;

/// The proxy piece of a connector's configuration: what the tunnel layer needs besides the
/// proxy itself.
#[derive(Clone, Debug)]
pub(crate) struct TunnelSetup {
    /// TLS to `https://` proxies: the connector's trust, ALPN `http/1.1` only.
    pub(crate) proxy_tls: TlsSetup,
}

impl TunnelSetup {
    /// The tunnel layer's piece, from the secure layer's (`https://` proxies are verified with
    /// the same trust).
    pub(crate) fn new(tls: &TlsSetup) -> Self {
        TunnelSetup {
            proxy_tls: tls.for_proxies(),
        }
    }
}

/// Whether an `http://` origin is reached by absolute-form forwarding instead of a tunnel:
/// through an HTTP(S) proxy, unless HTTP/2 with prior knowledge (proxies forward HTTP/1.1).
/// With credentials too, as curl and reqwest do: the stream adds them to every request
/// (`proxy::forward`), where a `CONNECT` to port 80 would be refused by Squid's default
/// configuration and by tinyproxy's `ConnectPort`.
pub(crate) fn forwards(proxy: &ProxyTarget, origin: &Origin, h2_prior_knowledge: bool) -> bool {
    !origin.is_tls()
        && matches!(proxy.kind, ProxyKind::Http | ProxyKind::Https)
        && !h2_prior_knowledge
}

/// Runs `proxy`'s protocol over `io` (a stream to the proxy) so that it reaches `origin`, or,
/// when `forward`, only what it takes to speak HTTP to the proxy itself. The `CONNECT` or
/// SOCKS5 exchange must end by `deadline` (the connect timeout, `budget`, shared with
/// dialing); TLS to an `https://` proxy has the handshake timeout, and the connect timeout does
/// not run meanwhile (the deadline moves by the handshake's time), so a slow but legal
/// handshake leaves the exchange what it had. Every failure is [`Phase::Proxy`].
///
/// `socks_addr`: for `socks5://` and an origin named by a name, the address (resolved by the
/// dial layer) the proxy is asked to connect to.
#[allow(clippy::too_many_arguments)] // each is one piece of the hop; a struct would only rename them
pub(crate) async fn tunnel<IO>(
    setup: &TunnelSetup,
    proxy: &ProxyTarget,
    io: IO,
    origin: &Origin,
    forward: bool,
    socks_addr: Option<SocketAddr>,
    deadline: Instant,
    budget: Duration,
) -> Result<TunnelStream<IO>, ConnectError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let err = || ConnectError::new(Phase::Proxy).with_host(origin.host());
    let failed = |f: Failure| match f {
        Failure::Proxy(e) => err().with_source(e),
        Failure::Io(e) => err().with_source(e),
    };
    let timed_out = || err().timed_out(budget);
    match proxy.kind {
        ProxyKind::Http | ProxyKind::Https => {
            let mut deadline = deadline;
            let mut stream = if proxy.kind == ProxyKind::Https {
                let name = proxy_server_name(proxy).map_err(|e| err().with_source(e))?;
                let handshake_start = Instant::now();
                let (tls, _) = tls::secure(&setup.proxy_tls, name, io).await.map_err(|e| {
                    // The handshake with the proxy is part of the proxy hop.
                    e.in_phase(Phase::Proxy).with_host(origin.host())
                })?;
                // The handshake had its own timeout; the connect timeout was not running.
                let spent = handshake_start.elapsed();
                deadline = deadline.checked_add(spent).unwrap_or(deadline);
                TunnelStream::Tls(Box::new(tls))
            } else {
                TunnelStream::Plain(io)
            };
            if forward {
                return Ok(stream);
            }
            let auth = match &proxy.auth {
                ProxyAuth::Basic(value) => Some(value),
                _ => None,
            };
            let request = connect::request(origin.host(), origin.ip(), origin.port(), auth);
            match within(
                budget,
                deadline,
                connect::connect(&mut stream, &request, auth.is_some()),
            )
            .await
            {
                Some(Ok(())) => Ok(stream),
                Some(Err(f)) => Err(failed(f)),
                None => Err(timed_out()),
            }
        }
        ProxyKind::Socks5 | ProxyKind::Socks5h => {
            let credentials = match &proxy.auth {
                ProxyAuth::Socks { user, password } => Some((user.as_str(), password.as_str())),
                _ => None,
            };
            let target = match (proxy.kind, origin.ip(), socks_addr) {
                (_, Some(ip), _) => SocksTarget::Addr((ip, origin.port()).into()),
                (ProxyKind::Socks5h, None, _) => SocksTarget::Name(origin.host(), origin.port()),
                (_, None, Some(addr)) => SocksTarget::Addr(addr),
                // The connector resolves a `socks5://` origin before the tunnel step.
                (_, None, None) => {
                    return Err(ConnectError::new(Phase::Dns)
                        .with_host(origin.host())
                        .with_source(NoAddress::Resolved))
                }
            };
            let negotiate = async {
                socks::connect(io, target, credentials)
                    .await
                    .map_err(failed)
            };
            match within(budget, deadline, negotiate).await {
                Some(Ok(io)) => Ok(TunnelStream::Plain(io)),
                Some(Err(e)) => Err(e),
                None => Err(timed_out()),
            }
        }
    }
}

/// Whether `err` is a SOCKS5 proxy's "network unreachable" or "host unreachable" (replies 3
/// and 4): the address it was asked for is out of its reach, and another of the origin's may
/// not be.
pub(crate) fn is_unreachable_via_socks(err: &ConnectError) -> bool {
    matches!(
        err.proxy_error(),
        Some(ProxyError::Socks(SocksError::Reply(
            SocksReply::NetworkUnreachable | SocksReply::HostUnreachable
        )))
    )
}

/// The name an `https://` proxy's certificate must match.
fn proxy_server_name(proxy: &ProxyTarget) -> Result<ServerName<'static>, io::Error> {
    if let Some(ip) = proxy.ip {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    DnsName::try_from(proxy.host.as_str())
        .map(|name| ServerName::DnsName(name.to_owned()))
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "proxy host {:?} is not a valid DNS name for TLS",
                    proxy.host
                ),
            )
        })
}
