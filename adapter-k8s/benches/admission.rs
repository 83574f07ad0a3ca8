//! Admission at scale: 5,000 nodes and 100,000 pods in the cache.
//!
//! Part 1 feeds the core the way the controller does (Kubernetes objects read by
//! `sparkq_adapter_k8s::view`, jobs by the SparkJob spec) and times each scheduling cycle that
//! decides one admission, and cycles that stop at a blocked head with 1,000 jobs behind it.
//! Part 2 runs the whole adapter against the in-process API server holding the same cluster,
//! and times capacity freed (a pod removed) to driver pod created, end to end over HTTP.
//! Resident memory is read from `/proc/self/status` after each part.
//!
//! `cargo bench -p sparkq-adapter-k8s --bench admission` (add `-- --quick` for part 1 only,
//! `-- --e2e` for part 2 only).

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::json;
use sparkq_adapter_k8s::SparkJobSpec;
use sparkq_adapter_k8s::view::{node_spec, pod_request};
use sparkq_core::scheduler::{Decision, Submission};
use sparkq_core::{JobId, Scheduler, SchedulerConfig};

const NODES: usize = 5_000;
const PODS: usize = 100_000;

/// `SPARKQ_BENCH_SCALE=k` divides part 2's nodes and pods by `k`, to see how latency scales.
fn e2e_scale() -> usize {
    std::env::var("SPARKQ_BENCH_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|k| *k > 0)
        .unwrap_or(1)
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kib| kib.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

fn node_json(i: usize) -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": format!("node-{i:05}"), "labels": {"pool": if i.is_multiple_of(10) { "big" } else { "general" }}},
        "status": {"allocatable": {"cpu": "32", "memory": "128Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}]},
    })
}

fn pod_json(i: usize, nodes: usize) -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("bg-{i:06}"), "namespace": "background"},
        "spec": {"nodeName": format!("node-{:05}", i % nodes), "containers": [{"name": "c", "image": "x",
            "resources": {"requests": {"cpu": "1", "memory": "4Gi"}}}]},
        "status": {"phase": "Running"},
    })
}

fn spec(executors: i64, executor_cores: i64) -> SparkJobSpec {
    serde_json::from_value(json!({
        "image": "apache/spark:3.5.3", "mainClass": "Main",
        "driver": {"cores": 1, "memory": "2g"},
        "executor": {"cores": executor_cores, "memory": "4g", "instances": executors},
    }))
    .unwrap_or_default()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let total: Duration = samples.iter().sum();
    println!(
        "{what}: n={} p50={:?} p99={:?} max={:?} ({:.0}/s)",
        samples.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        samples.last().copied().unwrap_or_default(),
        samples.len() as f64 / total.as_secs_f64().max(1e-9),
    );
}

fn core_part() {
    let rss_start = rss_mib();
    let started = Instant::now();
    let mut scheduler = Scheduler::new(SchedulerConfig::default());
    for i in 0..NODES {
        let node: Node = serde_json::from_value(node_json(i)).unwrap_or_default();
        if let Some(spec) = node_spec(&node) {
            scheduler.upsert_node(spec);
        }
    }
    for i in 0..PODS {
        let pod: Pod = serde_json::from_value(pod_json(i, NODES)).unwrap_or_default();
        let request = pod_request(&pod);
        scheduler.add_pod(&format!("node-{:05}", i % NODES), &request);
    }
    println!(
        "view built: {NODES} nodes, {PODS} pods in {:?}; RSS {:.0} MiB (+{:.0} MiB)",
        started.elapsed(),
        rss_mib(),
        rss_mib() - rss_start
    );

    // One admission per cycle: a job that fits is submitted, the cycle admits it.
    let mut next_id = 0;
    let mut admit_cycles = Vec::new();
    let mut admitted = Vec::new();
    let mut admissions = 0;
    for round in 0..2_000_u64 {
        next_id += 1;
        let Ok(job) = spec(4, 2).to_job_spec(JobId(next_id), "bench", &format!("j{next_id}"))
        else {
            return;
        };
        if !matches!(scheduler.submit(job, round), Submission::Queued { .. }) {
            println!("unexpected: the job was not queued");
            return;
        }
        let t = Instant::now();
        let decisions = scheduler.cycle(round);
        admit_cycles.push(t.elapsed());
        for decision in decisions {
            if let Decision::Admit { job, .. } = decision {
                admitted.push(job);
                admissions += 1;
            }
        }
        // Keep the cluster's fill steady: the oldest admitted job ends.
        if admitted.len() > 500 {
            let done = admitted.remove(0);
            scheduler.job_finished(done);
        }
    }
    println!("admitted {admissions} of 2000 jobs, one per cycle");
    report("cycle admitting one job", admit_cycles);

    // A head that cannot fit (16-core executors: no node has 16 cores free) with 1,000 behind.
    next_id += 1;
    if let Ok(blocker) = spec(2, 16).to_job_spec(JobId(next_id), "bench", "blocker") {
        scheduler.submit(blocker, 10_000);
    }
    for _ in 0..1_000 {
        next_id += 1;
        if let Ok(job) = spec(4, 2).to_job_spec(JobId(next_id), "bench", &format!("j{next_id}")) {
            scheduler.submit(job, 10_000);
        }
    }
    let mut blocked_cycles = Vec::new();
    for i in 0..500 {
        // Something changes between cycles: a pod ends and another starts elsewhere.
        let request = sparkq_core::Resources::pod(1000, 4 << 30);
        scheduler.remove_pod(&format!("node-{:05}", i % NODES), &request);
        scheduler.add_pod(&format!("node-{:05}", (i + 7) % NODES), &request);
        let t = Instant::now();
        let decisions = scheduler.cycle(10_001 + i as u64);
        blocked_cycles.push(t.elapsed());
        assert!(decisions.is_empty(), "the blocked head holds the queue");
    }
    report("cycle stopping at a blocked head (1,000 queued)", blocked_cycles);
    println!("RSS after part 1: {:.0} MiB", rss_mib());
}

