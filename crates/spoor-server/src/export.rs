//! `GET /api/export`: every trace matching a search, streamed, without a
//! result limit (docs/export.md).
//!
//! The search parameters are those of `/api/traces` (parsed by the same
//! code), except that `limit` is ignored and a missing `start` means "from
//! the beginning" rather than "two days ago". `format` chooses the encoding.
//!
//! Data that storage cannot read (a damaged block) is skipped as in every
//! search, and the answer says so: one `Spoor-Warning` field per warning,
//! in the response head for what was known before the first byte and in the
//! trailer (declared by `Trailer: Spoor-Warning`) for what was found while
//! streaming; the log says it too.
//!
//! This module is only the HTTP half: the pager that walks a search without
//! truncating it is `spoor_service::export::TracePager` (its docs explain
//! the paging), the encoders are `spoor_codec::export`. `spoor export
//! --data-dir` uses both, and [`pager_from_query`], directly.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;
use http_body::Frame;
use http_body_util::StreamBody;
use spoor_codec::export::{ExportFormat, TraceEncoder};
use spoor_model::{Trace, UnixNanos};
use spoor_service::QueryService;
use spoor_service::export::{DEFAULT_PAGE_TRACES, TracePager};

use crate::AppState;
use crate::api_legacy::parse_search;
use crate::error::LegacyApiError;
use crate::params::QueryParams;

/// Encoded bytes are handed to the connection in chunks of about this size.
const CHUNK_BYTES: usize = 256 << 10;

/// The header and trailer field of a warning about data the export skipped.
pub const WARNING_FIELD: &str = "spoor-warning";
/// Warnings written as fields at most, per head or trailer; the rest are
/// counted in one last field.
const MAX_WARNING_FIELDS: usize = 32;

/// Appends `warnings` to `fields` as `Spoor-Warning` values (visible ASCII,
/// at most 1,000 characters each).
pub(crate) fn warning_fields(fields: &mut HeaderMap, warnings: &[String]) {
    let clean = |w: &str| -> HeaderValue {
        let text: String = w
            .chars()
            .map(|c| {
                if c == ' ' || c.is_ascii_graphic() {
                    c
                } else {
                    '?'
                }
            })
            .take(1000)
            .collect();
        HeaderValue::from_str(&text)
            .unwrap_or_else(|_| HeaderValue::from_static("unreadable data was skipped"))
    };
    for w in warnings.iter().take(MAX_WARNING_FIELDS) {
        fields.append(WARNING_FIELD, clean(w));
    }
    if warnings.len() > MAX_WARNING_FIELDS {
        fields.append(
            WARNING_FIELD,
            clean(&format!(
                "and {} more warnings",
                warnings.len() - MAX_WARNING_FIELDS
            )),
        );
    }
}

/// The routes of the export endpoint.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/api/export", get(export))
        .with_state(state)
}

