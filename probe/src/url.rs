//! The URL argument: checked as the library will use it (scheme, host, port, and for `https`
//! a host TLS can verify), with any user info (`user:password@`) stripped from what is sent
//! and redacted in everything printed. The probe sends no credentials of the URL: it measures
//! connections, and a password has no business in its output.

use http::uri::{Authority, Uri};
use keepalive_connector::Origin;

/// The checked URL.
#[derive(Debug, Clone)]
pub(crate) struct TargetUrl {
    /// The URL without user info: what connections and requests use.
    pub(crate) uri: Uri,
    /// The URL as printed: user info, if any, shown as `***@`.
    pub(crate) shown: String,
}

/// Checks `raw`. The error is a reason in a few words that never holds the user info.
pub(crate) fn parse(raw: &str) -> Result<TargetUrl, String> {
    let secrets = secrets(raw);
    let scrub = |reason: String| {
        secrets
            .iter()
            .fold(reason, |text, secret| text.replace(secret.as_str(), "***"))
    };
    let uri: Uri = raw
        .parse()
        .map_err(|e: http::uri::InvalidUri| scrub(e.to_string()))?;
    let origin = Origin::from_uri(&uri).map_err(|e| scrub(e.to_string()))?;
    origin
        .check_server_name()
        .map_err(|e| scrub(e.to_string()))?;
    let had_user_info = uri.authority().is_some_and(|a| a.as_str().contains('@'));
    let uri = without_user_info(uri);
    let shown = if had_user_info {
        let text = uri.to_string();
        match text.split_once("://") {
            Some((scheme, rest)) => format!("{scheme}://***@{rest}"),
            None => text,
        }
    } else {
        uri.to_string()
    };
    Ok(TargetUrl { uri, shown })
}

/// `raw` with everything between `scheme://` and the last `@` before the path shown as
/// `***`: for naming a URL that may not parse. Where it cannot tell the path from a password
/// (an `@` after a `/`), it hides more rather than less.
pub(crate) fn redact(raw: &str) -> String {
    match split_user_info(raw) {
        Some((head, _, tail)) => format!("{head}***@{tail}"),
        None => raw.to_owned(),
    }
}

/// `(scheme://, user info, host and the rest)` when `raw` has user info, judged by the last
/// `@` of the whole text (a password may hold `/`, `?` or `#` when typed unencoded).
fn split_user_info(raw: &str) -> Option<(&str, &str, &str)> {
    let start = raw.find("://").map_or(0, |i| i + 3);
    let at = raw[start..].rfind('@')? + start;
    Some((&raw[..start], &raw[start..at], &raw[at + 1..]))
}

/// The user info and its password, which no message may repeat. The library's reasons quote
/// the host or the port, never the user info; this is a second line of defence, which leaves
/// passwords shorter than 3 characters alone rather than garble every word holding them.
fn secrets(raw: &str) -> Vec<String> {
    let Some((_, info, _)) = split_user_info(raw) else {
        return Vec::new();
    };
    let password = info.split_once(':').map(|(_, p)| p.to_owned());
    // The whole first, so the password inside it is replaced with it.
    std::iter::once(info.to_owned())
        .chain(password)
        .filter(|s| s.len() >= 3)
        .collect()
}

/// `uri` without `user:password@` in its authority.
fn without_user_info(uri: Uri) -> Uri {
    let Some(authority) = uri.authority().map(Authority::as_str) else {
        return uri;
    };
    let Some((_, host)) = authority.rsplit_once('@') else {
        return uri;
    };
    let Ok(host) = host.parse::<Authority>() else {
        return uri;
    };
    let mut parts = uri.into_parts();
    parts.authority = Some(host);
    Uri::from_parts(parts).expect("the same URI with a shorter authority")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_info_is_stripped_and_redacted() {
        let t = parse("https://alice:hunter2@example.com:8443/a?b").unwrap();
        assert_eq!(t.uri, "https://example.com:8443/a?b");
        assert_eq!(t.shown, "https://***@example.com:8443/a?b");
        let t = parse("http://example.com/p@q").unwrap();
        assert_eq!(t.shown, "http://example.com/p@q");
        assert_eq!(t.uri, "http://example.com/p@q");
    }

    #[test]
    fn refusals_never_repeat_the_user_info() {
        for bad in [
            "https://alice:hunter2@a..b/",
            "https://alice:hunter2@host:99999/",
            "https://alice:hun ter2@host/",
            "ftp://alice:hunter2@host/",
        ] {
            let reason = parse(bad).unwrap_err();
            assert!(!reason.contains("hunter2"), "{reason}");
            assert!(!redact(bad).contains("hunter2"), "{bad}");
        }
        assert_eq!(redact("https://u:p#w@h/x"), "https://***@h/x");
        assert_eq!(redact("https://h/x"), "https://h/x");
    }
}
