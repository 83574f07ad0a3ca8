//! Pod-level traces of a Kubernetes cluster, in the layout of Alibaba's `openb` GPU trace.
//!
//! Two CSV files with a header row. The node list gives each node's `sn` (name), `cpu_milli`,
//! `memory_mib`, `gpu` (whole GPUs) and GPU `model`. The pod list gives each pod's `name`,
//! `cpu_milli`, `memory_mib`, `num_gpu`, `gpu_milli` (the share of each GPU, in thousandths),
//! and its `creation_time`, `scheduled_time` and `deletion_time` in seconds; other columns are
//! ignored. Columns are found by name, in any order.
//!
//! Each pod becomes a job of one pod (a driver and no executors), submitted at its creation and
//! running from its start for `deletion − scheduled`. GPUs are the extended resource
//! [`GPU_MILLI`]: a node of `gpu` GPUs offers `1000 × gpu`, a pod asks `num_gpu × gpu_milli`.
//! Pods that were never scheduled in the trace have no run time and are skipped and counted.
//!
//! An approximation, by choice: GPUs are pooled per node, as an extended resource is, so two
//! pods of 600 thousandths may share a node of two GPUs, which real GPU sharing forbids (a
//! pod's share must come from one GPU). Modelling each GPU would need a per-device resource in
//! the core.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::sync::Arc;

use sparkq_core::{Constraints, Flow, JobId, JobPods, JobSpec, Millis, Priority, Resources};

use super::{Imported, Skipped, TraceError};
use crate::scenario::{Arrival, POOL_LABEL, PoolSpec};

/// The extended resource that stands for GPUs: thousandths of a GPU.
pub const GPU_MILLI: &str = "alibaba.com/gpu-milli";

/// The node label that carries the GPU model, when the node has one.
pub const GPU_MODEL_LABEL: &str = "alibaba.com/gpu-model";

/// The smallest CPU request a pod gets, in millicores: Spark cannot ask for none.
pub const MIN_CPU_MILLIS: i64 = 1;

/// The smallest memory request a pod gets, in MiB: Spark cannot ask for none.
pub const MIN_MEMORY_MIB: i64 = 1;

const MIB: i64 = 1 << 20;

/// Kubernetes' default pod slots per node.
const DEFAULT_PODS: i64 = 110;

/// A CSV file with a header row, read line by line.
#[derive(Debug)]
struct CsvLines<R> {
    lines: R,
    origin: String,
    line: u64,
    columns: BTreeMap<String, usize>,
    buffer: String,
}

impl<R: BufRead> CsvLines<R> {
    /// Reads the header row and checks that every column in `needed` is there.
    fn new(lines: R, origin: &str, needed: &[&str]) -> Result<CsvLines<R>, TraceError> {
        let mut csv = CsvLines {
            lines,
            origin: origin.to_owned(),
            line: 0,
            columns: BTreeMap::new(),
            buffer: String::new(),
        };
        let Some(header) = csv.next_line()? else {
            return Err(TraceError::input(origin, "is empty: expected a header row"));
        };
        csv.columns =
            header.split(',').enumerate().map(|(at, name)| (name.trim().to_owned(), at)).collect();
        let missing: Vec<&str> =
            needed.iter().copied().filter(|name| !csv.columns.contains_key(*name)).collect();
        if !missing.is_empty() {
            return Err(TraceError::line(
                origin,
                1,
                format!(
                    "the header lacks {}: expected the columns {}",
                    missing.join(", "),
                    needed.join(", ")
                ),
            ));
        }
        Ok(csv)
    }

    /// The next non-blank line and its number.
    fn next_line(&mut self) -> Result<Option<String>, TraceError> {
        loop {
            self.buffer.clear();
            let read = self
                .lines
                .read_line(&mut self.buffer)
                .map_err(|source| TraceError::io(&self.origin, source))?;
            if read == 0 {
                return Ok(None);
            }
            self.line += 1;
            let line = self.buffer.trim();
            if !line.is_empty() {
                return Ok(Some(line.to_owned()));
            }
        }
    }
}

/// One row, with its columns found by name.
struct Row<'a> {
    fields: Vec<&'a str>,
    columns: &'a BTreeMap<String, usize>,
}

/// A malformed row: a short kind for counting and the full problem for the error.
struct BadRow {
    kind: &'static str,
    problem: String,
}

