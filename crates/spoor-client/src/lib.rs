//! Spoor's outbound side: everything that sends to a Spoor (or any
//! collector) from outside a server (ADR 0019).
//!
//! - [`http`]: the one HTTP/1.1 client construction (pooled, `TCP_NODELAY`,
//!   `https://`) and a small `GET` helper.
//! - [`tls`]: the one TLS client configuration (rustls on ring, system
//!   roots plus a CA file, client certificates, server name override).
//! - [`credentials`]: bearer token file, extra headers and tenant header
//!   added to every outbound request ([`ClientSecurity`] holds both).
//! - [`grpc`]: the one gRPC channel construction and the pass-through codec
//!   that sends pre-encoded protobuf bytes.
//! - [`sender`]: spans encoded for a wire protocol (OTLP gRPC/HTTP
//!   protobuf/HTTP JSON, Jaeger UDP/HTTP/gRPC, Zipkin) and sent, each
//!   answer classified as OTLP says ([`Outcome`]).
//! - [`cluster`]: a collector's head read over Spoor's internal API by
//!   `spoor query`, and the collectors found by a list or by DNS.
//! - [`send_with_retry`]: one request sent until it is accepted or the
//!   workspace's one [`RetryPolicy`](spoor_service::retry::RetryPolicy)
//!   gives up.
//!
//! Used by `spoor tracegen`, `spoor bench`, `spoor import` (spoor-tools)
//! and the exporters of `spoor agent` (spoor-server). To change which
//! answers are retried or how long a sender waits, edit
//! `spoor_service::retry`; to change how an answer is read, [`sender`].

pub mod cluster;
pub mod credentials;
pub mod grpc;
pub mod http;
mod retry;
pub mod sender;
pub mod tls;

pub use credentials::{ClientSecurity, CredentialOptions, Credentials};
pub use retry::{Attempts, send_with_retry};
pub use sender::{Connector, Encoded, Outcome, Protocol, Sender, SenderOptions};
pub use tls::TlsOptions;

/// A sender could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A bad endpoint or option.
    #[error("{0}")]
    Config(String),
    /// The operating system refused a socket or a name lookup.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
}
