//! The job lifecycle: statuses, the transitions allowed between them, and the one normalized
//! reason every terminal status carries (so exit code 137 never needs guessing).
//!
//! `queued → starting → running → succeeded | failed | timed_out | cancelled | lost | error`,
//! and back from `starting`/`running` to `queued` when an attempt's retry policy asks for
//! another attempt. Every store write of a status goes through `JobStatus::check_transition`,
//! except `JobStore::requeue` (`berth retry` of a job that ended without success).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Queued,
    Starting,
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Cancelled,
    Lost,
    Error,
}

impl JobStatus {
    pub const ALL: [JobStatus; 9] = [
        JobStatus::Queued,
        JobStatus::Starting,
        JobStatus::Running,
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::TimedOut,
        JobStatus::Cancelled,
        JobStatus::Lost,
        JobStatus::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Starting => "starting",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::TimedOut => "timed_out",
            JobStatus::Cancelled => "cancelled",
            JobStatus::Lost => "lost",
            JobStatus::Error => "error",
        }
    }

    pub fn is_terminal(self) -> bool {
        !matches!(self, JobStatus::Queued | JobStatus::Starting | JobStatus::Running)
    }

    /// Only unfinished jobs can be cancelled.
    pub fn can_cancel(self) -> bool {
        !self.is_terminal()
    }

    /// Only finished jobs can be removed; a running job is cancelled first.
    pub fn can_remove(self) -> bool {
        self.is_terminal()
    }

    /// A manual retry puts a job that ended without success back in the queue; it is the one
    /// way out of a terminal status, and it starts a new attempt.
    pub fn can_retry(self) -> bool {
        self.is_terminal() && self != JobStatus::Succeeded
    }

    /// Whether `self → next` is a legal step. Terminal statuses never change; any unfinished
    /// status may end (cancel, loss, error can happen at any point before the end).
    pub fn can_transition_to(self, next: JobStatus) -> bool {
        use JobStatus::*;
        match (self, next) {
            (Queued, Starting) | (Starting, Running) => true,
            // A retry puts a job back in the queue; a start that fails early may go straight
            // from queued to a terminal status.
            (Starting | Running, Queued) => true,
            (from, to) if !from.is_terminal() && to.is_terminal() => true,
            _ => false,
        }
    }

    pub fn check_transition(self, next: JobStatus) -> Result<(), TransitionError> {
        if self.can_transition_to(next) { Ok(()) } else { Err(TransitionError { from: self, to: next }) }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a job that is {from} cannot become {to}")]
pub struct TransitionError {
    pub from: JobStatus,
    pub to: JobStatus,
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobStatus::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| {
            let names: Vec<_> = JobStatus::ALL.iter().map(|s| s.as_str()).collect();
            format!("`{s}` is not a job status: expected one of {}", names.join(", "))
        })
    }
}

/// Which limit a job ran into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimeoutPhase {
    Queue,
    Run,
    Total,
}

/// Which part of the infrastructure failed (the job itself may be fine).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InfraKind {
    PullFailed,
    ImageNotFound,
    CreateFailed,
    StartFailed,
    GpuUnavailable,
    DaemonUnavailable,
    StoreFailed,
    OutputFailed,
    /// The node evicted the unit (memory or disk pressure, preemption): it may run elsewhere.
    Evicted,
    /// The node running the unit was lost: it may run elsewhere.
    NodeLost,
}

impl InfraKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InfraKind::PullFailed => "pull_failed",
            InfraKind::ImageNotFound => "image_not_found",
            InfraKind::CreateFailed => "create_failed",
            InfraKind::StartFailed => "start_failed",
            InfraKind::GpuUnavailable => "gpu_unavailable",
            InfraKind::DaemonUnavailable => "daemon_unavailable",
            InfraKind::StoreFailed => "store_failed",
            InfraKind::OutputFailed => "output_failed",
            InfraKind::Evicted => "evicted",
            InfraKind::NodeLost => "node_lost",
        }
    }
}

