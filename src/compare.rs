//! `sparkq compare`: the same workload under several policies (and, with `--legacy`, with
//! every job in the legacy flow), side by side in one report.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use sparkq_core::Policy;
use sparkq_reports::Summary;
use sparkq_sim::engine::{RunOptions, simulate};
use sparkq_sim::record::RunRecords;

use crate::progress::Progress;
use crate::simulate::load_scenario;

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The scenario file (YAML). Without one, the embedded default scenario runs.
    pub scenario: Option<PathBuf>,

    /// The policies to compare, separated by commas.
    #[arg(long, value_delimiter = ',', default_value = "strict,weighted,best-effort,backfill")]
    pub policy: Vec<Policy>,

    /// Adds a run where every job takes the legacy flow, as if sparkq were not installed.
    #[arg(long)]
    pub legacy: bool,

    /// Replaces the scenario's seed.
    #[arg(long)]
    pub seed: Option<u64>,

    /// Where to write the report [default: out/<scenario name>-compare/].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(args: &CompareArgs) -> Result<()> {
    let mut scenario = load_scenario(args.scenario.as_deref())?;
    if let Some(seed) = args.seed {
        scenario.seed = seed;
    }
    let mut choices: Vec<(String, RunOptions)> = args
        .policy
        .iter()
        .map(|&policy| {
            (policy.to_string(), RunOptions { policy: Some(policy), ..RunOptions::default() })
        })
        .collect();
    if args.legacy {
        choices
            .push(("legacy".to_string(), RunOptions { all_legacy: true, ..RunOptions::default() }));
    }

    let progress = Progress::new(choices.len() as u64, "runs");
    let runs: Vec<(String, RunRecords, Summary)> = std::thread::scope(|scope| {
        let handles: Vec<_> = choices
            .iter()
            .map(|(label, options)| {
                let (scenario, progress) = (&scenario, &progress);
                scope.spawn(move || {
                    let (outcome, records) = simulate(scenario, options);
                    let summary =
                        Summary::from_records(&records, outcome.seed, label, &scenario.name);
                    progress.advance();
                    (label.clone(), records, summary)
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    progress.finish();

    let out = args
        .out
        .clone()
        .unwrap_or_else(|| crate::default_out_dir(&format!("{}-compare", scenario.name)));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    sparkq_reports::write_compare_report(&out, &scenario.name, &runs)
        .with_context(|| format!("writing the comparison into {}", out.display()))?;

    println!("scenario {} · seed {}", scenario.name, scenario.seed);
    println!(
        "  {:<12} {:>8} {:>10} {:>12} {:>12} {:>12} {:>10}",
        "run", "jobs", "succeeded", "high p95 s", "normal p95 s", "cpu util", "stuck"
    );
    for (label, _, summary) in &runs {
        let p95 = |s: &sparkq_reports::summary::GroupSummary| {
            s.wait_seconds.p95.map_or_else(|| "-".to_string(), |v| format!("{v:.0}"))
        };
        // Legacy jobs wait for nothing at admission, so their waits read 0: the jobs that
        // succeeded and those stuck with a driver up tell what the legacy flow cost.
        println!(
            "  {label:<12} {:>8} {:>10} {:>12} {:>12} {:>11.1}% {:>10}",
            summary.overall.jobs,
            summary.overall.states.get("succeeded").copied().unwrap_or(0),
            p95(&summary.by_priority.high),
            p95(&summary.by_priority.normal),
            summary.utilization.cpu * 100.0,
            summary.overall.never_progressed,
        );
    }
    println!("report in {}", out.join("report.html").display());
    Ok(())
}
