//! Jaeger's gRPC query API on 16685: `jaeger.api_v2.QueryService` and
//! `jaeger.api_v3.QueryService`, with the standard `grpc.health.v1.Health`
//! and server reflection (`grpc.reflection.v1` and `v1alpha`, listing and
//! describing only the services served here), over the same
//! [`QueryService`](spoor_service::QueryService), limits and heavy-query
//! slots as the HTTP APIs.
//!
//! Traces stream in chunks: api_v2 sends at most [`V2_CHUNK_SPANS`] spans per
//! `SpansResponseChunk` (as Jaeger does), api_v3 at most
//! [`V3_CHUNK_SPANS`] spans per `TracesData`; each chunk is encoded when the
//! client is ready for it, so a large answer is never encoded whole.
//! A missing trace is `NOT_FOUND`, a bad request `INVALID_ARGUMENT`, all
//! heavy-query slots busy `RESOURCE_EXHAUSTED`; data storage had to skip
//! (a damaged block, an unreachable collector) is named in the response
//! header `spoor-partial-result` (Jaeger's messages have no place for it).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures::Stream;
use prost::Message as _;
use spoor_model::{AnyValue, SpanKind, SpanRecord, Trace, TraceId, UnixNanos};
use spoor_proto::grpc_health::health_check_response::ServingStatus;
use spoor_proto::grpc_health::health_server::{Health, HealthServer};
use spoor_proto::grpc_health::{HealthCheckRequest, HealthCheckResponse};
use spoor_proto::jaeger::api_v2 as v2;
use spoor_proto::jaeger::api_v2::query_service_server::{
    QueryService as V2Query, QueryServiceServer as V2Server,
};
use spoor_proto::jaeger::api_v3 as v3;
use spoor_proto::jaeger::api_v3::query_service_server::{
    QueryService as V3Query, QueryServiceServer as V3Server,
};
use spoor_proto::prost_types;
use spoor_storage::{GetTraceQuery, OperationQuery, Partial, TagFilter, TraceQuery};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::error::storage_grpc;
use crate::{AppState, ServerError};

/// Spans per api_v2 `SpansResponseChunk` (Jaeger's own chunk size).
pub const V2_CHUNK_SPANS: usize = 10;
/// Spans per api_v3 `TracesData` message.
pub const V3_CHUNK_SPANS: usize = 1000;
/// Search depth when a request gives none (as the HTTP APIs).
const DEFAULT_SEARCH_DEPTH: usize = 100;
/// The response header naming what a partial answer is missing.
pub const PARTIAL_HEADER: &str = "spoor-partial-result";

type ChunkStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// The gRPC query services over all-in-one's (or a querier's) state.
#[derive(Clone)]
pub struct QueryGrpc {
    state: Arc<AppState>,
}

/// Go's zero `time.Time` (0001-01-01T00:00:00Z) in seconds since the Unix
/// epoch: what Jaeger's gogo-generated clients send for an unset time (the
/// api_v2 request times are non-nullable `stdtime` fields), e.g. the
/// `anonymizer`'s `GetTraceRequest` without `--start-time`.
const GO_ZERO_TIME_SECONDS: i64 = -62_135_596_800;

/// A request time: absent, the epoch and Go's zero time are unset.
fn timestamp_nanos(t: Option<prost_types::Timestamp>) -> Result<Option<UnixNanos>, Status> {
    let Some(t) = t else {
        return Ok(None);
    };
    if (t.seconds == 0 || t.seconds == GO_ZERO_TIME_SECONDS) && t.nanos == 0 {
        return Ok(None);
    }
    if t.seconds < 0 || !(0..1_000_000_000).contains(&t.nanos) {
        return Err(Status::invalid_argument(format!(
            "timestamp {}s {}ns is out of range",
            t.seconds, t.nanos
        )));
    }
    (t.seconds as u64)
        .checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(t.nanos as u64))
        .map(Some)
        .ok_or_else(|| Status::invalid_argument("timestamp is out of range"))
}

