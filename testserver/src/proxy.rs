//! In-process proxies for tests and benchmarks: an HTTP `CONNECT` proxy (optionally spoken to
//! over TLS: an HTTPS proxy, optionally asking for Basic credentials; it also forwards an
//! absolute-form request, relaying the rest of that connection) with a per-connection fault
//! plan, and a small SOCKS5 proxy. Real proxies (tinyproxy, microsocks) are in
//! [`external`](crate::external); these exist for what real proxies will not do on demand
//! (answer 502, stall, send garbage) and for benchmarks that must not depend on a package.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::pki::{LeafKind, TestCa};

/// What the CONNECT proxy does with one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyBehavior {
    /// Answer `200` and relay bytes to the requested target (or the upstream override).
    Tunnel,
    /// Answer with this status and close.
    Status(u16),
    /// Answer with bytes that are not HTTP.
    Garbage,
    /// Read the request and never answer.
    Stall,
    /// Send half a response head, then close.
    CloseMidResponse,
    /// Answer `200` with a header line longer than any client should accept (20 KiB).
    LongHead,
    /// Answer `200` and at once send bytes of its own, before the client spoke.
    ExtraBytes,
}

type ProxyPlan = Arc<dyn Fn(usize) -> ProxyBehavior + Send + Sync>;

/// Configures a [`ConnectProxy`].
pub struct ConnectProxyBuilder {
    tls: Option<Arc<TestCa>>,
    client_ca: Option<Arc<TestCa>>,
    handshake_delay: Duration,
    basic_auth: Option<String>,
    upstream: Option<SocketAddr>,
    ip: IpAddr,
    plan: ProxyPlan,
}

impl std::fmt::Debug for ConnectProxyBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectProxyBuilder")
            .field("tls", &self.tls.is_some())
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}

impl ConnectProxyBuilder {
    /// Speak TLS to clients (an HTTPS proxy) with a certificate for `localhost`/`127.0.0.1`
    /// signed by `ca`.
    pub fn tls(mut self, ca: Arc<TestCa>) -> Self {
        self.tls = Some(ca);
        self
    }

    /// As a TLS proxy, ask every client for a certificate (optional, verified against `ca`),
    /// and count those that present one ([`ConnectProxy::client_certs`]).
    pub fn request_client_cert(mut self, ca: Arc<TestCa>) -> Self {
        self.client_ca = Some(ca);
        self
    }

    /// With [`tls`](Self::tls): wait this long after accepting a connection before answering
    /// the client's TLS hello (a slow but legal handshake). Default: none.
    pub fn handshake_delay(mut self, delay: Duration) -> Self {
        self.handshake_delay = delay;
        self
    }

    /// Require `Proxy-Authorization: Basic base64(user:password)`; answer 407 otherwise.
    pub fn basic_auth(self, user: &str, password: &str) -> Self {
        self.basic_auth_bytes(user.as_bytes(), password.as_bytes())
    }

    /// [`basic_auth`](Self::basic_auth) with credentials of any bytes (RFC 7617 does not
    /// require UTF-8).
    pub fn basic_auth_bytes(mut self, user: &[u8], password: &[u8]) -> Self {
        let pair = [user, b":", password].concat();
        self.basic_auth = Some(format!("Basic {}", base64(&pair)));
        self
    }

    /// Connect every tunnel to this address, whatever the request names (so tests can ask
    /// for names that do not resolve, and a "direct" path can differ from the proxied one).
    pub fn upstream(mut self, addr: SocketAddr) -> Self {
        self.upstream = Some(addr);
        self
    }

    /// The address to bind (port chosen by the kernel). Default: 127.0.0.1.
    pub fn ip(mut self, ip: IpAddr) -> Self {
        self.ip = ip;
        self
    }

    /// Decide per connection (numbered from 0) what the proxy does.
    pub fn plan(mut self, plan: impl Fn(usize) -> ProxyBehavior + Send + Sync + 'static) -> Self {
        self.plan = Arc::new(plan);
        self
    }

    /// One behaviour for every connection.
    pub fn behavior(self, behavior: ProxyBehavior) -> Self {
        self.plan(move |_| behavior.clone())
    }

