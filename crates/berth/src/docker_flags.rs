//! `docker run` flags beyond berth's own: the ones that map onto the spec (namespaces,
//! devices, sysctls, runtime, log driver, health check, restart as retries, label files),
//! the no-ops (berth's behaviour already is the flag's), and the ones berth refuses by
//! name, with the reason. An unknown flag is reported as a flag, never taken for the image
//! (clap puts whatever follows the known flags into `IMAGE [COMMAND]...`).
//! docs/docker-compat.md is the table; `scripts/docker-parity` checks it against the
//! installed `docker run --help`.

use std::path::PathBuf;

use berth_core::retry::RetryOn;
use berth_core::spec::{Healthcheck, JobSpec, LogDriver};
use clap::Args;

use crate::run_flags::{FlagError, err};

#[derive(Debug, Default, Args)]
pub struct DockerArgs {
    /// PID namespace: `host` or `container:<job container>` (policy decides)
    #[arg(long, value_name = "MODE")]
    pub pid: Option<String>,
    /// IPC namespace: `private`, `shareable`, `host` or `container:<job container>`
    #[arg(long, value_name = "MODE")]
    pub ipc: Option<String>,
    /// UTS namespace: `host` (policy decides)
    #[arg(long, value_name = "MODE")]
    pub uts: Option<String>,
    /// Give the job a host device: /dev/x[:/dev/y[:rwm]] (policy decides)
    #[arg(long, value_name = "DEV")]
    pub device: Vec<String>,
    /// A namespaced kernel parameter: KEY=VALUE (policy decides)
    #[arg(long, value_name = "KEY=VALUE")]
    pub sysctl: Vec<String>,
    /// An OCI runtime the engine has, e.g. runsc (policy decides)
    #[arg(long, value_name = "NAME")]
    pub runtime: Option<String>,
    /// The engine's log driver for the container (berth stores the output either way)
    #[arg(long, value_name = "NAME")]
    pub log_driver: Option<String>,
    /// A log driver option: KEY=VALUE
    #[arg(long, value_name = "KEY=VALUE")]
    pub log_opt: Vec<String>,
    /// A health check command, run in a shell in the container
    #[arg(long, value_name = "CMD")]
    pub health_cmd: Option<String>,
    #[arg(long, value_name = "DURATION")]
    pub health_interval: Option<String>,
    #[arg(long, value_name = "DURATION")]
    pub health_timeout: Option<String>,
    #[arg(long, value_name = "N")]
    pub health_retries: Option<u32>,
    #[arg(long, value_name = "DURATION")]
    pub health_start_period: Option<String>,
    /// Turn off the image's HEALTHCHECK
    #[arg(long, conflicts_with = "health_cmd")]
    pub no_healthcheck: bool,
    /// Do not let the kernel's OOM killer end the job (policy decides)
    #[arg(long)]
    pub oom_kill_disable: bool,
    /// `no`, or `on-failure[:N]`: retry a failed job up to N times (berth's retries)
    #[arg(long, value_name = "POLICY")]
    pub restart: Option<String>,
    /// Read labels from a file of KEY=VALUE lines
    #[arg(long, value_name = "FILE")]
    pub label_file: Vec<PathBuf>,
    /// No-op: berth runs an init process already (`--init=false` or --no-init turns it off)
    #[arg(long, conflicts_with = "no_init", value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub init: Option<bool>,
    /// No-op: berth verifies nothing a content-trust server signs
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub disable_content_trust: Option<bool>,
    /// No-op: EXPOSE is metadata; -p publishes
    #[arg(long, value_name = "PORT")]
    pub expose: Vec<String>,
    /// No-op: stdout and stderr are always attached (`-a stdin` is -i)
    #[arg(short = 'a', long, value_name = "STREAM")]
    pub attach: Vec<String>,
    /// No-op: Ctrl-C cancels the job (`--no-cancel` leaves it running)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub sig_proxy: Option<bool>,
    /// Do not show pull progress
    #[arg(short, long)]
    pub quiet: bool,
    /// CPU weight against other jobs when CPUs are contended (1024 is the default)
    #[arg(short = 'c', long, value_name = "N")]
    pub cpu_shares: Option<u32>,
    /// The CPUs the job may run on, e.g. 0-3,6
    #[arg(long, value_name = "LIST")]
    pub cpuset_cpus: Option<String>,
    #[command(flatten)]
    pub cgroup: CgroupArgs,
    /// A soft memory limit below -m, reclaimed first when the host runs short
    #[arg(long, value_name = "SIZE")]
    pub memory_reservation: Option<String>,
    /// A supplementary group for the job's user (name or id)
    #[arg(long, value_name = "GROUP")]
    pub group_add: Vec<String>,
    /// A DNS search domain
    #[arg(long, value_name = "DOMAIN")]
    pub dns_search: Vec<String>,
    /// A resolver option, e.g. ndots:2
    #[arg(long, value_name = "OPT")]
    pub dns_option: Vec<String>,
    /// The container's NIS domain name
    #[arg(long, value_name = "NAME")]
    pub domainname: Option<String>,
}

