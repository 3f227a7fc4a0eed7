//! The write-fault half of writable page tables (Xen's `ptwr_do_page_fault`): a kernel-mode
//! write fault on a read-only mapping of one of the domain's own validated L1 tables is
//! emulated through [`crate::arch::x86_64::ptwr`] and the frame table's checks. As on Xen 4.17,
//! this does not wait for `VMASST_TYPE_writable_pagetables` (which 64-bit PV kernels enable
//! anyway). Like Xen's `pv_ro_page_fault`, only the last entry of the faulting address's walk
//! counts: through a linear (recursive) slot that entry is an L2 entry mapping an L1, so a write
//! to the L1 there is emulated when that entry is read-only and is the guest's page fault when
//! it is writable (the read-only linear entry higher up made the write fault); a write that
//! reaches an L2, L3 or L4 this way is never emulated.

use crate::arch::x86_64::guest::copy_from_guest;
use crate::arch::x86_64::idt::TrapFrame;
use crate::arch::x86_64::ptwr::{decode, execute};
use crate::domain::{Domain, Vcpu};
use crate::mm::typing::{l1_table_offset, pte_mfn, PageType, PTE_P, PTE_RW};

/// Tries to emulate the write that faulted at `cr2`. True if it was applied (the guest resumes
/// after the instruction); false to deliver the page fault.
pub fn write_fault(dom: &Domain, v: &Vcpu, frame: &mut TrapFrame, cr2: u64) -> bool {
    let l4 = {
        let st = v.state.lock();
        match st.kernel_l4 {
            Some(l4) if st.kernel_mode => l4,
            _ => return false,
        }
    };
    let ft = crate::mm::frame_table();
    let _mmu = dom.mmu.lock();
    // The read-only mapping of the table being written.
    let Ok(map_l1) = crate::hypercall::mmu::l1_of(l4, cr2) else {
        return false;
    };
    let Ok(e) = crate::mm::guest::frame_read_u64(map_l1, l1_table_offset(cr2) * 8) else {
        return false;
    };
    if e & (PTE_P | PTE_RW) != PTE_P {
        return false;
    }
    let table = pte_mfn(e);
    let ts = ft.type_state(table);
    if ft.owner(table) != Some(dom.id) || ts.ty != PageType::L1 || !ts.validated {
        return false;
    }
    let mut bytes = [0u8; 15];
    let mut got = 0;
    for len in [15usize, 8, 4, 2, 1] {
        if copy_from_guest(frame.rip, &mut bytes[..len]).is_ok() {
            got = len;
            break;
        }
    }
    let Some(insn) = decode(&bytes[..got]) else {
        return false;
    };
    // The operand must lie inside one 8-byte entry.
    let off = (cr2 & 7) as u8;
    if off + insn.size > 8 {
        return false;
    }
    let index = ((cr2 & 0xfff) >> 3) as usize;
    let Ok(pte) = crate::mm::guest::frame_read_u64(table, index * 8) else {
        return false;
    };
    let shift = 8 * u32::from(off);
    let mask = if insn.size == 8 {
        u64::MAX
    } else {
        (1u64 << (8 * insn.size)) - 1
    };
    let old = (pte >> shift) & mask;
    let regs = *frame;
    let out = execute(&insn, old, |n| *super::emulate::gpr(&mut regs.clone(), n));
    if let Some(value) = out.store {
        let new = (pte & !(mask << shift)) | ((value & mask) << shift);
        // The guest flushes its TLB for the entry, as on Xen; a frame whose last mapping goes
        // is shot down by the frame table before it is reused.
        if ft.mod_entry(table, index, new, false, dom.asker()).is_err() {
            return false;
        }
    }
    for (n, value) in out.reg.into_iter().chain(out.reg2) {
        *super::emulate::gpr(frame, n) = value;
    }
    frame.rflags = (frame.rflags & !out.flags.0) | out.flags.1;
    frame.rip = frame.rip.wrapping_add(insn.len);
    true
}
