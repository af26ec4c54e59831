//! Pieces several tools share.

pub mod progress;
pub mod stream;

use anyhow::{Context, Result};

/// Logs to stderr with `filter` (e.g. `warn`), as text; a second call
/// (tests) is harmless.
pub fn init_logging(filter: &str) -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .with_context(|| format!("invalid log filter {filter:?}"))?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
    Ok(())
}
