//! One attempt: connect with the library's [`Connector`], send one request over hyper's
//! HTTP/1.1 or HTTP/2 codec (by ALPN), and return what happened as an [`Attempt`].

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::io;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, USER_AGENT};
use http::{HeaderMap, HeaderValue, Method, Request, Uri, Version};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use keepalive_connector::{
    io_error_kind, Conn, ConnectError, ConnectInfo, Connector, SocketOptionError,
};
use tokio::time::Instant;
use tracing::debug;

use crate::model::{
    Attempt, ConnDetails, FailPhase, Failure, HttpResponse, KeepaliveSeen, PhaseTimes,
};

/// The request every attempt sends.
#[derive(Debug, Clone)]
pub(crate) struct RequestSpec {
    /// The absolute URL.
    pub(crate) uri: Uri,
    /// The method.
    pub(crate) method: Method,
    /// Headers, defaults first, then the user's `-H` (which replace defaults).
    pub(crate) headers: HeaderMap,
    /// Time allowed from sending the request to the end of the body.
    pub(crate) timeout: Duration,
}

impl RequestSpec {
    /// A request with the probe's default headers (`user-agent`, `accept`).
    pub(crate) fn new(uri: Uri, method: Method, timeout: Duration) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("keepalive-probe/", env!("CARGO_PKG_VERSION"))),
        );
        headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
        RequestSpec {
            uri,
            method,
            headers,
            timeout,
        }
    }

    /// The request: the absolute URL with the headers. The library's `SendRequest` turns it
    /// into origin form plus `Host` for HTTP/1.1 and into `:scheme`/`:authority` for HTTP/2.
    fn build(&self) -> Request<Empty<Bytes>> {
        let mut req = Request::new(Empty::new());
        *req.method_mut() = self.method.clone();
        *req.headers_mut() = self.headers.clone();
        *req.uri_mut() = self.uri.clone();
        req
    }
}

/// Connects with `connector` and sends `spec` once.
pub(crate) async fn attempt(connector: &Connector, spec: &RequestSpec) -> Attempt {
    let start = Instant::now();
    let conn = match connector.connect(&spec.uri).await {
        Ok(conn) => conn,
        Err(err) => {
            debug!(error = %err, "connect failed");
            return Attempt {
                conn: None,
                outcome: Err(connect_failure(&err)),
                times: PhaseTimes {
                    total: start.elapsed(),
                    ..PhaseTimes::default()
                },
            };
        }
    };
    let details = details(conn.info());
    let lib = conn.info().timings();
    let mut times = PhaseTimes {
        dns: lib.dns(),
        connect: Some(lib.connect()),
        tls: lib.tls(),
        ttfb: None,
        total: Duration::ZERO,
    };
    let remote = details.remote_addr;
    let outcome = exchange(conn, spec, start, &mut times)
        .await
        .map_err(|err| {
            debug!(error = %err, "request failed");
            Failure {
                phase: FailPhase::Http,
                cause: err.cause(),
                message: err.to_string(),
                timeout: matches!(err, HttpError::Timeout(_)),
                addr: Some(remote),
            }
        });
    times.total = start.elapsed();
    Attempt {
        conn: Some(details),
        outcome,
        times,
    }
}

/// What went wrong after the connection was made.
#[derive(Debug)]
enum HttpError {
    Hyper(hyper::Error),
    Timeout(Duration),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Hyper(e) => match e.source() {
                Some(source) => write!(f, "http exchange failed: {e}: {source}"),
                None => write!(f, "http exchange failed: {e}"),
            },
            HttpError::Timeout(after) => {
                write!(
                    f,
                    "http exchange timed out: no response head within {after:?}"
                )
            }
        }
    }
}

impl HttpError {
    fn cause(&self) -> String {
        match self {
            HttpError::Hyper(e) => io_error_kind(e)
                .and_then(kind_text)
                .map_or_else(|| e.to_string(), str::to_owned),
            HttpError::Timeout(after) => format!("no response within {after:?}"),
        }
    }
}

/// Sends the request and reads the response; fills in `times.ttfb`.
async fn exchange(
    conn: Conn,
    spec: &RequestSpec,
    start: Instant,
    times: &mut PhaseTimes,
) -> Result<HttpResponse, HttpError> {
    let deadline = deadline_after(Instant::now(), spec.timeout);
    let req = spec.build();
    debug!(h2 = conn.is_h2(), method = %req.method(), uri = %req.uri(), "sending request");
    let head = async {
        let (mut sender, driver) = conn.handshake().await?;
        let driver = tokio::spawn(drive(driver));
        sender.send_request(req).await.map(|resp| (resp, driver))
    };
    let (resp, driver) = match tokio::time::timeout_at(deadline, head).await {
        Ok(result) => result.map_err(HttpError::Hyper)?,
        Err(_elapsed) => return Err(HttpError::Timeout(spec.timeout)),
    };
    times.ttfb = Some(start.elapsed());
    let status = resp.status().as_u16();
    let version = version_str(resp.version());
    let headers = header_map(resp.headers());
    let (body_bytes, body_error) = read_body(resp.into_body(), deadline, spec.timeout).await;
    // The connection is not reused: stop driving it, which closes the socket.
    driver.abort();
    Ok(HttpResponse {
        status,
        version,
        headers,
        body_bytes,
        body_error,
    })
}

