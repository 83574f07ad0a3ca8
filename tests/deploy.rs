//! Tier: pure (files and one child process). The deployment ships what the code does: the Helm
//! chart renders to valid Kubernetes objects for its default values and with `enabled: false`,
//! its values satisfy its schema, its custom resource definition is the one `sparkq crd`
//! prints, and every PromQL expression of the dashboard and the alert rules names only metrics
//! the exporter exports. `promtool` checks the rules and the exporter's output when it is
//! installed (CI installs it and sets `CI`, which makes its absence a failure).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{Value, json};
use sparkq_adapter_k8s::metrics::{METRIC_NAMES, Metrics, labels};

mod helm {
    //! Renders the chart's templates with the part of Helm's template language the chart uses.
    //!
    //! No `helm` binary can be installed where these tests run, and no maintained Rust crate
    //! implements Helm's templates (Go's text/template plus Sprig and Helm's own functions): `gtmpl`
    //! has Go's syntax but none of Helm's functions and had its last release in 2021. So this module
    //! implements the subset the chart keeps to, and nothing more:
    //!
    //! - actions: `if` / `else` / `end`, `range` over a list, `define` and `include`, comments, and
    //!   the `{{-` / `-}}` whitespace trimming;
    //! - values: `.` and `$`, field chains (`.Values.a.b`, `$.Release.Name`), string and integer
    //!   literals, parentheses, pipelines;
    //! - functions: `and`, `or`, `not`, `eq`, `default`, `quote`, `toYaml`, `toJson`, `indent`,
    //!   `nindent`, `b64enc`, `required`, `randAlphaNum` (deterministic here), and the methods
    //!   `.Capabilities.APIVersions.Has` and `.Files.Get`.
    //!
    //! Anything else is an error, so a template that strays outside the subset fails the tests
    //! instead of rendering wrongly.

    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};

    use serde_json::{Value, json};

    /// What a render sees besides the values.
    #[derive(Debug, Clone)]
    pub struct Release {
        pub name: String,
        pub namespace: String,
        /// The API versions `.Capabilities.APIVersions.Has` knows.
        pub api_versions: BTreeSet<String>,
    }

    /// A chart read from disk.
    #[derive(Debug)]
    pub struct Chart {
        pub dir: PathBuf,
        pub chart: Value,
        pub values: Value,
        /// Template file name → its text, in name order.
        pub templates: BTreeMap<String, String>,
    }

    impl Chart {
        pub fn load(dir: &Path) -> Chart {
            let read = |name: &str| {
                std::fs::read_to_string(dir.join(name))
                    .unwrap_or_else(|e| panic!("reading {}/{name}: {e}", dir.display()))
            };
            let chart: Value =
                serde_saphyr::from_str(&read("Chart.yaml")).expect("Chart.yaml parses");
            let values: Value =
                serde_saphyr::from_str(&read("values.yaml")).expect("values.yaml parses");
            let mut templates = BTreeMap::new();
            for entry in std::fs::read_dir(dir.join("templates")).expect("templates/ exists") {
                let path = entry.expect("a directory entry").path();
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
                templates.insert(name.clone(), read(&format!("templates/{name}")));
            }
            Chart { dir: dir.to_owned(), chart, values, templates }
        }

        /// Renders every template with the default values merged with `overrides`; returns each
        /// template's output, by file name (helpers, whose names start with `_`, render nothing).
        pub fn render(
            &self,
            overrides: &Value,
            release: &Release,
        ) -> Result<BTreeMap<String, String>, String> {
            let mut values = self.values.clone();
            merge(&mut values, overrides);
            let root = json!({
                "Values": values,
                "Release": {"Name": release.name, "Namespace": release.namespace, "Service": "Helm"},
                "Chart": {
                    "Name": self.chart["name"],
                    "Version": self.chart["version"],
                    "AppVersion": self.chart["appVersion"],
                },
            });
            let mut defines = BTreeMap::new();
            let mut parsed = BTreeMap::new();
            for (name, text) in &self.templates {
                let nodes = parse(text).map_err(|e| format!("{name}: {e}"))?;
                let mut body = Vec::new();
                for node in nodes {
                    match node {
                        Node::Define(define, inner) => {
                            defines.insert(define, inner);
                        }
                        other => body.push(other),
                    }
                }
                parsed.insert(name.clone(), body);
            }
            let renderer = Renderer { defines: &defines, root: &root, release, dir: &self.dir };
            let mut out = BTreeMap::new();
            for (name, nodes) in &parsed {
                if name.starts_with('_') {
                    continue;
                }
                let text = renderer.nodes(nodes, &root).map_err(|e| format!("{name}: {e}"))?;
                out.insert(name.clone(), text);
            }
            Ok(out)
        }
    }

    /// Helm's `--set`/`-f` merge: maps merge key by key, anything else replaces.
    pub fn merge(target: &mut Value, overrides: &Value) {
        match (target, overrides) {
            (Value::Object(target), Value::Object(overrides)) => {
                for (key, value) in overrides {
                    merge(target.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
            (target, value) => *target = value.clone(),
        }
    }

    /// Every `.Values.a.b` path a template refers to.
    pub fn value_references(text: &str) -> BTreeSet<Vec<String>> {
        let mut found = BTreeSet::new();
        let mut rest = text;
        while let Some(at) = rest.find(".Values.") {
            rest = &rest[at + ".Values.".len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                .unwrap_or(rest.len());
            let path: Vec<String> =
                rest[..end].split('.').filter(|s| !s.is_empty()).map(str::to_owned).collect();
            found.insert(path);
        }
        found
    }

    // -- Parsing ------------------------------------------------------------------------------------

    #[derive(Debug, Clone)]
    enum Node {
        Text(String),
        Output(Pipeline),
        If(Pipeline, Vec<Node>, Vec<Node>),
        Range(Pipeline, Vec<Node>),
        Define(String, Vec<Node>),
    }

    type Pipeline = Vec<Command>;
    type Command = Vec<Term>;

    #[derive(Debug, Clone)]
    enum Term {
        /// `.a.b` (from dot) or `$.a.b` (from the root); empty path is `.` or `$`.
        Field {
            root: bool,
            path: Vec<String>,
        },
        Str(String),
        Int(i64),
        Ident(String),
        Group(Pipeline),
    }

    /// Splits text and actions, applying the trim markers; comments vanish.
    fn lex(text: &str) -> Result<Vec<(bool, String)>, String> {
        let mut pieces: Vec<(bool, String)> = Vec::new();
        let mut rest = text;
        let mut trim_next = false;
        while let Some(open) = rest.find("{{") {
            let mut before = rest[..open].to_owned();
            if trim_next {
                before = before.trim_start().to_owned();
            }
            let after_open = &rest[open + 2..];
            let trim_left = after_open.starts_with('-');
            if trim_left {
                before = before.trim_end().to_owned();
            }
            pieces.push((false, before));
            let close = action_end(after_open).ok_or("an action is not closed")?;
            let mut action = &after_open[..close];
            trim_next = action.ends_with('-');
            if trim_left {
                action = &action[1..];
            }
            if trim_next {
                action = &action[..action.len() - 1];
            }
            let action = action.trim();
            if !(action.starts_with("/*") && action.ends_with("*/")) {
                pieces.push((true, action.to_owned()));
            }
            rest = &after_open[close + 2..];
        }
        let mut last = rest.to_owned();
        if trim_next {
            last = last.trim_start().to_owned();
        }
        pieces.push((false, last));
        Ok(pieces)
    }

    /// Where an action's `}}` is, past any quoted string holding braces.
    fn action_end(text: &str) -> Option<usize> {
        let bytes = text.as_bytes();
        let mut i = 0;
        let mut quote: Option<u8> = None;
        while i + 1 < bytes.len() {
            match (quote, bytes[i]) {
                (Some(_), b'\\') => i += 1,
                (Some(q), c) if c == q => quote = None,
                (None, b'"' | b'`') => quote = Some(bytes[i]),
                (None, b'}') if bytes[i + 1] == b'}' => return Some(i),
                _ => {}
            }
            i += 1;
        }
        None
    }

    fn parse(text: &str) -> Result<Vec<Node>, String> {
        let pieces = lex(text)?;
        let mut position = 0;
        let (nodes, end) = parse_block(&pieces, &mut position)?;
        match end {
            None => Ok(nodes),
            Some(word) => Err(format!("unexpected `{word}`")),
        }
    }

    /// Parses until `end` or `else` (returned) or the end of input.
    fn parse_block(
        pieces: &[(bool, String)],
        position: &mut usize,
    ) -> Result<(Vec<Node>, Option<String>), String> {
        let mut nodes = Vec::new();
        while *position < pieces.len() {
            let (is_action, text) = &pieces[*position];
            *position += 1;
            if !is_action {
                if !text.is_empty() {
                    nodes.push(Node::Text(text.clone()));
                }
                continue;
            }
            let (word, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
            match word {
                "end" | "else" => return Ok((nodes, Some(word.to_owned()))),
                "if" => {
                    let condition = parse_pipeline(rest)?;
                    let (then, end) = parse_block(pieces, position)?;
                    let otherwise = match end.as_deref() {
                        Some("else") => {
                            let (otherwise, end) = parse_block(pieces, position)?;
                            if end.as_deref() != Some("end") {
                                return Err("`if ... else` without `end`".into());
                            }
                            otherwise
                        }
                        Some("end") => Vec::new(),
                        _ => return Err("`if` without `end`".into()),
                    };
                    nodes.push(Node::If(condition, then, otherwise));
                }
                "range" => {
                    let list = parse_pipeline(rest)?;
                    let (body, end) = parse_block(pieces, position)?;
                    if end.as_deref() != Some("end") {
                        return Err("`range` without `end` (or with `else`, not supported)".into());
                    }
                    nodes.push(Node::Range(list, body));
                }
                "define" => {
                    let name = rest.trim().trim_matches('"').to_owned();
                    let (body, end) = parse_block(pieces, position)?;
                    if end.as_deref() != Some("end") {
                        return Err(format!("`define {name}` without `end`"));
                    }
                    nodes.push(Node::Define(name, body));
                }
                "with" | "template" | "block" => {
                    return Err(format!("`{word}` is outside the subset this renderer supports"));
                }
                _ => nodes.push(Node::Output(parse_pipeline(text)?)),
            }
        }
        Ok((nodes, None))
    }

    fn parse_pipeline(text: &str) -> Result<Pipeline, String> {
        let tokens = tokenize(text)?;
        let mut position = 0;
        let pipeline = pipeline_of(&tokens, &mut position)?;
        if position != tokens.len() {
            return Err(format!("unexpected `{}` in `{text}`", tokens[position]));
        }
        Ok(pipeline)
    }

    fn tokenize(text: &str) -> Result<Vec<String>, String> {
        let chars: Vec<char> = text.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c.is_whitespace() {
                i += 1;
            } else if c == '"' {
                let start = i;
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
                tokens.push(chars[start..i.min(chars.len())].iter().collect());
            } else if c == '(' || c == ')' || c == '|' {
                tokens.push(c.to_string());
                i += 1;
            } else {
                let start = i;
                while i < chars.len() && !chars[i].is_whitespace() && !"()|\"".contains(chars[i]) {
                    i += 1;
                }
                tokens.push(chars[start..i].iter().collect());
            }
        }
        if tokens.is_empty() {
            return Err("an empty action".into());
        }
        Ok(tokens)
    }

    fn pipeline_of(tokens: &[String], position: &mut usize) -> Result<Pipeline, String> {
        let mut pipeline = vec![Vec::new()];
        while *position < tokens.len() {
            let token = &tokens[*position];
            match token.as_str() {
                ")" => break,
                "|" => {
                    *position += 1;
                    pipeline.push(Vec::new());
                    continue;
                }
                "(" => {
                    *position += 1;
                    let inner = pipeline_of(tokens, position)?;
                    if tokens.get(*position).map(String::as_str) != Some(")") {
                        return Err("unbalanced parentheses".into());
                    }
                    *position += 1;
                    pipeline.last_mut().ok_or("no command")?.push(Term::Group(inner));
                    continue;
                }
                _ => {}
            }
            let term = if let Some(quoted) = token.strip_prefix('"') {
                Term::Str(quoted.trim_end_matches('"').replace("\\\"", "\"").replace("\\\\", "\\"))
            } else if let Ok(n) = token.parse::<i64>() {
                Term::Int(n)
            } else if token.starts_with('.') || token.starts_with('$') {
                let root = token.starts_with('$');
                let path = token
                    .trim_start_matches('$')
                    .split('.')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                Term::Field { root, path }
            } else if token.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                Term::Ident(token.clone())
            } else {
                return Err(format!("cannot read `{token}`"));
            };
            pipeline.last_mut().ok_or("no command")?.push(term);
            *position += 1;
        }
        if pipeline.iter().any(Vec::is_empty) {
            return Err("an empty command in a pipeline".into());
        }
        Ok(pipeline)
    }

    // -- Rendering ----------------------------------------------------------------------------------

    struct Renderer<'a> {
        defines: &'a BTreeMap<String, Vec<Node>>,
        root: &'a Value,
        release: &'a Release,
        dir: &'a Path,
    }

    fn truthy(value: &Value) -> bool {
        match value {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
        }
    }

    fn text_of(value: &Value) -> String {
        match value {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }

    fn indent(text: &str, spaces: usize) -> String {
        let pad = " ".repeat(spaces);
        text.lines().map(|line| format!("{pad}{line}")).collect::<Vec<_>>().join("\n")
    }

    impl Renderer<'_> {
        fn nodes(&self, nodes: &[Node], dot: &Value) -> Result<String, String> {
            let mut out = String::new();
            for node in nodes {
                match node {
                    Node::Text(text) => out.push_str(text),
                    Node::Output(pipeline) => {
                        out.push_str(&text_of(&self.pipeline(pipeline, dot)?))
                    }
                    Node::If(condition, then, otherwise) => {
                        let branch =
                            if truthy(&self.pipeline(condition, dot)?) { then } else { otherwise };
                        out.push_str(&self.nodes(branch, dot)?);
                    }
                    Node::Range(list, body) => {
                        let list = self.pipeline(list, dot)?;
                        for item in list.as_array().cloned().unwrap_or_default() {
                            out.push_str(&self.nodes(body, &item)?);
                        }
                    }
                    Node::Define(..) => return Err("`define` inside a template body".into()),
                }
            }
            Ok(out)
        }

        fn pipeline(&self, pipeline: &Pipeline, dot: &Value) -> Result<Value, String> {
            let mut piped: Option<Value> = None;
            for command in pipeline {
                piped = Some(self.command(command, dot, piped.take())?);
            }
            piped.ok_or_else(|| "an empty pipeline".into())
        }

        fn command(
            &self,
            command: &Command,
            dot: &Value,
            piped: Option<Value>,
        ) -> Result<Value, String> {
            let (head, args) = command.split_first().ok_or("an empty command")?;
            let mut values = Vec::new();
            for arg in args {
                values.push(self.term(arg, dot)?);
            }
            values.extend(piped);
            match head {
                Term::Ident(name) => self.call(name, values, dot),
                Term::Field { root: false, path }
                    if path == &["Capabilities", "APIVersions", "Has"] =>
                {
                    let version = values.first().map(text_of).unwrap_or_default();
                    Ok(Value::Bool(self.release.api_versions.contains(&version)))
                }
                Term::Field { root: false, path } if path == &["Files", "Get"] => {
                    let name = values.first().map(text_of).unwrap_or_default();
                    std::fs::read_to_string(self.dir.join(&name))
                        .map(Value::String)
                        .map_err(|e| format!(".Files.Get {name}: {e}"))
                }
                term if values.is_empty() => self.term(term, dot),
                _ => Err(format!("cannot call {head:?}")),
            }
        }

        fn term(&self, term: &Term, dot: &Value) -> Result<Value, String> {
            match term {
                Term::Str(s) => Ok(Value::String(s.clone())),
                Term::Int(n) => Ok(json!(n)),
                Term::Group(pipeline) => self.pipeline(pipeline, dot),
                Term::Ident(name) => self.call(name, Vec::new(), dot),
                Term::Field { root, path } => {
                    let mut value = if *root { self.root } else { dot };
                    for key in path {
                        match value.get(key) {
                            Some(inner) => value = inner,
                            None => return Ok(Value::Null),
                        }
                    }
                    Ok(value.clone())
                }
            }
        }

        fn call(&self, name: &str, args: Vec<Value>, dot: &Value) -> Result<Value, String> {
            let arg = |i: usize| args.get(i).cloned().unwrap_or(Value::Null);
            let count =
                |i: usize| arg(i).as_u64().map(|n| n as usize).ok_or(format!("{name}: a count"));
            Ok(match name {
                "not" => Value::Bool(!truthy(&arg(0))),
                "and" => args
                    .iter()
                    .find(|v| !truthy(v))
                    .cloned()
                    .unwrap_or_else(|| arg(args.len().saturating_sub(1))),
                "or" => args
                    .iter()
                    .find(|v| truthy(v))
                    .cloned()
                    .unwrap_or_else(|| arg(args.len().saturating_sub(1))),
                "eq" => Value::Bool(args.len() == 2 && args[0] == args[1]),
                "default" => {
                    if truthy(&arg(1)) {
                        arg(1)
                    } else {
                        arg(0)
                    }
                }
                "quote" => Value::String(format!("{:?}", text_of(&arg(0)))),
                "toJson" => {
                    Value::String(serde_json::to_string(&arg(0)).map_err(|e| e.to_string())?)
                }
                "toYaml" => {
                    let yaml =
                        serde_saphyr::to_string(&arg(0)).map_err(|e| format!("toYaml: {e}"))?;
                    Value::String(yaml.trim_end().to_owned())
                }
                "indent" => Value::String(indent(&text_of(&arg(1)), count(0)?)),
                "nindent" => Value::String(format!("\n{}", indent(&text_of(&arg(1)), count(0)?))),
                "b64enc" => Value::String(base64(text_of(&arg(0)).as_bytes())),
                "randAlphaNum" => Value::String("r".repeat(count(0)?)),
                "required" => {
                    if !truthy(&arg(1)) {
                        return Err(text_of(&arg(0)));
                    }
                    arg(1)
                }
                "include" => {
                    let template = text_of(&arg(0));
                    let body =
                        self.defines.get(&template).ok_or(format!("no template `{template}`"))?;
                    let context = args.get(1).unwrap_or(dot);
                    Value::String(self.nodes(body, context)?)
                }
                _ => return Err(format!("`{name}` is outside the subset this renderer supports")),
            })
        }
    }

    /// Regression: `{{ "}}" }}`, how a chart writes Prometheus' own `{{ ... }}` templates,
    /// once ended the action at the quoted braces.
    #[test]
    fn braces_inside_quoted_strings_do_not_end_an_action() {
        let nodes = parse(r#"a {{ "{{" }} $labels.x {{ "}}" }} b{{- if .on }} on{{ end }}"#)
            .expect("parses");
        let release =
            Release { name: "r".into(), namespace: "n".into(), api_versions: BTreeSet::new() };
        let defines = BTreeMap::new();
        let root = json!({"on": true});
        let renderer =
            Renderer { defines: &defines, root: &root, release: &release, dir: Path::new(".") };
        assert_eq!(renderer.nodes(&nodes, &root).as_deref(), Ok("a {{ $labels.x }} b on"));
    }

    fn base64(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn chart_dir() -> PathBuf {
    root().join("deploy/helm/sparkq")
}

fn release(operator: bool) -> helm::Release {
    let mut api_versions: BTreeSet<String> =
        ["v1", "apps/v1", "rbac.authorization.k8s.io/v1"].map(String::from).into();
    if operator {
        api_versions.insert("monitoring.coreos.com/v1".into());
    }
    helm::Release { name: "sparkq".into(), namespace: "sparkq-system".into(), api_versions }
}

/// Renders the chart and splits the output into objects.
fn render(overrides: Value, operator: bool) -> Vec<Value> {
    let chart = helm::Chart::load(&chart_dir());
    let rendered = chart.render(&overrides, &release(operator)).unwrap_or_else(|e| panic!("{e}"));
    let mut objects = Vec::new();
    for (name, text) in rendered {
        for document in text.split("\n---") {
            let document = document.trim_start_matches("---");
            let meaningful =
                document.lines().any(|l| !l.trim().is_empty() && !l.trim().starts_with('#'));
            if !meaningful {
                continue;
            }
            let object: Value = serde_saphyr::from_str(document).unwrap_or_else(|e| {
                panic!("{name} renders YAML that does not parse: {e}\n{document}")
            });
            objects.push(object);
        }
    }
    objects
}

/// Reads `object` as the Kubernetes type `T` and back: a field `T` does not know (a misspelt
/// key, a field at the wrong level) is lost on the way, and the two differ.
fn check_as<T: serde::de::DeserializeOwned + serde::Serialize>(object: &Value) {
    let typed: T = serde_json::from_value(object.clone()).unwrap_or_else(|e| {
        panic!("{} does not parse as its type: {e}\n{object:#}", kind_name(object))
    });
    let back = serde_json::to_value(&typed).expect("serialises");
    assert_eq!(&back, object, "{}: fields its type does not know", kind_name(object));
}

fn kind_name(object: &Value) -> String {
    format!(
        "{}/{}",
        object["kind"].as_str().unwrap_or("?"),
        object["metadata"]["name"].as_str().unwrap_or("?")
    )
}

fn check_objects(objects: &[Value]) {
    for object in objects {
        match object["kind"].as_str().unwrap_or_default() {
            "ServiceAccount" => check_as::<ServiceAccount>(object),
            "Secret" => check_as::<Secret>(object),
            "ConfigMap" => check_as::<ConfigMap>(object),
            "Deployment" => check_as::<Deployment>(object),
            "Service" => check_as::<Service>(object),
            "ClusterRole" => check_as::<ClusterRole>(object),
            "ClusterRoleBinding" => check_as::<ClusterRoleBinding>(object),
            "Role" => check_as::<Role>(object),
            "RoleBinding" => check_as::<RoleBinding>(object),
            "ServiceMonitor" => {
                assert_eq!(object["apiVersion"], "monitoring.coreos.com/v1");
                assert!(object["spec"]["endpoints"][0]["port"].is_string(), "{object:#}");
            }
            "PrometheusRule" => {
                assert_eq!(object["apiVersion"], "monitoring.coreos.com/v1");
                assert!(object["spec"]["groups"].is_array(), "{object:#}");
            }
            other => panic!("an object of an unexpected kind: {other}"),
        }
    }
}

fn kinds(objects: &[Value]) -> Vec<String> {
    let mut kinds: Vec<String> = objects.iter().map(kind_name).collect();
    kinds.sort();
    kinds
}

#[test]
fn the_default_values_render_every_object_of_the_adapter() {
    let objects = render(json!({}), true);
    check_objects(&objects);
    assert_eq!(
        kinds(&objects),
        [
            "ClusterRole/sparkq-cluster-view",
            "ClusterRole/sparkq-jobs",
            "ClusterRoleBinding/sparkq-cluster-view",
            "ClusterRoleBinding/sparkq-jobs",
            "ConfigMap/sparkq-config",
            "ConfigMap/sparkq-dashboard",
            "Deployment/sparkq",
            "PrometheusRule/sparkq",
            "Role/sparkq-leader-election",
            "RoleBinding/sparkq-leader-election",
            "Secret/sparkq-api-token",
            "Service/sparkq",
            "ServiceAccount/sparkq",
            "ServiceMonitor/sparkq",
        ]
    );

    // The configuration file is one `sparkq serve --config` accepts.
    let config = objects.iter().find(|o| o["metadata"]["name"] == "sparkq-config").expect("config");
    let text = config["data"]["sparkq.yaml"].as_str().expect("sparkq.yaml");
    let file: sparkq_adapter_k8s::serve::ServeFile = serde_saphyr::from_str(text)
        .unwrap_or_else(|e| panic!("the config is refused: {e}\n{text}"));
    assert_eq!(file.leader_election, Some(true));
    assert_eq!(file.enabled, Some(true));

    // The dashboard ConfigMap is labelled for the Grafana sidecar and holds the dashboard.
    let dashboard =
        objects.iter().find(|o| o["metadata"]["name"] == "sparkq-dashboard").expect("dashboard");
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");
    let shipped =
        std::fs::read_to_string(root().join("deploy/grafana/sparkq.json")).expect("dashboard");
    let in_map: Value =
        serde_json::from_str(dashboard["data"]["sparkq.json"].as_str().unwrap_or(""))
            .expect("json");
    assert_eq!(in_map, serde_json::from_str::<Value>(&shipped).expect("json"));

    // Two replicas, run as non-root, with the Secret mounted.
    let deployment = objects.iter().find(|o| o["kind"] == "Deployment").expect("deployment");
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        deployment["spec"]["template"]["spec"]["volumes"][1]["secret"]["secretName"],
        "sparkq-api-token"
    );
}

#[test]
fn without_the_prometheus_operator_the_service_carries_scrape_annotations() {
    let objects = render(json!({}), false);
    check_objects(&objects);
    assert!(
        !objects.iter().any(|o| o["kind"] == "ServiceMonitor" || o["kind"] == "PrometheusRule")
    );
    let service = objects.iter().find(|o| o["kind"] == "Service").expect("service");
    assert_eq!(service["metadata"]["annotations"]["prometheus.io/scrape"], "true");
    assert_eq!(service["metadata"]["annotations"]["prometheus.io/port"], "8080");
    let with_operator = render(json!({}), true);
    let service = with_operator.iter().find(|o| o["kind"] == "Service").expect("service");
    assert!(service["metadata"].get("annotations").is_none());
}

#[test]
fn disabled_the_chart_renders_nothing_and_the_definition_stays() {
    for operator in [false, true] {
        let objects = render(json!({"enabled": false}), operator);
        assert!(objects.is_empty(), "enabled: false still renders {:?}", kinds(&objects));
    }
    // The CRD lives in crds/, which Helm installs first and never deletes, so SparkJobs survive.
    assert!(chart_dir().join("crds/sparkjobs.sparkq.io.yaml").is_file());
}

#[test]
fn listed_namespaces_get_role_bindings_instead_of_cluster_wide_writes() {
    let objects = render(
        json!({"namespaces": ["spark", "etl"], "launcher": "spark-application", "api": {"existingSecret": "mine"}}),
        true,
    );
    check_objects(&objects);
    let bindings: Vec<String> = objects
        .iter()
        .filter(|o| o["kind"] == "RoleBinding" && o["metadata"]["name"] == "sparkq-jobs")
        .map(|o| o["metadata"]["namespace"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(bindings, ["spark", "etl"]);
    assert!(
        !objects
            .iter()
            .any(|o| o["kind"] == "ClusterRoleBinding" && o["metadata"]["name"] == "sparkq-jobs")
    );
    assert!(!objects.iter().any(|o| o["kind"] == "Secret"), "an existing Secret is used as it is");
    let jobs_role = objects
        .iter()
        .find(|o| o["metadata"]["name"] == "sparkq-jobs" && o["kind"] == "ClusterRole")
        .expect("role");
    assert_eq!(jobs_role["rules"][2]["resources"], json!(["sparkapplications"]));
    let config = objects.iter().find(|o| o["metadata"]["name"] == "sparkq-config").expect("config");
    let file: sparkq_adapter_k8s::serve::ServeFile =
        serde_saphyr::from_str(config["data"]["sparkq.yaml"].as_str().unwrap_or(""))
            .expect("config accepted");
    assert_eq!(file.namespaces, ["spark", "etl"]);
}

#[test]
fn rbac_grants_only_what_the_adapter_uses() {
    let objects = render(json!({}), true);
    let mut grants = BTreeSet::new();
    for object in objects.iter().filter(|o| o["kind"] == "ClusterRole" || o["kind"] == "Role") {
        for rule in object["rules"].as_array().cloned().unwrap_or_default() {
            for group in rule["apiGroups"].as_array().cloned().unwrap_or_default() {
                for resource in rule["resources"].as_array().cloned().unwrap_or_default() {
                    for verb in rule["verbs"].as_array().cloned().unwrap_or_default() {
                        let (g, r, v) = (
                            group.as_str().unwrap_or(""),
                            resource.as_str().unwrap_or(""),
                            verb.as_str().unwrap_or(""),
                        );
                        assert_ne!(r, "*", "no wildcard resources");
                        assert_ne!(v, "*", "no wildcard verbs");
                        grants.insert(format!("{g}/{r}:{v}"));
                    }
                }
            }
        }
    }
    // The adapter's calls: watchers on Nodes and Pods (controller.rs), SparkJob reads and
    // writes (api.rs, controller.rs), launches (launcher.rs) and the Lease (serve.rs).
    let expected: BTreeSet<String> = [
        "/nodes:list",
        "/nodes:watch",
        "/pods:list",
        "/pods:watch",
        "/pods:create",
        "/configmaps:create",
        "/services:create",
        "sparkq.io/sparkjobs:get",
        "sparkq.io/sparkjobs:list",
        "sparkq.io/sparkjobs:watch",
        "sparkq.io/sparkjobs:create",
        "sparkq.io/sparkjobs:patch",
        "sparkq.io/sparkjobs:delete",
        "sparkq.io/sparkjobs/status:patch",
        "coordination.k8s.io/leases:get",
        "coordination.k8s.io/leases:create",
        "coordination.k8s.io/leases:patch",
    ]
    .map(String::from)
    .into();
    assert_eq!(grants, expected);
}

#[test]
fn the_values_satisfy_the_schema_and_the_schema_refuses_mistakes() {
    let chart = helm::Chart::load(&chart_dir());
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(chart_dir().join("values.schema.json"))
            .expect("values.schema.json"),
    )
    .expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the schema is valid");
    let errors: Vec<String> = validator.iter_errors(&chart.values).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "values.yaml breaks its schema: {errors:?}");
    for (overrides, ok) in [
        (json!({"enabled": false}), true),
        (json!({"scheduler": {"policy": "best-effort"}, "namespaces": ["a"]}), true),
        (json!({"scheduler": {"policy": "fifo"}}), false),
        (json!({"replicaCount": 0}), false),
        (json!({"enabeld": true}), false),
    ] {
        let mut values = chart.values.clone();
        helm::merge(&mut values, &overrides);
        assert_eq!(validator.is_valid(&values), ok, "{overrides}");
    }
}

#[test]
fn every_value_a_template_reads_is_defined_and_documented() {
    let chart = helm::Chart::load(&chart_dir());
    let readme =
        std::fs::read_to_string(chart_dir().join("README.md")).expect("the chart's README");
    for (name, text) in &chart.templates {
        for path in helm::value_references(text) {
            let mut value = &chart.values;
            for key in &path {
                value = value.get(key).unwrap_or_else(|| {
                    panic!("{name}: .Values.{} is not in values.yaml", path.join("."))
                });
            }
        }
    }
    // Every leaf of values.yaml has a row in the README's table.
    fn leaves(value: &Value, prefix: &str, out: &mut Vec<String>) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (key, inner) in map {
                    let path =
                        if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                    leaves(inner, &path, out);
                }
            }
            _ => out.push(prefix.to_owned()),
        }
    }
    let mut all = Vec::new();
    leaves(&chart.values, "", &mut all);
    for path in all {
        assert!(readme.contains(&format!("`{path}`")), "the README does not document `{path}`");
    }
}

