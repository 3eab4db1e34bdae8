//! The accept loop, the fault plan and the HTTP routes.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::pki::{Leaf, LeafKind, TestCa};

/// What the server does with one accepted connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    /// Handshake (when TLS is on) and serve HTTP.
    Serve,
    /// Reset (RST) right after accept.
    ResetOnAccept,
    /// Read the ClientHello, then reset.
    ResetAfterClientHello,
    /// Read the ClientHello, send the first half of the server's first flight, then reset.
    ResetMidHandshake,
    /// Read the ClientHello and never answer.
    StallAfterClientHello,
    /// Answer with bytes that are not TLS.
    Garbage,
    /// Answer with a plain-text HTTP/1.1 400, as a cleartext server on a TLS port would.
    PlainHttp,
    /// Finish the TLS handshake, then close before any HTTP.
    CloseAfterHandshake,
    /// Finish the TLS handshake, then reset (RST) before any HTTP.
    ResetAfterHandshake,
    /// Accept and never read or write.
    NeverRead,
    /// Speak TLS 1.2 and select an ALPN protocol the client did not offer.
    ///
    /// A rustls server never selects a protocol the client did not offer, so the server is
    /// shown a doctored ClientHello in which every offered protocol id is upper-cased (`h2` →
    /// `H2`, `http/1.1` → `HTTP/1.1`; ALPN ids are compared byte for byte), and it selects
    /// that. TLS 1.2 carries the choice in the cleartext ServerHello, so the client sees a
    /// protocol it never offered before any key or transcript is checked, exactly as with a
    /// broken server that insists on its own protocol.
    SelectUnofferedAlpn,
}

/// The ALPN ids a [`Behavior::SelectUnofferedAlpn`] server accepts: the upper-cased forms of
/// what clients offer, which no client offers.
pub const UNOFFERED_ALPN: [&[u8]; 2] = [b"H2", b"HTTP/1.1"];

type Plan = Arc<dyn Fn(usize) -> Behavior + Send + Sync>;

const TLS12_ONLY: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
const TLS13_ONLY: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];

/// Configures a [`TestServer`].
pub struct ServerBuilder {
    tls: bool,
    alpn: Vec<Vec<u8>>,
    leaf: LeafKind,
    ip: IpAddr,
    tls13_only: bool,
    tls12_only: bool,
    resumption: bool,
    ca: Option<Arc<TestCa>>,
    plan: Plan,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("tls", &self.tls)
            .field("leaf", &self.leaf)
            .field("ip", &self.ip)
            .finish_non_exhaustive()
    }
}

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder {
            tls: true,
            alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            leaf: LeafKind::Good,
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            tls13_only: false,
            tls12_only: false,
            resumption: true,
            ca: None,
            plan: Arc::new(|_| Behavior::Serve),
        }
    }
}

impl ServerBuilder {
    /// Plain HTTP instead of HTTPS.
    pub fn plain(mut self) -> Self {
        self.tls = false;
        self
    }

    /// The ALPN protocols the server accepts, in preference order. Default: `h2`, `http/1.1`.
    pub fn alpn(mut self, alpn: &[&[u8]]) -> Self {
        self.alpn = alpn.iter().map(|p| p.to_vec()).collect();
        self
    }

    /// The kind of leaf certificate to serve. Default: [`LeafKind::Good`].
    pub fn leaf(mut self, leaf: LeafKind) -> Self {
        self.leaf = leaf;
        self
    }

    /// The loopback (or namespace) address to bind, port chosen by the kernel. Default:
    /// 127.0.0.1.
    pub fn ip(mut self, ip: IpAddr) -> Self {
        self.ip = ip;
        self
    }

    /// Use this CA (shared between servers) instead of a fresh one.
    pub fn ca(mut self, ca: Arc<TestCa>) -> Self {
        self.ca = Some(ca);
        self
    }

    /// Speak TLS 1.2 only.
    pub fn tls12_only(mut self) -> Self {
        self.tls12_only = true;
        self
    }

    /// Speak TLS 1.3 only.
    pub fn tls13_only(mut self) -> Self {
        self.tls13_only = true;
        self
    }

