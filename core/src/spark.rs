//! Spark's own arithmetic for the pods of an application on Kubernetes.
//!
//! sparkq admits a job only when its driver and executors fit, so it must reserve exactly what
//! Spark will request from the API server: a few MiB short and an admitted job leaves an
//! executor pending; a few MiB over and a job that fits waits for nothing. This module is the one
//! place where Spark settings become pod requests (SPEC §2). The simulator and the live adapter
//! both call [`job_pods`], so they cannot disagree.
//!
//! Settings are modelled in Spark's terms, already parsed ([`crate::quantity`] reads the text),
//! and the rules are Spark's on Kubernetes, 3.x and 4.x alike:
//!
//! 1. CPU request: `spark.kubernetes.{driver,executor}.request.cores` if set, else
//!    `spark.{driver,executor}.cores` whole cores (`BasicDriverFeatureStep`,
//!    `BasicExecutorFeatureStep`).
//! 2. Memory overhead: `spark.{driver,executor}.memoryOverhead` if set, else
//!    `max(factor × heap, minimum)`, the product truncated to whole MiB. The factor is
//!    `spark.{driver,executor}.memoryOverheadFactor` if set, else 0.1 for JVM applications and
//!    0.4 for Python and R ones; the minimum is `spark.{driver,executor}.minMemoryOverhead`
//!    (Spark 4), 384 MiB by default and in Spark 3.
//! 3. Driver memory: heap + overhead. Spark adds neither off-heap nor PySpark memory to the
//!    driver's pod, in 3.x or 4.x.
//! 4. Executor memory: heap + overhead + off-heap (when `spark.memory.offHeap.enabled`) +
//!    `spark.executor.pyspark.memory` (Python applications only), as
//!    `ResourceProfile.getResourcesForClusterManager` totals it.
//! 5. Pod request (Kubernetes): the larger of the Spark container and the largest init
//!    container, resource by resource, plus the RuntimeClass's pod overhead, plus one pod slot.
//! 6. Executors counted at admission: `spark.executor.instances` (default 2); with dynamic
//!    allocation, the initial target `max(minExecutors, initialExecutors, instances)`, where
//!    unset instances count as 0 (`Utils.getDynamicAllocationInitialExecutors`).
//!
//! Spark asks Kubernetes for memory as `<MiB>Mi`, so requests are whole MiB, stored in bytes.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::job::JobPods;
use crate::resources::Resources;

/// `spark.{driver,executor}.cores` when unset.
pub const DEFAULT_CORES: u32 = 1;

/// `spark.{driver,executor}.memory` when unset: `1g`.
pub const DEFAULT_MEMORY_MIB: i64 = 1024;

/// The overhead floor: `ResourceProfile.MEMORY_OVERHEAD_MIN_MIB` in Spark 3, the default of
/// `spark.{driver,executor}.minMemoryOverhead` in Spark 4.
pub const DEFAULT_MIN_MEMORY_OVERHEAD_MIB: i64 = 384;

/// The overhead factor of JVM applications when none is set.
pub const JVM_MEMORY_OVERHEAD_FACTOR: f64 = 0.1;

/// The overhead factor of Python and R applications when none is set
/// (`Constants.NON_JVM_MEMORY_OVERHEAD_FACTOR`).
pub const NON_JVM_MEMORY_OVERHEAD_FACTOR: f64 = 0.4;

/// `spark.executor.instances` on Kubernetes without dynamic allocation, when unset
/// (`SchedulerBackendUtils.DEFAULT_NUMBER_EXECUTORS`).
pub const DEFAULT_EXECUTOR_INSTANCES: u32 = 2;

const MIB_BYTES: i64 = 1 << 20;
const MILLIS_PER_CORE: i64 = 1000;

/// The language of the application's main resource, which sets Spark's default overhead factor
/// and whether PySpark memory counts.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum AppKind {
    #[default]
    Jvm,
    Python,
    R,
}

