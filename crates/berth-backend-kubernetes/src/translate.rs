//! Attempt plan → a `batch/v1` Job and its Secret, with no IO so it can be snapshot-tested.
//! Everything the API server is told about an attempt is decided here: berth's labels, the
//! locked-down securityContext, the resources, the staging init container that places input
//! files, and the `berth-output` helper that keeps the output directory readable after the
//! job's container ends (collect execs `tar` in it).

use std::collections::BTreeMap;

use berth_core::backend::{AttemptPlan, OUTPUT_MOUNT, labels};
use berth_core::spec::{JobSpec, PullPolicy};
use k8s_openapi::ByteString;
use k8s_openapi::api::batch::v1::{Job, JobSpec as KubeJobSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, EmptyDirVolumeSource, EnvVar, EnvVarSource, HostAlias, KeyToPath, LocalObjectReference,
    PodDNSConfig, PodDNSConfigOption, PodSecurityContext, PodSpec, PodTemplateSpec, ResourceRequirements,
    SeccompProfile, Secret, SecretKeySelector, SecretVolumeSource, SecurityContext, Sysctl, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::settings::Settings;

/// The job's container.
pub const MAIN: &str = "main";
/// The helper that outlives `main` so its outputs can be read.
pub const OUTPUT_HELPER: &str = "berth-output";
/// The init container that places input files.
pub const STAGE: &str = "berth-stage";
/// On every object of an attempt: the unit's name (the Job's), to find its pods and Secret.
pub const UNIT_LABEL: &str = "berth.unit";
/// On a pod whose spec asked for `network: none`: the NetworkPolicy in deploy/ isolates it.
pub const NETWORK_LABEL: &str = "berth.network";
/// Annotations keeping the values a label cannot hold (any characters, any length).
pub const OWNER_ANNOTATION: &str = "berth.owner";
pub const TENANT_ANNOTATION: &str = "berth.tenant";

const WORKSPACE_VOLUME: &str = "berth-workspace";
const OUTPUT_VOLUME: &str = "berth-output";
const ATTEMPT_VOLUME: &str = "berth-attempt";
const SHM_VOLUME: &str = "berth-shm";
/// Where the staging container sees the workspace and the attempt's Secret.
const STAGE_WORKSPACE: &str = "/berth/workspace";
const STAGE_INPUT: &str = "/berth/input";
/// How long the helper waits past the run timeout and the grace when nobody collects.
const HELPER_SLACK_SECS: u64 = 600;
/// The Job's own deadline is a second net behind berth's run timeout: it counts from the
/// unsuspend, so it also allows the wait for a node and the image, then this much more.
const DEADLINE_SLACK_SECS: u64 = 30;
/// The annotation on the Job with how long its pod may wait for a node, in seconds.
pub const START_TIMEOUT_ANNOTATION: &str = "berth.start-timeout";
/// How long a pod may wait for a node when the spec has no queue timeout.
const DEFAULT_START_SECS: u64 = 600;

/// How long the attempt's pod may wait to start: the spec's queue timeout, else 10 minutes.
pub fn start_timeout_secs(spec: &JobSpec) -> u64 {
    spec.timeouts.queue.map_or(DEFAULT_START_SECS, |q| q.0.as_secs().max(1))
}

/// What one attempt is on the cluster.
#[derive(Clone, Debug)]
pub struct Manifests {
    pub job: Job,
    /// Input files, secret variables and secret files; owned by the Job once it exists.
    pub secret: Option<Secret>,
}

/// The Secret's keys: input file `i`, secret variable `i`, secret file `i`.
fn file_key(i: usize) -> String {
    format!("f-{i}")
}
fn env_key(i: usize) -> String {
    format!("e-{i}")
}
fn secret_file_key(i: usize) -> String {
    format!("s-{i}")
}

/// The Job (created suspended: `start` lets it run) and its Secret for `plan`.
pub fn manifests(plan: &AttemptPlan, settings: &Settings) -> Manifests {
    let secret = attempt_secret(plan, settings);
    let meta = ObjectMeta {
        name: Some(plan.name.clone()),
        namespace: Some(settings.namespace.clone()),
        labels: Some(object_labels(plan)),
        annotations: Some(job_annotations(plan)),
        ..ObjectMeta::default()
    };
    let spec = &plan.spec;
    let timeout = spec.timeouts.run.0.as_secs();
    let grace = grace_secs(spec);
    let waits = start_timeout_secs(spec) + settings.pull_timeout.as_secs();
    let job = Job {
        metadata: meta,
        spec: Some(KubeJobSpec {
            suspend: Some(true),
            backoff_limit: Some(0),
            active_deadline_seconds: Some((waits + timeout + grace + DEADLINE_SLACK_SECS) as i64),
            ttl_seconds_after_finished: Some(settings.ttl_after_finished.as_secs() as i32),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels(plan)),
                    annotations: Some(annotations(plan)),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod_spec(plan, settings, secret.is_some())),
            },
            ..KubeJobSpec::default()
        }),
        status: None,
    };
    Manifests { job, secret }
}

