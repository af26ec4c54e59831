//! Reading through many processes: a querier's view over the blocks of a
//! shared store plus the heads of the collectors that write them (ADR 0025).
//!
//! A [`Federation`] answers the storage contracts over:
//! - a *base*: the blocks of the shared store (the engine of `spoor query`),
//!   which can be told about blocks it has not listed yet ([`BlockCatalog`]);
//! - *recent sources*: each collector's head, reached over the network
//!   ([`RecentSource`]), found again for every request ([`SourceList`]).
//!
//! Every request first asks every source; each answers over its head and
//! names the blocks it published recently ([`Recent::blocks`]). The base is
//! told about those blocks before it answers, so spans a collector cut into
//! a block between two refreshes of the querier's block list are still
//! found. Heads and blocks hold disjoint data, so counts (dependencies, RED
//! statistics) add up; pieces of one trace from several places are merged without
//! duplicates ([`SpanSet`]). A source that cannot be reached costs only its
//! part: the answer carries a warning naming it (Jaeger's `errors`), never
//! a silent partial answer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::future::join_all;
use spoor_model::{DependencyLink, SpanSet, Trace, TraceId, UnixNanos};

use crate::{
    Capabilities, DependencyReader, FoundTrace, GetTraceQuery, Operation, OperationQuery, Partial,
    RedAccumulator, RedQuery, RedRow, RedStatsReader, StorageError, TraceQuery, TraceReader,
};

/// An answer of a [`RecentSource`]: its value, the blocks the source
/// published recently (which the base must know before it answers), and
/// what the source had to skip.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recent<T> {
    pub value: T,
    /// IDs of the blocks the source cut and published lately; its head no
    /// longer holds their spans.
    pub blocks: Vec<String>,
    pub warnings: Vec<String>,
}

/// The recent spans of one writer (a collector's head), read remotely.
#[async_trait]
pub trait RecentSource: Send + Sync + 'static {
    /// How warnings name it (its address).
    fn name(&self) -> &str;
    /// Traces of the head matching `query` (per-span conditions and the
    /// whole-trace bounds over the head's pieces), newest first, at most `query.limit`.
    async fn find_trace_ids(
        &self,
        query: &TraceQuery,
    ) -> Result<Recent<Vec<FoundTrace>>, StorageError>;
    /// The head's spans of each trace of `ids` (traces it does not hold are left out).
    async fn get_traces(&self, ids: &[TraceId]) -> Result<Recent<Vec<Trace>>, StorageError>;
    async fn services(&self) -> Result<Recent<Vec<String>>, StorageError>;
    async fn operations(
        &self,
        query: &OperationQuery,
    ) -> Result<Recent<Vec<Operation>>, StorageError>;
    async fn dependencies(
        &self,
        start: UnixNanos,
        end: UnixNanos,
    ) -> Result<Recent<Vec<DependencyLink>>, StorageError>;
    /// RED statistics of the head's spans (disjoint from the blocks the
    /// answer names, so they add up with the blocks' own).
    async fn red_stats(&self, query: &RedQuery) -> Result<Recent<Vec<RedRow>>, StorageError>;
}

/// The recent sources to ask now (a static list, or the addresses a DNS
/// name resolves to at the moment).
#[async_trait]
pub trait SourceList: Send + Sync + 'static {
    /// The sources, and a warning for each that could not be found (a DNS
    /// name that did not resolve).
    async fn sources(&self) -> (Vec<Arc<dyn RecentSource>>, Vec<String>);
}

/// A fixed list of sources.
#[async_trait]
impl SourceList for Vec<Arc<dyn RecentSource>> {
    async fn sources(&self) -> (Vec<Arc<dyn RecentSource>>, Vec<String>) {
        (self.clone(), Vec::new())
    }
}

/// A store of blocks that can be told about blocks it has not listed yet.
#[async_trait]
pub trait BlockCatalog: Send + Sync + 'static {
    /// Makes the blocks of `ids` readable (those already known, or replaced
    /// by a compacted block it holds, are skipped); returns a warning for
    /// each block it could not load.
    async fn ensure_blocks(&self, ids: &[String]) -> Vec<String>;
}

/// The IDs of the blocks a writer published recently, newest last (what a
/// collector tells queriers with every answer).
pub trait RecentBlocks: Send + Sync + 'static {
    fn recent_blocks(&self) -> Vec<String>;
}

/// The base store a [`Federation`] reads blocks from.
pub struct FederationBase {
    pub reader: Arc<dyn TraceReader>,
    pub dependencies: Arc<dyn DependencyReader>,
    pub red: Arc<dyn RedStatsReader>,
    pub catalog: Arc<dyn BlockCatalog>,
}

