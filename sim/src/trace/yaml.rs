//! Writes an [`Imported`] trace as a scenario file that `sparkq simulate` reads.
//!
//! The scenario format states jobs in Spark's settings, not as raw pod requests, so each pod is
//! written as settings that Spark's formulas turn back into exactly its request: whole cores as
//! `cores`, other CPU as `request_cores`, memory as `memory` with `memory_overhead: 0` (so the
//! heap is the whole request), extended resources under `resources`, the executors' count as
//! `instances`. Every importer produces whole MiB of memory, as Spark requests it.

use std::fmt::Write as _;

use sparkq_core::quantity::{format_bytes, format_cpu};
use sparkq_core::{JobPods, Millis, Policy, Priority, Resources, TolerationOperator};

use super::Imported;
use super::source::TraceRef;
use crate::scenario::POOL_LABEL;

const MIB: i64 = 1 << 20;

/// The scenario's YAML text: the jobs listed one by one, or, with `link`, the trace named.
pub(super) fn scenario(imported: &Imported, policy: Policy, link: Option<&TraceRef>) -> String {
    let mut out = String::with_capacity(256 + imported.jobs.len() * 160);
    let _ = writeln!(out, "# Written by `sparkq import`: {}.", imported.description);
    for line in imported.skipped.to_string().lines() {
        let _ = writeln!(out, "# {}", line.trim());
    }
    for note in &imported.notes {
        let _ = writeln!(out, "# Note: {note}.");
    }
    let _ = writeln!(out, "name: {}", scalar(&imported.name));
    let _ = writeln!(out, "description: {}", quoted(&imported.description));
    let _ = writeln!(out, "seed: 0");
    let _ = writeln!(out, "policy: {}", policy.as_str());
    let _ = writeln!(out, "cluster:");
    let _ = writeln!(out, "  pools:");
    for pool in &imported.pools {
        let _ = writeln!(out, "    - name: {}", scalar(&pool.name));
        let _ = writeln!(out, "      count: {}", pool.count);
        let _ = writeln!(out, "      cpu: {}", format_cpu(pool.allocatable.cpu_millis));
        let _ = writeln!(out, "      memory: {}", format_bytes(pool.allocatable.memory_bytes));
        let _ = writeln!(out, "      pods: {}", pool.allocatable.pods);
        if !pool.allocatable.extended.is_empty() {
            let _ = writeln!(out, "      extended: {}", extended(&pool.allocatable));
        }
        let labels: Vec<String> = pool
            .labels
            .iter()
            .filter(|(key, _)| key.as_ref() != POOL_LABEL)
            .map(|(key, value)| format!("{}: {}", quoted(key), quoted(value)))
            .collect();
        if !labels.is_empty() {
            let _ = writeln!(out, "      labels: {{ {} }}", labels.join(", "));
        }
        if !pool.taints.is_empty() {
            let _ = writeln!(out, "      taints:");
            for taint in &pool.taints {
                let value = taint
                    .value
                    .as_ref()
                    .map(|value| format!(", value: {}", quoted(value)))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "        - {{ key: {}{value}, effect: {:?} }}",
                    quoted(&taint.key),
                    taint.effect
                );
            }
        }
    }
    if !imported.background.is_empty() {
        let _ = writeln!(out, "  background:");
        for background in &imported.background {
            let mut line = format!(
                "    - {{ name: {}, count: {}, cpu: {}, memory: {}",
                scalar(&background.name),
                background.count,
                format_cpu(background.request.cpu_millis),
                format_bytes(background.request.memory_bytes)
            );
            if !background.request.extended.is_empty() {
                let _ = write!(line, ", extended: {}", extended(&background.request));
            }
            let constraints = &background.constraints;
            let pool = constraints
                .node_selector
                .iter()
                .find(|(key, _)| key.as_ref() == POOL_LABEL)
                .map(|(_, value)| value);
            if let Some(pool) = pool {
                let _ = write!(line, ", pool: {}", scalar(pool));
            }
            let others: Vec<String> = constraints
                .node_selector
                .iter()
                .filter(|(key, _)| key.as_ref() != POOL_LABEL)
                .map(|(key, value)| format!("{}: {}", quoted(key), quoted(value)))
                .collect();
            if !others.is_empty() {
                let _ = write!(line, ", node_selector: {{ {} }}", others.join(", "));
            }
            if !constraints.tolerations.is_empty() {
                let tolerations: Vec<String> = constraints
                    .tolerations
                    .iter()
                    .map(|toleration| {
                        let mut parts = Vec::new();
                        if let Some(key) = &toleration.key {
                            parts.push(format!("key: {}", quoted(key)));
                        }
                        let operator = match toleration.operator {
                            TolerationOperator::Equal => "Equal",
                            TolerationOperator::Exists => "Exists",
                        };
                        parts.push(format!("operator: {operator}"));
                        if let Some(value) = &toleration.value {
                            parts.push(format!("value: {}", quoted(value)));
                        }
                        if let Some(effect) = toleration.effect {
                            parts.push(format!("effect: {effect:?}"));
                        }
                        format!("{{ {} }}", parts.join(", "))
                    })
                    .collect();
                let _ = write!(line, ", tolerations: [{}]", tolerations.join(", "));
            }
            let _ = write!(line, ", priority: {}", background.priority.as_str());
            if background.start_ms > 0 {
                let _ = write!(line, ", start: {}", duration(background.start_ms));
            }
            if let Some(end) = background.end_ms {
                let _ = write!(line, ", end: {}", duration(end));
            }
            let _ = write!(line, ", grace: {} }}", duration(background.grace_ms));
            let _ = writeln!(out, "{line}");
        }
    }

    let _ = writeln!(out, "workload:");
    if let Some(link) = link {
        let _ = writeln!(out, "  trace:");
        if let Some(path) = &link.swf {
            let _ = writeln!(out, "    swf: {}", quoted(path));
        }
        if let Some(path) = &link.k8s_pods {
            let _ = writeln!(out, "    k8s_pods: {}", quoted(path));
        }
        if let Some(rule) = &link.priority_rule {
            let _ = writeln!(out, "    priority_rule: {}", quoted(rule));
        }
        if link.skip_bad_lines {
            let _ = writeln!(out, "    skip_bad_lines: true");
        }
    } else if imported.jobs.is_empty() {
        let _ = writeln!(out, "  jobs: []");
    } else {
        let _ = writeln!(out, "  jobs:");
    }
    for job in imported.jobs.iter().filter(|_| link.is_none()) {
        let spec = &job.spec;
        let _ = write!(
            out,
            "    - {{ name: {}, submit: {}, duration: {}",
            scalar(&spec.name),
            duration(job.at_ms),
            duration(job.run_ms)
        );
        if spec.namespace.as_ref() != "default" {
            let _ = write!(out, ", namespace: {}", scalar(&spec.namespace));
        }
        if spec.domain != spec.namespace {
            let _ = write!(out, ", domain: {}", quoted(&spec.domain));
        }
        if spec.priority == Priority::High {
            let _ = write!(out, ", priority: high");
        }
        if let Some(estimate) = spec.expected_duration_ms {
            let _ = write!(out, ", estimate: {}", duration(estimate));
        }
        if let Some(fail_after) = job.fail_after_ms {
            let _ = write!(out, ", fail_after: {}", duration(fail_after));
        }
        let _ = writeln!(out, ", spark: {} }}", spark(&spec.pods));
    }

    if !imported.cordoned.is_empty() {
        let _ = writeln!(out, "events:");
        for node in &imported.cordoned {
            let _ = writeln!(out, "  - {{ at: 0s, cordon: {} }}", scalar(node));
        }
    }
    out
}

