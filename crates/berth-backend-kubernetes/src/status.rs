//! What a pod's status says about its attempt, normalized: still waiting (and on what),
//! running, or ended (an exit, or an infrastructure failure). Pure, so every path is tested
//! from status JSON. Known traps handled: `OOMKilled` with exit code 0 (kubernetes#131530,
//! #116042), a pod evicted before or after its container ended, a failed Job that never
//! completes, a deleted pod with no terminated state (node lost).

use berth_core::backend::{BackendError, ExitInfo};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

use crate::translate::{MAIN, STAGE};

/// Why a pod has not started yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stall {
    /// The kubelet cannot get the image (`ErrImagePull`, `ImagePullBackOff`, ...).
    Pull(String),
    /// No node can take the pod.
    Unschedulable(String),
    /// Any other waiting reason (`ContainerCreating`, a volume not yet mounted, ...).
    Other(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum PodState {
    Waiting(Option<Stall>),
    Running,
    Ended(Result<ExitInfo, BackendError>),
}

const PULL_REASONS: [&str; 5] =
    ["ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName", "RegistryUnavailable"];
const CREATE_REASONS: [&str; 2] = ["CreateContainerError", "RunContainerError"];

/// The attempt's state from its pod.
pub fn read(pod: &Pod) -> PodState {
    let Some(status) = &pod.status else { return PodState::Waiting(None) };
    if let Some(ended) = evicted(pod) {
        return ended;
    }
    let main = container(status.container_statuses.as_deref(), MAIN);
    if let Some(t) = main.and_then(|c| c.state.as_ref()?.terminated.as_ref()) {
        // The kubelet's reason is the truth for OOM, whatever the exit code says.
        let oom = t.reason.as_deref() == Some("OOMKilled");
        let code = if oom && t.exit_code == 0 { 137 } else { i64::from(t.exit_code) };
        return PodState::Ended(Ok(ExitInfo { code, oom_killed: oom, ..ExitInfo::default() }));
    }
    if let Some(stage) = container(status.init_container_statuses.as_deref(), STAGE)
        && let Some(t) = stage.state.as_ref().and_then(|s| s.terminated.as_ref())
        && t.exit_code != 0
    {
        let why = t.message.clone().unwrap_or_default();
        return PodState::Ended(Err(BackendError::Files(format!(
            "placing the input files exited {}: {why}",
            t.exit_code
        ))));
    }
    if main.and_then(|c| c.state.as_ref()?.running.as_ref()).is_some() {
        return PodState::Running;
    }
    if let Some(stall) = waiting(pod) {
        return stall;
    }
    if status.phase.as_deref() == Some("Failed") {
        let why = status.message.clone().or(status.reason.clone()).unwrap_or_else(|| "the pod failed".into());
        return PodState::Ended(Err(BackendError::Start(why)));
    }
    PodState::Waiting(None)
}

fn container<'a>(list: Option<&'a [ContainerStatus]>, name: &str) -> Option<&'a ContainerStatus> {
    list?.iter().find(|c| c.name == name)
}

/// Eviction ends the attempt as infrastructure, even if its container was killed with an
/// exit code: the job did not fail, its node pushed it out. The kubelet says so in the pod's
/// reason; the eviction API, preemption, the taint manager and the pod GC in a
/// `DisruptionTarget` condition.
fn evicted(pod: &Pod) -> Option<PodState> {
    let status = pod.status.as_ref()?;
    let finished = main_terminated(pod).and_then(|t| t.finished_at.clone()).map(|t| t.0);
    let disruption = status.conditions.iter().flatten().find(|c| {
        // A container that had already ended on its own (the helper kept the pod) was not disrupted.
        let before = matches!((&c.last_transition_time, finished), (Some(at), Some(f)) if f < at.0);
        c.type_ == "DisruptionTarget" && c.status == "True" && !before
    });
    if let Some(c) = disruption {
        let message = format!("{}: {}", c.reason.clone().unwrap_or_default(), c.message.clone().unwrap_or_default());
        return Some(PodState::Ended(Err(match c.reason.as_deref() {
            Some("DeletionByTaintManager" | "DeletionByPodGC") => BackendError::NodeLost(message),
            _ => BackendError::Evicted(message),
        })));
    }
    let message = status.message.clone().unwrap_or_default();
    match status.reason.as_deref()? {
        "Evicted" | "Preempting" | "Terminated" => Some(PodState::Ended(Err(BackendError::Evicted(message)))),
        "NodeLost" | "UnexpectedAdmissionError" | "NodeShutdown" => {
            Some(PodState::Ended(Err(BackendError::NodeLost(format!("{message} ({})", status.reason.as_deref()?)))))
        }
        _ => None,
    }
}

