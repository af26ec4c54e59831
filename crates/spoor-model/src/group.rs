//! Grouping span records by their shared resource and scope.
//!
//! The records of a batch or trace share their resource and scope through
//! `Arc`s: the records of one OTLP `ResourceSpans` (or one Jaeger process)
//! point to one allocation. Encoders that group records again (OTLP's
//! resource/scope nesting, Jaeger batches and processes, the engine's WAL
//! records and blocks, copy-on-write rewrites) all number the distinct
//! allocations in first-seen order; [`ArcIndex`] is that numbering, and
//! [`group_by_resource_and_scope`] the OTLP nesting built on it.
//!
//! Identity is the allocation's address, compared while the records are
//! borrowed (an address cannot be reused while its `Arc` is alive).

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::{Resource, Scope, SpanRecord};

/// What [`ArcIndex`] found for an `Arc`: the index of its group, and whether
/// this is the first time the group is seen (the caller then adds the group).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// A new group, numbered one past the groups seen so far.
    New(usize),
    /// A group seen before (the same allocation, or an equal value when the
    /// caller compares values, see [`ArcIndex::index_by`]).
    Again(usize),
}

impl Seen {
    /// The group's index, new or not.
    pub fn index(self) -> usize {
        match self {
            Seen::New(i) | Seen::Again(i) => i,
        }
    }

    pub fn is_new(self) -> bool {
        matches!(self, Seen::New(_))
    }
}

/// Numbers the distinct `Arc` allocations it is shown `0, 1, 2, …` in
/// first-seen order (pointer identity). Allocates nothing until the first
/// `Arc` is indexed: one hash map from address to index.
pub struct ArcIndex<T: ?Sized> {
    by_ptr: HashMap<usize, usize>,
    groups: usize,
    _values: PhantomData<fn(&T)>,
}

impl<T: ?Sized> Default for ArcIndex<T> {
    fn default() -> Self {
        ArcIndex::new()
    }
}

impl<T: ?Sized> std::fmt::Debug for ArcIndex<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArcIndex")
            .field("allocations", &self.by_ptr.len())
            .field("groups", &self.groups)
            .finish()
    }
}

impl<T: ?Sized> ArcIndex<T> {
    pub fn new() -> Self {
        ArcIndex {
            by_ptr: HashMap::new(),
            groups: 0,
            _values: PhantomData,
        }
    }

    /// The group of `arc`'s allocation; a new allocation is a new group.
    pub fn index(&mut self, arc: &Arc<T>) -> Seen {
        self.index_by(arc, |next| next)
    }

    /// The group of `arc`'s allocation. An allocation not seen before is
    /// given to `by_value` with the index a new group would get; it returns
    /// that index for a new group, or the index of an earlier group whose
    /// value equals `arc`'s (values are compared once per allocation, never
    /// for an allocation seen before). An index past the next one counts as
    /// the next one.
    pub fn index_by(&mut self, arc: &Arc<T>, by_value: impl FnOnce(usize) -> usize) -> Seen {
        let ptr = Arc::as_ptr(arc).cast::<()>() as usize;
        if let Some(&i) = self.by_ptr.get(&ptr) {
            return Seen::Again(i);
        }
        let next = self.groups;
        let i = by_value(next).min(next);
        self.by_ptr.insert(ptr, i);
        if i == next {
            self.groups += 1;
            Seen::New(i)
        } else {
            Seen::Again(i)
        }
    }

    /// How many groups were seen.
    pub fn len(&self) -> usize {
        self.groups
    }

    pub fn is_empty(&self) -> bool {
        self.groups == 0
    }
}

/// The records of one resource, split by scope (one OTLP `ResourceSpans`).
#[derive(Debug)]
pub struct ResourceGroup<'a> {
    pub resource: &'a Arc<Resource>,
    pub scopes: Vec<ScopeGroup<'a>>,
}

/// The records of one scope within one resource (one OTLP `ScopeSpans`).
#[derive(Debug)]
pub struct ScopeGroup<'a> {
    pub scope: &'a Arc<Scope>,
    pub records: Vec<&'a SpanRecord>,
}

