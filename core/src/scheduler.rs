//! The queues and their policies.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::job::{Millis, Priority};

/// How the next job to try is chosen and what a job that does not fit does to the cycle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// All high jobs before any normal job; the first job that does not fit stops the cycle.
    #[default]
    Strict,
    /// Smooth weighted round robin between the two queues' heads; a blocked head stops the cycle.
    Weighted,
    /// A head that does not fit is skipped and the next job is tried.
    BestEffort,
    /// EASY backfilling behind the first blocked job.
    Backfill,
}

impl Policy {
    pub const ALL: [Policy; 4] =
        [Policy::Strict, Policy::Weighted, Policy::BestEffort, Policy::Backfill];

    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Strict => "strict",
            Policy::Weighted => "weighted",
            Policy::BestEffort => "best-effort",
            Policy::Backfill => "backfill",
        }
    }
}

impl std::fmt::Display for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Policy {
    type Err = String;

    fn from_str(s: &str) -> Result<Policy, String> {
        Policy::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| {
            format!("unknown policy `{s}`: expected one of strict, weighted, best-effort, backfill")
        })
    }
}

/// Which node a pod goes to among those where it fits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlacementRule {
    /// The highest mean free CPU and memory fraction after placement (kube-scheduler's default).
    #[default]
    Spread,
    /// The lowest such score: fill nodes up before using empty ones.
    Binpack,
}

/// Whether all jobs share one pair of queues or each namespace has its own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QueueScope {
    #[default]
    Cluster,
    Namespace,
}

/// The shares of the `weighted` policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Weights {
    pub high: u32,
    pub normal: u32,
}

impl Default for Weights {
    fn default() -> Weights {
        Weights { high: 90, normal: 10 }
    }
}

/// A limit on what the admitted and running jobs of a namespace and/or priority may hold.
/// A limit that is `None` does not apply.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Quota {
    pub name: Arc<str>,
    /// The namespace it applies to; every namespace when `None`.
    pub namespace: Option<Arc<str>>,
    /// The priority it applies to; both when `None`.
    pub priority: Option<Priority>,
    pub cpu_millis: Option<i64>,
    pub memory_bytes: Option<i64>,
    pub pods: Option<i64>,
}

/// Everything that shapes the scheduler's decisions, fixed for one run or one deployment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchedulerConfig {
    pub policy: Policy,
    pub placement: PlacementRule,
    pub queue_scope: QueueScope,
    pub weights: Weights,
    /// A head blocked for longer than this goes back to the end of its queue.
    pub head_timeout_ms: Option<Millis>,
    /// How many times a timed-out head is sent back before it is cancelled.
    pub head_retries: u32,
    pub quotas: Vec<Quota>,
    /// `false` turns the orchestrator off: every job takes the legacy flow.
    pub enabled: bool,
}

impl Default for SchedulerConfig {
    fn default() -> SchedulerConfig {
        SchedulerConfig {
            policy: Policy::Strict,
            placement: PlacementRule::Spread,
            queue_scope: QueueScope::Cluster,
            weights: Weights::default(),
            head_timeout_ms: None,
            head_retries: 0,
            quotas: Vec::new(),
            enabled: true,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The scheduler.
// ---------------------------------------------------------------------------------------------

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::ops::Bound;

use crate::cluster::{Cluster, Misfit, NodeId, NodeSpec, Shortfall, show_amount};
use crate::job::{Flow, JobId, JobSpec, PodRole};
use crate::resources::{ResourceKind, Resources};

/// Adds (`sign` 1) or takes back (-1) a job's total against every quota that applies to it.
fn charge_quotas(quotas: &[Quota], used: &mut [Resources], spec: &JobSpec, sign: i64) {
    if quotas.is_empty() {
        return;
    }
    let total = spec.pods.total();
    for (quota, used) in quotas.iter().zip(used.iter_mut()) {
        if Scheduler::quota_applies(quota, spec) {
            if sign > 0 { used.add(&total) } else { used.sub(&total) }
        }
    }
}

/// Why a queued job is not running yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WaitReason {
    /// Waits behind this job, which blocks its queue.
    Behind { job: JobId, name: Arc<str> },
    /// The eligible nodes together lack this much of a resource.
    Insufficient { resource: ResourceKind, gap: i64 },
    /// Over the named quota.
    Quota { name: Arc<str> },
    /// The free capacity would suffice in sum, but no placement of the pods does.
    Fragmented,
    /// `backfill`: fits now, but could delay the reserved head.
    WouldDelay { job: JobId, name: Arc<str> },
}

impl fmt::Display for WaitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitReason::Behind { name, .. } => write!(f, "behind {name}"),
            WaitReason::Insufficient { resource, gap } => {
                write!(f, "insufficient {resource} ({} short)", show_amount(resource, *gap))
            }
            WaitReason::Quota { name } => write!(f, "quota {name}"),
            WaitReason::Fragmented => f.write_str("fragmented"),
            WaitReason::WouldDelay { name, .. } => write!(f, "would delay {name}"),
        }
    }
}

impl WaitReason {
    /// A short, low-cardinality label: `behind`, `insufficient_cpu`, `quota`, `fragmented`...
    pub fn label(&self) -> String {
        match self {
            WaitReason::Behind { .. } => "behind".into(),
            WaitReason::Insufficient { resource, .. } => match resource {
                ResourceKind::Extended(_) => "insufficient_extended".into(),
                other => format!("insufficient_{other}"),
            },
            WaitReason::Quota { .. } => "quota".into(),
            WaitReason::Fragmented => "fragmented".into(),
            WaitReason::WouldDelay { .. } => "would_delay".into(),
        }
    }
}

/// What a job submission led to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Submission {
    /// Waits in its queue; `seq` is its enqueue sequence number.
    Queued { seq: u64 },
    /// Takes the legacy flow: the caller launches it at once.
    Legacy,
    /// Can never fit on this cluster.
    Rejected { reason: String },
}

/// A decision of one scheduling cycle, for the caller to carry out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Launch the job: its pods are reserved on these nodes (index 0 is the driver); their
    /// names are in [`Scheduler::cluster`].
    Admit { job: JobId, nodes: Vec<NodeId> },
    /// The job waited at the head too long, too many times.
    Cancel { job: JobId, reason: String },
    /// The job can no longer fit on the cluster (nodes went away).
    Reject { job: JobId, reason: String },
}

