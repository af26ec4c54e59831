//! The `filter=` search expression parser: never panics on any text, and
//! an expression that parses can be evaluated on a span.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use spoor_model::{AnyValue, KeyValue, Resource, Scope, Span, SpanRecord};
use spoor_storage::FilterExpr;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(expr) = FilterExpr::parse(text) else {
        return;
    };
    let record = SpanRecord {
        resource: Arc::new(Resource {
            attributes: vec![KeyValue::new("service.name", AnyValue::Str("svc".into()))],
            ..Resource::default()
        }),
        scope: Arc::new(Scope::default()),
        span: Span {
            name: "op".into(),
            attributes: vec![
                KeyValue::new("a", AnyValue::Int(1)),
                KeyValue::new("b", AnyValue::Str("x y".into())),
            ],
            ..Span::default()
        },
        warnings: Vec::new(),
    };
    let _ = expr.matches(&record);
});
