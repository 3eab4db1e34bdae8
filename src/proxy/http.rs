//! The HTTP `CONNECT` exchange (RFC 9110 §9.3.6), over any stream. Ours rather than
//! hyper-util's `Tunnel`, whose errors cannot be named or matched, which drops the proxy's
//! status and which has no timeout; small enough to read at once, and fuzzed.

use std::net::IpAddr;

use http::{HeaderValue, StatusCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{Failure, ProxyError};

/// The longest response head accepted (hyper-util's `Tunnel` takes 8 KiB; some proxies add
/// long `Via`/diagnostic headers, so a little more room, still bounded).
pub(crate) const MAX_RESPONSE_HEAD: usize = 16 * 1024;
/// The most header lines accepted in the response head.
const MAX_HEADERS: usize = 64;

/// The `CONNECT` request for `host:port` (IPv6 literals bracketed), with the
/// `Proxy-Authorization` header when there are credentials.
pub(crate) fn request(
    host: &str,
    ip: Option<IpAddr>,
    port: u16,
    auth: Option<&HeaderValue>,
) -> Vec<u8> {
    let authority = match ip {
        Some(IpAddr::V6(_)) => format!("[{host}]:{port}"),
        _ => format!("{host}:{port}"),
    };
    let mut req = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n").into_bytes();
    if let Some(auth) = auth {
        req.extend_from_slice(b"Proxy-Authorization: ");
        req.extend_from_slice(auth.as_bytes());
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"\r\n");
    req
}

/// Sends `request` and reads the proxy's answer: `Ok` for a 2xx, after which the stream is a
/// tunnel to the origin.
pub(crate) async fn connect<S>(
    io: &mut S,
    request: &[u8],
    credentials_sent: bool,
) -> Result<(), Failure>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    io.write_all(request).await?;
    io.flush().await?;
    let mut buf = Vec::with_capacity(512);
    loop {
        let room = MAX_RESPONSE_HEAD - buf.len();
        if room == 0 {
            return Err(ProxyError::ResponseTooLong {
                limit: MAX_RESPONSE_HEAD,
            }
            .into());
        }
        // Reads at most what may still belong to the head; a proxy answering CONNECT sends
        // nothing after it until the client speaks, so nothing of the tunnel is read here.
        let n = io.take(room as u64).read_buf(&mut buf).await?;
        if n == 0 {
            return Err(ProxyError::ClosedEarly {
                received: buf.len(),
            }
            .into());
        }
        if let Some(status) = parse_head(&buf, credentials_sent)? {
            return status;
        }
    }
}

/// Parses a complete response head in `buf`: `None` while incomplete; the outcome once
/// complete. Public to the crate for the fuzz replay.
pub(crate) fn parse_head(
    buf: &[u8],
    credentials_sent: bool,
) -> Result<Option<Result<(), Failure>>, Failure> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(ProxyError::TooManyHeaders { limit: MAX_HEADERS }.into())
        }
        Err(_) => return Err(ProxyError::BadResponse.into()),
    };
    let status = response
        .code
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or(ProxyError::BadResponse)?;
    if !status.is_success() {
        return Ok(Some(Err(ProxyError::Refused {
            status,
            credentials_sent,
        }
        .into())));
    }
    if buf.len() > head_len {
        return Ok(Some(Err(ProxyError::UnexpectedData {
            bytes: buf.len() - head_len,
        }
        .into())));
    }
    Ok(Some(Ok(())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(bytes: &[u8]) -> Option<Result<(), String>> {
        match parse_head(bytes, false) {
            Ok(None) => None,
            Ok(Some(Ok(()))) => Some(Ok(())),
            Ok(Some(Err(e))) | Err(e) => Some(Err(format!("{e:?}"))),
        }
    }

    #[test]
    fn a_2xx_opens_the_tunnel() {
        assert_eq!(
            outcome(b"HTTP/1.1 200 Connection established\r\n\r\n"),
            Some(Ok(()))
        );
        assert_eq!(
            outcome(b"HTTP/1.0 200 OK\r\nProxy-agent: tinyproxy/1.11.1\r\n\r\n"),
            Some(Ok(()))
        );
        assert_eq!(outcome(b"HTTP/1.1 200 OK\r\n"), None, "incomplete");
    }

    #[test]
    fn other_statuses_bytes_after_the_head_and_garbage_are_refused() {
        let refused = outcome(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n").unwrap();
        assert!(refused.unwrap_err().contains("407"));
        let extra = outcome(b"HTTP/1.1 200 OK\r\n\r\nhello").unwrap();
        assert!(extra.unwrap_err().contains("UnexpectedData { bytes: 5 }"));
        assert!(outcome(b"SSH-2.0-OpenSSH\r\n\r\n").unwrap().is_err());
        let many: Vec<u8> = (0..100)
            .flat_map(|i| format!("X-{i}: y\r\n").into_bytes())
            .collect();
        let head = [&b"HTTP/1.1 200 OK\r\n"[..], &many, b"\r\n"].concat();
        assert!(outcome(&head)
            .unwrap()
            .unwrap_err()
            .contains("TooManyHeaders"));
    }

    #[test]
    fn the_request_brackets_ipv6_and_carries_credentials() {
        let req = request("::1", Some("::1".parse().unwrap()), 443, None);
        assert_eq!(
            req,
            b"CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n"
        );
        let auth = HeaderValue::from_static("Basic dTpw");
        let req = String::from_utf8(request("example.com", None, 8443, Some(&auth))).unwrap();
        assert!(req.starts_with("CONNECT example.com:8443 HTTP/1.1\r\n"));
        assert!(req.contains("\r\nProxy-Authorization: Basic dTpw\r\n\r\n"));
    }
}
