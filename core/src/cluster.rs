//! Per-node capacity, reservations and placement.
//!
//! Free capacity is kept per node, never as a cluster-wide sum:
//! `free = allocatable − requests of bound non-terminal pods − reservations`. Placement follows
//! one rule, shared by the scheduler's fit check and the simulator's stand-in for
//! kube-scheduler: among the nodes where a pod fits, the highest (spread) or lowest (binpack)
//! mean of the free CPU and memory fractions after placement, ties broken by node name.
//!
//! Finding that node must not cost a scan of every node for every pod. Nodes with the same
//! allocatable amounts, labels and taints form a *class*; inside a class the score order does
//! not depend on the pod (the pod subtracts the same fractions everywhere), so a node's place
//! is fixed by one integer key, `free_cpu × alloc_memory + free_memory × alloc_cpu`. Each class
//! keeps its schedulable nodes in a tournament tree ([`index`]) of free amounts and keys, which
//! finds the best fitting node without visiting the ones that cannot hold the pod. The best
//! node of each eligible class then competes on the score itself.

use std::cmp::Ordering;
mod index;

use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::job::{Constraints, JobPods, PodRole, Taint};
use crate::quantity::{format_bytes, format_cpu};
use crate::resources::{ResourceKind, Resources};
use crate::scheduler::PlacementRule;

use index::{ClassIndex, Key, Offer, Want};

/// A node's identity inside one [`Cluster`]; ids of removed nodes are reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NodeId(pub u32);

/// What the cluster says of a node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSpec {
    pub name: Arc<str>,
    pub allocatable: Resources,
    /// Label key and value pairs, sorted by key.
    pub labels: Vec<(Arc<str>, Arc<str>)>,
    pub taints: Vec<Taint>,
    /// False when the node is cordoned or not Ready: it then offers nothing.
    pub schedulable: bool,
}

/// A node with what is bound to it and reserved on it.
#[derive(Clone, Debug)]
pub struct NodeState {
    pub spec: NodeSpec,
    /// Requests of every non-terminal pod bound to the node, terminating ones included.
    pub used: Resources,
    /// Capacity held for admitted jobs whose pods have not appeared yet.
    pub reserved: Resources,
    class: usize,
    /// `free_cpu × alloc_memory + free_memory × alloc_cpu`: the score order inside the class.
    order_key: i128,
    /// The node's slot in its class's index while it is schedulable.
    slot: Option<usize>,
    /// The node's place in name order: ties in the placement order go to the lower rank.
    rank: u32,
}

impl NodeState {
    /// `allocatable − used − reserved`; negative when the node is overcommitted.
    pub fn free(&self) -> Resources {
        let mut free = self.spec.allocatable.clone();
        free.sub(&self.used);
        free.sub(&self.reserved);
        free
    }

    fn free_cpu_millis(&self) -> i64 {
        self.spec.allocatable.cpu_millis - self.used.cpu_millis - self.reserved.cpu_millis
    }

    fn free_memory_bytes(&self) -> i64 {
        self.spec.allocatable.memory_bytes - self.used.memory_bytes - self.reserved.memory_bytes
    }

    fn fits(&self, request: &Resources) -> bool {
        self.fits_after(request, 0)
    }

    /// Whether one more `request` fits once `taken` of them are held here besides what is.
    fn fits_after(&self, request: &Resources, taken: u32) -> bool {
        let n = i64::from(taken) + 1;
        let alloc = &self.spec.allocatable;
        let room = |alloc: i64, used: i64, reserved: i64, asked: i64| {
            alloc - used - reserved >= asked.saturating_mul(n)
        };
        room(alloc.cpu_millis, self.used.cpu_millis, self.reserved.cpu_millis, request.cpu_millis)
            && room(
                alloc.memory_bytes,
                self.used.memory_bytes,
                self.reserved.memory_bytes,
                request.memory_bytes,
            )
            && room(alloc.pods, self.used.pods, self.reserved.pods, request.pods)
            && (request.extended.is_empty() || {
                let free = self.free();
                request
                    .extended
                    .iter()
                    .all(|(name, amount)| free.extended_amount(name) >= amount.saturating_mul(n))
            })
    }
}

/// Nodes that are interchangeable but for what runs on them.
#[derive(Clone, Debug)]
struct NodeClass {
    allocatable: Resources,
    labels: Vec<(Arc<str>, Arc<str>)>,
    taints: Vec<Taint>,
    /// The schedulable members.
    index: ClassIndex,
    /// Every member, schedulable or not.
    members: usize,
    /// What the schedulable members hold in sum (bound requests and reservations), so that
    /// the free capacity of a class is known without visiting its nodes.
    held: Resources,
}

impl NodeClass {
    fn free_sum(&self) -> Resources {
        let mut free = self.allocatable.times(self.index.len() as u32);
        free.sub(&self.held);
        free
    }
}

type ClassShape = (Resources, Vec<(Arc<str>, Arc<str>)>, Vec<Taint>);

/// Why a set of pods could not be placed now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Shortfall {
    /// The summed free capacity of the eligible nodes is short of this resource by `gap`.
    Insufficient { resource: ResourceKind, gap: i64 },
    /// The sum would fit, but no placement of the pods one at a time does.
    Fragmented,
}

/// Why a job's pods could not be reserved, and which pod found no node (none when the sums
/// alone showed the shortage).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Misfit {
    pub shortfall: Shortfall,
    pub pod: Option<u32>,
}

/// The nodes chosen for a job's pods: index 0 is the driver, then the executors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    pub nodes: Vec<NodeId>,
}

