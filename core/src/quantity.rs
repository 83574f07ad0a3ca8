//! Kubernetes resource quantities and Spark memory strings, read exactly as Kubernetes and Spark
//! read them.
//!
//! Every amount sparkq compares against a node starts as text: `500m` of CPU and `4Gi` of memory
//! in a node's status, `4g` of executor heap in a Spark conf. If sparkq read one of them
//! differently from the API server or from spark-submit, it would admit a job whose pods cannot
//! be placed, or hold back one that fits. So this module follows both grammars to the letter,
//! keeps every value exact (no floating point), and rounds only where they round:
//!
//! - Kubernetes (`resource.Quantity` in apimachinery) rounds every quantity up to a whole
//!   nano-unit when it parses it and caps its magnitude at 2^63 − 1 units; `MilliValue` and
//!   `Value` round up again to whole millis or whole units. CPU is read in millicores, memory in
//!   bytes, pods and extended resources (GPUs) in whole units.
//! - Spark (`JavaUtils.byteStringAs`) accepts whole numbers with a binary suffix (`4g` is
//!   4 GiB), reads a bare number in the unit of the setting, and truncates when it converts to
//!   a larger unit.
//!
//! The formatting functions write amounts back in Kubernetes' canonical notation, for people and
//! for manifests alike.

use std::fmt;
use std::str::FromStr;

/// Nano-units in one unit: Kubernetes keeps nine decimal places.
const NANOS_PER_UNIT: i128 = 1_000_000_000;

/// Nano-units in one milli-unit.
const NANOS_PER_MILLI: i128 = 1_000_000;

/// The largest magnitude a Kubernetes quantity holds, 2^63 − 1 units, in nano-units.
const MAX_NANOS: i128 = i64::MAX as i128 * NANOS_PER_UNIT;

/// The suffixes, largest first, that [`format_bytes`] tries.
const BINARY_SUFFIXES: [(&str, u32); 6] =
    [("Ei", 60), ("Pi", 50), ("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10)];

/// What an input was expected to look like, appended to every Kubernetes parse error.
const KUBERNETES_EXPECTED: &str =
    "expected a number with an optional suffix such as 500m, 2, 4Gi, 4G or 129e6";

/// What an input was expected to look like, appended to every Spark parse error.
const SPARK_EXPECTED: &str = "expected a whole number with an optional suffix b, k, m, g, t or p \
                              (or kb, mb, gb, tb, pb), such as 512m or 4g";

/// An exact Kubernetes quantity: a signed count of nano-units.
///
/// Parsing rounds up to a whole nano-unit and caps the magnitude at 2^63 − 1 units, as
/// Kubernetes does, so every quantity fits in an `i128` without loss.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Quantity {
    nanos: i128,
}

/// Why a quantity or a Spark size could not be read. Every message quotes the input and says
/// what was expected; the caller adds where the input came from.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The text is not in Kubernetes' quantity notation.
    #[error("{} is not a Kubernetes quantity: {problem}; {KUBERNETES_EXPECTED}", shown(.input))]
    NotAQuantity { input: String, problem: String },

    /// The text is not in Spark's size notation.
    #[error("{} is not a Spark size: {problem}; {SPARK_EXPECTED}", shown(.input))]
    NotASparkSize { input: String, problem: String },

    /// A request or a capacity below zero.
    #[error("{} must not be negative: {what} cannot be below zero", shown(.input))]
    Negative { input: String, what: &'static str },

    /// A fraction where Kubernetes counts whole units (pods, GPUs).
    #[error("{} must be a whole number: Kubernetes counts {what} in whole units", shown(.input))]
    NotWhole { input: String, what: &'static str },

    /// A value that does not fit the unit sparkq counts it in.
    #[error("{} is too large: {what} must be at most {max} {unit}", shown(.input))]
    TooLarge { input: String, what: &'static str, max: i64, unit: &'static str },
}

/// The input as an error message shows it: quoted, or named when there is nothing to quote.
fn shown(input: &str) -> String {
    if input.is_empty() { "an empty string".to_owned() } else { format!("`{input}`") }
}

impl Quantity {
    pub const ZERO: Quantity = Quantity { nanos: 0 };

    /// The largest quantity Kubernetes holds: 2^63 − 1 units. Larger inputs are capped to it.
    pub const MAX: Quantity = Quantity { nanos: MAX_NANOS };

    /// A whole number of units.
    pub fn from_units(units: i64) -> Quantity {
        Quantity { nanos: i128::from(units) * NANOS_PER_UNIT }
    }

    /// A whole number of milli-units, such as millicores.
    pub fn from_millis(millis: i64) -> Quantity {
        Quantity { nanos: i128::from(millis) * NANOS_PER_MILLI }
    }

    /// The exact value, in nano-units.
    pub fn nanos(&self) -> i128 {
        self.nanos
    }

    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    /// True when the value has no fractional part.
    pub fn is_whole(&self) -> bool {
        self.nanos % NANOS_PER_UNIT == 0
    }

    /// The value in milli-units rounded up to a whole milli, as Kubernetes' `MilliValue` gives
    /// it (`0.1m` is 1m). Saturates at the bounds of `i64`, which only quantities above about
    /// 9.2 × 10^15 units reach; [`parse_cpu_millis`] reports those as an error instead.
    pub fn milli_value_ceil(&self) -> i64 {
        saturate(ceil_div(self.nanos, NANOS_PER_MILLI))
    }

    /// The value in units rounded up to a whole unit, as Kubernetes' `Value` gives it (memory in
    /// bytes). Never saturates in practice: parsing already caps quantities at 2^63 − 1 units.
    pub fn value_ceil(&self) -> i64 {
        saturate(ceil_div(self.nanos, NANOS_PER_UNIT))
    }
}

/// `numerator / denominator` rounded towards positive infinity, for a positive denominator.
fn ceil_div(numerator: i128, denominator: i128) -> i128 {
    numerator.div_euclid(denominator) + i128::from(numerator.rem_euclid(denominator) != 0)
}

fn saturate(value: i128) -> i64 {
    i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX })
}

