//! `spoor bench` in a tiny configuration (a thousand spans, seconds): it
//! starts its own `spoor` children, runs every scenario and prints a
//! well-formed markdown table (or JSON) with the rows BENCHMARKS.md relies on.
//!
//! Nothing here asserts a timing: the figures only have to be numbers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};

use serde_json::Value;

/// The tiny configuration: every scenario, one run, a few spans and queries.
const TINY: &[&str] = &[
    "--repeat",
    "1",
    "--ingest-spans",
    "1024",
    "--batch-size",
    "256",
    "--query-sizes",
    "2000",
    "--queries",
    "5",
    "--query-budget",
    "5s",
    "--memory-rate",
    "2000",
    "--memory-duration",
    "1s",
    "--memory-max-traces",
    "10",
];

/// Runs the real binary's `bench` with `args`; returns stdout, failing with
/// stderr when it exits non-zero.
fn bench(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_spoor"))
        .arg("bench")
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run spoor bench");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "spoor bench failed ({}):\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    stdout
}

/// The cells of a markdown table row.
fn cells(row: &str) -> Vec<String> {
    let inner = row
        .trim()
        .strip_prefix('|')
        .and_then(|r| r.strip_suffix('|'))
        .unwrap_or_else(|| panic!("not a table row: {row}"));
    // Cells may contain an escaped pipe (`\|`).
    let mut out = Vec::new();
    let mut cell = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cell.push('|');
                chars.next();
            }
            '|' => out.push(std::mem::take(&mut cell).trim().to_string()),
            c => cell.push(c),
        }
    }
    out.push(cell.trim().to_string());
    out
}

fn number(cell: &str) -> Option<f64> {
    cell.replace(',', "").parse().ok()
}

#[test]
fn bench_prints_a_well_formed_markdown_table() {
    let dir = tempfile::tempdir().unwrap();
    let json_file = dir.path().join("report.json");
    let mut args = TINY.to_vec();
    args.extend(["--json-file", json_file.to_str().unwrap()]);
    let stdout = bench(&args);
    let rows: Vec<&str> = stdout.lines().filter(|l| l.starts_with('|')).collect();
    assert!(rows.len() > 10, "too few rows:\n{stdout}");
    let header = cells(rows[0]);
    assert_eq!(
        header,
        [
            "scenario",
            "measure",
            "min",
            "median",
            "unit",
            "runs",
            "target (brief §9)",
            "best published peer",
            "parameters"
        ]
    );
    let separator = cells(rows[1]);
    assert_eq!(separator.len(), header.len());
    assert!(
        separator
            .iter()
            .all(|c| !c.is_empty() && c.chars().all(|ch| ch == '-' || ch == ':')),
        "{}",
        rows[1]
    );
    let body: Vec<Vec<String>> = rows[2..].iter().map(|r| cells(r)).collect();
    for row in &body {
        assert_eq!(row.len(), header.len(), "{row:?}");
        assert!(
            ["ingest", "storage", "queries", "memory"].contains(&row[0].as_str()),
            "{row:?}"
        );
        assert!(
            !row[8].is_empty(),
            "every figure states its parameters: {row:?}"
        );
        if row[5] == "0" {
            assert_eq!((row[2].as_str(), row[3].as_str()), ("—", "—"), "{row:?}");
        } else {
            assert_eq!(row[5], "1", "{row:?}");
            let (min, median) = (number(&row[2]), number(&row[3]));
            assert!(min.is_some() && median.is_some(), "{row:?}");
            assert!(
                min.unwrap() >= 0.0 && median.unwrap() >= min.unwrap(),
                "{row:?}"
            );
        }
    }
    let has = |needle: &str| body.iter().any(|r| r[1].contains(needle));
    for protocol in ["otlp-grpc", "jaeger-udp-compact", "zipkin"] {
        assert!(
            has(&format!("{protocol}: spans stored (memory) per CPU-second")),
            "{protocol}"
        );
        assert!(has(&format!("{protocol}: decode-only")), "{protocol}");
        assert!(
            has(&format!("{protocol}: ingest ÷ decode-only")),
            "{protocol}"
        );
    }
    for needle in [
        "memory backend: RSS growth per stored span",
        "trace by ID, no time hint @ 2,048 spans: p50",
        "trace by ID, no time hint @ 2,048 spans: p99",
        "search service + operation + tag, limit 20 @ 2,048 spans: p99",
        "search by attribute alone, limit 20 @ 2,048 spans: p99",
        "idle: steady RSS",
        "idle: peak RSS",
        "under load: steady RSS",
        "under load: peak RSS",
    ] {
        assert!(has(needle), "no row {needle:?}:\n{stdout}");
    }
    let engine = body
        .iter()
        .find(|r| r[1].starts_with("engine: bytes on disk per span"))
        .expect("the engine row");
    assert!(engine[8].contains("--storage engine"), "{engine:?}");
    // Every UDP span sent was stored.
    let lost = body
        .iter()
        .find(|r| r[1] == "jaeger-udp-compact: spans lost (sent − stored)")
        .expect("the UDP loss row");
    assert_eq!(lost[3], "0", "{lost:?}");
    assert!(stdout.contains("- machine: "), "{stdout}");
    // The same figures, as JSON.
    let report: Value = serde_json::from_slice(&std::fs::read(&json_file).unwrap()).unwrap();
    assert_eq!(report["figures"].as_array().unwrap().len(), body.len());
}

#[test]
fn bench_json_has_every_sample() {
    let mut args = TINY.to_vec();
    let repeat = args.iter().position(|a| *a == "--repeat").unwrap();
    args[repeat + 1] = "2";
    args.extend(["--scenario", "storage,queries", "--json"]);
    let report: Value = serde_json::from_str(&bench(&args)).expect("JSON report");
    assert_eq!(report["storage"], "memory");
    assert!(report["machine"]["cpus"].as_u64().unwrap() >= 1);
    assert_eq!(report["settings"]["repeat"], 2);
    let figures = report["figures"].as_array().unwrap();
    assert!(
        figures
            .iter()
            .all(|f| f["scenario"] != "ingest" && f["scenario"] != "memory")
    );
    let p99 = figures
        .iter()
        .find(|f| f["measure"] == "trace by ID, no time hint @ 2,048 spans: p99")
        .expect("trace by ID p99");
    let samples = p99["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 2, "{p99}");
    let min = samples
        .iter()
        .map(|s| s.as_f64().unwrap())
        .fold(f64::MAX, f64::min);
    assert_eq!(p99["min"].as_f64().unwrap(), min);
}

#[test]
fn bench_measures_the_engine_too() {
    let stdout = bench(&[
        "--storage",
        "engine",
        "--scenario",
        "ingest",
        "--repeat",
        "1",
        "--ingest-spans",
        "1024",
        "--batch-size",
        "256",
    ]);
    assert!(
        stdout.starts_with("## spoor bench: engine storage"),
        "{stdout}"
    );
    let row = stdout
        .lines()
        .filter(|l| l.starts_with('|'))
        .map(cells)
        .find(|r| r[1] == "otlp-grpc: spans stored (engine) per CPU-second of the server")
        .unwrap_or_else(|| panic!("no engine ingest row:\n{stdout}"));
    assert!(
        number(&row[2]).is_some() && number(&row[3]).is_some(),
        "{row:?}"
    );
}
