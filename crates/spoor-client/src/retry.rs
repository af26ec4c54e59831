//! One request sent until it is accepted or the retry policy gives up.

use std::time::Duration;

use bytes::Bytes;
use spoor_service::retry::RetryPolicy;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::sender::{Outcome, Sender};

/// What became of a request sent with retries.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempts {
    /// The last attempt's outcome.
    pub outcome: Outcome,
    /// Retries made after the first attempt.
    pub retries: u32,
}

/// Sends `body` until it is accepted, an answer is not retryable
/// ([`Outcome::is_retryable`]), `policy` gives up, or `stop` is cancelled.
/// Waits as `policy` says between attempts, with `random` (uniform in
/// [0, 1)) for its jitter; `on_attempt` sees every attempt's outcome.
pub async fn send_with_retry(
    sender: &mut Sender,
    body: &Bytes,
    policy: &RetryPolicy,
    random: &mut (dyn FnMut() -> f64 + Send),
    stop: Option<&CancellationToken>,
    mut on_attempt: impl FnMut(&Outcome),
) -> Attempts {
    let started = Instant::now();
    let mut retries = 0u32;
    loop {
        let outcome = sender.send(body).await;
        on_attempt(&outcome);
        if !outcome.is_retryable() || stop.is_some_and(CancellationToken::is_cancelled) {
            return Attempts { outcome, retries };
        }
        let Some(delay) =
            policy.next_delay(retries, started.elapsed(), outcome.retry_after(), random())
        else {
            tracing::debug!(reason = %outcome.reason(), retries, "request not accepted; giving up");
            return Attempts { outcome, retries };
        };
        tracing::debug!(reason = %outcome.reason(), retries, retry_in = ?delay, "request not accepted; retrying");
        sleep(delay, stop).await;
        retries = retries.saturating_add(1);
    }
}

async fn sleep(delay: Duration, stop: Option<&CancellationToken>) {
    match stop {
        Some(stop) => {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop.cancelled() => {}
            }
        }
        None => tokio::time::sleep(delay).await,
    }
}
