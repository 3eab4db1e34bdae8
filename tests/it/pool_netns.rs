//! Pooled connections the path forgot, on real kernels: a flow dropped both ways by iptables
//! (no RST, no FIN: the packets vanish), and a real NAT that forgets an idle flow
//! (`testserver::nat`). The next request on the pooled connection is written into silence.
//!
//! - `connector.client()`: its silent-drop guard (`TCP_USER_TIMEOUT` while the request is
//!   unacknowledged, 1 s here) fails the connection; a GET is sent again on a fresh connection
//!   and answered within 3 s, a POST without an Idempotency-Key fails as stale within 3 s;
//! - hyper-util's pooled `Client` over the same connector is still waiting when ours has long
//!   answered (the kernel retransmits for minutes).
//!
//! Needs root (for `ip netns`) and iptables: a loud `SKIPPED:` line without them, a failure
//! under `CI=true`. Each test re-runs itself inside the namespaces in a role, as `dead_peer`.
#![cfg(target_os = "linux")]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use keepalive_connector::{ConnectInfo, Connector, RequestInfo, StaleReason};
use keepalive_testserver::nat::Nat;
use keepalive_testserver::{child, netns, ScriptedServer, Step};

/// The bound: a GET answered, or a POST failed as stale, within 3 s.
const WITHIN: Duration = Duration::from_secs(3);
/// How long hyper-util's client is watched: still pending then.
const ANCHOR_PENDING_AT: Duration = Duration::from_secs(6);
const ADDR: &str = "KA_POOL_ADDR";

type Verdict = (String, Result<String, String>);

/// One request on a pooled connection after its flow was dropped: the outcome and how long it
/// took, or `None` when it was still pending at `cap`.
async fn after_drop(
    send: impl std::future::Future<Output = Result<(Option<RequestInfo>, u16), String>>,
    cap: Duration,
) -> (Duration, Option<Result<(Option<RequestInfo>, u16), String>>) {
    let started = Instant::now();
    let outcome = tokio::time::timeout(cap, send).await.ok();
    (started.elapsed(), outcome)
}

fn request(method: Method, url: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(url)
        .body(Full::from("payload"))
        .unwrap()
}

/// Ours and hyper-util's, each with a connection pooled, then `forget` run on that connection's
/// local address, then a quiet spell (so the guard arms), then the request.
async fn scenario(
    url: &str,
    quiet: Duration,
    forget: impl Fn(SocketAddr) -> Result<(), String>,
) -> Vec<Verdict> {
    let connector = Connector::builder()
        .silent_drop_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let mut rows = Vec::new();
    for method in [Method::GET, Method::POST] {
        let label = format!("ours/{method}");
        let client = connector.client();
        let warm = client.request(request(Method::GET, url)).await.unwrap();
        let local = warm.extensions().get::<ConnectInfo>().unwrap().local_addr();
        warm.into_body().collect().await.unwrap();
        if let Err(e) = forget(local) {
            rows.push((label, Err(e)));
            continue;
        }
        tokio::time::sleep(quiet).await;
        let send = async {
            match client.request(request(method.clone(), url)).await {
                Ok(resp) => {
                    let info = resp.extensions().get::<RequestInfo>().cloned();
                    let status = resp.status().as_u16();
                    resp.into_body()
                        .collect()
                        .await
                        .map_err(|e| e.to_string())?;
                    Ok((info, status))
                }
                Err(e) if e.is_stale_connection() => {
                    Err(format!("stale:{:?}:{}", e.stale_reason(), e.is_timeout()))
                }
                Err(e) => Err(format!("error: {e}")),
            }
        };
        let (took, outcome) = after_drop(send, WITHIN + Duration::from_secs(5)).await;
        let ms = took.as_millis();
        let verdict = match (method.clone(), outcome) {
            (_, None) => Err(format!("still pending after {ms} ms")),
            (Method::GET, Some(Ok((Some(info), 200)))) if took <= WITHIN => {
                let reasons: Vec<_> = info.resends().iter().map(|r| r.reason()).collect();
                if reasons == [StaleReason::SilentDrop] {
                    Ok(format!(
                        "answered after {ms} ms, sent again once ({reasons:?})"
                    ))
                } else {
                    Err(format!(
                        "answered after {ms} ms but re-sends were {reasons:?}"
                    ))
                }
            }
            (Method::POST, Some(Err(e)))
                if took <= WITHIN
                    && e == format!("stale:{:?}:true", Some(StaleReason::SilentDrop)) =>
            {
                Ok(format!(
                    "failed as a stale connection (silent drop) after {ms} ms, not sent again"
                ))
            }
            (_, other) => Err(format!("after {ms} ms: {other:?}")),
        };
        rows.push((label, verdict));
    }

    // The anchor: hyper-util's pooled client over the same connector.
    let anchor: hyper_util::client::legacy::Client<Connector, Full<Bytes>> =
        connector.client_builder().build(connector.clone());
    let warm = anchor.request(request(Method::GET, url)).await.unwrap();
    let local = warm.extensions().get::<ConnectInfo>().unwrap().local_addr();
    warm.into_body().collect().await.unwrap();
    let verdict = match forget(local) {
        Err(e) => Err(e),
        Ok(()) => {
            tokio::time::sleep(quiet).await;
            let send = async {
                anchor
                    .request(request(Method::GET, url))
                    .await
                    .map(|r| (None, r.status().as_u16()))
                    .map_err(|e| format!("{e:?}"))
            };
            match after_drop(send, ANCHOR_PENDING_AT).await {
                (took, None) => Ok(format!("still pending after {} ms", took.as_millis())),
                (took, Some(other)) => {
                    Err(format!("ended after {} ms: {other:?}", took.as_millis()))
                }
            }
        }
    };
    rows.push(("hyper-util/GET".to_owned(), verdict));
    rows
}

