//! **The backend conformance suite**: one set of cases (exit codes, signals, OOM, timeouts
//! of a job that ignores SIGTERM, cancel with the spec's stop signal, stdin, env, input
//! files, result and artifacts, secrets, both log streams and the cap marker, progress events,
//! reattach, a TTY, attach and live exec) that every `Backend` runs through the engine and a real SQLite store, with
//! `backend_conformance_tests!(make, image)`. A case the backend's `Capabilities` rule out
//! is skipped by that flag, and says so; every case ends by checking that nothing of the
//! attempt is left (no unit, no staged files).

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)] // a failed call fails the test

pub mod cases;
pub mod live;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use berth_core::JobSpec;
use berth_core::backend::{Backend, NoProgress, OutputStream, StdinSource};
use berth_core::store::{JobRecord, LOCAL_TENANT, LogChunk};
use berth_core::vault::LocalKey;
use berth_engine::Runner;
use berth_engine::attempt::{AttemptIo, AttemptObserver};
use berth_engine::cancel::Cancel;
use berth_engine::paths::DataPaths;
use berth_store_sqlite::SqliteStore;

pub use tempfile;

/// One `#[tokio::test]` per case. `$make` is an `async fn(staging: PathBuf) -> Arc<dyn
/// Backend>` (the directory the backend may stage files in); `$image` runs `sh`; `after =
/// $after`, an `async fn(staging: PathBuf)`, checks what the backend's own cleanup left
/// (called with the same staging dir, after `assert_clean`).
#[macro_export]
macro_rules! backend_conformance_tests {
    ($make:path, $image:expr) => {
        $crate::backend_conformance_tests!($make, $image, after = $crate::nothing_after);
    };
    ($make:path, $image:expr, after = $after:path) => {
        $crate::backend_conformance_tests!(@each $make, $image, $after; exit_codes_are_outcomes a_killed_job_is_signaled
            an_oom_kill_is_reported a_job_that_ignores_sigterm_is_killed_after_the_grace
            cancel_sends_the_specs_stop_signal stdin_is_fed_and_closed env_reaches_the_job
            input_files_result_and_artifacts_round_trip both_streams_are_kept_in_order_with_the_cap_marker
            progress_lines_become_events_not_logs a_detached_unit_is_reattached_to_its_end
            a_unit_left_by_a_dead_worker_is_found_and_stopped_by_the_next
            secrets_reach_the_job_and_never_its_log a_tty_job_has_one_stream_and_the_terminals_size a_running_job_is_joined_and_runs_live_commands
            a_detached_tty_job_is_reattached_byte_exact);
    };
    (@each $make:path, $image:expr, $after:path; $($case:ident)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let dir = $crate::tempfile::tempdir().unwrap();
                let dir_path = dir.path().to_path_buf();
                let backend = $make(dir.path().join("staging")).await;
                let next = $make(dir.path().join("staging")).await;
                let h = $crate::Harness::new(backend, next, $image, dir).await;
                $crate::cases::$case(&h).await;
                h.assert_clean().await;
                $after(dir_path.join("staging")).await;
            }
        )*
    };
}

/// The default `after` check of `backend_conformance_tests!`: nothing beyond `assert_clean`.
pub async fn nothing_after(_staging: PathBuf) {}

/// A runner over a fresh SQLite store and the backend under test.
pub struct Harness {
    pub runner: Runner,
    /// Another instance of the backend on the same staging dir: what the next run of a
    /// worker that died would have.
    pub next: Arc<dyn Backend>,
    pub image: String,
    staging: PathBuf,
    _dir: tempfile::TempDir,
}

impl Harness {
    pub async fn new(
        backend: Arc<dyn Backend>,
        next: Arc<dyn Backend>,
        image: &str,
        dir: tempfile::TempDir,
    ) -> Harness {
        let store = Arc::new(SqliteStore::open(&dir.path().join("berth.db")).await.unwrap());
        let keys = LocalKey::from_hex(&LocalKey::generate_hex()).unwrap();
        let builder = Runner::builder(store, backend, DataPaths::new(dir.path())).secret_keys(Arc::new(keys));
        let runner = builder.build().await.unwrap();
        Harness { runner, next, image: image.to_string(), staging: dir.path().join("staging"), _dir: dir }
    }

