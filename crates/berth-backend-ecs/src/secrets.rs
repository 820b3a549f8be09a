//! A job's secrets on ECS, never in RunTask's overrides (DescribeTasks shows those to anyone
//! who may describe tasks). One Secrets Manager secret per attempt holds the values as JSON
//! (`e-<i>` a variable, `f-<i>` a file's bytes in base64); a task definition of the attempt's
//! own (its family is the unit's name) names them in `secrets`, and ECS resolves them at
//! container start with the execution role. Secret files: the stage helper writes them, 0444,
//! into one volume per directory, mounted read-only into the job at that directory.
//! `remove` deletes the secret and deregisters the definition; a secret left by a worker that
//! died between CreateSecret and RunTask is listed as a unit, so the sweep removes it too.

use std::collections::BTreeMap;

use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, Tag};
use base64::Engine;
use berth_core::backend::{AttemptPlan, BackendError, labels};

use crate::aws::{self, Clients};
use crate::translate::{self, MountPoint, STAGE, SecretFrom, TaskDefinition, Volume};

/// Secrets Manager takes at most this much SecretString.
const SECRET_STRING_LIMIT: usize = 65_536;
/// Where the stage helper writes the secret files of directory `k`.
const STAGE_SECRETS: &str = "/berth/secret";

/// The prefix of every attempt secret of `install_id`.
pub fn prefix(install_id: &str) -> String {
    format!("berth/{install_id}/")
}

/// A new name for `plan`'s secret: the install, the unit, and 8 random hex digits (a name
/// deleted a moment ago may not be taken again at once).
fn name(plan: &AttemptPlan) -> String {
    let random = berth_core::ids::JobId::generate().to_string();
    format!("{}{}/{}", prefix(&plan.install_id), plan.name, &random[random.len().saturating_sub(8)..])
}

/// The secret's JSON: `e-<i>` for the variables, `f-<i>` (base64) for the files.
pub fn secret_string(plan: &AttemptPlan) -> Result<String, String> {
    let mut values = BTreeMap::new();
    for (i, s) in plan.secrets.iter().enumerate() {
        if s.env.is_some() {
            values.insert(format!("e-{i}"), String::from_utf8_lossy(&s.value.0).into_owned());
        }
        if s.file.is_some() {
            values.insert(format!("f-{i}"), base64::engine::general_purpose::STANDARD.encode(&s.value.0));
        }
    }
    let text = serde_json::to_string(&values).map_err(|e| e.to_string())?;
    if text.len() > SECRET_STRING_LIMIT {
        return Err(format!(
            "the job's secrets take {} bytes as one Secrets Manager secret; it holds at most {SECRET_STRING_LIMIT}",
            text.len()
        ));
    }
    Ok(text)
}

