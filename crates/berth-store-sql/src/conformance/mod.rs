//! The store conformance suite: behaviour every `Store` must have, whatever the database.
//! Each case takes a fresh, empty store; `conformance_tests!` turns them into one test per
//! case for an implementation (see the SQLite and PostgreSQL crates).
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed case

use std::collections::BTreeMap;
use std::time::Duration;

use berth_core::JobSpec;
use berth_core::clock::Timestamp;
use berth_core::ids::JobId;
use berth_core::spec::Notify;
use berth_core::status::{JobStatus, Reason, TimeoutPhase};
use berth_core::store::*;

mod batches;
mod schedules;
mod stats;
pub use batches::*;
pub use schedules::*;
pub use stats::*;

/// One `#[tokio::test]` per conformance case; `$make` is an async fn returning
/// `(guard, store)`, where the guard keeps the store's resources alive.
#[macro_export]
macro_rules! conformance_tests {
    ($make:path) => {
        $crate::conformance_tests!(@each $make; jobs_follow_the_lifecycle prefixes_find_one_job_or_say_why_not attempts_number_from_one_and_update_in_place logs_keep_order_replace_by_seq_and_delete output_batches_land_whole_with_their_attempts_cursor only_finished_jobs_can_be_deleted_and_the_ledger_stays idempotency_keys_return_the_first_job_or_conflict retry_requeues_only_unsuccessful_jobs a_terminal_status_queues_the_wanted_webhooks_in_the_same_write a_delivery_is_claimed_by_one_sender_and_a_late_one_records_nothing tokens_are_found_by_hash_until_revoked container_create_and_remove_reach_the_audit_log listing_filters_and_pages_newest_first claims_take_priority_then_due_time_within_tenant_limits claims_follow_queues_tags_and_concurrency_keys queue_limits_and_the_worker_registry leases_fence_every_write_after_they_are_lost concurrent_claims_hand_out_each_job_once old_finished_jobs_are_pruned a_submission_wakes_a_waiting_worker queued_jobs_past_their_timeouts_are_found_without_reading_the_queue deadlines_count_from_run_at_and_survive_retries a_reaper_takes_an_expired_lease_over_before_cleaning_up results_and_artifacts_keep_their_bytes_until_the_job_goes a_fenced_off_worker_stores_no_logs_events_or_results secrets_and_tenant_policies_are_kept_per_tenant a_cancel_request_reaches_the_lease_holder volumes_unused_since_a_time_are_found_for_retention scheduled_jobs_are_one_per_due_time_however_many_create_them schedules_keep_names_per_tenant_and_move_by_compare_and_set private_image_pulls_are_kept_per_tenant a_batched_claim_keeps_claim_order_and_every_running_limit concurrent_batched_claims_hand_out_each_job_once_within_limits status_changes_sharing_a_commit_are_each_checked_alone stats_count_unfinished_jobs_and_finished_ones_by_minute);
    };
    (@each $make:path; $($case:ident)*) => {
        $(
            #[tokio::test]
            async fn $case() {
                let (_guard, store) = $make().await;
                $crate::conformance::$case(&*store).await;
            }
        )*
    };
}

async fn new_job(s: &dyn Store) -> JobRecord {
    s.create_job(NewJob::new(JobId::generate(), JobSpec::new("busybox"), None, Timestamp(1))).await.unwrap()
}

fn job(tenant: &str, at: i64, spec: JobSpec) -> NewJob {
    let mut j = NewJob::new(JobId::generate(), spec, None, Timestamp(at));
    j.tenant = tenant.to_string();
    j
}

fn keyed(key: &str, fp: &str) -> Option<Idempotency> {
    Some(Idempotency { key: key.into(), fingerprint: fp.into() })
}

