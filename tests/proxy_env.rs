//! The environment's proxy variables, each test in a child process of its own with exactly the
//! variables it sets (every proxy variable of the parent removed), so no test can see another's
//! environment and none races the threads of the main test binary.
//!
//! Windows' environment is case-insensitive: `HTTPS_PROXY` and `https_proxy` are one variable
//! there, whose value is the one set last, and the connector reads it by its upper-case name.
//! The tests set the same variables on every OS; where Windows' single variable changes the
//! outcome, the expectation says so (`cfg!(windows)`).

use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use keepalive_connector::{
    ConfigErrorReason, ConfigField, ConnectInfo, Connector, InvalidProxy, Proxy, ProxySource,
    Route, Trust,
};
use keepalive_testserver::child_env::{self, PROXY_VARS};
use keepalive_testserver::external::{require, Tinyproxy};
use keepalive_testserver::TestServer;

/// Runs `body` in a child process whose environment has only `vars` of the proxy variables.
fn in_env(test: &str, case: &str, vars: &[(&str, &str)], body: impl FnOnce()) {
    child_env::run(test, case, PROXY_VARS, vars, body);
}

fn route(connector: &Connector, url: &str) -> Route {
    connector.route(&url.parse().unwrap()).unwrap()
}

fn proxy_of(route: Route) -> (String, ProxySource) {
    match route {
        Route::Proxy(p) => (p.url().to_string(), p.source()),
        other => panic!("expected a proxy, got {other:?}"),
    }
}

/// The bug this project started from: a client with keepalive on must keep the route the
/// environment chose. With `HTTPS_PROXY` set, the default connector goes through the proxy
/// (tinyproxy's log shows the CONNECT), with keepalive on.
#[test]
fn the_default_connector_follows_https_proxy() {
    // The parent starts tinyproxy and reads its log; the child only connects.
    let tinyproxy = if child_env::is_child() {
        None
    } else {
        match require(Tinyproxy::start(None), "HTTPS_PROXY through tinyproxy") {
            Some(tinyproxy) => Some(tinyproxy),
            None => return,
        }
    };
    let url = tinyproxy.as_ref().map(Tinyproxy::url).unwrap_or_default();
    in_env(
        "the_default_connector_follows_https_proxy",
        "",
        &[("HTTPS_PROXY", &url)],
        || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async {
                let server = TestServer::start().await.unwrap();
                let connector = Connector::builder()
                    .trust(Trust::AddedRootsOnly)
                    .add_root_certificates_pem(server.ca_pem().as_bytes())
                    .build()
                    .unwrap();
                let client = Client::builder(TokioExecutor::new())
                    .build::<_, Empty<bytes::Bytes>>(connector);
                let resp = client.get(server.url("/").parse().unwrap()).await.unwrap();
                assert_eq!(resp.status(), 200);
                let info = resp.extensions().get::<ConnectInfo>().unwrap();
                let proxy = info.proxy().expect("the environment's proxy was used");
                assert_eq!(proxy.source(), ProxySource::Env("HTTPS_PROXY"));
                assert!(info.keepalive().is_some(), "and keepalive is on");
                println!("CHILD-SERVER-PORT {}", server.addr().port());
            });
        },
    );
    if let Some(tinyproxy) = tinyproxy {
        let log = tinyproxy.requests();
        assert!(
            log.iter().any(|r| r.starts_with("CONNECT 127.0.0.1:")),
            "tinyproxy saw the CONNECT: {log:?}"
        );
    }
}

#[test]
fn upper_case_wins_and_all_proxy_fills_in() {
    in_env(
        "upper_case_wins_and_all_proxy_fills_in",
        "",
        &[
            ("HTTPS_PROXY", "http://upper.test:1"),
            ("https_proxy", "http://lower.test:2"),
            ("all_proxy", "socks5h://all.test:3"),
        ],
        || {
            let c = Connector::builder().build().unwrap();
            // Windows: one variable, whose value is the one set last (`https_proxy`'s); its
            // name is read in upper case.
            let https = if cfg!(windows) {
                "http://lower.test:2/"
            } else {
                "http://upper.test:1/"
            };
            assert_eq!(
                proxy_of(route(&c, "https://example.com/")),
                (https.into(), ProxySource::Env("HTTPS_PROXY"))
            );
            let all = if cfg!(windows) {
                "ALL_PROXY"
            } else {
                "all_proxy"
            };
            assert_eq!(
                proxy_of(route(&c, "http://example.com/")),
                ("socks5h://all.test:3/".into(), ProxySource::Env(all))
            );
        },
    );
}

