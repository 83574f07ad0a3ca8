//! The `SparkJob` custom resource: the durable intake of the live adapter.
//!
//! A job's spec says what to run and how urgent it is, in Spark's own terms; its status is
//! written by the controller alone and carries everything needed to rebuild the queue after a
//! restart: the phase, the enqueue time and the enqueue sequence. The controller writes the
//! sequence into the status before the job can be admitted, so the order of the queue never
//! depends on memory that a crash can lose.

use std::collections::BTreeMap;
use std::sync::Arc;

use kube::CustomResource;
use kube::CustomResourceExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sparkq_core::TolerationOperator;
use sparkq_core::{Constraints, Flow, JobId, JobSpec, Priority, TaintEffect, Toleration};

use crate::spark_conf;

/// The API group of sparkq's resources.
pub const GROUP: &str = "sparkq.io";
/// The version of the `SparkJob` resource.
pub const VERSION: &str = "v1alpha1";

/// One run of a Spark application, queued by sparkq until the cluster can hold it.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "sparkq.io",
    version = "v1alpha1",
    kind = "SparkJob",
    plural = "sparkjobs",
    singular = "sparkjob",
    shortname = "sj",
    namespaced,
    status = "SparkJobStatus",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Priority","type":"string","jsonPath":".spec.priority"}"#,
    printcolumn = r#"{"name":"Position","type":"integer","jsonPath":".status.queuePosition"}"#,
    printcolumn = r#"{"name":"Wait","type":"string","jsonPath":".status.waitTime"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct SparkJobSpec {
    /// `high` or `normal` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    /// `orchestrated` (the default: through the queue) or `legacy` (launched at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<String>,
    /// A reporting label, such as the team or product line; `default` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The application: `jvm` (Scala or Java, the default), `python` or `r`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub app_type: Option<String>,
    /// The container image of the driver and the executors.
    pub image: String,
    /// The main class of a JVM application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main_class: Option<String>,
    /// The application's jar, Python file or R file, as spark-submit takes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main_application_file: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arguments: Vec<String>,
    /// Spark properties passed to the driver as they are; the fields below win over them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub spark_conf: BTreeMap<String, String>,
    #[serde(default)]
    pub driver: SparkPodResources,
    #[serde(default)]
    pub executor: SparkExecutorResources,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_allocation: Option<DynamicAllocation>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<JobToleration>,
    /// The service account of the driver pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// A declared estimate of the run time, used by the `backfill` policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_duration_seconds: Option<i64>,
    /// `true` cancels the job while it waits: it leaves the queue and ends `cancelled`, and
    /// the SparkJob stays as its record. A job admitted already is not affected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel: Option<bool>,
}

/// A driver's resources in Spark's terms.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SparkPodResources {
    /// `spark.{driver,executor}.cores`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cores: Option<i64>,
    /// `spark.kubernetes.{driver,executor}.request.cores`: a Kubernetes CPU quantity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub core_request: Option<String>,
    /// The heap, in Spark's notation (`4g`, `512m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// The explicit memory overhead, in Spark's notation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_overhead: Option<String>,
    /// The overhead as a fraction of the heap, when no explicit overhead is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_overhead_factor: Option<f64>,
}

/// The executors' resources in Spark's terms.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SparkExecutorResources {
    #[serde(flatten)]
    pub pod: SparkPodResources,
    /// `spark.executor.instances` (Spark's default: 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<i64>,
}

/// `spark.dynamicAllocation.*`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DynamicAllocation {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_executors: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_executors: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_executors: Option<i64>,
}

/// A Kubernetes toleration, as pods carry it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobToleration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `Equal` (the default) or `Exists`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`; every effect when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<String>,
}

