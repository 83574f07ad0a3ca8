//! Tier: HTTP against the in-process API server. The adapter's API: authentication on every
//! protected route, JSON errors with their status codes, the job routes, and
//! migrate-to-legacy launching every queued job of one domain and no other.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

fn body(name: &str, domain: &str, extra: Value) -> String {
    let mut spec = json!({
        "name": name, "namespace": NS, "domain": domain, "priority": "normal",
        "image": "apache/spark:3.5.3", "mainClass": "org.example.Main",
        "mainApplicationFile": "local:///opt/app.jar",
        "driver": {"cores": 1, "memory": "1g"},
        "executor": {"cores": 1, "memory": "1g", "instances": 2},
    });
    merge(&mut spec, &extra);
    spec.to_string()
}

fn merge(target: &mut Value, patch: &Value) {
    if let (Value::Object(t), Value::Object(p)) = (target, patch) {
        for (k, v) in p {
            match t.get_mut(k) {
                Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                _ => {
                    t.insert(k.clone(), v.clone());
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_routes_need_the_token_and_health_does_not() {
    let server = start_server(&[("n1", "4", "16Gi")]).await;
    let adapter = start_adapter(&server, settings()).await;
    let routes = [
        ("GET", "/api/v1/jobs"),
        ("POST", "/api/v1/jobs"),
        ("GET", "/api/v1/jobs/spark/x"),
        ("DELETE", "/api/v1/jobs/spark/x"),
        ("POST", "/api/v1/jobs/spark/x/cancel"),
        ("PATCH", "/api/v1/jobs/spark/x"),
        ("POST", "/api/v1/domains/etl/spark/jobs/migrate-to-legacy"),
    ];
    for (method, path) in routes {
        for token in [None, Some("wrong"), Some("")] {
            let (code, body) = http(adapter.addr, method, path, token, Some("{}")).await;
            assert_eq!(code, 401, "{method} {path} with {token:?}");
            assert!(body["error"].is_string(), "{method} {path}: JSON error, got {body}");
        }
    }
    for path in ["/healthz", "/metrics"] {
        let (code, _) = http(adapter.addr, "GET", path, None, None).await;
        assert_eq!(code, 200, "{path} is open");
    }
    let (code, _) = http(adapter.addr, "GET", "/api/v1/jobs", Some(TOKEN), None).await;
    assert_eq!(code, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_400_with_a_message() {
    let server = start_server(&[("n1", "4", "16Gi")]).await;
    let adapter = start_adapter(&server, settings()).await;
    let post = |b: String| {
        let addr = adapter.addr;
        async move { http(addr, "POST", "/api/v1/jobs", Some(TOKEN), Some(&b)).await }
    };
    let cases = [
        ("{not json".to_owned(), "invalid JSON"),
        (body("p", "etl", json!({"priority": "urgent"})), "unknown priority `urgent`"),
        (body("n", "etl", json!({"driver": {"cores": -1}})), "driver.cores must not be negative"),
        (body("m", "etl", json!({"executor": {"memory": "-2g"}})), "must not be negative"),
        (body("i", "etl", json!({"executor": {"instances": -3}})), "must not be negative"),
        (body("f", "etl", json!({"flow": "sideways"})), "unknown flow"),
        (body("Bad_Name", "etl", json!({})), "not a valid Kubernetes name"),
    ];
    for (request, expected) in cases {
        let (code, response) = post(request.clone()).await;
        assert_eq!(code, 400, "{request} -> {response}");
        let message = response["error"].as_str().unwrap_or("");
        assert!(message.contains(expected), "`{message}` should say `{expected}`");
    }
    let patch = http(
        adapter.addr,
        "PATCH",
        "/api/v1/jobs/spark/none",
        Some(TOKEN),
        Some(r#"{"priority":"urgent"}"#),
    )
    .await;
    assert_eq!(patch.0, 400);
    assert!(server.list::<Value>("SparkJob").is_empty(), "nothing invalid was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_routes_submit_list_get_update_and_cancel() {
    let server = start_server(&[("n1", "4", "16Gi")]).await;
    let adapter = start_adapter(&server, settings()).await;
    let addr = adapter.addr;
    let (code, created) =
        http(addr, "POST", "/api/v1/jobs", Some(TOKEN), Some(&body("one", "etl", json!({})))).await;
    assert_eq!(code, 201, "{created}");
    let (code, _) =
        http(addr, "POST", "/api/v1/jobs", Some(TOKEN), Some(&body("one", "etl", json!({})))).await;
    assert_eq!(code, 409);
    eventually(10, "one admitted", || (phase(&server, "one") == "admitted").then_some(())).await;

    let (code, listed) = http(addr, "GET", "/api/v1/jobs?domain=etl", Some(TOKEN), None).await;
    assert_eq!(code, 200);
    assert_eq!(listed["jobs"].as_array().map(Vec::len), Some(1));
    let (code, got) = http(addr, "GET", "/api/v1/jobs/spark/one", Some(TOKEN), None).await;
    assert_eq!((code, got["status"]["phase"].as_str()), (200, Some("admitted")));
    let (code, _) = http(addr, "GET", "/api/v1/jobs/spark/missing", Some(TOKEN), None).await;
    assert_eq!(code, 404);

    // A second job waits; raising its priority is recorded in its spec.
    http(addr, "POST", "/api/v1/jobs", Some(TOKEN), Some(&body("two", "etl", json!({})))).await;
    eventually(10, "two queued", || (phase(&server, "two") == "queued").then_some(())).await;
    let (code, updated) =
        http(addr, "PATCH", "/api/v1/jobs/spark/two", Some(TOKEN), Some(r#"{"priority":"high"}"#))
            .await;
    assert_eq!((code, updated["spec"]["priority"].as_str()), (200, Some("high")));

    // Cancelling the waiting job keeps its record: it ends `cancelled`, out of the queue.
    let (code, answer) =
        http(addr, "POST", "/api/v1/jobs/spark/two/cancel", Some(TOKEN), None).await;
    assert_eq!(code, 202, "{answer}");
    eventually(10, "two cancelled", || (phase(&server, "two") == "cancelled").then_some(())).await;
    assert_eq!(job_status(&server, "two")["reason"], "cancelled at its owner's request");
    assert_eq!(job_status(&server, "two")["queuePosition"], Value::Null);
    // An admitted job cannot be cancelled, only deleted; a missing one is not found.
    let (code, answer) =
        http(addr, "POST", "/api/v1/jobs/spark/one/cancel", Some(TOKEN), None).await;
    assert_eq!(code, 409, "{answer}");
    assert!(answer["error"].as_str().is_some_and(|e| e.contains("admitted")), "{answer}");
    let (code, _) = http(addr, "POST", "/api/v1/jobs/spark/nope/cancel", Some(TOKEN), None).await;
    assert_eq!(code, 404);
    let (code, answer) =
        http(addr, "POST", "/api/v1/jobs/spark/two/cancel", Some(TOKEN), None).await;
    assert_eq!(code, 409, "cancelled already: {answer}");

    let (code, _) = http(addr, "DELETE", "/api/v1/jobs/spark/two", Some(TOKEN), None).await;
    assert_eq!(code, 200);
    let (code, _) = http(addr, "DELETE", "/api/v1/jobs/spark/two", Some(TOKEN), None).await;
    assert_eq!(code, 404);
    // Deleting the admitted job deletes what it launched.
    http(addr, "DELETE", "/api/v1/jobs/spark/one", Some(TOKEN), None).await;
    eventually(10, "one's objects gone", || {
        server.get_json("ConfigMap", NS, "one-spark-conf").is_none().then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_to_legacy_launches_every_queued_job_of_the_domain_and_no_other() {
    let server = start_server(&[("n1", "4", "16Gi")]).await;
    let adapter = start_adapter(&server, settings()).await;
    let addr = adapter.addr;
    // The blocker fills the cluster; everything after it waits.
    for (name, domain) in [("blocker", "bi"), ("etl-a", "etl"), ("bi-b", "bi"), ("etl-c", "etl")] {
        let (code, _) =
            http(addr, "POST", "/api/v1/jobs", Some(TOKEN), Some(&body(name, domain, json!({}))))
                .await;
        assert_eq!(code, 201);
    }
    eventually(10, "the queue formed", || {
        (phase(&server, "blocker") == "admitted"
            && ["etl-a", "bi-b", "etl-c"].iter().all(|n| phase(&server, n) == "queued"))
        .then_some(())
    })
    .await;

    let (code, response) =
        http(addr, "POST", "/api/v1/domains/etl/spark/jobs/migrate-to-legacy", Some(TOKEN), None)
            .await;
    assert_eq!(code, 200, "{response}");
    let mut migrated: Vec<String> = response["migrated"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|j| j["name"].as_str().map(str::to_owned))
        .collect();
    migrated.sort();
    assert_eq!(migrated, ["etl-a", "etl-c"]);

    eventually(10, "the etl drivers", || {
        let drivers = drivers_per_job(&server);
        (drivers.contains_key("etl-a") && drivers.contains_key("etl-c")).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!drivers_per_job(&server).contains_key("bi-b"), "bi-b is not in the domain");
    assert_eq!(phase(&server, "bi-b"), "queued");
    eventually(10, "the legacy launches recorded", || {
        ["etl-a", "etl-c"]
            .iter()
            .all(|n| job_status(&server, n)["launchedFlow"] == "legacy")
            .then_some(())
    })
    .await;
}

/// The token file is a mounted Secret: when it is rotated, the API takes the new token at the
/// next request, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_token_file_takes_effect_without_a_restart() {
    let server = start_server(&[("n1", "4", "16Gi")]).await;
    let dir = std::env::temp_dir().join(format!("sparkq-rotation-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("token");
    std::fs::write(&file, "old-token\n").expect("written");
    let mut settings = settings();
    settings.token = Some(std::sync::Arc::new(
        sparkq_adapter_k8s::token::ApiToken::from_file(&file).expect("token file"),
    ));
    let adapter = start_adapter(&server, settings).await;
    let status = |token: &'static str| async move {
        http(adapter.addr, "GET", "/api/v1/jobs", Some(token), None).await.0
    };
    assert_eq!(status("old-token").await, 200);
    std::fs::write(&file, "the-new-token\n").expect("rotated");
    assert_eq!(status("old-token").await, 401);
    assert_eq!(status("the-new-token").await, 200);
    let _ = std::fs::remove_dir_all(&dir);
}
