//! `--idle [MAX]` against real things: a NAT router in network namespaces that forgets idle
//! flows after 7 s (`keepalive_testserver::nat`), nginx closing idle keep-alive connections
//! with and without announcing it, nginx's HTTP/2 GOAWAY on idle, and Ctrl-C.
//!
//! nginx and the namespaces need Debian's nginx and root; without them a test prints a loud
//! `SKIPPED:` line and passes, except under `CI=true`, where it fails.

use std::process::{Command, Output, Stdio};

use keepalive_testserver::child_env::PROXY_VARS;
use keepalive_testserver::external::require;
use keepalive_testserver::nginx::Nginx;
use keepalive_testserver::TestCa;
use serde_json::Value;

use super::{json, probe, stderr, stdout};

/// The probe with `args`, started at once; after `prefix` (`ip netns exec NS`) when given.
fn run(prefix: Option<Command>, args: &[String]) -> std::process::Child {
    let binary = env!("CARGO_BIN_EXE_keepalive-probe");
    let mut cmd = match prefix {
        Some(mut cmd) => {
            cmd.arg(binary);
            cmd
        }
        None => Command::new(binary),
    };
    cmd.args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in PROXY_VARS {
        cmd.env_remove(var);
    }
    cmd.spawn().expect("the probe binary runs")
}

fn idle(doc: &Value) -> &Value {
    &doc["idle"]
}

fn secs(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn idle_values_that_make_no_sense_are_usage_errors() {
    for (args, named) in [
        (
            vec!["--idle", "0"],
            "--idle 0: expected a number of seconds from 1 to 3600",
        ),
        (vec!["--idle", "3601"], "--idle 3601: expected"),
        (vec!["--idle", "soon"], "--idle soon: expected"),
        (vec!["--idle", "1e3"], "--idle 1e3: expected"),
        (vec!["--idle", "https://example.com/"], "--idle 120 URL"),
        (
            vec!["--idle", "10", "--repeat", "2"],
            "--idle with --repeat",
        ),
        (
            vec!["--idle", "10", "--stage", "off"],
            "--idle with --stage off",
        ),
    ] {
        let out = probe(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(named), "{args:?}: {err}");
    }
    let out = probe(&["--idle", "0", "--json"]);
    assert_eq!(json(&out)["error"]["kind"], "usage");
}

/// The embedded server never closes an idle connection and nothing on loopback forgets one:
/// the honest answer on every platform (this test also runs as a Windows build under Wine).
#[test]
fn nothing_closing_within_max_is_said_so() {
    let out = probe(&["--idle", "2", "--json"]);
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(0), "{doc}");
    let i = idle(&doc);
    assert_eq!(i["server_close_s"], Value::Null, "{doc}");
    assert_eq!(i["silent_drop_after_s"], Value::Null, "{doc}");
    assert_eq!(i["keepalive_survived"], true, "{doc}");
    assert_eq!(i["watch"]["outcome"], "open", "{doc}");
    let rungs = i["rungs"].as_array().unwrap();
    assert_eq!(rungs.len(), 2, "{doc}");
    assert!(rungs.iter().all(|r| r["outcome"] == "answered"), "{doc}");
    assert!(
        doc["verdict"]
            .as_str()
            .unwrap()
            .starts_with("nothing closed an idle connection within 2 s"),
        "{doc}"
    );
}

