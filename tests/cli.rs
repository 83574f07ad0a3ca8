//! End to end: the `sparkq` binary as a user runs it, and the files it leaves.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `sparkq` with stderr piped, as under CI: no terminal, so no progress bar and, at the
/// default log level, nothing on stderr at all for a run that goes well.
fn sparkq(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_sparkq"))
        .args(args)
        .env_remove("SPARKQ_LOG")
        .output()
        .expect("the sparkq binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "sparkq {args:?} failed: {stderr}\n{stdout}");
    assert!(stderr.is_empty(), "sparkq {args:?} wrote to stderr: {stderr:?}");
    stdout
}

/// A `summary.json` value by its dotted path.
fn lookup<'a>(json: &'a serde_json::Value, path: &str) -> &'a serde_json::Value {
    path.split('.').fold(json, |value, key| &value[key])
}

/// Every row of report.md's tables whose first cell is a `summary.json` key in backticks shows,
/// in its value columns, exactly the values of `columns` (one summary per column): numbers
/// equal as numbers, `n/a` for null, text as text. Returns how many cells were compared.
fn report_cells_equal_json(markdown: &str, columns: &[&serde_json::Value]) -> usize {
    let mut compared = 0;
    for line in markdown.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let key = cells[0].trim_matches('`');
        let values = &cells[1..];
        // The run report's second table has one column: the run's top-level values.
        let columns = if values.len() == 1 { &columns[..1] } else { columns };
        assert_eq!(values.len(), columns.len(), "row `{key}`: {line}");
        for (cell, json) in values.iter().zip(columns) {
            let expected = lookup(json, key);
            match expected {
                serde_json::Value::Null => assert_eq!(*cell, "n/a", "`{key}`"),
                serde_json::Value::String(text) => assert_eq!(cell, text, "`{key}`"),
                number => assert_eq!(
                    cell.parse::<f64>().ok(),
                    number.as_f64(),
                    "`{key}`: report.md shows {cell}, the JSON holds {number}"
                ),
            }
            compared += 1;
        }
    }
    compared
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
    let markdown = String::from_utf8(read(&a.join("report.md"))).expect("utf-8");
    let groups = [&summary, &summary["by_priority"]["high"], &summary["by_priority"]["normal"]];
    // 15 rows of three groups, then utilisation, makespan, seed and policy.
    assert_eq!(report_cells_equal_json(&markdown, &groups), 15 * 3 + 5);
    // The page ends with the scenario it ran.
    let scenario = String::from_utf8(read(&a.join("scenario.yaml"))).expect("utf-8");
    assert!(markdown.contains(scenario.trim_end()), "report.md shows the scenario");
    check_charts(&a, 5);
    // The chart the README shows is this run's, byte for byte.
    let readme_chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/wait_cdf.png");
    assert_eq!(
        read(&a.join("charts/wait_cdf.png")),
        read(&readme_chart),
        "docs/wait_cdf.png is stale: copy out/default/charts/wait_cdf.png over it"
    );
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

    // plan.json holds the measured curve: 4 nodes measured and too few, 5 measured and
    // enough (the answer cannot be known otherwise), and a search, not all 12 sizes.
    let plan: serde_json::Value =
        serde_json::from_slice(&read(&out.join("plan.json"))).expect("plan.json is JSON");
    assert_eq!(plan["answer"], 5);
    let points = plan["points"].as_array().expect("points");
    let met = |nodes: u64| {
        points.iter().find(|p| p["nodes"] == nodes).map(|p| p["all_met"].as_bool() == Some(true))
    };
    assert_eq!(met(4), Some(false), "{points:?}");
    assert_eq!(met(5), Some(true), "{points:?}");
    assert_eq!(met(12), Some(true), "the largest size is measured first");
    assert!(points.len() < 12, "{} sizes measured of 12", points.len());
    for point in points {
        assert_eq!(point["seeds"], serde_json::json!([1, 2]), "both seeds at every size");
    }
}

#[test]
fn compare_writes_one_report_with_every_policy_and_legacy() {
    let dir = temp_dir("compare");
    std::fs::create_dir_all(&dir).expect("temp dir");
    // The steady stream on 4 nodes, one short of what it needs: queues form.
    let scenario = dir.join("steady.yaml");
    std::fs::write(&scenario, STEADY.replace("count: 1, cpu: 8", "count: 4, cpu: 8"))
        .expect("scenario written");
    let out = dir.join("out");
    let stdout = sparkq(&[
        "compare",
        scenario.to_str().expect("utf-8"),
        "--legacy",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    let labels = ["strict", "weighted", "best-effort", "backfill", "legacy"];
    for label in labels {
        assert!(stdout.contains(label), "{label} missing from:\n{stdout}");
    }
    check_charts(&out, 2);

    // summaries.json has one run per label, in order, and report.md shows their numbers.
    let runs: serde_json::Value =
        serde_json::from_slice(&read(&out.join("summaries.json"))).expect("summaries.json");
    let runs = runs.as_array().expect("an array of runs");
    let shown: Vec<&str> = runs.iter().filter_map(|r| r["label"].as_str()).collect();
    assert_eq!(shown, labels);
    let summaries: Vec<&serde_json::Value> = runs.iter().map(|r| &r["summary"]).collect();
    let markdown = String::from_utf8(read(&out.join("report.md"))).expect("utf-8");
    assert!(report_cells_equal_json(&markdown, &summaries) >= 20 * labels.len());
    // With every job legacy, drivers take the room their executors need and some jobs never
    // progress (SPEC §5); through the queue, none.
    assert!(runs[4]["summary"]["never_progressed"].as_u64() > Some(0), "{}", runs[4]);
    assert_eq!(runs[0]["summary"]["never_progressed"], 0);
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
