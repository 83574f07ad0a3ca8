//! An in-process Kubernetes API server for tests.
//!
//! It speaks real HTTP on `127.0.0.1:0`, so the adapter under test uses kube's real `Client`,
//! watchers and reflectors, unchanged. It keeps what the adapter relies on: lists and watches
//! with resource versions, bookmarks, `410 Gone` after compaction, optimistic concurrency,
//! status subresources, the patch flavours kube sends, graceful deletion of bound pods, and
//! owner-reference cleanup. Handles let the test play the kube-scheduler and the kubelet
//! (bind pods, move them through their phases, remove terminating pods), change nodes, break
//! watches, and inject faults that fail or hang a request of a given kind.
//!
//! It keeps nothing else: no admission, no schema validation, no authentication.

mod store;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::{Notify, broadcast, mpsc, watch};

pub use store::{ApiError, Change, ChangeKind, PatchKind, ResourceType, TYPES};
use store::{FieldSelector, Key, LabelSelector, Store, find_type, meta_str, type_of_kind};

/// The verb of a request, for counting and faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verb {
    List,
    Watch,
    Get,
    Create,
    Replace,
    Patch,
    Delete,
}

/// What a fault does to the requests it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// Answer with this status code without doing anything.
    Fail(u16),
    /// Never answer and do nothing: the caller looks as if it died before the request.
    HangBefore,
    /// Do the write, then never answer: the caller looks as if it died right after it.
    HangAfter,
}

/// A fault that hits the requests of one kind after the first `skip` of them.
#[derive(Clone, Debug)]
pub struct Fault {
    pub verb: Verb,
    pub plural: &'static str,
    /// `Some("status")` to hit only the status subresource, `None` for the main resource.
    pub subresource: Option<&'static str>,
    pub skip: u64,
    pub action: FaultAction,
}

/// Lets a test wait until a fault has hit.
#[derive(Clone, Debug)]
pub struct FaultHandle {
    hit: Arc<Notify>,
    count: Arc<Mutex<u64>>,
}

impl FaultHandle {
    /// Waits for the first hit (returns at once if it already happened).
    pub async fn hit(&self) {
        loop {
            let notified = self.hit.notified();
            if self.hits() > 0 {
                return;
            }
            notified.await;
        }
    }

    pub fn hits(&self) -> u64 {
        *lock(&self.count)
    }
}

#[derive(Debug)]
struct ActiveFault {
    fault: Fault,
    seen: u64,
    handle: FaultHandle,
}

#[derive(Debug)]
struct Shared {
    store: Mutex<Store>,
    changes: broadcast::Sender<Arc<Change>>,
    breaks: watch::Sender<u64>,
    bookmarks_now: watch::Sender<u64>,
    bookmark_interval: Mutex<Duration>,
    faults: Mutex<Vec<ActiveFault>>,
    counts: Mutex<HashMap<(Verb, String), u64>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The server. Dropping it stops it.
#[derive(Debug)]
pub struct TestApiServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A node as a test describes it.
#[derive(Clone, Debug)]
pub struct TestNode {
    pub name: String,
    pub cpu: String,
    pub memory: String,
    pub pods: u32,
    pub labels: Vec<(String, String)>,
    /// `(key, value, effect)`.
    pub taints: Vec<(String, String, String)>,
    pub extended: Vec<(String, String)>,
}

impl TestNode {
    pub fn new(name: &str, cpu: &str, memory: &str) -> TestNode {
        TestNode {
            name: name.to_owned(),
            cpu: cpu.to_owned(),
            memory: memory.to_owned(),
            pods: 110,
            labels: Vec::new(),
            taints: Vec::new(),
            extended: Vec::new(),
        }
    }

    pub fn label(mut self, key: &str, value: &str) -> TestNode {
        self.labels.push((key.to_owned(), value.to_owned()));
        self
    }

    pub fn taint(mut self, key: &str, value: &str, effect: &str) -> TestNode {
        self.taints.push((key.to_owned(), value.to_owned(), effect.to_owned()));
        self
    }

