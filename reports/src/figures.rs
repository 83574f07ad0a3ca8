//! The charts of a report: which statistics each one plots, in which units, with which words.
//! Drawing itself is `sparkq-charts`' business.

use sparkq_charts::{
    BandChart, BandSeries, Chart, IntervalChart, Lane, Layer, LegendPosition, LineChart, LineStyle,
    Series, StackedAreaChart,
};
use sparkq_core::{Millis, Priority};

use crate::percentile::Distribution;
use crate::stats::RunStats;

/// How many corners a CDF curve keeps; enough for a smooth curve at any job count.
const CDF_POINTS: usize = 400;
/// How many namespaces get a curve of their own in the wait chart by namespace.
const NAMESPACE_CURVES: usize = 8;

/// A chart with the file name it is saved under and one line on what it shows.
#[derive(Clone, Debug)]
pub struct Figure {
    /// The file name without extension, such as `wait_cdf`.
    pub stem: String,
    pub chart: Chart,
    pub caption: String,
}

/// A unit for an axis of durations, picked so that the numbers stay small.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeUnit {
    Seconds,
    Minutes,
    Hours,
}

impl TimeUnit {
    /// Seconds up to 10 minutes, minutes up to 10 hours, hours beyond.
    pub fn for_span(span_ms: Millis) -> TimeUnit {
        match span_ms {
            0..=600_000 => TimeUnit::Seconds,
            600_001..=36_000_000 => TimeUnit::Minutes,
            _ => TimeUnit::Hours,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            TimeUnit::Seconds => "s",
            TimeUnit::Minutes => "min",
            TimeUnit::Hours => "h",
        }
    }

    pub fn from_ms(self, ms: f64) -> f64 {
        ms / self.ms_per_unit()
    }

    pub fn from_seconds(self, seconds: f64) -> f64 {
        seconds * 1000.0 / self.ms_per_unit()
    }

    fn ms_per_unit(self) -> f64 {
        match self {
            TimeUnit::Seconds => 1000.0,
            TimeUnit::Minutes => 60_000.0,
            TimeUnit::Hours => 3_600_000.0,
        }
    }
}

fn priority_style(priority: Priority) -> LineStyle {
    LineStyle { color: priority.index(), dashed: false }
}

/// The x values of a run's grid, in the given unit.
fn grid_x(stats: &RunStats, unit: TimeUnit) -> Vec<f64> {
    stats.grid.starts_ms().map(|at| unit.from_ms(at as f64)).collect()
}

/// A step series over the grid, closed with a last point at the run's end.
fn over_grid(stats: &RunStats, unit: TimeUnit, values: &[f64]) -> Vec<(f64, f64)> {
    let mut points: Vec<(f64, f64)> =
        grid_x(stats, unit).into_iter().zip(values.iter().copied()).collect();
    if let Some(&last) = values.last() {
        points.push((unit.from_ms(stats.grid.end_ms as f64), last));
    }
    points
}

fn cdf_series(label: String, waits: &Distribution, unit: TimeUnit, style: LineStyle) -> Series {
    let points = waits
        .cdf_points(CDF_POINTS)
        .into_iter()
        .map(|(ms, fraction)| (unit.from_ms(ms as f64), fraction))
        .collect();
    Series { label, points, style }
}

fn wait_unit<'a>(waits: impl Iterator<Item = &'a Distribution>) -> TimeUnit {
    TimeUnit::for_span(waits.filter_map(Distribution::max_ms).max().unwrap_or(0))
}

/// Merges intervals that overlap or lie closer than `gap_ms`, so a chart of a long run draws
/// a few hundred bars at most per lane instead of one per interval (none of them wider than a
/// pixel would show).
pub fn coalesce(intervals_ms: &[(Millis, Millis)], gap_ms: Millis) -> Vec<(Millis, Millis)> {
    let mut sorted = intervals_ms.to_vec();
    sorted.sort_unstable();
    let mut merged: Vec<(Millis, Millis)> = Vec::new();
    for (from, to) in sorted {
        match merged.last_mut() {
            Some(last) if from <= last.1.saturating_add(gap_ms) => last.1 = last.1.max(to),
            _ => merged.push((from, to)),
        }
    }
    merged
}

