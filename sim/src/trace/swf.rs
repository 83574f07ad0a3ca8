//! The Standard Workload Format of the Parallel Workloads Archive.
//!
//! One job per line, 18 whitespace-separated numbers, `-1` for unknown; lines starting with `;`
//! are comments, and those at the top form the header (`; MaxProcs: 128`). The fields read here,
//! 1-based: 1 job number, 2 submit time (s), 4 run time (s), 5 allocated processors, 8 requested
//! processors, 9 requested time (s), 10 requested memory (KB per processor), 12 user, 15 queue.
//!
//! The mapping to sparkq's jobs follows the archive's common conventions:
//!
//! - processors are field 8 when known, else field 5; a job with neither is skipped and counted;
//! - each processor is one pod of one core: a job of P processors is a driver and P − 1
//!   executors, all alike;
//! - a pod's memory is field 10 rounded up to whole MiB when known, else [`UNKNOWN_MEMORY_MIB`],
//!   small enough never to bind;
//! - the run time is field 4, and the requested time (field 9) the estimate `backfill` uses;
//! - the cluster is `MaxProcs` processors (from the header, or given), in nodes of
//!   `node_cores` cores.

use std::io::BufRead;
use std::str::FromStr;
use std::sync::Arc;

use sparkq_core::{
    Constraints, Flow, JobId, JobPods, JobSpec, MAX_INPUT_MS, Millis, Priority, Resources,
};

use super::{Imported, Skipped, TraceError};
use crate::scenario::{Arrival, MAX_POOL_NODES, POOL_LABEL, PoolSpec};

/// The number of fields on every job line.
pub const FIELDS: usize = 18;

/// The memory of a pod whose job states none: 1 MiB, which never binds on a real node.
pub const UNKNOWN_MEMORY_MIB: i64 = 1;

/// The smallest memory of an imported node, when it is not given.
pub const DEFAULT_NODE_MEMORY_BYTES: i64 = 1 << 30;

/// The name of the one pool of an imported SWF cluster.
pub const POOL_NAME: &str = "node";

const MIB: i64 = 1 << 20;

/// Kubernetes' default pod slots per node.
const DEFAULT_PODS: i64 = 110;

/// The names of the 18 fields, for error messages.
const FIELD_NAMES: [&str; FIELDS] = [
    "job number",
    "submit time",
    "wait time",
    "run time",
    "allocated processors",
    "average CPU time",
    "used memory",
    "requested processors",
    "requested time",
    "requested memory",
    "status",
    "user",
    "group",
    "executable",
    "queue",
    "partition",
    "preceding job",
    "think time",
];

/// Which jobs are high priority. Every job is normal unless a term matches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PriorityRule {
    terms: Vec<RuleTerm>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RuleTerm {
    /// Field 15 equals this queue number.
    Queue(i64),
    /// Field 12 equals this user number.
    User(i64),
    /// The job has at least this many processors.
    SizeAtLeast(u64),
}

impl PriorityRule {
    /// The priority of a job from its queue, user and processor count.
    pub fn priority(&self, queue: i64, user: i64, processors: u64) -> Priority {
        let high = self.terms.iter().any(|term| match *term {
            RuleTerm::Queue(number) => queue == number,
            RuleTerm::User(number) => user == number,
            RuleTerm::SizeAtLeast(size) => processors >= size,
        });
        if high { Priority::High } else { Priority::Normal }
    }
}

const RULE_EXPECTED: &str = "expected `normal` (every job normal), or terms joined by `,` of \
                             which any makes a job high: `queue:N` (field 15 is N), `user:N` \
                             (field 12 is N), `size>=P` (at least P processors)";

impl FromStr for PriorityRule {
    type Err = String;