/// A queue head at which the last cycle stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockedHead {
    /// The namespace of the lane, under `queue_scope: namespace`.
    pub namespace: Option<Arc<str>>,
    pub priority: Priority,
    pub job: JobId,
    pub since_ms: Millis,
    pub reason: WaitReason,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct QueueKey {
    enqueued_ms: Millis,
    seq: u64,
}

#[derive(Clone, Debug)]
struct Waiting {
    key: QueueKey,
    retries: u32,
    reason: Option<WaitReason>,
    /// The capacity epoch at which it last failed to fit: no need to try again before it moves.
    failed_epoch: Option<u64>,
    /// The driver found no node at the last try. While it alone finds none, the whole job
    /// cannot fit either, and a single search says so.
    driver_stuck: bool,
}

#[derive(Clone, Debug)]
struct Holding {
    /// Every pod's node and request, driver first.
    pods: Vec<(PodRole, NodeId, Resources)>,
    /// Indices into `pods` still held as reservations.
    reserved: Vec<usize>,
    admitted_ms: Millis,
    started_ms: Option<Millis>,
}

#[derive(Clone, Debug)]
enum State {
    Waiting(Waiting),
    Holding(Holding),
}

#[derive(Clone, Debug)]
struct Entry {
    spec: JobSpec,
    lane: Arc<str>,
    state: State,
}

/// One pair of queues with its own blocking: the whole cluster, or one namespace.
#[derive(Clone, Debug, Default)]
struct Lane {
    queues: [BTreeMap<QueueKey, JobId>; 2],
    swrr: [i64; 2],
    /// The job the last cycle stopped at, or first failed at under `best-effort`.
    blocked: Option<JobId>,
    /// Each queue's head while it is blocked, and since when.
    head_since: [Option<(JobId, Millis)>; 2],
    /// The capacity epoch at which a cycle last left this lane with nothing it could admit.
    settled_epoch: Option<u64>,
}

impl Lane {
    fn is_empty(&self) -> bool {
        self.queues.iter().all(BTreeMap::is_empty)
    }

    fn head(&self, priority: Priority) -> Option<JobId> {
        self.queues[priority.index()].values().next().copied()
    }

    /// Every job in the lane's order: high queue, then normal queue.
    fn in_order(&self) -> impl Iterator<Item = JobId> + '_ {
        self.queues[0].values().chain(self.queues[1].values()).copied()
    }

    fn after(&self, position: Option<(usize, QueueKey)>) -> Option<(usize, QueueKey, JobId)> {
        let (start_queue, bound) = match position {
            None => (0, Bound::Unbounded),
            Some((queue, key)) => (queue, Bound::Excluded(key)),
        };
        let first = self.queues[start_queue]
            .range((bound, Bound::Unbounded))
            .next()
            .map(|(key, job)| (start_queue, *key, *job));
        first.or_else(|| {
            (start_queue + 1..2).find_map(|queue| {
                self.queues[queue].iter().next().map(|(key, job)| (queue, *key, *job))
            })
        })
    }
}

/// Per-lane progress inside one cycle.
#[derive(Clone, Debug, Default)]
struct LaneCycle {
    /// `best-effort` and `backfill`: the last job tried, to resume after it.
    cursor: Option<(usize, QueueKey)>,
    /// `backfill`: the reserved head and the cluster as it will be at its shadow time.
    shadow: Option<Shadow>,
}

#[derive(Clone, Debug)]
struct Shadow {
    head: JobId,
    head_name: Arc<str>,
    at_ms: Millis,
    /// Free capacity per node slot at the shadow time, after the head is placed.
    free: BTreeMap<NodeId, Resources>,
}

/// sparkq's scheduler: the cluster view, the queues, and the decisions.
#[derive(Clone, Debug)]
pub struct Scheduler {
    config: SchedulerConfig,
    cluster: Cluster,
    /// Boxed: jobs come and go by the million, and moving a pointer inside the map is
    /// cheaper than moving the entry.
    jobs: BTreeMap<JobId, Box<Entry>>,
    lanes: BTreeMap<Arc<str>, Lane>,
    last_lane: Option<Arc<str>>,
    /// Kept between cycles for their capacity: the lanes of a cycle and whose turn it is.
    rotation: Vec<(Arc<str>, LaneCycle)>,
    turns: VecDeque<usize>,
    /// The name of the one lane under `queue_scope: cluster`, shared by every job.
    cluster_lane: Arc<str>,
    next_seq: u64,
    /// Bumped whenever capacity or quota is freed: a job that failed at the current epoch
    /// cannot fit now either.
    capacity_epoch: u64,
    /// The node epoch at which queued jobs were last checked against the empty cluster.
    checked_node_epoch: u64,
    /// Whether a job shape fits the empty cluster, for the current node epoch.
    /// By pod shape, then constraints: a lookup needs no copy of the shape.
    fit_cache: BTreeMap<crate::job::JobPods, Vec<FitVerdict>>,
    fit_cache_epoch: u64,
    /// What the admitted and running jobs hold against each quota, by quota index.
    quota_used: Vec<Resources>,
    /// Job shapes that did not fit at `capacity_epoch`, with why: a job of the same shape
    /// cannot fit either until capacity is freed.
    failed_shapes: Vec<(crate::job::JobPods, Arc<crate::job::Constraints>, WaitReason)>,
    failed_shapes_epoch: u64,
}

/// Whether a job shape with these constraints fits the empty cluster.
type FitVerdict = (Arc<crate::job::Constraints>, Result<(), String>);

const CLUSTER_LANE: &str = "";

impl Scheduler {
    pub fn new(config: SchedulerConfig) -> Scheduler {
        let quota_used = vec![Resources::ZERO; config.quotas.len()];
        Scheduler {
            cluster: Cluster::new(config.placement),
            config,
            jobs: BTreeMap::new(),
            lanes: BTreeMap::new(),
            last_lane: None,
            rotation: Vec::new(),
            turns: VecDeque::new(),
            cluster_lane: Arc::from(CLUSTER_LANE),
            next_seq: 0,
            capacity_epoch: 0,
            checked_node_epoch: 0,
            fit_cache: BTreeMap::new(),
            fit_cache_epoch: 0,
            quota_used,
            failed_shapes: Vec::new(),
            failed_shapes_epoch: 0,
        }
    }

