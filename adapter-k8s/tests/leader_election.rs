//! Tier: HTTP against the in-process API server. Two adapters share a Lease: only the leader
//! dispatches, and when it dies the other takes over within the lease time.

mod common;

use std::time::{Duration, Instant};

use common::*;
use sparkq_adapter_k8s::Adapter;
use sparkq_adapter_k8s::testkit::Verb;

fn replica(identity: &str) -> sparkq_adapter_k8s::Settings {
    let mut settings = settings();
    settings.leader_election = true;
    settings.identity = identity.into();
    settings.lease_duration_seconds = 3;
    settings
}

fn leaders(adapters: &[&Adapter]) -> usize {
    adapters.iter().filter(|a| a.is_leader()).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_dispatches_and_the_other_takes_over() {
    let server = start_server(&[("n1", "4", "16Gi")]).await;
    let a = start_adapter(&server, replica("replica-a")).await;
    let b = start_adapter(&server, replica("replica-b")).await;
    eventually(15, "a leader", || (leaders(&[&a, &b]) == 1).then_some(())).await;

    // For a while, never two leaders, and one job goes through the leader alone.
    submit(&server, "first", job_spec("normal", 2, 1)).await;
    let watch_until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < watch_until {
        assert!(leaders(&[&a, &b]) <= 1, "two replicas lead at once");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(leaders(&[&a, &b]), 1);
    let driver =
        eventually(10, "the first driver", || driver_pods(&server).into_iter().next()).await;
    assert_eq!(job_of(&driver), "first");
    // A second dispatcher would adopt the driver after a refused create: count the creates.
    assert_eq!(server.request_count(Verb::Create, "pods"), 1, "one replica created the driver");
    let lease: serde_json::Value =
        server.get_json("Lease", NS, "sparkq-leader").expect("the lease exists");
    let holder = lease["spec"]["holderIdentity"].as_str().unwrap_or("").to_owned();

    // The leader dies without releasing anything; the follower takes over within the lease.
    let (leader, follower, leader_identity) =
        if a.is_leader() { (a, b, "replica-a") } else { (b, a, "replica-b") };
    assert_eq!(holder, leader_identity, "the lease names the leader");
    leader.kill();
    let killed = Instant::now();
    eventually(15, "the follower leading", || follower.is_leader().then_some(())).await;
    let takeover = killed.elapsed();
    assert!(takeover < Duration::from_secs(3 + 2), "takeover took {takeover:?}");

    // The new leader dispatches: the first job ends, the second is admitted by it.
    finish_driver(&server, &driver.metadata.name.unwrap_or_default(), "n1");
    submit(&server, "second", job_spec("normal", 2, 1)).await;
    eventually(15, "the second admitted", || {
        (phase(&server, "second") == "admitted").then_some(())
    })
    .await;
    eventually(10, "first succeeded", || (phase(&server, "first") == "succeeded").then_some(()))
        .await;
    assert_eq!(server.request_count(Verb::Create, "pods"), 2, "one create per job in all");
    assert_eq!(drivers_per_job(&server).into_values().collect::<Vec<_>>(), [1, 1]);
    let lease: serde_json::Value =
        server.get_json("Lease", NS, "sparkq-leader").expect("the lease exists");
    assert_ne!(
        lease["spec"]["holderIdentity"].as_str(),
        Some(holder.as_str()),
        "the lease changed hands"
    );
}
