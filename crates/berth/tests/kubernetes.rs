//! `berth server --backend kubernetes` end to end, against the fake API server (its pods run
//! on the Docker engine scripts/test starts): a job run from the CLI gives its output and
//! exit code, and a server killed with SIGKILL mid-job is restarted, finds the job's Job by
//! its labels and reads the log on, each line once. Nothing is left on the fake or the engine.

mod util;

use std::time::Duration;

use berth_kube_fake::FakeCluster;
use util::server::Server;
use util::{IMAGE, TestEnv, code, stdout};

/// The fake in a runtime of its own (the tests drive the binary synchronously).
fn fake() -> (tokio::runtime::Runtime, FakeCluster) {
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let fake = rt.block_on(FakeCluster::start()).expect("the fake API server starts");
    (rt, fake)
}

fn server_on(fake: &FakeCluster) -> Server {
    let mut env = TestEnv::new();
    let config = format!("[backends.kubernetes]\nnamespace = \"berth-e2e\"\nhelper_image = \"{IMAGE}\"\n");
    env.write("config/berth/config.toml", &config);
    env.vars.push(("BERTH_KUBERNETES_URL".into(), fake.url()));
    Server::start_in(env, &["--backend", "kubernetes"])
}

fn nothing_left(rt: &tokio::runtime::Runtime, fake: &FakeCluster) {
    let left = rt.block_on(fake.containers_left(Duration::from_secs(30)));
    assert!(left.is_empty(), "containers left: {left:?}");
    assert!(fake.jobs().is_empty() && fake.secrets().is_empty(), "Jobs or Secrets left on the fake");
}

#[test]
fn a_job_run_through_a_server_on_kubernetes_gives_its_output_and_exit_code() {
    let (rt, fake) = fake();
    let mut s = server_on(&fake);
    let out = s.berth(&["run", IMAGE, "sh", "-c", "echo hello from a pod; exit 3"]);
    assert_eq!((code(&out), stdout(&out).as_str()), (3, "hello from a pod\n"), "{out:?}");
    let jobs = s.get("/v1/jobs");
    assert_eq!(jobs["jobs"][0]["reason_text"], "exited(3)", "{jobs}");
    // What a pod cannot mean is refused at submit, by field, before anything runs.
    let refused = s.berth(&["run", "--pids-limit", "10", IMAGE, "true"]);
    assert_ne!(code(&refused), 0);
    assert!(util::stderr(&refused).contains("resources.pids_limit"), "{}", util::stderr(&refused));
    s.stop();
    nothing_left(&rt, &fake);
}

#[test]
fn a_server_killed_with_sigkill_reattaches_to_its_job_and_reads_every_line_once() {
    let (rt, fake) = fake();
    let mut s = server_on(&fake);
    let script = r#"echo before; i=0; while [ $i -lt 200 ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); sleep 0.02; done; echo after"#;
    let id = stdout(&s.berth(&["run", "-d", IMAGE, "sh", "-c", script])).trim().to_string();
    s.wait_status(&id, "running");
    let exec = s.berth(&["exec", &id, "sh", "-c", "echo in-the-pod; exit 4"]);
    assert_eq!((code(&exec), stdout(&exec).as_str()), (4, "in-the-pod\n"), "{}", util::stderr(&exec));
    std::thread::sleep(Duration::from_millis(300));
    s.crash_and_restart(&["--backend", "kubernetes"]);
    let done = s.wait_status(&id, "succeeded");
    assert_eq!(done["attempts"], 1, "reattached, not retried: {done}");
    // The pod log is one stream: stderr's lines are in it, each stream's in its order.
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
