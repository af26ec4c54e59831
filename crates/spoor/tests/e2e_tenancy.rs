//! Tenants kept apart, through the real binary (docs/security.md,
//! "Tenants"): two tenants write the same trace IDs over OTLP HTTP and gRPC,
//! Jaeger Thrift over HTTP, Jaeger gRPC and Zipkin, and each sees only its
//! own through every query API; tenants off the list are refused; a restart
//! keeps each tenant's data in its own directory; a tenant over its ingest
//! rate is throttled while the other is still accepted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::Spoor;
use spoor_model::{SpanKind, SpanRecord};
use spoor_proto::jaeger::api_v2 as v2;
use spoor_proto::jaeger::api_v2::query_service_client::QueryServiceClient as V2Client;
use spoor_proto::jaeger::api_v3 as v3;
use spoor_proto::jaeger::api_v3::query_service_client::QueryServiceClient as V3Client;

const TENANTS: [&str; 2] = ["a", "b"];
/// One trace ID per ingest protocol, the same for both tenants.
const PROTOCOLS: [(&str, u64); 5] = [
    ("otlp-http", 0x11),
    ("otlp-grpc", 0x12),
    ("jaeger-http", 0x13),
    ("jaeger-grpc", 0x14),
    ("zipkin", 0x15),
];

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// `tenant`'s trace `low`: a server root in `{tenant}-front` calling
/// `{tenant}-back`.
fn trace(tenant: &str, low: u64, start: u64) -> Vec<SpanRecord> {
    let front = format!("{tenant}-front");
    let back = format!("{tenant}-back");
    vec![
        spoor_model::testing::record()
            .service(&front)
            .name("GET /")
            .kind(SpanKind::Server)
            .trace(low)
            .id(1)
            .start(start)
            .duration(2_000_000)
            .build(),
        spoor_model::testing::record()
            .service(&back)
            .name("load")
            .kind(SpanKind::Server)
            .trace(low)
            .id(2)
            .parent(1)
            .start(start + 100_000)
            .duration(1_000_000)
            .build(),
    ]
}

fn tenant_header(tenant: &str) -> [(&str, &str); 1] {
    [("x-tenant", tenant)]
}

/// Sends `tenant`'s trace of each protocol, each answered with success.
fn write_all(spoor: &Spoor, tenant: &str, start: u64) {
    for (protocol, low) in PROTOCOLS {
        let spans = trace(tenant, low, start);
        match protocol {
            "otlp-http" => {
                let reply = spoor.post(
                    &spoor.otlp_http_url("/v1/traces"),
                    "application/x-protobuf",
                    spoor_codec::otlp::encode_request(&spans),
                    &tenant_header(tenant),
                );
                assert_eq!(reply.status, 200, "{protocol}: {}", reply.text());
            }
            "otlp-grpc" => {
                grpc_otlp(spoor, Some(tenant), &spans).unwrap();
            }
            "jaeger-http" => {
                for body in spoor_codec::jaeger_thrift::encode_spans_binary(&spans) {
                    let reply = spoor.post(
                        &format!("http://{}/api/traces", spoor.jaeger_http),
                        "application/x-thrift",
                        body,
                        &tenant_header(tenant),
                    );
                    assert_eq!(reply.status, 202, "{protocol}: {}", reply.text());
                }
            }
            "jaeger-grpc" => {
                use spoor_proto::jaeger::api_v2::collector_service_client::CollectorServiceClient;
                let endpoint = format!("http://{}", spoor.jaeger_grpc);
                let msg = spoor_codec::jaeger_proto::to_post_spans(&spans);
                let tenant = tenant.to_owned();
                common::runtime().block_on(async move {
                    let mut c = CollectorServiceClient::connect(endpoint).await.unwrap();
                    let mut req = tonic::Request::new(msg);
                    req.metadata_mut()
                        .insert("x-tenant", tenant.parse().unwrap());
                    c.post_spans(req).await.unwrap();
                });
            }
            "zipkin" => {
                let reply = spoor.post(
                    &format!("http://{}/api/v2/spans", spoor.zipkin),
                    "application/json",
                    spoor_codec::zipkin::encode_v2_json(&spans),
                    &tenant_header(tenant),
                );
                assert_eq!(reply.status, 202, "{protocol}: {}", reply.text());
            }
            _ => unreachable!(),
        }
    }
}

