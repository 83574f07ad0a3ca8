//! Real workloads in: job traces and cluster descriptions, read into what the simulator runs.
//!
//! A capacity planner trusts a replay of what the cluster really ran, on the nodes it really
//! has, more than any generator. This module reads three kinds of records:
//!
//! - [`swf`]: logs in the Standard Workload Format of the Parallel Workloads Archive, plain or
//!   gzip, where a job of P processors becomes P one-core pods (a driver and P − 1 executors);
//! - [`k8s`]: pod-level traces of a Kubernetes cluster (the layout of Alibaba's `openb` GPU
//!   trace), where each pod becomes a single-pod job and GPUs an extended resource;
//! - [`cluster`]: `kubectl get nodes -o json`, and optionally `kubectl get pods -A -o json`, as
//!   node pools and background load.
//!
//! Traces are read lazily, line by line: [`swf::SwfReader`] and [`k8s::PodReader`] are
//! iterators of arrivals, so a scenario can name a trace of a million jobs without holding it.
//! Every line that cannot be read is an error naming the file and the line, unless the caller
//! asked to skip bad lines; then it is counted in [`Skipped`] with its reason. Nothing panics
//! on input.
//!
//! [`Imported`] gathers what one import produced. It becomes a [`Scenario`] in memory, or the
//! YAML text of one (`sparkq import` writes it), and both give the same jobs: the YAML states
//! each pod in Spark's settings, which the import chooses so that Spark's formulas give back
//! exactly the pod requests of the in-memory jobs.

pub mod cluster;
pub mod k8s;
pub mod source;
pub mod swf;
mod yaml;

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use sparkq_core::{Millis, Phase, Policy, Resources, SchedulerConfig};

use crate::record::JobRecord;
use crate::scenario::{
    Arrival, BackgroundSpec, EventKind, ExplicitJob, JobShape, PoolSpec, Scenario, TimedEvent,
    Workload,
};

/// Why a trace or a cluster description could not be read. Each message names the file, and the
/// line when there is one, and says what was expected.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The file could not be opened or read.
    #[error("{origin}: cannot be read ({source}): expected a readable file")]
    Io {
        origin: String,
        #[source]
        source: io::Error,
    },

    /// One line of a line-based trace is malformed.
    #[error("{origin}:{line}: {problem}")]
    Line { origin: String, line: u64, problem: String },

    /// The input as a whole is unusable (a missing header, no nodes, malformed JSON).
    #[error("{origin}: {problem}")]
    Input { origin: String, problem: String },
}

impl TraceError {
    pub(crate) fn line(origin: &str, line: u64, problem: impl Into<String>) -> TraceError {
        TraceError::Line { origin: origin.to_owned(), line, problem: problem.into() }
    }

    pub(crate) fn input(origin: &str, problem: impl Into<String>) -> TraceError {
        TraceError::Input { origin: origin.to_owned(), problem: problem.into() }
    }

    pub(crate) fn io(origin: &str, source: io::Error) -> TraceError {
        TraceError::Io { origin: origin.to_owned(), source }
    }
}

/// How many records of each kind an import left out, and the first line of each.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    by_reason: BTreeMap<String, SkipCount>,
    /// Positions count JSON items rather than lines.
    items: bool,
}

/// One reason for skipping: how often, and where first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SkipCount {
    pub count: u64,
    pub first_line: u64,
}

impl Skipped {
    /// Counts for a JSON list, where positions are item numbers (from 1), not lines.
    pub fn of_items() -> Skipped {
        Skipped { by_reason: BTreeMap::new(), items: true }
    }

    pub fn add(&mut self, reason: impl Into<String>, line: u64) {
        self.by_reason
            .entry(reason.into())
            .and_modify(|seen| seen.count += 1)
            .or_insert(SkipCount { count: 1, first_line: line });
    }

    /// Every record skipped, whatever the reason.
    pub fn total(&self) -> u64 {
        self.by_reason.values().map(|seen| seen.count).sum()
    }

    /// How many were skipped for reasons that contain `text`.
    pub fn count_matching(&self, text: &str) -> u64 {
        self.by_reason
            .iter()
            .filter(|(reason, _)| reason.contains(text))
            .map(|(_, seen)| seen.count)
            .sum()
    }