/// The charts of one run, in the order the report shows them.
pub fn run_figures(stats: &RunStats) -> Vec<Figure> {
    let time = TimeUnit::for_span(stats.end_ms);
    let time_label = format!("time since start ({})", time.symbol());
    let mut figures = Vec::new();

    let wait = wait_unit(stats.waits_by_priority.iter());
    let cdf = Priority::ALL
        .iter()
        .map(|&priority| {
            let waits = &stats.waits_by_priority[priority.index()];
            let label = format!("{priority} ({} admitted)", waits.len());
            cdf_series(label, waits, wait, priority_style(priority))
        })
        .collect();
    figures.push(Figure {
        stem: "wait_cdf".into(),
        chart: Chart::Line(LineChart {
            title: "Wait time distribution by priority".into(),
            x_label: format!("wait from submission to admission ({})", wait.symbol()),
            y_label: "fraction of admitted jobs".into(),
            series: cdf,
            step: true,
            x_range: None,
            y_range: Some((0.0, 1.0)),
            legend: LegendPosition::LowerRight,
        }),
        caption: "Share of admitted jobs that waited at most x, per priority: the further left \
                  a curve rises, the shorter the waits."
            .into(),
    });

    // The namespaces with the most admitted jobs, ties by name, at most one per colour.
    let mut namespaces: Vec<(&str, &Distribution)> = stats
        .waits_by_namespace
        .iter()
        .map(|(namespace, waits)| (namespace.as_ref(), waits))
        .filter(|(_, waits)| !waits.is_empty())
        .collect();
    namespaces.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(b.0)));
    namespaces.truncate(NAMESPACE_CURVES);
    let namespace_unit = wait_unit(namespaces.iter().map(|(_, waits)| *waits));
    let by_namespace = namespaces
        .iter()
        .enumerate()
        .map(|(index, (namespace, waits))| {
            let label = format!("{namespace} ({} admitted)", waits.len());
            cdf_series(label, waits, namespace_unit, LineStyle { color: index, dashed: false })
        })
        .collect();
    figures.push(Figure {
        stem: "wait_cdf_by_namespace".into(),
        chart: Chart::Line(LineChart {
            title: "Wait time distribution by namespace".into(),
            x_label: format!("wait from submission to admission ({})", namespace_unit.symbol()),
            y_label: "fraction of admitted jobs".into(),
            series: by_namespace,
            step: true,
            x_range: None,
            y_range: Some((0.0, 1.0)),
            legend: LegendPosition::LowerRight,
        }),
        caption: format!(
            "The same distribution for each namespace (the {NAMESPACE_CURVES} with the most \
             admitted jobs at most): which tenants wait longest."
        ),
    });

    let queue = Priority::ALL
        .iter()
        .map(|&priority| {
            let peaks: Vec<f64> =
                stats.queue_length[priority.index()].peak.iter().map(|&peak| peak as f64).collect();
            Series {
                label: priority.as_str().into(),
                points: over_grid(stats, time, &peaks),
                style: priority_style(priority),
            }
        })
        .collect();
    figures.push(Figure {
        stem: "queue_length".into(),
        chart: Chart::Line(LineChart {
            title: "Jobs waiting in the queue".into(),
            x_label: time_label.clone(),
            y_label: "queued jobs (peak per step)".into(),
            series: queue,
            step: true,
            x_range: None,
            y_range: None,
            legend: LegendPosition::UpperRight,
        }),
        caption: "How many jobs of each priority were queued (submitted, not yet admitted), the \
                  highest count within each time step."
            .into(),
    });

    let age_unit = TimeUnit::for_span(
        stats.head_age_ms.iter().flat_map(|ages| ages.iter().copied()).max().unwrap_or(0),
    );
    let ages = Priority::ALL
        .iter()
        .map(|&priority| {
            let ages: Vec<f64> = stats.head_age_ms[priority.index()]
                .iter()
                .map(|&age| age_unit.from_ms(age as f64))
                .collect();
            Series {
                label: priority.as_str().into(),
                points: over_grid(stats, time, &ages),
                style: priority_style(priority),
            }
        })
        .collect();
    figures.push(Figure {
        stem: "head_age".into(),
        chart: Chart::Line(LineChart {
            title: "Age of the oldest queued job".into(),
            x_label: time_label.clone(),
            y_label: format!("head age ({})", age_unit.symbol()),
            series: ages,
            step: false,
            x_range: None,
            y_range: None,
            legend: LegendPosition::UpperRight,
        }),
        caption: "How long the oldest waiting job of each priority had waited so far: a rising \
                  line is a queue whose head is stuck."
            .into(),
    });

    for (stem, resource, unit, pick) in
        [("cpu_allocation", "CPU", "cores", 0usize), ("memory_allocation", "Memory", "GiB", 1usize)]
    {
        let values = |series: &crate::stats::ResourceSeries| -> Vec<f64> {
            if pick == 0 { series.cpu_cores.clone() } else { series.memory_gib.clone() }
        };
        let lines = [
            ("capacity (schedulable nodes)", &stats.capacity, 7usize, false),
            ("allocated (admitted or running)", &stats.allocated, 1, false),
            ("running", &stats.running, 2, true),
        ];
        let series = lines
            .into_iter()
            .map(|(label, source, color, dashed)| Series {
                label: label.into(),
                points: over_grid(stats, time, &values(source)),
                style: LineStyle { color, dashed },
            })
            .collect();
        figures.push(Figure {
            stem: stem.into(),
            chart: Chart::Line(LineChart {
                title: format!("{resource} allocated against capacity"),
                x_label: time_label.clone(),
                y_label: format!("{} ({unit}, mean per step)", resource.to_lowercase()),
                series,
                step: true,
                x_range: None,
                y_range: None,
                legend: LegendPosition::UpperRight,
            }),
            caption: format!(
                "{resource} requested by jobs holding capacity (admitted or running) and by \
                 running jobs, against what schedulable nodes offer; the gap is capacity left idle."
            ),
        });
    }

    for (key, usage) in [
        ("namespace", &stats.usage_by_namespace),
        ("domain", &stats.usage_by_domain),
        ("priority", &stats.usage_by_priority),
    ] {
        let layers = usage
            .series
            .iter()
            .map(|(label, cores)| Layer { label: label.clone(), values: cores.clone() })
            .collect();
        figures.push(Figure {
            stem: format!("usage_by_{key}"),
            chart: Chart::StackedArea(StackedAreaChart {
                title: format!("CPU used by {key}"),
                x_label: time_label.clone(),
                y_label: "cores requested by running jobs".into(),
                x: grid_x(stats, time),
                layers,
                top_line: Some(Series {
                    label: "capacity".into(),
                    points: over_grid(stats, time, &stats.capacity.cpu_cores),
                    style: LineStyle::default(),
                }),
            }),
            caption: format!(
                "CPU requested by running jobs, stacked by {key} (the largest ones; the rest as \
                 other), under the cluster's capacity."
            ),
        });
    }

    let lanes = stats
        .blocked
        .iter()
        .map(|lane| Lane {
            label: lane.label.clone(),
            intervals: coalesce(&lane.intervals_ms, stats.end_ms / 1000)
                .into_iter()
                .map(|(from, to)| (time.from_ms(from as f64), time.from_ms(to as f64)))
                .collect(),
        })
        .collect();
    figures.push(Figure {
        stem: "head_blocked".into(),
        chart: Chart::Intervals(IntervalChart {
            title: "When the queue head was blocked".into(),
            x_label: time_label,
            lanes,
            x_range: Some((0.0, time.from_ms(stats.end_ms.max(1) as f64))),
        }),
        caption: "Each bar is an interval during which a queue's head could not be admitted and \
                  the scheduling cycle stopped at it; one row per queue."
            .into(),
    });

    figures
}