/// The readers of `spoor query`: the base's blocks plus every source's
/// head. See the [module documentation](self).
pub struct Federation {
    base: FederationBase,
    sources: Arc<dyn SourceList>,
    /// How long a source may take to answer before it counts as unavailable.
    timeout: Duration,
}

/// What every source answered (values of those that did), the blocks they
/// named and the warnings.
struct Gathered<T> {
    values: Vec<T>,
    blocks: Vec<String>,
    warnings: Vec<String>,
}

impl Federation {
    pub fn new(base: FederationBase, sources: Arc<dyn SourceList>, timeout: Duration) -> Self {
        Federation {
            base,
            sources,
            timeout,
        }
    }

    /// Asks every source with `ask`, concurrently, each within the timeout;
    /// then tells the base about the blocks they named.
    async fn gather<T, F>(&self, ask: F) -> Gathered<T>
    where
        T: Send,
        F: for<'a> Fn(
            &'a dyn RecentSource,
        ) -> futures::future::BoxFuture<'a, Result<Recent<T>, StorageError>>,
    {
        let (sources, mut warnings) = self.sources.sources().await;
        let timeout = self.timeout;
        let answers = join_all(sources.iter().map(|source| {
            let ask = &ask;
            async move {
                let answer = tokio::time::timeout(timeout, ask(source.as_ref())).await;
                (source.name().to_owned(), answer)
            }
        }))
        .await;
        let mut gathered = Gathered {
            values: Vec::with_capacity(answers.len()),
            blocks: Vec::new(),
            warnings: Vec::new(),
        };
        for (name, answer) in answers {
            match answer {
                Ok(Ok(recent)) => {
                    gathered.values.push(recent.value);
                    gathered.blocks.extend(recent.blocks);
                    warnings.extend(
                        recent
                            .warnings
                            .into_iter()
                            .map(|w| format!("collector {name}: {w}")),
                    );
                }
                Ok(Err(e)) => warnings.push(format!(
                    "collector {name} is unavailable, its most recent spans are missing: {e}"
                )),
                Err(_) => warnings.push(format!(
                    "collector {name} did not answer within {timeout:?}, its most recent spans are missing"
                )),
            }
        }
        gathered.blocks.sort();
        gathered.blocks.dedup();
        if !gathered.blocks.is_empty() {
            warnings.extend(self.base.catalog.ensure_blocks(&gathered.blocks).await);
        }
        gathered.warnings = warnings;
        gathered
    }

    /// The pieces of each of `ids` from every source and the base, merged
    /// (a trace found nowhere is left out), with warnings.
    async fn collect(&self, ids: &[TraceId]) -> Result<Partial<Vec<Trace>>, StorageError> {
        let owned: Vec<TraceId> = ids.to_vec();
        let gathered = self
            .gather(|s| {
                let ids = owned.clone();
                Box::pin(async move { s.get_traces(&ids).await })
            })
            .await;
        let base = self.base.reader.get_traces_partial(ids).await?;
        let mut merged: HashMap<TraceId, SpanSet> = HashMap::with_capacity(ids.len());
        let pieces = base
            .value
            .into_iter()
            .chain(gathered.values.into_iter().flatten());
        let mut trace_warnings: HashMap<TraceId, Vec<String>> = HashMap::new();
        for trace in pieces {
            merged
                .entry(trace.trace_id)
                .or_default()
                .extend(trace.spans);
            if !trace.warnings.is_empty() {
                trace_warnings
                    .entry(trace.trace_id)
                    .or_default()
                    .extend(trace.warnings);
            }
        }
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(spans) = merged.remove(id) else {
                continue;
            };
            if spans.is_empty() {
                continue;
            }
            out.push(Trace {
                trace_id: *id,
                spans: spans.into_vec(),
                warnings: trace_warnings.remove(id).unwrap_or_default(),
            });
        }
        let mut warnings = gathered.warnings;
        warnings.extend(base.warnings);
        Ok(Partial {
            value: out,
            warnings,
        })
    }
}

/// Trace IDs from several places, one per trace with the union of their
/// time ranges, newest first (start descending, then ID), at most `limit`.
pub fn merge_found(
    lists: impl IntoIterator<Item = Vec<FoundTrace>>,
    limit: usize,
) -> Vec<FoundTrace> {
    let mut by_id: HashMap<TraceId, FoundTrace> = HashMap::new();
    for found in lists.into_iter().flatten() {
        by_id
            .entry(found.trace_id)
            .and_modify(|f| {
                f.start = f.start.min(found.start);
                f.end = f.end.max(found.end);
            })
            .or_insert(found);
    }
    let mut all: Vec<FoundTrace> = by_id.into_values().collect();
    all.sort_by(|a, b| b.start.cmp(&a.start).then(a.trace_id.cmp(&b.trace_id)));
    all.truncate(limit);
    all
}

