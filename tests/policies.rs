//! Simulated tier: the queue rules of SPEC §3 to §5, each on a scenario small enough that the
//! expected times are worked out by hand in the comment above the test.
//!
//! Sizes used below, from Spark's rules (SPEC §2): a pod with `cores: N` requests N CPUs; a
//! pod with default memory (`1g`) requests 1g + max(0.1 × 1g, 384m) = 1408 MiB, so memory never
//! binds on the 32 GiB nodes these tests use unless a test says otherwise.

use sparkq_core::{Flow, Phase};
use sparkq_sim::engine::{RunOptions, simulate};
use sparkq_sim::record::{JobRecord, RunRecords};
use sparkq_sim::scenario::Scenario;

const MIN: u64 = 60_000;

fn run(yaml: &str) -> RunRecords {
    let scenario = Scenario::from_yaml(yaml, "test.yaml").expect("test scenario is valid");
    let options = RunOptions { check_invariants: true, ..RunOptions::default() };
    simulate(&scenario, &options).1
}

fn job<'a>(records: &'a RunRecords, name: &str) -> &'a JobRecord {
    records.jobs.iter().find(|j| j.name.as_ref() == name).expect("job is in the records")
}

fn admitted_min(records: &RunRecords, name: &str) -> Option<u64> {
    job(records, name).admitted_ms.map(|ms| ms / MIN)
}

/// One node of 8 CPUs and 32 GiB, and the given policy and jobs.
fn one_node(policy: &str, jobs: &str) -> String {
    format!(
        "name: t\npolicy: {policy}\ncluster:\n  pools:\n    - {{ name: n, count: 1, cpu: 8, memory: 32Gi }}\n\
         workload:\n  jobs:\n{jobs}"
    )
}

/// A job line: `cores` CPUs in all as a driver of 2 and executors of 2 (or a 1-CPU driver
/// alone for odd sizes is avoided: every size used is even).
fn job_line(name: &str, priority: &str, submit_min: u64, cpus: u32, run_min: u64) -> String {
    let executors = cpus / 2 - 1;
    format!(
        "    - {{ name: {name}, priority: {priority}, submit: {submit_min}m, duration: {run_min}m, \
         spark: {{ driver: {{ cores: 2 }}, executor: {{ cores: 2, instances: {executors} }} }} }}\n"
    )
}

/// A 6-CPU job A runs from 0 to 10m. B (4 CPUs, at 1m) does not fit beside it and blocks the
/// queue. C (2 CPUs, at 2m) would fit beside A (6 + 2 = 8) but is behind B, so it waits too.
/// At 10m A ends: B (4) and C (2) are admitted together.
#[test]
fn strict_blocked_head_holds_back_later_jobs_that_would_fit() {
    let jobs = [
        job_line("a", "normal", 0, 6, 10),
        job_line("b", "normal", 1, 4, 10),
        job_line("c", "normal", 2, 2, 10),
    ]
    .concat();
    let records = run(&one_node("strict", &jobs));
    assert_eq!(admitted_min(&records, "a"), Some(0));
    assert_eq!(admitted_min(&records, "b"), Some(10));
    assert_eq!(admitted_min(&records, "c"), Some(10));
    assert_eq!(job(&records, "c").wait_ms(), Some(8 * MIN));
}

/// A normal 6-CPU job runs 0–10m. A high 4-CPU job at 1m is blocked. A normal 2-CPU job at 2m
/// would fit, but under `strict` the blocked high head stops the normal queue too: it is
/// admitted at 10m with the high job.
#[test]
fn strict_blocked_high_head_holds_back_normal_jobs() {
    let jobs = [
        job_line("big", "normal", 0, 6, 10),
        job_line("urgent", "high", 1, 4, 10),
        job_line("small", "normal", 2, 2, 10),
    ]
    .concat();
    let records = run(&one_node("strict", &jobs));
    assert_eq!(admitted_min(&records, "urgent"), Some(10));
    assert_eq!(admitted_min(&records, "small"), Some(10));
    let reason = job(&records, "small").reason.clone();
    assert!(reason.is_none(), "small finished, so no waiting reason remains: {reason:?}");
}

