//! The benchmark's results: figures with one sample per run, their min and
//! median, and the markdown table and JSON they are printed as.

use std::fmt::Write as _;

use serde::Serialize;

use super::procfs::Machine;

/// One measured quantity, sampled once per run.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// `ingest`, `storage`, `queries` or `memory`.
    pub scenario: &'static str,
    /// What is measured.
    pub measure: String,
    pub unit: &'static str,
    /// One value per run; empty when the figure could not be measured.
    pub samples: Vec<f64>,
    /// Lowest sample.
    pub min: Option<f64>,
    /// Median sample.
    pub median: Option<f64>,
    /// The target of the design brief (§9), if one applies.
    pub target: &'static str,
    /// The best published peer figure (landscape §3), if one applies.
    pub peer: &'static str,
    /// The stated parameters of the measurement, or why it is missing.
    pub params: String,
}

impl Figure {
    /// A figure from its samples.
    pub fn new(
        scenario: &'static str,
        measure: impl Into<String>,
        unit: &'static str,
        samples: Vec<f64>,
        params: impl Into<String>,
    ) -> Figure {
        Figure {
            scenario,
            measure: measure.into(),
            unit,
            min: min(&samples),
            median: median(&samples),
            samples,
            target: "",
            peer: "",
            params: params.into(),
        }
    }

    /// Sets the brief's target and the best published peer figure.
    pub fn against(mut self, target: &'static str, peer: &'static str) -> Figure {
        self.target = target;
        self.peer = peer;
        self
    }
}

/// The smallest value; `None` for none.
pub fn min(samples: &[f64]) -> Option<f64> {
    samples.iter().copied().reduce(f64::min)
}

/// The median (mean of the middle two for an even count); `None` for none.
pub fn median(samples: &[f64]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

/// The nearest-rank percentile `p` (0–100) of `sorted` (ascending).
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Everything a `spoor bench` run found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub spoor_version: &'static str,
    /// The storage backend measured.
    pub storage: &'static str,
    pub machine: Machine,
    /// When the run started (RFC 3339, UTC).
    pub started_at: String,
    /// Wall-clock seconds the whole run took.
    pub elapsed_secs: f64,
    /// The command line's settings after `--quick` and defaults.
    pub settings: serde_json::Value,
    pub figures: Vec<Figure>,
    /// Statements that qualify the figures (sizes capped by memory, rates not reached, ...).
    pub notes: Vec<String>,
}

impl Report {
    /// The report as markdown: a short header, the table, the notes.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        let _ = writeln!(out, "## spoor bench: {} storage\n", self.storage);
        let _ = writeln!(
            out,
            "- spoor {}, run started {}, took {:.0} s",
            self.spoor_version, self.started_at, self.elapsed_secs
        );
        let _ = writeln!(
            out,
            "- machine: {} CPUs ({}), {:.1} GiB RAM ({:.1} GiB available at start), Linux {}, load average {:.2} at start",
            m.cpus,
            m.cpu_model,
            gib(m.mem_total),
            gib(m.mem_available_at_start),
            m.kernel,
            m.load_average_at_start
        );
        let _ = writeln!(out, "- settings: {}", self.settings);
        let _ = writeln!(
            out,
            "- min and median over the runs of each figure (\"runs\"); for rates the min is the worst run, for latencies and memory the best\n"
        );
        out.push_str(
            "| scenario | measure | min | median | unit | runs | target (brief §9) | best published peer | parameters |\n",
        );
        out.push_str("|---|---|---:|---:|---|---:|---|---|---|\n");
        for f in &self.figures {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                f.scenario,
                cell(&f.measure),
                f.min.map_or("—".into(), fmt_num),
                f.median.map_or("—".into(), fmt_num),
                f.unit,
                f.samples.len(),
                cell(or_dash(f.target)),
                cell(or_dash(f.peer)),
                cell(&f.params),
            );
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for n in &self.notes {
                let _ = writeln!(out, "- {n}");
            }
        }
        out
    }
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "—" } else { s }
}

/// Escapes what would break a markdown table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

/// A count with thousands separated: `1,234,567`.
pub fn fmt_int(n: u64) -> String {
    let digits = n.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    grouped
}

/// Human-readable: thousands separated above 100, two decimals above 1,
/// three significant digits below.
pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let a = v.abs();
    if a >= 100.0 {
        let n = v.round() as i64;
        let grouped = fmt_int(n.unsigned_abs());
        if n < 0 {
            format!("-{grouped}")
        } else {
            grouped
        }
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else if a == 0.0 {
        "0".into()
    } else {
        let decimals = (2 - a.log10().floor() as i32).clamp(0, 12) as usize;
        format!("{v:.decimals$}")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn min_median_and_percentiles() {
        assert_eq!(min(&[3.0, 1.0, 2.0]), Some(1.0));
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&sorted, 50.0), Some(50.0));
        assert_eq!(percentile(&sorted, 99.0), Some(99.0));
        assert_eq!(percentile(&sorted, 100.0), Some(100.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn numbers_are_readable() {
        assert_eq!(fmt_num(1_234_567.4), "1,234,567");
        assert_eq!(fmt_num(100.0), "100");
        assert_eq!(fmt_num(-12_345.0), "-12,345");
        assert_eq!(fmt_num(42.126), "42.13");
        assert_eq!(fmt_num(0.012345), "0.0123");
        assert_eq!(fmt_num(0.5), "0.500");
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_int(43), "43");
        assert_eq!(fmt_int(1_000), "1,000");
        assert_eq!(fmt_int(0), "0");
    }

    #[test]
    fn the_table_has_one_row_per_figure() {
        let report = Report {
            spoor_version: "0.1.0",
            storage: "memory",
            machine: Machine {
                cpus: 2,
                cpu_model: "x".into(),
                mem_total: 1 << 30,
                mem_available_at_start: 1 << 29,
                kernel: "6".into(),
                load_average_at_start: 0.5,
            },
            started_at: "2026-01-01T00:00:00Z".into(),
            elapsed_secs: 1.0,
            settings: serde_json::json!({"seed": 1}),
            figures: vec![
                Figure::new("ingest", "a | b", "spans/s", vec![1.0, 3.0, 2.0], "p")
                    .against("≥ 1", "peer"),
                Figure::new("storage", "engine", "B", vec![], "engine not wired yet"),
            ],
            notes: vec!["n".into()],
        };
        let md = report.to_markdown();
        let rows: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(rows.len(), 4);
        assert!(rows[2].contains("a \\| b") && rows[2].contains("| 1.00 | 2.00 |"));
        assert!(rows[3].contains("| — | — |") && rows[3].contains("engine not wired yet"));
        assert!(md.ends_with("- n\n"));
    }
}
