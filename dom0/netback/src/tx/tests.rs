//! The TX decoder: what Linux's netfront sends, every drop and fatal path of Linux netback, the
//! responses, and properties over arbitrary slots and over well-formed packets.

use super::*;
use proptest::prelude::*;
use xen_abi::io::netif::{NetifExtraGso, NetifExtraMcast};

fn slot(id: u16, offset: u16, size: u16, flags: u16) -> NetifTxRequest {
    NetifTxRequest {
        gref: GrantRef(u32::from(id) + 100),
        offset,
        flags,
        id,
        size,
    }
}

fn gso_slot(size: u16, kind: u8, flags: u8) -> NetifTxRequest {
    NetifExtraInfo::with_gso(
        flags,
        NetifExtraGso {
            size,
            r#type: kind,
            pad: 0,
            features: 0,
        },
    )
    .to_tx_slot()
}

fn extra_slot(t: u8, flags: u8) -> NetifTxRequest {
    NetifExtraInfo {
        r#type: t,
        flags,
        u: [0; 3],
    }
    .to_tx_slot()
}

fn packet(item: TxItem) -> TxPacket {
    match item {
        TxItem::Packet(p) => p,
        other => panic!("not a packet: {other:?}"),
    }
}

/// A packet of `sizes` (the first slot's own bytes first), chained with `more_data`.
fn chain(sizes: &[u16]) -> Vec<NetifTxRequest> {
    let total = sizes.iter().fold(0u16, |a, s| a.wrapping_add(*s));
    sizes
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let more = if i + 1 < sizes.len() {
                NETTXF_MORE_DATA
            } else {
                0
            };
            let size = if i == 0 { total } else { *s };
            slot(i as u16, 0, size, more)
        })
        .collect()
}

#[test]
fn decode_empty_is_none() {
    assert_eq!(decode(&[]), Ok(None));
}

#[test]
fn decode_single_slot_packet() {
    let (item, used) = decode(&[slot(5, 100, 60, NETTXF_CSUM_BLANK | NETTXF_DATA_VALIDATED)])
        .expect("valid")
        .expect("one item");
    assert_eq!(used, 1);
    let p = packet(item);
    assert!(p.csum_blank() && p.data_validated());
    assert_eq!(p.size, 60);
    assert_eq!(
        p.frags,
        vec![TxFrag {
            id: 5,
            gref: GrantRef(105),
            offset: 100,
            len: 60
        }]
    );
    assert_eq!(p.gso, None);
}

#[test]
fn decode_multi_slot_first_slot_keeps_its_own_length() {
    let (item, used) = decode(&chain(&[1000, 4096, 904]))
        .expect("valid")
        .expect("item");
    assert_eq!(used, 3);
    let p = packet(item);
    assert_eq!(p.size, 6000);
    assert_eq!(
        p.frags.iter().map(|f| f.len).collect::<Vec<_>>(),
        vec![1000, 4096, 904]
    );
}

#[test]
fn decode_gso_extra_like_netfront() {
    let mut slots = chain(&[1514, 4096]);
    slots[0].flags |= NETTXF_EXTRA_INFO;
    slots.insert(1, gso_slot(1448, XEN_NETIF_GSO_TYPE_TCPV4, 0));
    let (item, used) = decode(&slots).expect("valid").expect("item");
    assert_eq!(used, 3);
    let p = packet(item);
    assert_eq!(p.extra_count, 1);
    assert_eq!(
        p.gso,
        Some(Gso {
            size: 1448,
            kind: GsoKind::TcpV4
        })
    );
    assert_eq!(p.frags.len(), 2);
}

#[test]
fn decode_chained_extras_later_of_a_type_wins() {
    let mut first = slot(1, 0, 100, NETTXF_EXTRA_INFO);
    first.size = 100;
    let slots = [
        first,
        gso_slot(500, XEN_NETIF_GSO_TYPE_TCPV4, XEN_NETIF_EXTRA_FLAG_MORE),
        extra_slot(XEN_NETIF_EXTRA_TYPE_HASH, XEN_NETIF_EXTRA_FLAG_MORE),
        gso_slot(600, XEN_NETIF_GSO_TYPE_TCPV6, 0),
    ];
    let p = packet(decode(&slots).expect("valid").expect("item").0);
    assert_eq!(p.extra_count, 3);
    assert_eq!(
        p.gso,
        Some(Gso {
            size: 600,
            kind: GsoKind::TcpV6
        })
    );
    assert!(p.hash.is_some());
}

