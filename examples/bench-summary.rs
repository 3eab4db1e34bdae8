//! Prints the benchmark results as markdown tables, so nobody has to read criterion's output:
//! the medians of every case and contender, the ratios ours/floor and ours/anchor, and the
//! heap allocations per connection setup.
//!
//! ```text
//! cargo bench --bench connect        # criterion: target/criterion/<case>/<contender>/new/estimates.json
//! cargo bench --bench interleaved    # round-robin cross-check: target/criterion/interleaved.json
//! cargo bench --bench allocs         # allocations: target/criterion/allocs.json
//! cargo run --release --example bench-summary [CRITERION_DIR]
//! ```
//!
//! Whatever is missing is left out. The directory defaults to `$CRITERION_HOME`, else
//! `$CARGO_TARGET_DIR/criterion`, else this package's `target/criterion`.

#[path = "../benches/common/names.rs"]
mod names;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use names::{
    ANCHOR_DEFAULT, ANCHOR_NODELAY, BURST, FLOOR, GROUPS, OURS_AFTER_CONNECT, OURS_AFTER_HANDSHAKE,
    OURS_BEFORE_CONNECT, OURS_KEEPALIVE_OFF,
};

/// Medians in nanoseconds per iteration, by case, then by contender.
type Medians = BTreeMap<String, BTreeMap<String, f64>>;

const CONTENDERS: [&str; 7] = [
    FLOOR,
    ANCHOR_DEFAULT,
    ANCHOR_NODELAY,
    OURS_BEFORE_CONNECT,
    OURS_AFTER_CONNECT,
    OURS_AFTER_HANDSHAKE,
    OURS_KEEPALIVE_OFF,
];

fn main() {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(names::criterion_home);
    let mut out = String::new();
    let criterion = read_criterion(&dir);
    if criterion.is_empty() {
        let _ = writeln!(
            out,
            "No criterion results under {} (run `cargo bench --bench connect`).\n",
            dir.display()
        );
    } else {
        let _ = writeln!(
            out,
            "### Connection setup, criterion medians (`cargo bench --bench connect`)\n"
        );
        tables(&mut out, &criterion);
    }
    if let Some(interleaved) = read_interleaved(&dir.join("interleaved.json")) {
        let _ = writeln!(
            out,
            "### Connection setup, interleaved medians (`cargo bench --bench interleaved`)\n"
        );
        tables(&mut out, &interleaved);
    }
    allocations(&mut out, &dir.join("allocs.json"));
    print!("{out}");
}

/// Reads `<dir>/<group>/<function>/new/estimates.json` for every known group and contender.
fn read_criterion(dir: &Path) -> Medians {
    let mut medians = Medians::new();
    for (group, _) in GROUPS {
        for who in CONTENDERS {
            let path = dir.join(group).join(who).join("new").join("estimates.json");
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let json: serde_json::Value = match serde_json::from_str(&text) {
                Ok(json) => json,
                Err(e) => {
                    eprintln!("skipping {}: {e}", path.display());
                    continue;
                }
            };
            if let Some(ns) = json["median"]["point_estimate"].as_f64() {
                medians
                    .entry(group.to_owned())
                    .or_default()
                    .insert(who.to_owned(), ns);
            }
        }
    }
    medians
}

/// Reads the interleaved bench's `[{"case", "contender", "median_ns"}, …]`.
fn read_interleaved(path: &Path) -> Option<Medians> {
    let text = std::fs::read_to_string(path).ok()?;
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text).ok()?;
    let mut medians = Medians::new();
    for row in rows {
        let (Some(case), Some(who), Some(ns)) = (
            row["case"].as_str(),
            row["contender"].as_str(),
            row["median_ns"].as_f64(),
        ) else {
            continue;
        };
        medians
            .entry(case.to_owned())
            .or_default()
            .insert(who.to_owned(), ns);
    }
    Some(medians)
}