impl<'a> Row<'a> {
    fn new(line: &'a str, columns: &'a BTreeMap<String, usize>) -> Result<Row<'a>, BadRow> {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() < columns.len() {
            return Err(BadRow {
                kind: "too few fields",
                problem: format!(
                    "too few fields: the row has {}, the header {}",
                    fields.len(),
                    columns.len()
                ),
            });
        }
        Ok(Row { fields, columns })
    }

    fn text(&self, column: &str) -> &'a str {
        self.columns.get(column).and_then(|at| self.fields.get(*at)).copied().unwrap_or("")
    }

    /// A whole non-negative number; `None` when the field is empty.
    fn optional(&self, column: &str) -> Result<Option<i64>, BadRow> {
        let text = self.text(column);
        if text.is_empty() {
            return Ok(None);
        }
        match text.parse::<i64>() {
            Ok(value) if value >= 0 => Ok(Some(value)),
            _ => Err(BadRow {
                kind: "text where a number belongs",
                problem: format!("`{column}` is `{text}`: expected a whole number, 0 or more"),
            }),
        }
    }

    fn number(&self, column: &str) -> Result<i64, BadRow> {
        self.optional(column)?.ok_or_else(|| BadRow {
            kind: "empty field",
            problem: format!("`{column}` is empty: expected a whole number, 0 or more"),
        })
    }
}

/// One group of identical nodes, before it becomes a pool.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct NodeKind {
    allocatable: Resources,
    model: String,
}

const NODE_COLUMNS: [&str; 5] = ["sn", "cpu_milli", "memory_mib", "gpu", "model"];

const POD_COLUMNS: [&str; 8] = [
    "name",
    "cpu_milli",
    "memory_mib",
    "num_gpu",
    "gpu_milli",
    "creation_time",
    "deletion_time",
    "scheduled_time",
];

/// Reads the node list into pools of identical nodes, in order of first appearance.
pub fn read_nodes<R: BufRead>(lines: R, origin: &str) -> Result<Vec<PoolSpec>, TraceError> {
    let mut csv = CsvLines::new(lines, origin, &NODE_COLUMNS)?;
    let mut kinds: Vec<(NodeKind, u32)> = Vec::new();
    while let Some(line) = csv.next_line()? {
        let number = csv.line;
        let bad = |row: BadRow| TraceError::line(origin, number, row.problem);
        let row = Row::new(&line, &csv.columns).map_err(bad)?;
        let gpus = row.number("gpu").map_err(bad)?;
        let mut allocatable = Resources {
            cpu_millis: row.number("cpu_milli").map_err(bad)?,
            memory_bytes: row.number("memory_mib").map_err(bad)?.saturating_mul(MIB),
            pods: DEFAULT_PODS,
            extended: Vec::new(),
        };
        if gpus > 0 {
            allocatable = allocatable.with_extended(GPU_MILLI, gpus.saturating_mul(1000));
        }
        let kind = NodeKind { allocatable, model: row.text("model").to_owned() };
        match kinds.iter_mut().find(|(seen, _)| *seen == kind) {
            Some((_, count)) => *count += 1,
            None => kinds.push((kind, 1)),
        }
    }
    if kinds.is_empty() {
        return Err(TraceError::input(origin, "lists no nodes: expected one row per node"));
    }

    let mut pools: Vec<PoolSpec> = Vec::with_capacity(kinds.len());
    for (kind, count) in kinds {
        let gpus = kind.allocatable.extended_amount(GPU_MILLI) / 1000;
        let mut name = format!(
            "c{}-m{}g",
            kind.allocatable.cpu_millis / 1000,
            kind.allocatable.memory_bytes >> 30
        );
        if gpus > 0 {
            name.push_str(&format!("-{gpus}x-{}", kind.model));
        }
        let mut name = super::dns_label(&name, "pool");
        if pools.iter().any(|pool| *pool.name == *name) {
            name = format!("{name}-{}", pools.len());
        }
        let name: Arc<str> = name.into();
        let mut labels: Vec<(Arc<str>, Arc<str>)> = vec![(POOL_LABEL.into(), name.clone())];
        if !kind.model.is_empty() {
            labels.push((GPU_MODEL_LABEL.into(), kind.model.as_str().into()));
        }
        labels.sort();
        pools.push(PoolSpec {
            name,
            count,
            allocatable: kind.allocatable,
            labels,
            taints: Vec::new(),
        });
    }
    Ok(pools)
}