/// 30 high and 5 normal jobs arrive at 0; each needs the whole node (8 CPUs) for 1 minute, so
/// one is admitted per minute. Smooth weighted round robin with weights 90:10 picks, per ten
/// admissions, H H H H H N H H H H (credits: (90,10) H → (−10,10); (80,20) H; (70,30) H;
/// (60,40) H; (50,50) tie → H; (40,60) N → (40,−40); then H four times back to (0,0)).
/// Normal jobs are thus admitted at minutes 5, 15 and 25. By then 23 high jobs started; the
/// remaining 7 take minutes 26–32, and the last two normal jobs follow at 33 and 34.
#[test]
fn weighted_lets_normal_jobs_through_a_stream_of_high_jobs_at_its_share() {
    let mut jobs = String::new();
    for i in 0..30 {
        jobs += &job_line(&format!("h{i:02}"), "high", 0, 8, 1);
    }
    for i in 0..5 {
        jobs += &job_line(&format!("n{i}"), "normal", 0, 8, 1);
    }
    let policy = "{ name: weighted, weights: { high: 90, normal: 10 } }";
    let records = run(&one_node(policy, &jobs));
    let normal: Vec<u64> =
        (0..5).filter_map(|i| admitted_min(&records, &format!("n{i}"))).collect();
    assert_eq!(normal, vec![5, 15, 25, 33, 34]);
    let strict = run(&one_node("strict", &jobs));
    assert_eq!(admitted_min(&strict, "n0"), Some(30), "under strict normal jobs wait for all high");
}

/// As in the first test, but `best-effort`: C (2 CPUs at 2m) fits beside A and is admitted at
/// once, skipping the blocked B, which still starts at 10m.
#[test]
fn best_effort_skips_a_blocked_head() {
    let jobs = [
        job_line("a", "normal", 0, 6, 10),
        job_line("b", "normal", 1, 4, 10),
        job_line("c", "normal", 2, 2, 10),
    ]
    .concat();
    let records = run(&one_node("best-effort", &jobs));
    assert_eq!(admitted_min(&records, "c"), Some(2));
    assert_eq!(admitted_min(&records, "b"), Some(10));
}

const TEN_JOBS_OF_FIVE_PODS: &str = "
name: ten
policy: strict
cluster:
  pools:
    - { name: n, count: 2, cpu: 8, memory: 32Gi }
workload:
  generators:
    - name: job
      count: 10
      arrival: { every: 0s }
      sizes:
        - name: std
          spark:
            driver: { cores: 1, memory: 3g, memory_overhead: 1g }
            executor: { cores: 1, memory: 3g, memory_overhead: 1g, instances: 4 }
      duration: { fixed: 10m }
";

/// Ten jobs of a driver and 4 executors, every pod 1 CPU and 3g + 1g overhead = 4 GiB, at
/// once on two nodes of 8 CPUs and 32 GiB. A node holds 8 such pods (8 CPUs, 8 × 4 GiB), the
/// cluster 16; a job needs 5, so three jobs (15 pods) run at a time: starts at 0, 10, 20 and
/// 30 minutes (3, 3, 3, 1 jobs). Every job starts the instant it is admitted: no driver runs
/// without its executors.
#[test]
fn ten_five_pod_jobs_start_three_at_a_time_and_never_without_executors() {
    let records = run(TEN_JOBS_OF_FIVE_PODS);
    let mut starts: Vec<u64> =
        records.jobs.iter().map(|j| j.started_ms.expect("every job starts") / MIN).collect();
    starts.sort_unstable();
    assert_eq!(starts, vec![0, 0, 0, 10, 10, 10, 20, 20, 20, 30]);
    for j in &records.jobs {
        assert_eq!(j.started_ms, j.admitted_ms, "{} ran its driver alone", j.name);
        assert_eq!(j.phase, Phase::Succeeded);
    }
}

/// The same ten jobs in the legacy flow. The kube-scheduler stand-in binds pending pods by
/// creation order, and a driver creates its executors only once it runs, so the ten drivers
/// (created at 0) take 10 of the 16 pod places first. The 6 left go to the first job's 4
/// executors (it runs) and 2 of the second job's. Worked forward, each end frees 5 places that
/// go to the oldest pending executors:
///  - 10m: job 1 ends; job 2 gets its last 2 (starts), job 3 gets 3 of 4;
///  - 20m: job 2 ends; job 3 gets 1 (starts), job 4 gets 4 (starts);
///  - 30m: jobs 3, 4 end (10 places); jobs 5 and 6 start, job 7 gets 2;
///  - 40m: jobs 5, 6 end; job 7 gets 2 (starts), jobs 8 and 9 start;
///  - 50m: jobs 7 to 9 end; job 10 starts.
///
/// Drivers sit idle holding places meanwhile: the last job starts at 50m instead of 30m.
#[test]
fn legacy_flow_lets_drivers_start_without_their_executors() {
    let yaml = TEN_JOBS_OF_FIVE_PODS.replace("duration:", "flow: { legacy: 1 }\n      duration:");
    let records = run(&yaml);
    let starts: Vec<u64> =
        records.jobs.iter().map(|j| j.started_ms.expect("every job starts") / MIN).collect();
    assert_eq!(starts, vec![0, 10, 20, 20, 30, 30, 40, 40, 40, 50]);
    for j in &records.jobs {
        assert_eq!(j.flow, Flow::Legacy);
        assert_eq!(j.admitted_ms, Some(0), "a legacy driver is created at submission");
    }
}

