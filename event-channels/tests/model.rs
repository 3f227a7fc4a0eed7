//! Property tests: random sequences of every operation across 2–4 domains, run on the hub and
//! on the reference model in `fuzzing`, with the invariants checked after every step.

use event_channels::fuzzing::{op_from, run_ops, scenario};
use proptest::collection::vec;
use proptest::prelude::*;

fn ops() -> impl Strategy<Value = Vec<(u8, u8, u8, u8)>> {
    vec(any::<(u8, u8, u8, u8)>(), 0..80)
}

proptest! {
    // 10,000 cases so that a plain `cargo test` (CI) runs them all.
    #![proptest_config(ProptestConfig {
        cases: 10_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Bindings stay symmetric, closed ports are free, pending & unmasked ⇒ selector and
    /// upcall set, and every result equals the reference model's.
    #[test]
    fn random_op_sequences_match_model_and_keep_invariants(
        n in any::<u8>(),
        vs in proptest::array::uniform4(any::<u8>()),
        raw in ops(),
    ) {
        let sc = scenario(n, &vs);
        let ops: Vec<_> = raw.iter().map(|&(k, x, y, z)| op_from(k, x, y, z)).collect();
        if let Err(e) = run_ops(&sc, &ops, 1) {
            prop_assert!(false, "{}", e);
        }
    }
}