/// nginx closes idle keep-alive connections after 5 s, once announcing it (`keepalive_timeout
/// 5s 5` sends `Keep-Alive: timeout=5`) and once not (`keepalive_timeout 5s`): both closes are
/// found at 5 s, as FIN; the path cannot be measured past them, and the pool idle timeout to
/// set is below 5 s. Without a terminal nothing is drawn on stderr.
#[test]
fn idle_finds_nginx_closes_announced_or_not() {
    let test = "idle_finds_nginx_closes_announced_or_not";
    let Some(announced) = require(
        Nginx::builder().directive("keepalive_timeout 5s 5").start(),
        test,
    ) else {
        return;
    };
    let Some(silent) = require(
        Nginx::builder().directive("keepalive_timeout 5s").start(),
        test,
    ) else {
        return;
    };
    let text_args = vec![announced.url("/"), "--idle".into(), "8".into()];
    let a = run(None, &text_args);
    let b = run(
        None,
        &[
            announced.url("/"),
            "--idle".into(),
            "8".into(),
            "--json".into(),
        ],
    );
    let c = run(
        None,
        &[
            silent.url("/"),
            "--idle".into(),
            "8".into(),
            "--json".into(),
        ],
    );
    let [a, b, c]: [Output; 3] = [a, b, c].map(|p| p.wait_with_output().unwrap());

    let text = stdout(&a);
    println!("{text}");
    assert_eq!(a.status.code(), Some(0), "{text}{}", stderr(&a));
    assert_eq!(stderr(&a), "", "no countdown without a terminal");
    assert!(
        text.contains(
            "verdict: the server closes idle connections after 5.0 s (announced: timeout=5)"
        ),
        "{text}"
    );
    assert!(text.contains("set pool idle timeout 4 s or less"), "{text}");
    assert!(text.contains("Keep-Alive: timeout=5"), "{text}");

    for (out, announced_s) in [(&b, Some(5)), (&c, None)] {
        let doc = json(out);
        assert_eq!(out.status.code(), Some(0), "{doc}");
        let i = idle(&doc);
        let close = secs(&i["server_close_s"]);
        assert!((4.5..6.5).contains(&close), "{doc}");
        assert_eq!(i["server_close_kind"], "fin", "{doc}");
        assert_eq!(i["announced_s"], serde_json::json!(announced_s), "{doc}");
        assert_eq!(i["silent_drop_after_s"], Value::Null, "{doc}");
        assert_eq!(
            i["keepalive_survived"], true,
            "the server's own close: {doc}"
        );
        assert_eq!(i["recommended_pool_idle_timeout_s"], 4, "{doc}");
        assert_eq!(i["recommended_keepalive_idle_s"], Value::Null, "{doc}");
        for rung in i["rungs"].as_array().unwrap() {
            let expect = if secs(&rung["idle_s"]) < 5.0 {
                "answered"
            } else {
                "closed"
            };
            assert_eq!(rung["outcome"], expect, "{rung}");
        }
        if announced_s.is_none() {
            assert!(
                doc["verdict"]
                    .as_str()
                    .unwrap()
                    .starts_with("the server closes idle connections after 5.0 s (not announced)"),
                "{doc}"
            );
        }
    }
}

/// nginx over TLS with HTTP/2 ends an idle connection with GOAWAY (its `keepalive_timeout`
/// also bounds idle HTTP/2 connections since 1.19.7).
#[test]
fn idle_sees_an_http2_goaway() {
    let ca = TestCa::new();
    let Some(nginx) = require(
        Nginx::builder()
            .tls(&ca)
            .http2()
            .directive("keepalive_timeout 3s")
            .start(),
        "idle_sees_an_http2_goaway",
    ) else {
        return;
    };
    let pem = std::env::temp_dir().join(format!("ka-idle-h2-{}.pem", std::process::id()));
    std::fs::write(&pem, ca.cert_pem()).unwrap();
    let port = nginx.addr().port();
    let args = [
        nginx.url("/"),
        "--resolve".into(),
        format!("localhost:{port}:127.0.0.1"),
        "--cacert".into(),
        pem.display().to_string(),
        "--idle".into(),
        "5".into(),
    ];
    let text = run(None, &args).wait_with_output().unwrap();
    let mut json_args = args.to_vec();
    json_args.push("--json".into());
    let out = run(None, &json_args).wait_with_output().unwrap();
    let _ = std::fs::remove_file(&pem);
    println!("{}", stdout(&text));
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(0), "{doc}");
    let i = idle(&doc);
    assert_eq!(i["server_close_kind"], "goaway", "{doc}");
    assert!((2.5..4.5).contains(&secs(&i["server_close_s"])), "{doc}");
    assert_eq!(i["watch"]["http_version"], "HTTP/2", "{doc}");
    assert!(
        stdout(&text).contains("the server closes idle connections after 3.0 s with GOAWAY"),
        "{}",
        stdout(&text)
    );
}

