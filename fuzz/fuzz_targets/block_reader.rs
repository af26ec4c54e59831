//! The engine's block reader (`meta.json`, checksums, trace index, Bloom
//! filter, edges, RED statistics, Parquet): a damaged block never panics
//! and never reads back as wrong data. Three shapes of input:
//!
//! - a valid block with one of its files mutated (bytes XORed at an
//!   offset, truncated, or extended): reading it either fails or returns
//!   exactly the spans written;
//! - a valid block with one file replaced by the fuzzer's bytes: the same;
//! - the fuzzer's bytes as the `meta.json` of a valid block's files: never
//!   a panic.
#![no_main]

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use spoor_engine::block::tools::{encode_block, read_block};
use spoor_engine::object_store::memory::InMemory;
use spoor_engine::object_store::path::Path;
use spoor_engine::object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use spoor_model::{AnyValue, KeyValue, Resource, Scope, Span, SpanBatch, SpanId, SpanRecord, TraceId};

const ID: &str = "00000000000000000001-0000";

fn batch() -> SpanBatch {
    let resource = Arc::new(Resource {
        attributes: vec![KeyValue::str("service.name", "fuzz")],
        ..Resource::default()
    });
    let scope = Arc::new(Scope {
        name: "fuzz".into(),
        ..Scope::default()
    });
    let spans = (0..24u64)
        .map(|i| {
            SpanRecord::new(
                Arc::clone(&resource),
                Arc::clone(&scope),
                Span {
                    trace_id: TraceId::from_halves(7, i / 4),
                    span_id: SpanId::from_u64(i + 1),
                    parent_span_id: SpanId::from_u64(i),
                    name: format!("op-{}", i % 3),
                    start_time_unix_nano: 1_700_000_000_000_000_000 + i * 1_000,
                    end_time_unix_nano: 1_700_000_000_000_000_000 + i * 1_000 + 500,
                    attributes: vec![
                        KeyValue::str("http.method", "GET"),
                        KeyValue::new("n", AnyValue::Int(i as i64)),
                    ],
                    ..Span::default()
                },
            )
        })
        .collect();
    SpanBatch { spans }
}

struct Fixture {
    runtime: tokio::runtime::Runtime,
    files: Vec<(String, Bytes)>,
    /// The spans as the reader returns them from the intact block.
    spans: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let files = encode_block(ID, &batch()).expect("a valid block");
        let spans = runtime
            .block_on(read(&files))
            .expect("the intact block reads")
            .expect("it has meta.json");
        Fixture {
            runtime,
            files,
            spans: format!("{spans:?}"),
        }
    })
}

async fn read(
    files: &[(String, Bytes)],
) -> Result<Option<Vec<SpanRecord>>, spoor_engine::EngineError> {
    let store = Arc::new(InMemory::new());
    for (name, bytes) in files {
        store
            .put(
                &Path::from(format!("{ID}/{name}")),
                PutPayload::from_bytes(bytes.clone()),
            )
            .await
            .expect("an in-memory put");
    }
    read_block(store as Arc<dyn ObjectStore>, ID).await
}

fuzz_target!(|data: &[u8]| {
    let fx = fixture();
    let [mode, which, rest @ ..] = data else {
        return;
    };
    let mut files = fx.files.clone();
    let at = *which as usize % files.len();
    let meta_only = files[at].0 == "meta.json";
    let original = files[at].1.to_vec();
    let changed: Vec<u8> = match mode % 4 {
        // XOR bytes in at an offset.
        0 => {
            let [o0, o1, o2, o3, xor @ ..] = rest else {
                return;
            };
            let mut bytes = original.clone();
            if bytes.is_empty() {
                return;
            }
            let offset = u32::from_le_bytes([*o0, *o1, *o2, *o3]) as usize % bytes.len();
            for (b, x) in bytes[offset..].iter_mut().zip(xor) {
                *b ^= x;
            }
            bytes
        }
        // Truncate.
        1 => {
            let [o0, o1, ..] = rest else {
                return;
            };
            let keep = u16::from_le_bytes([*o0, *o1]) as usize % (original.len() + 1);
            original[..keep].to_vec()
        }
        // Extend.
        2 => [original.as_slice(), rest].concat(),
        // Replace wholesale.
        _ => rest.to_vec(),
    };
    if changed == original {
        return;
    }
    files[at].1 = Bytes::from(changed);
    let result = fx.runtime.block_on(read(&files));
    if let Ok(Some(spans)) = result {
        // A changed meta.json may still describe the same data (its
        // whitespace, say): then the spans must be exactly the ones written.
        // A changed data file must never read back.
        assert!(
            meta_only,
            "a block whose {} was changed read back as good data",
            files[at].0
        );
        assert_eq!(format!("{spans:?}"), fx.spans, "a damaged block returned wrong spans");
    }
});
