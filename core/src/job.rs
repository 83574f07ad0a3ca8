//! The job model: what one run of a Spark application asks of the scheduler.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::resources::Resources;

/// Milliseconds: from the scenario's start in simulation, from the Unix epoch live.
pub type Millis = u64;

/// The longest time a simulation takes as input, a century (of 365-day years): any longer
/// duration or instant in a scenario or trace is an input mistake, and sums of such times stay
/// far from overflowing.
pub const MAX_INPUT_MS: Millis = 100 * 365 * 86_400_000;

/// A job's identity inside one scheduler. The caller assigns it and keeps it unique.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct JobId(pub u64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Priority {
    High,
    Normal,
}

impl Priority {
    pub const ALL: [Priority; 2] = [Priority::High, Priority::Normal];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::High => "high",
            Priority::Normal => "normal",
        }
    }

    /// 0 for high, 1 for normal: an index into per-priority arrays.
    pub fn index(self) -> usize {
        match self {
            Priority::High => 0,
            Priority::Normal => 1,
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a job goes through the queue or is launched at once as if sparkq were not there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flow {
    Orchestrated,
    Legacy,
}

impl Flow {
    pub fn as_str(self) -> &'static str {
        match self {
            Flow::Orchestrated => "orchestrated",
            Flow::Legacy => "legacy",
        }
    }
}

impl fmt::Display for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The pods a job needs at admission: one driver and `executors` identical executors.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct JobPods {
    pub driver: Resources,
    pub executor: Resources,
    pub executors: u32,
}

impl JobPods {
    /// The sum of every pod's request.
    pub fn total(&self) -> Resources {
        let mut total = self.driver.clone();
        total.add(&self.executor.times(self.executors));
        total
    }

    /// The number of pods: the driver and the counted executors.
    pub fn pod_count(&self) -> u32 {
        1 + self.executors
    }

    /// The request of pod `index`: 0 is the driver, 1.. are executors.
    pub fn request(&self, index: u32) -> &Resources {
        if index == 0 { &self.driver } else { &self.executor }
    }
}

/// Which pod of a job: the driver or an executor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PodRole {
    Driver,
    Executor,
}

impl PodRole {
    pub fn of_index(index: u32) -> PodRole {
        if index == 0 { PodRole::Driver } else { PodRole::Executor }
    }
}

impl fmt::Display for PodRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PodRole::Driver => "driver",
            PodRole::Executor => "executor",
        })
    }
}

/// The effect of a taint, as in Kubernetes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Taint {
    pub key: Arc<str>,
    #[serde(default)]
    pub value: Option<Arc<str>>,
    pub effect: TaintEffect,
}

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum TolerationOperator {
    #[default]
    Equal,
    Exists,
}

/// A toleration, matched against taints by Kubernetes' rules: an empty key with `Exists`
/// tolerates every taint; an absent effect matches every effect.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Toleration {
    #[serde(default)]
    pub key: Option<Arc<str>>,
    #[serde(default)]
    pub operator: TolerationOperator,
    #[serde(default)]
    pub value: Option<Arc<str>>,
    #[serde(default)]
    pub effect: Option<TaintEffect>,
}

impl Toleration {
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if self.effect.is_some_and(|effect| effect != taint.effect) {
            return false;
        }
        match (&self.key, self.operator) {
            (None, TolerationOperator::Exists) => true,
            (None, TolerationOperator::Equal) => false,
            (Some(key), _) if *key != taint.key => false,
            (Some(_), TolerationOperator::Exists) => true,
            (Some(_), TolerationOperator::Equal) => {
                self.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
            }
        }
    }
}

/// Where a job's pods may go: a node selector and the taints they tolerate.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Constraints {
    /// Label key and value pairs, sorted by key.
    pub node_selector: Vec<(Arc<str>, Arc<str>)>,
    pub tolerations: Vec<Toleration>,
}

