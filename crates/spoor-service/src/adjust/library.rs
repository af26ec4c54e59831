//! MoveLibraryAttributes: telemetry SDK attributes belong to the resource.

use spoor_model::{KeyValue, Resource, Trace};

use crate::shared::group_by;

/// Span attributes that describe the instrumentation library, not the span.
const LIBRARY_KEYS: [&str; 5] = [
    "telemetry.sdk.language",
    "telemetry.sdk.name",
    "telemetry.sdk.version",
    "telemetry.distro.name",
    "telemetry.distro.version",
];

fn is_library_key(key: &str) -> bool {
    LIBRARY_KEYS.contains(&key)
}

/// Moves `telemetry.sdk.{language,name,version}` and
/// `telemetry.distro.{name,version}` from span attributes to the span's
/// resource, so the UI shows them under the process.
///
/// As in Jaeger, this works per resource group (the records sharing one
/// resource) in record order: the first span to carry a key moves it to the
/// group's resource; a later span with the same value just drops it; a span
/// whose value differs from the resource's keeps it and gets the warning
/// `conflicting values between Span and Resource for attribute <key>`.
/// Moved attributes are appended to the resource in the order the span lists
/// them.
pub fn move_library_attributes(trace: &mut Trace) {
    let records = &mut trace.spans;
    let groups = group_by(records, |r| &r.resource);
    let mut working: Vec<Option<Resource>> = vec![None; groups.originals.len()];
    for (record, &group) in records.iter_mut().zip(&groups.of_record) {
        if !record
            .span
            .attributes
            .iter()
            .any(|kv| is_library_key(&kv.key))
        {
            continue;
        }
        let resource = working[group].get_or_insert_with(|| (*groups.originals[group]).clone());
        // One entry per key; with repeated keys the last value wins, like a map.
        let mut found: Vec<KeyValue> = Vec::new();
        for kv in record
            .span
            .attributes
            .iter()
            .filter(|kv| is_library_key(&kv.key))
        {
            match found.iter_mut().find(|f| f.key == kv.key) {
                Some(f) => f.value = kv.value.clone(),
                None => found.push(kv.clone()),
            }
        }
        for kv in found {
            match resource.attributes.iter().find(|a| a.key == kv.key) {
                Some(existing) if existing.value != kv.value => {
                    record.warnings.push(format!(
                        "conflicting values between Span and Resource for attribute {}",
                        kv.key
                    ));
                    continue;
                }
                Some(_) => {}
                None => resource.attributes.push(kv.clone()),
            }
            record.span.attributes.retain(|a| a.key != kv.key);
        }
    }
    let replaced: Vec<Option<std::sync::Arc<Resource>>> = working
        .into_iter()
        .zip(&groups.originals)
        .map(|(w, orig)| w.filter(|w| w != &**orig).map(std::sync::Arc::new))
        .collect();
    for (record, &group) in records.iter_mut().zip(&groups.of_record) {
        if let Some(new) = &replaced[group] {
            record.resource = std::sync::Arc::clone(new);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::Arc;

    use super::super::testutil::*;
    use super::*;
    use spoor_model::{SpanKind, find_attr};

    fn lib_attrs(lang: &str) -> Vec<KeyValue> {
        vec![
            KeyValue::str("http.method", "GET"),
            KeyValue::str("telemetry.sdk.language", lang),
            KeyValue::str("telemetry.sdk.name", "opentelemetry"),
            KeyValue::str("telemetry.sdk.version", "1.0"),
            KeyValue::str("telemetry.distro.name", "d"),
            KeyValue::str("telemetry.distro.version", "2"),
        ]
    }

    #[test]
    fn moves_all_library_attributes_to_the_resource() {
        let res = Arc::new(Resource {
            attributes: vec![KeyValue::str("service.name", "svc")],
            ..Default::default()
        });
        let mut s = span(1, 0, SpanKind::Server);
        s.attributes = lib_attrs("go");
        let mut t = trace(vec![record(&res, s)]);
        move_library_attributes(&mut t);
        let r = &t.spans[0];
        assert_eq!(r.span.attributes, vec![KeyValue::str("http.method", "GET")]);
        let keys: Vec<&str> = r
            .resource
            .attributes
            .iter()
            .map(|kv| kv.key.as_str())
            .collect();
        assert_eq!(
            keys,
            vec![
                "service.name",
                "telemetry.sdk.language",
                "telemetry.sdk.name",
                "telemetry.sdk.version",
                "telemetry.distro.name",
                "telemetry.distro.version"
            ]
        );
        assert!(r.warnings.is_empty());
        assert_eq!(res.attributes.len(), 1, "original resource unchanged");
    }

    #[test]
    fn spans_without_library_attributes_change_nothing() {
        let res = Arc::new(Resource::default());
        let mut s = span(1, 0, SpanKind::Server);
        s.attributes = vec![KeyValue::str("a", "b")];
        let mut t = trace(vec![record(&res, s)]);
        let before = t.clone();
        move_library_attributes(&mut t);
        assert_eq!(t, before);
        assert!(Arc::ptr_eq(&t.spans[0].resource, &res));
    }

    #[test]
    fn conflicting_value_stays_on_the_span_with_a_warning() {
        let res = Arc::new(Resource {
            attributes: vec![KeyValue::str("telemetry.sdk.language", "Go")],
            ..Default::default()
        });
        let mut s = span(1, 0, SpanKind::Server);
        s.attributes = vec![KeyValue::str("telemetry.sdk.language", "Java")];
        let mut t = trace(vec![record(&res, s)]);
        move_library_attributes(&mut t);
        let r = &t.spans[0];
        assert_eq!(
            r.warnings,
            vec![
                "conflicting values between Span and Resource for attribute telemetry.sdk.language"
            ]
        );
        assert_eq!(
            find_attr(&r.span.attributes, "telemetry.sdk.language").and_then(|v| v.as_str()),
            Some("Java")
        );
        assert_eq!(
            find_attr(&r.resource.attributes, "telemetry.sdk.language").and_then(|v| v.as_str()),
            Some("Go")
        );
    }

    #[test]
    fn equal_value_is_dropped_from_the_span() {
        let res = Arc::new(Resource {
            attributes: vec![KeyValue::str("telemetry.sdk.language", "Go")],
            ..Default::default()
        });
        let mut s = span(1, 0, SpanKind::Server);
        s.attributes = vec![KeyValue::str("telemetry.sdk.language", "Go")];
        let mut t = trace(vec![record(&res, s)]);
        move_library_attributes(&mut t);
        assert!(t.spans[0].span.attributes.is_empty());
        assert_eq!(t.spans[0].resource.attributes.len(), 1);
        assert!(t.spans[0].warnings.is_empty());
    }

    #[test]
    fn works_per_resource_group_and_never_leaks_across_groups() {
        let shared = Arc::new(Resource::default());
        let other = Arc::new(Resource::default());
        let mut first = span(1, 0, SpanKind::Server);
        first.attributes = vec![KeyValue::str("telemetry.sdk.language", "go")];
        let mut second = span(2, 1, SpanKind::Client);
        second.attributes = vec![KeyValue::str("telemetry.sdk.language", "java")];
        let plain = span(3, 1, SpanKind::Client);
        let mut elsewhere = span(4, 1, SpanKind::Client);
        elsewhere.attributes = vec![KeyValue::str("telemetry.sdk.language", "rust")];
        let mut t = trace(vec![
            record(&shared, first),
            record(&shared, second),
            record(&shared, plain),
            record(&other, elsewhere),
        ]);
        move_library_attributes(&mut t);
        let lang = |i: usize| {
            find_attr(&t.spans[i].resource.attributes, "telemetry.sdk.language")
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        // the group's resource took the first span's value, seen by the whole group
        assert_eq!(lang(0).as_deref(), Some("go"));
        assert_eq!(lang(2).as_deref(), Some("go"));
        assert!(Arc::ptr_eq(&t.spans[0].resource, &t.spans[2].resource));
        // the second span conflicts with its group
        assert_eq!(t.spans[1].warnings.len(), 1);
        assert_eq!(t.spans[1].span.attributes.len(), 1);
        // the other group moved its own value
        assert_eq!(lang(3).as_deref(), Some("rust"));
        assert!(t.spans[3].warnings.is_empty());
        assert!(shared.attributes.is_empty() && other.attributes.is_empty());
    }
}
