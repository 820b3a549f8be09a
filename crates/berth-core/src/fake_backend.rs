//! A scripted, recording `Backend` for tests of everything above the seam (engine, server,
//! workers): it runs nothing, records every call in order, and fails or exits as told.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use futures::channel::oneshot;
use futures::{FutureExt, StreamExt};

use crate::backend::{
    AttemptPlan, Backend, BackendError, Capabilities, ExecCommand, ExecOutput, ExitInfo, ImageInfo, OutputChunk,
    OutputEntry, OutputPicker, OutputStream, PullObserver, Started, StdinSource, UnitHandle, UnitInfo,
};
use crate::spec::JobSpec;

/// What the fake does. Defaults: everything succeeds and the container exits 0 at once.
#[derive(Clone, Debug, Default)]
pub struct Script {
    pub fail_prepare: Option<BackendError>,
    pub fail_create: Option<BackendError>,
    pub fail_start: Option<BackendError>,
    pub output: Vec<OutputChunk>,
    /// `None`: the container runs until `stop` is called, then exits with `exit_on_stop`.
    pub exit: Option<ExitInfo>,
    pub exit_on_stop: ExitInfo,
    /// What `collect` hands back (not recorded as a call).
    pub outputs: Vec<OutputEntry>,
    /// What `list_units` finds (units another process left).
    pub units: Vec<UnitInfo>,
    /// When set, `remove` waits until this lock is free (a test holds it to keep units
    /// ended but not yet removed).
    pub remove_gate: Option<std::sync::Arc<futures::lock::Mutex<()>>>,
}

#[derive(Debug, Default)]
pub struct FakeBackend {
    script: Mutex<Script>,
    calls: Mutex<Vec<String>>,
    /// Stop handles of running units, by name.
    stopped: Mutex<std::collections::HashMap<String, oneshot::Sender<()>>>,
}

impl FakeBackend {
    pub fn new(script: Script) -> FakeBackend {
        FakeBackend { script: Mutex::new(script), ..FakeBackend::default() }
    }

    /// Calls so far, e.g. `["prepare", "create berth-abc-1", "start", "remove berth-abc-1"]`.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn record(&self, call: String) {
        if let Ok(mut c) = self.calls.lock() {
            c.push(call);
        }
    }

    fn script(&self) -> Script {
        self.script.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Backend for FakeBackend {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    async fn image_present(&self, image: &str) -> Result<bool, BackendError> {
        self.record(format!("image_present {image}"));
        Ok(true)
    }

    async fn prepare(&self, spec: &JobSpec, pull: &dyn PullObserver) -> Result<ImageInfo, BackendError> {
        self.record(format!("prepare {}", spec.image));
        pull.progress(&spec.image, "pulling", None, None);
        match self.script().fail_prepare {
            Some(e) => Err(e),
            None => Ok(ImageInfo { digest: Some("sha256:fake".into()), ..ImageInfo::default() }),
        }
    }

    async fn create(&self, plan: &AttemptPlan) -> Result<UnitHandle, BackendError> {
        self.record(format!("create {}", plan.name));
        match self.script().fail_create {
            Some(e) => Err(e),
            None => Ok(UnitHandle { id: format!("fake-{}", plan.name), name: plan.name.clone() }),
        }
    }

    async fn start(&self, unit: &UnitHandle, _: StdinSource) -> Result<Started, BackendError> {
        self.record(format!("start {}", unit.name));
        let script = self.script();
        if let Some(e) = script.fail_start {
            return Err(e);
        }
        let (tx, rx) = oneshot::channel();
        if let Ok(mut units) = self.stopped.lock() {
            units.insert(unit.name.clone(), tx);
        }
        let exit = match script.exit {
            Some(e) => futures::future::ready(Ok(e)).boxed(),
            None => {
                let on_stop = script.exit_on_stop;
                async move {
                    let _ = rx.await;
                    Ok(on_stop)
                }
                .boxed()
            }
        };
        let output = futures::stream::iter(script.output.into_iter().map(Ok)).boxed();
        Ok(Started { output, exit })
    }

    async fn stop(&self, unit: &UnitHandle, signal: Option<&str>, grace: Duration) -> Result<(), BackendError> {
        self.record(format!("stop {} {} {}s", unit.name, signal.unwrap_or("SIGTERM"), grace.as_secs()));
        if let Some(tx) = self.stopped.lock().ok().and_then(|mut s| s.remove(&unit.name)) {
            let _ = tx.send(());
        }
        Ok(())
    }

    async fn collect(&self, _: &UnitHandle, mut picker: OutputPicker) -> Result<Vec<OutputEntry>, BackendError> {
        let mut out = self.script().outputs;
        for e in &mut out {
            if !picker.wants(&e.name, e.size, e.regular) {
                e.data = None;
            }
        }
        Ok(out)
    }

    async fn remove(&self, unit: &UnitHandle) -> Result<(), BackendError> {
        self.record(format!("remove {}", unit.name));
        if let Some(gate) = self.script().remove_gate {
            drop(gate.lock().await);
        }
        Ok(())
    }

    async fn list_units(&self, _: &str) -> Result<Vec<UnitInfo>, BackendError> {
        self.record("list".into());
        Ok(self.script().units)
    }

    async fn ping(&self) -> Result<(), BackendError> {
        Ok(())
    }

    /// Echoes the command back on stdout, exit 0.
    async fn exec(&self, unit: &UnitHandle, cmd: &ExecCommand, cap: usize) -> Result<ExecOutput, BackendError> {
        self.record(format!("exec {} {}", unit.name, cmd.command.join(" ")));
        let mut out = ExecOutput::default();
        out.push(OutputStream::Stdout, cmd.command.join(" ").as_bytes(), cap);
        Ok(out)
    }
}
