//! Errors in scenario files, always pointing at the file, line, column and field at fault.
//!
//! Two kinds of problem reach the user. Some are found by serde while the text is read (a
//! wrong type, an unknown field, a quantity in the wrong notation); serde-saphyr knows where
//! they are but not which field they belong to, so [`from_yaml_error`] recovers the field's
//! key from the text around the location. The others are found afterwards, when names are
//! checked against each other; those carry their location and field from the start.

use std::fmt;

use serde_saphyr::Location;

/// A problem in a scenario: where it is, which field, what is wrong and what was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", Rendered(self))]
pub struct ScenarioError {
    /// The file name as given to [`crate::scenario::Scenario::from_yaml`].
    pub file: String,
    /// 1-based line, or 0 when the error concerns the whole file (it could not be read).
    pub line: u64,
    /// 1-based column, counted in characters; 0 with `line`.
    pub column: u64,
    /// The key of the field at fault, as written in the file, when there is one.
    pub field: Option<String>,
    /// What is wrong, then what was expected instead.
    pub message: String,
}

impl ScenarioError {
    /// An error at a location serde-saphyr reported.
    pub(crate) fn at(
        file: &str,
        location: &Location,
        field: Option<&str>,
        message: impl Into<String>,
    ) -> ScenarioError {
        ScenarioError {
            file: file.to_owned(),
            line: location.line(),
            column: location.column(),
            field: field.map(str::to_owned),
            message: message.into(),
        }
    }

    /// An error about the whole file, such as one that could not be read.
    pub(crate) fn whole_file(file: &str, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            file: file.to_owned(),
            line: 0,
            column: 0,
            field: None,
            message: message.into(),
        }
    }
}

/// `file:line:column: field `name`: message`, leaving out the parts that are unknown.
struct Rendered<'a>(&'a ScenarioError);

impl fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let error = self.0;
        if error.line == 0 {
            write!(f, "{}: ", error.file)?;
        } else {
            write!(f, "{}:{}:{}: ", error.file, error.line, error.column)?;
        }
        if let Some(field) = &error.field {
            write!(f, "field `{field}`: ")?;
        }
        f.write_str(&error.message)
    }
}

/// Turns an error serde-saphyr raised while reading `text` into a [`ScenarioError`].
pub(crate) fn from_yaml_error(
    error: &serde_saphyr::Error,
    text: &str,
    file: &str,
) -> ScenarioError {
    use serde_saphyr::Error as E;

    let error = innermost(error);
    let Some(location) = error.location() else {
        return ScenarioError::whole_file(file, format!("{}: expected UTF-8 YAML text", error));
    };
    let line = location.line();
    let column = location.column();
    let found = || found_at(text, &location);
    let key = || owning_key(text, line, column);

    let (field, message): (Option<String>, String) = match error {
        E::Eof { .. } if is_blank(text) => (
            None,
            "the scenario is empty: expected a mapping with at least a `cluster` section \
             (see the README, section Scenario format)"
                .to_owned(),
        ),
        E::Eof { .. } => (None, "the text ends too early: expected the rest of a value".to_owned()),
        E::SerdeUnknownField { field, expected, .. } => {
            (Some(field.clone()), format!("unknown field: expected {}", one_of(expected)))
        }
        E::SerdeMissingField { field, .. } => (
            Some((*field).to_owned()),
            "missing: expected this field in the mapping that starts here".to_owned(),
        ),
        E::SerdeUnknownVariant { variant, expected, .. } => {
            (key(), format!("unknown value `{variant}`: expected {}", one_of(expected)))
        }
        E::DuplicateMappingKey { key: Some(name), .. } => (
            Some(name.clone()),
            "appears twice in the same mapping: expected each key once".to_owned(),
        ),
        E::InvalidScalar { ty, .. } => {
            (key(), format!("{} is not valid here: expected {}", found(), scalar_words(ty)))
        }
        E::SerdeInvalidType { unexpected, expected, .. }
        | E::SerdeInvalidValue { unexpected, expected, .. } => {
            (key(), format!("found {unexpected}: expected {expected}"))
        }
        E::SerdeInvalidLength { len, expected, .. } => {
            (key(), format!("found {len} entries: expected {expected}"))
        }
        E::Unexpected { expected, .. } => {
            let found = found();
            match key() {
                Some(field) => {
                    (Some(field), format!("found {found}: expected {}", node_words(expected)))
                }
                None => (
                    None,
                    format!(
                        "found {found}: expected the scenario to be a mapping of sections \
                         (`name:`, `cluster:`, `workload:`, ...)"
                    ),
                ),
            }
        }
        E::Message { msg, .. } => (key(), msg.clone()),
        other => (key(), without_location(&other.to_string())),
    };
    ScenarioError { file: file.to_owned(), line, column, field, message }
}