    fn from_str(text: &str) -> Result<PriorityRule, String> {
        let text = text.trim();
        if text.is_empty() || text == "normal" {
            return Ok(PriorityRule::default());
        }
        let mut terms = Vec::new();
        for term in text.split(',').map(str::trim) {
            let bad = || format!("`{term}` is not a priority rule: {RULE_EXPECTED}");
            let parsed = if let Some(number) = term.strip_prefix("queue:") {
                RuleTerm::Queue(number.trim().parse().map_err(|_| bad())?)
            } else if let Some(number) = term.strip_prefix("user:") {
                RuleTerm::User(number.trim().parse().map_err(|_| bad())?)
            } else if let Some(size) = term.strip_prefix("size>=") {
                RuleTerm::SizeAtLeast(size.trim().parse().map_err(|_| bad())?)
            } else {
                return Err(bad());
            };
            terms.push(parsed);
        }
        Ok(PriorityRule { terms })
    }
}

/// What the header comments say, as far as the import uses it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SwfHeader {
    pub max_procs: Option<u64>,
    pub max_nodes: Option<u64>,
    pub computer: Option<String>,
}

impl SwfHeader {
    fn read_comment(&mut self, comment: &str) {
        let Some((key, value)) = comment.split_once(':') else { return };
        let value = value.trim();
        match key.trim() {
            "MaxProcs" => self.max_procs = value.parse().ok().filter(|n| *n > 0),
            "MaxNodes" => self.max_nodes = value.parse().ok().filter(|n| *n > 0),
            "Computer" if !value.is_empty() => self.computer = Some(value.to_owned()),
            _ => {}
        }
    }
}

/// The jobs of an SWF log, read lazily, line by line, in file order.
///
/// The header is read when the reader is made. Each item is an arrival, or the error that
/// stopped the reading (after which the reader yields nothing). With `skip_bad_lines`,
/// malformed lines are counted in [`SwfReader::skipped`] instead. Jobs without a processor
/// count, run time or submit time are always skipped and counted.
#[derive(Debug)]
pub struct SwfReader<R> {
    lines: R,
    origin: String,
    header: SwfHeader,
    rule: PriorityRule,
    skip_bad_lines: bool,
    skipped: Skipped,
    /// The number of the last line read.
    line: u64,
    /// The first job line, read while looking for the end of the header.
    held: Option<String>,
    buffer: String,
    last_submit_ms: Millis,
    next_id: u64,
    done: bool,
}

impl<R: BufRead> SwfReader<R> {
    /// Reads the header of `lines`; `origin` names the file in errors.
    pub fn new(
        lines: R,
        origin: &str,
        rule: PriorityRule,
        skip_bad_lines: bool,
    ) -> Result<SwfReader<R>, TraceError> {
        let mut reader = SwfReader {
            lines,
            origin: origin.to_owned(),
            header: SwfHeader::default(),
            rule,
            skip_bad_lines,
            skipped: Skipped::default(),
            line: 0,
            held: None,
            buffer: String::new(),
            last_submit_ms: 0,
            next_id: 0,
            done: false,
        };
        while let Some(line) = reader.read_line()? {
            let trimmed = line.trim();
            if let Some(comment) = trimmed.strip_prefix(';') {
                reader.header.read_comment(comment);
            } else if !trimmed.is_empty() {
                reader.held = Some(line);
                break;
            }
        }
        Ok(reader)
    }

    pub fn header(&self) -> &SwfHeader {
        &self.header
    }

    /// What was left out so far, and why.
    pub fn skipped(&self) -> &Skipped {
        &self.skipped
    }

    fn read_line(&mut self) -> Result<Option<String>, TraceError> {
        self.buffer.clear();
        let read = self
            .lines
            .read_line(&mut self.buffer)
            .map_err(|source| TraceError::io(&self.origin, source))?;
        if read == 0 {
            return Ok(None);
        }
        self.line += 1;
        Ok(Some(std::mem::take(&mut self.buffer)))
    }

    /// The next job line and its number, comments and blank lines passed over.
    fn next_job_line(&mut self) -> Result<Option<(u64, String)>, TraceError> {
        if let Some(line) = self.held.take() {
            return Ok(Some((self.line, line)));
        }
        while let Some(line) = self.read_line()? {
            let trimmed = line.trim();
            if !trimmed.is_empty() && !trimmed.starts_with(';') {
                return Ok(Some((self.line, line)));
            }
        }
        Ok(None)
    }

