//! The `virtio_net_hdr` in front of every frame on an `IFF_VNET_HDR` TAP, and the mapping
//! between it and netif's checksum and GSO flags in both directions (reference netif.md §5):
//! the guest's `csum_blank`/GSO become `NEEDS_CSUM` with the L4 header located here (netfront
//! sends no offsets), and the TAP's `NEEDS_CSUM`/`DATA_VALID`/GSO become netif's RX flags and
//! GSO extra, finishing in software a partial checksum netfront could not parse.

use crate::rx::Csum;
use crate::tx::{Gso, GsoKind};

/// `sizeof(struct virtio_net_hdr)`, the TAP's default vnet header size.
pub const VNET_HDR_LEN: usize = 10;
/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`.
pub const F_NEEDS_CSUM: u8 = 1;
/// `VIRTIO_NET_HDR_F_DATA_VALID`.
pub const F_DATA_VALID: u8 = 2;
/// `VIRTIO_NET_HDR_GSO_NONE`.
pub const GSO_NONE: u8 = 0;
/// `VIRTIO_NET_HDR_GSO_TCPV4`.
pub const GSO_TCPV4: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_TCPV6`.
pub const GSO_TCPV6: u8 = 4;
/// `VIRTIO_NET_HDR_GSO_ECN`.
pub const GSO_ECN: u8 = 0x80;

const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;

/// `struct virtio_net_hdr` (little-endian on x86, as the TAP reads and writes it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VnetHdr {
    /// `F_NEEDS_CSUM`, `F_DATA_VALID`.
    pub flags: u8,
    /// `GSO_*`.
    pub gso_type: u8,
    /// Bytes of headers before the segmented payload.
    pub hdr_len: u16,
    /// The MSS.
    pub gso_size: u16,
    /// Where the checksummed range starts.
    pub csum_start: u16,
    /// Where the checksum goes, from `csum_start`.
    pub csum_offset: u16,
}

impl VnetHdr {
    /// The header's bytes.
    pub fn to_bytes(&self) -> [u8; VNET_HDR_LEN] {
        let mut b = [0; VNET_HDR_LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_le_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_le_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_le_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_le_bytes());
        b
    }

    /// A header read from its bytes.
    pub fn from_bytes(b: &[u8; VNET_HDR_LEN]) -> VnetHdr {
        let u16at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        VnetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u16at(2),
            gso_size: u16at(4),
            csum_start: u16at(6),
            csum_offset: u16at(8),
        }
    }
}

/// The transport header of a frame: where it starts and what it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L4 {
    /// Its offset in the frame.
    pub start: usize,
    /// `IPPROTO_TCP` or `IPPROTO_UDP`.
    pub proto: u8,
    /// Over IPv6 (else IPv4).
    pub v6: bool,
}

impl L4 {
    /// Where the checksum field is, from [`L4::start`].
    pub fn csum_offset(&self) -> usize {
        if self.proto == IPPROTO_TCP {
            16
        } else {
            6
        }
    }
}

/// Finds the TCP or UDP header of an untagged Ethernet frame over IPv4 (not a fragment) or
/// IPv6 (after hop-by-hop, routing, destination and AH headers) — what netfront's
/// `skb_checksum_setup()` accepts. `None` for anything else.
pub fn parse_l4(frame: &[u8]) -> Option<L4> {
    let byte = |i: usize| frame.get(i).copied();
    let ethertype = u16::from_be_bytes([byte(12)?, byte(13)?]);
    let l3 = 14;
    let (start, proto, v6) = match ethertype {
        ETH_P_IP => {
            let ihl = usize::from(byte(l3)? & 0x0f) * 4;
            if byte(l3)? >> 4 != 4 || ihl < 20 {
                return None;
            }
            // More fragments, or a fragment offset: not a whole datagram.
            let frag = u16::from_be_bytes([byte(l3 + 6)?, byte(l3 + 7)?]);
            if frag & 0x3fff != 0 {
                return None;
            }
            (l3 + ihl, byte(l3 + 9)?, false)
        }
        ETH_P_IPV6 => {
            let mut next = byte(l3 + 6)?;
            let mut at = l3 + 40;
            // A bounded walk: each header is at least 8 bytes, and a frame is at most 64 KiB.
            for _ in 0..16 {
                match next {
                    IPPROTO_TCP | IPPROTO_UDP => break,
                    // Hop-by-hop, routing, destination options.
                    0 | 43 | 60 => {
                        let len = (usize::from(byte(at + 1)?) + 1) * 8;
                        next = byte(at)?;
                        at += len;
                    }
                    // AH.
                    51 => {
                        let len = (usize::from(byte(at + 1)?) + 2) * 4;
                        next = byte(at)?;
                        at += len;
                    }
                    _ => return None,
                }
            }
            (at, next, true)
        }
        _ => return None,
    };
    if proto != IPPROTO_TCP && proto != IPPROTO_UDP {
        return None;
    }
    let l4 = L4 { start, proto, v6 };
    // The checksum field must be inside the frame.
    frame.get(start + l4.csum_offset() + 1)?;
    Some(l4)
}

/// Why a frame cannot be handed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VnetError {
    /// A checksum to fill in on a frame that is not TCP/UDP over IPv4/IPv6 (Linux netback drops
    /// these too).
    #[error("partial checksum on a frame that is not TCP/UDP over IPv4/IPv6")]
    NoL4,
    /// GSO on a frame that is not TCP over the IP version its type names.
    #[error("GSO on a frame that is not TCP over the right IP version")]
    GsoNotTcp,
    /// GSO on a frame whose TCP checksum is not left to be filled in.
    #[error("GSO without a partial checksum")]
    GsoWithoutCsum,
    /// A GSO type the frontend did not offer, or one netif has no name for.
    #[error("GSO type {0:#x} the frontend cannot take")]
    GsoType(u8),
    /// A partial checksum whose range or field lies outside the frame.
    #[error("checksum start {start} offset {offset} outside a frame of {len} bytes")]
    CsumOutside {
        /// `csum_start`.
        start: u16,
        /// `csum_offset`.
        offset: u16,
        /// The frame's length.
        len: usize,
    },
}

