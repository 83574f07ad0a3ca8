//! Exact percentiles of wait times.
//!
//! Waits are kept as whole milliseconds in one sorted `Vec<u64>`: eight bytes a job, so a few
//! million jobs cost tens of megabytes, and every percentile is exact.
//!
//! **Definition (nearest rank).** For `n` sorted values `v[1] ≤ … ≤ v[n]` and a percentage
//! `0 < p ≤ 100`, the p-th percentile is `v[⌈p·n/100⌉]`: the smallest value such that at least
//! p % of the values are at or below it. It is always one of the observed values (no
//! interpolation), the 100th percentile is the maximum, and `p = 0` is taken as the minimum.
//! With one value, every percentile is that value.

/// A set of durations in milliseconds, sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Distribution {
    sorted_ms: Vec<u64>,
}

impl Distribution {
    pub fn from_unsorted(mut values_ms: Vec<u64>) -> Distribution {
        values_ms.sort_unstable();
        Distribution { sorted_ms: values_ms }
    }

    pub fn len(&self) -> usize {
        self.sorted_ms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sorted_ms.is_empty()
    }

    pub fn sorted_ms(&self) -> &[u64] {
        &self.sorted_ms
    }

    /// The nearest-rank percentile for an integer percentage (50, 95, 99); `None` when empty.
    /// Percentages above 100 are taken as 100.
    pub fn percentile_ms(&self, percent: u32) -> Option<u64> {
        let n = self.sorted_ms.len() as u64;
        if n == 0 {
            return None;
        }
        let rank = (u64::from(percent.min(100)) * n).div_ceil(100).max(1);
        let index = usize::try_from(rank - 1).ok()?;
        self.sorted_ms.get(index).copied()
    }

    pub fn min_ms(&self) -> Option<u64> {
        self.sorted_ms.first().copied()
    }

    pub fn max_ms(&self) -> Option<u64> {
        self.sorted_ms.last().copied()
    }

    /// The arithmetic mean, summed exactly in 128 bits.
    pub fn mean_ms(&self) -> Option<f64> {
        if self.sorted_ms.is_empty() {
            return None;
        }
        let total: u128 = self.sorted_ms.iter().map(|&v| u128::from(v)).sum();
        Some(total as f64 / self.sorted_ms.len() as f64)
    }

    /// The fraction of values at or below `value_ms` (the empirical CDF); zero when empty.
    pub fn fraction_at_or_below(&self, value_ms: u64) -> f64 {
        if self.sorted_ms.is_empty() {
            return 0.0;
        }
        let count = self.sorted_ms.partition_point(|&v| v <= value_ms);
        count as f64 / self.sorted_ms.len() as f64
    }

    /// At most `max_points + 2` corners of the empirical CDF, as `(value_ms, fraction ≤ value)`,
    /// for a step chart: `(min, 0)` first, then values at evenly spaced ranks, ending at
    /// `(max, 1)`. Ties are resolved exactly: the fraction counts every equal value.
    pub fn cdf_points(&self, max_points: usize) -> Vec<(u64, f64)> {
        let (Some(first), Some(last)) = (self.min_ms(), self.max_ms()) else {
            return Vec::new();
        };
        let n = self.sorted_ms.len();
        let steps = max_points.max(1);
        let mut points = vec![(first, 0.0)];
        for step in 0..=steps {
            let index = (step * (n - 1)) / steps;
            let value = self.sorted_ms[index];
            if points
                .last()
                .is_some_and(|&(previous, fraction)| previous == value && fraction > 0.0)
            {
                continue;
            }
            points.push((value, self.fraction_at_or_below(value)));
        }
        if points.last().is_some_and(|&(value, _)| value != last) {
            points.push((last, 1.0));
        }
        points
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_on_ten_values() {
        // Ten values 10..=100: p50 is the 5th (50), p95 and p99 the 10th (100), p10 the 1st.
        let values = Distribution::from_unsorted((1..=10).rev().map(|v| v * 10).collect());
        assert_eq!(values.percentile_ms(50), Some(50));
        assert_eq!(values.percentile_ms(95), Some(100));
        assert_eq!(values.percentile_ms(99), Some(100));
        assert_eq!(values.percentile_ms(10), Some(10));
        assert_eq!(values.percentile_ms(0), Some(10));
        assert_eq!(values.mean_ms(), Some(55.0));
    }

    #[test]
    fn an_empty_set_has_no_percentiles() {
        let empty = Distribution::default();
        assert_eq!(empty.percentile_ms(50), None);
        assert_eq!(empty.mean_ms(), None);
        assert!(empty.cdf_points(10).is_empty());
    }

    #[test]
    fn cdf_counts_every_tied_value() {
        let values = Distribution::from_unsorted(vec![5, 5, 5, 9]);
        assert_eq!(values.fraction_at_or_below(5), 0.75);
        assert_eq!(values.cdf_points(100), vec![(5, 0.0), (5, 0.75), (9, 1.0)]);
    }
}
