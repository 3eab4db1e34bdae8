//! What a newcomer's first program does, with nothing but this crate and tokio: POST a JSON
//! body ([`RequestBody`]), stream the answer chunk by chunk ([`ResponseBody::chunk`]), print
//! the connection's facts in one line (`ConnectInfo`'s `Display`), and name the phase that
//! failed ([`ClientError::connect_error`], [`io_error_kind`]). `examples/stream.rs` is that
//! program.

use std::io;
use std::time::Duration;

use keepalive_connector::http::{Request, StatusCode};
use keepalive_connector::{io_error_kind, ConnectInfo, Connector, Phase, RequestBody};
use keepalive_testserver::TestServer;

use crate::support::builder_for;

const PROMPT: &str =
    r#"{"model":"test","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;

#[tokio::test]
async fn a_json_post_streams_its_answer_chunk_by_chunk() {
    let server = TestServer::start().await.unwrap();
    let client = builder_for(&server)
        .read_timeout(Duration::from_secs(5))
        .build()
        .unwrap()
        .client();
    let req = Request::post(server.url_by_name("/chat"))
        .header("content-type", "application/json")
        .body(RequestBody::from(PROMPT))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let facts = resp.extensions().get::<ConnectInfo>().unwrap().to_string();
    let port = server.addr().port();
    assert!(
        facts.starts_with(&format!(
            "remote=127.0.0.1:{port} route=direct alpn=h2 tls_version=TLSv1.3 dns="
        )),
        "{facts}"
    );
    // The count reads `?` where the OS keeps its own (Windows before 10 1703, Wine).
    assert!(facts.contains(" keepalive=30s/10s/"), "{facts}");

    let mut body = resp.into_body();
    let mut chunks = Vec::new();
    while let Some(chunk) = body.chunk().await.unwrap() {
        chunks.push(String::from_utf8(chunk.to_vec()).unwrap());
    }
    // Eight events 20 ms apart: they arrive as they are sent, not as one body at the end.
    assert!(chunks.len() >= 4, "{chunks:?}");
    let text = chunks.concat();
    assert!(
        text.starts_with(&format!("data: {{\"received\":{}}}\n\n", PROMPT.len())),
        "{text}"
    );
    assert!(text.contains("data: {\"token\":\"alive\"}\n\n"), "{text}");
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
}

#[tokio::test]
async fn a_failed_connect_names_its_phase() {
    let client = Connector::builder().build().unwrap().client();
    // Nothing listens on port 1.
    let err = client
        .get("https://127.0.0.1:1/".parse().unwrap())
        .await
        .unwrap_err();
    let cause = err.connect_error().expect("connecting failed");
    assert_eq!(cause.phase(), Phase::Connect);
    assert_eq!(io_error_kind(&err), Some(io::ErrorKind::ConnectionRefused));
    assert_eq!(io_error_kind(cause), Some(io::ErrorKind::ConnectionRefused));
}

#[tokio::test]
async fn a_quiet_answer_fails_its_next_chunk_after_the_read_timeout() {
    let server = TestServer::start().await.unwrap();
    let client = builder_for(&server)
        .read_timeout(Duration::from_millis(300))
        .build()
        .unwrap()
        .client();
    let resp = client
        .get(server.url("/stream").parse().unwrap())
        .await
        .unwrap();
    let mut body = resp.into_body();
    let first = body.chunk().await.unwrap().expect("the one chunk it sends");
    assert_eq!(&first[..], b"first chunk\n");
    let err = body.chunk().await.unwrap_err();
    assert!(err.is_timeout() && err.is_body(), "{err}");
}
