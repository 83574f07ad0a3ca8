//! Tier: HTTP against the in-process API server. The adapter is killed at the two dangerous
//! points of a launch and restarted: exactly one driver per job, the queue order unchanged,
//! no job lost.

mod common;

use common::*;
use serde_json::Value;
use sparkq_adapter_k8s::testkit::{Fault, FaultAction, TestApiServer, Verb};

const JOBS: [&str; 4] = ["j1", "j2", "j3", "j4"];

async fn submit_all(server: &TestApiServer) {
    // j3 is high: it goes first, then the normal ones in submission order.
    for name in JOBS {
        let priority = if name == "j3" { "high" } else { "normal" };
        submit(server, name, job_spec(priority, 2, 1)).await;
    }
}

fn sequences(server: &TestApiServer) -> Vec<Value> {
    JOBS.iter().map(|n| job_status(server, n)["enqueueSequence"].clone()).collect()
}

async fn crash_and_restart(action: FaultAction) -> (TestApiServer, Vec<String>) {
    // 4 cores: one job at a time.
    let server = start_server(&[("n1", "4", "16Gi")]).await;
    let fault = server.add_fault(Fault {
        verb: Verb::Create,
        plural: "pods",
        subresource: None,
        skip: 0,
        action,
    });
    submit_all(&server).await;
    let adapter = start_adapter(&server, settings()).await;

    // The first admission reaches the driver's creation; the adapter dies there.
    fault.hit().await;
    adapter.kill();
    server.clear_faults();
    let before = sequences(&server);
    assert!(
        before.iter().all(Value::is_u64),
        "every sequence was written before the crash: {before:?}"
    );

    let restarted = start_adapter(&server, settings()).await;
    let order = run_all(&server, JOBS.len(), &[]).await;
    eventually(20, "every job succeeded", || {
        JOBS.iter().all(|n| phase(&server, n) == "succeeded").then_some(())
    })
    .await;
    assert_eq!(sequences(&server), before, "the restart kept every enqueue sequence");
    assert!(drivers_per_job(&server).values().all(|n| *n == 1), "{:?}", drivers_per_job(&server));
    assert_eq!(drivers_per_job(&server).len(), JOBS.len(), "no job lost");
    drop(restarted);
    (server, order)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_admission_and_pod_creation_then_restarted() {
    let (server, order) = crash_and_restart(FaultAction::HangBefore).await;
    assert_eq!(order, ["j3", "j1", "j2", "j4"]);
    assert!(server.get_json("Pod", NS, "j3-driver").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_pod_creation_and_status_update_then_restarted() {
    let (server, order) = crash_and_restart(FaultAction::HangAfter).await;
    assert_eq!(order, ["j3", "j1", "j2", "j4"]);
    // The driver created before the crash was adopted as it was: no second create for it.
    let creates = server.request_count(Verb::Create, "pods");
    assert_eq!(creates, 1 + 3, "the create that hung, then one per remaining job");
}

/// Three jobs of 3 cores on 4 cores: q1 is admitted, q2 and q3 wait with their sequences
/// recorded. Then the adapter dies, leaving the queue to whoever leads next.
async fn two_waiting_then_killed(server: &TestApiServer) {
    let adapter = start_adapter(server, settings()).await;
    for name in ["q1", "q2", "q3"] {
        submit(server, name, job_spec("normal", 2, 1)).await;
    }
    eventually(20, "q1 launched, q2 and q3 queued", || {
        let launched = drivers_per_job(server).keys().cloned().collect::<Vec<_>>();
        let waiting =
            ["q2", "q3"].iter().all(|n| job_status(server, n)["enqueueSequence"].is_u64());
        (launched == ["q1"] && waiting).then_some(())
    })
    .await;
    adapter.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_with_the_orchestrator_off_launches_every_queued_job() {
    let server = start_server(&[("n1", "4", "16Gi")]).await;
    two_waiting_then_killed(&server).await;

    // SPEC §6: with the orchestrator off every job is legacy, those already queued included.
    let mut off = settings();
    off.controller.scheduler.enabled = false;
    let restarted = start_adapter(&server, off).await;
    eventually(20, "q2 and q3 launched although they do not fit", || {
        (drivers_per_job(&server).len() == 3).then_some(())
    })
    .await;
    assert!(drivers_per_job(&server).values().all(|n| *n == 1), "{:?}", drivers_per_job(&server));
    eventually(10, "their launches recorded as legacy", || {
        ["q2", "q3"]
            .iter()
            .all(|n| job_status(&server, n)["launchedFlow"] == "legacy")
            .then_some(())
    })
    .await;
    drop(restarted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_changed_while_no_replica_leads_is_applied_on_restart() {
    let server = start_server(&[("n1", "4", "16Gi")]).await;
    two_waiting_then_killed(&server).await;

    // kubectl moves q3 to legacy while nothing runs the controller.
    server
        .merge("SparkJob", NS, "q3", serde_json::json!({"spec": {"flow": "legacy"}}))
        .expect("q3 edited");
    let restarted = start_adapter(&server, settings()).await;
    eventually(20, "q3 launched at once", || {
        drivers_per_job(&server).contains_key("q3").then_some(())
    })
    .await;
    // q2 still waits for q1: only the moved job left the queue.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(!drivers_per_job(&server).contains_key("q2"), "{:?}", drivers_per_job(&server));
    assert_eq!(phase(&server, "q2"), "queued");
    drop(restarted);
}
