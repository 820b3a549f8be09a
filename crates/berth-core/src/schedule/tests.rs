//! Next-fire tables (with daylight saving time in two zones), expression errors, and the
//! planner's missed-run policies, all on fixed instants.

use super::plan::{MAX_COUNTED, Outage, plan};
use super::*;
use crate::spec::JobSpec;

fn utc(text: &str) -> Timestamp {
    let t = humantime::parse_rfc3339(text).expect("test instants are RFC 3339");
    Timestamp(t.duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_millis() as i64)
}

fn table(cron: &str, tz: &str, after: &str, n: usize) -> Vec<String> {
    let expr = CronExpr::parse(cron, tz).expect("the table's expression parses");
    expr.upcoming(utc(after), n).into_iter().map(|t| expr.local(t)).collect()
}

#[test]
fn berlin_spring_forward_runs_a_missing_fixed_time_once_after_the_gap() {
    // 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist that day.
    assert_eq!(
        table("30 2 * * *", "Europe/Berlin", "2026-03-27T12:00:00Z", 3),
        ["2026-03-28 02:30:00 CET", "2026-03-29 03:00:00 CEST", "2026-03-30 02:30:00 CEST",]
    );
    // An interval has no due times inside the gap.
    assert_eq!(
        table("*/30 * * * *", "Europe/Berlin", "2026-03-29T00:00:00Z", 3),
        ["2026-03-29 01:30:00 CET", "2026-03-29 03:00:00 CEST", "2026-03-29 03:30:00 CEST",]
    );
}

#[test]
fn berlin_fall_back_runs_a_fixed_time_once_and_an_interval_in_both_passes() {
    // 2026-10-25: 03:00 CEST goes back to 02:00 CET; 02:00-02:59 happens twice.
    assert_eq!(
        table("30 2 * * *", "Europe/Berlin", "2026-10-23T12:00:00Z", 3),
        ["2026-10-24 02:30:00 CEST", "2026-10-25 02:30:00 CEST", "2026-10-26 02:30:00 CET",]
    );
    assert_eq!(
        table("*/30 * * * *", "Europe/Berlin", "2026-10-24T23:45:00Z", 5),
        [
            "2026-10-25 02:00:00 CEST",
            "2026-10-25 02:30:00 CEST",
            "2026-10-25 02:00:00 CET",
            "2026-10-25 02:30:00 CET",
            "2026-10-25 03:00:00 CET",
        ]
    );
}

#[test]
fn new_york_follows_the_same_rule_on_its_own_dates() {
    // 2026-03-08: 02:00 EST jumps to 03:00 EDT.
    assert_eq!(
        table("30 2 * * *", "America/New_York", "2026-03-06T12:00:00Z", 3),
        ["2026-03-07 02:30:00 EST", "2026-03-08 03:00:00 EDT", "2026-03-09 02:30:00 EDT",]
    );
    // 2026-11-01: 02:00 EDT goes back to 01:00 EST; 01:30 happens twice, runs once.
    assert_eq!(
        table("30 1 * * *", "America/New_York", "2026-10-30T12:00:00Z", 3),
        ["2026-10-31 01:30:00 EDT", "2026-11-01 01:30:00 EDT", "2026-11-02 01:30:00 EST",]
    );
    assert_eq!(
        table("0 * * * *", "America/New_York", "2026-11-01T04:30:00Z", 4),
        ["2026-11-01 01:00:00 EDT", "2026-11-01 01:00:00 EST", "2026-11-01 02:00:00 EST", "2026-11-01 03:00:00 EST",]
    );
}

#[test]
fn seconds_nicknames_and_the_default_zone() {
    assert_eq!(
        table("*/20 * * * * *", "UTC", "2026-12-01T10:00:00Z", 3),
        ["2026-12-01 10:00:20 UTC", "2026-12-01 10:00:40 UTC", "2026-12-01 10:01:00 UTC",]
    );
    assert_eq!(table("@daily", "Europe/Berlin", "2026-12-01T10:00:00Z", 1), ["2026-12-02 00:00:00 CET"]);
    assert_eq!(table("@HOURLY", "UTC", "2026-12-01T10:00:00Z", 1), ["2026-12-01 11:00:00 UTC"]);
}