    /// Turn off session resumption on the server (every handshake is a full one).
    pub fn no_resumption(mut self) -> Self {
        self.resumption = false;
        self
    }

    /// Decide per connection (numbered from 0 in accept order) what the server does.
    pub fn plan(mut self, plan: impl Fn(usize) -> Behavior + Send + Sync + 'static) -> Self {
        self.plan = Arc::new(plan);
        self
    }

    /// One behaviour for every connection.
    pub fn behavior(self, behavior: Behavior) -> Self {
        self.plan(move |_| behavior)
    }

    /// The rustls server configuration this builder describes.
    pub fn server_config(&self, ca: &TestCa) -> Arc<ServerConfig> {
        self.config_with(
            &ca.leaf_for(self.leaf, Some(self.ip)),
            self.versions(),
            self.alpn.clone(),
        )
    }

    fn versions(&self) -> &'static [&'static rustls::SupportedProtocolVersion] {
        if self.tls12_only {
            TLS12_ONLY
        } else if self.tls13_only {
            TLS13_ONLY
        } else {
            rustls::ALL_VERSIONS
        }
    }

    fn config_with(
        &self,
        leaf: &Leaf,
        versions: &[&'static rustls::SupportedProtocolVersion],
        alpn: Vec<Vec<u8>>,
    ) -> Arc<ServerConfig> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .expect("aws-lc-rs supports TLS 1.2 and 1.3")
            .with_no_client_auth()
            .with_single_cert(leaf.chain.clone(), leaf.key.clone_key())
            .expect("rcgen's certificate and key match");
        config.alpn_protocols = alpn;
        if !self.resumption {
            config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
            config.send_tls13_tickets = 0;
        }
        Arc::new(config)
    }

    /// Binds and starts serving on the current tokio runtime.
    pub async fn start(self) -> std::io::Result<TestServer> {
        let ca = self.ca.clone().unwrap_or_else(|| Arc::new(TestCa::new()));
        // One leaf for both configurations: the one serving, and the TLS 1.2 one a plan may
        // pick for `SelectUnofferedAlpn` on any connection (building it costs no key).
        let configs = self.tls.then(|| {
            let leaf = ca.leaf_for(self.leaf, Some(self.ip));
            TlsConfigs {
                serve: self.config_with(&leaf, self.versions(), self.alpn.clone()),
                unoffered_alpn: self.config_with(
                    &leaf,
                    TLS12_ONLY,
                    UNOFFERED_ALPN.iter().map(|p| p.to_vec()).collect(),
                ),
            }
        });
        let tls = configs.as_ref().map(|c| Arc::clone(&c.serve));
        // A deep accept queue: bursts of thousands of connects (load tests, benches) must not
        // overflow it and turn into 1 s SYN retransmissions. The kernel caps it at somaxconn.
        let addr = SocketAddr::new(self.ip, 0);
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        // `::` serves IPv4 too, on every OS: Linux defaults to that, Windows (and Wine) to
        // IPv6 only.
        if self.ip.is_unspecified() && addr.is_ipv6() {
            socket2::SockRef::from(&socket).set_only_v6(false)?;
        }
        socket.bind(addr)?;
        let listener = socket.listen(4096)?;
        let addr = listener.local_addr()?;
        let accepted = Arc::new(AtomicUsize::new(0));
        let (shutdown, watch_rx) = watch::channel(());
        let task = tokio::spawn(accept_loop(
            listener,
            configs,
            self.plan,
            Arc::clone(&accepted),
            watch_rx,
        ));
        Ok(TestServer {
            addr,
            ca,
            tls,
            accepted,
            task,
            _shutdown: shutdown,
        })
    }
}

/// A running server. Dropping it stops the accept loop and closes every connection it holds.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    ca: Arc<TestCa>,
    tls: Option<Arc<ServerConfig>>,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
    _shutdown: watch::Sender<()>,
}

