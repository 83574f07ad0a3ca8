//! sparkq's live adapter: the same scheduling core as the simulator, on a real cluster.
//!
//! - [`crd`]: the `SparkJob` custom resource, the durable intake and record of every job;
//! - [`view`]: Nodes and Pods read as the core's view of the cluster;
//! - [`launcher`]: what an admitted job's launch creates (a driver pod or a SparkApplication);
//! - [`controller`]: watches feed the core, one loop runs the cycles and carries out decisions;
//! - [`api`] and [`metrics`]: the HTTP API and the Prometheus exporter;
//! - [`serve`]: `sparkq serve`, with leader election;
//! - `testkit` (feature `testkit`): an in-process Kubernetes API server for tests.

pub mod crd;
pub mod launcher;
pub mod metrics;
pub mod spark_conf;
pub mod view;

#[cfg(feature = "testkit")]
pub mod testkit;

pub use crd::{SparkJob, SparkJobSpec, SparkJobStatus, crd_yaml};