#[test]
fn the_charts_definition_is_the_one_sparkq_crd_prints() {
    let in_chart = std::fs::read_to_string(chart_dir().join("crds/sparkjobs.sparkq.io.yaml"))
        .expect("the chart's CRD");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sparkq"))
        .arg("crd")
        .output()
        .expect("sparkq crd runs");
    assert!(
        output.status.success(),
        "sparkq crd failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8(output.stdout).expect("UTF-8");
    assert_eq!(printed, sparkq_adapter_k8s::crd_yaml(), "`sparkq crd` prints the code's CRD");
    assert!(
        in_chart == printed,
        "deploy/helm/sparkq/crds/sparkjobs.sparkq.io.yaml differs from `sparkq crd`: regenerate it with \
         `cargo run --release -- crd > deploy/helm/sparkq/crds/sparkjobs.sparkq.io.yaml`"
    );
    let crd: Value = serde_saphyr::from_str(&in_chart).expect("YAML");
    check_as::<CustomResourceDefinition>(&crd);
}

#[test]
fn the_dashboard_in_the_chart_is_the_shipped_one() {
    let shipped = std::fs::read(root().join("deploy/grafana/sparkq.json"))
        .expect("deploy/grafana/sparkq.json");
    let copy = std::fs::read(chart_dir().join("files/sparkq.json")).expect("the chart's copy");
    assert!(
        shipped == copy,
        "copy deploy/grafana/sparkq.json to deploy/helm/sparkq/files/sparkq.json"
    );
}

// -- PromQL -------------------------------------------------------------------------------------

/// The exporter's output with one series in every family, as a scrape would read it.
fn exposition() -> String {
    let m = Metrics::new();
    let p = labels([("priority", "high")]);
    m.queue_jobs.get_or_create(&p).set(1);
    m.namespace_queue_jobs
        .get_or_create(&labels([("namespace", "a"), ("priority", "high")]))
        .set(1);
    m.queue_head_age_seconds.get_or_create(&p).set(1.5);
    m.job_wait_seconds.get_or_create(&p).observe(3.0);
    m.admissions.get_or_create(&labels([("priority", "high"), ("flow", "orchestrated")])).inc();
    m.rejections.get_or_create(&labels([("reason", "never_fits")])).inc();
    m.cancellations.get_or_create(&labels([("reason", "deleted")])).inc();
    m.jobs.get_or_create(&labels([("phase", "queued")])).set(1);
    m.cluster_cpu_cores.get_or_create(&labels([("kind", "allocatable")])).set(4.0);
    m.cluster_memory_bytes.get_or_create(&labels([("kind", "allocatable")])).set(1 << 30);
    let usage = labels([("namespace", "a"), ("domain", "d"), ("priority", "high")]);
    m.usage_cpu_cores.get_or_create(&usage).set(1.0);
    m.usage_memory_bytes.get_or_create(&usage).set(1 << 20);
    let job = labels([("namespace", "a"), ("spark_job", "j")]);
    m.job_cpu_cores.get_or_create(&job).set(1.0);
    m.job_memory_bytes.get_or_create(&job).set(1 << 20);
    m.cycle_duration_seconds.observe(0.001);
    m.head_blocked_seconds.get_or_create(&p).set(2.0);
    m.idle_cpu_cores_while_blocked.set(1.0);
    m.idle_memory_bytes_while_blocked.set(1);
    m.leader.set(1);
    m.encode()
}

/// The names of the samples in an exposition (`sparkq_admissions_total`, `..._bucket`, ...).
fn sample_names(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap_or_default().to_owned())
        .collect()
}