#[test]
fn lower_case_alone_works_and_empty_upper_case_hides_it() {
    in_env(
        "lower_case_alone_works_and_empty_upper_case_hides_it",
        "",
        &[
            ("http_proxy", "lower.test:8080"),
            ("HTTPS_PROXY", ""),
            ("https_proxy", "http://hidden.test:1"),
        ],
        || {
            let c = Connector::builder().build().unwrap();
            let http = if cfg!(windows) {
                "HTTP_PROXY"
            } else {
                "http_proxy"
            };
            assert_eq!(
                proxy_of(route(&c, "http://example.com/")),
                ("http://lower.test:8080/".into(), ProxySource::Env(http))
            );
            if cfg!(windows) {
                // One variable: the empty value was replaced by the one set after it.
                assert_eq!(
                    proxy_of(route(&c, "https://example.com/")),
                    (
                        "http://hidden.test:1/".into(),
                        ProxySource::Env("HTTPS_PROXY")
                    )
                );
            } else {
                assert_eq!(route(&c, "https://example.com/"), Route::Direct);
            }
        },
    );
}

#[test]
fn no_proxy_forms_from_the_environment() {
    in_env(
        "no_proxy_forms_from_the_environment",
        "",
        &[
            ("HTTPS_PROXY", "http://proxy.test:3128"),
            (
                "NO_PROXY",
                "localhost,.corp.test,example.org,10.0.0.0/8,192.0.2.1,[::1],*.example.net",
            ),
        ],
        || {
            let c = Connector::builder().build().unwrap();
            for (url, exempt) in [
                ("https://localhost/", true),
                ("https://127.0.0.1/", false), // `localhost` does not cover its address
                ("https://a.corp.test/", true),
                ("https://corp.test/", true),
                ("https://www.example.org/", true),
                ("https://10.20.30.40/", true),
                ("https://192.0.2.1/", true),
                ("https://192.0.2.2/", false),
                ("https://example.com/", false),
                ("https://[::1]/", true),
                ("https://a.example.net/", true),
                ("https://a.corp.test./", true),
            ] {
                let r = route(&c, url);
                assert_eq!(matches!(r, Route::NoProxy(_)), exempt, "{url}: {r:?}");
                assert_eq!(matches!(r, Route::Proxy(_)), !exempt, "{url}: {r:?}");
            }
            // from_env().no_proxy(..) adds to NO_PROXY.
            let c = Connector::builder()
                .proxy(Proxy::from_env().no_proxy("example.com"))
                .build()
                .unwrap();
            assert!(matches!(
                route(&c, "https://example.com/"),
                Route::NoProxy(_)
            ));
            assert!(matches!(
                route(&c, "https://a.corp.test/"),
                Route::NoProxy(_)
            ));
        },
    );
}

#[test]
fn no_proxy_star_exempts_addresses_too() {
    in_env(
        "no_proxy_star_exempts_addresses_too",
        "",
        &[("ALL_PROXY", "http://proxy.test:3128"), ("no_proxy", "*")],
        || {
            let c = Connector::builder().build().unwrap();
            for url in [
                "https://example.com/",
                "https://127.0.0.1/",
                "http://[::1]/",
            ] {
                assert!(matches!(route(&c, url), Route::NoProxy(_)), "{url}");
            }
        },
    );
}

