//! The process backend: a job's command runs as a plain child process of the worker, in its
//! own process group, with the spec's environment, working directory, stdin and timeouts.
//!
//! **It offers no isolation**: no image (the `image` field is ignored), no filesystem,
//! network, user or resource limits; the command runs as the worker's user on the worker's
//! host. Use it on hosts without a container engine, for trusted commands, and to measure
//! the queue without container costs. Units live in this process: a worker killed with
//! SIGKILL leaves its children running (they are in their own process group).

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use berth_core::backend::{
    AttemptPlan, Backend, BackendError, ExecOutput, ExitInfo, ImageInfo, OutputChunk, OutputStream, PullObserver,
    Started, StdinSource, UnitHandle, UnitInfo,
};
use berth_core::spec::JobSpec;
use futures::{FutureExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tokio_util::io::ReaderStream;

/// `PATH` for commands, since the worker's environment is not passed on.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Clone, Debug, Default)]
pub struct ProcessBackend {
    units: Arc<Mutex<HashMap<String, Unit>>>,
}

#[derive(Debug)]
struct Unit {
    plan: AttemptPlan,
    /// The child's pid, which is also its process group id; `None` before start.
    pid: Option<u32>,
}

impl ProcessBackend {
    pub fn new() -> ProcessBackend {
        ProcessBackend::default()
    }

    fn with_unit<T>(&self, name: &str, f: impl FnOnce(&mut Unit) -> T) -> Result<T, BackendError> {
        let mut units = self.units.lock().map_err(|_| BackendError::Engine("unit table poisoned".into()))?;
        let unit = units.get_mut(name).ok_or_else(|| BackendError::Gone(name.to_string()))?;
        Ok(f(unit))
    }

    fn command(plan: &AttemptPlan) -> Result<Command, BackendError> {
        let spec = &plan.spec;
        let argv: Vec<String> =
            spec.entrypoint.clone().unwrap_or_default().into_iter().chain(spec.cmd().unwrap_or_default()).collect();
        let Some((program, args)) = argv.split_first() else {
            return Err(BackendError::Create(
                "the process backend needs a command (it has no image to take one from)".into(),
            ));
        };
        let mut cmd = Command::new(program);
        cmd.args(args).env_clear().env("PATH", DEFAULT_PATH).envs(&spec.env).envs(&plan.berth_env);
        if let Some(out) = &plan.output_dir {
            cmd.env("BERTH_OUTPUT_DIR", out);
        }
        if let Some(dir) = spec.workdir.as_ref().or(plan.workspace_dir.as_ref()).or(plan.output_dir.as_ref()) {
            cmd.current_dir(dir);
        }
        cmd.stdin(if plan.stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        Ok(cmd)
    }
}

/// Sends `signal` to the whole process group of `pid` (through `kill(1)`: no unsafe code).
async fn signal_group(pid: u32, signal: &str) {
    let sig = signal.trim_start_matches("SIG");
    let mut kill = Command::new("kill");
    kill.arg(format!("-{sig}")).arg("--").arg(format!("-{pid}")).stdout(Stdio::null()).stderr(Stdio::null());
    // A group that already exited is fine: there is nothing left to stop.
    let _ = kill.status().await;
}

fn exit_info(status: std::process::ExitStatus) -> ExitInfo {
    let code = status.code().map(i64::from).or_else(|| status.signal().map(|s| 128 + i64::from(s))).unwrap_or(-1);
    ExitInfo { code, ..ExitInfo::default() }
}

async fn feed(mut pipe: tokio::process::ChildStdin, stdin: StdinSource) {
    match stdin {
        StdinSource::None => {}
        StdinSource::Bytes(b) => {
            let _ = pipe.write_all(&b).await;
        }
        StdinSource::Stream(mut s) => {
            while let Some(Ok(chunk)) = s.next().await {
                if pipe.write_all(&chunk).await.is_err() {
                    break;
                }
            }
        }
    }
}

#[async_trait]
impl Backend for ProcessBackend {
    fn name(&self) -> &'static str {
        "process"
    }

    async fn image_present(&self, _image: &str) -> Result<bool, BackendError> {
        Ok(true)
    }

    async fn prepare(&self, _spec: &JobSpec, _progress: &dyn PullObserver) -> Result<ImageInfo, BackendError> {
        Ok(ImageInfo::default())
    }

    async fn create(&self, plan: &AttemptPlan) -> Result<UnitHandle, BackendError> {
        ProcessBackend::command(plan)?;
        let handle = UnitHandle { id: plan.name.clone(), name: plan.name.clone() };
        let mut units = self.units.lock().map_err(|_| BackendError::Engine("unit table poisoned".into()))?;
        units.insert(plan.name.clone(), Unit { plan: plan.clone(), pid: None });
        Ok(handle)
    }

    async fn start(&self, unit: &UnitHandle, stdin: StdinSource) -> Result<Started, BackendError> {
        let plan = self.with_unit(&unit.name, |u| u.plan.clone())?;
        let mut child = ProcessBackend::command(&plan)?
            .spawn()
            .map_err(|e| BackendError::Start(format!("{}: {e}", plan.spec.cmd().unwrap_or_default().join(" "))))?;
        let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(BackendError::Start("the child's output pipes are missing".into()));
        };
        if let Some(pipe) = child.stdin.take() {
            tokio::spawn(feed(pipe, stdin));
        }
        let pid = child.id();
        let wait = async move { child.wait().await };
        self.with_unit(&unit.name, |u| u.pid = pid)?;
        let chunks = |s: OutputStream| {
            move |r: std::io::Result<bytes::Bytes>| {
                r.map(|data| OutputChunk { stream: s, data }).map_err(|e| BackendError::Engine(e.to_string()))
            }
        };
        let output = futures::stream::select(
            ReaderStream::new(out).map(chunks(OutputStream::Stdout)),
            ReaderStream::new(err).map(chunks(OutputStream::Stderr)),
        );
        let exit = wait.map(|r| r.map(exit_info).map_err(|e| BackendError::Engine(e.to_string())));
        Ok(Started { output: output.boxed(), exit: exit.boxed() })
    }

    async fn stop(&self, unit: &UnitHandle, signal: Option<&str>, grace: Duration) -> Result<(), BackendError> {
        let Ok(Some(pid)) = self.with_unit(&unit.name, |u| u.pid) else { return Ok(()) };
        signal_group(pid, signal.unwrap_or("TERM")).await;
        tokio::time::sleep(grace.min(Duration::from_secs(3600))).await;
        signal_group(pid, "KILL").await;
        Ok(())
    }

    async fn remove(&self, unit: &UnitHandle) -> Result<(), BackendError> {
        let removed =
            self.units.lock().map_err(|_| BackendError::Engine("unit table poisoned".into()))?.remove(&unit.name);
        if let Some(Unit { pid: Some(pid), .. }) = removed {
            signal_group(pid, "KILL").await;
        }
        Ok(())
    }

    async fn list_units(&self, install_id: &str) -> Result<Vec<UnitInfo>, BackendError> {
        let units = self.units.lock().map_err(|_| BackendError::Engine("unit table poisoned".into()))?;
        Ok(units
            .values()
            .filter(|u| u.plan.install_id == install_id)
            .map(|u| UnitInfo {
                handle: UnitHandle { id: u.plan.name.clone(), name: u.plan.name.clone() },
                state: if u.pid.is_some() { "running" } else { "created" }.to_string(),
                job_id: Some(u.plan.job_id.clone()),
                attempt: Some(u.plan.attempt),
                owner: Some(u.plan.owner.clone()),
            })
            .collect())
    }

    async fn ping(&self) -> Result<(), BackendError> {
        Ok(())
    }

    async fn exec(&self, _unit: &UnitHandle, _cmd: &[String], _cap: usize) -> Result<ExecOutput, BackendError> {
        Err(BackendError::Engine(
            "exec is not supported by the process backend (there is no container to enter)".into(),
        ))
    }
}

#[cfg(test)]
mod tests;
