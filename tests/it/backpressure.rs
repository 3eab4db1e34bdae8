//! `TCP_USER_TIMEOUT` and a peer that stops reading (issue 19, item 5). On current Linux the
//! user timeout also bounds zero-window probing: a receive window held at zero longer than
//! the timeout ends the connection with `ETIMEDOUT`, although the peer answers every probe.
//! So the default timeout (keepalive's budget, there to notice a peer that vanished with data
//! unacknowledged) also ends an upload to a live server that stops reading for that long;
//! `tcp_user_timeout(None)` keeps such a connection (RFC 1122 4.2.2.17: a sender keeps
//! probing a zero window as long as the receiver answers). Real sockets on loopback, one
//! server that reads nothing until told to.

use std::io;
use std::time::{Duration, Instant};

use keepalive_connector::{Conn, Connector, Keepalive};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::oneshot;

/// Keepalive 1 s idle, 1 s interval, 2 probes: a default user timeout of 3 s.
fn keepalive() -> Keepalive {
    Keepalive::new()
        .idle(Duration::from_secs(1))
        .interval(Duration::from_secs(1))
        .retries(2)
}
const DEFAULT_USER_TIMEOUT: Duration = Duration::from_secs(3);

/// How long the server stops reading in the survival case: well past the default's timeout.
const PAUSE: Duration = Duration::from_secs(7);

/// A listener whose connections have a small receive buffer (so the window closes after a
/// few kilobytes) and that reads nothing until `resume` fires, then everything.
async fn stalling_server() -> (u16, oneshot::Sender<()>, tokio::task::JoinHandle<u64>) {
    let socket = TcpSocket::new_v4().unwrap();
    // Inherited by accepted sockets; a fixed SO_RCVBUF also turns receive autotuning off.
    socket.set_recv_buffer_size(4096).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener: TcpListener = socket.listen(8).unwrap();
    let port = listener.local_addr().unwrap().port();
    let (resume, resumed) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let _ = resumed.await;
        let mut sink = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        while let Ok(n @ 1..) = stream.read(&mut sink).await {
            total += n as u64;
        }
        total
    });
    (port, resume, task)
}

/// Writes until a write stays blocked for 300 ms (the peer's window is closed and our send
/// buffer full); returns what was written and when the blocking began.
async fn fill(conn: &mut Conn) -> (u64, Instant) {
    let chunk = vec![7u8; 16 * 1024];
    let mut written = 0u64;
    loop {
        let at = Instant::now();
        match tokio::time::timeout(Duration::from_millis(300), conn.write(&chunk)).await {
            Ok(Ok(n)) => written += n as u64,
            Ok(Err(e)) => panic!("a write failed before the window closed: {e}"),
            Err(_) => return (written, at),
        }
    }
}

async fn connect(port: u16, user_timeout: Option<Option<Duration>>) -> Conn {
    let mut builder = Connector::builder()
        .keepalive(keepalive())
        .send_buffer_size(8192);
    if let Some(chosen) = user_timeout {
        builder = builder.tcp_user_timeout(chosen);
    }
    let connector = builder.build().unwrap();
    let uri: http::Uri = format!("http://127.0.0.1:{port}/").parse().unwrap();
    connector.connect(&uri).await.unwrap()
}

#[tokio::test]
async fn the_default_user_timeout_ends_a_connection_whose_peer_stops_reading() {
    let (port, _resume, _server) = stalling_server().await;
    let mut conn = connect(port, None).await;
    assert_eq!(conn.info().tcp_user_timeout(), Some(DEFAULT_USER_TIMEOUT));
    let (written, blocked_at) = fill(&mut conn).await;
    println!("window closed after {written} bytes");
    let chunk = vec![7u8; 16 * 1024];
    let limit = DEFAULT_USER_TIMEOUT * 3;
    let result = tokio::time::timeout(limit, conn.write_all(&chunk)).await;
    let after = blocked_at.elapsed();
    println!("default tcp_user_timeout {DEFAULT_USER_TIMEOUT:?}: the blocked write ended after {after:?}: {result:?}");
    let err = result
        .unwrap_or_else(|_| panic!("still alive after {limit:?} of a closed window"))
        .expect_err("the peer never read: the write cannot complete");
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    // Probing starts one retransmission timeout (200 ms on loopback) after the window closed,
    // and the kernel aborts once it has probed for the user timeout.
    assert!(after >= DEFAULT_USER_TIMEOUT, "{after:?}");
    assert!(
        after < DEFAULT_USER_TIMEOUT + Duration::from_secs(2),
        "{after:?}"
    );
}

#[tokio::test]
async fn without_a_user_timeout_a_connection_outlasts_a_peer_that_stops_reading() {
    let (port, resume, server) = stalling_server().await;
    let mut conn = connect(port, Some(None)).await;
    assert_eq!(conn.info().tcp_user_timeout(), None);
    let (mut written, blocked_at) = fill(&mut conn).await;
    let chunk = vec![7u8; 16 * 1024];
    // The write stays blocked (no error) for the whole pause, keepalive on or not: the kernel
    // sends no keepalive probe while data waits to be sent, and the peer answers every
    // zero-window probe.
    let blocked = tokio::time::timeout(PAUSE, conn.write_all(&chunk)).await;
    assert!(blocked.is_err(), "the write ended: {blocked:?}");
    println!(
        "tcp_user_timeout(None): still blocked, no error, after {:?} of a closed window",
        blocked_at.elapsed()
    );
    // The server reads again: everything goes through.
    resume.send(()).unwrap();
    conn.write_all(&chunk).await.unwrap();
    written += chunk.len() as u64;
    conn.shutdown().await.unwrap();
    drop(conn);
    let read = server.await.unwrap();
    assert!(read >= written, "the server read {read} of {written} bytes");
}