/// The metric names an expression selects: identifiers that are not functions, keywords,
/// label names (in `by (...)`, `on (...)` and matchers), strings or durations.
fn metric_names(expr: &str) -> BTreeSet<String> {
    const KEYWORDS: [&str; 6] = ["and", "or", "unless", "bool", "offset", "inf"];
    const LABEL_LISTS: [&str; 6] = ["by", "without", "on", "ignoring", "group_left", "group_right"];
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let skip_to = |i: &mut usize, close: char| {
        while *i < chars.len() && chars[*i] != close {
            if chars[*i] == '"' {
                *i += 1;
                while *i < chars.len() && chars[*i] != '"' {
                    *i += if chars[*i] == '\\' { 2 } else { 1 };
                }
            }
            *i += 1;
        }
        *i += 1;
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == '{' {
            skip_to(&mut i, '}');
        } else if c == '[' {
            skip_to(&mut i, ']');
        } else if c.is_ascii_digit() || c == '.' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let rest: String = chars[next..].iter().collect();
            let called = chars.get(next) == Some(&'(')
                || rest.starts_with("by ")
                || rest.starts_with("by(")
                || rest.starts_with("without ")
                || rest.starts_with("without(");
            if LABEL_LISTS.contains(&word.as_str()) {
                if called {
                    i = next + 1;
                    skip_to(&mut i, ')');
                }
            } else if !called && !KEYWORDS.contains(&word.as_str()) {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

fn dashboard_exprs() -> Vec<String> {
    let text =
        std::fs::read_to_string(root().join("deploy/grafana/sparkq.json")).expect("dashboard");
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    fn collect(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    match (key.as_str(), inner) {
                        ("expr", Value::String(expr)) => out.push(expr.clone()),
                        _ => collect(inner, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
            _ => {}
        }
    }
    let mut exprs = Vec::new();
    collect(&dashboard, &mut exprs);
    exprs
}

fn rule_groups() -> Value {
    let objects = render(json!({}), true);
    let rule = objects.iter().find(|o| o["kind"] == "PrometheusRule").expect("the PrometheusRule");
    json!({"groups": rule["spec"]["groups"]})
}

fn rule_exprs() -> Vec<String> {
    let groups = rule_groups();
    let mut exprs = Vec::new();
    for group in groups["groups"].as_array().cloned().unwrap_or_default() {
        for rule in group["rules"].as_array().cloned().unwrap_or_default() {
            exprs.push(rule["expr"].as_str().expect("a rule has an expr").to_owned());
        }
    }
    exprs
}

#[test]
fn the_expression_scanner_finds_metrics_and_nothing_else() {
    let names = metric_names(
        r#"histogram_quantile(0.95, sum by (le, priority) (rate(a_bucket{x="y z"}[$__rate_interval]))) / on (instance) group_left b and c offset 5m > 1e3 or vector(0)"#,
    );
    assert_eq!(names, ["a_bucket", "b", "c"].map(String::from).into());
}

#[test]
fn every_expression_of_the_dashboard_and_the_rules_names_exported_metrics() {
    let exported = sample_names(&exposition());
    let dashboard = dashboard_exprs();
    let rules = rule_exprs();
    assert!(dashboard.len() >= 20 && rules.len() >= 5, "{} {}", dashboard.len(), rules.len());
    let mut used = BTreeSet::new();
    for expr in dashboard.iter().chain(&rules) {
        for name in metric_names(expr) {
            assert!(
                exported.contains(&name),
                "`{name}` in `{expr}` is not exported; exported: {exported:?}"
            );
            used.insert(name);
        }
    }
    // Each exported metric is shown somewhere (a histogram's _sum and _count go with it).
    for name in &exported {
        let bucket = name.replace("_sum", "_bucket").replace("_count", "_bucket");
        assert!(
            used.contains(name) || used.contains(&bucket),
            "the dashboard and the rules do not use {name}"
        );
    }
}

/// `METRIC_NAMES`, which the adapter documents, matches what it registers.
#[test]
fn every_metric_the_adapter_lists_is_exported() {
    let exported = sample_names(&exposition());
    for family in METRIC_NAMES {
        assert!(
            exported.iter().any(|n| n.starts_with(family)),
            "METRIC_NAMES lists {family}, which the exporter does not export"
        );
    }
}

// -- promtool -----------------------------------------------------------------------------------

/// `promtool`, or `None` (with a message) when it is absent outside CI.
fn promtool() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths).map(|p| p.join("promtool")).find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "promtool is missing: .ci/run installs Debian's prometheus package"
        );
        eprintln!(
            "SKIPPED: promtool is not installed (apt-get install prometheus); CI runs this check"
        );
    }
    found
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sparkq-deploy-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    dir
}

