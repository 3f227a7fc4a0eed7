//! The reservation sub-ops of `memory_op` for PV domains (Xen's `common/memory.c`):
//! `increase_reservation`, `decrease_reservation` (ballooning) and `populate_physmap`, order-0
//! extents. A PV guest names frames by machine frame number: it gives back MFNs it owns, and
//! gets new MFNs written into its extent list (with `populate_physmap`, also their M2P entries
//! set to the PFNs it passed).

use super::{Outcome, Preempt};
use crate::domain::Domain;
use crate::mm::guest::{m2p_set, INVALID_M2P_ENTRY};
use crate::pv::{read_guest_struct, write_guest, write_guest_struct};
use alloc::vec::Vec;
use core::sync::atomic::Ordering;
use xen_abi::memory::{E820Entry, XenMemoryExchange, XenMemoryReservation};
use xen_abi::{DomId, Errno, Maddr, Mfn, Pfn, XenResult};

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
/// high bits); returns the number of extents done in total, as Xen does — also when it cannot
/// start: an unreadable argument, more extents than a continuation can encode, or a start at
/// or past the end answer `start`. Preemptible between extents: the continuation is the same
/// sub-op with the extents done so far in the command's high bits.
pub fn reservation(dom: &Domain, op: Reservation, arg: u64, start: u64) -> Outcome {
    let Ok(r) = read_guest_struct::<XenMemoryReservation>(arg) else {
        return Outcome::Done(Ok(start));
    };
    if r.nr_extents > u64::from(u32::MAX >> xen_abi::memory::MEMOP_EXTENT_SHIFT)
        || start >= r.nr_extents
    {
        return Outcome::Done(Ok(start));
    }
    // `rcu_lock_domain_by_any_id` and `xsm_memory_adjust_reservation` (the control domain
    // may act for another): a domain that is not there, or not the caller's to change,
    // answers the start extent, as Xen does.
    let target = if r.domid == DomId::SELF || r.domid == dom.id {
        None
    } else if dom.privileged {
        match crate::domain::get(r.domid) {
            Some(d) => Some(d),
            None => return Outcome::Done(Ok(start)),
        }
    } else {
        return Outcome::Done(Ok(start));
    };
    let target = target.as_deref().unwrap_or(dom);
    // Frames given back go to the allocator after one TLB shootdown per batch, not one each.
    let done = if op == Reservation::Decrease {
        crate::mm::batch_frees(|| extents(dom, target, op, &r, start))
    } else {
        extents(dom, target, op, &r, start)
    };
    match done {
        Ok((done, false)) => Outcome::Done(Ok(done)),
        Ok((done, true)) => {
            let cmd = op.sub_op() as u64 | (done << xen_abi::memory::MEMOP_EXTENT_SHIFT);
            Outcome::resume(&[cmd, arg])
        }
        Err(e) => Outcome::Done(Err(e)),
    }
}

impl Reservation {
    fn sub_op(self) -> xen_abi::memory::XenMem {
        use xen_abi::memory::XenMem;
        match self {
            Reservation::Increase => XenMem::IncreaseReservation,
            Reservation::Decrease => XenMem::DecreaseReservation,
            Reservation::Populate => XenMem::PopulatePhysmap,
        }
    }
}

/// Largest extent order a caller may ask for (Xen's `max_order`: `CONFIG_DOMU_MAX_ORDER` 9 for a
/// domU; for the control domain `CONFIG_CTLDOM_MAX_ORDER`, which on x86 is `MAX_ORDER`, 18).
fn max_order(caller: &Domain) -> u32 {
    if caller.privileged {
        18
    } else {
        9
    }
}

