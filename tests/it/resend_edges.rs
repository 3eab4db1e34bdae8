//! The edges of the re-send rules an independent review found open, each against a real
//! server on a real socket: a request whose own body fails is never sent again; a request a
//! pooled connection hands back unsent goes again on a connection the client watches (and
//! not, behind its back, through hyper-util's own retry); a new connection that fails before
//! it is handed over is a fresh connection's failure, not a reason to try 16 times.

use std::future::Future;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame};
use keepalive_connector::{Connector, RequestBody, RequestInfo, StaleReason};

/// Reads one request head (up to the blank line) from a blocking socket.
fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Reads a chunked body up to its last chunk, or until the peer stops sending.
fn read_chunked(s: &mut TcpStream) -> String {
    let mut all = Vec::new();
    let mut buf = [0u8; 1024];
    while !all.windows(5).any(|w| w == b"0\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => all.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&all).into_owned()
}

/// A streamed body of unknown length: its items in turn, 100 ms apart after the first (an
/// upload relayed from elsewhere).
struct Upstream {
    items: Vec<Result<Bytes, std::io::Error>>,
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
    started: bool,
}

impl Body for Upstream {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.items.is_empty() {
            return Poll::Ready(None);
        }
        if self.started {
            let pause = self
                .pause
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(Duration::from_millis(100))));
            if pause.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.pause = None;
        }
        self.started = true;
        Poll::Ready(Some(self.items.remove(0).map(Frame::data)))
    }
}

/// The caller's body fails with an error that looks like a dead connection (its own upstream
/// was reset). Before the fix the client took it for the connection's failure and sent the
/// PUT again on a fresh connection: the replay sent the kept `hello ` and then went on reading
/// the broken source, so the server stored `hello world` from a body that had failed.
#[tokio::test]
async fn a_request_whose_own_body_fails_is_never_sent_again() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    let (seen_tx, seen) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            count.fetch_add(1, Ordering::SeqCst);
            let seen_tx = seen_tx.clone();
            std::thread::spawn(move || loop {
                let head = read_head(&mut s);
                if head.is_empty() {
                    return;
                }
                if head.starts_with("PUT") {
                    let body = read_chunked(&mut s);
                    let _ = seen_tx.send(body);
                    let _ = s.write_all(b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n");
                    continue;
                }
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
            });
        }
    });
    let client = Connector::builder().build().unwrap().client();
    let url = format!("http://{addr}/file");
    // A reused connection: the case where a dead connection's request would be sent again.
    let warm = client.get(url.parse().unwrap()).await.unwrap();
    warm.into_body().collect().await.unwrap();

    let body = Upstream {
        items: vec![
            Ok(Bytes::from_static(b"hello ")),
            Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
            Ok(Bytes::from_static(b"world")),
        ],
        pause: None,
        started: false,
    };
    let req = Request::builder()
        .method(Method::PUT)
        .uri(&url)
        .body(body)
        .unwrap();
    let err = client.request(req).await.expect_err("its body failed");
    assert!(!err.is_stale_connection(), "the body's failure: {err}");
    assert_eq!(err.request_info().retries(), 0, "{err}");
    assert!(err.request_info().reused());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "no second connection");
    let complete: Vec<String> = seen
        .try_iter()
        .filter(|body| body.contains("0\r\n\r\n"))
        .collect();
    assert!(
        complete.is_empty(),
        "the server got a complete body from a body that failed: {complete:?}"
    );
}

