//! Proxies: real tinyproxy (HTTP CONNECT and forwarding) and microsocks (SOCKS5), an HTTPS
//! proxy and misbehaving proxies from the test server, stages on the proxy socket, routes,
//! errors, and credentials that never show. The environment's proxy variables are tested in
//! their own binary (`tests/proxy_env.rs`), where they cannot race these tests.

use std::sync::Arc;
use std::time::Duration;

use keepalive_connector::{
    io_error_kind, ConfigErrorReason, ConfigField, ConnectInfo, Connector, InvalidProxy, Keepalive,
    Phase, Proxy, ProxyError, ProxyKind, ProxySource, Route, SocksError, SocksReply, Stage,
    StaticResolver,
};
use keepalive_testserver::external::{require, Microsocks, Tinyproxy};
use keepalive_testserver::{ConnectProxy, ProxyBehavior, TestServer};

use crate::support::{body_text, builder_for, client};

/// A resolver for `localhost` at every port: the proxied names resolve as the test server's.
fn localhost_everywhere(ports: &[u16]) -> StaticResolver {
    ports
        .iter()
        .fold(StaticResolver::new(), |r, &port| {
            r.add("localhost", port, ["127.0.0.1".parse().unwrap()])
        })
        .no_fallback()
}

/// GETs `url` through `connector` with hyper-util's Client, returning the connection's info.
async fn get(connector: Connector, url: &str) -> (http::StatusCode, http::Version, ConnectInfo) {
    let resp = client(connector).get(url.parse().unwrap()).await.unwrap();
    let info = resp.extensions().get::<ConnectInfo>().unwrap().clone();
    let (status, version) = (resp.status(), resp.version());
    assert_eq!(body_text(resp).await, "hello from keepalive-testserver\n");
    (status, version, info)
}

#[tokio::test]
async fn https_through_tinyproxy_over_h2_and_http1() {
    let Some(tinyproxy) = require(Tinyproxy::start(None), "tinyproxy CONNECT") else {
        return;
    };
    let server = TestServer::start().await.unwrap();
    for (http1, want) in [
        (false, http::Version::HTTP_2),
        (true, http::Version::HTTP_11),
    ] {
        let mut builder = builder_for(&server).proxy(Proxy::all(&tinyproxy.url()));
        if http1 {
            builder = builder.http1_only();
        }
        let (status, version, info) = get(builder.build().unwrap(), &server.url("/")).await;
        assert_eq!((status, version), (http::StatusCode::OK, want));
        let proxy = info.proxy().expect("went through the proxy");
        assert_eq!(proxy.kind(), ProxyKind::Http);
        assert_eq!(proxy.source(), ProxySource::Explicit);
        assert_eq!(proxy.url().to_string(), format!("{}/", tinyproxy.url()));
        assert_eq!(
            info.remote_addr(),
            tinyproxy.addr(),
            "the socket goes to the proxy"
        );
        assert!(info.timings().proxy().is_some());
        assert!(
            info.timings().tls().is_some(),
            "TLS with the origin, through the tunnel"
        );
    }
    let connects = tinyproxy.requests();
    let want = format!("CONNECT 127.0.0.1:{} HTTP/1.1", server.addr().port());
    assert_eq!(
        connects.iter().filter(|r| **r == want).count(),
        2,
        "tinyproxy's log: {connects:?}"
    );
}

#[tokio::test]
async fn http_origins_are_forwarded_by_tinyproxy() {
    let Some(tinyproxy) = require(Tinyproxy::start(None), "tinyproxy forwarding") else {
        return;
    };
    let server = TestServer::builder().plain().start().await.unwrap();
    let connector = builder_for(&server)
        .proxy(Proxy::http(&tinyproxy.url()))
        .build()
        .unwrap();
    let (status, version, info) = get(connector.clone(), &server.url("/")).await;
    assert_eq!(
        (status, version),
        (http::StatusCode::OK, http::Version::HTTP_11)
    );
    assert_eq!(info.remote_addr(), tinyproxy.addr());
    let want = format!("GET {} HTTP/1.1", server.url("/"));
    assert!(
        tinyproxy.requests().contains(&want),
        "absolute-form request forwarded: {:?}",
        tinyproxy.requests()
    );

    // The direct codec path keeps the absolute form too.
    let conn = connector
        .connect(&server.url("/").parse().unwrap())
        .await
        .unwrap();
    assert!(conn.is_forwarded());
    let (status, _, _) = crate::direct::fetch_uri(conn, &server.url("/x"))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let want = format!("GET {} HTTP/1.1", server.url("/x"));
    assert!(
        tinyproxy.requests().contains(&want),
        "{:?}",
        tinyproxy.requests()
    );
}