fn duration_nanos(d: Option<prost_types::Duration>) -> Result<Option<u64>, Status> {
    let Some(d) = d else {
        return Ok(None);
    };
    if d.seconds < 0 || d.nanos < 0 {
        return Err(Status::invalid_argument("a duration must not be negative"));
    }
    let n = (d.seconds as u64)
        .checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(d.nanos as u64))
        .ok_or_else(|| Status::invalid_argument("duration is out of range"))?;
    Ok((n > 0).then_some(n))
}

fn span_kind(kind: &str) -> Result<Option<SpanKind>, Status> {
    if kind.is_empty() {
        return Ok(None);
    }
    SpanKind::from_jaeger_name(kind)
        .map(Some)
        .ok_or_else(|| Status::invalid_argument(format!("unsupported span kind: '{kind}'")))
}

/// Common search parameters of both APIs.
struct Search<'a> {
    service: &'a str,
    operation: &'a str,
    tags: Vec<(String, String)>,
    start_min: Option<prost_types::Timestamp>,
    start_max: Option<prost_types::Timestamp>,
    duration_min: Option<prost_types::Duration>,
    duration_max: Option<prost_types::Duration>,
    search_depth: i32,
}

impl QueryGrpc {
    pub fn new(state: Arc<AppState>) -> Self {
        QueryGrpc { state }
    }

    fn query(&self, s: Search<'_>) -> Result<TraceQuery, Status> {
        let non_empty = |v: &str| (!v.is_empty()).then(|| v.to_owned());
        if s.search_depth < 0 {
            return Err(Status::invalid_argument(
                "search depth must not be negative",
            ));
        }
        let limit = match s.search_depth {
            0 => DEFAULT_SEARCH_DEPTH,
            n => n as usize,
        };
        let max = self.state.query_limits.max_limit;
        if max > 0 && limit > max {
            return Err(Status::invalid_argument(format!(
                "search depth {limit} exceeds the maximum of {max} (--query-max-limit)"
            )));
        }
        let mut tags: Vec<TagFilter> = s
            .tags
            .into_iter()
            .map(|(key, value)| TagFilter {
                key,
                value: AnyValue::Str(value),
            })
            .collect();
        tags.sort_by(|a, b| a.key.cmp(&b.key));
        let (start_min, start_max) = (timestamp_nanos(s.start_min)?, timestamp_nanos(s.start_max)?);
        if let (Some(min), Some(max)) = (start_min, start_max)
            && min > max
        {
            return Err(Status::invalid_argument(
                "the start time minimum must be before the maximum",
            ));
        }
        Ok(TraceQuery {
            service: non_empty(s.service),
            operation: non_empty(s.operation),
            tags,
            start_min,
            start_max,
            duration_min: duration_nanos(s.duration_min)?,
            duration_max: duration_nanos(s.duration_max)?,
            limit,
            ..TraceQuery::default()
        })
    }

    async fn slot(&self) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, Status> {
        self.state
            .heavy_query_slot()
            .await
            .map_err(|_| Status::resource_exhausted("too many heavy queries at once; retry later"))
    }

