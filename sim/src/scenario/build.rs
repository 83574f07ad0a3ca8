//! Checks what serde cannot, then builds the values the engine runs on.
//!
//! serde has already checked every field's type and notation. What is left are the rules
//! between fields: names that must be unique, references that must resolve (a pool, a node,
//! a job, a domain), bounds that must hold (an end after its start, a weight table that can
//! draw something), and Spark's own checks. Each failure names the value at fault.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde_saphyr::{Location, Spanned};
use sparkq_core::scheduler::{Quota, Weights};
use sparkq_core::spark::{self, AppKind, DynamicAllocation, SparkApp, SparkPodConf};
use sparkq_core::{
    Constraints, Flow, Millis, Priority, Resources, SchedulerConfig, Taint, TaintEffect,
    Toleration, TolerationOperator,
};

use super::error::ScenarioError;
use super::raw::{
    Choice, Entries, RawAppKind, RawArrival, RawBackground, RawContainer, RawDurationDist,
    RawEstimate, RawEvent, RawGenerator, RawJob, RawPod, RawPolicy, RawPool, RawScenario, RawSize,
    RawSpark, RawTaggedDist, RawToleration, RawWorkload,
};
use super::workload::{
    ArrivalProcess, Estimate, ExplicitJob, Generator, JobShape, JobSize, RunTime, Weighted,
    Workload,
};
use super::{
    BackgroundSpec, EventKind, MAX_POOL_NODES, POOL_LABEL, PoolSpec, Scenario, TimedEvent,
};
use crate::trace::source::TraceSource;

/// Label key and value pairs, sorted by key.
type Labels = Vec<(Arc<str>, Arc<str>)>;

/// Pod slots of a node when the pool does not say: Kubernetes' default `maxPods`.
const DEFAULT_PODS: i64 = 110;

/// Kubernetes' default `terminationGracePeriodSeconds`.
const DEFAULT_GRACE_MS: Millis = 30_000;

/// Builds a scenario from what serde read out of `text`.
pub(super) fn scenario(
    raw: RawScenario,
    text: &str,
    file: &str,
) -> Result<Scenario, ScenarioError> {
    let cx = Cx { file, pools: &[] };
    let name = match raw.name {
        Some(name) => cx.non_empty(&name, "name")?.to_owned(),
        None => Path::new(file)
            .file_stem()
            .map_or_else(|| "scenario".to_owned(), |stem| stem.to_string_lossy().into_owned()),
    };
    let horizon_ms = raw.horizon.map(|horizon| horizon.value.0);
    let config = cx.config(raw.policy)?;
    let pools = cx.pools(raw.cluster.pools)?;
    let cx = Cx { file, pools: &pools };
    let background = raw
        .cluster
        .background
        .into_iter()
        .map(|raw| cx.background(raw))
        .collect::<Result<Vec<_>, _>>()?;
    cx.unique(background.iter().map(|b| (b.0.name.as_ref(), &b.1)), "name", "background pods")?;
    let background = background.into_iter().map(|(spec, _)| spec).collect();
    let workload = cx.workload(raw.workload, horizon_ms)?;
    let events = cx.events(raw.events, &workload, horizon_ms)?;

    Ok(Scenario {
        name,
        description: raw.description,
        seed: raw.seed.unwrap_or(0),
        horizon_ms,
        config,
        pools,
        background,
        workload,
        events,
        source: text.to_owned(),
    })
}

/// The checking context: the file name every error carries, and the pools once they are read.
struct Cx<'a> {
    file: &'a str,
    pools: &'a [PoolSpec],
}

