//! Conformance cases for the batched paths: claims of many jobs in one transaction, and
//! status changes that share a group commit. Each must mean exactly what the single write
//! means: claim order, every running limit, fencing, the lifecycle, one event per change.

use futures::future::join_all;

use super::*;

fn spec_with(f: impl FnOnce(&mut JobSpec)) -> JobSpec {
    let mut spec = JobSpec::new("busybox");
    f(&mut spec);
    spec
}

async fn claim_ids(s: &dyn Store, req: &ClaimRequest, max: u32) -> Vec<JobId> {
    s.claim_batch(req, max).await.unwrap().into_iter().map(|j| j.id).collect()
}

pub async fn a_batched_claim_keeps_claim_order_and_every_running_limit(s: &dyn Store) {
    s.ensure_tenant("small", Timestamp(0)).await.unwrap();
    s.set_tenant_limit("small", Some(2)).await.unwrap();
    s.set_queue_limit("gpu", Some(1)).await.unwrap();
    let mut small = Vec::new();
    for at in 1..=4 {
        small.push(s.create_job(job("small", at, JobSpec::new("busybox"))).await.unwrap().id);
    }
    let b1 = s.create_job(job("big", 5, JobSpec::new("busybox"))).await.unwrap().id;
    let b2 = s.create_job(job("big", 6, JobSpec::new("busybox"))).await.unwrap().id;
    let urgent = s.create_job(job("big", 7, spec_with(|j| j.priority = 5))).await.unwrap().id;
    let keyed = |j: &mut JobSpec| j.concurrency = Some(berth_core::retry::Concurrency { key: "k".into(), limit: 1 });
    let k1 = s.create_job(job("big", 8, spec_with(keyed))).await.unwrap().id;
    s.create_job(job("big", 9, spec_with(keyed))).await.unwrap();
    let gpu = |j: &mut JobSpec| {
        j.queue = Some("gpu".into());
        j.priority = 3;
    };
    let g1 = s.create_job(job("big", 10, spec_with(gpu))).await.unwrap().id;
    s.create_job(job("big", 11, spec_with(gpu))).await.unwrap();
    let req = ClaimRequest { queues: vec!["default".into(), "gpu".into()], ..claim_req("w", 20) };
    let claimed = s.claim_batch(&req, 20).await.unwrap();
    let ids: Vec<JobId> = claimed.iter().map(|j| j.id.clone()).collect();
    // Claim order across both queues; `small` stops at 2 running, the key at 1, `gpu` at 1.
    assert_eq!(ids, [urgent, g1, small[0].clone(), small[1].clone(), b1, b2, k1]);
    let mut tokens = Vec::new();
    for j in &claimed {
        let lease = j.lease.as_ref().unwrap();
        assert_eq!((j.status, lease.owner.as_str(), lease.expires_at), (JobStatus::Starting, "w", Timestamp(30_020)));
        tokens.push((j.id.clone(), lease.token));
        let events = s.read_events(&j.id, 0, 10).await.unwrap();
        let statuses: Vec<&str> = events.iter().filter_map(|e| e.data["status"].as_str()).collect();
        assert_eq!(statuses, ["queued", "starting"], "one event per claimed job");
    }
    assert_eq!(claim_ids(s, &req, 20).await, Vec::<JobId>::new(), "every job left is held by a limit");
    finish(s, &small[0], 21).await;
    assert_eq!(claim_ids(s, &req, 20).await, [small[2].clone()], "a free place in `small` takes the next one");
    // A batch takes no more than it asks for.
    let plain: Vec<JobId> = {
        let mut v = Vec::new();
        for at in 30..33 {
            v.push(s.create_job(job("big", at, JobSpec::new("busybox"))).await.unwrap().id);
        }
        v
    };
    assert_eq!(claim_ids(s, &claim_req("w", 40), 2).await, plain[..2]);
    assert_eq!(claim_ids(s, &claim_req("w", 40), 5).await, plain[2..]);
}

pub async fn concurrent_batched_claims_hand_out_each_job_once_within_limits(s: &dyn Store) {
    s.ensure_tenant("capped", Timestamp(0)).await.unwrap();
    s.set_tenant_limit("capped", Some(5)).await.unwrap();
    for at in 0..120 {
        let tenant = if at % 3 == 0 { "capped" } else { "free" };
        s.create_job(job(tenant, at, JobSpec::new("busybox"))).await.unwrap();
    }
    let claimers = (0..6).map(|w| async move {
        let mut mine = Vec::new();
        loop {
            let got = claim_ids(s, &claim_req(&format!("w{w}"), 1000), 7).await;
            if got.is_empty() {
                return mine;
            }
            mine.extend(got);
        }
    });
    let mut all: Vec<JobId> = join_all(claimers).await.concat();
    let claimed = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), claimed, "no job was handed out twice");
    // 80 `free` jobs and exactly 5 of the 40 `capped` ones.
    assert_eq!(claimed, 85);
    let running =
        JobFilter { statuses: vec![JobStatus::Starting], tenant: Some("capped".into()), ..JobFilter::default() };
    assert_eq!(s.list_jobs(&running).await.unwrap().len(), 5);
}

