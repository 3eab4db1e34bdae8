//! Pooled clients against servers that close idle connections, side by side in one run:
//! hyper-util's pooled `Client` over our connector (the anchor: what `client_builder()` gives)
//! and ours (`connector.client()`), each with its own pool, sending the same requests at the
//! same moments to the same real nginx. Reported per workload: failed requests per 1,000
//! (replayable ones — GET, or POST with an `Idempotency-Key` — and the others apart), re-sends
//! per 1,000, and new connections per 100 requests (counted by the connector's socket hook).
//!
//! Workloads:
//! - **close race**: nginx `keepalive_timeout 200ms`, requests 180–220 ms apart (GET and keyed
//!   POST in turn): every request arrives about when the server closes the idle connection;
//! - **Keep-Alive**: nginx `keepalive_timeout 3s 3` (closes at 3 s and says `timeout=3`),
//!   requests 2.95–3.05 s apart (as the server closes) or 1–2 s apart (reuse is safe), half
//!   each;
//! - **Keep-Alive, 25 ms link**: the same server behind [`SlowLink`], 25 ms each way, as across
//!   a real network (on loopback the race between the server's close and the next request is
//!   some 50 µs wide; here it is 50 ms): half GET, half POST without a key, which no re-send
//!   may save;
//! - **GOAWAY burst**: HTTP/2 nginx with `keepalive_requests 5`, rounds of 60 concurrent POSTs
//!   without a key (refused streams are unprocessed: re-sent whatever the method);
//! - **agent**: a time-scaled LLM agent, requests 0.1–1 s apart to nginx closing idle
//!   connections after 0.5 s (`keepalive_timeout 500ms`), half GET, a third POST with a key, the
//!   rest POST without one;
//! - **think time**: the pool idle timeout's cost, time-scaled by 1/10: requests 0.1–6 s apart
//!   (1–60 s of user think time) to nginx keeping connections 75 s (7.5 s scaled), ours with
//!   the default 90 s pool idle timeout (9 s scaled) against ours with 20 s (2 s scaled), the
//!   previous default; the anchor here is ours at 20 s.
//!
//! Run with `cargo bench --bench pool` (about four minutes; the workloads run concurrently).
//! `POOL_BENCH_SCALE=0.25` runs a quarter of the requests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use keepalive_connector::{Builder, Client, Connector, RequestInfo, Stage, Trust};
use keepalive_testserver::nginx::Nginx;
use keepalive_testserver::{SlowLink, TestCa};

/// A deterministic stream of numbers (a 64-bit LCG): both contenders see the same gaps.
struct Lcg(u64);