    fn to_json(&self) -> Value {
        let mut allocatable = serde_json::Map::new();
        allocatable.insert("cpu".into(), json!(self.cpu));
        allocatable.insert("memory".into(), json!(self.memory));
        allocatable.insert("pods".into(), json!(self.pods.to_string()));
        for (name, amount) in &self.extended {
            allocatable.insert(name.clone(), json!(amount));
        }
        let mut labels: serde_json::Map<String, Value> =
            self.labels.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        labels.insert("kubernetes.io/hostname".into(), json!(self.name));
        let taints: Vec<Value> = self
            .taints
            .iter()
            .map(|(key, value, effect)| json!({"key": key, "value": value, "effect": effect}))
            .collect();
        json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": self.name, "labels": labels},
            "spec": {"taints": taints},
            "status": {
                "allocatable": allocatable.clone(),
                "capacity": allocatable,
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        })
    }
}

impl TestApiServer {
    /// Starts a server on a free loopback port.
    pub async fn start() -> std::io::Result<TestApiServer> {
        let (changes, _) = broadcast::channel(65_536);
        let (breaks, _) = watch::channel(0);
        let (bookmarks_now, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::default()),
            changes,
            breaks,
            bookmarks_now,
            bookmark_interval: Mutex::new(Duration::from_secs(1)),
            faults: Mutex::new(Vec::new()),
            counts: Mutex::new(HashMap::new()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::warn!(%error, "test API server stopped");
            }
        });
        Ok(TestApiServer { addr, shared, task })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kube configuration that talks to this server.
    pub fn config(&self) -> kube::Config {
        let uri = self.url().parse().unwrap_or_else(|_| unreachable!("a socket address is a URI"));
        let mut config = kube::Config::new(uri);
        config.default_namespace = "default".into();
        config.read_timeout = None;
        config
    }

    /// A kubeconfig for this server, for a `sparkq serve --kubeconfig FILE` started by a test.
    pub fn kubeconfig_yaml(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {url}\n\
             users:\n- name: test\n  user: {{}}\ncontexts:\n- name: test\n  context:\n    cluster: test\n    \
             user: test\n    namespace: default\ncurrent-context: test\n",
            url = self.url()
        )
    }

    /// Writes [`TestApiServer::kubeconfig_yaml`] to `path`.
    pub fn write_kubeconfig(&self, path: &std::path::Path) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig_yaml())
    }

    /// kube's real client, pointed at this server.
    pub fn client(&self) -> kube::Client {
        match kube::Client::try_from(self.config()) {
            Ok(client) => client,
            Err(error) => panic!("kube client for the test server: {error}"),
        }
    }

    fn with_store<T>(&self, f: impl FnOnce(&mut Store) -> (T, Vec<Arc<Change>>)) -> T {
        let mut store = lock(&self.shared.store);
        let (out, changes) = f(&mut store);
        for change in changes {
            let _ = self.shared.changes.send(change);
        }
        drop(store);
        out
    }

    /// Creates any object the server knows, by its `kind`.
    pub fn create(&self, object: Value) -> Result<Value, ApiError> {
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or("").to_owned();
        let resource = type_of_kind(&kind)
            .ok_or_else(|| ApiError::bad_request(format!("unknown kind `{kind}`")))?;
        let namespace = meta_str(&object, "namespace").map(str::to_owned);
        self.with_store(|s| match s.create(resource, namespace.as_deref(), object, None) {
            Ok((object, changes)) => (Ok(object), changes),
            Err(error) => (Err(error), Vec::new()),
        })
    }

    fn key(kind: &str, namespace: &str, name: &str) -> Option<Key> {
        let resource = type_of_kind(kind)?;
        let namespace = if resource.namespaced { namespace.to_owned() } else { String::new() };
        Some(Key { resource, namespace, name: name.to_owned() })
    }

    /// The stored object, as JSON.
    pub fn get_json(&self, kind: &str, namespace: &str, name: &str) -> Option<Value> {
        let key = Self::key(kind, namespace, name)?;
        lock(&self.shared.store).get(&key).cloned()
    }

    /// The stored object, typed.
    pub fn get<K: DeserializeOwned>(&self, kind: &str, namespace: &str, name: &str) -> Option<K> {
        self.get_json(kind, namespace, name).and_then(|v| serde_json::from_value(v).ok())
    }

    /// Every object of a kind, typed, sorted by namespace and name.
    pub fn list<K: DeserializeOwned>(&self, kind: &str) -> Vec<K> {
        let Some(resource) = type_of_kind(kind) else {
            return Vec::new();
        };
        let store = lock(&self.shared.store);
        store
            .list(resource, None)
            .into_iter()
            .filter_map(|v| serde_json::from_value(v.clone()).ok())
            .collect()
    }

    /// Merge-patches an object the way a controller of the cluster would.
    pub fn merge(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        patch: Value,
    ) -> Result<Value, ApiError> {
        let key = Self::key(kind, namespace, name)
            .ok_or_else(|| ApiError::bad_request(format!("unknown kind `{kind}`")))?;
        self.with_store(|s| match s.patch(&key, PatchKind::Merge, &patch, None, false) {
            Ok((object, changes)) => (Ok(object), changes),
            Err(error) => (Err(error), Vec::new()),
        })
    }

    fn merge_status(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        patch: Value,
    ) -> Result<Value, ApiError> {
        let key = Self::key(kind, namespace, name)
            .ok_or_else(|| ApiError::bad_request(format!("unknown kind `{kind}`")))?;
        self.with_store(|s| match s.patch(&key, PatchKind::Merge, &patch, None, true) {
            Ok((object, changes)) => (Ok(object), changes),
            Err(error) => (Err(error), Vec::new()),
        })
    }

    /// Deletes as a client would (graceful for bound pods, cascading to owned objects).
    pub fn delete(&self, kind: &str, namespace: &str, name: &str) -> Result<Value, ApiError> {
        let key = Self::key(kind, namespace, name)
            .ok_or_else(|| ApiError::bad_request(format!("unknown kind `{kind}`")))?;
        self.with_store(|s| match s.delete(&key) {
            Ok((object, changes)) => (Ok(object), changes),
            Err(error) => (Err(error), Vec::new()),
        })
    }

    /// Removes an object at once: the kubelet finishing a terminating pod.
    pub fn remove(&self, kind: &str, namespace: &str, name: &str) -> bool {
        let Some(key) = Self::key(kind, namespace, name) else {
            return false;
        };
        self.with_store(|s| {
            let changes = s.remove(&key);
            (!changes.is_empty(), changes)
        })
    }

    // --- The cluster, played by the test ---

    pub fn add_node(&self, node: TestNode) -> Result<Value, ApiError> {
        self.create(node.to_json())
    }

    pub fn cordon(&self, node: &str, cordoned: bool) -> Result<Value, ApiError> {
        self.merge("Node", "", node, json!({"spec": {"unschedulable": cordoned}}))
    }

    pub fn set_node_ready(&self, node: &str, ready: bool) -> Result<Value, ApiError> {
        let status = if ready { "True" } else { "False" };
        self.merge_status(
            "Node",
            "",
            node,
            json!({"status": {"conditions": [{"type": "Ready", "status": status}]}}),
        )
    }

    /// The kube-scheduler's part: binds a pending pod to a node.
    pub fn bind_pod(&self, namespace: &str, name: &str, node: &str) -> Result<Value, ApiError> {
        self.merge("Pod", namespace, name, json!({"spec": {"nodeName": node}}))
    }

    /// The kubelet's part: moves a pod to `Pending`, `Running`, `Succeeded` or `Failed`.
    pub fn set_pod_phase(
        &self,
        namespace: &str,
        name: &str,
        phase: &str,
    ) -> Result<Value, ApiError> {
        self.merge_status("Pod", namespace, name, json!({"status": {"phase": phase}}))
    }

    /// Closes every open watch connection.
    pub fn break_watches(&self) {
        self.shared.breaks.send_modify(|n| *n += 1);
    }

    /// Forgets the history: resuming a watch from before now gets `410 Gone`.
    pub fn compact(&self) {
        lock(&self.shared.store).compact();
    }

    /// Sends a bookmark on every watch that asked for them.
    pub fn send_bookmarks(&self) {
        self.shared.bookmarks_now.send_modify(|n| *n += 1);
    }

    pub fn set_bookmark_interval(&self, interval: Duration) {
        *lock(&self.shared.bookmark_interval) = interval;
    }

    /// The current resource version.
    pub fn resource_version(&self) -> u64 {
        lock(&self.shared.store).rv
    }

    pub fn add_fault(&self, fault: Fault) -> FaultHandle {
        let handle = FaultHandle { hit: Arc::new(Notify::new()), count: Arc::new(Mutex::new(0)) };
        lock(&self.shared.faults).push(ActiveFault { fault, seen: 0, handle: handle.clone() });
        handle
    }

    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// How many requests of a verb on a resource (`pods`, `pods/status`) the server has seen.
    pub fn request_count(&self, verb: Verb, resource: &str) -> u64 {
        lock(&self.shared.counts).get(&(verb, resource.to_owned())).copied().unwrap_or(0)
    }
}

