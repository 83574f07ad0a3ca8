//! Writing one run's files: `jobs.csv`, `summary.json`, `report.md`, `report.html` and the
//! charts under `charts/`.

use std::fs;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use sparkq_charts::ChartSize;
use sparkq_core::Priority;
use sparkq_sim::record::RunRecords;

use crate::ReportError;
use crate::csv::write_jobs_csv;
use crate::doc::{Document, FigureBlock, Table};
use crate::figures::{Figure, run_figures};
use crate::stats::RunStats;
use crate::summary::{GroupSummary, Summary, WaitSeconds, seconds, wait_seconds};

/// The folder, beside the report, that holds its charts.
pub const CHARTS_DIR: &str = "charts";

/// What a writer produced, so callers (and tests) can check every file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WrittenReport {
    pub files: Vec<PathBuf>,
    pub charts: Vec<WrittenChart>,
}

/// One chart saved in both formats.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrittenChart {
    pub title: String,
    pub png: PathBuf,
    pub svg: PathBuf,
    pub width: u32,
    pub height: u32,
}

/// Writes every file of a run report into `dir` (created if missing): `jobs.csv`,
/// `summary.json`, `report.md`, `report.html` and `charts/*.png|svg`. `scenario` is the YAML
/// the run came from; the report ends with it, so the page alone says what was run.
pub fn write_run_report(
    dir: &Path,
    records: &RunRecords,
    summary: &Summary,
    scenario: &str,
) -> Result<WrittenReport, ReportError> {
    fs::create_dir_all(dir).map_err(ReportError::io(dir))?;
    let mut written = WrittenReport::default();

    written.files.push(write_jobs_csv_file(&dir.join("jobs.csv"), records)?);
    written.files.push(write_summary_json(&dir.join("summary.json"), summary)?);

    let stats = RunStats::new(records);
    let mut doc = Document::new(format!("sparkq run report: {}", summary.scenario));
    run_header(&mut doc, records, summary);
    summary_section(&mut doc, summary);
    namespace_waits_section(&mut doc, &stats);
    doc.heading("Charts");
    for figure in run_figures(&stats) {
        let (block, chart) = save_figure(dir, &figure)?;
        doc.figure(block);
        written.charts.push(chart);
    }
    usage_section(&mut doc, &stats);
    blocking_section(&mut doc, &stats);
    problems_section(&mut doc, &stats);
    doc.heading("Scenario");
    doc.paragraph(format!(
        "The scenario as it was read (also saved as `scenario.yaml`), run with seed {} and \
         policy `{}`, which may replace the ones written in it.",
        summary.seed, summary.policy
    ));
    doc.listing("yaml", scenario);

    written.files.extend(write_documents(dir, &doc)?);
    Ok(written)
}

/// Writes `jobs.csv` alone.
pub fn write_jobs_csv_file(path: &Path, records: &RunRecords) -> Result<PathBuf, ReportError> {
    let file = fs::File::create(path).map_err(ReportError::io(path))?;
    write_jobs_csv(records, &mut BufWriter::new(file)).map_err(ReportError::io(path))?;
    Ok(path.to_path_buf())
}

/// Writes `summary.json` alone: pretty-printed, keys in a fixed order.
pub fn write_summary_json(path: &Path, summary: &Summary) -> Result<PathBuf, ReportError> {
    let mut text = serde_json::to_string_pretty(summary)
        .map_err(|source| ReportError::Json { path: path.to_path_buf(), source })?;
    text.push('\n');
    fs::write(path, text).map_err(ReportError::io(path))?;
    Ok(path.to_path_buf())
}

/// Writes `report.md` and `report.html` from one document.
pub(crate) fn write_documents(dir: &Path, doc: &Document) -> Result<Vec<PathBuf>, ReportError> {
    let markdown = dir.join("report.md");
    fs::write(&markdown, doc.to_markdown()).map_err(ReportError::io(&markdown))?;
    let html = dir.join("report.html");
    fs::write(&html, doc.to_html()).map_err(ReportError::io(&html))?;
    Ok(vec![markdown, html])
}

