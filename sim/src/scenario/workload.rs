//! The jobs of a scenario, and the seeded draws that produce them one at a time.
//!
//! A workload is a short list of explicit jobs plus generators that may each stand for a
//! million jobs. [`Arrivals`] merges them lazily: it holds one pending job per source and
//! yields the earliest, so memory stays constant however long the run.
//!
//! Draws follow SPEC §8. Each generator owns four ChaCha streams (arrival times, attributes,
//! run times, failures), all seeded by the scenario's seed and told apart by the stream number,
//! a stable hash of the generator's name and the purpose. Adding or reordering generators, or
//! changing one's size mix, leaves every other generator's draws untouched. Attribute and
//! failure draws take a fixed number of words per job, so changing one weight table does not
//! shift the draws of the next attribute either.

use crate::trace::source::{TraceArrivals, TraceSource};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::iter::FusedIterator;
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use rand_distr::{Distribution, Exp, LogNormal};
use sparkq_core::{Constraints, Flow, JobId, JobPods, JobSpec, Millis, Priority};

/// One job reaching the scheduler: its spec and how it will behave once running.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// When it is submitted, in ms from the scenario's start.
    pub at_ms: Millis,
    pub spec: JobSpec,
    /// How long it runs once its driver and every counted executor are running.
    pub run_ms: Millis,
    /// When set, the job fails after running this long (always less than `run_ms`).
    pub fail_after_ms: Option<Millis>,
}

/// Everything submitted during a run: explicit jobs and generators.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Workload {
    /// The jobs listed one by one, sorted stably by submission time.
    pub jobs: Arc<[ExplicitJob]>,
    /// The generators, in the order the file lists them.
    pub generators: Arc<[Generator]>,
    /// A trace named by the scenario, read one job at a time by each run.
    pub trace: Option<Arc<TraceSource>>,
}

impl Workload {
    /// The arrivals drawn with `seed`, lazily, ordered by (time, input order).
    pub fn arrivals(&self, seed: u64) -> Arrivals {
        Arrivals::new(self, seed)
    }
}

/// What a job needs and where it may run. Shared by every job of one generator size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobShape {
    pub pods: JobPods,
    pub constraints: Arc<Constraints>,
}

/// A job written out in the scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExplicitJob {
    pub name: Arc<str>,
    pub namespace: Arc<str>,
    pub domain: Arc<str>,
    pub priority: Priority,
    pub flow: Flow,
    pub shape: JobShape,
    pub submit_ms: Millis,
    pub run_ms: Millis,
    pub estimate_ms: Option<Millis>,
    pub fail_after_ms: Option<Millis>,
}

/// A seeded source of similar jobs. The `k`-th job it yields is named `<name>-<k>`, from 0.
#[derive(Clone, Debug, PartialEq)]
pub struct Generator {
    pub name: Arc<str>,
    /// At most this many jobs.
    pub count: Option<u64>,
    pub start_ms: Millis,
    /// No job is submitted at or after this time (the generator's `end`, else the horizon).
    pub end_ms: Option<Millis>,
    pub arrival: ArrivalProcess,
    pub namespaces: Weighted<Arc<str>>,
    /// When absent, a job's domain is its namespace.
    pub domains: Option<Weighted<Arc<str>>>,
    pub priorities: Weighted<Priority>,
    pub flows: Weighted<Flow>,
    pub sizes: Weighted<JobSize>,
    pub run_time: RunTime,
    pub estimate: Estimate,
    /// The chance that a job fails; it then fails after a uniform share of its run time.
    pub failure_probability: f64,
}

/// When a generator's jobs arrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArrivalProcess {
    /// At `start`, `start + interval`, `start + 2 × interval`, ...
    Every { interval_ms: Millis },
    /// A Poisson process: exponential gaps with this mean, the first one after `start`.
    Poisson { mean_ms: Millis },
}

/// How long a generated job runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RunTime {
    Fixed {
        run_ms: Millis,
    },
    /// Whole milliseconds drawn uniformly from `min_ms..=max_ms`.
    Uniform {
        min_ms: Millis,
        max_ms: Millis,
    },
    Exponential {
        mean_ms: Millis,
    },
    LogNormal {
        median_ms: Millis,
        sigma: f64,
    },
}