    /// One trace (adjusted unless `raw`), streamed in chunks of `per_chunk`
    /// spans encoded by `encode`; `NOT_FOUND` when storage has none of it.
    async fn trace_stream<T: Send + 'static>(
        &self,
        query: GetTraceQuery,
        raw: bool,
        per_chunk: usize,
        encode: fn(&[SpanRecord]) -> T,
    ) -> Result<Response<ChunkStream<T>>, Status> {
        let slot = self.slot().await?;
        let Partial { value, warnings } = self
            .state
            .query
            .get_trace_partial(query, raw)
            .await
            .map_err(|e| storage_grpc(&e))?;
        let trace = value.ok_or_else(|| Status::not_found("trace not found"))?;
        Ok(streamed(
            chunks(vec![trace], per_chunk, encode),
            warnings,
            slot,
        ))
    }

    /// The traces of a search, streamed like [`Self::trace_stream`].
    async fn search_stream<T: Send + 'static>(
        &self,
        query: TraceQuery,
        raw: bool,
        per_chunk: usize,
        encode: fn(&[SpanRecord]) -> T,
    ) -> Result<Response<ChunkStream<T>>, Status> {
        let slot = self.slot().await?;
        let Partial { value, warnings } = self
            .state
            .query
            .find_traces_partial(&query, raw)
            .await
            .map_err(|e| storage_grpc(&e))?;
        Ok(streamed(chunks(value, per_chunk, encode), warnings, slot))
    }

    /// A service's operations, of one span kind (a Jaeger kind name) or all.
    async fn operations(
        &self,
        service: String,
        kind: &str,
    ) -> Result<Vec<spoor_storage::Operation>, Status> {
        self.state
            .query
            .operations(&OperationQuery {
                service,
                span_kind: span_kind(kind)?,
            })
            .await
            .map_err(|e| storage_grpc(&e))
    }

    /// The dependency links of a window (both ends required).
    async fn dependencies(
        &self,
        start: Option<prost_types::Timestamp>,
        end: Option<prost_types::Timestamp>,
    ) -> Result<Vec<spoor_model::DependencyLink>, Status> {
        let (start, end) = dependency_window(start, end)?;
        self.state
            .query
            .dependencies(start, end)
            .await
            .map_err(|e| storage_grpc(&e))
    }

    async fn services(&self) -> Result<Vec<String>, Status> {
        self.state
            .query
            .services()
            .await
            .map_err(|e| storage_grpc(&e))
    }

    fn observe<T>(&self, endpoint: &'static str, started: Instant, result: &Result<T, Status>) {
        self.state
            .metrics
            .query(endpoint)
            .observe(started.elapsed(), result.is_ok());
    }
}

/// A streamed answer, with the warnings of a partial result in a header.
fn streamed<T: Send + 'static>(
    chunks: impl Iterator<Item = T> + Send + 'static,
    warnings: Vec<String>,
    slot: Option<tokio::sync::OwnedSemaphorePermit>,
) -> Response<ChunkStream<T>> {
    // The heavy-query slot is held as long as the stream is.
    let stream = futures::stream::iter(chunks.map(move |chunk| {
        let _held = &slot;
        Ok(chunk)
    }));
    let mut response = Response::new(Box::pin(stream) as ChunkStream<T>);
    if !warnings.is_empty() {
        let text: String = warnings
            .join("; ")
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        if let Ok(value) = text.parse() {
            response.metadata_mut().insert(PARTIAL_HEADER, value);
        }
    }
    response
}

/// Spans of `traces` in groups of at most `per_chunk`, a group never mixing
/// two traces, encoded lazily by `encode`.
fn chunks<T>(
    traces: Vec<Trace>,
    per_chunk: usize,
    encode: fn(&[SpanRecord]) -> T,
) -> impl Iterator<Item = T> + Send + 'static
where
    T: Send + 'static,
{
    let mut traces: VecDeque<Trace> = traces.into();
    let mut at = 0usize;
    std::iter::from_fn(move || {
        loop {
            let trace = traces.front()?;
            if at >= trace.spans.len() {
                traces.pop_front();
                at = 0;
                continue;
            }
            let end = (at + per_chunk).min(trace.spans.len());
            let chunk = encode(&trace.spans[at..end]);
            at = end;
            return Some(chunk);
        }
    })
}

fn v2_chunk(spans: &[SpanRecord]) -> v2::SpansResponseChunk {
    v2::SpansResponseChunk {
        spans: spoor_codec::jaeger_proto::to_query_spans(spans),
    }
}

fn v3_chunk(spans: &[SpanRecord]) -> v3::TracesData {
    v3::TracesData {
        resource_spans: spoor_codec::otlp::to_request(spans)
            .resource_spans
            .iter()
            .map(|rs| rs.encode_to_vec())
            .collect(),
    }
}

