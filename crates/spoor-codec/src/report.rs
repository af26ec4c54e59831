//! What a decoder left out of a payload it could still decode.
//!
//! One bad field never costs a batch (ADR 0015): a field that cannot be used
//! (an address that is not an IP, an unknown span kind, an annotation of the
//! wrong type, a parent ID of the wrong length, …) is dropped or replaced and
//! counted here under a short static label; a span that cannot be used at all
//! (its trace or span ID missing, zero or malformed) is left out of the batch
//! alone and counted under a reason. Only a payload that cannot be parsed at
//! all is a [`crate::DecodeError`].
//!
//! Labels are `&'static str` so that the metrics built from them have a
//! bounded number of series whatever the input.

/// At most this many messages are kept for the sender and the logs.
pub const MAX_MESSAGES: usize = 8;

/// A message longer than this many bytes is cut (it may quote hostile input).
pub const MAX_MESSAGE_BYTES: usize = 200;

/// Why a whole span was left out.
pub mod reason {
    /// The trace ID is missing, all zeros, or not a valid ID.
    pub const INVALID_TRACE_ID: &str = "invalid_trace_id";
    /// The span ID is missing, all zeros, or not a valid ID.
    pub const INVALID_SPAN_ID: &str = "invalid_span_id";
    /// The span is not a span at all (e.g. a JSON value that is not an object,
    /// a Thrift struct without its required fields).
    pub const MALFORMED_SPAN: &str = "malformed_span";
}

