//! Retries and scheduling: which outcomes retry, how long to wait before the next attempt,
//! and the limits that decide where and when a queued job may start. Pure: the engine asks
//! `Retries::decide` after every attempt and writes what it answers.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::Timestamp;
use crate::quantity::DurationSpec;
use crate::status::{InfraKind, Reason, TimeoutPhase};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Retries {
    /// Attempts in all, the first included (1 = no retries).
    #[serde(default = "one")]
    pub max_attempts: u32,
    #[serde(default)]
    pub backoff: BackoffKind,
    /// Wait before the first retry (exponential doubles it each time).
    #[serde(default = "default_delay")]
    pub delay: DurationSpec,
    /// The longest wait between attempts.
    #[serde(default = "default_max_delay")]
    pub max_delay: DurationSpec,
    /// Random spread added to each wait, as a fraction of it (0 to 1).
    #[serde(default = "default_jitter")]
    pub jitter: f64,
    /// Outcomes that retry (default: `infra`, `worker_lost`).
    #[serde(default = "default_on")]
    pub on: Vec<RetryOn>,
    /// Exit codes that retry too (e.g. `[75]` for "temporary failure").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exit_codes: Vec<i64>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BackoffKind {
    Fixed,
    #[default]
    Exponential,
}

/// An outcome class a retry policy can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RetryOn {
    /// The infrastructure failed (pull, create, daemon, ...): the job may be fine.
    Infra,
    /// The worker running it vanished (crash, lease expiry).
    WorkerLost,
    OomKilled,
    /// Killed by a signal berth did not send.
    Signaled,
    /// The run timeout (never the queue or total timeout).
    TimedOut,
    /// Any non-zero exit.
    Failed,
}

fn one() -> u32 {
    1
}
fn default_delay() -> DurationSpec {
    DurationSpec::secs(1)
}
fn default_max_delay() -> DurationSpec {
    DurationSpec::secs(300)
}
fn default_jitter() -> f64 {
    0.1
}
fn default_on() -> Vec<RetryOn> {
    vec![RetryOn::Infra, RetryOn::WorkerLost]
}

impl Default for Retries {
    fn default() -> Self {
        Retries {
            max_attempts: one(),
            backoff: BackoffKind::default(),
            delay: default_delay(),
            max_delay: default_max_delay(),
            jitter: default_jitter(),
            on: default_on(),
            exit_codes: Vec::new(),
        }
    }
}

/// What to do after an attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Queue another attempt, due at this time.
    Retry { run_at: Timestamp },
    /// Record the ending as the job's final status.
    End(Reason),
}

/// What `decide` needs to know about the job so far.
#[derive(Clone, Copy, Debug)]
pub struct History {
    /// Attempts made, the one that just ended included.
    pub attempts: u32,
    /// Attempts that ended because the engine was unreachable before the job ran; they do
    /// not use up the budget (the job never ran), up to `FREE_INFRA_RETRIES`.
    pub unreachable: u32,
    pub created_at: Timestamp,
    pub now: Timestamp,
    /// The spec's total timeout.
    pub total: Option<Duration>,
    /// A number in [0, 1) for the jitter.
    pub random: f64,
}

/// How many daemon-unreachable attempts may be retried beyond `max_attempts`.
pub const FREE_INFRA_RETRIES: u32 = 5;

impl Retries {
    pub fn retries(&self, reason: &Reason) -> bool {
        let on = |c: RetryOn| self.on.contains(&c);
        match reason {
            Reason::Exited { code: 0 } => false,
            Reason::Exited { code } => on(RetryOn::Failed) || self.exit_codes.contains(code),
            Reason::Signaled { .. } => on(RetryOn::Signaled) || on(RetryOn::Failed),
            Reason::OomKilled => on(RetryOn::OomKilled) || on(RetryOn::Failed),
            Reason::TimedOut { phase: TimeoutPhase::Run } => on(RetryOn::TimedOut),
            Reason::WorkerLost => on(RetryOn::WorkerLost),
            Reason::Infra { infra: InfraKind::DaemonUnavailable, .. } => true,
            Reason::Infra { .. } => on(RetryOn::Infra),
            Reason::TimedOut { .. } | Reason::Cancelled { .. } | Reason::PolicyDenied { .. } => false,
        }
    }

    /// The wait before attempt `attempts + 1`, jitter included.
    pub fn backoff(&self, attempts: u32, random: f64) -> Duration {
        let base = self.delay.0;
        let wait = match self.backoff {
            BackoffKind::Fixed => base,
            BackoffKind::Exponential => base.saturating_mul(1u32 << attempts.saturating_sub(1).min(20)),
        };
        let wait = wait.min(self.max_delay.0);
        wait + wait.mul_f64(self.jitter.clamp(0.0, 1.0) * random.clamp(0.0, 1.0))
    }

