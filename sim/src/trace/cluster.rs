//! A real cluster as a starting point: `kubectl get nodes -o json`, and optionally
//! `kubectl get pods -A -o json` for the load already on it.
//!
//! Nodes become pools of identical nodes: same allocatable, same labels (less those that name
//! one node, such as `kubernetes.io/hostname`), same taints. A node that is cordoned or not Ready
//! is cordoned at time zero, so it offers nothing, as SPEC §3 says. Every quantity is read by
//! [`sparkq_core::quantity`], exactly as the API server reads it: `500m`, `2`, `1.5`, `4Gi`,
//! `4G`, `128974848` and `129e6` all mean what they mean to Kubernetes, and anything else is an
//! error naming the node or pod, the field and the text.
//!
//! Pods that hold capacity (bound to a node and not finished: `Running`, or `Pending` with a
//! node) become background load: their effective requests (the larger of the app containers'
//! sum and the largest init container, plus the pod overhead), grouped by pool and request.
//!
//! An approximation, by choice: background pods are placed by the simulator's stand-in for
//! kube-scheduler within their pool, not pinned to the node they run on (the scenario format
//! has no per-node pods), so the packing of a busy cluster can differ from the real one.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use sparkq_core::quantity::{QuantityError, parse_bytes, parse_count, parse_cpu_millis};
use sparkq_core::{
    Constraints, Priority, Resources, Taint, TaintEffect, Toleration, TolerationOperator,
};

use super::{Imported, Skipped, TraceError};
use crate::scenario::{BackgroundSpec, POOL_LABEL, PoolSpec};

/// Labels that name a single node, left out so that identical nodes share a pool.
const NODE_IDENTITY_LABELS: [&str; 2] = ["kubernetes.io/hostname", "node.kubernetes.io/name"];

/// Labels whose value names the group a node belongs to, tried in order for the pool's name.
const GROUP_LABELS: [&str; 6] = [
    "eks.amazonaws.com/nodegroup",
    "cloud.google.com/gke-nodepool",
    "kubernetes.azure.com/agentpool",
    "karpenter.sh/nodepool",
    "node.kubernetes.io/instance-type",
    "beta.kubernetes.io/instance-type",
];

/// Kubernetes' default `terminationGracePeriodSeconds`.
const DEFAULT_GRACE_MS: u64 = 30_000;

/// A node as read, before grouping.
#[derive(Clone, Debug)]
struct Node {
    name: String,
    allocatable: Resources,
    labels: Vec<(Arc<str>, Arc<str>)>,
    taints: Vec<Taint>,
    offers_nothing: bool,
}

/// The pools of a node list, which simulated node stands for which real one, and which are
/// cordoned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterNodes {
    pub pools: Vec<PoolSpec>,
    /// Real node name → (pool name, simulated node name).
    pub nodes: BTreeMap<String, (Arc<str>, String)>,
    /// Simulated names of nodes that are cordoned or not Ready.
    pub cordoned: Vec<String>,
}

/// The items of a `kubectl get <kind> -o json` answer: a `List`, or one object of the kind.
fn items<'v>(value: &'v Value, kind: &str, origin: &str) -> Result<Vec<&'v Value>, TraceError> {
    if let Some(items) = value.get("items").and_then(Value::as_array) {
        return Ok(items.iter().collect());
    }
    if value.get("kind").and_then(Value::as_str) == Some(kind) {
        return Ok(vec![value]);
    }
    Err(TraceError::input(
        origin,
        format!(
            "has no `items` list: expected the output of `kubectl get {}s -o json`",
            kind.to_lowercase()
        ),
    ))
}

fn parse_json(text: &str, origin: &str) -> Result<Value, TraceError> {
    serde_json::from_str(text).map_err(|error| {
        TraceError::line(
            origin,
            error.line() as u64,
            format!("is not JSON ({error}): expected the output of kubectl with -o json"),
        )
    })
}

fn text_at<'v>(value: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter().try_fold(value, |value, key| value.get(key)).and_then(Value::as_str)
}

