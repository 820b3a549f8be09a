//! Operations on schedules that every front end (the HTTP API, the CLI) calls as they are:
//! create, change (a JSON merge patch), pause, resume, trigger and delete. Each checks what it
//! is given first, so bad input changes nothing.

use berth_core::clock::Timestamp;
use berth_core::ids::JobId;
use berth_core::schedule::{Pause, ScheduleConfig, ScheduleRecord};
use berth_core::spec_load::{FieldError, SpecErrors};
use berth_core::store::{JobRecord, ScheduleRef};

use crate::Runner;
use crate::scheduler::mark_scheduled;
use crate::submit::SubmitError;

impl Runner {
    /// Checks `config` (its expression, zone and policies, and its spec as a submission of
    /// `tenant`) and stores it; its first due time is the first after now.
    pub async fn create_schedule(&self, tenant: &str, config: ScheduleConfig) -> Result<ScheduleRecord, SubmitError> {
        let expr = config.check().map_err(SpecErrors)?;
        self.check_template(&config, tenant).await?;
        let now = self.clock.now();
        let paused =
            config.paused.then(|| Pause { at: now, by: "created paused".into(), reason: "created paused".into() });
        let next_due_at = expr.next_after(now).filter(|d| config.end_time().is_none_or(|e| *d <= e));
        let record = ScheduleRecord {
            id: JobId::generate().to_string(),
            tenant: tenant.to_string(),
            config,
            paused,
            next_due_at,
            waiting_due_at: None,
            resumed_at: now,
            created_at: now,
            updated_at: now,
        };
        self.store.create_schedule(&record).await?;
        Ok(record)
    }

    /// Lays a JSON merge patch over the schedule's config (`{"cron": "0 4 * * *"}`), checks
    /// the result as at creation, and stores it. A changed expression, zone or end date moves
    /// the next due time to the first after now under the new rule.
    pub async fn change_schedule(
        &self,
        s: &ScheduleRecord,
        patch: &serde_json::Value,
    ) -> Result<ScheduleRecord, SubmitError> {
        let mut doc =
            serde_json::to_value(&s.config).map_err(|e| SpecErrors::from(FieldError::new("", e.to_string())))?;
        merge(&mut doc, patch);
        let config: ScheduleConfig = berth_core::spec_load::from_json_value(doc).map_err(SpecErrors::from)?;
        let expr = config.check().map_err(SpecErrors)?;
        self.check_template(&config, &s.tenant).await?;
        let now = self.clock.now();
        let retimed =
            config.cron != s.config.cron || config.timezone != s.config.timezone || config.end_at != s.config.end_at;
        let due = retimed.then(|| expr.next_after(now).filter(|d| config.end_time().is_none_or(|e| *d <= e)));
        let mut changed = ScheduleRecord { config, updated_at: now, ..s.clone() };
        if let Some(d) = due {
            changed.next_due_at = d;
            changed.waiting_due_at = None;
        }
        self.store.update_schedule(&changed, due).await?;
        Ok(changed)
    }

    /// Pauses a schedule (no due times run while paused); pausing a paused one keeps the first pause.
    pub async fn pause_schedule(
        &self,
        s: &ScheduleRecord,
        by: &str,
        reason: &str,
    ) -> Result<ScheduleRecord, SubmitError> {
        if s.paused.is_some() {
            return Ok(s.clone());
        }
        let now = self.clock.now();
        let reason = if reason.is_empty() { "paused by a user".to_string() } else { reason.to_string() };
        let paused = ScheduleRecord {
            paused: Some(Pause { at: now, by: by.to_string(), reason }),
            updated_at: now,
            ..s.clone()
        };
        self.store.update_schedule(&paused, None).await?;
        Ok(paused)
    }

    /// Resumes a schedule: due times that passed while paused are skipped, and failures in a
    /// row are counted afresh.
    pub async fn resume_schedule(&self, s: &ScheduleRecord) -> Result<ScheduleRecord, SubmitError> {
        let expr = s.config.check().map_err(SpecErrors)?;
        let now = self.clock.now();
        let next = expr.next_after(now).filter(|d| s.config.end_time().is_none_or(|e| *d <= e));
        let resumed = ScheduleRecord {
            paused: None,
            next_due_at: next,
            waiting_due_at: None,
            resumed_at: now,
            updated_at: now,
            ..s.clone()
        };
        self.store.update_schedule(&resumed, Some(next)).await?;
        Ok(resumed)
    }

    /// Runs the schedule's job now, outside its due times and whatever its overlap policy
    /// (paused schedules too); the job carries `scheduled_at` = now and `berth.trigger=manual`.
    pub async fn trigger_schedule(&self, s: &ScheduleRecord) -> Result<JobRecord, SubmitError> {
        let now = self.clock.now();
        let due = ScheduleRef { id: s.id.clone(), due_at: now };
        let name = s.config.name.clone();
        let mark = |spec: &mut berth_core::spec::JobSpec| {
            mark_scheduled(spec, &name, &due, None);
            spec.labels.insert("berth.trigger".into(), "manual".into());
        };
        let (job, _) = self.enqueue_scheduled(s.config.spec.clone(), &s.tenant, due.clone(), mark).await?;
        Ok(job)
    }

    /// The template checked as a submission of `tenant` would be (the policy, secrets, the
    /// backend's capabilities); errors name `spec.<field>`.
    async fn check_template(&self, config: &ScheduleConfig, tenant: &str) -> Result<(), SubmitError> {
        match self.check_spec(&config.spec, tenant, false).await {
            Err(SubmitError::Invalid(SpecErrors(errors))) => {
                Err(SpecErrors(errors.into_iter().map(|e| FieldError::new(prefixed(&e.field), e.message)).collect())
                    .into())
            }
            Err(SubmitError::Denied(mut d)) => {
                d.field = prefixed(&d.field);
                Err(SubmitError::Denied(d))
            }
            other => other,
        }
    }
}

fn prefixed(field: &str) -> String {
    if field.is_empty() { "spec".to_string() } else { format!("spec.{field}") }
}

/// RFC 7396 JSON merge patch: objects merge, `null` removes, anything else replaces.
pub fn merge(doc: &mut serde_json::Value, patch: &serde_json::Value) {
    let Some(fields) = patch.as_object() else {
        *doc = patch.clone();
        return;
    };
    if !doc.is_object() {
        *doc = serde_json::Value::Object(serde_json::Map::new());
    }
    if let Some(target) = doc.as_object_mut() {
        for (k, v) in fields {
            if v.is_null() {
                target.remove(k);
            } else {
                merge(target.entry(k.clone()).or_insert(serde_json::Value::Null), v);
            }
        }
    }
}

/// The next `n` due times of an expression in a zone after `after` (a preview, saved or not).
pub fn preview(cron: &str, timezone: &str, after: Timestamp, n: usize) -> Result<Vec<Timestamp>, FieldError> {
    Ok(berth_core::schedule::CronExpr::parse(cron, timezone)?.upcoming(after, n))
}
