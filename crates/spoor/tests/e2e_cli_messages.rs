//! What `spoor import` and `spoor export` tell the user, with the real
//! binary: import reads every file it can and reports each (imported,
//! skipped with the reason, not read), exiting non-zero when one failed;
//! both default to the local all-in-one's ports; an export that matches
//! nothing says whether the service exists and, if it does, when its data
//! starts and ends (from a running Spoor on the memory backend and from a
//! data directory).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::Spoor;
use serde_json::json;

use common::run_spoor as spoor;

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// An OTLP/JSON document of one span per `(trace, start)`, service `svc`.
fn otlp(svc: &str, spans: &[(u64, u64)]) -> serde_json::Value {
    json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": svc}}]},
        "scopeSpans": [{"spans": spans.iter().map(|(trace, start)| json!({
            "traceId": format!("{:032x}", (0xc11_0000u128 << 64) | u128::from(*trace)),
            "spanId": format!("{:016x}", trace),
            "name": "op",
            "kind": 2,
            "startTimeUnixNano": start.to_string(),
            "endTimeUnixNano": (start + 1_000_000).to_string(),
        })).collect::<Vec<_>>()}]
    }]})
}

fn nothing_listens(addr: &str) -> bool {
    let addr: SocketAddr = addr.parse().unwrap();
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err()
}

#[test]
fn import_reads_every_file_it_can_and_reports_each() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.json");
    let corrupt = dir.path().join("corrupt.json");
    let missing = dir.path().join("missing.json");
    let now = now_nanos();
    std::fs::write(
        &good,
        serde_json::to_vec(&otlp("import-good", &[(1, now - 5_000_000_000), (2, now)])).unwrap(),
    )
    .unwrap();
    std::fs::write(
        &corrupt,
        br#"{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": 12"#,
    )
    .unwrap();

    let s = Spoor::start(&["--storage", "memory"]);
    let otlp_url = format!("http://{}", s.otlp_http);
    // The bad files first: the good one after them is still imported.
    let run = spoor(&[
        "import",
        path_str(&corrupt),
        path_str(&missing),
        path_str(&good),
        "--otlp",
        &otlp_url,
    ]);
    assert!(!run.ok, "a failed file must fail the run:\n{}", run.stderr);
    let line = |name: &str| {
        run.stderr
            .lines()
            .find(|l| l.starts_with(path_str(&dir.path().join(name))))
            .unwrap_or_else(|| panic!("no line for {name}:\n{}", run.stderr))
            .to_owned()
    };
    assert!(
        line("good.json").ends_with(": imported 2 spans"),
        "{}",
        run.stderr
    );
    assert!(
        line("corrupt.json").contains(": skipped: "),
        "{}",
        run.stderr
    );
    assert!(
        line("missing.json").contains(": skipped: cannot open")
            && line("missing.json").contains("No such file"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("imported 1 file(s): 2 traces, 2 spans"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("spoor: 2 of 3 file(s) were not imported completely"),
        "{}",
        run.stderr
    );
    let (_, services) = s.get_json("/api/services");
    assert_eq!(services["data"], json!(["import-good"]));

    // All good: success, one line per file.
    let again = spoor(&["import", path_str(&good), "--otlp", &otlp_url]);
    assert!(again.ok, "{}", again.stderr);
    assert!(
        again
            .stderr
            .contains(&format!("{}: imported 2 spans\n", good.display())),
        "{}",
        again.stderr
    );
}

#[test]
fn import_and_export_default_to_the_local_all_in_one() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.json");
    let other = dir.path().join("other.json");
    let doc = serde_json::to_vec(&otlp("defaults", &[(1, now_nanos())])).unwrap();
    std::fs::write(&good, &doc).unwrap();
    std::fs::write(&other, &doc).unwrap();
    // Without --otlp or --data-dir, import sends to 127.0.0.1:4318.
    if nothing_listens("127.0.0.1:4318") {
        let run = spoor(&[
            "import",
            path_str(&good),
            path_str(&other),
            "--max-retries",
            "0",
        ]);
        assert!(!run.ok, "{}", run.stderr);
        assert!(
            run.stderr.contains("http://127.0.0.1:4318/v1/traces"),
            "{}",
            run.stderr
        );
        // The receiver failed: the next file is listed as not read.
        assert!(
            run.stderr.contains(&format!(
                "{}: not read: the import stopped when writing {} failed",
                other.display(),
                good.display()
            )),
            "{}",
            run.stderr
        );
    } else {
        eprintln!("something listens on 127.0.0.1:4318: the import default is not probed");
    }
    // Without --url or --data-dir, export reads 127.0.0.1:16686.
    if nothing_listens("127.0.0.1:16686") {
        let run = spoor(&["export", "--service", "x", "-o", "/dev/null"]);
        assert!(!run.ok, "{}", run.stderr);
        assert!(
            run.stderr
                .contains("no Spoor answers at http://127.0.0.1:16686 (the default)")
                && run.stderr.contains("--url")
                && run.stderr.contains("--data-dir"),
            "{}",
            run.stderr
        );
    } else {
        eprintln!("something listens on 127.0.0.1:16686: the export default is not probed");
    }
}

