//! The sandbox suite: a tenant of a default `berth server` (a plain tenant token, the HTTP
//! API) tries to reach past its own container. Every way out the server policy forbids must
//! be a 403 `policy_denied` that names the field and rule, creates nothing and is audited;
//! what a job can try from inside (fork bomb, memory hog, mount, raw sockets, sysrq, another
//! tenant's volume, printing its secret) must end contained, with the host unaffected.

#![allow(clippy::unwrap_used)]

mod util;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use util::server::Server;
use util::{IMAGE, stdout};

struct Tenants {
    s: Server,
    beta: String,
    admin: String,
}

impl Tenants {
    fn start() -> Tenants {
        let s = Server::start(&[]);
        let token = |args: &[&str]| stdout(&s.env.berth(args)).trim().to_string();
        let beta = token(&["token", "create", "--tenant", "beta"]);
        let admin = token(&["token", "create", "--tenant", "ops", "--admin"]);
        Tenants { s, beta, admin }
    }

    /// `method path` with `token` and a JSON body: (HTTP status, parsed body).
    fn call(&self, token: &str, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let auth = format!("Authorization: Bearer {token}");
        let url = format!("{}{path}", self.s.url);
        let mut c = Command::new("curl");
        c.args(["-sS", "-o", "-", "-w", "\n%{http_code}", "-X", method, "-H", &auth, &url]);
        if let Some(b) = body {
            c.args(["-H", "Content-Type: application/json", "-d", &b.to_string()]);
        }
        let out = String::from_utf8(c.output().unwrap().stdout).unwrap();
        let (text, code) = out.rsplit_once('\n').unwrap();
        (code.parse().unwrap(), serde_json::from_str(text).unwrap_or(Value::Null))
    }

    fn submit(&self, token: &str, spec: Value) -> String {
        let (status, body) = self.call(token, "POST", "/v1/jobs", Some(&spec));
        assert_eq!(status, 201, "{spec}: {body}");
        body["id"].as_str().unwrap().to_string()
    }

