//! Claims on SQLite: one write transaction (`BEGIN IMMEDIATE`) picks the claimable jobs
//! (`listing::claimable`, counting running limits exactly: there is one writer) in rounds
//! (`berth_store_sql::claim_round`: a round ends after a job a running limit applies to, and
//! the next round counts again) and gives them fresh leases. Everything else about jobs is
//! `berth_store_sql::impl_job_store!`.

use berth_core::store::{ClaimRequest, JobRecord, StoreResult};

use crate::{SqliteStore, db_err, listing};

pub(crate) async fn claim_batch(store: &SqliteStore, req: &ClaimRequest, max: u32) -> StoreResult<Vec<JobRecord>> {
    let max = max as usize;
    let mut tx = store.write().await?;
    let mut claimed = Vec::new();
    while claimed.len() < max {
        let found = listing::claimable(&mut tx, req, max - claimed.len()).await?;
        let limited: Vec<bool> = found.iter().map(|(_, l)| *l).collect();
        let take = berth_store_sql::claim_round(&limited);
        let ids: Vec<String> = found.into_iter().take(take).map(|(id, _)| id).collect();
        if ids.is_empty() {
            break;
        }
        claimed.extend(SqliteStore::start_claimed(&mut tx, &ids, req).await?);
        if take == limited.len() && limited.last() == Some(&false) {
            break; // every candidate was taken: there is no more
        }
    }
    if claimed.is_empty() {
        tx.rollback().await.map_err(db_err)?;
    } else {
        tx.commit().await.map_err(db_err)?;
    }
    Ok(claimed)
}
