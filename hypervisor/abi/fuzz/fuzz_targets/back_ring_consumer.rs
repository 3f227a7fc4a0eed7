//! Fuzz target: a blkif/netif back ring consuming from a shared page a malicious front end
//! controls; no panic, never an access outside the ring (see `common/back_ring.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../common/back_ring.rs"]
mod back_ring;

fuzz_target!(|data: &[u8]| {
    back_ring::run_back_ring_consumer(data);
});
