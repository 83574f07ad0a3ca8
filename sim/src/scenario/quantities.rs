//! The notations a scenario's scalars are written in, each parsed into sparkq's units.
//!
//! The cluster speaks Kubernetes (`cpu: 500m`, `memory: 64Gi`) and the jobs speak Spark
//! (`cores: 4`, `memory: 4g`), exactly as the manifests and Spark confs a platform team
//! already has. The two look alike and mean different things (`512m` is 512 MiB to Spark and
//! half a byte to Kubernetes), so each parser recognises the other notation and says which
//! one the field wants. The grammars themselves are the core's ([`sparkq_core::quantity`]);
//! durations are the simulator's own.

use sparkq_core::quantity::{
    parse_bytes, parse_count, parse_cpu_millis, parse_spark_memory_mib, parse_spark_offheap_mib,
};
use sparkq_core::{MAX_INPUT_MS, Millis};

const DURATION_EXPECTED: &str = "expected a whole number followed by ms, s, m, h or d \
                                 (such as 1500ms, 90s, 10m, 2h, 1d or 1h30m), or a whole \
                                 number of seconds";

/// A duration: `1500ms`, `90s`, `10m`, `2h`, `1d`, parts added up (`1h30m`), or bare seconds.
pub(crate) fn duration_ms(input: &str) -> Result<Millis, String> {
    let text = input.trim();
    let not_a_duration = || format!("`{input}` is not a duration: {DURATION_EXPECTED}");
    let too_long =
        || format!("`{input}` is too long: expected at most a century ({MAX_INPUT_MS} ms)");
    if text.is_empty() {
        return Err(format!("an empty value is not a duration: {DURATION_EXPECTED}"));
    }
    if text.starts_with('-') {
        return Err(format!(
            "`{input}` is negative: durations are counted from the start, \
                            {DURATION_EXPECTED}"
        ));
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        let seconds: Millis = text.parse().map_err(|_| too_long())?;
        return seconds.checked_mul(1000).filter(|ms| *ms <= MAX_INPUT_MS).ok_or_else(too_long);
    }

    let mut total_ms: Millis = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(not_a_duration());
        }
        let number: Millis = rest[..digits].parse().map_err(|_| too_long())?;
        rest = &rest[digits..];
        let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit_ms: Millis = match &rest[..letters] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(not_a_duration()),
        };
        rest = &rest[letters..];
        let part_ms = number.checked_mul(unit_ms).ok_or_else(too_long)?;
        total_ms = total_ms.checked_add(part_ms).ok_or_else(too_long)?;
    }
    if total_ms > MAX_INPUT_MS {
        return Err(too_long());
    }
    Ok(total_ms)
}

/// Kubernetes CPU in millicores: `16`, `0.5`, `500m`.
pub(crate) fn cpu_millis(input: &str) -> Result<i64, String> {
    let text = input.trim();
    // Kubernetes would read `16Gi` of CPU as 16 × 2^30 cores; it is always memory by mistake.
    if ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"].iter().any(|suffix| text.ends_with(suffix)) {
        return Err(format!(
            "`{input}` is a memory amount: expected CPU in cores (16, 0.5) or millicores (500m)"
        ));
    }
    parse_cpu_millis(text)
        .map_err(|error| {
            let hint =
                if looks_like_memory(input) { " (this looks like a memory amount)" } else { "" };
            format!("{error}{hint}; CPU is written in cores (16, 0.5) or millicores (500m)")
        })
        .map_err(|message| expecting(message, "CPU of 0 or more, such as 16 or 500m"))
}

/// Kubernetes memory in bytes: `64Gi`, `512Mi`, `1G`. Rejects a lower-case `m`, which
/// Kubernetes reads as thousandths of a byte, because it is always Spark's megabytes by mistake.
pub(crate) fn bytes(input: &str) -> Result<i64, String> {
    let text = input.trim();
    if let Some(number) = text.strip_suffix('m')
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(format!(
            "`{input}` is thousandths of a byte in Kubernetes notation: expected \
             {number}Mi for {number} mebibytes (Spark's `m` is Kubernetes' `Mi`)"
        ));
    }
    parse_bytes(text).map_err(|error| match spark_spelling(text) {
        Some(kubernetes) => format!(
            "{error}; this is Spark notation, and cluster fields use Kubernetes notation: \
             write `{kubernetes}`"
        ),
        None => expecting(error.to_string(), "memory of 0 or more, such as 64Gi or 512Mi"),
    })
}

/// A Kubernetes count: pod slots or an extended resource such as `nvidia.com/gpu`.
pub(crate) fn count(input: &str) -> Result<i64, String> {
    parse_count(input.trim())
        .map_err(|error| expecting(error.to_string(), "a whole number of 0 or more, such as 4"))
}