/// Waiting for the image, a node or anything else; a container that cannot be created ends it.
fn waiting(pod: &Pod) -> Option<PodState> {
    let status = pod.status.as_ref()?;
    let all = status.init_container_statuses.iter().chain(&status.container_statuses).flatten();
    for c in all {
        let Some(w) = c.state.as_ref().and_then(|s| s.waiting.as_ref()) else { continue };
        let reason = w.reason.clone().unwrap_or_default();
        let message = format!("{reason}: {}", w.message.clone().unwrap_or_default());
        if PULL_REASONS.contains(&reason.as_str()) {
            return Some(PodState::Waiting(Some(Stall::Pull(message))));
        }
        if CREATE_REASONS.contains(&reason.as_str()) {
            return Some(PodState::Ended(Err(BackendError::Create(message))));
        }
        if reason != "ContainerCreating" && reason != "PodInitializing" {
            return Some(PodState::Waiting(Some(Stall::Other(message))));
        }
    }
    let unschedulable = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False" && c.reason.as_deref() == Some("Unschedulable"));
    unschedulable.map(|c| PodState::Waiting(Some(Stall::Unschedulable(c.message.clone().unwrap_or_default()))))
}

/// Whether the Job's own deadline (`activeDeadlineSeconds`) ended the job's container: the
/// Job failed on it no later than the container finished (a container that ended first, and a
/// Job that passed its deadline later while the helper waited, is not a timeout).
pub fn deadline_exceeded(job: &Job, pod: &Pod) -> bool {
    let finished = main_terminated(pod).and_then(|t| t.finished_at.clone()).map(|t| t.0);
    let conditions = job.status.as_ref().and_then(|s| s.conditions.as_ref());
    conditions.into_iter().flatten().any(|c| {
        matches!(c.type_.as_str(), "Failed" | "FailureTarget")
            && c.status == "True"
            && c.reason.as_deref() == Some("DeadlineExceeded")
            && match (&c.last_transition_time, finished) {
                (Some(at), Some(finished)) => at.0 <= finished,
                _ => true,
            }
    })
}

fn main_terminated(pod: &Pod) -> Option<&k8s_openapi::api::core::v1::ContainerStateTerminated> {
    let status = pod.status.as_ref()?;
    container(status.container_statuses.as_deref(), MAIN)?.state.as_ref()?.terminated.as_ref()
}

/// A pod deleted with no terminated state for its container: the node went away with it,
/// or someone deleted it while it ran.
pub fn vanished(pod: &Pod) -> BackendError {
    match read(pod) {
        PodState::Ended(Err(e)) => e,
        _ => {
            let node = pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
            BackendError::NodeLost(format!("pod {} on node {node:?} was deleted before its container ended", name(pod)))
        }
    }
}

