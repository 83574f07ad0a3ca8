//! Service-level objectives for `sparkq plan`, such as `high.p95_wait <= 10m`.
//!
//! Grammar: `[SCOPE.]METRIC OP THRESHOLD`, spaces optional around `OP`.
//!
//! - `SCOPE`: `high`, `normal`, or `overall` (the default when omitted);
//! - `METRIC`: `mean_wait`, `p50_wait`, `p95_wait`, `p99_wait`, `max_wait` (the wait statistics
//!   of `summary.json`), or `bounded_slowdown` (its `bounded_slowdown_mean`);
//! - `OP`: `<=`, `<`, `>=` or `>`;
//! - `THRESHOLD`: for a wait, a number with a unit, `ms`, `s`, `m` (or `min`) or `h`: `90s`,
//!   `10m`, `1.5h`. A bare number is refused, since `10` could mean seconds or minutes. For
//!   the slowdown, a plain number: `bounded_slowdown <= 3`.

use std::fmt;
use std::str::FromStr;

use sparkq_core::Priority;

use crate::summary::{GroupSummary, Summary};

/// One objective, with its threshold in seconds (waits) or as a ratio (slowdown).
#[derive(Clone, Debug, PartialEq)]
pub struct Slo {
    /// `None` for every job, else one priority.
    pub priority: Option<Priority>,
    pub metric: SloMetric,
    pub comparison: Comparison,
    pub threshold: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SloMetric {
    MeanWait,
    P50Wait,
    P95Wait,
    P99Wait,
    MaxWait,
    BoundedSlowdown,
}

impl SloMetric {
    pub const ALL: [SloMetric; 6] = [
        SloMetric::MeanWait,
        SloMetric::P50Wait,
        SloMetric::P95Wait,
        SloMetric::P99Wait,
        SloMetric::MaxWait,
        SloMetric::BoundedSlowdown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SloMetric::MeanWait => "mean_wait",
            SloMetric::P50Wait => "p50_wait",
            SloMetric::P95Wait => "p95_wait",
            SloMetric::P99Wait => "p99_wait",
            SloMetric::MaxWait => "max_wait",
            SloMetric::BoundedSlowdown => "bounded_slowdown",
        }
    }

    /// True for the wait metrics, measured in seconds.
    pub fn is_wait(self) -> bool {
        self != SloMetric::BoundedSlowdown
    }

    /// The metric's value in a summary group: seconds for waits, a ratio for the slowdown.
    pub fn of(self, group: &GroupSummary) -> Option<f64> {
        let waits = &group.wait_seconds;
        match self {
            SloMetric::MeanWait => waits.mean,
            SloMetric::P50Wait => waits.p50,
            SloMetric::P95Wait => waits.p95,
            SloMetric::P99Wait => waits.p99,
            SloMetric::MaxWait => waits.max,
            SloMetric::BoundedSlowdown => group.bounded_slowdown_mean,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    AtMost,
    Below,
    AtLeast,
    Above,
}

impl Comparison {
    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::AtMost => "<=",
            Comparison::Below => "<",
            Comparison::AtLeast => ">=",
            Comparison::Above => ">",
        }
    }

    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::AtMost => value <= threshold,
            Comparison::Below => value < threshold,
            Comparison::AtLeast => value >= threshold,
            Comparison::Above => value > threshold,
        }
    }
}

/// Why an SLO could not be read. Each message quotes the SLO and says what is accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SloError {
    #[error("empty SLO: write one like \"high.p95_wait <= 10m\"")]
    Empty,
    #[error("SLO {slo:?} has no comparison: use <=, <, >= or > between metric and threshold")]
    NoComparison { slo: String },
    #[error("SLO {slo:?}: unknown scope {scope:?}; use high, normal or overall (or leave it out)")]
    UnknownScope { slo: String, scope: String },
    #[error(
        "SLO {slo:?}: unknown metric {metric:?}; use mean_wait, p50_wait, p95_wait, p99_wait, \
         max_wait or bounded_slowdown"
    )]
    UnknownMetric { slo: String, metric: String },
    #[error("SLO {slo:?}: no threshold after {comparison:?}")]
    NoThreshold { slo: String, comparison: String },
    #[error(
        "SLO {slo:?}: {threshold:?} is not a duration; write a number and a unit: 90s, 10m, 1.5h, 500ms"
    )]
    BadDuration { slo: String, threshold: String },
    #[error("SLO {slo:?}: {threshold:?} has no unit; a wait needs one (s, m, h or ms), e.g. 10m")]
    MissingUnit { slo: String, threshold: String },
    #[error(
        "SLO {slo:?}: {threshold:?} is not a number; bounded_slowdown takes a plain ratio such as 3 or 1.5"
    )]
    BadRatio { slo: String, threshold: String },
    #[error("SLO {slo:?}: the threshold must be zero or more, not {threshold:?}")]
    Negative { slo: String, threshold: String },
}

impl FromStr for Slo {
    type Err = SloError;

