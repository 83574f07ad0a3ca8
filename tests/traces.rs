//! Simulated tier on real traces: the workloads in `../shared/data/`, replayed and checked
//! against computations written here, independently of sparkq's scheduler.
//!
//! The SWF tests replay each log under strict FIFO on one-core nodes and compare every job's
//! start with a plain reference loop below, which knows nothing of sparkq: it releases finished
//! jobs, then starts queue heads while they fit. The Kubernetes test replays Alibaba's openb pod
//! trace on its node list. The import tests run the `sparkq` binary as a user would.
//!
//! Run with `--nocapture` to see the figures (mean wait, bounded slowdown, utilisation, time to
//! simulate); run with `--release` for meaningful timings.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use sparkq_core::{Phase, Policy, Resources};
use sparkq_sim::engine::{RunOptions, simulate};
use sparkq_sim::record::{JobRecord, RunRecords};
use sparkq_sim::scenario::{Arrival, Scenario};
use sparkq_sim::trace::{self, Imported};

/// `../shared/data/`, beside the workspace.
fn data(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data").join(relative)
}

fn sparkq(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sparkq")).args(args).output().expect("sparkq runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("traces");
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir.join(name)
}

fn import_swf(relative: &str, processors: Option<u64>) -> Imported {
    let path = data(relative);
    let options = trace::swf::SwfOptions { processors, ..Default::default() };
    let lines = trace::open_text(&path).expect("trace opens");
    trace::swf::import(lines, relative, "test", &options).expect("trace imports")
}

/// Simulates and returns the records and the seconds the simulation took: CPU time of this
/// thread where Linux reports it (`/proc/thread-self/schedstat`), else wall-clock time.
fn run(scenario: &Scenario) -> (RunRecords, f64) {
    let cpu_before = thread_cpu_ns();
    let started = Instant::now();
    let (_, records) = simulate(scenario, &RunOptions::default());
    let seconds = match (cpu_before, thread_cpu_ns()) {
        (Some(before), Some(after)) => (after - before) as f64 / 1e9,
        _ => started.elapsed().as_secs_f64(),
    };
    (records, seconds)
}

/// Nanoseconds this thread has run on a CPU, on Linux.
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

// ---------------------------------------------------------------------------------------------
// The reference: strict FIFO on identical one-core nodes, in plain Rust.

/// One job of an SWF log as the reference sees it, read from the file by [`swf_jobs`].
#[derive(Clone, Copy, Debug)]
struct RefJob {
    number: u64,
    submit_s: u64,
    run_s: u64,
    procs: u64,
}

/// Reads fields 1, 2, 4, 5 and 8 of every job line, with the archive's rule for processors
/// (field 8, else field 5) and without any sparkq code.
fn swf_jobs(text: &str) -> Vec<RefJob> {
    let mut jobs = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with(';') {
            continue;
        }
        let f: Vec<i64> = line.split_whitespace().map(|x| x.parse().expect("integer")).collect();
        let procs = if f[7] > 0 { f[7] } else { f[4] };
        if procs <= 0 || f[1] < 0 || f[3] < 0 {
            continue;
        }
        jobs.push(RefJob {
            number: f[0] as u64,
            submit_s: f[1] as u64,
            run_s: f[3] as u64,
            procs: procs as u64,
        });
    }
    jobs
}

