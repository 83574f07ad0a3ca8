//! The statistics a report shows beyond the summary: waits per priority and namespace, the
//! queues and the cluster over time, usage by tenant, head-of-line blocking and the jobs that
//! went wrong. All of it is derived from [`RunRecords`]; nothing here reads the scenario.
//!
//! Time series follow these conventions (see [`crate::timeline`] for the sampling):
//!
//! - a job is *queued* from submission until it is admitted, or until it is cancelled or
//!   rejected (`finished_ms`, or at once when that is absent); legacy jobs, admitted at
//!   submission, never queue;
//! - a job *holds* its request from admission until it finishes (or the run ends); a job
//!   cancelled after admission without a finish time is taken to release at once. Legacy
//!   jobs hold from the moment all their pods run, since the records do not say how much of a
//!   stuck legacy job's request was placed;
//! - a job is *running* from `started_ms` until it finishes (or the run ends);
//! - the *head age* of a priority is, at the end of each bucket, the time the oldest job still
//!   queued at that priority has waited so far.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;

use sparkq_core::{Flow, Millis, Phase, Priority};
use sparkq_sim::record::{JobRecord, RunRecords};

use crate::percentile::Distribution;
use crate::summary::left_queue_ms;
use crate::timeline::{Changes, Sampled, TimeGrid};

/// How many keys a usage breakdown keeps before folding the rest into `other`.
pub const USAGE_KEYS_SHOWN: usize = 7;
/// How many example jobs a problem category lists.
pub const PROBLEM_EXAMPLES: usize = 25;

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Everything a run report draws and tabulates, on one time grid.
#[derive(Clone, Debug)]
pub struct RunStats {
    pub grid: TimeGrid,
    pub end_ms: Millis,
    /// Waits of admitted jobs, indexed by [`Priority::index`].
    pub waits_by_priority: [Distribution; 2],
    pub waits_by_namespace: BTreeMap<Arc<str>, Distribution>,
    /// Jobs queued per priority: mean and peak of each bucket.
    pub queue_length: [Sampled; 2],
    /// Age of the oldest queued job per priority at the end of each bucket, in milliseconds.
    pub head_age_ms: [Vec<Millis>; 2],
    pub capacity: ResourceSeries,
    pub allocated: ResourceSeries,
    pub running: ResourceSeries,
    pub usage_by_namespace: Usage,
    pub usage_by_domain: Usage,
    pub usage_by_priority: Usage,
    pub blocked: Vec<BlockedLane>,
    pub problems: Vec<ProblemCategory>,
}

/// CPU (cores) and memory (GiB) over the grid, as bucket means.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResourceSeries {
    pub cpu_cores: Vec<f64>,
    pub memory_gib: Vec<f64>,
}

/// Running CPU broken down by a key (namespace, domain or priority), with totals per key.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Usage {
    /// The largest keys by core-hours, then `other` for the rest; each with its CPU cores over
    /// the grid (bucket means).
    pub series: Vec<(String, Vec<f64>)>,
    /// Every key with its jobs, core-hours and GiB-hours of running jobs, by name.
    pub totals: Vec<UsageTotal>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct UsageTotal {
    pub key: String,
    pub jobs: u64,
    pub core_hours: f64,
    pub memory_gib_hours: f64,
}

/// The blocked intervals of one queue (a priority, and a namespace under `queue_scope:
/// namespace`), clipped to the run.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockedLane {
    pub label: String,
    pub intervals_ms: Vec<(Millis, Millis)>,
    pub blocked_ms: Millis,
    /// Idle CPU left while blocked: the idle cores at each interval's start × its length.
    pub idle_core_hours: f64,
    pub idle_memory_gib_hours: f64,
    /// The most frequent reason, with how many intervals began with it.
    pub top_reason: Option<(String, u64)>,
}

/// Jobs rejected, cancelled, failed, never progressing or still waiting at the end.
#[derive(Clone, Debug, PartialEq)]
pub struct ProblemCategory {
    pub name: &'static str,
    pub count: u64,
    /// Reasons with how many jobs gave each, most frequent first.
    pub reasons: Vec<(String, u64)>,
    /// The first jobs of the category by id.
    pub examples: Vec<ProblemJob>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ProblemJob {
    pub id: u64,
    pub name: String,
    pub namespace: String,
    pub priority: Priority,
    pub flow: Flow,
    pub reason: String,
}

impl RunStats {
    /// Statistics on a grid covering the run.
    pub fn new(records: &RunRecords) -> RunStats {
        RunStats::on_grid(records, TimeGrid::covering(records.end_ms))
    }

