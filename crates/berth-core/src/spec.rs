//! The job spec: what to run. One typed struct that the CLI flags, the API and YAML/JSON
//! files all produce. Unknown fields are rejected at every level (see `spec_load`), and
//! `validate` checks the rules serde cannot express.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::Timestamp;
use crate::quantity::{ByteSize, DurationSpec};
pub use crate::retry::{Concurrency, Retries};
use crate::status::JobStatus;

/// Everything berth needs to run one job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// Image reference, e.g. `alpine:3.20` or `registry:5000/team/tool@sha256:...`.
    pub image: String,
    #[serde(default)]
    pub pull: PullPolicy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_auth: Option<RegistryAuth>,
    /// A human name for the job (not unique).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// Replaces the image's CMD. `args` are appended to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Values from the tenant's secret store, given to the job as variables or files; never
    /// shown back and redacted from its logs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretRef>,
    /// Files of `KEY=VALUE` lines, merged into `env` when the spec is loaded (`env` wins).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_files: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<StdinPayload>,
    /// Keep stdin open for a live attach (`docker run -i` through a server, `berth attach`):
    /// the first attach's end of input closes it, unless `tty` is set.
    #[serde(default, skip_serializing_if = "is_false")]
    pub interactive: bool,
    /// Give the job a pseudo-terminal (`docker run -t`): stdout and stderr become one
    /// stream, stored as stdout, with the terminal's line endings (`\r\n`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub tty: bool,
    /// Files placed in `workspace_dir` before the container starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<InputFile>,
    #[serde(default = "default_workspace_dir")]
    pub workspace_dir: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only: bool,
    /// `none`, `bridge`, `host` (policy-gated) or a named network. Unset: the configured default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// `host` or `container:<name>` (both policy-gated); unset: the job's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    /// `none`, `private`, `shareable`, `host` or `container:<name>` (the last two policy-gated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipc: Option<String>,
    /// `host` (policy-gated); unset: the job's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uts: Option<String>,
    /// Docker syntax: `[ip:]host:container[/proto]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    /// `name:ip` entries added to /etc/hosts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    /// DNS search domains (Docker's `--dns-search`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_search: Vec<String>,
    /// Resolver options such as `ndots:2` (Docker's `--dns-option`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_options: Vec<String>,
    /// The container's NIS domain name (Docker's `--domainname`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    #[serde(default)]
    pub resources: Resources,
    #[serde(default)]
    pub security: Security,
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Signal sent on timeout or cancel before the grace period (default SIGTERM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default)]
    pub output: OutputLimits,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_driver: Option<LogDriver>,
    /// Which queue the job waits in (default `default`); workers claim from their queues.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// Webhooks called when the job ends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<Notify>,
    /// Higher runs first among due jobs of a queue (default 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub priority: i32,
    /// Not before this time (RFC 3339, e.g. `2026-11-24T03:00:00Z`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_at: Option<String>,
    /// Limits how many jobs sharing a key run at once (e.g. one per customer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<Concurrency>,
    /// Worker tags the job needs (`berth worker --tag region=eu`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requires: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "is_default_retries")]
    pub retries: Retries,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

fn is_default_retries(r: &Retries) -> bool {
    *r == Retries::default()
}

pub const DEFAULT_QUEUE: &str = "default";

