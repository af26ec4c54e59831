//! The read side: trace lookup, search, services and operations,
//! dependencies and purge, over the heads in memory and the blocks.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use spoor_model::{DependencyLink, SpanId, SpanRecord, SpanSet, Trace, TraceId, UnixNanos};
use spoor_storage::red::RED_MINUTE;
use spoor_storage::{
    Capabilities, DependencyReader, FoundTrace, GetTraceQuery, Operation, OperationQuery, Partial,
    Purger, RedAccumulator, RedQuery, RedRow, RedStatsReader, StorageError, SummaryOptions,
    TraceQuery, TraceReader, TraceSummary,
};

use crate::block::edges::{MINUTE, minute_of};
use crate::block::index::{StoredSummary, TraceEntry, summarize};
use crate::scan::Block;
use crate::state::MemState;
use crate::{Engine, EngineError, TraceIdSet, wal};

/// Merges the pieces of one trace, dropping spans identical to one already
/// taken (same span ID and content); distinct spans sharing an ID are kept.
#[derive(Default)]
pub(crate) struct TraceMerger {
    spans: SpanSet,
}

impl TraceMerger {
    pub(crate) fn extend(&mut self, records: impl IntoIterator<Item = SpanRecord>) {
        self.spans.extend(records);
    }

    pub(crate) fn len(&self) -> usize {
        self.spans.len()
    }

    pub(crate) fn finish(self) -> Vec<SpanRecord> {
        self.spans.into_vec()
    }
}

/// Warnings about blocks a read skipped, one per block.
pub(crate) type Warnings = BTreeMap<String, String>;

fn into_list(warnings: Warnings) -> Vec<String> {
    warnings.into_values().collect()
}

/// Why `block` cannot be read now, if it is known to be damaged.
fn known_damage(block: &Block) -> Option<EngineError> {
    block.damaged().map(|why| EngineError::Damaged {
        block: block.id().to_owned(),
        message: why.to_owned(),
    })
}

impl crate::state::Shared {
    /// Handles a failed read of `block`: a damaged block (`Damaged`) is
    /// marked so that later reads skip it at once, and logged and counted
    /// the first time; any block error is counted and becomes a warning of
    /// the answer, which carries on with the other blocks. Other errors
    /// (the engine is closed, …) are returned.
    pub(crate) fn skip_block(
        &self,
        block: &Block,
        error: EngineError,
        warnings: &mut Warnings,
    ) -> Result<(), EngineError> {
        match &error {
            EngineError::Damaged { message, .. } => {
                if block.mark_damaged(message.clone()) {
                    self.stats.blocks_damaged.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(block = %block.id(), error = %error, "a block is damaged; skipping it in every read");
                }
            }
            EngineError::Block { .. } => {
                tracing::warn!(block = %block.id(), error = %error, "cannot read a block; skipping it in this read");
            }
            _ => return Err(error),
        }
        self.stats
            .damaged_block_reads
            .fetch_add(1, Ordering::Relaxed);
        warnings
            .entry(block.id().to_owned())
            .or_insert_with(|| format!("skipped data that could not be read: {error}"));
        Ok(())
    }
}

/// Sorts newest first (start descending, then trace ID) and keeps `limit`.
fn sort_newest_first(found: &mut Vec<FoundTrace>, limit: usize) {
    let order = |a: &FoundTrace, b: &FoundTrace| {
        b.start
            .cmp(&a.start)
            .then_with(|| a.trace_id.cmp(&b.trace_id))
    };
    if found.len() > limit {
        found.select_nth_unstable_by(limit, order);
        found.truncate(limit);
    }
    found.sort_unstable_by(order);
}

fn check_limit(query: &TraceQuery) -> Result<(), StorageError> {
    if query.limit == 0 {
        return Err(StorageError::invalid_query(
            "the search limit must be at least 1",
        ));
    }
    Ok(())
}

