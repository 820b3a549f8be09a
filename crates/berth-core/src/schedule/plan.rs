//! Which due times of a schedule run now: the pure step the scheduler takes for each
//! schedule, with the missed-run policy applied. No IO and no clock: the caller says what
//! time it is and whether no scheduler was alive for a while (an outage).
//!
//! Due times from the schedule's cursor up to the start of the outage (or up to now, when
//! there was none) are on time and all run. Due times inside the outage were missed:
//! `skip` runs none, `run-once` the latest, `catch-up` the latest `catch_up_max` within
//! `catch_up_window`. The cursor then moves to the first due time after now.

use super::{CronExpr, Missed, ScheduleConfig};
use crate::clock::Timestamp;

/// The most on-time due times one step runs; any beyond count as missed.
pub const MAX_ON_TIME: usize = 1000;
/// How far missed due times are counted; a longer outage reports "at least this many".
pub const MAX_COUNTED: u64 = 10_000;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Due times to make jobs for, oldest first.
    pub run: Vec<Timestamp>,
    /// Missed due times that do not run (counted up to `MAX_COUNTED`).
    pub missed: u64,
    /// Where the cursor goes: the first due time after now; `None` once `end_at` passed.
    pub next_due: Option<Timestamp>,
}

/// Plans one step: the cursor is at `next_due` (not handled yet); `outage_from` is when a
/// scheduler was last alive, if none was for long enough to call it an outage.
pub fn plan(
    expr: &CronExpr,
    config: &ScheduleConfig,
    next_due: Timestamp,
    now: Timestamp,
    outage_from: Option<Timestamp>,
) -> Plan {
    let end = config.end_time();
    let live = |t: &Timestamp| end.is_none_or(|e| *t <= e);
    let on_time_until = outage_from.map_or(now, |c| c.min(now));
    let mut plan = Plan::default();
    let mut cursor = Some(next_due).filter(live);
    while let Some(t) = cursor.filter(|t| *t <= on_time_until && plan.run.len() < MAX_ON_TIME) {
        plan.run.push(t);
        cursor = expr.next_after(t).filter(live);
    }
    if let Some(first_missed) = cursor.filter(|t| *t <= now) {
        let last = end.map_or(now, |e| e.min(now));
        let kept = kept_missed(expr, config, first_missed, last, now);
        plan.missed = count_between(expr, first_missed, last).saturating_sub(kept.len() as u64);
        plan.run.extend(kept);
    }
    plan.next_due = expr.next_after(now).filter(live);
    plan
}

/// The missed due times in `[first, last]` that run under the schedule's policy, oldest first.
fn kept_missed(
    expr: &CronExpr,
    config: &ScheduleConfig,
    first: Timestamp,
    last: Timestamp,
    now: Timestamp,
) -> Vec<Timestamp> {
    let (want, since) = match config.missed {
        Missed::Skip => return Vec::new(),
        Missed::RunOnce => (1, first),
        Missed::CatchUp => {
            let window = i64::try_from(config.catch_up_window.0.as_millis()).unwrap_or(i64::MAX);
            (config.catch_up_max as usize, first.max(Timestamp(now.0.saturating_sub(window))))
        }
    };
    let mut kept = Vec::new();
    let mut at = expr.latest_at(last);
    while let Some(t) = at.filter(|t| *t >= since && kept.len() < want) {
        kept.push(t);
        at = expr.latest_at(Timestamp(t.0 - 1));
    }
    kept.reverse();
    kept
}

fn count_between(expr: &CronExpr, first: Timestamp, last: Timestamp) -> u64 {
    let mut n = 0;
    let mut at = Some(first);
    while let Some(t) = at.filter(|t| *t <= last && n < MAX_COUNTED) {
        n += 1;
        at = expr.next_after(t);
    }
    n
}
