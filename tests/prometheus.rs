//! Tier: HTTP against the in-process API server, plus a real Prometheus on loopback. The
//! metrics are read back the way an operator reads them: through Prometheus' HTTP API.
//!
//! 1. `sparkq serve`, the binary, runs jobs on the test API server while Prometheus scrapes it every
//!    second; the queue length, the wait-time histogram and the admissions counter come back
//!    with the values the jobs imply.
//! 2. A simulated run exported with `--metrics-out` loads with `promtool tsdb
//!    create-blocks-from openmetrics`, and Prometheus, started on the blocks, returns the
//!    run's queue lengths.
//!
//! Both need Debian's `prometheus` package (CI installs it); without it they are skipped with a
//! message, except under CI (`CI` set), where its absence fails them. Every wait is bounded,
//! and every child process is killed when its guard drops.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};
use sparkq_adapter_k8s::testkit::{TestApiServer, TestNode};

const NS: &str = "spark";

/// The path of a program on `PATH`, or `None` (with a message) when it is absent outside CI.
fn program(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths).map(|p| p.join(name)).find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} is missing: .ci/run installs Debian's prometheus package"
        );
        eprintln!(
            "SKIPPED: {name} is not installed (apt-get install prometheus); CI runs this test"
        );
    }
    found
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir =
            std::env::temp_dir().join(format!("sparkq-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed (and reaped) when dropped, whatever the test's outcome.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("an address").port()
}

/// A running Prometheus and where its API listens.
struct Prometheus {
    addr: SocketAddr,
    _child: KillOnDrop,
    log: PathBuf,
}

impl Prometheus {
    /// Starts Prometheus on loopback with `config`, storing into `storage`; waits until ready.
    fn start(binary: &Path, dir: &Path, config: &str, storage: &Path) -> Prometheus {
        let config_file = dir.join("prometheus.yml");
        std::fs::write(&config_file, config).expect("config written");
        let port = free_port();
        let log = dir.join("prometheus.log");
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!("--storage.tsdb.path={}", storage.display()))
            .arg("--storage.tsdb.retention.time=100y")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("prometheus starts");
        let prometheus = Prometheus {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            _child: KillOnDrop(child),
            log,
        };
        let ready = poll(Duration::from_secs(60), || {
            http_get(prometheus.addr, "/-/ready").filter(|(code, _)| *code == 200).map(|_| ())
        });
        assert!(ready.is_some(), "Prometheus did not become ready:\n{}", prometheus.log());
        prometheus
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// An instant query (at `time`, Unix seconds, when given): each series' labels and value.
    fn query(&self, query: &str, time: Option<f64>) -> Vec<(Value, f64)> {
        let mut path = format!("/api/v1/query?query={}", encode(query));
        if let Some(time) = time {
            path.push_str(&format!("&time={time}"));
        }
        let Some((200, body)) = http_get(self.addr, &path) else {
            panic!("query `{query}` failed:\n{}", self.log());
        };
        let answer: Value = serde_json::from_str(&body).expect("Prometheus answers JSON");
        assert_eq!(answer["status"], "success", "{answer}");
        answer["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|series| {
                let value =
                    series["value"][1].as_str().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN);
                (series["metric"].clone(), value)
            })
            .collect()
    }

    /// The value of a query that yields one series, if it does.
    fn scalar(&self, query: &str, time: Option<f64>) -> Option<f64> {
        match self.query(query, time).as_slice() {
            [(_, value)] => Some(*value),
            _ => None,
        }
    }

    /// Waits until the query yields exactly `expected`.
    fn wait_for(&self, query: &str, expected: f64, seconds: u64) {
        let seen = poll(Duration::from_secs(seconds), || {
            (self.scalar(query, None) == Some(expected)).then_some(())
        });
        assert!(
            seen.is_some(),
            "`{query}` never became {expected}; last: {:?}\n{}",
            self.query(query, None),
            self.log()
        );
    }
}