    fn step(&mut self) -> Result<Option<Arrival>, TraceError> {
        while let Some((number, line)) = self.next_job_line()? {
            match parse_job(&line, &self.rule) {
                Ok(Job::Skip(reason)) => self.skipped.add(reason, number),
                Ok(Job::Arrival(mut arrival)) => {
                    if arrival.at_ms < self.last_submit_ms {
                        let problem = format!(
                            "submit time {} s is before the previous job's {} s: expected jobs \
                             sorted by submit time, as the archive writes them",
                            arrival.at_ms / 1000,
                            self.last_submit_ms / 1000
                        );
                        if self.skip_bad_lines {
                            self.skipped.add("bad line: submit time goes backwards", number);
                            continue;
                        }
                        return Err(TraceError::line(&self.origin, number, problem));
                    }
                    self.last_submit_ms = arrival.at_ms;
                    arrival.spec.id = JobId(self.next_id);
                    self.next_id += 1;
                    return Ok(Some(*arrival));
                }
                Err(bad) if self.skip_bad_lines => {
                    self.skipped.add(format!("bad line: {}", bad.kind), number);
                }
                Err(bad) => return Err(TraceError::line(&self.origin, number, bad.problem)),
            }
        }
        Ok(None)
    }
}

impl<R: BufRead> Iterator for SwfReader<R> {
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

/// What one job line gave.
enum Job {
    Arrival(Box<Arrival>),
    /// A well-formed line the import leaves out, with the reason.
    Skip(&'static str),
}

/// A malformed line: a short kind for counting, and the full problem for the error.
struct BadLine {
    kind: &'static str,
    problem: String,
}

fn parse_job(line: &str, rule: &PriorityRule) -> Result<Job, BadLine> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() != FIELDS {
        let kind = if fields.len() < FIELDS { "too few fields" } else { "too many fields" };
        return Err(BadLine {
            kind,
            problem: format!(
                "{kind}: the line has {} fields, expected {FIELDS} whitespace-separated numbers \
                 (-1 for unknown)",
                fields.len()
            ),
        });
    }
    let mut values = [0.0_f64; FIELDS];
    for (index, text) in fields.iter().enumerate() {
        values[index] = number(text).ok_or_else(|| BadLine {
            kind: "text where a number belongs",
            problem: format!(
                "field {} ({}) is `{text}`: expected a number, -1 for unknown",
                index + 1,
                FIELD_NAMES[index]
            ),
        })?;
    }
    let whole = |index: usize| -> Result<i64, BadLine> {
        let value = values[index];
        if value.abs() > 9.0e15 {
            return Err(BadLine {
                kind: "number too large",
                problem: format!(
                    "field {} ({}) is `{}`: expected a whole number below 9e15",
                    index + 1,
                    FIELD_NAMES[index],
                    fields[index]
                ),
            });
        }
        if value.fract() != 0.0 {
            return Err(BadLine {
                kind: "fraction where a whole number belongs",
                problem: format!(
                    "field {} ({}) is `{}`: expected a whole number",
                    index + 1,
                    FIELD_NAMES[index],
                    fields[index]
                ),
            });
        }
        Ok(value as i64)
    };

