//! `jobs.csv`: one row per job, in id order, for spreadsheets and ad-hoc analysis.
//!
//! Columns: `id,name,namespace,domain,priority,flow,submitted,admitted,started,finished,state,
//! wait_seconds,reason`. Times are seconds from the scenario's start with exactly three
//! decimals (the records' millisecond precision), written from integers so no rounding can
//! creep in; a time that did not happen is an empty field. `finished` is when the job reached
//! its final phase, whichever it was (a rejection or cancellation too), as the simulator
//! records it. Fields are quoted as RFC 4180 says:
//! only when they hold a comma, a double quote, a line break or leading or trailing spaces,
//! with inner quotes doubled.

use std::io::{self, Write};

use sparkq_core::Millis;
use sparkq_sim::record::{JobRecord, RunRecords};

pub const HEADER: &str = "id,name,namespace,domain,priority,flow,submitted,admitted,started,finished,state,wait_seconds,reason";

/// Writes the header and one row per job, sorted by id.
pub fn write_jobs_csv(records: &RunRecords, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "{HEADER}")?;
    let mut jobs: Vec<&JobRecord> = records.jobs.iter().collect();
    if !jobs.is_sorted_by_key(|job| job.id) {
        jobs.sort_by_key(|job| job.id);
    }
    let mut line = String::new();
    for job in jobs {
        line.clear();
        push_row(job, &mut line);
        out.write_all(line.as_bytes())?;
    }
    out.flush()
}

fn push_row(job: &JobRecord, line: &mut String) {
    let fields: [String; 13] = [
        job.id.to_string(),
        field(&job.name),
        field(&job.namespace),
        field(&job.domain),
        job.priority.as_str().to_owned(),
        job.flow.as_str().to_owned(),
        seconds_text(job.submitted_ms),
        job.admitted_ms.map(seconds_text).unwrap_or_default(),
        job.started_ms.map(seconds_text).unwrap_or_default(),
        job.finished_ms.map(seconds_text).unwrap_or_default(),
        job.phase.as_str().to_owned(),
        job.wait_ms().map(seconds_text).unwrap_or_default(),
        job.reason.as_deref().map(field).unwrap_or_default(),
    ];
    line.push_str(&fields.join(","));
    line.push('\n');
}

/// Milliseconds as seconds with three decimals, `12345` → `12.345`.
pub fn seconds_text(ms: Millis) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// One CSV field, quoted when it must be.
pub fn field(text: &str) -> String {
    let needs_quotes =
        text.contains([',', '"', '\n', '\r']) || text.starts_with(' ') || text.ends_with(' ');
    if needs_quotes { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_only_when_they_must_be() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(field("cr\r"), "\"cr\r\"");
        assert_eq!(field(" padded"), "\" padded\"");
        assert_eq!(field(""), "");
    }

    #[test]
    fn seconds_keep_three_decimals() {
        assert_eq!(seconds_text(0), "0.000");
        assert_eq!(seconds_text(5), "0.005");
        assert_eq!(seconds_text(12_345), "12.345");
        assert_eq!(seconds_text(86_400_000), "86400.000");
    }
}