pub async fn status_changes_sharing_a_commit_are_each_checked_alone(s: &dyn Store) {
    let mut jobs = Vec::new();
    for at in 0..8 {
        jobs.push(s.create_job(job("t", at, JobSpec::new("busybox"))).await.unwrap().id);
    }
    let hooked = spec_with(|j| j.notify = vec![Notify { url: "http://127.0.0.1:1/h".into(), events: vec![] }]);
    let hooked = s.create_job(job("t", 9, hooked)).await.unwrap().id;
    let leased = s.claim_batch(&claim_req("w", 10), 10).await.unwrap();
    let fence = |i: usize| leased[i].lease.as_ref().map(Lease::fence);
    let stale = Fence { owner: "w".into(), token: fence(1).unwrap().token + 100, expired_by: None };
    // The reaper's fences: the lease must have run out before `expired_by`.
    let reaped = |i: usize, by: i64| fence(i).map(|f| Fence { expired_by: Some(Timestamp(by)), ..f });
    let missing = JobId::generate();
    let changes = vec![
        (jobs[0].clone(), StatusChange::to(JobStatus::Running, Timestamp(11)).fenced(fence(0))),
        (jobs[1].clone(), StatusChange::to(JobStatus::Running, Timestamp(11)).fenced(Some(stale))),
        (jobs[2].clone(), StatusChange::to(JobStatus::Starting, Timestamp(11))),
        (jobs[3].clone(), StatusChange::to(JobStatus::Running, Timestamp(11)).only_from(JobStatus::Running)),
        (missing.clone(), StatusChange::to(JobStatus::Running, Timestamp(11))),
        (jobs[4].clone(), StatusChange::end(Reason::Exited { code: 4 }, Some(4), Timestamp(12))),
        // Two ends of one job at once: the first wins, the second finds it ended.
        (jobs[5].clone(), StatusChange::end(Reason::Exited { code: 0 }, Some(0), Timestamp(12))),
        (jobs[5].clone(), StatusChange::end(Reason::Exited { code: 1 }, Some(1), Timestamp(13))),
        (hooked.clone(), StatusChange::end(Reason::Exited { code: 0 }, Some(0), Timestamp(14))),
        (jobs[6].clone(), StatusChange::end(Reason::WorkerLost, None, Timestamp(15)).fenced(reaped(6, i64::MAX))),
        (jobs[7].clone(), StatusChange::end(Reason::WorkerLost, None, Timestamp(15)).fenced(reaped(7, 11))),
    ];
    let done = join_all(changes.iter().map(|(id, c)| s.set_status(id, c.clone()))).await;
    for record in done.iter().flatten() {
        if record.id != jobs[5] {
            assert_eq!(record, &s.get_job(&record.id).await.unwrap(), "a batch returns what it stored");
        }
    }
    let running = done[0].as_ref().unwrap();
    assert_eq!((running.status, running.started_at), (JobStatus::Running, Some(Timestamp(11))));
    assert!(matches!(done[1], Err(StoreError::Fenced(_))), "{:?}", done[1]);
    assert!(matches!(done[2], Err(StoreError::Transition(_))), "{:?}", done[2]);
    assert!(matches!(done[3], Err(StoreError::Conflict(_))), "{:?}", done[3]);
    assert!(matches!(done[4], Err(StoreError::NotFound(_))), "{:?}", done[4]);
    let failed = done[5].as_ref().unwrap();
    assert_eq!(
        (failed.status, failed.exit_code, failed.finished_at),
        (JobStatus::Failed, Some(4), Some(Timestamp(12)))
    );
    assert_eq!((failed.lease.as_ref(), failed.reason.clone()), (None, Some(Reason::Exited { code: 4 })));
    assert_eq!(done[6].as_ref().unwrap().status, JobStatus::Succeeded);
    assert!(matches!(done[7], Err(StoreError::Transition(_))), "{:?}", done[7]);
    assert_eq!(s.get_job(&jobs[5]).await.unwrap().exit_code, Some(0), "the second end changed nothing");
    assert_eq!(done[9].as_ref().unwrap().status, JobStatus::Lost, "a lease that ran out is the reaper's");
    assert!(matches!(done[10], Err(StoreError::Fenced(_))), "a lease still held is not: {:?}", done[10]);
    // One event per change that was written; none for the refused ones.
    for (id, want) in [
        (&jobs[0], 3),
        (&jobs[1], 2),
        (&jobs[2], 2),
        (&jobs[3], 2),
        (&jobs[4], 3),
        (&jobs[5], 3),
        (&jobs[6], 3),
        (&jobs[7], 2),
    ] {
        assert_eq!(s.read_events(id, 0, 10).await.unwrap().len(), want, "events of {id}");
    }
    let deliveries = s.list_deliveries(&hooked).await.unwrap();
    assert_eq!(deliveries.len(), 1, "the terminal change queued its webhook in the same write");
}
