//! linearpt: linear ("recursive") page tables, as Xen 4.17 allows them by default. A read-only
//! entry of the guest's L4 that maps the L4 itself is accepted (a writable one is -EINVAL), and
//! through it the guest reads its own L4, L3, L2 and L1 entries at the recursive addresses. A
//! read-only L2 entry may map another validated L2 (not a writable page, a table of another
//! level, or a frame that fails as an L1), and XSA-240's rule holds: a table holding linear
//! entries is no linear target, and a target holds none. A linear entry cannot be made
//! writable. `update_va_mapping` of an address whose last-level table is, through a linear
//! slot, really an L2 or an L4 is -EINVAL. A write to a real L1 through the read-only
//! recursive mapping is emulated (writable page tables) when the entry that maps the L1 is
//! read-only, and is the guest's page fault when that entry is writable (the hypervisor looks
//! at the last entry only) or the table is an L4. A fresh L4 with a read-only self entry pins;
//! with a writable one it does not. Everything unhooked and unpinned, the frames map writable
//! again (with `leave`, a domU's, they stay for its destruction to release). With `nolinear` (for a hypervisor booted with `pv-linear-pt=0`) every linear entry
//! is -EINVAL and ordinary ones still work.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{
    println, sys,
    sys::mmu::{self, mmu_update, mmuext, update_va_mapping, ADDR_MASK, PTE_RO, PTE_RW},
    sys::traps::{self, pte},
    Test,
};

#[cfg(target_os = "none")]
use domu_frontends::sys::{gnttab, read_u64};

#[cfg(target_os = "none")]
use domu_frontends::abi::{
    grant_table::{GNTMAP_HOST_MAP, GNTMAP_READONLY, GTF_PERMIT_ACCESS, GTF_READONLY},
    xen::SifFlags,
    DomId,
};

/// `GNTST_general_error`.
#[cfg(target_os = "none")]
const GNTST_GENERAL_ERROR: i16 = -1;

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
const PIN_L4: u32 = 3;
#[cfg(target_os = "none")]
const UNPIN: u32 = 4;
#[cfg(target_os = "none")]
const TLB_FLUSH_LOCAL: u32 = 6;
#[cfg(target_os = "none")]
const INVLPG_LOCAL: u32 = 7;
#[cfg(target_os = "none")]
const CLEAR_PAGE: u32 = 16;

/// The L4 slot that maps the L4 itself (a guest slot far from the kernel's, in the lower half).
#[cfg(target_os = "none")]
const R: u64 = 200;

/// L2 slot of the first GiB where the test's L1 goes (16 MiB, beyond the initial mapping).
#[cfg(target_os = "none")]
const L1_SLOT: usize = 8;
/// L2 slot of the linear entry to a second L2.
#[cfg(target_os = "none")]
const LINEAR_SLOT: usize = 9;
/// L2 slot for the refused attempts.
#[cfg(target_os = "none")]
const SPARE_SLOT: usize = 10;

/// Accessed, dirty and global: bits the CPU or the hypervisor may set on their own.
#[cfg(target_os = "none")]
const HW_BITS: u64 = 0x20 | 0x40 | 0x100;

/// The virtual address whose walk takes L4 slot `i4`, L3 slot `i3`, L2 slot `i2`, L1 slot `i1`
/// (all below 256 here: no sign extension).
#[cfg(target_os = "none")]
fn va(i4: u64, i3: u64, i2: u64, i1: u64) -> u64 {
    (i4 << 39) | (i3 << 30) | (i2 << 21) | (i1 << 12)
}

#[cfg(target_os = "none")]
fn pte_ptr(table: u64, index: usize) -> u64 {
    (table << 12) | (index as u64 * 8)
}

#[cfg(target_os = "none")]
fn flush() {
    mmuext(TLB_FLUSH_LOCAL, 0, 0);
}

