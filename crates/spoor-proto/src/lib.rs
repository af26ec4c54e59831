//! Generated protobuf and gRPC types.
//!
//! OTLP comes from the `opentelemetry-proto` crate (generated with prost and
//! tonic). Jaeger's api_v2/api_v3 and Zipkin protos will be compiled here from
//! their published field numbers when the surfaces that need them land.

pub use opentelemetry_proto::tonic::collector::trace::v1 as otlp_collector;
pub use opentelemetry_proto::tonic::common::v1 as otlp_common;
pub use opentelemetry_proto::tonic::resource::v1 as otlp_resource;
pub use opentelemetry_proto::tonic::trace::v1 as otlp_trace;

/// `google.rpc.Status`, the error body OTLP/HTTP receivers answer with.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    /// A `google.rpc.Code` value (3 = INVALID_ARGUMENT, 8 = RESOURCE_EXHAUSTED, …).
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// A developer-facing message.
    #[prost(string, tag = "2")]
    pub message: String,
}