/// A pooled connection's FIN arrives as the next request is queued on it: hyper hands the
/// request back unsent. Before the fix hyper-util re-sent it on a new connection by itself;
/// the client kept watching the first one, so the answering connection had no use counted and
/// retired under its own streaming answer (the body cut after about the pool idle timeout),
/// and `RequestInfo` called the answer reused and not re-sent.
#[tokio::test]
async fn a_request_handed_back_unsent_goes_again_on_a_connection_the_client_watches() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (close_tx, close_rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        // Connection 0: one answer, then a FIN when told.
        let (mut first, _) = listener.accept().unwrap();
        read_head(&mut first);
        first
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            .unwrap();
        close_rx.recv().unwrap();
        first.shutdown(Shutdown::Both).unwrap();
        // Connection 1: 10 bytes of body, one every 200 ms: longer than the pool idle timeout.
        let (mut second, _) = listener.accept().unwrap();
        read_head(&mut second);
        second
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n")
            .unwrap();
        for _ in 0..10 {
            std::thread::sleep(Duration::from_millis(200));
            if second.write_all(b"x").is_err() {
                return;
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    });
    let client = Connector::builder()
        .pool_idle_timeout(Duration::from_millis(800))
        .build()
        .unwrap()
        .client();
    let url: http::Uri = format!("http://{addr}/").parse().unwrap();
    let first = client.get(url.clone()).await.unwrap();
    first.into_body().collect().await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // This test's runtime has one thread. A timer is registered, then the thread blocks while
    // the FIN arrives: its next turn finds both, and polls this test (which queues the request
    // on connection 0) before connection 0's task, which then reads the FIN and hands the
    // request back unsent.
    let mut timer = Box::pin(tokio::time::sleep(Duration::from_millis(1)));
    std::future::poll_fn(|cx| {
        let _ = timer.as_mut().poll(cx);
        Poll::Ready(())
    })
    .await;
    close_tx.send(()).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    timer.await;
    let resp = client.get(url).await.unwrap();
    let info = resp.extensions().get::<RequestInfo>().cloned().unwrap();
    let mut body = resp.into_body();
    let mut got = 0;
    while let Some(chunk) = body
        .chunk()
        .await
        .unwrap_or_else(|e| panic!("a live answer was cut after {got} of 10 bytes: {e}"))
    {
        got += chunk.len();
    }
    assert_eq!(got, 10);
    assert!(!info.reused(), "answered on a new connection: {info:?}");
    assert_eq!(info.retries(), 1, "{info:?}");
    assert_eq!(info.resends()[0].reason(), StaleReason::NotSent, "{info:?}");
}

/// A server that answers every new connection unasked and closes it: the connection fails
/// before hyper-util hands it over. Before the fix the client took that for the pool's own
/// race and tried 16 connections per request, `max_resends(0)` or not.
#[tokio::test]
async fn a_new_connection_that_fails_before_it_is_handed_over_is_not_tried_again() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            count.fetch_add(1, Ordering::SeqCst);
            let _ = s.write_all(b"HTTP/1.1 500 go away\r\ncontent-length: 0\r\n\r\n");
            let _ = s.shutdown(Shutdown::Both);
        }
    });
    let (mut answered, mut failed) = (0, 0);
    for max_resends in [0, 1] {
        let client = Connector::builder()
            .max_resends(max_resends)
            .build()
            .unwrap()
            .client();
        for _ in 0..10 {
            let before = accepted.load(Ordering::SeqCst);
            let req = Request::builder()
                .method(Method::POST)
                .uri(format!("http://{addr}/"))
                .body(RequestBody::from("x"))
                .unwrap();
            // The unasked answer can also arrive after the request went out, and be taken
            // as its answer: one connection either way.
            let outcome = match client.request(req).await {
                Ok(resp) => {
                    assert_eq!(resp.status(), 500);
                    answered += 1;
                    "answered".to_owned()
                }
                Err(err) => {
                    assert!(!err.is_stale_connection(), "no pooled connection: {err}");
                    assert_eq!(err.request_info().retries(), 0, "{err}");
                    failed += 1;
                    err.to_string()
                }
            };
            tokio::time::sleep(Duration::from_millis(50)).await;
            let used = accepted.load(Ordering::SeqCst) - before;
            assert_eq!(
                used, 1,
                "max_resends({max_resends}): {used} connections for one POST: {outcome}"
            );
        }
    }
    println!("{failed} failed before an answer, {answered} took the unasked one as theirs");
}
