//! Fuzz target: netback's frame parsing in both directions on arbitrary bytes — `tx_header`
//! on a frame a guest sent (with or without `csum_blank` and GSO), `rx_meta` on a vnet header
//! and frame from the TAP; no panic, and every offset handed on lies inside the frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netback::tx::{Gso, GsoKind};
use netback::vnet::{rx_meta, tx_header, RxOffers, VnetHdr, F_NEEDS_CSUM, GSO_NONE, VNET_HDR_LEN};

fuzz_target!(|data: &[u8]| {
    let Some((ctl, rest)) = data.split_first() else { return };
    let Some((hdr, frame)) = rest.split_at_checked(VNET_HDR_LEN) else { return };
    let gso = (ctl & 2 != 0).then(|| Gso {
        size: u16::from(ctl >> 3).max(1),
        kind: if ctl & 4 != 0 { GsoKind::TcpV6 } else { GsoKind::TcpV4 },
    });
    if let Ok(h) = tx_header(frame, ctl & 1 != 0, gso) {
        if h.flags & F_NEEDS_CSUM != 0 {
            assert!(usize::from(h.csum_start) + usize::from(h.csum_offset) + 2 <= frame.len());
        }
        if h.gso_type != GSO_NONE {
            assert!(usize::from(h.hdr_len) <= frame.len());
        }
    }
    let h = VnetHdr::from_bytes(hdr.try_into().expect("split at VNET_HDR_LEN"));
    let offers = RxOffers {
        gso_tcpv4: ctl & 0x20 != 0,
        gso_tcpv6: ctl & 0x40 != 0,
        ipv6_csum: ctl & 0x80 != 0,
    };
    let mut f = frame.to_vec();
    let _ = rx_meta(&h, &mut f, offers);
    assert_eq!(f.len(), frame.len());
});
