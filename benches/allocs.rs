//! Heap allocations per connection setup: ours against the anchor (hyper-util + hyper-rustls)
//! and the floor (`TcpStream::connect` + tokio-rustls), for plain TCP, a full TLS 1.3
//! handshake and a resumed one.
//!
//! The counting `#[global_allocator]` comes from the `allocation-counter` crate (this workspace
//! forbids `unsafe`). It counts per thread: the client runs on a `current_thread` runtime on
//! this thread and the server on a runtime thread of its own, so only the client's allocations
//! are counted. Each connection setup is measured on its own (`block_on` of one `connect`), after
//! a warm-up that fills the runtime's and the TLS session cache's lazily allocated state.
//!
//! Prints a table and writes `target/criterion/allocs.json`, which
//! `cargo run --release --example bench-summary` prints with the latency table.
//! Run with `cargo bench --bench allocs`.

mod common;

use allocation_counter::AllocationInfo;

use common::names::allocs_json;
use common::{collect_tickets, Client, Contender, Env, Security, Stream, Target};

/// Connections measured per contender and case.
const CONNECTIONS: u64 = 200;
/// Connections made before measuring.
const WARM_UP: usize = 50;

/// The allocation totals of one contender in one case.
struct Row {
    case: &'static str,
    who: Contender,
    total: AllocationInfo,
}

fn main() {
    // `cargo bench` passes `--bench`; a name filter is not supported here.
    let env = Env::new();
    let empty = allocation_counter::measure(|| env.rt.block_on(async {}));
    let mut rows = Vec::new();
    for (case, security) in [
        ("tcp_connect", Security::Plain),
        ("tls13_full", Security::Full),
        ("tls13_resumed", Security::Resumed),
    ] {
        let alpn: &[&[u8]] = if security == Security::Resumed {
            &[b"http/1.1"]
        } else {
            &[b"h2", b"http/1.1"]
        };
        let server = env.server(security, alpn);
        let target = Target::new(server.addr(), security != Security::Plain, false);
        let config = env.client_config(security);
        for who in Contender::ALL {
            let mut client = Client::new(who, &config, false);
            for _ in 0..WARM_UP {
                let stream = env.rt.block_on(client.connect(&target));
                finish(&env, security, stream);
            }
            let mut total = AllocationInfo::default();
            for _ in 0..CONNECTIONS {
                let mut stream = None;
                total += allocation_counter::measure(|| {
                    stream = Some(env.rt.block_on(client.connect(&target)));
                });
                let stream = stream.expect("connected");
                if let Some(tls) = stream.tls() {
                    let resumed = tls.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
                    assert_eq!(resumed, security == Security::Resumed, "{case}: {who:?}");
                }
                finish(&env, security, stream);
            }
            rows.push(Row { case, who, total });
        }
    }
    print(&rows, &empty);
}

/// Closes a measured connection, after reading the session tickets for the resumed case.
fn finish(env: &Env, security: Security, stream: Stream) {
    if security == Security::Resumed {
        env.rt.block_on(collect_tickets(stream));
    }
}

fn print(rows: &[Row], empty: &AllocationInfo) {
    let per = |v: i64| v as f64 / CONNECTIONS as f64;
    println!(
        "\nHeap allocations per connection setup (client thread only, mean of {CONNECTIONS}; \
         `block_on` of an empty future: {} allocations)\n",
        empty.count_total
    );
    println!(
        "| case | contender | allocations | bytes allocated | live after connect (allocations / bytes) |"
    );
    println!("|---|---|---:|---:|---:|");
    let mut json = Vec::new();
    for row in rows {
        let t = &row.total;
        let (count, bytes) = (per(t.count_total as i64), per(t.bytes_total as i64));
        let (live_count, live_bytes) = (per(t.count_current), per(t.bytes_current));
        println!(
            "| {} | {} | {count:.1} | {bytes:.0} | {live_count:.1} / {live_bytes:.0} |",
            row.case,
            row.who.name(),
        );
        json.push(serde_json::json!({
            "case": row.case,
            "contender": row.who.name(),
            "allocations": count,
            "bytes": bytes,
            "live_allocations": live_count,
            "live_bytes": live_bytes,
            "connections": CONNECTIONS,
        }));
    }
    let path = allocs_json();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let text = serde_json::to_string_pretty(&json).expect("JSON");
    match std::fs::write(&path, text) {
        Ok(()) => println!("\nwritten to {}", path.display()),
        Err(e) => eprintln!("could not write {}: {e}", path.display()),
    }
}