#[test]
fn decode_mcast_add_consumes_first_and_extras_only() {
    let mcast = NetifExtraInfo::with_mcast(
        XEN_NETIF_EXTRA_TYPE_MCAST_ADD,
        0,
        NetifExtraMcast {
            addr: [1, 0, 0x5e, 0, 0, 1],
        },
    )
    .to_tx_slot();
    let slots = [slot(3, 0, 0, NETTXF_EXTRA_INFO), mcast, slot(4, 0, 60, 0)];
    let (item, used) = decode(&slots).expect("valid").expect("item");
    assert_eq!(used, 2);
    assert_eq!(
        item,
        TxItem::Mcast {
            id: 3,
            extra_count: 1,
            op: McastOp::Add,
            addr: [1, 0, 0x5e, 0, 0, 1]
        }
    );
    let r = responses(&item, NETIF_RSP_OKAY);
    assert_eq!(
        r,
        vec![
            NetifTxResponse {
                id: 3,
                status: NETIF_RSP_OKAY
            },
            NetifTxResponse {
                id: 0,
                status: NETIF_RSP_NULL
            }
        ]
    );
}

#[test]
fn decode_mcast_del_is_recognised() {
    let slots = [
        slot(3, 0, 0, NETTXF_EXTRA_INFO),
        extra_slot(XEN_NETIF_EXTRA_TYPE_MCAST_DEL, 0),
    ];
    let (item, _) = decode(&slots).expect("valid").expect("item");
    assert!(matches!(
        item,
        TxItem::Mcast {
            op: McastOp::Del,
            ..
        }
    ));
}

#[test]
fn decode_extra_type_none_or_unknown_is_fatal() {
    for t in [0, XEN_NETIF_EXTRA_TYPE_MAX, 6, 255] {
        let slots = [slot(1, 0, 60, NETTXF_EXTRA_INFO), extra_slot(t, 0)];
        assert_eq!(decode(&slots), Err(Fatal::ExtraType(t)));
    }
}

#[test]
fn decode_extra_chain_past_producer_is_fatal() {
    let slots = [
        slot(1, 0, 60, NETTXF_EXTRA_INFO),
        gso_slot(1448, XEN_NETIF_GSO_TYPE_TCPV4, XEN_NETIF_EXTRA_FLAG_MORE),
    ];
    assert_eq!(decode(&slots), Err(Fatal::PastProducer(2)));
    assert_eq!(
        decode(&[slot(1, 0, 60, NETTXF_EXTRA_INFO)]),
        Err(Fatal::PastProducer(1))
    );
}

#[test]
fn decode_more_data_past_producer_is_fatal() {
    let mut slots = chain(&[100, 100]);
    slots[1].flags |= NETTXF_MORE_DATA;
    assert_eq!(decode(&slots), Err(Fatal::PastProducer(2)));
}

#[test]
fn decode_gso_size_zero_is_fatal() {
    let slots = [
        slot(1, 0, 60, NETTXF_EXTRA_INFO),
        gso_slot(0, XEN_NETIF_GSO_TYPE_TCPV4, 0),
    ];
    assert_eq!(decode(&slots), Err(Fatal::GsoSizeZero));
}

#[test]
fn decode_gso_type_other_than_tcp_is_fatal() {
    for t in [0, 3, 255] {
        let slots = [slot(1, 0, 60, NETTXF_EXTRA_INFO), gso_slot(1448, t, 0)];
        assert_eq!(decode(&slots), Err(Fatal::GsoType(t)));
    }
}

#[test]
fn decode_19_slots_accepted_20_and_21_dropped_22_fatal() {
    let ok = chain(&[100; 19]);
    let (item, used) = decode(&ok).expect("valid").expect("item");
    assert_eq!(used, 19);
    assert_eq!(packet(item).frags.len(), 19);
    for n in [20usize, 21] {
        let (item, used) = decode(&chain(&vec![100; n]))
            .expect("not fatal")
            .expect("item");
        assert_eq!(used, n);
        match &item {
            TxItem::Dropped { ids, why, .. } => {
                assert_eq!(ids.len(), n);
                assert_eq!(*why, DropReason::TooManySlots(LEGACY_SLOTS_MAX + 1));
            }
            other => panic!("not dropped: {other:?}"),
        }
        let r = responses(&item, NETIF_RSP_OKAY);
        assert_eq!(r.len(), n);
        assert!(r.iter().all(|r| r.status == NETIF_RSP_ERROR));
    }
    assert_eq!(decode(&chain(&[100; 22])), Err(Fatal::TooManySlots));
}

#[test]
fn decode_follow_on_larger_than_remaining_is_dropped() {
    // A 70000-byte frame: the first slot's size wrapped to 4464.
    let mut slots = chain(&[4096, 4096]);
    slots[0].size = 4000;
    let (item, used) = decode(&slots).expect("not fatal").expect("item");
    assert_eq!(used, 2);
    assert!(matches!(
        item,
        TxItem::Dropped {
            why: DropReason::SlotLargerThanRemaining {
                slot: 4096,
                remaining: 4000
            },
            ..
        }
    ));
}

#[test]
fn decode_first_slot_shorter_than_ethernet_header_is_dropped() {
    let (item, used) = decode(&chain(&[10, 100]))
        .expect("not fatal")
        .expect("item");
    assert_eq!(used, 2);
    assert!(matches!(
        item,
        TxItem::Dropped {
            why: DropReason::FirstSlotTooShort(10),
            ..
        }
    ));
    let (item, _) = decode(&[slot(1, 0, 13, 0)])
        .expect("not fatal")
        .expect("item");
    assert!(matches!(item, TxItem::Dropped { .. }));
}

