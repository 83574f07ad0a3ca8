//! Tests of arrivals: seeded draws, ordering and stream independence.

use super::*;

#[test]
fn smoke_default() {
    let text = include_str!("../../../scenarios/default.yaml");
    let scenario = match Scenario::from_yaml(text, "scenarios/default.yaml") {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let mut per_hour = vec![(0u64, 0f64); 25];
    let mut n = 0;
    for a in scenario.arrivals() {
        n += 1;
        let h = (a.at_ms / 3_600_000) as usize;
        let cores = a.spec.pods.total().cpu_millis as f64 / 1000.0;
        per_hour[h].0 += 1;
        per_hour[h].1 += cores * a.run_ms as f64 / 3_600_000.0;
        if n < 5 {
            println!("{:?}", a);
        }
    }
    println!("jobs {n}");
    for (h, (c, ch)) in per_hour.iter().enumerate() {
        println!("{h:2} jobs {c:4} core-hours {ch:8.1}");
    }
    println!("{:#?}", scenario.events);
}

#[test]
fn smoke_errors() {
    let base = include_str!("/tmp/scen/base.yaml");
    let cases: Vec<(&str, &str)> = vec![
        ("count: 2,", "count: many,"),
        ("count: 2,", "count: -3,"),
        ("memory: 64Gi", "memory: -1Gi"),
        ("memory: 64Gi", "memory: 64g"),
        ("memory: 64Gi", "memory: 512m"),
        ("cpu: 16", "cpus: 16"),
        ("cpu: 16", "cpu: 16Gi"),
        ("driver: { cores: 1, memory: 4g }", "driver: { cores: 1, memory: 4Gi }"),
        ("          cores: 2", "          cores: 500m"),
        ("          memory: 4g", "          memory: 4Gi"),
        ("          memory: 4g", "          memory:\n            a: 1"),
        ("duration: 10m", "duration: 1.5h"),
        ("duration: 10m", "duration: [1]"),
        ("name: t", "name: t\npolicy: fastest"),
        ("name: t", "name: t\npolicy: { name: fastest }"),
        ("name: t", "name: t\nhorizon: ten"),
        ("name: t", "name: t\nevents:\n  - { at: 1h, add_nodes: { pool: nope, count: 1 } }"),
        ("name: t", "name: t\nevents:\n  - { at: 1h, cordon: general-2 }"),
        ("name: t", "name: t\nevents:\n  - { at: 1h, cordon: general-1, cancel: a }"),
        ("name: t", "name: t\nevents:\n  - { at: 1h }"),
        ("name: t", "name: t\nevents:\n  - { at: 1h, disable: false }"),
        ("name: t", "name: t\nevents:\n  - { at: 1h, set_priority: { job: a, priority: urgent } }"),
        ("    - name: a\n", "    - name: a\n      duration: 1m\n    - name: a\n"),
        ("    - name: a\n", "    - name: a\n      namespace: Fin_ance\n"),
        (
            "workload:",
            "  background:\n    - { name: sys, cpu: 1, memory: 1Gi, pool: nope }\nworkload:",
        ),
        (
            "workload:",
            "  background:\n    - { name: sys, cpu: 1, memory: 1Gi, start: 2h, end: 1h }\nworkload:",
        ),
        (
            "workload:",
            "workload:\n  generators:\n    - { name: g, arrival: { every: 1m }, duration: 1m }",
        ),
        (
            "workload:",
            "workload:\n  generators:\n    - { name: g, count: 3, arrival: { sometimes: 1m }, duration: 1m }",
        ),
        (
            "workload:",
            "workload:\n  generators:\n    - { name: g, count: 3, arrival: { every: 1m }, duration: { uniform: { min: 5m } } }",
        ),
        (
            "workload:",
            "workload:\n  generators:\n    - { name: g, count: 3, arrival: { every: 1m }, duration: 1m, priority: { high: 0, normal: 0 } }",
        ),
        (
            "workload:",
            "workload:\n  generators:\n    - { name: g, count: 3, arrival: { every: 1m }, duration: 1m, priority: urgent }",
        ),
        (
            "workload:",
            "workload:\n  generators:\n    - { name: g, count: 3, arrival: { every: 1m }, duration: 1m, flow: { legacy: x } }",
        ),
        ("name: t\n", ""),
    ];
    for (from, to) in cases {
        let text = base.replacen(from, to, 1);
        match Scenario::from_yaml(&text, "x.yaml") {
            Ok(_) => println!("OK?? {to}"),
            Err(e) => println!("{to:?}\n   => {e}"),
        }
    }
    for text in ["", "# c\n", "null", "[1,2]", "name: x", "cluster: 3", "cluster:\n  pools: []"] {
        match Scenario::from_yaml(text, "x.yaml") {
            Ok(_) => println!("OK?? {text}"),
            Err(e) => println!("{text:?}\n   => {e}"),
        }
    }
}