// --- HTTP ---

struct Target {
    resource: ResourceType,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

fn parse_path(path: &str) -> Option<Target> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let (group, version, rest) = match parts.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some((*ns).to_owned()), rest),
        _ => (None, rest),
    };
    let (plural, name, subresource) = match rest {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some((*name).to_owned()), None),
        [plural, name, sub] => (*plural, Some((*name).to_owned()), Some((*sub).to_owned())),
        _ => return None,
    };
    let resource = find_type(group, version, plural)?;
    Some(Target { resource, namespace, name, subresource })
}

fn error_response(error: &ApiError) -> Response {
    let code = StatusCode::from_u16(error.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, [(header::CONTENT_TYPE, "application/json")], error.to_status().to_string())
        .into_response()
}

fn json_response(code: StatusCode, body: &Value) -> Response {
    (code, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(target) = parse_path(uri.path()) else {
        return error_response(&ApiError::new(404, "NotFound", format!("no route {}", uri.path())));
    };
    let watching = query.get("watch").is_some_and(|w| w == "1" || w == "true");
    let verb = match (&method, target.name.is_some()) {
        (&Method::GET, false) if watching => Verb::Watch,
        (&Method::GET, false) => Verb::List,
        (&Method::GET, true) => Verb::Get,
        (&Method::POST, _) => Verb::Create,
        (&Method::PUT, _) => Verb::Replace,
        (&Method::PATCH, _) => Verb::Patch,
        (&Method::DELETE, _) => Verb::Delete,
        _ => return error_response(&ApiError::new(405, "MethodNotAllowed", "method not allowed")),
    };
    let counted = match &target.subresource {
        Some(sub) => format!("{}/{sub}", target.resource.plural),
        None => target.resource.plural.to_owned(),
    };
    *lock(&shared.counts).entry((verb, counted)).or_insert(0) += 1;

    let fault = {
        let mut faults = lock(&shared.faults);
        faults.iter_mut().find_map(|active| {
            let f = &active.fault;
            let matches = f.verb == verb
                && f.plural == target.resource.plural
                && f.subresource == target.subresource.as_deref();
            if !matches {
                return None;
            }
            active.seen += 1;
            (active.seen > f.skip).then(|| (f.action, active.handle.clone()))
        })
    };
    let mut hang_after = None;
    if let Some((action, handle)) = fault {
        *lock(&handle.count) += 1;
        handle.hit.notify_waiters();
        match action {
            FaultAction::Fail(code) => {
                return error_response(&ApiError::new(code, "InternalError", "injected fault"));
            }
            FaultAction::HangBefore => {
                futures::future::pending::<()>().await;
            }
            FaultAction::HangAfter => hang_after = Some(handle),
        }
    }

    let response = match verb {
        Verb::Watch => return watch_response(&shared, &target, &query),
        Verb::List => list(&shared, &target, &query),
        _ => write(&shared, &target, verb, &query, &headers, &body),
    };
    if hang_after.is_some() {
        futures::future::pending::<()>().await;
    }
    response.unwrap_or_else(|error| error_response(&error))
}

fn selectors(query: &HashMap<String, String>) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let labels = LabelSelector::parse(query.get("labelSelector").map_or("", String::as_str))?;
    let fields = FieldSelector::parse(query.get("fieldSelector").map_or("", String::as_str))?;
    Ok((labels, fields))
}