#[tokio::test]
async fn tinyproxy_basic_auth_407_names_the_missing_or_wrong_credentials() {
    let Some(tinyproxy) = require(
        Tinyproxy::start(Some(("alice", "p.ss-1"))),
        "tinyproxy auth",
    ) else {
        return;
    };
    let server = TestServer::start().await.unwrap();
    let port = tinyproxy.addr().port();
    let with = |url: String| {
        builder_for(&server)
            .proxy(Proxy::all(&url))
            .build()
            .unwrap()
    };
    let uri: http::Uri = server.url("/").parse().unwrap();

    let err = with(format!("http://127.0.0.1:{port}"))
        .connect(&uri)
        .await
        .unwrap_err();
    assert_eq!(err.phase(), Phase::Proxy, "{err}");
    assert_eq!(
        err.proxy_status(),
        Some(http::StatusCode::PROXY_AUTHENTICATION_REQUIRED)
    );
    assert_eq!(err.addr(), Some(tinyproxy.addr()));
    assert!(
        err.to_string().contains("no credentials are configured"),
        "{err}"
    );

    // tinyproxy answers wrong credentials with 401 (no credentials: 407).
    let err = with(format!("http://alice:wrong@127.0.0.1:{port}"))
        .connect(&uri)
        .await
        .unwrap_err();
    assert_eq!(err.proxy_status(), Some(http::StatusCode::UNAUTHORIZED));
    assert!(
        err.to_string().contains("credentials sent were refused"),
        "{err}"
    );
    assert!(!format!("{err} {err:?}").contains("wrong"), "{err:?}");

    // Percent-encoded in the URL (`%2E` is `.`), decoded before use.
    let connector = with(format!("http://alice:p%2Ess-1@127.0.0.1:{port}"));
    let (status, _, info) = get(connector, &server.url("/")).await;
    assert_eq!(status, 200);
    assert!(info.proxy().unwrap().has_credentials());
    let shown = format!("{info:?}");
    assert!(
        !shown.contains("p@ss") && !shown.contains("p%40ss"),
        "{shown}"
    );
}