/// How a job ended, normalized across backends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    Exited { code: i64 },
    Signaled { signal: i32 },
    OomKilled,
    TimedOut { phase: TimeoutPhase },
    Cancelled { by: String },
    WorkerLost,
    Infra { infra: InfraKind, message: String },
    PolicyDenied { message: String },
}

impl Reason {
    /// The terminal status this reason implies.
    pub fn status(&self) -> JobStatus {
        match self {
            Reason::Exited { code: 0 } => JobStatus::Succeeded,
            Reason::Exited { .. } | Reason::Signaled { .. } | Reason::OomKilled => JobStatus::Failed,
            Reason::TimedOut { .. } => JobStatus::TimedOut,
            Reason::Cancelled { .. } => JobStatus::Cancelled,
            Reason::WorkerLost => JobStatus::Lost,
            Reason::Infra { .. } | Reason::PolicyDenied { .. } => JobStatus::Error,
        }
    }

    /// Normalizes a container's exit. `stopped_by_us` is set when berth sent the stop (timeout,
    /// cancel), in which case the caller's reason wins over whatever exit code followed.
    /// An OOM kill is trusted from either the `oom` event or the `OOMKilled` flag (the flag
    /// alone is racy on cgroup v1). Codes above 128 from a signal-killed init are `signaled`.
    pub fn from_exit(code: i64, oom_killed: bool) -> Reason {
        if oom_killed && code != 0 {
            return Reason::OomKilled;
        }
        match code {
            129..=192 => Reason::Signaled { signal: (code - 128) as i32 },
            _ => Reason::Exited { code },
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Exited { code } => write!(f, "exited({code})"),
            Reason::Signaled { signal } => write!(f, "signaled({signal})"),
            Reason::OomKilled => write!(f, "oom_killed"),
            Reason::TimedOut { phase } => {
                let p = match phase {
                    TimeoutPhase::Queue => "queue",
                    TimeoutPhase::Run => "run",
                    TimeoutPhase::Total => "total",
                };
                write!(f, "timed_out({p})")
            }
            Reason::Cancelled { by } => write!(f, "cancelled({by})"),
            Reason::WorkerLost => write!(f, "worker_lost"),
            Reason::Infra { infra, .. } => write!(f, "infra({})", infra.as_str()),
            Reason::PolicyDenied { .. } => write!(f, "policy_denied"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use JobStatus::*;

    #[test]
    fn terminal_statuses_never_change() {
        for from in JobStatus::ALL.into_iter().filter(|s| s.is_terminal()) {
            for to in JobStatus::ALL {
                assert!(!from.can_transition_to(to), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn the_happy_path_and_early_ends_are_allowed() {
        assert!(Queued.can_transition_to(Starting));
        assert!(Starting.can_transition_to(Running));
        assert!(Running.can_transition_to(Succeeded));
        assert!(Queued.can_transition_to(Cancelled));
        assert!(Starting.can_transition_to(Error));
        assert!(!Queued.can_transition_to(Running));
        assert!(!Running.can_transition_to(Starting));
        assert_eq!(
            Succeeded.check_transition(Running).unwrap_err().to_string(),
            "a job that is succeeded cannot become running"
        );
    }

    #[test]
    fn exits_normalize() {
        let cases = [
            (0, false, "exited(0)", Succeeded),
            (3, false, "exited(3)", Failed),
            (137, true, "oom_killed", Failed),
            (137, false, "signaled(9)", Failed),
            (143, false, "signaled(15)", Failed),
            // A child was OOM-killed but the main process carried on and succeeded.
            (0, true, "exited(0)", Succeeded),
            (255, false, "exited(255)", Failed),
        ];
        for (code, oom, text, status) in cases {
            let r = Reason::from_exit(code, oom);
            assert_eq!((r.to_string().as_str(), r.status()), (text, status), "{code} {oom}");
        }
    }

    #[test]
    fn reasons_serialize_tagged() {
        let r = Reason::TimedOut { phase: TimeoutPhase::Run };
        assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"kind":"timed_out","phase":"run"}"#);
        let back: Reason = serde_json::from_str(r#"{"kind":"exited","code":2}"#).unwrap();
        assert_eq!(back, Reason::Exited { code: 2 });
    }
}
