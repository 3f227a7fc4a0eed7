//! Transmit requests (guest → backend): packets decoded from copies of the TX ring's slots,
//! with Linux netback's limits and verdicts (`drivers/net/xen-netback/netback.c`:
//! `xenvif_tx_build_gops`, `xenvif_get_extras`, `xenvif_count_requests`, `xenvif_set_skb_gso`),
//! and the responses each decoded packet owes the frontend.
//!
//! The caller copies every published request out of the ring once (`BackQueue::take`) and hands
//! the copies here; nothing reads shared memory again. A packet is a first slot (whose `size` is
//! the whole packet), then, with `NETTXF_extra_info`, extra-info slots chained by
//! `XEN_NETIF_EXTRA_FLAG_MORE`, then with `NETTXF_more_data` follow-on data slots chained by
//! their own `NETTXF_more_data`. Each consumed slot gets exactly one response: the data slots
//! their status, the extra-info slots `NETIF_RSP_NULL`.
//!
//! Verdicts, as Linux's: a malformed packet is *dropped* (every slot answered
//! `NETIF_RSP_ERROR`), a frontend that breaks the protocol is *fatal* ([`Fatal`]: the caller
//! stops serving the device's TX ring).

use xen_abi::io::netif::{
    NetifExtraHash, NetifExtraInfo, NetifTxRequest, NetifTxResponse, NETIF_RSP_ERROR,
    NETIF_RSP_NULL, NETIF_RSP_OKAY, NETTXF_CSUM_BLANK, NETTXF_DATA_VALIDATED, NETTXF_EXTRA_INFO,
    NETTXF_MORE_DATA, XEN_NETIF_EXTRA_FLAG_MORE, XEN_NETIF_EXTRA_TYPE_GSO,
    XEN_NETIF_EXTRA_TYPE_HASH, XEN_NETIF_EXTRA_TYPE_MAX, XEN_NETIF_EXTRA_TYPE_MCAST_ADD,
    XEN_NETIF_EXTRA_TYPE_MCAST_DEL, XEN_NETIF_GSO_TYPE_TCPV4, XEN_NETIF_GSO_TYPE_TCPV6,
};
use xen_abi::types::{GrantRef, PAGE_SIZE};

/// Follow-on slots (after the first) a packet may use; more and it is dropped. Linux's
/// `XEN_NETBK_LEGACY_SLOTS_MAX` (= `XEN_NETIF_NR_SLOTS_MIN`, 18): so a packet of up to 19 slots
/// in all is accepted, as Linux accepts it.
#[doc(alias = "XEN_NETBK_LEGACY_SLOTS_MAX")]
pub const LEGACY_SLOTS_MAX: usize = 18;

/// Follow-on slots beyond which the frontend is taken as malicious ([`Fatal::TooManySlots`]):
/// Linux's `fatal_skb_slots` default (`FATAL_SKB_SLOTS_DEFAULT`, 20). A packet of 20 or 21 slots
/// is dropped, one of 22 or more is fatal.
#[doc(alias = "fatal_skb_slots")]
#[doc(alias = "FATAL_SKB_SLOTS_DEFAULT")]
pub const FATAL_SKB_SLOTS: usize = 20;

/// An Ethernet header: a packet whose first slot holds less is dropped.
pub const ETH_HLEN: u16 = 14;

/// One data slot of a packet: `len` bytes at `offset` of the frontend's grant `gref`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxFrag {
    /// The request's id, echoed in its response.
    pub id: u16,
    /// The granted page (read-only is enough).
    pub gref: GrantRef,
    /// Where the bytes start in the page.
    pub offset: u16,
    /// How many bytes (`offset + len` is within the page). A zero-length follow-on slot needs no
    /// copy and is answered `NETIF_RSP_OKAY` (Linux's XSA-448 fix).
    pub len: u16,
}

/// The segmentation a packet asks for (a `XEN_NETIF_EXTRA_TYPE_GSO` extra).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gso {
    /// The MSS (never 0).
    pub size: u16,
    /// TCP over IPv4 or IPv6.
    pub kind: GsoKind,
}