fn v2_trace_id(bytes: &[u8]) -> Result<TraceId, Status> {
    <[u8; 16]>::try_from(bytes).map(TraceId).map_err(|_| {
        Status::invalid_argument(format!("a trace ID of {} bytes, not 16", bytes.len()))
    })
}

#[tonic::async_trait]
impl V2Query for QueryGrpc {
    type GetTraceStream = ChunkStream<v2::SpansResponseChunk>;
    type FindTracesStream = ChunkStream<v2::SpansResponseChunk>;

    async fn get_trace(
        &self,
        request: Request<v2::GetTraceRequest>,
    ) -> Result<Response<Self::GetTraceStream>, Status> {
        let started = Instant::now();
        let r = request.into_inner();
        let result = async {
            let query = GetTraceQuery {
                trace_id: v2_trace_id(&r.trace_id)?,
                start: timestamp_nanos(r.start_time)?,
                end: timestamp_nanos(r.end_time)?,
            };
            self.trace_stream(query, r.raw_traces, V2_CHUNK_SPANS, v2_chunk)
                .await
        }
        .await;
        self.observe("grpc_v2_get_trace", started, &result);
        result
    }

    async fn archive_trace(
        &self,
        _: Request<v2::ArchiveTraceRequest>,
    ) -> Result<Response<v2::ArchiveTraceResponse>, Status> {
        Err(Status::unimplemented(
            "archive span storage was not configured",
        ))
    }

    async fn find_traces(
        &self,
        request: Request<v2::FindTracesRequest>,
    ) -> Result<Response<Self::FindTracesStream>, Status> {
        let started = Instant::now();
        let result = async {
            let q = request
                .into_inner()
                .query
                .ok_or_else(|| Status::invalid_argument("missing query"))?;
            let raw = q.raw_traces;
            let query = self.query(Search {
                service: &q.service_name,
                operation: &q.operation_name,
                tags: q.tags.into_iter().collect(),
                start_min: q.start_time_min,
                start_max: q.start_time_max,
                duration_min: q.duration_min,
                duration_max: q.duration_max,
                search_depth: q.search_depth,
            })?;
            self.search_stream(query, raw, V2_CHUNK_SPANS, v2_chunk)
                .await
        }
        .await;
        self.observe("grpc_v2_find_traces", started, &result);
        result
    }

    async fn get_services(
        &self,
        _: Request<v2::GetServicesRequest>,
    ) -> Result<Response<v2::GetServicesResponse>, Status> {
        let started = Instant::now();
        let result = self
            .services()
            .await
            .map(|services| Response::new(v2::GetServicesResponse { services }));
        self.observe("grpc_v2_services", started, &result);
        result
    }

    async fn get_operations(
        &self,
        request: Request<v2::GetOperationsRequest>,
    ) -> Result<Response<v2::GetOperationsResponse>, Status> {
        let started = Instant::now();
        let r = request.into_inner();
        let result = async {
            let ops = self.operations(r.service, &r.span_kind).await?;
            let mut names: Vec<String> = ops.iter().map(|o| o.name.clone()).collect();
            names.dedup();
            Ok(Response::new(v2::GetOperationsResponse {
                operation_names: names,
                operations: ops
                    .into_iter()
                    .map(|o| v2::Operation {
                        name: o.name,
                        span_kind: o.span_kind.jaeger_name().to_owned(),
                    })
                    .collect(),
            }))
        }
        .await;
        self.observe("grpc_v2_operations", started, &result);
        result
    }

    async fn get_dependencies(
        &self,
        request: Request<v2::GetDependenciesRequest>,
    ) -> Result<Response<v2::GetDependenciesResponse>, Status> {
        let started = Instant::now();
        let r = request.into_inner();
        let result = async {
            let links = self.dependencies(r.start_time, r.end_time).await?;
            Ok(Response::new(v2::GetDependenciesResponse {
                dependencies: links
                    .into_iter()
                    .map(|l| v2::DependencyLink {
                        parent: l.parent,
                        child: l.child,
                        call_count: l.call_count,
                        source: String::new(),
                    })
                    .collect(),
            }))
        }
        .await;
        self.observe("grpc_v2_dependencies", started, &result);
        result
    }
}

