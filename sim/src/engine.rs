//! The event loop: the scheduling core under a virtual clock, with the cluster around it.
//!
//! Time is integer milliseconds from the scenario's start. Events wait in a heap ordered by
//! (time, class, sequence), so equal-time events keep their order of insertion and the classes
//! run in the order SPEC §8 fixes for one instant:
//!
//! 1. jobs that end release their capacity;
//! 2. cluster changes apply (nodes, background pods);
//! 3. arrivals join the queue, in input order;
//! 4. control events apply (cancellations, flow and priority changes, the system switch);
//! 5. the stand-in for kube-scheduler binds pending pods (legacy jobs, background load), by
//!    priority then creation order, with the core's own placement rule;
//! 6. one scheduling cycle runs, and its admissions bind on the nodes reserved for them.
//!
//! Work that step 6 creates for the same instant (a job that runs for zero milliseconds ends
//! at once) is handled by going round again at the same time.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::sync::Arc;

use sparkq_core::scheduler::{BlockedHead, Decision, Submission};
use sparkq_core::{
    Constraints, Flow, JobId, JobSpec, Millis, NodeId, NodeSpec, Phase, Policy, Priority,
    Resources, Scheduler,
};
use tracing::{debug, info};

use crate::record::{BlockedInterval, CapacitySample, JobRecord, RunRecords};
use crate::scenario::{Arrival, EventKind, Scenario};

/// Receives what a run produces, as it happens.
pub trait Observer {
    /// A job reached its final phase, or the run stopped while it was still live.
    fn job(&mut self, record: JobRecord);
    fn blocked(&mut self, interval: BlockedInterval);
    fn capacity(&mut self, sample: CapacitySample);
}

impl Observer for RunRecords {
    fn job(&mut self, record: JobRecord) {
        self.jobs.push(record);
    }

    fn blocked(&mut self, interval: BlockedInterval) {
        self.blocked.push(interval);
    }

    fn capacity(&mut self, sample: CapacitySample) {
        self.capacity.push(sample);
    }
}

/// What may be changed from the command line without editing the scenario.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub seed: Option<u64>,
    pub policy: Option<Policy>,
    /// Every job takes the legacy flow, as if sparkq were not installed.
    pub all_legacy: bool,
    /// Check the core's invariants after every cycle (slower; for tests).
    pub check_invariants: bool,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOutcome {
    pub seed: u64,
    pub policy: Policy,
    pub end_ms: Millis,
    pub jobs: u64,
    pub cycles: u64,
}

/// Simulates a scenario, sending what happens to `observer`. Records come out in the order
/// jobs end; [`simulate`] sorts them.
pub fn run(scenario: &Scenario, options: &RunOptions, observer: &mut dyn Observer) -> RunOutcome {
    let mut sim = Simulation::new(scenario, options, observer);
    sim.run();
    sim.outcome()
}

/// Simulates a scenario and returns every record, jobs sorted by id.
pub fn simulate(scenario: &Scenario, options: &RunOptions) -> (RunOutcome, RunRecords) {
    let mut records = RunRecords::default();
    let outcome = run(scenario, options, &mut records);
    records.jobs.sort_by_key(|job| job.id);
    records.end_ms = outcome.end_ms;
    (outcome, records)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    End = 0,
    Cluster = 1,
    Control = 3,
    Timer = 4,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Event {
    /// The job's run time is over (or it fails).
    JobEnds {
        job: JobId,
        failed: bool,
    },
    /// A scenario event, by index.
    Scenario(usize),
    BackgroundStarts(usize),
    BackgroundEnds(usize),
    BackgroundGone(usize),
    /// Wake up for a head timeout.
    Wake,
}

#[derive(Debug, PartialEq, Eq)]
struct Timed {
    at: Millis,
    class: Class,
    seq: u64,
    event: Event,
}

impl Ord for Timed {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.class, self.seq).cmp(&(other.at, other.class, other.seq))
    }
}

impl PartialOrd for Timed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Who a pod belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Owner {
    Job(JobId, u32),
    Background(usize, u32),
}

#[derive(Clone, Debug)]
struct PendingPod {
    owner: Owner,
    request: Resources,
    constraints: Arc<Constraints>,
}