/// What the controller knows of a job. Written by the controller only.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SparkJobStatus {
    /// queued, admitted, running, succeeded, failed, cancelled or rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// The order of the job within jobs enqueued at the same millisecond; written before the
    /// job can be admitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enqueue_sequence: Option<u64>,
    /// Milliseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enqueued_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admitted_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<u64>,
    /// 0 for the head of its queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_position: Option<u64>,
    /// Why the job waits, or why it was rejected, cancelled or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The time from enqueue to admission, such as `42s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_time: Option<String>,
    /// The flow the job was launched by, once launched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launched_flow: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_pod: Option<String>,
}

/// The CustomResourceDefinition of `SparkJob`, as YAML, for `sparkq crd` and the Helm chart.
pub fn crd_yaml() -> String {
    let crd = SparkJob::crd();
    match serde_saphyr::to_string(&crd) {
        Ok(yaml) => yaml,
        // The definition is built from static types; a serialisation failure is a bug.
        Err(error) => panic!("the SparkJob CRD does not serialise as YAML: {error}"),
    }
}

/// Why a `SparkJob` spec cannot become a job.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    #[error("unknown priority `{0}`: expected `high` or `normal`")]
    UnknownPriority(String),
    #[error("unknown flow `{0}`: expected `orchestrated` or `legacy`")]
    UnknownFlow(String),
    #[error("unknown application type `{0}`: expected `jvm`, `python` or `r`")]
    UnknownType(String),
    #[error("{field} must not be negative, got {value}")]
    Negative { field: &'static str, value: String },
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("image must not be empty")]
    NoImage,
    #[error("a jvm application needs mainClass or mainApplicationFile")]
    NoMain,
}

/// Reads `high` or `normal`.
pub fn parse_priority(text: &str) -> Result<Priority, SpecError> {
    match text {
        "high" => Ok(Priority::High),
        "normal" => Ok(Priority::Normal),
        other => Err(SpecError::UnknownPriority(other.to_owned())),
    }
}

/// Reads `orchestrated` or `legacy`.
pub fn parse_flow(text: &str) -> Result<Flow, SpecError> {
    match text {
        "orchestrated" => Ok(Flow::Orchestrated),
        "legacy" => Ok(Flow::Legacy),
        other => Err(SpecError::UnknownFlow(other.to_owned())),
    }
}

impl SparkJobSpec {
    pub fn priority(&self) -> Result<Priority, SpecError> {
        self.priority.as_deref().map_or(Ok(Priority::Normal), parse_priority)
    }

    pub fn flow(&self) -> Result<Flow, SpecError> {
        self.flow.as_deref().map_or(Ok(Flow::Orchestrated), parse_flow)
    }

    pub fn domain(&self) -> &str {
        self.domain.as_deref().filter(|d| !d.is_empty()).unwrap_or("default")
    }

    /// Checks the spec and turns it into what the scheduling core needs.
    pub fn to_job_spec(
        &self,
        id: JobId,
        namespace: &str,
        name: &str,
    ) -> Result<JobSpec, SpecError> {
        let priority = self.priority()?;
        let flow = self.flow()?;
        if self.image.trim().is_empty() {
            return Err(SpecError::NoImage);
        }
        let kind = self.app_type.as_deref().unwrap_or("jvm");
        if !matches!(kind, "jvm" | "python" | "r") {
            return Err(SpecError::UnknownType(kind.to_owned()));
        }
        if kind == "jvm" && self.main_class.is_none() && self.main_application_file.is_none() {
            return Err(SpecError::NoMain);
        }
        let conf = self.effective_conf()?;
        let pods = spark_conf::job_pods(kind, &conf)?;
        let expected_duration_ms = match self.expected_duration_seconds {
            Some(seconds) if seconds < 0 => {
                return Err(SpecError::Negative {
                    field: "expectedDurationSeconds",
                    value: seconds.to_string(),
                });
            }
            Some(seconds) => Some(seconds.unsigned_abs().saturating_mul(1000)),
            None => None,
        };
        Ok(JobSpec {
            id,
            name: name.into(),
            namespace: namespace.into(),
            domain: self.domain().into(),
            priority,
            flow,
            pods,
            constraints: Arc::new(self.constraints()?),
            expected_duration_ms,
        })
    }