/// The error itself, without the snippet and alias wrappers serde-saphyr adds around it.
fn innermost(error: &serde_saphyr::Error) -> &serde_saphyr::Error {
    match error.without_snippet() {
        serde_saphyr::Error::AliasError { error, .. } => innermost(error),
        other => other,
    }
}

/// True when the text holds nothing but blank lines and comments.
fn is_blank(text: &str) -> bool {
    text.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#') || line == "---" || line == "..."
    })
}

/// serde-saphyr's fallback messages end in " at line N, column M"; ours say that up front.
fn without_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

fn one_of(names: &[&str]) -> String {
    match names {
        [] => "no field at all here".to_owned(),
        [only] => format!("`{only}`"),
        _ => {
            let quoted: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
            format!("one of {}", quoted.join(", "))
        }
    }
}

/// What a Rust scalar type means to someone writing YAML.
fn scalar_words(ty: &str) -> String {
    match ty {
        "u8" => format!("a whole number from 0 to {}", u8::MAX),
        "u16" => format!("a whole number from 0 to {}", u16::MAX),
        "u32" => format!("a whole number from 0 to {}", u32::MAX),
        "u64" | "usize" => format!("a whole number from 0 to {}", u64::MAX),
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".to_owned(),
        "f32" | "f64" | "floating point" => "a number such as 0.25".to_owned(),
        "bool" => "true or false".to_owned(),
        other => format!("a value of type {other}"),
    }
}

/// What serde-saphyr's structural expectations mean to someone writing YAML.
fn node_words(expected: &str) -> String {
    if expected.contains("mapping") {
        "a mapping of `key: value` pairs".to_owned()
    } else if expected.contains("sequence") {
        "a list (`- item` lines or `[a, b]`)".to_owned()
    } else if expected.contains("scalar") {
        "a single value, not a mapping or a list".to_owned()
    } else {
        expected.to_owned()
    }
}

/// Describes the node at `location`: `a mapping`, `a list` or the scalar's text in backticks.
fn found_at(text: &str, location: &Location) -> String {
    let Some(line) = line_text(text, location.line()) else {
        return "nothing".to_owned();
    };
    let start = usize::try_from(location.column().saturating_sub(1)).unwrap_or(usize::MAX);
    let rest: String = line.chars().skip(start).collect();
    let len = usize::try_from(location.span().len()).unwrap_or(0);
    let rest = rest.trim_end();
    if rest.starts_with('{') {
        return "a mapping".to_owned();
    }
    if rest.starts_with('[') || rest.starts_with("- ") || rest == "-" {
        return "a list".to_owned();
    }
    let scalar: String = if len > 0 { rest.chars().take(len).collect() } else { rest.to_owned() };
    if scalar.is_empty() {
        "nothing".to_owned()
    } else if is_block_key(&scalar) {
        "a mapping".to_owned()
    } else {
        format!("`{scalar}`")
    }
}

/// True for text that starts a block mapping entry, such as `cpu: 4`.
fn is_block_key(text: &str) -> bool {
    text.find(": ").is_some_and(|at| !text[..at].contains(['{', '[', '"', '\'']))
        || text.ends_with(':')
}

fn line_text(text: &str, line: u64) -> Option<&str> {
    let index = usize::try_from(line.checked_sub(1)?).ok()?;
    text.lines().nth(index)
}

/// The key whose value holds the position `line:column` (1-based), read off the text.
///
/// serde-saphyr points at the offending value but does not say which field it was reading.
/// Within the line, a backward scan that skips closed flow collections finds the nearest
/// `key:` before the value (`{name: g, count: abc}` gives `count`). When the value starts its
/// line, the key is on the closest earlier line indented less: the parent of a block entry.
pub(crate) fn owning_key(text: &str, line: u64, column: u64) -> Option<String> {
    let index = usize::try_from(line.checked_sub(1)?).ok()?;
    let lines: Vec<&str> = text.lines().collect();
    let current = lines.get(index)?;
    let before: Vec<char> =
        current.chars().take(usize::try_from(column.saturating_sub(1)).ok()?).collect();

    // 1. The same line: `key: value`, possibly inside flow collections.
    let mut depth = 0_i32;
    let mut inside_flow = false;
    if let Some(key) = scan_for_key(&before, &mut depth, &mut inside_flow) {
        return Some(key);
    }

    // 2. A flow collection that opened on an earlier line: keep scanning backwards.
    if inside_flow {
        for earlier in lines[..index].iter().rev() {
            let chars: Vec<char> = earlier.chars().collect();
            if let Some(key) = scan_for_key(&chars, &mut depth, &mut inside_flow) {
                return Some(key);
            }
        }
        return None;
    }

    // 3. A block value on its own line: the parent is the nearest line indented less.
    let indent = indentation(current);
    let starts_item = current.trim_start().starts_with('-');
    lines[..index].iter().rev().find_map(|earlier| {
        let trimmed = earlier.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            return None;
        }
        let earlier_indent = indentation(earlier);
        let is_parent = earlier_indent < indent
            || (starts_item && earlier_indent == indent && !trimmed.starts_with('-'));
        if !is_parent {
            return None;
        }
        Some(block_key(trimmed))
    })?
}

