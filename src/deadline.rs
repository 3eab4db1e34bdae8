//! Time limits on the connect path: one budget counted from a start, and "no timeout" that costs
//! nothing. Every phase bounds its waits through [`within`], so what `Duration::MAX` means is
//! decided here once.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// `start + budget`; a `Duration::MAX` budget means "no timeout": a deadline decades away, not
/// an overflow.
pub(crate) fn deadline_after(start: Instant, budget: Duration) -> Instant {
    start
        .checked_add(budget)
        .unwrap_or_else(|| start + Duration::from_secs(30 * 365 * 86_400))
}

/// Runs `fut` until `deadline`, the end of `budget`; `None` when the deadline passed first.
///
/// A `Duration::MAX` budget means no timeout, and then no timer is registered at all: a pending
/// tokio timer makes the runtime park with a timeout, and a VM pays for the kernel timer that
/// arms in timer exits (`benches/RESULTS.md`, "equal settings without timers", has the
/// measurement).
pub(crate) async fn within<F: Future>(
    budget: Duration,
    deadline: Instant,
    fut: F,
) -> Option<F::Output> {
    if budget == Duration::MAX {
        return Some(fut.await);
    }
    tokio::time::timeout_at(deadline, fut).await.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_budget_ends_at_its_deadline() {
        let start = Instant::now();
        let budget = Duration::from_secs(5);
        let slow = tokio::time::sleep(Duration::from_secs(6));
        assert_eq!(
            within(budget, deadline_after(start, budget), slow).await,
            None
        );
        assert_eq!(start.elapsed(), budget);
        let fast = tokio::time::sleep(Duration::from_secs(1));
        let deadline = deadline_after(Instant::now(), budget);
        assert_eq!(within(budget, deadline, fast).await, Some(()));
    }

    #[tokio::test(start_paused = true)]
    async fn no_timeout_registers_no_timer() {
        // With the clock paused, an idle runtime jumps to its next timer. A timer for the
        // "decades away" deadline would fire after 30 years and end the wait with `None`; with
        // no timer, the only one is the test's own, 40 years out, and it is the one that fires.
        let start = Instant::now();
        let deadline = deadline_after(start, Duration::MAX);
        let never = within(Duration::MAX, deadline, std::future::pending::<()>());
        let outer = Duration::from_secs(40 * 365 * 86_400);
        let waited = tokio::time::timeout(outer, never).await;
        assert!(waited.is_err(), "the wait ended on its own: {waited:?}");
        assert_eq!(start.elapsed(), outer);
    }

    #[test]
    fn a_maximal_budget_does_not_overflow() {
        let start = Instant::now();
        assert!(deadline_after(start, Duration::MAX) > start + Duration::from_secs(365 * 86_400));
    }
}
