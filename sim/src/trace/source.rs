//! A trace named by a scenario (`workload: trace:`), read lazily when a run starts.
//!
//! A planner says "this trace, on this cluster, with this policy" in one file: the scenario
//! gives the cluster and the policy, and names the trace instead of listing its jobs. The trace
//! is read through once when the scenario is loaded, so that a malformed line is reported then,
//! with its file and line; each run then reads it again, one job at a time, so memory does not
//! grow with the trace.

use std::fmt;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tracing::error;

use super::k8s::PodReader;
use super::swf::{PriorityRule, SwfReader};
use super::{Skipped, TraceError, open_text};
use crate::scenario::Arrival;

/// `workload: trace:` as the scenario file writes it: exactly one of `swf` and `k8s_pods`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceRef {
    /// An SWF log, plain or gzip. Relative paths start at the scenario file's folder.
    pub swf: Option<String>,
    /// A pod list in the layout of Alibaba's openb trace; the scenario's pools are the nodes.
    pub k8s_pods: Option<String>,
    /// For SWF logs: which jobs are high priority (`queue:N`, `user:N`, `size>=P`).
    pub priority_rule: Option<String>,
    /// Count malformed lines and go on, instead of refusing the trace.
    #[serde(default)]
    pub skip_bad_lines: bool,
}

/// The kinds of trace a scenario can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceKind {
    Swf,
    K8sPods,
}

/// A checked trace reference: the file exists and every line reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceSource {
    pub kind: TraceKind,
    pub path: PathBuf,
    pub priority_rule: PriorityRule,
    pub skip_bad_lines: bool,
    /// How many jobs the trace holds, and what it leaves out.
    pub jobs: u64,
    pub skipped: Skipped,
}

impl TraceSource {
    /// Checks a reference from the scenario `origin` (a file path, whose folder relative paths
    /// start from). The message of an error says what is wrong and what was expected.
    pub fn from_ref(raw: &TraceRef, origin: &str) -> Result<TraceSource, String> {
        let (kind, written) = match (&raw.swf, &raw.k8s_pods) {
            (Some(path), None) => (TraceKind::Swf, path),
            (None, Some(path)) => (TraceKind::K8sPods, path),
            _ => {
                return Err("expected exactly one of `swf: FILE` and `k8s_pods: FILE`".to_owned());
            }
        };
        let priority_rule = match (&raw.priority_rule, kind) {
            (Some(rule), TraceKind::Swf) => rule.parse()?,
            (Some(_), TraceKind::K8sPods) => {
                return Err("`priority_rule` applies to SWF logs only".to_owned());
            }
            (None, _) => PriorityRule::default(),
        };
        let path = Path::new(written);
        let path = if path.is_absolute() {
            path.to_path_buf()
        } else {
            Path::new(origin).parent().unwrap_or(Path::new("")).join(path)
        };
        let mut source = TraceSource {
            kind,
            path,
            priority_rule,
            skip_bad_lines: raw.skip_bad_lines,
            jobs: 0,
            skipped: Skipped::default(),
        };
        let (jobs, skipped) = source.read_through().map_err(|error| error.to_string())?;
        source.jobs = jobs;
        source.skipped = skipped;
        Ok(source)
    }

    /// Reads the whole trace once, counting jobs and skipped lines.
    fn read_through(&self) -> Result<(u64, Skipped), TraceError> {
        let mut jobs = self.open()?;
        let mut count = 0;
        for arrival in jobs.by_ref() {
            arrival?;
            count += 1;
        }
        Ok((count, jobs.skipped().clone()))
    }

    fn open(&self) -> Result<Jobs, TraceError> {
        let origin = self.path.display().to_string();
        let lines = open_text(&self.path)?;
        Ok(match self.kind {
            TraceKind::Swf => Jobs::Swf(SwfReader::new(
                lines,
                &origin,
                self.priority_rule.clone(),
                self.skip_bad_lines,
            )?),
            TraceKind::K8sPods => Jobs::Pods(PodReader::new(lines, &origin, self.skip_bad_lines)?),
        })
    }

