//! Scenarios: the YAML files the simulator replays.
//!
//! A scenario fixes everything a simulated run depends on: the scheduler's configuration, the
//! node pools, the pods of other workloads, the jobs (written out one by one or drawn by seeded
//! generators) and timed events such as scaling a pool or moving a domain to the legacy flow.
//! This module turns the text into checked values, so the engine never meets a dangling name
//! or a quantity in the wrong unit, and the user learns of every mistake with its file, line,
//! column and field. The "Scenario format" section of the README is the reference.
//!
//! Reading takes two passes. `raw` mirrors the file with serde: unknown fields are errors, and
//! each quantity is parsed as it is read, in the notation its field uses (Kubernetes for the
//! cluster, Spark for the jobs). `build` then checks what serde cannot see: names that must be
//! unique or must refer to something defined elsewhere, and bounds between fields. Jobs are
//! drawn lazily by [`Arrivals`], so a generator of a million jobs costs nothing up front.

mod build;
mod error;
mod quantities;
mod raw;
mod workload;

#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::Arc;

use sparkq_core::{Constraints, Flow, Millis, Priority, Resources, SchedulerConfig, Taint};

pub use error::ScenarioError;
pub use workload::{
    Arrival, ArrivalProcess, Arrivals, Estimate, ExplicitJob, Generator, JobShape, JobSize,
    Purpose, RunTime, Weighted, Workload, stable_hash, stream,
};

/// The node label every pool's nodes carry, set to the pool's name. `pool: X` in background
/// pods selects it, and jobs can select it in their `node_selector`.
pub const POOL_LABEL: &str = "sparkq.io/pool";

/// The most nodes a pool may have at any time: several times the largest Kubernetes clusters,
/// and a bound that keeps a mistyped count from running for ever.
pub const MAX_POOL_NODES: u32 = 100_000;

/// A scenario, checked and ready to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub name: String,
    /// Free text from the file, for reports.
    pub description: Option<String>,
    /// The seed of every random draw; `--seed` replaces it to replay or vary a run.
    pub seed: u64,
    /// The run stops here; without one it stops when every job is done.
    pub horizon_ms: Option<Millis>,
    pub config: SchedulerConfig,
    pub pools: Vec<PoolSpec>,
    pub background: Vec<BackgroundSpec>,
    pub workload: Workload,
    /// Sorted stably by `at_ms`: at equal times, in the order the file lists them.
    pub events: Vec<TimedEvent>,
    /// The YAML text as read, to be written beside the results.
    pub source: String,
}

/// A group of identical nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolSpec {
    pub name: Arc<str>,
    /// Nodes at the start; events add and remove nodes later.
    pub count: u32,
    /// What each node offers. `pods` is 110 unless the pool says otherwise.
    pub allocatable: Resources,
    /// The labels written in the file plus [`POOL_LABEL`], sorted by key.
    pub labels: Vec<(Arc<str>, Arc<str>)>,
    pub taints: Vec<Taint>,
}

impl PoolSpec {
    /// The name of node `index` of this pool, `<pool>-<index>`, counted from 0. A pool's
    /// nodes are always `0..n`: added nodes take the next numbers, and nodes are removed from
    /// the highest number down.
    pub fn node_name(&self, index: u32) -> String {
        format!("{}-{index}", self.name)
    }
}

/// Pods of other workloads: they take capacity that sparkq does not control.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackgroundSpec {
    pub name: Arc<str>,
    /// How many identical pods.
    pub count: u32,
    /// Each pod's request (`pods` is 1).
    pub request: Resources,
    /// `pool: X` becomes the selector [`POOL_LABEL`]` = X`.
    pub constraints: Arc<Constraints>,
    /// The order in which the simulated kube-scheduler binds pending pods.
    pub priority: Priority,
    pub start_ms: Millis,
    /// When the pods are deleted; `None` keeps them to the end.
    pub end_ms: Option<Millis>,
    /// How long deleted pods stay terminating, still holding their requests.
    pub grace_ms: Millis,
}

/// Something that happens to the cluster or the scheduler at a given time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimedEvent {
    pub at_ms: Millis,
    pub kind: EventKind,
}

/// What an event does. Names are checked when the scenario is read: pools exist, nodes exist at
/// that time, explicit jobs are submitted by then. A generated job (`<generator>-<k>`) may not
/// exist when the event fires (not drawn, or already finished); the engine then ignores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// New nodes, numbered after the pool's current last node.
    AddNodes {
        pool: Arc<str>,
        count: u32,
    },
    /// The highest-numbered nodes go first; their pods are evicted.
    RemoveNodes {
        pool: Arc<str>,
        count: u32,
    },
    Cordon {
        node: Arc<str>,
    },
    Uncordon {
        node: Arc<str>,
    },
    Cancel {
        job: Arc<str>,
    },
    SetFlow {
        job: Arc<str>,
        flow: Flow,
    },
    SetPriority {
        job: Arc<str>,
        priority: Priority,
    },
    /// Every job of the domain, queued or still to come, takes the legacy flow.
    MigrateDomain {
        domain: Arc<str>,
    },
    /// The orchestrator is turned off: every job takes the legacy flow.
    Disable,
    Enable,
}

impl Scenario {
    /// Reads a scenario from YAML. `origin` is the file name shown in errors.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
        let raw: raw::RawScenario = serde_saphyr::from_str(text)
            .map_err(|error| error::from_yaml_error(&error, text, origin))?;
        build::scenario(raw, text, origin)
    }

    /// Reads a scenario file.
    pub fn from_file(path: &Path) -> Result<Scenario, ScenarioError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| {
            ScenarioError::whole_file(
                &origin,
                format!("cannot be read ({error}): expected a readable YAML file"),
            )
        })?;
        Scenario::from_yaml(&text, &origin)
    }

    /// The jobs in submission order, drawn lazily from the scenario's seed.
    ///
    /// Ordered by (time, input order): at equal times, explicit jobs in list order come first,
    /// then generated jobs in generator order. Ids run from `JobId(0)` in that order. Each call
    /// starts over and yields the same sequence.
    pub fn arrivals(&self) -> Arrivals {
        self.workload.arrivals(self.seed)
    }
}