/// A job the simulator is still following.
#[derive(Debug)]
struct Live {
    spec: JobSpec,
    submitted_ms: Millis,
    admitted_ms: Option<Millis>,
    started_ms: Option<Millis>,
    run_ms: Millis,
    fail_after_ms: Option<Millis>,
    phase: Phase,
    /// The node of each bound pod, driver first; `None` while pending.
    bound: Vec<Option<NodeId>>,
    bound_count: u32,
}

/// The order of blocked heads and of their intervals: by namespace, then job.
fn head_key(head: &BlockedHead) -> (Option<&str>, JobId) {
    (head.namespace.as_deref(), head.job)
}

fn block_key(interval: &BlockedInterval) -> (Option<&str>, JobId) {
    (interval.namespace.as_deref(), interval.job)
}

/// The jobs the simulator follows, by id.
///
/// Ids are handed out in arrival order, and jobs end roughly in that order too, so the live ones
/// sit in a window of ids: slot `i` holds job `first + i`. A lookup is an index instead of a
/// tree search, and the window slides forward as its oldest jobs end. A job that stays live
/// long after the jobs around it ended (a legacy driver that never progresses, say) would keep
/// the window open, an empty slot per later job; once most of the window is empty, such jobs
/// move to a map, so that memory follows the live jobs, not the ended ones. Iteration is by id.
#[derive(Debug, Default)]
struct LiveJobs {
    /// The id of `slots[0]`.
    first: u64,
    /// Boxed: jobs come and go by the million, and a slot stays small whether used or not.
    slots: VecDeque<Option<Box<Live>>>,
    /// How many slots hold a job.
    in_window: usize,
    /// Live jobs older than the window.
    old: BTreeMap<JobId, Box<Live>>,
}

impl LiveJobs {
    fn slot(&self, id: JobId) -> Option<usize> {
        let offset = usize::try_from(id.0.checked_sub(self.first)?).ok()?;
        (offset < self.slots.len()).then_some(offset)
    }

    fn get(&self, id: JobId) -> Option<&Live> {
        match self.slot(id) {
            Some(slot) => self.slots[slot].as_deref(),
            None => self.old.get(&id).map(|live| &**live),
        }
    }

    fn get_mut(&mut self, id: JobId) -> Option<&mut Live> {
        match self.slot(id) {
            Some(slot) => self.slots[slot].as_deref_mut(),
            None => self.old.get_mut(&id).map(|live| &mut **live),
        }
    }

    /// Files a job. Ids come in increasing order; an id older than the window goes to the map.
    fn insert(&mut self, id: JobId, live: Box<Live>) {
        if self.slots.is_empty() {
            self.first = id.0;
        }
        if id.0 < self.first {
            self.old.insert(id, live);
            return;
        }
        let offset = (id.0 - self.first) as usize;
        if offset >= self.slots.len() {
            self.slots.resize_with(offset, || None);
            self.slots.push_back(Some(live));
            self.in_window += 1;
        } else if self.slots[offset].replace(live).is_none() {
            self.in_window += 1;
        }
        self.compact();
    }

    fn remove(&mut self, id: JobId) -> Option<Box<Live>> {
        let Some(slot) = self.slot(id) else { return self.old.remove(&id) };
        let live = self.slots[slot].take();
        self.in_window -= usize::from(live.is_some());
        // The window starts at the oldest job still in it.
        while self.slots.front().is_some_and(Option::is_none) {
            self.slots.pop_front();
            self.first += 1;
        }
        live
    }

    /// Moves the oldest jobs to the map while most of the window is empty slots.
    fn compact(&mut self) {
        while self.slots.len() > 1024 && self.slots.len() > 4 * self.in_window {
            if let Some(Some(live)) = self.slots.pop_front() {
                self.old.insert(JobId(self.first), live);
                self.in_window -= 1;
            }
            self.first += 1;
        }
    }

    fn iter(&self) -> impl Iterator<Item = (JobId, &Live)> {
        let window = self
            .slots
            .iter()
            .zip(self.first..)
            .filter_map(|(slot, id)| Some((JobId(id), slot.as_deref()?)));
        self.old.iter().map(|(id, live)| (*id, &**live)).chain(window)
    }

    fn into_jobs(self) -> impl Iterator<Item = (JobId, Box<Live>)> {
        let window = self
            .slots
            .into_iter()
            .zip(self.first..)
            .filter_map(|(slot, id)| Some((JobId(id), slot?)));
        self.old.into_iter().chain(window)
    }
}