/// `XEN_NETIF_GSO_TYPE_*`, the two defined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GsoKind {
    /// `XEN_NETIF_GSO_TYPE_TCPV4`.
    TcpV4,
    /// `XEN_NETIF_GSO_TYPE_TCPV6`.
    TcpV6,
}

/// A valid packet to send on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxPacket {
    /// The first slot's `NETTXF_*` flags.
    pub flags: u16,
    /// The whole packet's length (the first slot's `size`): the sum of the fragments' lengths.
    pub size: u16,
    /// The data slots in order; the first is the first slot with its own length.
    pub frags: Vec<TxFrag>,
    /// Extra-info slots consumed after the first slot (each answered `NETIF_RSP_NULL`).
    pub extra_count: usize,
    /// Segmentation asked for.
    pub gso: Option<Gso>,
    /// The frontend's hash of the packet (a `XEN_NETIF_EXTRA_TYPE_HASH` extra), as sent.
    pub hash: Option<NetifExtraHash>,
}

impl TxPacket {
    /// `NETTXF_csum_blank`: the checksum is to be filled in (`CHECKSUM_PARTIAL`).
    pub fn csum_blank(&self) -> bool {
        self.flags & NETTXF_CSUM_BLANK != 0
    }

    /// `NETTXF_data_validated`: the data needs no checksum check.
    pub fn data_validated(&self) -> bool {
        self.flags & NETTXF_DATA_VALIDATED != 0
    }
}

/// Whether a multicast request adds or removes its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum McastOp {
    /// `XEN_NETIF_EXTRA_TYPE_MCAST_ADD`.
    Add,
    /// `XEN_NETIF_EXTRA_TYPE_MCAST_DEL`.
    Del,
}

/// Why a packet is dropped (each of its slots answered `NETIF_RSP_ERROR`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DropReason {
    /// More than [`LEGACY_SLOTS_MAX`] follow-on slots.
    #[error("{0} follow-on slots (at most {LEGACY_SLOTS_MAX})")]
    TooManySlots(usize),
    /// A follow-on slot larger than what is left of the packet's size (a frame of 64 KiB or
    /// more, whose size wrapped; buggy frontends send it, so it is not fatal).
    #[error("slot of {slot} bytes with {remaining} left of the packet")]
    SlotLargerThanRemaining {
        /// The slot's size.
        slot: u16,
        /// What was left of the first slot's size.
        remaining: u16,
    },
    /// The first slot holds less than an Ethernet header.
    #[error("first slot of {0} bytes (less than {ETH_HLEN})")]
    FirstSlotTooShort(u16),
}

/// One decoded unit of the TX ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxItem {
    /// A packet to send on.
    Packet(TxPacket),
    /// A multicast filter request (a first slot with a `MCAST_ADD`/`MCAST_DEL` extra): no data
    /// to send; answered `NETIF_RSP_OKAY`, or `NETIF_RSP_ERROR` when an add finds the list
    /// full. As Linux, only the first slot and its extras are consumed.
    Mcast {
        /// The first slot's id.
        id: u16,
        /// Extra-info slots consumed.
        extra_count: usize,
        /// Add or remove.
        op: McastOp,
        /// The multicast MAC address.
        addr: [u8; 6],
    },
    /// A malformed packet, consumed and answered `NETIF_RSP_ERROR` slot by slot.
    Dropped {
        /// The data slots' ids, the first slot's first.
        ids: Vec<u16>,
        /// Extra-info slots consumed after the first slot.
        extra_count: usize,
        /// Why.
        why: DropReason,
    },
}

/// The frontend broke the protocol: stop serving its TX ring (Linux's `xenvif_fatal_tx_err`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Fatal {
    /// An extra-info or `more_data` chain runs past the published requests (a frontend
    /// publishes whole packets).
    #[error("a packet runs past the {0} published requests")]
    PastProducer(usize),
    /// More than [`FATAL_SKB_SLOTS`] follow-on slots.
    #[error("more than {FATAL_SKB_SLOTS} follow-on slots")]
    TooManySlots,
    /// A slot's bytes cross the end of its page.
    #[error("slot of {size} bytes at offset {offset} crosses its page")]
    CrossesPage {
        /// The slot's offset.
        offset: u16,
        /// Its size.
        size: u16,
    },
    /// An extra-info type that is `NONE` or unknown.
    #[error("extra info of type {0}")]
    ExtraType(u8),
    /// A GSO extra with size 0.
    #[error("GSO size 0")]
    GsoSizeZero,
    /// A GSO extra of a type other than TCPv4 or TCPv6.
    #[error("GSO type {0}")]
    GsoType(u8),
}