#[test]
fn decode_slot_crossing_its_page_is_fatal() {
    assert_eq!(
        decode(&[slot(1, 4000, 200, 0)]),
        Err(Fatal::CrossesPage {
            offset: 4000,
            size: 200
        })
    );
    let mut slots = chain(&[100, 200]);
    slots[1].offset = 3950;
    assert_eq!(
        decode(&slots),
        Err(Fatal::CrossesPage {
            offset: 3950,
            size: 200
        })
    );
    // Up to the page's end is fine.
    assert!(decode(&[slot(1, 4036, 60, 0)]).is_ok());
}

#[test]
fn responses_zero_length_follow_on_is_okay_and_extras_null() {
    let mut slots = chain(&[100, 0, 50]);
    slots[0].flags |= NETTXF_EXTRA_INFO;
    slots.insert(1, gso_slot(1448, XEN_NETIF_GSO_TYPE_TCPV6, 0));
    let (item, used) = decode(&slots).expect("valid").expect("item");
    assert_eq!(used, 4);
    let r = responses(&item, NETIF_RSP_ERROR);
    assert_eq!(
        r.iter().map(|r| (r.id, r.status)).collect::<Vec<_>>(),
        vec![
            (0, NETIF_RSP_ERROR),
            (0, NETIF_RSP_NULL),
            (1, NETIF_RSP_OKAY),
            (2, NETIF_RSP_ERROR)
        ]
    );
}

#[test]
fn decode_all_stops_at_fatal_keeping_earlier_items() {
    let mut slots = chain(&[60]);
    slots.extend(chain(&[100, 100]));
    slots.push(slot(9, 4090, 60, 0));
    let (items, fatal) = decode_all(&slots);
    assert_eq!(items.len(), 2);
    assert_eq!(items.iter().map(|(_, n)| n).sum::<usize>(), 3);
    assert!(matches!(fatal, Some(Fatal::CrossesPage { .. })));
}

fn any_slot() -> impl Strategy<Value = NetifTxRequest> {
    (
        any::<u32>(),
        prop_oneof![0u16..4096, any::<u16>()],
        0u16..16,
        any::<u16>(),
        prop_oneof![0u16..5000, any::<u16>()],
    )
        .prop_map(|(g, offset, flags, id, size)| NetifTxRequest {
            gref: GrantRef(g),
            offset,
            flags,
            id,
            size,
        })
}

proptest! {
    /// Whatever the slots: no panic; every item consumes at least one slot and no more than
    /// were published; it owes one response per slot; an accepted packet lies inside its pages,
    /// its fragments add up to its size, and it uses at most 19 slots.
    #[test]
    fn decode_all_arbitrary_slots_invariants(slots in prop::collection::vec(any_slot(), 0..40)) {
        let (items, _) = decode_all(&slots);
        let mut consumed = 0;
        for (item, used) in &items {
            prop_assert!(*used >= 1);
            consumed += used;
            prop_assert_eq!(responses(item, NETIF_RSP_OKAY).len(), *used);
            if let TxItem::Packet(p) = item {
                prop_assert!(p.frags.len() <= LEGACY_SLOTS_MAX + 1);
                prop_assert!(p.frags[0].len >= ETH_HLEN);
                let total: u32 = p.frags.iter().map(|f| u32::from(f.len)).sum();
                prop_assert_eq!(total, u32::from(p.size));
                for f in &p.frags {
                    prop_assert!(usize::from(f.offset) + usize::from(f.len) <= PAGE_SIZE);
                }
                if let Some(g) = p.gso {
                    prop_assert!(g.size > 0);
                }
            }
        }
        prop_assert!(consumed <= slots.len());
    }

    /// A well-formed packet (as netfront builds it) is accepted whole, with its fragments.
    #[test]
    fn decode_well_formed_packet_is_accepted(
        first in 14u16..=4096,
        rest in prop::collection::vec(0u16..=4096, 0..=18),
        gso in prop::option::of((1u16..9000, prop::bool::ANY)),
    ) {
        let mut sizes = vec![first];
        sizes.extend(&rest);
        let total: u32 = sizes.iter().map(|s| u32::from(*s)).sum();
        prop_assume!(total <= 0xffff);
        let mut slots = chain(&sizes);
        if let Some((mss, v6)) = gso {
            slots[0].flags |= NETTXF_EXTRA_INFO;
            let t = if v6 { XEN_NETIF_GSO_TYPE_TCPV6 } else { XEN_NETIF_GSO_TYPE_TCPV4 };
            slots.insert(1, gso_slot(mss, t, 0));
        }
        let (item, used) = decode(&slots).expect("valid").expect("item");
        prop_assert_eq!(used, slots.len());
        let p = packet(item);
        prop_assert_eq!(p.frags.iter().map(|f| f.len).collect::<Vec<_>>(), sizes);
        prop_assert_eq!(p.gso.is_some(), gso.is_some());
    }
}
