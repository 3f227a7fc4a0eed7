//! Fuzz target: bytes -> grant-table operation sequences over 2–4 domains, checked against the
//! reference model and the invariants after every step (`grant_tables::fuzzing::run_bytes`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = grant_tables::fuzzing::run_bytes(data) {
        panic!("grant-table invariant violated: {e}");
    }
});