#[tokio::test]
async fn socks5_and_socks5h_through_microsocks() {
    let Some(socks) = require(Microsocks::start(None), "microsocks") else {
        return;
    };
    let Some(authed) = require(
        Microsocks::start(Some(("bob", "s3cret"))),
        "microsocks -u -P",
    ) else {
        return;
    };
    let server = TestServer::start().await.unwrap();
    let by_name = server.url_by_name("/");
    for (proxy, kind) in [
        (format!("socks5://{}", socks.addr()), ProxyKind::Socks5),
        (format!("socks5h://{}", socks.addr()), ProxyKind::Socks5h),
        (
            format!("socks5h://bob:s3cret@{}", authed.addr()),
            ProxyKind::Socks5h,
        ),
        (
            format!("socks5://bob:s3cret@{}", authed.addr()),
            ProxyKind::Socks5,
        ),
    ] {
        for http1 in [false, true] {
            let mut builder = builder_for(&server).proxy(Proxy::all(&proxy));
            if http1 {
                builder = builder.http1_only();
            }
            let (status, version, info) = get(builder.build().unwrap(), &by_name).await;
            assert_eq!(status, 200, "{proxy}");
            let want = if http1 {
                http::Version::HTTP_11
            } else {
                http::Version::HTTP_2
            };
            assert_eq!(version, want, "{proxy}");
            assert_eq!(info.proxy().unwrap().kind(), kind);
            assert!(info.timings().proxy().is_some());
            assert_eq!(
                info.timings().dns(),
                None,
                "the proxy's address is an IP literal"
            );
        }
    }

    let uri: http::Uri = by_name.parse().unwrap();
    let refused = |proxy: String| {
        let connector = builder_for(&server)
            .proxy(Proxy::all(&proxy))
            .build()
            .unwrap();
        let uri = uri.clone();
        async move { connector.connect(&uri).await.unwrap_err() }
    };
    let err = refused(format!("socks5h://bob:nope@{}", authed.addr())).await;
    assert_eq!(err.phase(), Phase::Proxy);
    assert!(
        matches!(
            err.proxy_error(),
            Some(ProxyError::Socks(SocksError::AuthFailed { .. }))
        ),
        "{err:?}"
    );
    let err = refused(format!("socks5h://{}", authed.addr())).await;
    assert_eq!(
        err.proxy_error(),
        Some(&ProxyError::Socks(SocksError::NoAcceptableAuthMethods)),
        "{err}"
    );
    // microsocks answers "connection refused" for a closed port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let connector = builder_for(&server)
        .proxy(Proxy::all(&format!("socks5h://{}", socks.addr())))
        .build()
        .unwrap();
    let err = connector
        .connect(&format!("https://127.0.0.1:{closed_port}/").parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        err.proxy_error(),
        Some(&ProxyError::Socks(SocksError::Reply(
            SocksReply::ConnectionRefused
        ))),
        "{err}"
    );
    assert!(
        err.to_string().contains("connection refused (reply 5)"),
        "{err}"
    );
}

#[tokio::test]
async fn https_proxy_tls_to_the_proxy_then_connect_then_tls_to_the_origin() {
    let server = TestServer::start().await.unwrap();
    let proxy = ConnectProxy::builder()
        .tls(Arc::clone(server.ca()))
        .start()
        .await
        .unwrap();
    let resolver = localhost_everywhere(&[server.addr().port(), proxy.addr().port()]);
    for http1 in [false, true] {
        let mut builder = builder_for(&server)
            .dns_resolver(resolver.clone())
            .proxy(Proxy::all(&proxy.url()));
        if http1 {
            builder = builder.http1_only();
        }
        let (status, version, info) = get(builder.build().unwrap(), &server.url_by_name("/")).await;
        assert_eq!(status, 200);
        let want = if http1 {
            http::Version::HTTP_11
        } else {
            http::Version::HTTP_2
        };
        assert_eq!(version, want);
        assert_eq!(info.proxy().unwrap().kind(), ProxyKind::Https);
        assert_eq!(
            info.tls().and_then(|t| t.alpn()),
            Some(if http1 { &b"http/1.1"[..] } else { &b"h2"[..] })
        );
    }
    let requests = proxy.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests[0].starts_with(&format!(
        "CONNECT localhost:{} HTTP/1.1\r\n",
        server.addr().port()
    )));

    // The proxy's certificate is verified like any server's: one from another CA fails.
    let stranger = ConnectProxy::builder()
        .tls(Arc::new(keepalive_testserver::TestCa::new()))
        .start()
        .await
        .unwrap();
    let connector = builder_for(&server)
        .dns_resolver(localhost_everywhere(&[
            server.addr().port(),
            stranger.addr().port(),
        ]))
        .proxy(Proxy::all(&stranger.url()))
        .build()
        .unwrap();
    let err = connector
        .connect(&server.url_by_name("/").parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.phase(), Phase::Proxy, "{err}");
    assert!(err.tls_error().is_some(), "{err:?}");
}

/// What a case expects of the error.
type Check = Box<dyn Fn(&keepalive_connector::ConnectError) -> bool>;