/// The time range of a trace across every piece `mem` knows of.
fn trace_range(mem: &MemState, id: &TraceId) -> Option<(UnixNanos, UnixNanos)> {
    let mut range: Option<(UnixNanos, UnixNanos)> = None;
    let mut add = |s: UnixNanos, e: UnixNanos| {
        range = Some(match range {
            Some((s0, e0)) => (s0.min(s), e0.max(e)),
            None => (s, e),
        });
    };
    for h in mem.heads() {
        if let Some(t) = h.trace(id) {
            add(t.start, t.end);
        }
    }
    for b in &mem.blocks {
        if b.bloom.may_contain(id)
            && let Some(e) = b.index.lookup(id)
        {
            add(e.start, e.end);
        }
    }
    range
}

/// The merged summary of a trace across every piece `mem` knows of.
fn trace_summary(mem: &MemState, id: &TraceId) -> Option<StoredSummary> {
    let mut out: Option<StoredSummary> = None;
    let mut add = |s: StoredSummary| match &mut out {
        Some(o) => o.merge(&s),
        None => out = Some(s),
    };
    for h in mem.heads() {
        if let Some(t) = h.trace(id) {
            add(summarize(*id, &t.spans));
        }
    }
    for b in &mem.blocks {
        if b.bloom.may_contain(id)
            && let Some(e) = b.index.lookup(id)
        {
            add(b.index.summary(e));
        }
    }
    out
}

/// The search result summary of a trace stored in one piece (no head holds
/// it, one readable block does), as that block's index keeps it, with its
/// facts; `None` when the trace has several pieces (their summaries do not
/// add up: a parent may be in another piece, a span in two), or its block
/// is damaged or predates summaries in the index.
fn stored_summary(
    mem: &MemState,
    id: &TraceId,
) -> Option<(spoor_storage::TraceSummary, spoor_storage::SummaryFacts)> {
    if mem.heads().any(|h| h.trace(id).is_some()) {
        return None;
    }
    let mut pieces = mem
        .blocks
        .iter()
        .filter(|b| b.bloom.may_contain(id))
        .filter_map(|b| b.index.lookup(id).map(|e| (b, e)));
    let (block, entry) = pieces.next()?;
    if pieces.next().is_some() || known_damage(block).is_some() {
        return None;
    }
    block.index.trace_summary(entry)
}

impl Engine {
    /// The summary of one trace (start, end, root service and operation,
    /// span and error counts, services), merged across the head and every
    /// block holding a piece of it, read from memory only. Spans written
    /// twice are counted twice.
    pub fn trace_summary(&self, trace_id: &TraceId) -> Option<StoredSummary> {
        trace_summary(&self.shared.mem.read(), trace_id)
    }

    /// The whole-trace time ranges of `ids` (unknown IDs are left out).
    fn resolve(&self, ids: impl IntoIterator<Item = TraceId>) -> Vec<FoundTrace> {
        let mem = self.shared.mem.read();
        ids.into_iter()
            .filter_map(|id| trace_range(&mem, &id).map(|(s, e)| FoundTrace::new(id, s, e)))
            .collect()
    }

    /// Every stored span of one trace, merged across heads and blocks;
    /// blocks that cannot be read are skipped with a warning.
    async fn collect_trace(
        &self,
        trace_id: &TraceId,
        warnings: &mut Warnings,
    ) -> Result<Vec<SpanRecord>, EngineError> {
        Ok(self
            .collect_traces(std::slice::from_ref(trace_id), warnings)
            .await?
            .pop()
            .unwrap_or_default())
    }

