//! The entry function of the `probe_values` fuzz target: `keepalive-probe`'s own parsers of
//! option values (exact decimal seconds, `-H 'Name: value'` headers). The probe's other inputs
//! (`--resolve`, `--stage`, the URL) go through the library parsers that `uri_and_config`
//! covers. Included as it is by `probe/tests/fuzz_replay.rs`, so the corpus replays on stable.

use std::time::Duration;

use keepalive_connector::Keepalive;
use keepalive_probe::{Header, Seconds};

/// The first byte picks the parser (even: seconds, odd: header); the rest is the text.
pub fn probe_values(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if which % 2 == 0 {
        seconds(text);
    } else {
        header(text);
    }
}

fn seconds(text: &str) {
    let Ok(parsed) = text.parse::<Seconds>() else {
        return;
    };
    assert_eq!(parsed.raw(), text);
    // Only digits and at most one dot, with at most nine decimals: nothing was rounded away.
    assert!(
        text.bytes().all(|b| b.is_ascii_digit() || b == b'.'),
        "{text:?}"
    );
    assert!(text.matches('.').count() <= 1, "{text:?}");
    let d = parsed.duration();
    // Exact round trip through the canonical spelling.
    let canonical = format!("{}.{:09}", d.as_secs(), d.subsec_nanos());
    let again: Seconds = canonical.parse().expect("the canonical spelling parses");
    assert_eq!(again.duration(), d, "{text:?} vs {canonical:?}");
    // And it agrees with a float reading wherever a float is precise enough to tell.
    if let Ok(f) = text.parse::<f64>() {
        if f < 1e6 {
            let diff = (d.as_secs_f64() - f).abs();
            assert!(diff < 1e-6, "{text:?} = {d:?}, float {f}");
        }
    }
    // Whole seconds from 1 s to the library's maximum are what its keepalive accepts; the
    // probe hands the value over unchanged, so the library decides.
    let accepted = d >= Duration::from_secs(1) && d.subsec_nanos() == 0 && d <= Keepalive::MAX_IDLE;
    let built = keepalive_connector::Connector::builder()
        .keepalive(Keepalive::new().idle(d))
        .build();
    assert_eq!(built.is_ok(), accepted, "{text:?} = {d:?}: {built:?}");
}

fn header(text: &str) {
    let Ok(parsed) = text.parse::<Header>() else {
        return;
    };
    assert!(text.contains(':'), "{text:?}");
    let value = parsed.value.to_str().map(str::to_owned);
    if let Ok(value) = value {
        // Printable values round-trip through the `Name: value` spelling.
        let again: Header = format!("{}: {}", parsed.name, value)
            .parse()
            .expect("a parsed header re-parses");
        assert_eq!(again, parsed, "{text:?}");
    }
}
