//! `sparkq serve`: the HTTP API, the metrics, and the controller while this replica leads.
//!
//! Leadership comes from a coordination.k8s.io Lease (kube-lease-manager). The controller runs
//! only while the lease is held; on losing it, the controller is stopped at once, and on
//! winning it, a fresh controller rebuilds everything from the cluster, exactly as after a
//! restart. The API and the metrics are served by every replica.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use kube::Client;
use serde::Deserialize;
use sparkq_core::scheduler::{PlacementRule, QueueScope, Quota, Weights};
use sparkq_core::{Policy, SchedulerConfig};
use tokio::task::JoinHandle;

use crate::api::{ApiState, router};
use crate::controller::{self, ControllerConfig};
use crate::launcher::{DriverPodLauncher, Launcher, SparkApplicationLauncher};
use crate::metrics::Metrics;
use crate::token::ApiToken;

/// How an admitted job is launched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LauncherKind {
    /// A driver pod shaped like spark-submit's.
    #[default]
    DriverPod,
    /// A SparkApplication for the Spark operator.
    SparkApplication,
}

/// The options of `sparkq serve`. Flags override the YAML file given by `--config`.
#[derive(Args, Clone, Debug, Default)]
pub struct ServeOptions {
    /// The kubeconfig file; in-cluster configuration or `$KUBECONFIG` when absent.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// The namespaces whose SparkJobs sparkq manages (comma separated); all when absent.
    #[arg(long, value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// The queue policy: strict, weighted, best-effort or backfill.
    #[arg(long)]
    pub policy: Option<Policy>,
    /// Where the HTTP API and /metrics listen (default 0.0.0.0:8080).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// A file holding the API's bearer token (a mounted Secret).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Serve the API without authentication (development only).
    #[arg(long)]
    pub no_auth: bool,
    /// A YAML file with the same settings and the scheduler's options.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// How admitted jobs are launched.
    #[arg(long, value_enum)]
    pub launcher: Option<LauncherKind>,
    /// Turn the orchestrator off: every job is launched at once, as legacy.
    #[arg(long)]
    pub disabled: bool,
    /// Run without leader election (a single replica).
    #[arg(long)]
    pub no_leader_election: bool,
    /// The Lease's name.
    #[arg(long)]
    pub lease_name: Option<String>,
    /// The Lease's namespace (default: the first managed namespace, else `default`).
    #[arg(long)]
    pub lease_namespace: Option<String>,
    /// How long a lease lasts without renewal, in seconds (default 15).
    #[arg(long)]
    pub lease_duration_seconds: Option<u64>,
    /// This replica's identity in the Lease (default: `$POD_NAME`, else the host name).
    #[arg(long)]
    pub identity: Option<String>,
}

/// The YAML configuration file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ServeFile {
    pub namespaces: Vec<String>,
    pub listen: Option<SocketAddr>,
    pub token_file: Option<PathBuf>,
    pub launcher: Option<LauncherKind>,
    pub enabled: Option<bool>,
    pub policy: Option<Policy>,
    pub placement: Option<PlacementRule>,
    pub queue_scope: Option<QueueScope>,
    pub weights: Option<Weights>,
    pub head_timeout_seconds: Option<u64>,
    pub head_retries: Option<u32>,
    pub quotas: Vec<Quota>,
    pub leader_election: Option<bool>,
    pub lease_name: Option<String>,
    pub lease_namespace: Option<String>,
    pub lease_duration_seconds: Option<u64>,
    /// The `sparkVersion` written into SparkApplications.
    pub spark_version: Option<String>,
    /// The longest the controller waits between passes, in milliseconds.
    pub tick_ms: Option<u64>,
}

/// Everything `serve` runs with, flags and file combined.
#[derive(Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    /// The API's bearer token; `None` only with `--no-auth`.
    pub token: Option<Arc<ApiToken>>,
    pub controller: ControllerConfig,
    pub leader_election: bool,
    pub lease_name: String,
    pub lease_namespace: String,
    pub lease_duration_seconds: u64,
    pub identity: String,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token itself.
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("auth", &self.token.is_some())
            .field("controller", &self.controller)
            .field("leader_election", &self.leader_election)
            .field("lease_name", &self.lease_name)
            .field("lease_namespace", &self.lease_namespace)
            .field("lease_duration_seconds", &self.lease_duration_seconds)
            .field("identity", &self.identity)
            .finish()
    }
}

