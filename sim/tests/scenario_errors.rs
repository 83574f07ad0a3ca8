//! Bad scenarios: each gives an error naming the file, line, column and field, and none panics.
//!
//! Every test writes its YAML one line per array element, so the line numbers asserted below
//! are the element's index plus one, and columns can be counted on the line itself.

use std::path::Path;

use sparkq_sim::scenario::{Scenario, ScenarioError};

const FILE: &str = "scenarios/bad.yaml";

fn yaml(lines: &[&str]) -> String {
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

fn error_of(text: &str) -> ScenarioError {
    match Scenario::from_yaml(text, FILE) {
        Ok(_) => panic!("this scenario should have been refused:\n{text}"),
        Err(error) => error,
    }
}

/// Checks the position, the field and words of the message, and that it says what was expected.
#[track_caller]
fn assert_error(text: &str, line: u64, column: u64, field: Option<&str>, words: &[&str]) {
    let error = error_of(text);
    let shown = error.to_string();
    assert_eq!((error.line, error.column), (line, column), "{shown}");
    assert_eq!(error.field.as_deref(), field, "{shown}");
    assert_eq!(error.file, FILE);
    assert!(shown.starts_with(&format!("{FILE}:{line}:{column}: ")), "{shown}");
    assert!(error.message.contains("expected"), "says what was expected: {shown}");
    for word in words {
        assert!(shown.contains(word), "`{word}` missing from: {shown}");
    }
}

/// A valid scenario: one pool of two nodes and one job, which the tests below spoil.
const POOL: [&str; 7] = [
    "name: bad",
    "cluster:",
    "  pools:",
    "    - name: general",
    "      count: 2",
    "      cpu: 16",
    "      memory: 64Gi",
];

fn with_lines(extra: &[&str]) -> String {
    let mut lines = POOL.to_vec();
    lines.extend_from_slice(extra);
    yaml(&lines)
}

#[test]
fn the_base_scenario_is_valid() {
    let text = with_lines(&["workload:", "  jobs:", "    - { name: a, duration: 10m }"]);
    assert!(Scenario::from_yaml(&text, FILE).is_ok());
}

#[test]
fn wrong_type_names_the_field() {
    let text = yaml(&[
        "name: bad",
        "cluster:",
        "  pools:",
        "    - name: general",
        "      count: many",
        "      cpu: 16",
        "      memory: 64Gi",
    ]);
    assert_error(&text, 5, 14, Some("count"), &["`many`", "whole number"]);
    let error = error_of(&text);
    assert_eq!(
        error.to_string(),
        "scenarios/bad.yaml:5:14: field `count`: `many` is not valid here: expected a whole \
         number from 0 to 4294967295"
    );
}

#[test]
fn a_mapping_where_a_value_belongs_names_the_field() {
    let text = with_lines(&[
        "workload:",
        "  jobs:",
        "    - name: a",
        "      duration:",
        "        minutes: 10",
    ]);
    assert_error(&text, 12, 9, Some("duration"), &["found a mapping"]);
}

#[test]
fn unknown_field_lists_the_known_ones() {
    let text = yaml(&[
        "name: bad",
        "cluster:",
        "  pools:",
        "    - name: general",
        "      count: 2",
        "      cpus: 16",
        "      memory: 64Gi",
    ]);
    assert_error(&text, 6, 7, Some("cpus"), &["unknown field", "`cpu`", "`memory`"]);
}

#[test]
fn unknown_field_in_a_flow_mapping_points_at_the_key() {
    let text =
        with_lines(&["workload:", "  jobs:", "    - { name: a, duration: 10m, prio: high }"]);
    assert_error(&text, 10, 33, Some("prio"), &["`priority`"]);
}

#[test]
fn negative_sizes_are_refused() {
    let negative_count = yaml(&[
        "name: bad",
        "cluster:",
        "  pools:",
        "    - { name: general, count: -3, cpu: 16, memory: 64Gi }",
    ]);
    assert_error(&negative_count, 4, 31, Some("count"), &["`-3`"]);

    let negative_memory = yaml(&[
        "name: bad",
        "cluster:",
        "  pools:",
        "    - name: general",
        "      count: 2",
        "      cpu: 16",
        "      memory: -64Gi",
    ]);
    assert_error(&negative_memory, 7, 15, Some("memory"), &["`-64Gi`", "negative"]);

    let negative_executors = with_lines(&[
        "workload:",
        "  jobs:",
        "    - name: a",
        "      duration: 10m",
        "      spark:",
        "        executor: { instances: -2 }",
    ]);
    assert_error(&negative_executors, 13, 32, Some("instances"), &["`-2`"]);

    let negative_spark_memory = with_lines(&[
        "workload:",
        "  jobs:",
        "    - name: a",
        "      duration: 10m",
        "      spark: { driver: { memory: -4g } }",
    ]);
    assert_error(&negative_spark_memory, 12, 34, Some("memory"), &["`-4g`", "negative"]);
}

#[test]
fn kubernetes_quantity_in_a_spark_memory_field_is_refused() {
    let text = with_lines(&[
        "workload:",
        "  jobs:",
        "    - name: nightly",
        "      duration: 1h",
        "      spark:",
        "        driver:",
        "          memory: 4Gi",
    ]);
    assert_error(&text, 14, 19, Some("memory"), &["`4Gi`", "Kubernetes notation", "`4g`"]);
}

#[test]
fn millicores_in_a_spark_cores_field_are_refused() {
    let text = with_lines(&[
        "workload:",
        "  jobs:",
        "    - name: nightly",
        "      duration: 1h",
        "      spark:",
        "        executor: { cores: 500m, memory: 4g }",
    ]);
    assert_error(&text, 13, 28, Some("cores"), &["`500m`", "whole number", "request_cores"]);
}

#[test]
fn spark_memory_in_a_cluster_field_is_refused() {
    let spark_gigabytes = yaml(&[
        "name: bad",
        "cluster:",
        "  pools:",
        "    - { name: general, count: 2, cpu: 16, memory: 64g }",
    ]);
    assert_error(&spark_gigabytes, 4, 51, Some("memory"), &["`64g`", "`64Gi`"]);

    let spark_megabytes = yaml(&[
        "name: bad",
        "cluster:",
        "  pools:",
        "    - { name: general, count: 2, cpu: 16, memory: 512m }",
    ]);
    assert_error(&spark_megabytes, 4, 51, Some("memory"), &["512Mi"]);

    let memory_as_cpu = yaml(&[
        "name: bad",
        "cluster:",
        "  pools:",
        "    - { name: general, count: 2, cpu: 16Gi, memory: 64Gi }",
    ]);
    assert_error(&memory_as_cpu, 4, 39, Some("cpu"), &["memory amount", "500m"]);
}

#[test]
fn empty_file_is_refused_without_a_field() {
    for text in ["", "\n\n", "# only a comment\n"] {
        let error = error_of(text);
        assert_eq!(error.field, None);
        assert!(error.line >= 1 && error.column >= 1, "{error}");
        assert!(error.message.contains("empty"), "{error}");
        assert!(error.message.contains("expected"), "{error}");
    }
    assert_eq!(error_of("").to_string().split(": ").next(), Some("scenarios/bad.yaml:1:1"));
}

#[test]
fn a_document_that_is_not_a_mapping_is_refused() {
    assert_error("- a\n- b\n", 1, 1, None, &["found a list", "mapping"]);
    assert_error("name: bad\n", 1, 1, Some("cluster"), &["missing"]);
}

#[test]
fn event_naming_a_missing_pool_is_refused() {
    let text = with_lines(&["events:", "  - at: 2h", "    add_nodes: { pool: gpu, count: 2 }"]);
    assert_error(&text, 10, 24, Some("pool"), &["`gpu`", "`general`"]);
}

#[test]
fn background_pods_naming_a_missing_pool_are_refused() {
    let text = with_lines(&[
        "  background:",
        "    - name: system",
        "      cpu: 500m",
        "      memory: 1Gi",
        "      pool: infra",
    ]);
    assert_error(&text, 12, 13, Some("pool"), &["`infra`", "`general`"]);
}

#[test]
fn background_pods_must_tolerate_their_pools_taints() {
    let text = yaml(&[
        "name: bad",
        "cluster:",
        "  pools:",
        "    - name: gpu",
        "      count: 1",
        "      cpu: 16",
        "      memory: 64Gi",
        "      taints: [{ key: nvidia.com/gpu, effect: NoSchedule }]",
        "  background:",
        "    - { name: notebooks, cpu: 1, memory: 1Gi, pool: gpu }",
    ]);
    assert_error(&text, 10, 53, Some("pool"), &["nvidia.com/gpu:NoSchedule", "tolerations"]);
}

#[test]
fn cordon_of_a_node_that_does_not_exist_yet_is_refused() {
    let too_early = with_lines(&[
        "events:",
        "  - { at: 1h, cordon: general-2 }",
        "  - { at: 2h, add_nodes: { pool: general, count: 1 } }",
    ]);
    assert_error(&too_early, 9, 23, Some("cordon"), &["`general-2`", "2 nodes at 1h"]);

    let after_scale_up = with_lines(&[
        "events:",
        "  - { at: 3h, cordon: general-2 }",
        "  - { at: 2h, add_nodes: { pool: general, count: 1 } }",
    ]);
    let scenario = Scenario::from_yaml(&after_scale_up, FILE).expect("general-2 exists at 3h");
    assert_eq!(scenario.events[0].at_ms, 2 * 3_600_000, "events are sorted by time");

    let not_a_node = with_lines(&["events:", "  - { at: 1h, uncordon: worker }"]);
    assert_error(&not_a_node, 9, 25, Some("uncordon"), &["`worker`", "<pool>-<index>"]);
}

#[test]
fn duplicate_job_name_points_at_the_second_use() {
    let text = with_lines(&[
        "workload:",
        "  jobs:",
        "    - name: nightly-etl",
        "      duration: 1h",
        "    - name: nightly-etl",
        "      duration: 2h",
    ]);
    assert_error(&text, 12, 13, Some("name"), &["`nightly-etl`", "line 10", "unique"]);
}

#[test]
fn malformed_durations_are_refused() {
    let fraction = with_lines(&["workload:", "  jobs:", "    - { name: a, duration: 1.5h }"]);
    assert_error(&fraction, 10, 28, Some("duration"), &["`1.5h`", "1h30m"]);

    let words = yaml(&["name: bad", "horizon: one day"]);
    assert_error(&words, 2, 10, Some("horizon"), &["`one day`", "90s"]);

    let generator = with_lines(&[
        "workload:",
        "  generators:",
        "    - name: adhoc",
        "      count: 5",
        "      arrival: { every: 2x }",
        "      duration: 10m",
    ]);
    assert_error(&generator, 12, 25, Some("every"), &["`2x`"]);

    let distribution = with_lines(&[
        "workload:",
        "  generators:",
        "    - name: adhoc",
        "      count: 5",
        "      arrival: { every: 2m }",
        "      duration: 10 minutes",
    ]);
    assert_error(&distribution, 13, 17, Some("duration"), &["`10 minutes`"]);
}

#[test]
fn events_need_exactly_one_action() {
    let two = with_lines(&["events:", "  - { at: 1h, cordon: general-0, disable: {} }"]);
    assert_error(&two, 9, 11, Some("at"), &["`cordon` and `disable`", "one event per action"]);
    let none = with_lines(&["events:", "  - { at: 1h }"]);
    assert_error(&none, 9, 11, Some("at"), &["found none"]);
}

#[test]
fn events_name_jobs_that_exist() {
    let text = with_lines(&[
        "workload:",
        "  jobs:",
        "    - { name: a, submit: 1h, duration: 10m }",
        "  generators:",
        "    - { name: adhoc, count: 10, arrival: { every: 1m }, duration: 1m }",
        "events:",
        "  - { at: 2h, cancel: adhoc-12 }",
    ]);
    assert_error(&text, 14, 23, Some("cancel"), &["10 jobs"]);

    let unknown = text.replace("adhoc-12", "nightly");
    assert_error(&unknown, 14, 23, Some("cancel"), &["no job is named `nightly`"]);

    let before_submission = text.replace("at: 2h, cancel: adhoc-12", "at: 0s, cancel: a");
    assert_error(&before_submission, 14, 23, Some("cancel"), &["submitted at 1h"]);

    let valid = text.replace("adhoc-12", "adhoc-9");
    assert!(Scenario::from_yaml(&valid, FILE).is_ok());
}

#[test]
fn generator_without_a_bound_is_refused() {
    let text = with_lines(&[
        "workload:",
        "  generators:",
        "    - name: adhoc",
        "      arrival: { poisson: { mean: 2m } }",
        "      duration: 10m",
    ]);
    assert_error(&text, 10, 13, Some("count"), &["`count`", "`end`", "`horizon`"]);
}

#[test]
fn unknown_choices_list_the_known_ones() {
    let policy = yaml(&["name: bad", "policy: fastest"]);
    assert_error(&policy, 2, 9, Some("policy"), &["`fastest`", "best-effort"]);

    let priority = with_lines(&[
        "workload:",
        "  generators:",
        "    - { name: g, count: 1, arrival: { every: 1m }, duration: 1m, priority: urgent }",
    ]);
    assert_error(&priority, 10, 76, Some("priority"), &["`urgent`", "`high`"]);
}

#[test]
fn file_that_cannot_be_read_names_the_path() {
    let error = match Scenario::from_file(Path::new("/nonexistent/sparkq/x.yaml")) {
        Ok(_) => panic!("a missing file was read"),
        Err(error) => error,
    };
    assert_eq!((error.line, error.column), (0, 0));
    assert!(error.to_string().starts_with("/nonexistent/sparkq/x.yaml: cannot be read"), "{error}");
}

#[test]
fn default_scenario_reads_from_its_file() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/default.yaml");
    let scenario = Scenario::from_file(&path).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(scenario.name, "default");
}

