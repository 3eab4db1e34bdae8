//! [`RequestInfo`]: what happened to a request sent through a [`Client`](crate::Client) — on
//! which kind of connection it was answered, and every time it was sent again and why.

use std::fmt;

/// Why a pooled connection failed a request before any of its answer arrived: the reason a
/// request was sent again ([`Resend::reason`]), or why a connection was judged stale
/// ([`ClientError::stale_reason`](crate::ClientError::stale_reason)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StaleReason {
    /// The server closed or reset the connection before answering: the request arrived as it
    /// went away (an idle-timeout race) or after. The server may have seen the request.
    Closed,
    /// The peer's TCP did not acknowledge the request within the connection's silent-drop
    /// bound: a NAT, firewall or load balancer on the way forgot the flow without a word
    /// (Linux, Android; see [`Builder::silent_drop_timeout`](crate::Builder)).
    SilentDrop,
    /// The HTTP/2 server refused the stream (`REFUSED_STREAM`): it did not process it.
    Refused,
    /// The HTTP/2 server sent GOAWAY with a last stream id below the request's stream: it did
    /// not process it.
    GoAway,
    /// The request was never written: the connection closed (or the pool retired it while
    /// idle) before hyper sent it.
    NotSent,
}

impl StaleReason {
    /// `true` when the server cannot have processed the request, so it may be sent again
    /// whatever its method.
    pub fn unprocessed(self) -> bool {
        matches!(
            self,
            StaleReason::Refused | StaleReason::GoAway | StaleReason::NotSent
        )
    }

    /// A short name: `closed`, `silent-drop`, `refused`, `goaway`, `not-sent`.
    pub fn as_str(self) -> &'static str {
        match self {
            StaleReason::Closed => "closed",
            StaleReason::SilentDrop => "silent-drop",
            StaleReason::Refused => "refused",
            StaleReason::GoAway => "goaway",
            StaleReason::NotSent => "not-sent",
        }
    }
}

impl fmt::Display for StaleReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StaleReason::Closed => "the server closed the connection before answering",
            StaleReason::SilentDrop => {
                "the path dropped the connection without a word (the request was not \
                 acknowledged)"
            }
            StaleReason::Refused => "the server refused the stream unprocessed (REFUSED_STREAM)",
            StaleReason::GoAway => {
                "the server went away (GOAWAY) before processing the request's stream"
            }
            StaleReason::NotSent => "the connection closed before the request was sent",
        })
    }
}

/// One time a request was sent again on another connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resend {
    pub(crate) reason: StaleReason,
    pub(crate) reused: bool,
}

impl Resend {
    /// Why the attempt before failed.
    pub fn reason(&self) -> StaleReason {
        self.reason
    }

    /// Whether that attempt's connection had served a request before.
    pub fn was_reused(&self) -> bool {
        self.reused
    }
}

/// What happened to a request sent through a [`Client`](crate::Client), in every response's
/// extensions beside [`ConnectInfo`](crate::ConnectInfo), and in every
/// [`ClientError`](crate::ClientError).
///
/// ```no_run
/// # async fn demo(client: keepalive_connector::Client) -> Result<(), Box<dyn std::error::Error>> {
/// use keepalive_connector::RequestInfo;
/// let resp = client.get("https://example.com/".parse()?).await?;
/// let info = resp.extensions().get::<RequestInfo>().expect("set by the client");
/// if info.retries() > 0 {
///     println!("answered after {} re-sends: {:?}", info.retries(), info.resends());
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInfo {
    pub(crate) reused: bool,
    pub(crate) resends: Vec<Resend>,
}

impl RequestInfo {
    /// Whether the connection that answered (or, in an error, the last one tried) had served
    /// a request before this one: a pooled connection.
    pub fn reused(&self) -> bool {
        self.reused
    }

    /// How many times the request was sent again on another connection: `resends().len()`.
    pub fn retries(&self) -> u32 {
        u32::try_from(self.resends.len()).unwrap_or(u32::MAX)
    }

    /// Every re-send, in order, with why the attempt before failed: as many as the request
    /// was sent again on another connection (at most
    /// [`max_resends`](crate::Builder::max_resends), not counting refusals of unprocessed
    /// requests).
    pub fn resends(&self) -> &[Resend] {
        &self.resends
    }
}
