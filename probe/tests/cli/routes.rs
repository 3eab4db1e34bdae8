//! Routes, families and the verdict's rates, on loopback: a proxy that reaches what direct
//! cannot (an in-process CONNECT proxy whose upstream is a healthy server, while the direct
//! path resets every handshake), a proxy that refuses while direct works, a flaky server, the
//! `--route` usage errors, a name with both families, and the JSON schema in every mode.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpListener};
use std::sync::Arc;

use keepalive_testserver::external::{require, Microsocks};
use keepalive_testserver::{Behavior, ConnectProxy, ProxyBehavior, TestCa, TestServer};
use serde_json::Value;

use super::{
    json, local_args, probe, probe_async, probe_env, probe_env_async, reset_words, row, stderr,
    stdout, verdict, CaFile, STAGES,
};

/// A direct path that resets every TLS handshake, and a CONNECT proxy that tunnels to a
/// healthy server with the same CA: the network of the upstream report, where only the proxy
/// gets through.
struct OnlyTheProxyWorks {
    direct: TestServer,
    healthy: TestServer,
    proxy: ConnectProxy,
    ca: CaFile,
}

async fn only_the_proxy_works(credentials: Option<(&str, &str)>) -> OnlyTheProxyWorks {
    let ca = Arc::new(TestCa::new());
    let direct = TestServer::builder()
        .ca(Arc::clone(&ca))
        .behavior(Behavior::ResetAfterClientHello)
        .start()
        .await
        .unwrap();
    let healthy = TestServer::builder().ca(ca).start().await.unwrap();
    let mut builder = ConnectProxy::builder().upstream(healthy.addr());
    if let Some((user, password)) = credentials {
        builder = builder.basic_auth(user, password);
    }
    let proxy = builder.start().await.unwrap();
    let ca = CaFile::new(&direct);
    OnlyTheProxyWorks {
        direct,
        healthy,
        proxy,
        ca,
    }
}

/// The rows of `route` in the document's `stages`.
fn stages_of<'a>(doc: &'a Value, route: &str) -> Vec<&'a Value> {
    doc["stages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["route"] == route)
        .collect()
}

/// The README's route comparison: `HTTPS_PROXY`, then `--proxy`; the verdict names the route
/// first, every row names its route, and the exit status is 1 (direct failed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_that_reaches_what_direct_cannot_is_named_first() {
    let net = only_the_proxy_works(None).await;
    let port = net.direct.addr().port();
    let mut args = local_args(port, &net.ca);
    let vars = vec![("HTTPS_PROXY".to_owned(), net.proxy.url())];
    let out = probe_env_async(args.clone(), vars).await;
    let text = stdout(&out);
    // Shown with --nocapture: the README's route comparison comes from here.
    println!("{text}");
    assert_eq!(
        out.status.code(),
        Some(1),
        "direct failed: {text}{}",
        stderr(&out)
    );
    let proxy_url = format!("{}/", net.proxy.url());
    assert!(
        text.contains(&format!(
            "proxy: {proxy_url} (from HTTPS_PROXY; NO_PROXY does not exempt localhost)"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("via proxy {proxy_url} (HTTPS_PROXY):")),
        "{text}"
    );
    let section = |title: &str| {
        text.lines()
            .skip_while(|l| *l != title)
            .skip(1)
            .take(4)
            .collect::<Vec<_>>()
    };
    let direct = section("direct:");
    assert_eq!(direct.len(), 4, "{text}");
    for (line, stage) in direct.iter().zip(STAGES) {
        assert!(line.starts_with(stage), "{text}");
        assert!(
            line.contains(&format!("failed at tls: {}", reset_words())),
            "{text}"
        );
    }
    let proxied = section(&format!("via proxy {proxy_url} (HTTPS_PROXY):"));
    for (line, stage) in proxied.iter().zip(STAGES) {
        assert!(line.starts_with(stage), "{text}");
        assert!(line.contains("200 HTTP/2"), "{text}");
    }
    assert_eq!(
        verdict(&text),
        format!(
            "verdict: direct fails at the tls phase ({}) and the proxy works: this network needs \
             the proxy (HTTPS_PROXY); a client that bypasses it fails the same way. Through the \
             proxy: every stage works",
            reset_words()
        )
    );
    assert_eq!(net.proxy.accepted(), 4, "one tunnel per stage");
    assert_eq!(net.healthy.accepted(), 4);
    assert_eq!(net.direct.accepted(), 4);

    // The same network, with the proxy named by --proxy, as JSON.
    args.extend(["--proxy".to_owned(), net.proxy.url(), "--json".into()]);
    let out = probe_async(args).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc = json(&out);
    assert_schema(&doc);
    assert_eq!(doc["proxy"], proxy_url.as_str());
    assert_eq!(doc["proxy_source"], "--proxy");
    assert_eq!(doc["no_proxy_matched"], false);
    assert_eq!(doc["routes"], serde_json::json!(["proxy", "direct"]));
    assert_eq!(doc["recommended_stage"], "after-handshake");
    assert_eq!(doc["recommended_route"], "proxy");
    assert!(
        doc["verdict"].as_str().unwrap().starts_with(&format!(
            "direct fails at the tls phase ({}) and the proxy works: this network needs the \
             proxy (--proxy)",
            reset_words()
        )),
        "{doc}"
    );
    for s in stages_of(&doc, "proxy") {
        assert_eq!(s["ok"], true, "{s}");
        assert_eq!(s["proxy"], proxy_url.as_str());
        // The family of the hop to the proxy.
        assert_eq!(s["family"], "ipv4");
        assert_eq!(s["remote_addr"], net.proxy.addr().to_string());
    }
    for s in stages_of(&doc, "direct") {
        assert_eq!(s["ok"], false, "{s}");
        assert!(s["proxy"].is_null());
        assert_eq!(s["error"]["phase"], "tls");
        assert_eq!(s["family"], "ipv4");
    }
    assert_eq!(doc["stages"].as_array().unwrap().len(), 8);
}