/// A dependencies window: both ends required, the start before the end.
fn dependency_window(
    start: Option<prost_types::Timestamp>,
    end: Option<prost_types::Timestamp>,
) -> Result<(UnixNanos, UnixNanos), Status> {
    let (Some(start), Some(end)) = (timestamp_nanos(start)?, timestamp_nanos(end)?) else {
        return Err(Status::invalid_argument(
            "start_time and end_time are required",
        ));
    };
    if start > end {
        return Err(Status::invalid_argument(
            "start_time must be before end_time",
        ));
    }
    Ok((start, end))
}

#[tonic::async_trait]
impl V3Query for QueryGrpc {
    type GetTraceStream = ChunkStream<v3::TracesData>;
    type FindTracesStream = ChunkStream<v3::TracesData>;
    type FindTraceSummariesStream = ChunkStream<v3::FindTraceSummariesResponse>;

    async fn get_trace(
        &self,
        request: Request<v3::GetTraceRequest>,
    ) -> Result<Response<Self::GetTraceStream>, Status> {
        let started = Instant::now();
        let r = request.into_inner();
        let result = async {
            let query = GetTraceQuery {
                trace_id: crate::params::parse_trace_id(&r.trace_id)
                    .map_err(Status::invalid_argument)?,
                start: timestamp_nanos(r.start_time)?,
                end: timestamp_nanos(r.end_time)?,
            };
            self.trace_stream(query, r.raw_traces, V3_CHUNK_SPANS, v3_chunk)
                .await
        }
        .await;
        self.observe("grpc_v3_get_trace", started, &result);
        result
    }

    async fn find_traces(
        &self,
        request: Request<v3::FindTracesRequest>,
    ) -> Result<Response<Self::FindTracesStream>, Status> {
        let started = Instant::now();
        let result = async {
            let (query, raw) = self.v3_query(request.into_inner().query)?;
            self.search_stream(query, raw, V3_CHUNK_SPANS, v3_chunk)
                .await
        }
        .await;
        self.observe("grpc_v3_find_traces", started, &result);
        result
    }

    async fn get_services(
        &self,
        _: Request<v3::GetServicesRequest>,
    ) -> Result<Response<v3::GetServicesResponse>, Status> {
        let started = Instant::now();
        let result = self
            .services()
            .await
            .map(|services| Response::new(v3::GetServicesResponse { services }));
        self.observe("grpc_v3_services", started, &result);
        result
    }

    async fn get_operations(
        &self,
        request: Request<v3::GetOperationsRequest>,
    ) -> Result<Response<v3::GetOperationsResponse>, Status> {
        let started = Instant::now();
        let r = request.into_inner();
        let result = async {
            let ops = self.operations(r.service, &r.span_kind).await?;
            Ok(Response::new(v3::GetOperationsResponse {
                operations: ops
                    .into_iter()
                    .map(|o| v3::Operation {
                        name: o.name,
                        // As Jaeger's gRPC handler: the stored kind, empty
                        // when unspecified (its HTTP gateway alone writes
                        // `internal` then).
                        span_kind: o.span_kind.jaeger_name().to_owned(),
                    })
                    .collect(),
            }))
        }
        .await;
        self.observe("grpc_v3_operations", started, &result);
        result
    }

