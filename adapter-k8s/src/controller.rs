//! The controller: watches feed the core, and one loop runs the scheduling cycles and carries
//! out their decisions.
//!
//! Each pass of the loop reads as numbered steps:
//!
//! 1. take every event the watches delivered (nodes, pods, SparkJobs) into the view;
//! 2. on the first complete view, rebuild the queue and the reservations from what exists;
//! 3. take new jobs in: validate, submit, and write the enqueue sequence into the status
//!    before the next cycle can admit them;
//! 4. launch what must be launched (legacy jobs, jobs moved to legacy, launches to retry);
//! 5. run one cycle and carry out its decisions: launch first, then write `admitted`;
//! 6. write the statuses that changed (phases, queue positions, reasons) and the metrics.
//!
//! Only this loop touches the core, so every core call is in this file. The loop runs only
//! while this replica leads (see [`crate::serve`]), and a restart is the same as a failover:
//! the state is rebuilt from the cluster each time.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, future::join_all};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use sparkq_core::scheduler::{Decision, Submission};
use sparkq_core::{
    Flow, JobId, JobSpec, Millis, Phase, PodRole, Priority, Resources, Scheduler, SchedulerConfig,
};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::crd::{SparkJob, SparkJobStatus};
use crate::launcher::Launcher;
use crate::metrics::{Metrics, labels};
use crate::view::{holding_node, job_of, node_spec, pod_phase, pod_request};

/// What the controller needs to run.
#[derive(Clone, Debug)]
pub struct ControllerConfig {
    pub scheduler: SchedulerConfig,
    /// The namespaces whose SparkJobs are managed; every namespace when empty.
    pub namespaces: Vec<String>,
    pub launcher: Arc<dyn Launcher>,
    /// The longest the loop sleeps without an event.
    pub tick: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error("every watch stream ended")]
    WatchesEnded,
}

pub fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

type JobKey = (Arc<str>, Arc<str>);