fn grace_secs(spec: &JobSpec) -> u64 {
    spec.timeouts.stop_grace.0.as_secs_f64().ceil() as u64
}

/// The berth labels every object of the attempt carries (values a label cannot hold are
/// hashed; the annotations keep them whole).
pub fn object_labels(plan: &AttemptPlan) -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::MANAGED.to_string(), "true".to_string()),
        (labels::JOB.to_string(), plan.job_id.to_string()),
        (labels::ATTEMPT.to_string(), plan.attempt.to_string()),
        (labels::INSTALL.to_string(), label_value(&plan.install_id)),
        (labels::OWNER.to_string(), label_value(&plan.owner)),
        (labels::TENANT.to_string(), label_value(&plan.tenant)),
        (UNIT_LABEL.to_string(), plan.name.clone()),
    ])
}

fn pod_labels(plan: &AttemptPlan) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = plan.spec.labels.clone();
    out.extend(object_labels(plan));
    if plan.spec.network.as_deref() == Some("none") {
        out.insert(NETWORK_LABEL.to_string(), "none".to_string());
    }
    out
}

fn annotations(plan: &AttemptPlan) -> BTreeMap<String, String> {
    BTreeMap::from([
        (OWNER_ANNOTATION.to_string(), plan.owner.clone()),
        (TENANT_ANNOTATION.to_string(), plan.tenant.clone()),
    ])
}

fn job_annotations(plan: &AttemptPlan) -> BTreeMap<String, String> {
    let mut out = annotations(plan);
    out.insert(START_TIMEOUT_ANNOTATION.to_string(), start_timeout_secs(&plan.spec).to_string());
    out
}

/// `s` when it is a valid label value, else `h-` and 16 hex digits of its SHA-256.
pub fn label_value(s: &str) -> String {
    if crate::support::is_label_value(s) {
        return s.to_string();
    }
    use sha2::Digest;
    let digest = sha2::Sha256::digest(s.as_bytes());
    format!("h-{}", &hex::encode(digest)[..16])
}

fn pod_spec(plan: &AttemptPlan, settings: &Settings, has_secret: bool) -> PodSpec {
    let spec = &plan.spec;
    let mut init = Vec::new();
    if !spec.files.is_empty() {
        init.push(stage_container(plan, settings));
    }
    PodSpec {
        restart_policy: Some("Never".into()),
        termination_grace_period_seconds: Some(grace_secs(spec) as i64),
        automount_service_account_token: Some(settings.service_account.is_some()),
        service_account_name: settings.service_account.clone(),
        enable_service_links: Some(false),
        node_selector: (!settings.node_selector.is_empty()).then(|| settings.node_selector.clone()),
        tolerations: (!settings.tolerations.is_empty()).then(|| settings.tolerations.clone()),
        image_pull_secrets: (!settings.image_pull_secrets.is_empty())
            .then(|| settings.image_pull_secrets.iter().map(|n| LocalObjectReference { name: n.clone() }).collect()),
        runtime_class_name: spec.security.runtime.clone(),
        hostname: spec.hostname.clone(),
        host_aliases: host_aliases(spec),
        dns_policy: (!spec.dns.is_empty()).then(|| "None".to_string()),
        dns_config: dns_config(spec),
        // Docker's init: pid 1 is the pause container, which reaps zombies, and the job's
        // shell is not pid 1 (which would ignore signals it has no handler for).
        share_process_namespace: Some(spec.security.init),
        security_context: Some(pod_security(spec)),
        init_containers: (!init.is_empty()).then_some(init),
        containers: vec![main_container(plan, has_secret), helper_container(spec, settings)],
        volumes: Some(volumes(plan, has_secret)),
        ..PodSpec::default()
    }
}

