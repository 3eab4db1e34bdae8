//! The direct path, without hyper-util's pool: `Connector::connect`, then `Conn::handshake`,
//! which hands the connection to hyper's HTTP/1.1 or HTTP/2 codec according to what ALPN chose
//! (or to the `h2` crate itself).
//!
//! ```sh
//! cargo run --example direct                 # against an embedded local HTTPS server
//! cargo run --example direct -- https://host/ # against a URL
//! ```

use std::error::Error;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, StatusCode, Version};
use http_body_util::{BodyExt, Empty};
use keepalive_connector::{Conn, Connector, Trust};

/// A boxed error, enough for an example.
pub type BoxError = Box<dyn Error + Send + Sync>;

/// Sends `GET /` on a fresh connection through hyper's codec matching the negotiated protocol
/// ([`Conn::handshake`]), returning the status, the HTTP version and the body.
pub async fn fetch(conn: Conn) -> Result<(StatusCode, Version, String), BoxError> {
    let uri = format!("https://{}/", conn.info().remote_addr());
    fetch_uri(conn, &uri).await
}

/// Sends `GET uri` (an absolute URI) on a fresh connection, as [`fetch`] does.
pub async fn fetch_uri(conn: Conn, uri: &str) -> Result<(StatusCode, Version, String), BoxError> {
    let (mut sender, driver) = conn.handshake::<Empty<Bytes>>().await?;
    tokio::spawn(driver);
    let resp = sender
        .send_request(Request::get(uri).body(Empty::new())?)
        .await?;
    let (status, version) = (resp.status(), resp.version());
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, version, String::from_utf8_lossy(&body).into_owned()))
}

/// The same request through the `h2` crate directly: `Conn` is a tokio `AsyncRead` +
/// `AsyncWrite`, which is what `h2::client::handshake` takes.
pub async fn fetch_with_h2_crate(conn: Conn) -> Result<(StatusCode, String), BoxError> {
    if !conn.is_h2() {
        return Err("the server did not negotiate h2".into());
    }
    let authority = conn.info().remote_addr().to_string();
    let (client, connection) = h2::client::handshake(conn).await?;
    tokio::spawn(connection);
    let mut client = client.ready().await?;
    let req = Request::get(format!("https://{authority}/")).body(())?;
    let (response, _stream) = client.send_request(req, true)?;
    let resp = response.await?;
    let status = resp.status();
    let mut body = resp.into_body();
    let mut text = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        body.flow_control().release_capacity(chunk.len())?;
        text.extend_from_slice(&chunk);
    }
    Ok((status, String::from_utf8_lossy(&text).into_owned()))
}

#[allow(dead_code)] // the integration tests include this file for `fetch` only
#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let (connector, url, _server) = match std::env::args().nth(1) {
        Some(url) => (Connector::builder().build()?, url, None),
        None => {
            let server = keepalive_testserver::TestServer::start().await?;
            let connector = Connector::builder()
                .trust(Trust::AddedRootsOnly)
                .add_root_certificates_pem(server.ca_pem().as_bytes())
                .build()?;
            println!("no URL given: using an embedded local HTTPS server");
            (connector, server.url("/"), Some(server))
        }
    };
    for http1 in [false, true] {
        let connector = if http1 {
            Connector::builder()
                .tls_config(Arc::clone(connector.tls_config()))
                .http1_only()
                .build()?
        } else {
            connector.clone()
        };
        let conn = connector.connect(&url.parse()?).await?;
        let info = conn.info().clone();
        let (status, version, body) = fetch(conn).await?;
        println!(
            "{url}: {status} over {version:?} (alpn {:?}), {} bytes; dns {:?} connect {:?} tls {:?}; keepalive {:?}",
            info.tls().and_then(|t| t.alpn()).map(String::from_utf8_lossy),
            body.len(),
            info.timings().dns(),
            info.timings().connect(),
            info.timings().tls(),
            info.keepalive(),
        );
    }
    Ok(())
}
