//! Loading Jaeger's storage fixtures: trace files, query cases and the date rewrite.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use spoor_model::{
    AnyValue, SpanBatch, Trace, TraceId, UnixNanos, days_from_civil,
    parse_rfc3339_signed as parse_rfc3339,
};

use crate::{TagFilter, TraceQuery};

pub(crate) const NANOS_PER_DAY: u64 = 86_400 * 1_000_000_000;

/// The environment variable that names the folder of Jaeger's conformance data.
pub const CONFORMANCE_DIR_ENV: &str = "SPOOR_CONFORMANCE_DIR";

/// Where Jaeger's conformance data (`storage/`, `sampling/`, `api-v3/`) is:
/// `SPOOR_CONFORMANCE_DIR` when set, else the first `shared/conformance/jaeger`
/// in a folder above the crate being tested (`CARGO_MANIFEST_DIR` as cargo
/// sets it when it runs a test, else the current directory).
///
/// Resolved when the test runs, not when it is built, so a build cache shared
/// between clones finds the data of the clone being tested.
pub fn conformance_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os(CONFORMANCE_DIR_ENV) {
        return Ok(PathBuf::from(dir));
    }
    let start = match std::env::var_os("CARGO_MANIFEST_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::current_dir().map_err(|e| format!("no current directory: {e}"))?,
    };
    start
        .ancestors()
        .map(|dir| dir.join("shared").join("conformance").join("jaeger"))
        .find(|candidate| candidate.is_dir())
        .ok_or_else(|| {
            format!(
                "Jaeger's conformance data was not found in shared/conformance/jaeger above {}; \
                 set {CONFORMANCE_DIR_ENV} to that folder",
                start.display()
            )
        })
}

/// Jaeger's fixture data, decoded and moved to recent dates.
#[derive(Debug, Clone, PartialEq)]
pub struct Fixtures {
    /// Every trace file, by file stem (`"example_trace"`, `"default"`, …).
    pub traces: BTreeMap<String, SpanBatch>,
    /// The search cases of `queries.json`, in file order.
    pub queries: Vec<QueryCase>,
    /// The instant the fixtures were loaded at (dates are relative to it).
    pub now: UnixNanos,
}

/// One search case: a query and the fixture traces it must return, no more, no fewer.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryCase {
    /// Jaeger's caption, used as the check name.
    pub caption: String,
    pub query: TraceQuery,
    /// File stems of the expected trace fixtures.
    pub expected: Vec<String>,
}