/// The run time a generated job declares, for `backfill`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Estimate {
    /// The job declares nothing and cannot be backfilled.
    None,
    /// The job declares exactly its run time.
    Exact,
    /// The job declares its run time times this factor (users tend to over-ask).
    Factor(f64),
}

/// A named size of a generator's jobs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobSize {
    pub name: Arc<str>,
    pub shape: JobShape,
}

/// Values with whole-number weights; a draw picks each with probability weight / total.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Weighted<T> {
    entries: Vec<(T, u32)>,
    total: u64,
}

impl<T> Weighted<T> {
    /// `None` when there is no entry or every weight is zero.
    pub fn new(entries: Vec<(T, u32)>) -> Option<Weighted<T>> {
        let total = entries.iter().map(|(_, weight)| u64::from(*weight)).sum();
        (total > 0).then_some(Weighted { entries, total })
    }

    /// One value, always drawn.
    pub fn single(value: T) -> Weighted<T> {
        Weighted { entries: vec![(value, 1)], total: 1 }
    }

    pub fn entries(&self) -> &[(T, u32)] {
        &self.entries
    }

    /// The value a uniform 64-bit draw lands on. Every value of `draw` is equally likely, so
    /// each entry is picked with probability weight / total (up to 2^-64 per unit of weight).
    pub fn pick(&self, draw: u64) -> &T {
        let target = scale(draw, self.total);
        let mut cumulative = 0;
        for (value, weight) in &self.entries {
            cumulative += u64::from(*weight);
            if target < cumulative {
                return value;
            }
        }
        // `target < total` always holds, so the loop returns; the last entry is a safe answer.
        &self.entries[self.entries.len() - 1].0
    }
}

/// Maps a uniform 64-bit draw onto `0..n` by taking the high word of the product.
fn scale(draw: u64, n: u64) -> u64 {
    ((u128::from(draw) * u128::from(n)) >> 64) as u64
}

/// A uniform draw in [0, 1) with 53 random bits.
fn unit_interval(rng: &mut ChaCha12Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1_u64 << 53) as f64
}

/// Milliseconds from a drawn real number, rounded; negative and NaN become 0, huge values the
/// largest duration.
fn to_ms(value: f64) -> Millis {
    value.round() as Millis
}

/// Appends `n` in decimal, as `write!(out, "{n}")` would, without the formatting machinery.
fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = [0_u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[start..].iter().map(|&digit| char::from(digit)));
}

/// What a stream of draws is for. Each purpose of each generator has its own stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Arrivals,
    Attributes,
    Durations,
    Failures,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Arrivals => "arrivals",
            Purpose::Attributes => "attributes",
            Purpose::Durations => "durations",
            Purpose::Failures => "failures",
        }
    }
}

/// FNV-1a over each part, with a byte that never occurs in UTF-8 after each, so that
/// (`ab`, `c`) and (`a`, `bc`) hash apart. Stable across platforms, releases and runs.
pub fn stable_hash(parts: &[&[u8]]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET_BASIS;
    for part in parts {
        for byte in part.iter().copied().chain([0xff]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(PRIME);
        }
    }
    hash
}

/// The stream of draws for one purpose of one generator.
pub fn stream(seed: u64, generator: &str, purpose: Purpose) -> ChaCha12Rng {
    let mut rng = ChaCha12Rng::seed_from_u64(seed);
    rng.set_stream(stable_hash(&[generator.as_bytes(), purpose.as_str().as_bytes()]));
    rng
}

/// The arrivals of a workload in submission order, drawn lazily.
///
/// Ordered by (time, input order): at equal times, explicit jobs come first in list order,
/// then generators in list order. Ids are assigned in that order from `JobId(0)`. The
/// iterator owns what it needs, so it can live beside the scenario in the engine.
#[derive(Debug)]
pub struct Arrivals {
    explicit: Arc<[ExplicitJob]>,
    next_explicit: usize,
    generators: Arc<[Generator]>,
    runs: Vec<GeneratorRun>,
    /// The named trace's jobs, and the next one read but not yet handed out.
    trace: Option<TraceArrivals>,
    trace_next: Option<Arrival>,
    /// The time of each source's next job: source 0 is the explicit list, `g + 1` generator g,
    /// and `generators + 1` the trace.
    heads: BinaryHeap<Reverse<(Millis, usize)>>,
    next_id: u64,
}

