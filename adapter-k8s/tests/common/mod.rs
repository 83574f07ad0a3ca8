//! What the adapter's test tiers share: a cluster on the test API server, an adapter wired to
//! it, jobs, and the test's parts as kube-scheduler, kubelet and Spark driver.

#![allow(dead_code, reason = "each test binary uses a different part of this module")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use sparkq_adapter_k8s::controller::ControllerConfig;
use sparkq_adapter_k8s::launcher::DriverPodLauncher;
use sparkq_adapter_k8s::testkit::{TestApiServer, TestNode};
use sparkq_adapter_k8s::{Adapter, Settings, SparkJob, SparkJobSpec};
use sparkq_core::SchedulerConfig;

pub const TOKEN: &str = "test-token-5f2c";
pub const NS: &str = "spark";

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

pub fn settings() -> Settings {
    Settings {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        token: Some(Arc::new(sparkq_adapter_k8s::token::ApiToken::fixed(TOKEN.as_bytes()))),
        controller: ControllerConfig {
            scheduler: SchedulerConfig::default(),
            namespaces: Vec::new(),
            launcher: Arc::new(DriverPodLauncher::default()),
            tick: Duration::from_millis(100),
        },
        leader_election: false,
        lease_name: "sparkq-leader".into(),
        lease_namespace: NS.into(),
        lease_duration_seconds: 3,
        identity: "replica-a".into(),
    }
}

pub async fn start_server(nodes: &[(&str, &str, &str)]) -> TestApiServer {
    init_tracing();
    let server = TestApiServer::start().await.expect("test API server starts");
    for (name, cpu, memory) in nodes {
        server.add_node(TestNode::new(name, cpu, memory)).expect("node added");
    }
    server
}

pub async fn start_adapter(server: &TestApiServer, settings: Settings) -> Adapter {
    Adapter::start(settings, server.client()).await.expect("adapter starts")
}

/// A JVM job: a driver of 1 core and 1g, `executors` executors of `cores` cores and 1g each.
pub fn job_spec(priority: &str, executors: i64, cores: i64) -> SparkJobSpec {
    serde_json::from_value(json!({
        "priority": priority,
        "domain": "analytics",
        "image": "apache/spark:3.5.3",
        "mainClass": "org.example.Main",
        "mainApplicationFile": "local:///opt/app.jar",
        "arguments": ["--day", "2026-12-03"],
        "sparkConf": {"spark.eventLog.enabled": "false"},
        "driver": {"cores": 1, "memory": "1g"},
        "executor": {"cores": cores, "memory": "1g", "instances": executors},
    }))
    .expect("a valid spec")
}

pub async fn submit(server: &TestApiServer, name: &str, spec: SparkJobSpec) -> SparkJob {
    let api: Api<SparkJob> = Api::namespaced(server.client(), NS);
    api.create(&PostParams::default(), &SparkJob::new(name, spec)).await.expect("job created")
}

/// Polls `check` until it returns `Some`, or fails after `seconds`.
pub async fn eventually<T>(seconds: u64, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub fn job_status(server: &TestApiServer, name: &str) -> Value {
    server
        .get_json("SparkJob", NS, name)
        .and_then(|j| j.get("status").cloned())
        .unwrap_or(Value::Null)
}

pub fn phase(server: &TestApiServer, name: &str) -> String {
    job_status(server, name).get("phase").and_then(Value::as_str).unwrap_or("").to_owned()
}

pub fn driver_pods(server: &TestApiServer) -> Vec<Pod> {
    server
        .list::<Pod>("Pod")
        .into_iter()
        .filter(|p| {
            p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("spark-role"))
                .is_some_and(|r| r == "driver")
        })
        .collect()
}

/// The job a pod belongs to.
pub fn job_of(pod: &Pod) -> String {
    pod.metadata.labels.as_ref().and_then(|l| l.get("sparkq.io/job")).cloned().unwrap_or_default()
}

/// The Spark driver's part: creates an executor pod of the job, bound to `node`.
pub fn create_executor(
    server: &TestApiServer,
    job: &str,
    index: u32,
    node: &str,
    cpu: &str,
    memory: &str,
) {
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": format!("{job}-exec-{index}"),
            "namespace": NS,
            "labels": {"spark-role": "executor", "sparkq.io/job": job},
        },
        "spec": {
            "nodeName": node,
            "containers": [{"name": "spark-kubernetes-executor", "image": "apache/spark:3.5.3",
                "resources": {"requests": {"cpu": cpu, "memory": memory}}}],
        },
    });
    server.create(pod).expect("executor created");
}

/// Runs a job's driver to completion: bound, running, succeeded (the kubelet's part).
pub fn finish_driver(server: &TestApiServer, pod: &str, node: &str) {
    server.bind_pod(NS, pod, node).expect("bound");
    server.set_pod_phase(NS, pod, "Running").expect("running");
    server.set_pod_phase(NS, pod, "Succeeded").expect("succeeded");
}

/// A raw HTTP/1.1 request to the adapter's API; returns the status code and the JSON body.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect to the API");
    let body = body.unwrap_or("");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(token) = token {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    request.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    stream.write_all(request.as_bytes()).await.expect("request written");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("response read");
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    let payload = if chunked { dechunk(rest) } else { rest.to_owned() };
    let json = serde_json::from_str(&payload).unwrap_or(Value::String(payload));
    (code, json)
}

fn dechunk(mut text: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = text.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else { break };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        text = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// Plays the cluster until `count` more jobs have run: each driver that appears is bound, run
/// and finished, in the order the adapter creates them, one at a time (the tests size the
/// cluster for one job). Jobs in `done` ran before. Returns the order.
pub async fn run_all(server: &TestApiServer, count: usize, done: &[String]) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    while order.len() < count {
        let pods = eventually(20, "the next driver pod", || {
            let fresh: Vec<Pod> = driver_pods(server)
                .into_iter()
                .filter(|p| !order.contains(&job_of(p)) && !done.contains(&job_of(p)))
                .collect();
            (!fresh.is_empty()).then_some(fresh)
        })
        .await;
        let names: Vec<String> = pods.iter().map(job_of).collect();
        assert_eq!(pods.len(), 1, "only one job fits at a time: {names:?}");
        let pod = &pods[0];
        let name = pod.metadata.name.clone().unwrap_or_default();
        finish_driver(server, &name, "n1");
        order.push(job_of(pod));
    }
    order
}

/// Driver pods per job: every job must have at most one.
pub fn drivers_per_job(server: &TestApiServer) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for pod in driver_pods(server) {
        *counts.entry(job_of(&pod)).or_insert(0) += 1;
    }
    counts
}
