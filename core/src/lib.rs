//! sparkq's scheduling core.
//!
//! Everything that decides when a Spark job may start lives here, and nothing else does: the
//! resource formulas Spark uses on Kubernetes ([`spark`]), Kubernetes quantities
//! ([`quantity`]), per-node capacity with reservations and the placement rule ([`cluster`]),
//! and the queues with their policies ([`scheduler`]).
//!
//! The core performs no I/O, never reads a clock and draws no random numbers: time comes in as
//! an argument, the view of the cluster is fed in by the caller (the simulator or the live
//! adapter), and every decision iterates ordered collections only. The same inputs give the
//! same decisions, byte for byte.

pub mod cluster;
pub mod job;
pub mod quantity;
pub mod resources;
pub mod scheduler;
pub mod spark;

pub use cluster::{Cluster, NodeId, NodeSpec, Placement};
pub use job::{
    Constraints, Flow, JobId, JobPods, JobSpec, MAX_INPUT_MS, Millis, Phase, PodRole, Priority,
    Taint, TaintEffect, Toleration, TolerationOperator,
};
pub use resources::{ResourceKind, ResourceName, Resources};
pub use scheduler::{Policy, Scheduler, SchedulerConfig, WaitReason};
