//! Replays every fuzz corpus file and every minimised crash through the same entry functions the
//! fuzz targets call (`fuzz/src/entry.rs` and its modules, included here as they are), on stable
//! and without libFuzzer, so CI exercises the targets and a fixed crash stays fixed.
//!
//! Inputs: `fuzz/corpus/<target>/*` (seeds and what the fuzzer kept) and
//! `fuzz/regressions/<target>/*` (minimised crashes, committed when they were fixed).

use std::fs;
use std::path::{Path, PathBuf};

// The entry functions are `pub` for the fuzz crate; here they are a private module of the test
// binary, and what only gen_seeds uses (re-exports, helpers) is unused.
#[allow(dead_code, unused_imports, unreachable_pub, missing_docs)]
#[path = "../../fuzz/src/entry.rs"]
mod entry;

/// Every file of `fuzz/<kind>/<target>/`, sorted; none when the directory does not exist.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `entry` on every corpus file and regression of `target`; returns how many ran. Each
/// input runs under `catch_unwind`, so one failure names its file instead of hiding the rest.
fn replay(target: &str, entry: fn(&[u8])) -> usize {
    let corpus = inputs("corpus", target);
    assert!(
        !corpus.is_empty(),
        "fuzz/corpus/{target}/ is empty: run `cargo run --manifest-path fuzz/Cargo.toml --bin gen_seeds`"
    );
    let regressions = inputs("regressions", target);
    let mut failed = Vec::new();
    for path in corpus.iter().chain(&regressions) {
        let data = fs::read(path).expect("read a corpus file");
        if std::panic::catch_unwind(|| entry(&data)).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(failed.is_empty(), "{target}: inputs that fail: {failed:#?}");
    eprintln!(
        "{target}: replayed {} corpus files and {} regressions",
        corpus.len(),
        regressions.len()
    );
    corpus.len() + regressions.len()
}

#[test]
fn tls_client_handshake_corpus() {
    assert!(replay("tls_client_handshake", entry::tls_client_handshake) > 0);
}

/// The recorded flights on the deterministic provider must still reach the end of the
/// handshake, TLS 1.3 (also through a HelloRetryRequest) and TLS 1.2: if rustls changes its
/// ClientHello, the flights stop verifying and the corpus silently gets shallow. Then re-run
/// `gen_seeds`.
#[test]
fn tls_seed_flights_complete_the_handshake() {
    let mut completed = Vec::new();
    for path in inputs("corpus", "tls_client_handshake") {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if !name.starts_with("seed-fake-tls") || name.contains("-vs-") {
            continue;
        }
        let data = fs::read(&path).expect("read a seed");
        match entry::tls_client_handshake_outcome(&data) {
            entry::TlsOutcome::Completed { version, .. } => completed.push((name, version)),
            entry::TlsOutcome::Failed(err) => {
                panic!("{name} no longer completes the handshake: {err}; re-run gen_seeds")
            }
        }
    }
    let has = |v: rustls::ProtocolVersion| completed.iter().any(|(_, got)| *got == Some(v));
    assert!(has(rustls::ProtocolVersion::TLSv1_3), "{completed:?}");
    assert!(has(rustls::ProtocolVersion::TLSv1_2), "{completed:?}");
    assert!(
        completed.iter().any(|(name, _)| name.contains("hrr")),
        "{completed:?}"
    );
}

#[test]
fn h2_client_corpus() {
    assert!(replay("h2_client", entry::h2_client) > 0);
}

#[test]
fn http1_client_corpus() {
    assert!(replay("http1_client", entry::http1_client) > 0);
}

#[test]
fn proxy_tunnel_corpus() {
    assert!(replay("proxy_tunnel", entry::proxy_tunnel) > 0);
}

/// The seeds reach both ends: some open a tunnel (a 2xx, a SOCKS5 success, also in chunks and
/// after credentials), the others fail in the proxy phase.
#[test]
fn proxy_seeds_open_tunnels_and_fail_as_expected() {
    let outcome = |name: &str| {
        let data = fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("fuzz/corpus/proxy_tunnel/seed-{name}")),
        )
        .expect("a committed seed");
        entry::proxy_tunnel_outcome(&data)
    };
    for name in [
        "connect-200",
        "connect-200-tinyproxy",
        "connect-200-chunked",
        "connect-leading-crlf",
        "socks-ok",
        "socks-ok-ip",
        "socks-ok-v6",
        "socks-ok-domain",
        "socks-auth-ok",
    ] {
        assert_eq!(outcome(name), entry::TunnelOutcome::Open, "{name}");
    }
    for (name, says) in [
        (
            "connect-407",
            "407 Proxy Authentication Required (the credentials sent were refused)",
        ),
        ("connect-403", "403 Forbidden"),
        ("connect-garbage", "not HTTP"),
        ("connect-extra-bytes", "bytes after its answer to CONNECT"),
        ("connect-half", "reset"),
        ("connect-many-headers", "more than 64 header lines"),
        ("connect-long-header", "longer than 16384 bytes"),
        ("socks-auth-fail", "refused the user name and password"),
        (
            "socks-no-methods",
            "none of the offered authentication methods",
        ),
        ("socks-refused", "connection refused (reply 5)"),
        ("socks-unknown-reply", "unknown reply code"),
        ("socks-bad-version", "does not speak SOCKS5"),
    ] {
        match outcome(name) {
            entry::TunnelOutcome::Failed(text) => assert!(text.contains(says), "{name}: {text}"),
            open => panic!("{name}: {open:?}"),
        }
    }
}

