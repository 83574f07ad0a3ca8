//! The object store of the test API server: objects as JSON, one global resource version, the
//! history of changes that watches replay, and the write rules of the real API server that
//! the adapter depends on (conflicts, status subresources, graceful deletion, owner cleanup).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use serde_json::{Map, Value, json};

/// A kind of object the server stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceType {
    /// `""` for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    /// Whether `status` is written only through the `/status` subresource.
    pub status_subresource: bool,
}

impl ResourceType {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

const fn rt(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    status_subresource: bool,
) -> ResourceType {
    ResourceType { group, version, plural, kind, namespaced, status_subresource }
}

/// Every kind the server knows.
pub const TYPES: &[ResourceType] = &[
    rt("", "v1", "nodes", "Node", false, true),
    rt("", "v1", "pods", "Pod", true, true),
    rt("", "v1", "configmaps", "ConfigMap", true, false),
    rt("", "v1", "services", "Service", true, true),
    rt("", "v1", "events", "Event", true, false),
    rt("coordination.k8s.io", "v1", "leases", "Lease", true, false),
    rt("sparkq.io", "v1alpha1", "sparkjobs", "SparkJob", true, true),
    rt("sparkoperator.k8s.io", "v1beta2", "sparkapplications", "SparkApplication", true, true),
];

pub fn find_type(group: &str, version: &str, plural: &str) -> Option<ResourceType> {
    TYPES.iter().copied().find(|t| t.group == group && t.version == version && t.plural == plural)
}

pub fn type_of_kind(kind: &str) -> Option<ResourceType> {
    TYPES.iter().copied().find(|t| t.kind == kind)
}

/// What a change did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

/// One write, as watches replay it.
#[derive(Clone, Debug)]
pub struct Change {
    pub rv: u64,
    pub resource: ResourceType,
    pub kind: ChangeKind,
    pub object: Value,
    /// The object before the write, so a watch with a selector can tell an object that left
    /// the selection from one that changed inside it.
    pub old: Option<Value>,
}

/// Why a request failed, as the API server says it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { code, reason, message: message.into() }
    }

    pub fn not_found(resource: ResourceType, name: &str) -> ApiError {
        ApiError::new(404, "NotFound", format!("{} \"{name}\" not found", resource.plural))
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    pub fn to_status(&self) -> Value {
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub resource: ResourceType,
    pub namespace: String,
    pub name: String,
}

#[derive(Clone, Debug)]
struct Stored {
    object: Value,
    /// Server-side apply, reduced to what conflicts need: the manager of each leaf field.
    owners: BTreeMap<String, String>,
}

/// How a patch body is to be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchKind {
    Merge,
    /// Strategic merge, simplified to a JSON merge (lists are replaced).
    Strategic,
    Json,
    /// Server-side apply, simplified to a JSON merge with conflicts between managers.
    Apply {
        force: bool,
    },
}

/// The store. All of it sits behind one lock.
#[derive(Debug)]
pub struct Store {
    pub rv: u64,
    objects: BTreeMap<Key, Stored>,
    history: VecDeque<Arc<Change>>,
    /// Watches from a resource version older than this get `410 Gone`.
    pub oldest_rv: u64,
    pub max_history: usize,
    next_uid: u64,
    /// A bound pod that is deleted stays, terminating, until the test removes it.
    pub graceful_pod_deletion: bool,
    /// The fake wall clock's seconds, for timestamps.
    pub now_seconds: fn() -> u64,
    /// Owner uid to the objects that name it in `ownerReferences`, for garbage collection.
    owned: HashMap<String, BTreeSet<Key>>,
}

fn system_seconds() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Default for Store {
    fn default() -> Store {
        Store {
            rv: 1,
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            oldest_rv: 1,
            max_history: 100_000,
            next_uid: 1,
            graceful_pod_deletion: true,
            now_seconds: system_seconds,
            owned: HashMap::new(),
        }
    }
}

/// An RFC 3339 timestamp, second precision, from seconds since the epoch.
pub fn rfc3339(seconds: u64) -> String {
    let days = seconds / 86_400;
    let rest = seconds % 86_400;
    let (hour, minute, second) = (rest / 3600, rest % 3600 / 60, rest % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm, rewritten).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
}