fn default_workspace_dir() -> String {
    "/workspace".to_string()
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_true(b: &bool) -> bool {
    *b
}

fn yes() -> bool {
    true
}

impl JobSpec {
    /// A spec with only an image and defaults everywhere else.
    pub fn new(image: impl Into<String>) -> JobSpec {
        JobSpec {
            image: image.into(),
            pull: PullPolicy::default(),
            registry_auth: None,
            name: None,
            entrypoint: None,
            command: None,
            args: Vec::new(),
            env: BTreeMap::new(),
            secrets: Vec::new(),
            env_files: Vec::new(),
            workdir: None,
            user: None,
            hostname: None,
            labels: BTreeMap::new(),
            stdin: None,
            interactive: false,
            tty: false,
            files: Vec::new(),
            workspace_dir: default_workspace_dir(),
            mounts: Vec::new(),
            read_only: false,
            network: None,
            pid: None,
            ipc: None,
            uts: None,
            ports: Vec::new(),
            dns: Vec::new(),
            extra_hosts: Vec::new(),
            dns_search: Vec::new(),
            dns_options: Vec::new(),
            domainname: None,
            resources: Resources::default(),
            security: Security::default(),
            timeouts: Timeouts::default(),
            stop_signal: None,
            output: OutputLimits::default(),
            healthcheck: None,
            log_driver: None,
            queue: None,
            notify: Vec::new(),
            priority: 0,
            run_at: None,
            concurrency: None,
            requires: BTreeMap::new(),
            retries: Retries::default(),
        }
    }

    /// The full argv that replaces the image's CMD, if any.
    pub fn cmd(&self) -> Option<Vec<String>> {
        match (&self.command, self.args.is_empty()) {
            (None, true) => None,
            (None, false) => Some(self.args.clone()),
            (Some(c), _) => Some(c.iter().chain(&self.args).cloned().collect()),
        }
    }

    /// The queue name, `default` when unset.
    pub fn queue_name(&self) -> &str {
        self.queue.as_deref().unwrap_or(DEFAULT_QUEUE)
    }

    /// When a job created at `created` and still queued times out: the earlier of its queue
    /// timeout, counted from when it is due (`run_at`, else `created`) and only while it waits
    /// for its first attempt (`first_wait`), and its total timeout, counted from `created`
    /// across every attempt and wait.
    pub fn queue_deadline(&self, created: Timestamp, first_wait: bool) -> Option<Timestamp> {
        let due = self.due_at(created);
        let after = |from: Timestamp, d: &Option<DurationSpec>| {
            d.as_ref().map(|d| from.0.saturating_add(d.0.as_millis() as i64))
        };
        let queue = if first_wait { after(due, &self.timeouts.queue) } else { None };
        match (queue, after(created, &self.timeouts.total)) {
            (Some(a), Some(b)) => Some(Timestamp(a.min(b))),
            (a, b) => a.or(b).map(Timestamp),
        }
    }

    /// When a job created at `created` first becomes due: its `run_at`, never before `created`.
    pub fn due_at(&self, created: Timestamp) -> Timestamp {
        self.run_at_time().map_or(created, |t| Timestamp(t.0.max(created.0)))
    }

    /// When the job becomes due: `run_at` if set and valid (validation rejects bad ones).
    pub fn run_at_time(&self) -> Option<Timestamp> {
        let t = humantime::parse_rfc3339_weak(self.run_at.as_deref()?).ok()?;
        let ms = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis();
        Some(Timestamp(i64::try_from(ms).ok()?))
    }

    /// A copy safe to show: registry passwords are replaced by `***`.
    pub fn redacted(&self) -> JobSpec {
        let mut spec = self.clone();
        if let Some(auth) = &mut spec.registry_auth {
            auth.password = "***".to_string();
        }
        spec
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PullPolicy {
    Always,
    #[default]
    IfNotPresent,
    Never,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistryAuth {
    pub username: String,
    pub password: String,
    /// Registry host; defaults to the image reference's registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
}

/// Bytes written to the container's stdin before it is closed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum StdinPayload {
    /// Plain text.
    Text(String),
    /// A JSON document, written compactly followed by a newline.
    Json {
        #[schema(value_type = Object)]
        json: serde_json::Value,
    },
}

impl StdinPayload {
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            StdinPayload::Text(t) => t.as_bytes().to_vec(),
            StdinPayload::Json { json } => {
                let mut out = json.to_string().into_bytes();
                out.push(b'\n');
                out
            }
        }
    }
}

/// One secret a job gets: `{name: OPENAI_API_KEY}` is the variable of that name,
/// `{name: db, file: /run/secrets/db}` a read-only file (on a tmpfs where the backend can).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    /// The secret's name in the tenant's store (`berth secret set NAME`).
    pub name: String,
    /// The variable it becomes; default: `name`, unless `file` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// An absolute path it becomes, as a read-only file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

impl SecretRef {
    /// The variable this secret becomes, if any.
    pub fn env_name(&self) -> Option<&str> {
        match (&self.env, &self.file) {
            (Some(e), _) => Some(e),
            (None, None) => Some(&self.name),
            (None, Some(_)) => None,
        }
    }
}

/// A file placed into the workspace directory before the container starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InputFile {
    /// Relative path inside the workspace; no `..`, no absolute paths.
    pub path: String,
    pub content: String,
    /// Unix mode, e.g. 0o755 for a script. Default 0o644.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Mount {
    Volume {
        source: String,
        target: String,
        #[serde(default, skip_serializing_if = "is_false")]
        read_only: bool,
    },
    Bind {
        source: String,
        target: String,
        #[serde(default, skip_serializing_if = "is_false")]
        read_only: bool,
    },
    Tmpfs {
        target: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        size: Option<ByteSize>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mode: Option<u32>,
    },
}