pub async fn jobs_follow_the_lifecycle(s: &dyn Store) {
    let job = new_job(s).await;
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

pub async fn prefixes_find_one_job_or_say_why_not(s: &dyn Store) {
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
    // Within a tenant, another tenant's job neither matches nor makes a prefix ambiguous.
    let mut theirs = make("abcd0000000000000000000000000003", 3);
    theirs.tenant = "other".into();
    let c = s.create_job(theirs).await.unwrap();
    assert_eq!(s.find_job_of("abcd", Some("other")).await.unwrap().id, c.id);
    let hidden = s.find_job_of("abcd0000000000000000000000000003", Some(LOCAL_TENANT)).await;
    assert!(matches!(hidden, Err(StoreError::NotFound(_))), "{hidden:?}");
    assert!(matches!(s.find_job_of("abcd", Some(LOCAL_TENANT)).await, Err(StoreError::Ambiguous { count: 2, .. })));
}

pub async fn attempts_number_from_one_and_update_in_place(s: &dyn Store) {
    let job = new_job(s).await;
    let a = s.start_attempt(&job.id, "me", None, Timestamp(2)).await.unwrap();
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

pub async fn logs_keep_order_replace_by_seq_and_delete(s: &dyn Store) {
    let job = new_job(s).await;
    let chunk = |seq, data: &str| LogChunk {
        seq,
        attempt: 1,
        stream: LogStream::Stdout,
        at: Timestamp(seq),
        data: data.as_bytes().to_vec(),
    };
    s.write_output(&job.id, None, &OutputBatch::chunks(vec![chunk(0, "a"), chunk(1, "b"), chunk(2, "c")]))
        .await
        .unwrap();
    let replace_and_delete = OutputBatch { deleted: vec![0], ..OutputBatch::chunks(vec![chunk(1, "B")]) };
    s.write_output(&job.id, None, &replace_and_delete).await.unwrap();
    let got = s.read_logs(&job.id, -1, 10).await.unwrap();
    let text: Vec<_> = got.iter().map(|c| String::from_utf8_lossy(&c.data).to_string()).collect();
    assert_eq!(text, ["B", "c"]);
    assert_eq!(s.next_log_seq(&job.id).await.unwrap(), 3);
    assert_eq!(s.read_logs(&job.id, 1, 10).await.unwrap().len(), 1);
}

/// A batch of output lands whole (chunks, events and the attempt's cursor together) or,
/// fenced off, not at all; each attempt keeps its own cursor.
pub async fn output_batches_land_whole_with_their_attempts_cursor(s: &dyn Store) {
    s.create_job(job("local", 10, JobSpec::new("x"))).await.unwrap();
    let j = s.claim(&claim_req("w1", 10)).await.unwrap().unwrap();
    let fence = j.lease.clone().unwrap().fence();
    s.start_attempt(&j.id, "w1", Some(&fence), Timestamp(11)).await.unwrap();
    assert_eq!(s.output_cursor(&j.id, 1).await.unwrap(), None, "no batch yet");
    let chunk = LogChunk { seq: 0, attempt: 1, stream: LogStream::Stdout, at: Timestamp(12), data: b"one\n".to_vec() };
    let batch = OutputBatch {
        deleted: Vec::new(),
        chunks: vec![chunk.clone()],
        events: vec![("progress".into(), serde_json::json!({"percent": 5}), Timestamp(12))],
        cursor: Some((1, serde_json::json!({"stdout": 4}))),
    };
    s.write_output(&j.id, Some(&fence), &batch).await.unwrap();
    assert_eq!(s.output_cursor(&j.id, 1).await.unwrap(), Some(serde_json::json!({"stdout": 4})));
    assert_eq!(s.output_cursor(&j.id, 2).await.unwrap(), None, "another attempt's cursor");
    let events = s.read_events(&j.id, 0, 10).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.kind == "progress").count(), 1);
    // A take-over fences the old holder off: none of its next batch lands.
    let expired = Fence { expired_by: Some(Timestamp(30_011)), ..fence.clone() };
    s.take_over(&j.id, &expired, "reaper", Timestamp(40_000)).await.unwrap();
    let late = OutputBatch {
        chunks: vec![LogChunk { seq: 1, data: b"two\n".to_vec(), ..chunk }],
        cursor: Some((1, serde_json::json!({"stdout": 8}))),
        ..batch
    };
    assert!(matches!(s.write_output(&j.id, Some(&fence), &late).await, Err(StoreError::Fenced(_))));
    assert_eq!(s.read_logs(&j.id, -1, 10).await.unwrap().len(), 1);
    assert_eq!(s.read_events(&j.id, 0, 10).await.unwrap().iter().filter(|e| e.kind == "progress").count(), 1);
    assert_eq!(s.output_cursor(&j.id, 1).await.unwrap(), Some(serde_json::json!({"stdout": 4})));
}

pub async fn only_finished_jobs_can_be_deleted_and_the_ledger_stays(s: &dyn Store) {
    let job = new_job(s).await;
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
    assert!(!s.read_events(&job.id, 0, 10).await.unwrap().is_empty());
    s.delete_job(&job.id).await.unwrap();
    assert!(matches!(s.get_job(&job.id).await.unwrap_err(), StoreError::NotFound(_)));
    assert!(s.read_events(&job.id, 0, 10).await.unwrap().is_empty(), "its events went with it");
    let rows = s.list_containers(&job.id).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].planned_at, rows[0].removed_at), (Timestamp(7), Some(Timestamp(7))));
}

pub async fn idempotency_keys_return_the_first_job_or_conflict(s: &dyn Store) {
    let mut a = job("t1", 1, JobSpec::new("busybox"));
    a.idempotency = keyed("k", "fp1");
    let first = s.create_job(a.clone()).await.unwrap();
    let mut again = job("t1", 2, JobSpec::new("busybox"));
    again.idempotency = keyed("k", "fp1");
    assert_eq!(s.create_job(again).await.unwrap().id, first.id);
    let mut other_body = job("t1", 3, JobSpec::new("busybox"));
    other_body.idempotency = keyed("k", "fp2");
    assert!(matches!(s.create_job(other_body).await, Err(StoreError::Conflict(_))));
    // Keys are per tenant.
    let mut other_tenant = job("t2", 4, JobSpec::new("busybox"));
    other_tenant.idempotency = keyed("k", "fp2");
    assert_ne!(s.create_job(other_tenant).await.unwrap().id, first.id);
    assert_eq!(s.list_jobs(&JobFilter::default()).await.unwrap().len(), 2);
}

pub async fn retry_requeues_only_unsuccessful_jobs(s: &dyn Store) {
    let j = s.create_job(job("t", 1, JobSpec::new("busybox"))).await.unwrap();
    assert!(matches!(s.requeue(&j.id, Timestamp(2)).await, Err(StoreError::Conflict(_))));
    s.set_status(&j.id, StatusChange::end(Reason::Exited { code: 3 }, Some(3), Timestamp(3))).await.unwrap();
    let again = s.requeue(&j.id, Timestamp(4)).await.unwrap();
    assert_eq!((again.status, again.reason, again.exit_code), (JobStatus::Queued, None, None));
    let events = s.read_events(&j.id, 0, 100).await.unwrap();
    assert_eq!(events.last().unwrap().data["retry_of"], "failed");
    s.set_status(&j.id, StatusChange::end(Reason::Exited { code: 0 }, Some(0), Timestamp(5))).await.unwrap();
    assert!(matches!(s.requeue(&j.id, Timestamp(6)).await, Err(StoreError::Conflict(_))));
}

