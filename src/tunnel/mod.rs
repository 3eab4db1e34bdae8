//! The *tunnel* layer, between dial and secure: which way a connection takes to its origin,
//! where its socket goes, and, over the dialed stream, what it takes to reach the origin.
//! Direct, that is nothing; through a proxy, the proxy's protocol: TLS to an `https://` proxy,
//! then `CONNECT` (or, for a forwarded `http://` origin, nothing more), or SOCKS5.
//!
//! - [`Way`]: decided once per connection from the connector's proxy rules: the proxy (if any),
//!   the endpoint the dial layer connects to, and whether an `http://` origin is forwarded;
//! - [`Targets`]: what a `socks5://` proxy is asked to connect to, in turn;
//! - [`open`]: the tunnel step itself, timed;
//! - `stream`: [`TunnelStream`], what the step hands on to the secure layer.
//!
//! [`Connector::connect`](crate::Connector::connect) and
//! [`Connector::tunnel_handshake`](crate::Connector::tunnel_handshake) both go through these,
//! so the two cannot take different ways.
//!
//! Failures of the step are [`Phase::Proxy`] (the TLS handshake with an `https://` proxy
//! included), except the lookup of the origin's name for a `socks5://` proxy, which is
//! [`Phase::Dns`] (see [`Way::targets`]).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tracing::{debug, Instrument};

use crate::deadline::within;
use crate::dial::{self, Addresses, DialConfig, Endpoint};
use crate::error::{ConnectError, NoAddress, Phase};
use crate::origin::Origin;
use crate::proxy::forward::Forward;
use crate::proxy::http as connect;
use crate::proxy::socks::{self, SocksTarget};
use crate::proxy::{
    Decision, Failure, ProxyAuth, ProxyError, ProxyInfo, ProxyKind, ProxyTarget, Routes,
    SocksError, SocksReply,
};
use crate::tls::{self, MaybeTls, TlsSetup};

mod stream;

pub use stream::TunnelStream;

/// The tunnel piece of a connector's configuration: what the tunnel layer needs besides the
/// proxy itself.
#[derive(Clone, Debug)]
pub(crate) struct TunnelSetup {
    /// TLS to `https://` proxies: the connector's trust, ALPN `http/1.1` only.
    proxy_tls: TlsSetup,
    /// HTTP/2 with prior knowledge on plain `http://`: then never forwarded (proxies forward
    /// HTTP/1.1).
    h2_prior_knowledge: bool,
    /// The connect timeout, which also bounds the `CONNECT` or SOCKS5 exchange.
    connect_timeout: Duration,
}

impl TunnelSetup {
    /// The tunnel layer's piece, from the secure layer's (`https://` proxies are verified with
    /// the same trust) and the dial layer's (its connect timeout).
    pub(crate) fn new(tls: &TlsSetup, dial: &DialConfig) -> Self {
        TunnelSetup {
            proxy_tls: tls.for_proxies(),
            h2_prior_knowledge: tls.http.is_h2(None),
            connect_timeout: dial.connect_timeout,
        }
    }

    /// The connect timeout: the `CONNECT` or SOCKS5 exchange shares its deadline with dialing.
    pub(crate) fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }
}

/// The way a connection takes to its origin: direct, or through the proxy the rules chose.
#[derive(Debug)]
pub(crate) struct Way<'a> {
    origin: &'a Origin,
    proxy: Option<ProxyInfo>,
    /// An `http://` origin reached by absolute-form forwarding instead of a tunnel.
    forward: bool,
}

impl<'a> Way<'a> {
    /// Asks the connector's rules for `origin`'s way.
    ///
    /// An `http://` origin through an HTTP(S) proxy is forwarded in absolute form, unless
    /// HTTP/2 with prior knowledge (proxies forward HTTP/1.1). With credentials too, as curl and
    /// reqwest do: the stream adds them to every request (`proxy::forward`), where a `CONNECT`
    /// to port 80 would be refused by Squid's default configuration and by tinyproxy's
    /// `ConnectPort`.
    pub(crate) fn decide(routes: &Routes, setup: &TunnelSetup, origin: &'a Origin) -> Self {
        let proxy = match routes.decide(origin) {
            Decision::Proxy(target) => Some(ProxyInfo::new(target)),
            Decision::Direct | Decision::NoProxy(_) => None,
        };
        let forward = proxy.as_ref().is_some_and(|p| {
            !origin.is_tls()
                && matches!(p.kind(), ProxyKind::Http | ProxyKind::Https)
                && !setup.h2_prior_knowledge
        });
        Way {
            origin,
            proxy,
            forward,
        }
    }

