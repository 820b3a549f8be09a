//! Rules a spec must meet that its types cannot express. `validate` collects every broken
//! rule (not just the first), each naming its field, so one round trip fixes a spec.

use std::collections::HashSet;
use std::net::IpAddr;

use crate::parse;
use crate::quantity::ByteSize;
use crate::spec::{JobSpec, MemorySwap, Mount};
use crate::spec_load::{FieldError, SpecErrors};

/// Docker refuses less than this for `--memory`.
pub const MIN_MEMORY: ByteSize = ByteSize::mib(6);
/// Largest total of `files` content accepted in one spec.
pub const MAX_FILES_BYTES: usize = 10 << 20;
/// Label keys under this prefix are berth's own.
pub const RESERVED_LABEL_PREFIX: &str = "berth.";

pub fn validate(spec: &JobSpec) -> Result<(), SpecErrors> {
    let mut errs = Errors(Vec::new());
    check_identity(spec, &mut errs);
    check_process(spec, &mut errs);
    check_files(spec, &mut errs);
    check_secrets(spec, &mut errs);
    check_mounts(spec, &mut errs);
    check_network(spec, &mut errs);
    check_resources(spec, &mut errs);
    check_cgroup(&spec.resources.cgroup, &mut errs);
    check_security_and_time(spec, &mut errs);
    check_routing(spec, &mut errs);
    if errs.0.is_empty() { Ok(()) } else { Err(SpecErrors(errs.0)) }
}

struct Errors(Vec<FieldError>);

impl Errors {
    fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }
    fn check(&mut self, field: &str, result: Result<(), String>) {
        if let Err(m) = result {
            self.add(field, m);
        }
    }
}

fn check_identity(spec: &JobSpec, e: &mut Errors) {
    if let Err(m) = parse::parse_image_ref(&spec.image) {
        e.add("image", m);
    }
    if let Some(name) = &spec.name
        && (name.is_empty() || name.len() > 128 || name.chars().any(char::is_control))
    {
        e.add("name", "must be 1 to 128 printable characters");
    }
    if let Some(auth) = &spec.registry_auth
        && auth.username.is_empty()
    {
        e.add("registry_auth.username", "must not be empty");
    }
    for (k, v) in &spec.labels {
        let field = format!("labels.{k}");
        if k.is_empty() || k.chars().any(|c| c.is_whitespace() || c.is_control()) {
            e.add(field, "label keys must be non-empty, without spaces");
        } else if k.starts_with(RESERVED_LABEL_PREFIX) {
            e.add(field, format!("label keys starting with `{RESERVED_LABEL_PREFIX}` are reserved for berth"));
        } else if v.contains('\0') {
            e.add(field, "label values must not contain NUL");
        }
    }
}

/// A secret name as `berth secret set` accepts it.
pub fn secret_name(name: &str) -> Result<(), String> {
    let ok =
        !name.is_empty() && name.len() <= 128 && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok { Ok(()) } else { Err(format!("`{name}` is not a secret name: 1 to 128 letters, digits, _ . -")) }
}

/// Most secrets one spec may name.
pub const MAX_SECRETS: usize = 32;

fn check_secrets(spec: &JobSpec, e: &mut Errors) {
    if spec.secrets.len() > MAX_SECRETS {
        e.add("secrets", format!("at most {MAX_SECRETS} secrets per job"));
    }
    let mut targets = HashSet::new();
    for (i, s) in spec.secrets.iter().enumerate() {
        let field = format!("secrets[{i}]");
        e.check(&format!("{field}.name"), secret_name(&s.name));
        if let Some(var) = s.env_name() {
            let ok = var.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                e.add(format!("{field}.env"), format!("`{var}` is not a variable name such as API_KEY"));
            } else if var.starts_with("BERTH_") {
                e.add(format!("{field}.env"), "BERTH_* variables are set by berth itself");
            } else if spec.env.contains_key(var) {
                e.add(format!("{field}.env"), format!("`{var}` is also in env: a variable has one value"));
            } else if !targets.insert(format!("env:{var}")) {
                e.add(format!("{field}.env"), format!("`{var}` is given by two secrets"));
            }
        }
        if let Some(path) = &s.file {
            e.check(&format!("{field}.file"), absolute_path(path));
            if path.starts_with(crate::backend::OUTPUT_MOUNT) || !targets.insert(format!("file:{path}")) {
                e.add(format!("{field}.file"), format!("`{path}` is taken: give each secret its own path"));
            }
        }
    }
}