/// Dependency links from several places, call counts of one edge added up,
/// sorted by parent then child.
pub fn merge_links(lists: impl IntoIterator<Item = Vec<DependencyLink>>) -> Vec<DependencyLink> {
    DependencyLink::merge(lists.into_iter().flatten())
}

#[async_trait]
impl TraceReader for Federation {
    fn capabilities(&self) -> Capabilities {
        self.base.reader.capabilities()
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

    async fn services(&self) -> Result<Vec<String>, StorageError> {
        let gathered = self
            .gather(|s| Box::pin(async move { s.services().await }))
            .await;
        let mut all = self.base.reader.services().await?;
        all.extend(gathered.values.into_iter().flatten());
        all.sort();
        all.dedup();
        Ok(all)
    }

    async fn operations(&self, query: &OperationQuery) -> Result<Vec<Operation>, StorageError> {
        let gathered = self
            .gather(|s| {
                let query = query.clone();
                Box::pin(async move { s.operations(&query).await })
            })
            .await;
        let mut all = self.base.reader.operations(query).await?;
        all.extend(gathered.values.into_iter().flatten());
        all.sort();
        all.dedup();
        Ok(all)
    }

    async fn get_trace_partial(
        &self,
        query: GetTraceQuery,
    ) -> Result<Partial<Option<Trace>>, StorageError> {
        let Partial { value, warnings } = self.collect(&[query.trace_id]).await?;
        Ok(Partial {
            value: value.into_iter().next(),
            warnings,
        })
    }

    async fn get_traces_partial(
        &self,
        ids: &[TraceId],
    ) -> Result<Partial<Vec<Trace>>, StorageError> {
        self.collect(ids).await
    }

    async fn find_traces_partial(
        &self,
        query: &TraceQuery,
    ) -> Result<Partial<Vec<Trace>>, StorageError> {
        let Partial {
            value: found,
            mut warnings,
        } = self.find_trace_ids_partial(query).await?;
        let ids: Vec<TraceId> = found.iter().map(|f| f.trace_id).collect();
        let traces = self.collect(&ids).await?;
        warnings.extend(traces.warnings);
        warnings.sort();
        warnings.dedup();
        Ok(Partial {
            value: traces.value,
            warnings,
        })
    }

    async fn find_trace_ids_partial(
        &self,
        query: &TraceQuery,
    ) -> Result<Partial<Vec<FoundTrace>>, StorageError> {
        let gathered = self
            .gather(|s| {
                let query = query.clone();
                Box::pin(async move { s.find_trace_ids(&query).await })
            })
            .await;
        let base = self.base.reader.find_trace_ids_partial(query).await?;
        let mut warnings = gathered.warnings;
        warnings.extend(base.warnings);
        Ok(Partial {
            value: merge_found(
                std::iter::once(base.value).chain(gathered.values),
                query.limit,
            ),
            warnings,
        })
    }
}

#[async_trait]
impl DependencyReader for Federation {
    async fn dependencies(
        &self,
        start: UnixNanos,
        end: UnixNanos,
    ) -> Result<Vec<DependencyLink>, StorageError> {
        Ok(self.dependencies_partial(start, end).await?.value)
    }

    async fn dependencies_partial(
        &self,
        start: UnixNanos,
        end: UnixNanos,
    ) -> Result<Partial<Vec<DependencyLink>>, StorageError> {
        let gathered = self
            .gather(|s| Box::pin(async move { s.dependencies(start, end).await }))
            .await;
        let base = self
            .base
            .dependencies
            .dependencies_partial(start, end)
            .await?;
        let mut warnings = gathered.warnings;
        warnings.extend(base.warnings);
        Ok(Partial {
            value: merge_links(std::iter::once(base.value).chain(gathered.values)),
            warnings,
        })
    }
}

/// RED statistics of the blocks plus those of every collector's head (the
/// spans not yet in a block), added up per minute, service, operation and
/// kind, as all-in-one counts its head and blocks.
#[async_trait]
impl RedStatsReader for Federation {
    async fn red_stats(&self, query: &RedQuery) -> Result<Vec<RedRow>, StorageError> {
        Ok(self.red_stats_partial(query).await?.value)
    }

