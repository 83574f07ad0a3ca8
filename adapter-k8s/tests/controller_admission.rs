//! Tier: HTTP against the in-process API server. The adapter admits jobs in the core's order,
//! creates spark-submit-shaped drivers, and holds the executors' room until they appear.

mod common;

use std::time::Duration;

use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, Service};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_are_admitted_in_queue_order_with_spark_shaped_drivers() {
    // 4 cores: one job (1 driver core + 2 executors of 1 core) at a time.
    let server = start_server(&[("n1", "4", "16Gi")]).await;
    submit(&server, "a-normal", job_spec("normal", 2, 1)).await;
    submit(&server, "b-high", job_spec("high", 2, 1)).await;
    submit(&server, "c-normal", job_spec("normal", 2, 1)).await;
    let adapter = start_adapter(&server, settings()).await;

    // The first admission is the high job; the others wait, with positions and reasons.
    let first =
        eventually(20, "the first driver", || driver_pods(&server).into_iter().next()).await;
    assert_eq!(job_of(&first), "b-high");
    eventually(10, "queue positions", || {
        let a = job_status(&server, "a-normal");
        let c = job_status(&server, "c-normal");
        (a["queuePosition"] == 0 && c["queuePosition"] == 1).then_some(())
    })
    .await;
    let reason = job_status(&server, "a-normal")["reason"].as_str().unwrap_or("").to_owned();
    assert!(reason.starts_with("insufficient cpu"), "a waits for cpu: {reason}");
    assert_eq!(job_status(&server, "c-normal")["reason"], "behind a-normal");
    for name in ["a-normal", "b-high", "c-normal"] {
        assert!(job_status(&server, name)["enqueueSequence"].is_u64(), "{name} has its sequence");
    }

    // The driver pod is shaped like spark-submit's.
    let labels = first.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("spark-role").map(String::as_str), Some("driver"));
    assert!(labels.get("spark-app-selector").is_some_and(|id| id.starts_with("spark-")));
    assert_eq!(labels.get("spark-app-name").map(String::as_str), Some("b-high"));
    let spec = first.spec.clone().expect("pod spec");
    let container = &spec.containers[0];
    let args = container.args.clone().unwrap_or_default();
    assert_eq!(
        args,
        [
            "driver",
            "--properties-file",
            "/opt/spark/conf/spark.properties",
            "--class",
            "org.example.Main",
            "local:///opt/app.jar",
            "--day",
            "2026-12-03"
        ]
    );
    let requests =
        container.resources.as_ref().and_then(|r| r.requests.clone()).unwrap_or_default();
    assert_eq!(requests.get("cpu").map(|q| q.0.as_str()), Some("1"));
    // 1g heap + max(0.1 × 1024, 384) MiB overhead.
    assert_eq!(requests.get("memory").map(|q| q.0.as_str()), Some("1408Mi"));
    let owner = &first.metadata.owner_references.clone().unwrap_or_default()[0];
    assert_eq!((owner.kind.as_str(), owner.name.as_str()), ("SparkJob", "b-high"));

    let pod_name = first.metadata.name.clone().unwrap_or_default();
    let config: ConfigMap =
        server.get("ConfigMap", NS, "b-high-spark-conf").expect("properties ConfigMap");
    let properties = config.data.unwrap_or_default().remove("spark.properties").unwrap_or_default();
    assert!(
        properties.contains(&format!("spark.kubernetes.driver.pod.name={pod_name}\n")),
        "{properties}"
    );
    assert!(properties.contains("spark.executor.instances=2\n"), "{properties}");
    assert!(!properties.contains("podTemplateFile"), "no tolerations, no template: {properties}");
    let service: Service =
        server.get("Service", NS, "b-high-driver-svc").expect("headless service");
    assert_eq!(service.spec.and_then(|s| s.cluster_ip).as_deref(), Some("None"));

    // A high job submitted now goes before the waiting normal ones.
    submit(&server, "d-high", job_spec("high", 2, 1)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let order = run_all(&server, 4, &[]).await;
    assert_eq!(order, ["b-high", "d-high", "a-normal", "c-normal"]);
    eventually(10, "every job succeeded", || {
        ["a-normal", "b-high", "c-normal", "d-high"]
            .iter()
            .all(|n| phase(&server, n) == "succeeded")
            .then_some(())
    })
    .await;
    drop(adapter);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_admission_while_an_admitted_jobs_executors_have_not_appeared() {
    let server = start_server(&[("n1", "4", "16Gi")]).await;
    let adapter = start_adapter(&server, settings()).await;
    // x: 1 + 2 × 1 cores. y: 1 + 1 × 1 cores; it fits only if x's executors are forgotten.
    submit(&server, "x", job_spec("normal", 2, 1)).await;
    let driver = eventually(20, "x's driver", || driver_pods(&server).into_iter().next()).await;
    let driver = driver.metadata.name.unwrap_or_default();
    server.bind_pod(NS, &driver, "n1").expect("bound");
    server.set_pod_phase(NS, &driver, "Running").expect("running");
    eventually(10, "x running", || (phase(&server, "x") == "running").then_some(())).await;

    submit(&server, "y", job_spec("normal", 1, 1)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(phase(&server, "y"), "queued", "y must wait for x's executors' room");
    assert_eq!(driver_pods(&server).len(), 1);

    // The executors appear: the reservation turns into real pods; y still does not fit.
    create_executor(&server, "x", 1, "n1", "1", "1408Mi");
    create_executor(&server, "x", 2, "n1", "1", "1408Mi");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(phase(&server, "y"), "queued");

    // x ends: its pods finish, and y is admitted.
    for pod in ["x-exec-1", "x-exec-2"] {
        server.set_pod_phase(NS, pod, "Succeeded").expect("executor done");
    }
    server.set_pod_phase(NS, &driver, "Succeeded").expect("driver done");
    eventually(20, "y admitted", || (phase(&server, "y") == "admitted").then_some(())).await;
    eventually(10, "x succeeded", || (phase(&server, "x") == "succeeded").then_some(())).await;
    drop(adapter);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spark_application_launcher_hands_the_job_to_the_operator() {
    let server = start_server(&[("n1", "4", "16Gi")]).await;
    let mut settings = settings();
    settings.controller.launcher =
        std::sync::Arc::new(sparkq_adapter_k8s::launcher::SparkApplicationLauncher {
            spark_version: "3.5.3".into(),
        });
    let adapter = start_adapter(&server, settings).await;
    let mut spec = job_spec("normal", 2, 1);
    spec.tolerations = serde_json::from_value(serde_json::json!([
        {"key": "dedicated", "operator": "Equal", "value": "spark", "effect": "NoSchedule"}
    ]))
    .expect("tolerations");
    submit(&server, "op", spec).await;
    let app =
        eventually(20, "the SparkApplication", || server.get_json("SparkApplication", NS, "op"))
            .await;
    assert_eq!(app["apiVersion"], "sparkoperator.k8s.io/v1beta2");
    assert_eq!(app["spec"]["type"], "Scala");
    assert_eq!(app["spec"]["mainClass"], "org.example.Main");
    assert_eq!(app["spec"]["executor"]["instances"], 2);
    assert_eq!(app["spec"]["driver"]["labels"]["sparkq.io/job"], "op");
    for role in ["driver", "executor"] {
        let toleration = &app["spec"][role]["tolerations"][0];
        assert_eq!(
            (&toleration["key"], &toleration["value"]),
            (&"dedicated".into(), &"spark".into())
        );
    }
    assert_eq!(app["metadata"]["ownerReferences"][0]["kind"], "SparkJob");
    eventually(10, "the driver pod recorded", || {
        (job_status(&server, "op")["driverPod"] == "op-driver").then_some(())
    })
    .await;

    // The operator's driver pod carries the job's label; the phase follows it.
    let driver = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "op-driver", "namespace": NS,
            "labels": {"spark-role": "driver", "sparkq.io/job": "op"}},
        "spec": {"containers": [{"name": "spark-kubernetes-driver", "image": "apache/spark:3.5.3",
            "resources": {"requests": {"cpu": "1", "memory": "1408Mi"}}}]},
    });
    server.create(driver).expect("driver created");
    server.bind_pod(NS, "op-driver", "n1").expect("bound");
    server.set_pod_phase(NS, "op-driver", "Running").expect("running");
    eventually(10, "op running", || (phase(&server, "op") == "running").then_some(())).await;
    server.set_pod_phase(NS, "op-driver", "Failed").expect("failed");
    eventually(10, "op failed", || (phase(&server, "op") == "failed").then_some(())).await;
    drop(adapter);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_orchestrator_off_every_job_is_launched_at_once() {
    let server = start_server(&[("n1", "4", "16Gi")]).await;
    let mut settings = settings();
    settings.controller.scheduler.enabled = false;
    let adapter = start_adapter(&server, settings).await;
    // Three jobs of 3 cores on 4 cores: launched anyway, as if sparkq were not there.
    for name in ["l1", "l2", "l3"] {
        submit(&server, name, job_spec("normal", 2, 1)).await;
    }
    eventually(20, "three drivers", || (drivers_per_job(&server).len() == 3).then_some(())).await;
    // The status follows the launch.
    eventually(10, "three legacy launches recorded", || {
        ["l1", "l2", "l3"]
            .iter()
            .all(|n| job_status(&server, n)["launchedFlow"] == "legacy")
            .then_some(())
    })
    .await;
    drop(adapter);
}

/// A job for a tainted pool: Spark's properties carry the node selector to the executors, but
/// not tolerations, so the executors get them from a pod template in the driver's mounted
/// configuration, and the driver pod carries them itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tolerations_reach_the_driver_and_through_a_template_the_executors() {
    init_tracing();
    let server = sparkq_adapter_k8s::testkit::TestApiServer::start().await.expect("server");
    let gpu = sparkq_adapter_k8s::testkit::TestNode::new("g1", "8", "32Gi")
        .label("pool", "gpu")
        .taint("nvidia.com/gpu", "present", "NoSchedule");
    server.add_node(gpu).expect("node");
    let mut spec = job_spec("normal", 2, 1);
    spec.node_selector.insert("pool".into(), "gpu".into());
    spec.tolerations = serde_json::from_value(serde_json::json!([
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]))
    .expect("tolerations");
    submit(&server, "trainer", spec).await;
    let adapter = start_adapter(&server, settings()).await;

    let driver = eventually(20, "the driver", || driver_pods(&server).into_iter().next()).await;
    let pod_spec = driver.spec.expect("pod spec");
    let toleration = &pod_spec.tolerations.expect("tolerations on the driver")[0];
    assert_eq!(toleration.key.as_deref(), Some("nvidia.com/gpu"));
    assert_eq!(toleration.operator.as_deref(), Some("Exists"));

    let config: ConfigMap =
        server.get("ConfigMap", NS, "trainer-spark-conf").expect("properties ConfigMap");
    let mut data = config.data.unwrap_or_default();
    let properties = data.remove("spark.properties").unwrap_or_default();
    assert!(properties.contains("spark.kubernetes.node.selector.pool=gpu\n"), "{properties}");
    assert!(
        properties.contains(
            "spark.kubernetes.executor.podTemplateFile=/opt/spark/conf/executor-pod-template.yaml\n"
        ),
        "{properties}"
    );
    // The template parses as a pod (as Spark reads it) with exactly the job's toleration.
    let template = data.remove("executor-pod-template.yaml").expect("the executors' template");
    let template: k8s_openapi::api::core::v1::Pod =
        serde_saphyr::from_str(&template).expect("the template is a pod in YAML");
    let tolerations = template.spec.and_then(|s| s.tolerations).expect("template tolerations");
    assert_eq!(tolerations.len(), 1);
    assert_eq!(tolerations[0].key.as_deref(), Some("nvidia.com/gpu"));
    assert_eq!(tolerations[0].effect.as_deref(), Some("NoSchedule"));
    drop(adapter);
}
