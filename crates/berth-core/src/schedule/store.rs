//! What the scheduler and the API need from durable state for schedules. The jobs a
//! schedule makes are ordinary jobs carrying a `ScheduleRef`, unique per (schedule, due
//! time) in the job store: that key, not a leader, is what makes a firing happen once.

use std::time::Duration;

use async_trait::async_trait;

use super::ScheduleRecord;
use super::plan::Outage;
use crate::clock::Timestamp;
use crate::store::StoreResult;

#[async_trait]
pub trait ScheduleStore: Send + Sync {
    /// Stores a new schedule; `Conflict` when its tenant has one by that name.
    async fn create_schedule(&self, schedule: &ScheduleRecord) -> StoreResult<()>;
    async fn get_schedule(&self, id: &str) -> StoreResult<ScheduleRecord>;
    /// By id, or by name within `tenant` (an admin's `None` looks names up in every tenant
    /// and wants exactly one).
    async fn find_schedule(&self, key: &str, tenant: Option<&str>) -> StoreResult<ScheduleRecord>;
    async fn list_schedules(&self, tenant: Option<&str>) -> StoreResult<Vec<ScheduleRecord>>;
    /// Writes the config, the pause, `resumed_at` and `updated_at` if the stored `version`
    /// is still the record's (and bumps it); with `due` also moves the cursor (a changed
    /// expression, a resume) and clears what waits. False when someone wrote it meanwhile.
    async fn update_schedule(&self, schedule: &ScheduleRecord, due: Option<Option<Timestamp>>) -> StoreResult<bool>;
    async fn delete_schedule(&self, id: &str) -> StoreResult<bool>;
    /// Unpaused schedules whose cursor is at or before `now`, or with a due time waiting.
    async fn due_schedules(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<ScheduleRecord>>;
    /// Moves the cursor from `from` to `to` if no one moved it meanwhile; false if someone did.
    async fn advance_schedule(&self, id: &str, from: Timestamp, to: Option<Timestamp>) -> StoreResult<bool>;
    /// Sets (or clears) the `queue-one` waiting due time if it still is `from`.
    async fn set_waiting(&self, id: &str, from: Option<Timestamp>, to: Option<Timestamp>) -> StoreResult<bool>;
    /// Records `node`'s scheduler as alive at `at`. When no scheduler was (no beat at or
    /// before `at` within `outage_after`, or none ever), records and returns that outage:
    /// from the last beat (or the epoch) to `at`. Beats and outages older than a month go.
    async fn scheduler_beat(&self, node: &str, at: Timestamp, outage_after: Duration) -> StoreResult<Option<Outage>>;
    /// The recorded outages that ended after `t`, oldest first.
    async fn outages_after(&self, t: Timestamp) -> StoreResult<Vec<Outage>>;
}