/// Renders a figure to `charts/<stem>.png` and `.svg` under `dir`.
pub(crate) fn save_figure(
    dir: &Path,
    figure: &Figure,
) -> Result<(FigureBlock, WrittenChart), ReportError> {
    let charts = dir.join(CHARTS_DIR);
    fs::create_dir_all(&charts).map_err(ReportError::io(&charts))?;
    let size = ChartSize::REPORT;
    let chart_error =
        |source| ReportError::Chart { file: format!("{CHARTS_DIR}/{}", figure.stem), source };

    let png = figure.chart.to_png(size).map_err(chart_error)?;
    let svg = figure.chart.to_svg(size).map_err(chart_error)?;
    let png_path = charts.join(format!("{}.png", figure.stem));
    let svg_path = charts.join(format!("{}.svg", figure.stem));
    fs::write(&png_path, &png).map_err(ReportError::io(&png_path))?;
    fs::write(&svg_path, svg).map_err(ReportError::io(&svg_path))?;

    let title = figure.chart.title().to_owned();
    let block = FigureBlock {
        title: title.clone(),
        caption: figure.caption.clone(),
        png_path: format!("{CHARTS_DIR}/{}.png", figure.stem),
        svg_path: format!("{CHARTS_DIR}/{}.svg", figure.stem),
        png,
        width: size.width,
        height: size.height,
    };
    let chart = WrittenChart {
        title,
        png: png_path,
        svg: svg_path,
        width: size.width,
        height: size.height,
    };
    Ok((block, chart))
}

/// A number exactly as `summary.json` writes it (`null` as `n/a`), so the report and the file
/// can be compared textually.
pub fn json_number(value: Option<f64>) -> String {
    match value {
        Some(value) => serde_json::to_string(&value).unwrap_or_else(|_| "n/a".into()),
        None => "n/a".into(),
    }
}

fn fixed(value: f64, decimals: usize) -> String {
    format!("{value:.decimals$}")
}

fn run_header(doc: &mut Document, records: &RunRecords, summary: &Summary) {
    doc.paragraph(format!(
        "Scenario `{}`, seed {}, policy `{}`: {} jobs over {} s of simulated time \
         ({} capacity samples, {} head-blocked intervals).",
        summary.scenario,
        summary.seed,
        summary.policy,
        summary.overall.jobs,
        json_number(Some(seconds(records.end_ms))),
        records.capacity.len(),
        records.blocked.len(),
    ));
    doc.paragraph(format!(
        "Replay this run from this folder with `sparkq simulate scenario.yaml --seed {} \
         --policy {}`.",
        summary.seed, summary.policy
    ));
}

/// Reads one number of a summary group.
pub(crate) type GroupRead = fn(&GroupSummary) -> Option<f64>;
type BoxedRead = Box<dyn Fn(&GroupSummary) -> Option<f64>>;

/// The rows of the summary table: a `summary.json` key path and how to read it from a group.
fn group_fields() -> Vec<(String, BoxedRead)> {
    let mut fields: Vec<(String, BoxedRead)> =
        vec![("jobs".into(), Box::new(|group: &GroupSummary| Some(group.jobs as f64)))];
    for phase in sparkq_core::Phase::ALL {
        let key = phase.as_str();
        fields.push((
            format!("states.{key}"),
            Box::new(move |group: &GroupSummary| group.states.get(key).map(|&n| n as f64)),
        ));
    }
    let waits: [(&str, GroupRead); 6] = [
        ("wait_seconds.mean", |group| group.wait_seconds.mean),
        ("wait_seconds.p50", |group| group.wait_seconds.p50),
        ("wait_seconds.p95", |group| group.wait_seconds.p95),
        ("wait_seconds.p99", |group| group.wait_seconds.p99),
        ("wait_seconds.max", |group| group.wait_seconds.max),
        ("bounded_slowdown_mean", |group| group.bounded_slowdown_mean),
    ];
    for (name, read) in waits {
        fields.push((name.into(), Box::new(read)));
    }
    fields.push((
        "never_progressed".into(),
        Box::new(|group: &GroupSummary| Some(group.never_progressed as f64)),
    ));
    fields
}

