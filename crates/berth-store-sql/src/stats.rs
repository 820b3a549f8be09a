//! The overview's counts (`Store::job_stats`): the same SQL on both databases.

use berth_core::clock::Timestamp;
use berth_core::store::{JobStats, MinuteCount, StoreError, StoreResult};

/// Unfinished jobs by status: a range of the status (or tenant) index. `$1`: tenant or NULL.
pub const UNFINISHED: &str = "SELECT status, COUNT(*) FROM jobs
    WHERE status IN ('queued', 'starting', 'running') AND ($1 IS NULL OR tenant = $1)
    GROUP BY status ORDER BY status";

/// Jobs finished since `$1` by status and minute: a range of the finished-time index.
pub const FINISHED: &str = "SELECT status, finished_at / 60000, COUNT(*) FROM jobs
    WHERE finished_at >= $1 AND ($2 IS NULL OR tenant = $2)
    GROUP BY status, finished_at / 60000 ORDER BY 2, 1";

pub fn collect(unfinished: Vec<(String, i64)>, finished: Vec<(String, i64, i64)>) -> StoreResult<JobStats> {
    let status = |s: String| s.parse().map_err(StoreError::Corrupt);
    Ok(JobStats {
        unfinished: unfinished.into_iter().map(|(s, n)| Ok((status(s)?, n as u64))).collect::<StoreResult<_>>()?,
        finished: finished
            .into_iter()
            .map(|(s, minute, n)| {
                Ok(MinuteCount { minute: Timestamp(minute * 60_000), status: status(s)?, count: n as u64 })
            })
            .collect::<StoreResult<_>>()?,
    })
}
