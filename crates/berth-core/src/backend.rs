//! The `Backend` seam: where attempts run (Docker, plain processes; Kubernetes and ECS plug
//! in here). A backend only runs units: it never touches the store, and the engine records
//! what it reports. Nothing here names a host path: input files go in with the plan and
//! outputs come back from `collect`, so a remote engine, a pod or a task works the same.
//! What a backend cannot do it says in `Capabilities`, and submit refuses such a spec.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

use crate::ids::JobId;
use crate::spec::JobSpec;
use crate::status::InfraKind;
use crate::vault::SecretValue;
use crate::volumes::VolumeInfo;

/// Labels on every container berth creates.
pub mod labels {
    pub const MANAGED: &str = "berth.managed";
    pub const JOB: &str = "berth.job";
    pub const ATTEMPT: &str = "berth.attempt";
    pub const INSTALL: &str = "berth.install";
    pub const OWNER: &str = "berth.owner";
    pub const TENANT: &str = "berth.tenant";
    /// On a volume: the name its tenant's jobs use.
    pub const VOLUME: &str = "berth.volume";
}

/// One attempt, ready to be created: the spec with the deployment's defaults applied.
#[derive(Clone, Debug)]
pub struct AttemptPlan {
    pub job_id: JobId,
    pub attempt: u32,
    /// The effective spec: defaults (network, memory, pids) already filled in.
    pub spec: JobSpec,
    /// The container's name, unique per attempt.
    pub name: String,
    pub install_id: String,
    pub owner: String,
    /// Whose job it is; named volumes in `spec` are already scoped to it.
    pub tenant: String,
    /// Variables berth adds (`BERTH_JOB_ID`, `BERTH_ATTEMPT`, `BERTH_OUTPUT_DIR`).
    pub berth_env: BTreeMap<String, String>,
    /// Whether stdin will be fed (the spec's payload or a live stream) and then closed.
    pub stdin: bool,
    /// The job's secrets with their values, for this attempt only (never stored with it).
    pub secrets: Vec<SecretInput>,
}

/// One secret as the job gets it: a variable, a read-only file, or both.
#[derive(Clone, Debug)]
pub struct SecretInput {
    pub env: Option<String>,
    pub file: Option<String>,
    pub value: SecretValue,
}

/// Where the output directory appears inside the container. The backend places
/// `spec.files` in `spec.workspace_dir` before start and hands back what the job left here
/// through `Backend::collect`.
pub const OUTPUT_MOUNT: &str = "/berth/output";

/// What a backend can do. Submit refuses a spec that asks for more, naming the field and
/// the backend (`capabilities::check`), so a spec never means something else elsewhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Capabilities {
    /// Runs the spec's image (the process backend runs the command on the host instead).
    pub images: bool,
    /// Filesystem, network, user and privilege isolation: mounts, network, user, security
    /// options, read-only root, hostname and DNS mean something.
    pub isolation: bool,
    /// Memory, CPU and pids limits are enforced (and an OOM kill is reported).
    pub resource_limits: bool,
    /// A stdin payload (`spec.stdin`, or bytes piped to `berth run`).
    pub stdin: bool,
    /// A live stdin stream (`berth run -i`).
    pub stdin_stream: bool,
    /// Runs commands inside a running unit.
    pub exec: bool,
    /// A later worker process can watch a unit an earlier one started (`Backend::attach`).
    pub reattach: bool,
    pub gpus: bool,
    /// Published ports.
    pub ports: bool,
    /// stdout and stderr arrive apart.
    pub separate_stderr: bool,
    /// The stop signal is the spec's (`stop_signal`), not always SIGTERM.
    pub signals: bool,
    /// Healthchecks run.
    pub healthcheck: bool,
    /// `spec.files` are placed and the result and artifacts collected.
    pub files: bool,
    /// A pseudo-terminal for a unit (`spec.tty`) or an exec, resized as the client's
    /// terminal is; its output is one stream.
    pub tty: bool,
    /// Joins a running unit's console later (`Backend::join`: `berth attach`, `-i` through
    /// a server, `spec.interactive`) and runs commands in it with live input
    /// (`Backend::exec_live`: `berth exec -i`, `-it`, `-d`).
    pub attach: bool,
}

impl Capabilities {
    /// Everything: the Docker backend, and the default for test doubles.
    pub const ALL: Capabilities = Capabilities {
        images: true,
        isolation: true,
        resource_limits: true,
        stdin: true,
        stdin_stream: true,
        exec: true,
        reattach: true,
        gpus: true,
        ports: true,
        separate_stderr: true,
        signals: true,
        healthcheck: true,
        files: true,
        tty: true,
        attach: true,
    };
}

