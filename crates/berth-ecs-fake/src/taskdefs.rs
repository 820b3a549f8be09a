//! Task definitions: RegisterTaskDefinition with the checks ECS makes (Fargate's sizes and
//! network mode, an essential container, `dependsOn` rules, `stopTimeout`, the awslogs
//! options, container memory within the task's), revisions per family, describe by family,
//! `family:revision` or ARN, and deregister.

use serde_json::{Value, json};

use crate::api::{Answer, AwsError, text};
use crate::{ARN_PREFIX, Fake, now_secs};

/// Fargate's task sizes: cpu units → (least, most, step) MiB.
const FARGATE: [(u64, u64, u64, u64); 7] = [
    (256, 512, 2048, 512),
    (512, 1024, 4096, 1024),
    (1024, 2048, 8192, 1024),
    (2048, 4096, 16384, 1024),
    (4096, 8192, 30720, 1024),
    (8192, 16384, 61440, 4096),
    (16384, 32768, 122880, 8192),
];

fn fargate_size(cpu: u64, memory: u64) -> bool {
    let ok = |&(c, lo, hi, step): &(u64, u64, u64, u64)| {
        c == cpu
            && (lo..=hi).contains(&memory)
            && (if cpu == 256 { memory != 1536 } else { (memory - lo).is_multiple_of(step) })
    };
    FARGATE.iter().any(ok)
}

fn number(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str()?.parse().ok())
}

fn check(def: &Value) -> Result<(), AwsError> {
    let bad = |m: String| Err(AwsError::client("ClientException", m));
    let containers = def["containerDefinitions"].as_array().cloned().unwrap_or_default();
    if text(def, "family").is_none_or(str::is_empty) {
        return bad("Family must be specified.".into());
    }
    if containers.is_empty() {
        return bad("Container definitions must not be empty.".into());
    }
    let fargate = def["requiresCompatibilities"].as_array().is_some_and(|a| a.iter().any(|c| c == "FARGATE"));
    let (cpu, memory) = (number(&def["cpu"]), number(&def["memory"]));
    if fargate {
        if def["networkMode"] != "awsvpc" {
            return bad("Fargate only supports network mode 'awsvpc'.".into());
        }
        let (Some(cpu), Some(memory)) = (cpu, memory) else {
            return bad("Fargate requires that 'cpu' and 'memory' be defined at the task level.".into());
        };
        if !fargate_size(cpu, memory) {
            return bad(format!(
                "No Fargate configuration exists for given values: {cpu} CPU, {memory} memory. See the Amazon ECS documentation for the valid values."
            ));
        }
    }
    if !containers.iter().any(|c| c["essential"] != false) {
        return bad("Task definition must have at least one essential container.".into());
    }
    let mut sum = 0;
    for c in &containers {
        let name = text(c, "name").unwrap_or_default();
        sum += number(&c["memory"]).or(number(&c["memoryReservation"])).unwrap_or(0);
        if fargate && number(&c["stopTimeout"]).is_some_and(|s| s > 120) {
            return bad(format!(
                "Invalid 'stopTimeout' setting for container '{name}'. The maximum on Fargate is 120 seconds."
            ));
        }
        for d in c["dependsOn"].as_array().into_iter().flatten() {
            let target = containers.iter().find(|x| x["name"] == d["containerName"]);
            let Some(target) = target else {
                return bad(format!("Container '{name}' depends on a container that is not in the task definition."));
            };
            if matches!(text(d, "condition"), Some("COMPLETE" | "SUCCESS")) && target["essential"] != false {
                return bad(
                    "A dependency container with SUCCESS or COMPLETE condition cannot be an essential container".into(),
                );
            }
        }
        let log = &c["logConfiguration"];
        if log["logDriver"] == "awslogs" && text(&log["options"], "awslogs-group").is_none() {
            return bad(format!("Log driver awslogs requires options: awslogs-group (container '{name}')"));
        }
    }
    if memory.is_some_and(|m| sum > m) {
        return bad("The sum of the containers' memory exceeds the task memory.".into());
    }
    Ok(())
}

pub fn register(f: &Fake, input: &Value) -> Answer {
    check(input)?;
    let family = text(input, "family").unwrap_or_default().to_string();
    let tags = input.get("tags").cloned().unwrap_or(json!([]));
    let mut state = f.state.lock().unwrap();
    let revisions = state.defs.entry(family.clone()).or_default();
    let revision = revisions.len() + 1;
    let mut def = input.clone();
    if let Some(o) = def.as_object_mut() {
        o.remove("tags");
    }
    def["taskDefinitionArn"] = json!(format!("{ARN_PREFIX}:task-definition/{family}:{revision}"));
    def["revision"] = json!(revision);
    def["status"] = json!("ACTIVE");
    def["registeredAt"] = json!(now_secs());
    revisions.push((def.clone(), tags.clone()));
    Ok(json!({"taskDefinition": def, "tags": tags}))
}

/// The revision `reference` names (family: its latest ACTIVE; `family:rev`; an ARN) and
/// its tags.
pub fn find(f: &Fake, reference: &str) -> Option<(Value, Value)> {
    let name = reference.rsplit('/').next().unwrap_or(reference);
    let state = f.state.lock().unwrap();
    match name.split_once(':') {
        Some((family, rev)) => {
            let rev: usize = rev.parse().ok()?;
            state.defs.get(family)?.get(rev.checked_sub(1)?).cloned()
        }
        None => state.defs.get(name)?.iter().rev().find(|(d, _)| d["status"] == "ACTIVE").cloned(),
    }
}

pub fn describe(f: &Fake, input: &Value) -> Answer {
    let reference = text(input, "taskDefinition").unwrap_or_default();
    let (def, tags) =
        find(f, reference).ok_or_else(|| AwsError::client("ClientException", "Unable to describe task definition."))?;
    let wants_tags = input["include"].as_array().is_some_and(|a| a.iter().any(|i| i == "TAGS"));
    Ok(if wants_tags { json!({"taskDefinition": def, "tags": tags}) } else { json!({"taskDefinition": def}) })
}

pub fn deregister(f: &Fake, input: &Value) -> Answer {
    let reference = text(input, "taskDefinition").unwrap_or_default();
    let name = reference.rsplit('/').next().unwrap_or(reference);
    let missing = || AwsError::client("ClientException", "The specified task definition does not exist.");
    let (family, rev) = name.split_once(':').ok_or_else(|| {
        AwsError::client("ClientException", "Revision must be specified: family:revision or the full ARN.")
    })?;
    let rev: usize = rev.parse().map_err(|_| missing())?;
    let mut state = f.state.lock().unwrap();
    let entry = state.defs.get_mut(family).and_then(|r| r.get_mut(rev.wrapping_sub(1))).ok_or_else(missing)?;
    entry.0["status"] = json!("INACTIVE");
    entry.0["deregisteredAt"] = json!(now_secs());
    Ok(json!({"taskDefinition": entry.0}))
}

#[cfg(test)]
mod tests {
    #[test]
    fn fargate_sizes() {
        assert!(super::fargate_size(256, 512) && super::fargate_size(256, 2048) && super::fargate_size(512, 3072));
        assert!(!super::fargate_size(256, 4096) && !super::fargate_size(512, 1536) && !super::fargate_size(300, 512));
        assert!(super::fargate_size(256, 1024) && !super::fargate_size(256, 1536));
    }
}
