//! The harness of the tests where a peer's link goes down (`dead_peer`, `liveness_netns`): the
//! test server in one network namespace, this test's client half in another, the server's link
//! taken down once the client says `ready`, and one `result` line per connection back.
//!
//! Each test is a parent and two re-executed children (see [`child`]): [`parent`] orchestrates
//! and returns the client's rows; the server half is [`server`]; the client half reads
//! [`target`], opens its connections, says `ready`, waits for [`down`], and ends with
//! [`report`].
#![cfg(target_os = "linux")]

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use keepalive_testserver::TestServer;

use super::{child, netns};

const SERVER_IP: &str = "KA_LD_SERVER_IP";
const ADDR: &str = "KA_LD_ADDR";
const CA: &str = "KA_LD_CA";

/// One connection's verdict, as the client half judged it: its label, and `Ok` with what was
/// measured or `Err` with what went wrong.
pub type Verdict = (String, Result<String, String>);

/// One `result` line from the client half: `<label> <ok|FAIL> <what was measured>`.
#[derive(Debug)]
pub struct Row {
    pub label: String,
    pub ok: bool,
    pub line: String,
}

/// Orchestrates `test`: namespaces, both halves, the link going down. Returns the client's
/// rows (asserting that the client half exited successfully), or `None` after a loud skip
/// (a failure under `CI=true`) when namespaces cannot be made here.
pub fn parent(test: &str) -> Option<Vec<Row>> {
    let pair = match netns::Pair::create() {
        Ok(pair) => pair,
        Err(netns::Unavailable(reason)) => {
            child::skip(test, &reason);
            return None;
        }
    };
    // Declared after `pair`, so the children are killed before the namespaces are deleted.
    let mut cmd = child::command(&["ip", "netns", "exec", pair.server_ns()], test, "server");
    cmd.env(SERVER_IP, pair.server_ip().to_string());
    let mut server = child::Child::spawn("server", cmd).expect("spawn the server half");
    let addr = server
        .expect("listening", Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}"));
    let ca = server
        .expect("ca", Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut cmd = child::command(&["ip", "netns", "exec", pair.client_ns()], test, "client");
    cmd.env(ADDR, &addr).env(CA, &ca);
    let mut client = child::Child::spawn("client", cmd).expect("spawn the client half");
    let ready = client
        .expect("ready", Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}"));
    println!("client ready: {ready}");

    pair.server_link_down().unwrap_or_else(|e| panic!("{e}"));
    client.send("down").expect("tell the client");

    let mut rows = Vec::new();
    for line in client.lines_until_done(Duration::from_secs(30)) {
        assert!(!line.starts_with("error"), "client: {line}");
        if let Some(rest) = line.strip_prefix("result ") {
            let mut words = rest.splitn(3, ' ');
            let (label, verdict) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
            rows.push(Row {
                label: label.to_owned(),
                ok: verdict == "ok",
                line: rest.to_owned(),
            });
        }
    }
    let status = client.finish(Duration::from_secs(20));
    drop(server);
    drop(pair);
    let status = status.unwrap_or_else(|e| panic!("{e}"));
    assert!(status.success(), "the client half failed: {status}");
    Some(rows)
}

/// The server half: the test server on the server namespace's address (its certificate names
/// it), until stdin closes (the parent finished or died), a minute at most.
pub fn server() {
    let ip: IpAddr = std::env::var(SERVER_IP)
        .expect("the server's address")
        .parse()
        .expect("an IP");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let server = TestServer::builder().ip(ip).start().await.unwrap();
        child::say(format!("listening {}", server.addr()));
        child::say(format!("ca {}", server.ca_pem().trim().replace('\n', "|")));
        let eof = tokio::task::spawn_blocking(|| {
            let mut sink = String::new();
            while io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {}
        });
        let _ = tokio::time::timeout(Duration::from_secs(60), eof).await;
        drop(server);
    });
}

/// In the client half: where the server listens, and its CA in PEM.
pub fn target() -> (SocketAddr, String) {
    let addr = std::env::var(ADDR)
        .expect("the server's address")
        .parse()
        .expect("an address");
    let ca = std::env::var(CA)
        .expect("the server's CA")
        .replace('|', "\n");
    (addr, ca)
}

/// In the client half: resolves when the parent says the link is down (with that instant).
pub fn down() -> tokio::sync::oneshot::Receiver<Instant> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        while io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {
            if line.trim() == "down" {
                let _ = tx.send(Instant::now());
                return;
            }
            line.clear();
        }
    });
    rx
}

/// Waits for `down`, or fails after a minute.
pub async fn link_down(rx: tokio::sync::oneshot::Receiver<Instant>) -> Instant {
    tokio::time::timeout(Duration::from_secs(60), rx)
        .await
        .expect("`down` from the parent within a minute")
        .expect("the parent's stdin")
}

/// In the client half: one `result` line per verdict, then `done`; fails when any verdict is
/// an `Err`.
pub fn report(rows: &[Verdict]) {
    let mut failed = 0;
    for (label, verdict) in rows {
        match verdict {
            Ok(line) => child::say(format!("result {label} ok {line}")),
            Err(line) => {
                failed += 1;
                child::say(format!("result {label} FAIL {line}"));
            }
        }
    }
    child::say("done");
    assert_eq!(failed, 0, "{failed} connection(s) did not behave");
}