struct Simulation<'a> {
    scenario: &'a Scenario,
    observer: &'a mut dyn Observer,
    options: RunOptions,
    seed: u64,
    policy: Policy,
    horizon_ms: Option<Millis>,
    now: Millis,
    sched: Scheduler,
    events: BinaryHeap<Reverse<Timed>>,
    next_seq: u64,
    arrivals: std::iter::Peekable<crate::scenario::Arrivals>,
    live: LiveJobs,
    /// Pods waiting for the kube-scheduler stand-in, by (priority, creation time, sequence).
    pending: BTreeMap<(usize, Millis, u64), PendingPod>,
    /// Set when binding could make progress: new pending pods, or capacity freed.
    pending_dirty: bool,
    background_bound: BTreeMap<(usize, u32), NodeId>,
    /// The next index of each pool's nodes, for nodes added later.
    pool_next: BTreeMap<Arc<str>, u32>,
    /// The intervals still open, one per blocked queue head, sorted by (namespace, job): the
    /// order in which they close when the run stops. A handful at most, so a sorted `Vec`.
    open_blocks: Vec<BlockedInterval>,
    /// Kept from instant to instant for their capacity: the cycle's decisions, the blocked heads.
    decisions: Vec<Decision>,
    heads: Vec<BlockedHead>,
    /// The emptied `bound` lists of ended jobs, for jobs yet to arrive: one allocation less
    /// per job. Never more than the most jobs live at once.
    spare_bound: Vec<Vec<Option<NodeId>>>,
    /// Domains moved to the legacy flow: their later arrivals are legacy too.
    legacy_domains: std::collections::BTreeSet<Arc<str>>,
    jobs_seen: u64,
    cycles: u64,
    last_deadline: Option<Millis>,
}

impl<'a> Simulation<'a> {
    fn new(scenario: &'a Scenario, options: &RunOptions, observer: &'a mut dyn Observer) -> Self {
        let seed = options.seed.unwrap_or(scenario.seed);
        let mut config = scenario.config.clone();
        if let Some(policy) = options.policy {
            config.policy = policy;
        }
        let policy = config.policy;
        info!(seed, policy = %policy, scenario = %scenario.name, "simulation starts");
        let mut sim = Simulation {
            scenario,
            observer,
            options: options.clone(),
            seed,
            policy,
            horizon_ms: scenario.horizon_ms,
            now: 0,
            sched: Scheduler::new(config),
            events: BinaryHeap::new(),
            next_seq: 0,
            arrivals: scenario.workload.arrivals(seed).peekable(),
            live: LiveJobs::default(),
            pending: BTreeMap::new(),
            pending_dirty: false,
            background_bound: BTreeMap::new(),
            pool_next: BTreeMap::new(),
            open_blocks: Vec::new(),
            decisions: Vec::new(),
            heads: Vec::new(),
            spare_bound: Vec::new(),
            legacy_domains: std::collections::BTreeSet::new(),
            jobs_seen: 0,
            cycles: 0,
            last_deadline: None,
        };
        for pool in &scenario.pools {
            sim.add_nodes(&pool.name, pool.count);
        }
        sim.sample_capacity();
        for (index, background) in scenario.background.iter().enumerate() {
            sim.schedule(background.start_ms, Class::Cluster, Event::BackgroundStarts(index));
            if let Some(end) = background.end_ms {
                sim.schedule(end, Class::Cluster, Event::BackgroundEnds(index));
            }
        }
        for (index, event) in scenario.events.iter().enumerate() {
            let class = match event.kind {
                EventKind::AddNodes { .. }
                | EventKind::RemoveNodes { .. }
                | EventKind::Cordon { .. }
                | EventKind::Uncordon { .. } => Class::Cluster,
                _ => Class::Control,
            };
            sim.schedule(event.at_ms, class, Event::Scenario(index));
        }
        sim
    }

    fn outcome(&self) -> RunOutcome {
        RunOutcome {
            seed: self.seed,
            policy: self.policy,
            end_ms: self.now,
            jobs: self.jobs_seen,
            cycles: self.cycles,
        }
    }

    fn schedule(&mut self, at: Millis, class: Class, event: Event) {
        self.next_seq += 1;
        self.events.push(Reverse(Timed { at, class, seq: self.next_seq, event }));
    }