pub fn meta(object: &Value) -> Option<&Map<String, Value>> {
    object.get("metadata").and_then(Value::as_object)
}

fn meta_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object.get("metadata").is_some_and(Value::is_object)
        && let Some(map) = object.as_object_mut()
    {
        map.insert("metadata".into(), Value::Object(Map::new()));
    }
    match object.get_mut("metadata").and_then(Value::as_object_mut) {
        Some(map) => map,
        None => unreachable!("metadata was just made an object"),
    }
}

pub fn meta_str<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    meta(object).and_then(|m| m.get(field)).and_then(Value::as_str)
}

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target_map) = target {
        for (key, value) in patch_map {
            if value.is_null() {
                target_map.remove(key);
            } else {
                merge_patch(target_map.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

fn pointer_parts(path: &str) -> Result<Vec<String>, ApiError> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(ApiError::bad_request(format!("invalid JSON pointer `{path}`")));
    };
    Ok(rest.split('/').map(|p| p.replace("~1", "/").replace("~0", "~")).collect())
}

fn pointer_parent<'a>(
    doc: &'a mut Value,
    parts: &[String],
) -> Result<(&'a mut Value, String), ApiError> {
    let Some((last, parents)) = parts.split_last() else {
        return Err(ApiError::bad_request("a JSON patch cannot target the whole document"));
    };
    let mut at = doc;
    for part in parents {
        at = match at {
            Value::Object(map) => map.get_mut(part),
            Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| ApiError::new(422, "Invalid", format!("path `{part}` does not exist")))?;
    }
    Ok((at, last.clone()))
}

fn pointer_remove(doc: &mut Value, parts: &[String]) -> Result<Value, ApiError> {
    let (parent, last) = pointer_parent(doc, parts)?;
    let missing = || ApiError::new(422, "Invalid", format!("path `{last}` does not exist"));
    match parent {
        Value::Object(map) => map.remove(&last).ok_or_else(missing),
        Value::Array(items) => match last.parse::<usize>() {
            Ok(i) if i < items.len() => Ok(items.remove(i)),
            _ => Err(missing()),
        },
        _ => Err(missing()),
    }
}

fn pointer_add(doc: &mut Value, parts: &[String], value: Value) -> Result<(), ApiError> {
    if parts.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (parent, last) = pointer_parent(doc, parts)?;
    match parent {
        Value::Object(map) => {
            map.insert(last, value);
            Ok(())
        }
        Value::Array(items) if last == "-" => {
            items.push(value);
            Ok(())
        }
        Value::Array(items) => match last.parse::<usize>() {
            Ok(i) if i <= items.len() => {
                items.insert(i, value);
                Ok(())
            }
            _ => Err(ApiError::new(422, "Invalid", format!("bad array index `{last}`"))),
        },
        _ => Err(ApiError::new(422, "Invalid", "the parent of the path is not a container")),
    }
}

/// RFC 6902 JSON patch.
pub fn json_patch(doc: &mut Value, patch: &Value) -> Result<(), ApiError> {
    let Some(ops) = patch.as_array() else {
        return Err(ApiError::bad_request("a JSON patch must be an array of operations"));
    };
    for op in ops {
        let name = op.get("op").and_then(Value::as_str).unwrap_or("");
        let path = pointer_parts(op.get("path").and_then(Value::as_str).unwrap_or(""))?;
        let value = op.get("value").cloned().unwrap_or(Value::Null);
        match name {
            "add" => pointer_add(doc, &path, value)?,
            "remove" => {
                pointer_remove(doc, &path)?;
            }
            "replace" => {
                pointer_remove(doc, &path)?;
                pointer_add(doc, &path, value)?;
            }
            "test" => {
                let joined: String = path.iter().map(|p| format!("/{p}")).collect();
                if doc.pointer(&joined) != Some(&value) {
                    return Err(ApiError::new(
                        422,
                        "Invalid",
                        format!("test failed at `{joined}`"),
                    ));
                }
            }
            "move" | "copy" => {
                let from = pointer_parts(op.get("from").and_then(Value::as_str).unwrap_or(""))?;
                let moved = if name == "move" {
                    pointer_remove(doc, &from)?
                } else {
                    let joined: String = from.iter().map(|p| format!("/{p}")).collect();
                    doc.pointer(&joined).cloned().ok_or_else(|| {
                        ApiError::new(422, "Invalid", format!("`{joined}` does not exist"))
                    })?
                };
                pointer_add(doc, &path, moved)?;
            }
            other => return Err(ApiError::bad_request(format!("unknown JSON patch op `{other}`"))),
        }
    }
    Ok(())
}

/// The leaf paths a merge-style patch sets (`None` value: removed).
fn leaf_paths(prefix: &str, patch: &Value, out: &mut Vec<(String, Option<Value>)>) {
    match patch {
        Value::Object(map) => {
            for (key, value) in map {
                if prefix.is_empty() && matches!(key.as_str(), "apiVersion" | "kind") {
                    continue;
                }
                leaf_paths(&format!("{prefix}/{key}"), value, out);
            }
        }
        Value::Null => out.push((prefix.to_owned(), None)),
        other => out.push((prefix.to_owned(), Some(other.clone()))),
    }
}

fn owner_uids(object: &Value) -> Vec<String> {
    meta(object)
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("uid").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

impl Store {
    fn index_owners(&mut self, key: &Key, old: Option<&Value>, new: Option<&Value>) {
        for uid in old.map(owner_uids).unwrap_or_default() {
            if let Some(keys) = self.owned.get_mut(&uid) {
                keys.remove(key);
                if keys.is_empty() {
                    self.owned.remove(&uid);
                }
            }
        }
        for uid in new.map(owner_uids).unwrap_or_default() {
            self.owned.entry(uid).or_default().insert(key.clone());
        }
    }

    pub fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    pub fn get(&self, key: &Key) -> Option<&Value> {
        self.objects.get(key).map(|s| &s.object)
    }

    /// The objects of one type, in one namespace or all, sorted by namespace and name.
    pub fn list(&self, resource: ResourceType, namespace: Option<&str>) -> Vec<&Value> {
        self.objects
            .iter()
            .filter(|(k, _)| k.resource == resource)
            .filter(|(k, _)| namespace.is_none_or(|ns| k.namespace == ns))
            .map(|(_, s)| &s.object)
            .collect()
    }

    /// The changes after `rv`, or `None` when they are no longer kept.
    pub fn changes_since(&self, rv: u64) -> Option<Vec<Arc<Change>>> {
        if rv + 1 < self.oldest_rv {
            return None;
        }
        Some(self.history.iter().filter(|c| c.rv > rv).cloned().collect())
    }

    /// Forgets every change so far: resuming a watch from any version seen until now gets
    /// `410 Gone`. The version moves on by one, as a compaction does, so a fresh list and a
    /// watch from it still work.
    pub fn compact(&mut self) {
        self.rv += 1;
        self.history.clear();
        self.oldest_rv = self.rv + 1;
    }

    fn record(&mut self, change: Change) -> Arc<Change> {
        let change = Arc::new(change);
        self.history.push_back(change.clone());
        while self.history.len() > self.max_history {
            if let Some(dropped) = self.history.pop_front() {
                self.oldest_rv = dropped.rv + 1;
            }
        }
        change
    }

    /// Creates an object. The namespace comes from the path when the type is namespaced.
    pub fn create(
        &mut self,
        resource: ResourceType,
        namespace: Option<&str>,
        mut object: Value,
        manager: Option<&str>,
    ) -> Result<(Value, Vec<Arc<Change>>), ApiError> {
        if !object.is_object() {
            return Err(ApiError::bad_request("the body must be a JSON object"));
        }
        let namespace = match (resource.namespaced, namespace) {
            (true, Some(ns)) => ns.to_owned(),
            (true, None) => meta_str(&object, "namespace").unwrap_or("default").to_owned(),
            (false, _) => String::new(),
        };
        let name = match meta_str(&object, "name").filter(|n| !n.is_empty()) {
            Some(name) => name.to_owned(),
            None => match meta_str(&object, "generateName") {
                Some(prefix) => format!("{prefix}{:05x}", self.next_uid),
                None => return Err(ApiError::new(422, "Invalid", "metadata.name is required")),
            },
        };
        let key = Key { resource, namespace: namespace.clone(), name: name.clone() };
        if self.objects.contains_key(&key) {
            return Err(ApiError::new(
                409,
                "AlreadyExists",
                format!("{} \"{name}\" already exists", resource.plural),
            ));
        }
        let rv = self.next_rv();
        let uid = format!("00000000-0000-4000-8000-{:012x}", self.next_uid);
        self.next_uid += 1;
        let now = rfc3339((self.now_seconds)());
        if let Some(map) = object.as_object_mut() {
            map.insert("apiVersion".into(), Value::String(resource.api_version()));
            map.insert("kind".into(), Value::String(resource.kind.to_owned()));
            if resource.status_subresource && resource.kind != "Node" {
                map.remove("status");
            }
        }
        if resource.kind == "Pod" {
            let phase = json!({"phase": "Pending"});
            merge_patch(
                object.as_object_mut().map_or(&mut Value::Null, |m| {
                    m.entry("status").or_insert(Value::Object(Map::new()))
                }),
                &phase,
            );
        }
        let m = meta_mut(&mut object);
        m.insert("name".into(), Value::String(name));
        if resource.namespaced {
            m.insert("namespace".into(), Value::String(namespace));
        } else {
            m.remove("namespace");
        }
        m.insert("uid".into(), Value::String(uid));
        m.insert("resourceVersion".into(), Value::String(rv.to_string()));
        m.insert("creationTimestamp".into(), Value::String(now));
        m.insert("generation".into(), json!(1));
        m.remove("deletionTimestamp");
        let mut owners = BTreeMap::new();
        if let Some(manager) = manager {
            let mut leaves = Vec::new();
            leaf_paths("", &object, &mut leaves);
            for (path, _) in leaves {
                if !path.starts_with("/metadata/") || path.starts_with("/metadata/labels") {
                    owners.insert(path, manager.to_owned());
                }
            }
        }
        self.index_owners(&key, None, Some(&object));
        self.objects.insert(key, Stored { object: object.clone(), owners });
        let change = self.record(Change {
            rv,
            resource,
            kind: ChangeKind::Added,
            object: object.clone(),
            old: None,
        });
        Ok((object, vec![change]))
    }

    /// Writes `new` over the stored object at `key`, keeping what the write may not change.
    fn commit(
        &mut self,
        key: &Key,
        mut new: Value,
        status_only: bool,
    ) -> Result<(Value, Vec<Arc<Change>>), ApiError> {
        let Some(stored) = self.objects.get(key) else {
            return Err(ApiError::not_found(key.resource, &key.name));
        };
        let old = stored.object.clone();
        if status_only {
            let mut kept = old.clone();
            if let Some(map) = kept.as_object_mut() {
                match new.get("status") {
                    Some(status) => map.insert("status".into(), status.clone()),
                    None => map.remove("status"),
                };
            }
            new = kept;
        } else if key.resource.status_subresource
            && key.resource.kind != "Node"
            && let Some(map) = new.as_object_mut()
        {
            match old.get("status") {
                Some(status) => map.insert("status".into(), status.clone()),
                None => map.remove("status"),
            };
        }
        if let Some(map) = new.as_object_mut() {
            map.insert("apiVersion".into(), Value::String(key.resource.api_version()));
            map.insert("kind".into(), Value::String(key.resource.kind.to_owned()));
        }
        // Identity and bookkeeping stay the server's.
        let old_meta = meta(&old).cloned().unwrap_or_default();
        let generation = old_meta.get("generation").and_then(Value::as_i64).unwrap_or(1);
        let spec_changed = old.get("spec") != new.get("spec");
        let rv = self.next_rv();
        let m = meta_mut(&mut new);
        for field in ["name", "namespace", "uid", "creationTimestamp", "deletionTimestamp"] {
            match old_meta.get(field) {
                Some(value) => m.insert(field.into(), value.clone()),
                None => m.remove(field),
            };
        }
        m.insert("resourceVersion".into(), Value::String(rv.to_string()));
        m.insert("generation".into(), json!(generation + i64::from(spec_changed)));
        if let Some(stored) = self.objects.get_mut(key) {
            stored.object = new.clone();
        }
        self.index_owners(key, Some(&old), Some(&new));
        let change = self.record(Change {
            rv,
            resource: key.resource,
            kind: ChangeKind::Modified,
            object: new.clone(),
            old: Some(old),
        });
        let mut changes = vec![change];
        changes.extend(self.finish_deletion_if_done(key));
        Ok((new, changes))
    }

    fn check_version(&self, key: &Key, body: &Value) -> Result<(), ApiError> {
        let Some(wanted) = meta_str(body, "resourceVersion").filter(|v| !v.is_empty()) else {
            return Ok(());
        };
        let current = self.get(key).and_then(|o| meta_str(o, "resourceVersion")).unwrap_or("");
        if wanted != current {
            return Err(ApiError::new(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {} \"{}\": the object has been modified; \
                     please apply your changes to the latest version and try again",
                    key.resource.plural, key.name
                ),
            ));
        }
        Ok(())
    }

    /// PUT: a full replacement, refused when the body's resource version is not the current one.
    pub fn replace(
        &mut self,
        key: &Key,
        body: Value,
        status_only: bool,
    ) -> Result<(Value, Vec<Arc<Change>>), ApiError> {
        if self.get(key).is_none() {
            return Err(ApiError::not_found(key.resource, &key.name));
        }
        self.check_version(key, &body)?;
        self.commit(key, body, status_only)
    }

    /// PATCH, in any of the four flavours kube's client sends.
    pub fn patch(
        &mut self,
        key: &Key,
        kind: PatchKind,
        body: &Value,
        manager: Option<&str>,
        status_only: bool,
    ) -> Result<(Value, Vec<Arc<Change>>), ApiError> {
        let Some(stored) = self.objects.get(key) else {
            if let PatchKind::Apply { .. } = kind {
                let namespace = key.resource.namespaced.then_some(key.namespace.as_str());
                let mut object = body.clone();
                meta_mut(&mut object).insert("name".into(), Value::String(key.name.clone()));
                return self.create(key.resource, namespace, object, manager);
            }
            return Err(ApiError::not_found(key.resource, &key.name));
        };
        let mut new = stored.object.clone();
        match kind {
            PatchKind::Json => json_patch(&mut new, body)?,
            PatchKind::Merge | PatchKind::Strategic | PatchKind::Apply { .. } => {
                if !body.is_object() {
                    return Err(ApiError::bad_request("a merge patch must be a JSON object"));
                }
                self.check_version(key, body)?;
                let mut leaves = Vec::new();
                leaf_paths("", body, &mut leaves);
                if let (PatchKind::Apply { force: false }, Some(manager)) = (kind, manager) {
                    for (path, value) in &leaves {
                        let owner = stored.owners.get(path);
                        let current = stored.object.pointer(path);
                        if owner.is_some_and(|o| o != manager) && current != value.as_ref() {
                            return Err(ApiError::new(
                                409,
                                "Conflict",
                                format!(
                                    "Apply failed with 1 conflict: conflict with \"{}\": {path}",
                                    owner.map_or("", String::as_str)
                                ),
                            ));
                        }
                    }
                }
                let mut patch = body.clone();
                if let Some(m) = patch.get_mut("metadata").and_then(Value::as_object_mut) {
                    m.remove("resourceVersion");
                }
                merge_patch(&mut new, &patch);
                if let Some(manager) = manager
                    && let Some(stored) = self.objects.get_mut(key)
                {
                    for (path, value) in leaves {
                        match value {
                            Some(_) => stored.owners.insert(path, manager.to_owned()),
                            None => stored.owners.remove(&path),
                        };
                    }
                }
            }
        }
        self.commit(key, new, status_only)
    }

    /// DELETE: graceful for bound pods and objects with finalizers, immediate otherwise, and
    /// the objects it owns go with it.
    pub fn delete(&mut self, key: &Key) -> Result<(Value, Vec<Arc<Change>>), ApiError> {
        let Some(stored) = self.objects.get(key) else {
            return Err(ApiError::not_found(key.resource, &key.name));
        };
        let object = stored.object.clone();
        let has_finalizers = meta(&object)
            .and_then(|m| m.get("finalizers"))
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
        let bound_pod = key.resource.kind == "Pod"
            && self.graceful_pod_deletion
            && object
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .is_some_and(|n| !n.is_empty());
        if has_finalizers || bound_pod {
            if meta(&object).is_some_and(|m| m.contains_key("deletionTimestamp")) {
                return Ok((object, Vec::new()));
            }
            let mut new = object.clone();
            let now = rfc3339((self.now_seconds)());
            let m = meta_mut(&mut new);
            m.insert("deletionTimestamp".into(), Value::String(now));
            m.insert("deletionGracePeriodSeconds".into(), json!(30));
            let rv = self.next_rv();
            m.insert("resourceVersion".into(), Value::String(rv.to_string()));
            if let Some(stored) = self.objects.get_mut(key) {
                stored.object = new.clone();
            }
            let change = self.record(Change {
                rv,
                resource: key.resource,
                kind: ChangeKind::Modified,
                object: new.clone(),
                old: Some(object),
            });
            return Ok((new, vec![change]));
        }
        let changes = self.remove(key);
        let object = changes.first().map_or(object, |c| c.object.clone());
        Ok((object, changes))
    }

    /// Removes an object at once, whatever its state, and what it owns after it.
    pub fn remove(&mut self, key: &Key) -> Vec<Arc<Change>> {
        let Some(stored) = self.objects.remove(key) else {
            return Vec::new();
        };
        let rv = self.next_rv();
        let mut object = stored.object;
        meta_mut(&mut object).insert("resourceVersion".into(), Value::String(rv.to_string()));
        let uid = meta_str(&object, "uid").unwrap_or("").to_owned();
        self.index_owners(key, Some(&object), None);
        let mut changes = vec![self.record(Change {
            rv,
            resource: key.resource,
            kind: ChangeKind::Deleted,
            object,
            old: None,
        })];
        // Owner-reference garbage collection, in the foreground for simplicity.
        let dependents: Vec<Key> = self
            .owned
            .remove(&uid)
            .unwrap_or_default()
            .into_iter()
            .filter(|k| k.namespace == key.namespace)
            .collect();
        for dependent in dependents {
            if let Ok((_, more)) = self.delete(&dependent) {
                changes.extend(more);
            }
        }
        changes
    }

    fn finish_deletion_if_done(&mut self, key: &Key) -> Vec<Arc<Change>> {
        let Some(object) = self.get(key) else {
            return Vec::new();
        };
        let deleting = meta(object).is_some_and(|m| m.contains_key("deletionTimestamp"));
        let finalizers = meta(object)
            .and_then(|m| m.get("finalizers"))
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
        let bound_pod = key.resource.kind == "Pod"
            && object
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .is_some_and(|n| !n.is_empty());
        if deleting && !finalizers && !bound_pod {
            return self.remove(key);
        }
        Vec::new()
    }
}

/// A label selector, as `kubectl` and kube's `ListParams::labels` write them.
#[derive(Clone, Debug, Default)]
pub struct LabelSelector {
    terms: Vec<LabelTerm>,
}

#[derive(Clone, Debug)]
enum LabelTerm {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// Splits at commas that are not inside parentheses.
fn split_terms(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0_i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out.into_iter().map(str::trim).filter(|t| !t.is_empty()).collect()
}

fn set_values(text: &str) -> Result<Vec<String>, ApiError> {
    let inner = text
        .trim()
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .ok_or_else(|| ApiError::bad_request(format!("bad set in label selector: `{text}`")))?;
    Ok(inner.split(',').map(|v| v.trim().to_owned()).collect())
}

impl LabelSelector {
    pub fn parse(text: &str) -> Result<LabelSelector, ApiError> {
        let mut terms = Vec::new();
        for term in split_terms(text) {
            let parsed = if let Some((key, rest)) = term.split_once(" notin ") {
                LabelTerm::NotIn(key.trim().to_owned(), set_values(rest)?)
            } else if let Some((key, rest)) = term.split_once(" in ") {
                LabelTerm::In(key.trim().to_owned(), set_values(rest)?)
            } else if let Some((key, value)) = term.split_once("!=") {
                LabelTerm::NotEquals(key.trim().to_owned(), value.trim().to_owned())
            } else if let Some((key, value)) = term.split_once("==") {
                LabelTerm::Equals(key.trim().to_owned(), value.trim().to_owned())
            } else if let Some((key, value)) = term.split_once('=') {
                LabelTerm::Equals(key.trim().to_owned(), value.trim().to_owned())
            } else if let Some(key) = term.strip_prefix('!') {
                LabelTerm::NotExists(key.trim().to_owned())
            } else {
                LabelTerm::Exists(term.to_owned())
            };
            terms.push(parsed);
        }
        Ok(LabelSelector { terms })
    }

    pub fn matches(&self, object: &Value) -> bool {
        let labels = meta(object).and_then(|m| m.get("labels")).and_then(Value::as_object);
        let label = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
        self.terms.iter().all(|term| match term {
            LabelTerm::Equals(k, v) => label(k) == Some(v.as_str()),
            LabelTerm::NotEquals(k, v) => label(k) != Some(v.as_str()),
            LabelTerm::In(k, vs) => label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            LabelTerm::NotIn(k, vs) => label(k).is_none_or(|l| vs.iter().all(|v| v != l)),
            LabelTerm::Exists(k) => label(k).is_some(),
            LabelTerm::NotExists(k) => label(k).is_none(),
        })
    }
}

/// A field selector: `path=value` and `path!=value` terms over dotted JSON paths.
#[derive(Clone, Debug, Default)]
pub struct FieldSelector {
    terms: Vec<(String, bool, String)>,
}

impl FieldSelector {
    pub fn parse(text: &str) -> Result<FieldSelector, ApiError> {
        let mut terms = Vec::new();
        for term in split_terms(text) {
            let (path, equal, value) = if let Some((p, v)) = term.split_once("!=") {
                (p, false, v)
            } else if let Some((p, v)) = term.split_once("==") {
                (p, true, v)
            } else if let Some((p, v)) = term.split_once('=') {
                (p, true, v)
            } else {
                return Err(ApiError::bad_request(format!("bad field selector term `{term}`")));
            };
            let pointer: String = path.trim().split('.').map(|p| format!("/{p}")).collect();
            terms.push((pointer, equal, value.trim().to_owned()));
        }
        Ok(FieldSelector { terms })
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.terms.iter().all(|(pointer, equal, value)| {
            let actual = match object.pointer(pointer) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            (actual == *value) == *equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_800_000_000), "2027-01-15T08:00:00Z");
    }

    #[test]
    fn label_selectors_cover_the_set_based_forms() {
        let pod = json!({"metadata": {"labels": {"spark-role": "driver", "app": "x"}}});
        let matches = |s: &str| LabelSelector::parse(s).map(|l| l.matches(&pod)).unwrap_or(false);
        assert!(matches("spark-role=driver"));
        assert!(matches("spark-role in (driver, executor),app"));
        assert!(!matches("spark-role notin (driver)"));
        assert!(matches("!missing,app!=y"));
    }

    #[test]
    fn json_patch_applies_in_order() {
        let mut doc = json!({"a": {"b": [1, 2]}});
        let patch = json!([
            {"op": "add", "path": "/a/b/-", "value": 3},
            {"op": "replace", "path": "/a/b/0", "value": 0},
            {"op": "remove", "path": "/a/b/1"},
        ]);
        json_patch(&mut doc, &patch).expect("patch applies");
        assert_eq!(doc, json!({"a": {"b": [0, 3]}}));
    }
}