/// Two spans of `old-svc`, 3 and 2 days ago (inside the default retention);
/// returns their starts, truncated to the second, as RFC 3339.
fn old_data(post: impl Fn(&serde_json::Value)) -> (String, String) {
    let day = 86_400_000_000_000u64;
    let now = now_nanos();
    let (first, last) = (now - 3 * day + 123_456_789, now - 2 * day + 987_654_321);
    post(&otlp("old-svc", &[(10, first), (11, last)]));
    let second = |t: u64| spoor_model::format_rfc3339(t - t % 1_000_000_000);
    (second(first), second(last))
}

fn assert_messages(source: &[&str], first: &str, last: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let export = |extra: &[&str]| {
        let mut args = vec!["export", "-o", path_str(&out)];
        args.extend_from_slice(source);
        args.extend_from_slice(extra);
        spoor(&args)
    };
    // A service that does not exist.
    let run = export(&["--service", "no-such-service"]);
    assert!(!run.ok);
    assert!(
        run.stderr.contains(
            "no trace matched the filter: there is no service \"no-such-service\"; services that exist: old-svc"
        ),
        "{}",
        run.stderr
    );
    // A service that exists, searched where it has no data.
    let run = export(&["--service", "old-svc", "--start", "2h"]);
    assert!(!run.ok);
    assert!(
        run.stderr.contains(&format!(
            "service \"old-svc\" exists, its spans start between {first} and {last}; the search covered spans starting from "
        )),
        "{}",
        run.stderr
    );
    // No service: the range of all data.
    let run = export(&["--start", "1h"]);
    assert!(!run.ok);
    assert!(
        run.stderr.contains(&format!(
            "the source holds spans starting between {first} and {last}"
        )) && run.stderr.contains("services that exist: old-svc"),
        "{}",
        run.stderr
    );
    // Where it has data, the export works.
    let run = export(&["--service", "old-svc"]);
    assert!(run.ok, "{}", run.stderr);
    assert!(run.stderr.contains("exported 2 traces"), "{}", run.stderr);
}

#[test]
fn an_empty_export_says_whether_the_service_exists_and_when_its_data_is() {
    // A running Spoor on the memory backend.
    let s = Spoor::start(&["--storage", "memory"]);
    let post = |body: &serde_json::Value| {
        let reply = s.post(
            &s.otlp_http_url("/v1/traces"),
            "application/json",
            serde_json::to_vec(body).unwrap(),
            &[],
        );
        assert_eq!(reply.status, 200, "{}", reply.text());
    };
    let (first, last) = old_data(post);
    let url = format!("http://{}", s.query_http);
    assert_messages(&["--url", &url], &first, &last);

    // A stopped Spoor's data directory.
    let dir = tempfile::tempdir().unwrap();
    let data = path_str(dir.path()).to_owned();
    let (first, last) = {
        let s = Spoor::start(&["--data-dir", &data]);
        old_data(|body| {
            let reply = s.post(
                &s.otlp_http_url("/v1/traces"),
                "application/json",
                serde_json::to_vec(body).unwrap(),
                &[],
            );
            assert_eq!(reply.status, 200, "{}", reply.text());
        })
    };
    assert_messages(&["--data-dir", &data], &first, &last);
}

/// A busy port stops the binary with one line naming the address, the
/// listener and the OS error (once: it is not repeated as a cause).
#[test]
fn a_busy_port_is_reported_once_with_its_listener() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["--data-dir", path_str(dir.path()), "--log", "warn"];
    for key in [
        "otlp-grpc",
        "jaeger-compact",
        "jaeger-binary",
        "jaeger-http",
        "jaeger-grpc",
        "zipkin",
        "sampling-http",
        "sampling-grpc",
        "query-http",
        "admin-http",
    ] {
        args.extend([format!("--{key}-addr").leak() as &str, "off"]);
    }
    args.extend(["--otlp-http-addr", &addr]);
    let run = common::run_spoor(&args);
    assert!(!run.ok, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("cannot listen on {addr} (")),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.matches("os error").count(), 1, "{}", run.stderr);
}
