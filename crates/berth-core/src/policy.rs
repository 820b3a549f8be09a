//! What a deployment allows beyond the locked-down defaults. A spec that asks for more than
//! the policy allows is refused before anything is created (`policy_denied`).

use serde::{Deserialize, Serialize};

use crate::spec::{JobSpec, Mount};
use crate::spec_load::FieldError;

/// Paths whose bind mount hands the container control of the host's engine.
const ENGINE_SOCKETS: [&str; 4] =
    ["/var/run/docker.sock", "/run/docker.sock", "/run/podman/podman.sock", "/run/containerd/containerd.sock"];

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    pub allow_privileged: bool,
    pub allow_host_network: bool,
    pub allow_bind_mounts: bool,
    pub allow_engine_socket: bool,
    pub allow_oom_kill_disable: bool,
}

impl Default for Policy {
    /// The local CLI's policy: the user already controls the engine, so plain bind mounts are
    /// fine (`docker run -v` habits work), but the dangerous switches stay off.
    fn default() -> Self {
        Policy {
            allow_privileged: false,
            allow_host_network: false,
            allow_bind_mounts: true,
            allow_engine_socket: false,
            allow_oom_kill_disable: false,
        }
    }
}

impl Policy {
    /// Checks a spec; the error names the field and how to proceed.
    pub fn check(&self, spec: &JobSpec) -> Result<(), FieldError> {
        if spec.security.privileged && !self.allow_privileged {
            return Err(denied(
                "security.privileged",
                "privileged containers are refused by policy (allow_privileged)",
            ));
        }
        if spec.security.oom_kill_disable && !self.allow_oom_kill_disable {
            return Err(denied(
                "security.oom_kill_disable",
                "disabling the OOM killer is refused by policy (allow_oom_kill_disable)",
            ));
        }
        if spec.network.as_deref() == Some("host") && !self.allow_host_network {
            return Err(denied(
                "network",
                "the host network is refused by policy (allow_host_network); use bridge or a named network",
            ));
        }
        for (i, m) in spec.mounts.iter().enumerate() {
            let Mount::Bind { source, .. } = m else { continue };
            let field = format!("mounts[{i}].source");
            let normalized = source.trim_end_matches('/');
            if ENGINE_SOCKETS.contains(&normalized) && !self.allow_engine_socket {
                return Err(denied(
                    &field,
                    "mounting the container engine's socket is refused by policy (allow_engine_socket): it would give the job control of the host",
                ));
            }
            if !self.allow_bind_mounts {
                return Err(denied(&field, "bind mounts are refused by policy (allow_bind_mounts); use a volume"));
            }
        }
        Ok(())
    }
}

fn denied(field: &str, message: &str) -> FieldError {
    FieldError::new(field, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_with(f: impl FnOnce(&mut JobSpec)) -> JobSpec {
        let mut s = JobSpec::new("busybox");
        f(&mut s);
        s
    }

    #[test]
    fn dangerous_switches_are_refused_by_default() {
        let p = Policy::default();
        assert!(p.check(&JobSpec::new("busybox")).is_ok());
        let privileged = spec_with(|s| s.security.privileged = true);
        assert_eq!(p.check(&privileged).unwrap_err().field, "security.privileged");
        let host = spec_with(|s| s.network = Some("host".into()));
        assert_eq!(p.check(&host).unwrap_err().field, "network");
        let sock = spec_with(|s| {
            s.mounts.push(Mount::Bind {
                source: "/var/run/docker.sock/".into(),
                target: "/var/run/docker.sock".into(),
                read_only: true,
            })
        });
        assert!(p.check(&sock).unwrap_err().message.contains("engine's socket"));
        let bind =
            spec_with(|s| s.mounts.push(Mount::Bind { source: "/tmp".into(), target: "/t".into(), read_only: false }));
        assert!(p.check(&bind).is_ok());
        let strict = Policy { allow_bind_mounts: false, ..Policy::default() };
        assert!(strict.check(&bind).is_err());
    }
}