    fn wait_end(&self, token: &str, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let (_, job) = self.call(token, "GET", &format!("/v1/jobs/{id}"), None);
            if job["finished_at"].is_number() {
                return job;
            }
            assert!(Instant::now() < deadline, "job never ended: {job}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn logs(&self, token: &str, id: &str) -> String {
        self.raw(token, &format!("/v1/jobs/{id}/logs"))
    }

    /// A GET's body as text (plain text and ended SSE streams).
    fn raw(&self, token: &str, path: &str) -> String {
        let auth = format!("Authorization: Bearer {token}");
        let url = format!("{}{path}", self.s.url);
        let out = Command::new("curl").args(["-sS", "-H", &auth, &url]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `script` as `token`'s tenant with `extra` spec fields; (job, its output).
    fn run(&self, token: &str, script: &str, extra: Value) -> (Value, String) {
        let mut spec = json!({"image": IMAGE, "command": ["sh", "-c", script]});
        for (k, v) in extra.as_object().unwrap() {
            spec[k] = v.clone();
        }
        let id = self.submit(token, spec);
        let job = self.wait_end(token, &id);
        let logs = self.logs(token, &id);
        (job, logs)
    }
}

/// Free bytes on the filesystem holding the engine's data.
fn free_docker_disk() -> u64 {
    let out = Command::new("df").args(["-B1", "--output=avail", "/var/lib/docker"]).output().unwrap();
    stdout(&out).lines().nth(1).unwrap().trim().parse().unwrap()
}

/// Containers of `tenant` made by this test's server (tests run side by side).
fn containers_of(t: &Tenants, tenant: &str) -> usize {
    let install = format!("label=berth.install={}", t.s.env.install_id());
    let out = Command::new("docker")
        .args(["ps", "-aq", "--filter", &format!("label=berth.tenant={tenant}"), "--filter", &install])
        .output()
        .unwrap();
    stdout(&out).lines().count()
}

#[test]
fn a_default_server_refuses_every_way_out_and_creates_nothing() {
    let t = Tenants::start();
    let token = t.s.token.clone();
    let cases: [(&str, Value, &str, &str); 26] = [
        (
            "bind /etc",
            json!({"mounts": [{"type": "bind", "source": "/etc", "target": "/host"}]}),
            "mounts[0].source",
            "bind_mounts",
        ),
        (
            "bind a writable host dir",
            json!({"mounts": [{"type": "bind", "source": "/tmp", "target": "/t"}]}),
            "mounts[0].source",
            "bind_mounts",
        ),
        (
            "the engine socket",
            json!({"mounts": [{"type": "bind", "source": "/var/run/docker.sock", "target": "/s"}]}),
            "mounts[0].source",
            "engine_socket",
        ),
        ("cap_add SYS_ADMIN", json!({"security": {"cap_add": ["SYS_ADMIN"]}}), "security.cap_add", "cap_add"),
        (
            "seccomp unconfined",
            json!({"security": {"seccomp_profile": "unconfined"}}),
            "security.seccomp_profile",
            "seccomp_profiles",
        ),
        (
            "a permissive seccomp profile",
            json!({"security": {"seccomp_profile": "{\"defaultAction\":\"SCMP_ACT_ALLOW\"}"}}),
            "security.seccomp_profile",
            "seccomp_profiles",
        ),
        (
            "apparmor unconfined",
            json!({"security": {"apparmor_profile": "unconfined"}}),
            "security.apparmor_profile",
            "apparmor_profiles",
        ),
        ("privileged", json!({"security": {"privileged": true}}), "security.privileged", "privileged"),
        (
            "the default capability set",
            json!({"security": {"keep_default_caps": true}}),
            "security.keep_default_caps",
            "keep_default_caps",
        ),
        (
            "new privileges",
            json!({"security": {"no_new_privileges": false}}),
            "security.no_new_privileges",
            "new_privileges",
        ),
        (
            "oom_kill_disable",
            json!({"security": {"oom_kill_disable": true}}),
            "security.oom_kill_disable",
            "oom_kill_disable",
        ),
        (
            "a sysctl",
            json!({"security": {"sysctls": {"net.ipv4.ip_forward": "1"}}}),
            "security.sysctls.net.ipv4.ip_forward",
            "sysctls",
        ),
        ("another runtime", json!({"security": {"runtime": "runc"}}), "security.runtime", "runtimes"),
        ("a host device", json!({"resources": {"devices": ["/dev/fuse"]}}), "resources.devices[0]", "devices"),
        ("GPUs", json!({"resources": {"gpus": "all"}}), "resources.gpus", "gpus"),
        ("the host network", json!({"network": "host"}), "network", "host_namespaces"),
        ("another container's network", json!({"network": "container:berth-other-1"}), "network", "join_containers"),
        ("another tenant's named network", json!({"network": "beta-net"}), "network", "networks"),
        ("the host pid namespace", json!({"pid": "host"}), "pid", "host_namespaces"),
        ("another container's pids", json!({"pid": "container:berth-other-1"}), "pid", "join_containers"),
        ("the host ipc namespace", json!({"ipc": "host"}), "ipc", "host_namespaces"),
        ("the host uts namespace", json!({"uts": "host"}), "uts", "host_namespaces"),
        (
            "a log driver shipping output off the host",
            json!({"log_driver": {"type": "syslog", "options": {"syslog-address": "udp://127.0.0.1:514"}}}),
            "log_driver",
            "log_drivers",
        ),
        ("a port on the worker's host", json!({"ports": ["0.0.0.0:8080:80"]}), "ports", "ports"),
        (
            "real-time priority (ulimit rtprio)",
            json!({"resources": {"ulimits": [{"name": "rtprio", "soft": 99, "hard": 99}]}}),
            "resources.ulimits[0]",
            "ulimits",
        ),
        (
            "bind the engine's data",
            json!({"mounts": [{"type": "bind", "source": "/var/lib/docker/volumes", "target": "/v"}]}),
            "mounts[0].source",
            "engine_socket",
        ),
    ];
    for (what, extra, field, rule) in &cases {
        let mut spec = json!({"image": IMAGE, "command": ["true"]});
        for (k, v) in extra.as_object().unwrap() {
            spec[k] = v.clone();
        }
        let (status, body) = t.call(&token, "POST", "/v1/jobs", Some(&spec));
        assert_eq!(status, 403, "{what}: {body}");
        let e = &body["error"];
        assert_eq!(
            (e["code"].as_str(), e["field"].as_str(), e["rule"].as_str()),
            (Some("policy_denied"), Some(*field), Some(*rule)),
            "{what}: {body}"
        );
        assert!(e["message"].as_str().unwrap().contains("refused by the server policy"), "{what}: {body}");
        println!("sandbox: {what}: 403 policy_denied {field} (rule {rule})");
    }
    // Nothing was created, and every refusal is in the audit log with its rule.
    let (_, page) = t.call(
        &token,
        "GET",
        "/v1/jobs?status=queued,starting,running,succeeded,failed,error,cancelled,timed_out,lost",
        None,
    );
    assert!(page["jobs"].is_array(), "{page}");
    assert_eq!(page["jobs"].as_array().map(Vec::len), Some(0), "{page}");
    assert_eq!(containers_of(&t, "acme"), 0);
    let (_, audit) = t.call(&t.admin, "GET", "/v1/audit?limit=100", None);
    let denied: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["outcome"].as_str().unwrap().starts_with("403 policy_denied"))
        .collect();
    assert_eq!(denied.len(), cases.len(), "{audit}");
    assert!(denied.iter().any(|a| a["outcome"] == "403 policy_denied mounts[0].source rule=bind_mounts"), "{audit}");
    t.s.env.assert_no_containers();
}

#[test]
fn a_tenant_override_sets_image_rules_and_ceilings_and_claims_check_it_again() {
    let t = Tenants::start();
    let patch =
        json!({"images": {"allow": ["docker.io/berth-test/*"]}, "ceilings": {"memory": "64m", "run_timeout": "30s"}});
    let (status, body) = t.call(&t.beta, "PUT", "/v1/tenants/beta/policy", Some(&patch));
    assert_eq!(status, 403, "only admins set policies: {body}");
    let (status, body) = t.call(&t.admin, "PUT", "/v1/tenants/beta/policy", Some(&patch));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["effective"]["ceilings"]["memory"], 64 << 20, "{body}");
    let (status, body) = t.call(&t.admin, "PUT", "/v1/tenants/beta/policy", Some(&json!({"bind_mount": "any"})));
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("invalid_policy")), "{body}");
    let (_, own) = t.call(&t.beta, "GET", "/v1/tenants/beta/policy", None);
    assert_eq!(own["override"], patch, "a tenant reads its own policy");
    assert_eq!(t.call(&t.beta, "GET", "/v1/tenants/acme/policy", None).0, 404, "but not another's");

    let refuse = |spec: Value, field: &str, rule: &str| {
        let (status, body) = t.call(&t.beta, "POST", "/v1/jobs", Some(&spec));
        assert_eq!(
            (status, body["error"]["field"].as_str(), body["error"]["rule"].as_str()),
            (403, Some(field), Some(rule)),
            "{body}"
        );
        assert!(body["error"]["message"].as_str().unwrap().contains("tenant beta's policy"), "{body}");
    };
    refuse(json!({"image": "alpine:3.20"}), "image", "images.allow");
    refuse(json!({"image": IMAGE, "resources": {"memory": "1g"}}), "resources.memory", "ceilings.memory");
    // acme is not bound by beta's override.
    assert_eq!(
        t.call(&t.s.token, "POST", "/v1/jobs", Some(&json!({"image": "berth-test/absent:1", "pull": "never"}))).0,
        422
    );

    // Unset limits are filled under the ceilings; the run timeout is cut to them.
    let (job, logs) =
        t.run(&t.beta, "cat /sys/fs/cgroup/memory/memory.limit_in_bytes", json!({"timeouts": {"run": "1h"}}));
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(logs.trim(), (64u64 << 20).to_string(), "{logs}");

    // A runtime the policy allows but the engine lacks is refused at submit, by name.
    assert_eq!(t.call(&t.admin, "PUT", "/v1/tenants/beta/policy", Some(&json!({"runtimes": ["runsc"]}))).0, 200);
    let (status, body) =
        t.call(&t.beta, "POST", "/v1/jobs", Some(&json!({"image": IMAGE, "security": {"runtime": "runsc"}})));
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("security.runtime")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("has no runtime `runsc` (it has: "), "{body}");

    // Even where joining containers is allowed, only the tenant's own can be joined.
    assert_eq!(t.call(&t.admin, "PUT", "/v1/tenants/beta/policy", Some(&json!({"join_containers": true}))).0, 200);
    let acme_job = t.submit(&t.s.token, json!({"image": IMAGE, "command": ["sleep", "30"]}));
    let running = t.s.wait_status(&acme_job, "running");
    let target = format!("container:berth-{}-1", &running["id"].as_str().unwrap()[..12]);
    let (job, _) = t.run(&t.beta, "true", json!({"network": target}));
    assert_eq!(job["status"], "error", "{job}");
    assert!(job["reason"]["message"].as_str().unwrap().contains("is not one of tenant beta's jobs"), "{job}");
    assert_eq!(t.call(&t.s.token, "POST", &format!("/v1/jobs/{acme_job}/cancel"), None).0, 202);
    t.wait_end(&t.s.token, &acme_job);

    // A policy that changes between submit and claim decides at claim.
    let later =
        json!({"image": IMAGE, "command": ["true"], "security": {"cap_add": ["NET_ADMIN"]}, "run_at": rfc3339_in(3)});
    let allow = json!({"cap_add": ["NET_ADMIN"]});
    assert_eq!(t.call(&t.admin, "PUT", "/v1/tenants/acme/policy", Some(&allow)).0, 200);
    let id = t.submit(&t.s.token, later);
    assert_eq!(t.call(&t.admin, "DELETE", "/v1/tenants/acme/policy", None).0, 200);
    let job = t.wait_end(&t.s.token, &id);
    assert_eq!(
        (job["status"].as_str(), job["reason"]["kind"].as_str()),
        (Some("error"), Some("policy_denied")),
        "{job}"
    );
    assert!(job["reason_text"].as_str().is_some(), "{job}");
    t.s.env.assert_no_containers();
}

