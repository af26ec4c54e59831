//! Zipkin wire formats to and from the model.
//!
//! Decoders for everything Jaeger's Zipkin receiver (port 9411) accepts:
//!
//! - [`decode_v2_json`]: `POST /api/v2/spans`, a JSON array of v2 spans.
//! - [`decode_v2_proto`]: the same with `Content-Type: application/x-protobuf`
//!   (`zipkin.proto3.ListOfSpans`).
//! - [`decode_v1_json`]: `POST /api/v1/spans`, a JSON array of v1 spans
//!   (annotations and binary annotations).
//! - [`decode_v1_thrift`]: the same with `Content-Type: application/x-thrift`,
//!   a Thrift-binary `list<zipkincore.Span>`.
//!
//! and [`encode_v2_json`], the model as v2 JSON (for load generators and
//! tests), which [`decode_v2_json`] reads back.
//!
//! # Mapping
//!
//! Jaeger v2 runs the OpenTelemetry collector's Zipkin translators
//! (`pkg/translator/zipkin/zipkinv2` and `zipkinv1`); the mapping here
//! follows them.
//!
//! **v2 (JSON and protobuf).** `localEndpoint.serviceName` becomes the
//! resource's `service.name` (or the attribute a `otlp.service.name.source`
//! tag names); without one the resource is empty and the span shows under
//! Jaeger's `OTLPResourceNoServiceName`. Tags whose keys are resource semantic
//! conventions (`host.name`, `telemetry.sdk.*`, `service.*`, `process.*`, …)
//! move to the resource. Spans with the same resource share one
//! `Arc<Resource>`, spans with the same scope one `Arc<Scope>`. The scope
//! comes from the `otel.scope.name`/`otel.scope.version` tags, or else
//! `otel.library.name`/`otel.library.version`. `kind` CLIENT, SERVER,
//! PRODUCER, CONSUMER map to span kinds; anything else (absent, `null`) is
//! unspecified, or internal when a `span.kind` tag says `internal` (the tag
//! is consumed). Status: an `otel.status_code` tag sets the code
//! (`STATUS_CODE_OK`/`Ok`/`OK` → ok, `STATUS_CODE_ERROR`/`Error`/`ERROR` →
//! error, anything else unset) and then `otel.status_description` the
//! message; any `error` tag sets the error code (the tag is consumed only
//! when its value is `"true"`). `w3c.tracestate` becomes the trace state,
//! `otlp.link.N` tags become links. Other tags become string attributes,
//! then the local endpoint adds `net.host.ip`/`net.host.port` and the remote
//! endpoint `peer.service`/`net.peer.ip`/`net.peer.port`. A missing
//! timestamp gives a span starting at the Unix epoch with the boolean
//! attribute [`START_TIME_ABSENT`]. A `parentId` equal to the span's own ID
//! is ignored. Annotations become events: the value up to the first `|` is
//! the name, and `name|{json attributes}|dropped count` carries attributes.
//! `debug` and `shared` carry nothing (the collector drops them too); a
//! client and a server span sharing one ID are both kept (the query-time
//! adjuster gives the server span its own ID).
//!
//! **v1 (JSON and Thrift).** Kind comes from the first core annotation
//! (`cs`/`cr` client, `sr`/`ss` server, `ms` producer, `mr` consumer), which
//! are not kept as events; the service from the first core annotation whose
//! endpoint names one, else from the last binary annotation's endpoint, else
//! from the `lc` (local component) value, else `unknown-service`. The
//! resource holds `service.name` plus that endpoint's `ipv4`, `ipv6` and
//! `port` (as strings). Start and end are the span's `timestamp` and
//! `timestamp + duration`, else the earliest and latest annotation. Binary
//! annotations become attributes (`lc` is renamed `component`; Thrift values
//! keep their type), and set the status: `census.status_code`, then
//! `otel.status_code`, then `error`, then `http.status_code` (≥ 400 or < 100
//! is an error), with the matching description tags. v1 JSON spans with no
//! start time at all get the decoding time plus [`START_TIME_ABSENT`].
//!
//! # Deliberate differences from the collector
//!
//! Senders' input that the collector refuses or garbles but means something
//! clear is accepted: fractional or quoted microsecond timestamps, tag
//! values written as JSON booleans or numbers, 8-byte trace IDs in protobuf,
//! the `OK`/`ERROR` status names the OpenTelemetry Python and JavaScript
//! exporters write, `otel.scope.*` tags, ports above 32767 in Thrift,
//! v2 JSON annotations without a timestamp (the epoch, as in protobuf). An
//! annotation whose `|`-form attributes are not valid JSON keeps the part
//! before the first `|` as its name instead of failing the whole request.
//! Trace and span IDs of all zeros are refused in every format, as the OTLP
//! decoders do, and a v1 span naming itself as parent is a root (as in v2).
//!
//! One bad field never costs the request (ADR 0015): the collector and
//! Jaeger answer 400 for the whole batch, Zipkin's own server ignores an
//! address it cannot read. Here a span without a usable trace ID or ID is
//! left out alone, and a field that cannot be used (an address that is not
//! an IP, an unknown `kind`, a value of the wrong JSON type, an annotation
//! or link that does not parse, a malformed parent ID, which makes the span
//! a root) is dropped; both are counted in the
//! [`DecodeReport`](crate::DecodeReport) of the `*_reported` decoders. Only a
//! body that is not a JSON array (or protobuf `ListOfSpans`, or Thrift list
//! of spans) fails the request.
//! Spans keep their input order (the collector sorts them by
//! service), and a resource is built from each span's own tags (the collector
//! uses the first span of each service).
//!
//! # Hostile input
//!
//! Decoders never panic, allocate at most a small multiple of the input,
//! and name the span index and field in their errors. JSON is read to a
//! fixed depth and deeper nesting is skipped without recursion; protobuf
//! nesting is bounded by prost's recursion limit; Thrift lengths are checked
//! against the bytes left and nesting is limited to
//! [`crate::thrift::DEFAULT_MAX_DEPTH`] levels.