    /// Every stored span of each of `trace_ids` (in that order), merged
    /// across heads and blocks. Each block is read once for all of them:
    /// one look-up of each ID in its Bloom filter and index, one scan of the
    /// rows they occupy. Blocks that cannot be read are skipped with a
    /// warning.
    async fn collect_traces(
        &self,
        trace_ids: &[TraceId],
        warnings: &mut Warnings,
    ) -> Result<Vec<Vec<SpanRecord>>, EngineError> {
        // Per trace: its head pieces (oldest head first); and the blocks.
        let (head_pieces, mut blocks): (Vec<Vec<Vec<SpanRecord>>>, Vec<Arc<Block>>) = {
            let mem = self.shared.mem.read();
            let heads: Vec<_> = mem.heads().collect();
            (
                trace_ids
                    .iter()
                    .map(|id| {
                        heads
                            .iter()
                            .rev()
                            .filter_map(|h| h.trace(id).map(|t| t.spans.to_vec()))
                            .collect()
                    })
                    .collect(),
                mem.blocks
                    .iter()
                    .filter(|b| trace_ids.iter().any(|id| b.bloom.may_contain(id)))
                    .cloned()
                    .collect(),
            )
        };
        let mut mergers: Vec<TraceMerger> =
            trace_ids.iter().map(|_| TraceMerger::default()).collect();
        // Oldest data first: blocks by age, then the heads.
        blocks.sort_by(|a, b| a.meta.id.cmp(&b.meta.id));
        for block in blocks {
            // (row order, which trace) of the traces this block holds.
            let mut wanted: Vec<(TraceEntry, usize)> = trace_ids
                .iter()
                .enumerate()
                .filter(|(_, id)| block.bloom.may_contain(id))
                .filter_map(|(at, id)| block.index.lookup(id).map(|e| (*e, at)))
                .collect();
            if wanted.is_empty() {
                continue;
            }
            wanted.sort_by_key(|(e, _)| e.row_start);
            // The same trace asked for twice is read once.
            wanted.dedup_by_key(|(e, _)| e.row_start);
            self.shared
                .stats
                .block_trace_reads
                .fetch_add(wanted.len() as u64, Ordering::Relaxed);
            let entries: Vec<TraceEntry> = wanted.iter().map(|(e, _)| *e).collect();
            let read = match known_damage(&block) {
                Some(e) => Err(e),
                None => {
                    block
                        .traces(self.shared.read_store(), &self.shared.config.cpu, &entries)
                        .await
                }
            };
            match read {
                Ok(spans) => {
                    if spans.len() != entries.iter().map(|e| e.row_count as usize).sum::<usize>() {
                        let e = EngineError::Block {
                            block: block.id().to_owned(),
                            message: "read a different number of rows than asked".into(),
                        };
                        self.shared.skip_block(&block, e, warnings)?;
                        continue;
                    }
                    let mut spans = spans.into_iter();
                    for (entry, at) in &wanted {
                        mergers[*at].extend(spans.by_ref().take(entry.row_count as usize));
                    }
                }
                Err(e) => {
                    // Counted as one skipped read per trace, as when traces
                    // were read one by one.
                    self.shared
                        .stats
                        .damaged_block_reads
                        .fetch_add(wanted.len().saturating_sub(1) as u64, Ordering::Relaxed);
                    self.shared.skip_block(&block, e, warnings)?;
                }
            }
        }
        // Repeated IDs share one read; give each its own copy.
        let mut out: Vec<Vec<SpanRecord>> = Vec::with_capacity(trace_ids.len());
        for (at, (mut merger, pieces)) in mergers.into_iter().zip(head_pieces).enumerate() {
            if let Some(first) = trace_ids[..at].iter().position(|id| *id == trace_ids[at]) {
                out.push(out[first].clone());
                continue;
            }
            for piece in pieces {
                merger.extend(piece);
            }
            out.push(merger.finish());
        }
        Ok(out)
    }

    /// The traces of `ids` that hold spans, in that order ([`Self::collect_traces`]).
    async fn read_traces(
        &self,
        ids: &[TraceId],
        warnings: &mut Warnings,
    ) -> Result<Vec<Trace>, EngineError> {
        let collected = self.collect_traces(ids, warnings).await?;
        Ok(ids
            .iter()
            .zip(collected)
            .filter(|(_, spans)| !spans.is_empty())
            .map(|(trace_id, spans)| Trace {
                trace_id: *trace_id,
                spans,
                warnings: Vec::new(),
            })
            .collect())
    }