fn main_container(plan: &AttemptPlan, has_secret: bool) -> Container {
    let spec = &plan.spec;
    Container {
        name: MAIN.into(),
        image: Some(spec.image.clone()),
        image_pull_policy: Some(pull_policy(spec.pull).into()),
        // Kubernetes' `command` is the entrypoint, its `args` the CMD.
        command: spec.entrypoint.clone(),
        args: spec.cmd(),
        env: Some(env(plan)),
        working_dir: spec.workdir.clone(),
        stdin: Some(plan.stdin),
        stdin_once: Some(plan.stdin),
        tty: Some(false),
        resources: Some(resources(spec)),
        security_context: Some(container_security(spec)),
        volume_mounts: Some(main_mounts(plan, has_secret)),
        ..Container::default()
    }
}

fn pull_policy(p: PullPolicy) -> &'static str {
    match p {
        PullPolicy::Always => "Always",
        PullPolicy::IfNotPresent => "IfNotPresent",
        PullPolicy::Never => "Never",
    }
}

fn env(plan: &AttemptPlan) -> Vec<EnvVar> {
    // Secret values never appear in the Job: they are read from the attempt's Secret.
    let secrets = plan.secrets.iter().enumerate().filter_map(|(i, s)| {
        let name = s.env.clone()?;
        let from = SecretKeySelector { name: plan.name.clone(), key: env_key(i), optional: Some(false) };
        let source = EnvVarSource { secret_key_ref: Some(from), ..EnvVarSource::default() };
        Some(EnvVar { name, value: None, value_from: Some(source) })
    });
    // berth's own variables come last so a spec cannot shadow them.
    let vars = plan.spec.env.iter().chain(&plan.berth_env).map(|(k, v)| EnvVar {
        name: k.clone(),
        value: Some(v.clone()),
        value_from: None,
    });
    secrets.chain(vars).collect()
}

fn resources(spec: &JobSpec) -> ResourceRequirements {
    let r = &spec.resources;
    let mut limits = BTreeMap::new();
    let mut requests = BTreeMap::new();
    if let Some(cpus) = r.cpus {
        limits.insert("cpu".to_string(), Quantity(format!("{}m", (cpus * 1000.0).round() as u64)));
    }
    if let Some(shares) = r.cpu_shares {
        // Kubernetes derives the CPU weight from the request: 1 CPU is 1024 shares.
        requests.insert("cpu".to_string(), Quantity(format!("{}m", u64::from(shares) * 1000 / 1024)));
    }
    if let Some(m) = r.memory {
        limits.insert("memory".to_string(), Quantity(m.0.to_string()));
        let reserved = r.memory_reservation.unwrap_or(m);
        requests.insert("memory".to_string(), Quantity(reserved.0.to_string()));
    }
    if let Some(n) = r.gpus.as_deref().and_then(|g| g.parse::<u32>().ok()) {
        limits.insert("nvidia.com/gpu".to_string(), Quantity(n.to_string()));
    }
    ResourceRequirements {
        limits: (!limits.is_empty()).then_some(limits),
        requests: (!requests.is_empty()).then_some(requests),
        ..ResourceRequirements::default()
    }
}

/// berth's locked-down defaults, as the Docker backend applies them: every capability
/// dropped unless kept, no privilege escalation, the runtime's default seccomp profile.
fn container_security(spec: &JobSpec) -> SecurityContext {
    let s = &spec.security;
    let mut drop = s.cap_drop.clone();
    if !s.keep_default_caps && !drop.iter().any(|c| c == "ALL") {
        drop.insert(0, "ALL".to_string());
    }
    let (uid, gid) = crate::support::numeric_user(spec.user.as_deref());
    SecurityContext {
        capabilities: Some(Capabilities {
            add: (!s.cap_add.is_empty()).then(|| s.cap_add.clone()),
            drop: (!drop.is_empty()).then_some(drop),
        }),
        // A privileged container escalates by definition (the API refuses `false` with it).
        allow_privilege_escalation: Some(s.privileged || !s.no_new_privileges),
        privileged: s.privileged.then_some(true),
        read_only_root_filesystem: Some(spec.read_only),
        run_as_user: uid,
        run_as_group: gid,
        run_as_non_root: uid.map(|u| u != 0).filter(|nonroot| *nonroot),
        seccomp_profile: Some(seccomp(spec)),
        ..SecurityContext::default()
    }
}