    /// The Spark properties of the job: `sparkConf` with the typed fields written over it.
    pub fn effective_conf(&self) -> Result<BTreeMap<String, String>, SpecError> {
        let mut conf = self.spark_conf.clone();
        put_pod_conf(&mut conf, "driver", &self.driver)?;
        put_pod_conf(&mut conf, "executor", &self.executor.pod)?;
        if let Some(instances) = self.executor.instances {
            non_negative("executor.instances", instances)?;
            conf.insert("spark.executor.instances".into(), instances.to_string());
        }
        if let Some(dynamic) = &self.dynamic_allocation {
            conf.insert("spark.dynamicAllocation.enabled".into(), dynamic.enabled.to_string());
            let counts = [
                ("initialExecutors", dynamic.initial_executors),
                ("minExecutors", dynamic.min_executors),
                ("maxExecutors", dynamic.max_executors),
            ];
            for (key, value) in counts {
                if let Some(value) = value {
                    non_negative("dynamicAllocation", value)?;
                    conf.insert(format!("spark.dynamicAllocation.{key}"), value.to_string());
                }
            }
        }
        Ok(conf)
    }

    fn constraints(&self) -> Result<Constraints, SpecError> {
        let node_selector = self
            .node_selector
            .iter()
            .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
            .collect();
        let tolerations = self
            .tolerations
            .iter()
            .enumerate()
            .map(|(i, t)| to_toleration(i, t))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Constraints { node_selector, tolerations })
    }
}

fn non_negative(field: &'static str, value: i64) -> Result<(), SpecError> {
    if value < 0 {
        return Err(SpecError::Negative { field, value: value.to_string() });
    }
    Ok(())
}

fn put_pod_conf(
    conf: &mut BTreeMap<String, String>,
    role: &'static str,
    pod: &SparkPodResources,
) -> Result<(), SpecError> {
    let field = |name: &str| format!("{role}.{name}");
    if let Some(cores) = pod.cores {
        if cores < 0 {
            return Err(SpecError::Negative {
                field: if role == "driver" { "driver.cores" } else { "executor.cores" },
                value: cores.to_string(),
            });
        }
        conf.insert(format!("spark.{role}.cores"), cores.to_string());
    }
    let texts = [
        ("coreRequest", format!("spark.kubernetes.{role}.request.cores"), &pod.core_request),
        ("memory", format!("spark.{role}.memory"), &pod.memory),
        ("memoryOverhead", format!("spark.{role}.memoryOverhead"), &pod.memory_overhead),
    ];
    for (name, key, value) in texts {
        if let Some(value) = value {
            if value.trim_start().starts_with('-') {
                return Err(SpecError::Invalid {
                    field: field(name),
                    message: format!("must not be negative, got `{value}`"),
                });
            }
            conf.insert(key, value.clone());
        }
    }
    if let Some(factor) = pod.memory_overhead_factor {
        if !(factor >= 0.0 && factor.is_finite()) {
            return Err(SpecError::Invalid {
                field: field("memoryOverheadFactor"),
                message: format!("must be a non-negative number, got {factor}"),
            });
        }
        conf.insert(format!("spark.{role}.memoryOverheadFactor"), factor.to_string());
    }
    Ok(())
}

fn to_toleration(index: usize, t: &JobToleration) -> Result<Toleration, SpecError> {
    let field = || format!("tolerations[{index}]");
    let operator = match t.operator.as_deref() {
        None | Some("Equal") => TolerationOperator::Equal,
        Some("Exists") => TolerationOperator::Exists,
        Some(other) => {
            return Err(SpecError::Invalid {
                field: field(),
                message: format!("unknown operator `{other}`: expected Equal or Exists"),
            });
        }
    };
    let effect = match t.effect.as_deref() {
        None | Some("") => None,
        Some(text) => Some(parse_taint_effect(text).ok_or_else(|| SpecError::Invalid {
            field: field(),
            message: format!("unknown effect `{text}`"),
        })?),
    };
    Ok(Toleration {
        key: t.key.as_deref().filter(|k| !k.is_empty()).map(Into::into),
        operator,
        value: t.value.as_deref().map(Into::into),
        effect,
    })
}

