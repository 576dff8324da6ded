//! Rate limiting per caller (token subject) and per client address (GCRA from `governor`), so a
//! client that floods the service is slowed down with a 429 while others are served normally.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota};

use super::error::ApiError;

/// Paths never limited: Kubernetes probes and Prometheus must always get through.
pub const EXEMPT: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// Keys kept before idle ones are forgotten (each is a few dozen bytes).
const PRUNE_ABOVE: usize = 10_000;

/// A sustained rate and the burst allowed above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests per second, sustained.
    pub per_second: NonZeroU32,
    /// Requests allowed at once.
    pub burst: NonZeroU32,
}

impl Rate {
    /// A rate, or none (no limit) when either number is 0.
    pub fn new(per_second: u32, burst: u32) -> Option<Rate> {
        Some(Rate {
            per_second: NonZeroU32::new(per_second)?,
            burst: NonZeroU32::new(burst)?,
        })
    }

    fn quota(self) -> Quota {
        Quota::per_second(self.per_second).allow_burst(self.burst)
    }
}

/// The limits in force; `None` turns one off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateSettings {
    /// Per token subject.
    pub per_subject: Option<Rate>,
    /// Per client IP address.
    pub per_address: Option<Rate>,
}

impl Default for RateSettings {
    fn default() -> Self {
        Self {
            per_subject: Rate::new(100, 300),
            per_address: Rate::new(300, 600),
        }
    }
}

impl RateSettings {
    /// No limit at all (tests that measure something else).
    pub fn unlimited() -> Self {
        Self {
            per_subject: None,
            per_address: None,
        }
    }
}

/// The limiters of one process.
pub struct RateLimits {
    per_subject: Option<DefaultKeyedRateLimiter<String>>,
    per_address: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

impl RateLimits {
    /// Limiters for the given settings.
    pub fn new(settings: RateSettings) -> Self {
        Self {
            per_subject: settings
                .per_subject
                .map(|r| DefaultKeyedRateLimiter::keyed(r.quota())),
            per_address: settings
                .per_address
                .map(|r| DefaultKeyedRateLimiter::keyed(r.quota())),
        }
    }

    /// One request by the token subject `subject`.
    pub fn check_subject(&self, subject: &str) -> Result<(), ApiError> {
        match &self.per_subject {
            Some(l) => check(l, &subject.to_owned()),
            None => Ok(()),
        }
    }

    /// One request from `address`.
    pub fn check_address(&self, address: IpAddr) -> Result<(), ApiError> {
        match &self.per_address {
            Some(l) => check(l, &address),
            None => Ok(()),
        }
    }
}

fn check<K: Clone + Hash + Eq>(
    limiter: &DefaultKeyedRateLimiter<K>,
    key: &K,
) -> Result<(), ApiError> {
    if limiter.len() > PRUNE_ABOVE {
        limiter.retain_recent();
    }
    limiter.check_key(key).map_err(|not_until| {
        // The limiter's own clock: building a clock calibrates it, which would make a refused
        // request cost more than an accepted one.
        let wait = not_until.wait_time_from(limiter.clock().now());
        // Whole seconds, at least one: Retry-After has no fractions.
        let secs = u32::try_from(wait.as_secs())
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        ApiError::too_many_requests(secs)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_limited_per_key_and_others_still_pass() {
        let limits = RateLimits::new(RateSettings {
            per_subject: Rate::new(1, 3),
            per_address: None,
        });
        for _ in 0..3 {
            assert!(limits.check_subject("a").is_ok());
        }
        let refused = limits.check_subject("a").unwrap_err();
        assert_eq!(refused.status(), 429);
        assert!(refused.problem().detail.contains("réessayez dans"));
        assert!(limits.check_subject("b").is_ok());
        assert!(limits.check_address("127.0.0.1".parse().unwrap()).is_ok());
        assert_eq!(Rate::new(0, 5), None);
    }
}
