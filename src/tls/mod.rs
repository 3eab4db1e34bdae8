//! The *secure* layer: a TLS handshake with rustls over any byte stream (the dialed socket, a
//! tunnel through a proxy, an in-memory pipe), within the handshake timeout, returning what it
//! negotiated.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{DnsName, ServerName};
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tokio_rustls::client::TlsStream;

use crate::deadline::{deadline_after, within};
use crate::error::{ConnectError, Phase};
use crate::http_version::HttpVersions;
use crate::info::TlsInfo;
use crate::origin::InvalidOrigin;

mod config;
mod stream;
mod trust;
mod verifier;

pub(crate) use config::TlsOptions;
pub(crate) use stream::MaybeTls;
pub use trust::{ParseTrustError, Trust, TrustInfo};

/// The TLS piece of a connector's configuration.
#[derive(Clone)]
pub(crate) struct TlsSetup {
    /// Shared by every connection, so sessions resume.
    pub(crate) config: Arc<ClientConfig>,
    /// Which trust `config`'s verifier implements.
    pub(crate) trust: TrustInfo,
    pub(crate) handshake_timeout: Duration,
    pub(crate) http: HttpVersions,
}

impl TlsSetup {
    /// The TLS set-up for `https://` proxies: the same trust and session cache, but ALPN
    /// `http/1.1` only, since `CONNECT` is spoken in HTTP/1.1, and no client certificate: one
    /// in a user's `tls_config` is the origin's to see (it names the client to the origin),
    /// not every proxy's on the way. A proxy that asks gets none, as from a client without
    /// one; there is no setting yet for a certificate meant for a proxy.
    pub(crate) fn for_proxies(&self) -> TlsSetup {
        let mut config = (*self.config).clone();
        config.alpn_protocols = HttpVersions::Http1Only.alpn();
        config.client_auth_cert_resolver = Arc::new(NoClientCert);
        TlsSetup {
            config: Arc::new(config),
            trust: self.trust.clone(),
            handshake_timeout: self.handshake_timeout,
            http: HttpVersions::Http1Only,
        }
    }
}

/// Offers no client certificate (rustls's own resolver for `with_no_client_auth` is private).
#[derive(Debug)]
struct NoClientCert;

impl rustls::client::ResolvesClientCert for NoClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        None
    }

    fn has_certs(&self) -> bool {
        false
    }
}

impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSetup")
            .field("alpn", &self.config.alpn_protocols)
            .field("trust", &self.trust)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

/// The name a server's certificate must match, for the origin and an `https://` proxy alike:
/// an IP literal becomes `ServerName::IpAddress` (rustls then sends no SNI and checks the
/// certificate's IP SANs), a name must be one rustls takes as a DNS name (`a..b` and `-x.com`
/// are not). Checked before any network work: an origin's as a [`Phase::Uri`] error of
/// `connect`, a proxy's when the connector is built.
pub(crate) fn server_name(
    host: &str,
    ip: Option<IpAddr>,
) -> Result<ServerName<'static>, InvalidOrigin> {
    if let Some(ip) = ip {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    DnsName::try_from(host)
        .map(|name| ServerName::DnsName(name.to_owned()))
        .map_err(|_| InvalidOrigin::BadServerName(host.to_owned()))
}

/// Runs the TLS handshake with `name` over `io` within the handshake timeout, and checks the
/// negotiated ALPN. Errors are [`Phase::Tls`], without the peer: the caller knows it.
pub(crate) async fn secure<IO>(
    setup: &TlsSetup,
    name: ServerName<'static>,
    io: IO,
) -> Result<(TlsStream<IO>, TlsInfo), ConnectError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let err = || ConnectError::new(Phase::Tls);
    let connector = tokio_rustls::TlsConnector::from(Arc::clone(&setup.config));
    let budget = setup.handshake_timeout;
    let deadline = deadline_after(Instant::now(), budget);
    let stream = match within(budget, deadline, connector.connect(name, io)).await {
        Some(Ok(stream)) => stream,
        Some(Err(e)) => return Err(err().with_source(e)),
        None => return Err(err().timed_out(budget)),
    };
    let info = TlsInfo::of(stream.get_ref().1);
    setup
        .http
        .check_negotiated(&info)
        .map_err(|refused| err().with_source(refused))?;
    Ok((stream, info))
}