/// Overlaid charts for `sparkq compare`: wait CDFs and queue lengths, one line per run.
/// `runs` hold each run's label and statistics on one shared grid.
pub fn compare_figures(runs: &[(&str, &RunStats)]) -> Vec<Figure> {
    let mut figures = Vec::new();
    let wait = wait_unit(runs.iter().flat_map(|(_, stats)| stats.waits_by_priority.iter()));
    let end_ms = runs.iter().map(|(_, stats)| stats.end_ms).max().unwrap_or(0);
    let time = TimeUnit::for_span(end_ms);

    for priority in Priority::ALL {
        let series = runs
            .iter()
            .enumerate()
            .map(|(index, (label, stats))| {
                let waits = &stats.waits_by_priority[priority.index()];
                let style = LineStyle { color: index, dashed: false };
                cdf_series((*label).to_owned(), waits, wait, style)
            })
            .collect();
        figures.push(Figure {
            stem: format!("compare_wait_cdf_{priority}"),
            chart: Chart::Line(LineChart {
                title: format!("Wait time distribution of {priority} jobs, by run"),
                x_label: format!("wait from submission to admission ({})", wait.symbol()),
                y_label: "fraction of admitted jobs".into(),
                series,
                step: true,
                x_range: None,
                y_range: Some((0.0, 1.0)),
                legend: LegendPosition::LowerRight,
            }),
            caption: format!(
                "Share of admitted {priority} jobs that waited at most x, one curve per run: the \
                 curve furthest to the left waits least."
            ),
        });
    }

    for priority in Priority::ALL {
        let series = runs
            .iter()
            .enumerate()
            .map(|(index, (label, stats))| {
                let peaks: Vec<f64> = stats.queue_length[priority.index()]
                    .peak
                    .iter()
                    .map(|&peak| peak as f64)
                    .collect();
                Series {
                    label: (*label).to_owned(),
                    points: over_grid(stats, time, &peaks),
                    style: LineStyle { color: index, dashed: false },
                }
            })
            .collect();
        figures.push(Figure {
            stem: format!("compare_queue_length_{priority}"),
            chart: Chart::Line(LineChart {
                title: format!("Queued {priority} jobs, by run"),
                x_label: format!("time since start ({})", time.symbol()),
                y_label: "queued jobs (peak per step)".into(),
                series,
                step: true,
                x_range: None,
                y_range: None,
                legend: LegendPosition::UpperRight,
            }),
            caption: format!(
                "How many {priority} jobs were queued over time in each run (highest count within \
                 each time step)."
            ),
        });
    }
    figures
}

