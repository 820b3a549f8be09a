//! `Policy::check`: walks a spec field by field and names the first one the policy refuses,
//! with the rule that refused it.

use std::fmt;

use super::{BindMode, BindMounts, Policy, RequiredLimit};
use crate::parse::{parse_device, parse_image_ref};
use crate::quantity::ByteSize;
use crate::spec::{JobSpec, MemorySwap, Mount};

/// Paths whose bind mount hands the container control of the host's engine.
const ENGINE_SOCKETS: [&str; 8] = [
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/run/podman/podman.sock",
    "/run/containerd/containerd.sock",
    "/var/run/containerd/containerd.sock",
    "/run/docker/containerd/containerd.sock",
    "/run/crio/crio.sock",
    "/run/buildkit/buildkitd.sock",
];
/// The engines' data: every container's filesystem and every tenant's volumes.
const ENGINE_DATA: [&str; 2] = ["/var/lib/docker", "/var/lib/containerd"];

/// A refusal: the spec field, the policy rule, what to do, and whose policy it was.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct Denial {
    pub field: String,
    pub rule: String,
    pub message: String,
    /// Whose policy refused it, e.g. `the server policy`.
    pub policy: String,
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} (refused by {}, rule `{}`)", self.field, self.message, self.policy, self.rule)
    }
}

type Checked = Result<(), Denial>;

impl Policy {
    /// The first field of `spec` this policy refuses.
    pub fn check(&self, spec: &JobSpec) -> Checked {
        self.check_with(spec, &|_| None)
    }

    /// Like `check`, with each bind mount's source also checked where `resolve` says it
    /// really points (symlinks followed on the node that mounts it).
    pub fn check_with(&self, spec: &JobSpec, resolve: &dyn Fn(&str) -> Option<String>) -> Checked {
        self.check_image(spec)?;
        self.check_switches(spec)?;
        self.check_namespaces(spec)?;
        self.check_binds(spec, resolve)?;
        self.check_security(spec)?;
        self.check_ceilings(spec)
    }

    /// The bind mounts of `spec` alone, their sources also where `resolve` says they point:
    /// looked at again right before create, since host paths can change meanwhile.
    pub fn check_binds(&self, spec: &JobSpec, resolve: &dyn Fn(&str) -> Option<String>) -> Checked {
        for (i, m) in spec.mounts.iter().enumerate() {
            if let Mount::Bind { source, read_only, .. } = m {
                self.check_bind(i, source, *read_only)?;
                let Some(real) = resolve(source).filter(|r| Some(r) != normalize(source).as_ref()) else { continue };
                if matches!(self.bind_mounts, BindMounts::Prefixes(_)) {
                    // A link inside an allowed tree could be swapped for another before start.
                    let what = format!("a bind source must not pass through a symbolic link (it leads to {real})");
                    return self.deny(format!("mounts[{i}].source"), "bind_mounts", what);
                }
                self.check_bind(i, &real, *read_only)?;
            }
        }
        Ok(())
    }

    fn deny(&self, field: impl Into<String>, rule: &str, message: impl Into<String>) -> Checked {
        let (field, message) = (field.into(), message.into());
        Err(Denial { field, rule: rule.to_string(), message, policy: self.source.clone() })
    }

    fn check_image(&self, spec: &JobSpec) -> Checked {
        let Ok(r) = parse_image_ref(&spec.image) else { return Ok(()) };
        if self.images.digest_pinned && r.digest.is_none() {
            return self.deny("image", "images.digest_pinned", "only digest-pinned images (name@sha256:...) may run");
        }
        let registry = r.registry.as_deref().unwrap_or("docker.io");
        let path = if r.registry.is_none() && !r.path.contains('/') { format!("library/{}", r.path) } else { r.path };
        let name = format!("{registry}/{path}");
        if !self.images.allow.is_empty() && !any_match(&self.images.allow, &name) {
            let allowed = self.images.allow.join(", ");
            return self.deny("image", "images.allow", format!("`{name}` is not an allowed repository ({allowed})"));
        }
        Ok(())
    }

