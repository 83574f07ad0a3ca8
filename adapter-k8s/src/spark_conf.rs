//! Spark properties, as text, read into the core's `SparkApp`. The arithmetic that turns them
//! into pod requests is the core's ([`sparkq_core::spark::job_pods`]), never repeated here.

use std::collections::BTreeMap;
use std::sync::Arc;

use sparkq_core::JobPods;
use sparkq_core::quantity::{parse_cpu_millis, parse_spark_memory_mib, parse_spark_offheap_mib};
use sparkq_core::spark::{self, AppKind, DynamicAllocation, SparkApp, SparkPodConf};

use crate::crd::SpecError;

fn invalid(key: &str, message: impl std::fmt::Display) -> SpecError {
    SpecError::Invalid { field: format!("sparkConf[{key}]"), message: message.to_string() }
}

fn get<'a>(conf: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    conf.get(key).map(|v| v.trim())
}

fn count(conf: &BTreeMap<String, String>, key: &str) -> Result<Option<u32>, SpecError> {
    let Some(text) = get(conf, key) else {
        return Ok(None);
    };
    match text.parse::<i64>() {
        Ok(n) if n < 0 => Err(invalid(key, format!("must not be negative, got {n}"))),
        Ok(n) => u32::try_from(n).map(Some).map_err(|_| invalid(key, "is too large")),
        Err(_) => Err(invalid(key, format!("`{text}` is not a whole number"))),
    }
}

fn mib(conf: &BTreeMap<String, String>, key: &str) -> Result<Option<i64>, SpecError> {
    get(conf, key).map(|text| parse_spark_memory_mib(text).map_err(|e| invalid(key, e))).transpose()
}

fn truthy(conf: &BTreeMap<String, String>, key: &str) -> bool {
    get(conf, key).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

fn pod_conf(conf: &BTreeMap<String, String>, role: &str) -> Result<SparkPodConf, SpecError> {
    let mut pod = SparkPodConf::default();
    if let Some(cores) = count(conf, &format!("spark.{role}.cores"))? {
        pod.cores = cores;
    }
    let request_key = format!("spark.kubernetes.{role}.request.cores");
    if let Some(text) = get(conf, &request_key) {
        pod.request_cores_millis =
            Some(parse_cpu_millis(text).map_err(|e| invalid(&request_key, e))?);
    }
    if let Some(memory) = mib(conf, &format!("spark.{role}.memory"))? {
        pod.memory_mib = memory;
    }
    pod.memory_overhead_mib = mib(conf, &format!("spark.{role}.memoryOverhead"))?;
    pod.min_memory_overhead_mib = mib(conf, &format!("spark.{role}.minMemoryOverhead"))?;
    // Spark 3's shared factor applies when the per-role one (Spark 3.3+) is not set.
    let factor_keys = [
        format!("spark.{role}.memoryOverheadFactor"),
        "spark.kubernetes.memoryOverheadFactor".to_owned(),
    ];
    if let Some(key) = factor_keys.iter().find(|k| conf.contains_key(k.as_str())) {
        let text = get(conf, key).unwrap_or_default();
        let factor: f64 =
            text.parse().map_err(|_| invalid(key, format!("`{text}` is not a number")))?;
        if !(factor.is_finite() && factor >= 0.0) {
            return Err(invalid(key, "must be a non-negative number"));
        }
        pod.memory_overhead_factor = Some(factor);
    }
    // spark.{role}.resource.<name>.amount, with its vendor: the Kubernetes name is vendor/name.
    let prefix = format!("spark.{role}.resource.");
    for (key, _) in conf.range(prefix.clone()..) {
        let Some(rest) = key.strip_prefix(&prefix) else { break };
        let Some(name) = rest.strip_suffix(".amount") else { continue };
        let amount = count(conf, key)?.map_or(0, i64::from);
        let vendor = get(conf, &format!("{prefix}{name}.vendor")).unwrap_or_default();
        let resource: Arc<str> =
            if vendor.is_empty() { name.into() } else { format!("{vendor}/{name}").into() };
        if amount > 0 {
            pod.extended.push((resource, amount));
        }
    }
    pod.extended.sort();
    Ok(pod)
}

/// The application's resource settings as the core models them.
pub fn spark_app(kind: &str, conf: &BTreeMap<String, String>) -> Result<SparkApp, SpecError> {
    let kind = match kind {
        "python" => AppKind::Python,
        "r" => AppKind::R,
        _ => AppKind::Jvm,
    };
    let dynamic_allocation = if truthy(conf, "spark.dynamicAllocation.enabled") {
        Some(DynamicAllocation {
            initial_executors: count(conf, "spark.dynamicAllocation.initialExecutors")?,
            min_executors: count(conf, "spark.dynamicAllocation.minExecutors")?,
            max_executors: count(conf, "spark.dynamicAllocation.maxExecutors")?,
        })
    } else {
        None
    };
    let offheap_mib = if truthy(conf, "spark.memory.offHeap.enabled") {
        let key = "spark.memory.offHeap.size";
        let text = get(conf, key).unwrap_or("0");
        Some(parse_spark_offheap_mib(text).map_err(|e| invalid(key, e))?)
    } else {
        None
    };
    Ok(SparkApp {
        kind,
        driver: pod_conf(conf, "driver")?,
        executor: pod_conf(conf, "executor")?,
        executor_instances: count(conf, "spark.executor.instances")?,
        dynamic_allocation,
        offheap_mib,
        pyspark_memory_mib: mib(conf, "spark.executor.pyspark.memory")?,
        ..SparkApp::default()
    })
}

/// The pods a job needs, by the core's formulas.
pub fn job_pods(kind: &str, conf: &BTreeMap<String, String>) -> Result<JobPods, SpecError> {
    let app = spark_app(kind, conf)?;
    spark::validate(&app)
        .map_err(|e| SpecError::Invalid { field: "sparkConf".into(), message: e.to_string() })?;
    Ok(spark::job_pods(&app))
}