#[test]
fn bad_expressions_and_zones_name_the_field_and_why() {
    let err = |cron: &str, tz: &str| CronExpr::parse(cron, tz).expect_err("refused").to_string();
    assert_eq!(
        err("* * * * * * *", "UTC"),
        "cron: 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first) expected, got 7"
    );
    assert_eq!(
        err("", "UTC"),
        "cron: 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first) expected, got 0"
    );
    assert!(err("61 * * * *", "UTC").starts_with("cron: `61 * * * *`: "), "{}", err("61 * * * *", "UTC"));
    assert!(err("@fortnightly", "UTC").starts_with("cron: `@fortnightly` is not one of @yearly"));
    assert_eq!(err("0 0 31 2 *", "UTC"), "cron: `0 0 31 2 *` never matches a real date");
    assert_eq!(
        err("0 3 * * *", "Mars/Olympus"),
        "timezone: `Mars/Olympus` is not an IANA time zone: expected e.g. UTC, Europe/Berlin or America/New_York"
    );
}

fn config(cron: &str, missed: Missed) -> ScheduleConfig {
    let spec: JobSpec = serde_json::from_value(serde_json::json!({"image": "busybox"})).expect("a minimal spec");
    let mut c: ScheduleConfig =
        serde_json::from_value(serde_json::json!({"name": "t", "cron": cron, "spec": spec})).expect("a config");
    c.missed = missed;
    c
}

fn times(list: &[Timestamp]) -> Vec<String> {
    list.iter().map(|t| t.rfc3339()).collect()
}

#[test]
fn on_time_due_times_all_run_and_the_cursor_moves_past_now() {
    let c = config("* * * * *", Missed::Skip);
    let expr = c.check().expect("valid");
    let p = plan(&expr, &c, utc("2026-12-01T10:00:00Z"), utc("2026-12-01T10:02:00.300Z"), &[]);
    assert_eq!(times(&p.run), ["2026-12-01T10:00:00.000Z", "2026-12-01T10:01:00.000Z", "2026-12-01T10:02:00.000Z"]);
    assert_eq!(p.missed, 0);
    assert_eq!(p.next_due, Some(utc("2026-12-01T10:03:00Z")));
    let early = plan(&expr, &c, utc("2026-12-01T10:03:00Z"), utc("2026-12-01T10:02:59.999Z"), &[]);
    assert_eq!((early.run.len(), early.next_due), (0, Some(utc("2026-12-01T10:03:00Z"))));
}

#[test]
fn each_missed_policy_after_an_outage() {
    // The last scheduler was alive at 10:00:30; one comes back at 10:05:10. 10:00 ran
    // before; 10:01 to 10:05 were missed.
    let (cursor, now, alive) = (utc("2026-12-01T10:01:00Z"), utc("2026-12-01T10:05:10Z"), utc("2026-12-01T10:00:30Z"));
    let run = |c: &ScheduleConfig| {
        let p = plan(&c.check().expect("valid"), c, cursor, now, &[Outage { from: alive, to: now }]);
        assert_eq!(p.next_due, Some(utc("2026-12-01T10:06:00Z")));
        (times(&p.run), p.missed)
    };
    assert_eq!(run(&config("* * * * *", Missed::Skip)), (vec![], 5));
    assert_eq!(run(&config("* * * * *", Missed::RunOnce)), (vec!["2026-12-01T10:05:00.000Z".to_string()], 4));
    let mut catch_up = config("* * * * *", Missed::CatchUp);
    catch_up.catch_up_max = 3;
    assert_eq!(run(&catch_up).0, ["2026-12-01T10:03:00.000Z", "2026-12-01T10:04:00.000Z", "2026-12-01T10:05:00.000Z"]);
    assert_eq!(run(&catch_up).1, 2);
    catch_up.catch_up_window = crate::quantity::DurationSpec::secs(90);
    assert_eq!(run(&catch_up).0, ["2026-12-01T10:04:00.000Z", "2026-12-01T10:05:00.000Z"]);
}

#[test]
fn due_times_before_the_outage_still_run_on_time() {
    // The cursor is at 09:59 (its firing failed); the outage began at 10:00:30.
    let c = config("* * * * *", Missed::Skip);
    let p = plan(
        &c.check().expect("valid"),
        &c,
        utc("2026-12-01T09:59:00Z"),
        utc("2026-12-01T10:03:10Z"),
        &[Outage { from: utc("2026-12-01T10:00:30Z"), to: utc("2026-12-01T10:03:10Z") }],
    );
    assert_eq!(times(&p.run), ["2026-12-01T09:59:00.000Z", "2026-12-01T10:00:00.000Z"]);
    assert_eq!(p.missed, 3);
}