/// The vnet header for a frame the guest sent (guest → TAP): `csum_blank` becomes
/// `NEEDS_CSUM` over the TCP/UDP header found in the frame, a GSO extra the TCP segmentation
/// with `hdr_len` through the TCP header. `data_validated` alone gives no flag (tun ignores
/// `DATA_VALID` on write).
pub fn tx_header(frame: &[u8], csum_blank: bool, gso: Option<Gso>) -> Result<VnetHdr, VnetError> {
    if !csum_blank {
        // Linux netback would put the pseudo-header sum in and mark it partial; netfront always
        // sends GSO with a partial checksum.
        return match gso {
            Some(_) => Err(VnetError::GsoWithoutCsum),
            None => Ok(VnetHdr::default()),
        };
    }
    let l4 = parse_l4(frame).ok_or(VnetError::NoL4)?;
    let mut h = VnetHdr {
        flags: F_NEEDS_CSUM,
        // Both fit: `parse_l4` found them inside a frame of at most 64 KiB.
        csum_start: u16::try_from(l4.start).map_err(|_| VnetError::NoL4)?,
        csum_offset: l4.csum_offset() as u16,
        ..VnetHdr::default()
    };
    if let Some(g) = gso {
        let want_v6 = g.kind == GsoKind::TcpV6;
        if l4.proto != IPPROTO_TCP || l4.v6 != want_v6 {
            return Err(VnetError::GsoNotTcp);
        }
        let doff = frame
            .get(l4.start + 12)
            .map(|b| usize::from(b >> 4) * 4)
            .ok_or(VnetError::GsoNotTcp)?;
        if doff < 20 || l4.start + doff > frame.len() {
            return Err(VnetError::GsoNotTcp);
        }
        h.gso_type = if want_v6 { GSO_TCPV6 } else { GSO_TCPV4 };
        h.gso_size = g.size;
        h.hdr_len = u16::try_from(l4.start + doff).map_err(|_| VnetError::GsoNotTcp)?;
    }
    Ok(h)
}

/// What the frontend said it can take on receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxOffers {
    /// `feature-gso-tcpv4` (with `feature-sg`).
    pub gso_tcpv4: bool,
    /// `feature-gso-tcpv6` (with `feature-sg`).
    pub gso_tcpv6: bool,
    /// `feature-ipv6-csum-offload`.
    pub ipv6_csum: bool,
}

/// Completes a partial checksum in software: the ones' complement sum from `start` to the end
/// of `frame` (the field already holds the pseudo-header sum), stored at `start + offset`.
pub fn finish_csum(frame: &mut [u8], start: u16, offset: u16) -> Result<(), VnetError> {
    let (s, field) = (usize::from(start), usize::from(start) + usize::from(offset));
    if s > frame.len() || field + 2 > frame.len() {
        return Err(VnetError::CsumOutside {
            start,
            offset,
            len: frame.len(),
        });
    }
    let mut sum: u32 = 0;
    for w in frame[s..].chunks(2) {
        let hi = u32::from(w[0]) << 8;
        let lo = w.get(1).copied().map_or(0, u32::from);
        sum += hi | lo;
        // Fold as we go: no overflow whatever the length.
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let folded = !(sum as u16);
    frame[field..field + 2].copy_from_slice(&folded.to_be_bytes());
    Ok(())
}

/// The netif checksum state and GSO of a frame read from the TAP (TAP → guest): `NEEDS_CSUM`
/// is passed on as `csum_blank` only when it points at the TCP/UDP checksum netfront will find
/// itself (and IPv6 only if offered); any other partial checksum is finished here. GSO goes on
/// only as a type the frontend offered.
pub fn rx_meta(
    h: &VnetHdr,
    frame: &mut [u8],
    offers: RxOffers,
) -> Result<(Csum, Option<Gso>), VnetError> {
    let gso = match h.gso_type & !GSO_ECN {
        GSO_NONE => None,
        GSO_TCPV4 if offers.gso_tcpv4 => Some(Gso {
            size: h.gso_size,
            kind: GsoKind::TcpV4,
        }),
        GSO_TCPV6 if offers.gso_tcpv6 => Some(Gso {
            size: h.gso_size,
            kind: GsoKind::TcpV6,
        }),
        t => return Err(VnetError::GsoType(t)),
    };
    if h.flags & F_NEEDS_CSUM != 0 {
        let plain = parse_l4(frame).filter(|l4| {
            usize::from(h.csum_start) == l4.start
                && usize::from(h.csum_offset) == l4.csum_offset()
                && (!l4.v6 || offers.ipv6_csum)
        });
        if plain.is_some() {
            return Ok((Csum::Blank, gso));
        }
        if gso.is_some() {
            return Err(VnetError::GsoNotTcp);
        }
        finish_csum(frame, h.csum_start, h.csum_offset)?;
        return Ok((Csum::Validated, None));
    }
    if gso.is_some() {
        return Err(VnetError::GsoWithoutCsum);
    }
    if h.flags & F_DATA_VALID != 0 {
        return Ok((Csum::Validated, None));
    }
    Ok((Csum::None, None))
}

#[cfg(test)]
#[path = "vnet/tests.rs"]
mod tests;