pub async fn a_terminal_status_queues_the_wanted_webhooks_in_the_same_write(s: &dyn Store) {
    let mut spec = JobSpec::new("busybox");
    spec.notify = vec![
        Notify { url: "http://127.0.0.1:1/all".into(), events: vec![] },
        Notify { url: "http://127.0.0.1:1/ok".into(), events: vec![JobStatus::Succeeded] },
    ];
    let j = s.create_job(job("t", 1, spec)).await.unwrap();
    s.set_status(&j.id, StatusChange::end(Reason::Exited { code: 2 }, Some(2), Timestamp(5))).await.unwrap();
    let due = s.claim_deliveries(Timestamp(5), Timestamp(50), 10).await.unwrap();
    assert_eq!(due.len(), 1, "only the all-events hook wants `failed`");
    let body: serde_json::Value = serde_json::from_str(&due[0].body).unwrap();
    assert_eq!((body["event"].as_str(), body["job"]["exit_code"].as_i64()), (Some("job.failed"), Some(2)));
    assert!(s.claim_deliveries(Timestamp(6), Timestamp(60), 10).await.unwrap().is_empty(), "held by the claim");
    let retry = DeliveryOutcome {
        at: Timestamp(6),
        status: Some(500),
        error: None,
        delivered: false,
        retry_at: Some(Timestamp(100)),
    };
    assert!(s.record_delivery(due[0].id, due[0].claim, retry).await.unwrap());
    assert!(s.claim_deliveries(Timestamp(99), Timestamp(199), 10).await.unwrap().is_empty());
    let ok = DeliveryOutcome { at: Timestamp(101), status: Some(200), error: None, delivered: true, retry_at: None };
    let again = s.claim_deliveries(Timestamp(100), Timestamp(200), 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert!(s.record_delivery(again[0].id, again[0].claim, ok).await.unwrap());
    let all = s.list_deliveries(&j.id).await.unwrap();
    assert_eq!((all[0].state, all[0].tries, all[0].last_status), (DeliveryState::Delivered, 2, Some(200)));
}

pub async fn a_delivery_is_claimed_by_one_sender_and_a_late_one_records_nothing(s: &dyn Store) {
    let mut spec = JobSpec::new("busybox");
    spec.notify = vec![Notify { url: "http://127.0.0.1:1/hook".into(), events: vec![] }];
    for _ in 0..6 {
        let j = s.create_job(job("t", 1, spec.clone())).await.unwrap();
        s.set_status(&j.id, StatusChange::end(Reason::Exited { code: 0 }, Some(0), Timestamp(5))).await.unwrap();
    }
    // Three senders at once: each delivery goes to exactly one of them.
    let (a, b, c) = tokio::join!(
        s.claim_deliveries(Timestamp(5), Timestamp(50), 3),
        s.claim_deliveries(Timestamp(5), Timestamp(50), 3),
        s.claim_deliveries(Timestamp(5), Timestamp(50), 3),
    );
    let mut ids: Vec<i64> = [a.unwrap(), b.unwrap(), c.unwrap()].concat().iter().map(|d| d.id).collect();
    ids.sort_unstable();
    let before = ids.len();
    ids.dedup();
    assert_eq!((before, ids.len()), (6, 6), "six deliveries, each claimed once");
    // A sender that held one past its claim loses it to the next; its late record is refused.
    let first =
        s.list_deliveries(&s.claim_deliveries(Timestamp(51), Timestamp(90), 1).await.unwrap()[0].job_id).await.unwrap();
    let stale_claim = first[0].claim - 1;
    let late = DeliveryOutcome { at: Timestamp(52), status: Some(200), error: None, delivered: true, retry_at: None };
    assert!(!s.record_delivery(first[0].id, stale_claim, late.clone()).await.unwrap(), "a stale claim records nothing");
    assert_eq!(s.list_deliveries(&first[0].job_id).await.unwrap()[0].tries, 0);
    assert!(s.record_delivery(first[0].id, first[0].claim, late).await.unwrap());
}

pub async fn tokens_are_found_by_hash_until_revoked(s: &dyn Store) {
    let t = TokenRecord {
        id: "tok1".into(),
        name: "ci".into(),
        tenant: "t".into(),
        admin: false,
        created_at: Timestamp(1),
        revoked_at: None,
    };
    s.create_token(&t, "hash1").await.unwrap();
    assert_eq!(s.token_by_hash("hash1").await.unwrap(), Some(t));
    assert_eq!(s.token_by_hash("other").await.unwrap(), None);
    s.revoke_token("tok1", Timestamp(2)).await.unwrap();
    assert_eq!(s.token_by_hash("hash1").await.unwrap(), None);
    assert_eq!(s.list_tokens().await.unwrap()[0].revoked_at, Some(Timestamp(2)));
    assert!(matches!(s.revoke_token("nope", Timestamp(3)).await, Err(StoreError::NotFound(_))));
}

pub async fn container_create_and_remove_reach_the_audit_log(s: &dyn Store) {
    let j = s.create_job(job("acme", 1, JobSpec::new("busybox"))).await.unwrap();
    for (phase, at) in [(ContainerPhase::Planned, 1), (ContainerPhase::Created, 2), (ContainerPhase::Removed, 3)] {
        let e = ContainerEvent {
            name: "c1".into(),
            container_id: Some("abc".into()),
            job_id: j.id.clone(),
            attempt: 1,
            backend: "docker".into(),
            phase,
            at: Timestamp(at),
        };
        s.record_container(e).await.unwrap();
    }
    let audit = s.list_audit(None, 10).await.unwrap();
    let actions: Vec<_> = audit.iter().map(|a| (a.action.as_str(), a.tenant.as_deref())).collect();
    assert_eq!(actions, [("container.remove", Some("acme")), ("container.create", Some("acme"))]);
    assert_eq!(s.list_audit(Some(audit[0].id), 10).await.unwrap().len(), 1);
}

pub async fn listing_filters_and_pages_newest_first(s: &dyn Store) {
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut spec = JobSpec::new(if i % 2 == 0 { "busybox" } else { "alpine" });
        spec.labels.insert("team".into(), if i < 3 { "a".into() } else { "b".into() });
        if i % 2 == 0 {
            spec.labels.insert("even".into(), "yes".into());
        }
        spec.queue = (i == 4).then(|| "gpu".to_string());
        ids.push(s.create_job(job(if i == 0 { "other" } else { "t" }, 10 + i, spec)).await.unwrap().id);
    }
    let list =
        |f: JobFilter| async move { s.list_jobs(&f).await.unwrap().into_iter().map(|j| j.id).collect::<Vec<_>>() };
    let tenant = || JobFilter { tenant: Some("t".into()), ..JobFilter::default() };
    assert_eq!(list(tenant()).await, [ids[4].clone(), ids[3].clone(), ids[2].clone(), ids[1].clone()]);
    assert_eq!(list(JobFilter { image: Some("alpine".into()), ..tenant() }).await, [ids[3].clone(), ids[1].clone()]);
    let team_a = vec![("team".to_string(), Some("a".to_string()))];
    assert_eq!(list(JobFilter { labels: team_a, ..tenant() }).await, [ids[2].clone(), ids[1].clone()]);
    assert_eq!(list(JobFilter { labels: vec![("nope".into(), None)], ..tenant() }).await, Vec::<JobId>::new());
    let any_team = vec![("team".to_string(), None)];
    assert_eq!(list(JobFilter { labels: any_team, ..tenant() }).await.len(), 4);
    let both = vec![("team".to_string(), Some("a".to_string())), ("even".to_string(), None)];
    assert_eq!(list(JobFilter { labels: both, ..tenant() }).await, [ids[2].clone()]);
    let team_a = || vec![("team".to_string(), Some("a".to_string()))];
    let first = list(JobFilter { labels: team_a(), limit: Some(1), ..tenant() }).await;
    let after = JobCursor { created_at: Timestamp(12), id: first[0].clone() };
    let next = list(JobFilter { labels: team_a(), before: Some(after), ..tenant() }).await;
    assert_eq!((first, next), (vec![ids[2].clone()], vec![ids[1].clone()]), "a label's pages by cursor");
    assert_eq!(list(JobFilter { queue: Some("gpu".into()), ..tenant() }).await, [ids[4].clone()]);
    assert_eq!(list(JobFilter { since: Some(Timestamp(13)), ..tenant() }).await, [ids[4].clone(), ids[3].clone()]);
    let page1 = list(JobFilter { limit: Some(2), ..tenant() }).await;
    let cursor = JobCursor { created_at: Timestamp(13), id: page1[1].clone() };
    let page2 = list(JobFilter { limit: Some(2), before: Some(cursor), ..tenant() }).await;
    assert_eq!(page2, [ids[2].clone(), ids[1].clone()]);
    let counts = s.count_jobs().await.unwrap();
    assert!(counts.contains(&JobCount { queue: "default".into(), status: JobStatus::Queued, count: 4 }));
}

