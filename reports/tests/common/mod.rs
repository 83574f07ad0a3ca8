//! A small run built by hand, shared by the tests. Every number the tests expect is worked out
//! from this in their comments.

#![allow(dead_code, reason = "each test binary uses a different part of this module")]

use sparkq_core::{Flow, JobId, Phase, Priority, Resources};
use sparkq_sim::record::{BlockedInterval, CapacitySample, JobRecord, RunRecords};

pub const GIB: i64 = 1 << 30;

pub fn job(id: u64, namespace: &str, priority: Priority) -> JobRecord {
    JobRecord {
        id: JobId(id),
        name: format!("job-{id}").into(),
        namespace: namespace.into(),
        domain: "analytics".into(),
        priority,
        flow: Flow::Orchestrated,
        submitted_ms: 0,
        admitted_ms: None,
        started_ms: None,
        finished_ms: None,
        phase: Phase::Queued,
        reason: None,
        run_ms: 0,
        request: Resources::ZERO,
        never_progressed: false,
    }
}

/// Runs `[admitted, finished)` with pods running from admission.
pub fn ran(mut job: JobRecord, submitted: u64, admitted: u64, finished: u64) -> JobRecord {
    job.submitted_ms = submitted;
    job.admitted_ms = Some(admitted);
    job.started_ms = Some(admitted);
    job.finished_ms = Some(finished);
    job.run_ms = finished - admitted;
    job.phase = Phase::Succeeded;
    job
}

pub fn requesting(mut job: JobRecord, cores: i64, gib: i64) -> JobRecord {
    job.request =
        Resources { cpu_millis: cores * 1000, memory_bytes: gib * GIB, pods: 3, extended: vec![] };
    job
}

/// One cluster of 10 cores and 40 GiB for 100 s, six jobs:
///
/// | id | ns  | priority | what happens                                        | cores | GiB |
/// |----|-----|----------|-----------------------------------------------------|-------|-----|
/// | 1  | etl | high     | submitted 0, admitted and running 0, done 40 s      | 4     | 8   |
/// | 2  | etl | high     | submitted 10 s, admitted and running 30 s, done 35 s| 2     | 4   |
/// | 3  | ml  | normal   | submitted 5 s, admitted and running 40 s, done 90 s | 6     | 16  |
/// | 4  | ml  | normal   | submitted 20 s, still queued at the end (100 s)     | 1     | 1   |
/// | 5  | ml  | normal   | submitted 1 s, rejected at once (too big)           | 64    | 256 |
/// | 6  | etl | normal   | legacy, submitted 50 s, driver up, executors never  | 3     | 6   |
///
/// Head-blocked: normal from 5 s to 40 s (2 idle cores, 10 GiB), high from 10 s to 30 s.
pub fn hand_run() -> RunRecords {
    let mut queued = requesting(job(4, "ml", Priority::Normal), 1, 1);
    queued.submitted_ms = 20_000;
    queued.reason = Some("behind 3".into());

    let mut rejected = requesting(job(5, "ml", Priority::Normal), 64, 256);
    rejected.submitted_ms = 1_000;
    rejected.phase = Phase::Rejected;
    rejected.reason = Some("driver needs 64 cpu, the largest node has 10".into());

    let mut legacy = requesting(job(6, "etl", Priority::Normal), 3, 6);
    legacy.flow = Flow::Legacy;
    legacy.submitted_ms = 50_000;
    legacy.admitted_ms = Some(50_000);
    legacy.phase = Phase::Admitted;
    legacy.never_progressed = true;
    legacy.reason = Some("executors pending: insufficient cpu".into());

    RunRecords {
        jobs: vec![
            requesting(ran(job(1, "etl", Priority::High), 0, 0, 40_000), 4, 8),
            requesting(ran(job(2, "etl", Priority::High), 10_000, 30_000, 35_000), 2, 4),
            requesting(ran(job(3, "ml", Priority::Normal), 5_000, 40_000, 90_000), 6, 16),
            queued,
            rejected,
            legacy,
        ],
        blocked: vec![
            BlockedInterval {
                namespace: None,
                priority: Priority::Normal,
                job: JobId(3),
                from_ms: 5_000,
                to_ms: 40_000,
                reason: "insufficient cpu".into(),
                idle: Resources {
                    cpu_millis: 2_000,
                    memory_bytes: 10 * GIB,
                    pods: 10,
                    extended: vec![],
                },
            },
            BlockedInterval {
                namespace: None,
                priority: Priority::High,
                job: JobId(2),
                from_ms: 10_000,
                to_ms: 30_000,
                reason: "insufficient cpu".into(),
                idle: Resources { cpu_millis: 0, memory_bytes: 0, pods: 10, extended: vec![] },
            },
        ],
        capacity: vec![CapacitySample {
            at_ms: 0,
            capacity: Resources {
                cpu_millis: 10_000,
                memory_bytes: 40 * GIB,
                pods: 110,
                extended: vec![],
            },
        }],
        end_ms: 100_000,
    }
}

/// A fresh, empty directory under Cargo's scratch space for one test.
pub fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("reports").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}