fn check_process(spec: &JobSpec, e: &mut Errors) {
    for (k, v) in &spec.env {
        if k.is_empty() || k.contains(['=', '\0']) {
            e.add(format!("env.{k}"), "variable names must be non-empty, without `=` or NUL");
        } else if k.starts_with("BERTH_") {
            e.add(format!("env.{k}"), "BERTH_* variables are set by berth itself");
        } else if v.contains('\0') {
            e.add(format!("env.{k}"), "values must not contain NUL");
        }
    }
    if spec.interactive && spec.stdin.is_some() {
        e.add("interactive", "a job reads either the `stdin` payload or a live attach: unset one of them");
    }
    if !spec.env_files.is_empty() {
        e.add("env_files", "env files must be read when the spec is loaded (berth run -f does this)");
    }
    for (field, argv) in [("entrypoint", &spec.entrypoint), ("command", &spec.command)] {
        if argv.as_ref().is_some_and(|a| a.iter().any(|s| s.contains('\0'))) {
            e.add(field, "arguments must not contain NUL");
        }
    }
    if let Some(w) = &spec.workdir {
        e.check("workdir", absolute_path(w));
    }
    if let Some(u) = &spec.user {
        let ok = !u.is_empty() && u.split(':').count() <= 2 && !u.contains(char::is_whitespace);
        if !ok {
            e.add("user", format!("`{u}` is not a user: expected name, uid, or uid:gid"));
        }
    }
    if let Some(h) = &spec.hostname {
        let ok = !h.is_empty() && h.len() <= 63 && h.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if !ok {
            e.add("hostname", format!("`{h}` is not a hostname: letters, digits, - and . (max 63)"));
        }
    }
    if let Some(s) = &spec.stop_signal {
        e.check("stop_signal", parse::parse_signal(s).map(|_| ()));
    }
    if let Some(h) = &spec.healthcheck {
        let ok = matches!(h.test.first().map(String::as_str), Some("NONE" | "CMD" | "CMD-SHELL"));
        if !ok {
            e.add("healthcheck.test", "must start with NONE, CMD or CMD-SHELL");
        }
    }
}

fn check_files(spec: &JobSpec, e: &mut Errors) {
    e.check("workspace_dir", absolute_path(&spec.workspace_dir));
    let mut seen = HashSet::new();
    let mut total = 0usize;
    for (i, f) in spec.files.iter().enumerate() {
        let field = format!("files[{i}].path");
        if let Err(m) = relative_path(&f.path) {
            e.add(field, m);
        } else if !seen.insert(f.path.as_str()) {
            e.add(field, format!("`{}` is listed twice", f.path));
        }
        if f.mode.is_some_and(|m| m > 0o7777) {
            e.add(format!("files[{i}].mode"), "must be a Unix mode such as 0o644 (at most 0o7777)");
        }
        total += f.content.len();
    }
    if total > MAX_FILES_BYTES {
        e.add("files", format!("{total} bytes in all is more than the {MAX_FILES_BYTES}-byte limit"));
    }
    e.check("output.result_file", relative_path(&spec.output.result_file));
    let key = &spec.output.event_key;
    if key.is_empty() || key.len() > 64 || key.contains(['"', '\\']) || key.chars().any(char::is_control) {
        e.add(
            "output.event_key",
            "must be a JSON key of 1 to 64 characters (no quotes, backslashes or control characters), or `*`",
        );
    }
}