fn claim_req(worker: &str, at: i64) -> ClaimRequest {
    ClaimRequest {
        worker: worker.into(),
        queues: vec!["default".into()],
        tags: BTreeMap::new(),
        lease: Duration::from_secs(30),
        at: Timestamp(at),
    }
}

async fn claim_id(s: &dyn Store, req: &ClaimRequest) -> Option<JobId> {
    s.claim(req).await.unwrap().map(|j| j.id)
}

async fn finish(s: &dyn Store, id: &JobId, at: i64) {
    s.set_status(id, StatusChange::end(Reason::Exited { code: 0 }, Some(0), Timestamp(at))).await.unwrap();
}

pub async fn claims_take_priority_then_due_time_within_tenant_limits(s: &dyn Store) {
    s.ensure_tenant("small", Timestamp(0)).await.unwrap();
    s.set_tenant_limit("small", Some(1)).await.unwrap();
    let a = s.create_job(job("small", 1, JobSpec::new("busybox"))).await.unwrap();
    let b = s.create_job(job("small", 2, JobSpec::new("busybox"))).await.unwrap();
    let c = s.create_job(job("big", 3, JobSpec::new("busybox"))).await.unwrap();
    let mut urgent = JobSpec::new("busybox");
    urgent.priority = 5;
    let d = s.create_job(job("big", 4, urgent)).await.unwrap();
    let mut later = JobSpec::new("busybox");
    later.run_at = Some("1970-01-01T00:00:01Z".into());
    let e = s.create_job(job("big", 5, later)).await.unwrap();
    assert_eq!(e.run_at, Timestamp(1000));
    let first = s.claim(&claim_req("w1", 10)).await.unwrap().unwrap();
    assert_eq!(first.id, d.id, "priority first");
    let lease = first.lease.unwrap();
    assert_eq!((first.status, lease.owner.as_str(), lease.expires_at), (JobStatus::Starting, "w1", Timestamp(30_010)));
    assert_eq!(claim_id(s, &claim_req("w1", 11)).await, Some(a.id.clone()));
    // `small` is at its limit, so `b` waits and `c` goes; `e` is not due yet.
    assert_eq!(claim_id(s, &claim_req("w1", 12)).await, Some(c.id));
    assert_eq!(claim_id(s, &claim_req("w1", 13)).await, None);
    finish(s, &a.id, 14).await;
    assert_eq!(claim_id(s, &claim_req("w1", 15)).await, Some(b.id));
    assert_eq!(claim_id(s, &claim_req("w1", 1000)).await, Some(e.id));
}

