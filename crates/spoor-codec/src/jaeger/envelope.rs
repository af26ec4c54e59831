//! The `/api/*` response envelope (Jaeger's `structuredResponse`).

use serde::Serialize;

/// `{"data": …, "total": N, "limit": 0, "offset": 0, "errors": […] | null}`.
///
/// `total` is set only for the services and operations lists (0 otherwise);
/// `limit` and `offset` are always 0 in Jaeger. `errors` is `null` when
/// `None` and `[]` when `Some` but empty (the archive route writes that).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Envelope<T> {
    pub data: Option<T>,
    pub total: usize,
    pub limit: usize,
    pub offset: usize,
    pub errors: Option<Vec<ApiError>>,
}

impl<T> Envelope<T> {
    /// A successful response: `data` with `total`, no errors.
    pub fn ok(data: T, total: usize) -> Self {
        Envelope {
            data: Some(data),
            total,
            limit: 0,
            offset: 0,
            errors: None,
        }
    }

    /// Adds an error entry (for example a trace ID that was not found while
    /// the others were).
    pub fn with_error(mut self, error: ApiError) -> Self {
        self.errors.get_or_insert_with(Vec::new).push(error);
        self
    }
}

impl Envelope<()> {
    /// An error response: `data` null and a single error with `code`.
    pub fn error(code: i32, msg: impl Into<String>) -> Self {
        Envelope {
            data: None,
            total: 0,
            limit: 0,
            offset: 0,
            errors: Some(vec![ApiError::new(Some(code), msg)]),
        }
    }
}

/// One entry of `errors`: `{"code"?: int, "msg": str, "traceID"?: str}`.
///
/// Like Go's `omitempty`, `code` is left out when `None` or 0 and `traceID`
/// when `None` or empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiError {
    #[serde(skip_serializing_if = "no_code")]
    pub code: Option<i32>,
    pub msg: String,
    #[serde(rename = "traceID", skip_serializing_if = "no_trace_id")]
    pub trace_id: Option<String>,
}

fn no_code(code: &Option<i32>) -> bool {
    code.unwrap_or(0) == 0
}

fn no_trace_id(id: &Option<String>) -> bool {
    id.as_deref().is_none_or(str::is_empty)
}

impl ApiError {
    /// An error with an optional HTTP-like code.
    pub fn new(code: Option<i32>, msg: impl Into<String>) -> Self {
        ApiError {
            code,
            msg: msg.into(),
            trace_id: None,
        }
    }

    /// Jaeger's entry for a trace ID that was asked for but not found:
    /// `{"msg": "trace not found", "traceID": "<hex>"}`.
    pub fn trace_not_found(trace_id: impl Into<String>) -> Self {
        ApiError {
            code: None,
            msg: "trace not found".into(),
            trace_id: Some(trace_id.into()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::gojson;

    fn s<T: Serialize>(v: &T) -> String {
        String::from_utf8(gojson::to_vec(v, false)).unwrap()
    }

    #[test]
    fn ok_envelope_has_null_errors() {
        let env = Envelope::ok(vec!["a", "b"], 2);
        assert_eq!(
            s(&env),
            r#"{"data":["a","b"],"total":2,"limit":0,"offset":0,"errors":null}"#
        );
        let empty: Envelope<Vec<String>> = Envelope::ok(vec![], 0);
        assert_eq!(
            s(&empty),
            r#"{"data":[],"total":0,"limit":0,"offset":0,"errors":null}"#
        );
    }

    #[test]
    fn error_envelope_matches_jaeger() {
        let env = Envelope::error(400, "parameter 'service' is required");
        assert_eq!(
            s(&env),
            r#"{"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":400,"msg":"parameter 'service' is required"}]}"#
        );
    }

    #[test]
    fn missing_trace_errors_carry_the_id_and_no_code() {
        let env = Envelope::ok(Vec::<u8>::new(), 0).with_error(ApiError::trace_not_found("00ab"));
        assert_eq!(
            s(&env),
            r#"{"data":[],"total":0,"limit":0,"offset":0,"errors":[{"msg":"trace not found","traceID":"00ab"}]}"#
        );
        let zero = ApiError {
            code: Some(0),
            msg: "m".into(),
            trace_id: Some(String::new()),
        };
        assert_eq!(s(&zero), r#"{"msg":"m"}"#);
    }

    #[test]
    fn archive_shape_has_empty_errors_array() {
        let env = Envelope {
            data: Some(Vec::<u8>::new()),
            total: 0,
            limit: 0,
            offset: 0,
            errors: Some(vec![]),
        };
        assert_eq!(
            s(&env),
            r#"{"data":[],"total":0,"limit":0,"offset":0,"errors":[]}"#
        );
    }
}
