//! `http1_client`: hyper's HTTP/1.1 client over a peer that sends the input's payload.

use std::future::Future;
use std::task::Poll;

use bytes::Bytes;
use http::Version;
use http_body_util::Full;
use hyper_util::rt::TokioIo;

use super::exchange::{method_of, request, Exchange};
use super::peer::{with_runtime, Driver, PeerIo, Script};

/// Options of the HTTP/1.1 target.
pub mod http1_options {
    /// Lenient parsing: spaces after header names, obsolete line folding, invalid headers
    /// ignored.
    pub const LENIENT: u8 = 0x01;
    /// Accept HTTP/0.9 responses.
    pub const HTTP09: u8 = 0x02;
    /// Bits 2-3: the request: GET, HEAD, POST 5 bytes, POST 70,000 bytes.
    pub const REQUEST_SHIFT: u8 = 2;
    /// After the first response, a second GET on the same connection.
    pub const TWO_REQUESTS: u8 = 0x80;
}

fn kind_of(options: u8) -> u8 {
    (options >> http1_options::REQUEST_SHIFT) & 3
}

/// `http1_client`: hyper's HTTP/1.1 client over a peer that sends the payload; one request
/// driven to a response or an error, and its body to the end (and optionally a second one).
pub fn http1_client(data: &[u8]) {
    let script = Script::parse(data);
    let (io, alive) = PeerIo::new(&script);
    let mut driver = Driver::new("http1_client", script.poll_budget());
    let mut builder = hyper::client::conn::http1::Builder::new();
    if script.options & http1_options::LENIENT != 0 {
        builder
            .allow_spaces_after_header_name_in_responses(true)
            .allow_obsolete_multiline_headers_in_responses(true)
            .ignore_invalid_headers_in_responses(true)
            .title_case_headers(true)
            .preserve_header_case(true)
            .max_buf_size(8192);
    }
    if script.options & http1_options::HTTP09 != 0 {
        builder.http09_responses(true);
    }
    with_runtime(|| {
        let handshake = driver.run(builder.handshake::<_, Full<Bytes>>(TokioIo::new(io)));
        let Ok((mut sender, conn)) = handshake else {
            return;
        };
        let mut conn = Box::pin(conn);
        let kind = kind_of(script.options);
        let mut exchanges = vec![Exchange::Waiting(Box::pin(
            sender.send_request(request(kind, Version::HTTP_11)),
        ))];
        let mut second_left = script.options & http1_options::TWO_REQUESTS != 0;
        let mut sender = Some(sender);
        let mut conn_done = false;
        loop {
            let mut cx = driver.begin_round();
            for exchange in &mut exchanges {
                exchange.poll(&mut cx, Version::HTTP_11);
            }
            if exchanges.iter().all(Exchange::is_done) {
                match (second_left, sender.as_mut()) {
                    (true, Some(s)) => match s.poll_ready(&mut cx) {
                        Poll::Ready(Ok(())) => {
                            second_left = false;
                            exchanges.push(Exchange::Waiting(Box::pin(
                                s.send_request(request(0, Version::HTTP_11)),
                            )));
                            continue;
                        }
                        Poll::Ready(Err(_)) => second_left = false,
                        Poll::Pending => {}
                    },
                    _ => sender = None,
                }
            }
            if !conn_done {
                conn_done = conn.as_mut().poll(&mut cx).is_ready();
            }
            if conn_done && exchanges.iter().all(Exchange::is_done) {
                // Once the connection is gone, a waiting second request has nowhere to go.
                if second_left {
                    if let Some(s) = sender.as_mut() {
                        assert!(
                            !matches!(s.poll_ready(&mut cx), Poll::Ready(Ok(()))),
                            "the connection is gone but the sender is ready"
                        );
                    }
                }
                break;
            }
            driver.end_round_pending();
        }
        drop(sender);
        drop(exchanges);
        drop(conn);
    });
    // A peer that answers before the request is written may stop it from being written at all;
    // whatever was written must be the request line.
    let written = alive.written();
    if !written.is_empty() {
        let line = format!("{} /fuzz HTTP/1.1\r\n", method_of(kind_of(script.options)));
        let line = line.as_bytes();
        let n = written.len().min(line.len());
        assert_eq!(&written[..n], &line[..n], "not the request line");
    }
    assert!(!alive.is_alive(), "the stream leaked");
}
