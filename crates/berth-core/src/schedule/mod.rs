//! Schedules: a cron expression in a time zone that makes jobs from a spec template, with
//! what to do when runs overlap or were missed. The types, the cron reading (`cron`) and
//! the pure planner (`plan`: which due times run now) live here; the engine's scheduler
//! does the reading and writing.

pub mod cron;
pub mod plan;
mod store;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::Timestamp;
use crate::ids::JobId;
use crate::quantity::DurationSpec;
use crate::spec::JobSpec;
use crate::spec_load::FieldError;

pub use cron::CronExpr;
pub use store::ScheduleStore;

/// What a due time does while an earlier job of the schedule is still queued or running.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Overlap {
    /// Start it anyway.
    Allow,
    /// Do not start it (counted as skipped).
    #[default]
    Skip,
    /// Start it when the running one ends; one waits at most, later ones are skipped.
    QueueOne,
    /// Cancel the running one, then start it.
    CancelPrevious,
}

/// What due times that passed while no scheduler was alive do when one comes back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Missed {
    /// None of them run.
    Skip,
    /// The latest of them runs, once.
    #[default]
    RunOnce,
    /// Each of them within `catch_up_window` runs, the latest `catch_up_max` at most.
    CatchUp,
}

/// A schedule as its owner writes it (the API body, `berth schedule add -f FILE`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Unique per tenant: lowercase letters, digits, `-`, `_` and `.`, up to 63.
    pub name: String,
    /// 5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, or
    /// `@yearly`, `@monthly`, `@weekly`, `@daily`, `@hourly`.
    #[schema(example = "0 3 * * *")]
    pub cron: String,
    /// An IANA time zone the expression is read in.
    #[serde(default = "utc")]
    #[schema(example = "Europe/Berlin")]
    pub timezone: String,
    /// The job each due time creates (checked like any submission).
    #[schema(value_type = Object)]
    pub spec: JobSpec,
    #[serde(default)]
    pub overlap: Overlap,
    #[serde(default)]
    pub missed: Missed,
    /// `catch-up` only: missed due times older than this stay missed.
    #[serde(default = "day")]
    #[schema(value_type = String, example = "24h")]
    pub catch_up_window: DurationSpec,
    /// `catch-up` only: at most this many missed due times run (the latest ones).
    #[serde(default = "ten")]
    pub catch_up_max: u32,
    /// Each job starts up to this long after its due time (the same delay on every node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "30s")]
    pub jitter: Option<DurationSpec>,
    /// No due times after this (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "2027-01-01T00:00:00Z")]
    pub end_at: Option<String>,
    /// Pause the schedule when this many of its jobs in a row failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_after_failures: Option<u32>,
    /// Create it paused (read at creation only).
    #[serde(default, skip_serializing)]
    pub paused: bool,
}

fn utc() -> String {
    "UTC".to_string()
}
fn day() -> DurationSpec {
    DurationSpec::secs(86_400)
}
fn ten() -> u32 {
    10
}

/// The longest jitter: a job starts at most this long after its due time.
pub const MAX_JITTER: DurationSpec = DurationSpec::secs(3600);
/// The most missed due times one catch-up runs.
pub const MAX_CATCH_UP: u32 = 1000;

impl ScheduleConfig {
    /// Checks everything but the spec (the runner checks that, as for any job): the name,
    /// the expression in its zone, the end date and the policy numbers.
    pub fn check(&self) -> Result<CronExpr, Vec<FieldError>> {
        let mut errors = Vec::new();
        if let Err(m) = check_name(&self.name) {
            errors.push(FieldError::new("name", m));
        }
        let expr = CronExpr::parse(&self.cron, &self.timezone).map_err(|e| errors.push(e)).ok();
        if self.end_at.is_some() && self.end_time().is_none() {
            errors.push(FieldError::new("end_at", "expected an RFC 3339 time such as 2027-01-01T00:00:00Z"));
        }
        if self.jitter.is_some_and(|j| j > MAX_JITTER) {
            errors.push(FieldError::new("jitter", format!("at most {MAX_JITTER}")));
        }
        if !(1..=MAX_CATCH_UP).contains(&self.catch_up_max) {
            errors.push(FieldError::new("catch_up_max", format!("expected 1 to {MAX_CATCH_UP}")));
        }
        if self.pause_after_failures == Some(0) {
            errors.push(FieldError::new("pause_after_failures", "expected at least 1 (or leave it out)"));
        }
        match expr {
            Some(expr) if errors.is_empty() => Ok(expr),
            _ => Err(errors),
        }
    }