/// A unit's state as the backend reports it, whatever its own words are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitState {
    /// Made, not started.
    Created,
    Running,
    /// Ended; its output and exit are still readable.
    Exited,
    /// Being removed, dead, or in a state berth does not know.
    Other,
}

impl UnitState {
    /// Started at some point: running now, or exited with its ending still there.
    pub fn started(self) -> bool {
        matches!(self, UnitState::Running | UnitState::Exited)
    }
}

/// One file (or other entry) the job left in its output directory, as `collect` read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputEntry {
    /// Path relative to the output directory, `/`-separated.
    pub name: String,
    pub size: u64,
    /// A regular file; anything else (symlink, device, pipe) is never read.
    pub regular: bool,
    /// The content, when `OutputPicker` wanted it and it could be read.
    pub data: Option<Bytes>,
}

/// Which output files a backend reads, in the order it lists them: the result file if it
/// is within the result cap, then every other regular file that still fits in what is left
/// of the artifacts cap (one too big is skipped, the next may fit). Every backend asks it,
/// so the same files are kept everywhere and no more than the caps is ever held.
#[derive(Clone, Debug)]
pub struct OutputPicker {
    result_file: String,
    result_cap: u64,
    artifacts_left: u64,
}

impl OutputPicker {
    pub fn new(limits: &crate::spec::OutputLimits) -> OutputPicker {
        OutputPicker {
            result_file: limits.result_file.clone(),
            result_cap: limits.result_cap.0,
            artifacts_left: limits.artifacts_cap.0,
        }
    }

    /// Whether to read the entry `name` of `size` bytes; a yes is counted against the cap.
    pub fn wants(&mut self, name: &str, size: u64, regular: bool) -> bool {
        if !regular {
            return false;
        }
        if name == self.result_file {
            return size <= self.result_cap;
        }
        if size > self.artifacts_left {
            return false;
        }
        self.artifacts_left -= size;
        true
    }