#[allow(clippy::large_enum_variant, reason = "messages are moved once, from a watch to the loop")]
enum Message {
    Node(watcher::Event<Node>),
    Pod(watcher::Event<Pod>),
    Job(usize, watcher::Event<SparkJob>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum JobState {
    /// Seen, not yet taken in.
    New,
    Queued,
    /// Admitted or launched as legacy; the driver is not running yet.
    Admitted,
    Running,
    Final(Phase),
}

#[derive(Debug)]
struct JobRecord {
    id: JobId,
    object: SparkJob,
    spec: Option<JobSpec>,
    state: JobState,
    /// Launched by the legacy flow: no reservation in the core.
    legacy: bool,
    /// The launch has to be made (again).
    launch_pending: bool,
    /// What the status says, as far as this controller knows.
    status: SparkJobStatus,
    /// The order in which this controller first saw the job: watch events come in creation
    /// order, so this breaks ties between jobs created in the same second.
    arrival: u64,
}

#[derive(Debug)]
struct PodRecord {
    /// The node and request this pod holds in the core, when bound and not finished.
    holding: Option<(Arc<str>, Resources)>,
    /// Whether `holding` was accepted by the core (its node was known).
    counted: bool,
    job: Option<(JobKey, PodRole)>,
    /// `pod_appeared` was reported for this pod.
    appeared: bool,
    driver_phase: Option<String>,
}

/// The controller's state, owned by its loop.
struct Controller {
    client: Client,
    config: ControllerConfig,
    metrics: Arc<Metrics>,
    scheduler: Scheduler,
    nodes: HashSet<Arc<str>>,
    pods: HashMap<String, PodRecord>,
    /// Pods bound to nodes the core does not know yet, by node.
    uncounted: HashMap<Arc<str>, Vec<String>>,
    jobs: BTreeMap<JobKey, JobRecord>,
    by_id: HashMap<JobId, JobKey>,
    next_id: u64,
    node_init: Option<HashSet<Arc<str>>>,
    pod_init: Option<HashSet<String>>,
    job_init: HashMap<usize, HashSet<JobKey>>,
    nodes_synced: bool,
    pods_synced: bool,
    jobs_synced: Vec<bool>,
    restored: bool,
    /// Status patches to write, by job.
    pending_status: BTreeMap<JobKey, Value>,
}

/// Runs the controller until the watches end or the future is dropped.
pub async fn run(
    client: Client,
    config: ControllerConfig,
    metrics: Arc<Metrics>,
    ready: Arc<std::sync::atomic::AtomicBool>,
) -> Result<(), ControllerError> {
    let (tx, mut rx) = mpsc::channel::<Message>(4096);
    let mut tasks = tokio::task::JoinSet::new();
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::all(client.clone());
    spawn_watch(&mut tasks, watcher(nodes, watcher::Config::default()), tx.clone(), Message::Node);
    spawn_watch(&mut tasks, watcher(pods, watcher::Config::default()), tx.clone(), Message::Pod);
    let job_apis: Vec<Api<SparkJob>> = if config.namespaces.is_empty() {
        vec![Api::all(client.clone())]
    } else {
        config.namespaces.iter().map(|ns| Api::namespaced(client.clone(), ns)).collect()
    };
    let job_sources = job_apis.len();
    for (index, api) in job_apis.into_iter().enumerate() {
        let stream = watcher(api, watcher::Config::default());
        spawn_watch(&mut tasks, stream, tx.clone(), move |event| Message::Job(index, event));
    }
    drop(tx);

    let mut controller = Controller {
        client,
        scheduler: Scheduler::new(config.scheduler.clone()),
        config,
        metrics,
        nodes: HashSet::new(),
        pods: HashMap::new(),
        uncounted: HashMap::new(),
        jobs: BTreeMap::new(),
        by_id: HashMap::new(),
        next_id: 1,
        node_init: None,
        pod_init: None,
        job_init: HashMap::new(),
        nodes_synced: false,
        pods_synced: false,
        jobs_synced: vec![false; job_sources],
        restored: false,
        pending_status: BTreeMap::new(),
    };
    info!(policy = %controller.config.scheduler.policy, "controller started");
    loop {
        let sleep = controller.sleep_time();
        let first = tokio::select! {
            message = rx.recv() => match message {
                Some(message) => Some(message),
                None => return Err(ControllerError::WatchesEnded),
            },
            () = tokio::time::sleep(sleep) => None,
        };
        // 1. Take every delivered event.
        if let Some(message) = first {
            controller.handle(message);
        }
        for _ in 0..10_000 {
            match rx.try_recv() {
                Ok(message) => controller.handle(message),
                Err(_) => break,
            }
        }
        if !controller.synced() {
            continue;
        }
        // 2. Rebuild from what exists, once.
        if !controller.restored {
            controller.restore();
            controller.restored = true;
            ready.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        controller.dispatch().await;
    }
}

fn spawn_watch<K, S>(
    tasks: &mut tokio::task::JoinSet<()>,
    stream: S,
    tx: mpsc::Sender<Message>,
    wrap: impl Fn(watcher::Event<K>) -> Message + Send + 'static,
) where
    K: Send + 'static,
    S: futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
{
    tasks.spawn(async move {
        let mut stream = std::pin::pin!(stream.default_backoff());
        while let Some(event) = stream.next().await {
            match event {
                Ok(event) => {
                    if tx.send(wrap(event)).await.is_err() {
                        return;
                    }
                }
                Err(error) => debug!(%error, "watch error; the watcher retries"),
            }
        }
    });
}

fn key_of(job: &SparkJob) -> JobKey {
    (job.namespace().unwrap_or_default().into(), job.name_any().into())
}

fn phase_of(text: Option<&str>) -> Option<Phase> {
    Phase::ALL.into_iter().find(|p| Some(p.as_str()) == text)
}

/// The wait as the `Wait` column shows it. Whole minutes at the finest: the text is rewritten
/// into every queued job's status when it changes, and a per-second text would cost one write
/// per queued job per second.
fn wait_text(ms: u64) -> String {
    let seconds = ms / 1000;
    if seconds < 60 {
        "<1m".to_owned()
    } else if seconds < 7200 {
        format!("{}m", seconds / 60)
    } else {
        format!("{}h", seconds / 3600)
    }
}

impl Controller {
    fn synced(&self) -> bool {
        self.nodes_synced && self.pods_synced && self.jobs_synced.iter().all(|s| *s)
    }

    fn sleep_time(&self) -> Duration {
        let tick = self.config.tick;
        match self.scheduler.next_deadline() {
            Some(deadline) => Duration::from_millis(deadline.saturating_sub(now_ms())).min(tick),
            None => tick,
        }
    }

    // -- 1. Events ----------------------------------------------------------------------

    fn handle(&mut self, message: Message) {
        match message {
            Message::Node(event) => self.node_event(event),
            Message::Pod(event) => self.pod_event(event),
            Message::Job(source, event) => self.job_event(source, event),
        }
    }

    fn node_event(&mut self, event: watcher::Event<Node>) {
        match event {
            watcher::Event::Init => self.node_init = Some(HashSet::new()),
            watcher::Event::InitApply(node) => {
                if let Some(name) = self.apply_node(&node)
                    && let Some(seen) = &mut self.node_init
                {
                    seen.insert(name);
                }
            }
            watcher::Event::InitDone => {
                if let Some(seen) = self.node_init.take() {
                    let gone: Vec<Arc<str>> = self.nodes.difference(&seen).cloned().collect();
                    for name in gone {
                        self.remove_node(&name);
                    }
                }
                self.nodes_synced = true;
            }
            watcher::Event::Apply(node) => {
                self.apply_node(&node);
            }
            watcher::Event::Delete(node) => self.remove_node(&node.name_any()),
        }
    }

    fn apply_node(&mut self, node: &Node) -> Option<Arc<str>> {
        let spec = node_spec(node)?;
        let name = spec.name.clone();
        self.scheduler.upsert_node(spec);
        if self.nodes.insert(name.clone()) {
            // Pods that arrived before their node count now.
            for uid in self.uncounted.remove(&name).unwrap_or_default() {
                if let Some(pod) = self.pods.get_mut(&uid)
                    && let (Some((node, request)), false) = (&pod.holding, pod.counted)
                {
                    pod.counted = self.scheduler.add_pod(node, request);
                }
            }
        }
        Some(name)
    }

    fn remove_node(&mut self, name: &str) {
        let Some(name) = self.nodes.take(name) else { return };
        self.scheduler.remove_node(&name);
        for (uid, pod) in &mut self.pods {
            if pod.counted && pod.holding.as_ref().is_some_and(|(n, _)| *n == name) {
                pod.counted = false;
                self.uncounted.entry(name.clone()).or_default().push(uid.clone());
            }
        }
        info!(node = %name, "node removed");
    }

    fn pod_event(&mut self, event: watcher::Event<Pod>) {
        match event {
            watcher::Event::Init => self.pod_init = Some(HashSet::new()),
            watcher::Event::InitApply(pod) => {
                if let Some(uid) = self.apply_pod(&pod)
                    && let Some(seen) = &mut self.pod_init
                {
                    seen.insert(uid);
                }
            }
            watcher::Event::InitDone => {
                if let Some(seen) = self.pod_init.take() {
                    let gone: Vec<String> =
                        self.pods.keys().filter(|uid| !seen.contains(*uid)).cloned().collect();
                    for uid in gone {
                        self.remove_pod(&uid);
                    }
                }
                self.pods_synced = true;
            }
            watcher::Event::Apply(pod) => {
                self.apply_pod(&pod);
            }
            watcher::Event::Delete(pod) => {
                if let Some(uid) = pod.uid() {
                    self.remove_pod(&uid);
                }
            }
        }
    }

    /// Brings the core's view of one pod up to date. Idempotent: applying the same pod twice
    /// changes nothing, so relists and resumed watches never count a pod twice.
    fn apply_pod(&mut self, pod: &Pod) -> Option<String> {
        let uid = pod.uid()?;
        let namespace: Arc<str> = pod.namespace().unwrap_or_default().into();
        let holding = holding_node(pod).map(|node| (Arc::<str>::from(node), pod_request(pod)));
        let job =
            job_of(pod).map(|(name, role)| ((namespace.clone(), Arc::<str>::from(name)), role));
        let record = self.pods.entry(uid.clone()).or_insert_with(|| PodRecord {
            holding: None,
            counted: false,
            job: job.clone(),
            appeared: false,
            driver_phase: None,
        });
        if record.holding != holding {
            if let (Some((node, request)), true) = (&record.holding, record.counted) {
                self.scheduler.remove_pod(node, request);
            }
            record.counted = false;
            if let Some((node, request)) = &holding {
                record.counted = self.scheduler.add_pod(node, request);
                if !record.counted {
                    self.uncounted.entry(node.clone()).or_default().push(uid.clone());
                }
            }
            record.holding = holding;
        }
        let is_driver = matches!(&job, Some((_, PodRole::Driver)));
        if is_driver {
            record.driver_phase = Some(pod_phase(pod).to_owned());
        }
        let bound =
            pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).is_some_and(|n| !n.is_empty());
        let Some((key, role)) = job else { return Some(uid) };
        if !self.restored {
            return Some(uid);
        }
        // A job's pod on a node releases its reservation.
        if bound
            && !record.appeared
            && let Some(job) = self.jobs.get(&key)
        {
            if matches!(job.state, JobState::Admitted | JobState::Running) && !job.legacy {
                self.scheduler.pod_appeared(job.id, role);
                debug!(job = %key.1, namespace = %key.0, %role, "pod appeared");
            }
            record.appeared = true;
        }
        if is_driver {
            let phase = pod_phase(pod).to_owned();
            self.driver_phase_changed(&key, &phase);
        }
        Some(uid)
    }

    fn remove_pod(&mut self, uid: &str) {
        let Some(record) = self.pods.remove(uid) else { return };
        if let (Some((node, request)), true) = (&record.holding, record.counted) {
            self.scheduler.remove_pod(node, request);
        }
        if let Some((key, PodRole::Driver)) = &record.job {
            let unfinished = self.jobs.get(key).is_some_and(|j| {
                matches!(j.state, JobState::Admitted | JobState::Running) && !j.launch_pending
            });
            if unfinished && self.restored {
                self.finish(key, Phase::Failed, Some("the driver pod was deleted".into()));
            }
        }
    }

    fn job_event(&mut self, source: usize, event: watcher::Event<SparkJob>) {
        match event {
            watcher::Event::Init => {
                self.job_init.insert(source, HashSet::new());
            }
            watcher::Event::InitApply(job) => {
                let key = key_of(&job);
                self.apply_job(job);
                if let Some(seen) = self.job_init.get_mut(&source) {
                    seen.insert(key);
                }
            }
            watcher::Event::InitDone => {
                if let Some(seen) = self.job_init.remove(&source) {
                    let namespace = self.config.namespaces.get(source).cloned();
                    let gone: Vec<JobKey> = self
                        .jobs
                        .keys()
                        .filter(|k| namespace.as_deref().is_none_or(|ns| *k.0 == *ns))
                        .filter(|k| !seen.contains(*k))
                        .cloned()
                        .collect();
                    for key in gone {
                        self.job_deleted(&key);
                    }
                }
                if let Some(synced) = self.jobs_synced.get_mut(source) {
                    *synced = true;
                }
            }
            watcher::Event::Apply(job) => self.apply_job(job),
            watcher::Event::Delete(job) => self.job_deleted(&key_of(&job)),
        }
    }

    fn apply_job(&mut self, object: SparkJob) {
        let key = key_of(&object);
        // The same name with another uid: the old job was deleted and a new one created
        // while the watch was away.
        if self.jobs.get(&key).is_some_and(|r| r.object.uid() != object.uid()) {
            self.job_deleted(&key);
        }
        if let Some(record) = self.jobs.get_mut(&key) {
            let old_spec = std::mem::replace(&mut record.object, object);
            if old_spec.spec == record.object.spec || !self.restored {
                return;
            }
            self.spec_changed(&key);
            return;
        }
        let id = JobId(self.next_id);
        self.next_id += 1;
        let status = object.status.clone().unwrap_or_default();
        let spec = object.spec.to_job_spec(id, &key.0, &key.1).ok();
        self.by_id.insert(id, key.clone());
        self.jobs.insert(
            key,
            JobRecord {
                id,
                object,
                spec,
                state: JobState::New,
                legacy: false,
                launch_pending: false,
                status,
                arrival: id.0,
            },
        );
    }

    /// A job's priority or flow changed, or it was cancelled (the API or kubectl edited the
    /// spec).
    fn spec_changed(&mut self, key: &JobKey) {
        let Some(record) = self.jobs.get_mut(key) else { return };
        if record.state != JobState::Queued {
            return;
        }
        if record.object.spec.cancel == Some(true) {
            self.cancel_waiting(key);
            return;
        }
        let (Ok(priority), Ok(flow)) = (record.object.spec.priority(), record.object.spec.flow())
        else {
            return;
        };
        let id = record.id;
        if let Some(spec) = &mut record.spec
            && spec.priority != priority
            && self.scheduler.set_priority(id, priority)
        {
            info!(job = %key.1, namespace = %key.0, %priority, "priority changed");
            spec.priority = priority;
        }
        if flow == Flow::Legacy
            && let Some(spec) = self.scheduler.set_flow(id, Flow::Legacy)
        {
            info!(job = %key.1, namespace = %key.0, "moved to legacy: launching now");
            self.launch_as_legacy(key, spec);
        }
    }

    /// A job that has not been admitted is cancelled at its owner's request: it leaves its
    /// queue (if it joined one) and ends `cancelled`; its SparkJob stays as the record.
    fn cancel_waiting(&mut self, key: &JobKey) {
        let Some(record) = self.jobs.get_mut(key) else { return };
        if record.state == JobState::Queued {
            self.scheduler.cancel(record.id);
        }
        record.state = JobState::Final(Phase::Cancelled);
        self.metrics.cancellations.get_or_create(&labels([("reason", "requested")])).inc();
        info!(job = %key.1, namespace = %key.0, "cancelled at its owner's request");
        self.queue_status(
            key,
            json!({"phase": "cancelled", "reason": "cancelled at its owner's request",
                "finishedAt": now_ms(), "queuePosition": null}),
        );
    }

    /// A job takes the legacy flow (on arrival, or leaving its queue): it is launched at the
    /// next dispatch, as if sparkq were not there.
    fn launch_as_legacy(&mut self, key: &JobKey, spec: JobSpec) {
        let priority = spec.priority;
        if let Some(record) = self.jobs.get_mut(key) {
            record.spec = Some(spec);
            record.legacy = true;
            record.state = JobState::Admitted;
            record.launch_pending = true;
        }
        let flow_labels = labels([("priority", priority.as_str()), ("flow", "legacy")]);
        self.metrics.admissions.get_or_create(&flow_labels).inc();
    }

    fn job_deleted(&mut self, key: &JobKey) {
        let Some(record) = self.jobs.remove(key) else { return };
        self.by_id.remove(&record.id);
        self.pending_status.remove(key);
        match record.state {
            JobState::Queued => {
                self.scheduler.cancel(record.id);
                self.metrics.cancellations.get_or_create(&labels([("reason", "deleted")])).inc();
                info!(job = %key.1, namespace = %key.0, "deleted while queued: cancelled");
            }
            JobState::Admitted | JobState::Running if !record.legacy => {
                self.scheduler.job_finished(record.id);
                info!(job = %key.1, namespace = %key.0, "deleted while admitted: released");
            }
            _ => {}
        }
    }

    fn driver_phase_changed(&mut self, key: &JobKey, phase: &str) {
        let Some(record) = self.jobs.get(key) else { return };
        match (record.state, phase) {
            (JobState::Admitted, "Running") => {
                let id = record.id;
                let legacy = record.legacy;
                let now = now_ms();
                if !legacy {
                    self.scheduler.job_started(id, now);
                }
                if let Some(record) = self.jobs.get_mut(key) {
                    record.state = JobState::Running;
                }
                info!(job = %key.1, namespace = %key.0, "running");
                self.queue_status(
                    key,
                    json!({"phase": "running", "startedAt": now, "reason": null}),
                );
            }
            (JobState::Admitted | JobState::Running, "Succeeded") => {
                self.finish(key, Phase::Succeeded, None)
            }
            (JobState::Admitted | JobState::Running, "Failed") => {
                self.finish(key, Phase::Failed, Some("the driver pod failed".into()));
            }
            _ => {}
        }
    }

    fn finish(&mut self, key: &JobKey, phase: Phase, reason: Option<String>) {
        let Some(record) = self.jobs.get_mut(key) else { return };
        if !record.legacy {
            self.scheduler.job_finished(record.id);
        }
        record.state = JobState::Final(phase);
        info!(job = %key.1, namespace = %key.0, %phase, "finished");
        self.queue_status(
            key,
            json!({"phase": phase.as_str(), "finishedAt": now_ms(), "reason": reason, "queuePosition": null}),
        );
    }

    fn queue_status(&mut self, key: &JobKey, patch: Value) {
        let entry = self.pending_status.entry(key.clone()).or_insert_with(|| json!({}));
        combine_patches(entry, &patch);
    }

    // -- 2. Restart --------------------------------------------------------------------

    /// Rebuilds the queue and the reservations from the SparkJobs' statuses and the pods that
    /// exist: queued jobs in their recorded order, admitted jobs with what they still lack.
    fn restore(&mut self) {
        let now = now_ms();
        // Which roles of each job are already on nodes, and whether its driver exists.
        let mut seen: HashMap<JobKey, Vec<PodRole>> = HashMap::new();
        let mut drivers: HashMap<JobKey, String> = HashMap::new();
        for pod in self.pods.values_mut() {
            let Some((key, role)) = &pod.job else { continue };
            if *role == PodRole::Driver {
                drivers.insert(key.clone(), pod.driver_phase.clone().unwrap_or_default());
            }
            if pod.holding.is_some() {
                seen.entry(key.clone()).or_default().push(*role);
                pod.appeared = true;
            }
        }
        let mut queued: Vec<(u64, u64, JobKey)> = Vec::new();
        let keys: Vec<JobKey> = self.jobs.keys().cloned().collect();
        for key in keys {
            let Some(record) = self.jobs.get_mut(&key) else { continue };
            let phase = phase_of(record.status.phase.as_deref());
            let driver = drivers.get(&key);
            let legacy = record.status.launched_flow.as_deref() == Some("legacy");
            match (phase, driver) {
                (Some(p), _) if p.is_final() => record.state = JobState::Final(p),
                (Some(Phase::Admitted | Phase::Running), _) | (Some(Phase::Queued), Some(_)) => {
                    record.legacy = legacy;
                    record.launch_pending = driver.is_none();
                    record.state = JobState::Admitted;
                    if let (Some(spec), false) = (&record.spec, legacy) {
                        let roles = seen.get(&key).cloned().unwrap_or_default();
                        self.scheduler.restore_admitted(spec.clone(), &roles, now);
                    }
                    if phase == Some(Phase::Queued) {
                        // Launched before the crash, but `admitted` was never written.
                        let admitted = json!({"phase": "admitted", "admittedAt": now, "queuePosition": null,
                            "reason": null, "launchedFlow": "orchestrated"});
                        let pending =
                            self.pending_status.entry(key.clone()).or_insert_with(|| json!({}));
                        combine_patches(pending, &admitted);
                    }
                    if let Some(phase) =
                        driver.filter(|p| !p.is_empty() && *p != "Pending").cloned()
                    {
                        // A job recorded as running is running again in the core, since when
                        // the status says; then the driver's phase is followed as usual.
                        if let Some(record) = self.jobs.get_mut(&key)
                            && record.status.phase.as_deref() == Some("running")
                        {
                            if !record.legacy {
                                let started = record.status.started_at.unwrap_or(now);
                                self.scheduler.job_started(record.id, started);
                            }
                            record.state = JobState::Running;
                        }
                        self.driver_phase_changed(&key, &phase);
                    }
                    info!(job = %key.1, namespace = %key.0, "restored as admitted");
                }
                (Some(Phase::Queued), None) => {
                    match (record.status.enqueued_at, record.status.enqueue_sequence) {
                        (Some(at), Some(seq)) if record.spec.is_some() => {
                            queued.push((at, seq, key.clone()))
                        }
                        _ => record.state = JobState::New,
                    }
                }
                _ => record.state = JobState::New,
            }
        }
        queued.sort();
        let mut restored = Vec::new();
        for (at, seq, key) in queued {
            let Some(record) = self.jobs.get_mut(&key) else { continue };
            if let Some(spec) = &record.spec {
                self.scheduler.restore_queued(spec.clone(), at, seq);
                record.state = JobState::Queued;
                restored.push(key);
            }
        }
        // What changed while no replica was leading: a job moved to legacy launches now, and
        // with the orchestrator off every queued job does.
        for key in &restored {
            self.spec_changed(key);
        }
        if !self.scheduler.config().enabled {
            for spec in self.scheduler.set_enabled(false) {
                let Some(key) = self.by_id.get(&spec.id).cloned() else { continue };
                info!(job = %key.1, namespace = %key.0, "orchestrator off: launching at once");
                self.launch_as_legacy(&key, spec);
            }
        }
        info!(
            jobs = self.jobs.len(),
            nodes = self.nodes.len(),
            pods = self.pods.len(),
            "view complete: queue and reservations rebuilt"
        );
    }

    // -- 3 to 6. Dispatch --------------------------------------------------------------

    async fn dispatch(&mut self) {
        self.intake().await;
        self.launch_pending().await;

        let started = Instant::now();
        let now = now_ms();
        let decisions = self.scheduler.cycle(now);
        self.metrics.cycle_duration_seconds.observe(started.elapsed().as_secs_f64());
        self.carry_out(decisions, now).await;

        self.refresh_queue_statuses(now);
        self.flush_statuses().await;
        self.update_metrics(now);
    }

    /// 3. New jobs: rejected, launched as legacy, or queued with their sequence written.
    async fn intake(&mut self) {
        // Submission order: creation time (whole seconds in Kubernetes), then arrival.
        let mut fresh: Vec<(
            Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
            u64,
            JobKey,
        )> = self
            .jobs
            .iter()
            .filter(|(_, r)| r.state == JobState::New)
            .map(|(k, r)| (r.object.metadata.creation_timestamp.clone(), r.arrival, k.clone()))
            .collect();
        if fresh.is_empty() {
            return;
        }
        fresh.sort();
        let now = now_ms();
        let mut writes = Vec::new();
        for (_, _, key) in fresh {
            let Some(record) = self.jobs.get_mut(&key) else { continue };
            if record.object.spec.cancel == Some(true) {
                self.cancel_waiting(&key);
                continue;
            }
            let spec = match record.object.spec.to_job_spec(record.id, &key.0, &key.1) {
                Ok(spec) => spec,
                Err(error) => {
                    record.state = JobState::Final(Phase::Rejected);
                    warn!(job = %key.1, namespace = %key.0, %error, "rejected: invalid spec");
                    self.metrics.rejections.get_or_create(&labels([("reason", "invalid")])).inc();
                    self.queue_status(
                        &key,
                        json!({"phase": "rejected", "reason": error.to_string()}),
                    );
                    continue;
                }
            };
            record.spec = Some(spec.clone());
            let priority = spec.priority;
            match self.scheduler.submit(spec, now) {
                Submission::Queued { seq } => {
                    record.state = JobState::Queued;
                    info!(job = %key.1, namespace = %key.0, %priority, seq, "queued");
                    let patch =
                        json!({"phase": "queued", "enqueueSequence": seq, "enqueuedAt": now});
                    writes.push((key.clone(), record.id, patch));
                }
                Submission::Legacy => {
                    info!(job = %key.1, namespace = %key.0, "legacy flow: launching at once");
                    if let Some(spec) = record.spec.clone() {
                        self.launch_as_legacy(&key, spec);
                    }
                }
                Submission::Rejected { reason } => {
                    record.state = JobState::Final(Phase::Rejected);
                    warn!(job = %key.1, namespace = %key.0, %reason, "rejected: can never fit");
                    self.metrics
                        .rejections
                        .get_or_create(&labels([("reason", "never_fits")]))
                        .inc();
                    self.queue_status(&key, json!({"phase": "rejected", "reason": reason}));
                }
            }
        }
        // The sequence is durable before any cycle can admit the job.
        let results =
            join_all(writes.iter().map(|(key, _, patch)| self.write_status(key, patch))).await;
        for ((key, id, patch), result) in writes.into_iter().zip(results) {
            match result {
                Ok(()) => {
                    if let Some(record) = self.jobs.get_mut(&key) {
                        merge_status(&mut record.status, &patch);
                    }
                }
                Err(error) => {
                    warn!(job = %key.1, namespace = %key.0, %error, "enqueue not recorded; retrying");
                    self.scheduler.cancel(id);
                    if let Some(record) = self.jobs.get_mut(&key) {
                        record.state = JobState::New;
                    }
                }
            }
        }
    }

    /// 4. Launches that must happen now: legacy jobs, and launches a crash or an error cut.
    async fn launch_pending(&mut self) {
        let pending: Vec<JobKey> =
            self.jobs.iter().filter(|(_, r)| r.launch_pending).map(|(k, _)| k.clone()).collect();
        if pending.is_empty() {
            return;
        }
        let now = now_ms();
        let results = join_all(pending.iter().map(|key| self.launch(key))).await;
        for (key, result) in pending.into_iter().zip(results) {
            match result {
                Ok(()) => {
                    let Some(record) = self.jobs.get_mut(&key) else { continue };
                    record.launch_pending = false;
                    let flow = if record.legacy { "legacy" } else { "orchestrated" };
                    if record.status.phase.as_deref() != Some("admitted") || record.legacy {
                        let driver = self.config.launcher.driver_pod_name(&record.object);
                        self.queue_status(&key, json!({"phase": "admitted", "admittedAt": now,
                            "launchedFlow": flow, "driverPod": driver, "queuePosition": null, "reason": null}));
                    }
                }
                Err(error) => {
                    warn!(job = %key.1, namespace = %key.0, %error, "launch failed; retrying")
                }
            }
        }
    }

    async fn launch(&self, key: &JobKey) -> Result<(), crate::launcher::LaunchError> {
        let Some(record) = self.jobs.get(key) else { return Ok(()) };
        let Some(spec) = &record.spec else { return Ok(()) };
        self.config.launcher.launch(&self.client, &record.object, &spec.pods).await
    }

    /// 5. The cycle's decisions: launch, then record `admitted`.
    async fn carry_out(&mut self, decisions: Vec<Decision>, now: Millis) {
        let mut admitted = Vec::new();
        for decision in decisions {
            match decision {
                Decision::Admit { job, nodes } => {
                    let driver_node = nodes
                        .first()
                        .and_then(|&id| self.scheduler.cluster().node_name(id))
                        .cloned()
                        .unwrap_or_else(|| "".into());
                    let Some(key) = self.by_id.get(&job).cloned() else { continue };
                    let Some(record) = self.jobs.get_mut(&key) else { continue };
                    record.state = JobState::Admitted;
                    let priority = record.spec.as_ref().map_or(Priority::Normal, |s| s.priority);
                    let waited = now.saturating_sub(record.status.enqueued_at.unwrap_or(now));
                    info!(job = %key.1, namespace = %key.0, %priority, %driver_node, wait_ms = waited, "admitted");
                    self.metrics
                        .admissions
                        .get_or_create(&labels([
                            ("priority", priority.as_str()),
                            ("flow", "orchestrated"),
                        ]))
                        .inc();
                    self.metrics
                        .job_wait_seconds
                        .get_or_create(&labels([("priority", priority.as_str())]))
                        .observe(waited as f64 / 1000.0);
                    admitted.push((key, waited));
                }
                Decision::Cancel { job, reason } => {
                    let Some(key) = self.by_id.get(&job).cloned() else { continue };
                    if let Some(record) = self.jobs.get_mut(&key) {
                        record.state = JobState::Final(Phase::Cancelled);
                    }
                    info!(job = %key.1, namespace = %key.0, %reason, "cancelled");
                    self.metrics
                        .cancellations
                        .get_or_create(&labels([("reason", "head_timeout")]))
                        .inc();
                    self.queue_status(
                        &key,
                        json!({"phase": "cancelled", "reason": reason, "queuePosition": null}),
                    );
                }
                Decision::Reject { job, reason } => {
                    let Some(key) = self.by_id.get(&job).cloned() else { continue };
                    if let Some(record) = self.jobs.get_mut(&key) {
                        record.state = JobState::Final(Phase::Rejected);
                    }
                    warn!(job = %key.1, namespace = %key.0, %reason, "rejected: no longer fits");
                    self.metrics
                        .rejections
                        .get_or_create(&labels([("reason", "never_fits")]))
                        .inc();
                    self.queue_status(
                        &key,
                        json!({"phase": "rejected", "reason": reason, "queuePosition": null}),
                    );
                }
            }
        }
        if admitted.is_empty() {
            return;
        }
        let results = join_all(admitted.iter().map(|(key, _)| self.launch(key))).await;
        for ((key, waited), result) in admitted.into_iter().zip(results) {
            let Some(record) = self.jobs.get_mut(&key) else { continue };
            match result {
                Ok(()) => {
                    let driver = self.config.launcher.driver_pod_name(&record.object);
                    self.queue_status(
                        &key,
                        json!({"phase": "admitted", "admittedAt": now, "driverPod": driver,
                        "launchedFlow": "orchestrated", "queuePosition": null, "reason": null,
                        "waitTime": wait_text(waited)}),
                    );
                }
                Err(error) => {
                    record.launch_pending = true;
                    warn!(job = %key.1, namespace = %key.0, %error, "launch failed; retrying");
                }
            }
        }
    }

    /// 6a. Queue positions and wait reasons, written only when they change.
    fn refresh_queue_statuses(&mut self, now: Millis) {
        let mut updates = Vec::new();
        for (key, record) in &self.jobs {
            if record.state != JobState::Queued {
                continue;
            }
            let position = self.scheduler.queue_position(record.id).map(|p| p as u64);
            let reason = self.scheduler.wait_reason(record.id).map(|r| r.to_string());
            let waited = now.saturating_sub(record.status.enqueued_at.unwrap_or(now));
            let wait = wait_text(waited);
            if record.status.queue_position != position
                || record.status.reason != reason
                || record.status.wait_time.as_deref() != Some(wait.as_str())
            {
                updates.push((
                    key.clone(),
                    json!({"queuePosition": position, "reason": reason, "waitTime": wait}),
                ));
            }
        }
        for (key, patch) in updates {
            self.queue_status(&key, patch);
        }
    }

    /// 6b. Writes the queued status patches; a failed write is kept for the next pass.
    async fn flush_statuses(&mut self) {
        if self.pending_status.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending_status);
        let results =
            join_all(pending.iter().map(|(key, patch)| self.write_status(key, patch))).await;
        for ((key, patch), result) in pending.into_iter().zip(results) {
            match result {
                Ok(()) => {
                    if let Some(record) = self.jobs.get_mut(&key) {
                        merge_status(&mut record.status, &patch);
                    }
                }
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(error) => {
                    debug!(job = %key.1, namespace = %key.0, %error, "status write failed; retrying");
                    if self.jobs.contains_key(&key) {
                        let entry = self.pending_status.entry(key).or_insert_with(|| json!({}));
                        let mut merged = patch;
                        combine_patches(&mut merged, entry);
                        *entry = merged;
                    }
                }
            }
        }
    }

    async fn write_status(&self, key: &JobKey, patch: &Value) -> Result<(), kube::Error> {
        let api: Api<SparkJob> = Api::namespaced(self.client.clone(), &key.0);
        let body = json!({"status": patch});
        api.patch_status(&key.1, &PatchParams::default(), &Patch::Merge(&body)).await.map(|_| ())
    }

    /// 6c. The gauges.
    fn update_metrics(&self, now: Millis) {
        let m = &self.metrics;
        let mut lengths: BTreeMap<(Arc<str>, Priority), i64> = BTreeMap::new();
        for spec in self.scheduler.queued() {
            *lengths.entry((spec.namespace.clone(), spec.priority)).or_insert(0) += 1;
        }
        let [high, normal] = self.scheduler.queue_lengths();
        m.queue_jobs.get_or_create(&labels([("priority", "high")])).set(high as i64);
        m.queue_jobs.get_or_create(&labels([("priority", "normal")])).set(normal as i64);
        m.namespace_queue_jobs.clear();
        for ((namespace, priority), count) in lengths {
            m.namespace_queue_jobs
                .get_or_create(&labels([
                    ("namespace", &namespace),
                    ("priority", priority.as_str()),
                ]))
                .set(count);
        }
        let oldest = self.scheduler.oldest_enqueued();
        for priority in Priority::ALL {
            let age =
                oldest[priority.index()].map_or(0.0, |t| now.saturating_sub(t) as f64 / 1000.0);
            m.queue_head_age_seconds
                .get_or_create(&labels([("priority", priority.as_str())]))
                .set(age);
        }

        let mut by_phase: BTreeMap<&str, i64> =
            Phase::ALL.iter().map(|p| (p.as_str(), 0)).collect();
        for record in self.jobs.values() {
            let phase = match record.state {
                JobState::New | JobState::Queued => "queued",
                JobState::Admitted => "admitted",
                JobState::Running => "running",
                JobState::Final(p) => p.as_str(),
            };
            *by_phase.entry(phase).or_insert(0) += 1;
        }
        for (phase, count) in by_phase {
            m.jobs.get_or_create(&labels([("phase", phase)])).set(count);
        }

        let cluster = self.scheduler.cluster();
        let capacity = cluster.capacity();
        let (used, reserved) = cluster.allocated();
        let cores = |millis: i64| millis as f64 / 1000.0;
        for (kind, amount) in
            [("allocatable", &capacity), ("requested", &used), ("reserved", &reserved)]
        {
            m.cluster_cpu_cores
                .get_or_create(&labels([("kind", kind)]))
                .set(cores(amount.cpu_millis));
            m.cluster_memory_bytes
                .get_or_create(&labels([("kind", kind)]))
                .set(amount.memory_bytes);
        }

        // Usage of sparkq jobs' bound pods, by namespace, domain and priority, and per job.
        let mut usage: BTreeMap<(String, String, String), Resources> = BTreeMap::new();
        let mut per_job: BTreeMap<JobKey, Resources> = BTreeMap::new();
        for pod in self.pods.values() {
            let (Some((key, _)), Some((_, request))) = (&pod.job, &pod.holding) else { continue };
            let Some(record) = self.jobs.get(key) else { continue };
            let Some(spec) = &record.spec else { continue };
            let group =
                (key.0.to_string(), spec.domain.to_string(), spec.priority.as_str().to_owned());
            usage.entry(group).or_default().add(request);
            if matches!(record.state, JobState::Admitted | JobState::Running) {
                per_job.entry(key.clone()).or_default().add(request);
            }
        }
        m.usage_cpu_cores.clear();
        m.usage_memory_bytes.clear();
        for ((namespace, domain, priority), amount) in usage {
            let l =
                labels([("namespace", &namespace), ("domain", &domain), ("priority", &priority)]);
            m.usage_cpu_cores.get_or_create(&l).set(cores(amount.cpu_millis));
            m.usage_memory_bytes.get_or_create(&l).set(amount.memory_bytes);
        }
        m.job_cpu_cores.clear();
        m.job_memory_bytes.clear();
        for ((namespace, job), amount) in per_job {
            let l = labels([("namespace", &namespace), ("spark_job", &job)]);
            m.job_cpu_cores.get_or_create(&l).set(cores(amount.cpu_millis));
            m.job_memory_bytes.get_or_create(&l).set(amount.memory_bytes);
        }

        let blocked = self.scheduler.blocked_heads();
        for priority in Priority::ALL {
            let since = blocked.iter().filter(|b| b.priority == priority).map(|b| b.since_ms).min();
            let seconds = since.map_or(0.0, |s| now.saturating_sub(s) as f64 / 1000.0);
            m.head_blocked_seconds
                .get_or_create(&labels([("priority", priority.as_str())]))
                .set(seconds);
        }
        let free = if blocked.is_empty() { Resources::ZERO } else { cluster.free_total() };
        m.idle_cpu_cores_while_blocked.set(cores(free.cpu_millis));
        m.idle_memory_bytes_while_blocked.set(free.memory_bytes);
    }
}

fn merge_status(status: &mut SparkJobStatus, patch: &Value) {
    let mut current = serde_json::to_value(&*status).unwrap_or_else(|_| json!({}));
    crate::merge_json(&mut current, patch);
    if let Ok(merged) = serde_json::from_value(current) {
        *status = merged;
    }
}

/// Folds a later merge patch into an earlier one, keeping its `null`s (they clear fields).
fn combine_patches(earlier: &mut Value, later: &Value) {
    match (earlier, later) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in b {
                match a.get_mut(key) {
                    Some(existing) if existing.is_object() && value.is_object() => {
                        combine_patches(existing, value);
                    }
                    _ => {
                        a.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (earlier, later) => *earlier = later.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::wait_text;

    #[test]
    fn wait_text_changes_at_most_once_a_minute() {
        assert_eq!(wait_text(0), "<1m");
        assert_eq!(wait_text(59_999), "<1m");
        assert_eq!(wait_text(60_000), "1m");
        assert_eq!(wait_text(119 * 60_000 + 59_999), "119m");
        assert_eq!(wait_text(2 * 3_600_000), "2h");
    }
}