impl Lcg {
    fn next_unit(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    fn between(&mut self, lo: Duration, hi: Duration) -> Duration {
        lo + (hi - lo).mul_f64(self.next_unit())
    }
}

/// What one contender saw in one workload.
#[derive(Debug, Default)]
struct Tally {
    requests: usize,
    failed_replayable: usize,
    failed_other: usize,
    resends: usize,
    connections: usize,
    /// The first few failures' messages.
    examples: Vec<String>,
}

impl Tally {
    fn row(&self, workload: &str, who: &str) -> String {
        let per = |n: usize, scale: f64| n as f64 * scale / self.requests.max(1) as f64;
        format!(
            "| {workload} | {who} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
            self.requests,
            per(self.failed_replayable, 1000.0),
            per(self.failed_other, 1000.0),
            per(self.resends, 1000.0),
            per(self.connections, 100.0),
        )
    }
}

/// The two contenders' ways of sending: ours, or hyper-util's pooled client.
#[derive(Clone)]
enum Sender {
    Ours(Client),
    Anchor(Box<HyperClient<Connector, Full<Bytes>>>),
}

/// Sends `req`, reads the body; `Ok(re-sends)` or the failure.
async fn send(sender: &Sender, req: Request<Full<Bytes>>) -> Result<usize, String> {
    match sender {
        Sender::Ours(client) => {
            let resp = client.request(req).await.map_err(|e| e.to_string())?;
            let retries = resp
                .extensions()
                .get::<RequestInfo>()
                .map_or(0, |i| i.retries() as usize);
            resp.into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?;
            Ok(retries)
        }
        Sender::Anchor(client) => {
            let resp = client.request(req).await.map_err(|e| format!("{e:?}"))?;
            resp.into_body()
                .collect()
                .await
                .map_err(|e| format!("{e:?}"))?;
            Ok(0)
        }
    }
}

impl Tally {
    fn failed(&mut self, replayable: bool, why: String) {
        if replayable {
            self.failed_replayable += 1;
        } else {
            self.failed_other += 1;
        }
        if self.examples.len() < 3 {
            self.examples.push(why);
        }
    }
}

/// A connector over the CA whose socket hook counts new connections.
fn counted(builder: Builder, ca: &TestCa) -> (Connector, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let hook = Arc::clone(&count);
    let connector = builder
        .trust(Trust::AddedRootsOnly)
        .add_root_certificates_pem(ca.cert_pem().as_bytes())
        .socket_hook(move |stage, _| {
            if stage == Stage::BeforeConnect {
                hook.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        })
        .build()
        .expect("valid");
    (connector, count)
}

/// The contenders for a workload: (name, sender, connection counter).
fn contenders(ca: &TestCa) -> Vec<(&'static str, Sender, Arc<AtomicUsize>)> {
    let (theirs, theirs_count) = counted(Connector::builder(), ca);
    let anchor = theirs.client_builder().build(theirs);
    let (ours, ours_count) = counted(Connector::builder(), ca);
    vec![
        ("hyper-util", Sender::Anchor(Box::new(anchor)), theirs_count),
        ("ours", Sender::Ours(ours.client()), ours_count),
    ]
}

#[derive(Clone, Copy)]
enum Kind {
    Get,
    KeyedPost,
    Post,
}

impl Kind {
    fn replayable(self) -> bool {
        !matches!(self, Kind::Post)
    }

    fn request(self, url: &str, n: usize) -> Request<Full<Bytes>> {
        let builder = Request::builder().uri(url);
        let builder = match self {
            Kind::Get => builder.method(Method::GET),
            Kind::KeyedPost => builder
                .method(Method::POST)
                .header("idempotency-key", format!("req-{n}")),
            Kind::Post => builder.method(Method::POST),
        };
        builder.body(Full::from("{\"prompt\":\"hello\"}")).unwrap()
    }
}

/// Sequential requests with gaps from `gaps`, the same for every contender, all contenders at
/// once (each its own task and pool).
async fn sequential(
    contenders: Vec<(&'static str, Sender, Arc<AtomicUsize>)>,
    url: String,
    requests: usize,
    seed: u64,
    gap: impl Fn(&mut Lcg) -> Duration + Send + Sync + Copy + 'static,
    kind: impl Fn(&mut Lcg) -> Kind + Send + Sync + Copy + 'static,
) -> Vec<(&'static str, Tally)> {
    let mut tasks = Vec::new();
    for (name, sender, count) in contenders {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = Lcg(seed);
            let mut tally = Tally::default();
            for n in 0..requests {
                tokio::time::sleep(gap(&mut rng)).await;
                let kind = kind(&mut rng);
                tally.requests += 1;
                match send(&sender, kind.request(&url, n)).await {
                    Ok(resends) => tally.resends += resends,
                    Err(why) => tally.failed(kind.replayable(), why),
                }
            }
            tally.connections = count.load(Ordering::Relaxed);
            (name, tally)
        }));
    }
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.expect("no panic"));
    }
    out
}

