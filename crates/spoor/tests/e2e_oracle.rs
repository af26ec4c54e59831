//! The real Jaeger as the oracle, read side (issue 15): Jaeger v2.12.0's
//! all-in-one (`common::oracle`: `scripts/tools/jaeger.sh`, passed in
//! `SPOOR_TEST_JAEGER` by scripts/test.sh; config `tests/oracle/jaeger.yaml`,
//! memory storage) and Spoor run side by side on loopback and get the same
//! bytes (Jaeger's storage fixtures, half over OTLP gRPC and half over OTLP
//! HTTP protobuf). Then every read API is compared: the legacy `/api/*`
//! routes (services, operations, traces by ID raw and adjusted, searches by
//! service, by trace IDs and every conformance search case, dependencies,
//! `/api/transform`), api_v3 over HTTP, the sampling endpoints (5778, 5779,
//! 14250) with the same strategies file, and the gRPC query API on 16685
//! (api_v2 and api_v3).
//!
//! Byte for byte after the normalisations docs/api.md lists ("Compared with
//! the real Jaeger"), each numbered there and in the code. The test prints a
//! report (requests compared per API, identical) and fails on any other
//! difference.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use std::collections::BTreeSet;

use common::conformance::{fixture_span_counts, legacy_url, load};
use common::oracle::{Jaeger, Report, get, jaeger_bin};
use common::{Spoor, urlencode, with_params};
use prost::Message as _;
use serde_json::Value;
use spoor_model::format_rfc3339;
use spoor_proto::jaeger::api_v2 as v2;
use spoor_proto::jaeger::api_v3 as v3;
use spoor_storage::TraceQuery;
use spoor_storage::conformance::Fixtures;

const HOST: &str = "127.0.0.82";