    /// Statistics on a given grid, so that several runs can be drawn on one time axis.
    pub fn on_grid(records: &RunRecords, grid: TimeGrid) -> RunStats {
        let end = records.end_ms;
        RunStats {
            grid,
            end_ms: end,
            waits_by_priority: waits_by_priority(records),
            waits_by_namespace: waits_by_namespace(records),
            queue_length: queue_length(records, &grid),
            head_age_ms: head_age(records, &grid),
            capacity: capacity(records, &grid),
            allocated: held(records, &grid, |job| allocated_interval(job, end)),
            running: held(records, &grid, |job| running_interval(job, end)),
            usage_by_namespace: usage(records, &grid, Rank::ByUse, namespace_of),
            usage_by_domain: usage(records, &grid, Rank::ByUse, domain_of),
            // Priorities keep their own order (high, then normal), and so their colours.
            usage_by_priority: usage(records, &grid, Rank::ByName, priority_of),
            blocked: blocked_lanes(records),
            problems: problems(records),
        }
    }
}

fn waits_by_priority(records: &RunRecords) -> [Distribution; 2] {
    let mut waits: [Vec<u64>; 2] = [Vec::new(), Vec::new()];
    for job in &records.jobs {
        if let Some(wait) = job.wait_ms() {
            waits[job.priority.index()].push(wait);
        }
    }
    waits.map(Distribution::from_unsorted)
}

fn waits_by_namespace(records: &RunRecords) -> BTreeMap<Arc<str>, Distribution> {
    let mut waits: BTreeMap<Arc<str>, Vec<u64>> = BTreeMap::new();
    for job in &records.jobs {
        let entry = waits.entry(job.namespace.clone()).or_default();
        if let Some(wait) = job.wait_ms() {
            entry.push(wait);
        }
    }
    waits
        .into_iter()
        .map(|(namespace, waits)| (namespace, Distribution::from_unsorted(waits)))
        .collect()
}

fn queue_interval(job: &JobRecord, end: Millis) -> (Millis, Millis) {
    (job.submitted_ms, left_queue_ms(job).unwrap_or(end).max(job.submitted_ms))
}

fn queue_length(records: &RunRecords, grid: &TimeGrid) -> [Sampled; 2] {
    let mut changes = [Changes::default(), Changes::default()];
    for job in &records.jobs {
        let (from, to) = queue_interval(job, records.end_ms);
        changes[job.priority.index()].hold(from, to, 1);
    }
    changes.map(|changes| changes.sample(grid))
}

/// Sweeps the bucket ends in order with a min-heap of queued jobs by submission time. A job
/// that has left is dropped only when it reaches the top, which is when it would matter.
fn head_age(records: &RunRecords, grid: &TimeGrid) -> [Vec<Millis>; 2] {
    let mut ages = [Vec::with_capacity(grid.buckets), Vec::with_capacity(grid.buckets)];
    for priority in Priority::ALL {
        let mut queued: Vec<(Millis, Millis)> = records
            .jobs
            .iter()
            .filter(|job| job.priority == priority)
            // A job still queued when the run stops stays queued at the last bucket's end.
            .map(|job| queue_interval(job, Millis::MAX))
            .filter(|(from, to)| to > from)
            .collect();
        queued.sort_unstable();

        let mut waiting = BinaryHeap::new();
        let mut next = 0;
        for bucket in 0..grid.buckets {
            let at = grid.start_ms(bucket + 1).min(records.end_ms.max(grid.start_ms(bucket)));
            while next < queued.len() && queued[next].0 <= at {
                waiting.push(Reverse(queued[next]));
                next += 1;
            }
            while waiting.peek().is_some_and(|Reverse((_, left))| *left <= at) {
                waiting.pop();
            }
            let age = waiting.peek().map_or(0, |Reverse((submitted, _))| at - submitted);
            ages[priority.index()].push(age);
        }
    }
    ages
}

fn capacity(records: &RunRecords, grid: &TimeGrid) -> ResourceSeries {
    let (mut cpu, mut memory) = (Changes::default(), Changes::default());
    let (mut last_cpu, mut last_memory) = (0, 0);
    for sample in &records.capacity {
        cpu.step(sample.at_ms, sample.capacity.cpu_millis - last_cpu);
        memory.step(sample.at_ms, sample.capacity.memory_bytes - last_memory);
        (last_cpu, last_memory) = (sample.capacity.cpu_millis, sample.capacity.memory_bytes);
    }
    // The last sample holds until the end of the run; the chart stops there too.
    cpu.step(records.end_ms, -last_cpu);
    memory.step(records.end_ms, -last_memory);
    to_resources(cpu.sample(grid), memory.sample(grid))
}

fn allocated_interval(job: &JobRecord, end: Millis) -> Option<(Millis, Millis)> {
    let from = match job.flow {
        Flow::Orchestrated => job.admitted_ms?,
        Flow::Legacy => job.started_ms?,
    };
    let to = match job.finished_ms {
        Some(at) => at,
        None if job.phase.is_final() => from,
        None => end,
    };
    Some((from, to.min(end)))
}

fn running_interval(job: &JobRecord, end: Millis) -> Option<(Millis, Millis)> {
    let from = job.started_ms?;
    Some((from, job.finished_ms.unwrap_or(end).min(end)))
}

fn held(
    records: &RunRecords,
    grid: &TimeGrid,
    interval: impl Fn(&JobRecord) -> Option<(Millis, Millis)>,
) -> ResourceSeries {
    let (mut cpu, mut memory) = (Changes::default(), Changes::default());
    for job in &records.jobs {
        if let Some((from, to)) = interval(job) {
            cpu.hold(from, to, job.request.cpu_millis);
            memory.hold(from, to, job.request.memory_bytes);
        }
    }
    to_resources(cpu.sample(grid), memory.sample(grid))
}

fn to_resources(cpu_millis: Sampled, memory_bytes: Sampled) -> ResourceSeries {
    ResourceSeries {
        cpu_cores: cpu_millis.mean.iter().map(|millis| millis / 1000.0).collect(),
        memory_gib: memory_bytes.mean.iter().map(|bytes| bytes / GIB).collect(),
    }
}

/// The order of the series of a usage breakdown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rank {
    /// Largest core-hours first, ties by name.
    ByUse,
    ByName,
}

