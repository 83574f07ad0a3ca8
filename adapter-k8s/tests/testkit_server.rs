//! The test API server, exercised through kube's real client: list and watch with resource
//! versions, bookmarks, 410 Gone after compaction, conflicts, patches and graceful deletion.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::watcher;
use serde_json::json;
use sparkq_adapter_k8s::testkit::{TestApiServer, TestNode};

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "x"}},
        "spec": {"containers": [{"name": "c", "image": "i"}]},
    }))
    .expect("a valid pod")
}

#[tokio::test]
async fn create_get_conflict_and_patches_behave_like_the_api_server() {
    let server = TestApiServer::start().await.expect("server starts");
    let pods: Api<Pod> = Api::namespaced(server.client(), "ns");
    let created = pods.create(&PostParams::default(), &pod("a")).await.expect("created");
    assert_eq!(created.status.and_then(|s| s.phase).as_deref(), Some("Pending"));

    let again = pods.create(&PostParams::default(), &pod("a")).await;
    assert!(matches!(again, Err(kube::Error::Api(s)) if s.code == 409), "AlreadyExists");

    let mut stale = pods.get("a").await.expect("get");
    pods.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"b": "1"}}})),
    )
    .await
    .expect("merge patch");
    stale.metadata.labels = None;
    let conflict = pods.replace("a", &PostParams::default(), &stale).await;
    assert!(
        matches!(conflict, Err(kube::Error::Api(s)) if s.code == 409),
        "stale replace conflicts"
    );

    let status = json!({"status": {"phase": "Running"}});
    let patched = pods
        .patch_status("a", &PatchParams::default(), &Patch::Merge(status))
        .await
        .expect("status");
    assert_eq!(patched.status.and_then(|s| s.phase).as_deref(), Some("Running"));

    let missing = pods.get("nope").await;
    assert!(matches!(missing, Err(kube::Error::Api(s)) if s.code == 404));

    let maps: Api<ConfigMap> = Api::namespaced(server.client(), "ns");
    let apply = PatchParams::apply("test");
    maps.patch(
        "m",
        &apply,
        &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"}})),
    )
    .await
    .expect("server-side apply creates");
}

#[tokio::test]
async fn bound_pods_terminate_until_the_kubelet_removes_them() {
    let server = TestApiServer::start().await.expect("server starts");
    server.add_node(TestNode::new("n1", "4", "8Gi")).expect("node");
    let pods: Api<Pod> = Api::namespaced(server.client(), "ns");
    pods.create(&PostParams::default(), &pod("a")).await.expect("created");
    server.bind_pod("ns", "a", "n1").expect("bound");
    pods.delete("a", &DeleteParams::default()).await.expect("deleted");
    let terminating = pods.get("a").await.expect("still there");
    assert!(terminating.metadata.deletion_timestamp.is_some());
    assert!(server.remove("Pod", "ns", "a"));
    assert!(pods.get_opt("a").await.expect("get").is_none());
}

#[tokio::test]
async fn watch_resumes_from_a_version_and_gets_gone_after_compaction() {
    let server = TestApiServer::start().await.expect("server starts");
    let pods: Api<Pod> = Api::namespaced(server.client(), "ns");
    pods.create(&PostParams::default(), &pod("a")).await.expect("a");
    let list = pods.list(&ListParams::default()).await.expect("list");
    let rv = list.metadata.resource_version.expect("list rv");
    pods.create(&PostParams::default(), &pod("b")).await.expect("b");

    let mut stream = pods.watch(&WatchParams::default(), &rv).await.expect("watch").boxed();
    match stream.try_next().await.expect("event") {
        Some(WatchEvent::Added(p)) => assert_eq!(p.metadata.name.as_deref(), Some("b")),
        other => panic!("expected b added, got {other:?}"),
    }
    drop(stream);

    server.compact();
    let mut stream = pods.watch(&WatchParams::default(), &rv).await.expect("watch").boxed();
    match stream.try_next().await.expect("event") {
        Some(WatchEvent::Error(e)) => assert_eq!(e.code, 410),
        other => panic!("expected 410, got {other:?}"),
    }

    let bookmarks = WatchParams::default();
    let now = server.resource_version().to_string();
    let mut stream = pods.watch(&bookmarks, &now).await.expect("watch").boxed();
    server.send_bookmarks();
    match tokio::time::timeout(Duration::from_secs(5), stream.try_next()).await {
        Ok(Ok(Some(WatchEvent::Bookmark(b)))) => assert_eq!(b.metadata.resource_version, now),
        other => panic!("expected a bookmark, got {other:?}"),
    }
}

#[tokio::test]
async fn kube_watcher_resumes_after_a_break_and_relists_after_410() {
    let server = TestApiServer::start().await.expect("server starts");
    let pods: Api<Pod> = Api::namespaced(server.client(), "ns");
    let cfg = watcher::Config::default().labels("app=x");
    let mut events = watcher(pods.clone(), cfg).boxed();
    pods.create(&PostParams::default(), &pod("a")).await.expect("a");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    // Errors (the 410 itself) are reported by the watcher, which then relists on its own.
    let mut next = async || loop {
        let event = tokio::time::timeout_at(deadline, events.next()).await.expect("in time");
        if let Ok(event) = event.expect("stream open") {
            return event;
        }
    };
    let mut seen = Vec::new();
    loop {
        match next().await {
            watcher::Event::InitApply(p) => seen.push(p.metadata.name.unwrap_or_default()),
            watcher::Event::InitDone => break,
            _ => {}
        }
    }
    assert_eq!(seen, ["a"]);

    // A closed connection: the watcher resumes from its last version, no relist.
    server.break_watches();
    pods.create(&PostParams::default(), &pod("b")).await.expect("b");
    match next().await {
        watcher::Event::Apply(p) => assert_eq!(p.metadata.name.as_deref(), Some("b")),
        other => panic!("expected b applied after the break, got {other:?}"),
    }

    // History compacted while disconnected: 410, then a full relist.
    server.compact();
    server.break_watches();
    pods.create(&PostParams::default(), &pod("c")).await.expect("c");
    let mut relisted = Vec::new();
    let mut saw_init = false;
    loop {
        match next().await {
            watcher::Event::Init => saw_init = true,
            watcher::Event::InitApply(p) => relisted.push(p.metadata.name.unwrap_or_default()),
            watcher::Event::InitDone => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(saw_init);
    assert_eq!(relisted, ["a", "b", "c"]);
}

#[tokio::test]
async fn the_written_kubeconfig_reaches_the_server() {
    let server = TestApiServer::start().await.expect("server starts");
    server.add_node(TestNode::new("n1", "4", "8Gi")).expect("node");
    let path = std::env::temp_dir().join(format!("sparkq-kubeconfig-{}", std::process::id()));
    server.write_kubeconfig(&path).expect("written");
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).expect("a kubeconfig");
    let options = kube::config::KubeConfigOptions::default();
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &options).await.expect("a config");
    let client = kube::Client::try_from(config).expect("a client");
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client);
    assert_eq!(nodes.list(&ListParams::default()).await.expect("listed").items.len(), 1);
    let _ = std::fs::remove_file(path);
}