pub async fn claims_follow_queues_tags_and_concurrency_keys(s: &dyn Store) {
    let mut gpu = JobSpec::new("busybox");
    gpu.queue = Some("gpu".into());
    gpu.requires = BTreeMap::from([("region".into(), "eu".into())]);
    let g = s.create_job(job("t", 1, gpu)).await.unwrap();
    let keyed_spec = |key: &str| {
        let mut spec = JobSpec::new("busybox");
        spec.concurrency = Some(berth_core::retry::Concurrency { key: key.into(), limit: 1 });
        spec
    };
    let k1 = s.create_job(job("t", 2, keyed_spec("cust-1"))).await.unwrap();
    let k2 = s.create_job(job("t", 3, keyed_spec("cust-1"))).await.unwrap();
    let other = s.create_job(job("u", 4, keyed_spec("cust-1"))).await.unwrap();
    let mut us = ClaimRequest { queues: vec!["gpu".into()], ..claim_req("w-us", 10) };
    us.tags.insert("region".into(), "us".into());
    assert_eq!(claim_id(s, &us).await, None, "tags must match");
    let mut eu = us.clone();
    eu.tags.insert("region".into(), "eu".into());
    eu.tags.insert("disk".into(), "ssd".into());
    assert_eq!(claim_id(s, &eu).await, Some(g.id));
    assert_eq!(claim_id(s, &claim_req("w", 11)).await, Some(k1.id.clone()));
    // The key is per tenant: `u` runs, the second `t` job waits for the first.
    assert_eq!(claim_id(s, &claim_req("w", 12)).await, Some(other.id));
    assert_eq!(claim_id(s, &claim_req("w", 13)).await, None);
    finish(s, &k1.id, 14).await;
    assert_eq!(claim_id(s, &claim_req("w", 15)).await, Some(k2.id));
}

pub async fn queue_limits_and_the_worker_registry(s: &dyn Store) {
    s.set_queue_limit("default", Some(1)).await.unwrap();
    s.set_queue_limit("gone", Some(3)).await.unwrap();
    s.set_queue_limit("gone", None).await.unwrap();
    assert_eq!(s.queue_limits().await.unwrap(), [("default".to_string(), 1)]);
    let a = s.create_job(job("t", 1, JobSpec::new("busybox"))).await.unwrap();
    s.create_job(job("t", 2, JobSpec::new("busybox"))).await.unwrap();
    assert_eq!(claim_id(s, &claim_req("w", 10)).await, Some(a.id));
    assert_eq!(claim_id(s, &claim_req("w", 11)).await, None);
    let mut w = WorkerRecord {
        id: "w1".into(),
        host: "h".into(),
        version: "0.1.0".into(),
        slots: 2,
        queues: vec!["default".into()],
        tags: BTreeMap::from([("region".into(), "eu".into())]),
        started_at: Timestamp(1),
        heartbeat_at: Timestamp(1),
        state: "running".into(),
        running: 0,
        breaker: "closed".into(),
        backend: "docker".into(),
    };
    s.upsert_worker(&w).await.unwrap();
    w.heartbeat_at = Timestamp(5);
    w.running = 1;
    s.upsert_worker(&w).await.unwrap();
    assert_eq!(s.list_workers().await.unwrap(), [w]);
}

pub async fn leases_fence_every_write_after_they_are_lost(s: &dyn Store) {
    let j = new_job(s).await;
    let first = s.claim(&claim_req("w1", 10)).await.unwrap().unwrap();
    let old = first.lease.unwrap().fence();
    s.renew_lease(&j.id, &old, Timestamp(50_000)).await.unwrap();
    s.start_attempt(&j.id, "w1", Some(&old), Timestamp(11)).await.unwrap();
    // Expired at 50 s, but its worker may stop it for its 10 s stop grace: due at 60 s.
    assert!(s.expired_leases(Timestamp(60_000), 10).await.unwrap().is_empty());
    let expired = s.expired_leases(Timestamp(60_001), 10).await.unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].id, j.id);
    // A reaper that saw the lease expired, but the worker renewed it since: no change.
    let reaper = Fence { expired_by: Some(Timestamp(40_000)), ..old.clone() };
    let early = s.retry_later(&j.id, &reaper, &Reason::WorkerLost, Timestamp(1), Timestamp(40_000)).await;
    assert!(matches!(early, Err(StoreError::Fenced(_))));
    // The reaper retries it; the same worker claims it again with a new token.
    let reaper = Fence { expired_by: Some(Timestamp(50_001)), ..old.clone() };
    let again = s.retry_later(&j.id, &reaper, &Reason::WorkerLost, Timestamp(60_000), Timestamp(50_002)).await.unwrap();
    assert_eq!((again.status, again.lease.clone(), again.run_at), (JobStatus::Queued, None, Timestamp(60_000)));
    assert_eq!(claim_id(s, &claim_req("w1", 59_999)).await, None, "not due before its backoff");
    let second = s.claim(&claim_req("w1", 60_000)).await.unwrap().unwrap();
    let new = second.lease.unwrap().fence();
    assert_eq!((new.owner.as_str(), new.token), ("w1", old.token + 1));
    let fenced = |r: StoreResult<()>| matches!(r, Err(StoreError::Fenced(_)));
    assert!(fenced(s.renew_lease(&j.id, &old, Timestamp(99_000)).await.map(|_| ())));
    let late = StatusChange::to(JobStatus::Running, Timestamp(60_001)).fenced(Some(old.clone()));
    assert!(matches!(s.set_status(&j.id, late).await, Err(StoreError::Fenced(_))));
    assert!(matches!(s.start_attempt(&j.id, "w1", Some(&old), Timestamp(1)).await, Err(StoreError::Fenced(_))));
    assert!(fenced(s.set_result(&j.id, Some(&old), Some(serde_json::json!(1)), &[]).await));
    let stale = AttemptUpdate { fence: Some(old.clone()), exit_code: Some(9), ..AttemptUpdate::default() };
    assert!(fenced(s.update_attempt(&j.id, 1, stale).await));
    assert_eq!(s.list_attempts(&j.id).await.unwrap()[0].exit_code, None, "the stale write changed nothing");
    let retry = s.retry_later(&j.id, &old, &Reason::WorkerLost, Timestamp(1), Timestamp(1)).await;
    assert!(matches!(retry, Err(StoreError::Fenced(_))));
    // The holder of the new token writes; the terminal status drops the lease.
    let running = StatusChange::to(JobStatus::Running, Timestamp(60_002)).fenced(Some(new.clone()));
    s.set_status(&j.id, running).await.unwrap();
    let end = StatusChange::end(Reason::Exited { code: 0 }, Some(0), Timestamp(60_003)).fenced(Some(new.clone()));
    let done = s.set_status(&j.id, end).await.unwrap();
    assert_eq!((done.status, done.lease), (JobStatus::Succeeded, None));
    assert!(fenced(s.renew_lease(&j.id, &new, Timestamp(99_000)).await.map(|_| ())), "no lease on a finished job");
}