fn namespace_of(job: &JobRecord) -> &str {
    &job.namespace
}

fn domain_of(job: &JobRecord) -> &str {
    &job.domain
}

fn priority_of(job: &JobRecord) -> &str {
    job.priority.as_str()
}

fn usage(
    records: &RunRecords,
    grid: &TimeGrid,
    rank: Rank,
    key_of: fn(&JobRecord) -> &str,
) -> Usage {
    #[derive(Default)]
    struct PerKey {
        jobs: u64,
        cpu_millis_ms: i128,
        memory_bytes_ms: i128,
        cpu: Changes,
    }

    let mut keys: BTreeMap<&str, PerKey> = BTreeMap::new();
    for job in &records.jobs {
        let entry = keys.entry(key_of(job)).or_default();
        entry.jobs += 1;
        if let Some((from, to)) = running_interval(job, records.end_ms) {
            let held = i128::from(to.saturating_sub(from));
            entry.cpu_millis_ms += i128::from(job.request.cpu_millis) * held;
            entry.memory_bytes_ms += i128::from(job.request.memory_bytes) * held;
            entry.cpu.hold(from, to, job.request.cpu_millis);
        }
    }

    let hours = 3_600_000.0;
    let totals: Vec<UsageTotal> = keys
        .iter()
        .map(|(key, per_key)| UsageTotal {
            key: (*key).to_owned(),
            jobs: per_key.jobs,
            core_hours: per_key.cpu_millis_ms as f64 / 1000.0 / hours,
            memory_gib_hours: per_key.memory_bytes_ms as f64 / GIB / hours,
        })
        .collect();

    // The largest keys by core-hours, ties by name; the rest are summed into `other`.
    let mut ranked: Vec<(&str, PerKey)> = keys.into_iter().collect();
    if rank == Rank::ByUse {
        ranked.sort_by(|a, b| b.1.cpu_millis_ms.cmp(&a.1.cpu_millis_ms).then_with(|| a.0.cmp(b.0)));
    }
    let mut series = Vec::new();
    let mut other: Option<Vec<f64>> = None;
    for (rank, (key, per_key)) in ranked.into_iter().enumerate() {
        let cores: Vec<f64> =
            per_key.cpu.sample(grid).mean.iter().map(|millis| millis / 1000.0).collect();
        if rank < USAGE_KEYS_SHOWN {
            series.push((key.to_owned(), cores));
        } else {
            let sum = other.get_or_insert_with(|| vec![0.0; cores.len()]);
            sum.iter_mut().zip(&cores).for_each(|(total, value)| *total += value);
        }
    }
    if let Some(cores) = other {
        series.push(("other".to_owned(), cores));
    }
    Usage { series, totals }
}