/// Calls `check` until it returns `Some`, for at most `limit`.
fn poll<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A plain HTTP/1.1 GET; the status code and the body, or `None` if the server is not there.
fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Some((code, body))
}

fn dechunk(mut text: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = text.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else { break };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        text = rest[size..].trim_start_matches("\r\n");
    }
    out
}

// -- 1. The live adapter ------------------------------------------------------------------------

/// Starts the `sparkq serve` binary against the test API server, with a token file and a
/// short controller tick, and waits until its `/healthz` answers.
fn start_sparkq_serve(server: &TestApiServer, dir: &Path) -> (KillOnDrop, SocketAddr) {
    let kubeconfig = dir.join("kubeconfig");
    server.write_kubeconfig(&kubeconfig).expect("kubeconfig written");
    let token = dir.join("token");
    std::fs::write(&token, "prometheus-test-token\n").expect("token written");
    let config = dir.join("sparkq.yaml");
    std::fs::write(&config, "tickMs: 100\n").expect("config written");
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let log = std::fs::File::create(dir.join("sparkq.log")).expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_sparkq"))
        .args(["serve", "--no-leader-election", "--log", "info"])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--token-file")
        .arg(&token)
        .arg("--config")
        .arg(&config)
        .arg("--listen")
        .arg(addr.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("sparkq serve starts");
    let guard = KillOnDrop(child);
    let healthy = poll(Duration::from_secs(30), || {
        http_get(addr, "/healthz").filter(|(code, _)| *code == 200).map(|_| ())
    });
    let log = std::fs::read_to_string(dir.join("sparkq.log")).unwrap_or_default();
    assert!(healthy.is_some(), "sparkq serve did not answer /healthz:\n{log}");
    (guard, addr)
}

/// A SparkJob of a 1-core driver and two 1-core executors: 3 cores, one at a time on 4 cores.
fn spark_job(name: &str, priority: &str) -> Value {
    json!({
        "apiVersion": "sparkq.io/v1alpha1",
        "kind": "SparkJob",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "priority": priority,
            "domain": "analytics",
            "image": "apache/spark:3.5.3",
            "mainClass": "org.example.Main",
            "mainApplicationFile": "local:///opt/app.jar",
            "driver": {"cores": 1, "memory": "1g"},
            "executor": {"cores": 1, "memory": "1g", "instances": 2},
        },
    })
}

fn driver_of(server: &TestApiServer, job: &str) -> Option<String> {
    server.list::<Pod>("Pod").into_iter().find_map(|pod| {
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        let driver = labels.get("spark-role").is_some_and(|r| r == "driver");
        let ours = labels.get("sparkq.io/job").is_some_and(|j| j == job);
        (driver && ours).then(|| pod.metadata.name.clone().unwrap_or_default())
    })
}

/// Plays kube-scheduler and the kubelet for one job: its driver binds, runs for `run`, ends.
fn run_job(server: &TestApiServer, job: &str, run: Duration) {
    let driver = poll(Duration::from_secs(20), || driver_of(server, job))
        .unwrap_or_else(|| panic!("{job} was never launched"));
    server.bind_pod(NS, &driver, "n1").expect("bound");
    server.set_pod_phase(NS, &driver, "Running").expect("running");
    std::thread::sleep(run);
    server.set_pod_phase(NS, &driver, "Succeeded").expect("succeeded");
}