#[test]
fn what_a_job_tries_from_inside_stays_inside() {
    let t = Tenants::start();
    let acme = t.s.token.clone();
    let outcome = |what: &str, job: &Value| println!("sandbox: {what}: {} ({})", job["status"], job["reason_text"]);

    // A fork bomb hits the pids limit and the run timeout; the host starts the next job.
    // (The shell retries its own `sleep` until it gets a pid: a lone `sleep 60` could not
    // fork while the bomb held every pid, and the shell ended before the timeout.)
    let bomb = "f(){ f | f & }; f; until sleep 60 2>/dev/null; do :; done";
    let (job, _) =
        t.run(&acme, bomb, json!({"resources": {"pids_limit": 64}, "timeouts": {"run": "5s", "stop_grace": "1s"}}));
    assert_eq!(job["status"], "timed_out", "{job}");
    outcome("fork bomb (pids_limit 64)", &job);
    let (job, logs) = t.run(
        &acme,
        "for i in $(seq 100); do sleep 30 & done 2>&1 | head -1; echo done",
        json!({"resources": {"pids_limit": 16}, "timeouts": {"run": "20s"}}),
    );
    assert!(logs.contains("can't fork"), "forks past the limit fail: {logs}");
    outcome("100 sleeps under pids_limit 16", &job);

    // A disk fill with one file stops at the file-size ceiling; the engine's disk is given back.
    let free_before = free_docker_disk();
    assert_eq!(
        t.call(&t.admin, "PUT", "/v1/tenants/acme/policy", Some(&json!({"ceilings": {"file_size": "64m"}}))).0,
        200
    );
    let (job, logs) = t.run(&acme, "dd if=/dev/zero of=/fill bs=1M count=1024", json!({}));
    assert_eq!(job["status"], "failed", "{job} {logs}");
    assert_eq!(job["exit_code"], 128 + 25, "killed by SIGXFSZ at the limit: {job} {logs}");
    outcome("disk fill with one file (file_size ceiling 64m)", &job);
    assert!(free_docker_disk() + (32 << 20) >= free_before, "the engine's free disk came back");

    // A CPU hog under a tenant's CPU ceiling gets that share (the cgroup's quota) and its
    // neighbour, started beside it, finishes.
    let cpus = json!({"ceilings": {"cpus": 0.5, "file_size": "64m"}});
    assert_eq!(t.call(&t.admin, "PUT", "/v1/tenants/acme/policy", Some(&cpus)).0, 200);
    let hog = "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us; (while :; do :; done) & (while :; do :; done) & sleep 8";
    let hog_id =
        t.submit(&acme, json!({"image": IMAGE, "command": ["sh", "-c", hog], "timeouts": {"stop_grace": "1s"}}));
    t.s.wait_status(&hog_id, "running");
    let (neighbour, sum) = t.run(&t.beta, "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo $i", json!({}));
    assert_eq!((neighbour["status"].as_str(), sum.trim()), (Some("succeeded"), "20000"), "{neighbour}");
    let hogged = t.wait_end(&acme, &hog_id);
    assert_eq!(t.logs(&acme, &hog_id).lines().next(), Some("50000"), "half a CPU per 100 ms period: {hogged}");
    outcome("CPU hog (two busy loops, cpus ceiling 0.5) beside another tenant's job", &hogged);

    // A memory hog is OOM-killed at its limit.
    let (job, _) = t.run(&acme, "tail /dev/zero", json!({"resources": {"memory": "32m"}}));
    assert_eq!(job["reason"]["kind"], "oom_killed", "{job}");
    outcome("memory hog (memory 32m)", &job);

    // No capability, no mount, no raw socket, no sysrq, no user namespace.
    let tries = [
        ("mount", "mount -t tmpfs none /mnt"),
        ("raw socket (arping)", "arping -c1 -w1 -I eth0 127.0.0.1"),
        ("write /proc/sysrq-trigger", "echo h > /proc/sysrq-trigger"),
        ("a new user namespace", "unshare -U -r true"),
        ("chown a root file", "chown 1:1 /bin/busybox"),
    ];
    for (what, script) in tries {
        let (job, logs) = t.run(&acme, script, json!({}));
        assert_eq!(job["status"], "failed", "{what} must fail: {job} {logs}");
        outcome(what, &job);
    }

    // A tenant's `cache` is its own: beta's job does not see what acme's wrote. (Leftovers
    // of an interrupted run belong to another install, and would be refused.)
    for tenant in ["acme", "beta"] {
        let _ = Command::new("docker")
            .args(["volume", "rm", "-f", &berth_core::volumes::scoped_name(tenant, "cache")])
            .output();
    }
    let vol = json!({"mounts": [{"type": "volume", "source": "cache", "target": "/cache"}]});
    let (job, _) = t.run(&acme, "echo acme-private > /cache/data", vol.clone());
    assert_eq!(job["status"], "succeeded", "{job}");
    let (job, logs) = t.run(&t.beta, "cat /cache/data 2>&1; ls /cache | wc -l", vol.clone());
    assert!(!logs.contains("acme-private") && logs.contains("No such file"), "{job}: {logs}");
    let (_, mine) = t.call(&acme, "GET", "/v1/volumes", None);
    assert_eq!(mine.as_array().map(Vec::len), Some(1), "{mine}");
    assert_eq!((mine[0]["name"].as_str(), mine[0]["tenant"].as_str()), (Some("cache"), Some("acme")), "{mine}");
    println!("sandbox: another tenant's volume: beta's `cache` is its own ({})", mine[0]["engine_name"]);
    for token in [&acme, &t.beta] {
        assert_eq!(t.call(token, "DELETE", "/v1/volumes/cache", None).0, 204);
        assert_eq!(t.call(token, "DELETE", "/v1/volumes/cache", None).0, 404);
    }
    t.s.env.assert_no_containers();
}