/// Credentials in `--proxy` reach the proxy and nothing else: not the report, not the JSON,
/// not stderr.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_credentials_are_used_and_never_shown() {
    let net = only_the_proxy_works(Some(("me", "hunter2"))).await;
    let port = net.proxy.addr().port();
    let with_auth = format!("http://me:hunter2@127.0.0.1:{port}");
    for json in [false, true] {
        let mut args = local_args(net.direct.addr().port(), &net.ca);
        args.extend(["--proxy".to_owned(), with_auth.clone(), "--route".into()]);
        args.push("proxy".into());
        if json {
            args.push("--json".into());
        }
        let out = probe_async(args).await;
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert_eq!(out.status.code(), Some(0), "{all}");
        assert!(!all.contains("hunter2"), "{all}");
        assert!(all.contains(&format!("http://127.0.0.1:{port}/")), "{all}");
    }
}

/// A real SOCKS5 proxy (microsocks) with credentials, named by `--proxy`: every stage through
/// it works, the route is named without the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_socks5_proxy_is_probed_as_the_proxy_route() {
    let Some(socks) = require(
        Microsocks::start(Some(("probe", "s3cret"))),
        "probe through microsocks",
    ) else {
        return;
    };
    let server = TestServer::start().await.unwrap();
    let ca = CaFile::new(&server);
    let url = format!("socks5://probe:s3cret@{}", socks.addr());
    let mut args = local_args(server.addr().port(), &ca);
    args.extend(["--proxy".to_owned(), url, "--json".into()]);
    let out = probe_async(args).await;
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(!all.contains("s3cret"), "{all}");
    let doc = json(&out);
    assert_schema(&doc);
    let shown = format!("socks5://{}/", socks.addr());
    assert_eq!(doc["proxy"], shown.as_str());
    assert_eq!(doc["routes"], serde_json::json!(["proxy", "direct"]));
    for s in stages_of(&doc, "proxy") {
        assert_eq!(s["ok"], true, "{s}");
        assert_eq!(s["proxy"], shown.as_str());
        assert_eq!(s["remote_addr"], socks.addr().to_string());
    }
    assert_eq!(server.accepted(), 8, "four through the proxy, four direct");
    assert_eq!(
        doc["verdict"],
        "through the proxy and direct: every stage works"
    );
}