/// Spark settings that give back exactly `pods`.
fn spark(pods: &JobPods) -> String {
    let driver = pod(&pods.driver, None);
    let executor = pod(&pods.executor, Some(pods.executors));
    format!("{{ driver: {driver}, executor: {executor} }}")
}

fn pod(request: &Resources, instances: Option<u32>) -> String {
    let mut parts = Vec::with_capacity(5);
    if request.cpu_millis >= 1000 && request.cpu_millis % 1000 == 0 {
        parts.push(format!("cores: {}", request.cpu_millis / 1000));
    } else {
        parts.push(format!("request_cores: {}m", request.cpu_millis.max(1)));
    }
    let memory_bytes = request.memory_bytes.max(1);
    let memory_mib = memory_bytes / MIB + i64::from(memory_bytes % MIB != 0);
    parts.push(format!("memory: {memory_mib}m"));
    parts.push("memory_overhead: 0".to_owned());
    if !request.extended.is_empty() {
        let resources: Vec<String> = request
            .extended
            .iter()
            .map(|(name, amount)| format!("{}: {amount}", quoted(name)))
            .collect();
        parts.push(format!("resources: {{ {} }}", resources.join(", ")));
    }
    if let Some(instances) = instances {
        parts.push(format!("instances: {instances}"));
    }
    format!("{{ {} }}", parts.join(", "))
}

fn extended(resources: &Resources) -> String {
    let entries: Vec<String> = resources
        .extended
        .iter()
        .map(|(name, amount)| format!("{}: {amount}", quoted(name)))
        .collect();
    format!("{{ {} }}", entries.join(", "))
}

/// Whole seconds as `90s`, anything else as `1500ms`.
fn duration(ms: Millis) -> String {
    if ms.is_multiple_of(1000) { format!("{}s", ms / 1000) } else { format!("{ms}ms") }
}

/// A double-quoted YAML string (JSON's escapes are YAML's too).
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| format!("\"{}\"", text.escape_default()))
}

/// A name written plain when YAML cannot mistake it for anything else, else quoted.
fn scalar(text: &str) -> String {
    let plain = text.starts_with(|c: char| c.is_ascii_lowercase())
        && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !matches!(text, "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null");
    if plain { text.to_owned() } else { quoted(text) }
}
