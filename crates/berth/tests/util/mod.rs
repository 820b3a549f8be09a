//! Shared helpers for the end-to-end tests: a private data dir per test, running the real
//! `berth` binary, reading its JSON, and the leak check every Docker test ends with.

#![allow(dead_code, clippy::unwrap_used)] // test helpers: a failed call should fail the test

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use berth_core::store::JobStore;

pub mod server;

/// The image scripts/test builds from Debian's static busybox.
pub const IMAGE: &str = "berth-test/busybox:latest";

pub struct TestEnv {
    pub dir: tempfile::TempDir,
    /// `BERTH_STORE` for every command (a PostgreSQL URL), or the embedded store.
    pub store: Option<String>,
    /// More variables for every command.
    pub vars: Vec<(String, String)>,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        assert!(
            Command::new("docker")
                .arg("info")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success()),
            "no Docker engine answers: run ./scripts/test, which installs and starts one"
        );
        TestEnv { dir: tempfile::tempdir().expect("tempdir"), store: None, vars: Vec::new() }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
        c.args(args)
            .env("BERTH_DATA_DIR", self.data_dir())
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env_remove("BERTH_CONFIG")
            .env("NO_COLOR", "1")
            .env_remove("BERTH_SERVER")
            .env_remove("BERTH_STORE");
        if let Some(store) = &self.store {
            c.env("BERTH_STORE", store);
        }
        c.envs(self.vars.iter().map(|(k, v)| (k, v)));
        c
    }

    /// Runs berth to completion with no stdin.
    pub fn berth(&self, args: &[&str]) -> Output {
        self.command(args).stdin(Stdio::null()).output().expect("running berth")
    }

    /// Runs berth with `input` on stdin.
    pub fn berth_with_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        use std::io::Write;
        let mut child =
            self.command(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input).unwrap();
        drop(stdin);
        child.wait_with_output().unwrap()
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        p
    }

    /// `berth inspect` of a job as JSON.
    pub fn inspect(&self, id: &str) -> serde_json::Value {
        let out = self.berth(&["inspect", id]);
        assert!(out.status.success(), "inspect failed: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).expect("inspect prints JSON")
    }

    /// The ids of all jobs, newest first.
    pub fn job_ids(&self) -> Vec<String> {
        let out = self.berth(&["ps", "-a", "-q", "--no-trunc"]);
        assert!(out.status.success(), "ps failed: {}", stderr(&out));
        stdout(&out).lines().map(str::to_string).collect()
    }

    /// The only job this test made.
    pub fn only_job(&self) -> serde_json::Value {
        let ids = self.job_ids();
        assert_eq!(ids.len(), 1, "expected one job, found {ids:?}");
        self.inspect(&ids[0])
    }

    /// Waits until some job of this env is running; returns its id.
    pub fn wait_running(&self) -> String {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            if let Some(id) = self.job_ids().first()
                && self.inspect(id)["status"] == "running"
            {
                return id.clone();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("no job started running within 60 s");
    }

    pub fn install_id(&self) -> String {
        if let Some(store) = &self.store {
            let sql = "SELECT value FROM meta WHERE key = 'install_id'";
            let out = Command::new("psql").args([store.as_str(), "-tAc", sql]).output().unwrap();
            let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
            assert!(
                out.status.success() && id.len() == 16,
                "no install id in {store}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return id;
        }
        let db = self.data_dir().join("berth.db");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let store = berth_store_sqlite::SqliteStore::open(&db).await.unwrap();
            store.install_id().await.unwrap()
        })
    }

    /// Containers of this env's install, in any state.
    pub fn containers(&self) -> Vec<String> {
        let filter = format!("label=berth.install={}", self.install_id());
        let out = Command::new("docker").args(["ps", "-aq", "--filter", &filter]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
    }

    /// Every Docker test ends here: nothing berth created for this test is left.
    pub fn assert_no_containers(&self) {
        let left = self.containers();
        assert!(left.is_empty(), "containers left behind: {left:?}");
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub fn docker_inspect(id: &str) -> serde_json::Value {
    let out = Command::new("docker").args(["inspect", id]).output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v[0].clone()
}

/// Sends a signal to a child process.
pub fn signal(child: &Child, sig: i32) {
    // The child is ours and alive; kill(2) on its pid is the whole point.
    let rc = unsafe_kill(child.id() as i32, sig);
    assert_eq!(rc, 0, "kill failed");
}

#[allow(unsafe_code)]
fn unsafe_kill(pid: i32, sig: i32) -> i32 {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(pid, sig) }
}

/// A setting scripts/test exports for the tests (e.g. the local registry's address).
#[allow(clippy::disallowed_methods)] // tests read what scripts/test set up
pub fn setup_var(key: &str) -> String {
    std::env::var(key)
        .unwrap_or_else(|_| panic!("{key} is not set: run ./scripts/test, which starts what this test needs"))
}

/// An owner token for this host whose process does not exist (pid above any pid_max).
pub fn dead_owner() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    format!("{}:4194303:1", host.trim())
}

/// Starts a container by hand with berth's labels, as a crashed berth would have left it.
pub fn docker_leftover(install: &str, owner: &str, how: &[&str]) -> String {
    let labels = [
        "--label".to_string(),
        "berth.managed=true".to_string(),
        "--label".to_string(),
        format!("berth.install={install}"),
        "--label".to_string(),
        format!("berth.owner={owner}"),
    ];
    let out = Command::new("docker").args(&how[..1]).args(&labels).args(&how[1..]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Records a job in the env's store directly, as a `berth run` that died early would have.
pub fn record_orphan_job(env: &TestEnv, owner: &str) -> String {
    use berth_core::store::NewJob;
    let db = env.data_dir().join("berth.db");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let store = berth_store_sqlite::SqliteStore::open(&db).await.unwrap();
        let id = berth_core::JobId::generate();
        let job = NewJob::new(
            id.clone(),
            berth_core::JobSpec::new(IMAGE),
            Some(owner.to_string()),
            berth_core::clock::Timestamp(1),
        );
        store.create_job(job).await.unwrap();
        id.to_string()
    })
}

/// A fresh schema in the test database (`BERTH_TEST_PG`), as a store URL that uses it.
pub fn fresh_pg_store() -> String {
    let base = setup_var("BERTH_TEST_PG");
    let schema = format!("e2e_{}", uuid::Uuid::new_v4().simple());
    let out = Command::new("psql").args([&base, "-qc", &format!("CREATE SCHEMA {schema}")]).output().unwrap();
    assert!(out.status.success(), "psql: {}", String::from_utf8_lossy(&out.stderr));
    format!("{base}?options=-csearch_path%3D{schema}")
}