    /// The traces matching `query`, newest first, at most `query.limit`;
    /// blocks that cannot be read are skipped with a warning.
    async fn find(
        &self,
        query: &TraceQuery,
        warnings: &mut Warnings,
    ) -> Result<Vec<FoundTrace>, EngineError> {
        let (mut candidates, blocks): (TraceIdSet, Vec<Arc<Block>>) = {
            let mem = self.shared.mem.read();
            (
                mem.heads()
                    .flat_map(|h| h.find(query))
                    .map(|hit| hit.trace_id)
                    .collect(),
                mem.blocks
                    .iter()
                    .filter(|b| b.may_match(query))
                    .cloned()
                    .collect(),
            )
        };
        // Blocks are newest first by latest span start. Once `limit` traces
        // (that pass the whole-trace filters) start after the latest span
        // start of the next block, no trace found there (or in any older
        // block) can rank among them.
        let mut known: HashMap<TraceId, Option<UnixNanos>> = HashMap::new();
        for block in &blocks {
            if candidates.len() >= query.limit {
                let missing: Vec<TraceId> = candidates
                    .iter()
                    .filter(|id| !known.contains_key(id))
                    .copied()
                    .collect();
                for f in self.resolve(missing) {
                    let passes = query.trace_duration_matches(f.start, f.end);
                    known.insert(f.trace_id, passes.then_some(f.start));
                }
                let mut starts: Vec<UnixNanos> = known.values().flatten().copied().collect();
                if starts.len() >= query.limit {
                    let (_, kth, _) =
                        starts.select_nth_unstable_by(query.limit - 1, |a, b| b.cmp(a));
                    if *kth > block.meta.max_start_unix_nano {
                        break;
                    }
                }
            }
            self.shared
                .stats
                .block_scans
                .fetch_add(1, Ordering::Relaxed);
            let read = match known_damage(block) {
                Some(e) => Err(e),
                None => {
                    block
                        .find(self.shared.read_store(), &self.shared.config.cpu, query)
                        .await
                }
            };
            match read {
                Ok(ids) => candidates.extend(ids),
                Err(e) => self.shared.skip_block(block, e, warnings)?,
            }
        }
        let mut found = self.resolve(candidates);
        if query.has_trace_duration() {
            found.retain(|f| query.trace_duration_matches(f.start, f.end));
        }
        sort_newest_first(&mut found, query.limit);
        Ok(found)
    }
}

