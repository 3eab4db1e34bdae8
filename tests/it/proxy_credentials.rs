//! Credentials on the way to a proxy: where a proxy URL's user info ends (the last `@`), how it
//! is decoded (strictly, to bytes), that it never shows, and what a forwarding proxy is sent
//! (`Proxy-Authorization` on every request, no user info of the origin's URL). Against real
//! tinyproxy and microsocks, and the test server's proxy where they cannot be configured so.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use keepalive_connector::{
    ConfigErrorReason, ConfigField, ConnectInfo, Connector, InvalidProxy, Phase, Proxy, Route,
    StaticResolver,
};
use keepalive_testserver::external::{require, Microsocks, Tinyproxy};
use keepalive_testserver::{ConnectProxy, TestServer};

use crate::support::{body_text, builder_for, client};

/// GETs `url` through `connector` with hyper-util's Client: the status, and whether the
/// connection went through a proxy with credentials.
async fn get_ok(connector: Connector, url: &str) {
    let resp = client(connector).get(url.parse().unwrap()).await.unwrap();
    assert_eq!(resp.status(), 200, "{url}");
    assert_eq!(body_text(resp).await, "hello from keepalive-testserver\n");
}

/// Everything of a connector and its rules a person or a log might see.
async fn everything_shown(proxy: &Proxy) -> String {
    let mut shown = format!("{proxy:?} {:?}", Connector::builder().proxy(proxy.clone()));
    match Connector::builder().proxy(proxy.clone()).build() {
        Err(err) => shown += &format!(" {err} {err:?} {}", err.value()),
        Ok(connector) => {
            let route = connector
                .route(&"https://x.test/".parse().unwrap())
                .unwrap();
            // Nothing listens on port 1: the connect fails, naming the proxy.
            let err = connector
                .connect(&"https://127.0.0.1:1/".parse().unwrap())
                .await
                .unwrap_err();
            shown += &format!(" {connector:?} {route:?} {err} {err:?}");
        }
    }
    shown
}

/// Item 2 of issue 19: `HTTPS_PROXY='http://bob:s3cr#t@proxy:3128'` printed `s3cr` (the `http`
/// crate ends the authority at `#`, and what followed the `:` was echoed as a bad port). With
/// each character a URL treats specially, unencoded, and with bytes that are not UTF-8.
#[tokio::test]
async fn passwords_with_url_delimiters_never_show() {
    for c in ["#", "/", "?", "@", ":", "%", "%E9", "%zz"] {
        for scheme in ["http", "https", "socks5", "socks5h", "SOCKS5"] {
            let url = format!("{scheme}://bob:s3cr{c}et@127.0.0.1:1");
            let shown = everything_shown(&Proxy::all(&url)).await;
            assert!(!shown.contains("s3cr"), "{url}: {shown}");
            // Without a scheme (http, as curl takes it), and as a variable would have it.
            let url = format!("bob:s3cr{c}et@127.0.0.1:1");
            let shown = everything_shown(&Proxy::https(&url)).await;
            assert!(!shown.contains("s3cr"), "{url}: {shown}");
        }
    }
    // A value whose host does not parse is shown only by its length.
    let url = "http://bob:s3cr#et@pro xy:3128";
    let err = Connector::builder()
        .proxy(Proxy::all(url))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), ConfigField::Proxy);
    assert!(!format!("{err} {err:?}").contains("s3cr"), "{err}");
    let length = format!("<{} characters, not shown>", url.len());
    assert!(err.value().contains(&length), "{err}");
    // Parsed in full, the value is shown as scheme://***@host:port.
    let err = Connector::builder()
        .proxy(Proxy::all("socks4://bob:s3cr#et@proxy.test"))
        .build()
        .unwrap_err();
    assert!(err.value().contains("socks4://***@proxy.test"), "{err}");
}

/// Item 2 of issue 19, for an origin's URL: its user info is not the connector's to print, and
/// an authority cut short by a `#`, `/` or `?` in the password is not printed at all.
#[tokio::test]
async fn an_origin_urls_password_never_shows() {
    let connector = Connector::builder().proxy(Proxy::none()).build().unwrap();
    for url in [
        "https://bob:s3cr#et@h:443/",
        "https://bob:s3cr/et@h:443/",
        "https://bob:s3cr?et@h:443/",
        "https://bob:s3cret@h:99999/",
    ] {
        let uri: http::Uri = url.parse().unwrap();
        let err = connector.connect(&uri).await.unwrap_err();
        assert_eq!(err.phase(), Phase::Uri, "{url}");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("s3cr"), "{url}: {shown}");
    }
}