fn count(value: Option<f64>) -> String {
    // Counts are integers in the JSON too; print them without a decimal point.
    value.map_or_else(|| "n/a".into(), |n| format!("{n:.0}"))
}

/// The summary table. Its first column is the key path in `summary.json` (per priority under
/// `by_priority.<priority>.`), and every value is printed as the JSON prints it.
fn summary_section(doc: &mut Document, summary: &Summary) {
    doc.heading("Summary");
    doc.paragraph(
        "The same numbers as `summary.json`. Waits are seconds from submission to admission, \
         over admitted jobs; percentiles are nearest-rank (the smallest wait that at least p % \
         of jobs did not exceed). Bounded slowdown is max(1, (wait + run) / max(run, 10 s)) over \
         jobs that finished.",
    );
    let mut table = Table::new(&["metric", "overall", "high", "normal"]);
    for (name, read) in group_fields() {
        let is_count = name == "jobs" || name.starts_with("states.") || name == "never_progressed";
        let show = |group: &GroupSummary| {
            if is_count { count(read(group)) } else { json_number(read(group)) }
        };
        table.row(vec![
            format!("`{name}`"),
            show(&summary.overall),
            show(summary.by_priority.get(Priority::High)),
            show(summary.by_priority.get(Priority::Normal)),
        ]);
    }
    doc.table(table);

    let mut run = Table::new(&["metric", "value"]);
    run.row(vec!["`utilization.cpu`".into(), json_number(Some(summary.utilization.cpu))]);
    run.row(vec!["`utilization.memory`".into(), json_number(Some(summary.utilization.memory))]);
    run.row(vec!["`makespan_seconds`".into(), json_number(Some(summary.makespan_seconds))]);
    run.row(vec!["`seed`".into(), summary.seed.to_string()]);
    run.row(vec!["`policy`".into(), summary.policy.clone()]);
    doc.table(run);
}

fn wait_row(label: String, admitted: usize, waits: &WaitSeconds) -> Vec<String> {
    let show = |value: Option<f64>| value.map_or_else(|| "n/a".to_owned(), human_duration);
    vec![
        label,
        admitted.to_string(),
        show(waits.mean),
        show(waits.p50),
        show(waits.p95),
        show(waits.p99),
        show(waits.max),
    ]
}

/// A duration for people: `42.5 s`, `12 min 5 s`, `10 h 49 min`.
pub fn human_duration(seconds: f64) -> String {
    if seconds < 60.0 {
        let text = format!("{seconds:.1}");
        return format!("{} s", text.strip_suffix(".0").unwrap_or(&text));
    }
    let whole = seconds.round() as u64;
    if whole < 3600 {
        format!("{} min {} s", whole / 60, whole % 60)
    } else {
        let minutes = (seconds / 60.0).round() as u64;
        format!("{} h {} min", minutes / 60, minutes % 60)
    }
}

fn namespace_waits_section(doc: &mut Document, stats: &RunStats) {
    doc.heading("Waits by priority and namespace");
    doc.paragraph(
        "Waits from submission to admission of admitted jobs, per priority and per namespace \
         (nearest-rank percentiles).",
    );
    let headers = ["group", "admitted", "mean", "p50", "p95", "p99", "max"];
    let mut table = Table::new(&headers);
    for priority in Priority::ALL {
        let waits = &stats.waits_by_priority[priority.index()];
        table.row(wait_row(format!("priority {priority}"), waits.len(), &wait_seconds(waits)));
    }
    for (namespace, waits) in &stats.waits_by_namespace {
        table.row(wait_row(format!("namespace {namespace}"), waits.len(), &wait_seconds(waits)));
    }
    doc.table(table);
}