/// Flags berth refuses, each with why and what to do instead.
pub const REFUSED: &[(&[&str], &str)] = &[
    (&["-h"], "-h is --help in berth: give the container's hostname with --hostname"),
    (&["--link"], "legacy Docker links: put the jobs on one named network (--network)"),
    (&["--volumes-from"], "legacy: mount the same named volume in each job (-v NAME:/path)"),
    (&["--isolation", "--cpu-count", "--cpu-percent", "--io-maxbandwidth", "--io-maxiops"], "Windows containers only"),
    (&["--annotation"], "OCI annotations are not supported yet: use labels (-l)"),
    (
        &["--health-start-interval"],
        "not supported yet (engines before API 1.44 have no such setting): use --health-interval",
    ),
    (&["--use-api-socket"], "a job never gets the engine's socket (docs/security.md)"),
    (&["-P", "--publish-all"], "publish each port with -p (a tenant's ports follow its policy)"),
    (&["--cidfile"], "containers are berth's, one per attempt: use the job id (printed by -d, or berth ps -q)"),
    (&["--platform"], "berth runs images of the engine's own platform"),
    (&["--userns", "--cgroupns"], "host user and cgroup namespace modes are not supported"),
    (
        &["--cgroup-parent"],
        "jobs run under the engine's cgroup parent: set it on the engine (cgroup-parent in daemon.json)",
    ),
    (&["--volume-driver"], "named volumes use the engine's default driver"),
    (&["--kernel-memory"], "deprecated by Docker, and ignored by the kernel on cgroup v2"),
    (
        &["--storage-opt"],
        "the writable layer's size needs an engine on xfs with pquota; berth caps each file's size (defaults.file_size)",
    ),
    (
        &["--ip", "--ip6", "--mac-address", "--link-local-ip", "--network-alias"],
        "fixed addresses and aliases on networks are not supported",
    ),
];

/// Short flags that take a value (`-e`, `-p`, ...), as `docker run` users attach them.
const ATTACHED: [char; 9] = ['e', 'p', 'v', 'm', 'w', 'u', 'l', 'a', 'f'];

/// The first of `IMAGE [COMMAND]...` when it is a flag: refused by name, or unknown.
pub fn check_positional(positional: &[String]) -> Result<(), FlagError> {
    let Some(first) = positional.first().filter(|f| f.starts_with('-') && f.len() > 1) else { return Ok(()) };
    let name = first.split_once('=').map_or(first.as_str(), |(n, _)| n);
    if let Some((_, why)) = REFUSED.iter().find(|(flags, _)| flags.contains(&name)) {
        return Err(err(name, format!("not supported by berth run: {why}")));
    }
    // `-p8080:80`, `-eK=V`: a known short flag with its value attached.
    let mut chars = first.chars().skip(1);
    if let (Some(short), Some(_)) = (chars.next(), chars.next())
        && !first.starts_with("--")
        && ATTACHED.contains(&short)
    {
        return Err(err(
            &format!("-{short}"),
            format!(
                "write `-{short} {}` with a space: berth does not read a value attached to a short flag yet",
                &first[2..]
            ),
        ));
    }
    Err(err(name, format!("unknown flag `{name}` for `berth run`; see berth run --help")))
}

/// Reads a `--label-file` into (key, value) pairs.
pub type LabelReader<'a> = &'a dyn Fn(&std::path::Path) -> Result<Vec<(String, String)>, FlagError>;

