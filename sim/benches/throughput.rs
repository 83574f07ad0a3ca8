//! Jobs simulated per second, and peak memory, on a generated day-scale workload.
//!
//! `cargo bench -p sparkq-sim --bench throughput [-- JOBS]` (default 1,000,000 jobs over 1,000
//! nodes). Every figure is reported beside a baseline measured in the same run: drawing the
//! same arrivals without simulating them, so the ratio says what scheduling costs on top of
//! producing the workload. Peak memory comes from a counting allocator; it is measured at a
//! tenth of the jobs too, to show that it follows the jobs waiting and running, not the jobs
//! already finished.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use sparkq_core::Policy;
use sparkq_sim::engine::{Observer, RunOptions, run};
use sparkq_sim::record::{BlockedInterval, CapacitySample, JobRecord};
use sparkq_sim::scenario::Scenario;

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// The counting allocator forwards every call to the system allocator unchanged; it is the
// only unsafe code in the project, and only in this benchmark.
#[allow(unsafe_code, reason = "a global allocator can only be written with unsafe")]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Keeps only counts, so that memory reflects the simulator and not a growing record list.
#[derive(Default)]
struct Tally {
    jobs: u64,
    succeeded: u64,
    wait_ms_total: u128,
}

impl Observer for Tally {
    fn job(&mut self, record: JobRecord) {
        self.jobs += 1;
        self.succeeded += u64::from(record.phase == sparkq_core::Phase::Succeeded);
        self.wait_ms_total += u128::from(record.wait_ms().unwrap_or(0));
    }
    fn blocked(&mut self, _: BlockedInterval) {}
    fn capacity(&mut self, _: CapacitySample) {}
}

/// 1,000 nodes of 16 CPUs and 64 GiB; jobs of three sizes (5, 17 and 34 CPUs in all) with
/// exponential run times of mean 20 minutes, arriving as a Poisson process with a mean gap of
/// 0.95 s: about 95% of the CPUs requested on average, so queues form and drain.
fn workload(jobs: u64) -> String {
    format!(
        "name: bench
seed: 7
cluster:
  pools:
    - {{ name: pool, count: 1000, cpu: 16, memory: 64Gi }}
workload:
  generators:
    - name: job
      count: {jobs}
      arrival: {{ poisson: {{ mean: 950ms }} }}
      namespaces: {{ analytics: 3, finance: 1, ml: 1 }}
      priority: {{ high: 1, normal: 4 }}
      sizes:
        - {{ name: small, weight: 5, spark: {{ driver: {{ cores: 1 }}, executor: {{ cores: 2, instances: 2 }} }} }}
        - {{ name: medium, weight: 3, spark: {{ driver: {{ cores: 1 }}, executor: {{ cores: 4, instances: 4, memory: 8g }} }} }}
        - {{ name: large, weight: 1, spark: {{ driver: {{ cores: 2, memory: 4g }}, executor: {{ cores: 4, instances: 8, memory: 12g }} }} }}
      duration: {{ exponential: {{ mean: 20m }} }}
"
    )
}

fn main() {
    let jobs: u64 = std::env::args().skip(1).find_map(|arg| arg.parse().ok()).unwrap_or(1_000_000);
    let scenario = Scenario::from_yaml(&workload(jobs), "bench.yaml").expect("bench scenario");

    let started = Instant::now();
    let drawn = scenario.arrivals().count();
    let baseline_s = started.elapsed().as_secs_f64();
    println!("baseline: drawing {drawn} arrivals took {baseline_s:.2} s");

    for policy in [Policy::Strict, Policy::BestEffort] {
        for fraction in [10, 1] {
            let n = jobs / fraction;
            let scenario = Scenario::from_yaml(&workload(n), "bench.yaml").expect("bench scenario");
            let before = CURRENT.load(Ordering::Relaxed);
            PEAK.store(before, Ordering::Relaxed);
            let options = RunOptions { policy: Some(policy), ..RunOptions::default() };
            let mut tally = Tally::default();
            let started = Instant::now();
            let outcome = run(&scenario, &options, &mut tally);
            let elapsed = started.elapsed().as_secs_f64();
            let peak_mib = (PEAK.load(Ordering::Relaxed) - before) as f64 / (1 << 20) as f64;
            let mean_wait_s = tally.wait_ms_total as f64 / tally.jobs.max(1) as f64 / 1000.0;
            println!(
                "{policy:<11} {n:>8} jobs: {elapsed:6.2} s, {:>9.0} jobs/s, {:5.1}x baseline per job, \
                 peak heap {peak_mib:7.1} MiB, {} cycles, {} succeeded, mean wait {mean_wait_s:.0} s, \
                 simulated {:.1} days",
                n as f64 / elapsed,
                (elapsed / n as f64) / (baseline_s / drawn as f64),
                outcome.cycles,
                tally.succeeded,
                outcome.end_ms as f64 / 86_400_000.0,
            );
        }
    }
}
