//! The PV MMU hypercalls over the frame table (`mm::typing`): `mmu_update`, `mmuext_op` and
//! `update_va_mapping`. Every change to a guest page table goes through Xen's checks: the table
//! must be a validated page table of the domain, the new entry's frame the domain's own (or I/O
//! space for the hardware domain), never a writable mapping of a page table, never in the
//! hypervisor's L4 slots.

use super::{Outcome, Preempt};
use crate::arch::x86_64::cpu;
use crate::domain::{Domain, Vcpu};
use crate::mm::typing::{l1_table_offset, pte_mfn, PageType, ADDR_MASK, PTE_P, PTE_PSE};
use crate::pv::{read_guest_struct, write_guest};
use xen_abi::xen::{MmuUpdate, MmuUpdateCmd, MmuextCmd, MmuextOp};
use xen_abi::{DomId, Errno, Maddr, Mfn, Pfn, XenResult};

/// The domain whose pages a call maps (`foreigndom`): the caller itself, or — for the
/// privileged domain — another domain.
fn page_owner(dom: &Domain, foreigndom: u64) -> XenResult<crate::mm::typing::Asker> {
    let fd = foreigndom as u16;
    if fd == DomId::SELF.0 || fd == dom.id.0 {
        return Ok(dom.asker());
    }
    if !dom.privileged {
        return Err(Errno::EPERM);
    }
    let other = crate::domain::get(DomId(fd)).ok_or(Errno::ESRCH)?;
    Ok(crate::mm::typing::Asker {
        id: other.id,
        io: dom.privileged,
        iomem: other.privileged,
    })
}

/// The start of a batch of `mmu_update` or `mmuext_op` (`do_mmu_update`, `do_mmuext_op`): a
/// count of exactly `MMU_UPDATE_PREEMPTED` with a null list answers `(int)foreigndom` (Xen's
/// way of handing a final result to its own continuation); with that bit set the count is a
/// continuation's, and the work done so far is read from `pdone` (unreadable: 0). Returns the
/// early answer, or the count and the done count to add to.
fn batch_start(list: u64, count: u64, pdone: u64, foreigndom: u64) -> Result<(u32, u32), Outcome> {
    use xen_abi::xen::MMU_UPDATE_PREEMPTED;
    let count = count as u32;
    if count == MMU_UPDATE_PREEMPTED && list == 0 {
        return Err(Outcome::Done(
            Ok(i64::from(foreigndom as u32 as i32) as u64),
        ));
    }
    let mut done = 0u32;
    let count = if count & MMU_UPDATE_PREEMPTED != 0 {
        if pdone != 0 {
            done = read_guest_struct(pdone).unwrap_or(0);
        }
        count & !MMU_UPDATE_PREEMPTED
    } else {
        count
    };
    Ok((count, done))
}

/// The end of a batch: `done + i` goes to `pdone` (a write that faults is ignored, as Xen's);
/// preempted after `i` items, the continuation carries the rest of the list, the count left
/// with `MMU_UPDATE_PREEMPTED`, `pdone` and `foreigndom`.
#[allow(clippy::too_many_arguments)]
fn batch_end(
    result: XenResult<u64>,
    preempted: bool,
    (list, size, count, i): (u64, u64, u32, u32),
    pdone: u64,
    done: u32,
    foreigndom: u64,
) -> Outcome {
    if pdone != 0 {
        let _ = write_guest(pdone, &done.wrapping_add(i).to_le_bytes());
    }
    if preempted {
        let rest = u64::from((count - i) | xen_abi::xen::MMU_UPDATE_PREEMPTED);
        let at = list.wrapping_add(u64::from(i) * size);
        return Outcome::resume(&[at, rest, pdone, foreigndom]);
    }
    Outcome::Done(result)
}

