//! Conformance cases for schedules: one job per (schedule, due time) under concurrent
//! creators, names unique per tenant, and a cursor that only moves by compare-and-set.

use berth_core::JobSpec;
use berth_core::clock::Timestamp;
use berth_core::ids::JobId;
use berth_core::schedule::plan::Outage;
use berth_core::schedule::{Pause, ScheduleConfig, ScheduleRecord, ScheduleState};
use berth_core::store::*;

fn scheduled(id: &str, due: i64) -> NewJob {
    let mut j = NewJob::new(JobId::generate(), JobSpec::new("busybox"), None, Timestamp(due));
    j.tenant = "t".into();
    j.schedule = Some(ScheduleRef { id: id.into(), due_at: Timestamp(due), manual: false });
    j
}

pub async fn scheduled_jobs_are_one_per_due_time_however_many_create_them(s: &dyn Store) {
    let makers = (0..8).map(|_| s.create_job(scheduled("s1", 60_000)));
    let made: Vec<JobRecord> = futures::future::join_all(makers).await.into_iter().map(Result::unwrap).collect();
    assert!(made.iter().all(|j| j.id == made[0].id), "one due time made two jobs");
    assert_eq!(made[0].schedule, Some(ScheduleRef { id: "s1".into(), due_at: Timestamp(60_000), manual: false }));
    let next = s.create_job(scheduled("s1", 120_000)).await.unwrap();
    let other = s.create_job(scheduled("s2", 60_000)).await.unwrap();
    assert_ne!(next.id, made[0].id);
    assert_ne!(other.id, made[0].id);
    let of_s1 = s.list_jobs(&JobFilter { schedule: Some("s1".into()), ..JobFilter::default() }).await.unwrap();
    let ids: Vec<JobId> = of_s1.into_iter().map(|j| j.id).collect();
    assert_eq!(ids, [next.id, made[0].id.clone()]);
    assert_eq!(s.get_job(&made[0].id).await.unwrap().schedule.map(|r| r.due_at), Some(Timestamp(60_000)));
    // Manual triggers are outside the due times: never deduplicated, shown at their making.
    let mut by_hand = scheduled("s1", 60_000);
    by_hand.schedule.as_mut().unwrap().manual = true;
    let (m1, m2) = (
        s.create_job(by_hand.clone()).await.unwrap(),
        s.create_job(NewJob { id: JobId::generate(), ..by_hand }).await.unwrap(),
    );
    assert_ne!(m1.id, m2.id);
    assert_ne!(m1.id, made[0].id);
    assert_eq!(m1.schedule, Some(ScheduleRef { id: "s1".into(), due_at: m1.created_at, manual: true }));
}

fn record(tenant: &str, name: &str, next: Option<i64>) -> ScheduleRecord {
    let config: ScheduleConfig = serde_json::from_value(serde_json::json!({
        "name": name, "cron": "* * * * *", "spec": {"image": "busybox"}
    }))
    .unwrap();
    ScheduleRecord {
        id: JobId::generate().to_string(),
        tenant: tenant.into(),
        config,
        paused: None,
        next_due_at: next.map(Timestamp),
        waiting_due_at: None,
        resumed_at: Timestamp(1),
        created_at: Timestamp(1),
        updated_at: Timestamp(1),
        version: 0,
    }
}

