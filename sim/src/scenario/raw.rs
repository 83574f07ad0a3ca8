//! The scenario file as serde reads it, before names are checked against each other.
//!
//! Every struct denies unknown fields, so a misspelt key is an error rather than a silently
//! ignored setting. Quantities are parsed while they are read, by small scalar types that know
//! their notation: Kubernetes for the cluster (`cpu: 500m`, `memory: 64Gi`), Spark for the
//! jobs (`cores: 4`, `memory: 4g`). A value in the wrong notation is therefore reported at the
//! value itself, with serde-saphyr's location.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, IgnoredAny, IntoDeserializer, MapAccess, Visitor};
use serde_saphyr::Spanned;
use sparkq_core::scheduler::{PlacementRule, QueueScope};
use sparkq_core::{Flow, Millis, Policy, Priority, TaintEffect, TolerationOperator};

use super::quantities;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScenario {
    pub name: Option<Spanned<String>>,
    pub description: Option<String>,
    pub seed: Option<u64>,
    pub horizon: Option<Spanned<Duration>>,
    pub policy: Option<Spanned<RawPolicy>>,
    pub cluster: RawCluster,
    #[serde(default)]
    pub workload: RawWorkload,
    #[serde(default)]
    pub events: Vec<RawEvent>,
}

// ---------------------------------------------------------------------------------------------
// Policy

