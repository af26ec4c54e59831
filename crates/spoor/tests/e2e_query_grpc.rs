//! Jaeger's gRPC query API on 16685 through the real binary, with clients
//! generated from Jaeger's published field numbers: api_v2 and api_v3
//! `QueryService` (traces streamed in chunks, Jaeger's errors), the
//! standard gRPC health service, and server reflection (with
//! tonic-reflection's generated clients).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::Spoor;
use prost::Message as _;
use spoor_model::{KeyValue, SpanKind};
use spoor_proto::grpc_health::health_client::HealthClient;
use spoor_proto::grpc_health::{HealthCheckRequest, health_check_response::ServingStatus};
use spoor_proto::jaeger::api_v2 as v2;
use spoor_proto::jaeger::api_v2::query_service_client::QueryServiceClient as V2Client;
use spoor_proto::jaeger::api_v3 as v3;
use spoor_proto::jaeger::api_v3::query_service_client::QueryServiceClient as V3Client;
use spoor_proto::prost_types::Timestamp;
use tonic::Code;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn ts(nanos: u64) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: (nanos / 1_000_000_000) as i64,
        nanos: (nanos % 1_000_000_000) as i32,
    })
}

/// A 25-span trace of `frontend` (the root, a server span) calling
/// `backend` 24 times.
fn trace(start: u64) -> Vec<spoor_model::SpanRecord> {
    (0..25u64)
        .map(|i| {
            spoor_model::testing::record()
                .service(if i == 0 { "frontend" } else { "backend" })
                .name(if i == 0 { "GET /orders" } else { "load" })
                .kind(if i == 0 {
                    SpanKind::Server
                } else {
                    SpanKind::Internal
                })
                .trace(0xabc)
                .id(i + 1)
                .parent(if i == 0 { 0 } else { 1 })
                .start(start + i * 1_000)
                .duration(500)
                .attr(KeyValue::str("order.id", "42"))
                .build()
        })
        .collect()
}

