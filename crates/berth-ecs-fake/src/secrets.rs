//! Secrets Manager, in small: CreateSecret (a name once, its ARN `…:secret:<name>-<6
//! random>`, a SecretString, tags), DeleteSecret (by ARN or name; gone at once, as with
//! `ForceDeleteWithoutRecovery`), ListSecrets (the `name` filter is a prefix, as AWS's), and
//! what the agent needs at container start: a `valueFrom` (the ARN, or `ARN:json-key::`)
//! resolved to its value. Its API is PascalCase, unlike ECS's.

use serde_json::{Value, json};

use crate::Fake;
use crate::api::{Answer, AwsError};

const ARN_PREFIX: &str = "arn:aws:secretsmanager:us-east-1:000000000000:secret:";

/// One stored secret.
#[derive(Clone, Debug)]
pub(crate) struct Secret {
    pub arn: String,
    pub name: String,
    pub value: String,
    pub tags: Value,
}

fn not_found() -> AwsError {
    AwsError::client("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
}

pub fn create(f: &Fake, input: &Value) -> Answer {
    let name = input["Name"].as_str().unwrap_or_default().to_string();
    let ok = |c: char| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c);
    if name.is_empty() || name.len() > 512 || !name.chars().all(ok) {
        return Err(AwsError::client("InvalidParameterException", format!("invalid secret name {name:?}")));
    }
    let value = input["SecretString"].as_str().unwrap_or_default().to_string();
    if value.len() > 65_536 {
        return Err(AwsError::client("InvalidParameterException", "SecretString is longer than 65536"));
    }
    let mut state = f.state.lock().unwrap();
    if state.secrets.iter().any(|s| s.name == name) {
        let message = "The operation failed because the secret already exists.";
        return Err(AwsError::client("ResourceExistsException", message));
    }
    let suffix: String = uuid::Uuid::new_v4().simple().to_string().chars().take(6).collect();
    let arn = format!("{ARN_PREFIX}{name}-{suffix}");
    let tags = input["Tags"].clone();
    state.secrets.push(Secret { arn: arn.clone(), name: name.clone(), value, tags });
    Ok(json!({"ARN": arn, "Name": name, "VersionId": uuid::Uuid::new_v4().to_string()}))
}

pub fn delete(f: &Fake, input: &Value) -> Answer {
    let id = input["SecretId"].as_str().unwrap_or_default();
    let mut state = f.state.lock().unwrap();
    let i = state.secrets.iter().position(|s| s.arn == id || s.name == id).ok_or_else(not_found)?;
    let s = state.secrets.remove(i);
    Ok(json!({"ARN": s.arn, "Name": s.name, "DeletionDate": crate::now_secs()}))
}

pub fn list(f: &Fake, input: &Value) -> Answer {
    let prefixes: Vec<String> = input["Filters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["Key"] == "name")
        .flat_map(|f| f["Values"].as_array().cloned().unwrap_or_default())
        .filter_map(|v| v.as_str().map(str::to_lowercase))
        .collect();
    let state = f.state.lock().unwrap();
    let list: Vec<Value> = state
        .secrets
        .iter()
        .filter(|s| prefixes.is_empty() || prefixes.iter().any(|p| s.name.to_lowercase().starts_with(p)))
        .map(|s| json!({"ARN": s.arn, "Name": s.name, "Tags": s.tags}))
        .collect();
    Ok(json!({"SecretList": list}))
}

/// The value `value_from` names: a secret's ARN (its whole string) or `ARN:key::` (one key of
/// its JSON); `None` when the secret or the key does not exist.
pub(crate) fn resolve(f: &Fake, value_from: &str) -> Option<String> {
    // `arn:aws:secretsmanager:region:account:secret:name-xxxxxx` has 7 fields.
    let fields: Vec<&str> = value_from.split(':').collect();
    let arn = fields.get(..7)?.join(":");
    let state = f.state.lock().unwrap();
    let secret = state.secrets.iter().find(|s| s.arn == arn)?;
    match fields.get(7).filter(|k| !k.is_empty()) {
        None => Some(secret.value.clone()),
        Some(key) => {
            let json: Value = serde_json::from_str(&secret.value).ok()?;
            json[*key].as_str().map(String::from)
        }
    }
}