/// The reverse: the proxy refuses every CONNECT, direct works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_that_refuses_while_direct_works_is_named() {
    let server = TestServer::start().await.unwrap();
    let proxy = ConnectProxy::builder()
        .behavior(ProxyBehavior::Status(403))
        .start()
        .await
        .unwrap();
    let ca = CaFile::new(&server);
    let args = local_args(server.addr().port(), &ca);
    let out = probe_env_async(args, vec![("HTTPS_PROXY".into(), proxy.url())]).await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    let v = verdict(&text);
    assert!(
        v.starts_with(&format!(
            "verdict: the proxy {}/ (HTTPS_PROXY) fails at the proxy phase (",
            proxy.url()
        )),
        "{text}"
    );
    assert!(
        v.contains(
            "and direct works: clients that follow HTTPS_PROXY fail here — fix the proxy, or \
             exempt this host in NO_PROXY. Direct: every stage works"
        ),
        "{text}"
    );
    assert!(v.contains("403"), "the status is named: {text}");
}

/// One reset in seven connections, spread by the connection index over every stage: flaky,
/// and no stage is blamed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flaky_server_is_called_flaky_and_no_stage_is_blamed() {
    let server = TestServer::builder()
        .plan(|i| {
            if i % 7 == 3 {
                Behavior::ResetAfterClientHello
            } else {
                Behavior::Serve
            }
        })
        .start()
        .await
        .unwrap();
    let ca = CaFile::new(&server);
    let mut args = local_args(server.addr().port(), &ca);
    args.extend(["--repeat".to_owned(), "7".into()]);
    let out = probe_async(args).await;
    let text = stdout(&out);
    println!("{text}");
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_eq!(server.accepted(), 28);
    // Rounds interleave the rows: connections 3, 10, 17 and 24 fall on off, after-handshake,
    // after-connect and before-connect.
    for stage in STAGES {
        assert!(row(&text, stage).contains("1/7 failed at tls"), "{text}");
    }
    let v = verdict(&text);
    assert_eq!(
        v,
        format!(
            "verdict: the endpoint is flaky: 4 of 28 connections failed, all at the tls phase \
             ({}), spread over before-connect, after-connect, after-handshake and off; no stage \
             fails significantly more often than another — nothing here argues against \
             Stage::AfterHandshake (the default)",
            reset_words()
        )
    );
}

/// `--route proxy|both` where no proxy applies is a usage error saying why; so are `--proxy`
/// and `--route` without a URL, and a `--proxy` the library cannot use (without its password).
#[test]
fn routes_that_cannot_be_probed_are_usage_errors() {
    let url = "https://localhost:1/";
    let dead = "http://127.0.0.1:9";
    for (args, vars, says) in [
        (
            vec![url, "--route", "proxy"],
            vec![],
            "--route proxy: no proxy applies to https:// URLs: neither HTTPS_PROXY nor ALL_PROXY",
        ),
        (
            vec![url, "--route", "both"],
            vec![("HTTPS_PROXY", dead), ("NO_PROXY", "localhost")],
            "--route both: NO_PROXY exempts localhost from the proxy http://127.0.0.1:9/ \
             (HTTPS_PROXY), so only direct applies",
        ),
        (
            vec![url, "--route", "both"],
            vec![("https_proxy", dead), ("no_proxy", ".localhost,localhost")],
            // Windows variable names are case-insensitive: the lower-case forms are found by
            // the upper-case names, which are asked first.
            if cfg!(windows) {
                "NO_PROXY exempts localhost from the proxy http://127.0.0.1:9/ (HTTPS_PROXY)"
            } else {
                "no_proxy exempts localhost from the proxy http://127.0.0.1:9/ (https_proxy)"
            },
        ),
        (
            vec![url, "--route", "proxy", "--no-proxy"],
            vec![("HTTPS_PROXY", dead)],
            "--no-proxy leaves no proxy to probe through",
        ),
        (vec!["--proxy", dead], vec![], "--proxy needs a URL"),
        (vec!["--route", "both"], vec![], "the embedded server"),
        (
            vec![url, "--proxy", dead, "--no-proxy"],
            vec![],
            "--no-proxy",
        ),
        (
            vec![url, "--proxy", "socks4://me:hunter2@proxy.test:1080"],
            vec![],
            "error: --proxy socks4://***@proxy.test:1080",
        ),
        (vec![url, "--family", "5"], vec![], "5"),
        (vec![url, "--route", "sideways"], vec![], "sideways"),
    ] {
        let out = probe_env(&args, &vars);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!err.contains("hunter2"), "{err}");
        assert!(out.stdout.is_empty());
    }
}

