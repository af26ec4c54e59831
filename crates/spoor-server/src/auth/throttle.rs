//! Slows down repeated failed authentication attempts from one peer IP: a
//! refusal is answered only after a delay of 100 ms that doubles with each
//! recent failure, up to 5 s. The count of recent failures halves every
//! minute without failures. The table holds at most [`MAX_PEERS`] IPs; when
//! it is full, the peers with the fewest recent failures are forgotten.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The delay of a first failure.
pub const BASE_DELAY: Duration = Duration::from_millis(100);
/// The longest delay.
pub const MAX_DELAY: Duration = Duration::from_secs(5);
/// Recent failures halve in this time.
pub const HALF_LIFE: Duration = Duration::from_secs(60);
/// Most peers tracked.
pub const MAX_PEERS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Recent failures, decayed to `at`.
    score: f64,
    at: Instant,
}

impl Entry {
    fn decayed(&self, now: Instant) -> f64 {
        let halves = now.saturating_duration_since(self.at).as_secs_f64() / HALF_LIFE.as_secs_f64();
        self.score * 0.5f64.powf(halves)
    }
}

/// Failures by peer IP.
#[derive(Debug, Default)]
pub struct Throttle {
    peers: Mutex<HashMap<IpAddr, Entry>>,
}

impl Throttle {
    /// Records a failure from `peer` at `now` and returns how long to wait
    /// before answering it.
    pub fn failure_at(&self, peer: IpAddr, now: Instant) -> Duration {
        let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        if peers.len() >= MAX_PEERS && !peers.contains_key(&peer) {
            // Forget the quietest half (and anything fully decayed).
            let mut scores: Vec<f64> = peers.values().map(|e| e.decayed(now)).collect();
            scores.sort_by(f64::total_cmp);
            let median = scores.get(scores.len() / 2).copied().unwrap_or(0.0);
            peers.retain(|_, e| {
                let s = e.decayed(now);
                s > median && s > 0.05
            });
            if peers.len() >= MAX_PEERS {
                peers.clear();
            }
        }
        let entry = peers.entry(peer).or_insert(Entry {
            score: 0.0,
            at: now,
        });
        let score = entry.decayed(now) + 1.0;
        *entry = Entry { score, at: now };
        delay_for(score)
    }

    /// Records a failure from `peer` now.
    pub fn failure(&self, peer: IpAddr) -> Duration {
        self.failure_at(peer, Instant::now())
    }

    /// Peers tracked now.
    pub fn len(&self) -> usize {
        self.peers.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no peer is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The delay after `score` recent failures (the latest included).
fn delay_for(score: f64) -> Duration {
    let doublings = (score - 1.0).clamp(0.0, 16.0);
    let secs = BASE_DELAY.as_secs_f64() * 2f64.powf(doublings);
    Duration::from_secs_f64(secs.min(MAX_DELAY.as_secs_f64()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(d: Duration) -> u128 {
        d.as_millis()
    }

    #[test]
    fn delays_double_up_to_the_cap_and_decay() {
        let t = Throttle::default();
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let now = Instant::now();
        let d: Vec<u128> = (0..8).map(|_| ms(t.failure_at(a, now))).collect();
        assert_eq!(d[..4], [100, 200, 400, 800]);
        assert_eq!(*d.last().unwrap_or(&0), 5000);
        // Another peer is not slowed by the first one's failures.
        assert_eq!(ms(t.failure_at(b, now)), 100);
        // After ten quiet minutes the first peer is nearly forgiven.
        let later = now + Duration::from_secs(600);
        assert!(ms(t.failure_at(a, later)) < 120);
    }

    #[test]
    fn the_table_is_bounded() {
        let t = Throttle::default();
        let now = Instant::now();
        for i in 0..(MAX_PEERS as u32 + 500) {
            t.failure_at(IpAddr::from(i.to_be_bytes()), now);
        }
        assert!(t.len() <= MAX_PEERS, "{}", t.len());
    }
}
