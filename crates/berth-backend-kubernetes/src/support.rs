//! What of a spec a pod can mean, field by field: the refusals submit shows (the field, why,
//! what to do instead), so no field is silently ignored on this backend.

use berth_core::spec::JobSpec;
use berth_core::spec_load::FieldError;

use crate::settings::Settings;

/// A Secret holds at most 1 MiB; the files, secret values and keys must fit with room.
pub const SECRET_BUDGET: usize = 900 * 1024;

/// Every field of `spec` a Kubernetes pod cannot honour, with the reason.
pub fn refusals(spec: &JobSpec, settings: &Settings) -> Vec<FieldError> {
    let mut out = Vec::new();
    let mut no = |field: &str, why: &str| out.push(FieldError::new(field, format!("the kubernetes backend {why}")));
    if !spec.mounts.is_empty() {
        no("mounts", "cannot mount Docker volumes or host paths; pass data as files or fetch it from the job");
    }
    match spec.network.as_deref() {
        None | Some("bridge") => {}
        Some("none") if settings.network_none_policy => {}
        Some("none") => no(
            "network",
            "isolates pods with a NetworkPolicy: install the one in deploy/kubernetes and set \
             network_none_policy = true in [backends.kubernetes]",
        ),
        Some(_) => no("network", "runs every pod on the cluster network; leave network unset"),
    }
    if spec.user.is_some() && numeric_user(spec.user.as_deref()).0.is_none() {
        no("user", "needs a numeric user, `uid` or `uid:gid` (a pod cannot look names up in the image)");
    }
    if spec.domainname.is_some() {
        no("domainname", "cannot set a NIS domain name");
    }
    if spec.extra_hosts.iter().any(|h| !h.contains(':')) {
        no("extra_hosts", "needs `name:ip` entries");
    }
    if spec.pid.is_some() || spec.uts.is_some() || !matches!(spec.ipc.as_deref(), None | Some("private")) {
        no("pid", "gives every pod its own pid, ipc and uts namespaces");
    }
    if spec.log_driver.is_some() {
        no("log_driver", "reads the pod log; the cluster decides where logs go");
    }
    security(spec, &mut no);
    resources(spec, &mut no);
    if spec.registry_auth.is_some() {
        no(
            "registry_auth",
            "pulls with the kubelet: name a pull Secret in image_pull_secrets of [backends.kubernetes]",
        );
    }
    for (key, value) in &spec.labels {
        if !is_label_key(key) || !is_label_value(value) {
            no(&format!("labels.{key}"), "puts labels on pods: keys and values must be valid Kubernetes labels");
        }
    }
    let size: usize = spec.files.iter().map(|f| f.content.len() + 64).sum();
    if size > SECRET_BUDGET {
        no("files", "passes input files in a Secret, which holds at most 1 MiB; fetch larger inputs from the job");
    }
    out
}

fn security(spec: &JobSpec, no: &mut impl FnMut(&str, &str)) {
    let s = &spec.security;
    if s.apparmor_profile.is_some() {
        no("security.apparmor_profile", "cannot choose an AppArmor profile");
    }
    if s.seccomp_profile.as_deref().is_some_and(|p| p != "unconfined" && !p.starts_with("localhost/")) {
        no("security.seccomp_profile", "takes `unconfined` or `localhost/<profile on the node>`");
    }
    if s.oom_kill_disable {
        no("security.oom_kill_disable", "cannot turn the OOM killer off");
    }
    if s.group_add.iter().any(|g| g.parse::<i64>().is_err()) {
        no("security.group_add", "needs numeric group ids");
    }
}

fn resources(spec: &JobSpec, no: &mut impl FnMut(&str, &str)) {
    let r = &spec.resources;
    if !r.swap_is_memory() {
        no("resources.memory_swap", "runs without swap: memory_swap can only equal memory");
    }
    if r.pids_limit.is_some() {
        no("resources.pids_limit", "cannot limit one pod's processes (it is the kubelet's podPidsLimit)");
    }
    if !r.ulimits.is_empty() {
        no("resources.ulimits", "cannot set ulimits");
    }
    if !r.devices.is_empty() {
        no("resources.devices", "cannot map host devices (use a device plugin's resource)");
    }
    if r.cpuset_cpus.is_some() {
        no("resources.cpuset_cpus", "cannot pin CPUs (it is the kubelet's CPU manager)");
    }
    if !r.cgroup.is_unset() {
        no(
            "resources.cgroup",
            "cannot tune a pod's cgroup (periods, real-time CPU, swappiness, OOM score, block IO, device rules)",
        );
    }
    if r.gpus.as_deref().is_some_and(|g| g.parse::<u32>().is_err()) {
        no("resources.gpus", "asks for a number of GPUs (`nvidia.com/gpu`), not `all` or device ids");
    }
}

/// `uid` or `uid:gid` as numbers; `(None, None)` for anything else.
pub fn numeric_user(user: Option<&str>) -> (Option<i64>, Option<i64>) {
    let Some(user) = user else { return (None, None) };
    let (u, g) = user.split_once(':').map_or((user, None), |(u, g)| (u, Some(g)));
    match (u.parse::<i64>(), g.map(str::parse::<i64>)) {
        (Ok(uid), None) => (Some(uid), None),
        (Ok(uid), Some(Ok(gid))) => (Some(uid), Some(gid)),
        _ => (None, None),
    }
}

/// At most 63 of `[A-Za-z0-9-_.]`, starting and ending with an alphanumeric (or empty).
pub fn is_label_value(s: &str) -> bool {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    let ends = |c: Option<char>| c.is_none_or(|c| c.is_ascii_alphanumeric());
    s.len() <= 63 && s.chars().all(ok) && ends(s.chars().next()) && ends(s.chars().last())
}

/// `[prefix/]name`: a DNS subdomain prefix and a label-value-like name, not empty.
pub fn is_label_key(s: &str) -> bool {
    let (prefix, name) = s.rsplit_once('/').map_or((None, s), |(p, n)| (Some(p), n));
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty() && p.len() <= 253 && p.split('.').all(|part| !part.is_empty() && is_label_value(part))
    });
    !name.is_empty() && is_label_value(name) && prefix_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_users() {
        assert!(is_label_value("berth-1.a_b") && is_label_value(""));
        assert!(!is_label_value("-x") && !is_label_value("a:b") && !is_label_value(&"a".repeat(64)));
        assert!(is_label_key("team") && is_label_key("example.com/team"));
        assert!(!is_label_key("/team") && !is_label_key("a b"));
        assert_eq!(numeric_user(Some("1000:100")), (Some(1000), Some(100)));
        assert_eq!(numeric_user(Some("nobody")), (None, None));
    }

    #[test]
    fn each_refusal_names_its_field() {
        let mut spec = JobSpec::new("x");
        spec.user = Some("nobody".into());
        spec.network = Some("none".into());
        spec.resources.pids_limit = Some(10);
        spec.labels.insert("ok".into(), "not ok!".into());
        let fields: Vec<String> = refusals(&spec, &Settings::default()).into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["network", "user", "resources.pids_limit", "labels.ok"]);
        let allowed = Settings { network_none_policy: true, ..Settings::default() };
        assert_eq!(refusals(&spec, &allowed).len(), 3);
        assert!(refusals(&JobSpec::new("x"), &Settings::default()).is_empty());
    }
}