/// httpoxy: under CGI, `HTTP_PROXY` may come from a request's `Proxy:` header. On Unix
/// `http_proxy` is another variable, which no header can set, and it is still read; on Windows
/// it is the same variable, and neither spelling is read (item 7 of issue 19).
#[test]
fn cgi_ignores_upper_case_http_proxy_only() {
    in_env(
        "cgi_ignores_upper_case_http_proxy_only",
        "",
        &[
            ("REQUEST_METHOD", "GET"),
            ("HTTP_PROXY", "http://attacker.test:80"),
            ("HTTPS_PROXY", "http://proxy.test:3128"),
        ],
        || {
            let c = Connector::builder().build().unwrap();
            assert_eq!(route(&c, "http://example.com/"), Route::Direct);
            assert_eq!(
                proxy_of(route(&c, "https://example.com/")).1,
                ProxySource::Env("HTTPS_PROXY")
            );
        },
    );
    in_env(
        "cgi_ignores_upper_case_http_proxy_only",
        "lower-case",
        &[
            ("REQUEST_METHOD", "GET"),
            ("http_proxy", "http://proxy.test:3128"),
        ],
        || {
            let c = Connector::builder().build().unwrap();
            if cfg!(windows) {
                assert_eq!(route(&c, "http://example.com/"), Route::Direct);
            } else {
                assert_eq!(
                    proxy_of(route(&c, "http://example.com/")).1,
                    ProxySource::Env("http_proxy")
                );
            }
        },
    );
    // The header's value under the lower-case spelling: on Windows it is the one variable.
    in_env(
        "cgi_ignores_upper_case_http_proxy_only",
        "header-as-lower-case",
        &[
            ("REQUEST_METHOD", "GET"),
            ("HTTP_PROXY", "http://attacker.test:80"),
            ("http_proxy", "http://proxy.test:3128"),
        ],
        || {
            let c = Connector::builder().build().unwrap();
            let r = route(&c, "http://example.com/");
            if cfg!(windows) {
                assert_eq!(r, Route::Direct);
            } else {
                assert_eq!(proxy_of(r).0, "http://proxy.test:3128/");
            }
        },
    );
}

#[test]
fn an_unusable_variable_is_a_config_error_naming_it() {
    in_env(
        "an_unusable_variable_is_a_config_error_naming_it",
        "",
        &[("HTTPS_PROXY", "socks4://user:hunter2@proxy.test:1080")],
        || {
            let err = Connector::builder().build().unwrap_err();
            assert_eq!(err.field(), ConfigField::Proxy);
            assert_eq!(
                err.reason(),
                &ConfigErrorReason::InvalidProxy(InvalidProxy::UnsupportedScheme("socks4".into()))
            );
            let text = format!("{err} {err:?}");
            assert!(
                text.contains("HTTPS_PROXY=socks4://***@proxy.test:1080"),
                "{text}"
            );
            assert!(!text.contains("hunter2"), "{text}");
            // An explicit rule replaces the environment, bad variable and all.
            let c = Connector::builder().proxy(Proxy::none()).build().unwrap();
            assert_eq!(route(&c, "https://example.com/"), Route::Direct);
        },
    );
}

#[test]
fn an_explicit_rule_replaces_the_environment() {
    in_env(
        "an_explicit_rule_replaces_the_environment",
        "",
        &[("HTTPS_PROXY", "http://env.test:3128")],
        || {
            let c = Connector::builder()
                .proxy(Proxy::http("http://explicit.test:8080"))
                .build()
                .unwrap();
            assert_eq!(route(&c, "https://example.com/"), Route::Direct);
            let c = Connector::builder()
                .proxy(Proxy::http("http://explicit.test:8080"))
                .proxy(Proxy::from_env())
                .build()
                .unwrap();
            assert_eq!(
                proxy_of(route(&c, "https://example.com/")).1,
                ProxySource::Env("HTTPS_PROXY")
            );
            assert_eq!(
                proxy_of(route(&c, "http://example.com/")).1,
                ProxySource::Explicit
            );
        },
    );
}

#[test]
fn without_variables_everything_is_direct() {
    in_env("without_variables_everything_is_direct", "", &[], || {
        let c = Connector::builder().build().unwrap();
        assert_eq!(route(&c, "https://example.com/"), Route::Direct);
        assert_eq!(route(&c, "http://127.0.0.1/"), Route::Direct);
    });
}