#[async_trait]
impl TraceReader for Engine {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            search_without_service: true,
            dependencies: true,
            metrics: true,
        }
    }

    async fn get_trace(&self, query: GetTraceQuery) -> Result<Option<Trace>, StorageError> {
        Ok(self.get_trace_partial(query).await?.value)
    }

    async fn find_traces(&self, query: &TraceQuery) -> Result<Vec<Trace>, StorageError> {
        Ok(self.find_traces_partial(query).await?.value)
    }

    async fn find_trace_ids(&self, query: &TraceQuery) -> Result<Vec<FoundTrace>, StorageError> {
        Ok(self.find_trace_ids_partial(query).await?.value)
    }

    async fn get_trace_partial(
        &self,
        query: GetTraceQuery,
    ) -> Result<Partial<Option<Trace>>, StorageError> {
        let cost = Arc::clone(&self.shared.store.cost);
        cost.query(async move {
            let mut warnings = Warnings::new();
            let spans = self.collect_trace(&query.trace_id, &mut warnings).await?;
            Ok(Partial {
                value: (!spans.is_empty()).then(|| Trace {
                    trace_id: query.trace_id,
                    spans,
                    warnings: Vec::new(),
                }),
                warnings: into_list(warnings),
            })
        })
        .await
    }

    async fn get_traces_partial(
        &self,
        ids: &[TraceId],
    ) -> Result<Partial<Vec<Trace>>, StorageError> {
        let cost = Arc::clone(&self.shared.store.cost);
        cost.query(async move {
            let mut warnings = Warnings::new();
            let traces = self.read_traces(ids, &mut warnings).await?;
            Ok(Partial {
                value: traces,
                warnings: into_list(warnings),
            })
        })
        .await
    }

    async fn find_traces_partial(
        &self,
        query: &TraceQuery,
    ) -> Result<Partial<Vec<Trace>>, StorageError> {
        let cost = Arc::clone(&self.shared.store.cost);
        cost.query(async move {
            check_limit(query)?;
            let mut warnings = Warnings::new();
            let found = self.find(query, &mut warnings).await?;
            let ids: Vec<TraceId> = found.iter().map(|f| f.trace_id).collect();
            let traces = self.read_traces(&ids, &mut warnings).await?;
            Ok(Partial {
                value: traces,
                warnings: into_list(warnings),
            })
        })
        .await
    }

    /// Answers from the summaries the blocks' indexes keep where a trace is
    /// stored in one piece with unique span IDs (so that reading it returns
    /// the spans summarized) and `options` accept the summary as stored;
    /// reads and summarizes the other traces.
    async fn find_trace_summaries_partial(
        &self,
        query: &TraceQuery,
        options: &SummaryOptions,
    ) -> Result<Partial<Vec<TraceSummary>>, StorageError> {
        let cost = Arc::clone(&self.shared.store.cost);
        cost.query(async move {
            check_limit(query)?;
            let mut warnings = Warnings::new();
            let found = self.find(query, &mut warnings).await?;
            let mut slots: Vec<Option<TraceSummary>> = Vec::with_capacity(found.len());
            let mut to_read: Vec<TraceId> = Vec::new();
            {
                let mem = self.shared.mem.read();
                for f in &found {
                    match stored_summary(&mem, &f.trace_id) {
                        Some((summary, facts))
                            if facts.unique_span_ids && options.accepts_stored(&facts) =>
                        {
                            slots.push(Some(summary));
                        }
                        _ => {
                            slots.push(None);
                            to_read.push(f.trace_id);
                        }
                    }
                }
            }
            self.shared
                .stats
                .stored_summaries
                .fetch_add((found.len() - to_read.len()) as u64, Ordering::Relaxed);
            let collected = self.collect_traces(&to_read, &mut warnings).await?;
            let traces: Vec<Trace> = to_read
                .into_iter()
                .zip(collected)
                .map(|(trace_id, spans)| Trace {
                    trace_id,
                    spans,
                    warnings: Vec::new(),
                })
                .collect();
            // Empty traces (every piece skipped) are left out, here as there.
            let read: Vec<bool> = traces.iter().map(|t| !t.spans.is_empty()).collect();
            let mut summarized = options.summarize(traces).await?.into_iter();
            let mut read = read.into_iter();
            let value = slots
                .into_iter()
                .filter_map(|slot| match slot {
                    Some(summary) => Some(summary),
                    None => read
                        .next()
                        .unwrap_or(false)
                        .then(|| summarized.next())
                        .flatten(),
                })
                .collect();
            Ok(Partial {
                value,
                warnings: into_list(warnings),
            })
        })
        .await
    }

    async fn find_trace_ids_partial(
        &self,
        query: &TraceQuery,
    ) -> Result<Partial<Vec<FoundTrace>>, StorageError> {
        let cost = Arc::clone(&self.shared.store.cost);
        cost.query(async move {
            check_limit(query)?;
            let mut warnings = Warnings::new();
            let value = self.find(query, &mut warnings).await?;
            Ok(Partial {
                value,
                warnings: into_list(warnings),
            })
        })
        .await
    }

    async fn services(&self) -> Result<Vec<String>, StorageError> {
        let mem = self.shared.mem.read();
        let names: BTreeSet<&str> = mem
            .heads()
            .flat_map(|h| h.services())
            .chain(
                mem.blocks
                    .iter()
                    .flat_map(|b| b.meta.services.iter().map(String::as_str)),
            )
            .filter(|s| !s.is_empty())
            .collect();
        Ok(names.into_iter().map(str::to_owned).collect())
    }

    async fn operations(&self, query: &OperationQuery) -> Result<Vec<Operation>, StorageError> {
        if query.service.is_empty() {
            return Ok(Vec::new());
        }
        let mem = self.shared.mem.read();
        let mut ops: BTreeSet<Operation> = mem
            .heads()
            .flat_map(|h| h.operations(&query.service, query.span_kind))
            .collect();
        for b in &mem.blocks {
            ops.extend(b.meta.operations_of(&query.service, query.span_kind).map(
                |(name, span_kind)| Operation {
                    name: name.to_owned(),
                    span_kind,
                },
            ));
        }
        Ok(ops.into_iter().collect())
    }
}

