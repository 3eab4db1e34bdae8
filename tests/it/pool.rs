//! `connector.client()` and stale pooled connections, against servers that kill a reused
//! connection at the worst moment every time (`ScriptedServer`), and real nginx: what is sent
//! again (and only that), what fails as stale and says why, what is never cut.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use keepalive_connector::{
    Builder, Client, ClientError, ConnectInfo, Connector, NotResent, RequestInfo, StaleReason,
    Trust,
};
use keepalive_testserver::nginx::Nginx;
use keepalive_testserver::{external, H2WatchServer, OnPing, ScriptedServer, Step, TestCa};

fn plain() -> Builder {
    Connector::builder()
}

fn client_of(builder: Builder) -> Client {
    builder.build().unwrap().client()
}

fn request(method: Method, url: &str, key: Option<&str>) -> Request<Full<Bytes>> {
    let mut req = Request::builder().method(method).uri(url);
    if let Some(key) = key {
        req = req.header("idempotency-key", key);
    }
    req.body(Full::from("payload")).unwrap()
}

/// Sends `req`, reads the whole body; the `RequestInfo` and the body text.
async fn send(
    client: &Client,
    req: Request<Full<Bytes>>,
) -> Result<(RequestInfo, String), ClientError> {
    let resp = client.request(req).await?;
    let info = resp
        .extensions()
        .get::<RequestInfo>()
        .cloned()
        .expect("RequestInfo");
    assert!(
        resp.extensions().get::<ConnectInfo>().is_some(),
        "ConnectInfo beside it"
    );
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((info, String::from_utf8_lossy(&body).into_owned()))
}