/// NO_PROXY exempting the host: direct only, and the header and JSON say why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_proxy_goes_direct_and_says_so() {
    let server = TestServer::start().await.unwrap();
    let ca = CaFile::new(&server);
    let dead = dead_url();
    let vars = || {
        vec![
            ("HTTPS_PROXY".to_owned(), dead.clone()),
            ("NO_PROXY".to_owned(), "localhost".to_owned()),
        ]
    };
    let args = local_args(server.addr().port(), &ca);
    let out = probe_env_async(args.clone(), vars()).await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(
        text.contains(&format!(
            "proxy: none for localhost: NO_PROXY exempts it from {dead}/ (HTTPS_PROXY)"
        )),
        "{text}"
    );
    assert!(text.contains("routes: direct\n"), "{text}");
    let mut json_args = args;
    json_args.push("--json".into());
    let doc = json(&probe_env_async(json_args, vars()).await);
    assert_schema(&doc);
    assert_eq!(doc["no_proxy_matched"], true);
    assert_eq!(doc["proxy"], format!("{dead}/"));
    assert_eq!(doc["routes"], serde_json::json!(["direct"]));

    // --route direct with a proxy that applies: the proxy is named, not probed.
    let mut args = local_args(server.addr().port(), &ca);
    args.extend(["--route".to_owned(), "direct".into()]);
    let out = probe_env_async(args, vec![("HTTPS_PROXY".into(), dead.clone())]).await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("routes: direct only (--route direct: the proxy is not probed)"),
        "{text}"
    );
}

/// A port nothing listens on, as a proxy URL.
fn dead_url() -> String {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    url
}

/// A name with an IPv4 and an IPv6 address (loopback both): a row per family, direct. Where
/// this machine has no IPv6 loopback, the IPv6 row fails, and the verdict says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_with_both_families_gets_a_row_per_family() {
    let ipv6 = TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok();
    let any: IpAddr = if ipv6 {
        Ipv6Addr::UNSPECIFIED.into()
    } else {
        Ipv4Addr::LOCALHOST.into()
    };
    let server = TestServer::builder().ip(any).start().await.unwrap();
    let ca = CaFile::new(&server);
    let port = server.addr().port();
    let out = probe_async(family_args(port, &ca, false)).await;
    let text = stdout(&out);
    println!("{text}");
    assert!(
        text.contains(
            "families: localhost has IPv4 and IPv6 addresses (127.0.0.1, ::1): after-handshake \
             also tried"
        ),
        "{text}"
    );
    assert!(
        text.contains("direct, one address family at a time:"),
        "{text}"
    );
    assert!(
        row(&text, "after-handshake IPv4").contains("200 HTTP/2"),
        "{text}"
    );
    for line in text.lines().filter(|l| !l.starts_with("verdict:")) {
        assert!(line.chars().count() <= 100, "too wide: {line:?}");
    }
    if ipv6 {
        assert_eq!(out.status.code(), Some(0), "{text}");
        assert!(
            row(&text, "after-handshake IPv6").contains("200 HTTP/2"),
            "{text}"
        );
        assert_eq!(verdict(&text), "verdict: every stage works");
    } else {
        println!("note: no IPv6 loopback here: the IPv6 row fails");
        assert!(
            verdict(&text).starts_with("verdict: IPv6 fails at the connect phase"),
            "{text}"
        );
    }
    let doc = json(&probe_async(family_args(port, &ca, true)).await);
    assert_schema(&doc);
    assert_eq!(
        doc["resolved_families"],
        serde_json::json!(["ipv4", "ipv6"])
    );
    let rows = doc["family_rows"].as_array().unwrap();
    let families: Vec<&Value> = rows.iter().map(|r| &r["family"]).collect();
    assert_eq!(families, ["ipv4", "ipv6"]);
    for r in rows {
        assert_eq!(r["stage"], "after-handshake");
        assert_eq!(r["route"], "direct");
    }
    assert_eq!(rows[0]["remote_addr"], format!("127.0.0.1:{port}"));

    // --family 6: every connection over IPv6 only, and no family rows.
    let mut args = family_args(port, &ca, true);
    args.extend([
        "--family".to_owned(),
        "6".into(),
        "--stage".into(),
        "off".into(),
    ]);
    let doc = json(&probe_async(args).await);
    assert_schema(&doc);
    assert_eq!(doc["family_requested"], "ipv6");
    assert!(doc["resolved_families"].is_null());
    assert_eq!(doc["family_rows"], serde_json::json!([]));
    assert_eq!(doc["stages"][0]["family"], "ipv6");
    if ipv6 {
        assert_eq!(doc["stages"][0]["remote_addr"], format!("[::1]:{port}"));
    }
}

