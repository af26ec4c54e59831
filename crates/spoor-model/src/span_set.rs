//! The spans of one trace without duplicates.
//!
//! Senders retry, agents and collectors resend, and one trace is stored in
//! pieces (WAL, head, blocks); a span that arrives twice is kept once. Two
//! records are the same stored span when their spans, resource values and
//! scope values are equal ([`same_stored_span`]; query-time warnings aside);
//! distinct spans that share a span ID (Zipkin's shared client/server spans)
//! are all kept.

use std::collections::HashMap;
use std::ops::Deref;

use crate::{SpanId, SpanRecord, UnixNanos};

/// Are two records the same stored span (query-time warnings aside)?
pub fn same_stored_span(a: &SpanRecord, b: &SpanRecord) -> bool {
    a.span == b.span && a.resource == b.resource && a.scope == b.scope
}

/// Ends a chain of records with one span ID.
const NONE: u32 = u32::MAX;

/// Span records in insertion order, each distinct stored span once: the
/// first copy pushed wins. Reads as a slice of records (`Deref`); knows the
/// earliest start and latest end of the records it holds.
///
/// Finding a copy compares the new record with the records of its span ID
/// only: the first record of each ID is indexed, and each record links to
/// the next record of its ID. Holds at most `u32::MAX - 1` records.
#[derive(Debug, Clone)]
pub struct SpanSet {
    spans: Vec<SpanRecord>,
    /// Index of the first record with each span ID.
    first_by_id: HashMap<SpanId, u32>,
    /// For each record, the next record with the same span ID (`NONE` ends the chain).
    next_same_id: Vec<u32>,
    start: UnixNanos,
    end: UnixNanos,
}

impl Default for SpanSet {
    fn default() -> Self {
        SpanSet {
            spans: Vec::new(),
            first_by_id: HashMap::new(),
            next_same_id: Vec::new(),
            start: UnixNanos::MAX,
            end: 0,
        }
    }
}

impl SpanSet {
    pub fn new() -> Self {
        SpanSet::default()
    }

    /// The earliest span start held (`UnixNanos::MAX` when empty).
    pub fn start(&self) -> UnixNanos {
        self.start
    }

    /// The latest span end held (0 when empty).
    pub fn end(&self) -> UnixNanos {
        self.end
    }

    /// Appends `record` unless the same stored span is already held (or the
    /// set is full). Returns whether it was appended.
    pub fn push(&mut self, record: SpanRecord) -> bool {
        let Ok(new_index) = u32::try_from(self.spans.len()) else {
            return false;
        };
        if new_index == NONE {
            return false;
        }
        match self.first_by_id.get(&record.span.span_id) {
            Some(&first) => {
                let mut i = first;
                while i != NONE {
                    let Some(held) = self.spans.get(i as usize) else {
                        break;
                    };
                    if same_stored_span(held, &record) {
                        return false;
                    }
                    i = self.next_same_id.get(i as usize).copied().unwrap_or(NONE);
                }
                // Link the new record right after the first one of its ID.
                let Some(after_first) = self.next_same_id.get_mut(first as usize) else {
                    return false;
                };
                let next = std::mem::replace(after_first, new_index);
                self.next_same_id.push(next);
            }
            None => {
                self.first_by_id.insert(record.span.span_id, new_index);
                self.next_same_id.push(NONE);
            }
        }
        self.start = self.start.min(record.span.start_time_unix_nano);
        self.end = self.end.max(record.span.end_time_unix_nano);
        self.spans.push(record);
        true
    }

    /// Pushes every record; returns how many were appended.
    pub fn extend(&mut self, records: impl IntoIterator<Item = SpanRecord>) -> usize {
        let mut added = 0;
        for record in records {
            added += usize::from(self.push(record));
        }
        added
    }

    /// The first record pushed with this span ID.
    pub fn first_with_id(&self, id: &SpanId) -> Option<&SpanRecord> {
        let &i = self.first_by_id.get(id)?;
        self.spans.get(i as usize)
    }

    pub fn as_slice(&self) -> &[SpanRecord] {
        &self.spans
    }

    /// The records, in insertion order.
    pub fn into_vec(self) -> Vec<SpanRecord> {
        self.spans
    }
}

impl Deref for SpanSet {
    type Target = [SpanRecord];

    fn deref(&self) -> &[SpanRecord] {
        &self.spans
    }
}

impl<'a> IntoIterator for &'a SpanSet {
    type Item = &'a SpanRecord;
    type IntoIter = std::slice::Iter<'a, SpanRecord>;

    fn into_iter(self) -> Self::IntoIter {
        self.spans.iter()
    }
}

impl IntoIterator for SpanSet {
    type Item = SpanRecord;
    type IntoIter = std::vec::IntoIter<SpanRecord>;

    fn into_iter(self) -> Self::IntoIter {
        self.spans.into_iter()
    }
}

impl FromIterator<SpanRecord> for SpanSet {
    fn from_iter<I: IntoIterator<Item = SpanRecord>>(records: I) -> Self {
        let mut set = SpanSet::new();
        set.extend(records);
        set
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::testing;

    fn rec(id: u64, name: &str, service: &str) -> SpanRecord {
        testing::record()
            .service(service)
            .id(id)
            .name(name)
            .start(id * 10)
            .duration(5)
            .build()
    }

    #[test]
    fn copies_are_dropped_and_the_first_one_wins() {
        let mut set = SpanSet::new();
        assert_eq!((set.start(), set.end()), (UnixNanos::MAX, 0));
        let mut first = rec(1, "a", "svc");
        first.warnings.push("kept".into());
        assert!(set.push(first));
        assert!(set.push(rec(2, "b", "svc")));
        // Same span, resource and scope values in other allocations: a copy.
        assert!(!set.push(rec(1, "a", "svc")));
        // Same span ID, other content: kept (Zipkin's shared spans).
        assert!(set.push(rec(1, "a", "other")));
        assert!(set.push(rec(1, "c", "svc")));
        assert!(!set.push(rec(1, "c", "svc")));
        assert!(!set.push(rec(1, "a", "other")));
        let names: Vec<_> = set
            .iter()
            .map(|r| (r.span.name.as_str(), r.service_name()))
            .collect();
        assert_eq!(
            names,
            [("a", "svc"), ("b", "svc"), ("a", "other"), ("c", "svc")]
        );
        assert_eq!(set[0].warnings, ["kept"]);
        let first = set.first_with_id(&SpanId::from_u64(1)).unwrap();
        assert_eq!(first.warnings, ["kept"]);
        assert!(set.first_with_id(&SpanId::from_u64(9)).is_none());
        assert_eq!((set.start(), set.end()), (10, 25));
        assert_eq!(set.extend([rec(2, "b", "svc"), rec(3, "d", "svc")]), 1);
        assert_eq!((set.start(), set.end()), (10, 35));
        assert_eq!(set.into_vec().len(), 5);
    }

    #[test]
    fn warnings_do_not_make_a_span_distinct() {
        let a = rec(1, "a", "svc");
        let mut b = a.clone();
        b.warnings.push("w".into());
        assert!(same_stored_span(&a, &b));
        let set: SpanSet = [a, b].into_iter().collect();
        assert_eq!(set.len(), 1);
    }
}
