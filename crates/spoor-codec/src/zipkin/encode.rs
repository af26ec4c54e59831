//! The model as Zipkin v2 JSON.

use std::net::IpAddr;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use spoor_model::{AnyValue, KeyValue, SpanKind, SpanRecord, StatusCode, find_attr, keys};

use super::{
    LIBRARY_NAME, LIBRARY_VERSION, LastWins, NET_HOST_IP, NET_HOST_PORT, NET_PEER_IP,
    NET_PEER_PORT, PEER_SERVICE, START_TIME_ABSENT,
};

/// Encodes records as a Zipkin v2 JSON array (the body of
/// `POST /api/v2/spans`), the way the OpenTelemetry collector's Zipkin
/// exporter lays spans out, so that [`super::decode_v2_json`] reads back the
/// same spans:
///
/// - IDs in hex (16 characters for a trace ID whose high half is zero);
///   times in microseconds (truncated); no `timestamp` for a span carrying
///   [`super::START_TIME_ABSENT`].
/// - `localEndpoint.serviceName` from the resource's `service.name`; the
///   endpoints' addresses and ports from `net.host.*`, `peer.service` and
///   `net.peer.*` attributes (when they parse as an IP address and a port).
/// - Tags: the other span attributes and the other resource attributes as
///   strings; `span.kind: internal` for internal spans; `otel.status_code`
///   (`Ok`/`Error`) and `otel.status_description`; `w3c.tracestate`;
///   `otel.library.name`/`version` from the scope; links as `otlp.link.N`.
/// - Events as annotations: the name, or `name|{attributes}|dropped` when
///   the event has attributes.
pub fn encode_v2_json(spans: &[SpanRecord]) -> Vec<u8> {
    // Serializing these types cannot fail: every map key is a string.
    serde_json::to_vec(&OutSpans(spans)).unwrap_or_default()
}

struct OutSpans<'a>(&'a [SpanRecord]);

impl Serialize for OutSpans<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for r in self.0 {
            seq.serialize_element(&OutSpan(r))?;
        }
        seq.end()
    }
}

struct OutSpan<'a>(&'a SpanRecord);

#[derive(Default)]
struct OutEndpoint {
    service_name: Option<String>,
    ipv4: Option<String>,
    ipv6: Option<String>,
    port: Option<u16>,
}

impl OutEndpoint {
    fn is_empty(&self) -> bool {
        self.service_name.is_none()
            && self.ipv4.is_none()
            && self.ipv6.is_none()
            && self.port.is_none()
    }

    /// Takes an IP address attribute if it parses; `false` when it does not.
    fn set_ip(&mut self, v: &AnyValue) -> bool {
        match v.as_str().and_then(|s| s.parse::<IpAddr>().ok()) {
            Some(IpAddr::V4(ip)) => self.ipv4 = Some(ip.to_string()),
            Some(IpAddr::V6(ip)) => match ip.to_ipv4_mapped() {
                Some(v4) => self.ipv4 = Some(v4.to_string()),
                None => self.ipv6 = Some(ip.to_string()),
            },
            None => return false,
        }
        true
    }

    /// Takes a port attribute (an integer or decimal string, 1 to 65535).
    fn set_port(&mut self, v: &AnyValue) -> bool {
        let port = match v {
            AnyValue::Int(i) => u16::try_from(*i).ok(),
            AnyValue::Str(s) => s.parse::<u16>().ok(),
            _ => None,
        };
        match port {
            Some(p) if p > 0 => {
                self.port = Some(p);
                true
            }
            _ => false,
        }
    }
}

impl Serialize for OutEndpoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if let Some(v) = &self.service_name {
            m.serialize_entry("serviceName", v)?;
        }
        if let Some(v) = &self.ipv4 {
            m.serialize_entry("ipv4", v)?;
        }
        if let Some(v) = &self.ipv6 {
            m.serialize_entry("ipv6", v)?;
        }
        if let Some(v) = &self.port {
            m.serialize_entry("port", v)?;
        }
        m.end()
    }
}

/// Tags in insertion order; a later value replaces an earlier one in place.
struct OutTags(LastWins<String>);

impl OutTags {
    fn set(&mut self, key: &str, value: String) {
        self.0.set(key.to_owned(), value);
    }
}

impl Serialize for OutTags {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.items.len()))?;
        for (k, v) in &self.0.items {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

struct OutAnnotation {
    timestamp: u64,
    value: String,
}

impl Serialize for OutAnnotation {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("timestamp", &self.timestamp)?;
        m.serialize_entry("value", &self.value)?;
        m.end()
    }
}

/// Attributes as the JSON object of a `|`-encoded annotation or link.
fn attributes_json(attrs: &[KeyValue]) -> String {
    let mut obj = serde_json::Map::new();
    for kv in attrs {
        let v = match &kv.value {
            AnyValue::Str(s) => serde_json::Value::String(s.clone()),
            AnyValue::Bool(b) => serde_json::Value::Bool(*b),
            AnyValue::Int(i) => serde_json::Value::from(*i),
            AnyValue::Double(d) => serde_json::Number::from_f64(*d)
                .map(serde_json::Value::Number)
                .unwrap_or_else(|| serde_json::Value::String(kv.value.to_string_lossy())),
            other => serde_json::Value::String(other.to_string_lossy()),
        };
        obj.insert(kv.key.clone(), v);
    }
    serde_json::Value::Object(obj).to_string()
}