/// Cuts the default scenario short at many places, and drops each line in turn: every result
/// is a scenario or an error inside the text, never a panic.
#[test]
fn damaged_scenarios_never_panic() {
    let text = include_str!("../../scenarios/default.yaml");
    let line_count = text.lines().count() as u64;
    let check = |damaged: &str| {
        if let Err(error) = Scenario::from_yaml(damaged, FILE) {
            assert!(error.line <= line_count + 1, "{error}");
            assert!(!error.message.is_empty());
        }
    };
    let cuts: Vec<usize> =
        (0..text.len()).step_by(37).filter(|at| text.is_char_boundary(*at)).collect();
    for at in cuts {
        check(&text[..at]);
    }
    let lines: Vec<&str> = text.lines().collect();
    for skipped in 0..lines.len() {
        let damaged: Vec<&str> = lines
            .iter()
            .enumerate()
            .filter(|(index, _)| *index != skipped)
            .map(|(_, line)| *line)
            .collect();
        check(&damaged.join("\n"));
    }
}

mod arbitrary_text {
    use proptest::prelude::*;

    use super::*;

    const NOISE: &str = "((name|cluster|pools|count|cpu|memory|spark|cores|at|- |  |\\{|\\}\
                         |\\[|\\]|: |, |\n|4Gi|500m|-1|x){0,60})";

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// YAML-ish noise: keys of the format, flow punctuation, quantities and indentation.
        #[test]
        fn never_panics(text in NOISE) {
            let _ = Scenario::from_yaml(&text, FILE);
        }
    }
}