/// Lays the Docker flags over `spec` (after berth's own flags).
/// Docker's finer cgroup flags, onto `resources.cgroup` (validated with the spec).
#[derive(Debug, Default, Args)]
pub struct CgroupArgs {
    /// CFS period in microseconds
    #[arg(long, value_name = "US")]
    pub cpu_period: Option<i64>,
    /// CFS quota in microseconds per period
    #[arg(long, value_name = "US", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// Real-time CPU period in microseconds (policy: privileged)
    #[arg(long, value_name = "US")]
    pub cpu_rt_period: Option<i64>,
    /// Real-time CPU runtime in microseconds (policy: privileged)
    #[arg(long, value_name = "US")]
    pub cpu_rt_runtime: Option<i64>,
    /// Memory nodes the job may use, e.g. 0-1
    #[arg(long, value_name = "LIST")]
    pub cpuset_mems: Option<String>,
    /// Swappiness, 0 to 100
    #[arg(long, value_name = "N")]
    pub memory_swappiness: Option<i64>,
    /// OOM score adjustment, -1000 to 1000 (below 0, policy: oom_kill_disable)
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub oom_score_adj: Option<i64>,
    /// Block IO weight, 10 to 1000
    #[arg(long, value_name = "N")]
    pub blkio_weight: Option<u16>,
    /// Block IO weight of a device: /dev/PATH:WEIGHT
    #[arg(long, value_name = "DEV:W")]
    pub blkio_weight_device: Vec<String>,
    /// Read rate limit of a device: /dev/PATH:RATE (e.g. 1mb)
    #[arg(long, value_name = "DEV:RATE")]
    pub device_read_bps: Vec<String>,
    /// Write rate limit of a device: /dev/PATH:RATE
    #[arg(long, value_name = "DEV:RATE")]
    pub device_write_bps: Vec<String>,
    /// Read operations per second of a device: /dev/PATH:N
    #[arg(long, value_name = "DEV:N")]
    pub device_read_iops: Vec<String>,
    /// Write operations per second of a device: /dev/PATH:N
    #[arg(long, value_name = "DEV:N")]
    pub device_write_iops: Vec<String>,
    /// A device cgroup rule, e.g. 'c 1:3 mr' (policy: devices)
    #[arg(long, value_name = "RULE")]
    pub device_cgroup_rule: Vec<String>,
}

fn apply_cgroup(a: &CgroupArgs, c: &mut berth_core::spec::Cgroup) {
    let keep = |flag: Option<i64>, field: &mut Option<i64>| {
        if flag.is_some() {
            *field = flag;
        }
    };
    keep(a.cpu_period, &mut c.cpu_period);
    keep(a.cpu_quota, &mut c.cpu_quota);
    keep(a.cpu_rt_period, &mut c.cpu_rt_period);
    keep(a.cpu_rt_runtime, &mut c.cpu_rt_runtime);
    keep(a.memory_swappiness, &mut c.memory_swappiness);
    keep(a.oom_score_adj, &mut c.oom_score_adj);
    set(&mut c.cpuset_mems, &a.cpuset_mems);
    if a.blkio_weight.is_some() {
        c.blkio_weight = a.blkio_weight;
    }
    c.blkio_weight_device.extend(a.blkio_weight_device.iter().cloned());
    c.device_read_bps.extend(a.device_read_bps.iter().cloned());
    c.device_write_bps.extend(a.device_write_bps.iter().cloned());
    c.device_read_iops.extend(a.device_read_iops.iter().cloned());
    c.device_write_iops.extend(a.device_write_iops.iter().cloned());
    c.device_cgroup_rules.extend(a.device_cgroup_rule.iter().cloned());
}

