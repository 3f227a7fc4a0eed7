//! pagetables: the PV MMU's page typing, as Xen enforces it. With frames beyond its initial
//! mapping the guest builds page tables through `mmu_update` (plain writes while a frame is no
//! table), pins one as an L1 and hooks it into its live L2: the new mapping takes effect, and
//! `update_va_mapping` changes it. Refused with Xen's errors: a writable mapping of a page table
//! (by `mmu_update` and by `update_va_mapping`), a mapping of a frame the guest does not own, an
//! entry in the hypervisor's L4 slots, pinning twice, unpinning what is not pinned, a table
//! whose entries fail validation, and a second type for a table still in use. Pins and uses
//! balance: unhooked and unpinned, the frame is an ordinary page again. Finally a separate user
//! page table (validated by `MMUEXT_NEW_USER_BASEPTR`) maps only the user program and its
//! stack: a user-mode read of a kernel address page-faults with the user bit set.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{
    println, sys,
    sys::mmu::{self, mmu_update, mmuext, update_va_mapping, ADDR_MASK, PTE_RO, PTE_RW},
    sys::traps,
    sys::user,
    Test,
};

#[cfg(target_os = "none")]
use domu_frontends::sys::read_u64;

#[cfg(target_os = "none")]
const EINVAL: i64 = -22;
#[cfg(target_os = "none")]
const EBUSY: i64 = -16;
#[cfg(target_os = "none")]
const UVMF_INVLPG: u64 = 2;
#[cfg(target_os = "none")]
const PIN_L1: u32 = 0;
#[cfg(target_os = "none")]
const PIN_L2: u32 = 1;
#[cfg(target_os = "none")]
const UNPIN: u32 = 4;
#[cfg(target_os = "none")]
const CLEAR_PAGE: u32 = 16;

/// Where the test maps its new L1 (L2 slot 8 of the first GiB: 16 MiB, beyond every initial
/// mapping of these small kernels).
#[cfg(target_os = "none")]
const NEW_VA: u64 = 8 << 21;