#[test]
fn a_secret_reaches_the_job_and_nothing_shows_it() {
    let t = Tenants::start();
    let value = "s3cr3t-Value-4711";
    let (status, body) = t.call(&t.beta, "PUT", "/v1/secrets/api_key", Some(&json!({"value": value})));
    assert_eq!(status, 201, "{body}");
    assert!(!body.to_string().contains(value));
    let (_, listed) = t.call(&t.beta, "GET", "/v1/secrets", None);
    assert_eq!(listed[0]["name"], "api_key");
    assert!(!listed.to_string().contains(value), "{listed}");
    let (_, other) = t.call(&t.s.token, "GET", "/v1/secrets", None);
    assert_eq!(other.as_array().map(Vec::len), Some(0), "acme does not see beta's secrets");
    // acme cannot name beta's secret.
    let spec = json!({"image": IMAGE, "secrets": [{"name": "api_key"}]});
    let (status, body) = t.call(&t.s.token, "POST", "/v1/jobs", Some(&spec));
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("secrets[0].name")), "{body}");

    // The script never names the value: the spec is shown back and must not hold it.
    let script = r#"[ "$api_key" = "$(cat /run/secrets/key)" ] && [ "$api_key" = "$ALSO" ] && echo "env-ok len=${#api_key}"; echo "leak: $api_key"; cat /run/secrets/key; echo; echo "$api_key" >&2; echo "{\"berth\":\"note\",\"v\":\"$api_key\"}""#;
    let secrets =
        json!({"secrets": [{"name": "api_key"}, {"name": "api_key", "env": "ALSO", "file": "/run/secrets/key"}]});
    let (job, logs) = t.run(&t.beta, script, secrets);
    assert_eq!(job["status"], "succeeded", "{job} {logs}");
    assert!(logs.contains("env-ok len=17") && logs.contains("leak: ***"), "the job got it, the log shows ***: {logs}");
    assert!(!logs.contains(value), "{logs}");
    let id = job["id"].as_str().unwrap();
    let (_, detail) = t.call(&t.beta, "GET", &format!("/v1/jobs/{id}"), None);
    let events = t.raw(&t.beta, &format!("/v1/jobs/{id}/events"));
    assert!(events.contains("note"), "the job's event is there: {events}");
    let (_, audit) = t.call(&t.admin, "GET", "/v1/audit?limit=100", None);
    for (what, text) in [("the job", detail.to_string()), ("its events", events), ("the audit log", audit.to_string())]
    {
        assert!(!text.contains(value), "{what} shows the secret: {text}");
    }
    let mut c = t.s.env.command(&["inspect", id]);
    let inspect = c.env("BERTH_SERVER", &t.s.url).env("BERTH_TOKEN", &t.beta).output().unwrap();
    assert!(stdout(&inspect).contains("api_key") && !stdout(&inspect).contains(value), "{}", stdout(&inspect));
    println!("sandbox: a secret echoed to stdout and stderr: stored and streamed as ***");
    assert_eq!(t.call(&t.beta, "DELETE", "/v1/secrets/api_key", None).0, 204);
    t.s.env.assert_no_containers();
}

