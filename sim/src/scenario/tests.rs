//! Scenarios read from text, and the arrivals they draw: ordering, seeding, independence of
//! generators and the statistics of the distributions. Error reporting is tested separately,
//! in `sim/tests/scenario_errors.rs`.

use sparkq_core::{Flow, JobId, Policy, Priority};

use super::*;

const DEFAULT_YAML: &str = include_str!("../../../scenarios/default.yaml");

fn read(text: &str) -> Scenario {
    Scenario::from_yaml(text, "test.yaml").unwrap_or_else(|error| panic!("{error}\n{text}"))
}

/// A scenario with one small pool and the given workload section.
fn with_workload(seed: u64, workload: &str) -> Scenario {
    let text = format!(
        "name: t\nseed: {seed}\ncluster:\n  pools:\n    - {{ name: general, count: 2, cpu: 16, \
         memory: 64Gi }}\nworkload:\n{workload}"
    );
    read(&text)
}

/// What an arrival is, without the id that depends on its rank among all arrivals.
fn essence(arrival: &Arrival) -> (Millis, String, String, Priority, Flow, Millis, Option<Millis>) {
    (
        arrival.at_ms,
        arrival.spec.name.to_string(),
        arrival.spec.namespace.to_string(),
        arrival.spec.priority,
        arrival.spec.flow,
        arrival.run_ms,
        arrival.fail_after_ms,
    )
}

const ADHOC: &str = "    - name: adhoc
      count: 300
      arrival: { poisson: { mean: 2m } }
      namespaces: { analytics: 3, marketing: 1 }
      priority: { high: 1, normal: 4 }
      flow: { orchestrated: 9, legacy: 1 }
      sizes:
        - { name: small, weight: 3, spark: { executor: { cores: 2, memory: 4g } } }
        - { name: large, spark: { executor: { cores: 4, memory: 8g, instances: 8 } } }
      duration: { lognormal: { median: 10m, sigma: 0.5 } }
      failures: { probability: 0.1 }
";

#[test]
fn default_scenario_parses_into_a_loaded_day() {
    let scenario = read(DEFAULT_YAML);
    assert_eq!(scenario.name, "default");
    assert_eq!(scenario.seed, 42);
    assert_eq!(scenario.horizon_ms, Some(24 * 3_600_000));
    assert_eq!(scenario.config.policy, Policy::Strict);
    assert_eq!(scenario.source, DEFAULT_YAML);

    let names: Vec<&str> = scenario.pools.iter().map(|pool| pool.name.as_ref()).collect();
    assert_eq!(names, ["general", "highmem", "gpu"]);
    let gpu = &scenario.pools[2];
    assert_eq!(gpu.allocatable.extended_amount("nvidia.com/gpu"), 4);
    assert_eq!(gpu.allocatable.pods, 110);
    assert_eq!(gpu.node_name(1), "gpu-1");
    assert!(gpu.labels.windows(2).all(|pair| pair[0].0 < pair[1].0), "labels sorted by key");
    assert!(gpu.labels.iter().any(|(k, v)| k.as_ref() == POOL_LABEL && v.as_ref() == "gpu"));

    assert!(scenario.events.windows(2).all(|pair| pair[0].at_ms <= pair[1].at_ms));
    assert!(scenario.events.iter().any(|event| matches!(
        &event.kind,
        EventKind::AddNodes { pool, count: 4 } if pool.as_ref() == "general"
    )));

    let arrivals: Vec<Arrival> = scenario.arrivals().collect();
    assert!(arrivals.len() > 200, "a busy day, got {} jobs", arrivals.len());
    assert!(arrivals.iter().all(|a| a.at_ms < 24 * 3_600_000));
    let namespaces: std::collections::BTreeSet<&str> =
        arrivals.iter().map(|a| a.spec.namespace.as_ref()).collect();
    assert_eq!(namespaces.len(), 4);
    assert!(arrivals.iter().any(|a| a.spec.flow == Flow::Legacy));
    assert!(arrivals.iter().any(|a| a.spec.priority == Priority::High));
}