    /// The origin the way leads to.
    pub(crate) fn origin(&self) -> &'a Origin {
        self.origin
    }

    /// The proxy, when there is one.
    pub(crate) fn proxy(&self) -> Option<&ProxyInfo> {
        self.proxy.as_ref()
    }

    /// Where the socket goes: the proxy, or the origin itself.
    pub(crate) fn endpoint(&self) -> Endpoint<'_> {
        match &self.proxy {
            Some(p) => {
                let p = p.target();
                Endpoint {
                    host: &p.host,
                    ip: p.ip,
                    port: p.port,
                }
            }
            None => Endpoint {
                host: self.origin.host(),
                ip: self.origin.ip(),
                port: self.origin.port(),
            },
        }
    }

    /// `err`, naming the proxy when there is one: every error of a connection through a
    /// proxy does, also when the proxy itself could not be reached.
    pub(crate) fn named(&self, err: ConnectError) -> ConnectError {
        match &self.proxy {
            Some(proxy) => err.with_proxy(proxy.clone()),
            None => err,
        }
    }

    /// What the proxy is to be asked to connect to. For `socks5://` and an origin named by a
    /// name, its addresses, resolved here through the dial layer (the connector's resolver,
    /// DNS cache and [`ip_family`](crate::Builder::ip_family)) by `deadline`: a failed lookup
    /// is a [`Phase::Dns`] error about the origin (its host, and the proxy named). Otherwise
    /// nothing to resolve: the proxy is given the name (`socks5h://`) or the IP literal, and
    /// the other ways need no target.
    pub(crate) async fn targets(
        &self,
        dial: &DialConfig,
        deadline: Instant,
    ) -> Result<Targets, ConnectError> {
        let resolve = self
            .proxy
            .as_ref()
            .is_some_and(|p| p.kind() == ProxyKind::Socks5 && self.origin.ip().is_none());
        if !resolve {
            return Ok(Targets {
                addrs: None,
                next: 0,
            });
        }
        let (host, port) = (self.origin.host(), self.origin.port());
        let addrs = dial::addresses(dial, host, port, deadline)
            .instrument(tracing::debug_span!("dns", origin = host))
            .await?;
        Ok(Targets {
            addrs: Some(addrs),
            next: 0,
        })
    }
}

/// What a `socks5://` proxy is asked to connect to, in turn: each of the origin's addresses,
/// the next while the proxy answers that it cannot reach one (a dial likewise tries the next
/// address). For every other way, one attempt with no address.
#[derive(Debug)]
pub(crate) struct Targets {
    addrs: Option<Addresses>,
    next: usize,
}

impl Targets {
    /// The address the proxy is asked for on this attempt, if the way needs one.
    pub(crate) fn current(&self) -> Option<SocketAddr> {
        self.addrs
            .as_ref()
            .and_then(|a| a.usable().get(self.next).copied())
    }

    /// After `err` ended an attempt: `Ok` when another attempt is worth making (a SOCKS5
    /// proxy's "network unreachable" or "host unreachable", replies 3 and 4, while the origin
    /// has another address), else the error to report. When the proxy could reach none of
    /// the addresses, their DNS cache entry is dropped, as a dial drops one whose every
    /// address failed.
    pub(crate) fn next_after(
        &mut self,
        err: ConnectError,
        dial: &DialConfig,
        origin: &Origin,
    ) -> Result<(), ConnectError> {
        let Some(addrs) = &self.addrs else {
            return Err(err);
        };
        let unreachable = matches!(
            err.proxy_error(),
            Some(ProxyError::Socks(SocksError::Reply(
                SocksReply::NetworkUnreachable | SocksReply::HostUnreachable
            )))
        );
        if !unreachable {
            return Err(err);
        }
        self.next += 1;
        if self.next < addrs.usable().len() {
            debug!(
                addr = ?addrs.usable()[self.next - 1],
                "the proxy cannot reach this address: the next"
            );
            return Ok(());
        }
        dial::forget_unreachable(dial, origin.host(), origin.port(), addrs);
        Err(err)
    }
}

/// What the tunnel step handed on, and how long it took.
#[derive(Debug)]
pub(crate) struct Tunneled<IO> {
    pub(crate) stream: TunnelStream<IO>,
    /// [`Timings::proxy`](crate::Timings::proxy): `None` when direct.
    pub(crate) time: Option<Duration>,
}

