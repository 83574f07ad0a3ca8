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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&cli.log))
        .with_writer(std::io::stderr)
        .init();
    let outcome = match cli.command {
        Command::Simulate(args) => simulate::run(&args),
        Command::Compare(args) => compare::run(&args),
        Command::Plan(args) => plan::run(&args),
        Command::Import(args) => import::run(&args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Where a command writes its files when `--out` is not given.
fn default_out_dir(name: &str) -> PathBuf {
    PathBuf::from("out").join(name)
}
