//! Tier: HTTP against the in-process API server. One scenario, run by the simulator and by
//! the adapter against the test server, admits its jobs in the same order: both use the one
//! core, and the adapter's view of the cluster matches the simulator's.

mod common;

use common::*;
use serde_json::json;
use sparkq_adapter_k8s::SparkJobSpec;
use sparkq_core::Policy;
use sparkq_sim::engine::{RunOptions, simulate};
use sparkq_sim::scenario::Scenario;

/// Name, priority, executor cores (3 executors, so 1 + 3 × cores cores per job: one job at
/// a time on the 8-core node). Job `k` is submitted at `k` seconds, while the first runs.
const JOBS: [(&str, &str, i64); 7] = [
    ("etl-1", "normal", 2),
    ("etl-2", "normal", 1),
    ("risk-1", "high", 2),
    ("etl-3", "normal", 2),
    ("risk-2", "high", 1),
    ("adhoc-1", "normal", 1),
    ("risk-3", "high", 2),
];

fn scenario_yaml(policy: &str) -> String {
    let mut yaml = format!(
        "name: parity\nseed: 1\npolicy: {policy}\ncluster:\n  pools:\n    - name: p\n      count: 1\n      cpu: 8\n      memory: 64Gi\nworkload:\n  jobs:\n"
    );
    for (index, (name, priority, cores)) in JOBS.iter().enumerate() {
        yaml.push_str(&format!(
            "    - name: {name}\n      namespace: {NS}\n      priority: {priority}\n      submit: {index}s\n      duration: 10m\n      spark:\n        driver: {{ cores: 1, memory: 2g }}\n        executor: {{ cores: {cores}, memory: 4g, instances: 3 }}\n"
        ));
    }
    yaml
}

fn spec(priority: &str, cores: i64) -> SparkJobSpec {
    serde_json::from_value(json!({
        "priority": priority,
        "image": "apache/spark:3.5.3",
        "mainClass": "org.example.Main",
        "driver": {"cores": 1, "memory": "2g"},
        "executor": {"cores": cores, "memory": "4g", "instances": 3},
    }))
    .expect("a valid spec")
}

fn simulated_order(policy: &str) -> Vec<String> {
    let scenario =
        Scenario::from_yaml(&scenario_yaml(policy), "parity.yaml").expect("scenario reads");
    let (_, records) = simulate(&scenario, &RunOptions::default());
    let mut admitted: Vec<_> = records
        .jobs
        .iter()
        .filter_map(|j| Some((j.admitted_ms?, j.id, j.name.to_string())))
        .collect();
    admitted.sort();
    let times: Vec<u64> = admitted.iter().map(|a| a.0).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "one job at a time in the simulator: {times:?}");
    admitted.into_iter().map(|(_, _, name)| name).collect()
}

async fn adapter_order(policy: Policy) -> Vec<String> {
    let server = start_server(&[("n1", "8", "64Gi")]).await;
    let mut settings = settings();
    settings.controller.scheduler.policy = policy;
    let adapter = start_adapter(&server, settings).await;
    // Jobs arrive one by one, as in the scenario: each is taken in before the next comes.
    for (name, priority, cores) in JOBS {
        submit(&server, name, spec(priority, cores)).await;
        eventually(10, "the job taken in", || (!phase(&server, name).is_empty()).then_some(()))
            .await;
    }
    let order = run_all(&server, JOBS.len(), &[]).await;
    drop(adapter);
    order
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_and_adapter_admit_in_the_same_order_strict() {
    let simulated = simulated_order("strict");
    assert_eq!(simulated.len(), JOBS.len(), "every job ran in the simulator");
    assert_eq!(adapter_order(Policy::Strict).await, simulated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_and_adapter_admit_in_the_same_order_weighted() {
    let simulated = simulated_order("weighted");
    assert_eq!(adapter_order(Policy::Weighted).await, simulated);
}
