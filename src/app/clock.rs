//! Time, injected so that tests move it instead of waiting.

use std::sync::{Arc, Mutex};

use time::OffsetDateTime;

/// A source of the current instant.
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> OffsetDateTime;

    /// How many clock seconds pass per real second (1 except for demo time warps), so the
    /// scheduler can turn "time until the deadline" into a real sleep.
    fn speed(&self) -> u32 {
        1
    }
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

/// A demo clock that runs `factor` times faster than real time from a starting instant,
/// so a walkthrough can reach a tacit approval in minutes (development mode only).
#[derive(Debug, Clone, Copy)]
pub struct WarpClock {
    start_wall: OffsetDateTime,
    start: std::time::Instant,
    factor: u32,
}

impl WarpClock {
    /// Starts now, running `factor` times faster.
    pub fn new(factor: u32) -> Self {
        Self {
            start_wall: OffsetDateTime::now_utc(),
            start: std::time::Instant::now(),
            factor: factor.max(1),
        }
    }
}

impl Clock for WarpClock {
    fn now(&self) -> OffsetDateTime {
        self.start_wall + self.start.elapsed() * self.factor
    }

    fn speed(&self) -> u32 {
        self.factor
    }
}

/// A clock that follows the shared store's clock (Redis `TIME`), so that replicas whose own
/// clocks drift agree on "now". The offset is refreshed in the background by its owner.
#[derive(Debug, Clone, Default)]
pub struct OffsetClock(Arc<std::sync::atomic::AtomicI64>);

impl OffsetClock {
    /// Sets the offset (reference time minus local time), in nanoseconds.
    pub fn set_offset(&self, nanos: i64) {
        self.0.store(nanos, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
            + time::Duration::nanoseconds(self.0.load(std::sync::atomic::Ordering::Relaxed))
    }
}