#[test]
fn explicit_jobs_carry_their_spark_requests() {
    let scenario = with_workload(
        1,
        "  jobs:
    - name: etl
      namespace: finance
      domain: reporting
      priority: high
      submit: 1h
      duration: 2h
      estimate: 150m
      fail_after: 30m
      spark:
        app: python
        driver: { cores: 1, memory: 4g, memory_overhead: 1g }
        executor: { cores: 4, memory: 8g, instances: 3, request_cores: 3500m }
        pyspark_memory: 1g
",
    );
    let arrival = scenario.arrivals().next().expect("one job");
    assert_eq!(arrival.at_ms, 3_600_000);
    assert_eq!(arrival.run_ms, 7_200_000);
    assert_eq!(arrival.fail_after_ms, Some(1_800_000));
    assert_eq!(arrival.spec.expected_duration_ms, Some(9_000_000));
    assert_eq!(arrival.spec.domain.as_ref(), "reporting");
    let pods = &arrival.spec.pods;
    assert_eq!(pods.executors, 3);
    // Driver: 4096 heap + 1024 explicit overhead.
    assert_eq!(pods.driver.memory_bytes, (4096 + 1024) << 20);
    // Executor: 8192 heap + 0.4 × 8192 (Python) + 1024 PySpark memory.
    assert_eq!(pods.executor.memory_bytes, (8192 + 3276 + 1024) << 20);
    assert_eq!(pods.executor.cpu_millis, 3500);
}

#[test]
fn same_seed_gives_the_same_arrivals_and_another_seed_others() {
    let first: Vec<Arrival> =
        with_workload(7, &format!("  generators:\n{ADHOC}")).arrivals().collect();
    let again: Vec<Arrival> =
        with_workload(7, &format!("  generators:\n{ADHOC}")).arrivals().collect();
    let other: Vec<Arrival> =
        with_workload(8, &format!("  generators:\n{ADHOC}")).arrivals().collect();
    assert_eq!(first.len(), 300);
    assert_eq!(first, again);
    let times = |arrivals: &[Arrival]| arrivals.iter().map(|a| a.at_ms).collect::<Vec<_>>();
    assert_ne!(times(&first), times(&other));

    // The iterator starts over on every call.
    let scenario = with_workload(7, &format!("  generators:\n{ADHOC}"));
    assert_eq!(scenario.arrivals().collect::<Vec<_>>(), first);
}

#[test]
fn adding_a_generator_leaves_the_others_draws_unchanged() {
    let alone = with_workload(3, &format!("  generators:\n{ADHOC}"));
    let crowded = with_workload(
        3,
        &format!(
            "  jobs:
    - {{ name: first, submit: 5m, duration: 1h }}
  generators:
    - {{ name: before, count: 50, arrival: {{ poisson: {{ mean: 1m }} }}, duration: 5m }}
{ADHOC}    - name: after
      count: 50
      arrival: {{ every: 90s }}
      priority: {{ high: 1, normal: 1 }}
      duration: {{ exponential: {{ mean: 3m }} }}
"
        ),
    );
    let of_adhoc = |scenario: &Scenario| -> Vec<_> {
        scenario
            .arrivals()
            .filter(|a| a.spec.name.starts_with("adhoc-"))
            .map(|a| (essence(&a), a.spec.pods))
            .collect()
    };
    assert_eq!(of_adhoc(&alone), of_adhoc(&crowded));
    assert_eq!(crowded.arrivals().count(), 300 + 50 + 50 + 1);
}

#[test]
fn arrivals_at_equal_times_follow_input_order() {
    let scenario = with_workload(
        1,
        "  jobs:
    - { name: late, submit: 2h, duration: 1m }
    - { name: one, submit: 1h, duration: 1m }
    - { name: two, submit: 1h, duration: 1m }
  generators:
    - { name: g, count: 2, start: 1h, arrival: { every: 1h }, duration: 1m }
    - { name: h, count: 2, start: 1h, arrival: { every: 1h }, duration: 1m }
",
    );
    let order: Vec<(Millis, String, JobId)> =
        scenario.arrivals().map(|a| (a.at_ms, a.spec.name.to_string(), a.spec.id)).collect();
    let hour = 3_600_000;
    let expected = [
        (hour, "one"),
        (hour, "two"),
        (hour, "g-0"),
        (hour, "h-0"),
        (2 * hour, "late"),
        (2 * hour, "g-1"),
        (2 * hour, "h-1"),
    ];
    assert_eq!(order.len(), expected.len());
    for (index, ((at_ms, name, id), (want_ms, want_name))) in order.iter().zip(expected).enumerate()
    {
        assert_eq!((*at_ms, name.as_str()), (want_ms, want_name));
        assert_eq!(*id, JobId(index as u64), "ids follow the arrival order");
    }
}