/// The cluster as the scheduler sees it.
#[derive(Clone, Debug)]
pub struct Cluster {
    rule: PlacementRule,
    nodes: Vec<Option<NodeState>>,
    vacant: Vec<u32>,
    by_name: BTreeMap<Arc<str>, NodeId>,
    classes: Vec<NodeClass>,
    class_of_shape: BTreeMap<ClassShape, usize>,
    /// Bumped whenever nodes are added, removed, or change shape or schedulability.
    node_epoch: u64,
    /// Kept for their capacity between placements of many pods: candidates per class.
    heaps: Vec<BinaryHeap<(Key, NodeId, u32)>>,
    found: Vec<(Key, NodeId)>,
}

impl Cluster {
    pub fn new(rule: PlacementRule) -> Cluster {
        Cluster {
            rule,
            nodes: Vec::new(),
            vacant: Vec::new(),
            by_name: BTreeMap::new(),
            classes: Vec::new(),
            class_of_shape: BTreeMap::new(),
            node_epoch: 0,
            heaps: Vec::new(),
            found: Vec::new(),
        }
    }

    pub fn rule(&self) -> PlacementRule {
        self.rule
    }

    /// Changes each time the set of nodes, their shapes or their schedulability change.
    pub fn node_epoch(&self) -> u64 {
        self.node_epoch
    }

    pub fn node_id(&self, name: &str) -> Option<NodeId> {
        self.by_name.get(name).copied()
    }

    /// The node behind an id. Ids come from this cluster, so a stale one is a caller bug.
    pub fn node(&self, id: NodeId) -> &NodeState {
        self.nodes[id.0 as usize].as_ref().expect("node id refers to a live node")
    }

    /// The name of the node behind an id, if it is still there.
    pub fn node_name(&self, id: NodeId) -> Option<&Arc<str>> {
        self.nodes.get(id.0 as usize)?.as_ref().map(|node| &node.spec.name)
    }

