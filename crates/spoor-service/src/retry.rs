//! The one retry policy of everything Spoor sends out: which answers are
//! worth sending again (as OTLP specifies), how long to wait (exponential
//! back-off with jitter, or what the receiver asked for with `Retry-After` /
//! `google.rpc.RetryInfo`), and when to give up (ADR 0019).
//!
//! It is protocol-neutral: HTTP statuses and gRPC codes are plain numbers
//! here, so the agent's [`Forwarder`](crate::forward::Forwarder) and the
//! senders of `spoor-client` (tracegen, bench, import, the agent's
//! exporters) share it without this crate knowing HTTP or gRPC. Each user
//! picks its numbers (a [`RetryPolicy`]); what the numbers mean is decided
//! here only.

use std::time::Duration;

/// HTTP statuses OTLP/HTTP says a client retries: 429 Too Many Requests,
/// 502 Bad Gateway, 503 Service Unavailable, 504 Gateway Timeout. Every
/// other non-success status is permanent.
pub fn http_status_is_retryable(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// gRPC status codes, by number (`google.rpc.Code`).
pub mod grpc_code {
    /// The call was cancelled (often: the client's deadline).
    pub const CANCELLED: i32 = 1;
    /// An unknown error.
    pub const UNKNOWN: i32 = 2;
    /// The deadline passed before an answer.
    pub const DEADLINE_EXCEEDED: i32 = 4;
    /// Out of a resource (retryable with `RetryInfo`).
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    /// Aborted (a concurrency conflict).
    pub const ABORTED: i32 = 10;
    /// Out of range.
    pub const OUT_OF_RANGE: i32 = 11;
    /// An internal error of the server.
    pub const INTERNAL: i32 = 13;
    /// The service cannot be reached right now.
    pub const UNAVAILABLE: i32 = 14;
    /// Data was lost or corrupted.
    pub const DATA_LOSS: i32 = 15;
}

/// gRPC codes OTLP/gRPC says a client retries: `CANCELLED`,
/// `DEADLINE_EXCEEDED`, `ABORTED`, `OUT_OF_RANGE`, `UNAVAILABLE`,
/// `DATA_LOSS`, and `RESOURCE_EXHAUSTED` only when the status carries
/// `RetryInfo` (the server can recover). Every other code is permanent.
pub fn grpc_code_is_retryable(code: i32, has_retry_info: bool) -> bool {
    use grpc_code::*;
    match code {
        CANCELLED | DEADLINE_EXCEEDED | ABORTED | OUT_OF_RANGE | UNAVAILABLE | DATA_LOSS => true,
        RESOURCE_EXHAUSTED => has_retry_info,
        _ => false,
    }
}

/// How a sender waits between attempts and when it gives up.
///
/// The `n`-th retry (0-based) waits `initial_backoff * 2^n`, at most
/// `max_backoff`, multiplied by a random factor in
/// `[1 - jitter / 2, 1 + jitter / 2)`. When the receiver said how long to
/// wait (`Retry-After`, `RetryInfo`), that is waited instead, exactly (never
/// shortened by jitter), cut to `max_retry_after`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// The first retry's computed delay.
    pub initial_backoff: Duration,
    /// The longest computed delay.
    pub max_backoff: Duration,
    /// Width of the random factor around 1 (0: none; 0.5: ±25 %; 1: ±50 %).
    pub jitter: f64,
    /// The longest wait a receiver may ask for.
    pub max_retry_after: Duration,
    /// Most retries after the first attempt (`None`: no limit).
    pub max_retries: Option<u32>,
    /// No retry is scheduled that would start later than this after the
    /// first attempt (`None`: no limit).
    pub max_elapsed: Option<Duration>,
}

impl Default for RetryPolicy {
    /// The agent forwarder's defaults: 100 ms doubling to 10 s, ±50 %
    /// jitter, for at most 5 minutes.
    fn default() -> Self {
        RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            jitter: 1.0,
            max_retry_after: Duration::from_secs(30),
            max_retries: None,
            max_elapsed: Some(Duration::from_secs(300)),
        }
    }
}