pub async fn concurrent_claims_hand_out_each_job_once(s: &dyn Store) {
    for i in 0..40 {
        s.create_job(job("t", i, JobSpec::new("busybox"))).await.unwrap();
    }
    let claims = (0..8).map(|w| async move {
        let mut got = Vec::new();
        while let Some(id) = claim_id(s, &claim_req(&format!("w{w}"), 100)).await {
            got.push(id);
        }
        got
    });
    let mut all: Vec<JobId> = futures::future::join_all(claims).await.into_iter().flatten().collect();
    assert_eq!(all.len(), 40);
    all.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    all.dedup();
    assert_eq!(all.len(), 40, "a job was claimed twice");
}

pub async fn old_finished_jobs_are_pruned(s: &dyn Store) {
    let old = new_job(s).await;
    let recent = new_job(s).await;
    let running = new_job(s).await;
    finish(s, &old.id, 100).await;
    finish(s, &recent.id, 5_000).await;
    let pruned = s.prune_finished(Timestamp(1_000), 100).await.unwrap();
    assert_eq!(pruned, std::slice::from_ref(&old.id));
    assert!(matches!(s.get_job(&old.id).await, Err(StoreError::NotFound(_))));
    assert!(s.read_events(&old.id, 0, 10).await.unwrap().is_empty());
    s.get_job(&recent.id).await.unwrap();
    s.get_job(&running.id).await.unwrap();
}

pub async fn a_submission_wakes_a_waiting_worker(s: &dyn Store) {
    let waiter = async {
        let began = std::time::Instant::now();
        s.wait_for_work(Duration::from_secs(30)).await;
        began.elapsed()
    };
    let submit = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        new_job(s).await
    };
    let (waited, _) = tokio::join!(waiter, submit);
    // Woken by the submission, not by the 30 s limit (a generous bound: this checks the
    // wake-up exists, not its speed).
    assert!(waited < Duration::from_secs(20), "waited {waited:?}");
}

pub async fn queued_jobs_past_their_timeouts_are_found_without_reading_the_queue(s: &dyn Store) {
    let mut waits = JobSpec::new("busybox");
    waits.timeouts.queue = Some(berth_core::quantity::DurationSpec(Duration::from_secs(5)));
    let mut total = JobSpec::new("busybox");
    total.timeouts.total = Some(berth_core::quantity::DurationSpec(Duration::from_secs(2)));
    let a = s.create_job(job("t", 1_000, waits)).await.unwrap();
    let b = s.create_job(job("t", 1_001, total)).await.unwrap();
    s.create_job(job("t", 1_002, JobSpec::new("busybox"))).await.unwrap();
    assert!(s.overdue_queued(Timestamp(2_999), 10).await.unwrap().is_empty());
    let due: Vec<JobId> = s.overdue_queued(Timestamp(6_000), 10).await.unwrap().into_iter().map(|j| j.id).collect();
    assert_eq!(due, [b.id.clone(), a.id.clone()], "earliest deadline first");
    // Once claimed (the oldest, `a`) it is no longer queued, so no longer overdue.
    assert_eq!(claim_id(s, &claim_req("w", 3_000)).await, Some(a.id.clone()));
    assert_eq!(s.overdue_queued(Timestamp(6_000), 10).await.unwrap().len(), 1);
    // A janitor's end loses to that claim: it only ends a job that is still queued.
    let late = StatusChange::end(Reason::TimedOut { phase: TimeoutPhase::Queue }, None, Timestamp(6_000));
    assert!(matches!(s.set_status(&a.id, late.only_from(JobStatus::Queued)).await, Err(StoreError::Conflict(_))));
    assert_eq!(s.get_job(&a.id).await.unwrap().status, JobStatus::Starting);
}

pub async fn deadlines_count_from_run_at_and_survive_retries(s: &dyn Store) {
    // Due at 100 s with a 5 s queue timeout: not overdue before 105 s.
    let mut later = JobSpec::new("busybox");
    later.run_at = Some("1970-01-01T00:01:40Z".into());
    later.timeouts.queue = Some(berth_core::quantity::DurationSpec(Duration::from_secs(5)));
    let a = s.create_job(job("t", 1_000, later)).await.unwrap();
    assert!(s.overdue_queued(Timestamp(99_000), 10).await.unwrap().is_empty(), "not due yet, not overdue");
    assert_eq!(s.overdue_queued(Timestamp(105_000), 10).await.unwrap().len(), 1);
    // A retry waiting in the queue still has its total timeout.
    let mut total = JobSpec::new("busybox");
    total.timeouts.total = Some(berth_core::quantity::DurationSpec(Duration::from_secs(10)));
    let b = s.create_job(job("u", 1_000, total)).await.unwrap();
    // `a` is not due until 100 s, so the claim takes `b`.
    let claimed = s.claim(&claim_req("w", 2_000)).await.unwrap().unwrap();
    assert_eq!(claimed.id, b.id);
    let fence = claimed.lease.unwrap().fence();
    s.retry_later(&b.id, &fence, &Reason::Exited { code: 1 }, Timestamp(60_000), Timestamp(3_000)).await.unwrap();
    let overdue: Vec<JobId> =
        s.overdue_queued(Timestamp(11_000), 10).await.unwrap().into_iter().map(|j| j.id).collect();
    assert_eq!(overdue, std::slice::from_ref(&b.id), "past its total timeout while waiting for the retry");
    // Due, but past its deadline: no worker claims it (and starts it only to kill it); the
    // janitor ends it.
    assert!(s.claim(&claim_req("w", 11_000)).await.unwrap().is_none(), "a job past its deadline is claimed");
    assert_eq!(s.get_job(&a.id).await.unwrap().status, JobStatus::Queued);
}

