//! `spoor export`, `spoor import` and `GET /api/export` with the real binary:
//! round trips in every importable format over HTTP and through data
//! directories, the `jq`-shaped Jaeger file, paging past the page size with
//! ties and traces straddling windows, the "nothing matched" message, and
//! Parquet/CSV read by an independent reader (pyarrow, Python's csv).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use common::Spoor;
use serde_json::{Value, json};

use common::{Run, run_spoor as spoor};

fn spoor_ok(args: &[&str]) -> Run {
    let run = spoor(args);
    assert!(run.ok, "spoor {args:?} failed:\n{}", run.stderr);
    run
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

fn url(s: &Spoor) -> String {
    format!("http://{}", s.query_http)
}

fn otlp(s: &Spoor) -> String {
    format!("http://{}", s.otlp_http)
}

/// A trace with everything the model carries: events, links, every value
/// type, status message, scope, two services.
fn rich_trace() -> Value {
    let t0: u64 = now_micros() * 1_000 - 3_600_000_000_000 + 123;
    json!({"resourceSpans": [
      {"resource": {"attributes": [
          {"key": "service.name", "value": {"stringValue": "rich-front"}},
          {"key": "host.name", "value": {"stringValue": "h1"}}]},
       "scopeSpans": [{"scope": {"name": "lib.a", "version": "1.2"},
         "spans": [{
           "traceId": "0af7651916cd43dd8448eb211c80319c",
           "spanId": "b7ad6b7169203331",
           "name": "GET /x, \"quoted\"",
           "kind": 2,
           "startTimeUnixNano": t0.to_string(),
           "endTimeUnixNano": (t0 + 5_000_000).to_string(),
           "attributes": [
             {"key": "s", "value": {"stringValue": "line1\nline2, with comma"}},
             {"key": "i", "value": {"intValue": "42"}},
             {"key": "d", "value": {"doubleValue": 1.5}},
             {"key": "b", "value": {"boolValue": true}},
             {"key": "arr", "value": {"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": "1"}]}}}],
           "events": [{"timeUnixNano": (t0 + 1_000_000).to_string(), "name": "ev",
                       "attributes": [{"key": "ek", "value": {"stringValue": "ev"}}]}],
           "status": {"code": 2, "message": "boom"}}]}]},
      {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "rich-back"}}]},
       "scopeSpans": [{"scope": {"name": "lib.b"},
         "spans": [{
           "traceId": "0af7651916cd43dd8448eb211c80319c",
           "spanId": "00f067aa0ba902b7",
           "parentSpanId": "b7ad6b7169203331",
           "name": "query",
           "kind": 3,
           "startTimeUnixNano": (t0 + 1_000_000).to_string(),
           "endTimeUnixNano": (t0 + 2_000_000).to_string(),
           "links": [{"traceId": "1af7651916cd43dd8448eb211c80319c", "spanId": "c7ad6b7169203331",
                      "attributes": [{"key": "lk", "value": {"stringValue": "lv"}}]}],
           "status": {"code": 1}}]}]}
    ]})
}

fn post_otlp_json(s: &Spoor, body: &Value) {
    let reply = s.post(
        &s.otlp_http_url("/v1/traces"),
        "application/json",
        serde_json::to_vec(body).unwrap(),
        &[],
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
}

/// Loads seeded tracegen traces and the rich trace.
fn load(s: &Spoor, traces: &str) {
    let run = spoor(&[
        "tracegen",
        "--protocol",
        "otlp-grpc",
        "--endpoint",
        &s.otlp_grpc.to_string(),
        "--traces",
        traces,
        "--rate",
        "0",
        "--seed",
        "7",
        "--large-trace-every",
        "0",
        "--log",
        "warn",
    ]);
    assert!(run.ok, "tracegen failed: {}", run.stderr);
    post_otlp_json(s, &rich_trace());
}

/// Every trace of a server, normalized, by trace ID: the Jaeger UI form
/// (processes inlined, spans sorted) and the OTLP form (spans flattened with
/// their resource and scope, sorted).
#[derive(Debug, PartialEq)]
struct Snapshot {
    ui: BTreeMap<String, Value>,
    otlp: BTreeMap<String, Value>,
}

fn snapshot(s: &Spoor) -> Snapshot {
    let end = now_micros() + 3_600_000_000;
    let (status, body) = s.get_json(&format!(
        // Every trace: the tests load at most 41, and 1500 is the largest
        // limit a search may ask for by default (--query-max-limit).
        "/api/traces?start=1&end={end}&limit=1500&raw=true"
    ));
    assert_eq!(status, 200, "{body}");
    let mut ui = BTreeMap::new();
    let mut otlp = BTreeMap::new();
    for trace in body["data"].as_array().unwrap() {
        let id = trace["traceID"].as_str().unwrap().to_string();
        let mut spans: Vec<Value> = trace["spans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|span| {
                let mut span = span.clone();
                let pid = span["processID"].as_str().unwrap().to_string();
                span["process"] = trace["processes"][&pid].clone();
                span.as_object_mut().unwrap().remove("processID");
                span
            })
            .collect();
        spans.sort_by_key(|s| s["spanID"].as_str().unwrap().to_string());
        ui.insert(id.clone(), Value::Array(spans));
        let (status, v3) = s.get_json(&format!("/api/v3/traces/{id}?raw_traces=true"));
        assert_eq!(status, 200, "{v3}");
        let mut flat = Vec::new();
        for rs in v3["result"]["resourceSpans"].as_array().unwrap() {
            for ss in rs["scopeSpans"].as_array().unwrap() {
                for span in ss["spans"].as_array().unwrap() {
                    flat.push(
                        json!({"resource": rs["resource"], "scope": ss["scope"], "span": span}),
                    );
                }
            }
        }
        flat.sort_by_key(|f| f["span"]["spanId"].as_str().unwrap().to_string());
        otlp.insert(id, Value::Array(flat));
    }
    Snapshot { ui, otlp }
}