    /// The most bytes to read of a wanted entry (a file may grow after it was listed).
    pub fn limit(&self, name: &str, size: u64) -> u64 {
        if name == self.result_file { self.result_cap } else { size }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitHandle {
    pub id: String,
    pub name: String,
}

pub enum StdinSource {
    None,
    Bytes(Vec<u8>),
    /// Forwarded as it arrives (`berth run -i`), closed at end of stream.
    Stream(BoxStream<'static, std::io::Result<Bytes>>),
    /// A terminal's size changes, and with `stdin` its keystrokes (`berth run -t`, `-it`).
    Terminal {
        input: TerminalStream,
        stdin: bool,
    },
}

impl StdinSource {
    /// Whether the unit's stdin is fed (and so must be opened at create).
    pub fn feeds_stdin(&self) -> bool {
        match self {
            StdinSource::None => false,
            StdinSource::Bytes(_) | StdinSource::Stream(_) => true,
            StdinSource::Terminal { stdin, .. } => *stdin,
        }
    }

    /// A live stream (`-i`), as opposed to a payload sent again to every attempt.
    pub fn is_live(&self) -> bool {
        matches!(self, StdinSource::Stream(_) | StdinSource::Terminal { stdin: true, .. })
    }

    /// Every source as one stream of terminal input (a payload or a pipe as stdin bytes),
    /// with whether its end keeps stdin open: a TTY's does, any other closes it.
    pub fn into_input(self) -> Option<(TerminalStream, bool)> {
        match self {
            StdinSource::None => None,
            StdinSource::Bytes(b) => {
                let once = futures::stream::iter([TerminalInput::Data(Bytes::from(b))]);
                Some((futures::StreamExt::boxed(once), false))
            }
            StdinSource::Stream(s) => Some((stdin_bytes(s), false)),
            StdinSource::Terminal { input, .. } => Some((input, true)),
        }
    }

    /// The input for one attempt: bytes are sent again to every attempt, a live stream
    /// only to the first.
    pub fn take(&mut self) -> StdinSource {
        match self {
            StdinSource::Bytes(b) => StdinSource::Bytes(b.clone()),
            other => std::mem::replace(other, StdinSource::None),
        }
    }
}

/// A terminal's size in character cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TtySize {
    pub rows: u16,
    pub cols: u16,
}

/// What a live session sends to a unit or a command in it: stdin bytes, or the client's
/// terminal size. The end of the stream is the end of input (EOF on a stdin that is not a
/// TTY; a TTY's stdin stays open for the next attach).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TerminalInput {
    Data(Bytes),
    Resize(TtySize),
}

/// The input half of a live session.
pub type TerminalStream = BoxStream<'static, TerminalInput>;

/// A pipe's chunks as terminal input, ending at its end or its first read error.
pub fn stdin_bytes(chunks: BoxStream<'static, std::io::Result<Bytes>>) -> TerminalStream {
    use futures::StreamExt;
    use futures::future::ready;
    chunks.take_while(|c| ready(c.is_ok())).filter_map(|c| ready(c.ok().map(TerminalInput::Data))).boxed()
}

/// A live session's input side: its stream (stdin bytes and terminal sizes), whether the
/// bytes reach stdin (without it only sizes count), and whether a new command gets a TTY.
pub struct LiveIo {
    pub input: Option<TerminalStream>,
    pub stdin: bool,
    pub tty: bool,
}

/// The output half of a live session; each chunk says its stream (a TTY's is all stdout).
pub type OutputStreamOf = BoxStream<'static, Result<OutputChunk, BackendError>>;

impl std::fmt::Debug for StdinSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StdinSource::None => f.write_str("None"),
            StdinSource::Bytes(b) => write!(f, "Bytes({})", b.len()),
            StdinSource::Stream(_) => f.write_str("Stream"),
            StdinSource::Terminal { stdin, .. } => write!(f, "Terminal {{ stdin: {stdin} }}"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

#[derive(Clone, Debug)]
pub struct OutputChunk {
    pub stream: OutputStream,
    pub data: Bytes,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExitInfo {
    pub code: i64,
    /// From either the `oom` event or the engine's flag.
    pub oom_killed: bool,
    pub peak_memory: Option<u64>,
    pub cpu_seconds: Option<f64>,
    /// The backend's own deadline ended the unit (Kubernetes' `activeDeadlineSeconds`, a
    /// second net behind berth's run timeout): recorded as `timed_out(run)`.
    pub deadline_exceeded: bool,
}

/// How far into a unit's output a reader already is: the bytes of each stream, as the unit
/// wrote them, that were consumed. A reattach skips exactly these and reads on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogPosition {
    pub stdout: u64,
    pub stderr: u64,
}

impl LogPosition {
    /// The counter of `stream`.
    pub fn of(&mut self, stream: OutputStream) -> &mut u64 {
        match stream {
            OutputStream::Stdout => &mut self.stdout,
            OutputStream::Stderr => &mut self.stderr,
        }
    }
}

/// A started attempt: its output (ends when the container's output closes) and its exit.
pub struct Started {
    pub output: BoxStream<'static, Result<OutputChunk, BackendError>>,
    pub exit: BoxFuture<'static, Result<ExitInfo, BackendError>>,
}

#[derive(Clone, Debug, Default)]
pub struct ImageInfo {
    pub digest: Option<String>,
    /// The engine's id of the image (`sha256:...`), when it has images.
    pub id: Option<String>,
    /// Whether this `prepare` pulled it (rather than using the engine's cache).
    pub pulled: bool,
}

/// A container the backend found, as the sweep sees it.
#[derive(Clone, Debug)]
pub struct UnitInfo {
    pub handle: UnitHandle,
    pub state: UnitState,
    pub job_id: Option<JobId>,
    pub attempt: Option<u32>,
    pub owner: Option<String>,
}

/// Progress of making an attempt's image available (`Backend::prepare`), per item: a
/// Docker layer, a registry blob, a task definition being registered. `current`/`total`
/// are bytes when known.
pub trait PullObserver: Send + Sync {
    fn progress(&self, item: &str, phase: &str, current: Option<u64>, total: Option<u64>);
    fn done(&self) {}
}

/// Ignores pull progress.
#[derive(Debug, Default)]
pub struct NoProgress;
impl PullObserver for NoProgress {
    fn progress(&self, _: &str, _: &str, _: Option<u64>, _: Option<u64>) {}
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    #[error(
        "image {0} is not present and the pull policy is never: build or pull it first (docker pull), or use --pull if-not-present"
    )]
    ImageNotFound(String),
    #[error("pulling the image failed: {0}")]
    Pull(String),
    #[error("creating the container failed: {0}")]
    Create(String),
    #[error("starting the container failed: {0}")]
    Start(String),
    #[error("no GPU is available on this node: {0}")]
    GpuUnavailable(String),
    #[error("the container engine is unreachable: {0}")]
    Unavailable(String),
    #[error("the container is gone: {0}")]
    Gone(String),
    /// The backend cannot do this at all (see `Capabilities`): asking again will not help.
    #[error("{0}")]
    Unsupported(String),
    /// Placing input files or reading outputs failed.
    #[error("moving the attempt's files failed: {0}")]
    Files(String),
    #[error("container engine error: {0}")]
    Engine(String),
    /// The node evicted the unit; another attempt may run elsewhere.
    #[error("the unit was evicted: {0}")]
    Evicted(String),
    /// The node running the unit was lost; another attempt may run elsewhere.
    #[error("the unit's node was lost: {0}")]
    NodeLost(String),
}