impl Arrivals {
    fn new(workload: &Workload, seed: u64) -> Arrivals {
        let mut arrivals = Arrivals {
            explicit: workload.jobs.clone(),
            next_explicit: 0,
            generators: workload.generators.clone(),
            runs: Vec::with_capacity(workload.generators.len()),
            trace: workload.trace.as_ref().map(|source| source.arrivals()),
            trace_next: None,
            heads: BinaryHeap::with_capacity(workload.generators.len() + 2),
            next_id: 0,
        };
        if let Some(first) = arrivals.explicit.first() {
            arrivals.heads.push(Reverse((first.submit_ms, 0)));
        }
        for (index, generator) in arrivals.generators.iter().enumerate() {
            let mut run = GeneratorRun::new(generator, seed);
            if let Some(at_ms) = run.draw_next(generator) {
                arrivals.heads.push(Reverse((at_ms, index + 1)));
            }
            arrivals.runs.push(run);
        }
        arrivals.read_trace();
        arrivals
    }

    /// The trace's source index in `heads`.
    fn trace_source(&self) -> usize {
        self.generators.len() + 1
    }

    /// Reads the trace's next job, if any, and schedules it.
    fn read_trace(&mut self) {
        self.trace_next = self.trace.as_mut().and_then(Iterator::next);
        if let Some(next) = &self.trace_next {
            self.heads.push(Reverse((next.at_ms, self.trace_source())));
        }
    }

    fn take_traced(&mut self) -> Option<Arrival> {
        let arrival = self.trace_next.take()?;
        self.read_trace();
        Some(arrival)
    }

    fn take_explicit(&mut self) -> Option<Arrival> {
        let job = self.explicit.get(self.next_explicit)?;
        let arrival = Arrival {
            at_ms: job.submit_ms,
            spec: JobSpec {
                id: JobId(0),
                name: job.name.clone(),
                namespace: job.namespace.clone(),
                domain: job.domain.clone(),
                priority: job.priority,
                flow: job.flow,
                pods: job.shape.pods.clone(),
                constraints: job.shape.constraints.clone(),
                expected_duration_ms: job.estimate_ms,
            },
            run_ms: job.run_ms,
            fail_after_ms: job.fail_after_ms,
        };
        self.next_explicit += 1;
        if let Some(next) = self.explicit.get(self.next_explicit) {
            self.heads.push(Reverse((next.submit_ms, 0)));
        }
        Some(arrival)
    }

    fn take_generated(&mut self, index: usize) -> Option<Arrival> {
        let generator = self.generators.get(index)?;
        let run = self.runs.get_mut(index)?;
        let arrival = run.pending.take()?;
        if let Some(at_ms) = run.draw_next(generator) {
            self.heads.push(Reverse((at_ms, index + 1)));
        }
        Some(arrival)
    }
}

impl Iterator for Arrivals {
    type Item = Arrival;

    fn next(&mut self) -> Option<Arrival> {
        let Reverse((_, source)) = self.heads.pop()?;
        let mut arrival = if source == 0 {
            self.take_explicit()
        } else if source == self.trace_source() {
            self.take_traced()
        } else {
            self.take_generated(source - 1)
        }?;
        arrival.spec.id = JobId(self.next_id);
        self.next_id += 1;
        Some(arrival)
    }
}

impl FusedIterator for Arrivals {}

/// One generator's progress: its streams, how many jobs it drew, and the next job.
#[derive(Debug)]
struct GeneratorRun {
    arrivals: ChaCha12Rng,
    attributes: ChaCha12Rng,
    durations: ChaCha12Rng,
    failures: ChaCha12Rng,
    drawn: u64,
    /// Time since `start` of the last Poisson arrival, in fractional ms.
    poisson_clock_ms: f64,
    pending: Option<Arrival>,
    /// `<name>-`, then the digits of the last job drawn: each job's name is written here and
    /// copied once into its `Arc<str>`, instead of going through `format!` and a second copy.
    name: String,
}

impl GeneratorRun {
    fn new(generator: &Generator, seed: u64) -> GeneratorRun {
        let name = generator.name.as_ref();
        GeneratorRun {
            arrivals: stream(seed, name, Purpose::Arrivals),
            attributes: stream(seed, name, Purpose::Attributes),
            durations: stream(seed, name, Purpose::Durations),
            failures: stream(seed, name, Purpose::Failures),
            drawn: 0,
            poisson_clock_ms: 0.0,
            pending: None,
            name: format!("{name}-"),
        }
    }