pub fn apply(d: &DockerArgs, spec: &mut JobSpec, labels_from: LabelReader) -> Result<(), FlagError> {
    apply_cgroup(&d.cgroup, &mut spec.resources.cgroup);
    set(&mut spec.pid, &d.pid);
    set(&mut spec.ipc, &d.ipc);
    set(&mut spec.uts, &d.uts);
    spec.resources.devices.extend(d.device.iter().cloned());
    for kv in &d.sysctl {
        let (k, v) = kv.split_once('=').ok_or_else(|| err("--sysctl", format!("`{kv}` is not KEY=VALUE")))?;
        spec.security.sysctls.insert(k.to_string(), v.to_string());
    }
    set(&mut spec.security.runtime, &d.runtime);
    if d.cpu_shares.is_some() {
        spec.resources.cpu_shares = d.cpu_shares;
    }
    set(&mut spec.resources.cpuset_cpus, &d.cpuset_cpus);
    if let Some(r) = &d.memory_reservation {
        spec.resources.memory_reservation =
            Some(r.parse().map_err(|e: berth_core::quantity::SizeError| err("--memory-reservation", e.to_string()))?);
    }
    spec.security.group_add.extend(d.group_add.iter().cloned());
    spec.dns_search.extend(d.dns_search.iter().cloned());
    spec.dns_options.extend(d.dns_option.iter().cloned());
    set(&mut spec.domainname, &d.domainname);
    if d.init == Some(false) {
        spec.security.init = false;
    }
    if d.sig_proxy == Some(false) {
        return Err(err(
            "--sig-proxy",
            "berth cancels the job on Ctrl-C; to leave it running, use --no-cancel (with a server)",
        ));
    }
    spec.security.oom_kill_disable |= d.oom_kill_disable;
    log_driver(d, spec)?;
    healthcheck(d, spec)?;
    if let Some(r) = &d.restart {
        restart(r, spec)?;
    }
    for file in &d.label_file {
        spec.labels.extend(labels_from(file)?);
    }
    if let Some(bad) = d.attach.iter().find(|s| !matches!(s.as_str(), "stdin" | "stdout" | "stderr")) {
        return Err(err("--attach", format!("`{bad}` is not a stream: stdin, stdout or stderr")));
    }
    Ok(())
}

fn set(slot: &mut Option<String>, flag: &Option<String>) {
    if flag.is_some() {
        slot.clone_from(flag);
    }
}

fn log_driver(d: &DockerArgs, spec: &mut JobSpec) -> Result<(), FlagError> {
    if d.log_driver.is_none() && d.log_opt.is_empty() {
        return Ok(());
    }
    let old = spec.log_driver.take();
    let kind = d.log_driver.clone().or_else(|| old.as_ref().map(|l| l.kind.clone()));
    let kind = kind.ok_or_else(|| err("--log-opt", "needs --log-driver (which driver the options are for)"))?;
    // Another driver's options would not fit this one.
    let mut options = old.filter(|l| l.kind == kind).map(|l| l.options).unwrap_or_default();
    for kv in &d.log_opt {
        let (k, v) = kv.split_once('=').ok_or_else(|| err("--log-opt", format!("`{kv}` is not KEY=VALUE")))?;
        options.insert(k.to_string(), v.to_string());
    }
    spec.log_driver = Some(LogDriver { kind, options });
    Ok(())
}

fn healthcheck(d: &DockerArgs, spec: &mut JobSpec) -> Result<(), FlagError> {
    let tuning = d.health_interval.is_some()
        || d.health_timeout.is_some()
        || d.health_retries.is_some()
        || d.health_start_period.is_some();
    if d.no_healthcheck {
        if tuning {
            return Err(err("--no-healthcheck", "conflicts with the --health-* options"));
        }
        spec.healthcheck = Some(Healthcheck {
            test: vec!["NONE".into()],
            interval: None,
            timeout: None,
            retries: None,
            start_period: None,
        });
        return Ok(());
    }
    let base = match (&d.health_cmd, spec.healthcheck.take()) {
        (Some(cmd), _) => Healthcheck {
            test: vec!["CMD-SHELL".into(), cmd.clone()],
            interval: None,
            timeout: None,
            retries: None,
            start_period: None,
        },
        // Tuning a check the spec file has.
        (None, Some(existing)) => existing,
        (None, None) if tuning => {
            return Err(err(
                "--health-interval",
                "needs --health-cmd (or a healthcheck in -f): berth does not read the image's HEALTHCHECK",
            ));
        }
        (None, None) => return Ok(()),
    };
    let dur = |flag: &str, v: &Option<String>| {
        v.as_deref()
            .map(|t| t.parse().map_err(|e: berth_core::quantity::DurationError| err(flag, e.to_string())))
            .transpose()
    };
    spec.healthcheck = Some(Healthcheck {
        interval: dur("--health-interval", &d.health_interval)?.or(base.interval),
        timeout: dur("--health-timeout", &d.health_timeout)?.or(base.timeout),
        retries: d.health_retries.or(base.retries),
        start_period: dur("--health-start-period", &d.health_start_period)?.or(base.start_period),
        test: base.test,
    });
    Ok(())
}

