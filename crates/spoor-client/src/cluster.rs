//! The querier's side of Spoor's internal API (`spoor.cluster.v1.Head`,
//! ADR 0025): each collector's head as a
//! [`RecentSource`](spoor_storage::federate::RecentSource) ([`RemoteHead`]),
//! collectors found by a static list or by DNS ([`Collectors`]), and the
//! conversions between the storage types and the API's messages, shared
//! with the server in spoor-server.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::credentials::ClientSecurity;
use crate::grpc::GrpcChannel;
use async_trait::async_trait;
use parking_lot::Mutex;
use spoor_model::{DependencyLink, SpanKind, Trace, TraceId, UnixNanos};
use spoor_proto::spoor::cluster as pb;
use spoor_proto::spoor::cluster::head_client::HeadClient;
use spoor_storage::federate::{Recent, RecentSource, SourceList};
use spoor_storage::{
    FilterExpr, FoundTrace, LatencySketch, Operation, OperationQuery, RedQuery, RedRow, RedStats,
    StorageError, StorageErrorKind, TagFilter, TraceQuery,
};

/// The largest answer a querier reads from a collector (a `GetTraces` of
/// many large traces); larger answers fail with a clear status.
pub const MAX_ANSWER_BYTES: usize = 256 << 20;

/// The search, as the API sends it.
pub fn query_to_proto(q: &TraceQuery) -> pb::TraceQuery {
    pb::TraceQuery {
        service: q.service.clone(),
        operation: q.operation.clone(),
        tags: q
            .tags
            .iter()
            .map(|t| pb::TagFilter {
                key: t.key.clone(),
                value: t.value.to_string_lossy(),
            })
            .collect(),
        start_min: q.start_min,
        start_max: q.start_max,
        duration_min: q.duration_min,
        duration_max: q.duration_max,
        filter: q.filter.as_ref().map(|f| f.source().to_owned()),
        trace_duration_min: q.trace_duration_min,
        trace_duration_max: q.trace_duration_max,
        limit: u32::try_from(q.limit).unwrap_or(u32::MAX),
    }
}

/// The search a request carries; an unparseable filter or a zero limit is
/// an invalid query.
pub fn query_from_proto(q: pb::TraceQuery) -> Result<TraceQuery, StorageError> {
    let filter = match q.filter {
        Some(text) => Some(Arc::new(
            FilterExpr::parse(&text).map_err(|e| StorageError::invalid_query(e.to_string()))?,
        )),
        None => None,
    };
    if q.limit == 0 {
        return Err(StorageError::invalid_query("the limit must be at least 1"));
    }
    Ok(TraceQuery {
        service: q.service,
        operation: q.operation,
        tags: q
            .tags
            .into_iter()
            .map(|t| TagFilter::new(t.key, t.value))
            .collect(),
        start_min: q.start_min,
        start_max: q.start_max,
        duration_min: q.duration_min,
        duration_max: q.duration_max,
        filter,
        trace_duration_min: q.trace_duration_min,
        trace_duration_max: q.trace_duration_max,
        limit: q.limit as usize,
    })
}

/// A trace ID from the API (16 bytes), else an invalid query.
pub fn trace_id_from_bytes(bytes: &[u8]) -> Result<TraceId, StorageError> {
    <[u8; 16]>::try_from(bytes)
        .map(TraceId)
        .map_err(|_| StorageError::invalid_query(format!("a trace ID of {} bytes", bytes.len())))
}

pub fn found_to_proto(f: &FoundTrace) -> pb::FoundTrace {
    pb::FoundTrace {
        trace_id: f.trace_id.0.to_vec(),
        start: f.start,
        end: f.end,
    }
}

pub fn operation_to_proto(o: &Operation) -> pb::Operation {
    pb::Operation {
        name: o.name.clone(),
        span_kind: o.span_kind as i32,
    }
}

pub fn link_to_proto(l: &DependencyLink) -> pb::DependencyLink {
    pb::DependencyLink {
        parent: l.parent.clone(),
        child: l.child.clone(),
        call_count: l.call_count,
    }
}

