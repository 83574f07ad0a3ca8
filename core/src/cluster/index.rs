//! The placement index of one node class: a tournament tree over the class's nodes.
//!
//! Every leaf holds what one schedulable node can still take (free CPU, memory and pod slots)
//! and its placement key; every inner entry holds the maxima of free amounts and keys below it.
//! Keys are oriented so that higher is better under either placement rule. A search for the best node that fits a pod descends only into
//! subtrees that could hold the pod and could beat the best node found so far, so a full
//! cluster answers "no" at the root and a busy one is searched along a few paths. An update
//! after a pod is placed or removed rewrites one leaf-to-root path: no allocation.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::cluster::NodeId;

/// Up to this many candidates are kept in a sorted array rather than a heap.
const SMALL_K: usize = 32;

/// A node's place in the order, higher is better: the placement rule's key with the name rank
/// folded in, split in two words so that an entry needs no 16-byte alignment. Keys compare as
/// the 128-bit number they hold (a single wide comparison, cheaper than field by field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    high: i64,
    low: u64,
}

impl Key {
    pub const NONE: Key = Key { high: i64::MIN, low: 0 };

    pub fn new(key: i128) -> Key {
        Key { high: (key >> 64) as i64, low: key as u64 }
    }

    fn wide(self) -> i128 {
        (i128::from(self.high) << 64) | i128::from(self.low)
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Key) -> std::cmp::Ordering {
        self.wide().cmp(&other.wide())
    }

    fn max(self, other: Key) -> Key {
        if self.wide() >= other.wide() { self } else { other }
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }

    fn lt(&self, other: &Key) -> bool {
        self.wide() < other.wide()
    }

    fn le(&self, other: &Key) -> bool {
        self.wide() <= other.wide()
    }

    fn gt(&self, other: &Key) -> bool {
        self.wide() > other.wide()
    }

    fn ge(&self, other: &Key) -> bool {
        self.wide() >= other.wide()
    }
}

/// What a subtree offers, at best: 32 bytes, so that two entries share a cache line.
///
/// CPU and pod slots are held in 32 bits, saturated: an entry is an upper bound used to skip
/// subtrees, and saturating both the free amount and the request keeps `could_hold` true
/// wherever the pod really fits. The leaf's own check (`accept`) is exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Offer {
    cpu_millis: i32,
    pods: i32,
    memory_bytes: i64,
    key_max: Key,
}

/// A request as the index compares it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Want {
    cpu_millis: i32,
    pods: i32,
    memory_bytes: i64,
    /// True when a leaf's own offer says exactly whether the pod fits there: nothing was
    /// saturated and the caller has nothing more to check (no extended resources).
    exact: bool,
}

impl Want {
    pub fn new(cpu_millis: i64, memory_bytes: i64, pods: i64, more_to_check: bool) -> Want {
        let (cpu, slots) = (saturate(cpu_millis), saturate(pods));
        let exact = !more_to_check
            && i64::from(cpu) == cpu_millis
            && i64::from(slots) == pods
            && cpu != i32::MAX
            && slots != i32::MAX;
        Want { cpu_millis: cpu, pods: slots, memory_bytes, exact }
    }
}

