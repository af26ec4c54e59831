//! Remote sampling: the strategies file, the JSON answers of the sampling
//! HTTP endpoint, and the api_v2 protobuf messages.
//!
//! - [`parse_strategies`] reads Jaeger's strategies file
//!   (`service_strategies`, `default_strategy`, `operation_strategies`) with
//!   Jaeger's per-entry rules: an unknown `type` becomes the default
//!   probabilistic strategy, and rate-limiting operation strategies are
//!   skipped. Both are tolerated and reported as warnings. Input that is not
//!   the file's shape is an error. The merge rules that combine the entries
//!   live in `spoor-service`.
//! - [`encode_response`] writes the proto-JSON form Jaeger v2 serves
//!   (`jsonpb` with defaults emitted, then `null` members removed), such as
//!   `{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.001}}`.
//! - [`encode_response_legacy`] writes the form the v1 agent served on `/`
//!   for jaeger-client ≤ 0.9.2 (Thrift's JSON with `"strategyType":0|1`).
//! - [`decode_response`] reads either form back (and the form of Jaeger's
//!   test snapshots, where a zero `strategyType` is left out).
//! - [`to_proto`] / [`from_proto`] convert to and from
//!   `jaeger.api_v2.SamplingStrategyResponse`.

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use spoor_model::sampling::{
    OperationStrategy, ParsedStrategies, PerOperationSampling, ProbabilisticSampling,
    RateLimitingSampling, SamplingStrategyResponse, ServiceStrategy, StrategiesDocument,
    StrategyType,
};
use spoor_proto::jaeger::api_v2 as pb;

use crate::DecodeError;
use crate::gojson;

/// The largest strategies file (or sampling response) accepted, in bytes.
pub const MAX_STRATEGIES_BYTES: usize = 16 << 20;

/// Jaeger's name of the probabilistic strategy type in strategies files.
pub const TYPE_PROBABILISTIC: &str = "probabilistic";
/// Jaeger's name of the rate-limiting strategy type in strategies files.
pub const TYPE_RATE_LIMITING: &str = "ratelimiting";

// ---------------------------------------------------------------------------
// Strategies file
// ---------------------------------------------------------------------------

/// Parses a strategies file.
///
/// `default_probability` is the provider's default: the probability of
/// entries whose `type` is unknown, and the per-operation default of
/// services that are not probabilistic. Field names match as Go's
/// `encoding/json` matches them (exactly, else ignoring ASCII case); unknown
/// fields are ignored; `null` stands for an absent field. JSON `null` as the
/// whole document gives `document: None` (defaults apply).
pub fn parse_strategies(
    bytes: &[u8],
    default_probability: f64,
) -> Result<ParsedStrategies, DecodeError> {
    if bytes.len() > MAX_STRATEGIES_BYTES {
        return Err(DecodeError::invalid(
            "strategies",
            format!(
                "{} bytes is more than the {MAX_STRATEGIES_BYTES} bytes accepted",
                bytes.len()
            ),
        ));
    }
    let root: Value =
        serde_json::from_slice(bytes).map_err(|e| DecodeError::Json(e.to_string()))?;
    let mut parser = FileParser {
        default_probability,
        warnings: Vec::new(),
    };
    let document = match &root {
        Value::Null => None,
        Value::Object(obj) => Some(parser.document(obj)?),
        other => {
            return Err(DecodeError::invalid(
                "strategies",
                format!("expected a JSON object, found {}", kind(other)),
            ));
        }
    };
    Ok(ParsedStrategies {
        document,
        warnings: parser.warnings,
    })
}

struct FileParser {
    default_probability: f64,
    warnings: Vec<String>,
}

impl FileParser {
    fn document(&mut self, obj: &Map<String, Value>) -> Result<StrategiesDocument, DecodeError> {
        let default_strategy = match field(obj, "default_strategy") {
            None | Some(Value::Null) => None,
            Some(Value::Object(o)) => {
                Some(self.entry(o, "default_strategy", "the default strategy")?)
            }
            Some(other) => return Err(wrong("default_strategy", "an object", other)),
        };
        let mut service_strategies = Vec::new();
        for (i, item) in array(obj, "service_strategies", "service_strategies")?
            .iter()
            .enumerate()
        {
            let path = format!("service_strategies[{i}]");
            let Value::Object(o) = item else {
                return Err(wrong(&path, "an object", item));
            };
            let service = string(o, "service", &path)?;
            let label = format!("service {service:?}");
            let strategy = self.entry(o, &path, &label)?;
            service_strategies.push(ServiceStrategy { service, strategy });
        }
        Ok(StrategiesDocument {
            default_strategy,
            service_strategies,
        })
    }

