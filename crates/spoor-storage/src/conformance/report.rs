//! Named check results.

use std::fmt;

/// How one check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    /// The check failed; the message says how.
    Failed(String),
    /// The backend declared it does not support what the check needs.
    Skipped(String),
}

/// One named check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub name: String,
    pub outcome: Outcome,
}

/// The results of a suite run, in the order the checks ran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub checks: Vec<CheckResult>,
}

impl Report {
    /// An empty report.
    pub fn new() -> Self {
        Report::default()
    }

    /// Records a check: `Ok` passes, `Err` fails with its message.
    pub fn record(&mut self, name: impl Into<String>, result: Result<(), String>) {
        let outcome = match result {
            Ok(()) => Outcome::Passed,
            Err(message) => Outcome::Failed(message),
        };
        self.checks.push(CheckResult {
            name: name.into(),
            outcome,
        });
    }

    /// Records a skipped check.
    pub fn skip(&mut self, name: impl Into<String>, reason: impl Into<String>) {
        self.checks.push(CheckResult {
            name: name.into(),
            outcome: Outcome::Skipped(reason.into()),
        });
    }

    /// Appends another report's checks.
    pub fn extend(&mut self, other: Report) {
        self.checks.extend(other.checks);
    }

    /// The failed checks.
    pub fn failures(&self) -> Vec<&CheckResult> {
        self.checks
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Failed(_)))
            .collect()
    }

    /// Number of passed checks.
    pub fn passed_count(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.outcome == Outcome::Passed)
            .count()
    }

    /// The outcome of the check called `name`, if it ran.
    pub fn outcome(&self, name: &str) -> Option<&Outcome> {
        self.checks
            .iter()
            .find(|c| c.name == name)
            .map(|c| &c.outcome)
    }

    /// True when at least one check ran and none failed.
    pub fn all_passed(&self) -> bool {
        !self.checks.is_empty() && self.failures().is_empty()
    }

    /// Panics, listing every failure, unless [`Report::all_passed`].
    ///
    /// # Panics
    /// When a check failed or no check ran.
    pub fn assert_all_passed(&self) {
        if self.checks.is_empty() {
            panic!("storage conformance: no check ran");
        }
        let failures = self.failures();
        if !failures.is_empty() {
            let mut message = format!(
                "storage conformance: {} of {} checks failed\n",
                failures.len(),
                self.checks.len()
            );
            for f in failures {
                if let Outcome::Failed(why) = &f.outcome {
                    message.push_str(&format!("\n✗ {}\n  {}\n", f.name, why));
                }
            }
            panic!("{message}");
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for check in &self.checks {
            match &check.outcome {
                Outcome::Passed => writeln!(f, "ok      {}", check.name)?,
                Outcome::Skipped(why) => writeln!(f, "skipped {} ({why})", check.name)?,
                Outcome::Failed(why) => writeln!(f, "FAILED  {}\n        {why}", check.name)?,
            }
        }
        write!(
            f,
            "{} passed, {} failed, {} skipped",
            self.passed_count(),
            self.failures().len(),
            self.checks.len() - self.passed_count() - self.failures().len()
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_listed_and_an_empty_report_does_not_pass() {
        let mut r = Report::new();
        assert!(!r.all_passed());
        assert!(std::panic::catch_unwind(|| Report::new().assert_all_passed()).is_err());
        r.record("a", Ok(()));
        r.skip("b", "not supported");
        assert!(r.all_passed());
        r.assert_all_passed();
        r.record("c", Err("broken".into()));
        assert!(!r.all_passed());
        assert_eq!(r.outcome("c"), Some(&Outcome::Failed("broken".into())));
        let text = r.to_string();
        assert!(
            text.contains("FAILED  c") && text.ends_with("1 passed, 1 failed, 1 skipped"),
            "{text}"
        );
        let panic = std::panic::catch_unwind(|| r.assert_all_passed()).unwrap_err();
        let message = panic.downcast_ref::<String>().unwrap();
        assert!(
            message.contains("1 of 3 checks failed") && message.contains("✗ c\n  broken"),
            "{message}"
        );
    }
}