impl AppKind {
    /// The overhead factor Spark uses when the application sets none.
    pub fn default_memory_overhead_factor(self) -> f64 {
        match self {
            AppKind::Jvm => JVM_MEMORY_OVERHEAD_FACTOR,
            AppKind::Python | AppKind::R => NON_JVM_MEMORY_OVERHEAD_FACTOR,
        }
    }
}

/// The settings of one kind of pod, the driver or the executors, under Spark's names with the
/// `spark.driver.` or `spark.executor.` prefix. Unset options take Spark's defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SparkPodConf {
    /// `cores`.
    pub cores: u32,
    /// `spark.kubernetes.{driver,executor}.request.cores`, parsed as a Kubernetes quantity.
    pub request_cores_millis: Option<i64>,
    /// `memory`: the JVM heap.
    pub memory_mib: i64,
    /// `memoryOverhead`.
    pub memory_overhead_mib: Option<i64>,
    /// `memoryOverheadFactor`.
    pub memory_overhead_factor: Option<f64>,
    /// `minMemoryOverhead` (Spark 4).
    pub min_memory_overhead_mib: Option<i64>,
    /// `resource.<name>.amount` under the Kubernetes name `<vendor>/<name>`, such as
    /// `nvidia.com/gpu`.
    pub extended: Vec<(Arc<str>, i64)>,
}

impl Default for SparkPodConf {
    fn default() -> SparkPodConf {
        SparkPodConf {
            cores: DEFAULT_CORES,
            request_cores_millis: None,
            memory_mib: DEFAULT_MEMORY_MIB,
            memory_overhead_mib: None,
            memory_overhead_factor: None,
            min_memory_overhead_mib: None,
            extended: Vec::new(),
        }
    }
}

impl SparkPodConf {
    /// The CPU request: `request.cores` if set, else `cores` whole cores.
    pub fn cpu_millis(&self) -> i64 {
        self.request_cores_millis.unwrap_or(i64::from(self.cores) * MILLIS_PER_CORE)
    }

    /// The memory overhead: `memoryOverhead` if set, else `max(factor × heap, minimum)`.
    ///
    /// Spark computes `(factor * heapMiB).toInt` in doubles; Rust's `as` truncates towards zero
    /// and saturates exactly like the JVM's double-to-int conversion, so the same factor gives
    /// the same MiB (0.1 × 4096 = 409.6 is 409).
    pub fn memory_overhead_mib(&self, kind: AppKind) -> i64 {
        if let Some(explicit) = self.memory_overhead_mib {
            return explicit;
        }
        let factor = self.memory_overhead_factor.unwrap_or(kind.default_memory_overhead_factor());
        let minimum = self.min_memory_overhead_mib.unwrap_or(DEFAULT_MIN_MEMORY_OVERHEAD_MIB);
        let factored = i64::from((factor * self.memory_mib as f64) as i32);
        factored.max(minimum)
    }
}

/// Dynamic allocation settings (`spark.dynamicAllocation.*`). Unset, `minExecutors` is 0,
/// `initialExecutors` falls back to `minExecutors`, and `maxExecutors` is unbounded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct DynamicAllocation {
    pub initial_executors: Option<u32>,
    pub min_executors: Option<u32>,
    pub max_executors: Option<u32>,
}

/// One Spark application's resource settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SparkApp {
    pub kind: AppKind,
    pub driver: SparkPodConf,
    pub executor: SparkPodConf,
    /// `spark.executor.instances`.
    pub executor_instances: Option<u32>,
    /// Present when `spark.dynamicAllocation.enabled` is true.
    pub dynamic_allocation: Option<DynamicAllocation>,
    /// `spark.memory.offHeap.size` in MiB, present when `spark.memory.offHeap.enabled` is true
    /// (see [`crate::quantity::parse_spark_offheap_mib`]: a bare number there is bytes).
    pub offheap_mib: Option<i64>,
    /// `spark.executor.pyspark.memory`.
    pub pyspark_memory_mib: Option<i64>,
    /// The pod overhead of the pods' RuntimeClass, added to every pod's request.
    pub pod_overhead: Option<Resources>,
    /// Requests of the driver pod's init containers (from a pod template).
    pub driver_init_containers: Vec<Resources>,
    /// Requests of each executor pod's init containers (from a pod template).
    pub executor_init_containers: Vec<Resources>,
}

