//! The same cases and contenders as `benches/connect.rs`, measured round-robin instead of one
//! contender after the other: a cross-check for machines shared with other work.
//!
//! criterion measures `floor` for a few seconds, then `anchor_default`, and so on: when another
//! process starts or stops compiling in between, that shift lands on one contender's median and
//! skews the ratios. Here every round runs a short block of iterations of each contender in turn
//! (the starting contender rotates from round to round), so slow periods hit all of them alike.
//! The first iteration of every block is not recorded: it follows another contender's block (in
//! the first-response cases, the anchor's 40 ms stalls leave the machine idle, and the first
//! connection after an idle period is slower for whoever comes next).
//!
//! Prints the medians and writes `target/criterion/interleaved.json`, which
//! `cargo run --release --example bench-summary` turns into the same table as criterion's.
//! Run with `cargo bench --bench interleaved`; the optional argument is a substring of the case
//! names to run (or, ending in `$`, one whole name), and
//! `BENCH_CONTENDERS=floor,ours_keepalive_off` runs only those contenders (for a profiler:
//! `valgrind --tool=callgrind` or `strace -c -f` on the bench binary).

mod common;

use std::time::{Duration, Instant};

use common::names::interleaved_json;
use common::{Client, Contender, Env, Routine, CASES};

/// Iterations per contender and round, the first of which is not recorded.
const BLOCK: usize = 9;
/// Iterations per contender and round in the concurrency cases (each is hundreds of setups).
const BURST_BLOCK: usize = 3;
/// Time spent per case, after which no new round starts.
const BUDGET: Duration = Duration::from_secs(6);
/// Time spent per concurrency case.
const BURST_BUDGET: Duration = Duration::from_secs(15);
/// At least this many rounds, whatever the budget.
const MIN_ROUNDS: usize = 3;

fn main() {
    // `cargo bench` passes `--bench`; anything else is a filter on the case names (a substring,
    // or with a trailing `$` the whole name: `tcp_connect$` is not `tcp_connect_localhost`).
    let filter = std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with('-'))
        .unwrap_or_default();
    let only: Option<Vec<String>> = std::env::var("BENCH_CONTENDERS")
        .ok()
        .map(|names| names.split(',').map(str::to_owned).collect());
    let env = Env::new();
    let mut rows = Vec::new();
    let selected = |group: &str| match filter.strip_suffix('$') {
        Some(exact) => group == exact,
        None => group.contains(&filter),
    };
    for case in CASES.iter().filter(|case| selected(case.group)) {
        let running = case.start(&env);
        let mut clients: Vec<(Contender, Client)> = Contender::ALL
            .into_iter()
            .filter(|who| {
                only.as_ref()
                    .is_none_or(|only| only.iter().any(|n| n == who.name()))
            })
            .map(|who| (who, running.client(&env, who)))
            .collect();
        let (block, budget) = match case.routine {
            Routine::Burst => (BURST_BLOCK, BURST_BUDGET),
            _ => (BLOCK, BUDGET),
        };
        let mut samples = vec![Vec::new(); clients.len()];
        let start = Instant::now();
        let mut round = 0;
        while round < MIN_ROUNDS || start.elapsed() < budget {
            for k in 0..clients.len() {
                let i = (round + k) % clients.len();
                let client = &mut clients[i].1;
                let times = env.rt.block_on(async {
                    let mut times = Vec::with_capacity(block);
                    for _ in 0..block {
                        times.push(running.iteration(client).await);
                    }
                    times
                });
                samples[i].extend(times.into_iter().skip(1));
            }
            round += 1;
        }
        println!("{} ({round} rounds):", case.group);
        for ((who, _), times) in clients.iter().zip(&mut samples) {
            times.sort();
            let median = times[times.len() / 2];
            let p10 = times[times.len() / 10];
            let p90 = times[times.len() * 9 / 10];
            println!(
                "  {:22} median {:>12?}   p10 {:>12?}   p90 {:>12?}   n {}",
                who.name(),
                median,
                p10,
                p90,
                times.len()
            );
            rows.push(serde_json::json!({
                "case": case.group,
                "contender": who.name(),
                "median_ns": median.as_nanos() as f64,
                "p10_ns": p10.as_nanos() as f64,
                "p90_ns": p90.as_nanos() as f64,
                "samples": times.len(),
            }));
        }
    }
    let path = interleaved_json();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let text = serde_json::to_string_pretty(&rows).expect("JSON");
    match std::fs::write(&path, text) {
        Ok(()) => println!("\nwritten to {}", path.display()),
        Err(e) => eprintln!("could not write {}: {e}", path.display()),
    }
}
