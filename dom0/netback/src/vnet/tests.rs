//! Frames as netfront and tun produce them, through both directions of the mapping.

use super::*;

/// An Ethernet + IPv4 (+ `opts` bytes of options) + TCP (20 bytes) frame with `payload` bytes.
fn tcp4(opts: usize, payload: usize) -> Vec<u8> {
    let mut f = vec![0u8; 14];
    f[12..14].copy_from_slice(&ETH_P_IP.to_be_bytes());
    let ihl = 20 + opts;
    let mut ip = vec![0u8; ihl];
    ip[0] = 0x40 | (ihl / 4) as u8;
    ip[9] = IPPROTO_TCP;
    f.extend(ip);
    let mut tcp = vec![0u8; 20];
    tcp[12] = 5 << 4;
    f.extend(tcp);
    f.extend(std::iter::repeat_n(0xab, payload));
    f
}

fn udp6(ext: bool) -> Vec<u8> {
    let mut f = vec![0u8; 14];
    f[12..14].copy_from_slice(&ETH_P_IPV6.to_be_bytes());
    let mut ip = vec![0u8; 40];
    ip[0] = 0x60;
    ip[6] = if ext { 0 } else { IPPROTO_UDP };
    f.extend(ip);
    if ext {
        // A hop-by-hop header of 8 bytes, then UDP.
        f.extend([IPPROTO_UDP, 0, 0, 0, 0, 0, 0, 0]);
    }
    f.extend([0u8; 8]);
    f.extend([1, 2, 3]);
    f
}

#[test]
fn vnet_hdr_bytes_round_trip() {
    let h = VnetHdr {
        flags: 1,
        gso_type: 4,
        hdr_len: 0x1234,
        gso_size: 1448,
        csum_start: 34,
        csum_offset: 16,
    };
    let b = h.to_bytes();
    assert_eq!(b[2..4], [0x34, 0x12]);
    assert_eq!(VnetHdr::from_bytes(&b), h);
}

#[test]
fn parse_l4_ipv4_tcp_with_options_finds_tcp() {
    let f = tcp4(8, 10);
    assert_eq!(
        parse_l4(&f),
        Some(L4 {
            start: 42,
            proto: IPPROTO_TCP,
            v6: false
        })
    );
}

#[test]
fn parse_l4_ipv4_fragment_is_none() {
    let mut f = tcp4(0, 10);
    f[14 + 6] = 0x20; // more fragments
    assert_eq!(parse_l4(&f), None);
}

#[test]
fn parse_l4_ipv6_udp_after_hop_by_hop_finds_udp() {
    assert_eq!(
        parse_l4(&udp6(true)).map(|l| (l.start, l.v6)),
        Some((62, true))
    );
    assert_eq!(parse_l4(&udp6(false)).map(|l| l.start), Some(54));
}

#[test]
fn parse_l4_truncated_or_other_is_none() {
    let f = tcp4(0, 0);
    for n in 0..f.len() - 3 {
        assert_eq!(parse_l4(&f[..n]), None, "{n} bytes");
    }
    let mut arp = f.clone();
    arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    assert_eq!(parse_l4(&arp), None);
}

#[test]
fn tx_header_csum_blank_tcp_is_needs_csum_at_tcp_check() {
    let h = tx_header(&tcp4(0, 100), true, None).unwrap();
    assert_eq!(
        (h.flags, h.csum_start, h.csum_offset, h.gso_type),
        (F_NEEDS_CSUM, 34, 16, GSO_NONE)
    );
}

#[test]
fn tx_header_gso_tcpv4_sets_mss_and_hdr_len() {
    let gso = Some(Gso {
        size: 1448,
        kind: GsoKind::TcpV4,
    });
    let h = tx_header(&tcp4(0, 3000), true, gso).unwrap();
    assert_eq!((h.gso_type, h.gso_size, h.hdr_len), (GSO_TCPV4, 1448, 54));
}

#[test]
fn tx_header_gso_wrong_version_or_no_csum_is_refused() {
    let v6 = Some(Gso {
        size: 1448,
        kind: GsoKind::TcpV6,
    });
    assert_eq!(
        tx_header(&tcp4(0, 3000), true, v6),
        Err(VnetError::GsoNotTcp)
    );
    assert_eq!(
        tx_header(&tcp4(0, 3000), false, v6),
        Err(VnetError::GsoWithoutCsum)
    );
}

