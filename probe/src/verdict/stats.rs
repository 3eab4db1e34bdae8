//! Fisher's exact test, one-sided: could one row's failure count be chance, given another
//! row's? Written out here (a log-factorial table and a sum over the hypergeometric tail)
//! because it is twenty lines, while the statistics crates that have it bring a numerics stack
//! the probe does not otherwise need.

/// The significance level: a row fails "more often" than another only when chance would give
/// its count or a worse one less than 5 % of the time.
pub(crate) const ALPHA: f64 = 0.05;

/// Whether `p` is below [`ALPHA`]. A p-value of exactly 0.05 (3 of 3 against 0 of 3 is 1/20)
/// is not, whatever the last bit of the floating-point sum says.
pub(crate) fn significant(p: f64) -> bool {
    p < ALPHA * (1.0 - 1e-9)
}

/// The one-sided p-value that group A (`a` failures in `n_a` attempts) fails more often than
/// group B (`b` failures in `n_b`): with the margins fixed, the probability of `a` or more of
/// the `a + b` failures landing in A (hypergeometric upper tail). 1.0 when A has no attempts.
pub(crate) fn fisher_greater(a: usize, n_a: usize, b: usize, n_b: usize) -> f64 {
    debug_assert!(a <= n_a && b <= n_b);
    if n_a == 0 || n_b == 0 {
        return 1.0;
    }
    let n = n_a + n_b;
    let k = a + b;
    let ln_fact = ln_factorials(n);
    let ln_choose = |n: usize, r: usize| ln_fact[n] - ln_fact[r] - ln_fact[n - r];
    let total = ln_choose(n, n_a);
    let p: f64 = (a..=k.min(n_a))
        .filter(|&x| n_a - x <= n - k)
        .map(|x| (ln_choose(k, x) + ln_choose(n - k, n_a - x) - total).exp())
        .sum();
    p.min(1.0)
}

/// `ln(i!)` for `i` in `0..=n`.
fn ln_factorials(n: usize) -> Vec<f64> {
    let mut table = Vec::with_capacity(n + 1);
    let mut acc = 0.0;
    table.push(acc);
    for i in 1..=n {
        acc += (i as f64).ln();
        table.push(acc);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn known_tails() {
        // 1 of 1 against 0 of 1: half the arrangements put the failure in A.
        assert!(close(fisher_greater(1, 1, 0, 1), 0.5));
        // 3 of 3 against 0 of 3: 1 / C(6,3).
        assert!(close(fisher_greater(3, 3, 0, 3), 1.0 / 20.0));
        // 4 of 4 against 0 of 4: 1 / C(8,4).
        assert!(close(fisher_greater(4, 4, 0, 4), 1.0 / 70.0));
        // 10 of 10 against 0 of 10: 1 / C(20,10).
        assert!(close(fisher_greater(10, 10, 0, 10), 1.0 / 184_756.0));
        // 2 of 10 against 0 of 10: C(10,2) / C(20,2) = 45 / 190.
        assert!(close(fisher_greater(2, 10, 0, 10), 45.0 / 190.0));
        // 1 of 20 against 0 of 20: one failure lands in A half the time.
        assert!(close(fisher_greater(1, 20, 0, 20), 0.5));
        // No failures in A: nothing to explain.
        assert!(close(fisher_greater(0, 10, 3, 10), 1.0));
        assert!(close(fisher_greater(0, 0, 3, 10), 1.0));
    }

    #[test]
    fn the_threshold_sits_where_the_verdict_needs_it() {
        assert!(
            !significant(fisher_greater(3, 3, 0, 3)),
            "3 of 3 is not enough alone"
        );
        assert!(significant(fisher_greater(4, 4, 0, 4)));
        assert!(significant(fisher_greater(5, 20, 0, 20)));
        assert!(!significant(fisher_greater(2, 20, 0, 20)));
    }

    #[test]
    fn large_counts_stay_finite() {
        let p = fisher_greater(600, 100_000, 500, 100_000);
        assert!(p > 0.0 && significant(p), "{p}");
        let p = fisher_greater(500, 100_000, 500, 100_000);
        assert!(p > 0.4 && p < 0.6, "{p}");
    }
}
