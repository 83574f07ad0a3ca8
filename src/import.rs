//! `sparkq import`: real workloads and real clusters in, as scenario files.
//!
//! Each source is read by `sparkq_sim::trace`; this command only opens the files, reports what
//! was skipped and why, and writes the scenario on stdout or to `--out`.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use sparkq_core::Policy;
use sparkq_core::quantity::parse_bytes;
use sparkq_sim::trace::source::TraceRef;
use sparkq_sim::trace::swf::{PriorityRule, SwfOptions};
use sparkq_sim::trace::{self, Imported};

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub source: Source,
}

#[derive(Debug, Subcommand)]
pub enum Source {
    /// A Standard Workload Format log (plain or gzip): P processors become P one-core pods.
    Swf(SwfArgs),
    /// A pod-level Kubernetes trace (node list and pod list, as Alibaba's openb trace).
    #[command(name = "k8s-trace")]
    K8sTrace(K8sTraceArgs),
    /// A real cluster: `kubectl get nodes -o json`, optionally `kubectl get pods -A -o json`.
    Cluster(ClusterArgs),
}

/// Traces longer than this are named by the scenario rather than listed in it: a scenario
/// file of tens of thousands of jobs is slow to read and past the YAML reader's limits.
pub const INLINE_JOBS_MAX: usize = 5_000;

/// Options every import shares.
#[derive(Debug, Args)]
pub struct Output {
    /// Where to write the scenario [default: stdout].
    #[arg(long)]
    pub out: Option<PathBuf>,

    /// Name the trace in the scenario (`workload: trace:`) instead of listing its jobs; the
    /// default for traces of more than 5,000 jobs.
    #[arg(long, conflicts_with = "inline")]
    pub link: bool,

    /// List every job in the scenario, however many.
    #[arg(long)]
    pub inline: bool,

    /// The policy the scenario names: strict, weighted, best-effort or backfill.
    #[arg(long, default_value = "strict")]
    pub policy: Policy,
}

#[derive(Debug, Args)]
pub struct SwfArgs {
    /// The SWF log, plain or gzip.
    pub trace: PathBuf,

    /// Cores (processors) per node.
    #[arg(long, default_value_t = 1)]
    pub node_cores: u32,

    /// Memory per node, as a Kubernetes quantity (64Gi) [default: enough for the largest job].
    #[arg(long)]
    pub node_memory: Option<String>,

    /// The cluster's processors [default: the header's MaxProcs].
    #[arg(long)]
    pub processors: Option<u64>,

    /// Which jobs are high priority: `normal` (none), or terms joined by `,`, any of which
    /// makes a job high: `queue:N`, `user:N`, `size>=P`.
    #[arg(long, default_value = "normal")]
    pub priority_rule: String,

    /// Count malformed lines and go on, instead of stopping at the first.
    #[arg(long)]
    pub skip_bad_lines: bool,

    #[command(flatten)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct K8sTraceArgs {
    /// The node list (CSV: sn, cpu_milli, memory_mib, gpu, model).
    pub nodes: PathBuf,

    /// The pod list (CSV: name, cpu_milli, memory_mib, num_gpu, gpu_milli, creation_time,
    /// deletion_time, scheduled_time).
    pub pods: PathBuf,

    /// Count malformed rows and go on, instead of stopping at the first.
    #[arg(long)]
    pub skip_bad_lines: bool,

    #[command(flatten)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// The output of `kubectl get nodes -o json`.
    pub nodes: PathBuf,

    /// The output of `kubectl get pods -A -o json`: running pods become background load.
    pub pods: Option<PathBuf>,

    #[command(flatten)]
    pub output: Output,
}

pub fn run(args: &ImportArgs) -> Result<()> {
    match &args.source {
        Source::Swf(args) => {
            let imported = import_swf(args)?;
            let link = TraceRef {
                swf: Some(absolute(&args.trace)?),
                priority_rule: Some(args.priority_rule.clone()).filter(|rule| rule != "normal"),
                skip_bad_lines: args.skip_bad_lines,
                ..TraceRef::default()
            };
            finish(&imported, &args.output, Some(&link))
        }
        Source::K8sTrace(args) => {
            let nodes = trace::open_text(&args.nodes)?;
            let pods = trace::open_text(&args.pods)?;
            let imported = trace::k8s::import(
                nodes,
                &args.nodes.display().to_string(),
                pods,
                &args.pods.display().to_string(),
                &trace::scenario_name(&args.pods, "k8s-trace"),
                args.skip_bad_lines,
            )?;
            let link = TraceRef {
                k8s_pods: Some(absolute(&args.pods)?),
                skip_bad_lines: args.skip_bad_lines,
                ..TraceRef::default()
            };
            finish(&imported, &args.output, Some(&link))
        }
        Source::Cluster(args) => {
            let nodes = trace::read_text(&args.nodes)?;
            let pods = match &args.pods {
                Some(path) => Some((trace::read_text(path)?, path.display().to_string())),
                None => None,
            };
            let imported = trace::cluster::import(
                &nodes,
                &args.nodes.display().to_string(),
                pods.as_ref().map(|(text, origin)| (text.as_str(), origin.as_str())),
                &trace::scenario_name(&args.nodes, "cluster"),
            )?;
            finish(&imported, &args.output, None)
        }
    }
}

fn import_swf(args: &SwfArgs) -> Result<Imported> {
    let priority_rule: PriorityRule = args
        .priority_rule
        .parse()
        .map_err(|problem: String| anyhow::anyhow!("--priority-rule: {problem}"))?;
    let node_memory_bytes = match &args.node_memory {
        Some(text) => Some(parse_bytes(text).with_context(|| format!("--node-memory {text}"))?),
        None => None,
    };
    let options = SwfOptions {
        processors: args.processors,
        node_cores: args.node_cores,
        node_memory_bytes,
        priority_rule,
        skip_bad_lines: args.skip_bad_lines,
    };
    let lines = trace::open_text(&args.trace)?;
    let imported = trace::swf::import(
        lines,
        &args.trace.display().to_string(),
        &trace::scenario_name(&args.trace, "swf"),
        &options,
    )?;
    Ok(imported)
}

/// The path as an absolute one, so that the scenario finds the trace wherever it is written.
fn absolute(path: &Path) -> Result<String> {
    let absolute = std::path::absolute(path)
        .with_context(|| format!("finding the absolute path of {}", path.display()))?;
    Ok(absolute.display().to_string())
}

/// Reports what was imported and skipped on stderr, and writes the scenario: listing the jobs,
/// or naming the trace (`link`) when asked or when the trace is long.
fn finish(imported: &Imported, output: &Output, link: Option<&TraceRef>) -> Result<()> {
    let long = imported.jobs.len() > INLINE_JOBS_MAX && !output.inline;
    let text = match link {
        Some(link) if output.link || long => {
            if long && !output.link {
                eprintln!(
                    "{} jobs: the scenario names the trace instead of listing them (--inline \
                     lists them)",
                    imported.jobs.len()
                );
            }
            imported.to_yaml_linked(output.policy, link)
        }
        _ => imported.to_yaml(output.policy),
    };
    eprintln!("imported {}", imported.description);
    eprintln!("{}", imported.skipped);
    for note in &imported.notes {
        eprintln!("note: {note}");
    }
    match &output.out {
        Some(path) => write_file(path, &text)?,
        None => io::stdout().lock().write_all(text.as_bytes()).context("writing to stdout")?,
    }
    Ok(())
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("scenario written to {}", path.display());
    Ok(())
}