/// The main table, the per-stage table, connections per second, and the target check.
fn tables(out: &mut String, medians: &Medians) {
    let rows: Vec<(&str, &str, &BTreeMap<String, f64>)> = GROUPS
        .iter()
        .filter_map(|&(group, label)| Some((group, label, medians.get(group)?)))
        .collect();
    let _ = writeln!(
        out,
        "| case | floor | anchor (default) | anchor (nodelay) | ours (after-handshake) | ours (off) \
         | ours/floor | ours/anchor (equal settings) | ours/anchor (default) |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &(_, label, m) in &rows {
        let get = |who: &str| m.get(who).copied();
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {} | {} | {} | {} | {} | {} |",
            time(get(FLOOR)),
            time(get(ANCHOR_DEFAULT)),
            time(get(ANCHOR_NODELAY)),
            time(get(OURS_AFTER_HANDSHAKE)),
            time(get(OURS_KEEPALIVE_OFF)),
            ratio(get(OURS_AFTER_HANDSHAKE), get(FLOOR)),
            ratio(get(OURS_KEEPALIVE_OFF), get(ANCHOR_NODELAY)),
            ratio(get(OURS_AFTER_HANDSHAKE), get(ANCHOR_DEFAULT)),
        );
    }
    let _ = writeln!(
        out,
        "\nours/floor = ours with its defaults (keepalive after the handshake) over the floor; \
         ours/anchor (equal settings) = ours with keepalive off and no timeouts over the anchor \
         with `set_nodelay(true)` (both: `TCP_NODELAY` on, no keepalive, no connect or \
         handshake timeout); ours/anchor (default) = both with their defaults (ours: \
         `TCP_NODELAY` on, keepalive, 10 s connect and handshake timeouts; the anchor: none of \
         these). \
         Times are medians per connection setup (per {BURST} setups in the concurrency rows).\n"
    );

    let _ = writeln!(
        out,
        "Every keepalive stage (median, then ×floor and ×anchor-with-nodelay):\n"
    );
    let _ = writeln!(
        out,
        "| case | ours (before-connect) | ours (after-connect) | ours (after-handshake) | ours (off) |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|");
    for &(_, label, m) in &rows {
        let get = |who: &str| m.get(who).copied();
        let cell = |who: &str| {
            format!(
                "{} ({} / {})",
                time(get(who)),
                ratio(get(who), get(FLOOR)),
                ratio(get(who), get(ANCHOR_NODELAY))
            )
        };
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {} | {} |",
            cell(OURS_BEFORE_CONNECT),
            cell(OURS_AFTER_CONNECT),
            cell(OURS_AFTER_HANDSHAKE),
            cell(OURS_KEEPALIVE_OFF),
        );
    }

    let bursts: Vec<_> = rows
        .iter()
        .filter(|(group, _, _)| group.ends_with("_concurrent_256"))
        .collect();
    if !bursts.is_empty() {
        let _ = writeln!(out, "\nConnections per second ({BURST} setups at once):\n");
        let _ = writeln!(
            out,
            "| case | floor | anchor (default) | anchor (nodelay) | ours (after-handshake) | ours (off) |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
        for &&(_, label, m) in &bursts {
            let cps = |who: &str| match m.get(who) {
                Some(ns) => format!("{:.0}", BURST as f64 * 1e9 / ns),
                None => "—".to_owned(),
            };
            let _ = writeln!(
                out,
                "| {label} | {} | {} | {} | {} | {} |",
                cps(FLOOR),
                cps(ANCHOR_DEFAULT),
                cps(ANCHOR_NODELAY),
                cps(OURS_AFTER_HANDSHAKE),
                cps(OURS_KEEPALIVE_OFF),
            );
        }
    }

    let _ = writeln!(out, "\nTargets:\n");
    for &(group, label, m) in &rows {
        let get = |who: &str| m.get(who).copied();
        let mut checks = Vec::new();
        if let Some(r) = div(get(OURS_KEEPALIVE_OFF), get(ANCHOR_NODELAY)) {
            checks.push(verdict("ours/anchor (equal settings) ≤ 1.00", r, 1.00));
        }
        if group.starts_with("tls") || group.ends_with("first_response") {
            if let Some(r) = div(get(OURS_AFTER_HANDSHAKE), get(FLOOR)) {
                checks.push(verdict("ours/floor ≤ 1.10", r, 1.10));
            }
        }
        let _ = writeln!(out, "- {label}: {}", checks.join("; "));
    }
    let _ = writeln!(out);
}

/// Prints the allocation bench's JSON as a table.
fn allocations(out: &mut String, path: &Path) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    let Ok(rows) = serde_json::from_str::<Vec<serde_json::Value>>(&text) else {
        eprintln!(
            "skipping {}: not the allocation bench's JSON",
            path.display()
        );
        return;
    };
    let _ = writeln!(
        out,
        "### Heap allocations per connection setup (`cargo bench --bench allocs`)\n"
    );
    let _ = writeln!(
        out,
        "| case | contender | allocations | bytes allocated | live after connect (allocations / bytes) |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|");
    for row in rows {
        let num = |key: &str| row[key].as_f64().unwrap_or(f64::NAN);
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} | {:.0} | {:.1} / {:.0} |",
            row["case"].as_str().unwrap_or("?"),
            row["contender"].as_str().unwrap_or("?"),
            num("allocations"),
            num("bytes"),
            num("live_allocations"),
            num("live_bytes"),
        );
    }
    let _ = writeln!(out);
}

fn div(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? / b?)
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match div(a, b) {
        Some(r) => format!("{r:.2}"),
        None => "—".to_owned(),
    }
}

fn verdict(what: &str, r: f64, limit: f64) -> String {
    // Compared at the two decimals printed in the table.
    let met = (r * 100.0).round() <= (limit * 100.0).round();
    format!("{what}: {r:.2} {}", if met { "met" } else { "MISSED" })
}

/// A median in ns, printed in µs (or ms from 10 ms on).
fn time(ns: Option<f64>) -> String {
    match ns {
        None => "—".to_owned(),
        Some(ns) if ns >= 10e6 => format!("{:.1} ms", ns / 1e6),
        Some(ns) if ns >= 1e6 => format!("{:.0} µs", ns / 1e3),
        Some(ns) => format!("{:.1} µs", ns / 1e3),
    }
}