/// Groups records by resource, then by scope within each resource, both in
/// first-seen order, records in their order: the nesting of an OTLP request.
/// `Arc` identity is checked first (the common case, and cheap); a resource
/// or scope seen through a new allocation is then compared by value with the
/// groups so far (once per allocation), so equal values behind different
/// `Arc`s share one group.
pub fn group_by_resource_and_scope(records: &[SpanRecord]) -> Vec<ResourceGroup<'_>> {
    let mut groups: Vec<ResourceGroup<'_>> = Vec::new();
    let mut resources: ArcIndex<Resource> = ArcIndex::new();
    // (resource group, scope address) -> scope group within the resource group.
    let mut by_scope: HashMap<(usize, usize), usize> = HashMap::new();
    for rec in records {
        let gi = match resources.index_by(&rec.resource, |next| {
            groups
                .iter()
                .position(|g| *g.resource == rec.resource)
                .unwrap_or(next)
        }) {
            Seen::New(gi) => {
                groups.push(ResourceGroup {
                    resource: &rec.resource,
                    scopes: Vec::new(),
                });
                gi
            }
            Seen::Again(gi) => gi,
        };
        let Some(group) = groups.get_mut(gi) else {
            continue;
        };
        let sptr = Arc::as_ptr(&rec.scope) as usize;
        let si = match by_scope.get(&(gi, sptr)) {
            Some(&si) => si,
            None => {
                let si = match group.scopes.iter().position(|s| *s.scope == rec.scope) {
                    Some(si) => si,
                    None => {
                        group.scopes.push(ScopeGroup {
                            scope: &rec.scope,
                            records: Vec::new(),
                        });
                        group.scopes.len() - 1
                    }
                };
                by_scope.insert((gi, sptr), si);
                si
            }
        };
        if let Some(scope) = group.scopes.get_mut(si) {
            scope.records.push(rec);
        }
    }
    groups
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::testing::{self, resource};

    fn scope(name: &str) -> Arc<Scope> {
        Arc::new(Scope {
            name: name.into(),
            ..Scope::default()
        })
    }

    fn rec(resource: &Arc<Resource>, scope: &Arc<Scope>, name: &str) -> SpanRecord {
        testing::record()
            .resource(resource)
            .scope(scope)
            .name(name)
            .build()
    }

    #[test]
    fn arc_index_numbers_allocations_in_first_seen_order() {
        let (a, b) = (resource("a"), resource("b"));
        let a_again = resource("a");
        let mut index = ArcIndex::new();
        assert!(index.is_empty());
        assert_eq!(index.index(&b), Seen::New(0));
        assert_eq!(index.index(&a), Seen::New(1));
        assert_eq!(index.index(&Arc::clone(&b)), Seen::Again(0));
        // Identity, not value: an equal resource elsewhere is a new group.
        assert_eq!(index.index(&a_again), Seen::New(2));
        assert_eq!(index.len(), 3);
    }

    #[test]
    fn index_by_asks_for_the_value_once_per_allocation() {
        let values = [resource("a"), resource("b"), resource("a")];
        let mut distinct: Vec<&Arc<Resource>> = Vec::new();
        let mut index = ArcIndex::new();
        let mut asked = 0;
        let mut seen = Vec::new();
        for r in values.iter().chain(values.iter()) {
            let s = index.index_by(r, |next| {
                asked += 1;
                distinct.iter().position(|d| **d == *r).unwrap_or(next)
            });
            if s.is_new() {
                distinct.push(r);
            }
            seen.push(s);
        }
        assert_eq!(asked, 3);
        assert_eq!(
            seen,
            [
                Seen::New(0),
                Seen::New(1),
                Seen::Again(0),
                Seen::Again(0),
                Seen::Again(1),
                Seen::Again(0)
            ]
        );
        assert_eq!(index.len(), 2);
    }

    #[test]
    fn records_nest_by_resource_then_scope_in_first_seen_order() {
        let (ra, rb) = (resource("a"), resource("b"));
        let ra_copy = resource("a");
        let (s1, s2) = (scope("one"), scope("two"));
        let s1_copy = scope("one");
        let records = [
            rec(&rb, &s1, "0"),
            rec(&ra, &s2, "1"),
            rec(&rb, &s2, "2"),
            rec(&ra_copy, &s1_copy, "3"),
            rec(&rb, &s1_copy, "4"),
            rec(&ra, &s2, "5"),
        ];
        let groups = group_by_resource_and_scope(&records);
        type Shape<'a> = Vec<(&'a str, Vec<(&'a str, Vec<&'a str>)>)>;
        let shape: Shape<'_> = groups
            .iter()
            .map(|g| {
                (
                    g.resource.service_name(),
                    g.scopes
                        .iter()
                        .map(|s| {
                            (
                                s.scope.name.as_str(),
                                s.records.iter().map(|r| r.span.name.as_str()).collect(),
                            )
                        })
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                ("b", vec![("one", vec!["0", "4"]), ("two", vec!["2"])]),
                ("a", vec![("two", vec!["1", "5"]), ("one", vec!["3"])]),
            ]
        );
        // The group holds the first record's allocation.
        assert!(Arc::ptr_eq(groups[1].resource, &ra));
        assert!(group_by_resource_and_scope(&[]).is_empty());
    }
}