    fn check_switches(&self, spec: &JobSpec) -> Checked {
        let s = &spec.security;
        if let Some(d) = &spec.log_driver
            && !any_match(&self.log_drivers, &d.kind)
        {
            let what = format!("the log driver `{}` is not allowed (berth stores the job's output itself)", d.kind);
            return self.deny("log_driver", "log_drivers", what);
        }
        if !spec.ports.is_empty() && !self.ports {
            return self.deny("ports", "ports", "publishing ports on the worker's host is not allowed");
        }
        for (i, u) in spec.resources.ulimits.iter().enumerate() {
            if !any_match(&self.ulimits, &u.name) {
                return self.deny(
                    format!("resources.ulimits[{i}]"),
                    "ulimits",
                    format!("the ulimit `{}` is not allowed", u.name),
                );
            }
        }
        if s.privileged && !self.privileged {
            return self.deny("security.privileged", "privileged", "privileged containers are not allowed");
        }
        if s.oom_kill_disable && !self.oom_kill_disable {
            return self.deny("security.oom_kill_disable", "oom_kill_disable", "the OOM killer cannot be disabled");
        }
        let c = &spec.resources.cgroup;
        if c.oom_score_adj.is_some_and(|a| a < 0) && !self.oom_kill_disable {
            let why = "a negative score spares the job from the OOM killer at the host's expense";
            return self.deny("resources.cgroup.oom_score_adj", "oom_kill_disable", why);
        }
        if (c.cpu_rt_period.is_some() || c.cpu_rt_runtime.is_some()) && !self.privileged {
            let why = "real-time CPU time can starve the host: only where privileged jobs are allowed";
            return self.deny("resources.cgroup.cpu_rt_runtime", "privileged", why);
        }
        if !c.device_cgroup_rules.is_empty() && !self.devices.iter().any(|d| d == "*") {
            let why = "a device cgroup rule opens devices by number: only where every device is allowed";
            return self.deny("resources.cgroup.device_cgroup_rules", "devices", why);
        }
        if spec.resources.gpus.is_some() && !self.gpus {
            return self.deny("resources.gpus", "gpus", "GPUs are not allowed for these jobs");
        }
        if let Some(r) = &s.runtime
            && !any_match(&self.runtimes, r)
        {
            return self.deny("security.runtime", "runtimes", format!("the runtime `{r}` is not allowed"));
        }
        Ok(())
    }