#[test]
fn promtool_accepts_the_alert_rules() {
    let Some(promtool) = promtool() else { return };
    let dir = temp_dir("rules");
    let file = dir.join("sparkq-rules.yaml");
    std::fs::write(&file, serde_json::to_string_pretty(&rule_groups()).expect("json"))
        .expect("written");
    let output = Command::new(promtool)
        .arg("check")
        .arg("rules")
        .arg(&file)
        .output()
        .expect("promtool runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        output.status.success(),
        "promtool check rules:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn promtool_accepts_the_exporters_output() {
    let Some(promtool) = promtool() else { return };
    check_metrics(&promtool, &exposition());
}

/// `promtool check metrics` on an exposition. Its lint findings fail the test too, but one:
/// promtool reads the classic text format, where a counter's HELP names the sample
/// (`x_total`), while OpenMetrics names the family (`x`); so it reports "no help text" for
/// every OpenMetrics counter. That finding is accepted for a `_total` sample whose family has
/// a HELP line, and nothing else is.
pub fn check_metrics(promtool: &Path, exposition: &str) {
    use std::io::Write;
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool runs");
    child.stdin.take().expect("stdin").write_all(exposition.as_bytes()).expect("written");
    let output = child.wait_with_output().expect("promtool ends");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let findings: Vec<&str> = report
        .lines()
        .filter(|line| {
            let counter_help =
                line.strip_suffix(" no help text").and_then(|s| s.strip_suffix("_total"));
            !counter_help.is_some_and(|family| exposition.contains(&format!("# HELP {family} ")))
        })
        .filter(|line| !line.trim().is_empty())
        .collect();
    assert!(
        findings.is_empty() && (output.status.success() || !report.contains("error")),
        "promtool check metrics:\n{report}\n{exposition}"
    );
}

/// The alerts fire on the series that should fire them and stay quiet otherwise, under
/// `promtool test rules`.
#[test]
fn promtool_fires_each_alert_when_it_should() {
    let Some(promtool) = promtool() else { return };
    let groups = rule_groups();
    let rules: Vec<Value> = groups["groups"][0]["rules"].as_array().cloned().unwrap_or_default();
    // An alert's expected annotations: its templates expanded for the series below.
    let annotations = |alert: &str| {
        let rule = rules.iter().find(|r| r["alert"] == alert).expect("the alert exists");
        let mut expanded = serde_json::Map::new();
        for (key, text) in rule["annotations"].as_object().cloned().unwrap_or_default() {
            let text = text
                .as_str()
                .unwrap_or_default()
                .replace("{{ $labels.priority }}", "high")
                .replace("{{ $labels.reason }}", "never_fits")
                .replace("{{ $value | humanizeDuration }}", "40m 0s");
            expanded.insert(key, Value::String(text));
        }
        Value::Object(expanded)
    };
    let alert = |name: &str, eval: &str, labels: Value| {
        json!({"eval_time": eval, "alertname": name,
               "exp_alerts": [{"exp_labels": labels, "exp_annotations": annotations(name)}]})
    };
    let quiet =
        |name: &str, eval: &str| json!({"eval_time": eval, "alertname": name, "exp_alerts": []});
    let tests = json!({
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                // The high head blocked for 40 minutes and counting; the queue moves otherwise.
                "interval": "1m",
                "input_series": [
                    {"series": "sparkq_leader{instance=\"a\"}", "values": "1x60"},
                    {"series": "sparkq_head_blocked_seconds{instance=\"a\",priority=\"high\"}", "values": "0+60x60"},
                    {"series": "sparkq_queue_jobs{instance=\"a\",priority=\"high\"}", "values": "3x60"},
                    {"series": "sparkq_admissions_total{instance=\"a\",priority=\"normal\",flow=\"orchestrated\"}", "values": "0+1x60"},
                    {"series": "sparkq_rejections_total{instance=\"a\",reason=\"never_fits\"}", "values": "0 0 0 1x57"},
                ],
                "alert_rule_test": [
                    quiet("SparkqQueueHeadBlocked", "20m"),
                    alert("SparkqQueueHeadBlocked", "40m", json!({"severity": "warning", "priority": "high"})),
                    quiet("SparkqJobsWaitingNoneAdmitted", "40m"),
                    quiet("SparkqJobsRejected", "2m"),
                    alert("SparkqJobsRejected", "5m", json!({"severity": "info", "reason": "never_fits"})),
                    quiet("SparkqAdapterDown", "40m"),
                    quiet("SparkqNoLeader", "40m"),
                    quiet("SparkqSeveralLeaders", "40m"),
                ],
            },
            {
                // Jobs wait and the admissions counter is flat; a stale replica keeps an old
                // queue length, which must not count.
                "interval": "1m",
                "input_series": [
                    {"series": "sparkq_leader{instance=\"a\"}", "values": "1x60"},
                    {"series": "sparkq_leader{instance=\"b\"}", "values": "0x60"},
                    {"series": "sparkq_queue_jobs{instance=\"a\",priority=\"normal\"}", "values": "2x60"},
                    {"series": "sparkq_queue_jobs{instance=\"b\",priority=\"normal\"}", "values": "9x60"},
                    {"series": "sparkq_admissions_total{instance=\"a\",priority=\"normal\",flow=\"orchestrated\"}", "values": "5x60"},
                ],
                "alert_rule_test": [
                    alert("SparkqJobsWaitingNoneAdmitted", "10m", json!({"severity": "warning"})),
                    quiet("SparkqNoLeader", "10m"),
                ],
            },
            {
                // Nothing exports: the adapter is down. Then replicas without a leader, then two.
                "interval": "1m",
                "input_series": [
                    {"series": "up{job=\"other\"}", "values": "1x30"},
                ],
                "alert_rule_test": [alert("SparkqAdapterDown", "10m", json!({"severity": "critical"}))],
            },
            {
                "interval": "1m",
                "input_series": [
                    {"series": "sparkq_leader{instance=\"a\"}", "values": "0x30"},
                    {"series": "sparkq_leader{instance=\"b\"}", "values": "0x30"},
                ],
                "alert_rule_test": [alert("SparkqNoLeader", "10m", json!({"severity": "critical"}))],
            },
            {
                "interval": "1m",
                "input_series": [
                    {"series": "sparkq_leader{instance=\"a\"}", "values": "1x30"},
                    {"series": "sparkq_leader{instance=\"b\"}", "values": "1x30"},
                ],
                "alert_rule_test": [alert("SparkqSeveralLeaders", "10m", json!({"severity": "warning"}))],
            },
        ],
    });
    let dir = temp_dir("rule-tests");
    std::fs::write(dir.join("rules.yaml"), serde_json::to_string_pretty(&groups).expect("json"))
        .expect("written");
    let file = dir.join("tests.yaml");
    std::fs::write(&file, serde_json::to_string_pretty(&tests).expect("json")).expect("written");
    let output =
        Command::new(promtool).args(["test", "rules"]).arg(&file).output().expect("promtool runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        output.status.success(),
        "promtool test rules:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