fn grpc_otlp(
    spoor: &Spoor,
    tenant: Option<&str>,
    spans: &[SpanRecord],
) -> Result<(), tonic::Status> {
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
    let endpoint = spoor.otlp_grpc_endpoint();
    let msg = spoor_codec::otlp::to_request(spans);
    let tenant = tenant.map(str::to_owned);
    common::runtime().block_on(async move {
        let mut c = TraceServiceClient::connect(endpoint).await.unwrap();
        let mut req = tonic::Request::new(msg);
        if let Some(t) = tenant {
            req.metadata_mut().insert("x-tenant", t.parse().unwrap());
        }
        c.export(req).await.map(|_| ())
    })
}

/// `GET path` on the query server as `tenant`.
fn get(spoor: &Spoor, tenant: Option<&str>, path: &str) -> (u16, String) {
    let client = reqwest::blocking::Client::new();
    let mut req = client.get(spoor.query(path));
    if let Some(t) = tenant {
        req = req.header("X-Tenant", t);
    }
    let resp = req.send().unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().unwrap())
}

fn get_json(spoor: &Spoor, tenant: &str, path: &str) -> serde_json::Value {
    let (status, body) = get(spoor, Some(tenant), path);
    assert_eq!(status, 200, "{path} as {tenant}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Every service name in a Jaeger `/api/traces` answer.
fn services_in(body: &serde_json::Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for t in body["data"].as_array().unwrap() {
        for p in t["processes"].as_object().unwrap().values() {
            out.insert(p["serviceName"].as_str().unwrap().to_owned());
        }
    }
    out
}

fn own(tenant: &str) -> BTreeSet<String> {
    [format!("{tenant}-front"), format!("{tenant}-back")].into()
}

/// Each tenant sees its own data, and only its own, through every API.
fn assert_apart(spoor: &Spoor, start: u64) {
    let hex = |low: u64| format!("{low:032x}");
    for tenant in TENANTS {
        let other = if tenant == "a" { "b" } else { "a" };
        // Services.
        let services = get_json(spoor, tenant, "/api/services");
        let names: BTreeSet<String> = services["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(names, own(tenant), "{tenant}");
        let v3 = get_json(spoor, tenant, "/api/v3/services");
        assert_eq!(
            v3["services"].as_array().unwrap().len(),
            2,
            "{tenant}: {v3}"
        );
        // Each trace by ID: the same IDs, each tenant its own spans.
        for (protocol, low) in PROTOCOLS {
            let body = get_json(spoor, tenant, &format!("/api/traces/{}", hex(low)));
            assert_eq!(
                services_in(&body),
                own(tenant),
                "{tenant} {protocol}: {body}"
            );
            assert_eq!(body["data"][0]["spans"].as_array().unwrap().len(), 2);
        }
        // Search.
        let body = get_json(
            spoor,
            tenant,
            &format!("/api/traces?service={tenant}-front&lookback=1h&limit=100"),
        );
        assert_eq!(
            body["data"].as_array().unwrap().len(),
            PROTOCOLS.len(),
            "{body}"
        );
        assert_eq!(services_in(&body), own(tenant));
        let body = get_json(
            spoor,
            tenant,
            &format!("/api/traces?service={other}-front&lookback=1h"),
        );
        assert_eq!(
            body["data"].as_array().unwrap().len(),
            0,
            "{tenant}: {body}"
        );
        // api_v3.
        let min = start - 60_000_000_000;
        let max = now_nanos() + 60_000_000_000;
        let rfc = |n: u64| {
            // Seconds are enough: RFC 3339 in UTC.
            let secs = n / 1_000_000_000;
            let out = std::process::Command::new("date")
                .args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%SZ"])
                .output()
                .unwrap();
            String::from_utf8(out.stdout).unwrap().trim().to_owned()
        };
        let v3 = get_json(
            spoor,
            tenant,
            &format!(
                "/api/v3/traces?query.service_name={tenant}-back&query.start_time_min={}&query.start_time_max={}",
                rfc(min),
                rfc(max)
            ),
        );
        let spans = common::v3_span_counts(&v3);
        assert_eq!(
            spans.values().sum::<usize>(),
            2 * PROTOCOLS.len(),
            "{tenant}: {v3}"
        );
        // Nothing of the other tenant: Jaeger's 404 "No traces found".
        let (status, v3) = get(
            spoor,
            Some(tenant),
            &format!(
                "/api/v3/traces?query.service_name={other}-back&query.start_time_min={}&query.start_time_max={}",
                rfc(min),
                rfc(max)
            ),
        );
        assert_eq!(status, 404, "{tenant}: {v3}");
        assert!(!v3.contains(&format!("{other}-")), "{tenant}: {v3}");
        let v3 = get_json(spoor, tenant, &format!("/api/v3/traces/{}", hex(0x11)));
        assert!(v3.to_string().contains(&format!("{tenant}-front")), "{v3}");
        assert!(!v3.to_string().contains(&format!("{other}-front")), "{v3}");
        // Dependencies.
        let end = now_nanos() / 1_000_000 + 60_000;
        let deps = get_json(
            spoor,
            tenant,
            &format!("/api/dependencies?endTs={end}&lookback=3600000"),
        );
        let edges: Vec<(String, String)> = deps["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["parent"].as_str().unwrap().to_owned(),
                    d["child"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            edges,
            [(format!("{tenant}-front"), format!("{tenant}-back"))],
            "{tenant}: {deps}"
        );
        // Export.
        let (status, export) = get(
            spoor,
            Some(tenant),
            "/api/export?format=jaeger-jsonl&lookback=1h",
        );
        assert_eq!(status, 200, "{export}");
        assert_eq!(
            export.lines().count(),
            PROTOCOLS.len(),
            "{tenant}: {export}"
        );
        assert!(export.contains(&format!("{tenant}-front")));
        assert!(
            !export.contains(&format!("{other}-front")),
            "{tenant}: {export}"
        );
        // Jaeger's SPM metrics: the other tenant's service has no series.
        let (status, calls) = get(
            spoor,
            Some(tenant),
            &format!(
                "/api/metrics/calls?service={other}-front&endTs={end}&lookback=3600000&step=60000&ratePer=600000"
            ),
        );
        assert_eq!(status, 200, "{calls}");
        assert!(
            !calls.contains(&format!("\"{other}-front\"")),
            "{tenant}: {calls}"
        );
        let (status, calls) = get(
            spoor,
            Some(tenant),
            &format!(
                "/api/metrics/calls?service={tenant}-front&endTs={end}&lookback=3600000&step=60000&ratePer=600000"
            ),
        );
        assert_eq!(status, 200, "{calls}");
        assert!(
            calls.contains(&format!("\"{tenant}-front\"")),
            "{tenant}: {calls}"
        );
    }
    // The gRPC query APIs, with the tenant as `x-tenant` metadata.
    let endpoint = format!("http://{}", spoor.query_grpc);
    common::runtime().block_on(async move {
        let mut c2 = V2Client::connect(endpoint.clone()).await.unwrap();
        let mut c3 = V3Client::connect(endpoint).await.unwrap();
        for tenant in TENANTS {
            fn with<T>(tenant: &str, msg: T) -> tonic::Request<T> {
                let mut req = tonic::Request::new(msg);
                req.metadata_mut()
                    .insert("x-tenant", tenant.parse().unwrap());
                req
            }
            let mut id = [0u8; 16];
            id[15] = 0x12;
            let mut stream = c2
                .get_trace(with(
                    tenant,
                    v2::GetTraceRequest {
                        trace_id: id.to_vec(),
                        ..v2::GetTraceRequest::default()
                    },
                ))
                .await
                .unwrap()
                .into_inner();
            let mut seen = BTreeSet::new();
            while let Some(chunk) = stream.message().await.unwrap() {
                for s in chunk.spans {
                    seen.insert(s.process.unwrap().service_name);
                }
            }
            assert_eq!(seen, own(tenant), "api_v2 {tenant}");
            let services = c2
                .get_services(with(tenant, v2::GetServicesRequest {}))
                .await
                .unwrap()
                .into_inner()
                .services;
            assert_eq!(
                services.into_iter().collect::<BTreeSet<_>>(),
                own(tenant),
                "api_v2 services {tenant}"
            );
            let mut stream = c3
                .get_trace({
                    let mut req = tonic::Request::new(v3::GetTraceRequest {
                        trace_id: format!("{:032x}", 0x13),
                        ..v3::GetTraceRequest::default()
                    });
                    req.metadata_mut()
                        .insert("x-tenant", tenant.parse().unwrap());
                    req
                })
                .await
                .unwrap()
                .into_inner();
            let mut text = String::new();
            while let Some(chunk) = stream.message().await.unwrap() {
                use prost::Message as _;
                let data = opentelemetry_proto::tonic::trace::v1::TracesData::decode(
                    chunk.encode_to_vec().as_slice(),
                )
                .unwrap();
                text.push_str(&format!("{data:?}"));
            }
            assert!(text.contains(&format!("{tenant}-front")), "api_v3 {tenant}");
            let other = if tenant == "a" { "b" } else { "a" };
            assert!(!text.contains(&format!("{other}-front")), "api_v3 {tenant}");
        }
        // No tenant, or one off the list: refused.
        let missing = c2
            .get_services(v2::GetServicesRequest {})
            .await
            .unwrap_err();
        assert_eq!(missing.code(), tonic::Code::Unauthenticated, "{missing:?}");
        let mut req = tonic::Request::new(v2::GetServicesRequest {});
        req.metadata_mut().insert("x-tenant", "z".parse().unwrap());
        let unknown = c2.get_services(req).await.unwrap_err();
        assert_eq!(unknown.code(), tonic::Code::PermissionDenied, "{unknown:?}");
    });
}

#[test]
fn two_tenants_writing_the_same_trace_ids_each_see_only_their_own() {
    let spoor = Spoor::start(&["--tenants", "a,b"]);
    let start = now_nanos() - 120_000_000_000;
    for tenant in TENANTS {
        write_all(&spoor, tenant, start);
    }
    assert_apart(&spoor, start);

    // Requests without a tenant, or with one off the list, are refused on
    // the query API and on every receiver.
    let (status, body) = get(&spoor, None, "/api/services");
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("missing tenant header"), "{body}");
    let (status, body) = get(&spoor, Some("z"), "/api/services");
    assert_eq!(status, 403, "{body}");
    let (status, _) = get(
        &spoor,
        Some("a"),
        "/api/export?format=jaeger-jsonl&lookback=1h",
    );
    assert_eq!(status, 200);
    let (status, _) = get(&spoor, None, "/api/export?format=jaeger-jsonl&lookback=1h");
    assert_eq!(status, 401);
    // The web UI's pages need no tenant.
    let (status, _) = get(&spoor, None, "/");
    assert_eq!(status, 200);
    let spans = trace("z", 0x99, start);
    let body = spoor_codec::otlp::encode_request(&spans);
    let reply = spoor.post(
        &spoor.otlp_http_url("/v1/traces"),
        "application/x-protobuf",
        body.clone(),
        &[],
    );
    assert_eq!(reply.status, 401, "{}", reply.text());
    let reply = spoor.post(
        &spoor.otlp_http_url("/v1/traces"),
        "application/x-protobuf",
        body,
        &tenant_header("z"),
    );
    assert_eq!(reply.status, 403, "{}", reply.text());
    let reply = spoor.post(
        &format!("http://{}/api/v2/spans", spoor.zipkin),
        "application/json",
        spoor_codec::zipkin::encode_v2_json(&spans),
        &[],
    );
    assert_eq!(reply.status, 401, "{}", reply.text());
    assert_eq!(
        grpc_otlp(&spoor, None, &spans).unwrap_err().code(),
        tonic::Code::Unauthenticated
    );
    assert_eq!(
        grpc_otlp(&spoor, Some("z"), &spans).unwrap_err().code(),
        tonic::Code::PermissionDenied
    );
    // Per-tenant series.
    let metrics = spoor.metrics();
    for tenant in TENANTS {
        // 2 spans per protocol.
        assert_eq!(
            common::metric_sum(
                &metrics,
                "spoor_tenant_spans_received_total",
                &[("tenant", tenant)]
            ),
            (2 * PROTOCOLS.len()) as f64,
            "{metrics}"
        );
    }
    assert!(
        common::metric_sum(
            &metrics,
            "spoor_tenant_requests_refused_total",
            &[("reason", "unknown")]
        ) >= 3.0,
        "{metrics}"
    );
}

#[test]
fn a_restart_keeps_each_tenants_data_in_its_own_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let start = now_nanos() - 120_000_000_000;
    {
        let mut spoor = Spoor::start(&["--tenants", "a,b", "--data-dir", &data]);
        for tenant in TENANTS {
            write_all(&spoor, tenant, start);
        }
        assert!(spoor.terminate(Duration::from_secs(20)).is_some());
    }
    for tenant in TENANTS {
        let d = dir.path().join("tenants").join(tenant);
        assert!(d.is_dir(), "{}", d.display());
        assert!(std::fs::read_dir(&d).unwrap().count() > 0);
    }
    let spoor = Spoor::start(&["--tenants", "a,b", "--data-dir", &data]);
    assert_apart(&spoor, start);
}

#[test]
fn a_tenant_over_its_ingest_rate_is_throttled_and_the_other_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("spoor.yaml");
    std::fs::write(
        &config,
        "version: 1\nsecurity:\n  tenancy:\n    tenants: [noisy, quiet]\n    limits:\n      \
         tenants:\n        noisy:\n          ingest_rate: 1\n          ingest_burst: 10\n",
    )
    .unwrap();
    let spoor = Spoor::start(&["--config", config.to_str().unwrap()]);
    let start = now_nanos() - 60_000_000_000;
    let send = |tenant: &str, low: u64| {
        spoor.post(
            &spoor.otlp_http_url("/v1/traces"),
            "application/x-protobuf",
            spoor_codec::otlp::encode_request(&trace(tenant, low, start)),
            &tenant_header(tenant),
        )
    };
    // The burst is taken, then the noisy tenant is refused with 429.
    let mut statuses = Vec::new();
    for i in 0..8 {
        let reply = send("noisy", 100 + i);
        if reply.status == 429 {
            assert!(reply.text().contains("ingest rate"), "{}", reply.text());
        }
        statuses.push(reply.status);
    }
    assert_eq!(statuses[0], 200);
    assert_eq!(*statuses.last().unwrap(), 429, "{statuses:?}");
    // Retry-After is set (checked on a raw answer).
    let client = reqwest::blocking::Client::new();
    let resp = client
        .post(spoor.otlp_http_url("/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .header("x-tenant", "noisy")
        .body(spoor_codec::otlp::encode_request(&trace(
            "noisy", 999, start,
        )))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    assert!(resp.headers().get("retry-after").is_some());
    // gRPC: RESOURCE_EXHAUSTED.
    let err = grpc_otlp(&spoor, Some("noisy"), &trace("noisy", 1000, start)).unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");
    // The quiet tenant is still accepted.
    for i in 0..8 {
        let reply = send("quiet", 200 + i);
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    assert!(grpc_otlp(&spoor, Some("quiet"), &trace("quiet", 300, start)).is_ok());
    let metrics = spoor.metrics();
    assert!(
        common::metric_sum(
            &metrics,
            "spoor_tenant_spans_throttled_total",
            &[("tenant", "noisy")]
        ) >= 2.0,
        "{metrics}"
    );
    assert_eq!(
        common::metric_sum(
            &metrics,
            "spoor_tenant_spans_throttled_total",
            &[("tenant", "quiet")]
        ),
        0.0
    );
}

#[test]
fn a_token_for_tenant_a_is_refused_on_tenant_b() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(
        &tokens,
        "# token name tenants\ntok-a-0123456789abcdef ci-a a\ntok-any-0123456789abcd ops *\n",
    )
    .unwrap();
    let config = dir.path().join("spoor.yaml");
    std::fs::write(
        &config,
        format!(
            "version: 1\nsecurity:\n  auth:\n    ingest:\n      tokens_file: {}\n  tenancy:\n    tenants: [a, b]\n",
            tokens.display()
        ),
    )
    .unwrap();
    let spoor = Spoor::start(&["--config", config.to_str().unwrap()]);
    let start = now_nanos() - 60_000_000_000;
    let send = |token: &str, tenant: &str| {
        spoor.post(
            &spoor.otlp_http_url("/v1/traces"),
            "application/x-protobuf",
            spoor_codec::otlp::encode_request(&trace(tenant, 0x77, start)),
            &[
                ("x-tenant", tenant),
                ("authorization", &format!("Bearer {token}")),
            ],
        )
    };
    assert_eq!(send("tok-a-0123456789abcdef", "a").status, 200);
    let refused = send("tok-a-0123456789abcdef", "b");
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert!(
        refused.text().contains("not allowed to use tenant"),
        "{}",
        refused.text()
    );
    // A token for any tenant writes to both.
    assert_eq!(send("tok-any-0123456789abcd", "b").status, 200);
    // Tenant b holds only what the second token wrote.
    let body = get_json(&spoor, "b", &format!("/api/traces/{:032x}", 0x77));
    assert_eq!(services_in(&body), own("b"));
    let metrics = spoor.metrics();
    assert_eq!(
        common::metric_sum(
            &metrics,
            "spoor_tenant_requests_refused_total",
            &[("reason", "not_granted")]
        ),
        1.0,
        "{metrics}"
    );
}