/// `no` runs it once; `on-failure[:N]` retries a non-zero exit up to N more times (Docker
/// retries without end when N is missing or 0: berth takes 3); the others would restart
/// forever.
fn restart(policy: &str, spec: &mut JobSpec) -> Result<(), FlagError> {
    let (name, count) = policy.split_once(':').map_or((policy, None), |(n, c)| (n, Some(c)));
    match (name, count) {
        ("no", None) => {
            spec.retries.max_attempts = 1;
            Ok(())
        }
        ("on-failure", count) => {
            let n: u32 = match count {
                None => 3,
                Some(c) => c.parse().map_err(|_| err("--restart", format!("`{c}` is not a number of retries")))?,
            };
            let n = if n == 0 { 3 } else { n };
            spec.retries.max_attempts =
                n.checked_add(1).ok_or_else(|| err("--restart", format!("`{n}` retries is too many")))?;
            for on in [RetryOn::Failed, RetryOn::OomKilled, RetryOn::Signaled] {
                if !spec.retries.on.contains(&on) {
                    spec.retries.on.push(on);
                }
            }
            Ok(())
        }
        ("always" | "unless-stopped", None) => Err(err(
            "--restart",
            format!(
                "`{policy}` would run the job forever: a berth job runs to an end; use `on-failure[:N]`, or a schedule (berth schedule add) to run it again"
            ),
        )),
        _ => Err(err("--restart", format!("`{policy}` is not a restart policy: no or on-failure[:N]"))),
    }
}

#[cfg(test)]
mod tests {
    use berth_core::spec::JobSpec;
    use clap::Parser;

    use crate::run_flags::{FlagError, spec_from_args};

    fn spec(argv: &[&str]) -> Result<JobSpec, FlagError> {
        let cli = crate::cli::Cli::try_parse_from(["berth", "run"].iter().chain(argv))
            .map_err(|e| FlagError { flag: "clap".into(), message: e.to_string() })?;
        let crate::cli::Command::Run(args) = cli.command else { panic!("not run") };
        spec_from_args(&args, &|_| None)
    }

    #[test]
    fn unknown_and_refused_flags_are_named_never_taken_for_the_image() {
        let e = spec(&["--foo", "busybox"]).unwrap_err().to_string();
        assert_eq!(e, "--foo: unknown flag `--foo` for `berth run`; see berth run --help");
        let s = spec(&["-it", "busybox", "sh"]).unwrap();
        assert!(s.tty && s.command == Some(vec!["sh".to_string()]), "{s:?}");
        let e = spec(&["--isolation", "hyperv", "busybox"]).unwrap_err().to_string();
        assert!(e.starts_with("--isolation: not supported by berth run: Windows containers only"), "{e}");
        let e = spec(&["-p8080:80", "busybox"]).unwrap_err().to_string();
        assert!(e.starts_with("-p: write `-p 8080:80` with a space"), "{e}");
        let e = spec(&["--rm", "--link=db", "busybox"]).unwrap_err().to_string();
        assert!(e.starts_with("--link: not supported by berth run: legacy Docker links"), "{e}");
        let e = spec(&["--restart", "always", "busybox"]).unwrap_err().to_string();
        assert!(e.starts_with("--restart: `always` would run the job forever"), "{e}");
    }