/// The exact decimal value, such as `1.5` or `0.0000001`. For canonical notation of CPU and
/// memory amounts use [`format_cpu`] and [`format_bytes`].
impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.nanos < 0 { "-" } else { "" };
        let magnitude = self.nanos.unsigned_abs();
        let units = magnitude / NANOS_PER_UNIT.unsigned_abs();
        let nanos = magnitude % NANOS_PER_UNIT.unsigned_abs();
        if nanos == 0 {
            return write!(f, "{sign}{units}");
        }
        let fraction = format!("{nanos:09}");
        write!(f, "{sign}{units}.{}", fraction.trim_end_matches('0'))
    }
}

impl FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(input: &str) -> Result<Quantity, QuantityError> {
        parse(input)
    }
}

/// Reads a Kubernetes quantity.
///
/// The notation is apimachinery's: an optional sign, a decimal number (`2`, `1.5`, `.5`, `5.`),
/// then at most one suffix: decimal SI `n u m k M G T P E`, binary SI `Ki Mi Gi Ti Pi Ei`, or a
/// decimal exponent `e`/`E` followed by a signed integer (`129e6`, `12e-3`). `E` alone is exa.
/// Nothing else is allowed, whitespace included. The value is rounded up to a whole nano-unit
/// and its magnitude capped at 2^63 − 1 units, as Kubernetes documents.
///
/// Two corners differ from apimachinery's Go scanner, which is looser than the notation it
/// documents: a number must have a digit (Go reads `Gi`, `.` and `-` as zero), and an exponent
/// beyond the range of `i32` is capped or rounded like any other value (Go wraps it around).
pub fn parse(input: &str) -> Result<Quantity, QuantityError> {
    let not_a_quantity =
        |problem: String| QuantityError::NotAQuantity { input: input.to_owned(), problem };

    if input.is_empty() {
        return Err(not_a_quantity("it is empty".to_owned()));
    }
    if input.chars().any(char::is_whitespace) {
        return Err(not_a_quantity("Kubernetes allows no whitespace in a quantity".to_owned()));
    }

    let (negative, unsigned) = match input.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, input.strip_prefix('+').unwrap_or(input)),
    };
    let integer_digits = leading_digits(unsigned);
    let after_integer = &unsigned[integer_digits.len()..];
    let (fraction_digits, suffix) = match after_integer.strip_prefix('.') {
        Some(rest) => {
            let fraction_digits = leading_digits(rest);
            (fraction_digits, &rest[fraction_digits.len()..])
        }
        None => ("", after_integer),
    };
    if integer_digits.is_empty() && fraction_digits.is_empty() {
        return Err(not_a_quantity("it has no digits".to_owned()));
    }

    let number = &input[..input.len() - suffix.len()];
    let scale =
        Scale::of_suffix(suffix).ok_or_else(|| not_a_quantity(suffix_problem(number, suffix)))?;
    let magnitude = magnitude_nanos(integer_digits, fraction_digits, scale);
    Ok(Quantity { nanos: if negative { -magnitude } else { magnitude } })
}

/// The ASCII digits at the start of `text`.
fn leading_digits(text: &str) -> &str {
    let end = text.bytes().position(|byte| !byte.is_ascii_digit()).unwrap_or(text.len());
    &text[..end]
}

/// What a suffix multiplies its number by: `10^power_of_ten × 2^power_of_two`.
#[derive(Clone, Copy, Debug)]
struct Scale {
    power_of_ten: i64,
    power_of_two: u32,
}

impl Scale {
    /// The scale of a suffix in Kubernetes' tables, or of a decimal exponent. Like
    /// apimachinery, the tables are looked up first, so `E` is exa and `E3` an exponent.
    fn of_suffix(suffix: &str) -> Option<Scale> {
        let decimal = |power_of_ten| Some(Scale { power_of_ten, power_of_two: 0 });
        let binary = |power_of_two| Some(Scale { power_of_ten: 0, power_of_two });
        match suffix {
            "" => decimal(0),
            "n" => decimal(-9),
            "u" => decimal(-6),
            "m" => decimal(-3),
            "k" => decimal(3),
            "M" => decimal(6),
            "G" => decimal(9),
            "T" => decimal(12),
            "P" => decimal(15),
            "E" => decimal(18),
            "Ki" => binary(10),
            "Mi" => binary(20),
            "Gi" => binary(30),
            "Ti" => binary(40),
            "Pi" => binary(50),
            "Ei" => binary(60),
            // Go's strconv.ParseInt and Rust's i64 parser accept the same text here: an
            // optional sign, then ASCII digits, leading zeros allowed.
            _ => suffix
                .strip_prefix(['e', 'E'])
                .and_then(|exponent| exponent.parse().ok())
                .and_then(decimal),
        }
    }
}

