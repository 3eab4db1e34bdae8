//! Bad input, as tables: URIs the connector cannot use, stage names and `--resolve` strings the
//! parsers refuse. Each gives an error that names the bad value; none panics (a panic is caught
//! and reported per row, so one bad row does not hide others). Builder values `build()` refuses
//! are tabled in `config_validation.rs`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use keepalive_connector::{
    Connector, ParseResolveErrorKind, Phase, ResolveEntry, Stage, StaticResolver,
};

/// Runs `check` for every row, collecting failures and panics instead of stopping at the first.
fn table<T: std::fmt::Debug>(rows: &[T], check: impl Fn(&T) -> Result<String, String>) {
    let mut failures = Vec::new();
    for row in rows {
        match catch_unwind(AssertUnwindSafe(|| check(row))) {
            Ok(Ok(msg)) => println!("ok   {row:?} -> {msg}"),
            Ok(Err(why)) => failures.push(format!("{row:?}: {why}")),
            Err(_) => failures.push(format!("{row:?}: PANICKED")),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// (URI, substring the error must contain). A port out of range is named as such but not shown
/// (its digits can be part of a password: see `an_out_of_range_port_is_never_shown`).
const BAD_URIS: &[(&str, &str)] = &[
    ("ftp://example.com/", "\"ftp\""),
    ("ws://example.com/chat", "\"ws\""),
    ("/just/a/path", "missing scheme"),
    ("example.com:443", "missing scheme"),
    ("https://example.com:0/", "bad port: expected 1-65535"),
    ("http://example.com:99999/", "bad port: expected 1-65535"),
    ("https://example.com:00000/", "bad port: expected 1-65535"),
    ("https://a!b.example/", "\"a!b.example\""),
    ("https://semi;colon.example/", "\"semi;colon.example\""),
    ("https://[::1%25lo]:8443/", "[::1%25lo]"),
    ("https://example.com:65536/", "bad port: expected 1-65535"),
    (
        "https://-leading-dash.example/",
        "\"-leading-dash.example\"",
    ),
    ("https://256.256.256.256/", "\"256.256.256.256\""),
    ("https://trailing..dots/", "\"trailing..dots\""),
    // A host that ends in a number is an IPv4 address or nothing (WHATWG URL), for http as
    // for https: these never reach a resolver.
    ("http://256.256.256.256/", "\"256.256.256.256\""),
    ("http://1.2.3.4.5/", "\"1.2.3.4.5\""),
    ("http://256.1/", "\"256.1\""),
    ("https://foo.123/", "\"foo.123\""),
    ("http://foo.0x1f/", "\"foo.0x1f\""),
    ("http://0x1g.1/", "\"0x1g.1\""),
    ("http://08/", "\"08\""),
    ("http://4294967296/", "\"4294967296\""),
    ("http://1.2.65536/", "\"1.2.65536\""),
];

/// Digits the `http` crate takes for a port can be the start of a password whose `#`, `/` or
/// `?` was not percent-encoded: neither the error nor the URI it quotes shows them.
#[tokio::test]
async fn an_out_of_range_port_is_never_shown() {
    let connector = Connector::builder()
        .dns_resolver(StaticResolver::new().no_fallback())
        .build()
        .unwrap();
    for raw in [
        "https://bob:99999#pw@example.com/",
        "http://bob:70000/pw@example.com/",
        "https://bob:00000?pw@example.com/",
        "https://example.com:123456/",
    ] {
        let uri: http::Uri = raw.parse().unwrap();
        let err = connector.connect(&uri).await.unwrap_err();
        assert_eq!(err.phase(), Phase::Uri, "{raw}: {err}");
        let shown = format!("{err} {err:?}");
        assert!(shown.contains("bad port"), "{raw}: {shown}");
        for digits in ["99999", "70000", "00000", "123456"] {
            assert!(!shown.contains(digits), "{raw}: {shown}");
        }
        let err = connector.client().get(uri).await.unwrap_err();
        let shown = format!("{err} {err:?}");
        for digits in ["99999", "70000", "00000", "123456"] {
            assert!(!shown.contains(digits), "{raw}: {shown}");
        }
    }
}

#[tokio::test]
async fn bad_uris_are_uri_errors_naming_the_bad_part() {
    // No system DNS: if a row wrongly got past the URI phase, it would fail as Dns, not hang.
    let connector = Connector::builder()
        .dns_resolver(StaticResolver::new().no_fallback())
        .connect_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let mut failures = Vec::new();
    for &(input, needle) in BAD_URIS {
        let uri: http::Uri = match input.parse() {
            Ok(uri) => uri,
            Err(e) => {
                failures.push(format!("{input}: the http crate refuses it ({e}): bad row"));
                continue;
            }
        };
        let connector = connector.clone();
        // A spawned task turns a panic into a JoinError instead of ending the test.
        let joined = tokio::spawn(async move { connector.connect(&uri).await }).await;
        let err = match joined {
            Err(e) if e.is_panic() => {
                failures.push(format!("{input}: PANICKED"));
                continue;
            }
            Err(e) => panic!("{e}"),
            Ok(Ok(_)) => {
                failures.push(format!("{input}: connected"));
                continue;
            }
            Ok(Err(err)) => err,
        };
        let msg = err.to_string();
        if err.phase() != Phase::Uri || !msg.contains(needle) || err.addr().is_some() {
            failures.push(format!(
                "{input}: want phase uri naming {needle}, got {:?}: {msg}",
                err.phase()
            ));
        } else {
            println!("ok   {input} -> {msg}");
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn bad_stage_names_are_refused_naming_the_input() {
    table(
        &["", "during-connect", "after handshake", "afterhandshake"],
        |s| match s.parse::<Stage>() {
            Ok(stage) => Err(format!("parsed as {stage}")),
            Err(e) if e.to_string().contains(&format!("{s:?}")) => Ok(e.to_string()),
            Err(e) => Err(format!("does not name {s:?}: {e}")),
        },
    );
}

/// Which part of a `HOST:PORT:ADDR` string is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Shape,
    Host,
    Port,
    Addr,
}

/// (input, bad part, substring naming it).
const BAD_RESOLVE: &[(&str, Part, &str)] = &[
    ("", Part::Shape, "\"\""),
    ("example.com", Part::Shape, "\"example.com\""),
    ("example.com:443", Part::Shape, "\"example.com:443\""),
    (":443:127.0.0.1", Part::Host, "bad host \"\""),
    ("exa mple.com:443:127.0.0.1", Part::Host, "\"exa mple.com\""),
    ("exämple.com:443:127.0.0.1", Part::Host, "\"exämple.com\""),
    ("[::1]:443:127.0.0.1", Part::Host, "bad host \"[\""),
    ("example.com:https:127.0.0.1", Part::Port, "\"https\""),
    ("example.com:0:127.0.0.1", Part::Port, "bad port \"0\""),
    ("example.com:65536:127.0.0.1", Part::Port, "\"65536\""),
    ("example.com:+443:127.0.0.1", Part::Port, "\"+443\""),
    ("example.com:-1:127.0.0.1", Part::Port, "\"-1\""),
    ("example.com::127.0.0.1", Part::Port, "bad port \"\""),
    ("example.com:443:", Part::Addr, "bad address \"\""),
    ("example.com:443:localhost", Part::Addr, "\"localhost\""),
    ("example.com:443:127.0.0.1,", Part::Addr, "bad address \"\""),
    (
        "example.com:443:1.1.1.1,,2.2.2.2",
        Part::Addr,
        "bad address \"\"",
    ),
    ("example.com:443:127.0.0.256", Part::Addr, "\"127.0.0.256\""),
    ("example.com:443:[::1", Part::Addr, "\"[::1\""),
    ("example.com:443:::1::2", Part::Addr, "\"::1::2\""),
    (
        "example.com:443:127.0.0.1:80",
        Part::Addr,
        "\"127.0.0.1:80\"",
    ),
];

#[test]
fn bad_resolve_strings_are_refused_naming_the_bad_part() {
    table(BAD_RESOLVE, |&(input, part, needle)| {
        let err = match input.parse::<ResolveEntry>() {
            Ok(entry) => return Err(format!("accepted as {entry:?}")),
            Err(err) => err,
        };
        let got = match err.kind() {
            ParseResolveErrorKind::Shape => Part::Shape,
            ParseResolveErrorKind::Host(_) => Part::Host,
            ParseResolveErrorKind::Port(_) => Part::Port,
            ParseResolveErrorKind::Addr(_) => Part::Addr,
            other => return Err(format!("unexpected kind {other:?}")),
        };
        let msg = err.to_string();
        if got != part {
            return Err(format!("{got:?}, want {part:?}: {msg}"));
        }
        if !msg.contains(needle) || !msg.contains(&format!("{input:?}")) {
            return Err(format!(
                "message does not name {needle} and the input: {msg}"
            ));
        }
        Ok(msg)
    });
}
