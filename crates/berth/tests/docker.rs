//! End-to-end tests of `berth run` and friends against a real Docker engine and the local
//! test image. Every test ends by asserting that no container of its own install is left.

mod util;

use std::time::{Duration, Instant};

use util::{IMAGE, TestEnv, code, docker_inspect, signal, stderr, stdout};

#[test]
fn exit_codes_pass_through_and_are_recorded() {
    let t = TestEnv::new();
    let ok = t.berth(&["run", IMAGE, "true"]);
    assert_eq!(code(&ok), 0, "{}", stderr(&ok));
    let failed = t.berth(&["run", IMAGE, "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(code(&failed), 3);
    assert_eq!(stdout(&failed), "out\n");
    assert!(stderr(&failed).contains("err\n"));
    let ids = t.job_ids();
    let (newest, oldest) = (t.inspect(&ids[0]), t.inspect(&ids[1]));
    assert_eq!((newest["status"].as_str(), newest["reason_text"].as_str()), (Some("failed"), Some("exited(3)")));
    assert_eq!((oldest["status"].as_str(), oldest["reason_text"].as_str()), (Some("succeeded"), Some("exited(0)")));
    assert_eq!(newest["exit_code"], 3);
    let ledger = &newest["containers"][0];
    assert!(ledger["created_at"].is_number() && ledger["removed_at"].is_number(), "{ledger}");
    // berth wait on a finished job prints and exits with its code.
    let waited = t.berth(&["wait", &ids[0][..8]]);
    assert_eq!((code(&waited), stdout(&waited).trim()), (3, "3"));
    t.assert_no_containers();
}

#[test]
fn stdin_round_trips_from_the_terminal_and_from_a_spec() {
    let t = TestEnv::new();
    let input = b"line one\nline two\n\x00binary\xff tail";
    let out = t.berth_with_stdin(&["run", "-i", IMAGE, "cat"], input);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(out.stdout, input);
    let spec = t.write(
        "job.yaml",
        "image: berth-test/busybox:latest\ncommand: [cat]\nstdin: {json: {\"task\": \"sum\", \"numbers\": [1, 2]}}\n",
    );
    let out = t.berth(&["run", "-f", spec.to_str().unwrap()]);
    assert_eq!(stdout(&out), "{\"numbers\":[1,2],\"task\":\"sum\"}\n", "{}", stderr(&out));
    t.assert_no_containers();
}

#[test]
fn env_workdir_user_and_input_files_reach_the_container() {
    let t = TestEnv::new();
    let env_file = t.write("vars.env", "# comment\nFROM_FILE=file\nA=overridden-by-flag\n");
    let out = t.berth(&[
        "run",
        "--env-file",
        env_file.to_str().unwrap(),
        "-e",
        "A=flag",
        "-w",
        "/tmp",
        "-u",
        "1000:1000",
        IMAGE,
        "sh",
        "-c",
        "echo $A $FROM_FILE $BERTH_ATTEMPT; pwd; id -u",
    ]);
    assert_eq!(stdout(&out), "flag file 1\n/tmp\n1000\n", "{}", stderr(&out));
    let spec = t.write(
        "files.yaml",
        "image: berth-test/busybox:latest\ncommand: [/workspace/bin/run.sh]\nfiles:\n  - {path: bin/run.sh, content: \"#!/bin/sh\\necho from a file\\n\", mode: 0o755}\n",
    );
    let out = t.berth(&["run", "-f", spec.to_str().unwrap()]);
    assert_eq!(stdout(&out), "from a file\n", "{}", stderr(&out));
    t.assert_no_containers();
}

/// With the archive API (what a remote `DOCKER_HOST` gets), input files go in and outputs
/// come out without any host directory, for a non-root job on a read-only root filesystem.
#[test]
fn files_and_outputs_travel_through_the_archive_api_when_the_engine_is_not_local() {
    let t = TestEnv::new();
    let spec = t.write(
        "files.yaml",
        r#"image: berth-test/busybox:latest
command: [sh, -c, 'cat /workspace/conf/in.txt; id -u; echo "{\"ok\": true}" > $BERTH_OUTPUT_DIR/result.json; mkdir -p $BERTH_OUTPUT_DIR/d && printf abc > $BERTH_OUTPUT_DIR/d/art.bin']
user: "1000:1000"
read_only: true
files:
  - {path: conf/in.txt, content: "from the archive\n"}
"#,
    );
    let out =
        t.command(&["run", "-f", spec.to_str().unwrap()]).env("BERTH_DOCKER_TRANSFER", "archive").output().unwrap();
    assert_eq!((code(&out), stdout(&out).as_str()), (0, "from the archive\n1000\n"), "{}", stderr(&out));
    let job = t.only_job();
    assert_eq!(job["result"], serde_json::json!({"ok": true}));
    assert_eq!(job["artifacts"], serde_json::json!([{"attempt": 1, "name": "d/art.bin", "size": 3}]));
    let id = job["id"].as_str().unwrap();
    assert_eq!(stdout(&t.berth(&["cp", &format!("{id}:d/art.bin"), "-"])), "abc");
    assert!(!t.data_dir().join("staging").exists(), "no host directory was used");
    t.assert_no_containers();
}

#[test]
fn secure_defaults_are_in_force_inside_the_container() {
    let t = TestEnv::new();
    let out = t.berth(&[
        "run",
        IMAGE,
        "sh",
        "-c",
        "grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; cat /proc/1/cmdline | tr '\\0' ' '",
    ]);
    let text = stdout(&out);
    assert!(text.contains("CapEff:\t0000000000000000"), "{text}");
    assert!(text.contains("NoNewPrivs:\t1"), "{text}");
    assert!(text.contains("docker-init"), "pid 1 should be the init process: {text}");
    t.assert_no_containers();
}

#[test]
fn limits_are_applied_to_the_running_container_and_ctrl_c_cancels() {
    let t = TestEnv::new();
    let mut child = t.spawn(&[
        "run",
        "--cpus",
        "0.5",
        "-m",
        "64m",
        "--pids-limit",
        "50",
        "--read-only",
        "--tmpfs",
        "/scratch:size=8m",
        "--ulimit",
        "nofile=100:200",
        "--shm-size",
        "16m",
        "--network",
        "none",
        "-l",
        "team=qa",
        IMAGE,
        "sleep",
        "60",
    ]);
    let id = t.wait_running();
    let containers = t.containers();
    assert_eq!(containers.len(), 1);
    let c = docker_inspect(&containers[0]);
    let hc = &c["HostConfig"];
    assert_eq!(hc["NanoCpus"], 500_000_000);
    assert_eq!((hc["Memory"].as_i64(), hc["MemorySwap"].as_i64()), (Some(64 << 20), Some(64 << 20)));
    assert_eq!(hc["PidsLimit"], 50);
    assert_eq!(hc["ReadonlyRootfs"], true);
    assert_eq!(hc["ShmSize"], 16 << 20);
    assert_eq!(hc["NetworkMode"], "none");
    assert_eq!(hc["Ulimits"][0]["Name"], "nofile");
    assert_eq!(hc["CapDrop"][0], "ALL");
    assert_eq!(hc["SecurityOpt"][0], "no-new-privileges");
    assert_eq!(hc["Init"], true);
    assert!(
        hc["Mounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["Target"] == "/scratch" && m["TmpfsOptions"]["SizeBytes"] == 8 << 20)
    );
    let labels = &c["Config"]["Labels"];
    assert_eq!((labels["berth.job"].as_str(), labels["team"].as_str()), (Some(id.as_str()), Some("qa")));
    signal(&child, libc::SIGINT);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let job = t.inspect(&id);
    assert_eq!((job["status"].as_str(), job["reason_text"].as_str()), (Some("cancelled"), Some("cancelled(user)")));
    t.assert_no_containers();
}

#[test]
fn oom_is_reported_as_oom_killed() {
    let t = TestEnv::new();
    let out = t.berth(&["run", "-m", "16m", IMAGE, "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"]);
    assert_eq!(code(&out), 137, "{}", stderr(&out));
    let job = t.only_job();
    assert_eq!((job["status"].as_str(), job["reason_text"].as_str()), (Some("failed"), Some("oom_killed")));
    assert_eq!(job["exit_code"], 137);
    t.assert_no_containers();
}

#[test]
fn a_job_ignoring_sigterm_is_killed_after_the_grace_and_timed_out() {
    let t = TestEnv::new();
    let started = Instant::now();
    let out = t.berth(&[
        "run",
        "--timeout",
        "1s",
        "--stop-timeout",
        "1",
        IMAGE,
        "sh",
        "-c",
        "trap '' TERM; echo ready; while :; do sleep 1; done",
    ]);
    assert_eq!(code(&out), 124, "{}", stderr(&out));
    assert_eq!(stdout(&out), "ready\n");
    let job = t.only_job();
    assert_eq!((job["status"].as_str(), job["reason_text"].as_str()), (Some("timed_out"), Some("timed_out(run)")));
    let stopping = job["events"].as_array().unwrap().iter().any(|e| e["kind"] == "stopping");
    assert!(stopping, "a stopping event is recorded");
    // Not a timing assertion on speed: only that the 60 s loop did not run to its end.
    assert!(started.elapsed() < Duration::from_secs(50));
    t.assert_no_containers();
}

#[test]
fn two_hundred_thousand_lines_per_stream_arrive_complete_and_in_order() {
    let t = TestEnv::new();
    let script = r#"seq 1 200000 | awk '{ print "out " $1; print "err " $1 > "/dev/stderr" }'"#;
    let out = t.berth(&["run", IMAGE, "sh", "-c", script]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let want = |prefix: &str| (1..=200_000).map(|i| format!("{prefix} {i}\n")).collect::<String>();
    let (want_out, want_err) = (want("out"), want("err"));
    assert!(stdout(&out) == want_out, "live stdout differs");
    assert!(stderr(&out) == want_err, "live stderr differs");
    let id = &t.job_ids()[0];
    let stored = t.berth(&["logs", id]);
    assert!(stdout(&stored) == want_out, "stored stdout differs");
    assert!(stderr(&stored) == want_err, "stored stderr differs");
    t.assert_no_containers();
}

#[test]
fn the_log_cap_keeps_head_and_tail_with_a_marker_but_streams_everything_live() {
    let t = TestEnv::new();
    let out = t.berth(&["run", "--log-cap", "64k", IMAGE, "sh", "-c", "seq 1 100000"]);
    let all: String = (1..=100_000).map(|i| format!("{i}\n")).collect();
    assert!(stdout(&out) == all, "the terminal gets every byte");
    let id = &t.job_ids()[0];
    let stored = t.berth(&["logs", id]);
    let text = stdout(&stored);
    assert!(text.len() <= 64 << 10, "{} bytes stored", text.len());
    assert!(text.starts_with("1\n2\n3\n"));
    assert!(text.ends_with("99999\n100000\n"));
    let marker = stderr(&stored);
    let omitted = all.len() - text.len();
    assert!(marker.contains(&format!("[berth: {omitted} bytes of output omitted here")), "{marker}");
    t.assert_no_containers();
}

#[test]
fn result_artifacts_and_events_outlive_the_container() {
    let t = TestEnv::new();
    let script = r#"echo '{"berth":"progress","percent":40,"message":"halfway"}'
echo plain
echo '{"answer": 42}' > "$BERTH_OUTPUT_DIR/result.json"
mkdir -p "$BERTH_OUTPUT_DIR/reports" && echo report > "$BERTH_OUTPUT_DIR/reports/r.txt""#;
    let out = t.berth(&["run", IMAGE, "sh", "-c", script]);
    assert_eq!(stdout(&out), "plain\n", "event lines are not log lines: {}", stderr(&out));
    let job = t.only_job();
    assert_eq!(job["result"], serde_json::json!({"answer": 42}));
    assert_eq!(job["artifacts"], serde_json::json!([{"attempt": 1, "name": "reports/r.txt", "size": 7}]));
    let progress: Vec<_> = job["events"].as_array().unwrap().iter().filter(|e| e["kind"] == "progress").collect();
    assert_eq!(progress.len(), 1);
    assert_eq!(progress[0]["data"]["message"], "halfway");
    // The bytes live in the store, not in a directory of the container's.
    assert!(job.get("output_dir").is_none(), "{job}");
    let id = job["id"].as_str().unwrap();
    let cp = t.berth(&["cp", &format!("{}:reports/r.txt", &id[..8]), "-"]);
    assert_eq!((code(&cp), stdout(&cp).as_str()), (0, "report\n"), "{}", stderr(&cp));
    let dest = t.dir.path().join("copied");
    std::fs::create_dir(&dest).unwrap();
    assert_eq!(code(&t.berth(&["cp", &format!("{id}:reports/r.txt"), dest.to_str().unwrap()])), 0);
    assert_eq!(std::fs::read_to_string(dest.join("r.txt")).unwrap(), "report\n");
    let missing = t.berth(&["cp", &format!("{id}:nope"), "-"]);
    assert_eq!(code(&missing), 125);
    assert!(stderr(&missing).contains("has no artifact `nope`"), "{}", stderr(&missing));
    t.assert_no_containers();
}

/// `berth cancel` without a server goes through the store like the API: a job a local
/// `berth run` runs can only be stopped by that process, and the error says how.
#[test]
fn cancel_without_a_server_says_who_can_stop_a_running_job() {
    let t = TestEnv::new();
    let mut child = t.spawn(&["run", IMAGE, "sleep", "300"]);
    let id = t.wait_running();
    let out = t.berth(&["cancel", &id]);
    assert_eq!(code(&out), 125, "{}", stderr(&out));
    assert!(stderr(&out).contains("press Ctrl-C in its `berth run`"), "{}", stderr(&out));
    assert_eq!(t.inspect(&id)["status"], "running", "nothing changed");
    signal(&child, libc::SIGINT);
    let _ = child.wait();
    assert_eq!(t.inspect(&id)["reason_text"], "cancelled(user)");
    let again = t.berth(&["cancel", &id]);
    assert!(stderr(&again).contains("already ended"), "{}", stderr(&again));
    t.assert_no_containers();
}

#[test]
fn kill_9_of_berth_run_is_cleaned_up_by_the_next_command() {
    let t = TestEnv::new();
    let mut child = t.spawn(&["run", IMAGE, "sleep", "300"]);
    let id = t.wait_running();
    signal(&child, libc::SIGKILL);
    let _ = child.wait();
    assert_eq!(t.containers().len(), 1, "the container outlives a SIGKILLed berth");
    let dry = t.berth(&["gc", "--dry-run", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&dry.stdout).unwrap();
    assert_eq!(report["removed"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(t.containers().len(), 1, "a dry run removes nothing");
    // Any command that opens the store sweeps.
    let ps = t.berth(&["ps"]);
    assert!(ps.status.success());
    t.assert_no_containers();
    let job = t.inspect(&id);
    assert_eq!((job["status"].as_str(), job["reason_text"].as_str()), (Some("lost"), Some("worker_lost")));
    assert!(job["containers"][0]["removed_at"].is_number());
}

#[test]
fn bad_input_gets_a_clear_error_and_creates_nothing() {
    let t = TestEnv::new();
    let bad_spec = t.write("bad.yaml", "image: berth-test/busybox:latest\nresources: {memroy: 5m}\n");
    let cases: [(&[&str], &str); 5] = [
        (&["run", "Not/Valid:", "true"], "image: `Not/Valid:` is not an image reference"),
        (&["run", "-f", bad_spec.to_str().unwrap()], "resources.memroy: unknown field `memroy`"),
        (&["run", "-m", "-5m", IMAGE, "true"], "--memory: `-5m` is negative"),
        (
            &["run", "--pull", "never", "berth-test/absent:1", "true"],
            "image berth-test/absent:1 is not present and the pull policy is never",
        ),
        (
            &["run", "--privileged", IMAGE, "true"],
            "security.privileged: privileged containers are not allowed (refused by the local policy, rule `privileged`)",
        ),
    ];
    for (args, want) in cases {
        let out = t.berth(args);
        assert_eq!(code(&out), 125, "{args:?}");
        assert!(stderr(&out).contains(want), "{args:?}: {}", stderr(&out));
    }
    assert!(t.job_ids().is_empty(), "no job was recorded");
    t.assert_no_containers();
}

#[test]
fn rm_removes_finished_jobs_with_their_outputs() {
    let t = TestEnv::new();
    let out = t.berth(&["run", IMAGE, "sh", "-c", "echo x > $BERTH_OUTPUT_DIR/a"]);
    assert_eq!(code(&out), 0);
    let job = t.only_job();
    let id = job["id"].as_str().unwrap();
    assert_eq!(stdout(&t.berth(&["cp", &format!("{id}:a"), "-"])), "x\n");
    let rm = t.berth(&["rm", &id[..10]]);
    assert_eq!(stdout(&rm).trim(), id);
    assert!(t.job_ids().is_empty());
    let staging = t.data_dir().join("staging");
    assert!(std::fs::read_dir(&staging).map_or(true, |mut d| d.next().is_none()), "staging dirs are gone");
    let again = t.berth(&["rm", &id[..10]]);
    assert_eq!(code(&again), 1);
    assert!(stderr(&again).contains("no job matches"), "{}", stderr(&again));
    t.assert_no_containers();
}

#[test]
fn resource_use_is_recorded_for_a_job_that_runs_a_while() {
    let t = TestEnv::new();
    let out = t.berth(&["run", IMAGE, "sh", "-c", "dd if=/dev/zero bs=1M count=300 2>/dev/null | md5sum; sleep 3"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let job = t.only_job();
    let attempt = &job["attempt_list"][0];
    assert!(attempt["peak_memory_bytes"].as_u64().is_some_and(|m| m > 0), "{attempt}");
    assert!(attempt["cpu_seconds"].as_f64().is_some_and(|c| c > 0.0), "{attempt}");
    assert!(attempt["image_digest"].as_str().is_some_and(|d| d.contains("sha256:")), "{attempt}");
    t.assert_no_containers();
}

#[test]
fn a_gpu_request_without_a_gpu_runtime_fails_clearly_and_cleans_up() {
    let t = TestEnv::new();
    let runtimes =
        std::process::Command::new("docker").args(["info", "--format", "{{json .Runtimes}}"]).output().unwrap();
    let has_gpu_runtime = String::from_utf8_lossy(&runtimes.stdout).contains("nvidia");
    let out = t.berth(&["run", "--gpus", "all", IMAGE, "true"]);
    if has_gpu_runtime {
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    } else {
        assert_eq!(code(&out), 125);
        assert!(stderr(&out).contains("no GPU is available on this node"), "{}", stderr(&out));
        let job = t.only_job();
        assert_eq!(
            (job["status"].as_str(), job["reason_text"].as_str()),
            (Some("error"), Some("infra(gpu_unavailable)"))
        );
    }
    t.assert_no_containers();
}

#[test]
fn pulls_from_a_registry_with_credentials_and_says_when_they_are_missing() {
    let t = TestEnv::new();
    let registry = util::setup_var("BERTH_TEST_REGISTRY");
    let image = format!("{registry}/berth-test/busybox:latest");
    let out = t.berth(&["run", "--pull", "always", &image, "true"]);
    assert_eq!(code(&out), 125);
    assert!(stderr(&out).contains("the registry wants credentials"), "{}", stderr(&out));
    let (user, password) =
        (util::setup_var("BERTH_TEST_REGISTRY_USER"), util::setup_var("BERTH_TEST_REGISTRY_PASSWORD"));
    let spec = t.write(
        "pull.yaml",
        &format!("image: {image}\npull: always\ncommand: [echo, pulled]\nregistry_auth: {{username: {user}, password: {password}}}\n"),
    );
    let out = t.berth(&["run", "-f", spec.to_str().unwrap()]);
    assert_eq!((code(&out), stdout(&out).as_str()), (0, "pulled\n"), "{}", stderr(&out));
    let ids = t.job_ids();
    let job = t.inspect(&ids[0]);
    assert_eq!(job["spec"]["registry_auth"]["password"], "***", "secrets never come back");
    assert!(!serde_json::to_string(&job).unwrap().contains(&password));
    let failed = t.inspect(&ids[1]);
    assert_eq!(failed["reason_text"], "infra(pull_failed)");
    t.assert_no_containers();
}

#[test]
fn logs_follow_a_job_run_by_another_process_until_it_ends() {
    let t = TestEnv::new();
    let mut runner =
        t.spawn(&["run", IMAGE, "sh", "-c", "for i in 1 2 3 4 5; do echo line $i; echo err $i >&2; sleep 0.3; done"]);
    let id = t.wait_running();
    let follow = t.berth(&["logs", "-f", &id]);
    assert!(runner.wait().unwrap().success());
    assert_eq!(stdout(&follow), "line 1\nline 2\nline 3\nline 4\nline 5\n");
    assert_eq!(stderr(&follow), "err 1\nerr 2\nerr 3\nerr 4\nerr 5\n");
    let waited = t.berth(&["wait", &id]);
    assert_eq!((code(&waited), stdout(&waited).trim()), (0, "0"));
    t.assert_no_containers();
}

#[test]
fn the_sweep_removes_orphans_in_every_state_but_never_another_installs() {
    let t = TestEnv::new();
    assert!(t.berth(&["ps"]).status.success(), "creates the store");
    let (install, dead) = (t.install_id(), util::dead_owner());
    let created = util::docker_leftover(&install, &dead, &["create", IMAGE, "sleep", "60"]);
    let exited = util::docker_leftover(&install, &dead, &["run", "-d", IMAGE, "true"]);
    let running = util::docker_leftover(&install, &dead, &["run", "-d", IMAGE, "sleep", "60"]);
    let foreign = util::docker_leftover("another-install", &dead, &["run", "-d", IMAGE, "sleep", "60"]);
    std::process::Command::new("docker").args(["wait", &exited]).output().unwrap();
    let job = util::record_orphan_job(&t, &dead);
    let mine = t.containers();
    for c in [&created, &exited, &running] {
        assert!(mine.iter().any(|m| c.starts_with(m.as_str())), "{c} is labelled for this install");
    }
    let gc = t.berth(&["gc", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&gc.stdout).expect("gc --json");
    assert_eq!(report["removed"].as_array().map(Vec::len), Some(3), "{report}");
    assert_eq!(report["lost"], serde_json::json!([job]), "{report}");
    t.assert_no_containers();
    let still = docker_inspect(&foreign);
    assert_eq!(still["State"]["Running"], true, "another install's container is never touched");
    std::process::Command::new("docker").args(["rm", "-f", &foreign]).output().unwrap();
    let lost = t.inspect(&job);
    assert_eq!((lost["status"].as_str(), lost["reason_text"].as_str()), (Some("lost"), Some("worker_lost")));
}

#[test]
fn sigterm_to_berth_run_cancels_the_job_and_removes_its_container() {
    let t = TestEnv::new();
    let mut child = t.spawn(&["run", "--stop-timeout", "2", IMAGE, "sleep", "60"]);
    let id = t.wait_running();
    signal(&child, libc::SIGTERM);
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let job = t.inspect(&id);
    assert_eq!((job["status"].as_str(), job["reason_text"].as_str()), (Some("cancelled"), Some("cancelled(signal)")));
    t.assert_no_containers();
}

#[test]
fn logs_tail_starts_from_the_last_lines() {
    let t = TestEnv::new();
    assert_eq!(code(&t.berth(&["run", IMAGE, "seq", "1", "10"])), 0);
    let id = &t.job_ids()[0];
    assert_eq!(stdout(&t.berth(&["logs", "--tail", "3", id])), "8\n9\n10\n");
    assert_eq!(stdout(&t.berth(&["logs", "-n", "0", id])), "");
    t.assert_no_containers();
}

#[test]
fn secrets_policies_and_volumes_from_the_cli() {
    let t = TestEnv::new();
    let set = t.berth_with_stdin(&["secret", "set", "db_password"], b"pa55-w0rd-xyz\n");
    assert_eq!(code(&set), 0, "{}", stderr(&set));
    let ls = stdout(&t.berth(&["secret", "ls", "--json"]));
    assert!(ls.contains("db_password") && !ls.contains("pa55"), "{ls}");
    // The job gets the value without the trailing newline; what it prints is masked.
    let script = "echo \"got=$db_password\"; echo ${#db_password}; cat /run/secrets/db";
    let out = t.berth(&[
        "run",
        "--secret",
        "db_password",
        "--secret",
        "db_password=/run/secrets/db",
        IMAGE,
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "got=***\n13\n***", "{}", stderr(&out));
    let logs = stdout(&t.berth(&["logs", &t.job_ids()[0]]));
    assert!(!logs.contains("pa55") && logs.contains("got=***"), "{logs}");
    let missing = t.berth(&["run", "--secret", "nope", IMAGE, "true"]);
    assert!(stderr(&missing).contains("secrets[0].name: tenant local has no secret `nope`"), "{}", stderr(&missing));
    assert_eq!(code(&t.berth(&["secret", "rm", "db_password"])), 0);
    assert!(stdout(&t.berth(&["secret", "ls"])).lines().count() <= 1);

    // The policies: the local one allows bind mounts, a server's does not; a tenant override.
    let local = stdout(&t.berth(&["policy", "show", "--local"]));
    assert!(local.contains("# the local policy") && local.contains("bind_mounts = \"any\""), "{local}");
    let server = stdout(&t.berth(&["policy", "show"]));
    assert!(server.contains("bind_mounts = \"none\""), "{server}");
    let file = t.write("acme.toml", "cap_add = [\"NET_ADMIN\"]\n[ceilings]\ncpus = 1.5\n");
    let set = t.berth(&["tenant", "set", "acme", "--policy", file.to_str().unwrap(), "--max-running", "3"]);
    assert_eq!(code(&set), 0, "{}", stderr(&set));
    let acme = stdout(&t.berth(&["policy", "show", "--tenant", "acme"]));
    assert!(acme.contains("# tenant acme's policy") && acme.contains("cap_add = [\"NET_ADMIN\"]"), "{acme}");
    assert!(acme.contains("at most 3") && acme.contains("cpus = 1.5"), "{acme}");
    let bad = t.write("bad.toml", "bind_mount = \"any\"\n");
    let refused = t.berth(&["tenant", "set", "acme", "--policy", bad.to_str().unwrap()]);
    assert!(code(&refused) != 0 && stderr(&refused).contains("unknown field `bind_mount`"), "{}", stderr(&refused));

    // Local named volumes keep their plain names.
    let out = t.berth(&["run", "-v", "berth-cli-test-vol:/v", IMAGE, "true"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&t.berth(&["volume", "ls"])).contains("berth-cli-test-vol"));
    assert_eq!(code(&t.berth(&["volume", "rm", "berth-cli-test-vol"])), 0);
    t.assert_no_containers();
}

/// Docker habits: an unknown flag is named as a flag (exit 125, nothing run), `-it` without
/// a terminal is refused as Docker refuses it, `-t` gives the job one, and `--restart
/// on-failure:1` retries a failed job once.
#[test]
fn docker_run_habits_are_handled_or_refused_by_name() {
    let t = TestEnv::new();
    let out = t.berth(&["run", "--foo", IMAGE, "true"]);
    assert_eq!(code(&out), 125);
    assert!(stderr(&out).contains("unknown flag `--foo` for `berth run`"), "{}", stderr(&out));
    let out = t.berth(&["run", "-it", IMAGE, "sh"]);
    assert_eq!(code(&out), 125);
    assert!(stderr(&out).contains("the input device is not a TTY"), "{}", stderr(&out));
    assert!(t.job_ids().is_empty(), "a refused run made a job");
    let out = t.berth(&["run", "-t", IMAGE, "sh", "-c", "[ -t 1 ] && echo on-a-tty >&2"]);
    assert_eq!((code(&out), stdout(&out)), (0, "on-a-tty\r\n".to_string()), "one stream: {}", stderr(&out));
    let tty_job = t.job_ids()[0].clone();
    assert_eq!(code(&t.berth(&["rm", &tty_job])), 0);
    let out = t.berth(&["run", "--restart", "on-failure:1", "--rm", "--init", IMAGE, "sh", "-c", "echo try; exit 3"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert_eq!(stdout(&out), "try\ntry\n", "two attempts: {}", stderr(&out));
    let job = t.only_job();
    assert_eq!(job["attempt_list"].as_array().map(Vec::len), Some(2), "{job}");
    // ps: -l is the newest job in any state, --no-trunc its whole id, --filter narrows.
    let failed = job["id"].as_str().unwrap().to_string();
    let ps = |args: &[&str]| stdout(&t.berth(&[&["ps"], args].concat())).trim().to_string();
    assert_eq!(ps(&["-l", "-q", "--no-trunc"]), failed);
    assert_eq!(ps(&["-q", "--filter", "status=failed"]), failed[..12]);
    assert_eq!(ps(&["-aq", "--filter", "status=succeeded"]), "");
    let bad = t.berth(&["ps", "--filter", "colour=red"]);
    assert!(stderr(&bad).contains("`colour` is not a filter"), "{}", stderr(&bad));
    // The resolver, group, domain name and CPU set flags reach the container.
    let show = "grep -E 'search|options' /etc/resolv.conf; id -G; cat /proc/sys/kernel/domainname; grep Cpus_allowed_list /proc/self/status";
    let out = t.berth(&[
        "run",
        "-c",
        "512",
        "--cpuset-cpus",
        "0",
        "-m",
        "64m",
        "--memory-reservation",
        "32m",
        "--group-add",
        "29",
        "--dns-search",
        "example.internal",
        "--dns-option",
        "ndots:2",
        "--domainname",
        "example",
        IMAGE,
        "sh",
        "-c",
        show,
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "search example.internal\noptions ndots:2\n0 29\nexample\nCpus_allowed_list:\t0\n");
    // ps --filter since=/before= JOB: the jobs created after or before it, as in Docker.
    let newest = t.job_ids()[0].clone();
    assert_ne!(newest, failed);
    assert_eq!(ps(&["-aq", "--no-trunc", "--filter", &format!("since={}", &failed[..12])]), newest);
    assert_eq!(ps(&["-aq", "--no-trunc", "--filter", &format!("before={newest}")]), failed);
    let missing = t.berth(&["ps", "--filter", "since=ffffffffffff"]);
    assert!(stderr(&missing).contains("--filter since=ffffffffffff"), "{}", stderr(&missing));
    // Docker's finer cgroup flags reach the container's cgroup (cgroup v1 on these machines).
    let show = "cat /proc/self/oom_score_adj /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us \
                /sys/fs/cgroup/memory/memory.swappiness";
    let flags =
        ["--cpu-period", "100000", "--cpu-quota", "50000", "--memory-swappiness", "0", "--oom-score-adj", "300"];
    let out = t.berth(&[&["run"], &flags[..], &["--cpuset-mems", "0", IMAGE, "sh", "-c", show]].concat());
    assert_eq!((code(&out), stdout(&out).as_str()), (0, "300\n50000\n100000\n0\n"), "{}", stderr(&out));
    // Below 0 the score spares the job at the host's expense: the local policy refuses it by field.
    let spared = t.berth(&["run", "--oom-score-adj", "-500", IMAGE, "true"]);
    assert_ne!(code(&spared), 0);
    assert!(stderr(&spared).contains("resources.cgroup.oom_score_adj"), "{}", stderr(&spared));
    t.assert_no_containers();
}
