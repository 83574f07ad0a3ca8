//! End to end: the `sparkq` binary as a user runs it, and the files it leaves.

use std::path::{Path, PathBuf};
use std::process::Command;

fn sparkq(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_sparkq"))
        .args(args)
        .output()
        .expect("the sparkq binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "sparkq {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sparkq-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every chart the HTML page names exists beside it and decodes as a PNG of the size the page
/// gives it.
fn check_charts(dir: &Path, at_least: usize) {
    let html = String::from_utf8(read(&dir.join("report.html"))).expect("utf-8 page");
    let mut seen = 0;
    for tag in html.split("<img").skip(1) {
        let attr = |name: &str| {
            let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
            Some(tag[start..].split('"').next()?.to_string())
        };
        let file = attr("data-file").expect("every chart names its file");
        let width: u32 = attr("width").and_then(|w| w.parse().ok()).expect("width");
        let height: u32 = attr("height").and_then(|h| h.parse().ok()).expect("height");
        let decoder = png::Decoder::new(std::io::Cursor::new(read(&dir.join(&file))));
        let reader = decoder.read_info().unwrap_or_else(|e| panic!("{file} is not a PNG: {e}"));
        assert_eq!((reader.info().width, reader.info().height), (width, height), "{file}");
        seen += 1;
    }
    assert!(seen >= at_least, "the report shows its charts ({seen} found)");
}

#[test]
fn simulate_default_scenario_is_reproducible_and_reported() {
    let (a, b, c) = (temp_dir("a"), temp_dir("b"), temp_dir("c"));
    let stdout = sparkq(&["simulate", "--out", a.to_str().expect("utf-8 path")]);
    assert!(stdout.contains("seed 42"), "{stdout}");
    sparkq(&["simulate", "--seed", "42", "--out", b.to_str().expect("utf-8 path")]);
    for file in
        ["jobs.csv", "summary.json", "report.md", "report.html", "scenario.yaml", "run.json"]
    {
        assert_eq!(read(&a.join(file)), read(&b.join(file)), "{file} differs between equal seeds");
    }
    sparkq(&["simulate", "--seed", "7", "--out", c.to_str().expect("utf-8 path")]);
    assert_ne!(
        read(&a.join("jobs.csv")),
        read(&c.join("jobs.csv")),
        "another seed, other arrivals"
    );

    // summary.json has what a planner reads, and report.md shows the same numbers.
    let summary: serde_json::Value =
        serde_json::from_slice(&read(&a.join("summary.json"))).expect("summary is JSON");
    for key in [
        "jobs",
        "states",
        "wait_seconds",
        "bounded_slowdown_mean",
        "utilization",
        "makespan_seconds",
        "seed",
        "policy",
    ] {
        assert!(summary.get(key).is_some(), "summary.json lacks {key}");
    }
    assert_eq!(summary["seed"], 42);
    let p95 = summary["by_priority"]["normal"]["wait_seconds"]["p95"].as_f64().expect("p95");
    let markdown = String::from_utf8(read(&a.join("report.md"))).expect("utf-8");
    let row = markdown
        .lines()
        .find(|line| line.contains("`wait_seconds.p95`"))
        .expect("report.md has the p95 row");
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    assert_eq!(
        cells[4].parse::<f64>().ok(),
        Some(p95),
        "report.md's normal p95 equals summary.json's"
    );
    check_charts(&a, 5);
    let jobs = String::from_utf8(read(&a.join("jobs.csv"))).expect("utf-8");
    assert!(jobs.starts_with(
        "id,name,namespace,domain,priority,flow,submitted,admitted,started,finished,state,wait_seconds,reason"
    ));
}

/// Five-minute jobs that each need a whole 8-CPU node arrive once a minute: five run at once
/// in steady state, so five nodes are the fewest with no wait at all, and four are too few.
const STEADY: &str = "
name: steady
seed: 1
cluster:
  pools:
    - { name: p, count: 1, cpu: 8, memory: 32Gi }
workload:
  generators:
    - name: g
      count: 60
      arrival: { every: 1m }
      sizes:
        - { name: s, spark: { driver: { cores: 2 }, executor: { cores: 2, instances: 3 } } }
      duration: { fixed: 5m }
";

#[test]
fn plan_finds_the_node_count_worked_out_by_hand() {
    let dir = temp_dir("plan");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let scenario = dir.join("steady.yaml");
    std::fs::write(&scenario, STEADY).expect("scenario written");
    let out = dir.join("out");
    let stdout = sparkq(&[
        "plan",
        scenario.to_str().expect("utf-8"),
        "--slo",
        "overall.max_wait <= 0s",
        "--vary",
        "p=1..12",
        "--seeds",
        "2",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert!(stdout.starts_with("5 nodes in pool p"), "{stdout}");
    check_charts(&out, 1);
}

#[test]
fn compare_writes_one_report_with_every_policy_and_legacy() {
    let out = temp_dir("compare");
    let stdout = sparkq(&["compare", "--legacy", "--out", out.to_str().expect("utf-8")]);
    for label in ["strict", "weighted", "best-effort", "backfill", "legacy"] {
        assert!(stdout.contains(label), "{label} missing from:\n{stdout}");
    }
    check_charts(&out, 2);
}

#[test]
fn bad_scenario_is_reported_with_its_place_and_no_panic() {
    let dir = temp_dir("bad");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("bad.yaml");
    std::fs::write(&path, "cluster:\n  pools:\n    - { name: p, count: 1, cpu: 8, memory: 4g }\n")
        .expect("written");
    let output = Command::new(env!("CARGO_BIN_EXE_sparkq"))
        .args(["simulate", path.to_str().expect("utf-8")])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad.yaml:3:"), "{stderr}");
    assert!(stderr.contains("memory"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