/// One point of a planning curve: a node count and the metric's spread over seeds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CurvePoint {
    pub nodes: u32,
    pub low: f64,
    pub middle: f64,
    pub high: f64,
}

/// The planning chart of one SLO: the metric against node count, band from min to max over
/// seeds, the threshold as a dashed line. Waits are given in seconds and drawn in `unit`.
pub fn plan_figure(
    stem: String,
    slo_text: &str,
    target: &str,
    pool: &str,
    points: &[CurvePoint],
    threshold: f64,
    unit: Option<TimeUnit>,
) -> Figure {
    let scale = |value: f64| unit.map_or(value, |unit| unit.from_seconds(value));
    let y_label = match unit {
        Some(unit) => format!("{target} ({})", unit.symbol()),
        None => target.to_owned(),
    };
    let band = BandSeries {
        label: "median over seeds (band: min to max)".into(),
        points: points
            .iter()
            .map(|point| {
                (f64::from(point.nodes), scale(point.low), scale(point.middle), scale(point.high))
            })
            .collect(),
        color: 1,
    };
    Figure {
        stem,
        chart: Chart::Band(BandChart {
            title: format!("{target} against the size of pool {pool}"),
            x_label: format!("nodes in pool {pool}"),
            y_label,
            series: vec![band],
            threshold: Some((format!("SLO: {slo_text}"), scale(threshold))),
            integer_x: true,
        }),
        caption: format!(
            "The measured {target} for each node count tried (line: median over seeds; band: \
             lowest to highest), and the objective as a dashed line."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coalesce_merges_overlapping_and_near_intervals() {
        let merged = coalesce(&[(10, 20), (0, 5), (18, 30), (32, 40), (100, 110)], 2);
        assert_eq!(merged, vec![(0, 5), (10, 40), (100, 110)]);
    }

    #[test]
    fn time_units_keep_numbers_small() {
        assert_eq!(TimeUnit::for_span(90_000), TimeUnit::Seconds);
        assert_eq!(TimeUnit::for_span(3_600_000), TimeUnit::Minutes);
        assert_eq!(TimeUnit::for_span(86_400_000), TimeUnit::Hours);
        assert_eq!(TimeUnit::Minutes.from_seconds(600.0), 10.0);
    }
}