/// The pods of a pod list as single-pod jobs, read lazily in file order.
///
/// Each item is an arrival or the error that stopped the reading. With `skip_bad_lines`,
/// malformed rows are counted in [`PodReader::skipped`] instead; pods without a scheduled or
/// deletion time are always skipped and counted.
#[derive(Debug)]
pub struct PodReader<R> {
    csv: CsvLines<R>,
    skip_bad_lines: bool,
    skipped: Skipped,
    last_created_ms: Millis,
    next_id: u64,
    done: bool,
}

impl<R: BufRead> PodReader<R> {
    pub fn new(lines: R, origin: &str, skip_bad_lines: bool) -> Result<PodReader<R>, TraceError> {
        Ok(PodReader {
            csv: CsvLines::new(lines, origin, &POD_COLUMNS)?,
            skip_bad_lines,
            skipped: Skipped::default(),
            last_created_ms: 0,
            next_id: 0,
            done: false,
        })
    }

    pub fn skipped(&self) -> &Skipped {
        &self.skipped
    }

    fn step(&mut self) -> Result<Option<Arrival>, TraceError> {
        while let Some(line) = self.csv.next_line()? {
            let number = self.csv.line;
            let parsed = match Row::new(&line, &self.csv.columns) {
                Ok(row) => parse_pod(&row),
                Err(bad) => Err(bad),
            };
            match parsed {
                Ok(Pod::Skip(reason)) => self.skipped.add(reason, number),
                Ok(Pod::Arrival(mut arrival)) => {
                    if arrival.at_ms < self.last_created_ms {
                        if self.skip_bad_lines {
                            self.skipped.add("bad line: creation time goes backwards", number);
                            continue;
                        }
                        return Err(TraceError::line(
                            &self.csv.origin,
                            number,
                            format!(
                                "creation time {} s is before the previous pod's {} s: expected \
                                 pods sorted by creation time",
                                arrival.at_ms / 1000,
                                self.last_created_ms / 1000
                            ),
                        ));
                    }
                    self.last_created_ms = arrival.at_ms;
                    arrival.spec.id = JobId(self.next_id);
                    self.next_id += 1;
                    return Ok(Some(*arrival));
                }
                Err(bad) if self.skip_bad_lines => {
                    self.skipped.add(format!("bad line: {}", bad.kind), number);
                }
                Err(bad) => return Err(TraceError::line(&self.csv.origin, number, bad.problem)),
            }
        }
        Ok(None)
    }
}

impl<R: BufRead> Iterator for PodReader<R> {
    type Item = Result<Arrival, TraceError>;

    fn next(&mut self) -> Option<Result<Arrival, TraceError>> {
        if self.done {
            return None;
        }
        let item = self.step().transpose();
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        item
    }
}