    fn next_time(&mut self) -> Option<Millis> {
        let event = self.events.peek().map(|Reverse(t)| t.at);
        let arrival = self.arrivals.peek().map(|a| a.at_ms);
        match (event, arrival) {
            (Some(e), Some(a)) => Some(e.min(a)),
            (e, a) => e.or(a),
        }
    }

    fn run(&mut self) {
        while let Some(at) = self.next_time() {
            if self.horizon_ms.is_some_and(|h| at > h) {
                self.now = self.horizon_ms.unwrap_or(at);
                break;
            }
            self.now = at;
            self.instant();
        }
        self.finish();
    }

    /// Everything that happens at `self.now`, in the order of SPEC §8.
    fn instant(&mut self) {
        // 1. and 2. Jobs that end, then cluster changes.
        self.drain_events(Class::Cluster);

        // 3. Arrivals, in input order.
        while self.arrivals.peek().is_some_and(|a| a.at_ms == self.now) {
            if let Some(arrival) = self.arrivals.next() {
                self.arrive(arrival);
            }
        }

        // 4. Control events and timers.
        self.drain_events(Class::Timer);

        // 5. Pods that did not come through the queue are bound by the kube-scheduler stand-in.
        self.bind_pending();

        // 6. One scheduling cycle.
        let mut decisions = std::mem::take(&mut self.decisions);
        self.sched.cycle_into(self.now, &mut decisions);
        self.cycles += 1;
        for decision in decisions.drain(..) {
            self.apply(decision);
        }
        self.decisions = decisions;
        if self.options.check_invariants {
            self.check_invariants();
        }
        self.track_blocked();
        self.arm_timer();
    }

    fn drain_events(&mut self, up_to: Class) {
        while let Some(Reverse(top)) = self.events.peek() {
            if top.at != self.now || top.class > up_to {
                break;
            }
            let Some(Reverse(timed)) = self.events.pop() else { break };
            self.handle(timed.event);
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::JobEnds { job, failed } => {
                let reason = failed.then(|| "failed while running".to_string());
                let phase = if failed { Phase::Failed } else { Phase::Succeeded };
                self.end_job(job, phase, reason);
            }
            Event::Scenario(index) => self.scenario_event(index),
            Event::BackgroundStarts(index) => {
                let background = &self.scenario.background[index];
                for n in 0..background.count {
                    self.pend(
                        Owner::Background(index, n),
                        background.priority,
                        background.request.clone(),
                        background.constraints.clone(),
                    );
                }
            }
            Event::BackgroundEnds(index) => {
                let grace = self.scenario.background[index].grace_ms;
                // Pods not yet bound simply go away; bound ones terminate.
                self.pending
                    .retain(|_, pod| !matches!(pod.owner, Owner::Background(b, _) if b == index));
                if grace == 0 {
                    self.background_gone(index);
                } else {
                    self.schedule(
                        self.now.saturating_add(grace),
                        Class::Cluster,
                        Event::BackgroundGone(index),
                    );
                }
            }
            Event::BackgroundGone(index) => self.background_gone(index),
            Event::Wake => {}
        }
    }

    fn background_gone(&mut self, index: usize) {
        let request = self.scenario.background[index].request.clone();
        let gone: Vec<(usize, u32)> =
            self.background_bound.range((index, 0)..=(index, u32::MAX)).map(|(k, _)| *k).collect();
        for key in gone {
            if let Some(node) = self.background_bound.remove(&key) {
                self.sched.remove_pod_at(node, &request);
            }
        }
        self.pending_dirty = true;
    }