    /// Draws the generator's next job into `pending` and returns its time, or `None` when
    /// the generator is done.
    fn draw_next(&mut self, generator: &Generator) -> Option<Millis> {
        let index = self.drawn;
        if generator.count.is_some_and(|count| index >= count) {
            return None;
        }
        let at_ms = self.next_time(generator, index)?;
        if generator.end_ms.is_some_and(|end_ms| at_ms >= end_ms) {
            return None;
        }
        self.drawn += 1;

        // Five attribute words per job whatever the tables hold, so the streams stay aligned.
        let namespace = generator.namespaces.pick(self.attributes.next_u64()).clone();
        let domain_draw = self.attributes.next_u64();
        let domain = match &generator.domains {
            Some(domains) => domains.pick(domain_draw).clone(),
            None => namespace.clone(),
        };
        let priority = *generator.priorities.pick(self.attributes.next_u64());
        let flow = *generator.flows.pick(self.attributes.next_u64());
        let size = generator.sizes.pick(self.attributes.next_u64());

        let run_ms = self.draw_run_ms(generator.run_time);
        let expected_duration_ms = match generator.estimate {
            Estimate::None => None,
            Estimate::Exact => Some(run_ms),
            Estimate::Factor(factor) => Some(to_ms(run_ms as f64 * factor)),
        };

        // Two failure words per job, used or not.
        let fails = unit_interval(&mut self.failures) < generator.failure_probability;
        let fail_draw = self.failures.next_u64();
        let fail_after_ms = (fails && run_ms > 0).then(|| scale(fail_draw, run_ms));

        self.pending = Some(Arrival {
            at_ms,
            spec: JobSpec {
                id: JobId(0),
                name: self.job_name(generator, index),
                namespace,
                domain,
                priority,
                flow,
                pods: size.shape.pods.clone(),
                constraints: size.shape.constraints.clone(),
                expected_duration_ms,
            },
            run_ms,
            fail_after_ms,
        });
        Some(at_ms)
    }

    /// `<generator>-<index>`, the same string as `format!("{}-{index}", generator.name)`. Every
    /// generated job needs one, so the prefix is kept and only the digits are written.
    fn job_name(&mut self, generator: &Generator, index: u64) -> Arc<str> {
        self.name.truncate(generator.name.len() + 1);
        push_decimal(&mut self.name, index);
        Arc::from(self.name.as_str())
    }

    /// The submission time of job `index`, or `None` past the end of time.
    fn next_time(&mut self, generator: &Generator, index: u64) -> Option<Millis> {
        let offset_ms = match generator.arrival {
            ArrivalProcess::Every { interval_ms } => index.checked_mul(interval_ms)?,
            ArrivalProcess::Poisson { mean_ms } => {
                let gap = Exp::new(1.0 / mean_ms as f64).ok()?.sample(&mut self.arrivals);
                self.poisson_clock_ms += gap;
                if self.poisson_clock_ms >= Millis::MAX as f64 {
                    return None;
                }
                self.poisson_clock_ms.floor() as Millis
            }
        };
        generator.start_ms.checked_add(offset_ms)
    }

    fn draw_run_ms(&mut self, run_time: RunTime) -> Millis {
        let rng = &mut self.durations;
        match run_time {
            RunTime::Fixed { run_ms } => run_ms,
            RunTime::Uniform { min_ms, max_ms } => {
                let span = u128::from(max_ms - min_ms) + 1;
                let offset = (u128::from(rng.next_u64()) * span) >> 64;
                min_ms + offset as Millis
            }
            RunTime::Exponential { mean_ms } => match Exp::new(1.0 / mean_ms as f64) {
                Ok(exp) => to_ms(exp.sample(rng)),
                Err(_) => mean_ms,
            },
            RunTime::LogNormal { median_ms, sigma } => {
                match LogNormal::new((median_ms as f64).ln(), sigma) {
                    Ok(lognormal) => to_ms(lognormal.sample(rng)),
                    Err(_) => median_ms,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::push_decimal;

    #[test]
    fn push_decimal_writes_what_format_writes() {
        for n in [0, 1, 9, 10, 99, 100, 12_345, 1_000_000, u64::from(u32::MAX), u64::MAX] {
            let mut out = String::from("job-");
            push_decimal(&mut out, n);
            assert_eq!(out, format!("job-{n}"));
        }
    }
}