/// A quantity's text: Kubernetes writes strings, but a hand-written file may hold numbers.
fn quantity_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// Reads a `resources.requests`-like map of quantities; `what` names it in errors.
fn resource_map(map: &Value, what: &str, origin: &str) -> Result<Resources, TraceError> {
    let mut resources = Resources::ZERO.clone();
    let Some(entries) = map.as_object() else { return Ok(resources) };
    for (name, value) in entries {
        let problem = |error: String| TraceError::input(origin, format!("{what}.{name}: {error}"));
        let Some(text) = quantity_text(value) else {
            return Err(problem(format!("is {value}: expected a quantity such as 500m or 4Gi")));
        };
        let quantity_error = |error: QuantityError| problem(error.to_string());
        match name.as_str() {
            "cpu" => resources.cpu_millis = parse_cpu_millis(&text).map_err(quantity_error)?,
            "memory" => resources.memory_bytes = parse_bytes(&text).map_err(quantity_error)?,
            "pods" => resources.pods = parse_count(&text).map_err(quantity_error)?,
            other if is_extended(other) => {
                let amount = parse_count(&text).map_err(quantity_error)?;
                resources = resources.with_extended(other, amount);
            }
            // ephemeral-storage, hugepages-*: not resources sparkq schedules on.
            _ => {}
        }
    }
    Ok(resources)
}

/// Extended resources carry a domain outside `kubernetes.io` (`nvidia.com/gpu`).
fn is_extended(name: &str) -> bool {
    match name.split_once('/') {
        Some((domain, _)) => !domain.ends_with("kubernetes.io") && !name.starts_with("hugepages"),
        None => false,
    }
}

fn read_node(item: &Value, index: usize, origin: &str) -> Result<Node, TraceError> {
    let name = text_at(item, &["metadata", "name"]).ok_or_else(|| {
        TraceError::input(origin, format!("item {}: no metadata.name: expected a Node", index + 1))
    })?;
    let node_origin = format!("{origin}: node `{name}`");
    let status = item.get("status").unwrap_or(&Value::Null);
    let (field, map) = match (status.get("allocatable"), status.get("capacity")) {
        (Some(map), _) => ("status.allocatable", map),
        (None, Some(map)) => ("status.capacity", map),
        (None, None) => {
            return Err(TraceError::input(
                &node_origin,
                "no status.allocatable: expected a node as the API server reports it",
            ));
        }
    };
    let mut allocatable = resource_map(map, field, &node_origin)?;
    for (resource, present) in [("cpu", "cpu"), ("memory", "memory")] {
        if map.get(present).is_none() {
            return Err(TraceError::input(
                &node_origin,
                format!("{field} has no {resource}: expected both cpu and memory"),
            ));
        }
    }
    if map.get("pods").is_none() {
        allocatable.pods = 110;
    }

    let mut labels: Vec<(Arc<str>, Arc<str>)> = Vec::new();
    if let Some(written) = item.pointer("/metadata/labels").and_then(Value::as_object) {
        for (key, value) in written {
            let Some(value) = value.as_str() else { continue };
            let identity = NODE_IDENTITY_LABELS.contains(&key.as_str()) || value == name;
            if !identity && key != POOL_LABEL {
                labels.push((key.as_str().into(), value.into()));
            }
        }
    }
    labels.sort();

    let mut taints = Vec::new();
    if let Some(written) = item.pointer("/spec/taints").and_then(Value::as_array) {
        for taint in written {
            let key = text_at(taint, &["key"]).unwrap_or("");
            let effect = match text_at(taint, &["effect"]) {
                Some("NoSchedule") => TaintEffect::NoSchedule,
                Some("PreferNoSchedule") => TaintEffect::PreferNoSchedule,
                Some("NoExecute") => TaintEffect::NoExecute,
                other => {
                    return Err(TraceError::input(
                        &node_origin,
                        format!(
                            "taint `{key}` has effect {other:?}: expected NoSchedule, \
                             PreferNoSchedule or NoExecute"
                        ),
                    ));
                }
            };
            let value = text_at(taint, &["value"]).filter(|v| !v.is_empty()).map(Arc::from);
            taints.push(Taint { key: key.into(), value, effect });
        }
    }
    taints.sort();

    let cordoned = item.pointer("/spec/unschedulable").and_then(Value::as_bool).unwrap_or(false);
    let ready = match item.pointer("/status/conditions").and_then(Value::as_array) {
        Some(conditions) => conditions.iter().any(|condition| {
            text_at(condition, &["type"]) == Some("Ready")
                && text_at(condition, &["status"]) == Some("True")
        }),
        None => true,
    };
    Ok(Node {
        name: name.to_owned(),
        allocatable,
        labels,
        taints,
        offers_nothing: cordoned || !ready,
    })
}

