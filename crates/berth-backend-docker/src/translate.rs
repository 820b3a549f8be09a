//! Spec → Docker create body, with no IO so it can be snapshot-tested. Everything the
//! engine API is told about a container is decided here: the secure defaults (cap-drop ALL,
//! no-new-privileges, init), berth's labels, and the output and workspace mounts (host
//! directories on a local engine, anonymous volumes filled through the archive API else).

use std::collections::HashMap;

use berth_core::backend::{AttemptPlan, OUTPUT_MOUNT, labels};
use berth_core::parse::{DeviceMapping, GpuRequest, parse_device, parse_gpus, parse_port};
use berth_core::quantity::ByteSize;
use berth_core::spec::{Cgroup, Healthcheck, JobSpec, MemorySwap, Mount};
use bollard::models::{
    ContainerCreateBody, DeviceMapping as DeviceMappingApi, DeviceRequest, HealthConfig, HostConfig,
    HostConfigLogConfig, Mount as DockerMount, MountTmpfsOptions, MountType, PortBinding, ResourcesBlkioWeightDevice,
    ResourcesUlimits, ThrottleDevice,
};

/// Where the attempt's files live, as the container sees them mounted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Staged {
    /// Host directories bind-mounted (a local engine): the output dir, the workspace when
    /// the spec has files, and each secret file (host path, target).
    Bind { output: String, workspace: Option<String>, secrets: Vec<(String, String)> },
    /// Anonymous volumes at `FILES_ROOT` (holding `output/`) and, with files, at the
    /// workspace dir; the archive API fills them before start and reads them after exit.
    Volumes,
}

/// The volume that holds the output directory in `Staged::Volumes`: `OUTPUT_MOUNT`'s parent,
/// so that `output/` inside it can be made writable for any uid through the archive API
/// (which cannot change the mode of a volume's root).
pub const FILES_ROOT: &str = "/berth";

/// The full create body for one attempt. `plan.spec` is the effective spec (defaults applied).
pub fn create_body(plan: &AttemptPlan, staged: &Staged) -> ContainerCreateBody {
    let spec = &plan.spec;
    // A live attach through a server (`interactive`) opens stdin as `-i` here does.
    let with_stdin = plan.stdin || spec.interactive;
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: spec.cmd(),
        entrypoint: spec.entrypoint.clone(),
        env: Some(env(plan)),
        working_dir: spec.workdir.clone(),
        user: spec.user.clone(),
        hostname: spec.hostname.clone(),
        domainname: spec.domainname.clone(),
        labels: Some(container_labels(plan)),
        tty: Some(spec.tty),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        attach_stdin: Some(with_stdin),
        open_stdin: Some(with_stdin),
        stdin_once: Some(with_stdin),
        stop_signal: spec.stop_signal.clone(),
        stop_timeout: Some(spec.timeouts.stop_grace.0.as_secs_f64().ceil() as i64),
        exposed_ports: ports_exposed(spec),
        healthcheck: spec.healthcheck.as_ref().map(healthcheck),
        host_config: Some(host_config(plan, staged)),
        ..Default::default()
    }
}

/// Docker's finer cgroup settings (validated at submit: a value that does not parse here
/// was refused there).
fn cgroup(c: &Cgroup) -> HostConfig {
    let weights = c.blkio_weight_device.iter().filter_map(|d| {
        let (path, w) = d.rsplit_once(':')?;
        Some(ResourcesBlkioWeightDevice { path: Some(path.into()), weight: w.parse().ok() })
    });
    let throttle = |list: &[String], bytes: bool| -> Option<Vec<ThrottleDevice>> {
        let out: Vec<ThrottleDevice> = list
            .iter()
            .filter_map(|d| {
                let (path, rate) = d.rsplit_once(':')?;
                let rate = if bytes { rate.parse::<ByteSize>().ok()?.0 as i64 } else { rate.parse().ok()? };
                Some(ThrottleDevice { path: Some(path.into()), rate: Some(rate) })
            })
            .collect();
        (!out.is_empty()).then_some(out)
    };
    HostConfig {
        cpu_period: c.cpu_period,
        cpu_quota: c.cpu_quota,
        cpu_realtime_period: c.cpu_rt_period,
        cpu_realtime_runtime: c.cpu_rt_runtime,
        cpuset_mems: c.cpuset_mems.clone(),
        memory_swappiness: c.memory_swappiness,
        oom_score_adj: c.oom_score_adj,
        blkio_weight: c.blkio_weight,
        blkio_weight_device: (!c.blkio_weight_device.is_empty()).then(|| weights.collect()),
        blkio_device_read_bps: throttle(&c.device_read_bps, true),
        blkio_device_write_bps: throttle(&c.device_write_bps, true),
        blkio_device_read_iops: throttle(&c.device_read_iops, false),
        blkio_device_write_iops: throttle(&c.device_write_iops, false),
        device_cgroup_rules: non_empty(&c.device_cgroup_rules),
        ..Default::default()
    }
}