#[test]
fn explicit_and_generated_jobs_merge_in_time_order() {
    let scenario = with_workload(
        11,
        &format!(
            "  jobs:
    - {{ name: a, submit: 10m, duration: 1m }}
    - {{ name: b, submit: 0s, duration: 1m }}
    - {{ name: c, submit: 3h, duration: 1m }}
  generators:
{ADHOC}    - {{ name: steady, count: 40, start: 1m, arrival: {{ every: 7m }}, duration: 2m }}
"
        ),
    );
    let arrivals: Vec<Arrival> = scenario.arrivals().collect();
    assert_eq!(arrivals.len(), 3 + 300 + 40);
    assert!(arrivals.windows(2).all(|pair| pair[0].at_ms <= pair[1].at_ms));
    assert_eq!(arrivals[0].spec.name.as_ref(), "b", "the job at 0s comes first");
    for (name, at_ms) in [("a", 600_000), ("c", 10_800_000)] {
        let found = arrivals.iter().find(|a| a.spec.name.as_ref() == name).expect(name);
        assert_eq!(found.at_ms, at_ms);
    }
    let steady: Vec<Millis> =
        arrivals.iter().filter(|a| a.spec.name.starts_with("steady-")).map(|a| a.at_ms).collect();
    let expected: Vec<Millis> = (0..40).map(|k| 60_000 + k * 420_000).collect();
    assert_eq!(steady, expected);
}