#[test]
fn prometheus_scraping_the_adapter_reads_queue_waits_and_admissions() {
    let Some(prometheus_binary) = program("prometheus") else { return };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    // The test drives the cluster from this thread; kube's client needs the runtime's context.
    let context = runtime.enter();

    // One 4-core node: one job at a time. b-high goes first; the normal jobs queue behind it.
    let server = runtime.block_on(TestApiServer::start()).expect("test API server");
    server.add_node(TestNode::new("n1", "4", "16Gi")).expect("node");
    for (name, priority) in [("a-normal", "normal"), ("b-high", "high"), ("c-normal", "normal")] {
        server.create(spark_job(name, priority)).expect("job created");
    }
    let dir = TempDir::new("prometheus-live");
    let (sparkq, sparkq_addr) = start_sparkq_serve(&server, &dir.0);
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: sparkq\n    static_configs:\n      - targets: ['{}']\n",
        sparkq_addr
    );
    let prometheus = Prometheus::start(&prometheus_binary, &dir.0, &config, &dir.0.join("data"));

    // The two normal jobs wait while the high one runs.
    prometheus.wait_for("up{job=\"sparkq\"}", 1.0, 30);
    prometheus.wait_for("sparkq_queue_jobs{priority=\"normal\"}", 2.0, 30);
    assert_eq!(prometheus.scalar("sparkq_queue_jobs{priority=\"high\"}", None), Some(0.0));
    assert_eq!(prometheus.scalar("sparkq_leader", None), Some(1.0));

    // Each runs for 2.5 s, so each normal job waits more than 2 s. While b-high runs, its
    // bound driver (1 core) shows in the per-job gauge under its own label, beside the `job`
    // label that Prometheus gives every series of the scrape job.
    let driver = poll(Duration::from_secs(20), || driver_of(&server, "b-high"))
        .expect("b-high was never launched");
    server.bind_pod(NS, &driver, "n1").expect("bound");
    server.set_pod_phase(NS, &driver, "Running").expect("running");
    prometheus.wait_for("sparkq_job_cpu_cores{job=\"sparkq\",spark_job=\"b-high\"}", 1.0, 30);
    std::thread::sleep(Duration::from_millis(2500));
    server.set_pod_phase(NS, &driver, "Succeeded").expect("succeeded");
    for job in ["a-normal", "c-normal"] {
        run_job(&server, job, Duration::from_millis(2500));
    }

    // Admissions: one high, two normal, all through the queue.
    let admitted = "sparkq_admissions_total{flow=\"orchestrated\",priority=\"normal\"}";
    prometheus.wait_for(admitted, 2.0, 30);
    let high = "sparkq_admissions_total{flow=\"orchestrated\",priority=\"high\"}";
    assert_eq!(prometheus.scalar(high, None), Some(1.0));
    prometheus.wait_for("sparkq_queue_jobs{priority=\"normal\"}", 0.0, 30);

    // The wait-time histogram: the high job waited under a second, the normal ones over two.
    let bucket = |priority: &str, le: &str| {
        let query =
            format!("sparkq_job_wait_seconds_bucket{{priority=\"{priority}\",le=\"{le}\"}}");
        prometheus.scalar(&query, None)
    };
    assert_eq!(bucket("high", "1.0"), Some(1.0));
    assert_eq!(bucket("normal", "2.0"), Some(0.0));
    assert_eq!(bucket("normal", "+Inf"), Some(2.0));
    let count = "sparkq_job_wait_seconds_count{priority=\"normal\"}";
    assert_eq!(prometheus.scalar(count, None), Some(2.0));
    let sum = prometheus.scalar("sparkq_job_wait_seconds_sum{priority=\"normal\"}", None);
    assert!(sum.is_some_and(|s| s > 4.0), "the two normal jobs waited over 2 s each: {sum:?}");

    // A quantile the dashboard draws comes back too.
    let p50 = prometheus.scalar(
        "histogram_quantile(0.5, sum by (le) (sparkq_job_wait_seconds_bucket{priority=\"normal\"}))",
        None,
    );
    assert!(p50.is_some_and(|v| v > 2.0), "median normal wait: {p50:?}");

    drop(prometheus);
    drop(sparkq);
    drop(server);
    drop(context);
    runtime.shutdown_timeout(Duration::from_secs(5));
}

// -- 2. A simulated run -------------------------------------------------------------------------