pub async fn a_reaper_takes_an_expired_lease_over_before_cleaning_up(s: &dyn Store) {
    let j = new_job(s).await;
    let claimed = s.claim(&claim_req("w1", 10)).await.unwrap().unwrap();
    let old = claimed.lease.unwrap().fence();
    let not_yet = Fence { expired_by: Some(Timestamp(30_010)), ..old.clone() };
    assert!(matches!(s.take_over(&j.id, &not_yet, "reaper", Timestamp(99)).await, Err(StoreError::Fenced(_))));
    let expired = Fence { expired_by: Some(Timestamp(30_011)), ..old.clone() };
    let taken = s.take_over(&j.id, &expired, "reaper", Timestamp(40_000)).await.unwrap();
    let lease = taken.lease.unwrap();
    assert_eq!((lease.owner.as_str(), lease.token, lease.expires_at), ("reaper", old.token + 1, Timestamp(40_000)));
    // The old holder is fenced off, and a second reaper with the old view gets nothing.
    assert!(matches!(s.renew_lease(&j.id, &old, Timestamp(50_000)).await, Err(StoreError::Fenced(_))));
    assert!(matches!(s.take_over(&j.id, &expired, "other", Timestamp(1)).await, Err(StoreError::Fenced(_))));
}

pub async fn results_and_artifacts_keep_their_bytes_until_the_job_goes(s: &dyn Store) {
    let job = new_job(s).await;
    let file = |attempt, name: &str, data: &[u8]| ArtifactFile {
        artifact: Artifact { attempt, name: name.into(), size: data.len() as u64 },
        data: data.to_vec().into(),
    };
    let binary = [0u8, 255, 10, 13, 0];
    let first = [file(1, "out/a.bin", &binary), file(1, "b.txt", b"one")];
    s.set_result(&job.id, None, Some(serde_json::json!({"n": 1})), &first).await.unwrap();
    s.set_result(&job.id, None, Some(serde_json::json!({"n": 2})), &[file(2, "b.txt", b"two")]).await.unwrap();
    assert_eq!(s.get_job(&job.id).await.unwrap().result, Some(serde_json::json!({"n": 2})));
    let listed: Vec<(u32, String, u64)> =
        s.list_artifacts(&job.id).await.unwrap().into_iter().map(|a| (a.attempt, a.name, a.size)).collect();
    assert_eq!(listed, [(1, "b.txt".into(), 3), (1, "out/a.bin".into(), 5), (2, "b.txt".into(), 3)]);
    assert_eq!(s.read_artifact(&job.id, 1, "out/a.bin").await.unwrap().as_deref(), Some(&binary[..]));
    assert_eq!(s.read_artifact(&job.id, 2, "b.txt").await.unwrap().as_deref(), Some(&b"two"[..]));
    assert_eq!(s.read_artifact(&job.id, 3, "b.txt").await.unwrap(), None);
    s.set_status(&job.id, StatusChange::end(Reason::WorkerLost, None, Timestamp(9))).await.unwrap();
    s.delete_job(&job.id).await.unwrap();
    assert_eq!(s.read_artifact(&job.id, 1, "out/a.bin").await.unwrap(), None, "deleted with the job");
}

pub async fn a_fenced_off_worker_stores_no_logs_events_or_results(s: &dyn Store) {
    let j = new_job(s).await;
    let old = s.claim(&claim_req("w1", 10)).await.unwrap().unwrap().lease.unwrap().fence();
    let chunk = LogChunk { seq: 0, attempt: 1, stream: LogStream::Stdout, at: Timestamp(11), data: b"late".to_vec() };
    s.write_output(&j.id, Some(&old), &OutputBatch::chunks(vec![chunk.clone()])).await.unwrap();
    let expired = Fence { expired_by: Some(Timestamp(30_011)), ..old.clone() };
    let new = s.take_over(&j.id, &expired, "reaper", Timestamp(40_000)).await.unwrap().lease.unwrap().fence();
    let fenced = |r: StoreResult<()>| matches!(r, Err(StoreError::Fenced(_)));
    let again = LogChunk { seq: 1, data: b"after".to_vec(), ..chunk.clone() };
    assert!(fenced(s.write_output(&j.id, Some(&old), &OutputBatch::chunks(vec![again.clone()])).await));
    let delete = OutputBatch { deleted: vec![0], ..OutputBatch::default() };
    assert!(fenced(s.write_output(&j.id, Some(&old), &delete).await));
    let event = s.append_event(&j.id, Some(&old), "progress", serde_json::json!({}), Timestamp(12)).await;
    assert!(matches!(event, Err(StoreError::Fenced(_))));
    let result = s.set_result(&j.id, Some(&old), Some(serde_json::json!(1)), &[]).await;
    assert!(fenced(result));
    let kept: Vec<Vec<u8>> = s.read_logs(&j.id, -1, 10).await.unwrap().into_iter().map(|c| c.data).collect();
    assert_eq!(kept, [b"late".to_vec()], "what came before the take-over stays, nothing after it lands");
    assert!(s.read_events(&j.id, 0, 10).await.unwrap().iter().all(|e| e.kind != "progress"));
    // The new holder writes.
    s.append_event(&j.id, Some(&new), "warning", serde_json::json!({"message": "reaped"}), Timestamp(13))
        .await
        .unwrap();
    s.write_output(&j.id, Some(&new), &OutputBatch::chunks(vec![again.clone()])).await.unwrap();
    assert_eq!(s.read_logs(&j.id, -1, 10).await.unwrap().len(), 2);
    // Cancelled from another node: the job ends, but its holder still records the attempt's
    // true end and last output (owner and token are unchanged); a status write it is not.
    s.start_attempt(&j.id, "reaper", Some(&new), Timestamp(14)).await.unwrap();
    let cancel = StatusChange::end(Reason::Cancelled { by: "api".into() }, None, Timestamp(15));
    s.set_status(&j.id, cancel).await.unwrap();
    let end = AttemptUpdate { fence: Some(new.clone()), exit_code: Some(143), ..AttemptUpdate::default() };
    s.update_attempt(&j.id, 1, end).await.unwrap();
    let last = LogChunk { seq: 2, data: b"bye".to_vec(), ..again };
    s.write_output(&j.id, Some(&new), &OutputBatch::chunks(vec![last])).await.unwrap();
    assert_eq!(s.list_attempts(&j.id).await.unwrap()[0].exit_code, Some(143));
    let late = StatusChange::end(Reason::Exited { code: 143 }, Some(143), Timestamp(16)).fenced(Some(new));
    assert!(matches!(s.set_status(&j.id, late).await, Err(StoreError::Fenced(_) | StoreError::Transition(_))));
}

