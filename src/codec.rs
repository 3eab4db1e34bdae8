//! The direct path's last step: a [`Conn`] handed to hyper's HTTP/1.1 or HTTP/2 client codec,
//! whichever the connection negotiated, for callers that do without hyper-util's pool.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::header::HOST;
use http::uri::PathAndQuery;
use http::{HeaderValue, Request, Response, Uri, Version};
use hyper::body::{Body, Incoming};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::TokioExecutor;

use crate::stream::Conn;

/// Sends requests over one connection with the codec its ALPN (or `http2_only` prior
/// knowledge) chose. Made by [`Conn::handshake`].
pub struct SendRequest<B> {
    inner: Sender<B>,
}

enum Sender<B> {
    /// `forwarded`: the peer is a forwarding proxy, which takes absolute URIs.
    Http1 {
        sender: http1::SendRequest<B>,
        forwarded: bool,
    },
    Http2(http2::SendRequest<B>),
}

impl<B> fmt::Debug for SendRequest<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendRequest")
            .field("h2", &self.is_h2())
            .finish()
    }
}

/// The connection's I/O driver from [`Conn::handshake`]: a future to spawn (or await) that
/// runs until the connection closes. Dropping it closes the connection.
#[must_use = "the connection does nothing unless its driver is polled"]
pub struct ConnDriver {
    inner: Pin<Box<dyn Future<Output = hyper::Result<()>> + Send>>,
}

impl fmt::Debug for ConnDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnDriver").finish_non_exhaustive()
    }
}

impl Future for ConnDriver {
    type Output = hyper::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl Conn {
    /// Runs hyper's client handshake for the protocol this connection speaks
    /// ([`is_h2`](Conn::is_h2)): HTTP/2 with tokio's executor, or HTTP/1.1. Spawn the
    /// [`ConnDriver`] and send requests with the [`SendRequest`].
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// use http_body_util::Empty;
    /// use keepalive_connector::Connector;
    /// let uri: http::Uri = "https://example.com/".parse()?;
    /// let conn = Connector::builder().build()?.connect(&uri).await?;
    /// let (mut sender, driver) = conn.handshake::<Empty<bytes::Bytes>>().await?;
    /// tokio::spawn(driver);
    /// let resp = sender.send_request(http::Request::get(uri).body(Empty::new())?).await?;
    /// println!("{} over {:?}", resp.status(), resp.version());
    /// # Ok(()) }
    /// ```
    pub async fn handshake<B>(self) -> hyper::Result<(SendRequest<B>, ConnDriver)>
    where
        B: Body + Send + Unpin + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        if self.is_h2() {
            let (sender, conn) = http2::handshake(TokioExecutor::new(), self).await?;
            Ok((
                SendRequest {
                    inner: Sender::Http2(sender),
                },
                ConnDriver {
                    inner: Box::pin(conn),
                },
            ))
        } else {
            let forwarded = self.is_forwarded();
            let (sender, conn) = http1::handshake(self).await?;
            Ok((
                SendRequest {
                    inner: Sender::Http1 { sender, forwarded },
                },
                ConnDriver {
                    inner: Box::pin(conn),
                },
            ))
        }
    }
}

impl<B> SendRequest<B> {
    /// `true` when requests go out as HTTP/2.
    pub fn is_h2(&self) -> bool {
        matches!(self.inner, Sender::Http2(_))
    }
}

impl<B> SendRequest<B>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    /// Waits until the connection can take a request (HTTP/1.1 takes one at a time).
    pub async fn ready(&mut self) -> hyper::Result<()> {
        match &mut self.inner {
            Sender::Http1 { sender, .. } => sender.ready().await,
            Sender::Http2(s) => s.ready().await,
        }
    }

    /// Sends `req`, whose URI should be absolute (`https://host/path`), as hyper-util's
    /// `Client` takes it. For HTTP/1.1 it is sent in origin form (`/path`) with a `Host`
    /// header made from the URI's authority unless the request has one (in absolute form to a
    /// forwarding proxy, see [`Conn::is_forwarded`]); for HTTP/2 the URI
    /// gives `:scheme` and `:authority` and the version is set to HTTP/2.
    pub async fn send_request(&mut self, mut req: Request<B>) -> hyper::Result<Response<Incoming>> {
        match &mut self.inner {
            Sender::Http1 { sender, forwarded } => {
                prepare_http1(&mut req, *forwarded);
                sender.send_request(req).await
            }
            Sender::Http2(s) => {
                *req.version_mut() = Version::HTTP_2;
                s.send_request(req).await
            }
        }
    }
}

/// `https://host:port/p?q` → `/p?q` (kept absolute for a forwarding proxy) plus
/// `Host: host:port` unless one is set, without any user info from the authority.
fn prepare_http1<B>(req: &mut Request<B>, forwarded: bool) {
    let uri = req.uri().clone();
    let Some(authority) = uri.authority() else {
        return;
    };
    if !req.headers().contains_key(HOST) {
        let host = match authority.port() {
            Some(port) => format!("{}:{port}", authority.host()),
            None => authority.host().to_owned(),
        };
        if let Ok(value) = HeaderValue::from_str(&host) {
            req.headers_mut().insert(HOST, value);
        }
    }
    if forwarded {
        return;
    }
    let path = uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    *req.uri_mut() = Uri::from(path);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin_form(uri: &str, host: Option<&'static str>) -> Request<()> {
        let mut req = Request::get(uri).body(()).unwrap();
        if let Some(host) = host {
            req.headers_mut()
                .insert(HOST, HeaderValue::from_static(host));
        }
        prepare_http1(&mut req, false);
        req
    }

    #[test]
    fn http1_requests_are_origin_form_with_host() {
        let req = origin_form("https://example.com:8443/a?b=c", None);
        assert_eq!(req.uri(), "/a?b=c");
        assert_eq!(req.headers()[HOST], "example.com:8443");
        let req = origin_form("https://example.com", None);
        assert_eq!(req.uri(), "/");
        assert_eq!(req.headers()[HOST], "example.com");
        let req = origin_form("https://user:secret@example.com/x", None);
        assert_eq!(req.headers()[HOST], "example.com", "no user info in Host");
    }

    #[test]
    fn a_forwarding_proxy_gets_the_absolute_uri_and_a_host() {
        let mut req = Request::get("http://example.com:8080/a?b")
            .body(())
            .unwrap();
        prepare_http1(&mut req, true);
        assert_eq!(req.uri(), "http://example.com:8080/a?b");
        assert_eq!(req.headers()[HOST], "example.com:8080");
    }

    #[test]
    fn a_user_host_header_wins_and_origin_form_is_kept() {
        let req = origin_form("https://example.com/", Some("other"));
        assert_eq!(req.headers()[HOST], "other");
        let req = origin_form("/already", None);
        assert_eq!(req.uri(), "/already");
        assert!(!req.headers().contains_key(HOST));
    }
}