impl Mount {
    pub fn target(&self) -> &str {
        match self {
            Mount::Volume { target, .. } | Mount::Bind { target, .. } | Mount::Tmpfs { target, .. } => target,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    /// Unset: the configured default limit (secure default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<ByteSize>,
    /// Memory + swap; `-1` (unlimited swap) is written as the string "unlimited".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_swap: Option<MemorySwap>,
    /// Unset: the configured default limit (secure default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<ByteSize>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ulimits: Vec<Ulimit>,
    /// Docker's `--gpus` syntax: `all`, a count, or `device=0,1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<String>,
    /// Host devices, Docker's `--device` syntax: `/dev/fuse[:/dev/fuse[:rwm]]` (policy-gated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<String>,
    /// CPU weight against other jobs when CPUs are contended (Docker's `--cpu-shares`, 2 to 262144).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_shares: Option<u32>,
    /// The CPUs it may run on, e.g. `0-3,6` (Docker's `--cpuset-cpus`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpuset_cpus: Option<String>,
    /// A soft memory limit, reclaimed first when the host runs short (at most `memory`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<ByteSize>,
    /// The rest of Docker's cgroup knobs (CPU periods, real-time CPU, memory nodes,
    /// swappiness, the OOM score, block IO weights and throttles, device cgroup rules).
    #[serde(default, skip_serializing_if = "Cgroup::is_unset")]
    pub cgroup: Cgroup,
}

impl Resources {
    /// No swap beyond memory: `memory_swap` unset or equal to `memory` (what a backend
    /// without swap, a pod or a task, can mean).
    pub fn swap_is_memory(&self) -> bool {
        match (self.memory_swap, self.memory) {
            (None, _) => true,
            (Some(MemorySwap::Limit(s)), Some(m)) => s == m,
            _ => false,
        }
    }
}

/// Docker's finer cgroup settings, each with its `docker run` flag's meaning.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Cgroup {
    /// CFS period in microseconds (`--cpu-period`, 1000 to 1000000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_period: Option<i64>,
    /// CFS quota in microseconds per period (`--cpu-quota`, at least 1000; -1: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_quota: Option<i64>,
    /// Real-time period and runtime in microseconds (`--cpu-rt-period`, `--cpu-rt-runtime`;
    /// policy: `privileged`, as real-time CPU can starve the host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_rt_period: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_rt_runtime: Option<i64>,
    /// Memory nodes the job may use, e.g. `0-1` (`--cpuset-mems`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpuset_mems: Option<String>,
    /// 0 to 100 (`--memory-swappiness`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_swappiness: Option<i64>,
    /// -1000 to 1000 (`--oom-score-adj`); below 0 it is spared by the OOM killer at the
    /// host's expense (policy: `oom_kill_disable`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i64>,
    /// Block IO weight, 10 to 1000 (`--blkio-weight`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blkio_weight: Option<u16>,
    /// `PATH:WEIGHT` per device (`--blkio-weight-device`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blkio_weight_device: Vec<String>,
    /// `PATH:RATE` throttles (`--device-read-bps` with sizes such as `1mb`, `--device-read-iops`
    /// with counts, and their write twins).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_read_bps: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_write_bps: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_read_iops: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_write_iops: Vec<String>,
    /// Device cgroup rules such as `c 1:3 mr` (`--device-cgroup-rule`; policy: `devices`
    /// must allow every device).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_cgroup_rules: Vec<String>,
}

impl Cgroup {
    pub fn is_unset(&self) -> bool {
        *self == Cgroup::default()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum MemorySwap {
    Limit(ByteSize),
    Unlimited(Unlimited),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Unlimited {
    Unlimited,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Security {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    /// Always includes `ALL` unless `keep_default_caps` is set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    /// Supplementary groups of the job's user, by name or id (Docker's `--group-add`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_add: Vec<String>,
    /// Keep Docker's default capability set instead of dropping all.
    #[serde(default, skip_serializing_if = "is_false")]
    pub keep_default_caps: bool,
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub no_new_privileges: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp_profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apparmor_profile: Option<String>,
    /// Policy-gated: refused unless the policy allows it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub privileged: bool,
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub init: bool,
    /// Policy-gated.
    #[serde(default, skip_serializing_if = "is_false")]
    pub oom_kill_disable: bool,
    /// Namespaced kernel parameters, e.g. `net.ipv4.ip_forward: "1"` (policy-gated).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctls: BTreeMap<String, String>,
    /// The engine's OCI runtime for this job, e.g. `runsc` (policy-gated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
}

impl Default for Security {
    fn default() -> Self {
        Security {
            cap_add: Vec::new(),
            cap_drop: Vec::new(),
            keep_default_caps: false,
            group_add: Vec::new(),
            no_new_privileges: true,
            seccomp_profile: None,
            apparmor_profile: None,
            privileged: false,
            init: true,
            oom_kill_disable: false,
            sysctls: BTreeMap::new(),
            runtime: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// Longest the container may run.
    #[serde(default = "default_run_timeout")]
    pub run: DurationSpec,
    /// Between the stop signal and SIGKILL.
    #[serde(default = "default_stop_grace")]
    pub stop_grace: DurationSpec,
    /// Longest a job may wait before it starts (enforced by queues; see the server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<DurationSpec>,
    /// Longest across all attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<DurationSpec>,
}

fn default_run_timeout() -> DurationSpec {
    DurationSpec::secs(3600)
}

fn default_stop_grace() -> DurationSpec {
    DurationSpec::secs(10)
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { run: default_run_timeout(), stop_grace: default_stop_grace(), queue: None, total: None }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputLimits {
    /// Stored log bytes per job; past it the head and tail are kept with a marker between.
    #[serde(default = "default_log_cap")]
    pub log_cap: ByteSize,
    /// Path inside `$BERTH_OUTPUT_DIR` read as the job's JSON result.
    #[serde(default = "default_result_file")]
    pub result_file: String,
    #[serde(default = "default_result_cap")]
    pub result_cap: ByteSize,
    /// Total size of artifacts kept per attempt.
    #[serde(default = "default_artifacts_cap")]
    pub artifacts_cap: ByteSize,
    /// Which stdout lines are events rather than log: JSON objects with this key, whose
    /// string value is the event's kind (`type` for `{"type": "job_update", ...}`); `*` makes
    /// every JSON-object line an event (kind `event`). Default: `berth`.
    #[serde(default = "default_event_key", skip_serializing_if = "is_default_event_key")]
    pub event_key: String,
}

fn default_log_cap() -> ByteSize {
    ByteSize::mib(10)
}
fn default_result_file() -> String {
    "result.json".to_string()
}
fn default_result_cap() -> ByteSize {
    ByteSize::mib(1)
}
fn default_artifacts_cap() -> ByteSize {
    ByteSize::mib(100)
}
fn default_event_key() -> String {
    crate::stdout_events::DEFAULT_KEY.to_string()
}
fn is_default_event_key(key: &str) -> bool {
    key == crate::stdout_events::DEFAULT_KEY
}

impl Default for OutputLimits {
    fn default() -> Self {
        OutputLimits {
            log_cap: default_log_cap(),
            result_file: default_result_file(),
            result_cap: default_result_cap(),
            artifacts_cap: default_artifacts_cap(),
            event_key: default_event_key(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Healthcheck {
    /// Docker form: `["CMD", "curl", "-f", "http://localhost/"]` or `["CMD-SHELL", "..."]`.
    pub test: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<DurationSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<DurationSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<DurationSpec>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogDriver {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

/// A webhook: berth POSTs a signed JSON body to `url` when the job reaches one of `events`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// `http://` or `https://` URL.
    pub url: String,
    /// Terminal statuses to notify on; empty means every terminal status.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<JobStatus>,
}

impl Notify {
    pub fn wants(&self, status: JobStatus) -> bool {
        status.is_terminal() && (self.events.is_empty() || self.events.contains(&status))
    }
}