fn list(
    shared: &Shared,
    target: &Target,
    query: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let (labels, fields) = selectors(query)?;
    let limit = query.get("limit").and_then(|l| l.parse::<usize>().ok()).filter(|l| *l > 0);
    // A continue token is `<list rv>:<namespace>/<name>` of the last item sent.
    let after = query.get("continue").filter(|c| !c.is_empty()).and_then(|c| {
        let (rv, key) = c.split_once(':')?;
        let (ns, name) = key.split_once('/')?;
        Some((rv.parse::<u64>().ok()?, ns.to_owned(), name.to_owned()))
    });
    let store = lock(&shared.store);
    let list_rv = after.as_ref().map_or(store.rv, |(rv, _, _)| *rv);
    let mut items = Vec::new();
    let mut next = None;
    for object in store.list(target.resource, target.namespace.as_deref()) {
        let ns = meta_str(object, "namespace").unwrap_or("");
        let name = meta_str(object, "name").unwrap_or("");
        if let Some((_, after_ns, after_name)) = &after
            && (ns, name) <= (after_ns.as_str(), after_name.as_str())
        {
            continue;
        }
        if !(labels.matches(object) && fields.matches(object)) {
            continue;
        }
        if limit.is_some_and(|l| items.len() == l) {
            next = items.last().map(|last: &Value| {
                format!(
                    "{list_rv}:{}/{}",
                    meta_str(last, "namespace").unwrap_or(""),
                    meta_str(last, "name").unwrap_or("")
                )
            });
            break;
        }
        items.push(object.clone());
    }
    let mut metadata = json!({"resourceVersion": list_rv.to_string()});
    if let Some(token) = next {
        metadata["continue"] = json!(token);
    }
    let body = json!({
        "apiVersion": target.resource.api_version(),
        "kind": format!("{}List", target.resource.kind),
        "metadata": metadata,
        "items": items,
    });
    Ok(json_response(StatusCode::OK, &body))
}

