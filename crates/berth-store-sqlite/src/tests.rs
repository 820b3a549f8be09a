//! Store behaviour tests against a real SQLite file. These are the seed of the conformance
//! suite the PostgreSQL store will share.

use berth_core::JobSpec;
use berth_core::clock::Timestamp;
use berth_core::ids::JobId;
use berth_core::status::{JobStatus, Reason};
use berth_core::store::*;

use crate::SqliteStore;

async fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("berth.db")).await.unwrap();
    (dir, s)
}

async fn new_job(s: &SqliteStore) -> JobRecord {
    s.create_job(NewJob::new(JobId::generate(), JobSpec::new("busybox"), None, Timestamp(1))).await.unwrap()
}

#[tokio::test]
async fn reopening_keeps_the_install_id_and_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/berth.db");
    let a = SqliteStore::open(&path).await.unwrap();
    let id = a.install_id().await.unwrap();
    drop(a);
    let b = SqliteStore::open(&path).await.unwrap();
    assert_eq!(b.install_id().await.unwrap(), id);
    assert_eq!(id.len(), 16);
}

#[tokio::test]
async fn jobs_follow_the_lifecycle() {
    let (_d, s) = store().await;
    let job = new_job(&s).await;
    assert_eq!(job.status, JobStatus::Queued);
    s.set_status(&job.id, StatusChange::to(JobStatus::Starting, Timestamp(2))).await.unwrap();
    let running = s.set_status(&job.id, StatusChange::to(JobStatus::Running, Timestamp(3))).await.unwrap();
    assert_eq!(running.started_at, Some(Timestamp(3)));
    let err = s.set_status(&job.id, StatusChange::to(JobStatus::Starting, Timestamp(4))).await.unwrap_err();
    assert!(matches!(err, StoreError::Transition(_)), "{err}");
    let done =
        s.set_status(&job.id, StatusChange::end(Reason::Exited { code: 3 }, Some(3), Timestamp(5))).await.unwrap();
    assert_eq!((done.status, done.exit_code, done.finished_at), (JobStatus::Failed, Some(3), Some(Timestamp(5))));
    assert_eq!(done.reason, Some(Reason::Exited { code: 3 }));
    let events = s.read_events(&job.id, 0, 100).await.unwrap();
    let statuses: Vec<_> = events.iter().map(|e| e.data["status"].as_str().unwrap().to_string()).collect();
    assert_eq!(statuses, ["queued", "starting", "running", "failed"]);
}

#[tokio::test]
async fn prefixes_find_one_job_or_say_why_not() {
    let (_d, s) = store().await;
    let make = |id: &str, at| NewJob::new(id.parse().unwrap(), JobSpec::new("busybox"), None, Timestamp(at));
    let a = s.create_job(make("abcd0000000000000000000000000001", 1)).await.unwrap();
    let b = s.create_job(make("abcd0000000000000000000000000002", 2)).await.unwrap();
    assert_eq!(s.find_job("abcd0000000000000000000000000001").await.unwrap().id, a.id);
    let err = s.find_job("abcd").await.unwrap_err();
    assert!(matches!(err, StoreError::Ambiguous { count: 2, .. }), "{err}");
    assert_eq!(
        s.find_job("ABCD00000000000000000000000000002").await.unwrap_err().to_string(),
        "no job matches `ABCD00000000000000000000000000002`"
    );
    assert!(matches!(s.find_job("ffff0000").await.unwrap_err(), StoreError::NotFound(_)));
    assert!(matches!(s.find_job("xyz!").await.unwrap_err(), StoreError::Conflict(_)));
    let listed = s.list_jobs(&JobFilter::default()).await.unwrap();
    assert_eq!(listed.iter().map(|j| j.id.clone()).collect::<Vec<_>>(), [b.id.clone(), a.id.clone()]);
    let running = JobFilter { statuses: vec![JobStatus::Running], ..JobFilter::default() };
    assert!(s.list_jobs(&running).await.unwrap().is_empty());
}

#[tokio::test]
async fn attempts_number_from_one_and_update_in_place() {
    let (_d, s) = store().await;
    let job = new_job(&s).await;
    let a = s.start_attempt(&job.id, "me", Some("/out".into()), Timestamp(2)).await.unwrap();
    assert_eq!(a.number, 1);
    let update = AttemptUpdate { container_id: Some("c1".into()), peak_memory: Some(42), ..Default::default() };
    s.update_attempt(&job.id, 1, update).await.unwrap();
    s.update_attempt(&job.id, 1, AttemptUpdate { exit_code: Some(0), ..Default::default() }).await.unwrap();
    let got = s.list_attempts(&job.id).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].container_id.as_deref(), got[0].peak_memory, got[0].exit_code), (Some("c1"), Some(42), Some(0)));
    assert_eq!(s.get_job(&job.id).await.unwrap().attempts, 1);
    assert!(s.update_attempt(&job.id, 9, AttemptUpdate::default()).await.is_err());
}

#[tokio::test]
async fn logs_keep_order_replace_by_seq_and_delete() {
    let (_d, s) = store().await;
    let job = new_job(&s).await;
    let chunk = |seq, data: &str| LogChunk {
        seq,
        attempt: 1,
        stream: LogStream::Stdout,
        at: Timestamp(seq),
        data: data.as_bytes().to_vec(),
    };
    s.append_logs(&job.id, &[chunk(0, "a"), chunk(1, "b"), chunk(2, "c")]).await.unwrap();
    s.append_logs(&job.id, &[chunk(1, "B")]).await.unwrap();
    s.delete_logs(&job.id, &[0]).await.unwrap();
    let got = s.read_logs(&job.id, -1, 10).await.unwrap();
    let text: Vec<_> = got.iter().map(|c| String::from_utf8_lossy(&c.data).to_string()).collect();
    assert_eq!(text, ["B", "c"]);
    assert_eq!(s.next_log_seq(&job.id).await.unwrap(), 3);
    assert_eq!(s.read_logs(&job.id, 1, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn only_finished_jobs_can_be_deleted_and_the_ledger_stays() {
    let (_d, s) = store().await;
    let job = new_job(&s).await;
    let ev = |phase| ContainerEvent {
        name: "berth-x-1".into(),
        container_id: Some("abc".into()),
        job_id: job.id.clone(),
        attempt: 1,
        backend: "docker".into(),
        phase,
        at: Timestamp(7),
    };
    s.record_container(ev(ContainerPhase::Planned)).await.unwrap();
    s.record_container(ev(ContainerPhase::Removed)).await.unwrap();
    assert!(matches!(s.delete_job(&job.id).await.unwrap_err(), StoreError::Conflict(_)));
    s.set_status(&job.id, StatusChange::end(Reason::WorkerLost, None, Timestamp(9))).await.unwrap();
    s.delete_job(&job.id).await.unwrap();
    assert!(matches!(s.get_job(&job.id).await.unwrap_err(), StoreError::NotFound(_)));
    let rows = s.list_containers(&job.id).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].planned_at, rows[0].removed_at), (Timestamp(7), Some(Timestamp(7))));
}