    fn check_namespaces(&self, spec: &JobSpec) -> Checked {
        let modes = [("network", &spec.network), ("pid", &spec.pid), ("ipc", &spec.ipc), ("uts", &spec.uts)];
        for (field, mode) in modes {
            let Some(mode) = mode.as_deref() else { continue };
            if mode == "host" && !self.host_namespaces {
                return self.deny(field, "host_namespaces", format!("the host's {field} namespace is not allowed"));
            }
            if mode.starts_with("container:") && !self.join_containers {
                let what = "joining another container's namespace is not allowed";
                return self.deny(field, "join_containers", what);
            }
        }
        match spec.network.as_deref() {
            Some(n) if !["none", "bridge", "host"].contains(&n) && !n.starts_with("container:") => {
                if !any_match(&self.networks, n) {
                    let what = format!("the network `{n}` is not allowed; use none or bridge");
                    return self.deny("network", "networks", what);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn check_bind(&self, i: usize, source: &str, read_only: bool) -> Checked {
        let field = format!("mounts[{i}].source");
        let Some(path) = normalize(source) else {
            return self.deny(field, "bind_mounts", "a bind mount source must be an absolute path without `..`");
        };
        let holds = |sock: &&str| *sock == path || path == "/" || sock.starts_with(&format!("{path}/"));
        let inside = |dir: &&str| path.starts_with(&format!("{dir}/"));
        if !self.engine_socket
            && (ENGINE_SOCKETS.iter().chain(&ENGINE_DATA).any(holds) || ENGINE_DATA.iter().any(inside))
        {
            let what = "mounting a container engine's socket (or a directory holding one) would give the job the host";
            return self.deny(field, "engine_socket", what);
        }
        match &self.bind_mounts {
            BindMounts::Mode(BindMode::Any) => Ok(()),
            BindMounts::Mode(BindMode::None) => {
                self.deny(field, "bind_mounts", "host paths cannot be mounted; use a volume or `files`")
            }
            BindMounts::Prefixes(list) => {
                let under = |p: &str| path == p || p == "/" || path.starts_with(&format!("{p}/"));
                // The most specific prefix decides (a read-only tree inside a writable one).
                let matching =
                    list.iter().filter_map(|b| normalize(&b.prefix).filter(|p| under(p)).map(|p| (p.len(), b)));
                let Some((_, rule)) = matching.max_by_key(|(len, _)| *len) else {
                    let allowed: Vec<&str> = list.iter().map(|b| b.prefix.as_str()).collect();
                    let what = format!("`{path}` is not under an allowed host path ({})", allowed.join(", "));
                    return self.deny(field, "bind_mounts", what);
                };
                if !rule.writable && !read_only {
                    let what = format!("host paths under {} may only be mounted read-only", rule.prefix);
                    return self.deny(format!("mounts[{i}].read_only"), "bind_mounts", what);
                }
                Ok(())
            }
        }
    }

    fn check_security(&self, spec: &JobSpec) -> Checked {
        let s = &spec.security;
        for c in &s.cap_add {
            let name = c.strip_prefix("CAP_").unwrap_or(c);
            if !any_match(&self.cap_add, name) {
                return self.deny(
                    "security.cap_add",
                    "cap_add",
                    format!("adding the capability {name} is not allowed"),
                );
            }
        }
        if s.keep_default_caps && !self.keep_default_caps {
            let what =
                "the engine's default capabilities (NET_RAW, MKNOD, ...) are not allowed; add what the job needs";
            return self.deny("security.keep_default_caps", "keep_default_caps", what);
        }
        if !s.no_new_privileges && !self.new_privileges {
            let what = "no_new_privileges must stay on (setuid binaries could gain privileges)";
            return self.deny("security.no_new_privileges", "new_privileges", what);
        }
        let profiles = [
            ("security.seccomp_profile", "seccomp_profiles", &s.seccomp_profile, &self.seccomp_profiles),
            ("security.apparmor_profile", "apparmor_profiles", &s.apparmor_profile, &self.apparmor_profiles),
        ];
        for (field, rule, value, allowed) in profiles {
            if let Some(v) = value
                && !any_match(allowed, v)
            {
                let shown = if v.len() > 40 { "a custom profile".to_string() } else { format!("`{v}`") };
                return self.deny(
                    field,
                    rule,
                    format!("{shown} is not allowed; leave it unset for the engine's default"),
                );
            }
        }
        for (i, d) in spec.resources.devices.iter().enumerate() {
            let host = parse_device(d).map(|m| m.host).unwrap_or_else(|_| d.clone());
            if !any_match(&self.devices, &host) {
                return self.deny(
                    format!("resources.devices[{i}]"),
                    "devices",
                    format!("the device {host} is not allowed"),
                );
            }
        }
        for name in s.sysctls.keys() {
            if !any_match(&self.sysctls, name) {
                return self.deny(format!("security.sysctls.{name}"), "sysctls", "setting this sysctl is not allowed");
            }
        }
        Ok(())
    }

    fn check_ceilings(&self, spec: &JobSpec) -> Checked {
        let (c, r) = (&self.ceilings, &spec.resources);
        let over = |field: &str, rule: &str, asked: String, most: String| {
            self.deny(field, rule, format!("{asked} is over the ceiling of {most}"))
        };
        if let (Some(most), Some(asked)) = (c.memory, r.memory)
            && asked > most
        {
            return over("resources.memory", "ceilings.memory", asked.to_string(), most.to_string());
        }
        // Swap is memory too: unlimited or above the ceiling would get around it.
        if let (Some(most), Some(swap)) = (c.memory, r.memory_swap) {
            let asked = match swap {
                MemorySwap::Limit(b) if b <= most => None,
                MemorySwap::Limit(b) => Some(b.to_string()),
                MemorySwap::Unlimited(_) => Some("unlimited".to_string()),
            };
            if let Some(asked) = asked {
                return over("resources.memory_swap", "ceilings.memory", asked, most.to_string());
            }
        }
        if let (Some(most), Some(asked)) = (c.cpus, r.cpus)
            && asked > most
        {
            return over("resources.cpus", "ceilings.cpus", asked.to_string(), most.to_string());
        }
        if let (Some(most), Some(asked)) = (c.pids_limit, r.pids_limit)
            && (asked > most || asked <= 0)
        {
            return over("resources.pids_limit", "ceilings.pids_limit", asked.to_string(), most.to_string());
        }
        if let Some(most) = c.file_size {
            let most_bytes = i64::try_from(most.0).unwrap_or(i64::MAX);
            for (i, u) in r.ulimits.iter().enumerate().filter(|(_, u)| u.name == crate::defaults::FSIZE) {
                if u.hard < 0 || u.hard > most_bytes {
                    let asked = if u.hard < 0 { "unlimited".to_string() } else { ByteSize(u.hard as u64).to_string() };
                    return over(&format!("resources.ulimits[{i}]"), "ceilings.file_size", asked, most.to_string());
                }
            }
        }
        for need in &self.require {
            let (field, set) = match need {
                RequiredLimit::Memory => ("resources.memory", r.memory.is_some()),
                RequiredLimit::Cpus => ("resources.cpus", r.cpus.is_some()),
                RequiredLimit::PidsLimit => ("resources.pids_limit", r.pids_limit.is_some()),
            };
            if !set {
                return self.deny(field, "require", "every job must set this limit");
            }
        }
        Ok(())
    }
}

/// An absolute path with `.`, empty and trailing components gone; `None` with `..`.
fn normalize(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return None;
    }
    let mut parts = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => return None,
            c => parts.push(c),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

fn any_match(globs: &[String], text: &str) -> bool {
    globs.iter().any(|g| glob(g.as_bytes(), text.as_bytes()))
}

/// `*` matches any run of characters (also none), `?` one character; the rest is literal.
pub(crate) fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t, mut star, mut mark) = (0, 0, None, 0);
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some(p);
            mark = t;
            p += 1;
        } else if let Some(s) = star {
            p = s + 1;
            mark += 1;
            t = mark;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}