pub async fn secrets_and_tenant_policies_are_kept_per_tenant(s: &dyn Store) {
    assert!(s.put_secret("a", "db", b"sealed-1", Timestamp(1)).await.unwrap(), "new");
    assert!(!s.put_secret("a", "db", b"sealed-2", Timestamp(5)).await.unwrap(), "replaced");
    s.put_secret("b", "db", b"other", Timestamp(2)).await.unwrap();
    assert_eq!(s.sealed_secret("a", "db").await.unwrap().as_deref(), Some(&b"sealed-2"[..]));
    assert_eq!(s.sealed_secret("a", "nope").await.unwrap(), None);
    let listed = s.list_secrets("a").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].created_at, listed[0].updated_at), (Timestamp(1), Timestamp(5)));
    assert!(s.delete_secret("a", "db").await.unwrap());
    assert!(!s.delete_secret("a", "db").await.unwrap());
    assert_eq!(s.sealed_secret("b", "db").await.unwrap().as_deref(), Some(&b"other"[..]), "b's is its own");

    s.ensure_tenant("a", Timestamp(1)).await.unwrap();
    assert_eq!(s.get_tenant("a").await.unwrap().policy, None);
    let patch = serde_json::json!({"cap_add": ["NET_ADMIN"]});
    s.set_tenant_policy("a", Some(&patch)).await.unwrap();
    assert_eq!(s.get_tenant("a").await.unwrap().policy, Some(patch));
    s.set_tenant_policy("a", None).await.unwrap();
    assert_eq!(s.get_tenant("a").await.unwrap().policy, None);
    assert!(matches!(s.set_tenant_policy("zz", None).await, Err(StoreError::NotFound(_))));
}

pub async fn a_cancel_request_reaches_the_lease_holder(s: &dyn Store) {
    let j = new_job(s).await;
    assert!(matches!(s.request_cancel(&j.id, "api", Timestamp(2)).await, Err(StoreError::Transition(_))), "not leased");
    let claimed = s.claim(&claim_req("w1", 10)).await.unwrap().unwrap();
    let fence = claimed.lease.unwrap().fence();
    assert_eq!(s.renew_lease(&j.id, &fence, Timestamp(40_000)).await.unwrap(), None);
    let asked = s.request_cancel(&j.id, "token:abc", Timestamp(11)).await.unwrap();
    assert_eq!((asked.status, asked.cancel_requested.as_deref()), (JobStatus::Starting, Some("token:abc")));
    s.request_cancel(&j.id, "someone-else", Timestamp(12)).await.unwrap();
    let heard = s.renew_lease(&j.id, &fence, Timestamp(41_000)).await.unwrap();
    assert_eq!(heard.as_deref(), Some("token:abc"), "the first asker is kept, and the holder hears it");
    let events = s.read_events(&j.id, 0, 100).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.kind == "cancel_requested").count(), 2);
    // A holder that decided on a retry before the request landed is refused it.
    let retry = s.retry_later(&j.id, &fence, &Reason::Exited { code: 3 }, Timestamp(20), Timestamp(12)).await;
    assert!(matches!(retry, Err(StoreError::Conflict(_))), "a retry over a pending cancel: {retry:?}");
    assert_eq!(s.get_job(&j.id).await.unwrap().status, JobStatus::Starting);
    // Only the holder ends it; a manual retry afterwards starts with no cancel pending.
    let end = StatusChange::end(Reason::Cancelled { by: "token:abc".into() }, None, Timestamp(13)).fenced(Some(fence));
    s.set_status(&j.id, end).await.unwrap();
    assert_eq!(s.requeue(&j.id, Timestamp(14)).await.unwrap().cancel_requested, None);
}

pub async fn volumes_unused_since_a_time_are_found_for_retention(s: &dyn Store) {
    s.touch_volume("a", "cache", Timestamp(10)).await.unwrap();
    s.touch_volume("b", "cache", Timestamp(20)).await.unwrap();
    s.touch_volume("a", "cache", Timestamp(30)).await.unwrap();
    let stale = s.stale_volumes(Timestamp(25), 10).await.unwrap();
    assert_eq!(stale, [("b".to_string(), "cache".to_string())], "a's was used again at 30");
    s.forget_volume("b", "cache").await.unwrap();
    assert!(s.stale_volumes(Timestamp(25), 10).await.unwrap().is_empty());
    assert_eq!(s.stale_volumes(Timestamp(31), 10).await.unwrap().len(), 1);
}

pub async fn private_image_pulls_are_kept_per_tenant(s: &dyn Store) {
    assert!(s.private_pullers("sha256:a").await.unwrap().is_empty());
    s.record_private_pull("t", "sha256:a", Timestamp(1)).await.unwrap();
    s.record_private_pull("t", "sha256:a", Timestamp(2)).await.unwrap();
    s.record_private_pull("u", "sha256:a", Timestamp(3)).await.unwrap();
    s.record_private_pull("u", "sha256:b", Timestamp(3)).await.unwrap();
    assert_eq!(s.private_pullers("sha256:a").await.unwrap(), ["t", "u"]);
    assert_eq!(s.private_pullers("sha256:b").await.unwrap(), ["u"]);
}