/// The RED statistics request for a query.
pub fn red_query_to_proto(q: &RedQuery) -> pb::RedStatsRequest {
    pb::RedStatsRequest {
        services: q.services.clone(),
        span_kinds: q.span_kinds.iter().map(|k| *k as i32).collect(),
        start: q.start,
        end: q.end,
    }
}

/// The query a RED statistics request carries.
pub fn red_query_from_proto(r: pb::RedStatsRequest) -> RedQuery {
    RedQuery {
        services: r.services,
        span_kinds: r.span_kinds.into_iter().map(SpanKind::from_i32).collect(),
        start: r.start,
        end: r.end,
    }
}

pub fn red_row_to_proto(row: &RedRow) -> pb::RedRow {
    let (bucket_index, bucket_count) = row
        .stats
        .latency
        .buckets()
        .map(|(i, n)| (u32::from(i), n))
        .unzip();
    pb::RedRow {
        minute: row.minute,
        service: row.service.clone(),
        operation: row.operation.clone(),
        span_kind: row.span_kind as i32,
        calls: row.stats.calls,
        errors: row.stats.errors,
        zero: row.stats.latency.zero_count(),
        bucket_index,
        bucket_count,
    }
}

/// A row as sent; a latency sketch whose buckets do not pair up or are out
/// of range is an error, never a guess.
pub fn red_row_from_proto(row: pb::RedRow) -> Result<RedRow, StorageError> {
    let bad = |why: &str| {
        StorageError::new(
            StorageErrorKind::Internal,
            format!("a collector sent a malformed RED row: {why}"),
        )
    };
    if row.bucket_index.len() != row.bucket_count.len() {
        return Err(bad("bucket indexes and counts differ in number"));
    }
    let mut buckets = Vec::with_capacity(row.bucket_index.len());
    for (i, n) in row.bucket_index.into_iter().zip(row.bucket_count) {
        buckets.push((
            u16::try_from(i).map_err(|_| bad("bucket index out of range"))?,
            n,
        ));
    }
    let latency = LatencySketch::from_parts(row.zero, buckets)
        .ok_or_else(|| bad("bucket index out of range"))?;
    Ok(RedRow {
        minute: row.minute,
        service: row.service,
        operation: row.operation,
        span_kind: SpanKind::from_i32(row.span_kind),
        stats: RedStats {
            calls: row.calls,
            errors: row.errors,
            latency,
        },
    })
}

/// The operations request for a query.
pub fn operations_request(q: &OperationQuery) -> pb::OperationsRequest {
    pb::OperationsRequest {
        service: q.service.clone(),
        span_kind: q.span_kind.map(|k| k as i32),
    }
}

/// The operations query a request carries.
pub fn operations_query(r: pb::OperationsRequest) -> OperationQuery {
    OperationQuery {
        service: r.service,
        span_kind: r.span_kind.map(SpanKind::from_i32),
    }
}

/// Traces as one OTLP request's protobuf bytes.
pub fn encode_traces(traces: &[Trace]) -> Vec<u8> {
    let spans: Vec<spoor_model::SpanRecord> = traces
        .iter()
        .flat_map(|t| t.spans.iter().cloned())
        .collect();
    spoor_codec::otlp::encode_request(&spans)
}

/// The traces of OTLP protobuf bytes, in the order of `order` (IDs not in
/// the bytes are left out).
pub fn decode_traces(bytes: &[u8], order: &[TraceId]) -> Result<Vec<Trace>, StorageError> {
    let batch = spoor_codec::otlp::decode_request(bytes).map_err(|e| {
        StorageError::new(
            StorageErrorKind::Internal,
            format!("a collector answered with spans that do not decode: {e}"),
        )
    })?;
    let mut by_id: HashMap<TraceId, Vec<spoor_model::SpanRecord>> = HashMap::new();
    for record in batch.spans {
        by_id.entry(record.span.trace_id).or_default().push(record);
    }
    Ok(order
        .iter()
        .filter_map(|id| {
            by_id.remove(id).map(|spans| Trace {
                trace_id: *id,
                spans,
                warnings: Vec::new(),
            })
        })
        .collect())
}

