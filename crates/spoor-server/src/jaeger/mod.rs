//! Jaeger's span receivers:
//!
//! - [`udp`]: Thrift compact (6831) and binary (6832) `Agent.emitBatch`
//!   datagrams, through a bounded queue and a pool of decoding workers;
//! - [`http`]: Thrift binary `Batch` bodies on `POST /api/traces` (14268);
//! - [`grpc`]: `jaeger.api_v2.CollectorService/PostSpans` (14250), served
//!   together with `jaeger.api_v2.SamplingManager`.

pub mod grpc;
pub mod http;
pub mod udp;

pub use grpc::{JaegerPostSpans, collector_service, serve_grpc};
pub use http::http_router;
pub use udp::{ThriftProtocol, serve_udp};