/// Scans `chars` backwards for `key:` at the current flow depth, tracking collections.
fn scan_for_key(chars: &[char], depth: &mut i32, inside_flow: &mut bool) -> Option<String> {
    for at in (0..chars.len()).rev() {
        match chars[at] {
            '}' | ']' => *depth += 1,
            '{' | '[' => {
                if *depth > 0 {
                    *depth -= 1;
                } else {
                    // Left the collection holding the value: its own key comes next.
                    *inside_flow = true;
                }
            }
            ':' if *depth == 0 => {
                let followed_by_space = chars.get(at + 1).is_none_or(|c| c.is_whitespace());
                if followed_by_space && let Some(key) = key_ending_at(&chars[..at]) {
                    return Some(key);
                }
            }
            _ => {}
        }
    }
    None
}

/// The key that ends just before a `:`, without quotes.
fn key_ending_at(chars: &[char]) -> Option<String> {
    let end = chars.iter().rposition(|c| !c.is_whitespace())? + 1;
    let start = chars[..end]
        .iter()
        .rposition(|c| c.is_whitespace() || matches!(c, '{' | '[' | ','))
        .map_or(0, |at| at + 1);
    let key: String = chars[start..end].iter().collect();
    let key = key.trim_matches(|c| c == '"' || c == '\'');
    (!key.is_empty()).then(|| key.to_owned())
}

/// The key of a block line such as `  - spark:` or `name: x`, without the list marker.
fn block_key(trimmed: &str) -> Option<String> {
    let mut rest = trimmed;
    while let Some(after) = rest.strip_prefix('-') {
        rest = after.trim_start();
    }
    let end = rest.find(": ").or_else(|| rest.strip_suffix(':').map(str::len))?;
    let key = rest[..end].trim().trim_matches(|c| c == '"' || c == '\'');
    (!key.is_empty()).then(|| key.to_owned())
}

fn indentation(line: &str) -> usize {
    line.chars().take_while(|c| *c == ' ').count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_found_in_flow_mappings() {
        let text = "pools:\n  - {name: g, count: abc}\n";
        assert_eq!(owning_key(text, 2, 22).as_deref(), Some("count"));
    }

    #[test]
    fn key_is_found_for_a_value_inside_a_flow_list() {
        let text = "taints: [a, {key: x}, bad]\n";
        assert_eq!(owning_key(text, 1, 23).as_deref(), Some("taints"));
    }

    #[test]
    fn key_of_a_block_list_item_is_its_parent() {
        let text = "pools:\n  - name: g\n    count: 1\n  - oops\n";
        assert_eq!(owning_key(text, 4, 5).as_deref(), Some("pools"));
        let flush = "pools:\n- oops\n";
        assert_eq!(owning_key(flush, 2, 3).as_deref(), Some("pools"));
    }

    #[test]
    fn key_of_a_nested_block_mapping_is_its_parent() {
        let text = "spark:\n  driver:\n    # note\n    memory: 4g\n  executor:\n    x: 1\n";
        assert_eq!(owning_key(text, 6, 5).as_deref(), Some("executor"));
        assert_eq!(owning_key(text, 4, 13).as_deref(), Some("memory"));
    }

    #[test]
    fn key_of_a_multi_line_flow_mapping_is_found_on_an_earlier_line() {
        let text = "sizes: [\n  {name: a},\n  oops\n]\n";
        assert_eq!(owning_key(text, 3, 3).as_deref(), Some("sizes"));
    }

    #[test]
    fn blank_text_is_recognised() {
        assert!(is_blank(""));
        assert!(is_blank("# nothing here\n\n---\n"));
        assert!(!is_blank("name: x"));
    }
}