/// A job asking for an executor of 16 CPUs on a cluster whose largest node has 8 is rejected at
/// submission, and the reason names the pod (executor), the resource (cpu) and the largest node
/// (n-0, 8 CPUs). The 2-CPU job submitted right behind it is admitted at once (0m).
#[test]
fn job_larger_than_the_largest_node_is_rejected_and_does_not_block() {
    let jobs = "    - { name: huge, submit: 0s, duration: 10m, spark: { executor: { cores: 16, instances: 1 } } }\n"
        .to_string()
        + &job_line("next", "normal", 0, 2, 10);
    let records = run(&one_node("strict", &jobs));
    let huge = job(&records, "huge");
    assert_eq!(huge.phase, Phase::Rejected);
    let reason = huge.reason.clone().unwrap_or_default();
    for needle in ["executor", "cpu", "n-0", "16", "8"] {
        assert!(reason.contains(needle), "reason `{reason}` should mention `{needle}`");
    }
    assert_eq!(admitted_min(&records, "next"), Some(0));
}

/// A normal 6-CPU job runs 0–10m. A high 6-CPU job arrives at 1m and blocks. Small normal
/// 2-CPU jobs arrive at 2, 3 and 4m, each of which would fit beside the running job: none may
/// pass the high job. At 10m the high job (6) and one small job (2) fill the node; the next
/// small job starts when a 5-minute small job ends, at 15m, and the last at 20m when the high
/// job ends.
#[test]
fn strict_small_jobs_do_not_jump_ahead_of_a_waiting_high_job() {
    let jobs = [
        job_line("running", "normal", 0, 6, 10),
        job_line("high", "high", 1, 6, 10),
        job_line("s1", "normal", 2, 2, 5),
        job_line("s2", "normal", 3, 2, 5),
        job_line("s3", "normal", 4, 2, 5),
    ]
    .concat();
    let records = run(&one_node("strict", &jobs));
    assert_eq!(admitted_min(&records, "high"), Some(10));
    assert_eq!(admitted_min(&records, "s1"), Some(10));
    assert_eq!(admitted_min(&records, "s2"), Some(15));
    assert_eq!(admitted_min(&records, "s3"), Some(20));
}

/// Background pods of 6 CPUs end at 5m but terminate for 5 minutes more (grace): they hold
/// their CPUs until 10m. A 4-CPU job arriving at 6m is therefore admitted at 10m, not 6m.
#[test]
fn terminating_pod_holds_its_capacity_until_it_is_gone() {
    let yaml = format!(
        "name: t\ncluster:\n  pools:\n    - {{ name: n, count: 1, cpu: 8, memory: 32Gi }}\n  \
         background:\n    - {{ name: batch, count: 1, cpu: 6, memory: 1Gi, start: 0s, end: 5m, grace: 5m }}\n\
         workload:\n  jobs:\n{}",
        job_line("late", "normal", 6, 4, 10)
    );
    let records = run(&yaml);
    assert_eq!(admitted_min(&records, "late"), Some(10));
}

