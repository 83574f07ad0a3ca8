//! Tier: HTTP against the in-process API server. Watches that break (closed connections, and
//! 410 Gone after compaction) are resumed without losing or double-counting a pod: the
//! adapter's cluster accounting stays exact and its admissions follow it.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use serde_json::json;
use sparkq_adapter_k8s::testkit::{Fault, FaultAction, TestApiServer, Verb};

fn foreign_pod(server: &TestApiServer, name: &str, cpu: &str) {
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "other"},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox",
            "resources": {"requests": {"cpu": cpu, "memory": "1Gi"}}}]},
    });
    server.create(pod).expect("pod created");
}

/// The `sparkq_cluster_cpu_cores{kind="requested"}` sample.
async fn requested_cores(addr: SocketAddr) -> Option<f64> {
    let (code, body) = http(addr, "GET", "/metrics", None, None).await;
    assert_eq!(code, 200);
    let text = body.as_str()?.to_owned();
    text.lines()
        .find(|l| l.starts_with("sparkq_cluster_cpu_cores{kind=\"requested\"}"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
}

async fn wait_requested(addr: SocketAddr, expected: f64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let now = requested_cores(addr).await;
        if now == Some(expected) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "requested cores {now:?}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Compacts the history and breaks the watches, then runs `meanwhile` once the adapter's pod
/// watch has got its `410 Gone` and its relist has been refused (so no pod watch is connected),
/// and lets the next relist through.
async fn outage(server: &TestApiServer, meanwhile: impl FnOnce()) {
    let refused = server.add_fault(Fault {
        verb: Verb::List,
        plural: "pods",
        subresource: None,
        skip: 0,
        action: FaultAction::Fail(500),
    });
    server.compact();
    server.break_watches();
    refused.hit().await;
    meanwhile();
    server.clear_faults();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_and_expired_watches_neither_lose_nor_double_count_pods() {
    let server = start_server(&[("n1", "8", "32Gi")]).await;
    foreign_pod(&server, "other-a", "2");
    let adapter = start_adapter(&server, settings()).await;
    wait_requested(adapter.addr, 2.0).await;

    // A closed connection: the watch resumes from its version (no new list); the new pod
    // counts once.
    let lists = server.request_count(Verb::List, "pods");
    server.break_watches();
    foreign_pod(&server, "other-b", "1");
    wait_requested(adapter.addr, 3.0).await;
    assert_eq!(server.request_count(Verb::List, "pods"), lists, "resumed, not relisted");

    // History compacted and the connection closed: the resumed watch gets 410 and the adapter
    // lists again. The first relist is refused, so the pod created meanwhile arrives while no
    // watch is connected; it still counts once.
    outage(&server, || foreign_pod(&server, "other-c", "1")).await;
    wait_requested(adapter.addr, 4.0).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    wait_requested(adapter.addr, 4.0).await;

    // A pod that goes away while no watch is connected is forgotten after the relist.
    outage(&server, || assert!(server.remove("Pod", "other", "other-a"))).await;
    wait_requested(adapter.addr, 2.0).await;

    // Admission follows the exact view: 6 cores free, a 5-core job fits, and then a 3-core
    // one does not, whatever the watches went through.
    submit(&server, "five", job_spec("normal", 2, 2)).await;
    eventually(15, "five admitted", || (phase(&server, "five") == "admitted").then_some(())).await;
    server.break_watches();
    submit(&server, "three", job_spec("normal", 1, 2)).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(phase(&server, "three"), "queued");
    drop(adapter);
}
