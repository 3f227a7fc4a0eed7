//! Fuzz target: bytes → a scenario of 2–4 domains and a sequence of every event-channel
//! operation, run on the hub and the reference model with the invariants checked after each step
//! (`event_channels::fuzzing::run`, shared with the corpus replay test).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    event_channels::fuzzing::run(data);
});