#[test]
fn the_grpc_query_api_answers_as_jaeger_does() {
    let spoor = Spoor::start(&[]);
    let start = now() - 60_000_000_000;
    let spans = trace(start);
    common::grpc_export(
        &spoor.otlp_grpc_endpoint(),
        spoor_codec::otlp::to_request(&spans),
    )
    .unwrap();
    let endpoint = format!("http://{}", spoor.query_grpc);
    let trace_id = spans[0].span.trace_id;
    common::runtime().block_on(async move {
        let mut c2 = V2Client::connect(endpoint.clone()).await.unwrap();
        let mut c3 = V3Client::connect(endpoint.clone()).await.unwrap();
        let mut health = HealthClient::connect(endpoint).await.unwrap();

        // Health: SERVING for the server and each query service.
        for service in [
            "",
            "jaeger.api_v2.QueryService",
            "jaeger.api_v3.QueryService",
        ] {
            let status = health
                .check(HealthCheckRequest {
                    service: service.into(),
                })
                .await
                .unwrap()
                .into_inner()
                .status;
            assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
        }
        let unknown = health
            .check(HealthCheckRequest {
                service: "nope".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(unknown.code(), Code::NotFound);

        // api_v2: services, operations with kinds, the trace in chunks of
        // at most 10 spans, each span with its process.
        let services = c2
            .get_services(v2::GetServicesRequest {})
            .await
            .unwrap()
            .into_inner()
            .services;
        assert_eq!(services, ["backend", "frontend"]);
        let ops = c2
            .get_operations(v2::GetOperationsRequest {
                service: "frontend".into(),
                span_kind: "server".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(ops.operation_names, ["GET /orders"]);
        assert_eq!(ops.operations[0].span_kind, "server");
        let mut stream = c2
            .get_trace(v2::GetTraceRequest {
                trace_id: trace_id.0.to_vec(),
                ..v2::GetTraceRequest::default()
            })
            .await
            .unwrap()
            .into_inner();
        let mut sizes = Vec::new();
        while let Some(chunk) = stream.message().await.unwrap() {
            assert!(chunk.spans.iter().all(|s| s.process.is_some()));
            assert!(
                chunk
                    .spans
                    .iter()
                    .all(|s| s.trace_id == trace_id.0.to_vec())
            );
            sizes.push(chunk.spans.len());
        }
        assert_eq!(sizes, [10, 10, 5]);
        let missing = c2
            .get_trace(v2::GetTraceRequest {
                trace_id: vec![7; 16],
                ..v2::GetTraceRequest::default()
            })
            .await
            .unwrap_err();
        assert_eq!(missing.code(), Code::NotFound, "{missing:?}");
        let bad = c2
            .get_trace(v2::GetTraceRequest {
                trace_id: vec![7; 3],
                ..v2::GetTraceRequest::default()
            })
            .await
            .unwrap_err();
        assert_eq!(bad.code(), Code::InvalidArgument);
        let mut found = c2
            .find_traces(v2::FindTracesRequest {
                query: Some(v2::TraceQueryParameters {
                    service_name: "backend".into(),
                    tags: [("order.id".to_owned(), "42".to_owned())].into(),
                    start_time_min: ts(start - 1_000_000_000),
                    start_time_max: ts(now()),
                    search_depth: 20,
                    ..v2::TraceQueryParameters::default()
                }),
            })
            .await
            .unwrap()
            .into_inner();
        let mut total = 0;
        while let Some(chunk) = found.message().await.unwrap() {
            total += chunk.spans.len();
        }
        assert_eq!(total, 25);
        let deps = c2
            .get_dependencies(v2::GetDependenciesRequest {
                start_time: ts(start - 1_000_000_000),
                end_time: ts(now()),
            })
            .await
            .unwrap()
            .into_inner()
            .dependencies;
        assert_eq!(deps.len(), 1);
        assert_eq!(
            (
                deps[0].parent.as_str(),
                deps[0].child.as_str(),
                deps[0].call_count
            ),
            ("frontend", "backend", 24)
        );
        let archive = c2
            .archive_trace(v2::ArchiveTraceRequest {
                trace_id: trace_id.0.to_vec(),
                ..v2::ArchiveTraceRequest::default()
            })
            .await
            .unwrap_err();
        assert_eq!(archive.code(), Code::Unimplemented);

        // api_v3: OTLP TracesData, summaries, Jaeger's argument checks.
        let mut stream = c3
            .get_trace(v3::GetTraceRequest {
                trace_id: trace_id.to_hex(),
                ..v3::GetTraceRequest::default()
            })
            .await
            .unwrap()
            .into_inner();
        let mut spans_seen = 0;
        while let Some(chunk) = stream.message().await.unwrap() {
            let data = opentelemetry_proto::tonic::trace::v1::TracesData::decode(
                chunk.encode_to_vec().as_slice(),
            )
            .expect("the same bytes as OTLP TracesData");
            spans_seen += data
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len())
                .sum::<usize>();
        }
        assert_eq!(spans_seen, 25);
        let query = v3::TraceQueryParameters {
            service_name: "frontend".into(),
            start_time_min: ts(start - 1_000_000_000),
            start_time_max: ts(now()),
            ..v3::TraceQueryParameters::default()
        };
        let mut summaries = c3
            .find_trace_summaries(v3::FindTraceSummariesRequest {
                query: Some(query.clone()),
            })
            .await
            .unwrap()
            .into_inner();
        let page = summaries.message().await.unwrap().unwrap();
        assert_eq!(page.summaries.len(), 1);
        let s = &page.summaries[0];
        assert_eq!(
            (
                s.root_service_name.as_str(),
                s.root_operation_name.as_str(),
                s.span_count
            ),
            ("frontend", "GET /orders", 25)
        );
        let no_window = c3
            .find_traces(v3::FindTracesRequest {
                query: Some(v3::TraceQueryParameters {
                    service_name: "frontend".into(),
                    ..v3::TraceQueryParameters::default()
                }),
            })
            .await
            .unwrap_err();
        assert_eq!(no_window.code(), Code::InvalidArgument);
        let ops = c3
            .get_operations(v3::GetOperationsRequest {
                service: "backend".into(),
                span_kind: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .operations;
        assert_eq!(ops.len(), 1);
        assert_eq!(
            (ops[0].name.as_str(), ops[0].span_kind.as_str()),
            ("load", "internal")
        );
        let too_deep = c3
            .find_traces(v3::FindTracesRequest {
                query: Some(v3::TraceQueryParameters {
                    search_depth: 1_000_000,
                    ..query
                }),
            })
            .await
            .unwrap_err();
        assert_eq!(too_deep.code(), Code::InvalidArgument);
    });
    // Counted per endpoint in /metrics like the HTTP APIs.
    let metrics = spoor.metrics();
    assert!(
        metrics.contains("endpoint=\"grpc_v2_get_trace\""),
        "{metrics}"
    );
}

/// One request of the reflection stream (`grpc.reflection.v1`), answered
/// (tonic-reflection ends the stream with a status where Go's servers send
/// an `ErrorResponse`: both are an error here).
async fn try_reflect_v1(
    client: &mut tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient<
        tonic::transport::Channel,
    >,
    request: tonic_reflection::pb::v1::server_reflection_request::MessageRequest,
) -> Result<tonic_reflection::pb::v1::server_reflection_response::MessageResponse, tonic::Status> {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let mut answers = client
        .server_reflection_info(futures::stream::iter([request]))
        .await?
        .into_inner();
    let answer = answers.message().await?.expect("one answer");
    match answer.message_response.expect("a response") {
        MessageResponse::ErrorResponse(e) => Err(tonic::Status::new(
            Code::from_i32(e.error_code),
            e.error_message,
        )),
        answer => Ok(answer),
    }
}

async fn reflect_v1(
    client: &mut tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient<
        tonic::transport::Channel,
    >,
    request: tonic_reflection::pb::v1::server_reflection_request::MessageRequest,
) -> tonic_reflection::pb::v1::server_reflection_response::MessageResponse {
    try_reflect_v1(client, request).await.unwrap()
}

#[test]
fn reflection_lists_and_describes_only_the_served_services() {
    use spoor_proto::prost_types::FileDescriptorProto;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient as V1Reflection;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient as V1AlphaReflection;

    const SERVED: [&str; 5] = [
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
        "jaeger.api_v2.QueryService",
        "jaeger.api_v3.QueryService",
    ];
    let spoor = Spoor::start(&[]);
    let endpoint = format!("http://{}", spoor.query_grpc);
    common::runtime().block_on(async move {
        // The crate's clients are generated without `connect`: over a channel.
        let channel = tonic::transport::Channel::from_shared(endpoint)
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut v1 = V1Reflection::new(channel.clone());

        // ListServices: exactly the public services of this listener.
        let MessageResponse::ListServicesResponse(list) =
            reflect_v1(&mut v1, MessageRequest::ListServices(String::new())).await
        else {
            panic!("ListServices did not answer a service list");
        };
        let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        names.sort_unstable();
        assert_eq!(names, SERVED);

        // FileContainingSymbol: api_v2's query.proto, which decodes and
        // describes QueryService with Jaeger's methods.
        let MessageResponse::FileDescriptorResponse(files) = reflect_v1(
            &mut v1,
            MessageRequest::FileContainingSymbol("jaeger.api_v2.QueryService".into()),
        )
        .await
        else {
            panic!("FileContainingSymbol did not answer descriptors");
        };
        let files: Vec<FileDescriptorProto> = files
            .file_descriptor_proto
            .iter()
            .map(|b| FileDescriptorProto::decode(b.as_slice()).unwrap())
            .collect();
        let query = files
            .iter()
            .find(|f| f.name() == "jaeger/api_v2/query.proto")
            .unwrap_or_else(|| panic!("no query.proto in {files:?}"));
        assert_eq!(query.package(), "jaeger.api_v2");
        assert_eq!(query.service.len(), 1);
        assert_eq!(query.service[0].name(), "QueryService");
        let methods: Vec<&str> = query.service[0].method.iter().map(|m| m.name()).collect();
        assert_eq!(
            methods,
            [
                "GetTrace",
                "ArchiveTrace",
                "FindTraces",
                "GetServices",
                "GetOperations",
                "GetDependencies"
            ]
        );
        let get_trace = &query.service[0].method[0];
        assert_eq!(get_trace.input_type(), ".jaeger.api_v2.GetTraceRequest");
        assert!(get_trace.server_streaming());

        // Its import resolves too, and a message symbol finds its file.
        for (request, file) in [
            (
                MessageRequest::FileByFilename("jaeger/api_v2/model.proto".into()),
                "jaeger/api_v2/model.proto",
            ),
            (
                MessageRequest::FileContainingSymbol("jaeger.api_v3.TraceQueryParameters".into()),
                "jaeger/api_v3/query_service.proto",
            ),
            (
                MessageRequest::FileContainingSymbol("grpc.health.v1.Health".into()),
                "grpc_health.proto",
            ),
        ] {
            let MessageResponse::FileDescriptorResponse(found) = reflect_v1(&mut v1, request).await
            else {
                panic!("no descriptor of {file}");
            };
            let first = FileDescriptorProto::decode(found.file_descriptor_proto[0].as_slice())
                .unwrap();
            assert_eq!(first.name(), file);
        }

        // Internal services of other listeners are not described here.
        for symbol in [
            "spoor.cluster.v1.Head",
            "jaeger.api_v2.CollectorService",
            "jaeger.api_v2.SamplingManager",
            "zipkin.proto3.SpanService",
        ] {
            let answer =
                try_reflect_v1(&mut v1, MessageRequest::FileContainingSymbol(symbol.into())).await;
            let Err(e) = answer else {
                panic!("{symbol} is described: {answer:?}");
            };
            assert_eq!(e.code(), Code::NotFound, "{symbol}: {e:?}");
        }

        // v1alpha (older grpcurl, Postman) lists the same services.
        use tonic_reflection::pb::v1alpha::ServerReflectionRequest as AlphaRequest;
        use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest as AlphaMessage;
        use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse as AlphaAnswer;
        let mut alpha = V1AlphaReflection::new(channel);
        let mut answers = alpha
            .server_reflection_info(futures::stream::iter([AlphaRequest {
                host: String::new(),
                message_request: Some(AlphaMessage::ListServices(String::new())),
            }]))
            .await
            .unwrap()
            .into_inner();
        let answer = answers.message().await.unwrap().expect("one answer");
        let Some(AlphaAnswer::ListServicesResponse(list)) = answer.message_response else {
            panic!("v1alpha ListServices: {answer:?}");
        };
        let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        names.sort_unstable();
        assert_eq!(names, SERVED);
    });
}
