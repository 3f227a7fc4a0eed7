//! Fuzz target: netback's TX decoder on arbitrary ring slots; no panic, every item consumes what
//! was published at most and owes one response per slot, and an accepted packet stays inside
//! its pages with fragments adding up to its size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netback::tx::{decode_all, responses, TxItem, ETH_HLEN, LEGACY_SLOTS_MAX};
use xen_abi::io::netif::{NetifTxRequest, NETIF_RSP_OKAY};
use zerocopy::FromBytes;

fuzz_target!(|data: &[u8]| {
    let n = data.len() / 12;
    let Ok(slots) = <[NetifTxRequest]>::ref_from_bytes(&data[..n * 12]) else { return };
    let (items, _) = decode_all(slots);
    let mut consumed = 0;
    for (item, used) in &items {
        assert!(*used >= 1);
        consumed += used;
        assert_eq!(responses(item, NETIF_RSP_OKAY).len(), *used);
        if let TxItem::Packet(p) = item {
            assert!(p.frags.len() <= LEGACY_SLOTS_MAX + 1);
            assert!(p.frags[0].len >= ETH_HLEN);
            let total: u32 = p.frags.iter().map(|f| u32::from(f.len)).sum();
            assert_eq!(total, u32::from(p.size));
            assert!(p.frags.iter().all(|f| usize::from(f.offset) + usize::from(f.len) <= 4096));
        }
    }
    assert!(consumed <= slots.len());
});