fn span_total(snap: &Snapshot) -> usize {
    snap.ui.values().map(|v| v.as_array().unwrap().len()).sum()
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Compares two snapshots in the form the format preserves.
fn assert_same(format: &str, want: &Snapshot, got: &Snapshot) {
    assert_eq!(
        want.ui.keys().collect::<Vec<_>>(),
        got.ui.keys().collect::<Vec<_>>(),
        "{format}: trace IDs differ"
    );
    if format.starts_with("otlp") {
        for (id, spans) in &want.otlp {
            assert_eq!(
                Some(spans),
                got.otlp.get(id),
                "{format}: trace {id} differs"
            );
        }
    } else {
        for (id, spans) in &want.ui {
            assert_eq!(Some(spans), got.ui.get(id), "{format}: trace {id} differs");
        }
    }
}

const IMPORTABLE: [&str; 5] = [
    "jaeger-json",
    "jaeger-jsonl",
    "otlp-json",
    "otlp-jsonl",
    "otlp-proto",
];

#[test]
fn every_format_round_trips_through_a_running_spoor() {
    let a = Spoor::start(&[]);
    load(&a, "40");
    let want = snapshot(&a);
    assert!(want.ui.len() >= 41, "{} traces loaded", want.ui.len());
    let dir = tmp();
    for format in IMPORTABLE {
        let file = dir.path().join(format!("out.{format}"));
        let run = spoor_ok(&[
            "export",
            "--url",
            &url(&a),
            "--format",
            format,
            "-o",
            path_str(&file),
        ]);
        assert!(
            run.stderr.contains(&format!(
                "exported {} traces, {} spans",
                want.ui.len(),
                span_total(&want)
            )),
            "{format}: {}",
            run.stderr
        );
        let b = Spoor::start(&[]);
        let run = spoor_ok(&["import", path_str(&file), "--otlp", &otlp(&b)]);
        assert!(
            run.stderr.contains(&format!(
                "{} traces, {} spans",
                want.ui.len(),
                span_total(&want)
            )),
            "{format}: {}",
            run.stderr
        );
        assert_same(format, &want, &snapshot(&b));
    }
    // The endpoint itself, straight: a document curl can fetch.
    let reply = a.get(&a.query("/api/export?format=jaeger-json&service=rich-front"));
    assert_eq!(reply.status, 200);
    let doc = reply.json();
    assert_eq!(doc["data"].as_array().unwrap().len(), 1, "{doc}");
    let reply = a.get(&a.query("/api/export?format=nope"));
    assert_eq!(reply.status, 400, "{}", reply.text());
}

#[test]
fn data_directories_export_and_import_when_spoor_is_stopped() {
    let dir_a = tmp();
    let mut a = Spoor::start(&["--data-dir", path_str(dir_a.path())]);
    load(&a, "25");
    let want = snapshot(&a);
    let files = tmp();
    let file = files.path().join("t.pb");
    // While Spoor runs, the directory is refused clearly.
    let run = spoor(&[
        "export",
        "--data-dir",
        path_str(dir_a.path()),
        "-o",
        path_str(&file),
    ]);
    assert!(!run.ok);
    assert!(
        run.stderr.contains("in use by a running Spoor"),
        "{}",
        run.stderr
    );
    a.sigkill();
    drop(a);
    for format in ["otlp-proto", "jaeger-json"] {
        let file = files.path().join(format!("t.{format}"));
        let run = spoor_ok(&[
            "export",
            "--data-dir",
            path_str(dir_a.path()),
            "--format",
            format,
            "-o",
            path_str(&file),
        ]);
        assert!(
            run.stderr
                .contains(&format!("exported {} traces", want.ui.len())),
            "{}",
            run.stderr
        );
        let dir_c = tmp();
        spoor_ok(&[
            "import",
            path_str(&file),
            "--data-dir",
            path_str(dir_c.path()),
        ]);
        let c = Spoor::start(&["--data-dir", path_str(dir_c.path())]);
        assert_same(format, &want, &snapshot(&c));
    }
}

#[test]
fn jq_shaped_jaeger_files_import_with_recovered_and_unknown_services() {
    let a = Spoor::start(&[]);
    load(&a, "6");
    let files = tmp();
    let doc_path = files.path().join("all.json");
    spoor_ok(&[
        "export",
        "--url",
        &url(&a),
        "--format",
        "jaeger-json",
        "-o",
        path_str(&doc_path),
    ]);
    let doc: Value = serde_json::from_slice(&std::fs::read(&doc_path).unwrap()).unwrap();
    // `jq '.data[] | {traceID, spans}'`, except that the spans of the first
    // trace carry their process inline (as some tools write them).
    let mut jq = String::new();
    let (mut inlined, mut bare) = (0usize, 0usize);
    let mut inline_services = BTreeSet::new();
    for (i, trace) in doc["data"].as_array().unwrap().iter().enumerate() {
        let mut spans = trace["spans"].clone();
        for span in spans.as_array_mut().unwrap() {
            if i == 0 {
                let pid = span["processID"].as_str().unwrap().to_string();
                span["process"] = trace["processes"][&pid].clone();
                inline_services
                    .insert(span["process"]["serviceName"].as_str().unwrap().to_string());
                inlined += 1;
            } else {
                bare += 1;
            }
        }
        let obj = json!({"traceID": trace["traceID"], "spans": spans});
        jq.push_str(&serde_json::to_string_pretty(&obj).unwrap());
        jq.push('\n');
    }
    let jq_path = files.path().join("spans.json");
    std::fs::write(&jq_path, jq).unwrap();
    let b = Spoor::start(&[]);
    let run = spoor_ok(&["import", path_str(&jq_path), "--otlp", &otlp(&b)]);
    assert!(
        run.stderr
            .contains(&format!("{inlined} spans had no entry")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!(
            "{bare} spans had no process at all: they were given the service name \"unknown_service\""
        )),
        "{}",
        run.stderr
    );
    let (_, services) = b.get_json("/api/services");
    let got: BTreeSet<String> = services["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    let mut want = inline_services.clone();
    want.insert("unknown_service".into());
    assert_eq!(got, want);
}

#[test]
fn an_export_matching_nothing_names_the_services_that_exist() {
    let a = Spoor::start(&[]);
    post_otlp_json(&a, &rich_trace());
    let out = tmp();
    let file = out.path().join("none.jsonl");
    let run = spoor(&[
        "export",
        "--url",
        &url(&a),
        "--service",
        "no-such-service",
        "-o",
        path_str(&file),
    ]);
    assert!(!run.ok, "{}", run.stderr);
    assert!(
        run.stderr.contains("no trace matched the filter")
            && run.stderr.contains("rich-back, rich-front"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"");
}

/// Exports every trace exactly once past the page size: 450 traces share one
/// start nanosecond (ties), 500 more are spread out and each has a second span
/// 30 s after its root, so filters on the late span find traces that start
/// in earlier windows.
#[test]
fn paging_exports_each_trace_once_with_ties_and_straddling_traces() {
    let a = Spoor::start(&[]);
    let t0: u64 = (now_micros() - 7_200_000_000) * 1_000;
    let span = |trace: u64, span: u64, parent: u64, service: &str, start: u64| {
        json!({"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
               "scopeSpans": [{"spans": [{
                 "traceId": format!("{trace:032x}"),
                 "spanId": format!("{span:016x}"),
                 "parentSpanId": if parent == 0 { String::new() } else { format!("{parent:016x}") },
                 "name": "op",
                 "startTimeUnixNano": start.to_string(),
                 "endTimeUnixNano": (start + 1_000).to_string()}]}]})
    };
    let mut batch = Vec::new();
    for i in 1..=450u64 {
        batch.push(span(i, i, 0, "tie", t0));
    }
    for i in 1..=500u64 {
        let trace = 10_000 + i;
        let start = t0 + 1_000_000_000 + i * 10_000_000;
        batch.push(span(trace, trace * 2, 0, "root", start));
        batch.push(span(
            trace,
            trace * 2 + 1,
            trace * 2,
            "late",
            start + 30_000_000_000,
        ));
    }
    for chunk in batch.chunks(200) {
        post_otlp_json(&a, &json!({"resourceSpans": chunk}));
    }
    let ids = |query: &str| -> Vec<String> {
        let reply = a.get(&a.query(&format!(
            "/api/export?format=jaeger-jsonl&pageSize=100&{query}"
        )));
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply
            .text()
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["traceID"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    let unique = |v: &[String]| v.iter().collect::<BTreeSet<_>>().len();
    let all = ids("");
    assert_eq!(all.len(), 950);
    assert_eq!(unique(&all), 950);
    let late = ids("service=late");
    assert_eq!(late.len(), 500);
    assert_eq!(unique(&late), 500);
    let tie = ids("service=tie");
    assert_eq!((tie.len(), unique(&tie)), (450, 450));
    // A range that cuts through: roots before it, late spans inside it.
    let from = (t0 + 1_000_000_000 + 30_000_000_000) / 1_000;
    let to = (t0 + 1_000_000_000 + 30_000_000_000 + 2_500_000_000) / 1_000;
    let cut = ids(&format!("start={from}&end={to}"));
    assert_eq!((cut.len(), unique(&cut)), (250, 250));
}

fn has_pyarrow(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import pyarrow.parquet"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A Python with pyarrow: the system's, or the venv the engine's pyarrow
/// test (and scripts/test.sh) create under the target directory, created
/// here the same way when missing.
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
        return Err(String::from_utf8_lossy(&created.stderr).into_owned());
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
        return Err(String::from_utf8_lossy(&installed.stderr).into_owned());
    }
    Ok(python)
}

const READ_BOTH: &str = r#"
import csv, json, sys
import pyarrow.parquet as pq
t = pq.read_table(sys.argv[1])
rows = t.to_pylist()
with open(sys.argv[2], newline="") as f:
    records = list(csv.DictReader(f))
rich = [r for r in rows if r["span_id"] == "b7ad6b7169203331"][0]
rich_csv = [r for r in records if r["span_id"] == "b7ad6b7169203331"][0]
print(json.dumps({
    "columns": t.column_names,
    "types": [str(f.type) for f in t.schema],
    "rows": t.num_rows,
    "row_groups": pq.ParquetFile(sys.argv[1]).num_row_groups,
    "traces": sorted(set(r["trace_id"] for r in rows)),
    "rich": rich,
    "csv_columns": list(records[0].keys()),
    "csv_rows": len(records),
    "csv_traces": sorted(set(r["trace_id"] for r in records)),
    "csv_rich": rich_csv,
}))
"#;

#[test]
fn parquet_and_csv_open_in_independent_readers() {
    let python = match python_with_pyarrow() {
        Ok(p) => p,
        Err(why) => {
            eprintln!(
                "!!! SKIPPED: parquet_and_csv_open_in_independent_readers: no pyarrow: {why}"
            );
            return;
        }
    };
    let a = Spoor::start(&[]);
    load(&a, "30");
    let want = snapshot(&a);
    let out = tmp();
    let pq_path = out.path().join("spans.parquet");
    let csv_path = out.path().join("spans.csv");
    spoor_ok(&[
        "export",
        "--url",
        &url(&a),
        "--format",
        "parquet",
        "--row-group-spans",
        "100",
        "-o",
        path_str(&pq_path),
    ]);
    spoor_ok(&[
        "export",
        "--url",
        &url(&a),
        "--format",
        "csv",
        "-o",
        path_str(&csv_path),
    ]);
    let script = out.path().join("read.py");
    std::fs::write(&script, READ_BOTH).unwrap();
    let res = Command::new(&python)
        .arg(&script)
        .arg(&pq_path)
        .arg(&csv_path)
        .output()
        .unwrap();
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let got: Value = serde_json::from_slice(&res.stdout).unwrap();
    let columns: Vec<&str> = got["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(
        columns,
        vec![
            "trace_id",
            "span_id",
            "parent_span_id",
            "service",
            "operation",
            "kind",
            "start_unix_nano",
            "end_unix_nano",
            "duration_nano",
            "status_code",
            "status_message",
            "scope_name",
            "scope_version",
            "attributes",
            "resource_attributes",
            "events",
            "links"
        ]
    );
    let spans = span_total(&want);
    assert_eq!(got["rows"].as_u64().unwrap() as usize, spans);
    assert!(got["row_groups"].as_u64().unwrap() as usize >= spans / 100);
    let hex32 = |id: &str| format!("{id:0>32}");
    let want_ids: Vec<String> = want.ui.keys().map(|id| hex32(id)).collect();
    let want_ids: BTreeSet<String> = want_ids.into_iter().collect();
    let pq_ids: BTreeSet<String> = serde_json::from_value(got["traces"].clone()).unwrap();
    assert_eq!(pq_ids, want_ids);
    let rich = &got["rich"];
    assert_eq!(rich["service"], "rich-front");
    assert_eq!(rich["operation"], "GET /x, \"quoted\"");
    assert_eq!(rich["kind"], "SERVER");
    assert_eq!(rich["status_code"], "ERROR");
    assert_eq!(rich["status_message"], "boom");
    assert_eq!(rich["duration_nano"], 5_000_000);
    assert_eq!(rich["scope_name"], "lib.a");
    assert_eq!(rich["parent_span_id"], Value::Null);
    let attrs: Value = serde_json::from_str(rich["attributes"].as_str().unwrap()).unwrap();
    assert_eq!(
        attrs,
        json!({"s": "line1\nline2, with comma", "i": 42, "d": 1.5, "b": true, "arr": ["a", 1]})
    );
    let res_attrs: Value =
        serde_json::from_str(rich["resource_attributes"].as_str().unwrap()).unwrap();
    assert_eq!(res_attrs["host.name"], "h1");
    let events: Value = serde_json::from_str(rich["events"].as_str().unwrap()).unwrap();
    assert_eq!(events[0]["name"], "ev");
    assert_eq!(events[0]["attributes"]["ek"], "ev");
    // CSV: the documented header, every span, quoting that survives commas,
    // quotes and line breaks.
    let csv_columns: Vec<&str> = got["csv_columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(
        csv_columns,
        vec![
            "trace_id",
            "span_id",
            "parent_span_id",
            "service",
            "operation",
            "start",
            "end",
            "duration_nano",
            "status",
            "kind",
            "attributes"
        ]
    );
    assert_eq!(got["csv_rows"].as_u64().unwrap() as usize, spans);
    let csv_ids: BTreeSet<String> = serde_json::from_value(got["csv_traces"].clone()).unwrap();
    assert_eq!(csv_ids, want_ids);
    let rich_csv = &got["csv_rich"];
    assert_eq!(rich_csv["operation"], "GET /x, \"quoted\"");
    assert_eq!(rich_csv["status"], "ERROR");
    assert_eq!(rich_csv["duration_nano"], "5000000");
    let csv_attrs: Value = serde_json::from_str(rich_csv["attributes"].as_str().unwrap()).unwrap();
    assert_eq!(csv_attrs, attrs);
}

#[test]
fn zipkin_and_otlp_files_import_into_a_data_directory() {
    let files = tmp();
    let v2 = files.path().join("zipkin.json");
    std::fs::write(
        &v2,
        r#"[{"traceId":"5af7183fb1d4cf5f","id":"6b221d5bc9e6496c","name":"get","timestamp":1700000000000000,
             "duration":2000,"kind":"SERVER","localEndpoint":{"serviceName":"zip-front"},"tags":{"http.method":"GET"}},
            {"traceId":"5af7183fb1d4cf5f","id":"7b221d5bc9e6496c","parentId":"6b221d5bc9e6496c","name":"q",
             "timestamp":1700000000000500,"duration":100,"localEndpoint":{"serviceName":"zip-back"}}]"#,
    )
    .unwrap();
    let v1 = files.path().join("zipkin-v1.json");
    std::fs::write(
        &v1,
        r#"[{"traceId":"6af7183fb1d4cf5f","id":"8b221d5bc9e6496c","name":"v1op","timestamp":1700000000000000,
             "duration":10,"annotations":[{"timestamp":1700000000000000,"value":"sr","endpoint":{"serviceName":"zip-v1"}},
             {"timestamp":1700000000000010,"value":"ss","endpoint":{"serviceName":"zip-v1"}}],"binaryAnnotations":[]}]"#,
    )
    .unwrap();
    let dir = tmp();
    let run = spoor_ok(&[
        "import",
        path_str(&v2),
        path_str(&v1),
        "--data-dir",
        path_str(dir.path()),
    ]);
    assert!(
        run.stderr.contains("imported 2 file(s): 2 traces, 3 spans"),
        "{}",
        run.stderr
    );
    let s = Spoor::start(&["--data-dir", path_str(dir.path())]);
    let (_, services) = s.get_json("/api/services");
    assert_eq!(services["data"], json!(["zip-back", "zip-front", "zip-v1"]));
}