/// `start + timeout`, or for a timeout too large to add (`--request-timeout
/// 10000000000000000000`) a deadline decades away: no deadline, as the connector treats its own
/// huge timeouts, rather than an overflow panic.
fn deadline_after(start: Instant, timeout: Duration) -> Instant {
    const DECADES: Duration = Duration::from_secs(30 * 365 * 86_400);
    start
        .checked_add(timeout)
        .unwrap_or_else(|| start + DECADES)
}

/// Runs a hyper connection to its end, logging how it ended.
async fn drive<F>(connection: F)
where
    F: std::future::Future<Output = Result<(), hyper::Error>>,
{
    if let Err(err) = connection.await {
        debug!(error = %err, "connection ended with an error");
    }
}

/// Reads and discards the body until its end, an error or the deadline.
async fn read_body(
    mut body: Incoming,
    deadline: Instant,
    timeout: Duration,
) -> (u64, Option<String>) {
    let mut bytes = 0u64;
    loop {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(None) => return (bytes, None),
            Ok(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    bytes += data.len() as u64;
                }
            }
            Ok(Some(Err(err))) => return (bytes, Some(err.to_string())),
            Err(_elapsed) => return (bytes, Some(format!("body not finished within {timeout:?}"))),
        }
    }
}

fn version_str(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/?",
    }
}

fn header_map(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut map = BTreeMap::<String, String>::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        map.entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    map
}

/// Copies what the report needs out of the library's [`ConnectInfo`].
fn details(info: &ConnectInfo) -> ConnDetails {
    ConnDetails {
        remote_addr: info.remote_addr(),
        local_addr: info.local_addr(),
        tls_version: info
            .tls()
            .and_then(|tls| tls.version())
            .map(|v| v.as_str().map_or_else(|| format!("{v:?}"), str::to_owned)),
        alpn: info
            .tls()
            .and_then(|tls| tls.alpn())
            .map(|p| String::from_utf8_lossy(p).into_owned()),
        keepalive: info.keepalive().map(KeepaliveSeen::from),
    }
}

/// Turns the library's typed error into the probe's [`Failure`].
pub(crate) fn connect_failure(err: &ConnectError) -> Failure {
    Failure {
        phase: FailPhase::Connect(err.phase()),
        cause: connect_cause(err),
        message: err.to_string(),
        timeout: err.is_timeout(),
        addr: err.addr(),
    }
}

/// The cause of a connect error in a few words: `connection reset by peer`, `timed out`,
/// `invalid peer certificate: UnknownIssuer`.
fn connect_cause(err: &ConnectError) -> String {
    if err.is_timeout() {
        return "timed out".to_owned();
    }
    // rustls errors reach us wrapped in an io::Error of kind InvalidData: look for them first.
    if let Some(tls) = err.tls_error() {
        return tls.to_string();
    }
    if let Some(text) = io_error_kind(err).and_then(kind_text) {
        return text.to_owned();
    }
    // An option this OS version does not have (TCP_KEEPCNT before Windows 10 1703, Wine): say
    // so, rather than quote an error code without a message.
    if let Some(option) = err
        .source()
        .and_then(|s| s.downcast_ref::<SocketOptionError>())
        .filter(|o| o.is_unsupported())
    {
        return format!("OS lacks {}", option.os_name());
    }
    match err.source() {
        Some(source) => source.to_string(),
        None => err.to_string(),
    }
}

/// Short wording for the I/O errors that explain a failure by themselves.
fn kind_text(kind: io::ErrorKind) -> Option<&'static str> {
    Some(match kind {
        io::ErrorKind::ConnectionReset => "connection reset by peer",
        io::ErrorKind::ConnectionRefused => "connection refused",
        io::ErrorKind::ConnectionAborted => "connection aborted",
        io::ErrorKind::UnexpectedEof => "connection closed by peer",
        io::ErrorKind::BrokenPipe => "broken pipe",
        io::ErrorKind::TimedOut => "timed out",
        io::ErrorKind::HostUnreachable => "host unreachable",
        io::ErrorKind::NetworkUnreachable => "network unreachable",
        io::ErrorKind::AddrNotAvailable => "address not available",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::HOST;

    fn spec(url: &str) -> RequestSpec {
        RequestSpec::new(url.parse().unwrap(), Method::GET, Duration::from_secs(1))
    }

    #[test]
    fn requests_carry_the_absolute_url_and_the_headers() {
        let mut s = spec("https://example.com:8443/a?b=c");
        s.headers.insert(HOST, HeaderValue::from_static("other"));
        let req = s.build();
        assert_eq!(req.uri(), "https://example.com:8443/a?b=c");
        assert_eq!(req.headers()[HOST], "other");
        assert_eq!(req.method(), Method::GET);
    }

    #[test]
    fn a_timeout_too_large_to_add_is_no_deadline() {
        let now = Instant::now();
        let far = deadline_after(now, Duration::MAX);
        assert!(far > now + Duration::from_secs(10 * 365 * 86_400));
        assert_eq!(
            deadline_after(now, Duration::from_secs(3)),
            now + Duration::from_secs(3)
        );
    }

    #[tokio::test]
    async fn refused_connects_name_the_connect_phase() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let connector = Connector::builder().build().unwrap();
        let attempt = attempt(&connector, &spec(&format!("https://{addr}/"))).await;
        let failure = attempt.outcome.unwrap_err();
        assert_eq!(
            failure.phase,
            FailPhase::Connect(keepalive_connector::Phase::Connect)
        );
        assert_eq!(failure.cause, "connection refused");
        assert_eq!(failure.addr, Some(addr));
    }
}