/// The extents of a reservation of domain `dom` (the caller's own, or one the control domain
/// builds) from `start` on: the count done in total, and whether it stopped to make way
/// (preempted). The extent list is the caller's: for `populate_physmap` it holds the first
/// PFN of each extent, and gets the first MFN of each back (the extent's frames are
/// machine-contiguous, their M2P entries the PFNs that follow); `increase_reservation`
/// writes the MFNs only; `decrease_reservation` gives back the `2^extent_order` frames from
/// each MFN listed. As Xen: a list not wholly in guest space or an order above the caller's
/// [`max_order`] does nothing, and the first extent that cannot be had ends the call.
fn extents(
    caller: &Domain,
    dom: &Domain,
    op: Reservation,
    r: &XenMemoryReservation,
    start: u64,
) -> XenResult<(u64, bool)> {
    let list_ok = r
        .nr_extents
        .checked_sub(start)
        .and_then(|n| n.checked_mul(8))
        .is_some_and(|len| {
            crate::arch::x86_64::guest::guest_range_ok(
                r.extent_start.wrapping_add(start.wrapping_mul(8)),
                len as usize,
            )
        });
    if !list_ok || r.extent_order > max_order(caller) {
        return Ok((start, false));
    }
    let pages = 1u64 << r.extent_order;
    let ft = crate::mm::frame_table();
    let mut done = start;
    let mut preempt = Preempt::new();
    while done < r.nr_extents {
        if done != start && preempt.due() {
            return Ok((done, true));
        }
        let slot = r.extent_start.wrapping_add(done * 8);
        match op {
            Reservation::Decrease => {
                let first: Mfn = read_guest_struct(slot)?;
                // `guest_remove_page` for each frame; a frame that is not the domain's stops
                // the extent (and the call) there.
                // `first` is the guest's: the frames after it are counted without overflow (a
                // frame past the end of RAM is simply not the domain's).
                if !(0..pages).all(|j| give_back(dom, Mfn(first.0.wrapping_add(j)))) {
                    break;
                }
            }
            Reservation::Increase | Reservation::Populate => {
                let pfn = if op == Reservation::Populate {
                    Some(read_guest_struct::<Pfn>(slot)?)
                } else {
                    None
                };
                // `assign_pages`: never past `max_pages`; nor into memory others claimed.
                let tot = dom.tot_pages.load(Ordering::Acquire);
                if tot.saturating_add(pages) > dom.max_pages.load(Ordering::Acquire)
                    || !crate::domain::claims::may_allocate(dom, pages)
                {
                    break;
                }
                let frames = if pages == 1 {
                    crate::mm::guest::alloc_zeroed()
                } else {
                    crate::mm::alloc_contiguous_zeroed(pages, Maddr(u64::MAX))
                };
                let Some(first) = frames else {
                    break;
                };
                // `assign_pages` refuses a dying domain. The check, the span and the owner
                // change are made under its state lock, which its teardown takes to mark it
                // dying before it reads the span: no frame is given to a domain whose frames
                // are being walked.
                let state = dom.state.lock();
                if *state == crate::domain::DomainState::Dying {
                    drop(state);
                    for j in 0..pages {
                        let _ = crate::mm::free_frame(first + j);
                    }
                    break;
                }
                dom.frame_span.note(first, pages);
                for j in 0..pages {
                    ft.assign(first + j, dom.id);
                    m2p_set(
                        first + j,
                        pfn.map_or(INVALID_M2P_ENTRY, |p| Pfn(p.0.wrapping_add(j))),
                    );
                }
                drop(state);
                dom.tot_pages.fetch_add(pages, Ordering::AcqRel);
                crate::domain::claims::adjust(dom, pages as i64);
                if write_guest_struct(slot, &first).is_err() {
                    // The caller cannot learn the frames: take them back.
                    for j in 0..pages {
                        give_back(dom, first + j);
                    }
                    return Err(Errno::EFAULT);
                }
            }
        }
        done += 1;
    }
    Ok((done, false))
}