/// Runs the tunnel step over `io`, a stream to `way`'s [endpoint](Way::endpoint). Direct,
/// `io` is handed on as it is. Through a proxy: TLS with an `https://` proxy, then `CONNECT`
/// (nothing more when the origin is forwarded: the stream then rewrites each request head),
/// or SOCKS5 to `target` (from [`Targets::current`]).
///
/// The `CONNECT` or SOCKS5 exchange must end by `deadline` (the connect timeout, shared with
/// dialing); TLS to an `https://` proxy has the handshake timeout, and the connect timeout
/// does not run meanwhile (the deadline moves by the handshake's time), so a slow but legal
/// handshake leaves the exchange what it had. Failures are [`Phase::Proxy`] and name the
/// origin's host; the caller adds the address and the proxy ([`Way::named`]).
pub(crate) async fn open<IO>(
    setup: &TunnelSetup,
    way: &Way<'_>,
    io: IO,
    target: Option<SocketAddr>,
    deadline: Instant,
) -> Result<Tunneled<IO>, ConnectError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let Some(proxy) = &way.proxy else {
        return Ok(Tunneled {
            stream: TunnelStream::new(Forward::plain(MaybeTls::Plain(io))),
            time: None,
        });
    };
    let proxy = proxy.target();
    let start = Instant::now();
    let stream = through(setup, proxy, way, io, target, deadline)
        .instrument(tracing::debug_span!("proxy", proxy = %proxy.url, kind = %proxy.kind))
        .await?;
    let time = start.elapsed();
    debug!(?time, forward = way.forward, "proxy tunnel ready");
    Ok(Tunneled {
        stream: TunnelStream::new(stream),
        time: Some(time),
    })
}

/// The proxy's protocol over `io`.
async fn through<IO>(
    setup: &TunnelSetup,
    proxy: &ProxyTarget,
    way: &Way<'_>,
    io: IO,
    target: Option<SocketAddr>,
    deadline: Instant,
) -> Result<Forward<MaybeTls<IO>>, ConnectError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let origin = way.origin;
    let budget = setup.connect_timeout;
    let err = || ConnectError::new(Phase::Proxy).with_host(origin.host());
    let failed = |f: Failure| match f {
        Failure::Proxy(e) => err().with_source(e),
        Failure::Io(e) => err().with_source(e),
    };
    let timed_out = || err().timed_out(budget);
    let basic = match &proxy.auth {
        ProxyAuth::Basic(value) => Some(value),
        _ => None,
    };
    match proxy.kind {
        ProxyKind::Http | ProxyKind::Https => {
            let mut deadline = deadline;
            // Set exactly for `https://` proxies, when the connector was built.
            let mut stream = match &proxy.tls_name {
                Some(name) => {
                    let handshake_start = Instant::now();
                    let (tls, _) = tls::secure(&setup.proxy_tls, name.clone(), io)
                        .await
                        // The handshake with the proxy is part of the proxy hop.
                        .map_err(|e| e.in_phase(Phase::Proxy).with_host(origin.host()))?;
                    // The handshake had its own timeout; the connect timeout was not running.
                    let spent = handshake_start.elapsed();
                    deadline = deadline.checked_add(spent).unwrap_or(deadline);
                    MaybeTls::Tls(Box::new(tls))
                }
                None => MaybeTls::Plain(io),
            };
            if way.forward {
                // Requests go to the proxy in absolute form: each head gets the credentials
                // and loses the target's user info on its way (`proxy::forward`).
                return Ok(Forward::forwarding(stream, basic.cloned()));
            }
            let request = connect::request(origin.host(), origin.ip(), origin.port(), basic);
            let exchange = connect::connect(&mut stream, &request, basic.is_some());
            match within(budget, deadline, exchange).await {
                Some(Ok(())) => Ok(Forward::plain(stream)),
                Some(Err(f)) => Err(failed(f)),
                None => Err(timed_out()),
            }
        }
        ProxyKind::Socks5 | ProxyKind::Socks5h => {
            let credentials = match &proxy.auth {
                ProxyAuth::Socks { user, password } => Some((user.as_str(), password.as_str())),
                _ => None,
            };
            let target = match (proxy.kind, origin.ip(), target) {
                (_, Some(ip), _) => SocksTarget::Addr((ip, origin.port()).into()),
                (ProxyKind::Socks5h, None, _) => SocksTarget::Name(origin.host(), origin.port()),
                (_, None, Some(addr)) => SocksTarget::Addr(addr),
                // `Way::targets` resolves a `socks5://` origin before the tunnel step.
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
                Some(Ok(io)) => Ok(Forward::plain(MaybeTls::Plain(io))),
                Some(Err(e)) => Err(e),
                None => Err(timed_out()),
            }
        }
    }
}