    let job_number = whole(0)?;
    let requested = whole(7)?;
    let allocated = whole(4)?;
    let processors = if requested > 0 {
        requested
    } else if allocated > 0 {
        allocated
    } else {
        return Ok(Job::Skip("no processor count: fields 8 and 5 are both unknown"));
    };
    let Some(submit_ms) = seconds_to_ms(values[1]) else {
        return Ok(Job::Skip("no submit time: field 2 is unknown"));
    };
    let Some(run_ms) = seconds_to_ms(values[3]) else {
        return Ok(Job::Skip("no run time: field 4 is unknown"));
    };
    let submit_ms = within_a_century(submit_ms, 1, fields[1])?;
    let run_ms = within_a_century(run_ms, 3, fields[3])?;
    let estimate_ms =
        seconds_to_ms(values[8]).map(|ms| within_a_century(ms, 8, fields[8])).transpose()?;
    let memory_mib = if values[9] > 0.0 {
        // KB per processor, rounded up to whole MiB, as Spark requests memory.
        (values[9] / 1024.0).ceil() as i64
    } else {
        UNKNOWN_MEMORY_MIB
    };
    let processors = processors as u64;
    let Ok(executors) = u32::try_from(processors - 1) else {
        return Err(BadLine {
            kind: "processor count too large",
            problem: format!("{processors} processors is more than sparkq can count"),
        });
    };
    let priority = rule.priority(whole(14)?, whole(11)?, processors);
    let pod = Resources::pod(1000, memory_mib.saturating_mul(MIB));
    let namespace: Arc<str> = Arc::from("default");
    Ok(Job::Arrival(Box::new(Arrival {
        at_ms: submit_ms,
        spec: JobSpec {
            id: JobId(0),
            name: format!("job-{job_number}").into(),
            domain: namespace.clone(),
            namespace,
            priority,
            flow: Flow::Orchestrated,
            pods: JobPods { driver: pod.clone(), executor: pod, executors },
            constraints: Arc::new(Constraints::default()),
            expected_duration_ms: estimate_ms,
        },
        run_ms,
        fail_after_ms: None,
    })))
}

/// A finite decimal number, as the archive writes them (`-1`, `1451`, `12.5`).
fn number(text: &str) -> Option<f64> {
    let valid = text.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.'));
    if !valid {
        return None;
    }
    text.parse::<f64>().ok().filter(|value| value.is_finite())
}

/// Seconds to whole milliseconds, `None` for the archive's unknown (any negative value).
fn seconds_to_ms(seconds: f64) -> Option<Millis> {
    (seconds >= 0.0).then(|| (seconds * 1000.0).round() as Millis)
}

/// A time field within what a simulation takes (a century), or the bad line that says so.
fn within_a_century(ms: Millis, field: usize, text: &str) -> Result<Millis, BadLine> {
    if ms <= MAX_INPUT_MS {
        return Ok(ms);
    }
    Err(BadLine {
        kind: "time too long",
        problem: format!(
            "field {} ({}) is `{text}` seconds: expected at most a century ({} s)",
            field + 1,
            FIELD_NAMES[field],
            MAX_INPUT_MS / 1000
        ),
    })
}

/// How an SWF log becomes a cluster and a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwfOptions {
    /// The cluster's processors; the header's `MaxProcs` when `None`.
    pub processors: Option<u64>,
    /// Cores (processors) per node.
    pub node_cores: u32,
    /// Memory per node; when `None`, enough for `node_cores` of the largest pod, at least 1 GiB.
    pub node_memory_bytes: Option<i64>,
    pub priority_rule: PriorityRule,
    pub skip_bad_lines: bool,
}

impl Default for SwfOptions {
    fn default() -> SwfOptions {
        SwfOptions {
            processors: None,
            node_cores: 1,
            node_memory_bytes: None,
            priority_rule: PriorityRule::default(),
            skip_bad_lines: false,
        }
    }
}

