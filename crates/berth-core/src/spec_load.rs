//! Turning text into a `JobSpec`: YAML or JSON, unknown fields rejected, and every error
//! naming the field path it is about (`resources.memory: -5 is negative ...`).

use std::collections::BTreeMap;
use std::fmt;

use crate::spec::JobSpec;

/// A problem with one field of a spec: which field, and what was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct FieldError {
    /// Dotted path, e.g. `resources.memory` or `mounts[1].target`; empty for the whole document.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError { field: field.into(), message: message.into() }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

/// One or more field errors, shown one per line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct SpecErrors(pub Vec<FieldError>);

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        write!(f, "invalid job spec:\n  {}", lines.join("\n  "))
    }
}

impl From<FieldError> for SpecErrors {
    fn from(e: FieldError) -> Self {
        SpecErrors(vec![e])
    }
}

/// Parses a spec from YAML (a superset of JSON, so JSON documents parse too).
pub fn parse_spec(text: &str) -> Result<JobSpec, FieldError> {
    parse_document(text)
}

/// Parses any document berth reads (a spec, a schedule) from YAML or JSON, each error
/// naming the field path it is about.
pub fn parse_document<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, FieldError> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        let de = &mut serde_json::Deserializer::from_str(text);
        return serde_path_to_error::deserialize(de).map_err(|e| path_error(e.path(), e.inner()));
    }
    let de = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| path_error(e.path(), e.inner()))
}

/// Parses a spec from a JSON value (as the API receives it).
pub fn spec_from_json(value: serde_json::Value) -> Result<JobSpec, FieldError> {
    from_json_value(value)
}

/// Reads any document berth takes from a JSON value, each error naming its field path.
pub fn from_json_value<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(value).map_err(|e| path_error(e.path(), e.inner()))
}

fn path_error(path: &serde_path_to_error::Path, inner: &dyn fmt::Display) -> FieldError {
    let field = path.to_string();
    let field = if field == "." { String::new() } else { field };
    // serde_yaml prefixes the parent's path ("resources: unknown field ..."): drop it, the
    // field already says where. Its " at line N column M" suffix stays: it helps.
    let mut message = inner.to_string();
    if let Some((prefix, rest)) = message.split_once(": ")
        && !prefix.contains(' ')
        && field.starts_with(prefix)
    {
        message = rest.to_string();
    }
    FieldError::new(field, message)
}

/// Parses Docker's env-file format: `KEY=VALUE` lines, `#` comments, blank lines, and bare
/// `KEY` lines (which take the value from `lookup`, like Docker takes it from the environment).
pub fn parse_env_file(
    name: &str,
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>, FieldError> {
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (line.trim_end(), lookup(line.trim_end())),
        };
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(FieldError::new("env_files", format!("{name} line {}: `{line}` is not KEY=VALUE", n + 1)));
        }
        if let Some(value) = value {
            out.insert(key.to_string(), value);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_field_names_its_path() {
        let err = parse_spec("image: a\nresources:\n  memroy: 5m\n").unwrap_err();
        assert_eq!(err.field, "resources.memroy");
        assert!(err.message.starts_with("unknown field `memroy`"), "{}", err.message);
    }

    #[test]
    fn negative_memory_names_the_field() {
        let err = parse_spec(r#"{"image":"a","resources":{"memory":-5}}"#).unwrap_err();
        assert_eq!(err.field, "resources.memory");
        assert!(err.message.contains("negative"), "{}", err.message);
    }

    #[test]
    fn yaml_and_json_agree() {
        let y = parse_spec("image: busybox\ncommand: [echo, hi]\nenv: {A: b}\n").unwrap();
        let j = parse_spec(r#"{"image":"busybox","command":["echo","hi"],"env":{"A":"b"}}"#).unwrap();
        assert_eq!(y, j);
        assert_eq!(y.timeouts.run.0.as_secs(), 3600);
        assert!(y.security.init && y.security.no_new_privileges);
    }

    #[test]
    fn env_file_format() {
        let text = "# comment\nA=1\n\nB=x=y\nHOME\nMISSING\n";
        let lookup = |k: &str| (k == "HOME").then(|| "/root".to_string());
        let env = parse_env_file("f", text, &lookup).unwrap();
        let got: Vec<_> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(got, ["A=1", "B=x=y", "HOME=/root"]);
        assert!(parse_env_file("f", "BAD KEY=1", &lookup).is_err());
    }
}
