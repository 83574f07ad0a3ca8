//! Resource amounts as Kubernetes counts them: CPU in millicores, memory in bytes, pod slots,
//! and extended resources (GPUs and the like) by name.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// A name of an extended resource, such as `nvidia.com/gpu`.
pub type ResourceName = Arc<str>;

/// An amount of every resource a pod can request or a node can offer.
///
/// `extended` is kept sorted by name with no zero entries, so two equal amounts compare equal
/// and an amount without extended resources allocates nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Resources {
    pub cpu_millis: i64,
    pub memory_bytes: i64,
    pub pods: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extended: Vec<(ResourceName, i64)>,
}

/// The resource a shortfall is about, for blocking and rejection reasons.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ResourceKind {
    Cpu,
    Memory,
    Pods,
    Extended(ResourceName),
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResourceKind::Cpu => f.write_str("cpu"),
            ResourceKind::Memory => f.write_str("memory"),
            ResourceKind::Pods => f.write_str("pods"),
            ResourceKind::Extended(name) => f.write_str(name),
        }
    }
}

impl Resources {
    pub const ZERO: Resources =
        Resources { cpu_millis: 0, memory_bytes: 0, pods: 0, extended: Vec::new() };

    /// The request of one pod: its CPU and memory, and one pod slot.
    pub fn pod(cpu_millis: i64, memory_bytes: i64) -> Resources {
        Resources { cpu_millis, memory_bytes, pods: 1, extended: Vec::new() }
    }

    /// Adds an extended resource amount, keeping the list sorted and free of zeros.
    pub fn with_extended(mut self, name: impl Into<ResourceName>, amount: i64) -> Resources {
        let name = name.into();
        match self.extended.binary_search_by(|(n, _)| n.as_ref().cmp(name.as_ref())) {
            Ok(at) => self.extended[at].1 += amount,
            Err(at) => self.extended.insert(at, (name, amount)),
        }
        self.extended.retain(|(_, amount)| *amount != 0);
        self
    }

    /// The amount of one extended resource, zero when absent.
    pub fn extended_amount(&self, name: &str) -> i64 {
        self.extended
            .binary_search_by(|(n, _)| n.as_ref().cmp(name))
            .map_or(0, |at| self.extended[at].1)
    }

    /// The amount of the given kind.
    pub fn amount(&self, kind: &ResourceKind) -> i64 {
        match kind {
            ResourceKind::Cpu => self.cpu_millis,
            ResourceKind::Memory => self.memory_bytes,
            ResourceKind::Pods => self.pods,
            ResourceKind::Extended(name) => self.extended_amount(name),
        }
    }