    pub fn sh(&self, script: &str) -> JobSpec {
        let mut spec = JobSpec::new(&self.image);
        spec.command = Some(vec!["sh".into(), "-c".into(), script.into()]);
        spec
    }

    /// Submits and runs one job to its end.
    pub async fn run(&self, spec: JobSpec, stdin: StdinSource) -> JobRecord {
        self.run_watched(spec, stdin, Arc::new(Watch::default()), &Cancel::new()).await
    }

    pub async fn run_watched(
        &self,
        spec: JobSpec,
        stdin: StdinSource,
        observer: Arc<dyn AttemptObserver>,
        cancel: &Cancel,
    ) -> JobRecord {
        let job = self.runner.submit(spec).await.unwrap();
        let io = AttemptIo { observer, pull: Arc::new(NoProgress), stdin };
        self.runner.run_attempt(&job, io, cancel).await.unwrap()
    }

    pub async fn logs(&self, job: &JobRecord) -> Vec<LogChunk> {
        self.runner.store().read_logs(&job.id, -1, 100_000).await.unwrap()
    }

    /// The stored output of one stream, as text.
    pub async fn text(&self, job: &JobRecord, stream: berth_core::store::LogStream) -> String {
        let chunks = self.logs(job).await;
        chunks.iter().filter(|c| c.stream == stream).map(|c| String::from_utf8_lossy(&c.data).into_owned()).collect()
    }

    /// Stores secret `name` for the local tenant (the one `Runner::submit` uses).
    pub async fn put_secret(&self, name: &str, value: &[u8]) {
        let keys = self.runner.secret_keys().unwrap();
        let sealed = keys.seal(LOCAL_TENANT, name, value);
        self.runner.store().put_secret(LOCAL_TENANT, name, &sealed, self.runner.clock().now()).await.unwrap();
    }

    pub fn caps(&self) -> berth_core::backend::Capabilities {
        self.runner.backend().capabilities()
    }

    /// Says (in the test output) that a case does not apply to this backend.
    pub fn skip(&self, why: &str) {
        eprintln!("skipped on the {} backend: {why}", self.runner.backend().name());
    }

    /// Nothing of any attempt is left: no unit on the backend, no staged files.
    pub async fn assert_clean(&self) {
        let units = self.runner.backend().list_units(self.runner.install_id()).await.unwrap();
        assert!(units.is_empty(), "units left behind: {units:?}");
        let staged = std::fs::read_dir(&self.staging).map(|d| d.count()).unwrap_or(0);
        assert_eq!(staged, 0, "staged files left in {}", self.staging.display());
        let jobs = self.runner.store().list_jobs(&Default::default()).await.unwrap();
        assert!(jobs.iter().all(|j| j.status.is_terminal()), "every job ended: {jobs:?}");
    }
}

/// Records output as it arrives; cancels or detaches once a line is seen.
#[derive(Default)]
pub struct Watch {
    seen: Mutex<String>,
    pub on_line: Option<(String, Cancel, Action)>,
}

#[derive(Clone, Copy, Debug)]
pub enum Action {
    Cancel,
    Detach,
}

impl Watch {
    pub fn on(line: &str, cancel: &Cancel, action: Action) -> Watch {
        Watch { seen: Mutex::default(), on_line: Some((line.to_string(), cancel.clone(), action)) }
    }
}

impl AttemptObserver for Watch {
    fn output(&self, _stream: OutputStream, data: &[u8]) {
        let Ok(mut seen) = self.seen.lock() else { return };
        seen.push_str(&String::from_utf8_lossy(data));
        if let Some((line, cancel, action)) = &self.on_line
            && seen.contains(line.as_str())
        {
            match action {
                Action::Cancel => cancel.cancel("conformance"),
                Action::Detach => cancel.detach(),
            }
        }
    }
}