impl ServeOptions {
    /// Reads the file and the token and combines them with the flags.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let file = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| {
                    format!("reading the configuration file {}", path.display())
                })?;
                serde_saphyr::from_str::<ServeFile>(&text)
                    .with_context(|| format!("{}: invalid configuration", path.display()))?
            }
            None => ServeFile::default(),
        };
        let namespaces = if self.namespaces.is_empty() {
            file.namespaces.clone()
        } else {
            self.namespaces.clone()
        };
        let scheduler = SchedulerConfig {
            policy: self.policy.or(file.policy).unwrap_or_default(),
            placement: file.placement.unwrap_or_default(),
            queue_scope: file.queue_scope.unwrap_or_default(),
            weights: file.weights.unwrap_or_default(),
            head_timeout_ms: file.head_timeout_seconds.map(|s| s.saturating_mul(1000)),
            head_retries: file.head_retries.unwrap_or(0),
            quotas: file.quotas.clone(),
            enabled: !self.disabled && file.enabled.unwrap_or(true),
        };

        // The file is read again when it changes: a rotated Secret needs no restart.
        let token_file = self.token_file.clone().or(file.token_file.clone());
        let token = match (token_file, self.no_auth) {
            (Some(path), _) => Some(Arc::new(ApiToken::from_file(&path)?)),
            (None, true) => None,
            (None, false) => anyhow::bail!(
                "the API needs a bearer token: pass --token-file FILE (or --no-auth for development)"
            ),
        };
        let launcher: Arc<dyn Launcher> = match self.launcher.or(file.launcher).unwrap_or_default()
        {
            LauncherKind::DriverPod => Arc::new(DriverPodLauncher::default()),
            LauncherKind::SparkApplication => Arc::new(SparkApplicationLauncher {
                spark_version: file.spark_version.clone().unwrap_or_else(|| "3.5.3".into()),
            }),
        };
        let lease_namespace = self
            .lease_namespace
            .clone()
            .or(file.lease_namespace.clone())
            .or_else(|| namespaces.first().cloned())
            .unwrap_or_else(|| "default".into());
        let identity = self.identity.clone().unwrap_or_else(default_identity);
        Ok(Settings {
            listen: self
                .listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 8080))),
            token,
            controller: ControllerConfig {
                scheduler,
                namespaces,
                launcher,
                tick: Duration::from_millis(file.tick_ms.unwrap_or(1000)),
            },
            leader_election: !self.no_leader_election && file.leader_election.unwrap_or(true),
            lease_name: self
                .lease_name
                .clone()
                .or(file.lease_name.clone())
                .unwrap_or_else(|| "sparkq-leader".into()),
            lease_namespace,
            lease_duration_seconds: self
                .lease_duration_seconds
                .or(file.lease_duration_seconds)
                .unwrap_or(15),
            identity,
        })
    }
}

fn default_identity() -> String {
    std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| format!("sparkq-{}", std::process::id()))
}

/// Runs `sparkq serve` until interrupted.
pub async fn serve(options: ServeOptions) -> anyhow::Result<()> {
    let settings = options.settings()?;
    let config = match &options.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading the kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(
                kubeconfig,
                &kube::config::KubeConfigOptions::default(),
            )
            .await
            .context("loading the kubeconfig")?
        }
        None => kube::Config::infer().await.context("finding a Kubernetes configuration")?,
    };
    let client = Client::try_from(config).context("building the Kubernetes client")?;
    let adapter = Adapter::start(settings, client).await?;
    tracing::info!(listen = %adapter.addr, "sparkq serving");
    tokio::select! {
        result = adapter.wait() => result,
        signal = tokio::signal::ctrl_c() => {
            signal.context("waiting for Ctrl-C")?;
            tracing::info!("interrupted: stopping");
            Ok(())
        }
    }
}

/// Aborts a task when dropped, so a stopped adapter leaves nothing running.
#[derive(Debug)]
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A running adapter: the API server and the leader-elected controller.
#[derive(Debug)]
pub struct Adapter {
    /// Where the HTTP API listens.
    pub addr: SocketAddr,
    pub metrics: Arc<Metrics>,
    leading: Arc<AtomicBool>,
    main: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Drop for Adapter {
    fn drop(&mut self) {
        if let Some(main) = &self.main {
            main.abort();
        }
    }
}

impl Adapter {
    /// Binds the listener and starts everything in the background.
    pub async fn start(settings: Settings, client: Client) -> anyhow::Result<Adapter> {
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("listening on {}", settings.listen))?;
        let addr = listener.local_addr()?;
        let metrics = Metrics::new();
        let ready = Arc::new(AtomicBool::new(false));
        let leading = Arc::new(AtomicBool::new(false));
        let state = ApiState {
            client: client.clone(),
            token: settings.token.clone(),
            metrics: metrics.clone(),
            ready: ready.clone(),
            namespaces: settings.controller.namespaces.clone(),
        };
        let main = tokio::spawn(run(
            settings,
            client,
            listener,
            state,
            metrics.clone(),
            ready,
            leading.clone(),
        ));
        Ok(Adapter { addr, metrics, leading, main: Some(main) })
    }

    /// Whether this replica holds the lease and dispatches.
    pub fn is_leader(&self) -> bool {
        self.leading.load(Ordering::SeqCst)
    }

    /// Stops everything at once, as a crash would: nothing is released or written.
    pub fn kill(mut self) {
        if let Some(main) = self.main.take() {
            main.abort();
        }
    }