    async fn red_stats_partial(
        &self,
        query: &RedQuery,
    ) -> Result<Partial<Vec<RedRow>>, StorageError> {
        let gathered = self
            .gather(|s| {
                let query = query.clone();
                Box::pin(async move { s.red_stats(&query).await })
            })
            .await;
        let base = self.base.red.red_stats_partial(query).await?;
        let mut acc = RedAccumulator::default();
        for row in base.value.iter().chain(gathered.values.iter().flatten()) {
            acc.add_row(row);
        }
        let mut warnings = gathered.warnings;
        warnings.extend(base.warnings);
        Ok(Partial {
            value: acc.into_rows(),
            warnings,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::SpanWriter;
    use crate::memory::MemoryStore;
    use parking_lot::Mutex;
    use spoor_model::testing::{batch, record};

    /// A head over a memory store, as a collector's would answer.
    struct MemorySource {
        name: String,
        store: MemoryStore,
        blocks: Vec<String>,
        down: bool,
    }

    #[async_trait]
    impl RecentSource for MemorySource {
        fn name(&self) -> &str {
            &self.name
        }
        async fn find_trace_ids(
            &self,
            query: &TraceQuery,
        ) -> Result<Recent<Vec<FoundTrace>>, StorageError> {
            self.answer(self.store.find_trace_ids(query).await?)
        }
        async fn get_traces(&self, ids: &[TraceId]) -> Result<Recent<Vec<Trace>>, StorageError> {
            let mut out = Vec::new();
            for id in ids {
                if let Some(t) = self.store.get_trace(GetTraceQuery::new(*id)).await? {
                    out.push(t);
                }
            }
            self.answer(out)
        }
        async fn services(&self) -> Result<Recent<Vec<String>>, StorageError> {
            self.answer(self.store.services().await?)
        }
        async fn operations(
            &self,
            query: &OperationQuery,
        ) -> Result<Recent<Vec<Operation>>, StorageError> {
            self.answer(self.store.operations(query).await?)
        }
        async fn dependencies(
            &self,
            start: UnixNanos,
            end: UnixNanos,
        ) -> Result<Recent<Vec<DependencyLink>>, StorageError> {
            self.answer(self.store.dependencies(start, end).await?)
        }
        async fn red_stats(&self, query: &RedQuery) -> Result<Recent<Vec<RedRow>>, StorageError> {
            self.answer(self.store.red_stats(query).await?)
        }
    }

    impl MemorySource {
        fn answer<T>(&self, value: T) -> Result<Recent<T>, StorageError> {
            if self.down {
                return Err(StorageError::new(
                    crate::StorageErrorKind::Unavailable,
                    "connection refused",
                ));
            }
            Ok(Recent {
                value,
                blocks: self.blocks.clone(),
                warnings: Vec::new(),
            })
        }
    }

    #[derive(Default)]
    struct Catalog(Mutex<Vec<String>>);

    #[async_trait]
    impl BlockCatalog for Catalog {
        async fn ensure_blocks(&self, ids: &[String]) -> Vec<String> {
            self.0.lock().extend(ids.iter().cloned());
            Vec::new()
        }
    }

    fn span(trace: u8, span: u8, service: &str, start: u64) -> spoor_model::SpanRecord {
        record()
            .service(service)
            .name("op")
            .trace(u64::from(trace))
            .id(u64::from(span))
            .start(start)
            .duration(10)
            .build()
    }

    async fn store(records: Vec<spoor_model::SpanRecord>) -> MemoryStore {
        let store = MemoryStore::new(1000);
        store.write_spans(batch(records)).await.unwrap();
        store
    }

    async fn federation(
        base: Vec<spoor_model::SpanRecord>,
        sources: Vec<MemorySource>,
    ) -> (Federation, Arc<Catalog>) {
        let base = Arc::new(store(base).await);
        let catalog = Arc::new(Catalog::default());
        let sources: Vec<Arc<dyn RecentSource>> = sources
            .into_iter()
            .map(|s| Arc::new(s) as Arc<dyn RecentSource>)
            .collect();
        let federation = Federation::new(
            FederationBase {
                reader: base.clone(),
                dependencies: base.clone(),
                red: base,
                catalog: catalog.clone(),
            },
            Arc::new(sources),
            Duration::from_secs(5),
        );
        (federation, catalog)
    }

    async fn source(name: &str, records: Vec<spoor_model::SpanRecord>, down: bool) -> MemorySource {
        MemorySource {
            name: name.into(),
            store: store(records).await,
            blocks: vec![format!("block-of-{name}")],
            down,
        }
    }

    #[tokio::test]
    async fn pieces_of_one_trace_from_every_place_are_merged_once() {
        let (f, catalog) = federation(
            vec![span(1, 1, "front", 100), span(1, 2, "back", 110)],
            vec![
                source(
                    "c1",
                    vec![span(1, 2, "back", 110), span(1, 3, "db", 120)],
                    false,
                )
                .await,
                source(
                    "c2",
                    vec![span(1, 4, "cache", 130), span(2, 1, "front", 500)],
                    false,
                )
                .await,
            ],
        )
        .await;
        let trace = f
            .get_trace(GetTraceQuery::new(spoor_model::testing::trace_id(1)))
            .await
            .unwrap()
            .unwrap();
        let mut ids: Vec<u8> = trace.spans.iter().map(|s| s.span.span_id.0[7]).collect();
        ids.sort();
        assert_eq!(ids, [1, 2, 3, 4], "span 2 is in the base and c1, kept once");
        assert_eq!(
            *catalog.0.lock(),
            ["block-of-c1", "block-of-c2"],
            "the base was told about the blocks the sources named"
        );
        let found = f
            .find_trace_ids(&TraceQuery {
                limit: 10,
                ..TraceQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(
            found[0].trace_id,
            spoor_model::testing::trace_id(2),
            "newest first"
        );
        assert_eq!((found[1].start, found[1].end), (100, 140), "ranges joined");
        let services = f.services().await.unwrap();
        assert_eq!(services, ["back", "cache", "db", "front"]);
    }

    #[tokio::test]
    async fn an_unreachable_source_costs_its_part_and_says_so() {
        let (f, _) = federation(
            vec![span(1, 1, "front", 100)],
            vec![
                source("c1", vec![span(1, 3, "db", 120)], false).await,
                source("c2", vec![span(1, 4, "cache", 130)], true).await,
            ],
        )
        .await;
        let answer = f
            .get_trace_partial(GetTraceQuery::new(spoor_model::testing::trace_id(1)))
            .await
            .unwrap();
        assert_eq!(answer.value.unwrap().spans.len(), 2);
        assert_eq!(answer.warnings.len(), 1, "{:?}", answer.warnings);
        assert!(answer.warnings[0].contains("collector c2 is unavailable"));
        let traces = f
            .find_traces_partial(&TraceQuery {
                limit: 10,
                ..TraceQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(traces.value.len(), 1);
        assert!(!traces.warnings.is_empty());
    }

    #[tokio::test]
    async fn dependencies_add_up_over_disjoint_places() {
        let child = |trace: u8, span_id: u8, parent: u8| {
            record()
                .service("back")
                .name("op")
                .trace(u64::from(trace))
                .id(u64::from(span_id))
                .parent(u64::from(parent))
                .start(110)
                .duration(5)
                .build()
        };
        let (f, _) = federation(
            vec![span(1, 1, "front", 100), child(1, 2, 1)],
            vec![source("c1", vec![span(2, 1, "front", 100), child(2, 2, 1)], false).await],
        )
        .await;
        let links = f.dependencies(0, u64::MAX).await.unwrap();
        assert_eq!(
            links,
            [DependencyLink {
                parent: "front".into(),
                child: "back".into(),
                call_count: 2
            }]
        );
    }

    #[tokio::test]
    async fn red_statistics_add_up_over_the_blocks_and_every_head() {
        let (f, catalog) = federation(
            vec![span(1, 1, "front", 100), span(2, 1, "front", 200)],
            vec![
                source("c1", vec![span(3, 1, "front", 300)], false).await,
                source("c2", vec![span(4, 1, "back", 400)], false).await,
                source("c3", vec![span(5, 1, "front", 500)], true).await,
            ],
        )
        .await;
        let query = RedQuery {
            start: 0,
            end: 60_000_000_000,
            ..RedQuery::default()
        };
        let answer = f.red_stats_partial(&query).await.unwrap();
        let calls = |service: &str| -> u64 {
            answer
                .value
                .iter()
                .filter(|r| r.service == service)
                .map(|r| r.stats.calls)
                .sum()
        };
        assert_eq!(calls("front"), 3, "two in the blocks, one in c1's head");
        assert_eq!(calls("back"), 1);
        assert_eq!(
            answer.value.iter().filter(|r| r.service == "front").count(),
            1,
            "one row per minute, service, operation and kind: {:?}",
            answer.value
        );
        assert_eq!(answer.warnings.len(), 1, "{:?}", answer.warnings);
        assert!(answer.warnings[0].contains("collector c3 is unavailable"));
        assert!(
            catalog.0.lock().contains(&"block-of-c1".to_owned()),
            "the blocks the heads named are read"
        );
    }
}