mod encode;
mod raw;
mod v1;
mod v2;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use spoor_model::{AnyValue, KeyValue, Resource, Scope};

pub use encode::encode_v2_json;
pub use v1::{
    decode_v1_json, decode_v1_json_at, decode_v1_json_reported, decode_v1_thrift,
    decode_v1_thrift_reported,
};
pub use v2::{decode_v2_json, decode_v2_json_reported, decode_v2_proto, decode_v2_proto_reported};

/// Boolean span attribute marking a span whose sender gave no start time
/// (the collector's `zipkin.StartTimeAbsent`). [`encode_v2_json`] leaves the
/// timestamp out for such spans.
pub const START_TIME_ABSENT: &str = "otel.zipkin.absentField.startTime";

/// Tag naming the resource attribute the local service name goes to.
const SERVICE_NAME_SOURCE: &str = "otlp.service.name.source";

/// Scope tags written by OpenTelemetry Zipkin exporters.
const LIBRARY_NAME: &str = "otel.library.name";
const LIBRARY_VERSION: &str = "otel.library.version";
const SCOPE_NAME: &str = "otel.scope.name";
const SCOPE_VERSION: &str = "otel.scope.version";

/// Span attribute keys the endpoints map to (semantic conventions 1.6).
const NET_HOST_IP: &str = "net.host.ip";
const NET_HOST_PORT: &str = "net.host.port";
const NET_PEER_IP: &str = "net.peer.ip";
const NET_PEER_PORT: &str = "net.peer.port";
const PEER_SERVICE: &str = "peer.service";