/// Xen's `guest_remove_page`: the domain gives up frame `mfn` (its allocation reference, and a
/// pin if it was a pinned table). The frame returns to the allocator once nothing else holds
/// a reference. False if it is not the domain's.
fn give_back(dom: &Domain, mfn: Mfn) -> bool {
    let ft = crate::mm::frame_table();
    if ft.owner(mfn) != Some(dom.id) || mfn == dom.shared_info || !ft.allocated(mfn) {
        return false;
    }
    {
        let _mmu = dom.mmu.lock();
        if ft.type_state(mfn).pinned {
            let _ = ft.unpin(mfn, dom.id);
        }
    }
    dom.tot_pages.fetch_sub(1, Ordering::AcqRel);
    crate::domain::claims::adjust(dom, -1);
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
/// `in` extents done and is written back, also on failure. Preemptible between output extents:
/// `nr_exchanged` is written back and the continuation is the same call.
pub fn exchange(dom: &Domain, arg: u64) -> Outcome {
    match exchange_extents(dom, arg) {
        Ok(true) => Outcome::resume(&[xen_abi::memory::XenMem::Exchange as u64, arg]),
        Ok(false) => Outcome::Done(Ok(0)),
        Err(e) => Outcome::Done(Err(e)),
    }
}

/// [`exchange`]'s work: whether it stopped to make way.
fn exchange_extents(dom: &Domain, arg: u64) -> XenResult<bool> {
    let mut x: xen_abi::memory::XenMemoryExchange = read_guest_struct(arg)?;
    let (inr, outr) = (x.r#in, x.out);
    if inr.domid != outr.domid
        || (inr.domid != DomId::SELF && inr.domid != dom.id)
        || inr.extent_order != 0
        || outr.extent_order > MAX_EXCHANGE_ORDER
        // "Sizes of input and output lists do not overflow a long?", then "match?".
        || outr.nr_extents > u64::MAX >> outr.extent_order
        || inr.nr_extents != outr.nr_extents << outr.extent_order
        || x.nr_exchanged > inr.nr_extents
    {
        return Err(Errno::EINVAL);
    }
    if x.nr_exchanged == inr.nr_extents {
        return Ok(false);
    }
    // `guest_handle_subrange_okay` on both lists from the restart point on (XSA-212: a crafted
    // `nr_exchanged` must not aim them anywhere): -EFAULT before anything is exchanged.
    let k = 1u64 << outr.extent_order;
    let subrange_ok = |start: u64, from: u64, to: u64| {
        let first = start.wrapping_add(from.wrapping_mul(8));
        let len = (to - from).checked_add(1).and_then(|n| n.checked_mul(8));
        len.is_some_and(|len| {
            from.checked_mul(8).is_some()
                && crate::arch::x86_64::guest::guest_range_ok(first, len as usize)
        })
    };
    if !subrange_ok(inr.extent_start, x.nr_exchanged, inr.nr_extents - 1)
        || !subrange_ok(outr.extent_start, x.nr_exchanged / k, outr.nr_extents - 1)
    {
        let at = arg.wrapping_add(core::mem::offset_of!(XenMemoryExchange, nr_exchanged) as u64);
        let _ = write_guest_struct(at, &x.nr_exchanged);
        return Err(Errno::EFAULT);
    }
    let bits = xen_abi::memory::xenmemf_get_address_bits(outr.mem_flags);
    let below = Maddr(if bits == 0 || bits >= 64 {
        u64::MAX
    } else {
        1u64 << bits
    });
    let ft = crate::mm::frame_table();
    let mut result = Ok(false);
    let (first_done, mut preempt) = (x.nr_exchanged, Preempt::new());
    while x.nr_exchanged < inr.nr_extents {
        if x.nr_exchanged != first_done && preempt.due() {
            result = Ok(true);
            break;
        }
        let j = x.nr_exchanged / k;
        // The frames given up: the domain's, referenced by nothing else, each taken at once
        // (`steal_page`, XSA-287: a reference another vCPU takes meanwhile makes the steal
        // fail, never the frame leave while mapped); handed back if the extent fails.
        let mut given: heapless::Vec<Mfn, 512> = heapless::Vec::new();
        for i in 0..k {
            let m: Mfn = match read_guest_struct(inr.extent_start.wrapping_add((j * k + i) * 8)) {
                Ok(m) => m,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            if m == dom.shared_info || given.contains(&m) || !ft.steal(m, dom.id) {
                result = Err(Errno::EINVAL);
                break;
            }
            let _ = given.push(m);
        }
        let gpfn_slot = outr.extent_start.wrapping_add(j * 8);
        let new = result.and_then(|_| {
            let gpfn: Pfn = read_guest_struct(gpfn_slot)?;
            let first = crate::mm::alloc_contiguous_zeroed(k, below).ok_or(Errno::ENOMEM)?;
            if let Err(e) = write_guest_struct(gpfn_slot, &first) {
                for i in 0..k {
                    let _ = crate::mm::free_frame(first + i);
                }
                return Err(e);
            }
            Ok((first, gpfn))
        });
        let (first, gpfn) = match new {
            Ok(n) => n,
            Err(e) => {
                for &m in &given {
                    ft.unsteal(m);
                }
                result = Err(e);
                break;
            }
        };
        dom.frame_span.note(first, k);
        for i in 0..k {
            ft.assign(first + i, dom.id);
            m2p_set(first + i, Pfn(gpfn.0.wrapping_add(i)));
        }
        for &m in &given {
            // Freed (M2P invalidated) now: nothing else referenced it.
            ft.free_stolen(m);
        }
        x.nr_exchanged += k;
    }
    let at = arg.wrapping_add(core::mem::offset_of!(XenMemoryExchange, nr_exchanged) as u64);
    write_guest_struct(at, &x.nr_exchanged)?;
    result
}

/// `memory_op(cmd, arg)`: the low bits of `cmd` carry the sub-op, the rest a continuation start
/// (`MEMOP_EXTENT_SHIFT`).
pub fn memory_op(dom: &Domain, cmd: u64, arg: u64) -> Outcome {
    use xen_abi::memory::XenMem;
    // `cmd` is an `unsigned long` in Xen's `do_memory_op`: the start extent is every bit above
    // the sub-op.
    let start = cmd >> xen_abi::memory::MEMOP_EXTENT_SHIFT;
    let op = match XenMem::try_from(cmd as u32 & xen_abi::memory::MEMOP_CMD_MASK) {
        Ok(op) => op,
        Err(e) => return Outcome::Done(Err(e)),
    };
    let reserve = |r| reservation(dom, r, arg, start);
    match op {
        // XENMEM_increase_reservation
        XenMem::IncreaseReservation => reserve(Reservation::Increase),
        // XENMEM_decrease_reservation
        XenMem::DecreaseReservation => reserve(Reservation::Decrease),
        // XENMEM_populate_physmap
        XenMem::PopulatePhysmap => reserve(Reservation::Populate),
        // `common/memory.c`'s other sub-ops refuse a start extent; the architecture's own
        // (`arch_memory_op`) match the whole command, so with one they are unknown.
        XenMem::Exchange
        | XenMem::MaximumRamPage
        | XenMem::CurrentReservation
        | XenMem::MaximumReservation
        | XenMem::ClaimPages
            if start != 0 =>
        {
            Outcome::Done(Err(Errno::EINVAL))
        }
        XenMem::MachphysMapping | XenMem::MemoryMap | XenMem::MachineMemoryMap if start != 0 => {
            Outcome::Done(Err(Errno::ENOSYS))
        }
        // XENMEM_exchange
        XenMem::Exchange => exchange(dom, arg),
        // XENMEM_claim_pages
        XenMem::ClaimPages => Outcome::Done(claim_pages(dom, arg)),
        _ => Outcome::Done(other_op(dom, op, arg)),
    }
}

/// `XENMEM_claim_pages`: a `xen_memory_reservation` with no list, order 0 and no flags
/// (`-EINVAL` otherwise) naming an existing domain by id (`DOMID_SELF` is not one: `-EINVAL`);
/// the control domain only (`-EPERM`); then [`crate::domain::claims::set`].
fn claim_pages(dom: &Domain, arg: u64) -> XenResult<u64> {
    let r: XenMemoryReservation = read_guest_struct(arg)?;
    if r.extent_start != 0 || r.extent_order != 0 || r.mem_flags != 0 {
        return Err(Errno::EINVAL);
    }
    let d = crate::domain::get(r.domid).ok_or(Errno::EINVAL)?;
    if !dom.privileged {
        return Err(Errno::EPERM);
    }
    crate::domain::claims::set(&d, r.nr_extents).map(|()| 0)
}

/// The sub-ops of `memory_op` that are not preemptible.
fn other_op(dom: &Domain, op: xen_abi::memory::XenMem, arg: u64) -> XenResult<u64> {
    use xen_abi::memory::{XenForeignMemoryMap, XenMachphysMapping, XenMem, XenMemoryMap};
    use zerocopy::IntoBytes;
    /// Xen's `E820MAX`.
    const E820MAX: u32 = 1024;
    match op {
        // XENMEM_maximum_ram_page
        XenMem::MaximumRamPage => Ok(crate::mm::ram_frames()),
        // XENMEM_add_to_physmap
        XenMem::AddToPhysmap => crate::grant::add_to_physmap(dom, arg),
        // XENMEM_current_reservation, XENMEM_maximum_reservation
        XenMem::CurrentReservation | XenMem::MaximumReservation => {
            let id: DomId = read_guest_struct(arg)?;
            let of = |d: &Domain| {
                if op == XenMem::CurrentReservation {
                    d.tot_pages.load(Ordering::Acquire)
                } else {
                    d.max_pages.load(Ordering::Acquire)
                }
            };
            if id == DomId::SELF || id == dom.id {
                Ok(of(dom))
            } else if dom.privileged {
                crate::domain::get(id).map(|d| of(&d)).ok_or(Errno::ESRCH)
            } else {
                Err(Errno::EPERM)
            }
        }
        // XENMEM_machphys_mapping
        XenMem::MachphysMapping => {
            let m = XenMachphysMapping {
                v_start: crate::layout::M2P_VIRT_START,
                v_end: crate::layout::M2P_VIRT_END,
                max_mfn: crate::mm::guest::m2p_entries().saturating_sub(1),
            };
            write_guest_struct(arg, &m).map(|()| 0)
        }
        // XENMEM_memory_map: the map set for the caller (`XENMEM_set_memory_map`; libxl
        // sets a single RAM entry for PV domUs), at most as many entries as the buffer holds;
        // -ENOSYS when none was set, as for a PV dom0.
        XenMem::MemoryMap => {
            let e820 = dom.e820.lock().clone();
            if e820.is_empty() {
                return Err(Errno::ENOSYS);
            }
            let mut map: XenMemoryMap = read_guest_struct(arg)?;
            let n = (map.nr_entries as usize).min(e820.len());
            write_guest(map.buffer, e820[..n].as_bytes())?;
            map.nr_entries = n as u32;
            write_guest_struct(arg, &map).map(|()| 0)
        }
        // XENMEM_set_memory_map: at most `E820MAX` entries (-EINVAL), of any domain (-ESRCH
        // if missing), the caller's own or, for the control domain, another's (-EPERM).
        XenMem::SetMemoryMap => {
            let f: XenForeignMemoryMap = read_guest_struct(arg)?;
            if f.map.nr_entries > E820MAX {
                return Err(Errno::EINVAL);
            }
            let d = if f.domid == DomId::SELF {
                crate::domain::get(dom.id)
            } else {
                crate::domain::get(f.domid)
            }
            .ok_or(Errno::ESRCH)?;
            if d.id != dom.id && !dom.privileged {
                return Err(Errno::EPERM);
            }
            let size = core::mem::size_of::<E820Entry>() as u64;
            let mut e820 = Vec::with_capacity(f.map.nr_entries as usize);
            for i in 0..u64::from(f.map.nr_entries) {
                e820.push(read_guest_struct::<E820Entry>(
                    f.map.buffer.wrapping_add(i * size),
                )?);
            }
            *d.e820.lock() = e820;
            Ok(0)
        }
        // XENMEM_acquire_resource: no resource can be mapped through it here (the grant
        // table, ioreq servers, vmtrace buffers): Xen's answer for a resource it lacks, on which
        // libxc's grant seeding falls back to `GNTTABOP_setup_table`.
        XenMem::AcquireResource => Err(Errno::EOPNOTSUPP),
        // XENMEM_machine_memory_map
        XenMem::MachineMemoryMap => {
            if !dom.privileged {
                return Err(Errno::EPERM);
            }
            let host = crate::mm::host_map();
            let mut map: XenMemoryMap = read_guest_struct(arg)?;
            if map.buffer != 0 {
                // Xen wants room for one more entry than the map has.
                if (map.nr_entries as usize) < host.len() + 1 {
                    return Err(Errno::EINVAL);
                }
                let size = core::mem::size_of::<E820Entry>() as u64;
                for (i, r) in host.iter().enumerate() {
                    let e = E820Entry {
                        addr: r.range.start.0,
                        size: r.range.len(),
                        r#type: r.kind.e820_type(),
                    };
                    write_guest_struct(map.buffer.wrapping_add(size * i as u64), &e)?;
                }
            }
            map.nr_entries = host.len() as u32;
            write_guest_struct(arg, &map).map(|()| 0)
        }
        _ => Err(Errno::ENOSYS),
    }
}