/// The start time of each job (by job number) under strict FIFO on `capacity` processors.
/// Jobs wider than the machine never start. At each instant: release the jobs that end, queue
/// the jobs that arrive, start heads while they fit; jobs of zero run time end at once and
/// their processors go to the next heads at the same instant.
fn reference_starts(jobs: &[RefJob], capacity: u64) -> BTreeMap<u64, u64> {
    let mut starts = BTreeMap::new();
    let mut queue: VecDeque<RefJob> = VecDeque::new();
    let mut running: BinaryHeap<Reverse<(u64, u64)>> = BinaryHeap::new();
    let mut free = capacity;
    let mut next = 0;
    loop {
        let next_arrival = jobs.get(next).map(|job| job.submit_s);
        let next_end = running.peek().map(|Reverse((end, _))| *end);
        let now = match (next_arrival, next_end) {
            (Some(a), Some(e)) => a.min(e),
            (Some(a), None) => a,
            (None, Some(e)) => e,
            (None, None) => break,
        };
        while next < jobs.len() && jobs[next].submit_s == now {
            if jobs[next].procs <= capacity {
                queue.push_back(jobs[next]);
            }
            next += 1;
        }
        loop {
            while let Some(&Reverse((end, procs))) = running.peek() {
                if end > now {
                    break;
                }
                running.pop();
                free += procs;
            }
            let mut started_any = false;
            while let Some(head) = queue.front() {
                if head.procs > free {
                    break;
                }
                free -= head.procs;
                starts.insert(head.number, now);
                running.push(Reverse((now + head.run_s, head.procs)));
                queue.pop_front();
                started_any = true;
            }
            let ends_now = running.peek().is_some_and(|Reverse((end, _))| *end <= now);
            if !(started_any && ends_now) {
                break;
            }
        }
    }
    starts
}

/// Mean wait (s), mean bounded slowdown and utilisation of `capacity` processors, from the
/// simulator's records.
fn figures(records: &RunRecords, capacity: u64) -> (f64, f64, f64) {
    let ran: Vec<&JobRecord> =
        records.jobs.iter().filter(|job| job.phase == Phase::Succeeded).collect();
    let n = ran.len() as f64;
    let mut wait_sum = 0.0;
    let mut slowdown_sum = 0.0;
    let mut busy = 0.0;
    let mut first = u64::MAX;
    let mut last = 0;
    for job in &ran {
        let (started, finished) = (job.started_ms.unwrap_or(0), job.finished_ms.unwrap_or(0));
        let wait = (started - job.submitted_ms) as f64;
        let run = (finished - started) as f64;
        wait_sum += wait;
        slowdown_sum += ((wait + run) / run.max(10_000.0)).max(1.0);
        busy += run * (job.request.cpu_millis as f64 / 1000.0);
        first = first.min(job.submitted_ms);
        last = last.max(finished);
    }
    let span = (last - first) as f64;
    (wait_sum / n / 1000.0, slowdown_sum / n, busy / (capacity as f64 * span))
}

fn check_swf_against_reference(relative: &str, processors: Option<u64>, capacity: u64) {
    let imported = import_swf(relative, processors);
    assert_eq!(imported.pools[0].count as u64, capacity);
    assert_eq!(imported.pools[0].allocatable.cpu_millis, 1000);
    let scenario = imported.scenario(Policy::Strict);
    let (records, seconds) = run(&scenario);

    let text = trace::read_text(&data(relative)).expect("trace reads");
    let reference = reference_starts(&swf_jobs(&text), capacity);
    assert_eq!(records.jobs.len(), imported.jobs.len());
    let mut compared = 0;
    for job in &records.jobs {
        let number: u64 = job.name.trim_start_matches("job-").parse().expect("job-<n>");
        let expected = reference.get(&number).map(|start_s| start_s * 1000);
        assert_eq!(job.started_ms, expected, "{relative}: start of {}", job.name);
        compared += usize::from(expected.is_some());
    }
    // Both ways: the reference starts exactly the jobs the simulation ran, no more.
    assert_eq!(compared, reference.len(), "{relative}: jobs the reference starts");
    let (wait_s, slowdown, utilisation) = figures(&records, capacity);
    println!(
        "{relative}: {} jobs, {compared} started as the reference says; mean wait {wait_s:.0} s, \
         mean bounded slowdown {slowdown:.2}, utilisation {:.1}%; simulated in {seconds:.3} s of CPU",
        records.jobs.len(),
        utilisation * 100.0
    );
}

#[test]
fn nasa_ipsc_strict_fifo_starts_match_the_reference_loop() {
    check_swf_against_reference("swf/NASA-iPSC-1993-3.1-cln.swf.gz", None, 128);
}

#[test]
fn lublin_256_strict_fifo_starts_match_the_reference_loop() {
    check_swf_against_reference("swf/lublin_256.swf", Some(256), 256);
}

