//! A task as DescribeTasks shows it, reduced to what berth reads (`TaskView`), and how an
//! ending is normalized: main's exit code, `OutOfMemoryError` → `oom_killed`, a task that
//! failed to start → a pull or start failure, a Spot interruption → evicted, input files
//! that could not be placed → a files error. Pure, unit-tested.

use berth_core::backend::{BackendError, ExitInfo};

use crate::translate::{MAIN, STAGE};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContainerView {
    pub name: String,
    pub last_status: String,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaskView {
    pub last_status: String,
    pub desired_status: String,
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    pub containers: Vec<ContainerView>,
}

impl TaskView {
    pub fn of(task: &aws_sdk_ecs::types::Task) -> TaskView {
        let containers = task
            .containers()
            .iter()
            .map(|c| ContainerView {
                name: c.name().unwrap_or_default().to_string(),
                last_status: c.last_status().unwrap_or_default().to_string(),
                exit_code: c.exit_code(),
                reason: c.reason().map(String::from),
            })
            .collect();
        TaskView {
            last_status: task.last_status().unwrap_or_default().to_string(),
            desired_status: task.desired_status().unwrap_or_default().to_string(),
            stop_code: task.stop_code().map(|c| c.as_str().to_string()),
            stopped_reason: task.stopped_reason().map(String::from),
            containers,
        }
    }

    pub fn container(&self, name: &str) -> Option<&ContainerView> {
        self.containers.iter().find(|c| c.name == name)
    }

    pub fn stopped(&self) -> bool {
        self.last_status == "STOPPED"
    }

    /// The job's container is running (or already ran).
    pub fn main_started(&self) -> bool {
        self.container(MAIN).is_some_and(|m| m.last_status == "RUNNING" || m.exit_code.is_some())
    }

    /// The job's container has ended, with a code.
    pub fn main_ended(&self) -> bool {
        self.container(MAIN).is_some_and(|m| m.exit_code.is_some())
    }
}

/// How the attempt ended, once main has exited or the task has stopped.
pub fn ending(view: &TaskView) -> Result<ExitInfo, BackendError> {
    let reason = view.stopped_reason.clone().unwrap_or_default();
    if matches!(view.stop_code.as_deref(), Some("SpotInterruption" | "TerminationNotice")) {
        return Err(BackendError::Evicted(format!("ECS stopped the task: {reason}")));
    }
    if let Some(main) = view.container(MAIN)
        && let Some(code) = main.exit_code
    {
        let oom_killed = main.reason.as_deref().is_some_and(|r| r.starts_with("OutOfMemoryError"));
        return Ok(ExitInfo { code: i64::from(code), oom_killed, ..ExitInfo::default() });
    }
    if let Some(stage) = view.container(STAGE)
        && stage.exit_code.is_some_and(|c| c != 0)
    {
        let code = stage.exit_code.unwrap_or_default();
        return Err(BackendError::Files(format!("the stage helper could not place the input files (exit {code})")));
    }
    let why = view.containers.iter().find_map(|c| c.reason.clone()).unwrap_or(reason);
    if why.contains("CannotPullContainerError") {
        return Err(BackendError::Pull(why));
    }
    Err(BackendError::Start(format!("the task stopped before the job ran: {why}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(stop_code: &str, reason: &str, main: ContainerView) -> TaskView {
        TaskView {
            last_status: "STOPPED".into(),
            desired_status: "STOPPED".into(),
            stop_code: Some(stop_code.into()),
            stopped_reason: Some(reason.into()),
            containers: vec![main],
        }
    }

    fn main(code: Option<i32>, reason: Option<&str>) -> ContainerView {
        ContainerView {
            name: MAIN.into(),
            last_status: "STOPPED".into(),
            exit_code: code,
            reason: reason.map(String::from),
        }
    }

    #[test]
    fn endings_are_normalized() {
        let done = view("EssentialContainerExited", "Essential container in task exited", main(Some(3), None));
        assert_eq!(ending(&done), Ok(ExitInfo { code: 3, ..ExitInfo::default() }));
        let oom = main(Some(137), Some("OutOfMemoryError: Container killed due to memory usage"));
        assert!(ending(&view("EssentialContainerExited", "", oom)).unwrap().oom_killed);
        let pull = view("TaskFailedToStart", "CannotPullContainerError: x: not found", main(None, None));
        assert!(matches!(ending(&pull), Err(BackendError::Pull(m)) if m.contains("not found")));
        let spot = view("SpotInterruption", "Your Spot Task was interrupted.", main(Some(143), None));
        assert!(matches!(ending(&spot), Err(BackendError::Evicted(_))));
        let init = view("TaskFailedToStart", "ResourceInitializationError: no secret", main(None, None));
        assert!(matches!(ending(&init), Err(BackendError::Start(m)) if m.contains("ResourceInitializationError")));
        let mut staged = view("EssentialContainerExited", "", main(None, None));
        staged.containers.push(ContainerView { name: STAGE.into(), exit_code: Some(1), ..ContainerView::default() });
        assert!(matches!(ending(&staged), Err(BackendError::Files(_))));
    }
}