    /// The reasons in alphabetical order.
    pub fn reasons(&self) -> impl Iterator<Item = (&str, SkipCount)> + '_ {
        self.by_reason.iter().map(|(reason, seen)| (reason.as_str(), *seen))
    }
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.by_reason.is_empty() {
            return f.write_str("nothing skipped");
        }
        write!(f, "skipped {}:", self.total())?;
        let position = if self.items { "item" } else { "line" };
        for (reason, seen) in &self.by_reason {
            write!(f, "\n  {} × {reason} (first at {position} {})", seen.count, seen.first_line)?;
        }
        Ok(())
    }
}

/// What one import produced: the cluster, the jobs in submission order, and what was left out.
#[derive(Clone, Debug, PartialEq)]
pub struct Imported {
    /// A name for the scenario: a DNS label made from the trace's file name.
    pub name: String,
    pub description: String,
    pub pools: Vec<PoolSpec>,
    pub background: Vec<BackgroundSpec>,
    /// Nodes that offer nothing (cordoned or not Ready), cordoned at time zero.
    pub cordoned: Vec<String>,
    /// Sorted by submission time; ids from `JobId(0)` in that order.
    pub jobs: Vec<Arrival>,
    pub skipped: Skipped,
    /// What a planner should know about the result, such as jobs that cannot fit anywhere.
    pub notes: Vec<String>,
}

impl Imported {
    /// The scenario, built in memory: the same one `sparkq simulate` reads from [`Self::to_yaml`].
    pub fn scenario(&self, policy: Policy) -> Scenario {
        let jobs: Vec<ExplicitJob> = self.jobs.iter().map(explicit_job).collect();
        let events = self
            .cordoned
            .iter()
            .map(|node| TimedEvent {
                at_ms: 0,
                kind: EventKind::Cordon { node: node.as_str().into() },
            })
            .collect();
        Scenario {
            name: self.name.clone(),
            description: Some(self.description.clone()),
            seed: 0,
            horizon_ms: None,
            config: SchedulerConfig { policy, ..SchedulerConfig::default() },
            pools: self.pools.clone(),
            background: self.background.clone(),
            workload: Workload { jobs: jobs.into(), generators: Arc::from([]), trace: None },
            events,
            source: format!("# {}, built in memory by the trace import\n", self.description),
        }
    }

    /// The scenario as YAML in the format `sparkq simulate` reads, its jobs listed one by one.
    pub fn to_yaml(&self, policy: Policy) -> String {
        yaml::scenario(self, policy, None)
    }

    /// The scenario as YAML that names the trace (`workload: trace:`) instead of listing its
    /// jobs: the cluster is written out, the jobs are read from `link` when the scenario runs.
    pub fn to_yaml_linked(&self, policy: Policy, link: &source::TraceRef) -> String {
        yaml::scenario(self, policy, Some(link))
    }
}

fn explicit_job(arrival: &Arrival) -> ExplicitJob {
    let spec = &arrival.spec;
    ExplicitJob {
        name: spec.name.clone(),
        namespace: spec.namespace.clone(),
        domain: spec.domain.clone(),
        priority: spec.priority,
        flow: spec.flow,
        shape: JobShape { pods: spec.pods.clone(), constraints: spec.constraints.clone() },
        submit_ms: arrival.at_ms,
        run_ms: arrival.run_ms,
        estimate_ms: spec.expected_duration_ms,
        fail_after_ms: arrival.fail_after_ms,
    }
}

/// Opens a file for reading line by line, decompressing it when it starts with gzip's magic
/// bytes (whatever its name).
pub fn open_text(path: &Path) -> Result<Box<dyn BufRead>, TraceError> {
    let origin = path.display().to_string();
    let file = File::open(path).map_err(|source| TraceError::io(&origin, source))?;
    let mut reader = BufReader::new(file);
    let head = reader.fill_buf().map_err(|source| TraceError::io(&origin, source))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        let decoder = flate2::bufread::MultiGzDecoder::new(reader);
        Ok(Box::new(BufReader::new(decoder)))
    } else {
        Ok(Box::new(reader))
    }
}