    async fn get_dependencies(
        &self,
        request: Request<v3::GetDependenciesRequest>,
    ) -> Result<Response<v3::DependenciesResponse>, Status> {
        let started = Instant::now();
        let r = request.into_inner();
        let result = async {
            let links = self.dependencies(r.start_time, r.end_time).await?;
            Ok(Response::new(v3::DependenciesResponse {
                dependencies: links
                    .into_iter()
                    .map(|l| v3::Dependency {
                        parent: l.parent,
                        child: l.child,
                        call_count: l.call_count,
                    })
                    .collect(),
            }))
        }
        .await;
        self.observe("grpc_v3_dependencies", started, &result);
        result
    }

    async fn find_trace_summaries(
        &self,
        request: Request<v3::FindTraceSummariesRequest>,
    ) -> Result<Response<Self::FindTraceSummariesStream>, Status> {
        let started = Instant::now();
        let result = async {
            let (query, _) = self.v3_query(request.into_inner().query)?;
            let slot = self.slot().await?;
            let Partial { value, warnings } = self
                .state
                .query
                .find_trace_summaries_partial(&query)
                .await
                .map_err(|e| storage_grpc(&e))?;
            let summaries: Vec<v3::TraceSummary> = value
                .into_iter()
                .map(|s| v3::TraceSummary {
                    trace_id: s.trace_id.to_hex(),
                    root_service_name: s.root_service_name,
                    root_operation_name: s.root_operation_name,
                    min_start_time_unix_nano: s.min_start_time_unix_nano,
                    max_end_time_unix_nano: s.max_end_time_unix_nano,
                    span_count: clamp(s.span_count),
                    error_span_count: clamp(s.error_span_count),
                    orphan_span_count: clamp(s.orphan_span_count),
                    services: s
                        .services
                        .into_iter()
                        .map(|svc| v3::ServiceSummary {
                            name: svc.name,
                            span_count: clamp(svc.span_count),
                            error_span_count: clamp(svc.error_span_count),
                        })
                        .collect(),
                })
                .collect();
            let mut rest: VecDeque<v3::TraceSummary> = summaries.into();
            let pages = std::iter::from_fn(move || {
                if rest.is_empty() {
                    return None;
                }
                let n = rest.len().min(V3_CHUNK_SPANS);
                Some(v3::FindTraceSummariesResponse {
                    summaries: rest.drain(..n).collect(),
                })
            });
            Ok(streamed(pages, warnings, slot))
        }
        .await;
        self.observe("grpc_v3_trace_summaries", started, &result);
        result
    }
}

fn clamp(n: impl TryInto<i32>) -> i32 {
    n.try_into().unwrap_or(i32::MAX)
}

impl QueryGrpc {
    fn v3_query(&self, q: Option<v3::TraceQueryParameters>) -> Result<(TraceQuery, bool), Status> {
        let q = q.ok_or_else(|| Status::invalid_argument("missing query"))?;
        if !q.filter.is_empty() {
            return Err(Status::invalid_argument(
                "filter expressions (query.filter) are not supported over gRPC; use the HTTP api_v3",
            ));
        }
        if q.start_time_min.is_none() || q.start_time_max.is_none() {
            return Err(Status::invalid_argument(
                "start_time_min and start_time_max are required",
            ));
        }
        let raw = q.raw_traces;
        let query = self.query(Search {
            service: &q.service_name,
            operation: &q.operation_name,
            tags: q.attributes.into_iter().collect(),
            start_min: q.start_time_min,
            start_max: q.start_time_max,
            duration_min: q.duration_min,
            duration_max: q.duration_max,
            search_depth: q.search_depth,
        })?;
        Ok((query, raw))
    }
}

/// `grpc.health.v1.Health`: `SERVING` while the server is ready, for the
/// whole server (`""`) and each query service.
#[derive(Clone)]
struct HealthService {
    state: Arc<AppState>,
}

const SERVICES: [&str; 3] = [
    "",
    "jaeger.api_v2.QueryService",
    "jaeger.api_v3.QueryService",
];