    /// A service entry or the default strategy: its own strategy plus its
    /// probabilistic operation strategies.
    fn entry(
        &mut self,
        obj: &Map<String, Value>,
        path: &str,
        label: &str,
    ) -> Result<SamplingStrategyResponse, DecodeError> {
        let mut resp = self.strategy(obj, path, label)?;
        let ops = array(
            obj,
            "operation_strategies",
            &format!("{path}.operation_strategies"),
        )?;
        if ops.is_empty() {
            return Ok(resp);
        }
        let default_sampling_probability = match (resp.strategy_type, resp.probabilistic) {
            (StrategyType::Probabilistic, Some(p)) => p.sampling_rate,
            _ => self.default_probability,
        };
        let mut per_operation = Vec::with_capacity(ops.len());
        for (i, item) in ops.iter().enumerate() {
            let op_path = format!("{path}.operation_strategies[{i}]");
            let Value::Object(o) = item else {
                return Err(wrong(&op_path, "an object", item));
            };
            let operation = string(o, "operation", &op_path)?;
            let op_label = format!("operation {operation:?} of {label}");
            let s = self.strategy(o, &op_path, &op_label)?;
            if s.strategy_type == StrategyType::RateLimiting {
                self.warnings.push(format!(
                    "{op_label}: operation strategies can only be probabilistic; the \
                     rate-limiting entry is ignored and the operation gets the default \
                     probability {default_sampling_probability}"
                ));
                continue;
            }
            per_operation.push(OperationStrategy {
                operation,
                probabilistic: s.probabilistic,
            });
        }
        resp.operation_sampling = Some(PerOperationSampling {
            default_sampling_probability,
            per_operation,
            ..PerOperationSampling::default()
        });
        Ok(resp)
    }

    /// `type` and `param` of an entry.
    fn strategy(
        &mut self,
        obj: &Map<String, Value>,
        path: &str,
        label: &str,
    ) -> Result<SamplingStrategyResponse, DecodeError> {
        let kind = string(obj, "type", path)?;
        let param = match field(obj, "param") {
            None | Some(Value::Null) => 0.0,
            Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
            Some(other) => return Err(wrong(&format!("{path}.param"), "a number", other)),
        };
        match kind.as_str() {
            TYPE_PROBABILISTIC => {
                if !(0.0..=1.0).contains(&param) {
                    self.warnings.push(format!(
                        "{label}: probability {param} is outside [0, 1]; tracers may refuse it"
                    ));
                }
                Ok(SamplingStrategyResponse::probabilistic(param))
            }
            TYPE_RATE_LIMITING => {
                if param < 0.0 {
                    self.warnings.push(format!(
                        "{label}: a negative rate limit ({param} traces per second) samples nothing"
                    ));
                }
                // Go's int32(float64): truncation toward zero (saturating here).
                Ok(SamplingStrategyResponse::rate_limiting(param.trunc() as i32))
            }
            other => {
                self.warnings.push(format!(
                    "{label}: unknown sampling strategy type {other:?} (expected \
                     \"{TYPE_PROBABILISTIC}\" or \"{TYPE_RATE_LIMITING}\"); using \
                     probabilistic sampling with probability {}",
                    self.default_probability
                ));
                Ok(SamplingStrategyResponse::probabilistic(
                    self.default_probability,
                ))
            }
        }
    }
}

/// A member by name: exact match first, then ASCII case-insensitive (Go's rule).
fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn string(obj: &Map<String, Value>, name: &str, path: &str) -> Result<String, DecodeError> {
    match field(obj, name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(wrong(&format!("{path}.{name}"), "a string", other)),
    }
}

fn array<'a>(
    obj: &'a Map<String, Value>,
    name: &str,
    path: &str,
) -> Result<&'a [Value], DecodeError> {
    match field(obj, name) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(wrong(path, "an array", other)),
    }
}

