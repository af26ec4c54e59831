//! Every trace of a search, page by page, without a result limit: the
//! protocol-neutral half of an export, used by `GET /api/export`
//! (spoor-server) and `spoor export --data-dir` (spoor-tools).
//!
//! # Paging
//!
//! Storage answers a search with at most `limit` traces, newest first by
//! trace start. [`TracePager`] walks the requested span-start range
//! `[start, end]` backwards in windows `[lo, hi]` and asks storage for the
//! trace IDs of each window with a page limit (`pageSize`, 2,000), then reads
//! the traces of a complete window a few at a time. A window whose answer is *not* full is complete:
//! it holds every trace with a matching span starting in the window. A full
//! answer is thrown away and the window narrowed (to half the span of trace
//! starts the full answer covered), so the result is never truncated. A
//! window one nanosecond wide cannot be narrowed: its limit grows instead
//! (ties: any number of traces sharing one start time are exported).
//!
//! A trace with matching spans in several windows is found in each of them;
//! it is emitted in the first (newest) and remembered, with its start time,
//! only while a later window can still reach it (its start lies before the
//! window's `lo`). A trace starting at or after `lo` has no span in any older
//! window, so the memory of seen traces holds only traces that straddle a
//! window boundary. Every trace matching the search is therefore emitted
//! exactly once, for data that does not change during the export.
//!
//! # Damaged data
//!
//! Data storage cannot read (a damaged block) is skipped, as in every
//! search; the pager collects storage's warnings, each once, and hands them
//! out with [`TracePager::take_warnings`], so the export can say it is
//! incomplete rather than look whole.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use spoor_model::{Trace, TraceId, UnixNanos};
use spoor_storage::{GetTraceQuery, Partial, StorageError, TraceQuery};

use crate::QueryService;

/// Trace IDs asked of storage per window.
pub const DEFAULT_PAGE_TRACES: usize = 2_000;
/// Traces read from storage (and held in memory) at a time.
const FETCH_TRACES: usize = 32;
/// A single-nanosecond window holding more traces than this is refused.
const MAX_TIE_TRACES: usize = 1 << 22;

/// Yields every trace of a search (or of a list of IDs) page by page, raw
/// (as stored: no adjusters, no truncation). See the module docs.
pub struct TracePager {
    service: Arc<QueryService>,
    mode: Mode,
    /// IDs of a complete window still to be read, newest first.
    pending: std::collections::VecDeque<TraceId>,
    /// Every warning seen, and those not yet handed out.
    seen_warnings: BTreeSet<String>,
    new_warnings: Vec<String>,
}

enum Mode {
    Search(Box<SearchState>),
    Ids(std::vec::IntoIter<TraceId>, usize),
    Done,
}

struct SearchState {
    base: TraceQuery,
    range_start: UnixNanos,
    /// Inclusive upper end of the next window.
    hi: UnixNanos,
    /// Width of the next window in nanoseconds, at least 1.
    width: u64,
    page: usize,
    /// Emitted traces that a later window may find again, with their start.
    carry: HashMap<TraceId, UnixNanos>,
}

impl TracePager {
    /// Every trace with a span matching `query` whose start lies in
    /// `[query.start_min, query.start_max]` (0 and `u64::MAX` when absent);
    /// `query.limit` is ignored. `page` traces are asked of storage at a time.
    pub fn search(service: Arc<QueryService>, query: TraceQuery, page: usize) -> TracePager {
        let range_start = query.start_min.unwrap_or(0);
        let hi = query.start_max.unwrap_or(u64::MAX);
        let mode = if hi < range_start {
            Mode::Done
        } else {
            Mode::Search(Box::new(SearchState {
                base: query,
                range_start,
                hi,
                width: (hi - range_start).saturating_add(1),
                page: page.max(1),
                carry: HashMap::new(),
            }))
        };
        TracePager {
            service,
            mode,
            pending: Default::default(),
            seen_warnings: BTreeSet::new(),
            new_warnings: Vec::new(),
        }
    }

    /// The traces with these IDs, in this order, each once; unknown IDs are
    /// skipped.
    pub fn by_ids(service: Arc<QueryService>, ids: Vec<TraceId>, page: usize) -> TracePager {
        let mut seen = HashSet::new();
        let ids: Vec<TraceId> = ids.into_iter().filter(|id| seen.insert(*id)).collect();
        TracePager {
            service,
            mode: Mode::Ids(ids.into_iter(), page.clamp(1, FETCH_TRACES)),
            pending: Default::default(),
            seen_warnings: BTreeSet::new(),
            new_warnings: Vec::new(),
        }
    }