    pub fn decide(&self, ending: Reason, h: History) -> Decision {
        let unreachable = matches!(ending, Reason::Infra { infra: InfraKind::DaemonUnavailable, .. });
        let free = h.unreachable.min(FREE_INFRA_RETRIES);
        let budget =
            if unreachable && h.unreachable <= FREE_INFRA_RETRIES { u32::MAX } else { self.max_attempts + free };
        if !self.retries(&ending) || h.attempts >= budget {
            return Decision::End(ending);
        }
        let wait = self.backoff(h.attempts, h.random);
        let run_at = Timestamp(h.now.0 + wait.as_millis() as i64);
        match h.total {
            Some(total) if run_at.0 >= h.created_at.0 + total.as_millis() as i64 => {
                Decision::End(Reason::TimedOut { phase: TimeoutPhase::Total })
            }
            _ => Decision::Retry { run_at },
        }
    }
}

/// At most `limit` jobs sharing `key` (within a tenant) run at once, across all workers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Concurrency {
    pub key: String,
    #[serde(default = "one")]
    pub limit: u32,
}

/// Whether a worker with `tags` may run a job that `requires` these tags.
pub fn tags_match(requires: &BTreeMap<String, String>, tags: &BTreeMap<String, String>) -> bool {
    requires.iter().all(|(k, v)| tags.get(k) == Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(attempts: u32) -> History {
        History { attempts, unreachable: 0, created_at: Timestamp(0), now: Timestamp(10_000), total: None, random: 0.0 }
    }

    #[test]
    fn default_policy_never_retries_a_failed_job() {
        let r = Retries::default();
        assert_eq!(r.decide(Reason::Exited { code: 1 }, history(1)), Decision::End(Reason::Exited { code: 1 }));
        assert_eq!(r.decide(Reason::WorkerLost, history(1)), Decision::End(Reason::WorkerLost));
    }

    #[test]
    fn retries_until_the_budget_is_spent() {
        let r = Retries { max_attempts: 3, exit_codes: vec![75], ..Retries::default() };
        assert_eq!(r.decide(Reason::Exited { code: 75 }, history(1)), Decision::Retry { run_at: Timestamp(11_000) });
        assert_eq!(r.decide(Reason::WorkerLost, history(2)), Decision::Retry { run_at: Timestamp(12_000) });
        assert_eq!(r.decide(Reason::WorkerLost, history(3)), Decision::End(Reason::WorkerLost));
        assert_eq!(r.decide(Reason::Exited { code: 1 }, history(1)), Decision::End(Reason::Exited { code: 1 }));
        let cancelled = Reason::Cancelled { by: "x".into() };
        assert_eq!(r.decide(cancelled.clone(), history(1)), Decision::End(cancelled));
    }

    #[test]
    fn backoff_doubles_caps_and_jitters() {
        let r = Retries { delay: DurationSpec::secs(2), max_delay: DurationSpec::secs(10), ..Retries::default() };
        let waits: Vec<u64> = (1..=5).map(|n| r.backoff(n, 0.0).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 10, 10]);
        assert_eq!(r.backoff(1, 0.5).as_millis(), 2100);
        let fixed = Retries { backoff: BackoffKind::Fixed, ..r };
        assert_eq!(fixed.backoff(4, 0.0).as_secs(), 2);
    }

    #[test]
    fn an_unreachable_daemon_does_not_use_up_attempts() {
        let r = Retries::default();
        let down = Reason::Infra { infra: InfraKind::DaemonUnavailable, message: "down".into() };
        let h = History { unreachable: 1, ..history(1) };
        assert!(matches!(r.decide(down.clone(), h), Decision::Retry { .. }));
        let h = History { unreachable: FREE_INFRA_RETRIES + 1, ..history(FREE_INFRA_RETRIES + 1) };
        assert_eq!(r.decide(down.clone(), h), Decision::End(down));
    }

    #[test]
    fn a_retry_past_the_total_timeout_ends_the_job() {
        let r = Retries { max_attempts: 5, ..Retries::default() };
        let h = History { total: Some(Duration::from_millis(10_500)), ..history(1) };
        assert_eq!(r.decide(Reason::WorkerLost, h), Decision::End(Reason::TimedOut { phase: TimeoutPhase::Total }));
    }

    #[test]
    fn tags_route_jobs() {
        let tags = BTreeMap::from([("region".to_string(), "eu".to_string()), ("gpu".into(), "a100".into())]);
        assert!(tags_match(&BTreeMap::new(), &tags));
        assert!(tags_match(&BTreeMap::from([("region".into(), "eu".into())]), &tags));
        assert!(!tags_match(&BTreeMap::from([("region".into(), "us".into())]), &tags));
        assert!(!tags_match(&BTreeMap::from([("disk".into(), "ssd".into())]), &tags));
    }
}