    fn scenario_event(&mut self, index: usize) {
        let event = &self.scenario.events[index];
        debug!(at_ms = self.now, ?event.kind, "scenario event");
        match &event.kind {
            EventKind::AddNodes { pool, count } => self.add_nodes(pool, *count),
            EventKind::RemoveNodes { pool, count } => self.remove_nodes(pool, *count),
            EventKind::Cordon { node } => self.set_schedulable(node, false),
            EventKind::Uncordon { node } => self.set_schedulable(node, true),
            EventKind::Cancel { job } => {
                let Some(id) = self.job_named(job) else { return };
                // SPEC §5: only a job that is not running yet can be cancelled.
                if self.live.get(id).is_some_and(|live| live.started_ms.is_some()) {
                    debug!(at_ms = self.now, job = %job, "running already: the cancel is ignored");
                    return;
                }
                self.sched.cancel(id);
                self.end_job(id, Phase::Cancelled, Some("cancelled by an event".into()));
            }
            EventKind::SetFlow { job, flow } => {
                if let Some(spec) =
                    self.job_named(job).and_then(|id| self.sched.set_flow(id, *flow))
                {
                    self.launch_legacy(spec);
                }
            }
            EventKind::SetPriority { job, priority } => {
                if let Some(id) = self.job_named(job) {
                    self.sched.set_priority(id, *priority);
                    if let Some(live) = self.live.get_mut(id) {
                        live.spec.priority = *priority;
                    }
                }
            }
            EventKind::MigrateDomain { domain } => {
                self.legacy_domains.insert(domain.clone());
                for spec in self.sched.migrate_domain_to_legacy(domain) {
                    self.launch_legacy(spec);
                }
            }
            EventKind::Disable => {
                for spec in self.sched.set_enabled(false) {
                    self.launch_legacy(spec);
                }
            }
            EventKind::Enable => {
                self.sched.set_enabled(true);
            }
        }
    }

    // -- Nodes ---------------------------------------------------------------------------

    fn add_nodes(&mut self, pool_name: &Arc<str>, count: u32) {
        let Some(pool) = self.scenario.pools.iter().find(|p| p.name == *pool_name) else { return };
        let next = self.pool_next.entry(pool_name.clone()).or_insert(0);
        let first = *next;
        *next += count;
        let specs = (first..first + count).map(|index| NodeSpec {
            name: pool.node_name(index).into(),
            allocatable: pool.allocatable.clone(),
            labels: pool.labels.clone(),
            taints: pool.taints.clone(),
            schedulable: true,
        });
        self.sched.upsert_nodes(specs);
        self.pending_dirty = true;
        if self.now > 0 {
            self.sample_capacity();
        }
    }

    fn remove_nodes(&mut self, pool_name: &Arc<str>, count: u32) {
        let Some(pool) = self.scenario.pools.iter().find(|p| p.name == *pool_name) else { return };
        let next = self.pool_next.get(pool_name).copied().unwrap_or(0);
        let mut removed = 0;
        for index in (0..next).rev() {
            if removed == count {
                break;
            }
            let name = pool.node_name(index);
            let Some(id) = self.sched.cluster().node_id(&name) else { continue };
            self.evict_node(id);
            self.sched.remove_node(&name);
            removed += 1;
        }
        self.sample_capacity();
    }

    /// The pods on a node that goes away: jobs with a pod there fail, background pods vanish.
    fn evict_node(&mut self, id: NodeId) {
        let hit: Vec<JobId> = self
            .live
            .iter()
            .filter(|(_, live)| live.bound.contains(&Some(id)))
            .map(|(job, _)| job)
            .collect();
        for job in hit {
            self.end_job(job, Phase::Failed, Some("a node it ran on was removed".into()));
        }
        self.background_bound.retain(|_, node| *node != id);
    }

    fn set_schedulable(&mut self, node: &str, schedulable: bool) {
        if self.sched.set_schedulable(node, schedulable) {
            self.pending_dirty = true;
            self.sample_capacity();
        } else {
            debug!(node, "no such node; event ignored");
        }
    }

    fn sample_capacity(&mut self) {
        let sample = CapacitySample { at_ms: self.now, capacity: self.sched.cluster().capacity() };
        self.observer.capacity(sample);
    }

    // -- Jobs ----------------------------------------------------------------------------

    fn arrive(&mut self, arrival: Arrival) {
        self.jobs_seen += 1;
        let Arrival { mut spec, run_ms, fail_after_ms, .. } = arrival;
        if self.options.all_legacy || self.legacy_domains.contains(&spec.domain) {
            spec.flow = Flow::Legacy;
        }
        let id = spec.id;
        let pods = spec.pods.pod_count() as usize;
        // One copy for the scheduler, and the spec itself for the simulator's own record.
        let submission = self.sched.submit(spec.clone(), self.now);
        let mut bound = self.spare_bound.pop().unwrap_or_default();
        bound.resize(pods, None);
        self.live.insert(
            id,
            Box::new(Live {
                spec,
                submitted_ms: self.now,
                admitted_ms: None,
                started_ms: None,
                run_ms,
                fail_after_ms,
                phase: Phase::Queued,
                bound,
                bound_count: 0,
            }),
        );
        match submission {
            Submission::Queued { .. } => {}
            Submission::Legacy => {
                // The spec just submitted is the one the simulator keeps.
                let Some(live) = self.live.get(id) else { return };
                let (priority, request, constraints) = (
                    live.spec.priority,
                    live.spec.pods.driver.clone(),
                    live.spec.constraints.clone(),
                );
                self.launch_driver(id, priority, request, constraints);
            }
            Submission::Rejected { reason } => {
                debug!(
                    job = self.live.get(id).map_or("?", |live| live.spec.name.as_ref()),
                    %reason,
                    "rejected at submission",
                );
                self.end_job(id, Phase::Rejected, Some(reason));
            }
        }
    }

