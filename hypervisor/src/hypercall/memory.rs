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