/// `backfill` on one 8-CPU node. A (6 CPUs, estimate = run = 10m) runs from 0. B (8 CPUs, at
/// 1m) is blocked; A's expected end makes B's shadow time 10m, when B needs the whole node.
/// C (2 CPUs, 5m, at 2m) fits now and ends at 7m, before 10m: backfilled at 2m. D (2 CPUs, 20m,
/// at 3m) fits now but would still run at 10m on CPUs B needs: not backfilled. B starts at
/// 10m and runs to 20m; D follows at 20m. Under `strict`, C would also wait until 20m.
#[test]
fn backfill_starts_a_short_job_early_only_when_it_cannot_delay_the_head() {
    let line = |name: &str, submit: u64, cpus: u32, run: u64| {
        let executors = cpus / 2 - 1;
        format!(
            "    - {{ name: {name}, submit: {submit}m, duration: {run}m, estimate: {run}m, \
             spark: {{ driver: {{ cores: 2 }}, executor: {{ cores: 2, instances: {executors} }} }} }}\n"
        )
    };
    let jobs = [line("a", 0, 6, 10), line("b", 1, 8, 10), line("c", 2, 2, 5), line("d", 3, 2, 20)]
        .concat();
    let records = run(&one_node("backfill", &jobs));
    assert_eq!(admitted_min(&records, "c"), Some(2));
    assert_eq!(admitted_min(&records, "b"), Some(10));
    assert_eq!(admitted_min(&records, "d"), Some(20));
    let strict = run(&one_node("strict", &jobs));
    assert_eq!(admitted_min(&strict, "c"), Some(20));
}

/// Under `queue_scope: namespace` each namespace has its own queues: team a's blocked head (a2,
/// 4 CPUs beside a1's 6) blocks only team a, so team b's 2-CPU job starts at 2m. With one pair
/// of queues for the cluster it waits behind a2 until a1 ends at 10m.
#[test]
fn namespace_scope_confines_a_blocked_head_to_its_namespace() {
    let line = |name: &str, ns: &str, submit: u64, cpus: u32| {
        format!(
            "    - {{ name: {name}, namespace: {ns}, submit: {submit}m, duration: 10m, \
             spark: {{ driver: {{ cores: 2 }}, executor: {{ cores: 2, instances: {} }} }} }}\n",
            cpus / 2 - 1
        )
    };
    let jobs = [line("a1", "a", 0, 6), line("a2", "a", 1, 4), line("b1", "b", 2, 2)].concat();
    let scoped = run(&one_node("{ name: strict, queue_scope: namespace }", &jobs));
    assert_eq!(admitted_min(&scoped, "b1"), Some(2));
    assert_eq!(admitted_min(&scoped, "a2"), Some(10));
    let shared = run(&one_node("strict", &jobs));
    assert_eq!(admitted_min(&shared, "b1"), Some(10));
}

/// `head_timeout: 5m, head_retries: 1` on one 8-CPU node held by an 8-CPU job for an hour.
/// b (4 CPUs) blocks from 1m; at 6m it goes to the back behind c, which then blocks from 6m;
/// at 11m c goes back and b blocks again from 11m; at 16m b has used its retry and is
/// cancelled, and c, blocked again from 16m, is cancelled at 21m.
#[test]
fn head_timeout_sends_the_head_back_then_cancels_it_with_its_reason() {
    let jobs = [
        job_line("hog", "normal", 0, 8, 60),
        job_line("b", "normal", 1, 4, 10),
        job_line("c", "normal", 2, 4, 10),
    ]
    .concat();
    let records = run(&one_node("{ name: strict, head_timeout: 5m, head_retries: 1 }", &jobs));
    for (name, cancelled_min) in [("b", 16), ("c", 21)] {
        let j = job(&records, name);
        assert_eq!(j.phase, Phase::Cancelled, "{name}");
        assert_eq!(j.finished_ms, Some(cancelled_min * MIN), "{name}");
        let reason = j.reason.clone().unwrap_or_default();
        assert!(reason.contains("insufficient cpu"), "{name}: {reason}");
    }
}

/// Two 8-CPU nodes and a quota of 8 CPUs for namespace a. a1 (6 CPUs) runs from 0 to 10m; a2
/// (4 CPUs) at 1m would fit on the cluster but not in the quota, so it waits ("quota team-a"),
/// and under `strict` b1 (namespace b) waits behind it. At the 5m horizon both still wait with
/// those reasons; without a horizon a2 and b1 start at 10m.
#[test]
fn quota_holds_a_job_back_and_names_itself() {
    let line = |name: &str, ns: &str, submit: u64, cpus: u32| {
        format!(
            "    - {{ name: {name}, namespace: {ns}, submit: {submit}m, duration: 10m, \
             spark: {{ driver: {{ cores: 2 }}, executor: {{ cores: 2, instances: {} }} }} }}\n",
            cpus / 2 - 1
        )
    };
    let jobs = [line("a1", "a", 0, 6), line("a2", "a", 1, 4), line("b1", "b", 2, 2)].concat();
    let scenario = |horizon: &str| {
        format!(
            "name: q\n{horizon}policy: {{ name: strict, quotas: [{{ name: team-a, namespace: a, cpu: 8 }}] }}\n\
             cluster:\n  pools:\n    - {{ name: n, count: 2, cpu: 8, memory: 32Gi }}\nworkload:\n  jobs:\n{jobs}"
        )
    };
    let cut = run(&scenario("horizon: 5m\n"));
    assert_eq!(job(&cut, "a2").phase, Phase::Queued);
    assert_eq!(job(&cut, "a2").reason.as_deref(), Some("quota team-a"));
    assert_eq!(job(&cut, "b1").reason.as_deref(), Some("behind a2"));
    let full = run(&scenario(""));
    assert_eq!(admitted_min(&full, "a2"), Some(10));
    assert_eq!(admitted_min(&full, "b1"), Some(10));
}

