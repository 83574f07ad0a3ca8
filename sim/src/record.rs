//! What a run leaves behind: one record per job, the intervals when a queue head was blocked,
//! and the cluster's capacity over time. Reports are computed from these alone.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sparkq_core::{Flow, JobId, Millis, Phase, Priority, Resources};

/// One job's history. Times are milliseconds from the scenario's start.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: JobId,
    pub name: Arc<str>,
    pub namespace: Arc<str>,
    pub domain: Arc<str>,
    pub priority: Priority,
    /// The flow the job ended with (a queued job moved to legacy reports `legacy`).
    pub flow: Flow,
    pub submitted_ms: Millis,
    pub admitted_ms: Option<Millis>,
    /// When the driver and every counted executor were running.
    pub started_ms: Option<Millis>,
    pub finished_ms: Option<Millis>,
    /// The final phase, or the phase the job was in when the run stopped.
    pub phase: Phase,
    /// Why it was rejected, cancelled or failed, or why it still waits at the end of the run.
    pub reason: Option<String>,
    /// How long it runs once started (declared in the scenario or drawn from it).
    pub run_ms: Millis,
    /// The sum of the requests of its driver and counted executors.
    pub request: Resources,
    /// A legacy job whose driver ran but whose executors never all ran.
    pub never_progressed: bool,
}

impl JobRecord {
    /// `admitted − submitted`, for jobs that were admitted (legacy jobs: when their driver was
    /// created, which is at submission).
    pub fn wait_ms(&self) -> Option<Millis> {
        self.admitted_ms.map(|at| at - self.submitted_ms)
    }

    /// `running − submitted`.
    pub fn time_to_start_ms(&self) -> Option<Millis> {
        self.started_ms.map(|at| at - self.submitted_ms)
    }
}

/// An interval during which a queue head could not be admitted while the cycle stopped at it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockedInterval {
    /// The namespace whose queues were blocked, under `queue_scope: namespace`.
    pub namespace: Option<Arc<str>>,
    pub priority: Priority,
    pub job: JobId,
    pub from_ms: Millis,
    pub to_ms: Millis,
    /// The blocking reason when the interval began.
    pub reason: String,
    /// Capacity free on schedulable nodes when the interval began, left idle by the block.
    pub idle: Resources,
}

/// The allocatable capacity of schedulable nodes, from `at_ms` until the next sample.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapacitySample {
    pub at_ms: Millis,
    pub capacity: Resources,
}

/// Everything a run produced, in a deterministic order: jobs by id, intervals by start time,
/// samples by time.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecords {
    pub jobs: Vec<JobRecord>,
    pub blocked: Vec<BlockedInterval>,
    pub capacity: Vec<CapacitySample>,
    /// When the run stopped: the last event, or the horizon.
    pub end_ms: Millis,
}