/// Spark memory in MiB (`spark.driver.memory` and the like): `4g`, `512m`, bare MiB.
/// The core's message already names Kubernetes notation when it sees it (`4Gi`).
pub(crate) fn spark_mib(input: &str) -> Result<i64, String> {
    parse_spark_memory_mib(input)
        .map_err(|error| expecting(error.to_string(), "Spark memory of 0 or more, such as 4g"))
}

/// `spark.memory.offHeap.size` in whole MiB: `2g`, `512m`, bare bytes.
pub(crate) fn spark_offheap_mib(input: &str) -> Result<i64, String> {
    parse_spark_offheap_mib(input)
        .map_err(|error| expecting(error.to_string(), "Spark memory of 0 or more, such as 2g"))
}

/// Spark cores (`spark.driver.cores`, `spark.executor.cores`): a whole number, at least 1.
pub(crate) fn spark_cores(input: &str) -> Result<u32, String> {
    let text = input.trim();
    let fraction_hint = "expected a whole number (1, 4), as Spark's cores setting takes; to \
                         request a fraction of a CPU for the pod, also set request_cores \
                         (e.g. 500m)";
    if text.ends_with('m') || text.contains('.') {
        return Err(format!("`{input}` is not a whole number of cores: {fraction_hint}"));
    }
    match text.parse::<u32>() {
        Ok(0) => Err(format!("`{input}` cores cannot run anything: expected at least 1")),
        Ok(cores) => Ok(cores),
        Err(_) if text.starts_with('-') => {
            Err(format!("`{input}` is negative: expected a whole number of cores, at least 1"))
        }
        Err(_) => Err(format!("`{input}` is not a whole number of cores: expected 1, 2, 4, ...")),
    }
}

/// Ends `message` with what was expected, unless it already says.
fn expecting(message: String, expected: &str) -> String {
    if message.contains("expected") { message } else { format!("{message}; expected {expected}") }
}

/// True for text that ends in a memory unit, to hint at a CPU/memory mix-up.
fn looks_like_memory(input: &str) -> bool {
    let text = input.trim();
    ["Ki", "Mi", "Gi", "Ti", "k", "g", "G", "M", "T"]
        .iter()
        .any(|suffix| text.strip_suffix(suffix).is_some_and(|n| !n.is_empty()))
}

/// `4g` → `4Gi`: the Kubernetes spelling of a Spark size, when the text is one.
fn spark_spelling(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let digits = lower.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let (number, suffix) = lower.split_at(digits);
    let unit = match suffix {
        "k" | "kb" => "Ki",
        "m" | "mb" => "Mi",
        "g" | "gb" => "Gi",
        "t" | "tb" => "Ti",
        "p" | "pb" => "Pi",
        _ => return None,
    };
    Some(format!("{number}{unit}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units_and_bare_seconds() {
        assert_eq!(duration_ms("1500ms"), Ok(1500));
        assert_eq!(duration_ms("90s"), Ok(90_000));
        assert_eq!(duration_ms("10m"), Ok(600_000));
        assert_eq!(duration_ms("2h"), Ok(7_200_000));
        assert_eq!(duration_ms("1d"), Ok(86_400_000));
        assert_eq!(duration_ms("1h30m"), Ok(5_400_000));
        assert_eq!(duration_ms("45"), Ok(45_000));
        assert_eq!(duration_ms("0"), Ok(0));
        // A century of 365-day years is the longest a scenario may say.
        assert_eq!(duration_ms("36500d"), Ok(36_500 * 86_400_000));
    }

    #[test]
    fn malformed_durations_say_what_is_expected() {
        for bad in ["", "ten minutes", "10x", "1.5h", "h", "-5m", "99999999999999999999", "36501d"]
        {
            let message = duration_ms(bad).expect_err(bad);
            assert!(message.contains("expected"), "{bad}: {message}");
        }
    }

    #[test]
    fn spark_cores_reject_millicores_with_a_hint() {
        assert_eq!(spark_cores("4"), Ok(4));
        let message = spark_cores("500m").expect_err("500m");
        assert!(message.contains("request_cores"), "{message}");
        assert!(spark_cores("0").is_err());
        assert!(spark_cores("1.5").is_err());
    }

    #[test]
    fn cluster_memory_rejects_spark_notation_with_the_kubernetes_spelling() {
        assert_eq!(bytes("64Gi"), Ok(64 << 30));
        let message = bytes("512m").expect_err("512m");
        assert!(message.contains("512Mi"), "{message}");
        let message = bytes("4g").expect_err("4g");
        assert!(message.contains("4Gi"), "{message}");
    }
}
