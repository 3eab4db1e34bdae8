//! Peak resident memory per open connection, client side: opens N HTTPS connections through
//! the connector to a local test server, makes one request on each through hyper's codec, keeps
//! them all open, and reports how much `VmRSS` (now) and `VmHWM` (peak) from
//! `/proc/self/status` grew, divided by N.
//!
//! The server runs in a child process (this same example, started with `--serve`), so its
//! memory is not counted.
//!
//! ```sh
//! cargo run --release --example rss_per_conn                # 1000 connections, ALPN h2
//! cargo run --release --example rss_per_conn -- 1000 --http1
//! ```

use std::error::Error;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use keepalive_connector::{Conn, Connector, StaticResolver, Trust};

type BoxError = Box<dyn Error + Send + Sync>;

/// Connections opened at the same time while filling up (a bound, so the peak measures open
/// connections rather than a burst of concurrent handshakes).
const BATCH: usize = 50;

/// A `(VmRSS, VmHWM)` pair in KiB, from `/proc/self/status` (Linux).
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// An open connection: what must stay alive for it to stay open.
enum Open {
    H1(hyper::client::conn::http1::SendRequest<Empty<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Empty<Bytes>>),
}

/// Handshakes the codec ALPN chose, sends `GET /`, reads the body, and keeps the connection.
async fn open(conn: Conn, host: &str) -> Result<Open, BoxError> {
    let req = || {
        Request::get(format!("https://{host}/"))
            .header(http::header::HOST, host)
            .body(Empty::<Bytes>::new())
    };
    if conn.is_h2() {
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(conn)).await?;
        tokio::spawn(connection);
        let resp = sender.send_request(req()?).await?;
        resp.into_body().collect().await?;
        Ok(Open::H2(sender))
    } else {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(conn).await?;
        tokio::spawn(connection);
        let resp = sender.send_request(req()?).await?;
        resp.into_body().collect().await?;
        Ok(Open::H1(sender))
    }
}

/// `--serve`: the server half, until stdin closes.
async fn serve() -> Result<(), BoxError> {
    let server = keepalive_testserver::TestServer::start().await?;
    println!("ADDR {}", server.addr());
    println!("CA {}", server.ca_pem().trim().replace('\n', "|"));
    tokio::task::spawn_blocking(|| {
        let mut sink = String::new();
        while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {}
    })
    .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--serve") {
        return serve().await;
    }
    let n: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(1000);
    let http1 = args.iter().any(|a| a == "--http1");

    let mut server = Command::new(std::env::current_exe()?)
        .arg("--serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut lines = BufReader::new(server.stdout.take().ok_or("no stdout")?).lines();
    let mut next = |prefix: &str| -> Result<String, BoxError> {
        let line = lines.next().ok_or("the server exited")??;
        Ok(line
            .strip_prefix(prefix)
            .ok_or_else(|| format!("expected {prefix}, got {line}"))?
            .to_owned())
    };
    let addr: std::net::SocketAddr = next("ADDR ")?.parse()?;
    let ca = next("CA ")?.replace('|', "\n");

    let mut builder = Connector::builder()
        .trust(Trust::AddedRootsOnly)
        .add_root_certificates_pem(ca.as_bytes())
        .dns_resolver(
            StaticResolver::new()
                .add("localhost", addr.port(), [addr.ip()])
                .no_fallback(),
        );
    if http1 {
        builder = builder.http1_only();
    }
    let connector = builder.build()?;
    let uri: http::Uri = format!("https://localhost:{}/", addr.port()).parse()?;
    let host = format!("localhost:{}", addr.port());

    // Warm up: one connection opened and closed, so one-time allocations (the runtime, rustls's
    // provider and configuration) are in the baseline.
    drop(open(connector.connect(&uri).await?, &host).await?);
    let (rss_before, hwm_before) = memory_kib();

    let start = Instant::now();
    let mut conns = Vec::with_capacity(n);
    let mut protocol = None;
    while conns.len() < n {
        let batch = BATCH.min(n - conns.len());
        let mut tasks = Vec::with_capacity(batch);
        for _ in 0..batch {
            let (connector, uri, host) = (connector.clone(), uri.clone(), host.clone());
            tasks.push(tokio::spawn(async move {
                let conn = connector.connect(&uri).await?;
                let alpn = conn
                    .info()
                    .tls()
                    .and_then(|tls| tls.alpn())
                    .map(|p| String::from_utf8_lossy(p).into_owned());
                Ok::<_, BoxError>((open(conn, &host).await?, alpn))
            }));
        }
        for task in tasks {
            let (conn, alpn) = task.await??;
            protocol = alpn;
            conns.push(conn);
        }
    }
    let took = start.elapsed();
    let (rss_after, hwm_after) = memory_kib();
    let h2 = conns.iter().filter(|c| matches!(c, Open::H2(_))).count();
    let closed = conns
        .iter()
        .filter(|c| match c {
            Open::H1(s) => s.is_closed(),
            Open::H2(s) => s.is_closed(),
        })
        .count();
    if closed > 0 {
        return Err(format!("{closed} of {n} connections closed before the measurement").into());
    }

    let per = |kib: u64| kib as f64 * 1024.0 / n as f64;
    println!(
        "{n} open connections (ALPN {}, {h2} over h2) to {addr}, opened in {took:.2?}",
        protocol.as_deref().unwrap_or("none"),
    );
    println!(
        "VmRSS {rss_before} KiB -> {rss_after} KiB: {:.0} bytes per open connection",
        per(rss_after.saturating_sub(rss_before))
    );
    println!(
        "VmHWM {hwm_before} KiB -> {hwm_after} KiB: peak {:.0} bytes per open connection \
         (peak growth over the baseline RSS)",
        per(hwm_after.saturating_sub(rss_before))
    );

    drop(conns);
    drop(server.stdin.take());
    let _ = server.wait();
    Ok(())
}
