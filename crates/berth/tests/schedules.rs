//! Schedules end to end: a real `berth server` firing a schedule whose containers run and
//! are removed, and two servers on one PostgreSQL firing an every-second schedule for a
//! minute while one of them is killed with SIGKILL and restarted (exactly one job per due
//! time, none missing while a scheduler was alive).

#![allow(clippy::unwrap_used)]

mod util;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use util::server::{Server, spawn_server};
use util::{IMAGE, TestEnv, fresh_pg_store, signal, stderr, stdout};

fn curl(url: &str, token: &str, args: &[&str]) -> Value {
    let auth = format!("Authorization: Bearer {token}");
    let out = Command::new("curl")
        .args(["-sS", "-H", &auth, "-H", "content-type: application/json"])
        .args(args)
        .arg(url)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{url}: {e}: {}", stdout(&out)))
}

/// Every job the schedule made, oldest due time first.
fn schedule_jobs(url: &str, token: &str, id: &str) -> Vec<Value> {
    let mut jobs = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = curl(&format!("{url}/v1/schedules/{id}/jobs?limit=500{cursor}"), token, &[]);
        jobs.extend(page["jobs"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    jobs.sort_by_key(|j| j["scheduled_at"].as_i64().unwrap());
    jobs
}

fn wait_all_ended(url: &str, token: &str, id: &str, within: Duration) -> Vec<Value> {
    let deadline = Instant::now() + within;
    loop {
        let jobs = schedule_jobs(url, token, id);
        let open = jobs.iter().filter(|j| j["finished_at"].is_null()).count();
        if open == 0 {
            return jobs;
        }
        assert!(Instant::now() < deadline, "{open} of the schedule's jobs never ended");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn a_schedule_runs_its_jobs_in_containers_that_are_removed() {
    let mut s = Server::start(&[]);
    let add = s.berth(&[
        "schedule",
        "add",
        "tick",
        "--cron",
        "* * * * * *",
        "--overlap",
        "allow",
        "--json",
        "--",
        IMAGE,
        "sh",
        "-c",
        "echo due $BERTH_SCHEDULED_AT from $BERTH_SCHEDULE",
    ]);
    assert!(add.status.success(), "{}", stderr(&add));
    let made: Value = serde_json::from_str(&stdout(&add)).unwrap();
    let id = made["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    while schedule_jobs(&s.url, &s.token, &id).iter().filter(|j| j["status"] == "succeeded").count() < 3 {
        assert!(Instant::now() < deadline, "the schedule's jobs did not run");
        std::thread::sleep(Duration::from_millis(200));
    }
    let paused = s.berth(&["schedule", "pause", "tick", "--reason", "test over"]);
    assert!(paused.status.success(), "{}", stderr(&paused));
    let jobs = wait_all_ended(&s.url, &s.token, &id, Duration::from_secs(60));
    let first = &jobs[0];
    assert_eq!(first["status"], "succeeded", "{first}");
    let at = first["labels"]["berth.scheduled-at"].as_str().unwrap();
    let logs = s.berth(&["logs", first["id"].as_str().unwrap()]);
    assert_eq!(stdout(&logs).trim(), format!("due {at} from tick"));
    let show = s.berth(&["schedule", "show", "tick"]);
    assert!(stdout(&show).contains("paused    since"), "{}", stdout(&show));
    let metrics = Command::new("curl").args(["-sS", &format!("{}/metrics", s.url)]).output().unwrap();
    let metrics = stdout(&metrics);
    assert!(metrics.contains("berth_schedules{state=\"paused\"} 1"), "{metrics}");
    assert!(metrics.contains("berth_schedule_fire_lag_seconds_count"), "{metrics}");
    s.stop();
    s.env.assert_no_containers();
}

/// The issue's two-server run: server A is SIGKILLed 20 s in and restarted 5 s later; B
/// lives throughout, so every due time between the first and the last has exactly one job.
#[test]
fn two_servers_on_one_store_fire_each_due_time_once_while_one_is_killed() {
    let store = fresh_pg_store();
    let mut a_env = TestEnv::new();
    a_env.store = Some(store.clone());
    let mut b_env = TestEnv::new();
    b_env.store = Some(store);
    let token = stdout(&a_env.berth(&["token", "create", "--tenant", "acme"])).trim().to_string();
    let (mut a, a_url) = spawn_server(&a_env, &[]);
    let (mut b, b_url) = spawn_server(&b_env, &[]);
    let body = format!(
        r#"{{"name": "every-second", "cron": "* * * * * *", "overlap": "allow", "spec": {{"image": "{IMAGE}", "command": ["true"]}}}}"#
    );
    let made = curl(&format!("{a_url}/v1/schedules"), &token, &["-d", &body]);
    let id = made["id"].as_str().unwrap_or_else(|| panic!("{made}")).to_string();
    std::thread::sleep(Duration::from_secs(20));
    a.kill().unwrap();
    a.wait().unwrap();
    std::thread::sleep(Duration::from_secs(5));
    let (a2, _) = spawn_server(&a_env, &[]);
    a = a2;
    std::thread::sleep(Duration::from_secs(35));
    let paused = curl(&format!("{b_url}/v1/schedules/{id}/pause"), &token, &["-X", "POST"]);
    assert_eq!(paused["state"], "paused", "{paused}");
    let jobs = wait_all_ended(&b_url, &token, &id, Duration::from_secs(120));
    let mut lags: Vec<i64> =
        jobs.iter().map(|j| j["created_at"].as_i64().unwrap() - j["scheduled_at"].as_i64().unwrap()).collect();
    lags.sort_unstable();
    println!(
        "fire lag (job made after its due time): median {} ms, p90 {} ms, max {} ms",
        lags[lags.len() / 2],
        lags[lags.len() * 9 / 10],
        lags[lags.len() - 1]
    );
    let mut due: Vec<i64> = jobs.iter().map(|j| j["scheduled_at"].as_i64().unwrap()).collect();
    let made_jobs = due.len();
    due.dedup();
    let (first, last) = (due[0], due[due.len() - 1]);
    let expected = ((last - first) / 1000 + 1) as usize;
    let gaps = expected - due.len();
    println!(
        "two servers, one SIGKILLed and restarted: {expected} due times, {made_jobs} jobs, {} duplicates, {gaps} gaps",
        made_jobs - due.len()
    );
    assert_eq!((made_jobs - due.len(), gaps), (0, 0), "duplicates and gaps");
    assert!(expected >= 50, "only {expected} due times in a minute");
    assert!(due.iter().all(|d| d % 1000 == 0), "due times are whole seconds");
    let ended_badly: Vec<&Value> = jobs.iter().filter(|j| j["status"] != "succeeded").collect();
    assert!(ended_badly.len() <= 4, "jobs of the killed server may be retried, not lost: {ended_badly:?}");
    for child in [&mut a, &mut b] {
        signal(child, libc::SIGTERM);
    }
    for child in [&mut a, &mut b] {
        assert!(child.wait().unwrap().success());
    }
    a_env.assert_no_containers();
}
