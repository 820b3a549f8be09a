//! `berth run` flags (and an optional spec file) → a `JobSpec`. Flags override the file;
//! list flags (env, labels, mounts, ports) add to it. Errors name the flag and what it takes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use berth_core::JobSpec;
use berth_core::quantity::{ByteSize, DurationSpec};
use berth_core::spec::{MemorySwap, Mount, PullPolicy, Ulimit, Unlimited};
use berth_core::spec_load::{parse_env_file, parse_spec};

use crate::cli::RunArgs;

#[derive(Debug, thiserror::Error)]
#[error("{flag}: {message}")]
pub struct FlagError {
    pub flag: String,
    pub message: String,
}

pub(crate) fn err(flag: &str, message: impl Into<String>) -> FlagError {
    FlagError { flag: flag.to_string(), message: message.into() }
}

type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Builds the spec. `lookup` reads this process's environment (for `-e KEY`).
pub fn spec_from_args(args: &RunArgs, lookup: Lookup) -> Result<JobSpec, FlagError> {
    let mut spec = base_spec(args, lookup)?;
    apply_process(args, &mut spec, lookup)?;
    apply_storage(args, &mut spec)?;
    apply_network(args, &mut spec);
    apply_resources(args, &mut spec)?;
    apply_security(args, &mut spec)?;
    apply_lifecycle(args, &mut spec)?;
    crate::docker_flags::apply(&args.docker, &mut spec, &|path| read_label_file(path))?;
    Ok(spec)
}

/// `-it` needs a terminal on stdin, as `docker run -it` does.
pub fn check_terminal(args: &RunArgs) -> Result<(), FlagError> {
    if args.tty && args.wants_stdin() && !crate::tty::stdin_is_tty() {
        return Err(err("--tty", "the input device is not a TTY: drop -t (-i alone forwards piped input)"));
    }
    Ok(())
}

/// The detach sequence `berth run -it` and `berth attach` watch for.
pub fn detach_keys(flag: Option<&str>) -> Result<Vec<u8>, FlagError> {
    crate::tty::parse_detach_keys(flag.unwrap_or(crate::tty::DEFAULT_DETACH_KEYS)).map_err(|m| err("--detach-keys", m))
}

fn base_spec(args: &RunArgs, lookup: Lookup) -> Result<JobSpec, FlagError> {
    crate::docker_flags::check_positional(&args.image_and_command)?;
    let mut positional = args.image_and_command.iter();
    let image = positional.next();
    let mut spec =
        match &args.file {
            Some(path) => load_file(path, lookup)?,
            None => JobSpec::new(image.ok_or_else(|| {
                err("IMAGE", "give an image to run, e.g. berth run busybox echo hi (or -f spec.yaml)")
            })?),
        };
    if let Some(image) = image {
        spec.image = image.clone();
    }
    let command: Vec<String> = positional.cloned().collect();
    if !command.is_empty() {
        spec.command = Some(command);
        spec.args.clear();
    }
    Ok(spec)
}

fn load_file(path: &Path, lookup: Lookup) -> Result<JobSpec, FlagError> {
    let flag = format!("--file {}", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| err(&flag, e.to_string()))?;
    let mut spec = parse_spec(&text).map_err(|e| err(&flag, e.to_string()))?;
    // env_files in a spec are relative to the spec file; the spec's own env wins.
    let base = path.parent().unwrap_or(Path::new("."));
    let files = std::mem::take(&mut spec.env_files);
    let mut env = BTreeMap::new();
    for f in files {
        env.extend(read_env_file(&base.join(&f), lookup).map_err(|e| err(&flag, e.message))?);
    }
    env.extend(std::mem::take(&mut spec.env));
    spec.env = env;
    Ok(spec)
}

/// Docker's `--label-file`: `KEY=VALUE` lines (a bare `KEY` is an empty label), `#` comments.
fn read_label_file(path: &Path) -> Result<Vec<(String, String)>, FlagError> {
    let text = std::fs::read_to_string(path).map_err(|e| err("--label-file", format!("{}: {e}", path.display())))?;
    let lines = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'));
    Ok(lines
        .map(|l| l.split_once('=').map_or((l.to_string(), String::new()), |(k, v)| (k.to_string(), v.to_string())))
        .collect())
}