/// Item 2 of issue 19: `HTTPS_PROXY='http://bob:s3cr#t@proxy:3128'` printed `s3cr` (the `#`
/// ended the URL's authority, and the rest of the password was echoed as a bad port). The
/// user info is everything before the last `@`; a value with a port that does not parse is
/// shown as `scheme://***@host`, or by its length alone.
#[test]
fn a_variables_password_never_shows() {
    in_env(
        "a_variables_password_never_shows",
        "",
        &[("HTTPS_PROXY", "http://bob:s3cr#t@proxy.test:3128")],
        || {
            let c = Connector::builder().build().unwrap();
            let r = route(&c, "https://example.com/");
            assert!(!format!("{c:?} {r:?}").contains("s3cr"), "{r:?}");
            match r {
                Route::Proxy(p) => {
                    assert_eq!(p.url(), "http://proxy.test:3128/");
                    assert!(p.has_credentials());
                }
                other => panic!("{other:?}"),
            }
        },
    );
    in_env(
        "a_variables_password_never_shows",
        "bad-port",
        &[("HTTPS_PROXY", "http://bob:s3cr#t@proxy.test:31x8")],
        || {
            let err = Connector::builder().build().unwrap_err();
            let text = format!("{err} {err:?}");
            assert!(!text.contains("s3cr"), "{text}");
            assert!(
                text.contains("HTTPS_PROXY=<33 characters, not shown>"),
                "{text}"
            );
        },
    );
}

/// A value that is not Unicode, as a byte string this OS can hold in its environment.
fn not_unicode(prefix: &str) -> std::ffi::OsString {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        let mut bytes = prefix.as_bytes().to_vec();
        bytes.extend_from_slice(b"s3cr\xe9t@proxy.test:3128");
        std::ffi::OsString::from_vec(bytes)
    }
    #[cfg(windows)]
    {
        use std::os::windows::ffi::OsStringExt;
        // An unpaired surrogate: valid UTF-16 it is not.
        let mut wide: Vec<u16> = prefix.encode_utf16().collect();
        wide.extend("s3cr".encode_utf16());
        wide.push(0xd800);
        wide.extend("t@proxy.test:3128".encode_utf16());
        std::ffi::OsString::from_wide(&wide)
    }
}

/// A proxy variable that is not Unicode is refused, showing its length only; so is a
/// `NO_PROXY` that is not (it was dropped without a word, sending the hosts it exempts through
/// the proxy: item 10 of issue 19).
#[test]
fn variables_that_are_not_unicode_are_refused_unseen() {
    let proxy = not_unicode("http://bob:");
    child_env::run_os(
        "variables_that_are_not_unicode_are_refused_unseen",
        "proxy",
        PROXY_VARS,
        &[("HTTPS_PROXY", proxy.as_os_str())],
        || {
            let err = Connector::builder().build().unwrap_err();
            assert_eq!(err.field(), ConfigField::Proxy);
            assert_eq!(
                err.reason(),
                &ConfigErrorReason::InvalidProxy(InvalidProxy::NotUtf8)
            );
            let text = format!("{err} {err:?}");
            assert!(!text.contains("s3cr"), "{text}");
            assert!(text.contains("HTTPS_PROXY=<not UTF-8, "), "{text}");
        },
    );
    let list = not_unicode("localhost,");
    child_env::run_os(
        "variables_that_are_not_unicode_are_refused_unseen",
        "no_proxy",
        PROXY_VARS,
        &[
            (
                "HTTPS_PROXY",
                std::ffi::OsStr::new("http://proxy.test:3128"),
            ),
            ("NO_PROXY", list.as_os_str()),
        ],
        || {
            let err = Connector::builder().build().unwrap_err();
            assert_eq!(err.field(), ConfigField::Proxy);
            assert_eq!(
                err.reason(),
                &ConfigErrorReason::InvalidProxy(InvalidProxy::NotUtf8)
            );
            assert!(err.to_string().contains("NO_PROXY=<not UTF-8, "), "{err}");
        },
    );
}
