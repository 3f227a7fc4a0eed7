//! staletlb: a frame written through a writable mapping, whose mapping is then made read-only
//! without a TLB flush (`update_va_mapping` with no `UVMF_*` flag) and which is then pinned as
//! an L1 table, must not stay writable through the stale TLB entry: the type change flushes it
//! (Xen keeps a page's writable type until it changes and flushes then). A write, through the
//! old address, of an entry mapping the guest's own L4 writable (which no validated table may
//! hold) is a page fault and leaves the table as it was — without the flush it would land
//! unvalidated in a live page table.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{sys::mmu, sys::traps, Test};

#[cfg(target_os = "none")]
#[repr(C, align(4096))]
struct Page([u64; 512]);

#[cfg(target_os = "none")]
static mut PAGE: Page = Page([0; 512]);

#[cfg(target_os = "none")]
const MMUEXT_PIN_L1_TABLE: u32 = 0;
#[cfg(target_os = "none")]
const MMUEXT_UNPIN_TABLE: u32 = 4;
#[cfg(target_os = "none")]
const UVMF_INVLPG: u64 = 2;

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    t.eq(traps::install(&[]), 0, "set_trap_table");
    let va = core::ptr::addr_of!(PAGE) as u64;
    let mfn = mmu::va_to_mfn(va);
    // Written (all zeros: a valid, empty L1) through its writable mapping, so the TLB holds a
    // writable, dirty entry for it.
    for i in 0..512u64 {
        t.eq(traps::pte::store(va + i * 8, 0), None, "zeroing the page");
    }
    t.eq(
        mmu::update_va_mapping(va, (mfn << 12) | mmu::PTE_RO, 0),
        0,
        "read-only, with no TLB flush",
    );
    t.eq(
        mmu::mmuext(MMUEXT_PIN_L1_TABLE, mfn, 0),
        0,
        "MMUEXT_PIN_L1_TABLE of the page",
    );
    // An entry mapping the live L4 writable, through the old address.
    let l4 = mmu::va_to_mfn(domu_frontends::sys::start_info().pt_base);
    let forged = (l4 << 12) | mmu::PTE_RW;
    let r = traps::pte::store(va, forged);
    t.eq(
        r.map(|x| (x.vector, x.error_code & 3)),
        Some((14, 3)),
        "the write through the old address is a write fault on a present page",
    );
    t.eq(mmu::read_table(mfn, 0), 0, "the pinned table is unchanged");
    t.eq(mmu::mmuext(MMUEXT_UNPIN_TABLE, mfn, 0), 0, "unpin");
    t.eq(
        mmu::update_va_mapping(va, (mfn << 12) | mmu::PTE_RW, UVMF_INVLPG),
        0,
        "writable again",
    );
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