fn check_mounts(spec: &JobSpec, e: &mut Errors) {
    let mut targets = HashSet::new();
    targets.insert(spec.workspace_dir.as_str());
    for (i, m) in spec.mounts.iter().enumerate() {
        let field = format!("mounts[{i}]");
        if let Err(msg) = absolute_path(m.target()) {
            e.add(format!("{field}.target"), msg);
        } else if m.target() == "/" {
            e.add(format!("{field}.target"), "cannot mount over /");
        } else if !targets.insert(m.target()) {
            e.add(format!("{field}.target"), format!("`{}` is mounted twice", m.target()));
        }
        match m {
            Mount::Volume { source, .. } => {
                let ok = source.starts_with(|c: char| c.is_ascii_alphanumeric())
                    && source.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
                if !ok {
                    e.add(
                        format!("{field}.source"),
                        format!("`{source}` is not a volume name: letters, digits, _ . -"),
                    );
                }
            }
            Mount::Bind { source, .. } => e.check(&format!("{field}.source"), absolute_path(source)),
            Mount::Tmpfs { size, mode, .. } => {
                if size.is_some_and(|s| s.0 == 0) {
                    e.add(format!("{field}.size"), "must be more than 0 bytes");
                }
                if mode.is_some_and(|m| m > 0o7777) {
                    e.add(format!("{field}.mode"), "must be a Unix mode such as 0o1777");
                }
            }
        }
    }
}

fn check_network(spec: &JobSpec, e: &mut Errors) {
    if spec.network.as_ref().is_some_and(|n| n.is_empty() || n.contains(char::is_whitespace)) {
        e.add("network", "must be none, bridge, host or a network name");
    }
    for (i, p) in spec.ports.iter().enumerate() {
        e.check(&format!("ports[{i}]"), parse::parse_port(p).map(|_| ()));
    }
    check_namespace_modes(spec, e);
    if spec.network.as_deref() == Some("none") && !spec.ports.is_empty() {
        e.add("ports", "ports cannot be published with network none");
    }
    for (i, d) in spec.dns.iter().enumerate() {
        if d.parse::<IpAddr>().is_err() {
            e.add(format!("dns[{i}]"), format!("`{d}` is not an IP address"));
        }
    }
    for (i, h) in spec.extra_hosts.iter().enumerate() {
        let ok = h
            .split_once(':')
            .is_some_and(|(name, ip)| !name.is_empty() && (ip == "host-gateway" || ip.parse::<IpAddr>().is_ok()));
        if !ok {
            e.add(format!("extra_hosts[{i}]"), format!("`{h}` is not name:ip"));
        }
    }
}

/// `pid`, `ipc` and `uts`: the modes the engine knows (`container:` needs a name).
fn check_namespace_modes(spec: &JobSpec, e: &mut Errors) {
    let joined = |m: &str| m.strip_prefix("container:").is_some_and(|n| !n.is_empty());
    let modes: [(&str, &Option<String>, &[&str], bool); 3] = [
        ("pid", &spec.pid, &["host"], true),
        ("ipc", &spec.ipc, &["none", "private", "shareable", "host"], true),
        ("uts", &spec.uts, &["host"], false),
    ];
    for (field, value, known, container) in modes {
        let Some(v) = value else { continue };
        let ok = known.contains(&v.as_str()) || (container && joined(v));
        if !ok {
            let also = if container { " or container:<name>" } else { "" };
            e.add(field, format!("`{v}` is not a mode: expected {}{also}", known.join(", ")));
        }
    }
}

/// `0-3,6`: CPU numbers and ranges, comma-separated.
fn is_cpu_list(s: &str) -> bool {
    let number = |n: &str| !n.is_empty() && n.len() <= 4 && n.bytes().all(|b| b.is_ascii_digit());
    !s.is_empty()
        && s.split(',').all(|part| match part.split_once('-') {
            Some((a, b)) => number(a) && number(b) && a.parse::<u32>().ok() <= b.parse::<u32>().ok(),
            None => number(part),
        })
}

