//! How Kubernetes objects read as the core's view of the cluster: a Node as a `NodeSpec`, a
//! Pod as the request it holds on its node, and the labels that tie a pod to its job.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Container, Node, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use sparkq_core::quantity::{parse_bytes, parse_count, parse_cpu_millis};
use sparkq_core::{NodeSpec, PodRole, Resources, Taint};

use crate::crd::parse_taint_effect;

/// The label sparkq puts on every pod of a job: the job's name (its namespace is the pod's).
pub const JOB_LABEL: &str = "sparkq.io/job";
/// Spark's label for the pod's role: `driver` or `executor`.
pub const ROLE_LABEL: &str = "spark-role";
/// Spark's label for the application id.
pub const APP_ID_LABEL: &str = "spark-app-selector";
/// Spark's label for the application name.
pub const APP_NAME_LABEL: &str = "spark-app-name";

/// Resources that are not scheduled by requests (or not by sparkq) and so are not tracked.
fn tracked_extended(name: &str) -> bool {
    !matches!(name, "cpu" | "memory" | "pods" | "ephemeral-storage")
        && !name.starts_with("hugepages-")
        && !name.starts_with("attachable-volumes-")
}

fn quantity_map(map: Option<&BTreeMap<String, Quantity>>, what: &str) -> Resources {
    let mut out = Resources::ZERO;
    let Some(map) = map else {
        return out;
    };
    for (name, quantity) in map {
        let text = quantity.0.as_str();
        let parsed = match name.as_str() {
            "cpu" => parse_cpu_millis(text).map(|v| out.cpu_millis = v),
            "memory" => parse_bytes(text).map(|v| out.memory_bytes = v),
            "pods" => parse_count(text).map(|v| out.pods = v),
            other if tracked_extended(other) => match parse_count(text) {
                Ok(v) => {
                    out = std::mem::take(&mut out).with_extended(other, v);
                    Ok(())
                }
                Err(e) => Err(e),
            },
            _ => Ok(()),
        };
        if let Err(error) = parsed {
            tracing::warn!(%what, resource = %name, quantity = %text, %error, "unreadable quantity ignored");
        }
    }
    out
}

/// A node as the core sees it. `None` for a node without a name.
pub fn node_spec(node: &Node) -> Option<NodeSpec> {
    let name: Arc<str> = node.metadata.name.as_deref()?.into();
    let status = node.status.as_ref();
    let allocatable = quantity_map(status.and_then(|s| s.allocatable.as_ref()), &name);
    let mut labels: Vec<(Arc<str>, Arc<str>)> = node
        .metadata
        .labels
        .iter()
        .flatten()
        .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
        .collect();
    labels.sort();
    let spec = node.spec.as_ref();
    let taints = spec
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some(Taint {
                key: t.key.as_str().into(),
                value: t.value.as_deref().filter(|v| !v.is_empty()).map(Into::into),
                effect: parse_taint_effect(&t.effect)?,
            })
        })
        .collect();
    let cordoned = spec.and_then(|s| s.unschedulable).unwrap_or(false);
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    Some(NodeSpec { name, allocatable, labels, taints, schedulable: ready && !cordoned })
}

fn container_request(container: &Container, pod: &str) -> Resources {
    let resources = container.resources.as_ref();
    let mut request = quantity_map(resources.and_then(|r| r.requests.as_ref()), pod);
    // Kubernetes defaults a missing request to the limit.
    let limits = quantity_map(resources.and_then(|r| r.limits.as_ref()), pod);
    let requests = resources.and_then(|r| r.requests.as_ref());
    let has = |name: &str| requests.is_some_and(|r| r.contains_key(name));
    if !has("cpu") {
        request.cpu_millis = limits.cpu_millis;
    }
    if !has("memory") {
        request.memory_bytes = limits.memory_bytes;
    }
    for (name, amount) in &limits.extended {
        if !has(name) {
            request = request.with_extended(name.clone(), *amount);
        }
    }
    request
}

