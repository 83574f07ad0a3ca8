//! `sparkq plan`: the smallest size of one node pool that meets every service-level objective
//! over several seeds, found by bisection, with the curve it measured on the way.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use sparkq_reports::{PlanInput, PlanRun, Slo, Summary};
use sparkq_sim::engine::{RunOptions, simulate};
use sparkq_sim::scenario::Scenario;

use crate::progress::Progress;
use crate::simulate::load_scenario;

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The scenario file (YAML). Without one, the embedded default scenario runs.
    pub scenario: Option<PathBuf>,

    /// An objective every run must meet, e.g. "high.p95_wait <= 10m". Repeat for several.
    #[arg(long = "slo", required = true)]
    pub slos: Vec<Slo>,

    /// The pool to size and the range to search, e.g. "general=4..40".
    #[arg(long)]
    pub vary: String,

    /// How many seeds each size runs with (the scenario's seed and the ones after it).
    #[arg(long, default_value_t = 3)]
    pub seeds: u32,

    /// Where to write the report [default: out/<scenario name>-plan/].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `POOL=MIN..MAX`.
fn parse_vary(text: &str) -> Result<(String, u32, u32)> {
    let (pool, range) =
        text.split_once('=').with_context(|| format!("`{text}`: expected POOL=MIN..MAX"))?;
    let (min, max) =
        range.split_once("..").with_context(|| format!("`{text}`: expected POOL=MIN..MAX"))?;
    let min: u32 = min.trim().parse().with_context(|| format!("`{min}` is not a node count"))?;
    let max: u32 = max.trim().parse().with_context(|| format!("`{max}` is not a node count"))?;
    if min > max {
        bail!("`{text}`: the minimum {min} is above the maximum {max}");
    }
    Ok((pool.trim().to_string(), min, max))
}

/// Runs every seed at one pool size, on as many threads as there are cores.
fn runs_at(scenario: &Scenario, pool: usize, nodes: u32, seeds: &[u64]) -> Vec<PlanRun> {
    let mut sized = scenario.clone();
    sized.pools[pool].count = nodes;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut runs = Vec::with_capacity(seeds.len());
    for chunk in seeds.chunks(threads) {
        let done: Vec<PlanRun> = std::thread::scope(|scope| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|&seed| {
                    let sized = &sized;
                    scope.spawn(move || {
                        let options = RunOptions { seed: Some(seed), ..RunOptions::default() };
                        let (outcome, records) = simulate(sized, &options);
                        let summary = Summary::from_records(
                            &records,
                            outcome.seed,
                            outcome.policy.as_str(),
                            &sized.name,
                        );
                        PlanRun { nodes, seed, summary }
                    })
                })
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        runs.extend(done);
    }
    runs
}

pub fn run(args: &PlanArgs) -> Result<()> {
    let scenario = load_scenario(args.scenario.as_deref())?;
    let (pool_name, min, max) = parse_vary(&args.vary)?;
    let Some(pool) = scenario.pools.iter().position(|p| p.name.as_ref() == pool_name) else {
        let known: Vec<&str> = scenario.pools.iter().map(|p| p.name.as_ref()).collect();
        bail!("no pool `{pool_name}` in scenario {}: it has {}", scenario.name, known.join(", "));
    };
    if args.seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    let seeds: Vec<u64> = (0..u64::from(args.seeds)).map(|i| scenario.seed + i).collect();

    // Bisection over sizes, assuming more nodes never make an objective worse.
    let probes = u64::from(32 - (max - min + 1).leading_zeros()) + 1;
    let progress = Progress::new(probes, "sizes");
    let mut measured: BTreeMap<u32, (bool, Vec<PlanRun>)> = BTreeMap::new();
    let meets = |nodes: u32, measured: &mut BTreeMap<u32, (bool, Vec<PlanRun>)>| {
        if let Some((met, _)) = measured.get(&nodes) {
            return *met;
        }
        let runs = runs_at(&scenario, pool, nodes, &seeds);
        let met = runs.iter().all(|run| args.slos.iter().all(|slo| slo.is_met(&run.summary)));
        progress.advance();
        measured.insert(nodes, (met, runs));
        met
    };
    let answer = if meets(max, &mut measured) {
        let (mut low, mut high) = (min, max);
        while low < high {
            let mid = low + (high - low) / 2;
            if meets(mid, &mut measured) { high = mid } else { low = mid + 1 }
        }
        Some(low)
    } else {
        None
    };
    progress.finish();

    let runs: Vec<PlanRun> = measured.into_values().flat_map(|(_, runs)| runs).collect();
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| crate::default_out_dir(&format!("{}-plan", scenario.name)));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let input = PlanInput {
        scenario: &scenario.name,
        pool: &pool_name,
        slos: &args.slos,
        runs: &runs,
        answer,
    };
    sparkq_reports::write_plan_report(&out, &input)
        .with_context(|| format!("writing the plan into {}", out.display()))?;

    let objectives: Vec<String> = args.slos.iter().map(ToString::to_string).collect();
    match answer {
        Some(nodes) => println!(
            "{nodes} nodes in pool {pool_name} meet {} over {} seeds",
            objectives.join(" and "),
            seeds.len()
        ),
        None => println!(
            "even {max} nodes in pool {pool_name} do not meet {} over {} seeds",
            objectives.join(" and "),
            seeds.len()
        ),
    }
    println!("report in {}", out.join("report.html").display());
    Ok(())
}
