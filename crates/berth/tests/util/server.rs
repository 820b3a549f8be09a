//! `berth server` as the end-to-end tests run it: the real binary on 127.0.0.1:0 with its own
//! data dir, driven by the CLI in client mode and by curl, stopped (with its containers) on
//! drop.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{TestEnv, signal, stdout};

pub struct Server {
    pub env: TestEnv,
    pub child: Child,
    pub url: String,
    /// An `acme` tenant's token.
    pub token: String,
    /// What the server said on stderr before it listened (e.g. `--backend auto`'s choice).
    pub notes: Vec<String>,
}

impl Server {
    pub fn start(extra: &[&str]) -> Server {
        Server::start_in(TestEnv::new(), extra)
    }

    /// `start` in a prepared environment (a config file, variables).
    pub fn start_in(env: TestEnv, extra: &[&str]) -> Server {
        let token = stdout(&env.berth(&["token", "create", "--tenant", "acme"])).trim().to_string();
        assert!(token.starts_with("berth_"), "{token}");
        let (child, url, notes) = spawn_server_noting(&env, extra);
        Server { env, child, url, token, notes }
    }

    /// Kills the server with SIGKILL (no clean-up at all) and starts a new one on the same data.
    pub fn crash_and_restart(&mut self, extra: &[&str]) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let (child, url) = spawn_server(&self.env, extra);
        self.child = child;
        self.url = url;
    }

    /// The CLI in client mode.
    pub fn berth(&self, args: &[&str]) -> Output {
        self.client(args).output().unwrap()
    }

    pub fn client(&self, args: &[&str]) -> Command {
        let mut c = self.env.command(args);
        c.env("BERTH_SERVER", &self.url).env("BERTH_TOKEN", &self.token).stdin(std::process::Stdio::null());
        c
    }

    pub fn curl(&self, args: &[&str]) -> String {
        let auth = format!("Authorization: Bearer {}", self.token);
        let out = Command::new("curl").args(["-sS", "-H", &auth]).args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn get(&self, path: &str) -> Value {
        let body = self.curl(&[&format!("{}{path}", self.url)]);
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
    }

    /// The id of the newest running job, once there is one.
    pub fn first_running(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let page = self.get("/v1/jobs?status=running");
            if let Some(id) = page["jobs"][0]["id"].as_str() {
                return id.to_string();
            }
            assert!(Instant::now() < deadline, "no job started running");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn wait_status(&self, id: &str, want: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let job = self.get(&format!("/v1/jobs/{id}"));
            if job["status"] == want {
                return job;
            }
            assert!(Instant::now() < deadline, "job never became {want}: {job}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The backend its worker registered (the first heartbeat comes just after it listens).
    pub fn worker_backend(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let workers = self.get("/v1/workers");
            if let Some(backend) = workers[0]["backend"].as_str() {
                return backend.to_string();
            }
            assert!(Instant::now() < deadline, "no worker registered: {workers}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server with SIGTERM (a graceful drain); it must exit cleanly.
    pub fn stop(&mut self) {
        signal(&self.child, libc::SIGTERM);
        let status = self.child.wait().unwrap();
        assert!(status.success(), "server exit: {status:?}");
    }
}

/// A test that failed before `stop` still stops its server (and so its containers).
impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            signal(&self.child, libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(20);
            while let Ok(None) = self.child.try_wait() {
                if Instant::now() > deadline {
                    let _ = self.child.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

pub fn spawn_server(env: &TestEnv, extra: &[&str]) -> (Child, String) {
    let (child, url, _) = spawn_server_noting(env, extra);
    (child, url)
}

/// `spawn_server`, with the lines the server printed before the one with its address.
pub fn spawn_server_noting(env: &TestEnv, extra: &[&str]) -> (Child, String, Vec<String>) {
    let mut args = vec!["server", "--listen", "127.0.0.1:0"];
    if !extra.contains(&"--workers") {
        args.extend(["--workers", "2"]);
    }
    args.extend_from_slice(extra);
    let mut child = env.spawn(&args);
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut notes = Vec::new();
    let url = loop {
        let mut line = String::new();
        assert!(err.read_line(&mut line).unwrap() > 0, "the server ended before it listened: {notes:?}");
        if let Some(url) = line.split_whitespace().find(|w| w.starts_with("http://")) {
            break url.to_string();
        }
        notes.push(line.trim_end().to_string());
    };
    // Keep draining the server's stderr so it never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    (child, url, notes)
}