    /// A job the scheduler hands back to the legacy flow, with its spec as the scheduler holds
    /// it.
    fn launch_legacy(&mut self, spec: JobSpec) {
        self.launch_driver(spec.id, spec.priority, spec.pods.driver, spec.constraints);
    }

    /// A legacy job: its driver pod is created now and waits like any pending pod.
    fn launch_driver(
        &mut self,
        job: JobId,
        priority: Priority,
        request: Resources,
        constraints: Arc<Constraints>,
    ) {
        let Some(live) = self.live.get_mut(job) else { return };
        live.spec.flow = Flow::Legacy;
        live.admitted_ms = Some(self.now);
        live.phase = Phase::Admitted;
        self.pend(Owner::Job(job, 0), priority, request, constraints);
    }

    fn pend(&mut self, owner: Owner, priority: Priority, request: Resources, c: Arc<Constraints>) {
        self.next_seq += 1;
        let key = (priority.index(), self.now, self.next_seq);
        self.pending.insert(key, PendingPod { owner, request, constraints: c });
        self.pending_dirty = true;
    }

    /// The kube-scheduler stand-in: every pending pod, by priority then creation, goes to the
    /// node the placement rule picks, if any.
    fn bind_pending(&mut self) {
        // Every job that ends sets the flag, though most runs have no pod pending at all.
        if self.pending.is_empty() {
            self.pending_dirty = false;
            return;
        }
        while self.pending_dirty {
            self.pending_dirty = false;
            let keys: Vec<(usize, Millis, u64)> = self.pending.keys().copied().collect();
            for key in keys {
                let Some(pod) = self.pending.get(&key) else { continue };
                let Some(node) = self.sched.place_pod(&pod.request, &pod.constraints) else {
                    continue;
                };
                let Some(pod) = self.pending.remove(&key) else { continue };
                self.sched.add_pod_at(node, &pod.request);
                match pod.owner {
                    Owner::Background(index, n) => {
                        self.background_bound.insert((index, n), node);
                    }
                    Owner::Job(job, index) => self.legacy_pod_bound(job, index, node),
                }
            }
        }
    }

    fn legacy_pod_bound(&mut self, job: JobId, index: u32, node: NodeId) {
        let Some(live) = self.live.get_mut(job) else { return };
        live.bound[index as usize] = Some(node);
        live.bound_count += 1;
        if index == 0 {
            // The driver runs and asks for its executors.
            let (priority, request, constraints, executors) = (
                live.spec.priority,
                live.spec.pods.executor.clone(),
                live.spec.constraints.clone(),
                live.spec.pods.executors,
            );
            for e in 1..=executors {
                self.pend(Owner::Job(job, e), priority, request.clone(), constraints.clone());
            }
        }
        self.maybe_start(job);
    }

    fn apply(&mut self, decision: Decision) {
        match decision {
            Decision::Admit { job, nodes, .. } => {
                let Some(live) = self.live.get_mut(job) else { return };
                debug!(
                    at_ms = self.now,
                    job = %live.spec.name,
                    namespace = %live.spec.namespace,
                    priority = live.spec.priority.as_str(),
                    waited_ms = self.now.saturating_sub(live.submitted_ms),
                    nodes = ?nodes
                        .iter()
                        .filter_map(|&id| self.sched.cluster().node_name(id))
                        .collect::<Vec<_>>(),
                    "admitted: driver and executors reserved",
                );
                live.admitted_ms = Some(self.now);
                live.phase = Phase::Admitted;
                self.sched.bind_all_reserved(job, |index, node| {
                    live.bound[index as usize] = Some(node);
                    live.bound_count += 1;
                });
                self.maybe_start(job);
            }
            Decision::Cancel { job, reason } => {
                debug!(at_ms = self.now, job = job.0, %reason, "cancelled");
                self.end_job(job, Phase::Cancelled, Some(reason));
            }
            Decision::Reject { job, reason } => {
                debug!(at_ms = self.now, job = job.0, %reason, "rejected");
                self.end_job(job, Phase::Rejected, Some(reason));
            }
        }
    }