fn family_args(port: u16, ca: &CaFile, json: bool) -> Vec<String> {
    let mut args = vec![
        format!("https://localhost:{port}/"),
        "--resolve".into(),
        format!("localhost:{port}:127.0.0.1,::1"),
        "--cacert".into(),
        ca.path(),
        "--connect-timeout".into(),
        "2".into(),
    ];
    if json {
        args.push("--json".into());
    }
    args
}

/// The document's fields, in every mode: the same keys every time, `null` where a value does
/// not apply, and the types the README gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_schema_holds_in_every_mode() {
    // Default, --repeat, one stage: the embedded server.
    for args in [
        vec!["--json"],
        vec!["--json", "--repeat", "2"],
        vec!["--json", "--stage", "off"],
    ] {
        let doc = json(&probe(&args));
        assert_schema(&doc);
        if args.contains(&"off") {
            assert!(doc["recommended_stage"].is_null(), "one mode: {doc}");
            assert!(doc["recommended_route"].is_null());
        }
    }
    // Failing stages: a refused port.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = probe(&[&format!("https://127.0.0.1:{port}/"), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let doc = json(&out);
    assert_schema(&doc);
    assert!(doc["recommended_stage"].is_null());
    // Proxy and direct, and family rows: in the tests above, which check the schema too.
}