#[test]
fn tx_header_plain_or_validated_is_empty() {
    assert_eq!(tx_header(&tcp4(0, 1), false, None), Ok(VnetHdr::default()));
}

#[test]
fn tx_header_csum_blank_non_ip_is_refused() {
    let mut f = tcp4(0, 1);
    f[12] = 0x88;
    assert_eq!(tx_header(&f, true, None), Err(VnetError::NoL4));
}

const ALL: RxOffers = RxOffers {
    gso_tcpv4: true,
    gso_tcpv6: true,
    ipv6_csum: true,
};

#[test]
fn rx_meta_needs_csum_at_tcp_check_is_blank_with_gso() {
    let mut f = tcp4(0, 3000);
    let h = VnetHdr {
        flags: F_NEEDS_CSUM,
        gso_type: GSO_TCPV4 | GSO_ECN,
        hdr_len: 54,
        gso_size: 1448,
        csum_start: 34,
        csum_offset: 16,
    };
    let (c, g) = rx_meta(&h, &mut f, ALL).unwrap();
    assert_eq!(c, Csum::Blank);
    assert_eq!(g.map(|g| (g.size, g.kind)), Some((1448, GsoKind::TcpV4)));
}

#[test]
fn rx_meta_gso_not_offered_is_refused() {
    let mut f = tcp4(0, 3000);
    let h = VnetHdr {
        flags: F_NEEDS_CSUM,
        gso_type: GSO_TCPV6,
        gso_size: 1448,
        csum_start: 34,
        csum_offset: 16,
        ..VnetHdr::default()
    };
    let offers = RxOffers {
        gso_tcpv6: false,
        ..ALL
    };
    assert_eq!(
        rx_meta(&h, &mut f, offers),
        Err(VnetError::GsoType(GSO_TCPV6))
    );
}

#[test]
fn rx_meta_data_valid_is_validated_and_nothing_is_none() {
    let mut f = tcp4(0, 1);
    let valid = VnetHdr {
        flags: F_DATA_VALID,
        ..VnetHdr::default()
    };
    assert_eq!(rx_meta(&valid, &mut f, ALL), Ok((Csum::Validated, None)));
    assert_eq!(
        rx_meta(&VnetHdr::default(), &mut f, ALL),
        Ok((Csum::None, None))
    );
}