/// What a pod asks of its node, as kube-scheduler computes it: the sum of its containers, or
/// its largest init container if larger, plus the pod overhead; one pod slot.
pub fn pod_request(pod: &Pod) -> Resources {
    let name = pod.metadata.name.as_deref().unwrap_or("");
    let Some(spec) = pod.spec.as_ref() else {
        return Resources::pod(0, 0);
    };
    let mut apps = Resources::ZERO;
    for container in &spec.containers {
        apps.add(&container_request(container, name));
    }
    let mut request = apps;
    for init in spec.init_containers.iter().flatten() {
        request = request.max_each(&container_request(init, name));
    }
    request.add(&quantity_map(spec.overhead.as_ref(), name));
    request.pods = 1;
    request
}

/// The node a pod holds capacity on: bound and not finished. Terminating pods still hold it.
pub fn holding_node(pod: &Pod) -> Option<&str> {
    let node = pod.spec.as_ref()?.node_name.as_deref().filter(|n| !n.is_empty())?;
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("Pending");
    (!matches!(phase, "Succeeded" | "Failed")).then_some(node)
}

/// The job a pod belongs to, by sparkq's label, and its role by Spark's.
pub fn job_of(pod: &Pod) -> Option<(String, PodRole)> {
    let labels = pod.metadata.labels.as_ref()?;
    let job = labels.get(JOB_LABEL)?;
    let role = match labels.get(ROLE_LABEL).map(String::as_str) {
        Some("driver") => PodRole::Driver,
        Some("executor") => PodRole::Executor,
        _ => return None,
    };
    Some((job.clone(), role))
}

pub fn pod_phase(pod: &Pod) -> &str {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("Pending")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(value: serde_json::Value) -> Pod {
        serde_json::from_value(value).expect("a pod")
    }

    #[test]
    fn pod_request_takes_the_larger_of_init_and_app_containers_plus_overhead() {
        let p = pod(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {
                "containers": [
                    {"name": "a", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}},
                    {"name": "b", "resources": {"limits": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "1"}}},
                ],
                "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "2", "memory": "512Mi"}}}],
                "overhead": {"cpu": "100m", "memory": "64Mi"},
            },
        }));
        let request = pod_request(&p);
        assert_eq!(request.cpu_millis, 2100);
        assert_eq!(request.memory_bytes, (2 << 30) + (64 << 20));
        assert_eq!(request.extended_amount("nvidia.com/gpu"), 1);
        assert_eq!(request.pods, 1);
    }

    #[test]
    fn finished_pods_hold_nothing_and_terminating_ones_still_do() {
        let bound = |phase: &str, deleting: bool| {
            let mut v = serde_json::json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n1", "containers": []},
                "status": {"phase": phase}});
            if deleting {
                v["metadata"]["deletionTimestamp"] = serde_json::json!("2026-12-03T00:00:00Z");
            }
            pod(v)
        };
        assert_eq!(holding_node(&bound("Running", true)), Some("n1"));
        assert_eq!(holding_node(&bound("Succeeded", false)), None);
        assert_eq!(holding_node(&bound("Failed", false)), None);
    }

    #[test]
    fn cordoned_or_unready_nodes_are_not_schedulable() {
        let node = |unschedulable: bool, ready: &str| -> Node {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "n", "labels": {"zone": "a", "pool": "x"}},
                "spec": {"unschedulable": unschedulable, "taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]},
                "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110", "ephemeral-storage": "1Ti"},
                    "conditions": [{"type": "Ready", "status": ready}]},
            }))
            .expect("a node")
        };
        let spec = node_spec(&node(false, "True")).expect("named");
        assert!(spec.schedulable);
        assert_eq!(spec.allocatable.cpu_millis, 4000);
        assert!(spec.allocatable.extended.is_empty(), "ephemeral storage is not tracked");
        assert_eq!(spec.labels[0].0.as_ref(), "pool", "labels sorted");
        assert_eq!(spec.taints.len(), 1);
        assert!(!node_spec(&node(true, "True")).expect("named").schedulable);
        assert!(!node_spec(&node(false, "Unknown")).expect("named").schedulable);
    }
}