    /// The first due time of `expr` (this config's, checked) after `t`, unless past `end_at`.
    pub fn first_due_after(&self, expr: &CronExpr, t: Timestamp) -> Option<Timestamp> {
        expr.next_after(t).filter(|d| self.end_time().is_none_or(|e| *d <= e))
    }

    /// `end_at` as a time, when it reads as one.
    pub fn end_time(&self) -> Option<Timestamp> {
        let t = humantime::parse_rfc3339_weak(self.end_at.as_deref()?).ok()?;
        let ms = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis();
        i64::try_from(ms).ok().map(Timestamp)
    }

    /// The delay of the job for `due`: the same on every node, spread over `jitter`.
    pub fn jitter_for(&self, schedule_id: &str, due: Timestamp) -> u64 {
        use sha2::{Digest, Sha256};
        let Some(j) = self.jitter.map(|j| j.0.as_millis() as u64).filter(|j| *j > 0) else { return 0 };
        let digest = Sha256::digest(format!("{schedule_id}:{}", due.0).as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_le_bytes(first) % j
    }
}

/// A schedule's name: what a person types (`berth schedule show nightly`).
pub fn check_name(name: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.');
    let starts_ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if name.is_empty() || name.len() > 63 || !starts_ok || !name.chars().all(ok_char) {
        return Err(format!(
            "`{name}` is not a schedule name: 1 to 63 lowercase letters, digits, `-`, `_` or `.`, starting with a letter or digit"
        ));
    }
    if name.parse::<JobId>().is_ok() {
        return Err(format!("`{name}` reads as a schedule id (32 hex digits): pick another name"));
    }
    Ok(())
}

/// Why a schedule is paused, by whom and since when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Pause {
    #[schema(value_type = i64)]
    pub at: Timestamp,
    /// `user:<token id>`, or `berth` for a pause after failures.
    pub by: String,
    pub reason: String,
}

/// A stored schedule: its config, and where its clock stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScheduleRecord {
    /// 32 hex digits, like a job id.
    pub id: String,
    pub tenant: String,
    pub config: ScheduleConfig,
    pub paused: Option<Pause>,
    /// The first due time not handled yet; `None` once `end_at` has passed.
    pub next_due_at: Option<Timestamp>,
    /// `queue-one`: the due time waiting for the running job to end.
    pub waiting_due_at: Option<Timestamp>,
    /// Failures in a row are counted from here (creation, or the last resume).
    pub resumed_at: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Grows with every write of the config or the pause: writes are compare-and-set on it.
    pub version: i64,
}

impl ScheduleRecord {
    pub fn state(&self) -> ScheduleState {
        match (&self.paused, self.next_due_at) {
            (Some(_), _) => ScheduleState::Paused,
            (None, None) => ScheduleState::Ended,
            (None, Some(_)) => ScheduleState::Active,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleState {
    Active,
    Paused,
    /// Its `end_at` has passed: it makes no more jobs.
    Ended,
}

impl ScheduleState {
    pub const ALL: [ScheduleState; 3] = [ScheduleState::Active, ScheduleState::Paused, ScheduleState::Ended];
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleState::Active => "active",
            ScheduleState::Paused => "paused",
            ScheduleState::Ended => "ended",
        }
    }
}

/// Which schedule made a job, for which due time (the unique key of a firing), or when it
/// was triggered by hand (`manual`: outside the due times, never deduplicated).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleRef {
    pub id: String,
    pub due_at: Timestamp,
    #[serde(default)]
    pub manual: bool,
}
