//! An independent Parquet reader (Apache Arrow's pyarrow) opens a block and
//! finds the spans written to it.
//!
//! pyarrow is taken from the system Python when it has it; otherwise it is
//! installed once into a virtual environment under Cargo's temporary test
//! folder. Only when that installation is impossible (no `python3`, no
//! network to PyPI) does the test skip, and it says so loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use spoor_engine::{Engine, EngineConfig};
use spoor_storage::SpanWriter;

fn has_pyarrow(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import pyarrow.parquet"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A Python interpreter with pyarrow, or why there is none.
fn python_with_pyarrow() -> Result<PathBuf, String> {
    let system = PathBuf::from("python3");
    if has_pyarrow(&system) {
        return Ok(system);
    }
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pyarrow-venv");
    let python = venv.join("bin/python3");
    if has_pyarrow(&python) {
        return Ok(python);
    }
    let created = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if !created.status.success() {
        return Err(format!(
            "python3 -m venv failed: {}",
            String::from_utf8_lossy(&created.stderr)
        ));
    }
    let installed = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "pyarrow",
        ])
        .output()
        .map_err(|e| format!("cannot run pip: {e}"))?;
    if !installed.status.success() || !has_pyarrow(&python) {
        return Err(format!(
            "pip install pyarrow failed: {}",
            String::from_utf8_lossy(&installed.stderr)
        ));
    }
    Ok(python)
}

const SCRIPT: &str = r#"
import json, sys
import pyarrow.parquet as pq
import pyarrow.compute as pc

block = sys.argv[1]
spans = pq.read_table(block + "/spans.parquet")
resources = pq.read_table(block + "/resources.parquet")
scopes = pq.read_table(block + "/scopes.parquet")
meta = pq.ParquetFile(block + "/spans.parquet").metadata
ids = [bytes(x).hex() for x in spans.column("trace_id").to_pylist()]
want = sys.argv[2]
rows = [i for i, t in enumerate(ids) if t == want]
first = rows[0]
attrs = spans.column("attributes")[first].as_py()
print(json.dumps({
    "rows": spans.num_rows,
    "columns": spans.column_names,
    "sorted": ids == sorted(ids),
    "trace_rows": len(rows),
    "services": sorted(set(spans.column("service_name").to_pylist())),
    "names": [spans.column("name")[i].as_py() for i in rows],
    "starts": [spans.column("start_time_unix_nano")[i].value for i in rows],
    "durations": [spans.column("duration_nanos")[i].as_py() for i in rows],
    "http_method": spans.column("attr_http_method")[first].as_py(),
    "attribute_keys": [a["key"] for a in attrs],
    "attribute_types": [a["type"] for a in attrs],
    "event_names": spans.column("events")[first].values.field("name").to_pylist(),
    "event_times": [t.value for t in spans.column("events")[first].values.field("time_unix_nano")],
    "resource_services": resources.column("service_name").to_pylist(),
    "resource_of_first": spans.column("resource_index")[first].as_py(),
    "scope_names": scopes.column("name").to_pylist(),
    "compression": meta.row_group(0).column(0).compression,
    "errors": pc.sum(pc.equal(spans.column("status_code"), 2)).as_py() or 0,
}))
"#;

#[tokio::test]
async fn pyarrow_reads_a_block() {
    let python = match python_with_pyarrow() {
        Ok(p) => p,
        Err(why) => {
            eprintln!(
                "\n\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                 !!! SKIPPED: pyarrow_reads_a_block could not get pyarrow: {why}\n\
                 !!! The block was NOT checked with an independent Parquet reader.\n\
                 !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
            );
            return;
        }
    };
    let dir = common::temp_dir("pyarrow");
    let engine = Engine::open(EngineConfig::new(&dir)).await.unwrap();
    for writer in 0..3 {
        for seq in 0..20 {
            engine
                .write_spans(common::numbered_batch(writer, seq, 4))
                .await
                .unwrap();
        }
    }
    assert_eq!(engine.cut().await.unwrap(), 1);
    let block = engine.blocks().remove(0);
    engine.close().await.unwrap();

    let probe = common::numbered_batch(1, 7, 4);
    let trace_hex = probe.spans[0].span.trace_id.to_hex();
    let out = Command::new(&python)
        .args(["-c", SCRIPT])
        .arg(dir.join("blocks").join(&block.id))
        .arg(&trace_hex)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pyarrow failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    eprintln!("pyarrow saw: {got}");
    assert_eq!(got["rows"], 240);
    assert_eq!(got["sorted"], true, "rows are sorted by trace ID");
    assert_eq!(got["trace_rows"], 4);
    assert_eq!(
        got["services"],
        serde_json::json!(["writer-0", "writer-1", "writer-2"])
    );
    let names: Vec<String> = probe.spans.iter().map(|r| r.span.name.clone()).collect();
    assert_eq!(got["names"], serde_json::json!(names));
    let starts: Vec<u64> = probe
        .spans
        .iter()
        .map(|r| r.span.start_time_unix_nano)
        .collect();
    assert_eq!(got["starts"], serde_json::json!(starts));
    assert_eq!(
        got["durations"],
        serde_json::json!([1000, 1000, 1000, 1000])
    );
    // The hot key is in its own column and marked (type 8) in the list.
    assert_eq!(got["http_method"], "GET");
    assert_eq!(
        got["attribute_keys"],
        serde_json::json!(["http.method", "seq", "ratio", "flag"])
    );
    assert_eq!(got["attribute_types"], serde_json::json!([8, 3, 4, 2]));
    assert_eq!(got["event_names"], serde_json::json!(["ev"]));
    assert_eq!(
        got["event_times"],
        serde_json::json!([probe.spans[0].span.events[0].time_unix_nano])
    );
    let resource = got["resource_of_first"].as_u64().unwrap() as usize;
    assert_eq!(got["resource_services"][resource], "writer-1");
    assert_eq!(got["scope_names"], serde_json::json!(["crash-test"]));
    assert_eq!(got["compression"], "ZSTD");
    assert_eq!(got["errors"], 0);
    assert!(
        got["columns"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "attr_db_statement")
    );
    std::fs::remove_dir_all(dir).unwrap();
}