    pub fn config(&self) -> &SchedulerConfig {
        &self.config
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    // -- The cluster view ----------------------------------------------------------------

    pub fn upsert_node(&mut self, spec: NodeSpec) -> NodeId {
        self.capacity_epoch += 1;
        self.cluster.upsert_node(spec)
    }

    /// Adds or replaces many nodes at once (see [`Cluster::upsert_nodes`]).
    pub fn upsert_nodes(&mut self, specs: impl IntoIterator<Item = NodeSpec>) -> Vec<NodeId> {
        self.capacity_epoch += 1;
        self.cluster.upsert_nodes(specs)
    }

    /// Removes a node. Reservations on it are dropped; the jobs that held them keep the rest.
    pub fn remove_node(&mut self, name: &str) {
        let Some(id) = self.cluster.node_id(name) else { return };
        for entry in self.jobs.values_mut() {
            if let State::Holding(holding) = &mut entry.state {
                holding.reserved.retain(|&i| holding.pods[i].1 != id);
            }
        }
        self.cluster.remove_node(name);
        self.capacity_epoch += 1;
    }

    pub fn set_schedulable(&mut self, name: &str, schedulable: bool) -> bool {
        self.capacity_epoch += 1;
        self.cluster.set_schedulable(name, schedulable)
    }

    /// A non-terminal pod bound to a node (terminating pods count until they are gone).
    pub fn add_pod(&mut self, node: &str, request: &Resources) -> bool {
        let Some(id) = self.cluster.node_id(node) else { return false };
        self.cluster.add_pod(id, request);
        true
    }

    pub fn remove_pod(&mut self, node: &str, request: &Resources) -> bool {
        let Some(id) = self.cluster.node_id(node) else { return false };
        self.remove_pod_at(id, request);
        true
    }

    pub fn add_pod_at(&mut self, node: NodeId, request: &Resources) {
        self.cluster.add_pod(node, request);
    }

    pub fn remove_pod_at(&mut self, node: NodeId, request: &Resources) {
        self.cluster.remove_pod(node, request);
        self.capacity_epoch += 1;
    }

    /// Places a pod that did not come through the queue, as kube-scheduler would.
    pub fn place_pod(
        &self,
        request: &Resources,
        constraints: &crate::job::Constraints,
    ) -> Option<NodeId> {
        self.cluster.place(request, constraints)
    }

    // -- Jobs ----------------------------------------------------------------------------

    /// A new job arrives. Orchestrated jobs join their queue, or are rejected when they could
    /// never fit; legacy jobs (and every job while the orchestrator is off) are the caller's
    /// to launch at once.
    pub fn submit(&mut self, spec: JobSpec, now: Millis) -> Submission {
        if spec.flow == Flow::Legacy || !self.config.enabled {
            return Submission::Legacy;
        }
        if let Err(reason) = self.fits_when_empty(&spec).and_then(|()| self.within_quotas(&spec)) {
            return Submission::Rejected { reason };
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.enqueue(spec, QueueKey { enqueued_ms: now, seq }, 0);
        Submission::Queued { seq }
    }

    /// Puts a job back in its queue after a restart, at its recorded place.
    pub fn restore_queued(&mut self, spec: JobSpec, enqueued_ms: Millis, seq: u64) {
        self.next_seq = self.next_seq.max(seq + 1);
        self.enqueue(spec, QueueKey { enqueued_ms, seq }, 0);
    }

    /// Takes back an admitted job after a restart: its pods not in `seen` are reserved again,
    /// where they fit now.
    pub fn restore_admitted(&mut self, spec: JobSpec, seen: &[PodRole], now: Millis) {
        let mut seen_drivers = seen.iter().filter(|r| **r == PodRole::Driver).count();
        let mut seen_executors = seen.iter().filter(|r| **r == PodRole::Executor).count();
        let mut pods = Vec::new();
        let mut reserved = Vec::new();
        for index in 0..spec.pods.pod_count() {
            let role = PodRole::of_index(index);
            let request = spec.pods.request(index).clone();
            let already = match role {
                PodRole::Driver => take_one(&mut seen_drivers),
                PodRole::Executor => take_one(&mut seen_executors),
            };
            if already {
                continue;
            }
            if let Some(node) = self.cluster.place(&request, &spec.constraints) {
                self.cluster.reserve(node, &request);
                reserved.push(pods.len());
                pods.push((role, node, request));
            }
        }
        self.charge_quotas(&spec, 1);
        let lane = self.lane_of(&spec);
        let holding = Holding { pods, reserved, admitted_ms: now, started_ms: None };
        self.jobs.insert(spec.id, Box::new(Entry { spec, lane, state: State::Holding(holding) }));
    }

    /// One pod of an admitted job is seen on a node: its reservation is released (the caller
    /// counts the pod itself with [`Scheduler::add_pod`]).
    pub fn pod_appeared(&mut self, job: JobId, role: PodRole) {
        self.fulfil(job, role, None);
    }

    /// The simulator's binding of an admitted job's pods on the nodes reserved for them, in
    /// pod order: each reservation becomes the pod's request, with no capacity freed in
    /// between, and `bound` hears each pod's index and node.
    pub fn bind_all_reserved(&mut self, job: JobId, mut bound: impl FnMut(u32, NodeId)) {
        let Some(entry) = self.jobs.get_mut(&job) else { return };
        let State::Holding(holding) = &mut entry.state else { return };
        holding.reserved.sort_unstable();
        for index in holding.reserved.drain(..) {
            let (_, node, request) = &holding.pods[index];
            self.cluster.commit_reservation(*node, request);
            bound(index as u32, *node);
        }
    }

    pub fn job_started(&mut self, job: JobId, now: Millis) {
        if let Some(Entry { state: State::Holding(holding), .. }) =
            self.jobs.get_mut(&job).map(|e| &mut **e)
        {
            holding.started_ms = Some(now);
        }
    }

    /// The job is over: what it still reserves and its quota charge are released.
    pub fn job_finished(&mut self, job: JobId) {
        let Some(entry) = self.jobs.remove(&job) else { return };
        match entry.state {
            State::Holding(holding) => {
                for &i in &holding.reserved {
                    let (_, node, request) = &holding.pods[i];
                    self.cluster.unreserve(*node, request);
                }
                self.charge_quotas(&entry.spec, -1);
            }
            State::Waiting(waiting) => self.unqueue(&entry.lane, entry.spec.priority, waiting.key),
        }
        self.capacity_epoch += 1;
    }

    /// Cancels a queued or admitted job. False when the scheduler does not hold it.
    pub fn cancel(&mut self, job: JobId) -> bool {
        let held = self.jobs.contains_key(&job);
        self.job_finished(job);
        held
    }

    /// Changes a job's flow. A queued job moved to `legacy` leaves the queue and is returned,
    /// for the caller to launch at once.
    pub fn set_flow(&mut self, job: JobId, flow: Flow) -> Option<JobSpec> {
        let entry = self.jobs.get(&job)?;
        if flow == Flow::Orchestrated || !matches!(entry.state, State::Waiting(_)) {
            if let Some(entry) = self.jobs.get_mut(&job) {
                entry.spec.flow = flow;
            }
            return None;
        }
        let mut entry = self.jobs.remove(&job)?;
        if let State::Waiting(waiting) = &entry.state {
            self.unqueue(&entry.lane, entry.spec.priority, waiting.key);
        }
        entry.spec.flow = Flow::Legacy;
        Some(entry.spec)
    }

    /// Moves a queued job to the other queue, keeping its place in time.
    pub fn set_priority(&mut self, job: JobId, priority: Priority) -> bool {
        let Some(entry) = self.jobs.get_mut(&job) else { return false };
        let old = entry.spec.priority;
        entry.spec.priority = priority;
        if let State::Waiting(waiting) = &mut entry.state {
            let key = waiting.key;
            waiting.failed_epoch = None;
            waiting.driver_stuck = false;
            let lane_name = entry.lane.clone();
            if let Some(lane) = self.lanes.get_mut(&lane_name) {
                lane.queues[old.index()].remove(&key);
                lane.queues[priority.index()].insert(key, job);
                lane.settled_epoch = None;
            }
        }
        true
    }

    /// Every queued job of the domain leaves the queue for the legacy flow, returned in queue
    /// order for the caller to launch.
    pub fn migrate_domain_to_legacy(&mut self, domain: &str) -> Vec<JobSpec> {
        let ids: Vec<JobId> = self
            .queued()
            .filter(|spec| spec.domain.as_ref() == domain)
            .map(|spec| spec.id)
            .collect();
        ids.into_iter().filter_map(|id| self.set_flow(id, Flow::Legacy)).collect()
    }

    /// Turns the orchestrator on or off. Off, every queued job is returned (in queue order)
    /// for the caller to launch as legacy, and later submissions are legacy.
    pub fn set_enabled(&mut self, enabled: bool) -> Vec<JobSpec> {
        self.config.enabled = enabled;
        if enabled {
            return Vec::new();
        }
        let ids: Vec<JobId> = self.queued().map(|spec| spec.id).collect();
        ids.into_iter().filter_map(|id| self.set_flow(id, Flow::Legacy)).collect()
    }

    // -- What the scheduler knows --------------------------------------------------------

    pub fn job(&self, job: JobId) -> Option<&JobSpec> {
        self.jobs.get(&job).map(|entry| &entry.spec)
    }

    pub fn is_queued(&self, job: JobId) -> bool {
        matches!(self.jobs.get(&job).map(|e| &**e), Some(Entry { state: State::Waiting(_), .. }))
    }

    /// Queued jobs, lane by lane (namespaces by name), each lane high queue first.
    pub fn queued(&self) -> impl Iterator<Item = &JobSpec> + '_ {
        self.lanes.values().flat_map(|lane| lane.in_order()).map(|id| &self.jobs[&id].spec)
    }

    /// The number of queued jobs per priority.
    pub fn queue_lengths(&self) -> [usize; 2] {
        let mut lengths = [0, 0];
        for lane in self.lanes.values() {
            lengths[0] += lane.queues[0].len();
            lengths[1] += lane.queues[1].len();
        }
        lengths
    }

    /// The enqueue time of the oldest queued job per priority.
    pub fn oldest_enqueued(&self) -> [Option<Millis>; 2] {
        let mut oldest = [None, None];
        for lane in self.lanes.values() {
            for (q, slot) in oldest.iter_mut().enumerate() {
                if let Some(key) = lane.queues[q].keys().next() {
                    *slot = Some(slot.map_or(key.enqueued_ms, |o: Millis| o.min(key.enqueued_ms)));
                }
            }
        }
        oldest
    }

    /// The job's place in its lane's order, from 0.
    pub fn queue_position(&self, job: JobId) -> Option<usize> {
        let entry = self.jobs.get(&job)?;
        if !matches!(entry.state, State::Waiting(_)) {
            return None;
        }
        self.lanes.get(&entry.lane)?.in_order().position(|id| id == job)
    }

    /// The enqueue sequence number of a queued job.
    pub fn enqueue_seq(&self, job: JobId) -> Option<u64> {
        match &self.jobs.get(&job)?.state {
            State::Waiting(waiting) => Some(waiting.key.seq),
            State::Holding(_) => None,
        }
    }

    /// Why a queued job waits, as of the last cycle.
    pub fn wait_reason(&self, job: JobId) -> Option<WaitReason> {
        let entry = self.jobs.get(&job)?;
        let State::Waiting(waiting) = &entry.state else { return None };
        let lane = self.lanes.get(&entry.lane)?;
        let blocked = lane.blocked.filter(|&b| b != job && self.jobs.contains_key(&b));
        let behind =
            blocked.map(|b| WaitReason::Behind { job: b, name: self.jobs[&b].spec.name.clone() });
        match self.config.policy {
            Policy::Strict | Policy::Weighted => {
                if lane.blocked == Some(job) {
                    waiting.reason.clone()
                } else {
                    behind.or_else(|| waiting.reason.clone())
                }
            }
            Policy::BestEffort => waiting.reason.clone().or(behind),
            Policy::Backfill => {
                if lane.blocked == Some(job) {
                    waiting.reason.clone()
                } else {
                    waiting.reason.clone().or(behind)
                }
            }
        }
    }

    /// The heads at which the last cycle stopped, lane by lane.
    pub fn blocked_heads(&self) -> Vec<BlockedHead> {
        let mut heads = Vec::new();
        self.blocked_heads_into(&mut heads);
        heads
    }

    /// [`Scheduler::blocked_heads`] into a list the caller keeps from call to call.
    pub fn blocked_heads_into(&self, heads: &mut Vec<BlockedHead>) {
        heads.clear();
        for (name, lane) in &self.lanes {
            let Some(job) = lane.blocked else { continue };
            let Some(entry) = self.jobs.get(&job) else { continue };
            let State::Waiting(waiting) = &entry.state else { continue };
            let priority = entry.spec.priority;
            let since_ms = match lane.head_since[priority.index()] {
                Some((head, since)) if head == job => since,
                _ => waiting.key.enqueued_ms,
            };
            heads.push(BlockedHead {
                namespace: (name.as_ref() != CLUSTER_LANE).then(|| name.clone()),
                priority,
                job,
                since_ms,
                reason: waiting.reason.clone().unwrap_or(WaitReason::Fragmented),
            });
        }
    }

    /// The next instant at which a blocked head reaches its timeout, if one is set.
    pub fn next_deadline(&self) -> Option<Millis> {
        let timeout = self.config.head_timeout_ms?;
        self.lanes
            .values()
            .flat_map(|lane| lane.head_since.iter().flatten())
            .map(|(_, since)| since + timeout)
            .min()
    }

    /// Checks what the scheduler keeps: no node over its allocatable in the resources the
    /// scheduler reserves, every queued job in exactly one queue, the cluster index intact.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.cluster.check_index()?;
        let mut queued = 0;
        for (name, lane) in &self.lanes {
            for (q, queue) in lane.queues.iter().enumerate() {
                for (key, id) in queue {
                    let entry = self.jobs.get(id).ok_or(format!("queued job {id} unknown"))?;
                    match &entry.state {
                        State::Waiting(w)
                            if w.key == *key
                                && entry.lane == *name
                                && entry.spec.priority.index() == q => {}
                        _ => return Err(format!("job {id} is queued where it does not belong")),
                    }
                    queued += 1;
                }
            }
        }
        let waiting = self.jobs.values().filter(|e| matches!(e.state, State::Waiting(_))).count();
        if waiting != queued {
            return Err(format!("{waiting} jobs waiting but {queued} in queues"));
        }
        Ok(())
    }