impl RetryPolicy {
    /// The computed delay before retry number `retry` (0-based), without
    /// jitter.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    /// `d` scaled by the jitter factor picked by `random` (uniform in [0, 1)).
    pub fn jittered(&self, d: Duration, random: f64) -> Duration {
        if self.jitter <= 0.0 {
            return d;
        }
        let random = random.clamp(0.0, 1.0);
        d.mul_f64((1.0 - self.jitter / 2.0 + random * self.jitter).max(0.0))
    }

    /// How long to wait before retry number `retry` (0-based): the
    /// receiver's `retry_after` if it gave one, else the jittered back-off.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>, random: f64) -> Duration {
        match retry_after {
            Some(asked) => asked.min(self.max_retry_after),
            None => self.jittered(self.backoff(retry), random),
        }
    }

    /// The wait before the next attempt after a retryable failure, or
    /// `None` when the policy gives up: `retries_done` retries were already
    /// made, `elapsed` has passed since the first attempt.
    pub fn next_delay(
        &self,
        retries_done: u32,
        elapsed: Duration,
        retry_after: Option<Duration>,
        random: f64,
    ) -> Option<Duration> {
        if self.max_retries.is_some_and(|max| retries_done >= max) {
            return None;
        }
        let delay = self.delay(retries_done, retry_after, random);
        if self
            .max_elapsed
            .is_some_and(|max| elapsed.saturating_add(delay) > max)
        {
            return None;
        }
        Some(delay)
    }
}

/// A cheap pseudo-random number in [0, 1) from a counter (splitmix64), for
/// jitter: callers keep the state.
pub fn splitmix_unit(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otlp_says_which_answers_are_retried() {
        for s in [429, 502, 503, 504] {
            assert!(http_status_is_retryable(s), "{s}");
        }
        for s in [400, 401, 403, 404, 413, 415, 500, 501] {
            assert!(!http_status_is_retryable(s), "{s}");
        }
        use grpc_code::*;
        for c in [
            CANCELLED,
            DEADLINE_EXCEEDED,
            ABORTED,
            OUT_OF_RANGE,
            UNAVAILABLE,
            DATA_LOSS,
        ] {
            assert!(grpc_code_is_retryable(c, false), "{c}");
        }
        assert!(grpc_code_is_retryable(RESOURCE_EXHAUSTED, true));
        assert!(!grpc_code_is_retryable(RESOURCE_EXHAUSTED, false));
        for c in [0, UNKNOWN, 3, 5, 6, 7, 9, 12, INTERNAL, 16] {
            assert!(!grpc_code_is_retryable(c, false), "{c}");
        }
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            jitter: 0.0,
            max_retry_after: Duration::from_secs(30),
            max_retries: Some(3),
            max_elapsed: None,
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = policy();
        let ms: Vec<u128> = (0..8).map(|n| p.backoff(n).as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        assert_eq!(p.backoff(u32::MAX), Duration::from_secs(5));
    }

    #[test]
    fn a_receivers_wait_is_honoured_exactly_and_capped() {
        let p = RetryPolicy {
            jitter: 1.0,
            ..policy()
        };
        let asked = Duration::from_secs(2);
        assert_eq!(p.delay(0, Some(asked), 0.0), asked);
        assert_eq!(p.delay(0, Some(asked), 0.99), asked);
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(600)), 0.5),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn jitter_spreads_around_the_backoff() {
        let p = RetryPolicy {
            jitter: 0.5,
            ..policy()
        };
        let d = Duration::from_millis(1000);
        assert_eq!(p.jittered(d, 0.0), Duration::from_millis(750));
        assert!(p.jittered(d, 0.999_999) < Duration::from_millis(1250));
        let mut state = 7;
        for _ in 0..1000 {
            let u = splitmix_unit(&mut state);
            assert!((0.0..1.0).contains(&u));
        }
    }

    #[test]
    fn the_policy_gives_up_after_its_retries_or_its_time() {
        let p = policy();
        assert!(p.next_delay(2, Duration::ZERO, None, 0.5).is_some());
        assert_eq!(p.next_delay(3, Duration::ZERO, None, 0.5), None);
        let p = RetryPolicy {
            max_retries: None,
            max_elapsed: Some(Duration::from_secs(1)),
            ..policy()
        };
        assert_eq!(
            p.next_delay(0, Duration::from_millis(850), None, 0.5),
            Some(Duration::from_millis(100))
        );
        assert_eq!(p.next_delay(0, Duration::from_millis(950), None, 0.5), None);
    }
}
