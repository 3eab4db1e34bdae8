//! The `keepalive-probe` binary, run as a user would, against loopback only: the embedded
//! server, local test servers with fault plans, and a refused port.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Command, Output};

use keepalive_connector::{Availability, Keepalive};
use keepalive_testserver::child_env::PROXY_VARS;
use keepalive_testserver::external::{require, Tinyproxy};
use keepalive_testserver::{under_wine, Behavior, TestServer};
use serde_json::Value;

// More tests of this binary, by area, in `tests/cli/` (one binary keeps link time down).
#[path = "cli/idle.rs"]
mod idle;
#[path = "cli/input.rs"]
mod input;
#[path = "cli/netns.rs"]
mod netns;
#[path = "cli/routes.rs"]
mod routes;

const STAGES: [&str; 4] = ["before-connect", "after-connect", "after-handshake", "off"];

/// Runs the probe with `args`; the output is what a user would see.
fn probe(args: &[&str]) -> Output {
    probe_env(args, &[])
}

/// Runs the probe with `args` and, of the proxy variables, only `vars`.
fn probe_env(args: &[&str], vars: &[(&str, &str)]) -> Output {
    probe_without(args, &[], vars)
}

/// Runs the probe with `args`, without the proxy variables nor those in `removed`, with
/// `vars`.
fn probe_without(args: &[&str], removed: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keepalive-probe"));
    cmd.args(args).env_remove("RUST_LOG");
    for var in PROXY_VARS.iter().chain(removed) {
        cmd.env_remove(var);
    }
    cmd.envs(vars.iter().copied())
        .output()
        .expect("the probe binary runs")
}

/// Runs the probe on a blocking thread, so a test server on the test's runtime keeps serving.
async fn probe_async(args: Vec<String>) -> Output {
    probe_env_async(args, Vec::new()).await
}

/// [`probe_env`] on a blocking thread.
async fn probe_env_async(args: Vec<String>, vars: Vec<(String, String)>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        probe_env(&args, &vars)
    })
    .await
    .expect("the probe thread finishes")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is one JSON document ({e}):\n{}", stdout(out)))
}

/// The server's CA in a file for `--cacert`, removed on drop.
struct CaFile(PathBuf);

impl CaFile {
    fn new(server: &TestServer) -> CaFile {
        let path = std::env::temp_dir().join(format!(
            "keepalive-probe-test-{}-{}.pem",
            std::process::id(),
            server.addr().port()
        ));
        std::fs::write(&path, server.ca_pem()).expect("the temp dir is writable");
        CaFile(path)
    }

    fn path(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for CaFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `https://localhost:PORT/`, resolved to 127.0.0.1 and trusting the server's CA only.
fn local_args(port: u16, ca: &CaFile) -> Vec<String> {
    vec![
        format!("https://localhost:{port}/"),
        "--resolve".into(),
        format!("localhost:{port}:127.0.0.1"),
        "--cacert".into(),
        ca.path(),
    ]
}

/// The line of the timings table for `stage` (the first line starting with its name).
fn row<'a>(text: &'a str, stage: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(&format!("{stage} ")))
        .unwrap_or_else(|| panic!("no row for {stage}:\n{text}"))
}

/// How the probe words a peer's RST: `connection reset by peer`, except under Wine, which hands
/// a RST to a read as end of file (Windows itself reports WSAECONNRESET).
fn reset_words() -> &'static str {
    if under_wine() {
        println!(
            "SKIPPED: the words \"connection reset by peer\" under Wine: Wine 8 hands a peer's \
             RST to a read as end of file, not WSAECONNRESET as Windows does"
        );
        "connection closed by peer"
    } else {
        "connection reset by peer"
    }
}

fn verdict(text: &str) -> &str {
    text.lines()
        .find(|l| l.starts_with("verdict: "))
        .unwrap_or_else(|| panic!("no verdict line:\n{text}"))
}