impl Engine {
    /// Merges a trace from `blocks` (oldest first) and then `head` spans;
    /// returns the merged spans and how many of them came from blocks (the
    /// rest are head spans not already in a block).
    async fn merge_pieces(
        &self,
        blocks: &[Arc<Block>],
        head: &[SpanRecord],
        trace_id: &TraceId,
    ) -> Result<(Vec<SpanRecord>, usize), EngineError> {
        let mut merger = TraceMerger::default();
        for block in blocks {
            if !block.bloom.may_contain(trace_id) {
                continue;
            }
            if let Some(entry) = block.index.lookup(trace_id).copied() {
                let read = match known_damage(block) {
                    Some(e) => Err(e),
                    None => {
                        block
                            .traces(self.shared.read_store(), &self.shared.config.cpu, &[entry])
                            .await
                    }
                };
                match read {
                    Ok(spans) => merger.extend(spans),
                    Err(e) => self.shared.skip_block(block, e, &mut Warnings::new())?,
                }
            }
        }
        let from_blocks = merger.len();
        merger.extend(head.iter().cloned());
        Ok((merger.finish(), from_blocks))
    }
}

#[async_trait]
impl DependencyReader for Engine {
    /// Edges from spans starting in the minutes that `[start, end]` touches:
    /// the per-minute edges stored with each block, plus, computed now, the
    /// edges of spans still in memory and of spans whose parent is in
    /// another block or in memory.
    async fn dependencies(
        &self,
        start: UnixNanos,
        end: UnixNanos,
    ) -> Result<Vec<DependencyLink>, StorageError> {
        Ok(self.dependencies_partial(start, end).await?.value)
    }

