//! The clock live configuration schedules its reads by: the monotonic clock in production,
//! one moved by hand in tests (the refresh rule is tested without sleeping). It must never
//! go backwards or read the wall clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Where "now" comes from: the monotonic clock, or a hand-driven one in tests.
#[derive(Debug, Clone)]
pub struct Clock(ClockKind);

#[derive(Debug, Clone)]
enum ClockKind {
    System(Instant),
    Manual(Arc<AtomicU64>),
}

impl Clock {
    pub fn system() -> Clock {
        Clock(ClockKind::System(Instant::now()))
    }

    /// Milliseconds since the clock started.
    pub(super) fn now_ms(&self) -> u64 {
        match &self.0 {
            ClockKind::System(start) => {
                u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
            }
            ClockKind::Manual(ms) => ms.load(Ordering::Acquire),
        }
    }
}

/// A clock that moves only when told to (tests of the refresh rule without sleeping).
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    pub fn new() -> ManualClock {
        ManualClock::default()
    }

    pub fn clock(&self) -> Clock {
        Clock(ClockKind::Manual(self.0.clone()))
    }

    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.0.fetch_add(ms, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let manual = ManualClock::new();
        let clock = manual.clock();
        assert_eq!(clock.now_ms(), 0);
        manual.advance(Duration::from_secs(31));
        assert_eq!(clock.now_ms(), 31_000);
    }
}
