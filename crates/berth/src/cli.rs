//! The command line, as clap sees it: raw flags only. `run_flags` turns `RunArgs` into a
//! spec; `config` resolves the global options. Flags mirror `docker run` where Docker has one.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "berth", version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("BERTH_COMMIT"), ")"),
    about = "Run container images as durable jobs", propagate_version = true)]
pub struct Cli {
    /// Where berth keeps its database, logs and outputs [default: $XDG_DATA_HOME/berth]
    #[arg(long, global = true, env = "BERTH_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Config file [default: $XDG_CONFIG_HOME/berth/config.toml]
    #[arg(long, global = true, env = "BERTH_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A berth server to talk to instead of the embedded store, e.g. http://127.0.0.1:8420
    #[arg(long, global = true, env = "BERTH_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// API token for --server (from `berth token create`)
    #[arg(long, global = true, env = "BERTH_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The store: a PostgreSQL URL (postgres://user:pass@host/db) shared by many nodes
    /// [default: the embedded SQLite store in the data dir]. Every command that reads or
    /// writes jobs, tokens, tenants, queues or workers uses it
    #[arg(long, global = true, env = "BERTH_STORE", value_name = "URL", hide_env_values = true)]
    pub store: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a job: like `docker run`, but recorded, capped and cleaned up
    Run(Box<RunArgs>),
    /// List jobs (unfinished ones; -a for all)
    Ps(PsArgs),
    /// Print a job's output (-f to follow)
    Logs(LogsArgs),
    /// Show everything recorded about a job, as JSON
    Inspect(InspectArgs),
    /// Wait for a job to finish; prints its exit code and exits with it
    Wait(IdArgs),
    /// Remove finished jobs with their logs and outputs
    Rm(RmArgs),
    /// Remove containers left behind by berth processes that died
    Gc(GcArgs),
    /// Cancel a job: stop its container (stop signal, grace, kill) and record `cancelled`
    Cancel(IdArgs),
    /// Run a job that failed, timed out, was cancelled or lost again, as a new attempt
    Retry(IdArgs),
    /// Run a command in a running job's container
    Exec(ExecArgs),
    /// Attach this terminal to a running job's console (a -it job: its shell; through a server, or on the local engine)
    Attach(AttachArgs),
    /// Copy an artifact a job left in $BERTH_OUTPUT_DIR out: `berth cp JOB:reports/r.txt .`
    Cp(CpArgs),
    /// Serve the HTTP API, run queued jobs on local workers, deliver webhooks
    Server(ServerArgs),
    /// Run queued jobs from a shared store (PostgreSQL) on this machine's engine, no API
    Worker(WorkerArgs),
    /// List the workers registered in the store, with heartbeat, load and circuit state
    Workers(WorkersArgs),
    /// Limit how many jobs of a queue run at once, across all workers
    #[command(subcommand)]
    Queue(QueueCommand),
    /// Manage API tokens, in the server's store (--store, or the data dir's embedded store)
    #[command(subcommand)]
    Token(TokenCommand),
    /// Show or change a tenant: limits and its policy override
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Set, list or remove secrets (sealed at rest; jobs get them as env or files)
    #[command(subcommand)]
    Secret(SecretCommand),
    /// List or remove named volumes (each tenant has its own)
    #[command(subcommand)]
    Volume(VolumeCommand),
    /// Cron schedules that make jobs: add, list, show, pause, resume, trigger, preview
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// Show the policy that decides what jobs may ask for (mounts, capabilities, images, ceilings)
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Print a shell completion script: `berth completion bash > /etc/bash_completion.d/berth`
    Completion(CompletionArgs),
    /// Write man pages for berth and each of its commands into a directory
    Man(ManArgs),
    /// Print berth's version and the commit it was built from
    Version,
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// bash, zsh, fish, elvish or powershell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Where the pages go (made if missing), e.g. /usr/local/share/man/man1
    pub dir: std::path::PathBuf,
}

impl RunArgs {
    /// Whether stdin is forwarded: `-i`, or Docker's `-a stdin`.
    pub fn wants_stdin(&self) -> bool {
        self.interactive || self.docker.attach.iter().any(|s| s == "stdin")
    }
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Only watch: do not forward this terminal's input
    #[arg(long)]
    pub no_stdin: bool,
    /// The keys that detach [default: ctrl-p,ctrl-q]
    #[arg(long, value_name = "KEYS")]
    pub detach_keys: Option<String>,
    /// No-op: a job on a TTY gets Ctrl-C as a key; otherwise Ctrl-C detaches
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub sig_proxy: Option<bool>,
    pub id: String,
}

