//! `berth server --backend ecs` end to end, through the AWS SDK's own environment
//! (`AWS_ENDPOINT_URL`, static credentials, `AWS_REGION`) against the fake ECS and
//! CloudWatch Logs API, whose tasks run on the Docker engine scripts/test starts: a job run
//! from the CLI gives its output and exit code, what a task cannot do is refused at submit
//! by field, and a server killed with SIGKILL mid-job is restarted, finds the task by its
//! `startedBy` and tags and reads the log on, each line once. Nothing is left on the engine.

mod util;

use std::time::Duration;

use berth_ecs_fake::FakeEcs;
use util::server::Server;
use util::{IMAGE, TestEnv, code, stdout};

/// The fake in a runtime of its own (the tests drive the binary synchronously).
fn fake() -> (tokio::runtime::Runtime, FakeEcs) {
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let fake = rt.block_on(FakeEcs::start()).expect("the fake ECS starts");
    (rt, fake)
}

fn server_on(fake: &FakeEcs) -> Server {
    Server::start_in(ecs_env(fake), &["--backend", "ecs"])
}

/// A data dir whose config and environment point the ECS backend at the fake.
fn ecs_env(fake: &FakeEcs) -> TestEnv {
    ecs_env_with(fake, "")
}

/// `ecs_env`, with `more` appended to `[backends.ecs]`.
fn ecs_env_with(fake: &FakeEcs, more: &str) -> TestEnv {
    let mut env = TestEnv::new();
    let config = format!(
        "[backends.ecs]\nsubnets = [\"subnet-0e2e\"]\nsecurity_groups = [\"sg-0e2e\"]\nhelper_image = \"{IMAGE}\"\npoll_interval = 0.2\nlog_settle = 0.6\n{more}"
    );
    env.write("config/berth/config.toml", &config);
    for (k, v) in [
        ("AWS_ENDPOINT_URL", fake.url().as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ] {
        env.vars.push((k.into(), v.into()));
    }
    env
}

fn nothing_left(rt: &tokio::runtime::Runtime, fake: &FakeEcs) {
    let left = rt.block_on(fake.containers_left(Duration::from_secs(60)));
    assert!(left.is_empty(), "containers left: {left:?}");
}

#[test]
fn a_job_run_through_a_server_on_ecs_gives_its_output_and_exit_code() {
    let (rt, fake) = fake();
    let mut s = server_on(&fake);
    let out = s.berth(&["run", IMAGE, "sh", "-c", "echo hello from a task; exit 3"]);
    assert_eq!((code(&out), stdout(&out).as_str()), (3, "hello from a task\n"), "{out:?}");
    let jobs = s.get("/v1/jobs");
    assert_eq!(jobs["jobs"][0]["reason_text"], "exited(3)", "{jobs}");
    // One task definition for the shape, one RunTask for the attempt.
    let requests = fake.requests();
    let count = |op: &str| requests.iter().filter(|r| *r == op).count();
    assert_eq!((count("RegisterTaskDefinition"), count("RunTask")), (1, 1), "{requests:?}");
    // What a task cannot mean is refused at submit, by field, before anything runs.
    let refused = s.berth(&["run", "--pids-limit", "10", IMAGE, "true"]);
    assert_ne!(code(&refused), 0);
    assert!(util::stderr(&refused).contains("resources.pids_limit"), "{}", util::stderr(&refused));
    let published = s.berth(&["run", "-p", "8080:80", IMAGE, "true"]);
    assert_ne!(code(&published), 0);
    assert!(util::stderr(&published).contains("ports"), "{}", util::stderr(&published));
    assert_eq!(fake.requests().iter().filter(|r| *r == "RunTask").count(), 1, "nothing else ran");
    s.stop();
    nothing_left(&rt, &fake);
}

#[test]
fn a_server_killed_with_sigkill_reattaches_to_its_task_and_reads_every_line_once() {
    let (rt, fake) = fake();
    let mut s = server_on(&fake);
    let script = r#"echo before; i=0; while [ $i -lt 200 ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); sleep 0.02; done; echo after"#;
    let id = stdout(&s.berth(&["run", "-d", IMAGE, "sh", "-c", script])).trim().to_string();
    s.wait_status(&id, "running");
    let exec = s.berth(&["exec", &id, "true"]);
    assert_ne!(code(&exec), 0, "no exec on ECS");
    assert!(util::stderr(&exec).contains("the ecs backend cannot run commands"), "{}", util::stderr(&exec));
    std::thread::sleep(Duration::from_millis(500));
    s.crash_and_restart(&["--backend", "ecs"]);
    let done = s.wait_status(&id, "succeeded");
    assert_eq!(done["attempts"], 1, "reattached, not retried: {done}");
    // awslogs is one stream: stderr's lines are in it, each stream's in its order.
    let logs = stdout(&s.berth(&["logs", &id]));
    let only = |p: &str| -> String { logs.lines().filter(|l| l.starts_with(p)).map(|l| format!("{l}\n")).collect() };
    let out: String = (0..200).map(|i| format!("out {i}\n")).collect();
    let err: String = (0..200).map(|i| format!("err {i}\n")).collect();
    assert_eq!((only("out "), only("err ")), (out.clone(), err.clone()), "each line once, in order");
    assert_eq!(logs.len(), "before\nafter\n".len() + out.len() + err.len(), "nothing twice: {logs}");
    let events = s.get(&format!("/v1/jobs/{id}/events"));
    assert!(events.to_string().contains("reattached"), "{events}");
    s.stop();
    nothing_left(&rt, &fake);
}

/// `--backend auto` inside an ECS task (its metadata endpoint in the environment) with
/// `[backends.ecs]`: ECS, said at start and shown in the worker registry.
#[test]
fn backend_auto_inside_an_ecs_task_chooses_ecs() {
    let (rt, fake) = fake();
    let mut env = ecs_env(&fake);
    env.vars.push(("ECS_CONTAINER_METADATA_URI_V4".into(), "http://169.254.170.2/v4/task".into()));
    let mut s = Server::start_in(env, &["--backend", "auto"]);
    assert!(
        s.notes.iter().any(|l| l.contains("--backend auto chose ecs: running inside an ECS task")),
        "{:?}",
        s.notes
    );
    assert_eq!(s.worker_backend(), "ecs");
    let out = s.berth(&["run", IMAGE, "echo", "on a task"]);
    assert_eq!((code(&out), stdout(&out).as_str()), (0, "on a task\n"), "{out:?}");
    assert_eq!(fake.requests().iter().filter(|r| *r == "RunTask").count(), 1, "it ran on ECS");
    s.stop();
    nothing_left(&rt, &fake);
}

#[test]
fn the_server_puts_the_queue_depth_into_cloudwatch_as_embedded_metrics() {
    let (rt, fake) = fake();
    let env = ecs_env_with(&fake, "queue_depth_metric = true\nmetrics_interval = 0.2\n");
    let mut s = Server::start_in(env, &["--backend", "ecs"]);
    // Two jobs in a queue no worker takes: they wait.
    let spec = format!(r#"{{"image": "{IMAGE}", "command": ["true"], "queue": "nobody"}}"#);
    let url = format!("{}/v1/jobs", s.url);
    for _ in 0..2 {
        let made = s.curl(&["-X", "POST", "-H", "content-type: application/json", "-d", &spec, &url]);
        assert!(made.contains("\"queued\""), "{made}");
    }
    let waiting = |m: &serde_json::Value| m["Queue"] == "nobody" && m["QueueDepth"] == 2;
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen = fake.log_messages("/berth/metrics");
        if seen.iter().filter_map(|m| serde_json::from_str(m).ok()).any(|m| waiting(&m)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let parsed: Vec<serde_json::Value> = seen.iter().filter_map(|m| serde_json::from_str(m).ok()).collect();
    assert!(parsed.iter().any(waiting), "the queue's depth: {seen:?}");
    let total = parsed.iter().find(|m| m.get("Queue").is_none() && m["QueueDepth"] == 2);
    let total = total.unwrap_or_else(|| panic!("the cluster's depth: {seen:?}"));
    assert_eq!(total["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Berth");
    assert_eq!(total["Cluster"], "berth");
    for job in s.get("/v1/jobs")["jobs"].as_array().unwrap() {
        s.berth(&["cancel", job["id"].as_str().unwrap()]);
    }
    s.stop();
    nothing_left(&rt, &fake);
}