pub async fn schedules_keep_names_per_tenant_and_move_by_compare_and_set(s: &dyn Store) {
    let a = record("t", "nightly", Some(60_000));
    s.create_schedule(&a).await.unwrap();
    let again = s.create_schedule(&record("t", "nightly", Some(60_000))).await;
    assert!(matches!(again, Err(StoreError::Conflict(m)) if m.contains("already has a schedule named `nightly`")));
    let b = record("u", "nightly", Some(120_000));
    s.create_schedule(&b).await.unwrap();
    assert_eq!(s.find_schedule("nightly", Some("t")).await.unwrap().id, a.id);
    assert_eq!(s.find_schedule(&b.id, Some("u")).await.unwrap(), b);
    assert!(matches!(s.find_schedule(&b.id, Some("t")).await, Err(StoreError::NotFound(_))));
    assert!(matches!(s.find_schedule("nightly", None).await, Err(StoreError::Conflict(_))));
    assert_eq!(s.list_schedules(Some("t")).await.unwrap(), std::slice::from_ref(&a));
    assert_eq!(s.list_schedules(None).await.unwrap().len(), 2);

    let due = |now| async move {
        s.due_schedules(Timestamp(now), 10).await.unwrap().into_iter().map(|r| r.id).collect::<Vec<_>>()
    };
    assert_eq!(due(59_999).await, Vec::<String>::new());
    assert_eq!(due(120_000).await, [a.id.clone(), b.id.clone()]);
    assert!(!s.advance_schedule(&a.id, Timestamp(1), Some(Timestamp(180_000))).await.unwrap(), "a stale cursor moved");
    assert!(s.advance_schedule(&a.id, Timestamp(60_000), Some(Timestamp(180_000))).await.unwrap());
    assert!(!s.advance_schedule(&a.id, Timestamp(60_000), Some(Timestamp(240_000))).await.unwrap(), "moved twice");
    assert_eq!(due(120_000).await, std::slice::from_ref(&b.id));

    assert!(s.set_waiting(&a.id, None, Some(Timestamp(150_000))).await.unwrap());
    assert!(!s.set_waiting(&a.id, None, Some(Timestamp(160_000))).await.unwrap(), "two due times waited");
    assert_eq!(due(120_000).await, [b.id.clone(), a.id.clone()], "a waiting due time makes a schedule due");
    assert!(s.set_waiting(&a.id, Some(Timestamp(150_000)), None).await.unwrap());

    let mut paused = s.get_schedule(&b.id).await.unwrap();
    paused.paused = Some(Pause { at: Timestamp(5), by: "user:x".into(), reason: "maintenance".into() });
    assert!(s.update_schedule(&paused, None).await.unwrap());
    let stale = paused.clone();
    assert!(!s.update_schedule(&stale, None).await.unwrap(), "a write from a stale read went through");
    paused.version += 1;
    assert_eq!(s.get_schedule(&b.id).await.unwrap().state(), ScheduleState::Paused);
    assert_eq!(
        s.get_schedule(&b.id).await.unwrap().next_due_at,
        Some(Timestamp(120_000)),
        "no `due`: the cursor stays"
    );
    assert_eq!(due(500_000).await, std::slice::from_ref(&a.id), "paused schedules are not due");
    paused.paused = None;
    assert!(s.update_schedule(&paused, Some(None)).await.unwrap());
    assert_eq!(s.get_schedule(&b.id).await.unwrap().state(), ScheduleState::Ended);

    let gap = std::time::Duration::from_secs(10);
    let first = s.scheduler_beat("n1", Timestamp(100_000), gap).await.unwrap();
    assert_eq!(first, Some(Outage { from: Timestamp(0), to: Timestamp(100_000) }), "no scheduler ever: an outage");
    assert_eq!(s.scheduler_beat("n2", Timestamp(105_000), gap).await.unwrap(), None);
    assert_eq!(s.scheduler_beat("n1", Timestamp(114_000), gap).await.unwrap(), None);
    let gone = s.scheduler_beat("n2", Timestamp(130_000), gap).await.unwrap();
    assert_eq!(gone, Some(Outage { from: Timestamp(114_000), to: Timestamp(130_000) }));
    // A beat from a clock ahead is no evidence of life.
    assert_eq!(
        s.scheduler_beat("n3", Timestamp(900_000), gap).await.unwrap().map(|o| o.from),
        Some(Timestamp(130_000))
    );
    assert_eq!(
        s.scheduler_beat("n1", Timestamp(140_001), gap).await.unwrap().map(|o| o.from),
        Some(Timestamp(130_000))
    );
    let after = s.outages_after(Timestamp(100_000)).await.unwrap();
    assert_eq!(after.iter().map(|o| o.to.0).collect::<Vec<_>>(), [130_000, 140_001, 900_000]);
    assert!(s.delete_schedule(&a.id).await.unwrap());
    assert!(!s.delete_schedule(&a.id).await.unwrap());
    assert!(matches!(s.get_schedule(&a.id).await, Err(StoreError::NotFound(_))));
}