fn within_page(offset: u16, size: u16) -> Result<(), Fatal> {
    if usize::from(offset) + usize::from(size) > PAGE_SIZE {
        return Err(Fatal::CrossesPage { offset, size });
    }
    Ok(())
}

/// The extra-info slots after a first slot, by type (a later one of a type replaces an earlier
/// one, as in Linux), and how many were consumed.
fn extras(
    slots: &[NetifTxRequest],
    published: usize,
) -> Result<([Option<NetifExtraInfo>; 4], usize), Fatal> {
    let mut by_type = [None; 4];
    let mut n = 0;
    loop {
        let Some(slot) = slots.get(n) else {
            return Err(Fatal::PastProducer(published));
        };
        let e = NetifExtraInfo::from_tx_slot(slot);
        n += 1;
        if e.r#type == 0 || e.r#type >= XEN_NETIF_EXTRA_TYPE_MAX {
            return Err(Fatal::ExtraType(e.r#type));
        }
        if let Some(entry) = by_type.get_mut(usize::from(e.r#type - 1)) {
            *entry = Some(e);
        }
        if e.flags & XEN_NETIF_EXTRA_FLAG_MORE == 0 {
            return Ok((by_type, n));
        }
    }
}

/// Decodes the item starting at `slots[0]`, where `slots` holds every request the frontend has
/// published and the backend not yet consumed. Returns the item and how many slots it consumed
/// (at least 1), or `None` if `slots` is empty.
pub fn decode(slots: &[NetifTxRequest]) -> Result<Option<(TxItem, usize)>, Fatal> {
    let published = slots.len();
    let Some(first) = slots.first().copied() else {
        return Ok(None);
    };
    let mut used = 1;
    let mut extra = [None; 4];
    let mut extra_count = 0;
    if first.flags & NETTXF_EXTRA_INFO != 0 {
        let rest = slots.get(used..).unwrap_or_default();
        (extra, extra_count) = extras(rest, published)?;
        used += extra_count;
    }
    let of = |t: u8| extra.get(usize::from(t - 1)).copied().flatten();
    for (t, op) in [
        (XEN_NETIF_EXTRA_TYPE_MCAST_ADD, McastOp::Add),
        (XEN_NETIF_EXTRA_TYPE_MCAST_DEL, McastOp::Del),
    ] {
        if let Some(e) = of(t) {
            let item = TxItem::Mcast {
                id: first.id,
                extra_count,
                op,
                addr: e.mcast().addr,
            };
            return Ok(Some((item, used)));
        }
    }

    // The follow-on slots (`xenvif_count_requests`).
    let mut frags = vec![TxFrag {
        id: first.id,
        gref: first.gref,
        offset: first.offset,
        len: first.size,
    }];
    let mut remaining = first.size;
    let mut drop = None;
    let mut more = first.flags & NETTXF_MORE_DATA != 0;
    let mut follow_on = 0;
    while more {
        let Some(slot) = slots.get(used).copied() else {
            return Err(Fatal::PastProducer(published));
        };
        if follow_on >= FATAL_SKB_SLOTS {
            return Err(Fatal::TooManySlots);
        }
        if drop.is_none() && follow_on >= LEGACY_SLOTS_MAX {
            drop = Some(DropReason::TooManySlots(follow_on + 1));
        }
        if drop.is_none() && slot.size > remaining {
            drop = Some(DropReason::SlotLargerThanRemaining {
                slot: slot.size,
                remaining,
            });
        }
        remaining = remaining.wrapping_sub(slot.size);
        follow_on += 1;
        used += 1;
        within_page(slot.offset, slot.size)?;
        more = slot.flags & NETTXF_MORE_DATA != 0;
        frags.push(TxFrag {
            id: slot.id,
            gref: slot.gref,
            offset: slot.offset,
            len: slot.size,
        });
    }
    let dropped = |why| {
        let ids = frags.iter().map(|f| f.id).collect();
        Ok(Some((
            TxItem::Dropped {
                ids,
                extra_count,
                why,
            },
            used,
        )))
    };
    if let Some(why) = drop {
        return dropped(why);
    }
    if remaining < ETH_HLEN {
        return dropped(DropReason::FirstSlotTooShort(remaining));
    }
    within_page(first.offset, remaining)?;
    if let Some(f) = frags.first_mut() {
        f.len = remaining;
    }
    let gso = match of(XEN_NETIF_EXTRA_TYPE_GSO).map(|e| e.gso()) {
        None => None,
        Some(g) if g.size == 0 => return Err(Fatal::GsoSizeZero),
        Some(g) => Some(Gso {
            size: g.size,
            kind: match g.r#type {
                XEN_NETIF_GSO_TYPE_TCPV4 => GsoKind::TcpV4,
                XEN_NETIF_GSO_TYPE_TCPV6 => GsoKind::TcpV6,
                t => return Err(Fatal::GsoType(t)),
            },
        }),
    };
    let packet = TxPacket {
        flags: first.flags,
        size: first.size,
        frags,
        extra_count,
        gso,
        hash: of(XEN_NETIF_EXTRA_TYPE_HASH).map(|e| e.hash()),
    };
    Ok(Some((TxItem::Packet(packet), used)))
}

/// Decodes every item in `slots` (all that is published): the items with the slots each
/// consumed, and the fatal error that stopped decoding, if any (the items before it stand).
pub fn decode_all(slots: &[NetifTxRequest]) -> (Vec<(TxItem, usize)>, Option<Fatal>) {
    let mut items = Vec::new();
    let mut at = 0;
    while let Some(rest) = slots.get(at..) {
        match decode(rest) {
            Ok(Some((item, used))) => {
                at += used;
                items.push((item, used));
            }
            Ok(None) => break,
            Err(e) => return (items, Some(e)),
        }
    }
    (items, None)
}

fn response(id: u16, status: i16) -> NetifTxResponse {
    NetifTxResponse { id, status }
}

/// The responses an item owes, in ring order, one per slot it consumed: the first slot's, one
/// `NETIF_RSP_NULL` per extra-info slot, then each follow-on slot's. `status` is the packet's
/// (`NETIF_RSP_OKAY` once its data was copied, `NETIF_RSP_ERROR` if the copy failed) or the
/// multicast request's; a dropped packet's slots are all `NETIF_RSP_ERROR`, and a zero-length
/// follow-on slot of a packet is always `NETIF_RSP_OKAY`.
pub fn responses(item: &TxItem, status: i16) -> Vec<NetifTxResponse> {
    let nulls = |n: usize| std::iter::repeat_n(response(0, NETIF_RSP_NULL), n);
    match item {
        TxItem::Packet(p) => {
            let mut out = Vec::with_capacity(p.frags.len() + p.extra_count);
            for (i, f) in p.frags.iter().enumerate() {
                let st = if i > 0 && f.len == 0 {
                    NETIF_RSP_OKAY
                } else {
                    status
                };
                out.push(response(f.id, st));
                if i == 0 {
                    out.extend(nulls(p.extra_count));
                }
            }
            out
        }
        TxItem::Mcast {
            id, extra_count, ..
        } => std::iter::once(response(*id, status))
            .chain(nulls(*extra_count))
            .collect(),
        TxItem::Dropped {
            ids, extra_count, ..
        } => {
            let mut out = Vec::with_capacity(ids.len() + extra_count);
            for (i, id) in ids.iter().enumerate() {
                out.push(response(*id, NETIF_RSP_ERROR));
                if i == 0 {
                    out.extend(nulls(*extra_count));
                }
            }
            out
        }
    }
}

#[cfg(test)]
#[path = "tx/tests.rs"]
mod tests;