/// Reads a whole SWF log into a cluster and its jobs.
pub fn import<R: BufRead>(
    lines: R,
    origin: &str,
    name: &str,
    options: &SwfOptions,
) -> Result<Imported, TraceError> {
    if options.node_cores == 0 {
        return Err(TraceError::input(origin, "nodes of 0 cores: expected at least 1"));
    }
    let mut reader =
        SwfReader::new(lines, origin, options.priority_rule.clone(), options.skip_bad_lines)?;
    let processors = match (options.processors, reader.header().max_procs) {
        (Some(processors), _) | (None, Some(processors)) => processors,
        (None, None) => {
            let hint = match reader.header().max_nodes {
                Some(nodes) => format!(
                    " (it has `MaxNodes: {nodes}`: with one processor per node, that is \
                     --processors {nodes})"
                ),
                None => String::new(),
            };
            return Err(TraceError::input(
                origin,
                format!(
                    "the header has no `; MaxProcs:` line{hint}: expected the cluster's size in \
                     the header or given as --processors"
                ),
            ));
        }
    };

    let mut jobs = Vec::new();
    for arrival in reader.by_ref() {
        jobs.push(arrival?);
    }
    let node_cores = u64::from(options.node_cores);
    let nodes = processors.div_ceil(node_cores);
    let Some(count) = u32::try_from(nodes).ok().filter(|n| *n <= MAX_POOL_NODES) else {
        return Err(TraceError::input(
            origin,
            format!(
                "{processors} processors make {nodes} nodes of {node_cores} cores: expected at \
                 most {MAX_POOL_NODES} nodes (give larger nodes with --node-cores)"
            ),
        ));
    };
    let largest_pod_bytes = jobs.iter().map(|job| job.spec.pods.driver.memory_bytes).max();
    let node_memory_bytes = options.node_memory_bytes.unwrap_or_else(|| {
        largest_pod_bytes
            .unwrap_or(0)
            .saturating_mul(i64::from(options.node_cores))
            .max(DEFAULT_NODE_MEMORY_BYTES)
    });

    let mut notes = Vec::new();
    if processors % node_cores != 0 {
        notes.push(format!(
            "{processors} processors do not divide into nodes of {node_cores} cores: the \
             cluster has {nodes} nodes, {} processors",
            nodes * node_cores
        ));
    }
    let too_wide =
        jobs.iter().filter(|job| u64::from(job.spec.pods.executors) + 1 > processors).count();
    if too_wide > 0 {
        notes.push(format!(
            "{too_wide} jobs ask for more than the cluster's {processors} processors: the \
             simulator rejects them at submission"
        ));
    }
    let too_much_memory =
        jobs.iter().filter(|job| job.spec.pods.driver.memory_bytes > node_memory_bytes).count();
    if too_much_memory > 0 {
        notes.push(format!(
            "{too_much_memory} jobs ask for more memory per processor than a node has: the \
             simulator rejects them at submission"
        ));
    }

    let allocatable = Resources {
        cpu_millis: i64::from(options.node_cores) * 1000,
        memory_bytes: node_memory_bytes,
        pods: DEFAULT_PODS.max(i64::from(options.node_cores)),
        extended: Vec::new(),
    };
    let pool = PoolSpec {
        name: POOL_NAME.into(),
        count,
        allocatable,
        labels: vec![(POOL_LABEL.into(), POOL_NAME.into())],
        taints: Vec::new(),
    };
    let machine = reader.header().computer.clone().unwrap_or_else(|| "an unnamed machine".into());
    Ok(Imported {
        name: name.to_owned(),
        description: format!(
            "{origin}: {} jobs of {machine}, on {count} nodes of {node_cores} core{}",
            jobs.len(),
            if node_cores == 1 { "" } else { "s" }
        ),
        pools: vec![pool],
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

    const HEADER: &str = "; MaxProcs: 8\n; Computer: test\n";

    fn line(number: u32, submit: i64, run: i64, procs: i64, requested: i64) -> String {
        format!("{number} {submit} -1 {run} {procs} -1 -1 {requested} -1 -1 1 3 1 -1 2 -1 -1 -1\n")
    }

    fn read(text: &str, skip: bool) -> (Vec<Result<Arrival, TraceError>>, Skipped) {
        let mut reader = SwfReader::new(text.as_bytes(), "t.swf", PriorityRule::default(), skip)
            .expect("valid test input");
        let items: Vec<_> = reader.by_ref().collect();
        (items, reader.skipped().clone())
    }

    #[test]
    fn processors_come_from_field_8_then_field_5() {
        let text = format!(
            "{HEADER}{}{}{}",
            line(1, 0, 10, 4, 2),
            line(2, 5, 10, 3, -1),
            line(3, 6, 1, -1, -1)
        );
        let (items, skipped) = read(&text, false);
        let jobs: Vec<Arrival> =
            items.into_iter().map(|job| job.expect("valid test input")).collect();
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[0].spec.pods.executors, 1);
        assert_eq!(jobs[1].spec.pods.executors, 2);
        assert_eq!(jobs[1].at_ms, 5000);
        assert_eq!(jobs[1].spec.id, JobId(1));
        assert_eq!(skipped.count_matching("no processor count"), 1);
    }

    #[test]
    fn a_short_line_is_an_error_with_its_number() {
        let text = format!("{HEADER}{}1 2 3\n", line(1, 0, 10, 4, 2));
        let (items, _) = read(&text, false);
        let error = items.into_iter().find_map(Result::err).expect("valid test input").to_string();
        assert!(error.starts_with("t.swf:4: too few fields"), "{error}");
    }

    #[test]
    fn text_in_a_number_field_is_skipped_and_counted_on_request() {
        let bad = line(2, 5, 10, 3, -1).replace(" 5 ", " soon ");
        let text = format!("{HEADER}{}{bad}", line(1, 0, 10, 4, 2));
        let (items, skipped) = read(&text, true);
        assert_eq!(items.len(), 1);
        assert_eq!(skipped.count_matching("text where a number belongs"), 1);
        let (items, _) = read(&text, false);
        let error = items.into_iter().find_map(Result::err).expect("valid test input").to_string();
        assert!(error.contains("t.swf:4: field 2 (submit time) is `soon`"), "{error}");
    }

    #[test]
    fn priority_rules_match_queue_user_and_size() {
        let rule: PriorityRule = "queue:2, size>=64".parse().expect("valid test input");
        assert_eq!(rule.priority(2, 0, 1), Priority::High);
        assert_eq!(rule.priority(1, 0, 64), Priority::High);
        assert_eq!(rule.priority(1, 0, 63), Priority::Normal);
        assert!("queue:x".parse::<PriorityRule>().is_err());
        assert!("bigger".parse::<PriorityRule>().is_err());
    }

    #[test]
    fn memory_comes_from_field_10_and_nodes_hold_node_cores_processors() {
        // 3000 KB per processor is 2.9 MiB, requested as 3 MiB; the requested time (field 9)
        // is the estimate.
        let job = "1 0 -1 10 6 -1 -1 -1 600 3000 1 3 1 -1 2 -1 -1 -1\n";
        let text = format!("; MaxProcs: 10\n{job}");
        let options = SwfOptions { node_cores: 4, ..SwfOptions::default() };
        let imported = import(text.as_bytes(), "t.swf", "t", &options).expect("valid test input");
        let pods = &imported.jobs[0].spec.pods;
        assert_eq!((pods.driver.memory_bytes, pods.executors), (3 * MIB, 5));
        assert_eq!(imported.jobs[0].spec.expected_duration_ms, Some(600_000));
        let pool = &imported.pools[0];
        assert_eq!((pool.count, pool.allocatable.cpu_millis), (3, 4000));
        assert_eq!(pool.allocatable.memory_bytes, DEFAULT_NODE_MEMORY_BYTES);
        assert!(imported.notes[0].contains("do not divide"), "{:?}", imported.notes);

        let options = SwfOptions { node_memory_bytes: Some(2 * MIB), ..options };
        let imported = import(text.as_bytes(), "t.swf", "t", &options).expect("valid test input");
        assert_eq!(imported.pools[0].allocatable.memory_bytes, 2 * MIB);
        assert!(imported.notes.iter().any(|note| note.contains("more memory per processor")));
    }

    #[test]
    fn missing_max_procs_is_an_error_unless_given() {
        let text = format!("; MaxNodes: 4\n{}", line(1, 0, 10, 4, 2));
        let error = import(text.as_bytes(), "t.swf", "t", &SwfOptions::default())
            .expect_err("invalid test input");
        assert!(error.to_string().contains("--processors 4"), "{error}");
        let options = SwfOptions { processors: Some(4), ..SwfOptions::default() };
        let imported = import(text.as_bytes(), "t.swf", "t", &options).expect("valid test input");
        assert_eq!(imported.pools[0].count, 4);
    }
}