#[cfg(target_os = "none")]
fn frame_of(e: u64) -> u64 {
    (e & ADDR_MASK) >> 12
}

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    t.eq(traps::install(&[]), 0, "set_trap_table");
    let si = sys::start_info();
    let l4 = sys::read_cr3() >> 12;
    let l3 = frame_of(mmu::read_table(l4, 0));
    let l2 = frame_of(mmu::read_table(l3, 0));
    // Frames beyond the initial mapping: not mapped anywhere, so they may become tables.
    let free = |k: u64| mmu::pfn_to_mfn(si.nr_pages - 1 - k);
    let (a, b, c, g, f4) = (free(0), free(1), free(2), free(3), free(4));
    for f in [a, b, c, g, f4] {
        t.eq(mmuext(CLEAR_PAGE, f, 0), 0, "MMUEXT_CLEAR_PAGE");
    }
    let buf = sys::static_buffer();
    let base = (buf.as_ptr() as u64 + 4095) & !4095;
    let (d, e, spare) = (base, base + 4096, base + 8192);
    // SAFETY: the pages lie inside the 64 KiB buffer this test owns.
    unsafe {
        (d as *mut u64).write_volatile(0xd0d0_d0d0);
        (e as *mut u64).write_volatile(0xe0e0_e0e0);
    }
    let (d_mfn, e_mfn, spare_mfn) = (mmu::va_to_mfn(d), mmu::va_to_mfn(e), mmu::va_to_mfn(spare));
    t.eq(mmu::read_table(l4, R as usize), 0, "L4 slot R is free");
    t.eq(mmu::read_table(l2, L1_SLOT), 0, "L2 slot 8 is free");

    // An L1 (a) of the guest's own making: D writable, E read-only; pinned.
    t.eq(
        mmu_update(pte_ptr(a, 0), (d_mfn << 12) | PTE_RW),
        0,
        "a[0] = D (a plain write while a is no table)",
    );
    t.eq(
        mmu_update(pte_ptr(a, 1), (e_mfn << 12) | PTE_RO),
        0,
        "a[1] = E read-only",
    );
    t.eq(mmuext(PIN_L1, a, 0), 0, "pin a as an L1");

    if domu_frontends::flag(b"nolinear") {
        println!("linearpt: pv-linear-pt=0 mode");
        disabled(&mut t, l4, l2, a, b, f4);
        t.finish()
    }

    // 1. The recursive L4 slot: writable refused, read-only accepted.
    t.eq(
        mmu_update(pte_ptr(l4, R as usize), (l4 << 12) | PTE_RW),
        EINVAL,
        "a writable self-referencing L4 entry",
    );
    t.eq(mmu::read_table(l4, R as usize), 0, "slot R untouched");
    t.eq(
        mmu_update(pte_ptr(l4, R as usize), (l4 << 12) | PTE_RO),
        0,
        "a read-only self-referencing L4 entry",
    );
    t.eq(
        mmu_update(pte_ptr(l4, R as usize), (l4 << 12) | PTE_RW),
        EINVAL,
        "the self entry made writable",
    );
    t.eq(
        mmu::read_table(l4, R as usize) & 2,
        0,
        "the self entry stays read-only",
    );
    t.eq(
        mmu_update(pte_ptr(l2, L1_SLOT), (a << 12) | PTE_RW),
        0,
        "hook a into the L2 (slot 8, writable)",
    );
    flush();

    // 2. The guest's own tables at the recursive addresses.
    let same = |got: u64, want: u64| got & !HW_BITS == want & !HW_BITS;
    let l4_at = va(R, R, R, R);
    t.check(
        same(read_u64(l4_at), mmu::read_table(l4, 0)),
        format_args!("L4[0] through the recursive slot"),
    );
    t.check(
        same(read_u64(l4_at + R * 8), (l4 << 12) | PTE_RO),
        format_args!("L4[R] (the self entry) through the recursive slot"),
    );
    t.check(
        same(read_u64(va(R, R, R, 0)), mmu::read_table(l3, 0)),
        format_args!("L3[0] through the recursive slot"),
    );
    t.check(
        same(
            read_u64(va(R, R, 0, 0) + L1_SLOT as u64 * 8),
            (a << 12) | PTE_RW,
        ),
        format_args!("L2[8], as written, through the recursive slot"),
    );
    let a_at = va(R, 0, 0, L1_SLOT as u64);
    t.check(
        same(read_u64(a_at), (d_mfn << 12) | PTE_RW),
        format_args!("a[0], as written, through the recursive slot"),
    );
    t.check(
        same(read_u64(a_at + 8), (e_mfn << 12) | PTE_RO),
        format_args!("a[1], as written, through the recursive slot"),
    );
    let new_va = va(0, 0, L1_SLOT as u64, 0);
    t.eq(read_u64(new_va), 0xd0d0_d0d0, "the L1 maps D");
    t.eq(read_u64(new_va + 4096), 0xe0e0_e0e0, "and E");

    // 3. Writes through the read-only recursive mapping. To the L4: the guest's fault.
    t.eq(
        traps::write_fault(l4_at + 8).map(|x| (x.vector, x.error_code & 3)),
        Some((14, 3)),
        "a write to the L4 through the recursive slot: #PF",
    );
    // To the L2: its last entry (L3[0]) is writable, no read-only mapping to emulate.
    t.eq(
        traps::write_fault(va(R, R, 0, 0) + 8 * 100).map(|x| (x.vector, x.error_code & 3)),
        Some((14, 3)),
        "a write to the L2 through the recursive slot: #PF",
    );
    // To the L1 while L2[8] (its last entry) is writable: not a read-only mapping of an L1.
    t.eq(
        pte::store(a_at + 16, (d_mfn << 12) | PTE_RO).map(|x| (x.vector, x.error_code & 3)),
        Some((14, 3)),
        "a write to the L1 through the recursive slot, L2[8] writable: #PF",
    );
    t.eq(read_u64(a_at + 16), 0, "a[2] unchanged");
    // L2[8] read-only (a change of RW alone, through the full checks): now the last entry is
    // a read-only mapping of an L1, and the write is emulated as writable page tables.
    t.eq(
        mmu_update(pte_ptr(l2, L1_SLOT), (a << 12) | PTE_RO),
        0,
        "L2[8] read-only",
    );
    flush();
    t.eq(
        pte::store(a_at + 16, (e_mfn << 12) | PTE_RO).map(|x| x.vector),
        None,
        "a write to the L1 through the recursive slot, L2[8] read-only: emulated",
    );
    t.check(
        same(read_u64(a_at + 16), (e_mfn << 12) | PTE_RO),
        format_args!("a[2] changed (read back through the recursive slot)"),
    );
    mmuext(INVLPG_LOCAL, new_va + 2 * 4096, 0);
    t.eq(
        read_u64(new_va + 2 * 4096),
        0xe0e0_e0e0,
        "the new mapping shows E",
    );
    t.eq(
        pte::store(a_at + 24, (a << 12) | PTE_RW).map(|x| x.vector),
        Some(14),
        "an emulated write still gets the checks: a writable mapping of the L1 is #PF",
    );
    t.eq(read_u64(a_at + 24), 0, "a[3] unchanged");

    // 4. update_va_mapping where the walk ends in a table of another level.
    t.eq(
        update_va_mapping(a_at, 0, UVMF_INVLPG),
        EINVAL,
        "update_va_mapping of an address whose 'L1' is the L2",
    );
    t.check(
        same(mmu::read_table(l2, L1_SLOT), (a << 12) | PTE_RO),
        format_args!("L2[8] unchanged"),
    );
    t.eq(
        update_va_mapping(l4_at, 0, UVMF_INVLPG),
        EINVAL,
        "update_va_mapping of an address whose 'L1' is the L4",
    );
    t.check(
        same(mmu::read_table(l4, R as usize), (l4 << 12) | PTE_RO),
        format_args!("L4[R] unchanged"),
    );

    // A grant host mapping there: GNTST_general_error, the grant left unused (the initial
    // domain grants to itself, as domain 0; a domU would first have to find its own id).
    if SifFlags::from_bits_truncate(si.flags).contains(SifFlags::INITDOMAIN) {
        grant_through_linear_slot(&mut t, spare, d_mfn, a_at);
        t.check(
            same(mmu::read_table(l2, L1_SLOT), (a << 12) | PTE_RO),
            format_args!("L2[8] unchanged by the grant map"),
        );
    }

    // 5. A linear L2 entry to another validated L2 (b, whose entry 0 maps a).
    t.eq(mmu_update(pte_ptr(b, 0), (a << 12) | PTE_RW), 0, "b[0] = a");
    t.eq(mmuext(PIN_L2, b, 0), 0, "pin b as an L2");
    t.eq(
        mmu_update(pte_ptr(l2, LINEAR_SLOT), (b << 12) | PTE_RW),
        EINVAL,
        "a writable linear L2 entry",
    );
    t.eq(
        mmu_update(pte_ptr(l2, LINEAR_SLOT), (b << 12) | PTE_RO),
        0,
        "a read-only linear L2 entry to another validated L2",
    );
    flush();
    let b_at = va(0, 0, LINEAR_SLOT as u64, 0);
    t.check(
        same(read_u64(b_at + 8), (e_mfn << 12) | PTE_RO),
        format_args!("a[1] through b as an L1"),
    );
    t.eq(
        mmu_update(pte_ptr(l2, LINEAR_SLOT), (b << 12) | PTE_RW),
        EINVAL,
        "the linear entry made writable",
    );
    t.eq(
        mmu::read_table(l2, LINEAR_SLOT) & 2,
        0,
        "the linear entry stays read-only",
    );
    t.eq(
        update_va_mapping(b_at, 0, UVMF_INVLPG),
        EINVAL,
        "update_va_mapping of an address whose 'L1' is b, an L2",
    );
    t.check(
        same(
            read_u64(va(R, 0, 0, LINEAR_SLOT as u64)),
            (a << 12) | PTE_RW,
        ),
        format_args!("b[0] unchanged (read through the recursive slot and b)"),
    );
    t.eq(
        mmu_update(pte_ptr(l2, SPARE_SLOT), (spare_mfn << 12) | PTE_RO),
        EINVAL,
        "a linear entry to a page mapped writable (no table)",
    );
    t.eq(
        mmu_update(pte_ptr(l2, SPARE_SLOT), (l3 << 12) | PTE_RO),
        EINVAL,
        "a linear entry to a table of another level (the L3)",
    );
    t.eq(
        mmu_update(pte_ptr(g, 0), (a << 12) | PTE_RW),
        0,
        "g[0] = a (g no table)",
    );
    t.eq(
        mmu_update(pte_ptr(l2, SPARE_SLOT), (g << 12) | PTE_RO),
        EBUSY,
        "an L2 never validated is taken as an L1, and fails as one",
    );
    t.eq(mmu::read_table(l2, SPARE_SLOT), 0, "L2 slot 10 still free");

    // 6. XSA-240: the L2 holds a linear entry, b is a linear target.
    t.eq(mmuext(PIN_L2, c, 0), 0, "pin c (empty) as an L2");
    t.eq(
        mmu_update(pte_ptr(b, 1), (c << 12) | PTE_RO),
        EINVAL,
        "a linear entry in a linear target",
    );
    t.eq(
        mmu_update(pte_ptr(c, 0), (l2 << 12) | PTE_RO),
        EINVAL,
        "a linear entry to a table holding linear entries",
    );
    t.eq(
        mmu_update(pte_ptr(l2, LINEAR_SLOT), 0),
        0,
        "remove the linear entry",
    );
    t.eq(
        mmu_update(pte_ptr(c, 0), (l2 << 12) | PTE_RO),
        0,
        "then the L2 may be a linear target",
    );
    t.eq(
        mmu_update(pte_ptr(b, 1), (c << 12) | PTE_RO),
        EINVAL,
        "c, holding a linear entry now, is no linear target",
    );
    t.eq(mmu_update(pte_ptr(c, 0), 0), 0, "remove c's linear entry");
    t.eq(
        mmu_update(pte_ptr(b, 1), (c << 12) | PTE_RO),
        0,
        "then b may hold a linear entry (to c)",
    );
    t.eq(mmu_update(pte_ptr(b, 1), 0), 0, "remove b's");

    // 7. A fresh L4 mapping itself: pinned read-only, refused writable.
    t.eq(
        mmu_update(pte_ptr(f4, R as usize), (f4 << 12) | PTE_RW),
        0,
        "f4[R] = f4 writable (f4 no table yet)",
    );
    t.eq(
        mmuext(PIN_L4, f4, 0),
        EINVAL,
        "pin an L4 with a writable self entry",
    );
    t.eq(
        mmu_update(pte_ptr(f4, R as usize), (f4 << 12) | PTE_RO),
        0,
        "f4[R] = f4 read-only",
    );
    t.eq(
        mmuext(PIN_L4, f4, 0),
        0,
        "pin an L4 with a read-only self entry",
    );
    t.eq(mmuext(UNPIN, f4, 0), 0, "unpin it");

    if domu_frontends::flag(b"leave") {
        leave(&mut t, l4, l2, b, f4);
        t.finish()
    }

    // 8. Everything undone: the frames are ordinary pages again.
    t.eq(mmu_update(pte_ptr(l2, L1_SLOT), 0), 0, "unhook a");
    t.eq(
        mmu_update(pte_ptr(l4, R as usize), 0),
        0,
        "remove the self entry",
    );
    flush();
    t.eq(
        traps::read_fault(l4_at).map(|x| x.vector),
        Some(14),
        "the recursive addresses are gone",
    );
    t.eq(mmuext(UNPIN, b, 0), 0, "unpin b");
    t.eq(mmuext(UNPIN, c, 0), 0, "unpin c");
    t.eq(mmuext(UNPIN, a, 0), 0, "unpin a");
    for (f, name) in [(a, "a"), (b, "b"), (c, "c"), (g, "g"), (f4, "f4")] {
        let ok = update_va_mapping(spare, (f << 12) | PTE_RW, UVMF_INVLPG) == 0;
        t.check(
            ok,
            format_args!("{name} maps writable: no type or reference left behind"),
        );
    }
    t.eq(
        update_va_mapping(spare, (spare_mfn << 12) | PTE_RW, UVMF_INVLPG),
        0,
        "restore the buffer page",
    );
    t.finish()
}