#[test]
fn a_month_long_outage_of_an_every_second_schedule_runs_once_and_counts_a_bounded_miss() {
    let c = config("* * * * * *", Missed::RunOnce);
    let p = plan(
        &c.check().expect("valid"),
        &c,
        utc("2026-11-01T00:00:01Z"),
        utc("2026-12-01T00:00:00.500Z"),
        &[Outage { from: utc("2026-11-01T00:00:00Z"), to: utc("2026-12-01T00:00:00.500Z") }],
    );
    assert_eq!(times(&p.run), ["2026-12-01T00:00:00.000Z"]);
    assert_eq!(p.missed, MAX_COUNTED - 1);
}

#[test]
fn end_at_stops_due_times_and_ends_the_schedule() {
    let mut c = config("* * * * *", Missed::Skip);
    c.end_at = Some("2026-12-01T10:01:30Z".to_string());
    let p = plan(&c.check().expect("valid"), &c, utc("2026-12-01T10:00:00Z"), utc("2026-12-01T10:03:00Z"), &[]);
    assert_eq!(times(&p.run), ["2026-12-01T10:00:00.000Z", "2026-12-01T10:01:00.000Z"]);
    assert_eq!(p.next_due, None);
}

#[test]
fn config_errors_name_each_field() {
    let mut c = config("0 3 * * *", Missed::Skip);
    c.name = "Nightly!".into();
    c.end_at = Some("tomorrow".into());
    c.catch_up_max = 0;
    c.pause_after_failures = Some(0);
    c.jitter = Some(crate::quantity::DurationSpec::secs(7200));
    let fields: Vec<String> = c.check().expect_err("refused").into_iter().map(|e| e.field).collect();
    assert_eq!(fields, ["name", "end_at", "jitter", "catch_up_max", "pause_after_failures"]);
    let same = config("0 3 * * *", Missed::Skip);
    assert_eq!(same.jitter_for("s", utc("2026-12-01T03:00:00Z")), 0);
    let mut jittered = same.clone();
    jittered.jitter = Some(crate::quantity::DurationSpec::secs(30));
    let a = jittered.jitter_for("s", utc("2026-12-01T03:00:00Z"));
    assert_eq!(a, jittered.jitter_for("s", utc("2026-12-01T03:00:00Z")));
    assert!(a < 30_000);
}

#[test]
fn an_outage_that_ended_leaves_the_due_times_after_it_on_time_for_every_later_step() {
    // The outage 10:00:30-10:03:10 was recorded by the beat that ended it; a step at 10:05:10
    // (another node, or a later step) still treats 10:01-10:03 as missed and 10:04-10:05 as on time.
    let c = config("* * * * *", Missed::RunOnce);
    let outage = Outage { from: utc("2026-12-01T10:00:30Z"), to: utc("2026-12-01T10:03:10Z") };
    let p = plan(&c.check().expect("valid"), &c, utc("2026-12-01T10:01:00Z"), utc("2026-12-01T10:05:10Z"), &[outage]);
    assert_eq!(times(&p.run), ["2026-12-01T10:03:00.000Z", "2026-12-01T10:04:00.000Z", "2026-12-01T10:05:00.000Z"]);
    assert_eq!(p.missed, 2);
}

#[test]
fn run_once_after_a_fall_back_outage_picks_a_due_time_the_forward_walk_gives() {
    // 02:30 happens twice in Berlin on 2026-10-25; only the first (00:30 UTC) is a due time.
    let mut c = config("30 2 * * *", Missed::RunOnce);
    c.timezone = "Europe/Berlin".into();
    let expr = c.check().expect("valid");
    let outage = Outage { from: utc("2026-10-24T12:00:00Z"), to: utc("2026-10-25T02:00:00Z") };
    let p = plan(&expr, &c, utc("2026-10-25T00:30:00Z"), utc("2026-10-25T02:00:00Z"), &[outage]);
    assert_eq!(times(&p.run), ["2026-10-25T00:30:00.000Z"]);
}
