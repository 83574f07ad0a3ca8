//! `summary.json` and the statistics over time on the hand-built run of `common::hand_run`,
//! every expected value worked out by hand.

mod common;

use serde_json::{Value, json};
use sparkq_core::Priority;
use sparkq_reports::stats::RunStats;
use sparkq_reports::timeline::TimeGrid;
use sparkq_reports::{Summary, write_jobs_csv};

#[test]
fn summary_of_the_hand_built_run() {
    let summary = Summary::from_records(&common::hand_run(), 42, "strict", "hand");
    let got: Value = serde_json::from_str(&summary.to_json()).expect("valid JSON");

    // Overall. Admitted waits (ms): jobs 1 and 6 waited 0, job 2 20 000, job 3 35 000 →
    // sorted [0, 0, 20 000, 35 000]. Mean 55 000 / 4 = 13.75 s. Nearest rank: p50 is the
    // ⌈0.5·4⌉ = 2nd value (0), p95 and p99 the ⌈3.8⌉ = ⌈3.96⌉ = 4th (35 s).
    // Bounded slowdown over the finished jobs 1, 2, 3:
    //   job 1: wait 0, run 40 s → 40 / 40 = 1;
    //   job 2: wait 20 s, run 5 s → (20 + 5) / max(5, 10) = 2.5;
    //   job 3: wait 35 s, run 50 s → 85 / 50 = 1.7;  mean 5.2 / 3 = 1.7333 (4 decimals).
    // Utilisation: CPU 4·40 + 2·5 + 6·50 = 470 core-s of 10·100 = 1000 → 0.47; memory
    // 8·40 + 4·5 + 16·50 = 1140 GiB-s of 40·100 = 4000 → 0.285. Job 4 is still queued, so the
    // makespan is the end of the run, 100 s.
    let expected = json!({
        "scenario": "hand",
        "seed": 42,
        "policy": "strict",
        "jobs": 6,
        "states": {
            "admitted": 1, "cancelled": 0, "failed": 0, "queued": 1,
            "rejected": 1, "running": 0, "succeeded": 3
        },
        "wait_seconds": { "mean": 13.75, "p50": 0.0, "p95": 35.0, "p99": 35.0, "max": 35.0 },
        "bounded_slowdown_mean": 1.7333,
        "never_progressed": 1,
        "by_priority": {
            // High: waits [0, 20 s]: mean 10, p50 the 1st (0), p95 the ⌈1.9⌉ = 2nd (20).
            // Slowdown (1 + 2.5) / 2 = 1.75.
            "high": {
                "jobs": 2,
                "states": {
                    "admitted": 0, "cancelled": 0, "failed": 0, "queued": 0,
                    "rejected": 0, "running": 0, "succeeded": 2
                },
                "wait_seconds": { "mean": 10.0, "p50": 0.0, "p95": 20.0, "p99": 20.0, "max": 20.0 },
                "bounded_slowdown_mean": 1.75,
                "never_progressed": 0
            },
            // Normal: jobs 3, 4, 5, 6; waits [0 (legacy 6), 35 s (3)]: mean 17.5; slowdown 1.7.
            "normal": {
                "jobs": 4,
                "states": {
                    "admitted": 1, "cancelled": 0, "failed": 0, "queued": 1,
                    "rejected": 1, "running": 0, "succeeded": 1
                },
                "wait_seconds": { "mean": 17.5, "p50": 0.0, "p95": 35.0, "p99": 35.0, "max": 35.0 },
                "bounded_slowdown_mean": 1.7,
                "never_progressed": 1
            }
        },
        "utilization": { "cpu": 0.47, "memory": 0.285 },
        "makespan_seconds": 100.0
    });
    assert_eq!(got, expected);

    // The file keeps its keys in a fixed order, overall values before the per-priority ones.
    let text = summary.to_json();
    let at = |key: &str| text.find(key).unwrap_or(usize::MAX);
    assert!(at("\"scenario\"") < at("\"seed\"") && at("\"policy\"") < at("\"jobs\""));
    assert!(at("\"never_progressed\"") < at("\"by_priority\""));
    assert!(at("\"utilization\"") < at("\"makespan_seconds\""));
    assert!(text.ends_with("}\n"));

    // It reads back into the same summary.
    let back: Summary = serde_json::from_str(&text).expect("round trip");
    assert_eq!(back, summary);
}

#[test]
fn makespan_ends_with_the_last_job_to_leave_when_every_job_is_done() {
    // Without the queued job 4 and the stuck legacy job 6, the last to leave is job 3 at 90 s
    // (the rejected job 5 left at its submission, 1 s).
    let mut run = common::hand_run();
    run.jobs.retain(|job| job.id.0 != 4 && job.id.0 != 6);
    let summary = Summary::from_records(&run, 1, "strict", "hand");
    assert_eq!(summary.makespan_seconds, 90.0);
}

#[test]
fn an_empty_run_has_counts_of_zero_and_no_waits() {
    let summary = Summary::from_records(&Default::default(), 7, "weighted", "empty");
    let got: Value = serde_json::from_str(&summary.to_json()).expect("valid JSON");
    assert_eq!(got["jobs"], json!(0));
    assert_eq!(got["states"]["succeeded"], json!(0));
    assert_eq!(got["wait_seconds"]["p95"], Value::Null);
    assert_eq!(got["bounded_slowdown_mean"], Value::Null);
    assert_eq!(got["utilization"], json!({ "cpu": 0.0, "memory": 0.0 }));
    assert_eq!(got["makespan_seconds"], json!(0.0));
}

