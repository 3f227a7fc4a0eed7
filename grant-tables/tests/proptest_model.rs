//! Property test: random sequences of every grant-table operation over 2–4 domains, checked
//! step by step against the naive model in `grant_tables::fuzzing` (GTF_reading/GTF_writing iff
//! live pins, read-only maps never set GTF_writing, live handles = maptrack entries, no frame
//! freed while mapped, per-op statuses as Xen 4.17 returns them).

use grant_tables::fuzzing::{run_bytes, OP_BYTES};
use proptest::prelude::*;

/// Cases run by plain `cargo test` (CI).
const CASES: u32 = 10_000;

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
        let mut bytes = Vec::with_capacity(1 + ops.len() * OP_BYTES);
        bytes.push(first);
        for op in &ops {
            bytes.extend_from_slice(op);
        }
        if let Err(e) = run_bytes(&bytes) {
            prop_assert!(false, "{}", e);
        }
    }
}