/// Reads a whole (possibly gzip) file as text.
pub fn read_text(path: &Path) -> Result<String, TraceError> {
    let origin = path.display().to_string();
    let mut text = String::new();
    open_text(path)?.read_to_string(&mut text).map_err(|source| TraceError::io(&origin, source))?;
    Ok(text)
}

/// A DNS label made from a file name: `NASA-iPSC-1993-3.1-cln.swf.gz` gives
/// `nasa-ipsc-1993-3-1-cln`.
pub fn scenario_name(path: &Path, fallback: &str) -> String {
    let file = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = [".gz", ".swf", ".csv", ".json"]
        .iter()
        .fold(file.as_str(), |stem, suffix| stem.strip_suffix(suffix).unwrap_or(stem));
    dns_label(stem, fallback)
}

/// Lower-case letters, digits and `-`, at most 63 characters, never empty.
pub(crate) fn dns_label(text: &str, fallback: &str) -> String {
    let mut label = String::with_capacity(text.len());
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            label.push(c);
        } else if !label.ends_with('-') && !label.is_empty() {
            label.push('-');
        }
    }
    label.truncate(63);
    let label = label.trim_end_matches('-');
    if label.is_empty() { fallback.to_owned() } else { label.to_owned() }
}

/// The share of the cluster's capacity that running jobs held, over time.
#[derive(Clone, Debug, PartialEq)]
pub struct UsageSample {
    /// The start of the bucket, in ms from the scenario's start.
    pub at_ms: Millis,
    /// Time-weighted means over the bucket, as fractions of the capacity (0 when there is none).
    pub cpu: f64,
    pub memory: f64,
    /// Per extended resource of the capacity, by name.
    pub extended: Vec<(Arc<str>, f64)>,
}

/// The utilisation of `capacity` by the jobs in `records` while they ran, in buckets of
/// `step_ms` from time zero to `end_ms`: each bucket holds the time-weighted mean of what the
/// running jobs requested, divided by the capacity.
pub fn utilisation_over_time(
    records: &[JobRecord],
    capacity: &Resources,
    step_ms: Millis,
    end_ms: Millis,
) -> Vec<UsageSample> {
    let step_ms = step_ms.max(1);
    let buckets = usize::try_from(end_ms.div_ceil(step_ms).max(1)).unwrap_or(1);
    let extended_names: Vec<Arc<str>> =
        capacity.extended.iter().map(|(name, _)| name.clone()).collect();
    // Resource-milliseconds per bucket: cpu, memory, then each extended resource.
    let width = 2 + extended_names.len();
    let mut held = vec![0.0_f64; buckets * width];
    for job in records {
        let (Some(start), Some(end)) = (job.started_ms, job.finished_ms) else { continue };
        if !matches!(job.phase, Phase::Succeeded | Phase::Failed) {
            continue;
        }
        let amounts: Vec<f64> = [job.request.cpu_millis as f64, job.request.memory_bytes as f64]
            .into_iter()
            .chain(extended_names.iter().map(|name| job.request.extended_amount(name) as f64))
            .collect();
        let mut from = start.min(end_ms);
        let to = end.min(end_ms);
        while from < to {
            let bucket = (from / step_ms) as usize;
            let bucket_end = ((bucket as Millis + 1) * step_ms).min(to);
            let span = (bucket_end - from) as f64;
            for (slot, amount) in amounts.iter().enumerate() {
                held[bucket * width + slot] += amount * span;
            }
            from = bucket_end;
        }
    }
    let totals: Vec<f64> = [capacity.cpu_millis as f64, capacity.memory_bytes as f64]
        .into_iter()
        .chain(capacity.extended.iter().map(|(_, amount)| *amount as f64))
        .collect();
    (0..buckets)
        .map(|bucket| {
            let at_ms = bucket as Millis * step_ms;
            let span = ((at_ms + step_ms).min(end_ms.max(1)) - at_ms).max(1) as f64;
            let share = |slot: usize| {
                let total = totals[slot] * span;
                if total > 0.0 { held[bucket * width + slot] / total } else { 0.0 }
            };
            UsageSample {
                at_ms,
                cpu: share(0),
                memory: share(1),
                extended: extended_names
                    .iter()
                    .enumerate()
                    .map(|(index, name)| (name.clone(), share(2 + index)))
                    .collect(),
            }
        })
        .collect()
}