    /// Binds and starts on the current tokio runtime.
    pub async fn start(self) -> std::io::Result<ConnectProxy> {
        let listener = TcpListener::bind(SocketAddr::new(self.ip, 0)).await?;
        let addr = listener.local_addr()?;
        let tls = self.tls.as_ref().map(|ca| {
            let leaf = ca.leaf(LeafKind::Good);
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
                .with_safe_default_protocol_versions()
                .expect("aws-lc-rs supports TLS 1.2 and 1.3");
            let builder = match &self.client_ca {
                None => builder.with_no_client_auth(),
                Some(client_ca) => builder.with_client_cert_verifier(
                    rustls::server::WebPkiClientVerifier::builder_with_provider(
                        Arc::new(client_ca.root_store()),
                        provider,
                    )
                    .allow_unauthenticated()
                    .build()
                    .expect("a verifier over one root"),
                ),
            };
            let mut config = builder
                .with_single_cert(leaf.chain, leaf.key)
                .expect("rcgen's certificate and key match");
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Arc::new(config)
        });
        let shared = Arc::new(Shared {
            accepted: AtomicUsize::new(0),
            requests: Mutex::new(Vec::new()),
            handshakes: AtomicUsize::new(0),
            client_certs: AtomicUsize::new(0),
        });
        let state = Arc::clone(&shared);
        let plan = self.plan;
        let auth = self.basic_auth;
        let upstream = self.upstream;
        let delay = self.handshake_delay;
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let n = state.accepted.fetch_add(1, Ordering::SeqCst);
                let behavior = plan(n);
                let (tls, auth, state) = (tls.clone(), auth.clone(), Arc::clone(&state));
                tokio::spawn(async move {
                    let _ = stream.set_nodelay(true);
                    match tls {
                        Some(config) => {
                            tokio::time::sleep(delay).await;
                            let Ok(stream) =
                                tokio_rustls::TlsAcceptor::from(config).accept(stream).await
                            else {
                                return;
                            };
                            if stream.get_ref().1.peer_certificates().is_some() {
                                state.client_certs.fetch_add(1, Ordering::SeqCst);
                            }
                            state.handshakes.fetch_add(1, Ordering::SeqCst);
                            serve_connect(stream, behavior, auth, upstream, &state).await;
                        }
                        None => serve_connect(stream, behavior, auth, upstream, &state).await,
                    }
                });
            }
        });
        Ok(ConnectProxy {
            addr,
            tls: self.tls.is_some(),
            shared,
            task,
        })
    }
}

#[derive(Debug)]
struct Shared {
    accepted: AtomicUsize,
    requests: Mutex<Vec<String>>,
    /// TLS handshakes completed, and those in which the client presented a certificate.
    handshakes: AtomicUsize,
    client_certs: AtomicUsize,
}