impl HealthService {
    fn status(&self, service: &str) -> Result<HealthCheckResponse, Status> {
        if !SERVICES.contains(&service) {
            return Err(Status::not_found(format!("unknown service {service:?}")));
        }
        let status = if self.state.is_ready() {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        Ok(HealthCheckResponse {
            status: status as i32,
        })
    }
}

#[tonic::async_trait]
impl Health for HealthService {
    type WatchStream = ChunkStream<HealthCheckResponse>;

    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        self.status(&request.into_inner().service)
            .map(Response::new)
    }

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let now = self.status(&request.into_inner().service)?;
        // The status is sent once; the stream stays open (it changes only
        // when the server stops, which ends the stream).
        let stream = futures::StreamExt::chain(
            futures::stream::once(async move { Ok(now) }),
            futures::stream::pending(),
        );
        Ok(Response::new(Box::pin(stream)))
    }
}

/// The services of the query gRPC listener that reflection names (besides
/// the reflection services themselves).
pub const REFLECTED_SERVICES: [&str; 3] = [
    "jaeger.api_v2.QueryService",
    "jaeger.api_v3.QueryService",
    "grpc.health.v1.Health",
];

/// The reflection services' error: the compiled descriptors did not decode
/// or lack a file (a build defect, reported rather than served wrong).
#[derive(Debug, thiserror::Error)]
pub enum ReflectionError {
    #[error("the compiled protobuf descriptors do not decode: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error("the compiled protobuf descriptors have no file defining {0}")]
    MissingService(String),
    #[error("the compiled protobuf descriptors import {0}, which they do not contain")]
    MissingFile(String),
    #[error(transparent)]
    Build(#[from] tonic_reflection::server::Error),
}

/// The files of [`spoor_proto::FILE_DESCRIPTOR_SET`] that define `services`
/// (fully qualified names), with every file they import, in the set's order:
/// what reflection may show without describing internal services (the
/// cluster API, the collector's) that this listener does not serve.
pub fn descriptors_of(
    services: &[&str],
) -> Result<prost_types::FileDescriptorSet, ReflectionError> {
    let all = prost_types::FileDescriptorSet::decode(spoor_proto::FILE_DESCRIPTOR_SET)?;
    let mut wanted: Vec<&str> = Vec::new();
    for &service in services {
        let file = all
            .file
            .iter()
            .find(|f| {
                f.service.iter().any(|s| {
                    let package = f.package();
                    let name = s.name();
                    if package.is_empty() {
                        service == name
                    } else {
                        service
                            .strip_prefix(package)
                            .and_then(|r| r.strip_prefix('.'))
                            == Some(name)
                    }
                })
            })
            .ok_or_else(|| ReflectionError::MissingService(service.to_owned()))?;
        wanted.push(file.name());
    }
    let mut i = 0;
    while let Some(&name) = wanted.get(i) {
        i += 1;
        let file = all
            .file
            .iter()
            .find(|f| f.name() == name)
            .ok_or_else(|| ReflectionError::MissingFile(name.to_owned()))?;
        for dep in &file.dependency {
            if !wanted.contains(&dep.as_str()) {
                wanted.push(dep);
            }
        }
    }
    let file = all
        .file
        .iter()
        .filter(|f| wanted.contains(&f.name()))
        .cloned()
        .collect();
    Ok(prost_types::FileDescriptorSet { file })
}

/// The v1 and v1alpha reflection services of the query gRPC listener. Both
/// list [`REFLECTED_SERVICES`] and both reflection services (as Go's gRPC
/// servers do) and describe only their files.
#[allow(clippy::type_complexity)]
pub fn reflection_services() -> Result<
    (
        tonic_reflection::server::v1::ServerReflectionServer<
            impl tonic_reflection::server::v1::ServerReflection,
        >,
        tonic_reflection::server::v1alpha::ServerReflectionServer<
            impl tonic_reflection::server::v1alpha::ServerReflection,
        >,
    ),
    ReflectionError,
> {
    let files = descriptors_of(&REFLECTED_SERVICES)?;
    let builder = || {
        tonic_reflection::server::Builder::configure()
            .register_file_descriptor_set(files.clone())
            .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(
                tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
            )
            .include_reflection_service(false)
    };
    Ok((builder().build_v1()?, builder().build_v1alpha()?))
}

/// Serves the gRPC query API on `listener` until `shutdown`.
pub async fn serve_grpc(
    listener: impl Into<crate::net::ProtectedListener>,
    state: Arc<AppState>,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    let listener = listener.into();
    let (reflection_v1, reflection_v1alpha) =
        reflection_services().map_err(|e| ServerError::Serve {
            what: "query gRPC",
            message: e.to_string(),
        })?;
    listener
        .grpc_server()
        .add_service(crate::tenancy::TenantGrpc::new(&state, |s| {
            V2Server::new(QueryGrpc::new(s))
        }))
        .add_service(crate::tenancy::TenantGrpc::new(&state, |s| {
            V3Server::new(QueryGrpc::new(s))
        }))
        .add_service(HealthServer::new(HealthService { state }))
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .serve_with_incoming_shutdown(listener.grpc_incoming(), shutdown.cancelled_owned())
        .await
        .map_err(|e| ServerError::Serve {
            what: "query gRPC",
            message: e.to_string(),
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reflection_describes_only_the_served_services() {
        let files = descriptors_of(&REFLECTED_SERVICES).unwrap();
        let mut names: Vec<&str> = files.file.iter().map(|f| f.name()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "google/protobuf/duration.proto",
                "google/protobuf/timestamp.proto",
                "grpc_health.proto",
                "jaeger/api_v2/model.proto",
                "jaeger/api_v2/query.proto",
                "jaeger/api_v3/query_service.proto",
            ]
        );
        let mut services: Vec<String> = files
            .file
            .iter()
            .flat_map(|f| {
                f.service
                    .iter()
                    .map(|s| format!("{}.{}", f.package(), s.name()))
            })
            .collect();
        services.sort_unstable();
        let mut expected = REFLECTED_SERVICES;
        expected.sort_unstable();
        assert_eq!(services, expected);
        assert!(matches!(
            descriptors_of(&["spoor.cluster.v1.Nope"]),
            Err(ReflectionError::MissingService(_))
        ));
        assert!(reflection_services().is_ok());
    }

    #[test]
    fn chunks_never_mix_traces_and_keep_every_span() {
        let trace = |id: u64, n: u64| Trace {
            trace_id: spoor_model::testing::trace_id(id),
            spans: (0..n)
                .map(|i| spoor_model::testing::record().trace(id).id(i + 1).build())
                .collect(),
            warnings: Vec::new(),
        };
        let sizes: Vec<(usize, TraceId)> = chunks(vec![trace(1, 25), trace(2, 3)], 10, |s| {
            (s.len(), s[0].span.trace_id)
        })
        .collect();
        let t1 = spoor_model::testing::trace_id(1);
        let t2 = spoor_model::testing::trace_id(2);
        assert_eq!(sizes, [(10, t1), (10, t1), (5, t1), (3, t2)]);
    }

    #[test]
    fn times_and_durations_are_checked() {
        assert_eq!(timestamp_nanos(None).unwrap(), None);
        // Go's zero time.Time, as gogo's non-nullable timestamps send it.
        assert_eq!(
            timestamp_nanos(Some(prost_types::Timestamp {
                seconds: -62_135_596_800,
                nanos: 0
            }))
            .unwrap(),
            None
        );
        assert_eq!(
            timestamp_nanos(Some(prost_types::Timestamp {
                seconds: 2,
                nanos: 5
            }))
            .unwrap(),
            Some(2_000_000_005)
        );
        assert!(
            timestamp_nanos(Some(prost_types::Timestamp {
                seconds: -1,
                nanos: 0
            }))
            .is_err()
        );
        assert!(
            duration_nanos(Some(prost_types::Duration {
                seconds: -1,
                nanos: 0
            }))
            .is_err()
        );
        assert!(dependency_window(None, None).is_err());
    }
}