/// Tags that belong to the resource: the resource semantic conventions plus
/// the OpenCensus resource keys, sorted for binary search.
const RESOURCE_KEYS: &[&str] = &[
    "aws.ecs.cluster.arn",
    "aws.ecs.container.arn",
    "aws.ecs.launchtype",
    "aws.ecs.task.arn",
    "aws.ecs.task.family",
    "aws.ecs.task.revision",
    "aws.eks.cluster.arn",
    "aws.log.group.arns",
    "aws.log.group.names",
    "aws.log.stream.arns",
    "aws.log.stream.names",
    "browser.brands",
    "browser.language",
    "browser.mobile",
    "browser.platform",
    "cloud.account.id",
    "cloud.availability_zone",
    "cloud.platform",
    "cloud.provider",
    "cloud.region",
    "cloud.resource_id",
    "container.command",
    "container.command_args",
    "container.command_line",
    "container.id",
    "container.image.id",
    "container.image.name",
    "container.image.tag",
    "container.name",
    "container.runtime",
    "deployment.environment",
    "deployment.environment.name",
    "device.id",
    "device.manufacturer",
    "device.model.identifier",
    "device.model.name",
    "faas.id",
    "faas.instance",
    "faas.max_memory",
    "faas.name",
    "faas.version",
    "gcp.cloud_run.job.execution",
    "gcp.cloud_run.job.task_index",
    "gcp.gce.instance.hostname",
    "gcp.gce.instance.name",
    "heroku.app.id",
    "heroku.release.commit",
    "heroku.release.creation_timestamp",
    "host.arch",
    "host.id",
    "host.image.id",
    "host.image.name",
    "host.image.version",
    "host.name",
    "host.type",
    "k8s.cluster.name",
    "k8s.container.name",
    "k8s.container.restart_count",
    "k8s.cronjob.name",
    "k8s.cronjob.uid",
    "k8s.daemonset.name",
    "k8s.daemonset.uid",
    "k8s.deployment.name",
    "k8s.deployment.uid",
    "k8s.job.name",
    "k8s.job.uid",
    "k8s.namespace.name",
    "k8s.node.name",
    "k8s.node.uid",
    "k8s.pod.name",
    "k8s.pod.uid",
    "k8s.replicaset.name",
    "k8s.replicaset.uid",
    "k8s.statefulset.name",
    "k8s.statefulset.uid",
    "opencensus.exporterversion",
    "opencensus.resourcetype",
    "opencensus.starttime",
    "os.description",
    "os.name",
    "os.type",
    "os.version",
    "process.command",
    "process.command_args",
    "process.command_line",
    "process.executable.name",
    "process.executable.path",
    "process.owner",
    "process.pid",
    "process.runtime.description",
    "process.runtime.name",
    "process.runtime.version",
    "service.instance.id",
    "service.name",
    "service.namespace",
    "service.version",
    "telemetry.auto.version",
    "telemetry.sdk.language",
    "telemetry.sdk.name",
    "telemetry.sdk.version",
    "webengine.description",
    "webengine.name",
    "webengine.version",
];

/// Whether a v2 tag belongs to the resource rather than the span.
fn is_resource_key(key: &str) -> bool {
    RESOURCE_KEYS.binary_search(&key).is_ok()
}

/// Whether a v2 tag never becomes a span attribute.
fn is_non_span_key(key: &str) -> bool {
    is_resource_key(key)
        || key == SERVICE_NAME_SOURCE
        || key == LIBRARY_NAME
        || key == LIBRARY_VERSION
}

/// Entries keyed by string, one per key: a later value replaces an earlier
/// one at the earlier one's position (Go map semantics, in a stable order).
/// Linear in the number of entries, whatever the input.
struct LastWins<V> {
    items: Vec<(String, V)>,
    index: HashMap<String, usize>,
}

impl<V> LastWins<V> {
    fn with_capacity(n: usize) -> Self {
        LastWins {
            items: Vec::with_capacity(n),
            index: HashMap::with_capacity(n),
        }
    }

    fn set(&mut self, key: String, value: V) {
        match self.index.get(&key) {
            Some(&at) => self.items[at].1 = value,
            None => {
                self.index.insert(key.clone(), self.items.len());
                self.items.push((key, value));
            }
        }
    }

    fn into_pairs(self) -> Vec<(String, V)> {
        self.items
    }
}

