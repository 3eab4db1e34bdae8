use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use keepalive_connector::{Connector, RequestInfo};
use keepalive_testserver::nginx::Nginx;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zz_race_stress() {
    let nginx = Nginx::builder()
        .directive("keepalive_timeout 200ms")
        .start()
        .unwrap();
    let mut tasks = Vec::new();
    for t in 0..12u64 {
        let url = nginx.url("/");
        tasks.push(tokio::spawn(async move {
            let client = Connector::builder()
                .build()
                .unwrap()
                .client::<Full<Bytes>>();
            let mut errs = Vec::new();
            let mut resent = 0;
            for i in 0..100u64 {
                tokio::time::sleep(Duration::from_millis(185 + (i * 7 + t * 13) % 30)).await;
                let req = Request::builder()
                    .method(if i % 2 == 0 {
                        Method::GET
                    } else {
                        Method::POST
                    })
                    .uri(&url)
                    .header("idempotency-key", "k")
                    .body(Full::from("x"))
                    .unwrap();
                match client.request(req).await {
                    Ok(r) => {
                        resent += r.extensions().get::<RequestInfo>().unwrap().retries();
                        if let Err(e) = r.into_body().collect().await {
                            errs.push(format!("body: {e:?}"));
                        }
                    }
                    Err(e) => errs.push(format!("{e} || {e:?}")),
                }
            }
            (errs, resent)
        }));
    }
    let mut total = 0;
    let mut resent = 0;
    for t in tasks {
        let (e, r) = t.await.unwrap();
        resent += r;
        for x in &e {
            println!("ERR {x}");
        }
        total += e.len();
    }
    println!("RACE: {total} failures of 1200, {resent} resent");
}