/// Item 9 of issue 19: `http://john@corp.com:secret@proxy:8080` sent `john:` as credentials
/// (hyper-util splits the credentials at the first `@`, the host at the last). One split now:
/// the user info is everything before the last `@`. microsocks takes any user name.
#[tokio::test]
async fn the_user_info_ends_at_the_last_at_sign() {
    let Some(socks) = require(
        Microsocks::start(Some(("john@corp.com", "se:cr@t"))),
        "microsocks -u john@corp.com",
    ) else {
        return;
    };
    let server = TestServer::start().await.unwrap();
    for url in [
        format!("socks5h://john@corp.com:se:cr@t@{}", socks.addr()),
        format!("socks5://john%40corp.com:se%3Acr%40t@{}", socks.addr()),
    ] {
        let connector = builder_for(&server)
            .proxy(Proxy::all(&url))
            .build()
            .unwrap();
        get_ok(connector, &server.url_by_name("/")).await;
    }
    // The same for Basic credentials (tinyproxy's configuration cannot hold an `@`).
    let proxy = ConnectProxy::builder()
        .basic_auth("john@corp.com", "se:cr@t")
        .start()
        .await
        .unwrap();
    let url = format!("http://john@corp.com:se:cr@t@{}", proxy.addr());
    let connector = builder_for(&server)
        .proxy(Proxy::all(&url))
        .build()
        .unwrap();
    get_ok(connector, &server.url("/")).await;
    assert_eq!(proxy.requests().len(), 1);
}

/// Item 9 of issue 19: `SOCKS5://u:p@h:1080` lost its credentials (hyper-util's matcher knows
/// the lower-case schemes only). A scheme is case-insensitive (RFC 3986 §3.1).
#[tokio::test]
async fn an_upper_case_scheme_keeps_its_credentials() {
    let Some(socks) = require(
        Microsocks::start(Some(("bob", "s3cret"))),
        "microsocks -u -P",
    ) else {
        return;
    };
    let Some(tinyproxy) = require(
        Tinyproxy::start(Some(("alice", "p.ss-1"))),
        "tinyproxy BasicAuth",
    ) else {
        return;
    };
    let server = TestServer::start().await.unwrap();
    for url in [
        format!("SOCKS5://bob:s3cret@{}", socks.addr()),
        format!("Socks5H://bob:s3cret@{}", socks.addr()),
        format!("HTTP://alice:p.ss-1@{}", tinyproxy.addr()),
    ] {
        let connector = builder_for(&server)
            .proxy(Proxy::all(&url))
            .build()
            .unwrap();
        let route = connector.route(&server.url("/").parse().unwrap()).unwrap();
        match route {
            Route::Proxy(p) => assert!(p.has_credentials(), "{url}"),
            other => panic!("{url}: {other:?}"),
        }
        get_ok(connector, &server.url_by_name("/")).await;
    }
}

/// Item 9 of issue 19: `%E9` in a password became U+FFFD (hyper-util decodes to text, lossily).
/// The bytes are kept: Basic credentials carry any bytes; SOCKS5 ones must be UTF-8 here
/// (tokio-socks takes text), and bytes that are not are refused at `build()`, not replaced.
/// A `%` not followed by two hex digits is refused too, rather than sent as written.
#[tokio::test]
async fn percent_decoding_is_strict_and_keeps_the_bytes() {
    let server = TestServer::start().await.unwrap();
    let proxy = ConnectProxy::builder()
        .basic_auth_bytes(b"u", b"caf\xe9")
        .start()
        .await
        .unwrap();
    let url = format!("http://u:caf%E9@{}", proxy.addr());
    let connector = builder_for(&server)
        .proxy(Proxy::all(&url))
        .build()
        .unwrap();
    get_ok(connector, &server.url("/")).await;

    let Some(socks) = require(Microsocks::start(Some(("u", "café"))), "microsocks -P café")
    else {
        return;
    };
    let url = format!("socks5h://u:caf%C3%A9@{}", socks.addr());
    let connector = builder_for(&server)
        .proxy(Proxy::all(&url))
        .build()
        .unwrap();
    get_ok(connector, &server.url_by_name("/")).await;

    for (url, want) in [
        (
            "socks5h://u:caf%E9@127.0.0.1:1080",
            InvalidProxy::SocksCredentialsNotUtf8,
        ),
        (
            "http://u:caf%zz@127.0.0.1:3128",
            InvalidProxy::CredentialsEncoding,
        ),
        (
            "http://u:caf%E@127.0.0.1:3128",
            InvalidProxy::CredentialsEncoding,
        ),
    ] {
        let err = Connector::builder()
            .proxy(Proxy::all(url))
            .build()
            .unwrap_err();
        assert_eq!(
            err.reason(),
            &ConfigErrorReason::InvalidProxy(want),
            "{url}"
        );
        assert!(!format!("{err} {err:?}").contains("caf"), "{err}");
    }
}