fn blocked_lanes(records: &RunRecords) -> Vec<BlockedLane> {
    #[derive(Default)]
    struct Lane {
        intervals_ms: Vec<(Millis, Millis)>,
        blocked_ms: Millis,
        idle_cpu_millis_ms: i128,
        idle_memory_bytes_ms: i128,
        reasons: BTreeMap<String, u64>,
    }

    // Lanes sort by namespace (cluster-wide queues first), then priority.
    let mut lanes: BTreeMap<(Option<Arc<str>>, Priority), Lane> = BTreeMap::new();
    for interval in &records.blocked {
        let from = interval.from_ms.min(records.end_ms);
        let to = interval.to_ms.min(records.end_ms).max(from);
        let lane = lanes.entry((interval.namespace.clone(), interval.priority)).or_default();
        let length = to - from;
        lane.intervals_ms.push((from, to));
        lane.blocked_ms += length;
        lane.idle_cpu_millis_ms += i128::from(interval.idle.cpu_millis) * i128::from(length);
        lane.idle_memory_bytes_ms += i128::from(interval.idle.memory_bytes) * i128::from(length);
        *lane.reasons.entry(interval.reason.clone()).or_default() += 1;
    }

    let hours = 3_600_000.0;
    lanes
        .into_iter()
        .map(|((namespace, priority), lane)| BlockedLane {
            label: match namespace {
                Some(namespace) => format!("{namespace}/{priority}"),
                None => priority.as_str().to_owned(),
            },
            intervals_ms: lane.intervals_ms,
            blocked_ms: lane.blocked_ms,
            idle_core_hours: lane.idle_cpu_millis_ms as f64 / 1000.0 / hours,
            idle_memory_gib_hours: lane.idle_memory_bytes_ms as f64 / GIB / hours,
            top_reason: most_frequent(lane.reasons).into_iter().next(),
        })
        .collect()
}

fn problems(records: &RunRecords) -> Vec<ProblemCategory> {
    type Belongs = fn(&JobRecord) -> bool;
    let categories: [(&'static str, Belongs); 5] = [
        ("rejected", |job| job.phase == Phase::Rejected),
        ("cancelled", |job| job.phase == Phase::Cancelled),
        ("failed", |job| job.phase == Phase::Failed),
        ("never progressed (legacy)", |job| job.never_progressed),
        ("still queued at the end", |job| job.phase == Phase::Queued),
    ];
    categories
        .into_iter()
        .map(|(name, belongs)| {
            let mut count = 0;
            let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
            let mut examples = Vec::new();
            for job in records.jobs.iter().filter(|job| belongs(job)) {
                count += 1;
                let reason = job.reason.clone().unwrap_or_else(|| "(no reason recorded)".into());
                if examples.len() < PROBLEM_EXAMPLES {
                    examples.push(ProblemJob {
                        id: job.id.0,
                        name: job.name.to_string(),
                        namespace: job.namespace.to_string(),
                        priority: job.priority,
                        flow: job.flow,
                        reason: reason.clone(),
                    });
                }
                *reasons.entry(reason).or_default() += 1;
            }
            examples.sort_by_key(|job| job.id);
            ProblemCategory { name, count, reasons: most_frequent(reasons), examples }
        })
        .collect()
}

/// Counts, most frequent first, ties by text.
fn most_frequent(counts: BTreeMap<String, u64>) -> Vec<(String, u64)> {
    let mut ranked: Vec<(String, u64)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked
}