fn write(
    shared: &Shared,
    target: &Target,
    verb: Verb,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let parsed = || -> Result<Value, ApiError> {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("invalid body: {e}")))
    };
    let manager = query.get("fieldManager").map(String::as_str);
    let namespace = target.namespace.clone().unwrap_or_default();
    let key = |name: &str| Key {
        resource: target.resource,
        namespace: if target.resource.namespaced { namespace.clone() } else { String::new() },
        name: name.to_owned(),
    };
    let status_only = target.subresource.as_deref() == Some("status");
    let mut store = lock(&shared.store);
    let (code, result) = match (verb, &target.name, target.subresource.as_deref()) {
        (Verb::Get, Some(name), None | Some("status")) => {
            let object = store.get(&key(name)).cloned();
            let object = object.ok_or_else(|| ApiError::not_found(target.resource, name))?;
            return Ok(json_response(StatusCode::OK, &object));
        }
        (Verb::Create, None, None) => (
            StatusCode::CREATED,
            store.create(target.resource, target.namespace.as_deref(), parsed()?, manager)?,
        ),
        (Verb::Create, Some(name), Some("binding")) if target.resource.kind == "Pod" => {
            let binding = parsed()?;
            let node = binding.pointer("/target/name").and_then(Value::as_str).unwrap_or("");
            let patch = json!({"spec": {"nodeName": node}});
            store.patch(&key(name), PatchKind::Merge, &patch, None, false)?;
            drop(store);
            return Ok(json_response(
                StatusCode::CREATED,
                &json!({"kind": "Status", "status": "Success"}),
            ));
        }
        (Verb::Replace, Some(name), None | Some("status")) => {
            (StatusCode::OK, store.replace(&key(name), parsed()?, status_only)?)
        }
        (Verb::Patch, Some(name), None | Some("status")) => {
            let content_type =
                headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
            let kind = match content_type {
                "application/merge-patch+json" => PatchKind::Merge,
                "application/strategic-merge-patch+json" => PatchKind::Strategic,
                "application/json-patch+json" => PatchKind::Json,
                "application/apply-patch+yaml" => {
                    PatchKind::Apply { force: query.get("force").is_some_and(|f| f == "true") }
                }
                other => {
                    return Err(ApiError::new(
                        415,
                        "UnsupportedMediaType",
                        format!("content type `{other}`"),
                    ));
                }
            };
            (StatusCode::OK, store.patch(&key(name), kind, &parsed()?, manager, status_only)?)
        }
        (Verb::Delete, Some(name), None) => (StatusCode::OK, store.delete(&key(name))?),
        _ => {
            return Err(ApiError::new(405, "MethodNotAllowed", "not supported by the test server"));
        }
    };
    let (object, changes) = result;
    for change in changes {
        let _ = shared.changes.send(change);
    }
    drop(store);
    Ok(json_response(code, &object))
}

fn event_line(kind: &str, object: &Value) -> Vec<u8> {
    let mut line = json!({"type": kind, "object": object}).to_string().into_bytes();
    line.push(b'\n');
    line
}