    /// The trace's jobs in file order, read lazily. A file that changed since the scenario was
    /// loaded and no longer reads ends the jobs early, with an error in the log.
    pub fn arrivals(&self) -> TraceArrivals {
        match self.open() {
            Ok(jobs) => TraceArrivals { jobs: Some(jobs) },
            Err(problem) => {
                error!(%problem, "the trace no longer reads; it adds no jobs");
                TraceArrivals { jobs: None }
            }
        }
    }
}

/// An open trace of either kind.
enum Jobs {
    Swf(SwfReader<Box<dyn BufRead>>),
    Pods(PodReader<Box<dyn BufRead>>),
}

impl Jobs {
    fn skipped(&self) -> &Skipped {
        match self {
            Jobs::Swf(reader) => reader.skipped(),
            Jobs::Pods(reader) => reader.skipped(),
        }
    }
}

impl Iterator for Jobs {
    type Item = Result<Arrival, TraceError>;

    fn next(&mut self) -> Option<Result<Arrival, TraceError>> {
        match self {
            Jobs::Swf(reader) => reader.next(),
            Jobs::Pods(reader) => reader.next(),
        }
    }
}

/// The jobs of a [`TraceSource`], one at a time.
pub struct TraceArrivals {
    jobs: Option<Jobs>,
}

impl fmt::Debug for TraceArrivals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceArrivals").field("open", &self.jobs.is_some()).finish()
    }
}

impl Iterator for TraceArrivals {
    type Item = Arrival;

    fn next(&mut self) -> Option<Arrival> {
        match self.jobs.as_mut()?.next()? {
            Ok(arrival) => Some(arrival),
            Err(problem) => {
                error!(%problem, "the trace stopped reading; later jobs are left out");
                self.jobs = None;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sparkq-trace-source-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("valid test input");
        let path = dir.join(name);
        std::fs::write(&path, text).expect("valid test input");
        path
    }

    const LOG: &str = "; MaxProcs: 4\n\
                       1 0 -1 10 2 -1 -1 -1 -1 -1 1 1 1 -1 -1 -1 -1 -1\n\
                       2 3 -1 5 4 -1 -1 -1 -1 -1 1 1 1 -1 2 -1 -1 -1\n";

    #[test]
    fn a_named_trace_is_checked_once_and_read_lazily_each_run() {
        let path = write("two.swf", LOG);
        let raw = TraceRef {
            swf: Some("two.swf".into()),
            priority_rule: Some("queue:2".into()),
            ..TraceRef::default()
        };
        let origin = path.with_file_name("scenario.yaml").display().to_string();
        let source = TraceSource::from_ref(&raw, &origin).expect("valid test input");
        assert_eq!(source.jobs, 2);
        let jobs: Vec<Arrival> = source.arrivals().collect();
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[1].spec.priority, sparkq_core::Priority::High);
        assert_eq!(source.arrivals().count(), 2, "each run starts over");
    }

    #[test]
    fn a_bad_reference_says_what_was_expected() {
        let both =
            TraceRef { swf: Some("a".into()), k8s_pods: Some("b".into()), ..TraceRef::default() };
        assert!(
            TraceSource::from_ref(&both, "s.yaml")
                .expect_err("invalid test input")
                .contains("exactly one")
        );
        let missing = TraceRef { swf: Some("/no/such/file.swf".into()), ..TraceRef::default() };
        let message = TraceSource::from_ref(&missing, "s.yaml").expect_err("invalid test input");
        assert!(message.contains("/no/such/file.swf: cannot be read"), "{message}");
        let path = write("bad.swf", "; MaxProcs: 4\n1 0 -1 x 2\n");
        let bad = TraceRef { swf: Some(path.display().to_string()), ..TraceRef::default() };
        let message = TraceSource::from_ref(&bad, "s.yaml").expect_err("invalid test input");
        assert!(
            message.ends_with(
                ":2: too few fields: the line has 5 fields, expected 18 \
                                   whitespace-separated numbers (-1 for unknown)"
            ),
            "{message}"
        );
    }
}
