//! The collector's side of Spoor's internal API (`spoor.cluster.v1.Head`,
//! ADR 0025): queriers read the spans this collector holds in its head, so
//! they are searchable the moment they are acknowledged, and learn which
//! blocks it published lately. Every answer names those blocks, read
//! *after* the head answered: a cut that moves spans from the head into a
//! block between the two is seen as the block (the querier loads it), never
//! lost. Counts (dependencies, RED statistics) must not see such spans
//! twice, once in the head's answer and once in the block: those answers
//! are taken again until no block was published while the head answered
//! (a cut moves spans out of the head and names the block in one step). The
//! message conversions are `spoor_client::cluster`'s.

use std::sync::Arc;

use spoor_client::cluster as convert;
use spoor_model::TraceId;
use spoor_proto::spoor::cluster as pb;
use spoor_proto::spoor::cluster::head_server::{Head, HeadServer};
use spoor_storage::federate::RecentBlocks;
use spoor_storage::{DependencyReader, Partial, RedStatsReader, StorageError, TraceReader};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::ServerError;
use crate::error::storage_grpc;

/// What the internal API serves: the head's readers and the writer's
/// recent blocks.
#[derive(Clone)]
pub struct ClusterHead {
    pub reader: Arc<dyn TraceReader>,
    pub dependencies: Arc<dyn DependencyReader>,
    pub red: Arc<dyn RedStatsReader>,
    pub recent: Arc<dyn RecentBlocks>,
}

/// How many times a count is taken again when blocks were published while
/// the head answered.
const COUNT_ATTEMPTS: usize = 4;

/// The most trace IDs one `GetTraces` may ask for.
pub const MAX_TRACE_IDS: usize = 10_000;

impl ClusterHead {
    fn recent(&self, warnings: Vec<String>) -> Option<pb::Recent> {
        Some(pb::Recent {
            blocks: self.recent.recent_blocks(),
            warnings,
        })
    }

    /// A count of the head (`ask`) with the recent blocks, taken while no
    /// block was published, so that no span is in both; after
    /// [`COUNT_ATTEMPTS`] tries the last answer goes with a warning.
    async fn counted<T, F, Fut>(&self, ask: F) -> Result<(T, Option<pb::Recent>), Status>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Partial<T>, StorageError>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let before = self.recent.recent_blocks();
            let Partial {
                value,
                mut warnings,
            } = ask().await.map_err(|e| storage_grpc(&e))?;
            let after = self.recent.recent_blocks();
            if before == after || attempt >= COUNT_ATTEMPTS {
                if before != after {
                    tracing::warn!(
                        attempts = attempt,
                        "blocks kept being cut while the head counted"
                    );
                    warnings.push(
                        "blocks were cut while the head counted: spans of the newest block may \
                         be counted twice"
                            .into(),
                    );
                }
                return Ok((
                    value,
                    Some(pb::Recent {
                        blocks: after,
                        warnings,
                    }),
                ));
            }
        }
    }
}

#[tonic::async_trait]
impl Head for ClusterHead {
    async fn find_trace_ids(
        &self,
        request: Request<pb::FindTraceIdsRequest>,
    ) -> Result<Response<pb::FindTraceIdsResponse>, Status> {
        let query = request
            .into_inner()
            .query
            .ok_or_else(|| Status::invalid_argument("no query"))?;
        let query = convert::query_from_proto(query).map_err(|e| storage_grpc(&e))?;
        let Partial { value, warnings } = self
            .reader
            .find_trace_ids_partial(&query)
            .await
            .map_err(|e| storage_grpc(&e))?;
        Ok(Response::new(pb::FindTraceIdsResponse {
            traces: value.iter().map(convert::found_to_proto).collect(),
            recent: self.recent(warnings),
        }))
    }

    async fn get_traces(
        &self,
        request: Request<pb::GetTracesRequest>,
    ) -> Result<Response<pb::GetTracesResponse>, Status> {
        let ids = request.into_inner().trace_ids;
        if ids.len() > MAX_TRACE_IDS {
            return Err(Status::invalid_argument(format!(
                "{} trace IDs asked for; at most {MAX_TRACE_IDS}",
                ids.len()
            )));
        }
        let ids: Vec<TraceId> = ids
            .iter()
            .map(|b| convert::trace_id_from_bytes(b))
            .collect::<Result<_, _>>()
            .map_err(|e| storage_grpc(&e))?;
        let Partial { value, warnings } = self
            .reader
            .get_traces_partial(&ids)
            .await
            .map_err(|e| storage_grpc(&e))?;
        let otlp = if value.is_empty() {
            Vec::new()
        } else {
            convert::encode_traces(&value)
        };
        if otlp.len() > convert::MAX_ANSWER_BYTES {
            return Err(Status::resource_exhausted(format!(
                "the traces asked for take {} bytes, more than the {} an answer may",
                otlp.len(),
                convert::MAX_ANSWER_BYTES
            )));
        }
        Ok(Response::new(pb::GetTracesResponse {
            otlp,
            recent: self.recent(warnings),
        }))
    }

