//! Time, injected so that tests move it instead of waiting.

use std::sync::{Arc, Mutex};

use time::OffsetDateTime;

/// A source of the current instant.
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> OffsetDateTime;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that only moves when told to (tests, demos).
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<OffsetDateTime>>);

impl ManualClock {
    /// A clock stopped at `at`.
    pub fn new(at: OffsetDateTime) -> Self {
        Self(Arc::new(Mutex::new(at)))
    }

    /// Moves the clock to `at`.
    pub fn set(&self, at: OffsetDateTime) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: time::Duration) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A clock that follows tokio's (pausable) time from a starting wall-clock instant, so that
/// `tokio::time::pause`/`advance` move both the scheduler's sleeps and the service's "now".
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    start_wall: OffsetDateTime,
    start: tokio::time::Instant,
}

impl TokioClock {
    /// Starts at `at`, now.
    pub fn starting_at(at: OffsetDateTime) -> Self {
        Self {
            start_wall: at,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> OffsetDateTime {
        self.start_wall + self.start.elapsed()
    }
}