#[test]
fn statistics_over_time_on_a_grid_of_ten_second_steps() {
    let run = common::hand_run();
    let grid = TimeGrid::with_step(10_000, 100_000);
    let stats = RunStats::on_grid(&run, grid);

    // Queued normal jobs: 3 over [5, 40) s and 4 over [20, 100) s; 5 (rejected at once) and 6
    // (legacy) never queue. Peaks per 10 s step: 1, 1, 2, 2, then 1 to the end.
    let normal = &stats.queue_length[Priority::Normal.index()];
    assert_eq!(normal.peak, vec![1, 1, 2, 2, 1, 1, 1, 1, 1, 1]);
    // Step 0 holds job 3 for half of it.
    assert_eq!(normal.mean[0], 0.5);
    // Queued high jobs: 2 over [10, 30) s.
    assert_eq!(stats.queue_length[Priority::High.index()].peak, vec![0, 1, 1, 0, 0, 0, 0, 0, 0, 0]);

    // Normal head age at each step's end: job 3 (since 5 s) until it leaves at 40 s, then job 4
    // (since 20 s): 5, 15, 25 s, then 20, 30, … 80 s.
    let ages: Vec<u64> =
        stats.head_age_ms[Priority::Normal.index()].iter().map(|ms| ms / 1000).collect();
    assert_eq!(ages, vec![5, 15, 25, 20, 30, 40, 50, 60, 70, 80]);

    // Allocated CPU: job 1 4 cores over [0, 40), job 2 2 cores over [30, 35), job 3 6 cores over
    // [40, 90); the stuck legacy job 6 never ran. Step 3 averages 4 + 2·0.5 = 5 cores.
    assert_eq!(stats.allocated.cpu_cores, vec![4.0, 4.0, 4.0, 5.0, 6.0, 6.0, 6.0, 6.0, 6.0, 0.0]);
    assert_eq!(stats.capacity.cpu_cores, vec![10.0; 10]);
    assert_eq!(stats.capacity.memory_gib, vec![40.0; 10]);

    // Usage by namespace: etl ran 4·40 + 2·5 = 170 core-s, ml 6·50 = 300 core-s.
    let totals: Vec<(String, f64)> = stats
        .usage_by_namespace
        .totals
        .iter()
        .map(|total| (total.key.clone(), (total.core_hours * 3600.0).round()))
        .collect();
    assert_eq!(totals, vec![("etl".into(), 170.0), ("ml".into(), 300.0)]);
    // The chart's layers come largest first.
    assert_eq!(stats.usage_by_namespace.series[0].0, "ml");

    // Blocking: the high queue 20 s, the normal queue 35 s with 2 idle cores (70 core-s).
    let lanes: Vec<(&str, u64, f64)> = stats
        .blocked
        .iter()
        .map(|lane| (lane.label.as_str(), lane.blocked_ms, (lane.idle_core_hours * 3600.0).round()))
        .collect();
    assert_eq!(lanes, vec![("high", 20_000, 0.0), ("normal", 35_000, 70.0)]);

    // Problems: one rejected, one never progressed, one still queued, with their reasons.
    let count = |name: &str| stats.problems.iter().find(|p| p.name == name).map(|p| p.count);
    assert_eq!(count("rejected"), Some(1));
    assert_eq!(count("never progressed (legacy)"), Some(1));
    assert_eq!(count("still queued at the end"), Some(1));
    assert_eq!(count("cancelled"), Some(0));
    let rejected = stats.problems.iter().find(|p| p.name == "rejected").expect("a category");
    assert_eq!(rejected.examples[0].reason, "driver needs 64 cpu, the largest node has 10");
}

#[test]
fn jobs_csv_has_one_quoted_row_per_job_in_id_order() {
    let mut run = common::hand_run();
    run.jobs[0].name = "daily, \"full\" load".into();
    run.jobs.swap(1, 2);
    let mut out = Vec::new();
    write_jobs_csv(&run, &mut out).expect("writes to memory");
    let text = String::from_utf8(out).expect("UTF-8");
    let lines: Vec<&str> = text.lines().collect();

    assert_eq!(lines.len(), 7);
    assert_eq!(
        lines[0],
        "id,name,namespace,domain,priority,flow,submitted,admitted,started,finished,state,wait_seconds,reason"
    );
    assert_eq!(
        lines[1],
        "1,\"daily, \"\"full\"\" load\",etl,analytics,high,orchestrated,0.000,0.000,0.000,40.000,succeeded,0.000,"
    );
    assert_eq!(
        lines[2],
        "2,job-2,etl,analytics,high,orchestrated,10.000,30.000,30.000,35.000,succeeded,20.000,"
    );
    assert_eq!(
        lines[5],
        "5,job-5,ml,analytics,normal,orchestrated,1.000,,,,rejected,,\"driver needs 64 cpu, the largest node has 10\""
    );
    assert_eq!(
        lines[6],
        "6,job-6,etl,analytics,normal,legacy,50.000,50.000,,,admitted,0.000,executors pending: insufficient cpu"
    );
}