fn status_error(name: &str, status: tonic::Status) -> StorageError {
    let kind = match status.code() {
        tonic::Code::InvalidArgument => StorageErrorKind::InvalidQuery,
        tonic::Code::Unavailable
        | tonic::Code::DeadlineExceeded
        | tonic::Code::ResourceExhausted => StorageErrorKind::Unavailable,
        _ => StorageErrorKind::Internal,
    };
    StorageError::new(
        kind,
        format!("{name}: {:?}: {}", status.code(), status.message()),
    )
}

fn recent<T>(value: T, recent: Option<pb::Recent>) -> Recent<T> {
    let r = recent.unwrap_or_default();
    Recent {
        value,
        blocks: r.blocks,
        warnings: r.warnings,
    }
}

/// One collector's head over the internal API.
pub struct RemoteHead {
    name: String,
    client: HeadClient<GrpcChannel>,
}

impl RemoteHead {
    /// The head of the collector at `addr` (`HOST:PORT`), connected on first
    /// use, over TLS when `security` has TLS options, with its credentials.
    pub fn new(
        addr: &str,
        request_timeout: Duration,
        security: &ClientSecurity,
    ) -> Result<RemoteHead, String> {
        let channel =
            crate::grpc::lazy_channel_to(addr, Duration::from_secs(2), request_timeout, security)?;
        Ok(RemoteHead {
            name: addr.to_owned(),
            client: HeadClient::new(channel).max_decoding_message_size(MAX_ANSWER_BYTES),
        })
    }
}

#[async_trait]
impl RecentSource for RemoteHead {
    fn name(&self) -> &str {
        &self.name
    }

    async fn find_trace_ids(
        &self,
        query: &TraceQuery,
    ) -> Result<Recent<Vec<FoundTrace>>, StorageError> {
        let answer = self
            .client
            .clone()
            .find_trace_ids(pb::FindTraceIdsRequest {
                query: Some(query_to_proto(query)),
            })
            .await
            .map_err(|s| status_error(&self.name, s))?
            .into_inner();
        let mut found = Vec::with_capacity(answer.traces.len());
        for f in answer.traces {
            found.push(FoundTrace::new(
                trace_id_from_bytes(&f.trace_id)?,
                f.start,
                f.end,
            ));
        }
        Ok(recent(found, answer.recent))
    }

    async fn get_traces(&self, ids: &[TraceId]) -> Result<Recent<Vec<Trace>>, StorageError> {
        let answer = self
            .client
            .clone()
            .get_traces(pb::GetTracesRequest {
                trace_ids: ids.iter().map(|id| id.0.to_vec()).collect(),
            })
            .await
            .map_err(|s| status_error(&self.name, s))?
            .into_inner();
        let traces = if answer.otlp.is_empty() {
            Vec::new()
        } else {
            decode_traces(&answer.otlp, ids)?
        };
        Ok(recent(traces, answer.recent))
    }

    async fn services(&self) -> Result<Recent<Vec<String>>, StorageError> {
        let answer = self
            .client
            .clone()
            .services(pb::ServicesRequest {})
            .await
            .map_err(|s| status_error(&self.name, s))?
            .into_inner();
        Ok(recent(answer.services, answer.recent))
    }

    async fn operations(
        &self,
        query: &OperationQuery,
    ) -> Result<Recent<Vec<Operation>>, StorageError> {
        let answer = self
            .client
            .clone()
            .operations(operations_request(query))
            .await
            .map_err(|s| status_error(&self.name, s))?
            .into_inner();
        let ops = answer
            .operations
            .into_iter()
            .map(|o| Operation {
                name: o.name,
                span_kind: SpanKind::from_i32(o.span_kind),
            })
            .collect();
        Ok(recent(ops, answer.recent))
    }

    async fn dependencies(
        &self,
        start: UnixNanos,
        end: UnixNanos,
    ) -> Result<Recent<Vec<DependencyLink>>, StorageError> {
        let answer = self
            .client
            .clone()
            .dependencies(pb::DependenciesRequest { start, end })
            .await
            .map_err(|s| status_error(&self.name, s))?
            .into_inner();
        let links = answer
            .links
            .into_iter()
            .map(|l| DependencyLink {
                parent: l.parent,
                child: l.child,
                call_count: l.call_count,
            })
            .collect();
        Ok(recent(links, answer.recent))
    }