impl TestServer {
    /// A builder: HTTPS, `h2` + `http/1.1`, a good certificate, every connection served.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// An HTTPS server with the defaults.
    pub async fn start() -> std::io::Result<TestServer> {
        ServerBuilder::default().start().await
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:PORT{path}` (or `http://`), by IP.
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        match self.addr {
            SocketAddr::V4(a) => format!("{scheme}://{}:{}{path}", a.ip(), a.port()),
            SocketAddr::V6(a) => format!("{scheme}://[{}]:{}{path}", a.ip(), a.port()),
        }
    }

    /// `https://localhost:PORT{path}` (or `http://`), by name.
    pub fn url_by_name(&self, path: &str) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://localhost:{}{path}", self.addr.port())
    }

    /// The CA that signed the server's certificate.
    pub fn ca(&self) -> &Arc<TestCa> {
        &self.ca
    }

    /// The CA certificate in PEM, for the client's trust store.
    pub fn ca_pem(&self) -> &str {
        self.ca.cert_pem()
    }

    /// The rustls server configuration in use (`None` for plain HTTP).
    pub fn tls_config(&self) -> Option<&Arc<ServerConfig>> {
        self.tls.as_ref()
    }

    /// How many connections were accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The server configurations one connection may need, by behaviour.
#[derive(Clone)]
struct TlsConfigs {
    serve: Arc<ServerConfig>,
    unoffered_alpn: Arc<ServerConfig>,
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsConfigs>,
    plan: Plan,
    accepted: Arc<AtomicUsize>,
    shutdown: watch::Receiver<()>,
) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            // EMFILE and friends under load: back off briefly rather than spin.
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        let n = accepted.fetch_add(1, Ordering::SeqCst);
        let behavior = plan(n);
        let tls = tls.clone();
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = handle(stream, peer, tls, behavior) => {}
                _ = shutdown.changed() => {}
            }
        });
    }
}

fn reset(stream: TcpStream) {
    // SO_LINGER 0 makes close() send RST instead of FIN.
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
}

/// Reads one TLS record (the ClientHello) or whatever arrives first.
async fn read_client_hello(stream: &mut TcpStream) -> Vec<u8> {
    let mut buf = vec![0u8; 16 * 1024];
    let n = stream.read(&mut buf).await.unwrap_or(0);
    buf.truncate(n);
    buf
}

async fn handle(
    mut stream: TcpStream,
    peer: SocketAddr,
    configs: Option<TlsConfigs>,
    behavior: Behavior,
) {
    let _ = stream.set_nodelay(true);
    let tls = configs.as_ref().map(|c| Arc::clone(&c.serve));
    match behavior {
        Behavior::Serve => serve(stream, peer, tls).await,
        Behavior::ResetOnAccept => reset(stream),
        Behavior::ResetAfterClientHello => {
            read_client_hello(&mut stream).await;
            reset(stream);
        }
        Behavior::ResetMidHandshake => {
            let hello = read_client_hello(&mut stream).await;
            if let Some(cfg) = tls {
                let flight = first_flight(cfg, &hello);
                let _ = stream.write_all(&flight[..flight.len() / 2]).await;
            }
            reset(stream);
        }
        Behavior::StallAfterClientHello => {
            read_client_hello(&mut stream).await;
            std::future::pending::<()>().await;
        }
        Behavior::Garbage => {
            read_client_hello(&mut stream).await;
            let _ = stream
                .write_all(b"\x00\x01garbage that is not a TLS record\r\n\r\n")
                .await;
            let _ = stream.shutdown().await;
        }
        Behavior::PlainHttp => {
            read_client_hello(&mut stream).await;
            let _ = stream
                .write_all(
                    b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                )
                .await;
            let _ = stream.shutdown().await;
        }
        Behavior::CloseAfterHandshake => {
            if let Some(cfg) = tls {
                if let Ok(mut tls) = tokio_rustls::TlsAcceptor::from(cfg).accept(stream).await {
                    let _ = tls.shutdown().await;
                }
            }
        }
        Behavior::ResetAfterHandshake => {
            if let Some(cfg) = tls {
                if let Ok(tls) = tokio_rustls::TlsAcceptor::from(cfg).accept(stream).await {
                    reset(tls.into_inner().0);
                }
            }
        }
        Behavior::NeverRead => std::future::pending::<()>().await,
        Behavior::SelectUnofferedAlpn => {
            let Some(configs) = configs else { return };
            let mut hello = read_tls_record(&mut stream).await;
            uppercase_alpn(&mut hello);
            let flight = first_flight(configs.unoffered_alpn, &hello);
            let _ = stream.write_all(&flight).await;
            // Drain the client's alert until it closes; the client's handshake timeout bounds
            // this when the client says nothing.
            let mut sink = [0u8; 1024];
            while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
        }
    }
}