impl BackendError {
    pub fn infra_kind(&self) -> InfraKind {
        match self {
            BackendError::ImageNotFound(_) => InfraKind::ImageNotFound,
            BackendError::Pull(_) => InfraKind::PullFailed,
            BackendError::Create(_) => InfraKind::CreateFailed,
            BackendError::Start(_) => InfraKind::StartFailed,
            BackendError::GpuUnavailable(_) => InfraKind::GpuUnavailable,
            BackendError::Unavailable(_) => InfraKind::DaemonUnavailable,
            BackendError::Unsupported(_) => InfraKind::CreateFailed,
            BackendError::Files(_) => InfraKind::OutputFailed,
            BackendError::Gone(_) | BackendError::Engine(_) => InfraKind::DaemonUnavailable,
            BackendError::Evicted(_) => InfraKind::Evicted,
            BackendError::NodeLost(_) => InfraKind::NodeLost,
        }
    }

    /// What the caller does next: retry later (the engine may come back), or not.
    pub fn retryable(&self) -> bool {
        matches!(self, BackendError::Unavailable(_) | BackendError::Engine(_) | BackendError::Pull(_))
    }
}

#[async_trait]
pub trait Backend: Send + Sync {
    fn name(&self) -> &'static str;
    /// What this backend can do; checked against every spec at submit.
    fn capabilities(&self) -> Capabilities;
    /// Whether the image is already present (no pull).
    async fn image_present(&self, image: &str) -> Result<bool, BackendError>;
    /// The OCI runtimes a spec's `security.runtime` may name here; `None` when the backend
    /// cannot tell (the engine then decides at create).
    async fn runtimes(&self) -> Result<Option<Vec<String>>, BackendError> {
        Ok(None)
    }
    /// Makes the image available as the spec's pull policy says.
    async fn prepare(&self, spec: &JobSpec, progress: &dyn PullObserver) -> Result<ImageInfo, BackendError>;
    /// Creates the attempt's unit without starting it, with `plan.spec.files` in place in
    /// `spec.workspace_dir` and an empty output directory at `OUTPUT_MOUNT` that any user
    /// can write.
    async fn create(&self, plan: &AttemptPlan) -> Result<UnitHandle, BackendError>;
    /// Attaches to the container's output (so nothing is missed), then starts it and feeds stdin.
    async fn start(&self, unit: &UnitHandle, stdin: StdinSource) -> Result<Started, BackendError>;
    /// Sends `signal` (default SIGTERM), waits up to `grace`, then kills. Stopping a stopped
    /// container succeeds.
    async fn stop(&self, unit: &UnitHandle, signal: Option<&str>, grace: Duration) -> Result<(), BackendError>;
    /// What the job left in its output directory, after it ended: every entry in the
    /// backend's listing order, with the content of the regular files `picker` wants.
    /// Symlinks and other special files are listed, never read or followed.
    async fn collect(&self, unit: &UnitHandle, picker: OutputPicker) -> Result<Vec<OutputEntry>, BackendError>;
    /// Removes the unit with everything it staged (volumes, files); removing a missing one
    /// succeeds.
    async fn remove(&self, unit: &UnitHandle) -> Result<(), BackendError>;
    /// Every container of this install, in any state.
    async fn list_units(&self, install_id: &str) -> Result<Vec<UnitInfo>, BackendError>;
    /// Removes staged files no unit uses any more (left by a crash between staging and
    /// create, or by a previous run of a worker); returns how many units' files went.
    async fn prune_staged(&self) -> Result<usize, BackendError> {
        Ok(0)
    }
    /// Fields of `spec` this backend cannot honour beyond what `capabilities` says (one
    /// refusal per field, with the reason); submit refuses the spec with them.
    fn refusals(&self, spec: &JobSpec) -> Vec<crate::spec_load::FieldError> {
        let _ = spec;
        Vec::new()
    }
    /// Whether the engine answers (for readiness checks).
    async fn ping(&self) -> Result<(), BackendError>;
    /// The named volumes this install made for `tenant` (every tenant's with `None`).
    async fn list_volumes(&self, install_id: &str, tenant: Option<&str>) -> Result<Vec<VolumeInfo>, BackendError> {
        let _ = (install_id, tenant);
        Err(BackendError::Unsupported(format!("the {} backend has no named volumes", self.name())))
    }
    /// Removes `tenant`'s volume `name` of this install; `Gone` if it has none by that name.
    async fn remove_volume(&self, install_id: &str, tenant: &str, name: &str) -> Result<(), BackendError> {
        let _ = (install_id, tenant, name);
        Err(BackendError::Unsupported(format!("the {} backend has no named volumes", self.name())))
    }
    /// Runs `cmd` inside a running unit and collects its output, at most `cap` bytes per stream.
    async fn exec(&self, unit: &UnitHandle, cmd: &ExecCommand, cap: usize) -> Result<ExecOutput, BackendError>;
    /// Joins a running unit's console (`Capabilities::attach`): its output from now on (with
    /// `replay`, everything it printed so far first), and `io`'s stdin and terminal sizes
    /// (`io.tty` is the unit's own). The output ends when the unit's does, or when the
    /// input ends on a TTY.
    async fn join(&self, unit: &UnitHandle, io: LiveIo, replay: bool) -> Result<OutputStreamOf, BackendError> {
        let _ = (io, replay);
        Err(BackendError::Unsupported(format!("the {} backend cannot attach to {}", self.name(), unit.name)))
    }
    /// Runs `cmd` in a running unit with live input (`Capabilities::attach`): with `io.tty`
    /// on a pseudo-terminal, with `io.stdin` the input fed to its stdin. The exit is the
    /// command's.
    async fn exec_live(&self, unit: &UnitHandle, cmd: &ExecCommand, io: LiveIo) -> Result<Started, BackendError> {
        let _ = (cmd, io);
        Err(BackendError::Unsupported(format!("the {} backend cannot run live commands in {}", self.name(), unit.name)))
    }
    /// Starts `cmd` in a running unit and returns at once (`berth exec -d`).
    async fn exec_detached(&self, unit: &UnitHandle, cmd: &ExecCommand) -> Result<(), BackendError> {
        let _ = cmd;
        Err(BackendError::Unsupported(format!(
            "the {} backend cannot run detached commands in {}",
            self.name(),
            unit.name
        )))
    }
    /// Watches a unit started by an earlier process: its output past `from` (the bytes of
    /// each stream already consumed, skipped exactly), and its exit.
    async fn attach(&self, unit: &UnitHandle, from: LogPosition) -> Result<Started, BackendError> {
        let _ = from;
        Err(BackendError::Engine(format!("{} cannot reattach to running units", unit.name)))
    }
}

