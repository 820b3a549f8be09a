//! The process backend: a job's command runs as a plain child process of the worker, in its
//! own process group, with the spec's environment, working directory, stdin and timeouts.
//!
//! **It offers no isolation**: no image (the `image` field is ignored), no filesystem,
//! network, user or resource limits; the command runs as the worker's user on the worker's
//! host. Use it on hosts without a container engine, for trusted commands, and to measure
//! the queue without container costs. A spec that asks for what it cannot do (mounts,
//! limits, ports, a user, ...) is refused at submit (`CAPABILITIES`). A worker killed with
//! SIGKILL leaves its children running (they are in their own process group); each unit's
//! record in its staging dir (`record`) lets the next worker on the data dir list and stop
//! them.

mod record;

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use berth_core::backend::{
    AttemptPlan, Backend, BackendError, Capabilities, ExecCommand, ExecOutput, ExitInfo, ImageInfo, OutputChunk,
    OutputEntry, OutputPicker, OutputStream, PullObserver, Started, StdinSource, UnitHandle, UnitInfo, UnitState,
};
use berth_core::clock::{Clock, SystemClock};
use berth_core::spec::JobSpec;
use berth_staging::Staging;
use futures::{FutureExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tokio_util::io::ReaderStream;

/// `PATH` for commands, since the worker's environment is not passed on.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the process backend can do: it runs commands, not images, with no isolation.
pub const CAPABILITIES: Capabilities = Capabilities {
    images: false,
    isolation: false,
    resource_limits: false,
    stdin: true,
    stdin_stream: true,
    exec: false,
    reattach: false,
    gpus: false,
    ports: false,
    separate_stderr: true,
    signals: true,
    healthcheck: false,
    files: true,
    tty: false,
    attach: false,
};

#[derive(Clone, Debug)]
pub struct ProcessBackend {
    units: Arc<Mutex<HashMap<String, Unit>>>,
    /// Where each unit's working files live (`<root>/<unit>/{output,workspace}`).
    staging_root: PathBuf,
}

#[derive(Debug)]
struct Unit {
    plan: AttemptPlan,
    staging: Staging,
    /// The child's pid, which is also its process group id; `None` before start.
    pid: Option<u32>,
}

impl ProcessBackend {
    /// Units keep their input files and outputs under `staging_root`.
    pub fn new(staging_root: impl Into<PathBuf>) -> ProcessBackend {
        ProcessBackend { units: Arc::default(), staging_root: staging_root.into() }
    }

    fn with_unit<T>(&self, name: &str, f: impl FnOnce(&mut Unit) -> T) -> Result<T, BackendError> {
        let mut units = self.units.lock().map_err(|_| BackendError::Engine("unit table poisoned".into()))?;
        let unit = units.get_mut(name).ok_or_else(|| BackendError::Gone(name.to_string()))?;
        Ok(f(unit))
    }

    fn command(plan: &AttemptPlan, staging: &Staging) -> Result<Command, BackendError> {
        let spec = &plan.spec;
        let argv: Vec<String> =
            spec.entrypoint.clone().unwrap_or_default().into_iter().chain(spec.cmd().unwrap_or_default()).collect();
        let Some((program, args)) = argv.split_first() else {
            return Err(BackendError::Create(
                "the process backend needs a command (it has no image to take one from)".into(),
            ));
        };
        let mut cmd = Command::new(program);
        let secrets = plan.secrets.iter().filter_map(|s| {
            s.env.as_ref().map(|name| (name.clone(), String::from_utf8_lossy(&s.value.0).into_owned()))
        });
        cmd.args(args).env_clear().env("PATH", DEFAULT_PATH).envs(secrets).envs(&spec.env).envs(&plan.berth_env);
        cmd.env("BERTH_OUTPUT_DIR", staging.output()).env("BERTH_WORKSPACE_DIR", staging.workspace());
        let workspace = (!spec.files.is_empty()).then(|| staging.workspace());
        cmd.current_dir(spec.workdir.clone().map(PathBuf::from).or(workspace).unwrap_or_else(|| staging.output()));
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
        StdinSource::None | StdinSource::Terminal { .. } => {}
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

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    async fn image_present(&self, _image: &str) -> Result<bool, BackendError> {
        Ok(true)
    }

    async fn prepare(&self, _spec: &JobSpec, _progress: &dyn PullObserver) -> Result<ImageInfo, BackendError> {
        Ok(ImageInfo::default())
    }

    async fn create(&self, plan: &AttemptPlan) -> Result<UnitHandle, BackendError> {
        let staging = Staging::new(&self.staging_root, &plan.name);
        ProcessBackend::command(plan, &staging)?;
        let (files, dir, rec) = (plan.spec.files.clone(), staging.clone(), record::UnitRecord::new(plan));
        let prepared =
            tokio::task::spawn_blocking(move || dir.prepare(&files).and_then(|()| record::write(dir.dir(), &rec)))
                .await;
        prepared.map_err(|e| BackendError::Files(e.to_string()))?.map_err(|e| BackendError::Files(e.to_string()))?;
        let handle = UnitHandle { id: plan.name.clone(), name: plan.name.clone() };
        let mut units = self.units.lock().map_err(|_| BackendError::Engine("unit table poisoned".into()))?;
        units.insert(plan.name.clone(), Unit { plan: plan.clone(), staging, pid: None });
        Ok(handle)
    }

    async fn collect(&self, unit: &UnitHandle, picker: OutputPicker) -> Result<Vec<OutputEntry>, BackendError> {
        let staging = self.with_unit(&unit.name, |u| u.staging.clone())?;
        let read = tokio::task::spawn_blocking(move || staging.collect(picker)).await;
        read.map_err(|e| BackendError::Files(e.to_string()))?.map_err(|e| BackendError::Files(e.to_string()))
    }

    async fn start(&self, unit: &UnitHandle, stdin: StdinSource) -> Result<Started, BackendError> {
        let (plan, staging) = self.with_unit(&unit.name, |u| (u.plan.clone(), u.staging.clone()))?;
        let mut child = ProcessBackend::command(&plan, &staging)?
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
        let plan = self.with_unit(&unit.name, |u| {
            u.pid = pid;
            u.plan.clone()
        })?;
        // On disk too, so that the next worker finds the group if this one dies.
        let rec =
            record::UnitRecord { pid, start_time: pid.and_then(record::start_time), ..record::UnitRecord::new(&plan) };
        record::write(staging.dir(), &rec).map_err(|e| BackendError::Files(e.to_string()))?;
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
        let staging = Staging::new(&self.staging_root, &unit.name);
        match &removed {
            Some(Unit { pid: Some(pid), .. }) => signal_group(*pid, "KILL").await,
            Some(_) => {}
            // A previous run's unit: its record names the group, if that process still runs.
            None => {
                if let Some(pid) = record::read(staging.dir()).and_then(|r| r.live_pid()) {
                    signal_group(pid, "KILL").await;
                }
            }
        }
        let removed = tokio::task::spawn_blocking(move || staging.remove()).await;
        removed.map_err(|e| BackendError::Files(e.to_string()))?.map_err(|e| BackendError::Files(e.to_string()))
    }

    /// The units this process runs, and those a previous worker on this data dir left.
    async fn list_units(&self, install_id: &str) -> Result<Vec<UnitInfo>, BackendError> {
        let root = self.staging_root.clone();
        let recorded = tokio::task::spawn_blocking(move || record::read_all(&root)).await.unwrap_or_default();
        let units = self.units.lock().map_err(|_| BackendError::Engine("unit table poisoned".into()))?;
        let mut out: Vec<UnitInfo> = units
            .values()
            .filter(|u| u.plan.install_id == install_id)
            .map(|u| UnitInfo {
                handle: UnitHandle { id: u.plan.name.clone(), name: u.plan.name.clone() },
                state: if u.pid.is_some() { UnitState::Running } else { UnitState::Created },
                job_id: Some(u.plan.job_id.clone()),
                attempt: Some(u.plan.attempt),
                owner: Some(u.plan.owner.clone()),
            })
            .collect();
        let left = recorded.into_iter().filter(|(name, r)| r.install_id == install_id && !units.contains_key(name));
        out.extend(left.map(|(name, r)| r.info(&name)));
        Ok(out)
    }

    /// Staging dirs of units this process does not run (a previous run's), once stale.
    async fn prune_staged(&self) -> Result<usize, BackendError> {
        let before = SystemClock.now().0 - berth_staging::PRUNE_AGE.as_millis() as i64;
        let root = self.staging_root.clone();
        let stale = tokio::task::spawn_blocking(move || berth_staging::stale_units(&root, before)).await;
        let stale =
            stale.map_err(|e| BackendError::Files(e.to_string()))?.map_err(|e| BackendError::Files(e.to_string()))?;
        let mut removed = 0;
        for name in stale {
            let known =
                self.units.lock().map_err(|_| BackendError::Engine("unit table poisoned".into()))?.contains_key(&name);
            let staging = Staging::new(&self.staging_root, &name);
            // A unit still running (another process's, or an orphan the reaper has yet to
            // take) keeps its record: it is listed, and `remove` stops it.
            let live = record::read(staging.dir()).and_then(|r| r.live_pid()).is_some();
            if !known && !live && staging.remove().is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    async fn ping(&self) -> Result<(), BackendError> {
        Ok(())
    }

    async fn exec(&self, _unit: &UnitHandle, _cmd: &ExecCommand, _cap: usize) -> Result<ExecOutput, BackendError> {
        Err(BackendError::Engine(
            "exec is not supported by the process backend (there is no container to enter)".into(),
        ))
    }
}

#[cfg(test)]
mod tests;
