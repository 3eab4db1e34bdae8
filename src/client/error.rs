//! [`ClientError`]: why a request through a [`Client`](crate::Client), or the reading of its
//! response body, failed.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::info::{RequestInfo, StaleReason};
use crate::error::{BoxError, ConnectError};
use crate::stream::SilentDrop;

/// Why a stale connection's request was not sent again.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotResent {
    /// Neither its method is idempotent (GET, HEAD, OPTIONS, TRACE, PUT, DELETE) nor does it
    /// carry an `Idempotency-Key` or `X-Idempotency-Key` header: the server may have acted on
    /// it.
    Method(http::Method),
    /// Part of its body had been sent and the body was longer than
    /// [`resend_buffer_size`](crate::Builder::resend_buffer_size): it cannot be sent whole
    /// again.
    Body,
    /// It had been sent again as often as [`max_resends`](crate::Builder::max_resends) allows
    /// (the limit).
    Limit(u32),
    /// It had been tried this many times in all, whatever the reasons.
    Attempts(u32),
}

impl fmt::Display for NotResent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotResent::Method(m) => write!(f, "{m} without an Idempotency-Key"),
            NotResent::Body => {
                f.write_str("its body had partly been sent and is longer than the re-send buffer")
            }
            NotResent::Limit(0) => f.write_str("re-sending is off (max_resends = 0)"),
            NotResent::Limit(n) => write!(f, "the re-send limit (max_resends = {n}) was reached"),
            NotResent::Attempts(n) => write!(f, "it was tried {n} times already"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The request itself cannot be sent (a relative URI, an HTTP version hyper does not
    /// speak).
    InvalidRequest(&'static str),
    /// Connecting failed: the source is the [`ConnectError`].
    Connect,
    /// The request failed before its response head (not a stale pooled connection).
    Request,
    /// A pooled connection failed the request before any answer, and it was not sent again.
    Stale(StaleReason),
    /// No response head within the read timeout after the request was sent.
    ResponseTimeout(Duration),
    /// Reading the response body failed.
    Body,
    /// The response body went quiet for the read timeout.
    BodyTimeout(Duration),
}

/// Why a request through a [`Client`](crate::Client) failed, or the reading of its response
/// body.
///
/// - [`connect_error`](ClientError::connect_error): connecting failed, with the
///   [`Phase`](crate::Phase) and address;
/// - [`is_stale_connection`](ClientError::is_stale_connection): a pooled connection failed the
///   request before any of its answer arrived, and it was not sent again:
///   [`not_resent_because`](ClientError::not_resent_because) says why ("POST without an
///   Idempotency-Key");
/// - [`is_timeout`](ClientError::is_timeout): a connect, TLS or read timeout, or a silent drop;
/// - [`source`](StdError::source): the hyper error (or the [`ConnectError`]).
///
/// Its messages name the origin as `scheme://host:port`, never a path, query or user info.
pub struct ClientError {
    inner: Box<Inner>,
}

struct Inner {
    kind: Kind,
    origin: Arc<str>,
    source: Option<BoxError>,
    not_resent: Option<NotResent>,
    info: RequestInfo,
}

impl ClientError {
    pub(crate) fn new(kind: Kind, origin: Arc<str>, source: Option<BoxError>) -> Self {
        ClientError {
            inner: Box::new(Inner {
                kind,
                origin,
                source,
                not_resent: None,
                info: RequestInfo::default(),
            }),
        }
    }

    pub(crate) fn with_info(mut self, info: RequestInfo) -> Self {
        self.inner.info = info;
        self
    }

    pub(crate) fn not_resent(mut self, why: NotResent) -> Self {
        self.inner.not_resent = Some(why);
        self
    }

    /// The connect failure, with its [`Phase`](crate::Phase), address and cause, when
    /// connecting failed.
    pub fn connect_error(&self) -> Option<&ConnectError> {
        self.chain().find_map(|e| e.downcast_ref::<ConnectError>())
    }

    /// `true` when connecting failed (see [`connect_error`](ClientError::connect_error)).
    pub fn is_connect(&self) -> bool {
        self.inner.kind == Kind::Connect
    }

    /// `true` when a pooled connection failed the request before any of its answer arrived
    /// and the request was not sent again (see [`not_resent_because`](ClientError::not_resent_because)).
    /// The server may have seen the request, unless
    /// [`stale_reason`](ClientError::stale_reason) says it was
    /// [unprocessed](StaleReason::unprocessed).
    pub fn is_stale_connection(&self) -> bool {
        matches!(self.inner.kind, Kind::Stale(_))
    }

    /// How the stale connection failed, when [`is_stale_connection`](ClientError::is_stale_connection).
    pub fn stale_reason(&self) -> Option<StaleReason> {
        match self.inner.kind {
            Kind::Stale(reason) => Some(reason),
            _ => None,
        }
    }

    /// Why a stale connection's request was not sent again.
    pub fn not_resent_because(&self) -> Option<&NotResent> {
        self.inner.not_resent.as_ref()
    }

    /// `true` for a timeout: connecting, the TLS handshake, the read timeout (waiting for the
    /// response head or between body reads), or a silent drop (the request unacknowledged
    /// within the silent-drop bound).
    pub fn is_timeout(&self) -> bool {
        match self.inner.kind {
            Kind::ResponseTimeout(_) | Kind::BodyTimeout(_) => true,
            Kind::Stale(StaleReason::SilentDrop) => true,
            _ => {
                self.connect_error().is_some_and(ConnectError::is_timeout)
                    || self.chain().any(SilentDrop::is)
            }
        }
    }

    /// `true` when the request itself cannot be sent: a URI without a scheme or host, an HTTP
    /// version hyper does not speak (0.9, 3), `CONNECT` over HTTP/1.0. Nothing was sent.
    pub fn is_invalid_request(&self) -> bool {
        matches!(self.inner.kind, Kind::InvalidRequest(_))
    }

    /// `true` when the failure came while reading the response body (after the head).
    pub fn is_body(&self) -> bool {
        matches!(self.inner.kind, Kind::Body | Kind::BodyTimeout(_))
    }

    /// What happened to the request before it failed: whether its last connection was reused,
    /// and every re-send.
    pub fn request_info(&self) -> &RequestInfo {
        &self.inner.info
    }

    /// The origin, as `scheme://host:port`.
    pub fn origin(&self) -> &str {
        &self.inner.origin
    }

    fn chain(&self) -> impl Iterator<Item = &(dyn StdError + 'static)> {
        fn next<'a>(e: &&'a (dyn StdError + 'static)) -> Option<&'a (dyn StdError + 'static)> {
            let e: &'a (dyn StdError + 'static) = *e;
            e.source()
        }
        let first = self
            .inner
            .source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static));
        std::iter::successors(first, next)
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origin = &self.inner.origin;
        match self.inner.kind {
            Kind::InvalidRequest(why) => write!(f, "invalid request to {origin}: {why}"),
            Kind::Connect => match self.connect_error() {
                Some(e) => write!(f, "{e}"),
                None => write!(f, "connecting to {origin} failed"),
            },
            Kind::Request => write!(f, "request to {origin} failed before its response"),
            Kind::Stale(reason) => {
                write!(f, "pooled connection to {origin} was stale: {reason}")?;
                if let Some(why) = &self.inner.not_resent {
                    write!(f, "; not sent again: {why}")?;
                }
                Ok(())
            }
            Kind::ResponseTimeout(t) => write!(
                f,
                "no response from {origin} within the read timeout ({t:?}) after the request"
            ),
            Kind::Body => write!(f, "reading the response body from {origin} failed"),
            Kind::BodyTimeout(t) => write!(
                f,
                "the response body from {origin} went quiet for the read timeout ({t:?})"
            ),
        }?;
        let retries = self.inner.info.retries();
        if retries > 0 {
            write!(f, " (after {retries} re-send(s))")?;
        }
        // The causes, for the kinds whose message does not already carry them; hyper-util's
        // wrapper ("client error (SendRequest)") says nothing its source does not.
        if self.inner.kind != Kind::Connect {
            for cause in self
                .chain()
                .filter(|e| !e.is::<hyper_util::client::legacy::Error>())
            {
                write!(f, ": {cause}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientError")
            .field("kind", &self.inner.kind)
            .field("origin", &self.inner.origin)
            .field("not_resent", &self.inner.not_resent)
            .field("info", &self.inner.info)
            .field("source", &self.inner.source)
            .finish()
    }
}

impl StdError for ClientError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}
