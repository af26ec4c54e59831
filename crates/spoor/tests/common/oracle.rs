//! The real Jaeger beside Spoor (issue 15): starting Jaeger v2.12.0's
//! all-in-one (`scripts/tools/jaeger.sh`, passed in `SPOOR_TEST_JAEGER` by
//! scripts/test.sh; config `tests/oracle/jaeger.yaml`) on a loopback address
//! of the test's own, and comparing its answers with Spoor's after the
//! normalisations docs/api.md documents ("Compared with the real Jaeger").

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::{Spoor, poll_until};

/// The Jaeger binary, or `None` (the test is skipped) when it was not built.
pub fn jaeger_bin() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SPOOR_TEST_JAEGER") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "SPOOR_TEST_JAEGER={} does not exist",
            path.display()
        );
        return Some(path);
    }
    let path = PathBuf::from(
        std::env::var("SPOOR_TOOLS_DIR").unwrap_or_else(|_| "/var/tmp/spoor-tools".into()),
    )
    .join("jaeger-v1.75.0/bin/jaeger");
    path.is_file().then_some(path)
}

/// A running Jaeger, killed on drop (its log printed when the test failed).
pub struct Jaeger {
    pub host: &'static str,
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Jaeger {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "----- jaeger log -----\n{}",
                String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default())
            );
        }
    }
}