/// Reads `kubectl get nodes -o json` into pools of identical nodes.
pub fn read_nodes(text: &str, origin: &str) -> Result<ClusterNodes, TraceError> {
    let value = parse_json(text, origin)?;
    let mut nodes = Vec::new();
    for (index, item) in items(&value, "Node", origin)?.into_iter().enumerate() {
        nodes.push(read_node(item, index, origin)?);
    }
    if nodes.is_empty() {
        return Err(TraceError::input(origin, "lists no nodes: expected at least one"));
    }
    nodes.sort_by(|a, b| a.name.cmp(&b.name));

    // Group identical nodes, in order of each group's first node by name.
    let mut groups: Vec<Vec<Node>> = Vec::new();
    for node in nodes {
        let same = |group: &Vec<Node>| {
            group.first().is_some_and(|first| {
                first.allocatable == node.allocatable
                    && first.labels == node.labels
                    && first.taints == node.taints
            })
        };
        match groups.iter_mut().find(|group| same(group)) {
            Some(group) => group.push(node),
            None => groups.push(vec![node]),
        }
    }

    let mut cluster =
        ClusterNodes { pools: Vec::new(), nodes: BTreeMap::new(), cordoned: Vec::new() };
    for group in groups {
        let Some(first) = group.first() else { continue };
        let base = GROUP_LABELS
            .iter()
            .find_map(|key| first.labels.iter().find(|(k, _)| k.as_ref() == *key))
            .map_or_else(|| "pool".to_owned(), |(_, value)| super::dns_label(value, "pool"));
        let base: String = base.chars().take(50).collect();
        let base = base.trim_end_matches('-');
        let mut name = base.to_owned();
        let mut suffix = 1;
        while cluster.pools.iter().any(|pool| *pool.name == *name) {
            suffix += 1;
            name = format!("{base}-{suffix}");
        }
        let name: Arc<str> = name.into();
        let mut labels = first.labels.clone();
        labels.push((POOL_LABEL.into(), name.clone()));
        labels.sort();
        let pool = PoolSpec {
            name: name.clone(),
            count: u32::try_from(group.len()).unwrap_or(u32::MAX),
            allocatable: first.allocatable.clone(),
            labels,
            taints: first.taints.clone(),
        };
        for (index, node) in group.iter().enumerate() {
            let simulated = pool.node_name(u32::try_from(index).unwrap_or(u32::MAX));
            if node.offers_nothing {
                cluster.cordoned.push(simulated.clone());
            }
            cluster.nodes.insert(node.name.clone(), (name.clone(), simulated));
        }
        cluster.pools.push(pool);
    }
    Ok(cluster)
}

