//! Docker's `--format` for `ps` and `inspect`: the Go-template subset Docker users type —
//! text with `{{.Field.Sub}}`, `{{json .Field}}`, `{{.}}`, `{{upper .F}}`/`{{lower .F}}` and
//! `{{index .Labels "key"}}` — over a JSON document; `table ...` adds a header row and aligns
//! columns on `\t`; `json` alone prints the document. Field names match the document's keys
//! as written or as Go spells them (`.ExitCode` finds `exit_code`). Anything else is an error
//! naming the action, before anything is printed.

use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
enum Part {
    Text(String),
    Action { func: Func, path: Vec<String>, key: Option<String> },
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Func {
    Show,
    Json,
    Upper,
    Lower,
    Index,
}

/// A parsed `--format`.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    /// `table ...`: a header row, and columns aligned on tabs.
    pub table: bool,
    /// `json`: the whole document as JSON.
    pub json: bool,
    parts: Vec<Part>,
}

impl Template {
    pub fn parse(format: &str) -> Result<Template, String> {
        let trimmed = format.trim();
        if trimmed == "json" {
            return Ok(Template { table: false, json: true, parts: Vec::new() });
        }
        let (table, body) = match trimmed.strip_prefix("table") {
            Some(rest) if rest.is_empty() || rest.starts_with(char::is_whitespace) => (true, rest.trim_start()),
            _ => (false, format),
        };
        let body = body.replace("\\t", "\t").replace("\\n", "\n");
        let mut parts = Vec::new();
        let mut rest = body.as_str();
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let close = rest[open..].find("}}").ok_or_else(|| format!("`{}` has no closing }}}}", &rest[open..]))?;
            parts.push(action(rest[open + 2..open + close].trim())?);
            rest = &rest[open + close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { table, json: false, parts })
    }

    /// The template applied to `doc`.
    pub fn render(&self, doc: &Value) -> String {
        if self.json {
            return doc.to_string();
        }
        self.parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.clone(),
                Part::Action { func, path, key } => apply(*func, lookup(doc, path), key.as_deref()),
            })
            .collect()
    }

    /// The header row of a `table` format: each action's last field name, in capitals.
    pub fn header(&self) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.clone(),
                Part::Action { path, .. } => path.last().map_or("VALUE".into(), |f| snake(f).to_uppercase()),
            })
            .collect()
    }
}

fn action(text: &str) -> Result<Part, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let (func, arg, key) = match words.as_slice() {
        [field] => (Func::Show, *field, None),
        ["json", field] => (Func::Json, *field, None),
        ["upper", field] => (Func::Upper, *field, None),
        ["lower", field] => (Func::Lower, *field, None),
        ["index", field, key] => (Func::Index, *field, Some(key.trim_matches('"').to_string())),
        _ => return Err(format!("`{{{{{text}}}}}` is not supported: use .Field, json, upper, lower or index")),
    };
    let path = arg.strip_prefix('.').ok_or_else(|| format!("`{arg}` in `{{{{{text}}}}}` is not a field (.Name)"))?;
    let path = path.split('.').filter(|s| !s.is_empty()).map(str::to_string).collect();
    Ok(Part::Action { func, path, key })
}

/// `ExitCode` → `exit_code`, `ID` → `id`.
fn snake(name: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
        let prev_lower = i > 0 && chars[i - 1].is_lowercase();
        if c.is_uppercase() && i > 0 && (prev_lower || next_lower) {
            out.push('_');
        }
        out.extend(c.to_lowercase());
    }
    out
}

fn lookup<'a>(doc: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(doc, |v, field| v.get(field).or_else(|| v.get(snake(field))))
}

fn apply(func: Func, value: Option<&Value>, key: Option<&str>) -> String {
    let shown = |v: Option<&Value>| match v {
        None | Some(Value::Null) => "<no value>".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    match func {
        Func::Show => shown(value),
        Func::Json => value.map_or("null".into(), Value::to_string),
        Func::Upper => shown(value).to_uppercase(),
        Func::Lower => shown(value).to_lowercase(),
        Func::Index => shown(value.and_then(|v| v.get(key.unwrap_or_default()))),
    }
}

/// Rows of a `table` format with their columns (split on tabs) padded to line up.
pub fn align(rows: &[String]) -> String {
    let cells: Vec<Vec<&str>> = rows.iter().map(|r| r.split('\t').collect()).collect();
    let columns = cells.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| cells.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &cells {
        let last = row.len().saturating_sub(1);
        for (c, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if c < last {
                out.push_str(&" ".repeat(widths[c] - cell.chars().count() + 3));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_as_docker_users_write_them() {
        let doc = json!({"id": "abc", "exit_code": 3, "spec": {"image": "busybox"}, "labels": {"team": "a"}});
        let t = Template::parse("{{.ID}} {{.ExitCode}} {{.Spec.Image}} {{upper .spec.image}}").unwrap();
        assert_eq!(t.render(&doc), "abc 3 busybox BUSYBOX");
        assert_eq!(Template::parse("{{json .labels}}").unwrap().render(&doc), r#"{"team":"a"}"#);
        assert_eq!(Template::parse(r#"{{index .Labels "team"}}"#).unwrap().render(&doc), "a");
        assert_eq!(Template::parse("{{.Missing}}").unwrap().render(&doc), "<no value>");
        assert_eq!(Template::parse("json").unwrap().render(&doc), doc.to_string());
    }

    #[test]
    fn tables_have_a_header_and_aligned_columns() {
        let t = Template::parse(r"table {{.ID}}\t{{.Status}}").unwrap();
        assert!(t.table);
        let rows = [t.header(), t.render(&json!({"id": "a", "status": "running"}))];
        assert_eq!(align(&rows), "ID   STATUS\na    running\n");
    }

    #[test]
    fn what_it_cannot_do_is_named() {
        let err = Template::parse("{{range .Mounts}}{{.}}{{end}}").unwrap_err();
        assert!(err.contains("{{range .Mounts}}"), "{err}");
        assert!(Template::parse("{{.ID").unwrap_err().contains("closing"));
        assert_eq!(snake("ExitCode"), "exit_code");
        assert_eq!(snake("ID"), "id");
        assert_eq!(snake("CreatedAt"), "created_at");
    }
}
