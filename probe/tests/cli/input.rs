//! What the probe does with bad input and with secrets in its input: a usage error is exit 2
//! with a message naming the input (and, with `--json`, a JSON document on stdout); user info
//! in the URL (`https://user:password@host/`) is never printed, in text or JSON, on any path.

use keepalive_testserver::TestServer;

use super::{json, local_args, probe, probe_async, stderr, stdout, CaFile};

/// A usage error with `--json` still prints one JSON document on stdout, saying what was
/// wrong, and exits 2; the line on stderr stays.
#[test]
fn usage_errors_with_json_print_a_json_error_document() {
    for (args, named) in [
        (
            vec!["--json", "--keepalive-idle", "0.5"],
            "--keepalive-idle 0.5",
        ),
        (vec!["--json", "--repeat", "0"], "0"),
        (vec!["not-a-url", "--json"], "not-a-url"),
        (vec!["--json", "https://a..b/"], "a..b"),
    ] {
        let out = probe(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let doc = json(&out);
        assert_eq!(doc["ok"], false, "{doc}");
        assert_eq!(doc["error"]["kind"], "usage", "{doc}");
        assert_eq!(doc["error"]["exit"], 2, "{doc}");
        let message = doc["error"]["message"].as_str().unwrap();
        assert!(message.contains(named), "{args:?}: {message}");
        assert!(stderr(&out).contains(named), "{args:?}");
    }
}

/// A host TLS cannot verify (rustls makes no server name of it) is a usage error naming the
/// URL, found before any network work, not "unreachable" (exit 1).
#[test]
fn an_https_host_tls_cannot_verify_is_a_usage_error() {
    for (url, host) in [
        ("https://a..b/", "a..b"),
        ("https://-x.example/", "-x.example"),
    ] {
        let out = probe(&[url, "--stage", "off"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{url}: {}{err}", stdout(&out));
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(host) && err.contains("TLS"), "{err}");
        assert!(out.stdout.is_empty());
    }
}

/// User info in the URL never reaches the output: not in the text report, not in JSON, not in
/// the usage errors of URLs that do not parse or that TLS cannot verify. It is shown as `***@`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_info_in_the_url_is_never_printed() {
    let server = TestServer::start().await.unwrap();
    let ca = CaFile::new(&server);
    let port = server.addr().port();
    let mut args = local_args(port, &ca);
    args[0] = format!("https://alice:hunter2@localhost:{port}/");
    let mut stage_args = args.clone();
    stage_args.extend(["--stage".into(), "off".into()]);
    let out = probe_async(stage_args.clone()).await;
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        !text.contains("hunter2") && !text.contains("alice"),
        "{text}"
    );
    assert!(
        text.contains(&format!("https://***@localhost:{port}/")),
        "{text}"
    );
    stage_args.push("--json".into());
    let out = probe_async(stage_args).await;
    let doc = json(&out);
    assert!(!doc.to_string().contains("hunter2"), "{doc}");
    assert_eq!(doc["url"], format!("https://***@localhost:{port}/"));
    // The idle mode's report and JSON too.
    for json_flag in [false, true] {
        let mut idle = args.clone();
        idle.retain(|a| a != "--json");
        idle.extend(["--idle".into(), "1".into()]);
        if json_flag {
            idle.push("--json".into());
        }
        let out = probe_async(idle).await;
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert_eq!(out.status.code(), Some(0), "{all}");
        assert!(!all.contains("hunter2") && !all.contains("alice"), "{all}");
        assert!(all.contains("***@localhost"), "{all}");
    }

    for bad in [
        "https://alice:hunter2@a..b/",
        "https://alice:hunter2@host:99999/",
        "https://alice:hun ter2@host/",
        "ftp://alice:hunter2@host/",
    ] {
        for json_flag in [false, true] {
            let mut args = vec![bad];
            if json_flag {
                args.push("--json");
            }
            let out = probe(&args);
            let all = format!("{}{}", stdout(&out), stderr(&out));
            assert_eq!(out.status.code(), Some(2), "{bad}: {all}");
            assert!(
                !all.contains("hunter2") && !all.contains("hun ter2"),
                "{all}"
            );
            assert!(all.contains("***@"), "the URL is named, redacted: {all}");
        }
    }
}