#[tokio::test]
async fn misbehaving_proxies_fail_in_the_proxy_phase_with_a_typed_cause() {
    let server = TestServer::start().await.unwrap();
    let cases: Vec<(ProxyBehavior, Check)> = vec![
        (
            ProxyBehavior::Status(407),
            Box::new(|e| e.proxy_status() == Some(http::StatusCode::PROXY_AUTHENTICATION_REQUIRED)),
        ),
        (
            ProxyBehavior::Status(403),
            Box::new(|e| e.proxy_status() == Some(http::StatusCode::FORBIDDEN)),
        ),
        (
            ProxyBehavior::Status(502),
            Box::new(|e| e.proxy_status() == Some(http::StatusCode::BAD_GATEWAY)),
        ),
        (
            ProxyBehavior::Garbage,
            Box::new(|e| e.proxy_error() == Some(&ProxyError::BadResponse)),
        ),
        (
            ProxyBehavior::Stall,
            Box::new(|e| e.is_timeout() && e.timeout() == Some(Duration::from_millis(400))),
        ),
        (
            ProxyBehavior::CloseMidResponse,
            Box::new(|e| {
                matches!(
                    e.proxy_error(),
                    Some(ProxyError::ClosedEarly { received: 17 })
                )
            }),
        ),
        (
            ProxyBehavior::LongHead,
            Box::new(|e| matches!(e.proxy_error(), Some(ProxyError::ResponseTooLong { .. }))),
        ),
        (
            ProxyBehavior::ExtraBytes,
            Box::new(|e| matches!(e.proxy_error(), Some(ProxyError::UnexpectedData { .. }))),
        ),
    ];
    for (behavior, check) in cases {
        let proxy = ConnectProxy::builder()
            .behavior(behavior.clone())
            .start()
            .await
            .unwrap();
        let connector = builder_for(&server)
            .connect_timeout(Duration::from_millis(400))
            .proxy(Proxy::all(&proxy.url()))
            .build()
            .unwrap();
        let err = connector
            .connect(&server.url("/").parse().unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.phase(), Phase::Proxy, "{behavior:?}: {err}");
        assert!(check(&err), "{behavior:?}: {err:?}");
        assert_eq!(err.addr(), Some(proxy.addr()), "{behavior:?}");
        assert_eq!(
            err.proxy().map(|p| p.url().to_string()),
            Some(format!("{}/", proxy.url()))
        );
        let text = err.to_string();
        assert!(
            text.starts_with("proxy tunnel to 127.0.0.1 via proxy http://127.0.0.1:"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_proxy_is_named_in_the_connect_error() {
    let server = TestServer::start().await.unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let connector = builder_for(&server)
        .proxy(Proxy::all(&format!("http://{addr}")))
        .build()
        .unwrap();
    let err = connector
        .connect(&server.url("/").parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.phase(), Phase::Connect);
    assert_eq!(err.addr(), Some(addr));
    assert_eq!(
        io_error_kind(&err),
        Some(std::io::ErrorKind::ConnectionRefused)
    );
    assert!(err.proxy().is_some());
    assert!(
        err.to_string()
            .contains(&format!("(the proxy http://{addr}/)")),
        "{err}"
    );
}

/// The socket options and the hook act on the socket to the proxy, at every stage; keepalive
/// is read back from that socket.
#[tokio::test]
async fn every_stage_acts_on_the_proxy_socket() {
    let server = TestServer::start().await.unwrap();
    let proxy = ConnectProxy::builder().start().await.unwrap();
    let proxy_addr = proxy.addr();
    for &stage in Stage::ALL {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let connector = builder_for(&server)
            .proxy(Proxy::all(&proxy.url()))
            .keepalive(Keepalive::new().idle(Duration::from_secs(17)))
            .keepalive_at(stage)
            .socket_hook(move |at, sock| {
                let peer = sock.peer_addr().ok().and_then(|a| a.as_socket());
                let on = sock.keepalive()?;
                // socket2 reads the idle time back on Unix only (Windows: see stages.rs).
                #[cfg(keepalive_tuning)]
                let idle = on.then(|| sock.tcp_keepalive_time()).transpose()?;
                #[cfg(not(keepalive_tuning))]
                let idle = on.then_some(Duration::from_secs(17));
                log.lock().unwrap().push((at, peer, idle));
                Ok(())
            })
            .build()
            .unwrap();
        let conn = connector
            .connect(&server.url("/").parse().unwrap())
            .await
            .unwrap();
        let seen = seen.lock().unwrap().clone();
        let stages: Vec<Stage> = seen.iter().map(|s| s.0).collect();
        assert_eq!(stages, Stage::ALL);
        for (at, peer, idle) in seen {
            if at != Stage::BeforeConnect {
                assert_eq!(
                    peer,
                    Some(proxy_addr),
                    "{at}: the hook sees the proxy socket"
                );
            }
            let want = (at >= stage).then_some(Duration::from_secs(17));
            assert_eq!(idle, want, "keepalive at {stage}, read by the hook at {at}");
        }
        assert_eq!(conn.info().remote_addr(), proxy_addr);
        assert_eq!(conn.tcp().peer_addr().unwrap(), proxy_addr);
        assert_eq!(
            conn.info().keepalive().unwrap().idle(),
            Some(Duration::from_secs(17))
        );
    }
}

#[test]
fn routes_follow_the_rules_and_no_proxy_forms() {
    let route = |connector: &Connector, url: &str| connector.route(&url.parse().unwrap()).unwrap();
    let is_proxy = |r: &Route| matches!(r, Route::Proxy(_));
    let connector = Connector::builder()
        .proxy(
            Proxy::https("http://proxy.test:3128")
                .no_proxy("example.com, .internal.test,10.0.0.0/8, 192.168.1.7,::1"),
        )
        .proxy(Proxy::all("socks5h://socks.test"))
        .build()
        .unwrap();
    for (url, exempt) in [
        ("https://example.com/", true),
        ("https://api.example.com/", true), // subdomains of a listed domain
        ("https://notexample.com/", false),
        ("https://internal.test/", true), // a leading dot is optional
        ("https://a.b.internal.test/", true),
        ("https://10.1.2.3/", true), // CIDR
        ("https://11.1.2.3/", false),
        ("https://192.168.1.7/", true),
        ("https://[::1]/", true),
        ("https://localhost/", false), // no implicit exceptions
        ("https://127.0.0.1/", false),
    ] {
        let r = route(&connector, url);
        // An exempt host falls through to the next rule: the SOCKS proxy for everything.
        let want = if exempt {
            "socks5h://socks.test:1080/"
        } else {
            "http://proxy.test:3128/"
        };
        match &r {
            Route::Proxy(p) => assert_eq!(p.url(), want, "{url}"),
            other => panic!("{url}: {other:?}"),
        }
    }
    // Scheme scopes: https-only rule does not apply to http.
    let https_only = Connector::builder()
        .proxy(Proxy::https("http://proxy.test:3128"))
        .build()
        .unwrap();
    assert_eq!(route(&https_only, "http://example.com/"), Route::Direct);
    assert!(is_proxy(&route(&https_only, "https://example.com/")));
    // `*` exempts everything, IP addresses too (hyper-util's `*` alone would not).
    let star = Connector::builder()
        .proxy(Proxy::all("http://proxy.test:3128").no_proxy("*"))
        .build()
        .unwrap();
    for url in [
        "https://example.com/",
        "https://127.0.0.1/",
        "http://[::1]:8080/",
    ] {
        assert!(matches!(route(&star, url), Route::NoProxy(_)), "{url}");
    }
    // none() is direct, and rules after it never apply.
    let none = Connector::builder()
        .proxy(Proxy::none())
        .proxy(Proxy::all("http://proxy.test:3128"))
        .build()
        .unwrap();
    assert_eq!(route(&none, "https://example.com/"), Route::Direct);
    // Default ports: http 80, https 443, socks 1080; IPv6 hosts keep their brackets.
    for (url, want) in [
        ("proxy.test", "http://proxy.test:80/"),
        ("https://proxy.test", "https://proxy.test:443/"),
        ("socks5://[::1]", "socks5://[::1]:1080/"),
        ("HTTP://Proxy.Test:8080/", "http://proxy.test:8080/"),
    ] {
        let c = Connector::builder().proxy(Proxy::all(url)).build().unwrap();
        match route(&c, "https://example.com/") {
            Route::Proxy(p) => assert_eq!(p.url(), want, "{url}"),
            other => panic!("{url}: {other:?}"),
        }
    }
}

/// Item 10 of issue 19: common `NO_PROXY` forms never matched: a bracketed IPv6 address,
/// `*.example.com`, an origin written with a trailing dot. The forms of curl and of Go's
/// `httpproxy` (which also takes `host:port`) all match now.
#[test]
fn no_proxy_forms_of_curl_and_go_match() {
    let connector = Connector::builder()
        .proxy(Proxy::all("http://proxy.test:3128").no_proxy(
            "[::1], *.example.com, .corp, internal.test., 10.0.0.1:8080, svc.test:8443, \
             [::2]:443, [fd00::]/8, Mixed.Case.Test",
        ))
        .build()
        .unwrap();
    for (url, exempt) in [
        ("https://[::1]/", true),
        ("http://[::1]:8080/", true),
        ("https://a.example.com/", true),
        ("https://a.b.example.com/", true),
        ("https://example.com/", true), // a domain entry covers the domain itself (curl)
        ("https://notexample.com/", false),
        ("https://internal.corp./", true), // trailing dot on the origin
        ("https://internal.corp/", true),
        ("https://internal.test/", true), // trailing dot on the entry
        ("https://a.internal.test./", true),
        ("http://10.0.0.1:8080/", true), // Go's host:port
        ("http://10.0.0.1:8081/", false),
        ("https://svc.test:8443/", true),
        ("https://a.svc.test:8443/", true),
        ("https://svc.test/", false),
        ("https://[::2]/", true),
        ("http://[::2]/", false),
        ("https://[fd12::1]/", true),
        ("https://mixed.case.test/", true),
    ] {
        let route = connector.route(&url.parse().unwrap()).unwrap();
        let want_exempt = matches!(route, Route::NoProxy(_));
        assert_eq!(want_exempt, exempt, "{url}: {route:?}");
        assert_eq!(
            matches!(route, Route::Proxy(_)),
            !exempt,
            "{url}: {route:?}"
        );
    }
}

#[test]
fn bad_proxy_urls_are_refused_at_build_without_showing_credentials() {
    for (url, want) in [
        (
            "ftp://proxy.test",
            InvalidProxy::UnsupportedScheme("ftp".into()),
        ),
        (
            "socks4://proxy.test",
            InvalidProxy::UnsupportedScheme("socks4".into()),
        ),
        ("http://proxy.test/path", InvalidProxy::HasPath),
        (
            "http://u:secret@proxy.test:99999",
            InvalidProxy::Authority(keepalive_connector::InvalidOrigin::BadPort),
        ),
        ("http://u:secret@", InvalidProxy::Unparseable),
        ("socks5://u:@proxy.test", InvalidProxy::SocksCredentials),
        ("not a url", InvalidProxy::Unparseable),
    ] {
        let err = Connector::builder()
            .proxy(Proxy::all(url))
            .build()
            .unwrap_err();
        assert_eq!(err.field(), ConfigField::Proxy, "{url}");
        assert_eq!(
            err.reason(),
            &ConfigErrorReason::InvalidProxy(want),
            "{url}"
        );
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("secret"), "{shown}");
    }
}

#[tokio::test]
async fn credentials_never_show_in_debug_or_errors() {
    let secret = "hunter2-XYZ";
    let proxy = Proxy::all(&format!("socks5h://user:{secret}@127.0.0.1:1"));
    let builder = Connector::builder().proxy(proxy.clone());
    let connector = builder.build().unwrap();
    let builder = Connector::builder().proxy(proxy.clone());
    let err = connector
        .connect(&"https://localhost:443/".parse().unwrap())
        .await
        .unwrap_err();
    let route = connector
        .route(&"https://x.test/".parse().unwrap())
        .unwrap();
    for shown in [
        format!("{proxy:?}"),
        format!("{builder:?}"),
        format!("{connector:?}"),
        format!("{err} {err:?}"),
        format!("{route:?}"),
    ] {
        assert!(!shown.contains(secret), "{shown}");
    }
    // A target URI's user info is not echoed either.
    let err = Connector::builder()
        .build()
        .unwrap()
        .connect(&format!("https://u:{secret}@h:99999/").parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.phase(), Phase::Uri);
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(secret), "{shown}");
    assert!(shown.contains("***@h:99999"), "{shown}");
}

/// The tunnel layer over any stream: what the fuzzer drives.
#[tokio::test]
async fn the_tunnel_step_runs_over_any_stream() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let connector = Connector::builder()
        .proxy(Proxy::all("http://u:p@proxy.test:3128"))
        .build()
        .unwrap();
    let origin =
        keepalive_connector::Origin::from_uri(&"https://example.com/".parse().unwrap()).unwrap();
    let (client, mut server) = tokio::io::duplex(4096);
    let proxy_side = async move {
        let mut buf = vec![0u8; 1024];
        let n = server.read(&mut buf).await.unwrap();
        server.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let (request, result) = tokio::join!(proxy_side, connector.tunnel_handshake(&origin, client));
    let (stream, proxy) = result.unwrap();
    assert!(
        !stream.is_forwarded(),
        "an https:// origin goes through a CONNECT tunnel"
    );
    assert_eq!(proxy.unwrap().url(), "http://proxy.test:3128/");
    assert_eq!(
        request,
        "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\
         Proxy-Authorization: Basic dTpw\r\n\r\n"
    );
}

/// `tunnel_handshake` takes the way `connect` takes: an `http://` origin through an HTTP proxy
/// is forwarded (no `CONNECT`, which Squid and tinyproxy refuse to port 80 by default), each
/// request head gaining the proxy's credentials and losing the target's user info.
#[tokio::test]
async fn the_tunnel_step_forwards_http_origins_as_connect_does() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let connector = Connector::builder()
        .proxy(Proxy::all("http://u:p@proxy.test:3128"))
        .build()
        .unwrap();
    let origin =
        keepalive_connector::Origin::from_uri(&"http://example.com/".parse().unwrap()).unwrap();
    let (client, mut server) = tokio::io::duplex(4096);
    let handshake = connector.tunnel_handshake(&origin, client);
    let (mut stream, proxy) = tokio::time::timeout(Duration::from_secs(5), handshake)
        .await
        .expect("nothing to wait for: forwarding exchanges nothing with the proxy first")
        .unwrap();
    assert!(stream.is_forwarded());
    assert_eq!(proxy.unwrap().url(), "http://proxy.test:3128/");
    stream
        .write_all(b"GET http://user:pw@example.com/x HTTP/1.1\r\nHost: example.com\r\n\r\n")
        .await
        .unwrap();
    let mut received = Vec::new();
    while !received.ends_with(b"\r\n\r\n") {
        let mut buf = [0u8; 512];
        let n = server.read(&mut buf).await.unwrap();
        assert_ne!(n, 0, "the stream closed");
        received.extend_from_slice(&buf[..n]);
    }
    assert_eq!(
        String::from_utf8_lossy(&received),
        "GET http://example.com/x HTTP/1.1\r\nProxy-Authorization: Basic dTpw\r\n\
         Host: example.com\r\n\r\n"
    );
}

/// An `https://` proxy whose host TLS could not verify (`a..b` is no DNS name) is refused when
/// the connector is built, as an origin's is before connecting, instead of failing every
/// connection through it later.
#[test]
fn an_https_proxy_tls_cannot_verify_is_refused_at_build() {
    let err = Connector::builder()
        .proxy(Proxy::all("https://u:secret@a..b:3128"))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), ConfigField::Proxy);
    assert_eq!(
        err.reason(),
        &ConfigErrorReason::InvalidProxy(InvalidProxy::Authority(
            keepalive_connector::InvalidOrigin::BadServerName("a..b".into())
        ))
    );
    assert!(!format!("{err} {err:?}").contains("secret"));
    // The same host is fine for a proxy spoken to without TLS.
    Connector::builder()
        .proxy(Proxy::all("http://a..b:3128"))
        .build()
        .unwrap();
}
