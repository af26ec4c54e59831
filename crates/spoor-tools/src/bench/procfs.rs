//! What the benchmark reads from Linux's `/proc`: a process's CPU time and
//! resident memory, the calling thread's CPU time, available memory, and a
//! description of the machine.
//!
//! CPU time of a process is `utime + stime` from `/proc/<pid>/stat`, summed
//! over all its threads by the kernel, in clock ticks of `USER_HZ`, which
//! Linux fixes at 100 per second for user space on every architecture Spoor
//! builds for. A thread's own CPU time comes from `/proc/thread-self/schedstat`
//! in nanoseconds.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Serialize;

/// Clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`).
const USER_HZ: f64 = 100.0;

/// CPU seconds (user + system, all threads) used by process `pid` so far.
pub fn process_cpu_secs(pid: u32) -> Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    parse_stat_cpu_ticks(&text)
        .map(|ticks| ticks as f64 / USER_HZ)
        .with_context(|| format!("cannot parse {path}"))
}

/// `utime + stime` in ticks from the text of `/proc/<pid>/stat`.
fn parse_stat_cpu_ticks(text: &str) -> Result<u64> {
    // The command name (field 2) is in parentheses and may hold spaces or
    // parentheses itself: the fields after it start after the last ')'.
    let Some(close) = text.rfind(')') else {
        bail!("no command name");
    };
    let rest: Vec<&str> = text[close + 1..].split_whitespace().collect();
    // `rest[0]` is field 3 (state); utime and stime are fields 14 and 15.
    let field = |n: usize| -> Result<u64> {
        rest.get(n - 3)
            .with_context(|| format!("field {n} missing"))?
            .parse::<u64>()
            .with_context(|| format!("field {n} is not a number"))
    };
    Ok(field(14)? + field(15)?)
}

/// Resident memory of process `pid`: now (`VmRSS`) and its peak (`VmHWM`), in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rss {
    pub current: u64,
    pub peak: u64,
}

/// The resident set of process `pid`.
pub fn process_rss(pid: u32) -> Result<Rss> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    let current = kib_field(&text, "VmRSS:").with_context(|| format!("no VmRSS in {path}"))?;
    let peak = kib_field(&text, "VmHWM:").with_context(|| format!("no VmHWM in {path}"))?;
    Ok(Rss { current, peak })
}

/// A `Name:   1234 kB` line of `/proc` status files, in bytes.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kib: u64 = line[name.len()..].split_whitespace().next()?.parse().ok()?;
    Some(kib * 1024)
}

/// CPU nanoseconds used by the calling thread so far.
pub fn thread_cpu_nanos() -> Result<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat")
        .context("cannot read /proc/thread-self/schedstat")?;
    text.split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .context("cannot parse /proc/thread-self/schedstat")
}

/// Memory the kernel says is available for new allocations (`MemAvailable`), in bytes.
pub fn mem_available() -> Result<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").context("cannot read /proc/meminfo")?;
    kib_field(&text, "MemAvailable:").context("no MemAvailable in /proc/meminfo")
}

/// The machine a benchmark ran on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// CPUs this process may use.
    pub cpus: usize,
    /// `model name` of the first CPU in `/proc/cpuinfo`.
    pub cpu_model: String,
    /// `MemTotal`, bytes.
    pub mem_total: u64,
    /// `MemAvailable` when the run started, bytes.
    pub mem_available_at_start: u64,
    /// Kernel release.
    pub kernel: String,
    /// The 1-minute load average when the run started (other work on the machine).
    pub load_average_at_start: f64,
}

/// Describes this machine; fails when `/proc` is not Linux's.
pub fn machine() -> Result<Machine> {
    if !Path::new("/proc/self/stat").exists() {
        bail!("spoor bench needs Linux's /proc to measure CPU time and memory");
    }
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").context("cannot read /proc/meminfo")?;
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let load_average_at_start = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0);
    Ok(Machine {
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu_model,
        mem_total: kib_field(&meminfo, "MemTotal:").unwrap_or(0),
        mem_available_at_start: kib_field(&meminfo, "MemAvailable:").unwrap_or(0),
        kernel,
        load_average_at_start,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn stat_cpu_ticks_skip_a_command_name_with_spaces_and_parentheses() {
        // Fields 14 and 15 are 250 and 31.
        let text = "4242 (spoor (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 9 0 5 1000 200";
        assert_eq!(parse_stat_cpu_ticks(text).unwrap(), 281);
        assert!(parse_stat_cpu_ticks("4242 spoor S 1").is_err());
        assert!(parse_stat_cpu_ticks("4242 (spoor) S 1 2").is_err());
    }

    #[test]
    fn kib_fields_are_bytes() {
        let text = "Name:\tspoor\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n";
        assert_eq!(kib_field(text, "VmRSS:"), Some(1024 * 1024));
        assert_eq!(kib_field(text, "VmHWM:"), Some(2048 * 1024));
        assert_eq!(kib_field(text, "VmSwap:"), None);
    }

    #[test]
    fn this_process_and_thread_are_measurable() {
        let pid = std::process::id();
        let rss = process_rss(pid).unwrap();
        assert!(rss.current > 0 && rss.peak >= rss.current);
        let before = thread_cpu_nanos().unwrap();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(thread_cpu_nanos().unwrap() > before);
        assert!(process_cpu_secs(pid).unwrap() >= 0.0);
        assert!(mem_available().unwrap() > 0);
        assert!(machine().unwrap().cpus >= 1);
    }
}