/// A running CONNECT proxy. Dropping it stops accepting (tunnels already open keep going
/// until either side closes).
#[derive(Debug)]
pub struct ConnectProxy {
    addr: SocketAddr,
    tls: bool,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl ConnectProxy {
    /// A builder: plain HTTP, no credentials asked, every connection tunnelled.
    pub fn builder() -> ConnectProxyBuilder {
        ConnectProxyBuilder {
            tls: None,
            client_ca: None,
            handshake_delay: Duration::ZERO,
            basic_auth: None,
            upstream: None,
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            plan: Arc::new(|_| ProxyBehavior::Tunnel),
        }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (or `https://localhost:PORT` for a TLS proxy, whose certificate
    /// names `localhost`).
    pub fn url(&self) -> String {
        if self.tls {
            format!("https://localhost:{}", self.addr.port())
        } else {
            match self.addr {
                SocketAddr::V4(a) => format!("http://{a}"),
                SocketAddr::V6(a) => format!("http://[{}]:{}", a.ip(), a.port()),
            }
        }
    }

    /// How many connections were accepted.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// How many TLS handshakes completed (a TLS proxy).
    pub fn tls_handshakes(&self) -> usize {
        self.shared.handshakes.load(Ordering::SeqCst)
    }

    /// In how many of those the client presented a certificate (see
    /// [`ConnectProxyBuilder::request_client_cert`]).
    pub fn client_certs(&self) -> usize {
        self.shared.client_certs.load(Ordering::SeqCst)
    }

    /// Every request head received, in order (request line and headers, `\r\n`-separated).
    pub fn requests(&self) -> Vec<String> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request head, then acts on `behavior`.
async fn serve_connect<S>(
    mut stream: S,
    behavior: ProxyBehavior,
    auth: Option<String>,
    upstream: Option<SocketAddr>,
    shared: &Shared,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Some(head) = read_head(&mut stream).await else {
        return;
    };
    shared
        .requests
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(head.clone());
    let reply: &[u8] = match behavior {
        ProxyBehavior::Tunnel => b"",
        ProxyBehavior::Status(code) => {
            let reply = format!("HTTP/1.1 {code} Test\r\nContent-Length: 0\r\n\r\n");
            let _ = stream.write_all(reply.as_bytes()).await;
            return;
        }
        ProxyBehavior::Garbage => b"\x16\x03\x01 this is not HTTP\r\n\r\n",
        ProxyBehavior::Stall => {
            std::future::pending::<()>().await;
            return;
        }
        ProxyBehavior::CloseMidResponse => b"HTTP/1.1 200 Conn",
        ProxyBehavior::LongHead => {
            let mut reply = b"HTTP/1.1 200 OK\r\nX-Padding: ".to_vec();
            reply.resize(reply.len() + 20 * 1024, b'x');
            reply.extend_from_slice(b"\r\n\r\n");
            let _ = stream.write_all(&reply).await;
            return;
        }
        ProxyBehavior::ExtraBytes => b"HTTP/1.1 200 OK\r\n\r\nSSH-2.0-surprise\r\n",
    };
    if !reply.is_empty() {
        let _ = stream.write_all(reply).await;
        return;
    }
    // Tunnel: check credentials, find the target, answer 200, relay.
    if let Some(expected) = &auth {
        let given = header(&head, "proxy-authorization");
        if given.as_deref() != Some(expected.as_str()) {
            let _ = stream
                .write_all(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\n\
                      Proxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n",
                )
                .await;
            return;
        }
    }
    // `CONNECT host:port`, or a request to forward: `GET http://host[:port]/path`.
    let connect = head.starts_with("CONNECT ");
    let request_target = head.split_whitespace().nth(1).unwrap_or_default();
    let target = match upstream {
        Some(addr) => Some(addr.to_string()),
        None if connect => Some(request_target.to_owned()),
        None => request_target
            .strip_prefix("http://")
            .map(|rest| rest.split('/').next().unwrap_or_default())
            .map(|authority| authority.rsplit('@').next().unwrap_or_default())
            .filter(|authority| !authority.is_empty())
            .map(|authority| match authority.contains(':') {
                true => authority.to_owned(),
                false => format!("{authority}:80"),
            }),
    };
    let Some(target) = target else {
        let _ = stream
            .write_all(b"HTTP/1.1 400 Not a proxy request\r\nContent-Length: 0\r\n\r\n")
            .await;
        return;
    };
    let Ok(mut origin) = TcpStream::connect(target.as_str()).await else {
        let _ = stream
            .write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            .await;
        return;
    };
    let _ = origin.set_nodelay(true);
    let reply = if connect {
        stream
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await
    } else {
        // Forwarding: the request goes on as it came (an HTTP server takes the absolute
        // form); only this first head is recorded, the rest of the connection is relayed.
        origin.write_all(head.as_bytes()).await
    };
    if reply.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut stream, &mut origin).await;
}

/// Reads up to the end of a request head (at most 64 KiB), byte by byte so that nothing after
/// it (the client's first tunnelled bytes) is consumed.
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Option<String> {
    let mut head = Vec::with_capacity(256);
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 64 * 1024 {
            return None;
        }
        head.push(stream.read_u8().await.ok()?);
    }
    String::from_utf8(head).ok()
}

/// The value of header `name` (lower-case) in a request head.
fn header(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

fn base64(input: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(input)
}

/// A small SOCKS5 proxy (RFC 1928 `CONNECT`, no authentication or RFC 1929 user/password):
/// for benchmarks, which must not depend on an installed package, and for tests of what a
/// SOCKS5 server answers on demand.
#[derive(Debug)]
pub struct SocksProxy {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    targets: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl SocksProxy {
    /// Starts a proxy on 127.0.0.1 that asks for `credentials` when given.
    pub async fn start(credentials: Option<(&str, &str)>) -> std::io::Result<SocksProxy> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let credentials = credentials.map(|(u, p)| (u.to_owned(), p.to_owned()));
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        let targets = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&targets);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let credentials = credentials.clone();
                let seen = Arc::clone(&seen);
                tokio::spawn(async move {
                    let _ = stream.set_nodelay(true);
                    let _ = serve_socks(stream, credentials, &seen).await;
                });
            }
        });
        Ok(SocksProxy {
            addr,
            accepted,
            targets,
            task,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many connections were accepted.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Every target a client asked for, in order (`127.0.0.1:443`, `[::1]:443`, `name:443`).
    pub fn targets(&self) -> Vec<String> {
        self.targets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for SocksProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_socks(
    mut stream: TcpStream,
    credentials: Option<(String, String)>,
    targets: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "not SOCKS5");
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).await?;
    if head[0] != 5 {
        return Err(bad());
    }
    let mut methods = vec![0u8; usize::from(head[1])];
    stream.read_exact(&mut methods).await?;
    let wanted = if credentials.is_some() { 2 } else { 0 };
    if !methods.contains(&wanted) {
        stream.write_all(&[5, 0xff]).await?;
        return Ok(());
    }
    stream.write_all(&[5, wanted]).await?;
    if let Some((user, pass)) = &credentials {
        let mut ver_len = [0u8; 2];
        stream.read_exact(&mut ver_len).await?;
        let mut u = vec![0u8; usize::from(ver_len[1])];
        stream.read_exact(&mut u).await?;
        let plen = stream.read_u8().await?;
        let mut p = vec![0u8; usize::from(plen)];
        stream.read_exact(&mut p).await?;
        let ok = u == user.as_bytes() && p == pass.as_bytes();
        stream.write_all(&[1, if ok { 0 } else { 1 }]).await?;
        if !ok {
            return Ok(());
        }
    }
    let mut req = [0u8; 4];
    stream.read_exact(&mut req).await?;
    if req[0] != 5 || req[1] != 1 {
        stream.write_all(&[5, 7, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
        return Ok(());
    }
    let target = match req[3] {
        1 => {
            let mut a = [0u8; 6];
            stream.read_exact(&mut a).await?;
            format!(
                "{}:{}",
                Ipv4Addr::new(a[0], a[1], a[2], a[3]),
                u16::from_be_bytes([a[4], a[5]])
            )
        }
        3 => {
            let len = stream.read_u8().await?;
            let mut name = vec![0u8; usize::from(len) + 2];
            stream.read_exact(&mut name).await?;
            let port = u16::from_be_bytes([name[name.len() - 2], name[name.len() - 1]]);
            name.truncate(usize::from(len));
            format!("{}:{port}", String::from_utf8(name).map_err(|_| bad())?)
        }
        4 => {
            let mut a = [0u8; 18];
            stream.read_exact(&mut a).await?;
            let mut ip = [0u8; 16];
            ip.copy_from_slice(&a[..16]);
            format!(
                "[{}]:{}",
                std::net::Ipv6Addr::from(ip),
                u16::from_be_bytes([a[16], a[17]])
            )
        }
        _ => {
            stream.write_all(&[5, 8, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
            return Ok(());
        }
    };
    targets
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(target.clone());
    let mut origin = match TcpStream::connect(target.as_str()).await {
        Ok(origin) => origin,
        Err(e) => {
            // RFC 1928 §6's replies for what the connect said, as microsocks and Dante answer.
            let reply = match e.kind() {
                std::io::ErrorKind::NetworkUnreachable => 3,
                std::io::ErrorKind::HostUnreachable => 4,
                std::io::ErrorKind::ConnectionRefused => 5,
                _ => 1,
            };
            stream
                .write_all(&[5, reply, 0, 1, 0, 0, 0, 0, 0, 0])
                .await?;
            return Ok(());
        }
    };
    let _ = origin.set_nodelay(true);
    stream.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
    tokio::io::copy_bidirectional(&mut stream, &mut origin).await?;
    Ok(())
}