/// `policy: strict`, or a mapping with the policy's name and its options.
#[derive(Debug)]
pub(super) enum RawPolicy {
    Name(Policy),
    Full(Box<RawPolicyOptions>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicyOptions {
    pub name: Option<Policy>,
    pub placement: Option<PlacementRule>,
    pub queue_scope: Option<QueueScope>,
    pub weights: Option<Spanned<RawWeights>>,
    pub head_timeout: Option<Spanned<Duration>>,
    pub head_retries: Option<Spanned<u32>>,
    pub enabled: Option<bool>,
    #[serde(default)]
    pub quotas: Vec<RawQuota>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWeights {
    pub high: u32,
    pub normal: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawQuota {
    pub name: Spanned<String>,
    pub namespace: Option<Spanned<String>>,
    pub priority: Option<Priority>,
    pub cpu: Option<CpuMillis>,
    pub memory: Option<Bytes>,
    pub pods: Option<Count>,
}

impl<'de> Deserialize<'de> for RawPolicy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<RawPolicy, D::Error> {
        struct PolicyVisitor;

        impl<'de> Visitor<'de> for PolicyVisitor {
            type Value = RawPolicy;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a policy name (strict, weighted, best-effort, backfill) or a mapping")
            }

            fn visit_str<E: de::Error>(self, name: &str) -> Result<RawPolicy, E> {
                name.parse::<Policy>().map(RawPolicy::Name).map_err(E::custom)
            }

            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<RawPolicy, M::Error> {
                RawPolicyOptions::deserialize(MapAccessDeserializer::new(map))
                    .map(|options| RawPolicy::Full(Box::new(options)))
            }
        }

        deserializer.deserialize_any(PolicyVisitor)
    }
}

// ---------------------------------------------------------------------------------------------
// Cluster

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCluster {
    pub pools: Spanned<Vec<RawPool>>,
    #[serde(default)]
    pub background: Vec<RawBackground>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPool {
    pub name: Spanned<String>,
    pub count: Spanned<u32>,
    pub cpu: CpuMillis,
    pub memory: Bytes,
    pub pods: Option<Count>,
    #[serde(default)]
    pub extended: Entries<String, Count>,
    pub labels: Option<Spanned<Entries<String, String>>>,
    #[serde(default)]
    pub taints: Vec<RawTaint>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTaint {
    pub key: String,
    pub value: Option<String>,
    pub effect: TaintEffect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawToleration {
    pub key: Option<String>,
    pub operator: Option<TolerationOperator>,
    pub value: Option<String>,
    pub effect: Option<TaintEffect>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBackground {
    pub name: Spanned<String>,
    pub count: Option<u32>,
    pub cpu: CpuMillis,
    pub memory: Bytes,
    #[serde(default)]
    pub extended: Entries<String, Count>,
    pub pool: Option<Spanned<String>>,
    pub node_selector: Option<Spanned<Entries<String, String>>>,
    #[serde(default)]
    pub tolerations: Vec<Spanned<RawToleration>>,
    pub priority: Option<Priority>,
    pub start: Option<Duration>,
    pub end: Option<Spanned<Duration>>,
    pub grace: Option<Duration>,
}

// ---------------------------------------------------------------------------------------------
// Workload

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWorkload {
    #[serde(default)]
    pub jobs: Vec<RawJob>,
    #[serde(default)]
    pub generators: Vec<RawGenerator>,
    /// A trace whose jobs join the workload (`swf:` or `k8s_pods:`).
    pub trace: Option<Spanned<crate::trace::source::TraceRef>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawJob {
    pub name: Spanned<String>,
    pub namespace: Option<Spanned<String>>,
    pub domain: Option<Spanned<String>>,
    pub priority: Option<Priority>,
    pub flow: Option<Flow>,
    pub submit: Option<Spanned<Duration>>,
    pub duration: Spanned<Duration>,
    pub estimate: Option<Duration>,
    pub fail_after: Option<Spanned<Duration>>,
    pub spark: Option<Spanned<RawSpark>>,
}

/// A Spark application's resource settings, in Spark's terms.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSpark {
    pub app: Option<RawAppKind>,
    pub driver: Option<RawPod>,
    pub executor: Option<RawPod>,
    pub dynamic_allocation: Option<Spanned<RawDynamicAllocation>>,
    pub offheap: Option<SparkOffheapMib>,
    pub pyspark_memory: Option<SparkMib>,
    pub pod_overhead: Option<RawPodOverhead>,
    pub node_selector: Option<Spanned<Entries<String, String>>>,
    #[serde(default)]
    pub tolerations: Vec<Spanned<RawToleration>>,
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum RawAppKind {
    Jvm,
    Python,
    R,
}

/// The driver's or the executors' settings. `instances` is for executors only.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPod {
    pub cores: Option<Cores>,
    pub request_cores: Option<CpuMillis>,
    pub memory: Option<SparkMib>,
    pub memory_overhead: Option<SparkMib>,
    pub memory_overhead_factor: Option<Spanned<f64>>,
    pub min_memory_overhead: Option<SparkMib>,
    #[serde(default)]
    pub resources: Entries<String, u32>,
    pub instances: Option<Spanned<u32>>,
    #[serde(default)]
    pub init_containers: Vec<RawContainer>,
}

/// A container's or RuntimeClass overhead's request, in Kubernetes notation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawContainer {
    #[serde(default)]
    pub cpu: CpuMillis,
    #[serde(default)]
    pub memory: Bytes,
}

pub(super) type RawPodOverhead = RawContainer;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDynamicAllocation {
    pub initial: Option<u32>,
    pub min: Option<u32>,
    pub max: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGenerator {
    pub name: Spanned<String>,
    pub count: Option<u64>,
    pub start: Option<Spanned<Duration>>,
    pub end: Option<Spanned<Duration>>,
    pub arrival: Spanned<RawArrival>,
    pub namespaces: Option<Spanned<Choice<String>>>,
    pub domains: Option<Spanned<Choice<String>>>,
    pub priority: Option<Spanned<Choice<Priority>>>,
    pub flow: Option<Spanned<Choice<Flow>>>,
    pub spark: Option<Spanned<RawSpark>>,
    #[serde(default)]
    pub sizes: Vec<RawSize>,
    pub duration: Spanned<RawDurationDist>,
    pub estimate: Option<RawEstimate>,
    pub failures: Option<RawFailures>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub(super) enum RawArrival {
    Every(Duration),
    Poisson { mean: Duration },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSize {
    pub name: Spanned<String>,
    pub weight: Option<Spanned<u32>>,
    pub spark: Option<Spanned<RawSpark>>,
}

/// How long a generated job runs: a plain duration, or one of the named distributions.
#[derive(Debug)]
pub(super) enum RawDurationDist {
    Fixed(Duration),
    Tagged(RawTaggedDist),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub(super) enum RawTaggedDist {
    Fixed(Duration),
    Uniform { min: Duration, max: Duration },
    Exponential { mean: Duration },
    Lognormal { median: Duration, sigma: f64 },
}

impl<'de> Deserialize<'de> for RawDurationDist {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<RawDurationDist, D::Error> {
        struct DistVisitor;

        impl<'de> Visitor<'de> for DistVisitor {
            type Value = RawDurationDist;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a duration (10m) or one of {fixed: 10m}, {uniform: {min, max}}, \
                     {exponential: {mean}}, {lognormal: {median, sigma}}",
                )
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<RawDurationDist, E> {
                parse_scalar(text, quantities::duration_ms)
                    .map(|ms| RawDurationDist::Fixed(Duration(ms)))
            }

            fn visit_u64<E: de::Error>(self, seconds: u64) -> Result<RawDurationDist, E> {
                self.visit_str(&seconds.to_string())
            }

            fn visit_i64<E: de::Error>(self, seconds: i64) -> Result<RawDurationDist, E> {
                self.visit_str(&seconds.to_string())
            }

            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<RawDurationDist, M::Error> {
                RawTaggedDist::deserialize(MapAccessDeserializer::new(map))
                    .map(RawDurationDist::Tagged)
            }
        }

        deserializer.deserialize_any(DistVisitor)
    }
}

/// What a generated job declares as its expected run time, for `backfill`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub(super) enum RawEstimate {
    None,
    Exact,
    Factor(Spanned<f64>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFailures {
    pub probability: Spanned<f64>,
}

// ---------------------------------------------------------------------------------------------
// Events

/// `at` and exactly one action; which one is checked after reading.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEvent {
    pub at: Spanned<Duration>,
    pub add_nodes: Option<RawNodeCount>,
    pub remove_nodes: Option<RawNodeCount>,
    pub cordon: Option<Spanned<String>>,
    pub uncordon: Option<Spanned<String>>,
    pub cancel: Option<Spanned<String>>,
    pub set_flow: Option<RawSetFlow>,
    pub set_priority: Option<RawSetPriority>,
    pub migrate_to_legacy: Option<RawMigrate>,
    #[serde(default)]
    pub disable: Flag,
    #[serde(default)]
    pub enable: Flag,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNodeCount {
    pub pool: Spanned<String>,
    pub count: Spanned<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSetFlow {
    pub job: Spanned<String>,
    pub flow: Flow,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSetPriority {
    pub job: Spanned<String>,
    pub priority: Priority,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMigrate {
    pub domain: Spanned<String>,
}

/// An action without arguments: present as `{}`, `true` or an empty value; absent by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Flag(pub bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Flag, D::Error> {
        struct FlagVisitor;

        impl<'de> Visitor<'de> for FlagVisitor {
            type Value = Flag;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`{}` or `true`")
            }

            fn visit_unit<E: de::Error>(self) -> Result<Flag, E> {
                Ok(Flag(true))
            }

            fn visit_none<E: de::Error>(self) -> Result<Flag, E> {
                Ok(Flag(true))
            }

            fn visit_bool<E: de::Error>(self, value: bool) -> Result<Flag, E> {
                if value {
                    Ok(Flag(true))
                } else {
                    Err(E::custom("`false` does nothing: expected `{}` or `true`, or no event"))
                }
            }

            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Flag, M::Error> {
                match map.next_key::<String>()? {
                    None => Ok(Flag(true)),
                    Some(key) => {
                        let _: IgnoredAny = map.next_value()?;
                        Err(de::Error::custom(format!(
                            "this action takes no arguments, found `{key}`: expected `{{}}`"
                        )))
                    }
                }
            }
        }

        deserializer.deserialize_any(FlagVisitor)
    }
}

// ---------------------------------------------------------------------------------------------
// Collections

/// A mapping read in the order it is written (duplicate keys are already an error).
#[derive(Debug)]
pub(super) struct Entries<K, V>(pub Vec<(K, V)>);

impl<K, V> Default for Entries<K, V> {
    fn default() -> Entries<K, V> {
        Entries(Vec::new())
    }
}

impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for Entries<K, V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Entries<K, V>, D::Error> {
        struct EntriesVisitor<K, V>(PhantomData<(K, V)>);

        impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Visitor<'de> for EntriesVisitor<K, V> {
            type Value = Entries<K, V>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of `key: value` pairs")
            }

            fn visit_unit<E: de::Error>(self) -> Result<Entries<K, V>, E> {
                Ok(Entries(Vec::new()))
            }

            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Entries<K, V>, M::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<K, V>()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }

        deserializer.deserialize_map(EntriesVisitor(PhantomData))
    }
}

/// A fixed value (`priority: high`) or weights to draw from (`priority: {high: 1, normal: 4}`).
#[derive(Debug)]
pub(super) enum Choice<T> {
    One(T),
    Weighted(Vec<(T, u32)>),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Choice<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Choice<T>, D::Error> {
        struct ChoiceVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ChoiceVisitor<T> {
            type Value = Choice<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a single value or a mapping of values to whole-number weights")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Choice<T>, E> {
                // Read through serde's own error type, so that the YAML deserializer attaches
                // the error to this value rather than to a location it guesses.
                let deserializer: de::value::StrDeserializer<'_, de::value::Error> =
                    text.into_deserializer();
                T::deserialize(deserializer).map(Choice::One).map_err(|error| {
                    E::custom(
                        error
                            .to_string()
                            .replace("unknown variant", "unknown value")
                            .replace("`, expected", "`: expected"),
                    )
                })
            }

            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Choice<T>, M::Error> {
                let mut weights = Vec::new();
                while let Some(entry) = map.next_entry::<T, u32>()? {
                    weights.push(entry);
                }
                Ok(Choice::Weighted(weights))
            }
        }

        deserializer.deserialize_any(ChoiceVisitor(PhantomData))
    }
}

// ---------------------------------------------------------------------------------------------
// Scalars in their notations

/// Reads any scalar as its text and parses it; the parser's message says what was expected.
fn parse_scalar<T, E: de::Error>(text: &str, parse: fn(&str) -> Result<T, String>) -> Result<T, E> {
    parse(text).map_err(E::custom)
}

macro_rules! scalar_type {
    ($(#[$doc:meta])* $name:ident($inner:ty), $what:literal, $parse:path) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub(super) struct $name(pub $inner);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<$name, D::Error> {
                struct TextVisitor;

                impl<'de> Visitor<'de> for TextVisitor {
                    type Value = $name;

                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($what)
                    }

                    fn visit_str<E: de::Error>(self, text: &str) -> Result<$name, E> {
                        parse_scalar(text, $parse).map($name)
                    }

                    fn visit_u64<E: de::Error>(self, value: u64) -> Result<$name, E> {
                        self.visit_str(&value.to_string())
                    }

                    fn visit_i64<E: de::Error>(self, value: i64) -> Result<$name, E> {
                        self.visit_str(&value.to_string())
                    }

                    fn visit_f64<E: de::Error>(self, value: f64) -> Result<$name, E> {
                        self.visit_str(&value.to_string())
                    }
                }

                deserializer.deserialize_str(TextVisitor)
            }
        }
    };
}

scalar_type!(
    /// A duration in milliseconds: `1500ms`, `90s`, `10m`, `2h`, `1d`, `1h30m`, or seconds.
    Duration(Millis),
    "a duration such as 90s, 10m or 2h",
    quantities::duration_ms
);

scalar_type!(
    /// Kubernetes CPU, in millicores: `16`, `0.5`, `500m`.
    CpuMillis(i64),
    "a Kubernetes CPU quantity such as 4 or 500m",
    quantities::cpu_millis
);

scalar_type!(
    /// Kubernetes memory, in bytes: `64Gi`, `512Mi`, `1G`.
    Bytes(i64),
    "a Kubernetes memory quantity such as 64Gi",
    quantities::bytes
);

scalar_type!(
    /// A Kubernetes count: pod slots, GPUs.
    Count(i64),
    "a whole number",
    quantities::count
);

scalar_type!(
    /// Spark memory notation, in MiB: `4g`, `512m`, `1024` (MiB).
    SparkMib(i64),
    "Spark memory such as 4g or 512m",
    quantities::spark_mib
);

scalar_type!(
    /// `spark.memory.offHeap.size`, in whole MiB: `2g`, `512m`, bare bytes.
    SparkOffheapMib(i64),
    "Spark memory such as 2g",
    quantities::spark_offheap_mib
);

scalar_type!(
    /// Spark cores: a whole number of at least 1.
    Cores(u32),
    "a whole number of cores",
    quantities::spark_cores
);
