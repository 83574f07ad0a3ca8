//! sparkq's reports: what a planner reads after a run.
//!
//! Everything here is computed from a run's [`RunRecords`](sparkq_sim::record::RunRecords)
//! alone, so the simulator stays free of reporting and the same code serves every command:
//!
//! - [`Summary`] is `summary.json` (issue 2): counts, waits, slowdown, utilisation, makespan,
//!   overall and per priority. Its module documents every definition.
//! - [`RunStats`] holds the rest of a report: waits per priority and namespace, the queues and
//!   the cluster over a time grid, usage by namespace, domain and priority, head-of-line
//!   blocking and the jobs that went wrong.
//! - [`write_run_report`] writes `jobs.csv`, `summary.json`, `report.md`, `report.html` and the
//!   charts of one run; [`write_compare_report`] and [`write_plan_report`] write the reports of
//!   `sparkq compare` and `sparkq plan` from runs the command already made.
//! - [`Slo`] parses and checks objectives such as `high.p95_wait <= 10m`.
//!
//! Percentiles are exact and use the nearest-rank definition ([`percentile`]). Output is
//! deterministic: the same records give byte-identical files.

pub mod compare;
pub mod csv;
mod doc;
mod error;
pub mod figures;
pub mod percentile;
pub mod plan;
pub mod report;
pub mod slo;
pub mod stats;
pub mod summary;
pub mod timeline;

pub use compare::write_compare_report;
pub use csv::write_jobs_csv;
pub use error::ReportError;
pub use percentile::Distribution;
pub use plan::{PlanInput, PlanPoint, PlanRun, plan_points, write_plan_report};
pub use report::{
    WrittenChart, WrittenReport, json_number, write_jobs_csv_file, write_run_report,
    write_summary_json,
};
pub use slo::{Comparison, Slo, SloError, SloMetric};
pub use stats::RunStats;
pub use summary::Summary;