#[cfg(target_os = "none")]
fn pte_ptr(table: u64, index: usize) -> u64 {
    (table << 12) | (index as u64 * 8)
}

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    t.eq(traps::install(&[0x20]), 0, "set_trap_table");
    t.eq(
        sys::register_callback(2, traps::stub(user::SYSCALL_STUB_VECTOR), false),
        0,
        "register the syscall callback",
    );
    let si = sys::start_info();
    let l4 = sys::read_cr3() >> 12;
    // Frames beyond the initial mapping: not mapped anywhere, so they may become tables.
    let free = |k: u64| mmu::pfn_to_mfn(si.nr_pages - 1 - k);
    let (a, u4, u3, u2, u1a, u1b) = (free(0), free(1), free(2), free(3), free(4), free(5));
    for f in [a, u4, u3, u2, u1a, u1b] {
        t.eq(mmuext(CLEAR_PAGE, f, 0), 0, "MMUEXT_CLEAR_PAGE");
    }
    // Data pages inside the kernel's static buffer (mapped writable in the initial mapping).
    let buf = sys::static_buffer();
    let base = (buf.as_ptr() as u64 + 4095) & !4095;
    let (d, e, spare) = (base, base + 4096, base + 8192);
    // SAFETY: the three pages lie inside the 64 KiB buffer this test owns.
    unsafe {
        (d as *mut u64).write_volatile(0xd0d0_d0d0);
        (e as *mut u64).write_volatile(0xe0e0_e0e0);
    }
    let (d_mfn, e_mfn) = (mmu::va_to_mfn(d), mmu::va_to_mfn(e));

    // An ordinary page: mmu_update is a plain write. Then it becomes a pinned L1.
    t.eq(
        mmu_update(pte_ptr(a, 0), (d_mfn << 12) | PTE_RW),
        0,
        "mmu_update into an ordinary page",
    );
    t.eq(mmuext(PIN_L1, a, 0), 0, "pin it as an L1");
    t.eq(mmuext(PIN_L1, a, 0), EINVAL, "pin twice");
    t.eq(
        mmu_update(pte_ptr(a, 1), (a << 12) | PTE_RW),
        EBUSY,
        "a writable mapping of a page table (mmu_update)",
    );
    t.eq(
        mmu_update(pte_ptr(a, 1), (a << 12) | PTE_RO),
        0,
        "a read-only mapping of a page table",
    );
    let hv_frame = (mmu::read_table(l4, 256) & ADDR_MASK) >> 12;
    t.eq(
        mmu_update(pte_ptr(a, 2), (hv_frame << 12) | PTE_RO),
        EBUSY,
        "a mapping of a frame the guest does not own (the hypervisor's)",
    );
    t.eq(
        mmu_update(pte_ptr(l4, 256), 0),
        EINVAL,
        "an entry in the hypervisor's L4 slots",
    );

    // Hook the L1 into the live L2: NEW_VA now maps D.
    let l3 = (mmu::read_table(l4, 0) & ADDR_MASK) >> 12;
    let l2 = (mmu::read_table(l3, 0) & ADDR_MASK) >> 12;
    t.eq(mmu::read_table(l2, 8), 0, "L2 slot 8 is free");
    t.eq(
        mmu_update(pte_ptr(l2, 8), (a << 12) | PTE_RW),
        0,
        "hook the L1 into the L2",
    );
    t.eq(read_u64(NEW_VA), 0xd0d0_d0d0, "the new mapping shows D");
    // SAFETY: NEW_VA maps D writable now.
    unsafe { (NEW_VA as *mut u64).write_volatile(0x1234_5678) };
    t.eq(read_u64(d), 0x1234_5678, "a write through it lands in D");
    t.eq(
        update_va_mapping(NEW_VA + 3 * 4096, (e_mfn << 12) | PTE_RO, UVMF_INVLPG),
        0,
        "update_va_mapping a read-only page",
    );
    t.eq(read_u64(NEW_VA + 3 * 4096), 0xe0e0_e0e0, "it shows E");
    let wf = traps::write_fault(NEW_VA + 3 * 4096);
    t.eq(
        wf.map(|x| (x.vector, x.error_code & 3)),
        Some((14, 3)),
        "writing a read-only mapping faults",
    );
    t.eq(
        update_va_mapping(NEW_VA + 4 * 4096, (l2 << 12) | PTE_RW, UVMF_INVLPG),
        EBUSY,
        "a writable mapping of a page table (update_va_mapping)",
    );

    // A second type for a table in use: refused; unpinning leaves it in use (hooked).
    t.eq(mmuext(UNPIN, a, 0), 0, "unpin a table still hooked in");
    t.eq(mmuext(UNPIN, a, 0), EINVAL, "unpin what is not pinned");
    t.eq(mmuext(PIN_L2, a, 0), EINVAL, "pin an L1 in use as an L2");
    t.eq(
        read_u64(NEW_VA),
        0x1234_5678,
        "still mapped after the unpin",
    );
    t.eq(mmu_update(pte_ptr(l2, 8), 0), 0, "unhook it");
    // Now an ordinary page again: it can be mapped writable (and written) like any other.
    let spare_mfn = mmu::va_to_mfn(spare);
    t.eq(
        update_va_mapping(spare, (a << 12) | PTE_RW, UVMF_INVLPG),
        0,
        "the old table maps writable once unhooked and unpinned",
    );
    // (Xen also sets the global bit on guest mappings: ignore it.)
    t.eq(
        read_u64(spare) & !0x100,
        (d_mfn << 12) | PTE_RW | 0x40,
        "its first entry (dirty from the write through it), read writable",
    );
    t.eq(
        update_va_mapping(spare, (spare_mfn << 12) | PTE_RW, UVMF_INVLPG),
        0,
        "restore the buffer page",
    );
    // Its entries (D writable) do not validate as an L2: D is no L1.
    t.eq(
        mmuext(PIN_L2, a, 0),
        EINVAL,
        "an L2 whose entries fail validation",
    );
    t.eq(mmuext(CLEAR_PAGE, a, 0), 0, "clear it");
    t.eq(mmuext(PIN_L2, a, 0), 0, "an empty page pins as an L2");
    t.eq(mmuext(UNPIN, a, 0), 0, "and unpins");

    // A user page table that maps only the probe program and the user stack.
    let probe = user::probe_start() & !4095;
    let (stack_lo, stack_hi) = user::user_stack();
    let mut pages: [(u64, u64); 8] = [(probe, PTE_RO); 8];
    let mut n = 1;
    let mut p = stack_lo & !4095;
    while p < stack_hi && n < pages.len() {
        pages[n] = (p, PTE_RW);
        n += 1;
        p += 4096;
    }
    let l1_for = |va: u64| if va >> 21 == probe >> 21 { u1a } else { u1b };
    let mut ok = true;
    for &(va, flags) in &pages[..n] {
        ok &= va >> 30 == 0;
        ok &= mmu_update(
            pte_ptr(l1_for(va), ((va >> 12) & 511) as usize),
            (mmu::va_to_mfn(va) << 12) | flags,
        ) == 0;
        ok &= mmu_update(
            pte_ptr(u2, ((va >> 21) & 511) as usize),
            (l1_for(va) << 12) | PTE_RW,
        ) == 0;
    }
    ok &= mmu_update(pte_ptr(u3, 0), (u2 << 12) | PTE_RW) == 0;
    ok &= mmu_update(pte_ptr(u4, 0), (u3 << 12) | PTE_RW) == 0;
    t.check(ok, format_args!("user page tables written"));
    t.eq(
        sys::new_user_baseptr(u4),
        0,
        "MMUEXT_NEW_USER_BASEPTR validates the user tables",
    );
    let kernel_va = core::ptr::addr_of!(*si) as u64;
    let r = user::run_user_probe(kernel_va);
    println!("user probe of {kernel_va:#x}: {:x?}", r);
    t.check(
        r.returned,
        format_args!("the probe came back to the kernel"),
    );
    t.eq(
        r.page_fault,
        Some((4, kernel_va)),
        "a user read of a kernel address: #PF, user, not present, CR2",
    );
    let r = user::run_user_probe(stack_hi - 8);
    t.eq(r.page_fault, None, "a user read of the user stack");
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