    /// A job runs once its driver and every counted executor are bound.
    fn maybe_start(&mut self, job: JobId) {
        let Some(live) = self.live.get_mut(job) else { return };
        if live.started_ms.is_some() || live.bound_count as usize != live.bound.len() {
            return;
        }
        live.started_ms = Some(self.now);
        live.phase = Phase::Running;
        let (run_ms, fail_after) = (live.run_ms, live.fail_after_ms);
        self.sched.job_started(job, self.now);
        let (after, failed) = match fail_after {
            Some(after) if after < run_ms => (after, true),
            _ => (run_ms, false),
        };
        self.schedule(self.now.saturating_add(after), Class::End, Event::JobEnds { job, failed });
    }

    /// The job reaches a final phase: its pods go, its capacity is released, its record written.
    fn end_job(&mut self, job: JobId, phase: Phase, reason: Option<String>) {
        let Some(mut live) = self.live.remove(job) else { return };
        if live.spec.flow == Flow::Orchestrated {
            self.sched.job_finished(job);
        }
        for (index, node) in live.bound.iter().enumerate() {
            if let Some(node) = node {
                let request = live.spec.pods.request(index as u32);
                self.sched.remove_pod_at(*node, request);
            }
        }
        if live.spec.flow == Flow::Legacy {
            self.pending.retain(|_, pod| !matches!(pod.owner, Owner::Job(j, _) if j == job));
        }
        self.pending_dirty = true;
        live.phase = phase;
        let finished = phase.is_final().then_some(self.now);
        self.emit(live, finished, reason);
    }

    /// The live job of that name. Events name jobs rarely, so a scan is cheaper than an index
    /// kept up to date for every job.
    fn job_named(&self, name: &str) -> Option<JobId> {
        self.live.iter().find(|(_, live)| live.spec.name.as_ref() == name).map(|(id, _)| id)
    }

    fn emit(&mut self, live: Box<Live>, finished_ms: Option<Millis>, reason: Option<String>) {
        // The job is done with: its names move into the record rather than being shared.
        let Live { spec, submitted_ms, admitted_ms, started_ms, run_ms, phase, mut bound, .. } =
            *live;
        let never_progressed =
            spec.flow == Flow::Legacy && bound[0].is_some() && started_ms.is_none();
        bound.clear();
        self.spare_bound.push(bound);
        let record = JobRecord {
            id: spec.id,
            request: spec.pods.total(),
            name: spec.name,
            namespace: spec.namespace,
            domain: spec.domain,
            priority: spec.priority,
            flow: spec.flow,
            submitted_ms,
            admitted_ms,
            started_ms,
            finished_ms,
            phase,
            reason,
            run_ms,
            never_progressed,
        };
        self.observer.job(record);
    }

    // -- Bookkeeping ---------------------------------------------------------------------

    /// Opens an interval for each queue head newly blocked, and closes those no longer blocked,
    /// in (namespace, job) order.
    fn track_blocked(&mut self) {
        let mut heads = std::mem::take(&mut self.heads);
        self.sched.blocked_heads_into(&mut heads);
        // One head per lane, so keys are unique; the scheduler lists lanes in order already,
        // which makes this sort a linear check.
        heads.sort_unstable_by(|a, b| head_key(a).cmp(&head_key(b)));
        // Most instants leave every blocked head where it was: nothing opens or closes.
        if heads.len() == self.open_blocks.len()
            && heads.iter().zip(&self.open_blocks).all(|(h, open)| head_key(h) == block_key(open))
        {
            self.heads = heads;
            return;
        }
        let now = self.now;
        let is_blocked = |key: (Option<&str>, JobId)| {
            heads.binary_search_by(|head| head_key(head).cmp(&key)).is_ok()
        };
        let mut open = std::mem::take(&mut self.open_blocks);
        for mut interval in open.extract_if(.., |interval| !is_blocked(block_key(interval))) {
            interval.to_ms = now;
            self.observer.blocked(interval);
        }
        for head in heads.drain(..) {
            let Err(at) = open.binary_search_by(|open| block_key(open).cmp(&head_key(&head)))
            else {
                continue;
            };
            debug!(
                at_ms = now,
                job = self.live.get(head.job).map_or("?", |live| live.spec.name.as_ref()),
                priority = head.priority.as_str(),
                reason = %head.reason,
                "queue head blocked: the cycle stops here",
            );
            let interval = BlockedInterval {
                namespace: head.namespace,
                priority: head.priority,
                job: head.job,
                from_ms: now,
                to_ms: now,
                reason: head.reason.to_string(),
                idle: self.sched.cluster().free_total(),
            };
            open.insert(at, interval);
        }
        self.open_blocks = open;
        self.heads = heads;
    }