fn read_env_file(path: &Path, lookup: Lookup) -> Result<BTreeMap<String, String>, FlagError> {
    let text = std::fs::read_to_string(path).map_err(|e| err("--env-file", format!("{}: {e}", path.display())))?;
    parse_env_file(&path.display().to_string(), &text, lookup).map_err(|e| err("--env-file", e.message))
}

fn apply_process(args: &RunArgs, spec: &mut JobSpec, lookup: Lookup) -> Result<(), FlagError> {
    spec.tty |= args.tty;
    if let Some(keys) = &args.detach_keys {
        crate::tty::parse_detach_keys(keys).map_err(|m| err("--detach-keys", m))?;
    }
    for f in &args.env_file {
        spec.env.extend(read_env_file(f, lookup)?);
    }
    for e in &args.env {
        match e.split_once('=') {
            Some((k, v)) => {
                spec.env.insert(k.to_string(), v.to_string());
            }
            None => {
                if let Some(v) = lookup(e) {
                    spec.env.insert(e.clone(), v);
                }
            }
        }
    }
    for s in &args.secret {
        let (name, file) = match s.split_once('=') {
            Some((n, f)) => (n, Some(f.to_string())),
            None => (s.as_str(), None),
        };
        spec.secrets.push(berth_core::spec::SecretRef { name: name.to_string(), env: None, file });
    }
    for l in &args.label {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        spec.labels.insert(k.to_string(), v.to_string());
    }
    set(&mut spec.workdir, &args.workdir);
    set(&mut spec.user, &args.user);
    set(&mut spec.hostname, &args.hostname);
    set(&mut spec.name, &args.name);
    if let Some(e) = &args.entrypoint {
        // Docker's `--entrypoint ""` resets the image's entrypoint.
        spec.entrypoint = Some(if e.is_empty() { vec![String::new()] } else { vec![e.clone()] });
    }
    Ok(())
}

fn apply_storage(args: &RunArgs, spec: &mut JobSpec) -> Result<(), FlagError> {
    for v in &args.volume {
        spec.mounts.push(parse_volume(v)?);
    }
    for m in &args.mount {
        spec.mounts.push(parse_mount(m)?);
    }
    for t in &args.tmpfs {
        spec.mounts.push(parse_tmpfs(t)?);
    }
    spec.read_only |= args.read_only;
    Ok(())
}

fn apply_network(args: &RunArgs, spec: &mut JobSpec) {
    set(&mut spec.network, &args.network);
    spec.ports.extend(args.publish.iter().cloned());
    spec.dns.extend(args.dns.iter().cloned());
    spec.extra_hosts.extend(args.add_host.iter().cloned());
}

fn apply_resources(args: &RunArgs, spec: &mut JobSpec) -> Result<(), FlagError> {
    let r = &mut spec.resources;
    if args.cpus.is_some() {
        r.cpus = args.cpus;
    }
    if let Some(m) = &args.memory {
        r.memory = Some(size("--memory", m)?);
    }
    if let Some(s) = &args.memory_swap {
        r.memory_swap = Some(match s.as_str() {
            "-1" | "unlimited" => MemorySwap::Unlimited(Unlimited::Unlimited),
            other => MemorySwap::Limit(size("--memory-swap", other)?),
        });
    }
    if args.pids_limit.is_some() {
        r.pids_limit = args.pids_limit;
    }
    if let Some(s) = &args.shm_size {
        r.shm_size = Some(size("--shm-size", s)?);
    }
    for u in &args.ulimit {
        r.ulimits.push(parse_ulimit(u)?);
    }
    set(&mut r.gpus, &args.gpus);
    Ok(())
}

fn apply_security(args: &RunArgs, spec: &mut JobSpec) -> Result<(), FlagError> {
    let s = &mut spec.security;
    s.cap_add.extend(args.cap_add.iter().cloned());
    s.cap_drop.extend(args.cap_drop.iter().cloned());
    s.privileged |= args.privileged;
    if args.no_init {
        s.init = false;
    }
    for opt in &args.security_opt {
        let (key, value) = opt.split_once(['=', ':']).unwrap_or((opt, "true"));
        match key {
            "no-new-privileges" => {
                s.no_new_privileges =
                    value.parse().map_err(|_| err("--security-opt", "no-new-privileges takes true or false"))?
            }
            "seccomp" => s.seccomp_profile = Some(value.to_string()),
            "apparmor" => s.apparmor_profile = Some(value.to_string()),
            _ => {
                return Err(err(
                    "--security-opt",
                    format!("`{opt}` is not supported: use no-new-privileges, seccomp=.. or apparmor=.."),
                ));
            }
        }
    }
    Ok(())
}