/// A quota of 8 CPUs for namespace a on two 8-CPU nodes. `wide` (namespace a) asks for 10
/// CPUs: a driver of 2 and four executors of 2. The cluster could hold it, the quota never can,
/// so it is rejected at submission (0m) naming the quota, rather than blocking the queue for
/// ever; b1 (namespace b, 2 CPUs, at 1m) is admitted at once, at 1m.
#[test]
fn job_larger_than_its_quota_is_rejected_and_does_not_block() {
    let yaml = "
name: q
policy: { name: strict, quotas: [{ name: team-a, namespace: a, cpu: 8 }] }
cluster:
  pools:
    - { name: n, count: 2, cpu: 8, memory: 32Gi }
workload:
  jobs:
    - { name: wide, namespace: a, duration: 10m, spark: { driver: { cores: 2 }, executor: { cores: 2, instances: 4 } } }
    - { name: b1, namespace: b, submit: 1m, duration: 10m, spark: { driver: { cores: 1 }, executor: { cores: 1, instances: 1 } } }
";
    let records = run(yaml);
    let wide = job(&records, "wide");
    assert_eq!(wide.phase, Phase::Rejected);
    assert_eq!(wide.finished_ms, Some(0));
    let reason = wide.reason.clone().unwrap_or_default();
    for needle in ["team-a", "10", "8", "cpu"] {
        assert!(reason.contains(needle), "reason `{reason}` should mention `{needle}`");
    }
    assert_eq!(admitted_min(&records, "b1"), Some(1));
}

/// SPEC §5: `cancelled` only before running. On one 8-CPU node, a (6 CPUs) runs 0–10m and b
/// (4 CPUs, at 1m) waits behind it. At 5m both are cancelled by events: b, still queued, ends
/// cancelled at 5m; a, running, is left alone and succeeds at 10m.
#[test]
fn cancel_event_ends_a_queued_job_and_leaves_a_running_one() {
    let jobs = [job_line("a", "normal", 0, 6, 10), job_line("b", "normal", 1, 4, 10)].concat();
    let yaml = one_node("strict", &jobs)
        + "events:\n  - { at: 5m, cancel: a }\n  - { at: 5m, cancel: b }\n";
    let records = run(&yaml);
    assert_eq!(job(&records, "b").phase, Phase::Cancelled);
    assert_eq!(job(&records, "b").finished_ms, Some(5 * MIN));
    assert_eq!(job(&records, "a").phase, Phase::Succeeded);
    assert_eq!(job(&records, "a").finished_ms, Some(10 * MIN));
}

/// Two 4-CPU nodes, each half taken by a 2-CPU background pod: 4 CPUs free in all, 2 per node.
/// A job of a 1-CPU driver and one 3-CPU executor (4 in all) would fit in sum but its executor
/// fits on no node: "fragmented". A 6-CPU job is short of 2 CPUs: "insufficient cpu (2 short)".
#[test]
fn waiting_reasons_tell_fragmentation_from_shortage() {
    let yaml = "
name: reasons
horizon: 1m
policy: best-effort
cluster:
  pools:
    - { name: n, count: 2, cpu: 4, memory: 32Gi }
  background:
    - { name: other, count: 2, cpu: 2, memory: 1Gi }
workload:
  jobs:
    - { name: split, duration: 10m, spark: { driver: { cores: 1 }, executor: { cores: 3, instances: 1 } } }
    - { name: big, duration: 10m, spark: { driver: { cores: 2 }, executor: { cores: 2, instances: 2 } } }
";
    let records = run(yaml);
    assert_eq!(job(&records, "split").reason.as_deref(), Some("fragmented"));
    assert_eq!(job(&records, "big").reason.as_deref(), Some("insufficient cpu (2 short)"));
}