impl Fixtures {
    /// The distinct trace IDs in the fixture file `stem`, sorted; empty when unknown.
    pub fn trace_ids(&self, stem: &str) -> Vec<TraceId> {
        let mut ids: Vec<TraceId> = self
            .traces
            .get(stem)
            .map(|b| b.spans.iter().map(|r| r.span.trace_id).collect())
            .unwrap_or_default();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

impl QueryCase {
    /// The trace IDs this case must return, sorted and deduplicated.
    pub fn expected_trace_ids(&self, fixtures: &Fixtures) -> Vec<TraceId> {
        let mut ids: Vec<TraceId> = self
            .expected
            .iter()
            .flat_map(|stem| fixtures.trace_ids(stem))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The traces this case must return, as written, sorted by trace ID.
    pub fn expected_traces(&self, fixtures: &Fixtures) -> Vec<Trace> {
        let mut by_id: BTreeMap<TraceId, Trace> = BTreeMap::new();
        for stem in &self.expected {
            let Some(batch) = fixtures.traces.get(stem) else {
                continue;
            };
            for record in &batch.spans {
                by_id
                    .entry(record.span.trace_id)
                    .or_insert_with(|| Trace {
                        trace_id: record.span.trace_id,
                        ..Trace::default()
                    })
                    .spans
                    .push(record.clone());
            }
        }
        by_id.into_values().collect()
    }
}

/// Loads `storage/queries.json` and every `storage/traces/*.json` under `dir`
/// (the `conformance/jaeger` folder), decoding trace files with `decode`, and
/// rewrites their dates as Jaeger's suite does: a timestamp keeps its time of
/// day, and its date becomes the day before `now` (UTC), or two days before
/// when it was 2017-01-25. Query windows dated 2017-01-26 and 2017-01-25 move
/// the same way.
///
/// Fails when the directory, a file or a referenced fixture is missing, or
/// when anything does not parse.
pub fn load_fixtures(
    dir: &Path,
    decode: impl Fn(&[u8]) -> Result<SpanBatch, String>,
    now: SystemTime,
) -> Result<Fixtures, String> {
    let now = now
        .duration_since(UNIX_EPOCH)
        .map_err(|_| "the current time is before 1970".to_string())?;
    let now = u64::try_from(now.as_nanos()).map_err(|_| "the current time is too far ahead")?;
    let today = now / NANOS_PER_DAY;
    if today < 2 {
        return Err("the current time is too close to 1970".into());
    }

    let storage = dir.join("storage");
    if !storage.is_dir() {
        return Err(format!(
            "conformance fixture directory {} does not exist",
            storage.display()
        ));
    }
    let traces_dir = storage.join("traces");
    let entries = std::fs::read_dir(&traces_dir)
        .map_err(|e| format!("cannot list {}: {e}", traces_dir.display()))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot list {}: {e}", traces_dir.display()))?
            .path();
        if path.extension().is_some_and(|e| e == "json") && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();

    let mut traces = BTreeMap::new();
    for path in paths {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or_else(|| format!("fixture file name {} is not UTF-8", path.display()))?
            .to_string();
        let bytes =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut batch =
            decode(&bytes).map_err(|e| format!("cannot decode {}: {e}", path.display()))?;
        if batch.is_empty() {
            return Err(format!("fixture {} holds no spans", path.display()));
        }
        shift_batch_dates(&mut batch, today);
        traces.insert(stem, batch);
    }
    if traces.is_empty() {
        return Err(format!("no trace fixtures in {}", traces_dir.display()));
    }

    let queries_path = storage.join("queries.json");
    let bytes = std::fs::read(&queries_path)
        .map_err(|e| format!("cannot read {}: {e}", queries_path.display()))?;
    let queries = parse_queries(&bytes, today)
        .map_err(|e| format!("cannot parse {}: {e}", queries_path.display()))?;
    for case in &queries {
        for stem in &case.expected {
            if !traces.contains_key(stem) {
                return Err(format!(
                    "query {:?} expects fixture {stem:?}, which {} does not hold",
                    case.caption,
                    traces_dir.display()
                ));
            }
        }
    }
    Ok(Fixtures {
        traces,
        queries,
        now,
    })
}

/// Moves a fixture timestamp to a recent date, keeping its time of day
/// (Jaeger's `dateOffsetNormalizer`): 2017-01-25 becomes two days before
/// `today`, every other date the day before.
pub(crate) fn shift_fixture_time(t: UnixNanos, today: u64) -> UnixNanos {
    let day = t / NANOS_PER_DAY;
    let time_of_day = t % NANOS_PER_DAY;
    let back = if day == day_2017_01_25() { 2 } else { 1 };
    today.saturating_sub(back) * NANOS_PER_DAY + time_of_day
}

fn day_2017_01_25() -> u64 {
    // 2017 is after 1970, so the day number is positive.
    days_from_civil(2017, 1, 25).unsigned_abs()
}

fn shift_batch_dates(batch: &mut SpanBatch, today: u64) {
    for record in &mut batch.spans {
        let span = &mut record.span;
        span.start_time_unix_nano = shift_fixture_time(span.start_time_unix_nano, today);
        span.end_time_unix_nano = shift_fixture_time(span.end_time_unix_nano, today);
        for event in &mut span.events {
            event.time_unix_nano = shift_fixture_time(event.time_unix_nano, today);
        }
    }
}

/// Moves a query bound the way Jaeger's text replacement does: only the dates
/// 2017-01-26 (to yesterday) and 2017-01-25 (to the day before) change.
fn shift_query_time(t: UnixNanos, today: u64) -> UnixNanos {
    let day = t / NANOS_PER_DAY;
    let time_of_day = t % NANOS_PER_DAY;
    let d25 = day_2017_01_25();
    if day == d25 {
        today.saturating_sub(2) * NANOS_PER_DAY + time_of_day
    } else if day == d25 + 1 {
        today.saturating_sub(1) * NANOS_PER_DAY + time_of_day
    } else {
        t
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RawCase {
    caption: String,
    query: RawQuery,
    expected_fixtures: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RawQuery {
    #[serde(default)]
    service_name: String,
    #[serde(default)]
    operation_name: String,
    #[serde(default)]
    tags: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    start_time_min: Option<String>,
    #[serde(default)]
    start_time_max: Option<String>,
    #[serde(default)]
    duration_min: u64,
    #[serde(default)]
    duration_max: u64,
    num_traces: usize,
}

/// Parses Jaeger's query fixture format into query cases.
pub(crate) fn parse_queries(bytes: &[u8], today: u64) -> Result<Vec<QueryCase>, String> {
    let raw: Vec<RawCase> = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    raw.into_iter()
        .map(|case| {
            let caption = case.caption;
            let query =
                convert_query(case.query, today).map_err(|e| format!("query {caption:?}: {e}"))?;
            Ok(QueryCase {
                caption,
                query,
                expected: case.expected_fixtures,
            })
        })
        .collect()
}

fn convert_query(raw: RawQuery, today: u64) -> Result<TraceQuery, String> {
    let non_empty = |s: String| if s.is_empty() { None } else { Some(s) };
    let bound = |s: Option<String>| -> Result<Option<UnixNanos>, String> {
        let Some(s) = s else { return Ok(None) };
        Ok(parse_time_bound(&s)?.map(|t| shift_query_time(t, today)))
    };
    let non_zero = |d: u64| if d == 0 { None } else { Some(d) };
    let mut tags = Vec::new();
    for (key, value) in raw.tags.unwrap_or_default() {
        let value = typed_tag_value(&value).map_err(|e| format!("tag {key:?}: {e}"))?;
        tags.push(TagFilter { key, value });
    }
    Ok(TraceQuery {
        service: non_empty(raw.service_name),
        operation: non_empty(raw.operation_name),
        tags,
        start_min: bound(raw.start_time_min)?,
        start_max: bound(raw.start_time_max)?,
        duration_min: non_zero(raw.duration_min),
        duration_max: non_zero(raw.duration_max),
        limit: raw.num_traces,
        ..TraceQuery::default()
    })
}

/// A query tag's typed value: strings, booleans, integers and floats; a whole
/// float is an integer (as Jaeger's suite reads JSON numbers).
fn typed_tag_value(v: &serde_json::Value) -> Result<AnyValue, String> {
    use serde_json::Value;
    match v {
        Value::String(s) => Ok(AnyValue::Str(s.clone())),
        Value::Bool(b) => Ok(AnyValue::Bool(*b)),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                return Ok(AnyValue::Int(i));
            }
            let f = n
                .as_f64()
                .ok_or_else(|| format!("number {n} is out of range"))?;
            // i64::MIN is exactly -2^63; 2^63 is the first float past i64::MAX.
            let in_range = (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f);
            if f.is_finite() && f.fract() == 0.0 && in_range {
                // Whole and in range, so the conversion is exact.
                Ok(AnyValue::Int(f as i64))
            } else {
                Ok(AnyValue::Double(f))
            }
        }
        other => Err(format!("unsupported tag value {other}")),
    }
}

/// A query bound: `None` for Go's zero time (`0001-01-01T00:00:00Z`, no bound).
fn parse_time_bound(s: &str) -> Result<Option<UnixNanos>, String> {
    let nanos = parse_rfc3339(s)?;
    if nanos == GO_ZERO_TIME_NANOS {
        return Ok(None);
    }
    u64::try_from(nanos)
        .map(Some)
        .map_err(|_| format!("time {s:?} is before 1970"))
}

/// Nanoseconds from the Unix epoch to 0001-01-01T00:00:00Z.
const GO_ZERO_TIME_NANOS: i128 = -62_135_596_800 * 1_000_000_000;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn dates_move_to_yesterday_or_the_day_before_keeping_the_time_of_day() {
        let today = days_from_civil(2026, 3, 10).unsigned_abs();
        let yesterday = today - 1;
        // 2017-01-26T16:46:31.639875Z
        let t = 1_485_449_191_639_875_000;
        let tod = t % NANOS_PER_DAY;
        assert_eq!(
            shift_fixture_time(t, today),
            yesterday * NANOS_PER_DAY + tod
        );
        // 2017-01-25T23:56:31.639875Z goes two days back.
        let t25 = 1_485_388_591_639_875_000;
        assert_eq!(
            shift_fixture_time(t25, today),
            (today - 2) * NANOS_PER_DAY + t25 % NANOS_PER_DAY
        );
        // Any other date in a trace moves to yesterday too (Jaeger's normalizer)…
        assert_eq!(shift_fixture_time(5, today), yesterday * NANOS_PER_DAY + 5);
        // …but a query bound moves only when dated 2017-01-25 or 2017-01-26.
        assert_eq!(shift_query_time(5, today), 5);
        assert_eq!(shift_query_time(t, today), yesterday * NANOS_PER_DAY + tod);
        assert_eq!(
            shift_query_time(t25, today),
            (today - 2) * NANOS_PER_DAY + t25 % NANOS_PER_DAY
        );
    }

    #[test]
    fn queries_parse_into_typed_trace_queries() {
        let json = br#"[{
            "Caption": "c",
            "Query": {
                "ServiceName": "svc", "OperationName": "",
                "Tags": {"s": "v", "i": 123, "f": 72.5, "w": 2.0, "b": true},
                "StartTimeMin": "2017-01-26T15:46:31.639875Z",
                "StartTimeMax": "0001-01-01T00:00:00Z",
                "DurationMin": 4500, "DurationMax": 0, "NumTraces": 7
            },
            "ExpectedFixtures": ["a", "b"]
        }]"#;
        let today = days_from_civil(2026, 3, 10).unsigned_abs();
        let cases = parse_queries(json, today).unwrap();
        assert_eq!(cases.len(), 1);
        let q = &cases[0].query;
        assert_eq!(q.service.as_deref(), Some("svc"));
        assert_eq!(q.operation, None);
        let tags: Vec<(&str, &AnyValue)> =
            q.tags.iter().map(|t| (t.key.as_str(), &t.value)).collect();
        assert_eq!(
            tags,
            vec![
                ("b", &AnyValue::Bool(true)),
                ("f", &AnyValue::Double(72.5)),
                ("i", &AnyValue::Int(123)),
                ("s", &AnyValue::Str("v".into())),
                ("w", &AnyValue::Int(2)),
            ]
        );
        let expected_min = (today - 1) * NANOS_PER_DAY + 1_485_445_591_639_875_000 % NANOS_PER_DAY;
        assert_eq!(q.start_min, Some(expected_min));
        assert_eq!(q.start_max, None);
        assert_eq!((q.duration_min, q.duration_max), (Some(4500), None));
        assert_eq!(q.limit, 7);
        assert_eq!(cases[0].expected, vec!["a", "b"]);

        assert!(
            parse_queries(
                br#"[{"Caption":"c","Query":{"NumTraces":1,"Bogus":1},"ExpectedFixtures":[]}]"#,
                today
            )
            .is_err()
        );
        assert!(parse_queries(br#"[{"Caption":"c","Query":{"NumTraces":1,"Tags":{"a":[1]}},"ExpectedFixtures":[]}]"#, today).is_err());
        assert!(parse_queries(br#"[{"Caption":"c","Query":{"NumTraces":1,"DurationMin":-1},"ExpectedFixtures":[]}]"#, today).is_err());
    }

    #[test]
    fn a_missing_fixture_directory_is_an_error() {
        let err = load_fixtures(
            Path::new("/nonexistent/spoor/conformance"),
            |_| Ok(SpanBatch::default()),
            SystemTime::now(),
        )
        .unwrap_err();
        assert!(err.contains("does not exist"), "{err}");
    }
}