    // -- The cycle -----------------------------------------------------------------------

    /// One scheduling cycle at `now`.
    pub fn cycle(&mut self, now: Millis) -> Vec<Decision> {
        let mut decisions = Vec::new();
        self.cycle_into(now, &mut decisions);
        decisions
    }

    /// [`Scheduler::cycle`], adding the decisions to a list the caller keeps from cycle to
    /// cycle.
    pub fn cycle_into(&mut self, now: Millis, decisions: &mut Vec<Decision>) {
        // 1. Queued jobs that can no longer fit anywhere leave the queue.
        self.reject_impossible(decisions);

        // 2. Heads blocked past the timeout go back to the end of their queue, or are cancelled.
        self.expire_heads(now, decisions);

        // 3. Lanes take turns, one step each, until every lane is blocked or empty. Each lane
        // waits in `turns` at most once, by its place in `rotation`. Both lists are kept
        // between cycles so that a cycle allocates nothing of its own.
        let mut rotation = std::mem::take(&mut self.rotation);
        let mut turns = std::mem::take(&mut self.turns);
        self.lanes_in_rotation(&mut rotation);
        turns.extend(0..rotation.len());
        while let Some(at) = turns.pop_front() {
            let (lane, state) = &mut rotation[at];
            // A lane with nothing more to admit leaves the rotation.
            if let Some(decision) = self.step(lane, state, now) {
                decisions.push(decision);
                self.last_lane = Some(lane.clone());
                turns.push_back(at);
            }
        }

        // 4. Lanes left with nothing admissible stay settled until capacity or their queue moves.
        let epoch = self.capacity_epoch;
        for (name, _) in rotation.drain(..) {
            if let Some(lane) = self.lanes.get_mut(&name) {
                lane.settled_epoch = Some(epoch);
            }
        }
        (self.rotation, self.turns) = (rotation, turns);
        self.lanes.retain(|_, lane| !lane.is_empty() || lane.blocked.is_some());
    }