fn env(plan: &AttemptPlan) -> Vec<String> {
    // berth's own variables come last so a spec cannot shadow them (validation refuses it too).
    let secrets = plan
        .secrets
        .iter()
        .filter_map(|s| s.env.as_ref().map(|name| format!("{name}={}", String::from_utf8_lossy(&s.value.0))));
    let vars = plan.spec.env.iter().chain(&plan.berth_env).map(|(k, v)| format!("{k}={v}"));
    secrets.chain(vars).collect()
}

fn container_labels(plan: &AttemptPlan) -> HashMap<String, String> {
    let mut out: HashMap<String, String> = plan.spec.labels.clone().into_iter().collect();
    out.insert(labels::MANAGED.into(), "true".into());
    out.insert(labels::JOB.into(), plan.job_id.to_string());
    out.insert(labels::ATTEMPT.into(), plan.attempt.to_string());
    out.insert(labels::INSTALL.into(), plan.install_id.clone());
    out.insert(labels::OWNER.into(), plan.owner.clone());
    out.insert(labels::TENANT.into(), plan.tenant.clone());
    out
}

fn host_config(plan: &AttemptPlan, staged: &Staged) -> HostConfig {
    let spec = &plan.spec;
    let r = &spec.resources;
    let s = &spec.security;
    let mut cap_drop = s.cap_drop.clone();
    if !s.keep_default_caps && !cap_drop.iter().any(|c| c == "ALL") {
        cap_drop.insert(0, "ALL".to_string());
    }
    HostConfig {
        mounts: Some(mounts(plan, staged)),
        readonly_rootfs: Some(spec.read_only),
        network_mode: spec.network.clone(),
        pid_mode: spec.pid.clone(),
        ipc_mode: spec.ipc.clone(),
        uts_mode: spec.uts.clone(),
        port_bindings: port_bindings(spec),
        dns: non_empty(&spec.dns),
        extra_hosts: non_empty(&spec.extra_hosts),
        dns_search: non_empty(&spec.dns_search),
        dns_options: non_empty(&spec.dns_options),
        cpu_shares: r.cpu_shares.map(i64::from),
        cpuset_cpus: r.cpuset_cpus.clone(),
        memory_reservation: r.memory_reservation.map(|m| m.0 as i64),
        group_add: non_empty(&s.group_add),
        nano_cpus: r.cpus.map(|c| (c * 1e9).round() as i64),
        memory: r.memory.map(|m| m.0 as i64),
        memory_swap: r.memory_swap.map(|m| match m {
            MemorySwap::Limit(b) => b.0 as i64,
            MemorySwap::Unlimited(_) => -1,
        }),
        pids_limit: r.pids_limit,
        shm_size: r.shm_size.map(|b| b.0 as i64),
        ulimits: (!r.ulimits.is_empty()).then(|| {
            r.ulimits
                .iter()
                .map(|u| ResourcesUlimits { name: Some(u.name.clone()), soft: Some(u.soft), hard: Some(u.hard) })
                .collect()
        }),
        devices: (!r.devices.is_empty())
            .then(|| r.devices.iter().filter_map(|d| parse_device(d).ok()).map(device).collect()),
        device_requests: r.gpus.as_deref().and_then(|g| parse_gpus(g).ok()).map(|g| vec![gpu_request(g)]),
        cap_add: non_empty(&s.cap_add),
        cap_drop: non_empty(&cap_drop),
        security_opt: non_empty(&security_opts(spec)),
        privileged: Some(s.privileged),
        init: Some(s.init),
        oom_kill_disable: s.oom_kill_disable.then_some(true),
        sysctls: (!s.sysctls.is_empty()).then(|| s.sysctls.clone().into_iter().collect()),
        runtime: s.runtime.clone(),
        log_config: spec.log_driver.as_ref().map(|l| HostConfigLogConfig {
            typ: Some(l.kind.clone()),
            config: Some(l.options.clone().into_iter().collect()),
        }),
        ..cgroup(&r.cgroup)
    }
}

fn device(d: DeviceMapping) -> DeviceMappingApi {
    DeviceMappingApi {
        path_on_host: Some(d.host),
        path_in_container: Some(d.container),
        cgroup_permissions: Some(d.permissions),
    }
}