    /// Waits until the adapter stops (it stops only on an error).
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let Some(main) = self.main.take() else { return Ok(()) };
        let mut guard = AbortOnDrop(main);
        match (&mut guard.0).await {
            Ok(result) => result,
            Err(error) => Err(anyhow::anyhow!("the adapter task ended: {error}")),
        }
    }
}

async fn run(
    settings: Settings,
    client: Client,
    listener: tokio::net::TcpListener,
    state: ApiState,
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
    leading: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let app = router(state);
    let mut http = AbortOnDrop(tokio::spawn(async move { axum::serve(listener, app).await }));
    let controller_loop = async {
        if !settings.leader_election {
            leading.store(true, Ordering::SeqCst);
            metrics.leader.set(1);
            controller::run(
                client.clone(),
                settings.controller.clone(),
                metrics.clone(),
                ready.clone(),
            )
            .await?;
            return Ok::<(), anyhow::Error>(());
        }
        lead_and_run(&settings, &client, &metrics, &ready, &leading).await
    };
    tokio::select! {
        result = controller_loop => result,
        result = &mut http.0 => match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(anyhow::anyhow!("the HTTP server stopped: {error}")),
            Err(error) => Err(anyhow::anyhow!("the HTTP server task ended: {error}")),
        },
    }
}

async fn lead_and_run(
    settings: &Settings,
    client: &Client,
    metrics: &Arc<Metrics>,
    ready: &Arc<AtomicBool>,
    leading: &Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let duration = settings.lease_duration_seconds.max(2);
    let grace = (duration / 3).max(1);
    let manager =
        kube_lease_manager::LeaseManagerBuilder::new(client.clone(), &settings.lease_name)
            .with_namespace(&settings.lease_namespace)
            .with_identity(&settings.identity)
            .with_duration(duration)
            .with_grace(grace)
            .build()
            .await
            .context("setting up the leader-election lease")?;
    let (mut lease, lease_task) = manager.watch().await;
    let _lease_task = AbortOnDrop(lease_task);
    // A follower serves the API: it is ready while it stands by.
    ready.store(true, Ordering::SeqCst);
    loop {
        while !*lease.borrow_and_update() {
            lease.changed().await.context("the lease manager stopped")?;
        }
        tracing::info!(identity = %settings.identity, lease = %settings.lease_name, "leading: starting the controller");
        leading.store(true, Ordering::SeqCst);
        metrics.leader.set(1);
        ready.store(false, Ordering::SeqCst);
        let mut controller = AbortOnDrop(tokio::spawn(controller::run(
            client.clone(),
            settings.controller.clone(),
            metrics.clone(),
            ready.clone(),
        )));
        let lost = async {
            loop {
                if lease.changed().await.is_err() || !*lease.borrow_and_update() {
                    return;
                }
            }
        };
        tokio::select! {
            () = lost => tracing::warn!(identity = %settings.identity, "lease lost: stopping the controller"),
            result = &mut controller.0 => match result {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::warn!(%error, "the controller stopped; restarting it"),
                Err(error) => tracing::warn!(%error, "the controller task ended; restarting it"),
            },
        }
        leading.store(false, Ordering::SeqCst);
        metrics.leader.set(0);
        ready.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_sets_the_scheduler_and_flags_win_over_it() {
        let dir = std::env::temp_dir().join(format!("sparkq-serve-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let token = dir.join("token");
        std::fs::write(&token, "s3cret\n").expect("token written");
        let config = dir.join("sparkq.yaml");
        let yaml = format!(
            "namespaces: [a, b]\ntokenFile: {}\npolicy: weighted\nqueueScope: namespace\nheadTimeoutSeconds: 60\nenabled: false\nquotas:\n  - {{ name: q, namespace: a, priority: normal, cpu_millis: 1000, memory_bytes: null, pods: 5 }}\n",
            token.display()
        );
        std::fs::write(&config, yaml).expect("config written");
        let options = ServeOptions {
            config: Some(config),
            policy: Some(Policy::BestEffort),
            ..ServeOptions::default()
        };
        let settings = options.settings().expect("settings");
        let scheduler = &settings.controller.scheduler;
        assert_eq!(scheduler.policy, Policy::BestEffort, "the flag wins");
        assert_eq!(scheduler.queue_scope, QueueScope::Namespace);
        assert_eq!(scheduler.head_timeout_ms, Some(60_000));
        assert!(!scheduler.enabled);
        assert_eq!(scheduler.quotas.len(), 1);
        assert_eq!(settings.controller.namespaces, ["a", "b"]);
        assert_eq!(settings.lease_namespace, "a");
        let token = settings.token.clone().expect("a token");
        assert!(token.accepts(b"s3cret") && !token.accepts(b"s3cre"));
        assert!(!format!("{settings:?}").contains("s3cret"), "the token is never printed");
    }

    #[test]
    fn without_a_token_serve_refuses_unless_told_otherwise() {
        let error =
            ServeOptions::default().settings().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("--token-file"), "{error}");
        let open = ServeOptions { no_auth: true, ..ServeOptions::default() };
        assert!(open.settings().expect("settings").token.is_none());
    }
}
