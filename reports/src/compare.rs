//! The report of `sparkq compare`: several runs of one workload side by side (policies, and
//! optionally the run where every job takes the legacy flow).

use std::fs;
use std::path::Path;

use serde::Serialize;
use sparkq_core::Priority;
use sparkq_sim::record::RunRecords;

use crate::ReportError;
use crate::doc::{Document, Table};
use crate::figures::compare_figures;
use crate::percentile::Distribution;
use crate::report::{GroupRead, WrittenReport, json_number, save_figure, write_documents};
use crate::stats::RunStats;
use crate::summary::{Summary, seconds};
use crate::timeline::TimeGrid;

#[derive(Serialize)]
struct LabelledSummary<'a> {
    label: &'a str,
    summary: &'a Summary,
}

/// Writes `report.md`, `report.html`, `summaries.json` (an array of `{label, summary}`) and
/// the overlaid charts under `charts/` into `dir`. Each run is `(label, records, summary)`,
/// labelled as the reader should see it (`strict`, `best-effort`, `legacy`, …).
pub fn write_compare_report(
    dir: &Path,
    scenario: &str,
    runs: &[(String, RunRecords, Summary)],
) -> Result<WrittenReport, ReportError> {
    if runs.is_empty() {
        return Err(ReportError::NoRuns { what: "compare needs at least one run" });
    }
    fs::create_dir_all(dir).map_err(ReportError::io(dir))?;
    let mut written = WrittenReport::default();

    let labelled: Vec<LabelledSummary<'_>> =
        runs.iter().map(|(label, _, summary)| LabelledSummary { label, summary }).collect();
    let json_path = dir.join("summaries.json");
    let mut json = serde_json::to_string_pretty(&labelled)
        .map_err(|source| ReportError::Json { path: json_path.clone(), source })?;
    json.push('\n');
    fs::write(&json_path, json).map_err(ReportError::io(&json_path))?;
    written.files.push(json_path);

    let mut doc = Document::new(format!("sparkq comparison: {scenario}"));
    let labels: Vec<&str> = runs.iter().map(|(label, _, _)| label.as_str()).collect();
    doc.paragraph(format!(
        "The same workload of scenario `{scenario}` in {} runs: {}.",
        runs.len(),
        runs.iter()
            .map(|(label, _, summary)| {
                format!("{label} (policy `{}`, seed {})", summary.policy, summary.seed)
            })
            .collect::<Vec<_>>()
            .join(", "),
    ));

    doc.heading("Results side by side");
    doc.paragraph(
        "Each column is one run; values in backticks are as in that run's `summary.json` \
         (waits in seconds from submission to admission, nearest-rank percentiles over admitted \
         jobs). Legacy jobs count as admitted at submission, so their waits are zero: the rows \
         marked (records) give the time from submission until driver and executors all ran, \
         over jobs that got that far, which is what a legacy job waits. `never_progressed` \
         counts legacy jobs whose driver ran while its executors never all did: the deadlock \
         the queue prevents.",
    );
    doc.table(comparison_table(runs));

    // One grid for every run, so their curves share the time axis.
    let end_ms = runs.iter().map(|(_, records, _)| records.end_ms).max().unwrap_or(0);
    let grid = TimeGrid::covering(end_ms);
    let stats: Vec<RunStats> =
        runs.iter().map(|(_, records, _)| RunStats::on_grid(records, grid)).collect();
    let pairs: Vec<(&str, &RunStats)> = labels.iter().copied().zip(stats.iter()).collect();

    doc.heading("Charts");
    for figure in compare_figures(&pairs) {
        let (block, chart) = save_figure(dir, &figure)?;
        doc.figure(block);
        written.charts.push(chart);
    }

    written.files.extend(write_documents(dir, &doc)?);
    Ok(written)
}

fn comparison_table(runs: &[(String, RunRecords, Summary)]) -> Table {
    let mut headers = vec!["metric"];
    headers.extend(runs.iter().map(|(label, _, _)| label.as_str()));
    let mut table = Table::new(&headers);

    let mut add = |name: String, value: &dyn Fn(&Summary) -> String| {
        let mut row = vec![name];
        row.extend(runs.iter().map(|(_, _, summary)| value(summary)));
        table.row(row);
    };

    add("`jobs`".into(), &|s| s.overall.jobs.to_string());
    // Every phase, in lifecycle order: a legacy job stuck with its driver up ends the run
    // `admitted`, and must show.
    for state in sparkq_core::Phase::ALL.map(sparkq_core::Phase::as_str) {
        add(format!("`states.{state}`"), &|s| {
            s.overall.states.get(state).copied().unwrap_or(0).to_string()
        });
    }
    add("`never_progressed`".into(), &|s| s.overall.never_progressed.to_string());

    let scopes: [(&str, Option<Priority>); 3] = [
        ("", None),
        ("by_priority.high.", Some(Priority::High)),
        ("by_priority.normal.", Some(Priority::Normal)),
    ];
    let stats: [(&str, GroupRead); 6] = [
        ("wait_seconds.mean", |g| g.wait_seconds.mean),
        ("wait_seconds.p50", |g| g.wait_seconds.p50),
        ("wait_seconds.p95", |g| g.wait_seconds.p95),
        ("wait_seconds.p99", |g| g.wait_seconds.p99),
        ("wait_seconds.max", |g| g.wait_seconds.max),
        ("bounded_slowdown_mean", |g| g.bounded_slowdown_mean),
    ];
    for (prefix, priority) in scopes {
        for (name, read) in stats {
            add(format!("`{prefix}{name}`"), &|s| json_number(read(s.group(priority))));
        }
    }

    add("`utilization.cpu`".into(), &|s| json_number(Some(s.utilization.cpu)));
    add("`utilization.memory`".into(), &|s| json_number(Some(s.utilization.memory)));
    add("`makespan_seconds`".into(), &|s| json_number(Some(s.makespan_seconds)));

    // Time to start comes from the records: for legacy runs, whose jobs are "admitted" at
    // submission, it is the wait that matters.
    for (_, priority) in scopes {
        let starts: Vec<Distribution> = runs
            .iter()
            .map(|(_, records, _)| {
                let waits = records
                    .jobs
                    .iter()
                    .filter(|job| priority.is_none_or(|priority| job.priority == priority))
                    .filter_map(|job| job.time_to_start_ms())
                    .collect();
                Distribution::from_unsorted(waits)
            })
            .collect();
        let group = priority.map_or("all jobs", Priority::as_str);
        for percent in [50, 95, 100] {
            let name = if percent == 100 { "max".to_owned() } else { format!("p{percent}") };
            let mut row = vec![format!("time to start (records), {group}, {name} (s)")];
            row.extend(
                starts.iter().map(|start| json_number(start.percentile_ms(percent).map(seconds))),
            );
            table.row(row);
        }
    }
    table
}