/// Grants D to itself and maps the grant at `host_addr`, an address whose last-level table is
/// not an L1: `GNTST_general_error`, and the grant is not left in use. The grant table is
/// mapped at `table_va` for the test and the page restored afterwards.
#[cfg(target_os = "none")]
fn grant_through_linear_slot(t: &mut Test, table_va: u64, d_mfn: u64, host_addr: u64) {
    let restore = (mmu::va_to_mfn(table_va) << 12) | PTE_RW;
    let mut frames = [0u64; 1];
    t.eq(
        gnttab::setup_table(DomId::SELF, 1, &mut frames),
        (0, 0),
        "GNTTABOP_setup_table",
    );
    t.eq(
        update_va_mapping(table_va, (frames[0] << 12) | PTE_RW, UVMF_INVLPG),
        0,
        "map the grant table",
    );
    let gt = gnttab::Table { va: table_va };
    gt.grant(1, DomId(0), d_mfn, GTF_PERMIT_ACCESS | GTF_READONLY);
    let (rc, st, _) = gnttab::map(DomId(0), 1, host_addr, GNTMAP_HOST_MAP | GNTMAP_READONLY);
    t.eq(
        (rc, st),
        (0, GNTST_GENERAL_ERROR),
        "a grant host mapping at an address whose 'L1' is the L2",
    );
    t.eq(
        gt.flags(1),
        GTF_PERMIT_ACCESS | GTF_READONLY,
        "the grant is not in use",
    );
    t.check(gt.end_access(1), format_args!("and can be revoked"));
    t.eq(
        update_va_mapping(table_va, restore, UVMF_INVLPG),
        0,
        "restore the buffer page",
    );
}

