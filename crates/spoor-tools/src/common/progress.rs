//! A one-line progress report on stderr, and human-readable figures.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// When to show progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// When stderr is a terminal.
    Auto,
    /// Always (one line per update when stderr is not a terminal).
    Always,
    /// Never.
    Never,
}

/// Redraws one status line on stderr at most a few times a second.
pub struct Progress {
    enabled: bool,
    tty: bool,
    started: Instant,
    last: Option<Instant>,
    interval: Duration,
    drawn: bool,
}

impl Progress {
    pub fn new(mode: ProgressMode) -> Progress {
        let tty = std::io::stderr().is_terminal();
        let enabled = match mode {
            ProgressMode::Auto => tty,
            ProgressMode::Always => true,
            ProgressMode::Never => false,
        };
        Progress {
            enabled,
            tty,
            started: Instant::now(),
            last: None,
            // A line per second is plenty in a log; a terminal redraws faster.
            interval: if tty {
                Duration::from_millis(200)
            } else {
                Duration::from_secs(1)
            },
            drawn: false,
        }
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Redraws the line with `text()` if the last redraw is old enough.
    pub fn update(&mut self, text: impl FnOnce(Duration) -> String) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if self
            .last
            .is_some_and(|l| now.duration_since(l) < self.interval)
        {
            return;
        }
        self.last = Some(now);
        let line = text(self.started.elapsed());
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K{line}");
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
        self.drawn = true;
    }

    /// Clears the line (on a terminal) before the summary is printed.
    pub fn finish(&mut self) {
        if self.enabled && self.tty && self.drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

/// `1.5 MiB`, `312 B`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// A rate per second over `elapsed`.
pub fn rate(n: u64, elapsed: Duration) -> u64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        0
    } else {
        (n as f64 / secs) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_well() {
        assert_eq!(bytes(312), "312 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(rate(100, Duration::from_secs(2)), 50);
    }
}
