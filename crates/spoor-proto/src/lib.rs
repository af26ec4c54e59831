//! Generated protobuf and gRPC types.
//!
//! - OTLP comes from the `opentelemetry-proto` crate (generated with prost and
//!   tonic): [`otlp_collector`], [`otlp_common`], [`otlp_resource`], [`otlp_trace`].
//! - Jaeger api_v2 (package `jaeger.api_v2`) and Zipkin v2 (package
//!   `zipkin.proto3`) are compiled by `build.rs` from the `.proto` files under
//!   `proto/`, which we wrote from the published field numbers. `protox` parses
//!   them (no system `protoc`); `tonic-prost-build` generates prost messages and
//!   tonic clients and servers:
//!   - [`jaeger::api_v2`]: `Span`, `Batch`, `Process`, `KeyValue`, … (model),
//!     `PostSpansRequest`/`PostSpansResponse` with
//!     `collector_service_server`/`collector_service_client` (gRPC
//!     `/jaeger.api_v2.CollectorService/PostSpans`), and the sampling messages
//!     with `sampling_manager_server`/`sampling_manager_client` (gRPC
//!     `/jaeger.api_v2.SamplingManager/GetSamplingStrategy`).
//!   - [`zipkin`]: `Span`, `Endpoint`, `Annotation`, `ListOfSpans`,
//!     `ReportResponse`, and `span_service_server`/`span_service_client`.
//!
//!   Timestamps and durations are `prost_types::{Timestamp, Duration}`.
//! - [`FILE_DESCRIPTOR_SET`]: the descriptors of every `.proto` compiled
//!   here (with the `google.protobuf` files they import), for gRPC server
//!   reflection.

pub use opentelemetry_proto::tonic::collector::trace::v1 as otlp_collector;
pub use opentelemetry_proto::tonic::common::v1 as otlp_common;
pub use opentelemetry_proto::tonic::resource::v1 as otlp_resource;
pub use opentelemetry_proto::tonic::trace::v1 as otlp_trace;

/// The encoded `google.protobuf.FileDescriptorSet` of every `.proto` under
/// `proto/` and the files they import, with source info (comments), as
/// `build.rs` compiled them. A server that offers reflection registers the
/// files of the services it serves, not the whole set (the internal
/// `spoor.cluster.v1` and the collector services are here too).
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/spoor_descriptor.bin"));

/// `google.protobuf` well-known types used by the generated code.
pub use prost_types;

/// `google.rpc.Status`: the error body OTLP/HTTP receivers answer with, and
/// the `grpc-status-details-bin` trailer of a gRPC status.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    /// A `google.rpc.Code` value (3 = INVALID_ARGUMENT, 8 = RESOURCE_EXHAUSTED, …).
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// A developer-facing message.
    #[prost(string, tag = "2")]
    pub message: String,
    /// Typed details, such as [`RetryInfo`].
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<prost_types::Any>,
}

/// `google.rpc.RetryInfo`: how long a client should wait before retrying.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<prost_types::Duration>,
}

/// The type URL of [`RetryInfo`] in a status's details.
pub const RETRY_INFO_TYPE_URL: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// Jaeger's protobuf packages.
pub mod jaeger {
    /// Package `jaeger.api_v2`: the span model, `CollectorService` and
    /// `SamplingManager`.
    #[allow(
        missing_docs,
        clippy::all,
        clippy::pedantic,
        clippy::unwrap_used,
        clippy::expect_used
    )]
    pub mod api_v2 {
        include!(concat!(env!("OUT_DIR"), "/jaeger.api_v2.rs"));
    }

    /// Package `jaeger.api_v3`: the gRPC `QueryService` (traces as OTLP
    /// `TracesData` bytes; see the `.proto`).
    #[allow(
        missing_docs,
        clippy::all,
        clippy::pedantic,
        clippy::unwrap_used,
        clippy::expect_used
    )]
    pub mod api_v3 {
        include!(concat!(env!("OUT_DIR"), "/jaeger.api_v3.rs"));
    }
}

/// Package `grpc.health.v1`: the standard gRPC health service.
#[allow(
    missing_docs,
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used,
    clippy::expect_used
)]
pub mod grpc_health {
    include!(concat!(env!("OUT_DIR"), "/grpc.health.v1.rs"));
}

/// Spoor's own packages.
pub mod spoor {
    /// Package `spoor.cluster.v1`: the internal API between Spoor's roles
    /// (a querier reading a collector's head; ADR 0025). `head_server` and
    /// `head_client`.
    #[allow(
        missing_docs,
        clippy::all,
        clippy::pedantic,
        clippy::unwrap_used,
        clippy::expect_used
    )]
    pub mod cluster {
        include!(concat!(env!("OUT_DIR"), "/spoor.cluster.v1.rs"));
    }
}

/// Package `zipkin.proto3`: Zipkin v2 spans (`ListOfSpans`) and `SpanService`.
#[allow(
    missing_docs,
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used,
    clippy::expect_used
)]
pub mod zipkin {
    include!(concat!(env!("OUT_DIR"), "/zipkin.proto3.rs"));
}

#[cfg(test)]
mod tests {
    use super::jaeger::api_v2;
    use tonic::server::NamedService;

    #[test]
    #[allow(clippy::unwrap_used)]
    fn the_descriptor_set_holds_every_compiled_service() {
        use prost::Message as _;
        let set = prost_types::FileDescriptorSet::decode(super::FILE_DESCRIPTOR_SET).unwrap();
        let mut services: Vec<String> = set
            .file
            .iter()
            .flat_map(|f| {
                f.service
                    .iter()
                    .map(move |s| format!("{}.{}", f.package(), s.name()))
            })
            .collect();
        services.sort_unstable();
        assert_eq!(
            services,
            [
                "grpc.health.v1.Health",
                "jaeger.api_v2.CollectorService",
                "jaeger.api_v2.QueryService",
                "jaeger.api_v2.SamplingManager",
                "jaeger.api_v3.QueryService",
                "spoor.cluster.v1.Head",
                "zipkin.proto3.SpanService",
            ]
        );
        // The imported well-known types are in the set too.
        assert!(
            set.file
                .iter()
                .any(|f| f.name() == "google/protobuf/timestamp.proto")
        );
    }

    #[test]
    fn grpc_service_names_and_paths_match_jaeger() {
        type Collector<T> = api_v2::collector_service_server::CollectorServiceServer<T>;
        type Sampling<T> = api_v2::sampling_manager_server::SamplingManagerServer<T>;
        assert_eq!(
            <Collector<()> as NamedService>::NAME,
            "jaeger.api_v2.CollectorService"
        );
        assert_eq!(
            <Sampling<()> as NamedService>::NAME,
            "jaeger.api_v2.SamplingManager"
        );
        assert_eq!(
            format!("/{}/PostSpans", <Collector<()> as NamedService>::NAME),
            "/jaeger.api_v2.CollectorService/PostSpans"
        );
        assert_eq!(
            format!(
                "/{}/GetSamplingStrategy",
                <Sampling<()> as NamedService>::NAME
            ),
            "/jaeger.api_v2.SamplingManager/GetSamplingStrategy"
        );
        type Zipkin<T> = super::zipkin::span_service_server::SpanServiceServer<T>;
        assert_eq!(
            <Zipkin<()> as NamedService>::NAME,
            "zipkin.proto3.SpanService"
        );
    }
}
