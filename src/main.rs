//! The `sparkq` command line: simulate scenarios, import real workloads, compare policies,
//! plan capacity, and serve the live adapter.

mod compare;
mod import;
mod metrics_out;
mod plan;
mod progress;
mod simulate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "sparkq",
    version,
    about = "Priority queues and capacity-aware admission for Spark on Kubernetes"
)]
struct Cli {
    /// Log filter, as in RUST_LOG (for example `info` or `sparkq_sim=debug`).
    #[arg(long, global = true, default_value = "warn", env = "SPARKQ_LOG")]
    log: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Simulate a scenario (the embedded default one when none is given) and write its report.
    Simulate(simulate::SimulateArgs),
    /// Run one scenario under several policies (and the legacy flow) and compare them.
    Compare(compare::CompareArgs),
    /// Find the smallest node pool that meets service-level objectives over several seeds.
    Plan(plan::PlanArgs),
    /// Import a real workload trace (SWF, Kubernetes pods) or a real cluster as a scenario.
    Import(import::ImportArgs),
    /// Run the live adapter: watch the cluster, queue SparkJobs, launch drivers, serve the API.
    Serve(sparkq_adapter_k8s::ServeOptions),
    /// Print the SparkJob CustomResourceDefinition (pipe it to `kubectl apply -f -`).
    Crd,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&cli.log))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let outcome = match cli.command {
        Command::Simulate(args) => simulate::run(&args),
        Command::Compare(args) => compare::run(&args),
        Command::Plan(args) => plan::run(&args),
        Command::Import(args) => import::run(&args),
        Command::Serve(options) => serve(options),
        Command::Crd => {
            print!("{}", sparkq_adapter_k8s::crd_yaml());
            Ok(())
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the live adapter on a multi-threaded runtime until it stops or is interrupted.
fn serve(options: sparkq_adapter_k8s::ServeOptions) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("starting the async runtime: {e}"))?;
    runtime.block_on(sparkq_adapter_k8s::serve(options))
}

/// Where a command writes its files when `--out` is not given.
fn default_out_dir(name: &str) -> PathBuf {
    PathBuf::from("out").join(name)
}