/// The ones' complement sum of a whole range, folded.
fn sum(b: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for w in b.chunks(2) {
        s += (u32::from(w[0]) << 8) | w.get(1).copied().map_or(0, u32::from);
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

#[test]
fn rx_meta_ipv6_csum_not_offered_is_finished_in_software() {
    let mut f = udp6(false);
    f[54 + 6..54 + 8].copy_from_slice(&0x1234u16.to_be_bytes()); // a pseudo-header sum
    let h = VnetHdr {
        flags: F_NEEDS_CSUM,
        csum_start: 54,
        csum_offset: 6,
        ..VnetHdr::default()
    };
    let offers = RxOffers {
        ipv6_csum: false,
        ..ALL
    };
    let pseudo = 0x1234u16;
    let mut expect = f.clone();
    expect[60..62].copy_from_slice(&[0, 0]);
    assert_eq!(rx_meta(&h, &mut f, offers), Ok((Csum::Validated, None)));
    // The stored checksum makes the range (with the pseudo-header sum) add up to all ones.
    let stored = u16::from_be_bytes([f[60], f[61]]);
    let mut whole = expect[54..].to_vec();
    whole[6..8].copy_from_slice(&stored.to_be_bytes());
    let total = u32::from(sum(&whole)) + u32::from(pseudo);
    let total = (total & 0xffff) + (total >> 16);
    assert_eq!(total, 0xffff);
}

#[test]
fn finish_csum_field_outside_frame_is_refused() {
    let mut f = vec![0u8; 20];
    assert!(matches!(
        finish_csum(&mut f, 10, 9),
        Err(VnetError::CsumOutside { .. })
    ));
    assert!(finish_csum(&mut f, 10, 8).is_ok());
}

#[test]
fn finish_csum_odd_length_pads_with_zero() {
    let mut f = vec![0x01, 0x02, 0x00, 0x00, 0x03];
    finish_csum(&mut f, 0, 2).unwrap();
    // 0x0102 + 0x0000 + 0x0300 = 0x0402 -> !0x0402
    assert_eq!(u16::from_be_bytes([f[2], f[3]]), !0x0402);
}

use proptest::prelude::*;

/// Frames a guest could send: random bytes, or a TCP/IPv4 or UDP/IPv6 frame with a few bytes
/// changed and cut at any length.
fn any_frame() -> impl Strategy<Value = Vec<u8>> {
    let shaped = (
        any::<bool>(),
        0usize..=10,
        0usize..64,
        prop::collection::vec((0usize..140, any::<u8>()), 0..4),
        0usize..140,
    )
        .prop_map(|(v6, opt_words, payload, pokes, cut)| {
            let mut f = if v6 {
                udp6(opt_words % 2 == 0)
            } else {
                tcp4(opt_words * 4, payload)
            };
            for (at, b) in pokes {
                if let Some(x) = f.get_mut(at) {
                    *x = b;
                }
            }
            f.truncate(cut.max(1));
            f
        });
    prop_oneof![prop::collection::vec(any::<u8>(), 0..140), shaped]
}

proptest! {
    /// Whatever the guest's bytes, the vnet header netback writes for them points inside the
    /// frame: the checksum field, and GSO's headers.
    #[test]
    fn tx_header_arbitrary_frame_points_inside_it(
        frame in any_frame(),
        csum_blank in any::<bool>(),
        gso in prop::option::of((1u16.., any::<bool>())),
    ) {
        let gso = gso.map(|(size, v6)| Gso {
            size,
            kind: if v6 { GsoKind::TcpV6 } else { GsoKind::TcpV4 },
        });
        if let Ok(h) = tx_header(&frame, csum_blank, gso) {
            if h.flags & F_NEEDS_CSUM != 0 {
                let field = usize::from(h.csum_start) + usize::from(h.csum_offset);
                prop_assert!(field + 2 <= frame.len());
            } else {
                prop_assert!(!csum_blank);
            }
            if h.gso_type != GSO_NONE {
                prop_assert!(gso.is_some());
                prop_assert!(usize::from(h.hdr_len) <= frame.len());
                prop_assert!(h.hdr_len >= h.csum_start + 20);
                prop_assert_eq!(h.gso_size, gso.map(|g| g.size).unwrap_or(0));
            }
        }
    }

    /// Whatever header the TAP gives with whatever frame, `rx_meta` never panics, passes a
    /// partial checksum on only where netfront finds it, GSO only as offered, and a checksum
    /// it finishes itself changes only the checksum field.
    #[test]
    fn rx_meta_arbitrary_header_and_frame(
        frame in any_frame(),
        hdr in prop::array::uniform10(any::<u8>()),
        offers in (any::<bool>(), any::<bool>(), any::<bool>()),
    ) {
        let h = VnetHdr::from_bytes(&hdr);
        let offers = RxOffers { gso_tcpv4: offers.0, gso_tcpv6: offers.1, ipv6_csum: offers.2 };
        let mut f = frame.clone();
        match rx_meta(&h, &mut f, offers) {
            Ok((Csum::Blank, gso)) => {
                let l4 = parse_l4(&f);
                prop_assert!(l4.is_some_and(|l| l.start == usize::from(h.csum_start)));
                prop_assert_eq!(&f, &frame);
                if let Some(g) = gso {
                    let offered = match g.kind {
                        GsoKind::TcpV4 => offers.gso_tcpv4,
                        GsoKind::TcpV6 => offers.gso_tcpv6,
                    };
                    prop_assert!(offered);
                }
            }
            Ok((_, gso)) => {
                prop_assert!(gso.is_none());
                let field = usize::from(h.csum_start) + usize::from(h.csum_offset);
                for (i, (a, b)) in f.iter().zip(&frame).enumerate() {
                    if a != b {
                        prop_assert!(i == field || i == field + 1);
                    }
                }
            }
            Err(_) => {}
        }
    }
}