/// Why `suffix`, which follows `number`, is not a Kubernetes suffix.
fn suffix_problem(number: &str, suffix: &str) -> String {
    let exponent_like =
        |rest: &str| rest.bytes().all(|b| b.is_ascii_digit() || b == b'+' || b == b'-');
    if suffix.starts_with('.') {
        return "it has more than one decimal point".to_owned();
    }
    if let Some(rest) = suffix.strip_prefix(['e', 'E'])
        && exponent_like(rest)
    {
        return format!(
            "`{suffix}` must be an `e` followed by a whole number, as in 129e6 or 12e-3"
        );
    }
    if let Some(unit) = suffix.strip_suffix(['B', 'b'])
        && !unit.is_empty()
        && Scale::of_suffix(unit).is_some()
    {
        return format!("Kubernetes units carry no `B`: write {number}{unit}");
    }
    if suffix == "K" {
        return "kilo is a lowercase `k` in Kubernetes, and kibi is `Ki`".to_owned();
    }
    format!(
        "`{suffix}` is not a Kubernetes suffix (n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei, \
         or e followed by an exponent)"
    )
}

/// The magnitude of `integer_digits.fraction_digits × scale` in nano-units, rounded up to a whole
/// nano-unit and capped at 2^63 − 1 units.
///
/// The digits may be arbitrarily many and the exponent arbitrarily large, so the value is built
/// from its decimal digits rather than by multiplying: the digits left of the decimal point (in
/// nano-units) form the whole part, which the cap keeps below 10^29; the digits right of it are
/// kept as a digit string. A binary suffix doubles both, carrying from the fraction into the
/// whole part. Any nonzero fraction left at the end rounds the whole part up.
fn magnitude_nanos(integer_digits: &str, fraction_digits: &str, scale: Scale) -> i128 {
    let digits: Vec<u8> =
        integer_digits.bytes().chain(fraction_digits.bytes()).map(|byte| byte - b'0').collect();
    let (Some(first), Some(last)) =
        (digits.iter().position(|&d| d != 0), digits.iter().rposition(|&d| d != 0))
    else {
        return 0;
    };
    let significant = &digits[first..=last];

    // Where the decimal point falls, counted in digits from the start of `significant`, once
    // the value is expressed in nano-units.
    let point = integer_digits.len() as i128 - first as i128 + i128::from(scale.power_of_ten) + 9;

    // The first significant digit is nonzero, so the value is at least 10^(point − 1): from
    // point 29 on, that is past the cap of about 9.2 × 10^27 nano-units.
    if point >= 29 {
        return MAX_NANOS;
    }
    // Below 10^-19 of a nano-unit, even the largest binary factor (2^60, about 1.2 × 10^18)
    // leaves less than one nano-unit, which rounds up to one.
    if point < -19 {
        return 1;
    }

    let (mut whole, mut fraction) = if point <= 0 {
        let mut fraction = vec![0; point.unsigned_abs() as usize];
        fraction.extend_from_slice(significant);
        (0, fraction)
    } else {
        let point = point as usize;
        let whole_digits = &significant[..point.min(significant.len())];
        let mut whole = whole_digits.iter().fold(0_i128, |acc, &d| acc * 10 + i128::from(d));
        for _ in significant.len()..point {
            whole *= 10;
        }
        (whole, significant[whole_digits.len()..].to_vec())
    };

    for _ in 0..scale.power_of_two {
        let carry = double_digits(&mut fraction);
        whole = whole * 2 + i128::from(carry);
        if whole >= MAX_NANOS {
            return MAX_NANOS;
        }
    }

    let rounds_up = fraction.iter().any(|&d| d != 0);
    (whole + i128::from(rounds_up)).min(MAX_NANOS)
}

/// Doubles a decimal fraction given by its digits, in place, and returns the carry out of it.
fn double_digits(digits: &mut [u8]) -> u8 {
    let mut carry = 0;
    for digit in digits.iter_mut().rev() {
        let doubled = *digit * 2 + carry;
        *digit = doubled % 10;
        carry = doubled / 10;
    }
    carry
}

/// A CPU amount in millicores, read as Kubernetes reads a CPU request: rounded up to a whole
/// millicore (`0.1m` is 1m, `1.5` is 1500m).
pub fn parse_cpu_millis(input: &str) -> Result<i64, QuantityError> {
    let quantity = parse_non_negative(input, "a CPU amount")?;
    i64::try_from(ceil_div(quantity.nanos, NANOS_PER_MILLI)).map_err(|_| QuantityError::TooLarge {
        input: input.to_owned(),
        what: "a CPU amount",
        max: i64::MAX,
        unit: "millicores",
    })
}

