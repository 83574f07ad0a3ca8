//! `sparkq simulate`: one run of one scenario, and the files a planner reads.

use std::fs;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use sparkq_core::{Phase, Policy, Priority};
use sparkq_reports::Summary;
use sparkq_sim::engine::{self, Observer, RunOptions, RunOutcome, simulate};
use sparkq_sim::record::{BlockedInterval, CapacitySample, JobRecord, RunRecords};
use sparkq_sim::scenario::Scenario;

use crate::progress::Progress;

/// The scenario run when none is named, compiled into the binary.
pub const DEFAULT_SCENARIO: &str = include_str!("../scenarios/default.yaml");

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The scenario file (YAML). Without one, the embedded default scenario runs.
    pub scenario: Option<PathBuf>,

    /// Replaces the scenario's seed.
    #[arg(long)]
    pub seed: Option<u64>,

    /// Replaces the scenario's policy: strict, weighted, best-effort or backfill.
    #[arg(long)]
    pub policy: Option<Policy>,

    /// Where to write the results [default: out/<scenario name>/].
    #[arg(long)]
    pub out: Option<PathBuf>,

    /// Also write the run's metrics as OpenMetrics samples with timestamps, for
    /// `promtool tsdb create-blocks-from openmetrics`.
    #[arg(long, value_name = "FILE")]
    pub metrics_out: Option<PathBuf>,

    /// The wall-clock time of the run's time 0 in `--metrics-out`: Unix seconds or RFC 3339.
    #[arg(long, value_name = "TIME", default_value = "2026-01-01T00:00:00Z")]
    pub metrics_start: String,

    /// The distance between two samples in `--metrics-out`, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 15)]
    pub metrics_step: u64,
}

/// Reads the named scenario, or the embedded default one.
pub fn load_scenario(path: Option<&Path>) -> Result<Scenario> {
    let scenario = match path {
        Some(path) => Scenario::from_file(path)?,
        None => Scenario::from_yaml(DEFAULT_SCENARIO, "scenarios/default.yaml (embedded)")?,
    };
    Ok(scenario)
}

pub fn run(args: &SimulateArgs) -> Result<()> {
    let mut scenario = load_scenario(args.scenario.as_deref())?;
    if let Some(seed) = args.seed {
        scenario.seed = seed;
    }
    let options = RunOptions { policy: args.policy, ..RunOptions::default() };
    let (outcome, records) = simulate_with_progress(&scenario, &options);
    let summary =
        Summary::from_records(&records, outcome.seed, outcome.policy.as_str(), &scenario.name);

    let out = args.out.clone().unwrap_or_else(|| crate::default_out_dir(&scenario.name));
    write_run(&out, &scenario, &records, &summary)?;
    if let Some(path) = &args.metrics_out {
        let timeline = crate::metrics_out::Timeline {
            start_unix_ms: crate::metrics_out::parse_start(&args.metrics_start)?
                .saturating_mul(1000),
            step_ms: args.metrics_step.saturating_mul(1000),
        };
        crate::metrics_out::write(path, &records, timeline)?;
    }
    print_summary(&out, &scenario, &summary, &records);
    Ok(())
}

/// Simulates with a progress bar of finished jobs on stderr, when stderr is a terminal (the
/// jobs are counted first, which costs a pass over the arrivals, only then).
fn simulate_with_progress(scenario: &Scenario, options: &RunOptions) -> (RunOutcome, RunRecords) {
    if !std::io::stderr().is_terminal() {
        return simulate(scenario, options);
    }
    let progress = Progress::new(scenario.arrivals().count() as u64, "jobs");
    let mut observer = Tracked { records: RunRecords::default(), progress: &progress };
    let outcome = engine::run(scenario, options, &mut observer);
    progress.finish();
    let mut records = observer.records;
    records.jobs.sort_by_key(|job| job.id);
    records.end_ms = outcome.end_ms;
    (outcome, records)
}

/// Keeps every record, and counts finished jobs on the progress bar.
struct Tracked<'a> {
    records: RunRecords,
    progress: &'a Progress,
}

impl Observer for Tracked<'_> {
    fn job(&mut self, record: JobRecord) {
        self.records.job(record);
        self.progress.advance();
    }

    fn blocked(&mut self, interval: BlockedInterval) {
        self.records.blocked(interval);
    }

    fn capacity(&mut self, sample: CapacitySample) {
        self.records.capacity(sample);
    }
}

/// Writes a run's files: `jobs.csv`, `summary.json`, `report.md`, `report.html` and their
/// charts, and the scenario and seed it ran with.
pub fn write_run(
    out: &Path,
    scenario: &Scenario,
    records: &RunRecords,
    summary: &Summary,
) -> Result<()> {
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    sparkq_reports::write_run_report(out, records, summary, &scenario.source)
        .with_context(|| format!("writing the report into {}", out.display()))?;
    write_file(&out.join("scenario.yaml"), &scenario.source)?;
    let run = serde_json::json!({
        "scenario": scenario.name,
        "seed": summary.seed,
        "policy": summary.policy,
        "sparkq_version": env!("CARGO_PKG_VERSION"),
    });
    write_file(&out.join("run.json"), &format!("{}\n", serde_json::to_string_pretty(&run)?))?;
    Ok(())
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn print_summary(out: &Path, scenario: &Scenario, summary: &Summary, records: &RunRecords) {
    println!(
        "scenario {} · policy {} · seed {} · {} jobs · makespan {:.1} h",
        scenario.name,
        summary.policy,
        summary.seed,
        records.jobs.len(),
        summary.makespan_seconds / 3600.0
    );
    for priority in [None, Some(Priority::High), Some(Priority::Normal)] {
        let group = summary.group(priority);
        let label = priority.map_or("all", Priority::as_str);
        let done = group.states.get(Phase::Succeeded.as_str()).copied().unwrap_or(0);
        let wait = &group.wait_seconds;
        println!(
            "  {label:<6} {:>6} jobs  {done:>6} succeeded  wait p50 {:>7} s  p95 {:>7} s  max {:>7} s",
            group.jobs,
            seconds(wait.p50),
            seconds(wait.p95),
            seconds(wait.max)
        );
    }
    println!(
        "  utilisation cpu {:.1}% memory {:.1}%",
        summary.utilization.cpu * 100.0,
        summary.utilization.memory * 100.0
    );
    let stuck = records.jobs.iter().filter(|j| j.never_progressed).count();
    if stuck > 0 {
        println!("  {stuck} legacy jobs started a driver but never got all their executors");
    }
    println!("results in {}", out.display());
}

fn seconds(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), |s| format!("{s:.0}"))
}
