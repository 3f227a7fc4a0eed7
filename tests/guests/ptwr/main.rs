//! ptwr: writable page tables. The guest writes its own pinned L1 through a read-only mapping
//! of it (Xen 4.17 emulates this for a 64-bit PV kernel whether or not it enabled
//! `VMASST_TYPE_writable_pagetables`), and the hypervisor emulates each form Linux
//! uses: `mov`, `xchg`, `lock cmpxchg` (failing and succeeding), `lock and`/`lock or`,
//! `lock btr` and a byte-wide `lock and` (Linux's `clear_bit`); each takes effect (after the
//! guest's own invlpg), and the register and flag results are the instruction's. A writable
//! mapping of a page table, a frame the guest does not own, or a write to a table that is no
//! L1 stays a page fault.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{
    abi::xen::Hypercall,
    sys,
    sys::mmu::{self, mmu_update, mmuext, ADDR_MASK, PTE_RO, PTE_RW},
    sys::traps::{self, pte},
    Test,
};

#[cfg(target_os = "none")]
use domu_frontends::sys::read_u64;

/// Where the test's L1 maps (L2 slot 10: 20 MiB); its entry 0 maps the L1 itself read-only.
#[cfg(target_os = "none")]
const BASE: u64 = 10 << 21;

#[cfg(target_os = "none")]
fn invlpg(va: u64) {
    mmuext(7, va, 0);
}

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    t.eq(traps::install(&[]), 0, "set_trap_table");
    let si = sys::start_info();
    let a = mmu::pfn_to_mfn(si.nr_pages - 1);
    t.eq(mmuext(16, a, 0), 0, "clear the L1");
    t.eq(
        mmu_update(a << 12, (a << 12) | PTE_RO),
        0,
        "its entry 0 maps itself read-only",
    );
    t.eq(mmuext(0, a, 0), 0, "pin it");
    let l4 = sys::read_cr3() >> 12;
    let l3 = (mmu::read_table(l4, 0) & ADDR_MASK) >> 12;
    let l2 = (mmu::read_table(l3, 0) & ADDR_MASK) >> 12;
    t.eq(
        mmu_update((l2 << 12) | (10 * 8), (a << 12) | PTE_RW),
        0,
        "hook it in",
    );
    let buf = sys::static_buffer();
    let page = (buf.as_ptr() as u64 + 4095) & !4095;
    let (d1, d2) = (page, page + 4096);
    // SAFETY: two pages of the test's own buffer.
    unsafe {
        (d1 as *mut u64).write_volatile(0xd1d1);
        (d2 as *mut u64).write_volatile(0xd2d2);
    }
    let (m1, m2) = (mmu::va_to_mfn(d1), mmu::va_to_mfn(d2));
    let slot = BASE + 8; // entry 1 of the L1, as the guest sees it
    let va = BASE + 4096; // what entry 1 maps

    // Emulated before the assist is enabled too, as Xen 4.17 does.
    let plain = pte::store(slot, (m1 << 12) | PTE_RW);
    t.eq(plain.map(|x| x.vector), None, "emulated without the assist");
    t.eq(
        sys::hypercall_ints(Hypercall::VmAssist as u32, [0, 2, 0, 0, 0]),
        0,
        "enable VMASST_TYPE_writable_pagetables",
    );

    t.eq(
        pte::store(slot, (m1 << 12) | PTE_RW).map(|x| x.vector),
        None,
        "mov",
    );
    invlpg(va);
    t.eq(read_u64(va), 0xd1d1, "mov took effect");
    let old = pte::xchg(slot, (m2 << 12) | PTE_RW);
    t.eq(
        old.map(|o| (o & ADDR_MASK) >> 12).ok(),
        Some(m1),
        "xchg returns the old entry",
    );
    invlpg(va);
    t.eq(read_u64(va), 0xd2d2, "xchg took effect");
    let miss = pte::cmpxchg(slot, 0x1234_5000, (m1 << 12) | PTE_RW);
    t.eq(
        miss.map(|(zf, cur)| (zf, (cur & ADDR_MASK) >> 12)).ok(),
        Some((false, m2)),
        "lock cmpxchg with a stale expectation: ZF clear, RAX the current entry",
    );
    let cur = miss.map(|(_, c)| c).unwrap_or(0);
    t.eq(
        pte::cmpxchg(slot, cur, (m1 << 12) | PTE_RW)
            .map(|(zf, _)| zf)
            .ok(),
        Some(true),
        "lock cmpxchg with the current entry: ZF set",
    );
    invlpg(va);
    t.eq(read_u64(va), 0xd1d1, "cmpxchg took effect");
    // cmpxchg8b, and with an operand-size prefix, which changes nothing (XSA-200: Xen's
    // emulator once read 4 bytes and wrote 8).
    let cur = read_u64(slot);
    let miss = pte::cmpxchg8b(slot, 0x1234_5000, (m2 << 12) | PTE_RW, false);
    t.eq(
        miss.ok(),
        Some((false, cur)),
        "lock cmpxchg8b with a stale expectation: ZF clear, EDX:EAX the current entry",
    );
    t.eq(
        pte::cmpxchg8b(slot, cur, (m2 << 12) | PTE_RW, false)
            .map(|(zf, _)| zf)
            .ok(),
        Some(true),
        "lock cmpxchg8b with the current entry: ZF set",
    );
    invlpg(va);
    t.eq(read_u64(va), 0xd2d2, "cmpxchg8b took effect");
    let cur = read_u64(slot);
    t.eq(
        pte::cmpxchg8b(slot, cur, (m1 << 12) | PTE_RW, true)
            .map(|(zf, _)| zf)
            .ok(),
        Some(true),
        "lock cmpxchg8b with an operand-size prefix: all 8 bytes (XSA-200)",
    );
    invlpg(va);
    t.eq(read_u64(va), 0xd1d1, "the prefixed cmpxchg8b took effect");
    t.eq(
        pte::lock_and(slot, !2).map(|x| x.vector),
        None,
        "lock and (clear RW)",
    );
    invlpg(va);
    t.eq(
        traps::write_fault(va).map(|x| x.vector),
        Some(14),
        "now read-only",
    );
    t.eq(
        pte::lock_or(slot, 2).map(|x| x.vector),
        None,
        "lock or (set RW)",
    );
    invlpg(va);
    t.eq(
        traps::write_fault(va).map(|x| x.vector),
        None,
        "writable again",
    );
    t.eq(
        pte::lock_btr_rw(slot).ok(),
        Some(true),
        "lock btr: CF = the old RW bit",
    );
    invlpg(va);
    t.eq(
        traps::write_fault(va).map(|x| x.vector),
        Some(14),
        "read-only after btr",
    );
    t.eq(pte::lock_or(slot, 2).map(|x| x.vector), None, "RW back");
    t.eq(
        pte::lock_andb_clear_rw(slot).map(|x| x.vector),
        None,
        "lock andb (clear_bit)",
    );
    invlpg(va);
    t.eq(
        traps::write_fault(va).map(|x| x.vector),
        Some(14),
        "read-only after andb",
    );

    // Refused: still page faults.
    t.eq(
        pte::store(BASE + 16, (a << 12) | PTE_RW).map(|x| x.vector),
        Some(14),
        "a writable mapping of the page table itself",
    );
    let hv_frame = (mmu::read_table(l4, 256) & ADDR_MASK) >> 12;
    t.eq(
        pte::store(BASE + 16, (hv_frame << 12) | PTE_RO).map(|x| x.vector),
        Some(14),
        "a frame not the guest's",
    );
    let l4_va = si.pt_base;
    t.eq(
        pte::store(l4_va + 8, 0).map(|x| x.vector),
        Some(14),
        "a write to the L4 (no L1) is not emulated",
    );

    // XSA-202: emulating the writes above left EFLAGS alone but for the instructions' own
    // arithmetic flags: IF is still set and IOPL still 0.
    let flags: u64;
    // SAFETY: reads RFLAGS through the stack.
    unsafe { core::arch::asm!("pushfq", "pop {}", out(reg) flags) };
    t.eq(
        (flags & (1 << 9), flags & (3 << 12)),
        (1 << 9, 0),
        "XSA-202: IF set and IOPL 0 after the emulated writes",
    );

    t.eq(mmu_update((l2 << 12) | (10 * 8), 0), 0, "unhook");
    t.eq(mmuext(4, a, 0), 0, "unpin");
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
