//! A plain-HTTP/1.1 keep-alive server whose every request follows a script: answer, answer
//! late, close or reset the connection as the request arrives, stall. For the pooled-connection
//! tests, which need a server that kills a *reused* connection at exactly the worst moment,
//! every time.
//!
//! Hand-written (with `httparse` for the request head) rather than on hyper's server: hyper
//! answers every request it parses and offers no way to close a keep-alive connection the
//! instant the next request arrives.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What the server does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Answer `200` at once, keeping the connection open.
    Answer,
    /// Answer `200` after this long (the request is acknowledged by the kernel at once).
    AnswerAfter(Duration),
    /// Read the request, then close the connection (FIN) without answering: a keep-alive
    /// timeout that fired as the request arrived.
    CloseOnArrival,
    /// Read the request, then reset the connection (RST).
    ResetOnArrival,
    /// Read the request and never answer.
    Stall,
    /// Answer with the first 10 bytes of a head, then close.
    PartialHeadThenClose,
}

/// A request the server received (answered or not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The connection, counted from 0 in accept order.
    pub conn: usize,
    /// The request's place on its connection, from 0.
    pub index: usize,
    /// `GET`, `POST`, …
    pub method: String,
    /// The request target.
    pub path: String,
    /// Its body's length.
    pub body_len: usize,
    /// Its `Idempotency-Key`, if any.
    pub idempotency_key: Option<String>,
}

type Script = Arc<dyn Fn(usize, usize) -> Step + Send + Sync>;

#[derive(Default)]
struct Log {
    connections: usize,
    requests: Vec<Seen>,
}

/// A running server; dropping it stops it.
pub struct ScriptedServer {
    addr: SocketAddr,
    log: Arc<Mutex<Log>>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for ScriptedServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl ScriptedServer {
    /// Starts on 127.0.0.1; `script(conn, index)` decides what happens to request `index` of
    /// connection `conn` (both from 0).
    pub async fn start(
        script: impl Fn(usize, usize) -> Step + Send + Sync + 'static,
    ) -> io::Result<ScriptedServer> {
        ScriptedServer::start_on((Ipv4Addr::LOCALHOST, 0).into(), script).await
    }

    /// [`start`](ScriptedServer::start) on `addr` (an address of a network namespace).
    pub async fn start_on(
        addr: SocketAddr,
        script: impl Fn(usize, usize) -> Step + Send + Sync + 'static,
    ) -> io::Result<ScriptedServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let log = Arc::new(Mutex::new(Log::default()));
        let script: Script = Arc::new(script);
        let shared = Arc::clone(&log);
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let conn = {
                    let mut log = shared.lock().unwrap_or_else(PoisonError::into_inner);
                    log.connections += 1;
                    log.connections - 1
                };
                tokio::spawn(serve(tcp, conn, Arc::clone(&script), Arc::clone(&shared)));
            }
        });
        Ok(ScriptedServer { addr, log, task })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .connections
    }

    /// Every request received so far, in order of arrival.
    pub fn requests(&self) -> Vec<Seen> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .requests
            .clone()
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut tcp: TcpStream, conn: usize, script: Script, log: Arc<Mutex<Log>>) {
    let _ = tcp.set_nodelay(true);
    let mut buf = Vec::new();
    for index in 0.. {
        let Some(seen) = read_request(&mut tcp, &mut buf, conn, index).await else {
            return;
        };
        log.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .requests
            .push(seen);
        match script(conn, index) {
            Step::Answer => {
                if answer(&mut tcp, conn, index).await.is_err() {
                    return;
                }
            }
            Step::AnswerAfter(delay) => {
                tokio::time::sleep(delay).await;
                if answer(&mut tcp, conn, index).await.is_err() {
                    return;
                }
            }
            Step::CloseOnArrival => return,
            Step::ResetOnArrival => {
                // SO_LINGER 0: the close sends RST.
                let _ = socket2::SockRef::from(&tcp).set_linger(Some(Duration::ZERO));
                return;
            }
            Step::Stall => {
                std::future::pending::<()>().await;
            }
            Step::PartialHeadThenClose => {
                let _ = tcp.write_all(b"HTTP/1.1 2").await;
                return;
            }
        }
    }
}

async fn answer(tcp: &mut TcpStream, conn: usize, index: usize) -> io::Result<()> {
    let body = format!("connection {conn} request {index}\n");
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nx-conn: {conn}\r\nx-request: {index}\r\n\r\n",
        body.len()
    );
    tcp.write_all(head.as_bytes()).await?;
    tcp.write_all(body.as_bytes()).await
}

/// Reads one request (head and `Content-Length` body) from `tcp`, keeping what follows in
/// `buf`; `None` when the connection ends or sends something unparsable.
async fn read_request(
    tcp: &mut TcpStream,
    buf: &mut Vec<u8>,
    conn: usize,
    index: usize,
) -> Option<Seen> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(buf) {
            Ok(httparse::Status::Complete(head_len)) => {
                let header = |name: &str| {
                    req.headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .and_then(|h| std::str::from_utf8(h.value).ok())
                        .map(str::to_owned)
                };
                let body_len: usize = header("content-length")
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                let seen = Seen {
                    conn,
                    index,
                    method: req.method?.to_owned(),
                    path: req.path?.to_owned(),
                    body_len,
                    idempotency_key: header("idempotency-key"),
                };
                while buf.len() < head_len + body_len {
                    if read_more(tcp, buf).await == 0 {
                        return None;
                    }
                }
                buf.drain(..head_len + body_len);
                return Some(seen);
            }
            Ok(httparse::Status::Partial) => {
                if read_more(tcp, buf).await == 0 {
                    return None;
                }
            }
            Err(_) => return None,
        }
    }
}

async fn read_more(tcp: &mut TcpStream, buf: &mut Vec<u8>) -> usize {
    let mut chunk = [0u8; 8192];
    match tcp.read(&mut chunk).await {
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            n
        }
        Err(_) => 0,
    }
}
