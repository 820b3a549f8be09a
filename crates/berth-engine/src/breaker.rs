//! The circuit breaker in front of a backend: after `threshold` attempts in a row fail
//! because the engine is unreachable, the worker stops claiming (jobs stay queued instead of
//! failing one after another); after `cooldown` it probes the engine (half-open) and resumes
//! when the probe answers.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use berth_core::status::{InfraKind, Reason};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    /// The cooldown passed: the next probe decides.
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    failures: u32,
    opened_at: Option<Instant>,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker::new(3, Duration::from_secs(5))
    }
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Breaker {
        Breaker { threshold: threshold.max(1), cooldown, inner: Mutex::default() }
    }

    pub fn state(&self) -> BreakerState {
        let Ok(inner) = self.inner.lock() else { return BreakerState::Closed };
        match inner.opened_at {
            None => BreakerState::Closed,
            Some(at) if at.elapsed() < self.cooldown => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }

    /// Counts an attempt's ending: an unreachable engine is a failure, anything else shows
    /// the engine answered.
    pub fn record(&self, reason: &Reason) {
        let down = matches!(reason, Reason::Infra { infra: InfraKind::DaemonUnavailable, .. });
        self.probe_result(!down);
    }

    /// The result of a probe (or of any call that shows whether the engine answers).
    pub fn probe_result(&self, ok: bool) {
        let Ok(mut inner) = self.inner.lock() else { return };
        if ok {
            *inner = Inner::default();
            return;
        }
        inner.failures += 1;
        if inner.failures >= self.threshold || inner.opened_at.is_some() {
            if inner.opened_at.is_none() {
                tracing::warn!("circuit open: the engine failed {} time(s) in a row; claiming paused", inner.failures);
            }
            inner.opened_at = Some(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn down() -> Reason {
        Reason::Infra { infra: InfraKind::DaemonUnavailable, message: "gone".into() }
    }

    #[test]
    fn opens_after_the_threshold_and_recovers_through_half_open() {
        let b = Breaker::new(2, Duration::from_millis(30));
        b.record(&down());
        assert_eq!(b.state(), BreakerState::Closed);
        b.record(&Reason::Exited { code: 1 });
        b.record(&down());
        assert_eq!(b.state(), BreakerState::Closed, "a success in between resets the count");
        b.record(&down());
        assert_eq!(b.state(), BreakerState::Open);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        b.probe_result(false);
        assert_eq!(b.state(), BreakerState::Open, "a failed probe opens it again");
        std::thread::sleep(Duration::from_millis(40));
        b.probe_result(true);
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
