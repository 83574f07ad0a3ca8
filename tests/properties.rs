//! Simulated tier, property tests: random clusters and workloads, the rules that must hold
//! whatever the input. Each case runs with the simulator's invariant checks on (no node over
//! its allocatable after any cycle, the placement index consistent with the nodes).

use proptest::prelude::*;
use sparkq_core::{Flow, JobId, Phase};
use sparkq_sim::engine::{RunOptions, simulate};
use sparkq_sim::record::{JobRecord, RunRecords};
use sparkq_sim::scenario::Scenario;

#[derive(Clone, Debug)]
struct JobCase {
    submit_s: u32,
    high: bool,
    driver_cores: u32,
    executor_cores: u32,
    executors: u32,
    run_s: u32,
    legacy: bool,
}

fn job_case() -> impl Strategy<Value = JobCase> {
    (0u32..600, any::<bool>(), 1u32..4, 1u32..6, 0u32..6, 0u32..900, prop::bool::weighted(0.15))
        .prop_map(|(submit_s, high, driver_cores, executor_cores, executors, run_s, legacy)| {
            JobCase { submit_s, high, driver_cores, executor_cores, executors, run_s, legacy }
        })
}

fn scenario_yaml(policy: &str, nodes: &[(u32, u32)], jobs: &[JobCase]) -> String {
    let mut yaml = format!("name: prop\npolicy: {policy}\ncluster:\n  pools:\n");
    for (i, (cpu, memory_gi)) in nodes.iter().enumerate() {
        yaml += &format!("    - {{ name: p{i}, count: 1, cpu: {cpu}, memory: {memory_gi}Gi }}\n");
    }
    yaml += "workload:\n  jobs:\n";
    for (i, job) in jobs.iter().enumerate() {
        yaml += &format!(
            "    - {{ name: j{i}, priority: {}, flow: {}, submit: {}s, duration: {}s, estimate: {}s, \
             spark: {{ driver: {{ cores: {} }}, executor: {{ cores: {}, instances: {} }} }} }}\n",
            if job.high { "high" } else { "normal" },
            if job.legacy { "legacy" } else { "orchestrated" },
            job.submit_s,
            job.run_s,
            job.run_s,
            job.driver_cores,
            job.executor_cores,
            job.executors,
        );
    }
    yaml
}

fn run(yaml: &str) -> RunRecords {
    let scenario = Scenario::from_yaml(yaml, "prop.yaml").expect("generated scenario is valid");
    let options = RunOptions { check_invariants: true, ..RunOptions::default() };
    simulate(&scenario, &options).1
}

/// Whether job `a` must be admitted before `b` when both wait at once, with one pair of
/// queues. Under `strict`: high before normal, and within a priority by submission (then input
/// order). Under `weighted` only the second half holds: a queue is strictly first in, first
/// out, but the round robin may serve a normal job before a waiting high one.
fn must_precede(policy: &str, a: &JobRecord, b: &JobRecord) -> bool {
    let fifo = |j: &JobRecord| (j.submitted_ms, j.id);
    match policy {
        "strict" => (a.priority, fifo(a)) < (b.priority, fifo(b)),
        "weighted" => a.priority == b.priority && fifo(a) < fifo(b),
        _ => unreachable!("only strict and weighted fix an order"),
    }
}

fn policies() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["strict", "weighted", "best-effort", "backfill"])
}

fn nodes() -> impl Strategy<Value = Vec<(u32, u32)>> {
    prop::collection::vec((prop::sample::select(vec![4u32, 8, 16]), 16u32..64), 1..5)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Every job ends in exactly one phase, and orchestrated jobs in a final one: with no
    /// horizon, each is admitted and runs, or is rejected, unless a legacy job deadlocked
    /// (driver up, executors pending for ever) and holds capacity to the end.
    #[test]
    fn every_job_ends_in_exactly_one_state(
        policy in policies(),
        nodes in nodes(),
        jobs in prop::collection::vec(job_case(), 1..30),
    ) {
        let records = run(&scenario_yaml(policy, &nodes, &jobs));
        prop_assert_eq!(records.jobs.len(), jobs.len());
        let ids: Vec<JobId> = records.jobs.iter().map(|j| j.id).collect();
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        prop_assert_eq!(ids, unique);
        let deadlocked = records.jobs.iter().any(|j| j.never_progressed);
        for job in records.jobs.iter().filter(|j| j.flow == Flow::Orchestrated && !deadlocked) {
            prop_assert!(
                matches!(job.phase, Phase::Succeeded | Phase::Rejected),
                "{} ended {:?}", job.name, job.phase
            );
            prop_assert_eq!(job.phase == Phase::Succeeded, job.finished_ms.is_some() && job.started_ms.is_some());
        }
    }

    /// Under `strict` and `weighted`, no job is admitted while a job it must wait behind (by
    /// that policy's rule) is still waiting.
    #[test]
    fn no_job_is_admitted_ahead_of_one_it_waits_behind(
        policy in prop::sample::select(vec!["strict", "weighted"]),
        nodes in nodes(),
        jobs in prop::collection::vec(job_case(), 1..30),
    ) {
        let records = run(&scenario_yaml(policy, &nodes, &jobs));
        let queued: Vec<&JobRecord> = records
            .jobs
            .iter()
            .filter(|j| j.flow == Flow::Orchestrated && j.phase != Phase::Rejected)
            .collect();
        for b in &queued {
            let Some(t) = b.admitted_ms else { continue };
            for a in &queued {
                let a_waiting_at_t = a.submitted_ms <= t && a.admitted_ms.is_none_or(|at| at > t);
                prop_assert!(
                    !(must_precede(policy, a, b) && a_waiting_at_t),
                    "{policy}: {} admitted at {} ms while {} (ahead of it) still waited",
                    b.name, t, a.name
                );
            }
        }
    }

    /// The same scenario and seed give the same records, field for field.
    #[test]
    fn same_input_and_seed_give_the_same_output(
        policy in policies(),
        nodes in nodes(),
        jobs in prop::collection::vec(job_case(), 1..30),
    ) {
        let yaml = scenario_yaml(policy, &nodes, &jobs);
        prop_assert_eq!(run(&yaml), run(&yaml));
    }
}

const GENERATED: &str = "
name: gen
seed: 1
cluster:
  pools:
    - { name: p, count: 4, cpu: 16, memory: 64Gi }
workload:
  generators:
    - name: g
      count: 200
      arrival: { poisson: { mean: 30s } }
      priority: { high: 1, normal: 3 }
      sizes:
        - { name: s, spark: { executor: { cores: 2, instances: 3 } } }
      duration: { exponential: { mean: 10m } }
";

/// A generated workload replays exactly under its seed and differs under another one.
#[test]
fn seed_decides_the_generated_arrivals() {
    let scenario = Scenario::from_yaml(GENERATED, "gen.yaml").expect("valid");
    let options = RunOptions::default();
    let (_, first) = simulate(&scenario, &options);
    let (_, again) = simulate(&scenario, &options);
    assert_eq!(first, again);
    let other = RunOptions { seed: Some(2), ..RunOptions::default() };
    let (outcome, different) = simulate(&scenario, &other);
    assert_eq!(outcome.seed, 2);
    let submits = |r: &RunRecords| r.jobs.iter().map(|j| j.submitted_ms).collect::<Vec<_>>();
    assert_ne!(submits(&first), submits(&different));
}