/// The effective request of a pod: the app containers' sum against the largest init container,
/// resource by resource, plus the pod overhead, plus one pod slot.
fn pod_request(item: &Value, origin: &str) -> Result<Resources, TraceError> {
    let containers = |key: &str| -> Result<Vec<Resources>, TraceError> {
        let Some(list) = item.pointer(&format!("/spec/{key}")).and_then(Value::as_array) else {
            return Ok(Vec::new());
        };
        list.iter()
            .map(|container| {
                let cname = text_at(container, &["name"]).unwrap_or("?");
                let requests = container.pointer("/resources/requests").unwrap_or(&Value::Null);
                let what = format!("{key}[{cname}].resources.requests");
                resource_map(requests, &what, origin)
            })
            .collect()
    };
    let mut request = Resources::ZERO.clone();
    for container in containers("containers")? {
        request.add(&container);
    }
    for init in containers("initContainers")? {
        request = request.max_each(&init);
    }
    if let Some(overhead) = item.pointer("/spec/overhead") {
        request.add(&resource_map(overhead, "spec.overhead", origin)?);
    }
    request.pods = 1;
    Ok(request)
}

/// Reads `kubectl get pods -A -o json` into background load on the pools of `cluster`: pods
/// bound to a node and not finished, grouped by pool and request.
pub fn read_pods(
    text: &str,
    origin: &str,
    cluster: &ClusterNodes,
) -> Result<(Vec<BackgroundSpec>, Skipped), TraceError> {
    let value = parse_json(text, origin)?;
    let mut skipped = Skipped::of_items();
    let mut groups: BTreeMap<(Arc<str>, Resources), u32> = BTreeMap::new();
    for (index, item) in items(&value, "Pod", origin)?.into_iter().enumerate() {
        let position = index as u64 + 1;
        let namespace = text_at(item, &["metadata", "namespace"]).unwrap_or("default");
        let name = text_at(item, &["metadata", "name"]).unwrap_or("?");
        let phase = text_at(item, &["status", "phase"]).unwrap_or("");
        if matches!(phase, "Succeeded" | "Failed") {
            skipped.add("finished (Succeeded or Failed): holds nothing", position);
            continue;
        }
        let Some(node) = text_at(item, &["spec", "nodeName"]) else {
            skipped.add("not bound to a node: holds nothing yet", position);
            continue;
        };
        let Some((pool, _)) = cluster.nodes.get(node) else {
            skipped.add("on a node missing from the node list", position);
            continue;
        };
        let request = pod_request(item, &format!("{origin}: pod `{namespace}/{name}`"))?;
        *groups.entry((pool.clone(), request)).or_insert(0) += 1;
    }

    let tolerate_all =
        Toleration { key: None, operator: TolerationOperator::Exists, value: None, effect: None };
    let background = groups
        .into_iter()
        .enumerate()
        .map(|(index, ((pool, request), count))| BackgroundSpec {
            name: format!("running-{}", index + 1).into(),
            count,
            request,
            constraints: Arc::new(Constraints {
                node_selector: vec![(POOL_LABEL.into(), pool)],
                tolerations: vec![tolerate_all.clone()],
            }),
            priority: Priority::High,
            start_ms: 0,
            end_ms: None,
            grace_ms: DEFAULT_GRACE_MS,
        })
        .collect();
    Ok((background, skipped))
}

/// Reads a node list, and optionally a pod list, into a cluster without jobs.
pub fn import(
    nodes_text: &str,
    nodes_origin: &str,
    pods: Option<(&str, &str)>,
    name: &str,
) -> Result<Imported, TraceError> {
    let cluster = read_nodes(nodes_text, nodes_origin)?;
    let (background, skipped) = match pods {
        Some((text, origin)) => read_pods(text, origin, &cluster)?,
        None => (Vec::new(), Skipped::of_items()),
    };
    let mut notes = Vec::new();
    if !cluster.cordoned.is_empty() {
        notes.push(format!(
            "{} nodes are cordoned or not Ready: they are cordoned at time zero",
            cluster.cordoned.len()
        ));
    }
    let pods_held: u32 = background.iter().map(|b| b.count).sum();
    Ok(Imported {
        name: name.to_owned(),
        description: format!(
            "{nodes_origin}: {} nodes in {} pools, {pods_held} running pods as background load",
            cluster.nodes.len(),
            cluster.pools.len()
        ),
        pools: cluster.pools,
        background,
        cordoned: cluster.cordoned,
        jobs: Vec::new(),
        skipped,
        notes,
    })
}
