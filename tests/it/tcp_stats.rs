//! `TcpStats` read back on real kernels: a request written after the server's link went down is
//! never acknowledged, and the kernel's counters say so (bytes unacknowledged, retransmissions
//! in a row); before that, everything written is acknowledged. The server runs in one network
//! namespace, the client in another (`support::link_down`). Linux only (where the stats are
//! reported), and root: a loud `SKIPPED:` line without it, a failure under `CI=true`.
#![cfg(target_os = "linux")]

use std::time::Duration;

use keepalive_connector::{Connector, Keepalive, TcpState, TcpStats, Trust};
use tokio::io::AsyncWriteExt;

use crate::support::{child, link_down};

#[test]
fn unacknowledged_bytes_and_retransmits_read_back_after_the_peer_vanishes() {
    child::play(
        module_path!(),
        "unacknowledged_bytes_and_retransmits_read_back_after_the_peer_vanishes",
        link_down::server,
        client_role,
        orchestrate,
    );
}

fn orchestrate(test: &str) {
    let Some(rows) = link_down::parent(test) else {
        return;
    };
    for row in &rows {
        println!("  {}", row.line);
    }
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert!(rows[0].ok, "{rows:#?}");
}

fn client_role() {
    assert!(TcpStats::supported());
    let (addr, ca) = link_down::target();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let verdict = rt.block_on(async {
        let connector = Connector::builder()
            .keepalive(Keepalive::off())
            .trust(Trust::AddedRootsOnly)
            .add_root_certificates_pem(ca.as_bytes())
            .build()
            .unwrap();
        let uri: http::Uri = format!("https://{addr}/").parse().unwrap();
        let mut conn = connector.connect(&uri).await.expect("connect");
        // The TLS client's last flight (its Finished) may still be on its way when connect
        // returns: the server's ACK comes with its session tickets or after the delayed-ACK
        // timer, so on a busy machine it can lag. Everything written must be acknowledged
        // before the link goes down, within a generous bound.
        let settled = tokio::time::Instant::now() + Duration::from_secs(2);
        let before = loop {
            let stats = conn.tcp_stats().unwrap().expect("reported on Linux");
            if stats.unacked_bytes() == 0 || tokio::time::Instant::now() > settled {
                break stats;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        if before.state() != TcpState::Established || before.unacked_bytes() != 0 {
            return Err(format!("before: {before:?}"));
        }
        let down = link_down::down();
        child::say("ready");
        link_down::link_down(down).await;
        let request = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n";
        conn.write_all(request)
            .await
            .expect("written to the socket");
        conn.flush().await.expect("flushed");
        // Linux retransmits after 200 ms, then 400, 800: two within about 0.6 s.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let stats = conn.tcp_stats().unwrap().expect("still listed");
            if stats.retransmits() >= 2 {
                // TLS adds its record header and tag to the request's bytes.
                return if stats.unacked_bytes() > request.len() as u64 {
                    Ok(format!(
                        "unacked {} bytes, {} retransmits",
                        stats.unacked_bytes(),
                        stats.retransmits()
                    ))
                } else {
                    Err(format!(
                        "retransmitting, yet nothing unacknowledged: {stats:?}"
                    ))
                };
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!("no retransmission within 10 s: {stats:?}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    link_down::report(&[("after-link-down".to_owned(), verdict)]);
}