/// RFC 3339 for `secs` from now.
fn rfc3339_in(secs: u64) -> String {
    let out = Command::new("date").args(["-u", "-d", &format!("+{secs} seconds"), "+%Y-%m-%dT%H:%M:%SZ"]).output();
    stdout(&out.unwrap()).trim().to_string()
}

#[test]
fn no_job_reaches_another_jobs_container_on_the_network() {
    let t = Tenants::start();
    // acme listens; its address is in its log.
    let listen = "hostname -i; nc -l -p 8000; sleep 60";
    let id = t.submit(&t.s.token, json!({"image": IMAGE, "command": ["sh", "-c", listen]}));
    t.s.wait_status(&id, "running");
    let deadline = Instant::now() + Duration::from_secs(30);
    let ip = loop {
        let logs = t.logs(&t.s.token, &id);
        if let Some(ip) = logs.lines().next().filter(|l| l.contains('.')) {
            break ip.trim().to_string();
        }
        assert!(Instant::now() < deadline, "the listener never said its address");
        std::thread::sleep(Duration::from_millis(100));
    };
    // No other job reaches it, another tenant's or its own...
    for token in [&t.beta, &t.s.token] {
        let (job, logs) = t.run(token, &format!("echo x | nc -w 2 {ip} 8000; echo rc=$?"), json!({}));
        assert!(logs.contains("rc=1"), "{job} {logs}");
    }
    // ...while the host does (so the address was right and it was listening all along).
    let addr: std::net::SocketAddr = format!("{ip}:8000").parse().unwrap();
    assert!(std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3)).is_ok(), "the host reaches {addr}");
    println!(
        "sandbox: another job's container on the network: unreachable (berth-isolated, inter-container traffic off)"
    );
    assert_eq!(t.call(&t.s.token, "POST", &format!("/v1/jobs/{id}/cancel"), None).0, 202);
    t.wait_end(&t.s.token, &id);
    t.s.env.assert_no_containers();
}

