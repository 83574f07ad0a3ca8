//! `summary.json`: the numbers a run is judged by, overall and per priority (SPEC §8).
//!
//! Definitions, each computed from the run's records alone:
//!
//! - `jobs`: every job submitted in the run.
//! - `states`: the number of jobs in each phase when the run stopped. All seven phases are
//!   always present, zeros included, so a consumer never has to guess whether a missing key
//!   means zero. Keys sort alphabetically (a `BTreeMap`), which keeps the file stable.
//! - `wait_seconds`: `admitted − submitted` over the jobs that were admitted (legacy jobs count
//!   with their wait of zero), as `mean`, `p50`, `p95`, `p99` and `max`. Percentiles use the
//!   nearest-rank definition of [`crate::percentile`]. `null` when no job was admitted.
//! - `bounded_slowdown_mean`: the mean over jobs that finished (`succeeded` or `failed` with
//!   start and finish times) of `max(1, (wait + run) / max(run, 10 s))`, where `wait` is the
//!   time from submission to running and `run` the time from running to finish. For a job
//!   whose pods run at admission this is exactly SPEC §8's formula; for a legacy job it also
//!   charges the time its executors spent pending. `null` when no job finished.
//! - `never_progressed`: legacy jobs whose driver ran but whose executors never all ran.
//! - `utilization.cpu` / `.memory`: requested core-seconds (byte-seconds) of running jobs, from
//!   running until finish or the end of the run, divided by the capacity core-seconds
//!   (byte-seconds) of the capacity samples over `[0, end]`. Zero when there is no capacity.
//! - `makespan_seconds`: from the scenario's start to the moment the last job left the system;
//!   the end of the run if a job was still queued, admitted or running then.
//!
//! Times are seconds with millisecond precision; means are rounded to the millisecond, ratios
//! to four decimals, so the file reads well and compares exactly.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sparkq_core::{Millis, Phase, Priority};
use sparkq_sim::record::{JobRecord, RunRecords};

use crate::percentile::Distribution;

/// The floor of the bounded slowdown's denominator: SPEC §8's 10 seconds.
pub const SLOWDOWN_FLOOR_MS: Millis = 10_000;

/// The whole of `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub scenario: String,
    pub seed: u64,
    pub policy: String,
    /// Every job of the run: `jobs`, `states`, `wait_seconds`, … at the top level of the file.
    #[serde(flatten)]
    pub overall: GroupSummary,
    pub by_priority: ByPriority,
    pub utilization: Utilization,
    pub makespan_seconds: f64,
}