fn seccomp(spec: &JobSpec) -> SeccompProfile {
    match spec.security.seccomp_profile.as_deref() {
        Some("unconfined") => SeccompProfile { type_: "Unconfined".into(), localhost_profile: None },
        Some(p) if p.starts_with("localhost/") => SeccompProfile {
            type_: "Localhost".into(),
            localhost_profile: p.strip_prefix("localhost/").map(str::to_string),
        },
        _ => SeccompProfile { type_: "RuntimeDefault".into(), localhost_profile: None },
    }
}

fn pod_security(spec: &JobSpec) -> PodSecurityContext {
    let groups: Vec<i64> = spec.security.group_add.iter().filter_map(|g| g.parse().ok()).collect();
    let sysctls: Vec<Sysctl> =
        spec.security.sysctls.iter().map(|(name, value)| Sysctl { name: name.clone(), value: value.clone() }).collect();
    PodSecurityContext {
        seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), localhost_profile: None }),
        supplemental_groups: (!groups.is_empty()).then_some(groups),
        sysctls: (!sysctls.is_empty()).then_some(sysctls),
        ..PodSecurityContext::default()
    }
}

fn host_aliases(spec: &JobSpec) -> Option<Vec<HostAlias>> {
    let aliases: Vec<HostAlias> = spec
        .extra_hosts
        .iter()
        .filter_map(|h| h.split_once(':'))
        .map(|(name, ip)| HostAlias { hostnames: Some(vec![name.to_string()]), ip: ip.to_string() })
        .collect();
    (!aliases.is_empty()).then_some(aliases)
}

fn dns_config(spec: &JobSpec) -> Option<PodDNSConfig> {
    if spec.dns.is_empty() && spec.dns_search.is_empty() && spec.dns_options.is_empty() {
        return None;
    }
    let options = spec.dns_options.iter().map(|o| {
        let (name, value) = o.split_once(':').map_or((o.as_str(), None), |(n, v)| (n, Some(v.to_string())));
        PodDNSConfigOption { name: Some(name.to_string()), value }
    });
    Some(PodDNSConfig {
        nameservers: (!spec.dns.is_empty()).then(|| spec.dns.clone()),
        searches: (!spec.dns_search.is_empty()).then(|| spec.dns_search.clone()),
        options: (!spec.dns_options.is_empty()).then(|| options.collect()),
    })
}

fn mount(volume: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount { name: volume.into(), mount_path: path.into(), read_only: Some(read_only), ..VolumeMount::default() }
}

fn main_mounts(plan: &AttemptPlan, has_secret: bool) -> Vec<VolumeMount> {
    let spec = &plan.spec;
    let mut out = vec![mount(OUTPUT_VOLUME, OUTPUT_MOUNT, false)];
    if !spec.files.is_empty() {
        out.push(mount(WORKSPACE_VOLUME, &spec.workspace_dir, false));
    }
    if spec.resources.shm_size.is_some() {
        out.push(mount(SHM_VOLUME, "/dev/shm", false));
    }
    if has_secret {
        for (i, s) in plan.secrets.iter().enumerate() {
            if let Some(target) = &s.file {
                let sub = VolumeMount { sub_path: Some(secret_file_key(i)), ..mount(ATTEMPT_VOLUME, target, true) };
                out.push(sub);
            }
        }
    }
    out
}

fn volumes(plan: &AttemptPlan, has_secret: bool) -> Vec<Volume> {
    let spec = &plan.spec;
    let empty = |name: &str, source: EmptyDirVolumeSource| Volume {
        name: name.into(),
        empty_dir: Some(source),
        ..Volume::default()
    };
    let limit = |cap: u64| EmptyDirVolumeSource { size_limit: Some(Quantity(cap.to_string())), ..Default::default() };
    // The output dir holds at most the result and the artifacts (plus what the job writes
    // and deletes): twice the caps bounds its disk use.
    let output_cap = 2 * (spec.output.result_cap.0 + spec.output.artifacts_cap.0);
    let mut out = vec![empty(OUTPUT_VOLUME, limit(output_cap.max(1 << 20)))];
    if !spec.files.is_empty() {
        out.push(empty(WORKSPACE_VOLUME, EmptyDirVolumeSource::default()));
    }
    if let Some(shm) = spec.resources.shm_size {
        let memory =
            EmptyDirVolumeSource { medium: Some("Memory".into()), size_limit: Some(Quantity(shm.0.to_string())) };
        out.push(empty(SHM_VOLUME, memory));
    }
    if has_secret {
        let mut items: Vec<KeyToPath> =
            (0..spec.files.len()).map(|i| KeyToPath { key: file_key(i), path: file_key(i), mode: None }).collect();
        for (i, _) in plan.secrets.iter().enumerate().filter(|(_, s)| s.file.is_some()) {
            items.push(KeyToPath { key: secret_file_key(i), path: secret_file_key(i), mode: Some(0o444) });
        }
        let source = SecretVolumeSource {
            secret_name: Some(plan.name.clone()),
            items: (!items.is_empty()).then_some(items),
            default_mode: Some(0o444),
            optional: Some(false),
        };
        out.push(Volume { name: ATTEMPT_VOLUME.into(), secret: Some(source), ..Volume::default() });
    }
    out
}