/// The driver's heap plus overhead, in MiB. Off-heap and PySpark memory are executor-only.
pub fn driver_memory_mib(app: &SparkApp) -> i64 {
    app.driver.memory_mib.saturating_add(app.driver.memory_overhead_mib(app.kind))
}

/// An executor's heap, overhead, off-heap and (Python only) PySpark memory, in MiB.
pub fn executor_memory_mib(app: &SparkApp) -> i64 {
    let pyspark_mib = match app.kind {
        AppKind::Python => app.pyspark_memory_mib.unwrap_or(0),
        AppKind::Jvm | AppKind::R => 0,
    };
    app.executor
        .memory_mib
        .saturating_add(app.executor.memory_overhead_mib(app.kind))
        .saturating_add(app.offheap_mib.unwrap_or(0))
        .saturating_add(pyspark_mib)
}

/// The driver pod's request.
pub fn driver_pod(app: &SparkApp) -> Resources {
    pod_request(&app.driver, driver_memory_mib(app), &app.driver_init_containers, app)
}

/// One executor pod's request.
pub fn executor_pod(app: &SparkApp) -> Resources {
    pod_request(&app.executor, executor_memory_mib(app), &app.executor_init_containers, app)
}

/// The executors a job needs at admission: `spark.executor.instances` (default 2) without
/// dynamic allocation; with it, Spark's initial target
/// `max(minExecutors, initialExecutors, instances)`, unset values counting as 0.
pub fn counted_executors(app: &SparkApp) -> u32 {
    match &app.dynamic_allocation {
        None => app.executor_instances.unwrap_or(DEFAULT_EXECUTOR_INSTANCES),
        Some(dynamic) => {
            let min = dynamic.min_executors.unwrap_or(0);
            let initial = dynamic.initial_executors.unwrap_or(min);
            min.max(initial).max(app.executor_instances.unwrap_or(0))
        }
    }
}

/// What a job needs at admission: the driver's request, one executor's request, and the number
/// of executors counted. The one function the simulator and the live adapter both call.
pub fn job_pods(app: &SparkApp) -> JobPods {
    JobPods {
        driver: driver_pod(app),
        executor: executor_pod(app),
        executors: counted_executors(app),
    }
}

/// Kubernetes' effective pod request: the Spark container against the largest init container,
/// resource by resource, then the pod overhead, then one pod slot.
fn pod_request(
    conf: &SparkPodConf,
    memory_mib: i64,
    init_containers: &[Resources],
    app: &SparkApp,
) -> Resources {
    let mut spark_container = Resources {
        cpu_millis: conf.cpu_millis(),
        memory_bytes: memory_mib.saturating_mul(MIB_BYTES),
        pods: 0,
        extended: Vec::new(),
    };
    for (name, amount) in &conf.extended {
        spark_container = spark_container.with_extended(name.clone(), *amount);
    }

    // Called by path: `request.max(..)` on a value would pick `Ord::max` instead.
    let mut request = init_containers.iter().fold(spark_container, |request, init| {
        Resources::max_each(&request, &without_pod_slot(init))
    });
    if let Some(overhead) = &app.pod_overhead {
        request.add(&without_pod_slot(overhead));
    }
    request.pods = 1;
    request
}

/// Containers and overheads hold no pod slot; a caller may have built them with
/// [`Resources::pod`], which adds one.
fn without_pod_slot(resources: &Resources) -> Resources {
    Resources { pods: 0, ..resources.clone() }
}

