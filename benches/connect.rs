//! Connection-setup latency: keepalive-connector ("ours") against the fastest possible connect
//! ("floor": `TcpStream::connect` + `tokio_rustls::TlsConnector::connect`) and against what
//! users use today ("anchor": hyper-util's `HttpConnector` under hyper-rustls), in one run, on
//! the same machine, against the same local server.
//!
//! One criterion group per case, one function per contender (`floor`, `anchor_default`,
//! `anchor_nodelay`, `ours_before_connect`, `ours_after_connect`, `ours_after_handshake`,
//! `ours_keepalive_off`). `cargo run --release --example bench-summary` turns the medians into
//! one table with the ratios ours/floor and ours/anchor.
//!
//! The client runs on a `current_thread` tokio runtime (the fairest for latency: no work
//! stealing, no cross-thread wake-ups on the client side); each case's server runs on a
//! one-worker runtime of its own thread. The defaults here (1 s warm-up, 3 s measurement, 30
//! samples) keep a full run near five minutes; criterion's usual flags (`--measurement-time`,
//! `--sample-size`, a name filter) override them.

mod common;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};

use common::names::BURST;
use common::{Contender, Env, Routine, CASES};

fn cases(c: &mut Criterion) {
    // The summary finds the results by these names.
    assert!(CASES
        .iter()
        .zip(common::names::GROUPS)
        .all(|(case, (group, _))| case.group == group));
    let env = Env::new();
    for case in &CASES {
        let running = case.start(&env);
        let mut group = c.benchmark_group(case.group);
        match case.routine {
            Routine::Burst => {
                // One iteration takes tens to hundreds of milliseconds: the same number of
                // iterations in every sample, and few samples.
                group
                    .sampling_mode(SamplingMode::Flat)
                    .sample_size(10)
                    .throughput(Throughput::Elements(BURST as u64));
            }
            Routine::FirstResponse => {
                // The anchor's defaults take over 40 ms per iteration here (Nagle's algorithm
                // meets the server's delayed ACK): linear sampling would need 465 of them.
                group.sampling_mode(SamplingMode::Flat);
            }
            Routine::Connect | Routine::ConnectResumed => {}
        }
        for who in Contender::ALL {
            let mut client = running.client(&env, who);
            group.bench_function(who.name(), |b| {
                b.iter_custom(|iters| {
                    env.rt.block_on(async {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            total += running.iteration(&mut client).await;
                        }
                        total
                    })
                })
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .nresamples(20_000);
    targets = cases
}
criterion_main!(benches);