    fn arm_timer(&mut self) {
        let deadline = self.sched.next_deadline().filter(|d| *d > self.now);
        if deadline.is_some() && deadline != self.last_deadline {
            self.last_deadline = deadline;
            if let Some(at) = deadline {
                self.schedule(at, Class::Timer, Event::Wake);
            }
        }
    }

    fn check_invariants(&self) {
        if let Err(problem) = self.sched.check_invariants() {
            panic!("scheduler invariant broken at {} ms: {problem}", self.now);
        }
        for (id, node) in self.sched.cluster().nodes() {
            let mut held = node.used.clone();
            held.add(&node.reserved);
            let live_over = !node.spec.allocatable.covers(&held);
            assert!(!live_over, "node {} ({id:?}) is over its allocatable", node.spec.name);
        }
    }

    /// The run stops: open intervals close, and every job still followed is reported as it is.
    fn finish(&mut self) {
        let now = self.now;
        for mut interval in std::mem::take(&mut self.open_blocks) {
            interval.to_ms = now;
            self.observer.blocked(interval);
        }
        let live = std::mem::take(&mut self.live);
        for (id, live) in live.into_jobs() {
            let reason = match live.phase {
                Phase::Queued => self.sched.wait_reason(id).map(|r| r.to_string()),
                Phase::Admitted if live.spec.flow == Flow::Legacy => {
                    Some("legacy pods still pending when the run stopped".into())
                }
                _ => None,
            };
            self.emit(live, None, reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(id: u64) -> Box<Live> {
        let spec = JobSpec {
            id: JobId(id),
            name: format!("job-{id}").into(),
            namespace: "ns".into(),
            domain: "ns".into(),
            priority: Priority::Normal,
            flow: Flow::Orchestrated,
            pods: sparkq_core::JobPods {
                driver: Resources::pod(1000, 1 << 30),
                executor: Resources::pod(1000, 1 << 30),
                executors: 1,
            },
            constraints: Arc::new(Constraints::default()),
            expected_duration_ms: None,
        };
        Box::new(Live {
            spec,
            submitted_ms: 0,
            admitted_ms: None,
            started_ms: None,
            run_ms: 0,
            fail_after_ms: None,
            phase: Phase::Queued,
            bound: Vec::new(),
            bound_count: 0,
        })
    }

    #[test]
    fn a_job_that_outlives_the_others_does_not_hold_a_slot_per_later_job() {
        let mut jobs = LiveJobs::default();
        jobs.insert(JobId(0), live(0));
        // A hundred thousand later jobs come and go, a few alive at a time.
        for id in 1..100_000u64 {
            jobs.insert(JobId(id), live(id));
            if id > 3 {
                assert!(jobs.remove(JobId(id - 3)).is_some(), "job {} is found", id - 3);
            }
            assert!(jobs.slots.len() <= 1025, "{} slots for {} jobs", jobs.slots.len(), id);
        }
        // The long-lived job is still found, first by id, and the young ones after it.
        assert_eq!(jobs.get(JobId(0)).map(|live| live.spec.id), Some(JobId(0)));
        let ids: Vec<u64> = jobs.iter().map(|(id, _)| id.0).collect();
        assert_eq!(ids, [0, 99_997, 99_998, 99_999]);
        assert!(jobs.remove(JobId(0)).is_some());
        assert!(jobs.get(JobId(0)).is_none());
        let ids: Vec<u64> = jobs.into_jobs().map(|(id, _)| id.0).collect();
        assert_eq!(ids, [99_997, 99_998, 99_999]);
    }
}
