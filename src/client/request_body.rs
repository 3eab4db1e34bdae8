//! [`RequestBody`]: a request body that needs no other crate.

use std::convert::Infallible;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

/// A request body for a [`Client`](crate::Client): empty, or bytes in full (a JSON document, a
/// form). Kept whole, so a request with it can always be sent again when the method allows
/// (see [Re-sending](crate::Client#re-sending)).
///
/// [`Client::request`](crate::Client::request) takes any `http_body::Body` (a `String` too, or
/// a stream built with `http-body-util`); this one is here so that a first program needs no
/// crate besides this one and tokio, and so that requests with and without a body have one
/// type. Ours rather than `http-body-util`'s `Full` and `Empty`: that crate is not 1.0, and
/// re-exporting its types would tie this crate's API to its next version.
///
/// ```
/// use keepalive_connector::http::Request;
/// use keepalive_connector::RequestBody;
/// let req = Request::post("https://api.example.com/v1/chat")
///     .header("content-type", "application/json")
///     .body(RequestBody::from(r#"{"stream":true}"#))?;
/// let empty = RequestBody::empty();
/// # let _ = (req, empty);
/// # Ok::<(), keepalive_connector::http::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct RequestBody {
    /// `None` once sent (or when empty).
    data: Option<Bytes>,
}

impl RequestBody {
    /// A body with nothing in it (what [`Client::get`](crate::Client::get) sends).
    pub fn empty() -> Self {
        RequestBody { data: None }
    }

    /// The body's length in bytes.
    pub fn len(&self) -> usize {
        self.data.as_ref().map_or(0, Bytes::len)
    }

    /// `true` for a body with nothing in it.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<Bytes> for RequestBody {
    fn from(data: Bytes) -> Self {
        RequestBody {
            data: (!data.is_empty()).then_some(data),
        }
    }
}

impl From<Vec<u8>> for RequestBody {
    fn from(data: Vec<u8>) -> Self {
        Bytes::from(data).into()
    }
}

impl From<String> for RequestBody {
    fn from(data: String) -> Self {
        Bytes::from(data).into()
    }
}

impl From<&'static str> for RequestBody {
    fn from(data: &'static str) -> Self {
        Bytes::from_static(data.as_bytes()).into()
    }
}

impl From<&'static [u8]> for RequestBody {
    fn from(data: &'static [u8]) -> Self {
        Bytes::from_static(data).into()
    }
}

/// The length only: a body may hold credentials or personal data.
impl fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBody")
            .field("len", &self.len())
            .finish()
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.data.take().map(|data| Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Polls `body` to its end, returning its frames' bytes.
    fn drain(mut body: RequestBody) -> Vec<u8> {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut out = Vec::new();
        while let Poll::Ready(Some(frame)) = Pin::new(&mut body).poll_frame(&mut cx) {
            out.extend_from_slice(frame.unwrap().data_ref().unwrap());
        }
        assert!(body.is_end_stream());
        out
    }

    #[test]
    fn bytes_in_full_or_nothing() {
        let body = RequestBody::from("{\"a\":1}");
        assert_eq!(body.size_hint().exact(), Some(7));
        assert!(!body.is_end_stream());
        assert_eq!(format!("{body:?}"), "RequestBody { len: 7 }");
        assert_eq!(drain(body), b"{\"a\":1}");

        for empty in [
            RequestBody::empty(),
            RequestBody::default(),
            RequestBody::from(String::new()),
        ] {
            assert!(empty.is_end_stream(), "hyper sends no body at all");
            assert_eq!(empty.size_hint().exact(), Some(0));
            assert!(drain(empty).is_empty());
        }
    }
}
