//! JSON helpers: names, labels, selectors, timestamps and the API's `Status` errors.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub fn name(o: &Value) -> String {
    o["metadata"]["name"].as_str().unwrap_or_default().to_string()
}

pub fn namespace(o: &Value) -> String {
    o["metadata"]["namespace"].as_str().unwrap_or("default").to_string()
}

pub fn uid(o: &Value) -> String {
    o["metadata"]["uid"].as_str().unwrap_or_default().to_string()
}

pub fn new_uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Now, as the API writes times (RFC 3339, seconds).
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Whether `o` matches an equality label selector (`a=b,c=d`, `a==b`, `a!=b`, or `a` to
/// have the key) and a field selector on `metadata.name`/`metadata.namespace`.
pub fn matches(o: &Value, labels: Option<&str>, fields: Option<&str>) -> bool {
    let have = &o["metadata"]["labels"];
    let label_ok = labels.unwrap_or_default().split(',').filter(|s| !s.is_empty()).all(|term| {
        if let Some((k, v)) = term.split_once("!=") {
            have[k.trim()].as_str() != Some(v.trim())
        } else if let Some((k, v)) = term.split_once('=') {
            have[k.trim()].as_str() == Some(v.trim_start_matches('=').trim())
        } else {
            have.get(term.trim()).is_some()
        }
    });
    let field_ok = fields.unwrap_or_default().split(',').filter(|s| !s.is_empty()).all(|term| {
        let Some((k, v)) = term.split_once('=') else { return false };
        match k {
            "metadata.name" => name(o) == v,
            "metadata.namespace" => namespace(o) == v,
            _ => false,
        }
    });
    label_ok && field_ok
}

/// The API's error body.
pub fn status(code: StatusCode, reason: &str, message: impl Into<String>) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message.into(), "reason": reason, "code": code.as_u16(),
    });
    (code, axum::Json(body)).into_response()
}

pub fn not_found(kind: &str, name: &str) -> Response {
    status(StatusCode::NOT_FOUND, "NotFound", format!("{kind} \"{name}\" not found"))
}

/// A list of `items` with the store's current version.
pub fn list(kind: &str, items: Vec<Value>, version: u64) -> Value {
    json!({"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": version.to_string()}, "items": items})
}

/// RFC 7386 merge patch.
pub fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        let o = json!({"metadata": {"name": "a", "labels": {"x": "1", "y": "2"}}});
        assert!(matches(&o, Some("x=1,y==2"), Some("metadata.name=a")));
        assert!(matches(&o, Some("x"), None) && matches(&o, Some("z!=1"), None));
        assert!(!matches(&o, Some("x=2"), None) && !matches(&o, None, Some("metadata.name=b")));
    }

    #[test]
    fn merge_patch() {
        let mut o = json!({"spec": {"suspend": true, "x": 1}});
        merge(&mut o, &json!({"spec": {"suspend": false, "x": null}}));
        assert_eq!(o, json!({"spec": {"suspend": false}}));
    }
}