/// A setting Spark would refuse at submission or start-up, so the job could never run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{key} = {value} is invalid: {reason}")]
pub struct SparkAppError {
    pub key: String,
    pub value: String,
    pub reason: &'static str,
}

impl SparkAppError {
    fn new(key: impl Into<String>, value: impl fmt::Display, reason: &'static str) -> Self {
        SparkAppError { key: key.into(), value: value.to_string(), reason }
    }
}

/// Checks the settings Spark itself checks before it creates any pod, and the amounts no pod can
/// request. A job that fails here should be rejected at submission, not queued.
pub fn validate(app: &SparkApp) -> Result<(), SparkAppError> {
    validate_pod("spark.driver", &app.driver)?;
    validate_pod("spark.executor", &app.executor)?;

    // Utils.checkOffHeapEnabled: the size must be positive when off-heap memory is enabled.
    if let Some(offheap_mib) = app.offheap_mib
        && offheap_mib <= 0
    {
        return Err(SparkAppError::new(
            "spark.memory.offHeap.size",
            format!("{offheap_mib}m"),
            "must be positive when spark.memory.offHeap.enabled is true",
        ));
    }
    if let Some(pyspark_mib) = app.pyspark_memory_mib
        && pyspark_mib < 0
    {
        return Err(SparkAppError::new(
            "spark.executor.pyspark.memory",
            format!("{pyspark_mib}m"),
            "must not be negative",
        ));
    }

    // ExecutorAllocationManager.validateSettings rejects a zero maximum and a minimum above the
    // maximum; SchedulerBackendUtils.getInitialTargetExecutorNumber requires the initial target
    // to lie between them.
    if let Some(dynamic) = &app.dynamic_allocation
        && let Some(max) = dynamic.max_executors
    {
        if max == 0 {
            return Err(SparkAppError::new(
                "spark.dynamicAllocation.maxExecutors",
                max,
                "must be at least 1",
            ));
        }
        let initial = counted_executors(app);
        if initial > max {
            return Err(SparkAppError::new(
                "spark.dynamicAllocation.maxExecutors",
                max,
                "must be at least the initial executor count, the largest of minExecutors, \
                 initialExecutors and spark.executor.instances",
            ));
        }
    }
    // Not Spark's own limit but sparkq's: no cluster holds more pods than this, and a count
    // near `u32::MAX` would overflow the pod count.
    let counted = counted_executors(app);
    if counted > MAX_EXECUTORS {
        return Err(SparkAppError::new(
            "spark.executor.instances",
            counted,
            "is more than the 100000 executors sparkq counts for one job",
        ));
    }
    Ok(())
}

/// The most executors one job may count at admission (the message above names it).
pub const MAX_EXECUTORS: u32 = 100_000;

fn validate_pod(prefix: &str, conf: &SparkPodConf) -> Result<(), SparkAppError> {
    if conf.cores == 0 {
        return Err(SparkAppError::new(format!("{prefix}.cores"), 0, "must be at least 1"));
    }
    if let Some(millis) = conf.request_cores_millis
        && millis <= 0
    {
        let key = format!("spark.kubernetes.{}.request.cores", role(prefix));
        return Err(SparkAppError::new(key, format!("{millis}m"), "must be positive"));
    }
    if conf.memory_mib <= 0 {
        let value = format!("{}m", conf.memory_mib);
        return Err(SparkAppError::new(format!("{prefix}.memory"), value, "must be positive"));
    }
    let non_negative = [
        ("memoryOverhead", conf.memory_overhead_mib),
        ("minMemoryOverhead", conf.min_memory_overhead_mib),
    ];
    for (name, value) in non_negative {
        if let Some(mib) = value
            && mib < 0
        {
            let key = format!("{prefix}.{name}");
            return Err(SparkAppError::new(key, format!("{mib}m"), "must not be negative"));
        }
    }
    // Spark's config check: the factor must be a number greater than zero.
    if let Some(factor) = conf.memory_overhead_factor
        && !(factor.is_finite() && factor > 0.0)
    {
        let key = format!("{prefix}.memoryOverheadFactor");
        return Err(SparkAppError::new(key, factor, "must be a number greater than 0"));
    }
    if let Some((name, amount)) = conf.extended.iter().find(|(_, amount)| *amount < 0) {
        let key = format!("{prefix} resource {name}");
        return Err(SparkAppError::new(key, amount, "must not be negative"));
    }
    Ok(())
}

