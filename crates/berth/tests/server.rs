//! `berth server` end to end: the real binary serving on a real socket, running jobs on the
//! real Docker engine, driven by the CLI in client mode and by raw HTTP (curl). Every test
//! ends by asserting no container of its install is left.

#![allow(clippy::unwrap_used)]

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use util::server::{Server, spawn_server};
use util::{IMAGE, TestEnv, code, fresh_pg_store, signal, stderr, stdout};

/// Parses an SSE body into (event, id, data) triples.
fn sse_events(body: &str) -> Vec<(String, Option<i64>, String)> {
    body.split("\n\n")
        .filter_map(|block| {
            let (mut event, mut id, mut data) = (String::from("message"), None, Vec::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    event = v.to_string();
                } else if let Some(v) = line.strip_prefix("id: ") {
                    id = v.parse().ok();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push(v);
                }
            }
            (!data.is_empty()).then(|| (event, id, data.join("\n")))
        })
        .collect()
}

#[test]
fn submit_follow_and_collect_a_result_through_the_server() {
    let mut s = Server::start(&[]);
    let script = "echo line-1; echo oops >&2; echo '{\"berth\":{\"progress\":0.5}}'; echo '{\"answer\":42}' > $BERTH_OUTPUT_DIR/result.json; echo line-2; exit 3";
    let out = s.berth(&["run", IMAGE, "sh", "-c", script]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stdout(&out).contains("line-1\n") && stdout(&out).contains("line-2\n"), "{}", stdout(&out));
    assert!(stderr(&out).contains("oops"), "{}", stderr(&out));
    let ps = s.get("/v1/jobs?status=failed");
    let id = ps["jobs"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(ps["jobs"][0]["reason_text"], "exited(3)");
    assert_eq!(s.get(&format!("/v1/jobs/{id}/result"))["answer"], 42);
    let events = s.curl(&[&format!("{}/v1/jobs/{id}/events", s.url)]);
    assert!(events.contains("\"progress\":0.5"), "{events}");
    // -d returns the id at once; logs -f follows it to the end.
    let out = s.berth(&["run", "-d", IMAGE, "sh", "-c", "sleep 1; echo later"]);
    let id = stdout(&out).trim().to_string();
    assert_eq!(id.len(), 32, "{}", stdout(&out));
    let logs = s.berth(&["logs", "-f", &id]);
    assert_eq!(stdout(&logs), "later\n");
    assert_eq!(stdout(&s.berth(&["wait", &id])).trim(), "0");
    s.stop();
    s.env.assert_no_containers();
}

/// The job verbs are written once over one client: through the server and on its store they
/// print the same documents (inspect, ps --json) and the same output (logs).
#[test]
fn job_verbs_say_the_same_through_a_server_and_on_its_store() {
    let mut s = Server::start(&[]);
    let script = "echo out; echo err >&2; echo '{\"berth\":\"progress\",\"percent\":9}'; exit 4";
    let id = stdout(&s.berth(&["run", "-d", IMAGE, "sh", "-c", script])).trim().to_string();
    s.wait_status(&id, "failed");
    let out = s.berth(&["inspect", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let remote: Value = serde_json::from_slice(&out.stdout).unwrap();
    let local = s.env.inspect(&id);
    let keys = |v: &Value| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
    assert_eq!(keys(&remote), keys(&local), "one inspect shape");
    for field in ["id", "status", "reason_text", "exit_code", "attempt_list", "artifacts", "containers"] {
        assert_eq!(remote[field], local[field], "{field}");
    }
    let kinds = |v: &Value| v["events"].as_array().unwrap().iter().map(|e| e["kind"].clone()).collect::<Vec<_>>();
    assert_eq!(kinds(&remote), kinds(&local));
    assert!(kinds(&local).contains(&Value::from("progress")), "{local}");
    assert_eq!(local["containers"].as_array().map(Vec::len), Some(1), "{local}");
    assert_eq!(remote["reason_text"], "exited(4)");
    let listed = |out: std::process::Output| -> Value { serde_json::from_slice(&out.stdout).unwrap() };
    let remote_ps = listed(s.berth(&["ps", "-a", "--json"]));
    let local_ps = listed(s.env.berth(&["ps", "-a", "--json"]));
    assert_eq!(keys(&remote_ps[0]), keys(&local_ps[0]), "one ps --json shape");
    assert_eq!(remote_ps[0]["id"], local_ps[0]["id"]);
    for logs in [s.berth(&["logs", &id]), s.env.berth(&["logs", &id])] {
        assert_eq!((stdout(&logs).as_str(), stderr(&logs).as_str()), ("out\n", "err\n"));
    }
    s.stop();
    s.env.assert_no_containers();
}

#[test]
fn a_dropped_log_stream_resumes_without_losing_or_repeating_a_line() {
    let mut s = Server::start(&[]);
    let script = "for i in $(seq 1 40); do seq $((i*100-99)) $((i*100)); sleep 0.05; done";
    let out = s.berth(&["run", "-d", IMAGE, "sh", "-c", script]);
    let id = stdout(&out).trim().to_string();
    let url = format!("{}/v1/jobs/{id}/logs?follow=true", s.url);
    let mut text = String::new();
    let mut last: Option<i64> = None;
    let mut reconnects = 0;
    loop {
        // Each connection is cut after 0.5 s, mid-stream, then resumed from Last-Event-ID.
        let resume = format!("Last-Event-ID: {}", last.unwrap_or(-1));
        let body = s.curl(&["-N", "--max-time", "0.5", "-H", &resume, &url]);
        let mut ended = false;
        for (event, id, data) in sse_events(&body) {
            match event.as_str() {
                "log" => {
                    let line: Value = serde_json::from_str(&data).unwrap();
                    text.push_str(line["text"].as_str().unwrap());
                    last = id;
                }
                "end" => ended = true,
                _ => {}
            }
        }
        if ended {
            break;
        }
        reconnects += 1;
        assert!(reconnects < 200, "the stream never ended");
    }
    assert!(reconnects >= 2, "the test must actually cut the stream (cut {reconnects} times)");
    let want: String = (1..=4000).map(|n| format!("{n}\n")).collect();
    assert!(text == want, "lost or repeated lines: got {} bytes, want {}", text.len(), want.len());
    s.stop();
    s.env.assert_no_containers();
}

#[test]
fn cancelling_a_running_job_stops_and_removes_its_container() {
    let mut s = Server::start(&[]);
    let out = s.berth(&["run", "-d", IMAGE, "sleep", "300"]);
    let id = stdout(&out).trim().to_string();
    s.wait_status(&id, "running");
    assert_eq!(s.env.containers().len(), 1);
    let exec = s.berth(&["exec", &id, "sh", "-c", "echo from-exec; exit 4"]);
    assert_eq!((code(&exec), stdout(&exec).as_str()), (4, "from-exec\n"), "{}", stderr(&exec));
    let out = s.berth(&["cancel", &id]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let job = s.wait_status(&id, "cancelled");
    assert!(job["reason_text"].as_str().unwrap().starts_with("cancelled(token:"), "{job}");
    assert_eq!(stdout(&s.berth(&["wait", &id])).trim(), "130");
    s.env.assert_no_containers();
    // Retry runs it again as attempt 2.
    s.berth(&["retry", &id]);
    s.wait_status(&id, "running");
    s.berth(&["cancel", &id]);
    let job = s.wait_status(&id, "cancelled");
    assert_eq!(job["attempts"], 2);
    s.stop();
    s.env.assert_no_containers();
}

#[test]
fn docker_verb_habits_format_time_and_force_work_through_a_server() {
    let mut s = Server::start(&[]);
    let out = s.berth(&[
        "run",
        "--name",
        "fmt-me",
        "--label",
        "team=data",
        IMAGE,
        "sh",
        "-c",
        "echo one; sleep 1.2; echo two; exit 3",
    ]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let id = s.get("/v1/jobs")["jobs"][0]["id"].as_str().unwrap().to_string();
    // inspect --format and ps --format, with the fields Docker users type.
    let f = s.berth(&[
        "inspect",
        "--format",
        "{{.Status}} {{.ExitCode}} {{.Spec.Image}} {{index .Spec.Labels \"team\"}}",
        &id,
    ]);
    assert_eq!(stdout(&f), format!("failed 3 {IMAGE} data\n"), "{}", stderr(&f));
    let ps = s.berth(&["ps", "-a", "--format", "{{.ID}} {{.Names}} {{.State}} {{.Labels}}"]);
    assert_eq!(stdout(&ps), format!("{} fmt-me failed team=data\n", &id[..12]));
    let table = stdout(&s.berth(&["ps", "-a", "--format", "table {{.ID}}\\t{{.Image}}"]));
    assert_eq!(table.lines().next().unwrap().split_whitespace().collect::<Vec<_>>(), ["ID", "IMAGE"], "{table}");
    let json = stdout(&s.berth(&["ps", "-a", "--format", "json"]));
    assert_eq!(serde_json::from_str::<Value>(json.trim()).unwrap()["Names"], "fmt-me");
    let bad = s.berth(&["ps", "--format", "{{range .X}}"]);
    assert_eq!(code(&bad), 125);
    assert!(stderr(&bad).contains("--format: `{{range .X}}` is not supported"), "{}", stderr(&bad));
    // logs -t and --since/--until, by the times the output was stored.
    let stamped = stdout(&s.berth(&["logs", "-t", &id]));
    let lines: Vec<&str> = stamped.lines().collect();
    assert_eq!(lines.len(), 2, "{stamped}");
    assert!(lines.iter().all(|l| l.len() > 25 && l.as_bytes()[4] == b'-' && l.contains("Z ")), "{stamped}");
    let second = lines[1].split(' ').next().unwrap();
    assert_eq!(stdout(&s.berth(&["logs", "--since", second, &id])), "two\n");
    assert_eq!(stdout(&s.berth(&["logs", "--until", second, &id])), "one\n");
    assert_eq!(stdout(&s.berth(&["logs", "--since", "1h", &id])), "one\ntwo\n");
    assert!(stderr(&s.berth(&["logs", "--since", "soon", &id])).contains("is not a time"));
    // logs -f --until follows a running job until then, as docker logs does.
    let printer = "i=0; while true; do echo $i; i=$((i+1)); sleep 0.2; done";
    let printing = stdout(&s.berth(&["run", "-d", IMAGE, "sh", "-c", printer])).trim().to_string();
    s.wait_status(&printing, "running");
    #[allow(clippy::disallowed_methods)] // the test's own clock, for a time just ahead
    let soon = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64() + 1.5;
    let mut follow = s.client(&["logs", "-f", "--until", &format!("{soon:.3}"), &printing]);
    let mut child = follow.stdout(std::process::Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "logs -f --until never stopped following");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut followed = String::new();
    child.stdout.take().unwrap().read_to_string(&mut followed).unwrap();
    let numbers: Vec<u32> = followed.lines().map(|l| l.parse().unwrap()).collect();
    assert!(!numbers.is_empty() && numbers.windows(2).all(|w| w[1] == w[0] + 1), "{followed}");
    assert_eq!(code(&s.berth(&["rm", "-f", &printing])), 0);
    // rm refuses a running job; rm -f cancels it, waits for its end and removes it.
    let running = stdout(&s.berth(&["run", "-d", IMAGE, "sleep", "300"])).trim().to_string();
    s.wait_status(&running, "running");
    assert_eq!(code(&s.berth(&["rm", &running])), 1, "a running job is not removed without -f");
    // exec with -e, -u and -w, as docker exec; a relative workdir is refused by field.
    let script = "echo $A $(id -u) $(pwd)";
    let exec = s.berth(&["exec", "-e", "A=1", "-u", "1000:1000", "-w", "/berth/output", &running, "sh", "-c", script]);
    assert_eq!((code(&exec), stdout(&exec).as_str()), (0, "1 1000 /berth/output\n"), "{}", stderr(&exec));
    let relative = s.berth(&["exec", "-w", "tmp", &running, "true"]);
    assert_eq!(code(&relative), 125);
    assert!(stderr(&relative).contains("workdir: must be an absolute path"), "{}", stderr(&relative));
    let forced = s.berth(&["rm", "-f", &running]);
    assert_eq!((code(&forced), stdout(&forced).trim()), (0, running.as_str()), "{}", stderr(&forced));
    assert_eq!(s.get(&format!("/v1/jobs/{running}"))["error"]["code"], "not_found");
    s.stop();
    s.env.assert_no_containers();
}

/// The calls a receiver got: (Berth-Signature header, body).
type Calls = Arc<Mutex<Vec<(String, String)>>>;

/// A webhook receiver on 127.0.0.1 that fails the first `failures` calls with 500.
fn receiver(failures: usize) -> (String, Calls) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let seen = got.clone();
    std::thread::spawn(move || {
        for (n, conn) in listener.incoming().enumerate() {
            let mut conn = conn.unwrap();
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let (mut length, mut signature) = (0, String::new());
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                if lower.starts_with("berth-signature:") {
                    signature = line["berth-signature:".len()..].trim().to_string();
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            seen.lock().unwrap().push((signature, String::from_utf8(body).unwrap()));
            let status = if n < failures { "500 Internal Server Error" } else { "200 OK" };
            write!(conn, "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").unwrap();
        }
    });
    (url, got)
}

#[test]
fn webhooks_are_signed_and_retried_until_delivered() {
    let mut s = Server::start(&["--webhook-backoff", "200ms"]);
    let (url, got) = receiver(2);
    let spec = format!(r#"{{"image": "{IMAGE}", "command": ["sh", "-c", "exit 7"], "notify": [{{"url": "{url}"}}]}}"#);
    let job: Value =
        serde_json::from_str(&s.curl(&["-X", "POST", "-d", &spec, &format!("{}/v1/jobs", s.url)])).unwrap();
    let id = job["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    let deliveries = loop {
        let d = s.get(&format!("/v1/jobs/{id}/deliveries"));
        if d[0]["state"] == "delivered" {
            break d;
        }
        assert!(Instant::now() < deadline, "never delivered: {d}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!((deliveries[0]["tries"].as_i64(), deliveries[0]["last_status"].as_i64()), (Some(3), Some(200)));
    let calls = got.lock().unwrap().clone();
    assert_eq!(calls.len(), 3, "two failures, then success");
    let tenant: Value = serde_json::from_str(&stdout(&s.env.berth(&["tenant", "show", "acme", "--json"]))).unwrap();
    let secret = tenant["webhook_secret"].as_str().unwrap();
    for (signature, body) in &calls {
        assert!(berth_core::secrets::verify_webhook(secret, signature, body.as_bytes()), "bad signature {signature}");
        let body: Value = serde_json::from_str(body).unwrap();
        assert_eq!((body["event"].as_str(), body["job"]["exit_code"].as_i64()), (Some("job.failed"), Some(7)));
    }
    assert_eq!(calls[0].1, calls[2].1, "every retry carries the same body");
    s.stop();
    s.env.assert_no_containers();
}

#[test]
fn sigterm_lets_short_jobs_finish_and_stops_the_rest_truthfully() {
    let mut s = Server::start(&["--shutdown-grace", "3s"]);
    let short = stdout(&s.berth(&["run", "-d", IMAGE, "sh", "-c", "sleep 1; echo done"])).trim().to_string();
    let long = stdout(&s.berth(&["run", "-d", IMAGE, "sleep", "300"])).trim().to_string();
    s.wait_status(&long, "running");
    s.wait_status(&short, "running");
    s.stop();
    let short = s.env.inspect(&short);
    let long = s.env.inspect(&long);
    assert_eq!(short["status"], "succeeded", "{short}");
    assert_eq!(long["reason_text"], "cancelled(worker-shutdown)", "{long}");
    s.env.assert_no_containers();
}

#[test]
fn ctrl_c_on_a_client_run_cancels_the_job_unless_told_not_to() {
    let mut s = Server::start(&[]);
    let child = s
        .client(&["run", IMAGE, "sh", "-c", "echo started; sleep 300"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let id = s.first_running();
    signal(&child, libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 130, "{}", stderr(&out));
    assert!(stdout(&out).contains("started"), "{}", stdout(&out));
    let job = s.wait_status(&id, "cancelled");
    assert!(job["reason_text"].as_str().unwrap().starts_with("cancelled(token:"), "{job}");
    s.env.assert_no_containers();
    // --no-cancel leaves it running.
    let child = s.client(&["run", "--no-cancel", IMAGE, "sleep", "300"]).spawn().unwrap();
    let id = s.first_running();
    signal(&child, libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(s.get(&format!("/v1/jobs/{id}"))["status"], "running");
    s.stop();
    s.env.assert_no_containers();
}

#[test]
fn a_tenant_limit_holds_its_jobs_in_the_queue() {
    let mut s = Server::start(&[]);
    let out = s.env.berth(&["tenant", "set", "acme", "--max-running", "1"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let first = stdout(&s.berth(&["run", "-d", IMAGE, "sleep", "300"])).trim().to_string();
    let second = stdout(&s.berth(&["run", "-d", IMAGE, "true"])).trim().to_string();
    s.wait_status(&first, "running");
    // Two free slots, but the tenant may run one job at a time.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(s.get(&format!("/v1/jobs/{second}"))["status"], "queued");
    s.berth(&["cancel", &first]);
    s.wait_status(&second, "succeeded");
    s.stop();
    s.env.assert_no_containers();
}

#[test]
fn a_server_killed_with_sigkill_loses_no_job_and_leaves_no_container() {
    let mut s = Server::start(&[]);
    // Prints on both streams all through the kill and the restart.
    let script = r#"echo before; i=0; while [ $i -lt 200 ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); sleep 0.02; done; echo after"#;
    let survivor = stdout(&s.berth(&["run", "-d", IMAGE, "sh", "-c", script])).trim().to_string();
    let doomed = stdout(&s.berth(&["run", "-d", IMAGE, "sleep", "300"])).trim().to_string();
    s.wait_status(&survivor, "running");
    s.wait_status(&doomed, "running");
    // Queued behind a tenant limit, so it is still queued when the server dies.
    s.env.berth(&["tenant", "set", "acme", "--max-running", "2"]);
    let queued = stdout(&s.berth(&["run", "-d", IMAGE, "true"])).trim().to_string();
    s.child.kill().unwrap();
    s.child.wait().unwrap();
    // One container dies with its server; the other keeps running.
    let name = format!("berth-{}-1", &doomed[..12]);
    assert!(Command::new("docker").args(["rm", "-f", &name]).status().unwrap().success());
    s.crash_and_restart(&[]);
    // The restarted server (same worker id) reattaches to the running container and reads
    // its output on; the job whose container is gone is lost; the queued job runs.
    let done = s.wait_status(&survivor, "succeeded");
    assert_eq!(done["attempts"], 1, "{done}");
    // Byte-exact: what was stored before the kill once, what came after it once.
    // Through the server as without one: stdout to stdout, stderr to stderr.
    let logs = s.berth(&["logs", &survivor]);
    let out: String = (0..200).map(|i| format!("out {i}\n")).collect();
    assert_eq!(stdout(&logs), format!("before\n{out}after\n"), "stdout, each byte once");
    let err: String = (0..200).map(|i| format!("err {i}\n")).collect();
    assert_eq!(stderr(&logs), err, "stderr, each byte once");
    let lost = s.wait_status(&doomed, "lost");
    assert_eq!(lost["reason_text"], "worker_lost");
    s.wait_status(&queued, "succeeded");
    s.stop();
    s.env.assert_no_containers();
}

#[test]
fn a_handover_leaves_jobs_running_for_the_next_start() {
    let mut s = Server::start(&[]);
    let id =
        stdout(&s.berth(&["run", "-d", IMAGE, "sh", "-c", "echo one; sleep 3; echo two; exit 5"])).trim().to_string();
    s.wait_status(&id, "running");
    signal(&s.child, libc::SIGUSR2);
    assert!(s.child.wait().unwrap().success());
    assert_eq!(s.env.containers().len(), 1, "the container outlives the handover");
    let (child, url) = spawn_server(&s.env, &[]);
    (s.child, s.url) = (child, url);
    let done = s.wait_status(&id, "failed");
    assert_eq!((done["exit_code"].as_i64(), done["attempts"].as_i64()), (Some(5), Some(1)), "{done}");
    assert_eq!(stdout(&s.berth(&["logs", &id])), "one\ntwo\n");
    s.stop();
    s.env.assert_no_containers();
}

#[test]
fn a_job_that_waits_past_its_queue_timeout_ends_timed_out() {
    let mut s = Server::start(&["--workers", "0"]);
    let spec = format!(r#"{{"image": "{IMAGE}", "timeouts": {{"queue": "1s"}}}}"#);
    let job: Value =
        serde_json::from_str(&s.curl(&["-X", "POST", "-d", &spec, &format!("{}/v1/jobs", s.url)])).unwrap();
    let id = job["id"].as_str().unwrap().to_string();
    let done = s.wait_status(&id, "timed_out");
    assert_eq!(done["reason_text"], "timed_out(queue)");
    s.stop();
    s.env.assert_no_containers();
}

/// A TCP proxy on 127.0.0.1 that cuts every connection `life` after it opened.
fn cutting_proxy(upstream: &str, life: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let upstream = upstream.trim_start_matches("http://").to_string();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(client) = conn else { continue };
            let Ok(server) = std::net::TcpStream::connect(&upstream) else { continue };
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (c3, s3) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || std::io::copy(&mut &client, &mut &server));
            std::thread::spawn(move || std::io::copy(&mut &s2, &mut &c2));
            std::thread::spawn(move || {
                std::thread::sleep(life);
                let _ = c3.shutdown(std::net::Shutdown::Both);
                let _ = s3.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    url
}

#[test]
fn berth_run_resumes_its_log_stream_when_the_connection_drops() {
    let mut s = Server::start(&[]);
    let proxy = cutting_proxy(&s.url, Duration::from_millis(700));
    let script = "for i in $(seq 1 40); do seq $((i*100-99)) $((i*100)); sleep 0.1; done";
    let out = s.client(&["run", IMAGE, "sh", "-c", script]).env("BERTH_SERVER", &proxy).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let want: String = (1..=4000).map(|n| format!("{n}\n")).collect();
    assert!(stdout(&out) == want, "lost or repeated lines: {} bytes, want {}", out.stdout.len(), want.len());
    let drops = stderr(&out).matches("resuming").count();
    assert!(drops >= 2, "the proxy must really cut the stream ({drops} drops): {}", stderr(&out));
    s.stop();
    s.env.assert_no_containers();
}

/// The README's "Many machines" section, literally: BERTH_STORE exported, a token created
/// against PostgreSQL, an API-only server and a worker on it (another node: its own data
/// dir), a job submitted with the token, and its result and artifact served by the server.
#[test]
fn the_readme_postgresql_section_works_as_written() {
    let mut env = TestEnv::new();
    env.store = Some(fresh_pg_store());
    let token = stdout(&env.berth(&["token", "create", "--tenant", "acme"])).trim().to_string();
    assert!(token.starts_with("berth_"), "{token}");
    let (server, url) = spawn_server(&env, &["--workers", "0"]);
    let other_node = tempfile::tempdir().unwrap();
    let mut worker = env.command(&["worker", "--slots", "2", "--queue", "default"]);
    worker.env("BERTH_DATA_DIR", other_node.path());
    let worker = worker.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null());
    let mut worker = worker.stderr(std::process::Stdio::null()).spawn().unwrap();
    let mut s = Server { env, child: server, url, token, notes: Vec::new() };
    let script =
        "echo hello from postgres; echo '[7]' > $BERTH_OUTPUT_DIR/result.json; printf bytes > $BERTH_OUTPUT_DIR/a.bin";
    let out = s.berth(&["run", IMAGE, "sh", "-c", script]);
    assert_eq!((code(&out), stdout(&out).as_str()), (0, "hello from postgres\n"), "{}", stderr(&out));
    let id = s.get("/v1/jobs?status=succeeded")["jobs"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(s.get(&format!("/v1/jobs/{id}/result")), serde_json::json!([7]));
    assert_eq!(s.curl(&[&format!("{}/v1/jobs/{id}/artifacts/a.bin", s.url)]), "bytes");
    assert_eq!(stdout(&s.berth(&["cp", &format!("{id}:a.bin"), "-"])), "bytes", "berth cp through the server");
    let workers: Value = serde_json::from_slice(&s.env.berth(&["workers", "--json"]).stdout).unwrap();
    let ids: Vec<&str> = workers.as_array().unwrap().iter().filter_map(|w| w["id"].as_str()).collect();
    assert!(ids.iter().any(|id| id.contains("-worker-")), "the worker registered in PostgreSQL: {workers}");
    let wrong = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer berth_nope"])
        .arg(format!("{}/v1/jobs", s.url))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&wrong.stdout), "401");
    signal(&worker, libc::SIGTERM);
    assert!(worker.wait().unwrap().success());
    s.stop();
    s.env.assert_no_containers();
}

/// Issue: three servers on one PostgreSQL each sent every webhook (62 calls for 40 jobs).
/// Deliveries are claimed now: each webhook is called once, whichever server sends it.
#[test]
fn three_servers_on_one_store_call_each_webhook_once() {
    let mut env = TestEnv::new();
    env.store = Some(fresh_pg_store());
    let token = stdout(&env.berth(&["token", "create", "--tenant", "acme"])).trim().to_string();
    let (hook, got) = receiver(0);
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes: Vec<(std::process::Child, String)> = dirs
        .iter()
        .map(|d| {
            let mut c = env.command(&["server", "--listen", "127.0.0.1:0", "--workers", "2"]);
            c.env("BERTH_DATA_DIR", d.path()).stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null());
            let mut child = c.stderr(std::process::Stdio::piped()).spawn().unwrap();
            let mut err = BufReader::new(child.stderr.take().unwrap());
            let mut line = String::new();
            err.read_line(&mut line).unwrap();
            let url = line.split_whitespace().find(|w| w.starts_with("http://")).unwrap().to_string();
            std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
            (child, url)
        })
        .collect();
    let jobs = 40;
    let spec = format!(r#"{{"image": "{IMAGE}", "command": ["true"], "notify": [{{"url": "{hook}"}}]}}"#);
    let auth = format!("Authorization: Bearer {token}");
    for i in 0..jobs {
        let url = format!("{}/v1/jobs", nodes[i % 3].1);
        let out = Command::new("curl").args(["-sS", "-H", &auth, "-d", &spec, &url]).output().unwrap();
        assert!(stdout(&out).contains("\"id\""), "{}", stdout(&out));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while got.lock().unwrap().len() < jobs {
        assert!(Instant::now() < deadline, "only {} of {jobs} webhooks arrived", got.lock().unwrap().len());
        std::thread::sleep(Duration::from_millis(200));
    }
    // Long enough for a second sender's duplicate to arrive, if one were coming.
    std::thread::sleep(Duration::from_secs(3));
    let calls = got.lock().unwrap().clone();
    let mut distinct: Vec<String> = calls
        .iter()
        .map(|(_, body)| serde_json::from_str::<Value>(body).unwrap()["job"]["id"].as_str().unwrap().to_string())
        .collect();
    distinct.sort();
    distinct.dedup();
    println!("webhooks: {} calls, {} distinct, for {jobs} jobs on 3 servers", calls.len(), distinct.len());
    assert_eq!((calls.len(), distinct.len()), (jobs, jobs));
    for (child, _) in &mut nodes {
        signal(child, libc::SIGTERM);
    }
    for (child, _) in &mut nodes {
        assert!(child.wait().unwrap().success());
    }
    env.assert_no_containers();
}

/// A cancel asked of a job that another node runs is carried out by that node: it stops the
/// container, the job's shutdown output is stored, and only then is the job `cancelled` (the
/// stream's `end` comes after the last line; no retry can start while the attempt runs).
#[test]
fn a_cancel_on_one_node_is_carried_out_by_the_node_running_the_job() {
    let mut env = TestEnv::new();
    env.store = Some(fresh_pg_store());
    let token = stdout(&env.berth(&["token", "create", "--tenant", "acme"])).trim().to_string();
    let (server, url) = spawn_server(&env, &["--workers", "0"]);
    let other_node = tempfile::tempdir().unwrap();
    let mut worker = env.command(&["worker", "--slots", "1", "--lease", "3s"]);
    worker.env("BERTH_DATA_DIR", other_node.path());
    let worker = worker.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null());
    let mut worker = worker.stderr(std::process::Stdio::null()).spawn().unwrap();
    let mut s = Server { env, child: server, url, token, notes: Vec::new() };
    let script = "trap 'echo stopping cleanly; exit 0' TERM; echo started; while true; do sleep 0.1; done";
    let id = stdout(&s.berth(&["run", "-d", IMAGE, "sh", "-c", script])).trim().to_string();
    s.wait_status(&id, "running");
    let asked: Value =
        serde_json::from_str(&s.curl(&["-X", "POST", &format!("{}/v1/jobs/{id}/cancel", s.url)])).unwrap();
    assert_eq!(asked["status"], "running", "the worker, not the API, ends it: {asked}");
    assert!(asked["cancel_requested"].as_str().unwrap().starts_with("token:"), "{asked}");
    // Followed to its end: the shutdown output is there before `end`.
    let out = s.berth(&["logs", "-f", &id]);
    assert!(stdout(&out).contains("started") && stdout(&out).contains("stopping cleanly"), "{}", stdout(&out));
    let job = s.wait_status(&id, "cancelled");
    assert_eq!(job["attempts"], 1, "{job}");
    assert!(job["reason_text"].as_str().unwrap().starts_with("cancelled(token:"), "{job}");
    signal(&worker, libc::SIGTERM);
    assert!(worker.wait().unwrap().success());
    s.stop();
    s.env.assert_no_containers();
}

/// Issue: a worker cut off from the store (its heartbeat hanging) went on running while
/// another node retried the job. Now its renewals time out, it stops the container before its
/// lease runs out, and the reaper waits the stop grace: the engine's own events show attempt 1
/// died before attempt 2 started.
#[test]
fn a_worker_cut_off_from_the_store_stops_its_job_before_another_node_retries_it() {
    let mut env = TestEnv::new();
    let store = fresh_pg_store();
    env.store = Some(store.clone());
    let since = stdout(&Command::new("date").arg("+%s").output().unwrap()).trim().to_string();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/util/pause_proxy.py");
    let mut proxy = Command::new("python3")
        .args([script, &port.to_string(), "5432"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    BufReader::new(proxy.stdout.take().unwrap()).read_line(&mut ready).unwrap();
    assert_eq!(ready.trim(), "ready");
    let token = stdout(&env.berth(&["token", "create", "--tenant", "acme"])).trim().to_string();
    let (server, url) = spawn_server(&env, &["--workers", "0"]);
    let mut s = Server { env, child: server, url, token, notes: Vec::new() };
    let worker = |id: &str, store_url: &str| {
        let dir = tempfile::tempdir().unwrap();
        let mut c = s.env.command(&["worker", "--slots", "1", "--lease", "3s", "--id", id]);
        c.env("BERTH_DATA_DIR", dir.path()).env("BERTH_STORE", store_url);
        let c = c.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null());
        (c.stderr(std::process::Stdio::null()).spawn().unwrap(), dir)
    };
    let (mut cut_off, _a) = worker("cut-off", &store.replace("127.0.0.1:5432", &format!("127.0.0.1:{port}")));
    let spec = format!(
        r#"{{"image": "{IMAGE}", "command": ["sleep", "6"], "timeouts": {{"stop_grace": "1s"}}, "retries": {{"max_attempts": 3, "delay": "0s"}}}}"#
    );
    let job: Value =
        serde_json::from_str(&s.curl(&["-X", "POST", "-d", &spec, &format!("{}/v1/jobs", s.url)])).unwrap();
    let id = job["id"].as_str().unwrap().to_string();
    let running = s.wait_status(&id, "running");
    assert_eq!(running["attempt_list"][0]["worker"], "cut-off", "{running}");
    let (mut healthy, _b) = worker("healthy", &store);
    signal(&proxy, libc::SIGUSR1); // the partition
    let done = s.wait_status(&id, "succeeded");
    signal(&proxy, libc::SIGUSR2);
    assert_eq!(done["attempt_list"][1]["worker"], "healthy", "{done}");
    // The engine's record of the job's containers: every die before the next start.
    let events = Command::new("docker")
        .args(["events", "--since", &since, "--until", "0s", "--filter", &format!("label=berth.job={id}")])
        .args(["--format", "{{.TimeNano}} {{.Status}} {{.Actor.Attributes.name}}"])
        .output()
        .unwrap();
    let lines: Vec<(u128, String, String)> = stdout(&events)
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.parse().ok()?, w.next()?.to_string(), w.next()?.to_string()))
        })
        .collect();
    let at = |status: &str, attempt: &str| {
        lines.iter().find(|(_, st, name)| st == status && name.ends_with(attempt)).map(|(t, _, _)| *t)
    };
    let (died, started) = (at("die", "-1"), at("start", "-2"));
    assert!(died.is_some() && started.is_some(), "{lines:?}");
    println!(
        "partition: attempt 1 died {} ms before attempt 2 started",
        (started.unwrap() - died.unwrap()) / 1_000_000
    );
    assert!(died < started, "two attempts ran at once: {lines:?}");
    for w in [&mut cut_off, &mut healthy] {
        signal(w, libc::SIGTERM);
        let _ = w.wait();
    }
    let _ = proxy.kill();
    let _ = proxy.wait();
    s.stop();
    s.env.assert_no_containers();
}

/// Retention removes the named volumes no job has mounted for longer than it.
#[test]
fn retention_removes_volumes_no_job_used_since() {
    // A leftover of an interrupted run belongs to another install, and would be refused.
    let _ = Command::new("docker")
        .args(["volume", "rm", "-f", &berth_core::volumes::scoped_name("acme", "scratch")])
        .output();
    let mut s = Server::start(&["--retention", "2s", "--gc-interval", "1s"]);
    let out = s.berth(&["run", "-v", "scratch:/s", IMAGE, "sh", "-c", "echo kept > /s/f"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let listed = s.get("/v1/volumes");
    assert_eq!(listed[0]["name"], "scratch", "{listed}");
    let engine_name = listed[0]["engine_name"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.get("/v1/volumes").as_array().is_some_and(|v| !v.is_empty()) {
        assert!(Instant::now() < deadline, "the unused volume was never removed");
        std::thread::sleep(Duration::from_millis(250));
    }
    let gone = Command::new("docker").args(["volume", "inspect", &engine_name]).output().unwrap();
    assert!(!gone.status.success(), "{engine_name} is still on the engine");
    s.stop();
    s.env.assert_no_containers();
}

/// `--backend auto` takes Docker when an engine answers and falls back to plain processes,
/// loudly, when none does; the registry shows each choice.
#[test]
fn backend_auto_says_what_it_chose_and_the_registry_shows_it() {
    let server = Server::start(&["--backend", "auto"]);
    assert!(
        server.notes.iter().any(|l| l.contains("--backend auto chose docker: a Docker engine answers")),
        "{:?}",
        server.notes
    );
    assert_eq!(server.worker_backend(), "docker");
    let mut env = TestEnv::new();
    env.vars.push(("DOCKER_HOST".into(), "unix:///nonexistent/docker.sock".into()));
    let bare = Server::start_in(env, &["--backend", "auto"]);
    let warned =
        bare.notes.iter().any(|l| l.contains("warning: --backend auto chose process: no Docker engine answers"));
    assert!(warned, "{:?}", bare.notes);
    assert_eq!(bare.worker_backend(), "process");
    server.env.assert_no_containers();
}