    fn from_str(text: &str) -> Result<Slo, SloError> {
        let slo = text.trim();
        if slo.is_empty() {
            return Err(SloError::Empty);
        }
        let owned = || slo.to_owned();

        // Two-character operators first, so `<=` is not read as `<` followed by `=10m`.
        let (at, comparison) = ["<=", ">=", "<", ">"]
            .iter()
            .find_map(|op| slo.find(op).map(|at| (at, *op)))
            .ok_or_else(|| SloError::NoComparison { slo: owned() })?;
        let comparison_kind = match comparison {
            "<=" => Comparison::AtMost,
            ">=" => Comparison::AtLeast,
            "<" => Comparison::Below,
            _ => Comparison::Above,
        };
        let target = slo[..at].trim();
        let threshold_text = slo[at + comparison.len()..].trim();

        let (scope, metric_name) = match target.split_once('.') {
            Some((scope, metric)) => (scope.trim(), metric.trim()),
            None => ("overall", target),
        };
        let priority = match scope {
            "high" => Some(Priority::High),
            "normal" => Some(Priority::Normal),
            "overall" | "all" => None,
            other => return Err(SloError::UnknownScope { slo: owned(), scope: other.to_owned() }),
        };
        let metric =
            SloMetric::ALL.into_iter().find(|metric| metric.as_str() == metric_name).ok_or_else(
                || SloError::UnknownMetric { slo: owned(), metric: metric_name.to_owned() },
            )?;

        if threshold_text.is_empty() {
            return Err(SloError::NoThreshold { slo: owned(), comparison: comparison.to_owned() });
        }
        let threshold = if metric.is_wait() {
            parse_duration_seconds(slo, threshold_text)?
        } else {
            threshold_text.parse::<f64>().ok().filter(|value| value.is_finite()).ok_or_else(
                || SloError::BadRatio { slo: owned(), threshold: threshold_text.to_owned() },
            )?
        };
        if threshold < 0.0 {
            return Err(SloError::Negative { slo: owned(), threshold: threshold_text.to_owned() });
        }
        Ok(Slo { priority, metric, comparison: comparison_kind, threshold })
    }
}

/// `10m` → 600.0 seconds.
fn parse_duration_seconds(slo: &str, text: &str) -> Result<f64, SloError> {
    let digits_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(text.len());
    let (number, unit) = (text[..digits_end].trim(), text[digits_end..].trim());
    let bad = || SloError::BadDuration { slo: slo.to_owned(), threshold: text.to_owned() };
    let value: f64 = number.parse().ok().filter(|value: &f64| value.is_finite()).ok_or_else(bad)?;
    let seconds_per_unit = match unit {
        "" => {
            return Err(SloError::MissingUnit { slo: slo.to_owned(), threshold: text.to_owned() });
        }
        "ms" => 0.001,
        "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(bad()),
    };
    Ok(value * seconds_per_unit)
}

impl Slo {
    /// The measured value in a summary, or `None` when the group has no value (no admitted or
    /// finished job).
    pub fn measure(&self, summary: &Summary) -> Option<f64> {
        self.metric.of(summary.group(self.priority))
    }

    /// Whether a run meets the objective. A group without jobs meets it trivially; a group
    /// with jobs but no value (none admitted, or none finished) does not.
    pub fn is_met(&self, summary: &Summary) -> bool {
        match self.measure(summary) {
            Some(value) => self.comparison.holds(value, self.threshold),
            None => summary.group(self.priority).jobs == 0,
        }
    }

    /// `high.p95_wait`, as the SLO names its metric.
    pub fn target(&self) -> String {
        match self.priority {
            Some(priority) => format!("{}.{}", priority, self.metric.as_str()),
            None => format!("overall.{}", self.metric.as_str()),
        }
    }
}

impl fmt::Display for Slo {
    /// The canonical form: `high.p95_wait <= 600s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = if self.metric.is_wait() { "s" } else { "" };
        write!(f, "{} {} {}{}", self.target(), self.comparison.as_str(), self.threshold, unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Slo, SloError> {
        text.parse()
    }

    #[test]
    fn reads_the_example_from_the_issue() {
        let slo = parse("high.p95_wait <= 10m").expect("valid");
        assert_eq!(
            slo,
            Slo {
                priority: Some(Priority::High),
                metric: SloMetric::P95Wait,
                comparison: Comparison::AtMost,
                threshold: 600.0,
            }
        );
        assert_eq!(slo.to_string(), "high.p95_wait <= 600s");
    }

    #[test]
    fn reads_every_unit_scope_and_operator() {
        assert_eq!(parse("p99_wait<90s").map(|s| (s.priority, s.threshold)), Ok((None, 90.0)));
        assert_eq!(parse("normal.max_wait >= 1.5h").map(|s| s.threshold), Ok(5400.0));
        assert_eq!(parse("overall.mean_wait > 500ms").map(|s| s.threshold), Ok(0.5));
        assert_eq!(parse("high.p50_wait <= 2 min").map(|s| s.threshold), Ok(120.0));
        let slowdown = parse("normal.bounded_slowdown <= 3").expect("valid");
        assert_eq!((slowdown.metric, slowdown.threshold), (SloMetric::BoundedSlowdown, 3.0));
    }

    #[test]
    fn explains_what_is_wrong() {
        assert_eq!(parse("  "), Err(SloError::Empty));
        assert!(matches!(parse("high.p95_wait 10m"), Err(SloError::NoComparison { .. })));
        assert!(matches!(
            parse("urgent.p95_wait <= 10m"),
            Err(SloError::UnknownScope { scope, .. }) if scope == "urgent"
        ));
        assert!(matches!(
            parse("high.p90_wait <= 10m"),
            Err(SloError::UnknownMetric { metric, .. }) if metric == "p90_wait"
        ));
        assert!(matches!(parse("high.p95_wait <= 10"), Err(SloError::MissingUnit { .. })));
        assert!(matches!(parse("high.p95_wait <= 10 days"), Err(SloError::BadDuration { .. })));
        assert!(matches!(parse("high.p95_wait <="), Err(SloError::NoThreshold { .. })));
        assert!(matches!(parse("bounded_slowdown <= 3x"), Err(SloError::BadRatio { .. })));
        assert!(matches!(parse("max_wait <= -5s"), Err(SloError::Negative { .. })));

        let message = parse("high.p95_wait <= 10").expect_err("no unit").to_string();
        assert!(message.contains("high.p95_wait <= 10") && message.contains("10m"), "{message}");
    }
}