/// A memory amount in bytes, read as Kubernetes reads a memory request: rounded up to a whole
/// byte. Inputs above 2^63 − 1 bytes are capped to it, as Kubernetes caps them.
pub fn parse_bytes(input: &str) -> Result<i64, QuantityError> {
    let quantity = parse_non_negative(input, "a memory amount")?;
    Ok(quantity.value_ceil())
}

/// A count of pods or of an extended resource (`nvidia.com/gpu`). Kubernetes accepts only whole
/// numbers for these, so a fraction is an error rather than rounded.
pub fn parse_count(input: &str) -> Result<i64, QuantityError> {
    let quantity = parse_non_negative(input, "a count")?;
    if !quantity.is_whole() {
        return Err(QuantityError::NotWhole {
            input: input.to_owned(),
            what: "pods and extended resources such as GPUs",
        });
    }
    Ok(quantity.value_ceil())
}

fn parse_non_negative(input: &str, what: &'static str) -> Result<Quantity, QuantityError> {
    let quantity = parse(input)?;
    if quantity.is_negative() {
        return Err(QuantityError::Negative { input: input.to_owned(), what });
    }
    Ok(quantity)
}

/// A CPU amount in Kubernetes' canonical notation: whole cores when exact (`2`), else
/// millicores (`500m`, `1500m`).
pub fn format_cpu(millis: i64) -> String {
    if millis % 1000 == 0 { format!("{}", millis / 1000) } else { format!("{millis}m") }
}

/// A memory amount with the largest binary suffix that keeps it exact (`4Gi`, `384Mi`,
/// `1536Mi`), else in plain bytes, as Kubernetes writes memory it parsed from binary notation.
pub fn format_bytes(bytes: i64) -> String {
    if bytes == 0 {
        return "0".to_owned();
    }
    for (suffix, power_of_two) in BINARY_SUFFIXES {
        let unit = 1_i64 << power_of_two;
        if bytes % unit == 0 {
            return format!("{}{suffix}", bytes / unit);
        }
    }
    format!("{bytes}")
}

/// The units of Spark's size settings (`org.apache.spark.network.util.ByteUnit`), all binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SparkByteUnit {
    Byte,
    KiB,
    MiB,
    GiB,
    TiB,
    PiB,
}

impl SparkByteUnit {
    /// Bytes in one of this unit.
    pub fn bytes(self) -> i64 {
        let power_of_two = match self {
            SparkByteUnit::Byte => 0,
            SparkByteUnit::KiB => 10,
            SparkByteUnit::MiB => 20,
            SparkByteUnit::GiB => 30,
            SparkByteUnit::TiB => 40,
            SparkByteUnit::PiB => 50,
        };
        1 << power_of_two
    }

    /// The unit of a lower-case suffix in Spark's table (`JavaUtils.byteSuffixes`).
    fn of_suffix(suffix: &str) -> Option<SparkByteUnit> {
        match suffix {
            "b" => Some(SparkByteUnit::Byte),
            "k" | "kb" => Some(SparkByteUnit::KiB),
            "m" | "mb" => Some(SparkByteUnit::MiB),
            "g" | "gb" => Some(SparkByteUnit::GiB),
            "t" | "tb" => Some(SparkByteUnit::TiB),
            "p" | "pb" => Some(SparkByteUnit::PiB),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            SparkByteUnit::Byte => "bytes",
            SparkByteUnit::KiB => "KiB",
            SparkByteUnit::MiB => "MiB",
            SparkByteUnit::GiB => "GiB",
            SparkByteUnit::TiB => "TiB",
            SparkByteUnit::PiB => "PiB",
        }
    }
}