/// Docker's ranges for the finer cgroup settings, so a bad value is a field error at
/// submit rather than a refused container create.
fn check_cgroup(c: &crate::spec::Cgroup, e: &mut Errors) {
    let f = |name: &str| format!("resources.cgroup.{name}");
    let out_of = |v: Option<i64>, lo: i64, hi: i64| v.is_some_and(|v| !(lo..=hi).contains(&v));
    if out_of(c.cpu_period, 1000, 1_000_000) {
        e.add(f("cpu_period"), "expected 1000 to 1000000 microseconds");
    }
    if c.cpu_quota.is_some_and(|q| q != -1 && q < 1000) {
        e.add(f("cpu_quota"), "expected at least 1000 microseconds, or -1 for none");
    }
    if out_of(c.cpu_rt_period, 1, 1_000_000) {
        e.add(f("cpu_rt_period"), "expected 1 to 1000000 microseconds");
    }
    if let Some(rt) = c.cpu_rt_runtime
        && (rt < 0 || rt > c.cpu_rt_period.unwrap_or(1_000_000))
    {
        e.add(f("cpu_rt_runtime"), "expected 0 up to the real-time period (default 1000000 microseconds)");
    }
    if let Some(set) = &c.cpuset_mems
        && !is_cpu_list(set)
    {
        e.add(f("cpuset_mems"), format!("`{set}` is not a node list such as 0-1"));
    }
    if out_of(c.memory_swappiness, 0, 100) {
        e.add(f("memory_swappiness"), "expected 0 to 100");
    }
    if out_of(c.oom_score_adj, -1000, 1000) {
        e.add(f("oom_score_adj"), "expected -1000 to 1000");
    }
    if c.blkio_weight.is_some_and(|w| !(10..=1000).contains(&w)) {
        e.add(f("blkio_weight"), "expected 10 to 1000");
    }
    for (i, d) in c.blkio_weight_device.iter().enumerate() {
        let ok = d
            .rsplit_once(':')
            .is_some_and(|(p, w)| p.starts_with("/dev/") && w.parse::<u16>().is_ok_and(|w| (10..=1000).contains(&w)));
        if !ok {
            e.add(format!("{}[{i}]", f("blkio_weight_device")), format!("`{d}` is not /dev/PATH:WEIGHT (10 to 1000)"));
        }
    }
    let rates = [("device_read_bps", &c.device_read_bps, true), ("device_write_bps", &c.device_write_bps, true)];
    let counts = [("device_read_iops", &c.device_read_iops, false), ("device_write_iops", &c.device_write_iops, false)];
    for (name, list, bytes) in rates.into_iter().chain(counts) {
        for (i, d) in list.iter().enumerate() {
            let ok = d.rsplit_once(':').is_some_and(|(p, r)| {
                p.starts_with("/dev/") && if bytes { r.parse::<ByteSize>().is_ok() } else { r.parse::<u64>().is_ok() }
            });
            if !ok {
                let what = if bytes { "RATE such as 1mb" } else { "a count of operations" };
                e.add(format!("{}[{i}]", f(name)), format!("`{d}` is not /dev/PATH:{what}"));
            }
        }
    }
    for (i, rule) in c.device_cgroup_rules.iter().enumerate() {
        if !is_device_rule(rule) {
            e.add(format!("{}[{i}]", f("device_cgroup_rules")), format!("`{rule}` is not a rule such as `c 1:3 mr`"));
        }
    }
}

/// `TYPE MAJOR:MINOR ACCESS`: type `a`, `b` or `c`; numbers or `*`; access of `rwm`.
fn is_device_rule(rule: &str) -> bool {
    let parts: Vec<&str> = rule.split(' ').collect();
    let number = |n: &str| n == "*" || (!n.is_empty() && n.len() <= 10 && n.bytes().all(|b| b.is_ascii_digit()));
    match parts.as_slice() {
        [kind, numbers, access] => {
            matches!(*kind, "a" | "b" | "c")
                && numbers.split_once(':').is_some_and(|(a, b)| number(a) && number(b))
                && !access.is_empty()
                && access.len() <= 3
                && access.chars().all(|c| "rwm".contains(c))
        }
        _ => false,
    }
}