    /// Warnings about data skipped since the last call (each warning is
    /// handed out once per export): the export lacks that data.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.new_warnings)
    }

    fn warn(&mut self, warnings: Vec<String>) {
        for w in warnings {
            if self.seen_warnings.insert(w.clone()) {
                self.new_warnings.push(w);
            }
        }
    }

    async fn read(&mut self, queries: &[GetTraceQuery]) -> Result<Vec<Trace>, StorageError> {
        let found = self.service.get_traces_partial(queries, true).await?;
        self.warn(found.warnings);
        Ok(found.value)
    }

    /// The next non-empty page of traces, or `None` at the end.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Trace>>, StorageError> {
        loop {
            if !self.pending.is_empty() {
                let n = self.pending.len().min(FETCH_TRACES);
                let queries: Vec<GetTraceQuery> =
                    self.pending.drain(..n).map(GetTraceQuery::new).collect();
                // IDs of one window are distinct; a trace deleted since the
                // search is skipped.
                let traces = self.read(&queries).await?;
                if traces.is_empty() {
                    continue;
                }
                return Ok(Some(traces));
            }
            match &mut self.mode {
                Mode::Done => return Ok(None),
                Mode::Ids(ids, page) => {
                    let batch: Vec<TraceId> = ids.by_ref().take(*page).collect();
                    if batch.is_empty() {
                        self.mode = Mode::Done;
                        return Ok(None);
                    }
                    let queries: Vec<GetTraceQuery> =
                        batch.into_iter().map(GetTraceQuery::new).collect();
                    let traces = self.read(&queries).await?;
                    if !traces.is_empty() {
                        return Ok(Some(traces));
                    }
                }
                Mode::Search(state) => {
                    let (ids, done, warnings) = state.next_window(&self.service).await?;
                    self.warn(warnings);
                    if done {
                        self.mode = Mode::Done;
                    }
                    self.pending.extend(ids.into_iter().flatten());
                }
            }
        }
    }
}

impl SearchState {
    /// Runs one window: `(Some(ids to emit), done, warnings)` when it was
    /// complete, `(None, false, warnings)` when it was narrowed and must be
    /// asked again; `warnings` are storage's about data it skipped.
    async fn next_window(
        &mut self,
        service: &QueryService,
    ) -> Result<(Option<Vec<TraceId>>, bool, Vec<String>), StorageError> {
        let lo = self
            .hi
            .saturating_sub(self.width.saturating_sub(1))
            .max(self.range_start);
        let mut limit = self.page;
        let mut warnings = Vec::new();
        let found = loop {
            let mut query = self.base.clone();
            query.start_min = Some(lo);
            query.start_max = Some(self.hi);
            query.limit = limit;
            let Partial {
                value: found,
                warnings: skipped,
            } = service.find_trace_ids_partial(&query).await?;
            warnings.extend(skipped);
            if found.len() < limit {
                break found;
            }
            if lo < self.hi {
                // Full: narrow the window to half of the trace starts the
                // answer covered (at least halving it) and ask again.
                let covered = found
                    .last()
                    .map(|f| f.start)
                    .filter(|s| *s > lo && *s <= self.hi)
                    .map_or(self.width / 4, |s| (self.hi - s) / 2);
                self.width = covered.min(self.width / 2).max(1);
                tracing::debug!(lo, hi = self.hi, width = self.width, "export window full");
                return Ok((None, false, warnings));
            }
            // One nanosecond holds `limit` traces or more: ask for more.
            if limit >= MAX_TIE_TRACES {
                return Err(StorageError::invalid_query(format!(
                    "more than {MAX_TIE_TRACES} traces start at the same nanosecond {lo}"
                )));
            }
            limit = limit.saturating_mul(4).min(MAX_TIE_TRACES);
        };
        let mut out = Vec::with_capacity(found.len());
        for f in found {
            if self.carry.contains_key(&f.trace_id) {
                continue;
            }
            // `f.start` is the trace's start over all its spans.
            if f.start < lo {
                self.carry.insert(f.trace_id, f.start);
            }
            out.push(f.trace_id);
        }
        // A trace starting at or after `lo` has no span in older windows.
        self.carry.retain(|_, start| *start < lo);
        if out.len() < self.page / 4 {
            self.width = self.width.saturating_mul(2);
        }
        if lo <= self.range_start {
            return Ok((Some(out), true, warnings));
        }
        self.hi = lo - 1;
        Ok((Some(out), false, warnings))
    }
}