fn apply_lifecycle(args: &RunArgs, spec: &mut JobSpec) -> Result<(), FlagError> {
    if let Some(p) = &args.pull {
        spec.pull = match p.as_str() {
            "always" => PullPolicy::Always,
            "missing" | "if-not-present" => PullPolicy::IfNotPresent,
            "never" => PullPolicy::Never,
            other => return Err(err("--pull", format!("`{other}` is not a pull policy: always, missing or never"))),
        };
    }
    if let Some(t) = &args.timeout {
        spec.timeouts.run = duration("--timeout", t)?;
    }
    if let Some(t) = &args.stop_timeout {
        spec.timeouts.stop_grace = duration("--stop-timeout", t)?;
    }
    set(&mut spec.stop_signal, &args.stop_signal);
    if let Some(c) = &args.log_cap {
        spec.output.log_cap = size("--log-cap", c)?;
    }
    if let Some(k) = &args.event_key {
        spec.output.event_key = k.clone();
    }
    Ok(())
}

fn set<T: Clone>(slot: &mut Option<T>, flag: &Option<T>) {
    if flag.is_some() {
        slot.clone_from(flag);
    }
}

fn size(flag: &str, s: &str) -> Result<ByteSize, FlagError> {
    if s.trim_start().starts_with('-') {
        return Err(err(flag, format!("`{s}` is negative: give a size such as 512m")));
    }
    s.parse().map_err(|e: berth_core::quantity::SizeError| err(flag, e.to_string()))
}

fn duration(flag: &str, s: &str) -> Result<DurationSpec, FlagError> {
    s.parse().map_err(|e: berth_core::quantity::DurationError| err(flag, e.to_string()))
}

fn parse_volume(v: &str) -> Result<Mount, FlagError> {
    let parts: Vec<&str> = v.split(':').collect();
    let (source, target, read_only) = match parts.as_slice() {
        [s, t] => (*s, *t, false),
        [s, t, "ro"] => (*s, *t, true),
        [s, t, "rw"] => (*s, *t, false),
        _ => return Err(err("--volume", format!("`{v}` is not SRC:DST[:ro]"))),
    };
    if source.starts_with(['/', '.']) {
        let abs = std::path::absolute(PathBuf::from(source)).map_err(|e| err("--volume", e.to_string()))?;
        Ok(Mount::Bind { source: abs.to_string_lossy().into_owned(), target: target.into(), read_only })
    } else {
        Ok(Mount::Volume { source: source.into(), target: target.into(), read_only })
    }
}

fn parse_mount(m: &str) -> Result<Mount, FlagError> {
    let mut kind = None;
    let (mut source, mut target, mut read_only, mut size_opt, mut mode) = (None, None, false, None, None);
    for field in m.split(',') {
        let (k, v) = field.split_once('=').unwrap_or((field, "true"));
        match k {
            "type" => kind = Some(v.to_string()),
            "source" | "src" => source = Some(v.to_string()),
            "target" | "destination" | "dst" => target = Some(v.to_string()),
            "readonly" | "ro" => read_only = v != "false",
            "tmpfs-size" => size_opt = Some(size("--mount", v)?),
            "tmpfs-mode" => mode = Some(octal("--mount", v)?),
            other => return Err(err("--mount", format!("unknown option `{other}` in `{m}`"))),
        }
    }
    let target = target.ok_or_else(|| err("--mount", format!("`{m}` needs target=PATH")))?;
    let need_source = || source.clone().ok_or_else(|| err("--mount", format!("`{m}` needs source=..")));
    match kind.as_deref().unwrap_or("volume") {
        "bind" => Ok(Mount::Bind { source: need_source()?, target, read_only }),
        "volume" => Ok(Mount::Volume { source: need_source()?, target, read_only }),
        "tmpfs" => Ok(Mount::Tmpfs { target, size: size_opt, mode }),
        other => Err(err("--mount", format!("type `{other}` is not bind, volume or tmpfs"))),
    }
}

