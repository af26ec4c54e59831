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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::sender::{Connector, Protocol, SenderOptions};

    /// An HTTP server answering each request (one per connection) with the
    /// next of `answers` (the last one repeats); counts requests.
    async fn server(answers: Vec<&'static str>) -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            loop {
                let (mut conn, _) = listener.accept().await.unwrap();
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                // Read the head and a body of Content-Length bytes.
                loop {
                    let n = conn.read(&mut buf).await.unwrap();
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).to_ascii_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                        if request.len() >= end + 4 + len {
                            break;
                        }
                    }
                    if n == 0 {
                        break;
                    }
                }
                let i = seen.fetch_add(1, Ordering::SeqCst);
                let status = answers[i.min(answers.len() - 1)];
                let answer =
                    format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                conn.write_all(answer.as_bytes()).await.unwrap();
            }
        });
        (format!("http://{addr}/v1/traces"), count)
    }

    async fn sender_to(endpoint: String) -> Sender {
        Connector::new(SenderOptions {
            protocol: Protocol::OtlpHttp,
            endpoint,
            timeout: Duration::from_secs(5),
            gzip: false,
            security: Default::default(),
        })
        .await
        .unwrap()
        .sender()
        .await
        .unwrap()
    }

    fn policy(max_retries: u32) -> RetryPolicy {
        RetryPolicy {
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
            jitter: 0.0,
            max_retry_after: Duration::from_secs(5),
            max_retries: Some(max_retries),
            max_elapsed: None,
        }
    }

    #[tokio::test]
    async fn retryable_answers_are_retried_until_accepted_waiting_retry_after() {
        let (url, count) = server(vec![
            "503 Service Unavailable\r\nRetry-After: 1",
            "502 Bad Gateway",
            "200 OK",
        ])
        .await;
        let mut sender = sender_to(url).await;
        let mut seen = Vec::new();
        let started = std::time::Instant::now();
        let attempts = send_with_retry(
            &mut sender,
            &Bytes::from_static(b""),
            &policy(5),
            &mut || 0.5,
            None,
            |o| seen.push(o.is_retryable()),
        )
        .await;
        assert_eq!(attempts.outcome, Outcome::Accepted { rejected: 0 });
        assert_eq!(attempts.retries, 2);
        assert_eq!(seen, [true, true, false]);
        assert_eq!(count.load(Ordering::SeqCst), 3);
        assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After");
    }

    #[tokio::test]
    async fn permanent_answers_are_not_retried_and_retries_are_bounded() {
        let (url, count) = server(vec!["400 Bad Request"]).await;
        let mut sender = sender_to(url).await;
        let attempts = send_with_retry(
            &mut sender,
            &Bytes::new(),
            &policy(5),
            &mut || 0.5,
            None,
            |_| {},
        )
        .await;
        assert!(matches!(attempts.outcome, Outcome::Rejected { .. }));
        assert_eq!((attempts.retries, count.load(Ordering::SeqCst)), (0, 1));

        let (url, count) = server(vec!["429 Too Many Requests"]).await;
        let mut sender = sender_to(url).await;
        let attempts = send_with_retry(
            &mut sender,
            &Bytes::new(),
            &policy(2),
            &mut || 0.5,
            None,
            |_| {},
        )
        .await;
        assert!(matches!(attempts.outcome, Outcome::Refused { .. }));
        assert_eq!((attempts.retries, count.load(Ordering::SeqCst)), (2, 3));
    }

    #[tokio::test]
    async fn an_absent_target_is_unreachable_and_retried() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut sender = sender_to(format!("http://127.0.0.1:{port}")).await;
        let attempts = send_with_retry(
            &mut sender,
            &Bytes::new(),
            &policy(1),
            &mut || 0.5,
            None,
            |_| {},
        )
        .await;
        assert!(
            matches!(attempts.outcome, Outcome::Unreachable { .. }),
            "{attempts:?}"
        );
        assert_eq!(attempts.retries, 1);
    }
}
