//! An IPv6 path that black-holes, on real kernels: a test server listening on IPv4 and IPv6 in
//! one network namespace, the probe in another, joined by a veth pair; a blackhole route in the
//! server's namespace swallows its replies to the client's IPv6 address (SYNs arrive, no
//! SYN-ACK or ICMP error leaves: an advertised but dead address). The name resolves to the
//! IPv6 address first, as in the report that started this. Happy eyeballs carries every stage
//! row over IPv4; the family rows show IPv6 dead, and the verdict says so.
//!
//! Needs root (for `ip netns`); without it the test prints a loud `SKIPPED:` line and passes,
//! except under `CI=true`, where it fails. The server half is this test re-run inside the
//! server's namespace (`keepalive_testserver::child`); the client is the probe binary itself,
//! run with `ip netns exec`.
#![cfg(target_os = "linux")]

use std::io::BufRead;
use std::net::IpAddr;
use std::process::{Command, Output};
use std::time::Duration;

use keepalive_testserver::{child, netns, TestServer};

use super::{json, row, stdout, verdict};
use keepalive_testserver::child_env::PROXY_VARS;

const NAME: &str = "a_black_holed_ipv6_path_is_named_and_ipv4_works";

#[test]
fn a_black_holed_ipv6_path_is_named_and_ipv4_works() {
    match child::role().as_deref() {
        Some("server") => server_role(),
        Some(other) => panic!("unknown role {other}"),
        None => orchestrate(&child::test_path(module_path!(), NAME)),
    }
}

fn orchestrate(test: &str) {
    let pair = match netns::Pair::create_dual_stack() {
        Ok(pair) => pair,
        Err(netns::Unavailable(reason)) => return child::skip(test, &reason),
    };
    pair.blackhole_replies_to(IpAddr::V6(pair.client_ip6()))
        .unwrap_or_else(|e| panic!("{e}"));
    let cmd = child::command(&["ip", "netns", "exec", pair.server_ns()], test, "server");
    let mut server = child::Child::spawn("server", cmd).expect("spawn the server half");
    let wait = Duration::from_secs(30);
    let port = server
        .expect("listening", wait)
        .unwrap_or_else(|e| panic!("{e}"));
    let pem = server.expect("ca", wait).unwrap_or_else(|e| panic!("{e}"));
    let ca = std::env::temp_dir().join(format!("keepalive-probe-netns-{}.pem", std::process::id()));
    std::fs::write(&ca, pem.replace('|', "\n")).expect("the temp dir is writable");

    // IPv6 listed first: the stage rows pay one attempt delay, then connect over IPv4.
    let resolve = format!(
        "localhost:{port}:{},{}",
        pair.server_ip6(),
        pair.server_ip()
    );
    let probe = |extra: &[&str]| -> Output {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", pair.client_ns()])
            .arg(env!("CARGO_BIN_EXE_keepalive-probe"))
            .arg(format!("https://localhost:{port}/"))
            .args(["--resolve", &resolve, "--cacert"])
            .arg(&ca)
            .args(["--connect-timeout", "2"])
            .args(extra);
        for var in PROXY_VARS {
            cmd.env_remove(var);
        }
        cmd.output().expect("ip netns exec runs the probe")
    };

    let out = probe(&[]);
    let text = stdout(&out);
    // Shown with --nocapture: the README's IPv6 sample comes from here.
    println!("{text}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "the IPv6 row failed: {text}");
    for stage in super::STAGES {
        assert!(row(&text, stage).contains("200 HTTP/2"), "{text}");
    }
    assert!(
        row(&text, "after-handshake IPv4").contains("200 HTTP/2"),
        "{text}"
    );
    assert!(
        row(&text, "after-handshake IPv6").contains("failed at connect: timed out"),
        "{text}"
    );
    assert_eq!(
        verdict(&text),
        "verdict: IPv6 times out at the connect phase — a dead IPv6 path — and IPv4 works: a \
         client without happy eyeballs stalls here. Every stage works"
    );

    // Twice per row: the dead family is not tried a second time.
    let out = probe(&["--json", "--repeat", "2"]);
    assert_eq!(out.status.code(), Some(1));
    let doc = json(&out);
    let families = doc["family_rows"].as_array().expect("family rows");
    assert_eq!(families.len(), 2, "{doc}");
    let (v4, v6) = (&families[0], &families[1]);
    assert_eq!(v4["family"], "ipv4");
    assert_eq!(v4["ok_attempts"], 2);
    assert_eq!(v4["remote_addr"], format!("{}:{port}", pair.server_ip()));
    assert_eq!(v6["family"], "ipv6");
    assert_eq!(
        v6["attempts"], 1,
        "a black-holed family is tried once: {v6}"
    );
    assert_eq!(v6["error"]["phase"], "connect");
    assert_eq!(v6["error"]["timeout"], true);
    for s in doc["stages"].as_array().unwrap() {
        assert_eq!(s["ok_attempts"], 2, "happy eyeballs reaches IPv4: {s}");
        assert_eq!(s["family"], "ipv4");
    }
    assert_eq!(
        doc["resolved_families"],
        serde_json::json!(["ipv4", "ipv6"])
    );

    let _ = std::fs::remove_file(&ca);
    drop(server);
    drop(pair);
}

/// The server half: a test server on `[::]` (IPv4 and IPv6), its port and CA on stdout, until
/// the parent closes stdin.
fn server_role() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let server = TestServer::builder()
            .ip("::".parse().unwrap())
            .start()
            .await
            .expect("listen on [::]");
        child::say(format!("listening {}", server.addr().port()));
        child::say(format!("ca {}", server.ca_pem().trim().replace('\n', "|")));
        // Serve until the parent goes away.
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
