//! Property test: random sequences of every grant-table operation over 2–4 domains, checked
//! step by step against the naive model in `grant_tables::fuzzing` (GTF_reading/GTF_writing iff
//! live pins, read-only maps never set GTF_writing, live handles = maptrack entries, no frame
//! freed while mapped, per-op statuses as Xen 4.17 returns them). A second property biases the
//! sequences toward guests granting and batched map/unmap calls, so the batch loop, entries
//! failing between successes and the `cancel_map` undo are checked entry by entry.

use grant_tables::fuzzing::{run_bytes, OP_BYTES};
use proptest::prelude::*;

/// Cases run by plain `cargo test` (CI).
const CASES: u32 = 10_000;
/// Cases of the batch-heavy property (each step does up to six ops).
const BATCH_CASES: u32 = 4_000;

/// One encoded op, mostly `GuestGrant` (kinds 0–5), `MapBatch` (32, 33) and `UnmapBatch`
/// (34, 35), the rest any op.
fn batch_heavy_op() -> impl Strategy<Value = [u8; OP_BYTES]> {
    let kind = prop_oneof![3 => 0u8..=5, 3 => 32u8..=33, 3 => 34u8..=35, 1 => any::<u8>()];
    (kind, prop::array::uniform8(any::<u8>())).prop_map(|(k, args)| {
        let mut op = [k; OP_BYTES];
        op[1..].copy_from_slice(&args);
        op
    })
}

fn encode(first: u8, ops: &[[u8; OP_BYTES]]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(1 + ops.len() * OP_BYTES);
    bytes.push(first);
    for op in ops {
        bytes.extend_from_slice(op);
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: CASES,
        max_shrink_iters: 2_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_op_sequences_match_model_and_keep_invariants(
        first in any::<u8>(),
        ops in prop::collection::vec(prop::array::uniform9(any::<u8>()), 1..48),
    ) {
        if let Err(e) = run_bytes(&encode(first, &ops)) {
            prop_assert!(false, "{}", e);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: BATCH_CASES,
        max_shrink_iters: 2_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn batched_map_unmap_sequences_match_model_entry_by_entry(
        first in any::<u8>(),
        ops in prop::collection::vec(batch_heavy_op(), 1..40),
    ) {
        if let Err(e) = run_bytes(&encode(first, &ops)) {
            prop_assert!(false, "{}", e);
        }
    }
}