fn usage_section(doc: &mut Document, stats: &RunStats) {
    doc.heading("Usage by namespace, domain and priority");
    doc.paragraph(
        "Requests of running jobs integrated over the run. The share is of all CPU core-hours \
         used.",
    );
    for (title, usage) in [
        ("namespace", &stats.usage_by_namespace),
        ("domain", &stats.usage_by_domain),
        ("priority", &stats.usage_by_priority),
    ] {
        let total: f64 = usage.totals.iter().map(|total| total.core_hours).sum();
        let mut table = Table::new(&[title, "jobs", "core-hours", "memory GiB-hours", "CPU share"]);
        for row in &usage.totals {
            let share = if total > 0.0 { row.core_hours / total * 100.0 } else { 0.0 };
            table.row(vec![
                row.key.clone(),
                row.jobs.to_string(),
                fixed(row.core_hours, 2),
                fixed(row.memory_gib_hours, 2),
                format!("{} %", fixed(share, 1)),
            ]);
        }
        doc.table(table);
    }
}

fn blocking_section(doc: &mut Document, stats: &RunStats) {
    doc.heading("Head-of-line blocking");
    if stats.blocked.is_empty() {
        doc.paragraph("No queue head was blocked in this run.");
        return;
    }
    doc.paragraph(
        "Intervals during which a queue's head could not be admitted and the cycle stopped at \
         it. Idle capacity is what was free on schedulable nodes when each interval began, held \
         for its length.",
    );
    let run_ms = stats.end_ms.max(1) as f64;
    let mut table = Table::new(&[
        "queue",
        "intervals",
        "blocked (s)",
        "share of run",
        "idle core-hours",
        "idle GiB-hours",
        "most frequent reason",
    ]);
    for lane in &stats.blocked {
        let reason = lane
            .top_reason
            .as_ref()
            .map_or_else(String::new, |(reason, times)| format!("{reason} (×{times})"));
        table.row(vec![
            lane.label.clone(),
            lane.intervals_ms.len().to_string(),
            json_number(Some(seconds(lane.blocked_ms))),
            format!("{} %", fixed(lane.blocked_ms as f64 / run_ms * 100.0, 1)),
            fixed(lane.idle_core_hours, 2),
            fixed(lane.idle_memory_gib_hours, 2),
            reason,
        ]);
    }
    doc.table(table);
}

fn problems_section(doc: &mut Document, stats: &RunStats) {
    doc.heading("Jobs rejected, cancelled, failed, stuck or still waiting");
    let mut counts = Table::new(&["category", "jobs"]);
    for category in &stats.problems {
        counts.row(vec![category.name.to_owned(), category.count.to_string()]);
    }
    doc.table(counts);

    for category in stats.problems.iter().filter(|category| category.count > 0) {
        doc.paragraph(format!("{} ({}), by reason:", capitalised(category.name), category.count));
        let mut reasons = Table::new(&["reason", "jobs"]);
        for (reason, jobs) in category.reasons.iter().take(10) {
            reasons.row(vec![reason.clone(), jobs.to_string()]);
        }
        if category.reasons.len() > 10 {
            reasons.row(vec![
                format!("… {} more reasons", category.reasons.len() - 10),
                String::new(),
            ]);
        }
        doc.table(reasons);

        let mut examples = Table::new(&["id", "name", "namespace", "priority", "flow", "reason"]);
        for job in &category.examples {
            examples.row(vec![
                job.id.to_string(),
                job.name.clone(),
                job.namespace.clone(),
                job.priority.as_str().into(),
                job.flow.as_str().into(),
                job.reason.clone(),
            ]);
        }
        if category.count > category.examples.len() as u64 {
            doc.paragraph(format!(
                "The first {} by id (all of them are in `jobs.csv`):",
                category.examples.len()
            ));
        }
        doc.table(examples);
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| first.to_uppercase().chain(chars).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_would_say_them() {
        assert_eq!(human_duration(0.0), "0 s");
        assert_eq!(human_duration(42.34), "42.3 s");
        assert_eq!(human_duration(725.0), "12 min 5 s");
        assert_eq!(human_duration(38_973.903), "10 h 50 min");
    }

    #[test]
    fn numbers_print_as_json_prints_them() {
        assert_eq!(json_number(Some(35.0)), "35.0");
        assert_eq!(json_number(Some(0.285)), "0.285");
        assert_eq!(json_number(None), "n/a");
    }
}
