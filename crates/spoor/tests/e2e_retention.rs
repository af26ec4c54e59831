//! Retention and damaged blocks through the real binary: data stamped long
//! ago (or in 1970) stays for the retention after Spoor received it, a
//! far-future timestamp does not keep a block alive, and a damaged block is
//! skipped with a warning in the response and in `/metrics` (flipped bytes,
//! a truncated file) or quarantined at start (no `meta.json`), never
//! deleted and never read as good data.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Spoor, metric_value, poll_until, with_params};
use serde_json::{Value, json};

const SECOND: u64 = 1_000_000_000;
const YEAR: u64 = 365 * 24 * 3_600 * SECOND;

fn get_url(spoor: &Spoor, url: &str) -> (u16, Value) {
    let reply = spoor.get(url);
    (reply.status, reply.json())
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn trace_hex(trace: u64) -> String {
    format!("{:032x}", (0x7e7e_u128 << 64) | u128::from(trace))
}

/// An OTLP/JSON request: one trace of `spans` spans of `service`, each
/// (span number, start).
fn request(service: &str, trace: u64, spans: &[(u64, u64)]) -> Value {
    let spans: Vec<Value> = spans
        .iter()
        .map(|&(id, start)| {
            json!({
                "traceId": trace_hex(trace),
                "spanId": format!("{:016x}", trace * 100 + id),
                "name": format!("op-{id}"),
                "kind": 2,
                "startTimeUnixNano": start.to_string(),
                "endTimeUnixNano": (start + 1_000_000).to_string(),
            })
        })
        .collect();
    json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"scope": {"name": "e2e"}, "spans": spans}]
    }]})
}