enum Pod {
    Arrival(Box<Arrival>),
    Skip(&'static str),
}

fn parse_pod(row: &Row<'_>) -> Result<Pod, BadRow> {
    let name = row.text("name");
    if name.is_empty() {
        return Err(BadRow {
            kind: "empty name",
            problem: "`name` is empty: expected a pod name".into(),
        });
    }
    let cpu_millis = row.number("cpu_milli")?.max(MIN_CPU_MILLIS);
    let memory_mib = row.number("memory_mib")?.max(MIN_MEMORY_MIB);
    let gpu_milli = row.number("num_gpu")?.saturating_mul(row.number("gpu_milli")?);
    let created_s = row.number("creation_time")?;
    let Some(scheduled_s) = row.optional("scheduled_time")? else {
        return Ok(Pod::Skip("never scheduled in the trace (no scheduled_time)"));
    };
    let Some(deleted_s) = row.optional("deletion_time")? else {
        return Ok(Pod::Skip("still running at the end of the trace (no deletion_time)"));
    };
    if deleted_s < scheduled_s {
        return Err(BadRow {
            kind: "deleted before scheduled",
            problem: format!(
                "`deletion_time` {deleted_s} is before `scheduled_time` {scheduled_s}: expected \
                 a pod to be deleted after it was scheduled"
            ),
        });
    }
    let mut request = Resources::pod(cpu_millis, memory_mib.saturating_mul(MIB));
    if gpu_milli > 0 {
        request = request.with_extended(GPU_MILLI, gpu_milli);
    }
    let namespace: Arc<str> = Arc::from("default");
    Ok(Pod::Arrival(Box::new(Arrival {
        at_ms: seconds(created_s),
        spec: JobSpec {
            id: JobId(0),
            name: name.into(),
            domain: namespace.clone(),
            namespace,
            priority: Priority::Normal,
            flow: Flow::Orchestrated,
            pods: JobPods { driver: request.clone(), executor: request, executors: 0 },
            constraints: Arc::new(Constraints::default()),
            expected_duration_ms: None,
        },
        run_ms: seconds(deleted_s - scheduled_s),
        fail_after_ms: None,
    })))
}

fn seconds(seconds: i64) -> Millis {
    Millis::try_from(seconds).unwrap_or(0).saturating_mul(1000)
}

/// Reads a node list and a pod list into a cluster and its jobs.
pub fn import<N: BufRead, P: BufRead>(
    nodes: N,
    nodes_origin: &str,
    pods: P,
    pods_origin: &str,
    name: &str,
    skip_bad_lines: bool,
) -> Result<Imported, TraceError> {
    let pools = read_nodes(nodes, nodes_origin)?;
    let mut reader = PodReader::new(pods, pods_origin, skip_bad_lines)?;
    let mut jobs = Vec::new();
    for arrival in reader.by_ref() {
        jobs.push(arrival?);
    }
    let fits_nowhere = jobs
        .iter()
        .filter(|job| !pools.iter().any(|pool| pool.allocatable.covers(&job.spec.pods.driver)))
        .count();
    let mut notes = Vec::new();
    if fits_nowhere > 0 {
        notes.push(format!(
            "{fits_nowhere} pods ask for more than any node offers: the simulator rejects them \
             at submission"
        ));
    }
    let nodes: u32 = pools.iter().map(|pool| pool.count).sum();
    Ok(Imported {
        name: name.to_owned(),
        description: format!(
            "{pods_origin} on {nodes_origin}: {} pods on {nodes} nodes in {} pools",
            jobs.len(),
            pools.len()
        ),
        pools,
        background: Vec::new(),
        cordoned: Vec::new(),
        jobs,
        skipped: reader.skipped().clone(),
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODES: &str = "sn,cpu_milli,memory_mib,gpu,model\na,32000,262144,0,\nb,32000,262144,0,\n\
                         c,96000,393216,8,G2\n";
    const PODS: &str = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,\
                        creation_time,deletion_time,scheduled_time\n\
                        p0,12000,16384,1,460,,LS,Running,0,100,10\n\
                        p1,1000,0,0,0,,BE,Pending,5,50,\n";

    #[test]
    fn identical_nodes_share_a_pool() {
        let pools = read_nodes(NODES.as_bytes(), "nodes.csv").expect("valid test input");
        assert_eq!(pools.len(), 2);
        assert_eq!((pools[0].name.as_ref(), pools[0].count), ("c32-m256g", 2));
        assert_eq!(pools[1].name.as_ref(), "c96-m384g-8x-g2");
        assert_eq!(pools[1].allocatable.extended_amount(GPU_MILLI), 8000);
    }

    #[test]
    fn pods_become_single_pod_jobs_running_from_schedule_to_deletion() {
        let mut reader =
            PodReader::new(PODS.as_bytes(), "pods.csv", false).expect("valid test input");
        let jobs: Vec<Arrival> =
            reader.by_ref().map(|job| job.expect("valid test input")).collect();
        assert_eq!(jobs.len(), 1);
        assert_eq!((jobs[0].at_ms, jobs[0].run_ms), (0, 90_000));
        assert_eq!(jobs[0].spec.pods.executors, 0);
        assert_eq!(jobs[0].spec.pods.driver.extended_amount(GPU_MILLI), 460);
        assert_eq!(reader.skipped().count_matching("never scheduled"), 1);
    }

    #[test]
    fn a_bad_row_names_its_line() {
        let pods = format!("{PODS}p2,lots,1,0,0,,BE,Running,6,9,7\n");
        let mut reader =
            PodReader::new(pods.as_bytes(), "pods.csv", false).expect("valid test input");
        let error = reader.find_map(Result::err).expect("valid test input").to_string();
        assert!(error.starts_with("pods.csv:4: `cpu_milli` is `lots`"), "{error}");
    }
}