/// Reads a Spark size setting in `unit`, as Spark's `JavaUtils.byteStringAs(input, unit)` does.
///
/// Spark lower-cases the text and trims it like Java's `String.trim` (every character up to
/// U+0020), then takes ASCII digits and an optional suffix from `b k kb m mb g gb t tb p pb`,
/// all binary. A bare number is in `unit` itself, which depends on the setting: MiB for
/// `spark.{driver,executor}.memory`, `memoryOverhead` and `spark.executor.pyspark.memory`,
/// bytes for `spark.memory.offHeap.size`. Converting to a larger unit truncates (`1500k` is
/// 1 MiB). Spark rejects fractions (`1.5g`) and so does this; it would read `-1g` as −1024 MiB,
/// which no pod can request, so a leading `-` is an error here.
pub fn parse_spark_size(input: &str, unit: SparkByteUnit) -> Result<i64, QuantityError> {
    let not_a_size =
        |problem: String| QuantityError::NotASparkSize { input: input.to_owned(), problem };
    let too_large = || QuantityError::TooLarge {
        input: input.to_owned(),
        what: "a Spark size",
        max: i64::MAX,
        unit: unit.name(),
    };

    let lower = input.to_lowercase();
    let text = lower.trim_matches(|c: char| c <= ' ');
    if text.starts_with('-') {
        return Err(QuantityError::Negative { input: input.to_owned(), what: "a memory size" });
    }
    let number = leading_digits(text);
    let suffix = &text[number.len()..];
    if number.is_empty() {
        let problem =
            if text.is_empty() { "it is empty" } else { "it does not start with a digit" };
        return Err(not_a_size(problem.to_owned()));
    }
    if let Some(after_point) = suffix.strip_prefix('.') {
        let fraction = leading_digits(after_point);
        if !fraction.is_empty() && is_ascii_lowercase(&after_point[fraction.len()..]) {
            return Err(not_a_size(
                "Spark does not accept fractional sizes; use a smaller unit, as in 1536m for 1.5g"
                    .to_owned(),
            ));
        }
    }
    if !is_ascii_lowercase(suffix) {
        return Err(not_a_size(format!("`{suffix}` after the number is not a Spark unit")));
    }

    let suffix_unit = if suffix.is_empty() {
        unit
    } else {
        SparkByteUnit::of_suffix(suffix)
            .ok_or_else(|| not_a_size(spark_suffix_problem(number, suffix)))?
    };
    // Long.parseLong: any ASCII digits whose value fits in a signed 64-bit integer.
    let value: i64 = number.parse().map_err(|_| too_large())?;

    // ByteUnit.convertTo: multiply towards a smaller unit, failing past Long.MAX_VALUE; divide
    // towards a larger one, truncating.
    if suffix_unit >= unit {
        value.checked_mul(suffix_unit.bytes() / unit.bytes()).ok_or_else(too_large)
    } else {
        Ok(value / (unit.bytes() / suffix_unit.bytes()))
    }
}

fn is_ascii_lowercase(text: &str) -> bool {
    text.bytes().all(|byte| byte.is_ascii_lowercase())
}

/// Why a lower-case `suffix` after `number` is not a Spark unit, with the Spark spelling when the
/// user wrote Kubernetes' or the IEC's (`4Gi`, `4GiB`).
fn spark_suffix_problem(number: &str, suffix: &str) -> String {
    let letter = suffix.get(..1).unwrap_or("");
    let iec_style = suffix.len() >= 2
        && matches!(letter, "k" | "m" | "g" | "t" | "p")
        && matches!(&suffix[1..], "i" | "ib");
    if iec_style {
        return format!("this is Kubernetes notation; Spark notation is `{number}{letter}`");
    }
    format!("`{suffix}` is not a Spark unit")
}

/// A Spark memory setting in MiB: `spark.{driver,executor}.memory`, `memoryOverhead`,
/// `minMemoryOverhead`, `spark.executor.pyspark.memory`. A bare number is MiB.
pub fn parse_spark_memory_mib(input: &str) -> Result<i64, QuantityError> {
    parse_spark_size(input, SparkByteUnit::MiB)
}

