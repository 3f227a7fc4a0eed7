//! Fuzz target: a domain's xenstore page with arbitrary indices and request bytes, read and
//! answered as the daemon does, with the guest moving its indices between turns; no panic, no
//! loop, never more than a ring's worth per turn, and a fault sticks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xen_abi::io::ring::RingMemory;
use xenstored::ring::{PageMem, RingConn};

const REQ_CONS: usize = 2048;
const REQ_PROD: usize = 2052;
const RSP_CONS: usize = 2056;
const RSP_PROD: usize = 2060;

fn word(b: &[u8]) -> u32 {
    let mut w = [0u8; 4];
    w[..b.len().min(4)].copy_from_slice(&b[..b.len().min(4)]);
    u32::from_le_bytes(w)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 16 {
        return;
    }
    let (idx, rest) = data.split_at(16);
    let mut page = PageMem::new();
    page.write_index(REQ_CONS, word(&idx[0..4]));
    page.write_index(REQ_PROD, word(&idx[4..8]));
    page.write_index(RSP_CONS, word(&idx[8..12]));
    page.write_index(RSP_PROD, word(&idx[12..16]));
    // The request ring's bytes, then moves of the guest's indices.
    let n = rest.len().min(1024);
    page.0[..n].copy_from_slice(&rest[..n]);
    let mut moves = rest[n..].chunks_exact(8);
    let mut conn = RingConn::new();
    for _ in 0..16 {
        let before = conn.fault();
        match conn.read_request(&mut page) {
            Ok(Some(m)) => assert!(m.payload.len() <= 4096),
            Ok(None) => {}
            Err(f) => assert!(before.is_none() || before == Some(f)),
        }
        if let Ok(w) = conn.write_response(&mut page, &[0x5a; 1500]) {
            assert!(w <= 1024);
        }
        let Some(m) = moves.next() else { break };
        page.write_index(REQ_PROD, word(&m[0..4]));
        page.write_index(RSP_CONS, word(&m[4..8]));
    }
});
