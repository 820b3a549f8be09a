//! What a deployment allows beyond the locked-down defaults, as data. A `Policy` is read from
//! a file (`berth server --policy FILE`, the config's `[policy]`), may be overridden per
//! tenant (a patch stored with the tenant), and is checked at submit and again at claim; a
//! spec that asks for more is refused before anything is created (`policy_denied`).
//!
//! Two presets: `Policy::server()` denies everything that reaches past the job's own
//! container (the default of `berth server` and `berth worker`), `Policy::local()` keeps the
//! CLI's `docker run` habits for a user who already controls the engine.

mod check;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use crate::defaults::Defaults;
use crate::quantity::{ByteSize, DurationSpec};
use crate::spec::JobSpec;

pub use check::Denial;

/// Every switch a policy has. Lists are globs (`*` matches any run of characters); an empty
/// list allows nothing, `["*"]` allows anything.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Host paths a bind mount may name: `none`, `any`, or a list of allowed prefixes.
    pub bind_mounts: BindMounts,
    /// A bind mount of a container engine's socket, or of a directory that holds one.
    pub engine_socket: bool,
    pub privileged: bool,
    pub oom_kill_disable: bool,
    /// `host` as the network, pid, ipc or uts mode.
    pub host_namespaces: bool,
    /// `container:<name>` as the network, pid or ipc mode: another container's namespace.
    pub join_containers: bool,
    /// Named networks a job may join (`none` and `bridge` always may).
    pub networks: Vec<String>,
    /// Capabilities `security.cap_add` may add.
    pub cap_add: Vec<String>,
    /// `security.keep_default_caps`: the engine's default set (NET_RAW, MKNOD, SETUID, ...).
    pub keep_default_caps: bool,
    /// `security.no_new_privileges: false`: setuid binaries may gain privileges.
    pub new_privileges: bool,
    /// `security.seccomp_profile` values (`unconfined` or a profile's JSON).
    pub seccomp_profiles: Vec<String>,
    /// `security.apparmor_profile` values (`unconfined` or a loaded profile's name).
    pub apparmor_profiles: Vec<String>,
    /// Host devices `resources.devices` may name.
    pub devices: Vec<String>,
    /// Sysctls `security.sysctls` may set.
    pub sysctls: Vec<String>,
    pub gpus: bool,
    /// OCI runtimes `security.runtime` may name (e.g. `runsc`).
    pub runtimes: Vec<String>,
    /// Log drivers `log_driver` may name (the engine ships a job's output with them, from the
    /// host's network and with the host's credentials).
    pub log_drivers: Vec<String>,
    /// Publishing ports on the worker host (`ports`).
    pub ports: bool,
    /// Ulimits a spec may set (`resources.ulimits`), by name.
    pub ulimits: Vec<String>,
    pub images: ImageRules,
    pub ceilings: Ceilings,
    /// Limits every job must set itself.
    pub require: Vec<RequiredLimit>,
    /// Variables of the worker's environment given to every job, as secrets (redacted from
    /// its logs; a job's own `env` or `secrets` of the same name win).
    pub pass_env: Vec<String>,
    /// Whose policy this is, for refusals ("the server policy", "tenant acme's policy").
    #[serde(skip)]
    pub source: String,
}

/// Which host paths bind mounts may name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged, expecting = "`none`, `any`, or a list of {prefix = \"/srv/data\", writable = false}")]
pub enum BindMounts {
    Mode(BindMode),
    Prefixes(Vec<BindPrefix>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BindMode {
    None,
    Any,
}

/// A host directory bind mounts may reach into; read-only unless `writable`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindPrefix {
    pub prefix: String,
    #[serde(default)]
    pub writable: bool,
}

/// Which images may run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImageRules {
    /// Repositories as globs over `registry/path` (Docker Hub is `docker.io`, its official
    /// images `docker.io/library/NAME`); empty allows every image.
    pub allow: Vec<String>,
    /// Only `image@sha256:...` references.
    pub digest_pinned: bool,
}

/// The most a job may have. Memory, CPUs and pids above these are refused, and a spec that
/// leaves them unset gets at most these; the run timeout and log cap are cut to them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ceilings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<ByteSize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_timeout: Option<DurationSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_cap: Option<ByteSize>,
    /// The largest file a job may write (its `fsize` ulimit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_size: Option<ByteSize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequiredLimit {
    Memory,
    Cpus,
    PidsLimit,
}

impl Default for Policy {
    fn default() -> Self {
        Policy::server()
    }
}