/// Reads one whole TLS record (header and body), or what arrived before EOF or an error.
async fn read_tls_record(stream: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        if buf.len() >= 5 {
            let want = 5 + usize::from(u16::from_be_bytes([buf[3], buf[4]]));
            if buf.len() >= want {
                return buf;
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return buf,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Upper-cases, in place, every protocol id of the ALPN extension of the ClientHello in
/// `record` (one TLS record). Lengths do not change, so no length field needs fixing. Anything
/// that does not parse as a ClientHello is left alone.
fn uppercase_alpn(record: &mut [u8]) {
    let Some(list) = alpn_extension(record) else {
        return;
    };
    // The list is a sequence of (1-byte length, id).
    let mut at = list.start;
    while at < list.end {
        let id = at + 1..(at + 1 + usize::from(record[at])).min(list.end);
        at = id.end;
        record[id].make_ascii_uppercase();
    }
}

/// Where the ALPN extension's protocol list (after its 2-byte length) lies in a ClientHello
/// record. Walks: record header (5), handshake header (4), version (2), random (32),
/// session id, cipher suites, compression methods, then the extensions.
fn alpn_extension(record: &[u8]) -> Option<std::ops::Range<usize>> {
    const ALPN: u16 = 0x0010;
    let u16_at = |at: usize| -> Option<usize> {
        Some(usize::from(u16::from_be_bytes([
            *record.get(at)?,
            *record.get(at + 1)?,
        ])))
    };
    if record.first() != Some(&0x16) || record.get(5) != Some(&0x01) {
        return None;
    }
    let mut at = 5 + 4 + 2 + 32;
    at += 1 + usize::from(*record.get(at)?); // session id
    at += 2 + u16_at(at)?; // cipher suites
    at += 1 + usize::from(*record.get(at)?); // compression methods
    let end = (at + 2 + u16_at(at)?).min(record.len());
    at += 2;
    while at + 4 <= end {
        let (kind, len) = (u16_at(at)?, u16_at(at + 2)?);
        let data = at + 4;
        if kind == usize::from(ALPN) && data + len <= end && len >= 2 {
            return Some(data + 2..data + len);
        }
        at = data + len;
    }
    None
}

/// The server's first flight (ServerHello … ) in answer to `hello`, produced by rustls
/// without a socket.
fn first_flight(cfg: Arc<ServerConfig>, hello: &[u8]) -> Vec<u8> {
    let Ok(mut conn) = rustls::ServerConnection::new(cfg) else {
        return Vec::new();
    };
    let mut input = hello;
    let _ = conn.read_tls(&mut input);
    let _ = conn.process_new_packets();
    let mut out = Vec::new();
    while conn.wants_write() {
        if conn.write_tls(&mut out).is_err() {
            break;
        }
    }
    out
}

/// Facts about the connection a request arrived on, echoed back in headers.
#[derive(Debug, Clone, Default)]
struct ConnMeta {
    sni: Option<String>,
    alpn: Option<String>,
    peer: Option<SocketAddr>,
}

async fn serve(stream: TcpStream, peer: SocketAddr, tls: Option<Arc<ServerConfig>>) {
    let builder = auto::Builder::new(TokioExecutor::new());
    match tls {
        None => {
            let meta = Arc::new(ConnMeta {
                peer: Some(peer),
                ..ConnMeta::default()
            });
            let svc = service_fn(move |req| route(req, Arc::clone(&meta)));
            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
        }
        Some(cfg) => {
            let Ok(tls) = tokio_rustls::TlsAcceptor::from(cfg).accept(stream).await else {
                return;
            };
            let (_, conn) = tls.get_ref();
            let meta = Arc::new(ConnMeta {
                sni: conn.server_name().map(str::to_owned),
                alpn: conn
                    .alpn_protocol()
                    .map(|p| String::from_utf8_lossy(p).into_owned()),
                peer: Some(peer),
            });
            let svc = service_fn(move |req| route(req, Arc::clone(&meta)));
            let _ = builder.serve_connection(TokioIo::new(tls), svc).await;
        }
    }
}

type Body_ = BoxBody<Bytes, Infallible>;

fn full(data: impl Into<Bytes>) -> Body_ {
    Full::new(data.into()).boxed()
}

async fn route(req: Request<Incoming>, meta: Arc<ConnMeta>) -> Result<Response<Body_>, Infallible> {
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let path = req.uri().path().to_owned();
    let mut resp = if let Some(code) = path.strip_prefix("/status/") {
        let status = code
            .parse::<u16>()
            .ok()
            .and_then(|c| StatusCode::from_u16(c).ok())
            .unwrap_or(StatusCode::BAD_REQUEST);
        let mut r = Response::new(full(format!("status {}\n", status.as_u16())));
        *r.status_mut() = status;
        r
    } else if path == "/echo" {
        let len = match req.into_body().collect().await {
            Ok(body) => body.to_bytes().len(),
            Err(_) => 0,
        };
        Response::new(full(format!("{len}\n")))
    } else if path == "/stream" {
        Response::new(BoxBody::new(QuietAfterFirstChunk { sent: false }))
    } else if path == "/chat" {
        let len = match req.into_body().collect().await {
            Ok(body) => body.to_bytes().len(),
            Err(_) => 0,
        };
        let mut r = Response::new(BoxBody::new(Tokens::new(len)));
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/event-stream"),
        );
        r
    } else {
        Response::new(full("hello from keepalive-testserver\n"))
    };
    let headers = resp.headers_mut();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = http::HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    set("x-sni", meta.sni.as_deref().unwrap_or(""));
    set("x-alpn", meta.alpn.as_deref().unwrap_or(""));
    set("x-host", &host);
    if let Some(peer) = meta.peer {
        set("x-peer", &peer.to_string());
    }
    Ok(resp)
}

/// A response body that sends one chunk and then never another byte: what a streaming API looks
/// like when it goes quiet.
struct QuietAfterFirstChunk {
    sent: bool,
}

impl Body for QuietAfterFirstChunk {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.sent {
            // Never woken: the stream stays open and silent until the connection goes away.
            Poll::Pending
        } else {
            self.sent = true;
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"first chunk\n")))))
        }
    }
}

