//! `sparkq simulate --metrics-out FILE`: a simulated run as OpenMetrics samples with
//! timestamps, under the metric names and labels of the live exporter
//! (`sparkq_adapter_k8s::metrics`), so that `promtool tsdb create-blocks-from openmetrics`
//! loads the run into Prometheus and the same dashboard shows it beside the live cluster.
//!
//! 1. Every series is a step function of simulated time, built from the run's records as
//!    changes `(time, delta)`: a job entering and leaving its queue, moving through its
//!    phases, holding its requests while admitted, each admission, rejection and wait.
//! 2. The step functions are sampled on a fixed grid (`--metrics-step`) from time 0 to the end
//!    of the run, as a scraper would see them.
//! 3. Time 0 maps to a fixed wall-clock instant (`--metrics-start`), so the same run always
//!    writes the same file.
//!
//! What the simulator does not model is left out rather than invented: the scheduling-cycle
//! duration (it is wall-clock time) and reservations (`kind="reserved"`). `sparkq_leader` is 1
//! throughout: the simulator is the one replica, and it leads.
//! `kind="requested"` counts the requests of the simulated Spark jobs only, not background pods.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};
use sparkq_core::{Flow, Millis, Phase, Priority};
use sparkq_sim::record::RunRecords;

/// The upper bounds of the exporter's wait-time buckets: 1 s doubling to 32768 s.
const WAIT_BUCKETS_SECONDS: [f64; 16] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0,
    16384.0, 32768.0,
];

/// How a run's time becomes wall-clock time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeline {
    /// The Unix time, in milliseconds, of the run's time 0.
    pub start_unix_ms: i64,
    /// The distance between two samples of a series, in milliseconds.
    pub step_ms: Millis,
}

/// Reads `--metrics-start`: Unix seconds (`1767225600`) or an RFC 3339 UTC instant
/// (`2026-01-01T00:00:00Z`, fractional seconds and `+HH:MM` offsets accepted).
pub fn parse_start(text: &str) -> Result<i64> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(seconds);
    }
    let bad = || {
        anyhow::anyhow!(
            "--metrics-start `{text}`: expected Unix seconds or an RFC 3339 time such as \
             2026-01-01T00:00:00Z"
        )
    };
    let (date, rest) = text.split_once(['T', 't', ' ']).ok_or_else(bad)?;
    let mut parts = date.splitn(3, '-').map(str::parse::<i64>);
    let (Some(Ok(year)), Some(Ok(month)), Some(Ok(day))) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let (clock, offset_seconds) = if let Some(clock) = rest.strip_suffix(['Z', 'z']) {
        (clock, 0)
    } else {
        let at = rest.rfind(['+', '-']).ok_or_else(bad)?;
        let (clock, offset) = rest.split_at(at);
        let sign = if offset.starts_with('-') { -1 } else { 1 };
        let (hours, minutes) = offset[1..].split_once(':').ok_or_else(bad)?;
        let hours: i64 = hours.parse().map_err(|_| bad())?;
        let minutes: i64 = minutes.parse().map_err(|_| bad())?;
        (clock, sign * (hours * 3600 + minutes * 60))
    };
    let clock = clock.split('.').next().unwrap_or(clock);
    let mut fields = clock.splitn(3, ':').map(str::parse::<i64>);
    let (Some(Ok(hour)), Some(Ok(minute)), Some(Ok(second))) =
        (fields.next(), fields.next(), fields.next())
    else {
        return Err(bad());
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return Err(bad());
    }
    let days = days_from_civil(year, month, day);
    Ok(days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds)
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    // Count years from March, so that the leap day ends a year.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Writes the run's metrics to `path`.
pub fn write(path: &Path, records: &RunRecords, timeline: Timeline) -> Result<()> {
    if timeline.step_ms == 0 {
        bail!("--metrics-step must be longer than 0");
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, render(records, timeline))
        .with_context(|| format!("writing the metrics to {}", path.display()))
}

