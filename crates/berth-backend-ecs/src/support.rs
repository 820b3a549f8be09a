//! What of a spec an ECS task can mean, field by field: the refusals submit shows (the field,
//! why, what to do instead), so no field is silently ignored on this backend. Sizes and the
//! RunTask overrides budget are checked here too, before anything is registered. Secrets are
//! never in the overrides (see `secrets`), so they take none of its budget.

use std::collections::BTreeMap;

use berth_core::backend::AttemptPlan;
use berth_core::spec::JobSpec;
use berth_core::spec_load::FieldError;

use crate::settings::Settings;
use crate::translate::{self, OVERRIDES_LIMIT};

/// Fargate's longest `stopTimeout`.
const FARGATE_STOP_SECS: u64 = 120;

/// Every field of `spec` an ECS task cannot honour, with the reason.
pub fn refusals(spec: &JobSpec, settings: &Settings) -> Vec<FieldError> {
    let mut out = Vec::new();
    let mut no = |field: &str, why: &str| out.push(FieldError::new(field, format!("the ecs backend {why}")));
    let fargate = settings.fargate();
    if let Some(why) = mounts(spec, settings) {
        no("mounts", &why);
    }
    if !matches!(spec.network.as_deref(), None | Some("bridge")) {
        no("network", "runs every task in the configured subnets and security groups; leave network unset");
    }
    if let Some(why) = secret_files(spec) {
        no("secrets", &why);
    }
    if spec.hostname.is_some() || spec.domainname.is_some() {
        no("hostname", "cannot name an awsvpc task's host");
    }
    if !spec.dns.is_empty()
        || !spec.dns_search.is_empty()
        || !spec.dns_options.is_empty()
        || !spec.extra_hosts.is_empty()
    {
        no("dns", "uses the VPC's resolver: DNS servers, search domains and extra hosts are not supported");
    }
    if spec.pid.is_some() || spec.ipc.is_some() || spec.uts.is_some() {
        no("pid", "gives every task its own pid, ipc and uts namespaces");
    }
    if spec.log_driver.is_some() {
        no("log_driver", "logs through awslogs to the configured log group");
    }
    if spec.registry_auth.is_some() {
        no("registry_auth", "pulls with the task execution role (ECR) only, for now");
    }
    let s = &spec.security;
    if s.privileged && fargate {
        no("security.privileged", "runs no privileged containers on Fargate");
    }
    if s.seccomp_profile.is_some()
        || s.apparmor_profile.is_some()
        || s.oom_kill_disable
        || !s.sysctls.is_empty()
        || s.runtime.is_some()
    {
        no("security", "cannot choose seccomp or AppArmor profiles, sysctls, a runtime, or turn the OOM killer off");
    }
    resources(spec, fargate, &mut no);
    if fargate && spec.timeouts.stop_grace.0.as_secs_f64().ceil() as u64 > FARGATE_STOP_SECS {
        no("timeouts.stop_grace", "allows at most 120 s between the stop signal and the kill on Fargate");
    }
    if let Err(why) = translate::task_size(spec, settings) {
        out.push(FieldError::new("resources", why));
    }
    let size = translate::overrides_size(&translate::run_task(&sample_plan(spec), settings, "berth"));
    if size > OVERRIDES_LIMIT - 256 {
        let message = format!(
            "makes RunTask overrides of {size} characters; ECS takes at most {OVERRIDES_LIMIT}: shorten the command and env"
        );
        out.push(FieldError::new("env", message));
    }
    out
}

/// Named volumes are EFS access points when a file system is configured; host paths and
/// tmpfs never (Fargate has neither), nor a volume over berth's own directories.
fn mounts(spec: &JobSpec, settings: &Settings) -> Option<String> {
    use berth_core::spec::Mount;
    for m in &spec.mounts {
        let target = m.target().trim_end_matches('/');
        match m {
            Mount::Volume { .. } if settings.efs_file_system.is_none() => {
                return Some(
                    "mounts named volumes only as EFS access points: set efs_file_system in [backends.ecs]".into(),
                );
            }
            Mount::Volume { .. } if target.is_empty() || target == "/berth" || target.starts_with("/berth/") => {
                return Some(format!("cannot mount a volume at {}: berth's own directories are there", m.target()));
            }
            Mount::Volume { .. } => {}
            Mount::Bind { .. } | Mount::Tmpfs { .. } => {
                return Some("mounts no host paths or tmpfs (tasks have neither); use a named volume on EFS".into());
            }
        }
    }
    None
}

/// A secret file's directory becomes a read-only volume that hides what the image has there
/// (a task's mount points have no sub-paths): it cannot be `/`, berth's own directories, or
/// the workspace.
fn secret_files(spec: &JobSpec) -> Option<String> {
    let within = |dir: &str, root: &str| dir == root || dir.starts_with(&format!("{root}/"));
    for path in spec.secrets.iter().filter_map(|s| s.file.as_deref()) {
        let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
        let ws = spec.workspace_dir.trim_end_matches('/');
        let workspace = !spec.files.is_empty() && (within(dir, ws) || within(ws, dir));
        if dir.is_empty() || within(dir, "/berth") || workspace {
            return Some(format!(
                "mounts each secret file's directory read-only over the image's ({path}): \
                 put secret files in a directory of their own, e.g. /run/secrets"
            ));
        }
    }
    None
}