async fn burst(
    contenders: Vec<(&'static str, Sender, Arc<AtomicUsize>)>,
    url: String,
    rounds: usize,
) -> Vec<(&'static str, Tally)> {
    let mut out = Vec::new();
    for (name, sender, count) in contenders {
        let mut tally = Tally::default();
        for _ in 0..rounds {
            let mut set = tokio::task::JoinSet::new();
            for n in 0..60 {
                let (sender, url) = (sender.clone(), url.clone());
                set.spawn(async move { send(&sender, Kind::Post.request(&url, n)).await });
            }
            while let Some(joined) = set.join_next().await {
                tally.requests += 1;
                match joined.expect("no panic") {
                    Ok(resends) => tally.resends += resends,
                    // Unprocessed (refused) POSTs: replayable by the rules.
                    Err(why) => tally.failed(true, why),
                }
            }
        }
        tally.connections = count.load(Ordering::Relaxed);
        out.push((name, tally));
    }
    out
}

/// The gaps of the `Keep-Alive: timeout=3` workloads: half at the server's close (2.95–3.05 s),
/// half where reuse is safe (1–2 s).
fn announced_gap(r: &mut Lcg) -> Duration {
    if r.next_unit() < 0.5 {
        r.between(Duration::from_millis(2_950), Duration::from_millis(3_050))
    } else {
        r.between(Duration::from_millis(1_000), Duration::from_millis(2_000))
    }
}

fn nginx(directive: &str, ca: Option<&TestCa>) -> Nginx {
    let mut builder = Nginx::builder().directive(directive);
    if let Some(ca) = ca {
        builder = builder.tls(ca).http2();
    }
    builder
        .start()
        .unwrap_or_else(|e| panic!("benches/pool needs nginx (apt-get install nginx-light): {e}"))
}

fn main() {
    // `cargo test --benches` runs bench targets with no arguments besides the harness's;
    // criterion's own `--bench` flag marks a real run.
    if !std::env::args().any(|a| a == "--bench") {
        println!("benches/pool: run with `cargo bench --bench pool`");
        return;
    }
    let scale: f64 = std::env::var("POOL_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let n = |full: usize| ((full as f64 * scale).ceil() as usize).max(1);
    let ca = TestCa::new();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let race = nginx("keepalive_timeout 200ms", None);
    let announced = nginx("keepalive_timeout 3s 3", None);
    let announced_far = nginx("keepalive_timeout 3s 3", None);
    let h2 = nginx("keepalive_requests 5", Some(&ca));
    let agent = nginx("keepalive_timeout 500ms", None);
    let think = nginx("keepalive_timeout 7500ms", None);
    let ms = Duration::from_millis;
    let rows = rt.block_on(async {
        let link = SlowLink::start(announced_far.addr(), ms(25))
            .await
            .expect("a loopback listener");
        let (race_rows, announced_rows, far_rows, burst_rows, agent_rows, think_rows) = tokio::join!(
            sequential(
                contenders(&ca),
                race.url("/"),
                n(1000),
                1,
                move |r| r.between(ms(180), ms(220)),
                |r| if r.next_unit() < 0.5 {
                    Kind::Get
                } else {
                    Kind::KeyedPost
                },
            ),
            sequential(
                contenders(&ca),
                announced.url("/"),
                n(60),
                2,
                announced_gap,
                |_| Kind::Get,
            ),
            sequential(
                contenders(&ca),
                link.url("/"),
                n(60),
                5,
                announced_gap,
                |r| {
                    if r.next_unit() < 0.5 {
                        Kind::Get
                    } else {
                        Kind::Post
                    }
                },
            ),
            burst(contenders(&ca), h2.url("/"), n(10)),
            sequential(
                contenders(&ca),
                agent.url("/"),
                n(400),
                3,
                move |r| r.between(ms(100), ms(1_000)),
                |r| match r.next_unit() {
                    u if u < 0.5 => Kind::Get,
                    u if u < 0.83 => Kind::KeyedPost,
                    _ => Kind::Post,
                },
            ),
            async {
                let (old, old_count) =
                    counted(Connector::builder().pool_idle_timeout(ms(2_000)), &ca);
                let (new, new_count) =
                    counted(Connector::builder().pool_idle_timeout(ms(9_000)), &ca);
                sequential(
                    vec![
                        (
                            "ours, pool idle 20 s",
                            Sender::Ours(old.client()),
                            old_count,
                        ),
                        (
                            "ours, pool idle 90 s",
                            Sender::Ours(new.client()),
                            new_count,
                        ),
                    ],
                    think.url("/"),
                    n(60),
                    4,
                    move |r| r.between(ms(100), ms(6_000)),
                    |r| {
                        if r.next_unit() < 0.5 {
                            Kind::Get
                        } else {
                            Kind::Post
                        }
                    },
                )
                .await
            },
        );
        let mut rows = Vec::new();
        let mut examples = Vec::new();
        for (workload, tallies) in [
            ("close race (200 ms)", race_rows),
            ("Keep-Alive: timeout=3", announced_rows),
            ("Keep-Alive: timeout=3, 25 ms link", far_rows),
            ("HTTP/2 GOAWAY burst", burst_rows),
            ("agent (0.5 s close)", agent_rows),
            ("think time (time/10)", think_rows),
        ] {
            for (who, tally) in tallies {
                rows.push(tally.row(workload, who));
                for why in &tally.examples {
                    examples.push(format!("{workload}, {who}: {why}"));
                }
            }
        }
        (rows, examples)
    });
    let (rows, examples) = rows;
    println!(
        "| workload | client | requests | failed replayable / 1,000 | failed other / 1,000 | re-sent / 1,000 | new connections / 100 |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for row in rows {
        println!("{row}");
    }
    if !examples.is_empty() {
        println!("\nfailures (the first three per contender and workload):");
        for why in examples {
            println!("- {why}");
        }
    }
}