fn parse_tmpfs(t: &str) -> Result<Mount, FlagError> {
    let (target, opts) = t.split_once(':').unwrap_or((t, ""));
    let (mut size_opt, mut mode) = (None, None);
    for opt in opts.split(',').filter(|o| !o.is_empty()) {
        match opt.split_once('=') {
            Some(("size", v)) => size_opt = Some(size("--tmpfs", v)?),
            Some(("mode", v)) => mode = Some(octal("--tmpfs", v)?),
            _ => return Err(err("--tmpfs", format!("`{opt}` is not size=.. or mode=.."))),
        }
    }
    Ok(Mount::Tmpfs { target: target.to_string(), size: size_opt, mode })
}

fn octal(flag: &str, v: &str) -> Result<u32, FlagError> {
    u32::from_str_radix(v.trim_start_matches("0o"), 8)
        .map_err(|_| err(flag, format!("`{v}` is not an octal mode such as 1777")))
}

fn parse_ulimit(u: &str) -> Result<Ulimit, FlagError> {
    let bad = || err("--ulimit", format!("`{u}` is not NAME=SOFT[:HARD], e.g. nofile=1024:2048"));
    let (name, limits) = u.split_once('=').ok_or_else(bad)?;
    let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
    Ok(Ulimit {
        name: name.to_string(),
        soft: soft.parse().map_err(|_| bad())?,
        hard: hard.parse().map_err(|_| bad())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn spec(argv: &[&str]) -> Result<JobSpec, FlagError> {
        let cli = crate::cli::Cli::try_parse_from(["berth", "run"].iter().chain(argv)).unwrap();
        let crate::cli::Command::Run(args) = cli.command else { panic!("not run") };
        spec_from_args(&args, &|k| (k == "HOME").then(|| "/root".to_string()))
    }

    #[test]
    fn docker_style_flags_build_the_spec() {
        let s = spec(&[
            "-e",
            "A=1",
            "-e",
            "HOME",
            "-v",
            "/data:/in:ro",
            "-v",
            "cache:/c",
            "--tmpfs",
            "/tmp:size=64m,mode=1777",
            "-m",
            "64m",
            "--memory-swap",
            "-1",
            "--cpus",
            "1.5",
            "--ulimit",
            "nofile=10:20",
            "--pull",
            "never",
            "--timeout",
            "30s",
            "--stop-timeout",
            "3",
            "-l",
            "team=x",
            "--security-opt",
            "seccomp=unconfined",
            "busybox",
            "sh",
            "-c",
            "echo hi",
        ])
        .unwrap();
        assert_eq!(s.image, "busybox");
        assert_eq!(s.command, Some(vec!["sh".into(), "-c".into(), "echo hi".into()]));
        assert_eq!(s.env.get("HOME").map(String::as_str), Some("/root"));
        assert_eq!(s.mounts.len(), 3);
        assert_eq!(s.mounts[0], Mount::Bind { source: "/data".into(), target: "/in".into(), read_only: true });
        assert_eq!(s.resources.memory, Some(ByteSize::mib(64)));
        assert_eq!(s.resources.memory_swap, Some(MemorySwap::Unlimited(Unlimited::Unlimited)));
        assert_eq!(s.pull, PullPolicy::Never);
        assert_eq!(s.timeouts.run, DurationSpec::secs(30));
        assert_eq!(s.timeouts.stop_grace, DurationSpec::secs(3));
        assert_eq!(s.security.seccomp_profile.as_deref(), Some("unconfined"));
    }

    #[test]
    fn bad_flags_say_which_flag_and_what_it_takes() {
        let e = spec(&["-m", "-5m", "busybox"]).unwrap_err().to_string();
        assert_eq!(e, "--memory: `-5m` is negative: give a size such as 512m");
        let e = spec(&["--pull", "sometimes", "busybox"]).unwrap_err().to_string();
        assert!(e.starts_with("--pull:"), "{e}");
        let e = spec(&["--ulimit", "nofile", "busybox"]).unwrap_err().to_string();
        assert!(e.starts_with("--ulimit:"), "{e}");
        assert!(spec(&[]).unwrap_err().to_string().starts_with("IMAGE:"));
    }
}