    async fn red_stats(&self, query: &RedQuery) -> Result<Recent<Vec<RedRow>>, StorageError> {
        let answer = self
            .client
            .clone()
            .red_stats(red_query_to_proto(query))
            .await
            .map_err(|s| status_error(&self.name, s))?
            .into_inner();
        let rows = answer
            .rows
            .into_iter()
            .map(red_row_from_proto)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StorageError::new(e.kind, format!("{}: {e}", self.name)))?;
        Ok(recent(rows, answer.recent))
    }
}

/// Where the collectors are: `HOST:PORT` entries, or `dns+NAME:PORT`
/// entries resolved again every `resolve_every` (every address a name has
/// is one collector: a Kubernetes headless Service).
pub struct Collectors {
    entries: Vec<Entry>,
    request_timeout: Duration,
    resolve_every: Duration,
    /// TLS and credentials of the connections to collectors.
    security: ClientSecurity,
    /// Heads by address, kept while their address is in use.
    heads: Mutex<HashMap<String, Arc<RemoteHead>>>,
    resolved: Mutex<HashMap<String, Lookup>>,
}

/// A DNS lookup's result: when, the addresses, and why it failed (the
/// addresses are then the previous lookup's).
type Lookup = (Instant, Vec<SocketAddr>, Option<String>);

enum Entry {
    Static(String),
    Dns { name: String, port: u16 },
}

impl Collectors {
    /// Parses a comma-separated list (`HOST:PORT` or `dns+NAME:PORT`).
    pub fn parse(
        list: &str,
        request_timeout: Duration,
        resolve_every: Duration,
    ) -> Result<Collectors, String> {
        let mut entries = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (dns, rest) = match item.strip_prefix("dns+") {
                Some(rest) => (true, rest),
                None => (false, item),
            };
            let (host, port) = rest.rsplit_once(':').ok_or_else(|| {
                format!("collector {item:?}: expected HOST:PORT or dns+NAME:PORT")
            })?;
            let port: u16 = port
                .parse()
                .map_err(|_| format!("collector {item:?}: {port:?} is not a port"))?;
            if host.is_empty() {
                return Err(format!("collector {item:?}: no host"));
            }
            entries.push(if dns {
                Entry::Dns {
                    name: host.to_owned(),
                    port,
                }
            } else {
                Entry::Static(rest.to_owned())
            });
        }
        Ok(Collectors {
            entries,
            request_timeout,
            resolve_every,
            security: ClientSecurity::default(),
            heads: Mutex::new(HashMap::new()),
            resolved: Mutex::new(HashMap::new()),
        })
    }

    /// The collectors reached over TLS (when `security` has TLS options)
    /// and with its credentials (`cluster.tls_*`, `cluster.bearer_token_file`).
    /// A collector found by `dns+NAME:PORT` is reached by address, and its
    /// certificate is checked against `NAME` unless a server name is set.
    pub fn with_security(mut self, security: ClientSecurity) -> Collectors {
        self.security = security;
        self
    }

    /// Whether no collector is configured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn head(&self, addr: &str, dns_name: Option<&str>) -> Result<Arc<RemoteHead>, String> {
        let mut heads = self.heads.lock();
        if let Some(h) = heads.get(addr) {
            return Ok(Arc::clone(h));
        }
        let head = match dns_name {
            Some(name)
                if self.security.tls.any_set() && self.security.tls.server_name.is_none() =>
            {
                let mut security = self.security.clone();
                security.tls.server_name = Some(name.to_owned());
                RemoteHead::new(addr, self.request_timeout, &security)?
            }
            _ => RemoteHead::new(addr, self.request_timeout, &self.security)?,
        };
        let head = Arc::new(head);
        heads.insert(addr.to_owned(), Arc::clone(&head));
        Ok(head)
    }

    /// The addresses of `name`, from the cache while fresh; a failed lookup
    /// keeps the last addresses and says why.
    async fn resolve(&self, name: &str, port: u16) -> (Vec<SocketAddr>, Option<String>) {
        let key = format!("{name}:{port}");
        if let Some((at, addrs, error)) = self.resolved.lock().get(&key)
            && at.elapsed() < self.resolve_every
        {
            return (addrs.clone(), error.clone());
        }
        let looked_up = tokio::net::lookup_host(key.clone()).await;
        let mut resolved = self.resolved.lock();
        let previous = resolved
            .get(&key)
            .map(|(_, a, _)| a.clone())
            .unwrap_or_default();
        let (addrs, error) = match looked_up {
            Ok(found) => {
                let mut addrs: Vec<SocketAddr> = found.collect();
                addrs.sort();
                addrs.dedup();
                (addrs, None)
            }
            Err(e) => (
                previous,
                Some(format!("cannot resolve the collectors' name {name}: {e}")),
            ),
        };
        resolved.insert(key, (Instant::now(), addrs.clone(), error.clone()));
        (addrs, error)
    }
}