fn check_resources(spec: &JobSpec, e: &mut Errors) {
    let r = &spec.resources;
    if let Some(c) = r.cpus
        && !(c.is_finite() && c > 0.0 && c <= 1024.0)
    {
        e.add("resources.cpus", format!("{c} is not a CPU count: expected more than 0, e.g. 0.5 or 2"));
    }
    if let Some(m) = r.memory
        && m < MIN_MEMORY
    {
        e.add("resources.memory", format!("{m} is below the minimum of {MIN_MEMORY}"));
    }
    if let (Some(MemorySwap::Limit(swap)), mem) = (r.memory_swap, r.memory) {
        match mem {
            None => e.add("resources.memory_swap", "needs resources.memory to be set too"),
            Some(m) if swap < m => {
                e.add("resources.memory_swap", format!("{swap} is less than memory ({m}): it counts memory plus swap"))
            }
            Some(_) => {}
        }
    }
    if r.pids_limit.is_some_and(|p| p < 1) {
        e.add("resources.pids_limit", "must be at least 1");
    }
    if r.cpu_shares.is_some_and(|s| !(2..=262_144).contains(&s)) {
        e.add("resources.cpu_shares", "expected 2 to 262144 (1024 is a CPU's default weight)");
    }
    if let Some(set) = &r.cpuset_cpus
        && !is_cpu_list(set)
    {
        e.add("resources.cpuset_cpus", format!("`{set}` is not a CPU list such as 0-3,6"));
    }
    if let (Some(res), Some(m)) = (r.memory_reservation, r.memory)
        && res > m
    {
        e.add(
            "resources.memory_reservation",
            format!("{res} is more than memory ({m}): a reservation is a soft limit below it"),
        );
    }
    if r.shm_size.is_some_and(|s| s.0 == 0) {
        e.add("resources.shm_size", "must be more than 0 bytes");
    }
    for (i, u) in r.ulimits.iter().enumerate() {
        if u.name.is_empty() || !u.name.chars().all(|c| c.is_ascii_lowercase()) {
            e.add(format!("resources.ulimits[{i}].name"), format!("`{}` is not a ulimit name such as nofile", u.name));
        }
        if u.soft > u.hard || u.soft < -1 {
            e.add(format!("resources.ulimits[{i}]"), "soft must be at most hard (and -1 or more)");
        }
    }
    if let Some(g) = &r.gpus {
        e.check("resources.gpus", parse::parse_gpus(g).map(|_| ()));
    }
    for (i, d) in r.devices.iter().enumerate() {
        e.check(&format!("resources.devices[{i}]"), parse::parse_device(d).map(|_| ()));
    }
}

fn check_security_and_time(spec: &JobSpec, e: &mut Errors) {
    let s = &spec.security;
    for (field, caps) in [("security.cap_add", &s.cap_add), ("security.cap_drop", &s.cap_drop)] {
        for c in caps {
            let name = c.strip_prefix("CAP_").unwrap_or(c);
            if name.is_empty() || !name.chars().all(|ch| ch.is_ascii_uppercase() || ch == '_') {
                e.add(field, format!("`{c}` is not a capability such as NET_BIND_SERVICE"));
            }
        }
    }
    for name in s.sysctls.keys() {
        let ok = name.contains('.')
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._".contains(c));
        if !ok {
            e.add(format!("security.sysctls.{name}"), "is not a sysctl name such as net.ipv4.ip_forward");
        }
    }
    if let Some(r) = &s.runtime
        && (r.is_empty() || !r.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)))
    {
        e.add("security.runtime", format!("`{r}` is not a runtime name such as runsc"));
    }
    let t = &spec.timeouts;
    if t.run.0.is_zero() {
        e.add("timeouts.run", "must be more than 0 seconds");
    }
    if t.stop_grace.0.as_secs() > 3600 {
        e.add("timeouts.stop_grace", "must be at most 1h");
    }
    if spec.output.log_cap < ByteSize::kib(1) {
        e.add("output.log_cap", "must be at least 1KiB");
    }
}

/// Most webhooks a job may carry.
pub const MAX_NOTIFY: usize = 10;