#[derive(Debug, Args)]
pub struct CpArgs {
    /// JOB:NAME, NAME as `berth inspect` lists it under artifacts
    pub source: String,
    /// A file, a directory (the artifact keeps its file name), or - for stdout
    pub dest: String,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub refused: crate::verb_flags::ExecRefused,
    /// Keep stdin open and forward it to the command
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY (with -i: an interactive shell)
    #[arg(short, long)]
    pub tty: bool,
    /// Start the command and return at once (no output, no exit code)
    #[arg(short, long, conflicts_with_all = ["interactive", "tty"])]
    pub detach: bool,
    /// The keys that detach from -it [default: ctrl-p,ctrl-q]
    #[arg(long, value_name = "KEYS")]
    pub detach_keys: Option<String>,
    /// A variable for the command: KEY=VALUE, or KEY to pass this shell's value
    #[arg(short, long, value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Variables from a file of KEY=VALUE lines
    #[arg(long, value_name = "FILE")]
    pub env_file: Vec<std::path::PathBuf>,
    /// Run as this user: name, uid or uid:gid [default: the job's]
    #[arg(short, long, value_name = "USER")]
    pub user: Option<String>,
    /// Run in this directory (absolute) [default: the job's]
    #[arg(short, long, value_name = "DIR")]
    pub workdir: Option<String>,
    pub id: String,
    /// The command and its arguments (no shell)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:8420", value_name = "ADDR")]
    pub listen: String,
    /// Local worker slots [default: the number of CPUs]; 0 for an API-only server
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Accept every request as an admin, without a token. For local development only
    #[arg(long)]
    pub insecure_no_auth: bool,
    /// Do not run a scheduler on this server (schedules fire from the other servers)
    #[arg(long)]
    pub no_scheduler: bool,
    /// First webhook retry delay (doubles per try)
    #[arg(long, default_value = "2s", value_name = "DURATION", hide = true)]
    pub webhook_backoff: String,
    #[command(flatten)]
    pub node: NodeArgs,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Jobs run at once [default: the number of CPUs]
    #[arg(long, value_name = "N")]
    pub slots: Option<usize>,
    #[command(flatten)]
    pub node: NodeArgs,
}

/// What `server` and `worker` share: how this node runs and claims work. Each flag wins
/// over the same key in the config file's `[node]` table, which wins over the default.
#[derive(Debug, Default, Args)]
pub struct NodeArgs {
    /// What runs attempts: containers on the Docker engine, plain processes (no isolation
    /// at all: trusted commands on hosts without an engine), Kubernetes Jobs or ECS tasks (a
    /// build with the `kubernetes` or `ecs` feature) [default: docker]
    #[arg(long, value_enum)]
    pub backend: Option<crate::wiring::BackendKind>,
    /// This worker's id, stable across restarts [default: kept in the data dir]
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
    /// Queues to claim from (repeatable) [default: default]
    #[arg(long = "queue", value_name = "NAME")]
    pub queues: Vec<String>,
    /// Tags jobs can require with `requires:` (repeatable), e.g. --tag region=eu
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,
    /// How long a claimed job's lease lasts without a heartbeat [default: 30s]
    #[arg(long, value_name = "DURATION")]
    pub lease: Option<String>,
    /// On SIGTERM, how long running jobs may finish before they are stopped [default: 30s]
    #[arg(long, value_name = "DURATION")]
    pub shutdown_grace: Option<String>,
    /// Delete finished jobs (logs, outputs) older than this, e.g. 30d [default: keep]
    #[arg(long, value_name = "DURATION")]
    pub retention: Option<String>,
    /// What jobs may ask for: a policy file (TOML, or YAML/JSON by extension) over the
    /// server's deny-by-default rules [default: node.policy in the config file]
    #[arg(long, env = "BERTH_POLICY", value_name = "FILE")]
    pub policy: Option<std::path::PathBuf>,
    /// How often the container sweep runs [default: 60s]
    #[arg(long, value_name = "DURATION", hide = true)]
    pub gc_interval: Option<String>,
}