/// Every connection answers its first request and closes (FIN) as its second arrives: the
/// idle-timeout race, every time.
async fn closes_on_second_request() -> ScriptedServer {
    ScriptedServer::start(|_conn, index| match index {
        0 => Step::Answer,
        _ => Step::CloseOnArrival,
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_get_that_dies_on_a_reused_connection_is_sent_again() {
    let server = closes_on_second_request().await;
    let client = client_of(plain());
    let (first, _) = send(&client, request(Method::GET, &server.url("/a"), None))
        .await
        .unwrap();
    assert!(!first.reused());
    let (second, body) = send(&client, request(Method::GET, &server.url("/b"), None))
        .await
        .unwrap();
    assert_eq!(
        body, "connection 1 request 0\n",
        "answered on a fresh connection"
    );
    assert_eq!(second.retries(), 1);
    assert_eq!(second.resends()[0].reason(), StaleReason::Closed);
    assert!(second.resends()[0].was_reused());
    assert!(!second.reused(), "the answer came on the fresh connection");
    let paths: Vec<_> = server
        .requests()
        .into_iter()
        .map(|s| (s.conn, s.path))
        .collect();
    assert_eq!(
        paths,
        [(0, "/a".into()), (0, "/b".into()), (1, "/b".into())]
    );
}

#[tokio::test]
async fn a_reset_is_a_stale_connection_too() {
    let server = ScriptedServer::start(|_conn, index| match index {
        0 => Step::Answer,
        _ => Step::ResetOnArrival,
    })
    .await
    .unwrap();
    let client = client_of(plain());
    send(&client, request(Method::PUT, &server.url("/"), None))
        .await
        .unwrap();
    let (info, _) = send(&client, request(Method::DELETE, &server.url("/"), None))
        .await
        .unwrap();
    assert_eq!(info.retries(), 1);
    assert_eq!(info.resends()[0].reason(), StaleReason::Closed);
}

#[tokio::test]
async fn a_post_without_a_key_is_never_sent_twice_and_fails_as_stale() {
    let server = closes_on_second_request().await;
    let client = client_of(plain());
    send(&client, request(Method::POST, &server.url("/"), None))
        .await
        .unwrap();
    let err = send(&client, request(Method::POST, &server.url("/"), None))
        .await
        .unwrap_err();
    assert!(err.is_stale_connection(), "{err}");
    assert_eq!(err.stale_reason(), Some(StaleReason::Closed));
    assert_eq!(
        err.not_resent_because(),
        Some(&NotResent::Method(Method::POST))
    );
    assert!(
        err.to_string().contains("POST without an Idempotency-Key"),
        "{err}"
    );
    assert!(err.request_info().reused());
    assert_eq!(err.request_info().retries(), 0);
    assert!(!err.is_timeout() && !err.is_connect());
    assert!(
        std::error::Error::source(&err).is_some(),
        "the hyper error is the source"
    );
    let posts = server
        .requests()
        .iter()
        .filter(|s| s.method == "POST")
        .count();
    assert_eq!(
        posts, 2,
        "the stale POST reached the server once, and was not sent again"
    );
}

#[tokio::test]
async fn a_post_with_an_idempotency_key_is_sent_again() {
    let server = closes_on_second_request().await;
    let client = client_of(plain());
    send(&client, request(Method::POST, &server.url("/"), Some("k1")))
        .await
        .unwrap();
    let (info, _) = send(&client, request(Method::POST, &server.url("/"), Some("k2")))
        .await
        .unwrap();
    assert_eq!(info.retries(), 1);
    let keys: Vec<_> = server
        .requests()
        .into_iter()
        .map(|s| s.idempotency_key)
        .collect();
    assert_eq!(
        keys,
        [Some("k1".into()), Some("k2".into()), Some("k2".into())]
    );
    assert!(
        server.requests().iter().all(|s| s.body_len == 7),
        "the body went whole each time"
    );
}

#[tokio::test]
async fn a_request_hyper_cannot_send_is_refused_before_any_connection() {
    let client = client_of(plain());
    for req in [
        request(Method::GET, "/relative", None),
        Request::builder()
            .uri("http://127.0.0.1:1/")
            .version(http::Version::HTTP_3)
            .body(Full::default())
            .unwrap(),
    ] {
        let err = send(&client, req).await.unwrap_err();
        assert!(err.is_invalid_request(), "{err}");
        assert!(!err.is_connect() && !err.is_stale_connection());
        assert_eq!(err.request_info().retries(), 0);
    }
}

#[tokio::test]
async fn a_fresh_connections_failure_is_never_sent_again() {
    let server = ScriptedServer::start(|_, _| Step::CloseOnArrival)
        .await
        .unwrap();
    let client = client_of(plain());
    let err = send(&client, request(Method::GET, &server.url("/"), None))
        .await
        .unwrap_err();
    assert!(!err.is_stale_connection(), "{err}");
    assert!(!err.request_info().reused());
    assert_eq!(err.request_info().retries(), 0);
    assert_eq!(server.connections(), 1, "no second connection");
}

#[tokio::test]
async fn a_partly_received_answer_is_not_sent_again() {
    let server = ScriptedServer::start(|_conn, index| match index {
        0 => Step::Answer,
        _ => Step::PartialHeadThenClose,
    })
    .await
    .unwrap();
    let client = client_of(plain());
    send(&client, request(Method::GET, &server.url("/"), None))
        .await
        .unwrap();
    let err = send(&client, request(Method::GET, &server.url("/"), None))
        .await
        .unwrap_err();
    assert!(
        !err.is_stale_connection(),
        "bytes of the answer arrived: {err}"
    );
    assert_eq!(err.request_info().retries(), 0);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn resends_are_bounded_by_max_resends() {
    // Two pooled connections, both stale at the next request.
    let server = closes_on_second_request().await;
    let client = client_of(plain());
    let (a, b) = tokio::join!(
        send(&client, request(Method::GET, &server.url("/warm"), None)),
        send(&client, request(Method::GET, &server.url("/warm"), None)),
    );
    a.unwrap();
    b.unwrap();
    assert_eq!(server.connections(), 2);
    let err = send(&client, request(Method::GET, &server.url("/x"), None))
        .await
        .unwrap_err();
    assert!(err.is_stale_connection(), "{err}");
    assert_eq!(err.not_resent_because(), Some(&NotResent::Limit(1)));
    assert_eq!(
        err.request_info().retries(),
        1,
        "one re-send, on the other stale connection"
    );

    let server = closes_on_second_request().await;
    let client = client_of(plain().max_resends(2));
    let (a, b) = tokio::join!(
        send(&client, request(Method::GET, &server.url("/warm"), None)),
        send(&client, request(Method::GET, &server.url("/warm"), None)),
    );
    a.unwrap();
    b.unwrap();
    let (info, _) = send(&client, request(Method::GET, &server.url("/x"), None))
        .await
        .unwrap();
    assert_eq!(info.retries(), 2);

    let server = closes_on_second_request().await;
    let client = client_of(plain().max_resends(0));
    send(&client, request(Method::GET, &server.url("/"), None))
        .await
        .unwrap();
    let err = send(&client, request(Method::GET, &server.url("/"), None))
        .await
        .unwrap_err();
    assert_eq!(err.not_resent_because(), Some(&NotResent::Limit(0)));
    assert!(err.to_string().contains("re-sending is off"), "{err}");
}

#[tokio::test]
async fn a_streamed_body_longer_than_the_buffer_is_not_sent_again() {
    let server = closes_on_second_request().await;
    let client = client_of(plain().resend_buffer_size(4));
    send(&client, request(Method::PUT, &server.url("/"), None))
        .await
        .unwrap();
    // 7 bytes ("payload"), 4 kept at most: once sent, it cannot be sent whole again.
    let err = send(&client, request(Method::PUT, &server.url("/"), None))
        .await
        .unwrap_err();
    assert!(err.is_stale_connection(), "{err}");
    assert_eq!(err.not_resent_because(), Some(&NotResent::Body));
}

#[tokio::test]
async fn a_slow_answer_on_a_reused_connection_is_neither_cut_nor_sent_again() {
    let server = ScriptedServer::start(|_conn, index| match index {
        0 => Step::Answer,
        _ => Step::AnswerAfter(Duration::from_secs(3)),
    })
    .await
    .unwrap();
    let client = client_of(plain());
    send(&client, request(Method::GET, &server.url("/"), None))
        .await
        .unwrap();
    // More than a second of quiet: the silent-drop guard (Linux) is armed for the next request,
    // which the server acknowledges at once and answers 3 s later.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let started = Instant::now();
    let (info, body) = send(&client, request(Method::POST, &server.url("/"), None))
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_secs(3));
    assert_eq!(body, "connection 0 request 1\n");
    assert!(info.reused());
    assert_eq!(info.retries(), 0);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn the_read_timeout_bounds_the_wait_for_the_head() {
    let server = ScriptedServer::start(|_, _| Step::Stall).await.unwrap();
    let client = client_of(plain().read_timeout(Duration::from_millis(300)));
    let started = Instant::now();
    let err = send(&client, request(Method::GET, &server.url("/"), None))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(!err.is_stale_connection());
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(err.to_string().contains("read timeout (300ms)"), "{err}");
    assert_eq!(server.requests().len(), 1, "not sent again");
}

#[tokio::test]
async fn an_idle_connection_retires_after_the_pool_idle_timeout() {
    let server = ScriptedServer::start(|_, _| Step::Answer).await.unwrap();
    let client = client_of(plain().pool_idle_timeout(Duration::from_millis(400)));
    send(&client, request(Method::GET, &server.url("/"), None))
        .await
        .unwrap();
    let (info, _) = send(&client, request(Method::GET, &server.url("/"), None))
        .await
        .unwrap();
    assert!(info.reused(), "within the idle timeout");
    #[cfg(target_os = "linux")]
    assert_eq!(crate::support::tcp_sockets_to(server.addr(), "01"), 1);
    tokio::time::sleep(Duration::from_millis(900)).await;
    // The kernel's view (Linux): the idle connection closed itself.
    #[cfg(target_os = "linux")]
    assert_eq!(crate::support::tcp_sockets_to(server.addr(), "01"), 0);
    let (info, _) = send(&client, request(Method::GET, &server.url("/"), None))
        .await
        .unwrap();
    assert!(!info.reused());
    assert_eq!(
        info.retries(),
        0,
        "nothing failed: the retired connection was not used"
    );
    assert_eq!(server.connections(), 2);
}

/// nginx `keepalive_timeout 3s 3;` announces `Keep-Alive: timeout=3` and closes idle
/// connections after 3 s: ours stops reusing one 1 s before, so a request never meets the
/// close.
#[tokio::test]
async fn the_servers_keep_alive_timeout_is_honoured() {
    let ca = TestCa::new();
    let Some(nginx) = external::require(
        Nginx::builder().directive("keepalive_timeout 3s 3").start(),
        "pool::the_servers_keep_alive_timeout_is_honoured",
    ) else {
        return;
    };
    let client = connector_for(&ca).client();
    let get = || async {
        let resp = client.get(nginx.url("/").parse().unwrap()).await.unwrap();
        assert_eq!(resp.headers()["keep-alive"], "timeout=3");
        let info = resp.extensions().get::<RequestInfo>().cloned().unwrap();
        resp.into_body().collect().await.unwrap();
        info
    };
    assert!(!get().await.reused());
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert!(get().await.reused(), "1 s idle of 3: reused");
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    let info = get().await;
    assert!(
        !info.reused(),
        "2.3 s idle of 3: within the 1 s margin, not reused"
    );
    assert_eq!(info.retries(), 0);
}

/// nginx closing idle connections after 200 ms, requests arriving around that moment: not one
/// replayable request fails (hyper-util's pooled client loses a few per hundred here:
/// `benches/pool.rs`).
#[tokio::test]
async fn the_idle_close_race_loses_no_replayable_request() {
    let ca = TestCa::new();
    let Some(nginx) = external::require(
        Nginx::builder()
            .directive("keepalive_timeout 200ms")
            .start(),
        "pool::the_idle_close_race_loses_no_replayable_request",
    ) else {
        return;
    };
    let client = connector_for(&ca).client();
    let mut resent = 0;
    for i in 0..60u32 {
        tokio::time::sleep(Duration::from_millis(190 + u64::from(i % 20))).await;
        let req = if i % 2 == 0 {
            request(Method::GET, &nginx.url("/"), None)
        } else {
            request(Method::POST, &nginx.url("/"), Some(&i.to_string()))
        };
        let (info, body) = send(&client, req)
            .await
            .unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!(body, "hello\n");
        resent += info.retries();
    }
    println!("200 ms idle-close race: 60 requests, 0 failed, {resent} sent again");
}

/// HTTP/2 nginx sending GOAWAY after 5 requests per connection, 60 POSTs at once, three times: the streams
/// above each GOAWAY's last stream id were never processed and are sent again, whatever
/// their method.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_goaway_refusals_are_sent_again_for_any_method() {
    let ca = TestCa::new();
    let Some(nginx) = external::require(
        Nginx::builder()
            .tls(&ca)
            .http2()
            .directive("keepalive_requests 5")
            .start(),
        "pool::http2_goaway_refusals_are_sent_again_for_any_method",
    ) else {
        return;
    };
    let client = connector_for(&ca).client();
    let warm = send(&client, request(Method::GET, &nginx.url("/"), None))
        .await
        .unwrap();
    assert_eq!(warm.1, "hello\n");
    // Rounds on two threads, as a server's clients run: the re-sent requests then also meet
    // the new connections' own GOAWAYs and closes, before they were written.
    let (mut ok, mut resends, mut goaway, mut most) = (0, 0, 0, 0);
    for _ in 0..3 {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..60 {
            let (client, url) = (client.clone(), nginx.url("/"));
            tasks.spawn(async move { send(&client, request(Method::POST, &url, None)).await });
        }
        while let Some(joined) = tasks.join_next().await {
            let (info, _) = joined
                .unwrap()
                .unwrap_or_else(|e| panic!("a POST failed: {e}"));
            ok += 1;
            resends += info.retries();
            most = most.max(info.retries());
            goaway += info
                .resends()
                .iter()
                .filter(|r| r.reason() == StaleReason::GoAway)
                .count();
        }
    }
    assert_eq!(ok, 180);
    assert!(goaway > 0, "nginx refused streams with GOAWAY");
    println!(
        "GOAWAY burst: 180 of 180 POSTs answered, {resends} re-sends ({goaway} after GOAWAY), \
         at most {most} for one"
    );
}

/// An HTTP/2 server refusing a connection's first stream (`REFUSED_STREAM`): the request was
/// never processed and goes again, POST without a key included.
#[tokio::test]
async fn a_refused_stream_is_sent_again_whatever_its_method() {
    let ca = TestCa::new();
    let server = H2WatchServer::start_refusing(&ca, OnPing::Answer, 1)
        .await
        .unwrap();
    let client = connector_for(&ca).client();
    let url = format!("https://127.0.0.1:{}/", server.addr().port());
    let (info, body) = send(&client, request(Method::POST, &url, None))
        .await
        .unwrap();
    assert_eq!(body, "hello");
    assert_eq!(info.retries(), 1);
    assert_eq!(info.resends()[0].reason(), StaleReason::Refused);
    assert!(
        !info.resends()[0].was_reused(),
        "refused on a fresh connection"
    );
    assert_eq!((server.refused(), server.requests()), (1, 1));
}

fn connector_for(ca: &TestCa) -> Connector {
    Connector::builder()
        .trust(Trust::AddedRootsOnly)
        .add_root_certificates_pem(ca.cert_pem().as_bytes())
        .build()
        .unwrap()
}
