//! What the two HTTP targets share: a request of the kind the options choose, and
//! [`Exchange`], which drives one request to its response and its body to the end, checking
//! the response's version and `is_end_stream()` on the way.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, Request, Uri, Version};
use http_body_util::Full;
use hyper::body::{Body, Incoming};

/// Where one request is.
pub(crate) enum Exchange<F> {
    Waiting(Pin<Box<F>>),
    Body(Incoming, usize),
    Done,
}

impl<F> Exchange<F>
where
    F: Future<Output = hyper::Result<http::Response<Incoming>>>,
{
    /// Drives the request one step; `version` is what a response must carry.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>, version: Version) {
        loop {
            match self {
                Exchange::Waiting(fut) => match fut.as_mut().poll(cx) {
                    Poll::Pending => return,
                    Poll::Ready(Ok(resp)) => {
                        if version == Version::HTTP_2 {
                            assert_eq!(resp.version(), version, "HTTP/2 answered as another");
                        } else {
                            assert!(
                                [Version::HTTP_09, Version::HTTP_10, Version::HTTP_11]
                                    .contains(&resp.version()),
                                "HTTP/1 answered as {:?}",
                                resp.version()
                            );
                        }
                        *self = Exchange::Body(resp.into_body(), 0);
                    }
                    Poll::Ready(Err(_)) => *self = Exchange::Done,
                },
                Exchange::Body(body, frames) => {
                    // http-body: "an end of stream means that poll_frame will return None".
                    let said_ended = body.is_end_stream();
                    match Pin::new(&mut *body).poll_frame(cx) {
                        Poll::Pending => return,
                        Poll::Ready(Some(Ok(_frame))) => {
                            assert!(!said_ended, "a frame after is_end_stream() said the end");
                            *frames += 1;
                        }
                        Poll::Ready(None) => *self = Exchange::Done,
                        Poll::Ready(Some(Err(_))) => *self = Exchange::Done,
                    }
                }
                Exchange::Done => return,
            }
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        matches!(self, Exchange::Done)
    }
}

pub(crate) fn method_of(kind: u8) -> Method {
    match kind & 3 {
        0 => Method::GET,
        1 => Method::HEAD,
        _ => Method::POST,
    }
}

/// Request kinds (options bits 2-3 of the HTTP targets).
pub(crate) fn request(kind: u8, version: Version) -> Request<Full<Bytes>> {
    let body = match kind & 3 {
        0 | 1 => Bytes::new(),
        2 => Bytes::from_static(b"hello"),
        // Larger than HTTP/2's default 65,535-byte window: needs the peer's WINDOW_UPDATE.
        _ => Bytes::from(vec![b'x'; 70_000]),
    };
    let method = method_of(kind);
    let uri: Uri = if version == Version::HTTP_2 {
        "https://localhost/fuzz".parse().expect("a valid uri")
    } else {
        "/fuzz".parse().expect("a valid uri")
    };
    Request::builder()
        .method(method)
        .uri(uri)
        .version(version)
        .header(http::header::HOST, "localhost")
        .body(Full::new(body))
        .expect("a valid request")
}