    /// Fills `rotation` with the lanes that may admit: those after the one that admitted last,
    /// then the others.
    fn lanes_in_rotation(&self, rotation: &mut Vec<(Arc<str>, LaneCycle)>) {
        let epoch = self.capacity_epoch;
        let ready = |lane: &Lane| !lane.is_empty() && lane.settled_epoch != Some(epoch);
        let after_last = |name: &Arc<str>| self.last_lane.as_ref().is_some_and(|last| name > last);
        for after in [true, false] {
            for (name, lane) in &self.lanes {
                if ready(lane) && after_last(name) == after {
                    rotation.push((name.clone(), LaneCycle::default()));
                }
            }
        }
    }

    /// One step of one lane: the next admission, or `None` when the lane can admit no more.
    fn step(
        &mut self,
        lane_name: &Arc<str>,
        state: &mut LaneCycle,
        now: Millis,
    ) -> Option<Decision> {
        match self.config.policy {
            Policy::Strict => {
                let lane = self.lanes.get(lane_name)?;
                let job = lane.head(Priority::High).or_else(|| lane.head(Priority::Normal))?;
                self.try_head(lane_name, job, now)
            }
            Policy::Weighted => {
                let (queue, before) = self.pick_weighted(lane_name)?;
                let job = self.lanes.get(lane_name)?.head(queue)?;
                let decision = self.try_head(lane_name, job, now);
                if decision.is_none() {
                    // Only admissions count towards the shares: a head that does not fit
                    // gives its turn back, so the same queue is tried again next cycle.
                    if let Some(lane) = self.lanes.get_mut(lane_name) {
                        lane.swrr = before;
                    }
                }
                decision
            }
            Policy::BestEffort => loop {
                let (queue, key, job) = self.lanes.get(lane_name)?.after(state.cursor)?;
                state.cursor = Some((queue, key));
                let is_head = self.lanes[lane_name].head(queue_priority(queue)) == Some(job);
                let decision = if is_head {
                    self.try_head(lane_name, job, now)
                } else {
                    self.try_admit(job, now).ok()
                };
                if decision.is_some() {
                    return decision;
                }
            },
            Policy::Backfill => {
                if state.shadow.is_none() {
                    let lane = self.lanes.get(lane_name)?;
                    let head = lane.head(Priority::High).or_else(|| lane.head(Priority::Normal))?;
                    if let Some(decision) = self.try_head(lane_name, head, now) {
                        return Some(decision);
                    }
                    state.shadow = Some(self.shadow_for(head, now)?);
                    let key = self.waiting(head)?.key;
                    state.cursor = Some((self.jobs[&head].spec.priority.index(), key));
                }
                loop {
                    let (queue, key, job) = self.lanes.get(lane_name)?.after(state.cursor)?;
                    state.cursor = Some((queue, key));
                    if let Some(decision) = self.try_backfill(job, state.shadow.as_mut()?, now) {
                        return Some(decision);
                    }
                }
            }
        }
    }