    async fn services(
        &self,
        _: Request<pb::ServicesRequest>,
    ) -> Result<Response<pb::ServicesResponse>, Status> {
        let services = self.reader.services().await.map_err(|e| storage_grpc(&e))?;
        Ok(Response::new(pb::ServicesResponse {
            services,
            recent: self.recent(Vec::new()),
        }))
    }

    async fn operations(
        &self,
        request: Request<pb::OperationsRequest>,
    ) -> Result<Response<pb::OperationsResponse>, Status> {
        let query = convert::operations_query(request.into_inner());
        let ops = self
            .reader
            .operations(&query)
            .await
            .map_err(|e| storage_grpc(&e))?;
        Ok(Response::new(pb::OperationsResponse {
            operations: ops.iter().map(convert::operation_to_proto).collect(),
            recent: self.recent(Vec::new()),
        }))
    }

    async fn dependencies(
        &self,
        request: Request<pb::DependenciesRequest>,
    ) -> Result<Response<pb::DependenciesResponse>, Status> {
        let r = request.into_inner();
        let (links, recent) = self
            .counted(|| self.dependencies.dependencies_partial(r.start, r.end))
            .await?;
        Ok(Response::new(pb::DependenciesResponse {
            links: links.iter().map(convert::link_to_proto).collect(),
            recent,
        }))
    }

    async fn red_stats(
        &self,
        request: Request<pb::RedStatsRequest>,
    ) -> Result<Response<pb::RedStatsResponse>, Status> {
        let query = convert::red_query_from_proto(request.into_inner());
        let (rows, recent) = self.counted(|| self.red.red_stats_partial(&query)).await?;
        Ok(Response::new(pb::RedStatsResponse {
            rows: rows.iter().map(convert::red_row_to_proto).collect(),
            recent,
        }))
    }
}

/// Serves the internal API on `listener` until `shutdown`.
pub async fn serve_grpc(
    listener: impl Into<crate::net::ProtectedListener>,
    head: Option<ClusterHead>,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    let head = head.ok_or_else(|| ServerError::Serve {
        what: "cluster gRPC",
        message: "this role has no head to serve".into(),
    })?;
    let listener = listener.into();
    listener
        .grpc_server()
        .add_service(
            HeadServer::new(head)
                .max_decoding_message_size(4 << 20)
                .max_encoding_message_size(convert::MAX_ANSWER_BYTES),
        )
        .serve_with_incoming_shutdown(listener.grpc_incoming(), shutdown.cancelled_owned())
        .await
        .map_err(|e| ServerError::Serve {
            what: "cluster gRPC",
            message: e.to_string(),
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use spoor_storage::memory::MemoryStore;
    use spoor_storage::{RedQuery, SpanWriter};
    use std::sync::Mutex;

    /// Recent blocks that change on each of the first `changes` reads (a
    /// block published while the head counts), then stay.
    struct Cutting {
        reads: Mutex<usize>,
        changes: usize,
    }

    impl RecentBlocks for Cutting {
        fn recent_blocks(&self) -> Vec<String> {
            let mut reads = self.reads.lock().unwrap();
            *reads += 1;
            let published = (*reads).min(self.changes + 1);
            (0..published).map(|i| format!("b{i}")).collect()
        }
    }

    async fn head(changes: usize) -> (ClusterHead, Arc<Cutting>) {
        let store = Arc::new(MemoryStore::new(100));
        store
            .write_spans(spoor_model::testing::batch(vec![
                spoor_model::testing::record()
                    .service("front")
                    .name("op")
                    .trace(1)
                    .id(1)
                    .start(1_000)
                    .duration(10)
                    .build(),
            ]))
            .await
            .unwrap();
        let recent = Arc::new(Cutting {
            reads: Mutex::new(0),
            changes,
        });
        let head = ClusterHead {
            reader: store.clone(),
            dependencies: store.clone(),
            red: store,
            recent: recent.clone(),
        };
        (head, recent)
    }

    fn request() -> Request<pb::RedStatsRequest> {
        Request::new(convert::red_query_to_proto(&RedQuery {
            start: 0,
            end: 60_000_000_000,
            ..RedQuery::default()
        }))
    }

    #[tokio::test]
    async fn a_count_is_taken_again_until_no_block_was_cut_meanwhile() {
        let (head, recent) = head(2).await;
        let answer = head.red_stats(request()).await.unwrap().into_inner();
        let r = answer.recent.unwrap();
        assert_eq!(
            r.blocks,
            ["b0", "b1", "b2"],
            "the blocks after the last count"
        );
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        assert_eq!(answer.rows.len(), 1);
        assert_eq!(answer.rows[0].calls, 1);
        // The first count saw a cut (b1), the second did not: 2 counts,
        // 4 reads of the block list.
        assert_eq!(*recent.reads.lock().unwrap(), 4);
    }

    #[tokio::test]
    async fn blocks_cut_during_every_count_give_a_warning() {
        let (head, _) = head(usize::MAX - 1).await;
        let answer = head.red_stats(request()).await.unwrap().into_inner();
        let r = answer.recent.unwrap();
        assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
        assert!(r.warnings[0].contains("counted twice"));
    }
}
