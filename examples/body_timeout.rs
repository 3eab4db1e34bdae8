//! HTTP/1.1 has no PING. Through a proxy, TCP keepalive watches only the hop to the proxy, so
//! when the origin dies behind a quiet HTTP/1.1 response nothing notices it — except a read
//! timeout. This example reads a response that goes quiet after its first chunk (the embedded
//! test server's `/stream`) through a [`Client`](keepalive_connector::Client) with
//! `read_timeout`: the next read fails once the server has been silent that long.
//!
//! ```sh
//! cargo run --example body_timeout            # against an embedded local HTTPS server
//! ```
//!
//! Pick the timeout from your protocol: the longest gap the server is allowed between chunks
//! (an LLM token stream: a few tens of seconds), not the whole response's duration.

use std::time::{Duration, Instant};

use keepalive_connector::{Connector, Trust};

/// The longest silence tolerated between two body chunks (and before the response head).
const READ_TIMEOUT: Duration = Duration::from_secs(2);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let server = keepalive_testserver::TestServer::start().await?;
    let connector = Connector::builder()
        .trust(Trust::AddedRootsOnly)
        .add_root_certificates_pem(server.ca_pem().as_bytes())
        .http1_only()
        .read_timeout(READ_TIMEOUT)
        .build()?;
    let client = connector.client();
    let resp = client.get(server.url("/stream").parse()?).await?;
    println!("{} over {:?}", resp.status(), resp.version());
    let mut body = resp.into_body();
    let mut last = Instant::now();
    loop {
        match body.chunk().await {
            Ok(Some(data)) => {
                println!("{} bytes after {:?}", data.len(), last.elapsed());
                last = Instant::now();
            }
            Ok(None) => break,
            Err(e) if e.is_timeout() => {
                // Dropping the body closes the connection.
                println!("{e}: the peer is gone or stuck; giving up on this response");
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        }
    }
    println!("end of body");
    Ok(())
}
