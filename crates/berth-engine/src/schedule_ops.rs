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
    pub async fn create_schedule(
        &self,
        tenant: &str,
        config: ScheduleConfig,
        by: &str,
    ) -> Result<ScheduleRecord, SubmitError> {
        let expr = config.check().map_err(SpecErrors)?;
        self.check_template(&config, tenant).await?;
        let now = self.clock.now();
        let paused = config.paused.then(|| Pause { at: now, by: by.to_string(), reason: "created paused".into() });
        let next_due_at = config.first_due_after(&expr, now);
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
            version: 0,
        };
        self.store.create_schedule(&record).await?;
        Ok(record)
    }

    /// Lays a JSON merge patch over the schedule's config (`{"cron": "0 4 * * *"}`), checks
    /// the result as at creation, and stores it. A changed expression, zone or end date moves
    /// the next due time to the first after now under the new rule. Written by
    /// compare-and-set on the schedule's version: a concurrent write (a pause) is kept, and
    /// the patch is laid over it again.
    pub async fn change_schedule(
        &self,
        s: &ScheduleRecord,
        patch: &serde_json::Value,
    ) -> Result<ScheduleRecord, SubmitError> {
        let mut current = s.clone();
        for _ in 0..WRITE_TRIES {
            let mut doc = serde_json::to_value(&current.config)
                .map_err(|e| SpecErrors::from(FieldError::new("", e.to_string())))?;
            merge(&mut doc, patch);
            let config: ScheduleConfig = berth_core::spec_load::from_json_value(doc).map_err(SpecErrors::from)?;
            let expr = config.check().map_err(SpecErrors)?;
            self.check_template(&config, &current.tenant).await?;
            let now = self.clock.now();
            let old = &current.config;
            let retimed = config.cron != old.cron || config.timezone != old.timezone || config.end_at != old.end_at;
            let due = retimed.then(|| config.first_due_after(&expr, now));
            let mut changed = ScheduleRecord { config, updated_at: now, ..current.clone() };
            if let Some(d) = due {
                changed.next_due_at = d;
                changed.waiting_due_at = None;
            }
            if self.store.update_schedule(&changed, due).await? {
                changed.version += 1;
                return Ok(changed);
            }
            current = self.store.get_schedule(&s.id).await?;
        }
        Err(busy(s))
    }

    /// Pauses a schedule (no due times run while paused); pausing a paused one keeps the first pause.
    pub async fn pause_schedule(
        &self,
        s: &ScheduleRecord,
        by: &str,
        reason: &str,
    ) -> Result<ScheduleRecord, SubmitError> {
        let reason = if reason.is_empty() { "paused by a user".to_string() } else { reason.to_string() };
        let mut current = s.clone();
        for _ in 0..WRITE_TRIES {
            if current.paused.is_some() {
                return Ok(current);
            }
            let now = self.clock.now();
            let pause = Pause { at: now, by: by.to_string(), reason: reason.clone() };
            let mut paused = ScheduleRecord { paused: Some(pause), updated_at: now, ..current.clone() };
            if self.store.update_schedule(&paused, None).await? {
                paused.version += 1;
                return Ok(paused);
            }
            current = self.store.get_schedule(&s.id).await?;
        }
        Err(busy(s))
    }

    /// Resumes a schedule: due times that passed while paused are skipped, and failures in a
    /// row are counted afresh. Resuming an unpaused one changes nothing.
    pub async fn resume_schedule(&self, s: &ScheduleRecord) -> Result<ScheduleRecord, SubmitError> {
        let mut current = s.clone();
        for _ in 0..WRITE_TRIES {
            if current.paused.is_none() {
                return Ok(current);
            }
            let expr = current.config.check().map_err(SpecErrors)?;
            let now = self.clock.now();
            let next = current.config.first_due_after(&expr, now);
            let mut resumed = ScheduleRecord {
                paused: None,
                next_due_at: next,
                waiting_due_at: None,
                resumed_at: now,
                updated_at: now,
                ..current.clone()
            };
            if self.store.update_schedule(&resumed, Some(next)).await? {
                resumed.version += 1;
                return Ok(resumed);
            }
            current = self.store.get_schedule(&s.id).await?;
        }
        Err(busy(s))
    }

    /// Runs the schedule's job now, outside its due times and whatever its overlap policy
    /// (paused schedules too); the job carries `scheduled_at` = now and `berth.trigger=manual`.
    pub async fn trigger_schedule(&self, s: &ScheduleRecord) -> Result<JobRecord, SubmitError> {
        let now = self.clock.now();
        let due = ScheduleRef { id: s.id.clone(), due_at: now, manual: true };
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

/// How often a schedule write is tried again after losing to a concurrent one.
const WRITE_TRIES: usize = 5;

fn busy(s: &ScheduleRecord) -> SubmitError {
    SubmitError::Store(berth_core::store::StoreError::Conflict(format!(
        "schedule {} keeps changing under this write: try again",
        s.config.name
    )))
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