#[test]
fn job_selecting_a_missing_pool_is_refused() {
    let text = with_lines(&[
        "workload:",
        "  jobs:",
        "    - name: a",
        "      duration: 10m",
        "      spark:",
        "        node_selector: { sparkq.io/pool: gpus }",
    ]);
    assert_error(&text, 13, 24, Some("node_selector"), &["`gpus`", "`general`"]);
}

#[test]
fn removing_more_nodes_than_a_pool_has_is_refused() {
    let text =
        with_lines(&["events:", "  - { at: 1h, remove_nodes: { pool: general, count: 3 } }"]);
    assert_error(&text, 9, 53, Some("count"), &["2 nodes at 1h"]);
}

/// Sizes no cluster or run holds are mistakes, refused with the limit rather than run for ever
/// or wrapped around: a pool of more than 100,000 nodes, a duration of more than a century, a
/// job counting more than 100,000 executors.
#[test]
fn sizes_beyond_any_cluster_or_run_are_refused() {
    let mut huge_pool = POOL.to_vec();
    huge_pool[4] = "      count: 4294967295";
    assert_error(&yaml(&huge_pool), 5, 14, Some("count"), &["at most 100000"]);

    let endless = with_lines(&["workload:", "  jobs:", "    - name: a", "      duration: 36501d"]);
    assert_error(&endless, 11, 17, Some("duration"), &["`36501d`", "century"]);

    let executors = with_lines(&[
        "workload:",
        "  jobs:",
        "    - name: a",
        "      duration: 10m",
        "      spark:",
        "        executor: { instances: 4294967295 }",
    ]);
    let error = error_of(&executors).to_string();
    assert!(error.contains("100000") && error.contains("spark.executor.instances"), "{error}");

    let growing =
        with_lines(&["events:", "  - { at: 1h, add_nodes: { pool: general, count: 99999 } }"]);
    assert_error(&growing, 9, 50, Some("count"), &["100001 nodes", "at most 100000"]);
}