impl Constraints {
    /// True when no taint that blocks scheduling (`NoSchedule`, `NoExecute`) is left untolerated.
    pub fn tolerates_all(&self, taints: &[Taint]) -> bool {
        taints.iter().all(|taint| {
            taint.effect == TaintEffect::PreferNoSchedule
                || self.tolerations.iter().any(|t| t.tolerates(taint))
        })
    }

    /// True when every selector label is on the node with the same value.
    pub fn selects(&self, labels: &[(Arc<str>, Arc<str>)]) -> bool {
        self.node_selector.iter().all(|(key, value)| {
            labels
                .binary_search_by(|(k, _)| k.as_ref().cmp(key.as_ref()))
                .is_ok_and(|at| labels[at].1 == *value)
        })
    }
}

/// Everything the scheduler needs to know of a job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    pub id: JobId,
    pub name: Arc<str>,
    pub namespace: Arc<str>,
    pub domain: Arc<str>,
    pub priority: Priority,
    pub flow: Flow,
    pub pods: JobPods,
    /// Shared between the jobs of one class, so a million jobs do not hold a million copies.
    pub constraints: Arc<Constraints>,
    /// The declared estimate of the run time, used by `backfill`.
    pub expected_duration_ms: Option<Millis>,
}

/// Where a job is in its life. `Succeeded`, `Failed`, `Cancelled` and `Rejected` are final.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Queued,
    Admitted,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    Rejected,
}

impl Phase {
    pub const ALL: [Phase; 7] = [
        Phase::Queued,
        Phase::Admitted,
        Phase::Running,
        Phase::Succeeded,
        Phase::Failed,
        Phase::Cancelled,
        Phase::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Queued => "queued",
            Phase::Admitted => "admitted",
            Phase::Running => "running",
            Phase::Succeeded => "succeeded",
            Phase::Failed => "failed",
            Phase::Cancelled => "cancelled",
            Phase::Rejected => "rejected",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, Phase::Succeeded | Phase::Failed | Phase::Cancelled | Phase::Rejected)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str, value: Option<&str>, effect: TaintEffect) -> Taint {
        Taint { key: key.into(), value: value.map(Into::into), effect }
    }

    #[test]
    fn tolerations_follow_kubernetes_matching_rules() {
        let gpu = taint("dedicated", Some("gpu"), TaintEffect::NoSchedule);
        let exists_all = Toleration {
            key: None,
            operator: TolerationOperator::Exists,
            value: None,
            effect: None,
        };
        let equal = Toleration {
            key: Some("dedicated".into()),
            operator: TolerationOperator::Equal,
            value: Some("gpu".into()),
            effect: Some(TaintEffect::NoSchedule),
        };
        let wrong_value = Toleration { value: Some("cpu".into()), ..equal.clone() };
        let wrong_effect = Toleration { effect: Some(TaintEffect::NoExecute), ..equal.clone() };
        assert!(exists_all.tolerates(&gpu));
        assert!(equal.tolerates(&gpu));
        assert!(!wrong_value.tolerates(&gpu));
        assert!(!wrong_effect.tolerates(&gpu));

        let none = Constraints::default();
        assert!(!none.tolerates_all(std::slice::from_ref(&gpu)));
        assert!(none.tolerates_all(&[taint("soft", None, TaintEffect::PreferNoSchedule)]));
    }

    #[test]
    fn selector_needs_every_label_with_its_value() {
        let labels: Vec<(Arc<str>, Arc<str>)> =
            vec![("pool".into(), "gpu".into()), ("zone".into(), "a".into())];
        let c = |pairs: &[(&str, &str)]| Constraints {
            node_selector: pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
            tolerations: vec![],
        };
        assert!(c(&[]).selects(&labels));
        assert!(c(&[("pool", "gpu")]).selects(&labels));
        assert!(!c(&[("pool", "cpu")]).selects(&labels));
        assert!(!c(&[("rack", "1")]).selects(&labels));
    }
}
