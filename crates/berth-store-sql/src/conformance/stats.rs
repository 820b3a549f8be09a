//! The overview's counts: unfinished by status, finished by minute, per tenant.

use berth_core::JobSpec;
use berth_core::clock::Timestamp;
use berth_core::status::{JobStatus, Reason};
use berth_core::store::{MinuteCount, StatusChange, Store};

use super::job;

pub async fn stats_count_unfinished_jobs_and_finished_ones_by_minute(s: &dyn Store) {
    let mut ids = Vec::new();
    for (i, tenant) in ["t", "t", "t", "t", "t", "other"].into_iter().enumerate() {
        ids.push(s.create_job(job(tenant, 10 + i as i64, JobSpec::new("busybox"))).await.unwrap().id);
    }
    let end = |code: i64, at: i64| StatusChange::end(Reason::Exited { code }, Some(code), Timestamp(at));
    s.set_status(&ids[0], end(0, 30_000)).await.unwrap(); // before the window
    s.set_status(&ids[1], end(0, 60_005)).await.unwrap();
    s.set_status(&ids[2], end(1, 119_999)).await.unwrap();
    s.set_status(&ids[3], end(0, 180_000)).await.unwrap();
    s.set_status(&ids[5], end(0, 60_000)).await.unwrap(); // another tenant's
    let minute = |m: i64, status, count| MinuteCount { minute: Timestamp(m * 60_000), status, count };

    let t = s.job_stats(Some("t"), Timestamp(60_000)).await.unwrap();
    assert_eq!(t.unfinished, [(JobStatus::Queued, 1)]);
    let expected =
        [minute(1, JobStatus::Failed, 1), minute(1, JobStatus::Succeeded, 1), minute(3, JobStatus::Succeeded, 1)];
    assert_eq!(t.finished, expected);

    let all = s.job_stats(None, Timestamp(60_000)).await.unwrap();
    let succeeded_in_minute_1 = all.finished.iter().find(|m| m.minute.0 == 60_000 && m.status == JobStatus::Succeeded);
    assert_eq!(succeeded_in_minute_1.map(|m| m.count), Some(2), "every tenant's: {all:?}");
    let nobody = s.job_stats(Some("nobody"), Timestamp(0)).await.unwrap();
    assert_eq!((nobody.unfinished.len(), nobody.finished.len()), (0, 0));
}