    /// Tries a queue head: admitted, or the lane records it as blocked.
    fn try_head(&mut self, lane_name: &Arc<str>, job: JobId, now: Millis) -> Option<Decision> {
        match self.try_admit(job, now) {
            Ok(decision) => Some(decision),
            Err(()) => {
                let priority = self.jobs[&job].spec.priority;
                let lane = self.lanes.get_mut(lane_name)?;
                if lane.blocked.is_none() || self.config.policy != Policy::BestEffort {
                    lane.blocked = Some(job);
                }
                let since = &mut lane.head_since[priority.index()];
                if since.is_none_or(|(head, _)| head != job) {
                    *since = Some((job, now));
                }
                None
            }
        }
    }

    /// Admits the job if its quota allows and its pods fit now; otherwise records why not.
    fn try_admit(&mut self, job: JobId, now: Millis) -> Result<Decision, ()> {
        let nodes = self.try_reserve(job)?;
        Ok(self.admit(job, nodes, now))
    }

    /// Reserves the job's pods if its quota allows and they fit now; otherwise records why not.
    fn try_reserve(&mut self, job: JobId) -> Result<Vec<NodeId>, ()> {
        let epoch = self.capacity_epoch;
        let entry = self.jobs.get(&job).ok_or(())?;
        let State::Waiting(waiting) = &entry.state else { return Err(()) };
        if waiting.failed_epoch == Some(epoch) {
            return Err(());
        }
        if self.failed_shapes_epoch != epoch {
            self.failed_shapes.clear();
            self.failed_shapes_epoch = epoch;
        }
        let spec = &entry.spec;
        let known_misfit = self.failed_shapes.iter().find(|(pods, constraints, _)| {
            *pods == spec.pods
                && (Arc::ptr_eq(constraints, &spec.constraints) || *constraints == spec.constraints)
        });
        // A driver that found no node at the last try and finds none now: the job cannot fit,
        // and one search says so. (An executor that found no node tells less: the pods placed
        // before it took the room, so the whole job is tried.)
        let still_stuck = || {
            waiting.driver_stuck
                && self.cluster.place(&spec.pods.driver, &spec.constraints).is_none()
        };
        let mut driver_stuck = false;
        let outcome = match (self.quota_exceeded(spec), known_misfit) {
            (Some(name), _) => Err(WaitReason::Quota { name }),
            (None, Some((_, _, reason))) => Err(reason.clone()),
            (None, None) if still_stuck() => {
                driver_stuck = true;
                Err(reason_of(self.cluster.shortfall(&spec.pods, &spec.constraints)))
            }
            (None, None) => self.cluster.reserve_job(&spec.pods, &spec.constraints).map_err(
                |Misfit { shortfall, pod }| {
                    driver_stuck = pod == Some(0);
                    let reason = reason_of(shortfall);
                    self.failed_shapes.push((
                        spec.pods.clone(),
                        spec.constraints.clone(),
                        reason.clone(),
                    ));
                    reason
                },
            ),
        };
        match outcome {
            Ok(placement) => Ok(placement.nodes),
            Err(reason) => {
                if let Some(Entry { state: State::Waiting(waiting), .. }) =
                    self.jobs.get_mut(&job).map(|e| &mut **e)
                {
                    waiting.reason = Some(reason);
                    waiting.failed_epoch = Some(epoch);
                    waiting.driver_stuck = driver_stuck;
                }
                Err(())
            }
        }
    }

    /// The job's pods are reserved on `nodes`: it leaves its queue and holds them.
    fn admit(&mut self, job: JobId, nodes: Vec<NodeId>, now: Millis) -> Decision {
        let entry = self.jobs.get_mut(&job).expect("admitting a known job");
        let State::Waiting(waiting) = &entry.state else { unreachable!("admitting a queued job") };
        let key = waiting.key;
        let pods: Vec<(PodRole, NodeId, Resources)> = nodes
            .iter()
            .enumerate()
            .map(|(i, &node)| {
                (PodRole::of_index(i as u32), node, entry.spec.pods.request(i as u32).clone())
            })
            .collect();
        let reserved = (0..pods.len()).collect();
        entry.state =
            State::Holding(Holding { pods, reserved, admitted_ms: now, started_ms: None });
        charge_quotas(&self.config.quotas, &mut self.quota_used, &entry.spec, 1);
        let (lane, priority) = (entry.lane.clone(), entry.spec.priority);
        self.unqueue(&lane, priority, key);
        Decision::Admit { job, nodes }
    }

    /// The queue whose head is tried next under `weighted`, and the round-robin credits as they
    /// were before the pick.
    fn pick_weighted(&mut self, lane_name: &Arc<str>) -> Option<(Priority, [i64; 2])> {
        let weights = [i64::from(self.config.weights.high), i64::from(self.config.weights.normal)];
        let lane = self.lanes.get_mut(lane_name)?;
        let before = lane.swrr;
        match (lane.queues[0].is_empty(), lane.queues[1].is_empty()) {
            (true, true) => None,
            (false, true) => Some((Priority::High, before)),
            (true, false) => Some((Priority::Normal, before)),
            (false, false) => {
                // Smooth weighted round robin: each queue gains its weight, the richest is
                // picked and pays the total back. Ties go to high.
                let total: i64 = weights.iter().sum();
                for (credit, weight) in lane.swrr.iter_mut().zip(weights) {
                    *credit += weight;
                }
                let pick = if lane.swrr[0] >= lane.swrr[1] { 0 } else { 1 };
                lane.swrr[pick] -= total;
                Some((queue_priority(pick), before))
            }
        }
    }