/// A series' labels, in the order the exporter writes them.
type Labels = Vec<(&'static str, String)>;

/// The changes of every series of one metric family.
#[derive(Debug, Default)]
struct Deltas {
    series: BTreeMap<Labels, Vec<(Millis, f64)>>,
}

impl Deltas {
    fn add(&mut self, labels: Labels, at_ms: Millis, delta: f64) {
        self.series.entry(labels).or_default().push((at_ms, delta));
    }

    /// Makes a series exist from time 0 even if nothing ever changes it.
    fn declare(&mut self, labels: Labels) {
        self.series.entry(labels).or_default();
    }

    /// Each series' value at each grid time: the sum of the changes at or before it.
    fn sample(self, grid: &[Millis]) -> BTreeMap<Labels, Vec<f64>> {
        let mut sampled = BTreeMap::new();
        for (labels, mut changes) in self.series {
            changes.sort_by_key(|&(at, _)| at);
            let mut values = Vec::with_capacity(grid.len());
            let mut value = 0.0;
            let mut next = 0;
            for &t in grid {
                while next < changes.len() && changes[next].0 <= t {
                    value += changes[next].1;
                    next += 1;
                }
                values.push(value);
            }
            sampled.insert(labels, values);
        }
        sampled
    }
}

fn labels<const N: usize>(pairs: [(&'static str, &str); N]) -> Labels {
    pairs.into_iter().map(|(k, v)| (k, v.to_owned())).collect()
}

/// When a job stopped waiting in its queue, if it ever waited.
fn left_queue_ms(records: &RunRecords, job: &sparkq_sim::record::JobRecord) -> Millis {
    job.admitted_ms.or(job.finished_ms).unwrap_or(records.end_ms).max(job.submitted_ms)
}

/// The run as OpenMetrics text, ending with `# EOF`.
pub fn render(records: &RunRecords, timeline: Timeline) -> String {
    let step = timeline.step_ms.max(1);
    let mut grid: Vec<Millis> = (0..=records.end_ms / step).map(|i| i * step).collect();
    if grid.last() != Some(&records.end_ms) {
        grid.push(records.end_ms);
    }

    let mut out = String::new();
    let mut emit = |name: &str, kind: &str, help: &str, suffix: &str, family: Deltas| {
        write_family(&mut out, &grid, timeline, name, kind, help, suffix, family.sample(&grid));
    };

    emit("sparkq_queue_jobs", "gauge", "Jobs waiting, per priority", "", queue_lengths(records));
    emit(
        "sparkq_namespace_queue_jobs",
        "gauge",
        "Jobs waiting, per namespace and priority",
        "",
        namespace_queue_lengths(records),
    );
    emit(
        "sparkq_queue_head_age_seconds",
        "gauge",
        "How long the oldest waiting job of each priority has waited",
        "",
        head_ages(records, &grid),
    );
    emit(
        "sparkq_admissions",
        "counter",
        "Jobs admitted or launched, per priority and flow",
        "_total",
        admissions(records),
    );
    emit(
        "sparkq_rejections",
        "counter",
        "Jobs rejected, per reason",
        "_total",
        final_counts(records, Phase::Rejected, "never_fits"),
    );
    emit(
        "sparkq_cancellations",
        "counter",
        "Jobs cancelled, per reason",
        "_total",
        final_counts(records, Phase::Cancelled, "head_timeout"),
    );
    emit("sparkq_jobs", "gauge", "Jobs per phase", "", phases(records));
    let (cpu, memory) = cluster(records);
    emit("sparkq_cluster_cpu_cores", "gauge", "Cluster CPU by kind", "", cpu);
    emit("sparkq_cluster_memory_bytes", "gauge", "Cluster memory by kind", "", memory);
    let (cpu, memory) = usage(records);
    emit(
        "sparkq_usage_cpu_cores",
        "gauge",
        "CPU requested by sparkq jobs, per namespace, domain and priority",
        "",
        cpu,
    );
    emit(
        "sparkq_usage_memory_bytes",
        "gauge",
        "Memory requested by sparkq jobs, per namespace, domain and priority",
        "",
        memory,
    );
    let (cpu, memory) = per_job(records);
    emit("sparkq_job_cpu_cores", "gauge", "CPU requested by each admitted job", "", cpu);
    emit("sparkq_job_memory_bytes", "gauge", "Memory requested by each admitted job", "", memory);
    let (blocked, idle_cpu, idle_memory) = blocked(records, &grid);
    emit(
        "sparkq_head_blocked_seconds",
        "gauge",
        "How long the blocked head of each priority has been blocked",
        "",
        blocked,
    );
    emit(
        "sparkq_idle_cpu_cores_while_blocked",
        "gauge",
        "Free CPU while a queue head is blocked",
        "",
        idle_cpu,
    );
    emit(
        "sparkq_idle_memory_bytes_while_blocked",
        "gauge",
        "Free memory while a queue head is blocked",
        "",
        idle_memory,
    );
    // The simulator is the one replica, and it always leads: the dashboard and the alerts read
    // gauges from the leading replica only.
    let mut leader = Deltas::default();
    leader.add(Vec::new(), 0, 1.0);
    emit(
        "sparkq_leader",
        "gauge",
        "1 while this replica leads (always, in a simulation)",
        "",
        leader,
    );
    write_wait_histogram(&mut out, records, &grid, timeline);
    out.push_str("# EOF\n");
    out
}

fn queue_lengths(records: &RunRecords) -> Deltas {
    let mut family = Deltas::default();
    for priority in Priority::ALL {
        family.declare(labels([("priority", priority.as_str())]));
    }
    for job in &records.jobs {
        let left = left_queue_ms(records, job);
        if left > job.submitted_ms {
            let l = labels([("priority", job.priority.as_str())]);
            family.add(l.clone(), job.submitted_ms, 1.0);
            family.add(l, left, -1.0);
        }
    }
    family
}

fn namespace_queue_lengths(records: &RunRecords) -> Deltas {
    let mut family = Deltas::default();
    for job in &records.jobs {
        let left = left_queue_ms(records, job);
        if left > job.submitted_ms {
            let l = labels([("namespace", &job.namespace), ("priority", job.priority.as_str())]);
            family.add(l.clone(), job.submitted_ms, 1.0);
            family.add(l, left, -1.0);
        }
    }
    family
}

/// The age of the oldest waiting job per priority; computed point by point, then written as
/// changes so it goes through the same sampling as the rest.
fn head_ages(records: &RunRecords, grid: &[Millis]) -> Deltas {
    let mut family = Deltas::default();
    for priority in Priority::ALL {
        let mut waits: Vec<(Millis, Millis)> = records
            .jobs
            .iter()
            .filter(|j| j.priority == priority)
            .map(|j| (j.submitted_ms, left_queue_ms(records, j)))
            .filter(|(from, to)| to > from)
            .collect();
        waits.sort_unstable();
        let l = labels([("priority", priority.as_str())]);
        family.declare(l.clone());
        // Waiting jobs, ordered by (submission, leaving); the oldest still waiting is first.
        let mut waiting: std::collections::BTreeSet<(Millis, Millis, usize)> = Default::default();
        let mut next = 0;
        let mut previous = 0.0;
        for &t in grid {
            while next < waits.len() && waits[next].0 <= t {
                waiting.insert((waits[next].0, waits[next].1, next));
                next += 1;
            }
            waiting.retain(|&(_, to, _)| to > t);
            let age = waiting.first().map_or(0.0, |&(from, _, _)| (t - from) as f64 / 1000.0);
            family.add(l.clone(), t, age - previous);
            previous = age;
        }
    }
    family
}

fn admissions(records: &RunRecords) -> Deltas {
    let mut family = Deltas::default();
    for priority in Priority::ALL {
        for flow in [Flow::Orchestrated, Flow::Legacy] {
            family.declare(labels([("priority", priority.as_str()), ("flow", flow.as_str())]));
        }
    }
    for job in &records.jobs {
        if let Some(at) = job.admitted_ms {
            let l = labels([("priority", job.priority.as_str()), ("flow", job.flow.as_str())]);
            family.add(l, at, 1.0);
        }
    }
    family
}

/// A counter of the jobs that ended in `phase`, under the one reason the simulator gives it.
fn final_counts(records: &RunRecords, phase: Phase, reason: &str) -> Deltas {
    let mut family = Deltas::default();
    let l = labels([("reason", reason)]);
    family.declare(l.clone());
    for job in records.jobs.iter().filter(|j| j.phase == phase) {
        family.add(l.clone(), job.finished_ms.unwrap_or(job.submitted_ms), 1.0);
    }
    family
}

fn phases(records: &RunRecords) -> Deltas {
    let mut family = Deltas::default();
    for phase in Phase::ALL {
        family.declare(labels([("phase", phase.as_str())]));
    }
    for job in &records.jobs {
        let mut steps = vec![(job.submitted_ms, Phase::Queued)];
        if let Some(at) = job.admitted_ms {
            steps.push((at, Phase::Admitted));
        }
        if let Some(at) = job.started_ms {
            steps.push((at, Phase::Running));
        }
        if let Some(at) = job.finished_ms {
            steps.push((at, job.phase));
        }
        let mut current: Option<Phase> = None;
        for (at, phase) in steps {
            if let Some(previous) = current {
                family.add(labels([("phase", previous.as_str())]), at, -1.0);
            }
            family.add(labels([("phase", phase.as_str())]), at, 1.0);
            current = Some(phase);
        }
    }
    family
}

/// When a job holds its requests: from admission to its end (or the end of the run).
fn holding(records: &RunRecords, job: &sparkq_sim::record::JobRecord) -> Option<(Millis, Millis)> {
    let from = job.admitted_ms?;
    let to = job.finished_ms.unwrap_or(records.end_ms);
    (to > from).then_some((from, to))
}

fn cluster(records: &RunRecords) -> (Deltas, Deltas) {
    let mut cpu = Deltas::default();
    let mut memory = Deltas::default();
    let allocatable = labels([("kind", "allocatable")]);
    let requested = labels([("kind", "requested")]);
    cpu.declare(requested.clone());
    memory.declare(requested.clone());
    let (mut cpu_before, mut memory_before) = (0.0, 0.0);
    for sample in &records.capacity {
        let cores = sample.capacity.cpu_millis as f64 / 1000.0;
        let bytes = sample.capacity.memory_bytes as f64;
        cpu.add(allocatable.clone(), sample.at_ms, cores - cpu_before);
        memory.add(allocatable.clone(), sample.at_ms, bytes - memory_before);
        (cpu_before, memory_before) = (cores, bytes);
    }
    for job in &records.jobs {
        if let Some((from, to)) = holding(records, job) {
            let cores = job.request.cpu_millis as f64 / 1000.0;
            let bytes = job.request.memory_bytes as f64;
            cpu.add(requested.clone(), from, cores);
            cpu.add(requested.clone(), to, -cores);
            memory.add(requested.clone(), from, bytes);
            memory.add(requested.clone(), to, -bytes);
        }
    }
    (cpu, memory)
}

fn usage(records: &RunRecords) -> (Deltas, Deltas) {
    let mut cpu = Deltas::default();
    let mut memory = Deltas::default();
    for job in &records.jobs {
        if let Some((from, to)) = holding(records, job) {
            let l = labels([
                ("namespace", &job.namespace),
                ("domain", &job.domain),
                ("priority", job.priority.as_str()),
            ]);
            let cores = job.request.cpu_millis as f64 / 1000.0;
            let bytes = job.request.memory_bytes as f64;
            cpu.add(l.clone(), from, cores);
            cpu.add(l.clone(), to, -cores);
            memory.add(l.clone(), from, bytes);
            memory.add(l, to, -bytes);
        }
    }
    (cpu, memory)
}

/// Per-job usage. Like the exporter, a job's series exists only while it holds capacity: the
/// writer drops a per-job series' samples outside that time (see `write_family`).
fn per_job(records: &RunRecords) -> (Deltas, Deltas) {
    let mut cpu = Deltas::default();
    let mut memory = Deltas::default();
    for job in &records.jobs {
        if let Some((from, to)) = holding(records, job) {
            let l = labels([("namespace", &job.namespace), ("spark_job", &job.name)]);
            let cores = job.request.cpu_millis as f64 / 1000.0;
            let bytes = job.request.memory_bytes as f64;
            cpu.add(l.clone(), from, cores);
            cpu.add(l.clone(), to, -cores);
            memory.add(l.clone(), from, bytes);
            memory.add(l, to, -bytes);
        }
    }
    (cpu, memory)
}

/// How long each priority's head has been blocked, and the capacity left idle meanwhile (the
/// most that was free when any interval covering the instant began).
fn blocked(records: &RunRecords, grid: &[Millis]) -> (Deltas, Deltas, Deltas) {
    let mut seconds: BTreeMap<Priority, Vec<f64>> =
        Priority::ALL.iter().map(|&p| (p, vec![0.0; grid.len()])).collect();
    let mut idle_cpu = vec![0.0_f64; grid.len()];
    let mut idle_memory = vec![0.0_f64; grid.len()];
    for interval in &records.blocked {
        let first = grid.partition_point(|&t| t < interval.from_ms);
        let last = grid.partition_point(|&t| t < interval.to_ms);
        let values = seconds.entry(interval.priority).or_insert_with(|| vec![0.0; grid.len()]);
        for i in first..last {
            let blocked_for = (grid[i] - interval.from_ms) as f64 / 1000.0;
            values[i] = values[i].max(blocked_for);
            idle_cpu[i] = idle_cpu[i].max(interval.idle.cpu_millis as f64 / 1000.0);
            idle_memory[i] = idle_memory[i].max(interval.idle.memory_bytes as f64);
        }
    }
    let as_deltas = |family: &mut Deltas, l: Labels, values: &[f64]| {
        family.declare(l.clone());
        let mut previous = 0.0;
        for (&t, &value) in grid.iter().zip(values) {
            if value != previous {
                family.add(l.clone(), t, value - previous);
                previous = value;
            }
        }
    };
    let mut blocked_family = Deltas::default();
    for (priority, values) in &seconds {
        as_deltas(&mut blocked_family, labels([("priority", priority.as_str())]), values);
    }
    let mut cpu_family = Deltas::default();
    as_deltas(&mut cpu_family, Vec::new(), &idle_cpu);
    let mut memory_family = Deltas::default();
    as_deltas(&mut memory_family, Vec::new(), &idle_memory);
    (blocked_family, cpu_family, memory_family)
}

fn unix_seconds(timeline: Timeline, at_ms: Millis) -> String {
    let ms = timeline.start_unix_ms + at_ms as i64;
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

fn label_text(labels: &[(&'static str, String)], extra: Option<(&str, &str)>) -> String {
    let mut pairs: Vec<String> =
        labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
    if let Some((k, v)) = extra {
        pairs.push(format!("{k}=\"{v}\""));
    }
    if pairs.is_empty() { String::new() } else { format!("{{{}}}", pairs.join(",")) }
}

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[allow(clippy::too_many_arguments, reason = "one family's header and samples, written at once")]
fn write_family(
    out: &mut String,
    grid: &[Millis],
    timeline: Timeline,
    name: &str,
    kind: &str,
    help: &str,
    suffix: &str,
    series: BTreeMap<Labels, Vec<f64>>,
) {
    let _ = writeln!(out, "# TYPE {name} {kind}");
    let _ = writeln!(out, "# HELP {name} {help}");
    let per_job = series.keys().any(|l| l.iter().any(|(k, _)| *k == "spark_job"));
    for (labels, values) in &series {
        let labels = label_text(labels, None);
        for (&t, &value) in grid.iter().zip(values) {
            // A per-job series exists only while the job holds capacity.
            if per_job && value == 0.0 {
                continue;
            }
            let _ = writeln!(out, "{name}{suffix}{labels} {value} {}", unix_seconds(timeline, t));
        }
    }
}

/// `sparkq_job_wait_seconds`: one observation per orchestrated admission, as the exporter
/// makes them (legacy launches are counted as admissions but have no wait).
fn write_wait_histogram(
    out: &mut String,
    records: &RunRecords,
    grid: &[Millis],
    timeline: Timeline,
) {
    let name = "sparkq_job_wait_seconds";
    let _ = writeln!(out, "# TYPE {name} histogram");
    let _ = writeln!(out, "# HELP {name} Time from enqueue to admission, per priority");
    for priority in Priority::ALL {
        let mut waits: Vec<(Millis, f64)> = records
            .jobs
            .iter()
            .filter(|j| j.priority == priority && j.flow == Flow::Orchestrated)
            .filter_map(|j| Some((j.admitted_ms?, j.wait_ms()? as f64 / 1000.0)))
            .collect();
        waits.sort_by_key(|&(at, _)| at);
        let l = labels([("priority", priority.as_str())]);
        let mut counts = [0_u64; WAIT_BUCKETS_SECONDS.len()];
        let (mut count, mut sum) = (0_u64, 0.0_f64);
        let mut next = 0;
        for &t in grid {
            while next < waits.len() && waits[next].0 <= t {
                let wait = waits[next].1;
                for (bucket, &bound) in counts.iter_mut().zip(&WAIT_BUCKETS_SECONDS) {
                    if wait <= bound {
                        *bucket += 1;
                    }
                }
                count += 1;
                sum += wait;
                next += 1;
            }
            let at = unix_seconds(timeline, t);
            for (bucket, bound) in counts.iter().zip(WAIT_BUCKETS_SECONDS) {
                let le = format!("{bound:?}");
                let _ = writeln!(
                    out,
                    "{name}_bucket{} {bucket} {at}",
                    label_text(&l, Some(("le", &le)))
                );
            }
            let _ =
                writeln!(out, "{name}_bucket{} {count} {at}", label_text(&l, Some(("le", "+Inf"))));
            let _ = writeln!(out, "{name}_count{} {count} {at}", label_text(&l, None));
            let _ = writeln!(out, "{name}_sum{} {sum} {at}", label_text(&l, None));
        }
    }
}

#[cfg(test)]
mod tests {
    use sparkq_core::{JobId, Resources};
    use sparkq_sim::record::{BlockedInterval, CapacitySample, JobRecord};

    use super::*;

    /// 2026-01-01T00:00:00Z, the default `--metrics-start`.
    const DEFAULT_START_UNIX_SECONDS: i64 = 1_767_225_600;

    #[test]
    fn start_times_read_as_unix_seconds_or_rfc_3339() {
        assert_eq!(parse_start("1767225600").ok(), Some(DEFAULT_START_UNIX_SECONDS));
        assert_eq!(parse_start("2026-01-01T00:00:00Z").ok(), Some(DEFAULT_START_UNIX_SECONDS));
        assert_eq!(parse_start("2026-01-01T01:30:00+01:30").ok(), Some(DEFAULT_START_UNIX_SECONDS));
        assert_eq!(parse_start("2024-02-29T12:00:00.5Z").ok(), Some(1_709_208_000));
        assert!(parse_start("yesterday").is_err());
    }

    fn job(id: u64, priority: Priority, times: [Option<Millis>; 4], phase: Phase) -> JobRecord {
        let [submitted, admitted, started, finished] = times;
        JobRecord {
            id: JobId(id),
            name: format!("job-{id}").into(),
            namespace: "team".into(),
            domain: "reports".into(),
            priority,
            flow: Flow::Orchestrated,
            submitted_ms: submitted.unwrap_or(0),
            admitted_ms: admitted,
            started_ms: started,
            finished_ms: finished,
            phase,
            reason: None,
            run_ms: 60_000,
            request: Resources { cpu_millis: 3000, memory_bytes: 1 << 30, ..Resources::default() },
            never_progressed: false,
        }
    }

    /// A high job runs first for a minute while a normal one waits behind it, blocked.
    #[test]
    fn a_short_run_gives_the_exporters_series_at_each_step() {
        let s = |seconds: u64| Some(seconds * 1000);
        let records = RunRecords {
            jobs: vec![
                job(1, Priority::High, [s(0), s(0), s(0), s(60)], Phase::Succeeded),
                job(2, Priority::Normal, [s(0), s(60), s(60), s(120)], Phase::Succeeded),
            ],
            blocked: vec![BlockedInterval {
                namespace: None,
                priority: Priority::Normal,
                job: JobId(2),
                from_ms: 0,
                to_ms: 60_000,
                reason: "insufficient cpu".into(),
                idle: Resources { cpu_millis: 1000, memory_bytes: 3 << 30, ..Resources::default() },
            }],
            capacity: vec![CapacitySample {
                at_ms: 0,
                capacity: Resources {
                    cpu_millis: 4000,
                    memory_bytes: 16 << 30,
                    ..Resources::default()
                },
            }],
            end_ms: 120_000,
        };
        let text = render(&records, Timeline { start_unix_ms: 1_000_000_000_000, step_ms: 30_000 });
        for line in [
            r#"sparkq_queue_jobs{priority="normal"} 1 1000000030.000"#,
            r#"sparkq_queue_jobs{priority="normal"} 0 1000000060.000"#,
            r#"sparkq_queue_head_age_seconds{priority="normal"} 30 1000000030.000"#,
            r#"sparkq_head_blocked_seconds{priority="normal"} 30 1000000030.000"#,
            r#"sparkq_head_blocked_seconds{priority="normal"} 0 1000000060.000"#,
            r#"sparkq_idle_cpu_cores_while_blocked 1 1000000030.000"#,
            r#"sparkq_admissions_total{priority="high",flow="orchestrated"} 1 1000000000.000"#,
            r#"sparkq_admissions_total{priority="normal",flow="orchestrated"} 1 1000000060.000"#,
            r#"sparkq_job_wait_seconds_bucket{priority="normal",le="32.0"} 0 1000000060.000"#,
            r#"sparkq_job_wait_seconds_bucket{priority="normal",le="64.0"} 1 1000000060.000"#,
            r#"sparkq_job_wait_seconds_sum{priority="normal"} 60 1000000060.000"#,
            r#"sparkq_cluster_cpu_cores{kind="allocatable"} 4 1000000090.000"#,
            r#"sparkq_cluster_cpu_cores{kind="requested"} 3 1000000090.000"#,
            r#"sparkq_usage_cpu_cores{namespace="team",domain="reports",priority="normal"} 3 1000000090.000"#,
            r#"sparkq_job_cpu_cores{namespace="team",spark_job="job-2"} 3 1000000090.000"#,
            r#"sparkq_jobs{phase="succeeded"} 2 1000000120.000"#,
            r#"sparkq_leader 1 1000000120.000"#,
        ] {
            assert!(text.lines().any(|l| l == line), "missing `{line}` in:\n{text}");
        }
        // Per-job series exist only while the job holds capacity.
        assert!(!text.contains(r#"spark_job="job-2"} 3 1000000030.000"#));
        assert!(text.ends_with("# EOF\n"));
    }
}
