//! The report of `sparkq plan`: how each SLO metric changes with the size of one node pool,
//! with the spread over seeds, and the smallest size that meets every SLO.
//!
//! The search itself (which sizes to try) belongs to the command; this module takes the runs
//! it made and turns them into a curve, a table, a chart per SLO and `plan.json`.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde::Serialize;

use crate::ReportError;
use crate::doc::{Document, Table};
use crate::figures::{CurvePoint, TimeUnit, plan_figure};
use crate::report::{WrittenReport, json_number, save_figure, write_documents};
use crate::slo::Slo;
use crate::summary::Summary;

/// One run made while planning: the pool's node count, the seed and the run's summary.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanRun {
    pub nodes: u32,
    pub seed: u64,
    pub summary: Summary,
}

/// Everything the plan report needs.
#[derive(Clone, Copy, Debug)]
pub struct PlanInput<'a> {
    pub scenario: &'a str,
    /// The node pool whose size was varied.
    pub pool: &'a str,
    pub slos: &'a [Slo],
    pub runs: &'a [PlanRun],
    /// The smallest node count meeting every SLO for every seed, if the search found one.
    pub answer: Option<u32>,
}

/// One SLO at one node count, over the seeds run there.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SloAtSize {
    pub slo: String,
    /// The metric per seed, in seed order (`null` when the run had no value).
    pub values: Vec<Option<f64>>,
    pub min: Option<f64>,
    pub median: Option<f64>,
    pub max: Option<f64>,
    /// True when every seed met the SLO.
    pub met: bool,
}

/// Every SLO at one node count.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlanPoint {
    pub nodes: u32,
    pub seeds: Vec<u64>,
    pub slos: Vec<SloAtSize>,
    pub all_met: bool,
}

#[derive(Serialize)]
struct PlanFile<'a> {
    scenario: &'a str,
    pool: &'a str,
    slos: Vec<String>,
    answer: Option<u32>,
    points: &'a [PlanPoint],
}

/// Groups the runs by node count (ascending) and measures every SLO over each group's seeds.
pub fn plan_points(slos: &[Slo], runs: &[PlanRun]) -> Vec<PlanPoint> {
    let mut by_size: BTreeMap<u32, Vec<&PlanRun>> = BTreeMap::new();
    for run in runs {
        by_size.entry(run.nodes).or_default().push(run);
    }
    by_size
        .into_iter()
        .map(|(nodes, mut runs)| {
            runs.sort_by_key(|run| run.seed);
            let slos: Vec<SloAtSize> = slos
                .iter()
                .map(|slo| {
                    let values: Vec<Option<f64>> =
                        runs.iter().map(|run| slo.measure(&run.summary)).collect();
                    let mut known: Vec<f64> = values.iter().flatten().copied().collect();
                    known.sort_by(f64::total_cmp);
                    // The lower median: the nearest-rank 50th percentile, as for waits.
                    let median = known.len().checked_sub(1).map(|last| known[last / 2]);
                    SloAtSize {
                        slo: slo.to_string(),
                        min: known.first().copied(),
                        median,
                        max: known.last().copied(),
                        met: runs.iter().all(|run| slo.is_met(&run.summary)),
                        values,
                    }
                })
                .collect();
            PlanPoint {
                nodes,
                seeds: runs.iter().map(|run| run.seed).collect(),
                all_met: slos.iter().all(|slo| slo.met),
                slos,
            }
        })
        .collect()
}

/// Writes `report.md`, `report.html`, `plan.json` and one chart per SLO into `dir`.
pub fn write_plan_report(dir: &Path, input: &PlanInput<'_>) -> Result<WrittenReport, ReportError> {
    if input.runs.is_empty() {
        return Err(ReportError::NoRuns { what: "plan needs at least one run" });
    }
    fs::create_dir_all(dir).map_err(ReportError::io(dir))?;
    let mut written = WrittenReport::default();
    let points = plan_points(input.slos, input.runs);

    let json_path = dir.join("plan.json");
    let file = PlanFile {
        scenario: input.scenario,
        pool: input.pool,
        slos: input.slos.iter().map(Slo::to_string).collect(),
        answer: input.answer,
        points: &points,
    };
    let mut json = serde_json::to_string_pretty(&file)
        .map_err(|source| ReportError::Json { path: json_path.clone(), source })?;
    json.push('\n');
    fs::write(&json_path, json).map_err(ReportError::io(&json_path))?;
    written.files.push(json_path);

    let mut doc = Document::new(format!("sparkq capacity plan: {}", input.scenario));
    let slo_list: Vec<String> = input.slos.iter().map(|slo| format!("`{slo}`")).collect();
    doc.paragraph(format!(
        "Scenario `{}`, varying the node count of pool `{}`; objectives: {}.",
        input.scenario,
        input.pool,
        slo_list.join(", ")
    ));
    doc.paragraph(match input.answer {
        Some(nodes) => format!(
            "Answer: {nodes} nodes in pool `{}` is the smallest size tried that meets every \
             objective for every seed.",
            input.pool
        ),
        None => format!(
            "No size tried met every objective for every seed; try a larger range for pool `{}`.",
            input.pool
        ),
    });

    doc.heading("Measured curve");
    doc.paragraph(
        "One row per node count tried. For each objective: the metric's lowest, median and \
         highest value over the seeds (waits in seconds), and whether every seed met it.",
    );
    doc.table(plan_table(input.slos, &points));

    doc.heading("Charts");
    for (index, slo) in input.slos.iter().enumerate() {
        let curve: Vec<CurvePoint> = points
            .iter()
            .filter_map(|point| {
                let at = point.slos.get(index)?;
                Some(CurvePoint {
                    nodes: point.nodes,
                    low: at.min?,
                    middle: at.median?,
                    high: at.max?,
                })
            })
            .collect();
        let unit = slo.metric.is_wait().then(|| {
            let largest = curve.iter().map(|point| point.high).fold(slo.threshold, f64::max);
            TimeUnit::for_span((largest * 1000.0) as u64)
        });
        let figure = plan_figure(
            format!("plan_{}", index + 1),
            &slo.to_string(),
            &slo.target(),
            input.pool,
            &curve,
            slo.threshold,
            unit,
        );
        let (block, chart) = save_figure(dir, &figure)?;
        doc.figure(block);
        written.charts.push(chart);
    }

    written.files.extend(write_documents(dir, &doc)?);
    Ok(written)
}

fn plan_table(slos: &[Slo], points: &[PlanPoint]) -> Table {
    let mut headers = vec!["nodes".to_owned(), "seeds".to_owned()];
    for slo in slos {
        headers.push(format!("{} min / median / max", slo.target()));
        headers.push(format!("{} met", slo.target()));
    }
    headers.push("all met".to_owned());
    let header_refs: Vec<&str> = headers.iter().map(String::as_str).collect();
    let mut table = Table::new(&header_refs);

    for point in points {
        let mut row = vec![point.nodes.to_string(), point.seeds.len().to_string()];
        for at in &point.slos {
            row.push(format!(
                "{} / {} / {}",
                json_number(at.min),
                json_number(at.median),
                json_number(at.max)
            ));
            row.push(yes_no(at.met));
        }
        row.push(yes_no(point.all_met));
        table.row(row);
    }
    table
}

fn yes_no(value: bool) -> String {
    if value { "yes".into() } else { "no".into() }
}