/// Queue names, concurrency keys and worker tags share one shape.
pub fn routing_name(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 64 || !s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:/".contains(c)) {
        return Err(format!("`{s}` must be 1 to 64 characters of letters, digits, `-`, `_`, `.`, `:` or `/`"));
    }
    Ok(())
}

fn check_routing(spec: &JobSpec, e: &mut Errors) {
    if let Some(q) = &spec.queue {
        e.check("queue", routing_name(q));
    }
    if spec.run_at.is_some() && spec.run_at_time().is_none() {
        e.add("run_at", "must be an RFC 3339 time such as `2026-11-24T03:00:00Z`");
    }
    if let Some(c) = &spec.concurrency {
        e.check("concurrency.key", routing_name(&c.key));
        if c.limit == 0 {
            e.add("concurrency.limit", "must be at least 1");
        }
    }
    for (k, v) in &spec.requires {
        e.check(&format!("requires.{k}"), routing_name(k).and_then(|()| routing_name(v)));
    }
    check_retries(&spec.retries, e);
    if spec.notify.len() > MAX_NOTIFY {
        e.add("notify", format!("at most {MAX_NOTIFY} webhooks per job"));
    }
    for (i, n) in spec.notify.iter().enumerate() {
        e.check(&format!("notify[{i}].url"), webhook_url(&n.url));
        if let Some(s) = n.events.iter().find(|s| !s.is_terminal()) {
            e.add(
                format!("notify[{i}].events"),
                format!("`{s}` is not a terminal status: notify fires when a job ends"),
            );
        }
    }
}

fn check_retries(r: &crate::retry::Retries, e: &mut Errors) {
    if !(1..=100).contains(&r.max_attempts) {
        e.add("retries.max_attempts", "must be from 1 to 100");
    }
    if !(0.0..=1.0).contains(&r.jitter) {
        e.add("retries.jitter", "must be a fraction from 0 to 1");
    }
    if r.max_delay.0 < r.delay.0 {
        e.add("retries.max_delay", "must not be shorter than retries.delay");
    }
}

fn webhook_url(url: &str) -> Result<(), String> {
    let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
    match rest {
        Some(r)
            if !r.is_empty()
                && !r.starts_with('/')
                && url.len() <= 2048
                && !url.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Ok(())
        }
        _ => Err("must be an http:// or https:// URL with a host, at most 2048 characters".to_string()),
    }
}

fn absolute_path(p: &str) -> Result<(), String> {
    if !p.starts_with('/') {
        return Err(format!("`{p}` must be an absolute path (starting with /)"));
    }
    if p.split('/').any(|c| c == "..") || p.contains('\0') {
        return Err(format!("`{p}` must not contain `..` or NUL"));
    }
    Ok(())
}

