//! The reservation sub-ops of `memory_op` for PV domains (Xen's `common/memory.c`):
//! `increase_reservation`, `decrease_reservation` (ballooning) and `populate_physmap`, order-0
//! extents. A PV guest names frames by machine frame number: it gives back MFNs it owns, and
//! gets new MFNs written into its extent list (with `populate_physmap`, also their M2P entries
//! set to the PFNs it passed).

use crate::domain::Domain;
use crate::mm::guest::{m2p_set, INVALID_M2P_ENTRY};
use crate::pv::{read_guest_struct, write_guest};
use core::sync::atomic::Ordering;
use xen_abi::memory::XenMemoryReservation;
use xen_abi::{DomId, Errno, Mfn, XenResult};

/// Which reservation sub-op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reservation {
    /// `XENMEM_increase_reservation`.
    Increase,
    /// `XENMEM_decrease_reservation`.
    Decrease,
    /// `XENMEM_populate_physmap`.
    Populate,
}

/// Runs one reservation sub-op starting at extent `start` (the continuation in the command's
/// high bits); returns the number of extents done in total, as Xen does.
pub fn reservation(dom: &Domain, op: Reservation, arg: u64, start: u64) -> XenResult<u64> {
    let r: XenMemoryReservation = read_guest_struct(arg)?;
    if r.domid != DomId::SELF && r.domid != dom.id {
        // Foreign reservations are the toolstack's (privileged) business.
        return Err(if dom.privileged {
            Errno::ENOSYS
        } else {
            Errno::EPERM
        });
    }
    // Only single pages (what Linux's balloon driver and populate paths use).
    if r.extent_order != 0 {
        return Ok(start);
    }
    let ft = crate::mm::frame_table();
    let owner = u32::from(dom.id.0);
    let mut done = start;
    while done < r.nr_extents {
        let slot = r.extent_start.wrapping_add(done * 8);
        match op {
            Reservation::Decrease => {
                let raw: [u8; 8] = crate::pv::read_guest(slot)?;
                let mfn = u64::from_le_bytes(raw);
                if !give_back(dom, mfn) {
                    break;
                }
            }
            Reservation::Increase | Reservation::Populate => {
                let pfn = if op == Reservation::Populate {
                    u64::from_le_bytes(crate::pv::read_guest::<8>(slot)?)
                } else {
                    INVALID_M2P_ENTRY
                };
                if dom.tot_pages.load(Ordering::Acquire) >= dom.max_pages {
                    break;
                }
                let Some(mfn) = crate::mm::guest::alloc_zeroed() else {
                    break;
                };
                ft.assign(mfn.0, owner);
                dom.tot_pages.fetch_add(1, Ordering::AcqRel);
                m2p_set(mfn, pfn);
                if write_guest(slot, &mfn.0.to_le_bytes()).is_err() {
                    // The guest cannot learn the frame: take it back.
                    give_back(dom, mfn.0);
                    return Err(Errno::EFAULT);
                }
            }
        }
        done += 1;
    }
    Ok(done)
}

/// Xen's `guest_remove_page`: the domain gives up frame `mfn` (its allocation reference, and a
/// pin if it was a pinned table). The frame returns to the allocator once nothing else holds
/// a reference. False if it is not the domain's.
fn give_back(dom: &Domain, mfn: u64) -> bool {
    let ft = crate::mm::frame_table();
    let owner = u32::from(dom.id.0);
    if ft.owner(mfn) != owner || Mfn(mfn) == dom.shared_info || !ft.allocated(mfn) {
        return false;
    }
    {
        let _mmu = dom.mmu.lock();
        if ft.type_state(mfn).pinned {
            let _ = ft.unpin(mfn, owner);
        }
    }
    dom.tot_pages.fetch_sub(1, Ordering::AcqRel);
    // Freed (and its M2P entry invalidated) now, or when the last mapping of it goes.
    ft.release(mfn);
    true
}

/// Largest extent `XENMEM_exchange` hands out here (2 MiB, more than Linux's swiotlb asks).
const MAX_EXCHANGE_ORDER: u32 = 9;

/// `XENMEM_exchange` (Xen's `memory_exchange`) for a PV domain: single frames given up (`in`,
/// order 0, MFNs the domain owns and nothing else references) for extents of
/// `2^out.extent_order` machine-contiguous frames, below the address limit of
/// `out.mem_flags` if any (what Linux's `xen_create_contiguous_region` asks for DMA). The new
/// MFNs are written over `out`'s PFNs, whose M2P entries they take; `nr_exchanged` counts the
/// `in` extents done and is written back, also on failure.
pub fn exchange(dom: &Domain, arg: u64) -> XenResult<u64> {
    let mut x: xen_abi::memory::XenMemoryExchange = read_guest_struct(arg)?;
    let (inr, outr) = (x.r#in, x.out);
    if inr.domid != outr.domid
        || (inr.domid != DomId::SELF && inr.domid != dom.id)
        || inr.extent_order != 0
        || outr.extent_order > MAX_EXCHANGE_ORDER
        || inr.nr_extents != outr.nr_extents << outr.extent_order
        || x.nr_exchanged > inr.nr_extents
    {
        return Err(Errno::EINVAL);
    }
    let k = 1u64 << outr.extent_order;
    let bits = xen_abi::memory::xenmemf_get_address_bits(outr.mem_flags);
    let below = if bits == 0 || bits >= 64 {
        u64::MAX
    } else {
        1u64 << bits
    };
    let ft = crate::mm::frame_table();
    let owner = u32::from(dom.id.0);
    let mut result = Ok(0);
    while x.nr_exchanged < inr.nr_extents {
        let j = x.nr_exchanged / k;
        // The frames given up: the domain's, allocated, referenced by nothing else.
        let mut given: heapless::Vec<u64, 512> = heapless::Vec::new();
        for i in 0..k {
            let raw: [u8; 8] =
                match crate::pv::read_guest(inr.extent_start.wrapping_add((j * k + i) * 8)) {
                    Ok(r) => r,
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                };
            let m = u64::from_le_bytes(raw);
            let free_to_give = ft.owner(m) == owner
                && ft.allocated(m)
                && ft.count(m) == 1
                && ft.type_state(m).count == 0
                && Mfn(m) != dom.shared_info
                && !given.contains(&m);
            if !free_to_give {
                result = Err(Errno::EINVAL);
                break;
            }
            let _ = given.push(m);
        }
        if result.is_err() {
            break;
        }
        let gpfn_slot = outr.extent_start.wrapping_add(j * 8);
        let gpfn = match crate::pv::read_guest::<8>(gpfn_slot) {
            Ok(r) => u64::from_le_bytes(r),
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        let Some(first) = crate::mm::alloc_contiguous_zeroed(k, below) else {
            result = Err(Errno::ENOMEM);
            break;
        };
        if let Err(e) = write_guest(gpfn_slot, &first.to_le_bytes()) {
            for f in first..first + k {
                let _ = crate::mm::free_frame(f << 12);
            }
            result = Err(e);
            break;
        }
        for (i, f) in (first..first + k).enumerate() {
            ft.assign(f, owner);
            m2p_set(Mfn(f), gpfn.wrapping_add(i as u64));
        }
        for &m in &given {
            // Freed (M2P invalidated) now: nothing else referenced it.
            ft.release(m);
        }
        x.nr_exchanged += k;
    }
    let done = x.nr_exchanged.to_le_bytes();
    // `nr_exchanged` sits after the two 32-byte reservations.
    write_guest(arg + 64, &done)?;
    result
}
