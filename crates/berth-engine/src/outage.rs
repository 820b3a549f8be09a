//! Riding out a short store outage (a PostgreSQL restart, a failover) on an attempt's own
//! writes: a call that finds the store unavailable is tried again with backoff for up to
//! `RIDE_OUT`, so a restart of a few seconds ends no job with a false reason. Longer outages
//! are the heartbeat's: the lease runs out and the worker stops the attempt.

use std::future::Future;
use std::time::{Duration, Instant};

use berth_core::store::{StoreError, StoreResult};

use crate::cancel::Cancel;

/// How long one write is retried while the store is unavailable.
pub const RIDE_OUT: Duration = Duration::from_secs(20);
/// How long one try may take: a connection cut off without a reset never answers.
const TRY_FOR: Duration = Duration::from_secs(5);

/// `call`, again while it fails with `StoreError::Unavailable` (or does not answer within
/// `TRY_FOR`), for up to `RIDE_OUT`, and not once `lease` says the lease is lost (the
/// heartbeat gave up: the attempt must stop, not wait). Only for writes that may run twice
/// (a retried write whose first try committed gets the store's answer for the second: the
/// same state, or `Fenced`/`Transition`, which the caller reads as such).
pub(crate) async fn ride_out<T, F, Fut>(what: &str, lease: Option<&Cancel>, mut call: F) -> StoreResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = StoreResult<T>>,
{
    let give_up = Instant::now() + RIDE_OUT;
    let mut wait = Duration::from_millis(100);
    loop {
        let tried = tokio::time::timeout(TRY_FOR, call())
            .await
            .unwrap_or_else(|_| Err(StoreError::Unavailable(format!("no answer within {}s", TRY_FOR.as_secs()))));
        let lost = lease.is_some_and(Cancel::is_lease_lost);
        match tried {
            Err(StoreError::Unavailable(e)) if !lost && Instant::now() + wait < give_up => {
                tracing::warn!("{what}: the store is unavailable, trying again in {wait:?}: {e}");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(2));
            }
            done => return done,
        }
    }
}
