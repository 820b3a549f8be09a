//! Which due times of a schedule run now: the pure step the scheduler takes for each
//! schedule, with the missed-run policy applied. No IO and no clock: the caller says what
//! time it is and which outages the store recorded (spans with no scheduler alive).
//!
//! Due times from the schedule's cursor up to now are on time and run, except those inside
//! an outage: those were missed, and `skip` runs none of them, `run-once` the latest,
//! `catch-up` the latest `catch_up_max` within `catch_up_window`. The cursor then moves to
//! the first due time after now. Outages are recorded once, by the heartbeat that ends them,
//! so every node and every step reads the same ones.

use super::{CronExpr, Missed, ScheduleConfig};
use crate::clock::Timestamp;

/// The most on-time due times one step runs; any beyond count as missed.
pub const MAX_ON_TIME: usize = 1000;
/// How far missed due times are counted; a longer outage reports "at least this many".
pub const MAX_COUNTED: u64 = 10_000;

/// A span in which no scheduler recorded a heartbeat: due times in `(from, to]` were missed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outage {
    pub from: Timestamp,
    pub to: Timestamp,
}

impl Outage {
    fn covers(&self, t: Timestamp) -> bool {
        self.from < t && t <= self.to
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Due times to make jobs for, oldest first.
    pub run: Vec<Timestamp>,
    /// Missed due times that do not run (counted up to `MAX_COUNTED`).
    pub missed: u64,
    /// Where the cursor goes: the first due time after now; `None` once `end_at` passed.
    pub next_due: Option<Timestamp>,
}

/// Plans one step for a schedule whose cursor is at `next_due` (not handled yet).
pub fn plan(expr: &CronExpr, config: &ScheduleConfig, next_due: Timestamp, now: Timestamp, outages: &[Outage]) -> Plan {
    let end = config.end_time();
    let last = end.map_or(now, |e| e.min(now));
    let mut plan = Plan::default();
    // Missed stretches, each as (its first due time, the end of its outage).
    let mut missed: Vec<(Timestamp, Timestamp)> = Vec::new();
    let mut cursor = Some(next_due).filter(|t| *t <= last);
    while let Some(t) = cursor {
        if let Some(o) = outages.iter().find(|o| o.covers(t)) {
            let stop = o.to.min(last);
            missed.push((t, stop));
            cursor = expr.next_after(stop).filter(|t| *t <= last);
        } else if plan.run.len() == MAX_ON_TIME {
            missed.push((t, last));
            break;
        } else {
            plan.run.push(t);
            cursor = expr.next_after(t).filter(|t| *t <= last);
        }
    }
    let kept = kept_missed(expr, config, &missed, now);
    let counted: u64 = missed.iter().map(|(first, stop)| count_between(expr, *first, *stop)).sum();
    plan.missed = counted.min(MAX_COUNTED).saturating_sub(kept.len() as u64);
    plan.run.extend(kept);
    plan.run.sort_unstable();
    plan.next_due = config.first_due_after(expr, now);
    plan
}

/// The missed due times that run under the schedule's policy, latest stretch first.
fn kept_missed(
    expr: &CronExpr,
    config: &ScheduleConfig,
    missed: &[(Timestamp, Timestamp)],
    now: Timestamp,
) -> Vec<Timestamp> {
    let (want, since) = match config.missed {
        Missed::Skip => return Vec::new(),
        Missed::RunOnce => (1, Timestamp(i64::MIN)),
        Missed::CatchUp => {
            let window = i64::try_from(config.catch_up_window.0.as_millis()).unwrap_or(i64::MAX);
            (config.catch_up_max as usize, Timestamp(now.0.saturating_sub(window)))
        }
    };
    let mut kept = Vec::new();
    for (first, stop) in missed.iter().rev() {
        let mut at = expr.latest_at(*stop);
        while let Some(t) = at.filter(|t| *t >= *first && *t >= since && kept.len() < want) {
            // Only instants the forward walk gives (a fixed time on a fall-back day runs at
            // its first occurrence; a backward search can land on the second).
            if expr.next_after(Timestamp(t.0 - 1)) == Some(t) {
                kept.push(t);
            }
            at = expr.latest_at(Timestamp(t.0 - 1));
        }
    }
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