impl LastWins<AnyValue> {
    fn into_attributes(self) -> Vec<KeyValue> {
        self.items
            .into_iter()
            .map(|(key, value)| KeyValue { key, value })
            .collect()
    }
}

/// Sets `key` to `value`, in place when the key is already there. Linear in
/// the attributes: only for a bounded number of keys per span.
fn upsert(attrs: &mut Vec<KeyValue>, key: &str, value: AnyValue) {
    match attrs.iter_mut().find(|kv| kv.key == key) {
        Some(kv) => kv.value = value,
        None => attrs.push(KeyValue::new(key, value)),
    }
}

/// Shares resources and scopes between the records of one batch.
#[derive(Default)]
struct Interner {
    resources: HashMap<Vec<(String, String)>, Arc<Resource>>,
    scopes: HashMap<(String, String), Arc<Scope>>,
}

impl Interner {
    /// The resource with exactly these string attributes, in this order.
    fn resource(&mut self, attrs: Vec<(String, String)>) -> Arc<Resource> {
        if let Some(r) = self.resources.get(&attrs) {
            return r.clone();
        }
        let resource = Arc::new(Resource {
            attributes: attrs
                .iter()
                .map(|(k, v)| KeyValue::str(k.clone(), v.clone()))
                .collect(),
            ..Resource::default()
        });
        self.resources.insert(attrs, resource.clone());
        resource
    }

    fn scope(&mut self, name: String, version: String) -> Arc<Scope> {
        self.scopes
            .entry((name, version))
            .or_insert_with_key(|(name, version)| {
                Arc::new(Scope {
                    name: name.clone(),
                    version: version.clone(),
                    ..Scope::default()
                })
            })
            .clone()
    }
}

/// Formats IP bytes as Go's `net.IP.String` does: 4 bytes dotted, 16 bytes
/// as IPv6 (an IPv4-mapped address dotted), any other length as `?` and hex.
/// `None` for no bytes.
fn ip_bytes_to_string(b: &[u8]) -> Option<String> {
    match b.len() {
        0 => None,
        4 => Some(Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string()),
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(b);
            Some(ip_to_string(IpAddr::V6(Ipv6Addr::from(a))))
        }
        _ => {
            let mut s = String::with_capacity(1 + b.len() * 2);
            s.push('?');
            for byte in b {
                s.push_str(&format!("{byte:02x}"));
            }
            Some(s)
        }
    }
}

/// An address as Go prints it: IPv4-mapped IPv6 addresses in dotted form.
fn ip_to_string(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// Decimal digits only, as Go's `strconv.ParseUint(s, 10, 32)` wants them.
fn parse_u32_strict(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses the JSON object of a `|`-encoded annotation or link into
/// attributes as the collector does: strings, booleans, and numbers (whole
/// numbers as integers, others as doubles); other values are dropped.
/// Duplicate keys keep the last value.
fn json_attributes(json: &str) -> Option<Vec<KeyValue>> {
    let entries: raw::Obj<raw::Entries> = serde_json::from_str(json).ok()?;
    let raw::Obj::Value(entries) = entries else {
        return None;
    };
    let mut out = LastWins::with_capacity(entries.0.len());
    for (k, v) in entries.0 {
        let value = match v {
            raw::Raw::Str(s) => AnyValue::Str(s),
            raw::Raw::Bool(b) => AnyValue::Bool(b),
            raw::Raw::U64(n) => number_value(n as f64),
            raw::Raw::I64(n) => number_value(n as f64),
            raw::Raw::F64(n) => number_value(n),
            raw::Raw::Null | raw::Raw::Array | raw::Raw::Object => continue,
        };
        out.set(k, value);
    }
    Some(out.into_attributes())
}

/// A JSON number the way Go reads it into `interface{}` and the collector
/// then stores it.
fn number_value(d: f64) -> AnyValue {
    if d.fract() == 0.0 {
        AnyValue::Int(d as i64)
    } else {
        AnyValue::Double(d)
    }
}