#[derive(Debug, Args)]
pub struct WorkersArgs {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Set (or with --unlimited, remove) a queue's running limit
    Set {
        name: String,
        #[arg(long, value_name = "N", required_unless_present = "unlimited")]
        max_running: Option<u32>,
        #[arg(long, conflicts_with = "max_running")]
        unlimited: bool,
    },
    /// Show the queues' running limits
    Limits,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; it is shown once and only its hash is stored
    Create {
        /// The tenant whose jobs the token sees and submits
        #[arg(long, default_value = "default")]
        tenant: String,
        /// See and touch every tenant's jobs, and read the audit log
        #[arg(long)]
        admin: bool,
        /// A label to recognise the token by
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List tokens (never their secrets)
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by its id
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Show a tenant's webhook signing secret and limits
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Change a tenant's settings; only the ones given change
    Set {
        name: String,
        /// Most of its jobs starting or running at once, across all nodes
        #[arg(long, value_name = "N")]
        max_running: Option<u32>,
        /// Remove the running limit
        #[arg(long, conflicts_with = "max_running")]
        unlimited: bool,
        /// Override the server policy for this tenant (TOML, or YAML/JSON by extension):
        /// only the rules the file names change
        #[arg(long, value_name = "FILE")]
        policy: Option<std::path::PathBuf>,
        /// Remove the tenant's override (back to the server policy)
        #[arg(long, conflicts_with = "policy")]
        clear_policy: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Create or replace a secret; the value comes from stdin (one trailing newline
    /// dropped) or --file, never from the command line
    Set {
        name: String,
        /// The tenant whose secret it is [default: yours, or `local` without a server]
        #[arg(long, value_name = "NAME")]
        tenant: Option<String>,
        /// Read the value from this file, byte for byte
        #[arg(long, value_name = "FILE")]
        file: Option<std::path::PathBuf>,
    },
    /// List secrets: names and times, never values
    Ls {
        #[arg(long, value_name = "NAME")]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Remove secrets
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
        #[arg(long, value_name = "NAME")]
        tenant: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Add a schedule: `berth schedule add nightly --cron "0 3 * * *" --tz Europe/Berlin -- IMAGE CMD...`
    /// (the job takes every `berth run` flag, or -f spec.yaml)
    Add(Box<ScheduleAddArgs>),
    /// List schedules: state, next due time, policies
    Ls {
        #[arg(long)]
        json: bool,
    },
    /// A schedule's config, next due times and latest jobs
    Show {
        /// Schedule name or id
        schedule: String,
        #[arg(long)]
        json: bool,
    },
    /// Remove schedules (the jobs they made stay)
    Rm {
        #[arg(required = true)]
        schedules: Vec<String>,
    },
    /// Pause a schedule: no due time runs until it is resumed
    Pause {
        schedule: String,
        /// Shown with the schedule while it is paused
        #[arg(long)]
        reason: Option<String>,
    },
    /// Resume a paused schedule (due times that passed while paused do not run)
    Resume { schedule: String },
    /// Run a schedule's job now, whatever its overlap policy
    Trigger {
        schedule: String,
        #[arg(long)]
        json: bool,
    },
    /// The next due times of a schedule, or of an expression not saved yet (--cron)
    Next {
        /// Schedule name or id
        #[arg(required_unless_present = "cron", conflicts_with = "cron")]
        schedule: Option<String>,
        #[arg(long, value_name = "EXPR")]
        cron: Option<String>,
        #[arg(long = "tz", value_name = "ZONE", requires = "cron")]
        timezone: Option<String>,
        /// How many
        #[arg(short = 'n', long, default_value_t = 5)]
        count: usize,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct ScheduleAddArgs {
    /// Unique per tenant: lowercase letters, digits, `-`, `_`, `.`
    pub schedule: String,
    /// 5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, or @daily-style
    #[arg(long, value_name = "EXPR")]
    pub cron: String,
    /// IANA time zone the expression is read in [default: UTC]
    #[arg(long = "tz", value_name = "ZONE")]
    pub timezone: Option<String>,
    /// While an earlier job still runs: allow, skip, queue-one or cancel-previous [default: skip]
    #[arg(long, value_name = "POLICY")]
    pub overlap: Option<String>,
    /// Due times missed while no scheduler ran: skip, run-once or catch-up [default: run-once]
    #[arg(long, value_name = "POLICY")]
    pub missed: Option<String>,
    /// catch-up: how far back missed due times still run [default: 24h]
    #[arg(long, value_name = "DURATION")]
    pub catch_up_window: Option<String>,
    /// catch-up: at most this many missed due times run [default: 10]
    #[arg(long, value_name = "N")]
    pub catch_up_max: Option<u32>,
    /// Start each job up to this long after its due time (the same delay on every node)
    #[arg(long, value_name = "DURATION")]
    pub jitter: Option<String>,
    /// No due times after this (RFC 3339)
    #[arg(long, value_name = "TIME")]
    pub end_at: Option<String>,
    /// Pause after this many failed jobs in a row
    #[arg(long, value_name = "N")]
    pub pause_after_failures: Option<u32>,
    /// Add it paused
    #[arg(long)]
    pub paused: bool,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// List the named volumes berth made (locally: every tenant's; through a server: yours)
    Ls {
        /// Only this tenant's (admins, through a server)
        #[arg(long, value_name = "NAME")]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Remove named volumes (refused while a job uses one)
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
        /// The tenant whose volume it is [default: yours, or `local` without a server]
        #[arg(long, value_name = "NAME")]
        tenant: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Show the policy a server or worker enforces (with --tenant, that tenant's override
    /// laid over it), as TOML or --json
    Show {
        #[arg(long, value_name = "NAME")]
        tenant: Option<String>,
        /// The local CLI's policy instead (the config's [policy] over the local defaults)
        #[arg(long, conflicts_with = "tenant")]
        local: bool,
        #[arg(long, env = "BERTH_POLICY", value_name = "FILE")]
        policy: Option<std::path::PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct IdArgs {
    /// Job id or a unique prefix of it (4+ characters)
    pub id: String,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Job id or a unique prefix of it (4+ characters)
    pub id: String,
    /// Print with a Go-template-like format, e.g. '{{.Status}} {{.ExitCode}}' or json
    #[arg(short, long, value_name = "FORMAT")]
    pub format: Option<String>,
    #[command(flatten)]
    pub refused: crate::verb_flags::InspectRefused,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all jobs, not only unfinished ones
    #[arg(short, long)]
    pub all: bool,
    /// Show the N newest jobs, in any state
    #[arg(short = 'n', long, value_name = "N")]
    pub last: Option<u32>,
    /// Show the newest job, in any state
    #[arg(short, long)]
    pub latest: bool,
    /// Only jobs that match: status=S, label=K[=V], image=I (or ancestor=I), queue=Q, name=N
    #[arg(short, long, value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// Show whole job ids and commands
    #[arg(long)]
    pub no_trunc: bool,
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
    /// Print only ids
    #[arg(short, long)]
    pub quiet: bool,
    /// Print each job with a Go-template-like format: '{{.ID}} {{.Status}}', 'table
    /// {{.ID}}\t{{.Image}}', or json (one object a line)
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    #[command(flatten)]
    pub refused: crate::verb_flags::PsRefused,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    pub id: String,
    /// Keep printing output until the job ends
    #[arg(short, long)]
    pub follow: bool,
    /// Start with only the last N lines (both streams together, like docker logs)
    #[arg(short = 'n', long, value_name = "N")]
    pub tail: Option<usize>,
    /// Start each line with the time it was stored (RFC 3339, as docker logs -t)
    #[arg(short, long)]
    pub timestamps: bool,
    /// Only output stored at or after this: RFC 3339, Unix seconds, or a duration ago (10m)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only output stored before this: RFC 3339, Unix seconds, or a duration ago (10m);
    /// with -f, follow until then
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// No-op: berth's jobs have no log attributes (a log driver's labels and env) to add
    #[arg(long)]
    pub details: bool,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    #[arg(required = true)]
    pub ids: Vec<String>,
    /// Cancel a job that has not ended, wait for it to end, then remove it
    #[arg(short, long)]
    pub force: bool,
    /// No-op: an attempt's volumes and files are always removed with it
    #[arg(short, long)]
    pub volumes: bool,
    #[command(flatten)]
    pub refused: crate::verb_flags::RmRefused,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Only report what would be removed
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long)]
    pub json: bool,
    /// Also delete finished jobs (with logs and outputs) that ended longer ago than this, e.g. 30d
    #[arg(long, value_name = "DURATION")]
    pub older_than: Option<String>,
}

#[derive(Debug, Default, Args)]
pub struct RunArgs {
    /// Job spec file (YAML or JSON); flags override its fields
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Keep stdin open and forward it to the job
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY (with -i: an interactive terminal; stdout and stderr are one stream)
    #[arg(short, long)]
    pub tty: bool,
    /// The keys that detach from a -it job (through a server), e.g. ctrl-a,x [default: ctrl-p,ctrl-q]
    #[arg(long, value_name = "KEYS")]
    pub detach_keys: Option<String>,
    /// Submit and print the job id without waiting (needs --server)
    #[arg(short, long)]
    pub detach: bool,
    /// With --server: leave the job running when this command gets Ctrl-C
    #[arg(long)]
    pub no_cancel: bool,
    /// No-op: berth always removes the container (`berth rm` removes the job's record)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub rm: Option<bool>,
    /// Set an environment variable (KEY=VALUE, or KEY to copy it from here)
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Read environment variables from a file
    #[arg(long, value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Give the job a secret (berth secret set): NAME as the variable NAME, or NAME=/path
    /// as a read-only file
    #[arg(long, value_name = "NAME[=/path]")]
    pub secret: Vec<String>,
    /// Bind mount or named volume: SRC:DST[:ro]
    #[arg(short, long = "volume", value_name = "SRC:DST[:ro]")]
    pub volume: Vec<String>,
    /// Mount: type=bind|volume|tmpfs,source=..,target=..[,readonly][,tmpfs-size=..]
    #[arg(long, value_name = "SPEC")]
    pub mount: Vec<String>,
    /// tmpfs mount: PATH[:size=64m,mode=1777]
    #[arg(long, value_name = "PATH[:OPTS]")]
    pub tmpfs: Vec<String>,
    #[arg(short, long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// User: name, uid or uid:gid
    #[arg(short, long)]
    pub user: Option<String>,
    #[arg(long)]
    pub hostname: Option<String>,
    /// Override the image's entrypoint ("" clears it)
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// none, bridge or a network name [default: from config, bridge]
    #[arg(long, alias = "net")]
    pub network: Option<String>,
    /// Publish a port: [ip:]host:container[/proto]
    #[arg(short, long = "publish", value_name = "PORT")]
    pub publish: Vec<String>,
    #[arg(long)]
    pub dns: Vec<String>,
    /// Add a host entry: NAME:IP
    #[arg(long = "add-host", value_name = "NAME:IP")]
    pub add_host: Vec<String>,
    /// CPU limit, e.g. 0.5 or 2
    #[arg(long)]
    pub cpus: Option<f64>,
    /// Memory limit, e.g. 512m [default: from config, 2g]
    #[arg(short, long, value_name = "SIZE", allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory plus swap (-1 or "unlimited" for unlimited swap) [default: same as memory]
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Process limit [default: from config, 1024]
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    #[arg(long, value_name = "SIZE")]
    pub shm_size: Option<String>,
    /// NAME=SOFT[:HARD]
    #[arg(long, value_name = "NAME=SOFT[:HARD]")]
    pub ulimit: Vec<String>,
    /// GPUs: all, a count, or device=0,1
    #[arg(long)]
    pub gpus: Option<String>,
    /// Mount the root filesystem read-only
    #[arg(long)]
    pub read_only: bool,
    #[arg(long = "cap-add", value_name = "CAP")]
    pub cap_add: Vec<String>,
    #[arg(long = "cap-drop", value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// no-new-privileges[:false], seccomp=PROFILE, apparmor=PROFILE
    #[arg(long = "security-opt", value_name = "OPT")]
    pub security_opt: Vec<String>,
    /// Refused unless the policy allows it
    #[arg(long)]
    pub privileged: bool,
    /// Run without the init process (tini) berth adds by default
    #[arg(long)]
    pub no_init: bool,
    /// always, missing (if-not-present) or never
    #[arg(long, value_name = "POLICY")]
    pub pull: Option<String>,
    /// Stop the job after this long, e.g. 30s or 2h [default: 1h]
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Seconds between the stop signal and SIGKILL [default: 10]
    #[arg(long, value_name = "SECONDS")]
    pub stop_timeout: Option<String>,
    #[arg(long, value_name = "SIGNAL")]
    pub stop_signal: Option<String>,
    /// Set a label: KEY=VALUE
    #[arg(short, long = "label", value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// A name for the job
    #[arg(long)]
    pub name: Option<String>,
    /// Stored log bytes per job (head and tail kept past it) [default: 10m]
    #[arg(long, value_name = "SIZE")]
    pub log_cap: Option<String>,
    /// Stdout JSON lines with this key are events, its value their kind (`type` for
    /// `{"type": "job_update", ...}`; `*`: every JSON object) [default: berth]
    #[arg(long, value_name = "KEY")]
    pub event_key: Option<String>,
    /// IMAGE [COMMAND] [ARG...]
    #[command(flatten)]
    pub docker: crate::docker_flags::DockerArgs,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "IMAGE [COMMAND]...")]
    pub image_and_command: Vec<String>,
}