impl Serialize for OutSpan<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let span = &r.span;

        let mut local = OutEndpoint {
            service_name: find_attr(&r.resource.attributes, keys::SERVICE_NAME)
                .and_then(AnyValue::as_str)
                .map(str::to_owned),
            ..OutEndpoint::default()
        };
        let mut remote = OutEndpoint::default();
        let mut tags = OutTags(LastWins::with_capacity(span.attributes.len() + 8));
        let mut start_absent = false;
        for kv in &span.attributes {
            let consumed = match kv.key.as_str() {
                NET_HOST_IP => local.set_ip(&kv.value),
                NET_HOST_PORT => local.set_port(&kv.value),
                NET_PEER_IP => remote.set_ip(&kv.value),
                NET_PEER_PORT => remote.set_port(&kv.value),
                PEER_SERVICE => match kv.value.as_str() {
                    Some(v) if !v.is_empty() => {
                        remote.service_name = Some(v.to_owned());
                        true
                    }
                    _ => false,
                },
                START_TIME_ABSENT => {
                    start_absent = kv.value == AnyValue::Bool(true);
                    start_absent
                }
                // Without a kind, a `span.kind` tag would set one on decoding.
                "span.kind" => span.kind == SpanKind::Unspecified,
                _ => false,
            };
            if !consumed {
                tags.set(&kv.key, kv.value.to_string_lossy());
            }
        }
        for kv in &r.resource.attributes {
            if kv.key != keys::SERVICE_NAME {
                tags.set(&kv.key, kv.value.to_string_lossy());
            }
        }
        if !r.scope.name.is_empty() {
            tags.set(LIBRARY_NAME, r.scope.name.clone());
            if !r.scope.version.is_empty() {
                tags.set(LIBRARY_VERSION, r.scope.version.clone());
            }
        }
        if span.kind == SpanKind::Internal {
            tags.set("span.kind", "internal".to_owned());
        }
        match span.status.code {
            StatusCode::Unset => {}
            StatusCode::Ok => tags.set("otel.status_code", "Ok".to_owned()),
            StatusCode::Error => tags.set("otel.status_code", "Error".to_owned()),
        }
        if span.status.code != StatusCode::Unset && !span.status.message.is_empty() {
            tags.set("otel.status_description", span.status.message.clone());
        }
        if !span.trace_state.is_empty() {
            tags.set("w3c.tracestate", span.trace_state.clone());
        }
        for (i, l) in span.links.iter().take(128).enumerate() {
            tags.set(
                &format!("otlp.link.{i}"),
                format!(
                    "{}|{}|{}|{}|{}",
                    l.trace_id.to_hex(),
                    l.span_id.to_hex(),
                    l.trace_state,
                    attributes_json(&l.attributes),
                    l.dropped_attributes_count
                ),
            );
        }

        let annotations: Vec<OutAnnotation> = span
            .events
            .iter()
            .map(|e| OutAnnotation {
                timestamp: e.time_unix_nano / 1000,
                value: if e.attributes.is_empty() && e.dropped_attributes_count == 0 {
                    e.name.clone()
                } else {
                    format!(
                        "{}|{}|{}",
                        e.name,
                        attributes_json(&e.attributes),
                        e.dropped_attributes_count
                    )
                },
            })
            .collect();

        let mut m = s.serialize_map(None)?;
        m.serialize_entry("traceId", &span.trace_id.to_jaeger_hex())?;
        if !span.parent_span_id.is_zero() {
            m.serialize_entry("parentId", &span.parent_span_id.to_hex())?;
        }
        m.serialize_entry("id", &span.span_id.to_hex())?;
        let kind = match span.kind {
            SpanKind::Client => Some("CLIENT"),
            SpanKind::Server => Some("SERVER"),
            SpanKind::Producer => Some("PRODUCER"),
            SpanKind::Consumer => Some("CONSUMER"),
            SpanKind::Internal | SpanKind::Unspecified => None,
        };
        if let Some(kind) = kind {
            m.serialize_entry("kind", kind)?;
        }
        m.serialize_entry("name", &span.name)?;
        if !start_absent {
            m.serialize_entry("timestamp", &(span.start_time_unix_nano / 1000))?;
        }
        m.serialize_entry("duration", &(span.duration_nanos() / 1000))?;
        if !local.is_empty() {
            m.serialize_entry("localEndpoint", &local)?;
        }
        if !remote.is_empty() {
            m.serialize_entry("remoteEndpoint", &remote)?;
        }
        if !annotations.is_empty() {
            m.serialize_entry("annotations", &annotations)?;
        }
        if !tags.0.items.is_empty() {
            m.serialize_entry("tags", &tags)?;
        }
        m.end()
    }
}