    /// [`DependencyReader::dependencies`]; a damaged block's spans are left
    /// out, with a warning.
    async fn dependencies_partial(
        &self,
        start: UnixNanos,
        end: UnixNanos,
    ) -> Result<Partial<Vec<DependencyLink>>, StorageError> {
        let cost = Arc::clone(&self.shared.store.cost);
        cost.query(async move {
            if end < start {
                return Err(StorageError::invalid_query(
                    "the end of the dependency window is before its start",
                ));
            }
            let (first, last) = (minute_of(start), minute_of(end));
            let lo = first.saturating_mul(MINUTE);
            let hi = last
                .saturating_add(1)
                .saturating_mul(MINUTE)
                .saturating_sub(1);
            let in_window = |t: UnixNanos| (first..=last).contains(&minute_of(t));
            let mut warnings = Warnings::new();
            let mut edges: BTreeMap<(String, String), u64> = BTreeMap::new();
            // One consistent view: blocks, their stored edges, and copies of the
            // head pieces of every trace that needs computing now.
            let (mut blocks, unresolved, head_pieces) = {
                let mem = self.shared.mem.read();
                let mut unresolved: Vec<(Arc<Block>, TraceId)> = Vec::new();
                for b in &mem.blocks {
                    if b.meta.min_start_unix_nano > hi || b.meta.max_start_unix_nano < lo {
                        continue;
                    }
                    for (parent, child, calls, _) in b.edges.in_minutes(first, last) {
                        *edges
                            .entry((parent.to_owned(), child.to_owned()))
                            .or_default() += calls;
                    }
                    for id in &b.edges.unresolved {
                        if b.index
                            .lookup(id)
                            .is_some_and(|e| e.start <= hi && e.end >= lo)
                        {
                            unresolved.push((Arc::clone(b), *id));
                        }
                    }
                }
                let mut head_pieces: BTreeMap<TraceId, (bool, Vec<SpanRecord>)> = BTreeMap::new();
                for h in mem.heads() {
                    for (id, t) in h.traces() {
                        if t.start <= hi && t.end >= lo {
                            head_pieces.entry(*id).or_default().0 = true;
                        }
                    }
                }
                for (_, id) in &unresolved {
                    head_pieces.entry(*id).or_default();
                }
                let heads: Vec<_> = mem.heads().collect();
                for (id, (_, spans)) in head_pieces.iter_mut() {
                    for h in heads.iter().rev() {
                        if let Some(t) = h.trace(id) {
                            spans.extend(t.spans.iter().cloned());
                        }
                    }
                }
                (mem.blocks.clone(), unresolved, head_pieces)
            };
            blocks.sort_by(|a, b| a.meta.id.cmp(&b.meta.id));
            let mut add = |parent: &str, child: &str| {
                *edges
                    .entry((parent.to_owned(), child.to_owned()))
                    .or_default() += 1;
            };
            let empty = Vec::new();
            // Block spans whose parent is outside their block.
            for (block, id) in &unresolved {
                let Some(entry) = block.index.lookup(id).copied() else {
                    continue;
                };
                let read = match known_damage(block) {
                    Some(e) => Err(e),
                    None => {
                        block
                            .traces(self.shared.read_store(), &self.shared.config.cpu, &[entry])
                            .await
                    }
                };
                let piece = match read {
                    Ok(piece) => piece,
                    Err(e) => {
                        self.shared.skip_block(block, e, &mut warnings)?;
                        continue;
                    }
                };
                let head = head_pieces.get(id).map_or(&empty, |(_, spans)| spans);
                let (merged, _) = self.merge_pieces(&blocks, head, id).await?;
                let first_by_id = first_by_id(&merged);
                let local: std::collections::HashSet<SpanId> =
                    piece.iter().map(|r| r.span.span_id).collect();
                for r in &piece {
                    let parent_id = r.span.parent_span_id;
                    if parent_id.is_zero()
                        || local.contains(&parent_id)
                        || !in_window(r.span.start_time_unix_nano)
                    {
                        continue;
                    }
                    if let Some(&p) = first_by_id.get(&parent_id) {
                        let (ps, cs) = (merged[p].service_name(), r.service_name());
                        if ps != cs {
                            add(ps, cs);
                        }
                    }
                }
            }
            // Spans still in memory (those not already in a block).
            for (id, (in_range, head)) in &head_pieces {
                if !in_range {
                    continue;
                }
                let (merged, from_blocks) = self.merge_pieces(&blocks, head, id).await?;
                let first_by_id = first_by_id(&merged);
                for r in &merged[from_blocks..] {
                    let parent_id = r.span.parent_span_id;
                    if parent_id.is_zero() || !in_window(r.span.start_time_unix_nano) {
                        continue;
                    }
                    if let Some(&p) = first_by_id.get(&parent_id) {
                        let (ps, cs) = (merged[p].service_name(), r.service_name());
                        if ps != cs {
                            add(ps, cs);
                        }
                    }
                }
            }
            Ok(Partial {
                value: edges
                    .into_iter()
                    .map(|((parent, child), call_count)| DependencyLink {
                        parent,
                        child,
                        call_count,
                    })
                    .collect(),
                warnings: into_list(warnings),
            })
        })
        .await
    }
}

