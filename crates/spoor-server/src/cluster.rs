//! The collector's side of Spoor's internal API (`spoor.cluster.v1.Head`,
//! ADR 0025): queriers read the spans this collector holds in its head, so
//! they are searchable the moment they are acknowledged, and learn which
//! blocks it published lately. Every answer names those blocks, read
//! *after* the head answered: a cut that moves spans from the head into a
//! block between the two is seen as the block (the querier loads it), never
//! lost. The message conversions are `spoor_client::cluster`'s.

use std::sync::Arc;

use spoor_client::cluster as convert;
use spoor_model::TraceId;
use spoor_proto::spoor::cluster as pb;
use spoor_proto::spoor::cluster::head_server::{Head, HeadServer};
use spoor_storage::federate::RecentBlocks;
use spoor_storage::{DependencyReader, Partial, TraceReader};
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
    pub recent: Arc<dyn RecentBlocks>,
}

/// The most trace IDs one `GetTraces` may ask for.
pub const MAX_TRACE_IDS: usize = 10_000;

impl ClusterHead {
    fn recent(&self, warnings: Vec<String>) -> Option<pb::Recent> {
        Some(pb::Recent {
            blocks: self.recent.recent_blocks(),
            warnings,
        })
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
        let Partial { value, warnings } = self
            .dependencies
            .dependencies_partial(r.start, r.end)
            .await
            .map_err(|e| storage_grpc(&e))?;
        Ok(Response::new(pb::DependenciesResponse {
            links: value.iter().map(convert::link_to_proto).collect(),
            recent: self.recent(warnings),
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