fn now_nanos() -> UnixNanos {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The `format` parameter (`jaeger-jsonl` when absent).
fn parse_format(params: &QueryParams) -> Result<ExportFormat, LegacyApiError> {
    Ok(match params.get("format") {
        "" => ExportFormat::JaegerJsonl,
        name => ExportFormat::parse(name).ok_or_else(|| {
            let names: Vec<&str> = ExportFormat::ALL.iter().map(|(_, n)| *n).collect();
            LegacyApiError::bad_request(format!(
                "unknown export format {name:?}; expected one of {}",
                names.join(", ")
            ))
        })?,
    })
}

/// The pager of an export from the search parameters of `/api/export` (a
/// raw query string, `format` and `limit` ignored), over `service`. `spoor
/// export --data-dir` uses this too, so both read a search the same way.
pub fn pager_from_query(
    service: Arc<QueryService>,
    raw_query: &str,
) -> Result<TracePager, LegacyApiError> {
    let params = QueryParams::parse(Some(raw_query));
    let page = match params.get("pageSize") {
        "" => DEFAULT_PAGE_TRACES,
        v => v
            .parse::<usize>()
            .ok()
            .filter(|n| (10..=100_000).contains(n))
            .ok_or_else(|| {
                LegacyApiError::bad_request(format!(
                    "invalid parameter: pageSize must be between 10 and 100000, got {v:?}"
                ))
            })?,
    };
    let req = parse_search(&params)?;
    if !req.trace_ids.is_empty() {
        return Ok(TracePager::by_ids(service, req.trace_ids, page));
    }
    let mut query = req.query;
    query.start_min = Some(req.hint_start.unwrap_or(0));
    query.start_max = Some(req.hint_end.unwrap_or_else(now_nanos));
    if query.start_min > query.start_max {
        return Err(LegacyApiError::bad_request(
            "invalid parameter: start time must be before end time",
        ));
    }
    if query.service.is_none() && !service.capabilities().search_without_service {
        return Err(LegacyApiError::bad_request(
            "this storage needs a service name to search",
        ));
    }
    Ok(TracePager::search(service, query, page))
}

struct Streaming {
    state: Arc<AppState>,
    pager: TracePager,
    encoder: TraceEncoder,
    pending: Option<Vec<Trace>>,
    finished: bool,
    /// Whether the trailer was written (or must not be: the stream failed).
    trailer_done: bool,
    /// Warnings already in the response head.
    warned: usize,
    traces: u64,
    started: Instant,
}

type Chunk = Result<Frame<Bytes>, std::io::Error>;

impl Streaming {
    async fn next_chunk(&mut self) -> Option<Chunk> {
        if self.finished {
            if self.trailer_done {
                return None;
            }
            self.trailer_done = true;
            let warnings = self.pager.take_warnings();
            if warnings.is_empty() {
                return None;
            }
            tracing::warn!(
                warnings = warnings.len() + self.warned,
                first = %warnings[0],
                "the export skipped data that could not be read; it is incomplete"
            );
            let mut trailer = HeaderMap::new();
            warning_fields(&mut trailer, &warnings);
            return Some(Ok(Frame::trailers(trailer)));
        }
        let mut out = Vec::new();
        loop {
            let page = match self.pending.take() {
                Some(p) => Some(p),
                None => match self.pager.next_page().await {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!(error = %e, traces = self.traces, "export failed midway");
                        self.finished = true;
                        self.trailer_done = true;
                        return Some(Err(std::io::Error::other(e.to_string())));
                    }
                },
            };
            let Some(traces) = page else {
                self.encoder.finish(&mut out);
                self.finished = true;
                tracing::info!(
                    traces = self.traces,
                    elapsed_ms = self.started.elapsed().as_millis() as u64,
                    "export finished"
                );
                return Some(Ok(Frame::data(Bytes::from(out))));
            };
            self.traces += traces.len() as u64;
            let mut encoder = self.encoder.clone();
            let encoded = self
                .state
                .cpu
                .run(move || {
                    let mut buf = Vec::new();
                    for t in &traces {
                        encoder.trace(t, &mut buf);
                    }
                    (encoder, buf)
                })
                .await;
            match encoded {
                Ok((encoder, buf)) => {
                    self.encoder = encoder;
                    if out.is_empty() {
                        out = buf;
                    } else {
                        out.extend_from_slice(&buf);
                    }
                }
                Err(e) => {
                    self.finished = true;
                    self.trailer_done = true;
                    return Some(Err(std::io::Error::other(e.to_string())));
                }
            }
            if out.len() >= CHUNK_BYTES {
                return Some(Ok(Frame::data(Bytes::from(out))));
            }
        }
    }
}

async fn export(
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
) -> Result<Response, LegacyApiError> {
    let params = QueryParams::parse(q.as_deref());
    let format = parse_format(&params)?;
    // Held until the whole export is streamed.
    let slot = state.heavy_query_slot().await?;
    let mut pager = pager_from_query(state.query.clone(), q.as_deref().unwrap_or(""))?;
    // The first page is read before answering, so that a bad query or a
    // storage failure is still an HTTP error rather than a cut body.
    let first = pager.next_page().await?;
    let early_warnings = pager.take_warnings();
    let encoder = TraceEncoder::new(format);
    let mut head = Vec::new();
    encoder.begin(&mut head);
    let pending = match first {
        Some(traces) => Some(traces),
        None => {
            encoder.finish(&mut head);
            None
        }
    };
    let streaming = Streaming {
        state: state.clone(),
        pager,
        encoder,
        finished: pending.is_none(),
        pending,
        trailer_done: false,
        warned: early_warnings.len(),
        traces: 0,
        started: Instant::now(),
    };
    let head = futures::stream::once(async move {
        Ok::<Frame<Bytes>, std::io::Error>(Frame::data(Bytes::from(head)))
    });
    let rest = futures::stream::unfold((streaming, slot), |(mut s, slot)| async move {
        s.next_chunk().await.map(|chunk| (chunk, (s, slot)))
    });
    let body = Body::new(StreamBody::new(futures::StreamExt::chain(head, rest)));
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    resp.headers_mut().insert(
        "x-spoor-export-format",
        HeaderValue::from_static(format.name()),
    );
    resp.headers_mut()
        .insert(header::TRAILER, HeaderValue::from_static(WARNING_FIELD));
    if !early_warnings.is_empty() {
        tracing::warn!(
            warnings = early_warnings.len(),
            first = %early_warnings[0],
            "the export skipped data that could not be read; it is incomplete"
        );
        warning_fields(resp.headers_mut(), &early_warnings);
    }
    Ok(resp)
}