#[test]
fn embedded_mode_probes_every_stage_and_exits_0() {
    let out = probe(&[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(
        text.contains("embedded local HTTPS server on 127.0.0.1:"),
        "{text}"
    );
    for stage in STAGES {
        assert!(row(&text, stage).contains("200 HTTP/2"), "{text}");
    }
    assert_eq!(verdict(&text), "verdict: every stage works");
    assert!(
        !text.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
    for line in text.lines().filter(|l| !l.starts_with("verdict:")) {
        assert!(
            line.chars().count() <= 100,
            "wider than 100 columns: {line:?}"
        );
    }
    // stderr is not a terminal: no progress bar, and nothing else either.
    assert_eq!(stderr(&out), "");
}

#[test]
fn json_carries_every_field_for_every_stage() {
    // A chosen count fails where the OS refuses TCP_KEEPCNT (see the next test): ask for one
    // only where every version of the OS takes it.
    let count_settable = Keepalive::platform_support().retries().set() == Availability::Yes;
    let mut args = vec![
        "--json",
        "--keepalive-idle",
        "7",
        "--keepalive-interval",
        "3",
    ];
    if count_settable {
        args.extend(["--keepalive-retries", "4"]);
    }
    let out = probe(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["embedded_server"], true);
    assert_eq!(doc["method"], "GET");
    assert_eq!(doc["repeat"], 1);
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["verdict"], "every stage works");
    assert_eq!(doc["recommended_stage"], "after-handshake");
    let url = doc["url"].as_str().unwrap();
    assert!(url.starts_with("https://localhost:"), "{url}");
    let stages = doc["stages"].as_array().unwrap();
    let names: Vec<&str> = stages
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(names, STAGES);
    for s in stages {
        let stage = s["stage"].as_str().unwrap();
        assert_eq!(s["ok"], true, "{stage}");
        assert_eq!(s["attempts"], 1);
        assert_eq!(s["ok_attempts"], 1);
        assert_eq!(s["status"], 200);
        assert_eq!(s["http_version"], "HTTP/2");
        assert!(s["error"].is_null());
        for phase in ["dns", "connect", "tls", "ttfb", "total"] {
            assert!(
                s["timings_ms"][phase].as_f64().is_some(),
                "{stage} {phase}: {s}"
            );
        }
        let remote: SocketAddr = s["remote_addr"].as_str().unwrap().parse().unwrap();
        assert_eq!(remote.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert!(s["local_addr"]
            .as_str()
            .unwrap()
            .parse::<SocketAddr>()
            .is_ok());
        assert!(s["tls_version"].as_str().unwrap().starts_with("TLSv1_"));
        assert_eq!(s["alpn"], "h2");
        assert_eq!(s["response_headers"]["x-sni"], "localhost");
        assert_eq!(s["body_bytes"].as_u64(), Some(32));
        assert!(s["body_error"].is_null());
        assert!(s["percentiles_ms"].is_null());
        if stage == "off" {
            assert!(
                s["keepalive"].is_null(),
                "off leaves SO_KEEPALIVE unset: {s}"
            );
        } else {
            // Read back from the kernel, so these are what the socket really holds, except
            // where this OS cannot report a value (then it says so).
            let ka = &s["keepalive"];
            assert_eq!(ka["idle_s"], 7, "{stage}");
            assert_eq!(ka["interval_s"], 3, "{stage}");
            for (value, support) in [
                ("idle_source", Keepalive::platform_support().idle()),
                ("interval_source", Keepalive::platform_support().interval()),
            ] {
                if support.read_back() == Availability::Yes {
                    assert_eq!(ka[value], "kernel", "{stage}: {ka}");
                } else {
                    assert!(
                        ka[value] == "kernel" || ka[value] == "as-set",
                        "{stage}: {ka}"
                    );
                }
            }
            if count_settable {
                assert_eq!(
                    (&ka["retries"], &ka["retries_source"]),
                    (&4.into(), &"kernel".into())
                );
            } else {
                // The default count: the kernel's 3 where the OS takes TCP_KEEPCNT, else the
                // OS's own, which it does not report.
                let seen = (&ka["retries"], ka["retries_source"].as_str().unwrap());
                assert!(
                    seen == (&3.into(), "kernel") || seen == (&Value::Null, "os"),
                    "{stage}: {ka}"
                );
            }
        }
    }
    assert_eq!(doc["keepalive_requested"]["retries_chosen"], count_settable);
}

/// `--keepalive-retries` where the OS refuses TCP_KEEPCNT (Windows before 10 1703, Wine):
/// every keepalive stage fails at the socket phase naming it, and the verdict does not blame
/// the host. Where the OS takes it, the count is read back.
#[test]
fn a_count_the_os_refuses_fails_locally_and_says_so() {
    let out = probe(&[
        "--keepalive-retries",
        "4",
        "--stage",
        "after-handshake",
        "--json",
    ]);
    let doc = json(&out);
    let stage = &doc["stages"][0];
    if doc["ok"] == true {
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(stage["keepalive"]["retries"], 4, "{stage}");
        assert_eq!(stage["keepalive"]["retries_source"], "kernel", "{stage}");
        println!(
            "SKIPPED: the refusal needs an OS without TCP_KEEPCNT ({} has it; the branch runs \
             under Wine)",
            std::env::consts::OS
        );
        return;
    }
    assert_ne!(
        Keepalive::platform_support().retries().set(),
        Availability::Yes,
        "this OS always takes TCP_KEEPCNT: {doc}"
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stage["error"]["phase"], "socket", "{stage}");
    assert_eq!(stage["error"]["cause"], "OS lacks TCP_KEEPCNT", "{stage}");
    let verdict = doc["verdict"].as_str().unwrap();
    assert!(
        verdict.contains("a socket option failed on this machine"),
        "{verdict}"
    );
    // Without the option, the OS's own count is used and the stage works.
    let out = probe(&["--stage", "after-handshake", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let ka = &json(&out)["stages"][0]["keepalive"];
    assert_eq!(
        (&ka["retries"], &ka["retries_source"]),
        (&Value::Null, &"os".into())
    );
}

#[test]
fn repeat_reports_percentiles() {
    let out = probe(&["--repeat", "3", "--stage", "after-connect", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc = json(&out);
    let stage = &doc["stages"][0];
    assert_eq!(stage["attempts"], 3);
    assert_eq!(stage["ok_attempts"], 3);
    for pct in ["p50", "p90", "p99"] {
        for phase in ["dns", "connect", "tls", "ttfb", "total"] {
            assert!(stage["percentiles_ms"][pct][phase].as_f64().is_some());
        }
    }
    let out = probe(&["--repeat", "2", "--stage", "off"]);
    let text = stdout(&out);
    assert!(
        text.contains("percentiles in ms over 2 connections"),
        "{text}"
    );
    assert!(row(&text, "off").contains("200 HTTP/2 (2/2)"), "{text}");
    assert_eq!(
        stderr(&out),
        "",
        "no progress bar when stderr is not a terminal"
    );
}

#[test]
fn a_refused_port_exits_1_naming_the_connect_phase() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
        // dropped: nothing listens there any more
    };
    let url = format!("https://127.0.0.1:{port}/");
    let out = probe(&[&url]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for stage in STAGES {
        assert!(
            row(&text, stage).contains("failed at connect: connection refused"),
            "{text}"
        );
    }
    assert!(
        verdict(&text).contains("fails at the connect phase (connection refused)"),
        "{text}"
    );

    let out = probe(&[&url, "--json", "--stage", "after-handshake"]);
    assert_eq!(out.status.code(), Some(1));
    let doc = json(&out);
    let error = &doc["stages"][0]["error"];
    assert_eq!(error["phase"], "connect");
    assert_eq!(error["cause"], "connection refused");
    assert_eq!(error["timeout"], false);
    assert_eq!(error["addr"], format!("127.0.0.1:{port}"));
    assert_eq!(doc["ok"], false);
}

#[test]
fn usage_errors_exit_2_with_one_line_naming_the_value() {
    for (args, named) in [
        (vec!["not-a-url"], "not-a-url"),
        (vec!["ftp://example.com/"], "ftp"),
        (vec!["--keepalive-idle", "0.5"], "--keepalive-idle 0.5"),
        (
            vec!["--keepalive-interval", "2.5"],
            "--keepalive-interval 2.5",
        ),
        (vec!["--keepalive-idle", "soon"], "soon"),
        (vec!["--stage", "sometimes"], "sometimes"),
        (
            vec!["--resolve", "localhost:x:127.0.0.1"],
            "localhost:x:127.0.0.1",
        ),
        (vec!["--repeat", "0"], "0"),
        (vec!["--trust", "system"], "system"),
        (
            vec!["--trust", "added-roots-only"],
            "--trust added-roots-only",
        ),
    ] {
        let out = probe(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(named), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

/// Every number a user can type either works or is a usage error: never a panic (exit 101).
#[test]
fn huge_numbers_never_panic() {
    let huge = "10000000000000000000";
    let max = "18446744073709551615.999999999";
    for (flag, value) in [
        ("--request-timeout", huge),
        ("--request-timeout", max),
        ("--connect-timeout", huge),
        ("--connect-timeout", max),
        ("--handshake-timeout", huge),
        ("--handshake-timeout", max),
    ] {
        let out = probe(&["--stage", "off", flag, value]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{flag} {value}: a huge timeout means no deadline: {}",
            stderr(&out)
        );
    }
    for (flag, value) in [
        ("--keepalive-idle", huge),
        ("--keepalive-interval", max),
        ("--keepalive-retries", "4294967295"),
        ("--keepalive-retries", "4294967296"),
        ("--repeat", "4294967296"),
        ("--request-timeout", "18446744073709551616"),
    ] {
        let out = probe(&["--stage", "off", flag, value]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {err}");
        assert_eq!(err.lines().count(), 1, "{flag} {value}: {err}");
        assert!(err.contains(value), "{flag} {value}: {err}");
    }
}

#[test]
fn help_and_version() {
    let out = probe(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = stdout(&out);
    for needle in [
        "Examples:",
        "--resolve",
        "--keepalive-idle",
        "--trust",
        "Exit status:",
    ] {
        assert!(help.contains(needle), "{needle}");
    }
    let out = probe(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out).trim(),
        concat!("keepalive-probe ", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn verbose_traces_the_connector_on_stderr() {
    let out = probe(&["-v", "--stage", "off"]);
    assert_eq!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(err.contains("keepalive_connector"), "{err}");
    assert!(err.contains("tls handshake done"), "{err}");
    assert!(
        stdout(&out).contains("verdict: "),
        "stdout keeps the report"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolve_connects_to_the_given_address_with_the_original_name() {
    // 127.0.0.2: "localhost" does not resolve there, so only --resolve can lead the probe to it.
    let server = TestServer::builder()
        .ip(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)))
        .start()
        .await
        .unwrap();
    let ca = CaFile::new(&server);
    let port = server.addr().port();
    for http in ["--http2", "--http1"] {
        let out = probe_async(vec![
            format!("https://localhost:{port}/"),
            "--resolve".into(),
            format!("localhost:{port}:127.0.0.2"),
            "--cacert".into(),
            ca.path(),
            "--stage".into(),
            "after-handshake".into(),
            http.into(),
            "-H".into(),
            "x-probe-test: 1".into(),
            "--json".into(),
        ])
        .await;
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let doc = json(&out);
        let stage = &doc["stages"][0];
        assert_eq!(stage["remote_addr"], format!("127.0.0.2:{port}"), "{http}");
        assert_eq!(stage["response_headers"]["x-sni"], "localhost", "{http}");
        assert_eq!(
            stage["response_headers"]["x-host"],
            format!("localhost:{port}"),
            "{http}"
        );
        let (alpn, version) = if http == "--http2" {
            ("h2", "HTTP/2")
        } else {
            ("http/1.1", "HTTP/1.1")
        };
        assert_eq!(stage["alpn"], alpn);
        assert_eq!(stage["http_version"], version);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handshake_reset_for_one_stage_gives_a_verdict_naming_the_working_stage() {
    // Stages connect in a fixed order, so connection 0 is before-connect.
    let plan = |i: usize| {
        if i == 0 {
            Behavior::ResetAfterClientHello
        } else {
            Behavior::Serve
        }
    };
    let server = TestServer::builder().plan(plan).start().await.unwrap();
    let ca = CaFile::new(&server);
    let port = server.addr().port();
    let out = probe_async(local_args(port, &ca)).await;
    let text = stdout(&out);
    // Shown with --nocapture: the README's sample of a failing stage comes from here.
    println!("{text}");
    let cause = reset_words();
    assert_eq!(out.status.code(), Some(1), "a stage failed: {text}");
    assert!(
        row(&text, "before-connect").contains(&format!("failed at tls: {cause}")),
        "{text}"
    );
    for stage in ["after-connect", "after-handshake", "off"] {
        assert!(row(&text, stage).contains("200 HTTP/2"), "{text}");
    }
    assert_eq!(
        verdict(&text),
        format!(
            "verdict: keepalive before connect (before-connect) fails at the tls phase ({cause}); \
             after-connect, after-handshake and off work — use Stage::AfterHandshake for this \
             host (1 connection per stage: rerun with --repeat 10 to confirm)"
        )
    );
    assert_eq!(server.accepted(), 4);

    // A second server with the same plan, for the JSON document.
    let server = TestServer::builder().plan(plan).start().await.unwrap();
    let ca = CaFile::new(&server);
    let port = server.addr().port();
    let mut args = local_args(port, &ca);
    args.push("--json".into());
    let out = probe_async(args).await;
    assert_eq!(out.status.code(), Some(1));
    let doc = json(&out);
    assert_eq!(doc["recommended_stage"], "after-handshake");
    let first = &doc["stages"][0];
    assert_eq!(first["ok"], false);
    assert_eq!(first["error"]["phase"], "tls");
    assert_eq!(first["error"]["cause"], cause);
    assert_eq!(first["error"]["addr"], format!("127.0.0.1:{port}"));
    assert!(first["status"].is_null());
    for s in &doc["stages"].as_array().unwrap()[1..] {
        assert_eq!(s["ok"], true);
        assert_eq!(s["status"], 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_handshake_times_out_in_the_tls_phase() {
    let server = TestServer::builder()
        .behavior(Behavior::StallAfterClientHello)
        .start()
        .await
        .unwrap();
    let ca = CaFile::new(&server);
    let mut args = local_args(server.addr().port(), &ca);
    args.extend(
        [
            "--stage",
            "after-connect",
            "--handshake-timeout",
            "1",
            "--json",
        ]
        .map(String::from),
    );
    let out = probe_async(args).await;
    assert_eq!(out.status.code(), Some(1));
    let doc = json(&out);
    let error = &doc["stages"][0]["error"];
    assert_eq!(error["phase"], "tls");
    assert_eq!(error["timeout"], true);
    assert_eq!(error["cause"], "timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_works_too() {
    let server = TestServer::builder().plain().start().await.unwrap();
    let out = probe_async(vec![server.url("/status/503"), "--json".into()]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "a 503 still means the connection worked"
    );
    let doc = json(&out);
    for s in doc["stages"].as_array().unwrap() {
        assert_eq!(s["status"], 503);
        assert_eq!(s["http_version"], "HTTP/1.1");
        assert!(s["tls_version"].is_null());
        assert!(s["alpn"].is_null());
        assert!(s["timings_ms"]["tls"].is_null());
        assert!(
            s["timings_ms"]["dns"].is_null(),
            "an IP literal needs no DNS"
        );
    }
    assert_eq!(doc["verdict"], "every stage works");
}

/// The route the environment chose is kept: with `HTTPS_PROXY` set, every stage of the proxy
/// route goes through the proxy (tinyproxy logs one CONNECT per stage), and the direct route's
/// do not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_proxy_is_followed_at_every_stage() {
    let Some(tinyproxy) = require(Tinyproxy::start(None), "probe through HTTPS_PROXY") else {
        return;
    };
    let server = TestServer::start().await.unwrap();
    let ca = CaFile::new(&server);
    let args = vec![
        server.url("/"),
        "--cacert".into(),
        ca.path(),
        "--json".into(),
    ];
    let out = probe_env_async(args, vec![("HTTPS_PROXY".into(), tinyproxy.url())]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let want = format!("CONNECT 127.0.0.1:{} HTTP/1.1", server.addr().port());
    let connects = tinyproxy.requests().iter().filter(|r| **r == want).count();
    assert_eq!(
        connects,
        STAGES.len(),
        "one CONNECT per stage: {:?}",
        tinyproxy.requests()
    );
    // Then the same stages direct, for comparison.
    let doc = json(&out);
    assert_eq!(doc["routes"], serde_json::json!(["proxy", "direct"]));
    assert_eq!(doc["proxy_source"], "HTTPS_PROXY");
    let routes: Vec<&str> = doc["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["route"].as_str().unwrap())
        .collect();
    assert_eq!(
        routes,
        ["proxy"; 4]
            .iter()
            .chain(&["direct"; 4])
            .copied()
            .collect::<Vec<_>>()
    );
    assert_eq!(server.accepted(), 2 * STAGES.len());
}

/// The embedded server is on this host's loopback: reached directly whatever the environment's
/// proxy (here one that refuses every connection).
#[test]
fn embedded_mode_goes_direct_whatever_the_environment_proxy() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let out = probe_env(&[], &[("HTTPS_PROXY", &dead), ("HTTP_PROXY", &dead)]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
}

/// A proxy variable this crate cannot use is a usage error naming it, without its password.
#[test]
fn an_unusable_proxy_variable_is_a_usage_error() {
    let out = probe_env(
        &["https://example.com/"],
        &[("HTTPS_PROXY", "socks4://me:hunter2@proxy.test:1080")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("HTTPS_PROXY=socks4://***@proxy.test:1080"),
        "{err}"
    );
    assert!(err.contains("unsupported proxy scheme"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

/// `--cacert` alone keeps curl's meaning (that file only), and the embedded server's run is
/// trusted alone unless `--trust` is given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cacert_alone_trusts_only_that_file() {
    let server = TestServer::start().await.unwrap();
    let ca = CaFile::new(&server);
    let mut args = local_args(server.addr().port(), &ca);
    args.extend(["--stage".into(), "off".into(), "--json".into()]);
    let out = probe_async(args).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["trust"]["requested"], "added-roots-only");
    assert_eq!(doc["trust"]["in_force"], "added-roots-only");
    assert_eq!(doc["trust"]["added_roots"], 1);

    let text = stdout(&probe(&["--stage", "off"]));
    assert!(
        text.contains("\ntrust: added-roots-only (1 root)\n"),
        "{text}"
    );
    let text = stdout(&probe(&["--stage", "off", "--trust", "webpki"]));
    assert!(
        text.contains("\ntrust: webpki-roots + 1 added root\n"),
        "{text}"
    );
}

/// The system's CA store, where rustls-native-certs reads it (`SSL_CERT_FILE`, `SSL_CERT_DIR`:
/// Linux and the BSDs; elsewhere the OS verifies and these variables mean nothing).
#[cfg(all(unix, not(target_os = "android"), not(target_vendor = "apple")))]
mod system_store {
    use super::*;

    /// What the system's CA store is read from (Linux, the BSDs); removed where a test sets it.
    const STORE_VARS: &[&str] = &["SSL_CERT_FILE", "SSL_CERT_DIR"];

    /// [`probe_without`] the store variables, on a blocking thread.
    async fn probe_store_async(args: Vec<String>, store: Vec<(&'static str, String)>) -> Output {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let vars: Vec<(&str, &str)> = store.iter().map(|(k, v)| (*k, v.as_str())).collect();
            probe_without(&args, STORE_VARS, &vars)
        })
        .await
        .expect("the probe thread finishes")
    }

    /// `--trust platform` (the default) trusts a private CA in the bundle `SSL_CERT_FILE` names,
    /// `--trust webpki` does not, and the report says which trust was used; `--cacert` on top of
    /// `--trust webpki` adds its CA.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn trust_platform_follows_ssl_cert_file_and_webpki_does_not() {
        let server = TestServer::start().await.unwrap();
        let ca = CaFile::new(&server);
        let port = server.addr().port();
        let store = || vec![("SSL_CERT_FILE", ca.path())];
        let args = |extra: &[&str]| {
            let mut args = vec![
                format!("https://localhost:{port}/"),
                "--resolve".into(),
                format!("localhost:{port}:127.0.0.1"),
                "--stage".into(),
                "after-handshake".into(),
            ];
            args.extend(extra.iter().map(|a| a.to_string()));
            args
        };
        for trust in [&["--trust", "platform"][..], &[]] {
            let out = probe_store_async(args(trust), store()).await;
            let text = stdout(&out);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{trust:?}: {text}{}",
                stderr(&out)
            );
            assert!(text.contains("\ntrust: platform\n"), "{text}");
        }

        let out = probe_store_async(args(&["--trust", "webpki", "--json"]), store()).await;
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let doc = json(&out);
        assert_eq!(doc["trust"]["requested"], "webpki-roots");
        assert_eq!(doc["trust"]["in_force"], "webpki-roots");
        assert!(doc["trust"]["fallback_reason"].is_null());
        let error = &doc["stages"][0]["error"];
        assert_eq!(error["phase"], "tls", "{error}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains("UnknownIssuer"), "{message}");

        let cacert = ca.path();
        let out = probe_store_async(
            args(&["--trust", "webpki", "--cacert", &cacert, "--json"]),
            store(),
        )
        .await;
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let doc = json(&out);
        assert_eq!(doc["trust"]["in_force"], "webpki-roots");
        assert_eq!(doc["trust"]["added_roots"], 1);
    }

    /// A store that `SSL_CERT_FILE` and `SSL_CERT_DIR` name and that holds nothing (the bundle
    /// missing, the directory empty) is a usage error naming the variable, not a fallback to
    /// webpki-roots (issue 19: set, they narrow trust on purpose). The fallback itself, with
    /// neither set and no store, is tested in the library's `tests/trust_env.rs`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_empty_store_named_by_ssl_cert_file_is_an_error() {
        let empty =
            std::env::temp_dir().join(format!("keepalive-probe-empty-{}", std::process::id()));
        std::fs::create_dir_all(&empty).unwrap();
        let store = vec![
            (
                "SSL_CERT_FILE",
                empty.join("missing.pem").display().to_string(),
            ),
            ("SSL_CERT_DIR", empty.display().to_string()),
        ];
        let args = ["--trust", "platform", "--stage", "off"].map(String::from);
        let out = probe_store_async(args.to_vec(), store).await;
        let _ = std::fs::remove_dir_all(&empty);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{}{err}", stdout(&out));
        assert!(err.contains("error: invalid SSL_CERT_FILE = "), "{err}");
        assert!(err.contains("missing.pem"), "{err}");
    }
}