/// `mmu_update(reqs, count, pdone, foreigndom)`: a batch of `{ptr, val}` requests,
/// preemptible between requests.
pub fn mmu_update(dom: &Domain, reqs: u64, count: u64, pdone: u64, foreigndom: u64) -> Outcome {
    let (count, done) = match batch_start(reqs, count, pdone, foreigndom) {
        Ok(c) => c,
        Err(early) => return early,
    };
    // `guest_handle_okay`: the whole list in guest space, or -EFAULT before anything.
    if !crate::arch::x86_64::guest::guest_range_ok(reqs, count as usize * 16) {
        return Outcome::Done(Err(Errno::EFAULT));
    }
    let pg_owner = match page_owner(dom, foreigndom) {
        Ok(o) => o,
        Err(e) => return batch_end(Err(e), false, (reqs, 16, count, 0), pdone, done, 0),
    };
    let ft = crate::mm::frame_table();
    let mut preempt = Preempt::new();
    let (mut i, mut result, mut preempted) = (0u32, Ok(0), false);
    {
        let _mmu = dom.mmu.lock();
        while i < count {
            if i > 0 && preempt.due() {
                preempted = true;
                break;
            }
            let req: MmuUpdate = match read_guest_struct(reqs.wrapping_add(u64::from(i) * 16)) {
                Ok(r) => r,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            let (ptr, val) = (req.ptr, req.val);
            // The frame `ptr` names (bits above 51 ignored, as in an entry) and the entry in it.
            let ma = Maddr(ptr);
            let mfn = Maddr(ptr & ADDR_MASK).mfn();
            let r = match MmuUpdateCmd::try_from((ptr & 3) as u32) {
                // MMU_NORMAL_PT_UPDATE, MMU_PT_UPDATE_PRESERVE_AD, MMU_PT_UPDATE_NO_TRANSLATE:
                // nothing is translated for a PV domain, NO_TRANSLATE is a normal update.
                Ok(
                    c @ (MmuUpdateCmd::NormalPtUpdate
                    | MmuUpdateCmd::PtUpdatePreserveAd
                    | MmuUpdateCmd::PtUpdateNoTranslate),
                ) => {
                    let index = ma.page_offset() / 8;
                    let preserve = c == MmuUpdateCmd::PtUpdatePreserveAd;
                    update_entry(dom, mfn, index, val, preserve, pg_owner)
                }
                // MMU_MACHPHYS_UPDATE
                Ok(MmuUpdateCmd::MachphysUpdate) => {
                    if ft.owner(mfn) == Some(pg_owner.id) {
                        crate::mm::guest::m2p_set(mfn, Pfn(val));
                        Ok(())
                    } else {
                        Err(Errno::EINVAL)
                    }
                }
                Err(e) => Err(e),
            };
            if let Err(e) = r {
                result = Err(e);
                break;
            }
            i += 1;
        }
    }
    batch_end(
        result,
        preempted,
        (reqs, 16, count, i),
        pdone,
        done,
        foreigndom,
    )
}

/// One `MMU_NORMAL_PT_UPDATE`: through the frame table if `table` is a validated page table of
/// the domain, a plain write if it is an ordinary page of the domain (Xen writes those too).
fn update_entry(
    dom: &Domain,
    table: Mfn,
    index: usize,
    val: u64,
    preserve_ad: bool,
    pg_owner: crate::mm::typing::Asker,
) -> XenResult<()> {
    let ft = crate::mm::frame_table();
    if ft.owner(table) != Some(dom.id) {
        return Err(Errno::EINVAL);
    }
    let ts = ft.type_state(table);
    // Another domain's frames go only into L1 entries (Xen's `do_mmu_update`: an L2–L4 update
    // with a foreign `pg_owner` is -EINVAL), so a table's children and linear entries are
    // always its own domain's.
    if ts.ty.level().is_some_and(|l| l > 1) && ts.validated && pg_owner.id != dom.id {
        return Err(Errno::EINVAL);
    }
    if ts.ty.level().is_some() && ts.validated {
        return ft
            .mod_entry(table, index, val, preserve_ad, pg_owner)
            .map(|_| ());
    }
    ft.get_page_type(table, PageType::Writable, dom.asker())?;
    let r = crate::mm::guest::frame_write_u64(table, index * 8, val);
    ft.put_page_type(table);
    r.map_err(|_| Errno::EINVAL)
}

/// `mmuext_op(ops, count, pdone, foreigndom)`, preemptible between ops as `mmu_update`.
pub fn mmuext_op(
    dom: &Domain,
    v: &Vcpu,
    ops: u64,
    count: u64,
    pdone: u64,
    foreigndom: u64,
) -> Outcome {
    let size = core::mem::size_of::<MmuextOp>() as u64;
    let (count, done) = match batch_start(ops, count, pdone, foreigndom) {
        Ok(c) => c,
        Err(early) => return early,
    };
    if !crate::arch::x86_64::guest::guest_range_ok(ops, count as usize * size as usize) {
        return Outcome::Done(Err(Errno::EFAULT));
    }
    // Xen returns a refused `foreigndom` before the loop, `pdone` untouched.
    let pg_owner = match page_owner(dom, foreigndom) {
        Ok(o) => o,
        Err(e) => return Outcome::Done(Err(e)),
    };
    let mut preempt = Preempt::new();
    let (mut i, mut result, mut preempted) = (0u32, Ok(0), false);
    while i < count {
        if i > 0 && preempt.due() {
            preempted = true;
            break;
        }
        let r = read_guest_struct::<MmuextOp>(ops.wrapping_add(u64::from(i) * size))
            .and_then(|op| one(dom, v, pg_owner, &op));
        if let Err(e) = r {
            result = Err(e);
            break;
        }
        i += 1;
    }
    batch_end(
        result,
        preempted,
        (ops, size, count, i),
        pdone,
        done,
        foreigndom,
    )
}

fn flush_local() {
    cpu::flush_tlb_local();
}

fn one(
    dom: &Domain,
    v: &Vcpu,
    pg_owner: crate::mm::typing::Asker,
    op: &MmuextOp,
) -> XenResult<u64> {
    let ft = crate::mm::frame_table();
    let me = dom.asker();
    match MmuextCmd::try_from(op.cmd)? {
        // MMUEXT_PIN_L1_TABLE, MMUEXT_PIN_L2_TABLE, MMUEXT_PIN_L3_TABLE, MMUEXT_PIN_L4_TABLE
        c @ (MmuextCmd::PinL1Table
        | MmuextCmd::PinL2Table
        | MmuextCmd::PinL3Table
        | MmuextCmd::PinL4Table) => {
            let ty = match c {
                MmuextCmd::PinL1Table => PageType::L1,
                MmuextCmd::PinL2Table => PageType::L2,
                MmuextCmd::PinL3Table => PageType::L3,
                _ => PageType::L4,
            };
            let _mmu = dom.mmu.lock();
            ft.pin(op.mfn(), ty, pg_owner).map(|()| 0)
        }
        // MMUEXT_UNPIN_TABLE
        MmuextCmd::UnpinTable => {
            let _mmu = dom.mmu.lock();
            ft.unpin(op.mfn(), pg_owner.id).map(|()| 0)
        }
        // MMUEXT_NEW_BASEPTR
        MmuextCmd::NewBaseptr => {
            let _mmu = dom.mmu.lock();
            ft.get_page_and_type(op.mfn(), PageType::L4, me)?;
            let mut st = v.state.lock();
            if let Some(old) = st.kernel_l4.replace(op.mfn()) {
                ft.put_page_and_type(old);
            }
            crate::pv::reload_cr3(&st);
            Ok(0)
        }
        // MMUEXT_NEW_USER_BASEPTR
        MmuextCmd::NewUserBaseptr => {
            let _mmu = dom.mmu.lock();
            let new = Some(op.mfn()).filter(|&m| m != Mfn(0));
            if let Some(m) = new {
                ft.get_page_and_type(m, PageType::L4, me)?;
            }
            let mut st = v.state.lock();
            if let Some(o) = core::mem::replace(&mut st.user_l4, new) {
                ft.put_page_and_type(o);
            }
            crate::pv::reload_cr3(&st);
            Ok(0)
        }
        // MMUEXT_TLB_FLUSH_LOCAL
        MmuextCmd::TlbFlushLocal => {
            flush_local();
            Ok(0)
        }
        // MMUEXT_INVLPG_LOCAL
        MmuextCmd::InvlpgLocal => {
            x86_64::instructions::tlb::flush(x86_64::VirtAddr::new_truncate(op.linear_addr()));
            Ok(0)
        }
        // Other vCPUs' TLBs: every CPU running guest code flushes (a superset of the vCPU
        // mask), as Xen's flush_tlb_mask on the domain's dirty CPUs.
        // MMUEXT_TLB_FLUSH_MULTI, MMUEXT_TLB_FLUSH_ALL, MMUEXT_INVLPG_MULTI, MMUEXT_INVLPG_ALL
        MmuextCmd::TlbFlushMulti
        | MmuextCmd::TlbFlushAll
        | MmuextCmd::InvlpgMulti
        | MmuextCmd::InvlpgAll => {
            crate::sched::shootdown();
            Ok(0)
        }
        // No cache to manage under PV: Xen's flush_cache is wbinvd for privileged domains.
        // MMUEXT_FLUSH_CACHE, MMUEXT_FLUSH_CACHE_GLOBAL
        MmuextCmd::FlushCache | MmuextCmd::FlushCacheGlobal => Ok(0),
        // MMUEXT_CLEAR_PAGE
        MmuextCmd::ClearPage => {
            let mfn = op.mfn();
            ft.get_page_and_type(mfn, PageType::Writable, me)?;
            let r = crate::mm::guest::frame_zero(mfn);
            ft.put_page_and_type(mfn);
            r.map(|()| 0).map_err(|_| Errno::EINVAL)
        }
        // MMUEXT_COPY_PAGE
        MmuextCmd::CopyPage => {
            let (dst, src) = (op.mfn(), op.src_mfn());
            ft.get_page(src, me.id)?;
            if let Err(e) = ft.get_page_and_type(dst, PageType::Writable, me) {
                ft.put_page(src);
                return Err(e);
            }
            let mut buf = [0u8; 4096];
            let r = crate::mm::guest::frame_read(src, 0, &mut buf)
                .and_then(|()| crate::mm::guest::frame_write(dst, 0, &buf));
            ft.put_page_and_type(dst);
            ft.put_page(src);
            r.map(|()| 0).map_err(|_| Errno::EINVAL)
        }
        // MMUEXT_SET_LDT
        MmuextCmd::SetLdt => crate::pv::descriptors::set_ldt(dom, v, op.linear_addr(), op.arg2),
        _ => Err(Errno::ENOSYS),
    }
}

/// The frame holding the last-level entry that maps `va` in `l4`'s tree, walking the guest's
/// own tables (Xen's `map_guest_l1e`). With linear page tables that frame need not be an L1 —
/// through a recursive slot the walk ends in an L2, L3 or L4 — so a caller that changes the
/// entry must check the frame's type (Xen does: `page_lock` and `PGT_l1_page_table`).
pub(crate) fn l1_of(l4: Mfn, va: u64) -> XenResult<Mfn> {
    use crate::mm::guest::frame_read_u64;
    let mut table = l4;
    for level in [4u32, 3, 2] {
        let index = ((va >> (12 + 9 * (level - 1))) & 511) as usize;
        let e = frame_read_u64(table, index * 8).map_err(|_| Errno::EINVAL)?;
        if e & PTE_P == 0 || e & PTE_PSE != 0 {
            return Err(Errno::EINVAL);
        }
        table = pte_mfn(e);
    }
    Ok(table)
}

/// `update_va_mapping(va, val, flags)` and, for `update_va_mapping_otherdomain`, with the
/// frame owner `foreigndom`: replaces the L1 entry mapping `va` in the current page tables.
pub fn update_va_mapping(
    dom: &Domain,
    v: &Vcpu,
    va: u64,
    val: u64,
    flags: u64,
    foreigndom: u64,
) -> XenResult<u64> {
    use crate::layout::{HYPERVISOR_VIRT_END, HYPERVISOR_VIRT_START};
    if (HYPERVISOR_VIRT_START..HYPERVISOR_VIRT_END).contains(&va)
        || crate::arch::x86_64::guest::GuestVa::new(va).is_none()
    {
        return Err(Errno::EINVAL);
    }
    let pg_owner = page_owner(dom, foreigndom)?;
    let l4 = v.state.lock().active_l4().ok_or(Errno::EINVAL)?;
    {
        let _mmu = dom.mmu.lock();
        let l1 = l1_of(l4, va)?;
        let ft = crate::mm::frame_table();
        // Xen's `__do_update_va_mapping`: -EINVAL unless the frame is one of the domain's
        // validated L1s (a linear slot makes the walk end in a table of another level).
        let ts = ft.type_state(l1);
        if ft.owner(l1) != Some(dom.id) || ts.ty != PageType::L1 || !ts.validated {
            return Err(Errno::EINVAL);
        }
        ft.mod_entry(l1, l1_table_offset(va), val, false, pg_owner)?;
    }
    match flags & xen_abi::xen::UVMF_FLUSHTYPE_MASK {
        xen_abi::xen::UVMF_INVLPG => {
            x86_64::instructions::tlb::flush(x86_64::VirtAddr::new_truncate(va))
        }
        xen_abi::xen::UVMF_TLB_FLUSH => flush_local(),
        _ => {}
    }
    // UVMF_ALL, or UVMF_MULTI (a vCPU-mask pointer above bit 2): the other vCPUs' TLBs too.
    if flags & xen_abi::xen::UVMF_FLUSHTYPE_MASK != 0
        && (flags & xen_abi::xen::UVMF_ALL != 0 || flags & !7 != 0)
    {
        crate::sched::shootdown();
    }
    Ok(0)
}
