//! The Prometheus metrics of SPEC §7, with the `sparkq_` prefix, units in the names and
//! `_total` on counters. Labels stay low in cardinality: priority, namespace, domain, reason,
//! phase; the `spark_job` label appears only on the per-job usage gauges, which hold admitted
//! and running jobs only and so are bounded by what the cluster can run at once. It is not
//! called `job`: Prometheus gives every scraped series a `job` label of its own (the scrape
//! job), which would override ours.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label pairs, in a fixed order per metric.
pub type Labels = Vec<(&'static str, String)>;
type FloatGauge = Gauge<f64, AtomicU64>;
type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

fn wait_buckets() -> Histogram {
    // 1 s to about 9 h.
    Histogram::new(exponential_buckets(1.0, 2.0, 16))
}

fn cycle_buckets() -> Histogram {
    // 50 µs to about 1.6 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// Every metric the adapter exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    pub queue_jobs: Family<Labels, Gauge>,
    pub namespace_queue_jobs: Family<Labels, Gauge>,
    pub queue_head_age_seconds: Family<Labels, FloatGauge>,
    pub job_wait_seconds: HistogramFamily,
    pub admissions: Family<Labels, Counter>,
    pub rejections: Family<Labels, Counter>,
    pub cancellations: Family<Labels, Counter>,
    pub jobs: Family<Labels, Gauge>,
    pub cluster_cpu_cores: Family<Labels, FloatGauge>,
    pub cluster_memory_bytes: Family<Labels, Gauge>,
    pub usage_cpu_cores: Family<Labels, FloatGauge>,
    pub usage_memory_bytes: Family<Labels, Gauge>,
    pub job_cpu_cores: Family<Labels, FloatGauge>,
    pub job_memory_bytes: Family<Labels, Gauge>,
    pub cycle_duration_seconds: Histogram,
    pub head_blocked_seconds: Family<Labels, FloatGauge>,
    pub idle_cpu_cores_while_blocked: FloatGauge,
    pub idle_memory_bytes_while_blocked: Gauge,
    pub leader: Gauge,
}

/// The names of every exported metric family, as they appear in the exposition.
pub const METRIC_NAMES: &[&str] = &[
    "sparkq_queue_jobs",
    "sparkq_namespace_queue_jobs",
    "sparkq_queue_head_age_seconds",
    "sparkq_job_wait_seconds",
    "sparkq_admissions_total",
    "sparkq_rejections_total",
    "sparkq_cancellations_total",
    "sparkq_jobs",
    "sparkq_cluster_cpu_cores",
    "sparkq_cluster_memory_bytes",
    "sparkq_usage_cpu_cores",
    "sparkq_usage_memory_bytes",
    "sparkq_job_cpu_cores",
    "sparkq_job_memory_bytes",
    "sparkq_scheduling_cycle_duration_seconds",
    "sparkq_head_blocked_seconds",
    "sparkq_idle_cpu_cores_while_blocked",
    "sparkq_idle_memory_bytes_while_blocked",
    "sparkq_leader",
];

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        let metrics = Metrics {
            registry: Mutex::new(Registry::with_prefix("sparkq")),
            queue_jobs: Family::default(),
            namespace_queue_jobs: Family::default(),
            queue_head_age_seconds: Family::default(),
            job_wait_seconds: Family::new_with_constructor(wait_buckets),
            admissions: Family::default(),
            rejections: Family::default(),
            cancellations: Family::default(),
            jobs: Family::default(),
            cluster_cpu_cores: Family::default(),
            cluster_memory_bytes: Family::default(),
            usage_cpu_cores: Family::default(),
            usage_memory_bytes: Family::default(),
            job_cpu_cores: Family::default(),
            job_memory_bytes: Family::default(),
            cycle_duration_seconds: cycle_buckets(),
            head_blocked_seconds: Family::default(),
            idle_cpu_cores_while_blocked: FloatGauge::default(),
            idle_memory_bytes_while_blocked: Gauge::default(),
            leader: Gauge::default(),
        };
        {
            let mut r = lock(&metrics.registry);
            r.register("queue_jobs", "Jobs waiting, per priority", metrics.queue_jobs.clone());
            r.register(
                "namespace_queue_jobs",
                "Jobs waiting, per namespace and priority",
                metrics.namespace_queue_jobs.clone(),
            );
            r.register(
                "queue_head_age_seconds",
                "Time the oldest queued job of each priority has waited",
                metrics.queue_head_age_seconds.clone(),
            );
            r.register(
                "job_wait_seconds",
                "Time from enqueue to admission, per priority",
                metrics.job_wait_seconds.clone(),
            );
            r.register(
                "admissions",
                "Jobs admitted or launched, per priority and flow",
                metrics.admissions.clone(),
            );
            r.register("rejections", "Jobs rejected, per reason", metrics.rejections.clone());
            r.register(
                "cancellations",
                "Jobs cancelled, per reason",
                metrics.cancellations.clone(),
            );
            r.register("jobs", "Jobs known to the controller, per phase", metrics.jobs.clone());
            r.register(
                "cluster_cpu_cores",
                "Cluster CPU: allocatable (schedulable nodes), requested (bound pods), reserved (admitted jobs' pods not yet seen)",
                metrics.cluster_cpu_cores.clone(),
            );
            r.register(
                "cluster_memory_bytes",
                "Cluster memory: allocatable, requested, reserved",
                metrics.cluster_memory_bytes.clone(),
            );
            r.register(
                "usage_cpu_cores",
                "CPU requested by the bound pods of sparkq jobs, per namespace, domain and priority",
                metrics.usage_cpu_cores.clone(),
            );
            r.register(
                "usage_memory_bytes",
                "Memory requested by the bound pods of sparkq jobs, per namespace, domain and priority",
                metrics.usage_memory_bytes.clone(),
            );
            r.register(
                "job_cpu_cores",
                "CPU requested by each admitted or running job's bound pods",
                metrics.job_cpu_cores.clone(),
            );
            r.register(
                "job_memory_bytes",
                "Memory requested by each admitted or running job's bound pods",
                metrics.job_memory_bytes.clone(),
            );
            r.register(
                "scheduling_cycle_duration_seconds",
                "Duration of one scheduling cycle",
                metrics.cycle_duration_seconds.clone(),
            );
            r.register(
                "head_blocked_seconds",
                "How long the blocked head of each priority has been blocked",
                metrics.head_blocked_seconds.clone(),
            );
            r.register(
                "idle_cpu_cores_while_blocked",
                "Free CPU on schedulable nodes while a queue head is blocked (0 when none is)",
                metrics.idle_cpu_cores_while_blocked.clone(),
            );
            r.register(
                "idle_memory_bytes_while_blocked",
                "Free memory on schedulable nodes while a queue head is blocked (0 when none is)",
                metrics.idle_memory_bytes_while_blocked.clone(),
            );
            r.register(
                "leader",
                "1 while this replica holds the lease and dispatches",
                metrics.leader.clone(),
            );
        }
        Arc::new(metrics)
    }

    /// The exposition in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(error) = encode(&mut out, &lock(&self.registry)) {
            tracing::warn!(%error, "encoding metrics failed");
        }
        out
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Label pairs from `(name, value)`s.
pub fn labels<const N: usize>(pairs: [(&'static str, &str); N]) -> Labels {
    pairs.into_iter().map(|(k, v)| (k, v.to_owned())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_name_is_in_the_exposition() {
        let m = Metrics::new();
        let p = labels([("priority", "high")]);
        m.queue_jobs.get_or_create(&p).set(2);
        m.namespace_queue_jobs
            .get_or_create(&labels([("namespace", "a"), ("priority", "high")]))
            .set(2);
        m.queue_head_age_seconds.get_or_create(&p).set(1.5);
        m.job_wait_seconds.get_or_create(&p).observe(3.0);
        m.admissions.get_or_create(&labels([("priority", "high"), ("flow", "orchestrated")])).inc();
        m.rejections.get_or_create(&labels([("reason", "invalid")])).inc();
        m.cancellations.get_or_create(&labels([("reason", "deleted")])).inc();
        m.jobs.get_or_create(&labels([("phase", "queued")])).set(1);
        m.cluster_cpu_cores.get_or_create(&labels([("kind", "allocatable")])).set(4.0);
        m.cluster_memory_bytes.get_or_create(&labels([("kind", "allocatable")])).set(1 << 30);
        let usage = labels([("namespace", "a"), ("domain", "d"), ("priority", "high")]);
        m.usage_cpu_cores.get_or_create(&usage).set(1.0);
        m.usage_memory_bytes.get_or_create(&usage).set(1);
        let job = labels([("namespace", "a"), ("spark_job", "j")]);
        m.job_cpu_cores.get_or_create(&job).set(1.0);
        m.job_memory_bytes.get_or_create(&job).set(1);
        m.cycle_duration_seconds.observe(0.001);
        m.head_blocked_seconds.get_or_create(&p).set(0.0);
        let text = m.encode();
        for name in METRIC_NAMES {
            assert!(
                text.lines().any(|l| l.starts_with(name) && !l.starts_with('#')),
                "{name} has no sample in:\n{text}"
            );
        }
        assert!(text.contains("sparkq_job_wait_seconds_bucket{"), "{text}");
        assert!(text.trim_end().ends_with("# EOF"));
    }
}