fn security_opts(spec: &JobSpec) -> Vec<String> {
    let s = &spec.security;
    let mut out = Vec::new();
    if s.no_new_privileges {
        out.push("no-new-privileges".to_string());
    }
    if let Some(p) = &s.seccomp_profile {
        out.push(format!("seccomp={p}"));
    }
    if let Some(p) = &s.apparmor_profile {
        out.push(format!("apparmor={p}"));
    }
    out
}

fn mounts(plan: &AttemptPlan, staged: &Staged) -> Vec<DockerMount> {
    let mut out: Vec<DockerMount> = plan.spec.mounts.iter().map(mount).collect();
    match staged {
        Staged::Bind { output, workspace, secrets } => {
            out.push(bind(output, OUTPUT_MOUNT, false));
            if let Some(dir) = workspace {
                out.push(bind(dir, &plan.spec.workspace_dir, false));
            }
            out.extend(secrets.iter().map(|(host, target)| bind(host, target, true)));
        }
        Staged::Volumes => {
            out.push(volume(FILES_ROOT));
            if !plan.spec.files.is_empty() {
                out.push(volume(&plan.spec.workspace_dir));
            }
        }
    }
    out
}

/// An anonymous volume, removed with the container (`remove` passes `v=true`).
fn volume(target: &str) -> DockerMount {
    DockerMount { typ: Some(MountType::VOLUME), target: Some(target.to_string()), ..Default::default() }
}

fn bind(source: &str, target: &str, read_only: bool) -> DockerMount {
    DockerMount {
        typ: Some(MountType::BIND),
        source: Some(source.to_string()),
        target: Some(target.to_string()),
        read_only: Some(read_only),
        ..Default::default()
    }
}

fn mount(m: &Mount) -> DockerMount {
    match m {
        Mount::Bind { source, target, read_only } => bind(source, target, *read_only),
        Mount::Volume { source, target, read_only } => DockerMount {
            typ: Some(MountType::VOLUME),
            source: Some(source.clone()),
            target: Some(target.clone()),
            read_only: Some(*read_only),
            ..Default::default()
        },
        Mount::Tmpfs { target, size, mode } => DockerMount {
            typ: Some(MountType::TMPFS),
            target: Some(target.clone()),
            tmpfs_options: Some(MountTmpfsOptions {
                size_bytes: size.map(|s| s.0 as i64),
                mode: mode.map(i64::from),
                ..Default::default()
            }),
            ..Default::default()
        },
    }
}

fn ports_exposed(spec: &JobSpec) -> Option<Vec<String>> {
    let keys: Vec<String> = spec
        .ports
        .iter()
        .filter_map(|p| parse_port(p).ok())
        .map(|p| format!("{}/{}", p.container_port, p.protocol))
        .collect();
    (!keys.is_empty()).then_some(keys)
}

fn port_bindings(spec: &JobSpec) -> Option<HashMap<String, Option<Vec<PortBinding>>>> {
    let mut out: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for p in spec.ports.iter().filter_map(|p| parse_port(p).ok()) {
        let binding = PortBinding {
            host_ip: p.host_ip.map(|ip| ip.to_string()),
            host_port: Some(p.host_port.map(|h| h.to_string()).unwrap_or_default()),
        };
        out.entry(format!("{}/{}", p.container_port, p.protocol))
            .or_default()
            .get_or_insert_with(Vec::new)
            .push(binding);
    }
    (!out.is_empty()).then_some(out)
}

fn gpu_request(g: GpuRequest) -> DeviceRequest {
    let (count, device_ids) = match g {
        GpuRequest::All => (Some(-1), None),
        GpuRequest::Count(n) => (Some(i64::from(n)), None),
        GpuRequest::Devices(ids) => (None, Some(ids)),
    };
    DeviceRequest {
        driver: Some(String::new()),
        count,
        device_ids,
        capabilities: Some(vec![vec!["gpu".to_string()]]),
        ..Default::default()
    }
}

fn healthcheck(h: &Healthcheck) -> HealthConfig {
    let ns = |d: Option<berth_core::quantity::DurationSpec>| d.map(|d| d.0.as_nanos() as i64);
    HealthConfig {
        test: Some(h.test.clone()),
        interval: ns(h.interval),
        timeout: ns(h.timeout),
        retries: h.retries.map(i64::from),
        start_period: ns(h.start_period),
        ..Default::default()
    }
}

fn non_empty(v: &[String]) -> Option<Vec<String>> {
    (!v.is_empty()).then(|| v.to_vec())
}

#[cfg(test)]
#[path = "translate_tests.rs"]
mod tests;