    /// `backfill`: when and where the blocked head will start, given the expected ends of the
    /// jobs holding capacity. `None` when that cannot be known.
    fn shadow_for(&self, head: JobId, now: Millis) -> Option<Shadow> {
        let spec = &self.jobs.get(&head)?.spec;
        let mut ends: Vec<(Millis, JobId, &Holding)> = self
            .jobs
            .iter()
            .filter_map(|(id, entry)| match &entry.state {
                State::Holding(h) => entry.spec.expected_duration_ms.map(|d| {
                    (
                        h.started_ms.unwrap_or(h.admitted_ms.max(now)).saturating_add(d).max(now),
                        *id,
                        h,
                    )
                }),
                State::Waiting(_) => None,
            })
            .collect();
        ends.sort_by_key(|(end, id, _)| (*end, *id));
        let base: BTreeMap<NodeId, Resources> = self
            .cluster
            .nodes()
            .filter(|(_, n)| n.spec.schedulable)
            .map(|(id, n)| (id, n.free()))
            .collect();
        let state_after = |released: usize| {
            let mut free = base.clone();
            for (_, _, holding) in &ends[..released] {
                for (_, node, request) in &holding.pods {
                    if let Some(f) = free.get_mut(node) {
                        f.add(request);
                    }
                }
            }
            free
        };
        // Fit only grows as jobs end: the fewest releases that let the head fit, by bisection.
        let fits = |released: usize| {
            let mut free = state_after(released);
            place_on(&self.cluster, &mut free, &spec.pods, &spec.constraints).is_some()
        };
        if !fits(ends.len()) {
            return None;
        }
        let (mut low, mut high) = (0, ends.len());
        while low < high {
            let mid = (low + high) / 2;
            if fits(mid) { high = mid } else { low = mid + 1 }
        }
        let at_ms = if low == 0 { now } else { ends[low - 1].0 };
        let mut free = state_after(low);
        place_on(&self.cluster, &mut free, &spec.pods, &spec.constraints)?;
        Some(Shadow { head, head_name: spec.name.clone(), at_ms, free })
    }

    /// `backfill`: admits a later job if it fits now and cannot delay the reserved head.
    fn try_backfill(&mut self, job: JobId, shadow: &mut Shadow, now: Millis) -> Option<Decision> {
        let spec = self.jobs.get(&job)?.spec.clone();
        let Some(estimate) = spec.expected_duration_ms else {
            let reason = WaitReason::Behind { job: shadow.head, name: shadow.head_name.clone() };
            self.set_reason(job, reason);
            return None;
        };
        let nodes = self.try_reserve(job).ok()?;
        if now.saturating_add(estimate) <= shadow.at_ms {
            return Some(self.admit(job, nodes, now));
        }
        // Runs past the shadow time: only on capacity the head will not need then.
        let mut free = shadow.free.clone();
        let room = nodes.iter().enumerate().all(|(i, node)| {
            free.get_mut(node).is_some_and(|f| {
                f.sub(spec.pods.request(i as u32));
                f.is_non_negative()
            })
        });
        if room {
            shadow.free = free;
            return Some(self.admit(job, nodes, now));
        }
        for (i, node) in nodes.iter().enumerate() {
            self.cluster.unreserve(*node, spec.pods.request(i as u32));
        }
        let reason = WaitReason::WouldDelay { job: shadow.head, name: shadow.head_name.clone() };
        self.set_reason(job, reason);
        None
    }

    // -- Bookkeeping ---------------------------------------------------------------------

    fn lane_of(&self, spec: &JobSpec) -> Arc<str> {
        match self.config.queue_scope {
            QueueScope::Cluster => self.cluster_lane.clone(),
            QueueScope::Namespace => spec.namespace.clone(),
        }
    }

    fn enqueue(&mut self, spec: JobSpec, key: QueueKey, retries: u32) {
        let lane_name = self.lane_of(&spec);
        let lane = self.lanes.entry(lane_name.clone()).or_default();
        lane.queues[spec.priority.index()].insert(key, spec.id);
        lane.settled_epoch = None;
        let waiting =
            Waiting { key, retries, reason: None, failed_epoch: None, driver_stuck: false };
        self.jobs.insert(
            spec.id,
            Box::new(Entry { spec, lane: lane_name, state: State::Waiting(waiting) }),
        );
    }

    fn unqueue(&mut self, lane_name: &Arc<str>, priority: Priority, key: QueueKey) {
        let Some(lane) = self.lanes.get_mut(lane_name) else { return };
        let queue = &mut lane.queues[priority.index()];
        let was_head = queue.keys().next() == Some(&key);
        let job = queue.remove(&key);
        if was_head {
            lane.head_since[priority.index()] = None;
        }
        if job.is_some() && lane.blocked == job {
            lane.blocked = None;
        }
        lane.settled_epoch = None;
    }

    fn waiting(&self, job: JobId) -> Option<&Waiting> {
        match &self.jobs.get(&job)?.state {
            State::Waiting(waiting) => Some(waiting),
            State::Holding(_) => None,
        }
    }

    fn set_reason(&mut self, job: JobId, reason: WaitReason) {
        if let Some(Entry { state: State::Waiting(waiting), .. }) =
            self.jobs.get_mut(&job).map(|e| &mut **e)
        {
            waiting.reason = Some(reason);
        }
    }

    /// Releases the reservation of one pod of `role`, preferring one on `node`.
    fn fulfil(&mut self, job: JobId, role: PodRole, node: Option<NodeId>) {
        let Some(Entry { state: State::Holding(holding), .. }) =
            self.jobs.get_mut(&job).map(|e| &mut **e)
        else {
            return;
        };
        let matching = |&&i: &&usize| holding.pods[i].0 == role;
        let at = holding
            .reserved
            .iter()
            .filter(matching)
            .find(|&&i| Some(holding.pods[i].1) == node)
            .or_else(|| holding.reserved.iter().find(matching))
            .copied();
        let Some(index) = at else { return };
        holding.reserved.retain(|&i| i != index);
        let (_, reserved_on, request) = holding.pods[index].clone();
        self.cluster.unreserve(reserved_on, &request);
        self.capacity_epoch += 1;
    }

    fn quota_applies(quota: &Quota, spec: &JobSpec) -> bool {
        quota.namespace.as_ref().is_none_or(|ns| *ns == spec.namespace)
            && quota.priority.is_none_or(|p| p == spec.priority)
    }

    /// The first quota the job would go over, by name.
    fn quota_exceeded(&self, spec: &JobSpec) -> Option<Arc<str>> {
        if self.config.quotas.is_empty() {
            return None;
        }
        let total = spec.pods.total();
        self.config.quotas.iter().zip(&self.quota_used).find_map(|(quota, used)| {
            let over =
                |limit: Option<i64>, used: i64, asked: i64| limit.is_some_and(|l| used + asked > l);
            (Self::quota_applies(quota, spec)
                && (over(quota.cpu_millis, used.cpu_millis, total.cpu_millis)
                    || over(quota.memory_bytes, used.memory_bytes, total.memory_bytes)
                    || over(quota.pods, used.pods, total.pods)))
            .then(|| quota.name.clone())
        })
    }