/// Every key of the document and of each row, exactly, with their types.
fn assert_schema(doc: &Value) {
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().expect("an object").keys().cloned().collect();
        k.sort();
        k
    };
    let sorted = |k: &[&str]| {
        let mut k: Vec<String> = k.iter().map(|s| (*s).to_owned()).collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(doc),
        sorted(&[
            "url",
            "method",
            "embedded_server",
            "repeat",
            "keepalive_requested",
            "trust",
            "proxy",
            "proxy_source",
            "no_proxy_matched",
            "routes",
            "family_requested",
            "resolved_families",
            "stages",
            "family_rows",
            "verdict",
            "recommended_stage",
            "recommended_route",
            "ok",
        ]),
        "{doc}"
    );
    let string_or_null = |v: &Value| v.is_string() || v.is_null();
    assert!(doc["url"].is_string() && doc["method"].is_string());
    assert!(doc["embedded_server"].is_boolean() && doc["ok"].is_boolean());
    assert!(doc["repeat"].is_u64());
    assert!(string_or_null(&doc["proxy"]) && string_or_null(&doc["proxy_source"]));
    assert_eq!(
        doc["proxy"].is_null(),
        doc["proxy_source"].is_null(),
        "{doc}"
    );
    assert!(doc["no_proxy_matched"].is_boolean());
    assert!(doc["routes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r == "proxy" || r == "direct"));
    assert!(["both", "ipv4", "ipv6"].contains(&doc["family_requested"].as_str().unwrap()));
    assert!(doc["resolved_families"].is_null() || doc["resolved_families"].is_array());
    assert!(doc["verdict"].is_string());
    assert!(string_or_null(&doc["recommended_stage"]));
    assert!(["proxy", "direct"].contains(&doc["recommended_route"].as_str().unwrap_or("proxy")));
    assert_eq!(
        doc["recommended_stage"].is_null(),
        doc["recommended_route"].is_null()
    );
    assert_eq!(
        keys(&doc["keepalive_requested"]),
        sorted(&KEEPALIVE_REQUESTED)
    );
    let trust = &doc["trust"];
    assert_eq!(
        keys(trust),
        sorted(&["requested", "in_force", "added_roots", "fallback_reason"])
    );
    let trusts = ["platform", "webpki-roots", "added-roots-only"];
    assert!(
        trusts.contains(&trust["requested"].as_str().unwrap()),
        "{trust}"
    );
    assert!(
        trusts.contains(&trust["in_force"].as_str().unwrap()),
        "{trust}"
    );
    assert!(trust["added_roots"].is_u64() && string_or_null(&trust["fallback_reason"]));
    assert_eq!(
        trust["fallback_reason"].is_null(),
        trust["requested"] == trust["in_force"],
        "{trust}"
    );
    let rows = doc["stages"]
        .as_array()
        .unwrap()
        .iter()
        .chain(doc["family_rows"].as_array().unwrap());
    for r in rows {
        assert_eq!(
            keys(r),
            sorted(&[
                "stage",
                "route",
                "proxy",
                "family",
                "ok",
                "attempts",
                "ok_attempts",
                "status",
                "http_version",
                "error",
                "timings_ms",
                "remote_addr",
                "local_addr",
                "tls_version",
                "alpn",
                "keepalive",
                "response_headers",
                "body_bytes",
                "body_error",
                "percentiles_ms",
            ]),
            "{r}"
        );
        assert!(STAGES.contains(&r["stage"].as_str().unwrap()));
        assert!(r["route"] == "proxy" || r["route"] == "direct");
        assert_eq!(r["proxy"].is_string(), r["route"] == "proxy", "{r}");
        assert!(r["family"].is_null() || r["family"] == "ipv4" || r["family"] == "ipv6");
        assert!(r["ok"].is_boolean() && r["attempts"].is_u64() && r["ok_attempts"].is_u64());
        assert_eq!(keys(&r["timings_ms"]), sorted(&PHASES));
        if !r["error"].is_null() {
            assert_eq!(
                keys(&r["error"]),
                sorted(&["phase", "cause", "message", "timeout", "addr"])
            );
        }
        assert_eq!(r["error"].is_null(), r["ok"] == true, "{r}");
        if !r["keepalive"].is_null() {
            assert_eq!(keys(&r["keepalive"]), sorted(&KEEPALIVE_ON_SOCKET));
        }
        match &r["percentiles_ms"] {
            Value::Null => {}
            p => {
                assert_eq!(keys(p), sorted(&["p50", "p90", "p99"]));
                for pct in ["p50", "p90", "p99"] {
                    assert_eq!(keys(&p[pct]), sorted(&PHASES));
                }
            }
        }
        for key in ["status", "body_bytes"] {
            assert!(r[key].is_null() || r[key].is_u64(), "{key}: {r}");
        }
        for key in [
            "http_version",
            "remote_addr",
            "local_addr",
            "tls_version",
            "alpn",
            "body_error",
        ] {
            assert!(string_or_null(&r[key]), "{key}: {r}");
        }
        assert!(r["response_headers"].is_null() || r["response_headers"].is_object());
    }
}

const KEEPALIVE_REQUESTED: [&str; 4] = ["idle_s", "interval_s", "retries", "retries_chosen"];
/// Each value, and where it comes from (`kernel`, `as-set`, `os`).
const KEEPALIVE_ON_SOCKET: [&str; 6] = [
    "idle_s",
    "idle_source",
    "interval_s",
    "interval_source",
    "retries",
    "retries_source",
];
const PHASES: [&str; 5] = ["dns", "connect", "tls", "ttfb", "total"];
