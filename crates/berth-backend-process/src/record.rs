//! A unit's record on disk (`<staging>/<unit>/unit.json`): which job and attempt it runs, for
//! whom, and its process group with the leader's start time. A worker that died with
//! SIGKILL leaves its children running; the next worker on the same data dir lists them from
//! these records (so the reaper and the sweep stop them) and never signals a reused pid.

use std::path::Path;

use berth_core::backend::{AttemptPlan, UnitHandle, UnitInfo, UnitState};
use serde::{Deserialize, Serialize};

const FILE: &str = "unit.json";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct UnitRecord {
    pub job_id: String,
    pub attempt: u32,
    pub owner: String,
    pub install_id: String,
    /// The group leader (the job's command); its pid is the group id.
    pub pid: Option<u32>,
    /// The leader's start time in clock ticks since boot (`/proc/<pid>/stat` field 22).
    pub start_time: Option<u64>,
}

impl UnitRecord {
    pub(crate) fn new(plan: &AttemptPlan) -> UnitRecord {
        UnitRecord {
            job_id: plan.job_id.to_string(),
            attempt: plan.attempt,
            owner: plan.owner.clone(),
            install_id: plan.install_id.clone(),
            pid: None,
            start_time: None,
        }
    }

    /// The group leader, if that very process still runs.
    pub(crate) fn live_pid(&self) -> Option<u32> {
        let pid = self.pid?;
        (start_time(pid).is_some() && start_time(pid) == self.start_time).then_some(pid)
    }

    pub(crate) fn info(&self, name: &str) -> UnitInfo {
        UnitInfo {
            handle: UnitHandle { id: name.to_string(), name: name.to_string() },
            state: if self.live_pid().is_some() { UnitState::Running } else { UnitState::Exited },
            job_id: self.job_id.parse().ok(),
            attempt: Some(self.attempt),
            owner: Some(self.owner.clone()),
        }
    }
}

pub(crate) fn write(dir: &Path, record: &UnitRecord) -> std::io::Result<()> {
    let text = serde_json::to_vec(record).map_err(std::io::Error::other)?;
    std::fs::write(dir.join(FILE), text)
}

pub(crate) fn read(dir: &Path) -> Option<UnitRecord> {
    serde_json::from_slice(&std::fs::read(dir.join(FILE)).ok()?).ok()
}

/// Every unit recorded under `root`, by unit name.
pub(crate) fn read_all(root: &Path) -> Vec<(String, UnitRecord)> {
    let Ok(entries) = std::fs::read_dir(root) else { return Vec::new() };
    entries.flatten().filter_map(|e| Some((e.file_name().to_str()?.to_string(), read(&e.path())?))).collect()
}

/// A process's start time, which tells it apart from a later process with the same pid.
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from the last `)`.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn this_process_has_a_start_time_and_a_dead_pid_none() {
        assert!(start_time(std::process::id()).is_some());
        assert_eq!(start_time(4_194_303), None);
        let mut rec = UnitRecord {
            job_id: "x".into(),
            attempt: 1,
            owner: "w".into(),
            install_id: "i".into(),
            pid: Some(std::process::id()),
            start_time: Some(1),
        };
        assert_eq!(rec.live_pid(), None, "same pid, other start time: a reused pid is never signalled");
        rec.start_time = start_time(std::process::id());
        assert_eq!(rec.live_pid(), Some(std::process::id()));
    }
}