/// The gateway of a Docker network: the host's address on it. Docker's IPAM leaves it out
/// for the default bridge at times (after an engine restart), so it falls back to the
/// address of the network's bridge interface.
fn gateway(network: &str) -> String {
    let inspect = |format: &str| {
        let out = Command::new("docker").args(["network", "inspect", network, "--format", format]).output().unwrap();
        stdout(&out).trim().to_string()
    };
    let listed = inspect("{{range .IPAM.Config}}{{.Gateway}}{{end}}");
    if !listed.is_empty() {
        return listed;
    }
    let bridge = inspect(r#"{{index .Options "com.docker.network.bridge.name"}}"#);
    let out = Command::new("ip").args(["-4", "-o", "addr", "show", "dev", &bridge]).output().unwrap();
    let text = stdout(&out);
    let cidr = text.split_whitespace().skip_while(|w| *w != "inet").nth(1).unwrap_or_default();
    let address = cidr.split('/').next().unwrap_or_default().to_string();
    assert!(!address.is_empty(), "no address for network {network} (bridge {bridge}): {text}");
    address
}

/// Accepts on `ip`:0 in the background; the port, and a flag set when anything connected.
fn listen_on(ip: &str) -> (u16, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    let listener = std::net::TcpListener::bind((ip, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let reached = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = reached.clone();
    std::thread::spawn(move || {
        if listener.accept().is_ok() {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    });
    (port, reached)
}

#[test]
fn a_job_reaches_neither_the_host_nor_cloud_metadata() {
    // Rules left by an earlier run would hide a guard that is no longer applied: drop them;
    // this test's server puts them back with its first job on the network.
    let net =
        Command::new("docker").args(["network", "inspect", "berth-isolated", "--format", "{{.Id}}"]).output().unwrap();
    if let Some(id) = stdout(&net).trim().get(..12) {
        let iface = format!("br-{id}");
        for rule in [
            vec!["INPUT", "-i", &iface, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
            vec!["INPUT", "-i", &iface, "-j", "DROP"],
            vec!["DOCKER-USER", "-i", &iface, "-d", "169.254.0.0/16", "-j", "DROP"],
        ] {
            while Command::new("iptables").arg("-w").arg("-D").args(&rule).status().unwrap().success() {}
        }
    }
    let t = Tenants::start();
    // The first job makes berth-isolated (and its guard).
    let (job, _) = t.run(&t.s.token, "true", json!({}));
    assert_eq!(job["status"], "succeeded", "{job}");
    let gw = gateway("berth-isolated");
    assert!(gw.contains('.'), "no gateway for berth-isolated: {gw:?}");
    let (port, reached) = listen_on(&gw);
    let (job, logs) = t.run(&t.s.token, &format!("echo x | nc -w 3 {gw} {port}; echo rc=$?"), json!({}));
    assert!(logs.contains("rc=1"), "{job} {logs}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !reached.load(std::sync::atomic::Ordering::SeqCst),
        "a job on berth-isolated reached the host at {gw}:{port}"
    );
    // Without the guard the same container reaches the host (the control: docker's default bridge).
    let (port, reached) = listen_on(&gateway("bridge"));
    let control = Command::new("docker")
        .args(["run", "--rm", IMAGE, "sh", "-c", &format!("echo x | nc -w 3 {} {port}", gateway("bridge"))])
        .output()
        .unwrap();
    assert!(control.status.success(), "{}", String::from_utf8_lossy(&control.stderr));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !reached.load(std::sync::atomic::Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "the control never reached the host: the test proves nothing");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Link-local (cloud metadata) is dropped on the way out.
    let iface_rule = Command::new("sh")
        .args(["-c", "iptables -w -S DOCKER-USER | grep -c -- '-d 169.254.0.0/16 .*-j DROP'"])
        .output()
        .unwrap();
    assert_ne!(stdout(&iface_rule).trim(), "0", "no link-local rule in DOCKER-USER");
    println!(
        "sandbox: the host's address on berth-isolated ({gw}) and link-local addresses: unreachable (iptables on its bridge)"
    );
    t.s.env.assert_no_containers();
}

#[test]
fn a_private_image_another_tenant_pulled_runs_only_after_a_pull_of_its_own() {
    let registry = util::setup_var("BERTH_TEST_REGISTRY");
    let (user, password) =
        (util::setup_var("BERTH_TEST_REGISTRY_USER"), util::setup_var("BERTH_TEST_REGISTRY_PASSWORD"));
    let image = format!("{registry}/berth-test/busybox:latest");
    // From an engine without it, so acme's job pulls it (with its credentials).
    let _ = Command::new("docker").args(["rmi", "-f", &image]).output();
    let t = Tenants::start();
    let auth = json!({"username": user, "password": password});
    let (job, logs) = t.run(&t.s.token, "echo acme", json!({"image": image, "registry_auth": auth}));
    assert_eq!((job["status"].as_str(), logs.trim()), (Some("succeeded"), "acme"), "{job}");
    // beta has no credentials: the cached copy does not run for it.
    let (job, logs) = t.run(&t.beta, "echo beta", json!({"image": image}));
    assert_eq!(job["reason_text"], "infra(pull_failed)", "{job} {logs}");
    assert!(!logs.contains("beta"), "{logs}");
    // With its own credentials it pulls, and runs.
    let (job, logs) = t.run(&t.beta, "echo beta", json!({"image": image, "registry_auth": auth}));
    assert_eq!((job["status"].as_str(), logs.trim()), (Some("succeeded"), "beta"), "{job}");
    println!(
        "sandbox: a private image cached by another tenant's pull: infra(pull_failed) without credentials, runs after a pull of its own"
    );
    t.s.env.assert_no_containers();
}

#[test]
fn a_tenant_volume_of_another_install_on_the_engine_is_refused_not_shared() {
    let t = Tenants::start();
    let engine_name = berth_core::volumes::scoped_name("acme", "shared");
    let _ = Command::new("docker").args(["volume", "rm", "-f", &engine_name]).output();
    let made = Command::new("docker")
        .args(["volume", "create", "--label", "berth.managed=true", "--label", "berth.tenant=acme"])
        .args(["--label", "berth.volume=shared", "--label", "berth.install=another0install0", &engine_name])
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let mount = json!({"mounts": [{"type": "volume", "source": "shared", "target": "/data"}]});
    let (job, logs) = t.run(&t.s.token, "ls /data; echo ran", mount);
    let _ = Command::new("docker").args(["volume", "rm", "-f", &engine_name]).output();
    assert_eq!(job["reason_text"], "infra(create_failed)", "{job} {logs}");
    assert!(!logs.contains("ran"), "{logs}");
    println!("sandbox: a tenant volume another berth install made on the engine: infra(create_failed), not mounted");
    t.s.env.assert_no_containers();
}