/// `spark.memory.offHeap.size` in MiB, as Spark sizes the executor's pod from it: the setting is
/// read in bytes (a bare number is bytes), then truncated to whole MiB
/// (`Utils.executorOffHeapMemorySizeAsMb`).
pub fn parse_spark_offheap_mib(input: &str) -> Result<i64, QuantityError> {
    Ok(parse_spark_size(input, SparkByteUnit::Byte)? / SparkByteUnit::MiB.bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KI: i64 = 1 << 10;
    const MI: i64 = 1 << 20;
    const GI: i64 = 1 << 30;

    fn quantity(input: &str) -> Quantity {
        parse(input).unwrap_or_else(|error| panic!("{input}: {error}"))
    }

    fn nanos(input: &str) -> i128 {
        quantity(input).nanos()
    }

    #[test]
    fn plain_and_decimal_numbers_should_parse_exactly() {
        // Kubernetes' grammar: <digits> | <digits>.<digits> | <digits>. | .<digits>, signed.
        assert_eq!(quantity("2").value_ceil(), 2);
        assert_eq!(quantity("128974848").value_ceil(), 128_974_848);
        assert_eq!(quantity("1.5").milli_value_ceil(), 1500);
        assert_eq!(quantity(".5").milli_value_ceil(), 500);
        assert_eq!(quantity("5.").milli_value_ceil(), 5000);
        assert_eq!(quantity("+1").value_ceil(), 1);
        assert_eq!(quantity("007").value_ceil(), 7);
        assert_eq!(nanos("-1.5"), -1_500_000_000);
        assert!(quantity("-1").is_negative());
        for zero in ["0", "00", "-0", "+0", "0.0", "0Gi", ".0e3"] {
            assert_eq!(quantity(zero), Quantity::ZERO, "{zero}");
        }
    }

    #[test]
    fn decimal_si_suffixes_should_scale_by_powers_of_ten() {
        // n u m k M G T P E are 10^-9, 10^-6, 10^-3, 10^3, ..., 10^18.
        assert_eq!(nanos("100n"), 100);
        assert_eq!(nanos("5u"), 5_000);
        assert_eq!(quantity("100m").milli_value_ceil(), 100);
        assert_eq!(quantity("1k").value_ceil(), 1_000);
        assert_eq!(quantity("1M").value_ceil(), 1_000_000);
        assert_eq!(quantity("4G").value_ceil(), 4_000_000_000);
        assert_eq!(quantity("1T").value_ceil(), 1_000_000_000_000);
        assert_eq!(quantity("1P").value_ceil(), 1_000_000_000_000_000);
        assert_eq!(quantity("1E").value_ceil(), 1_000_000_000_000_000_000);
        assert_eq!(quantity("1.5k").value_ceil(), 1_500);
    }

    #[test]
    fn binary_si_suffixes_should_scale_by_powers_of_1024() {
        // Ki Mi Gi Ti Pi Ei are 2^10 ... 2^60.
        assert_eq!(quantity("1Ki").value_ceil(), 1024);
        assert_eq!(quantity("1Mi").value_ceil(), 1_048_576);
        assert_eq!(quantity("4Gi").value_ceil(), 4_294_967_296);
        assert_eq!(quantity("1Ti").value_ceil(), 1_099_511_627_776);
        assert_eq!(quantity("1Pi").value_ceil(), 1_125_899_906_842_624);
        assert_eq!(quantity("1Ei").value_ceil(), 1_152_921_504_606_846_976);
        // 1.5 × 2^30 = 1610612736 and 0.5 × 2^10 = 512, both exact.
        assert_eq!(quantity("1.5Gi").value_ceil(), 1_610_612_736);
        assert_eq!(quantity("0.5Ki").value_ceil(), 512);
        // 1.1 × 1024 = 1126.4 bytes; Value rounds up to 1127.
        assert_eq!(nanos("1.1Ki"), 1_126_400_000_000);
        assert_eq!(quantity("1.1Ki").value_ceil(), 1127);
    }

    #[test]
    fn decimal_exponents_should_scale_by_their_power_of_ten() {
        // <decimalExponent> ::= "e" <signed integer> | "E" <signed integer>.
        assert_eq!(quantity("129e6").value_ceil(), 129_000_000);
        assert_eq!(quantity("1E3").value_ceil(), 1_000);
        assert_eq!(quantity("1e+3").value_ceil(), 1_000);
        assert_eq!(quantity("1e03").value_ceil(), 1_000);
        // 12e-3 = 0.012, that is 12m.
        assert_eq!(quantity("12e-3").milli_value_ceil(), 12);
        assert_eq!(quantity("12E-3").milli_value_ceil(), 12);
        assert_eq!(quantity("1.5e3").value_ceil(), 1_500);
    }

    #[test]
    fn values_finer_than_a_nano_unit_should_round_up_to_one() {
        // Kubernetes rounds non-zero values up to the smallest representable amount, 1n.
        assert_eq!(nanos("0.1n"), 1);
        assert_eq!(nanos("0.000000000001"), 1);
        assert_eq!(nanos("1e-30"), 1);
        assert_eq!(nanos("-0.1n"), -1);
        // 0.1234567891 units is 123456789.1n, rounded up to 123456790n.
        assert_eq!(nanos("0.1234567891"), 123_456_790);
        // 10^-9 × 2^10 is 1024n exactly; 10^-18 × 2^60 is 1.152921504606846976 units, that is
        // 1152921504.606846976n, rounded up.
        assert_eq!(nanos("0.000000001Ki"), 1024);
        assert_eq!(nanos("0.000000000000000001Ei"), 1_152_921_505);
    }

    #[test]
    fn milli_and_unit_values_should_round_up_as_kubernetes_does() {
        // MilliValue and Value round up: 0.1m is 1m, 100n is 0.0001m so 1m, 0.5 bytes is 1.
        assert_eq!(quantity("0.1m").milli_value_ceil(), 1);
        assert_eq!(quantity("100n").milli_value_ceil(), 1);
        assert_eq!(quantity("1001u").milli_value_ceil(), 2);
        assert_eq!(quantity("0.5").value_ceil(), 1);
        assert_eq!(quantity("2").milli_value_ceil(), 2_000);
    }

    #[test]
    fn quantities_above_the_kubernetes_maximum_should_be_capped() {
        // Kubernetes caps every quantity at 2^63 − 1 units in magnitude.
        assert_eq!(quantity("9E").value_ceil(), 9_000_000_000_000_000_000);
        assert_eq!(quantity("7Ei").value_ceil(), 8_070_450_532_247_928_832);
        for huge in ["10E", "8Ei", "1e30", "1e999999999999", &"9".repeat(60)] {
            assert_eq!(quantity(huge), Quantity::MAX, "{huge}");
        }
        assert_eq!(quantity("-1e30").value_ceil(), -i64::MAX);
        assert_eq!(Quantity::MAX.value_ceil(), i64::MAX);
        // 2^63 − 1 units is more millis than an i64 holds: MilliValue saturates.
        assert_eq!(Quantity::MAX.milli_value_ceil(), i64::MAX);
    }

    #[test]
    fn malformed_quantities_should_be_rejected_with_the_input_and_the_expectation() {
        // Each is outside Kubernetes' grammar: a unit with a B, an exponent without digits,
        // nothing at all, a suffix without a number, two decimal points, whitespace anywhere,
        // hexadecimal, an upper-case K, a lower-case binary suffix, a fractional exponent,
        // two suffixes, a lone sign or point.
        let malformed = [
            "4GiB", "1e", "", "Gi", "1.2.3", " 4Gi", "4 Gi", "4Gi ", "0x10", "4K", "1mi", "4gi",
            "1e1.5", "1ee3", "1Mi3", "1e-", "+", "-", ".", "+.", "1+1", "--1", "1\t", "½",
        ];
        for input in malformed {
            let error = parse(input).expect_err(input);
            let message = error.to_string();
            assert!(matches!(error, QuantityError::NotAQuantity { .. }), "{input}: {message}");
            assert!(message.contains(KUBERNETES_EXPECTED), "{input}: {message}");
            if !input.is_empty() {
                assert!(message.contains(&format!("`{input}`")), "{input}: {message}");
            }
        }
    }

    #[test]
    fn error_messages_should_say_what_is_wrong() {
        let message = |input: &str| parse(input).expect_err(input).to_string();
        assert_eq!(
            message("4GiB"),
            "`4GiB` is not a Kubernetes quantity: Kubernetes units carry no `B`: write 4Gi; \
             expected a number with an optional suffix such as 500m, 2, 4Gi, 4G or 129e6"
        );
        assert!(message("1e").contains("`e` must be an `e` followed by a whole number"));
        assert!(message("").starts_with("an empty string is not a Kubernetes quantity"));
        assert!(message("Gi").contains("it has no digits"));
        assert!(message("1.2.3").contains("more than one decimal point"));
        assert!(message("4 Gi").contains("no whitespace"));
        assert!(message("0x10").contains("`x10` is not a Kubernetes suffix"));
        assert!(message("4K").contains("lowercase `k`"));
    }

    #[test]
    fn cpu_should_be_read_in_millicores_rounded_up() {
        assert_eq!(parse_cpu_millis("500m"), Ok(500));
        assert_eq!(parse_cpu_millis("2"), Ok(2_000));
        assert_eq!(parse_cpu_millis("1.5"), Ok(1_500));
        assert_eq!(parse_cpu_millis("0.1m"), Ok(1));
        assert_eq!(parse_cpu_millis("100n"), Ok(1));
        assert_eq!(parse_cpu_millis("0"), Ok(0));
        assert!(matches!(parse_cpu_millis("-1"), Err(QuantityError::Negative { .. })));
        let negative = parse_cpu_millis("-500m").expect_err("-500m").to_string();
        assert_eq!(negative, "`-500m` must not be negative: a CPU amount cannot be below zero");
        // 10^16 cores is 10^19 millicores, past i64::MAX (about 9.2 × 10^18).
        assert!(matches!(parse_cpu_millis("10P"), Err(QuantityError::TooLarge { .. })));
    }

    #[test]
    fn memory_should_be_read_in_bytes_rounded_up() {
        assert_eq!(parse_bytes("4Gi"), Ok(4 * GI));
        assert_eq!(parse_bytes("4G"), Ok(4_000_000_000));
        assert_eq!(parse_bytes("129e6"), Ok(129_000_000));
        assert_eq!(parse_bytes("128974848"), Ok(128_974_848));
        assert_eq!(parse_bytes("1.5Gi"), Ok(1536 * MI));
        assert_eq!(parse_bytes("0.5"), Ok(1));
        assert_eq!(parse_bytes("1e30"), Ok(i64::MAX));
        assert!(matches!(parse_bytes("-4Gi"), Err(QuantityError::Negative { .. })));
        assert!(matches!(parse_bytes("4GiB"), Err(QuantityError::NotAQuantity { .. })));
    }

    #[test]
    fn counts_should_be_whole_units() {
        assert_eq!(parse_count("110"), Ok(110));
        assert_eq!(parse_count("2"), Ok(2));
        assert_eq!(parse_count("1k"), Ok(1_000));
        assert!(matches!(parse_count("1.5"), Err(QuantityError::NotWhole { .. })));
        assert!(matches!(parse_count("500m"), Err(QuantityError::NotWhole { .. })));
        assert!(matches!(parse_count("-1"), Err(QuantityError::Negative { .. })));
    }

    #[test]
    fn from_str_should_agree_with_parse() {
        assert_eq!("1500m".parse::<Quantity>(), Ok(Quantity::from_millis(1500)));
        assert_eq!("3".parse::<Quantity>(), Ok(Quantity::from_units(3)));
        assert!("4GiB".parse::<Quantity>().is_err());
    }

    #[test]
    fn display_should_show_the_exact_decimal_value() {
        assert_eq!(quantity("1.5").to_string(), "1.5");
        assert_eq!(quantity("100n").to_string(), "0.0000001");
        assert_eq!(quantity("4Ki").to_string(), "4096");
        assert_eq!(quantity("-250m").to_string(), "-0.25");
    }

    #[test]
    fn cpu_should_format_as_cores_when_whole_else_millicores() {
        // Kubernetes' canonical form: 1.5 is written 1500m, 2000m is written 2.
        assert_eq!(format_cpu(500), "500m");
        assert_eq!(format_cpu(2_000), "2");
        assert_eq!(format_cpu(1_500), "1500m");
        assert_eq!(format_cpu(0), "0");
        assert_eq!(format_cpu(-250), "-250m");
    }

    #[test]
    fn bytes_should_format_with_the_largest_exact_binary_suffix() {
        // Kubernetes' canonical form for binary quantities: 1.5Gi is written 1536Mi.
        assert_eq!(format_bytes(4 * GI), "4Gi");
        assert_eq!(format_bytes(384 * MI), "384Mi");
        assert_eq!(format_bytes(1536 * MI), "1536Mi");
        assert_eq!(format_bytes(1408 * MI), "1408Mi");
        assert_eq!(format_bytes(KI), "1Ki");
        assert_eq!(format_bytes(1 << 60), "1Ei");
        assert_eq!(format_bytes(1000), "1000");
        assert_eq!(format_bytes(0), "0");
        assert_eq!(format_bytes(-2 * GI), "-2Gi");
        for canonical in ["4Gi", "384Mi", "1536Mi", "1000"] {
            assert_eq!(parse_bytes(canonical).map(format_bytes).as_deref(), Ok(canonical));
        }
    }

    #[test]
    fn spark_memory_should_read_binary_suffixes_case_insensitively() {
        // JavaUtils.byteSuffixes: k, m, g, t, p (and kb ... pb) are KiB ... PiB.
        assert_eq!(parse_spark_memory_mib("4g"), Ok(4_096));
        assert_eq!(parse_spark_memory_mib("4G"), Ok(4_096));
        assert_eq!(parse_spark_memory_mib("4gb"), Ok(4_096));
        assert_eq!(parse_spark_memory_mib("4GB"), Ok(4_096));
        assert_eq!(parse_spark_memory_mib("512m"), Ok(512));
        assert_eq!(parse_spark_memory_mib("2t"), Ok(2 * 1_048_576));
        assert_eq!(parse_spark_memory_mib("1p"), Ok(1 << 30));
        assert_eq!(parse_spark_memory_mib("1048576k"), Ok(1_024));
        // Spark trims the text before reading it.
        assert_eq!(parse_spark_memory_mib(" 4g\t"), Ok(4_096));
    }

    #[test]
    fn a_bare_spark_number_should_be_read_in_the_unit_of_the_setting() {
        // spark.executor.memory is bytesConf(MiB); spark.memory.offHeap.size is bytesConf(BYTE).
        assert_eq!(parse_spark_memory_mib("512"), Ok(512));
        assert_eq!(parse_spark_size("512", SparkByteUnit::Byte), Ok(512));
        assert_eq!(parse_spark_size("2g", SparkByteUnit::Byte), Ok(2 * GI));
        assert_eq!(parse_spark_offheap_mib("2147483648"), Ok(2_048));
        assert_eq!(parse_spark_offheap_mib("2g"), Ok(2_048));
    }

    #[test]
    fn spark_sizes_in_smaller_units_should_truncate() {
        // ByteUnit.convertTo divides towards a larger unit: 1500 KiB is 1.46 MiB, read as 1.
        assert_eq!(parse_spark_memory_mib("1500k"), Ok(1));
        assert_eq!(parse_spark_memory_mib("100b"), Ok(0));
        assert_eq!(parse_spark_offheap_mib("1048575"), Ok(0));
    }

    #[test]
    fn kubernetes_notation_in_spark_should_point_to_the_spark_spelling() {
        let message = parse_spark_memory_mib("4Gi").expect_err("4Gi").to_string();
        assert_eq!(
            message,
            "`4Gi` is not a Spark size: this is Kubernetes notation; Spark notation is `4g`; \
             expected a whole number with an optional suffix b, k, m, g, t or p \
             (or kb, mb, gb, tb, pb), such as 512m or 4g"
        );
        assert!(parse_spark_memory_mib("512MiB").is_err_and(|e| e.to_string().contains("`512m`")));
    }

    #[test]
    fn malformed_spark_sizes_should_be_rejected() {
        // Spark's pattern is ([0-9]+)([a-z]+)? after lower-casing and trimming, with a suffix
        // from its table; fractions are refused outright.
        for input in ["", "  ", "g", "4x", "4 g", "4e", "0x10", "4.g", "+4g", "4g4", "1e3"] {
            let error = parse_spark_memory_mib(input).expect_err(input);
            assert!(matches!(error, QuantityError::NotASparkSize { .. }), "{input}: {error}");
            assert!(error.to_string().contains(SPARK_EXPECTED), "{input}: {error}");
        }
        let fractional = parse_spark_memory_mib("1.5g").expect_err("1.5g").to_string();
        assert!(fractional.contains("does not accept fractional sizes"), "{fractional}");
        assert!(matches!(parse_spark_memory_mib("-1g"), Err(QuantityError::Negative { .. })));
    }

    #[test]
    fn spark_sizes_past_a_long_should_be_too_large() {
        // Long.parseLong fails past 2^63 − 1, and so does the conversion 9007199254740992p
        // = 2^53 PiB = 2^83 MiB.
        for input in ["99999999999999999999", "9007199254740992p"] {
            let error = parse_spark_memory_mib(input).expect_err(input);
            assert!(matches!(error, QuantityError::TooLarge { .. }), "{input}: {error}");
        }
    }
}