fn bookmark_line(resource: ResourceType, rv: u64) -> Vec<u8> {
    let object = json!({
        "apiVersion": resource.api_version(),
        "kind": resource.kind,
        "metadata": {"resourceVersion": rv.to_string()},
    });
    event_line("BOOKMARK", &object)
}

/// What one change looks like to a watch with selectors, if anything.
fn filtered(
    change: &Change,
    target: &Target,
    labels: &LabelSelector,
    fields: &FieldSelector,
) -> Option<Vec<u8>> {
    if change.resource != target.resource {
        return None;
    }
    if let Some(ns) = &target.namespace
        && meta_str(&change.object, "namespace") != Some(ns.as_str())
    {
        return None;
    }
    let selected = |o: &Value| labels.matches(o) && fields.matches(o);
    let now = selected(&change.object);
    let before = change.old.as_ref().is_some_and(selected);
    let kind = match change.kind {
        ChangeKind::Added if now => "ADDED",
        ChangeKind::Deleted if now => "DELETED",
        ChangeKind::Modified if now && before => "MODIFIED",
        ChangeKind::Modified if now => "ADDED",
        ChangeKind::Modified if before => "DELETED",
        _ => return None,
    };
    Some(event_line(kind, &change.object))
}

fn watch_response(
    shared: &Arc<Shared>,
    target: &Target,
    query: &HashMap<String, String>,
) -> Response {
    let (labels, fields) = match selectors(query) {
        Ok(selectors) => selectors,
        Err(error) => return error_response(&error),
    };
    let bookmarks = query.get("allowWatchBookmarks").is_some_and(|b| b == "true");
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map_or(Duration::from_secs(290), Duration::from_secs);
    let from =
        query.get("resourceVersion").and_then(|rv| rv.parse::<u64>().ok()).filter(|rv| *rv > 0);

    // Under the store's lock: the backlog and the subscription, so nothing falls between them.
    let (backlog, mut changes, current_rv) = {
        let store = lock(&shared.store);
        let changes = shared.changes.subscribe();
        let backlog: Result<Vec<Vec<u8>>, u64> = match from {
            Some(rv) => match store.changes_since(rv) {
                Some(list) => {
                    Ok(list.iter().filter_map(|c| filtered(c, target, &labels, &fields)).collect())
                }
                None => Err(rv),
            },
            None => Ok(store
                .list(target.resource, target.namespace.as_deref())
                .into_iter()
                .filter(|o| labels.matches(o) && fields.matches(o))
                .map(|o| event_line("ADDED", o))
                .collect()),
        };
        (backlog, changes, store.rv)
    };
    let resource = target.resource;
    let target =
        Target { resource, namespace: target.namespace.clone(), name: None, subresource: None };
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(256);
    let mut breaks = shared.breaks.subscribe();
    let mut bookmarks_now = shared.bookmarks_now.subscribe();
    let interval = *lock(&shared.bookmark_interval);
    tokio::spawn(async move {
        let backlog = match backlog {
            Ok(lines) => lines,
            Err(rv) => {
                let gone = ApiError::new(
                    410,
                    "Expired",
                    format!("too old resource version: {rv} ({current_rv})"),
                );
                let _ = tx.send(event_line("ERROR", &gone.to_status())).await;
                return;
            }
        };
        for line in backlog {
            if tx.send(line).await.is_err() {
                return;
            }
        }
        let mut last_rv = current_rv;
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(interval);
        ticker.tick().await;
        loop {
            let line = tokio::select! {
                change = changes.recv() => match change {
                    Ok(change) => {
                        last_rv = last_rv.max(change.rv);
                        match filtered(&change, &target, &labels, &fields) {
                            Some(line) => line,
                            None => continue,
                        }
                    }
                    // A watch too slow to keep up is closed, as the real server does.
                    Err(_) => return,
                },
                _ = breaks.changed() => return,
                _ = &mut deadline => return,
                _ = tx.closed() => return,
                _ = ticker.tick(), if bookmarks => bookmark_line(resource, last_rv),
                _ = bookmarks_now.changed(), if bookmarks => bookmark_line(resource, last_rv),
            };
            if tx.send(line).await.is_err() {
                return;
            }
        }
    });
    let stream = futures::stream::poll_fn(move |cx| {
        rx.poll_recv(cx).map(|line| line.map(Ok::<_, std::io::Error>))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
