use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use keepalive_connector::{Connector, Trust};
use keepalive_testserver::nginx::{Nginx, NginxConfig};
use keepalive_testserver::TestCa;
use std::time::{Duration, Instant};

fn connector(ca: &TestCa) -> Connector {
    Connector::builder()
        .trust(Trust::AddedRootsOnly)
        .add_root_certificates_pem(ca.cert_pem().as_bytes())
        .build()
        .unwrap()
}

#[tokio::test]
async fn experiment_close_race() {
    let ca = TestCa::new();
    let nginx = Nginx::start(
        &NginxConfig::plain().directive("keepalive_timeout 200ms;"),
        &ca,
    )
    .unwrap();
    let client = connector(&ca).client::<Full<Bytes>>();
    let mut fails = 0;
    for i in 0..240u32 {
        let gap = 180 + (i % 40);
        tokio::time::sleep(Duration::from_millis(gap as u64)).await;
        let req = http::Request::post(nginx.url("/"))
            .header("idempotency-key", i.to_string())
            .body(Full::from("x"))
            .unwrap();
        match client.request(req).await {
            Ok(r) => {
                let _ = r.into_body().collect().await;
            }
            Err(e) => {
                fails += 1;
                println!("fail {i} gap {gap}: {e:?}");
            }
        }
    }
    println!("EXPERIMENT close race: {fails} of 240 failed");
}

#[tokio::test]
async fn experiment_goaway_burst() {
    let ca = TestCa::new();
    let nginx = Nginx::start(
        &NginxConfig::tls()
            .http2()
            .directive("keepalive_requests 5;"),
        &ca,
    )
    .unwrap();
    let client = connector(&ca).client::<Full<Bytes>>();
    // warm
    let r = client
        .request(
            http::Request::get(nginx.url("/"))
                .body(Full::default())
                .unwrap(),
        )
        .await
        .unwrap();
    println!("version {:?}", r.version());
    let _ = r.into_body().collect().await;
    let t = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..60 {
        let c = client.clone();
        let u = nginx.url("/");
        set.spawn(async move {
            c.request(http::Request::post(u).body(Full::from("x")).unwrap())
                .await
                .map(|_| ())
                .map_err(|e| format!("{e:?}"))
        });
    }
    let mut fails = 0;
    let mut first = None;
    while let Some(r) = set.join_next().await {
        if let Err(e) = r.unwrap() {
            fails += 1;
            first.get_or_insert(e);
        }
    }
    println!(
        "EXPERIMENT goaway: {fails} of 60 failed in {:?}; e.g. {first:?}",
        t.elapsed()
    );
}