/// A command to run in a running unit (`berth exec`, `POST /v1/jobs/{id}/exec`): without a
/// shell, as the unit's user in its workdir and env unless these say otherwise.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecCommand {
    /// The program and its arguments.
    pub command: Vec<String>,
    /// Variables added to the unit's own (`docker exec -e`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// `user`, `uid` or `uid:gid` (`docker exec -u`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// An absolute directory to run in (`docker exec -w`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
}

impl ExecCommand {
    pub fn new(command: &[String]) -> ExecCommand {
        ExecCommand { command: command.to_vec(), ..ExecCommand::default() }
    }

    /// What is wrong with it, by field: no program, a variable name that is not one, a
    /// relative workdir.
    pub fn problems(&self) -> Vec<crate::spec_load::FieldError> {
        let mut out = Vec::new();
        if self.command.first().is_none_or(|p| p.is_empty()) {
            out.push(crate::spec_load::FieldError::new("command", "must name a program"));
        }
        for key in self.env.keys() {
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                out.push(crate::spec_load::FieldError::new(format!("env.{key}"), "is not a variable name"));
            }
        }
        if self.workdir.as_deref().is_some_and(|w| !w.starts_with('/')) {
            out.push(crate::spec_load::FieldError::new("workdir", "must be an absolute path"));
        }
        out
    }
}

/// What a command run with `Backend::exec` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecOutput {
    pub exit_code: i64,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Set when a stream passed the cap and the rest was dropped.
    pub truncated: bool,
}

impl ExecOutput {
    /// Appends to `stdout` or `stderr` up to `cap` bytes, marking truncation past it.
    pub fn push(&mut self, stream: OutputStream, data: &[u8], cap: usize) {
        let buf = match stream {
            OutputStream::Stdout => &mut self.stdout,
            OutputStream::Stderr => &mut self.stderr,
        };
        let room = cap.saturating_sub(buf.len());
        if data.len() > room {
            self.truncated = true;
        }
        buf.extend_from_slice(&data[..data.len().min(room)]);
    }
}