/// Four normal jobs of 3 cores submitted at once on one 4-core node, 10 minutes each: three
/// wait at first, then two, one, none.
const SCENARIO: &str = "\
name: four-in-a-row
seed: 1
cluster:
  pools:
    - { name: general, count: 1, cpu: 4, memory: 64Gi }
workload:
  jobs:
    - { name: j1, duration: 10m }
    - { name: j2, duration: 10m }
    - { name: j3, duration: 10m }
    - { name: j4, duration: 10m }
";

/// 2026-03-01T00:00:00Z, where the run's time 0 is put.
const START: f64 = 1_772_323_200.0;

#[test]
fn a_simulated_run_loads_into_prometheus_with_its_queue_lengths() {
    let Some(promtool) = program("promtool") else { return };
    let Some(prometheus_binary) = program("prometheus") else { return };
    let dir = TempDir::new("prometheus-sim");
    let scenario = dir.0.join("four.yaml");
    std::fs::write(&scenario, SCENARIO).expect("scenario written");
    let metrics = dir.0.join("run.om");
    let output = Command::new(env!("CARGO_BIN_EXE_sparkq"))
        .arg("simulate")
        .arg(&scenario)
        .arg("--out")
        .arg(dir.0.join("report"))
        .arg("--metrics-out")
        .arg(&metrics)
        .args(["--metrics-start", "2026-03-01T00:00:00Z", "--metrics-step", "30"])
        .output()
        .expect("sparkq simulate runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = std::fs::read_to_string(&metrics).expect("the metrics file");
    assert!(text.ends_with("# EOF\n"));

    let blocks = dir.0.join("blocks");
    let output = Command::new(&promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&metrics)
        .arg(&blocks)
        .output()
        .expect("promtool runs");
    assert!(
        output.status.success(),
        "promtool refused the file:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    let prometheus = Prometheus::start(&prometheus_binary, &dir.0, "global: {}\n", &blocks);
    let at_minute = |minutes: f64| Some(START + minutes * 60.0);
    let queue = "sparkq_queue_jobs{priority=\"normal\"}";
    let lengths: Vec<Option<f64>> =
        [5.0, 15.0, 25.0, 35.0].map(|m| prometheus.scalar(queue, at_minute(m))).into();
    assert_eq!(lengths, [Some(3.0), Some(2.0), Some(1.0), Some(0.0)], "{}", prometheus.log());

    // The rest of the run is there too: four admissions by the end, and the waits of the
    // last job (30 minutes) in the histogram.
    let admissions = "sparkq_admissions_total{flow=\"orchestrated\",priority=\"normal\"}";
    assert_eq!(prometheus.scalar(admissions, at_minute(39.0)), Some(4.0));
    let waits = "sparkq_job_wait_seconds_count{priority=\"normal\"}";
    assert_eq!(prometheus.scalar(waits, at_minute(39.0)), Some(4.0));
    let allocatable = "sparkq_cluster_cpu_cores{kind=\"allocatable\"}";
    assert_eq!(prometheus.scalar(allocatable, at_minute(5.0)), Some(4.0));
    // Before time 0 nothing exists.
    assert_eq!(prometheus.scalar(queue, Some(START - 600.0)), None);

    // Every panel of the dashboard draws the simulated run (but the cycle time, which only the
    // live adapter measures).
    for expr in dashboard_exprs() {
        let expr = expr.replace("$__rate_interval", "2m");
        let series = prometheus.query(&expr, at_minute(12.0));
        assert!(
            !series.is_empty() || expr.contains("scheduling_cycle"),
            "the dashboard's `{expr}` shows nothing for a simulated run"
        );
    }
}

/// Every PromQL expression of the shipped dashboard.
fn dashboard_exprs() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana/sparkq.json");
    let text = std::fs::read_to_string(path).expect("the dashboard");
    let dashboard: Value = serde_json::from_str(&text).expect("JSON");
    let mut exprs = Vec::new();
    let mut stack = vec![&dashboard];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(expr)) = map.get("expr") {
                    exprs.push(expr.clone());
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    exprs
}
