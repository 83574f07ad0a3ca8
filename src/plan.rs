//! `sparkq plan`: the smallest size of one node pool that meets every service-level objective
//! over several seeds, found by a k-ary search (bisection when the cores are busy with seeds),
//! with the curve it measured on the way.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result, bail};
use clap::Args;
use sparkq_reports::{PlanInput, PlanRun, Slo, Summary};
use sparkq_sim::engine::{RunOptions, simulate};
use sparkq_sim::scenario::{MAX_POOL_NODES, Scenario};

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
    if max > MAX_POOL_NODES {
        bail!("`{text}`: the maximum {max} is above the {MAX_POOL_NODES} nodes a pool may have");
    }
    Ok((pool.trim().to_string(), min, max))
}

/// Runs every (size, seed) pair, on as many threads as there are cores: each thread takes the
/// next pair until none is left. The runs come back in the order of `pairs`.
fn runs_of(scenario: &Scenario, pool: usize, pairs: &[(u32, u64)]) -> Vec<PlanRun> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(pairs.len());
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, PlanRun)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let next = &next;
                scope.spawn(move || {
                    let mut mine = Vec::new();
                    loop {
                        let at = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&(nodes, seed)) = pairs.get(at) else { break mine };
                        mine.push((at, run_once(scenario, pool, nodes, seed)));
                    }
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).flatten().collect()
    });
    done.sort_by_key(|(at, _)| *at);
    done.into_iter().map(|(_, run)| run).collect()
}

fn run_once(scenario: &Scenario, pool: usize, nodes: u32, seed: u64) -> PlanRun {
    let mut sized = scenario.clone();
    sized.pools[pool].count = nodes;
    let options = RunOptions { seed: Some(seed), ..RunOptions::default() };
    let (outcome, records) = simulate(&sized, &options);
    let summary =
        Summary::from_records(&records, outcome.seed, outcome.policy.as_str(), &sized.name);
    PlanRun { nodes, seed, summary }
}

/// The sizes to measure next when every size below `low` fails and `high` meets: `k` sizes
/// that cut `[low, high)` into `k + 1` near-equal parts (fewer when the range is shorter).
/// With `k = 1` this is bisection.
fn probes(low: u32, high: u32, k: u32) -> Vec<u32> {
    let span = u64::from(high - low);
    let k = u64::from(k).min(span);
    let mut sizes: Vec<u32> =
        (1..=k).map(|i| low + u32::try_from(span * i / (k + 1)).unwrap_or(0)).collect();
    sizes.dedup();
    sizes
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

    // A k-ary search over sizes, assuming more nodes never make an objective worse. Each
    // step measures k sizes at once, k chosen so that every core has a run to make (at most
    // 3, so that the search stays a search on machines with many cores).
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    let k = (cores / args.seeds).clamp(1, 3);
    let steps = f64::from(max - min + 1).log(f64::from(k + 1)).ceil() as u64 + 1;
    let progress = Progress::new(steps, "steps");
    let mut measured: BTreeMap<u32, (bool, Vec<PlanRun>)> = BTreeMap::new();
    let measure = |sizes: &[u32], measured: &mut BTreeMap<u32, (bool, Vec<PlanRun>)>| {
        let pairs: Vec<(u32, u64)> =
            sizes.iter().flat_map(|&n| seeds.iter().map(move |&s| (n, s))).collect();
        for (chunk, &nodes) in runs_of(&scenario, pool, &pairs).chunks(seeds.len()).zip(sizes) {
            let met = chunk.iter().all(|run| args.slos.iter().all(|slo| slo.is_met(&run.summary)));
            measured.insert(nodes, (met, chunk.to_vec()));
        }
        progress.advance();
    };
    measure(&[max], &mut measured);
    let answer = if measured[&max].0 {
        // Every size below `low` fails; `high` meets.
        let (mut low, mut high) = (min, max);
        while low < high {
            let sizes = probes(low, high, k);
            measure(&sizes, &mut measured);
            for &nodes in &sizes {
                if measured[&nodes].0 {
                    high = high.min(nodes);
                } else if nodes < high {
                    low = low.max(nodes + 1);
                }
            }
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

#[cfg(test)]
mod tests {
    use super::probes;

    #[test]
    fn vary_reads_pool_and_range_within_what_a_pool_may_have() {
        assert_eq!(super::parse_vary("general=4..40").ok(), Some(("general".into(), 4, 40)));
        for bad in ["general", "general=4", "general=9..4", "general=1..100001", "g=a..4"] {
            assert!(super::parse_vary(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn probes_cut_the_open_range_into_near_equal_parts() {
        // Bisection: the lower middle of [1, 12).
        assert_eq!(probes(1, 12, 1), [6]);
        // Three probes over 11 sizes: 1 + 11·i/4 for i = 1, 2, 3.
        assert_eq!(probes(1, 12, 3), [3, 6, 9]);
        // Never more probes than sizes left, never `high` itself.
        assert_eq!(probes(4, 6, 3), [4, 5]);
        assert_eq!(probes(5, 6, 2), [5]);
    }
}