impl Jaeger {
    /// Starts Jaeger with every endpoint on `host` (Jaeger's default ports)
    /// and `strategies` as its sampling strategies file.
    pub fn start(bin: &PathBuf, host: &'static str, strategies: &str) -> Jaeger {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("strategies.json");
        std::fs::write(&file, strategies).unwrap();
        let log = dir.path().join("jaeger.log");
        let config =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/oracle/jaeger.yaml");
        let child = Command::new(bin)
            .arg("--config")
            .arg(&config)
            .env("JAEGER_HOST", host)
            .env("JAEGER_STRATEGIES", &file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start jaeger");
        let jaeger = Jaeger {
            host,
            child,
            log,
            _dir: dir,
        };
        let up = poll_until(Duration::from_secs(30), || {
            reqwest::blocking::get(jaeger.query("/api/services"))
                .ok()
                .filter(|r| r.status().is_success())
        });
        assert!(up.is_some(), "jaeger did not start");
        jaeger
    }

    /// URL of `path` on Jaeger's query port (16686).
    pub fn query(&self, path: &str) -> String {
        format!("http://{}:16686{path}", self.host)
    }

    /// `http://HOST:PORT` on Jaeger's host.
    pub fn base(&self, port: u16) -> String {
        format!("http://{}:{port}", self.host)
    }

    /// Waits until Jaeger's `/api/traces/{id}` holds `spans` spans of each
    /// trace (its pipeline batches for 100 ms, UDP arrives when it does).
    pub fn wait_for(&self, counts: &BTreeMap<String, usize>) {
        let missing = |base: &dyn Fn(&str) -> String| -> Vec<String> {
            counts
                .iter()
                .filter(|(id, n)| {
                    let got = reqwest::blocking::get(base(&format!("/api/traces/{id}?raw=true")))
                        .ok()
                        .filter(|r| r.status().is_success())
                        .and_then(|r| r.json::<Value>().ok())
                        .map_or(0, |v| v["data"][0]["spans"].as_array().map_or(0, Vec::len));
                    got < **n
                })
                .map(|(id, n)| format!("{id} ({n} spans)"))
                .collect()
        };
        let done = poll_until(Duration::from_secs(30), || {
            missing(&|p| self.query(p)).is_empty().then_some(())
        });
        assert!(
            done.is_some(),
            "jaeger did not store every trace: {:?}",
            missing(&|p| self.query(p))
        );
    }
}

/// Normalises a JSON answer of either side: a trace's spans sorted by span
/// ID and its processes renumbered `p1`, `p2`… in that order (difference 2);
/// lists of a `data` array of strings or objects sorted (difference 1); an
/// api_v3 answer's resource spans, scope spans and spans sorted.
pub fn normalize(mut v: Value, adjusted: bool) -> Value {
    if let Some(data) = v.get_mut("data").and_then(Value::as_array_mut) {
        if data.iter().all(Value::is_string) {
            data.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        } else if data.iter().all(|t| t.get("spans").is_some()) {
            for trace in data.iter_mut() {
                normalize_trace(trace, adjusted);
            }
            data.sort_by(|a, b| a["traceID"].as_str().cmp(&b["traceID"].as_str()));
        } else {
            data.sort_by_key(|x| x.to_string());
        }
    }
    if let Some(ops) = v.get_mut("operations").and_then(Value::as_array_mut) {
        ops.sort_by_key(|x| x.to_string());
    }
    if let Some(services) = v.get_mut("services").and_then(Value::as_array_mut) {
        services.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    }
    if let Some(rs) = v
        .get_mut("result")
        .and_then(|r| r.get_mut("resourceSpans"))
        .and_then(Value::as_array_mut)
    {
        let flat = flatten_resource_spans(rs);
        v["result"] = Value::Array(flat);
    }
    v
}

/// api_v3's OTLP JSON as a list of `{resource, scope, span}`, sorted by
/// trace ID, span ID, then content: how spans are grouped under resources
/// and scopes is the server's choice (one group per batch received, or
/// per resource), not data (difference 1).
pub fn flatten_resource_spans(rs: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for r in rs {
        for s in r["scopeSpans"].as_array().into_iter().flatten() {
            for span in s["spans"].as_array().into_iter().flatten() {
                let mut resource = r.clone();
                if let Some(o) = resource.as_object_mut() {
                    o.remove("scopeSpans");
                }
                let mut scope = s.clone();
                if let Some(o) = scope.as_object_mut() {
                    o.remove("spans");
                }
                out.push(serde_json::json!({"resource": resource, "scope": scope, "span": span}));
            }
        }
    }
    out.sort_by_key(|x| {
        (
            x["span"]["traceId"].as_str().unwrap_or_default().to_owned(),
            x["span"]["spanId"].as_str().unwrap_or_default().to_owned(),
            x.to_string(),
        )
    });
    out
}

fn normalize_trace(trace: &mut Value, adjusted: bool) {
    let processes = trace["processes"].take();
    let spans = trace["spans"].as_array_mut().unwrap();
    spans.sort_by(|a, b| {
        (a["spanID"].as_str(), a["startTime"].as_u64())
            .cmp(&(b["spanID"].as_str(), b["startTime"].as_u64()))
    });
    // Processes by content: two IDs of equal processes are one process.
    let mut renamed: BTreeMap<String, String> = BTreeMap::new();
    let mut out = serde_json::Map::new();
    for span in spans.iter_mut() {
        let old = span["processID"].as_str().unwrap_or_default().to_owned();
        let content = processes[&old].to_string();
        let next = renamed.len() + 1;
        let new = renamed
            .entry(content)
            .or_insert_with(|| format!("p{next}"))
            .clone();
        span["processID"] = Value::from(new.clone());
        if adjusted && let Some(tags) = span["tags"].as_array_mut() {
            // Difference 3.
            tags.sort_by(|a, b| a["key"].as_str().cmp(&b["key"].as_str()));
        }
        if adjusted && let Some(logs) = span["logs"].as_array_mut() {
            // Difference 3: v2.12's v1 adjusters leave the logs in stored
            // order, v2.21 sorts the events by name.
            logs.sort_by_key(|l| (l["timestamp"].as_u64(), l.to_string()));
        }
        out.insert(new, processes[&old].clone());
    }
    trace["processes"] = Value::Object(out);
}

/// What was compared per API, and every difference.
#[derive(Default)]
pub struct Report {
    pub compared: BTreeMap<String, (usize, usize)>,
    pub differences: Vec<String>,
}

/// GET `url`: the status and the body as JSON (or as a JSON string when it
/// is not JSON).
pub fn get(url: &str) -> (u16, Value) {
    let resp = reqwest::blocking::get(url).unwrap();
    let status = resp.status().as_u16();
    let body = resp.text().unwrap();
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

impl Report {
    /// Counts one comparison under `api`; a difference is recorded with
    /// `what` and both sides.
    pub fn record(
        &mut self,
        api: &str,
        what: &str,
        jaeger: &dyn std::fmt::Debug,
        spoor: &dyn std::fmt::Debug,
        same: bool,
    ) {
        let entry = self.compared.entry(api.to_owned()).or_default();
        entry.0 += 1;
        if same {
            entry.1 += 1;
        } else {
            self.differences.push(format!(
                "{what}: Jaeger {}\n   Spoor  {}",
                truncate(&format!("{jaeger:?}")),
                truncate(&format!("{spoor:?}"))
            ));
        }
    }

    /// GETs `path` from Jaeger's query port and Spoor's and compares the
    /// normalised answers.
    pub fn compare(&mut self, api: &str, path: &str, jaeger: &Jaeger, spoor: &Spoor) {
        let (js, jb) = get(&jaeger.query(path));
        let (ss, sb) = get(&spoor.query(path));
        self.compare_bodies(api, path, (js, jb), (ss, sb));
    }

    /// [`Report::compare`] with every list of key-value pairs (`tags`,
    /// `fields`, `attributes`) sorted by key on both sides, for data whose
    /// order Jaeger takes from a Go map (difference 12).
    pub fn compare_unordered(&mut self, api: &str, path: &str, jaeger: &Jaeger, spoor: &Spoor) {
        self.compare_with(api, path, jaeger, spoor, &sort_key_values);
    }

    /// [`Report::compare`] with `fix` applied to both answers first (a
    /// documented difference's normalisation).
    pub fn compare_with(
        &mut self,
        api: &str,
        path: &str,
        jaeger: &Jaeger,
        spoor: &Spoor,
        fix: &dyn Fn(&mut Value),
    ) {
        let (js, mut jb) = get(&jaeger.query(path));
        let (ss, mut sb) = get(&spoor.query(path));
        fix(&mut jb);
        fix(&mut sb);
        self.compare_bodies(api, path, (js, jb), (ss, sb));
    }

    /// Compares two answers to `path` (status, JSON body) after the
    /// documented normalisations.
    pub fn compare_bodies(
        &mut self,
        api: &str,
        path: &str,
        jaeger: (u16, Value),
        spoor: (u16, Value),
    ) {
        let (js, jb) = jaeger;
        let (ss, sb) = spoor;
        let adjusted = !path.contains("raw=true") && !path.contains("raw_traces=true");
        let (mut jb, mut sb) = (normalize(jb, adjusted), normalize(sb, adjusted));
        if api.starts_with("/api/dependencies")
            && let Some(links) = jb["data"].as_array_mut()
        {
            // Difference 5.
            links.retain(|l| l["parent"] != l["child"]);
        }
        if api.contains("/api/v3/operations") {
            // Difference 4: v2.12 omits an unspecified kind where v2.21
            // writes `internal`; a name stored both unspecified and as
            // internal is then one operation.
            for op in jb["operations"].as_array_mut().into_iter().flatten() {
                if op.get("spanKind").is_none() {
                    op["spanKind"] = Value::from("internal");
                }
            }
            for ops in [&mut jb, &mut sb] {
                if let Some(list) = ops["operations"].as_array_mut() {
                    list.sort_by_key(|x| x.to_string());
                    list.dedup();
                }
            }
        }
        let same = js == ss && jb == sb;
        let entry = self.compared.entry(api.to_owned()).or_default();
        entry.0 += 1;
        if same {
            entry.1 += 1;
        } else {
            // SPOOR_ORACLE_DUMP=DIR keeps both whole answers of each
            // difference (normalised), to diff them.
            if let Some(dir) = std::env::var_os("SPOOR_ORACLE_DUMP") {
                let n = self.differences.len();
                let dir = PathBuf::from(dir);
                let _ = std::fs::create_dir_all(&dir);
                for (side, body) in [("jaeger", &jb), ("spoor", &sb)] {
                    let _ = std::fs::write(
                        dir.join(format!("{n:04}-{side}.json")),
                        serde_json::to_string_pretty(body).unwrap_or_default(),
                    );
                }
                let _ = std::fs::write(dir.join(format!("{n:04}-path.txt")), path);
            }
            self.differences.push(format!(
                "{path}: Jaeger {js} {}\n   Spoor  {ss} {}",
                truncate(&jb.to_string()),
                truncate(&sb.to_string())
            ));
        }
    }

    /// Prints the report as a Markdown table and fails on any difference.
    pub fn finish(self, title: &str) {
        eprintln!("\n{title}");
        eprintln!("| API | compared | identical |");
        eprintln!("|---|---:|---:|");
        for (api, (n, same)) in &self.compared {
            eprintln!("| `{api}` | {n} | {same} |");
        }
        assert!(
            self.differences.is_empty(),
            "{} answers differ from Jaeger's:\n{}",
            self.differences.len(),
            self.differences.join("\n")
        );
    }
}

/// Sorts by key every array named `tags`, `fields` or `attributes`, at any
/// depth.
pub fn sort_key_values(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if matches!(k.as_str(), "tags" | "fields" | "attributes")
                    && let Some(list) = child.as_array_mut()
                {
                    list.sort_by(|a, b| a["key"].as_str().cmp(&b["key"].as_str()));
                }
                sort_key_values(child);
            }
        }
        Value::Array(list) => list.iter_mut().for_each(sort_key_values),
        _ => {}
    }
}

pub fn truncate(s: &str) -> String {
    let mut out: String = s.chars().take(900).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}