#[test]
fn poisson_interarrival_mean_matches_the_configured_mean() {
    let n = 40_000_u64;
    let scenario = with_workload(
        2024,
        &format!(
            "  generators:\n    - {{ name: p, count: {n}, arrival: {{ poisson: {{ mean: 2m }} }}, \
                  duration: 1m }}\n"
        ),
    );
    let times: Vec<f64> = scenario.arrivals().map(|a| a.at_ms as f64).collect();
    assert_eq!(times.len() as u64, n);
    // Gaps from the start (time 0), so the first gap counts too.
    let gaps: Vec<f64> =
        std::iter::once(times[0]).chain(times.windows(2).map(|pair| pair[1] - pair[0])).collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    let variance = gaps.iter().map(|gap| (gap - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
    // The standard error of the mean is 120 s / √40000 = 0.6 s; allow 2 % (4 standard errors).
    assert!((mean - 120_000.0).abs() < 2_400.0, "mean gap {mean} ms");
    // Exponential gaps have a standard deviation equal to their mean.
    let cv = variance.sqrt() / mean;
    assert!((cv - 1.0).abs() < 0.05, "coefficient of variation {cv}");
}

#[test]
fn weights_failures_and_uniform_run_times_follow_their_settings() {
    let n = 20_000;
    let scenario = with_workload(
        5,
        &format!(
            "  generators:
    - name: w
      count: {n}
      arrival: {{ every: 1s }}
      priority: {{ high: 1, normal: 3 }}
      flow: {{ orchestrated: 1, legacy: 0 }}
      duration: {{ uniform: {{ min: 5m, max: 15m }} }}
      estimate: {{ factor: 2 }}
      failures: {{ probability: 0.25 }}
"
        ),
    );
    let arrivals: Vec<Arrival> = scenario.arrivals().collect();
    let share = |count: usize| count as f64 / n as f64;
    let high = share(arrivals.iter().filter(|a| a.spec.priority == Priority::High).count());
    assert!((high - 0.25).abs() < 0.02, "high share {high}");
    assert!(arrivals.iter().all(|a| a.spec.flow == Flow::Orchestrated), "weight 0 never drawn");
    let failing = share(arrivals.iter().filter(|a| a.fail_after_ms.is_some()).count());
    assert!((failing - 0.25).abs() < 0.02, "failing share {failing}");
    for arrival in &arrivals {
        assert!((300_000..=900_000).contains(&arrival.run_ms), "run {}", arrival.run_ms);
        assert_eq!(arrival.spec.expected_duration_ms, Some(2 * arrival.run_ms));
        if let Some(fail_after_ms) = arrival.fail_after_ms {
            assert!(fail_after_ms < arrival.run_ms);
        }
    }
    let mean_run = arrivals.iter().map(|a| a.run_ms as f64).sum::<f64>() / n as f64;
    assert!((mean_run - 600_000.0).abs() < 6_000.0, "mean run {mean_run}");
}

#[test]
fn generators_stop_at_count_end_or_horizon() {
    let text = "name: t
horizon: 1h
cluster:
  pools: [{ name: general, count: 1, cpu: 4, memory: 16Gi }]
workload:
  generators:
    - { name: counted, count: 3, arrival: { every: 1m }, duration: 1m }
    - { name: ended, start: 10m, end: 20m, arrival: { every: 5m }, duration: 1m }
    - { name: horizon, start: 50m, arrival: { every: 5m }, duration: 1m }
";
    let scenario = read(text);
    let names: Vec<String> = scenario.arrivals().map(|a| a.spec.name.to_string()).collect();
    let of = |prefix: &str| names.iter().filter(|name| name.starts_with(prefix)).count();
    assert_eq!(of("counted-"), 3);
    assert_eq!(of("ended-"), 2, "10m and 15m; the end is exclusive");
    assert_eq!(of("horizon-"), 2, "50m and 55m; the horizon is exclusive");
}

#[test]
fn a_million_job_generator_is_drawn_lazily() {
    let scenario = with_workload(
        9,
        "  generators:
    - { name: big, count: 1000000, arrival: { every: 1s }, duration: 1m }
",
    );
    let mut arrivals = scenario.arrivals();
    let first: Vec<Arrival> = arrivals.by_ref().take(3).collect();
    assert_eq!(first[2].spec.name.as_ref(), "big-2");
    let last = arrivals.nth(1_000_000 - 4).expect("the last job");
    assert_eq!(last.spec.name.as_ref(), "big-999999");
    assert_eq!(last.spec.id, JobId(999_999));
    assert!(arrivals.next().is_none());
}

#[test]
fn stream_numbers_and_first_draws_are_pinned() {
    // Changing the hash or the draw order would change every replay of every scenario.
    assert_eq!(stable_hash(&[]), 0xcbf2_9ce4_8422_2325);
    // FNV-1a of "adhoc\xffarrivals\xff", computed independently.
    assert_eq!(stable_hash(&[b"adhoc", b"arrivals"]), 0x0ba8_1de7_48bc_c846);
    assert_ne!(stable_hash(&[b"ab", b"c"]), stable_hash(&[b"a", b"bc"]));
    assert_ne!(
        stream(1, "adhoc", Purpose::Arrivals).get_stream(),
        stream(1, "adhoc", Purpose::Durations).get_stream()
    );
    let scenario = with_workload(
        42,
        "  generators:\n    - { name: pinned, count: 3, arrival: { poisson: { mean: 1m } }, \
         duration: { exponential: { mean: 10m } } }\n",
    );
    let drawn: Vec<(Millis, Millis)> = scenario.arrivals().map(|a| (a.at_ms, a.run_ms)).collect();
    assert_eq!(drawn, PINNED_DRAWS);
}

/// The (time, run time) of the pinned generator's first three jobs under seed 42.
const PINNED_DRAWS: [(Millis, Millis); 3] =
    [(36_110, 252_844), (156_057, 242_546), (177_972, 1_224_219)];

#[test]
fn weighted_pick_covers_the_range_of_draws() {
    let weighted = Weighted::new(vec![("a", 1), ("never", 0), ("b", 3)]).expect("weights");
    assert_eq!(*weighted.pick(0), "a");
    assert_eq!(*weighted.pick(u64::MAX / 4 - 1), "a");
    assert_eq!(*weighted.pick(u64::MAX / 4 + 1), "b");
    assert_eq!(*weighted.pick(u64::MAX), "b");
    assert!(Weighted::<&str>::new(vec![("x", 0)]).is_none());
    assert!(Weighted::<&str>::new(Vec::new()).is_none());
}

/// Every field of the README's scenario format at once, so that the reference cannot drift from
/// what the reader accepts.
const EVERY_FIELD: &str = r#"
name: every-field
description: Each field of the format once.
seed: 7
horizon: 1d
policy:
  name: weighted
  placement: binpack
  queue_scope: namespace
  weights: { high: 80, normal: 20 }
  head_timeout: 30m
  head_retries: 2
  enabled: true
  quotas:
    - name: analytics-cpu
      namespace: analytics
      priority: normal
      cpu: 64
      memory: 256Gi
      pods: 100
cluster:
  pools:
    - name: general
      count: 4
      cpu: 16
      memory: 64Gi
    - name: gpu
      count: 2
      cpu: 32
      memory: 192Gi
      pods: 64
      extended: { nvidia.com/gpu: 4 }
      labels: { zone: a }
      taints:
        - { key: nvidia.com/gpu, value: present, effect: NoSchedule }
  background:
    - name: notebooks
      count: 2
      cpu: 4
      memory: 32Gi
      extended: { nvidia.com/gpu: 1 }
      pool: gpu
      node_selector: { zone: a }
      tolerations:
        - { key: nvidia.com/gpu, operator: Exists, effect: NoSchedule }
      priority: high
      start: 8h
      end: 18h
      grace: 30s
workload:
  jobs:
    - name: nightly-etl
      namespace: finance
      domain: reporting
      priority: high
      flow: orchestrated
      submit: 1h
      duration: 2h
      estimate: 2h30m
      fail_after: 30m
      spark:
        app: python
        driver:
          cores: 1
          request_cores: 500m
          memory: 4g
          memory_overhead: 1g
          memory_overhead_factor: 0.2
          min_memory_overhead: 384m
          resources: { nvidia.com/gpu: 1 }
          init_containers:
            - { cpu: 500m, memory: 256Mi }
        executor:
          cores: 4
          memory: 8g
          instances: 4
        dynamic_allocation: { initial: 2, min: 1, max: 10 }
        offheap: 2g
        pyspark_memory: 1g
        pod_overhead: { cpu: 250m, memory: 120Mi }
        node_selector: { sparkq.io/pool: gpu }
        tolerations:
          - { key: nvidia.com/gpu, operator: Exists }
  generators:
    - name: adhoc
      count: 2000
      start: 0s
      end: 24h
      arrival: { poisson: { mean: 2m } }
      namespaces: { analytics: 3, marketing: 1 }
      domains: { bi: 1, ml: 1 }
      priority: { high: 1, normal: 4 }
      flow: { orchestrated: 9, legacy: 1 }
      sizes:
        - { name: small, weight: 3, spark: { executor: { cores: 2, memory: 4g } } }
        - { name: large, weight: 1, spark: { executor: { cores: 4, memory: 8g, instances: 8 } } }
      duration: { lognormal: { median: 10m, sigma: 0.5 } }
      estimate: { factor: 1.5 }
      failures: { probability: 0.05 }
    - { name: fixed, count: 3, arrival: { every: 0s }, duration: { fixed: 10m }, estimate: exact }
    - name: uniform
      count: 3
      arrival: { every: 1m }
      duration: { uniform: { min: 5m, max: 20m } }
    - name: exponential
      count: 3
      arrival: { every: 1m }
      duration: { exponential: { mean: 10m } }
      estimate: none
events:
  - { at: 6h, add_nodes: { pool: general, count: 4 } }
  - { at: 8h, remove_nodes: { pool: general, count: 2 } }
  - { at: 2h, cordon: general-3 }
  - { at: 3h, uncordon: general-3 }
  - { at: 5h, cancel: nightly-etl }
  - { at: 5h, set_flow: { job: adhoc-17, flow: legacy } }
  - { at: 5h, set_priority: { job: adhoc-17, priority: high } }
  - { at: 20h, migrate_to_legacy: { domain: reporting } }
  - { at: 22h, disable: {} }
  - { at: 23h, enable: true }
"#;

#[test]
fn every_documented_field_is_accepted() {
    let scenario = read(EVERY_FIELD);
    assert_eq!(scenario.config.policy, Policy::Weighted);
    assert_eq!(scenario.config.head_timeout_ms, Some(1_800_000));
    assert_eq!(scenario.config.quotas[0].memory_bytes, Some(256 << 30));
    assert_eq!(scenario.pools[1].allocatable.pods, 64);
    assert_eq!(scenario.background[0].grace_ms, 30_000);
    assert_eq!(scenario.workload.generators.len(), 4);
    assert_eq!(scenario.events.len(), 10);
    let times: Vec<Millis> = scenario.events.iter().map(|event| event.at_ms / 3_600_000).collect();
    assert_eq!(times, [2, 3, 5, 5, 5, 6, 8, 20, 22, 23]);
    assert!(matches!(&scenario.events[3].kind, EventKind::SetFlow { job, flow: Flow::Legacy }
        if job.as_ref() == "adhoc-17"));

    let etl = &scenario.workload.jobs[0];
    // The driver's pod: max(Spark container, init container) + pod overhead.
    assert_eq!(etl.shape.pods.driver.cpu_millis, 500 + 250);
    assert_eq!(etl.shape.pods.driver.extended_amount("nvidia.com/gpu"), 1);
    // Dynamic allocation counts max(instances, initial, min) = 4 executors.
    assert_eq!(etl.shape.pods.executors, 4);
    let fixed: Vec<Millis> = scenario
        .arrivals()
        .filter(|a| a.spec.name.starts_with("fixed-"))
        .map(|a| a.at_ms)
        .collect();
    assert_eq!(fixed, [0, 0, 0], "every: 0s with a count is a burst");
}