fn attempt_secret(plan: &AttemptPlan, settings: &Settings) -> Option<Secret> {
    let mut data = BTreeMap::new();
    for (i, f) in plan.spec.files.iter().enumerate() {
        data.insert(file_key(i), ByteString(f.content.clone().into_bytes()));
    }
    for (i, s) in plan.secrets.iter().enumerate() {
        if s.env.is_some() {
            data.insert(env_key(i), ByteString(s.value.0.clone()));
        }
        if s.file.is_some() {
            data.insert(secret_file_key(i), ByteString(s.value.0.clone()));
        }
    }
    if data.is_empty() {
        return None;
    }
    let meta = ObjectMeta {
        name: Some(plan.name.clone()),
        namespace: Some(settings.namespace.clone()),
        labels: Some(object_labels(plan)),
        ..ObjectMeta::default()
    };
    Some(Secret { metadata: meta, data: Some(data), type_: Some("Opaque".into()), ..Secret::default() })
}

/// A plain container that runs the helper image with the locked-down defaults, as the
/// job's user when it has a numeric one (so it can read what the job wrote, mode 0600 too).
fn helper(spec: &JobSpec, name: &str, settings: &Settings, script: String, mounts: Vec<VolumeMount>) -> Container {
    let (uid, gid) = crate::support::numeric_user(spec.user.as_deref());
    let small = |cpu: &str, mem: &str| {
        BTreeMap::from([("cpu".to_string(), Quantity(cpu.into())), ("memory".to_string(), Quantity(mem.into()))])
    };
    Container {
        name: name.into(),
        image: Some(settings.helper_image.clone()),
        image_pull_policy: Some("IfNotPresent".into()),
        command: Some(vec!["sh".into(), "-c".into(), script]),
        resources: Some(ResourceRequirements {
            limits: Some(small("200m", "64Mi")),
            requests: Some(small("10m", "16Mi")),
            ..ResourceRequirements::default()
        }),
        security_context: Some(SecurityContext {
            capabilities: Some(Capabilities { add: None, drop: Some(vec!["ALL".into()]) }),
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_user: uid,
            run_as_group: gid,
            seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), localhost_profile: None }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(mounts),
        ..Container::default()
    }
}

/// Keeps the output directory readable until berth has collected it (it then deletes the
/// Job); on its own it ends after the run timeout, the grace and ten minutes.
fn helper_container(spec: &JobSpec, settings: &Settings) -> Container {
    let secs = spec.timeouts.run.0.as_secs() + grace_secs(spec) + HELPER_SLACK_SECS;
    let script = format!("trap 'exit 0' TERM; sleep {secs} & wait");
    helper(spec, OUTPUT_HELPER, settings, script, vec![mount(OUTPUT_VOLUME, OUTPUT_MOUNT, true)])
}

/// Copies each input file from the Secret into the workspace, with its mode.
fn stage_container(plan: &AttemptPlan, settings: &Settings) -> Container {
    let mut script = String::from("set -e\n");
    for (i, f) in plan.spec.files.iter().enumerate() {
        let target = format!("{STAGE_WORKSPACE}/{}", f.path);
        let dir = target.rsplit_once('/').map_or(STAGE_WORKSPACE.to_string(), |(d, _)| d.to_string());
        let mode = f.mode.unwrap_or(0o644);
        script.push_str(&format!(
            "mkdir -p {dir}\ncp {STAGE_INPUT}/{key} {target}\nchmod {mode:o} {target}\n",
            dir = quote(&dir),
            key = file_key(i),
            target = quote(&target),
        ));
    }
    let mounts = vec![mount(WORKSPACE_VOLUME, STAGE_WORKSPACE, false), mount(ATTEMPT_VOLUME, STAGE_INPUT, true)];
    helper(&plan.spec, STAGE, settings, script, mounts)
}

/// `s` in single quotes for `sh`.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
#[path = "translate_tests.rs"]
mod tests;