    #[test]
    fn docker_flags_land_in_the_spec() {
        let s = spec(&[
            "--pid",
            "host",
            "--ipc",
            "private",
            "--uts",
            "host",
            "--device",
            "/dev/fuse",
            "--sysctl",
            "net.ipv4.ip_forward=1",
            "--runtime",
            "runsc",
            "--log-driver",
            "json-file",
            "--log-opt",
            "max-size=1m",
            "--health-cmd",
            "true",
            "--health-retries",
            "2",
            "--health-interval",
            "5s",
            "--oom-kill-disable",
            "--restart",
            "on-failure:2",
            "--init",
            "--rm",
            "--expose",
            "80",
            "-a",
            "stdout",
            "--sig-proxy",
            "-q",
            "-c",
            "512",
            "--cpuset-cpus",
            "0",
            "-m",
            "64m",
            "--memory-reservation",
            "32m",
            "--group-add",
            "audio",
            "--dns-search",
            "example.internal",
            "--dns-option",
            "ndots:2",
            "--domainname",
            "example",
            "busybox",
            "true",
        ])
        .unwrap();
        assert_eq!((s.resources.cpu_shares, s.resources.cpuset_cpus.as_deref()), (Some(512), Some("0")));
        assert_eq!(s.resources.memory_reservation.map(|b| b.0), Some(32 << 20));
        assert_eq!(
            (s.security.group_add.as_slice(), s.dns_search.as_slice()),
            (&["audio".to_string()][..], &["example.internal".to_string()][..])
        );
        assert_eq!(
            (s.dns_options.as_slice(), s.domainname.as_deref()),
            (&["ndots:2".to_string()][..], Some("example"))
        );
        assert_eq!(
            (s.pid.as_deref(), s.ipc.as_deref(), s.uts.as_deref()),
            (Some("host"), Some("private"), Some("host"))
        );
        assert_eq!(s.resources.devices, ["/dev/fuse"]);
        assert_eq!(s.security.sysctls.get("net.ipv4.ip_forward").map(String::as_str), Some("1"));
        assert_eq!(s.security.runtime.as_deref(), Some("runsc"));
        let log = s.log_driver.unwrap();
        assert_eq!((log.kind.as_str(), log.options.get("max-size").map(String::as_str)), ("json-file", Some("1m")));
        let hc = s.healthcheck.unwrap();
        assert_eq!((hc.test, hc.retries), (vec!["CMD-SHELL".to_string(), "true".to_string()], Some(2)));
        assert!(s.security.oom_kill_disable && s.security.init);
        assert_eq!(s.retries.max_attempts, 3);
        assert!(s.retries.on.contains(&berth_core::retry::RetryOn::Failed));
        let tuned = spec(&[
            "--cpu-period",
            "100000",
            "--cpu-quota",
            "-1",
            "--cpuset-mems",
            "0",
            "--memory-swappiness",
            "0",
            "--oom-score-adj",
            "-5",
            "--blkio-weight",
            "300",
            "--device-read-bps",
            "/dev/sda:1mb",
            "--device-write-iops",
            "/dev/sda:100",
            "--device-cgroup-rule",
            "c 1:3 mr",
            "busybox",
        ])
        .unwrap();
        let c = &tuned.resources.cgroup;
        assert_eq!(
            (c.cpu_period, c.cpu_quota, c.memory_swappiness, c.oom_score_adj),
            (Some(100000), Some(-1), Some(0), Some(-5))
        );
        assert_eq!((c.cpuset_mems.as_deref(), c.blkio_weight), (Some("0"), Some(300)));
        assert_eq!(
            (c.device_read_bps.as_slice(), c.device_write_iops.as_slice()),
            (&["/dev/sda:1mb".to_string()][..], &["/dev/sda:100".to_string()][..])
        );
        assert_eq!(c.device_cgroup_rules, ["c 1:3 mr"]);
        let off = spec(&["--no-healthcheck", "busybox"]).unwrap();
        assert_eq!(off.healthcheck.unwrap().test, ["NONE"]);
        assert!(
            spec(&["--log-opt", "max-size=1m", "busybox"])
                .unwrap_err()
                .to_string()
                .starts_with("--log-opt: needs --log-driver")
        );
        assert!(spec(&["--init", "--no-init", "busybox"]).is_err(), "--init and --no-init conflict");
        assert!(
            !spec(&["--init=false", "--rm=true", "--disable-content-trust=true", "busybox"]).unwrap().security.init
        );
        let e = spec(&["--sig-proxy=false", "busybox"]).unwrap_err().to_string();
        assert!(e.starts_with("--sig-proxy: berth cancels the job on Ctrl-C"), "{e}");
        assert_eq!(
            spec(&["--sig-proxy", "busybox", "true"]).unwrap().image,
            "busybox",
            "a bare --sig-proxy takes no value"
        );
        assert_eq!(spec(&["--restart", "no", "busybox"]).unwrap().retries.max_attempts, 1);
        assert_eq!(spec(&["--restart", "on-failure:0", "busybox"]).unwrap().retries.max_attempts, 4);
        assert!(spec(&["--restart", "on-failure:4294967295", "busybox"]).is_err());
        assert!(spec(&["--no-healthcheck", "--health-retries", "2", "busybox"]).is_err());
        assert!(
            spec(&["--health-retries", "2", "busybox"])
                .unwrap_err()
                .to_string()
                .starts_with("--health-interval: needs --health-cmd")
        );
    }
}