/// A client with a body type for uploads; with hyper-util's pool (connections reused) or
/// without. tinyproxy needs it without: it closes a client connection after one forwarded
/// request without saying so (no `Connection: close`), and a pooled client's next request then
/// races that close (and fails with `IncompleteMessage` when it loses).
fn uploading(connector: Connector, pool: bool) -> Client<Connector, Full<Bytes>> {
    let mut builder = Client::builder(TokioExecutor::new());
    if !pool {
        builder.pool_max_idle_per_host(0);
    }
    builder.build(connector)
}

/// GET `/`, POST 5 bytes to `/echo` (Content-Length), GET `/` again, through `client`.
async fn get_post_get(client: &Client<Connector, Full<Bytes>>, base: &str) {
    for (method, path, body, want) in [
        ("GET", "/", "", "hello from keepalive-testserver\n"),
        ("POST", "/echo", "hello", "5\n"),
        ("GET", "/", "", "hello from keepalive-testserver\n"),
    ] {
        let req = http::Request::builder()
            .method(method)
            .uri(format!("{base}{path}"))
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let resp = client.request(req).await.unwrap();
        assert_eq!(resp.status(), 200, "{method} {base}{path}");
        assert!(resp
            .extensions()
            .get::<ConnectInfo>()
            .unwrap()
            .proxy()
            .is_some());
        assert_eq!(body_text(resp).await, want, "{method} {path}");
    }
}

/// Item 14 of issue 19: an `http://` origin behind a proxy with credentials was tunnelled with
/// `CONNECT` to port 80 (or the origin's port), which Squid's default configuration refuses,
/// as tinyproxy does with `ConnectPort`. It is forwarded in absolute form now, with
/// `Proxy-Authorization` on every request, as curl and reqwest do: through real tinyproxy with
/// `BasicAuth` and `ConnectPort 443` only, with hyper-util's Client and with `Conn::handshake`.
#[tokio::test]
async fn http_origins_behind_a_proxy_with_credentials_are_forwarded() {
    let Some(tinyproxy) = require(
        Tinyproxy::start_with(Some(("alice", "p.ss-1")), &[443]),
        "tinyproxy BasicAuth, ConnectPort 443",
    ) else {
        return;
    };
    let server = TestServer::builder().plain().start().await.unwrap();
    let proxy = format!("http://alice:p.ss-1@{}", tinyproxy.addr());
    let connector = builder_for(&server)
        .proxy(Proxy::http(&proxy))
        .build()
        .unwrap();
    let base = server.url("");
    let base = base.trim_end_matches('/');
    get_post_get(&uploading(connector.clone(), false), base).await;

    let conn = connector
        .connect(&server.url("/").parse().unwrap())
        .await
        .unwrap();
    assert!(conn.is_forwarded());
    let (status, _, _) = crate::direct::fetch_uri(conn, &server.url("/x"))
        .await
        .unwrap();
    assert_eq!(status, 200);

    let log = tinyproxy.requests();
    assert!(!log.iter().any(|r| r.starts_with("CONNECT")), "{log:?}");
    for want in [
        format!("GET {base}/ HTTP/1.1"),
        format!("POST {base}/echo HTTP/1.1"),
        format!("GET {base}/x HTTP/1.1"),
    ] {
        assert!(log.contains(&want), "{want}: {log:?}");
    }
    // Wrong credentials: the proxy's refusal is the response (a forwarding proxy answers the
    // request itself; tinyproxy answers 401 to wrong credentials).
    let wrong = builder_for(&server)
        .proxy(Proxy::http(&format!(
            "http://alice:nope@{}",
            tinyproxy.addr()
        )))
        .build()
        .unwrap();
    let resp = client(wrong)
        .get(server.url("/").parse().unwrap())
        .await
        .unwrap();
    assert!(
        matches!(resp.status().as_u16(), 401 | 407),
        "{}",
        resp.status()
    );
}