/// With `leave` (a domU the hypervisor destroys and rebuilds): linear entries of every kind
/// left in place for the destruction to release — the L4's self entry, an L4 entry to another
/// pinned L4 that maps itself, and an L2 entry to an L2 that only that entry still holds.
#[cfg(target_os = "none")]
fn leave(t: &mut Test, l4: u64, l2: u64, b: u64, f4: u64) {
    t.eq(
        mmu_update(pte_ptr(l2, LINEAR_SLOT), (b << 12) | PTE_RO),
        0,
        "leave: the linear L2 entry to b",
    );
    t.eq(
        mmuext(UNPIN, b, 0),
        0,
        "leave: b held by the linear entry alone",
    );
    t.eq(mmuext(PIN_L4, f4, 0), 0, "leave: pin f4 again");
    t.eq(
        mmu_update(pte_ptr(l4, R as usize + 1), (f4 << 12) | PTE_RO),
        0,
        "leave: a linear L4 entry to f4",
    );
    println!("linearpt: leaving the linear entries in place");
}

/// With `pv-linear-pt=0`: every linear entry is -EINVAL, ordinary ones still work.
#[cfg(target_os = "none")]
fn disabled(t: &mut Test, l4: u64, l2: u64, a: u64, b: u64, f4: u64) {
    t.eq(
        mmu_update(pte_ptr(l4, R as usize), (l4 << 12) | PTE_RO),
        EINVAL,
        "a read-only self-referencing L4 entry",
    );
    t.eq(mmuext(PIN_L2, b, 0), 0, "pin b (empty) as an L2");
    t.eq(
        mmu_update(pte_ptr(l2, LINEAR_SLOT), (b << 12) | PTE_RO),
        EINVAL,
        "a read-only linear L2 entry to another validated L2",
    );
    t.eq(
        mmu_update(pte_ptr(f4, R as usize), (f4 << 12) | PTE_RO),
        0,
        "f4[R] = f4 read-only (f4 no table yet)",
    );
    t.eq(
        mmuext(PIN_L4, f4, 0),
        EINVAL,
        "pin an L4 with a read-only self entry",
    );
    t.eq(
        mmu_update(pte_ptr(l2, L1_SLOT), (a << 12) | PTE_RW),
        0,
        "an ordinary entry: hook a into the L2",
    );
    flush();
    t.eq(
        read_u64(va(0, 0, L1_SLOT as u64, 1)),
        0xe0e0_e0e0,
        "the L1 maps E",
    );
    t.eq(mmu_update(pte_ptr(l2, L1_SLOT), 0), 0, "unhook a");
    t.eq(mmuext(UNPIN, b, 0), 0, "unpin b");
    t.eq(mmuext(UNPIN, a, 0), 0, "unpin a");
    for f in [a, b, f4] {
        t.eq(
            mmuext(PIN_L1, f, 0),
            0,
            "the frame pins as an (empty or valid) L1: nothing left behind",
        );
        t.eq(mmuext(UNPIN, f, 0), 0, "and unpins");
    }
}

#[cfg(not(target_os = "none"))]
fn main() {}