/// The strategies file both sides serve: per-service probabilistic and
/// rate-limiting strategies, per-operation strategies, and a default with
/// an operation of its own.
const STRATEGIES: &str = r#"{
  "service_strategies": [
    {"service": "svc-prob", "type": "probabilistic", "param": 0.8,
     "operation_strategies": [{"operation": "GET /a", "type": "probabilistic", "param": 0.2}]},
    {"service": "svc-rate", "type": "ratelimiting", "param": 5}
  ],
  "default_strategy": {"type": "probabilistic", "param": 0.5,
    "operation_strategies": [{"operation": "/health", "type": "probabilistic", "param": 0.0}]}
}"#;
#[test]
fn spoor_answers_as_the_real_jaeger_does() {
    let Some(bin) = jaeger_bin() else {
        eprintln!(
            "SKIPPED e2e_oracle: no Jaeger binary (scripts/tools/jaeger.sh builds it; scripts/test.sh sets SPOOR_TEST_JAEGER)"
        );
        return;
    };
    common::install_tls_provider();
    let jaeger = Jaeger::start(&bin, HOST, STRATEGIES);
    let strategies = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(strategies.path(), STRATEGIES).unwrap();
    let spoor = Spoor::start(&["--sampling-strategies", strategies.path().to_str().unwrap()]);
    let fixtures = load();

    // The same bytes to both: even fixtures over OTLP gRPC, odd over HTTP.
    let client = reqwest::blocking::Client::new();
    for (i, batch) in fixtures.traces.values().enumerate() {
        for endpoint in [jaeger.base(4317), spoor.otlp_grpc_endpoint()] {
            if i % 2 == 0 {
                common::grpc_export(&endpoint, spoor_codec::otlp::to_request(&batch.spans))
                    .unwrap();
            }
        }
        if i % 2 == 1 {
            let body = spoor_codec::otlp::encode_request(&batch.spans);
            for url in [
                format!("{}/v1/traces", jaeger.base(4318)),
                spoor.otlp_http_url("/v1/traces"),
            ] {
                let resp = client
                    .post(url)
                    .header("content-type", "application/x-protobuf")
                    .body(body.clone())
                    .send()
                    .unwrap();
                assert_eq!(resp.status().as_u16(), 200);
            }
        }
    }
    let counts = fixture_span_counts(&fixtures);
    jaeger.wait_for(&counts);
    let ids: Vec<&String> = counts.keys().collect();
    let mut report = Report::default();

    // Raw views first: v2.12's memory store hands out the trace it holds
    // and its adjusters change it in place, so after one adjusted read its
    // "raw" view is the adjusted one (difference 6).
    for id in &ids {
        report.compare(
            "/api/traces/{id}?raw",
            &format!("/api/traces/{id}?raw=true"),
            &jaeger,
            &spoor,
        );
        report.compare(
            "/api/v3/traces/{id}?raw_traces",
            &format!("/api/v3/traces/{id}?raw_traces=true"),
            &jaeger,
            &spoor,
        );
    }
    common::runtime().block_on(compare_grpc_traces(
        &mut report,
        &jaeger,
        &spoor,
        &ids,
        true,
    ));

    report.compare("/api/services", "/api/services", &jaeger, &spoor);
    let services: Vec<String> = get(&jaeger.query("/api/services")).1["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    let now = fixtures.now / 1_000;
    let week = 7 * 86_400 * 1_000_000u64;
    report.compare("/api/v3/services", "/api/v3/services", &jaeger, &spoor);
    for service in &services {
        let enc = urlencode(service);
        report.compare(
            "/api/services/{s}/operations",
            &format!("/api/services/{enc}/operations"),
            &jaeger,
            &spoor,
        );
        report.compare(
            "/api/operations",
            &format!("/api/operations?service={enc}"),
            &jaeger,
            &spoor,
        );
        for kind in ["server", "client", "internal", "producer", "consumer"] {
            report.compare(
                "/api/operations?spanKind",
                &format!("/api/operations?service={enc}&spanKind={kind}"),
                &jaeger,
                &spoor,
            );
            report.compare(
                "/api/v3/operations?span_kind",
                &format!("/api/v3/operations?service={enc}&span_kind={kind}"),
                &jaeger,
                &spoor,
            );
        }
        report.compare(
            "/api/v3/operations",
            &format!("/api/v3/operations?service={enc}"),
            &jaeger,
            &spoor,
        );
        for limit in [1, 20] {
            let search = with_params(
                "http://oracle/api/traces",
                &[
                    ("service", service.clone()),
                    ("start", (now - week).to_string()),
                    ("end", (now + week).to_string()),
                    ("limit", limit.to_string()),
                ],
            )
            .trim_start_matches("http://oracle")
            .to_owned();
            if limit == 20 {
                report.compare("/api/traces?service", &search, &jaeger, &spoor);
            } else {
                // Which single trace a limit of 1 keeps is storage order:
                // compare the count only.
                let count = |url: String| get(&url).1["data"].as_array().map_or(0, Vec::len);
                let (j, s) = (count(jaeger.query(&search)), count(spoor.query(&search)));
                report.record("/api/traces?limit=1 (count)", &search, &j, &s, j == s);
            }
        }
    }

    // Jaeger's storage conformance searches (tags, durations, operations,
    // time windows, limits): the legacy API, api_v3 over HTTP (without
    // attributes: v2.12's HTTP gateway does not read them, difference 8)
    // and api_v3 over gRPC (below).
    let link_keys = link_attribute_keys(&fixtures);
    for case in &fixtures.queries {
        let legacy =
            legacy_url("http://oracle", &case.query, fixtures.now).replacen("http://oracle", "", 1);
        if only_link_attributes(&case.query, &link_keys) {
            // Difference 7: v2.12 does not search link attributes; Spoor
            // answers what the conformance case (v2.21's) expects.
            let expected: BTreeSet<String> = case
                .expected_trace_ids(&fixtures)
                .iter()
                .map(|id| common::canonical_trace_id(&id.to_hex()))
                .collect();
            let got: BTreeSet<String> = common::legacy_span_counts(&get(&spoor.query(&legacy)).1)
                .into_keys()
                .collect();
            report.record(
                "/api/traces (conformance searches, link attributes: the case's traces)",
                &case.caption,
                &expected,
                &got,
                expected == got,
            );
            continue;
        }
        report.compare(
            "/api/traces (conformance searches)",
            &legacy,
            &jaeger,
            &spoor,
        );
        if case.query.tags.is_empty() {
            let v3 = v3_snake_url(&case.query, fixtures.now);
            report.compare(
                "/api/v3/traces (conformance searches)",
                &v3,
                &jaeger,
                &spoor,
            );
        }
    }

    for id in &ids {
        report.compare(
            "/api/traces/{id}",
            &format!("/api/traces/{id}"),
            &jaeger,
            &spoor,
        );
        report.compare(
            "/api/v3/traces/{id}",
            &format!("/api/v3/traces/{id}"),
            &jaeger,
            &spoor,
        );
    }
    // Searches by trace IDs (Jaeger's `traceID` parameter, repeated).
    for pair in ids.chunks(3) {
        let query: Vec<String> = pair.iter().map(|id| format!("traceID={id}")).collect();
        report.compare(
            "/api/traces?traceID",
            &format!("/api/traces?{}", query.join("&")),
            &jaeger,
            &spoor,
        );
    }
    for path in [
        "/api/traces/00000000000000000000000000000bad",
        "/api/v3/traces/00000000000000000000000000000bad",
    ] {
        report.compare("/api/traces/{id} (missing)", path, &jaeger, &spoor);
    }
    // A malformed ID: the same status; the message is Go's parser's own
    // text, which differs between Jaeger versions (difference 9).
    let path = "/api/traces/not-hex";
    let (js, _) = get(&jaeger.query(path));
    let (ss, _) = get(&spoor.query(path));
    report.record(
        "/api/traces/{id} (malformed): status",
        path,
        &js,
        &ss,
        js == ss,
    );
    report.compare(
        "/api/dependencies",
        &format!(
            "/api/dependencies?endTs={}&lookback={}",
            now / 1_000 + 86_400_000,
            14 * 86_400_000u64
        ),
        &jaeger,
        &spoor,
    );

    // `/api/transform`: OTLP JSON in, the UI's JSON out.
    let post = |url: String, body: Vec<u8>| {
        let resp = client
            .post(url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    };
    for batch in fixtures.traces.values() {
        let body = spoor_codec::otlp_json::encode_to_vec(&batch.spans);
        report.compare_bodies(
            "/api/transform",
            "/api/transform",
            post(jaeger.query("/api/transform"), body.clone()),
            post(spoor.query("/api/transform"), body),
        );
    }

    compare_sampling(&mut report, &jaeger, &spoor);
    common::runtime().block_on(async {
        compare_grpc_traces(&mut report, &jaeger, &spoor, &ids, false).await;
        compare_grpc(&mut report, &jaeger, &spoor, &services).await;
        compare_grpc_searches(&mut report, &jaeger, &spoor, &fixtures, &link_keys).await;
    });

    report.finish("e2e_oracle: Spoor beside Jaeger v2.12.0 (Go module v1.75.0)");
}

/// Every key of a link attribute in the fixtures.
fn link_attribute_keys(fixtures: &Fixtures) -> BTreeSet<String> {
    fixtures
        .traces
        .values()
        .flat_map(|b| &b.spans)
        .flat_map(|r| &r.span.links)
        .flat_map(|l| &l.attributes)
        .map(|kv| kv.key.clone())
        .collect()
}

/// Whether a search's tags are all attributes of links (difference 7).
fn only_link_attributes(query: &TraceQuery, link_keys: &BTreeSet<String>) -> bool {
    !query.tags.is_empty() && query.tags.iter().all(|t| link_keys.contains(&t.key))
}

/// A case's window: its own bounds, else a week either side of `now`.
fn window(query: &TraceQuery, now: u64) -> (u64, u64) {
    let week = 7 * 86_400 * 1_000_000_000;
    (
        query.start_min.unwrap_or(now - week),
        query.start_max.unwrap_or(now + week),
    )
}

/// The api_v3 search URL with v2.12's parameter names (snake_case, which
/// v2.21 still accepts; difference 8).
fn v3_snake_url(query: &TraceQuery, now: u64) -> String {
    let (start, end) = window(query, now);
    let mut params: Vec<(&str, String)> = vec![
        ("query.start_time_min", format_rfc3339(start)),
        ("query.start_time_max", format_rfc3339(end)),
        ("query.num_traces", query.limit.to_string()),
    ];
    if let Some(s) = &query.service {
        params.push(("query.service_name", s.clone()));
    }
    if let Some(op) = &query.operation {
        params.push(("query.operation_name", op.clone()));
    }
    if let Some(d) = query.duration_min {
        params.push(("query.duration_min", format!("{d}ns")));
    }
    if let Some(d) = query.duration_max {
        params.push(("query.duration_max", format!("{d}ns")));
    }
    with_params("http://oracle/api/v3/traces", &params).replacen("http://oracle", "", 1)
}

/// Jaeger's sampling endpoints: HTTP on 5778 (every path its handler
/// answers) and `SamplingManager` over gRPC on 5779, for configured,
/// defaulted and missing services.
fn compare_sampling(report: &mut Report, jaeger: &Jaeger, spoor: &Spoor) {
    let services = ["svc-prob", "svc-rate", "not-configured"];
    for service in services {
        for path in ["/", "/sampling", "/api/sampling"] {
            let path = format!("{path}?service={service}");
            let mut j = get(&format!("{}{path}", jaeger.base(5778)));
            let s = get(&format!("http://{}{path}", spoor.sampling_http));
            if !path.starts_with("/?") {
                // Difference 10: v2.12 writes the legacy integer on every
                // path; v2.21 the proto-JSON name (Spoor keeps the integer
                // on `/` only, for the v1 agent's old clients).
                let name = match j.1["strategyType"].as_i64() {
                    Some(0) => Some("PROBABILISTIC"),
                    Some(1) => Some("RATE_LIMITING"),
                    _ => None,
                };
                if let Some(name) = name {
                    j.1["strategyType"] = Value::from(name);
                }
            }
            report.compare_bodies("sampling HTTP (5778)", &path, j, s);
        }
    }
    for path in ["/sampling", "/sampling?service="] {
        let (js, _) = get(&format!("{}{path}", jaeger.base(5778)));
        let (ss, _) = get(&format!("http://{}{path}", spoor.sampling_http));
        // The message is Go's; the status is what a client acts on.
        report.record(
            "sampling HTTP (5778), no service: status",
            path,
            &js,
            &ss,
            js == ss,
        );
    }
    common::runtime().block_on(async {
        use v2::sampling_manager_client::SamplingManagerClient;
        let mut j = SamplingManagerClient::connect(jaeger.base(5779))
            .await
            .unwrap();
        let mut s = SamplingManagerClient::connect(format!("http://{}", spoor.sampling_grpc))
            .await
            .unwrap();
        for service in services {
            let request = v2::SamplingStrategyParameters {
                service_name: service.into(),
            };
            let jr = j
                .get_sampling_strategy(request.clone())
                .await
                .map(|r| r.into_inner());
            let sr = s
                .get_sampling_strategy(request)
                .await
                .map(|r| r.into_inner());
            let (jr, sr) = (jr.ok(), sr.ok());
            report.record(
                "SamplingManager gRPC (5779)",
                service,
                &jr,
                &sr,
                jr.is_some() && jr == sr,
            );
        }
        // 14250: Jaeger v1's collector served `SamplingManager` beside
        // `CollectorService`; v2's Jaeger receiver does not (difference 13).
        // Spoor still does, with the same answer as 5779.
        let mut j = SamplingManagerClient::connect(jaeger.base(14250))
            .await
            .unwrap();
        let mut s = SamplingManagerClient::connect(format!("http://{}", spoor.jaeger_grpc))
            .await
            .unwrap();
        let mut s5779 = SamplingManagerClient::connect(format!("http://{}", spoor.sampling_grpc))
            .await
            .unwrap();
        for service in services {
            let request = v2::SamplingStrategyParameters {
                service_name: service.into(),
            };
            let jr = j
                .get_sampling_strategy(request.clone())
                .await
                .map_err(|e| e.code());
            let sr = s
                .get_sampling_strategy(request.clone())
                .await
                .map(|r| r.into_inner());
            let s5779 = s5779
                .get_sampling_strategy(request)
                .await
                .map(|r| r.into_inner());
            let same = jr.as_ref().err() == Some(&tonic::Code::Unimplemented)
                && sr.as_ref().ok() == s5779.as_ref().ok();
            report.record(
                "SamplingManager gRPC (14250): Jaeger Unimplemented, Spoor as on 5779",
                service,
                &jr.as_ref().err(),
                &sr.as_ref().ok(),
                same,
            );
        }
    });
}

/// A v2 trace's spans in one order (span ID, start), tags sorted where the
/// view is adjusted (difference 3).
fn sort_v2(mut spans: Vec<v2::Span>, adjusted: bool) -> Vec<v2::Span> {
    spans.sort_by(|a, b| {
        (
            &a.trace_id,
            &a.span_id,
            a.start_time.map(|t| (t.seconds, t.nanos)),
        )
            .cmp(&(
                &b.trace_id,
                &b.span_id,
                b.start_time.map(|t| (t.seconds, t.nanos)),
            ))
    });
    if adjusted {
        for span in &mut spans {
            span.tags.sort_by(|a, b| a.key.cmp(&b.key));
        }
    }
    spans
}

/// Every span of a stream of v3 `TracesData` with its resource and scope
/// (encoded), in one order: chunking is the server's choice.
fn flatten_v3(chunks: Vec<v3::TracesData>) -> Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> {
    use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
    let mut out = Vec::new();
    for chunk in chunks {
        for bytes in chunk.resource_spans {
            let rs = ResourceSpans::decode(bytes.as_slice()).unwrap();
            let resource = rs.resource.map(|r| r.encode_to_vec()).unwrap_or_default();
            for ss in rs.scope_spans {
                let scope = ss.scope.map(|s| s.encode_to_vec()).unwrap_or_default();
                for span in ss.spans {
                    out.push((resource.clone(), scope.clone(), span.encode_to_vec()));
                }
            }
        }
    }
    out.sort_by(|a, b| a.2.cmp(&b.2));
    out
}

/// Collects a server stream, or its status code.
async fn collect<T>(
    r: Result<tonic::Response<tonic::Streaming<T>>, tonic::Status>,
) -> Result<Vec<T>, tonic::Code> {
    let mut stream = r.map_err(|s| s.code())?.into_inner();
    let mut out = Vec::new();
    loop {
        match stream.message().await {
            Ok(Some(m)) => out.push(m),
            Ok(None) => return Ok(out),
            Err(s) => return Err(s.code()),
        }
    }
}

async fn clients(
    jaeger: &Jaeger,
    spoor: &Spoor,
) -> (
    (
        v2::query_service_client::QueryServiceClient<tonic::transport::Channel>,
        v2::query_service_client::QueryServiceClient<tonic::transport::Channel>,
    ),
    (
        v3::query_service_client::QueryServiceClient<tonic::transport::Channel>,
        v3::query_service_client::QueryServiceClient<tonic::transport::Channel>,
    ),
) {
    use v2::query_service_client::QueryServiceClient as V2;
    use v3::query_service_client::QueryServiceClient as V3;
    let (jep, sep) = (jaeger.base(16685), format!("http://{}", spoor.query_grpc));
    (
        (
            V2::connect(jep.clone()).await.unwrap(),
            V2::connect(sep.clone()).await.unwrap(),
        ),
        (
            V3::connect(jep).await.unwrap(),
            V3::connect(sep).await.unwrap(),
        ),
    )
}

/// GetTrace of api_v2 and api_v3 over gRPC for every trace, raw or adjusted.
async fn compare_grpc_traces(
    report: &mut Report,
    jaeger: &Jaeger,
    spoor: &Spoor,
    ids: &[&String],
    raw: bool,
) {
    let ((mut j2, mut s2), (mut j3, mut s3)) = clients(jaeger, spoor).await;
    for id in ids {
        let request = v2::GetTraceRequest {
            trace_id: hex_bytes(id),
            raw_traces: raw,
            ..v2::GetTraceRequest::default()
        };
        let flat = |r: Result<Vec<v2::SpansResponseChunk>, tonic::Code>| {
            r.map(|chunks| sort_v2(chunks.into_iter().flat_map(|c| c.spans).collect(), !raw))
        };
        let jr = flat(collect(j2.get_trace(request.clone()).await).await);
        let sr = flat(collect(s2.get_trace(request).await).await);
        let api = if raw {
            "gRPC api_v2 GetTrace raw"
        } else {
            "gRPC api_v2 GetTrace"
        };
        report.record(api, id, &jr, &sr, jr == sr);

        let request = v3::GetTraceRequest {
            trace_id: (*id).clone(),
            raw_traces: raw,
            ..v3::GetTraceRequest::default()
        };
        let jr = collect(j3.get_trace(request.clone()).await)
            .await
            .map(flatten_v3);
        let sr = collect(s3.get_trace(request).await).await.map(flatten_v3);
        let api = if raw {
            "gRPC api_v3 GetTrace raw"
        } else {
            "gRPC api_v3 GetTrace"
        };
        report.record(
            api,
            id,
            &jr.as_ref().map(Vec::len),
            &sr.as_ref().map(Vec::len),
            jr == sr,
        );
    }
}

fn ts(nanos: u64) -> Option<spoor_proto::prost_types::Timestamp> {
    Some(spoor_proto::prost_types::Timestamp {
        seconds: (nanos / 1_000_000_000) as i64,
        nanos: (nanos % 1_000_000_000) as i32,
    })
}

fn dur(nanos: Option<u64>) -> Option<spoor_proto::prost_types::Duration> {
    nanos.map(|n| spoor_proto::prost_types::Duration {
        seconds: (n / 1_000_000_000) as i64,
        nanos: (n % 1_000_000_000) as i32,
    })
}

/// Jaeger's gRPC query API (16685), api_v2 and api_v3, side by side:
/// services, operations, a missing trace, searches by service.
async fn compare_grpc(report: &mut Report, jaeger: &Jaeger, spoor: &Spoor, services: &[String]) {
    let ((mut j2, mut s2), (mut j3, mut s3)) = clients(jaeger, spoor).await;
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let v2_services = |r: Result<tonic::Response<v2::GetServicesResponse>, tonic::Status>| {
        sorted(r.unwrap().into_inner().services)
    };
    let js = v2_services(j2.get_services(v2::GetServicesRequest {}).await);
    let ss = v2_services(s2.get_services(v2::GetServicesRequest {}).await);
    report.record("gRPC api_v2 GetServices", "GetServices", &js, &ss, js == ss);
    let v3_services = |r: Result<tonic::Response<v3::GetServicesResponse>, tonic::Status>| {
        sorted(r.unwrap().into_inner().services)
    };
    let js = v3_services(j3.get_services(v3::GetServicesRequest {}).await);
    let ss = v3_services(s3.get_services(v3::GetServicesRequest {}).await);
    report.record("gRPC api_v3 GetServices", "GetServices", &js, &ss, js == ss);

    for service in services {
        for kind in ["", "server", "client"] {
            let request = v2::GetOperationsRequest {
                service: service.clone(),
                span_kind: kind.into(),
            };
            let mut jr = j2
                .get_operations(request.clone())
                .await
                .unwrap()
                .into_inner();
            let mut sr = s2.get_operations(request).await.unwrap().into_inner();
            for r in [&mut jr, &mut sr] {
                r.operation_names.sort();
                r.operations
                    .sort_by(|a, b| (&a.name, &a.span_kind).cmp(&(&b.name, &b.span_kind)));
            }
            let what = format!("GetOperations {service} {kind:?}");
            report.record("gRPC api_v2 GetOperations", &what, &jr, &sr, jr == sr);
        }
        let request = v3::GetOperationsRequest {
            service: service.clone(),
            span_kind: String::new(),
        };
        let mut jr = j3
            .get_operations(request.clone())
            .await
            .unwrap()
            .into_inner();
        let mut sr = s3.get_operations(request).await.unwrap().into_inner();
        for r in [&mut jr, &mut sr] {
            r.operations
                .sort_by(|a, b| (&a.name, &a.span_kind).cmp(&(&b.name, &b.span_kind)));
        }
        // Difference 4: v2.12 leaves an unspecified kind empty.
        let unspecified: BTreeSet<String> = jr
            .operations
            .iter()
            .filter(|o| o.span_kind.is_empty())
            .map(|o| o.name.clone())
            .collect();
        for op in &mut sr.operations {
            if op.span_kind == "internal" && unspecified.contains(&op.name) {
                op.span_kind.clear();
            }
        }
        let what = format!("GetOperations {service}");
        report.record("gRPC api_v3 GetOperations", &what, &jr, &sr, jr == sr);
    }

    let missing = "00000000000000000000000000000bad";
    let request = v2::GetTraceRequest {
        trace_id: hex_bytes(missing),
        ..Default::default()
    };
    let jr = collect(j2.get_trace(request.clone()).await)
        .await
        .map(|c| c.len());
    let sr = collect(s2.get_trace(request).await).await.map(|c| c.len());
    report.record("gRPC GetTrace (missing)", "api_v2", &jr, &sr, jr == sr);
    let request = v3::GetTraceRequest {
        trace_id: missing.into(),
        ..Default::default()
    };
    let jr = collect(j3.get_trace(request.clone()).await)
        .await
        .map(|c| c.len());
    let sr = collect(s3.get_trace(request).await).await.map(|c| c.len());
    // Difference 11: v2.12 ends the stream empty; v2.21 answers NotFound,
    // as Spoor does.
    let same = jr == Ok(0) && sr == Err(tonic::Code::NotFound);
    report.record(
        "gRPC api_v3 GetTrace (missing: NotFound)",
        "api_v3",
        &jr,
        &sr,
        same,
    );

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let day = 86_400 * 1_000_000_000;
    for service in services {
        let request = v2::FindTracesRequest {
            query: Some(v2::TraceQueryParameters {
                service_name: service.clone(),
                start_time_min: ts(now - 7 * day),
                start_time_max: ts(now + day),
                search_depth: 20,
                ..v2::TraceQueryParameters::default()
            }),
        };
        let flat = |r: Result<Vec<v2::SpansResponseChunk>, tonic::Code>| {
            r.map(|chunks| sort_v2(chunks.into_iter().flat_map(|c| c.spans).collect(), true))
        };
        let jr = flat(collect(j2.find_traces(request.clone()).await).await);
        let sr = flat(collect(s2.find_traces(request).await).await);
        report.record("gRPC api_v2 FindTraces", service, &jr, &sr, jr == sr);
    }
}

/// Jaeger's storage conformance searches through gRPC: api_v2 with tags
/// and api_v3 with attributes.
async fn compare_grpc_searches(
    report: &mut Report,
    jaeger: &Jaeger,
    spoor: &Spoor,
    fixtures: &Fixtures,
    link_keys: &BTreeSet<String>,
) {
    let ((mut j2, mut s2), (mut j3, mut s3)) = clients(jaeger, spoor).await;
    for case in &fixtures.queries {
        if only_link_attributes(&case.query, link_keys) {
            continue; // Difference 7, checked over HTTP.
        }
        let q = &case.query;
        let (start, end) = window(q, fixtures.now);
        let tags: std::collections::HashMap<String, String> = q
            .tags
            .iter()
            .map(|t| (t.key.clone(), t.value.to_string_lossy()))
            .collect();
        let request = v2::FindTracesRequest {
            query: Some(v2::TraceQueryParameters {
                service_name: q.service.clone().unwrap_or_default(),
                operation_name: q.operation.clone().unwrap_or_default(),
                tags: tags.clone(),
                start_time_min: ts(start),
                start_time_max: ts(end),
                duration_min: dur(q.duration_min),
                duration_max: dur(q.duration_max),
                search_depth: q.limit as i32,
                raw_traces: false,
            }),
        };
        let flat = |r: Result<Vec<v2::SpansResponseChunk>, tonic::Code>| {
            r.map(|chunks| sort_v2(chunks.into_iter().flat_map(|c| c.spans).collect(), true))
        };
        let jr = flat(collect(j2.find_traces(request.clone()).await).await);
        let sr = flat(collect(s2.find_traces(request).await).await);
        let what = case.caption.as_str();
        report.record(
            "gRPC api_v2 FindTraces (conformance searches)",
            what,
            &jr,
            &sr,
            jr == sr,
        );

        let request = v3::FindTracesRequest {
            query: Some(v3::TraceQueryParameters {
                service_name: q.service.clone().unwrap_or_default(),
                operation_name: q.operation.clone().unwrap_or_default(),
                attributes: tags,
                start_time_min: ts(start),
                start_time_max: ts(end),
                duration_min: dur(q.duration_min),
                duration_max: dur(q.duration_max),
                search_depth: q.limit as i32,
                ..v3::TraceQueryParameters::default()
            }),
        };
        let jr = collect(j3.find_traces(request.clone()).await)
            .await
            .map(flatten_v3);
        let sr = collect(s3.find_traces(request).await).await.map(flatten_v3);
        report.record(
            "gRPC api_v3 FindTraces (conformance searches)",
            what,
            &jr.as_ref().map(Vec::len),
            &sr.as_ref().map(Vec::len),
            jr == sr,
        );
    }
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}
