//! `--idle [MAX]`: the longest idle time to try, and the ladder of idle times up to it.

use std::time::Duration;

use keepalive_probe::Seconds;

/// MAX when `--idle` is given without a value.
pub(crate) const DEFAULT_MAX: &str = "120";
/// The longest MAX: an hour. Longer waits are better measured by a monitoring system.
pub(crate) const LIMIT: Duration = Duration::from_secs(3600);
/// The most connections held idle without keepalive at once.
const MAX_RUNGS: usize = 16;
/// The idle times a ladder takes its rungs from: close together where timeouts are common
/// and short (a NAT's 5-30 s), further apart beyond.
const NICE: [u64; 25] = [
    1, 2, 3, 4, 6, 8, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 300, 420, 600, 900, 1200, 1500,
    1800, 2700, 3600,
];

/// Checks `--idle`'s value: seconds from 1 to 3600. The error is the whole message.
pub(crate) fn parse_max(raw: &str) -> Result<Duration, String> {
    let range = "a number of seconds from 1 to 3600 (an hour), like 120";
    let Ok(secs) = raw.parse::<Seconds>() else {
        let hint = if raw.contains("://") {
            "; a URL right after --idle is taken for MAX: write --idle 120 URL, or the URL first"
        } else {
            ""
        };
        return Err(format!("error: --idle {raw}: expected {range}{hint}"));
    };
    let max = secs.duration();
    if max < Duration::from_secs(1) || max > LIMIT {
        return Err(format!("error: --idle {raw}: expected {range}"));
    }
    Ok(max)
}

/// The idle times of the connections without keepalive: the [`NICE`] values below `max`,
/// and `max` itself, at most [`MAX_RUNGS`] of them (the longest kept).
pub(crate) fn rungs(max: Duration) -> Vec<Duration> {
    let mut out: Vec<Duration> = NICE
        .iter()
        .map(|&s| Duration::from_secs(s))
        .filter(|&d| d < max)
        .collect();
    out.push(max);
    let drop = out.len().saturating_sub(MAX_RUNGS);
    out.drain(..drop);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&s| Duration::from_secs(s)).collect()
    }

    #[test]
    fn ladders_end_at_max_and_stay_small() {
        assert_eq!(
            rungs(Duration::from_secs(12)),
            secs(&[1, 2, 3, 4, 6, 8, 10, 12])
        );
        assert_eq!(rungs(Duration::from_secs(1)), secs(&[1]));
        assert_eq!(
            rungs(Duration::from_secs(120)),
            secs(&[1, 2, 3, 4, 6, 8, 10, 15, 20, 30, 45, 60, 90, 120])
        );
        assert_eq!(
            rungs(Duration::from_millis(2500)),
            vec![
                Duration::from_secs(1),
                Duration::from_secs(2),
                Duration::from_millis(2500)
            ]
        );
        let hour = rungs(LIMIT);
        assert_eq!(hour.len(), MAX_RUNGS);
        assert_eq!(hour.last(), Some(&LIMIT));
        assert_eq!(hour[0], Duration::from_secs(30));
    }

    #[test]
    fn absurd_values_are_refused_with_the_range() {
        for bad in ["0", "0.5", "3601", "1e3", "soon", "-5", ""] {
            let msg = parse_max(bad).unwrap_err();
            assert!(msg.contains("from 1 to 3600"), "{bad}: {msg}");
            assert!(msg.starts_with(&format!("error: --idle {bad}:")), "{msg}");
        }
        assert!(parse_max("https://example.com/")
            .unwrap_err()
            .contains("--idle 120 URL"));
        assert_eq!(parse_max("3600"), Ok(LIMIT));
        assert_eq!(parse_max("1.5"), Ok(Duration::from_millis(1500)));
    }
}
