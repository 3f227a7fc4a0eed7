//! PV MMU calls for test kernels: `mmu_update`, `mmuext_op`, `update_va_mapping`, and the
//! translations between the guest's pseudo-physical frames and machine frames.

use xen_abi::xen::Hypercall as H;

/// `DOMID_SELF`.
pub const DOMID_SELF: u64 = 0x7ff0;
/// Present | writable | user | accessed.
pub const PTE_RW: u64 = 0x1 | 0x2 | 0x4 | 0x20;
/// Present | user | accessed (read-only).
pub const PTE_RO: u64 = 0x1 | 0x4 | 0x20;
/// Frame-number bits of an entry.
pub const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
/// The read-only M2P (`MACH2PHYS_VIRT_START` on x86-64).
pub const M2P: u64 = 0xffff_8000_0000_0000;

/// One `mmu_update` request `{ptr, val}`.
pub fn mmu_update(ptr: u64, val: u64) -> i64 {
    mmu_update_batch(&[(ptr, val)], DOMID_SELF).0
}

/// A batch of `mmu_update` requests with `foreigndom`; returns the result and the done count.
pub fn mmu_update_batch(reqs: &[(u64, u64)], foreigndom: u64) -> (i64, u32) {
    let mut done: u32 = u32::MAX;
    // `mmu_update_t` is two u64s; tuples have no guaranteed layout, so build an array.
    let mut arr = [[0u64; 2]; 64];
    let n = reqs.len().min(64);
    for (slot, r) in arr.iter_mut().zip(reqs.iter()) {
        *slot = [r.0, r.1];
    }
    // SAFETY: a live array of `n` `mmu_update` requests and a live done counter.
    let rc = unsafe {
        crate::hypercall(
            H::MmuUpdate as u32,
            arr.as_ptr() as u64,
            n as u64,
            core::ptr::addr_of_mut!(done) as u64,
            foreigndom,
            0,
        )
    };
    (rc, done)
}

/// One `mmuext_op` with `cmd`, `arg1`, `arg2`.
pub fn mmuext(cmd: u32, arg1: u64, arg2: u64) -> i64 {
    let op = xen_abi::xen::MmuextOp {
        cmd,
        _pad0: 0,
        arg1,
        arg2,
    };
    // SAFETY: a live one-element `mmuext_op` array; no done-count pointer; DOMID_SELF.
    unsafe {
        crate::hypercall(
            H::MmuextOp as u32,
            core::ptr::addr_of!(op) as u64,
            1,
            0,
            DOMID_SELF,
            0,
        )
    }
}

/// `update_va_mapping(va, val, flags)`.
pub fn update_va_mapping(va: u64, val: u64, flags: u64) -> i64 {
    crate::hypercall_ints(H::UpdateVaMapping as u32, [va, val, flags, 0, 0])
}

/// The machine frame of pseudo-physical frame `pfn` (from the builder's p2m list).
pub fn pfn_to_mfn(pfn: u64) -> u64 {
    let si = crate::start_info();
    if pfn >= si.nr_pages {
        return u64::MAX;
    }
    let p2m = si.mfn_list as *const u64;
    // SAFETY: the p2m list is mapped by the builder for `nr_pages` entries.
    unsafe { p2m.add(pfn as usize).read_volatile() }
}

/// The pseudo-physical frame of machine frame `mfn` (from the read-only M2P).
pub fn mfn_to_pfn(mfn: u64) -> u64 {
    // SAFETY: the hypervisor maps the M2P read-only for every machine frame; guests read it.
    unsafe { ((M2P + mfn * 8) as *const u64).read_volatile() }
}

/// The machine frame behind kernel virtual address `va` (VIRT_BASE 0: va = pfn << 12).
pub fn va_to_mfn(va: u64) -> u64 {
    pfn_to_mfn(va >> 12)
}

/// The machine address of the L1 entry that maps `va` in the current page tables, and the L2
/// table and slot above it (read through [`read_table`]).
pub fn pte_address(va: u64) -> (u64, (u64, usize)) {
    let mut table = crate::read_cr3() >> 12;
    let mut l2 = (0, 0);
    for level in [4u32, 3, 2] {
        let index = ((va >> (12 + 9 * (level - 1))) & 511) as usize;
        if level == 2 {
            l2 = (table, index);
        }
        table = (read_table(table, index) & ADDR_MASK) >> 12;
    }
    ((table << 12) | (((va >> 12) & 511) * 8), l2)
}

/// Entry `index` of the page table in machine frame `mfn`, read through the kernel's initial
/// mapping (the bootstrap tables lie inside it, mapped read-only).
pub fn read_table(mfn: u64, index: usize) -> u64 {
    let va = mfn_to_pfn(mfn) << 12;
    // SAFETY: `va` is the initial mapping of one of the guest's own bootstrap table pages.
    unsafe { ((va + index as u64 * 8) as *const u64).read_volatile() }
}