#[test]
fn uri_and_config_corpus() {
    assert!(replay("uri_and_config", entry::uri_and_config) > 0);
}

/// The one layout of `uri_and_config` inputs: what `gen_seeds` encodes, the target decodes to
/// the same settings and text; an input cut short reads as zeros; and the committed seeds
/// decode to what their names say.
#[test]
fn config_inputs_decode_to_what_was_encoded() {
    use entry::{config_flags, set_flags, ConfigInput};
    use std::time::Duration;
    let input = ConfigInput {
        flags: config_flags::BUFFERS | config_flags::KEEPALIVE_OFF,
        idle: Duration::new(1, 1),
        retries: u32::MAX,
        recv_buffer_size: u64::MAX,
        set: set_flags::MAX_RESENDS | set_flags::SILENT_DROP_TIMEOUT,
        max_resends: 11,
        silent_drop_timeout: Duration::new(u64::from(u32::MAX), 999_999_999),
        ..ConfigInput::default()
    };
    let text: [&[u8]; 4] = [b"https://a/", b"a:1:1.2.3.4", b"now", b"pem\nwith\nlines"];
    let data = input.encode(&text);
    assert_eq!(data.len(), ConfigInput::LEN + 41);
    assert_eq!(ConfigInput::decode(&data), (input.clone(), text));
    // Cut short: the missing numbers are zeros, and there is no text.
    let (short, text) = ConfigInput::decode(&data[..5]);
    assert_eq!(short.flags, input.flags);
    assert_eq!(
        short.idle,
        Duration::from_secs(1),
        "its nanoseconds were cut off"
    );
    assert_eq!(short.set, 0);
    assert_eq!(text, [&b""[..]; 4]);

    let seed = |name: &str| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("fuzz/corpus/uri_and_config/seed-{name}"));
        let data = fs::read(path).expect("a committed seed");
        ConfigInput::decode(&data).0
    };
    assert_eq!(seed("defaults"), ConfigInput::default());
    assert_eq!(seed("idle-sub-second").idle, Duration::from_millis(500));
    assert_eq!(seed("retries-too-many").retries, 128);
    assert_eq!(seed("max-resends-too-many").max_resends, 11);
    assert_eq!(seed("max-resends-too-many").set, set_flags::MAX_RESENDS);
}

/// The harness itself: a peer that sends nothing, an empty input, and a bare options byte are
/// handled by every target without a hang.
#[test]
fn empty_inputs() {
    for data in [&[][..], &[0xff][..], &[0x10, 0x00][..]] {
        entry::tls_client_handshake(data);
        entry::h2_client(data);
        entry::http1_client(data);
        entry::uri_and_config(data);
        entry::proxy_tunnel(data);
    }
}