fn first_by_id(spans: &[SpanRecord]) -> HashMap<SpanId, usize> {
    let mut first = HashMap::with_capacity(spans.len());
    for (i, r) in spans.iter().enumerate() {
        first.entry(r.span.span_id).or_insert(i);
    }
    first
}

#[async_trait]
impl RedStatsReader for Engine {
    /// The statistics stored with each block whose spans start in the
    /// window (read from the block store), plus those of the spans still in
    /// memory, computed now; merged per minute, service, operation and kind.
    async fn red_stats(&self, query: &RedQuery) -> Result<Vec<RedRow>, StorageError> {
        Ok(self.red_stats_partial(query).await?.value)
    }

    /// [`RedStatsReader::red_stats`]; a damaged block's statistics are left
    /// out, with a warning.
    async fn red_stats_partial(
        &self,
        query: &RedQuery,
    ) -> Result<Partial<Vec<RedRow>>, StorageError> {
        let cost = Arc::clone(&self.shared.store.cost);
        cost.query(async move {
            if query.end < query.start {
                return Err(StorageError::invalid_query(
                    "the end of the statistics window is before its start",
                ));
            }
            let lo = (query.start / RED_MINUTE).saturating_mul(RED_MINUTE);
            let hi = (query.end / RED_MINUTE)
                .saturating_add(1)
                .saturating_mul(RED_MINUTE)
                .saturating_sub(1);
            let mut acc = RedAccumulator::default();
            let mut warnings = Warnings::new();
            let blocks: Vec<Arc<Block>> = {
                let mem = self.shared.mem.read();
                for h in mem.heads() {
                    for (_, t) in h.traces() {
                        if t.start > hi || t.end < lo {
                            continue;
                        }
                        for r in &t.spans {
                            if query.selects(
                                r.service_name(),
                                r.span.kind,
                                r.span.start_time_unix_nano,
                            ) {
                                acc.add_span(r);
                            }
                        }
                    }
                }
                mem.blocks
                    .iter()
                    .filter(|b| {
                        b.meta.spans > 0
                            && b.meta.min_start_unix_nano <= hi
                            && b.meta.max_start_unix_nano >= lo
                            && (query.services.is_empty()
                                || query.services.iter().any(|s| b.meta.has_service(s)))
                    })
                    .cloned()
                    .collect()
            };
            for block in blocks {
                let read = match known_damage(&block) {
                    Some(e) => Err(e),
                    None => block.red_rows(self.shared.read_store(), query).await,
                };
                match read {
                    Ok(rows) => rows.iter().for_each(|row| acc.add_row(row)),
                    Err(e) => self.shared.skip_block(&block, e, &mut warnings)?,
                }
            }
            Ok(Partial {
                value: acc.into_rows(),
                warnings: into_list(warnings),
            })
        })
        .await
    }
}

#[async_trait]
impl Purger for Engine {
    async fn purge(&self) -> Result<(), StorageError> {
        let shared = &self.shared;
        let _guard = shared.maintenance.lock().await;
        let target = Arc::clone(shared);
        shared
            .request(|done| wal::Request::Reset {
                then: Box::new(move || {
                    let mut mem = target.mem.write();
                    *mem = MemState::default();
                    target.mem_bytes.store(0, Ordering::Relaxed);
                }),
                done,
            })
            .await?;
        for id in shared.store.list_blocks().await? {
            shared.store.delete_block(&id).await?;
        }
        if let Some(pending) = &shared.pending {
            shared.uploaded_pending.lock().clear();
            for id in pending.list_blocks().await? {
                pending.delete_block(&id).await?;
            }
            shared.stats.pending_bytes.store(0, Ordering::Relaxed);
        }
        Ok(())
    }
}