/// Reads a Kubernetes taint effect.
pub fn parse_taint_effect(text: &str) -> Option<TaintEffect> {
    match text {
        "NoSchedule" => Some(TaintEffect::NoSchedule),
        "PreferNoSchedule" => Some(TaintEffect::PreferNoSchedule),
        "NoExecute" => Some(TaintEffect::NoExecute),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crd_has_the_status_subresource_and_the_printer_columns() {
        let yaml = crd_yaml();
        assert!(yaml.contains("sparkjobs.sparkq.io"), "{yaml}");
        assert!(yaml.contains("status: {}"), "{yaml}");
        for column in ["Phase", "Priority", "Wait", "Reason", "Age"] {
            assert!(yaml.contains(&format!("name: {column}")), "{column} missing: {yaml}");
        }
        assert!(yaml.contains("- sj"), "{yaml}");
    }

    fn spec(value: serde_json::Value) -> SparkJobSpec {
        let mut base = serde_json::json!({
            "image": "apache/spark:3.5.3",
            "mainClass": "org.example.Main",
            "driver": {"cores": 2, "memory": "4g"},
            "executor": {"cores": 4, "memory": "8g", "instances": 3},
        });
        crate::merge_json(&mut base, &value);
        serde_json::from_value(base).expect("a spec")
    }

    fn error(value: serde_json::Value) -> String {
        match spec(value).to_job_spec(JobId(1), "ns", "job") {
            Ok(job) => panic!("expected an error, got {job:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn a_spec_becomes_the_cores_job_with_sparks_formulas() {
        let job = spec(serde_json::json!({"priority": "high", "domain": "risk"}))
            .to_job_spec(JobId(7), "ns", "job")
            .expect("valid");
        assert_eq!(
            (job.priority, job.flow, job.domain.as_ref()),
            (Priority::High, Flow::Orchestrated, "risk")
        );
        assert_eq!(job.pods.executors, 3);
        assert_eq!(job.pods.driver.cpu_millis, 2000);
        // 4g + max(409, 384) MiB; 8g + 819 MiB.
        assert_eq!(job.pods.driver.memory_bytes, (4096 + 409) << 20);
        assert_eq!(job.pods.executor.memory_bytes, (8192 + 819) << 20);
    }

    #[test]
    fn invalid_specs_say_what_is_wrong() {
        assert_eq!(
            error(serde_json::json!({"priority": "urgent"})),
            "unknown priority `urgent`: expected `high` or `normal`"
        );
        assert_eq!(
            error(serde_json::json!({"driver": {"cores": -2}})),
            "driver.cores must not be negative, got -2"
        );
        assert!(
            error(serde_json::json!({"executor": {"memory": "-1g"}}))
                .contains("must not be negative")
        );
        assert!(
            error(serde_json::json!({"executor": {"instances": -1}}))
                .contains("must not be negative")
        );
        assert!(error(serde_json::json!({"type": "scala"})).contains("unknown application type"));
        assert!(
            error(serde_json::json!({"sparkConf": {"spark.executor.memoryOverhead": "lots"}}))
                .contains("spark.executor.memoryOverhead")
        );
        assert!(error(serde_json::json!({"image": " "})).contains("image"));
    }

    #[test]
    fn typed_fields_win_over_spark_conf() {
        let s = spec(
            serde_json::json!({"sparkConf": {"spark.executor.instances": "9", "spark.foo": "bar"}}),
        );
        let conf = s.effective_conf().expect("conf");
        assert_eq!(conf.get("spark.executor.instances").map(String::as_str), Some("3"));
        assert_eq!(conf.get("spark.foo").map(String::as_str), Some("bar"));
    }
}
