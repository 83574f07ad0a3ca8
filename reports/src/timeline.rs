//! Step functions of time, sampled onto a fixed grid.
//!
//! Quantities such as the queue length or the CPU allocated change only at events. We collect
//! their changes as `(time, delta)` pairs, sort them once, and sweep the grid: for each bucket
//! `[start, start + step)` we keep the time-weighted mean of the value (which preserves the
//! integral, so utilisation read from a chart matches the summary) and its peak (so a burst
//! shorter than a bucket still shows). Changes at the same instant are applied together before
//! the peak is taken, so a job that arrives and leaves at once is never counted.

use sparkq_core::Millis;

/// How many buckets a run is cut into: fine enough for a smooth chart, small enough to keep.
pub const GRID_BUCKETS: u64 = 300;

/// `buckets` buckets of `step_ms` from time zero, the last one cut at `end_ms` (the run's end),
/// so that no bucket reaches past the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeGrid {
    pub step_ms: Millis,
    pub buckets: usize,
    pub end_ms: Millis,
}

impl TimeGrid {
    /// [`GRID_BUCKETS`] buckets over `[0, end_ms]`, or one bucket per millisecond for a shorter
    /// run (and one bucket for a run that ends at zero).
    pub fn covering(end_ms: Millis) -> TimeGrid {
        let buckets = end_ms.clamp(1, GRID_BUCKETS);
        let step_ms = end_ms.div_ceil(buckets).max(1);
        // With the step rounded up, fewer buckets may already reach the end.
        let buckets = end_ms.div_ceil(step_ms).max(1);
        TimeGrid { step_ms, buckets: usize::try_from(buckets).unwrap_or(1), end_ms: end_ms.max(1) }
    }

    /// Buckets of `step_ms` up to `end_ms`.
    pub fn with_step(step_ms: Millis, end_ms: Millis) -> TimeGrid {
        let step_ms = step_ms.max(1);
        let end_ms = end_ms.max(1);
        let buckets = usize::try_from(end_ms.div_ceil(step_ms)).unwrap_or(1);
        TimeGrid { step_ms, buckets, end_ms }
    }

    pub fn start_ms(&self, bucket: usize) -> Millis {
        (bucket as Millis * self.step_ms).min(self.end_ms)
    }

    /// The start of each bucket, for a chart's x axis.
    pub fn starts_ms(&self) -> impl Iterator<Item = Millis> + '_ {
        (0..self.buckets).map(|bucket| self.start_ms(bucket))
    }
}

/// A step function over the grid: the mean and the peak of each bucket.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sampled {
    pub mean: Vec<f64>,
    pub peak: Vec<i64>,
}

impl Sampled {
    /// The integral over the grid, in value × milliseconds.
    pub fn integral(&self, grid: &TimeGrid) -> f64 {
        let lengths = (0..grid.buckets).map(|at| grid.start_ms(at + 1) - grid.start_ms(at));
        self.mean.iter().zip(lengths).map(|(mean, length)| mean * length as f64).sum()
    }
}

/// Changes of a step function that starts at zero, collected in any order.
#[derive(Clone, Debug, Default)]
pub struct Changes {
    deltas: Vec<(Millis, i64)>,
}

impl Changes {
    /// Adds `amount` over `[from, to)`; nothing when the interval is empty.
    pub fn hold(&mut self, from: Millis, to: Millis, amount: i64) {
        if to > from && amount != 0 {
            self.deltas.push((from, amount));
            self.deltas.push((to, -amount));
        }
    }

    /// Sets the value from `at` on, relative to the value before: for capacity samples, which
    /// give absolute levels, the caller passes `new − previous`.
    pub fn step(&mut self, at: Millis, delta: i64) {
        if delta != 0 {
            self.deltas.push((at, delta));
        }
    }

    pub fn sample(mut self, grid: &TimeGrid) -> Sampled {
        self.deltas.sort_unstable_by_key(|&(at, _)| at);
        let mut out = Sampled { mean: Vec::with_capacity(grid.buckets), peak: Vec::new() };
        out.peak.reserve(grid.buckets);

        let mut next = 0;
        let mut value = 0i64;
        for bucket in 0..grid.buckets {
            let (start, end) = (grid.start_ms(bucket), grid.start_ms(bucket + 1));
            // Everything up to and including the bucket's start sets its opening value.
            while next < self.deltas.len() && self.deltas[next].0 <= start {
                value += self.deltas[next].1;
                next += 1;
            }
            let mut peak = value;
            let mut area = 0i128;
            let mut since = start;
            while next < self.deltas.len() && self.deltas[next].0 < end {
                let at = self.deltas[next].0;
                area += i128::from(value) * i128::from(at - since);
                while next < self.deltas.len() && self.deltas[next].0 == at {
                    value += self.deltas[next].1;
                    next += 1;
                }
                since = at;
                peak = peak.max(value);
            }
            area += i128::from(value) * i128::from(end - since);
            let length = (end - start).max(1);
            out.mean.push(area as f64 / length as f64);
            out.peak.push(peak);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_covers_the_run() {
        let grid = TimeGrid::covering(1_000_000);
        assert_eq!((grid.step_ms, grid.buckets), (3334, 300));
        assert_eq!(grid.start_ms(300), 1_000_000, "the last bucket is cut at the end");
        assert_eq!(TimeGrid::covering(0), TimeGrid { step_ms: 1, buckets: 1, end_ms: 1 });
        assert_eq!(TimeGrid::covering(7), TimeGrid { step_ms: 1, buckets: 7, end_ms: 7 });
        // 1000 ms in steps of 4 needs only 250 buckets.
        assert_eq!(TimeGrid::covering(1000).buckets, 250);
    }

    #[test]
    fn sweep_keeps_mean_and_peak_per_bucket() {
        // Buckets of 10 ms. One job holds 2 over [5, 25), another 3 over [12, 14).
        // Bucket 0: 0 for 5 ms then 2 for 5 ms: mean 1, peak 2.
        // Bucket 1: 2 for 2 ms, 5 for 2 ms, 2 for 6 ms: mean (4 + 10 + 12) / 10 = 2.6, peak 5.
        // Bucket 2: 2 for 5 ms then 0: mean 1, peak 2.
        let grid = TimeGrid::with_step(10, 30);
        let mut changes = Changes::default();
        changes.hold(5, 25, 2);
        changes.hold(12, 14, 3);
        let sampled = changes.sample(&grid);
        assert_eq!(sampled.mean, vec![1.0, 2.6, 1.0]);
        assert_eq!(sampled.peak, vec![2, 5, 2]);
        assert_eq!(sampled.integral(&grid), 2.0 * 20.0 + 3.0 * 2.0);
    }

    #[test]
    fn a_zero_length_hold_is_never_seen() {
        let grid = TimeGrid::with_step(10, 10);
        let mut changes = Changes::default();
        changes.hold(4, 4, 7);
        changes.hold(2, 4, 1);
        changes.hold(4, 6, 1);
        assert_eq!(changes.sample(&grid).peak, vec![1]);
    }

    #[test]
    fn a_last_bucket_cut_short_averages_over_its_own_length() {
        // Steps of 10 up to 25: buckets [0, 10), [10, 20), [20, 25). A value of 4 throughout
        // has mean 4 in every bucket, the short one included.
        let grid = TimeGrid::with_step(10, 25);
        let mut changes = Changes::default();
        changes.hold(0, 25, 4);
        let sampled = changes.sample(&grid);
        assert_eq!(sampled.mean, vec![4.0, 4.0, 4.0]);
        assert_eq!(sampled.integral(&grid), 100.0);
    }
}