/// Ctrl-C (SIGINT) during the wait: the report of what was learned so far, marked
/// interrupted, exit 1. Against the embedded server, which never closes idle connections.
#[cfg(unix)]
#[test]
fn ctrl_c_reports_what_was_learned_so_far() {
    use std::time::Duration;
    let child = run(None, &["--idle".into(), "30".into(), "--json".into()]);
    std::thread::sleep(Duration::from_secs(4));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(1), "{doc}");
    assert_eq!(doc["interrupted"], true, "{doc}");
    let rungs = doc["idle"]["rungs"].as_array().unwrap();
    assert_eq!(
        rungs[0]["outcome"], "answered",
        "the 1 s rung finished: {doc}"
    );
    assert_eq!(rungs.last().unwrap()["outcome"], "interrupted", "{doc}");
    assert_eq!(doc["idle"]["keepalive_survived"], false, "{doc}");
}

/// A real NAT that forgets idle flows after 7 s. The ladder finds the drop between its 6 s
/// and 8 s rungs, from requests the kernel says were never acknowledged; keepalive every 3 s
/// keeps its flow for the whole 12 s, while the default keepalive (idle 30 s) does not.
#[cfg(target_os = "linux")]
mod nat {
    use std::io::BufRead;
    use std::time::Duration;

    use keepalive_testserver::{child, nat, TestServer};

    use super::*;

    const NAME: &str = "idle_finds_a_nat_that_forgets_idle_flows";

    #[test]
    fn idle_finds_a_nat_that_forgets_idle_flows() {
        match child::role().as_deref() {
            Some("server") => server_role(),
            Some(other) => panic!("unknown role {other}"),
            None => orchestrate(&child::test_path(module_path!(), NAME)),
        }
    }