async fn end_to_end_part() {
    use sparkq_adapter_k8s::controller::ControllerConfig;
    use sparkq_adapter_k8s::launcher::DriverPodLauncher;
    use sparkq_adapter_k8s::testkit::TestApiServer;
    use sparkq_adapter_k8s::{Adapter, Settings, SparkJob};

    let Ok(server) = TestApiServer::start().await else { return };
    // Nodes hold 20 one-core pods each; the last node is nearly full so freeing one pod there
    // is what lets the waiting job in.
    let (nodes, pods) = (NODES / e2e_scale(), PODS / e2e_scale());
    for i in 0..nodes {
        let _ = server.create(node_json(i));
    }
    for i in 0..pods {
        let _ = server.create(pod_json(i, nodes));
    }
    let rss_server = rss_mib();
    let settings = Settings {
        listen: ([127, 0, 0, 1], 0).into(),
        token: None,
        controller: ControllerConfig {
            scheduler: SchedulerConfig::default(),
            namespaces: vec!["bench".into()],
            launcher: std::sync::Arc::new(DriverPodLauncher::default()),
            tick: Duration::from_millis(1000),
        },
        leader_election: false,
        lease_name: "bench".into(),
        lease_namespace: "bench".into(),
        lease_duration_seconds: 15,
        identity: "bench".into(),
    };
    let started = Instant::now();
    let Ok(adapter) = Adapter::start(settings, server.client()).await else { return };
    let client = server.client();
    let jobs: kube::Api<SparkJob> = kube::Api::namespaced(client, "bench");

    // A job needing 13 cores in one executor: no node has them (32 − 20 = 12 free) until
    // background pods on some node end.
    let mut latencies = Vec::new();
    let mut removal = Vec::new();
    let mut adapter_share = Vec::new();
    for round in 0..20 {
        let name = format!("wide-{round}");
        let job = SparkJob::new(&name, spec(1, 13));
        if jobs.create(&kube::api::PostParams::default(), &job).await.is_err() {
            println!("job create failed");
            return;
        }
        // Wait until it is queued (the adapter has its complete view and has taken it in).
        let waiting = Instant::now();
        loop {
            if waiting.elapsed() > Duration::from_secs(120) {
                println!("{name}: not queued after 120 s");
                return;
            }
            let phase = server
                .get_json("SparkJob", "bench", &name)
                .and_then(|j| j["status"]["phase"].as_str().map(str::to_owned));
            if phase.as_deref() == Some("queued") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if round == 0 {
            println!(
                "adapter ready and first job queued after {:?} (initial list of {pods} pods)",
                started.elapsed()
            );
        }
        // Two background pods of one node end: 14 cores free there, room for the driver
        // (which the spread rule puts on the emptiest node) and the 13-core executor.
        let freed = Instant::now();
        for victim in [round, round + nodes] {
            server.remove("Pod", "background", &format!("bg-{victim:06}"));
        }
        removal.push(freed.elapsed());
        let driver = format!("{name}-driver");
        while server.get_json("Pod", "bench", &driver).is_none() {
            if freed.elapsed() > Duration::from_secs(30) {
                println!("{name}: no driver 30 s after capacity was freed");
                return;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        latencies.push(freed.elapsed());
        if let Some(removed) = removal.last() {
            adapter_share.push(freed.elapsed().saturating_sub(*removed));
        }
    }
    report("capacity freed -> driver pod created (end to end over HTTP)", latencies);
    report("  of which the test server's own removal of the two pods", removal);
    report("  of which the adapter (removal done -> driver pod created)", adapter_share);
    println!(
        "RSS: test server with the cluster {:.0} MiB, with the adapter running {:.0} MiB (adapter ~{:.0} MiB)",
        rss_server,
        rss_mib(),
        rss_mib() - rss_server
    );
    drop(adapter);
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    if !std::env::args().any(|a| a == "--e2e") {
        core_part();
    }
    if quick {
        return;
    }
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
    match runtime {
        Ok(runtime) => runtime.block_on(end_to_end_part()),
        Err(error) => println!("no runtime: {error}"),
    }
}
