//! A first program: a streaming client, as for an LLM API. It POSTs a JSON body, prints the
//! connection's facts in one line, streams the answer chunk by chunk, and names the phase that
//! failed when connecting does. Nothing but keepalive-connector and tokio (the embedded test
//! server is only there so that it runs without a network).
//!
//! ```sh
//! cargo run --example stream                                   # the embedded server's /chat
//! cargo run --example stream -- https://api.example.com/v1/chat  # a URL of yours
//! ```

use std::time::Duration;

use keepalive_connector::http::Request;
use keepalive_connector::{ConnectInfo, Connector, Keepalive, RequestBody, Trust};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut builder = Connector::builder()
        // Probes after 30 s of silence, every 10 s, 3 unanswered: the peer is gone. The same
        // schedule sends HTTP/2 PINGs to the origin, through any proxy.
        .keepalive(Keepalive::new().idle(Duration::from_secs(30)))
        // The longest silence allowed between two chunks of the answer.
        .read_timeout(Duration::from_secs(60));
    // A URL of yours, or the embedded test server's /chat (trusting only its own CA).
    let (url, _server) = match std::env::args().nth(1) {
        Some(url) => (url, None),
        None => {
            let server = keepalive_testserver::TestServer::start().await?;
            builder = builder
                .trust(Trust::AddedRootsOnly)
                .add_root_certificates_pem(server.ca_pem().as_bytes());
            (server.url("/chat"), Some(server))
        }
    };
    let client = builder.build()?.client();

    let prompt = r#"{"model":"any","stream":true,"messages":[{"role":"user","content":"Hi"}]}"#;
    let req = Request::post(url.as_str())
        .header("content-type", "application/json")
        .body(RequestBody::from(prompt))?;
    let resp = match client.request(req).await {
        Ok(resp) => resp,
        Err(e) => {
            match e.connect_error() {
                // dns, connect, proxy, tls…: where it failed, the address, the cause.
                Some(c) => eprintln!("connecting failed in phase {}: {c}", c.phase()),
                None => eprintln!("the request failed: {e}"),
            }
            std::process::exit(1);
        }
    };
    // remote=… route=direct alpn=h2 tls_version=TLSv1.3 dns=… connect=… tls=… keepalive=30s/10s/3
    if let Some(info) = resp.extensions().get::<ConnectInfo>() {
        eprintln!("{} {info}", resp.status());
    }

    let mut body = resp.into_body();
    while let Some(chunk) = body.chunk().await? {
        print!("{}", String::from_utf8_lossy(&chunk));
    }
    Ok(())
}