/// The statistics of one group of jobs: all of them, or one priority.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupSummary {
    pub jobs: u64,
    pub states: BTreeMap<String, u64>,
    pub wait_seconds: WaitSeconds,
    pub bounded_slowdown_mean: Option<f64>,
    pub never_progressed: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WaitSeconds {
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ByPriority {
    pub high: GroupSummary,
    pub normal: GroupSummary,
}

impl ByPriority {
    pub fn get(&self, priority: Priority) -> &GroupSummary {
        match priority {
            Priority::High => &self.high,
            Priority::Normal => &self.normal,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Utilization {
    pub cpu: f64,
    pub memory: f64,
}

impl Summary {
    /// Computes the summary of a run. `seed`, `policy` and `scenario` are copied into the file
    /// so that it says how to replay the run.
    pub fn from_records(records: &RunRecords, seed: u64, policy: &str, scenario: &str) -> Summary {
        let mut groups = [GroupBuilder::default(), GroupBuilder::default()];
        for job in &records.jobs {
            groups[job.priority.index()].add(job);
        }
        let [high, normal] = groups;
        let overall = high.merged(&normal);

        Summary {
            scenario: scenario.to_owned(),
            seed,
            policy: policy.to_owned(),
            overall: overall.finish(),
            by_priority: ByPriority { high: high.finish(), normal: normal.finish() },
            utilization: utilization(records),
            makespan_seconds: seconds(makespan_ms(records)),
        }
    }

    /// The group of one priority, or every job for `None`.
    pub fn group(&self, priority: Option<Priority>) -> &GroupSummary {
        match priority {
            None => &self.overall,
            Some(priority) => self.by_priority.get(priority),
        }
    }

    /// The pretty-printed JSON of `summary.json`, ending with a newline.
    pub fn to_json(&self) -> String {
        // Serialising plain structs, maps, strings and finite numbers cannot fail; a NaN would
        // be written as null by serde_json rather than fail.
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// Accumulates one group's jobs. Waits are kept as milliseconds for exact percentiles.
#[derive(Clone, Debug, Default)]
struct GroupBuilder {
    jobs: u64,
    states: [u64; Phase::ALL.len()],
    waits_ms: Vec<u64>,
    slowdown_sum: f64,
    slowdown_count: u64,
    never_progressed: u64,
}

impl GroupBuilder {
    fn add(&mut self, job: &JobRecord) {
        self.jobs += 1;
        self.states[phase_index(job.phase)] += 1;
        if let Some(wait) = job.wait_ms() {
            self.waits_ms.push(wait);
        }
        if let Some(slowdown) = bounded_slowdown(job) {
            self.slowdown_sum += slowdown;
            self.slowdown_count += 1;
        }
        if job.never_progressed {
            self.never_progressed += 1;
        }
    }

    fn merged(&self, other: &GroupBuilder) -> GroupBuilder {
        let mut states = self.states;
        for (count, more) in states.iter_mut().zip(other.states) {
            *count += more;
        }
        let mut waits_ms = Vec::with_capacity(self.waits_ms.len() + other.waits_ms.len());
        waits_ms.extend_from_slice(&self.waits_ms);
        waits_ms.extend_from_slice(&other.waits_ms);
        GroupBuilder {
            jobs: self.jobs + other.jobs,
            states,
            waits_ms,
            slowdown_sum: self.slowdown_sum + other.slowdown_sum,
            slowdown_count: self.slowdown_count + other.slowdown_count,
            never_progressed: self.never_progressed + other.never_progressed,
        }
    }

    fn finish(self) -> GroupSummary {
        let states = Phase::ALL
            .iter()
            .map(|phase| (phase.as_str().to_owned(), self.states[phase_index(*phase)]))
            .collect();
        let bounded_slowdown_mean = (self.slowdown_count > 0)
            .then(|| round_to(self.slowdown_sum / self.slowdown_count as f64, 4));
        GroupSummary {
            jobs: self.jobs,
            states,
            wait_seconds: wait_seconds(&Distribution::from_unsorted(self.waits_ms)),
            bounded_slowdown_mean,
            never_progressed: self.never_progressed,
        }
    }
}

/// The five wait statistics of a distribution, in seconds.
pub fn wait_seconds(waits: &Distribution) -> WaitSeconds {
    WaitSeconds {
        mean: waits.mean_ms().map(|mean| mean.round() / 1000.0),
        p50: waits.percentile_ms(50).map(seconds),
        p95: waits.percentile_ms(95).map(seconds),
        p99: waits.percentile_ms(99).map(seconds),
        max: waits.max_ms().map(seconds),
    }
}

/// `max(1, (wait + run) / max(run, 10 s))` for a job that ran to an end, else `None`.
pub fn bounded_slowdown(job: &JobRecord) -> Option<f64> {
    if !matches!(job.phase, Phase::Succeeded | Phase::Failed) {
        return None;
    }
    let (started, finished) = (job.started_ms?, job.finished_ms?);
    let wait = started.saturating_sub(job.submitted_ms);
    let run = finished.saturating_sub(started);
    let slowdown = (wait + run) as f64 / run.max(SLOWDOWN_FLOOR_MS) as f64;
    Some(slowdown.max(1.0))
}

/// When a job left the queue: admission; or, for a job never admitted, the moment it reached
/// its final phase (`finished_ms`, else submission: rejected at once); `None` while it waits.
pub fn left_queue_ms(job: &JobRecord) -> Option<Millis> {
    match job.admitted_ms {
        Some(at) => Some(at),
        None if job.phase.is_final() => Some(job.finished_ms.unwrap_or(job.submitted_ms)),
        None => None,
    }
}

/// When a job left the system: its finish or final phase; `None` while it is still in it.
pub fn left_system_ms(job: &JobRecord) -> Option<Millis> {
    if !job.phase.is_final() {
        return None;
    }
    Some(job.finished_ms.or(job.admitted_ms).unwrap_or(job.submitted_ms))
}

fn makespan_ms(records: &RunRecords) -> Millis {
    let mut last = 0;
    for job in &records.jobs {
        match left_system_ms(job) {
            Some(at) => last = last.max(at),
            None => return records.end_ms,
        }
    }
    last
}

fn utilization(records: &RunRecords) -> Utilization {
    let end = records.end_ms;
    let (mut cpu_used, mut memory_used) = (0i128, 0i128);
    for job in &records.jobs {
        let Some(started) = job.started_ms else { continue };
        let stopped = job.finished_ms.unwrap_or(end).min(end);
        let held = i128::from(stopped.saturating_sub(started));
        cpu_used += i128::from(job.request.cpu_millis) * held;
        memory_used += i128::from(job.request.memory_bytes) * held;
    }

    let (mut cpu_offered, mut memory_offered) = (0i128, 0i128);
    for (index, sample) in records.capacity.iter().enumerate() {
        let until = records.capacity.get(index + 1).map_or(end, |next| next.at_ms).min(end);
        let held = i128::from(until.saturating_sub(sample.at_ms.min(end)));
        cpu_offered += i128::from(sample.capacity.cpu_millis) * held;
        memory_offered += i128::from(sample.capacity.memory_bytes) * held;
    }

    let ratio = |used: i128, offered: i128| {
        if offered > 0 { round_to(used as f64 / offered as f64, 4) } else { 0.0 }
    };
    Utilization { cpu: ratio(cpu_used, cpu_offered), memory: ratio(memory_used, memory_offered) }
}

fn phase_index(phase: Phase) -> usize {
    Phase::ALL.iter().position(|candidate| *candidate == phase).unwrap_or(0)
}

/// Milliseconds as seconds: exact to the millisecond in the JSON text.
pub fn seconds(ms: Millis) -> f64 {
    ms as f64 / 1000.0
}

pub(crate) fn round_to(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}
