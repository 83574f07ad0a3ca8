//! Tier: a real cluster. Skipped unless `KUBECONFIG` is set; run with
//! `KUBECONFIG=~/.kube/config cargo test -p sparkq-adapter-k8s --test real_cluster -- --ignored`.
//!
//! It installs the CRD, runs an adapter in-process against the cluster, submits a small
//! SparkPi job, and checks that the job is admitted, that its driver pod is created the way
//! spark-submit creates it, and that deleting the job removes what it launched.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Client, CustomResourceExt};
use serde_json::json;
use sparkq_adapter_k8s::controller::ControllerConfig;
use sparkq_adapter_k8s::launcher::DriverPodLauncher;
use sparkq_adapter_k8s::{Adapter, Settings, SparkJob};
use sparkq_core::SchedulerConfig;

fn namespace() -> String {
    std::env::var("SPARKQ_TEST_NAMESPACE").unwrap_or_else(|_| "sparkq-e2e".into())
}

async fn wait_for<T, F>(seconds: u64, what: &str, mut check: impl FnMut() -> F) -> T
where
    F: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a cluster: set KUBECONFIG and pass --ignored"]
async fn a_job_is_admitted_and_cleaned_up_on_a_real_cluster() {
    if std::env::var_os("KUBECONFIG").is_none() {
        eprintln!("KUBECONFIG is not set: skipping the real-cluster tier");
        return;
    }
    let client = Client::try_default().await.expect("a client from KUBECONFIG");
    let ns = namespace();

    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let apply = PatchParams::apply("sparkq-e2e").force();
    crds.patch("sparkjobs.sparkq.io", &apply, &Patch::Apply(SparkJob::crd()))
        .await
        .expect("CRD applied");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let wanted = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
    namespaces.patch(&ns, &apply, &Patch::Apply(wanted)).await.expect("namespace applied");
    tokio::time::sleep(Duration::from_secs(2)).await;

    let settings = Settings {
        listen: ([127, 0, 0, 1], 0).into(),
        token: None,
        controller: ControllerConfig {
            scheduler: SchedulerConfig::default(),
            namespaces: vec![ns.clone()],
            launcher: std::sync::Arc::new(DriverPodLauncher::default()),
            tick: Duration::from_millis(500),
        },
        leader_election: false,
        lease_name: "sparkq-e2e".into(),
        lease_namespace: ns.clone(),
        lease_duration_seconds: 15,
        identity: "e2e".into(),
    };
    let adapter = Adapter::start(settings, client.clone()).await.expect("adapter starts");

    let jobs: Api<SparkJob> = Api::namespaced(client.clone(), &ns);
    let _ = jobs.delete("spark-pi", &DeleteParams::default()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let spec = serde_json::from_value(json!({
        "image": "apache/spark:3.5.3",
        "mainClass": "org.apache.spark.examples.SparkPi",
        "mainApplicationFile": "local:///opt/spark/examples/jars/spark-examples_2.12-3.5.3.jar",
        "arguments": ["10"],
        "driver": {"cores": 1, "coreRequest": "100m", "memory": "512m"},
        "executor": {"cores": 1, "coreRequest": "100m", "memory": "512m", "instances": 1},
    }))
    .expect("a valid spec");
    jobs.create(&PostParams::default(), &SparkJob::new("spark-pi", spec))
        .await
        .expect("job created");

    let status = wait_for(60, "admission", || {
        let jobs = jobs.clone();
        async move {
            let job = jobs.get("spark-pi").await.ok()?;
            let status = job.status?;
            matches!(status.phase.as_deref(), Some("admitted" | "running" | "succeeded" | "failed"))
                .then_some(status)
        }
    })
    .await;
    let driver = status.driver_pod.expect("the driver pod is recorded");
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let pod = pods.get(&driver).await.expect("the driver pod exists");
    let labels = pod.metadata.labels.unwrap_or_default();
    assert_eq!(labels.get("spark-role").map(String::as_str), Some("driver"));

    jobs.delete("spark-pi", &DeleteParams::default()).await.expect("job deleted");
    wait_for(120, "the driver's cleanup", || {
        let pods = pods.clone();
        let driver = driver.clone();
        async move { pods.get_opt(&driver).await.ok().and_then(|p| p.is_none().then_some(())) }
    })
    .await;
    drop(adapter);
}