pub fn name(pod: &Pod) -> String {
    pod.metadata.name.clone().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({"metadata": {"name": "p"}, "status": status})).unwrap()
    }

    fn main(state: serde_json::Value) -> Pod {
        pod(serde_json::json!({"phase": "Running", "containerStatuses": [
            {"name": "main", "image": "x", "imageID": "", "ready": false, "restartCount": 0, "state": state},
            {"name": "berth-output", "image": "x", "imageID": "", "ready": true, "restartCount": 0,
             "state": {"running": {}}}]}))
    }

    fn exit(p: &Pod) -> (i64, bool) {
        match read(p) {
            PodState::Ended(Ok(e)) => (e.code, e.oom_killed),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn exits_and_oom_come_from_the_main_container() {
        assert_eq!(exit(&main(serde_json::json!({"terminated": {"exitCode": 3, "reason": "Error"}}))), (3, false));
        let oom = main(serde_json::json!({"terminated": {"exitCode": 137, "reason": "OOMKilled"}}));
        assert_eq!(exit(&oom), (137, true));
        // kubernetes#131530: OOMKilled with exit code 0 is still an OOM kill.
        let zero = main(serde_json::json!({"terminated": {"exitCode": 0, "reason": "OOMKilled"}}));
        assert_eq!(exit(&zero), (137, true));
        assert_eq!(read(&main(serde_json::json!({"running": {}}))), PodState::Running);
    }

    #[test]
    fn eviction_and_node_loss_are_infrastructure() {
        let mut evicted = main(serde_json::json!({"terminated": {"exitCode": 137, "reason": "Error"}}));
        let status = evicted.status.as_mut().unwrap();
        status.reason = Some("Evicted".into());
        status.message = Some("low on memory".into());
        assert!(matches!(read(&evicted), PodState::Ended(Err(BackendError::Evicted(m))) if m == "low on memory"));
        let lost = pod(serde_json::json!({"phase": "Running", "reason": "NodeLost"}));
        assert!(matches!(read(&lost), PodState::Ended(Err(BackendError::NodeLost(_)))));
        let gone = main(serde_json::json!({"running": {}}));
        assert!(matches!(vanished(&gone), BackendError::NodeLost(_)));
    }

    #[test]
    fn waiting_says_on_what() {
        let pull = main(serde_json::json!({"waiting": {"reason": "ImagePullBackOff", "message": "not found"}}));
        assert_eq!(read(&pull), PodState::Waiting(Some(Stall::Pull("ImagePullBackOff: not found".into()))));
        let unschedulable = pod(serde_json::json!({"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes"}]}));
        assert_eq!(read(&unschedulable), PodState::Waiting(Some(Stall::Unschedulable("0/3 nodes".into()))));
        let creating = main(serde_json::json!({"waiting": {"reason": "ContainerCreating"}}));
        assert_eq!(read(&creating), PodState::Waiting(None));
        let bad = main(serde_json::json!({"waiting": {"reason": "CreateContainerError", "message": "no such user"}}));
        assert!(matches!(read(&bad), PodState::Ended(Err(BackendError::Create(_)))));
    }

    #[test]
    fn a_failed_job_on_its_deadline_is_a_timeout_unless_the_container_ended_first() {
        let job: Job = serde_json::from_value(serde_json::json!({"status": {"conditions": [
            {"type": "Failed", "status": "True", "reason": "DeadlineExceeded",
             "lastTransitionTime": "2026-12-02T10:00:10Z"}]}}))
        .unwrap();
        let ended = |at: &str| main(serde_json::json!({"terminated": {"exitCode": 137, "finishedAt": at}}));
        assert!(deadline_exceeded(&job, &ended("2026-12-02T10:00:12Z")), "killed after the deadline");
        assert!(!deadline_exceeded(&job, &ended("2026-12-02T10:00:05Z")), "it had ended before");
        assert!(!deadline_exceeded(&Job::default(), &ended("2026-12-02T10:00:12Z")));
    }

    #[test]
    fn a_disruption_condition_says_evicted_or_lost() {
        let condition = |reason: &str| {
            pod(serde_json::json!({"phase": "Running", "conditions": [
                {"type": "DisruptionTarget", "status": "True", "reason": reason, "message": "m"}]}))
        };
        assert!(matches!(read(&condition("EvictionByEvictionAPI")), PodState::Ended(Err(BackendError::Evicted(_)))));
        assert!(matches!(read(&condition("PreemptionByScheduler")), PodState::Ended(Err(BackendError::Evicted(_)))));
        assert!(matches!(read(&condition("DeletionByTaintManager")), PodState::Ended(Err(BackendError::NodeLost(_)))));
    }
}