    fn orchestrate(test: &str) {
        let nat = match nat::Nat::create(Duration::from_secs(7)) {
            Ok(nat) => nat,
            Err(keepalive_testserver::netns::Unavailable(reason)) => {
                return child::skip(test, &reason)
            }
        };
        let mut cmd = child::command(&["ip", "netns", "exec", nat.server_ns()], test, "server");
        cmd.env("KA_IDLE_SERVER_IP", nat.server_ip().to_string());
        let mut server = child::Child::spawn("server", cmd).expect("spawn the server half");
        let wait = Duration::from_secs(30);
        let port = server
            .expect("listening", wait)
            .unwrap_or_else(|e| panic!("{e}"));
        let pem = server.expect("ca", wait).unwrap_or_else(|e| panic!("{e}"));
        let ca = std::env::temp_dir().join(format!("ka-idle-nat-{}.pem", std::process::id()));
        std::fs::write(&ca, pem.replace('|', "\n")).unwrap();
        let base = vec![
            format!("https://localhost:{port}/"),
            "--resolve".into(),
            format!("localhost:{port}:{}", nat.server_ip()),
            "--cacert".into(),
            ca.display().to_string(),
            "--idle".into(),
            "12".into(),
        ];
        let in_client = || {
            let mut cmd = Command::new("ip");
            cmd.args(["netns", "exec", nat.client_ns()]);
            cmd
        };
        let mut fast = base.clone();
        fast.extend(["--keepalive-idle", "3", "--keepalive-interval", "3"].map(String::from));
        let mut fast_json = fast.clone();
        fast_json.push("--json".into());
        let mut slow_json = base.clone();
        slow_json.push("--json".into());
        // Keepalive that starts after the NAT forgot the flow: its probes go unanswered, and
        // the kernel gives up after two of them, a second apart (about 10 s in).
        let mut late_json = base;
        late_json.extend(
            [
                "--keepalive-idle",
                "8",
                "--keepalive-interval",
                "1",
                "--keepalive-retries",
                "2",
                "--json",
            ]
            .map(String::from),
        );
        let runs = [
            run(Some(in_client()), &fast),
            run(Some(in_client()), &fast_json),
            run(Some(in_client()), &slow_json),
            run(Some(in_client()), &late_json),
        ];
        let [text, fast, slow, late]: [Output; 4] = runs.map(|p| p.wait_with_output().unwrap());
        let _ = std::fs::remove_file(&ca);
        // Shown with --nocapture: the README's sample comes from here.
        println!("{}{}", stdout(&text), stderr(&text));
        assert_eq!(text.status.code(), Some(0), "{}", stdout(&text));
        assert!(
            stdout(&text)
                .contains("between 6 s and 8 s idle, this path drops a flow without a word"),
            "{}",
            stdout(&text)
        );

        let doc = json(&fast);
        assert_eq!(fast.status.code(), Some(0), "{doc}");
        let i = idle(&doc);
        assert_eq!(
            i["silent_drop_after_s"],
            serde_json::json!([6.0, 8.0]),
            "{doc}"
        );
        assert_eq!(i["silent_drop_confirmed_by_kernel"], true, "{doc}");
        assert_eq!(
            i["server_close_s"],
            Value::Null,
            "the server never closes: {doc}"
        );
        assert_eq!(i["keepalive_survived"], true, "{doc}");
        assert_eq!(i["recommended_keepalive_idle_s"], 4, "{doc}");
        assert_eq!(
            i["watch"]["outcome"], "open",
            "kept by its 2 s keepalive: {doc}"
        );
        for rung in i["rungs"].as_array().unwrap() {
            let expect = if secs(&rung["idle_s"]) < 7.0 {
                "answered"
            } else {
                "dropped"
            };
            assert_eq!(rung["outcome"], expect, "{rung}");
        }

        let doc = json(&slow);
        assert_eq!(slow.status.code(), Some(1), "{doc}");
        let i = idle(&doc);
        assert_eq!(i["keepalive_survived"], false, "{doc}");
        assert_eq!(i["keepalive_connection"]["outcome"], "dropped", "{doc}");
        assert_eq!(
            i["silent_drop_after_s"],
            serde_json::json!([6.0, 8.0]),
            "{doc}"
        );

        let doc = json(&late);
        assert_eq!(late.status.code(), Some(1), "{doc}");
        let i = idle(&doc);
        let ka = &i["keepalive_connection"];
        assert_eq!(ka["outcome"], "closed", "{doc}");
        assert_eq!(ka["close_kind"], "timeout", "{doc}");
        assert!((9.0..12.0).contains(&secs(&ka["closed_after_s"])), "{doc}");
        assert_eq!(
            i["server_close_s"],
            Value::Null,
            "not the server's close: {doc}"
        );
        assert_eq!(i["keepalive_survived"], false, "{doc}");
        drop(server);
        drop(nat);
    }

    /// The server half: a test server on the server's address, its port and CA on stdout,
    /// until the parent closes stdin.
    fn server_role() {
        let ip = std::env::var("KA_IDLE_SERVER_IP").expect("the parent sets it");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let server = TestServer::builder()
                .ip(ip.parse().unwrap())
                .start()
                .await
                .expect("listen on the server's address");
            child::say(format!("listening {}", server.addr().port()));
            child::say(format!("ca {}", server.ca_pem().trim().replace('\n', "|")));
            tokio::task::spawn_blocking(|| {
                let mut sink = String::new();
                while std::io::stdin()
                    .lock()
                    .read_line(&mut sink)
                    .is_ok_and(|n| n > 0)
                {}
            })
            .await
            .unwrap();
            drop(server);
        });
    }
}