fn resources(spec: &JobSpec, fargate: bool, no: &mut impl FnMut(&str, &str)) {
    let r = &spec.resources;
    if !r.swap_is_memory() {
        no("resources.memory_swap", "runs without swap: memory_swap can only equal memory");
    }
    if r.pids_limit.is_some() || (fargate && !r.ulimits.is_empty()) {
        no("resources.pids_limit", "cannot limit a task's processes or set ulimits on Fargate");
    }
    if r.shm_size.is_some() || !r.devices.is_empty() || r.cpuset_cpus.is_some() || r.cpu_shares.is_some() {
        no("resources", "cannot set shm_size, devices, cpuset_cpus or cpu_shares on a task");
    }
    if !r.cgroup.is_unset() {
        no(
            "resources.cgroup",
            "cannot tune a task's cgroup (periods, real-time CPU, swappiness, OOM score, block IO, device rules)",
        );
    }
    if r.gpus.is_some() && fargate {
        no("resources.gpus", "has no GPUs on Fargate (use EC2 capacity)");
    }
}

/// An attempt of `spec` with ids as long as real ones, to measure its overrides.
fn sample_plan(spec: &JobSpec) -> AttemptPlan {
    let id = "0".repeat(32);
    AttemptPlan {
        job_id: id.parse().unwrap_or_else(|_| berth_core::ids::JobId::generate()),
        attempt: 1,
        spec: spec.clone(),
        name: format!("berth-{}-1", &id[..12]),
        install_id: id.clone(),
        owner: id.clone(),
        tenant: "t".repeat(32),
        berth_env: BTreeMap::from([
            ("BERTH_JOB_ID".into(), id.clone()),
            ("BERTH_ATTEMPT".into(), "1".into()),
            ("BERTH_OUTPUT_DIR".into(), berth_core::backend::OUTPUT_MOUNT.into()),
            ("BERTH_WORKSPACE_DIR".into(), spec.workspace_dir.clone()),
        ]),
        stdin: false,
        secrets: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use berth_core::quantity::{ByteSize, DurationSpec};

    use super::*;

    #[test]
    fn each_refusal_names_its_field() {
        let mut spec = JobSpec::new("x");
        spec.hostname = Some("box".into());
        spec.resources.pids_limit = Some(10);
        spec.timeouts.stop_grace = DurationSpec::secs(300);
        let fields: Vec<String> = refusals(&spec, &Settings::default()).into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["hostname", "resources.pids_limit", "timeouts.stop_grace"]);
        assert!(refusals(&JobSpec::new("x"), &Settings::default()).is_empty());
    }

    #[test]
    fn named_volumes_need_efs_and_host_paths_are_refused() {
        use berth_core::spec::Mount;
        let volume = |target: &str| Mount::Volume { source: "cache".into(), target: target.into(), read_only: false };
        let mut spec = JobSpec::new("x");
        spec.mounts = vec![volume("/cache")];
        let e = refusals(&spec, &Settings::default());
        assert!(e[0].field == "mounts" && e[0].message.contains("efs_file_system"), "{e:?}");
        let efs = Settings { efs_file_system: Some("fs-1".into()), ..Settings::default() };
        assert!(refusals(&spec, &efs).is_empty());
        spec.mounts = vec![volume("/berth/output")];
        assert!(refusals(&spec, &efs)[0].message.contains("berth's own"));
        spec.mounts = vec![Mount::Bind { source: "/etc".into(), target: "/e".into(), read_only: true }];
        assert!(refusals(&spec, &efs)[0].message.contains("no host paths"));
    }

    #[test]
    fn secrets_are_taken_and_secret_files_need_a_directory_of_their_own() {
        use berth_core::spec::SecretRef;
        let secret = |file: Option<&str>| SecretRef { name: "s".into(), env: None, file: file.map(String::from) };
        let mut spec = JobSpec::new("x");
        spec.secrets = vec![SecretRef { name: "s".into(), env: None, file: None }, secret(Some("/run/secrets/s"))];
        assert!(refusals(&spec, &Settings::default()).is_empty());
        for bad in ["/s", "/berth/s", "/berth/output/s"] {
            spec.secrets = vec![secret(Some(bad))];
            let e = refusals(&spec, &Settings::default());
            assert!(e[0].field == "secrets" && e[0].message.contains("a directory of their own"), "{bad}: {e:?}");
        }
        spec.secrets = vec![secret(Some("/workspace/s"))];
        assert!(refusals(&spec, &Settings::default()).is_empty(), "no workspace volume without input files");
        spec.files = vec![berth_core::spec::InputFile { path: "a".into(), content: String::new(), mode: None }];
        assert_eq!(refusals(&spec, &Settings::default()).len(), 1, "the workspace volume is there");
    }

    #[test]
    fn sizes_and_the_overrides_budget_are_checked_at_submit() {
        let mut big = JobSpec::new("x");
        big.resources.cpus = Some(32.0);
        let e = refusals(&big, &Settings::default());
        assert!(e[0].message.contains("more than Fargate's largest task"), "{}", e[0]);
        let mut odd = JobSpec::new("x");
        odd.resources.memory = Some(ByteSize::mib(3000));
        let exact = Settings { round_up: false, ..Settings::default() };
        let e = refusals(&odd, &exact);
        assert!(e[0].message.contains("the nearest is 512 CPU units, 3072 MiB"), "{}", e[0]);
        assert!(refusals(&odd, &Settings::default()).is_empty(), "rounded up by default");
        let mut long = JobSpec::new("x");
        long.env.insert("BIG".into(), "v".repeat(9000));
        let e = refusals(&long, &Settings::default());
        assert!(e[0].field == "env" && e[0].message.contains("at most 8192"), "{}", e[0]);
    }
}