fn wrong(path: &str, expected: &str, found: &Value) -> DecodeError {
    DecodeError::invalid(path, format!("expected {expected}, found {}", kind(found)))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

// ---------------------------------------------------------------------------
// Response JSON
// ---------------------------------------------------------------------------

/// A double as gogo's `jsonpb` writes it: Go's number form, or the strings
/// `"NaN"`, `"Infinity"`, `"-Infinity"`.
struct PbDouble(f64);

impl Serialize for PbDouble {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.is_nan() {
            s.serialize_str("NaN")
        } else if v.is_infinite() {
            s.serialize_str(if v > 0.0 { "Infinity" } else { "-Infinity" })
        } else {
            s.serialize_f64(v)
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PbProbabilistic {
    sampling_rate: PbDouble,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PbRateLimiting {
    max_traces_per_second: i32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PbOperation<'a> {
    operation: &'a str,
    // Not removed when null: Jaeger strips only `"probabilisticSampling":null,`
    // followed by a comma, and here it is the last member.
    probabilistic_sampling: Option<PbProbabilistic>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PbPerOperation<'a> {
    default_sampling_probability: PbDouble,
    default_lower_bound_traces_per_second: PbDouble,
    per_operation_strategies: Vec<PbOperation<'a>>,
    default_upper_bound_traces_per_second: PbDouble,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PbResponse<'a> {
    strategy_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    probabilistic_sampling: Option<PbProbabilistic>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate_limiting_sampling: Option<PbRateLimiting>,
    #[serde(skip_serializing_if = "Option::is_none")]
    operation_sampling: Option<PbPerOperation<'a>>,
}

fn pb_probabilistic(p: Option<ProbabilisticSampling>) -> Option<PbProbabilistic> {
    p.map(|p| PbProbabilistic {
        sampling_rate: PbDouble(p.sampling_rate),
    })
}

/// The proto-JSON answer of `GET /sampling?service=` (Jaeger v2's form):
/// `strategyType` as its enum name, every scalar written even when zero,
/// absent top-level strategies left out.
pub fn encode_response(resp: &SamplingStrategyResponse) -> Vec<u8> {
    let body = PbResponse {
        strategy_type: resp.strategy_type.name(),
        probabilistic_sampling: pb_probabilistic(resp.probabilistic),
        rate_limiting_sampling: resp.rate_limiting.map(|r| PbRateLimiting {
            max_traces_per_second: r.max_traces_per_second,
        }),
        operation_sampling: resp.operation_sampling.as_ref().map(|o| PbPerOperation {
            default_sampling_probability: PbDouble(o.default_sampling_probability),
            default_lower_bound_traces_per_second: PbDouble(
                o.default_lower_bound_traces_per_second,
            ),
            per_operation_strategies: o
                .per_operation
                .iter()
                .map(|op| PbOperation {
                    operation: &op.operation,
                    probabilistic_sampling: pb_probabilistic(op.probabilistic),
                })
                .collect(),
            default_upper_bound_traces_per_second: PbDouble(
                o.default_upper_bound_traces_per_second,
            ),
        }),
    };
    gojson::to_vec(&body, false)
}

/// Why a response has no legacy (Thrift) JSON form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LegacyEncodeError {
    /// Thrift carries `maxTracesPerSecond` as an i16.
    #[error("maxTracesPerSecond {0} does not fit the legacy form's 16-bit field")]
    RateOutOfRange(i32),
    /// Go's `encoding/json` refuses NaN and infinities.
    #[error("{0} is not a finite number")]
    NotFinite(&'static str),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LegacyProbabilistic {
    sampling_rate: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LegacyRateLimiting {
    max_traces_per_second: i16,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LegacyOperation<'a> {
    operation: &'a str,
    probabilistic_sampling: Option<LegacyProbabilistic>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LegacyPerOperation<'a> {
    default_sampling_probability: f64,
    default_lower_bound_traces_per_second: f64,
    per_operation_strategies: Vec<LegacyOperation<'a>>,
    default_upper_bound_traces_per_second: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LegacyResponse<'a> {
    strategy_type: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    probabilistic_sampling: Option<LegacyProbabilistic>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate_limiting_sampling: Option<LegacyRateLimiting>,
    #[serde(skip_serializing_if = "Option::is_none")]
    operation_sampling: Option<LegacyPerOperation<'a>>,
}

fn finite(v: f64, what: &'static str) -> Result<f64, LegacyEncodeError> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(LegacyEncodeError::NotFinite(what))
    }
}

fn legacy_probabilistic(
    p: Option<ProbabilisticSampling>,
) -> Result<Option<LegacyProbabilistic>, LegacyEncodeError> {
    p.map(|p| {
        Ok(LegacyProbabilistic {
            sampling_rate: finite(p.sampling_rate, "samplingRate")?,
        })
    })
    .transpose()
}

/// The legacy answer of `GET /?service=` (the v1 agent's form for
/// jaeger-client ≤ 0.9.2): like [`encode_response`] but `strategyType` is
/// the enum number and `maxTracesPerSecond` must fit 16 bits.
pub fn encode_response_legacy(
    resp: &SamplingStrategyResponse,
) -> Result<Vec<u8>, LegacyEncodeError> {
    let rate_limiting = resp
        .rate_limiting
        .map(|r| {
            i16::try_from(r.max_traces_per_second)
                .map(|max_traces_per_second| LegacyRateLimiting {
                    max_traces_per_second,
                })
                .map_err(|_| LegacyEncodeError::RateOutOfRange(r.max_traces_per_second))
        })
        .transpose()?;
    let operation_sampling = match &resp.operation_sampling {
        None => None,
        Some(o) => Some(LegacyPerOperation {
            default_sampling_probability: finite(
                o.default_sampling_probability,
                "defaultSamplingProbability",
            )?,
            default_lower_bound_traces_per_second: finite(
                o.default_lower_bound_traces_per_second,
                "defaultLowerBoundTracesPerSecond",
            )?,
            per_operation_strategies: o
                .per_operation
                .iter()
                .map(|op| {
                    Ok(LegacyOperation {
                        operation: &op.operation,
                        probabilistic_sampling: legacy_probabilistic(op.probabilistic)?,
                    })
                })
                .collect::<Result<_, LegacyEncodeError>>()?,
            default_upper_bound_traces_per_second: finite(
                o.default_upper_bound_traces_per_second,
                "defaultUpperBoundTracesPerSecond",
            )?,
        }),
    };
    let body = LegacyResponse {
        strategy_type: resp.strategy_type.code(),
        probabilistic_sampling: legacy_probabilistic(resp.probabilistic)?,
        rate_limiting_sampling: rate_limiting,
        operation_sampling,
    };
    Ok(gojson::to_vec(&body, false))
}

/// Reads a sampling response in proto-JSON, legacy or Jaeger-snapshot form:
/// `strategyType` may be a name, a number or absent (= probabilistic);
/// doubles may be numbers or jsonpb's `"NaN"`/`"Infinity"`/`"-Infinity"`;
/// unknown members are ignored.
pub fn decode_response(bytes: &[u8]) -> Result<SamplingStrategyResponse, DecodeError> {
    if bytes.len() > MAX_STRATEGIES_BYTES {
        return Err(DecodeError::invalid(
            "response",
            format!("more than {MAX_STRATEGIES_BYTES} bytes"),
        ));
    }
    let root: Value =
        serde_json::from_slice(bytes).map_err(|e| DecodeError::Json(e.to_string()))?;
    let Value::Object(obj) = &root else {
        return Err(wrong("response", "an object", &root));
    };
    let strategy_type = match field(obj, "strategyType") {
        None | Some(Value::Null) => StrategyType::Probabilistic,
        Some(Value::String(s)) => match s.as_str() {
            "PROBABILISTIC" => StrategyType::Probabilistic,
            "RATE_LIMITING" => StrategyType::RateLimiting,
            other => {
                return Err(DecodeError::invalid(
                    "strategyType",
                    format!("unknown value {other:?}"),
                ));
            }
        },
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(|c| i32::try_from(c).ok())
            .and_then(StrategyType::from_code)
            .ok_or_else(|| DecodeError::invalid("strategyType", format!("unknown value {n}")))?,
        Some(other) => return Err(wrong("strategyType", "a string or a number", other)),
    };
    let probabilistic = decode_probabilistic(obj, "probabilisticSampling")?;
    let rate_limiting = match object(obj, "rateLimitingSampling")? {
        None => None,
        Some(o) => Some(RateLimitingSampling {
            max_traces_per_second: match field(o, "maxTracesPerSecond") {
                None | Some(Value::Null) => 0,
                Some(v) => decode_i32(v, "rateLimitingSampling.maxTracesPerSecond")?,
            },
        }),
    };
    let operation_sampling = match object(obj, "operationSampling")? {
        None => None,
        Some(o) => {
            let mut per_operation = Vec::new();
            let items = array(
                o,
                "perOperationStrategies",
                "operationSampling.perOperationStrategies",
            )?;
            for (i, item) in items.iter().enumerate() {
                let path = format!("operationSampling.perOperationStrategies[{i}]");
                let Value::Object(op) = item else {
                    return Err(wrong(&path, "an object", item));
                };
                per_operation.push(OperationStrategy {
                    operation: string(op, "operation", &path)?,
                    probabilistic: decode_probabilistic(op, "probabilisticSampling")?,
                });
            }
            Some(PerOperationSampling {
                default_sampling_probability: decode_double(o, "defaultSamplingProbability")?,
                default_lower_bound_traces_per_second: decode_double(
                    o,
                    "defaultLowerBoundTracesPerSecond",
                )?,
                per_operation,
                default_upper_bound_traces_per_second: decode_double(
                    o,
                    "defaultUpperBoundTracesPerSecond",
                )?,
            })
        }
    };
    Ok(SamplingStrategyResponse {
        strategy_type,
        probabilistic,
        rate_limiting,
        operation_sampling,
    })
}

fn object<'a>(
    obj: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a Map<String, Value>>, DecodeError> {
    match field(obj, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(other) => Err(wrong(name, "an object", other)),
    }
}

fn decode_probabilistic(
    obj: &Map<String, Value>,
    name: &str,
) -> Result<Option<ProbabilisticSampling>, DecodeError> {
    object(obj, name)?
        .map(|o| {
            decode_double(o, "samplingRate")
                .map(|sampling_rate| ProbabilisticSampling { sampling_rate })
        })
        .transpose()
}

fn decode_double(obj: &Map<String, Value>, name: &str) -> Result<f64, DecodeError> {
    match field(obj, name) {
        None | Some(Value::Null) => Ok(0.0),
        Some(Value::Number(n)) => Ok(n.as_f64().unwrap_or(0.0)),
        Some(Value::String(s)) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            other => other
                .parse::<f64>()
                .map_err(|_| DecodeError::invalid(name, format!("{other:?} is not a number"))),
        },
        Some(other) => Err(wrong(name, "a number", other)),
    }
}

fn decode_i32(v: &Value, path: &str) -> Result<i32, DecodeError> {
    let parsed = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse::<i64>().ok(),
        other => return Err(wrong(path, "an integer", other)),
    };
    parsed
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| DecodeError::invalid(path, format!("{v} is not a 32-bit integer")))
}

// ---------------------------------------------------------------------------
// Protobuf
// ---------------------------------------------------------------------------

fn to_pb_probabilistic(
    p: Option<ProbabilisticSampling>,
) -> Option<pb::ProbabilisticSamplingStrategy> {
    p.map(|p| pb::ProbabilisticSamplingStrategy {
        sampling_rate: p.sampling_rate,
    })
}

fn from_pb_probabilistic(
    p: Option<pb::ProbabilisticSamplingStrategy>,
) -> Option<ProbabilisticSampling> {
    p.map(|p| ProbabilisticSampling {
        sampling_rate: p.sampling_rate,
    })
}

/// The model response as `jaeger.api_v2.SamplingStrategyResponse`.
pub fn to_proto(resp: &SamplingStrategyResponse) -> pb::SamplingStrategyResponse {
    pb::SamplingStrategyResponse {
        strategy_type: resp.strategy_type.code(),
        probabilistic_sampling: to_pb_probabilistic(resp.probabilistic),
        rate_limiting_sampling: resp
            .rate_limiting
            .map(|r| pb::RateLimitingSamplingStrategy {
                max_traces_per_second: r.max_traces_per_second,
            }),
        operation_sampling: resp.operation_sampling.as_ref().map(|o| {
            pb::PerOperationSamplingStrategies {
                default_sampling_probability: o.default_sampling_probability,
                default_lower_bound_traces_per_second: o.default_lower_bound_traces_per_second,
                per_operation_strategies: o
                    .per_operation
                    .iter()
                    .map(|op| pb::OperationSamplingStrategy {
                        operation: op.operation.clone(),
                        probabilistic_sampling: to_pb_probabilistic(op.probabilistic),
                    })
                    .collect(),
                default_upper_bound_traces_per_second: o.default_upper_bound_traces_per_second,
            }
        }),
    }
}

/// A `jaeger.api_v2.SamplingStrategyResponse` (from a collector) as the
/// model. Fails only on a `strategyType` the model does not know.
pub fn from_proto(
    resp: pb::SamplingStrategyResponse,
) -> Result<SamplingStrategyResponse, DecodeError> {
    let strategy_type = StrategyType::from_code(resp.strategy_type).ok_or_else(|| {
        DecodeError::invalid(
            "strategyType",
            format!("unknown value {}", resp.strategy_type),
        )
    })?;
    Ok(SamplingStrategyResponse {
        strategy_type,
        probabilistic: from_pb_probabilistic(resp.probabilistic_sampling),
        rate_limiting: resp.rate_limiting_sampling.map(|r| RateLimitingSampling {
            max_traces_per_second: r.max_traces_per_second,
        }),
        operation_sampling: resp.operation_sampling.map(|o| PerOperationSampling {
            default_sampling_probability: o.default_sampling_probability,
            default_lower_bound_traces_per_second: o.default_lower_bound_traces_per_second,
            per_operation: o
                .per_operation_strategies
                .into_iter()
                .map(|op| OperationStrategy {
                    operation: op.operation,
                    probabilistic: from_pb_probabilistic(op.probabilistic_sampling),
                })
                .collect(),
            default_upper_bound_traces_per_second: o.default_upper_bound_traces_per_second,
        }),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn parse(s: &str) -> ParsedStrategies {
        parse_strategies(s.as_bytes(), 0.001).unwrap()
    }

    fn doc(s: &str) -> StrategiesDocument {
        parse(s).document.unwrap()
    }

    fn text(b: Vec<u8>) -> String {
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn reads_types_params_and_operations() {
        let d = doc(r#"{"service_strategies":[
                {"service":"foo","type":"probabilistic","param":0.8,
                 "operation_strategies":[{"operation":"op1","type":"probabilistic","param":0.2}]},
                {"service":"bar","type":"ratelimiting","param":5.9}],
               "default_strategy":{"type":"probabilistic","param":0.5}}"#);
        assert_eq!(
            d.default_strategy,
            Some(SamplingStrategyResponse::probabilistic(0.5))
        );
        assert_eq!(d.service_strategies.len(), 2);
        let foo = &d.service_strategies[0];
        assert_eq!(foo.service, "foo");
        let ops = foo.strategy.operation_sampling.as_ref().unwrap();
        assert_eq!(ops.default_sampling_probability, 0.8);
        assert_eq!(ops.per_operation.len(), 1);
        assert_eq!(ops.per_operation[0].operation, "op1");
        assert_eq!(
            ops.per_operation[0].probabilistic,
            Some(ProbabilisticSampling { sampling_rate: 0.2 })
        );
        // int32(5.9) truncates.
        assert_eq!(
            d.service_strategies[1].strategy,
            SamplingStrategyResponse::rate_limiting(5)
        );
    }

    #[test]
    fn unknown_type_becomes_default_probabilistic_with_a_warning() {
        let p = parse(r#"{"default_strategy":{"type":"blah","param":3.5}}"#);
        assert_eq!(
            p.document.unwrap().default_strategy,
            Some(SamplingStrategyResponse::probabilistic(0.001))
        );
        assert_eq!(p.warnings.len(), 1);
        assert!(
            p.warnings[0].contains("unknown sampling strategy type \"blah\""),
            "{:?}",
            p.warnings
        );
        // A missing type is unknown too.
        let p = parse(r#"{"service_strategies":[{"service":"x"}]}"#);
        assert_eq!(
            p.document.unwrap().service_strategies[0].strategy,
            SamplingStrategyResponse::probabilistic(0.001)
        );
        assert_eq!(p.warnings.len(), 1);
    }

    #[test]
    fn rate_limiting_operations_are_skipped_with_a_warning() {
        let p = parse(
            r#"{"service_strategies":[{"service":"bar","type":"ratelimiting","param":5,
                "operation_strategies":[
                  {"operation":"op3","type":"probabilistic","param":0.3},
                  {"operation":"op4","type":"ratelimiting","param":100}]}]}"#,
        );
        let bar = &p.document.unwrap().service_strategies[0].strategy;
        let ops = bar.operation_sampling.as_ref().unwrap();
        // Not probabilistic: the per-operation default is the provider's.
        assert_eq!(ops.default_sampling_probability, 0.001);
        assert_eq!(ops.per_operation.len(), 1);
        assert_eq!(p.warnings.len(), 1);
        assert!(p.warnings[0].contains("\"op4\""), "{:?}", p.warnings);
        assert!(p.warnings[0].contains("0.001"), "{:?}", p.warnings);
    }

    #[test]
    fn operation_sampling_exists_even_when_every_operation_was_skipped() {
        let d = doc(r#"{"default_strategy":{"type":"probabilistic","param":0.5,
                "operation_strategies":[{"operation":"spam","type":"ratelimiting","param":1}]}}"#);
        let ops = d.default_strategy.unwrap().operation_sampling.unwrap();
        assert!(ops.per_operation.is_empty());
        assert_eq!(ops.default_sampling_probability, 0.5);
    }

    #[test]
    fn names_match_like_go_and_nulls_mean_absent() {
        let d = doc(
            r#"{"Default_Strategy":{"TYPE":"probabilistic","Param":0.25},
                "service_strategies":null,"unknown":[1,2]}"#,
        );
        assert_eq!(
            d.default_strategy,
            Some(SamplingStrategyResponse::probabilistic(0.25))
        );
        assert!(d.service_strategies.is_empty());
        let d = doc(
            r#"{"default_strategy":null,"service_strategies":[{"service":null,"type":"probabilistic","param":null}]}"#,
        );
        assert_eq!(d.service_strategies[0].service, "");
        assert_eq!(
            d.service_strategies[0].strategy,
            SamplingStrategyResponse::probabilistic(0.0)
        );
        assert_eq!(parse("null").document, None);
        assert_eq!(parse(" {} ").document, Some(StrategiesDocument::default()));
    }

    #[test]
    fn bad_files_are_rejected_with_a_message() {
        let cases = [
            ("\"nonsense\"", "expected a JSON object, found a string"),
            ("", "invalid JSON"),
            ("{", "invalid JSON"),
            ("{} x", "invalid JSON"),
            ("[]", "found an array"),
            (
                r#"{"service_strategies":{}}"#,
                "service_strategies: expected an array",
            ),
            (
                r#"{"service_strategies":[null]}"#,
                "service_strategies[0]: expected an object, found null",
            ),
            (
                r#"{"service_strategies":[{"service":1}]}"#,
                "service_strategies[0].service: expected a string",
            ),
            (
                r#"{"service_strategies":[{"param":"0.5"}]}"#,
                "service_strategies[0].param: expected a number",
            ),
            (
                r#"{"default_strategy":[]}"#,
                "default_strategy: expected an object",
            ),
            (
                r#"{"default_strategy":{"operation_strategies":[7]}}"#,
                "default_strategy.operation_strategies[0]: expected an object",
            ),
            (r#"{"default_strategy":{"param":1e400}}"#, "invalid JSON"),
        ];
        for (input, want) in cases {
            let err = parse_strategies(input.as_bytes(), 0.001)
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{input:?}: {err:?} lacks {want:?}");
        }
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(parse_strategies(deep.as_bytes(), 0.001).is_err());
        let huge = vec![b' '; MAX_STRATEGIES_BYTES + 1];
        assert!(
            parse_strategies(&huge, 0.001)
                .unwrap_err()
                .to_string()
                .contains("bytes")
        );
    }

    #[test]
    fn parser_never_panics_on_truncated_or_mutated_input() {
        let good = br#"{"service_strategies":[{"service":"foo","type":"probabilistic","param":0.8,"operation_strategies":[{"operation":"op1","type":"ratelimiting","param":2}]}],"default_strategy":{"type":"x"}}"#;
        for cut in 0..good.len() {
            let _ = parse_strategies(&good[..cut], 0.5);
        }
        for i in 0..good.len() {
            for b in [b'"', b'{', b'[', b'0', b'\\', 0xff] {
                let mut m = good.to_vec();
                m[i] = b;
                let _ = parse_strategies(&m, 0.5);
            }
        }
    }

    #[test]
    fn proto_json_matches_jaeger_bytes() {
        assert_eq!(
            text(encode_response(&SamplingStrategyResponse::probabilistic(
                0.001
            ))),
            r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.001}}"#
        );
        assert_eq!(
            text(encode_response(&SamplingStrategyResponse::rate_limiting(
                42
            ))),
            r#"{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":42}}"#
        );
        assert_eq!(
            text(encode_response(&SamplingStrategyResponse::probabilistic(
                1.0
            ))),
            r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":1}}"#
        );
        assert_eq!(
            text(encode_response(&SamplingStrategyResponse::probabilistic(
                0.0
            ))),
            r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0}}"#
        );
        let mut r = SamplingStrategyResponse::probabilistic(0.5);
        r.operation_sampling = Some(PerOperationSampling {
            default_sampling_probability: 0.5,
            default_lower_bound_traces_per_second: 0.0,
            per_operation: vec![
                OperationStrategy {
                    operation: "op<0>".into(),
                    probabilistic: Some(ProbabilisticSampling {
                        sampling_rate: 1e-7,
                    }),
                },
                OperationStrategy {
                    operation: "none".into(),
                    probabilistic: None,
                },
            ],
            default_upper_bound_traces_per_second: 0.0,
        });
        assert_eq!(
            text(encode_response(&r)),
            concat!(
                r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.5},"#,
                r#""operationSampling":{"defaultSamplingProbability":0.5,"defaultLowerBoundTracesPerSecond":0,"#,
                r#""perOperationStrategies":[{"operation":"op\u003c0\u003e","probabilisticSampling":{"samplingRate":1e-7}},"#,
                r#"{"operation":"none","probabilisticSampling":null}],"defaultUpperBoundTracesPerSecond":0}}"#
            )
        );
        // Empty operation lists are written as [] (jsonpb with EmitDefaults).
        let mut r = SamplingStrategyResponse::rate_limiting(3);
        r.operation_sampling = Some(PerOperationSampling {
            default_sampling_probability: 0.2,
            ..PerOperationSampling::default()
        });
        assert_eq!(
            text(encode_response(&r)),
            concat!(
                r#"{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":3},"#,
                r#""operationSampling":{"defaultSamplingProbability":0.2,"defaultLowerBoundTracesPerSecond":0,"#,
                r#""perOperationStrategies":[],"defaultUpperBoundTracesPerSecond":0}}"#
            )
        );
        // jsonpb spells non-finite doubles as strings.
        assert_eq!(
            text(encode_response(&SamplingStrategyResponse::probabilistic(
                f64::NAN
            ))),
            r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":"NaN"}}"#
        );
    }

    #[test]
    fn legacy_form_uses_enum_numbers() {
        assert_eq!(
            text(encode_response_legacy(&SamplingStrategyResponse::probabilistic(0.5)).unwrap()),
            r#"{"strategyType":0,"probabilisticSampling":{"samplingRate":0.5}}"#
        );
        assert_eq!(
            text(encode_response_legacy(&SamplingStrategyResponse::rate_limiting(5)).unwrap()),
            r#"{"strategyType":1,"rateLimitingSampling":{"maxTracesPerSecond":5}}"#
        );
        let mut r = SamplingStrategyResponse::probabilistic(0.42);
        r.operation_sampling = Some(PerOperationSampling {
            default_sampling_probability: 0.42,
            default_lower_bound_traces_per_second: 2.0,
            per_operation: vec![OperationStrategy {
                operation: "foo".into(),
                probabilistic: Some(ProbabilisticSampling {
                    sampling_rate: 0.42,
                }),
            }],
            default_upper_bound_traces_per_second: 11.2,
        });
        assert_eq!(
            text(encode_response_legacy(&r).unwrap()),
            concat!(
                r#"{"strategyType":0,"probabilisticSampling":{"samplingRate":0.42},"#,
                r#""operationSampling":{"defaultSamplingProbability":0.42,"defaultLowerBoundTracesPerSecond":2,"#,
                r#""perOperationStrategies":[{"operation":"foo","probabilisticSampling":{"samplingRate":0.42}}],"#,
                r#""defaultUpperBoundTracesPerSecond":11.2}}"#
            )
        );
        assert_eq!(
            encode_response_legacy(&SamplingStrategyResponse::rate_limiting(40_000)),
            Err(LegacyEncodeError::RateOutOfRange(40_000))
        );
        assert!(
            encode_response_legacy(&SamplingStrategyResponse::probabilistic(f64::INFINITY))
                .is_err()
        );
    }

    #[test]
    fn decode_reads_every_form_back() {
        let mut r = SamplingStrategyResponse::rate_limiting(9);
        r.operation_sampling = Some(PerOperationSampling {
            default_sampling_probability: 0.3,
            default_lower_bound_traces_per_second: 0.5,
            per_operation: vec![OperationStrategy {
                operation: "a".into(),
                probabilistic: Some(ProbabilisticSampling { sampling_rate: 0.1 }),
            }],
            default_upper_bound_traces_per_second: 4.0,
        });
        assert_eq!(decode_response(&encode_response(&r)).unwrap(), r);
        assert_eq!(
            decode_response(&encode_response_legacy(&r).unwrap()).unwrap(),
            r
        );
        let snapshot = br#"{"probabilisticSampling":{"samplingRate":1}}"#;
        assert_eq!(
            decode_response(snapshot).unwrap(),
            SamplingStrategyResponse::probabilistic(1.0)
        );
        assert!(decode_response(br#"{"strategyType":"SOMETIMES"}"#).is_err());
        assert!(decode_response(br#"{"strategyType":7}"#).is_err());
        assert!(
            decode_response(br#"{"rateLimitingSampling":{"maxTracesPerSecond":1.5}}"#).is_err()
        );
        assert!(decode_response(b"[]").is_err());
    }

    #[test]
    fn proto_round_trip() {
        let mut r = SamplingStrategyResponse::probabilistic(0.25);
        r.operation_sampling = Some(PerOperationSampling {
            default_sampling_probability: 0.25,
            default_lower_bound_traces_per_second: 1.0 / 60.0,
            per_operation: vec![OperationStrategy {
                operation: "GET /".into(),
                probabilistic: Some(ProbabilisticSampling { sampling_rate: 0.5 }),
            }],
            default_upper_bound_traces_per_second: 0.0,
        });
        let p = to_proto(&r);
        assert_eq!(p.strategy_type, 0);
        assert_eq!(from_proto(p).unwrap(), r);
        let rl = to_proto(&SamplingStrategyResponse::rate_limiting(5));
        assert_eq!(rl.strategy_type, 1);
        assert_eq!(
            from_proto(rl).unwrap(),
            SamplingStrategyResponse::rate_limiting(5)
        );
        let bad = pb::SamplingStrategyResponse {
            strategy_type: 9,
            ..Default::default()
        };
        assert!(from_proto(bad).is_err());
    }
}
