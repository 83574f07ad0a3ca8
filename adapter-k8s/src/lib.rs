//! sparkq's live adapter: the same scheduling core as the simulator, on a real cluster.
//!
//! - [`crd`]: the `SparkJob` custom resource, the durable intake and record of every job;
//! - [`view`]: Nodes and Pods read as the core's view of the cluster;
//! - [`launcher`]: what an admitted job's launch creates (a driver pod or a SparkApplication);
//! - [`controller`]: watches feed the core, one loop runs the cycles and carries out decisions;
//! - [`api`] and [`metrics`]: the HTTP API and the Prometheus exporter;
//! - [`serve`]: `sparkq serve`, with leader election;
//! - `testkit` (feature `testkit`): an in-process Kubernetes API server for tests.

pub mod api;
pub mod controller;
pub mod crd;
pub mod launcher;
pub mod metrics;
pub mod serve;
pub mod spark_conf;
pub mod token;
pub mod view;

#[cfg(feature = "testkit")]
pub mod testkit;

pub use crd::{SparkJob, SparkJobSpec, SparkJobStatus, crd_yaml};
pub use serve::{Adapter, ServeOptions, Settings, serve};

/// RFC 7386 JSON merge patch: `null` removes a field, objects merge, anything else replaces.
pub(crate) fn merge_json(target: &mut serde_json::Value, patch: &serde_json::Value) {
    let serde_json::Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = serde_json::Value::Object(serde_json::Map::new());
    }
    if let serde_json::Value::Object(target_map) = target {
        for (key, value) in patch_map {
            if value.is_null() {
                target_map.remove(key);
            } else {
                merge_json(target_map.entry(key.clone()).or_insert(serde_json::Value::Null), value);
            }
        }
    }
}
