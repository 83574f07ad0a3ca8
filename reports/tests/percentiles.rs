//! Percentiles against a direct sort on seeded random data, with many ties, and on one value.

use sparkq_reports::Distribution;

/// SplitMix64: a tiny, well-mixed generator, seeded so every run sees the same data.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// The nearest-rank percentile, written out the long way: sort, then count until at least p %
/// of the values are at or below the candidate.
fn by_counting(values: &[u64], percent: u32) -> u64 {
    let mut sorted = values.to_vec();
    sorted.sort();
    let n = sorted.len() as f64;
    for (index, value) in sorted.iter().enumerate() {
        let covered = (index + 1) as f64 / n * 100.0;
        if covered + 1e-9 >= f64::from(percent) {
            return *value;
        }
    }
    sorted[sorted.len() - 1]
}

fn check(values: Vec<u64>) {
    let distribution = Distribution::from_unsorted(values.clone());
    for percent in [1, 5, 10, 25, 50, 75, 90, 95, 99, 100] {
        assert_eq!(
            distribution.percentile_ms(percent),
            Some(by_counting(&values, percent)),
            "p{percent} of {} values",
            values.len()
        );
    }
    let mut sorted = values.clone();
    sorted.sort();
    assert_eq!(distribution.sorted_ms(), sorted.as_slice());
    assert_eq!(distribution.max_ms(), sorted.last().copied());
    let mean = values.iter().map(|&v| v as f64).sum::<f64>() / values.len() as f64;
    let got = distribution.mean_ms().expect("not empty");
    assert!((got - mean).abs() <= mean.abs() * 1e-12, "mean {got} vs {mean}");
}

#[test]
fn percentiles_match_a_direct_sort_on_random_data() {
    let mut random = SplitMix(20_261_203);
    for round in 0..200 {
        let len = 1 + random.below(if round < 150 { 50 } else { 5_000 }) as usize;
        let values = (0..len).map(|_| random.below(3_600_000)).collect();
        check(values);
    }
}

#[test]
fn percentiles_match_a_direct_sort_with_many_ties() {
    let mut random = SplitMix(7);
    for _ in 0..200 {
        let len = 1 + random.below(300) as usize;
        // Only five distinct waits, so most ranks land inside a run of equal values.
        let values = (0..len).map(|_| random.below(5) * 60_000).collect();
        check(values);
    }
    // All equal.
    check(vec![42; 17]);
}

#[test]
fn one_job_is_every_percentile() {
    let one = Distribution::from_unsorted(vec![90_000]);
    for percent in [0, 1, 50, 95, 99, 100] {
        assert_eq!(one.percentile_ms(percent), Some(90_000));
    }
    assert_eq!(one.mean_ms(), Some(90_000.0));
    assert_eq!(one.cdf_points(10), vec![(90_000, 0.0), (90_000, 1.0)]);
}

#[test]
fn cdf_points_stay_few_and_exact_on_a_million_values() {
    let mut random = SplitMix(99);
    let values: Vec<u64> = (0..1_000_000).map(|_| random.below(10_000)).collect();
    let distribution = Distribution::from_unsorted(values);
    let points = distribution.cdf_points(400);
    assert!(points.len() <= 402, "{} points", points.len());
    assert_eq!(points.last().map(|p| p.1), Some(1.0));
    for window in points.windows(2) {
        assert!(window[0].0 <= window[1].0 && window[0].1 <= window[1].1, "{window:?}");
    }
    for &(value, fraction) in &points[1..] {
        assert_eq!(fraction, distribution.fraction_at_or_below(value));
    }
}
