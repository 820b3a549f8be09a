//! Which spec fields need which backend capability, and the refusal at submit: a spec that
//! asks a backend for what it cannot do is refused with the field and the backend named,
//! never run with the field silently ignored.

use crate::backend::Capabilities;
use crate::spec::{JobSpec, Resources, Security};
use crate::spec_load::{FieldError, SpecErrors};

/// Every field of `spec` the backend `name` with `caps` cannot honour; `live_stdin` is a
/// stdin stream (`berth run -i`) rather than the spec's payload.
pub fn check(caps: &Capabilities, name: &str, spec: &JobSpec, live_stdin: bool) -> Result<(), SpecErrors> {
    check_with(caps, name, spec, live_stdin, Vec::new())
}

/// `check` over a backend: its capabilities and its own refusals (`Backend::refusals`).
pub fn check_backend(
    backend: &dyn crate::backend::Backend,
    spec: &JobSpec,
    live_stdin: bool,
) -> Result<(), SpecErrors> {
    check_with(&backend.capabilities(), backend.name(), spec, live_stdin, backend.refusals(spec))
}

fn check_with(
    caps: &Capabilities,
    name: &str,
    spec: &JobSpec,
    live_stdin: bool,
    refusals: Vec<FieldError>,
) -> Result<(), SpecErrors> {
    let mut out = Vec::new();
    let mut need = |has: bool, field: &str, what: &str| {
        if !has {
            out.push(FieldError::new(
                field,
                format!("the {name} backend cannot {what}; leave it unset or use another backend"),
            ));
        }
    };
    let s = spec;
    need(caps.isolation || s.mounts.is_empty(), "mounts", "mount volumes (it has no container filesystem)");
    need(caps.isolation || !s.read_only, "read_only", "make the root filesystem read-only");
    need(caps.isolation || s.network.is_none(), "network", "choose a network (the job shares the host's)");
    need(caps.isolation || s.user.is_none(), "user", "run as another user");
    need(caps.isolation || s.hostname.is_none(), "hostname", "set a hostname");
    let modes = s.pid.is_none() && s.ipc.is_none() && s.uts.is_none();
    need(caps.isolation || modes, "pid", "choose pid, ipc or uts namespaces (the job shares the host's)");
    need(caps.isolation || s.dns.is_empty(), "dns", "set DNS servers");
    need(caps.isolation || s.extra_hosts.is_empty(), "extra_hosts", "add /etc/hosts entries");
    let resolver = s.dns_search.is_empty() && s.dns_options.is_empty() && s.domainname.is_none();
    need(caps.isolation || resolver, "dns_search", "set DNS search domains, resolver options or a domain name");
    need(caps.isolation || s.security == Security::default(), "security", "apply security options");
    need(caps.isolation || s.log_driver.is_none(), "log_driver", "use a log driver");
    need(caps.ports || s.ports.is_empty(), "ports", "publish ports");
    need(caps.gpus || s.resources.gpus.is_none(), "resources.gpus", "give a job GPUs");
    need(caps.resource_limits || no_limits(&s.resources), "resources", "enforce memory, CPU or pids limits");
    need(caps.healthcheck || s.healthcheck.is_none(), "healthcheck", "run healthchecks");
    need(caps.signals || s.stop_signal.is_none(), "stop_signal", "send a chosen stop signal");
    need(caps.files || s.files.is_empty(), "files", "place input files");
    let secret_files = s.secrets.iter().any(|r| r.file.is_some());
    need(caps.isolation || !secret_files, "secrets", "place secret files (give the secret as env instead)");
    need(caps.stdin || s.stdin.is_none(), "stdin", "feed a job stdin");
    need(caps.stdin_stream || !live_stdin, "stdin", "forward a live stdin stream (-i)");
    need(caps.tty || !s.tty, "tty", "give a job a pseudo-terminal (-t)");
    need(
        caps.attach || !s.interactive,
        "interactive",
        "keep a job's stdin open for a later attach (-i through a server)",
    );
    out.extend(refusals);
    if out.is_empty() { Ok(()) } else { Err(SpecErrors(out)) }
}

fn no_limits(r: &Resources) -> bool {
    r.cpus.is_none()
        && r.memory.is_none()
        && r.memory_swap.is_none()
        && r.pids_limit.is_none()
        && r.shm_size.is_none()
        && r.ulimits.is_empty()
        && r.devices.is_empty()
        && r.cpu_shares.is_none()
        && r.cpuset_cpus.is_none()
        && r.cgroup.is_unset()
        && r.memory_reservation.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantity::ByteSize;

    fn bare() -> Capabilities {
        Capabilities { isolation: false, resource_limits: false, ports: false, gpus: false, ..Capabilities::ALL }
    }

    #[test]
    fn a_plain_spec_runs_anywhere() {
        assert!(check(&bare(), "process", &JobSpec::new("x"), false).is_ok());
        assert!(check(&Capabilities::ALL, "docker", &JobSpec::new("x"), true).is_ok());
    }

    #[test]
    fn each_unsupported_field_is_named_with_the_backend() {
        let mut spec = JobSpec::new("x");
        spec.ports = vec!["8080:80".into()];
        spec.resources.memory = Some(ByteSize::mib(64));
        spec.user = Some("1000".into());
        let err = check(&bare(), "process", &spec, false).unwrap_err();
        let fields: Vec<&str> = err.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["user", "ports", "resources"]);
        assert!(err.0[1].message.contains("the process backend cannot publish ports"), "{}", err.0[1]);
        let live = Capabilities { stdin_stream: false, ..Capabilities::ALL };
        assert_eq!(check(&live, "ecs", &JobSpec::new("x"), true).unwrap_err().0[0].field, "stdin");
        let none = Capabilities { stdin: false, stdin_stream: false, ..Capabilities::ALL };
        let mut fed = JobSpec::new("x");
        fed.stdin = Some(crate::spec::StdinPayload::Text("hi".into()));
        let e = check(&none, "ecs", &fed, false).unwrap_err();
        assert!(e.0[0].message.contains("the ecs backend cannot feed a job stdin"), "{}", e.0[0]);
    }
}
