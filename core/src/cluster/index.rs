//! The placement index of one node class: a tournament tree over the class's nodes.
//!
//! Every leaf holds what one schedulable node can still take (free CPU, memory and pod slots)
//! and its placement key; every inner entry holds the maxima of free amounts and the maximum
//! and minimum key below it. A search for the best node that fits a pod descends only into
//! subtrees that could hold the pod and could beat the best node found so far, so a full
//! cluster answers "no" at the root and a busy one is searched along a few paths. An update
//! after a pod is placed or removed rewrites one leaf-to-root path: no allocation.

use crate::cluster::NodeId;

/// What a subtree offers, at best.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Offer {
    pub cpu_millis: i64,
    pub memory_bytes: i64,
    pub pods: i64,
    pub key_max: i128,
    pub key_min: i128,
}

impl Offer {
    /// An empty slot: offers nothing, never wins.
    const NONE: Offer = Offer {
        cpu_millis: i64::MIN,
        memory_bytes: i64::MIN,
        pods: i64::MIN,
        key_max: i128::MIN,
        key_min: i128::MAX,
    };

    pub fn leaf(cpu_millis: i64, memory_bytes: i64, pods: i64, key: i128) -> Offer {
        Offer { cpu_millis, memory_bytes, pods, key_max: key, key_min: key }
    }

    fn join(a: Offer, b: Offer) -> Offer {
        Offer {
            cpu_millis: a.cpu_millis.max(b.cpu_millis),
            memory_bytes: a.memory_bytes.max(b.memory_bytes),
            pods: a.pods.max(b.pods),
            key_max: a.key_max.max(b.key_max),
            key_min: a.key_min.min(b.key_min),
        }
    }

    fn could_hold(&self, cpu_millis: i64, memory_bytes: i64, pods: i64) -> bool {
        self.cpu_millis >= cpu_millis && self.memory_bytes >= memory_bytes && self.pods >= pods
    }
}

/// Which end of the key order wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Prefer {
    HighestKey,
    LowestKey,
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
        self.tree[at] = offer;
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

    /// The best node by key among those `accept` takes, where `accept` returns the node's key
    /// if the pod really fits (it also checks what the tree does not hold, such as extended
    /// resources). Keys are unique (the caller folds the name rank into them), so the first
    /// node found with the best key ends the search.
    pub fn best(
        &self,
        (cpu_millis, memory_bytes, pods): (i64, i64, i64),
        prefer: Prefer,
        accept: impl Fn(NodeId) -> Option<i128>,
    ) -> Option<NodeId> {
        if self.len == 0 {
            return None;
        }
        let mut best: Option<(i128, NodeId)> = None;
        // Depth-first, so at most two entries per level wait: a fixed stack, no allocation.
        let mut stack = [0usize; 2 * usize::BITS as usize];
        stack[0] = 1;
        let mut depth = 1;
        while depth > 0 {
            depth -= 1;
            let at = stack[depth];
            let offer = self.tree[at];
            if !offer.could_hold(cpu_millis, memory_bytes, pods) {
                continue;
            }
            if let Some((key, _)) = best {
                let hopeless = match prefer {
                    Prefer::HighestKey => offer.key_max <= key,
                    Prefer::LowestKey => offer.key_min >= key,
                };
                if hopeless {
                    continue;
                }
            }
            if at >= self.width {
                let Some(id) = self.nodes.get(at - self.width).copied().flatten() else { continue };
                let Some(key) = accept(id) else { continue };
                let better = match best {
                    None => true,
                    Some((best_key, _)) => match prefer {
                        Prefer::HighestKey => key > best_key,
                        Prefer::LowestKey => key < best_key,
                    },
                };
                if better {
                    best = Some((key, id));
                }
                continue;
            }
            // The more promising child is pushed last, so it is searched first.
            let (left, right) = (2 * at, 2 * at + 1);
            let left_first = match prefer {
                Prefer::HighestKey => self.tree[left].key_max >= self.tree[right].key_max,
                Prefer::LowestKey => self.tree[left].key_min <= self.tree[right].key_min,
            };
            let (first, second) = if left_first { (left, right) } else { (right, left) };
            stack[depth] = second;
            stack[depth + 1] = first;
            depth += 2;
        }
        best.map(|(_, id)| id)
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
