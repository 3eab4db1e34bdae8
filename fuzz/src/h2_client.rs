//! `h2_client`: hyper's HTTP/2 client over a peer that sends the input's payload.

use std::future::Future;

use bytes::Bytes;
use http::Version;
use http_body_util::Full;
use hyper_util::rt::TokioIo;

use super::exchange::{request, Exchange};
use super::peer::{with_runtime, Driver, PeerIo, Script, Spawner};

/// Options of the HTTP/2 target.
pub mod h2_options {
    /// Small windows and frames: a 1 KiB stream window, 16 KiB frames, 1 KiB header list.
    pub const SMALL_LIMITS: u8 = 0x01;
    /// Adaptive flow control (BDP pings).
    pub const ADAPTIVE_WINDOW: u8 = 0x02;
    /// Bits 2-3: the request: GET, HEAD, POST 5 bytes, POST 70,000 bytes.
    pub const REQUEST_SHIFT: u8 = 2;
    /// Send a second request on the same connection, concurrently.
    pub const TWO_REQUESTS: u8 = 0x80;
}

/// `h2_client`: hyper's HTTP/2 client over a peer that sends the payload; one GET (or HEAD, or
/// POST) driven to a response or an error, and its body to the end.
pub fn h2_client(data: &[u8]) {
    let script = Script::parse(data);
    let (io, alive) = PeerIo::new(&script);
    let spawner = Spawner::default();
    let mut driver = Driver::new("h2_client", script.poll_budget());
    let mut builder = hyper::client::conn::http2::Builder::new(spawner.clone());
    if script.options & h2_options::SMALL_LIMITS != 0 {
        builder
            .initial_stream_window_size(1024)
            .initial_connection_window_size(1024)
            .max_frame_size(16_384)
            .max_header_list_size(1024)
            .max_concurrent_reset_streams(2)
            .max_send_buf_size(4096);
    }
    if script.options & h2_options::ADAPTIVE_WINDOW != 0 {
        builder.adaptive_window(true);
    }
    with_runtime(|| {
        let handshake = driver.run(builder.handshake::<_, Full<Bytes>>(TokioIo::new(io)));
        // The handshake only writes the preface; it fails only if that write fails.
        let Ok((mut sender, conn)) = handshake else {
            spawner.clear();
            return;
        };
        let mut conn = Box::pin(conn);
        let kind = script.options >> h2_options::REQUEST_SHIFT;
        let mut exchanges = vec![Exchange::Waiting(Box::pin(
            sender.send_request(request(kind, Version::HTTP_2)),
        ))];
        if script.options & h2_options::TWO_REQUESTS != 0 {
            exchanges.push(Exchange::Waiting(Box::pin(
                sender.send_request(request(0, Version::HTTP_2)),
            )));
        }
        let mut sender = Some(sender);
        let mut conn_done = false;
        loop {
            let mut cx = driver.begin_round();
            for exchange in &mut exchanges {
                exchange.poll(&mut cx, Version::HTTP_2);
            }
            if exchanges.iter().all(Exchange::is_done) {
                // Nothing more to ask: let the connection go away.
                sender = None;
            }
            if !conn_done {
                conn_done = conn.as_mut().poll(&mut cx).is_ready();
            }
            let tasks_left = spawner.poll_all(&mut cx);
            if conn_done && !tasks_left && exchanges.iter().all(Exchange::is_done) {
                break;
            }
            driver.end_round_pending();
        }
        assert!(sender.is_none());
        drop(exchanges);
        drop(conn);
        spawner.clear();
    });
    assert!(
        alive
            .written()
            .starts_with(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        "the client did not send the HTTP/2 preface"
    );
    assert!(!alive.is_alive(), "the stream leaked");
}
