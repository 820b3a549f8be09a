//! Reading a cron expression in an IANA time zone, and the due times it gives.
//!
//! The wall clock of the zone decides, and daylight saving time follows croner's rule
//! (the Open Cron Pattern Specification, as Vixie cron): a **fixed time** (numbers in the
//! second, minute and hour fields) that does not exist on a spring-forward day runs once at
//! the first instant after the gap, and one that happens twice on a fall-back day runs once,
//! at its first occurrence; an **interval** (`*` or a step in one of those fields) has no due
//! times inside the gap and runs through both passes of a repeated hour.

use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use crate::clock::Timestamp;
use crate::spec_load::FieldError;

const NICKNAMES: [&str; 7] = ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"];

/// A parsed expression and its zone.
#[derive(Clone, Debug)]
pub struct CronExpr {
    cron: Cron,
    tz: Tz,
}

impl CronExpr {
    /// Parses `expr` (5 or 6 fields, or a nickname) read in `timezone`; errors name the field
    /// (`cron` or `timezone`) and say what was expected.
    pub fn parse(expr: &str, timezone: &str) -> Result<CronExpr, FieldError> {
        let tz = Tz::from_str(timezone.trim()).map_err(|_| {
            FieldError::new(
                "timezone",
                format!("`{timezone}` is not an IANA time zone: expected e.g. UTC, Europe/Berlin or America/New_York"),
            )
        })?;
        let text = expr.trim();
        let bad = |m: String| FieldError::new("cron", m);
        if let Some(nick) = text.strip_prefix('@') {
            let nick = format!("@{}", nick.to_ascii_lowercase());
            let nick = if nick == "@midnight" { "@daily".to_string() } else { nick };
            if !NICKNAMES.contains(&nick.as_str()) {
                return Err(bad(format!("`{text}` is not one of {}", NICKNAMES.join(", "))));
            }
            return Self::build(&nick, tz).map_err(bad);
        }
        let fields = text.split_whitespace().count();
        if fields != 5 && fields != 6 {
            return Err(bad(format!(
                "5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first) expected, got {fields}"
            )));
        }
        Self::build(text, tz).map_err(bad)
    }

    fn build(text: &str, tz: Tz) -> Result<CronExpr, String> {
        let parser = CronParser::builder().seconds(Seconds::Optional).year(Year::Disallowed).build();
        let cron = parser.parse(text).map_err(|e| format!("`{text}`: {}", plain(&e)))?;
        let expr = CronExpr { cron, tz };
        // A pattern that never matches (`0 0 31 2 *`) is refused now, not at every tick.
        if expr.next_after(Timestamp(0)).is_none() {
            return Err(format!("`{text}` never matches a real date"));
        }
        Ok(expr)
    }

    /// The first due time strictly after `t`; `None` when there is none.
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        let at: DateTime<Tz> = self.tz.timestamp_millis_opt(t.0).single()?;
        let next = self.cron.find_next_occurrence(&at, false).ok()?;
        Some(Timestamp(next.timestamp_millis()))
    }

    /// The latest due time at or before `t`.
    pub fn latest_at(&self, t: Timestamp) -> Option<Timestamp> {
        let at: DateTime<Tz> = self.tz.timestamp_millis_opt(t.0).single()?;
        let prev = self.cron.find_previous_occurrence(&at, true).ok()?;
        Some(Timestamp(prev.timestamp_millis()))
    }

    /// The next `n` due times after `t`.
    pub fn upcoming(&self, t: Timestamp, n: usize) -> Vec<Timestamp> {
        std::iter::successors(self.next_after(t), |d| self.next_after(*d)).take(n).collect()
    }

    /// `t` on the zone's wall clock, e.g. `2026-03-29 03:00:00 CEST`.
    pub fn local(&self, t: Timestamp) -> String {
        match self.tz.timestamp_millis_opt(t.0).single() {
            Some(at) => at.format("%Y-%m-%d %H:%M:%S %Z").to_string(),
            None => Utc.timestamp_millis_opt(t.0).single().map(|u| u.to_rfc3339()).unwrap_or_default(),
        }
    }

    /// An English reading of the expression, e.g. "At 03:00 every day".
    pub fn describe(&self) -> String {
        self.cron.describe()
    }
}

/// croner's messages without its type prefixes.
fn plain(e: &croner::errors::CronError) -> String {
    let text = e.to_string();
    let text = text.strip_prefix("Invalid pattern: ").unwrap_or(&text);
    text.strip_prefix("Component error: ").unwrap_or(text).to_string()
}