/// The counts and first messages of one decode.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodeReport {
    rejected: Vec<(&'static str, u64)>,
    dropped: Vec<(&'static str, u64)>,
    messages: Vec<String>,
    more_messages: u64,
}

fn bump(counts: &mut Vec<(&'static str, u64)>, label: &'static str, n: u64) {
    match counts.iter_mut().find(|(l, _)| *l == label) {
        Some((_, c)) => *c = c.saturating_add(n),
        None => counts.push((label, n)),
    }
}

impl DecodeReport {
    /// An empty report.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a span left out for `reason` (see [`reason`]), with a message
    /// naming the span (`message` is only called while messages are kept).
    pub fn reject_span(&mut self, reason: &'static str, message: impl FnOnce() -> String) {
        bump(&mut self.rejected, reason, 1);
        self.note(message);
    }

    /// Records a field dropped or replaced; `field` is a short label such as
    /// `"ipv4"`, `"kind"` or `"annotation"`.
    pub fn drop_field(&mut self, field: &'static str, message: impl FnOnce() -> String) {
        bump(&mut self.dropped, field, 1);
        self.note(message);
    }

    /// The value of `r`, or its type's default with the error recorded as a
    /// dropped `field`.
    pub fn keep<T: Default>(&mut self, field: &'static str, r: Result<T, crate::DecodeError>) -> T {
        r.unwrap_or_else(|e| {
            self.drop_field(field, || e.to_string());
            T::default()
        })
    }

    /// Records `n` fields dropped under one `field` label with one message.
    pub fn drop_fields(&mut self, field: &'static str, n: u64, message: impl FnOnce() -> String) {
        if n == 0 {
            return;
        }
        bump(&mut self.dropped, field, n);
        self.note(message);
    }

    fn note(&mut self, message: impl FnOnce() -> String) {
        if self.messages.len() < MAX_MESSAGES {
            let mut m = message();
            if m.len() > MAX_MESSAGE_BYTES {
                let mut cut = MAX_MESSAGE_BYTES;
                while !m.is_char_boundary(cut) {
                    cut -= 1;
                }
                m.truncate(cut);
                m.push('…');
            }
            self.messages.push(m);
        } else {
            self.more_messages += 1;
        }
    }

    /// Spans left out, in total.
    pub fn rejected_spans(&self) -> u64 {
        self.rejected.iter().map(|(_, n)| n).sum()
    }

    /// Fields dropped or replaced, in total.
    pub fn dropped_fields(&self) -> u64 {
        self.dropped.iter().map(|(_, n)| n).sum()
    }

    /// Spans left out, per reason, in first-seen order.
    pub fn rejected_by_reason(&self) -> &[(&'static str, u64)] {
        &self.rejected
    }

    /// Fields dropped, per field label, in first-seen order.
    pub fn dropped_by_field(&self) -> &[(&'static str, u64)] {
        &self.dropped
    }

    /// The first [`MAX_MESSAGES`] messages.
    pub fn messages(&self) -> &[String] {
        &self.messages
    }

    /// Whether nothing was left out.
    pub fn is_empty(&self) -> bool {
        self.rejected.is_empty() && self.dropped.is_empty()
    }

    /// Adds the counts and messages of `other`.
    pub fn merge(&mut self, other: DecodeReport) {
        for (l, n) in other.rejected {
            bump(&mut self.rejected, l, n);
        }
        for (l, n) in other.dropped {
            bump(&mut self.dropped, l, n);
        }
        for m in other.messages {
            self.note(|| m);
        }
        self.more_messages += other.more_messages;
    }

    /// One line for the sender: what was left out and the first messages,
    /// e.g. `1 span rejected, 2 fields dropped: span[3].id: …; …`.
    /// Empty when nothing was left out.
    pub fn summary(&self) -> String {
        if self.is_empty() {
            return String::new();
        }
        let mut parts = Vec::new();
        let rejected = self.rejected_spans();
        if rejected > 0 {
            parts.push(format!(
                "{rejected} span{} rejected",
                if rejected == 1 { "" } else { "s" }
            ));
        }
        let dropped = self.dropped_fields();
        if dropped > 0 {
            parts.push(format!(
                "{dropped} field{} dropped",
                if dropped == 1 { "" } else { "s" }
            ));
        }
        let mut s = parts.join(", ");
        if !self.messages.is_empty() {
            s.push_str(": ");
            s.push_str(&self.messages.join("; "));
            if self.more_messages > 0 {
                s.push_str(&format!("; and {} more", self.more_messages));
            }
        }
        s
    }
}

/// Whether a decode error is about the trace ID or span ID of one span (its
/// field path names one), for the reason a span is rejected under.
pub(crate) fn reason_of(err: &crate::DecodeError) -> &'static str {
    let crate::DecodeError::Invalid { field, .. } = err else {
        return reason::MALFORMED_SPAN;
    };
    let last = field.rsplit('.').next().unwrap_or(field);
    match last {
        "traceId" | "trace_id" | "traceID" => reason::INVALID_TRACE_ID,
        "id" | "spanId" | "span_id" | "spanID" => reason::INVALID_SPAN_ID,
        _ => reason::MALFORMED_SPAN,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_label_and_keeps_the_first_messages() {
        let mut r = DecodeReport::new();
        assert!(r.is_empty());
        assert_eq!(r.summary(), "");
        r.reject_span(reason::INVALID_SPAN_ID, || "span[1].id: zero".into());
        for i in 0..10 {
            r.drop_field("ipv4", || format!("m{i}"));
        }
        r.drop_field("kind", || "k".into());
        assert_eq!(r.rejected_spans(), 1);
        assert_eq!(r.dropped_fields(), 11);
        assert_eq!(r.dropped_by_field(), &[("ipv4", 10), ("kind", 1)]);
        assert_eq!(r.messages().len(), MAX_MESSAGES);
        let s = r.summary();
        assert!(
            s.starts_with("1 span rejected, 11 fields dropped: span[1].id: zero; m0"),
            "{s}"
        );
        assert!(s.ends_with("; and 4 more"), "{s}");
        let mut total = DecodeReport::new();
        total.merge(r.clone());
        total.merge(r);
        assert_eq!(total.rejected_spans(), 2);
        assert_eq!(total.dropped_by_field(), &[("ipv4", 20), ("kind", 2)]);
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let mut r = DecodeReport::new();
        r.drop_field("ipv4", || format!("span[0].ipv4: {}", "é".repeat(1000)));
        let m = &r.messages()[0];
        assert!(m.len() <= MAX_MESSAGE_BYTES + '…'.len_utf8(), "{}", m.len());
        assert!(m.ends_with('…'));
    }

    #[test]
    fn reasons_come_from_the_field_path() {
        use crate::DecodeError;
        assert_eq!(
            reason_of(&DecodeError::invalid("span[2].traceId", "x")),
            reason::INVALID_TRACE_ID
        );
        assert_eq!(
            reason_of(&DecodeError::invalid("span[2].id", "x")),
            reason::INVALID_SPAN_ID
        );
        assert_eq!(
            reason_of(&DecodeError::invalid("spanId", "x")),
            reason::INVALID_SPAN_ID
        );
        assert_eq!(
            reason_of(&DecodeError::Json("x".into())),
            reason::MALFORMED_SPAN
        );
    }
}
