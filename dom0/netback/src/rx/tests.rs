//! The RX layout: data slots filled page by page, the GSO extra after the first, flags, and the
//! limits netfront checks.

use super::*;
use proptest::prelude::*;
use xen_abi::io::netif::XEN_NETIF_EXTRA_TYPE_GSO;

fn posted(n: usize) -> Vec<RxSlot> {
    (0..n)
        .map(|i| {
            RxSlot::from(&NetifRxRequest {
                id: i as u16,
                pad: 0xffff,
                gref: GrantRef(1000 + i as u32),
            })
        })
        .collect()
}

fn pkt(len: usize) -> RxPacket {
    RxPacket {
        len,
        csum: Csum::None,
        gso: None,
    }
}

#[test]
fn layout_small_packet_one_slot() {
    let l = layout(&pkt(60), &posted(4)).expect("fits");
    assert_eq!(
        l.responses,
        vec![NetifRxResponse {
            id: 0,
            offset: 0,
            flags: 0,
            status: 60
        }]
    );
    assert_eq!(
        l.copies,
        vec![RxCopy {
            slot: 0,
            gref: GrantRef(1000),
            src: 0,
            len: 60
        }]
    );
}

#[test]
fn layout_gso_packet_extra_after_first_data_slot() {
    let p = RxPacket {
        len: 3 * PAGE_SIZE + 100,
        csum: Csum::Blank,
        gso: Some(Gso {
            size: 1448,
            kind: GsoKind::TcpV4,
        }),
    };
    assert_eq!(slots_needed(&p), 5);
    let l = layout(&p, &posted(8)).expect("fits");
    assert_eq!(l.responses.len(), 5);
    let r0 = l.responses[0];
    assert_eq!(
        r0.flags,
        NETRXF_CSUM_BLANK | NETRXF_DATA_VALIDATED | NETRXF_EXTRA_INFO | NETRXF_MORE_DATA
    );
    assert_eq!(r0.status, 4096);
    let e = NetifExtraInfo::from_rx_slot(&l.responses[1]);
    assert_eq!(e.r#type, XEN_NETIF_EXTRA_TYPE_GSO);
    assert_eq!(e.flags, 0);
    assert_eq!(e.gso().size, 1448);
    assert_eq!(e.gso().r#type, XEN_NETIF_GSO_TYPE_TCPV4);
    assert_eq!(l.responses[2].id, 2);
    assert_eq!(l.responses[2].flags, NETRXF_MORE_DATA);
    assert_eq!(l.responses[4].flags, 0);
    assert_eq!(l.responses[4].status, 100);
    assert_eq!(
        l.copies
            .iter()
            .map(|c| (c.slot, c.src, c.len))
            .collect::<Vec<_>>(),
        vec![
            (0, 0, 4096),
            (2, 4096, 4096),
            (3, 8192, 4096),
            (4, 12288, 100)
        ]
    );
}

#[test]
fn layout_validated_checksum_flag() {
    let p = RxPacket {
        csum: Csum::Validated,
        ..pkt(100)
    };
    assert_eq!(
        layout(&p, &posted(1)).expect("fits").responses[0].flags,
        NETRXF_DATA_VALIDATED
    );
}

#[test]
fn layout_not_enough_slots_is_reported() {
    assert_eq!(
        layout(&pkt(2 * PAGE_SIZE + 1), &posted(2)),
        Err(RxError::NotEnoughSlots { need: 3, have: 2 })
    );
}

#[test]
fn layout_bad_packets_are_refused() {
    assert_eq!(layout(&pkt(13), &posted(1)), Err(RxError::TooShort(13)));
    assert_eq!(
        layout(&pkt(MAX_PACKET + 1), &posted(40)),
        Err(RxError::TooLong(MAX_PACKET + 1))
    );
    let p = RxPacket {
        gso: Some(Gso {
            size: 0,
            kind: GsoKind::TcpV6,
        }),
        ..pkt(100)
    };
    assert_eq!(layout(&p, &posted(2)), Err(RxError::GsoSizeZero));
}

proptest! {
    /// Any packet that fits: one response per slot needed, the copies cover the packet exactly
    /// once in order, each within a page, and every data slot but the last is full.
    #[test]
    fn layout_covers_packet_exactly(len in 14usize..=MAX_PACKET, gso in prop::bool::ANY) {
        let p = RxPacket {
            len,
            csum: Csum::None,
            gso: gso.then_some(Gso { size: 1448, kind: GsoKind::TcpV6 }),
        };
        let l = layout(&p, &posted(MAX_DATA_SLOTS + 1)).expect("fits");
        prop_assert_eq!(l.responses.len(), slots_needed(&p));
        let mut at = 0;
        for (i, c) in l.copies.iter().enumerate() {
            prop_assert_eq!(c.src, at);
            prop_assert!(c.len <= PAGE_SIZE && c.len > 0);
            if i + 1 < l.copies.len() {
                prop_assert_eq!(c.len, PAGE_SIZE);
            }
            let r = l.responses[c.slot];
            prop_assert_eq!(usize::try_from(r.status).ok(), Some(c.len));
            prop_assert_eq!(r.id as usize, c.slot);
            at += c.len;
        }
        prop_assert_eq!(at, len);
    }
}