    /// Every node, by name.
    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, &NodeState)> + '_ {
        self.by_name.values().map(|&id| (id, self.node(id)))
    }

    pub fn node_count(&self) -> usize {
        self.by_name.len()
    }

    /// Adds a node, or updates one of the same name keeping what is bound and reserved on it.
    pub fn upsert_node(&mut self, spec: NodeSpec) -> NodeId {
        let (id, rerank) = self.upsert_unranked(spec);
        if rerank {
            self.rerank();
        }
        id
    }

    /// Adds or replaces many nodes with one pass over the ranks at the end, instead of one per
    /// node: adding n nodes one by one, each sorting before some others by name (`pool-10`
    /// before `pool-2`), would move O(n) ranks each time.
    pub fn upsert_nodes(&mut self, specs: impl IntoIterator<Item = NodeSpec>) -> Vec<NodeId> {
        let mut rerank = false;
        let ids = specs
            .into_iter()
            .map(|spec| {
                let (id, moved) = self.upsert_unranked(spec);
                rerank |= moved;
                id
            })
            .collect();
        if rerank {
            self.rerank();
        }
        ids
    }

    /// Adds or replaces a node; true when the ranks of others must move.
    fn upsert_unranked(&mut self, spec: NodeSpec) -> (NodeId, bool) {
        if let Some(id) = self.node_id(&spec.name) {
            let (used, reserved) = {
                let old = self.node(id);
                if old.spec == spec {
                    return (id, false);
                }
                (old.used.clone(), old.reserved.clone())
            };
            self.detach(id);
            self.attach(id, spec, used, reserved);
            self.node_epoch += 1;
            return (id, false);
        }
        let id = match self.vacant.pop() {
            Some(slot) => NodeId(slot),
            None => {
                self.nodes.push(None);
                NodeId(self.nodes.len() as u32 - 1)
            }
        };
        let name = spec.name.clone();
        self.by_name.insert(spec.name.clone(), id);
        self.attach(id, spec, Resources::ZERO, Resources::ZERO);
        self.node_epoch += 1;
        if self.by_name.keys().next_back() != Some(&name) {
            // Not last by name: the ranks after it shift.
            return (id, true);
        }
        self.set_rank(id, self.by_name.len() as u32 - 1);
        (id, false)
    }

    /// Gives every node its rank in name order and re-files the ones whose rank changed.
    fn rerank(&mut self) {
        let order: Vec<NodeId> = self.by_name.values().copied().collect();
        for (rank, id) in order.into_iter().enumerate() {
            self.set_rank(id, rank as u32);
        }
    }

    fn set_rank(&mut self, id: NodeId, rank: u32) {
        let Some(node) = self.nodes[id.0 as usize].as_mut() else { return };
        if node.rank == rank {
            return;
        }
        node.rank = rank;
        let (class, slot) = (node.class, node.slot);
        if let Some(slot) = slot {
            let node = self.node(id);
            let offer = Self::offer_of(self.rule, node);
            self.classes[class].index.set(slot, offer);
        }
    }

    /// Removes a node; what was bound or reserved on it goes with it.
    pub fn remove_node(&mut self, name: &str) -> Option<NodeState> {
        let id = self.by_name.remove(name)?;
        self.detach(id);
        self.vacant.push(id.0);
        self.node_epoch += 1;
        let removed = self.nodes[id.0 as usize].take();
        self.rerank();
        removed
    }

    /// Cordons or uncordons a node. Returns false when there is no such node.
    pub fn set_schedulable(&mut self, name: &str, schedulable: bool) -> bool {
        let Some(id) = self.node_id(name) else { return false };
        let mut spec = self.node(id).spec.clone();
        spec.schedulable = schedulable;
        self.upsert_node(spec);
        true
    }

    /// A pod bound to the node starts counting.
    pub fn add_pod(&mut self, id: NodeId, request: &Resources) {
        self.update(id, request, true, true);
    }

    /// A pod is gone from the node.
    pub fn remove_pod(&mut self, id: NodeId, request: &Resources) {
        self.update(id, request, false, true);
    }

    pub fn reserve(&mut self, id: NodeId, request: &Resources) {
        self.update(id, request, true, false);
    }

    pub fn unreserve(&mut self, id: NodeId, request: &Resources) {
        self.update(id, request, false, false);
    }

    /// A pod appears where capacity was reserved for it: the reservation becomes the pod's
    /// request. Free capacity does not change, so neither does the node's place in the index.
    pub fn commit_reservation(&mut self, id: NodeId, request: &Resources) {
        if let Some(node) = self.nodes[id.0 as usize].as_mut() {
            node.reserved.sub(request);
            node.used.add(request);
        }
    }

    /// Allocatable capacity of the schedulable nodes.
    pub fn capacity(&self) -> Resources {
        let mut total = Resources::ZERO;
        for (_, node) in self.nodes().filter(|(_, n)| n.spec.schedulable) {
            total.add(&node.spec.allocatable);
        }
        total
    }

    /// Requests bound and capacity reserved, over every node.
    pub fn allocated(&self) -> (Resources, Resources) {
        let (mut used, mut reserved) = (Resources::ZERO, Resources::ZERO);
        for (_, node) in self.nodes() {
            used.add(&node.used);
            reserved.add(&node.reserved);
        }
        (used, reserved)
    }

    /// Free capacity summed over the schedulable nodes (an overcommitted node counts negative).
    pub fn free_total(&self) -> Resources {
        let mut total = Resources::ZERO;
        for class in &self.classes {
            total.add(&class.free_sum());
        }
        total
    }

    /// The node where one pod would go now, by the placement rule, or `None`.
    pub fn place(&self, request: &Resources, constraints: &Constraints) -> Option<NodeId> {
        let mut best: Option<(f64, u32, NodeId)> = None;
        for class in &self.classes {
            if !self.class_admits(class, request, constraints) {
                continue;
            }
            let Some(id) = self.first_fit_in_class(class, request) else { continue };
            let node = self.node(id);
            let score = score_after_taken(node, request, 0);
            if best.is_none_or(|(s, r, _)| self.beats((score, node.rank), (s, r))) {
                best = Some((score, node.rank, id));
            }
        }
        best.map(|(_, _, id)| id)
    }

    /// Places every pod of a job, one at a time, holding each as a reservation so the next
    /// pod sees it. On success the reservations stay and the chosen nodes are returned; on
    /// failure nothing is left reserved.
    pub fn reserve_job(
        &mut self,
        pods: &JobPods,
        constraints: &Constraints,
    ) -> Result<Placement, Misfit> {
        // When the eligible classes lack the job's total, no placement needs to be tried.
        if let short @ Shortfall::Insufficient { .. } = self.shortfall(pods, constraints) {
            return Err(Misfit { shortfall: short, pod: None });
        }
        let Some(driver) = self.place(&pods.driver, constraints) else {
            return Err(Misfit { shortfall: self.shortfall(pods, constraints), pod: Some(0) });
        };
        self.reserve(driver, &pods.driver);
        let mut nodes = Vec::with_capacity(pods.pod_count() as usize);
        nodes.push(driver);
        match self.place_many(&pods.executor, pods.executors, constraints, &mut nodes) {
            Ok(()) => {
                for &id in &nodes[1..] {
                    self.reserve(id, &pods.executor);
                }
                Ok(Placement { nodes })
            }
            Err(placed) => {
                self.unreserve(driver, &pods.driver);
                let shortfall = self.shortfall(pods, constraints);
                Err(Misfit { shortfall, pod: Some(1 + placed) })
            }
        }
    }

    /// The nodes that `count` identical pods would get if each were placed by
    /// [`Cluster::place`] and reserved before the next, found without touching the index: one
    /// search per class for its `count` best fitting nodes, then the pods are handed out from
    /// those. Nodes outside that set rank below every node in it and only lose room while the
    /// pods are handed out, so as long as one node of the set is untouched the class's best
    /// node is in the set; and `count` pods touch at most `count` nodes. The nodes are pushed
    /// onto `chosen`; `Err` says how many pods found a node before one did not.
    fn place_many(
        &mut self,
        request: &Resources,
        count: u32,
        constraints: &Constraints,
        chosen: &mut Vec<NodeId>,
    ) -> Result<(), u32> {
        if count == 0 {
            return Ok(());
        }
        let want = Want::new(
            request.cpu_millis,
            request.memory_bytes,
            request.pods,
            !request.extended.is_empty(),
        );
        // Per eligible class, its candidates by current key, with how many pods each has taken.
        // The buffers are kept between calls for their capacity.
        let (mut heaps, mut found) =
            (std::mem::take(&mut self.heaps), std::mem::take(&mut self.found));
        let mut classes = 0;
        for class in &self.classes {
            if !self.class_admits(class, request, constraints) {
                continue;
            }
            let accept = |id| {
                let node = self.node(id);
                node.fits(request).then(|| Self::index_key(self.rule, node.order_key, node.rank))
            };
            class.index.top(want, count as usize, accept, &mut found);
            if found.is_empty() {
                continue;
            }
            if heaps.len() == classes {
                heaps.push(BinaryHeap::new());
            }
            heaps[classes].extend(found.drain(..).map(|(key, id)| (key, id, 0)));
            classes += 1;
        }
        let outcome = self.hand_out(&mut heaps[..classes], request, count, chosen);
        for heap in &mut heaps {
            heap.clear();
        }
        (self.heaps, self.found) = (heaps, found);
        outcome
    }

    /// Hands `count` pods of `request` out to the candidates of each class, best node first.
    fn hand_out(
        &self,
        classes: &mut [BinaryHeap<(Key, NodeId, u32)>],
        request: &Resources,
        count: u32,
        chosen: &mut Vec<NodeId>,
    ) -> Result<(), u32> {
        for placed in 0..count {
            let pick = if classes.len() == 1 {
                Some(0).filter(|_| !classes[0].is_empty())
            } else {
                // The classes' best nodes compete on the score, as in `place`.
                let mut best: Option<(f64, u32, usize)> = None;
                for (at, heap) in classes.iter().enumerate() {
                    let Some(&(_, id, taken)) = heap.peek() else { continue };
                    let node = self.node(id);
                    let score = score_after_taken(node, request, taken);
                    if best.is_none_or(|(s, r, _)| self.beats((score, node.rank), (s, r))) {
                        best = Some((score, node.rank, at));
                    }
                }
                best.map(|(_, _, at)| at)
            };
            let Some(at) = pick else { return Err(placed) };
            let Some((_, id, taken)) = classes[at].pop() else { return Err(placed) };
            chosen.push(id);
            let taken = taken + 1;
            let node = self.node(id);
            if node.fits_after(request, taken) {
                let order_key = Self::order_key_of(
                    &self.classes[node.class].allocatable,
                    node.free_cpu_millis() - request.cpu_millis.saturating_mul(taken.into()),
                    node.free_memory_bytes() - request.memory_bytes.saturating_mul(taken.into()),
                );
                classes[at].push((Self::index_key(self.rule, order_key, node.rank), id, taken));
            }
        }
        Ok(())
    }

    /// Whether a node of score and rank `a` goes before one of `b` under the placement rule.
    fn beats(&self, a: (f64, u32), b: (f64, u32)) -> bool {
        let by_score = match self.rule {
            PlacementRule::Spread => a.0.total_cmp(&b.0).reverse(),
            PlacementRule::Binpack => a.0.total_cmp(&b.0),
        };
        by_score.then_with(|| a.1.cmp(&b.1)) == Ordering::Less
    }

    /// Why the job's pods cannot all be placed now: the resource the eligible nodes lack most
    /// in sum, or fragmentation when the sum would do.
    pub fn shortfall(&self, pods: &JobPods, constraints: &Constraints) -> Shortfall {
        if pods.driver.extended.is_empty() && pods.executor.extended.is_empty() {
            return self.shortfall_plain(pods, constraints);
        }
        self.shortfall_any(pods, constraints)
    }

    /// [`Cluster::shortfall`] for any job, extended resources included.
    fn shortfall_any(&self, pods: &JobPods, constraints: &Constraints) -> Shortfall {
        let request = pods.total();
        let mut free = Resources::ZERO;
        for class in &self.classes {
            if constraints.selects(&class.labels) && constraints.tolerates_all(&class.taints) {
                free.add(&class.free_sum());
            }
        }
        // The resource short by the largest share of what the job asks for.
        let worst = request
            .kinds()
            .filter_map(|kind| {
                let asked = request.amount(&kind);
                let gap = asked - free.amount(&kind).max(0);
                (gap > 0).then(|| (gap as f64 / asked as f64, kind, gap))
            })
            .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(&a.1)));
        match worst {
            Some((_, resource, gap)) => Shortfall::Insufficient { resource, gap },
            None => Shortfall::Fragmented,
        }
    }

    /// [`Cluster::shortfall`] for jobs that ask for CPU, memory and pod slots only: the same
    /// answer without building resource lists, since every job is checked this way before
    /// each try.
    fn shortfall_plain(&self, pods: &JobPods, constraints: &Constraints) -> Shortfall {
        let n = i64::from(pods.executors);
        let (driver, executor) = (&pods.driver, &pods.executor);
        let asked = [
            driver.cpu_millis + executor.cpu_millis * n,
            driver.memory_bytes + executor.memory_bytes * n,
            driver.pods + executor.pods * n,
        ];
        let mut free = [0i64; 3];
        for class in &self.classes {
            if constraints.selects(&class.labels) && constraints.tolerates_all(&class.taints) {
                let members = class.index.len() as i64;
                let alloc = &class.allocatable;
                free[0] += alloc.cpu_millis * members - class.held.cpu_millis;
                free[1] += alloc.memory_bytes * members - class.held.memory_bytes;
                free[2] += alloc.pods * members - class.held.pods;
            }
        }
        // The resource short by the largest share of what the job asks for; the first of
        // CPU, memory, pods on a tie.
        let kinds = [ResourceKind::Cpu, ResourceKind::Memory, ResourceKind::Pods];
        let mut worst: Option<(f64, usize, i64)> = None;
        for at in 0..3 {
            let gap = asked[at] - free[at].max(0);
            if gap > 0 {
                let share = gap as f64 / asked[at] as f64;
                if worst.is_none_or(|(most, _, _)| share > most) {
                    worst = Some((share, at, gap));
                }
            }
        }
        match worst {
            Some((_, at, gap)) => Shortfall::Insufficient { resource: kinds[at].clone(), gap },
            None => Shortfall::Fragmented,
        }
    }

    /// Whether the job could be placed on this cluster with nothing running and every node
    /// schedulable, cordoned ones included. `Err` says which pod, which resource and what the
    /// largest node offers.
    pub fn fits_when_empty(&self, pods: &JobPods, constraints: &Constraints) -> Result<(), String> {
        let eligible: Vec<&NodeState> = self
            .nodes()
            .map(|(_, node)| node)
            .filter(|node| {
                constraints.selects(&node.spec.labels)
                    && constraints.tolerates_all(&node.spec.taints)
            })
            .collect();
        if eligible.is_empty() {
            return Err(format!(
                "no node matches the job's node selector and tolerations ({} nodes in the cluster)",
                self.node_count()
            ));
        }
        // Each pod alone must fit on some node.
        for role in [PodRole::Driver, PodRole::Executor] {
            if role == PodRole::Executor && pods.executors == 0 {
                continue;
            }
            let request = if role == PodRole::Driver { &pods.driver } else { &pods.executor };
            if eligible.iter().any(|node| node.spec.allocatable.covers(request)) {
                continue;
            }
            let kind = request
                .kinds()
                .find(|kind| {
                    eligible.iter().all(|n| n.spec.allocatable.amount(kind) < request.amount(kind))
                })
                .unwrap_or(ResourceKind::Cpu);
            let largest = eligible
                .iter()
                .max_by(|a, b| {
                    a.spec
                        .allocatable
                        .amount(&kind)
                        .cmp(&b.spec.allocatable.amount(&kind))
                        .then_with(|| b.spec.name.cmp(&a.spec.name))
                })
                .map(|n| (n.spec.name.clone(), n.spec.allocatable.amount(&kind)));
            let (largest_name, largest_amount) = largest.unwrap_or_else(|| ("?".into(), 0));
            return Err(format!(
                "{role} pod requests {} {kind} but the largest node, {largest_name}, has {} allocatable",
                show_amount(&kind, request.amount(&kind)),
                show_amount(&kind, largest_amount),
            ));
        }
        // All pods together, placed one at a time on the empty eligible nodes.
        let mut free: Vec<Resources> =
            eligible.iter().map(|node| node.spec.allocatable.clone()).collect();
        for index in 0..pods.pod_count() {
            let request = pods.request(index);
            let chosen = (0..free.len()).filter(|&i| free[i].covers(request)).max_by(|&a, &b| {
                let sa = fraction_score(&free[a], &eligible[a].spec.allocatable, request);
                let sb = fraction_score(&free[b], &eligible[b].spec.allocatable, request);
                let by_score = match self.rule {
                    PlacementRule::Spread => sa.total_cmp(&sb),
                    PlacementRule::Binpack => sb.total_cmp(&sa),
                };
                by_score.then_with(|| eligible[b].spec.name.cmp(&eligible[a].spec.name))
            });
            match chosen {
                Some(i) => free[i].sub(request),
                None => {
                    let kind = eligible
                        .iter()
                        .map(|n| n.spec.allocatable.clone())
                        .fold(Resources::ZERO, |mut sum, a| {
                            sum.add(&a);
                            sum
                        })
                        .first_shortfall(&pods.total())
                        .map_or(ResourceKind::Cpu, |(kind, _)| kind);
                    let largest = eligible
                        .iter()
                        .max_by(|a, b| {
                            a.spec
                                .allocatable
                                .amount(&kind)
                                .cmp(&b.spec.allocatable.amount(&kind))
                                .then_with(|| b.spec.name.cmp(&a.spec.name))
                        })
                        .map(|n| (n.spec.name.clone(), n.spec.allocatable.amount(&kind)))
                        .unwrap_or_else(|| ("?".into(), 0));
                    return Err(format!(
                        "driver and {} executors ({} {kind} in all) do not fit together even on \
                         the empty cluster: {} of {} pods placed; the largest node, {}, has {} \
                         allocatable",
                        pods.executors,
                        show_amount(&kind, pods.total().amount(&kind)),
                        index,
                        pods.pod_count(),
                        largest.0,
                        show_amount(&kind, largest.1),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Checks the cluster's own bookkeeping: every class index holds exactly the schedulable
    /// nodes under their current keys. For tests and simulation invariants.
    pub fn check_index(&self) -> Result<(), String> {
        let mut indexed = 0;
        for class in &self.classes {
            class.index.check()?;
            indexed += class.index.len();
            let mut held = Resources::ZERO;
            for (_, node) in self.nodes().filter(|(_, n)| n.spec.schedulable) {
                if !std::ptr::eq(&self.classes[node.class], class) {
                    continue;
                }
                let name = &node.spec.name;
                let slot = node.slot.ok_or(format!("{name} is schedulable but not indexed"))?;
                if node.order_key != Self::order_key(&class.allocatable, node)
                    || class.index.offer(slot) != Some(Self::offer_of(self.rule, node))
                {
                    return Err(format!("index entry for {name} is stale"));
                }
                held.add(&node.used);
                held.add(&node.reserved);
            }
            if held != class.held {
                return Err("a class's held sum does not match its nodes".into());
            }
        }
        for (rank, (_, node)) in self.nodes().enumerate() {
            if node.rank as usize != rank {
                return Err(format!(
                    "{} has rank {} but is {rank} by name",
                    node.spec.name, node.rank
                ));
            }
        }
        let schedulable = self.nodes().filter(|(_, n)| n.spec.schedulable).count();
        if indexed != schedulable {
            return Err(format!("{indexed} nodes indexed, {schedulable} schedulable"));
        }
        Ok(())
    }

    fn class_admits(&self, class: &NodeClass, request: &Resources, c: &Constraints) -> bool {
        class.index.len() > 0
            && class.allocatable.covers(request)
            && c.selects(&class.labels)
            && c.tolerates_all(&class.taints)
    }

    /// The best node of the class, by the placement rule, that has room for the request.
    fn first_fit_in_class(&self, class: &NodeClass, request: &Resources) -> Option<NodeId> {
        let want = Want::new(
            request.cpu_millis,
            request.memory_bytes,
            request.pods,
            !request.extended.is_empty(),
        );
        class.index.best(want, |id| {
            let node = self.node(id);
            node.fits(request).then(|| Self::index_key(self.rule, node.order_key, node.rank))
        })
    }

    fn order_key(allocatable: &Resources, node: &NodeState) -> i128 {
        Self::order_key_of(allocatable, node.free_cpu_millis(), node.free_memory_bytes())
    }

    fn order_key_of(allocatable: &Resources, free_cpu_millis: i64, free_memory_bytes: i64) -> i128 {
        i128::from(free_cpu_millis) * i128::from(allocatable.memory_bytes.max(1))
            + i128::from(free_memory_bytes) * i128::from(allocatable.cpu_millis.max(1))
    }

    /// The order key with the name rank folded into its low bits, so that every node's key is
    /// unique and ties go to the node that comes first by name; negated under binpack, so that
    /// the index always looks for the highest key. Order keys stay far below 2^94, so the
    /// shift cannot overflow.
    fn index_key(rule: PlacementRule, order_key: i128, rank: u32) -> Key {
        Key::new(match rule {
            PlacementRule::Spread => order_key * (1 << 32) + i128::from(u32::MAX - rank),
            PlacementRule::Binpack => -(order_key * (1 << 32) + i128::from(rank)),
        })
    }

    /// What the node offers to the index: its free amounts and its key (from its current
    /// `order_key`).
    fn offer_of(rule: PlacementRule, node: &NodeState) -> Offer {
        let pods = node.spec.allocatable.pods - node.used.pods - node.reserved.pods;
        let key = Self::index_key(rule, node.order_key, node.rank);
        Offer::leaf(node.free_cpu_millis(), node.free_memory_bytes(), pods, key)
    }

    fn attach(&mut self, id: NodeId, spec: NodeSpec, used: Resources, reserved: Resources) {
        let shape = (spec.allocatable.clone(), spec.labels.clone(), spec.taints.clone());
        let class = match self.class_of_shape.get(&shape) {
            Some(&class) => class,
            None => {
                self.classes.push(NodeClass {
                    allocatable: spec.allocatable.clone(),
                    labels: spec.labels.clone(),
                    taints: spec.taints.clone(),
                    index: ClassIndex::default(),
                    members: 0,
                    held: Resources::ZERO,
                });
                self.class_of_shape.insert(shape, self.classes.len() - 1);
                self.classes.len() - 1
            }
        };
        let rank = self.nodes[id.0 as usize].as_ref().map_or(u32::MAX, |n| n.rank);
        let mut node = NodeState { spec, used, reserved, class, order_key: 0, slot: None, rank };
        node.order_key = Self::order_key(&self.classes[class].allocatable, &node);
        let offer = Self::offer_of(self.rule, &node);
        let class = &mut self.classes[class];
        class.members += 1;
        if node.spec.schedulable {
            node.slot = Some(class.index.insert(id, offer));
            class.held.add(&node.used);
            class.held.add(&node.reserved);
        }
        self.nodes[id.0 as usize] = Some(node);
    }

    fn detach(&mut self, id: NodeId) {
        let node = self.nodes[id.0 as usize].as_mut().expect("detaching a live node");
        let class = &mut self.classes[node.class];
        class.members -= 1;
        if let Some(slot) = node.slot.take() {
            class.index.remove(slot);
            class.held.sub(&node.used);
            class.held.sub(&node.reserved);
        }
    }

    /// Applies a change of what the node holds (`+delta` to used when `to_used`, else to
    /// reserved) and keeps the index and the class sums in step.
    fn update(&mut self, id: NodeId, delta: &Resources, add: bool, to_used: bool) {
        let slot = id.0 as usize;
        let node = self.nodes[slot].as_mut().expect("updating a live node");
        let target = if to_used { &mut node.used } else { &mut node.reserved };
        if add {
            target.add(delta)
        } else {
            target.sub(delta)
        }
        let class = node.class;
        let Some(index_slot) = node.slot else { return };
        let held = &mut self.classes[class].held;
        if add {
            held.add(delta)
        } else {
            held.sub(delta)
        }
        let node = self.nodes[slot].as_mut().expect("updating a live node");
        node.order_key = Self::order_key(&self.classes[class].allocatable, node);
        let offer = Self::offer_of(self.rule, node);
        self.classes[class].index.set(index_slot, offer);
    }
}

/// The rule's score: the mean of the free CPU and memory fractions after placing `request`,
/// once `taken` of them are held on the node besides what is.
fn score_after_taken(node: &NodeState, request: &Resources, taken: u32) -> f64 {
    let taken = i64::from(taken);
    let free = |free: i64, asked: i64| free - asked.saturating_mul(taken);
    let alloc = &node.spec.allocatable;
    let after = Resources {
        cpu_millis: free(node.free_cpu_millis(), request.cpu_millis),
        memory_bytes: free(node.free_memory_bytes(), request.memory_bytes),
        pods: 0,
        extended: Vec::new(),
    };
    fraction_score(&after, alloc, request)
}

fn fraction_score(free: &Resources, allocatable: &Resources, request: &Resources) -> f64 {
    let fraction = |free: i64, request: i64, alloc: i64| {
        if alloc <= 0 { 0.0 } else { (free - request) as f64 / alloc as f64 }
    };
    (fraction(free.cpu_millis, request.cpu_millis, allocatable.cpu_millis)
        + fraction(free.memory_bytes, request.memory_bytes, allocatable.memory_bytes))
        / 2.0
}

/// An amount of a resource in its usual notation.
pub fn show_amount(kind: &ResourceKind, amount: i64) -> String {
    match kind {
        ResourceKind::Cpu => format_cpu(amount),
        ResourceKind::Memory => format_bytes(amount),
        ResourceKind::Pods | ResourceKind::Extended(_) => amount.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GI: i64 = 1 << 30;

    fn node(name: &str, cpu: i64, memory_gi: i64) -> NodeSpec {
        NodeSpec {
            name: name.into(),
            allocatable: Resources {
                cpu_millis: cpu * 1000,
                memory_bytes: memory_gi * GI,
                pods: 110,
                extended: vec![],
            },
            labels: vec![],
            taints: vec![],
            schedulable: true,
        }
    }

    /// The rule computed the plain way: every node, the score formula, ties by name.
    fn place_by_scan(
        cluster: &Cluster,
        request: &Resources,
        rule: PlacementRule,
    ) -> Option<Arc<str>> {
        let mut best: Option<(f64, Arc<str>)> = None;
        for (_, n) in cluster.nodes() {
            if !n.spec.schedulable || !n.free().covers(request) {
                continue;
            }
            let free = n.free();
            let alloc = &n.spec.allocatable;
            let score = ((free.cpu_millis - request.cpu_millis) as f64 / alloc.cpu_millis as f64
                + (free.memory_bytes - request.memory_bytes) as f64 / alloc.memory_bytes as f64)
                / 2.0;
            let better = match &best {
                None => true,
                Some((s, name)) => match rule {
                    PlacementRule::Spread => score > *s || (score == *s && n.spec.name < *name),
                    PlacementRule::Binpack => score < *s || (score == *s && n.spec.name < *name),
                },
            };
            if better {
                best = Some((score, n.spec.name.clone()));
            }
        }
        best.map(|(_, name)| name)
    }

    #[test]
    fn spread_picks_the_emptiest_node_and_breaks_ties_by_name() {
        let mut cluster = Cluster::new(PlacementRule::Spread);
        for name in ["b", "a", "c"] {
            cluster.upsert_node(node(name, 8, 32));
        }
        let pod = Resources::pod(1000, 4 * GI);
        let first = cluster.place(&pod, &Constraints::default()).expect("fits");
        assert_eq!(cluster.node(first).spec.name.as_ref(), "a");
        cluster.add_pod(first, &pod);
        let second = cluster.place(&pod, &Constraints::default()).expect("fits");
        assert_eq!(cluster.node(second).spec.name.as_ref(), "b");
    }

    #[test]
    fn binpack_fills_the_fullest_node_that_still_fits() {
        let mut cluster = Cluster::new(PlacementRule::Binpack);
        for name in ["a", "b"] {
            cluster.upsert_node(node(name, 8, 32));
        }
        let b = cluster.node_id("b").expect("b exists");
        cluster.add_pod(b, &Resources::pod(6000, 8 * GI));
        let small = Resources::pod(1000, GI);
        assert_eq!(cluster.place(&small, &Constraints::default()), Some(b));
        let big = Resources::pod(4000, GI);
        assert_eq!(cluster.place(&big, &Constraints::default()), cluster.node_id("a"));
    }

    #[test]
    fn cordoned_nodes_offer_nothing_and_reservations_count() {
        let mut cluster = Cluster::new(PlacementRule::Spread);
        cluster.upsert_node(node("a", 4, 16));
        cluster.upsert_node(node("b", 4, 16));
        assert!(cluster.set_schedulable("a", false));
        let pod = Resources::pod(3000, GI);
        let b = cluster.node_id("b").expect("b exists");
        assert_eq!(cluster.place(&pod, &Constraints::default()), Some(b));
        cluster.reserve(b, &pod);
        assert_eq!(cluster.place(&pod, &Constraints::default()), None);
        cluster.unreserve(b, &pod);
        assert_eq!(cluster.place(&pod, &Constraints::default()), Some(b));
        cluster.check_index().expect("index consistent");
    }

    #[test]
    fn indexed_placement_agrees_with_a_full_scan() {
        // A small deterministic generator (an LCG), independent of the code under test.
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move |bound: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % bound
        };
        for rule in [PlacementRule::Spread, PlacementRule::Binpack] {
            let mut cluster = Cluster::new(rule);
            for i in 0..40 {
                let (cpu, mem) = [(8, 32), (16, 64), (4, 64)][i % 3];
                cluster.upsert_node(node(&format!("n{i:02}"), cpu, mem));
            }
            let mut placed = Vec::new();
            for _ in 0..400 {
                if next(4) == 0 && !placed.is_empty() {
                    let (id, pod): (NodeId, Resources) =
                        placed.remove(next(placed.len() as u64) as usize);
                    cluster.remove_pod(id, &pod);
                    continue;
                }
                let pod =
                    Resources::pod((1 + next(8) as i64) * 500, (1 + next(16) as i64) * GI / 2);
                let expected = place_by_scan(&cluster, &pod, rule);
                let got = cluster.place(&pod, &Constraints::default());
                assert_eq!(got.map(|id| cluster.node(id).spec.name.clone()), expected);
                if let Some(id) = got {
                    cluster.add_pod(id, &pod);
                    placed.push((id, pod));
                }
                cluster.check_index().expect("index consistent");
            }
        }
    }

    #[test]
    fn a_job_gets_the_nodes_a_full_scan_gives_its_pods_one_at_a_time() {
        // Same independent generator as above, another seed.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |bound: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % bound
        };
        let gpu = "nvidia.com/gpu";
        for rule in [PlacementRule::Spread, PlacementRule::Binpack] {
            let mut cluster = Cluster::new(rule);
            // Four classes, one of them with GPUs; names interleave across classes.
            for i in 0..48 {
                let (cpu, mem) = [(8, 32), (16, 64), (4, 64), (16, 64)][i % 4];
                let mut spec = node(&format!("n{i:02}"), cpu, mem);
                if i % 4 == 3 {
                    spec.allocatable = spec.allocatable.with_extended(gpu, 2);
                }
                cluster.upsert_node(spec);
            }
            let mut held: Vec<(NodeId, Resources)> = Vec::new();
            let (mut admitted, mut refused) = (0, 0);
            for _ in 0..300 {
                if next(3) == 0 && !held.is_empty() {
                    let (id, pod) = held.remove(next(held.len() as u64) as usize);
                    cluster.unreserve(id, &pod);
                    continue;
                }
                let executor =
                    Resources::pod((1 + next(8) as i64) * 500, (1 + next(12) as i64) * GI);
                let executor = if next(5) == 0 { executor.with_extended(gpu, 1) } else { executor };
                let pods = JobPods {
                    driver: Resources::pod((1 + next(4) as i64) * 500, (1 + next(4) as i64) * GI),
                    executor,
                    executors: next(12) as u32,
                };
                // The reference: each pod by the full scan, held before the next is placed.
                let mut reference = cluster.clone();
                let mut expected = Vec::new();
                for index in 0..pods.pod_count() {
                    let request = pods.request(index);
                    let Some(name) = place_by_scan(&reference, request, rule) else { break };
                    let id = reference.node_id(&name).expect("scanned node exists");
                    reference.reserve(id, request);
                    expected.push(id);
                }
                match cluster.reserve_job(&pods, &Constraints::default()) {
                    Ok(placement) => {
                        admitted += 1;
                        assert_eq!(placement.nodes, expected);
                        for (index, id) in placement.nodes.into_iter().enumerate() {
                            held.push((id, pods.request(index as u32).clone()));
                        }
                    }
                    Err(misfit) => {
                        refused += 1;
                        assert!(expected.len() < pods.pod_count() as usize);
                        if let Some(pod) = misfit.pod {
                            assert_eq!(
                                pod as usize,
                                expected.len(),
                                "the first pod without a node"
                            );
                        }
                    }
                }
                cluster.check_index().expect("index consistent");
            }
            assert!(admitted > 50 && refused > 20, "{admitted} admitted, {refused} refused");
        }
    }

    #[test]
    fn the_plain_shortfall_agrees_with_the_general_one() {
        let mut state: u64 = 0x1234_5678_9abc_def1;
        let mut next = move |bound: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % bound
        };
        let mut cluster = Cluster::new(PlacementRule::Spread);
        for i in 0..12 {
            let (cpu, mem) = [(8, 32), (16, 64), (4, 64)][i % 3];
            cluster.upsert_node(node(&format!("n{i:02}"), cpu, mem));
        }
        let mut kinds = BTreeMap::new();
        for _ in 0..500 {
            let id = NodeId(next(12) as u32);
            let pod = Resources::pod((next(9) as i64) * 1000, (next(33) as i64) * GI);
            if cluster.node(id).free().covers(&pod) {
                cluster.add_pod(id, &pod);
            }
            let pods = JobPods {
                driver: Resources::pod((1 + next(4) as i64) * 500, (1 + next(8) as i64) * GI),
                executor: Resources::pod((next(8) as i64) * 1000, (next(40) as i64) * GI),
                executors: next(20) as u32,
            };
            let constraints = Constraints::default();
            let plain = cluster.shortfall_plain(&pods, &constraints);
            assert_eq!(plain, cluster.shortfall_any(&pods, &constraints));
            let kind = match plain {
                Shortfall::Insufficient { resource, .. } => resource.to_string(),
                Shortfall::Fragmented => "fragmented".to_string(),
            };
            *kinds.entry(kind).or_insert(0) += 1;
        }
        // Shortages of CPU and of memory occurred, and fragmentation.
        assert_eq!(kinds.len(), 3, "{kinds:?}");
    }

    #[test]
    fn reserve_job_rolls_back_when_a_pod_does_not_fit() {
        let mut cluster = Cluster::new(PlacementRule::Spread);
        cluster.upsert_node(node("a", 8, 32));
        let pod = Resources::pod(3000, 4 * GI);
        let pods = JobPods { driver: pod.clone(), executor: pod.clone(), executors: 2 };
        let err = cluster.reserve_job(&pods, &Constraints::default()).expect_err("9 cores on 8");
        assert_eq!(
            err.shortfall,
            Shortfall::Insufficient { resource: ResourceKind::Cpu, gap: 1000 }
        );
        let a = cluster.node_id("a").expect("a exists");
        assert_eq!(cluster.node(a).reserved, Resources::ZERO);
    }

    #[test]
    fn fragmentation_is_told_apart_from_shortage() {
        let mut cluster = Cluster::new(PlacementRule::Spread);
        cluster.upsert_node(node("a", 4, 32));
        cluster.upsert_node(node("b", 4, 32));
        // 6 cores in one pod: the sum (8) would do, no node does.
        let pods =
            JobPods { driver: Resources::pod(6000, GI), executor: Resources::ZERO, executors: 0 };
        assert_eq!(cluster.shortfall(&pods, &Constraints::default()), Shortfall::Fragmented);
    }

    #[test]
    fn impossible_job_reason_names_pod_resource_and_largest_node() {
        let mut cluster = Cluster::new(PlacementRule::Spread);
        cluster.upsert_node(node("small", 4, 16));
        cluster.upsert_node(node("large", 8, 64));
        let pods = JobPods {
            driver: Resources::pod(1000, GI),
            executor: Resources::pod(16_000, GI),
            executors: 1,
        };
        let reason = cluster.fits_when_empty(&pods, &Constraints::default()).expect_err("too big");
        assert!(reason.contains("executor"), "{reason}");
        assert!(reason.contains("cpu"), "{reason}");
        assert!(reason.contains("large"), "{reason}");
        assert!(reason.contains('8'), "{reason}");
    }
}
