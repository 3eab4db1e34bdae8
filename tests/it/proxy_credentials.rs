//! Credentials on the way to a proxy: where a proxy URL's user info ends (the last `@`), how it
//! is decoded (strictly, to bytes), that it never shows, and what a forwarding proxy is sent
//! (`Proxy-Authorization` on every request, no user info of the origin's URL). Against real
//! tinyproxy and microsocks, and the test server's proxy where they cannot be configured so.

use keepalive_connector::{
    ConfigErrorReason, ConfigField, Connector, InvalidProxy, Phase, Proxy, Route,
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