    /// Every kind this amount names: CPU, memory, pods, then extended resources by name.
    pub fn kinds(&self) -> impl Iterator<Item = ResourceKind> + '_ {
        [ResourceKind::Cpu, ResourceKind::Memory, ResourceKind::Pods]
            .into_iter()
            .chain(self.extended.iter().map(|(name, _)| ResourceKind::Extended(name.clone())))
    }

    pub fn add(&mut self, other: &Resources) {
        self.cpu_millis += other.cpu_millis;
        self.memory_bytes += other.memory_bytes;
        self.pods += other.pods;
        if !other.extended.is_empty() {
            self.merge_extended(other, 1);
        }
    }

    pub fn sub(&mut self, other: &Resources) {
        self.cpu_millis -= other.cpu_millis;
        self.memory_bytes -= other.memory_bytes;
        self.pods -= other.pods;
        if !other.extended.is_empty() {
            self.merge_extended(other, -1);
        }
    }

    /// `self × n`, for `n` identical pods.
    pub fn times(&self, n: u32) -> Resources {
        let n = i64::from(n);
        Resources {
            cpu_millis: self.cpu_millis * n,
            memory_bytes: self.memory_bytes * n,
            pods: self.pods * n,
            extended: self
                .extended
                .iter()
                .map(|(name, amount)| (name.clone(), amount * n))
                .filter(|(_, amount)| *amount != 0)
                .collect(),
        }
    }

    /// Component-wise maximum, as Kubernetes takes it for init containers.
    pub fn max_each(&self, other: &Resources) -> Resources {
        let mut out = Resources {
            cpu_millis: self.cpu_millis.max(other.cpu_millis),
            memory_bytes: self.memory_bytes.max(other.memory_bytes),
            pods: self.pods.max(other.pods),
            extended: Vec::new(),
        };
        for kind in self.kinds().chain(other.kinds()) {
            if let ResourceKind::Extended(name) = kind {
                let amount = self.extended_amount(&name).max(other.extended_amount(&name));
                if out.extended_amount(&name) == 0 {
                    out = out.with_extended(name, amount);
                }
            }
        }
        out
    }

    /// True when `self` holds at least `request` of every resource.
    pub fn covers(&self, request: &Resources) -> bool {
        self.cpu_millis >= request.cpu_millis
            && self.memory_bytes >= request.memory_bytes
            && self.pods >= request.pods
            && (request.extended.is_empty() || self.covers_extended(request))
    }

    fn covers_extended(&self, request: &Resources) -> bool {
        request.extended.iter().all(|(name, amount)| self.extended_amount(name) >= *amount)
    }

    /// The first resource, in the order CPU, memory, pods, extended, that `self` lacks for
    /// `request`, with the shortfall.
    pub fn first_shortfall(&self, request: &Resources) -> Option<(ResourceKind, i64)> {
        request.kinds().find_map(|kind| {
            let gap = request.amount(&kind) - self.amount(&kind);
            (gap > 0).then_some((kind, gap))
        })
    }

    /// True when no amount is negative.
    pub fn is_non_negative(&self) -> bool {
        self.cpu_millis >= 0
            && self.memory_bytes >= 0
            && self.pods >= 0
            && self.extended.iter().all(|(_, amount)| *amount >= 0)
    }

    fn merge_extended(&mut self, other: &Resources, sign: i64) {
        for (name, amount) in &other.extended {
            match self.extended.binary_search_by(|(n, _)| n.as_ref().cmp(name.as_ref())) {
                Ok(at) => self.extended[at].1 += sign * amount,
                Err(at) => self.extended.insert(at, (name.clone(), sign * amount)),
            }
        }
        self.extended.retain(|(_, amount)| *amount != 0);
    }
}

impl fmt::Display for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cpu {}, memory {}",
            crate::quantity::format_cpu(self.cpu_millis),
            crate::quantity::format_bytes(self.memory_bytes)
        )?;
        for (name, amount) in &self.extended {
            write!(f, ", {name} {amount}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extended_amounts_stay_sorted_and_cancel_out() {
        let gpu = Resources::pod(1000, 1 << 30).with_extended("nvidia.com/gpu", 2);
        let mut sum = Resources::ZERO.clone().with_extended("a.io/x", 1);
        sum.add(&gpu);
        assert_eq!(sum.extended.len(), 2);
        assert_eq!(sum.extended[0].0.as_ref(), "a.io/x");
        sum.sub(&gpu);
        assert_eq!(sum.extended.len(), 1);
        assert_eq!(sum.cpu_millis, 0);
    }

    #[test]
    fn shortfall_names_the_first_missing_resource() {
        let free = Resources::pod(2000, 1 << 30);
        let request = Resources::pod(1000, 2 << 30);
        assert_eq!(free.first_shortfall(&request), Some((ResourceKind::Memory, 1 << 30)));
        assert!(!free.covers(&request));
        let gpu = Resources::pod(1, 1).with_extended("nvidia.com/gpu", 1);
        assert_eq!(
            free.first_shortfall(&gpu),
            Some((ResourceKind::Extended("nvidia.com/gpu".into()), 1))
        );
    }

    #[test]
    fn init_container_maximum_is_componentwise() {
        let a = Resources::pod(500, 4 << 30).with_extended("g", 1);
        let b = Resources::pod(1500, 1 << 30);
        let m = a.max_each(&b);
        assert_eq!((m.cpu_millis, m.memory_bytes, m.extended_amount("g")), (1500, 4 << 30, 1));
    }
}