fn post(spoor: &Spoor, body: &Value) {
    let reply = spoor.post(
        &spoor.otlp_http_url("/v1/traces"),
        "application/json",
        serde_json::to_vec(body).unwrap(),
        &[],
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
}

/// Span IDs of a trace fetched through `/api/traces/{id}`, or `None` on 404.
fn span_ids(spoor: &Spoor, trace: u64) -> Option<BTreeSet<String>> {
    let (status, body) = spoor.get_json(&format!("/api/traces/{}", trace_hex(trace)));
    if status == 404 {
        return None;
    }
    assert_eq!(status, 200, "{body}");
    Some(
        body["data"][0]["spans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["spanID"].as_str().unwrap().to_owned())
            .collect(),
    )
}

#[test]
fn data_stamped_long_ago_is_kept_for_the_retention_after_it_arrives() {
    // Blocks are cut every second and retention swept every second.
    let spoor = Spoor::start(&["--retention", "6s", "--block-cut-age", "1s"]);
    let now = now_nanos();
    let posted = Instant::now();
    // A dataset recorded a year ago, a span stamped 1970, and a batch that
    // also holds a span stamped in the year 2500.
    post(
        &spoor,
        &request("replayed", 1, &[(1, now - YEAR), (2, now - YEAR + SECOND)]),
    );
    post(&spoor, &request("replayed", 2, &[(1, 1_000)]));
    let year_2500 = 16_725_225_600 * SECOND;
    post(&spoor, &request("replayed", 3, &[(1, now), (2, year_2500)]));
    // Past a block cut and several retention sweeps.
    poll_until(Duration::from_secs(20), || {
        ((metric_value(&spoor.metrics(), "spoor_engine_blocks_cut_total") as u64) >= 1)
            .then_some(())
    })
    .expect("a block is cut");
    std::thread::sleep(Duration::from_secs(3).saturating_sub(posted.elapsed()));
    assert!(
        posted.elapsed() < Duration::from_secs(5),
        "the machine is too slow for this test"
    );
    for trace in [1, 2, 3] {
        let ids = span_ids(&spoor, trace)
            .unwrap_or_else(|| panic!("trace {trace} was acknowledged and must still be there"));
        assert!(!ids.is_empty());
    }
    assert_eq!(
        (metric_value(&spoor.metrics(), "spoor_engine_blocks_expired_total") as u64),
        0
    );
    let (status, body) = get_url(
        &spoor,
        &with_params(
            &spoor.query("/api/traces"),
            &[
                ("service", "replayed".into()),
                ("start", "0".into()),
                ("end", (u64::MAX / 2_000).to_string()),
                ("limit", "10".into()),
            ],
        ),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"].as_array().unwrap().len(), 3, "{body}");
    // Once received longer ago than the retention, all of it goes: the
    // year-2500 span keeps nothing alive.
    poll_until(Duration::from_secs(30), || {
        [1, 2, 3]
            .iter()
            .all(|&t| span_ids(&spoor, t).is_none())
            .then_some(())
    })
    .unwrap_or_else(|| panic!("the data outlived the retention:\n{}", spoor.metrics()));
    assert!(posted.elapsed() >= Duration::from_secs(6));
    assert!((metric_value(&spoor.metrics(), "spoor_engine_blocks_expired_total") as u64) >= 1);
}

/// A Spoor on `dir` that cuts a block a second.
fn start_on(dir: &Path) -> Spoor {
    Spoor::start(&["--data-dir", dir.to_str().unwrap(), "--block-cut-age", "1s"])
}

fn block_dirs(dir: &Path) -> BTreeSet<PathBuf> {
    std::fs::read_dir(dir.join("blocks"))
        .map(|entries| entries.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

/// Three blocks of service `victim`, one trace (4 spans) each; returns the
/// block folders in the order of traces 11, 12, 13.
fn three_blocks(dir: &Path) -> Vec<PathBuf> {
    // The spans start within the current hour, the engine's compaction
    // window: small blocks of a closed window are compacted at once, which
    // would merge the three blocks.
    const HOUR: u64 = 3_600 * SECOND;
    let mut now = now_nanos();
    while now % HOUR < 20 * SECOND {
        std::thread::sleep(Duration::from_secs(1));
        now = now_nanos();
    }
    let back = (now % HOUR - 15 * SECOND).min(60 * SECOND);
    let spoor = start_on(dir);
    let mut folders = Vec::new();
    for trace in 11..14 {
        let before = block_dirs(dir);
        let start = now - back + trace * SECOND;
        post(
            &spoor,
            &request(
                "victim",
                trace,
                &[
                    (1, start),
                    (2, start + 10),
                    (3, start + 20),
                    (4, start + 30),
                ],
            ),
        );
        let new = poll_until(Duration::from_secs(20), || {
            let now = block_dirs(dir);
            let new: Vec<PathBuf> = now
                .difference(&before)
                .filter(|p| p.join("meta.json").exists())
                .cloned()
                .collect();
            (new.len() == 1).then(|| new[0].clone())
        })
        .expect("each trace is cut into its own block");
        folders.push(new);
    }
    drop(spoor);
    folders
}

fn expected_ids(trace: u64) -> BTreeSet<String> {
    (1..5)
        .map(|id| format!("{:016x}", trace * 100 + id))
        .collect()
}

fn search(spoor: &Spoor) -> (u16, Value) {
    get_url(
        spoor,
        &with_params(
            &spoor.query("/api/traces"),
            &[
                ("service", "victim".into()),
                ("lookback", "1h".into()),
                ("limit", "20".into()),
            ],
        ),
    )
}

fn v3_search(spoor: &Spoor) -> (u16, Value) {
    let now = now_nanos();
    let rfc = |t: u64| spoor_model::format_rfc3339(t);
    get_url(
        spoor,
        &with_params(
            &spoor.query("/api/v3/traces"),
            &[
                ("query.serviceName", "victim".into()),
                ("query.startTimeMin", rfc(now - 3_600 * SECOND)),
                ("query.startTimeMax", rfc(now + 60 * SECOND)),
            ],
        ),
    )
}

/// `GET path` on the query port over a plain socket: the whole response as
/// sent, head, chunked body and trailer.
fn raw_get(spoor: &Spoor, path: &str) -> String {
    use std::io::{Read as _, Write as _};
    let url = spoor.query("");
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nTE: trailers\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut bytes = Vec::new();
    conn.read_to_end(&mut bytes).unwrap();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn damaged_block_answers_with_healthy_data_and_a_warning(flip: bool) {
    let dir = tempfile::tempdir().unwrap();
    let blocks = three_blocks(dir.path());
    let spans = blocks[1].join("spans.parquet");
    let mut bytes = std::fs::read(&spans).unwrap();
    if flip {
        let mid = bytes.len() / 2;
        for b in &mut bytes[mid..mid + 8] {
            *b ^= 0xa5;
        }
    } else {
        bytes.truncate(bytes.len() / 2);
    }
    std::fs::write(&spans, bytes).unwrap();
    let block_id = blocks[1].file_name().unwrap().to_str().unwrap().to_owned();

    let spoor = start_on(dir.path());
    // Search: 200, the healthy traces with exactly their spans, a warning.
    let (status, body) = search(&spoor);
    assert_eq!(status, 200, "{body}");
    let mut got = BTreeSet::new();
    for trace in body["data"].as_array().unwrap() {
        for span in trace["spans"].as_array().unwrap() {
            got.insert(span["spanID"].as_str().unwrap().to_owned());
        }
    }
    let want: BTreeSet<String> = expected_ids(11).union(&expected_ids(13)).cloned().collect();
    assert_eq!(got, want, "{body}");
    let errors = body["errors"].as_array().expect("a warning in errors");
    assert!(
        errors
            .iter()
            .any(|e| e["msg"].as_str().unwrap().contains(&block_id)),
        "{body}"
    );
    // The damaged trace is never answered with wrong spans.
    assert_eq!(span_ids(&spoor, 12), None);
    for trace in [11, 13] {
        assert_eq!(span_ids(&spoor, trace), Some(expected_ids(trace)));
    }
    // api_v3: 200 with the healthy spans and the error details.
    let (status, body) = v3_search(&spoor);
    assert_eq!(status, 200, "{body}");
    let v3_ids: BTreeSet<String> = common::v3_spans(&body)
        .iter()
        .map(|(_, s)| s["spanId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(v3_ids, want, "{body}");
    assert!(
        body["error"]["details"][0]
            .as_str()
            .unwrap()
            .contains(&block_id),
        "{body}"
    );
    // Export of the service still answers with the healthy traces, and says
    // what it skipped in a `Spoor-Warning` field.
    let reply = spoor.get(&spoor.query("/api/export?format=jaeger-json&service=victim"));
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["data"].as_array().unwrap().len(), 2);
    let raw = raw_get(&spoor, "/api/export?format=jaeger-jsonl&service=victim");
    let head = raw
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(head.contains("trailer: spoor-warning"), "{raw}");
    assert!(
        head.lines()
            .any(|l| l.starts_with("spoor-warning:") && l.contains(&block_id)),
        "{raw}"
    );
    // `spoor export` writes the healthy traces and fails, saying why.
    let out_dir = tempfile::tempdir().unwrap();
    let file = out_dir.path().join("victim.jsonl");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_spoor"))
        .args(["export", "--url", &spoor.query(""), "--service", "victim"])
        .args(["--format", "jaeger-jsonl", "-o", file.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "{stderr}");
    assert!(stderr.contains("the export is incomplete"), "{stderr}");
    assert!(stderr.contains(&block_id), "{stderr}");
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(written.lines().count(), 2, "{written}");
    // /metrics counts the damaged block and the reads that skipped it.
    let text = spoor.metrics();
    assert_eq!(
        (metric_value(&text, "spoor_engine_blocks_damaged_total") as u64),
        1,
        "{text}"
    );
    assert!(
        (metric_value(&text, "spoor_engine_damaged_block_reads_total") as u64) >= 3,
        "{text}"
    );
    // The damaged data is kept on disk.
    assert!(spans.exists());
}

#[test]
fn eight_flipped_bytes_in_a_block_never_reach_a_response() {
    damaged_block_answers_with_healthy_data_and_a_warning(true);
}

#[test]
fn a_truncated_block_is_skipped_and_healthy_blocks_keep_answering() {
    damaged_block_answers_with_healthy_data_and_a_warning(false);
}

#[test]
fn a_block_without_meta_json_is_quarantined_at_start_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let blocks = three_blocks(dir.path());
    std::fs::remove_file(blocks[0].join("meta.json")).unwrap();
    let block_id = blocks[0].file_name().unwrap().to_owned();

    let spoor = start_on(dir.path());
    let kept = dir
        .path()
        .join("quarantine")
        .join(&block_id)
        .join("spans.parquet");
    assert!(kept.exists(), "{} is kept", kept.display());
    assert!(!blocks[0].exists());
    let text = spoor.metrics();
    assert_eq!(
        (metric_value(&text, "spoor_engine_blocks_quarantined_total") as u64),
        1,
        "{text}"
    );
    assert!(spoor.log().contains("quarantine"), "{}", spoor.log());
    for trace in [12, 13] {
        assert_eq!(span_ids(&spoor, trace), Some(expected_ids(trace)));
    }
}

#[test]
fn damaged_statistics_are_skipped_with_a_warning_in_the_spm_answer() {
    let dir = tempfile::tempdir().unwrap();
    let blocks = three_blocks(dir.path());
    let red = blocks[1].join("red.bin");
    let mut bytes = std::fs::read(&red).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&red, bytes).unwrap();
    let block_id = blocks[1].file_name().unwrap().to_str().unwrap().to_owned();

    let spoor = start_on(dir.path());
    let end_ms = now_nanos() / 1_000_000;
    let raw = raw_get(
        &spoor,
        &format!(
            "/api/metrics/calls?service=victim&endTs={end_ms}&lookback=3600000&step=60000&ratePer=600000"
        ),
    );
    let head = raw
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{raw}");
    assert!(
        head.lines()
            .any(|l| l.starts_with("spoor-warning:") && l.contains(&block_id)),
        "{raw}"
    );
    // The healthy blocks' statistics are still answered.
    assert!(raw.contains("\"victim\""), "{raw}");
    let text = spoor.metrics();
    assert!(
        (metric_value(&text, "spoor_engine_damaged_block_reads_total") as u64) >= 1,
        "{text}"
    );
    assert!(red.exists());
}
