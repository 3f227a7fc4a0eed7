//! Receive (backend → guest): the frontend posts empty pages (`netif_rx_request`), and a packet
//! is laid out over as many of them as it needs, as Linux netback does (`rx.c`:
//! `xenvif_rx_skb`, `xenvif_rx_data_slot`, `xenvif_rx_extra_slot`): every data slot filled from
//! offset 0 up to a whole page before the next, a GSO extra right after the first data slot,
//! the checksum and `extra_info` flags on the first slot, `more_data` on every data slot but the
//! last. A response sits in the ring slot of the request it consumes (netfront finds its buffer
//! by slot, not by id), so [`layout`] returns responses in the order of the requests it was
//! given, and the grant copies that fill their pages.

use xen_abi::io::netif::{
    NetifExtraGso, NetifExtraInfo, NetifRxRequest, NetifRxResponse, NETRXF_CSUM_BLANK,
    NETRXF_DATA_VALIDATED, NETRXF_EXTRA_INFO, NETRXF_MORE_DATA, XEN_NETIF_GSO_TYPE_TCPV4,
    XEN_NETIF_GSO_TYPE_TCPV6, XEN_NETIF_NR_SLOTS_MIN,
};
use xen_abi::types::{GrantRef, PAGE_SIZE};

pub use crate::tx::{Gso, GsoKind, ETH_HLEN};

/// Data slots a packet may use: netfront refuses more than `XEN_NETIF_NR_SLOTS_MIN` (18).
pub const MAX_DATA_SLOTS: usize = XEN_NETIF_NR_SLOTS_MIN as usize;

/// The largest packet that fits [`MAX_DATA_SLOTS`] whole pages.
pub const MAX_PACKET: usize = MAX_DATA_SLOTS * PAGE_SIZE;

/// A posted receive buffer, as read once from its ring slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxSlot {
    /// The request's id, echoed in the response.
    pub id: u16,
    /// The frontend's writable grant of a whole page.
    pub gref: GrantRef,
}

impl From<&NetifRxRequest> for RxSlot {
    /// The request's fields (`pad` is ignored).
    fn from(r: &NetifRxRequest) -> RxSlot {
        RxSlot {
            id: r.id,
            gref: r.gref,
        }
    }
}

/// The checksum state of a packet to deliver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Csum {
    /// Nothing known: the guest checks it (no flag).
    None,
    /// Already checked (`CHECKSUM_UNNECESSARY`): `NETRXF_data_validated`.
    Validated,
    /// To be filled in by the guest (`CHECKSUM_PARTIAL`): `NETRXF_csum_blank |
    /// NETRXF_data_validated`.
    Blank,
}

/// A packet to deliver to the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxPacket {
    /// Its length in bytes.
    pub len: usize,
    /// Its checksum state.
    pub csum: Csum,
    /// Segmentation the guest should know of (a GSO packet larger than the MTU).
    pub gso: Option<Gso>,
}

/// Why a packet cannot be laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RxError {
    /// Shorter than an Ethernet header (netfront drops it).
    #[error("packet of {0} bytes (at least {ETH_HLEN})")]
    TooShort(usize),
    /// Longer than [`MAX_PACKET`].
    #[error("packet of {0} bytes (at most {MAX_PACKET})")]
    TooLong(usize),
    /// A GSO size of 0 (netfront refuses it).
    #[error("GSO size 0")]
    GsoSizeZero,
    /// Fewer posted buffers than the packet needs: wait for the frontend to post more.
    #[error("{need} slots needed, {have} posted")]
    NotEnoughSlots {
        /// Slots the packet needs.
        need: usize,
        /// Slots offered.
        have: usize,
    },
}

/// One grant copy: `len` bytes from `src` in the packet to offset 0 of the frontend's page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxCopy {
    /// The ring slot (index into the requests given to [`layout`]).
    pub slot: usize,
    /// The destination grant.
    pub gref: GrantRef,
    /// The offset in the packet.
    pub src: usize,
    /// Bytes to copy (at most a page).
    pub len: usize,
}

/// How a packet occupies the ring: one response per slot used, in slot order, and the copies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RxLayout {
    /// The responses, `responses[i]` for the `i`-th request given.
    pub responses: Vec<NetifRxResponse>,
    /// The grant copies that fill the data slots.
    pub copies: Vec<RxCopy>,
}

/// Slots a packet needs: one per started page, one more for a GSO extra.
pub fn slots_needed(p: &RxPacket) -> usize {
    p.len.div_ceil(PAGE_SIZE) + usize::from(p.gso.is_some())
}

/// Lays `p` out over the posted buffers `slots` (the first [`slots_needed`] of them are used).
pub fn layout(p: &RxPacket, slots: &[RxSlot]) -> Result<RxLayout, RxError> {
    if p.len < usize::from(ETH_HLEN) {
        return Err(RxError::TooShort(p.len));
    }
    if p.len > MAX_PACKET {
        return Err(RxError::TooLong(p.len));
    }
    if p.gso.is_some_and(|g| g.size == 0) {
        return Err(RxError::GsoSizeZero);
    }
    let need = slots_needed(p);
    let Some(slots) = slots.get(..need) else {
        return Err(RxError::NotEnoughSlots {
            need,
            have: slots.len(),
        });
    };
    let data_slots = p.len.div_ceil(PAGE_SIZE);
    let mut responses = Vec::with_capacity(need);
    let mut copies = Vec::with_capacity(data_slots);
    let mut ring_slots = slots.iter().enumerate();
    for d in 0..data_slots {
        let Some((slot, s)) = ring_slots.next() else {
            break;
        };
        let src = d * PAGE_SIZE;
        let len = (p.len - src).min(PAGE_SIZE);
        let mut flags = 0;
        if d + 1 < data_slots {
            flags |= NETRXF_MORE_DATA;
        }
        if d == 0 {
            flags |= match p.csum {
                Csum::None => 0,
                Csum::Validated => NETRXF_DATA_VALIDATED,
                Csum::Blank => NETRXF_CSUM_BLANK | NETRXF_DATA_VALIDATED,
            };
            if p.gso.is_some() {
                flags |= NETRXF_EXTRA_INFO;
            }
        }
        responses.push(NetifRxResponse {
            id: s.id,
            offset: 0,
            flags,
            // At most a page: fits.
            status: i16::try_from(len).expect("a slot holds at most a page"),
        });
        copies.push(RxCopy {
            slot,
            gref: s.gref,
            src,
            len,
        });
        if d == 0 {
            if let Some(g) = p.gso {
                ring_slots.next();
                let gso = NetifExtraGso {
                    size: g.size,
                    r#type: match g.kind {
                        GsoKind::TcpV4 => XEN_NETIF_GSO_TYPE_TCPV4,
                        GsoKind::TcpV6 => XEN_NETIF_GSO_TYPE_TCPV6,
                    },
                    pad: 0,
                    features: 0,
                };
                responses.push(NetifExtraInfo::with_gso(0, gso).to_rx_slot());
            }
        }
    }
    Ok(RxLayout { responses, copies })
}

#[cfg(test)]
#[path = "rx/tests.rs"]
mod tests;