    /// Whether the job alone stays within every quota that applies to it: a job larger than a
    /// quota could never be admitted, so it is rejected rather than left to block its queue.
    fn within_quotas(&self, spec: &JobSpec) -> Result<(), String> {
        if self.config.quotas.is_empty() {
            return Ok(());
        }
        let total = spec.pods.total();
        for quota in self.config.quotas.iter().filter(|q| Self::quota_applies(q, spec)) {
            let limits = [
                (ResourceKind::Cpu, quota.cpu_millis, total.cpu_millis),
                (ResourceKind::Memory, quota.memory_bytes, total.memory_bytes),
                (ResourceKind::Pods, quota.pods, total.pods),
            ];
            for (kind, limit, asked) in limits {
                if let Some(limit) = limit.filter(|&limit| asked > limit) {
                    return Err(format!(
                        "the job needs {} {kind} in all, more than quota {} allows ({})",
                        show_amount(&kind, asked),
                        quota.name,
                        show_amount(&kind, limit),
                    ));
                }
            }
        }
        Ok(())
    }

    fn charge_quotas(&mut self, spec: &JobSpec, sign: i64) {
        charge_quotas(&self.config.quotas, &mut self.quota_used, spec, sign);
    }

    /// Whether a job could fit on the empty cluster, cached per job shape and node epoch.
    fn fits_when_empty(&mut self, spec: &JobSpec) -> Result<(), String> {
        if self.fit_cache_epoch != self.cluster.node_epoch() {
            self.fit_cache.clear();
            self.fit_cache_epoch = self.cluster.node_epoch();
        }
        let known = self.fit_cache.get(&spec.pods).and_then(|verdicts| {
            verdicts.iter().find(|(constraints, _)| {
                Arc::ptr_eq(constraints, &spec.constraints) || *constraints == spec.constraints
            })
        });
        if let Some((_, verdict)) = known {
            return verdict.clone();
        }
        let verdict = self.cluster.fits_when_empty(&spec.pods, &spec.constraints);
        let verdicts = self.fit_cache.entry(spec.pods.clone()).or_default();
        verdicts.push((spec.constraints.clone(), verdict.clone()));
        verdict
    }

    fn reject_impossible(&mut self, decisions: &mut Vec<Decision>) {
        if self.checked_node_epoch == self.cluster.node_epoch() {
            return;
        }
        self.checked_node_epoch = self.cluster.node_epoch();
        let queued: Vec<JobSpec> = self.queued().cloned().collect();
        for spec in queued {
            if let Err(reason) =
                self.fits_when_empty(&spec).and_then(|()| self.within_quotas(&spec))
            {
                self.job_finished(spec.id);
                decisions.push(Decision::Reject { job: spec.id, reason });
            }
        }
    }

    fn expire_heads(&mut self, now: Millis, decisions: &mut Vec<Decision>) {
        let Some(timeout) = self.config.head_timeout_ms else { return };
        let expired: Vec<JobId> = self
            .lanes
            .values()
            .flat_map(|lane| lane.head_since.iter().flatten())
            .filter(|(_, since)| now >= since.saturating_add(timeout))
            .map(|(job, _)| *job)
            .collect();
        for job in expired {
            let Some(entry) = self.jobs.get(&job) else { continue };
            let State::Waiting(waiting) = &entry.state else { continue };
            let (retries, key, reason) = (waiting.retries, waiting.key, waiting.reason.clone());
            let (lane, priority) = (entry.lane.clone(), entry.spec.priority);
            self.unqueue(&lane, priority, key);
            if retries < self.config.head_retries {
                let spec = self.jobs.remove(&job).map(|e| e.spec).expect("expired job is known");
                let seq = self.next_seq;
                self.next_seq += 1;
                self.enqueue(spec, QueueKey { enqueued_ms: now, seq }, retries + 1);
            } else {
                self.jobs.remove(&job);
                let why = reason.map_or_else(|| "no capacity".to_string(), |r| r.to_string());
                decisions.push(Decision::Cancel {
                    job,
                    reason: format!(
                        "blocked at the head of its queue for {} s, {} times: {why}",
                        timeout / 1000,
                        retries + 1
                    ),
                });
            }
        }
    }
}

fn reason_of(shortfall: Shortfall) -> WaitReason {
    match shortfall {
        Shortfall::Insufficient { resource, gap } => WaitReason::Insufficient { resource, gap },
        Shortfall::Fragmented => WaitReason::Fragmented,
    }
}

fn take_one(count: &mut usize) -> bool {
    if *count > 0 {
        *count -= 1;
        true
    } else {
        false
    }
}

fn queue_priority(queue: usize) -> Priority {
    if queue == 0 { Priority::High } else { Priority::Normal }
}

/// Places the pods one at a time on a copy of free capacity, by the cluster's rule, linearly.
/// For the rare computations that work on a hypothetical cluster (backfill's shadow time).
fn place_on(
    cluster: &Cluster,
    free: &mut BTreeMap<NodeId, Resources>,
    pods: &crate::job::JobPods,
    constraints: &crate::job::Constraints,
) -> Option<Vec<NodeId>> {
    let mut chosen = Vec::with_capacity(pods.pod_count() as usize);
    for index in 0..pods.pod_count() {
        let request = pods.request(index);
        let mut best: Option<(f64, NodeId)> = None;
        for (&id, f) in free.iter() {
            let node = cluster.node(id);
            if !f.covers(request)
                || !constraints.selects(&node.spec.labels)
                || !constraints.tolerates_all(&node.spec.taints)
            {
                continue;
            }
            let alloc = &node.spec.allocatable;
            let frac = |free: i64, req: i64, all: i64| {
                if all <= 0 { 0.0 } else { (free - req) as f64 / all as f64 }
            };
            let score = (frac(f.cpu_millis, request.cpu_millis, alloc.cpu_millis)
                + frac(f.memory_bytes, request.memory_bytes, alloc.memory_bytes))
                / 2.0;
            let better = match best {
                None => true,
                Some((s, best_id)) => {
                    let by_score = match cluster.rule() {
                        PlacementRule::Spread => s.total_cmp(&score),
                        PlacementRule::Binpack => score.total_cmp(&s),
                    };
                    by_score.then_with(|| node.spec.name.cmp(&cluster.node(best_id).spec.name))
                        == std::cmp::Ordering::Less
                }
            };
            if better {
                best = Some((score, id));
            }
        }
        let (_, id) = best?;
        if let Some(f) = free.get_mut(&id) {
            f.sub(request);
        }
        chosen.push(id);
    }
    Some(chosen)
}