#[async_trait]
impl SourceList for Collectors {
    async fn sources(&self) -> (Vec<Arc<dyn RecentSource>>, Vec<String>) {
        // Each address with the DNS name it was found by, if any.
        let mut found_addrs: Vec<(String, Option<&str>)> = Vec::new();
        let mut warnings = Vec::new();
        for entry in &self.entries {
            match entry {
                Entry::Static(addr) => found_addrs.push((addr.clone(), None)),
                Entry::Dns { name, port } => {
                    let (found, error) = self.resolve(name, *port).await;
                    warnings.extend(error);
                    found_addrs.extend(found.iter().map(|a| (a.to_string(), Some(name.as_str()))));
                }
            }
        }
        found_addrs.sort();
        found_addrs.dedup_by(|a, b| a.0 == b.0);
        let addrs: Vec<String> = found_addrs.iter().map(|(a, _)| a.clone()).collect();
        let mut sources: Vec<Arc<dyn RecentSource>> = Vec::with_capacity(addrs.len());
        for (addr, dns_name) in &found_addrs {
            match self.head(addr, *dns_name) {
                Ok(head) => sources.push(head),
                Err(e) => warnings.push(e),
            }
        }
        self.heads.lock().retain(|a, _| addrs.contains(a));
        (sources, warnings)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_search_crosses_the_api_unchanged() {
        let query = TraceQuery {
            service: Some("front".into()),
            operation: Some("GET /".into()),
            tags: vec![TagFilter::new("http.status_code", "500")],
            start_min: Some(1),
            start_max: Some(2),
            duration_min: Some(3),
            duration_max: Some(4),
            filter: Some(Arc::new(FilterExpr::parse("duration > 5ms").unwrap())),
            trace_duration_min: Some(5),
            trace_duration_max: Some(6),
            limit: 20,
        };
        assert_eq!(query_from_proto(query_to_proto(&query)).unwrap(), query);
        let mut bad = query_to_proto(&query);
        bad.limit = 0;
        assert!(query_from_proto(bad).is_err());
        let mut bad = query_to_proto(&query);
        bad.filter = Some("((".into());
        assert!(query_from_proto(bad).is_err());
        assert!(trace_id_from_bytes(&[1, 2, 3]).is_err());
    }

    #[test]
    fn collector_lists_parse_or_say_why_not() {
        let t = Duration::from_secs(1);
        let c =
            Collectors::parse("127.0.0.1:14300, dns+spoor-collector-headless:14300", t, t).unwrap();
        assert_eq!(c.entries.len(), 2);
        assert!(
            matches!(&c.entries[1], Entry::Dns { name, port: 14300 } if name == "spoor-collector-headless")
        );
        for bad in ["host", "host:x", ":1", "dns+:1"] {
            assert!(Collectors::parse(bad, t, t).is_err(), "{bad}");
        }
        assert!(Collectors::parse("", t, t).unwrap().is_empty());
    }

    #[tokio::test]
    async fn dns_entries_resolve_to_one_head_per_address() {
        let t = Duration::from_secs(1);
        let c = Collectors::parse("dns+localhost:14300,127.0.0.1:14300", t, t).unwrap();
        let (sources, warnings) = c.sources().await;
        assert!(warnings.is_empty(), "{warnings:?}");
        let names: Vec<&str> = sources.iter().map(|s| s.name()).collect();
        assert!(names.contains(&"127.0.0.1:14300"), "{names:?}");
        assert_eq!(
            names.iter().filter(|n| **n == "127.0.0.1:14300").count(),
            1,
            "one head per address: {names:?}"
        );
    }
}