/// A streaming LLM API's answer, as server-sent events: the request body's length, then one
/// token every [`Tokens::GAP`], then `[DONE]`.
struct Tokens {
    events: std::collections::VecDeque<Bytes>,
    gap: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Tokens {
    const GAP: Duration = Duration::from_millis(20);
    const WORDS: [&'static str; 6] = ["Keep", "alive", " is", " on", ", as", " asked."];

    fn new(request_len: usize) -> Self {
        let mut events: std::collections::VecDeque<Bytes> = Self::WORDS
            .iter()
            .map(|w| Bytes::from(format!("data: {{\"token\":\"{w}\"}}\n\n")))
            .collect();
        events.push_front(Bytes::from(format!(
            "data: {{\"received\":{request_len}}}\n\n"
        )));
        events.push_back(Bytes::from_static(b"data: [DONE]\n\n"));
        Tokens { events, gap: None }
    }
}

impl Body for Tokens {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(gap) = &mut self.gap {
            if std::future::Future::poll(gap.as_mut(), cx).is_pending() {
                return Poll::Pending;
            }
        }
        let Some(event) = self.events.pop_front() else {
            return Poll::Ready(None);
        };
        self.gap = Some(Box::pin(tokio::time::sleep(Self::GAP)));
        Poll::Ready(Some(Ok(Frame::data(event))))
    }

    fn is_end_stream(&self) -> bool {
        self.events.is_empty()
    }
}
