//! `spoor fsck`: check (and repair) a data directory offline.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use spoor_engine::fsck::{FileKind, FsckReport};

/// Arguments of `spoor fsck`.
#[derive(Debug, clap::Args)]
pub struct FsckArgs {
    /// The data directory to check (the one `spoor --data-dir` uses). It
    /// must not be in use by a running Spoor.
    #[arg(long, value_name = "DIR", env = "SPOOR_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Rewrite damaged WAL segments with their valid records and move
    /// unreadable blocks aside; originals go to DIR/quarantine/, nothing is deleted.
    #[arg(long)]
    pub repair: bool,
}

/// Runs `spoor fsck`: prints one line per file and a summary; fails (exit
/// status 1) when damage was found and not repaired.
pub fn main(args: FsckArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime
        .block_on(spoor_engine::fsck::check(&args.data_dir, args.repair))
        .map_err(|e| match e {
            spoor_engine::EngineError::Locked(_) => anyhow!(
                "the data directory {} is in use by a running Spoor; stop it first",
                args.data_dir.display()
            ),
            e => anyhow!(e).context(format!("cannot check {}", args.data_dir.display())),
        })?;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(render(&report).as_bytes())
        .and_then(|()| stdout.flush())
        .context("cannot write the report")?;
    let unrepaired = report.unrepaired();
    if unrepaired > 0 {
        if args.repair {
            bail!("{unrepaired} damaged file(s) could not be repaired");
        }
        bail!(
            "{unrepaired} damaged file(s) found; run `spoor fsck --repair --data-dir {}` to repair them",
            args.data_dir.display()
        );
    }
    Ok(())
}

/// The report as text: one line per file, indented problems, a summary.
pub fn render(report: &FsckReport) -> String {
    let mut out = String::new();
    for f in &report.files {
        let verdict = if f.is_ok() { "OK" } else { "DAMAGED" };
        let what = match f.kind {
            FileKind::WalSegment => format!("{} records, {} spans", f.records, f.spans),
            FileKind::Block => format!("{} spans", f.spans),
        };
        out.push_str(&format!(
            "{:<5} {:<7} {} ({what})\n",
            f.kind.as_str(),
            verdict,
            f.path.display()
        ));
        for p in &f.problems {
            out.push_str(&format!("      - {p}\n"));
        }
        if let Some(r) = &f.repaired {
            out.push_str(&format!("      repaired: {r}\n"));
        }
        if let Some(e) = &f.repair_error {
            out.push_str(&format!("      repair failed: {e}\n"));
        }
    }
    let segments = report.count(FileKind::WalSegment);
    let blocks = report.count(FileKind::Block);
    let repaired = report.files.iter().filter(|f| f.repaired.is_some()).count();
    out.push_str(&format!(
        "checked {segments} WAL segment(s) and {blocks} block(s): {} damaged, {repaired} repaired, {} unrepaired\n",
        report.damaged(),
        report.unrepaired()
    ));
    out
}