fn report(rows: &[Verdict]) {
    for (label, verdict) in rows {
        match verdict {
            Ok(line) => child::say(format!("result {label} ok {line}")),
            Err(line) => child::say(format!("result {label} FAIL {line}")),
        }
    }
    child::say("done");
}

/// Runs `test`'s client role in `ns` and checks its rows (every row ok).
fn run_client(test: &str, ns: &str, envs: &[(&str, String)]) {
    let mut cmd = child::command(&["ip", "netns", "exec", ns], test, "client");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut client = child::Child::spawn("client", cmd).expect("spawn the client half");
    let lines = client.lines_until_done(Duration::from_secs(60));
    let status = client
        .finish(Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(status.success(), "the client half failed: {status}");
    for line in &lines {
        println!("  {line}");
    }
    let rows: Vec<&String> = lines.iter().filter(|l| l.starts_with("result ")).collect();
    assert_eq!(rows.len(), 3, "{lines:#?}");
    let failed: Vec<_> = rows.iter().filter(|l| l.contains(" FAIL ")).collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// iptables drops one pooled flow both ways (by its local port), in a namespace of its own.
#[test]
fn a_flow_dropped_both_ways_costs_a_get_one_resend_and_fails_a_post_as_stale() {
    const TEST: &str =
        "pool_netns::a_flow_dropped_both_ways_costs_a_get_one_resend_and_fails_a_post_as_stale";
    if child::role().as_deref() == Some("client") {
        let rows = runtime().block_on(async {
            let server = ScriptedServer::start(|_, _| Step::Answer).await.unwrap();
            let drop_flow = |local: SocketAddr| {
                let port = local.port().to_string();
                for rule in [
                    ["-I", "OUTPUT", "-p", "tcp", "--sport", &port, "-j", "DROP"],
                    ["-I", "INPUT", "-p", "tcp", "--dport", &port, "-j", "DROP"],
                ] {
                    let out = std::process::Command::new("iptables")
                        .args(rule)
                        .output()
                        .map_err(|e| format!("iptables: {e}"))?;
                    if !out.status.success() {
                        return Err(format!(
                            "iptables {}: {}",
                            rule.join(" "),
                            String::from_utf8_lossy(&out.stderr)
                        ));
                    }
                }
                Ok(())
            };
            scenario(&server.url("/"), Duration::from_millis(1_200), drop_flow).await
        });
        return report(&rows);
    }
    let pair = match netns::Pair::create() {
        Ok(pair) => pair,
        Err(netns::Unavailable(why)) => return child::skip(TEST, &why),
    };
    if let Err(e) = std::process::Command::new("iptables")
        .arg("--version")
        .output()
    {
        return child::skip(TEST, &format!("needs iptables: {e}"));
    }
    run_client(TEST, pair.client_ns(), &[]);
}

/// A real NAT forgets the idle pooled flow (conntrack timeout 2 s, idle 3.5 s): the request
/// that follows is retransmitted into silence.
#[test]
fn a_flow_a_nat_forgot_costs_a_get_one_resend_and_fails_a_post_as_stale() {
    const TEST: &str =
        "pool_netns::a_flow_a_nat_forgot_costs_a_get_one_resend_and_fails_a_post_as_stale";
    match child::role().as_deref() {
        Some("server") => {
            let addr: SocketAddr = std::env::var(ADDR).unwrap().parse().unwrap();
            runtime().block_on(async {
                let server = ScriptedServer::start_on(addr, |_, _| Step::Answer)
                    .await
                    .unwrap();
                child::say(format!("listening {}", server.addr()));
                let eof = tokio::task::spawn_blocking(|| {
                    let mut sink = String::new();
                    while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {}
                });
                let _ = tokio::time::timeout(Duration::from_secs(90), eof).await;
            });
        }
        Some("client") => {
            let addr: SocketAddr = std::env::var(ADDR).unwrap().parse().unwrap();
            let url = format!("http://{addr}/");
            // The NAT forgets the flow by itself: nothing to do on the connection.
            let rows = runtime().block_on(scenario(&url, Duration::from_millis(3_500), |_| Ok(())));
            report(&rows);
        }
        _ => {
            let nat = match Nat::create(Duration::from_secs(2)) {
                Ok(nat) => nat,
                Err(netns::Unavailable(why)) => return child::skip(TEST, &why),
            };
            let addr = SocketAddr::from((nat.server_ip(), 8080)).to_string();
            let mut cmd = child::command(&["ip", "netns", "exec", nat.server_ns()], TEST, "server");
            cmd.env(ADDR, &addr);
            let mut server = child::Child::spawn("server", cmd).expect("spawn the server half");
            server
                .expect("listening", Duration::from_secs(30))
                .unwrap_or_else(|e| panic!("{e}"));
            run_client(TEST, nat.client_ns(), &[(ADDR, addr)]);
            drop(server);
        }
    }
}