/// `driver` or `executor`, from a `spark.driver` or `spark.executor` prefix.
fn role(prefix: &str) -> &str {
    prefix.strip_prefix("spark.").unwrap_or(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MI: i64 = 1 << 20;
    const GI: i64 = 1 << 30;

    fn app(kind: AppKind, executor_memory_mib: i64) -> SparkApp {
        SparkApp {
            kind,
            executor: SparkPodConf { memory_mib: executor_memory_mib, ..SparkPodConf::default() },
            ..SparkApp::default()
        }
    }

    #[test]
    fn defaults_should_be_sparks() {
        // Spark's documented defaults: 1 core, 1g heap, 2 executors, JVM application. Overhead:
        // max(0.1 × 1024 = 102, 384) = 384, so 1024 + 384 = 1408 MiB for each pod.
        let pods = job_pods(&SparkApp::default());
        assert_eq!(pods.driver, Resources::pod(1000, 1408 * MI));
        assert_eq!(pods.executor, Resources::pod(1000, 1408 * MI));
        assert_eq!(pods.executors, 2);
        assert_eq!(pods.executor.memory_bytes, 1_476_395_008);
    }

    #[test]
    fn python_executor_should_add_forty_percent_overhead() {
        // Non-JVM factor 0.4: 0.4 × 4096 = 1638.4, truncated to 1638; 4096 + 1638 = 5734 MiB.
        assert_eq!(executor_memory_mib(&app(AppKind::Python, 4096)), 5734);
        assert_eq!(executor_pod(&app(AppKind::Python, 4096)).memory_bytes, 5734 * MI);
        // R applications take the same non-JVM factor.
        assert_eq!(executor_memory_mib(&app(AppKind::R, 4096)), 5734);
    }

    #[test]
    fn jvm_executor_should_add_ten_percent_overhead_truncated() {
        // 0.1 × 4096 = 409.6, truncated to 409 as Spark's toInt does; 4096 + 409 = 4505 MiB.
        assert_eq!(executor_memory_mib(&app(AppKind::Jvm, 4096)), 4505);
    }

    #[test]
    fn overhead_should_not_fall_below_the_minimum() {
        // 0.1 × 1024 = 102 < 384, so the overhead is 384: 1024 + 384 = 1408 MiB.
        assert_eq!(executor_memory_mib(&app(AppKind::Jvm, 1024)), 1408);
        // 0.4 × 512 = 204 < 384 for a Python application too: 512 + 384 = 896 MiB.
        assert_eq!(executor_memory_mib(&app(AppKind::Python, 512)), 896);
        // Spark 4's minMemoryOverhead raises the floor: max(409, 1024) = 1024; 4096 + 1024.
        let mut raised = app(AppKind::Jvm, 4096);
        raised.executor.min_memory_overhead_mib = Some(1024);
        assert_eq!(executor_memory_mib(&raised), 5120);
    }

    #[test]
    fn explicit_overhead_should_win_over_factor_and_minimum() {
        // memoryOverhead set: neither the factor nor the minimum applies.
        let mut explicit = app(AppKind::Python, 4096);
        explicit.executor.memory_overhead_mib = Some(1024);
        explicit.executor.min_memory_overhead_mib = Some(2048);
        assert_eq!(executor_memory_mib(&explicit), 5120);
        explicit.executor.memory_overhead_mib = Some(100);
        assert_eq!(executor_memory_mib(&explicit), 4196);
    }

    #[test]
    fn explicit_factor_should_replace_the_default_factor() {
        // memoryOverheadFactor 0.2 in a Python app: 0.2 × 8192 = 1638.4 → 1638; 9830 MiB.
        let mut factored = app(AppKind::Python, 8192);
        factored.executor.memory_overhead_factor = Some(0.2);
        assert_eq!(executor_memory_mib(&factored), 9830);
        // The driver keeps its own settings: 1g heap, 0.4 × 1024 = 409 ≥ 384, so 1433 MiB.
        assert_eq!(driver_memory_mib(&factored), 1433);
    }

    #[test]
    fn cpu_should_come_from_request_cores_when_set() {
        // request.cores 500m overrides cores; without it, cores are whole CPUs.
        let mut spark = SparkApp::default();
        spark.executor.cores = 4;
        spark.driver.cores = 2;
        spark.executor.request_cores_millis = Some(500);
        assert_eq!(executor_pod(&spark).cpu_millis, 500);
        assert_eq!(driver_pod(&spark).cpu_millis, 2000);
        spark.executor.request_cores_millis = None;
        assert_eq!(executor_pod(&spark).cpu_millis, 4000);
    }

    #[test]
    fn offheap_and_pyspark_memory_should_count_for_executors_only() {
        // Executor: 4096 + 1638 overhead + 2048 off-heap + 1024 PySpark = 8806 MiB.
        // Driver: heap + overhead only, 4096 + 1638 = 5734 MiB.
        let mut python = app(AppKind::Python, 4096);
        python.driver.memory_mib = 4096;
        python.offheap_mib = Some(2048);
        python.pyspark_memory_mib = Some(1024);
        assert_eq!(executor_memory_mib(&python), 8806);
        assert_eq!(driver_memory_mib(&python), 5734);

        // PySpark memory counts for Python applications only: a JVM executor gets
        // 4096 + 409 + 2048 = 6553 MiB, an R one 4096 + 1638 + 2048 = 7782 MiB.
        let jvm = SparkApp { kind: AppKind::Jvm, ..python.clone() };
        assert_eq!(executor_memory_mib(&jvm), 6553);
        let r = SparkApp { kind: AppKind::R, ..python };
        assert_eq!(executor_memory_mib(&r), 7782);
    }

    #[test]
    fn executors_should_be_counted_as_spark_starts_them() {
        let with = |instances, dynamic| SparkApp {
            executor_instances: instances,
            dynamic_allocation: dynamic,
            ..SparkApp::default()
        };
        let dynamic = |initial, min, max| {
            Some(DynamicAllocation {
                initial_executors: initial,
                min_executors: min,
                max_executors: max,
            })
        };
        // Static allocation: spark.executor.instances, 2 when unset.
        assert_eq!(counted_executors(&with(None, None)), 2);
        assert_eq!(counted_executors(&with(Some(5), None)), 5);
        assert_eq!(counted_executors(&with(Some(0), None)), 0);
        // Dynamic allocation: max(min, initial, instances), unset instances counting as 0 and
        // initial falling back to min.
        assert_eq!(counted_executors(&with(None, dynamic(None, None, None))), 0);
        assert_eq!(counted_executors(&with(None, dynamic(None, Some(2), Some(10)))), 2);
        assert_eq!(counted_executors(&with(Some(2), dynamic(Some(3), Some(1), None))), 3);
        assert_eq!(counted_executors(&with(Some(10), dynamic(Some(3), Some(1), None))), 10);
        assert_eq!(counted_executors(&with(Some(1), dynamic(None, Some(4), None))), 4);
        // maxExecutors does not lower the count: Spark refuses to start instead (see validate).
        assert_eq!(counted_executors(&with(Some(8), dynamic(None, None, Some(4)))), 8);
    }

    #[test]
    fn init_containers_should_count_by_their_maximum_and_overhead_on_top() {
        // Kubernetes: effective request = max(sum of app containers, largest init container)
        // per resource, plus the pod overhead. Spark container 1000m / 1408Mi; init
        // containers 2000m / 512Mi and 500m / 2Gi; overhead 250m / 120Mi.
        // CPU max(1000, 2000, 500) + 250 = 2250m; memory max(1408, 512, 2048) + 120 = 2168Mi.
        let spark = SparkApp {
            driver_init_containers: vec![
                Resources::pod(2000, 512 * MI),
                Resources::pod(500, 2 * GI),
            ],
            pod_overhead: Some(Resources::pod(250, 120 * MI)),
            ..SparkApp::default()
        };
        assert_eq!(driver_pod(&spark), Resources::pod(2250, 2168 * MI));
        // Executors have no init containers here, only the overhead: 1250m, 1528Mi.
        assert_eq!(executor_pod(&spark), Resources::pod(1250, 1528 * MI));
    }

    #[test]
    fn extended_resources_should_be_requested_per_pod() {
        // spark.executor.resource.gpu.amount 1 with vendor nvidia.com → nvidia.com/gpu: 1.
        let mut spark = SparkApp::default();
        spark.executor.extended = vec![("nvidia.com/gpu".into(), 1)];
        let pods = job_pods(&spark);
        assert_eq!(pods.executor.extended_amount("nvidia.com/gpu"), 1);
        assert_eq!(pods.driver.extended_amount("nvidia.com/gpu"), 0);
        // Two executors of one GPU each, on top of the driver's nothing.
        assert_eq!(pods.total().extended_amount("nvidia.com/gpu"), 2);
        assert_eq!(pods.total().pods, 3);
    }

    #[test]
    fn validate_should_refuse_what_spark_refuses() {
        assert_eq!(validate(&SparkApp::default()), Ok(()));

        let over_max = SparkApp {
            executor_instances: Some(8),
            dynamic_allocation: Some(DynamicAllocation {
                max_executors: Some(4),
                ..DynamicAllocation::default()
            }),
            ..SparkApp::default()
        };
        let error = validate(&over_max).expect_err("initial above max");
        assert_eq!(error.key, "spark.dynamicAllocation.maxExecutors");

        let empty_offheap = SparkApp { offheap_mib: Some(0), ..SparkApp::default() };
        assert_eq!(
            validate(&empty_offheap).map_err(|e| e.to_string()),
            Err("spark.memory.offHeap.size = 0m is invalid: must be positive when \
                 spark.memory.offHeap.enabled is true"
                .to_owned())
        );

        let mut zero_factor = SparkApp::default();
        zero_factor.executor.memory_overhead_factor = Some(0.0);
        let error = validate(&zero_factor).expect_err("zero factor");
        assert_eq!(error.key, "spark.executor.memoryOverheadFactor");

        let mut no_cpu = SparkApp::default();
        no_cpu.driver.request_cores_millis = Some(0);
        let error = validate(&no_cpu).expect_err("zero request");
        assert_eq!(error.key, "spark.kubernetes.driver.request.cores");
    }

    #[test]
    fn validate_should_refuse_more_executors_than_one_job_may_count() {
        let most = SparkApp { executor_instances: Some(MAX_EXECUTORS), ..SparkApp::default() };
        assert_eq!(validate(&most), Ok(()));
        for count in [MAX_EXECUTORS + 1, u32::MAX] {
            let app = SparkApp { executor_instances: Some(count), ..SparkApp::default() };
            let error = validate(&app).expect_err("too many executors");
            assert_eq!(error.key, "spark.executor.instances");
            assert!(error.to_string().contains(&MAX_EXECUTORS.to_string()), "{error}");
        }
    }
}