fn saturate(amount: i64) -> i32 {
    amount.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

impl Offer {
    /// An empty slot: offers nothing, never wins.
    const NONE: Offer =
        Offer { cpu_millis: i32::MIN, pods: i32::MIN, memory_bytes: i64::MIN, key_max: Key::NONE };

    pub fn leaf(cpu_millis: i64, memory_bytes: i64, pods: i64, key: Key) -> Offer {
        Offer { cpu_millis: saturate(cpu_millis), pods: saturate(pods), memory_bytes, key_max: key }
    }

    fn join(a: Offer, b: Offer) -> Offer {
        Offer {
            cpu_millis: a.cpu_millis.max(b.cpu_millis),
            pods: a.pods.max(b.pods),
            memory_bytes: a.memory_bytes.max(b.memory_bytes),
            key_max: a.key_max.max(b.key_max),
        }
    }

    /// Whether every amount and the key are at least those of `other`.
    fn covers(&self, other: &Offer) -> bool {
        self.cpu_millis >= other.cpu_millis
            && self.pods >= other.pods
            && self.memory_bytes >= other.memory_bytes
            && self.key_max >= other.key_max
    }

    fn could_hold(&self, want: Want) -> bool {
        self.cpu_millis >= want.cpu_millis
            && self.memory_bytes >= want.memory_bytes
            && self.pods >= want.pods
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct ClassIndex {
    /// Leaves: a power of two, at least 1.
    width: usize,
    /// Heap layout: entry 1 is the root, `width + slot` the leaf of `slot`.
    tree: Vec<Offer>,
    nodes: Vec<Option<NodeId>>,
    vacant: Vec<usize>,
    len: usize,
}

impl ClassIndex {
    pub fn len(&self) -> usize {
        self.len
    }

    /// Files a node and returns its slot.
    pub fn insert(&mut self, id: NodeId, offer: Offer) -> usize {
        let slot = match self.vacant.pop() {
            Some(slot) => slot,
            None => {
                if self.nodes.len() == self.width {
                    self.grow();
                }
                self.nodes.push(None);
                self.nodes.len() - 1
            }
        };
        self.nodes[slot] = Some(id);
        self.len += 1;
        self.set(slot, offer);
        slot
    }

    pub fn remove(&mut self, slot: usize) {
        if self.nodes.get(slot).copied().flatten().is_none() {
            return;
        }
        self.nodes[slot] = None;
        self.vacant.push(slot);
        self.len -= 1;
        self.set(slot, Offer::NONE);
    }

    /// Rewrites a slot's offer and the path above it.
    pub fn set(&mut self, slot: usize, offer: Offer) {
        let mut at = self.width + slot;
        let old = std::mem::replace(&mut self.tree[at], offer);
        if offer.covers(&old) {
            // The node offers at least what it did (a pod left it): each entry above only
            // needs to take the new maxima in, without looking at the other side.
            while at > 1 {
                at /= 2;
                let joined = Offer::join(self.tree[at], offer);
                if self.tree[at] == joined {
                    break;
                }
                self.tree[at] = joined;
            }
            return;
        }
        while at > 1 {
            at /= 2;
            let joined = Offer::join(self.tree[2 * at], self.tree[2 * at + 1]);
            if self.tree[at] == joined {
                // Nothing above changes either.
                break;
            }
            self.tree[at] = joined;
        }
    }

    pub fn offer(&self, slot: usize) -> Option<Offer> {
        self.nodes.get(slot).copied().flatten().map(|_| self.tree[self.width + slot])
    }

    /// The node with the highest key among those `accept` takes, where `accept` returns the
    /// node's key if the pod really fits (it also checks what the tree does not hold, such as
    /// extended resources; it is not asked when the leaf's own offer answers exactly). Keys are
    /// unique (the caller folds the name rank into them), so the search skips every subtree
    /// whose highest key cannot beat the best node found so far.
    pub fn best(&self, want: Want, accept: impl Fn(NodeId) -> Option<Key>) -> Option<NodeId> {
        let mut best: Option<(Key, NodeId)> = None;
        self.search(want, accept, |key, id| {
            best = Some((key, id));
            key
        });
        best.map(|(_, id)| id)
    }

    /// The `k` nodes with the highest keys among those `accept` takes, best first (fewer when
    /// fewer fit), into `found`: the same search as [`ClassIndex::best`], pruning against the
    /// `k`-th best node found so far.
    pub fn top(
        &self,
        want: Want,
        k: usize,
        accept: impl Fn(NodeId) -> Option<Key>,
        found: &mut Vec<(Key, NodeId)>,
    ) {
        found.clear();
        if k == 0 {
            return;
        }
        if k <= SMALL_K {
            // The candidates so far, best first, in a sorted array: cheaper than a heap for
            // the few executors most jobs have.
            self.search(want, accept, |key, id| {
                let at = found.partition_point(|(other, _)| *other > key);
                found.insert(at, (key, id));
                found.truncate(k);
                if found.len() == k { found[k - 1].0 } else { Key::NONE }
            });
            return;
        }
        // The candidates so far, the worst on top.
        let mut heap: BinaryHeap<Reverse<(Key, NodeId)>> =
            BinaryHeap::with_capacity(k.min(self.len) + 1);
        self.search(want, accept, |key, id| {
            heap.push(Reverse((key, id)));
            if heap.len() > k {
                heap.pop();
            }
            match heap.peek() {
                Some(Reverse((worst, _))) if heap.len() == k => *worst,
                _ => Key::NONE,
            }
        });
        found.extend(heap.into_iter().map(|Reverse(entry)| entry));
        found.sort_unstable_by(|a, b| b.cmp(a));
    }

    /// Depth-first search for fitting nodes with keys above a bar. `keep` takes each fitting
    /// node whose key beats the bar and returns the new bar. Children that cannot hold the pod
    /// or cannot beat the bar are never pushed, and each step pops one entry and pushes at most
    /// two, so the stack never holds more than the tree's height plus one: a fixed array.
    fn search(
        &self,
        want: Want,
        accept: impl Fn(NodeId) -> Option<Key>,
        mut keep: impl FnMut(Key, NodeId) -> Key,
    ) {
        if self.len == 0 || !self.tree[1].could_hold(want) {
            return;
        }
        let tree = &self.tree[..2 * self.width];
        let mut bar = Key::NONE;
        let mut stack = [0usize; usize::BITS as usize + 2];
        stack[0] = 1;
        let mut depth = 1;
        while depth > 0 {
            depth -= 1;
            let at = stack[depth];
            let entry = &tree[at];
            if entry.key_max <= bar {
                continue;
            }
            if at >= self.width {
                let Some(id) = self.nodes[at - self.width] else { continue };
                let key = if want.exact { Some(entry.key_max) } else { accept(id) };
                if let Some(key) = key
                    && key > bar
                {
                    bar = keep(key, id);
                }
                continue;
            }
            // The child with the higher key is pushed last, so it is searched first.
            let Some([left, right]) = tree.get(2 * at..2 * at + 2) else { continue };
            let left_first = left.key_max >= right.key_max;
            let (first, second) = if left_first { (left, right) } else { (right, left) };
            let first_at = 2 * at + usize::from(!left_first);
            for (entry, child) in [(second, first_at ^ 1), (first, first_at)] {
                if entry.key_max > bar && entry.could_hold(want) {
                    stack[depth] = child;
                    depth += 1;
                }
            }
        }
    }

    /// Checks that every inner entry joins its children. For tests and invariants.
    pub fn check(&self) -> Result<(), String> {
        for at in 1..self.width {
            if self.tree[at] != Offer::join(self.tree[2 * at], self.tree[2 * at + 1]) {
                return Err(format!("placement index entry {at} is stale"));
            }
        }
        Ok(())
    }

    fn grow(&mut self) {
        let width = (self.width * 2).max(1);
        let mut tree = vec![Offer::NONE; 2 * width];
        for slot in 0..self.nodes.len() {
            tree[width + slot] = self.tree[self.width + slot];
        }
        for at in (1..width).rev() {
            tree[at] = Offer::join(tree[2 * at], tree[2 * at + 1]);
        }
        self.width = width;
        self.tree = tree;
    }
}