/// The distinct directories of the secret files, sorted: directory `k` is volume `secret-<k>`.
fn file_dirs(plan: &AttemptPlan) -> Vec<String> {
    let mut dirs: Vec<String> = plan.secrets.iter().filter_map(|s| s.file.as_deref()).map(parent).collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

fn parent(path: &str) -> String {
    match path.rsplit_once('/') {
        Some(("", _)) | None => "/".into(),
        Some((dir, _)) => dir.into(),
    }
}

fn base(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// What the stage helper runs to write the secret files (their bytes come in its
/// `BERTH_SECRET_<i>` variables, which ECS filled from the secret); empty without files.
pub fn files_script(plan: &AttemptPlan) -> String {
    let dirs = file_dirs(plan);
    let mut script = String::new();
    for (i, s) in plan.secrets.iter().enumerate() {
        let Some(path) = s.file.as_deref() else { continue };
        let k = dirs.iter().position(|d| *d == parent(path)).unwrap_or_default();
        let target = translate::quote(&format!("{STAGE_SECRETS}/{k}/{}", base(path)));
        script.push_str(&format!("printf %s \"$BERTH_SECRET_{i}\" | base64 -d > {target}\nchmod 0444 {target}\n"));
    }
    for k in 0..dirs.len() {
        script.push_str(&format!("chmod 0555 {STAGE_SECRETS}/{k}\n"));
    }
    script
}

/// Turns the shape's definition into `plan`'s own: family the unit's name, the job's
/// variables from `secret_arn`, and the secret files written by the stage helper.
pub fn attempt_definition(def: &mut TaskDefinition, plan: &AttemptPlan, secret_arn: &str) {
    def.family = plan.name.clone();
    def.tags.push(translate::Tag { key: "berth.unit".into(), value: plan.name.clone() });
    let from = |key: String| format!("{secret_arn}:{key}::");
    let dirs = file_dirs(plan);
    for k in 0..dirs.len() {
        def.volumes.push(Volume::task(&format!("secret-{k}")));
    }
    for c in &mut def.container_definitions {
        if c.name == translate::MAIN {
            for (i, s) in plan.secrets.iter().enumerate() {
                if let Some(env) = &s.env {
                    c.secrets.push(SecretFrom { name: env.clone(), value_from: from(format!("e-{i}")) });
                }
            }
            for (k, dir) in dirs.iter().enumerate() {
                let point =
                    MountPoint { source_volume: format!("secret-{k}"), container_path: dir.clone(), read_only: true };
                c.mount_points.push(point);
            }
        } else if c.name == STAGE {
            for (i, s) in plan.secrets.iter().enumerate() {
                if s.file.is_some() {
                    c.secrets
                        .push(SecretFrom { name: format!("BERTH_SECRET_{i}"), value_from: from(format!("f-{i}")) });
                }
            }
            for k in 0..dirs.len() {
                let path = format!("{STAGE_SECRETS}/{k}");
                c.mount_points.push(MountPoint {
                    source_volume: format!("secret-{k}"),
                    container_path: path,
                    read_only: false,
                });
            }
            let script = format!("set -e\n{}\n{}", translate::OPEN_OUTPUT, files_script(plan));
            c.command = Some(vec!["sh".into(), "-c".into(), script]);
        }
    }
}

/// The secret's ARN in a `valueFrom` (`ARN` or `ARN:key:stage:version`).
pub fn arn_of(value_from: &str) -> String {
    value_from.split(':').take(7).collect::<Vec<_>>().join(":")
}

/// Creates `plan`'s secret, tagged with its job, attempt and owner; returns its ARN.
pub async fn create(c: &Clients, plan: &AttemptPlan) -> Result<String, BackendError> {
    let text = secret_string(plan).map_err(BackendError::Create)?;
    let tags = [
        (labels::MANAGED, "true".to_string()),
        (labels::INSTALL, plan.install_id.clone()),
        (labels::JOB, plan.job_id.to_string()),
        (labels::ATTEMPT, plan.attempt.to_string()),
        (labels::OWNER, plan.owner.clone()),
        ("berth.unit", plan.name.clone()),
    ];
    let mut call = c.secrets.create_secret().name(name(plan)).secret_string(text);
    for (key, value) in tags {
        call = call.tags(Tag::builder().key(key).value(value).build());
    }
    let out = call.send().await.map_err(|e| aws::refused_is_create(aws::error("creating the attempt's secret", e)))?;
    out.arn().map(String::from).ok_or_else(|| BackendError::Create("CreateSecret returned no ARN".into()))
}

/// Deletes secret `arn` at once (no recovery window); one already gone is fine.
pub async fn delete(c: &Clients, arn: &str) -> Result<(), BackendError> {
    match c.secrets.delete_secret().secret_id(arn).force_delete_without_recovery(true).send().await {
        Ok(_) => Ok(()),
        Err(e) if aws::code(&e).as_deref() == Some("ResourceNotFoundException") => Ok(()),
        Err(e) => Err(aws::error("deleting the attempt's secret", e)),
    }
}

/// An attempt with secrets: its secret, and its own task definition naming it.
pub async fn register_for(c: &Clients, def: &mut TaskDefinition, plan: &AttemptPlan) -> Result<String, BackendError> {
    let secret = create(c, plan).await?;
    attempt_definition(def, plan, &secret);
    match aws::register(c, def).await {
        Ok(arn) => Ok(arn),
        Err(e) => {
            if let Err(left) = delete(c, &secret).await {
                tracing::warn!("the attempt's secret stays until the sweep: {left}");
            }
            Err(e)
        }
    }
}

/// Deletes the secrets an attempt's own task definition names, then deregisters it.
pub async fn release_definition(c: &Clients, arn: &str) -> Result<(), BackendError> {
    let found = c.ecs.describe_task_definition().task_definition(arn).send().await;
    let def = match found {
        Ok(out) => out.task_definition,
        Err(e) if aws::code(&e).as_deref() == Some("ClientException") => return Ok(()),
        Err(e) => return Err(aws::error("describing the attempt's task definition", e)),
    };
    let mut arns: Vec<String> = def
        .iter()
        .flat_map(|d| d.container_definitions())
        .flat_map(|c| c.secrets())
        .map(|s| arn_of(s.value_from()))
        .collect();
    arns.dedup();
    for secret in arns {
        delete(c, &secret).await?;
    }
    match c.ecs.deregister_task_definition().task_definition(arn).send().await {
        Ok(_) => Ok(()),
        Err(e) if aws::code(&e).as_deref() == Some("ClientException") => Ok(()),
        Err(e) => Err(aws::error("deregistering the attempt's task definition", e)),
    }
}

/// Releases every ACTIVE revision of a unit's own family (after a restart, when this
/// process did not start the task; none for an attempt without secrets).
pub async fn release_family(c: &Clients, family: &str) -> Result<(), BackendError> {
    // A few revisions at most: one per create that reached RegisterTaskDefinition.
    for _ in 0..16 {
        let found = c.ecs.describe_task_definition().task_definition(family).send().await;
        let arn = match found {
            Ok(out) => match out.task_definition().filter(|d| d.status().map(|s| s.as_str()) == Some("ACTIVE")) {
                Some(d) => d.task_definition_arn().unwrap_or_default().to_string(),
                None => return Ok(()),
            },
            Err(e) if aws::code(&e).as_deref() == Some("ClientException") => return Ok(()),
            Err(e) => return Err(aws::error("describing the attempt's task definition", e)),
        };
        release_definition(c, &arn).await?;
    }
    Ok(())
}

/// An attempt secret of the install, with its tags.
#[derive(Clone, Debug)]
pub struct Stored {
    pub arn: String,
    pub tags: BTreeMap<String, String>,
}

/// The install's attempt secrets.
pub async fn list(c: &Clients, install_id: &str) -> Result<Vec<Stored>, BackendError> {
    let filter = Filter::builder().key(FilterNameStringType::Name).values(prefix(install_id)).build();
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let call = c.secrets.list_secrets().filters(filter.clone()).set_next_token(token);
        let page = call.send().await.map_err(|e| aws::error("listing the attempts' secrets", e))?;
        for s in page.secret_list() {
            let tags = s.tags().iter().filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string()))).collect();
            out.push(Stored { arn: s.arn().unwrap_or_default().to_string(), tags });
        }
        token = page.next_token().map(String::from);
        if token.is_none() {
            return Ok(out);
        }
    }
}