impl Policy {
    /// The server's: a job reaches nothing outside its own container.
    pub fn server() -> Policy {
        Policy {
            bind_mounts: BindMounts::Mode(BindMode::None),
            engine_socket: false,
            privileged: false,
            oom_kill_disable: false,
            host_namespaces: false,
            join_containers: false,
            networks: Vec::new(),
            cap_add: Vec::new(),
            keep_default_caps: false,
            new_privileges: false,
            seccomp_profiles: Vec::new(),
            apparmor_profiles: Vec::new(),
            devices: Vec::new(),
            sysctls: Vec::new(),
            gpus: false,
            runtimes: Vec::new(),
            log_drivers: Vec::new(),
            ports: false,
            ulimits: ["nofile", "nproc", "fsize", "core", "stack"].map(String::from).to_vec(),
            images: ImageRules::default(),
            ceilings: Ceilings::default(),
            require: Vec::new(),
            pass_env: Vec::new(),
            source: "the server policy".into(),
        }
    }

    /// The local CLI's: the user already controls the engine, so `docker run` habits work
    /// (bind mounts, capabilities, profiles, devices, named networks), but the switches that
    /// hand a job the host stay off (privileged, host namespaces, the engine's socket,
    /// disabling the OOM killer).
    pub fn local() -> Policy {
        let any = || vec!["*".to_string()];
        Policy {
            bind_mounts: BindMounts::Mode(BindMode::Any),
            join_containers: true,
            networks: any(),
            cap_add: any(),
            keep_default_caps: true,
            new_privileges: true,
            seccomp_profiles: any(),
            apparmor_profiles: any(),
            devices: any(),
            sysctls: any(),
            gpus: true,
            runtimes: any(),
            log_drivers: any(),
            ports: true,
            ulimits: any(),
            source: "the local policy".into(),
            ..Policy::server()
        }
    }

    /// `self` with `patch` laid over it: tables merge key by key, anything else the patch
    /// names replaces the base's. A tenant override says only what differs.
    pub fn patched(&self, patch: &serde_json::Value, source: &str) -> Result<Policy, String> {
        let mut base = serde_json::to_value(self).map_err(|e| e.to_string())?;
        merge(&mut base, patch);
        let mut out: Policy = serde_path_to_error::deserialize(base).map_err(|e| {
            let path = e.path().to_string();
            format!("{path}: {}", e.inner())
        })?;
        // berth's own variables hold the secret key and the store's password.
        if let Some(bad) = out.pass_env.iter().find(|n| n.starts_with("BERTH_") || n.is_empty() || n.contains('=')) {
            return Err(format!("pass_env: `{bad}` cannot be passed to jobs (BERTH_* variables are berth's own)"));
        }
        out.source = source.to_string();
        Ok(out)
    }

    /// The spec as it runs under this policy: what it leaves unset filled from `defaults`
    /// held under the ceilings (CPUs: the ceiling itself), and its run timeout and log cap (which always have a value)
    /// cut to theirs. Asking for more memory, CPUs or pids than a ceiling is a refusal
    /// (`check`) instead, and so is an `fsize` ulimit above the file-size ceiling.
    pub fn effective(&self, defaults: &Defaults, spec: &JobSpec) -> JobSpec {
        let mut d = defaults.clone();
        if let Some(m) = self.ceilings.memory {
            d.memory = d.memory.min(m);
        }
        if let Some(p) = self.ceilings.pids_limit {
            d.pids_limit = d.pids_limit.min(p);
        }
        if let Some(f) = self.ceilings.file_size {
            d.file_size = d.file_size.min(f);
        }
        let mut s = d.apply(spec);
        // No CPU default otherwise: the engine's equal shares already keep neighbours fair.
        if s.resources.cpus.is_none() {
            s.resources.cpus = self.ceilings.cpus;
        }
        if let Some(t) = self.ceilings.run_timeout {
            s.timeouts.run = s.timeouts.run.min(t);
        }
        if let Some(c) = self.ceilings.log_cap {
            s.output.log_cap = s.output.log_cap.min(c);
        }
        s
    }
}

/// Reads a policy file (TOML, or YAML/JSON when `yaml`); rules left out keep `base`'s.
pub fn parse_policy(text: &str, yaml: bool, base: &Policy) -> Result<Policy, String> {
    base.patched(&parse_patch(text, yaml)?, &base.source)
}

/// A policy file as a patch: a table of the rules it names.
pub fn parse_patch(text: &str, yaml: bool) -> Result<serde_json::Value, String> {
    let patch: serde_json::Value = if yaml {
        serde_yaml::from_str(text).map_err(|e| e.to_string())?
    } else {
        toml::from_str(text).map_err(|e| e.to_string())?
    };
    if !patch.is_object() {
        return Err("a policy is a table of rules, e.g. bind_mounts = \"none\"".into());
    }
    Ok(patch)
}

fn merge(base: &mut serde_json::Value, patch: &serde_json::Value) {
    match (base, patch) {
        (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}
