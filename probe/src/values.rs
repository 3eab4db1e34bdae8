//! The values of keepalive-probe's options that it parses itself: exact decimal seconds and
//! `-H 'Name: value'` headers. They live in the package's library target so the fuzz target
//! `probe_values` (and its replay test) can reach the very code the command runs.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use http::{HeaderName, HeaderValue};

/// A number of seconds as typed (`30`, `1.5`, `0.5`), kept exact: no floating point, so the
/// library's `build()` sees precisely what the user asked for and refuses what the kernel
/// cannot take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seconds {
    raw: String,
    value: Duration,
}

impl Seconds {
    /// The duration.
    pub fn duration(&self) -> Duration {
        self.value
    }

    /// The text the user typed, for error messages.
    pub fn raw(&self) -> &str {
        &self.raw
    }
}

/// Why a number of seconds was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseSecondsError;

impl fmt::Display for ParseSecondsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("expected a number of seconds, like 30 or 1.5")
    }
}

impl std::error::Error for ParseSecondsError {}

impl FromStr for Seconds {
    type Err = ParseSecondsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
        if (whole.is_empty() && frac.is_empty())
            || !digits(whole)
            || !digits(frac)
            || (s.contains('.') && frac.is_empty())
            || frac.len() > 9
        {
            return Err(ParseSecondsError);
        }
        let secs = if whole.is_empty() {
            0
        } else {
            whole.parse::<u64>().map_err(|_| ParseSecondsError)?
        };
        let nanos = if frac.is_empty() {
            0
        } else {
            // Right-pad to nine digits: "5" is 500_000_000 ns.
            format!("{frac:0<9}")
                .parse::<u32>()
                .map_err(|_| ParseSecondsError)?
        };
        Ok(Seconds {
            raw: s.to_owned(),
            value: Duration::new(secs, nanos),
        })
    }
}

/// One `-H 'Name: value'` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The header name.
    pub name: HeaderName,
    /// The header value.
    pub value: HeaderValue,
}

impl FromStr for Header {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, value) = s
            .split_once(':')
            .ok_or_else(|| "expected 'Name: value'".to_owned())?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| format!("bad header name {:?}", name.trim()))?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| format!("bad header value {:?}", value.trim()))?;
        Ok(Header { name, value })
    }
}