#[test]
fn reference_loop_hands_zero_run_time_capacity_on_at_once() {
    let jobs = [
        RefJob { number: 1, submit_s: 0, run_s: 0, procs: 2 },
        RefJob { number: 2, submit_s: 0, run_s: 5, procs: 2 },
    ];
    let starts = reference_starts(&jobs, 2);
    assert_eq!((starts[&1], starts[&2]), (0, 0));
}

// ---------------------------------------------------------------------------------------------
// SPEC §8: a job of zero run time starts and ends at the same instant.

const THREE_JOBS: &str = "; MaxProcs: 4\n\
    1  0 -1  0 4 -1 -1 -1 -1 -1 1 1 1 -1 -1 -1 -1 -1\n\
    2  0 -1 60 4 -1 -1 -1 -1 -1 1 1 1 -1 -1 -1 -1 -1\n\
    3 10 -1  0 2 -1 -1 -1 -1 -1 1 1 1 -1 -1 -1 -1 -1\n";

#[test]
fn zero_run_time_jobs_start_and_end_at_the_same_instant() {
    // Job 1 takes the whole machine for no time, so job 2 starts at 0 too; job 3 (zero run
    // time) waits behind job 2 and starts and ends at 60 s.
    let path = scratch("three-jobs.swf");
    std::fs::write(&path, THREE_JOBS).expect("trace written");
    let out = scratch("three-jobs.yaml");
    let output = sparkq(&[
        "import",
        "swf",
        path.to_str().unwrap_or(""),
        "--out",
        out.to_str().unwrap_or(""),
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let scenario = Scenario::from_file(&out).expect("the imported scenario reads");
    let (records, _) = run(&scenario);
    let times: Vec<(Option<u64>, Option<u64>)> =
        records.jobs.iter().map(|job| (job.started_ms, job.finished_ms)).collect();
    assert_eq!(times, [(Some(0), Some(0)), (Some(0), Some(60_000)), (Some(60_000), Some(60_000))]);
    assert!(records.jobs.iter().all(|job| job.phase == Phase::Succeeded));
}

#[test]
fn imported_yaml_gives_the_same_jobs_as_the_in_memory_import() {
    // The first 300 jobs of the NASA log, through the command line and back.
    let text = trace::read_text(&data("swf/NASA-iPSC-1993-3.1-cln.swf.gz")).expect("reads");
    let head: String = text.lines().take(335).map(|line| format!("{line}\n")).collect();
    let path = scratch("nasa-head.swf");
    std::fs::write(&path, &head).expect("trace written");
    let out = scratch("nasa-head.yaml");
    let output = sparkq(&[
        "import",
        "swf",
        path.to_str().unwrap_or(""),
        "--out",
        out.to_str().unwrap_or(""),
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let from_yaml = Scenario::from_file(&out).expect("the imported scenario reads");
    let options = trace::swf::SwfOptions::default();
    let in_memory =
        trace::swf::import(head.as_bytes(), "head", "nasa-head", &options).expect("imports");
    let yaml_jobs: Vec<_> = from_yaml.arrivals().collect();
    let memory_jobs: Vec<_> = in_memory.scenario(Policy::Strict).arrivals().collect();
    let job_lines = head.lines().filter(|line| !line.starts_with(';')).count();
    assert_eq!(yaml_jobs.len(), job_lines);
    assert_same_jobs(&yaml_jobs, &memory_jobs);
    assert_eq!(from_yaml.pools, in_memory.pools);
}

/// Equal job lists, compared one job at a time so that a failure shows one job.
fn assert_same_jobs(left: &[Arrival], right: &[Arrival]) {
    assert_eq!(left.len(), right.len(), "job counts");
    for (a, b) in left.iter().zip(right) {
        assert_eq!(a, b, "job {}", a.spec.name);
    }
}

// ---------------------------------------------------------------------------------------------
// Bad lines.

const GOOD_LINE: &str = "1 0 -1 10 2 -1 -1 -1 -1 -1 1 1 1 -1 -1 -1 -1 -1\n";

fn import_text(name: &str, text: &str, extra: &[&str]) -> Output {
    let path = scratch(name);
    std::fs::write(&path, text).expect("trace written");
    let mut args = vec!["import", "swf", path.to_str().unwrap_or("")];
    args.extend_from_slice(extra);
    sparkq(&args)
}

#[test]
fn a_line_with_too_few_fields_is_an_error_with_its_line_number() {
    let text = format!("; MaxProcs: 4\n{GOOD_LINE}2 5 -1 10\n");
    let output = import_text("short.swf", &text, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("short.swf:3: too few fields"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn text_where_a_number_belongs_is_an_error_with_its_line_number() {
    let bad = GOOD_LINE.replace("1 0 -1 10 2", "2 5 -1 ten 2");
    let text = format!("; MaxProcs: 4\n{GOOD_LINE}{bad}");
    let output = import_text("text.swf", &text, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("text.swf:3: field 4 (run time) is `ten`"), "{stderr}");
}

/// A run time of 10^20 seconds would wrap the simulated clock: it is a bad line, named.
#[test]
fn a_time_beyond_a_century_is_an_error_with_its_line_number() {
    let bad = GOOD_LINE.replace("1 0 -1 10 2", "2 5 -1 99999999999999999999 2");
    let text = format!("; MaxProcs: 4\n{GOOD_LINE}{bad}");
    let output = import_text("long.swf", &text, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("long.swf:3: field 4 (run time)"), "{stderr}");
    assert!(stderr.contains("at most a century"), "{stderr}");
}

#[test]
fn skip_bad_lines_counts_what_it_skipped_and_why() {
    let text = "; MaxProcs: 4\n\
        1 0 -1 10 2 -1 -1 -1 -1 -1 1 1 1 -1 -1 -1 -1 -1\n\
        2 5 -1 10\n\
        3 5 -1 ten 2 -1 -1 -1 -1 -1 1 1 1 -1 -1 -1 -1 -1\n\
        4 6 -1 10 -1 -1 -1 -1 -1 -1 1 1 1 -1 -1 -1 -1 -1\n\
        5 7 -1 10 2 -1 -1 -1 -1 -1 1 1 1 -1 -1 -1 -1 -1\n";
    let output = import_text("mixed.swf", text, &["--skip-bad-lines"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("1 × bad line: too few fields (first at line 3)"), "{stderr}");
    assert!(
        stderr.contains("1 × bad line: text where a number belongs (first at line 4)"),
        "{stderr}"
    );
    assert!(stderr.contains("1 × no processor count"), "{stderr}");
    let yaml = String::from_utf8_lossy(&output.stdout);
    assert_eq!(yaml.matches("- { name: job-").count(), 2, "{yaml}");
}

#[test]
fn odd_lines_never_panic_the_reader() {
    let odd = [
        "1 0 -1 99999999999999999999999 1 -1 -1 -1 -1 -1 1 1 1 -1 -1 -1 -1 -1",
        "99999999999999999999999 0 -1 1 1 -1 -1 -1 -1 -1 1 1 1 -1 -1 -1 -1 -1",
        "2 0 -1 1 99999999999 -1 -1 -1 -1 99999999999999999 1 1 1 -1 -1 -1 -1 -1",
        "3 0 -1 1.5 2.5 -1 -1 -1 -1 -1 1 1 1 -1 -1 -1 -1 -1",
        "4 0 -1 nan 1 -1 -1 -1 -1 -1 1 1 1 -1 -1 -1 -1 -1",
        "5 1e3 -1 1 1 -1 -1 -1 -1 -1 1 1 1 -1 -1 -1 -1 -1",
        "6 0 -1 1 1 -1 -1 -1 -1 -1 1 1 1 -1 -1 -1 -1 -1 7",
        "7 -- -1 1 1 -1 -1 -1 -1 -1 1 1 1 -1 -1 -1 -1 -1",
        "8 0 -1 1 1 -1 -1 -1 -1 -1 1 1 1 -1 -1 -1 -1 ünïcode",
        "\u{0} \t",
    ];
    for (index, line) in odd.iter().enumerate() {
        let text = format!("; MaxProcs: 4\n{line}\n");
        for skip in [false, true] {
            let options = trace::swf::SwfOptions { skip_bad_lines: skip, ..Default::default() };
            let result = trace::swf::import(text.as_bytes(), "odd.swf", "odd", &options);
            if let Ok(imported) = &result {
                let _ = imported.to_yaml(Policy::Strict);
            }
            if !skip {
                let bad = result.as_ref().err().map(ToString::to_string).unwrap_or_default();
                assert!(result.is_ok() || bad.starts_with("odd.swf:2:"), "line {index}: {bad}");
            }
        }
    }
}

#[test]
fn a_header_without_max_procs_needs_a_size() {
    let output = import_text("nosize.swf", GOOD_LINE, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("MaxProcs"), "{stderr}");
    let output = import_text("nosize.swf", GOOD_LINE, &["--processors", "4"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn priority_rules_mark_jobs_high() {
    let text =
        format!("; MaxProcs: 4\n{GOOD_LINE}{}", GOOD_LINE.replace("1 0 -1 10 2", "2 1 -1 10 4"));
    let output = import_text("rule.swf", &text, &["--priority-rule", "size>=4"]);
    let yaml = String::from_utf8_lossy(&output.stdout);
    assert_eq!(yaml.matches("priority: high").count(), 1, "{yaml}");
    let output = import_text("rule.swf", &text, &["--priority-rule", "biggest"]);
    assert!(!output.status.success());
}

// ---------------------------------------------------------------------------------------------
// The Kubernetes trace.

fn openb() -> Imported {
    let nodes = data("alibaba-openb-2023/openb_node_list_all_node.csv");
    let pods = data("alibaba-openb-2023/openb_pod_list_default.csv");
    trace::k8s::import(
        trace::open_text(&nodes).expect("nodes open"),
        "nodes.csv",
        trace::open_text(&pods).expect("pods open"),
        "pods.csv",
        "openb",
        false,
    )
    .expect("the openb trace imports")
}

fn capacity(imported: &Imported) -> Resources {
    let mut total = Resources::ZERO.clone();
    for pool in &imported.pools {
        total.add(&pool.allocatable.times(pool.count));
    }
    total
}

#[test]
fn alibaba_openb_replay_places_every_pod_that_ran() {
    let imported = openb();
    assert_eq!(imported.pools.iter().map(|pool| pool.count).sum::<u32>(), 1523);
    assert_eq!(imported.jobs.len(), 7255);
    assert_eq!(imported.skipped.count_matching("never scheduled"), 897);
    let (records, seconds) = run(&imported.scenario(Policy::Strict));
    let placed = records.jobs.iter().filter(|job| job.started_ms.is_some()).count();
    assert_eq!(placed, 7255, "every pod the trace scheduled is placed");
    assert!(records.jobs.iter().all(|job| job.phase == Phase::Succeeded));

    let total = capacity(&imported);
    let day = 86_400_000;
    let usage = trace::utilisation_over_time(&records.jobs, &total, day, records.end_ms);
    let out = scratch("openb-utilisation.csv");
    let mut csv = String::from("day,cpu,memory,gpu\n");
    for sample in &usage {
        let gpu = sample.extended.first().map_or(0.0, |(_, share)| *share);
        csv.push_str(&format!(
            "{},{:.4},{:.4},{gpu:.4}\n",
            sample.at_ms / day,
            sample.cpu,
            sample.memory
        ));
    }
    std::fs::write(&out, csv).expect("utilisation written");
    let peak_gpu = usage
        .iter()
        .filter_map(|sample| sample.extended.first().map(|(_, share)| *share))
        .fold(0.0, f64::max);
    let busiest = usage.iter().map(|sample| sample.cpu).fold(0.0, f64::max);
    let waits: Vec<u64> = records.jobs.iter().filter_map(JobRecord::wait_ms).collect();
    let mean_wait_s = waits.iter().sum::<u64>() as f64 / waits.len() as f64 / 1000.0;
    println!(
        "openb: {} pods on 1523 nodes placed; mean wait {mean_wait_s:.1} s; daily peak \
         utilisation cpu {:.1}%, gpu {:.1}% ({} days in {}); simulated in {seconds:.3} s of CPU",
        placed,
        busiest * 100.0,
        peak_gpu * 100.0,
        usage.len(),
        out.display()
    );
    assert!(usage.iter().all(|sample| sample.cpu <= 1.0 && sample.memory <= 1.0));
    assert!(peak_gpu > 0.0);
}

#[test]
fn pods_larger_than_every_node_are_rejected_with_the_reason() {
    let pods = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,creation_time,deletion_time,scheduled_time\n\
                small,1000,1024,0,0,0,100,0\n\
                too-much-cpu,200000,1024,0,0,1,100,1\n\
                too-many-gpus,1000,1024,16,1000,2,100,2\n";
    let nodes = data("alibaba-openb-2023/openb_node_list_all_node.csv");
    let imported = trace::k8s::import(
        trace::open_text(&nodes).expect("nodes open"),
        "nodes.csv",
        pods.as_bytes(),
        "pods.csv",
        "big",
        false,
    )
    .expect("imports");
    assert!(imported.notes.iter().any(|note| note.starts_with("2 pods ask for more")));
    let (records, _) = run(&imported.scenario(Policy::Strict));
    let by_name: BTreeMap<&str, &JobRecord> =
        records.jobs.iter().map(|job| (job.name.as_ref(), job)).collect();
    assert_eq!(by_name["small"].phase, Phase::Succeeded);
    for (name, resource) in [("too-much-cpu", "cpu"), ("too-many-gpus", "alibaba.com/gpu-milli")] {
        let job = by_name[name];
        assert_eq!(job.phase, Phase::Rejected, "{name}");
        let reason = job.reason.as_deref().unwrap_or("");
        assert!(reason.contains(resource), "{name}: {reason}");
        println!("{name}: {reason}");
    }
}

#[test]
fn the_k8s_trace_imports_through_the_command_line() {
    let out = scratch("openb.yaml");
    let nodes = data("alibaba-openb-2023/openb_node_list_all_node.csv");
    let pods = data("alibaba-openb-2023/openb_pod_list_default.csv");
    let output = sparkq(&[
        "import",
        "k8s-trace",
        nodes.to_str().unwrap_or(""),
        pods.to_str().unwrap_or(""),
        "--inline",
        "--out",
        out.to_str().unwrap_or(""),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("897 × never scheduled in the trace"), "{stderr}");
    let scenario = Scenario::from_file(&out).expect("the imported scenario reads");
    let jobs: Vec<_> = scenario.arrivals().collect();
    assert_same_jobs(&jobs, &openb().scenario(Policy::Strict).arrivals().collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------------------------
// Clusters and Kubernetes quantities.

/// A Ready node labelled `tier: <name>-tier`.
fn node_json(name: &str, cpu: &str, memory: &str) -> String {
    format!(
        r#"{{"metadata": {{"name": "{name}", "labels": {{"kubernetes.io/hostname": "{name}", "tier": "{name}-tier"}}}},
            "status": {{"allocatable": {{"cpu": "{cpu}", "memory": "{memory}", "pods": "110",
            "ephemeral-storage": "100Gi", "hugepages-2Mi": "0"}},
            "conditions": [{{"type": "Ready", "status": "True"}}]}}}}"#
    )
}

fn node_list(nodes: &[String]) -> String {
    format!(r#"{{"apiVersion": "v1", "kind": "List", "items": [{}]}}"#, nodes.join(","))
}

#[test]
fn cluster_quantities_are_read_in_every_kubernetes_notation() {
    let cases = [
        ("a", "500m", "4Gi", 500, 4 << 30),
        ("b", "2", "4G", 2000, 4_000_000_000),
        ("c", "1.5", "128974848", 1500, 128_974_848),
        ("d", "2", "129e6", 2000, 129_000_000),
    ];
    let nodes: Vec<String> =
        cases.iter().map(|(name, cpu, memory, _, _)| node_json(name, cpu, memory)).collect();
    let cluster = trace::cluster::read_nodes(&node_list(&nodes), "nodes.json").expect("reads");
    for (name, _, _, cpu_millis, memory_bytes) in cases {
        let pool = cluster
            .pools
            .iter()
            .find(|pool| {
                let tier = format!("{name}-tier");
                pool.labels.iter().any(|(k, v)| k.as_ref() == "tier" && *v.as_ref() == tier)
            })
            .expect("one pool per node");
        assert_eq!(pool.allocatable.cpu_millis, cpu_millis, "{name}");
        assert_eq!(pool.allocatable.memory_bytes, memory_bytes, "{name}");
    }

    // The same through the command line, and back through the scenario reader.
    let path = scratch("nodes.json");
    std::fs::write(&path, node_list(&nodes)).expect("nodes written");
    let output = sparkq(&["import", "cluster", path.to_str().unwrap_or("")]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let yaml = String::from_utf8_lossy(&output.stdout);
    let scenario = Scenario::from_yaml(&yaml, "imported.yaml").expect("the scenario reads");
    assert_eq!(scenario.pools, cluster.pools);
}

#[test]
fn malformed_cluster_quantities_give_a_clear_error() {
    for (cpu, memory, field, shown) in [
        ("2", "4GiB", "memory", "`4GiB`"),
        ("-1", "4Gi", "cpu", "`-1`"),
        ("1e", "4Gi", "cpu", "`1e`"),
        ("2", "", "memory", "an empty string"),
    ] {
        let nodes = node_list(&[node_json("worker-7", cpu, memory)]);
        let error = trace::cluster::read_nodes(&nodes, "nodes.json").expect_err(field).to_string();
        let wanted = format!("nodes.json: node `worker-7`: status.allocatable.{field}: {shown}");
        assert!(error.starts_with(&wanted), "{error}");
        assert!(error.contains("expected") || error.contains("must not be negative"), "{error}");
        println!("{error}");

        let path = scratch("bad-nodes.json");
        std::fs::write(&path, &nodes).expect("nodes written");
        let output = sparkq(&["import", "cluster", path.to_str().unwrap_or("")]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success() && stderr.contains(shown), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn cluster_pods_become_background_load_and_cordoned_nodes_offer_nothing() {
    let mut cordoned = node_json("n3", "4", "16Gi");
    cordoned = cordoned.replacen(r#""status""#, r#""spec": {"unschedulable": true}, "status""#, 1);
    let nodes = node_list(&[
        node_json("n1", "4", "16Gi").replace(r#""tier": "n1-tier""#, r#""tier": "web""#),
        node_json("n2", "4", "16Gi").replace(r#""tier": "n2-tier""#, r#""tier": "web""#),
        cordoned.replace(r#""tier": "n3-tier""#, r#""tier": "web""#),
    ]);
    let pods = r#"{"items": [
        {"metadata": {"name": "a", "namespace": "x"}, "spec": {"nodeName": "n1",
         "containers": [{"name": "c", "resources": {"requests": {"cpu": "250m", "memory": "1Gi"}}},
                        {"name": "d", "resources": {"requests": {"cpu": "0.25", "memory": "512Mi"}}}],
         "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "1", "memory": "64Mi"}}}]},
         "status": {"phase": "Running"}},
        {"metadata": {"name": "b", "namespace": "x"}, "spec": {"nodeName": "n2",
         "containers": [{"name": "c", "resources": {"requests": {"cpu": "250m", "memory": "1Gi"}}},
                        {"name": "d", "resources": {"requests": {"cpu": "250m", "memory": "0.5Gi"}}}],
         "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "1000m", "memory": "64Mi"}}}]},
         "status": {"phase": "Running"}},
        {"metadata": {"name": "done", "namespace": "x"}, "spec": {"nodeName": "n1", "containers": []},
         "status": {"phase": "Succeeded"}},
        {"metadata": {"name": "waiting", "namespace": "x"}, "spec": {"containers": []},
         "status": {"phase": "Pending"}}
    ]}"#;
    let imported =
        trace::cluster::import(&nodes, "nodes.json", Some((pods, "pods.json")), "c").expect("ok");
    assert_eq!(imported.pools.len(), 1);
    assert_eq!(imported.pools[0].count, 3);
    assert_eq!(imported.cordoned, ["pool-2"]);
    assert_eq!(imported.background.len(), 1);
    let background = &imported.background[0];
    assert_eq!(background.count, 2);
    assert_eq!(
        (background.request.cpu_millis, background.request.memory_bytes),
        (1000, 1536 << 20)
    );
    assert_eq!(imported.skipped.total(), 2);

    let yaml = imported.to_yaml(Policy::Strict);
    let scenario = Scenario::from_yaml(&yaml, "cluster.yaml").expect("the scenario reads");
    assert_eq!(scenario.pools, imported.pools);
    assert_eq!(scenario.background, imported.background);
    let (records, _) = run(&scenario);
    let capacity_after_cordon = records.capacity.last().map(|sample| sample.capacity.cpu_millis);
    assert_eq!(capacity_after_cordon, Some(8000), "the cordoned node offers nothing: {yaml}");
}

// ---------------------------------------------------------------------------------------------
// A scenario that names its trace.

#[test]
fn a_scenario_naming_the_nasa_trace_runs_what_the_import_lists() {
    // `import swf --link` writes the cluster and names the trace; the run reads the trace itself.
    let out = scratch("nasa-linked.yaml");
    let trace_path = data("swf/NASA-iPSC-1993-3.1-cln.swf.gz");
    let output = sparkq(&[
        "import",
        "swf",
        trace_path.to_str().unwrap_or(""),
        "--priority-rule",
        "size>=32",
        "--link",
        "--out",
        out.to_str().unwrap_or(""),
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let written = std::fs::read_to_string(&out).expect("scenario written");
    assert!(written.contains("trace:"), "the scenario names the trace:\n{written}");
    assert!(!written.contains("\n  jobs:"), "and lists no jobs");

    let linked = Scenario::from_file(&out).expect("the linked scenario reads");
    let options = trace::swf::SwfOptions {
        priority_rule: "size>=32".parse().expect("a rule"),
        ..Default::default()
    };
    let lines = trace::open_text(&trace_path).expect("trace opens");
    let listed = trace::swf::import(lines, "nasa", "nasa", &options).expect("imports");
    let linked_jobs: Vec<Arrival> = linked.arrivals().collect();
    assert_same_jobs(&linked_jobs, &listed.scenario(Policy::Strict).arrivals().collect::<Vec<_>>());
    assert!(linked_jobs.iter().any(|job| job.spec.priority == sparkq_core::Priority::High));

    // The same run either way: every job starts and ends at the same instant.
    let (from_link, _) = run(&linked);
    let (from_list, _) = run(&listed.scenario(Policy::Strict));
    let times = |records: &RunRecords| -> Vec<(Option<u64>, Option<u64>)> {
        records.jobs.iter().map(|job| (job.started_ms, job.finished_ms)).collect()
    };
    assert_eq!(times(&from_link), times(&from_list));
}

#[test]
fn a_scenario_naming_a_missing_or_broken_trace_says_where() {
    let broken = scratch("broken.swf");
    std::fs::write(&broken, format!("; MaxProcs: 4\n{GOOD_LINE}2 5 -1 x 1\n")).expect("written");
    for (reference, expected) in [
        ("{ swf: no-such-trace.swf }", "no-such-trace.swf: cannot be read"),
        (&*format!("{{ swf: {} }}", broken.display()), ":3: too few fields"),
        ("{ swf: a.swf, k8s_pods: b.csv }", "expected exactly one of"),
    ] {
        let yaml = format!(
            "cluster:\n  pools:\n    - {{ name: p, count: 4, cpu: 1, memory: 4Gi }}\n\
             workload:\n  trace: {reference}\n"
        );
        let path = scratch("names-a-trace.yaml");
        std::fs::write(&path, &yaml).expect("written");
        let message = Scenario::from_file(&path).expect_err("a bad trace reference").to_string();
        assert!(message.contains("names-a-trace.yaml:5:"), "file and line: {message}");
        assert!(message.contains("trace"), "the field: {message}");
        assert!(message.contains(expected), "{expected:?} in {message}");
    }
}