impl Cx<'_> {
    fn error(&self, at: &Location, field: &str, message: impl Into<String>) -> ScenarioError {
        ScenarioError::at(self.file, at, Some(field), message)
    }

    fn non_empty<'s>(
        &self,
        value: &'s Spanned<String>,
        field: &str,
    ) -> Result<&'s str, ScenarioError> {
        let text = value.value.trim();
        if text.is_empty() {
            return Err(self.error(&value.referenced, field, "is empty: expected a name"));
        }
        if text.chars().any(char::is_whitespace) {
            return Err(self.error(
                &value.referenced,
                field,
                format!("`{text}` contains spaces: expected a name without spaces"),
            ));
        }
        Ok(text)
    }

    /// A name Kubernetes accepts as a namespace or in a node name: lower-case letters, digits
    /// and `-`, starting and ending with a letter or digit, at most 63 characters.
    fn dns_label<'s>(
        &self,
        value: &'s Spanned<String>,
        field: &str,
    ) -> Result<&'s str, ScenarioError> {
        let text = value.value.as_str();
        let valid = !text.is_empty()
            && text.len() <= 63
            && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !text.starts_with('-')
            && !text.ends_with('-');
        if valid {
            Ok(text)
        } else {
            Err(self.error(
                &value.referenced,
                field,
                format!(
                    "`{text}` is not a Kubernetes name: expected lower-case letters, digits and \
                     `-`, starting and ending with a letter or digit, at most 63 characters"
                ),
            ))
        }
    }

    /// Fails on the second use of a name, pointing at it and at the first.
    fn unique<'n>(
        &self,
        names: impl IntoIterator<Item = (&'n str, &'n Location)>,
        field: &str,
        what: &str,
    ) -> Result<(), ScenarioError> {
        let mut seen: BTreeMap<&str, &Location> = BTreeMap::new();
        for (name, at) in names {
            if let Some(first) = seen.insert(name, at) {
                return Err(self.error(
                    at,
                    field,
                    format!(
                        "`{name}` is already used by other {what} (line {}): expected unique \
                         names",
                        first.line()
                    ),
                ));
            }
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Policy

    fn config(&self, raw: Option<Spanned<RawPolicy>>) -> Result<SchedulerConfig, ScenarioError> {
        let mut config = SchedulerConfig::default();
        let Some(raw) = raw else {
            return Ok(config);
        };
        let options = match raw.value {
            RawPolicy::Name(policy) => {
                config.policy = policy;
                return Ok(config);
            }
            RawPolicy::Full(options) => options,
        };
        config.policy = options.name.unwrap_or(config.policy);
        config.placement = options.placement.unwrap_or(config.placement);
        config.queue_scope = options.queue_scope.unwrap_or(config.queue_scope);
        config.enabled = options.enabled.unwrap_or(config.enabled);
        if let Some(weights) = options.weights {
            if weights.value.high == 0 && weights.value.normal == 0 {
                return Err(self.error(
                    &weights.referenced,
                    "weights",
                    "both weights are 0: expected at least one above 0, such as \
                     {high: 90, normal: 10}",
                ));
            }
            config.weights = Weights { high: weights.value.high, normal: weights.value.normal };
        }
        config.head_timeout_ms = options.head_timeout.as_ref().map(|timeout| timeout.value.0);
        if let Some(retries) = options.head_retries {
            if options.head_timeout.is_none() && retries.value > 0 {
                return Err(self.error(
                    &retries.referenced,
                    "head_retries",
                    "has no effect without a head timeout: expected `head_timeout` as well",
                ));
            }
            config.head_retries = retries.value;
        }

        for quota in &options.quotas {
            self.non_empty(&quota.name, "name")?;
            if let Some(namespace) = &quota.namespace {
                self.dns_label(namespace, "namespace")?;
            }
            if quota.cpu.is_none() && quota.memory.is_none() && quota.pods.is_none() {
                return Err(self.error(
                    &quota.name.referenced,
                    "name",
                    format!(
                        "quota `{}` limits nothing: expected at least one of `cpu`, `memory`, \
                         `pods`",
                        quota.name.value
                    ),
                ));
            }
        }
        self.unique(
            options.quotas.iter().map(|q| (q.name.value.as_str(), &q.name.referenced)),
            "name",
            "quotas",
        )?;
        config.quotas = options
            .quotas
            .into_iter()
            .map(|quota| Quota {
                name: quota.name.value.into(),
                namespace: quota.namespace.map(|namespace| namespace.value.into()),
                priority: quota.priority,
                cpu_millis: quota.cpu.map(|cpu| cpu.0),
                memory_bytes: quota.memory.map(|memory| memory.0),
                pods: quota.pods.map(|pods| pods.0),
            })
            .collect();
        Ok(config)
    }

    // -----------------------------------------------------------------------------------------
    // Cluster

    fn pools(&self, raw: Spanned<Vec<RawPool>>) -> Result<Vec<PoolSpec>, ScenarioError> {
        if raw.value.is_empty() {
            return Err(self.error(
                &raw.referenced,
                "pools",
                "no node pools: expected at least one, such as \
                 {name: general, count: 4, cpu: 16, memory: 64Gi}",
            ));
        }
        for pool in &raw.value {
            self.dns_label(&pool.name, "name")?;
        }
        self.unique(
            raw.value.iter().map(|p| (p.name.value.as_str(), &p.name.referenced)),
            "name",
            "pools",
        )?;
        raw.value.into_iter().map(|pool| self.pool(pool)).collect()
    }

    fn pool(&self, raw: RawPool) -> Result<PoolSpec, ScenarioError> {
        let name: Arc<str> = raw.name.value.as_str().into();
        if raw.count.value > MAX_POOL_NODES {
            return Err(self.error(
                &raw.count.referenced,
                "count",
                format!("{} nodes: expected at most {MAX_POOL_NODES} in a pool", raw.count.value),
            ));
        }
        let mut allocatable = Resources {
            cpu_millis: raw.cpu.0,
            memory_bytes: raw.memory.0,
            pods: raw.pods.map_or(DEFAULT_PODS, |pods| pods.0),
            extended: Vec::new(),
        };
        for (resource, amount) in raw.extended.0 {
            allocatable = allocatable.with_extended(resource, amount.0);
        }

        let mut labels: Labels = Vec::new();
        if let Some(written) = raw.labels {
            for (key, value) in written.value.0 {
                if key == POOL_LABEL {
                    return Err(self.error(
                        &written.referenced,
                        "labels",
                        format!(
                            "`{POOL_LABEL}` is set from the pool's name: expected other labels \
                             only"
                        ),
                    ));
                }
                labels.push((key.into(), value.into()));
            }
        }
        labels.push((POOL_LABEL.into(), name.clone()));
        labels.sort_by(|a, b| a.0.cmp(&b.0));

        let taints = raw
            .taints
            .into_iter()
            .map(|taint| Taint {
                key: taint.key.into(),
                value: taint.value.map(Into::into),
                effect: taint.effect,
            })
            .collect();
        Ok(PoolSpec { name, count: raw.count.value, allocatable, labels, taints })
    }

    /// A background workload, with the location of its name for the uniqueness check.
    fn background(&self, raw: RawBackground) -> Result<(BackgroundSpec, Location), ScenarioError> {
        let name = self.non_empty(&raw.name, "name")?;
        let mut request = Resources::pod(raw.cpu.0, raw.memory.0);
        for (resource, amount) in raw.extended.0 {
            request = request.with_extended(resource, amount.0);
        }

        let mut selector = self.selector(raw.node_selector.as_ref())?;
        let mut tolerations = Vec::new();
        for toleration in &raw.tolerations {
            tolerations.push(self.toleration(toleration)?);
        }
        if let Some(pool_name) = &raw.pool {
            let pool = self.find_pool(pool_name)?;
            if selector.iter().any(|(key, _)| key.as_ref() == POOL_LABEL) {
                return Err(self.error(
                    &pool_name.referenced,
                    "pool",
                    format!(
                        "is given twice, here and as `{POOL_LABEL}` in node_selector: expected \
                         one of them"
                    ),
                ));
            }
            selector.push((POOL_LABEL.into(), pool.name.clone()));
            selector.sort_by(|a, b| a.0.cmp(&b.0));
            let constraints =
                Constraints { node_selector: Vec::new(), tolerations: tolerations.clone() };
            // `tolerates_all` ignores `PreferNoSchedule`, which only discourages placement.
            let untolerated =
                |taint: &&Taint| !constraints.tolerates_all(std::slice::from_ref(*taint));
            if let Some(taint) = pool.taints.iter().find(untolerated) {
                return Err(self.error(
                    &pool_name.referenced,
                    "pool",
                    format!(
                        "pool `{}` has the taint `{}` that these pods do not tolerate, so they \
                         could never run there: expected a matching entry in `tolerations`",
                        pool.name,
                        show_taint(taint)
                    ),
                ));
            }
        }

        let start_ms = raw.start.map_or(0, |start| start.0);
        if let Some(end) = &raw.end
            && end.value.0 <= start_ms
        {
            return Err(self.error(
                &end.referenced,
                "end",
                format!(
                    "{} is not after the start ({}): expected a later end",
                    show_ms(end.value.0),
                    show_ms(start_ms)
                ),
            ));
        }
        let spec = BackgroundSpec {
            name: name.into(),
            count: raw.count.unwrap_or(1),
            request,
            constraints: Arc::new(Constraints { node_selector: selector, tolerations }),
            priority: raw.priority.unwrap_or(Priority::Normal),
            start_ms,
            end_ms: raw.end.map(|end| end.value.0),
            grace_ms: raw.grace.map_or(DEFAULT_GRACE_MS, |grace| grace.0),
        };
        Ok((spec, raw.name.referenced))
    }

    fn find_pool(&self, name: &Spanned<String>) -> Result<&PoolSpec, ScenarioError> {
        self.pools
            .iter()
            .find(|pool| pool.name.as_ref() == name.value)
            .ok_or_else(|| self.unknown_pool(name, "pool"))
    }

    fn unknown_pool(&self, name: &Spanned<String>, field: &str) -> ScenarioError {
        self.error(
            &name.referenced,
            field,
            format!("no pool is named `{}`: expected one of {}", name.value, names_of(self.pools)),
        )
    }

    fn selector(
        &self,
        raw: Option<&Spanned<Entries<String, String>>>,
    ) -> Result<Labels, ScenarioError> {
        let Some(raw) = raw else {
            return Ok(Vec::new());
        };
        let mut selector: Labels = Vec::with_capacity(raw.value.0.len());
        for (key, value) in &raw.value.0 {
            if key.is_empty() {
                return Err(self.error(
                    &raw.referenced,
                    "node_selector",
                    "has an empty label key: expected a label name",
                ));
            }
            selector.push((key.as_str().into(), value.as_str().into()));
        }
        selector.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(selector)
    }

    /// A toleration, with the two combinations Kubernetes refuses turned into errors.
    fn toleration(&self, raw: &Spanned<RawToleration>) -> Result<Toleration, ScenarioError> {
        let toleration = &raw.value;
        let operator = toleration.operator.unwrap_or(TolerationOperator::Equal);
        if toleration.key.is_none() && operator == TolerationOperator::Equal {
            return Err(self.error(
                &raw.referenced,
                "tolerations",
                "a toleration without a key tolerates every taint only with `operator: Exists`: \
                 expected a `key`, or `operator: Exists`",
            ));
        }
        if operator == TolerationOperator::Exists && toleration.value.is_some() {
            return Err(self.error(
                &raw.referenced,
                "tolerations",
                "`operator: Exists` matches any value: expected no `value` with it",
            ));
        }
        Ok(Toleration {
            key: toleration.key.as_deref().map(Into::into),
            operator,
            value: toleration.value.as_deref().map(Into::into),
            effect: toleration.effect,
        })
    }

    // -----------------------------------------------------------------------------------------
    // Spark

    /// The pods and placement of a Spark application; Spark's defaults when `raw` is absent.
    fn shape(&self, raw: Option<Spanned<RawSpark>>) -> Result<JobShape, ScenarioError> {
        let Some(raw) = raw else {
            let pods = spark::job_pods(&SparkApp::default());
            return Ok(JobShape { pods, constraints: Arc::new(Constraints::default()) });
        };
        let at = raw.referenced;
        let spark = raw.value;
        let mut app = SparkApp {
            kind: match spark.app {
                None | Some(RawAppKind::Jvm) => AppKind::Jvm,
                Some(RawAppKind::Python) => AppKind::Python,
                Some(RawAppKind::R) => AppKind::R,
            },
            offheap_mib: spark.offheap.map(|offheap| offheap.0),
            pyspark_memory_mib: spark.pyspark_memory.map(|memory| memory.0),
            pod_overhead: spark.pod_overhead.as_ref().map(container),
            ..SparkApp::default()
        };
        if let Some(driver) = spark.driver {
            if let Some(instances) = &driver.instances {
                return Err(self.error(
                    &instances.referenced,
                    "instances",
                    "a job has one driver: expected `instances` under `executor` only",
                ));
            }
            app.driver_init_containers = driver.init_containers.iter().map(container).collect();
            app.driver = pod_conf(&driver);
        }
        if let Some(executor) = spark.executor {
            app.executor_instances = executor.instances.as_ref().map(|n| n.value);
            app.executor_init_containers = executor.init_containers.iter().map(container).collect();
            app.executor = pod_conf(&executor);
        }
        if let Some(dynamic) = &spark.dynamic_allocation {
            let settings = &dynamic.value;
            if let (Some(min), Some(max)) = (settings.min, settings.max)
                && min > max
            {
                return Err(self.error(
                    &dynamic.referenced,
                    "dynamic_allocation",
                    format!("min {min} is above max {max}: expected min ≤ initial ≤ max"),
                ));
            }
            app.dynamic_allocation = Some(DynamicAllocation {
                initial_executors: settings.initial,
                min_executors: settings.min,
                max_executors: settings.max,
            });
        }
        if let Err(error) = spark::validate(&app) {
            return Err(self.error(
                &at,
                "spark",
                format!("this application can never run: {error}"),
            ));
        }

        let mut tolerations = Vec::with_capacity(spark.tolerations.len());
        for toleration in &spark.tolerations {
            tolerations.push(self.toleration(toleration)?);
        }
        let node_selector = self.selector(spark.node_selector.as_ref())?;
        if let Some(selected) = &spark.node_selector
            && let Some((_, pool)) =
                node_selector.iter().find(|(key, _)| key.as_ref() == POOL_LABEL)
            && !self.pools.iter().any(|known| known.name == *pool)
        {
            return Err(self.error(
                &selected.referenced,
                "node_selector",
                format!(
                    "selects the pool `{pool}`, which does not exist: expected one of {}",
                    names_of(self.pools)
                ),
            ));
        }
        Ok(JobShape {
            pods: spark::job_pods(&app),
            constraints: Arc::new(Constraints { node_selector, tolerations }),
        })
    }

    // -----------------------------------------------------------------------------------------
    // Workload

    fn workload(
        &self,
        raw: RawWorkload,
        horizon_ms: Option<Millis>,
    ) -> Result<Workload, ScenarioError> {
        let mut generator_names: Vec<(&str, &Location)> = Vec::new();
        for generator in &raw.generators {
            generator_names
                .push((self.non_empty(&generator.name, "name")?, &generator.name.referenced));
        }
        self.unique(generator_names.iter().copied(), "name", "generators")?;
        let mut job_names: Vec<(&str, &Location)> = Vec::new();
        for job in &raw.jobs {
            let name = self.non_empty(&job.name, "name")?;
            if let Some((generator, _)) = generator_names
                .iter()
                .find(|(generator, _)| generated_index(name, generator).is_some())
            {
                return Err(self.error(
                    &job.name.referenced,
                    "name",
                    format!(
                        "`{name}` is how generator `{generator}` names its jobs: expected a name \
                         that is not `{generator}-<number>`"
                    ),
                ));
            }
            job_names.push((name, &job.name.referenced));
        }
        self.unique(job_names.iter().copied(), "name", "jobs")?;

        let mut jobs = Vec::with_capacity(raw.jobs.len());
        for job in raw.jobs {
            jobs.push(self.job(job, horizon_ms)?);
        }
        jobs.sort_by_key(|job| job.submit_ms);
        let mut generators = Vec::with_capacity(raw.generators.len());
        for generator in raw.generators {
            generators.push(self.generator(generator, horizon_ms)?);
        }
        let trace = match raw.trace {
            Some(reference) => Some(Arc::new(
                TraceSource::from_ref(&reference.value, self.file)
                    .map_err(|message| self.error(&reference.referenced, "trace", message))?,
            )),
            None => None,
        };
        Ok(Workload { jobs: jobs.into(), generators: generators.into(), trace })
    }

    fn job(&self, raw: RawJob, horizon_ms: Option<Millis>) -> Result<ExplicitJob, ScenarioError> {
        let namespace: Arc<str> = match &raw.namespace {
            Some(namespace) => self.dns_label(namespace, "namespace")?.into(),
            None => "default".into(),
        };
        let domain: Arc<str> = match &raw.domain {
            Some(domain) => self.non_empty(domain, "domain")?.into(),
            None => namespace.clone(),
        };
        let submit_ms = raw.submit.as_ref().map_or(0, |submit| submit.value.0);
        if let (Some(submit), Some(horizon_ms)) = (&raw.submit, horizon_ms)
            && submit.value.0 >= horizon_ms
        {
            return Err(self.error(
                &submit.referenced,
                "submit",
                format!(
                    "{} is not before the horizon ({}): expected an earlier time or a later \
                     horizon",
                    show_ms(submit.value.0),
                    show_ms(horizon_ms)
                ),
            ));
        }
        let run_ms = raw.duration.value.0;
        if let Some(fail_after) = &raw.fail_after
            && fail_after.value.0 >= run_ms
        {
            return Err(self.error(
                &fail_after.referenced,
                "fail_after",
                format!(
                    "{} is not within the run time ({}): expected less than `duration`, or \
                     no `fail_after` for a job that succeeds",
                    show_ms(fail_after.value.0),
                    show_ms(run_ms)
                ),
            ));
        }
        Ok(ExplicitJob {
            name: raw.name.value.trim().into(),
            namespace,
            domain,
            priority: raw.priority.unwrap_or(Priority::Normal),
            flow: raw.flow.unwrap_or(Flow::Orchestrated),
            shape: self.shape(raw.spark)?,
            submit_ms,
            run_ms,
            estimate_ms: raw.estimate.map(|estimate| estimate.0),
            fail_after_ms: raw.fail_after.map(|fail_after| fail_after.value.0),
        })
    }

    fn generator(
        &self,
        raw: RawGenerator,
        horizon_ms: Option<Millis>,
    ) -> Result<Generator, ScenarioError> {
        let name: Arc<str> = raw.name.value.trim().into();
        let start_ms = raw.start.as_ref().map_or(0, |start| start.value.0);
        let end_ms = raw.end.as_ref().map(|end| end.value.0).or(horizon_ms);
        if let Some(end) = &raw.end
            && end.value.0 <= start_ms
        {
            return Err(self.error(
                &end.referenced,
                "end",
                format!(
                    "{} is not after the start ({}): expected a later end",
                    show_ms(end.value.0),
                    show_ms(start_ms)
                ),
            ));
        }
        if let (None, Some(start), Some(horizon_ms)) = (&raw.end, &raw.start, horizon_ms)
            && start.value.0 >= horizon_ms
        {
            return Err(self.error(
                &start.referenced,
                "start",
                format!(
                    "{} is not before the horizon ({}): expected an earlier start, or a later \
                     horizon",
                    show_ms(start.value.0),
                    show_ms(horizon_ms)
                ),
            ));
        }
        if raw.count.is_none() && end_ms.is_none() {
            return Err(self.error(
                &raw.name.referenced,
                "count",
                format!(
                    "generator `{name}` has no bound and would never stop: expected `count`, \
                     `end`, or a scenario `horizon`"
                ),
            ));
        }

        let arrival = match raw.arrival.value {
            RawArrival::Every(interval) => {
                if interval.0 == 0 && raw.count.is_none() {
                    return Err(self.error(
                        &raw.arrival.referenced,
                        "every",
                        "0s without a `count` is endless jobs at one instant: expected a \
                         positive interval, or a `count` for a burst",
                    ));
                }
                ArrivalProcess::Every { interval_ms: interval.0 }
            }
            RawArrival::Poisson { mean } => {
                if mean.0 == 0 {
                    return Err(self.error(
                        &raw.arrival.referenced,
                        "mean",
                        "0s: expected a positive mean time between arrivals",
                    ));
                }
                ArrivalProcess::Poisson { mean_ms: mean.0 }
            }
        };

        let namespaces = match raw.namespaces {
            None => Weighted::single("default".into()),
            Some(choice) => self.weighted_names(choice, "namespaces", true)?,
        };
        let domains = match raw.domains {
            None => None,
            Some(choice) => Some(self.weighted_names(choice, "domains", false)?),
        };
        let priorities = match raw.priority {
            None => Weighted::single(Priority::Normal),
            Some(choice) => self.weighted(choice, "priority")?,
        };
        let flows = match raw.flow {
            None => Weighted::single(Flow::Orchestrated),
            Some(choice) => self.weighted(choice, "flow")?,
        };
        let sizes = self.sizes(&name, &raw.name.referenced, raw.spark, raw.sizes)?;
        let run_time = self.run_time(raw.duration)?;
        let estimate = match raw.estimate {
            None | Some(RawEstimate::None) => Estimate::None,
            Some(RawEstimate::Exact) => Estimate::Exact,
            Some(RawEstimate::Factor(factor)) => {
                if !(factor.value.is_finite() && factor.value > 0.0) {
                    return Err(self.error(
                        &factor.referenced,
                        "factor",
                        format!(
                            "{} is not a positive number: expected a factor such as 1.5",
                            factor.value
                        ),
                    ));
                }
                Estimate::Factor(factor.value)
            }
        };
        let failure_probability = match raw.failures {
            None => 0.0,
            Some(failures) => {
                let p = failures.probability;
                if !(0.0..=1.0).contains(&p.value) {
                    return Err(self.error(
                        &p.referenced,
                        "probability",
                        format!("{} is not a probability: expected a number from 0 to 1", p.value),
                    ));
                }
                p.value
            }
        };

        Ok(Generator {
            name,
            count: raw.count,
            start_ms,
            end_ms,
            arrival,
            namespaces,
            domains,
            priorities,
            flows,
            sizes,
            run_time,
            estimate,
            failure_probability,
        })
    }

    fn weighted<T>(
        &self,
        choice: Spanned<Choice<T>>,
        field: &str,
    ) -> Result<Weighted<T>, ScenarioError> {
        match choice.value {
            Choice::One(value) => Ok(Weighted::single(value)),
            Choice::Weighted(entries) => Weighted::new(entries).ok_or_else(|| {
                self.error(
                    &choice.referenced,
                    field,
                    "no weight above 0, so nothing can be drawn: expected at least one positive \
                     weight",
                )
            }),
        }
    }

    fn weighted_names(
        &self,
        choice: Spanned<Choice<String>>,
        field: &str,
        namespaces: bool,
    ) -> Result<Weighted<Arc<str>>, ScenarioError> {
        let at = choice.referenced;
        let names: Vec<&String> = match &choice.value {
            Choice::One(name) => vec![name],
            Choice::Weighted(entries) => entries.iter().map(|(name, _)| name).collect(),
        };
        for name in names {
            let spanned = Spanned { value: name.clone(), referenced: at, defined: at };
            if namespaces {
                self.dns_label(&spanned, field)?;
            } else {
                self.non_empty(&spanned, field)?;
            }
        }
        let converted = Spanned {
            value: match choice.value {
                Choice::One(name) => Choice::One(Arc::<str>::from(name)),
                Choice::Weighted(entries) => {
                    Choice::Weighted(entries.into_iter().map(|(n, w)| (n.into(), w)).collect())
                }
            },
            referenced: at,
            defined: choice.defined,
        };
        self.weighted(converted, field)
    }

    /// A generator's sizes: `sizes:` with weights, or one size from `spark:`, or Spark's
    /// defaults when it gives neither.
    fn sizes(
        &self,
        generator: &Arc<str>,
        at: &Location,
        spark: Option<Spanned<RawSpark>>,
        sizes: Vec<RawSize>,
    ) -> Result<Weighted<JobSize>, ScenarioError> {
        if sizes.is_empty() {
            let shape = self.shape(spark)?;
            return Ok(Weighted::single(JobSize { name: generator.clone(), shape }));
        }
        if let Some(spark) = &spark {
            return Err(self.error(
                &spark.referenced,
                "spark",
                "is given together with `sizes`: expected `spark` inside each size, or `spark` \
                 alone for a single size",
            ));
        }
        self.unique(
            sizes.iter().map(|s| (s.name.value.as_str(), &s.name.referenced)),
            "name",
            "sizes",
        )?;
        let mut weighted = Vec::with_capacity(sizes.len());
        for size in sizes {
            let name = self.non_empty(&size.name, "name")?;
            let weight = size.weight.map_or(1, |weight| weight.value);
            weighted.push((JobSize { name: name.into(), shape: self.shape(size.spark)? }, weight));
        }
        Weighted::new(weighted).ok_or_else(|| {
            self.error(
                at,
                "sizes",
                "every size has weight 0: expected at least one positive weight",
            )
        })
    }

    fn run_time(&self, raw: Spanned<RawDurationDist>) -> Result<RunTime, ScenarioError> {
        let at = raw.referenced;
        let tagged = match raw.value {
            RawDurationDist::Fixed(run) => return Ok(RunTime::Fixed { run_ms: run.0 }),
            RawDurationDist::Tagged(tagged) => tagged,
        };
        Ok(match tagged {
            RawTaggedDist::Fixed(run) => RunTime::Fixed { run_ms: run.0 },
            RawTaggedDist::Uniform { min, max } => {
                if min.0 > max.0 {
                    return Err(self.error(
                        &at,
                        "uniform",
                        format!(
                            "min {} is above max {}: expected min ≤ max",
                            show_ms(min.0),
                            show_ms(max.0)
                        ),
                    ));
                }
                RunTime::Uniform { min_ms: min.0, max_ms: max.0 }
            }
            RawTaggedDist::Exponential { mean } => {
                if mean.0 == 0 {
                    return Err(self.error(
                        &at,
                        "mean",
                        "0s: expected a positive mean (or `fixed: 0s` for jobs that take no time)",
                    ));
                }
                RunTime::Exponential { mean_ms: mean.0 }
            }
            RawTaggedDist::Lognormal { median, sigma } => {
                if median.0 == 0 {
                    return Err(self.error(&at, "median", "0s: expected a positive median"));
                }
                if !(sigma.is_finite() && sigma >= 0.0) {
                    return Err(self.error(
                        &at,
                        "sigma",
                        format!("{sigma} is not a spread: expected a number ≥ 0, such as 0.5"),
                    ));
                }
                RunTime::LogNormal { median_ms: median.0, sigma }
            }
        })
    }

    // -----------------------------------------------------------------------------------------
    // Events

    fn events(
        &self,
        raw: Vec<RawEvent>,
        workload: &Workload,
        horizon_ms: Option<Millis>,
    ) -> Result<Vec<TimedEvent>, ScenarioError> {
        let mut read = Vec::with_capacity(raw.len());
        for event in raw {
            read.push(self.event(event, horizon_ms)?);
        }
        read.sort_by_key(|(at_ms, _)| *at_ms);

        // Replay the pool sizes over time, so that a node is known to exist when it is named.
        let pools = self.pools;
        let mut sizes: Vec<u32> = pools.iter().map(|pool| pool.count).collect();
        let mut events = Vec::with_capacity(read.len());
        for (at_ms, action) in read {
            let kind = match action {
                Action::AddNodes { pool, count } => {
                    let index = self.pool_index(&pool)?;
                    sizes[index] = sizes[index].saturating_add(count.value);
                    if sizes[index] > MAX_POOL_NODES {
                        return Err(self.error(
                            &count.referenced,
                            "count",
                            format!(
                                "pool `{}` would have {} nodes at {}: expected at most \
                                 {MAX_POOL_NODES} in a pool",
                                pools[index].name,
                                sizes[index],
                                show_ms(at_ms)
                            ),
                        ));
                    }
                    EventKind::AddNodes { pool: pools[index].name.clone(), count: count.value }
                }
                Action::RemoveNodes { pool, count } => {
                    let index = self.pool_index(&pool)?;
                    if count.value > sizes[index] {
                        return Err(self.error(
                            &count.referenced,
                            "count",
                            format!(
                                "pool `{}` has {} nodes at {}: expected to remove at most that \
                                 many",
                                pools[index].name,
                                sizes[index],
                                show_ms(at_ms)
                            ),
                        ));
                    }
                    sizes[index] -= count.value;
                    EventKind::RemoveNodes { pool: pools[index].name.clone(), count: count.value }
                }
                Action::Cordon(node) => {
                    EventKind::Cordon { node: self.node(&sizes, &node, "cordon", at_ms)? }
                }
                Action::Uncordon(node) => {
                    EventKind::Uncordon { node: self.node(&sizes, &node, "uncordon", at_ms)? }
                }
                Action::Cancel(job) => {
                    EventKind::Cancel { job: self.job_ref(workload, &job, "cancel", at_ms)? }
                }
                Action::SetFlow { job, flow } => {
                    EventKind::SetFlow { job: self.job_ref(workload, &job, "job", at_ms)?, flow }
                }
                Action::SetPriority { job, priority } => EventKind::SetPriority {
                    job: self.job_ref(workload, &job, "job", at_ms)?,
                    priority,
                },
                Action::MigrateDomain(domain) => {
                    EventKind::MigrateDomain { domain: self.domain_ref(workload, &domain)? }
                }
                Action::Disable => EventKind::Disable,
                Action::Enable => EventKind::Enable,
            };
            events.push(TimedEvent { at_ms, kind });
        }
        Ok(events)
    }

    /// An event's time and its single action. Names are resolved later, in time order.
    fn event(
        &self,
        raw: RawEvent,
        horizon_ms: Option<Millis>,
    ) -> Result<(Millis, Action), ScenarioError> {
        let at_ms = raw.at.value.0;
        if let Some(horizon_ms) = horizon_ms
            && at_ms >= horizon_ms
        {
            return Err(self.error(
                &raw.at.referenced,
                "at",
                format!(
                    "{} is not before the horizon ({}): expected an earlier time, or a later \
                     horizon",
                    show_ms(at_ms),
                    show_ms(horizon_ms)
                ),
            ));
        }

        let mut actions: Vec<(&str, Action)> = Vec::new();
        if let Some(add) = raw.add_nodes {
            actions.push(("add_nodes", Action::AddNodes { pool: add.pool, count: add.count }));
        }
        if let Some(remove) = raw.remove_nodes {
            let action = Action::RemoveNodes { pool: remove.pool, count: remove.count };
            actions.push(("remove_nodes", action));
        }
        if let Some(node) = raw.cordon {
            actions.push(("cordon", Action::Cordon(node)));
        }
        if let Some(node) = raw.uncordon {
            actions.push(("uncordon", Action::Uncordon(node)));
        }
        if let Some(job) = raw.cancel {
            actions.push(("cancel", Action::Cancel(job)));
        }
        if let Some(set) = raw.set_flow {
            actions.push(("set_flow", Action::SetFlow { job: set.job, flow: set.flow }));
        }
        if let Some(set) = raw.set_priority {
            let action = Action::SetPriority { job: set.job, priority: set.priority };
            actions.push(("set_priority", action));
        }
        if let Some(migrate) = raw.migrate_to_legacy {
            actions.push(("migrate_to_legacy", Action::MigrateDomain(migrate.domain)));
        }
        if raw.disable.0 {
            actions.push(("disable", Action::Disable));
        }
        if raw.enable.0 {
            actions.push(("enable", Action::Enable));
        }

        if actions.len() != 1 {
            let found = if actions.is_empty() {
                "none".to_owned()
            } else {
                let names: Vec<String> =
                    actions.iter().map(|(name, _)| format!("`{name}`")).collect();
                names.join(" and ")
            };
            return Err(self.error(
                &raw.at.referenced,
                "at",
                format!(
                    "an event takes exactly one action, found {found}: expected one of \
                     add_nodes, remove_nodes, cordon, uncordon, cancel, set_flow, set_priority, \
                     migrate_to_legacy, disable, enable (write one event per action)"
                ),
            ));
        }
        let (_, action) = actions.remove(0);
        Ok((at_ms, action))
    }

    fn pool_index(&self, name: &Spanned<String>) -> Result<usize, ScenarioError> {
        self.pools
            .iter()
            .position(|pool| pool.name.as_ref() == name.value)
            .ok_or_else(|| self.unknown_pool(name, "pool"))
    }

    /// A node name `<pool>-<index>` that exists at `at_ms`, given the pool sizes then.
    fn node(
        &self,
        sizes: &[u32],
        name: &Spanned<String>,
        field: &str,
        at_ms: Millis,
    ) -> Result<Arc<str>, ScenarioError> {
        let pools = self.pools;
        let text = name.value.trim();
        let parsed = text.rsplit_once('-').and_then(|(pool, index)| {
            let index: u32 =
                index.parse().ok().filter(|_| index.bytes().all(|b| b.is_ascii_digit()))?;
            let position = pools.iter().position(|p| p.name.as_ref() == pool)?;
            Some((position, index))
        });
        let Some((position, index)) = parsed else {
            return Err(self.error(
                &name.referenced,
                field,
                format!(
                    "`{text}` is not a node: expected `<pool>-<index>` with a pool among {}, \
                     such as `{}-0`",
                    names_of(pools),
                    pools[0].name
                ),
            ));
        };
        if index >= sizes[position] {
            let pool = &pools[position].name;
            let existing = match sizes[position] {
                0 => "none".to_owned(),
                n => format!("`{pool}-0` to `{pool}-{}`", n - 1),
            };
            return Err(self.error(
                &name.referenced,
                field,
                format!(
                    "pool `{pool}` has {} nodes at {} ({existing}), so `{text}` does not exist: \
                     expected one of them, or an `add_nodes` event before",
                    sizes[position],
                    show_ms(at_ms),
                ),
            ));
        }
        Ok(text.into())
    }

    /// A job an event acts on: an explicit job submitted by then, or `<generator>-<k>`.
    fn job_ref(
        &self,
        workload: &Workload,
        name: &Spanned<String>,
        field: &str,
        at_ms: Millis,
    ) -> Result<Arc<str>, ScenarioError> {
        let text = name.value.trim();
        if let Some(job) = workload.jobs.iter().find(|job| job.name.as_ref() == text) {
            if at_ms < job.submit_ms {
                return Err(self.error(
                    &name.referenced,
                    field,
                    format!(
                        "job `{text}` is submitted at {}, after this event at {}: expected an \
                         event at or after its submission",
                        show_ms(job.submit_ms),
                        show_ms(at_ms)
                    ),
                ));
            }
            return Ok(job.name.clone());
        }
        for generator in workload.generators.iter() {
            if let Some(index) = generated_index(text, &generator.name) {
                if generator.count.is_some_and(|count| index >= count) {
                    return Err(self.error(
                        &name.referenced,
                        field,
                        format!(
                            "generator `{}` yields {} jobs, numbered from 0: expected an index \
                             below {}",
                            generator.name,
                            generator.count.unwrap_or_default(),
                            generator.count.unwrap_or_default()
                        ),
                    ));
                }
                return Ok(text.into());
            }
        }
        Err(self.error(
            &name.referenced,
            field,
            format!(
                "no job is named `{text}`: expected an explicit job's name or \
                 `<generator>-<number>`"
            ),
        ))
    }

    fn domain_ref(
        &self,
        workload: &Workload,
        name: &Spanned<String>,
    ) -> Result<Arc<str>, ScenarioError> {
        let mut domains: Vec<Arc<str>> =
            workload.jobs.iter().map(|job| job.domain.clone()).collect();
        for generator in workload.generators.iter() {
            let table = generator.domains.as_ref().unwrap_or(&generator.namespaces);
            domains.extend(table.entries().iter().map(|(domain, _)| domain.clone()));
        }
        domains.sort();
        domains.dedup();
        let text = name.value.trim();
        match domains.iter().find(|domain| domain.as_ref() == text) {
            Some(domain) => Ok(domain.clone()),
            None => Err(self.error(
                &name.referenced,
                "domain",
                format!(
                    "no job has the domain `{text}`: expected one of {}",
                    if domains.is_empty() {
                        "the domains of the workload (it has no jobs)".to_owned()
                    } else {
                        domains.iter().map(|d| format!("`{d}`")).collect::<Vec<_>>().join(", ")
                    }
                ),
            )),
        }
    }
}

/// An event's action as read, with the locations of the names it refers to.
enum Action {
    AddNodes { pool: Spanned<String>, count: Spanned<u32> },
    RemoveNodes { pool: Spanned<String>, count: Spanned<u32> },
    Cordon(Spanned<String>),
    Uncordon(Spanned<String>),
    Cancel(Spanned<String>),
    SetFlow { job: Spanned<String>, flow: Flow },
    SetPriority { job: Spanned<String>, priority: Priority },
    MigrateDomain(Spanned<String>),
    Disable,
    Enable,
}

/// `k` when `name` is `<generator>-<k>`.
fn generated_index(name: &str, generator: &str) -> Option<u64> {
    let index = name.strip_prefix(generator)?.strip_prefix('-')?;
    if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    index.parse().ok()
}

fn pod_conf(raw: &RawPod) -> SparkPodConf {
    let defaults = SparkPodConf::default();
    SparkPodConf {
        cores: raw.cores.map_or(defaults.cores, |cores| cores.0),
        request_cores_millis: raw.request_cores.map(|cpu| cpu.0),
        memory_mib: raw.memory.map_or(defaults.memory_mib, |memory| memory.0),
        memory_overhead_mib: raw.memory_overhead.map(|memory| memory.0),
        memory_overhead_factor: raw.memory_overhead_factor.as_ref().map(|factor| factor.value),
        min_memory_overhead_mib: raw.min_memory_overhead.map(|memory| memory.0),
        extended: raw
            .resources
            .0
            .iter()
            .map(|(name, amount)| (name.as_str().into(), i64::from(*amount)))
            .collect(),
    }
}

fn container(raw: &RawContainer) -> Resources {
    Resources { cpu_millis: raw.cpu.0, memory_bytes: raw.memory.0, pods: 0, extended: Vec::new() }
}

fn names_of(pools: &[PoolSpec]) -> String {
    pools.iter().map(|pool| format!("`{}`", pool.name)).collect::<Vec<_>>().join(", ")
}

fn show_taint(taint: &Taint) -> String {
    let effect = match taint.effect {
        TaintEffect::NoSchedule => "NoSchedule",
        TaintEffect::PreferNoSchedule => "PreferNoSchedule",
        TaintEffect::NoExecute => "NoExecute",
    };
    match &taint.value {
        Some(value) => format!("{}={value}:{effect}", taint.key),
        None => format!("{}:{effect}", taint.key),
    }
}

/// A time for messages, in the largest unit that shows it exactly: `90s`, `2h`, `1500ms`.
pub(super) fn show_ms(ms: Millis) -> String {
    const UNITS: [(Millis, &str); 4] =
        [(86_400_000, "d"), (3_600_000, "h"), (60_000, "m"), (1000, "s")];
    if ms == 0 {
        return "0s".to_owned();
    }
    for (unit_ms, suffix) in UNITS {
        if ms.is_multiple_of(unit_ms) {
            return format!("{}{suffix}", ms / unit_ms);
        }
    }
    format!("{ms}ms")
}
