//! Copy-on-write helpers for the `Arc`-shared resources and scopes of span
//! records.
//!
//! Records that share one `Arc<Resource>` (or `Arc<Scope>`) form a group, the
//! equivalent of one OTLP `ResourceSpans` (or `ScopeSpans`). A change to a
//! group's resource replaces the `Arc` of exactly the records of that group
//! with a new allocation, so data shared with anything outside (another
//! trace, a storage cache) is never modified.

use std::sync::Arc;

use spoor_model::SpanRecord;
use spoor_model::group::ArcIndex;

/// Records grouped by the allocation of a shared value.
pub(crate) struct Groups<T> {
    /// Group index of each record, in record order.
    pub of_record: Vec<usize>,
    /// One `Arc` per group, in order of first appearance. Holding these keeps
    /// every original allocation alive (and its address unique) while the
    /// caller rewrites records.
    pub originals: Vec<Arc<T>>,
}

/// Groups `records` by the pointer identity of the `Arc` that `get` selects.
pub(crate) fn group_by<T>(
    records: &[SpanRecord],
    get: impl Fn(&SpanRecord) -> &Arc<T>,
) -> Groups<T> {
    let mut index: ArcIndex<T> = ArcIndex::new();
    let mut of_record = Vec::with_capacity(records.len());
    let mut originals: Vec<Arc<T>> = Vec::new();
    for record in records {
        let arc = get(record);
        let group = index.index(arc);
        if group.is_new() {
            originals.push(Arc::clone(arc));
        }
        of_record.push(group.index());
    }
    Groups {
        of_record,
        originals,
    }
}

/// Rewrites each distinct shared value once: `f` returns `Some(new)` when the
/// value must change, and every record of that group then points to one new
/// shared allocation. Returns, per record, whether it was repointed.
pub(crate) fn rewrite_shared<T>(
    records: &mut [SpanRecord],
    get: impl Fn(&SpanRecord) -> &Arc<T>,
    get_mut: impl Fn(&mut SpanRecord) -> &mut Arc<T>,
    f: impl Fn(&T) -> Option<T>,
) -> Vec<bool> {
    let groups = group_by(records, get);
    let replaced: Vec<Option<Arc<T>>> = groups
        .originals
        .iter()
        .map(|orig| f(orig).map(Arc::new))
        .collect();
    let mut changed = vec![false; records.len()];
    for ((record, &group), flag) in records.iter_mut().zip(&groups.of_record).zip(&mut changed) {
        if let Some(new) = &replaced[group] {
            *get_mut(record) = Arc::clone(new);
            *flag = true;
        }
    }
    changed
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use spoor_model::{KeyValue, Resource, Scope, Span};

    #[test]
    fn rewrite_touches_only_the_changed_group_and_keeps_sharing() {
        let shared = Arc::new(Resource {
            attributes: vec![KeyValue::str("a", "1")],
            ..Default::default()
        });
        let other = Arc::new(Resource::default());
        let scope = Arc::new(Scope::default());
        let mut records = vec![
            SpanRecord::new(shared.clone(), scope.clone(), Span::default()),
            SpanRecord::new(other.clone(), scope.clone(), Span::default()),
            SpanRecord::new(shared.clone(), scope.clone(), Span::default()),
        ];
        let n = rewrite_shared(
            &mut records,
            |r| &r.resource,
            |r| &mut r.resource,
            |res| {
                (!res.attributes.is_empty()).then(|| Resource {
                    attributes: vec![KeyValue::str("a", "2")],
                    ..res.clone()
                })
            },
        );
        assert_eq!(n, vec![true, false, true]);
        assert!(Arc::ptr_eq(&records[0].resource, &records[2].resource));
        assert!(Arc::ptr_eq(&records[1].resource, &other));
        assert_eq!(records[0].resource.attributes[0], KeyValue::str("a", "2"));
        // the original allocation is untouched
        assert_eq!(shared.attributes[0], KeyValue::str("a", "1"));
    }
}
