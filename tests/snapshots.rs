//! Simulated tier, decisions as data: for every scenario in `scenarios/`, the order in which
//! jobs were admitted and when, checked against a reviewed snapshot. An intended change of
//! behaviour shows here as a diff; accept it with `cargo insta review` (or `INSTA_UPDATE=always`).

use std::fmt::Write as _;
use std::path::Path;

use sparkq_sim::engine::{RunOptions, simulate};
use sparkq_sim::scenario::Scenario;

fn admission_order(path: &Path) -> String {
    let scenario = Scenario::from_file(path).expect("scenario in scenarios/ is valid");
    let options = RunOptions { check_invariants: true, ..RunOptions::default() };
    let (outcome, records) = simulate(&scenario, &options);
    let mut jobs: Vec<_> = records.jobs.iter().collect();
    jobs.sort_by_key(|j| (j.admitted_ms.is_none(), j.admitted_ms, j.id));
    let mut text = format!("# seed {} policy {}\n", outcome.seed, outcome.policy);
    for job in jobs {
        let admitted = job
            .admitted_ms
            .map_or_else(|| "-".to_string(), |ms| format!("{:.3}", ms as f64 / 1000.0));
        let _ = writeln!(
            text,
            "{admitted:>12} {:<28} {:<6} {:<12} {}",
            job.name, job.priority, job.flow, job.phase
        );
    }
    text
}

#[test]
fn admission_order_of_every_example_scenario() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("scenarios/ exists")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no scenarios in {}", dir.display());
    for path in paths {
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("scenario").to_string();
        insta::assert_snapshot!(format!("admission_order_{stem}"), admission_order(&path));
    }
}