/// A path that stays inside the directory it is joined to.
pub fn relative_path(p: &str) -> Result<(), String> {
    let ok = !p.is_empty()
        && !p.starts_with('/')
        && !p.contains('\0')
        && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..");
    if ok { Ok(()) } else { Err(format!("`{p}` must be a relative path without `.`, `..` or empty parts")) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec_load::parse_spec;
    use expect_test::{Expect, expect};

    fn check(yaml: &str, want: Expect) {
        let spec = parse_spec(yaml).unwrap();
        let got = match validate(&spec) {
            Ok(()) => "ok".to_string(),
            Err(e) => e.to_string(),
        };
        want.assert_eq(&got);
    }

    #[test]
    fn minimal_spec_is_valid() {
        check("image: busybox", expect!["ok"]);
    }

    #[test]
    fn every_broken_rule_is_reported_with_its_field() {
        check(
            r#"
image: "Not A Ref"
env: {"BERTH_JOB_ID": x}
labels: {berth.job: x}
workdir: relative
files: [{path: ../etc/passwd, content: x}]
mounts: [{type: bind, source: rel, target: /data}, {type: tmpfs, target: /data}]
ports: ["99999:80"]
resources: {cpus: 0, memory: 1m, pids_limit: 0, gpus: lots}
security: {cap_add: [net-admin]}
timeouts: {run: 0}
stop_signal: SIGNOPE
"#,
            expect![[r#"
                invalid job spec:
                  image: `Not A Ref` is not an image reference: no spaces, at most 255 characters
                  labels.berth.job: label keys starting with `berth.` are reserved for berth
                  env.BERTH_JOB_ID: BERTH_* variables are set by berth itself
                  workdir: `relative` must be an absolute path (starting with /)
                  stop_signal: `SIGNOPE` is not a signal: expected e.g. SIGTERM, SIGINT or 15
                  files[0].path: `../etc/passwd` must be a relative path without `.`, `..` or empty parts
                  mounts[0].source: `rel` must be an absolute path (starting with /)
                  mounts[1].target: `/data` is mounted twice
                  ports[0]: `99999:80` is not a port mapping: expected [ip:]host:container[/tcp|udp], e.g. 8080:80
                  resources.cpus: 0 is not a CPU count: expected more than 0, e.g. 0.5 or 2
                  resources.memory: 1MiB is below the minimum of 6MiB
                  resources.pids_limit: must be at least 1
                  resources.gpus: `lots` is not a GPU request: expected all, a count, or device=0,1
                  security.cap_add: `net-admin` is not a capability such as NET_BIND_SERVICE
                  timeouts.run: must be more than 0 seconds"#]],
        );
    }

    #[test]
    fn scheduling_fields_are_checked() {
        check(
            r#"
image: a
queue: "gpu queue"
run_at: tomorrow
concurrency: {key: "", limit: 0}
requires: {region: "e u"}
retries: {max_attempts: 0, jitter: 2, delay: 10s, max_delay: 1s, on: [worker_lost]}
"#,
            expect![[r#"
                invalid job spec:
                  queue: `gpu queue` must be 1 to 64 characters of letters, digits, `-`, `_`, `.`, `:` or `/`
                  run_at: must be an RFC 3339 time such as `2026-11-24T03:00:00Z`
                  concurrency.key: `` must be 1 to 64 characters of letters, digits, `-`, `_`, `.`, `:` or `/`
                  concurrency.limit: must be at least 1
                  requires.region: `e u` must be 1 to 64 characters of letters, digits, `-`, `_`, `.`, `:` or `/`
                  retries.max_attempts: must be from 1 to 100
                  retries.jitter: must be a fraction from 0 to 1
                  retries.max_delay: must not be shorter than retries.delay"#]],
        );
        check(
            "image: a\nrun_at: 2026-11-24T03:00:00Z\npriority: -5\nconcurrency: {key: customer-42}\nretries: {max_attempts: 3, on: [oom_killed], exit_codes: [75]}",
            expect!["ok"],
        );
    }

    #[test]
    fn the_event_key_is_a_plain_json_key_or_any() {
        check("image: a\noutput: {event_key: type}", expect!["ok"]);
        check("image: a\noutput: {event_key: '*'}", expect!["ok"]);
        check(
            "image: a\noutput: {event_key: 'a\"b'}",
            expect![[r#"
                invalid job spec:
                  output.event_key: must be a JSON key of 1 to 64 characters (no quotes, backslashes or control characters), or `*`"#]],
        );
    }

    #[test]
    fn oversized_input_files_are_refused() {
        let mut spec = JobSpec::new("busybox");
        let content = "x".repeat(MAX_FILES_BYTES / 2 + 1);
        for path in ["a", "b"] {
            spec.files.push(crate::spec::InputFile { path: path.into(), content: content.clone(), mode: None });
        }
        let err = validate(&spec).unwrap_err().to_string();
        assert!(err.contains("files: 10485762 bytes in all is more than the 10485760-byte limit"), "{err}");
    }

    #[test]
    fn swap_needs_memory_and_must_cover_it() {
        check(
            "image: a\nresources: {memory: 64m, memory_swap: 32m}",
            expect![[r#"
                invalid job spec:
                  resources.memory_swap: 32MiB is less than memory (64MiB): it counts memory plus swap"#]],
        );
        check("image: a\nresources: {memory: 64m, memory_swap: unlimited}", expect!["ok"]);
    }
}