/// Item 8 of issue 19: `GET http://user:pw@host/` went to a forwarding proxy as written (RFC
/// 9110 §4.2.4 forbids user info in the target), into its logs. The request line tinyproxy
/// logs has none now, through hyper-util's Client and `Conn::handshake`, with and without
/// proxy credentials.
#[tokio::test]
async fn url_credentials_never_reach_a_forwarding_proxy() {
    for proxy_credentials in [None, Some(("alice", "p.ss-1"))] {
        let Some(tinyproxy) = require(Tinyproxy::start(proxy_credentials), "tinyproxy forwarding")
        else {
            return;
        };
        let server = TestServer::builder().plain().start().await.unwrap();
        let proxy = match proxy_credentials {
            Some((user, pass)) => format!("http://{user}:{pass}@{}", tinyproxy.addr()),
            None => tinyproxy.url(),
        };
        let connector = builder_for(&server)
            .proxy(Proxy::http(&proxy))
            .build()
            .unwrap();
        let port = server.addr().port();
        let with_user_info = format!("http://bob:url-s3cret@127.0.0.1:{port}");
        get_post_get(&uploading(connector.clone(), false), &with_user_info).await;
        let conn = connector
            .connect(&with_user_info.parse().unwrap())
            .await
            .unwrap();
        let shown = format!("{conn:?}");
        assert!(!shown.contains("url-s3cret"), "{shown}");
        let (status, _, _) = crate::direct::fetch_uri(conn, &format!("{with_user_info}/x"))
            .await
            .unwrap();
        assert_eq!(status, 200);

        let log = tinyproxy.log();
        assert!(!log.contains("url-s3cret"), "{log}");
        let requests = tinyproxy.requests();
        let want = format!("GET http://127.0.0.1:{port}/x HTTP/1.1");
        assert!(requests.contains(&want), "{want}: {requests:?}");
    }
}

/// Items 8 and 14 of issue 19 through an `https://` proxy (the test server's, which records
/// the head it forwards): TLS to the proxy, then the request in absolute form with the
/// proxy's credentials and without the URL's.
#[tokio::test]
async fn an_https_proxy_forwards_with_credentials_and_without_the_urls() {
    let server = TestServer::builder().plain().start().await.unwrap();
    let tls_ca = TestServer::start().await.unwrap();
    let proxy = ConnectProxy::builder()
        .tls(Arc::clone(tls_ca.ca()))
        .basic_auth("u", "p")
        .start()
        .await
        .unwrap();
    let resolver = StaticResolver::new()
        .add(
            "localhost",
            proxy.addr().port(),
            ["127.0.0.1".parse().unwrap()],
        )
        .no_fallback();
    let connector = builder_for(&tls_ca)
        .dns_resolver(resolver)
        .proxy(Proxy::http(&format!(
            "https://u:p@localhost:{}",
            proxy.addr().port()
        )))
        .build()
        .unwrap();
    let port = server.addr().port();
    // One pooled connection: the proxy records the first head and relays the rest, so the
    // later requests show that each head and body went out whole.
    let base = format!("http://bob:url-s3cret@127.0.0.1:{port}");
    get_post_get(&uploading(connector, true), &base).await;
    let requests = proxy.requests();
    assert_eq!(requests.len(), 1, "one connection: {requests:?}");
    let head = &requests[0];
    assert!(
        head.starts_with(&format!("GET http://127.0.0.1:{port}/ HTTP/1.1\r\n")),
        "{head}"
    );
    assert!(
        head.contains("\r\nProxy-Authorization: Basic dTpw\r\n"),
        "{head}"
    );
    assert!(!head.contains("url-s3cret"), "{head}");
}
