//! Store behaviour the server relies on: idempotency, claims under tenant limits, manual
//! retry, the webhook outbox, tokens, the audit log and the filtered listing.

use berth_core::JobSpec;
use berth_core::clock::Timestamp;
use berth_core::ids::JobId;
use berth_core::spec::Notify;
use berth_core::status::{JobStatus, Reason};
use berth_core::store::*;

use crate::SqliteStore;

async fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("berth.db")).await.unwrap();
    (dir, s)
}

fn job(tenant: &str, at: i64, spec: JobSpec) -> NewJob {
    let mut j = NewJob::new(JobId::generate(), spec, None, Timestamp(at));
    j.tenant = tenant.to_string();
    j
}

fn keyed(key: &str, fp: &str) -> Option<Idempotency> {
    Some(Idempotency { key: key.into(), fingerprint: fp.into() })
}

#[tokio::test]
async fn idempotency_keys_return_the_first_job_or_conflict() {
    let (_d, s) = store().await;
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

#[tokio::test]
async fn claims_take_the_oldest_and_respect_tenant_limits() {
    let (_d, s) = store().await;
    s.ensure_tenant("small", Timestamp(0)).await.unwrap();
    s.set_tenant_limit("small", Some(1)).await.unwrap();
    let a = s.create_job(job("small", 1, JobSpec::new("busybox"))).await.unwrap();
    let b = s.create_job(job("small", 2, JobSpec::new("busybox"))).await.unwrap();
    let c = s.create_job(job("big", 3, JobSpec::new("busybox"))).await.unwrap();
    let first = s.claim_next("w1", Timestamp(10)).await.unwrap().unwrap();
    assert_eq!((first.id, first.status, first.owner.as_deref()), (a.id.clone(), JobStatus::Starting, Some("w1")));
    // `small` is at its limit, so `b` waits and `c` goes first.
    assert_eq!(s.claim_next("w1", Timestamp(11)).await.unwrap().unwrap().id, c.id);
    assert!(s.claim_next("w1", Timestamp(12)).await.unwrap().is_none());
    s.set_status(&a.id, StatusChange::end(Reason::Exited { code: 0 }, Some(0), Timestamp(13))).await.unwrap();
    assert_eq!(s.claim_next("w1", Timestamp(14)).await.unwrap().unwrap().id, b.id);
}

#[tokio::test]
async fn retry_requeues_only_unsuccessful_jobs() {
    let (_d, s) = store().await;
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

#[tokio::test]
async fn a_terminal_status_queues_the_wanted_webhooks_in_the_same_write() {
    let (_d, s) = store().await;
    let mut spec = JobSpec::new("busybox");
    spec.notify = vec![
        Notify { url: "http://127.0.0.1:1/all".into(), events: vec![] },
        Notify { url: "http://127.0.0.1:1/ok".into(), events: vec![JobStatus::Succeeded] },
    ];
    let j = s.create_job(job("t", 1, spec)).await.unwrap();
    s.set_status(&j.id, StatusChange::end(Reason::Exited { code: 2 }, Some(2), Timestamp(5))).await.unwrap();
    let due = s.due_deliveries(Timestamp(5), 10).await.unwrap();
    assert_eq!(due.len(), 1, "only the all-events hook wants `failed`");
    let body: serde_json::Value = serde_json::from_str(&due[0].body).unwrap();
    assert_eq!((body["event"].as_str(), body["job"]["exit_code"].as_i64()), (Some("job.failed"), Some(2)));
    let retry = DeliveryOutcome {
        at: Timestamp(6),
        status: Some(500),
        error: None,
        delivered: false,
        retry_at: Some(Timestamp(100)),
    };
    s.record_delivery(due[0].id, retry).await.unwrap();
    assert!(s.due_deliveries(Timestamp(99), 10).await.unwrap().is_empty());
    let ok = DeliveryOutcome { at: Timestamp(101), status: Some(200), error: None, delivered: true, retry_at: None };
    s.record_delivery(due[0].id, ok).await.unwrap();
    let all = s.list_deliveries(&j.id).await.unwrap();
    assert_eq!((all[0].state, all[0].tries, all[0].last_status), (DeliveryState::Delivered, 2, Some(200)));
}

#[tokio::test]
async fn tokens_are_found_by_hash_until_revoked() {
    let (_d, s) = store().await;
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

#[tokio::test]
async fn container_create_and_remove_reach_the_audit_log() {
    let (_d, s) = store().await;
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

#[tokio::test]
async fn listing_filters_and_pages_newest_first() {
    let (_d, s) = store().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut spec = JobSpec::new(if i % 2 == 0 { "busybox" } else { "alpine" });
        spec.labels.insert("team".into(), if i < 3 { "a".into() } else { "b".into() });
        spec.queue = (i == 4).then(|| "gpu".to_string());
        ids.push(s.create_job(job(if i == 0 { "other" } else { "t" }, 10 + i, spec)).await.unwrap().id);
    }
    let s = &s;
    let list =
        |f: JobFilter| async move { s.list_jobs(&f).await.unwrap().into_iter().map(|j| j.id).collect::<Vec<_>>() };
    let tenant = || JobFilter { tenant: Some("t".into()), ..JobFilter::default() };
    assert_eq!(list(tenant()).await, [ids[4].clone(), ids[3].clone(), ids[2].clone(), ids[1].clone()]);
    assert_eq!(list(JobFilter { image: Some("alpine".into()), ..tenant() }).await, [ids[3].clone(), ids[1].clone()]);
    let team_a = vec![("team".to_string(), Some("a".to_string()))];
    assert_eq!(list(JobFilter { labels: team_a, ..tenant() }).await, [ids[2].clone(), ids[1].clone()]);
    assert_eq!(list(JobFilter { labels: vec![("nope".into(), None)], ..tenant() }).await, Vec::<JobId>::new());
    assert_eq!(list(JobFilter { queue: Some("gpu".into()), ..tenant() }).await, [ids[4].clone()]);
    assert_eq!(list(JobFilter { since: Some(Timestamp(13)), ..tenant() }).await, [ids[4].clone(), ids[3].clone()]);
    let page1 = list(JobFilter { limit: Some(2), ..tenant() }).await;
    let cursor = JobCursor { created_at: Timestamp(13), id: page1[1].clone() };
    let page2 = list(JobFilter { limit: Some(2), before: Some(cursor), ..tenant() }).await;
    assert_eq!(page2, [ids[2].clone(), ids[1].clone()]);
    let counts = s.count_jobs().await.unwrap();
    assert!(counts.contains(&JobCount { queue: "default".into(), status: JobStatus::Queued, count: 4 }));
}
